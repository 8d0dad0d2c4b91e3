/* tests/test_arith.c — add, sub, mul, div (broadcasting), neg, exp, log, sqrt, pow: hand-computed
 * values and gradients, gradient checks over every broadcast pattern, bad input. */
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>

typedef struct shape { int nd; int64_t s[4]; } shape;

static tg_tensor *rnd(shape sh, uint64_t seed, double lo, double hi) { return tt_random(sh.nd, sh.s, seed, lo, hi); }

/* y = op(a, b) with an all-ones upstream gradient */
static tg_tensor *run_binary(tg_tape *t, tg_tensor *(*op)(tg_tape *, tg_tensor *, tg_tensor *), tg_tensor *a,
                             tg_tensor *b)
{
    a->requires_grad = b->requires_grad = true;
    tg_tensor *y = op(t, a, b);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tg_tensor *s = tg_sum(t, y, TG_DIM_NONE, false);
    ck_assert_msg(s != NULL, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward(s), TG_OK);
    return y;
}

START_TEST(add_broadcasts_213_with_41)
{
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 3, 2, 1, 3);
    tg_tensor *b = tt_tensorv((double[]){10, 20, 30, 40}, 2, 4, 1);
    tg_tensor *y = run_binary(t, tg_add, a, b);
    tt_assert_shape(y, 2, 4, 3);
    /* y[i,j,k] = a[i,0,k] + b[j,0] */
    double want[24] = {11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43,
                       14, 15, 16, 24, 25, 26, 34, 35, 36, 44, 45, 46};
    tt_assert_close(y->data, want, 24, TT_TOL);
    /* each a element feeds 4 outputs (j), each b element 2*3 outputs */
    tt_assert_close(a->grad, ((double[]){4, 4, 4, 4, 4, 4}), 6, TT_TOL);
    tt_assert_close(b->grad, ((double[]){6, 6, 6, 6}), 4, TT_TOL);
}
END_TEST

START_TEST(sub_with_bias_and_scalar)
{
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 2, 2, 3);
    tg_tensor *b = tt_tensorv((double[]){1, 10, 100}, 1, 3);
    tg_tensor *y = run_binary(t, tg_sub, a, b);
    tt_assert_shape(y, 2, 3);
    tt_assert_close(y->data, ((double[]){0, -8, -97, 3, -5, -94}), 6, TT_TOL);
    tt_assert_close(a->grad, ((double[]){1, 1, 1, 1, 1, 1}), 6, TT_TOL);
    tt_assert_close(b->grad, ((double[]){-2, -2, -2}), 3, TT_TOL);

    /* scalar on the left: 10 - x */
    tg_tensor *s = tt_tensorv((double[]){10}, 0);
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3}, 1, 3);
    y = run_binary(t, tg_sub, s, x);
    tt_assert_shape(y, 3);
    tt_assert_close(y->data, ((double[]){9, 8, 7}), 3, TT_TOL);
    tt_assert_close(s->grad, ((double[]){3}), 1, TT_TOL);
    tt_assert_close(x->grad, ((double[]){-1, -1, -1}), 3, TT_TOL);
}
END_TEST

START_TEST(mul_and_div_values_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv((double[]){1, 2, 3, 4}, 2, 2, 2);
    tg_tensor *b = tt_tensorv((double[]){2, -1}, 2, 2, 1); /* column broadcast */
    tg_tensor *y = run_binary(t, tg_mul, a, b);
    tt_assert_close(y->data, ((double[]){2, 4, -3, -4}), 4, TT_TOL);
    tt_assert_close(a->grad, ((double[]){2, 2, -1, -1}), 4, TT_TOL);
    tt_assert_close(b->grad, ((double[]){3, 7}), 2, TT_TOL); /* row sums of a */

    tg_tensor *p = tt_tensorv((double[]){6, 1, -4}, 1, 3);
    tg_tensor *q = tt_tensorv((double[]){3, 4, 2}, 1, 3);
    y = run_binary(t, tg_div, p, q);
    tt_assert_close(y->data, ((double[]){2, 0.25, -2}), 3, TT_TOL);
    /* d/dp = 1/q ; d/dq = -p/q^2 */
    tt_assert_close(p->grad, ((double[]){1.0 / 3, 0.25, 0.5}), 3, TT_TOL);
    tt_assert_close(q->grad, ((double[]){-6.0 / 9, -1.0 / 16, 1}), 3, TT_TOL);
}
END_TEST

