/* ops/loss.c — cross_entropy, nll_loss, mse_loss and l1_loss (torch.nn.functional semantics).
 *
 * Each loss computes one value per sample position, then reduces: none keeps them, sum adds
 * them, mean divides the sum by the number of counted positions (every element for mse/l1; the
 * labels other than ignore_index for the classification losses). The backward therefore scales
 * the upstream gradient per position by g_p = dy_p (none), dy (sum) or dy / count (mean).
 */
#include "loss.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const reduction_names[] = {"mean", "sum", "none", NULL};

/* Output shape of a reduction over positions of shape (ndim, shape). */
static void reduced_shape(int reduction, int in_ndim, const int64_t *in_shape, int *ndim, int64_t *shape)
{
    *ndim = 0;
    if (reduction != TG_REDUCTION_NONE) return;
    *ndim = in_ndim;
    for (int i = 0; i < in_ndim; i++) shape[i] = in_shape[i];
}

/* Reduces per-position losses into out (out has numel positions for none, else one value). */
static void reduce_losses(const tg_node *node, const double *loss, int64_t n, double count)
{
    int reduction = ((const tg_loss_attr *)node->attr)->reduction;
    tg_real *y = node->out->data;
    if (reduction == TG_REDUCTION_NONE) {
        for (int64_t p = 0; p < n; p++) y[p] = (tg_real)loss[p];
        return;
    }
    double sum = 0;
    for (int64_t p = 0; p < n; p++) sum += loss[p];
    y[0] = (tg_real)(reduction == TG_REDUCTION_SUM ? sum : sum / count); /* mean of nothing: NaN */
}

/* Upstream gradient of position p (see the header comment). */
static double position_grad(const tg_node *node, int64_t p, double count)
{
    int reduction = ((const tg_loss_attr *)node->attr)->reduction;
    const tg_real *dy = node->out->grad;
    if (reduction == TG_REDUCTION_NONE) return dy[p];
    return reduction == TG_REDUCTION_SUM ? dy[0] : dy[0] / count;
}

/* ---- cross_entropy and nll_loss
 * input:[N,C] or [N,C,d1..] (or [C]) labels: int64 [N] or [N,d1..] (or []) -> [] or labels' shape
 * nll_loss:      l_p = -x[n,label_p,i]            backward: dx[n,label_p,i] -= g_p
 * cross_entropy: l_p = -log_softmax(x)[n,label_p,i] (along C, max-shifted)
 *                backward: dx[n,c,i] += g_p (softmax[n,c,i] - [c == label_p])
 * label_smoothing e (cross_entropy only, torch's): the target is (1-e) one-hot + e/C uniform, so
 *                l_p = (1-e)(-log_softmax[label_p]) + e/C sum_c -log_softmax[c]
 *                backward: dx[n,c,i] += g_p (softmax[n,c,i] - e/C - (1-e)[c == label_p])
 * Positions whose label is ignore_index have l_p = 0, g_p = 0 and do not count. ---- */

typedef struct class_view { int64_t n, c, inner; } class_view; /* input as [n, c, inner] */

static class_view class_view_of(const tg_tensor *x)
{
    if (x->ndim == 1) return (class_view){1, x->shape[0], 1};
    class_view v = {x->shape[0], x->shape[1], 1};
    for (int i = 2; i < x->ndim; i++) v.inner *= x->shape[i];
    return v;
}

static int class_loss_shape(const char *op, tg_tape *t, tg_tensor *const *in, void *attr, int *ndim, int64_t *shape)
{
    const tg_loss_attr *a = attr;
    const tg_tensor *x = in[0], *labels = in[1];
    char xs[TG_SHAPE_STR_LEN], ls[TG_SHAPE_STR_LEN], ws[TG_SHAPE_STR_LEN];
    tg_shape_str(x, xs, sizeof xs);
    tg_shape_str(labels, ls, sizeof ls);
    if (x->ndim == 0)
        return tg_fail(t, "%s: input needs a class dim: [C], [N,C] or [N,C,d1,...] (input=%s target=%s)", op, xs,
                       ls), -1;
    /* the labels' shape is the input's without the class dim */
    int64_t want[TG_MAX_DIMS];
    int want_ndim = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != (x->ndim == 1 ? 0 : 1)) want[want_ndim++] = x->shape[i];
    bool match = labels->ndim == want_ndim;
    for (int i = 0; match && i < want_ndim; i++) match = labels->shape[i] == want[i];
    if (!match)
        return tg_fail(t, "%s: target must have shape %s (the input's without the class dim), got %s (input=%s target=%s)",
                       op, tg_shape_str_raw(want_ndim, want, ws, sizeof ws), ls, xs, ls), -1;
    if (strcmp(op, "cross_entropy") && a->label_smoothing != 0) /* torch's nll_loss has none either */
        return tg_fail(t, "%s: label_smoothing is cross_entropy's only and must be 0 here, got %g (input=%s target=%s)",
                       op, a->label_smoothing, xs, ls), -1;
    if (!(a->label_smoothing >= 0 && a->label_smoothing <= 1)) /* also NaN */
        return tg_fail(t, "%s: label_smoothing must be in [0, 1], got %g (input=%s target=%s)", op, a->label_smoothing,
                       xs, ls), -1;
    reduced_shape(a->reduction, want_ndim, want, ndim, shape);
    return 0;
}

