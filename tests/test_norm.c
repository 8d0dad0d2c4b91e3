/* tests/test_norm.c — batch/layer/instance/group norm, FRN, TLU and BN folding: hand-computed
 * values, gradient checks over shapes and attributes, running statistics over several steps,
 * train vs eval, batch-size independence, numerics (large means, constant inputs), bad input. */
#include "util.h"

#include <stdlib.h>

#define EPS 1e-5

static tg_norm_attr defaults(int op)
{
    tg_norm_attr a;
    tg_attr_defaults(op, &a);
    return a;
}

static int64_t *shape_of(int ndim, const int *dims, int64_t *out)
{
    for (int i = 0; i < ndim; i++) out[i] = dims[i];
    return out;
}

static tg_tensor *rand_t(int ndim, const int *dims, uint64_t seed, double lo, double hi)
{
    int64_t s[TG_MAX_DIMS];
    return tt_random(ndim, shape_of(ndim, dims, s), seed, lo, hi);
}

static tg_tensor *vec(int n, double lo, double hi, uint64_t seed) { return rand_t(1, (int[]){n}, seed, lo, hi); }

/* ---- hand-computed values ---- */

START_TEST(batch_norm_values_running_stats_and_backward)
{
    tg_tape *t = tt_tape();
    /* x:[N=2,C=2,S=2]; channel 0 holds 1,3,5,7 (mean 4, biased var 5); channel 1 is constant 2 */
    tg_tensor *x = tt_tensorv((double[]){1, 3, 2, 2, 5, 7, 2, 2}, 3, 2, 2, 2);
    tg_tensor *g = tt_tensorv((double[]){2, 3}, 1, 2), *b = tt_tensorv((double[]){0.5, -1}, 1, 2);
    tg_tensor *rm = tt_tensorv((double[]){0, 0}, 1, 2), *rv = tt_tensorv((double[]){1, 1}, 1, 2);
    x->requires_grad = g->requires_grad = b->requires_grad = true;
    tg_norm_attr a = defaults(TG_OP_BATCH_NORM);
    a.training = true;
    tg_tensor *y = tg_batch_norm(t, x, rm, rv, g, b, &a);
    ck_assert_ptr_nonnull(y);
    double s = sqrt(5 + EPS);
    tt_assert_close(y->data, ((double[]){2 * -3 / s + 0.5, 2 * -1 / s + 0.5, -1, -1, 2 * 1 / s + 0.5,
                                         2 * 3 / s + 0.5, -1, -1}),
                    8, TT_TOL);
    /* running: 0.9·r + 0.1·stat with the unbiased variance 5·4/3 (constant channel: 0) */
    tt_assert_close(rm->data, ((double[]){0.4, 0.2}), 2, TT_TOL);
    tt_assert_close(rv->data, ((double[]){0.9 + 0.1 * 20.0 / 3, 0.9}), 2, TT_TOL);
    /* dy = 1 at the first element of channel 0, 1 everywhere on channel 1:
     * dx_i = (γ/σ)(dy_i − mean dy − x̂_i·mean(dy·x̂)), mean dy = 1/4, mean(dy·x̂) = −3/(4σ) */
    ck_assert_int_eq(tg_backward_with(y, (tg_real[]){1, 0, 1, 1, 0, 0, 1, 1}), TG_OK);
    double dx[4];
    double xs[4] = {1, 3, 5, 7}, dys[4] = {1, 0, 0, 0};
    for (int i = 0; i < 4; i++) dx[i] = 2 / s * (dys[i] - 0.25 + (xs[i] - 4) / s * 3 / (4 * s));
    tt_assert_close(x->grad, ((double[]){dx[0], dx[1], 0, 0, dx[2], dx[3], 0, 0}), 8, 1e-5);
    tt_assert_close(g->grad, ((double[]){-3 / s, 0}), 2, 1e-5); /* Σ dy·x̂ */
    tt_assert_close(b->grad, ((double[]){1, 4}), 2, 1e-5);       /* Σ dy */

    /* eval: the running statistics normalise */
    tg_tape_reset(t);
    a.training = false;
    tg_tensor *ye = tg_batch_norm(t, x, rm, rv, g, b, &a);
    double s0 = sqrt(0.9 + 2.0 / 3 + EPS), s1 = sqrt(0.9 + EPS);
    tt_assert_close(ye->data, ((double[]){2 * (1 - 0.4) / s0 + 0.5, 2 * (3 - 0.4) / s0 + 0.5,
                                          3 * (2 - 0.2) / s1 - 1, 3 * (2 - 0.2) / s1 - 1,
                                          2 * (5 - 0.4) / s0 + 0.5, 2 * (7 - 0.4) / s0 + 0.5,
                                          3 * (2 - 0.2) / s1 - 1, 3 * (2 - 0.2) / s1 - 1}),
                    8, 1e-5);
    tt_assert_close(rm->data, ((double[]){0.4, 0.2}), 2, TT_TOL); /* eval leaves them alone */
    /* eval backward: dx = γ·dy/σ_running */
    tg_tensor_zero_grad(x);
    ck_assert_int_eq(tg_backward_with(ye, (tg_real[]){1, 0, 0, 0, 0, 0, 0, 2}), TG_OK);
    tt_assert_close(x->grad, ((double[]){2 / s0, 0, 0, 0, 0, 0, 0, 6 / s1}), 8, 1e-5);
}
END_TEST

START_TEST(batch_norm_2d_input_without_affine)
{
    tg_tape *t = tt_tape();
    /* x:[3,2] (N×C): columns 0,1,2 (mean 1, var 2/3) and 4,4,10 (mean 6, var 8) */
    tg_tensor *x = tt_tensorv((double[]){0, 4, 1, 4, 2, 10}, 2, 3, 2);
    tg_norm_attr a = defaults(TG_OP_BATCH_NORM);
    a.training = true;
    tg_tensor *y = tg_batch_norm(t, x, NULL, NULL, NULL, NULL, &a);
    double s0 = sqrt(2.0 / 3 + EPS), s1 = sqrt(8 + EPS);
    tt_assert_close(y->data, ((double[]){-1 / s0, -2 / s1, 0, -2 / s1, 1 / s0, 4 / s1}), 6, TT_TOL);
}
END_TEST

