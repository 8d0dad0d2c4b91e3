/* tests/test_loss.c — cross_entropy, nll_loss, mse_loss, l1_loss: hand-computed values and
 * gradients for each reduction and ignore_index, gradient checks over shapes (spatial [N,C,d]
 * inputs, C = 1), label range errors and shape errors. */
#include "util.h"

static tg_tensor *rnd(int nd, const int64_t *s, uint64_t seed)
{
    tg_tensor *x = tt_random(nd, s, seed, -2, 2);
    x->requires_grad = true;
    return x;
}
#define RND(seed, ...) rnd((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}, seed)

/* int64 labels of any shape, drawn in [0, classes) with every `ignore_every`-th set to ignore */
static tg_tensor *labels_nd(int nd, const int64_t *shape, int64_t classes, uint64_t seed, int ignore_every, int ignore)
{
    tg_tensor *l = tt_track(tg_tensor_new(TG_INT64, nd, shape));
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int64_t i = 0; i < l->numel; i++)
        l->idata[i] = ignore_every && i % ignore_every == 1 ? ignore : (int64_t)tg_rng_below(&r, (uint64_t)classes);
    return l;
}

static tg_tensor *mat(int rows, int cols, const double *v)
{
    tg_tensor *x = tt_tensorv(v, 2, rows, cols);
    x->requires_grad = true;
    return x;
}

/* backward from dy = 1 for every output element */
static void backward_ones(tg_tensor *y)
{
    ck_assert_ptr_nonnull(y);
    tg_real *dy = tg_tape_alloc(y->tape, sizeof(tg_real) * (size_t)(y->numel ? y->numel : 1));
    for (int64_t i = 0; i < y->numel; i++) dy[i] = 1;
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
}

/* softmax(1,2,3) and -log softmax(1,2,3)[2]; -log softmax(1,1,1)[0] = ln 3 */
static const double P0 = 0.09003057317038046, P1 = 0.24472847105479764, P2 = 0.6652409557748219;
static const double L_ROW0 = 0.4076059644443806, L_ROW1 = 1.0986122886681098;

START_TEST(cross_entropy_mean_sum_none)
{
    tg_tape *t = tt_tape();
    const double v[6] = {1, 2, 3, 1, 1, 1};
    tg_tensor *x = mat(2, 3, v);
    tg_tensor *labels = tt_labels(2, (int64_t[]){2, 0});
    tg_tensor *y = tg_cross_entropy(t, x, labels);
    ck_assert_int_eq(y->ndim, 0);
    tt_assert_close(y->data, ((double[]){(L_ROW0 + L_ROW1) / 2}), 1, TT_TOL);
    backward_ones(y);
    /* d/dx = (softmax - onehot) / N */
    tt_assert_close(x->grad, ((double[]){P0 / 2, P1 / 2, (P2 - 1) / 2, -1.0 / 3, 1.0 / 6, 1.0 / 6}), 6, TT_TOL);

    tg_loss_attr a = {TG_REDUCTION_SUM, -100, 0};
    x = mat(2, 3, v);
    y = tg_cross_entropy_ex(t, x, labels, &a);
    tt_assert_close(y->data, ((double[]){L_ROW0 + L_ROW1}), 1, TT_TOL);
    backward_ones(y);
    tt_assert_close(x->grad, ((double[]){P0, P1, P2 - 1, -2.0 / 3, 1.0 / 3, 1.0 / 3}), 6, TT_TOL);

    a.reduction = TG_REDUCTION_NONE;
    x = mat(2, 3, v);
    y = tg_cross_entropy_ex(t, x, labels, &a);
    tt_assert_shape(y, 2);
    tt_assert_close(y->data, ((double[]){L_ROW0, L_ROW1}), 2, TT_TOL);
    tg_real dy[2] = {2, -1};
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    tt_assert_close(x->grad, ((double[]){2 * P0, 2 * P1, 2 * (P2 - 1), 2.0 / 3, -1.0 / 3, -1.0 / 3}), 6, TT_TOL);
}
END_TEST

