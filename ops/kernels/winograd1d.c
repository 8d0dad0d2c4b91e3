/* ops/kernels/winograd1d.c — 1-D Winograd F(m, r) convolution (see winograd1d.h).
 *
 * The matrices, from Toom-Cook on the points p_0 .. p_{alpha-2} and infinity (the linear
 * convolution c = g * h evaluated at the points, multiplied, interpolated back; a correlation is
 * its transpose):
 *   B^T[j][s] = coefficient of x^s in prod_{l != j} (x - p_l)      (input, alpha x alpha)
 *   G[j][k]   = p_j^k / prod_{l != j} (p_j - p_l)                  (filter, alpha x r)
 *   A^T[i][j] = p_j^i                                              (output, m x alpha)
 * with the infinity point's row of B^T the coefficients of prod_l (x - p_l), its row of G
 * [0 .. 0 1] and its column of A^T [0 .. 0 1]. The points are small dyadic numbers, so B^T and A^T
 * are exact in any precision; G holds thirds and the like, rounded once. With the points 0, 1, -1
 * and infinity this gives the familiar F(2,3).
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-tree-loop-distribute-patterns")
#endif
#include "winograd1d.h"

#include <string.h>

#include "cpu.h"
#include "gemm.h"
#include "parallel.h"
#include "winograd.h"
#include "winograd1d_internal.h"

#define WINOGRAD1D_ROWS(name) winograd1d_portable_##name
#include "winograd1d_rows.h"

/* Tiles per chunk: the chunk's transformed inputs [alpha, C, tiles] and GEMM outputs
 * [alpha, O, tiles] within about this many bytes (shared by the threads running at once, as
 * winograd.c's chunk), between the two bounds. Measured (4 Dec, one thread, batch 64, forward /
 * dW ms): 1, 2, 4, 8 MiB gave 64x32x128 -> 64 5 taps 0.571/0.855, 0.552/0.818, 0.544/0.841,
 * 0.558/0.864; 64x128x128 -> 128 3 taps 2.62/2.89, 2.45/2.84, 2.30/2.76, 2.42/2.90: 4 MiB, half
 * the scratch of 8. */
#ifndef WINOGRAD1D_CHUNK_BYTES
#define WINOGRAD1D_CHUNK_BYTES (4 << 20)
#endif
#define WINOGRAD1D_CHUNK_MIN 256
#define WINOGRAD1D_CHUNK_MAX 2048
#define W1_MAX_TAPS 7

static const double toom_cook_points[W1_MAX_ALPHA - 1] = {0, 1, -1, 2, -2, 0.5, -0.5};

int tg_winograd1d_alpha(int64_t taps) { return taps + 3 <= W1_MAX_ALPHA ? (int)taps + 3 : W1_MAX_ALPHA; }
int tg_winograd1d_tile(int64_t taps) { return tg_winograd1d_alpha(taps) - (int)taps + 1; }

bool tg_winograd1d_supported(const tg_conv_geom *g, int64_t groups)
{
    if (groups != 1) return false;
    for (int i = 0; i < 2; i++)
        if (g->in[i] != 1 || g->out[i] != 1 || g->kernel[i] != 1 || g->pad[i] != 0 || g->stride[i] != 1)
            return false;
    return g->kernel[2] >= 2 && g->kernel[2] <= W1_MAX_TAPS && g->stride[2] == 1 && g->dilation[2] >= 1 &&
           g->pad[2] >= 0 && g->out[2] >= 1;
}

/* ---- the vector loops in use ---- */

static const tg_kernel_variant loops_variants[] = {
    TG_SIMD_VARIANTS(&winograd1d_avx512_loops, &winograd1d_avx2_loops, &winograd1d_portable_loops)};
static tg_kernel_choice loops_choice = TG_KERNEL_CHOICE(loops_variants, NULL);
static const w1_loops *loops(void) { return tg_kernel_choice_get(&loops_choice); }
const char *tg_winograd1d_kernel_name(void) { return tg_kernel_choice_name(&loops_choice); }
int tg_winograd1d_set_kernel(const char *name) { return tg_kernel_choice_set(&loops_choice, name); }

