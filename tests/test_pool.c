/* tests/test_pool.c — pooling: the notes' 4x4 example (max and average, forward and routed
 * gradients), global pooling formulas, ties, overlapping windows, padding with ceil_mode,
 * dilation, 1-D and 3-D, adaptive bins, max-unpool, a brute-force reference over random 2-D
 * configurations, gradient checks over a grid of shapes and attributes, and bad input. */
#include "util.h"

#include <stdlib.h>

/* Runs backward from y with upstream gradient dy (y->numel values). */
static void backward_with(tg_tape *t, tg_tensor *y, const double *dy)
{
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tg_real g[256];
    ck_assert(y->numel <= 256);
    for (int64_t i = 0; i < y->numel; i++) g[i] = (tg_real)dy[i];
    ck_assert_int_eq(tg_backward_with(y, g), TG_OK);
}

static void assert_indices(const tg_tensor *y, const int64_t *want, int64_t n)
{
    const int64_t *idx = tg_pool_indices(y);
    ck_assert_ptr_nonnull(idx);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(idx[i] == want[i], "index %lld: got %lld, want %lld", (long long)i, (long long)idx[i],
                      (long long)want[i]);
}

static tg_pool_attr pool_attr(int64_t k, int64_t s, int64_t p)
{
    tg_pool_attr a = tg_pool_attr_kernel(k, s);
    a.padding = (tg_ints){1, {p}};
    return a;
}

/* The notes' X (Enrichment 7.11.3) as [1,1,4,4]. */
static tg_tensor *notes_x(void)
{
    tg_tensor *x = tt_tensorv((double[]){1, 3, 2, 1, 4, 2, 1, 5, 2, 0, 3, 1, 1, 5, 2, 2}, 4, 1, 1, 4, 4);
    x->requires_grad = true;
    return x;
}
static const double notes_dy[4] = {0.2, -0.3, 0.4, 0.1};

START_TEST(notes_example_max_pool)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = notes_x();
    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    tg_tensor *y = tg_max_pool2d(t, x, &a);
    tt_assert_shape(y, 1, 1, 2, 2);
    /* quadrants: max(1,3,4,2)=4 at (1,0); max(2,1,1,5)=5 at (1,3); max(2,0,1,5)=5 at (3,1);
     * max(3,1,2,2)=3 at (2,2) */
    tt_assert_close(y->data, ((double[]){4, 5, 5, 3}), 4, TT_TOL);
    assert_indices(y, (int64_t[]){1 * 4 + 0, 1 * 4 + 3, 3 * 4 + 1, 2 * 4 + 2}, 4);
    backward_with(t, y, notes_dy);
    tt_assert_close(x->grad, ((double[]){0, 0, 0, 0, 0.2, 0, 0, -0.3, 0, 0, 0.1, 0, 0, 0.4, 0, 0}), 16, TT_TOL);
}
END_TEST

START_TEST(notes_example_avg_pool)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = notes_x();
    tg_pool_attr a = tg_pool_attr_kernel(2, 0); /* stride defaults to the kernel size */
    tg_tensor *y = tg_avg_pool2d(t, x, &a);
    tt_assert_shape(y, 1, 1, 2, 2);
    tt_assert_close(y->data, ((double[]){10 / 4.0, 9 / 4.0, 8 / 4.0, 8 / 4.0}), 4, TT_TOL);
    ck_assert_ptr_null(tg_pool_indices(y));
    backward_with(t, y, notes_dy);
    const double q = 0.05, r = -0.075, s = 0.1, u = 0.025;
    tt_assert_close(x->grad, ((double[]){q, q, r, r, q, q, r, r, s, s, u, u, s, s, u, u}), 16, TT_TOL);
}
END_TEST

START_TEST(global_pooling_formulas)
{
    tg_tape *t = tt_tape();
    /* x[n,c,h,w] = 100n + 10c + 3h + w on [2,2,2,3]: mean over (h,w) = 100n + 10c + 1.5 + 1 */
    double v[24];
    for (int n = 0, i = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 3; w++) v[i++] = 100 * n + 10 * c + 3 * h + w;
    tg_tensor *x = tt_tensorv(v, 4, 2, 2, 2, 3);
    x->requires_grad = true;
    tg_tensor *y = tg_global_avg_pool(t, x);
    tt_assert_shape(y, 2, 2, 1, 1);
    tt_assert_close(y->data, ((double[]){2.5, 12.5, 102.5, 112.5}), 4, TT_TOL);
    backward_with(t, y, (double[]){6, 12, -6, 0});
    double want[24];
    for (int i = 0; i < 24; i++) want[i] = (double[]){6, 12, -6, 0}[i / 6] / 6; /* dL/dO * 1/(HW) */
    tt_assert_close(x->grad, want, 24, TT_TOL);

    /* global max: the maximum 100n+10c+5 sits at (h,w) = (1,2), flat index 5 of each plane */
    tg_tensor_zero_grad(x);
    tg_tape_reset(t);
    y = tg_global_max_pool(t, x);
    tt_assert_shape(y, 2, 2, 1, 1);
    tt_assert_close(y->data, ((double[]){5, 15, 105, 115}), 4, TT_TOL);
    assert_indices(y, (int64_t[]){5, 5, 5, 5}, 4);
    backward_with(t, y, (double[]){1, 2, 3, 4});
    for (int i = 0; i < 24; i++) want[i] = i % 6 == 5 ? i / 6 + 1 : 0;
    tt_assert_close(x->grad, want, 24, TT_TOL);

    /* any rank: 1 and 3 spatial dims */
    tg_tape_reset(t);
    y = tg_global_avg_pool(t, tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 3, 1, 2, 3));
    tt_assert_shape(y, 1, 2, 1);
    tt_assert_close(y->data, ((double[]){2, 5}), 2, TT_TOL);
    double w3[16];
    for (int i = 0; i < 16; i++) w3[i] = i == 9 ? 50 : (i * 7) % 5;
    y = tg_global_max_pool(t, tt_tensorv(w3, 5, 1, 2, 2, 2, 2));
    tt_assert_shape(y, 1, 2, 1, 1, 1);
    tt_assert_close(y->data, ((double[]){4, 50}), 2, TT_TOL);
    assert_indices(y, (int64_t[]){2, 1}, 2); /* (i*7)%5 over 0..7: 0,2,4,1,3,... first 4 at i=2 */
}
END_TEST

/* One window over each whole plane (global, adaptive to 1, a kernel the input's size with or
 * without padding and divisor_override) takes the plane-sum path: against the sum in double over
 * many plane sizes (lengths either side of a vector and a block of the sum), forward and backward
 * (a fresh gradient written, a second backward added). */
START_TEST(whole_plane_averages)
{
    static const int64_t sizes[][3] = {{1, 1, 1}, {1, 1, 7}, {1, 7, 7}, {1, 1, 15}, {1, 1, 17}, {1, 4, 4},
                                       {1, 16, 16}, {1, 17, 16}, {2, 3, 5}, {3, 9, 9}};
    tg_rng r;
    tg_rng_seed(&r, 31);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int variant = 0; variant < 5; variant++) {
            const int64_t d = sizes[si][0], h = sizes[si][1], w = sizes[si][2], plane = d * h * w;
            const int64_t planes = 6; /* [2, 3, ...] */
            const bool three_d = d > 1;
            if (three_d && variant >= 1 && variant <= 2) continue; /* adaptive / explicit kernel: 2-D here */
            tg_tape *t = tt_tape();
            tg_tensor *x = three_d ? tt_random(5, (int64_t[]){2, 3, d, h, w}, 40 + si, -2, 2)
                                   : tt_random(4, (int64_t[]){2, 3, h, w}, 40 + si, -2, 2);
            x->requires_grad = true;
            double divisor = (double)plane;
            tg_tensor *y = NULL;
            tg_pool_attr a = tg_pool_attr_kernel(0, 0);
            a.kernel_size = (tg_ints){2, {h, w}};
            if (variant == 0) {
                y = tg_global_avg_pool(t, x);
            } else if (variant == 1) {
                y = tg_adaptive_avg_pool2d(t, x, 1, 1);
            } else if (variant == 2) {
                y = tg_avg_pool2d(t, x, &a);
            } else if (variant == 3) { /* padding 1 all round, counted: a window of (h+2)(w+2) */
                if (three_d) continue;
                a.kernel_size = (tg_ints){2, {h + 2, w + 2}};
                a.padding = (tg_ints){2, {1, 1}};
                a.count_include_pad = true;
                y = tg_avg_pool2d(t, x, &a);
                divisor = (double)((h + 2) * (w + 2));
            } else {
                if (three_d) continue;
                a.divisor_override = 5;
                y = tg_avg_pool2d(t, x, &a);
                divisor = 5;
            }
            ck_assert_msg(y != NULL, "%s", tg_error(t));
            ck_assert_int_eq(y->numel, planes);
            double dy[6];
            for (int p = 0; p < planes; p++) dy[p] = tg_rng_uniform(&r) - 0.5;
            for (int p = 0; p < planes; p++) {
                double sum = 0;
                for (int64_t i = 0; i < plane; i++) sum += x->data[p * plane + i];
                ck_assert_msg(fabs(y->data[p] - sum / divisor) <= TT_TOL * (1 + fabs(sum / divisor)),
                              "size %zu variant %d plane %d: %.9g, want %.9g", si, variant, p, (double)y->data[p],
                              sum / divisor);
            }
            backward_with(t, y, dy);
            backward_with(t, y, dy); /* a second backward adds */
            for (int64_t i = 0; i < x->numel; i++) {
                const double want = 2 * dy[i / plane] / divisor;
                ck_assert_msg(fabs(x->grad[i] - want) <= TT_TOL * (1 + fabs(want)), "size %zu variant %d dx[%lld]", si,
                              variant, (long long)i);
            }
            tt_cleanup();
        }
}
END_TEST

