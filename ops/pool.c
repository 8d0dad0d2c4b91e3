/* ops/pool.c — the pooling family: max/avg pooling 1-D..3-D, global and adaptive pooling,
 * max-unpool. One shape function and one forward/backward pair serve every variant: each op is a
 * row of pool_kinds (spatial rank, max or average, sliding/adaptive/global windows), and the
 * forward turns the attributes into per-dim window tables for the kernel (ops/kernels/pool.c).
 */
#include "pool.h"

#include <stdio.h>
#include <string.h>

#include "kernels/index_math.h"
#include "kernels/pool.h"
#include "op_internal.h"

typedef enum pool_reduce { POOL_MAX, POOL_AVG, POOL_UNPOOL } pool_reduce;
typedef enum pool_windows { WINDOWS_SLIDING, WINDOWS_ADAPTIVE, WINDOWS_GLOBAL } pool_windows;

typedef struct pool_kind {
    const char *name;
    int rank; /* spatial dims; global pooling: any */
    pool_reduce reduce;
    pool_windows windows;
} pool_kind;

#define POOL_FIRST TG_OP_MAX_POOL1D
static const pool_kind pool_kinds[] = {
    [TG_OP_MAX_POOL1D - POOL_FIRST] = {"max_pool1d", 1, POOL_MAX, WINDOWS_SLIDING},
    [TG_OP_MAX_POOL2D - POOL_FIRST] = {"max_pool2d", 2, POOL_MAX, WINDOWS_SLIDING},
    [TG_OP_MAX_POOL3D - POOL_FIRST] = {"max_pool3d", 3, POOL_MAX, WINDOWS_SLIDING},
    [TG_OP_AVG_POOL1D - POOL_FIRST] = {"avg_pool1d", 1, POOL_AVG, WINDOWS_SLIDING},
    [TG_OP_AVG_POOL2D - POOL_FIRST] = {"avg_pool2d", 2, POOL_AVG, WINDOWS_SLIDING},
    [TG_OP_AVG_POOL3D - POOL_FIRST] = {"avg_pool3d", 3, POOL_AVG, WINDOWS_SLIDING},
    [TG_OP_GLOBAL_AVG_POOL - POOL_FIRST] = {"global_avg_pool", 0, POOL_AVG, WINDOWS_GLOBAL},
    [TG_OP_GLOBAL_MAX_POOL - POOL_FIRST] = {"global_max_pool", 0, POOL_MAX, WINDOWS_GLOBAL},
    [TG_OP_ADAPTIVE_AVG_POOL2D - POOL_FIRST] = {"adaptive_avg_pool2d", 2, POOL_AVG, WINDOWS_ADAPTIVE},
    [TG_OP_ADAPTIVE_MAX_POOL2D - POOL_FIRST] = {"adaptive_max_pool2d", 2, POOL_MAX, WINDOWS_ADAPTIVE},
    [TG_OP_MAX_UNPOOL1D - POOL_FIRST] = {"max_unpool1d", 1, POOL_UNPOOL, WINDOWS_SLIDING},
    [TG_OP_MAX_UNPOOL2D - POOL_FIRST] = {"max_unpool2d", 2, POOL_UNPOOL, WINDOWS_SLIDING},
    [TG_OP_MAX_UNPOOL3D - POOL_FIRST] = {"max_unpool3d", 3, POOL_UNPOOL, WINDOWS_SLIDING},
};
_Static_assert(sizeof pool_kinds / sizeof pool_kinds[0] == TG_OP_MAX_UNPOOL3D - POOL_FIRST + 1,
               "one pool_kinds row per pooling op id");

static const pool_kind *kind_of(const tg_op_desc *d)
{
    for (int i = 0; i < (int)(sizeof pool_kinds / sizeof pool_kinds[0]); i++)
        if (tg_op_get(POOL_FIRST + i) == d) return &pool_kinds[i];
    TG_ASSERT(!"pool op without a pool_kinds row");
    return NULL;
}

/* ---- attributes (PyTorch's names and defaults) ---- */

