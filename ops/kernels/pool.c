/* ops/kernels/pool.c — see pool.h. Every kernel walks one plane at a time in output order; the
 * per-dim window tables make max, average, adaptive and global pooling the same loop nest. The
 * max forward adds a fast path: the block of windows that lie inside the input with dilation 1
 * along the last dim (all but the padded or ceil_mode borders) goes through a run kernel
 * (pool_internal.h; AVX-512, AVX2 or portable C) that needs no per-tap bounds or index
 * bookkeeping; a plain scan per window computes the borders beside that block, and the general
 * loop the rows it cannot take, both with the same selection rule. */
#include "pool.h"

#include <math.h>
#include <string.h>

#include "cpu.h"
#include "elementwise.h"
#include "parallel.h"
#include "pool_internal.h"
#include "vectorise.h"

typedef struct pool_job {
    const tg_pool_geom *g;
    const tg_real *src;   /* x (forward) or dy (backward) */
    tg_real *dst;         /* y (forward) or dx (backward) */
    int64_t *idx_out;
    const int64_t *idx_in;
    int64_t in_plane, out_plane;
    bool overwrite; /* backward: zero each plane of dx first */
} pool_job;

static int64_t plane_in(const tg_pool_geom *g) { return g->dim[0].in * g->dim[1].in * g->dim[2].in; }
static int64_t plane_out(const tg_pool_geom *g) { return g->dim[0].out * g->dim[1].out * g->dim[2].out; }

/* ---- max: y = max over the window, idx = its first position ---- */

/* take ? a : b through bit masks: the compare outcome on real data is random, and a mispredicted
 * branch per element costs more than the whole load (measured: 3x on 2x2/2 max pooling). */
#ifdef TG_REAL_DOUBLE
typedef uint64_t real_bits;
#else
typedef uint32_t real_bits;
#endif
static inline tg_real select_real(bool take, tg_real a, tg_real b)
{
    real_bits ab, bb;
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    bb ^= (ab ^ bb) & ((real_bits)0 - (real_bits)take);
    memcpy(&b, &bb, sizeof b);
    return b;
}

/* Input positions window o reads along a dim, and the most any window of the dim reads. */
static int64_t window_taps(const tg_pool_dim *d, int64_t o)
{
    return d->end[o] > d->begin[o] ? (d->end[o] - d->begin[o] + d->step - 1) / d->step : 0;
}

static int64_t max_taps(const tg_pool_dim *d)
{
    int64_t taps = 0;
    for (int64_t o = 0; o < d->out; o++)
        if (window_taps(d, o) > taps) taps = window_taps(d, o);
    return taps;
}

/* The general loop over the outputs [lo, hi) of one output row (o0, o1): the taps of the window
 * run outermost in row-major order and the outputs innermost, so consecutive iterations are
 * independent (no dependency chain through one running maximum) and the maxima stay in L1. Any
 * window tables: padding, dilation, ceil_mode, adaptive and global windows. */
static void max_row_general(const tg_pool_geom *g, const tg_real *x, int64_t o0, int64_t o1, int64_t lo,
                            int64_t hi, int64_t taps2, tg_real *y, int64_t *idx)
{
    const tg_pool_dim *d0 = &g->dim[0], *d1 = &g->dim[1], *d2 = &g->dim[2];
    const int64_t s2 = d2->step, *b2 = d2->begin, *e2 = d2->end;
    const int64_t b0 = d0->begin[o0], b1 = d1->begin[o1], e0 = d0->end[o0], e1 = d1->end[o1];
    const bool rows = b0 < e0 && b1 < e1;
    /* PyTorch's start: -inf at the window's first position (kept when all are -inf); an empty
     * window (dilation skipping the input) keeps index -1 */
    for (int64_t o2 = lo; o2 < hi; o2++) {
        y[o2] = -INFINITY;
        if (idx) idx[o2] = rows && b2[o2] < e2[o2] ? (b0 * d1->in + b1) * d2->in + b2[o2] : -1;
    }
    for (int64_t i0 = b0; i0 < e0; i0 += d0->step)
        for (int64_t i1 = b1; i1 < e1; i1 += d1->step) {
            const int64_t row = (i0 * d1->in + i1) * d2->in;
            const tg_real *xr = x + row;
            for (int64_t t = 0; t < taps2; t++)
                for (int64_t o2 = lo; o2 < hi; o2++) {
                    int64_t pos = b2[o2] + t * s2;
                    const bool valid = pos < e2[o2];
                    pos = valid ? pos : b2[o2]; /* stay in bounds; ignored below */
                    const tg_real v = xr[pos], m = y[o2];
                    /* strictly greater keeps the first maximum; a NaN always wins */
                    const bool take = valid & ((v > m) | (v != v));
                    y[o2] = select_real(take, v, m);
                    if (idx) idx[o2] ^= (idx[o2] ^ (row + pos)) & -(int64_t)take;
                }
        }
}