/* ---- the plan: matrices and tiling ---- */

typedef struct w1_plan {
    int r, m, alpha;
    int64_t dilation, pad, in, out;
    int64_t phases; /* rows of tiles per image: the dilation's phases that have outputs */
    int64_t cols;   /* real tiles per row: the longest phase's outputs over m, rounded up */
    int64_t pitch;  /* tile slots per row: cols and the dummy tiles the last real ones' inputs overhang */
    int64_t rows_per_chunk, cap; /* cap = rows_per_chunk * pitch tiles */
    int64_t row;                 /* V's and M's rows: cap rounded up to whole vectors of 16 */
    int64_t spitch;              /* one deinterleaved array: cap and the overhang */
    tg_real bt[W1_MAX_ALPHA][W1_MAX_ALPHA]; /* B^T: alpha x alpha */
    tg_real gm[W1_MAX_ALPHA][W1_MAX_ALPHA]; /* G: alpha x r */
    tg_real at[W1_MAX_ALPHA][W1_MAX_ALPHA]; /* A^T: m x alpha */
    tg_real a[W1_MAX_ALPHA][W1_MAX_ALPHA];  /* A: alpha x m */
    tg_real gt[W1_MAX_ALPHA][W1_MAX_ALPHA]; /* G^T: r x alpha */
} w1_plan;

/* c[0..deg] = prod over the points l < count, l != skip, of (x - p_l). */
static int product_poly(int count, int skip, double c[W1_MAX_ALPHA + 1])
{
    int deg = 0;
    c[0] = 1;
    for (int l = 0; l < count; l++) {
        if (l == skip) continue;
        c[deg + 1] = 0;
        for (int s = deg + 1; s > 0; s--) c[s] = c[s - 1] - toom_cook_points[l] * c[s];
        c[0] = -toom_cook_points[l] * c[0];
        deg++;
    }
    return deg;
}

static void make_matrices(w1_plan *p)
{
    const int alpha = p->alpha, finite = alpha - 1;
    memset(p->bt, 0, sizeof p->bt);
    memset(p->gm, 0, sizeof p->gm);
    memset(p->at, 0, sizeof p->at);
    for (int j = 0; j <= finite; j++) {
        double c[W1_MAX_ALPHA + 1];
        const int deg = product_poly(finite, j < finite ? j : -1, c);
        for (int s = 0; s <= deg; s++) p->bt[j][s] = (tg_real)c[s];
    }
    for (int j = 0; j < finite; j++) {
        const double pj = toom_cook_points[j];
        double f = 1, power = 1;
        for (int l = 0; l < finite; l++)
            if (l != j) f *= pj - toom_cook_points[l];
        for (int k = 0; k < p->r; k++, power *= pj) p->gm[j][k] = (tg_real)(power / f);
        power = 1;
        for (int i = 0; i < p->m; i++, power *= pj) p->at[i][j] = (tg_real)power;
    }
    p->gm[finite][p->r - 1] = 1;
    p->at[p->m - 1][finite] = 1;
    for (int k = 0; k < alpha; k++)
        for (int i = 0; i < W1_MAX_ALPHA; i++) {
            p->a[k][i] = i < p->m ? p->at[i][k] : 0;
            p->gt[i][k] = i < p->r ? p->gm[k][i] : 0;
        }
}