#define POOL_ATTR(field) offsetof(tg_pool_attr, field)
static const tg_attr_desc max_pool_attrs[] = {
    {"kernel_size", TG_ATTR_INTS, POOL_ATTR(kernel_size), NULL, .nullable = false},
    {"stride", TG_ATTR_INTS, POOL_ATTR(stride), "", .nullable = false},
    {"padding", TG_ATTR_INTS, POOL_ATTR(padding), "0", .nullable = false},
    {"dilation", TG_ATTR_INTS, POOL_ATTR(dilation), "1", .nullable = false},
    {"ceil_mode", TG_ATTR_BOOL, POOL_ATTR(ceil_mode), "0", .nullable = false},
};
static const tg_attr_desc avg_pool_attrs[] = {
    {"kernel_size", TG_ATTR_INTS, POOL_ATTR(kernel_size), NULL, .nullable = false},
    {"stride", TG_ATTR_INTS, POOL_ATTR(stride), "", .nullable = false},
    {"padding", TG_ATTR_INTS, POOL_ATTR(padding), "0", .nullable = false},
    {"ceil_mode", TG_ATTR_BOOL, POOL_ATTR(ceil_mode), "0", .nullable = false},
    {"count_include_pad", TG_ATTR_BOOL, POOL_ATTR(count_include_pad), "1", .nullable = false},
    {"divisor_override", TG_ATTR_INT, POOL_ATTR(divisor_override), "none", .nullable = true},
};
static const tg_attr_desc adaptive_attrs[] = {
    {"output_size", TG_ATTR_INTS, POOL_ATTR(output_size), NULL, .nullable = false},
};
static const tg_attr_desc unpool_attrs[] = {
    {"kernel_size", TG_ATTR_INTS, POOL_ATTR(kernel_size), NULL, .nullable = false},
    {"stride", TG_ATTR_INTS, POOL_ATTR(stride), "", .nullable = false},
    {"padding", TG_ATTR_INTS, POOL_ATTR(padding), "0", .nullable = false},
    {"output_size", TG_ATTR_INTS, POOL_ATTR(output_size), "", .nullable = false},
};

tg_pool_attr tg_pool_attr_kernel(int64_t kernel_size, int64_t stride)
{
    tg_pool_attr a;
    tg_attr_defaults(TG_OP_AVG_POOL2D, &a); /* the widest table: every default set */
    a.dilation = (tg_ints){1, {1}};
    a.kernel_size = (tg_ints){1, {kernel_size}};
    if (stride) a.stride = (tg_ints){1, {stride}};
    return a;
}

/* ---- shapes ---- */

/* Shared by every check: "(x=[1,1,4,4])". */
typedef struct shape_ctx {
    tg_tape *t;
    const pool_kind *k;
    const tg_tensor *x;
    char xs[TG_SHAPE_STR_LEN];
} shape_ctx;

/* A tuple attribute with 1 or `rank` values (none: `fallback`, for zero-initialised C structs),
 * each >= min. A single value stays single (read with tg_ints_at), so DOT prints it as given. */
static int resolve_tuple(shape_ctx *c, const char *name, tg_ints *v, int64_t min, int64_t fallback)
{
    const int rank = c->k->rank;
    if (v->n == 0) *v = (tg_ints){1, {fallback}};
    if (v->n != 1 && v->n != rank) {
        tg_fail(c->t, "%s: %s has %d values, expected 1 or %d (x=%s)", c->k->name, name, v->n, rank, c->xs);
        return -1;
    }
    for (int i = 0; i < rank; i++) {
        int64_t e = tg_ints_at(v, i);
        if (e < min) {
            tg_fail(c->t, "%s: %s must be %s, got %lld (x=%s)", c->k->name, name,
                    min > 0 ? "positive" : "non-negative", (long long)e, c->xs);
            return -1;
        }
    }
    return 0;
}

/* PyTorch's pooling output size; with ceil_mode the last window must start inside the input or
 * the left padding. */
static int64_t sliding_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode)
{
    int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t out = tg_floor_div(num, s) + 1;
    if (ceil_mode && out > 0 && (out - 1) * s >= in + p) out--;
    return out;
}

