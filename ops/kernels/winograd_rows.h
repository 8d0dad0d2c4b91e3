/* ops/kernels/winograd_rows.h — the Winograd input and output transforms of one row of tiles,
 * included by winograd.c (portable build) and winograd_avx512.c (the same loops compiled for
 * AVX-512, where the compiler vectorises them 16 wide); WINOGRAD_ROWS(name) gives each copy its
 * own names, with the finiteness scan that guards them. Only winograd*.c include it.
 */
#ifndef WINOGRAD_ROWS
#error "define WINOGRAD_ROWS(name) before including winograd_rows.h"
#endif

#include <string.h>

#include "winograd.h"
#include "winograd_internal.h"

/* F(4x4)'s A^T (winograd.c), shared by the tile-by-tile loops below. */
static const tg_real WINOGRAD_ROWS(at4)[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

#ifndef WINOGRAD_ROWS_OWN_DY_TRANSFORM
/* F(4x4)'s weight-gradient dY transform (winograd4_dy_fn), tile by tile and channel by channel: the
 * portable and double builds' (the AVX-512 float build transposes, winograd_avx512.c). */
static tg_real WINOGRAD_ROWS(dy_transform4_loops)(const tg_conv_geom *g, const winograd4_part *part, int parts, int64_t o_count,
                                     int64_t o_pad, tg_real *restrict yt, int64_t y_plane)
{
    const int64_t ho = g->out[1], wo = g->out[2], plane = ho * wo;
    const int span = 16 / parts;
    tg_real check = 0;
    for (int p = 0; p < parts; p++)
        for (int j = 0; j < span; j++) {
            tg_real *out = yt + (span * p + j) * o_pad;
            for (int64_t o = 0; o < o_pad; o++) {
                tg_real d[4][4], t[6][4];
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        const int64_t y = part[p].row + a, x = part[p].col + 4 * j + b;
                        const bool inside = part[p].plane && o < o_count && y < ho && x < wo;
                        d[a][b] = inside ? part[p].plane[o * plane + y * wo + x] : 0;
                        check += d[a][b] * 0;
                    }
                for (int e = 0; e < 6; e++) /* A dY */
                    for (int b = 0; b < 4; b++) {
                        tg_real sum = 0;
                        for (int a = 0; a < 4; a++) sum += WINOGRAD_ROWS(at4)[a][e] * d[a][b];
                        t[e][b] = sum;
                    }
                for (int e = 0; e < 6; e++) /* (A dY) A^T */
                    for (int f = 0; f < 6; f++) {
                        tg_real sum = 0;
                        for (int b = 0; b < 4; b++) sum += t[e][b] * WINOGRAD_ROWS(at4)[b][f];
                        out[(6 * e + f) * y_plane + o] = sum;
                    }
            }
        }
    return check;
}
tg_real WINOGRAD_ROWS(dy_transform4)(const tg_conv_geom *g, const winograd4_part *part, int parts, int64_t o_count,
                                     int64_t o_pad, tg_real *restrict yt, int64_t y_plane)
{
    return WINOGRAD_ROWS(dy_transform4_loops)(g, part, parts, o_count, o_pad, yt, y_plane);
}
#endif

#ifndef WINOGRAD_ROWS_OWN_TRANSFORMS /* the AVX-512 float build writes its own (winograd_avx512.c) */
/* v[:, c, t0:t0+cols] = B^T d B for the 4x4 input patches d of one row of tiles of one channel
 * plane: B^T runs down the input rows r0..r0+3, read in place (zeros outside the plane and its
 * columns), into four padded lines, then B across each tile's 4 columns. kstride: from one
 * position k of v to the next. Writes cols_pad values per k: the caller leaves that much slack.
 * lines[line, 2*line) is the finiteness check (bt_rows): the caller zeroes it and reads it. */
/* s_i[x] = (B^T d)[i] for the four input rows d (a helper with restrict parameters: it vectorises).
 * check[x] turns NaN for good once a d is NaN or ±Inf: every d reaches some s_i, and (Σ s_i)·0 is 0
 * for finite values, NaN otherwise (a finite sum overflowing flags too: harmless, see
 * tg_winograd_conv). It rides on loads the transform makes anyway. */
