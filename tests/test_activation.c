/* tests/test_activation.c — relu, leaky_relu, elu, sigmoid, tanh, gelu (both modes), softmax,
 * log_softmax and dropout: hand-computed values and slopes, gradient checks over shapes and
 * attributes, dropout's statistics and determinism, NaN and Inf as PyTorch, bad input. */
#include "util.h"

static tg_tensor *rnd(int nd, const int64_t *s, uint64_t seed, double lo, double hi)
{
    tg_tensor *x = tt_random(nd, s, seed, lo, hi);
    x->requires_grad = true;
    return x;
}
#define RND(seed, ...) rnd((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}, seed, -2, 2)

static tg_tensor *vec(int n, const double *v)
{
    tg_tensor *x = tt_tensorv(v, 1, n);
    x->requires_grad = true;
    return x;
}

/* y = f(x) for the 1-D x, then backward with dy = 1 (each x->grad is the slope). */
static tg_tensor *run_ones(tg_tensor *y)
{
    ck_assert_msg(y != NULL, "%s", "op failed");
    tg_real *dy = tg_tape_alloc(y->tape, sizeof(tg_real) * (size_t)y->numel);
    for (int64_t i = 0; i < y->numel; i++) dy[i] = 1;
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    return y;
}

START_TEST(relu_leaky_elu_values_and_slopes)
{
    tg_tape *t = tt_tape();
    const double xs[5] = {-2, -0.5, 0, 1.5, 3};
    tg_tensor *x = vec(5, xs);
    tg_tensor *y = run_ones(tg_relu(t, x));
    tt_assert_close(y->data, ((double[]){0, 0, 0, 1.5, 3}), 5, TT_TOL);
    tt_assert_close(x->grad, ((double[]){0, 0, 0, 1, 1}), 5, TT_TOL); /* slope 0 at 0, as PyTorch */

    x = vec(5, xs);
    y = run_ones(tg_leaky_relu(t, x, 0.1));
    tt_assert_close(y->data, ((double[]){-0.2, -0.05, 0, 1.5, 3}), 5, TT_TOL);
    tt_assert_close(x->grad, ((double[]){0.1, 0.1, 0.1, 1, 1}), 5, TT_TOL);

    /* elu alpha 2: 2(e^-2 - 1) = -1.7293294335267746, 2(e^-0.5 - 1) = -0.7869386805747332 */
    x = vec(5, xs);
    y = run_ones(tg_elu(t, x, 2));
    tt_assert_close(y->data, ((double[]){-1.7293294335267746, -0.7869386805747332, 0, 1.5, 3}), 5, TT_TOL);
    /* slope 2 e^x: 0.2706705664732254, 1.2130613194252668, 2 at 0 (PyTorch takes the x <= 0 branch) */
    tt_assert_close(x->grad, ((double[]){0.2706705664732254, 1.2130613194252668, 2, 1, 1}), 5, TT_TOL);

    /* the default attributes are PyTorch's: slope 0.01, alpha 1 */
    tg_tensor *in[1] = {vec(1, (double[]){-1})};
    tt_assert_close(tg_op_apply(t, TG_OP_LEAKY_RELU, in, 1, NULL)->data, ((double[]){-0.01}), 1, TT_TOL);
    tt_assert_close(tg_op_apply(t, TG_OP_ELU, in, 1, NULL)->data, ((double[]){-0.6321205588285577}), 1, TT_TOL);
}
END_TEST

/* want NaN: got NaN; otherwise equal (infinities included) within TT_TOL. */
static void assert_values_nan(const tg_real *got, const double *want, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(isnan(want[i]) ? isnan(got[i])
                                     : isinf(want[i]) ? got[i] == want[i] : fabs(got[i] - want[i]) <= TT_TOL,
                      "element %d: got %g, want %g", i, (double)got[i], want[i]);
}

/* PyTorch: relu(NaN) = NaN and its gradient passes dy (threshold_backward selects on x <= 0);
 * where x <= 0 the gradient is 0 even for a NaN dy; -Inf gives 0, +Inf itself. */
