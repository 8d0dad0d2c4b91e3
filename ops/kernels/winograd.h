/* ops/kernels/winograd.h — Winograd F(2x2,3x3) and F(4x4,3x3) convolution for 2-D, 3x3, stride-1,
 * dilation-1, single-group convolutions (any padding; the rotated dX path uses padding 2 - p).
 * F(4x4) (4x4 tiles from 6x6 patches, 36 products per 16 outputs) runs wherever the AVX-512 float
 * transforms do, F(2x2) elsewhere (tg_winograd_tile); the description below is F(2x2)'s, and
 * winograd.c's F(4x4) section gives the larger tile's matrices and blocks.
 *
 * Each 2x2 block of outputs ("tile") is computed from its 4x4 input patch d as
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so a tile costs 16 multiplies per (input, output) channel pair instead of 36: the channel sums
 * become 16 independent products U[k]:[O,C] x V[k]:[C,tiles], one per position k of the 4x4
 * transformed tile (register blocks of output channels x tiles over the C terms). Tiles of all
 * images are numbered together and processed in chunks small enough for the chunk's V and
 * M = U V to stay in cache.
 *
 * Plain functions: no allocation (the caller gives tg_winograd_scratch(...) elements), inputs only
 * read. Float32 error is a few ulps larger than the direct sum (docs/convolution.md).
 *
 *   if (tg_winograd_supported(&g, groups)) {
 *       tg_real *s = arena_alloc(tg_winograd_scratch(&g, n, O) * sizeof *s);
 *       tg_winograd_conv(&g, N, O, x, w, y, false, s);   // x:[N,C,H,W] w:[O,C,3,3] -> y:[N,O,Ho,Wo]
 *   }
 */
#ifndef TG_KERNEL_WINOGRAD_H
#define TG_KERNEL_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "im2col.h"

/* True for a geometry this kernel computes: 2-D (leading dim of size 1), 3x3, stride 1,
 * dilation 1, one group (groups == 1), padding >= 0 and at least one output position. */
bool tg_winograd_supported(const tg_conv_geom *g, int64_t groups);

/* True when v[0..n) holds no NaN and no ±Inf (one vectorised pass). The transforms mix a tile's
 * inputs, so a non-finite operand would spread beyond the windows that read it: callers that
 * must give PyTorch's exact NaN/Inf pattern use another algorithm when it is false (conv also
 * asks it of the direct kernel's filter). The two functions below check x (and dy) on their way
 * through the transforms themselves. */
bool tg_winograd_finite(const tg_real *v, int64_t n);
/* ... and no value within TG_WINOGRAD_HEADROOM of the type's largest: below it no input transform
 * can overflow (their gains are at most 100 in F(4x4), 25 in the 1-D ones), so a forward that
 * accumulates, its input checked by this first, never stops part way with some tiles added (it did,
 * silently adding them twice, with a finite input near 1e37). */
#define TG_WINOGRAD_HEADROOM 8192
bool tg_winograd_in_range(const tg_real *v, int64_t n);

/* The tile tg_winograd_conv uses for g and out_channels: 2 (F(2x2,3x3)) or 4 (F(4x4,3x3): 36
 * multiplies per 16 outputs instead of 64, float error a few times F(2x2)'s, docs/convolution.md),
 * from the shapes alone (the same for any batch and thread count). tg_winograd_set_tile(4) or (2)
 * forces one for every later call, process-wide (tests), 0 restores the rule; -1 for other values. */
int tg_winograd_tile(const tg_conv_geom *g, int64_t out_channels);
int tg_winograd_set_tile(int tile);

/* Scratch elements tg_winograd_conv needs for n images of g (channels = C) and out_channels O. */
size_t tg_winograd_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels);

/* y:[n, O, out_h, out_w] (+)= conv(x:[n, C, in_h, in_w], w:[O, C, 3, 3]) with C = g->channels;
 * accumulate false overwrites y. scratch: tg_winograd_scratch(g, n, O) elements. Returns false, having
 * stopped part way, when x holds a NaN or ±Inf (or a transform overflowed): y then holds some of
 * its tiles (added in, with accumulate) and the caller must compute it another way, so with
 * accumulate check x first (tg_winograd_in_range). w is not checked. */
bool tg_winograd_conv(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *w,
                      tg_real *y, bool accumulate, tg_real *scratch);

/* The weight gradient by the same tiles: y is linear in U = G g G^T, so
 *   dW = G^T [ sum over tiles (A dY_t A^T) .* (B^T d_t B) ] G
 * (dY_t: the tile's 2x2 output gradient, zero past the output's edge): 16 products
 * V[k]:[C,tiles] x Yt[k]:[tiles,O] summed over all tiles (tg_winograd_dw_sums), 2.25x fewer
 * multiplies than dY * im2col(x)^T. dw:[O, C, 3, 3] += that; scratch: tg_winograd_dw_scratch(g, n, O) elements. */
size_t tg_winograd_dw_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels);
/* Returns false, dw untouched, when x or dy holds a NaN or ±Inf (or a transform overflowed). */
bool tg_winograd_dw(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *dy,
                    tg_real *dw, tg_real *scratch);

/* The forward's multiply, shared with the 1-D kernel (winograd1d.c): M[k] = U[k] V[k] for k < k_count,
 * U [k_count, O, C], V[k] [C, count] and M[k] [O, count] with rows v_row and m_row apart (each at
 * least count rounded up to 16: whole vectors of tiles are read and written there) and planes
 * v_plane and m_plane apart; register blocks of output channels x tiles over the C terms, the
 * positions shared among the threads (each M[k] summed by one, in order). */
void tg_winograd_products(const tg_real *u, int64_t o_count, int64_t c_count, const tg_real *v, int64_t v_row,
                          int64_t v_plane, int64_t count, tg_real *m, int64_t m_row, int64_t m_plane, int k_count);
/* The weight gradient's multiply, shared with the 1-D kernel (winograd1d.c): M[k][c][o] += sum over
 * the count tiles of V[k][c][t] * Yt[k][t][o] for k < k_count, V[k] [C, count] rows v_row apart,
 * Yt[k] [count, o_pad] and M[k] [C, o_pad] (o_pad = tg_winograd_dw_o_pad(O): output channels padded
 * to whole vectors, their pad zero in Yt), planes v_plane, y_plane, m_plane apart. Register blocks
 * of sums over all tiles, in tile order: the same bits for any thread count. */
int64_t tg_winograd_dw_o_pad(int64_t out_channels);
void tg_winograd_dw_sums(const tg_real *v, int64_t v_row, int64_t v_plane, int64_t c_count, const tg_real *yt,
                         int64_t o_pad, int64_t y_plane, int64_t count, tg_real *m, int64_t m_plane, int k_count);

/* Name of the row transforms in use ("avx512", "portable"); true for the AVX-512 ones (AUTO takes
 * Winograd from fewer channels with them, conv_engine.c). */
const char *tg_winograd_kernel_name(void);
bool tg_winograd_kernel_is_simd(void);
/* Forces the row transforms by name ("portable", "avx512"; NULL = the best this CPU runs) for
 * every later call, process-wide (tests). Returns 0, or -1 (nothing changed) when the name is
 * unknown or the CPU cannot run it. */
int tg_winograd_set_kernel(const char *name);

#endif