START_TEST(cross_entropy_ignore_index)
{
    tg_tape *t = tt_tape();
    const double v[6] = {1, 2, 3, 1, 1, 1};
    tg_tensor *x = mat(2, 3, v);
    /* the ignored sample adds nothing and does not count in the mean */
    tg_tensor *y = tg_cross_entropy(t, x, tt_labels(2, (int64_t[]){2, -100}));
    tt_assert_close(y->data, ((double[]){L_ROW0}), 1, TT_TOL);
    backward_ones(y);
    tt_assert_close(x->grad, ((double[]){P0, P1, P2 - 1, 0, 0, 0}), 6, TT_TOL);

    tg_loss_attr a = {TG_REDUCTION_MEAN, 0, 0}; /* ignore class 0 */
    x = mat(2, 3, v);
    y = tg_cross_entropy_ex(t, x, tt_labels(2, (int64_t[]){2, 0}), &a);
    tt_assert_close(y->data, ((double[]){L_ROW0}), 1, TT_TOL);

    /* everything ignored: mean is NaN (0/0) as in PyTorch; sum is 0 */
    y = tg_cross_entropy(t, mat(2, 3, v), tt_labels(2, (int64_t[]){-100, -100}));
    ck_assert(isnan(y->data[0]));
    a = (tg_loss_attr){TG_REDUCTION_SUM, -100, 0};
    y = tg_cross_entropy_ex(t, mat(2, 3, v), tt_labels(2, (int64_t[]){-100, -100}), &a);
    tt_assert_close(y->data, ((double[]){0}), 1, 0);
}
END_TEST

START_TEST(cross_entropy_spatial_and_1d)
{
    tg_tape *t = tt_tape();
    /* x:[1,2,2] (N=1, C=2, d=2): position 0 logits (0,0), position 1 logits (1,-1) */
    tg_tensor *x = tt_tensorv((double[]){0, 1, 0, -1}, 3, 1, 2, 2);
    tg_tensor *lab = tt_track(tg_tensor_new(TG_INT64, 2, (int64_t[]){1, 2}));
    lab->idata[0] = 1;
    lab->idata[1] = 0;
    tg_loss_attr a = {TG_REDUCTION_NONE, -100, 0};
    tg_tensor *y = tg_cross_entropy_ex(t, x, lab, &a);
    tt_assert_shape(y, 1, 2);
    /* ln 2 and ln(1 + e^-2) */
    tt_assert_close(y->data, ((double[]){0.6931471805599453, 0.1269280110429725}), 2, TT_TOL);
    /* [C] logits with a rank-0 label */
    tg_tensor *l0 = tt_track(tg_tensor_new(TG_INT64, 0, NULL));
    l0->idata[0] = 2;
    y = tg_cross_entropy(t, tt_tensorv((double[]){1, 2, 3}, 1, 3), l0);
    tt_assert_close(y->data, ((double[]){L_ROW0}), 1, TT_TOL);
    /* huge logits stay finite (max-shifted log-softmax) */
    y = tg_cross_entropy(t, tt_tensorv((double[]){1000, 0}, 2, 1, 2), tt_labels(1, (int64_t[]){1}));
    tt_assert_close(y->data, ((double[]){1000}), 1, 1e-6);
}
END_TEST

START_TEST(nll_loss_values)
{
    tg_tape *t = tt_tape();
    const double v[6] = {-1, -2, -3, -0.5, -0.25, -4};
    tg_tensor *x = mat(2, 3, v);
    tg_tensor *lab = tt_labels(2, (int64_t[]){1, 2});
    tg_tensor *y = tg_nll_loss(t, x, lab);
    tt_assert_close(y->data, ((double[]){3}), 1, TT_TOL);
    backward_ones(y);
    tt_assert_close(x->grad, ((double[]){0, -0.5, 0, 0, 0, -0.5}), 6, TT_TOL);
    tg_loss_attr a = {TG_REDUCTION_SUM, 2, 0};
    x = mat(2, 3, v);
    y = tg_nll_loss_ex(t, x, lab, &a);
    tt_assert_close(y->data, ((double[]){2}), 1, TT_TOL);
    backward_ones(y);
    tt_assert_close(x->grad, ((double[]){0, -1, 0, 0, 0, 0}), 6, TT_TOL);
}
END_TEST

