/* ops/kernels/norm_impl.h — the normalization core's loops (see norm.c), kept in one place for two
 * builds: norm.c compiles them for the baseline ISA and norm_avx512.c with AVX-512 enabled, so the
 * same lane loops run 16 floats wide (norm.c picks at run time; a forward of 64x64x56x56 took 5.0 ms
 * on SSE2, near 2.2 ms of memory traffic with AVX-512). Include with NORM_FN(name) defined. The
 * AVX-512 build may contract a*b + c into one FMA, so its results can differ from the baseline's
 * in the last bit. */
#include "norm.h"

#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "parallel.h"
#include "vectorise.h"

enum { LANES = 16, BLOCK = 16 * LANES };
/* Layer norm's elementwise-affine backward sums dγ, dβ over rows in blocks of this many rows (one
 * double partial per block and column, merged in block order): the sums ride along the dx pass
 * instead of a second trip through x and dy, and the blocks, not the threads, fix the order. */
enum { EW_ROWS_PER_BLOCK = 256 };
/* Short rows (layer norm's) are processed ROW_GROUP at a time, the reductions of a group before
 * its elementwise passes, while the group stays in L1 (ROW_GROUP_BYTES of x), so the core can
 * overlap one row's chain of adds, divides and sqrt with the next row's. Measured 4 Dec on Zen 5,
 * layer norm over rows of 64 (200704 rows), forward+backward, four alternating pairs: 11.45-11.54
 * ms grouped against 11.91-12.10 row by row. */
enum { ROW_GROUP = 8, ROW_GROUP_BYTES = 16 * 1024 };
/* LANES partial sums as one value of the compiler's vector extension: they stay in vector registers
 * whatever the compiler's cost model thinks (the constant-index lane statements this replaces came
 * out as scalar loads and a serial chain of 16 double adds per row: rows of 64, as layer norm's,
 * spent most of their time there). */
typedef tg_real lanes __attribute__((vector_size(LANES * sizeof(tg_real))));
/* v = LANES values from p (a macro, not a function: vectors passed by value would tie the baseline
 * build's ABI to AVX-512) */
#define LOAD_LANES(v, p) memcpy(&(v), (p), sizeof(lanes))
/* Σ of the lanes in double, as a tree (the same terms the serial sum added, 4 levels deep) */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
/* in vector registers: GCC turned the loop below into scalar adds through a stack array, half of
 * layer norm's statistics time for rows of 64 (measured 4 Dec, Zen 5); the same adds in the same
 * order, so the same bits */
typedef double half_sums __attribute__((vector_size(LANES / 2 * sizeof(double))));
typedef tg_real half_lanes __attribute__((vector_size(LANES / 2 * sizeof(tg_real))));
static inline double lanes_total(const lanes *a)
{
    const half_lanes lo = __builtin_shufflevector(*a, *a, 0, 1, 2, 3, 4, 5, 6, 7);
    const half_lanes hi = __builtin_shufflevector(*a, *a, 8, 9, 10, 11, 12, 13, 14, 15);
    const half_sums s8 = __builtin_convertvector(lo, half_sums) + __builtin_convertvector(hi, half_sums);
    typedef double quarter_sums __attribute__((vector_size(4 * sizeof(double))));
    const quarter_sums s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) + __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    const double s2a = s4[0] + s4[2], s2b = s4[1] + s4[3];
    return s2a + s2b;
}
_Static_assert(LANES == 16, "lanes_total's shuffles name 16 lanes");
#else
static inline double lanes_total(const lanes *a)
{
    double s[LANES / 2];
    for (int l = 0; l < LANES / 2; l++) s[l] = (double)(*a)[l] + (double)(*a)[l + LANES / 2];
    for (int w = LANES / 4; w > 0; w /= 2)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0];
}
#endif

/* ---- layer norm's short rows: SHORT_GROUP rows side by side ----
 * Rows of up to SHORT_ROW_MAX values with an elementwise affine (layer norm over its last dims) go
 * SHORT_GROUP at a time: each row's lane sums, then one transposed reduction gives the group's 16
 * totals in one vector, and the statistics (divide, square root) are computed for the group at
 * once. Row by row, each row's reduction to a double, its divide and square root were a chain
 * the next row waited on: rows of 64 spent more time there than moving their bytes. The sums of
 * a row stay in tg_real (at most SHORT_ROW_MAX / LANES terms a lane, then four levels of the
 * tree), centred on the row's first value so that large means keep their noise; each row's totals
 * depend on its own values only (a short group repeats its last row), so the bits do not depend
 * on where a thread's range begins. Measured 4 Dec, Zen 5, one thread, 200704 rows of 64: forward
 * 5.7 -> 3.7 ms (x read and y written at about the copy speed of this machine). The backward keeps
 * its row loop (groups of ROW_GROUP): the same 16-row scheme there ran 4.2 -> 7-12 ms once its
 * arrays no longer fitted in the cache (equal speed while they did; neither prefetching nor
 * interleaving the two passes helped), so only its dγ, dβ partials changed (affine_partials_row). */
enum { SHORT_GROUP = 16, SHORT_ROW_MAX = 1024 };
_Static_assert((int)SHORT_GROUP == (int)LANES, "a group's totals fill one vector");

/* (*totals)[r] = Σ of the lanes of v[r] for r < 16 (a pointer, not a vector return: the baseline
 * build's ABI), each as the tree ((p2[0] + p2[2]) + (p2[1] + p2[3]))
 * with p2[j] = p1[j] + p1[j + 4], p1[j] = a[j] + a[j + 8] */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
