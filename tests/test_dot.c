/* tests/test_dot.c — DOT output of a tape: op boxes with their non-default attributes, tensor
 * ellipses with names and shapes, parameters and the root drawn distinctly, backward edges,
 * label escaping, only what the root depends on, a user-registered op; Graphviz must accept the
 * text when `dot` is installed. Ops are applied through the table (tg_op_apply), so the test
 * depends on no typed signature. */
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

typedef union attr_buf {
    unsigned char bytes[512];
    double align;
} attr_buf;

/* ---- a user op with one attribute: y = x * scale ---- */
typedef struct scale_attr {
    double scale;
} scale_attr;
static const tg_attr_desc scale_attrs[] = {{"scale", TG_ATTR_REAL, offsetof(scale_attr, scale), "1", false, NULL, NULL}};
static int scale_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)t, (void)n, (void)attr;
    *ndim = in[0]->ndim;
    memcpy(shape, in[0]->shape, sizeof(int64_t) * (size_t)in[0]->ndim);
    return 0;
}
static int scale_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const scale_attr *a = node->attr;
    for (int64_t i = 0; i < node->out->numel; i++) node->out->data[i] = (tg_real)(a->scale * node->inputs[0]->data[i]);
    return 0;
}
static void scale_backward(tg_tape *t, tg_node *node)
{
    const scale_attr *a = node->attr;
    tg_real *dx = tg_input_grad(t, node, 0);
    if (dx)
        for (int64_t i = 0; i < node->out->numel; i++) dx[i] += (tg_real)(a->scale * node->out->grad[i]);
}
static const char *const scale_inputs[] = {"input"};
static const tg_op_desc scale_desc = {.name = "dot_test_scale", .min_inputs = 1, .max_inputs = 1, .input_names = scale_inputs,
                                      .attrs = scale_attrs, .n_attrs = 1, .attr_size = sizeof(scale_attr),
                                      .shape = scale_shape, .forward = scale_forward, .backward = scale_backward};

static tg_tensor *apply(tg_tape *t, int op, tg_tensor *a, tg_tensor *b, const char *kv)
{
    attr_buf attr;
    tg_attr_defaults(op, attr.bytes);
    char err[256];
    if (kv) ck_assert_msg(tg_attr_parse(op, attr.bytes, kv, err, sizeof err) == 0, "%s", err);
    tg_tensor *in[2] = {a, b};
    tg_tensor *y = tg_op_apply(t, op, in, b ? 2 : 1, attr.bytes);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    return y;
}

static char *dot_text(const tg_tape *t, const tg_tensor *root, const tg_dot_opts *opts)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_dot_fprint(f, t, root, opts), TG_OK);
    fclose(f);
    return text;
}

/* The drawing without gradient norms, NaN marks, clusters and bytes: exact labels. */
static const tg_dot_opts plain = {.hide = TG_DOT_ALL_EXTRAS};

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* x (input) and w (parameter) -> mul -> leaky_relu(0.2) -> sum = loss */
typedef struct small_graph {
    tg_tape *tape;
    tg_tensor *x, *w, *prod, *act, *loss;
} small_graph;

static small_graph build(void)
{
    small_graph g = {.tape = tt_tape()};
    g.x = tg_tensor_set_name(tt_tensorv((double[]){1, -2, 3, -4, 5, -6}, 2, 2, 3), "x");
    g.w = tg_tensor_set_name(tt_tensorv((double[]){1, 1, 1}, 1, 3), "fc.weight");
    g.w->requires_grad = g.w->is_param = true;
    g.prod = apply(g.tape, TG_OP_MUL, g.x, g.w, NULL);
    g.act = apply(g.tape, TG_OP_LEAKY_RELU, g.prod, NULL, "negative_slope=0.2");
    g.loss = apply(g.tape, TG_OP_SUM, g.act, NULL, NULL);
    return g;
}

