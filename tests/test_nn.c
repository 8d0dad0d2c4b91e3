/* tests/test_nn.c — modules: output shapes and parameter counts, hand-computed forwards, init
 * bounds, named parameters, train/eval switching (BN, dropout), joins, a module gradient check and
 * a tiny model whose loss falls. */
#include "util.h"

#include <stdlib.h>

static tg_module *tracked[64];
static int n_tracked;
static tg_module *keep(tg_module *m)
{
    ck_assert_ptr_nonnull(m);
    tracked[n_tracked++] = m;
    return m;
}
static void free_modules(void)
{
    while (n_tracked) tg_module_free(tracked[--n_tracked]);
}

static tg_tensor *run(tg_module *m, tg_tape *t, tg_tensor *x)
{
    tg_tensor *y = tg_module_forward(m, t, x);
    ck_assert_msg(y != NULL, "forward failed: %s", tg_error(t));
    return y;
}

START_TEST(linear_values_and_counts)
{
    tg_module *l = keep(tg_linear_layer(3, 2, true, NULL));
    ck_assert_int_eq(tg_module_param_count(l), 3 * 2 + 2);
    tg_tensor_set(l->params[0], (const tg_real[]){1, 2, 3, 0, -1, 1});
    tg_tensor_set(l->params[1], (const tg_real[]){0.5, -0.5});
    tg_tensor *x = tt_tensorv((const double[]){1, 1, 1, 2, 0, -1}, 2, (int64_t)2, (int64_t)3);
    tg_tape *t = tt_tape();
    tg_tensor *y = run(l, t, x);
    tt_assert_shape(y, 2, 2);
    /* row 0: (1+2+3)+0.5, (0-1+1)-0.5; row 1: (2-3)+0.5, (0+0-1)-0.5 */
    tt_assert_close(y->data, ((const double[]){6.5, -0.5, -0.5, -1.5}), 4, 1e-6);
    tg_module *nb = keep(tg_linear_layer(3, 2, false, NULL));
    ck_assert_int_eq(tg_module_param_count(nb), 6);
    ck_assert_ptr_null(tg_linear_layer(0, 2, true, NULL));
}
END_TEST

START_TEST(conv_layers_shapes_and_counts)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_tape *t = tt_tape();
    char err[128];
    /* conv2d 3->4 k3 padding 1 stride 2 on 5x7: out (5+2-3)/2+1 = 3, (7+2-3)/2+1 = 4 */
    tg_module *c2 = keep(tg_conv_layer(2, 3, 4, 3, 1, true, &rng));
    ck_assert_int_eq(tg_module_set(c2, "padding", "1", err, sizeof err), 0);
    ck_assert_int_eq(tg_module_set(c2, "stride", "2", err, sizeof err), 0);
    ck_assert_int_eq(tg_module_param_count(c2), 4 * 3 * 9 + 4);
    tt_assert_shape(run(c2, t, tt_random(4, (const int64_t[]){2, 3, 5, 7}, 1, -1, 1)), 2, 4, 3, 4);
    /* depthwise conv2d groups 3: weight [6,1,3,3] */
    tg_module *dw = keep(tg_conv_layer(2, 3, 6, 3, 3, false, &rng));
    ck_assert_int_eq(tg_module_param_count(dw), 6 * 9);
    tt_assert_shape(run(dw, t, tt_random(4, (const int64_t[]){1, 3, 4, 4}, 2, -1, 1)), 1, 6, 2, 2);
    tg_module *c1 = keep(tg_conv_layer(1, 2, 5, 3, 1, true, &rng));
    ck_assert_int_eq(tg_module_param_count(c1), 5 * 2 * 3 + 5);
    tt_assert_shape(run(c1, t, tt_random(3, (const int64_t[]){2, 2, 9}, 3, -1, 1)), 2, 5, 7);
    tg_module *c3 = keep(tg_conv_layer(3, 1, 2, 2, 1, true, &rng));
    ck_assert_int_eq(tg_module_param_count(c3), 2 * 8 + 2);
    tt_assert_shape(run(c3, t, tt_random(5, (const int64_t[]){1, 1, 3, 4, 5}, 4, -1, 1)), 1, 2, 2, 3, 4);
    /* transposed 2d 4->2 k3 stride 2: (3-1)*2 + 3 = 7 */
    tg_module *ct = keep(tg_conv_transpose2d_layer(4, 2, 3, 1, true, &rng));
    tg_module_set(ct, "stride", "2", err, sizeof err);
    ck_assert_int_eq(tg_module_param_count(ct), 4 * 2 * 9 + 2);
    tt_assert_shape(run(ct, t, tt_random(4, (const int64_t[]){1, 4, 3, 3}, 5, -1, 1)), 1, 2, 7, 7);
    /* bad arguments */
    ck_assert_ptr_null(tg_conv_layer(2, 3, 4, 3, 2, true, &rng));
    ck_assert_ptr_null(tg_conv_layer(4, 3, 4, 3, 1, true, &rng));
    ck_assert_int_eq(tg_module_set(c2, "kernal", "3", err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "conv2d: unknown key 'kernal'");
}
END_TEST

