/* ops/kernels/im2col_pack_internal.h — what im2col_pack.c shares with its SIMD version (not public). */
#ifndef TG_IM2COL_PACK_INTERNAL_H
#define TG_IM2COL_PACK_INTERNAL_H

#include "im2col_pack.h"

/* One row of M: its channel and taps reduced to an input offset and the depth/height offsets. */
typedef struct tg_im2col_row_tap {
    int64_t offset;     /* channel plane + kw*dilation - pad along W */
    int64_t dd, dh;     /* kd*dilation - pad, kh*dilation - pad */
    int64_t lo, hi;     /* output columns ow in [lo, hi) read inside the input row */
} tg_im2col_row_tap;
#define TG_IM2COL_ROW_CHUNK 64

/* taps[r] for rows r0..r0+n-1 of M. */
void tg_im2col_row_taps(const tg_conv_geom *g, int64_t r0, int64_t n, tg_im2col_row_tap *taps);

/* Past the last column of an output row: the next row, plane and image of the stacked images. */
static inline void tg_im2col_next_out_row(const tg_conv_geom *g, int64_t *oh, int64_t *od, int64_t *image)
{
    if (++*oh < g->out[1]) return;
    *oh = 0;
    if (++*od < g->out[0]) return;
    *od = 0;
    ++*image;
}

/* For the channel-blocked dW pack: output positions worked out TG_IM2COL_CORNERS at a time. */
#define TG_IM2COL_CORNERS 64
/* Positions q = q0..q0+n-1 (n <= TG_IM2COL_CORNERS) of the stacked images: image[p] and the input
 * position of tap 0, corner[d][p] = output index along d * stride - pad. */
static inline void tg_im2col_corners(const tg_conv_geom *g, int64_t q0, int64_t n, int64_t *image,
                                     int64_t (*corner)[TG_IM2COL_CORNERS])
{
    const int64_t pout = g->out[0] * g->out[1] * g->out[2];
    for (int64_t p = 0; p < n; p++) {
        int64_t q = q0 + p, pos = q % pout;
        image[p] = q / pout;
        corner[0][p] = pos / (g->out[1] * g->out[2]) * g->stride[0] - g->pad[0];
        corner[1][p] = pos / g->out[2] % g->out[1] * g->stride[1] - g->pad[1];
        corner[2][p] = pos % g->out[2] * g->stride[2] - g->pad[2];
    }
}

#if defined(__x86_64__) && !defined(TG_REAL_DOUBLE)
#define TG_IM2COL_MAX_TAPS 128 /* kernels with more taps take the C path */
/* tg_im2col_pack_b for nr == 32, stride 1 or 2 along W, at most TG_IM2COL_MAX_TAPS taps (AVX-512F
 * CPUs only). */
void tg_im2col_pack_b_avx512(const tg_im2col_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst);
/* tg_im2col_pack_bt, same conditions. */
void tg_im2col_pack_bt_avx512(const tg_im2col_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst);
/* tg_im2col_pack_bt_blocked for nr == TG_IM2COL_BLOCK and j0 a multiple of it (each panel is one
 * block and tap, or two of 16 channels). */
void tg_im2col_pack_bt_blocked_avx512(const tg_im2col_blocked_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                                      float *dst);
#endif

#endif