START_TEST(nodes_shapes_and_attributes)
{
    small_graph g = build();
    char *text = dot_text(g.tape, g.loss, &plain);
    ck_assert_msg(strncmp(text, "digraph tapegrad {", 18) == 0 && text[strlen(text) - 2] == '}', "%s", text);
    /* three op boxes, the non-default attribute only */
    ck_assert_int_eq(count(text, "shape=box"), 3);
    ck_assert_msg(strstr(text, "label=\"mul\"") && strstr(text, "label=\"leaky_relu\\nnegative_slope=0.2\"") &&
                      strstr(text, "label=\"sum\""),
                  "%s", text);
    ck_assert(strstr(text, "keepdim") == NULL);
    /* five tensors: x, the parameter, two intermediates and the scalar loss */
    ck_assert_int_eq(count(text, "shape=ellipse"), 5);
    ck_assert(strstr(text, "label=\"x\\n[2,3]\"") != NULL);
    ck_assert(strstr(text, "label=\"fc.weight\\n[3]\", style=filled, fillcolor=\"#a5d8ff\"") != NULL);
    ck_assert(strstr(text, "label=\"[]\", style=\"filled,bold\"") != NULL); /* the root */
    ck_assert_int_eq(count(text, "penwidth=2.5"), 1);
    /* x does not require a gradient: a dashed constant leaf */
    ck_assert(strstr(text, "label=\"x\\n[2,3]\", style=dashed") != NULL);
    /* edges: 2 into mul, 1 into each other op, one out of each op; no backward edges */
    ck_assert_int_eq(count(text, "->"), 2 + 1 + 1 + 3);
    ck_assert_int_eq(count(text, "style=dashed, color"), 0);
    free(text);

    tg_dot_opts all = {.all_attrs = true, .backward_edges = true, .title = "step \"1\"", .hide = TG_DOT_ALL_EXTRAS};
    text = dot_text(g.tape, g.loss, &all);
    ck_assert_msg(strstr(text, "label=\"sum\\ndim=none keepdim=0\"") != NULL, "%s", text);
    ck_assert(strstr(text, "label=\"step \\\"1\\\"\";") != NULL);
    /* backward: out -> op for each op, op -> input for inputs that get a gradient (w, not x) */
    ck_assert_int_eq(count(text, "style=dashed, color"), 3 + 1 + 1 + 1);
    free(text);
}
END_TEST

START_TEST(only_what_the_root_needs)
{
    small_graph g = build();
    tg_tensor *other = apply(g.tape, TG_OP_RELU, g.w, NULL, NULL); /* a second branch */
    char *text = dot_text(g.tape, g.loss, NULL);
    ck_assert(strstr(text, "label=\"relu\"") == NULL);
    ck_assert_int_eq(count(text, "shape=box"), 3);
    free(text);
    text = dot_text(g.tape, other, NULL);
    ck_assert_int_eq(count(text, "shape=box"), 1);
    ck_assert(strstr(text, "label=\"relu\"") != NULL && strstr(text, "fc.weight") != NULL);
    free(text);
    text = dot_text(g.tape, NULL, NULL); /* every recorded node; no root highlighted */
    ck_assert_int_eq(count(text, "shape=box"), 4);
    ck_assert_int_eq(count(text, "penwidth=2.5"), 0);
    /* the parameter feeds two ops but is drawn once */
    ck_assert_int_eq(count(text, "label=\"fc.weight"), 1);
    free(text);
    text = dot_text(g.tape, g.w, NULL); /* a leaf root: just the leaf */
    ck_assert_int_eq(count(text, "shape=ellipse"), 1);
    ck_assert_int_eq(count(text, "shape=box"), 0);
    free(text);
}
END_TEST

START_TEST(escaping_and_user_ops)
{
    int op = tg_op_find("dot_test_scale");
    if (op < 0) op = tg_op_register(&scale_desc);
    ck_assert_int_ge(op, TG_OP_COUNT);
    tg_tape *t = tt_tape();
    tg_tensor *x = tg_tensor_set_name(tt_tensorv((double[]){1, 2}, 1, 2), "a\"b\\c");
    x->requires_grad = true;
    tg_tensor *y = apply(t, op, x, NULL, "scale=2.5");
    ck_assert(y->data[1] == 5);
    char *text = dot_text(t, y, &plain);
    ck_assert_msg(strstr(text, "label=\"dot_test_scale\\nscale=2.5\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"a\\\"b\\\\c\\n[2]\"") != NULL, "%s", text);
    /* a leaf that requires a gradient is filled grey */
    ck_assert(strstr(text, "fillcolor=\"#e9ecef\"") != NULL);
    free(text);
}
END_TEST