START_TEST(default_init_bounds)
{
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    /* fan_in = 4*3*3 = 36 -> weights and bias in [-1/6, 1/6] */
    tg_module *c = keep(tg_conv_layer(2, 4, 8, 3, 1, true, &rng));
    double lo = 1, hi = -1;
    for (int64_t i = 0; i < c->params[0]->numel; i++) {
        lo = fmin(lo, c->params[0]->data[i]);
        hi = fmax(hi, c->params[0]->data[i]);
    }
    ck_assert(lo >= -1 / 6.0 && hi <= 1 / 6.0 && hi - lo > 0.3); /* spans most of the range */
    for (int64_t i = 0; i < 8; i++) ck_assert(fabs(c->params[1]->data[i]) <= 1 / 6.0);
    /* He normal: std sqrt(2/fan_in); with 3*3*64 = 576 fan-in over 128*576 weights */
    tg_module *big = keep(tg_conv_layer(2, 64, 128, 3, 1, true, &rng));
    tg_module_init(big, TG_INIT_HE_NORMAL, &rng);
    double ss = 0;
    for (int64_t i = 0; i < big->params[0]->numel; i++) ss += big->params[0]->data[i] * big->params[0]->data[i];
    ck_assert_double_eq_tol(sqrt(ss / big->params[0]->numel), sqrt(2.0 / 576), 0.01 * sqrt(2.0 / 576));
    ck_assert_double_eq(big->params[1]->data[0], 0);
    /* Xavier uniform on linear 10->30: bound sqrt(6/40) */
    tg_module *l = keep(tg_linear_layer(10, 30, true, NULL));
    tg_module_init(l, TG_INIT_XAVIER_UNIFORM, &rng);
    for (int64_t i = 0; i < 300; i++) ck_assert(fabs(l->params[0]->data[i]) <= sqrt(6.0 / 40));
    /* the same seed gives the same weights */
    tg_rng a, b;
    tg_rng_seed(&a, 5), tg_rng_seed(&b, 5);
    tg_module *p = keep(tg_linear_layer(4, 4, true, &a)), *q = keep(tg_linear_layer(4, 4, true, &b));
    ck_assert(!memcmp(p->params[0]->data, q->params[0]->data, 16 * sizeof(tg_real)));
}
END_TEST

START_TEST(named_parameters)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_module *net = keep(tg_sequential(NULL));
    tg_module *features = tg_sequential_add(net, tg_sequential("features"));
    tg_sequential_add(features, tg_conv_layer(2, 1, 2, 3, 1, true, &rng));
    tg_sequential_add(features, tg_batch_norm_layer(2));
    tg_sequential_add(features, tg_op_layer("relu"));
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(8, 3, true, &rng));
    tg_named_tensor e[16];
    ck_assert_int_eq(tg_module_named_tensors(net, false, e, 16), 6);
    const char *want[] = {"features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                          "2.weight", "2.bias"};
    for (int i = 0; i < 6; i++) ck_assert_str_eq(e[i].name, want[i]);
    ck_assert_int_eq(tg_module_named_tensors(net, true, e, 16), 8);
    ck_assert_str_eq(e[4].name, "features.1.running_mean");
    ck_assert(e[4].is_buffer && e[5].is_buffer && !e[6].is_buffer);
    ck_assert_int_eq(tg_module_param_count(net), 2 * 9 + 2 + 2 + 2 + 8 * 3 + 3);
    ck_assert_ptr_eq(tg_module_find(net, "features.1"), features->children[1]);
    ck_assert_ptr_null(tg_module_find(net, "features.7"));
    /* train/eval reaches every descendant */
    tg_module_train(net, false);
    ck_assert(!features->children[1]->training && !net->children[2]->training);
    tg_module_train(net, true);
    ck_assert(features->children[1]->training);
}
END_TEST

