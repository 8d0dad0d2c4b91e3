/* ops/kernels/winograd1d.h — 1-D Winograd F(m, r) convolution for stride-1, single-group conv1d
 * (kernel 2..7 taps, any dilation, padding >= 0; the rotated dX path is such a convolution too).
 *
 * m outputs of an r-tap correlation ("tile") come from alpha = m + r - 1 inputs d as
 *   y = A^T [ (G g) .* (B^T d) ]
 * so a tile costs alpha multiplies per (input, output) channel pair instead of m*r: the channel
 * sums become alpha products U[k]:[O,C] x V[k]:[C,tiles], one per transformed position k (the 2-D
 * kernel's register blocks, tg_winograd_products). F(4,3)
 * (alpha 6) halves the multiplies of a 3-tap layer, F(4,5) (alpha 8) takes 0.4 of a 5-tap one's.
 * The matrices come from the Toom-Cook points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (the first
 * alpha - 1 of them), alpha at most 8: beyond that float32's error grows past a few ulps of the
 * window's magnitude (docs/convolution.md).
 *
 * Dilation d: the outputs split into d phases (o = phase + d*u), each a dense correlation of the
 * inputs of its own phase, so one "row" of tiles is one (image, phase) pair. The rows of a chunk
 * lie end to end, each with a few dummy tiles after its last real one (what the row's last tiles
 * read overhangs into), so the transforms run over the whole chunk as one line.
 *
 * Plain functions: no allocation (the caller gives tg_winograd1d_scratch(...) elements), inputs
 * only read.
 *
 *   if (tg_winograd1d_supported(&g, groups)) {
 *       tg_real *s = arena_alloc(tg_winograd1d_scratch(&g, n, O) * sizeof *s);
 *       tg_winograd1d_conv(&g, n, O, x, w, y, false, s);   // x:[n,C,L] w:[O,C,r] -> y:[n,O,Lo]
 *   }
 */
#ifndef TG_KERNEL_WINOGRAD1D_H
#define TG_KERNEL_WINOGRAD1D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

/* True for a geometry this kernel computes: 1-D (the two leading dims of size 1), 2 to 7 taps,
 * stride 1, any dilation, padding >= 0, one group, at least one output position. */
bool tg_winograd1d_supported(const tg_conv_geom *g, int64_t groups);

/* Outputs per tile (m) and transformed positions (alpha) it uses for r taps: (4, r + 3) up to
 * alpha 8, then (9 - r, 8). */
int tg_winograd1d_tile(int64_t taps);
int tg_winograd1d_alpha(int64_t taps);

/* Scratch elements tg_winograd1d_conv needs for n images of g (channels = C) and O outputs. */
size_t tg_winograd1d_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels);

/* y:[n, O, out] (+)= conv(x:[n, C, in], w:[O, C, r]) with C = g->channels; accumulate false
 * overwrites y. Returns false, having stopped part way, when x holds a NaN or ±Inf or a
 * transformed input is not finite: y then holds some of its rows (added in, with accumulate) and
 * the caller must compute it another way, so with accumulate check x first
 * (tg_winograd_finite). w is not checked. */
bool tg_winograd1d_conv(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *w,
                        tg_real *y, bool accumulate, tg_real *scratch);

/* The weight gradient by the same tiles: y is linear in U = G g, so
 *   dW = G^T [ sum over tiles (A dY_t) .* (B^T d_t) ]
 * (dY_t: the tile's m output gradients, zero past the row's end): alpha products
 * V[k]:[C,tiles] x Y[k]^T:[tiles,O] summed over the tiles (tg_winograd_dw_sums). dw:[O, C, r] += that. Its chunks of
 * tiles are a function of the shapes alone (never the thread count). Returns false, dw untouched,
 * when x or dy holds a NaN or ±Inf. */
size_t tg_winograd1d_dw_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels);
bool tg_winograd1d_dw(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *dy,
                      tg_real *dw, tg_real *scratch);

/* Name of the vector loops in use ("avx512", "avx2", "portable"); forcing them by name (NULL =
 * the best this CPU runs) for every later call, process-wide (tests): 0, or -1 (nothing changed)
 * when the name is unknown or the CPU cannot run it. */
const char *tg_winograd1d_kernel_name(void);
int tg_winograd1d_set_kernel(const char *name);

#endif