START_TEST(errors)
{
    tg_tape *t = tt_tape();
    ck_assert_int_eq(tg_dot_fprint(NULL, t, NULL, NULL), TG_ERR_INVALID);
    ck_assert_int_eq(tg_dot_fprint(stdout, NULL, NULL, NULL), TG_ERR_INVALID);
    ck_assert_int_eq(tg_dot_write(t, NULL, "/nonexistent_dir_tg/g.dot", NULL), TG_ERR_IO);
    ck_assert_int_eq(tg_dot_write(NULL, NULL, "/tmp/g.dot", NULL), TG_ERR_INVALID);
    char *text = dot_text(t, NULL, NULL); /* an empty tape is an empty graph */
    ck_assert_int_eq(count(text, "shape="), 0);
    free(text);
}
END_TEST

/* The line of text holding `what` (copied; the caller frees it); fails the test when none does. */
static char *line_with(const char *text, const char *what)
{
    const char *p = strstr(text, what);
    ck_assert_msg(p != NULL, "no line with %s in:\n%s", what, text);
    const char *begin = p, *end = p;
    while (begin > text && begin[-1] != '\n') begin--;
    while (*end && *end != '\n') end++;
    char *line = calloc((size_t)(end - begin) + 1, 1);
    ck_assert_ptr_nonnull(line);
    memcpy(line, begin, (size_t)(end - begin));
    return line;
}

/* Brace depth at the first occurrence of `what` (1: directly inside the digraph). The labels
 * used with it hold no braces. */
static int depth_at(const char *text, const char *what)
{
    const char *p = strstr(text, what);
    ck_assert_msg(p != NULL, "%s missing in:\n%s", what, text);
    int depth = 0;
    for (const char *c = text; c < p; c++) depth += *c == '{' ? 1 : *c == '}' ? -1 : 0;
    return depth;
}

/* The test's own byte formatting, for figures it cannot know in advance (the arena's). */
static void fmt_bytes(size_t b, char *buf, size_t size)
{
    if (b < 1024) snprintf(buf, size, "%zu B", b);
    else if (b < 1024 * 1024) snprintf(buf, size, "%.1f KiB", (double)b / 1024);
    else snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024));
}

START_TEST(grad_norms_by_hand)
{
    small_graph g = build();
    tg_tensor_set_name(g.prod, "prod");
    tg_tensor_set_name(g.act, "act");
    const tg_dot_opts norms_only = {.hide = TG_DOT_ALL_EXTRAS & ~TG_DOT_GRAD_NORMS};
    char *text = dot_text(g.tape, g.loss, &norms_only);
    ck_assert_msg(strstr(text, "grad norm") == NULL, "no gradients yet:\n%s", text);
    free(text);
    ck_assert_int_eq(tg_backward(g.loss), TG_OK);
    text = dot_text(g.tape, g.loss, &norms_only);
    /* d loss = 1; d act = ones(6): sqrt(6); d prod = 1 where prod > 0 else 0.2:
     * x = [[1,-2,3],[-4,5,-6]] -> [[1,.2,1],[.2,1,.2]]: sqrt(3 + 3*0.04) = sqrt(3.12);
     * d w = column sums of d prod * x = [1-0.8, -0.4+5, 3-1.2] = [0.2,4.6,1.8]: sqrt(24.44) */
    ck_assert_msg(strstr(text, "label=\"[]\\ngrad norm 1\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"act\\n[2,3]\\ngrad norm 2.449\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"prod\\n[2,3]\\ngrad norm 1.766\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"fc.weight\\n[3]\\ngrad norm 4.944\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"x\\n[2,3]\"") != NULL, "x has no gradient:\n%s", text);
    ck_assert_int_eq(count(text, "grad norm"), 4);
    free(text);
}
END_TEST

