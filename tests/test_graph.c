/* tests/test_graph.c — tensors, the tape (arena, nodes, errors, grad mode, backward), the op table,
 * attribute parsing and the gradient checker itself, using small ops defined here through the
 * public registration API. */
#include "util.h"

#include <malloc.h>
#include <stdlib.h>

/* ---- test ops: square (correct), wrong_square (backward off by a factor), abs (kink at 0) ---- */

static int same_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)t, (void)n, (void)attr;
    *ndim = in[0]->ndim;
    for (int i = 0; i < in[0]->ndim; i++) shape[i] = in[0]->shape[i];
    return 0;
}
static int square_fwd(tg_tape *t, tg_node *n)
{
    (void)t;
    for (int64_t i = 0; i < n->out->numel; i++) n->out->data[i] = n->inputs[0]->data[i] * n->inputs[0]->data[i];
    return 0;
}
static void square_bwd(tg_tape *t, tg_node *n)
{
    tg_real *dx = tg_input_grad(t, n, 0);
    if (dx)
        for (int64_t i = 0; i < n->out->numel; i++) dx[i] += 2 * n->inputs[0]->data[i] * n->out->grad[i];
}
static void wrong_bwd(tg_tape *t, tg_node *n)
{
    tg_real *dx = tg_input_grad(t, n, 0);
    if (dx)
        for (int64_t i = 0; i < n->out->numel; i++) dx[i] += 2.2 * n->inputs[0]->data[i] * n->out->grad[i];
}
static int abs_fwd(tg_tape *t, tg_node *n)
{
    (void)t;
    for (int64_t i = 0; i < n->out->numel; i++) n->out->data[i] = fabs(n->inputs[0]->data[i]);
    return 0;
}
static void abs_bwd(tg_tape *t, tg_node *n)
{
    tg_real *dx = tg_input_grad(t, n, 0);
    if (dx)
        for (int64_t i = 0; i < n->out->numel; i++)
            dx[i] += (n->inputs[0]->data[i] > 0 ? 1 : -1) * n->out->grad[i];
}
/* mul2: x * y elementwise, same shapes; for fan-out and two-input tests */
static int mul2_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    if (!tg_same_shape(in[0], in[1])) {
        char a[TG_SHAPE_STR_LEN], b[TG_SHAPE_STR_LEN];
        tg_fail(t, "mul2: shapes differ (a=%s b=%s)", tg_shape_str(in[0], a, sizeof a), tg_shape_str(in[1], b, sizeof b));
        return -1;
    }
    return same_shape(t, in, n, attr, ndim, shape);
}
static int mul2_fwd(tg_tape *t, tg_node *n)
{
    (void)t;
    for (int64_t i = 0; i < n->out->numel; i++) n->out->data[i] = n->inputs[0]->data[i] * n->inputs[1]->data[i];
    return 0;
}
static void mul2_bwd(tg_tape *t, tg_node *n)
{
    tg_real *da = tg_input_grad(t, n, 0), *db = tg_input_grad(t, n, 1);
    for (int64_t i = 0; i < n->out->numel; i++) {
        if (da) da[i] += n->inputs[1]->data[i] * n->out->grad[i];
        if (db) db[i] += n->inputs[0]->data[i] * n->out->grad[i];
    }
}

typedef struct scale_attr {
    double factor;
    tg_ints axes;
    bool flag;
    int mode;
    int dim;
} scale_attr;
static const char *const scale_modes[] = {"zeros", "reflect", NULL};
static const tg_attr_desc scale_attrs[] = {
    {"factor", TG_ATTR_REAL, offsetof(scale_attr, factor), "1.5", true, NULL, NULL},
    {"axes", TG_ATTR_INTS, offsetof(scale_attr, axes), "1", false, NULL, "same,valid"},
    {"flag", TG_ATTR_BOOL, offsetof(scale_attr, flag), "0", false, NULL, NULL},
    {"mode", TG_ATTR_ENUM, offsetof(scale_attr, mode), "zeros", false, scale_modes, NULL},
    {"dim", TG_ATTR_INT, offsetof(scale_attr, dim), "none", true, NULL, NULL},
};
static int scale_fwd(tg_tape *t, tg_node *n)
{
    (void)t;
    const scale_attr *a = n->attr;
    for (int64_t i = 0; i < n->out->numel; i++) n->out->data[i] = (tg_real)a->factor * n->inputs[0]->data[i];
    return 0;
}

