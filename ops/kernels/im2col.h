/* ops/kernels/im2col.h — N-d im2col / col2im and a direct convolution kernel (spatial rank 1..3).
 * (im2col.c holds im2col/col2im; conv_direct.c the direct kernel.)
 *
 * Every convolution is described by one geometry: spatial sizes are always 3 (D, H, W); a 1-D or
 * 2-D convolution sets the leading dims to size 1 with kernel 1, stride 1, dilation 1, padding 0,
 * so one code path serves conv1d/2d/3d. Along a dim, output index o and kernel tap k read input
 * index o*stride + k*dilation - pad; indices outside [0, in) read zero. pad may be any integer
 * (negative pads crop), which the rotated-filter backward uses.
 *
 * Plain functions over arrays: they never allocate; the caller gives the scratch.
 *
 *   tg_im2col(&g, x_image + c0 * in_plane, col, P);   // col:[Cg*K, P]
 *   tg_gemm(false, false, Og, P, Cg*K, 1, w, Cg*K, col, P, 0, y, P);
 */
#ifndef TG_KERNEL_IM2COL_H
#define TG_KERNEL_IM2COL_H

#include <stdbool.h>
#include <stdint.h>

#include "../../graph/tensor.h"

typedef struct tg_conv_geom {
    int64_t channels;     /* input channels taken by one im2col call (C/groups) */
    int64_t in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
} tg_conv_geom;

/* Products of the sizes: input positions, output positions, kernel taps. */
int64_t tg_conv_geom_in_size(const tg_conv_geom *g);
int64_t tg_conv_geom_out_size(const tg_conv_geom *g);
int64_t tg_conv_geom_taps(const tg_conv_geom *g);

/* x:[channels, in...] -> col:[channels*taps, out...] (zeros where the window leaves the input);
 * col's rows are col_ld elements apart (>= the output size), so several images can sit side by
 * side in one matrix for one larger GEMM. */
void tg_im2col(const tg_conv_geom *g, const tg_real *x, tg_real *col, int64_t col_ld);
/* The adjoint: dx:[channels, in...] += scatter of col:[channels*taps, out...] (rows col_ld apart). */
void tg_col2im_add(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx);

/* col2im for a stride s > 1 along W into dX split by column phase: each row of dx_split holds
 * the row's s phases one after another, ceil(in_w / s) elements each (row pitch
 * tg_col2im_split_pitch), so every tap's run is a contiguous, vectorisable add instead of every
 * s-th element. Elements past a phase's end are scratch (they take adds no position owns).
 * tg_phase_rows_add then adds each row, interleaved, to dX. */
int64_t tg_col2im_split_pitch(const tg_conv_geom *g);
void tg_col2im_add_split(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx_split);

/* One row of a strided dX from its column phases: dx[a*stride + r] += rows[r][a] for
 * a*stride + r < width (a NULL rows[r] adds nothing). The rotated dX path computes each phase
 * (position modulo the stride) as its own stride-1 convolution; this interleaves them. */
void tg_phase_rows_add(tg_real *dx, int64_t width, int64_t stride, const tg_real *const *rows);
/* The other way, a row dealt out to its phases: rows[r][a] = src[a*stride + r - lead] for a < count,
 * zero where that index leaves src's n values (lead >= 0: the zero padding before it). */
void tg_phase_rows_split(const tg_real *src, int64_t n, int64_t lead, int64_t stride, int64_t count,
                         tg_real *const *rows);

/* Direct convolution of one image for one group, for thin groups (depthwise: channels == 1):
 * y:[out_channels, out...] (+)= w:[out_channels, channels, taps] (*) x:[channels, in...].
 * accumulate false overwrites y. No im2col copy: each output vector sums its taps in a register
 * (conv_direct.c; AVX-512 or AVX2 when the CPU has it, else portable C). */
void tg_conv_direct(const tg_conv_geom *g, int64_t out_channels, const tg_real *x, const tg_real *w,
                    tg_real *y, bool accumulate);
/* The same for items i0..i1 of a depthwise layer (one input and one output channel per group; item
 * = image * groups + group, its planes at x + item*in_plane and y + item*out_plane, its filter
 * w + (item % groups)*taps): the SIMD kernels make their per-geometry set-up once for all. */
void tg_conv_direct_depthwise(const tg_conv_geom *g, int64_t groups, int64_t i0, int64_t i1, const tg_real *x,
                              const tg_real *w, tg_real *y, bool accumulate);
/* Its weight gradient: dw:[out_channels, channels, taps] += corr(x, dy:[out_channels, out...]). */
void tg_conv_direct_dw(const tg_conv_geom *g, int64_t out_channels, const tg_real *x,
                       const tg_real *dy, tg_real *dw);
/* The same summed over `count` images, image i at x + i*x_step and dy + i*dy_step: one reduction of
 * the SIMD kernels' vector sums per weight, not one per image (the sum's order differs from
 * count calls of tg_conv_direct_dw; it depends on count and the kernel only). */
