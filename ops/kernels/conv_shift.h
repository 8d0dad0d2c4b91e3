/* ops/kernels/conv_shift.h — the "shift" convolution: any kernel, stride, dilation and padding,
 * 1-D/2-D/3-D, computed as shifted multiply-adds over a zero-padded copy of the input, with no
 * im2col matrix. For few channels (a 16-channel 3x3 layer: im2col rows of 144, 16 GEMM rows) packing
 * the im2col matrix costs as much as the multiplications; here each input vector loaded is used by
 * a block of output channels straight from registers.
 *
 * The layout: every channel plane of the input is copied, zero-padded, into a box of extent
 * E[d] = out[d] + dilation[d]*(kernel[d]-1) (input index e - pad[d] at box index e; zeros outside
 * the input), stored flat. Output (od, oh, ow) is then "wide" position q = (od*E1 + oh)*E2 + ow, and
 * tap (kd, kh, kw) reads the box at q + (kd*dil0*E1 + kh*dil1)*E2 + kw*dil2: one offset per tap,
 * the same for every output, so a vector of consecutive q reads consecutive box elements. Wide
 * positions with oh >= out1 or ow >= out2 are computed and thrown away (out2 + 2 of every row of a
 * 3x3: 2/30 waste at 28x28).
 *
 * Strides: the padded input splits into s0*s1*s2 phases, phase (r0, r1, r2) holding the positions
 * (s0*i0 + r0, s1*i1 + r1, s2*i2 + r2), each in a box of its own (the channel's plane is the
 * phases' boxes one after another) of extent E[d] = out[d] + dilation[d]*(kernel[d]-1)/s[d]. Tap
 * k reads padded position s*o + k*dilation per dim, i.e. phase (k*dilation) % s at box index
 * o + (k*dilation) / s: again one offset per tap (its phase's box plus the shift), and the same
 * kernels run a strided convolution on whole vectors of consecutive outputs, no im2col matrix
 * (an im2col of a stride-2 3x3 convolution is 2.25 times the input; the boxes hold it once).
 *
 *   forward (one image, one group):  y:[og, out...] (+)= sum_{c,tap} w[o,c,tap] * box_c[q + off_tap]
 *   weight gradient (images of a chunk): dw[o,c,tap] += sum_{n,q} dy_wide[n,o,q] * box[n,c][q + off_tap]
 *     (dy_wide: dy laid out wide with zeros at the thrown-away positions)
 *   data gradient: the rotated convolution (conv_engine.c): stride-1 forwards (one per phase of a
 *     strided convolution), run by this one.
 *
 * Plain functions over arrays: they never allocate; the caller gives the scratch. */
#ifndef TG_KERNEL_CONV_SHIFT_H
#define TG_KERNEL_CONV_SHIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

/* The layout of one geometry (tg_conv_shift_plan): box extents, the per-tap offsets (up to
 * TG_CONV_SHIFT_MAX_TAPS), the wide positions computed (span, a whole number of the kernel's
 * blocks), the floats of one phase's box (phase_plane: every read of every computed position lies
 * inside, rounded to whole cache lines) and of one channel's boxes (plane: phases of them). */
#define TG_CONV_SHIFT_MAX_TAPS 343 /* 7x7x7 */
#define TG_CONV_SHIFT_MAX_PHASES 64 /* stride product: 4x4x4 */
struct tg_conv_shift_kernel;
typedef struct tg_conv_shift_plan {
    const struct tg_conv_shift_kernel *kernel; /* the kernel in use when the plan was made */
    int64_t extent[3];
    int64_t span, plane, positions; /* positions: per forward block (span is a whole number of them) */
    int64_t phases, phase_plane;    /* stride[0]*stride[1]*stride[2] boxes per channel, phase_plane apart */
    int64_t taps, out_channels, out_blocks, out_block; /* output channels in blocks of out_block */
    int32_t offset[TG_CONV_SHIFT_MAX_TAPS];
} tg_conv_shift_plan;

/* Whether g (at most TG_CONV_SHIFT_MAX_TAPS taps and TG_CONV_SHIFT_MAX_PHASES phases, offsets
 * within int32) can run here. */
bool tg_conv_shift_supported(const tg_conv_geom *g);
/* The wide positions computed for g (supported) and og output channels per group with the kernel
 * in use: the plan's span. */
int64_t tg_conv_shift_span(const tg_conv_geom *g, int64_t og);
/* Fills *p for g with og output channels per group (g supported). */
void tg_conv_shift_plan_make(const tg_conv_geom *g, int64_t og, tg_conv_shift_plan *p);

/* Floats of the forward's packed filter (one group), and of its per-image scratch (box and wide
 * output). */
int64_t tg_conv_shift_packed_w_size(const tg_conv_shift_plan *p, int64_t channels);
int64_t tg_conv_shift_forward_scratch(const tg_conv_shift_plan *p, int64_t channels);
/* w:[og, channels, taps] (one group) -> packed, for tg_conv_shift_forward. */
void tg_conv_shift_pack_w(const tg_conv_shift_plan *p, int64_t channels, const tg_real *w, tg_real *packed);
/* y:[og, out...] (+)= conv(x:[channels, in...]) for one image of one group; split_positions
 * shares the positions among the threads (tg_parallel_for: one image alone, inference at batch 1);
 * each output is summed by one thread in the same order either way. scratch:
 * tg_conv_shift_forward_scratch floats, 64-byte aligned. */
void tg_conv_shift_forward(const tg_conv_geom *g, const tg_conv_shift_plan *p, const tg_real *x,
                           const tg_real *packed_w, tg_real *y, bool accumulate, bool split_positions,
                           tg_real *scratch);

/* Floats of the weight gradient's scratch for `images` images (their boxes and wide dY). */
int64_t tg_conv_shift_dw_scratch(const tg_conv_shift_plan *p, int64_t channels, int64_t images);
/* dw:[og, channels, taps] += the weight gradient over `images` images of one group: x (image i at
 * x + i*x_stride: [channels, in...]) and dy (image i at dy + i*dy_stride: [og, out...]). Every
 * product is one the convolution forms or a zero of the padding or of dY's thrown-away positions,
 * so x must be finite (0 * Inf would be NaN where the convolution has no product): the caller
 * checks. scratch: tg_conv_shift_dw_scratch floats, 64-byte aligned. */
void tg_conv_shift_dw(const tg_conv_geom *g, const tg_conv_shift_plan *p, int64_t images, const tg_real *x,
                      int64_t x_stride, const tg_real *dy, int64_t dy_stride, tg_real *dw, tg_real *scratch);

/* The kernel in use ("avx512", "avx2", "portable"), and forcing one (tests, benches; NULL: the
 * best this CPU runs): 0, or -1 when unknown or not runnable here. TG_CONV_SHIFT_KERNEL in the
 * environment names one at first use. */
const char *tg_conv_shift_kernel_name(void);
int tg_conv_shift_set_kernel(const char *name);
/* Whether the kernel in use is a SIMD one (the engine takes the shift path by itself only then). */
bool tg_conv_shift_kernel_is_simd(void);

#endif
