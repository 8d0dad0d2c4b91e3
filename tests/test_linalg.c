/* tests/test_linalg.c — matmul (2-D, batched, broadcast batch dims) and linear: hand-computed
 * values and gradients, a naive reference for batched products, gradient checks, bad input. */
#include "util.h"

#include <stdlib.h>

typedef struct shape { int nd; int64_t s[4]; } shape;

static void backward_ones(tg_tape *t, tg_tensor *y)
{
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward(tg_sum(t, y, TG_DIM_NONE, false)), TG_OK);
}

START_TEST(matmul_2d_values_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 2, 2, 3);
    tg_tensor *b = tt_tensorv((double[]){7, 8, 9, 10, 11, 12}, 2, 3, 2);
    a->requires_grad = b->requires_grad = true;
    tg_tensor *y = tg_matmul(t, a, b);
    tt_assert_shape(y, 2, 2);
    tt_assert_close(y->data, ((double[]){58, 64, 139, 154}), 4, TT_TOL);
    backward_ones(t, y);
    /* dA = 1 B^T: each row holds B's row sums; dB = A^T 1: each row holds A's column sums */
    tt_assert_close(a->grad, ((double[]){15, 19, 23, 15, 19, 23}), 6, TT_TOL);
    tt_assert_close(b->grad, ((double[]){5, 5, 7, 7, 9, 9}), 6, TT_TOL);
}
END_TEST

START_TEST(matmul_broadcast_batch_values_and_gradients)
{
    /* a:[2,1,2,2] = {I, 2I}; b:[3,2,2] with b_j = [[j,1],[0,1]] -> y[i,j] = (i+1) b_j */
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv((double[]){1, 0, 0, 1, 2, 0, 0, 2}, 4, 2, 1, 2, 2);
    tg_tensor *b = tt_tensorv((double[]){0, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1}, 3, 3, 2, 2);
    a->requires_grad = b->requires_grad = true;
    tg_tensor *y = tg_matmul(t, a, b);
    tt_assert_shape(y, 2, 3, 2, 2);
    double want[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            double bj[4] = {j, 1, 0, 1};
            for (int e = 0; e < 4; e++) want[(i * 3 + j) * 4 + e] = (i + 1) * bj[e];
        }
    tt_assert_close(y->data, want, 24, TT_TOL);
    backward_ones(t, y);
    /* dA_i = sum_j 1 b_j^T = [[sum(j+1), 3], [sum(j+1), 3]] = [[6,3],[6,3]]; dB_j = sum_i (i+1) 1 = 3 */
    tt_assert_close(a->grad, ((double[]){6, 3, 6, 3, 6, 3, 6, 3}), 8, TT_TOL);
    double three[12] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
    tt_assert_close(b->grad, three, 12, TT_TOL);
}
END_TEST

/* every batch layout: plain, folded rows (b one matrix), broadcast on either side, size-1 dims */
static const shape mm_pairs[][2] = {
    {{2, {2, 3}}, {2, {3, 4}}},
    {{2, {1, 1}}, {2, {1, 1}}},
    {{2, {5, 1}}, {2, {1, 3}}},          /* outer product */
    {{3, {3, 2, 5}}, {2, {5, 4}}},       /* rows fold */
    {{3, {2, 3, 4}}, {3, {1, 4, 2}}},    /* rows fold, b batch of 1 */
    {{2, {5, 3}}, {3, {2, 3, 4}}},       /* a broadcast */
    {{4, {2, 1, 3, 4}}, {3, {3, 4, 2}}}, /* both broadcast */
    {{3, {1, 3, 2}}, {3, {4, 2, 5}}},
    {{3, {3, 2, 3}}, {3, {3, 3, 1}}},    /* same batch */
};

/* Naive product with the batch broadcast worked out from scratch. */
static void matmul_reference(const tg_tensor *a, const tg_tensor *b, const tg_tensor *y, double *want)
{
    int64_t m = a->shape[a->ndim - 2], k = a->shape[a->ndim - 1], n = b->shape[b->ndim - 1];
    int64_t batches = y->numel / (m * n);
    for (int64_t bt = 0; bt < batches; bt++) {
        int64_t rem = bt, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int d = y->ndim - 3; d >= 0; d--) {
            int64_t c = rem % y->shape[d];
            rem /= y->shape[d];
            int da = a->ndim - y->ndim + d, db = b->ndim - y->ndim + d;
            if (da >= 0) { oa += (a->shape[da] == 1 ? 0 : c) * sa; sa *= a->shape[da]; }
            if (db >= 0) { ob += (b->shape[db] == 1 ? 0 : c) * sb; sb *= b->shape[db]; }
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t p = 0; p < k; p++) acc += a->data[oa * m * k + i * k + p] * b->data[ob * k * n + p * n + j];
                want[bt * m * n + i * n + j] = acc;
            }
    }
}

