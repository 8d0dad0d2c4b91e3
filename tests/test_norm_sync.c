/* tests/test_norm_sync.c — batch norm's statistics reducer (SyncBatchNorm's hook, ops/norm.h),
 * without MPI: a reducer that doubles every sum is what a second process holding the same shard
 * would add, so batch norm on x with it must equal batch norm on [x; x] without it. */
#include "util.h"

/* the sums of two processes holding the same data with the same weight: 2 × this one's */
static int calls[2];
static int twin_reducer(void *ctx, tg_norm_sync_phase phase, double *sums, int64_t n)
{
    (void)ctx;
    calls[phase]++;
    for (int64_t i = 0; i < n; i++) sums[i] *= 2;
    return 0;
}

static int failing_reducer(void *ctx, tg_norm_sync_phase phase, double *sums, int64_t n)
{
    (void)ctx, (void)phase, (void)sums, (void)n;
    return -1;
}

/* [x; x] along the batch dim */
static tg_tensor *twice(const tg_tensor *x)
{
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] *= 2;
    tg_tensor *y = tt_tensor(x->ndim, shape, NULL);
    memcpy(y->data, x->data, (size_t)x->numel * sizeof(tg_real));
    memcpy(y->data + x->numel, x->data, (size_t)x->numel * sizeof(tg_real));
    return y;
}