static const char *const one_input[] = {"input"};
static const char *const two_inputs[] = {"input", "other"};
static const tg_op_desc square_desc = {.name = "test_square", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
                                       .shape = same_shape, .forward = square_fwd, .backward = square_bwd};
static const tg_op_desc wrong_desc = {.name = "test_wrong", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
                                      .shape = same_shape, .forward = square_fwd, .backward = wrong_bwd};
static const tg_op_desc abs_desc = {.name = "test_abs", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
                                    .shape = same_shape, .forward = abs_fwd, .backward = abs_bwd};
static const tg_op_desc mul2_desc = {.name = "test_mul2", .min_inputs = 2, .max_inputs = 2, .input_names = two_inputs,
                                     .shape = mul2_shape, .forward = mul2_fwd, .backward = mul2_bwd};
static const tg_op_desc scale_desc = {.name = "test_scale", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
                                      .attrs = scale_attrs, .n_attrs = 5, .attr_size = sizeof(scale_attr),
                                      .shape = same_shape, .forward = scale_fwd, .backward = NULL};
static int op_square, op_wrong, op_abs, op_mul2, op_scale;

static void register_ops(void)
{
    /* each forked test re-registers into a fresh table; in no-fork mode the ids are reused */
    if ((op_square = tg_op_find("test_square")) < 0) op_square = tg_op_register(&square_desc);
    if ((op_wrong = tg_op_find("test_wrong")) < 0) op_wrong = tg_op_register(&wrong_desc);
    if ((op_abs = tg_op_find("test_abs")) < 0) op_abs = tg_op_register(&abs_desc);
    if ((op_mul2 = tg_op_find("test_mul2")) < 0) op_mul2 = tg_op_register(&mul2_desc);
    if ((op_scale = tg_op_find("test_scale")) < 0) op_scale = tg_op_register(&scale_desc);
    ck_assert(op_square >= TG_OP_COUNT && op_scale >= TG_OP_COUNT);
}

static tg_tensor *apply1(tg_tape *t, int op, tg_tensor *x) { return tg_op_apply(t, op, &x, 1, NULL); }
static tg_tensor *apply2(tg_tape *t, int op, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    return tg_op_apply(t, op, in, 2, NULL);
}

START_TEST(tensor_new_and_shapes)
{
    int64_t shape[3] = {2, 3, 4};
    tg_tensor *t = tt_tensor(3, shape, NULL);
    ck_assert_int_eq(t->numel, 24);
    ck_assert(t->data[23] == 0);
    char buf[TG_SHAPE_STR_LEN];
    ck_assert_str_eq(tg_shape_str(t, buf, sizeof buf), "[2,3,4]");
    int64_t bad[2] = {2, -1};
    ck_assert_ptr_null(tg_tensor_new(TG_REAL, 2, bad));
    ck_assert_ptr_null(tg_tensor_new(TG_REAL, 9, shape));
    int64_t huge[2] = {INT64_MAX, 4};
    ck_assert_int_eq(tg_shape_numel(2, huge), -1);
    tg_tensor *s = tt_tensor(0, NULL, (double[]){3});
    ck_assert_int_eq(s->numel, 1);
    ck_assert(s->data[0] == 3);
    ck_assert_str_eq(tg_shape_str(s, buf, sizeof buf), "[]");
    tg_tensor *v = tt_track(tg_tensor_newv(2, (int64_t)5, (int64_t)0));
    ck_assert_int_eq(v->numel, 0);
}
END_TEST

