/* ops/activation.c — pointwise activations, softmax / log_softmax along one dim, and dropout.
 *
 * The pointwise ops (relu, leaky_relu, elu, sigmoid, tanh, gelu in both forms) share one
 * mechanism: each is an op of the vectorised elementwise kernels (kernels/elementwise.h:
 * AVX-512/AVX2/portable; a vector e^x and erf in float, libm in double), forward and backward, the
 * gradient written rather than zeroed and added when it is fresh, and the backward reading x or y
 * as the op's slope needs (sigmoid's and tanh's from their output). Each op is two small functions
 * plus its descriptor; all keep the input's shape.
 */
#include "activation.h"

#include "kernels/elementwise.h"
#include "kernels/parallel.h"
#include "op_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const one_input[] = {"input"};

static int same_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)t, (void)n, (void)attr;
    *ndim = in[0]->ndim;
    for (int i = 0; i < in[0]->ndim; i++) shape[i] = in[0]->shape[i];
    return 0;
}

/* Work below this many elements runs on the calling thread (thread hand-off costs more). */
#define PARALLEL_GRAIN 32768

/* Runs fn over [0, n) in chunks on the pool when the work (elements touched) is large. Every
 * index is computed on its own, so the result does not depend on the split. */
static void run_range(int64_t n, int64_t work, tg_range_fn fn, void *ctx)
{
    if (work >= PARALLEL_GRAIN && n > 1 && tg_get_threads() > 1) tg_parallel_for(n, fn, ctx);
    else if (n > 0) fn(ctx, 0, n);
}

/* x:[any] -> y:[same] through one elementwise kernel (op, parameter p), forward and backward, on
 * sub-ranges of [0, numel) */
typedef struct kernel_job {
    const tg_elementwise_kernel *k;
    tg_ew_unary op;
    tg_real p;
    const tg_real *x, *dy;
    tg_real *out; /* forward: y; backward: dx */
    bool accumulate;
} kernel_job;

static void kernel_forward_range(void *ctx, int64_t begin, int64_t end)
{
    const kernel_job *j = ctx;
    j->k->unary(j->op, j->p, j->x + begin, j->out + begin, end - begin);
}
static void kernel_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const kernel_job *j = ctx;
    j->k->unary_backward(j->op, j->p, j->x + begin, j->dy + begin, j->out + begin, end - begin, j->accumulate);
}
static int kernel_forward(tg_node *node, tg_ew_unary op, tg_real p)
{
    kernel_job j = {tg_elementwise_kernel_get(), op, p, node->inputs[0]->data, NULL, node->out->data, false};
    run_range(node->out->numel, node->out->numel, kernel_forward_range, &j);
    return 0;
}
/* from: the values the slope is taken from (x, or y where the slope of y is the same) */
static void kernel_backward(tg_tape *t, tg_node *node, const tg_real *from, tg_ew_unary op, tg_real p)
{
    kernel_job j = {tg_elementwise_kernel_get(), op, p, from, node->out->grad, NULL, true};
    j.out = tg_input_grad_over_output(t, node, 0, &j.accumulate); /* dx over dy: element by element */
    if (j.out) run_range(node->out->numel, node->out->numel, kernel_backward_range, &j);
}

/* relu: y = max(x, 0), NaN stays NaN; dx = dy where x > 0 or x is NaN, else 0 (PyTorch's choice
 * at 0). The gradient is selected, not multiplied by a 0/1 slope, so a NaN in dy stays out of dx
 * where x <= 0, as PyTorch's threshold_backward does. */
static int relu_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    return kernel_forward(node, TG_EW_RELU, 0);
}
/* The slope is read from y, not x: y > 0 exactly where x > 0 and y is NaN exactly where x is, so
 * it is the same gradient (PyTorch's threshold_backward takes the result too), and x, usually a
 * batch norm's output read by nothing else, can be freed once the forward has passed it. */
static void relu_backward(tg_tape *t, tg_node *node) { kernel_backward(t, node, node->out->data, TG_EW_RELU, 0); }

/* leaky_relu: y = x for x > 0, else slope*x; dx = dy or slope*dy (slope in tg_real, as PyTorch's
 * kernels multiply by the slope converted to the tensor's type) */