START_TEST(ties_go_to_first_maximum)
{
    tg_tape *t = tt_tape();
    /* window 1: [[1,3],[3,2]] -> (0,1); window 2: all 7 -> (0,2) */
    tg_tensor *x = tt_tensorv((double[]){1, 3, 7, 7, 3, 2, 7, 7}, 4, 1, 1, 2, 4);
    x->requires_grad = true;
    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    tg_tensor *y = tg_max_pool2d(t, x, &a);
    tt_assert_close(y->data, ((double[]){3, 7}), 2, TT_TOL);
    assert_indices(y, (int64_t[]){1, 2}, 2);
    backward_with(t, y, (double[]){1, 10});
    tt_assert_close(x->grad, ((double[]){0, 1, 10, 0, 0, 0, 0, 0}), 8, TT_TOL);

    /* adaptive and global max follow the same rule */
    tg_tape_reset(t);
    y = tg_global_max_pool(t, x);
    assert_indices(y, (int64_t[]){2}, 1);
    y = tg_adaptive_max_pool2d(t, x, 1, 2);
    assert_indices(y, (int64_t[]){1, 2}, 2);

    /* -inf everywhere still selects the first position; a NaN is the maximum */
    y = tg_max_pool1d(t, tt_tensorv((double[]){-INFINITY, -INFINITY, 1, NAN}, 3, 1, 1, 4), &a);
    ck_assert(isinf(y->data[0]) && y->data[0] < 0);
    ck_assert(isnan(y->data[1]));
    assert_indices(y, (int64_t[]){0, 3}, 2);
}
END_TEST

START_TEST(overlapping_windows_accumulate)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 3, 2, 5, 4}, 3, 1, 1, 5);
    x->requires_grad = true;
    tg_pool_attr a = tg_pool_attr_kernel(3, 1);
    tg_tensor *y = tg_max_pool1d(t, x, &a);
    tt_assert_close(y->data, ((double[]){3, 5, 5}), 3, TT_TOL);
    assert_indices(y, (int64_t[]){1, 3, 3}, 3);
    backward_with(t, y, (double[]){1, 2, 4});
    tt_assert_close(x->grad, ((double[]){0, 1, 0, 6, 0}), 5, TT_TOL);

    tg_tensor_zero_grad(x);
    tg_tape_reset(t);
    y = tg_avg_pool1d(t, x, &a);
    tt_assert_close(y->data, ((double[]){2, 10 / 3.0, 11 / 3.0}), 3, TT_TOL);
    backward_with(t, y, (double[]){1, 2, 4});
    tt_assert_close(x->grad, ((double[]){1 / 3.0, 1, 7 / 3.0, 2, 4 / 3.0}), 5, TT_TOL);

    /* 2-D 3x3/2 on 5x5 (AlexNet's setting): the centre row/col is shared by both windows */
    tg_tensor_zero_grad(x);
    tg_tape_reset(t);
    tg_tensor *z = tt_tensor(4, (int64_t[]){1, 1, 5, 5}, NULL);
    z->data[12] = 9; /* the centre, in all four windows */
    z->requires_grad = true;
    a = tg_pool_attr_kernel(3, 2);
    y = tg_max_pool2d(t, z, &a);
    tt_assert_close(y->data, ((double[]){9, 9, 9, 9}), 4, TT_TOL);
    backward_with(t, y, (double[]){1, 2, 3, 4});
    ck_assert_double_eq_tol(z->grad[12], 10, TT_TOL);
}
END_TEST

START_TEST(padding_and_ceil_mode)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 3, 1, 1, 6);
    x->requires_grad = true;
    /* k=3 s=2 p=1: floor gives 3 windows starting at -1,1,3; ceil_mode adds one at 5 (inside the
     * input), which reaches 2 past the end: only x[5] and one padding position count. */
    tg_pool_attr a = pool_attr(3, 2, 1);
    tt_assert_shape(tg_max_pool1d(t, x, &a), 1, 1, 3);
    a.ceil_mode = true;
    tg_tensor *y = tg_max_pool1d(t, x, &a);
    tt_assert_shape(y, 1, 1, 4);
    tt_assert_close(y->data, ((double[]){2, 4, 6, 6}), 4, TT_TOL);
    assert_indices(y, (int64_t[]){1, 3, 5, 5}, 4);
    backward_with(t, y, (double[]){1, 1, 1, 1});
    tt_assert_close(x->grad, ((double[]){0, 1, 0, 1, 0, 2}), 6, TT_TOL);

    /* average: count_include_pad divides by the window clipped to the padded input (3, 3, 3, 2);
     * without it by the valid count (2, 3, 3, 1) */
    tg_tensor_zero_grad(x);
    tg_tape_reset(t);
    y = tg_avg_pool1d(t, x, &a);
    tt_assert_close(y->data, ((double[]){3 / 3.0, 9 / 3.0, 15 / 3.0, 6 / 2.0}), 4, TT_TOL);
    backward_with(t, y, (double[]){6, 6, 6, 6});
    tt_assert_close(x->grad, ((double[]){2, 4, 2, 4, 2, 5}), 6, TT_TOL);
    tg_tensor_zero_grad(x);
    tg_tape_reset(t);
    a.count_include_pad = false;
    y = tg_avg_pool1d(t, x, &a);
    tt_assert_close(y->data, ((double[]){1.5, 3, 5, 6}), 4, TT_TOL);
    backward_with(t, y, (double[]){6, 6, 6, 6});
    tt_assert_close(x->grad, ((double[]){3, 5, 2, 4, 2, 8}), 6, TT_TOL);
    /* divisor_override replaces the count */
    tg_tape_reset(t);
    a.divisor_override = 10;
    y = tg_avg_pool1d(t, x, &a);
    tt_assert_close(y->data, ((double[]){0.3, 0.9, 1.5, 0.6}), 4, TT_TOL);

    /* the ceil window would start in the right padding: dropped. len 5, k=2 s=2 p=1:
     * ceil((5+2-2)/2)+1 = 4 but window 3 would start at 5 = in + p -> 3 windows */
    tg_tape_reset(t);
    a = pool_attr(2, 2, 1);
    a.ceil_mode = true;
    y = tg_max_pool1d(t, tt_tensorv((double[]){1, 2, 3, 4, 5}, 3, 1, 1, 5), &a);
    tt_assert_shape(y, 1, 1, 3);
    tt_assert_close(y->data, ((double[]){1, 3, 5}), 3, TT_TOL);

    /* max pads with -inf: an all-negative row keeps its own maximum */
    tg_tape_reset(t);
    a = pool_attr(3, 1, 1);
    y = tg_max_pool1d(t, tt_tensorv((double[]){-5, -2, -7}, 3, 1, 1, 3), &a);
    tt_assert_close(y->data, ((double[]){-2, -2, -2}), 3, TT_TOL);
}
END_TEST