START_TEST(arena_reset_reuses_memory)
{
    tg_tape *t = tt_tape();
    size_t cap0 = tg_tape_capacity(t);
    void *p = tg_tape_alloc(t, 3 * cap0); /* forces growth */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_gt(tg_tape_capacity(t), cap0);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    tg_tape_reset(t);
    size_t cap1 = tg_tape_capacity(t);
    /* After one reset the same step fits without growing again. */
    for (int step = 0; step < 1000; step++) {
        tg_tape_reset(t);
        ck_assert_ptr_nonnull(tg_tape_alloc(t, cap0));
        ck_assert_ptr_nonnull(tg_tape_alloc(t, 2 * cap0));
        ck_assert_uint_eq(tg_tape_capacity(t), cap1);
    }
    ck_assert_uint_eq(tg_tape_used(t), 3 * cap0);
}
END_TEST

/* The high-water mark: the largest step's bytes, hand-counted (64-byte rounding), kept across
 * resets until tg_tape_reset_peak; a NULL tape reads 0. */
START_TEST(arena_peak_is_the_largest_step)
{
    tg_tape *t = tt_tape();
    ck_assert_uint_eq(tg_tape_peak(t), 0);
    ck_assert_ptr_nonnull(tg_tape_alloc(t, 100)); /* 128 */
    ck_assert_ptr_nonnull(tg_tape_alloc(t, 64));  /* 64 */
    ck_assert_uint_eq(tg_tape_peak(t), 192);
    tg_tape_reset(t);
    ck_assert_uint_eq(tg_tape_used(t), 0);
    ck_assert_uint_eq(tg_tape_peak(t), 192); /* the rewound step still counts */
    ck_assert_ptr_nonnull(tg_tape_alloc(t, 65)); /* 128: a smaller step */
    ck_assert_uint_eq(tg_tape_peak(t), 192);
    tg_tape_reset(t);
    const size_t big = 3 * tg_tape_capacity(t) + 1; /* grows the arena: a second block */
    ck_assert_ptr_nonnull(tg_tape_alloc(t, 1));
    ck_assert_ptr_nonnull(tg_tape_alloc(t, big));
    const size_t want = 64 + (big + 63) / 64 * 64;
    ck_assert_uint_eq(tg_tape_peak(t), want);
    tg_tape_reset(t);
    ck_assert_uint_eq(tg_tape_peak(t), want);
    ck_assert_ptr_nonnull(tg_tape_alloc(t, 1));
    tg_tape_reset_peak(t); /* from now: what is in use, 64 */
    ck_assert_uint_eq(tg_tape_peak(t), 64);
    tg_tape_reset(t);
    ck_assert_uint_eq(tg_tape_peak(t), 64);
    ck_assert_uint_eq(tg_tape_peak(NULL), 0);
    tg_tape_reset_peak(NULL);
}
END_TEST

START_TEST(arena_limit_is_an_error)
{
    tg_tape *t = tt_tape();
    tg_tape_set_limit(t, 4096);
    ck_assert_ptr_nonnull(tg_tape_alloc(t, 1000));
    tt_assert_error(t, tg_tape_alloc(t, 8192), "arena full");
    tg_tape_reset(t);
    ck_assert_ptr_null(tg_error(t));
}
END_TEST

START_TEST(backward_square_and_fanout)
{
    register_ops();
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, -2, 3}, 1, 3);
    x->requires_grad = true;
    /* y = x^2 * x (x used twice: fan-out) -> dy/dx = 3x^2 */
    tg_tensor *sq = apply1(t, op_square, x);
    tg_tensor *y = apply2(t, op_mul2, sq, x);
    ck_assert_ptr_nonnull(y);
    tt_assert_close(y->data, ((double[]){1, -8, 27}), 3, 0);
    ck_assert_int_eq(tg_tape_node_count(t), 2);
    ck_assert_int_eq(tg_backward_with(y, (tg_real[]){1, 1, 1}), TG_OK);
    tt_assert_close(x->grad, ((double[]){3, 12, 27}), 3, 1e-6);
}
END_TEST

