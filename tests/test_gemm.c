/* tests/test_gemm.c — tg_gemm against hand values and against tg_gemm_reference over many shapes,
 * every transpose combination, alpha/beta (beta 0 with NaN in C), padded strides, for every
 * micro-kernel this CPU runs; A packed once and reused; the bias + activation epilogue against the
 * elementwise pass; bit-identical results for 1, 2 and 3 threads; kernel selection. */
#include "util.h"

#include <float.h>
#include <stdlib.h>

#include "../ops/kernels/elementwise.h"
#include "../ops/kernels/gemm.h"
#include "../ops/kernels/gemm_internal.h"
#include "../ops/kernels/parallel.h"

#define TT_EPS (TT_DOUBLE ? DBL_EPSILON / 2 : FLT_EPSILON / 2)

static const char *const kernel_names[] = {"portable", "avx2", "avx512"};

static void restore_defaults(void)
{
    tg_gemm_set_kernel(NULL);
    tg_set_threads(1);
}
static TCase *gemm_tcase(const char *name)
{
    TCase *tc = tt_tcase(name);
    tcase_add_checked_fixture(tc, NULL, restore_defaults);
    tcase_set_timeout(tc, 60);
    return tc;
}

/* Deterministic values in [-1, 1) from a 64-bit LCG. */
static double next_value(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) / (double)(1ull << 53) * 2 - 1;
}

/* One product: op(A) m x k, op(B) k x n, C m x n, each stored with `pad` extra columns per row
 * (filled with NaN in A and B so a read outside the matrix poisons C, and with a sentinel in C
 * that must survive). */
typedef struct product {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    tg_real alpha, beta;
    tg_real *a, *b, *c, *c0;
} product;

static void product_make(product *p, bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t pad,
                         double alpha, double beta, uint64_t seed)
{
    *p = (product){.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = (tg_real)alpha, .beta = (tg_real)beta};
    int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    p->lda = a_cols + pad;
    p->ldb = b_cols + pad;
    p->ldc = n + pad;
    size_t a_size = (size_t)(a_rows * p->lda) + 1, b_size = (size_t)(b_rows * p->ldb) + 1,
           c_size = (size_t)(m * p->ldc) + 1;
    p->a = malloc(a_size * sizeof(tg_real));
    p->b = malloc(b_size * sizeof(tg_real));
    p->c = malloc(c_size * sizeof(tg_real));
    p->c0 = malloc(c_size * sizeof(tg_real));
    ck_assert(p->a && p->b && p->c && p->c0);
    for (size_t i = 0; i < a_size; i++) p->a[i] = (tg_real)NAN;
    for (size_t i = 0; i < b_size; i++) p->b[i] = (tg_real)NAN;
    for (size_t i = 0; i < c_size; i++) p->c0[i] = (tg_real)12345;
    uint64_t state = seed;
    for (int64_t r = 0; r < a_rows; r++)
        for (int64_t j = 0; j < a_cols; j++) p->a[r * p->lda + j] = (tg_real)next_value(&state);
    for (int64_t r = 0; r < b_rows; r++)
        for (int64_t j = 0; j < b_cols; j++) p->b[r * p->ldb + j] = (tg_real)next_value(&state);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) p->c0[i * p->ldc + j] = beta == 0 ? (tg_real)NAN : (tg_real)next_value(&state);
    memcpy(p->c, p->c0, c_size * sizeof(tg_real));
}

static void product_free(product *p)
{
    free(p->a);
    free(p->b);
    free(p->c);
    free(p->c0);
}

static void product_run(product *p)
{
    tg_gemm(p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b, p->ldb, p->beta, p->c, p->ldc);
}

/* Checks p->c against the reference loop: |got - want| <= (k+3)*eps * (sum |alpha a b| + |beta c|),
 * the rounding bound of a k-term sum; sentinels between rows must be untouched. */
