/* ops/kernels/conv_direct_template.h — the SIMD plane kernels of the direct convolution, written
 * once over a vector type; included by conv_direct_avx512.c and conv_direct_avx2.c after they define
 *   VLEN, vec, vidx (gather indices), vmask (lane mask), lane_mask(lo, hi) (lanes [lo, hi)),
 *   vzero(), vset1(x), vloadz(m, p) (masked load, zeros elsewhere, masked-off lanes never read),
 *   vstorem(p, m, v), vfma(a, b, c) (= a*b + c), vadd, vhsum (sum of the lanes),
 *   vramp(s) (lane j -> j*s), vgather(m, base, ramp, p), veven(a, b) (even lanes of a then b),
 *   vinterleave_lo/hi(a, b) (a0 b0 a1 b1 ... from the low / high halves of a and b),
 *   and optionally ROWS (output rows per block, default 8: as many accumulators as registers allow).
 * It defines plane_simd, planes_simd, plane_dw_simd and plane_adjoint_simd (static) for their
 * tg_conv_direct_kernel; contract in
 * conv_direct_internal.h.
 *
 * The output is walked in column blocks of one vector. For a block, each kernel column kw has one
 * "fetch": the input positions (c0 + j)*stride + kw*dilation - pad of lanes j, and the mask of
 * those inside the row. A masked load reads zeros for the others, so padding, crops (negative
 * pads) and the ragged last block need no scalar edge loops: the inner loop is one masked load and
 * one FMA per tap. Stride 2 loads two vectors and keeps the even lanes; other strides gather. All
 * taps of an output block accumulate in registers, stored once.
 */
#include "prefetch.h"

#define INLINE static inline __attribute__((always_inline))
#ifndef ROWS
#define ROWS 8 /* output rows per block: independent accumulators that hide the FMA latency */
#endif
/* Loops over registers (accumulators, weights, taps) must unroll fully so the arrays stay in
 * registers; clang takes its own spelling. */
#ifdef __clang__
#define UNROLL_FULL _Pragma("clang loop unroll(full)")
#else
#define UNROLL_FULL _Pragma("GCC unroll 32")
#endif
#define UNROLL_ROWS UNROLL_FULL

