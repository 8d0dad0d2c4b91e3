/* tests/test_backward.c — backward semantics (docs/architecture.md § Semantics): any number of
 * backward calls on one tape, on any outputs, in any order, add up in the leaves exactly as the
 * separate calls would (PyTorch with retain_graph=True); intermediates start every call at zero;
 * retained intermediates sum over calls; tg_backward_many is one walk of several seeds; refused
 * calls return a status and a message without poisoning the tape; anomaly mode names the first op
 * that made a NaN or Inf.
 *
 * The random programs in tests/fixtures/backward_programs/ were run by PyTorch
 * (tests/fixtures/gen_backward.py); this file interprets them with the same ops and compares. */
#include "util.h"

#include <dirent.h>
#include <stdlib.h>

#define PROGRAM_DIR "tests/fixtures/backward_programs"
#define MAX_VARS 96
#define MAX_LINE 8192

#if TT_DOUBLE
#define PROGRAM_TOL 1e-10
#else
#define PROGRAM_TOL 2e-4
#endif

typedef struct program_env {
    char names[MAX_VARS][16];
    tg_tensor *vars[MAX_VARS];
    int n;
} program_env;

static tg_tensor *lookup(program_env *e, const char *name)
{
    for (int i = 0; i < e->n; i++)
        if (!strcmp(e->names[i], name)) return e->vars[i];
    ck_abort_msg("program: unknown name '%s'", name);
    return NULL;
}

static void bind(program_env *e, const char *name, tg_tensor *t)
{
    ck_assert_int_lt(e->n, MAX_VARS);
    ck_assert_ptr_nonnull(t);
    snprintf(e->names[e->n], sizeof e->names[0], "%s", name);
    e->vars[e->n++] = t;
}