/* threads: how many run at once (their chunks share the cache); the scratch is sized for one. */
static void plan_make(const tg_conv_geom *g, int64_t n, int64_t out_channels, int threads, w1_plan *p)
{
    p->r = (int)g->kernel[2];
    p->alpha = tg_winograd1d_alpha(p->r);
    p->m = tg_winograd1d_tile(p->r);
    p->dilation = g->dilation[2];
    p->pad = g->pad[2];
    p->in = g->in[2];
    p->out = g->out[2];
    p->phases = p->out < p->dilation ? p->out : p->dilation;
    p->cols = ((p->out + p->dilation - 1) / p->dilation + p->m - 1) / p->m;
    p->pitch = p->cols + (p->r - 1 + p->m - 1) / p->m;
    int64_t tiles = WINOGRAD1D_CHUNK_BYTES / (threads > 1 ? threads : 1) /
                    (p->alpha * (int64_t)sizeof(tg_real) * (g->channels + out_channels));
    tiles = tiles < WINOGRAD1D_CHUNK_MIN ? WINOGRAD1D_CHUNK_MIN : tiles > WINOGRAD1D_CHUNK_MAX ? WINOGRAD1D_CHUNK_MAX : tiles;
    const int64_t all_rows = (n > 1 ? n : 1) * p->phases;
    p->rows_per_chunk = tiles / p->pitch > 1 ? tiles / p->pitch : 1;
    if (p->rows_per_chunk > all_rows) p->rows_per_chunk = all_rows;
    p->cap = p->rows_per_chunk * p->pitch;
    p->row = (p->cap + 15) / 16 * 16; /* V's and M's rows: the multiplies read and write whole vectors of 16 tiles */
    p->spitch = p->cap + W1_MAX_ALPHA;
    make_matrices(p);
}

/* Scratch after the alpha matrices of [O, C] (U, or dW's sums) and [C, cap], [O, cap]: the line
 * (the chunk's inputs, and the tail its last tiles overhang into), the deinterleaved arrays, the
 * finiteness check. */
static size_t work_size(const w1_plan *p) { return (size_t)(p->cap * p->m + 2 * W1_MAX_ALPHA + p->m * p->spitch + p->cap); }

static size_t scratch_size(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    w1_plan p;
    plan_make(g, n, out_channels, 1, &p);
    return (size_t)((p.alpha + p.r) * out_channels * g->channels + p.alpha * (g->channels + out_channels) * p.row) +
           work_size(&p);
}
size_t tg_winograd1d_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    return scratch_size(g, n, out_channels);
}
/* dW's: S [alpha][C, o_pad] | V [alpha][C, cap] | Y [alpha][O, cap] | Yt [cap, o_pad] (one position at
 * a time) | work | S back as [alpha][O, C] | G^T S by tap [r][O, C]. */
size_t tg_winograd1d_dw_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    w1_plan p;
    plan_make(g, n, out_channels, 1, &p);
    const int64_t c = g->channels, o_pad = tg_winograd_dw_o_pad(out_channels), filters = out_channels * c;
    return (size_t)(p.alpha * c * o_pad + p.alpha * (c + out_channels) * p.row + p.cap * o_pad) + work_size(&p) +
           (size_t)((p.alpha + p.r) * filters);
}

/* out[k][plane][t] (planes of k out_plane apart) = sum_i coef[k][i] d_t[i] over the tiles of rows
 * row0 .. row0+rows-1 (every image's phases numbered together) of each of `planes` rows of src
 * (src_len values each): d_t[i] = src[phase + shift + dilation * (m*j + i)] of tile j of its row,
 * zero outside. ins inputs a tile: alpha for the input transform (B^T, its last tiles overhang into
 * the dummies), m for the gradient's (A). False when a value is NaN or ±Inf (a value read was, or
 * the transform overflowed). */
static bool transform_rows(const w1_plan *p, int64_t planes, const tg_real *src, int64_t src_len, int64_t shift,
                           const tg_real coef[W1_MAX_ALPHA][W1_MAX_ALPHA], int ins, int64_t row0, int64_t rows,
                           tg_real *work, tg_real *out, int64_t out_plane)
{
    const w1_loops *l = loops();
    const int64_t count = rows * p->pitch, row_len = p->pitch * p->m;
    tg_real *line = work, *s = line + p->cap * p->m + 2 * W1_MAX_ALPHA, *check = s + p->m * p->spitch;
    memset(check, 0, (size_t)count * sizeof *check);
    memset(line + count * p->m, 0, 2 * W1_MAX_ALPHA * sizeof *line); /* what the last dummy tiles overhang */
    for (int64_t c = 0; c < planes; c++) {
        l->gather_rows(src + c * src_len, planes * src_len, src_len, row0, rows, p->phases, shift, p->dilation, row_len,
                       line);
        l->deinterleave(line, p->m, count + (ins - 1) / p->m, s, p->spitch);
        l->combine(coef, p->alpha, ins, p->m, s, p->spitch, count, out + c * p->row, out_plane, check);
    }
    tg_real flag = 0;
    for (int64_t t = 0; t < count; t++) flag += check[t];
    return flag == 0;
}

