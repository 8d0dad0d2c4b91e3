/* ops/kernels/im2col_pack.h — implicit im2col: the im2col matrix of a few images written straight
 * into the GEMM's packed B panels (tg_gemm_packed_b), so the matrix is never stored.
 *
 * M is the im2col matrix of `images` images side by side: M[r, i*P + q] = im2col(x_i)[r, q] with
 * r over (channel, taps) and q over the P output positions (im2col.h's geometry). The convolution's
 * forward multiplies W * M (B = M), its weight gradient dY * M^T (B = M^T). Plain functions: no
 * allocation, x is only read.
 *
 *   tg_im2col_src src = {&geom, x_first_image, image_stride, images};
 *   tg_gemm_packed_b(false, Og, images * P, Cg * K, 1, w, Cg * K, tg_im2col_pack_b, &src, 0, y, images * P);
 */
#ifndef TG_KERNEL_IM2COL_PACK_H
#define TG_KERNEL_IM2COL_PACK_H

#include <stdint.h>

#include "im2col.h"

typedef struct tg_im2col_src {
    const tg_conv_geom *geom;
    const tg_real *x;      /* first image (first channel of the group) */
    int64_t image_stride;  /* elements from one image to the next */
    int64_t images;
} tg_im2col_src;

/* tg_gemm_pack_b_fn for B = M (ctx: a tg_im2col_src). */
void tg_im2col_pack_b(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst);
/* tg_gemm_pack_b_fn for B = M^T (ctx: a tg_im2col_src); nr <= 32. */
void tg_im2col_pack_bt(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst);

/* The weight gradient's B = M'^T from channel-blocked images, without a transpose: x holds
 * `images` images of `blocks` blocks of `width` channels as [image][block][position][channel in
 * block] (tg_im2col_block_channels), and M' is the im2col matrix with its rows in (block, tap,
 * channel in block) order, so the `width` rows of one (block, tap) at one output position are one
 * contiguous run of x (or zeros where the tap leaves the input). width is TG_IM2COL_BLOCK (one
 * (block, tap) per 32-column GEMM panel) or TG_IM2COL_HALF_BLOCK (two per panel: 16-channel maps). */
#define TG_IM2COL_BLOCK 32
#define TG_IM2COL_HALF_BLOCK 16
typedef struct tg_im2col_blocked_src {
    const tg_conv_geom *geom;
    const tg_real *x;
    int64_t images, blocks, width;
} tg_im2col_blocked_src;
/* x:[channels, positions] (channels <= blocks * width) -> dst:[blocks][positions][width],
 * channels past the last zero. */
void tg_im2col_block_channels(const tg_real *x, int64_t channels, int64_t positions, int64_t blocks, int64_t width,
                              tg_real *dst);
/* tg_gemm_pack_b_fn for B = M'^T (ctx: a tg_im2col_blocked_src). */
void tg_im2col_pack_bt_blocked(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst);

#endif