void tg_conv_direct_dw_batch(const tg_conv_geom *g, int64_t out_channels, const tg_real *x, int64_t x_step,
                             const tg_real *dy, int64_t dy_step, int64_t count, tg_real *dw);
/* Its data gradient, the exact adjoint: dx:[channels, in...] (+)= sum_o w[o]^T (*) dy:[out_channels, out...],
 * reading dY in place (no zero-inserted copy), for the geometries tg_conv_direct_adjoint_supported
 * accepts: 2-D, 3x3, stride 2, dilation 1 (any padding) with a SIMD kernel in use. accumulate
 * false: dx is written, its old contents never read (each value is stored once, with all its taps). */
bool tg_conv_direct_adjoint_supported(const tg_conv_geom *g);
/* The same for items i0..i1 of a depthwise layer (as tg_conv_direct_depthwise's items: dY's planes
 * at dy + item*out_plane, dX's at dx + item*in_plane, the filter w + (item % groups)*taps), each
 * plane asking for a later plane's rows as it goes. */
void tg_conv_direct_adjoint_depthwise(const tg_conv_geom *g, int64_t groups, int64_t i0, int64_t i1, const tg_real *dy,
                                      const tg_real *w, tg_real *dx, bool accumulate);
void tg_conv_direct_adjoint(const tg_conv_geom *g, int64_t out_channels, const tg_real *dy, const tg_real *w,
                            tg_real *dx, bool accumulate);
/* A depthwise layer (groups = channels, one filter a channel) with the channels in the vector
 * lanes: each block of the kernel's lanes (tg_conv_lanes_blocks(channels) blocks) turned into a
 * tile of positions x channels with its padding, then every lane busy at every tap, where the
 * direct kernel's vector of one output row idles on narrow maps. For the geometries
 * tg_conv_lanes_supported takes (a kernel with them in use, a tile within the plan's limits, stride
 * along W at most 2, no crop); g->channels is 1 (one channel a group). Each call takes `scratch`
 * of its own: tg_conv_lanes_scratch(g) elements (kernels never allocate).
 * Forward: items item0..item1, item = block * images + image, x:[images, channels, in...],
 * w:[channels, taps], y:[images, channels, out...] (+)= the convolution (accumulate false: y's old
 * contents never read). dW: dw:[channels, taps] += the sums over the images for the channels of
 * `block`, x's image i at x + i*x_image and dY's at dy + i*dy_image; false, with dw untouched,
 * when dY holds NaN or Inf (its products with the zero padding would be NaN where the convolution
 * forms none: the caller takes the direct kernel). Sums in a fixed order: the same bits for any
 * thread count. */
bool tg_conv_lanes_supported(const tg_conv_geom *g);
/* The data gradient the same way (tg_conv_lanes_adjoint): dY's planes turned in `stride` apart
 * with the padding of the full convolution ((kernel - 1)*dilation - pad >= 0), summed with the
 * rotated filter at stride 1: the exact adjoint, dx:[images, channels, in...] (+)= its sums; with a
 * finite filter no product but of dY's values and the filter's reaches dX. */
bool tg_conv_lanes_adjoint_supported(const tg_conv_geom *g);
/* Whether a depthwise layer of this geometry takes them: supported, and (AUTO) its maps narrow
 * or its filter wide enough that they win (measured); ALWAYS / NEVER for tests and benchmarks. */
typedef enum tg_conv_lanes_mode { TG_CONV_LANES_AUTO, TG_CONV_LANES_ALWAYS, TG_CONV_LANES_NEVER } tg_conv_lanes_mode;
void tg_conv_lanes_set_mode(tg_conv_lanes_mode mode);
bool tg_conv_lanes_chosen(const tg_conv_geom *g);
bool tg_conv_lanes_adjoint_chosen(const tg_conv_geom *g);
int64_t tg_conv_lanes_width(void); /* channels a block (0: no lanes kernel in use) */
int64_t tg_conv_lanes_blocks(int64_t channels);
int64_t tg_conv_lanes_scratch(const tg_conv_geom *g); /* elements, for the forward, dX and dW alike */
void tg_conv_lanes_forward(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t item0, int64_t item1,
                           const tg_real *x, const tg_real *w, tg_real *y, bool accumulate, tg_real *scratch);
void tg_conv_lanes_adjoint(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t item0, int64_t item1,
                           const tg_real *dy, const tg_real *w, tg_real *dx, bool accumulate, tg_real *scratch);
bool tg_conv_lanes_dw(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t block, const tg_real *x,
                      int64_t x_image, const tg_real *dy, int64_t dy_image, tg_real *dw, tg_real *scratch);
/* Name of the direct kernel in use ("avx512", "avx2", "portable"). */
const char *tg_conv_direct_kernel_name(void);
/* Forces the direct kernel by name ("portable", "avx2", "avx512"; NULL = the best this CPU runs)
 * for every later call, process-wide. Returns 0, or -1 (nothing changed) when the name is unknown or the CPU
 * cannot run it. The environment variable TG_CONV_DIRECT_KERNEL does the same at first use. */
int tg_conv_direct_set_kernel(const char *name);

#endif