START_TEST(layer_norm_values)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, -1, 0, 4}, 2, 2, 3);
    tg_tensor *w = tt_tensorv((double[]){1, 2, 3}, 1, 3), *b = tt_tensorv((double[]){0, 0, 1}, 1, 3);
    tg_norm_attr a = defaults(TG_OP_LAYER_NORM);
    a.normalized_shape = (tg_ints){1, {3}};
    tg_tensor *y = tg_layer_norm(t, x, w, b, &a);
    double s0 = sqrt(2.0 / 3 + EPS), s1 = sqrt(14.0 / 3 + EPS); /* row means 2 and 1 */
    tt_assert_close(y->data, ((double[]){-1 / s0, 0, 3 / s0 + 1, -2 / s1, 2 * -1 / s1, 3 * 3 / s1 + 1}), 6,
                    TT_TOL);
    /* normalized_shape defaults to the weight's shape */
    tg_tensor *y2 = tg_layer_norm(t, x, w, b, NULL);
    tt_assert_close(y2->data, ((double[]){-1 / s0, 0, 3 / s0 + 1, -2 / s1, 2 * -1 / s1, 3 * 3 / s1 + 1}), 6,
                    TT_TOL);
    /* two trailing dims: x:[1,2,2] over all four values 0,2,4,6 (mean 3, var 5) */
    tg_tensor *x3 = tt_tensorv((double[]){0, 2, 4, 6}, 3, 1, 2, 2);
    a.normalized_shape = (tg_ints){2, {2, 2}};
    tg_tensor *y3 = tg_layer_norm(t, x3, NULL, NULL, &a);
    double s = sqrt(5 + EPS);
    tt_assert_close(y3->data, ((double[]){-3 / s, -1 / s, 1 / s, 3 / s}), 4, TT_TOL);
}
END_TEST

START_TEST(instance_group_frn_tlu_values)
{
    tg_tape *t = tt_tape();
    /* instance norm x:[1,2,3]: channel 0 = 1,2,3 (mean 2, var 2/3), channel 1 = 0,0,6 (mean 2, var 8) */
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 0, 0, 6}, 3, 1, 2, 3);
    tg_tensor *w = tt_tensorv((double[]){2, 1}, 1, 2), *b = tt_tensorv((double[]){0, 1}, 1, 2);
    tg_tensor *y = tg_instance_norm(t, x, NULL, NULL, w, b, NULL);
    double s0 = sqrt(2.0 / 3 + EPS), s1 = sqrt(8 + EPS);
    tt_assert_close(y->data, ((double[]){-2 / s0, 0, 2 / s0, -2 / s1 + 1, -2 / s1 + 1, 4 / s1 + 1}), 6, TT_TOL);

    /* group norm x:[1,4,2], 2 groups: {1,2,3,4} (mean 2.5, var 1.25), {0,0,0,8} (mean 2, var 12) */
    tg_tensor *xg = tt_tensorv((double[]){1, 2, 3, 4, 0, 0, 0, 8}, 3, 1, 4, 2);
    tg_tensor *wg = tt_tensorv((double[]){1, 2, 3, 4}, 1, 4);
    tg_norm_attr ga = defaults(TG_OP_GROUP_NORM);
    ga.num_groups = 2;
    tg_tensor *yg = tg_group_norm(t, xg, wg, NULL, &ga);
    double g0 = sqrt(1.25 + EPS), g1 = sqrt(12 + EPS);
    tt_assert_close(yg->data, ((double[]){-1.5 / g0, -0.5 / g0, 2 * 0.5 / g0, 2 * 1.5 / g0, 3 * -2 / g1,
                                          3 * -2 / g1, 4 * -2 / g1, 4 * 6 / g1}),
                    8, TT_TOL);

    /* frn x:[1,1,2] = 3,4: ν² = 12.5, no centring; eps 1e-6 by default */
    tg_tensor *xf = tt_tensorv((double[]){3, 4}, 3, 1, 1, 2);
    tg_tensor *yf = tg_frn(t, xf, NULL, NULL, NULL);
    double nu = sqrt(12.5 + 1e-6);
    tt_assert_close(yf->data, ((double[]){3 / nu, 4 / nu}), 2, TT_TOL);

    /* tlu x:[1,2,2], tau = 0, 1: max(x, τ_c); ties send half the gradient to each side */
    tg_tensor *xt = tt_tensorv((double[]){-1, 2, 1, 0.5}, 3, 1, 2, 2);
    tg_tensor *tau = tt_tensorv((double[]){0, 1}, 1, 2);
    xt->requires_grad = tau->requires_grad = true;
    tg_tensor *yt = tg_tlu(t, xt, tau);
    tt_assert_close(yt->data, ((double[]){0, 2, 1, 1}), 4, 0);
    ck_assert_int_eq(tg_backward_with(yt, (tg_real[]){1, 2, 4, 8}), TG_OK);
    tt_assert_close(xt->grad, ((double[]){0, 2, 2, 0}), 4, 0);
    tt_assert_close(tau->grad, ((double[]){1, 10}), 2, 0);
}
END_TEST

/* ---- gradient checks ---- */

START_TEST(batch_norm_gradcheck_shapes)
{
    /* 1-D, 2-D and 3-D spatial inputs, N = 1, C = 1, odd sizes; train and eval; affine or not */
    static const int shapes[][6] = {{2, 3}, {5, 1}, {1, 2, 3}, {3, 4, 5}, {2, 3, 3, 5}, {1, 2, 3, 1}, {2, 1, 2, 3, 3}};
    static const int ranks[] = {2, 2, 3, 3, 4, 4, 5};
    for (int i = 0; i < 7; i++) {
        for (int mode = 0; mode < 4; mode++) {
            tg_norm_attr a = defaults(TG_OP_BATCH_NORM);
            a.training = mode & 1;
            bool affine = mode & 2;
            int c = shapes[i][1];
            tg_tensor *x = rand_t(ranks[i], shapes[i], 10 + i, -2, 2);
            tg_tensor *in[5] = {x, vec(c, -0.5, 0.5, 1), vec(c, 0.5, 1.5, 2), affine ? vec(c, 0.5, 2, 3) : NULL,
                                affine ? vec(c, -1, 1, 4) : NULL};
            tt_gradcheck_op(TG_OP_BATCH_NORM, &a, in, 5);
        }
    }
}
END_TEST