/* Reads the numbers after the first `skip` words of line into v (at most max); returns the count. */
static int numbers(const char *line, int skip, double *v, int max)
{
    const char *p = line;
    for (int w = 0; w < skip; w++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    int n = 0;
    char *end;
    for (double x = strtod(p, &end); end != p && n < max; x = strtod(p, &end)) v[n++] = x, p = end;
    return n;
}

/* Runs the program's statements. reversed: the backward-type statements run in reverse order
 * (only for programs without `zero`). Returns the number of `expect` lines checked. */
static int run_program(const char *path, bool reversed)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char lines[256][MAX_LINE];
    int n_lines = 0;
    while (n_lines < 256 && fgets(lines[n_lines], MAX_LINE, f)) {
        lines[n_lines][strcspn(lines[n_lines], "\n")] = '\0';
        n_lines++;
    }
    fclose(f);
    int calls[256], n_calls = 0;
    for (int i = 0; i < n_lines; i++)
        if (!strncmp(lines[i], "backward", 8) || !strncmp(lines[i], "many ", 5)) calls[n_calls++] = i;
    tg_tape *t = tt_tape();
    program_env env = {.n = 0};
    int checked = 0, next_call = 0;
    static tg_real dy_store[64][64];
    int n_dy = 0;
    for (int i = 0; i < n_lines; i++) {
        char *l = lines[i], w0[32] = "", w1[32] = "", w2[32] = "", w3[32] = "";
        if (!*l) continue;
        sscanf(l, "%31s %31s %31s %31s", w0, w1, w2, w3);
        double v[64];
        if (reversed && (!strcmp(w0, "backward") || !strcmp(w0, "backward_with") || !strcmp(w0, "many"))) {
            l = lines[calls[n_calls - 1 - next_call++]]; /* the calls, last first */
            sscanf(l, "%31s %31s %31s %31s", w0, w1, w2, w3);
        }
        if (!strcmp(w0, "leaf")) {
            const int r = atoi(w2), c = atoi(w3);
            const int n = numbers(l, 4, v, 64);
            ck_assert_int_eq(n, r * c);
            tg_tensor *x = tt_tensor(2, (int64_t[]){r, c}, v);
            x->requires_grad = true;
            bind(&env, w1, x);
        } else if (!strcmp(w0, "op")) {
            tg_tensor *a = lookup(&env, w3), *y = NULL;
            char w4[32] = "";
            sscanf(l, "%*s %*s %*s %*s %31s", w4);
            if (!strcmp(w2, "add")) y = tg_add(t, a, lookup(&env, w4));
            else if (!strcmp(w2, "sub")) y = tg_sub(t, a, lookup(&env, w4));
            else if (!strcmp(w2, "mul")) y = tg_mul(t, a, lookup(&env, w4));
            else if (!strcmp(w2, "matmul")) y = tg_matmul(t, a, lookup(&env, w4));
            else if (!strcmp(w2, "tanh")) y = tg_tanh(t, a);
            else if (!strcmp(w2, "sigmoid")) y = tg_sigmoid(t, a);
            else if (!strcmp(w2, "relu")) y = tg_relu(t, a);
            else if (!strcmp(w2, "exp")) y = tg_exp(t, a);
            else if (!strcmp(w2, "neg")) y = tg_neg(t, a);
            else if (!strcmp(w2, "sum")) y = tg_sum(t, a, TG_DIM_NONE, false);
            else if (!strcmp(w2, "mean")) y = tg_mean(t, a, TG_DIM_NONE, false);
            else ck_abort_msg("%s: unknown op '%s'", path, w2);
            ck_assert_msg(y != NULL, "%s: %s", path, tg_error(t));
            bind(&env, w1, y);
        } else if (!strcmp(w0, "retain")) {
            tg_tensor_retain_grad(lookup(&env, w1));
        } else if (!strcmp(w0, "backward")) {
            ck_assert_msg(tg_backward(lookup(&env, w1)) == TG_OK, "%s: %s", path, tg_error(t));
        } else if (!strcmp(w0, "backward_with")) {
            tg_tensor *y = lookup(&env, w1);
            const int n = numbers(l, 2, v, 64);
            ck_assert_int_eq(n, y->numel);
            ck_assert_int_lt(n_dy, 64);
            for (int k = 0; k < n; k++) dy_store[n_dy][k] = (tg_real)v[k];
            ck_assert_msg(tg_backward_with(y, dy_store[n_dy++]) == TG_OK, "%s: %s", path, tg_error(t));
        } else if (!strcmp(w0, "many")) {
            tg_tensor *outs[8];
            int n = 0;
            char *save = NULL, buf[MAX_LINE];
            snprintf(buf, sizeof buf, "%s", l + 5);
            for (char *tok = strtok_r(buf, " ", &save); tok && n < 8; tok = strtok_r(NULL, " ", &save))
                outs[n++] = lookup(&env, tok);
            ck_assert_msg(tg_backward_many(outs, NULL, n) == TG_OK, "%s: %s", path, tg_error(t));
        } else if (!strcmp(w0, "zero")) {
            tg_tensor_zero_grad(lookup(&env, w1));
        } else if (!strcmp(w0, "expect")) {
            tg_tensor *x = lookup(&env, w1);
            const int n = numbers(l, 2, v, 64);
            ck_assert_int_eq(n, x->numel);
            bool all_zero = true;
            for (int k = 0; k < n; k++) all_zero &= v[k] == 0;
            if (!x->grad) ck_assert_msg(all_zero, "%s: %s got no gradient", path, w1);
            else tt_assert_close(x->grad, v, n, PROGRAM_TOL);
            checked++;
        } else {
            ck_abort_msg("%s: bad line '%s'", path, l);
        }
    }
    return checked;
}

static bool has_zero_statement(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[MAX_LINE];
    bool found = false;
    while (f && fgets(line, sizeof line, f)) found |= !strncmp(line, "zero ", 5);
    if (f) fclose(f);
    return found;
}

/* Every PyTorch program, in its order and (where no grad is zeroed between calls) reversed. */
START_TEST(programs_match_pytorch_in_any_order)
{
    DIR *d = opendir(PROGRAM_DIR);
    ck_assert_msg(d != NULL, "run from the repository root (%s)", PROGRAM_DIR);
    int files = 0, expects = 0, reversed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".txt")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", PROGRAM_DIR, e->d_name);
        expects += run_program(path, false);
        tt_cleanup();
        if (!has_zero_statement(path)) {
            run_program(path, true);
            tt_cleanup();
            reversed++;
        }
        files++;
    }
    closedir(d);
    ck_assert_int_ge(files, 40);
    ck_assert_int_ge(reversed, 10);
    ck_assert_int_ge(expects, 80);
}
END_TEST

