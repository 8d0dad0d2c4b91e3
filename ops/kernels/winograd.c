/* ops/kernels/winograd.c — Winograd F(2x2,3x3) convolution (see winograd.h).
 *
 * The 1-D F(2,3) matrices (outputs y0,y1 of a 3-tap correlation over inputs d0..d3):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input)
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]  (filter)
 *   A^T = [1 1 1 0; 0 1 -1 -1]                       (output)
 * applied along rows and then columns for the 2-D tile.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the transforms' row loops must vectorise */
#endif
#include "winograd.h"

#include <string.h>

#include "gemm.h"

/* Tiles per chunk (whole rows of tiles, at least one): the chunk's transformed inputs
 * [16, C, tiles] and GEMM outputs [16, O, tiles] stay in cache while each of the 16 GEMMs still
 * has enough columns to run at speed (measured, docs/convolution.md). */
#ifndef WINOGRAD_CHUNK
#define WINOGRAD_CHUNK 256
#endif

bool tg_winograd_supported(const tg_conv_geom *g, int64_t groups)
{
    if (groups != 1 || g->in[0] != 1 || g->out[0] != 1 || g->kernel[0] != 1 || g->pad[0] != 0) return false;
    for (int i = 1; i < 3; i++)
        if (g->kernel[i] != 3 || g->stride[i] != 1 || g->dilation[i] != 1 || g->pad[i] < 0 || g->out[i] < 1)
            return false;
    return true;
}

/* The tiling: rows and columns of 2x2 output tiles per image, tile rows per chunk. */
typedef struct tiling {
    int64_t rows, cols, rows_per_chunk, line; /* line: a padded input row, 2*cols + 2 values */
} tiling;
static tiling tiling_of(const tg_conv_geom *g)
{
    tiling t = {(g->out[1] + 1) / 2, (g->out[2] + 1) / 2, 1, 0};
    if (t.cols < WINOGRAD_CHUNK) t.rows_per_chunk = WINOGRAD_CHUNK / t.cols;
    t.line = 2 * t.cols + 2;
    return t;
}

size_t tg_winograd_scratch(const tg_conv_geom *g, int64_t out_channels)
{
    const tiling tl = tiling_of(g);
    const int64_t c = g->channels, chunk = tl.rows_per_chunk * tl.cols;
    return (size_t)(16 * out_channels * c + 16 * (c + out_channels) * chunk + 8 * tl.line);
}

/* u:[16, O, C] = G w G^T for every (o, c) filter w:[O, C, 3, 3]. Filters go in blocks through a
 * small [16, block] buffer so that u is written in 16 contiguous runs, not 16 scattered streams. */
#define FILTER_BLOCK 64
static void transform_filters(const tg_real *w, int64_t o_count, int64_t c_count, tg_real *u)
{
    const int64_t plane = o_count * c_count;
    tg_real buf[16][FILTER_BLOCK];
    for (int64_t f0 = 0; f0 < plane; f0 += FILTER_BLOCK) {
        const int64_t count = plane - f0 < FILTER_BLOCK ? plane - f0 : FILTER_BLOCK;
        for (int64_t f = 0; f < count; f++) {
            const tg_real *g = w + (f0 + f) * 9;
            tg_real rows[4][3]; /* G g (4x3); then (G g) G^T row by row */
            for (int j = 0; j < 3; j++) {
                tg_real g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                rows[0][j] = g0;
                rows[1][j] = (tg_real)0.5 * (g0 + g1 + g2);
                rows[2][j] = (tg_real)0.5 * (g0 - g1 + g2);
                rows[3][j] = g2;
            }
            for (int i = 0; i < 4; i++) {
                tg_real g0 = rows[i][0], g1 = rows[i][1], g2 = rows[i][2];
                buf[4 * i][f] = g0;
                buf[4 * i + 1][f] = (tg_real)0.5 * (g0 + g1 + g2);
                buf[4 * i + 2][f] = (tg_real)0.5 * (g0 - g1 + g2);
                buf[4 * i + 3][f] = g2;
            }
        }
        for (int k = 0; k < 16; k++) memcpy(u + k * plane + f0, buf[k], (size_t)count * sizeof *u);
    }
}

/* v[:, c, t0:t0+cols] = B^T d B for the 4x4 input patches d of one row of tiles of one channel
 * plane: the input rows r0..r0+3 (zeros outside the plane) are copied into padded lines, B^T runs
 * down the lines (vector over columns), then B across each tile's 4 columns. kstride: from one
 * position k of v to the next. */
