/* tests/test_optim.c — optimizers' first steps, parameter groups, schedules and clipping against
 * hand computations. The trajectories below were checked by hand for the first step
 * (e.g. SGD: grad = (0,-3,1), p - 0.1 g = (1,-1.7,0.4)) and against torch.optim 1.13 in float64
 * for the later ones. Loss: sum(p^2) + p0 p1, so grad = 2p + (p1, p0, 0). */
#include "util.h"

#include "../optim/optim.h"

static void set_grad(tg_tensor *p)
{
    tg_real *g = tg_tensor_grad(p);
    const tg_real *v = p->data;
    g[0] = 2 * v[0] + v[1];
    g[1] = 2 * v[1] + v[0];
    g[2] = 2 * v[2];
}

/* Runs three steps from p = (1,-2,0.5) and compares every step with want[3][3]. */
static void check_trajectory(const tg_optim_config *cfg, const double want[3][3])
{
    const double p0[3] = {1.0, -2.0, 0.5};
    tg_tensor *p = tt_tensorv(p0, 1, (int64_t)3);
    tg_optim *opt = tg_optim_new(cfg);
    ck_assert_ptr_nonnull(opt);
    ck_assert_int_eq(tg_optim_add_group(opt, &p, 1, NAN, NAN), 0);
    for (int s = 0; s < 3; s++) {
        tg_optim_zero_grad(opt);
        set_grad(p);
        tg_optim_step(opt);
        tt_assert_close(p->data, want[s], 3, TT_DOUBLE ? 1e-11 : 2e-6);
    }
    tg_optim_free(opt);
}

START_TEST(sgd_plain)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.lr = 0.1;
    const double want[3][3] = {{1.0, -1.7, 0.4}, {0.97, -1.46, 0.32}, {0.922, -1.265, 0.256}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(sgd_momentum_dampening_decay)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.lr = 0.1, c.momentum = 0.9, c.dampening = 0.1, c.weight_decay = 0.01;
    /* step 1: g = (0,-3,1) + 0.01 p = (0.01,-3.02,1.005); buf = g (no dampening at step 1) */
    const double want[3][3] = {{0.999, -1.698, 0.3995},
                               {0.9702009, -1.2089418, 0.23678045},
                               {0.87757712919, -0.63740992938, 0.047499271595}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(sgd_nesterov)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.lr = 0.1, c.momentum = 0.9, c.nesterov = true, c.weight_decay = 0.01;
    /* step 1: g = (0.01,-3.02,1.005), buf = g, update g + 0.9 buf = 1.9 g */
    const double want[3][3] = {{0.9981, -1.4262, 0.30905},
                               {0.88709361, -0.82655322, 0.109618805},
                               {0.657650211141, -0.307928809182, -0.0558255471295}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(adam_with_l2)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAM);
    c.lr = 0.1, c.weight_decay = 0.1;
    /* step 1: m_hat = g, v_hat = g^2 -> p -= 0.1 g / (|g| + 1e-8): about 0.1 sign(g) */
    const double want[3][3] = {{0.900000009999999, -1.9000000003125, 0.400000000952381},
                               {0.840735150375739, -1.800106443563293, 0.301187421560525},
                               {0.818211887662409, -1.700461292216055, 0.204871252408911}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(adamw_amsgrad)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAMW);
    c.lr = 0.1, c.amsgrad = true;
    /* step 1: p *= 1 - 0.1*0.01 then -0.1 sign(g): p0 = 0.999 (g0 = 0 -> 0/(0+eps) = 0) */
    const double want[3][3] = {{0.999, -1.898000000333333, 0.399500001},
                               {0.923587328164353, -1.79634570532395, 0.300297839259461},
                               {0.842433791699045, -1.695070723825874, 0.203712382973764}};
    check_trajectory(&c, want);
}
END_TEST

/* Adam (L2 decay) with AMSGrad: a small beta2 lets v fall by the third step, where the running
 * maximum then differs from v (plain Adam's third step: p2 = 0.189450391284878). */
START_TEST(adam_amsgrad)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAM);
    c.lr = 0.1, c.beta2 = 0.5, c.weight_decay = 0.01, c.amsgrad = true;
    const double want[3][3] = {{0.9000000999999, -1.9000000003311257, 0.40000000099502486},
                               {0.9579105773228317, -1.7995329715597324, 0.29736664756333486},
                               {0.9399419990775049, -1.6972238186662099, 0.20022583640350283}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(rmsprop_plain)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_RMSPROP);
    c.lr = 0.01;
    /* step 1: sq = 0.01 g^2 -> p -= 0.01 g / (0.1|g| + 1e-8) = 0.1 sign(g) */
    const double want[3][3] = {{1.0, -1.900000003333333, 0.400000009999999},
                               {0.900000099999903, -1.831585116078795, 0.337339177957493},
                               {0.930256256298733, -1.775436121568696, 0.290433226321043}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(rmsprop_centered_momentum)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_RMSPROP);
    c.lr = 0.01, c.momentum = 0.5, c.centered = true, c.weight_decay = 0.1;
    const double want[3][3] = {{0.899496319484078, -1.899496221630644, 0.399496228094088},
                               {0.859833869042897, -1.778903685479484, 0.286006948454963},
                               {0.813894907543418, -1.663192864805279, 0.187592677556841}};
    check_trajectory(&c, want);
}
END_TEST