/* Leading dims before the spatial ones: 2 ([N,C,...]) or 1 ([C,...]); -1 on a wrong rank. */
static int leading_dims(shape_ctx *c)
{
    const int r = c->k->rank, nd = c->x->ndim;
    if (c->k->windows == WINDOWS_GLOBAL) {
        if (nd >= 3) return 2;
        tg_fail(c->t, "%s: input must be [N,C,spatial...] with at least one spatial dim, got %d-D (x=%s)",
                c->k->name, nd, c->xs);
        return -1;
    }
    if (nd == r + 1 || nd == r + 2) return nd - r;
    tg_fail(c->t, "%s: input must be %d-D or %d-D ([N,]C,%s), got %d-D (x=%s)", c->k->name, r + 1, r + 2,
            r == 1 ? "L" : r == 2 ? "H,W" : "D,H,W", nd, c->xs);
    return -1;
}

static int sliding_shape(shape_ctx *c, tg_pool_attr *a, int lead, int64_t *shape)
{
    const char *op = c->k->name;
    if (a->kernel_size.n == 0) {
        tg_fail(c->t, "%s: kernel_size is required (x=%s)", op, c->xs);
        return -1;
    }
    if (a->stride.n == 0) a->stride = a->kernel_size; /* PyTorch: stride defaults to kernel_size */
    if (c->k->reduce != POOL_MAX) a->dilation = (tg_ints){1, {1}};
    if (resolve_tuple(c, "kernel_size", &a->kernel_size, 1, 0) || resolve_tuple(c, "stride", &a->stride, 1, 0) ||
        resolve_tuple(c, "padding", &a->padding, 0, 0) || resolve_tuple(c, "dilation", &a->dilation, 1, 1))
        return -1;
    if (c->k->reduce == POOL_AVG && a->divisor_override == 0) { /* PyTorch: an error, not "none" */
        tg_fail(c->t, "%s: divisor_override must not be 0 (x=%s)", op, c->xs);
        return -1;
    }
    for (int i = 0; i < c->k->rank; i++) {
        const int64_t in = c->x->shape[lead + i], k = tg_ints_at(&a->kernel_size, i),
                      s = tg_ints_at(&a->stride, i), p = tg_ints_at(&a->padding, i),
                      d = tg_ints_at(&a->dilation, i);
        if (c->k->reduce != POOL_UNPOOL && 2 * p > k) {
            tg_fail(c->t, "%s: padding %lld must be at most half of kernel_size %lld (x=%s)", op,
                    (long long)p, (long long)k, c->xs);
            return -1;
        }
        if (c->k->reduce == POOL_UNPOOL) {
            shape[lead + i] = (in - 1) * s - 2 * p + k;
            continue;
        }
        if (in == 0) {
            tg_fail(c->t, "%s: input has an empty spatial dim %d (x=%s)", op, i, c->xs);
            return -1;
        }
        shape[lead + i] = sliding_out_size(in, k, s, p, d, a->ceil_mode);
        if (shape[lead + i] < 1) {
            if (d > 1)
                tg_fail(c->t, "%s: kernel_size %lld with dilation %lld spans %lld, more than the padded input size %lld in spatial dim %d (x=%s)",
                        op, (long long)k, (long long)d, (long long)(d * (k - 1) + 1), (long long)(in + 2 * p), i, c->xs);
            else
                tg_fail(c->t, "%s: kernel_size %lld is larger than the padded input size %lld in spatial dim %d (x=%s)",
                        op, (long long)k, (long long)(in + 2 * p), i, c->xs);
            return -1;
        }
    }
    return 0;
}