START_TEST(dilation)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){5, 1, 4, 2, 3, 0, 6}, 3, 1, 1, 7);
    x->requires_grad = true;
    tg_pool_attr a = tg_pool_attr_kernel(3, 1);
    a.dilation = (tg_ints){1, {2}};
    /* window o reads x[o], x[o+2], x[o+4] */
    tg_tensor *y = tg_max_pool1d(t, x, &a);
    tt_assert_shape(y, 1, 1, 3);
    tt_assert_close(y->data, ((double[]){5, 2, 6}), 3, TT_TOL);
    assert_indices(y, (int64_t[]){0, 3, 6}, 3);
    backward_with(t, y, (double[]){1, 2, 3});
    tt_assert_close(x->grad, ((double[]){1, 0, 0, 2, 0, 0, 3}), 7, TT_TOL);

    /* padding with dilation: p=1, d=2, k=2 on length 4: windows at -1 (taps -1,1), 1 (1,3),
     * 3 (3,5): the padded taps are skipped */
    tg_tape_reset(t);
    a = pool_attr(2, 2, 1);
    a.dilation = (tg_ints){1, {2}};
    y = tg_max_pool1d(t, tt_tensorv((double[]){9, 1, 8, 3}, 3, 1, 1, 4), &a);
    tt_assert_shape(y, 1, 1, 2);
    tt_assert_close(y->data, ((double[]){1, 3}), 2, TT_TOL);
    assert_indices(y, (int64_t[]){1, 3}, 2);

    /* 2-D, different dilation per dim: 3x5 input, k=2, d=(2,3) -> 1x2, taps rows {0,2} cols {c,c+3} */
    tg_tape_reset(t);
    double v[15];
    for (int i = 0; i < 15; i++) v[i] = (i * 11) % 15; /* distinct */
    a = tg_pool_attr_kernel(2, 1);
    a.dilation = (tg_ints){2, {2, 3}};
    y = tg_max_pool2d(t, tt_tensorv(v, 4, 1, 1, 3, 5), &a);
    tt_assert_shape(y, 1, 1, 1, 2);
    for (int c = 0; c < 2; c++) {
        int taps[4] = {c, c + 3, 10 + c, 13 + c}, best = taps[0];
        for (int k = 1; k < 4; k++)
            if (v[taps[k]] > v[best]) best = taps[k];
        ck_assert_double_eq_tol(y->data[c], v[best], TT_TOL);
        ck_assert_int_eq(tg_pool_indices(y)[c], best);
    }
}
END_TEST

START_TEST(three_d_and_unbatched)
{
    tg_tape *t = tt_tape();
    /* [1,1,2,2,4]: k=2 -> [1,1,1,1,2], each output the max of a 2x2x2 block */
    double v[16];
    for (int i = 0; i < 16; i++) v[i] = (i * 5) % 16; /* a permutation of 0..15 */
    tg_tensor *x = tt_tensorv(v, 5, 1, 1, 2, 2, 4);
    x->requires_grad = true;
    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    tg_tensor *y = tg_max_pool3d(t, x, &a);
    tt_assert_shape(y, 1, 1, 1, 1, 2);
    for (int o = 0; o < 2; o++) {
        int best = -1;
        double sum = 0;
        for (int d = 0; d < 2; d++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 2; w++) {
                    int i = d * 8 + h * 4 + 2 * o + w;
                    sum += v[i];
                    if (best < 0 || v[i] > v[best]) best = i;
                }
        ck_assert_double_eq_tol(y->data[o], v[best], TT_TOL);
        ck_assert_int_eq(tg_pool_indices(y)[o], best);
        tg_tensor *z = tg_avg_pool3d(t, x, &a);
        ck_assert_double_eq_tol(z->data[o], sum / 8, TT_TOL);
    }
    backward_with(t, y, (double[]){1, -1});
    double g = 0;
    for (int i = 0; i < 16; i++) g += fabs(x->grad[i]);
    ck_assert_double_eq_tol(g, 2, TT_TOL);

    /* [C,H,W] without a batch: same values as [1,C,H,W] */
    tg_tape_reset(t);
    y = tg_max_pool2d(t, tt_tensorv((double[]){1, 3, 2, 1, 4, 2, 1, 5, 2, 0, 3, 1, 1, 5, 2, 2}, 3, 1, 4, 4), &a);
    tt_assert_shape(y, 1, 2, 2);
    tt_assert_close(y->data, ((double[]){4, 5, 5, 3}), 4, TT_TOL);
    y = tg_max_pool1d(t, tt_tensorv((double[]){1, 2, 3, 4}, 2, 1, 4), &a);
    tt_assert_shape(y, 1, 2);
}
END_TEST

START_TEST(adaptive_bins)
{
    tg_tape *t = tt_tape();
    /* x[i][j] = 5i + j on 5x5 -> 3x2. Row bins [0,2) [1,4) [3,5); column bins [0,3) [2,5).
     * mean = 5*mean(rows) + mean(cols); max = 5*max(rows) + max(cols) */
    double v[25];
    for (int i = 0; i < 25; i++) v[i] = i;
    tg_tensor *x = tt_tensorv(v, 4, 1, 1, 5, 5);
    x->requires_grad = true;
    tg_tensor *y = tg_adaptive_avg_pool2d(t, x, 3, 2);
    tt_assert_shape(y, 1, 1, 3, 2);
    tt_assert_close(y->data, ((double[]){3.5, 5.5, 11, 13, 18.5, 20.5}), 6, TT_TOL);
    backward_with(t, y, (double[]){6, 0, 0, 0, 0, 0});
    /* the first bin is 2x3: each of its inputs gets 6/6 */
    double want[25] = {0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) want[5 * i + j] = 1;
    tt_assert_close(x->grad, want, 25, TT_TOL);

    tg_tape_reset(t);
    y = tg_adaptive_max_pool2d(t, x, 3, 2);
    tt_assert_close(y->data, ((double[]){7, 9, 17, 19, 22, 24}), 6, TT_TOL);
    assert_indices(y, (int64_t[]){7, 9, 17, 19, 22, 24}, 6);

    /* output larger than the input: bins overlap and repeat (3 -> 4: [0,1) [0,2) [1,3) [2,3)) */
    tg_tape_reset(t);
    y = tg_adaptive_avg_pool2d(t, tt_tensorv((double[]){1, 2, 4}, 4, 1, 1, 1, 3), 1, 4);
    tt_assert_close(y->data, ((double[]){1, 1.5, 3, 4}), 4, TT_TOL);
}
END_TEST

START_TEST(max_unpool_scatters_through_indices)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = notes_x();
    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    tg_tensor *y = tg_max_pool2d(t, x, &a);
    tg_tensor *idx = tg_pool_indices_tensor(t, y);
    tt_assert_shape(idx, 1, 1, 2, 2);
    ck_assert_int_eq(idx->dtype, TG_INT64);
    tg_tensor *u = tg_max_unpool2d(t, y, idx, &a);
    tt_assert_shape(u, 1, 1, 4, 4);
    tt_assert_close(u->data, ((double[]){0, 0, 0, 0, 4, 0, 0, 5, 0, 0, 3, 0, 0, 5, 0, 0}), 16, TT_TOL);
    /* d(unpool)/dy gathers; chained with the pool's routing, dx = dU at the maxima */
    double du[16];
    for (int i = 0; i < 16; i++) du[i] = i + 1;
    backward_with(t, u, du);
    tt_assert_close(x->grad, ((double[]){0, 0, 0, 0, 5, 0, 0, 8, 0, 0, 11, 0, 0, 14, 0, 0}), 16, TT_TOL);

    /* output_size: 5x5 is within stride of the default 4x4; spatial or full */
    tg_tape_reset(t);
    y = tg_max_pool2d(t, x, &a);
    a.output_size = (tg_ints){2, {5, 5}};
    u = tg_max_unpool2d(t, y, tg_pool_indices_tensor(t, y), &a);
    tt_assert_shape(u, 1, 1, 5, 5);
    a.output_size = (tg_ints){4, {1, 1, 4, 5}};
    u = tg_max_unpool2d(t, y, tg_pool_indices_tensor(t, y), &a);
    tt_assert_shape(u, 1, 1, 4, 5);

    /* 1-D with hand indices */
    tg_tape_reset(t);
    tg_tensor *v = tt_tensorv((double[]){7, 8}, 3, 1, 1, 2);
    tg_tensor *i1 = tt_track(tg_tensor_new(TG_INT64, 3, (int64_t[]){1, 1, 2}));
    i1->idata[0] = 1;
    i1->idata[1] = 2;
    a = tg_pool_attr_kernel(2, 1); /* default length (2-1)*1 + 2 = 3 */
    u = tg_max_unpool1d(t, v, i1, &a);
    tt_assert_shape(u, 1, 1, 3);
    tt_assert_close(u->data, ((double[]){0, 7, 8}), 3, TT_TOL);

    /* duplicate indices: the later write wins, and only it receives the gradient */
    tg_tape_reset(t);
    v->requires_grad = true;
    i1->idata[0] = 2;
    i1->idata[1] = 2;
    u = tg_max_unpool1d(t, v, i1, &a);
    tt_assert_close(u->data, ((double[]){0, 0, 8}), 3, TT_TOL);
    backward_with(t, u, (double[]){1, 2, 3});
    tt_assert_close(v->grad, ((double[]){0, 3}), 2, TT_TOL);
    tg_tensor *in[2] = {v, i1};
    tt_gradcheck_op(TG_OP_MAX_UNPOOL1D, &a, in, 2);
}
END_TEST