START_TEST(relu_nan_and_inf_as_pytorch)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = vec(6, (double[]){NAN, INFINITY, -INFINITY, -1, 0, 2});
    tg_tensor *y = tg_relu(t, x);
    ck_assert_ptr_nonnull(y);
    assert_values_nan(y->data, (double[]){NAN, INFINITY, 0, 0, 0, 2}, 6);
    tg_real dy[6] = {5, 6, (tg_real)NAN, (tg_real)NAN, (tg_real)NAN, 9};
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    assert_values_nan(x->grad, (double[]){5, 6, 0, 0, 0, 9}, 6);
    /* leaky_relu multiplies (PyTorch's leaky_relu_backward): NaN stays NaN both ways */
    x = vec(3, (double[]){NAN, -INFINITY, -2});
    y = tg_leaky_relu(t, x, 0.5);
    assert_values_nan(y->data, (double[]){NAN, -INFINITY, -1}, 3);
    ck_assert_int_eq(tg_backward_with(y, (tg_real[]){2, 2, (tg_real)NAN}), TG_OK);
    assert_values_nan(x->grad, (double[]){1, 1, NAN}, 3);
}
END_TEST

/* Training dropout multiplies by its mask, as PyTorch does: a NaN stays NaN whether kept or
 * dropped (NaN·0), a kept +Inf stays +Inf, a dropped one becomes NaN (Inf·0). */
START_TEST(dropout_training_keeps_nan)
{
    tg_tape *t = tt_tape();
    enum { N = 400 };
    double v[N];
    for (int i = 0; i < N; i++) v[i] = i % 2 ? INFINITY : NAN;
    tg_tensor *x = vec(N, v);
    tg_tensor *y = run_ones(tg_dropout(t, x, 0.5, true));
    int kept_inf = 0, dropped_inf = 0;
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) {
            ck_assert_msg(isnan(y->data[i]), "element %d: NaN became %g", i, (double)y->data[i]);
            continue;
        }
        /* the gradient is the mask itself: 2 where kept, 0 where dropped */
        const bool kept = x->grad[i] == 2;
        ck_assert_msg(kept || x->grad[i] == 0, "element %d: mask %g", i, (double)x->grad[i]);
        ck_assert_msg(kept ? y->data[i] == INFINITY : isnan(y->data[i]), "element %d: %s +Inf gave %g", i,
                      kept ? "kept" : "dropped", (double)y->data[i]);
        kept ? kept_inf++ : dropped_inf++;
    }
    ck_assert_int_gt(kept_inf, 50);
    ck_assert_int_gt(dropped_inf, 50);
}
END_TEST

START_TEST(sigmoid_tanh_values_slopes_and_extremes)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = vec(4, (double[]){0, 2, -800, 800});
    tg_tensor *y = run_ones(tg_sigmoid(t, x));
    /* sigmoid(2) = 0.8807970779778823, slope s(1-s) = 0.10499358540350652; no overflow at +-800 */
    tt_assert_close(y->data, ((double[]){0.5, 0.8807970779778823, 0, 1}), 4, TT_TOL);
    tt_assert_close(x->grad, ((double[]){0.25, 0.10499358540350652, 0, 0}), 4, TT_TOL);

    x = vec(3, (double[]){1, -1, 0});
    y = run_ones(tg_tanh(t, x));
    tt_assert_close(y->data, ((double[]){0.7615941559557649, -0.7615941559557649, 0}), 3, TT_TOL);
    tt_assert_close(x->grad, ((double[]){0.41997434161402614, 0.41997434161402614, 1}), 3, TT_TOL);
}
END_TEST

/* The notes' vanishing-gradient example: ten sigmoid layers, each fed a pre-activation of 0
 * (sigmoid(z) - 0.5 feeds the next), multiply ten slopes of 0.25: 0.25^10 = 1/1048576. */
START_TEST(sigmoid_chain_vanishes_as_in_the_notes)
{
    tg_tape *t = tt_tape();
    tg_tensor *z = vec(1, (double[]){0});
    tg_tensor *half = tt_tensorv((double[]){0.5}, 1, 1);
    tg_tensor *a = z;
    for (int layer = 0; layer < 10; layer++) {
        a = tg_sigmoid(t, a);
        tt_assert_close(a->data, ((double[]){0.5}), 1, TT_TOL);
        a = tg_sub(t, a, half);
    }
    run_ones(a);
    tt_assert_close(z->grad, ((double[]){1.0 / 1048576}), 1, 1e-12);
    ck_assert(z->grad[0] < 9.6e-7 && z->grad[0] > 9.5e-7);
}
END_TEST