/* max_unpool: indices like x; output_size (spatial or full) strictly within stride of the default. */
static int unpool_shape(shape_ctx *c, tg_tensor *const *in, tg_pool_attr *a, int lead, int64_t *shape)
{
    const char *op = c->k->name;
    const tg_tensor *idx = in[1];
    char is[TG_SHAPE_STR_LEN];
    if (!tg_same_shape(c->x, idx)) {
        tg_fail(c->t, "%s: indices must have the input's shape (x=%s indices=%s)", op, c->xs,
                tg_shape_str(idx, is, sizeof is));
        return -1;
    }
    const int r = c->k->rank;
    const tg_ints *o = &a->output_size;
    if (o->n != 0 && o->n != r && o->n != c->x->ndim) {
        tg_fail(c->t, "%s: output_size has %d values, expected %d (spatial) or %d (x=%s)", op, o->n, r,
                c->x->ndim, c->xs);
        return -1;
    }
    for (int i = 0; i < r; i++) {
        const int64_t def = shape[lead + i], s = tg_ints_at(&a->stride, i);
        if (o->n) {
            int64_t want = o->v[o->n - r + i];
            if (want <= def - s || want >= def + s) {
                tg_fail(c->t, "%s: output_size %lld in spatial dim %d must be between %lld and %lld (x=%s)", op,
                        (long long)want, i, (long long)(def - s + 1), (long long)(def + s - 1), c->xs);
                return -1;
            }
            shape[lead + i] = want;
        }
        if (shape[lead + i] < 1) {
            tg_fail(c->t, "%s: output size %lld in spatial dim %d is not positive (x=%s)", op,
                    (long long)shape[lead + i], i, c->xs);
            return -1;
        }
    }
    return 0;
}

/* x:[N,C,*in] -> [N,C,*out] for every pooling kind (see the header for each rule). */
static int pool_shape(const pool_kind *k, tg_tape *t, tg_tensor *const *in, void *attr, int *ndim,
                      int64_t *shape)
{
    tg_pool_attr *a = attr;
    shape_ctx c = {.t = t, .k = k, .x = in[0]};
    tg_shape_str(c.x, c.xs, sizeof c.xs);
    int lead = leading_dims(&c);
    if (lead < 0) return -1;
    *ndim = c.x->ndim;
    memcpy(shape, c.x->shape, sizeof(int64_t) * (size_t)c.x->ndim);
    switch (k->windows) {
    case WINDOWS_GLOBAL:
        for (int i = lead; i < c.x->ndim; i++) {
            if (c.x->shape[i] == 0) {
                tg_fail(t, "%s: input has an empty spatial dim %d (x=%s)", k->name, i - lead, c.xs);
                return -1;
            }
            shape[i] = 1;
        }
        return 0;
    case WINDOWS_ADAPTIVE:
        if (a->output_size.n == 0) {
            tg_fail(t, "%s: output_size is required (x=%s)", k->name, c.xs);
            return -1;
        }
        if (resolve_tuple(&c, "output_size", &a->output_size, 1, 0)) return -1;
        for (int i = 0; i < k->rank; i++) {
            if (c.x->shape[lead + i] == 0) {
                tg_fail(t, "%s: input has an empty spatial dim %d (x=%s)", k->name, i, c.xs);
                return -1;
            }
            shape[lead + i] = tg_ints_at(&a->output_size, i);
        }
        return 0;
    case WINDOWS_SLIDING:
        if (sliding_shape(&c, a, lead, shape)) return -1;
        return k->reduce == POOL_UNPOOL ? unpool_shape(&c, in, a, lead, shape) : 0;
    }
    return -1;
}

/* ---- window tables ---- */

static const int64_t table_zero[1] = {0}, table_one[1] = {1};
static const tg_pool_dim unit_dim = {1, 1, 1, table_zero, table_one, table_one};

/* One spatial dim's tables: output o reads begin[o], begin[o]+step, ... < end[o]; span[o] is the
 * count its average divides by. */