START_TEST(defaults_and_bad_config)
{
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_ADAMW);
    ck_assert(c.lr == 1e-3 && c.weight_decay == 1e-2 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8);
    c = tg_optim_defaults(TG_OPTIM_RMSPROP);
    ck_assert(c.lr == 1e-2 && c.alpha == 0.99 && c.momentum == 0);
    ck_assert_int_eq(tg_optim_kind_from_name("adamw"), TG_OPTIM_ADAMW);
    ck_assert_int_eq(tg_optim_kind_from_name("adagrad"), -1);
    char err[256];
    c = tg_optim_defaults(TG_OPTIM_SGD);
    c.nesterov = true;
    ck_assert_ptr_null(tg_optim_new_checked(&c, err, sizeof err));
    ck_assert_str_eq(err, "sgd: nesterov needs momentum > 0 and dampening 0");
    c = tg_optim_defaults(TG_OPTIM_ADAM);
    c.beta2 = 1.0;
    ck_assert_ptr_null(tg_optim_new_checked(&c, err, sizeof err));
    ck_assert_str_eq(err, "adam: betas must be in [0, 1)");
    c.beta2 = 0.999, c.lr = -1;
    ck_assert_ptr_null(tg_optim_new_checked(&c, err, sizeof err));
    ck_assert_str_eq(err, "adam: lr must be >= 0");
}
END_TEST

START_TEST(groups_lr_and_no_decay)
{
    /* weight [2,2] in the decay group, bias [2] without: with grad 0 only decay moves them */
    tg_tensor *w = tt_tensorv((const double[]){1, 2, 3, 4}, 2, (int64_t)2, (int64_t)2);
    tg_tensor *b = tt_tensorv((const double[]){1, -1}, 1, (int64_t)2);
    tg_tensor *params[2] = {b, w};
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.lr = 0.5, c.weight_decay = 0.1;
    tg_optim *opt = tg_optim_new(&c);
    ck_assert_int_eq(tg_optim_add_params_split_decay(opt, params, 2), 0);
    ck_assert_int_eq(opt->n_groups, 2);
    ck_assert_ptr_eq(opt->slots[opt->groups[0].first].param, w);
    ck_assert(opt->groups[1].weight_decay == 0 && opt->groups[0].weight_decay == 0.1);
    tg_tensor_grad(w), tg_tensor_grad(b);
    tg_optim_step(opt);
    tt_assert_close(w->data, ((const double[]){0.95, 1.9, 2.85, 3.8}), 4, 1e-6); /* p - 0.5*0.1 p */
    tt_assert_close(b->data, ((const double[]){1, -1}), 2, 0);
    /* a group with its own lr */
    tg_tensor *q = tt_tensorv((const double[]){1}, 1, (int64_t)1);
    ck_assert_int_eq(tg_optim_add_group(opt, &q, 1, 2.0, 0.0), 2);
    tg_tensor_grad(q)[0] = 1;
    tg_optim_step(opt);
    ck_assert_double_eq_tol(q->data[0], -1.0, 1e-12);
    /* parameters without a gradient are skipped */
    tg_tensor *r = tt_tensorv((const double[]){7}, 1, (int64_t)1);
    tg_optim_add_group(opt, &r, 1, NAN, NAN);
    tg_optim_step(opt);
    ck_assert_double_eq(r->data[0], 7);
    /* tape tensors are refused */
    tg_tape *tape = tt_tape();
    tg_tensor *tmp = tg_tape_tensor(tape, TG_REAL, 1, (const int64_t[]){1});
    ck_assert_int_eq(tg_optim_add_group(opt, &tmp, 1, NAN, NAN), -1);
    ck_assert_str_eq(opt->error, "optim: parameter 0 of the group is a tape tensor (parameters must be long-lived)");
    tg_optim_free(opt);
}
END_TEST