static tg_real leaky_slope(const tg_node *node)
{
    return (tg_real)((const tg_leaky_relu_attr *)node->attr)->negative_slope;
}
static int leaky_relu_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    return kernel_forward(node, TG_EW_LEAKY_RELU, leaky_slope(node));
}
static void leaky_relu_backward(tg_tape *t, tg_node *node)
{
    kernel_backward(t, node, node->inputs[0]->data, TG_EW_LEAKY_RELU, leaky_slope(node));
}

/* elu: y = x for x > 0, else alpha*(e^x - 1); dy/dx = 1 or alpha*e^x. sigmoid: y = 1/(1+e^-x);
 * dy/dx = y(1-y). tanh: dy/dx = 1 - y^2. All three through the elementwise kernels (vector e^x in
 * float: the scalar double libm calls took 3 ns an element, a 1-D CNN with ELUs trained at half
 * PyTorch's speed, 4 Dec); sigmoid's and tanh's gradients from y. */
static tg_real elu_alpha(const tg_node *node) { return (tg_real)((const tg_elu_attr *)node->attr)->alpha; }
static int elu_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    return kernel_forward(node, TG_EW_ELU, elu_alpha(node));
}
static void elu_backward(tg_tape *t, tg_node *node)
{
    kernel_backward(t, node, node->inputs[0]->data, TG_EW_ELU, elu_alpha(node));
}
static int sigmoid_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    return kernel_forward(node, TG_EW_SIGMOID, 0);
}
static void sigmoid_backward(tg_tape *t, tg_node *node) { kernel_backward(t, node, node->out->data, TG_EW_SIGMOID, 0); }
static int tanh_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    return kernel_forward(node, TG_EW_TANH, 0);
}
static void tanh_backward(tg_tape *t, tg_node *node) { kernel_backward(t, node, node->out->data, TG_EW_TANH, 0); }

/* gelu: y = x Phi(x), Phi(x) = (1 + erf(x/sqrt2))/2; dy/dx = Phi(x) + x phi(x)
 * gelu tanh: u = sqrt(2/pi)(x + 0.044715 x^3), y = x(1 + tanh u)/2;
 *            dy/dx = (1 + tanh u)/2 + x(1 - tanh^2 u)/2 * sqrt(2/pi)(1 + 3*0.044715 x^2)
 * both through the elementwise kernels (vector erf and tanh in float) */
static tg_ew_unary gelu_kind(const tg_node *node)
{
    return ((const tg_gelu_attr *)node->attr)->approximate == TG_GELU_TANH ? TG_EW_GELU_TANH : TG_EW_GELU;
}
static int gelu_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    return kernel_forward(node, gelu_kind(node), 0);
}
static void gelu_backward(tg_tape *t, tg_node *node) { kernel_backward(t, node, node->inputs[0]->data, gelu_kind(node), 0); }

/* ---- softmax / log_softmax along dim, x viewed as [outer, n, inner]
 * softmax:     y = e^(x - m) / sum e^(x - m)  (m = max, for stability);
 *              backward: dx = y * (dy - sum_k dy_k y_k)
 * log_softmax: y = x - m - log sum e^(x - m);
 *              backward: dx = dy - e^y * sum_k dy_k ---- */

static int softmax_shape_named(const char *op, tg_tape *t, tg_tensor *const *in, void *attr, int *ndim,
                               int64_t *shape)
{
    tg_softmax_attr *a = attr;
    const tg_tensor *x = in[0];
    int rank = x->ndim ? x->ndim : 1;
    if (a->dim < -rank || a->dim >= rank) {
        char s[TG_SHAPE_STR_LEN];
        return tg_fail(t, "%s: dim %d out of range for rank %d (x=%s)", op, a->dim, x->ndim,
                       tg_shape_str(x, s, sizeof s)), -1;
    }
    if (a->dim < 0) a->dim += rank;
    return same_shape(t, in, 1, attr, ndim, shape);
}
static int softmax_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return softmax_shape_named("softmax", t, in, attr, ndim, shape);
}
static int log_softmax_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return softmax_shape_named("log_softmax", t, in, attr, ndim, shape);
}

typedef struct softmax_view { int64_t outer, n, inner; } softmax_view;
static softmax_view softmax_view_of(const tg_node *node)
{
    const tg_tensor *x = node->inputs[0];
    int dim = ((const tg_softmax_attr *)node->attr)->dim;
    softmax_view v = {1, x->ndim ? x->shape[dim] : 1, 1};
    for (int i = 0; i < dim; i++) v.outer *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) v.inner *= x->shape[i];
    return v;
}