START_TEST(gelu_exact_and_tanh)
{
    tg_tape *t = tt_tape();
    /* exact: y = x Phi(x); Phi(1) = 0.8413447460685429, phi(1) = 0.24197072451914337 */
    tg_tensor *x = vec(3, (double[]){1, -1, 0});
    tg_tensor *y = run_ones(tg_gelu(t, x, false));
    tt_assert_close(y->data, ((double[]){0.8413447460685429, -0.15865525393145707, 0}), 3, TT_TOL);
    tt_assert_close(x->grad, ((double[]){1.0833154705876863, -0.08331547058768629, 0.5}), 3, TT_TOL);
    /* tanh approximation (values computed separately in Python) */
    x = vec(3, (double[]){1, -0.5, 0});
    y = run_ones(tg_gelu(t, x, true));
    tt_assert_close(y->data, ((double[]){0.8411919906082768, -0.15428599017485606, 0}), 3, TT_TOL);
    tt_assert_close(x->grad, ((double[]){1.0829640838457826, 0.13263009646535764, 0.5}), 3, TT_TOL);
}
END_TEST

START_TEST(softmax_and_log_softmax_values)
{
    tg_tape *t = tt_tape();
    /* softmax(1,2,3) = (e^-2, e^-1, 1) / (e^-2 + e^-1 + 1) */
    const double p[3] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
    const double lp[3] = {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806};
    tg_tensor *x = vec(3, (double[]){1, 2, 3});
    tg_tensor *y = tg_softmax(t, x, -1);
    tt_assert_close(y->data, p, 3, TT_TOL);
    /* dy = (1,0,0): dx = y * (dy - y0) */
    tg_real dy[3] = {1, 0, 0};
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    tt_assert_close(x->grad, ((double[]){p[0] * (1 - p[0]), -p[1] * p[0], -p[2] * p[0]}), 3, TT_TOL);

    tg_tensor *big = vec(3, (double[]){1001, 1002, 1003}); /* max-shifted: no overflow */
    tt_assert_close(tg_softmax(t, big, 0)->data, p, 3, TT_TOL);
    tt_assert_close(tg_log_softmax(t, big, 0)->data, lp, 3, 1e-4);

    x = vec(3, (double[]){1, 2, 3});
    y = tg_log_softmax(t, x, 0);
    tt_assert_close(y->data, lp, 3, TT_TOL);
    /* dy = (1,0,0): dx = dy - softmax * sum(dy) */
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    tt_assert_close(x->grad, ((double[]){1 - p[0], -p[1], -p[2]}), 3, TT_TOL);

    /* along dim 0 of [2,2]: columns (0, ln 3) -> (1/4, 3/4) */
    tg_tensor *m = tt_tensorv((double[]){0, 5, log(3), 5}, 2, 2, 2);
    tt_assert_close(tg_softmax(t, m, 0)->data, ((double[]){0.25, 0.5, 0.75, 0.5}), 4, TT_TOL);
    /* rank 0: softmax of a scalar is 1 */
    tt_assert_close(tg_softmax(t, tt_tensorv((double[]){7}, 0), -1)->data, ((double[]){1}), 1, TT_TOL);
}
END_TEST

/* ---- dropout ---- */

START_TEST(dropout_eval_p0_p1)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = vec(4, (double[]){1, -2, 3, -4});
    tg_tensor *y = run_ones(tg_dropout(t, x, 0.5, false));
    tt_assert_close(y->data, ((double[]){1, -2, 3, -4}), 4, 0);
    tt_assert_close(x->grad, ((double[]){1, 1, 1, 1}), 4, 0);
    x = vec(4, (double[]){1, -2, 3, -4});
    y = run_ones(tg_dropout(t, x, 0, true));
    tt_assert_close(y->data, ((double[]){1, -2, 3, -4}), 4, 0);
    tt_assert_close(x->grad, ((double[]){1, 1, 1, 1}), 4, 0);
    x = vec(4, (double[]){1, -2, 3, -4});
    y = run_ones(tg_dropout(t, x, 1, true));
    tt_assert_close(y->data, ((double[]){0, 0, 0, 0}), 4, 0);
    tt_assert_close(x->grad, ((double[]){0, 0, 0, 0}), 4, 0);
}
END_TEST