static void product_check(const product *p, const char *kernel)
{
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = 0; j < p->n; j++) {
            double want = 0, magnitude = 0;
            for (int64_t q = 0; q < p->k; q++) {
                double x = p->ta ? p->a[q * p->lda + i] : p->a[i * p->lda + q];
                double y = p->tb ? p->b[j * p->ldb + q] : p->b[q * p->ldb + j];
                want += x * y;
                magnitude += fabs(x * y);
            }
            want *= p->alpha;
            magnitude *= fabs((double)p->alpha);
            if (p->beta != 0) {
                want += (double)p->beta * p->c0[i * p->ldc + j];
                magnitude += fabs((double)p->beta * p->c0[i * p->ldc + j]);
            }
            double got = p->c[i * p->ldc + j], tol = (double)(p->k + 3) * TT_EPS * magnitude + 1e-300;
            if (!(fabs(got - want) <= tol)) /* per element ck_assert would log every pass: slow */
                ck_abort_msg("%s: C[%lld,%lld] = %.9g, want %.9g (m=%lld n=%lld k=%lld ta=%d tb=%d alpha=%g beta=%g)",
                          kernel, (long long)i, (long long)j, got, want, (long long)p->m, (long long)p->n,
                          (long long)p->k, p->ta, p->tb, (double)p->alpha, (double)p->beta);
        }
    for (int64_t i = 0; i < p->m; i++)
        for (int64_t j = p->n; j < p->ldc; j++)
            if (p->c[i * p->ldc + j] != 12345)
                ck_abort_msg("%s: wrote outside C (row %lld, column %lld)", kernel,
                          (long long)i, (long long)j);
}

/* ---- hand-computed values ---- */

START_TEST(test_gemm_hand_values)
{
    /* A = [1 2 3; 4 5 6], B = [7 8; 9 10; 11 12]: A*B = [58 64; 139 154]
     * (1*7+2*9+3*11 = 58, 1*8+2*10+3*12 = 64, 4*7+5*9+6*11 = 139, 4*8+5*10+6*12 = 154). */
    const tg_real a[] = {1, 2, 3, 4, 5, 6}, at[] = {1, 4, 2, 5, 3, 6};
    const tg_real b[] = {7, 8, 9, 10, 11, 12}, bt[] = {7, 9, 11, 8, 10, 12};
    for (int kind = 0; kind < 3; kind++) {
        if (tg_gemm_set_kernel(kernel_names[kind]) != 0) continue;
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            tg_real c[4] = {NAN, NAN, NAN, NAN};
            tg_gemm(ta, tb, 2, 2, 3, 1, ta ? at : a, ta ? 2 : 3, tb ? bt : b, tb ? 3 : 2, 0, c, 2);
            tt_assert_close(c, ((double[]){58, 64, 139, 154}), 4, 0);
            /* alpha 2, beta -1 on C = 1: 2*58-1 = 115, 2*64-1 = 127, 2*139-1 = 277, 2*154-1 = 307 */
            tg_real c2[4] = {1, 1, 1, 1};
            tg_gemm(ta, tb, 2, 2, 3, 2, ta ? at : a, ta ? 2 : 3, tb ? bt : b, tb ? 3 : 2, -1, c2, 2);
            tt_assert_close(c2, ((double[]){115, 127, 277, 307}), 4, 0);
        }
    }
}
END_TEST