/* V[k][c][t] = (B^T d_t)[k] for every channel of x. */
static bool transform_inputs(const w1_plan *p, int64_t c_count, const tg_real *x, int64_t row0, int64_t rows,
                             tg_real *work, tg_real *v, int64_t v_plane)
{
    return transform_rows(p, c_count, x, p->in, -p->pad, p->bt, p->alpha, row0, rows, work, v, v_plane);
}

/* U[k][f] = (G w[f])[k] for the filters f = (o, c): w split by tap (wt: r arrays of `filters`),
 * then G applied to all filters at once. */
static void transform_filters(const w1_plan *p, const tg_real *w, int64_t filters, tg_real *wt, tg_real *u)
{
    const w1_loops *l = loops();
    l->deinterleave(w, p->r, filters, wt, filters);
    l->combine(p->gm, p->alpha, p->r, p->r, wt, filters, filters, u, filters, NULL);
}

bool tg_winograd1d_conv(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *w,
                        tg_real *y, bool accumulate, tg_real *scratch)
{
    w1_plan p;
    plan_make(g, n, out_channels, tg_get_threads(), &p);
    const w1_loops *l = loops();
    const int64_t c_count = g->channels, o_count = out_channels, all_rows = n * p.phases, row_len = p.pitch * p.m;
    const int64_t v_plane = c_count * p.row, m_plane = o_count * p.row;
    tg_real *u = scratch, *v = u + p.alpha * o_count * c_count, *mm = v + p.alpha * v_plane;
    tg_real *work = mm + p.alpha * m_plane, *outline = work, *z = work + p.cap * p.m + 2 * W1_MAX_ALPHA;
    transform_filters(&p, w, o_count * c_count, work + work_size(&p), u);
    /* a row whose outputs fill its real tiles goes from the deinterleaved sums straight into y */
    const bool whole_rows = p.dilation == 1 && p.out == p.cols * p.m;
    for (int64_t row0 = 0; row0 < all_rows; row0 += p.rows_per_chunk) {
        const int64_t rows = all_rows - row0 < p.rows_per_chunk ? all_rows - row0 : p.rows_per_chunk;
        const int64_t count = rows * p.pitch;
        if (!transform_inputs(&p, c_count, x, row0, rows, work, v, v_plane)) return false;
        /* M[k] = U[k] V[k]: [O, C] x [C, count], by the 2-D kernel's register blocks (GEMMs of K = C
         * packed both operands for few terms each) */
        tg_winograd_products(u, o_count, c_count, v, p.row, v_plane, count, mm, p.row, m_plane, p.alpha);
        for (int64_t o = 0; o < o_count; o++) {
            l->combine(p.at, p.m, p.alpha, p.alpha, mm + o * p.row, m_plane, count, z, p.spitch, NULL);
            if (whole_rows && !accumulate) {
                for (int64_t r = 0; r < rows; r++)
                    l->interleave(z + r * p.pitch, p.spitch, p.m, p.cols, y + ((row0 + r) * o_count + o) * p.out);
                continue;
            }
            l->interleave(z, p.spitch, p.m, count, outline);
            /* rows walked by counters: two divisions a row of 32-256 outputs were most of this loop */
            int64_t image = row0 / p.phases, phase = row0 % p.phases;
            for (int64_t r = 0; r < rows; r++, phase = phase + 1 < p.phases ? phase + 1 : (image++, 0)) {
                const int64_t outputs = phase < p.out % p.dilation ? p.out / p.dilation + 1 : p.out / p.dilation;
                const tg_real *src = outline + r * row_len;
                tg_real *dst = y + (image * o_count + o) * p.out + phase;
                if (p.dilation == 1 && accumulate)
                    for (int64_t q = 0; q < outputs; q++) dst[q] += src[q];
                else if (p.dilation == 1)
                    for (int64_t q = 0; q < outputs; q++) dst[q] = src[q];
                else if (accumulate)
                    for (int64_t q = 0; q < outputs; q++) dst[q * p.dilation] += src[q];
                else if (p.dilation == 2)
                    for (int64_t q = 0; q < outputs; q++) dst[2 * q] = src[q];
                else
                    for (int64_t q = 0; q < outputs; q++) dst[q * p.dilation] = src[q];
            }
        }
    }
    return true;
}