/* ---- brute-force reference: every output position tests every input position for membership ---- */

typedef struct ref_cfg { int64_t h, w, k[2], s[2], p[2], d[2]; bool ceil, include_pad; } ref_cfg;

/* Window o starts at o*s - p. Floor mode keeps the windows that fit in the padded input; ceil
 * mode keeps a window while its predecessor has not reached the padded end, provided it starts
 * inside the input or the left padding. */
static int64_t ref_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode)
{
    const int64_t extent = d * (k - 1) + 1;
    int64_t n = 0;
    for (int64_t o = 0;; o++, n++) {
        bool keep = ceil_mode ? (o - 1) * s + extent < in + 2 * p && o * s - p < in
                              : o * s + extent <= in + 2 * p;
        if (!keep) break;
    }
    return n;
}

static void reference_pool(const ref_cfg *c, bool is_max, const tg_real *x, const tg_real *dy, double *y,
                           double *dx, int64_t oh, int64_t ow)
{
    for (int64_t i = 0; i < c->h * c->w; i++) dx[i] = 0;
    for (int64_t a = 0; a < oh; a++)
        for (int64_t b = 0; b < ow; b++) {
            double best = -INFINITY, sum = 0;
            int64_t arg = -1, valid = 0, padded = 0;
            for (int64_t ki = 0; ki < c->k[0]; ki++)
                for (int64_t kj = 0; kj < c->k[1]; kj++) {
                    int64_t i = a * c->s[0] - c->p[0] + ki * c->d[0], j = b * c->s[1] - c->p[1] + kj * c->d[1];
                    if (i < c->h + c->p[0] && j < c->w + c->p[1]) padded++;
                    if (i < 0 || j < 0 || i >= c->h || j >= c->w) continue;
                    valid++;
                    double v = x[i * c->w + j];
                    sum += v;
                    if (arg < 0 || v > best) best = v, arg = i * c->w + j;
                }
            double g = dy[a * ow + b];
            if (is_max) {
                y[a * ow + b] = best;
                if (arg >= 0) dx[arg] += g;
            } else {
                double n = c->include_pad ? (double)padded : (double)valid;
                y[a * ow + b] = sum / n;
                for (int64_t ki = 0; ki < c->k[0]; ki++)
                    for (int64_t kj = 0; kj < c->k[1]; kj++) {
                        int64_t i = a * c->s[0] - c->p[0] + ki, j = b * c->s[1] - c->p[1] + kj;
                        if (i >= 0 && j >= 0 && i < c->h && j < c->w) dx[i * c->w + j] += g / n;
                    }
            }
        }
}

/* The pooling attributes of a brute-force configuration. */
static tg_pool_attr ref_attr(const ref_cfg *c)
{
    tg_pool_attr a = tg_pool_attr_kernel(0, 0);
    a.kernel_size = (tg_ints){2, {c->k[0], c->k[1]}};
    a.stride = (tg_ints){2, {c->s[0], c->s[1]}};
    a.padding = (tg_ints){2, {c->p[0], c->p[1]}};
    a.dilation = (tg_ints){2, {c->d[0], c->d[1]}};
    a.ceil_mode = c->ceil;
    a.count_include_pad = c->include_pad;
    return a;
}

START_TEST(matches_brute_force_reference)
{
    tg_rng r;
    tg_rng_seed(&r, 7);
    for (int trial = 0; trial < 300; trial++) {
        ref_cfg c;
        c.h = 1 + (int64_t)tg_rng_below(&r, 9);
        c.w = 1 + (int64_t)tg_rng_below(&r, 9);
        bool is_max = tg_rng_below(&r, 2);
        for (int d = 0; d < 2; d++) {
            c.k[d] = 1 + (int64_t)tg_rng_below(&r, 4);
            c.s[d] = 1 + (int64_t)tg_rng_below(&r, 3);
            c.p[d] = (int64_t)tg_rng_below(&r, (uint64_t)(c.k[d] / 2 + 1));
            c.d[d] = is_max ? 1 + (int64_t)tg_rng_below(&r, 2) : 1;
        }
        c.ceil = tg_rng_below(&r, 2);
        c.include_pad = tg_rng_below(&r, 2);
        int64_t oh = ref_out(c.h, c.k[0], c.s[0], c.p[0], c.d[0], c.ceil);
        int64_t ow = ref_out(c.w, c.k[1], c.s[1], c.p[1], c.d[1], c.ceil);
        tg_tape *t = tt_tape();
        tg_tensor *x = tt_random(4, (int64_t[]){1, 1, c.h, c.w}, 1000 + trial, -1, 1);
        x->requires_grad = true;
        tg_pool_attr a = ref_attr(&c);
        tg_tensor *y = is_max ? tg_max_pool2d(t, x, &a) : tg_avg_pool2d(t, x, &a);
        if (oh < 1 || ow < 1) {
            ck_assert_msg(y == NULL, "trial %d: expected an error for an empty output", trial);
            tt_cleanup();
            continue;
        }
        ck_assert_msg(y != NULL, "trial %d: %s", trial, tg_error(t));
        ck_assert_msg(y->shape[2] == oh && y->shape[3] == ow, "trial %d (%lldx%lld k%lld,%lld s%lld,%lld p%lld,%lld d%lld,%lld ceil %d): got %lldx%lld, want %lldx%lld",
                      trial, (long long)c.h, (long long)c.w, (long long)c.k[0], (long long)c.k[1], (long long)c.s[0],
                      (long long)c.s[1], (long long)c.p[0], (long long)c.p[1], (long long)c.d[0], (long long)c.d[1],
                      c.ceil, (long long)y->shape[2], (long long)y->shape[3], (long long)oh, (long long)ow);
        tg_real dy[128];
        tg_rng_seed(&r, 5000 + (uint64_t)trial);
        for (int64_t i = 0; i < oh * ow; i++) dy[i] = (tg_real)(tg_rng_uniform(&r) - 0.5);
        double want_y[128], want_dx[128];
        reference_pool(&c, is_max, x->data, dy, want_y, want_dx, oh, ow);
        /* a dilated window can miss every input position: -inf on both sides */
        for (int64_t i = 0; i < oh * ow; i++)
            if (isinf(want_y[i]) && isinf(y->data[i]) && y->data[i] < 0) want_y[i] = y->data[i] = -1e30;
        tt_assert_close(y->data, want_y, oh * ow, TT_TOL);
        ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
        tt_assert_close(x->grad, want_dx, c.h * c.w, TT_TOL);
        tt_cleanup();
    }
}
END_TEST

/* Rows past ops/kernels/pool.c's AVG_ROW_MAX (1024) take the average pool's per-window loop, shorter
 * ones the by-rows sums: both against the brute force, either side of the bound. */