START_TEST(layer_instance_group_frn_gradcheck)
{
    tg_norm_attr a = defaults(TG_OP_LAYER_NORM);
    /* layer norm over 1, 2 and 3 trailing dims, with and without affine */
    static const int lshape[] = {2, 3, 4, 5};
    for (int k = 1; k <= 3; k++)
        for (int affine = 0; affine < 2; affine++) {
            a.normalized_shape.n = k;
            for (int j = 0; j < k; j++) a.normalized_shape.v[j] = lshape[4 - k + j];
            tg_tensor *w = affine ? rand_t(k, lshape + 4 - k, 5, 0.5, 2) : NULL;
            tg_tensor *b = affine ? rand_t(k, lshape + 4 - k, 6, -1, 1) : NULL;
            tg_tensor *in[3] = {rand_t(4, lshape, 7 + k, -2, 2), w, b};
            tt_gradcheck_op(TG_OP_LAYER_NORM, &a, in, 3);
        }
    tg_tensor *in1[3] = {rand_t(2, (int[]){3, 7}, 8, -2, 2), vec(7, 0.5, 2, 9), NULL};
    tt_gradcheck_op(TG_OP_LAYER_NORM, NULL, in1, 3);

    /* instance norm: 1-D and 2-D spatial, affine optional, train and eval */
    static const int ishapes[][5] = {{2, 3, 5}, {1, 1, 4}, {2, 2, 3, 3}, {1, 3, 2, 2, 3}};
    static const int iranks[] = {3, 3, 4, 5};
    for (int i = 0; i < 4; i++)
        for (int mode = 0; mode < 4; mode++) {
            tg_norm_attr ia = defaults(TG_OP_INSTANCE_NORM);
            ia.use_input_stats = !(mode & 1);
            int c = ishapes[i][1];
            bool affine = mode & 2;
            tg_tensor *in[5] = {rand_t(iranks[i], ishapes[i], 20 + i, -2, 2), vec(c, -0.5, 0.5, 1),
                                vec(c, 0.5, 1.5, 2), affine ? vec(c, 0.5, 2, 3) : NULL,
                                affine ? vec(c, -1, 1, 4) : NULL};
            tt_gradcheck_op(TG_OP_INSTANCE_NORM, &ia, in, 5);
        }

    /* group norm: groups = 1, = C, in between; odd spatial; affine optional */
    static const int gshapes[][5] = {{2, 6, 5}, {1, 6, 3, 3}, {3, 4}, {2, 6, 1, 3, 1}};
    static const int granks[] = {3, 4, 2, 5};
    static const int groups[] = {1, 2, 3, 6};
    for (int i = 0; i < 4; i++)
        for (int gi = 0; gi < 4; gi++) {
            tg_norm_attr ga = defaults(TG_OP_GROUP_NORM);
            int c = gshapes[i][1];
            if (c % groups[gi]) continue;
            ga.num_groups = groups[gi];
            bool affine = (i + gi) % 2 == 0;
            tg_tensor *in[3] = {rand_t(granks[i], gshapes[i], 30 + i, -2, 2), affine ? vec(c, 0.5, 2, 3) : NULL,
                                affine ? vec(c, -1, 1, 4) : NULL};
            tt_gradcheck_op(TG_OP_GROUP_NORM, &ga, in, 3);
        }

    /* frn and tlu */
    tg_tensor *fin[3] = {rand_t(4, (int[]){2, 3, 3, 2}, 40, -2, 2), vec(3, 0.5, 2, 3), vec(3, -1, 1, 4)};
    tt_gradcheck_op(TG_OP_FRN, NULL, fin, 3);
    tg_tensor *fin1[3] = {rand_t(3, (int[]){1, 1, 1}, 41, 0.5, 2), NULL, NULL};
    tt_gradcheck_op(TG_OP_FRN, NULL, fin1, 3);
    /* one value per channel and statistic: the elementwise-affine path with C = 1 (frn has no
     * centring there), and bias without weight */
    tg_tensor *fin2[3] = {rand_t(4, (int[]){2, 1, 1, 1}, 43, 0.5, 2), vec(1, 0.5, 2, 3), vec(1, -1, 1, 4)};
    tt_gradcheck_op(TG_OP_FRN, NULL, fin2, 3);
    tg_tensor *lin2[3] = {rand_t(2, (int[]){4, 5}, 44, -2, 2), NULL, vec(5, -1, 1, 4)};
    tt_gradcheck_op(TG_OP_LAYER_NORM, NULL, lin2, 3);
    tg_tensor *tin[2] = {rand_t(4, (int[]){2, 3, 2, 3}, 42, -2, 2), vec(3, -0.5, 0.5, 5)};
    tt_gradcheck_op(TG_OP_TLU, NULL, tin, 2);
}
END_TEST

/* ---- running statistics, momentum, train vs eval ---- */

START_TEST(running_stats_over_steps)
{
    tg_tape *t = tt_tape();
    int c = 3;
    tg_tensor *rm = tt_tensorv((double[]){0, 0, 0}, 1, 3), *rv = tt_tensorv((double[]){1, 1, 1}, 1, 3);
    tg_tensor *rm2 = tt_tensorv((double[]){0, 0, 0}, 1, 3), *rv2 = tt_tensorv((double[]){1, 1, 1}, 1, 3);
    tg_tensor *nbt = tt_track(tg_tensor_new(TG_INT64, 1, (int64_t[]){1}));
    double want_m[3] = {0, 0, 0}, want_v[3] = {1, 1, 1}, cum_m[3] = {0}, cum_v[3] = {0};
    tg_norm_attr a = defaults(TG_OP_BATCH_NORM), cma = a;
    a.training = cma.training = true;
    a.momentum = 0.3;
    cma.momentum = NAN;
    for (int step = 0; step < 4; step++) {
        tg_tape_reset(t);
        tg_tensor *x = rand_t(3, (int[]){4, 3, 5}, 100 + step, -1 + step, 2 + 2 * step);
        ck_assert_ptr_nonnull(tg_batch_norm(t, x, rm, rv, NULL, NULL, &a));
        ck_assert_ptr_nonnull(tg_batch_norm_tracked(t, x, rm2, rv2, NULL, NULL, nbt, &cma));
        /* the statistics by direct two-pass sums over N and W */
        for (int ch = 0; ch < c; ch++) {
            double m = 0, v = 0;
            for (int n = 0; n < 4; n++)
                for (int w = 0; w < 5; w++) m += x->data[(n * 3 + ch) * 5 + w];
            m /= 20;
            for (int n = 0; n < 4; n++)
                for (int w = 0; w < 5; w++) v += pow(x->data[(n * 3 + ch) * 5 + w] - m, 2);
            v /= 19; /* unbiased */
            want_m[ch] = 0.7 * want_m[ch] + 0.3 * m;
            want_v[ch] = 0.7 * want_v[ch] + 0.3 * v;
            cum_m[ch] += m;
            cum_v[ch] += v;
        }
        tt_assert_close(rm->data, want_m, 3, 1e-5);
        tt_assert_close(rv->data, want_v, 3, 1e-5);
        /* momentum=none: the plain average of every step's statistics (1 in the first step) */
        double avg_m[3], avg_v[3];
        for (int ch = 0; ch < c; ch++) avg_m[ch] = cum_m[ch] / (step + 1), avg_v[ch] = cum_v[ch] / (step + 1);
        tt_assert_close(rm2->data, avg_m, 3, 1e-5);
        tt_assert_close(rv2->data, avg_v, 3, 1e-5);
        ck_assert_int_eq(nbt->idata[0], step + 1);
    }
    /* eval gives what the running statistics say, and changes nothing */
    tg_tape_reset(t);
    a.training = false;
    tg_tensor *x = rand_t(3, (int[]){2, 3, 2}, 7, -1, 1);
    tg_tensor *y = tg_batch_norm(t, x, rm, rv, NULL, NULL, &a);
    for (int i = 0; i < 12; i++) {
        int ch = (i / 2) % 3;
        ck_assert(fabs(y->data[i] - (x->data[i] - want_m[ch]) / sqrt(want_v[ch] + EPS)) < 1e-5);
    }
    tt_assert_close(rm->data, want_m, 3, 1e-5);
    /* instance norm's running stats average the per-instance statistics over N, as PyTorch */
    tg_tensor *im = tt_tensorv((double[]){0}, 1, 1), *iv = tt_tensorv((double[]){1}, 1, 1);
    tg_tensor *xi = tt_tensorv((double[]){1, 3, 0, 4}, 3, 2, 1, 2); /* means 2, 2; unbiased var 2, 8 */
    ck_assert_ptr_nonnull(tg_instance_norm(t, xi, im, iv, NULL, NULL, NULL));
    tt_assert_close(im->data, ((double[]){0.2}), 1, TT_TOL);
    tt_assert_close(iv->data, ((double[]){0.9 + 0.1 * 5}), 1, TT_TOL);
}
END_TEST