START_TEST(sum_of_square_example_from_header)
{
    /* tapegrad.h: loss = sum(x * x); d loss/dx = 2x (the same tensor on both sides of mul) */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, -2, 0.5}, 1, 3);
    x->requires_grad = true;
    tg_tensor *loss = tg_sum(t, tg_mul(t, x, x), TG_DIM_NONE, false);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(loss->ndim, 0);
    tt_assert_close(loss->data, ((double[]){5.25}), 1, TT_TOL);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    tt_assert_close(x->grad, ((double[]){2, -4, 1}), 3, TT_TOL);
}
END_TEST

START_TEST(unary_values_and_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){0.25, 1, 4}, 1, 3);
    x->requires_grad = true;
    tg_tensor *(*unary[4])(tg_tape *, tg_tensor *) = {tg_neg, tg_exp, tg_log, tg_sqrt};
    double want_y[5][3] = {
        {-0.25, -1, -4},
        {1.2840254166877414, 2.718281828459045, 54.598150033144236},
        {-1.3862943611198906, 0, 1.3862943611198906},
        {0.5, 1, 2},
        {0.03125, 1, 32},
    };
    /* dy/dx: -1, e^x, 1/x, 1/(2 sqrt x), 2.5 x^1.5 */
    double want_g[5][3] = {
        {-1, -1, -1},
        {1.2840254166877414, 2.718281828459045, 54.598150033144236},
        {4, 1, 0.25},
        {1, 0.5, 0.25},
        {0.3125, 2.5, 20},
    };
    for (int k = 0; k < 5; k++) {
        tg_tape_reset(t); /* one graph per op */
        tg_tensor *y = k < 4 ? unary[k](t, x) : tg_pow(t, x, 2.5);
        ck_assert_msg(y != NULL, "%s", tg_error(t));
        tt_assert_shape(y, 3);
        tt_assert_close(y->data, want_y[k], 3, TT_TOL);
        tg_tensor_zero_grad(x);
        ck_assert_int_eq(tg_backward(tg_sum(t, y, TG_DIM_NONE, false)), TG_OK);
        tt_assert_close(x->grad, want_g[k], 3, TT_TOL);
    }
    /* pow's exponent attribute parses from text like every attribute */
    tg_pow_attr a;
    char err[128];
    tg_attr_defaults(TG_OP_POW, &a);
    ck_assert_int_eq(tg_attr_set(TG_OP_POW, &a, "exponent", "-0.5", err, sizeof err), 0);
    tg_tensor *y = tg_op_apply(t, TG_OP_POW, &x, 1, &a);
    tt_assert_close(y->data, ((double[]){2, 1, 0.5}), 3, TT_TOL);
}
END_TEST

/* every broadcast pattern, with odd sizes and size-1 dims */
static const shape pairs[][2] = {
    {{2, {3, 5}}, {2, {3, 5}}},          /* same shape */
    {{2, {3, 5}}, {0, {0}}},             /* scalar right */
    {{0, {0}}, {3, {2, 3, 1}}},          /* scalar left */
    {{0, {0}}, {0, {0}}},                /* scalars */
    {{3, {2, 3, 5}}, {1, {5}}},          /* trailing (bias) */
    {{1, {5}}, {3, {2, 3, 5}}},          /* trailing on the left */
    {{4, {2, 3, 4, 5}}, {3, {3, 1, 1}}}, /* channel bias */
    {{3, {2, 1, 3}}, {2, {4, 1}}},       /* both broadcast */
    {{3, {1, 3, 1}}, {3, {2, 1, 4}}},    /* alternating */
    {{3, {3, 1, 5}}, {3, {3, 4, 5}}},    /* middle */
    {{2, {1, 1}}, {1, {1}}},             /* all ones */
    {{2, {7, 1}}, {2, {1, 1}}},          /* size-1 everywhere on the right */
    {{4, {2, 1, 3, 1}}, {4, {1, 3, 1, 2}}},
};