START_TEST(test_gemm_degenerate)
{
    const tg_real nan_ab[4] = {NAN, NAN, NAN, NAN};
    for (int kind = 0; kind < 3; kind++) {
        if (tg_gemm_set_kernel(kernel_names[kind]) != 0) continue;
        /* k = 0: C = beta*C; beta 0 clears NaNs */
        tg_real c[4] = {1, 2, 3, 4};
        tg_gemm(false, false, 2, 2, 0, 1, nan_ab, 1, nan_ab, 2, 3, c, 2);
        tt_assert_close(c, ((double[]){3, 6, 9, 12}), 4, 0);
        tg_real cn[4] = {NAN, NAN, NAN, NAN};
        tg_gemm(false, false, 2, 2, 0, 1, nan_ab, 1, nan_ab, 2, 0, cn, 2);
        tt_assert_close(cn, ((double[]){0, 0, 0, 0}), 4, 0);
        /* alpha = 0: A and B are not read (BLAS semantics) */
        tg_real ca[4] = {1, 2, 3, 4};
        tg_gemm(false, false, 2, 2, 2, 0, nan_ab, 2, nan_ab, 2, 0.5, ca, 2);
        tt_assert_close(ca, ((double[]){0.5, 1, 1.5, 2}), 4, 0);
        /* m = 0 or n = 0: nothing is touched */
        tg_real untouched[2] = {7, 8};
        tg_gemm(false, false, 0, 2, 2, 1, nan_ab, 2, nan_ab, 2, 0, untouched, 2);
        tg_gemm(false, false, 2, 0, 2, 1, nan_ab, 2, nan_ab, 2, 0, untouched, 1);
        tt_assert_close(untouched, ((double[]){7, 8}), 2, 0);
    }
}
END_TEST

/* ---- against the reference, every kernel ---- */

/* m, n, k: single elements, odd sizes and primes, exact tile multiples and one past them, sizes past
 * the cache blocks (k > 256 splits K; m > 192 splits M; n > 4096 splits N), vectors. */
static const int64_t shapes[][3] = {
    {1, 1, 1},     {1, 7, 3},     {5, 1, 9},     {2, 3, 1},      {3, 2, 2},      {4, 8, 16},   {12, 32, 5},
    {13, 33, 17},  {6, 16, 7},    {7, 17, 8},    {11, 31, 257},  {24, 64, 300},  {1, 300, 50}, {300, 1, 50},
    {97, 101, 103}, {64, 64, 64}, {131, 7, 29},  {7, 131, 29},   {200, 37, 300}, {3, 4133, 5}, {257, 263, 270},
    {37, 2, 600},  {2, 37, 600},  {29, 23, 1},   {16, 16, 16},   {17, 15, 16},
};
static const double alpha_beta[][2] = {{1, 0}, {-0.5, 0.75}, {2, 1}};

static void check_kernel_shapes(int kind)
{
    if (tg_gemm_set_kernel(kernel_names[kind]) != 0) return; /* this CPU cannot run it */
    ck_assert_str_eq(tg_gemm_kernel_name(), kernel_names[kind]);
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < n_shapes; s++) {
        bool large = shapes[s][0] * shapes[s][1] * shapes[s][2] > 200000;
        for (int t = 0; t < 4; t++)
            for (int ab = 0; ab < 3; ab++) {
                if (large && ab != (s + t) % 3) continue; /* big shapes: one alpha/beta per transpose */
                product p;
                product_make(&p, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], (s + t) % 3 == 0 ? 0 : 3,
                             alpha_beta[ab][0], alpha_beta[ab][1], (uint64_t)(s * 16 + t * 4 + ab + 1));
                product_run(&p);
                product_check(&p, kernel_names[kind]);
                product_free(&p);
            }
    }
}

START_TEST(test_gemm_matches_reference) { check_kernel_shapes(_i); }
END_TEST

/* Every row count of the last row panel (m = 1 .. 3*MR+1 covers each remainder of every kernel's
 * MR, 4, 6 and 12) with a partial column panel and K split across blocks, all transposes: the
 * partial-row micro-kernels write straight into C and must not touch rows past m. */
START_TEST(test_gemm_every_partial_row_panel)
{
    if (tg_gemm_set_kernel(kernel_names[_i]) != 0) return;
    for (int64_t m = 1; m <= 37; m++)
        for (int t = 0; t < 4; t++) {
            product p;
            int64_t n = 35 + m % 3, k = m % 2 ? 9 : 300;
            product_make(&p, t & 1, t & 2, m, n, k, 2, m % 3 ? 1 : -0.5, m % 4 ? 0 : 0.75, (uint64_t)(m * 4 + t));
            product_run(&p);
            product_check(&p, kernel_names[_i]);
            product_free(&p);
        }
}
END_TEST