START_TEST(per_sample_norms_do_not_depend_on_the_batch)
{
    tg_tape *t = tt_tape();
    tg_tensor *batch = rand_t(4, (int[]){3, 4, 3, 5}, 50, -3, 3);
    tg_tensor *one = tt_tensorv(NULL, 4, 1, 4, 3, 5);
    memcpy(one->data, batch->data + 60, 60 * sizeof(tg_real)); /* sample 1 alone */
    tg_tensor *w = vec(4, 0.5, 2, 1), *b = vec(4, -1, 1, 2);
    tg_norm_attr ln = defaults(TG_OP_LAYER_NORM), gn = defaults(TG_OP_GROUP_NORM);
    ln.normalized_shape = (tg_ints){3, {4, 3, 5}};
    gn.num_groups = 2;
    tg_tensor *lw = rand_t(3, (int[]){4, 3, 5}, 3, 0.5, 2);
    tg_tensor *pairs[4][2] = {
        {tg_layer_norm(t, batch, lw, NULL, &ln), tg_layer_norm(t, one, lw, NULL, &ln)},
        {tg_instance_norm(t, batch, NULL, NULL, w, b, NULL), tg_instance_norm(t, one, NULL, NULL, w, b, NULL)},
        {tg_group_norm(t, batch, w, b, &gn), tg_group_norm(t, one, w, b, &gn)},
        {tg_frn(t, batch, w, b, NULL), tg_frn(t, one, w, b, NULL)},
    };
    for (int k = 0; k < 4; k++) {
        ck_assert_ptr_nonnull(pairs[k][0]);
        ck_assert_ptr_nonnull(pairs[k][1]);
        double want[60];
        for (int i = 0; i < 60; i++) want[i] = pairs[k][0]->data[60 + i];
        tt_assert_close(pairs[k][1]->data, want, 60, TT_TOL);
    }
    /* batch norm, by contrast, does depend on the batch */
    tg_norm_attr bn = defaults(TG_OP_BATCH_NORM);
    bn.training = true;
    tg_tensor *yb = tg_batch_norm(t, batch, NULL, NULL, NULL, NULL, &bn);
    tg_tensor *y1 = tg_batch_norm(t, one, NULL, NULL, NULL, NULL, &bn);
    ck_assert(fabs(yb->data[60] - y1->data[0]) > 1e-3);
}
END_TEST

/* Statistics of one row each (instance/group/layer norm, FRN) go through one pass that computes a
 * row's statistics and normalises it at once; with running statistics to update, instance norm
 * takes the two-pass route (statistics kernel, then the forward). The two must agree bit for bit,
 * rows holding ±Inf (made NaN) included, and the other rows must not notice those. */
START_TEST(one_pass_statistics_match_two_pass)
{
    tg_tape *t = tt_tape();
    for (int inner_case = 0; inner_case < 3; inner_case++) {
        const int dims[3][4] = {{3, 4, 5, 6}, {2, 3, 1, 2}, {2, 5, 17, 13}};
        tg_tensor *x = rand_t(4, dims[inner_case], 70 + (uint64_t)inner_case, -3, 3);
        const int c = dims[inner_case][1];
        for (int64_t i = 0; i < x->numel; i++) x->data[i] += 1000; /* a large mean */
        const int64_t row = x->numel / (dims[inner_case][0] * c);
        x->data[1 * row + row / 2] = INFINITY;           /* row 1: +Inf */
        x->data[2 * row] = -INFINITY, x->data[2 * row + row - 1] = INFINITY; /* row 2: both */
        tg_tensor *w = vec(c, 0.5, 2, 5), *b = vec(c, -1, 1, 6);
        tg_tensor *rm = tt_tensorv(NULL, 1, c), *rv = tt_tensorv(NULL, 1, c);
        for (int i = 0; i < c; i++) rv->data[i] = 1;
        tg_norm_attr a = defaults(TG_OP_INSTANCE_NORM);
        tg_tensor *one = tg_instance_norm(t, x, NULL, NULL, w, b, &a);
        tg_tensor *two = tg_instance_norm(t, x, rm, rv, w, b, &a);
        ck_assert_msg(one && two, "%s", tg_error(t) ? tg_error(t) : "?");
        int64_t finite = 0;
        for (int64_t i = 0; i < x->numel; i++) {
            if (isnan(two->data[i])) {
                ck_assert_msg(isnan(one->data[i]), "case %d element %lld: %g, two-pass NaN", inner_case,
                              (long long)i, (double)one->data[i]);
                continue;
            }
            ck_assert_msg(one->data[i] == two->data[i], "case %d element %lld: %.9g vs %.9g", inner_case,
                          (long long)i, (double)one->data[i], (double)two->data[i]);
            finite++;
        }
        /* rows 1 and 2 hold an infinity: NaN there, finite everywhere else */
        ck_assert_int_eq(finite, x->numel - 2 * row);
        for (int64_t i = 0; i < 3 * row; i++)
            ck_assert_msg((i < row) == isfinite(one->data[i]), "case %d element %lld", inner_case, (long long)i);
    }
}
END_TEST

/* ---- numerics ---- */

START_TEST(large_means_and_constant_inputs)
{
    tg_tape *t = tt_tape();
    /* 1e4 + noise: the noise is what gets normalised, so x̂ matches the noise's own standardisation */
    int n = 1000;
    tg_tensor *x = tt_tensorv(NULL, 3, 1, 1, n);
    tg_rng r;
    tg_rng_seed(&r, 3);
    double noise[1000], m = 0, v = 0;
    for (int i = 0; i < n; i++) {
        x->data[i] = (tg_real)(1e4 + 0.05 * tg_rng_normal(&r));
        noise[i] = (double)x->data[i] - 1e4; /* what the tensor actually holds */
        m += noise[i];
    }
    m /= n;
    for (int i = 0; i < n; i++) v += (noise[i] - m) * (noise[i] - m);
    v /= n;
    double want[1000];
    for (int i = 0; i < n; i++) want[i] = (noise[i] - m) / sqrt(v + EPS);
    tg_norm_attr bn = defaults(TG_OP_BATCH_NORM);
    bn.training = true;
    tg_tensor *ys[3] = {tg_batch_norm(t, x, NULL, NULL, NULL, NULL, &bn), tg_instance_norm(t, x, NULL, NULL, NULL, NULL, NULL),
                        tg_layer_norm(t, x, NULL, NULL, NULL)};
    for (int k = 0; k < 3; k++) tt_assert_close(ys[k]->data, want, n, TT_DOUBLE ? 1e-9 : 2e-3);

    /* constant input: σ = 0, output β, gradients finite */
    tg_tensor *c = tt_tensorv(NULL, 3, 2, 2, 3);
    tg_tensor_fill(c, 7);
    c->requires_grad = true;
    tg_tensor *w = tt_tensorv((double[]){2, 3}, 1, 2), *b = tt_tensorv((double[]){0.5, -1}, 1, 2);
    w->requires_grad = true;
    tg_norm_attr gn = defaults(TG_OP_GROUP_NORM);
    gn.num_groups = 1;
    tg_tensor *outs[3] = {tg_batch_norm(t, c, NULL, NULL, w, b, &bn), tg_instance_norm(t, c, NULL, NULL, w, b, NULL),
                          tg_group_norm(t, c, w, b, &gn)};
    for (int k = 0; k < 3; k++) {
        ck_assert_ptr_nonnull(outs[k]);
        for (int i = 0; i < 12; i++) ck_assert(outs[k]->data[i] == (i / 3 % 2 ? -1 : (tg_real)0.5));
        tg_real dy[12];
        for (int i = 0; i < 12; i++) dy[i] = (tg_real)(i - 5);
        ck_assert_int_eq(tg_backward_with(outs[k], dy), TG_OK);
        for (int i = 0; i < 12; i++) ck_assert(isfinite(c->grad[i]));
        ck_assert(isfinite(w->grad[0]) && isfinite(w->grad[1]));
    }
}
END_TEST

