/* tests/test_dot.c — DOT output of a tape: op boxes with their non-default attributes, tensor
 * ellipses with names and shapes, parameters and the root drawn distinctly, backward edges,
 * label escaping, only what the root depends on, a user-registered op; Graphviz must accept the
 * text when `dot` is installed. Ops are applied through the table (tg_op_apply), so the test
 * depends on no typed signature. */
#include "util.h"

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

START_TEST(graphviz_accepts_it)
{
    if (system("command -v dot >/dev/null 2>&1") != 0) return; /* Graphviz not installed: nothing to check */
    small_graph g = build();
    char path[128], cmd[320];
    snprintf(path, sizeof path, "/tmp/tg_dot_%ld.dot", (long)getpid());
    tg_dot_opts opts = {.backward_edges = true, .all_attrs = true, .title = "a \"quoted\" title"};
    tg_tensor_set_name(g.act, "act\\\"x");
    ck_assert_int_eq(tg_dot_write(g.tape, g.loss, path, &opts), TG_OK);
    snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o %s.svg 2>/dev/null", path, path);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s.svg", path);
    FILE *svg = fopen(cmd, "r");
    char head[256] = "";
    if (svg) {
        size_t n = fread(head, 1, sizeof head - 1, svg);
        head[n] = '\0';
        fclose(svg);
    }
    unlink(path);
    unlink(cmd);
    ck_assert_msg(rc == 0, "dot -Tsvg rejected the file");
    ck_assert(strstr(head, "<svg") != NULL || strstr(head, "<?xml") != NULL);
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
    tcase_add_test(tc, graphviz_accepts_it);
    suite_add_tcase(s, tc);
    return s;
}