START_TEST(bytes_per_tensor_and_tape)
{
    small_graph g = build();
    ck_assert_int_eq(tg_backward(g.loss), TG_OK);
    const tg_dot_opts bytes_only = {.hide = TG_DOT_ALL_EXTRAS & ~TG_DOT_BYTES, .title = "step"};
    char *text = dot_text(g.tape, g.loss, &bytes_only);
    const size_t r = sizeof(tg_real);
    char want[256], used[32], held[32];
    /* x: 6 values, no gradient; the parameter: 3 + 3; the scalar loss: 1 + 1 */
    snprintf(want, sizeof want, "label=\"x\\n[2,3]\\ndata %zu B\"", 6 * r);
    ck_assert_msg(strstr(text, want) != NULL, "%s\n%s", want, text);
    snprintf(want, sizeof want, "label=\"fc.weight\\n[3]\\ndata %zu B, grad %zu B\"", 3 * r, 3 * r);
    ck_assert_msg(strstr(text, want) != NULL, "%s\n%s", want, text);
    snprintf(want, sizeof want, "label=\"[]\\ndata %zu B, grad %zu B\"", r, r);
    ck_assert_msg(strstr(text, want) != NULL, "%s\n%s", want, text);
    /* graph label: the title, then the arena and the drawn tensors' total:
     * x 6 + w 3+3 + prod 6+6 + act 6+6 + loss 1+1 = 38 values */
    fmt_bytes(tg_tape_used(g.tape), used, sizeof used);
    fmt_bytes(tg_tape_capacity(g.tape), held, sizeof held);
    snprintf(want, sizeof want, "  label=\"step\\ntape arena: %s used of %s held; tensors drawn: %zu B\";", used, held,
             38 * r);
    ck_assert_msg(strstr(text, want) != NULL, "%s\n%s", want, text);
    ck_assert(tg_tape_used(g.tape) > 0);
    free(text);

    /* units: 384 values are 1.5 KiB in float32 (3.0 KiB in float64); 1024 * 1024 values 4 or 8 MiB */
    tg_tape *t = tt_tape();
    tg_tensor *big = tt_tensor(2, (int64_t[]){3, 128}, NULL);
    tg_tensor *huge = tt_tensor(2, (int64_t[]){1024, 1024}, NULL);
    big->requires_grad = huge->requires_grad = true;
    apply(t, TG_OP_RELU, big, NULL, NULL);
    apply(t, TG_OP_RELU, huge, NULL, NULL);
    text = dot_text(t, NULL, &bytes_only);
    ck_assert_msg(strstr(text, TT_DOUBLE ? "label=\"[3,128]\\ndata 3.0 KiB\"" : "label=\"[3,128]\\ndata 1.5 KiB\"") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, TT_DOUBLE ? "label=\"[1024,1024]\\ndata 8.0 MiB\"" : "label=\"[1024,1024]\\ndata 4.0 MiB\"") != NULL,
                  "%s", text);
    free(text);
    text = dot_text(t, NULL, &plain);
    ck_assert(strstr(text, "data ") == NULL && strstr(text, "tape arena") == NULL);
    free(text);
}
END_TEST

START_TEST(nan_in_forward_is_red)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tg_tensor_set_name(tt_tensorv((double[]){-1, 1}, 1, 2), "x");
    x->requires_grad = true;
    tg_tensor *lx = apply(t, TG_OP_LOG, x, NULL, NULL); /* log(-1) = NaN */
    tg_tensor *y = apply(t, TG_OP_MUL, lx, lx, NULL);
    const tg_dot_opts nonfinite_only = {.hide = TG_DOT_ALL_EXTRAS & ~TG_DOT_NONFINITE};
    char *text = dot_text(t, y, &nonfinite_only);
    char *line = line_with(text, "label=\"log");
    /* the op that made it, then one that only passed it on */
    ck_assert_msg(strstr(line, "label=\"log\\nNaN in forward (starts here)\"") && strstr(line, "fillcolor=\"#ff8787\"") &&
                      strstr(line, "penwidth=3"),
                  "%s", line);
    free(line);
    line = line_with(text, "label=\"mul");
    ck_assert_msg(strstr(line, "label=\"mul\\nNaN in forward\"") && strstr(line, "fillcolor=\"#ff8787\""), "%s", line);
    free(line);
    /* the tensors holding NaN are red; x is not */
    ck_assert_int_eq(count(text, "NaN in values"), 2);
    line = line_with(text, "label=\"x\\n[2]");
    ck_assert_msg(strstr(line, "#ff8787") == NULL, "%s", line);
    free(line);
    free(text);
    /* hidden: no mark, no red */
    text = dot_text(t, y, &plain);
    ck_assert(strstr(text, "NaN") == NULL && strstr(text, "#ff8787") == NULL);
    free(text);
}
END_TEST