static inline void lanes_totals16(const lanes *v, lanes *totals)
{
    lanes w[8], x[4], y[2];
    for (int i = 0; i < 8; i++) /* lanes 0-7: row i's p1, 8-15: row i + 8's */
        w[i] = __builtin_shufflevector(v[i], v[i + 8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               __builtin_shufflevector(v[i], v[i + 8], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int i = 0; i < 4; i++) /* quads: p2 of rows i, i + 4, i + 8, i + 12 */
        x[i] = __builtin_shufflevector(w[i], w[i + 4], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               __builtin_shufflevector(w[i], w[i + 4], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int i = 0; i < 2; i++) /* pairs: p3 of rows i, i + 2, ..., i + 14 */
        y[i] = __builtin_shufflevector(x[i], x[i + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
               __builtin_shufflevector(x[i], x[i + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    *totals = __builtin_shufflevector(y[0], y[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
              __builtin_shufflevector(y[0], y[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
}
#else
static inline void lanes_totals16(const lanes *v, lanes *totals)
{
    for (int r = 0; r < 16; r++) {
        tg_real p1[8], p2[4];
        for (int j = 0; j < 8; j++) p1[j] = v[r][j] + v[r][j + 8];
        for (int j = 0; j < 4; j++) p2[j] = p1[j] + p1[j + 4];
        (*totals)[r] = (p2[0] + p2[2]) + (p2[1] + p2[3]);
    }
}
#endif

/* rs[i] = 1/sqrt(var[i] + eps) for a group: one vector loop (correctly rounded, as the scalar) */
TG_VECTORISE
static void group_rstd(const double *restrict var, double eps, double *restrict rs)
{
    for (int i = 0; i < SHORT_GROUP; i++) rs[i] = 1.0 / sqrt(var[i] + eps);
}

/* The group's row pointers, its last row repeated past count (computed, never stored). */
static void group_rows(const tg_real *base, int64_t d, int64_t count, const tg_real **rows)
{
    for (int64_t r = 0; r < SHORT_GROUP; r++) rows[r] = base + (r < count ? r : count - 1) * d;
}

static void split(double m, tg_real *hi, tg_real *lo);
static void affine_row_vec(const tg_real *restrict x, tg_real *restrict y, int64_t n, tg_real hi, tg_real lo,
                           tg_real r, const tg_real *restrict gamma, const tg_real *restrict beta);

/* Rows k0..k1 of layer norm: mean[k] = f + m (f the row's first value, m the mean of x − f),
 * rstd[k], and y = (x − mean)·(rstd·γ) + β. */
static void short_rows_forward(const tg_norm_view *v, const tg_real *x, double eps, double *mean, double *rstd,
                               const tg_real *restrict gamma, const tg_real *restrict beta, tg_real *restrict y,
                               int64_t k0, int64_t k1)
{
    const int64_t d = v->inner, full = d / LANES * LANES;
    for (int64_t g0 = k0; g0 < k1; g0 += SHORT_GROUP) {
        const int64_t count = k1 - g0 < SHORT_GROUP ? k1 - g0 : SHORT_GROUP;
        const tg_real *rows[SHORT_GROUP];
        group_rows(x + g0 * d, d, count, rows);
        lanes acc[SHORT_GROUP];
        for (int r = 0; r < SHORT_GROUP; r++) {
            const tg_real *row = rows[r], f = row[0];
            lanes a = {0}, t = {0};
            for (int64_t i = 0; i < full; i += LANES) {
                lanes xv;
                LOAD_LANES(xv, row + i);
                a += xv - f;
            }
            for (int64_t i = full; i < d; i++) t[i - full] = row[i] - f;
            acc[r] = a + t;
        }
        lanes m;
        lanes_totals16(acc, &m);
        m /= (tg_real)d;
        for (int r = 0; r < SHORT_GROUP; r++) {
            const tg_real *row = rows[r], f = row[0];
            lanes a = {0}, t = {0};
            for (int64_t i = 0; i < full; i += LANES) {
                lanes c;
                LOAD_LANES(c, row + i);
                c = (c - f) - m[r];
                a += c * c;
            }
            for (int64_t i = full; i < d; i++) {
                const tg_real c = (row[i] - f) - m[r];
                t[i - full] = c * c;
            }
            acc[r] = a + t;
        }
        lanes m2;
        lanes_totals16(acc, &m2);
        double var[SHORT_GROUP], rs[SHORT_GROUP];
        for (int r = 0; r < SHORT_GROUP; r++) var[r] = (double)m2[r] / (double)d;
        group_rstd(var, eps, rs);
        for (int64_t r = 0; r < count; r++) {
            /* the output as forward_row gives it from these statistics (the rows of a tensor with
             * an infinite value are redone by it, and the others must not change) */
            const double row_mean = (double)rows[r][0] + (double)m[r];
            tg_real hi, lo;
            split(row_mean, &hi, &lo);
            mean[g0 + r] = row_mean;
            rstd[g0 + r] = rs[r];
            affine_row_vec(rows[r], y + (g0 + r) * d, d, hi, lo, (tg_real)rs[r], gamma, beta);
        }
    }
}

static int64_t runs_of(const tg_norm_view *v)
{
    return v->affine_run > 0 ? v->outer * v->stats * (v->inner / v->affine_run) : 0;
}

static int64_t ew_blocks(const tg_norm_view *v) { return (v->stats + EW_ROWS_PER_BLOCK - 1) / EW_ROWS_PER_BLOCK; }

/* Layer norm's elementwise affine: every row is one full period of weight/bias. Such rows take
 * the vector paths below instead of one-element runs. */
static bool elementwise(const tg_norm_view *v)
{
    return v->affine_n > 0 && v->affine_run == 1 && v->outer == 1 && v->inner == v->affine_n;
}

/* Layer norm's rows whose statistics and output go SHORT_GROUP at a time (short_rows_forward). */
static bool short_rows(const tg_norm_view *v)
{
    return elementwise(v) && v->center && v->inner <= SHORT_ROW_MAX;
}

/* Σ (x[i] − shift) */
static double sum_shifted(const tg_real *x, int64_t n, tg_real shift)
{
    double total = 0;
    int64_t i = 0;
    while (n - i >= LANES) {
        lanes acc = {0};
        int64_t len = (n - i) / LANES * LANES;
        int64_t end = i + (len < BLOCK ? len : BLOCK);
        for (; i < end; i += LANES) {
            lanes v;
            LOAD_LANES(v, x + i);
            acc += v - shift;
        }
        total += lanes_total(&acc);
    }
    for (; i < n; i++) total += x[i] - shift;
    return total;
}

/* Σ ((x[i] − hi) − lo)² */
static double sum_sq_centered(const tg_real *x, int64_t n, tg_real hi, tg_real lo)
{
    double total = 0;
    int64_t i = 0;
    while (n - i >= LANES) {
        lanes acc = {0};
        int64_t len = (n - i) / LANES * LANES;
        int64_t end = i + (len < BLOCK ? len : BLOCK);
        for (; i < end; i += LANES) {
            lanes c;
            LOAD_LANES(c, x + i);
            c = (c - hi) - lo;
            acc += c * c;
        }
        total += lanes_total(&acc);
    }
    for (; i < n; i++) {
        double c = (double)((x[i] - hi) - lo);
        total += c * c;
    }
    return total;
}

/* y = ((x − hi) − lo)·scale + shift; whole LANES blocks first so the compiler vectorises them */
static void affine_row(const tg_real *restrict x, tg_real *restrict y, int64_t n, tg_real hi, tg_real lo,
                       tg_real scale, tg_real shift)
{
    int64_t i = 0;
    for (; n - i >= LANES; i += LANES)
        for (int l = 0; l < LANES; l++) y[i + l] = ((x[i + l] - hi) - lo) * scale + shift;
    for (; i < n; i++) y[i] = ((x[i] - hi) - lo) * scale + shift;
}

/* dx[j] += VALUE, or dx[j] = VALUE without accumulate (a fresh gradient: written, never read), for
 * j over [i, n), whole LANES blocks first. The flag is tested once, outside the loops: tested per
 * element, GCC built a 16-bit blend mask from it bit by bit for every block (a fifth of layer
 * norm's backward on rows of 64, measured 4 Dec). VALUE reads j. For dx apart from dy (restrict). */
#define DX_STORE_ALL(VALUE)                                                                   \
    do {                                                                                      \
        if (accumulate) {                                                                     \
            for (; n - i >= LANES; i += LANES)                                                \
                for (int64_t j = i; j < i + LANES; j++) dx[j] += (VALUE);                     \
            for (int64_t j = i; j < n; j++) dx[j] += (VALUE);                                 \
        } else {                                                                              \
            for (; n - i >= LANES; i += LANES)                                                \
                for (int64_t j = i; j < i + LANES; j++) dx[j] = (VALUE);                      \
            for (int64_t j = i; j < n; j++) dx[j] = (VALUE);                                  \
        }                                                                                     \
    } while (0)

/* The same where dx is dy itself (tg_input_grad_over_output: the output's gradient handed over):
 * explicit vectors, each block loaded whole (LOADS fills the block's operand vectors at i, VALUE
 * combines them) before its store; the tail element by element (TAIL, reading j). (The loops
 * above, without restrict between dy and dx, ran layer norm's backward 9 % slower.) */
#define DX_STORE_OVER(LOADS, VALUE, TAIL)                                                     \
    do {                                                                                      \
        if (accumulate) {                                                                     \
            for (; n - i >= LANES; i += LANES) {                                              \
                LOADS;                                                                        \
                lanes value_ = (VALUE), old_;                                                 \
                LOAD_LANES(old_, dx + i);                                                     \
                value_ = old_ + value_;                                                       \
                memcpy(dx + i, &value_, sizeof value_);                                       \
            }                                                                                 \
            for (int64_t j = i; j < n; j++) dx[j] += (TAIL);                                  \
        } else {                                                                              \
            for (; n - i >= LANES; i += LANES) {                                              \
                LOADS;                                                                        \
                const lanes value_ = (VALUE);                                                 \
                memcpy(dx + i, &value_, sizeof value_);                                       \
            }                                                                                 \
            for (int64_t j = i; j < n; j++) dx[j] = (TAIL);                                   \
        }                                                                                     \
    } while (0)

/* dx += scale·dy − minus − ((x − hi) − lo)·slope; x NULL (eval: constant statistics): dx += scale·dy,
 * so a NaN or Inf in x does not reach dx through a zero slope (PyTorch's eval backward ignores x) */
static inline __attribute__((always_inline)) void dx_row_apart(const tg_real *restrict x, const tg_real *restrict dy,
                                                              tg_real *restrict dx, int64_t n, tg_real hi, tg_real lo,
                                                              tg_real scale, tg_real minus, tg_real slope,
                                                              bool accumulate)
{
    int64_t i = 0;
    if (!x) DX_STORE_ALL(scale * dy[j]);
    else DX_STORE_ALL(scale * dy[j] - minus - ((x[j] - hi) - lo) * slope);
}
static void dx_row(const tg_real *restrict x, const tg_real *dy, tg_real *dx, int64_t n, tg_real hi, tg_real lo,
                   tg_real scale, tg_real minus, tg_real slope, bool accumulate)
{
    if (dx != dy) {
        dx_row_apart(x, dy, dx, n, hi, lo, scale, minus, slope, accumulate);
        return;
    }
    int64_t i = 0;
    lanes g, xv;
    if (!x) DX_STORE_OVER(LOAD_LANES(g, dy + i), scale * g, scale * dy[j]);
    else
        DX_STORE_OVER((LOAD_LANES(g, dy + i), LOAD_LANES(xv, x + i)), scale * g - minus - ((xv - hi) - lo) * slope,
                      scale * dy[j] - minus - ((x[j] - hi) - lo) * slope);
}

/* y = ((x − hi) − lo)·r·γ + β with per-element γ, β (either may be NULL) */
static void affine_row_vec(const tg_real *restrict x, tg_real *restrict y, int64_t n, tg_real hi, tg_real lo,
                           tg_real r, const tg_real *restrict gamma, const tg_real *restrict beta)
{
    int64_t i = 0;
    if (gamma && beta)
        for (; n - i >= LANES; i += LANES)
            for (int l = 0; l < LANES; l++) y[i + l] = ((x[i + l] - hi) - lo) * (r * gamma[i + l]) + beta[i + l];
    for (; i < n; i++) y[i] = ((x[i] - hi) - lo) * (r * (gamma ? gamma[i] : 1)) + (beta ? beta[i] : 0);
}

/* dx += r·γ·dy − minus − ((x − hi) − lo)·slope with per-element γ; x NULL: dx += r·γ·dy (as dx_row) */
static inline __attribute__((always_inline)) void
dx_row_vec_apart(const tg_real *restrict x, const tg_real *restrict dy, const tg_real *restrict gamma,
                 tg_real *restrict dx, int64_t n, tg_real hi, tg_real lo, tg_real r, tg_real minus, tg_real slope,
                 bool accumulate)
{
    int64_t i = 0;
    if (!x) DX_STORE_ALL(r * gamma[j] * dy[j]);
    else DX_STORE_ALL(r * gamma[j] * dy[j] - minus - ((x[j] - hi) - lo) * slope);
}
static void dx_row_vec(const tg_real *restrict x, const tg_real *dy, const tg_real *restrict gamma, tg_real *dx,
                       int64_t n, tg_real hi, tg_real lo, tg_real r, tg_real minus, tg_real slope, bool accumulate)
{
    if (dx != dy) {
        dx_row_vec_apart(x, dy, gamma, dx, n, hi, lo, r, minus, slope, accumulate);
        return;
    }
    int64_t i = 0;
    lanes g, gm, xv;
    if (!x) DX_STORE_OVER((LOAD_LANES(g, dy + i), LOAD_LANES(gm, gamma + i)), r * gm * g, r * gamma[j] * dy[j]);
    else
        DX_STORE_OVER((LOAD_LANES(g, dy + i), LOAD_LANES(gm, gamma + i), LOAD_LANES(xv, x + i)),
                      r * gm * g - minus - ((xv - hi) - lo) * slope,
                      r * gamma[j] * dy[j] - minus - ((x[j] - hi) - lo) * slope);
}

/* Σ over a block's rows, per column: sums[i] += dy·x̂, sums[d + i] += dy (x̂ = ((x − hi) − lo)·r);
 * each term in double, as the row-by-row loop it replaces */
TG_VECTORISE /* the float-to-double loop */
static void affine_sums_row(const tg_real *restrict x, const tg_real *restrict dy, int64_t d, tg_real hi,
                            tg_real lo, double r, double *restrict sums)
{
    for (int64_t i = 0; i < d; i++) {
        sums[i] += (double)dy[i] * (double)((x[i] - hi) - lo) * r;
        sums[d + i] += dy[i];
    }
}
#undef DX_STORE_ALL
#undef DX_STORE_OVER

/* The same for the rows of a ROW_GROUP, in tg_real: cols[i] += dy·x̂, cols[d + i] += dy (then
 * added into the block's double sums by flush_affine_partials). The double loop above, a convert
 * and a double multiply-add per element, was a quarter of layer norm's backward on rows of 64. */
static void affine_partials_row(const tg_real *restrict x, const tg_real *restrict dy, int64_t d, tg_real hi,
                                tg_real lo, tg_real r, tg_real *restrict cols)
{
    int64_t i = 0;
    for (; d - i >= LANES; i += LANES) {
        lanes xv, g, a, b;
        LOAD_LANES(xv, x + i);
        LOAD_LANES(g, dy + i);
        LOAD_LANES(a, cols + i);
        LOAD_LANES(b, cols + d + i);
        a += g * (((xv - hi) - lo) * r);
        b += g;
        memcpy(cols + i, &a, sizeof a);
        memcpy(cols + d + i, &b, sizeof b);
    }
    for (; i < d; i++) {
        cols[i] += dy[i] * (((x[i] - hi) - lo) * r);
        cols[d + i] += dy[i];
    }
}

TG_VECTORISE
static void flush_affine_partials(tg_real *restrict cols, int64_t n, double *restrict sums)
{
    for (int64_t i = 0; i < n; i++) {
        sums[i] += (double)cols[i];
        cols[i] = 0;
    }
}

static void split(double m, tg_real *hi, tg_real *lo)
{
    *hi = (tg_real)m;
    *lo = (tg_real)(m - (double)*hi);
}

/* Affine index of run number r (0 when there is no affine vector). */
static int64_t affine_index(const tg_norm_view *v, int64_t run)
{
    return v->affine_n > 0 ? run % v->affine_n : 0;
}

/* ---- a fused activation (tg_norm_view.act) ---- */

/* The fused activation (tg_norm_view.act: ReLU or leaky ReLU) inline: z recomputed in registers and
 * dy masked there, in the same pass as the sums (pushing each run through the activation's own
 * kernels in 1024-value chunks cost more than the passes it saved: separable-conv training 10%
 * slower). Lane masks: */
#ifdef TG_REAL_DOUBLE
typedef int64_t lane_bits __attribute__((vector_size(LANES * sizeof(int64_t))));
#else
typedef int32_t lane_bits __attribute__((vector_size(LANES * sizeof(int32_t))));
#endif
/* g = the activation's backward of g at z, lane by lane, as its elementwise kernel gives it:
 * ReLU z <= 0 ? 0 : g (a NaN z passes g), leaky ReLU z > 0 ? g : p·g (a macro: vectors passed by
 * value would tie the baseline build's ABI to AVX-512) */
#define ACT_MASK_LANES(g, z, leaky, p)                                                                   \
    do {                                                                                                  \
        const lanes zero_ = {0};                                                                          \
        if (leaky) {                                                                                      \
            const lane_bits up_ = (z) > zero_;                                                            \
            const lanes pg_ = (p) * (g);                                                                  \
            (g) = (lanes)(((lane_bits)(g) & up_) | ((lane_bits)pg_ & ~up_));                              \
        } else {                                                                                          \
            const lane_bits off_ = (z) <= zero_;                                                          \
            (g) = (lanes)((lane_bits)(g) & ~off_);                                                        \
        }                                                                                                 \
    } while (0)
static inline tg_real act_grad(tg_real z, tg_real g, bool leaky, tg_real p)
{
    return leaky ? (z > 0 ? g : p * g) : (z <= 0 ? 0 : g);
}
/* The view's fused activation is the leaky ReLU (else the ReLU). */
static inline bool act_leaky(const tg_norm_view *v) { return v->act - 1 == TG_EW_LEAKY_RELU; }

/* y = f(((x − hi) − lo)·scale + shift) for ReLU / leaky ReLU: affine_row's z, then the activation
 * as its kernel gives it (ReLU z <= 0 ? 0 : z, NaN kept; leaky z > 0 ? z : p·z), in one pass */
static void affine_act_row(const tg_real *restrict x, tg_real *restrict y, int64_t n, tg_real hi, tg_real lo,
                           tg_real scale, tg_real shift, bool leaky, tg_real p)
{
    int64_t i = 0;
    for (; n - i >= LANES; i += LANES) {
        lanes xv, z;
        LOAD_LANES(xv, x + i);
        z = ((xv - hi) - lo) * scale + shift;
        ACT_MASK_LANES(z, z, leaky, p); /* f(z) = f'(z)·z for these two */
        memcpy(y + i, &z, sizeof z);
    }
    for (; i < n; i++) {
        const tg_real z = ((x[i] - hi) - lo) * scale + shift;
        y[i] = act_grad(z, z, leaky, p);
    }
}

/* *s_dy = Σ g, *s_dyxc = Σ g·((x − hi) − lo) with g = dy; or g = γ·dy with per-element γ (gamma,
 * layer norm's); or with the fused activation (act) g = f'(z)·dy at z = ((x − hi) − lo)·scale +
 * shift, affine_row's expression: lane sums over blocks of BLOCK values, each block's total added
 * in double. One body for all three (inlined with gamma and act constants), so the activation's
 * sums are, term for term and in order, the separate layers'. γ·dy's tail is formed in double. */
static inline __attribute__((always_inline)) void sum_grads(const tg_real *x, const tg_real *dy, const tg_real *gamma,
                                                            int64_t n, tg_real hi, tg_real lo, bool act,
                                                            tg_real scale, tg_real shift, bool leaky, tg_real p,
                                                            double *s_dy, double *s_dyxc)
{
    double t1 = 0, t2 = 0;
    int64_t i = 0;
    while (n - i >= LANES) {
        lanes a1 = {0}, a2 = {0};
        int64_t len = (n - i) / LANES * LANES;
        int64_t end = i + (len < BLOCK ? len : BLOCK);
        for (; i < end; i += LANES) {
            lanes g, xv;
            LOAD_LANES(g, dy + i);
            LOAD_LANES(xv, x + i);
            if (gamma) {
                lanes gm;
                LOAD_LANES(gm, gamma + i);
                g = gm * g;
            }
            if (act) {
                const lanes z = ((xv - hi) - lo) * scale + shift;
                ACT_MASK_LANES(g, z, leaky, p);
            }
            a1 += g;
            a2 += g * ((xv - hi) - lo);
        }
        t1 += lanes_total(&a1), t2 += lanes_total(&a2);
    }
    for (; i < n; i++) {
        if (gamma) {
            const double g = (double)gamma[i] * (double)dy[i];
            t1 += g;
            t2 += g * (double)((x[i] - hi) - lo);
            continue;
        }
        const tg_real g = act ? act_grad(((x[i] - hi) - lo) * scale + shift, dy[i], leaky, p) : dy[i];
        t1 += g;
        t2 += (double)g * (double)((x[i] - hi) - lo);
    }
    *s_dy = t1;
    *s_dyxc = t2;
}

/* *s_dy = Σ dy, *s_dyxc = Σ dy·((x − hi) − lo) */
static void sum_dy_dyxc(const tg_real *x, const tg_real *dy, int64_t n, tg_real hi, tg_real lo, double *s_dy,
                        double *s_dyxc)
{
    sum_grads(x, dy, NULL, n, hi, lo, false, 0, 0, false, 0, s_dy, s_dyxc);
}

/* The same over γ·dy with per-element γ */
static void sum_gdy_gdyxc(const tg_real *x, const tg_real *dy, const tg_real *gamma, int64_t n, tg_real hi,
                          tg_real lo, double *s1, double *s2)
{
    sum_grads(x, dy, gamma, n, hi, lo, false, 0, 0, false, 0, s1, s2);
}

/* The same over dz = f'(z)·dy (the fused activation) */
static void sum_dz_dzxc(const tg_real *x, const tg_real *dy, int64_t n, tg_real hi, tg_real lo, tg_real scale,
                        tg_real shift, bool leaky, tg_real p, double *s_dy, double *s_dyxc)
{
    sum_grads(x, dy, NULL, n, hi, lo, true, scale, shift, leaky, p, s_dy, s_dyxc);
}

/* dx_row over dz = f'(z)·dy (x_term false: dx (+)= scale·dz, the eval backward) */
static void dx_row_act(const tg_real *restrict x, const tg_real *dy, tg_real *dx, int64_t n,
                       tg_real hi, tg_real lo, tg_real scale, tg_real shift, bool leaky, tg_real p, tg_real minus,
                       tg_real slope, bool x_term, bool accumulate)
{
    int64_t i = 0;
    for (; n - i >= LANES; i += LANES) {
        lanes g, xv, o;
        LOAD_LANES(g, dy + i);
        LOAD_LANES(xv, x + i);
        const lanes z = ((xv - hi) - lo) * scale + shift;
        ACT_MASK_LANES(g, z, leaky, p);
        lanes value = x_term ? scale * g - minus - ((xv - hi) - lo) * slope : scale * g;
        if (accumulate) {
            LOAD_LANES(o, dx + i);
            value = o + value;
        }
        memcpy(dx + i, &value, sizeof value);
    }
    for (; i < n; i++) {
        const tg_real g = act_grad(((x[i] - hi) - lo) * scale + shift, dy[i], leaky, p);
        const tg_real value = x_term ? scale * g - minus - ((x[i] - hi) - lo) * slope : scale * g;
        dx[i] = accumulate ? dx[i] + value : value;
    }
}

/* ---- statistics ---- */

typedef struct stats_ctx {
    const tg_norm_view *v;
    const tg_real *x;
    double *mean, *var;
    double *rows; /* outer > 1: each row's mean and m2, [outer·stats][2] */
} stats_ctx;

/* One row's mean and Σ(x − mean)², two passes (the row is usually still in cache for the second):
 * the mean as an offset from the row's first value keeps the partial sums small. */
static void row_moments(const tg_real *row, int64_t n, bool center, double *mean, double *m2)
{
    double row_mean = 0;
    if (center) {
        tg_real shift = row[0];
        row_mean = (double)shift + sum_shifted(row, n, shift) / (double)n;
    }
    tg_real hi, lo;
    split(row_mean, &hi, &lo);
    *mean = row_mean;
    *m2 = sum_sq_centered(row, n, hi, lo);
}

/* A statistic of one row each (outer = 1): its moments, the statistic itself. */
static void stats_range(void *arg, int64_t k0, int64_t k1)
{
    const stats_ctx *c = arg;
    const tg_norm_view *v = c->v;
    for (int64_t k = k0; k < k1; k++) {
        double row_mean = 0, row_m2 = 0;
        if (v->inner > 0) row_moments(c->x + k * v->inner, v->inner, v->center, &row_mean, &row_m2);
        c->mean[k] = row_mean;
        c->var[k] = v->inner > 0 ? row_m2 / (double)v->inner : 0;
    }
}

/* Rows r0..r1 of x:[outer, stats, inner] (batch norm's (image, channel) planes), their moments into
 * c->rows. The passes of batch norm go row by row in memory order, so the threads split the batch
 * as the convolutions and elementwise ops around them do: split by channel, each thread read every
 * image, half of them just written by the other core (two threads: a BN-ResNet's batch norm
 * backward took longer than on one). */
static void row_moments_range(void *arg, int64_t r0, int64_t r1)
{
    const stats_ctx *c = arg;
    const tg_norm_view *v = c->v;
    for (int64_t r = r0; r < r1; r++)
        row_moments(c->x + r * v->inner, v->inner, v->center, &c->rows[2 * r], &c->rows[2 * r + 1]);
}

/* Statistics k0..k1 from their rows' moments, merged by Chan's pairwise update in image order (no
 * cancellation; the order, and so the bits, fixed by the shapes). */
static void merge_moments_range(void *arg, int64_t k0, int64_t k1)
{
    const stats_ctx *c = arg;
    const tg_norm_view *v = c->v;
    const double n = (double)v->inner;
    for (int64_t k = k0; k < k1; k++) {
        double mean = 0, m2 = 0, count = 0;
        for (int64_t p = 0; p < v->outer && v->inner > 0; p++) {
            const double *row = c->rows + 2 * (p * v->stats + k), total = count + n;
            if (count == 0) { /* the first row is the statistic so far */
                mean = row[0];
                m2 = row[1];
            } else {
                const double delta = row[0] - mean;
                mean += delta * n / total;
                m2 += row[1] + delta * delta * count * n / total;
            }
            count = total;
        }
        c->mean[k] = mean;
        c->var[k] = count > 0 ? m2 / count : 0;
    }
}

void NORM_FN(stats)(const tg_norm_view *v, const tg_real *x, double *mean, double *var, double *scratch)
{
    stats_ctx c = {v, x, mean, var, scratch};
    if (v->outer <= 1) {
        tg_parallel_for(v->stats, stats_range, &c);
        return;
    }
    tg_parallel_for(v->outer * v->stats, row_moments_range, &c);
    tg_parallel_for(v->stats, merge_moments_range, &c);
}

/* ---- forward ---- */

typedef struct forward_ctx {
    const tg_norm_view *v;
    const tg_real *x, *gamma, *beta;
    const double *mean, *rstd;
    tg_real *y;
} forward_ctx;

/* Row r of x:[outer, stats, inner] (p = r / stats, k = r % stats) normalised into y. */
static void forward_row(const forward_ctx *c, int64_t r)
{
    const tg_norm_view *v = c->v;
    const int64_t run = v->affine_run, runs_per_row = v->inner / run;
    const int64_t k = r % v->stats, row = r * v->inner;
    tg_real hi, lo;
    split(c->mean[k], &hi, &lo);
    double rs = c->rstd[k];
    if (elementwise(v)) {
        affine_row_vec(c->x + row, c->y + row, v->inner, hi, lo, (tg_real)rs, c->gamma, c->beta);
        return;
    }
    for (int64_t j = 0; j < runs_per_row; j++) {
        int64_t a = affine_index(v, row / run + j);
        tg_real scale = (tg_real)(rs * (c->gamma ? (double)c->gamma[a] : 1.0));
        tg_real shift = c->beta ? c->beta[a] : 0;
        if (v->act)
            affine_act_row(c->x + row + j * run, c->y + row + j * run, run, hi, lo, scale, shift,
                           act_leaky(v), v->act_param);
        else affine_row(c->x + row + j * run, c->y + row + j * run, run, hi, lo, scale, shift);
    }
}

/* Rows r0..r1 in memory order: the forward has no reduction, so it streams through x and y once
 * instead of jumping between images channel by channel (64x64x56x56 batch norm eval 4.1 -> 2.3 ms). */
static void forward_range(void *arg, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) forward_row(arg, r);
}

void NORM_FN(forward)(const tg_norm_view *v, const tg_real *x, const double *mean,
                            const double *rstd, const tg_real *gamma, const tg_real *beta, tg_real *y)
{
    forward_ctx c = {v, x, gamma, beta, mean, rstd, y};
    tg_parallel_for(v->outer * v->stats, forward_range, &c);
}

/* ---- statistics and forward in one pass, for statistics of one row each (outer = 1) ---- */

typedef struct stats_forward_ctx {
    forward_ctx f;
    double eps;
    double *mean, *rstd;
} stats_forward_ctx;

/* Each row's statistics, then the row normalised while it is still in cache: x is read from
 * memory once instead of twice (layer norm over rows of 64, 200704 rows, forward+backward 13.8 ->
 * 12.1 ms, measured 4 Dec on Zen 5). The same row_moments and forward_row as the two-pass route,
 * so the same bits. */
static void stats_forward_range(void *arg, int64_t k0, int64_t k1)
{
    const stats_forward_ctx *c = arg;
    const tg_norm_view *v = c->f.v;
    if (short_rows(v) && c->f.gamma && c->f.beta) {
        short_rows_forward(v, c->f.x, c->eps, c->mean, c->rstd, c->f.gamma, c->f.beta, c->f.y, k0, k1);
        return;
    }
    /* a group's statistics first (independent reductions side by side), then its rows: row by
     * row, each normalisation waited for its own statistics' chain of adds, divide and sqrt */
    const int64_t group = v->inner > 0 && v->inner * (int64_t)sizeof(tg_real) * ROW_GROUP > ROW_GROUP_BYTES ? 1 : ROW_GROUP;
    for (int64_t g0 = k0; g0 < k1; g0 += group) {
        const int64_t g_end = g0 + group < k1 ? g0 + group : k1;
        for (int64_t k = g0; k < g_end; k++) {
            double row_mean = 0, row_m2 = 0;
            if (v->inner > 0) row_moments(c->f.x + k * v->inner, v->inner, v->center, &row_mean, &row_m2);
            const double var = v->inner > 0 ? row_m2 / (double)v->inner : 0;
            c->mean[k] = row_mean;
            c->rstd[k] = 1.0 / sqrt(var + c->eps);
        }
        for (int64_t k = g0; k < g_end; k++) forward_row(&c->f, k);
    }
}

void NORM_FN(stats_forward)(const tg_norm_view *v, const tg_real *x, double eps, double *mean, double *rstd,
                            const tg_real *gamma, const tg_real *beta, tg_real *y)
{
    stats_forward_ctx c = {{v, x, gamma, beta, mean, rstd, y}, eps, mean, rstd};
    tg_parallel_for(v->stats, stats_forward_range, &c);
}

/* ---- backward ---- */

typedef struct backward_ctx {
    const tg_norm_view *v;
    const tg_real *x, *dy, *gamma, *beta;
    const double *mean, *rstd;
    bool batch_stats, need_sums, accumulate, affine_sums;
    tg_real *dx;
    double *run_sums; /* per run Σdy, Σdy·x̂ (elementwise affine: 2·inner sums per block of rows) */
    double *coef;     /* per statistic dx's minus and slope terms */
    tg_real *dgamma, *dbeta;
    bool stat_affine; /* each statistic has a weight of its own (merge_stat adds dγ, dβ) */
} backward_ctx;

/* Layer norm's elementwise affine, rows of blocks b0..b1: dx row by row, and the block's dγ, dβ
 * partials while the row is in cache. */
static void backward_ew_blocks(void *arg, int64_t b0, int64_t b1)
{
    const backward_ctx *c = arg;
    const tg_norm_view *v = c->v;
    const int64_t d = v->inner;
    const double m = (double)(v->outer * v->inner);
    const double inv_m = m > 0 ? 1.0 / m : 0; /* a divide per row was a quarter of this loop's time */
    /* rows up to SHORT_ROW_MAX: dγ, dβ partials of a group in tg_real, then into the block's doubles */
    tg_real cols[2 * SHORT_ROW_MAX];
    const bool group_partials = d <= SHORT_ROW_MAX;
    if (group_partials)
        for (int64_t i = 0; i < 2 * d; i++) cols[i] = 0;
    for (int64_t b = b0; b < b1; b++) {
        double *sums = c->affine_sums ? c->run_sums + 2 * d * b : NULL;
        if (sums)
            for (int64_t i = 0; i < 2 * d; i++) sums[i] = 0;
        const int64_t k_end = (b + 1) * EW_ROWS_PER_BLOCK < v->stats ? (b + 1) * EW_ROWS_PER_BLOCK : v->stats;
        /* ROW_GROUP rows at a time: first every row's sums (independent reductions the core
         * overlaps), then their dx; row by row, each row's dx waited for its own sums */
        for (int64_t k0 = b * EW_ROWS_PER_BLOCK; k0 < k_end; k0 += ROW_GROUP) {
            const int64_t g_end = k0 + ROW_GROUP < k_end ? k0 + ROW_GROUP : k_end;
            tg_real minus[ROW_GROUP] = {0}, slope[ROW_GROUP] = {0};
            for (int64_t k = k0; k < g_end; k++) {
                tg_real hi, lo;
                split(c->mean[k], &hi, &lo);
                const double r = c->rstd[k];
                const tg_real *xr = c->x + k * d, *dyr = c->dy + k * d;
                if (sums && group_partials) affine_partials_row(xr, dyr, d, hi, lo, (tg_real)r, cols);
                else if (sums) affine_sums_row(xr, dyr, d, hi, lo, r, sums);
                if (!c->dx || !c->batch_stats || m <= 0) continue;
                double s1 = 0, s2 = 0;
                if (c->gamma) sum_gdy_gdyxc(xr, dyr, c->gamma, d, hi, lo, &s1, &s2);
                else sum_dy_dyxc(xr, dyr, d, hi, lo, &s1, &s2);
                minus[k - k0] = v->center ? (tg_real)(r * s1 * inv_m) : 0;
                slope[k - k0] = (tg_real)(r * r * r * s2 * inv_m);
            }
            if (sums && group_partials) flush_affine_partials(cols, 2 * d, sums);
            if (!c->dx) continue;
            for (int64_t k = k0; k < g_end; k++) {
                tg_real hi, lo;
                split(c->mean[k], &hi, &lo);
                const tg_real r = (tg_real)c->rstd[k];
                const tg_real *x_term = c->batch_stats ? c->x + k * d : NULL, *dyr = c->dy + k * d;
                tg_real *dxr = c->dx + k * d;
                if (c->gamma) dx_row_vec(x_term, dyr, c->gamma, dxr, d, hi, lo, r, minus[k - k0], slope[k - k0], c->accumulate);
                else dx_row(x_term, dyr, dxr, d, hi, lo, r, minus[k - k0], slope[k - k0], c->accumulate);
            }
        }
    }
}

/* Pass 1 over one run: *s_dy = Σ dy, *s_dyxc = Σ dy·((x − hi) − lo), with a fused activation over its
 * dz instead (zscale, zshift: the run's affine, as the forward applied it). */
static void run_sums_of(const backward_ctx *c, const tg_real *x, const tg_real *dy, int64_t n, tg_real hi,
                        tg_real lo, tg_real zscale, tg_real zshift, double *s_dy, double *s_dyxc)
{
    if (!c->v->act) {
        sum_dy_dyxc(x, dy, n, hi, lo, s_dy, s_dyxc);
        return;
    }
    sum_dz_dzxc(x, dy, n, hi, lo, zscale, zshift, act_leaky(c->v), c->v->act_param, s_dy, s_dyxc);
}

/* Pass 2 over one run: dx (+)= scale·dy − minus − ((x − hi) − lo)·slope (dx_row), with a fused
 * activation over its dz (the run's affine: scale, zshift). */
static void run_dx(const backward_ctx *c, const tg_real *x, const tg_real *dy, tg_real *dx, int64_t n, tg_real hi,
                   tg_real lo, tg_real scale, tg_real zshift, tg_real minus, tg_real slope)
{
    const bool x_term = c->batch_stats;
    if (!c->v->act) {
        dx_row(x_term ? x : NULL, dy, dx, n, hi, lo, scale, minus, slope, c->accumulate);
        return;
    }
    dx_row_act(x, dy, dx, n, hi, lo, scale, zshift, act_leaky(c->v), c->v->act_param, minus, slope, x_term,
               c->accumulate);
}

/* Row r's runs, pass 1 (sums): per run Σdy and Σdy·x̂ into run_sums (what dγ, dβ and the batch
 * terms need); pass 2: dx = r·γ·dy − minus − (x − μ)·slope, the statistic's terms from coef[2k],
 * coef[2k + 1]. Inlined into each pass with `sums` a constant: as a call per row it made a 14x14
 * batch norm's backward 30% slower. */
static inline __attribute__((always_inline)) void row_pass(const backward_ctx *c, int64_t r, bool sums)
{
    const tg_norm_view *v = c->v;
    const int64_t run = v->affine_run, runs_per_row = v->inner / run, k = r % v->stats, row = r * v->inner;
    tg_real hi, lo;
    split(c->mean[k], &hi, &lo);
    const double rs = c->rstd[k];
    for (int64_t j = 0; j < runs_per_row; j++) {
        const int64_t idx = r * runs_per_row + j, a = affine_index(v, idx), at = row + j * run;
        const tg_real scale = (tg_real)(rs * (c->gamma ? (double)c->gamma[a] : 1.0)), shift = c->beta ? c->beta[a] : 0;
        if (!sums) {
            run_dx(c, c->x + at, c->dy + at, c->dx + at, run, hi, lo, scale, shift, (tg_real)c->coef[2 * k],
                   (tg_real)c->coef[2 * k + 1]);
            continue;
        }
        double s_dy, s_dyxc;
        run_sums_of(c, c->x + at, c->dy + at, run, hi, lo, scale, shift, &s_dy, &s_dyxc);
        c->run_sums[2 * idx] = s_dy;
        c->run_sums[2 * idx + 1] = s_dyxc * rs;
    }
}

/* Statistic k's dx terms from its runs' sums, added in run order (image by image: the same bits
 * for any split): minus = r·mean(dx̂), slope = r²·mean(dx̂·x̂) with dx̂ = γ·dy; 0 without batch
 * statistics or without sums. Where each statistic has a weight of its own (batch norm's channel:
 * one run per row, affine_n = stats; c->stat_affine), dγ and dβ too, in the order the serial loop
 * after the walk would add them. */
static void merge_stat(const backward_ctx *c, int64_t k)
{
    const tg_norm_view *v = c->v;
    const int64_t runs_per_row = v->inner / v->affine_run;
    double sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (int64_t p = 0; p < v->outer && c->need_sums; p++)
        for (int64_t j = 0; j < runs_per_row; j++) {
            const int64_t idx = (p * v->stats + k) * runs_per_row + j, a = affine_index(v, idx);
            const double g = c->gamma ? (double)c->gamma[a] : 1.0;
            sum_dxhat += g * c->run_sums[2 * idx];
            sum_dxhat_xhat += g * c->run_sums[2 * idx + 1];
            if (c->stat_affine && c->dbeta) c->dbeta[a] += (tg_real)c->run_sums[2 * idx];
            if (c->stat_affine && c->dgamma) c->dgamma[a] += (tg_real)c->run_sums[2 * idx + 1];
        }
    const double m = (double)(v->outer * v->inner), r = c->rstd[k];
    tg_real minus = 0, slope = 0;
    if (c->batch_stats && m > 0) {
        minus = v->center ? (tg_real)(r * sum_dxhat / m) : 0;
        slope = (tg_real)(r * r * sum_dxhat_xhat / m);
    }
    c->coef[2 * k] = minus;
    c->coef[2 * k + 1] = slope;
}

/* One row per statistic (outer = 1: layer, instance, group norm): a statistic at a time, its row
 * still in cache from the sums to dx. */
static void backward_range(void *arg, int64_t k0, int64_t k1)
{
    const backward_ctx *c = arg;
    for (int64_t k = k0; k < k1; k++) {
        if (c->need_sums) row_pass(c, k, true);
        if (!c->dx) continue;
        merge_stat(c, k);
        row_pass(c, k, false);
    }
}

/* Batch norm (outer > 1) in three steps, each row by row in memory order: the passes split the
 * batch across the threads as the convolutions and elementwise ops around them do (split by
 * channel, each thread read every image, half of them just written by the other core: a BN-ResNet's
 * batch norm backward ran slower on two threads than on one, 5 Dec). */
static void sums_rows(void *arg, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) row_pass(arg, r, true);
}

static void merge_range(void *arg, int64_t k0, int64_t k1)
{
    for (int64_t k = k0; k < k1; k++) merge_stat(arg, k);
}

static void dx_rows(void *arg, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) row_pass(arg, r, false);
}

void NORM_FN(backward)(const tg_norm_view *v, const tg_real *x, const tg_real *dy,
                             const double *mean, const double *rstd, const tg_real *gamma, const tg_real *beta,
                             bool batch_stats, tg_real *dx, bool accumulate, tg_real *dgamma, tg_real *dbeta,
                             double *scratch)
{
    double *run_sums = scratch;
    bool need_sums = (batch_stats && dx) || dgamma || dbeta;
    backward_ctx c = {v, x, dy, gamma, beta, mean, rstd, batch_stats, need_sums, accumulate, dgamma || dbeta, dx,
                      scratch, elementwise(v) ? NULL : scratch + 2 * runs_of(v), dgamma, dbeta, false};
    if (elementwise(v)) {
        /* dγ[i] = Σ_k dy·x̂, dβ[i] = Σ_k dy: block partials, then summed in block order */
        const int64_t d = v->inner, blocks = ew_blocks(v);
        tg_parallel_for(blocks, backward_ew_blocks, &c);
        if (!c.affine_sums) return;
        for (int64_t i = 0; i < d; i++) {
            double sum_dyxhat = 0, sum_dy = 0;
            for (int64_t b = 0; b < blocks; b++) {
                sum_dyxhat += scratch[2 * d * b + i];
                sum_dy += scratch[2 * d * b + d + i];
            }
            if (dgamma) dgamma[i] += (tg_real)sum_dyxhat;
            if (dbeta) dbeta[i] += (tg_real)sum_dy;
        }
        return;
    }
    if (v->outer <= 1) {
        tg_parallel_for(v->stats, backward_range, &c);
    } else {
        c.stat_affine = v->inner / v->affine_run == 1 && v->affine_n == v->stats;
        if (need_sums) tg_parallel_for(v->outer * v->stats, sums_rows, &c);
        /* without sums (eval mode, no dγ, dβ) dx's terms are set to zero, not left unset */
        if (need_sums || dx) tg_parallel_for(v->stats, merge_range, &c);
        if (dx) tg_parallel_for(v->outer * v->stats, dx_rows, &c);
        if (c.stat_affine) return; /* dγ, dβ added by merge_stat */
    }
    if (!dgamma && !dbeta) return;
    /* in run order, serially: the same sums whatever the thread split */
    int64_t runs = runs_of(v);
    for (int64_t idx = 0; idx < runs; idx++) {
        int64_t a = affine_index(v, idx);
        if (dbeta) dbeta[a] += (tg_real)run_sums[2 * idx];
        if (dgamma) dgamma[a] += (tg_real)run_sums[2 * idx + 1];
    }
}