START_TEST(backward_twice_after_reset_is_identical)
{
    register_ops();
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){0.5, -1.5}, 1, 2);
    x->requires_grad = true;
    double first[2];
    for (int round = 0; round < 2; round++) {
        tg_tape_reset(t);
        tg_tensor_zero_grad(x);
        tg_tensor *y = apply2(t, op_mul2, apply1(t, op_square, x), x);
        ck_assert_int_eq(tg_backward_with(y, (tg_real[]){1, 2}), TG_OK);
        if (round == 0) first[0] = x->grad[0], first[1] = x->grad[1];
        else tt_assert_close(x->grad, first, 2, 0);
    }
    /* without zeroing, gradients accumulate */
    tg_tape_reset(t);
    tg_tensor *y = apply1(t, op_square, x);
    ck_assert_int_eq(tg_backward_with(y, (tg_real[]){1, 1}), TG_OK);
    tt_assert_close(x->grad, ((double[]){first[0] + 1, first[1] - 3}), 2, 1e-6);
}
END_TEST

/* tg_backward_with's dy becomes y's gradient without a copy: whatever later adds to y's gradient
 * (a second backward, a backward from a loss that uses y) or zeroes it must leave dy untouched. */
START_TEST(backward_with_never_writes_dy)
{
    register_ops();
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, -2, 3}, 1, 3);
    x->requires_grad = true;
    tg_tensor *y = apply1(t, op_square, x);
    tg_tensor_retain_grad(y); /* y's gradient sums over the calls, as a leaf's */
    tg_real dy[3] = {1, 0.5, -1}, dy2[3] = {2, 2, 2};
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
    tt_assert_close(y->grad, ((double[]){1, 0.5, -1}), 3, 0);
    tt_assert_close(x->grad, ((double[]){2, -2, -6}), 3, 1e-6); /* 2x * dy */
    ck_assert_int_eq(tg_backward_with(y, dy2), TG_OK);           /* y's gradient becomes dy + dy2 */
    tt_assert_close(y->grad, ((double[]){3, 2.5, 1}), 3, 0);
    tt_assert_close(x->grad, ((double[]){6, -10, 6}), 3, 1e-6); /* 2x * (dy + dy2) */
    tt_assert_close(dy, ((double[]){1, 0.5, -1}), 3, 0);

    /* a loss recorded after z adds to z's retained gradient through the ops' input gradients */
    tg_tensor_zero_grad(x);
    tg_tensor *z = apply1(t, op_square, x);
    tg_tensor_retain_grad(z);
    ck_assert_int_eq(tg_backward_with(z, dy), TG_OK);
    tg_tensor *w = apply2(t, op_mul2, z, z); /* dw/dz = 2z */
    ck_assert_int_eq(tg_backward_with(w, dy2), TG_OK);
    tt_assert_close(z->grad, ((double[]){1 + 2 * 2 * 1, 0.5 + 2 * 2 * 4, -1 + 2 * 2 * 9}), 3, 1e-6);
    tt_assert_close(dy, ((double[]){1, 0.5, -1}), 3, 0);
    tt_assert_close(dy2, ((double[]){2, 2, 2}), 3, 0);

    tg_tensor_zero_grad(z); /* zeroing a borrowed gradient zeroes z's own, not dy */
    tg_tensor *u = apply1(t, op_square, x);
    ck_assert_int_eq(tg_backward_with(u, dy), TG_OK);
    tg_tensor_zero_grad(u);
    tt_assert_close(u->grad, ((double[]){0, 0, 0}), 3, 0);
    tt_assert_close(dy, ((double[]){1, 0.5, -1}), 3, 0);
    /* without retain_grad an op output holds the latest call's gradient only */
    tg_tensor *v = apply1(t, op_square, x);
    ck_assert_int_eq(tg_backward_with(v, dy), TG_OK);
    ck_assert_int_eq(tg_backward_with(v, dy2), TG_OK);
    tt_assert_close(v->grad, ((double[]){2, 2, 2}), 3, 0);
    tt_assert_close(dy, ((double[]){1, 0.5, -1}), 3, 0);
}
END_TEST