#ifndef TG_REAL_DOUBLE
/* float: a candidate's rank in the selection rule as one integer, so the window's winner is a
 * plain maximum (compare and conditional move, no select chain): numbers rank by value with
 * -0 == +0 (sign-magnitude bits turned into a signed integer), equal numbers by earlier tap
 * (255 - t in the low byte); any NaN ranks above every number, a later NaN above an earlier. */
static inline int64_t tap_rank(float v, int64_t t)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    const int64_t mag = bits & 0x7fffffff;
    const int64_t number = ((bits >> 31) ? -mag : mag) * 256 + (255 - t);
    const int64_t nan = ((int64_t)1 << 40) + t;
    return mag > 0x7f800000 ? nan : number;
}
static inline int64_t rank_tap(int64_t rank)
{
    return rank >= ((int64_t)1 << 40) ? rank & 255 : 255 - (rank & 255);
}
#endif

/* A run (pool_internal.h) in portable C. float: taps in window order outermost, a chunk of
 * outputs innermost (independent iterations), each keeping the best tap_rank; the winner's tap
 * gives the offset, the index and the value once per output (1.7-1.9x the general loop, measured).
 * double (the tests' precision; x86 uses the SIMD kernels): one output at a time with selects. */
static void max_run_portable(const tg_pool_max_run *run)
{
    for (int64_t l = 0; l < run->out_rows; l++) {
        const int64_t shift = l * run->in_row_step;
        tg_real *y = run->y + l * run->out_row_step;
        int64_t *idx = run->idx ? run->idx + l * run->out_row_step : NULL;
#ifndef TG_REAL_DOUBLE
        for (int64_t o0 = 0; o0 < run->n; o0 += 64) {
            const int64_t m = run->n - o0 < 64 ? run->n - o0 : 64;
            int64_t best[64];
            for (int64_t o = 0; o < m; o++) best[o] = INT64_MIN;
            int64_t t = 0;
            for (int r = 0; r < run->nrows; r++)
                for (int64_t c = 0; c < run->taps2; c++, t++) {
                    const tg_real *xr = run->rows[r] + shift + run->col0 + o0 * run->stride + c;
                    for (int64_t o = 0; o < m; o++) {
                        const int64_t rank = tap_rank(xr[o * run->stride], t);
                        best[o] = rank > best[o] ? rank : best[o];
                    }
                }
            for (int64_t o = 0; o < m; o++) {
                const int64_t col = shift + run->col0 + (o0 + o) * run->stride;
                const int32_t off = run->tap_off[rank_tap(best[o])];
                y[o0 + o] = run->rows[0][col + off];
                if (idx) idx[o0 + o] = run->first + l * run->idx_row_step + (col - shift) - run->col0 + off;
            }
        }
#else
        for (int64_t o = 0; o < run->n; o++) {
            const int64_t col = shift + run->col0 + o * run->stride;
            int64_t t = 0;
            tg_real best = -INFINITY; /* tap 0 replaces it, or is -inf itself and keeps offset 0 */
            int32_t off = 0;
            for (int r = 0; r < run->nrows; r++) {
                const tg_real *xr = run->rows[r] + col;
                for (int64_t c = 0; c < run->taps2; c++, t++) {
                    const tg_real v = xr[c];
                    const bool take = (v > best) | (v != v);
                    best = select_real(take, v, best);
                    off ^= (off ^ run->tap_off[t]) & -(int32_t)take;
                }
            }
            y[o] = best;
            if (idx) idx[o] = run->first + l * run->idx_row_step + (col - shift) - run->col0 + off;
        }
#endif
    }
}

/* The outputs [lo, hi) of a dim whose windows all have `taps` positions (`step` apart) and start
 * `stride` apart: begin[o] = begin[lo] + (o - lo) * stride; none of them is clipped by the input
 * (taps is the largest count). Sliding windows give one such block: all but the padded ends. */
typedef struct uniform_windows {
    int64_t lo, hi, taps, stride;
} uniform_windows;

static uniform_windows find_uniform_windows(const tg_pool_dim *d)
{
    uniform_windows u = {0, 0, max_taps(d), 1};
    if (u.taps < 1) return u;
    while (window_taps(d, u.lo) != u.taps) u.lo++;
    if (u.lo + 1 < d->out) u.stride = d->begin[u.lo + 1] - d->begin[u.lo];
    if (u.stride < 1) u.stride = 1;
    u.hi = u.lo;
    while (u.hi < d->out && window_taps(d, u.hi) == u.taps && d->begin[u.hi] == d->begin[u.lo] + (u.hi - u.lo) * u.stride)
        u.hi++;
    return u;
}

typedef struct max_job {
    const tg_pool_geom *g;
    const tg_real *x;
    tg_real *y;
    int64_t *idx;
    int64_t in_plane, out_plane, taps2;
    uniform_windows cols; /* along the last dim (dilation 1 only); empty: no fast path */
    uniform_windows rows; /* along the middle dim: output rows whose window rows shift uniformly */
    bool (*simd_run)(const tg_pool_max_run *run); /* NULL: portable C; false: not handled */
    tg_pool_max_whole_fn whole;                   /* a window over the whole plane (pool_whole_max.h) */
} max_job;