START_TEST(mse_and_l1_values)
{
    tg_tape *t = tt_tape();
    /* d = x - y = (-0.5, 0, 2) */
    const double xv[3] = {1, 2, 3}, yv[3] = {1.5, 2, 1};
    tg_tensor *x = tt_tensorv(xv, 1, 3), *y = tt_tensorv(yv, 1, 3);
    x->requires_grad = y->requires_grad = true;
    tg_tensor *l = tg_mse_loss(t, x, y);
    tt_assert_close(l->data, ((double[]){4.25 / 3}), 1, TT_TOL);
    backward_ones(l);
    tt_assert_close(x->grad, ((double[]){-1.0 / 3, 0, 4.0 / 3}), 3, TT_TOL);
    tt_assert_close(y->grad, ((double[]){1.0 / 3, 0, -4.0 / 3}), 3, TT_TOL);
    tt_assert_close(tg_mse_loss_ex(t, x, y, TG_REDUCTION_SUM)->data, ((double[]){4.25}), 1, TT_TOL);
    tt_assert_close(tg_mse_loss_ex(t, x, y, TG_REDUCTION_NONE)->data, ((double[]){0.25, 0, 4}), 3, TT_TOL);

    x = tt_tensorv(xv, 1, 3);
    y = tt_tensorv(yv, 1, 3);
    x->requires_grad = y->requires_grad = true;
    l = tg_l1_loss(t, x, y);
    tt_assert_close(l->data, ((double[]){2.5 / 3}), 1, TT_TOL);
    backward_ones(l);
    tt_assert_close(x->grad, ((double[]){-1.0 / 3, 0, 1.0 / 3}), 3, TT_TOL); /* sign(0) = 0 */
    tt_assert_close(y->grad, ((double[]){1.0 / 3, 0, -1.0 / 3}), 3, TT_TOL);
    tt_assert_close(tg_l1_loss_ex(t, x, y, TG_REDUCTION_NONE)->data, ((double[]){0.5, 0, 2}), 3, TT_TOL);
}
END_TEST

/* ---- gradient checks ---- */

START_TEST(gradcheck_cross_entropy_and_nll)
{
    static const struct { int nd; int64_t shape[4]; } cases[] = {{2, {4, 5}}, {3, {2, 3, 4}}, {4, {2, 3, 2, 2}}, {2, {3, 1}}, {1, {6}}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int nd = cases[c].nd;
        const int64_t *s = cases[c].shape;
        int64_t lshape[4];
        int lnd = 0;
        for (int i = 0; i < nd; i++)
            if (i != (nd == 1 ? 0 : 1)) lshape[lnd++] = s[i];
        int64_t classes = nd == 1 ? s[0] : s[1];
        for (int red = TG_REDUCTION_MEAN; red <= TG_REDUCTION_NONE; red++)
            for (int ign = 0; ign < 2; ign++) {
                tg_loss_attr a = {red, ign ? 7 : -100, 0};
                tg_tensor *lab = labels_nd(lnd, lshape, classes, 50 + c, ign ? 3 : 0, 7);
                tg_tensor *x = tt_random(nd, s, 60 + c, -2, 2);
                x->requires_grad = true;
                tt_gradcheck_op(TG_OP_CROSS_ENTROPY, &a, ((tg_tensor *[]){x, lab}), 2);
                tt_gradcheck_op(TG_OP_NLL_LOSS, &a, ((tg_tensor *[]){x, lab}), 2);
            }
    }
}
END_TEST