START_TEST(no_grad_records_nothing)
{
    register_ops();
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){2}, 1, 1);
    x->requires_grad = true;
    tg_no_grad_begin(t);
    tg_no_grad_begin(t);
    tg_tensor *y = apply1(t, op_square, x);
    tg_no_grad_end(t);
    ck_assert(!tg_grad_enabled(t));
    tg_no_grad_end(t);
    ck_assert(tg_grad_enabled(t));
    ck_assert_ptr_nonnull(y);
    ck_assert(!y->requires_grad);
    ck_assert_int_eq(tg_tape_node_count(t), 0);
    /* inputs that need no gradient record nothing either */
    tg_tensor *c = tt_tensorv((double[]){2}, 1, 1);
    ck_assert_ptr_nonnull(apply1(t, op_square, c));
    ck_assert_int_eq(tg_tape_node_count(t), 0);
}
END_TEST

START_TEST(errors_first_kept_and_null_propagates)
{
    register_ops();
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv(NULL, 2, 2, 3), *b = tt_tensorv(NULL, 2, 3, 2);
    tg_tensor *y = apply2(t, op_mul2, a, b);
    tt_assert_error(t, y, "mul2: shapes differ (a=[2,3] b=[3,2])");
    /* a NULL input later keeps the first message */
    tt_assert_error(t, apply1(t, op_square, y), "shapes differ");
    tg_tape_reset(t);
    tt_assert_error(t, apply1(t, op_square, NULL), "test_square: input is NULL");
    tg_tape_reset(t);
    tg_tensor *in[3] = {a, a, a};
    tt_assert_error(t, tg_op_apply(t, op_square, in, 3, NULL), "expects 1 inputs, got 3");
    tg_tape_reset(t);
    tt_assert_error(t, tg_op_apply(t, 9999, in, 1, NULL), "unknown op");
    ck_assert_ptr_null(tg_op_apply(NULL, op_square, in, 1, NULL));
    ck_assert_int_eq(tg_backward(NULL), TG_ERR_INVALID);
    tg_tape_reset(t);
    tg_tensor *big = tt_tensorv(NULL, 1, 4);
    big->requires_grad = true;
    tg_tensor *z = apply1(t, op_square, big);
    ck_assert_int_eq(tg_backward(z), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_error(t), "one element"));
    ck_assert_str_eq(tg_strerror(TG_ERR_FORMAT), "malformed or unsupported file");
}
END_TEST

START_TEST(int_inputs_rejected_where_real_expected)
{
    register_ops();
    tg_tape *t = tt_tape();
    tg_tensor *lab = tt_labels(2, (int64_t[]){0, 1});
    tt_assert_error(t, apply1(t, op_square, lab), "test_square: input must be real, got int64");
}
END_TEST