START_TEST(binary_gradcheck_all_patterns)
{
    const int ops[4] = {TG_OP_ADD, TG_OP_SUB, TG_OP_MUL, TG_OP_DIV};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
        for (int k = 0; k < 4; k++) {
            tg_tensor *in[2] = {rnd(pairs[p][0], 10 + p, -2, 2),
                                /* the divisor stays away from 0 */
                                ops[k] == TG_OP_DIV ? rnd(pairs[p][1], 50 + p, 0.5, 2) : rnd(pairs[p][1], 50 + p, -2, 2)};
            tt_gradcheck_op(ops[k], NULL, in, 2);
            tt_cleanup(); /* the float build's smoke runs take a tape each */
        }
}
END_TEST

/* The strided path and the fast paths agree with a plain per-element reference. */
START_TEST(binary_matches_reference_loop)
{
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        tg_tape *t = tt_tape();
        tg_tensor *a = rnd(pairs[p][0], 3 + p, -2, 2), *b = rnd(pairs[p][1], 7 + p, 0.5, 2);
        tg_tensor *y = tg_div(t, a, b);
        ck_assert_msg(y != NULL, "%s", tg_error(t));
        /* reference: decompose each output index, map it into a and b */
        double want[512];
        ck_assert_int_le(y->numel, 512);
        for (int64_t i = 0; i < y->numel; i++) {
            int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
            for (int d = y->ndim - 1; d >= 0; d--) {
                int64_t c = rem % y->shape[d];
                rem /= y->shape[d];
                int da = a->ndim - y->ndim + d, db = b->ndim - y->ndim + d;
                if (da >= 0) { ia += (a->shape[da] == 1 ? 0 : c) * sa; sa *= a->shape[da]; }
                if (db >= 0) { ib += (b->shape[db] == 1 ? 0 : c) * sb; sb *= b->shape[db]; }
            }
            want[i] = (double)a->data[ia] / b->data[ib];
        }
        tt_assert_close(y->data, want, y->numel, TT_TOL);
        tt_cleanup();
    }
}
END_TEST

/* Past ELEMENTWISE_GRAIN (32768) the work is split into chunks that cut rows anywhere: results
 * must match a plain loop, with 1 or 2 threads alike. */
START_TEST(large_tensors_split_into_chunks)
{
    const shape cases[][2] = {
        {{2, {3, 50001}}, {1, {50001}}}, /* bias: rows longer than a chunk */
        {{2, {5, 30011}}, {2, {5, 1}}},  /* chunks cross row ends */
        {{1, {70001}}, {1, {70001}}},    /* one long row */
    };
    for (int threads = 1; threads <= 2; threads++) {
        tg_set_threads(threads);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            tg_tape *t = tt_tape();
            tg_tensor *a = rnd(cases[c][0], 70 + c, -1, 1), *b = rnd(cases[c][1], 80 + c, 0.5, 1.5);
            a->requires_grad = b->requires_grad = true;
            tg_tensor *y = tg_exp(t, tg_mul(t, a, b));
            ck_assert_msg(y != NULL, "%s", tg_error(t));
            tg_real *dy = tg_tape_alloc(t, (size_t)y->numel * sizeof *dy);
            for (int64_t i = 0; i < y->numel; i++) dy[i] = (tg_real)((i % 7) - 3);
            ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
            /* reference: b is either full size, [n] trailing, or [rows,1] */
            int64_t n = y->numel, cols = cases[c][0].s[cases[c][0].nd - 1];
            double *db = calloc((size_t)b->numel, sizeof *db);
            int64_t worst_y = -1, worst_a = -1;
            for (int64_t i = 0; i < n; i++) {
                int64_t ib = b->numel == n ? i : b->numel == cols ? i % cols : i / cols;
                double e = exp((double)a->data[i] * b->data[ib]);
                if (fabs(y->data[i] - e) > 1e-5 * e) worst_y = i;
                if (fabs(a->grad[i] - dy[i] * e * b->data[ib]) > 1e-4 * (1 + fabs(dy[i] * e))) worst_a = i;
                db[ib] += dy[i] * e * a->data[i];
            }
            ck_assert_msg(worst_y < 0, "case %zu: y[%lld] wrong", c, (long long)worst_y);
            ck_assert_msg(worst_a < 0, "case %zu: da[%lld] wrong", c, (long long)worst_a);
            tt_assert_close(b->grad, db, b->numel, TT_DOUBLE ? 1e-9 : 1e-3);
            free(db);
            tt_cleanup();
        }
    }
    tg_set_threads(1);
}
END_TEST