/* The few outputs of a row outside the run kernel's uniform block (a padded or ceil_mode border),
 * each by a plain scan of its window in max_row_general's order (window rows, then positions) with
 * its rule: the first maximum, a NaN always wins. Only for dilation 1 along the last dim (where the
 * run kernel applies). max_row_general's vector-friendly loop, called twice per output row for one
 * or two outputs, was 8% of a CNN's training step with a padded 3x3 max pool on 28x28 maps
 * (measured 4 Dec, Zen 5). */
static void max_border_scan(const tg_pool_geom *g, const tg_real *x, int64_t o0, int64_t o1, int64_t lo, int64_t hi,
                            tg_real *y, int64_t *idx)
{
    const tg_pool_dim *d0 = &g->dim[0], *d1 = &g->dim[1], *d2 = &g->dim[2];
    const int64_t b0 = d0->begin[o0], b1 = d1->begin[o1], e0 = d0->end[o0], e1 = d1->end[o1];
    const bool rows = b0 < e0 && b1 < e1;
    for (int64_t o2 = lo; o2 < hi; o2++) {
        const int64_t b2 = d2->begin[o2], e2 = d2->end[o2];
        tg_real best = -INFINITY;
        int64_t at = rows && b2 < e2 ? (b0 * d1->in + b1) * d2->in + b2 : -1;
        for (int64_t i0 = b0; i0 < e0; i0 += d0->step)
            for (int64_t i1 = b1; i1 < e1; i1 += d1->step) {
                const int64_t row = (i0 * d1->in + i1) * d2->in;
                for (int64_t pos = b2; pos < e2; pos++) { /* without branches: on data they mispredict */
                    const tg_real v = x[row + pos];
                    const bool take = (v > best) | (v != v);
                    best = select_real(take, v, best);
                    at ^= (at ^ (row + pos)) & -(int64_t)take;
                }
            }
        y[o2] = best;
        if (idx) idx[o2] = at;
    }
}

/* Output rows (o0, o1 .. o1+count-1) of one plane, whose window rows are those of o1 shifted by
 * rows.stride input rows per output row: the uniform windows along the last dim through the run
 * kernel, the outputs before and after them (padding, ceil_mode) through the general loop. Rows
 * whose windows are empty, have too many taps, or offsets beyond int32 go the general way. */
static void max_rows(const max_job *j, const tg_real *x, int64_t o0, int64_t o1, int64_t count, tg_real *y,
                     int64_t *idx)
{
    const tg_pool_geom *g = j->g;
    const tg_pool_dim *d0 = &g->dim[0], *d1 = &g->dim[1], *d2 = &g->dim[2];
    const uniform_windows *u = &j->cols;
    const int64_t out2 = d2->out;
    const tg_real *rows[TG_POOL_RUN_MAX_TAPS];
    int64_t row_pos[TG_POOL_RUN_MAX_TAPS];
    int nrows = 0;
    bool fast = u->lo < u->hi;
    for (int64_t i0 = d0->begin[o0]; fast && i0 < d0->end[o0]; i0 += d0->step)
        for (int64_t i1 = d1->begin[o1]; fast && i1 < d1->end[o1]; i1 += d1->step) {
            fast = (nrows + 1) * u->taps <= TG_POOL_RUN_MAX_TAPS;
            if (fast) {
                row_pos[nrows] = (i0 * d1->in + i1) * d2->in;
                rows[nrows] = x + row_pos[nrows];
                nrows++;
            }
        }
    fast = fast && nrows > 0 && row_pos[nrows - 1] - row_pos[0] + u->taps <= INT32_MAX;
    if (!fast) {
        for (int64_t l = 0; l < count; l++)
            max_row_general(g, x, o0, o1 + l, 0, out2, j->taps2, y + l * out2, idx ? idx + l * out2 : NULL);
        return;
    }
    int32_t tap_off[TG_POOL_RUN_MAX_TAPS];
    for (int r = 0; r < nrows; r++)
        for (int64_t c = 0; c < u->taps; c++) tap_off[r * u->taps + c] = (int32_t)(row_pos[r] - row_pos[0] + c);
    const int64_t col0 = d2->begin[u->lo];
    const tg_pool_max_run run = {.rows = rows, .nrows = nrows, .taps2 = u->taps, .stride = u->stride, .col0 = col0,
                                 .n = u->hi - u->lo, .out_rows = count, .in_row_step = j->rows.stride * d2->in,
                                 .out_row_step = out2, .idx_row_step = j->rows.stride * d2->in, .tap_off = tap_off,
                                 .first = row_pos[0] + col0,
                                 .limit = x + j->in_plane, .y = y + u->lo, .idx = idx ? idx + u->lo : NULL};
    if (!(j->simd_run && j->simd_run(&run))) max_run_portable(&run);
    for (int64_t l = 0; l < count && (u->lo > 0 || u->hi < out2); l++) {
        int64_t *row_idx = idx ? idx + l * out2 : NULL;
        if (u->lo > 0) max_border_scan(g, x, o0, o1 + l, 0, u->lo, y + l * out2, row_idx);
        if (u->hi < out2) max_border_scan(g, x, o0, o1 + l, u->hi, out2, y + l * out2, row_idx);
    }
}