/* One softmax job: lines [begin, end) of the [outer, n, inner] view, line l = (l / inner, l % inner). */
typedef struct softmax_job { const tg_node *node; softmax_view v; bool log_space; tg_real *dx; } softmax_job;

/* Writes softmax (log_space false) or log_softmax (true) of each line. */
static void softmax_range(void *ctx, int64_t begin, int64_t end)
{
    const softmax_job *j = ctx;
    softmax_view v = j->v;
    for (int64_t l = begin; l < end; l++) {
        int64_t base = (l / v.inner) * v.n * v.inner + l % v.inner;
        const tg_real *xl = j->node->inputs[0]->data + base;
        tg_real *yl = j->node->out->data + base;
        double m = -INFINITY, sum = 0;
        for (int64_t k = 0; k < v.n; k++) m = fmax(m, xl[k * v.inner]);
        if (isinf(m) && m < 0) m = 0; /* all -inf: avoid inf - inf */
        if (j->log_space) {
            for (int64_t k = 0; k < v.n; k++) sum += exp(xl[k * v.inner] - m);
            double log_sum = log(sum);
            for (int64_t k = 0; k < v.n; k++) yl[k * v.inner] = (tg_real)(xl[k * v.inner] - m - log_sum);
        } else { /* one exp per element: keep e^(x-m) in y, then scale */
            for (int64_t k = 0; k < v.n; k++) {
                double e = exp(xl[k * v.inner] - m);
                yl[k * v.inner] = (tg_real)e;
                sum += e;
            }
            double inv = 1 / sum;
            for (int64_t k = 0; k < v.n; k++) yl[k * v.inner] = (tg_real)(yl[k * v.inner] * inv);
        }
    }
}

static void softmax_backward_range(void *ctx, int64_t begin, int64_t end)
{
    const softmax_job *j = ctx;
    softmax_view v = j->v;
    const tg_real *y = j->node->out->data, *dy = j->node->out->grad;
    for (int64_t l = begin; l < end; l++) {
        int64_t base = (l / v.inner) * v.n * v.inner + l % v.inner;
        double dot = 0;
        for (int64_t k = 0; k < v.n; k++) {
            int64_t e = base + k * v.inner;
            dot += j->log_space ? dy[e] : (double)dy[e] * y[e];
        }
        for (int64_t k = 0; k < v.n; k++) {
            int64_t e = base + k * v.inner;
            j->dx[e] += (tg_real)(j->log_space ? dy[e] - exp(y[e]) * dot : y[e] * (dy[e] - dot));
        }
    }
}

static void softmax_lines(const tg_node *node, bool log_space)
{
    softmax_job j = {.node = node, .v = softmax_view_of(node), .log_space = log_space};
    run_range(j.v.outer * j.v.inner, node->out->numel, softmax_range, &j);
}

static void softmax_lines_backward(tg_tape *t, tg_node *node, bool log_space)
{
    softmax_job j = {.node = node, .v = softmax_view_of(node), .log_space = log_space, .dx = tg_input_grad(t, node, 0)};
    if (j.dx) run_range(j.v.outer * j.v.inner, node->out->numel, softmax_backward_range, &j);
}

static int softmax_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    softmax_lines(node, false);
    return 0;
}
static void softmax_backward(tg_tape *t, tg_node *node) { softmax_lines_backward(t, node, false); }
static int log_softmax_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    softmax_lines(node, true);
    return 0;
}
static void log_softmax_backward(tg_tape *t, tg_node *node) { softmax_lines_backward(t, node, true); }

/* ---- dropout: training: y = x * m, m_i = 0 with probability p, else 1/(1-p) (drawn from the
 * tape's rng, saved); eval or p = 0: y = x.  backward: dx += m * dy (eval: dx += dy) ---- */

static int dropout_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    const tg_dropout_attr *a = attr;
    if (!(a->p >= 0 && a->p <= 1)) {
        char s[TG_SHAPE_STR_LEN];
        return tg_fail(t, "dropout: p must be in [0, 1], got %g (x=%s)", a->p, tg_shape_str(in[0], s, sizeof s)), -1;
    }
    return same_shape(t, in, n, attr, ndim, shape);
}