START_TEST(dropout_training_statistics)
{
    /* p = 0.5 is the notes' example: about half the units are dropped each forward pass */
    const double ps[2] = {0.3, 0.5};
    for (int k = 0; k < 2; k++) {
        tg_tape *t = tt_tape();
        tg_tape_seed(t, 123 + k);
        const int64_t n = 40000;
        const double p = ps[k];
        tg_tensor *x = tt_tensor(1, &n, NULL);
        tg_tensor_fill(x, 2);
        x->requires_grad = true;
        tg_tensor *y = run_ones(tg_dropout(t, x, p, true));
        int64_t zeros = 0;
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = y->data[i];
            if (v == 0) zeros++;
            else ck_assert_msg(fabs(v - 2 / (1 - p)) < 1e-5, "kept value %g is not x/(1-p)", v);
            /* the gradient is the same mask: 0 or 1/(1-p) */
            ck_assert(fabs(x->grad[i] - v / 2) < 1e-6);
            sum += v;
        }
        /* the dropped fraction is Binomial(n, p)/n: standard deviation <= 0.0025, allow 5 of them */
        double frac = (double)zeros / (double)n;
        ck_assert_msg(fabs(frac - p) < 0.0125, "dropped fraction %g, want %g", frac, p);
        /* inverted dropout keeps the expectation: mean stays 2 (the notes scale at test time
         * instead; PyTorch and tapegrad scale during training, eval is the identity) */
        ck_assert_msg(fabs(sum / (double)n - 2) < 0.05, "mean %g, want 2 (unbiased)", sum / (double)n);
    }
}
END_TEST

START_TEST(dropout_mask_follows_the_tape_seed)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensor(1, (int64_t[]){64}, NULL);
    tg_tensor_fill(x, 1);
    tg_tape_seed(t, 5);
    tg_tensor *a = tg_dropout(t, x, 0.5, true);
    tg_tensor *b = tg_dropout(t, x, 0.5, true); /* the stream moves on */
    tg_tape_seed(t, 5);
    tg_tensor *c = tg_dropout(t, x, 0.5, true);
    bool ab_differ = false;
    for (int i = 0; i < 64; i++) {
        ck_assert(a->data[i] == c->data[i]);
        ab_differ |= a->data[i] != b->data[i];
    }
    ck_assert(ab_differ);
}
END_TEST

/* The mask: each element dropped with probability p (binomial bounds over 2^18 draws, p from
 * 0.05 to 0.95 and 1), the kept ones scaled by 1/(1-p), successive elements uncorrelated (the
 * counter-based draw: pairs (i, i+1) both dropped at p^2), and the same mask for 1, 2 and 3
 * threads (a split of the elements over threads). */
START_TEST(dropout_mask_is_fair_and_thread_independent)
{
    const int64_t n = (int64_t)1 << 18;
    tg_tensor *x = tt_tensor(1, (int64_t[]){n}, NULL);
    tg_tensor_fill(x, 3);
    const double ps[] = {0.05, 0.3, 0.5, 0.95, 1};
    const int saved = tg_get_threads();
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        const double p = ps[k];
        tg_real *first = NULL;
        for (int threads = 1; threads <= 3; threads++) {
            tg_set_threads(threads);
            tg_tape *t = tt_tape();
            tg_tape_seed(t, 77);
            tg_tensor *y = tg_dropout(t, x, p, true);
            ck_assert_ptr_nonnull(y);
            int64_t dropped = 0, pairs = 0;
            for (int64_t i = 0; i < n; i++) {
                const bool d = y->data[i] == 0;
                dropped += d;
                if (i % 2 == 0 && d && y->data[i + 1] == 0) pairs++;
                if (!d) ck_assert_msg(fabs(y->data[i] - 3 / (1 - p)) <= 1e-5 * 3 / (1 - p), "kept value %g", (double)y->data[i]);
            }
            const double sd = sqrt(n * p * (1 - p)) + 1;
            ck_assert_msg(fabs((double)dropped - n * p) <= 6 * sd, "p %g: %lld of %lld dropped", p, (long long)dropped,
                          (long long)n);
            const double sd2 = sqrt(n / 2 * p * p * (1 - p * p)) + 1;
            ck_assert_msg(fabs((double)pairs - n / 2 * p * p) <= 6 * sd2, "p %g: %lld neighbour pairs both dropped", p,
                          (long long)pairs);
            if (threads == 1) {
                first = tg_tape_alloc(t, (size_t)n * sizeof *first); /* lives as long as the test's tapes */
                memcpy(first, y->data, (size_t)n * sizeof *first);
            } else {
                ck_assert_msg(!memcmp(first, y->data, (size_t)n * sizeof *first), "p %g: %d threads differ", p, threads);
            }
        }
    }
    tg_set_threads(saved);
}
END_TEST