START_TEST(attributes_parse_and_format)
{
    register_ops();
    scale_attr a;
    char err[256], buf[256];
    tg_attr_defaults(op_scale, &a);
    ck_assert(a.factor == 1.5 && a.axes.n == 1 && a.axes.v[0] == 1 && !a.flag && a.mode == 0);
    ck_assert_int_eq(a.dim, TG_DIM_NONE);
    ck_assert_str_eq(tg_attr_format(op_scale, &a, false, buf, sizeof buf), "");
    ck_assert_int_eq(tg_attr_parse(op_scale, &a, "axes=(2, 1)", err, sizeof err), 0);
    ck_assert(a.axes.n == 2 && a.axes.v[0] == 2 && a.axes.v[1] == 1);
    ck_assert_int_eq(tg_ints_at(&a.axes, 1), 1);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "mode", "reflect", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "flag", "True", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "dim", "-2", err, sizeof err), 0);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "factor", "none", err, sizeof err), 0);
    ck_assert(isnan(a.factor));
    ck_assert_str_eq(tg_attr_format(op_scale, &a, false, buf, sizeof buf), "factor=none axes=2,1 flag=1 mode=reflect dim=-2");
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "axes", "same", err, sizeof err), 0);
    ck_assert(a.axes.n == 0 && a.axes.v[0] == -1);
    ck_assert_str_eq(tg_attr_format(op_scale, &a, true, buf, sizeof buf), "factor=none axes=same flag=1 mode=reflect dim=-2");
    /* errors */
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "mode", "mirror", err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "test_scale: bad value 'mirror' for attribute mode");
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "axes", "1,x", err, sizeof err), TG_ERR_INVALID);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "factor", "2.5e", err, sizeof err), TG_ERR_INVALID);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "flag", "yes", err, sizeof err), TG_ERR_INVALID);
    ck_assert_int_eq(tg_attr_set(op_scale, &a, "strid", "1", err, sizeof err), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "unknown attribute 'strid' (known: factor axes flag mode dim)"));
    ck_assert_int_eq(tg_attr_parse(op_scale, &a, "factor", err, sizeof err), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "expected key=value"));
}
END_TEST

START_TEST(registry_is_complete)
{
    for (int i = 0; i < TG_OP_COUNT; i++) {
        const tg_op_desc *d = tg_op_get(i);
        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_nonnull(d->name);
        ck_assert_int_eq(tg_op_find(d->name), i);
    }
    ck_assert_int_eq(tg_op_builtin_missing(), -1);
    ck_assert_int_eq(tg_op_find("conv2d"), TG_OP_CONV2D);
    ck_assert_int_eq(tg_op_find("no_such_op"), -1);
    /* what code used to parse from names is in the descriptors */
    ck_assert_int_eq(tg_op_get(TG_OP_CONV1D)->spatial_dims, 1);
    ck_assert_int_eq(tg_op_get(TG_OP_CONV_TRANSPOSE3D)->spatial_dims, 3);
    ck_assert(tg_op_get(TG_OP_CONV_TRANSPOSE2D)->transposed && !tg_op_get(TG_OP_CONV2D)->transposed);
    ck_assert_uint_eq(tg_op_get(TG_OP_LINEAR)->fan_in_inputs, 1u << 1);
    ck_assert_uint_eq(tg_op_get(TG_OP_INSTANCE_NORM)->param_inputs, (1u << 3) | (1u << 4));
    ck_assert_uint_eq(tg_op_get(TG_OP_BATCH_NORM)->optional_inputs, 0x3eu);
    ck_assert_uint_eq(tg_op_get(TG_OP_GROUP_NORM)->optional_inputs, 0x6u);
    ck_assert_int_eq(tg_op_get(TG_OP_MSE_LOSS)->n_attrs, 1);
    ck_assert_ptr_null(tg_op_get(-1));
}
END_TEST

START_TEST(gradcheck_passes_fails_and_skips_kinks)
{
    register_ops();
    int64_t shape[2] = {3, 5};
    tg_tensor *x = tt_random(2, shape, 7, -2, 2);
    tg_tensor *in[1] = {x};
#if TT_DOUBLE
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck_op(op_square, NULL, in, 1, NULL, &rep), 0);
    ck_assert(rep.passed && rep.inputs[0].n_checked == 15 && rep.inputs[0].n_failed == 0);
    /* a wrong backward must be caught, naming the element and both values */
    ck_assert_int_eq(tg_gradcheck_op(op_wrong, NULL, in, 1, NULL, &rep), 1);
    ck_assert(!rep.passed && rep.inputs[0].n_failed > 0);
    ck_assert_ptr_nonnull(strstr(rep.message, "analytic"));
    ck_assert(fabs(rep.inputs[0].analytic - 1.1 * rep.inputs[0].numeric) < 1e-4 * (1 + fabs(rep.inputs[0].numeric)));
    /* |x| at exactly 0 is a kink: skipped, not failed; elsewhere checked */
    x->data[4] = 0;
    ck_assert_int_eq(tg_gradcheck_op(op_abs, NULL, in, 1, NULL, &rep), 0);
    ck_assert_int_eq(rep.inputs[0].n_skipped, 1);
    ck_assert_int_eq(rep.inputs[0].n_checked, 14);
    ck_assert(!x->requires_grad); /* restored */