/* Element i is dropped when the top 32 bits of mix(seed + i·γ) fall below p·2^32: a counter-based
 * draw (SplitMix64's finaliser over a Weyl sequence), so any split of the elements over threads
 * gives the same mask, and the threads share the work. A serial xoshiro draw and a compare per
 * element (a branch) took 6.6 ns an element (7.5% of an all-conv CNN's training step with one
 * dropout layer, 4 Dec); this takes about 1. */
typedef struct dropout_job {
    const tg_real *x;
    tg_real *y, *mask, keep_scale;
    uint64_t seed, threshold;
} dropout_job;

static inline uint64_t dropout_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void dropout_range(void *ctx, int64_t begin, int64_t end)
{
    const dropout_job *j = ctx;
    for (int64_t i = begin; i < end; i++) {
        const uint64_t draw = dropout_mix(j->seed + (uint64_t)i * 0x9e3779b97f4a7c15u) >> 32;
        /* kept = 1 - [draw < threshold] by the borrow's sign (both below 2^33): GCC turned the
         * ternary into a branch that missed half the time at p = 0.5 (4.7 -> 0.95 ns an element) */
        const uint64_t kept = 1 - ((draw - j->threshold) >> 63);
        j->mask[i] = (tg_real)kept * j->keep_scale;
        j->y[i] = j->x[i] * j->mask[i];
    }
}

static int dropout_forward(tg_tape *t, tg_node *node)
{
    const tg_dropout_attr *a = node->attr;
    const tg_real *x = node->inputs[0]->data;
    tg_real *y = node->out->data;
    int64_t n = node->out->numel;
    node->saved = NULL; /* no mask: identity */
    if (!a->training || a->p == 0) {
        if (n) memcpy(y, x, sizeof(tg_real) * (size_t)n);
        return 0;
    }
    tg_real *mask = tg_tape_alloc(t, sizeof(tg_real) * (size_t)(n ? n : 1));
    if (!mask) return -1;
    dropout_job j = {.x = x, .y = y, .mask = mask, .keep_scale = a->p < 1 ? (tg_real)(1 / (1 - a->p)) : 0,
                     .seed = tg_rng_next(tg_tape_rng(t)), /* one draw of the tape's stream per call */
                     .threshold = a->p < 1 ? (uint64_t)(a->p * 4294967296.0) : (uint64_t)1 << 32};
    run_range(n, n, dropout_range, &j);
    node->saved = mask;
    return 0;
}
static void dropout_backward(tg_tape *t, tg_node *node)
{
    bool accumulate;
    const tg_real *mask = node->saved, *dy = node->out->grad, one = 1;
    tg_real *dx = tg_input_grad_over_output(t, node, 0, &accumulate); /* dx over dy: element by element */
    if (!dx) return;
    /* dx = dy·mask as mul's gradient of its first operand (eval: a mask of ones); that gradient
     * never uses the operand's values, so dy stands in for x, which may have been freed */
    tg_elementwise_kernel_get()->binary_backward(TG_EW_MUL, 0, dy, false, mask ? mask : &one, !mask, dy, dx,
                                                 node->out->numel, accumulate);
}

/* ---- descriptors ---- */

static const char *const gelu_names[] = {"none", "tanh", NULL};
static const tg_attr_desc leaky_relu_attrs[] = {
    {"negative_slope", TG_ATTR_REAL, offsetof(tg_leaky_relu_attr, negative_slope), "0.01", .nullable = false}};
static const tg_attr_desc elu_attrs[] = {{"alpha", TG_ATTR_REAL, offsetof(tg_elu_attr, alpha), "1.0", .nullable = false}};
static const tg_attr_desc gelu_attrs[] = {
    {"approximate", TG_ATTR_ENUM, offsetof(tg_gelu_attr, approximate), "none", .names = gelu_names}};
static const tg_attr_desc softmax_attrs[] = {{"dim", TG_ATTR_INT, offsetof(tg_softmax_attr, dim), "-1", .nullable = false}};
static const tg_attr_desc dropout_attrs[] = {
    {"p", TG_ATTR_REAL, offsetof(tg_dropout_attr, p), "0.5", .nullable = false},
    {"training", TG_ATTR_BOOL, offsetof(tg_dropout_attr, training), "1", .nullable = false},
};

const tg_op_desc tg_op_desc_relu = {
    .name = "relu", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .shape = same_shape, .forward = relu_forward, .backward = relu_backward, .unread_inputs = TG_INPUT_BIT(0),
    .summary = "max(x, 0)"};