/* Whether each plane is one row pooled along it alone (1-D pooling: the leading dims of size 1,
 * one window row), with a uniform block for the run kernel: then the planes go through it as the
 * rows of one run. Plane by plane, max_rows's set-up cost more than a plane of 32-256 outputs
 * (a 1-D CNN's pools: 8.6% of its training step, 18% of its inference, 4 Dec). */
static bool planes_are_rows(const max_job *j)
{
    const tg_pool_dim *d0 = &j->g->dim[0], *d1 = &j->g->dim[1];
    return j->cols.lo < j->cols.hi && j->cols.taps <= TG_POOL_RUN_MAX_TAPS && d0->in == 1 && d0->out == 1 &&
           d1->in == 1 && d1->out == 1 && d0->begin[0] == 0 && d0->end[0] == 1 && d1->begin[0] == 0 &&
           d1->end[0] == 1 && j->in_plane <= INT32_MAX;
}

/* Planes p0..p1 of a planes_are_rows geometry: one run whose output rows are the planes. */
static void max_forward_plane_rows(const max_job *j, int64_t p0, int64_t p1)
{
    const tg_pool_geom *g = j->g;
    const uniform_windows *u = &j->cols;
    const int64_t out2 = g->dim[2].out, count = p1 - p0;
    const tg_real *x = j->x + p0 * j->in_plane;
    tg_real *y = j->y + p0 * j->out_plane;
    int64_t *idx = j->idx ? j->idx + p0 * j->out_plane : NULL;
    int32_t tap_off[TG_POOL_RUN_MAX_TAPS];
    for (int64_t c = 0; c < u->taps; c++) tap_off[c] = (int32_t)c;
    const int64_t col0 = g->dim[2].begin[u->lo];
    const tg_real *rows[1] = {x};
    const tg_pool_max_run run = {.rows = rows, .nrows = 1, .taps2 = u->taps, .stride = u->stride, .col0 = col0,
                                 .n = u->hi - u->lo, .out_rows = count, .in_row_step = j->in_plane,
                                 .out_row_step = j->out_plane, .idx_row_step = 0, .tap_off = tap_off, .first = col0,
                                 .limit = x + count * j->in_plane, .y = y + u->lo, .idx = idx ? idx + u->lo : NULL};
    if (!(j->simd_run && j->simd_run(&run))) max_run_portable(&run);
    for (int64_t l = 0; l < count && (u->lo > 0 || u->hi < out2); l++) {
        int64_t *row_idx = idx ? idx + l * j->out_plane : NULL;
        if (u->lo > 0) max_border_scan(g, x + l * j->in_plane, 0, 0, 0, u->lo, y + l * j->out_plane, row_idx);
        if (u->hi < out2) max_border_scan(g, x + l * j->in_plane, 0, 0, u->hi, out2, y + l * j->out_plane, row_idx);
    }
}

static void max_forward_planes(void *ctx, int64_t p0, int64_t p1)
{
    const max_job *j = ctx;
    if (planes_are_rows(j)) {
        max_forward_plane_rows(j, p0, p1);
        return;
    }
    const tg_pool_dim *d0 = &j->g->dim[0], *d1 = &j->g->dim[1], *d2 = &j->g->dim[2];
    for (int64_t p = p0; p < p1; p++) {
        const tg_real *x = j->x + p * j->in_plane;
        tg_real *y = j->y + p * j->out_plane;
        int64_t *idx = j->idx ? j->idx + p * j->out_plane : NULL;
        for (int64_t o0 = 0; o0 < d0->out; o0++)
            for (int64_t o1 = 0; o1 < d1->out;) {
                /* the uniform block of output rows in one go, the others one by one */
                const int64_t count = o1 == j->rows.lo && j->rows.hi > j->rows.lo ? j->rows.hi - o1 : 1;
                max_rows(j, x, o0, o1, count, y, idx);
                o1 += count, y += count * d2->out;
                if (idx) idx += count * d2->out;
            }
    }
}

/* Whether each plane is one window that covers all of it (global pooling, an adaptive pool to
 * size 1, a kernel the size of the input): each output is its plane's sum over one divisor, or its
 * maximum (max_whole_planes). The general loops spent more on their per-plane set-up than on the sums there (7x7
 * planes: 4.5% of a MobileNet-style net's inference, 4 Dec). */
static bool whole_plane_windows(const tg_pool_geom *g)
{
    for (int i = 0; i < TG_POOL_DIMS; i++) {
        const tg_pool_dim *d = &g->dim[i];
        if (d->in < 1 || d->out != 1 || d->step != 1 || d->begin[0] != 0 || d->end[0] != d->in) return false;
    }
    return true;
}

