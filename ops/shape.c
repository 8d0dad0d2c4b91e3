/* ops/shape.c — reshape, flatten, permute, transpose, concat, slice and pad.
 *
 * Every op here moves values without arithmetic, so every backward is the adjoint scatter of its
 * forward gather: dx[source of k] += dy[k]. reshape and flatten copy the data (the apply already
 * allocated the output), which keeps every tensor contiguous.
 */
#include "shape.h"

#include <stdio.h>
#include <string.h>

#include "kernels/pad.h"
#include "kernels/parallel.h"
#include "op_internal.h"

static const char *const one_input[] = {"input"};
extern const tg_op_desc tg_op_desc_transpose;

/* Resolves a possibly negative dim against rank (a rank-0 tensor accepts 0 and -1, as PyTorch).
 * Returns the dim in [0, max(rank,1)) or -1 after reporting "op: name d out of range ...". */
static int resolve_dim(tg_tape *t, const char *op, const char *name, int dim, const tg_tensor *x)
{
    int rank = x->ndim ? x->ndim : 1;
    if (dim < -rank || dim >= rank) {
        char s[TG_SHAPE_STR_LEN];
        tg_fail(t, "%s: %s %d out of range for rank %d (x=%s)", op, name, dim, x->ndim,
                tg_shape_str(x, s, sizeof s));
        return -1;
    }
    return dim < 0 ? dim + rank : dim;
}

static void copy_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    const tg_real *dy = node->out->grad;
    for (int64_t i = 0; i < node->out->numel; i++) dx[i] += dy[i];
}

static int copy_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    if (node->out->numel) memcpy(node->out->data, node->inputs[0]->data, sizeof(tg_real) * (size_t)node->out->numel);
    return 0;
}

/* ---- reshape: x:[any] -> y:[shape] (same numel; one -1 is inferred)
 * backward: dx = dy viewed as x's shape ---- */

static int reshape_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    tg_reshape_attr *a = attr;
    const tg_tensor *x = in[0];
    char xs[TG_SHAPE_STR_LEN], want[TG_SHAPE_STR_LEN];
    tg_shape_str_raw(a->shape.n, a->shape.v, want, sizeof want);
    tg_shape_str(x, xs, sizeof xs);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < a->shape.n; i++) {
        int64_t d = a->shape.v[i];
        if (d == -1 && infer < 0) infer = i;
        else if (d == -1) return tg_fail(t, "reshape: shape %s has more than one -1 (x=%s)", want, xs), -1;
        else if (d < 0) return tg_fail(t, "reshape: shape %s has negative size %lld (x=%s)", want, (long long)d, xs), -1;
        else known *= d;
        shape[i] = d;
    }
    if (infer >= 0) {
        if (known == 0 || x->numel % known != 0)
            return tg_fail(t, "reshape: shape %s is invalid for input of %lld elements (x=%s)", want,
                           (long long)x->numel, xs), -1;
        shape[infer] = x->numel / known;
    } else if (known != x->numel) {
        return tg_fail(t, "reshape: shape %s is invalid for input of %lld elements (x=%s)", want,
                       (long long)x->numel, xs), -1;
    }
    *ndim = a->shape.n;
    return 0;
}

/* ---- flatten: x:[d0..ds..de..] -> y:[d0..(ds*...*de)..] (torch.flatten; rank 0 -> [1])
 * backward: dx = dy viewed as x's shape ---- */

static int flatten_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    tg_flatten_attr *a = attr;
    const tg_tensor *x = in[0];
    int s = resolve_dim(t, "flatten", "start_dim", a->start_dim, x);
    if (s < 0) return -1;
    int e = resolve_dim(t, "flatten", "end_dim", a->end_dim, x);
    if (e < 0) return -1;
    if (s > e) {
        char xs[TG_SHAPE_STR_LEN];
        return tg_fail(t, "flatten: start_dim %d comes after end_dim %d (x=%s)", a->start_dim,
                       a->end_dim, tg_shape_str(x, xs, sizeof xs)), -1;
    }
    if (x->ndim == 0) {
        *ndim = 1;
        shape[0] = 1;
        return 0;
    }
    *ndim = 0;
    for (int i = 0; i < s; i++) shape[(*ndim)++] = x->shape[i];
    int64_t merged = 1;
    for (int i = s; i <= e; i++) merged *= x->shape[i];
    shape[(*ndim)++] = merged;
    for (int i = e + 1; i < x->ndim; i++) shape[(*ndim)++] = x->shape[i];
    return 0;
}