/* ---- weight gradient ---- */

/* Y[k][o][t] = (A dy_t)[k] for every output channel of dy (dy_t: the tile's m gradients, zero
 * past its row's outputs and in the dummy tiles). */
static bool transform_grads(const w1_plan *p, int64_t o_count, const tg_real *dy, int64_t row0, int64_t rows,
                            tg_real *work, tg_real *yt, int64_t y_plane)
{
    return transform_rows(p, o_count, dy, p->out, 0, p->a, p->m, row0, rows, work, yt, y_plane);
}

bool tg_winograd1d_dw(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *dy,
                      tg_real *dw, tg_real *scratch)
{
    /* the chunks cut dW's sum over the tiles: one-thread chunks, whatever the thread count */
    w1_plan p;
    plan_make(g, n, out_channels, 1, &p);
    const int64_t c_count = g->channels, o_count = out_channels, all_rows = n * p.phases;
    const int64_t o_pad = tg_winograd_dw_o_pad(o_count), s_plane = c_count * o_pad;
    const int64_t v_plane = c_count * p.row, y_plane = o_count * p.row, filters = o_count * c_count;
    tg_real *sums = scratch, *v = sums + p.alpha * s_plane, *y = v + p.alpha * v_plane, *yt = y + p.alpha * y_plane;
    tg_real *work = yt + p.cap * o_pad, *sums_oc = work + work_size(&p), *by_tap = sums_oc + p.alpha * filters;
    memset(sums, 0, (size_t)(p.alpha * s_plane) * sizeof *sums);
    for (int64_t row0 = 0; row0 < all_rows; row0 += p.rows_per_chunk) {
        const int64_t rows = all_rows - row0 < p.rows_per_chunk ? all_rows - row0 : p.rows_per_chunk;
        const int64_t count = rows * p.pitch;
        if (!transform_inputs(&p, c_count, x, row0, rows, work, v, v_plane)) return false;
        if (!transform_grads(&p, o_count, dy, row0, rows, work, y, y_plane)) return false;
        /* S[k] += V[k] Y[k]^T: Y[k] turned output channels into the lanes (the SIMD transposing pack),
         * then the 2-D kernel's multiply, its sums in registers over the chunk's tiles with nothing
         * packed (its alpha GEMMs packed both operands: [32, 32] ones ran at 130 GFLOP/s) */
        for (int k = 0; k < p.alpha; k++) {
            tg_gemm_pack_transposed(y + k * y_plane, p.row, o_count, count, (int)o_pad, yt);
            tg_winograd_dw_sums(v + k * v_plane, p.row, v_plane, c_count, yt, o_pad, 0, count, sums + k * s_plane,
                                s_plane, 1);
        }
    }
    /* S[k] [C, o_pad] -> [O, C], then dW[o, c] += G^T S[o, c]: by tap, then added in */
    for (int k = 0; k < p.alpha; k++)
        tg_gemm_pack_transposed(sums + k * s_plane, o_pad, c_count, o_count, (int)c_count, sums_oc + k * filters);
    loops()->combine(p.gt, p.r, p.alpha, p.alpha, sums_oc, filters, filters, by_tap, filters, NULL);
    for (int64_t f = 0; f < filters; f++)
        for (int j = 0; j < p.r; j++) dw[f * p.r + j] += by_tap[j * filters + f];
    return true;
}
