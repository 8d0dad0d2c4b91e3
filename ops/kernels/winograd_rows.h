/* ops/kernels/winograd_rows.h — the Winograd input and output transforms of one row of tiles,
 * included by winograd.c (portable build) and winograd_avx512.c (the same loops compiled for
 * AVX-512, where the compiler vectorises them 16 wide); WINOGRAD_ROWS(name) gives each copy its
 * own names. Only winograd*.c include it.
 */
#ifndef WINOGRAD_ROWS
#error "define WINOGRAD_ROWS(name) before including winograd_rows.h"
#endif

#include <string.h>

#include "winograd_internal.h"

/* v[:, c, t0:t0+cols] = B^T d B for the 4x4 input patches d of one row of tiles of one channel
 * plane: the input rows r0..r0+3 (zeros outside the plane) are copied into padded lines, B^T runs
 * down the lines (vector over columns), then B across each tile's 4 columns. kstride: from one
 * position k of v to the next. */
void WINOGRAD_ROWS(transform_input_row)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane, int64_t r0,
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
void WINOGRAD_ROWS(transform_output_row)(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t kstride,
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