START_TEST(matches_brute_force_reference_long_rows)
{
    tg_rng r;
    tg_rng_seed(&r, 11);
    for (int trial = 0; trial < 16; trial++) {
        ref_cfg c;
        c.h = 1 + (int64_t)tg_rng_below(&r, 3);
        c.w = (trial % 2 ? 1025 : 990) + (int64_t)tg_rng_below(&r, 60);
        const bool is_max = trial % 4 == 3;
        for (int d = 0; d < 2; d++) {
            c.k[d] = 1 + (int64_t)tg_rng_below(&r, 3);
            c.s[d] = 1 + (int64_t)tg_rng_below(&r, 3);
            c.p[d] = (int64_t)tg_rng_below(&r, (uint64_t)(c.k[d] / 2 + 1));
            c.d[d] = 1;
        }
        c.ceil = tg_rng_below(&r, 2);
        c.include_pad = tg_rng_below(&r, 2);
        const int64_t oh = ref_out(c.h, c.k[0], c.s[0], c.p[0], 1, c.ceil);
        const int64_t ow = ref_out(c.w, c.k[1], c.s[1], c.p[1], 1, c.ceil);
        if (oh < 1 || ow < 1) continue;
        tg_tape *t = tt_tape();
        tg_tensor *x = tt_random(4, (int64_t[]){1, 1, c.h, c.w}, 3000 + trial, -1, 1);
        x->requires_grad = true;
        tg_pool_attr a = ref_attr(&c);
        tg_tensor *y = is_max ? tg_max_pool2d(t, x, &a) : tg_avg_pool2d(t, x, &a);
        ck_assert_msg(y != NULL, "trial %d: %s", trial, tg_error(t));
        ck_assert_int_eq(y->shape[2] * y->shape[3], oh * ow);
        tg_real *dy = malloc((size_t)(oh * ow) * sizeof *dy);
        double *want_y = malloc((size_t)(oh * ow) * sizeof *want_y), *want_dx = malloc((size_t)(c.h * c.w) * sizeof *want_dx);
        ck_assert(dy && want_y && want_dx);
        for (int64_t i = 0; i < oh * ow; i++) dy[i] = (tg_real)(tg_rng_uniform(&r) - 0.5);
        reference_pool(&c, is_max, x->data, dy, want_y, want_dx, oh, ow);
        tt_assert_close(y->data, want_y, oh * ow, TT_TOL);
        ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
        tt_assert_close(x->grad, want_dx, c.h * c.w, TT_TOL);
        free(dy), free(want_y), free(want_dx);
        tt_cleanup();
    }
}
END_TEST

/* ---- gradient checks over a grid of shapes and attributes ---- */

START_TEST(gradcheck_sliding_windows)
{
    const int64_t shapes[][5] = {{2, 3, 7, 0, 0}, {1, 1, 5, 6, 0}, {2, 2, 4, 7, 0}, {1, 2, 3, 4, 5}, {1, 1, 1, 6, 1}};
    const int ranks[] = {1, 2, 2, 3, 3};
    const int ops_max[3] = {TG_OP_MAX_POOL1D, TG_OP_MAX_POOL2D, TG_OP_MAX_POOL3D};
    const int ops_avg[3] = {TG_OP_AVG_POOL1D, TG_OP_AVG_POOL2D, TG_OP_AVG_POOL3D};
    int checked = 0;
    for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
        const int r = ranks[s];
        for (int k = 1; k <= 3; k++)
            for (int st = 1; st <= 2; st++)
                for (int p = 0; p <= k / 2; p++)
                    for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++)
                        for (int variant = 0; variant < 2; variant++) { /* dilation 2 / exclude pad */
                            tg_tensor *x = tt_random(r + 2, shapes[s], 31 * s + 7 * k + st, -2, 2);
                            tg_pool_attr a = pool_attr(k, st, p);
                            a.ceil_mode = ceil_mode;
                            a.dilation = (tg_ints){1, {variant ? 2 : 1}};
                            tg_tape *t = tt_tape();
                            tg_tensor *probe = tg_op_apply(t, ops_max[r - 1], &x, 1, &a);
                            if (probe) { /* some dilated windows do not fit small dims */
                                tt_gradcheck_op(ops_max[r - 1], &a, &x, 1);
                                checked++;
                            }
                            a.dilation = (tg_ints){1, {1}};
                            a.count_include_pad = !variant;
                            if (tg_op_apply(t, ops_avg[r - 1], &x, 1, &a)) {
                                tt_gradcheck_op(ops_avg[r - 1], &a, &x, 1);
                                checked++;
                            }
                            tt_cleanup();
                        }
    }
    ck_assert_int_gt(checked, 200);
}
END_TEST

START_TEST(gradcheck_global_adaptive_unpool)
{
    const int64_t shapes[][5] = {{2, 3, 5, 0, 0}, {1, 2, 3, 4, 0}, {2, 1, 2, 3, 2}};
    for (int s = 0; s < 3; s++) {
        tg_tensor *x = tt_random(3 + s, shapes[s], 90 + s, -2, 2);
        tt_gradcheck_op(TG_OP_GLOBAL_AVG_POOL, NULL, &x, 1);
        tt_gradcheck_op(TG_OP_GLOBAL_MAX_POOL, NULL, &x, 1);
    }
    tt_cleanup();
    const int64_t in_hw[][2] = {{5, 5}, {4, 7}, {1, 3}, {6, 2}};
    const int64_t out_hw[][2] = {{3, 2}, {4, 7}, {2, 5}, {1, 1}};
    for (int s = 0; s < 4; s++)
        for (int o = 0; o < 4; o++) {
            tg_tensor *x = tt_random(4, (int64_t[]){2, 2, in_hw[s][0], in_hw[s][1]}, 40 + 4 * s + o, -2, 2);
            tg_pool_attr a = tg_pool_attr_kernel(0, 0);
            a.output_size = (tg_ints){2, {out_hw[o][0], out_hw[o][1]}};
            tt_gradcheck_op(TG_OP_ADAPTIVE_AVG_POOL2D, &a, &x, 1);
            tt_gradcheck_op(TG_OP_ADAPTIVE_MAX_POOL2D, &a, &x, 1);
            tt_cleanup();
        }
    /* unpool: indices from a non-overlapping max pool of each rank */
    const int ops_pool[3] = {TG_OP_MAX_POOL1D, TG_OP_MAX_POOL2D, TG_OP_MAX_POOL3D};
    const int ops_unpool[3] = {TG_OP_MAX_UNPOOL1D, TG_OP_MAX_UNPOOL2D, TG_OP_MAX_UNPOOL3D};
    const int64_t ushapes[][5] = {{2, 2, 7, 0, 0}, {1, 3, 5, 4, 0}, {1, 1, 4, 3, 5}};
    for (int r = 1; r <= 3; r++)
        for (int k = 1; k <= 3; k++) {
            tg_tape *t = tt_tape();
            tg_tensor *src = tt_random(r + 2, ushapes[r - 1], 70 + r * 3 + k, -1, 1);
            tg_pool_attr a = tg_pool_attr_kernel(k, 0);
            tg_tensor *y = tg_op_apply(t, ops_pool[r - 1], &src, 1, &a);
            a.output_size.n = r + 2; /* back to the pooled input's size */
            memcpy(a.output_size.v, src->shape, sizeof(int64_t) * (size_t)(r + 2));
            ck_assert_msg(y != NULL, "%s", tg_error(t));
            tg_tensor *x = tt_random(y->ndim, y->shape, 80 + r + k, -1, 1);
            tg_tensor *idx = tt_track(tg_tensor_new(TG_INT64, y->ndim, y->shape));
            memcpy(idx->idata, tg_pool_indices(y), (size_t)y->numel * sizeof(int64_t));
            tg_tensor *in[2] = {x, idx};
            tt_gradcheck_op(ops_unpool[r - 1], &a, in, 2);
            tt_cleanup();
        }
}
END_TEST