/* One window over the whole plane (global max pooling): lane l of MAX_WHOLE_LANES keeps the
 * maximum of positions l, l + LANES, ... with the window scan's rule (take v when v > best or v is
 * NaN: the first maximum, the last NaN), so the loop vectorises; the lanes then merge by the same
 * rule: a NaN lane's last position, else the largest value's first position. The general path
 * scanned such a window one position at a time through max_row_general (a 32x32 plane took 5 ns a
 * value: 4.97 ms of a U-Net's 32 ms step at batch 64, 5 Dec). */
/* the portable copy: 16-byte vectors, what every x86-64 (SSE2) and most CPUs run natively */
#define MAX_WHOLE_BYTES 16
#define MAX_WHOLE_FN max_whole_portable
#include "pool_whole_max.h"

static void max_whole_planes(void *ctx, int64_t p0, int64_t p1)
{
    const max_job *j = ctx;
    for (int64_t p = p0; p < p1; p++)
        j->whole(j->x + p * j->in_plane, j->in_plane, j->y + p, j->idx ? j->idx + p : NULL);
}

void tg_pool_max_forward_path(const tg_pool_geom *g, const tg_real *x, tg_real *y, int64_t *idx,
                              tg_pool_max_path path)
{
    max_job j = {.g = g, .x = x, .y = y, .idx = idx, .in_plane = plane_in(g), .out_plane = plane_out(g),
                 .taps2 = max_taps(&g->dim[2])};
    if (path != TG_POOL_MAX_GENERAL && g->dim[2].step == 1) {
        j.cols = find_uniform_windows(&g->dim[2]);
        j.rows = find_uniform_windows(&g->dim[1]);
    }
    j.whole = max_whole_portable;
#if defined(__x86_64__)
    if (path == TG_POOL_MAX_BEST && tg_cpu_has_avx512())
        j.simd_run = tg_pool_max_run_avx512, j.whole = tg_pool_max_whole_avx512;
    else if ((path == TG_POOL_MAX_BEST || path == TG_POOL_MAX_AVX2) && tg_cpu_has_avx2_fma())
        j.simd_run = tg_pool_max_run_avx2, j.whole = tg_pool_max_whole_avx2;
#endif
    /* positions within the lanes' index type (int32 in float) */
    const bool whole = path != TG_POOL_MAX_GENERAL && whole_plane_windows(g) && j.in_plane <= INT32_MAX;
    tg_parallel_for(g->planes, whole ? max_whole_planes : max_forward_planes, &j);
}

void tg_pool_max_forward(const tg_pool_geom *g, const tg_real *x, tg_real *y, int64_t *idx)
{
    tg_pool_max_forward_path(g, x, y, idx, TG_POOL_MAX_BEST);
}

const char *tg_pool_max_kernel_name(void)
{
    return tg_cpu_has_avx512() ? "avx512" : tg_cpu_has_avx2_fma() ? "avx2" : "portable";
}

static void max_backward_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    for (int64_t p = p0; p < p1; p++) {
        const tg_real *dy = j->src + p * j->out_plane;
        const int64_t *idx = j->idx_in + p * j->out_plane;
        tg_real *dx = j->dst + p * j->in_plane;
        if (j->overwrite) memset(dx, 0, (size_t)j->in_plane * sizeof *dx);
        for (int64_t o = 0; o < j->out_plane; o++)
            if (idx[o] >= 0) dx[idx[o]] += dy[o];
    }
}

void tg_pool_max_backward(const tg_pool_geom *g, const tg_real *dy, const int64_t *idx, tg_real *dx,
                          bool overwrite)
{
    pool_job j = {.g = g, .src = dy, .dst = dx, .idx_in = idx, .in_plane = plane_in(g),
                  .out_plane = plane_out(g), .overwrite = overwrite};
    tg_parallel_for(g->planes, max_backward_planes, &j);
}

/* ---- average: y = sum over the window / divisor ---- */

static double window_divisor(const tg_pool_geom *g, int64_t o0, int64_t o1, int64_t o2)
{
    if (g->divisor != 0) return g->divisor;
    return (double)g->dim[0].span[o0] * (double)g->dim[1].span[o1] * (double)g->dim[2].span[o2];
}

/* The average pool by rows: for one output row (o0, o1), the window's input rows are first added
 * column by column into a row of double sums (whole rows: the compiler vectorises it), then each
 * output adds its window's span of that row and divides; the backward mirrors it, spreading each
 * output's share over a row once and adding that row to each of the window's input rows. The
 * window loop per output this replaces ran at 6.6 GB/s (64x64x56x56, 2x2 stride 2, forward 9.7
 * ms; measured 4 Dec on Zen 5). Rows longer than AVG_ROW_MAX take that loop (the sums live on
 * the stack: kernels never allocate). */
enum { AVG_ROW_MAX = 1024 };


/* window_divisor without the last dim's span: the override, or span0·span1 (the same product,
 * in the same order, as window_divisor's) */
static double row_divisor(const tg_pool_geom *g, int64_t o0, int64_t o1)
{
    return g->divisor != 0 ? g->divisor : (double)g->dim[0].span[o0] * (double)g->dim[1].span[o1];
}