/* ---- permute / transpose: y[i0..] = x[...] with out dim k = x dim perm[k]
 * backward: dx[perm^-1 index] += dy (the same walk, scattering) ---- */

/* Walks y in row-major order; in_off tracks the matching offset in x. forward: y = x[in_off];
 * otherwise dx[in_off] += dy. */
static void permute_walk(const tg_tensor *x, const int *perm, const tg_real *src, tg_real *dst, bool forward)
{
    int nd = x->ndim;
    int64_t x_stride[TG_MAX_DIMS], stride[TG_MAX_DIMS], size[TG_MAX_DIMS], idx[TG_MAX_DIMS] = {0};
    int64_t acc = 1;
    for (int d = nd - 1; d >= 0; d--) {
        x_stride[d] = acc;
        acc *= x->shape[d];
    }
    for (int k = 0; k < nd; k++) {
        size[k] = x->shape[perm[k]];
        stride[k] = x_stride[perm[k]];
    }
    int64_t in_off = 0;
    for (int64_t o = 0; o < x->numel; o++) {
        if (forward) dst[o] = src[in_off];
        else dst[in_off] += src[o];
        for (int k = nd - 1; k >= 0; k--) { /* odometer increment */
            in_off += stride[k];
            if (++idx[k] < size[k]) break;
            in_off -= stride[k] * size[k];
            idx[k] = 0;
        }
    }
}

/* Permutation of a permute/transpose node (transpose: identity with two dims swapped). */
static void node_perm(const tg_node *node, int *perm)
{
    int nd = node->inputs[0]->ndim;
    if (node->op == &tg_op_desc_transpose) {
        const tg_transpose_attr *a = node->attr;
        for (int k = 0; k < nd; k++) perm[k] = k;
        if (nd) {
            perm[a->dim0] = a->dim1;
            perm[a->dim1] = a->dim0;
        }
    } else {
        const tg_permute_attr *a = node->attr;
        for (int k = 0; k < nd; k++) perm[k] = (int)a->dims.v[k];
    }
}

static int permute_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    int perm[TG_MAX_DIMS];
    node_perm(node, perm);
    permute_walk(node->inputs[0], perm, node->inputs[0]->data, node->out->data, true);
    return 0;
}
static void permute_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    int perm[TG_MAX_DIMS];
    node_perm(node, perm);
    permute_walk(node->inputs[0], perm, node->out->grad, dx, false);
}

static int permute_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    tg_permute_attr *a = attr;
    const tg_tensor *x = in[0];
    char xs[TG_SHAPE_STR_LEN], ds[TG_SHAPE_STR_LEN];
    tg_shape_str(x, xs, sizeof xs);
    tg_shape_str_raw(a->dims.n, a->dims.v, ds, sizeof ds);
    if (a->dims.n != x->ndim)
        return tg_fail(t, "permute: dims %s name %d dims but the input has rank %d (x=%s)", ds, a->dims.n,
                       x->ndim, xs), -1;
    bool seen[TG_MAX_DIMS] = {false};
    for (int k = 0; k < x->ndim; k++) {
        int64_t d = a->dims.v[k];
        if (d < -x->ndim || d >= x->ndim)
            return tg_fail(t, "permute: dim %lld in dims %s out of range for rank %d (x=%s)", (long long)d, ds,
                           x->ndim, xs), -1;
        if (d < 0) d += x->ndim;
        if (seen[d]) return tg_fail(t, "permute: dims %s repeat dim %lld (x=%s)", ds, (long long)d, xs), -1;
        seen[d] = true;
        a->dims.v[k] = d;
        shape[k] = x->shape[d];
    }
    *ndim = x->ndim;
    return 0;
}