START_TEST(attributes_parse_with_pytorch_names)
{
    tg_pool_attr a;
    char err[160];
    tg_attr_defaults(TG_OP_MAX_POOL2D, &a);
    ck_assert_int_eq(a.kernel_size.n, 0);
    ck_assert_int_eq(a.stride.n, 0);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MAX_POOL2D, &a, "kernel_size=3", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MAX_POOL2D, &a, "stride=2,1", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MAX_POOL2D, &a, "ceil_mode=True", err, sizeof err), 0);
    ck_assert_int_ne(tg_attr_parse(TG_OP_MAX_POOL2D, &a, "count_include_pad=0", err, sizeof err), 0);
    tg_attr_defaults(TG_OP_AVG_POOL2D, &a);
    ck_assert(a.count_include_pad);
    ck_assert_int_eq(a.divisor_override, TG_DIM_NONE);
    ck_assert_int_eq(tg_attr_parse(TG_OP_AVG_POOL2D, &a, "divisor_override=3", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_parse(TG_OP_ADAPTIVE_AVG_POOL2D, &a, "output_size=3,2", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MAX_UNPOOL2D, &a, "output_size=1,1,4,4", err, sizeof err), 0);

    /* the shape function resolves stride = kernel_size into the node's copy */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_random(4, (int64_t[]){1, 1, 6, 6}, 3, 0, 1);
    x->requires_grad = true;
    tg_attr_defaults(TG_OP_MAX_POOL2D, &a);
    tg_attr_parse(TG_OP_MAX_POOL2D, &a, "kernel_size=3", err, sizeof err);
    tg_tensor *y = tg_op_apply(t, TG_OP_MAX_POOL2D, &x, 1, &a);
    tt_assert_shape(y, 1, 1, 2, 2);
    char buf[200];
    tg_attr_format(TG_OP_MAX_POOL2D, y->node->attr, false, buf, sizeof buf);
    ck_assert_msg(!strcmp(buf, "kernel_size=3 stride=3"), "%s", buf);
    for (int id = TG_OP_MAX_POOL1D; id <= TG_OP_MAX_UNPOOL3D; id++) {
        ck_assert_int_eq(tg_op_find(tg_op_get(id)->name), id);
        ck_assert_ptr_nonnull(tg_op_get(id)->backward);
    }
    /* indices are kept without a recorded graph too */
    tg_tape_reset(t);
    tg_no_grad_begin(t);
    y = tg_global_max_pool(t, x);
    tg_no_grad_end(t);
    ck_assert_ptr_nonnull(tg_pool_indices(y));
    ck_assert_ptr_null(tg_pool_indices(NULL));
}
END_TEST

START_TEST(bad_inputs)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv(NULL, 4, 1, 1, 4, 4);
    tg_pool_attr a = pool_attr(3, 1, 2);
    tt_assert_error(t, tg_max_pool2d(t, x, &a), "max_pool2d: padding 2 must be at most half of kernel_size 3 (x=[1,1,4,4])");
    tg_tape_reset(t);
    a = tg_pool_attr_kernel(5, 1);
    tt_assert_error(t, tg_max_pool2d(t, x, &a), "max_pool2d: kernel_size 5 is larger than the padded input size 4 in spatial dim 0 (x=[1,1,4,4])");
    tg_tape_reset(t);
    a = tg_pool_attr_kernel(3, 1);
    a.dilation = (tg_ints){1, {2}};
    tt_assert_error(t, tg_max_pool2d(t, x, &a), "max_pool2d: kernel_size 3 with dilation 2 spans 5, more than the padded input size 4");
    tg_tape_reset(t);
    a = tg_pool_attr_kernel(2, 1);
    a.stride = (tg_ints){2, {1, 0}};
    tt_assert_error(t, tg_avg_pool2d(t, x, &a), "avg_pool2d: stride must be positive, got 0 (x=[1,1,4,4])");
    tg_tape_reset(t);
    a = tg_pool_attr_kernel(2, 2);
    tt_assert_error(t, tg_max_pool2d(t, tt_tensorv(NULL, 2, 4, 4), &a), "max_pool2d: input must be 3-D or 4-D ([N,]C,H,W), got 2-D (x=[4,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_max_pool3d(t, tt_tensorv(NULL, 3, 1, 4, 4), &a), "max_pool3d: input must be 4-D or 5-D");
    tg_tape_reset(t);
    tt_assert_error(t, tg_avg_pool1d(t, x, &a), "avg_pool1d: input must be 2-D or 3-D");
    tg_tape_reset(t);
    a.kernel_size = (tg_ints){3, {2, 2, 2}};
    tt_assert_error(t, tg_max_pool2d(t, x, &a), "max_pool2d: kernel_size has 3 values, expected 1 or 2");
    tg_tape_reset(t);
    tt_assert_error(t, tg_max_pool2d(t, x, NULL), "max_pool2d: kernel_size is required (x=[1,1,4,4])");
    tg_tape_reset(t);
    a = tg_pool_attr_kernel(2, 2);
    a.padding = (tg_ints){1, {-1}};
    tt_assert_error(t, tg_avg_pool2d(t, x, &a), "avg_pool2d: padding must be non-negative, got -1");
    tg_tape_reset(t);
    tt_assert_error(t, tg_global_avg_pool(t, tt_tensorv(NULL, 2, 4, 4)), "global_avg_pool: input must be [N,C,spatial...] with at least one spatial dim, got 2-D (x=[4,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_global_max_pool(t, tt_tensorv(NULL, 3, 1, 2, 0)), "global_max_pool: input has an empty spatial dim 0 (x=[1,2,0])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_adaptive_avg_pool2d(t, x, 0, 2), "adaptive_avg_pool2d: output_size must be positive, got 0");
    tg_tape_reset(t);
    tt_assert_error(t, tg_adaptive_max_pool2d(t, tt_tensorv(NULL, 2, 1, 4), 2, 2), "adaptive_max_pool2d: input must be 3-D or 4-D");
    tg_tape_reset(t);
    tt_assert_error(t, tg_max_pool2d(t, NULL, &a), "max_pool2d: input is NULL");

    /* max_unpool */
    tg_tape_reset(t);
    a = tg_pool_attr_kernel(2, 2);
    tg_tensor *v = tt_tensorv((double[]){1, 2, 3, 4}, 4, 1, 1, 2, 2);
    tg_tensor *idx = tt_track(tg_tensor_new(TG_INT64, 4, (int64_t[]){1, 1, 2, 2}));
    idx->idata[0] = 0, idx->idata[1] = 3, idx->idata[2] = 16, idx->idata[3] = 9;
    tt_assert_error(t, tg_max_unpool2d(t, v, idx, &a), "max_unpool2d: index 16 at position 2 is outside the output plane of 16 values (x=[1,1,2,2] output=[1,1,4,4])");
    tg_tape_reset(t);
    tg_tensor *idx3 = tt_track(tg_tensor_new(TG_INT64, 4, (int64_t[]){1, 1, 2, 3}));
    tt_assert_error(t, tg_max_unpool2d(t, v, idx3, &a), "max_unpool2d: indices must have the input's shape (x=[1,1,2,2] indices=[1,1,2,3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_max_unpool2d(t, v, v, &a), "max_unpool2d: indices must be int64");
    tg_tape_reset(t);
    idx->idata[2] = 5;
    a.output_size = (tg_ints){2, {6, 4}};
    tt_assert_error(t, tg_max_unpool2d(t, v, idx, &a), "max_unpool2d: output_size 6 in spatial dim 0 must be between 3 and 5 (x=[1,1,2,2])");
    tg_tape_reset(t);
    a.output_size = (tg_ints){3, {1, 4, 4}};
    tt_assert_error(t, tg_max_unpool2d(t, v, idx, &a), "max_unpool2d: output_size has 3 values, expected 2 (spatial) or 4");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pool_indices_tensor(t, v), "pool_indices: the tensor has no max-pool indices (x=[1,1,2,2])");
}
END_TEST

/* A pool whose input is an op output writes that input's first gradient (each plane zeroed on its
 * thread first) instead of adding to a zeroed buffer: x -> relu (identity on positive values) ->
 * pool must give x a leaf input's gradient, on an arena full of old values, with 1-3 threads,
 * for overlapping max windows, padded average windows, a 3-D max and a 1-D average with a
 * remainder no window reads (its gradient must be 0, not the arena's old value). */
