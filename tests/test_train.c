/* tests/test_train.c — the training step's options (tg_train_opts): label smoothing, gradient
 * clipping by norm, by value and adaptively (NFNets), linear warmup. Against PyTorch runs
 * (tests/fixtures/_trainopts, written by gen_trainopts.py: a small CNN after one pass of SGD
 * with momentum), warmup's lr sequence and label smoothing by hand, and bad options refused. */
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#define TRAINOPTS_ROOT "tests/fixtures/_trainopts"
/* the model gen_trainopts.py builds in PyTorch */
static const char trainopts_spec[] = "input 1x5x5\nconv2d out=3 kernel=3\nrelu\nflatten\nlinear out=6\nrelu\n"
                                     "linear out=3\n";
#define TRAINOPTS_PARAMS 6
#define TRAINOPTS_MAX_NUMEL 256 /* values of its largest parameter, at least */

typedef struct run_config {
    double lr, momentum;
    int64_t batch;
    tg_train_opts opts;
} run_config;

static tg_tensor *load_npy(const char *dir, const char *name)
{
    char path[2 * PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_tensor *t = NULL;
    ck_assert_msg(tg_npy_load(path, &t, NULL, err, sizeof err) == TG_OK, "%s", err);
    return tt_track(t);
}

/* The case's "key value" lines. */
static run_config read_config(const char *dir)
{
    char path[PATH_MAX + 16], key[64];
    snprintf(path, sizeof path, "%s/opts", dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    run_config c = {0};
    double v;
    while (fscanf(f, "%63s %lf", key, &v) == 2) {
        if (!strcmp(key, "lr")) c.lr = v;
        else if (!strcmp(key, "momentum")) c.momentum = v;
        else if (!strcmp(key, "batch")) c.batch = (int64_t)v;
        else if (!strcmp(key, "label_smoothing")) c.opts.label_smoothing = v;
        else if (!strcmp(key, "clip_norm")) c.opts.clip_norm = v;
        else if (!strcmp(key, "clip_value")) c.opts.clip_value = v;
        else if (!strcmp(key, "agc")) c.opts.agc = v;
        else if (!strcmp(key, "warmup_steps")) c.opts.warmup_steps = (int64_t)v;
        else if (!strcmp(key, "warmup_start")) c.opts.warmup_start = v;
        else ck_abort_msg("%s: unknown key %s", path, key);
    }
    fclose(f);
    ck_assert(c.lr > 0 && c.batch > 0);
    return c;
}

/* One pass of SGD over the case's samples in order with the given config; the parameters end in
 * got[i] (TRAINOPTS_PARAMS arrays). Returns the epoch's stats. */
static tg_epoch_stats train_case(const char *dir, const run_config *c, double **got)
{
    char err[256];
    tg_model *m = tg_model_parse(trainopts_spec, "trainopts", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_named_tensor named[TRAINOPTS_PARAMS + 1];
    tg_tensor *params[TRAINOPTS_PARAMS], *agc[TRAINOPTS_PARAMS];
    ck_assert_int_eq(tg_module_named_tensors(m->net, false, named, TRAINOPTS_PARAMS + 1), TRAINOPTS_PARAMS);
    for (int i = 0; i < TRAINOPTS_PARAMS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d.npy", i);
        const tg_tensor *init = load_npy(dir, name);
        params[i] = named[i].tensor;
        ck_assert_msg(init->numel == params[i]->numel && init->numel <= TRAINOPTS_MAX_NUMEL, "%s/%s: %lld values for %s", dir, name, (long long)init->numel,
                      named[i].name);
        memcpy(params[i]->data, init->data, (size_t)init->numel * sizeof(tg_real));
    }
    const tg_tensor *x = load_npy(dir, "x.npy"), *y = load_npy(dir, "y.npy");
    const int64_t n = x->shape[0], per = x->numel / n;
    float *images = malloc(sizeof *images * (size_t)x->numel);
    ck_assert_ptr_nonnull(images);
    for (int64_t i = 0; i < x->numel; i++) images[i] = (float)x->data[i];
    tg_dataset d = {.n = n, .c = 1, .h = 5, .w = 5, .images = images, .labels = y->idata, .n_classes = 3};
    ck_assert_int_eq(per, 25);
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = c->lr, cfg.momentum = c->momentum;
    tg_optim *opt = tg_optim_new_checked(&cfg, err, sizeof err);
    ck_assert_msg(opt != NULL, "%s", err);
    ck_assert_int_eq(tg_optim_add_group(opt, params, TRAINOPTS_PARAMS, NAN, NAN), 0);
    tg_train_opts o = c->opts;
    if (o.agc > 0) {
        o.n_agc_params = tg_train_agc_params(m->net, agc, TRAINOPTS_PARAMS);
        ck_assert_int_eq(o.n_agc_params, TRAINOPTS_PARAMS - 2); /* not the last linear layer's two */
        ck_assert_ptr_eq(agc[o.n_agc_params - 1], params[3]);   /* ends with the hidden layer's bias */
        o.agc_params = agc;
    }
    tg_tape *tape = tg_tape_new(0);
    tg_batcher b;
    ck_assert_int_eq(tg_batcher_init(&b, &d, c->batch, false, 0), TG_OK);
    tg_epoch_stats st;
    ck_assert_msg(tg_train_epoch_opts(m->net, opt, &b, tape, &st, NULL, NULL, NULL, &o) == TG_OK, "%s", tg_error(tape));
    ck_assert_int_eq(st.steps, n / c->batch);
    for (int i = 0; i < TRAINOPTS_PARAMS; i++)
        for (int64_t k = 0; k < params[i]->numel; k++) got[i][k] = (double)params[i]->data[k];
    tg_batcher_free(&b);
    tg_tape_free(tape);
    tg_optim_free(opt);
    free(images);
    tg_model_free(m);
    return st;
}

/* The largest |got - want| / (atol + rtol |want|) over the parameters (<= 1: within tolerance). */
static double worst_mismatch(const char *dir, double **got, double rtol, double atol)
{
    double worst = 0;
    for (int i = 0; i < TRAINOPTS_PARAMS; i++) {
        char name[32];
        snprintf(name, sizeof name, "expected/p%d.npy", i);
        const tg_tensor *want = load_npy(dir, name);
        for (int64_t k = 0; k < want->numel; k++) {
            const double r = fabs(got[i][k] - (double)want->data[k]) / (atol + rtol * fabs((double)want->data[k]));
            worst = r > worst ? r : worst;
        }
    }
    return worst;
}

static const char *const trainopts_cases[] = {"plain", "label_smoothing", "clip_norm", "clip_value", "agc", "warmup",
                                              "combined"};

/* Each case ends where PyTorch's run ends; without its options it would not (so each fixture
 * exercises what it names). */
START_TEST(trainopts_match_pytorch)
{
    const char *name = trainopts_cases[_i];
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, TRAINOPTS_ROOT "/%s", name);
    double buf[TRAINOPTS_PARAMS][TRAINOPTS_MAX_NUMEL], *got[TRAINOPTS_PARAMS];
    for (int i = 0; i < TRAINOPTS_PARAMS; i++) got[i] = buf[i];
    const run_config c = read_config(dir);
    /* the reference computes in float64 from the same float32 inputs */
    const double rtol = sizeof(tg_real) == 4 ? 1e-4 : 1e-8, atol = sizeof(tg_real) == 4 ? 1e-5 : 1e-10;
    const tg_epoch_stats st = train_case(dir, &c, got);
    const double worst = worst_mismatch(dir, got, rtol, atol);
    ck_assert_msg(worst <= 1, "%s: parameters off by %.3g x the tolerance", name, worst);
    ck_assert(isfinite(st.grad_norm) && st.grad_norm > 0);
    if (strcmp(name, "plain")) {
        run_config off = c;
        off.opts = (tg_train_opts){0};
        train_case(dir, &off, got);
        ck_assert_msg(worst_mismatch(dir, got, rtol, atol) > 10, "%s: the options change nothing", name);
    }
}
END_TEST

/* LinearLR by hand: start + (1 - start) min(t, N) / N; the lr of each step, across epochs. */
static double step_lrs[32];
static int n_step_lrs;
static void record_lr(void *ctx, const tg_epoch_stats *st)
{
    (void)ctx;
    if (n_step_lrs < 32) step_lrs[n_step_lrs++] = st->lr;
}

START_TEST(warmup_lr_sequence)
{
    tg_train_opts o = {.warmup_steps = 4, .warmup_start = 0.25};
    const double want[] = {0.25, 0.4375, 0.625, 0.8125, 1, 1};
    for (int t = 0; t < 6; t++) ck_assert_double_eq_tol(tg_train_warmup_factor(&o, t), want[t], 1e-15);
    o.warmup_start = 0; /* LinearLR's default start factor 1/3 */
    ck_assert_double_eq_tol(tg_train_warmup_factor(&o, 0), 1.0 / 3, 1e-15);
    ck_assert_double_eq_tol(tg_train_warmup_factor(&o, 2), 2.0 / 3, 1e-15);
    ck_assert_double_eq(tg_train_warmup_factor(NULL, 0), 1);
    ck_assert_double_eq(tg_train_warmup_factor(&(tg_train_opts){0}, 0), 1);

    /* in a training loop: 2 steps per epoch, the count goes on in the next epoch (the optimizer's
     * step count, which checkpoints keep), and the groups' lr is left as the schedule set it */
    char err[256];
    tg_model *m = tg_model_parse("input 2\nlinear out=2\n", "w", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    float images[8] = {1, 0, 0, 1, 1, 1, 0, 0};
    int64_t labels[4] = {0, 1, 0, 1};
    tg_dataset d = {.n = 4, .c = 2, .h = 1, .w = 1, .images = images, .labels = labels, .n_classes = 2, .sample_ndim = 1};
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = 0.2;
    tg_optim *opt = tg_optim_new(&cfg);
    tg_named_tensor named[2];
    tg_tensor *params[2];
    ck_assert_int_eq(tg_module_named_tensors(m->net, false, named, 2), 2);
    params[0] = named[0].tensor, params[1] = named[1].tensor;
    ck_assert_int_eq(tg_optim_add_params_split_decay(opt, params, 2), 0); /* two groups */
    tg_tape *tape = tg_tape_new(0);
    tg_batcher b;
    ck_assert_int_eq(tg_batcher_init(&b, &d, 2, true, 3), TG_OK);
    tg_epoch_stats st;
    o.warmup_start = 0.25;
    n_step_lrs = 0;
    for (int epoch = 0; epoch < 3; epoch++)
        ck_assert_int_eq(tg_train_epoch_opts(m->net, opt, &b, tape, &st, record_lr, NULL, NULL, &o), TG_OK);
    ck_assert_int_eq(n_step_lrs, 6);
    for (int t = 0; t < 6; t++) ck_assert_double_eq_tol(step_lrs[t], 0.2 * want[t], 1e-15);
    for (int g = 0; g < opt->n_groups; g++) ck_assert_double_eq(opt->groups[g].lr, 0.2);
    ck_assert_int_eq(tg_optim_steps(opt), 6);
    tg_batcher_free(&b);
    tg_tape_free(tape);
    tg_optim_free(opt);
    tg_model_free(m);
}
END_TEST

/* probs [1/4, 1/2, 1/4], label 1, e = 0.3: loss = 0.7 ln 2 + 0.3/3 (ln 4 + ln 2 + ln 4) = 1.2 ln 2;
 * dx = probs - e/3 - 0.7 [c == 1] = [0.15, -0.3, 0.15]. */
START_TEST(label_smoothing_by_hand)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){0, log(2.0), 0}, 2, 1, 3);
    x->requires_grad = true;
    tg_loss_attr a = {.reduction = TG_REDUCTION_MEAN, .ignore_index = -100, .label_smoothing = 0.3};
    tg_tensor *loss = tg_cross_entropy_ex(t, x, tt_labels(1, (int64_t[]){1}), &a);
    ck_assert_ptr_nonnull(loss);
    ck_assert_double_eq_tol(loss->data[0], 1.2 * log(2.0), 1e-6);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    tt_assert_close(x->grad, ((double[]){0.15, -0.3, 0.15}), 3, 1e-6);
    /* e = 1: the target is uniform, the label no longer matters */
    a.label_smoothing = 1;
    tg_tensor *l0 = tg_cross_entropy_ex(t, x, tt_labels(1, (int64_t[]){0}), &a);
    tg_tensor *l1 = tg_cross_entropy_ex(t, x, tt_labels(1, (int64_t[]){1}), &a);
    ck_assert_double_eq_tol(l0->data[0], 5.0 / 3 * log(2.0), 1e-6);
    ck_assert_double_eq_tol(l1->data[0], l0->data[0], 1e-6);
    /* out of range: the op's one-line error with both shapes */
    a.label_smoothing = 1.5;
    tt_assert_error(t, tg_cross_entropy_ex(t, x, tt_labels(1, (int64_t[]){1}), &a),
                    "cross_entropy: label_smoothing must be in [0, 1], got 1.5 (input=[1,3] target=[1])");
    tg_clear_error(t);
    a.label_smoothing = NAN;
    tt_assert_error(t, tg_cross_entropy_ex(t, x, tt_labels(1, (int64_t[]){1}), &a), "label_smoothing must be in [0, 1]");
    tg_clear_error(t);
    /* nll_loss has no label smoothing (as torch): refused rather than ignored */
    a.label_smoothing = 0.1;
    tt_assert_error(t, tg_nll_loss_ex(t, x, tt_labels(1, (int64_t[]){1}), &a),
                    "nll_loss: label_smoothing is cross_entropy's");
}
END_TEST

