/* tests/test_reduce.c — sum, mean, max: hand-computed values and gradients, shapes with keepdim
 * and negative dims, argmax indices, gradient checks, bad input. */
#include "util.h"

typedef struct shape { int nd; int64_t s[4]; } shape;

/* x = [[1,5,3],[4,2,6]] */
static tg_tensor *x23(void)
{
    tg_tensor *x = tt_tensorv((double[]){1, 5, 3, 4, 2, 6}, 2, 2, 3);
    x->requires_grad = true;
    return x;
}

/* Runs backward from y with upstream gradient dy. */
static void backward_with(tg_tape *t, tg_tensor *y, const double *dy)
{
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tg_real g[16];
    for (int64_t i = 0; i < y->numel; i++) g[i] = (tg_real)dy[i];
    ck_assert_int_eq(tg_backward_with(y, g), TG_OK);
}

START_TEST(sum_values_shapes_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = x23();
    tg_tensor *y = tg_sum(t, x, TG_DIM_NONE, false);
    ck_assert_int_eq(y->ndim, 0);
    tt_assert_close(y->data, ((double[]){21}), 1, TT_TOL);
    backward_with(t, y, (double[]){2});
    tt_assert_close(x->grad, ((double[]){2, 2, 2, 2, 2, 2}), 6, TT_TOL);

    tg_tape_reset(t);
    tg_tensor_zero_grad(x);
    y = tg_sum(t, x, 0, false);
    tt_assert_shape(y, 3);
    tt_assert_close(y->data, ((double[]){5, 7, 9}), 3, TT_TOL);
    backward_with(t, y, (double[]){1, 2, 3});
    tt_assert_close(x->grad, ((double[]){1, 2, 3, 1, 2, 3}), 6, TT_TOL);

    tg_tape_reset(t);
    tg_tensor_zero_grad(x);
    y = tg_sum(t, x, -1, true);
    tt_assert_shape(y, 2, 1);
    tt_assert_close(y->data, ((double[]){9, 12}), 2, TT_TOL);
    backward_with(t, y, (double[]){-1, 10});
    tt_assert_close(x->grad, ((double[]){-1, -1, -1, 10, 10, 10}), 6, TT_TOL);

    /* keepdim with dim none keeps every dim as 1 */
    tg_tape_reset(t);
    y = tg_sum(t, x, TG_DIM_NONE, true);
    tt_assert_shape(y, 1, 1);

    /* middle dim of x[i,j,k] = 6i + 2j + k, shape [2,3,2]: sum_j = 18i + 3k + 6 */
    double v[12];
    for (int i = 0; i < 12; i++) v[i] = i;
    tg_tensor *z = tt_tensorv(v, 3, 2, 3, 2);
    y = tg_sum(t, z, 1, true);
    tt_assert_shape(y, 2, 1, 2);
    tt_assert_close(y->data, ((double[]){6, 9, 24, 27}), 4, TT_TOL);
    y = tg_sum(t, z, -3, false);
    tt_assert_shape(y, 3, 2);
    tt_assert_close(y->data, ((double[]){6, 8, 10, 12, 14, 16}), 6, TT_TOL);
}
END_TEST

START_TEST(mean_values_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = x23();
    tg_tensor *y = tg_mean(t, x, TG_DIM_NONE, false);
    tt_assert_close(y->data, ((double[]){3.5}), 1, TT_TOL);
    backward_with(t, y, (double[]){1});
    double s = 1.0 / 6;
    tt_assert_close(x->grad, ((double[]){s, s, s, s, s, s}), 6, TT_TOL);

    tg_tape_reset(t);
    tg_tensor_zero_grad(x);
    y = tg_mean(t, x, 1, false);
    tt_assert_shape(y, 2);
    tt_assert_close(y->data, ((double[]){3, 4}), 2, TT_TOL);
    backward_with(t, y, (double[]){3, -6});
    tt_assert_close(x->grad, ((double[]){1, 1, 1, -2, -2, -2}), 6, TT_TOL);

    tg_tape_reset(t);
    y = tg_mean(t, x, -2, true);
    tt_assert_shape(y, 1, 3);
    tt_assert_close(y->data, ((double[]){2.5, 3.5, 4.5}), 3, TT_TOL);
}
END_TEST