START_TEST(test_gemm_reference_itself)
{
    /* The reference loop on the hand example, with a transposed, strided A (lda 3 > m 2). */
    const tg_real at[] = {1, 4, -1, 2, 5, -1, 3, 6, -1}, b[] = {7, 8, 9, 10, 11, 12};
    tg_real c[4] = {1, 1, 1, 1};
    tg_gemm_reference(true, false, 2, 2, 3, 2, at, 3, b, 2, -1, c, 2);
    tt_assert_close(c, ((double[]){115, 127, 277, 307}), 4, 0);
}
END_TEST

/* ---- A packed once (tg_gemm_pack_a + tg_gemm_prepacked) ---- */

/* pack_b over a plain row-major B (ctx), as a convolution's implicit im2col would pack it. */
typedef struct plain_b {
    const tg_real *b;
    int64_t ldb;
} plain_b;
static void pack_plain_b(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst)
{
    const plain_b *pb = ctx;
    for (int64_t jr = 0; jr < nc; jr += nr)
        for (int64_t p = 0; p < kc; p++)
            for (int64_t j = 0; j < nr; j++)
                *dst++ = jr + j < nc ? pb->b[(p0 + p) * pb->ldb + j0 + jr + j] : 0;
}

/* Every shape and alpha/beta of the reference test with A transposed or not, B given or packed by a
 * function, 1 and 2 threads: within the reference bound, and bit-identical to tg_gemm wherever
 * tg_gemm runs the packed nest (its small-product loops sum in another order). */
START_TEST(test_gemm_prepacked_a)
{
    if (tg_gemm_set_kernel(kernel_names[_i]) != 0) return;
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < n_shapes; s++)
        for (int v = 0; v < 8; v++) {
            bool ta = v & 1, by_function = v & 2;
            int threads = v & 4 ? 2 : 1, ab = (s + v) % 3;
            product p;
            product_make(&p, ta, false, shapes[s][0], shapes[s][1], shapes[s][2], v % 3 ? 3 : 0, alpha_beta[ab][0],
                         alpha_beta[ab][1], (uint64_t)(s * 8 + v + 900));
            tg_set_threads(threads);
            size_t c_size = (size_t)(p.m * p.ldc) * sizeof(tg_real);
            tg_real *packed = malloc((size_t)tg_gemm_packed_a_size(p.m, p.k) * sizeof(tg_real) + 1);
            tg_real *plain = malloc(c_size);
            ck_assert(packed && plain);
            product_run(&p);
            memcpy(plain, p.c, c_size);
            memcpy(p.c, p.c0, c_size);
            tg_gemm_pack_a(ta, p.m, p.k, p.a, p.lda, packed);
            plain_b src = {p.b, p.ldb};
            tg_gemm_prepacked(p.m, p.n, p.k, p.alpha, packed, by_function ? NULL : p.b, p.ldb,
                              by_function ? pack_plain_b : NULL, &src, p.beta, p.c, p.ldc);
            product_check(&p, kernel_names[_i]);
            bool blocked = p.m > 1 && p.n > 1 && p.m * p.n * p.k > 16 * 16 * 16;
            if (blocked)
                ck_assert_msg(!memcmp(p.c, plain, c_size), "%s: prepacked differs from tg_gemm (m=%lld n=%lld k=%lld ta=%d)",
                              kernel_names[_i], (long long)p.m, (long long)p.n, (long long)p.k, ta);
            free(packed);
            free(plain);
            product_free(&p);
        }
}
END_TEST

/* ---- the epilogue (tg_gemm_prepacked_epilogue) ---- */

/* The epilogue is the elementwise kernels' pass after the product, bit for bit: every shape of the
 * table (partial row and column panels, edge tiles, several K blocks), B given and by function,
 * beta 0 and not, with and without a bias, each activation, one and two threads. The bias holds
 * -0, 0, a value that flips the sign of most of a row, and NaN; a row of A of zeros makes exact
 * zeros (+0 + -0, relu(-0)). */