static int transpose_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    tg_transpose_attr *a = attr;
    const tg_tensor *x = in[0];
    int d0 = resolve_dim(t, "transpose", "dim0", a->dim0, x);
    if (d0 < 0) return -1;
    int d1 = resolve_dim(t, "transpose", "dim1", a->dim1, x);
    if (d1 < 0) return -1;
    a->dim0 = d0;
    a->dim1 = d1;
    *ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) shape[k] = x->shape[k];
    if (x->ndim) {
        shape[d0] = x->shape[d1];
        shape[d1] = x->shape[d0];
    }
    return 0;
}

/* ---- concat: x_i:[..n_i..] along dim -> y:[..sum n_i..]
 * backward: dx_i = the slice of dy that x_i filled ---- */

/* Sizes of the [outer, n, inner] view around dim. */
static void split_at(const tg_tensor *x, int dim, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < dim; i++) *outer *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
}

static int concat_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    tg_concat_attr *a = attr;
    const tg_tensor *x0 = in[0];
    char s0[TG_SHAPE_STR_LEN], si[TG_SHAPE_STR_LEN];
    for (int i = 1; i < n; i++)
        if (!in[i]) return tg_fail(t, "concat: tensor%d is NULL", i), -1;
    if (x0->ndim == 0)
        return tg_fail(t, "concat: tensor0 is a scalar; concat needs rank >= 1 (tensor0=[])"), -1;
    int dim = resolve_dim(t, "concat", "dim", a->dim, x0);
    if (dim < 0) return -1;
    a->dim = dim;
    *ndim = x0->ndim;
    for (int k = 0; k < x0->ndim; k++) shape[k] = x0->shape[k];
    for (int i = 1; i < n; i++) {
        const tg_tensor *x = in[i];
        tg_shape_str(x0, s0, sizeof s0);
        tg_shape_str(x, si, sizeof si);
        if (x->ndim != x0->ndim)
            return tg_fail(t, "concat: tensor%d has rank %d but tensor0 has rank %d (tensor0=%s tensor%d=%s)", i,
                           x->ndim, x0->ndim, s0, i, si), -1;
        for (int k = 0; k < x0->ndim; k++)
            if (k != dim && x->shape[k] != x0->shape[k])
                return tg_fail(t, "concat: tensor%d differs from tensor0 in dim %d, which is not the concat dim %d "
                               "(tensor0=%s tensor%d=%s)", i, k, dim, s0, i, si), -1;
        shape[dim] += x->shape[dim];
    }
    return 0;
}

/* Below this many elements a concat copies on the calling thread: waking the pool costs more. */
enum { CONCAT_PARALLEL_MIN = 1 << 15 };

/* One copy job: per outer index o, every input's slab in input order (an input listed twice adds
 * its second slice after the first was written, as serially); split over o, so the threads write
 * disjoint parts of y (forward) or of each dx (backward) and the result is the same for any count. */
typedef struct concat_job {
    const tg_node *node;
    int64_t inner, out_n;
    tg_real *dx[TG_MAX_INPUTS]; /* backward: each input's gradient (NULL: none) */
    bool accumulate[TG_MAX_INPUTS];
    bool backward;
} concat_job;

static void concat_range(void *arg, int64_t o0, int64_t o1)
{
    const concat_job *j = arg;
    const tg_node *node = j->node;
    const int dim = ((const tg_concat_attr *)node->attr)->dim;
    for (int64_t o = o0; o < o1; o++) {
        int64_t offset = 0;
        for (int i = 0; i < node->n_inputs && node->inputs[i]; i++) {
            const tg_tensor *x = node->inputs[i];
            const int64_t chunk = x->shape[dim] * j->inner;
            tg_real *y_part = (j->backward ? node->out->grad : node->out->data) + o * j->out_n * j->inner + offset;
            offset += chunk;
            if (!chunk) continue;
            if (!j->backward) {
                memcpy(y_part, x->data + o * chunk, sizeof(tg_real) * (size_t)chunk);
                continue;
            }
            tg_real *dx = j->dx[i];
            if (!dx) continue;
            if (!j->accumulate[i]) memcpy(dx + o * chunk, y_part, sizeof(tg_real) * (size_t)chunk);
            else
                for (int64_t k = 0; k < chunk; k++) dx[o * chunk + k] += y_part[k];
        }
    }
}