/* A model's training forward frees activations no backward reads (a batch norm's output read by a
 * ReLU): the tensor says so instead of a size, and a NaN the ReLU passes on is not said to start
 * there, since its input can no longer be checked. */
START_TEST(freed_activation_is_labelled)
{
    char err[256];
    /* sigmoid: its backward reads its output, not the batch norm's, which is freed (a ReLU would
     * run inside the batch norm's node: below) */
    tg_model *m = tg_model_parse("input 2x3x3\nbatch_norm\nsigmoid\nflatten\nlinear out=2\n", "dot", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_module_train(m->net, true);
    tg_named_tensor e[8];
    const int n = tg_module_named_tensors(m->net, false, e, 8);
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, "0.weight")) e[i].tensor->data[1] = NAN; /* channel 1's BN output is NaN */
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_random(4, (const int64_t[]){3, 2, 3, 3}, 2, -1, 1);
    tg_tensor *y = tg_module_forward(m->net, t, x);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    const tg_dot_opts bytes_and_nonfinite = {.hide = TG_DOT_ALL_EXTRAS & ~(TG_DOT_NONFINITE | TG_DOT_BYTES)};
    char *text = dot_text(t, y, &bytes_and_nonfinite);
    ck_assert_int_eq(count(text, "data freed (no backward reads it)"), 1);
    char *line = line_with(text, "label=\"sigmoid");
    ck_assert_msg(strstr(line, "NaN in forward\"") && !strstr(line, "starts here"), "%s", line);
    free(line);
    free(text);
    tg_model_free(m);
    /* batch norm then ReLU run as one node in training (nn fuses them), named after both */
    m = tg_model_parse("input 2x3x3\nbatch_norm\nrelu\nconv2d out=2 kernel=1\nflatten\nlinear out=2\n", "dot", 1, err,
                       sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_module_train(m->net, true);
    tg_tape_reset(t);
    ck_assert_ptr_nonnull(tg_module_forward(m->net, t, x));
    text = dot_text(t, NULL, NULL);
    /* with the batch norm's attributes, as the separate node has them */
    ck_assert_msg(strstr(text, "label=\"batch_norm+relu\\ntraining=1") && !strstr(text, "label=\"relu"), "%s", text);
    free(text);
    tg_model_free(m);
}
END_TEST

START_TEST(inf_in_backward_is_red)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tg_tensor_set_name(tt_tensorv((double[]){0, 4}, 1, 2), "x");
    x->requires_grad = true;
    tg_tensor *r = apply(t, TG_OP_SQRT, x, NULL, NULL);
    tg_tensor *loss = apply(t, TG_OP_SUM, r, NULL, NULL);
    const tg_dot_opts nonfinite_only = {.hide = TG_DOT_ALL_EXTRAS & ~TG_DOT_NONFINITE};
    char *text = dot_text(t, loss, &nonfinite_only);
    ck_assert_msg(strstr(text, "#ff8787") == NULL, "all finite before the backward:\n%s", text);
    free(text);
    ck_assert_int_eq(tg_backward(loss), TG_OK); /* d sqrt(x) = 1 / (2 sqrt(x)): Inf at 0 */
    ck_assert(isinf(x->grad[0]) && x->grad[1] == (tg_real)0.25);
    text = dot_text(t, loss, &nonfinite_only);
    char *line = line_with(text, "label=\"sqrt");
    ck_assert_msg(strstr(line, "label=\"sqrt\\nInf in backward\"") && strstr(line, "fillcolor=\"#ff8787\""), "%s", line);
    free(line);
    line = line_with(text, "label=\"x\\n[2]");
    ck_assert_msg(strstr(line, "label=\"x\\n[2]\\nInf in grad\"") && strstr(line, "fillcolor=\"#ff8787\""), "%s", line);
    free(line);
    line = line_with(text, "label=\"sum");
    ck_assert_msg(strstr(line, "#ff8787") == NULL && strstr(line, "Inf") == NULL, "%s", line);
    free(line);
    ck_assert_int_eq(count(text, "#ff8787"), 2);
    free(text);
    text = dot_text(t, loss, NULL); /* a non-finite norm reads Inf / NaN, not printf's "inf" / "-nan" */
    ck_assert_msg(strstr(text, "label=\"x\\n[2]\\ngrad norm Inf\\n") != NULL, "%s", text);
    free(text);
}
END_TEST