START_TEST(fresh_input_gradient_is_written)
{
    enum { CASES = 4 };
    for (int c = 0; c < CASES; c++) {
        tg_pool_attr a = tg_pool_attr_kernel(3, 2);
        if (c == 1) a.padding = (tg_ints){1, {1}}, a.count_include_pad = true;
        if (c == 3) a = tg_pool_attr_kernel(2, 3); /* windows of 2 every 3: one input in 3 unread */
        const int64_t s4[4] = {3, 4, 9, 11}, s5[5] = {2, 3, 5, 7, 6}, s3[3] = {4, 3, 17};
        tg_tensor *x = c == 2 ? tt_random(5, s5, 3100, 0.5, 1.5) : c == 3 ? tt_random(3, s3, 3103, 0.5, 1.5)
                                                                        : tt_random(4, s4, 3100 + c, 0.5, 1.5);
        x->requires_grad = true;
        tg_tape *t = tt_tape();
#define POOL(in) (c == 0 ? tg_max_pool2d(t, (in), &a) : c == 1 ? tg_avg_pool2d(t, (in), &a) \
                  : c == 2 ? tg_max_pool3d(t, (in), &a) : tg_avg_pool1d(t, (in), &a))
        tg_tensor *y = POOL(x);
        ck_assert_msg(y != NULL, "case %d: %s", c, tg_error(t));
        tg_tensor *dy = tt_random(y->ndim, y->shape, 3200 + c, -1, 1);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        double *want = tt_grad_copy(x);
        for (int threads = 1; threads <= 3; threads++) {
            tg_set_threads(threads);
            tt_dirty_arena(t, 4752);
            tg_tensor_zero_grad(x);
            y = POOL(tg_relu(t, x));
            ck_assert_msg(y != NULL, "case %d: %s", c, tg_error(t));
            ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
            tt_assert_close(x->grad, want, x->numel, TT_DOUBLE ? 1e-12 : 1e-6);
        }
#undef POOL
        tg_set_threads(1);
        free(want); /* x, dy and the tape are the test's: freed at teardown */
    }
}
END_TEST

static void add_fast_max_tests(TCase *tc); /* the fast max forward's block, at the end */

Suite *suite_pool(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tt_tcase("pool");
    tcase_add_test(tc, notes_example_max_pool);
    tcase_add_test(tc, notes_example_avg_pool);
    tcase_add_test(tc, global_pooling_formulas);
    tcase_add_test(tc, whole_plane_averages);
    tcase_add_test(tc, ties_go_to_first_maximum);
    tcase_add_test(tc, overlapping_windows_accumulate);
    tcase_add_test(tc, padding_and_ceil_mode);
    tcase_add_test(tc, dilation);
    tcase_add_test(tc, three_d_and_unbatched);
    tcase_add_test(tc, adaptive_bins);
    tcase_add_test(tc, max_unpool_scatters_through_indices);
    tcase_add_test(tc, matches_brute_force_reference);
    tcase_add_test(tc, matches_brute_force_reference_long_rows);
    tcase_add_test(tc, gradcheck_sliding_windows);
    tcase_add_test(tc, gradcheck_global_adaptive_unpool);
    tcase_add_test(tc, attributes_parse_with_pytorch_names);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, fresh_input_gradient_is_written);
    add_fast_max_tests(tc);
    suite_add_tcase(s, tc);
    return s;
}

/* ==== fast max-pool forward ====
 * Max pooling's forward sends windows that lie inside the input with dilation 1 along the last
 * dim through a specialised kernel (AVX-512 when the CPU has it, else portable C) and the rest
 * through the general table-driven loop. These tests hold every path to the others bitwise
 * (values and indices) and to a brute-force scan of the rule: the last NaN of the window if there
 * is one, else the first maximum in row-major window order. */
#include "../ops/kernels/pool.h"

/* x:[1,1,2,34], 2x2/2: 17 outputs, one whole vector (16 floats, or two of 8 doubles) and a tail.
 * Everything is 1 (ties: the window's first position) except the entries set below. */
START_TEST(fast_max_hand_example)
{
    double v[68];
    for (int i = 0; i < 68; i++) v[i] = 1;
    v[34 + 5] = 2;                    /* out 2: the 2 at (1,5) -> 39 */
    v[8] = NAN, v[34 + 9] = NAN;      /* out 4: the last NaN, (1,9) -> 43 */
    v[13] = NAN;                      /* out 6: the NaN at (0,13) -> 13, after a 1 ... */
    v[34 + 13] = 5;                   /* ... and before a larger value */
    v[30] = -INFINITY;                /* out 15: the first 1 is (0,31) -> 31 */
    v[20] = v[21] = v[54] = v[55] = -INFINITY; /* out 10: all -inf -> first position 20 */
    v[34 + 32] = 3;                   /* out 16 (the tail): (1,32) -> 66 */
    v[34 + 27] = 2, v[26] = 2;        /* out 13: tie of 2s, row 0 first -> 26 */
    tg_tensor *x = tt_tensorv(v, 4, 1, 1, 2, 34);
    tg_tape *t = tt_tape();
    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    tg_tensor *y = tg_max_pool2d(t, x, &a);
    tt_assert_shape(y, 1, 1, 1, 17);
    int64_t want[17];
    for (int j = 0; j < 17; j++) want[j] = 2 * j;
    want[2] = 39, want[4] = 43, want[6] = 13, want[15] = 31, want[10] = 20, want[16] = 66, want[13] = 26;
    assert_indices(y, want, 17);
    for (int j = 0; j < 17; j++) {
        const tg_real got = y->data[j];
        if (j == 4 || j == 6) ck_assert_msg(isnan(got), "out %d: want NaN, got %g", j, (double)got);
        else if (j == 10) ck_assert_msg(isinf(got) && got < 0, "out 10: want -inf, got %g", (double)got);
        else ck_assert_msg(got == (j == 2 || j == 13 ? 2 : j == 16 ? 3 : 1), "out %d: got %g", j, (double)got);
    }
}
END_TEST

/* Brute force over output (o[0], o[1], o[2]) of a rank-3 (padded) window description: window
 * dim i starts at o[i]*s[i] - p[i] and has k[i] taps d[i] apart; positions outside the input
 * do not count. Returns the rule's flat index, or -1 when no position is inside. */
static int64_t rule_argmax(const tg_real *x, const int64_t *in, const int64_t *o, const int64_t *k,
                           const int64_t *s, const int64_t *p, const int64_t *d)
{
    int64_t first = -1, best = -1, last_nan = -1;
    for (int64_t a = 0; a < k[0]; a++)
        for (int64_t b = 0; b < k[1]; b++)
            for (int64_t c = 0; c < k[2]; c++) {
                const int64_t i0 = o[0] * s[0] - p[0] + a * d[0], i1 = o[1] * s[1] - p[1] + b * d[1],
                              i2 = o[2] * s[2] - p[2] + c * d[2];
                if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= in[0] || i1 >= in[1] || i2 >= in[2]) continue;
                const int64_t pos = (i0 * in[1] + i1) * in[2] + i2;
                if (first < 0) first = pos;
                if (isnan(x[pos])) last_nan = pos;
                else if (best < 0 ? x[pos] > -INFINITY : x[pos] > x[best]) best = pos;
            }
    return last_nan >= 0 ? last_nan : best >= 0 ? best : first;
}