START_TEST(batch_norm_train_and_eval)
{
    tg_module *bn = keep(tg_batch_norm_layer(2));
    /* x: N=2, C=2, 1x2. channel 0 values 1,3,5,7 (mean 4, biased var 5, unbiased 20/3);
     * channel 1 all 2 (var 0) */
    tg_tensor *x = tt_tensorv((const double[]){1, 3, 2, 2, 5, 7, 2, 2}, 4, (int64_t)2, (int64_t)2, (int64_t)1, (int64_t)2);
    tg_tape *t = tt_tape();
    tg_tensor *y = run(bn, t, x);
    const double s = 1 / sqrt(5 + 1e-5);
    tt_assert_close(y->data, ((const double[]){-3 * s, -1 * s, 0, 0, 1 * s, 3 * s, 0, 0}), 8, 1e-5);
    /* running stats: mean = 0.9*0 + 0.1*4; var = 0.9*1 + 0.1*20/3 */
    tt_assert_close(bn->buffers[0]->data, ((const double[]){0.4, 0.2}), 2, 1e-6);
    tt_assert_close(bn->buffers[1]->data, ((const double[]){0.9 + 2.0 / 3, 0.9}), 2, 1e-6);
    /* eval: (x - running_mean) / sqrt(running_var + eps), stats unchanged */
    tg_module_train(bn, false);
    tg_tape_reset(t);
    y = run(bn, t, x);
    const double v0 = 0.9 + 2.0 / 3;
    ck_assert_double_eq_tol(y->data[0], (1 - 0.4) / sqrt(v0 + 1e-5), 1e-5);
    ck_assert_double_eq_tol(y->data[2], (2 - 0.2) / sqrt(0.9 + 1e-5), 1e-5);
    tt_assert_close(bn->buffers[0]->data, ((const double[]){0.4, 0.2}), 2, 1e-6);
}
END_TEST

START_TEST(dropout_train_and_eval)
{
    tg_module *d = keep(tg_dropout_layer(0.5));
    tg_tensor *x = tt_random(1, (const int64_t[]){1000}, 9, 1, 2);
    tg_tape *t = tt_tape();
    tg_tensor *y = run(d, t, x);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        if (y->data[i] == 0) zeros++;
        else ck_assert_double_eq_tol(y->data[i], 2 * x->data[i], 1e-5); /* scaled by 1/(1-p) */
    }
    ck_assert_msg(zeros > 400 && zeros < 600, "%d zeros", zeros);
    tg_module_train(d, false);
    ck_assert_ptr_eq(run(d, t, x), x); /* identity in eval */
    ck_assert_ptr_null(tg_dropout_layer(1.0));
}
END_TEST

START_TEST(residual_and_concat_joins)
{
    /* y = relu(x) + x via id; concat of input and relu output along channels */
    tg_module *net = keep(tg_sequential(NULL));
    tg_module *r = tg_sequential_add(net, tg_op_layer("relu"));
    snprintf(r->id, sizeof r->id, "r");
    tg_sequential_add(net, tg_add_layer("input"));
    tg_module *cat = tg_sequential_add(net, tg_concat_layer("input,r,."));
    ck_assert_int_eq(cat->n_from, 3);
    tg_tensor *x = tt_tensorv((const double[]){-1, 2}, 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)2);
    tg_tape *t = tt_tape();
    tg_tensor *y = run(net, t, x);
    tt_assert_shape(y, 1, 3, 1, 2);
    tt_assert_close(y->data, ((const double[]){-1, 2, 0, 2, -1, 4}), 6, 1e-6);
    tg_module *bad = keep(tg_sequential(NULL));
    tg_sequential_add(bad, tg_add_layer("nope"));
    tg_tape_reset(t);
    tt_assert_error(t, tg_module_forward(bad, t, x), "add: no earlier layer has id 'nope'");
    ck_assert_ptr_null(tg_add_layer("a,b"));
}
END_TEST

/* The module as a function of its input and parameters, for the gradient check. */
static tg_tensor *module_fn(tg_tape *t, tg_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return tg_module_forward(ctx, t, in[0]);
}

START_TEST(module_gradcheck)
{
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_module *net = keep(tg_sequential(NULL));
    tg_sequential_add(net, tg_conv_layer(2, 2, 3, 3, 1, true, &rng));
    tg_sequential_add(net, tg_op_layer("tanh"));
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(3 * 2 * 3, 2, true, &rng));
    tg_tensor *x = tt_random(4, (const int64_t[]){2, 2, 4, 5}, 4, -1, 1);
    x->requires_grad = true;
    tg_named_tensor e[8];
    const int np = tg_module_named_tensors(net, false, e, 8);
    tg_tensor *inputs[6] = {x};
    for (int i = 0; i < np; i++) inputs[1 + i] = e[i].tensor;
    tt_gradcheck(module_fn, net, inputs, 1 + np);
}
END_TEST

/* ---- training frees what no backward reads (nn's planned arena) ----
 * Every ordered pair of layer kinds A, B in `input 4x6x6 | A | B | flatten | linear`: A's output
 * (read by B) and B's (read by flatten) are freed in training when no recorded backward reads
 * them. A descriptor's unread_inputs / unread_output set wrongly makes a backward read freed
 * memory (NULL data: a crash here, a poisoned read under ASan), so each pair runs forward +
 * backward freeing, then again without (an observer turns freeing off), and every gradient and the
 * output must be the same bits. */