START_TEST(max_values_indices_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = x23();
    tg_tensor *y = tg_max(t, x, 1, false);
    tt_assert_shape(y, 2);
    tt_assert_close(y->data, ((double[]){5, 6}), 2, TT_TOL);
    const int64_t *idx = tg_max_indices(y);
    ck_assert_ptr_nonnull(idx);
    ck_assert_int_eq(idx[0], 1);
    ck_assert_int_eq(idx[1], 2);
    backward_with(t, y, (double[]){10, 20});
    tt_assert_close(x->grad, ((double[]){0, 10, 0, 0, 0, 20}), 6, TT_TOL);

    tg_tape_reset(t);
    tg_tensor_zero_grad(x);
    y = tg_max(t, x, 0, true);
    tt_assert_shape(y, 1, 3);
    tt_assert_close(y->data, ((double[]){4, 5, 6}), 3, TT_TOL);
    idx = tg_max_indices(y);
    ck_assert_int_eq(idx[0], 1);
    ck_assert_int_eq(idx[1], 0);
    ck_assert_int_eq(idx[2], 1);
    backward_with(t, y, (double[]){1, 2, 3});
    tt_assert_close(x->grad, ((double[]){0, 2, 0, 1, 0, 3}), 6, TT_TOL);

    /* global max: flat index */
    tg_tape_reset(t);
    y = tg_max(t, x, TG_DIM_NONE, false);
    ck_assert_int_eq(y->ndim, 0);
    tt_assert_close(y->data, ((double[]){6}), 1, TT_TOL);
    ck_assert_int_eq(tg_max_indices(y)[0], 5);

    /* indices are there without a recorded graph too; non-max tensors have none */
    tg_tape_reset(t);
    tg_no_grad_begin(t);
    y = tg_max(t, x, -1, false);
    tg_no_grad_end(t);
    ck_assert_int_eq(tg_max_indices(y)[1], 2);
    ck_assert_ptr_null(tg_max_indices(x));
    ck_assert_ptr_null(tg_max_indices(NULL));
}
END_TEST

START_TEST(max_ties_first_along_dim_split_over_all)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){2, 7, 7, 1, -3, -3, -3, -3}, 2, 2, 4);
    x->requires_grad = true;
    tg_tensor *y = tg_max(t, x, 1, false);
    tt_assert_close(y->data, ((double[]){7, -3}), 2, TT_TOL);
    backward_with(t, y, (double[]){1, 1});
    tt_assert_close(x->grad, ((double[]){0, 1, 0, 0, 1, 0, 0, 0}), 8, TT_TOL);

    tg_tape_reset(t);
    tg_tensor_zero_grad(x);
    y = tg_max(t, x, TG_DIM_NONE, false);
    ck_assert_int_eq(tg_max_indices(y)[0], 1);
    /* over all dims PyTorch splits the gradient evenly among the tied maxima */
    backward_with(t, y, (double[]){5});
    tt_assert_close(x->grad, ((double[]){0, 2.5, 2.5, 0, 0, 0, 0, 0}), 8, TT_TOL);

    /* a NaN is the maximum; over all dims the NaNs share dy, along a dim the first NaN takes it */
    tg_tape_reset(t);
    tg_tensor *xn = tt_tensorv((double[]){1, NAN, INFINITY, NAN, 2, -INFINITY}, 2, 2, 3);
    xn->requires_grad = true;
    y = tg_max(t, xn, TG_DIM_NONE, false);
    ck_assert(isnan(y->data[0]));
    backward_with(t, y, (double[]){6});
    tt_assert_close(xn->grad, ((double[]){0, 3, 0, 3, 0, 0}), 6, TT_TOL);
    tg_tape_reset(t);
    tg_tensor_zero_grad(xn);
    y = tg_max(t, xn, 1, false);
    ck_assert(isnan(y->data[0]) && isnan(y->data[1]));
    backward_with(t, y, (double[]){1, 2});
    tt_assert_close(xn->grad, ((double[]){0, 1, 0, 2, 0, 0}), 6, TT_TOL);
}
END_TEST