/* Forward of both: checks the labels, computes every position's loss, reduces. cross_entropy
 * keeps softmax(x) along C for the backward (one exp per element in all). */
typedef struct class_saved { tg_real *probs; double count; } class_saved;

static int class_loss_forward(tg_tape *t, tg_node *node, bool from_logits)
{
    const tg_loss_attr *a = node->attr;
    const tg_tensor *x = node->inputs[0], *labels = node->inputs[1];
    class_view v = class_view_of(x);
    int64_t positions = v.n * v.inner;
    for (int64_t p = 0; p < positions; p++) {
        int64_t label = labels->idata[p];
        if (label != a->ignore_index && (label < 0 || label >= v.c))
            return tg_fail(t, "%s: label %lld at index %lld is outside [0, %lld)", node->op->name, (long long)label,
                           (long long)p, (long long)v.c), -1;
    }
    class_saved *s = tg_tape_alloc(t, sizeof *s);
    double *loss = tg_tape_alloc(t, sizeof(double) * (size_t)(positions ? positions : 1));
    if (!s || !loss) return -1;
    s->probs = NULL;
    s->count = 0;
    if (from_logits) {
        s->probs = tg_tape_alloc(t, sizeof(tg_real) * (size_t)(x->numel ? x->numel : 1));
        if (!s->probs) return -1;
    }
    for (int64_t p = 0; p < positions; p++) {
        int64_t label = labels->idata[p], n = p / v.inner, i = p % v.inner;
        const tg_real *xl = x->data + n * v.c * v.inner + i; /* the C values of position p */
        double log_sum = 0; /* log sum_c e^x_c (cross_entropy), so -log_softmax = log_sum - x */
        if (from_logits) {
            tg_real *pl = s->probs + n * v.c * v.inner + i;
            double m = -INFINITY, sum = 0;
            for (int64_t c = 0; c < v.c; c++) m = fmax(m, xl[c * v.inner]);
            if (isinf(m) && m < 0) m = 0; /* all -inf: avoid inf - inf */
            for (int64_t c = 0; c < v.c; c++) {
                double e = exp(xl[c * v.inner] - m);
                pl[c * v.inner] = (tg_real)e;
                sum += e;
            }
            for (int64_t c = 0; c < v.c; c++) pl[c * v.inner] = (tg_real)(pl[c * v.inner] / sum);
            log_sum = m + log(sum);
        }
        loss[p] = 0;
        if (label == a->ignore_index) continue;
        loss[p] = log_sum - (double)xl[label * v.inner];
        if (a->label_smoothing > 0) { /* only then: 0 * an infinite log-probability would be NaN */
            double uniform = 0; /* sum_c -log_softmax[c] */
            for (int64_t c = 0; c < v.c; c++) uniform += log_sum - (double)xl[c * v.inner];
            loss[p] = (1 - a->label_smoothing) * loss[p] + a->label_smoothing / (double)v.c * uniform;
        }
        s->count += 1;
    }
    reduce_losses(node, loss, positions, s->count);
    node->saved = s;
    return 0;
}

static void class_loss_backward(tg_tape *t, tg_node *node, bool from_logits)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    const tg_loss_attr *a = node->attr;
    const class_saved *s = node->saved;
    const tg_tensor *labels = node->inputs[1];
    class_view v = class_view_of(node->inputs[0]);
    for (int64_t p = 0; p < v.n * v.inner; p++) {
        int64_t label = labels->idata[p], n = p / v.inner, i = p % v.inner;
        if (label == a->ignore_index) continue;
        const double eps = a->label_smoothing, g = position_grad(node, p, s->count);
        int64_t base = n * v.c * v.inner + i;
        if (from_logits)
            for (int64_t c = 0; c < v.c; c++)
                dx[base + c * v.inner] += (tg_real)(eps > 0 ? g * (s->probs[base + c * v.inner] - eps / (double)v.c)
                                                            : (tg_real)g * s->probs[base + c * v.inner]);
        dx[base + label * v.inner] -= (tg_real)(eps > 0 ? g * (1 - eps) : g);
    }
}