static const char *const planned_layers[] = {
    "conv2d out=4 kernel=3 padding=1", "conv2d out=4 kernel=3 padding=1 padding_mode=reflect bias=0",
    "conv_transpose2d out=4 kernel=3 padding=1", "locally_connected2d out=4 kernel=3 padding=1",
    "batch_norm", "instance_norm affine=1", "group_norm groups=2", "layer_norm normalized_shape=6", "frn", "tlu",
    "relu", "leaky_relu slope=0.1", "elu", "gelu", "sigmoid", "tanh", "softmax dim=1", "log_softmax dim=1",
    "dropout p=0.3", "max_pool2d kernel=3 stride=1 padding=1", "avg_pool2d kernel=3 stride=1 padding=1",
    "add from=input", "concat from=input,."};
#define N_PLANNED ((int)(sizeof planned_layers / sizeof *planned_layers))

static void keep_all(void *ctx, tg_module *layer, tg_tensor *in, tg_tensor *out)
{
    (void)ctx, (void)layer, (void)in, (void)out; /* an observer: nothing is freed while one watches */
}

/* One training forward + backward of model m on x (seeded tape: dropout draws the same mask);
 * returns the output values and every gradient (x first) as doubles, malloc'd, *n of them;
 * *freed counts the recorded outputs whose data went back to the arena. */
static double *planned_step(tg_model *m, tg_tape *t, tg_tensor *x, bool observed, int64_t *n, int *freed)
{
    tg_named_tensor e[32];
    const int np = tg_module_named_tensors(m->net, false, e, 32);
    ck_assert_int_le(np, 32);
    tg_tape_reset(t);
    tg_tape_seed(t, 11);
    tg_tensor_zero_grad(x);
    for (int i = 0; i < np; i++) tg_tensor_zero_grad(e[i].tensor);
    tg_tensor *y = observed ? tg_module_forward_observed(m->net, t, x, keep_all, NULL) : tg_module_forward(m->net, t, x);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tg_tensor *dy = tt_random(y->ndim, y->shape, 5, -1, 1);
    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    *freed = 0;
    for (const tg_node *node = tg_tape_last_node(t); node; node = node->prev) *freed += node->out->data == NULL;
    int64_t total = y->numel + x->numel;
    for (int i = 0; i < np; i++) total += e[i].tensor->numel;
    double *v = malloc((size_t)total * sizeof *v);
    ck_assert_ptr_nonnull(v);
    int64_t k = 0;
    for (int64_t j = 0; j < y->numel; j++) v[k++] = y->data[j];
    for (int64_t j = 0; j < x->numel; j++) v[k++] = x->grad[j];
    for (int i = 0; i < np; i++)
        for (int64_t j = 0; j < e[i].tensor->numel; j++) v[k++] = e[i].tensor->grad ? e[i].tensor->grad[j] : 0;
    *n = total;
    return v;
}

START_TEST(training_frees_only_what_no_backward_reads)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_random(4, (const int64_t[]){3, 4, 6, 6}, 9, -2, 2);
    x->requires_grad = true;
    int pairs_freeing = 0;
    for (int a = 0; a < N_PLANNED; a++)
        for (int b = 0; b < N_PLANNED; b++) {
            char spec[512], err[256];
            if (strstr(planned_layers[a], "concat") && strstr(planned_layers[b], "add")) continue; /* 8 + 4 channels */
            snprintf(spec, sizeof spec, "input 4x6x6\n%s\n%s\nflatten\nlinear out=3\n", planned_layers[a], planned_layers[b]);
            tg_model *m = tg_model_parse(spec, "pair", 3, err, sizeof err);
            ck_assert_msg(m != NULL, "%s: %s", spec, err);
            tg_module_train(m->net, true);
            int64_t n_free, n_kept;
            int freed, freed_observed;
            double *got = planned_step(m, t, x, false, &n_free, &freed);
            double *want = planned_step(m, t, x, true, &n_kept, &freed_observed);
            ck_assert_int_eq(n_free, n_kept);
            ck_assert_msg(freed_observed == 0, "%s: freed %d tensors under an observer", spec, freed_observed);
            for (int64_t i = 0; i < n_free; i++)
                ck_assert_msg(memcmp(&got[i], &want[i], sizeof got[i]) == 0, "%s and %s: value %lld is %.17g freeing, %.17g not",
                              planned_layers[a], planned_layers[b], (long long)i, got[i], want[i]);
            pairs_freeing += freed > 0;
            free(got);
            free(want);
            tg_model_free(m);
        }
    ck_assert_int_gt(pairs_freeing, N_PLANNED); /* the test is not passing by freeing nothing */
}
END_TEST