START_TEST(matmul_matches_reference_and_gradcheck)
{
    for (size_t p = 0; p < sizeof mm_pairs / sizeof mm_pairs[0]; p++) {
        tg_tape *t = tt_tape();
        tg_tensor *in[2] = {tt_random(mm_pairs[p][0].nd, mm_pairs[p][0].s, 200 + p, -1, 1),
                            tt_random(mm_pairs[p][1].nd, mm_pairs[p][1].s, 300 + p, -1, 1)};
        tg_tensor *y = tg_matmul(t, in[0], in[1]);
        ck_assert_msg(y != NULL, "%s", tg_error(t));
        double want[256];
        ck_assert_int_le(y->numel, 256);
        matmul_reference(in[0], in[1], y, want);
        tt_assert_close(y->data, want, y->numel, TT_TOL);
        tt_gradcheck_op(TG_OP_MATMUL, NULL, in, 2);
        tt_cleanup();
    }
}
END_TEST

START_TEST(linear_values_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, -1}, 2, 2, 2);
    tg_tensor *w = tt_tensorv((double[]){1, 0, 0, 1, 1, 1}, 2, 3, 2);
    tg_tensor *b = tt_tensorv((double[]){1, 2, 3}, 1, 3);
    x->requires_grad = w->requires_grad = b->requires_grad = true;
    tg_tensor *y = tg_linear(t, x, w, b);
    tt_assert_shape(y, 2, 3);
    tt_assert_close(y->data, ((double[]){2, 4, 6, 4, 1, 5}), 6, TT_TOL);
    backward_ones(t, y);
    tt_assert_close(x->grad, ((double[]){2, 2, 2, 2}), 4, TT_TOL);       /* column sums of W */
    tt_assert_close(w->grad, ((double[]){4, 1, 4, 1, 4, 1}), 6, TT_TOL); /* column sums of x */
    tt_assert_close(b->grad, ((double[]){2, 2, 2}), 3, TT_TOL);

    /* no bias, 1-D input, and leading dims kept */
    tg_tape_reset(t);
    y = tg_linear(t, tt_tensorv((double[]){3, -1}, 1, 2), w, NULL);
    tt_assert_shape(y, 3);
    tt_assert_close(y->data, ((double[]){3, -1, 2}), 3, TT_TOL);
    y = tg_linear(t, tt_tensorv((double[]){1, 2, 3, -1}, 3, 2, 1, 2), w, b);
    tt_assert_shape(y, 2, 1, 3);
    tt_assert_close(y->data, ((double[]){2, 4, 6, 4, 1, 5}), 6, TT_TOL);
}
END_TEST