/* ---- gradient checks ---- */

static const int64_t check_shapes[][4] = {{1, 7}, {3, 2, 3, 4}, {3, 1, 1, 5}, {2, 3, 1}};

START_TEST(gradcheck_pointwise)
{
    for (size_t s = 0; s < sizeof check_shapes / sizeof *check_shapes; s++) {
        int nd = (int)check_shapes[s][0];
        const int64_t *shape = &check_shapes[s][1];
        uint64_t seed = 100 + s;
        tt_gradcheck_op(TG_OP_RELU, NULL, (tg_tensor *[]){rnd(nd, shape, seed, -2, 2)}, 1);
        tt_gradcheck_op(TG_OP_SIGMOID, NULL, (tg_tensor *[]){rnd(nd, shape, seed, -4, 4)}, 1);
        tt_gradcheck_op(TG_OP_TANH, NULL, (tg_tensor *[]){rnd(nd, shape, seed, -3, 3)}, 1);
        for (int k = 0; k < 2; k++) {
            tg_leaky_relu_attr l = {k ? 0.2 : 0.01};
            tt_gradcheck_op(TG_OP_LEAKY_RELU, &l, (tg_tensor *[]){rnd(nd, shape, seed + 10, -2, 2)}, 1);
            tg_elu_attr e = {k ? 0.7 : 1.0};
            tt_gradcheck_op(TG_OP_ELU, &e, (tg_tensor *[]){rnd(nd, shape, seed + 20, -2, 2)}, 1);
            tg_gelu_attr g = {k ? TG_GELU_TANH : TG_GELU_NONE};
            tt_gradcheck_op(TG_OP_GELU, &g, (tg_tensor *[]){rnd(nd, shape, seed + 30, -3, 3)}, 1);
        }
    }
}
END_TEST

START_TEST(gradcheck_softmax_every_dim)
{
    tg_tensor *x = RND(200, 2, 3, 4);
    tg_tensor *col = RND(201, 4, 1);
    for (int dim = -3; dim < 3; dim++) {
        tg_softmax_attr a = {dim};
        tt_gradcheck_op(TG_OP_SOFTMAX, &a, (tg_tensor *[]){x}, 1);
        tt_gradcheck_op(TG_OP_LOG_SOFTMAX, &a, (tg_tensor *[]){x}, 1);
    }
    for (int dim = 0; dim < 2; dim++) { /* a size-1 softmax dim has zero gradient */
        tg_softmax_attr a = {dim};
        tt_gradcheck_op(TG_OP_SOFTMAX, &a, (tg_tensor *[]){col}, 1);
        tt_gradcheck_op(TG_OP_LOG_SOFTMAX, &a, (tg_tensor *[]){col}, 1);
    }
}
END_TEST

START_TEST(gradcheck_dropout)
{
    /* the checker reseeds the tape before every evaluation, so the mask repeats */
    const double ps[3] = {0.2, 0.5, 0.9};
    for (int i = 0; i < 3; i++) {
        tg_dropout_attr a = {ps[i], true};
        tt_gradcheck_op(TG_OP_DROPOUT, &a, (tg_tensor *[]){RND(300 + i, 3, 5, 2)}, 1);
        a.training = false;
        tt_gradcheck_op(TG_OP_DROPOUT, &a, (tg_tensor *[]){RND(310 + i, 4, 3)}, 1);
    }
}
END_TEST