START_TEST(results_do_not_depend_on_thread_count)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = rand_t(4, (int[]){4, 6, 7, 5}, 60, -2, 3);
    tg_tensor *w = vec(6, 0.5, 2, 1), *b = vec(6, -1, 1, 2);
    x->requires_grad = w->requires_grad = true;
    tg_norm_attr bn = defaults(TG_OP_BATCH_NORM);
    bn.training = true;
    tg_real *first = malloc(sizeof(tg_real) * 2 * 840 + sizeof(tg_real) * 6);
    for (int threads = 1; threads <= 2; threads++) {
        tg_set_threads(threads);
        tg_tape_reset(t);
        tg_tensor_zero_grad(x);
        tg_tensor_zero_grad(w);
        tg_tensor *y = tg_batch_norm(t, x, NULL, NULL, w, b, &bn);
        tg_real *dy = tg_tape_alloc(t, sizeof(tg_real) * 840);
        for (int i = 0; i < 840; i++) dy[i] = (tg_real)sin(i);
        ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
        if (threads == 1) {
            memcpy(first, y->data, sizeof(tg_real) * 840);
            memcpy(first + 840, x->grad, sizeof(tg_real) * 840);
            memcpy(first + 1680, w->grad, sizeof(tg_real) * 6);
        } else {
            ck_assert(!memcmp(first, y->data, sizeof(tg_real) * 840));
            ck_assert(!memcmp(first + 840, x->grad, sizeof(tg_real) * 840));
            ck_assert(!memcmp(first + 1680, w->grad, sizeof(tg_real) * 6));
        }
    }
    tg_set_threads(1);
    free(first);
}
END_TEST

/* Batch norm's passes go over (image, channel) rows split across the threads, then merge each
 * channel's rows in image order (norm_impl.h): 5 images of 7 channels (35 rows, cut mid-image by 2
 * and 3 threads), 3x11 maps, mean 100 + noise — y, dx (fresh and into a leaf), dγ, dβ and the
 * running statistics against the formulas in double, the same bits for 1, 2 and 3 threads; then
 * eval mode with the affine frozen (the backward without any sums). */
enum { BR_N = 5, BR_C = 7, BR_S = 33, BR_ALL = BR_N * BR_C * BR_S };
START_TEST(batch_norm_row_split_matches_reference)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = rand_t(4, (int[]){BR_N, BR_C, 3, 11}, 71, -2, 3);
    for (int i = 0; i < BR_ALL; i++) x->data[i] += 100;
    tg_tensor *w = vec(BR_C, 0.5, 2, 72), *b = vec(BR_C, -1, 1, 73), *dy = rand_t(4, (int[]){BR_N, BR_C, 3, 11}, 74, -1, 1);
    tg_tensor *rm = tt_tensorv(NULL, 1, (int64_t)BR_C), *rv = tt_tensorv(NULL, 1, (int64_t)BR_C);
    tg_tensor *one = tt_tensorv((double[]){1}, 1, (int64_t)1);
    x->requires_grad = w->requires_grad = b->requires_grad = true;
    tg_norm_attr bn = defaults(TG_OP_BATCH_NORM);
    bn.training = true;
    double *want_y = calloc(BR_ALL, sizeof(double)), *want_dx = calloc(BR_ALL, sizeof(double));
    double want_dw[BR_C] = {0}, want_db[BR_C] = {0}, want_rm[BR_C], want_rv[BR_C];
    const double m = BR_N * BR_S;
    for (int c = 0; c < BR_C; c++) {
        double mean = 0, var = 0, s1 = 0, s2 = 0;
        for (int p = 0; p < BR_N; p++)
            for (int q = 0; q < BR_S; q++) mean += x->data[(p * BR_C + c) * BR_S + q] / m;
        for (int p = 0; p < BR_N; p++)
            for (int q = 0; q < BR_S; q++) {
                double d = x->data[(p * BR_C + c) * BR_S + q] - mean;
                var += d * d / m;
            }
        const double rs = 1 / sqrt(var + EPS), g = w->data[c];
        for (int p = 0; p < BR_N; p++)
            for (int q = 0; q < BR_S; q++) {
                const int i = (p * BR_C + c) * BR_S + q;
                const double xh = (x->data[i] - mean) * rs;
                want_y[i] = xh * g + b->data[c];
                s1 += dy->data[i] * g, s2 += dy->data[i] * g * xh;
                want_dw[c] += dy->data[i] * xh, want_db[c] += dy->data[i];
            }
        for (int p = 0; p < BR_N; p++)
            for (int q = 0; q < BR_S; q++) {
                const int i = (p * BR_C + c) * BR_S + q;
                const double xh = (x->data[i] - mean) * rs;
                want_dx[i] = rs * (dy->data[i] * g - s1 / m - xh * s2 / m);
            }
        want_rm[c] = 0.1 * mean, want_rv[c] = 0.9 + 0.1 * var * m / (m - 1);
    }
    tg_real *first = malloc(sizeof(tg_real) * (2 * BR_ALL + 4 * BR_C));
    for (int threads = 1; threads <= 3; threads++)
        for (int fresh = 0; fresh < 2; fresh++) {
            tg_set_threads(threads);
            tg_tape_reset(t);
            tg_tensor_zero_grad(x), tg_tensor_zero_grad(w), tg_tensor_zero_grad(b);
            tg_tensor_fill(rm, 0), tg_tensor_fill(rv, 1);
            tg_tensor *y = tg_batch_norm(t, fresh ? tg_mul(t, x, one) : x, rm, rv, w, b, &bn);
            ck_assert_msg(y != NULL, "%s", tg_error(t) ? tg_error(t) : "?");
            ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
            /* 100 + noise in float: the centring keeps ~1e-5 of the noise */
            tt_assert_close(y->data, want_y, BR_ALL, TT_DOUBLE ? 1e-9 : 1e-3);
            tt_assert_close(x->grad, want_dx, BR_ALL, TT_DOUBLE ? 1e-9 : 1e-3);
            tt_assert_close(w->grad, want_dw, BR_C, TT_DOUBLE ? 1e-9 : 1e-3);
            tt_assert_close(b->grad, want_db, BR_C, TT_DOUBLE ? 1e-9 : 1e-3);
            tt_assert_close(rm->data, want_rm, BR_C, TT_DOUBLE ? 1e-9 : 1e-4);
            tt_assert_close(rv->data, want_rv, BR_C, TT_DOUBLE ? 1e-9 : 1e-4);
            const tg_real *got[6] = {y->data, x->grad, w->grad, b->grad, rm->data, rv->data};
            const int len[6] = {BR_ALL, BR_ALL, BR_C, BR_C, BR_C, BR_C};
            for (int k = 0, at = 0; k < 6; at += len[k], k++) {
                if (threads == 1 && !fresh) memcpy(first + at, got[k], sizeof(tg_real) * (size_t)len[k]);
                else ck_assert_msg(!memcmp(first + at, got[k], sizeof(tg_real) * (size_t)len[k]),
                                   "array %d differs: %d threads, fresh %d", k, threads, fresh);
            }
        }
    /* eval mode with the affine frozen: no sums at all, dx = γ·dy/sqrt(running var + ε) */
    w->requires_grad = b->requires_grad = false;
    bn.training = false;
    for (int threads = 1; threads <= 3; threads++) {
        tg_set_threads(threads);
        tg_tape_reset(t);
        unsigned char *junk = tg_tape_alloc(t, 4 << 20); /* NaN bytes where this step's scratch will lie */
        ck_assert_ptr_nonnull(junk);
        memset(junk, 0xff, 4 << 20);
        tg_tape_reset(t);
        tg_tensor_clear_grad(x);
        tg_tensor *y = tg_batch_norm(t, tg_mul(t, x, one), rm, rv, w, b, &bn);
        ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
        for (int i = 0; i < BR_ALL; i++) {
            const int c = i / BR_S % BR_C;
            want_dx[i] = (double)w->data[c] * dy->data[i] / sqrt((double)rv->data[c] + EPS);
        }
        tt_assert_close(x->grad, want_dx, BR_ALL, TT_DOUBLE ? 1e-12 : 1e-5);
    }
    tg_set_threads(1);
    free(first), free(want_y), free(want_dx);
}
END_TEST