/* nn runs a batch, instance or group norm and the ReLU / leaky ReLU after it as one node (its kernel
 * writes f(z), its backward recomputes z from x): outputs and every gradient must be the bits of
 * the two layers run apart (an observer turns fusing off) — training and eval batch norm (eval
 * recorded: its gradient uses the running statistics), affine or not, planes longer than the
 * backward's 1024-value chunks (36x36, and 8x16x16 in 3-D), a NaN in the input, 1-3 threads; and
 * without recording (inference) the same values again. */
START_TEST(norm_activation_fusion_matches_two_layers)
{
    static const char *const cases[] = {
        "input 3x36x36\nbatch_norm\nrelu\nflatten\nlinear out=3\n",
        "input 3x36x36\nbatch_norm affine=0\nleaky_relu slope=0.2\nflatten\nlinear out=3\n",
        "input 4x9x7\ninstance_norm affine=1\nrelu\nflatten\nlinear out=3\n",
        "input 4x9x7\ninstance_norm\nleaky_relu slope=0.05\nflatten\nlinear out=3\n",
        "input 4x12x12\ngroup_norm groups=2\nrelu\nconv2d out=2 kernel=3\nflatten\nlinear out=3\n",
        "input 2x8x16x16\nbatch_norm\nrelu\nflatten\nlinear out=3\n",
    };
    tg_tape *t = tt_tape();
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int training = 1; training >= 0; training--) {
            char err[256];
            tg_model *m = tg_model_parse(cases[ci], "fuse", 5, err, sizeof err);
            ck_assert_msg(m != NULL, "%s", err);
            tg_module_train(m->net, training);
            int64_t shape[5] = {3};
            for (int d = 0; d < m->in_ndim; d++) shape[d + 1] = m->in_shape[d];
            tg_tensor *x = tt_random(m->in_ndim + 1, shape, 40 + ci, -2, 2);
            x->requires_grad = true;
            for (int nan = 0; nan < 2; nan++) {
                if (nan) x->data[x->numel / 3] = (tg_real)NAN;
                for (int threads = 1; threads <= 3; threads++) {
                    tg_set_threads(threads);
                    int64_t n_fused, n_apart;
                    int freed, freed_observed;
                    double *fused = planned_step(m, t, x, false, &n_fused, &freed);
                    /* the fused node is there: named after both layers */
                    bool named = false;
                    for (const tg_node *node = tg_tape_last_node(t); node; node = node->prev)
                        named |= strstr(node->op_name, "_norm+") != NULL;
                    ck_assert_msg(named, "case %zu: no fused node", ci);
                    double *apart = planned_step(m, t, x, true, &n_apart, &freed_observed);
                    ck_assert_int_eq(n_fused, n_apart);
                    for (int64_t i = 0; i < n_fused; i++)
                        ck_assert_msg(!memcmp(&fused[i], &apart[i], sizeof fused[i]),
                                      "case %zu training %d nan %d threads %d: value %lld %.17g fused, %.17g apart", ci,
                                      training, nan, threads, (long long)i, fused[i], apart[i]);
                    free(fused), free(apart);
                }
                /* inference: the same forward values without recording */
                tg_set_threads(1);
                tg_tape_reset(t);
                tg_tensor *y_rec = tg_module_forward_observed(m->net, t, x, keep_all, NULL);
                ck_assert_ptr_nonnull(y_rec);
                tg_real *want = malloc(sizeof(tg_real) * (size_t)y_rec->numel);
                memcpy(want, y_rec->data, sizeof(tg_real) * (size_t)y_rec->numel);
                const int64_t ny = y_rec->numel;
                tg_tape_reset(t);
                tg_no_grad_begin(t);
                tg_tensor *y = tg_module_forward(m->net, t, x);
                tg_no_grad_end(t);
                ck_assert_ptr_nonnull(y);
                if (training == 0) /* eval: deterministic; training would step the running stats again */
                    ck_assert(!memcmp(want, y->data, sizeof(tg_real) * (size_t)ny));
                free(want);
            }
            tg_model_free(m);
        }
    tg_set_threads(1);
}
END_TEST

/* What the freeing is for: a BN-ResNet's training step (conv-BN-ReLU blocks, residual adds)
 * keeps a conv's output for its BN and a ReLU's output for the next conv, not the BN outputs and
 * sums in between: the tape's peak falls by more than 15% (measured at this batch of 8: 30.8 vs
 * 38.3 MiB, 0.80; at batch 64: 72.5 vs 94.9 MiB). */