START_TEST(gradcheck_mse_l1)
{
    static const struct { int nd; int64_t shape[4]; } cases[] = {{2, {3, 4}}, {4, {2, 1, 3, 2}}, {1, {1}}, {0, {0}}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int red = TG_REDUCTION_MEAN; red <= TG_REDUCTION_NONE; red++) {
            tg_loss_attr a = {red, -100, 0};
            tg_tensor *x = rnd(cases[c].nd, cases[c].shape, 70 + c), *y = rnd(cases[c].nd, cases[c].shape, 80 + c);
            tt_gradcheck_op(TG_OP_MSE_LOSS, &a, ((tg_tensor *[]){x, y}), 2);
            tt_gradcheck_op(TG_OP_L1_LOSS, &a, ((tg_tensor *[]){x, y}), 2);
        }
}
END_TEST

/* ---- bad input ---- */

START_TEST(bad_input_messages)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = RND(1, 4, 10);
    tt_assert_error(t, tg_cross_entropy(t, x, tt_labels(4, (int64_t[]){1, 2, 0, 12})),
                    "cross_entropy: label 12 at index 3 is outside [0, 10)");
    tg_tape_reset(t);
    tt_assert_error(t, tg_nll_loss(t, x, tt_labels(4, (int64_t[]){-1, 2, 0, 1})),
                    "nll_loss: label -1 at index 0 is outside [0, 10)");
    tg_tape_reset(t);
    tt_assert_error(t, tg_cross_entropy(t, x, tt_labels(3, (int64_t[]){1, 2, 0})),
                    "cross_entropy: target must have shape [4] (the input's without the class dim), got [3] (input=[4,10] target=[3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_cross_entropy(t, x, RND(2, 4)), "cross_entropy: target must be int64 (class labels), got real");
    tg_tape_reset(t);
    tt_assert_error(t, tg_cross_entropy(t, tt_tensorv((double[]){1}, 0), tt_labels(1, (int64_t[]){0})),
                    "cross_entropy: input needs a class dim");
    tg_tape_reset(t);
    tt_assert_error(t, tg_mse_loss(t, RND(3, 2, 3), RND(4, 3, 2)),
                    "mse_loss: input and target must have the same shape; no broadcasting (input=[2,3] target=[3,2])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_l1_loss(t, RND(5, 3), RND(6, 1, 3)), "l1_loss: input and target must have the same shape; no broadcasting (input=[3] target=[1,3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_mse_loss(t, x, NULL), "mse_loss: target is NULL");
    char err[128];
    tg_loss_attr a = {0, 0, 0};
    ck_assert_int_eq(tg_attr_parse(TG_OP_CROSS_ENTROPY, &a, "reduction=sum", err, sizeof err), 0);
    ck_assert_int_eq(a.reduction, TG_REDUCTION_SUM);
    ck_assert_int_eq(a.ignore_index, 0); /* not set by parse alone */
    tg_attr_defaults(TG_OP_NLL_LOSS, &a);
    ck_assert_int_eq(a.ignore_index, -100);
    ck_assert_int_eq(tg_attr_parse(TG_OP_MSE_LOSS, &a, "ignore_index=3", err, sizeof err), TG_ERR_INVALID);
}
END_TEST

Suite *suite_loss(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tt_tcase("values");
    tcase_add_test(tc, cross_entropy_mean_sum_none);
    tcase_add_test(tc, cross_entropy_ignore_index);
    tcase_add_test(tc, cross_entropy_spatial_and_1d);
    tcase_add_test(tc, nll_loss_values);
    tcase_add_test(tc, mse_and_l1_values);
    tcase_add_test(tc, bad_input_messages);
    suite_add_tcase(s, tc);
    tc = tt_tcase("gradcheck");
    tcase_add_test(tc, gradcheck_cross_entropy_and_nll);
    tcase_add_test(tc, gradcheck_mse_l1);
    suite_add_tcase(s, tc);
    return s;
}
