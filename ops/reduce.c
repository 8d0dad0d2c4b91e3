/* ops/reduce.c — sum, mean and max over all dims or one dim.
 *
 * Every reduction views x as [outer, n, inner]: n is the reduced dim's size, outer the product of
 * the dims before it and inner of those after it (dim none: [1, numel, 1]). The output holds
 * outer*inner values in that order whether or not keepdim keeps the size-1 dim.
 */
#include "reduce.h"

#include <math.h>
#include <stdio.h>

static const tg_attr_desc reduce_attrs[] = {
    {"dim", TG_ATTR_INT, offsetof(tg_reduce_attr, dim), "none", .nullable = true},
    {"keepdim", TG_ATTR_BOOL, offsetof(tg_reduce_attr, keepdim), "0", .nullable = false},
};
static const char *const reduce_inputs[] = {"input"};

typedef struct reduce_view { int64_t outer, n, inner; } reduce_view;

/* The [outer, n, inner] view of x for a resolved dim (TG_DIM_NONE: all dims). */
static reduce_view reduce_view_of(const tg_tensor *x, int dim)
{
    reduce_view v = {1, x->numel, 1};
    if (dim == TG_DIM_NONE) return v;
    v.n = x->shape[dim];
    for (int i = 0; i < dim; i++) v.outer *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) v.inner *= x->shape[i];
    return v;
}

/* x:[d0..dk..] dim=k -> [d0..1..] (keepdim) or [d0....]; dim none -> [] (all ones with keepdim).
 * Resolves a negative dim in attr. A rank-0 x accepts dim 0 and -1, as PyTorch does. */
static int reduce_shape(const char *op, bool empty_ok, tg_tape *t, tg_tensor *const *in, void *attr,
                        int *ndim, int64_t *shape)
{
    tg_reduce_attr *a = attr;
    const tg_tensor *x = in[0];
    char s[TG_SHAPE_STR_LEN];
    if (a->dim != TG_DIM_NONE) {
        int rank = x->ndim ? x->ndim : 1;
        if (a->dim < -rank || a->dim >= rank) {
            tg_fail(t, "%s: dim %d out of range for rank %d (x=%s)", op, a->dim, x->ndim,
                    tg_shape_str(x, s, sizeof s));
            return -1;
        }
        if (a->dim < 0) a->dim += rank;
        if (x->ndim == 0) a->dim = TG_DIM_NONE;
    }
    if (!empty_ok && reduce_view_of(x, a->dim).n == 0) {
        tg_fail(t, "%s: cannot reduce an empty dim (x=%s)", op, tg_shape_str(x, s, sizeof s));
        return -1;
    }
    *ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        bool reduced = a->dim == TG_DIM_NONE || a->dim == i;
        if (reduced && !a->keepdim) continue;
        shape[(*ndim)++] = reduced ? 1 : x->shape[i];
    }
    return 0;
}

/* ---- sum and mean: y[o,i] = scale * sum_k x[o,k,i], scale = 1 (sum) or 1/n (mean)
 * backward: dx[o,k,i] += scale * dy[o,i] ---- */

/* Sums row by row (x's memory order) into double accumulators: acc is inner doubles of scratch. */
static int sum_scaled(tg_tape *t, const tg_tensor *x, int dim, double scale, tg_real *y)
{
    reduce_view v = reduce_view_of(x, dim);
    double *acc = tg_tape_alloc(t, (size_t)v.inner * sizeof *acc);
    if (!acc) return -1;
    for (int64_t o = 0; o < v.outer; o++) {
        const tg_real *xo = x->data + o * v.n * v.inner;
        tg_real *yo = y + o * v.inner;
        for (int64_t i = 0; i < v.inner; i++) acc[i] = 0;
        for (int64_t k = 0; k < v.n; k++)
            for (int64_t i = 0; i < v.inner; i++) acc[i] += xo[k * v.inner + i];
        for (int64_t i = 0; i < v.inner; i++) yo[i] = (tg_real)(acc[i] * scale);
    }
    return 0;
}

static void spread_scaled(const tg_tensor *x, int dim, double scale, const tg_real *dy, tg_real *dx)
{
    reduce_view v = reduce_view_of(x, dim);
    tg_real s = (tg_real)scale;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t k = 0; k < v.n; k++) {
            tg_real *dxo = dx + (o * v.n + k) * v.inner;
            const tg_real *dyo = dy + o * v.inner;
            for (int64_t i = 0; i < v.inner; i++) dxo[i] += s * dyo[i];
        }
}

static double mean_scale(const tg_node *node)
{
    reduce_view v = reduce_view_of(node->inputs[0], ((const tg_reduce_attr *)node->attr)->dim);
    return v.n ? 1.0 / (double)v.n : NAN; /* mean of nothing is NaN, as in PyTorch */
}

static int sum_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return reduce_shape("sum", true, t, in, attr, ndim, shape);
}
static int sum_forward(tg_tape *t, tg_node *node)
{
    return sum_scaled(t, node->inputs[0], ((tg_reduce_attr *)node->attr)->dim, 1.0, node->out->data);
}
static void sum_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (dx) spread_scaled(node->inputs[0], ((tg_reduce_attr *)node->attr)->dim, 1.0, node->out->grad, dx);
}