/* The cases of the issue, with PyTorch's numbers. */
START_TEST(repeated_backward_does_not_resend_gradients)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3}, 1, 3);
    x->requires_grad = true;
    tg_tensor *y = tg_mul(t, x, x);
    const tg_real dy1[3] = {1, 1, 1}, dy2[3] = {10, 10, 10};
    ck_assert_int_eq(tg_backward_with(y, dy1), TG_OK);
    ck_assert_int_eq(tg_backward_with(y, dy2), TG_OK);
    tt_assert_close(x->grad, ((double[]){22, 44, 66}), 3, 1e-6); /* 2x (dy1 + dy2) */

    tg_tensor *one = tt_tensorv((double[]){1}, 1, 1);
    one->requires_grad = true;
    tg_tensor *a = tg_mul(t, one, one);
    tg_tensor *l1 = tg_sum(t, a, TG_DIM_NONE, false);
    tg_tensor *l2 = tg_sum(t, tg_mul(t, a, tg_add(t, tg_add(t, tg_div(t, a, a), tg_div(t, a, a)), tg_div(t, a, a))),
                           TG_DIM_NONE, false); /* 3a, with a/a = 1 adding no gradient at a = 1 */
    ck_assert_ptr_nonnull(l2);
    ck_assert_int_eq(tg_backward(l1), TG_OK);
    ck_assert_int_eq(tg_backward(l2), TG_OK);
    tt_assert_close(one->grad, ((double[]){8}), 1, 1e-6);
}
END_TEST

/* torch.autograd.backward([l1, l2, l1]) = the separate calls added up, in one walk. */
START_TEST(backward_many_equals_the_separate_calls)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){0.5, -1, 2}, 1, 3), *x2 = tt_tensorv((double[]){0.5, -1, 2}, 1, 3);
    x->requires_grad = x2->requires_grad = true;
    tg_tensor *h = tg_tanh(t, tg_mul(t, x, x));
    tg_tensor *l1 = tg_sum(t, h, TG_DIM_NONE, false), *l2 = tg_mean(t, tg_exp(t, h), TG_DIM_NONE, false);
    tg_tensor *outs[3] = {l1, l2, l1};
    tg_tensor_retain_grad(h);
    ck_assert_int_eq(tg_backward_many(outs, NULL, 3), TG_OK);
    double many[3] = {x->grad[0], x->grad[1], x->grad[2]}, h_many[3] = {h->grad[0], h->grad[1], h->grad[2]};

    tg_tensor *g = tg_tanh(t, tg_mul(t, x2, x2));
    tg_tensor *m1 = tg_sum(t, g, TG_DIM_NONE, false), *m2 = tg_mean(t, tg_exp(t, g), TG_DIM_NONE, false);
    ck_assert_int_eq(tg_backward(m1), TG_OK);
    ck_assert_int_eq(tg_backward(m2), TG_OK);
    ck_assert_int_eq(tg_backward(m1), TG_OK);
    tt_assert_close(x2->grad, many, 3, 1e-6);
    /* h's gradient: 2 from l1 twice plus exp(h)/3 */
    for (int i = 0; i < 3; i++) ck_assert(fabs(h_many[i] - (2 + exp((double)h->data[i]) / 3)) < 1e-5);

    /* an explicit dy per output, and NULL for a scalar */
    tg_tensor_zero_grad(x);
    const tg_real dh[3] = {1, -2, 0.5};
    tg_tensor *outs2[2] = {h, l1};
    const tg_real *dys[2] = {dh, NULL};
    ck_assert_int_eq(tg_backward_many(outs2, dys, 2), TG_OK);
    double want[3];
    for (int i = 0; i < 3; i++) {
        const double xi = x->data[i], th = tanh(xi * xi);
        want[i] = ((double)dh[i] + 1) * (1 - th * th) * 2 * xi;
    }
    tt_assert_close(x->grad, want, 3, 1e-5);
    ck_assert_int_eq(tg_backward_many(outs2, NULL, 2), TG_ERR_INVALID); /* h has 3 elements */
    ck_assert_ptr_nonnull(strstr(tg_error(t), "one element"));
    ck_assert_int_eq(tg_backward_many(outs2, dys, 0), TG_ERR_INVALID);
}
END_TEST