static int cross_entropy_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return class_loss_shape("cross_entropy", t, in, attr, ndim, shape);
}
static int cross_entropy_forward(tg_tape *t, tg_node *node) { return class_loss_forward(t, node, true); }
static void cross_entropy_backward(tg_tape *t, tg_node *node) { class_loss_backward(t, node, true); }
static int nll_loss_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return class_loss_shape("nll_loss", t, in, attr, ndim, shape);
}
static int nll_loss_forward(tg_tape *t, tg_node *node) { return class_loss_forward(t, node, false); }
static void nll_loss_backward(tg_tape *t, tg_node *node) { class_loss_backward(t, node, false); }

/* ---- mse_loss and l1_loss: input, target of one shape, d = input - target
 * mse: l_p = d_p^2, dl/dinput = 2 d_p;  l1: l_p = |d_p|, dl/dinput = sign(d_p) (0 at 0)
 * backward: dinput += g_p * slope_p, dtarget -= g_p * slope_p ---- */

static int pointwise_loss_shape(const char *op, tg_tape *t, tg_tensor *const *in, void *attr, int *ndim,
                                int64_t *shape)
{
    const tg_loss_attr *a = attr;
    if (!tg_same_shape(in[0], in[1])) {
        char xs[TG_SHAPE_STR_LEN], ys[TG_SHAPE_STR_LEN];
        return tg_fail(t, "%s: input and target must have the same shape; no broadcasting (input=%s target=%s)", op,
                       tg_shape_str(in[0], xs, sizeof xs), tg_shape_str(in[1], ys, sizeof ys)), -1;
    }
    reduced_shape(a->reduction, in[0]->ndim, in[0]->shape, ndim, shape);
    return 0;
}

static int pointwise_loss_forward(tg_tape *t, tg_node *node, bool squared)
{
    const tg_tensor *x = node->inputs[0], *y = node->inputs[1];
    double *loss = tg_tape_alloc(t, sizeof(double) * (size_t)(x->numel ? x->numel : 1));
    if (!loss) return -1;
    for (int64_t p = 0; p < x->numel; p++) {
        double d = (double)x->data[p] - y->data[p];
        loss[p] = squared ? d * d : fabs(d);
    }
    reduce_losses(node, loss, x->numel, (double)x->numel);
    return 0;
}

static void pointwise_loss_backward(tg_tape *t, tg_node *node, bool squared)
{
    const tg_tensor *x = node->inputs[0], *y = node->inputs[1];
    tg_real *dx = tg_input_grad(t, node, 0), *dtarget = tg_input_grad(t, node, 1);
    if (!dx && !dtarget) return;
    for (int64_t p = 0; p < x->numel; p++) {
        double d = (double)x->data[p] - y->data[p];
        double slope = squared ? 2 * d : (d > 0) - (d < 0);
        double g = position_grad(node, p, (double)x->numel) * slope;
        if (dx) dx[p] += (tg_real)g;
        if (dtarget) dtarget[p] -= (tg_real)g;
    }
}

static int mse_loss_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return pointwise_loss_shape("mse_loss", t, in, attr, ndim, shape);
}
static int mse_loss_forward(tg_tape *t, tg_node *node) { return pointwise_loss_forward(t, node, true); }
static void mse_loss_backward(tg_tape *t, tg_node *node) { pointwise_loss_backward(t, node, true); }
static int l1_loss_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return pointwise_loss_shape("l1_loss", t, in, attr, ndim, shape);
}
static int l1_loss_forward(tg_tape *t, tg_node *node) { return pointwise_loss_forward(t, node, false); }
static void l1_loss_backward(tg_tape *t, tg_node *node) { pointwise_loss_backward(t, node, false); }

/* ---- descriptors ---- */