/* Indices j in [*lo, *hi) of [0, n) with 0 <= base + j*stride < size. */
static void index_range(int64_t base, int64_t stride, int64_t size, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t a = base >= 0 ? 0 : (-base + stride - 1) / stride;
    int64_t b = size - 1 - base < 0 ? 0 : (size - 1 - base) / stride + 1;
    if (b > n) b = n;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* Where lanes j = 0..lanes-1 of a vector read in an input row: position base + j*stride. m0 (and
 * m1 for stride 2, whose two loads cover positions base..base+2*VLEN-1) mask the positions inside
 * the row. Lanes past the output row read nothing, so a weight sum never sees input the
 * convolution does not read (0 * inf would be NaN). */
typedef struct fetch {
    int64_t base;
    vmask m0, m1;
} fetch;

static fetch fetch_make(int64_t base, int64_t stride, int64_t in, int64_t lanes)
{
    fetch f = {base, lane_mask(0, 0), lane_mask(0, 0)};
    int64_t lo, hi;
    if (stride == 2) { /* positions 0..2*(lanes-1) of the two loads */
        index_range(base, 1, in, 2 * lanes - 1, &lo, &hi);
        f.m0 = lane_mask(lo, hi < VLEN ? hi : VLEN);
        f.m1 = hi > VLEN ? lane_mask(lo > VLEN ? lo - VLEN : 0, hi - VLEN) : lane_mask(0, 0);
    } else {
        index_range(base, stride, in, lanes, &lo, &hi);
        f.m0 = lane_mask(lo, hi);
    }
    return f;
}

/* The fetches of kernel columns 0..kernel[2]-1 for the output column block at c0. */
static void fetch_block(const tg_conv_geom *g, int64_t c0, fetch *f)
{
    const int64_t lanes = g->out[2] - c0 < VLEN ? g->out[2] - c0 : VLEN;
    for (int64_t kw = 0; kw < g->kernel[2]; kw++)
        f[kw] = fetch_make(c0 * g->stride[2] + kw * g->dilation[2] - g->pad[2], g->stride[2], g->in[2], lanes);
}

/* The VLEN inputs of a fetch from one input row (zeros where the mask is off). Masked-off lanes
 * are never read, so the row pointer plus base may point outside the row. stride is a constant
 * (1, 2) in the specialised kernels, so the test folds away. */
INLINE vec fetch_row(const tg_real *row, const fetch *f, int64_t stride, vidx ramp)
{
    if (stride == 1) return vloadz(f->m0, row + f->base);
    if (stride == 2) return veven(vloadz(f->m0, row + f->base), vloadz(f->m1, row + f->base + VLEN));
    return vgather(f->m0, f->base, ramp, row);
}

/* Rows of one output plane (fixed od) and one column block, split so that blocks need no tests:
 * the interior rows, whose input rows exist for every tap row kh, go ROWS (then 4, 2) at a time;
 * the others (near the top and bottom edges, and the remainder) one at a time with their own
 * range of valid tap rows. */
typedef struct row_split {
    int64_t interior_lo, interior_hi; /* output rows with every tap row inside the input */
} row_split;

static row_split split_rows(const tg_conv_geom *g)
{
    row_split s;
    index_range(-g->pad[1], g->stride[1], g->in[1] - (g->kernel[1] - 1) * g->dilation[1], g->out[1], &s.interior_lo,
                &s.interior_hi);
    return s;
}

/* Taps kd in [*lo, *hi) whose input plane exists for output plane od. */
static void depth_taps(const tg_conv_geom *g, int64_t od, int64_t *lo, int64_t *hi)
{
    index_range(od * g->stride[0] - g->pad[0], g->dilation[0], g->in[0], g->kernel[0], lo, hi);
}

/* Calls BLOCK(r, oh, kh_lo, kh_hi, edge) over the rows of a plane: r rows from oh with the taps
 * [kh_lo, kh_hi). ROWS (then 4, 2) rows at a time: blocks of interior rows (every tap row inside
 * the input) with edge false; blocks that hold a top or bottom row with edge true, each row then
 * skipping the taps whose input row is outside; a last single row alone with its own tap range.
 * Edge rows one at a time had been one chain of dependent FMAs each: on small maps (7x7 taps over
 * 8x8 planes, 6 of whose 8 rows are edge rows) the kernel ran at a tenth of the core's speed. */
#define FOR_ROW_BLOCKS(g, split, BLOCK)                                                                   \
    for (int64_t oh = 0; oh < (g)->out[1];) {                                                             \
        const int64_t left = (g)->out[1] - oh;                                                           \
        const int r_ = left >= ROWS ? ROWS : left >= 4 ? 4 : left >= 2 ? 2 : 1;                          \
        const bool interior_ = oh >= (split).interior_lo && oh + r_ <= (split).interior_hi;              \
        if (r_ == ROWS && interior_) BLOCK(ROWS, oh, 0, (g)->kernel[1], false);                          \
        else if (r_ == ROWS) BLOCK(ROWS, oh, 0, (g)->kernel[1], true);                                   \
        else if (r_ == 4 && interior_) BLOCK(4, oh, 0, (g)->kernel[1], false);                           \
        else if (r_ == 4) BLOCK(4, oh, 0, (g)->kernel[1], true);                                         \
        else if (r_ == 2 && interior_) BLOCK(2, oh, 0, (g)->kernel[1], false);                           \
        else if (r_ == 2) BLOCK(2, oh, 0, (g)->kernel[1], true);                                         \
        else {                                                                                            \
            int64_t kh_lo, kh_hi;                                                                         \
            index_range(oh * (g)->stride[1] - (g)->pad[1], (g)->dilation[1], (g)->in[1], (g)->kernel[1], \
                        &kh_lo, &kh_hi);                                                                  \
            BLOCK(1, oh, kh_lo, kh_hi, false);                                                            \
        }                                                                                                 \
        oh += r_;                                                                                         \
    }

/* Whether the input row of output row oh at tap row kh exists (edge blocks ask it per row). */
static inline bool tap_row_inside(const tg_conv_geom *g, int64_t oh, int64_t kh)
{
    const int64_t ih = oh * g->stride[1] + kh * g->dilation[1] - g->pad[1];
    return ih >= 0 && ih < g->in[1];
}

/* The input of output row oh at taps (kd, kh): the row pointer (its plane and row exist). */
static inline const tg_real *input_row_ptr(const tg_conv_geom *g, const tg_real *x, int64_t od, int64_t oh,
                                           int64_t kd, int64_t kh)
{
    int64_t id = od * g->stride[0] + kd * g->dilation[0] - g->pad[0];
    int64_t ih = oh * g->stride[1] + kh * g->dilation[1] - g->pad[1];
    return x + (id * g->in[1] + ih) * g->in[2];
}

/* y rows oh..oh+R-1 of column block c0 (+)= the taps kd in [kd_lo, kd_hi), kh in [kh_lo, kh_hi):
 * R accumulators in registers; per kernel column one weight broadcast feeds R FMAs. */
INLINE void fwd_block(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate,
                      const fetch *f, vmask out_mask, int64_t c0, int64_t od, int64_t oh, int64_t kd_lo,
                      int64_t kd_hi, int64_t kh_lo, int64_t kh_hi, const int R, const bool edge,
                      const int64_t stride, vidx ramp)
{
    const int64_t out_w = g->out[2], kh_n = g->kernel[1], kw_n = g->kernel[2], row_step = g->stride[1] * g->in[2];
    tg_real *yblock = y + (od * g->out[1] + oh) * out_w + c0;
    vec acc[ROWS];
    UNROLL_ROWS
    for (int r = 0; r < R; r++) acc[r] = accumulate ? vloadz(out_mask, yblock + r * out_w) : vzero();
    for (int64_t kd = kd_lo; kd < kd_hi; kd++)
        for (int64_t kh = kh_lo; kh < kh_hi; kh++) {
            /* an edge row's row pointer may lie outside the plane: it is then never read */
            const tg_real *xrows = input_row_ptr(g, x, od, oh, kd, kh), *wk = w + (kd * kh_n + kh) * kw_n;
            bool inside[ROWS];
            UNROLL_ROWS
            for (int r = 0; r < R; r++) inside[r] = !edge || tap_row_inside(g, oh + r, kh);
            for (int64_t kw = 0; kw < kw_n; kw++) {
                const vec wv = vset1(wk[kw]);
                UNROLL_ROWS
                for (int r = 0; r < R; r++)
                    if (inside[r]) acc[r] = vfma(wv, fetch_row(xrows + r * row_step, &f[kw], stride, ramp), acc[r]);
            }
        }
    UNROLL_ROWS
    for (int r = 0; r < R; r++) vstorem(yblock + r * out_w, out_mask, acc[r]);
}

INLINE void plane_impl(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate,
                       const int64_t stride)
{
    const vidx ramp = vramp(g->stride[2]);
    const row_split split = split_rows(g);
    fetch f[TG_CONV_DIRECT_MAX_KW];
    for (int64_t c0 = 0; c0 < g->out[2]; c0 += VLEN) {
        const vmask out_mask = lane_mask(0, g->out[2] - c0 < VLEN ? g->out[2] - c0 : VLEN);
        fetch_block(g, c0, f);
        for (int64_t od = 0; od < g->out[0]; od++) {
            int64_t kd_lo, kd_hi;
            depth_taps(g, od, &kd_lo, &kd_hi);
#define FWD_BLOCK(R, oh, kh_lo, kh_hi, edge) \
    fwd_block(g, x, w, y, accumulate, f, out_mask, c0, od, oh, kd_lo, kd_hi, kh_lo, kh_hi, R, edge, stride, ramp)
            FOR_ROW_BLOCKS(g, split, FWD_BLOCK)
#undef FWD_BLOCK
        }
    }
}

/* ---- small planes: several output rows per vector ----
 * A plane at most half a vector wide (out_w == in_w, stride 1: "same" padding) leaves most lanes of
 * a vector of one row empty. Here lane l of a vector holds output row oh + l / W, column l % W
 * (k = VLEN / W rows a vector): the input rows those lanes read at tap (kh, kw) lie one after
 * another in memory, so one masked load fetches them all — the mask drops the lanes whose column
 * (per kw) or row (per kh) falls outside the input. A 7x7 depthwise layer on 8x8 maps (a
 * ConvNeXt-style block): two rows a vector, half the loads and FMAs of the row kernel. */
static bool packed_fits(const tg_conv_geom *g)
{
    return g->in[0] == 1 && g->out[0] == 1 && g->kernel[0] == 1 && g->pad[0] == 0 && g->stride[1] == 1 &&
           g->stride[2] == 1 && g->out[2] == g->in[2] && 2 * g->out[2] <= VLEN && g->kernel[2] <= TG_CONV_DIRECT_MAX_KW;
}

/* y rows g0 .. g0 + R*k - 1 (+)= the plane's taps, R vectors of k rows in registers. */
INLINE void packed_block(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate,
                         const vmask *col_mask, int64_t g0, const int R)
{
    const int64_t W = g->out[2], k = VLEN / W, out_h = g->out[1], in_h = g->in[1];
    const int64_t kh_n = g->kernel[1], kw_n = g->kernel[2], dh = g->dilation[1], dw = g->dilation[2];
    const int64_t ph = g->pad[1], pw = g->pad[2];
    vec acc[ROWS];
    vmask out_mask[ROWS];
    UNROLL_ROWS
    for (int r = 0; r < R; r++) {
        const int64_t row0 = g0 + r * k, rows = out_h - row0 < k ? out_h - row0 : k;
        out_mask[r] = lane_mask(0, rows * W);
        acc[r] = accumulate ? vloadz(out_mask[r], y + row0 * W) : vzero();
    }
    for (int64_t kh = 0; kh < kh_n; kh++) {
        vmask row_mask[ROWS];
        UNROLL_ROWS
        for (int r = 0; r < R; r++) { /* the lanes of output rows that exist and whose input row does */
            const int64_t row0 = g0 + r * k, first = ph - kh * dh - row0, last = in_h + ph - kh * dh - row0;
            const int64_t lo = first > 0 ? first : 0, hi_rows = out_h - row0 < k ? out_h - row0 : k;
            const int64_t hi = last < hi_rows ? last : hi_rows;
            row_mask[r] = lane_mask(lo * W, hi > lo ? hi * W : lo * W);
        }
        const tg_real *wk = w + kh * kw_n;
        for (int64_t kw = 0; kw < kw_n; kw++) {
            const vec wv = vset1(wk[kw]);
            const int64_t shift = (kh * dh - ph) * W + kw * dw - pw;
            UNROLL_ROWS
            for (int r = 0; r < R; r++)
                acc[r] = vfma(wv, vloadz(row_mask[r] & col_mask[kw], x + (g0 + r * k) * W + shift), acc[r]);
        }
    }
    UNROLL_ROWS
    for (int r = 0; r < R; r++) vstorem(y + (g0 + r * k) * W, out_mask[r], acc[r]);
}

static void packed_plane(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate)
{
    const int64_t W = g->out[2], k = VLEN / W, dw = g->dilation[2], pw = g->pad[2];
    vmask col_mask[TG_CONV_DIRECT_MAX_KW];
    for (int64_t kw = 0; kw < g->kernel[2]; kw++) { /* columns j with 0 <= j + kw*dw - pw < W, in each row */
        int64_t lo = pw - kw * dw, hi = W + pw - kw * dw;
        lo = lo > 0 ? lo : 0, hi = hi < W ? hi : W;
        col_mask[kw] = lane_mask(0, 0);
        for (int64_t i = 0; i < k && hi > lo; i++) col_mask[kw] = col_mask[kw] | lane_mask(i * W + lo, i * W + hi);
    }
    const int64_t groups = (g->out[1] + k - 1) / k;
    for (int64_t gi = 0; gi < groups;) {
        const int64_t left = groups - gi;
        if (left >= ROWS) packed_block(g, x, w, y, accumulate, col_mask, gi * k, ROWS), gi += ROWS;
        else if (left >= 4) packed_block(g, x, w, y, accumulate, col_mask, gi * k, 4), gi += 4;
        else if (left >= 2) packed_block(g, x, w, y, accumulate, col_mask, gi * k, 2), gi += 2;
        else packed_block(g, x, w, y, accumulate, col_mask, gi * k, 1), gi += 1;
    }
}

/* ---- 3x3, dilation 1, the same stride S (1 or 2) along H and W: the depthwise layers of
 * MobileNet-style networks. Each input row of a block is fetched once per kernel column and
 * feeds every output row that reads it (up to 3 with S = 1), with all 9 weights in registers:
 * about a third of the loads of the general kernel. ---- */

static bool is_k3(const tg_conv_geom *g, int64_t s)
{
    return g->kernel[1] == 3 && g->kernel[2] == 3 && g->dilation[1] == 1 && g->dilation[2] == 1 && g->stride[1] == s &&
           g->stride[2] == s;
}

#define K3_IN_ROWS(S) ((ROWS - 1) * (S) + 3) /* input rows a block of ROWS output rows reads */

/* A later plane's rows that output rows oh0..oh0+n-1 use (its b rows, and its a rows from oh0*S
 * on: the padding shifts them by a row or two, which the next block's ask covers), asked for as
 * this plane's block begins: TG_PLANES_PREFETCH_AHEAD planes ahead, spread over the plane's
 * blocks. A whole plane asked for at once (prefetch_planes) was too much at a time for planes beyond
 * a few KiB: the depthwise 3x3 weight gradient over 64 x 64 planes from memory ran at 10-19 GB/s at
 * 32x32 and 56x56 (1.80 and 9.90 ms), with this at 35 and 25 (0.96, 4.07); the forward at 56x56
 * 5.40 -> 4.06 ms, 14x14 to 32x32 level (5 Dec, Zen 5). */
INLINE void prefetch_block_rows(const tg_conv_geom *g, const tg_real *a_next, const tg_real *b_next, bool b_write,
                                int64_t oh0, int64_t n, const int S)
{
    const int64_t bytes = (int64_t)sizeof(tg_real);
    tg_prefetch_span(b_next + oh0 * g->out[2], n * g->out[2] * bytes, b_write);
    tg_prefetch_span(a_next + oh0 * S * g->in[2], n * S * g->in[2] * bytes, false);
}

/* Output rows oh0..oh0+ROWS-1 of column block c0 (the first n stored) += taps of kernel plane kd;
 * input rows outside the plane are skipped (the zero padding). */
INLINE void k3_fwd_taps(const tg_conv_geom *g, const tg_real *xplane, const tg_real *wk, vec *acc, const fetch *f,
                        int64_t oh0, const int S, vidx ramp)
{
    const int64_t in_h = g->in[1], in_w = g->in[2], ih0 = oh0 * S - g->pad[1];
    vec wv[9];
UNROLL_FULL
    for (int t = 0; t < 9; t++) wv[t] = vset1(wk[t]);
UNROLL_FULL
    for (int i = 0; i < K3_IN_ROWS(S); i++) {
        if (ih0 + i < 0 || ih0 + i >= in_h) continue;
        const tg_real *row = xplane + (ih0 + i) * in_w;
UNROLL_FULL
        for (int kw = 0; kw < 3; kw++) {
            const vec v = fetch_row(row, &f[kw], S, ramp);
UNROLL_FULL
            for (int kh = 0; kh < 3; kh++) /* output row r = (i - kh) / S reads input row i at tap kh */
                if (i - kh >= 0 && (i - kh) % S == 0 && (i - kh) / S < ROWS)
                    acc[(i - kh) / S] = vfma(wv[kh * 3 + kw], v, acc[(i - kh) / S]);
        }
    }
}

/* The output columns c0 .. c0+VLEN-1 of one plane, every row, with the block's fetches f. x_next and
 * y_next (or NULL): the next plane's, whose rows of each block are asked for as the block begins. */
INLINE void k3_block(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate,
                     const int S, int64_t c0, const fetch *f, const tg_real *x_next, const tg_real *y_next)
{
    const int64_t out_h = g->out[1], out_w = g->out[2], in_plane = g->in[1] * g->in[2];
    const vidx ramp = vramp(S);
    const vmask out_mask = lane_mask(0, out_w - c0 < VLEN ? out_w - c0 : VLEN);
    for (int64_t od = 0; od < g->out[0]; od++) {
        int64_t kd_lo, kd_hi;
        depth_taps(g, od, &kd_lo, &kd_hi);
        for (int64_t oh0 = 0; oh0 < out_h; oh0 += ROWS) {
            const int64_t n = out_h - oh0 < ROWS ? out_h - oh0 : ROWS;
            if (x_next && g->out[0] == 1) prefetch_block_rows(g, x_next, y_next, true, oh0, n, S);
            tg_real *yblock = y + (od * out_h + oh0) * out_w + c0;
            vec acc[ROWS];
            UNROLL_ROWS
            for (int r = 0; r < ROWS; r++) acc[r] = accumulate && r < n ? vloadz(out_mask, yblock + r * out_w) : vzero();
            for (int64_t kd = kd_lo; kd < kd_hi; kd++) {
                const int64_t id = od * g->stride[0] + kd * g->dilation[0] - g->pad[0];
                k3_fwd_taps(g, x + id * in_plane, w + kd * 9, acc, f, oh0, S, ramp);
            }
            UNROLL_ROWS
            for (int r = 0; r < ROWS; r++)
                if (r < n) vstorem(yblock + r * out_w, out_mask, acc[r]);
        }
    }
}

INLINE void k3_plane(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate, const int S)
{
    fetch f[3];
    for (int64_t c0 = 0; c0 < g->out[2]; c0 += VLEN) {
        fetch_block(g, c0, f);
        k3_block(g, x, w, y, accumulate, S, c0, f, NULL, NULL);
    }
}

/* Plane i + TG_PLANES_PREFETCH_AHEAD of a (a plane of the input's size, step a_step) and of b (the
 * output's size, step b_step; for writing when b_write) asked for as plane i begins (prefetch.h):
 * the forward's planes, and the weight gradient's one channel image by image. */
INLINE void prefetch_planes(const tg_conv_geom *g, const tg_real *a, int64_t a_step, const tg_real *b, int64_t b_step,
                            bool b_write, int64_t i, int64_t count)
{
    if (i + TG_PLANES_PREFETCH_AHEAD >= count) return;
    const int64_t bytes = (int64_t)sizeof(tg_real);
    tg_prefetch_span(a + (i + TG_PLANES_PREFETCH_AHEAD) * a_step, tg_conv_geom_in_size(g) * bytes, false);
    tg_prefetch_span(b + (i + TG_PLANES_PREFETCH_AHEAD) * b_step, tg_conv_geom_out_size(g) * bytes, b_write);
}

/* Column blocks whose fetches k3_planes keeps for all its planes; wider planes go one by one. */
#define K3_PLANES_BLOCKS 8

/* count planes of one geometry: plane i reads x + i*x_step with the filter w + (i % filters)*taps
 * and writes y + i*y_step (a depthwise layer's images and channels in a row). The fetches, the
 * same for every plane, are made once: per plane they cost as much as the FMAs of a 7x7 map. */
INLINE void k3_planes(const tg_conv_geom *g, int64_t count, const tg_real *x, int64_t x_step, const tg_real *w,
                      int64_t filters, int64_t first_filter, tg_real *y, int64_t y_step, bool accumulate, const int S)
{
    const int64_t taps = tg_conv_geom_taps(g), blocks = (g->out[2] + VLEN - 1) / VLEN;
    if (blocks > K3_PLANES_BLOCKS) {
        for (int64_t i = 0; i < count; i++)
            k3_plane(g, x + i * x_step, w + (first_filter + i) % filters * taps, y + i * y_step, accumulate, S);
        return;
    }
    fetch f[3 * K3_PLANES_BLOCKS];
    for (int64_t b = 0; b < blocks; b++) fetch_block(g, b * VLEN, f + 3 * b);
    for (int64_t i = 0; i < count; i++) {
        const tg_real *wi = w + (first_filter + i) % filters * taps;
        const int64_t ahead = i + TG_PLANES_PREFETCH_AHEAD;
        const bool next = ahead < count;
        for (int64_t b = 0; b < blocks; b++) /* the first column block asks for a plane ahead */
            k3_block(g, x + i * x_step, wi, y + i * y_step, accumulate, S, b * VLEN, f + 3 * b,
                     next && b == 0 ? x + ahead * x_step : NULL, next && b == 0 ? y + ahead * y_step : NULL);
    }
}

/* sums[tap] += dy rows r < n of the block times the input at the tap. FULL (n == ROWS) drops the
 * row test; a partial block must skip rows past the plane even though their dy reads as zero
 * (0 * inf would be NaN). */
INLINE void k3_dw_taps(const tg_conv_geom *g, const tg_real *xplane, const vec *d, vec *sums, const fetch *f,
                       int64_t oh0, int64_t n, const int S, const bool full, vidx ramp)
{
    const int64_t in_h = g->in[1], in_w = g->in[2], ih0 = oh0 * S - g->pad[1];
UNROLL_FULL
    for (int i = 0; i < K3_IN_ROWS(S); i++) {
        if (ih0 + i < 0 || ih0 + i >= in_h) continue;
        const tg_real *row = xplane + (ih0 + i) * in_w;
UNROLL_FULL
        for (int kw = 0; kw < 3; kw++) {
            const vec v = fetch_row(row, &f[kw], S, ramp);
UNROLL_FULL
            for (int kh = 0; kh < 3; kh++)
                if (i - kh >= 0 && (i - kh) % S == 0 && (i - kh) / S < ROWS && (full || (i - kh) / S < n))
                    sums[kh * 3 + kw] = vfma(d[(i - kh) / S], v, sums[kh * 3 + kw]);
        }
    }
}

/* Image by image, block of rows by block of rows, each block's column blocks in turn: each plane
 * read once, in memory order, while a later plane's rows are asked for (prefetch_block_rows). The
 * fetches of up to K3_PLANES_BLOCKS column blocks are made once; wider rows make theirs per block. */
INLINE void k3_plane_dw(const tg_conv_geom *g, const tg_real *x0, int64_t x_step, const tg_real *dy0, int64_t dy_step,
                        int64_t count, tg_real *dw, const int S)
{
    const int64_t out_h = g->out[1], out_w = g->out[2], in_plane = g->in[1] * g->in[2];
    const int64_t blocks = (out_w + VLEN - 1) / VLEN;
    const bool kept = blocks <= K3_PLANES_BLOCKS;
    const vidx ramp = vramp(S);
    fetch f[3 * K3_PLANES_BLOCKS];
    if (kept)
        for (int64_t b = 0; b < blocks; b++) fetch_block(g, b * VLEN, f + 3 * b);
    for (int64_t kd = 0; kd < g->kernel[0]; kd++) {
        vec sums[9];
UNROLL_FULL
        for (int t = 0; t < 9; t++) sums[t] = vzero();
        for (int64_t img = 0; img < count; img++) {
            const tg_real *x = x0 + img * x_step, *dy = dy0 + img * dy_step;
            const int64_t ahead = TG_PLANES_PREFETCH_AHEAD;
            const bool next = img + ahead < count && g->out[0] == 1;
            for (int64_t od = 0; od < g->out[0]; od++) {
                const int64_t id = od * g->stride[0] + kd * g->dilation[0] - g->pad[0];
                if (id < 0 || id >= g->in[0]) continue;
                for (int64_t oh0 = 0; oh0 < out_h; oh0 += ROWS) {
                    const int64_t n = out_h - oh0 < ROWS ? out_h - oh0 : ROWS;
                    if (next) prefetch_block_rows(g, x + ahead * x_step, dy + ahead * dy_step, false, oh0, n, S);
                    for (int64_t b = 0; b < blocks; b++) {
                        const int64_t c0 = b * VLEN;
                        const vmask out_mask = lane_mask(0, out_w - c0 < VLEN ? out_w - c0 : VLEN);
                        const fetch *fb = f + 3 * b;
                        if (!kept) fetch_block(g, c0, f), fb = f;
                        const tg_real *dyblock = dy + (od * out_h + oh0) * out_w + c0;
                        vec d[ROWS];
                        UNROLL_ROWS
                        for (int r = 0; r < ROWS; r++) d[r] = r < n ? vloadz(out_mask, dyblock + r * out_w) : vzero();
                        if (n == ROWS)
                            k3_dw_taps(g, x + id * in_plane, d, sums, fb, oh0, n, S, true, ramp);
                        else
                            k3_dw_taps(g, x + id * in_plane, d, sums, fb, oh0, n, S, false, ramp);
                    }
                }
            }
        }
UNROLL_FULL
        for (int t = 0; t < 9; t++) dw[kd * 9 + t] += (tg_real)vhsum(sums[t]);
    }
}

static void plane_simd(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate)
{
    if (packed_fits(g) && !is_k3(g, 1))
        packed_plane(g, x, w, y, accumulate);
    else if (is_k3(g, 1))
        k3_plane(g, x, w, y, accumulate, 1);
    else if (is_k3(g, 2))
        k3_plane(g, x, w, y, accumulate, 2);
    else if (g->stride[2] == 1)
        plane_impl(g, x, w, y, accumulate, 1);
    else if (g->stride[2] == 2)
        plane_impl(g, x, w, y, accumulate, 2);
    else
        plane_impl(g, x, w, y, accumulate, g->stride[2]);
}

static void planes_simd(const tg_conv_geom *g, int64_t count, const tg_real *x, int64_t x_step, const tg_real *w,
                        int64_t filters, int64_t first_filter, tg_real *y, int64_t y_step, bool accumulate)
{
    if (is_k3(g, 1))
        k3_planes(g, count, x, x_step, w, filters, first_filter, y, y_step, accumulate, 1);
    else if (is_k3(g, 2))
        k3_planes(g, count, x, x_step, w, filters, first_filter, y, y_step, accumulate, 2);
    else
        for (int64_t i = 0; i < count; i++) {
            prefetch_planes(g, x, x_step, y, y_step, true, i, count);
            plane_simd(g, x + i * x_step, w + (first_filter + i) % filters * tg_conv_geom_taps(g), y + i * y_step,
                       accumulate);
        }
}

/* sums[tap] += dy rows oh..oh+R-1 of column block c0 times the input at the tap, for taps kd in
 * [kd_lo, kd_hi) (counted from kd0, the first tap of sums), kh in [kh_lo, kh_hi): dy loaded once
 * per block; per kernel column two partial sums (even and odd rows) shorten the FMA chain. */
INLINE void dw_block(const tg_conv_geom *g, const tg_real *x, const tg_real *dy, vec *sums, const fetch *f,
                     vmask out_mask, int64_t c0, int64_t od, int64_t oh, int64_t kd0, int64_t kd_lo, int64_t kd_hi,
                     int64_t kh_lo, int64_t kh_hi, const int R, const bool edge, const int64_t stride, vidx ramp)
{
    const int64_t out_w = g->out[2], kh_n = g->kernel[1], kw_n = g->kernel[2], row_step = g->stride[1] * g->in[2];
    const tg_real *dyblock = dy + (od * g->out[1] + oh) * out_w + c0;
    vec d[ROWS];
    UNROLL_ROWS
    for (int r = 0; r < R; r++) d[r] = vloadz(out_mask, dyblock + r * out_w);
    for (int64_t kd = kd_lo; kd < kd_hi; kd++)
        for (int64_t kh = kh_lo; kh < kh_hi; kh++) {
            const tg_real *xrows = input_row_ptr(g, x, od, oh, kd, kh); /* edge rows: as fwd_block */
            vec *s = sums + ((kd - kd0) * kh_n + kh) * kw_n;
            bool inside[ROWS];
            UNROLL_ROWS
            for (int r = 0; r < R; r++) inside[r] = !edge || tap_row_inside(g, oh + r, kh);
            for (int64_t kw = 0; kw < kw_n; kw++) {
                if (R == 1) {
                    s[kw] = vfma(d[0], fetch_row(xrows, &f[kw], stride, ramp), s[kw]);
                    continue;
                }
                vec even = vzero(), odd = vzero();
                UNROLL_ROWS
                for (int r = 0; r < R; r += 2) {
                    if (inside[r]) even = vfma(d[r], fetch_row(xrows + r * row_step, &f[kw], stride, ramp), even);
                    if (inside[r + 1])
                        odd = vfma(d[r + 1], fetch_row(xrows + (r + 1) * row_step, &f[kw], stride, ramp), odd);
                }
                s[kw] = vadd(s[kw], vadd(even, odd));
            }
        }
}

/* dw[tap] += sum over output positions of dy * x at the tap: one vector of sums per tap on the
 * stack (whole kd planes of taps at a time, at most TG_CONV_DIRECT_DW_TAPS), reduced at the end. */
INLINE void plane_dw_impl(const tg_conv_geom *g, const tg_real *x0, int64_t x_step, const tg_real *dy0,
                          int64_t dy_step, int64_t count, tg_real *dw, const int64_t stride)
{
    const vidx ramp = vramp(g->stride[2]);
    const row_split split = split_rows(g);
    const int64_t plane_taps = g->kernel[1] * g->kernel[2], kd_per_pass = TG_CONV_DIRECT_DW_TAPS / plane_taps;
    fetch f[TG_CONV_DIRECT_MAX_KW];
    vec sums[TG_CONV_DIRECT_DW_TAPS];
    for (int64_t kd0 = 0; kd0 < g->kernel[0]; kd0 += kd_per_pass) {
        const int64_t kd1 = kd0 + kd_per_pass < g->kernel[0] ? kd0 + kd_per_pass : g->kernel[0];
        for (int64_t t = 0; t < (kd1 - kd0) * plane_taps; t++) sums[t] = vzero();
        for (int64_t c0 = 0; c0 < g->out[2]; c0 += VLEN) {
            const vmask out_mask = lane_mask(0, g->out[2] - c0 < VLEN ? g->out[2] - c0 : VLEN);
            fetch_block(g, c0, f);
            for (int64_t img = 0; img < count; img++)
            for (int64_t od = 0; od < g->out[0]; od++) {
                const tg_real *x = x0 + img * x_step, *dy = dy0 + img * dy_step;
                if (c0 == 0 && od == 0) prefetch_planes(g, x0, x_step, dy0, dy_step, false, img, count);
                int64_t kd_lo, kd_hi;
                depth_taps(g, od, &kd_lo, &kd_hi);
                if (kd_lo < kd0) kd_lo = kd0;
                if (kd_hi > kd1) kd_hi = kd1;
#define DW_BLOCK(R, oh, kh_lo, kh_hi, edge) \
    dw_block(g, x, dy, sums, f, out_mask, c0, od, oh, kd0, kd_lo, kd_hi, kh_lo, kh_hi, R, edge, stride, ramp)
                FOR_ROW_BLOCKS(g, split, DW_BLOCK)
#undef DW_BLOCK
            }
        }
        for (int64_t t = 0; t < (kd1 - kd0) * plane_taps; t++) dw[kd0 * plane_taps + t] += (tg_real)vhsum(sums[t]);
    }
}

static void plane_dw_simd(const tg_conv_geom *g, const tg_real *x, int64_t x_step, const tg_real *dy, int64_t dy_step,
                          int64_t count, tg_real *dw)
{
    if (is_k3(g, 1))
        k3_plane_dw(g, x, x_step, dy, dy_step, count, dw, 1);
    else if (is_k3(g, 2))
        k3_plane_dw(g, x, x_step, dy, dy_step, count, dw, 2);
    else if (g->stride[2] == 1)
        plane_dw_impl(g, x, x_step, dy, dy_step, count, dw, 1);
    else if (g->stride[2] == 2)
        plane_dw_impl(g, x, x_step, dy, dy_step, count, dw, 2);
    else
        plane_dw_impl(g, x, x_step, dy, dy_step, count, dw, g->stride[2]);
}

/* ---- dX of a 3x3, stride-2, dilation-1 plane (the depthwise layers that halve the image) as the
 * adjoint itself, without the rotated path's zero-inserted dY (3/4 zeros). Input column
 * iw = cb + 2m + phi (phase phi) reads dy column m + cb/2 + offset for the kernel columns kw with
 * (phi + pad - kw) even, so two consecutive dy vectors A, B per dy row serve both phases: odd
 * pad: phase 0 = w1 A, phase 1 = w0 B + w2 A; even pad: phase 0 = w0 B + w2 A, phase 1 = w1 B.
 * Input row ih reads dy rows (ih + pad - kh) / 2 for the kh of its parity. The phases are
 * interleaved back into two vectors of consecutive columns and added to dx. ---- */
INLINE void k3s2_adjoint(const tg_conv_geom *g, const tg_real *dy, const tg_real *w, tg_real *dx, const bool odd_pad,
                         bool accumulate, const tg_real *dy_next, tg_real *dx_next, const bool SPREAD)
{
    const int64_t in_h = g->in[1], in_w = g->in[2], out_h = g->out[1], out_w = g->out[2], pw = g->pad[2];
    const int64_t offset_a = odd_pad ? (pw - 1) / 2 : pw / 2 - 1; /* exact: pw - 1 or pw is even */
    for (int64_t cb = 0; cb < in_w; cb += 2 * VLEN) {
        const int64_t base = cb / 2 + offset_a;
        int64_t lo, hi;
        index_range(base, 1, out_w, VLEN, &lo, &hi);
        const vmask mask_a = lane_mask(lo, hi);
        index_range(base + 1, 1, out_w, VLEN, &lo, &hi);
        const vmask mask_b = lane_mask(lo, hi);
        const int64_t left = in_w - cb;
        const vmask mask_lo = lane_mask(0, left < VLEN ? left : VLEN);
        const vmask mask_hi = lane_mask(0, left - VLEN < VLEN ? left - VLEN : VLEN);
        /* even rows, then odd ones: a row's masked store reaches into the next row's first columns
         * (its masked-off lanes), and a load of the next row right after it waited for the store
         * to complete (no forwarding from a partly overlapping store): 3x3 stride 2, 64 x 64 planes
         * of 28x28 added into dX, 1.25 -> 1.04 ms */
        for (int64_t row = 0; row < in_h; row++) {
            const int64_t ih = row < (in_h + 1) / 2 ? 2 * row : 2 * (row - (in_h + 1) / 2) + 1;
            if (SPREAD && cb == 0) { /* a later plane's rows, spread over this plane (prefetch_block_rows) */
                const int64_t bytes = (int64_t)sizeof(tg_real);
                tg_prefetch_span(dx_next + ih * in_w, in_w * bytes, true);
                if (!(ih & 1) && ih / 2 < out_h) tg_prefetch_span(dy_next + ih / 2 * out_w, out_w * bytes, false);
            }
            vec phase0 = vzero(), phase1 = vzero();
            const int64_t q = ih + g->pad[1];
            for (int64_t kh = q & 1; kh < 3 && q - kh >= 0; kh += 2) {
                const int64_t oh = (q - kh) / 2;
                if (oh >= out_h) continue;
                const tg_real *row = dy + oh * out_w + base, *wk = w + kh * 3;
                const vec a = vloadz(mask_a, row), b = vloadz(mask_b, row + 1);
                if (odd_pad) {
                    phase0 = vfma(vset1(wk[1]), a, phase0);
                    phase1 = vfma(vset1(wk[0]), b, vfma(vset1(wk[2]), a, phase1));
                } else {
                    phase0 = vfma(vset1(wk[0]), b, vfma(vset1(wk[2]), a, phase0));
                    phase1 = vfma(vset1(wk[1]), b, phase1);
                }
            }
            tg_real *d = dx + ih * in_w + cb; /* each value of dx stored once, all its taps summed */
            vec lo_half = vinterleave_lo(phase0, phase1), hi_half = vinterleave_hi(phase0, phase1);
            if (accumulate) {
                lo_half = vadd(vloadz(mask_lo, d), lo_half);
                hi_half = vadd(vloadz(mask_hi, d + VLEN), hi_half);
            }
            vstorem(d, mask_lo, lo_half);
            vstorem(d + VLEN, mask_hi, hi_half);
        }
    }
}

/* Only the geometries tg_conv_direct_adjoint_supported accepts (2-D, 3x3, stride 2, dilation 1). */
static void plane_adjoint_simd(const tg_conv_geom *g, const tg_real *dy, const tg_real *w, tg_real *dx, bool accumulate,
                               const tg_real *dy_next, tg_real *dx_next)
{
    /* the plain loop compiled on its own: with the asks in it (not taken), 28x28 planes ran 6-15 %
     * slower */
    if (dx_next) {
        if (g->pad[2] & 1) k3s2_adjoint(g, dy, w, dx, true, accumulate, dy_next, dx_next, true);
        else k3s2_adjoint(g, dy, w, dx, false, accumulate, dy_next, dx_next, true);
    } else if (g->pad[2] & 1) {
        k3s2_adjoint(g, dy, w, dx, true, accumulate, NULL, NULL, false);
    } else {
        k3s2_adjoint(g, dy, w, dx, false, accumulate, NULL, NULL, false);
    }
}