static void concat_run(concat_job *j)
{
    const int dim = ((const tg_concat_attr *)j->node->attr)->dim;
    int64_t outer;
    split_at(j->node->out, dim, &outer, &j->inner);
    j->out_n = j->node->out->shape[dim];
    if (j->node->out->numel >= CONCAT_PARALLEL_MIN) tg_parallel_for(outer, concat_range, j);
    else concat_range(j, 0, outer);
}

static int concat_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    concat_job j = {.node = node};
    concat_run(&j);
    return 0;
}

static void concat_backward(tg_tape *t, tg_node *node)
{
    concat_job j = {.node = node, .backward = true};
    /* each input's gradient is its slice of dy, every element once: a fresh buffer is copied
     * into; an input listed twice (concat(x, x)) adds its second slice. The buffers are taken
     * here, in input order, before any thread writes. */
    for (int i = 0; i < node->n_inputs && node->inputs[i]; i++) {
        j.accumulate[i] = true;
        j.dx[i] = tg_input_grad_to_write(t, node, i, &j.accumulate[i]);
    }
    concat_run(&j);
}

/* ---- slice: x:[..n..] -> y:[..m..], y[..k..] = x[..start + k*step..]
 * backward: dx[..start + k*step..] += dy[..k..] ---- */

/* Python's clamping of a slice bound (none: the default). */
static int64_t slice_bound(int bound, int64_t n, int64_t none_value)
{
    if (bound == TG_DIM_NONE) return none_value;
    int64_t b = bound;
    if (b < 0) b += n;
    if (b < 0) b = 0;
    if (b > n) b = n;
    return b;
}

static int slice_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    tg_slice_attr *a = attr;
    const tg_tensor *x = in[0];
    char xs[TG_SHAPE_STR_LEN];
    if (x->ndim == 0) return tg_fail(t, "slice: cannot slice a scalar (x=[])"), -1;
    int dim = resolve_dim(t, "slice", "dim", a->dim, x);
    if (dim < 0) return -1;
    if (a->step < 1)
        return tg_fail(t, "slice: step must be >= 1, got %d (x=%s)", a->step, tg_shape_str(x, xs, sizeof xs)), -1;
    int64_t len = x->shape[dim];
    int64_t start = slice_bound(a->start, len, 0), end = slice_bound(a->end, len, len);
    a->dim = dim;
    a->start = (int)start;
    a->end = (int)(end > start ? end : start);
    *ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) shape[k] = x->shape[k];
    shape[dim] = ((int64_t)a->end - a->start + a->step - 1) / a->step;
    return 0;
}

static int slice_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_slice_attr *a = node->attr;
    const tg_tensor *x = node->inputs[0];
    int64_t outer, inner, n = x->shape[a->dim], m = node->out->shape[a->dim];
    split_at(x, a->dim, &outer, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m; k++)
            memcpy(node->out->data + (o * m + k) * inner, x->data + (o * n + a->start + k * a->step) * inner,
                   sizeof(tg_real) * (size_t)inner);
    return 0;
}
static void slice_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    const tg_slice_attr *a = node->attr;
    const tg_tensor *x = node->inputs[0];
    int64_t outer, inner, n = x->shape[a->dim], m = node->out->shape[a->dim];
    split_at(x, a->dim, &outer, &inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < m; k++) {
            tg_real *d = dx + (o * n + a->start + k * a->step) * inner;
            const tg_real *g = node->out->grad + (o * m + k) * inner;
            for (int64_t i = 0; i < inner; i++) d[i] += g[i];
        }
}

/* ---- pad: x:[..., d_{r-k}, ..., d_{r-1}] -> y with d_{r-1-j} + pad[2j] + pad[2j+1]
 * (F.pad order: the last dim first). backward: the pad kernel's adjoint scatter ---- */

static const char *const pad_mode_names[] = {"constant", "reflect", "replicate", "circular", NULL};

/* The kernel's view: outer blocks of the padded trailing dims, lo/hi per padded dim in order. */
typedef struct pad_view { int64_t outer; int nd; int64_t in_shape[TG_MAX_DIMS], lo[TG_MAX_DIMS], hi[TG_MAX_DIMS]; } pad_view;