START_TEST(linear_gradcheck)
{
    const struct { shape x; int64_t out; bool bias; } cases[] = {
        {{2, {4, 3}}, 5, true},   {{2, {4, 3}}, 5, false}, {{1, {3}}, 2, true},
        {{4, {2, 3, 1, 4}}, 3, true}, {{3, {2, 1, 4}}, 1, false}, {{2, {3, 1}}, 4, true},
        {{2, {1, 1}}, 1, true},   {{3, {3, 5, 7}}, 6, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t in = cases[c].x.s[cases[c].x.nd - 1];
        tg_tensor *inputs[3] = {tt_random(cases[c].x.nd, cases[c].x.s, 400 + c, -1, 1),
                                tt_random(2, (int64_t[]){cases[c].out, in}, 500 + c, -1, 1),
                                tt_random(1, &cases[c].out, 600 + c, -1, 1)};
        tt_gradcheck_op(TG_OP_LINEAR, NULL, inputs, cases[c].bias ? 3 : 2);
        tt_cleanup();
    }
}
END_TEST

START_TEST(linear_equals_matmul_with_transposed_weight)
{
    /* y = x W^T: compare with matmul against an explicitly transposed W */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_random(2, (int64_t[]){5, 4}, 7, -1, 1), *w = tt_random(2, (int64_t[]){3, 4}, 8, -1, 1);
    tg_tensor *wt = tt_tensorv(NULL, 2, 4, 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) wt->data[j * 3 + i] = w->data[i * 4 + j];
    tg_tensor *y1 = tg_linear(t, x, w, NULL), *y2 = tg_matmul(t, x, wt);
    double want[15];
    for (int i = 0; i < 15; i++) want[i] = y2->data[i];
    tt_assert_close(y1->data, want, 15, TT_TOL);
}
END_TEST

START_TEST(bad_inputs)
{
    tg_tape *t = tt_tape();
    tt_assert_error(t, tg_matmul(t, tt_tensorv(NULL, 2, 2, 3), tt_tensorv(NULL, 2, 4, 5)),
                    "matmul: inner dims differ (a=[2,3] b=[4,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_matmul(t, tt_tensorv(NULL, 1, 3), tt_tensorv(NULL, 2, 3, 5)),
                    "matmul: both operands need at least 2 dims (a=[3] b=[3,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_matmul(t, tt_tensorv(NULL, 3, 2, 2, 3), tt_tensorv(NULL, 3, 3, 3, 5)),
                    "matmul: batch dims do not broadcast (a=[2,2,3] b=[3,3,5])");
    tg_tape_reset(t);
    tg_tensor *w = tt_tensorv(NULL, 2, 3, 5);
    tt_assert_error(t, tg_linear(t, tt_tensorv(NULL, 2, 8, 4), w, NULL),
                    "linear: weight has 5 input features but input has 4 (x=[8,4] w=[3,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_linear(t, tt_tensorv(NULL, 2, 8, 5), w, tt_tensorv(NULL, 1, 4)),
                    "linear: bias must be [3] to match the weight's outputs, got [4] (w=[3,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_linear(t, tt_tensorv(NULL, 2, 8, 5), tt_tensorv(NULL, 1, 5), NULL),
                    "linear: weight must be 2-D [out,in], got [5] (x=[8,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_linear(t, tt_tensorv((double[]){1}, 0), w, NULL),
                    "linear: input must have at least 1 dim, got [] (w=[3,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_linear(t, NULL, w, NULL), "linear: input is NULL");
    tg_tape_reset(t);
    tt_assert_error(t, tg_matmul(t, w, NULL), "matmul: other is NULL");
}
END_TEST

START_TEST(empty_inner_dim_gives_zeros)
{
    tg_tape *t = tt_tape();
    tg_tensor *y = tg_matmul(t, tt_tensorv(NULL, 2, 2, 0), tt_tensorv(NULL, 2, 0, 3));
    ck_assert_ptr_nonnull(y);
    tt_assert_shape(y, 2, 3);
    tt_assert_close(y->data, ((double[]){0, 0, 0, 0, 0, 0}), 6, 0);
    y = tg_linear(t, tt_tensorv(NULL, 2, 2, 0), tt_tensorv(NULL, 2, 3, 0), tt_tensorv((double[]){1, 2, 3}, 1, 3));
    tt_assert_close(y->data, ((double[]){1, 2, 3, 1, 2, 3}), 6, 0);
}
END_TEST

/* linear's dx = dy W writes a fresh gradient (beta 0): on an arena full of old values, x -> relu
 * (identity here) -> linear gives x a leaf input's gradient; with no outputs (W [0, in]) the fresh
 * gradient is zeros, not the arena's old values. */
START_TEST(linear_fresh_input_gradient_is_written)
{
    for (int64_t out = 3; out >= 0; out -= 3) {
        tg_tensor *x = tt_random(2, (int64_t[]){4, 5}, 11, 0.5, 1.5), *w = tt_random(2, (int64_t[]){out, 5}, 12, -1, 1);
        x->requires_grad = true;
        tg_tape *t = tt_tape();
        tg_tensor *y = tg_linear(t, x, w, NULL);
        ck_assert_msg(y != NULL, "%s", tg_error(t));
        tg_tensor *dy = tt_random(2, y->shape, 13, -1, 1);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        double *want = tt_grad_copy(x);
        tt_dirty_arena(t, 32000);
        tg_tensor_zero_grad(x);
        y = tg_linear(t, tg_relu(t, x), w, NULL);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        tt_assert_close(x->grad, want, 20, 1e-6);
        if (out == 0)
            for (int i = 0; i < 20; i++) ck_assert(want[i] == 0);
        free(want);
    }
}
END_TEST

Suite *suite_linalg(void)
{
    Suite *s = suite_create("linalg");
    TCase *tc = tt_tcase("linalg");
    tcase_add_test(tc, matmul_2d_values_and_gradients);
    tcase_add_test(tc, matmul_broadcast_batch_values_and_gradients);
    tcase_add_test(tc, matmul_matches_reference_and_gradcheck);
    tcase_add_test(tc, linear_values_and_gradients);
    tcase_add_test(tc, linear_gradcheck);
    tcase_add_test(tc, linear_equals_matmul_with_transposed_weight);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, empty_inner_dim_gives_zeros);
    tcase_add_test(tc, linear_fresh_input_gradient_is_written);
    suite_add_tcase(s, tc);
    return s;
}