START_TEST(test_gemm_epilogue_matches_separate_pass)
{
    if (tg_gemm_set_kernel(kernel_names[_i]) != 0) return;
    const tg_elementwise_kernel *ew = tg_elementwise_kernel_get();
    const tg_gemm_act acts[] = {TG_GEMM_ACT_NONE, TG_GEMM_ACT_RELU, TG_GEMM_ACT_LEAKY_RELU};
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]), compared = 0;
    for (int s = 0; s < n_shapes; s++)
        for (int v = 0; v < 12; v++) {
            const bool by_function = v & 1, with_bias = (v / 2) % 2;
            const tg_gemm_act act = acts[v / 4];
            if (!with_bias && act == TG_GEMM_ACT_NONE) continue;
            const int ab = (s + v) % 3;
            product p;
            product_make(&p, false, false, shapes[s][0], shapes[s][1], shapes[s][2], v % 3 ? 2 : 0, alpha_beta[ab][0],
                         alpha_beta[ab][1], (uint64_t)(s * 12 + v + 4000));
            if (p.m > 2)
                for (int64_t q = 0; q < p.k; q++) p.a[2 * p.lda + q] = 0; /* row 2 of C: exact zeros */
            tg_set_threads(v % 5 == 0 ? 2 : 1);
            tg_real *bias = malloc((size_t)p.m * sizeof *bias);
            for (int64_t i = 0; i < p.m; i++)
                bias[i] = i % 7 == 0 ? (tg_real)-0.0 : i % 7 == 1 ? 0 : i % 7 == 2 ? (tg_real)-0.3 : (tg_real)(0.01 * (double)i);
            if (p.m > 5) bias[5] = (tg_real)NAN;
            const tg_gemm_epilogue ep = {with_bias ? bias : NULL, act, (tg_real)0.125};
            const size_t c_size = (size_t)(p.m * p.ldc) * sizeof(tg_real);
            tg_real *packed = malloc((size_t)tg_gemm_packed_a_size(p.m, p.k) * sizeof(tg_real) + 1);
            tg_real *want = malloc(c_size);
            ck_assert(packed && want && bias);
            tg_gemm_pack_a(false, p.m, p.k, p.a, p.lda, packed);
            plain_b src = {p.b, p.ldb};
            memcpy(want, p.c0, c_size);
            tg_gemm_prepacked(p.m, p.n, p.k, p.alpha, packed, by_function ? NULL : p.b, p.ldb,
                              by_function ? pack_plain_b : NULL, &src, p.beta, want, p.ldc);
            const tg_ew_unary op = act == TG_GEMM_ACT_RELU ? TG_EW_RELU : TG_EW_LEAKY_RELU;
            for (int64_t i = 0; i < p.m; i++) {
                tg_real *row = want + i * p.ldc;
                if (with_bias && act != TG_GEMM_ACT_NONE) ew->bias_unary(op, ep.slope, bias[i], row, p.n);
                else if (with_bias) ew->binary(TG_EW_ADD, row, false, &bias[i], true, row, p.n);
                else ew->unary(op, ep.slope, row, row, p.n);
            }
            tg_gemm_prepacked_epilogue(p.m, p.n, p.k, p.alpha, packed, by_function ? NULL : p.b, p.ldb,
                                       by_function ? pack_plain_b : NULL, &src, p.beta, p.c, p.ldc, &ep);
            ck_assert_msg(!memcmp(p.c, want, c_size),
                          "%s: epilogue differs from the separate pass (m=%lld n=%lld k=%lld act=%d bias=%d beta=%g)",
                          kernel_names[_i], (long long)p.m, (long long)p.n, (long long)p.k, (int)act, with_bias,
                          (double)p.beta);
            compared++;
            free(packed);
            free(want);
            free(bias);
            product_free(&p);
        }
    ck_assert_int_gt(compared, 200);
}
END_TEST

/* ---- B read in place (tg_gemm_prepacked_in_place) ---- */

/* B's panel j: rows in runs of seg_len, runs seg_stride apart, rows row_stride apart in a run, the
 * panels panel_stride apart: a layout a packed B never has (gaps, runs, K blocks crossing runs). */