const tg_op_desc tg_op_desc_leaky_relu = {
    .name = "leaky_relu", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = leaky_relu_attrs, .n_attrs = TG_N_ATTRS(leaky_relu_attrs), .attr_size = sizeof(tg_leaky_relu_attr),
    .shape = same_shape, .forward = leaky_relu_forward, .backward = leaky_relu_backward,
    .summary = "x for x > 0, else negative_slope * x"};
const tg_op_desc tg_op_desc_elu = {
    .name = "elu", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = elu_attrs, .n_attrs = TG_N_ATTRS(elu_attrs), .attr_size = sizeof(tg_elu_attr),
    .shape = same_shape, .forward = elu_forward, .backward = elu_backward,
    .summary = "x for x > 0, else alpha * (exp(x) - 1)"};
const tg_op_desc tg_op_desc_sigmoid = {
    .name = "sigmoid", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .shape = same_shape, .forward = sigmoid_forward, .backward = sigmoid_backward, .unread_inputs = TG_INPUT_BIT(0),
    .summary = "1 / (1 + exp(-x))"};
const tg_op_desc tg_op_desc_tanh = {
    .name = "tanh", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .shape = same_shape, .forward = tanh_forward, .backward = tanh_backward, .unread_inputs = TG_INPUT_BIT(0),
    .summary = "hyperbolic tangent"};
const tg_op_desc tg_op_desc_gelu = {
    .name = "gelu", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = gelu_attrs, .n_attrs = TG_N_ATTRS(gelu_attrs), .attr_size = sizeof(tg_gelu_attr),
    .shape = same_shape, .forward = gelu_forward, .backward = gelu_backward,
    .summary = "x * Phi(x) (exact, erf) or its tanh approximation (approximate=tanh)"};
const tg_op_desc tg_op_desc_softmax = {
    .name = "softmax", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = softmax_attrs, .n_attrs = TG_N_ATTRS(softmax_attrs), .attr_size = sizeof(tg_softmax_attr),
    .shape = softmax_shape, .forward = softmax_forward, .backward = softmax_backward,
    .summary = "exp(x) / sum exp(x) along dim (max-shifted)"};
const tg_op_desc tg_op_desc_log_softmax = {
    .name = "log_softmax", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = softmax_attrs, .n_attrs = TG_N_ATTRS(softmax_attrs), .attr_size = sizeof(tg_softmax_attr),
    .shape = log_softmax_shape, .forward = log_softmax_forward, .backward = log_softmax_backward,
    .summary = "x - log sum exp(x) along dim (max-shifted)"};
const tg_op_desc tg_op_desc_dropout = {
    .name = "dropout", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = dropout_attrs, .n_attrs = TG_N_ATTRS(dropout_attrs), .attr_size = sizeof(tg_dropout_attr),
    .shape = dropout_shape, .forward = dropout_forward, .backward = dropout_backward,
    .unread_inputs = TG_INPUT_BIT(0), .unread_output = true,
    .summary = "training: zeroes each element with probability p, scales the rest by 1/(1-p)"};

/* ---- typed functions ---- */

static tg_tensor *apply1(tg_tape *t, int op, tg_tensor *x, const void *attr) { return tg_op_apply(t, op, &x, 1, attr); }

tg_tensor *tg_relu(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_RELU, x, NULL); }
tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, double negative_slope)
{
    tg_leaky_relu_attr a = {negative_slope};
    return apply1(t, TG_OP_LEAKY_RELU, x, &a);
}
tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, double alpha)
{
    tg_elu_attr a = {alpha};
    return apply1(t, TG_OP_ELU, x, &a);
}
tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_SIGMOID, x, NULL); }
tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_TANH, x, NULL); }
tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x, bool tanh_approximation)
{
    tg_gelu_attr a = {tanh_approximation ? TG_GELU_TANH : TG_GELU_NONE};
    return apply1(t, TG_OP_GELU, x, &a);
}
tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int dim)
{
    tg_softmax_attr a = {dim};
    return apply1(t, TG_OP_SOFTMAX, x, &a);
}
tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int dim)
{
    tg_softmax_attr a = {dim};
    return apply1(t, TG_OP_LOG_SOFTMAX, x, &a);
}
tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, bool training)
{
    tg_dropout_attr a = {p, training};
    return apply1(t, TG_OP_DROPOUT, x, &a);
}