static pad_view pad_view_of(const tg_tensor *x, const tg_pad_attr *a)
{
    pad_view v = {.outer = 1, .nd = a->pad.n / 2};
    int lead = x->ndim - v.nd;
    for (int i = 0; i < lead; i++) v.outer *= x->shape[i];
    for (int k = 0; k < v.nd; k++) {
        v.in_shape[k] = x->shape[lead + k];
        int j = v.nd - 1 - k; /* pad pairs count from the last dim */
        v.lo[k] = a->pad.v[2 * j];
        v.hi[k] = a->pad.v[2 * j + 1];
    }
    return v;
}

static int pad_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n;
    tg_pad_attr *a = attr;
    const tg_tensor *x = in[0];
    char xs[TG_SHAPE_STR_LEN], ps[TG_SHAPE_STR_LEN];
    tg_shape_str(x, xs, sizeof xs);
    tg_shape_str_raw(a->pad.n, a->pad.v, ps, sizeof ps);
    if (a->pad.n % 2)
        return tg_fail(t, "pad: pad %s has %d values; it needs a (low, high) pair per dim (x=%s)", ps, a->pad.n, xs), -1;
    if (a->pad.n / 2 > x->ndim)
        return tg_fail(t, "pad: pad %s pads %d dims but the input has rank %d (x=%s)", ps, a->pad.n / 2, x->ndim,
                       xs), -1;
    if (a->mode < TG_PAD_CONSTANT || a->mode > TG_PAD_CIRCULAR)
        return tg_fail(t, "pad: unknown mode %d (x=%s)", a->mode, xs), -1;
    const char *mode = pad_mode_names[a->mode];
    pad_view v = pad_view_of(x, a);
    int lead = x->ndim - v.nd;
    *ndim = x->ndim;
    for (int k = 0; k < x->ndim; k++) shape[k] = x->shape[k];
    for (int k = 0; k < v.nd; k++) {
        int dim = lead + k;
        int64_t size = v.in_shape[k], amount[2] = {v.lo[k], v.hi[k]};
        for (int s = 0; s < 2; s++) {
            if (a->mode == TG_PAD_CONSTANT) continue;
            if (amount[s] < 0)
                return tg_fail(t, "pad: negative padding %lld in pad %s needs mode constant, not %s (x=%s)",
                               (long long)amount[s], ps, mode, xs), -1;
            if (a->mode == TG_PAD_REFLECT && amount[s] >= size)
                return tg_fail(t, "pad: reflect padding %lld must be less than the size %lld of dim %d (x=%s)",
                               (long long)amount[s], (long long)size, dim, xs), -1;
            if (a->mode != TG_PAD_REFLECT && amount[s] > 0 && size == 0)
                return tg_fail(t, "pad: %s padding of the empty dim %d (x=%s)", mode, dim, xs), -1;
            if (a->mode == TG_PAD_CIRCULAR && amount[s] > size)
                return tg_fail(t, "pad: circular padding %lld must not exceed the size %lld of dim %d (x=%s)",
                               (long long)amount[s], (long long)size, dim, xs), -1;
        }
        shape[dim] = size + v.lo[k] + v.hi[k];
        if (shape[dim] < 0)
            return tg_fail(t, "pad: pad %s leaves dim %d with negative size %lld (x=%s)", ps, dim,
                           (long long)shape[dim], xs), -1;
    }
    return 0;
}

static int pad_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_pad_attr *a = node->attr;
    pad_view v = pad_view_of(node->inputs[0], a);
    tg_pad_kernel(node->inputs[0]->data, node->out->data, v.outer, v.nd, v.in_shape, v.lo, v.hi,
                  (tg_pad_mode)a->mode, (tg_real)a->value);
    return 0;
}
static void pad_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    const tg_pad_attr *a = node->attr;
    pad_view v = pad_view_of(node->inputs[0], a);
    tg_pad_backward_kernel(node->out->grad, dx, v.outer, v.nd, v.in_shape, v.lo, v.hi, (tg_pad_mode)a->mode);
}

/* ---- descriptors ---- */