static void WINOGRAD_ROWS(bt_rows)(int64_t len, const tg_real *restrict d0, const tg_real *restrict d1,
                                   const tg_real *restrict d2, const tg_real *restrict d3, tg_real *restrict s0,
                                   tg_real *restrict s1, tg_real *restrict s2, tg_real *restrict s3,
                                   tg_real *restrict check)
{
    for (int64_t x = 0; x < len; x++) {
        s0[x] = d0[x] - d2[x];
        s1[x] = d1[x] + d2[x];
        s2[x] = d2[x] - d1[x];
        s3[x] = d1[x] - d3[x];
        check[x] += (s0[x] + s1[x] + s2[x] + s3[x]) * 0;
    }
}

static void WINOGRAD_ROWS(transform_input_row)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane,
                                               int64_t r0, tg_real *restrict lines, tg_real *restrict v,
                                               int64_t kstride)
{
    const int64_t h = g->in[1], w = g->in[2], c0 = -g->pad[2], n = tl->line;
    /* line x = input column c0 + x: read in place for x in [lo, hi), zero outside; a row outside
     * the plane reads a zero line */
    const int64_t lo = c0 < 0 ? -c0 : 0, hi = w - c0 < n ? w - c0 : n;
    const tg_real *row[4];
    bool zeroed = false;
    for (int i = 0; i < 4; i++) {
        const int64_t r = r0 + i;
        if (r >= 0 && r < h) {
            row[i] = plane + r * w;
            continue;
        }
        if (!zeroed) memset(lines, 0, (size_t)n * sizeof *lines); /* n >= w */
        zeroed = true;
        row[i] = lines;
    }
    tg_real *s = lines + 4 * n;
    for (int i = 0; i < 4; i++)
        for (int64_t x = 0; x < n; x++)
            if (x < lo || x >= hi) s[i * n + x] = 0;
    if (hi > lo) /* s = B^T d over the columns inside the input: line x reads input column c0 + x */
        WINOGRAD_ROWS(bt_rows)(hi - lo, row[0] + c0 + lo, row[1] + c0 + lo, row[2] + c0 + lo, row[3] + c0 + lo, s + lo,
                               s + n + lo, s + 2 * n + lo, s + 3 * n + lo, lines + n + lo);
    for (int i = 0; i < 4; i++) { /* (B^T d) B, per tile j over columns 2j..2j+3; cols_pad tiles */
        const tg_real *si = s + i * n;
        tg_real *restrict v0 = v + (4 * i) * kstride, *restrict v1 = v0 + kstride;
        tg_real *restrict v2 = v1 + kstride, *restrict v3 = v2 + kstride;
        for (int64_t j0 = 0; j0 < tl->cols_pad; j0 += WINOGRAD_VEC)
            for (int64_t j = j0; j < j0 + WINOGRAD_VEC; j++) {
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
static void WINOGRAD_ROWS(transform_output_row)(const tg_conv_geom *g, const tiling *tl, const tg_real *m,
                                                int64_t kstride, int64_t row, tg_real *restrict lines,
                                                tg_real *plane, bool accumulate)
{
    const int64_t ho = g->out[1], wo = g->out[2], cols = tl->cols_pad; /* whole blocks; m has the slack */
    tg_real *restrict out0 = lines, *restrict out1 = lines + 2 * cols;
    for (int64_t j0 = 0; j0 < cols; j0 += WINOGRAD_VEC)
        for (int64_t j = j0; j < j0 + WINOGRAD_VEC; j++) {
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

void WINOGRAD_ROWS(transform_input_rows)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane,
                                         int64_t plane_stride, int64_t planes, int64_t r0, tg_real *restrict lines,
                                         tg_real *restrict v, int64_t v_stride, int64_t kstride)
{
    for (int64_t c = 0; c < planes; c++)
        WINOGRAD_ROWS(transform_input_row)(g, tl, plane + c * plane_stride, r0, lines, v + c * v_stride, kstride);
}

void WINOGRAD_ROWS(transform_output_rows)(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t m_stride,
                                          int64_t kstride, int64_t planes, int64_t row, tg_real *restrict lines,
                                          tg_real *plane, int64_t plane_stride, bool accumulate)
{
    for (int64_t o = 0; o < planes; o++)
        WINOGRAD_ROWS(transform_output_row)(g, tl, m + o * m_stride, kstride, row, lines, plane + o * plane_stride,
                                            accumulate);
}
void WINOGRAD_ROWS(transform_input_pair)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane_a, int64_t ra,
                                         const tg_real *plane_b, int64_t rb, int64_t plane_stride, int64_t planes,
                                         tg_real *restrict lines, tg_real *restrict v, int64_t v_stride,
                                         int64_t kstride)
{
    WINOGRAD_ROWS(transform_input_rows)(g, tl, plane_a, plane_stride, planes, ra, lines, v, v_stride, kstride);
    if (plane_b) /* after row a: its block's slack past 8 tiles is row b's, overwritten here */
        WINOGRAD_ROWS(transform_input_rows)(g, tl, plane_b, plane_stride, planes, rb, lines, v + WINOGRAD_PAIR_TILES,
                                            v_stride, kstride);
}

void WINOGRAD_ROWS(transform_output_pair)(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t m_stride,
                                          int64_t kstride, int64_t planes, int64_t row_a, tg_real *y_a, int64_t row_b,
                                          tg_real *y_b, int64_t plane_stride, tg_real *restrict lines, bool accumulate)
{
    WINOGRAD_ROWS(transform_output_rows)(g, tl, m, m_stride, kstride, planes, row_a, lines, y_a, plane_stride,
                                         accumulate);
    if (y_b)
        WINOGRAD_ROWS(transform_output_rows)(g, tl, m + WINOGRAD_PAIR_TILES, m_stride, kstride, planes, row_b, lines,
                                             y_b, plane_stride, accumulate);
}

/* F(4x4,3x3), tile by tile (the portable and double builds; AVX-512 float has its own): the
 * matrices of the points 0, 1, -1, 2, -2 and infinity (winograd.c), applied as written. */
static const tg_real WINOGRAD_ROWS(bt4)[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};

tg_real WINOGRAD_ROWS(transform_input4)(const tg_conv_geom *g, const winograd4_part *h, int parts,
                                        int64_t plane_stride, int64_t planes, tg_real *restrict v, int64_t v_stride,
                                        int64_t kstride)
{
    const int64_t ih = g->in[1], iw = g->in[2];
    const int span = 16 / parts; /* tiles a part */
    tg_real check = 0;
    for (int64_t c = 0; c < planes; c++)
        for (int p = 0; p < parts; p++)
            for (int j = 0; j < span; j++) {
                tg_real d[6][6], t[6][6];
                for (int s = 0; s < 6; s++)
                    for (int q = 0; q < 6; q++) {
                        const int64_t r = h[p].row + s, col = h[p].col + 4 * j + q;
                        const bool inside = h[p].plane && r >= 0 && r < ih && col >= 0 && col < iw;
                        d[s][q] = inside ? h[p].plane[c * plane_stride + r * iw + col] : 0;
                    }
                for (int i = 0; i < 6; i++) /* B^T d */
                    for (int q = 0; q < 6; q++) {
                        tg_real sum = 0;
                        for (int s = 0; s < 6; s++) sum += WINOGRAD_ROWS(bt4)[i][s] * d[s][q];
                        t[i][q] = sum;
                    }
                for (int i = 0; i < 6; i++) /* (B^T d) B */
                    for (int e = 0; e < 6; e++) {
                        tg_real sum = 0;
                        for (int q = 0; q < 6; q++) sum += WINOGRAD_ROWS(bt4)[e][q] * t[i][q];
                        v[c * v_stride + (6 * i + e) * kstride + span * p + j] = sum;
                        check += sum * 0;
                    }
            }
    return check;
}

void WINOGRAD_ROWS(transform_output4)(const tg_conv_geom *g, const winograd4_out_part *h, int parts,
                                      const tg_real *m, int64_t m_stride, int64_t kstride, int64_t planes,
                                      int64_t plane_stride, bool accumulate)
{
    const int64_t ho = g->out[1], wo = g->out[2];
    const int span = 16 / parts;
    for (int64_t o = 0; o < planes; o++)
        for (int p = 0; p < parts; p++)
            for (int j = 0; j < span && h[p].plane && h[p].col + 4 * j < wo; j++) {
                tg_real t[4][6]; /* A^T m */
                for (int a = 0; a < 4; a++)
                    for (int e = 0; e < 6; e++) {
                        tg_real sum = 0;
                        for (int i = 0; i < 6; i++)
                            sum += WINOGRAD_ROWS(at4)[a][i] * m[o * m_stride + (6 * i + e) * kstride + span * p + j];
                        t[a][e] = sum;
                    }
                for (int a = 0; a < 4 && h[p].row + a < ho; a++) /* (A^T m) A */
                    for (int b = 0; b < 4 && h[p].col + 4 * j + b < wo; b++) {
                        tg_real sum = 0;
                        for (int e = 0; e < 6; e++) sum += WINOGRAD_ROWS(at4)[b][e] * t[a][e];
                        tg_real *dst = h[p].plane + o * plane_stride + (h[p].row + a) * wo + h[p].col + 4 * j + b;
                        *dst = accumulate ? *dst + sum : sum;
                    }
            }
}

#endif /* WINOGRAD_ROWS_OWN_TRANSFORMS */

/* M[k] = U[k] V[k] for k_begin <= k < k_end ([O, C] x [C, count]; V's rows v_row and M's m_row apart, both at
 * least count rounded up to 16) in blocks of WSM_OB (then 4, then 1) output channels x 2 vectors of 16 tiles held in
 * registers over the C terms, each sum over c in order. It replaced 16 tg_gemm calls a chunk
 * (which pack both operands and sum only C terms per 12 x 32 block of sums; 4 Dec, one thread,
 * batch 64, forward ms: 16 -> 16 channels 28x28 1.39 -> 0.82, 64 -> 64 14x14 3.2 -> 2.7, 16 x
 * 128 -> 128 28x28 9.9 -> 8.8). count is rounded up to whole vectors: V's rows are read and M's
 * written that far (their padding). */
typedef tg_real WINOGRAD_ROWS(vec) __attribute__((vector_size(16 * sizeof(tg_real))));
#define WSM_OB 8
static inline __attribute__((always_inline)) void WINOGRAD_ROWS(multiply_block)(const tg_real *uk, int64_t c_count,
                                                                                const tg_real *vk, int64_t v_row,
                                                                                tg_real *mk, int64_t m_row,
                                                                                int64_t t0, int64_t o0, const int OB,
                                                                                const int NV)
{
    WINOGRAD_ROWS(vec) acc[WSM_OB][2];
    for (int ob = 0; ob < OB; ob++)
        for (int nv = 0; nv < NV; nv++) acc[ob][nv] = (WINOGRAD_ROWS(vec)){0};
    for (int64_t c = 0; c < c_count; c++) {
        WINOGRAD_ROWS(vec) x[2];
        for (int nv = 0; nv < NV; nv++) memcpy(&x[nv], vk + c * v_row + t0 + 16 * nv, sizeof x[nv]);
        const tg_real *uc = uk + o0 * c_count + c;
        for (int ob = 0; ob < OB; ob++) {
            const tg_real w = uc[ob * c_count];
            for (int nv = 0; nv < NV; nv++) acc[ob][nv] += x[nv] * w;
        }
    }
    for (int ob = 0; ob < OB; ob++)
        for (int nv = 0; nv < NV; nv++) memcpy(mk + (o0 + ob) * m_row + t0 + 16 * nv, &acc[ob][nv], sizeof acc[ob][nv]);
}

/* One block of output channels at t0 with OB, two vectors or one (constants in every call). */
#define WINOGRAD_MULTIPLY_BLOCK(OB, o)                                                               \
    do {                                                                                             \
        if (two) WINOGRAD_ROWS(multiply_block)(uk, c_count, vk, v_row, mk, m_row, t0, (o), (OB), 2); \
        else WINOGRAD_ROWS(multiply_block)(uk, c_count, vk, v_row, mk, m_row, t0, (o), (OB), 1);     \
    } while (0)

void WINOGRAD_ROWS(multiply)(const tg_real *u, int64_t o_count, int64_t c_count, const tg_real *v, int64_t v_row,
                             int64_t v_plane, int64_t count, tg_real *m, int64_t m_row, int64_t m_plane, int k_begin,
                             int k_end)
{
    const int64_t vectors = (count + 15) / 16;
    for (int k = k_begin; k < k_end; k++) {
        const tg_real *uk = u + k * o_count * c_count, *vk = v + k * v_plane;
        tg_real *mk = m + k * m_plane;
        for (int64_t b = 0; b < vectors; b += 2) {
            const bool two = vectors - b >= 2;
            const int64_t t0 = 16 * b;
            int64_t o = 0;
            for (; o_count - o >= WSM_OB; o += WSM_OB) WINOGRAD_MULTIPLY_BLOCK(WSM_OB, o);
            if (o_count - o >= WSM_OB / 2) {
                WINOGRAD_MULTIPLY_BLOCK(WSM_OB / 2, o);
                o += WSM_OB / 2;
            }
            for (; o < o_count; o++) WINOGRAD_MULTIPLY_BLOCK(1, o);
        }
    }
}
#undef WINOGRAD_MULTIPLY_BLOCK
#undef WSM_OB

/* ---- the weight gradient's transposed operand and its multiply ----
 * dW's sums run over the tiles: M[k][c][o] = sum_t V[k][c][t] * Yt[k][t][o]. With the gradient
 * transformed into Yt, tiles outermost and the output channels contiguous, each step of the multiply
 * loads whole vectors of output channels and broadcasts one V value per input channel: a block of
 * sums stays in registers over every tile, with no operand packed (the 16 GEMMs it replaced packed
 * both, their transposing packs a quarter of the weight gradient's time). */

/* Yt[k][t][o] (k planes y_plane apart, tiles o_pad apart) = (A dY A^T)[k] for the tiles of tile
 * rows row0 .. row0+rows-1 (all images numbered together) and output channels o < o_count (o_count
 * .. o_pad: zero). A = [1 0; 1 1; 1 -1; 0 -1] on both sides of each tile's 2x2 gradient (zero past
 * the output's edge). Returns 0, or NaN when a dY value read is NaN or ±Inf. */
#define WDY_BLOCK 16 /* output channels per step: the values of one tile position gathered across them */
static tg_real WINOGRAD_ROWS(dy_transform_t_loops)(const tg_conv_geom *g, const tiling *tl, const tg_real *dy,
                                                   int64_t o_count, int64_t o_pad, int64_t row0, int64_t rows,
                                                   tg_real *restrict yt, int64_t y_plane)
{
    const int64_t ho = g->out[1], wo = g->out[2], plane = ho * wo;
    tg_real check[WDY_BLOCK] = {0};
    for (int64_t r = 0; r < rows; r++) {
        const int64_t image = (row0 + r) / tl->rows, tile_row = (row0 + r) % tl->rows;
        const tg_real *base = dy + image * o_count * plane;
        for (int64_t j = 0; j < tl->cols; j++) {
            tg_real *restrict out = yt + (r * tl->cols + j) * o_pad;
            /* the tile's 2x2 positions: their offsets in a plane, or -1 past the output's edge */
            int64_t at[4];
            for (int q = 0; q < 4; q++) {
                const int64_t y = 2 * tile_row + q / 2, x = 2 * j + q % 2;
                at[q] = y < ho && x < wo ? y * wo + x : -1;
            }
            for (int64_t o0 = 0; o0 < o_pad; o0 += WDY_BLOCK) {
                const int64_t n = o_count - o0 < WDY_BLOCK ? (o_count - o0 > 0 ? o_count - o0 : 0) : WDY_BLOCK;
                tg_real d[4][WDY_BLOCK];
                for (int q = 0; q < 4; q++) {
                    const tg_real *p = base + o0 * plane + at[q];
                    if (at[q] >= 0 && n == WDY_BLOCK)
                        for (int o = 0; o < WDY_BLOCK; o++) d[q][o] = p[o * plane];
                    else
                        for (int o = 0; o < WDY_BLOCK; o++) d[q][o] = at[q] >= 0 && o < n ? p[o * plane] : 0;
                }
                for (int o = 0; o < WDY_BLOCK; o++) {
                    const tg_real e0 = d[0][o], o0v = d[1][o], e1 = d[2][o], o1 = d[3][o];
                    const tg_real a[4] = {e0, e0 + e1, e0 - e1, -e1}; /* A y, column 0 */
                    const tg_real b[4] = {o0v, o0v + o1, o0v - o1, -o1}; /* column 1 */
                    for (int q = 0; q < 4; q++) { /* (A y) A^T */
                        out[(4 * q) * y_plane + o0 + o] = a[q];
                        out[(4 * q + 1) * y_plane + o0 + o] = a[q] + b[q];
                        out[(4 * q + 2) * y_plane + o0 + o] = a[q] - b[q];
                        out[(4 * q + 3) * y_plane + o0 + o] = -b[q];
                    }
                    check[o] += (e0 + o0v + e1 + o1) * 0;
                }
            }
        }
    }
    tg_real any = 0;
    for (int o = 0; o < WDY_BLOCK; o++) any += check[o];
    return any;
}
#undef WDY_BLOCK
#ifndef WINOGRAD_ROWS_OWN_DY_TRANSFORM /* the AVX-512 float build gathers (winograd_avx512.c) */
tg_real WINOGRAD_ROWS(dy_transform_t)(const tg_conv_geom *g, const tiling *tl, const tg_real *dy, int64_t o_count,
                                      int64_t o_pad, int64_t row0, int64_t rows, tg_real *restrict yt,
                                      int64_t y_plane)
{
    return WINOGRAD_ROWS(dy_transform_t_loops)(g, tl, dy, o_count, o_pad, row0, rows, yt, y_plane);
}
#endif

/* M[k][c][o0 .. o0 + NV*16) (+)= sum over the count tiles of V[k][c][t] * Yt[k][t][..] for CB
 * input channels from c0: the block's sums in registers over every tile, in tile order. */
#define WDW_CB 16
static inline __attribute__((always_inline)) void WINOGRAD_ROWS(dw_block)(const tg_real *vk, int64_t v_row,
                                                                          const tg_real *yk, int64_t o_pad,
                                                                          int64_t count, tg_real *mk, int64_t c0,
                                                                          int64_t o0, const int CB, const int NV)
{
    WINOGRAD_ROWS(vec) acc[WDW_CB][2];
    for (int cb = 0; cb < CB; cb++)
        for (int nv = 0; nv < NV; nv++) memcpy(&acc[cb][nv], mk + (c0 + cb) * o_pad + o0 + 16 * nv, sizeof acc[cb][nv]);
    const tg_real *vc = vk + c0 * v_row;
    for (int64_t t = 0; t < count; t++) {
        WINOGRAD_ROWS(vec) y[2];
        for (int nv = 0; nv < NV; nv++) memcpy(&y[nv], yk + t * o_pad + o0 + 16 * nv, sizeof y[nv]);
        for (int cb = 0; cb < CB; cb++) {
            const tg_real v = vc[cb * v_row + t];
            for (int nv = 0; nv < NV; nv++) acc[cb][nv] += y[nv] * v;
        }
    }
    for (int cb = 0; cb < CB; cb++)
        for (int nv = 0; nv < NV; nv++) memcpy(mk + (c0 + cb) * o_pad + o0 + 16 * nv, &acc[cb][nv], sizeof acc[cb][nv]);
}

/* M[k] += V[k] Yt[k] for positions k < k_count: V[k] [C, count] (rows v_row, planes v_plane apart), Yt[k]
 * [count, o_pad] (planes y_plane apart), M[k] [C, o_pad] (planes m_plane apart); o_pad a multiple
 * of 16. Blocks of 8 input channels x 2 vectors of output channels (16 x 1 when there is one
 * vector: a broadcast per multiply-add then, but no sums wasted), then 4, then 1. */
void WINOGRAD_ROWS(dw_multiply)(const tg_real *v, int64_t v_row, int64_t v_plane, int64_t c_count, const tg_real *yt,
                                int64_t o_pad, int64_t y_plane, int64_t count, tg_real *m, int64_t m_plane, int k_count)
{
#define WDW_BLOCKS(CB_FULL, NV)                                                                      \
    do {                                                                                             \
        int64_t c = 0;                                                                               \
        for (; c_count - c >= (CB_FULL); c += (CB_FULL))                                             \
            WINOGRAD_ROWS(dw_block)(vk, v_row, yk, o_pad, count, mk, c, o0, (CB_FULL), (NV));        \
        if (c_count - c >= 4) {                                                                      \
            WINOGRAD_ROWS(dw_block)(vk, v_row, yk, o_pad, count, mk, c, o0, 4, (NV));                \
            c += 4;                                                                                  \
        }                                                                                            \
        for (; c < c_count; c++) WINOGRAD_ROWS(dw_block)(vk, v_row, yk, o_pad, count, mk, c, o0, 1, (NV)); \
    } while (0)
    for (int k = 0; k < k_count; k++) {
        const tg_real *vk = v + k * v_plane, *yk = yt + k * y_plane;
        tg_real *mk = m + k * m_plane;
        int64_t o0 = 0;
        for (; o_pad - o0 >= 32; o0 += 32) WDW_BLOCKS(8, 2);
        if (o0 < o_pad) WDW_BLOCKS(WDW_CB, 1);
    }
#undef WDW_BLOCKS
}
#undef WDW_CB

/* True when v[0..n) holds no NaN, no ±Inf and (h > 1) nothing within a factor h of the largest
 * value: x*h − x*h is 0 for such x and NaN otherwise (x*h overflows to ±Inf), and a NaN sticks in
 * its lane's sum (a lane array, so the loop vectorises without reordering a sum). */
#define WINOGRAD_FINITE_LANES 32
bool WINOGRAD_ROWS(all_finite)(const tg_real *v, int64_t n, tg_real h)
{
    tg_real lane[WINOGRAD_FINITE_LANES] = {0};
    int64_t i = 0;
    for (; n - i >= WINOGRAD_FINITE_LANES; i += WINOGRAD_FINITE_LANES)
        for (int l = 0; l < WINOGRAD_FINITE_LANES; l++) lane[l] += v[i + l] * h - v[i + l] * h;
    for (; i < n; i++) lane[0] += v[i] * h - v[i] * h;
    tg_real sum = 0;
    for (int l = 0; l < WINOGRAD_FINITE_LANES; l++) sum += lane[l];
    return sum == 0;
}
#undef WINOGRAD_FINITE_LANES

/* ---- F(4x4,3x3)'s filter transforms, in double, rounded once ----
 * G's rows are the points 0, 1, -1, 2, -2 and infinity (winograd1d.c's construction). With the
 * filters in the inner loop each step is a loop over contiguous lanes, vectorised in the SIMD copy.
 * They run once a call or dW chunk, not per tile, yet when dW's was winograd.c's scalar loop, a
 * filter at a time, the two were 4.9 % of VGG-BN's one-thread training step and 2.8 % of
 * BN-ResNet's; 2.4 % and 1.3 % here (perf samples, 6 Dec). */
static const double w4_g[6][3] = {{0.25, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}}; /* G */

/* u:[36, O, C] = G w G^T for every (o, c) filter w:[O, C, 3, 3] */
void WINOGRAD_ROWS(filters4)(const tg_real *w, int64_t o_count, int64_t c_count, tg_real *u)
{
    const int64_t plane = o_count * c_count;
    double g[9][WINOGRAD_FILTER_BLOCK], t[6][3][WINOGRAD_FILTER_BLOCK]; /* the block's taps; G g */
    for (int64_t f0 = 0; f0 < plane; f0 += WINOGRAD_FILTER_BLOCK) {
        const int64_t count = plane - f0 < WINOGRAD_FILTER_BLOCK ? plane - f0 : WINOGRAD_FILTER_BLOCK;
        for (int64_t f = 0; f < count; f++)
            for (int i = 0; i < 9; i++) g[i][f] = (double)w[(f0 + f) * 9 + i];
        for (int a = 0; a < 6; a++)
            for (int j = 0; j < 3; j++)
                for (int64_t f = 0; f < count; f++)
                    t[a][j][f] = w4_g[a][0] * g[j][f] + w4_g[a][1] * g[3 + j][f] + w4_g[a][2] * g[6 + j][f];
        for (int a = 0; a < 6; a++) /* (G g) G^T */
            for (int b = 0; b < 6; b++) {
                tg_real *out = u + (6 * a + b) * plane + f0;
                for (int64_t f = 0; f < count; f++)
                    out[f] = (tg_real)(t[a][0][f] * w4_g[b][0] + t[a][1][f] * w4_g[b][1] + t[a][2][f] * w4_g[b][2]);
            }
    }
}

/* dw[o, c] += G^T M[c, o] G for input channels c0..c1 and every output channel: M [36][C, o_pad]
 * (planes m_plane apart), dw:[O, C, 3, 3]. Output channels go in blocks (M read in runs along o). */
void WINOGRAD_ROWS(dw_filters4)(const tg_real *m, int64_t m_plane, int64_t o_pad, int64_t o_count, int64_t c_count,
                                int64_t c0, int64_t c1, tg_real *dw)
{
    double mm[36][WINOGRAD_FILTER_BLOCK], t[3][6][WINOGRAD_FILTER_BLOCK]; /* M; G^T M */
    double r[9][WINOGRAD_FILTER_BLOCK];                                      /* G^T M G */
    for (int64_t c = c0; c < c1; c++)
        for (int64_t o0 = 0; o0 < o_count; o0 += WINOGRAD_FILTER_BLOCK) {
            const int64_t count = o_count - o0 < WINOGRAD_FILTER_BLOCK ? o_count - o0 : WINOGRAD_FILTER_BLOCK;
            const tg_real *mo = m + c * o_pad + o0;
            for (int k = 0; k < 36; k++)
                for (int64_t f = 0; f < count; f++) mm[k][f] = (double)mo[k * m_plane + f];
            for (int i = 0; i < 3; i++)
                for (int e = 0; e < 6; e++)
                    for (int64_t f = 0; f < count; f++)
                        t[i][e][f] = w4_g[0][i] * mm[e][f] + w4_g[1][i] * mm[6 + e][f] + w4_g[2][i] * mm[12 + e][f] +
                                     w4_g[3][i] * mm[18 + e][f] + w4_g[4][i] * mm[24 + e][f] + w4_g[5][i] * mm[30 + e][f];
            for (int i = 0; i < 3; i++)
                for (int jj = 0; jj < 3; jj++)
                    for (int64_t f = 0; f < count; f++)
                        r[3 * i + jj][f] = t[i][0][f] * w4_g[0][jj] + t[i][1][f] * w4_g[1][jj] + t[i][2][f] * w4_g[2][jj] +
                                           t[i][3][f] * w4_g[3][jj] + t[i][4][f] * w4_g[4][jj] + t[i][5][f] * w4_g[5][jj];
            for (int64_t f = 0; f < count; f++) {
                tg_real *out = dw + ((o0 + f) * c_count + c) * 9;
                for (int k = 0; k < 9; k++) out[k] += (tg_real)r[k][f];
            }
        }
}