/* 1/divisor, recomputed only when the divisor changes (along a row only the border windows'
 * differ): a divide per output was most of the by-rows loop's time. */
typedef struct reciprocal {
    double divisor, inverse;
} reciprocal;
static inline double inverse(reciprocal *r, double divisor)
{
    if (divisor != r->divisor) {
        r->divisor = divisor;
        r->inverse = 1.0 / divisor;
    }
    return r->inverse;
}

/* 1/divisor of each output of a row whose base (row_divisor: span0·span1 or the override) is
 * `base`: the same for every plane, so made again only when a border row's base differs (the
 * per-output divisor test and int-to-double conversion were most of a 1-D pool's time). */
typedef struct row_inverses {
    double base; /* NaN: none made yet */
    double inv[AVG_ROW_MAX];
} row_inverses;
static const double *row_inverses_for(row_inverses *ri, const tg_pool_geom *g, double base)
{
    if (!(base == ri->base)) {
        reciprocal r = {NAN, NAN}; /* NaN: no divisor matches it */
        const tg_pool_dim *d2 = &g->dim[2];
        for (int64_t o2 = 0; o2 < d2->out; o2++)
            ri->inv[o2] = inverse(&r, g->divisor != 0 ? base : base * (double)d2->span[o2]);
        ri->base = base;
    }
    return ri->inv;
}

TG_VECTORISE static void add_row_double(double *restrict acc, const tg_real *restrict row, int64_t n)
{
    for (int64_t i = 0; i < n; i++) acc[i] += row[i];
}

TG_VECTORISE static void add_row(tg_real *restrict dst, const tg_real *restrict row, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] += row[i];
}

/* The uniform block of windows along the last dim (find_uniform_windows) of 2 to 4 taps, whose
 * sums and spreads have loops of their own below; else an empty block. */
static uniform_windows avg_uniform_block(const tg_pool_dim *d2)
{
    uniform_windows u = d2->step == 1 ? find_uniform_windows(d2) : (uniform_windows){0, 0, 0, 1};
    if (u.taps < 2 || u.taps > 4) u.lo = u.hi = 0;
    return u;
}

/* y[o] = (0 + acc[o*stride] + ... + acc[o*stride + TAPS-1]) * inv[o] in double, o < n: each output's
 * sum in the general loop's order (so the same bits), TAPS a constant so that the loop vectorises
 * (the general loop's short window loops per output were most of a 1-D net's pooling: 3.8% of its
 * training step, measured 5 Dec). */
#define AVG_WINDOW_SUMS(TAPS)                                                                           \
    TG_VECTORISE static void window_sums_##TAPS(const double *restrict acc, int64_t stride, int64_t n,       \
                                             const double *restrict inv, tg_real *restrict y)            \
    {                                                                                                   \
        for (int64_t o = 0; o < n; o++) {                                                               \
            double sum = 0;                                                                             \
            for (int t = 0; t < TAPS; t++) sum += acc[o * stride + t];                                  \
            y[o] = (tg_real)(sum * inv[o]);                                                             \
        }                                                                                               \
    }
AVG_WINDOW_SUMS(2)
AVG_WINDOW_SUMS(3)
AVG_WINDOW_SUMS(4)
#undef AVG_WINDOW_SUMS

/* The outputs lo..hi of a row: the uniform block u by its loop, the others one by one. */
static void avg_row_outputs(const tg_pool_dim *d2, const uniform_windows *u, const double *acc, const double *inv2,
                            tg_real *y)
{
    for (int64_t o2 = 0; o2 < d2->out; o2++) {
        if (o2 == u->lo && u->hi > u->lo) {
            const double *a = acc + d2->begin[u->lo];
            const int64_t n = u->hi - u->lo;
            if (u->taps == 2) window_sums_2(a, u->stride, n, inv2 + u->lo, y + u->lo);
            else if (u->taps == 3) window_sums_3(a, u->stride, n, inv2 + u->lo, y + u->lo);
            else window_sums_4(a, u->stride, n, inv2 + u->lo, y + u->lo);
            o2 = u->hi - 1;
            continue;
        }
        double sum = 0;
        for (int64_t i2 = d2->begin[o2]; i2 < d2->end[o2]; i2++) sum += acc[i2];
        y[o2] = (tg_real)(sum * inv2[o2]);
    }
}