typedef struct strided_b {
    const tg_real *base;
    int64_t panel_stride, seg_len, seg_stride, row_stride;
} strided_b;
static const tg_real *strided_panel(const void *ctx, int64_t j)
{
    const strided_b *b = ctx;
    return b->base + j / tg_gemm_col_panel() * b->panel_stride + j % tg_gemm_col_panel();
}

START_TEST(test_gemm_b_in_place)
{
    if (tg_gemm_set_kernel(kernel_names[_i]) != 0) return;
    const int nr = tg_gemm_col_panel();
    static const int64_t cases[][4] = {/* m, panels, k, seg_len */
                                       {12, 1, 5, 5}, {13, 2, 300, 7}, {64, 3, 784, 28}, {5, 2, 600, 1000}, {37, 1, 97, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int threads = 1; threads <= 2; threads++) {
            const int64_t m = cases[ci][0], n = cases[ci][1] * nr, k = cases[ci][2], seg_len = cases[ci][3];
            const int64_t row_stride = nr + 3, seg_stride = seg_len * row_stride + 5;
            const int64_t segs = (k + seg_len - 1) / seg_len, panel_stride = segs * seg_stride + 2;
            size_t b_size = (size_t)(cases[ci][1] * panel_stride);
            tg_real *bs = malloc(b_size * sizeof *bs), *a = malloc((size_t)(m * k) * sizeof *a);
            tg_real *packed = malloc((size_t)tg_gemm_packed_a_size(m, k) * sizeof *packed + 1);
            tg_real *c = malloc((size_t)(m * n) * sizeof *c);
            ck_assert(bs && a && packed && c);
            uint64_t state = 77 + ci;
            for (size_t i = 0; i < b_size; i++) bs[i] = (tg_real)next_value(&state);
            for (int64_t i = 0; i < m * k; i++) a[i] = (tg_real)next_value(&state);
            tg_real *c0 = malloc((size_t)(m * n) * sizeof *c0), *dense = malloc((size_t)(k * n) * sizeof *dense);
            tg_real *want = malloc((size_t)(m * n) * sizeof *want);
            ck_assert(c0 && dense && want);
            for (int64_t i = 0; i < m * n; i++) c[i] = c0[i] = (tg_real)next_value(&state);
            strided_b src = {bs, panel_stride, seg_len, seg_stride, row_stride};
            tg_gemm_b_in_place b = {.panel = strided_panel, .ctx = &src, .seg_len = seg_len, .seg_stride = seg_stride,
                                    .row_stride = row_stride};
            for (int64_t p = 0; p < k; p++) /* B copied out through the same addressing */
                for (int64_t j = 0; j < n; j++)
                    dense[p * n + j] = strided_panel(&src, j / nr * nr)[j % nr + p / seg_len * seg_stride + p % seg_len * row_stride];
            tg_gemm_reference(false, false, m, n, k, 0.5, a, k, dense, n, 0, want, n);
            tg_set_threads(threads);
            tg_gemm_pack_a(false, m, k, a, k, packed);
            tg_gemm_prepacked_in_place(m, n, k, 0.5, packed, &b, 2, c, n);
            for (int64_t i = 0; i < m * n; i++) /* |a|, |b|, |c| <= 1 */
                ck_assert_msg(fabs(c[i] - (want[i] + 2 * c0[i])) <= (k + 3) * TT_EPS * (0.5 * k + 2),
                              "%s: C[%lld] = %g, want %g (m=%lld n=%lld k=%lld, %d threads)", kernel_names[_i],
                              (long long)i, (double)c[i], (double)(want[i] + 2 * c0[i]), (long long)m, (long long)n,
                              (long long)k, threads);
            free(c0);
            free(dense);
            free(want);
            free(bs);
            free(a);
            free(packed);
            free(c);
        }
}
END_TEST

/* ---- B read from its rows (few rows of C) against B packed ---- */

/* Up to TG_GEMM_B_ROWS_DIRECT_MAX_M rows of C, whole panels of an untransposed B are read where
 * they lie and only a partial last panel is packed; one row more and every panel is packed. The
 * first rows of the taller product are the same sums in the same order: bit-identical, for
 * partial panels under and over half full, K split across blocks, strided B and C, 1 and 2
 * threads, A given or prepacked. */
START_TEST(test_gemm_b_rows_direct_matches_packed)
{
    if (tg_gemm_set_kernel(kernel_names[_i]) != 0) return;
    const int nr = tg_gemm_col_panel();
    const int64_t m_direct = TG_GEMM_B_ROWS_DIRECT_MAX_M, m_packed = m_direct + 1;
    const int64_t widths[] = {nr, 2 * nr + nr / 2, 3 * nr + 1, 3 * nr - 1, 784};
    const int64_t depths[] = {7, 300, 600};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
        for (size_t di = 0; di < sizeof depths / sizeof depths[0]; di++)
            for (int v = 0; v < 4; v++) {
                const int threads = v & 1 ? 2 : 1;
                const bool prepacked = v & 2;
                const int64_t n = widths[wi], k = depths[di];
                product tall;
                product_make(&tall, false, false, m_packed, n, k, 3, -0.5, v == 3 ? 0 : 0.75,
                             (uint64_t)(wi * 64 + di * 8 + v + 900));
                product few = tall; /* the same storage, one row fewer */
                few.m = m_direct;
                few.c = malloc((size_t)(m_packed * tall.ldc) * sizeof(tg_real));
                ck_assert(few.c);
                memcpy(few.c, tall.c0, (size_t)(m_packed * tall.ldc) * sizeof(tg_real));
                tg_set_threads(threads);
                tg_real *packed = NULL;
                if (prepacked) {
                    packed = malloc((size_t)tg_gemm_packed_a_size(m_packed, k) * sizeof *packed);
                    tg_real *packed_few = malloc((size_t)tg_gemm_packed_a_size(m_direct, k) * sizeof *packed_few);
                    ck_assert(packed && packed_few);
                    tg_gemm_pack_a(false, m_packed, k, tall.a, tall.lda, packed);
                    tg_gemm_prepacked(m_packed, n, k, tall.alpha, packed, tall.b, tall.ldb, NULL, NULL, tall.beta,
                                      tall.c, tall.ldc);
                    tg_gemm_pack_a(false, m_direct, k, tall.a, tall.lda, packed_few);
                    tg_gemm_prepacked(m_direct, n, k, few.alpha, packed_few, few.b, few.ldb, NULL, NULL, few.beta,
                                      few.c, few.ldc);
                    free(packed_few);
                } else {
                    product_run(&tall);
                    product_run(&few);
                }
                product_check(&few, kernel_names[_i]);
                ck_assert_msg(!memcmp(few.c, tall.c, (size_t)(m_direct * tall.ldc) * sizeof(tg_real)),
                              "%s: B read from its rows differs from B packed (n=%lld k=%lld, %d threads%s)",
                              kernel_names[_i], (long long)n, (long long)k, threads, prepacked ? ", A prepacked" : "");
                free(packed);
                free(few.c);
                product_free(&tall);
            }
}
END_TEST

/* ---- threads: bit-identical results ---- */

static const int64_t parallel_shapes[][3] = {{130, 300, 70}, {300, 130, 70}, {97, 4133, 20}, {257, 263, 270}, {96, 128, 100}};

START_TEST(test_gemm_threads_bit_identical)
{
    if (tg_gemm_set_kernel(kernel_names[_i]) != 0) return;
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++) {
            product p;
            product_make(&p, t & 1, t & 2, parallel_shapes[s][0], parallel_shapes[s][1], parallel_shapes[s][2],
                         t == 1 ? 2 : 0, 1.5, t == 2 ? 0 : 0.5, (uint64_t)(s * 4 + t + 100));
            size_t c_size = (size_t)(p.m * p.ldc) * sizeof(tg_real);
            tg_real *one_thread = malloc(c_size);
            ck_assert(one_thread);
            tg_set_threads(1);
            product_run(&p);
            memcpy(one_thread, p.c, c_size);
            product_check(&p, kernel_names[_i]);
            for (int threads = 2; threads <= 3; threads++) {
                memcpy(p.c, p.c0, c_size);
                tg_set_threads(threads);
                product_run(&p);
                ck_assert_msg(!memcmp(p.c, one_thread, c_size), "%s: %d threads differ from 1 (m=%lld n=%lld k=%lld)",
                              kernel_names[_i], threads, (long long)p.m, (long long)p.n, (long long)p.k);
            }
            free(one_thread);
            product_free(&p);
        }
}
END_TEST