static int dim_tables(tg_tape *t, tg_pool_dim *dim, const pool_kind *k, const tg_pool_attr *a, int i,
                      int64_t in, int64_t out)
{
    int64_t *tab = tg_tape_alloc(t, 3 * (size_t)out * sizeof *tab);
    if (!tab) return -1;
    int64_t *begin = tab, *end = tab + out, *span = tab + 2 * out;
    *dim = (tg_pool_dim){in, out, 1, begin, end, span};
    for (int64_t o = 0; o < out; o++) {
        if (k->windows == WINDOWS_ADAPTIVE) { /* PyTorch's bins: floor(o*in/out) .. ceil((o+1)*in/out) */
            begin[o] = o * in / out;
            end[o] = ((o + 1) * in + out - 1) / out;
            span[o] = end[o] - begin[o];
            continue;
        }
        const int64_t kk = tg_ints_at(&a->kernel_size, i), s = tg_ints_at(&a->stride, i),
                      p = tg_ints_at(&a->padding, i), d = tg_ints_at(&a->dilation, i), start = o * s - p;
        if (k->reduce == POOL_MAX) {
            int64_t b = start;
            if (b < 0) b += (-b + d - 1) / d * d; /* first dilated tap inside the input */
            int64_t e = start + d * (kk - 1) + 1;
            begin[o] = b;
            end[o] = e < in ? e : in;
            span[o] = 1;
            dim->step = d;
        } else { /* avg: the padded window ends at in + p at the latest (PyTorch's pool_size) */
            int64_t e_pad = start + kk < in + p ? start + kk : in + p;
            begin[o] = start > 0 ? start : 0;
            end[o] = e_pad < in ? e_pad : in;
            span[o] = a->count_include_pad ? e_pad - start : end[o] - begin[o];
        }
    }
    return 0;
}

/* The kernel geometry of a pooling node (arena). */
static tg_pool_geom *node_geom(tg_tape *t, const tg_node *node, const pool_kind *k)
{
    const tg_tensor *x = node->inputs[0], *y = node->out;
    const tg_pool_attr *a = node->attr;
    tg_pool_geom *g = tg_tape_alloc(t, sizeof *g);
    if (!g) return NULL;
    const int lead = k->windows == WINDOWS_GLOBAL ? 2 : x->ndim - k->rank;
    g->planes = 1;
    for (int i = 0; i < lead; i++) g->planes *= x->shape[i];
    g->divisor = a && k->reduce == POOL_AVG && k->windows == WINDOWS_SLIDING &&
                         a->divisor_override != TG_DIM_NONE && a->divisor_override != 0
                     ? a->divisor_override
                     : 0;
    for (int i = 0; i < TG_POOL_DIMS; i++) g->dim[i] = unit_dim;
    if (k->windows == WINDOWS_GLOBAL) { /* all spatial dims as one window over the flat plane */
        int64_t plane = 1;
        for (int i = lead; i < x->ndim; i++) plane *= x->shape[i];
        int64_t *tab = tg_tape_alloc(t, 2 * sizeof *tab);
        if (!tab) return NULL;
        tab[0] = 0;
        tab[1] = plane;
        g->dim[TG_POOL_DIMS - 1] = (tg_pool_dim){plane, 1, 1, tab, tab + 1, tab + 1};
        return g;
    }
    for (int i = 0; i < k->rank; i++)
        if (dim_tables(t, &g->dim[TG_POOL_DIMS - k->rank + i], k, a, i, x->shape[lead + i],
                       y->shape[lead + i]))
            return NULL;
    return g;
}

/* ---- max and average pooling ----
 * x:[N,C,*in] -> y:[N,C,*out]
 * max: y = max over the window, idx = first argmax; backward: dx[idx] += dy (routing)
 * avg: y = sum over the window / n;                 backward: dx[window] += dy / n */

static int pool_forward(tg_tape *t, tg_node *node)
{
    const pool_kind *k = kind_of(node->op);
    tg_pool_geom *g = node_geom(t, node, k);
    if (!g) return -1;
    node->saved = g;
    if (k->reduce == POOL_AVG) {
        tg_pool_avg_forward(g, node->inputs[0]->data, node->out->data);
        return 0;
    }
    if (tg_tape_indices_unused(t)) { /* not recording, and nothing will ask for them */
        tg_pool_max_forward(g, node->inputs[0]->data, node->out->data, NULL);
        return 0;
    }
    int64_t *idx = tg_tape_alloc(t, (size_t)(node->out->numel + 1) * sizeof *idx);
    if (!idx) return -1;
    tg_pool_max_forward(g, node->inputs[0]->data, node->out->data, idx);
    node->out->indices = idx;
    return 0;
}