/* Runs a schedule on an SGD optimizer with lr 0.1 and compares the lr before each step. */
static void check_schedule(const tg_sched_config *sc, const double *want, int n, const double *metrics)
{
    tg_tensor *p = tt_tensorv((const double[]){0}, 1, (int64_t)1);
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.lr = 0.1, c.momentum = 0.9;
    tg_optim *opt = tg_optim_new(&c);
    tg_optim_add_group(opt, &p, 1, NAN, NAN);
    tg_sched *s = tg_sched_new(opt, sc);
    ck_assert_ptr_nonnull(s);
    for (int t = 0; t < n; t++) {
        if (fabs(opt->groups[0].lr - want[t]) > 1e-12)
            ck_abort_msg("schedule %d: lr at step %d is %.15g, want %.15g", sc->kind, t, opt->groups[0].lr, want[t]);
        if (metrics) tg_sched_step_metric(s, metrics[t]);
        else tg_sched_step(s);
    }
    tg_sched_free(s);
    tg_optim_free(opt);
}

START_TEST(schedules)
{
    /* step 3, gamma 0.5: halves every 3 epochs */
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_STEP, .step_size = 3, .gamma = 0.5},
                   (const double[]){0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025}, 8, NULL);
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_MULTI_STEP, .milestones = {2, 5}, .n_milestones = 2},
                   (const double[]){0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001}, 7, NULL);
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_EXPONENTIAL, .gamma = 0.9},
                   (const double[]){0.1, 0.09, 0.081, 0.0729}, 4, NULL);
    /* cosine t_max 4, eta_min 0.01: 0.01 + 0.09 (1 + cos(pi t/4)) / 2 */
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_COSINE, .t_max = 4, .eta_min = 0.01},
                   (const double[]){0.1, 0.01 + 0.045 * (1 + sqrt(0.5)), 0.055, 0.01 + 0.045 * (1 - sqrt(0.5)), 0.01},
                   5, NULL);
    /* warm restarts t_0 2, t_mult 2: periods [0,2) [2,6) [6,14) */
    const double q = 0.05 * (1 + sqrt(0.5));
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_COSINE_RESTARTS, .t_0 = 2, .t_mult = 2},
                   (const double[]){0.1, 0.05, 0.1, q, 0.05, 0.1 - q, 0.1, 0.05 * (1 + cos(M_PI / 8)), 0.05 * (1 + cos(M_PI / 4))},
                   9, NULL);
    /* linear warm-up, start 1/3 over 4 steps */
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_LINEAR_WARMUP, .total_iters = 4},
                   (const double[]){0.1 / 3, 0.05, 0.2 / 3, 0.25 / 3, 0.1, 0.1}, 6, NULL);
    /* one-cycle over 10 steps: up for pct_start*10-1 = 2 steps from 0.004 to 0.1, then cos down
     * over 7 steps to 0.004/1e4 */
    double oc[10] = {0.004, 0.052, 0.1};
    for (int t = 3; t < 10; t++) oc[t] = 4e-7 + (0.1 - 4e-7) / 2 * (1 + cos(M_PI * (t - 2) / 7.0));
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_ONE_CYCLE, .total_steps = 10}, oc, 10, NULL);
    /* plateau, patience 1, cooldown 1: reduced after the 2nd bad epoch (t=3), cooldown at t=4,
     * then 0.91 and 0.9 (not below best 0.9 (1 - 1e-4)) reduce again */
    check_schedule(&(tg_sched_config){.kind = TG_SCHED_PLATEAU, .patience = 1, .cooldown = 1},
                   (const double[]){0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001}, 10,
                   (const double[]){1.0, 0.9, 0.95, 0.95, 0.9, 0.91, 0.9, 0.9, 0.9, 0.9});
}
END_TEST