START_TEST(reducer_equals_the_doubled_batch)
{
    const int64_t xs[4] = {2, 3, 2, 5}, cs[1] = {3};
    tg_tensor *x = tt_random(4, xs, 11, -2, 3), *dy = tt_random(4, xs, 12, -1, 1);
    tg_tensor *x2 = twice(x), *dy2 = twice(dy);
    x->requires_grad = x2->requires_grad = true;
    tg_tensor *g[2], *b[2], *rm[2], *rv[2];
    for (int k = 0; k < 2; k++) {
        g[k] = tt_random(1, cs, 13, 0.5, 1.5), b[k] = tt_random(1, cs, 14, -1, 1);
        g[k]->requires_grad = b[k]->requires_grad = true;
        rm[k] = tt_random(1, cs, 15, -0.5, 0.5), rv[k] = tt_random(1, cs, 16, 0.5, 2);
    }
    tg_norm_attr a = {.training = true, .momentum = 0.3, .eps = 1e-5};
    tg_tape *t = tt_tape();
    calls[0] = calls[1] = 0;
    tg_norm_set_stats_reducer(twin_reducer, NULL);
    tg_tensor *y = tg_batch_norm(t, x, rm[0], rv[0], g[0], b[0], &a);
    ck_assert_msg(y, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    tg_norm_set_stats_reducer(NULL, NULL);
    ck_assert_int_eq(calls[TG_NORM_SYNC_FORWARD], 1);
    ck_assert_int_eq(calls[TG_NORM_SYNC_BACKWARD], 1);
    tg_tensor *y2 = tg_batch_norm(t, x2, rm[1], rv[1], g[1], b[1], &a);
    ck_assert_msg(y2, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward_with(y2, dy2->data), TG_OK);
    ck_assert_int_eq(calls[TG_NORM_SYNC_FORWARD], 1); /* unset: not called again */
    for (int64_t i = 0; i < x->numel; i++) {
        ck_assert_msg(fabs(y->data[i] - y2->data[i]) <= TT_TOL * 10, "y[%lld] %g vs %g", (long long)i, (double)y->data[i],
                      (double)y2->data[i]);
        ck_assert_msg(fabs(x->grad[i] - x2->grad[i]) <= TT_TOL * 10, "dx[%lld] %g vs %g", (long long)i,
                      (double)x->grad[i], (double)x2->grad[i]);
    }
    for (int c = 0; c < 3; c++) {
        /* dγ, dβ stay this process's: half of the doubled batch's */
        ck_assert_msg(fabs(2 * g[0]->grad[c] - g[1]->grad[c]) <= TT_TOL * 10, "dgamma[%d]", c);
        ck_assert_msg(fabs(2 * b[0]->grad[c] - b[1]->grad[c]) <= TT_TOL * 10, "dbeta[%d]", c);
        /* running statistics from the global mean and the variance unbiased over 2M values */
        ck_assert_msg(fabs(rm[0]->data[c] - rm[1]->data[c]) <= TT_TOL, "running_mean[%d]", c);
        ck_assert_msg(fabs(rv[0]->data[c] - rv[1]->data[c]) <= TT_TOL, "running_var[%d] %g vs %g", c,
                      (double)rv[0]->data[c], (double)rv[1]->data[c]);
    }
}
END_TEST

/* Batch norm's input is an intermediate (its gradient buffer comes from the arena, not zeroed:
 * tg_input_grad_to_write) and the step runs twice on one tape, so the second finds the first's
 * values in that memory: dx must be written, not added to them (tg-mpi --sync-bn trained wrong
 * weights when it was). x·s with s = 1.5 against the doubled batch without the reducer. */
START_TEST(reducer_writes_a_fresh_intermediate_gradient)
{
    const int64_t xs[4] = {2, 3, 2, 5}, cs[1] = {3};
    tg_tensor *x = tt_random(4, xs, 21, -2, 3), *dy = tt_random(4, xs, 22, -1, 1);
    tg_tensor *x2 = twice(x), *dy2 = twice(dy);
    tg_tensor *scale = tt_random(4, xs, 23, 1.5, 1.5), *scale2 = twice(scale);
    x->requires_grad = x2->requires_grad = true;
    tg_tensor *g = tt_random(1, cs, 13, 0.5, 1.5), *b = tt_random(1, cs, 14, -1, 1);
    tg_tensor *rm = tt_random(1, cs, 15, -0.5, 0.5), *rv = tt_random(1, cs, 16, 0.5, 2);
    tg_norm_attr a = {.training = true, .momentum = 0.3, .eps = 1e-5};
    tg_tape *t = tt_tape();
    tg_tensor *y2 = tg_batch_norm(t, tg_mul(t, x2, scale2), rm, rv, g, b, &a);
    ck_assert_msg(y2, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward_with(y2, dy2->data), TG_OK);
    tg_norm_set_stats_reducer(twin_reducer, NULL);
    for (int rep = 0; rep < 2; rep++) {
        tg_tape_reset(t);
        if (x->grad) memset(x->grad, 0, (size_t)x->numel * sizeof(tg_real));
        tg_tensor *y = tg_batch_norm(t, tg_mul(t, x, scale), rm, rv, g, b, &a);
        ck_assert_msg(y, "%s", tg_error(t));
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        for (int64_t i = 0; i < x->numel; i++)
            ck_assert_msg(fabs(x->grad[i] - x2->grad[i]) <= TT_TOL * 10, "run %d: dx[%lld] %g vs %g", rep, (long long)i,
                          (double)x->grad[i], (double)x2->grad[i]);
    }
    tg_norm_set_stats_reducer(NULL, NULL);
}
END_TEST

START_TEST(reducer_only_for_training_batch_norm)
{
    const int64_t xs[4] = {2, 3, 2, 2}, cs[1] = {3}, ls[1] = {2};
    tg_tensor *x = tt_random(4, xs, 1, -1, 1), *rm = tt_tensor(1, cs, NULL), *rv = tt_random(1, cs, 2, 1, 2);
    tg_tape *t = tt_tape();
    calls[0] = calls[1] = 0;
    tg_norm_set_stats_reducer(twin_reducer, NULL);
    tg_norm_attr eval = {.training = false, .momentum = 0.1, .eps = 1e-5}, ln = {.eps = 1e-5};
    ck_assert_ptr_nonnull(tg_batch_norm(t, x, rm, rv, NULL, NULL, &eval));
    ck_assert_ptr_nonnull(tg_layer_norm(t, x, tt_random(1, ls, 3, 1, 2), NULL, &ln));
    tg_norm_set_stats_reducer(NULL, NULL);
    ck_assert_int_eq(calls[0] + calls[1], 0);
}
END_TEST

START_TEST(failing_reducer_fails_the_op)
{
    const int64_t xs[4] = {2, 3, 2, 2};
    tg_tensor *x = tt_random(4, xs, 1, -1, 1);
    tg_tape *t = tt_tape();
    tg_norm_set_stats_reducer(failing_reducer, NULL);
    tg_norm_attr a = {.training = true, .momentum = 0.1, .eps = 1e-5};
    tg_tensor *y = tg_batch_norm(t, x, NULL, NULL, NULL, NULL, &a);
    tg_norm_set_stats_reducer(NULL, NULL);
    ck_assert_ptr_null(y);
    ck_assert_str_eq(tg_error(t), "batch_norm: the statistics reducer failed (x=[2,3,2,2])");
}
END_TEST

Suite *suite_norm_sync(void)
{
    Suite *s = suite_create("norm_sync");
    TCase *tc = tt_tcase("norm_sync");
    tcase_add_test(tc, reducer_equals_the_doubled_batch);
    tcase_add_test(tc, reducer_writes_a_fresh_intermediate_gradient);
    tcase_add_test(tc, reducer_only_for_training_batch_norm);
    tcase_add_test(tc, failing_reducer_fails_the_op);
    suite_add_tcase(s, tc);
    return s;
}