START_TEST(fast_max_matches_general_and_rule)
{
    static const int ops[3] = {TG_OP_MAX_POOL1D, TG_OP_MAX_POOL2D, TG_OP_MAX_POOL3D};
    tg_rng r;
    tg_rng_seed(&r, 2026);
    int checked = 0;
    for (int trial = 0; trial < 700; trial++) {
        const uint64_t pick = tg_rng_below(&r, 10);
        const int rank = pick < 7 ? 2 : pick < 8 ? 1 : 3;
        /* padded to 3 spatial dims on the left: in = 1, k = s = 1, p = 0, d = 1 there */
        int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
        const int64_t widest[3] = {5, 9, 75}; /* last dim: several vectors, ragged ends */
        tg_pool_attr a = tg_pool_attr_kernel(0, 0);
        a.kernel_size.n = a.stride.n = a.padding.n = a.dilation.n = rank;
        for (int i = 3 - rank; i < 3; i++) {
            const int j = i - (3 - rank);
            in[i] = 1 + (int64_t)tg_rng_below(&r, (uint64_t)(rank == 1 ? 100 : widest[i]));
            k[i] = 1 + (int64_t)tg_rng_below(&r, 4);
            s[i] = 1 + (int64_t)tg_rng_below(&r, 5); /* 3-5: the SIMD runs' gathers */
            p[i] = (int64_t)tg_rng_below(&r, (uint64_t)(k[i] / 2 + 1));
            d[i] = tg_rng_below(&r, 5) ? 1 : 2;
            a.kernel_size.v[j] = k[i], a.stride.v[j] = s[i], a.padding.v[j] = p[i], a.dilation.v[j] = d[i];
        }
        a.ceil_mode = tg_rng_below(&r, 2);
        const int64_t n = 1 + (int64_t)tg_rng_below(&r, 2), c = 1 + (int64_t)tg_rng_below(&r, 3);
        int64_t xshape[5] = {n, c};
        for (int i = 0; i < rank; i++) xshape[2 + i] = in[3 - rank + i];
        tg_tensor *x = tt_random(rank + 2, xshape, 100 + (uint64_t)trial, 0, 1);
        x->requires_grad = true; /* so the op records its node (the kernel geometry) */
        for (int64_t i = 0; i < x->numel; i++) { /* many ties, some NaN and -inf */
            const uint64_t v = tg_rng_below(&r, 40);
            x->data[i] = v < 2 ? (tg_real)NAN : v < 4 ? (tg_real)-INFINITY : (tg_real)(v % 3);
        }
        tg_tape *t = tt_tape();
        tg_tensor *y = tg_op_apply(t, ops[rank - 1], &x, 1, &a);
        if (!y) { /* a kernel wider than the padded input: not a pooling */
            tt_cleanup();
            continue;
        }
        const tg_real *yb = y->data;
        const int64_t *ib = tg_pool_indices(y);
        const tg_pool_geom *g = y->node->saved;
        const int64_t m = y->numel;
        static const char *const path_names[] = {"best", "portable", "general", "avx2"};
        /* without indices (inference): the same maxima on every path, nothing else written */
        for (int path = TG_POOL_MAX_BEST; path <= TG_POOL_MAX_AVX2; path++) {
            tg_real *y2 = tg_tape_alloc(t, (size_t)m * sizeof *y2);
            ck_assert(y2);
            tg_pool_max_forward_path(g, x->data, y2, NULL, (tg_pool_max_path)path);
            ck_assert_msg(!memcmp(y2, yb, (size_t)m * sizeof *y2), "trial %d: the %s path without indices differs",
                          trial, path_names[path]);
        }
        for (int path = TG_POOL_MAX_PORTABLE; path <= TG_POOL_MAX_AVX2; path++) {
            tg_real *y2 = tg_tape_alloc(t, (size_t)m * sizeof *y2);
            int64_t *i2 = tg_tape_alloc(t, (size_t)m * sizeof *i2);
            ck_assert(y2 && i2);
            tg_pool_max_forward_path(g, x->data, y2, i2, (tg_pool_max_path)path);
            for (int64_t o = 0; o < m; o++)
                ck_assert_msg(i2[o] == ib[o] && !memcmp(&y2[o], &yb[o], sizeof *y2),
                              "trial %d (in %lldx%lldx%lld k%lld,%lld,%lld s%lld,%lld,%lld p%lld,%lld,%lld "
                              "d%lld,%lld,%lld ceil %d), output %lld: the %s path gives %g at %lld, the default "
                              "(%s) %g at %lld",
                              trial, (long long)in[0], (long long)in[1], (long long)in[2], (long long)k[0],
                              (long long)k[1], (long long)k[2], (long long)s[0], (long long)s[1], (long long)s[2],
                              (long long)p[0], (long long)p[1], (long long)p[2], (long long)d[0], (long long)d[1],
                              (long long)d[2], a.ceil_mode, (long long)o, path_names[path], (double)y2[o],
                              (long long)i2[o], tg_pool_max_kernel_name(), (double)yb[o], (long long)ib[o]);
        }
        int64_t oshape[3] = {1, 1, 1};
        for (int i = 0; i < rank; i++) oshape[3 - rank + i] = y->shape[2 + i];
        const int64_t in_plane = in[0] * in[1] * in[2], out_plane = oshape[0] * oshape[1] * oshape[2];
        for (int64_t pl = 0; pl < n * c; pl++)
            for (int64_t o = 0; o < out_plane; o++) {
                const int64_t oo[3] = {o / (oshape[1] * oshape[2]), o / oshape[2] % oshape[1], o % oshape[2]};
                const tg_real *xp = x->data + pl * in_plane;
                const int64_t want = rule_argmax(xp, in, oo, k, s, p, d), got = ib[pl * out_plane + o];
                ck_assert_msg(got == want, "trial %d plane %lld out %lld: index %lld, want %lld", trial,
                              (long long)pl, (long long)o, (long long)got, (long long)want);
                const tg_real want_y = want >= 0 ? xp[want] : (tg_real)-INFINITY;
                ck_assert_msg(!memcmp(&yb[pl * out_plane + o], &want_y, sizeof want_y),
                              "trial %d plane %lld out %lld: value %g, want %g", trial, (long long)pl,
                              (long long)o, (double)yb[pl * out_plane + o], (double)want_y);
            }
        checked++;
        tt_cleanup();
    }
    ck_assert_int_gt(checked, 500);
}
END_TEST

/* Global max pooling (one window over each whole plane: pool_whole_max.h's lanes): every path
 * gives the general loop's maximum and index, and both follow the rule — the first maximum, and a
 * NaN wins, the last one — over planes of 1 to 70 values (part vectors, one vector of each width,
 * several), 255 and 1000; 1-D, 2-D and 3-D; ties, NaN, -inf and -0/+0 where they fall. */
START_TEST(global_max_every_path)
{
    tg_rng r;
    tg_rng_seed(&r, 808);
    static const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 70, 255, 1000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int kind = 0; kind < 5; kind++) {
            const int64_t plane = sizes[si], n = 2, c = 3;
            /* 1-D [plane], 2-D [1, plane] or [plane, 1], 3-D [1, 1, plane] */
            const int rank = kind == 0 ? 1 : kind < 3 ? 2 : 3;
            int64_t shape[5] = {n, c, 1, 1, 1};
            shape[kind == 1 ? 2 : 1 + rank] = plane;
            tg_tensor *x = tt_random(rank + 2, shape, 900 + si * 5 + (uint64_t)kind, 0, 1);
            x->requires_grad = true;
            for (int64_t i = 0; i < x->numel; i++) {
                const uint64_t v = tg_rng_below(&r, 50);
                /* kind 4: no NaN (the largest value's first position); else a few */
                x->data[i] = v < 1 && kind != 4 ? (tg_real)NAN : v < 4 ? (tg_real)-INFINITY
                             : v < 6 ? (tg_real)-0.0 : v < 8 ? (tg_real)0.0 : (tg_real)(v % 7);
            }
            tg_tape *t = tt_tape();
            tg_tensor *y = tg_global_max_pool(t, x);
            ck_assert_msg(y != NULL, "%s", tg_error(t));
            const tg_pool_geom *g = y->node->saved;
            const int64_t *ib = tg_pool_indices(y);
            for (int64_t p = 0; p < n * c; p++) { /* the rule, plane by plane */
                const tg_real *xp = x->data + p * plane;
                int64_t want = 0;
                tg_real best = (tg_real)-INFINITY;
                for (int64_t i = 0; i < plane; i++)
                    if (xp[i] > best || xp[i] != xp[i]) best = xp[i], want = i;
                ck_assert_msg(ib[p] == want && !memcmp(&y->data[p], &xp[want], sizeof best),
                              "plane %lld of %lld values (kind %d): index %lld, want %lld", (long long)p,
                              (long long)plane, kind, (long long)ib[p], (long long)want);
            }
            for (int path = TG_POOL_MAX_BEST; path <= TG_POOL_MAX_AVX2; path++) {
                tg_real y2[6];
                int64_t i2[6];
                tg_pool_max_forward_path(g, x->data, y2, i2, (tg_pool_max_path)path);
                ck_assert(!memcmp(y2, y->data, sizeof y2) && !memcmp(i2, ib, sizeof i2));
                tg_pool_max_forward_path(g, x->data, y2, NULL, (tg_pool_max_path)path);
                ck_assert(!memcmp(y2, y->data, sizeof y2));
            }
            tt_cleanup();
        }
}
END_TEST

static void add_fast_max_tests(TCase *tc)
{
    tcase_add_test(tc, fast_max_hand_example);
    tcase_add_test(tc, fast_max_matches_general_and_rule);
    tcase_add_test(tc, global_max_every_path);
}