static void avg_forward_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    const tg_pool_dim *d0 = &j->g->dim[0], *d1 = &j->g->dim[1], *d2 = &j->g->dim[2];
    const bool by_rows = d2->in <= AVG_ROW_MAX && d2->out <= AVG_ROW_MAX;
    const uniform_windows u = avg_uniform_block(d2);
    double acc[AVG_ROW_MAX];
    row_inverses inverses = {.base = NAN};
    for (int64_t p = p0; p < p1; p++) {
        const tg_real *x = j->src + p * j->in_plane;
        tg_real *y = j->dst + p * j->out_plane;
        for (int64_t o0 = 0; o0 < d0->out; o0++)
            for (int64_t o1 = 0; o1 < d1->out; o1++) {
                if (by_rows) {
                    const int64_t i0 = d0->begin[o0], i1 = d1->begin[o1];
                    if (d0->end[o0] - i0 == 1 && d1->end[o1] - i1 == 1) { /* one window row: its values */
                        const tg_real *row = x + (i0 * d1->in + i1) * d2->in;
                        for (int64_t i = 0; i < d2->in; i++) acc[i] = row[i];
                    } else {
                        memset(acc, 0, (size_t)d2->in * sizeof *acc);
                        for (int64_t r0 = i0; r0 < d0->end[o0]; r0++)
                            for (int64_t r1 = i1; r1 < d1->end[o1]; r1++)
                                add_row_double(acc, x + (r0 * d1->in + r1) * d2->in, d2->in);
                    }
                    const double *inv2 = row_inverses_for(&inverses, j->g, row_divisor(j->g, o0, o1));
                    avg_row_outputs(d2, &u, acc, inv2, y);
                    y += d2->out;
                    continue;
                }
                for (int64_t o2 = 0; o2 < d2->out; o2++) {
                    double sum = 0;
                    const int64_t b2 = d2->begin[o2], e2 = d2->end[o2];
                    for (int64_t i0 = d0->begin[o0]; i0 < d0->end[o0]; i0++)
                        for (int64_t i1 = d1->begin[o1]; i1 < d1->end[o1]; i1++) {
                            const tg_real *row = x + (i0 * d1->in + i1) * d2->in;
                            for (int64_t i2 = b2; i2 < e2; i2++) sum += row[i2];
                        }
                    *y++ = (tg_real)(sum / window_divisor(j->g, o0, o1, o2));
                }
            }
    }
}

/* y[p] = sum of plane p / the window's divisor, each plane by the elementwise kernels' sum. */
static void avg_whole_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    const double divisor = window_divisor(j->g, 0, 0, 0);
    const tg_elementwise_kernel *k = tg_elementwise_kernel_get();
    for (int64_t p = p0; p < p1; p++) j->dst[p] = (tg_real)(k->sum(j->src + p * j->in_plane, j->in_plane) / divisor);
}

void tg_pool_avg_forward(const tg_pool_geom *g, const tg_real *x, tg_real *y)
{
    pool_job j = {.g = g, .src = x, .dst = y, .in_plane = plane_in(g), .out_plane = plane_out(g)};
    tg_parallel_for(g->planes, whole_plane_windows(g) ? avg_whole_planes : avg_forward_planes, &j);
}

/* Whether no two windows along the dim share a position (a stride at least the window). */
static bool windows_disjoint(const tg_pool_dim *d)
{
    for (int64_t o = 0; o + 1 < d->out; o++)
        if (d->begin[o + 1] < d->end[o]) return false;
    return true;
}

/* spread[o*stride + t] = 0 + (tg_real)(dy[o] * inv[o]) for t < TAPS, o < n: the shares of disjoint
 * windows, each position written once as the general loop's single add onto zero leaves it. */
#define AVG_SPREAD(TAPS)                                                                                \
    TG_VECTORISE static void spread_shares_##TAPS(const tg_real *restrict dy, const double *restrict inv,    \
                                               int64_t n, int64_t stride, tg_real *restrict spread)      \
    {                                                                                                   \
        for (int64_t o = 0; o < n; o++) {                                                               \
            const tg_real share = (tg_real)(dy[o] * inv[o]);                                            \
            for (int t = 0; t < TAPS; t++) spread[o * stride + t] = (tg_real)0 + share;                 \
        }                                                                                               \
    }
AVG_SPREAD(2)
AVG_SPREAD(3)
AVG_SPREAD(4)
#undef AVG_SPREAD