/* Anomaly mode stops at the op that made the NaN but keeps its node: drawing every node shows it. */
START_TEST(anomaly_mode_node_is_red)
{
    tg_tape *t = tt_tape();
    tg_set_detect_anomaly(t, true);
    tg_tensor *x = tt_tensorv((double[]){2, -3}, 1, 2);
    x->requires_grad = true;
    tg_tensor *e = apply(t, TG_OP_EXP, x, NULL, NULL);
    tg_tensor *in[1] = {tg_neg(t, e)};
    ck_assert_ptr_null(tg_op_apply(t, TG_OP_LOG, in, 1, NULL)); /* log of negatives */
    ck_assert_msg(strstr(tg_error(t), "anomaly: log") != NULL, "%s", tg_error(t));
    char *text = dot_text(t, NULL, NULL);
    char *line = line_with(text, "label=\"log");
    ck_assert_msg(strstr(line, "NaN in forward (starts here)") && strstr(line, "#ff8787"), "%s", line);
    free(line);
    line = line_with(text, "label=\"exp");
    ck_assert_msg(strstr(line, "#ff8787") == NULL, "%s", line);
    free(line);
    free(text);
}
END_TEST

/* features.0: prod = x * w; features.3.conv: act = leaky_relu(prod), act2 = act * w; top: sum */
typedef struct scoped_graph {
    tg_tape *tape;
    tg_tensor *x, *w, *loss;
} scoped_graph;

static scoped_graph build_scoped(void)
{
    scoped_graph g = {.tape = tt_tape()};
    g.x = tg_tensor_set_name(tt_tensorv((double[]){1, -2, 3, -4, 5, -6}, 2, 2, 3), "x");
    g.w = tg_tensor_set_name(tt_tensorv((double[]){1, 1, 1}, 1, 3), "weight");
    g.w->requires_grad = g.w->is_param = true;
    tg_tape_push_scope(g.tape, "features");
    tg_tape_push_scope(g.tape, "0");
    tg_tensor *prod = apply(g.tape, TG_OP_MUL, g.x, g.w, NULL);
    tg_tape_pop_scope(g.tape);
    tg_tape_push_scope(g.tape, "3");
    tg_tape_push_scope(g.tape, "conv");
    tg_tensor *act = apply(g.tape, TG_OP_LEAKY_RELU, prod, NULL, "negative_slope=0.2");
    tg_tensor *act2 = apply(g.tape, TG_OP_MUL, act, g.w, NULL);
    tg_tape_pop_scope(g.tape);
    tg_tape_pop_scope(g.tape);
    tg_tape_pop_scope(g.tape);
    g.loss = apply(g.tape, TG_OP_SUM, act2, NULL, NULL);
    return g;
}

START_TEST(clusters_follow_module_paths)
{
    scoped_graph g = build_scoped();
    const tg_dot_opts clusters_only = {.hide = TG_DOT_ALL_EXTRAS & ~TG_DOT_CLUSTERS};
    char *text = dot_text(g.tape, g.loss, &clusters_only);
    /* nested: features > features.0, features > features.3 > features.3.conv */
    ck_assert_int_eq(count(text, "subgraph"), 4);
    ck_assert_int_eq(depth_at(text, "subgraph \"cluster_features\" {\n  label=\"features\";"), 1);
    ck_assert_int_eq(depth_at(text, "subgraph \"cluster_features_0\" {\n  label=\"features.0\";"), 2);
    ck_assert_int_eq(depth_at(text, "subgraph \"cluster_features_3\" {\n  label=\"features.3\";"), 2);
    ck_assert_int_eq(depth_at(text, "subgraph \"cluster_features_3_conv\" {\n  label=\"features.3.conv\";"), 3);
    /* ops in their layer's cluster; the sum and the input x at the top */
    ck_assert_int_eq(depth_at(text, "label=\"mul\""), 3);
    ck_assert_int_eq(depth_at(text, "label=\"leaky_relu"), 4);
    ck_assert_int_eq(depth_at(text, "label=\"sum\""), 1);
    ck_assert_int_eq(depth_at(text, "label=\"x\\n"), 1);
    /* the parameter is read in features.0 and features.3.conv: it sits in features */
    const char *features = strstr(text, "subgraph \"cluster_features\" {");
    const char *weight = strstr(text, "label=\"weight\\n");
    const char *first_child = strstr(text, "subgraph \"cluster_features_0\"");
    ck_assert_msg(features < weight && weight < first_child, "%s", text);
    /* the edges sit at the top level */
    ck_assert_int_eq(depth_at(text, "->"), 1);
    free(text);
    text = dot_text(g.tape, g.loss, &plain);
    ck_assert(strstr(text, "subgraph") == NULL);
    free(text);
}
END_TEST