/* A refused call says why and leaves the tape working. */
START_TEST(refused_backward_is_not_sticky)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4}, 2, 2, 2);
    x->requires_grad = true;
    tg_tensor *z = tg_mul(t, x, x);
    ck_assert_int_eq(tg_backward(z), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_error(t), "backward: loss must have one element, got [2,2]"));
    ck_assert_int_eq(tg_backward(tg_sum(t, z, TG_DIM_NONE, false)), TG_OK);
    ck_assert_ptr_null(tg_error(t)); /* the refusal is gone with the next call */
    tt_assert_close(x->grad, ((double[]){2, 4, 6, 8}), 4, 1e-6);
    /* a later op error is still recorded (the refusal did not take the tape's error slot) */
    ck_assert_int_eq(tg_backward(z), TG_ERR_INVALID);
    tg_tensor *bad = tg_matmul(t, x, tt_tensorv(NULL, 2, 3, 1));
    tt_assert_error(t, bad, "matmul");
    ck_assert_int_eq(tg_backward_with(NULL, (tg_real[]){1}), TG_ERR_INVALID);
    ck_assert_int_eq(tg_backward_with(z, NULL), TG_ERR_INVALID);
}
END_TEST

START_TEST(backward_without_a_graph_is_an_error)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2}, 1, 2);
    tg_tensor *y = tg_sum(t, tg_mul(t, x, x), TG_DIM_NONE, false); /* nothing requires grad */
    ck_assert_int_eq(tg_backward(y), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_error(t), "does not require a gradient"));
    x->requires_grad = true;
    tg_no_grad_begin(t);
    tg_tensor *y2 = tg_sum(t, tg_mul(t, x, x), TG_DIM_NONE, false);
    tg_no_grad_end(t);
    ck_assert_int_eq(tg_backward(y2), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_error(t), "no-grad mode"));
    ck_assert_ptr_null(x->grad);
    /* int64 outputs and outputs of two tapes */
    tg_tape *t2 = tg_tape_new(0);
    tg_tensor *a = tg_sum(t, tg_mul(t, x, x), TG_DIM_NONE, false), *b = tg_sum(t2, tg_mul(t2, x, x), TG_DIM_NONE, false);
    tg_tensor *outs[2] = {a, b};
    ck_assert_int_eq(tg_backward_many(outs, NULL, 2), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_error(t), "different tapes"));
    ck_assert_ptr_null(x->grad); /* nothing ran */
    tg_tape_free(t2);
    /* a leaf that requires grad: its gradient is the seed */
    tg_tensor *s = tt_tensorv((double[]){3}, 1, 1);
    s->requires_grad = true;
    ck_assert_int_eq(tg_backward(s), TG_OK);
    ck_assert_int_eq(tg_backward(s), TG_OK);
    tt_assert_close(s->grad, ((double[]){2}), 1, 0);
}
END_TEST

/* Anomaly mode names the first op that produced a non-finite value, with its node index, layer
 * path and shape; off, the values simply flow (as in PyTorch). */