START_TEST(training_frees_batch_norm_outputs)
{
    size_t len;
    char *text = (char *)tt_slurp("models/bn_resnet.txt", &len), err[256];
    text[len] = 0; /* the spare byte */
    tg_model *m = tg_model_parse(text, "bn_resnet", 1, err, sizeof err);
    free(text);
    ck_assert_msg(m != NULL, "%s", err);
    tg_module_train(m->net, true);
    tg_tensor *x = tt_random(4, (const int64_t[]){8, 1, 28, 28}, 3, -1, 1);
    x->requires_grad = true;
    tg_tape *t = tt_tape();
    size_t peak[2];
    int freed[2];
    for (int observed = 0; observed < 2; observed++) {
        int64_t n;
        tg_tape_reset(t);
        tg_tape_reset_peak(t);
        free(planned_step(m, t, x, observed, &n, &freed[observed]));
        peak[observed] = tg_tape_peak(t);
    }
    /* the 3 batch norms' outputs before an add (the other 5 batch norms take their ReLU in their
     * own pass: no separate output), 3 sums before a ReLU, the last max pool's output (read by the
     * global pool, which reads only its shape) and the global pool's (read by flatten) */
    ck_assert_int_eq(freed[0], 8);
    ck_assert_int_eq(freed[1], 0);
    ck_assert_msg(peak[0] < peak[1] * 85 / 100, "tape peak %zu freeing, %zu not", peak[0], peak[1]);
    tg_model_free(m);
}
END_TEST

START_TEST(tiny_model_loss_falls)
{
    /* 16 points in 2-D, class = (x0 > x1); linear-relu-linear with SGD + momentum */
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_module *net = keep(tg_sequential(NULL));
    tg_sequential_add(net, tg_linear_layer(2, 8, true, &rng));
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_sequential_add(net, tg_linear_layer(8, 2, true, &rng));
    tg_tensor *x = tt_random(2, (const int64_t[]){16, 2}, 3, -1, 1);
    int64_t labels[16];
    for (int i = 0; i < 16; i++) labels[i] = x->data[2 * i] > x->data[2 * i + 1];
    tg_tensor *y = tt_labels(16, labels);
    tg_named_tensor e[8];
    tg_tensor *ps[8];
    const int np = tg_module_named_tensors(net, false, e, 8);
    for (int i = 0; i < np; i++) ps[i] = e[i].tensor;
    tg_optim_config c = tg_optim_defaults(TG_OPTIM_SGD);
    c.lr = 0.1, c.momentum = 0.9;
    tg_optim *opt = tg_optim_new(&c);
    tg_optim_add_group(opt, ps, np, NAN, NAN);
    tg_tape *t = tt_tape();
    double first = 0, last = 0;
    for (int step = 0; step < 100; step++) {
        tg_tape_reset(t);
        tg_tensor *loss = tg_cross_entropy(t, tg_module_forward(net, t, x), y);
        ck_assert_ptr_nonnull(loss);
        tg_optim_zero_grad(opt);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        tg_optim_step(opt);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
    }
    ck_assert_msg(last < 0.3 * first, "loss %g -> %g", first, last);
    tg_optim_free(opt);
}
END_TEST

START_TEST(norm_layers)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_random(4, (const int64_t[]){2, 4, 3, 3}, 6, -2, 2);
    tg_module *ln = keep(tg_layer_norm_layer(3, (const int64_t[]){4, 3, 3}));
    ck_assert_int_eq(tg_module_param_count(ln), 2 * 36);
    tg_tensor *y = run(ln, t, x);
    double mean = 0;
    for (int i = 0; i < 36; i++) mean += y->data[i];
    ck_assert_double_eq_tol(mean / 36, 0, 1e-5); /* per-sample mean 0 */
    tg_module *in = keep(tg_instance_norm_layer(4, false));
    ck_assert_int_eq(tg_module_param_count(in), 0);
    tt_assert_shape(run(in, t, x), 2, 4, 3, 3);
    tg_module *gn = keep(tg_group_norm_layer(2, 4));
    ck_assert_int_eq(tg_module_param_count(gn), 8);
    y = run(gn, t, x);
    mean = 0;
    for (int i = 0; i < 18; i++) mean += y->data[i]; /* group 0 of sample 0: channels 0,1 */
    ck_assert_double_eq_tol(mean / 18, 0, 1e-5);
    ck_assert_ptr_null(tg_group_norm_layer(3, 4));
}
END_TEST

/* The binding rule: the layer's tensors go to the op inputs of the same name. instance_norm with
 * affine: gamma/beta reach weight/bias (the output is scaled and shifted by hand-known values),
 * and with no running statistics nothing is updated. */