/* Layer norm over 700 rows of 37 (three blocks of the backward's dγ/dβ partials, odd width) against
 * the formulas in double: dx, dγ, dβ, the same bits for 1, 2 and 3 threads; and the input's
 * gradient written fresh (x an intermediate) equals the one added into a leaf's zeros. */
enum { LN_ROWS = 700, LN_D = 37, LN_N = LN_ROWS * LN_D };
START_TEST(layer_norm_backward_blocks_match_reference)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = rand_t(2, (int[]){LN_ROWS, LN_D}, 91, -3, 2);
    tg_tensor *w = vec(LN_D, 0.5, 2, 92), *b = vec(LN_D, -1, 1, 93);
    tg_tensor *dy = rand_t(2, (int[]){LN_ROWS, LN_D}, 94, -1, 1);
    tg_tensor *one = tt_tensorv((double[]){1}, 1, (int64_t)1);
    x->requires_grad = w->requires_grad = b->requires_grad = true;
    tg_norm_attr ln = defaults(TG_OP_LAYER_NORM);
    ln.normalized_shape = (tg_ints){.n = 1, .v = {LN_D}};
    double *want_dx = calloc(LN_N, sizeof *want_dx), want_dw[LN_D] = {0}, want_db[LN_D] = {0};
    for (int r = 0; r < LN_ROWS; r++) {
        const tg_real *xr = x->data + r * LN_D, *g = dy->data + r * LN_D;
        double mean = 0, var = 0, s1 = 0, s2 = 0;
        for (int i = 0; i < LN_D; i++) mean += xr[i] / (double)LN_D;
        for (int i = 0; i < LN_D; i++) var += (xr[i] - mean) * (xr[i] - mean) / LN_D;
        double rs = 1 / sqrt(var + EPS);
        for (int i = 0; i < LN_D; i++) {
            double xh = (xr[i] - mean) * rs, dxh = g[i] * (double)w->data[i];
            s1 += dxh, s2 += dxh * xh;
            want_dw[i] += g[i] * xh, want_db[i] += g[i];
        }
        for (int i = 0; i < LN_D; i++) {
            double xh = (xr[i] - mean) * rs;
            want_dx[r * LN_D + i] = rs * (g[i] * (double)w->data[i] - s1 / LN_D - xh * s2 / LN_D);
        }
    }
    tg_real *first = malloc(sizeof(tg_real) * (LN_N + 2 * LN_D));
    for (int threads = 1; threads <= 3; threads++)
        for (int fresh = 0; fresh < 2; fresh++) {
            tg_set_threads(threads);
            tg_tape_reset(t);
            tg_tensor_zero_grad(x), tg_tensor_zero_grad(w), tg_tensor_zero_grad(b);
            /* fresh: x*1 is an intermediate, whose gradient layer norm writes */
            tg_tensor *y = tg_layer_norm(t, fresh ? tg_mul(t, x, one) : x, w, b, &ln);
            ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
            tt_assert_close(x->grad, want_dx, LN_N, TT_DOUBLE ? 1e-10 : 1e-4);
            tt_assert_close(w->grad, want_dw, LN_D, TT_DOUBLE ? 1e-10 : 1e-4);
            tt_assert_close(b->grad, want_db, LN_D, TT_DOUBLE ? 1e-10 : 1e-4);
            if (threads == 1 && !fresh) {
                memcpy(first, x->grad, sizeof(tg_real) * LN_N);
                memcpy(first + LN_N, w->grad, sizeof(tg_real) * LN_D);
                memcpy(first + LN_N + LN_D, b->grad, sizeof(tg_real) * LN_D);
            } else {
                ck_assert(!memcmp(first, x->grad, sizeof(tg_real) * LN_N));
                ck_assert(!memcmp(first + LN_N, w->grad, sizeof(tg_real) * LN_D));
                ck_assert(!memcmp(first + LN_N + LN_D, b->grad, sizeof(tg_real) * LN_D));
            }
        }
    tg_set_threads(1);
    free(first), free(want_dx);
}
END_TEST

/* Layer norm's forward on short rows goes 16 rows side by side (norm_impl.h, short_rows_forward):
 * widths around the vector (1, 3, 16, 17, 64, 100) and at the short-row limit (1024, and 1025 on
 * the row-by-row path), 45 rows (two groups and a short one), a large mean (1e3 + noise) — y and
 * the statistics against double, the same bits for 1, 2 and 3 threads (whose ranges cut the groups
 * differently), and a row holding +Inf made NaN without touching the others. */