static const tg_attr_desc reshape_attrs[] = {{"shape", TG_ATTR_INTS, offsetof(tg_reshape_attr, shape), "()", .nullable = false}};
static const tg_attr_desc flatten_attrs[] = {
    {"start_dim", TG_ATTR_INT, offsetof(tg_flatten_attr, start_dim), "0", .nullable = false},
    {"end_dim", TG_ATTR_INT, offsetof(tg_flatten_attr, end_dim), "-1", .nullable = false},
};
static const tg_attr_desc permute_attrs[] = {{"dims", TG_ATTR_INTS, offsetof(tg_permute_attr, dims), "()", .nullable = false}};
static const tg_attr_desc transpose_attrs[] = {
    {"dim0", TG_ATTR_INT, offsetof(tg_transpose_attr, dim0), "0", .nullable = false},
    {"dim1", TG_ATTR_INT, offsetof(tg_transpose_attr, dim1), "1", .nullable = false},
};
static const tg_attr_desc concat_attrs[] = {{"dim", TG_ATTR_INT, offsetof(tg_concat_attr, dim), "0", .nullable = false}};
static const tg_attr_desc slice_attrs[] = {
    {"dim", TG_ATTR_INT, offsetof(tg_slice_attr, dim), "0", .nullable = false},
    {"start", TG_ATTR_INT, offsetof(tg_slice_attr, start), "none", .nullable = true},
    {"end", TG_ATTR_INT, offsetof(tg_slice_attr, end), "none", .nullable = true},
    {"step", TG_ATTR_INT, offsetof(tg_slice_attr, step), "1", .nullable = false},
};
static const tg_attr_desc pad_attrs[] = {
    {"pad", TG_ATTR_INTS, offsetof(tg_pad_attr, pad), "()", .nullable = false},
    {"mode", TG_ATTR_ENUM, offsetof(tg_pad_attr, mode), "constant", .names = pad_mode_names},
    {"value", TG_ATTR_REAL, offsetof(tg_pad_attr, value), "0", .nullable = false},
};
static const char *const concat_inputs[] = {"tensor0", "tensor1", "tensor2", "tensor3", "tensor4", "tensor5"};
_Static_assert(sizeof concat_inputs / sizeof *concat_inputs == TG_MAX_INPUTS, "one name per concat input");


const tg_op_desc tg_op_desc_reshape = {
    .name = "reshape", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = reshape_attrs, .n_attrs = TG_N_ATTRS(reshape_attrs), .attr_size = sizeof(tg_reshape_attr),
    .shape = reshape_shape, .forward = copy_forward, .backward = copy_backward,
    .unread_inputs = TG_INPUT_BIT(0), .unread_output = true,
    .summary = "same values in a new shape; one -1 is inferred (torch.reshape)"};
const tg_op_desc tg_op_desc_flatten = {
    .name = "flatten", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = flatten_attrs, .n_attrs = TG_N_ATTRS(flatten_attrs), .attr_size = sizeof(tg_flatten_attr),
    .shape = flatten_shape, .forward = copy_forward, .backward = copy_backward,
    .unread_inputs = TG_INPUT_BIT(0), .unread_output = true,
    .summary = "merges dims start_dim..end_dim (torch.flatten)"};
const tg_op_desc tg_op_desc_permute = {
    .name = "permute", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = permute_attrs, .n_attrs = TG_N_ATTRS(permute_attrs), .attr_size = sizeof(tg_permute_attr),
    .shape = permute_shape, .forward = permute_forward, .backward = permute_backward,
    .summary = "reorders dims: output dim i is input dim dims[i] (torch.permute)"};
const tg_op_desc tg_op_desc_transpose = {
    .name = "transpose", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = transpose_attrs, .n_attrs = TG_N_ATTRS(transpose_attrs), .attr_size = sizeof(tg_transpose_attr),
    .shape = transpose_shape, .forward = permute_forward, .backward = permute_backward,
    .summary = "swaps dims dim0 and dim1 (torch.transpose)"};