#define ATTR_REDUCTION {"reduction", TG_ATTR_ENUM, offsetof(tg_loss_attr, reduction), "mean", .names = reduction_names}
static const tg_attr_desc class_loss_attrs[] = {
    ATTR_REDUCTION,
    {"ignore_index", TG_ATTR_INT, offsetof(tg_loss_attr, ignore_index), "-100", .nullable = false},
};
static const tg_attr_desc cross_entropy_attrs[] = {
    ATTR_REDUCTION,
    {"ignore_index", TG_ATTR_INT, offsetof(tg_loss_attr, ignore_index), "-100", .nullable = false},
    {"label_smoothing", TG_ATTR_REAL, offsetof(tg_loss_attr, label_smoothing), "0", .nullable = false},
};
static const tg_attr_desc pair_loss_attrs[] = {ATTR_REDUCTION}; /* mse/l1 take only the reduction */
static const char *const class_inputs[] = {"input", "target"};
static const char *const pair_inputs[] = {"input", "target"};

const tg_op_desc tg_op_desc_cross_entropy = {
    .name = "cross_entropy", .min_inputs = 2, .max_inputs = 2, .input_names = class_inputs,
    .int_inputs = TG_INPUT_BIT(1), .attrs = cross_entropy_attrs, .n_attrs = TG_N_ATTRS(cross_entropy_attrs), .attr_size = sizeof(tg_loss_attr),
    .shape = cross_entropy_shape, .forward = cross_entropy_forward, .backward = cross_entropy_backward,
    .summary = "softmax cross-entropy of logits against int64 class labels (F.cross_entropy)"};
const tg_op_desc tg_op_desc_nll_loss = {
    .name = "nll_loss", .min_inputs = 2, .max_inputs = 2, .input_names = class_inputs,
    .int_inputs = TG_INPUT_BIT(1), .attrs = class_loss_attrs, .n_attrs = TG_N_ATTRS(class_loss_attrs), .attr_size = sizeof(tg_loss_attr),
    .shape = nll_loss_shape, .forward = nll_loss_forward, .backward = nll_loss_backward,
    .summary = "negative log-likelihood of log-probabilities against int64 class labels (F.nll_loss)"};
const tg_op_desc tg_op_desc_mse_loss = {
    .name = "mse_loss", .min_inputs = 2, .max_inputs = 2, .input_names = pair_inputs,
    .attrs = pair_loss_attrs, .n_attrs = TG_N_ATTRS(pair_loss_attrs), .attr_size = sizeof(tg_loss_attr),
    .shape = mse_loss_shape, .forward = mse_loss_forward, .backward = mse_loss_backward,
    .summary = "mean squared error (F.mse_loss)"};
const tg_op_desc tg_op_desc_l1_loss = {
    .name = "l1_loss", .min_inputs = 2, .max_inputs = 2, .input_names = pair_inputs,
    .attrs = pair_loss_attrs, .n_attrs = TG_N_ATTRS(pair_loss_attrs), .attr_size = sizeof(tg_loss_attr),
    .shape = l1_loss_shape, .forward = l1_loss_forward, .backward = l1_loss_backward,
    .summary = "mean absolute error (F.l1_loss)"};

/* ---- typed functions ---- */

static tg_tensor *apply2(tg_tape *t, int op, tg_tensor *a, tg_tensor *b, const void *attr)
{
    tg_tensor *in[2] = {a, b};
    return tg_op_apply(t, op, in, 2, attr);
}
tg_tensor *tg_cross_entropy_ex(tg_tape *t, tg_tensor *logits, tg_tensor *labels, const tg_loss_attr *a)
{
    return apply2(t, TG_OP_CROSS_ENTROPY, logits, labels, a);
}
tg_tensor *tg_nll_loss_ex(tg_tape *t, tg_tensor *log_probs, tg_tensor *labels, const tg_loss_attr *a)
{
    return apply2(t, TG_OP_NLL_LOSS, log_probs, labels, a);
}
tg_tensor *tg_mse_loss_ex(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction reduction)
{
    tg_loss_attr a = {.reduction = (int)reduction, .ignore_index = -100};
    return apply2(t, TG_OP_MSE_LOSS, input, target, &a);
}
tg_tensor *tg_l1_loss_ex(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction reduction)
{
    tg_loss_attr a = {.reduction = (int)reduction, .ignore_index = -100};
    return apply2(t, TG_OP_L1_LOSS, input, target, &a);
}
tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *labels)
{
    return tg_cross_entropy_ex(t, logits, labels, NULL);
}
tg_tensor *tg_nll_loss(tg_tape *t, tg_tensor *log_probs, tg_tensor *labels) { return tg_nll_loss_ex(t, log_probs, labels, NULL); }
tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *input, tg_tensor *target)
{
    return tg_mse_loss_ex(t, input, target, TG_REDUCTION_MEAN);
}
tg_tensor *tg_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target)
{
    return tg_l1_loss_ex(t, input, target, TG_REDUCTION_MEAN);
}