static void pool_backward(tg_tape *t, tg_node *node)
{
    bool accumulate = true; /* a fresh dx is zeroed plane by plane inside the parallel pass */
    tg_real *dx = tg_input_grad_to_write(t, node, 0, &accumulate);
    if (!dx) return;
    const tg_pool_geom *g = node->saved;
    if (kind_of(node->op)->reduce == POOL_AVG) tg_pool_avg_backward(g, node->out->grad, dx, !accumulate);
    else tg_pool_max_backward(g, node->out->grad, node->out->indices, dx, !accumulate);
}

/* ---- max-unpool ----
 * x:[N,C,*in] indices:[N,C,*in] -> y:[N,C,*out], y = 0 but y[idx] = x (later duplicates win)
 * backward: dx[i] = dy[idx[i]] for the writer that survived, 0 for overwritten duplicates (the
 * exact derivative; PyTorch gathers into every duplicate) */

static int unpool_planes(const tg_node *node, int64_t *planes, int64_t *in_plane, int64_t *out_plane)
{
    const tg_tensor *x = node->inputs[0];
    const int lead = x->ndim - kind_of(node->op)->rank;
    *planes = 1;
    for (int i = 0; i < lead; i++) *planes *= x->shape[i];
    *in_plane = *planes ? x->numel / *planes : 0;
    *out_plane = *planes ? node->out->numel / *planes : 0;
    return lead;
}

static int unpool_forward(tg_tape *t, tg_node *node)
{
    int64_t planes, in_plane, out_plane;
    unpool_planes(node, &planes, &in_plane, &out_plane);
    const int64_t *idx = node->inputs[1]->idata;
    for (int64_t i = 0; i < planes * in_plane; i++)
        if (idx[i] < 0 || idx[i] >= out_plane) {
            char xs[TG_SHAPE_STR_LEN], ys[TG_SHAPE_STR_LEN];
            tg_fail(t, "%s: index %lld at position %lld is outside the output plane of %lld values (x=%s output=%s)",
                    node->op->name, (long long)idx[i], (long long)i, (long long)out_plane,
                    tg_shape_str(node->inputs[0], xs, sizeof xs), tg_shape_str(node->out, ys, sizeof ys));
            return -1;
        }
    int64_t *winner = tg_tape_alloc(t, (size_t)(planes * out_plane + 1) * sizeof *winner);
    if (!winner) return -1;
    tg_unpool_forward(planes, in_plane, out_plane, node->inputs[0]->data, idx, winner, node->out->data);
    node->saved = winner;
    return 0;
}

static void unpool_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    int64_t planes, in_plane, out_plane;
    unpool_planes(node, &planes, &in_plane, &out_plane);
    tg_unpool_backward(planes, in_plane, out_plane, node->out->grad, node->saved, dx);
}

/* ---- descriptors ---- */

#define POOL_SHAPE_FN(fn, id)                                                                      \
    static int fn(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape) \
    {                                                                                              \
        (void)n;                                                                                   \
        return pool_shape(&pool_kinds[(id) - POOL_FIRST], t, in, attr, ndim, shape);               \
    }
POOL_SHAPE_FN(max_pool1d_shape, TG_OP_MAX_POOL1D)
POOL_SHAPE_FN(max_pool2d_shape, TG_OP_MAX_POOL2D)
POOL_SHAPE_FN(max_pool3d_shape, TG_OP_MAX_POOL3D)
POOL_SHAPE_FN(avg_pool1d_shape, TG_OP_AVG_POOL1D)
POOL_SHAPE_FN(avg_pool2d_shape, TG_OP_AVG_POOL2D)
POOL_SHAPE_FN(avg_pool3d_shape, TG_OP_AVG_POOL3D)
POOL_SHAPE_FN(global_avg_pool_shape, TG_OP_GLOBAL_AVG_POOL)
POOL_SHAPE_FN(global_max_pool_shape, TG_OP_GLOBAL_MAX_POOL)
POOL_SHAPE_FN(adaptive_avg_pool2d_shape, TG_OP_ADAPTIVE_AVG_POOL2D)
POOL_SHAPE_FN(adaptive_max_pool2d_shape, TG_OP_ADAPTIVE_MAX_POOL2D)
POOL_SHAPE_FN(max_unpool1d_shape, TG_OP_MAX_UNPOOL1D)
POOL_SHAPE_FN(max_unpool2d_shape, TG_OP_MAX_UNPOOL2D)
POOL_SHAPE_FN(max_unpool3d_shape, TG_OP_MAX_UNPOOL3D)