static void transform_input_row(const tg_conv_geom *g, const tiling *tl, const tg_real *plane, int64_t r0,
                                tg_real *restrict lines, tg_real *restrict v, int64_t kstride)
{
    const int64_t h = g->in[1], w = g->in[2], c0 = -g->pad[2], n = tl->line;
    tg_real *restrict s = lines + 4 * n;
    for (int i = 0; i < 4; i++) { /* line x = input column c0 + x, zero outside [0, w) */
        tg_real *dst = lines + i * n;
        const int64_t r = r0 + i, lo = c0 < 0 ? -c0 : 0, hi = w - c0 < n ? w - c0 : n;
        if (r < 0 || r >= h || hi <= lo) {
            memset(dst, 0, (size_t)n * sizeof *dst);
            continue;
        }
        memset(dst, 0, (size_t)lo * sizeof *dst);
        memcpy(dst + lo, plane + r * w + c0 + lo, (size_t)(hi - lo) * sizeof *dst);
        memset(dst + hi, 0, (size_t)(n - hi) * sizeof *dst);
    }
    for (int64_t x = 0; x < n; x++) { /* s = B^T d, down the lines */
        tg_real d0 = lines[x], d1 = lines[n + x], d2 = lines[2 * n + x], d3 = lines[3 * n + x];
        s[x] = d0 - d2;
        s[n + x] = d1 + d2;
        s[2 * n + x] = d2 - d1;
        s[3 * n + x] = d1 - d3;
    }
    for (int i = 0; i < 4; i++) { /* (B^T d) B, per tile j over columns 2j..2j+3 */
        const tg_real *si = s + i * n;
        tg_real *restrict v0 = v + (4 * i) * kstride, *restrict v1 = v0 + kstride;
        tg_real *restrict v2 = v1 + kstride, *restrict v3 = v2 + kstride;
        for (int64_t j = 0; j < tl->cols; j++) {
            tg_real e0 = si[2 * j], e1 = si[2 * j + 1], e2 = si[2 * j + 2], e3 = si[2 * j + 3];
            v0[j] = e0 - e2;
            v1[j] = e1 + e2;
            v2[j] = e2 - e1;
            v3[j] = e1 - e3;
        }
    }
}

/* y rows 2*row, 2*row+1 of one output plane (+)= A^T m A for one row of tiles (m[k] at m + k*kstride);
 * the parts of partial tiles past the output's edge are dropped. lines: 4*cols values. */
static void transform_output_row(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t kstride,
                                 int64_t row, tg_real *restrict lines, tg_real *plane, bool accumulate)
{
    const int64_t ho = g->out[1], wo = g->out[2], cols = tl->cols;
    tg_real *restrict out0 = lines, *restrict out1 = lines + 2 * cols;
    for (int64_t j = 0; j < cols; j++) {
        tg_real s0[4], s1[4];
        for (int q = 0; q < 4; q++) { /* A^T m */
            tg_real m0 = m[q * kstride + j], m1 = m[(4 + q) * kstride + j];
            tg_real m2 = m[(8 + q) * kstride + j], m3 = m[(12 + q) * kstride + j];
            s0[q] = m0 + m1 + m2;
            s1[q] = m1 - m2 - m3;
        }
        out0[2 * j] = s0[0] + s0[1] + s0[2]; /* (A^T m) A */
        out0[2 * j + 1] = s0[1] - s0[2] - s0[3];
        out1[2 * j] = s1[0] + s1[1] + s1[2];
        out1[2 * j + 1] = s1[1] - s1[2] - s1[3];
    }
    for (int i = 0; i < 2 && 2 * row + i < ho; i++) {
        tg_real *dst = plane + (2 * row + i) * wo;
        const tg_real *src = i ? out1 : out0;
        if (accumulate)
            for (int64_t x = 0; x < wo; x++) dst[x] += src[x];
        else
            for (int64_t x = 0; x < wo; x++) dst[x] = src[x];
    }
}

void tg_winograd_conv(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *w,
                      tg_real *y, bool accumulate, tg_real *scratch)
{
    const tiling tl = tiling_of(g);
    const int64_t c_count = g->channels, o_count = out_channels, all_rows = n * tl.rows;
    const int64_t in_plane = g->in[1] * g->in[2], out_plane = g->out[1] * g->out[2];
    const int64_t chunk_cap = tl.rows_per_chunk * tl.cols;
    tg_real *u = scratch, *v = u + 16 * o_count * c_count, *m = v + 16 * c_count * chunk_cap;
    tg_real *lines = m + 16 * o_count * chunk_cap;
    transform_filters(w, o_count, c_count, u);
    for (int64_t row0 = 0; row0 < all_rows; row0 += tl.rows_per_chunk) { /* rows of tiles, all images */
        const int64_t rows = all_rows - row0 < tl.rows_per_chunk ? all_rows - row0 : tl.rows_per_chunk;
        const int64_t count = rows * tl.cols;
        for (int64_t c = 0; c < c_count; c++)
            for (int64_t r = 0; r < rows; r++) {
                int64_t image = (row0 + r) / tl.rows, tile_row = (row0 + r) % tl.rows;
                transform_input_row(g, &tl, x + (image * c_count + c) * in_plane, 2 * tile_row - g->pad[1], lines,
                                    v + c * count + r * tl.cols, c_count * count);
            }
        for (int k = 0; k < 16; k++) /* M[k] = U[k] V[k]: [O, C] x [C, count] */
            tg_gemm(false, false, o_count, count, c_count, 1, u + k * o_count * c_count, c_count,
                    v + k * c_count * count, count, 0, m + k * o_count * count, count);
        for (int64_t o = 0; o < o_count; o++)
            for (int64_t r = 0; r < rows; r++) {
                int64_t image = (row0 + r) / tl.rows, tile_row = (row0 + r) % tl.rows;
                transform_output_row(g, &tl, m + o * count + r * tl.cols, o_count * count, tile_row, lines,
                                     y + (image * o_count + o) * out_plane, accumulate);
            }
    }
}