START_TEST(reduce_gradcheck_all_dims)
{
    const shape shapes[] = {{0, {0}}, {1, {7}}, {2, {3, 5}}, {3, {2, 1, 3}}, {4, {1, 4, 1, 3}}, {3, {3, 2, 5}}};
    const int ops[3] = {TG_OP_SUM, TG_OP_MEAN, TG_OP_MAX};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        tg_tensor *x = tt_random(shapes[s].nd, shapes[s].s, 100 + s, -3, 3);
        int rank = shapes[s].nd ? shapes[s].nd : 1;
        for (int d = -rank - 1; d < rank; d++) /* -rank-1 stands for "none" */
            for (int keep = 0; keep < 2; keep++)
                for (int k = 0; k < 3; k++) {
                    tg_reduce_attr a = {d < -rank ? TG_DIM_NONE : d, keep};
                    tt_gradcheck_op(ops[k], &a, &x, 1);
                }
        tt_cleanup(); /* the float build's smoke runs take a tape each */
    }
}
END_TEST

START_TEST(attributes_parse)
{
    tg_reduce_attr a;
    char err[128];
    tg_attr_defaults(TG_OP_SUM, &a);
    ck_assert_int_eq(a.dim, TG_DIM_NONE);
    ck_assert(!a.keepdim);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MEAN, &a, "dim=-2", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MEAN, &a, "keepdim=True", err, sizeof err), 0);
    ck_assert_int_eq(a.dim, -2);
    ck_assert(a.keepdim);
    char buf[64];
    ck_assert_str_eq(tg_attr_format(TG_OP_MEAN, &a, false, buf, sizeof buf), "dim=-2 keepdim=1");
    ck_assert_int_eq(tg_attr_parse(TG_OP_MAX, &a, "dim=none", err, sizeof err), 0);
    ck_assert_int_eq(a.dim, TG_DIM_NONE);
    ck_assert_str_eq(tg_attr_format(TG_OP_MAX, &a, true, buf, sizeof buf), "dim=none keepdim=1");
    ck_assert_int_eq(tg_attr_parse(TG_OP_SUM, &a, "dim=x", err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "sum: bad value 'x' for attribute dim");
}
END_TEST

START_TEST(bad_inputs)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv(NULL, 2, 2, 3);
    tt_assert_error(t, tg_sum(t, x, 3, false), "sum: dim 3 out of range for rank 2");
    tg_tape_reset(t);
    tt_assert_error(t, tg_mean(t, x, -3, true), "mean: dim -3 out of range for rank 2 (x=[2,3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_max(t, x, 2, false), "max: dim 2 out of range for rank 2");
    tg_tape_reset(t);
    tt_assert_error(t, tg_max(t, tt_tensorv(NULL, 2, 3, 0), 1, false),
                    "max: cannot reduce an empty dim (x=[3,0])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_sum(t, NULL, 0, false), "sum: input is NULL");
    tg_tape_reset(t);
    /* empty reductions that are defined: sum of nothing is 0 */
    tg_tensor *y = tg_sum(t, tt_tensorv(NULL, 2, 3, 0), 1, false);
    ck_assert_ptr_nonnull(y);
    tt_assert_close(y->data, ((double[]){0, 0, 0}), 3, 0);
    y = tg_sum(t, tt_tensorv(NULL, 2, 3, 0), 0, false);
    tt_assert_shape(y, 0);
    y = tg_mean(t, tt_tensorv(NULL, 2, 3, 0), 1, true);
    tt_assert_shape(y, 3, 1);
    ck_assert(isnan(y->data[0]));
}
END_TEST

Suite *suite_reduce(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tt_tcase("reduce");
    tcase_add_test(tc, sum_values_shapes_and_gradients);
    tcase_add_test(tc, mean_values_and_gradients);
    tcase_add_test(tc, max_values_indices_and_gradients);
    tcase_add_test(tc, max_ties_first_along_dim_split_over_all);
    tcase_add_test(tc, reduce_gradcheck_all_dims);
    tcase_add_test(tc, attributes_parse);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}