static void avg_backward_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    const tg_pool_dim *d0 = &j->g->dim[0], *d1 = &j->g->dim[1], *d2 = &j->g->dim[2];
    const bool by_rows = d2->in <= AVG_ROW_MAX && d2->out <= AVG_ROW_MAX;
    uniform_windows u = avg_uniform_block(d2);
    if (!windows_disjoint(d2)) u.lo = u.hi = 0; /* overlapping shares add up in output order */
    tg_real spread[AVG_ROW_MAX];
    row_inverses inverses = {.base = NAN};
    for (int64_t p = p0; p < p1; p++) {
        const tg_real *dy = j->src + p * j->out_plane;
        tg_real *dx = j->dst + p * j->in_plane;
        if (j->overwrite) memset(dx, 0, (size_t)j->in_plane * sizeof *dx);
        for (int64_t o0 = 0; o0 < d0->out; o0++)
            for (int64_t o1 = 0; o1 < d1->out; o1++) {
                if (by_rows) {
                    /* the row's shares, each output's over its window's columns, then that row added
                     * to every input row of the window */
                    memset(spread, 0, (size_t)d2->in * sizeof *spread);
                    const double *inv2 = row_inverses_for(&inverses, j->g, row_divisor(j->g, o0, o1));
                    for (int64_t o2 = 0; o2 < d2->out; o2++) {
                        if (o2 == u.lo && u.hi > u.lo) { /* the disjoint uniform block by its loop */
                            const int64_t n = u.hi - u.lo;
                            tg_real *at = spread + d2->begin[u.lo];
                            if (u.taps == 2) spread_shares_2(dy, inv2 + u.lo, n, u.stride, at);
                            else if (u.taps == 3) spread_shares_3(dy, inv2 + u.lo, n, u.stride, at);
                            else spread_shares_4(dy, inv2 + u.lo, n, u.stride, at);
                            dy += n;
                            o2 = u.hi - 1;
                            continue;
                        }
                        const tg_real share = (tg_real)(*dy++ * inv2[o2]);
                        for (int64_t i2 = d2->begin[o2]; i2 < d2->end[o2]; i2++) spread[i2] += share;
                    }
                    for (int64_t i0 = d0->begin[o0]; i0 < d0->end[o0]; i0++)
                        for (int64_t i1 = d1->begin[o1]; i1 < d1->end[o1]; i1++)
                            add_row(dx + (i0 * d1->in + i1) * d2->in, spread, d2->in);
                    continue;
                }
                for (int64_t o2 = 0; o2 < d2->out; o2++) {
                    const tg_real share = (tg_real)(*dy++ / window_divisor(j->g, o0, o1, o2));
                    const int64_t b2 = d2->begin[o2], e2 = d2->end[o2];
                    for (int64_t i0 = d0->begin[o0]; i0 < d0->end[o0]; i0++)
                        for (int64_t i1 = d1->begin[o1]; i1 < d1->end[o1]; i1++) {
                            tg_real *row = dx + (i0 * d1->in + i1) * d2->in;
                            for (int64_t i2 = b2; i2 < e2; i2++) row[i2] += share;
                        }
                }
            }
    }
}

/* dx of plane p (+)= dy[p] / the window's divisor, everywhere in the plane (whole_plane_windows). */
static void avg_whole_planes_backward(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    const double divisor = window_divisor(j->g, 0, 0, 0);
    const tg_elementwise_kernel *k = tg_elementwise_kernel_get();
    for (int64_t p = p0; p < p1; p++) {
        const tg_real share = (tg_real)(j->src[p] / divisor);
        tg_real *dx = j->dst + p * j->in_plane;
        if (j->overwrite)
            for (int64_t i = 0; i < j->in_plane; i++) dx[i] = share;
        else
            k->binary(TG_EW_ADD, dx, false, &share, true, dx, j->in_plane);
    }
}

void tg_pool_avg_backward(const tg_pool_geom *g, const tg_real *dy, tg_real *dx, bool overwrite)
{
    pool_job j = {.g = g, .src = dy, .dst = dx, .in_plane = plane_in(g), .out_plane = plane_out(g),
                  .overwrite = overwrite};
    tg_parallel_for(g->planes, whole_plane_windows(g) ? avg_whole_planes_backward : avg_backward_planes, &j);
}

/* ---- max-unpool: scatter x through idx; the gradient follows the surviving writer ---- */

static void unpool_forward_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    for (int64_t p = p0; p < p1; p++) {
        const tg_real *x = j->src + p * j->in_plane;
        const int64_t *idx = j->idx_in + p * j->in_plane;
        int64_t *winner = j->idx_out + p * j->out_plane;
        tg_real *y = j->dst + p * j->out_plane;
        for (int64_t o = 0; o < j->out_plane; o++) winner[o] = -1;
        for (int64_t i = 0; i < j->in_plane; i++) winner[idx[i]] = i; /* later duplicates win */
        for (int64_t o = 0; o < j->out_plane; o++) y[o] = winner[o] >= 0 ? x[winner[o]] : 0;
    }
}

void tg_unpool_forward(int64_t planes, int64_t in_plane, int64_t out_plane, const tg_real *x,
                       const int64_t *idx, int64_t *winner, tg_real *y)
{
    pool_job j = {.src = x, .dst = y, .idx_in = idx, .idx_out = winner, .in_plane = in_plane,
                  .out_plane = out_plane};
    tg_parallel_for(planes, unpool_forward_planes, &j);
}

static void unpool_backward_planes(void *ctx, int64_t p0, int64_t p1)
{
    const pool_job *j = ctx;
    for (int64_t p = p0; p < p1; p++) {
        const tg_real *dy = j->src + p * j->out_plane;
        const int64_t *winner = j->idx_in + p * j->out_plane;
        tg_real *dx = j->dst + p * j->in_plane;
        for (int64_t o = 0; o < j->out_plane; o++)
            if (winner[o] >= 0) dx[winner[o]] += dy[o];
    }
}

void tg_unpool_backward(int64_t planes, int64_t in_plane, int64_t out_plane, const tg_real *dy,
                        const int64_t *winner, tg_real *dx)
{
    pool_job j = {.src = dy, .dst = dx, .idx_in = winner, .in_plane = in_plane, .out_plane = out_plane};
    tg_parallel_for(planes, unpool_backward_planes, &j);
}