START_TEST(one_cycle_momentum_and_bad_schedules)
{
    tg_tensor *p = tt_tensorv((const double[]){0}, 1, (int64_t)1);
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.momentum = 0.9;
    tg_optim *opt = tg_optim_new(&c);
    tg_optim_add_group(opt, &p, 1, 0.1, NAN);
    tg_sched *s = tg_sched_new(opt, &(tg_sched_config){.kind = TG_SCHED_ONE_CYCLE, .total_steps = 10, .cycle_momentum = true});
    const double want[3] = {0.95, 0.90, 0.85};
    for (int t = 0; t < 3; t++, tg_sched_step(s)) ck_assert_double_eq_tol(opt->groups[0].momentum, want[t], 1e-12);
    tg_sched_set_step(s, 9);
    ck_assert_double_eq_tol(opt->groups[0].momentum, 0.95, 1e-12);
    ck_assert_double_eq_tol(opt->groups[0].lr, 4e-7, 1e-15);
    tg_sched_free(s);
    char err[128];
    ck_assert_ptr_null(tg_sched_new_checked(opt, &(tg_sched_config){.kind = TG_SCHED_STEP}, err, sizeof err));
    ck_assert_str_eq(err, "step: step_size must be > 0");
    ck_assert_ptr_null(tg_sched_new_checked(opt, &(tg_sched_config){.kind = TG_SCHED_MULTI_STEP, .milestones = {3, 2}, .n_milestones = 2}, err, sizeof err));
    ck_assert_str_eq(err, "multi_step: milestones must increase");
    tg_optim_free(opt);
}
END_TEST

START_TEST(clipping)
{
    tg_tensor *a = tt_tensorv((const double[]){0, 0}, 1, (int64_t)2);
    tg_tensor *b = tt_tensorv((const double[]){0}, 1, (int64_t)1);
    tg_tensor *none = tt_tensorv((const double[]){0}, 1, (int64_t)1);
    tg_tensor *ps[3] = {a, b, none};
    tg_real *ga = tg_tensor_grad(a), *gb = tg_tensor_grad(b);
    ga[0] = 3, ga[1] = 0, gb[0] = -4;
    ck_assert_double_eq_tol(tg_clip_grad_norm(ps, 3, 1.0, 2.0), 5.0, 1e-6);
    const double k = 1.0 / (5 + 1e-6);
    tt_assert_close(ga, ((const double[]){3 * k, 0}), 2, 1e-6);
    tt_assert_close(gb, ((const double[]){-4 * k}), 1, 1e-6);
    /* below the limit: untouched; inf norm is the largest magnitude */
    ga[0] = 3, gb[0] = -4;
    ck_assert_double_eq_tol(tg_clip_grad_norm(ps, 3, 10.0, INFINITY), 4.0, 1e-12);
    ck_assert_double_eq(ga[0], 3);
    ck_assert_double_eq_tol(tg_clip_grad_norm(ps, 3, 100.0, 1.0), 7.0, 1e-9);
    tg_clip_grad_value(ps, 3, 2.5);
    tt_assert_close(ga, ((const double[]){2.5, 0}), 2, 0);
    tt_assert_close(gb, ((const double[]){-2.5}), 1, 0);
}
END_TEST

/* The norms over many values (not a multiple of the four partial sums) equal a plain double loop,
 * for p = 2 and p = 1 (no pow) and p = 3 (pow); a NaN gradient gives a NaN norm for every p. */