static const char *const pool_inputs[] = {"input"};
static const char *const unpool_inputs[] = {"input", "indices"};

/* keeps: a max pool, whose forward leaves the argmax positions for max_unpool */
#define POOL_DESC(var, op_name, table, keeps, text)                                                \
    const tg_op_desc var = {.name = #op_name, .min_inputs = 1, .max_inputs = 1, .keeps_indices = keeps, \
                            .input_names = pool_inputs, .attrs = table, .n_attrs = TG_N_ATTRS(table), \
                            .attr_size = sizeof(tg_pool_attr), .shape = op_name##_shape,           \
                            .forward = pool_forward, .backward = pool_backward, .unread_inputs = TG_INPUT_BIT(0), \
                            .unread_output = true, .summary = text}
POOL_DESC(tg_op_desc_max_pool1d, max_pool1d, max_pool_attrs, true, "1-D max pooling (gradient routed to the first maximum)");
POOL_DESC(tg_op_desc_max_pool2d, max_pool2d, max_pool_attrs, true, "2-D max pooling (gradient routed to the first maximum)");
POOL_DESC(tg_op_desc_max_pool3d, max_pool3d, max_pool_attrs, true, "3-D max pooling (gradient routed to the first maximum)");
POOL_DESC(tg_op_desc_avg_pool1d, avg_pool1d, avg_pool_attrs, false, "1-D average pooling");
POOL_DESC(tg_op_desc_avg_pool2d, avg_pool2d, avg_pool_attrs, false, "2-D average pooling");
POOL_DESC(tg_op_desc_avg_pool3d, avg_pool3d, avg_pool_attrs, false, "3-D average pooling");
POOL_DESC(tg_op_desc_adaptive_avg_pool2d, adaptive_avg_pool2d, adaptive_attrs, false, "2-D adaptive average pooling to output_size (PyTorch's bins)");
POOL_DESC(tg_op_desc_adaptive_max_pool2d, adaptive_max_pool2d, adaptive_attrs, true, "2-D adaptive max pooling to output_size (PyTorch's bins)");

const tg_op_desc tg_op_desc_global_avg_pool = {
    .name = "global_avg_pool", .min_inputs = 1, .max_inputs = 1, .input_names = pool_inputs,
    .attr_size = 0, .shape = global_avg_pool_shape, .forward = pool_forward, .backward = pool_backward,
    .unread_inputs = TG_INPUT_BIT(0), .unread_output = true,
    .summary = "mean over all spatial dims: [N,C,...] -> [N,C,1,...,1]"};
const tg_op_desc tg_op_desc_global_max_pool = {
    .name = "global_max_pool", .min_inputs = 1, .max_inputs = 1, .input_names = pool_inputs, .keeps_indices = true,
    .attr_size = 0, .shape = global_max_pool_shape, .forward = pool_forward, .backward = pool_backward,
    .unread_inputs = TG_INPUT_BIT(0), .unread_output = true,
    .summary = "maximum over all spatial dims: [N,C,...] -> [N,C,1,...,1]"};

#define UNPOOL_DESC(var, op_name, text)                                                            \
    const tg_op_desc var = {.name = #op_name, .min_inputs = 2, .max_inputs = 2,                     \
                            .input_names = unpool_inputs, .int_inputs = TG_INPUT_BIT(1),           \
                            .attrs = unpool_attrs, .n_attrs = TG_N_ATTRS(unpool_attrs),               \
                            .attr_size = sizeof(tg_pool_attr), .shape = op_name##_shape,           \
                            .forward = unpool_forward, .backward = unpool_backward, .summary = text}
UNPOOL_DESC(tg_op_desc_max_unpool1d, max_unpool1d, "1-D max-unpool: scatter through max_pool1d indices");
UNPOOL_DESC(tg_op_desc_max_unpool2d, max_unpool2d, "2-D max-unpool: scatter through max_pool2d indices");
UNPOOL_DESC(tg_op_desc_max_unpool3d, max_unpool3d, "3-D max-unpool: scatter through max_pool3d indices");