/* Large inputs run on the thread pool; the result must be identical to one thread's. */
START_TEST(threads_give_identical_results)
{
    int64_t shape[2] = {300, 257}; /* 77100 elements: above the parallel grain */
    tg_tensor *x = rnd(2, shape, 400, -3, 3);
    tg_tensor *(*const ops[])(tg_tape *, tg_tensor *) = {tg_relu, tg_sigmoid, tg_tanh};
    int saved = tg_get_threads();
    for (int k = 0; k < 5; k++) {
        tg_real *first = NULL, *first_grad = NULL;
        for (int threads = 1; threads <= 2; threads++) {
            tg_set_threads(threads);
            tg_tape *t = tt_tape();
            tg_tensor_zero_grad(x);
            tg_tensor *y = k < 3 ? ops[k](t, x) : k == 3 ? tg_softmax(t, x, 0) : tg_log_softmax(t, x, 1);
            ck_assert_ptr_nonnull(y);
            tg_real *dy = tg_tape_alloc(t, sizeof(tg_real) * (size_t)y->numel);
            for (int64_t i = 0; i < y->numel; i++) dy[i] = (tg_real)((i % 7) - 3);
            ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
            if (threads == 1) {
                first = tg_tape_alloc(t, sizeof(tg_real) * (size_t)y->numel * 2);
                first_grad = first + y->numel;
                memcpy(first, y->data, sizeof(tg_real) * (size_t)y->numel);
                memcpy(first_grad, x->grad, sizeof(tg_real) * (size_t)y->numel);
            } else {
                ck_assert_msg(memcmp(first, y->data, sizeof(tg_real) * (size_t)y->numel) == 0, "op %d: output differs", k);
                ck_assert_msg(memcmp(first_grad, x->grad, sizeof(tg_real) * (size_t)y->numel) == 0, "op %d: grad differs", k);
            }
        }
    }
    tg_set_threads(saved);
}
END_TEST

START_TEST(bad_input_messages)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = RND(1, 2, 3);
    tt_assert_error(t, tg_softmax(t, x, 2), "softmax: dim 2 out of range for rank 2 (x=[2,3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_log_softmax(t, x, -3), "log_softmax: dim -3 out of range for rank 2 (x=[2,3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_dropout(t, x, 1.5, true), "dropout: p must be in [0, 1], got 1.5 (x=[2,3])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_dropout(t, x, -0.1, false), "dropout: p must be in [0, 1], got -0.1");
    tg_tape_reset(t);
    tt_assert_error(t, tg_dropout(t, x, NAN, true), "dropout: p must be in [0, 1], got nan");
    tg_tape_reset(t);
    tt_assert_error(t, tg_relu(t, NULL), "relu: input is NULL");
    tg_tape_reset(t);
    tt_assert_error(t, tg_gelu(t, tt_labels(2, (int64_t[]){0, 1}), false), "gelu: input must be real, got int64");
    char err[128];
    tg_gelu_attr g;
    ck_assert_int_eq(tg_attr_parse(TG_OP_GELU, &g, "approximate=tanh", err, sizeof err), 0);
    ck_assert_int_eq(g.approximate, TG_GELU_TANH);
    ck_assert_int_eq(tg_attr_parse(TG_OP_GELU, &g, "approximate=erf", err, sizeof err), TG_ERR_INVALID);
}
END_TEST

Suite *suite_activation(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tt_tcase("values");
    tcase_add_test(tc, relu_leaky_elu_values_and_slopes);
    tcase_add_test(tc, relu_nan_and_inf_as_pytorch);
    tcase_add_test(tc, dropout_training_keeps_nan);
    tcase_add_test(tc, sigmoid_tanh_values_slopes_and_extremes);
    tcase_add_test(tc, sigmoid_chain_vanishes_as_in_the_notes);
    tcase_add_test(tc, gelu_exact_and_tanh);
    tcase_add_test(tc, softmax_and_log_softmax_values);
    tcase_add_test(tc, dropout_eval_p0_p1);
    tcase_add_test(tc, dropout_training_statistics);
    tcase_add_test(tc, dropout_mask_follows_the_tape_seed);
    tcase_add_test(tc, dropout_mask_is_fair_and_thread_independent);
    tcase_add_test(tc, bad_input_messages);
    tcase_add_test(tc, threads_give_identical_results);
    suite_add_tcase(s, tc);
    tc = tt_tcase("gradcheck");
    tcase_add_test(tc, gradcheck_pointwise);
    tcase_add_test(tc, gradcheck_softmax_every_dim);
    tcase_add_test(tc, gradcheck_dropout);
    suite_add_tcase(s, tc);
    return s;
}