static int mean_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return reduce_shape("mean", true, t, in, attr, ndim, shape);
}
static int mean_forward(tg_tape *t, tg_node *node)
{
    return sum_scaled(t, node->inputs[0], ((tg_reduce_attr *)node->attr)->dim, mean_scale(node),
                      node->out->data);
}
static void mean_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (dx)
        spread_scaled(node->inputs[0], ((tg_reduce_attr *)node->attr)->dim, mean_scale(node),
                      node->out->grad, dx);
}

/* ---- max: y[o,i] = max_k x[o,k,i], idx[o,i] = first k reaching it (flat index for dim none)
 * backward (one dim): dx[o,idx[o,i],i] += dy[o,i]  (only the first maximum gets the gradient);
 * (all dims): dy split evenly among every element equal to the maximum (every NaN when it is
 * NaN), as torch.max(x)'s backward does ----
 * NaN propagates: a NaN is taken as the maximum, as torch.max does. */

static int max_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    return reduce_shape("max", false, t, in, attr, ndim, shape);
}
static int max_forward(tg_tape *t, tg_node *node)
{
    const tg_tensor *x = node->inputs[0];
    reduce_view v = reduce_view_of(x, ((tg_reduce_attr *)node->attr)->dim);
    int64_t *idx = tg_tape_alloc(t, (size_t)(node->out->numel + 1) * sizeof *idx);
    if (!idx) return -1;
    /* row by row in memory order: row 0 seeds the maxima, later rows replace strictly greater */
    for (int64_t o = 0; o < v.outer; o++) {
        const tg_real *xo = x->data + o * v.n * v.inner;
        tg_real *yo = node->out->data + o * v.inner;
        int64_t *io = idx + o * v.inner;
        for (int64_t i = 0; i < v.inner; i++) {
            yo[i] = xo[i];
            io[i] = 0;
        }
        for (int64_t k = 1; k < v.n; k++)
            for (int64_t i = 0; i < v.inner; i++) {
                tg_real c = xo[k * v.inner + i];
                if (c > yo[i] || (c != c && yo[i] == yo[i])) {
                    yo[i] = c;
                    io[i] = k;
                }
            }
    }
    node->saved = idx;
    node->out->indices = idx;
    return 0;
}
static void max_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    const tg_tensor *x = node->inputs[0];
    const int dim = ((tg_reduce_attr *)node->attr)->dim;
    const int64_t *idx = node->saved;
    const tg_real *dy = node->out->grad;
    if (dim == TG_DIM_NONE) {
        const tg_real top = node->out->data[0];
        const bool top_is_nan = isnan(top);
        int64_t ties = 0;
        for (int64_t i = 0; i < x->numel; i++) ties += top_is_nan ? isnan(x->data[i]) : x->data[i] == top;
        const tg_real share = dy[0] / (tg_real)ties;
        for (int64_t i = 0; i < x->numel; i++)
            if (top_is_nan ? isnan(x->data[i]) : x->data[i] == top) dx[i] += share;
        return;
    }
    reduce_view v = reduce_view_of(x, dim);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t i = 0; i < v.inner; i++)
            dx[(o * v.n + idx[o * v.inner + i]) * v.inner + i] += dy[o * v.inner + i];
}

const tg_op_desc tg_op_desc_sum = {
    .name = "sum", .min_inputs = 1, .max_inputs = 1, .input_names = reduce_inputs,
    .attrs = reduce_attrs, .n_attrs = TG_N_ATTRS(reduce_attrs), .attr_size = sizeof(tg_reduce_attr),
    .shape = sum_shape, .forward = sum_forward, .backward = sum_backward,
    .summary = "sum over all dims or one dim (torch.sum)"};
const tg_op_desc tg_op_desc_mean = {
    .name = "mean", .min_inputs = 1, .max_inputs = 1, .input_names = reduce_inputs,
    .attrs = reduce_attrs, .n_attrs = TG_N_ATTRS(reduce_attrs), .attr_size = sizeof(tg_reduce_attr),
    .shape = mean_shape, .forward = mean_forward, .backward = mean_backward,
    .summary = "mean over all dims or one dim (torch.mean)"};
const tg_op_desc tg_op_desc_max = {
    .name = "max", .min_inputs = 1, .max_inputs = 1, .input_names = reduce_inputs, .keeps_indices = true,
    .attrs = reduce_attrs, .n_attrs = TG_N_ATTRS(reduce_attrs), .attr_size = sizeof(tg_reduce_attr),
    .shape = max_shape, .forward = max_forward, .backward = max_backward,
    .summary = "maximum over all dims or one dim (values of torch.max; gradient to the first maximum "
               "along dim, split among ties over all dims)"};

static tg_tensor *reduce_apply(tg_tape *t, int op, tg_tensor *x, int dim, bool keepdim)
{
    tg_reduce_attr a = {.dim = dim, .keepdim = keepdim};
    return tg_op_apply(t, op, &x, 1, &a);
}
tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int dim, bool keepdim) { return reduce_apply(t, TG_OP_SUM, x, dim, keepdim); }
tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int dim, bool keepdim) { return reduce_apply(t, TG_OP_MEAN, x, dim, keepdim); }
tg_tensor *tg_max(tg_tape *t, tg_tensor *x, int dim, bool keepdim) { return reduce_apply(t, TG_OP_MAX, x, dim, keepdim); }

const int64_t *tg_max_indices(const tg_tensor *max_out) { return max_out ? max_out->indices : NULL; }