START_TEST(unary_gradcheck)
{
    const shape shapes[] = {{0, {0}}, {1, {1}}, {1, {7}}, {3, {2, 1, 3}}, {4, {1, 3, 1, 5}}};
    const double exponents[] = {2, 3, 2.5, -1.5, 0.5, 1, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        tg_tensor *x = rnd(shapes[s], 20 + s, -2, 2), *xp = rnd(shapes[s], 30 + s, 0.5, 2);
        tt_gradcheck_op(TG_OP_NEG, NULL, &x, 1);
        tt_gradcheck_op(TG_OP_EXP, NULL, &x, 1);
        tt_gradcheck_op(TG_OP_LOG, NULL, &xp, 1);
        tt_gradcheck_op(TG_OP_SQRT, NULL, &xp, 1);
        for (size_t e = 0; e < sizeof exponents / sizeof exponents[0]; e++) {
            tg_pow_attr a = {exponents[e]};
            tt_gradcheck_op(TG_OP_POW, &a, &xp, 1);
        }
        tg_pow_attr square = {2};
        tt_gradcheck_op(TG_OP_POW, &square, &x, 1); /* integer exponent: negative bases fine */
        tt_cleanup();
    }
}
END_TEST

START_TEST(bad_inputs)
{
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv(NULL, 2, 2, 3), *b = tt_tensorv(NULL, 1, 4);
    tt_assert_error(t, tg_add(t, a, b), "add: shapes [2,3] and [4] do not broadcast");
    tg_tape_reset(t);
    tt_assert_error(t, tg_mul(t, tt_tensorv(NULL, 3, 2, 3, 4), tt_tensorv(NULL, 2, 2, 1)),
                    "mul: shapes [2,3,4] and [2,1] do not broadcast");
    tg_tape_reset(t);
    tt_assert_error(t, tg_div(t, a, NULL), "div: other is NULL");
    tg_tape_reset(t);
    tt_assert_error(t, tg_sub(t, NULL, a), "sub: input is NULL");
    tg_tape_reset(t);
    tt_assert_error(t, tg_exp(t, NULL), "exp: input is NULL");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pow(t, tt_labels(2, (int64_t[]){1, 2}), 2), "pow: input must be real");
    tg_pow_attr p;
    char err[128];
    tg_attr_defaults(TG_OP_POW, &p);
    ck_assert_int_eq(tg_attr_set(TG_OP_POW, &p, "exponent", "two", err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "pow: bad value 'two' for attribute exponent");
}
END_TEST

START_TEST(no_grad_records_nothing_and_broadcast_grad_accumulates)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2}, 1, 2);
    x->requires_grad = true;
    tg_no_grad_begin(t);
    ck_assert_ptr_nonnull(tg_add(t, x, x));
    tg_no_grad_end(t);
    ck_assert_int_eq(tg_tape_node_count(t), 0);
    /* x used on both sides of a broadcasting add, twice: gradients accumulate */
    tg_tensor *m = tt_tensorv((double[]){1, 1, 1, 1, 1, 1}, 2, 3, 2);
    tg_tensor *y = tg_add(t, tg_add(t, m, x), x);
    ck_assert_int_eq(tg_backward(tg_sum(t, y, TG_DIM_NONE, false)), TG_OK);
    tt_assert_close(x->grad, ((double[]){6, 6}), 2, TT_TOL);
}
END_TEST

Suite *suite_arith(void)
{
    Suite *s = suite_create("arith");
    TCase *tc = tt_tcase("arith");
    tcase_add_test(tc, add_broadcasts_213_with_41);
    tcase_add_test(tc, sub_with_bias_and_scalar);
    tcase_add_test(tc, mul_and_div_values_and_gradients);
    tcase_add_test(tc, sum_of_square_example_from_header);
    tcase_add_test(tc, unary_values_and_gradients);
    tcase_add_test(tc, binary_gradcheck_all_patterns);
    tcase_add_test(tc, binary_matches_reference_loop);
    tcase_add_test(tc, large_tensors_split_into_chunks);
    tcase_add_test(tc, unary_gradcheck);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, no_grad_records_nothing_and_broadcast_grad_accumulates);
    suite_add_tcase(s, tc);
    return s;
}