START_TEST(anomaly_mode_names_the_op_and_layer)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, -1, 4}, 1, 3);
    x->requires_grad = true;
    tg_tensor *y = tg_log(t, x); /* log(-1) = NaN, flows without anomaly mode */
    ck_assert_ptr_nonnull(y);
    ck_assert(isnan((double)y->data[1]));
    tg_tape_reset(t);
    tg_set_detect_anomaly(t, true);
    ck_assert(tg_detect_anomaly(t));
    tg_tensor *e = tg_exp(t, x);
    tg_tape_push_scope(t, "features");
    tg_tape_push_scope(t, "3");
    ck_assert_str_eq(tg_tape_scope(t), "features.3");
    tt_assert_error(t, tg_log(t, tg_neg(t, e)),
                    "anomaly: log (node 2, layer features.3) produced NaN in its output [3] (first at flat index 0)");
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "");

    /* backward: sqrt(0) has an infinite derivative */
    tg_tape_reset(t);
    tg_set_detect_anomaly(t, true);
    tg_tensor *z = tt_tensorv((double[]){0, 1}, 1, 2);
    z->requires_grad = true;
    tg_tape_push_scope(t, "head");
    tg_tensor *s = tg_sum(t, tg_sqrt(t, z), TG_DIM_NONE, false);
    tg_tape_pop_scope(t);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tg_backward(s), TG_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(tg_error(t), "anomaly: backward of sqrt (node 0, layer head) produced Inf in the "
                                              "gradient of its input 0"));
    ck_assert_str_eq(tg_strerror(TG_ERR_NONFINITE), "non-finite value (anomaly mode)");
}
END_TEST

/* Modules push their names: nodes know their layer path. */
START_TEST(nodes_record_the_module_path)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_module *net = tg_sequential("net");
    tg_module *block = tg_sequential("block");
    tg_sequential_add(block, tg_linear_layer(3, 2, true, &rng));
    tg_sequential_add(block, tg_op_layer("relu"));
    tg_sequential_add(net, block);
    tg_sequential_add(net, tg_linear_layer(2, 1, false, &rng));
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3}, 2, 1, 3);
    tg_tensor *y = tg_module_forward(net, t, x);
    ck_assert_ptr_nonnull(y);
    ck_assert_str_eq(y->node->scope, "net.1");
    ck_assert_str_eq(y->node->prev->scope, "net.block.1");
    ck_assert_str_eq(y->node->prev->prev->scope, "net.block.0");
    ck_assert_str_eq(tg_tape_scope(t), "");
    tg_module_free(net);
}
END_TEST

typedef struct hook_log {
    int indices[16];
    int n;
} hook_log;

static void log_node(void *ctx, const tg_node *node)
{
    hook_log *l = ctx;
    if (l->n < 16) l->indices[l->n++] = node->index;
}

/* The hook sees every node whose backward ran, newest first; nodes no gradient reached are skipped. */
START_TEST(backward_hook_runs_after_each_node)
{
    tg_tape *t = tt_tape();
    hook_log log = {.n = 0};
    tg_tape_set_backward_hook(t, log_node, &log);
    tg_tensor *x = tt_tensorv((double[]){1, 2}, 1, 2);
    x->requires_grad = true;
    tg_tensor *a = tg_mul(t, x, x);                       /* node 0 */
    tg_tensor *l = tg_sum(t, a, TG_DIM_NONE, false);      /* node 1 */
    ck_assert_ptr_nonnull(tg_exp(t, a));                  /* node 2: not on l's path */
    ck_assert_int_eq(tg_backward(l), TG_OK);
    ck_assert_int_eq(log.n, 2);
    ck_assert_int_eq(log.indices[0], 1);
    ck_assert_int_eq(log.indices[1], 0);
    tg_tape_set_backward_hook(t, NULL, NULL);
    ck_assert_int_eq(tg_backward(l), TG_OK);
    ck_assert_int_eq(log.n, 2);
}
END_TEST

/* tg_tensor_clear_grad (set to none): grad is NULL afterwards; the next backward's gradients equal
 * those after tg_tensor_zero_grad bit for bit — through ops that write their whole input gradient
 * (layer norm, linear, relu), one that adds into it (sum), and x read by two ops (the first
 * writes, the second adds) — and a long-lived tensor's buffer is reused, not reallocated; two
 * backward calls without a clear add up; a tape tensor's and a borrowed dy's gradient are dropped. */