#else
    tt_gradcheck_op(op_square, NULL, in, 1);
#endif
}
END_TEST

START_TEST(rng_is_deterministic_and_uniform)
{
    tg_rng a, b;
    tg_rng_seed(&a, 42);
    tg_rng_seed(&b, 42);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = tg_rng_uniform(&a);
        ck_assert(u == tg_rng_uniform(&b));
        ck_assert(u >= 0 && u < 1);
        sum += u;
    }
    ck_assert(fabs(sum / 10000 - 0.5) < 0.02);
    for (int i = 0; i < 1000; i++) ck_assert_uint_lt(tg_rng_below(&a, 7), 7);
}
END_TEST

/* A training-like loop of real ops: after the first step, neither the arena nor the heap grows. */
START_TEST(thousand_steps_do_not_grow_memory)
{
    tg_tape *t = tt_tape();
    int64_t xs[2] = {16, 8}, ws[2] = {4, 8};
    tg_tensor *x = tt_random(2, xs, 3, -1, 1), *w = tt_random(2, ws, 4, -1, 1);
    tg_tensor *b = tt_random(1, (int64_t[]){4}, 5, -1, 1);
    w->requires_grad = b->requires_grad = true;
    size_t cap = 0, heap = 0;
    for (int step = 0; step < 1000; step++) {
        tg_tape_reset(t);
        tg_tensor *h = tg_relu(t, tg_linear(t, x, w, b));
        tg_tensor *loss = tg_mean(t, tg_mul(t, h, h), TG_DIM_NONE, false);
        ck_assert_msg(loss != NULL, "%s", tg_error(t));
        tg_tensor_zero_grad(w);
        tg_tensor_zero_grad(b);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        for (int64_t i = 0; i < w->numel; i++) w->data[i] -= (tg_real)0.01 * w->grad[i];
        if (step == 1) {
            cap = tg_tape_capacity(t);
            heap = mallinfo2().uordblks;
        } else if (step > 1) {
            ck_assert_uint_eq(tg_tape_capacity(t), cap);
            ck_assert_msg(mallinfo2().uordblks == heap, "heap grew at step %d: %zu -> %zu", step, heap,
                          (size_t)mallinfo2().uordblks);
        }
    }
}
END_TEST

Suite *suite_graph(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tt_tcase("core");
    tcase_add_test(tc, tensor_new_and_shapes);
    tcase_add_test(tc, arena_reset_reuses_memory);
    tcase_add_test(tc, arena_peak_is_the_largest_step);
    tcase_add_test(tc, arena_limit_is_an_error);
    tcase_add_test(tc, backward_square_and_fanout);
    tcase_add_test(tc, backward_twice_after_reset_is_identical);
    tcase_add_test(tc, backward_with_never_writes_dy);
    tcase_add_test(tc, no_grad_records_nothing);
    tcase_add_test(tc, errors_first_kept_and_null_propagates);
    tcase_add_test(tc, int_inputs_rejected_where_real_expected);
    tcase_add_test(tc, attributes_parse_and_format);
    tcase_add_test(tc, registry_is_complete);
    tcase_add_test(tc, gradcheck_passes_fails_and_skips_kinks);
    tcase_add_test(tc, rng_is_deterministic_and_uniform);
    tcase_add_test(tc, thousand_steps_do_not_grow_memory);
    suite_add_tcase(s, tc);
    return s;
}