START_TEST(cluster_ids_stay_distinct_and_labels_escaped)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2}, 1, 2);
    x->requires_grad = true;
    tg_tape_push_scope(t, "a_b");
    tg_tensor *y = apply(t, TG_OP_RELU, x, NULL, NULL);
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "a");
    tg_tape_push_scope(t, "b");
    y = apply(t, TG_OP_NEG, y, NULL, NULL);
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "q\"\\\x01\xff");
    y = apply(t, TG_OP_EXP, y, NULL, NULL);
    tg_tape_pop_scope(t);
    char *text = dot_text(t, y, NULL);
    /* "a_b" and "a.b" read the same as ids: the later one is numbered */
    ck_assert_msg(strstr(text, "subgraph \"cluster_a_b\" {\n  label=\"a_b\";") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "subgraph \"cluster_a_b#2\" {\n  label=\"a.b\";") != NULL, "%s", text);
    /* quote and backslash escaped, other bytes as \xNN text */
    ck_assert_msg(strstr(text, "subgraph \"cluster_q____\" {\n  label=\"q\\\"\\\\\\\\x01\\\\xff\";") != NULL, "%s", text);
    free(text);
}
END_TEST

START_TEST(non_printable_names_escaped)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tg_tensor_set_name(tt_tensorv((double[]){1, 2}, 1, 2), "caf\xc3\xa9\t\x7f");
    x->requires_grad = true;
    tg_tensor *y = apply(t, TG_OP_RELU, x, NULL, NULL);
    char *text = dot_text(t, y, &plain);
    ck_assert_msg(strstr(text, "label=\"caf\\\\xc3\\\\xa9\\\\x09\\\\x7f\\n[2]\"") != NULL, "%s", text);
    for (const char *c = text; *c; c++) ck_assert_msg(*c == '\n' || (*c >= 0x20 && *c < 0x7f), "byte %d", *c);
    free(text);
}
END_TEST

static const char *full_names(const tg_tensor *x, void *ctx)
{
    const tg_tensor *w = ctx;
    return x == w ? "features.0.weight" : NULL;
}

START_TEST(parameter_names_from_a_callback)
{
    small_graph g = build();
    tg_dot_opts opts = {.hide = TG_DOT_ALL_EXTRAS, .tensor_name = full_names, .tensor_name_ctx = g.w};
    char *text = dot_text(g.tape, g.loss, &opts);
    ck_assert_msg(strstr(text, "label=\"features.0.weight\\n[3]\"") != NULL, "%s", text);
    ck_assert(strstr(text, "fc.weight") == NULL);
    ck_assert(strstr(text, "label=\"x\\n[2,3]\"") != NULL); /* NULL: the tensor's own name */
    ck_assert_str_eq(g.w->name, "fc.weight");                /* not renamed */
    free(text);
}
END_TEST

/* Runs `tg dot` on a spec and returns its stdout (malloc'd). */
static char *tg_dot_of(const char *spec_text)
{
    char spec[128], cmd[PATH_MAX + 256];
    snprintf(spec, sizeof spec, "/tmp/tg_dot_spec_%ld.txt", (long)getpid());
    FILE *f = fopen(spec, "w");
    ck_assert_ptr_nonnull(f);
    fputs(spec_text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s dot %s", tt_tg_binary(), spec);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) fwrite(buf, 1, n, out);
    fclose(out);
    int rc = pclose(p);
    unlink(spec);
    ck_assert_msg(rc == 0, "tg dot failed: %s", cmd);
    return text;
}

START_TEST(tg_dot_names_parameters)
{
    char *text = tg_dot_of("input 1x6x6\nconv2d out=4 kernel=3\nrelu\nflatten\nlinear out=3\n");
    /* full parameter names, in their layer's cluster, with the gradient of one training step */
    ck_assert_msg(strstr(text, "label=\"0.weight\\n[4,1,3,3]\\ngrad norm ") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"3.bias\\n[3]\\ngrad norm ") != NULL, "%s", text);
    ck_assert_int_eq(depth_at(text, "label=\"0.weight"), 2);
    ck_assert_msg(strstr(text, "subgraph \"cluster_3\" {\n  label=\"3\";") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "label=\"loss\\n[]\\ngrad norm 1\\n") != NULL, "%s", text);
    ck_assert(strstr(text, "tape arena: ") != NULL);
    free(text);
}
END_TEST