START_TEST(layer_norm_short_rows_forward)
{
    static const int widths[] = {1, 3, 16, 17, 64, 100, 1024, 1025};
    tg_tape *t = tt_tape();
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int d = widths[wi], rows = 45, n = rows * d;
        tg_tensor *x = rand_t(2, (int[]){rows, d}, 200 + wi, -2, 2);
        for (int i = 0; i < n; i++) x->data[i] += 1000;
        tg_tensor *w = vec(d, 0.5, 2, 300 + wi), *b = vec(d, -1, 1, 400 + wi);
        tg_norm_attr ln = defaults(TG_OP_LAYER_NORM);
        ln.normalized_shape = (tg_ints){.n = 1, .v = {d}};
        double *want = malloc(sizeof(double) * (size_t)n);
        for (int r = 0; r < rows; r++) {
            const tg_real *xr = x->data + (int64_t)r * d;
            double mean = 0, var = 0;
            for (int i = 0; i < d; i++) mean += ((double)xr[i] - 1000) / d;
            for (int i = 0; i < d; i++) var += ((double)xr[i] - 1000 - mean) * ((double)xr[i] - 1000 - mean) / d;
            for (int i = 0; i < d; i++)
                want[(int64_t)r * d + i] =
                    ((double)xr[i] - 1000 - mean) / sqrt(var + EPS) * (double)w->data[i] + (double)b->data[i];
        }
        tg_real *first = malloc(sizeof(tg_real) * (size_t)n);
        for (int threads = 1; threads <= 3; threads++) {
            tg_set_threads(threads);
            tg_tape_reset(t);
            tg_tensor *y = tg_layer_norm(t, x, w, b, &ln);
            ck_assert_msg(y != NULL, "%s", tg_error(t) ? tg_error(t) : "?");
            /* 1e3 + noise in float: x − mean keeps ~1e-4 of the noise's scale (d = 1: y = β exactly) */
            tt_assert_close(y->data, want, n, TT_DOUBLE ? 1e-9 : 3e-3);
            if (threads == 1) memcpy(first, y->data, sizeof(tg_real) * (size_t)n);
            else ck_assert_msg(!memcmp(first, y->data, sizeof(tg_real) * (size_t)n), "width %d, %d threads", d, threads);
        }
        x->data[7 * d + d / 2] = (tg_real)INFINITY; /* row 7 */
        tg_tape_reset(t);
        tg_tensor *y = tg_layer_norm(t, x, w, b, &ln);
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(i / d == 7 ? !isfinite(y->data[i]) : y->data[i] == first[i], "width %d element %lld", d,
                          (long long)i);
        free(want), free(first);
    }
    tg_set_threads(1);
}
END_TEST

/* batch norm (training and eval) with x an intermediate, whose gradient is written fresh, gives
 * the same bits as with x a leaf, whose zeroed gradient is added to */
START_TEST(batch_norm_fresh_gradient_matches_accumulated)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = rand_t(4, (int[]){3, 5, 7, 6}, 95, -2, 2);
    tg_tensor *rm = vec(5, -0.1, 0.1, 96), *rv = vec(5, 0.5, 1.5, 97), *w = vec(5, 0.5, 2, 98);
    tg_tensor *one = tt_tensorv((double[]){1}, 1, (int64_t)1);
    tg_tensor *dy = rand_t(4, (int[]){3, 5, 7, 6}, 99, -1, 1);
    x->requires_grad = true;
    tg_real leaf[630];
    for (int training = 0; training < 2; training++) {
        tg_norm_attr bn = defaults(TG_OP_BATCH_NORM);
        bn.training = training;
        for (int fresh = 0; fresh < 2; fresh++) {
            tg_tape_reset(t);
            tg_tensor_zero_grad(x);
            tg_tensor *in = fresh ? tg_mul(t, x, one) : x;
            tg_tensor *y = training ? tg_batch_norm(t, in, NULL, NULL, w, NULL, &bn)
                                    : tg_batch_norm(t, in, rm, rv, w, NULL, &bn);
            ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
            if (!fresh) memcpy(leaf, x->grad, sizeof leaf);
            else ck_assert(!memcmp(leaf, x->grad, sizeof leaf));
        }
    }
}
END_TEST

/* ---- folding ---- */

START_TEST(fold_into_linear_and_conv)
{
    tg_tape *t = tt_tape();
    tg_tensor *rm = vec(4, -1, 1, 1), *rv = vec(4, 0.3, 2, 2), *g = vec(4, 0.5, 2, 3), *be = vec(4, -1, 1, 4);
    tg_norm_attr eval = defaults(TG_OP_BATCH_NORM);
    eval.eps = 1e-3;
    /* linear [5,3] -> [5,4] then BN equals the folded linear */
    tg_tensor *x = rand_t(2, (int[]){5, 3}, 70, -2, 2);
    tg_tensor *w = rand_t(2, (int[]){4, 3}, 71, -1, 1), *b = vec(4, -1, 1, 72);
    tg_tensor *ref = tg_batch_norm(t, tg_linear(t, x, w, b), rm, rv, g, be, &eval);
    ck_assert_ptr_nonnull(ref);
    ck_assert_int_eq(tg_fold_batch_norm(w, b, rm, rv, g, be, 1e-3), TG_OK);
    tg_tensor *folded = tg_linear(t, x, w, b);
    double want[20];
    for (int i = 0; i < 20; i++) want[i] = ref->data[i];
    tt_assert_close(folded->data, want, 20, TT_DOUBLE ? 1e-12 : 1e-5);

    /* conv2d [2,3,6,5] with w [4,3,3,3] then BN equals the folded conv */
    tg_tensor *xc = rand_t(4, (int[]){2, 3, 6, 5}, 73, -2, 2);
    tg_tensor *wc = rand_t(4, (int[]){4, 3, 3, 3}, 74, -1, 1), *bc = vec(4, -1, 1, 75);
    tg_conv_attr ca;
    tg_attr_defaults(TG_OP_CONV2D, &ca);
    ca.padding = (tg_ints){1, {1}};
    tg_tensor *refc = tg_batch_norm(t, tg_conv2d(t, xc, wc, bc, &ca), rm, rv, g, be, &eval);
    ck_assert_ptr_nonnull(refc);
    ck_assert_int_eq(tg_fold_batch_norm(wc, bc, rm, rv, g, be, 1e-3), TG_OK);
    tg_tensor *foldc = tg_conv2d(t, xc, wc, bc, &ca);
    double *wantc = malloc(sizeof(double) * (size_t)refc->numel);
    for (int64_t i = 0; i < refc->numel; i++) wantc[i] = refc->data[i];
    tt_assert_close(foldc->data, wantc, refc->numel, TT_DOUBLE ? 1e-12 : 1e-5);
    free(wantc);

    /* bad sizes change nothing */
    tg_tensor *w5 = rand_t(2, (int[]){5, 3}, 76, -1, 1);
    ck_assert_int_eq(tg_fold_batch_norm(w5, b, rm, rv, g, be, 1e-5), TG_ERR_INVALID);
    ck_assert_int_eq(tg_fold_batch_norm(w, NULL, rm, rv, g, be, 1e-5), TG_ERR_INVALID);
    /* no affine: γ = 1, β = 0 */
    tg_tensor *w1 = tt_tensorv((double[]){2}, 2, 1, 1), *b1 = tt_tensorv((double[]){1}, 1, 1);
    tg_tensor *m1 = tt_tensorv((double[]){3}, 1, 1), *v1 = tt_tensorv((double[]){4}, 1, 1);
    ck_assert_int_eq(tg_fold_batch_norm(w1, b1, m1, v1, NULL, NULL, 0), TG_OK);
    tt_assert_close(w1->data, ((double[]){1}), 1, 0);
    tt_assert_close(b1->data, ((double[]){-1}), 1, 0);
}
END_TEST