START_TEST(binding_by_input_name)
{
    tg_tape *t = tt_tape();
    /* per (n,c) plane [1,3] and [-1,1]: normalised to [-1,1], then * gamma + beta */
    tg_tensor *x = tt_tensorv((double[]){1, 3, -1, 1}, 3, 1, 2, 2);
    tg_module *in = keep(tg_instance_norm_layer(2, true));
    ck_assert_int_eq(in->n_buffers, 0);
    tg_tensor_set(tg_module_tensor(in, "weight"), (const tg_real[]){2, 3});
    tg_tensor_set(tg_module_tensor(in, "bias"), (const tg_real[]){10, 20});
    const double eps = 1e-5, s = 1 / sqrt(1 + eps);
    tt_assert_close(run(in, t, x)->data, ((const double[]){10 - 2 * s, 10 + 2 * s, 20 - 3 * s, 20 + 3 * s}), 4, 1e-6);

    /* a user-visible way to give an op layer a named tensor: tlu's tau */
    char err[160];
    tg_module *tlu = keep(tg_op_layer("tlu"));
    tg_tensor *missing = tg_module_forward(tlu, t, x);
    tt_assert_error(t, missing, "tlu: op tlu needs input 'tau' but the layer has no parameter or buffer of that name");
    tg_clear_error(t);
    tg_tensor *tau = tg_tensor_newv(1, (int64_t)2);
    ck_assert_int_eq(tg_module_add_param(tlu, "thresh", tau, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "tlu: op tlu has no input 'thresh' for the parameter to bind to");
    ck_assert_int_eq(tg_module_add_param(tlu, "input", tau, err, sizeof err), TG_ERR_INVALID);
    tg_tensor_set(tau, (const tg_real[]){2, 0});
    ck_assert_int_eq(tg_module_add_param(tlu, "tau", tau, err, sizeof err), 0);
    ck_assert(tau->requires_grad);
    tg_tensor *twice = tg_tensor_newv(1, (int64_t)2);
    ck_assert_int_eq(tg_module_add_buffer(tlu, "tau", twice, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "tlu: 'tau' is already set");
    /* the op's descriptor says which inputs are parameters: a running statistic is a buffer */
    tg_module *bn = keep(tg_op_layer("batch_norm"));
    ck_assert_int_eq(tg_module_add_param(bn, "running_mean", twice, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "batch_norm: input 'running_mean' of op batch_norm takes a buffer, not a parameter");
    ck_assert_int_eq(tg_module_add_buffer(bn, "weight", twice, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "batch_norm: input 'weight' of op batch_norm takes a parameter, not a buffer");
    tg_tensor_free(twice);
    tt_assert_close(run(tlu, t, x)->data, ((const double[]){2, 3, 0, 1}), 4, 0);
    /* a tensor no input takes is an error, not silently ignored */
    tg_module *relu = keep(tg_op_layer("relu"));
    tg_tensor *w = tg_tensor_newv(1, (int64_t)2);
    ck_assert_int_eq(tg_module_add_param(relu, "weight", w, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "relu: op relu has no input 'weight' for the parameter to bind to");
    tg_tensor_free(w);
}
END_TEST

/* momentum=none: the cumulative average over the batches seen, as PyTorch (1/num_batches_tracked). */
START_TEST(batch_norm_cumulative_average)
{
    char err[128];
    tg_tape *t = tt_tape();
    tg_module *bn = keep(tg_batch_norm_layer(1));
    ck_assert_int_eq(tg_module_set(bn, "momentum", "none", err, sizeof err), 0);
    tg_tensor *counter = tg_module_tensor(bn, "num_batches_tracked");
    ck_assert_ptr_nonnull(counter);
    ck_assert_int_eq(tg_module_named_tensors(bn, true, NULL, 0), 4); /* transient: not listed */
    /* batch means 1, 3, 8 -> running mean 1, 2, 4 */
    const double batches[3][2] = {{0, 2}, {2, 4}, {7, 9}}, want[3] = {1, 2, 4};
    for (int b = 0; b < 3; b++) {
        tg_tape_reset(t);
        run(bn, t, tt_tensorv(batches[b], 2, 2, 1));
        ck_assert_int_eq(counter->idata[0], b + 1);
        ck_assert_double_eq_tol(tg_module_tensor(bn, "running_mean")->data[0], want[b], 1e-6);
    }
}
END_TEST

/* Constructors that return NULL say why in tg_last_error(), naming the constructor, the argument
 * and its value; a NULL child handed to tg_sequential_add keeps its own reason. */
#define ASSERT_NULL_WITH(expr, text)                                                                   \
    do {                                                                                               \
        void *r_ = (void *)(expr);                                                                     \
        ck_assert_msg(r_ == NULL, "%s should fail", #expr);                                            \
        ck_assert_msg(strstr(tg_last_error(), text) != NULL, "%s: got '%s', want '%s'", #expr,         \
                      tg_last_error(), text);                                                          \
    } while (0)

START_TEST(constructors_give_their_reason)
{
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, neg[2] = {2, -3}, k[2] = {3, 0};
    ASSERT_NULL_WITH(tg_tensor_new(TG_REAL, 9, nine), "tensor_new: ndim=9 is outside 0..8");
    ASSERT_NULL_WITH(tg_tensor_new(TG_REAL, 2, neg), "tensor_new: shape [2,-3] has a negative dim");
    ASSERT_NULL_WITH(tg_linear_layer(0, 4, true, NULL), "linear layer: in=0 and out=4 must be > 0");
    ASSERT_NULL_WITH(tg_conv_layer(2, 3, 8, 3, 2, true, NULL), "conv layer: in=3 and out=8 must be divisible by groups=2");
    ASSERT_NULL_WITH(tg_conv_layer_nd(2, 4, 8, k, 1, true, NULL), "conv layer: kernel[1]=0 must be > 0");
    ASSERT_NULL_WITH(tg_conv_transpose_layer_nd(4, 4, 8, k, 1, true, NULL), "conv_transpose layer: dims=4 is outside 1..3");
    ASSERT_NULL_WITH(tg_group_norm_layer(3, 8), "group_norm layer: channels=8 must be a positive multiple of groups=3");
    ASSERT_NULL_WITH(tg_batch_norm_layer(0), "batch_norm layer: channels=0 must be > 0");
    ASSERT_NULL_WITH(tg_layer_norm_layer(5, nine), "layer_norm layer: n=5 normalized dims is outside 1..4");
    ASSERT_NULL_WITH(tg_dropout_layer(1.5), "dropout layer: p=1.5 is outside [0, 1)");
    ASSERT_NULL_WITH(tg_op_layer("relux"), "op layer: unknown op 'relux'");
    ASSERT_NULL_WITH(tg_add_layer("a,b"), "add layer: from='a,b' must be one id");
    ASSERT_NULL_WITH(tg_max_unpool_layer(2, ""), "max_unpool2d layer: from='' must be the id of one max pool layer");
    /* the child's reason survives the container */
    tg_module *seq = tg_sequential("net");
    ASSERT_NULL_WITH(tg_sequential_add(seq, tg_dropout_layer(-1)), "dropout layer: p=-1 is outside [0, 1)");
    ck_assert_int_eq(tg_module_child_count(seq), 0);
    ASSERT_NULL_WITH(tg_sequential_add(NULL, tg_op_layer("relu")), "sequential_add: seq is NULL");
    char err[128];
    ck_assert_int_eq(tg_module_set_id(seq, "", err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "module id: id is empty (at most 47 characters)");
    ck_assert_int_eq(tg_module_set_id(seq, "trunk", err, sizeof err), TG_OK);
    /* a success after a failure works; the reason stays until the next failure */
    tg_module *ok = tg_sequential_add(seq, tg_op_layer("relu"));
    ck_assert_ptr_nonnull(ok);
    ck_assert_str_eq(tg_module_type(ok), "relu");
    ck_assert_str_eq(tg_module_name(ok), "0");
    ck_assert_ptr_eq(tg_module_child(seq, 0), ok);
    ck_assert_ptr_null(tg_module_child(seq, 1));
    ck_assert_ptr_eq(tg_module_find(seq, "0"), ok);
    tg_module_free(seq);
}
END_TEST

Suite *suite_nn(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tt_tcase("nn");
    tcase_add_checked_fixture(tc, NULL, free_modules);
    tcase_add_test(tc, linear_values_and_counts);
    tcase_add_test(tc, constructors_give_their_reason);
    tcase_add_test(tc, conv_layers_shapes_and_counts);
    tcase_add_test(tc, default_init_bounds);
    tcase_add_test(tc, named_parameters);
    tcase_add_test(tc, batch_norm_train_and_eval);
    tcase_add_test(tc, dropout_train_and_eval);
    tcase_add_test(tc, residual_and_concat_joins);
    tcase_add_test(tc, module_gradcheck);
    tcase_add_test(tc, training_frees_only_what_no_backward_reads);
    tcase_add_test(tc, training_frees_batch_norm_outputs);
    tcase_add_test(tc, norm_activation_fusion_matches_two_layers);
    tcase_add_test(tc, tiny_model_loss_falls);
    tcase_add_test(tc, norm_layers);
    tcase_add_test(tc, binding_by_input_name);
    tcase_add_test(tc, batch_norm_cumulative_average);
    suite_add_tcase(s, tc);
    return s;
}
