/* ops/kernels/conv_ovec.h — the direct convolution vectorised over output channels: any kernel,
 * stride, dilation and padding, 1-D/2-D/3-D, for small maps.
 *
 * im2col + GEMM packs every (channel, tap) row of the input once per use, so with few output
 * channels the packing costs about as much as the multiplications (a 5x5 24 -> 48 layer at 9x9:
 * 0.7 ms of packing beside 1.1 of GEMM), and the shift kernels (conv_shift.h) vectorise over
 * positions, which small maps leave mostly empty (9 of 13 "wide" columns, blocks rounded up: 56 %
 * kept at 9x9). Here a vector holds output channels instead: every output position is computed
 * once, whatever the map's size. Each channel plane of the input is copied, zero-padded, into a
 * box of extent E[d] = (out[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1 (input index
 * i at box index i + pad[d]); output position q reads the box at pos[q] + offset[tap] with
 *   pos[q] = ((od*s0) * E1 + oh*s1) * E2 + ow*s2,  offset[tap] = ((kd*d0) * E1 + kh*d1) * E2 + kw*d2.
 *
 *   forward (one image, one group): y[o, q] (+)= sum_{c, tap} w[o, c, tap] * box_c[pos[q] + offset[tap]]
 *     a block of output channels (whole vectors) x positions held in registers over every
 *     (channel, tap): each step loads the tap's weight vectors and broadcasts one input value per
 *     position;
 *   weight gradient (images of a call): dw[o, c, tap] += sum_{n, q} dy[n, o, q] * box[n, c][pos[q] + offset[tap]]
 *     a block of taps x output-channel vectors held in registers over every image and position,
 *     dY turned to [position][channel] per image; each sum runs over the images, then the
 *     positions, in order: the same bits for any thread count;
 *   data gradient: the rotated convolution (conv_engine.c), a forward run by this one.
 * The zero padding is multiplied as im2col multiplies it (0·Inf = NaN at the border, as PyTorch).
 *
 * Plain functions over arrays: they never allocate; the caller gives the scratch. */
#ifndef TG_KERNEL_CONV_OVEC_H
#define TG_KERNEL_CONV_OVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

#define TG_CONV_OVEC_MAX_TAPS 343 /* 7x7x7 */
struct tg_conv_ovec_kernel;
/* The layout of one geometry: box extents and the floats of one channel's box (plane, whole cache
 * lines), the per-tap offsets, output positions, output channels og and o_pad (og rounded up to
 * whole vectors of the kernel in use). */
typedef struct tg_conv_ovec_plan {
    const struct tg_conv_ovec_kernel *kernel; /* the kernel in use when the plan was made */
    int64_t extent[3], plane, taps, positions, out_channels, o_pad;
    int32_t offset[TG_CONV_OVEC_MAX_TAPS];
} tg_conv_ovec_plan;

/* Whether g (at most TG_CONV_OVEC_MAX_TAPS taps, a box within int32 offsets) can run here. */
bool tg_conv_ovec_supported(const tg_conv_geom *g);
/* p for g (supported) and og output channels per group, with the kernel in use. */
void tg_conv_ovec_plan_make(const tg_conv_geom *g, int64_t og, tg_conv_ovec_plan *p);

/* Forward: the filter w:[og, channels, taps] packed as [channels][taps][o_pad] (zeros past og);
 * scratch of tg_conv_ovec_forward_scratch elements (the box and the positions' offsets). y:[og,
 * positions] (+)= conv(x:[channels, in...]) for one image of one group; split: its blocks shared
 * among the threads (one image alone), else all on this thread. */
int64_t tg_conv_ovec_packed_w_size(const tg_conv_ovec_plan *p, int64_t channels);
void tg_conv_ovec_pack_w(const tg_conv_ovec_plan *p, int64_t channels, const tg_real *w, tg_real *packed);
int64_t tg_conv_ovec_forward_scratch(const tg_conv_ovec_plan *p, int64_t channels);
void tg_conv_ovec_forward(const tg_conv_geom *g, const tg_conv_ovec_plan *p, const tg_real *x, const tg_real *packed_w,
                          tg_real *y, bool accumulate, bool split, tg_real *scratch);

/* Weight gradient of `images` images (x and dy of image n at x + n * x_stride, dy + n * dy_stride):
 * dw:[og, channels, taps] += sum over them; scratch: tg_conv_ovec_dw_scratch(p, channels, images)
 * elements. The channels are shared among the threads (each sum by one thread, in order). */
int64_t tg_conv_ovec_dw_scratch(const tg_conv_ovec_plan *p, int64_t channels, int64_t images);
void tg_conv_ovec_dw(const tg_conv_geom *g, const tg_conv_ovec_plan *p, int64_t images, const tg_real *x,
                     int64_t x_stride, const tg_real *dy, int64_t dy_stride, tg_real *dw, tg_real *scratch);

/* The inner loops in use: "avx512", "avx2" or "portable" (16-byte vectors, which the compiler maps
 * to whatever the CPU has); only the SIMD ones are taken by AUTO. Forcing one by name (tests;
 * NULL = the best this CPU runs): 0, or -1 when unknown or not runnable here. */
const char *tg_conv_ovec_kernel_name(void);
int64_t tg_conv_ovec_lanes(void); /* output channels per vector of the kernel in use */
bool tg_conv_ovec_kernel_is_simd(void);
int tg_conv_ovec_set_kernel(const char *name);

#endif