START_TEST(clipping_norms_many_values)
{
    const int64_t sizes[2] = {1001, 7};
    tg_tensor *p0 = tg_tensor_new(TG_REAL, 1, &sizes[0]), *p1 = tg_tensor_new(TG_REAL, 1, &sizes[1]);
    tg_tensor *ps[2] = {p0, p1};
    double want[3] = {0, 0, 0}, max = 0;
    for (int t = 0; t < 2; t++) {
        tg_real *g = tg_tensor_grad(ps[t]);
        for (int64_t k = 0; k < ps[t]->numel; k++) {
            g[k] = (tg_real)(sin(0.37 * (double)(k + 11 * t)) * (1 + (double)(k % 5)));
            const double a = fabs((double)g[k]);
            want[0] += a, want[1] += a * a, want[2] += a * a * a;
            max = a > max ? a : max;
        }
    }
    ck_assert_double_eq_tol(tg_clip_grad_norm(ps, 2, INFINITY, 1.0), want[0], 1e-9 * want[0]);
    ck_assert_double_eq_tol(tg_clip_grad_norm(ps, 2, INFINITY, 2.0), sqrt(want[1]), 1e-9 * sqrt(want[1]));
    ck_assert_double_eq_tol(tg_clip_grad_norm(ps, 2, INFINITY, 3.0), cbrt(want[2]), 1e-9 * cbrt(want[2]));
    ck_assert_double_eq(tg_clip_grad_norm(ps, 2, INFINITY, INFINITY), max);
    p1->grad[3] = NAN;
    ck_assert(isnan(tg_clip_grad_norm(ps, 2, INFINITY, 2.0)));
    ck_assert(isnan(tg_clip_grad_norm(ps, 2, INFINITY, 1.0)));
    ck_assert(isnan(tg_clip_grad_norm(ps, 2, INFINITY, 3.0)));
    ck_assert(isnan(tg_clip_grad_norm(ps, 2, INFINITY, INFINITY)));
    /* clipping by a NaN norm spreads it, as PyTorch's clip_grad_norm_ multiplies by clamp(NaN, max=1) */
    ck_assert(isnan(tg_clip_grad_norm(ps, 2, 1.0, 2.0)));
    ck_assert(isnan(p0->grad[0]) && isnan(p1->grad[0]));
    tg_tensor_free(p0), tg_tensor_free(p1);
}
END_TEST

START_TEST(adaptive_clipping)
{
    /* row 0: |W|=5, |G|=0.5, ratio 0.1 > 0.01 -> G scaled to 0.01*5/0.5 = 0.1 of itself;
     * row 1: W = 0 so |W| -> eps 1e-3, |G| = 5e-6, ratio 5e-3 < 0.01 -> untouched */
    tg_tensor *w = tt_tensorv((const double[]){3, 4, 0, 0}, 2, (int64_t)2, (int64_t)2);
    tg_real *g = tg_tensor_grad(w);
    g[0] = 0.3, g[1] = 0.4, g[2] = 3e-6, g[3] = 4e-6;
    tg_clip_grad_adaptive(&w, 1, 0.01, 1e-3);
    tt_assert_close(g, ((const double[]){0.03, 0.04, 3e-6, 4e-6}), 4, 1e-7);
    /* 1-D: one unit over the whole tensor: |W| = 2, |G| = 1, clip 0.25 -> scale 0.5 */
    tg_tensor *b = tt_tensorv((const double[]){2, 0}, 1, (int64_t)2);
    tg_real *gb = tg_tensor_grad(b);
    gb[0] = 0, gb[1] = 1;
    tg_clip_grad_adaptive(&b, 1, 0.25, 1e-3);
    tt_assert_close(gb, ((const double[]){0, 0.5}), 2, 1e-7);
}
END_TEST

Suite *suite_optim(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tt_tcase("optim");
    tcase_add_test(tc, sgd_plain);
    tcase_add_test(tc, sgd_momentum_dampening_decay);
    tcase_add_test(tc, sgd_nesterov);
    tcase_add_test(tc, adam_with_l2);
    tcase_add_test(tc, adamw_amsgrad);
    tcase_add_test(tc, adam_amsgrad);
    tcase_add_test(tc, rmsprop_plain);
    tcase_add_test(tc, rmsprop_centered_momentum);
    tcase_add_test(tc, defaults_and_bad_config);
    tcase_add_test(tc, groups_lr_and_no_decay);
    tcase_add_test(tc, schedules);
    tcase_add_test(tc, one_cycle_momentum_and_bad_schedules);
    tcase_add_test(tc, clipping);
    tcase_add_test(tc, clipping_norms_many_values);
    tcase_add_test(tc, adaptive_clipping);
    suite_add_tcase(s, tc);
    return s;
}