/* ---- typed entry points ---- */

static tg_tensor *pool1(tg_tape *t, int op, tg_tensor *x, const tg_pool_attr *a) { return tg_op_apply(t, op, &x, 1, a); }

tg_tensor *tg_max_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a) { return pool1(t, TG_OP_MAX_POOL1D, x, a); }
tg_tensor *tg_max_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a) { return pool1(t, TG_OP_MAX_POOL2D, x, a); }
tg_tensor *tg_max_pool3d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a) { return pool1(t, TG_OP_MAX_POOL3D, x, a); }
tg_tensor *tg_avg_pool1d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a) { return pool1(t, TG_OP_AVG_POOL1D, x, a); }
tg_tensor *tg_avg_pool2d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a) { return pool1(t, TG_OP_AVG_POOL2D, x, a); }
tg_tensor *tg_avg_pool3d(tg_tape *t, tg_tensor *x, const tg_pool_attr *a) { return pool1(t, TG_OP_AVG_POOL3D, x, a); }
tg_tensor *tg_global_avg_pool(tg_tape *t, tg_tensor *x) { return pool1(t, TG_OP_GLOBAL_AVG_POOL, x, NULL); }
tg_tensor *tg_global_max_pool(tg_tape *t, tg_tensor *x) { return pool1(t, TG_OP_GLOBAL_MAX_POOL, x, NULL); }

static tg_tensor *adaptive(tg_tape *t, int op, tg_tensor *x, int64_t out_h, int64_t out_w)
{
    tg_pool_attr a;
    tg_attr_defaults(op, &a);
    a.output_size = (tg_ints){2, {out_h, out_w}};
    return pool1(t, op, x, &a);
}
tg_tensor *tg_adaptive_avg_pool2d(tg_tape *t, tg_tensor *x, int64_t out_h, int64_t out_w) { return adaptive(t, TG_OP_ADAPTIVE_AVG_POOL2D, x, out_h, out_w); }
tg_tensor *tg_adaptive_max_pool2d(tg_tape *t, tg_tensor *x, int64_t out_h, int64_t out_w) { return adaptive(t, TG_OP_ADAPTIVE_MAX_POOL2D, x, out_h, out_w); }

static tg_tensor *unpool(tg_tape *t, int op, tg_tensor *x, tg_tensor *indices, const tg_pool_attr *a)
{
    tg_tensor *in[2] = {x, indices};
    return tg_op_apply(t, op, in, 2, a);
}
tg_tensor *tg_max_unpool1d(tg_tape *t, tg_tensor *x, tg_tensor *i, const tg_pool_attr *a) { return unpool(t, TG_OP_MAX_UNPOOL1D, x, i, a); }
tg_tensor *tg_max_unpool2d(tg_tape *t, tg_tensor *x, tg_tensor *i, const tg_pool_attr *a) { return unpool(t, TG_OP_MAX_UNPOOL2D, x, i, a); }
tg_tensor *tg_max_unpool3d(tg_tape *t, tg_tensor *x, tg_tensor *i, const tg_pool_attr *a) { return unpool(t, TG_OP_MAX_UNPOOL3D, x, i, a); }

const int64_t *tg_pool_indices(const tg_tensor *max_pool_output)
{
    return max_pool_output ? max_pool_output->indices : NULL;
}

tg_tensor *tg_pool_indices_tensor(tg_tape *t, const tg_tensor *y)
{
    if (!t || !y) return t ? tg_fail(t, "pool_indices: input is NULL") : NULL;
    if (!y->indices) {
        char s[TG_SHAPE_STR_LEN];
        return tg_fail(t, "pool_indices: the tensor has no max-pool indices (x=%s)", tg_shape_str(y, s, sizeof s));
    }
    tg_tensor *idx = tg_tape_tensor(t, TG_INT64, y->ndim, y->shape);
    if (idx && idx->idata) memcpy(idx->idata, y->indices, (size_t)y->numel * sizeof *idx->idata); /* no data: shapes only */
    return idx;
}