/* ---- bad input ---- */

START_TEST(bad_inputs)
{
    tg_tape *t = tt_tape();
    tg_norm_attr bn = defaults(TG_OP_BATCH_NORM);
    bn.training = true;
    tg_tensor *x14 = tt_tensorv(NULL, 2, 1, 4);
    tt_assert_error(t, tg_batch_norm(t, x14, NULL, NULL, NULL, NULL, &bn),
                    "batch_norm: expected more than 1 value per channel when training (x=[1,4])");
    tg_tape_reset(t);
    tg_tensor *x1411 = tt_tensorv(NULL, 4, 1, 4, 1, 1);
    tt_assert_error(t, tg_batch_norm(t, x1411, NULL, NULL, NULL, NULL, &bn), "expected more than 1 value per channel");
    tg_tape_reset(t);
    tg_tensor *x = tt_tensorv(NULL, 3, 2, 4, 5), *v3 = tt_tensorv(NULL, 1, 3), *v4 = tt_tensorv(NULL, 1, 4);
    tt_assert_error(t, tg_batch_norm(t, x, NULL, NULL, v3, NULL, &bn),
                    "batch_norm: weight must have 4 values, one per channel, but has shape [3] (x=[2,4,5] weight=[3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_batch_norm(t, x, v3, v3, v4, v4, &bn), "batch_norm: running_mean must have 4 values");
    tg_tape_reset(t);
    tt_assert_error(t, tg_batch_norm(t, x, NULL, NULL, NULL, NULL, NULL),
                    "batch_norm: running_mean and running_var are required when training=0 (x=[2,4,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_batch_norm(t, x, v4, NULL, NULL, NULL, &bn), "must be given together");
    tg_tape_reset(t);
    bn.momentum = NAN;
    tt_assert_error(t, tg_batch_norm(t, x, v4, v4, NULL, NULL, &bn), "momentum=none (cumulative average) needs the num_batches_tracked input");
    tg_tape_reset(t);
    tt_assert_error(t, tg_batch_norm(t, v4, NULL, NULL, NULL, NULL, &bn), "batch_norm: input must have at least 2 dims [N,C,...] (x=[4])");
    tg_tape_reset(t);
    tg_norm_attr gn = defaults(TG_OP_GROUP_NORM);
    gn.num_groups = 3;
    tt_assert_error(t, tg_group_norm(t, x, NULL, NULL, &gn), "group_norm: 4 channels are not divisible by num_groups=3 (x=[2,4,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_group_norm(t, x, NULL, NULL, NULL), "group_norm: num_groups must be positive, got 0");
    tg_tape_reset(t);
    gn.num_groups = 2;
    tt_assert_error(t, tg_group_norm(t, x, v3, NULL, &gn), "group_norm: weight must have 4 values");
    tg_tape_reset(t);
    tg_norm_attr ln = defaults(TG_OP_LAYER_NORM);
    ln.normalized_shape = (tg_ints){2, {5, 4}};
    tt_assert_error(t, tg_layer_norm(t, x, NULL, NULL, &ln),
                    "layer_norm: normalized_shape=[5,4] does not match the last dims of the input (x=[2,4,5])");
    tg_tape_reset(t);
    ln.normalized_shape = (tg_ints){4, {1, 2, 4, 5}};
    tt_assert_error(t, tg_layer_norm(t, x, NULL, NULL, &ln), "does not match the last dims");
    tg_tape_reset(t);
    ln.normalized_shape = (tg_ints){1, {5}};
    tt_assert_error(t, tg_layer_norm(t, x, v4, NULL, &ln), "layer_norm: weight must have the normalized_shape [5] (x=[2,4,5] weight=[4])");
    tg_tape_reset(t);
    tg_tensor *x2 = tt_tensorv(NULL, 3, 2, 4, 1);
    tt_assert_error(t, tg_instance_norm(t, x2, NULL, NULL, NULL, NULL, NULL), "instance_norm: expected more than 1 spatial element");
    tg_tape_reset(t);
    tt_assert_error(t, tg_tlu(t, x, v3), "tlu: tau must have 4 values");
    tg_tape_reset(t);
    bn.momentum = 0.1;
    bn.eps = -1;
    tt_assert_error(t, tg_batch_norm(t, x, NULL, NULL, NULL, NULL, &bn), "batch_norm: eps must be >= 0");
    tg_tape_reset(t);
    tt_assert_error(t, tg_frn(t, NULL, NULL, NULL, NULL), "frn: input is NULL");
    /* attribute parsing: momentum=none */
    char err[128];
    tg_norm_attr pa = defaults(TG_OP_BATCH_NORM);
    ck_assert(pa.momentum == 0.1 && pa.eps == 1e-5 && !pa.training);
    ck_assert_int_eq(tg_attr_set(TG_OP_BATCH_NORM, &pa, "momentum", "none", err, sizeof err), 0);
    ck_assert(isnan(pa.momentum));
}
END_TEST

Suite *suite_norm(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tt_tcase("values");
    tcase_add_test(tc, batch_norm_values_running_stats_and_backward);
    tcase_add_test(tc, batch_norm_2d_input_without_affine);
    tcase_add_test(tc, layer_norm_values);
    tcase_add_test(tc, layer_norm_backward_blocks_match_reference);
    tcase_add_test(tc, batch_norm_row_split_matches_reference);
    tcase_add_test(tc, layer_norm_short_rows_forward);
    tcase_add_test(tc, batch_norm_fresh_gradient_matches_accumulated);
    tcase_add_test(tc, instance_group_frn_tlu_values);
    suite_add_tcase(s, tc);
    tc = tt_tcase("gradcheck");
    tcase_add_test(tc, batch_norm_gradcheck_shapes);
    tcase_add_test(tc, layer_instance_group_frn_gradcheck);
    suite_add_tcase(s, tc);
    tc = tt_tcase("behaviour");
    tcase_add_test(tc, running_stats_over_steps);
    tcase_add_test(tc, per_sample_norms_do_not_depend_on_the_batch);
    tcase_add_test(tc, one_pass_statistics_match_two_pass);
    tcase_add_test(tc, large_means_and_constant_inputs);
    tcase_add_test(tc, results_do_not_depend_on_thread_count);
    tcase_add_test(tc, fold_into_linear_and_conv);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}
