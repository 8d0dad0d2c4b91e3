/* ops/kernels/conv_direct_internal.h — what conv_direct.c needs from its SIMD files (not public).
 *
 * A plane kernel handles one input channel and one output channel of the direct convolution:
 *   forward:  y:[out...] (+)= sum_tap w[tap] * x:[in...] at the tap's offset (zeros outside)
 *   weight:   dw[tap] += sum_out dy:[out...] * x at the tap's offset
 *   adjoint:  dx:[in...] (+)= the forward's transpose applied to dy (its data gradient); NULL in
 *             kernels without one, and only for tg_conv_direct_adjoint_supported geometries
 * with the geometry of im2col.h (g->channels is ignored: the caller loops over channels).
 * Each SIMD file is compiled in both precisions and provides the kernels for tg_real.
 */
#ifndef TG_CONV_DIRECT_INTERNAL_H
#define TG_CONV_DIRECT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "im2col.h"

/* What the lanes kernels turn in and sum (conv_lanes_avx512.c). The planes turned in have dims
 * in[]; position (d, h, w) lands in the zeroed tile (dims tile[]) at
 * ((d*insert[0] + pad[0])*tile[1] + h*insert[1] + pad[1])*tile[2] + w*insert[2] + pad[2]; the
 * sums run the convolution `sums` (its out, kernel, stride, dilation) over the tile, with the
 * filter's taps reversed in every dim when `rotate`. The forward: in = the input, insert 1, pad
 * the padding. The data gradient (the full convolution of dY with the rotated filter): in = dY,
 * inserted `stride` apart, padded by (kernel - 1)*dilation - pad, summed at stride 1 into dX. */
typedef struct tg_conv_lanes_plan {
    tg_conv_geom sums;
    int64_t in[3], insert[3], pad[3], tile[3];
    int64_t in_size, out_size, tile_size, taps;
    bool rotate;
} tg_conv_lanes_plan;

typedef struct tg_conv_direct_kernel {
    const char *name; /* "avx512", "avx2", "portable" */
    void (*plane)(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate);
    /* dw[tap] += the sum over `count` image pairs (x + i*x_step, dy + i*dy_step): the SIMD kernels
     * keep their per-tap vector sums across the images and reduce them once (a 7x7 map's nine
     * reductions cost more than its FMAs) */
    void (*plane_dw)(const tg_conv_geom *g, const tg_real *x, int64_t x_step, const tg_real *dy, int64_t dy_step,
                     int64_t count, tg_real *dw);
    /* dy_next, dx_next (or NULL): a later plane pair, whose rows the kernel asks for as it goes */
    void (*plane_adjoint)(const tg_conv_geom *g, const tg_real *dy, const tg_real *w, tg_real *dx, bool accumulate,
                          const tg_real *dy_next, tg_real *dx_next);
    /* plane for count planes of one geometry: plane i at x + i*x_step, y + i*y_step, its filter
     * w + ((first_filter + i) % filters) * taps (a depthwise layer's items, image after image); its
     * per-geometry set-up made once. NULL: plane one by one. */
    void (*planes)(const tg_conv_geom *g, int64_t count, const tg_real *x, int64_t x_step, const tg_real *w,
                   int64_t filters, int64_t first_filter, tg_real *y, int64_t y_step, bool accumulate);
} tg_conv_direct_kernel;

/* A depthwise layer (one channel a group, one filter a channel) with the channels in the lanes
 * (conv_lanes_avx512.c), on a plan conv_direct.c made: the sums of items item0..item1 (item =
 * channel block * images + image, `lanes` channels a block; x the planes turned in, y the planes
 * summed into, w the filters, all the layer's whole arrays), and the weight gradient of one channel
 * block over all images (false, dw untouched, when dY is not finite). scratch: one caller's
 * tg_conv_lanes_scratch elements (the tile, the sums, the filter, the offset tables). */
typedef struct tg_conv_lanes_kernel {
    void (*forward)(const tg_conv_lanes_plan *p, int64_t channels, int64_t images, int64_t item0, int64_t item1,
                    const tg_real *x, const tg_real *w, tg_real *y, bool accumulate, tg_real *scratch);
    bool (*dw)(const tg_conv_lanes_plan *p, int64_t channels, int64_t images, int64_t block, const tg_real *x,
               int64_t x_image, const tg_real *dy, int64_t dy_image, tg_real *dw, tg_real *scratch);
    int lanes; /* channels a block (VLEN) */
} tg_conv_lanes_kernel;

/* Limits of a plan: the tile (a block's padded planes, lanes values a position) within this many
 * positions (1 MiB of floats: within the second-level cache), the output alike, the filter within
 * this many taps. */
#define TG_CONV_LANES_TILE_POSITIONS 16384
#define TG_CONV_LANES_OUT_POSITIONS 16384
#define TG_CONV_LANES_TAPS 1024
#define TG_CONV_LANES_MAX_STRIDE 2 /* along W (a strip's reads past the row end grow with it) */
#define TG_CONV_LANES_STRIP 8      /* output positions of a row summed together: independent FMA chains */
/* A strip reads up to (TG_CONV_LANES_STRIP - 1) * stride positions past a row's last output: the
 * tile has this many (zeroed) positions after its end. */
#define TG_CONV_LANES_SLACK (TG_CONV_LANES_STRIP * TG_CONV_LANES_MAX_STRIDE)

/* The SIMD kernels keep one vector of input per kernel column (W tap) of a column block, so they
 * take kernels up to this wide; wider ones, and rows whose indices overflow int32 (gathers),
 * run the portable kernel. */
#define TG_CONV_DIRECT_MAX_KW 32
/* ... and keep one vector of sums per tap of a kernel plane (kernel[1] x kernel[2]) for dW. */
#define TG_CONV_DIRECT_DW_TAPS 64

#if defined(__x86_64__)
extern const tg_conv_direct_kernel tg_conv_direct_kernel_avx512;
extern const tg_conv_direct_kernel tg_conv_direct_kernel_avx2;
extern const tg_conv_lanes_kernel tg_conv_lanes_kernel_avx512;
#endif

/* Input row (d, h) of the plane read by output row (od, oh) at taps (kd, kh), or -1 outside. */
static inline int64_t tg_conv_direct_input_row(const tg_conv_geom *g, int64_t od, int64_t oh, int64_t kd,
                                               int64_t kh)
{
    int64_t id = od * g->stride[0] + kd * g->dilation[0] - g->pad[0];
    int64_t ih = oh * g->stride[1] + kh * g->dilation[1] - g->pad[1];
    if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1]) return -1;
    return id * g->in[1] + ih;
}

#endif