START_TEST(graphviz_renders_it)
{
    if (system("command -v dot >/dev/null 2>&1") != 0) {
        const char *ci = getenv("CI");
        ck_assert_msg(!ci || strcmp(ci, "true") != 0, "Graphviz's dot is not on PATH but CI=true (.ci/run installs it)");
        printf("note: Graphviz's dot is not on PATH; the DOT rendering test is skipped\n");
        return;
    }
    scoped_graph g = build_scoped();
    tg_tensor_set_name(g.x, "x \\\"q\"\x01\xff");
    ck_assert_int_eq(tg_backward(g.loss), TG_OK);
    g.w->grad[0] = (tg_real)NAN; /* a red leaf and red readers */
    char path[128], svg_path[160], cmd[400];
    snprintf(path, sizeof path, "/tmp/tg_dot_%ld.dot", (long)getpid());
    snprintf(svg_path, sizeof svg_path, "%s.svg", path);
    tg_dot_opts opts = {.backward_edges = true, .all_attrs = true, .title = "a \"quoted\" title"};
    ck_assert_int_eq(tg_dot_write(g.tape, g.loss, path, &opts), TG_OK);
    snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o %s 2>&1", path, svg_path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char warnings[512] = "";
    size_t wn = fread(warnings, 1, sizeof warnings - 1, p);
    warnings[wn] = '\0';
    int rc = pclose(p);
    char *svg = NULL;
    size_t len = 0;
    FILE *in = fopen(svg_path, "r"), *mem = open_memstream(&svg, &len);
    ck_assert_ptr_nonnull(mem);
    if (in) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, mem);
        fclose(in);
    }
    fclose(mem);
    unlink(path);
    unlink(svg_path);
    ck_assert_msg(rc == 0 && wn == 0, "dot -Tsvg: %s", warnings);
    ck_assert(strstr(svg, "<svg") != NULL);
    /* one drawn cluster box per module path, labelled with the path */
    ck_assert_int_eq(count(svg, "class=\"cluster\""), 4);
    ck_assert_msg(strstr(svg, ">features</text>") && strstr(svg, ">features.0</text>") &&
                      strstr(svg, ">features.3</text>") && strstr(svg, ">features.3.conv</text>"),
                  "%s", svg);
    ck_assert(strstr(svg, ">NaN in grad</text>") != NULL && strstr(svg, ">grad norm NaN</text>") != NULL);
    ck_assert(strstr(svg, "#ff8787") != NULL);
    free(svg);
}
END_TEST

Suite *suite_dot(void)
{
    Suite *s = suite_create("dot");
    TCase *tc = tt_tcase("dot");
    tcase_add_test(tc, nodes_shapes_and_attributes);
    tcase_add_test(tc, only_what_the_root_needs);
    tcase_add_test(tc, escaping_and_user_ops);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, grad_norms_by_hand);
    tcase_add_test(tc, bytes_per_tensor_and_tape);
    tcase_add_test(tc, nan_in_forward_is_red);
    tcase_add_test(tc, freed_activation_is_labelled);
    tcase_add_test(tc, inf_in_backward_is_red);
    tcase_add_test(tc, anomaly_mode_node_is_red);
    tcase_add_test(tc, clusters_follow_module_paths);
    tcase_add_test(tc, cluster_ids_stay_distinct_and_labels_escaped);
    tcase_add_test(tc, non_printable_names_escaped);
    tcase_add_test(tc, parameter_names_from_a_callback);
    tcase_add_test(tc, tg_dot_names_parameters);
    tcase_add_test(tc, graphviz_renders_it);
    suite_add_tcase(s, tc);
    return s;
}