const tg_op_desc tg_op_desc_concat = {
    .name = "concat", .min_inputs = 1, .max_inputs = TG_MAX_INPUTS, .input_names = concat_inputs,
    .optional_inputs = ((1u << TG_MAX_INPUTS) - 1) & ~1u, /* any count: concat_shape rejects NULLs among the n given */
    .attrs = concat_attrs, .n_attrs = TG_N_ATTRS(concat_attrs), .attr_size = sizeof(tg_concat_attr),
    .shape = concat_shape, .forward = concat_forward, .backward = concat_backward,
    .unread_inputs = (1u << TG_MAX_INPUTS) - 1, .unread_output = true,
    .summary = "joins tensors along dim (torch.cat)"};
const tg_op_desc tg_op_desc_slice = {
    .name = "slice", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = slice_attrs, .n_attrs = TG_N_ATTRS(slice_attrs), .attr_size = sizeof(tg_slice_attr),
    .shape = slice_shape, .forward = slice_forward, .backward = slice_backward,
    .summary = "x[start:end:step] along dim (Python slice semantics, step >= 1)"};
const tg_op_desc tg_op_desc_pad = {
    .name = "pad", .min_inputs = 1, .max_inputs = 1, .input_names = one_input,
    .attrs = pad_attrs, .n_attrs = TG_N_ATTRS(pad_attrs), .attr_size = sizeof(tg_pad_attr),
    .shape = pad_shape, .forward = pad_forward, .backward = pad_backward,
    .summary = "pads the trailing dims: constant, reflect, replicate or circular (F.pad)"};

/* ---- typed functions ---- */

static tg_tensor *apply1(tg_tape *t, int op, tg_tensor *x, const void *attr) { return tg_op_apply(t, op, &x, 1, attr); }

static bool ints_from(tg_tape *t, const char *op, const char *name, tg_ints *out, int n, const int64_t *v)
{
    if (n < 0 || n > TG_MAX_DIMS || (n && !v)) {
        tg_fail(t, "%s: %s has %d values; at most %d are allowed", op, name, n, TG_MAX_DIMS);
        return false;
    }
    out->n = n;
    for (int i = 0; i < n; i++) out->v[i] = v[i];
    return true;
}

tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int64_t *shape)
{
    tg_reshape_attr a;
    if (!t || !ints_from(t, "reshape", "shape", &a.shape, ndim, shape)) return NULL;
    return apply1(t, TG_OP_RESHAPE, x, &a);
}
tg_tensor *tg_flatten(tg_tape *t, tg_tensor *x, int start_dim, int end_dim)
{
    tg_flatten_attr a = {start_dim, end_dim};
    return apply1(t, TG_OP_FLATTEN, x, &a);
}
tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, int ndim, const int *dims)
{
    if (!t) return NULL;
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim && !dims))
        return tg_fail(t, "permute: dims has %d values; at most %d are allowed", ndim, TG_MAX_DIMS);
    tg_permute_attr a = {.dims.n = ndim};
    for (int i = 0; i < ndim; i++) a.dims.v[i] = dims[i];
    return apply1(t, TG_OP_PERMUTE, x, &a);
}
tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int dim0, int dim1)
{
    tg_transpose_attr a = {dim0, dim1};
    return apply1(t, TG_OP_TRANSPOSE, x, &a);
}
tg_tensor *tg_concat(tg_tape *t, tg_tensor *const *xs, int n, int dim)
{
    tg_concat_attr a = {dim};
    return tg_op_apply(t, TG_OP_CONCAT, xs, n, &a);
}
tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int dim, int64_t start, int64_t end, int64_t step)
{
    /* bounds beyond int clamp to the same slice (Python clamps them to the dim anyway) */
    int64_t lim = INT32_MAX;
    tg_slice_attr a = {.dim = dim,
                       .start = (int)(start > lim ? lim : start < -lim ? -lim : start),
                       .end = (int)(end > lim ? lim : end < -lim ? -lim : end),
                       .step = (int)(step > lim ? lim : step < -lim ? -lim : step)};
    return apply1(t, TG_OP_SLICE, x, &a);
}
tg_tensor *tg_pad(tg_tape *t, tg_tensor *x, int n_pad, const int64_t *pad, tg_pad_mode mode, double value)
{
    tg_pad_attr a = {.mode = (int)mode, .value = value};
    if (!t || !ints_from(t, "pad", "pad", &a.pad, n_pad, pad)) return NULL;
    return apply1(t, TG_OP_PAD, x, &a);
}