START_TEST(clear_grad_matches_zero_grad)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_random(2, (int64_t[]){5, 8}, 31, -2, 2), *w = tt_random(2, (int64_t[]){3, 8}, 32, -1, 1);
    tg_tensor *lw = tt_random(1, (int64_t[]){8}, 33, 0.5, 1.5), *lb = tt_random(1, (int64_t[]){8}, 34, -1, 1);
    x->requires_grad = w->requires_grad = lw->requires_grad = true;
    tg_norm_attr ln;
    tg_attr_defaults(TG_OP_LAYER_NORM, &ln);
    ln.normalized_shape = (tg_ints){.n = 1, .v = {8}};
    for (int graph = 0; graph < 3; graph++) {
        tg_real want_x[2][40], want_w[2][24], want_lw[2][8];
        /* modes: zero_grad, clear, clear again (one backward each); zero_grad, clear (two backwards
         * each: the second adds to what the first left, through GEMMs that add into dW) */
        for (int mode = 0; mode < 5; mode++) {
            const int calls = mode >= 3 ? 2 : 1, ref = mode >= 3;
            const bool zero = mode == 0 || mode == 3;
            tg_real *before = x->grad;
            if (zero) tg_tensor_zero_grad(x), tg_tensor_zero_grad(w), tg_tensor_zero_grad(lw);
            else tg_tensor_clear_grad(x), tg_tensor_clear_grad(w), tg_tensor_clear_grad(lw);
            if (!zero) ck_assert(x->grad == NULL && w->grad == NULL && lw->grad == NULL);
            for (int call = 0; call < calls; call++) {
                tg_tape_reset(t);
                tg_tensor *y = graph == 0   ? tg_sum(t, tg_relu(t, tg_linear(t, tg_layer_norm(t, x, lw, lb, &ln), w, NULL)), TG_DIM_NONE, false)
                               : graph == 1 ? tg_sum(t, tg_mul(t, tg_sum(t, x, 1, false), tg_sum(t, x, 1, false)), TG_DIM_NONE, false)
                                            : tg_sum(t, tg_add(t, tg_layer_norm(t, x, lw, lb, &ln), tg_relu(t, x)), TG_DIM_NONE, false);
                ck_assert_msg(y != NULL, "%s", tg_error(t) ? tg_error(t) : "?");
                ck_assert_int_eq(tg_backward(y), TG_OK);
            }
            if (!zero && before) ck_assert_ptr_eq(x->grad, before); /* the same buffer, reused */
            if (zero) {
                memcpy(want_x[ref], x->grad, sizeof want_x[ref]);
                if (graph == 0) memcpy(want_w[ref], w->grad, sizeof want_w[ref]), memcpy(want_lw[ref], lw->grad, sizeof want_lw[ref]);
                continue;
            }
            ck_assert_msg(!memcmp(x->grad, want_x[ref], sizeof want_x[ref]), "graph %d mode %d: dx", graph, mode);
            if (graph == 0) {
                ck_assert_msg(!memcmp(w->grad, want_w[ref], sizeof want_w[ref]), "mode %d: dW", mode);
                ck_assert_msg(!memcmp(lw->grad, want_lw[ref], sizeof want_lw[ref]), "mode %d: dγ", mode);
            }
        }
    }
    /* a tape tensor's gradient and a borrowed dy are dropped, not kept */
    tg_tape_reset(t);
    tg_tensor *h = tg_relu(t, x);
    tg_real dy[40] = {0};
    ck_assert_int_eq(tg_backward_with(h, dy), TG_OK);
    tg_tensor_clear_grad(h);
    ck_assert(h->grad == NULL && h->grad_spare == NULL && !h->grad_borrowed);
    tg_tensor_clear_grad(NULL);
}
END_TEST

Suite *suite_backward(void)
{
    Suite *s = suite_create("backward");
    TCase *tc = tt_tcase("semantics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, programs_match_pytorch_in_any_order);
    tcase_add_test(tc, repeated_backward_does_not_resend_gradients);
    tcase_add_test(tc, backward_many_equals_the_separate_calls);
    tcase_add_test(tc, refused_backward_is_not_sticky);
    tcase_add_test(tc, backward_without_a_graph_is_an_error);
    tcase_add_test(tc, anomaly_mode_names_the_op_and_layer);
    tcase_add_test(tc, nodes_record_the_module_path);
    tcase_add_test(tc, backward_hook_runs_after_each_node);
    tcase_add_test(tc, clear_grad_matches_zero_grad);
    suite_add_tcase(s, tc);
    return s;
}