/* The smoothed backward against finite differences: [N,C] and [N,C,H,W], every reduction, with
 * ignored positions. */
START_TEST(label_smoothing_gradcheck)
{
    static const struct { int nd; int64_t shape[4]; int64_t labels[8]; } cases[] = {
        {2, {4, 5}, {1, 0, -100, 4}},
        {4, {2, 3, 2, 1}, {2, 0, -100, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int red = TG_REDUCTION_MEAN; red <= TG_REDUCTION_NONE; red++) {
            const tg_loss_attr a = {.reduction = red, .ignore_index = -100, .label_smoothing = 0.25};
            tg_tensor *x = tt_random(cases[c].nd, cases[c].shape, 80 + c, -2, 2);
            x->requires_grad = true;
            tg_tensor *lab = tt_labels(4, cases[c].labels);
            if (cases[c].nd == 4) { /* labels [2,2,1] */
                lab->ndim = 3, lab->shape[0] = 2, lab->shape[1] = 2, lab->shape[2] = 1;
            }
            tt_gradcheck_op(TG_OP_CROSS_ENTROPY, &a, ((tg_tensor *[]){x, lab}), 2);
        }
}
END_TEST

/* A bad option fails before any step, naming the field and the value; nothing is updated. */
START_TEST(bad_options_refused)
{
    char err[256];
    tg_model *m = tg_model_parse("input 2\nlinear out=2\n", "w", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    float images[4] = {1, 0, 0, 1};
    int64_t labels[2] = {0, 1};
    tg_dataset d = {.n = 2, .c = 2, .h = 1, .w = 1, .images = images, .labels = labels, .n_classes = 2, .sample_ndim = 1};
    tg_optim *opt = tg_optim_new(&(tg_optim_config){.kind = TG_OPTIM_SGD, .lr = 0.1});
    tg_named_tensor named[2];
    tg_tensor *params[2];
    tg_module_named_tensors(m->net, false, named, 2);
    params[0] = named[0].tensor, params[1] = named[1].tensor;
    ck_assert_int_eq(tg_optim_add_group(opt, params, 2, NAN, NAN), 0);
    const double w0 = params[0]->data[0];
    tg_tape *tape = tg_tape_new(0);
    tg_batcher b;
    ck_assert_int_eq(tg_batcher_init(&b, &d, 2, false, 0), TG_OK);
    const struct {
        tg_train_opts o;
        const char *message;
    } cases[] = {
        {{.label_smoothing = 1.5}, "train: label_smoothing must be in [0, 1] (0: off), got 1.5"},
        {{.clip_norm = -1}, "train: clip_norm must be in [0, inf] (0: off), got -1"},
        {{.clip_value = NAN}, "train: clip_value must be in [0, inf] (0: off), got nan"},
        {{.agc = -0.01}, "train: agc must be in [0, inf] (0: off), got -0.01"},
        {{.agc = 0.01, .agc_eps = -1}, "train: agc_eps must be in [0, inf] (0: 1e-3), got -1"},
        {{.warmup_steps = 5, .warmup_start = 2}, "train: warmup_start must be in [0, 1] (0: 1/3), got 2"},
        {{.warmup_steps = -5}, "train: warmup_steps must be in [0, 2147483647], got -5"},
        {{.agc = 0.01, .n_agc_params = 2}, "train: agc_params is NULL with n_agc_params 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tg_epoch_stats st;
        ck_assert_int_eq(tg_train_epoch_opts(m->net, opt, &b, tape, &st, NULL, NULL, NULL, &cases[i].o), TG_ERR_INVALID);
        ck_assert_msg(tg_error(tape) && !strcmp(tg_error(tape), cases[i].message), "case %zu: '%s'", i, tg_error(tape));
        ck_assert_int_eq(st.steps, 0);
        tg_clear_error(tape);
    }
    /* smoothing is cross-entropy's: a regression set with it fails at the first loss, unchanged */
    float targets[4] = {1, 0, 0, 1};
    tg_dataset reg = {.n = 2, .c = 2, .h = 1, .w = 1, .images = images, .targets = targets, .n_targets = 2,
                      .sample_ndim = 1};
    tg_batcher rb;
    ck_assert_int_eq(tg_batcher_init(&rb, &reg, 2, false, 0), TG_OK);
    rb.loss = TG_LOSS_MSE;
    tg_epoch_stats st;
    ck_assert_int_eq(tg_train_epoch_opts(m->net, opt, &rb, tape, &st, NULL, NULL, NULL,
                                         &(tg_train_opts){.label_smoothing = 0.1}), TG_ERR_INVALID);
    ck_assert_str_eq(tg_error(tape), "train: label_smoothing applies to cross_entropy only, the loss is mse");
    tg_batcher_free(&rb);
    ck_assert_double_eq(params[0]->data[0], w0);
    tg_batcher_free(&b);
    tg_tape_free(tape);
    tg_optim_free(opt);
    tg_model_free(m);
}
END_TEST

Suite *suite_train(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tt_tcase("options");
    tcase_add_loop_test(tc, trainopts_match_pytorch, 0, (int)(sizeof trainopts_cases / sizeof *trainopts_cases));
    tcase_add_test(tc, warmup_lr_sequence);
    tcase_add_test(tc, label_smoothing_by_hand);
    tcase_add_test(tc, label_smoothing_gradcheck);
    tcase_add_test(tc, bad_options_refused);
    suite_add_tcase(s, tc);
    return s;
}