/* gemm called from inside parallel chunks (as conv does per image) runs serially there. */
typedef struct nested_ctx {
    product *products;
} nested_ctx;
static void nested_gemm(void *ctx, int64_t begin, int64_t end)
{
    nested_ctx *nc = ctx;
    for (int64_t i = begin; i < end; i++) product_run(&nc->products[i]);
}

START_TEST(test_gemm_inside_parallel_for)
{
    product products[5];
    for (int i = 0; i < 5; i++) product_make(&products[i], i & 1, i & 2, 70 + i, 90, 80, 1, 1, i == 3 ? 0 : 1, 500 + i);
    tg_set_threads(2);
    nested_ctx ctx = {products};
    tg_parallel_for(5, nested_gemm, &ctx);
    for (int i = 0; i < 5; i++) {
        product_check(&products[i], tg_gemm_kernel_name());
        product_free(&products[i]);
    }
}
END_TEST

/* ---- kernel selection ---- */

START_TEST(test_gemm_set_kernel)
{
    ck_assert_int_eq(tg_gemm_set_kernel("portable"), 0);
    ck_assert_str_eq(tg_gemm_kernel_name(), "portable");
    ck_assert_int_eq(tg_gemm_set_kernel("no-such-kernel"), -1);
    ck_assert_str_eq(tg_gemm_kernel_name(), "portable"); /* unchanged after a refusal */
    ck_assert_int_eq(tg_gemm_set_kernel(NULL), 0);
    const char *best = tg_gemm_kernel_name();
#if defined(__x86_64__)
    /* the default is the widest kernel the CPU runs */
    if (tg_gemm_set_kernel("avx512") == 0) ck_assert_str_eq(best, "avx512");
    else if (tg_gemm_set_kernel("avx2") == 0) ck_assert_str_eq(best, "avx2");
    else ck_assert_str_eq(best, "portable");
#else
    ck_assert_str_eq(best, "portable");
    ck_assert_int_eq(tg_gemm_set_kernel("avx512"), -1);
#endif
}
END_TEST

Suite *suite_gemm(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = gemm_tcase("values");
    tcase_add_test(tc, test_gemm_hand_values);
    tcase_add_test(tc, test_gemm_degenerate);
    tcase_add_test(tc, test_gemm_reference_itself);
    tcase_add_test(tc, test_gemm_set_kernel);
    suite_add_tcase(s, tc);
    tc = gemm_tcase("reference");
    tcase_add_loop_test(tc, test_gemm_matches_reference, 0, 3);
    tcase_add_loop_test(tc, test_gemm_every_partial_row_panel, 0, 3);
    tcase_add_loop_test(tc, test_gemm_prepacked_a, 0, 3);
    tcase_add_loop_test(tc, test_gemm_b_in_place, 0, 3);
    tcase_add_loop_test(tc, test_gemm_b_rows_direct_matches_packed, 0, 3);
    tcase_add_loop_test(tc, test_gemm_epilogue_matches_separate_pass, 0, 3);
    suite_add_tcase(s, tc);
    tc = gemm_tcase("threads");
    tcase_add_loop_test(tc, test_gemm_threads_bit_identical, 0, 3);
    tcase_add_test(tc, test_gemm_inside_parallel_for);
    suite_add_tcase(s, tc);
    return s;
}
