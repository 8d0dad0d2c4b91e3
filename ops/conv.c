/* ops/conv.c — conv1d/2d/3d, conv_transpose1d/2d/3d and locally_connected2d (see conv.h): their
 * shape rules, attributes, and which algorithm of the engine (ops/kernels/conv_engine.h) runs.
 *
 * The math (forward, dX as the full convolution of dY with the rotated filter, dW, db) is one
 * comment, above conv_forward and conv_backward, which dispatch it.
 *
 * The algorithms: the reference loops (ops/kernels/conv_reference.c) are these formulas as
 * written; the engine's fast paths compute the same sums (docs/convolution.md says which runs
 * where). `algo=` / `dx_algo=` attributes, or tg_conv_set_algo / tg_conv_set_dx_path, choose.
 * Padding modes other than zeros pad A explicitly (tg_pad_kernel) and run a valid convolution,
 * as PyTorch does; the gradient of the padded A goes back through tg_pad_backward_kernel.
 */
#include "conv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/tape_internal.h"
#include "kernels/conv_engine.h"
#include "kernels/elementwise.h"
#include "kernels/im2col.h"
#include "kernels/pad.h"
#include "kernels/parallel.h"
#include "kernels/threads.h"
#include "op_internal.h"

/* ---- the process-wide algorithm settings ----
 * Each is -1 until set: then its environment variable (a name from its table) decides at first
 * use. Atomic: ops on several threads read them. */
static const char *const algo_names[] = {"auto", "gemm", "winograd", "reference", "shift", "ovec", NULL};
static const char *const dx_path_names[] = {"auto", "rotated", "col2im", "reference", NULL};
#define N_ALGOS ((int)(sizeof algo_names / sizeof algo_names[0]) - 1)
#define N_DX_PATHS ((int)(sizeof dx_path_names / sizeof dx_path_names[0]) - 1)
static _Atomic int conv_algo_setting = -1, conv_dx_path_setting = -1;

static int setting_get(_Atomic int *slot, const char *env_name, const char *const *names)
{
    int value = atomic_load(slot);
    if (value >= 0) return value;
    const char *env = getenv(env_name);
    int from_env = 0; /* auto */
    for (int i = 0; env && names[i]; i++)
        if (strcmp(env, names[i]) == 0) from_env = i;
    /* only an unset value is replaced: a concurrent set wins */
    return atomic_compare_exchange_strong(slot, &value, from_env) ? from_env : value;
}

void tg_conv_set_algo(tg_conv_algo algo) { atomic_store(&conv_algo_setting, (int)algo); }
tg_conv_algo tg_conv_get_algo(void)
{
    return (tg_conv_algo)setting_get(&conv_algo_setting, "TG_CONV_ALGO", algo_names);
}
const char *tg_conv_algo_name(tg_conv_algo algo)
{
    return algo >= 0 && (int)algo < N_ALGOS ? algo_names[algo] : algo_names[0];
}

void tg_conv_set_dx_path(tg_conv_dx_path path) { atomic_store(&conv_dx_path_setting, (int)path); }
tg_conv_dx_path tg_conv_get_dx_path(void)
{
    return (tg_conv_dx_path)setting_get(&conv_dx_path_setting, "TG_CONV_DX_PATH", dx_path_names);
}
const char *tg_conv_dx_path_name(tg_conv_dx_path path)
{
    return path >= 0 && (int)path < N_DX_PATHS ? dx_path_names[path] : dx_path_names[0];
}

/* The engine's enums take the public values as they are. */
_Static_assert((int)TG_CONV_FWD_GEMM == (int)TG_CONV_ALGO_GEMM &&
                   (int)TG_CONV_FWD_WINOGRAD == (int)TG_CONV_ALGO_WINOGRAD &&
                   (int)TG_CONV_FWD_REFERENCE == (int)TG_CONV_ALGO_REFERENCE &&
                   (int)TG_CONV_FWD_SHIFT == (int)TG_CONV_ALGO_SHIFT &&
                   (int)TG_CONV_FWD_OVEC == (int)TG_CONV_ALGO_OVEC,
               "tg_conv_fwd_algo and tg_conv_algo disagree");
_Static_assert((int)TG_CONV_DX_ALGO_ROTATED == (int)TG_CONV_DX_ROTATED &&
                   (int)TG_CONV_DX_ALGO_COL2IM == (int)TG_CONV_DX_COL2IM &&
                   (int)TG_CONV_DX_ALGO_REFERENCE == (int)TG_CONV_DX_REFERENCE,
               "tg_conv_dx_algo and tg_conv_dx_path disagree");

/* ---- attributes and shapes ---- */

typedef struct conv_plan {
    const char *op;
    int rank;
    bool transposed;
    tg_conv_core core;
    int mode;                         /* tg_pad_mode applied to A before a valid core */
    int64_t pad_lo[3], pad_hi[3];     /* explicit padding of A (non-zero modes) */
    int64_t a_shape[3];               /* A's own sizes (before explicit padding) */
    int out_ndim;
    int64_t out_shape[5];
} conv_plan;

static const char *const pad_mode_names[] = {"zeros", "reflect", "replicate", "circular", NULL};

#define CONV_COMMON_ATTRS                                                                   \
    {"stride", TG_ATTR_INTS, offsetof(tg_conv_attr, stride), "1", false, NULL, NULL},     \
    {"dilation", TG_ATTR_INTS, offsetof(tg_conv_attr, dilation), "1", false, NULL, NULL}, \
    {"groups", TG_ATTR_INT, offsetof(tg_conv_attr, groups), "1", false, NULL, NULL}
/* Which algorithm runs (the values are the same whichever; "auto": the process-wide setting) */
#define CONV_ALGO_ATTRS                                                                   \
    {"algo", TG_ATTR_ENUM, offsetof(tg_conv_attr, algo), "auto", .names = algo_names},    \
    {"dx_algo", TG_ATTR_ENUM, offsetof(tg_conv_attr, dx_algo), "auto", .names = dx_path_names}
static const tg_attr_desc conv_attrs[] = {
    CONV_COMMON_ATTRS,
    {"padding", TG_ATTR_INTS, offsetof(tg_conv_attr, padding), "0", .alt_names = "same,valid"},
    {"padding_mode", TG_ATTR_ENUM, offsetof(tg_conv_attr, padding_mode), "zeros", .names = pad_mode_names},
    CONV_ALGO_ATTRS,
};
static const tg_attr_desc conv_transpose_attrs[] = {
    CONV_COMMON_ATTRS,
    {"padding", TG_ATTR_INTS, offsetof(tg_conv_attr, padding), "0", false, NULL, NULL},
    {"output_padding", TG_ATTR_INTS, offsetof(tg_conv_attr, output_padding), "0", false, NULL, NULL},
    CONV_ALGO_ATTRS,
};
static const tg_attr_desc locally_connected_attrs[] = {
    {"stride", TG_ATTR_INTS, offsetof(tg_conv_attr, stride), "1", false, NULL, NULL},
    {"padding", TG_ATTR_INTS, offsetof(tg_conv_attr, padding), "0", false, NULL, NULL},
    {"dilation", TG_ATTR_INTS, offsetof(tg_conv_attr, dilation), "1", false, NULL, NULL},
};

/* Tuple attribute `name` checked for length (1 or rank) and lower bound. */
static int tuple_ok(tg_tape *t, const char *op, const char *name, const tg_ints *v, int rank, int64_t min,
                    const char *shapes)
{
    if (v->n != 1 && v->n != rank) {
        tg_fail(t, "%s: %s needs 1 or %d values, got %d (%s)", op, name, rank, v->n, shapes);
        return -1;
    }
    for (int i = 0; i < v->n; i++)
        if (v->v[i] < min) {
            tg_fail(t, "%s: %s must be >= %lld, got %lld (%s)", op, name, (long long)min, (long long)v->v[i],
                    shapes);
            return -1;
        }
    return 0;
}

/* Validates a convolution's inputs and attributes and fills the plan. 0, or -1 via tg_fail. */
static int conv_plan_make(tg_tape *t, const char *op, int rank, bool transposed, tg_tensor *const *in, int n_in,
                          const tg_conv_attr *a, conv_plan *p)
{
    const tg_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    char sx[TG_SHAPE_STR_LEN], sw[TG_SHAPE_STR_LEN], shapes[2 * TG_SHAPE_STR_LEN + 16];
    tg_shape_str(x, sx, sizeof sx);
    tg_shape_str(w, sw, sizeof sw);
    snprintf(shapes, sizeof shapes, "x=%s w=%s", sx, sw);
    static const char *const layouts[] = {"", "[N,C,L]", "[N,C,H,W]", "[N,C,D,H,W]"};
    memset(p, 0, sizeof *p);
    p->op = op;
    p->rank = rank;
    p->transposed = transposed;
    if (x->ndim != rank + 2) return tg_fail(t, "%s: input must be %d-D %s, got %s", op, rank + 2, layouts[rank], sx), -1;
    if (w->ndim != rank + 2)
        return tg_fail(t, "%s: weight must be %d-D, got %s (x=%s)", op, rank + 2, sw, sx), -1;
    if (tuple_ok(t, op, "stride", &a->stride, rank, 1, shapes) || tuple_ok(t, op, "dilation", &a->dilation, rank, 1, shapes))
        return -1;
    bool same = a->padding.n == 0 && a->padding.v[0] == TG_CONV_PAD_SAME;
    bool valid = a->padding.n == 0 && a->padding.v[0] == TG_CONV_PAD_VALID;
    if (!same && !valid && tuple_ok(t, op, "padding", &a->padding, rank, 0, shapes)) return -1;
    if (transposed && tuple_ok(t, op, "output_padding", &a->output_padding, rank, 0, shapes)) return -1;
    const int64_t groups = a->groups;
    if (groups < 1) return tg_fail(t, "%s: groups must be >= 1, got %lld (%s)", op, (long long)groups, shapes), -1;
    const int64_t c_in = x->shape[1];
    /* weight [CB, CA/g, K]: conv has A = x, transposed has B = x */
    const int64_t cb = transposed ? w->shape[0] : w->shape[0], ca_per_group = w->shape[1];
    if (c_in % groups != 0)
        return tg_fail(t, "%s: groups=%lld does not divide the %lld input channels (%s)", op, (long long)groups,
                       (long long)c_in, shapes), -1;
    if (transposed) {
        if (w->shape[0] != c_in)
            return tg_fail(t, "%s: input has %lld channels but weight expects %lld (%s)", op, (long long)c_in,
                           (long long)w->shape[0], shapes), -1;
    } else {
        if (cb % groups != 0)
            return tg_fail(t, "%s: groups=%lld does not divide the %lld output channels (%s)", op,
                           (long long)groups, (long long)cb, shapes), -1;
        if (ca_per_group * groups != c_in)
            return tg_fail(t, "%s: input has %lld channels but weight expects %lld (%s)", op, (long long)c_in,
                           (long long)(ca_per_group * groups), shapes), -1;
    }
    const int64_t c_out = transposed ? ca_per_group * groups : cb;
    if (b && (b->ndim != 1 || b->shape[0] != c_out)) {
        char sb[TG_SHAPE_STR_LEN];
        return tg_fail(t, "%s: bias must be [%lld], got %s (%s)", op, (long long)c_out, tg_shape_str(b, sb, sizeof sb),
                       shapes), -1;
    }
    if (same && !transposed)
        for (int i = 0; i < rank; i++)
            if (tg_ints_at(&a->stride, i) != 1)
                return tg_fail(t, "%s: padding='same' needs stride 1 (%s)", op, shapes), -1;
    p->mode = transposed ? TG_PAD_CONSTANT : a->padding_mode;
    tg_conv_core *k = &p->core;
    k->n = x->shape[0];
    k->groups = groups;
    k->ca = transposed ? c_out : c_in;
    k->cb = transposed ? c_in : c_out;
    k->geom.channels = k->ca / groups;
    /* "auto" in the attribute defers to the process-wide setting */
    k->algo = (tg_conv_fwd_algo)(a->algo != TG_CONV_ALGO_AUTO ? a->algo : (int)tg_conv_get_algo());
    k->dx_algo = (tg_conv_dx_algo)(a->dx_algo != TG_CONV_DX_AUTO ? a->dx_algo : (int)tg_conv_get_dx_path());
    k->threads = tg_get_threads(); /* read once: the engine sizes and runs each pass with it */
    p->out_ndim = rank + 2;
    p->out_shape[0] = k->n;
    p->out_shape[1] = c_out;
    for (int i = 0; i < 3; i++) {
        tg_conv_geom *g = &k->geom;
        int j = i - (3 - rank); /* spatial dim of the tensors; < 0: a unit leading dim */
        if (j < 0) {
            g->in[i] = g->out[i] = g->kernel[i] = g->stride[i] = g->dilation[i] = 1;
            p->a_shape[i] = 1;
            continue;
        }
        int64_t size = x->shape[2 + j], kern = w->shape[2 + j];
        int64_t s = tg_ints_at(&a->stride, j), d = tg_ints_at(&a->dilation, j), extent = d * (kern - 1) + 1;
        g->kernel[i] = kern;
        g->stride[i] = s;
        g->dilation[i] = d;
        if (transposed) {
            int64_t pad = tg_ints_at(&a->padding, j), op_ = tg_ints_at(&a->output_padding, j);
            if (op_ >= s && op_ >= d)
                return tg_fail(t, "%s: output_padding must be smaller than stride or dilation, got %lld (stride=%lld "
                               "dilation=%lld, %s)", op, (long long)op_, (long long)s, (long long)d, shapes), -1;
            int64_t out = (size - 1) * s - 2 * pad + extent + op_;
            if (out < 1)
                return tg_fail(t, "%s: output size %lld is not positive (%s)", op, (long long)out, shapes), -1;
            g->in[i] = p->a_shape[i] = out;
            g->out[i] = size;
            g->pad[i] = pad;
            p->out_shape[2 + j] = out;
            continue;
        }
        int64_t lo, hi;
        if (same) {
            lo = (extent - 1) / 2;
            hi = extent - 1 - lo;
        } else if (valid) {
            lo = hi = 0;
        } else {
            lo = hi = tg_ints_at(&a->padding, j);
        }
        if (size + lo + hi < extent)
            return tg_fail(t, "%s: kernel (extent %lld) is larger than the padded input (%lld) in spatial dim %d (%s)",
                           op, (long long)extent, (long long)(size + lo + hi), j, shapes), -1;
        if (p->mode == TG_PAD_REFLECT && (lo >= size || hi >= size))
            return tg_fail(t, "%s: reflect padding %lld must be smaller than the input size %lld (%s)", op,
                           (long long)(lo > hi ? lo : hi), (long long)size, shapes), -1;
        if (p->mode == TG_PAD_CIRCULAR && (lo > size || hi > size))
            return tg_fail(t, "%s: circular padding %lld must not exceed the input size %lld (%s)", op,
                           (long long)(lo > hi ? lo : hi), (long long)size, shapes), -1;
        int64_t out = (size + lo + hi - extent) / s + 1;
        p->a_shape[i] = size;
        p->pad_lo[i] = lo;
        p->pad_hi[i] = hi;
        g->out[i] = out;
        p->out_shape[2 + j] = out;
        if (p->mode == TG_PAD_CONSTANT) {
            g->in[i] = size;
            g->pad[i] = lo; /* the high side is implicit: reads past the input are zeros */
        } else {
            g->in[i] = size + lo + hi;
            g->pad[i] = 0;
        }
    }
    return 0;
}

/* ---- conv and conv_transpose ops ---- */

/* The plan of a recorded node: the descriptor says the rank and whether it is transposed. */
static int conv_plan_node(tg_tape *t, tg_node *node, conv_plan *p)
{
    const tg_op_desc *d = node->op;
    return conv_plan_make(t, d->name, d->spatial_dims, d->transposed, node->inputs, node->n_inputs, node->attr, p);
}

/* The explicit padding of A as tg_pad_kernel's arguments (the last `rank` dims of each plane). */
static void pad_args(const conv_plan *p, int64_t *shape, int64_t *lo, int64_t *hi)
{
    for (int j = 0; j < p->rank; j++) {
        int i = 3 - p->rank + j;
        shape[j] = p->a_shape[i];
        lo[j] = p->pad_lo[i];
        hi[j] = p->pad_hi[i];
    }
}

/* A as the core reads it: the input itself, or its explicitly padded copy (arena). */
static const tg_real *padded_a(tg_tape *t, const conv_plan *p, const tg_real *a)
{
    if (p->mode == TG_PAD_CONSTANT) return a;
    const tg_conv_core *k = &p->core;
    tg_real *ap = tg_tape_alloc(t, (size_t)(k->n * k->ca * tg_conv_core_a_size(k)) * sizeof *ap);
    if (!ap) return NULL;
    int64_t shape[3], lo[3], hi[3];
    pad_args(p, shape, lo, hi);
    tg_pad_kernel(a, ap, k->n * k->ca, p->rank, shape, lo, hi, (tg_pad_mode)p->mode, 0);
    return ap;
}

/* The output's bias and the activation fused into the convolution (tg_tape_take_epilogue), as the
 * engine's forward applies them. */
static tg_conv_out_op out_op_of(const tg_tensor *bias, tg_epilogue act)
{
    return (tg_conv_out_op){.bias = bias ? bias->data : NULL, .act = act.on, .act_op = act.op, .act_param = act.param};
}

/* dbias[o] += sum of dY[:, o, :], one channel per task: each image's plane by the elementwise
 * kernels' sum, the planes added in image order in double: the same bits for any thread count. */
typedef struct dbias_job {
    const tg_real *dy;
    tg_real *dbias;
    int64_t batch, channels, plane;
    const tg_elementwise_kernel *sum; /* its vector sum: one chain of double adds ran at its latency
                                         (4-5% of the training step of CNNs with biased convs, 4 Dec) */
} dbias_job;
static void dbias_channels(void *ctx, int64_t begin, int64_t end)
{
    const dbias_job *j = ctx;
    for (int64_t o = begin; o < end; o++) {
        double sum = 0;
        for (int64_t n = 0; n < j->batch; n++) sum += j->sum->sum(j->dy + (n * j->channels + o) * j->plane, j->plane);
        j->dbias[o] += (tg_real)sum;
    }
}

static int conv_shape_for(tg_tape *t, const tg_op_desc *d, tg_tensor *const *in, int n_in, void *attr, int *ndim,
                          int64_t *shape)
{
    conv_plan p;
    if (conv_plan_make(t, d->name, d->spatial_dims, d->transposed, in, n_in, attr, &p)) return -1;
    *ndim = p.out_ndim;
    memcpy(shape, p.out_shape, (size_t)p.out_ndim * sizeof *shape);
    return 0;
}
/* The shape function of one descriptor (a shape function is not told its op). */
#define CONV_SHAPE_FN(opname)                                                                            \
    extern const tg_op_desc tg_op_desc_##opname;                                                         \
    static int opname##_shape(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim,         \
                              int64_t *shape)                                                            \
    {                                                                                                    \
        return conv_shape_for(t, &tg_op_desc_##opname, in, n_in, attr, ndim, shape);                     \
    }
CONV_SHAPE_FN(conv1d)
CONV_SHAPE_FN(conv2d)
CONV_SHAPE_FN(conv3d)
CONV_SHAPE_FN(conv_transpose1d)
CONV_SHAPE_FN(conv_transpose2d)
CONV_SHAPE_FN(conv_transpose3d)

/* The engine's scratch for one pass, from the arena; given back (conv_scratch_done) as soon as
 * the pass has run, so the next op's scratch or tensors reuse it. A zero-byte request would be
 * indistinguishable from a full arena, so at least one byte is asked for. */
#define CONV_MIN_SCRATCH_BYTES 1
static size_t conv_scratch_size(size_t bytes) { return bytes > CONV_MIN_SCRATCH_BYTES ? bytes : CONV_MIN_SCRATCH_BYTES; }
static void *conv_scratch(tg_tape *t, size_t bytes) { return tg_tape_alloc_buffer(t, conv_scratch_size(bytes)); }
static void conv_scratch_done(tg_tape *t, void *ws, size_t bytes) { tg_tape_release(t, ws, conv_scratch_size(bytes)); }

/* dA += conv^T(dB) (overwrite: dA = …) by the engine: the path is chosen (it depends on W), sized,
 * then run. */
static int conv_dx(tg_tape *t, const tg_conv_core *k, const tg_real *db, const tg_real *w, tg_real *da,
                   bool overwrite)
{
    const tg_conv_dx_algo algo = tg_conv_dx_choose(k, w);
    const size_t bytes = tg_conv_dx_scratch_bytes(k, algo);
    void *ws = conv_scratch(t, bytes);
    if (!ws) return -1;
    tg_conv_dx(k, algo, db, w, da, overwrite, ws);
    conv_scratch_done(t, ws, bytes);
    return 0;
}

/* dW += corr(A, dB) by the engine. */
static int conv_dw(tg_tape *t, const tg_conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw)
{
    const size_t bytes = tg_conv_dw_scratch_bytes(k);
    void *ws = conv_scratch(t, bytes);
    if (!ws) return -1;
    tg_conv_dw(k, a, db, dw, ws);
    conv_scratch_done(t, ws, bytes);
    return 0;
}

/* B (+)= conv(A, W) by the engine. */
static int conv_core_forward(tg_tape *t, const tg_conv_core *k, const tg_real *a, const tg_real *w, tg_real *b,
                             bool accumulate, const tg_conv_out_op *out)
{
    const size_t bytes = tg_conv_forward_scratch_bytes(k);
    void *ws = conv_scratch(t, bytes);
    if (!ws) return -1;
    tg_conv_forward(k, a, w, b, accumulate, out, ws);
    conv_scratch_done(t, ws, bytes);
    return 0;
}

/* x:[N,C,in...] w:[O,C/g,k...] b:[O] -> y:[N,O,out...]        (conv)
 * x:[N,C,in...] w:[C,O/g,k...] b:[O] -> y:[N,O,out...]        (conv_transpose)
 *
 * Every convolution here is one "core" convolution from an A-space to a B-space:
 *   B[n, g*Og+o, b] = sum_{c<Cg, k} W[g*Og+o, c, k] * A[n, g*Cg+c, b*stride + k*dilation - pad]
 * with W:[CB, CA/groups, K] (reads outside A are zeros). conv* has A = input and B = output.
 * Its backward, for the loss L:
 *   dA = the full convolution of dB, zero-inserted by the stride (s-1 zeros between entries),
 *        with the 180°-rotated filter with its channels swapped (R[c, o, j] = W[o, c, K-1-j]),
 *        padded by dilation*(K-1) - pad: every product W[o,c,k] dB[b] lands on the A position
 *        b*stride + k*dilation - pad it came from. (The same sum, read per B position, is
 *        col2im(W^T dB).)
 *   dW = the correlation of A with dB:
 *        dW[o, c, k] = sum_{n, b} dB[n, o, b] A[n, c, b*stride + k*dilation - pad]
 *   db = sum of dB over the batch and every position.
 * conv_transpose* has A = its output and B = its input (its weight [C_in, C_out/groups, K] is
 * exactly W), so its forward is the core's dA and its backward is the core's forward (dX) and dW
 * with the roles of A and B exchanged. The core always has three spatial dims (1-D and 2-D get
 * leading dims of size 1), so one implementation serves every rank.
 */
static int conv_forward(tg_tape *t, tg_node *node)
{
    const tg_epilogue act = tg_tape_take_epilogue(t);
    conv_plan p;
    if (conv_plan_node(t, node, &p)) return -1;
    const tg_conv_core *k = &p.core;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1], *bias = node->n_inputs > 2 ? node->inputs[2] : NULL;
    tg_real *y = node->out->data;
    if (node->out->numel == 0) return 0;
    if (p.transposed) { /* y = conv^T(x): the core's data gradient with dB = x */
        if (!x->numel) memset(y, 0, (size_t)node->out->numel * sizeof *y);
        else if (conv_dx(t, k, x->data, w->data, y, true)) return -1;
        const tg_conv_out_op out = out_op_of(bias, act);
        int64_t plane = 1;
        for (int i = 2; i < p.out_ndim; i++) plane *= p.out_shape[i];
        tg_conv_out_op_apply(&out, y, p.out_shape[0] * p.out_shape[1], p.out_shape[1], plane);
    } else { /* the bias and activation by the engine, on each block of output as it is finished */
        const tg_conv_out_op out = out_op_of(bias, act);
        const tg_real *a = padded_a(t, &p, x->data);
        if (!a || conv_core_forward(t, k, a, w->data, y, false, &out)) return -1;
    }
    return 0;
}

static void conv_backward(tg_tape *t, tg_node *node)
{
    conv_plan p;
    if (conv_plan_node(t, node, &p)) return;
    const tg_conv_core *k = &p.core;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    const tg_real *dy = node->out->grad;
    /* dx fresh (a tape tensor's first gradient): written, not added to — the dX passes below zero
     * it per range of images, or the transposed one's forward writes it */
    bool dx_accumulate = true;
    tg_real *dx = tg_input_grad_to_write(t, node, 0, &dx_accumulate), *dw = tg_input_grad(t, node, 1);
    const bool dx_fresh = dx && !dx_accumulate;
    tg_real *dbias = node->n_inputs > 2 ? tg_input_grad(t, node, 2) : NULL;
    if (node->out->numel == 0) {
        if (dx_fresh) memset(dx, 0, (size_t)x->numel * sizeof *dx); /* no output: a zero gradient */
        return;
    }
    if (dbias) {
        dbias_job j = {.dy = dy, .dbias = dbias, .batch = p.out_shape[0], .channels = p.out_shape[1],
                      .sum = tg_elementwise_kernel_get()};
        j.plane = node->out->numel / (j.batch * j.channels);
        tg_parallel_for(j.channels, dbias_channels, &j);
    }
    if (x->numel == 0) return;
    if (p.transposed) { /* A = y-space (dy), B = x-space */
        if (dx && conv_core_forward(t, k, dy, w->data, dx, !dx_fresh, NULL)) return;
        if (dw) conv_dw(t, k, dy, x->data, dw);
        return;
    }
    const tg_real *a = padded_a(t, &p, x->data);
    if (!a) return;
    if (dw && conv_dw(t, k, a, dy, dw)) return;
    if (!dx) return;
    if (p.mode == TG_PAD_CONSTANT) {
        conv_dx(t, k, dy, w->data, dx, dx_fresh);
        return;
    }
    /* other padding modes: dX of the padded input, folded back onto dx (added) */
    tg_real *dap = tg_tape_alloc(t, (size_t)(k->n * k->ca * tg_conv_core_a_size(k)) * sizeof *dap);
    if (!dap || conv_dx(t, k, dy, w->data, dap, true)) return;
    if (dx_fresh) memset(dx, 0, (size_t)x->numel * sizeof *dx);
    int64_t shape[3], lo[3], hi[3];
    pad_args(&p, shape, lo, hi);
    tg_pad_backward_kernel(dap, dx, k->n * k->ca, p.rank, shape, lo, hi, (tg_pad_mode)p.mode);
}

static const char *const conv_inputs[] = {"input", "weight", "bias"};
#define CONV_WEIGHT_AND_BIAS (TG_INPUT_BIT(1) | TG_INPUT_BIT(2))
#define CONV_DESC(opname, rank, transposed_, attrs_, summary_)                                             \
    const tg_op_desc tg_op_desc_##opname = {                                                              \
        .name = #opname, .min_inputs = 2, .max_inputs = 3, .input_names = conv_inputs,                    \
        .optional_inputs = TG_INPUT_BIT(2), .param_inputs = CONV_WEIGHT_AND_BIAS,                         \
        .fan_in_inputs = TG_INPUT_BIT(1), .spatial_dims = rank, .transposed = transposed_,                \
        .attrs = attrs_, .n_attrs = TG_N_ATTRS(attrs_), .attr_size = sizeof(tg_conv_attr),                \
        .shape = opname##_shape, .forward = conv_forward, .backward = conv_backward, .unread_output = true, \
        .summary = summary_}
CONV_DESC(conv1d, 1, false, conv_attrs, "1-D convolution (cross-correlation), torch.nn.functional.conv1d");
CONV_DESC(conv2d, 2, false, conv_attrs, "2-D convolution (cross-correlation), torch.nn.functional.conv2d");
CONV_DESC(conv3d, 3, false, conv_attrs, "3-D convolution (cross-correlation), torch.nn.functional.conv3d");
CONV_DESC(conv_transpose1d, 1, true, conv_transpose_attrs,
          "1-D transposed convolution, torch.nn.functional.conv_transpose1d");
CONV_DESC(conv_transpose2d, 2, true, conv_transpose_attrs,
          "2-D transposed convolution, torch.nn.functional.conv_transpose2d");
CONV_DESC(conv_transpose3d, 3, true, conv_transpose_attrs,
          "3-D transposed convolution, torch.nn.functional.conv_transpose3d");

static tg_tensor *apply3(tg_tape *t, int op, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    tg_tensor *in[3] = {x, w, b};
    return tg_op_apply(t, op, in, 3, a);
}
tg_tensor *tg_conv1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV1D, x, w, b, a);
}
tg_tensor *tg_conv2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV2D, x, w, b, a);
}
tg_tensor *tg_conv3d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV3D, x, w, b, a);
}
tg_tensor *tg_conv_transpose1d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV_TRANSPOSE1D, x, w, b, a);
}
tg_tensor *tg_conv_transpose2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV_TRANSPOSE2D, x, w, b, a);
}
tg_tensor *tg_conv_transpose3d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_CONV_TRANSPOSE3D, x, w, b, a);
}

/* ---- locally connected 2-D ---- */

/* The geometry of a locally connected layer (one im2col over all C channels), validated. */
static int lc_geom(tg_tape *t, tg_tensor *const *in, int n_in, const tg_conv_attr *a, tg_conv_geom *g,
                   int64_t *out_channels)
{
    const char *op = "locally_connected2d";
    const tg_tensor *x = in[0], *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    char sx[TG_SHAPE_STR_LEN], sw[TG_SHAPE_STR_LEN], shapes[2 * TG_SHAPE_STR_LEN + 16];
    tg_shape_str(x, sx, sizeof sx);
    tg_shape_str(w, sw, sizeof sw);
    snprintf(shapes, sizeof shapes, "x=%s w=%s", sx, sw);
    if (x->ndim != 4) return tg_fail(t, "%s: input must be 4-D [N,C,H,W], got %s", op, sx), -1;
    if (w->ndim != 6) return tg_fail(t, "%s: weight must be 6-D [Ho,Wo,O,C,kh,kw], got %s (x=%s)", op, sw, sx), -1;
    if (tuple_ok(t, op, "stride", &a->stride, 2, 1, shapes) || tuple_ok(t, op, "dilation", &a->dilation, 2, 1, shapes) ||
        tuple_ok(t, op, "padding", &a->padding, 2, 0, shapes))
        return -1;
    if (w->shape[3] != x->shape[1])
        return tg_fail(t, "%s: input has %lld channels but weight expects %lld (%s)", op, (long long)x->shape[1],
                       (long long)w->shape[3], shapes), -1;
    memset(g, 0, sizeof *g);
    g->channels = x->shape[1];
    g->in[0] = g->out[0] = g->kernel[0] = g->stride[0] = g->dilation[0] = 1;
    for (int j = 0; j < 2; j++) {
        int i = j + 1;
        int64_t s = tg_ints_at(&a->stride, j), d = tg_ints_at(&a->dilation, j), pad = tg_ints_at(&a->padding, j);
        int64_t extent = d * (w->shape[4 + j] - 1) + 1, size = x->shape[2 + j];
        if (size + 2 * pad < extent)
            return tg_fail(t, "%s: kernel (extent %lld) is larger than the padded input (%lld) in spatial dim %d (%s)",
                           op, (long long)extent, (long long)(size + 2 * pad), j, shapes), -1;
        int64_t out = (size + 2 * pad - extent) / s + 1;
        if (w->shape[j] != out)
            return tg_fail(t, "%s: weight has %lld positions along spatial dim %d but the output has %lld (%s)", op,
                           (long long)w->shape[j], j, (long long)out, shapes), -1;
        g->in[i] = size;
        g->out[i] = out;
        g->kernel[i] = w->shape[4 + j];
        g->stride[i] = s;
        g->dilation[i] = d;
        g->pad[i] = pad;
    }
    *out_channels = w->shape[2];
    if (b && (b->ndim != 3 || b->shape[0] != w->shape[2] || b->shape[1] != w->shape[0] || b->shape[2] != w->shape[1])) {
        char sb[TG_SHAPE_STR_LEN];
        return tg_fail(t, "%s: bias must be [%lld,%lld,%lld], got %s (%s)", op, (long long)w->shape[2],
                       (long long)w->shape[0], (long long)w->shape[1], tg_shape_str(b, sb, sizeof sb), shapes), -1;
    }
    return 0;
}

/* x:[N,C,H,W] w:[Ho,Wo,O,C,kh,kw] b:[O,Ho,Wo] -> y:[N,O,Ho,Wo];
 * y[n,o,p] = sum_j w[p,o,j] col_n[j,p] + b[o,p] with col_n = im2col(x_n), j over (c, kh, kw).
 * backward: dw[p,o,j] += dy[n,o,p] col_n[j,p]; dx_n += col2im(dcol), dcol[j,p] = sum_o w[p,o,j] dy[n,o,p];
 * db = sum_n dy. */
static int locally_connected2d_shape(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim,
                                     int64_t *shape)
{
    tg_conv_geom g;
    int64_t o;
    if (lc_geom(t, in, n_in, attr, &g, &o)) return -1;
    *ndim = 4;
    shape[0] = in[0]->shape[0];
    shape[1] = o;
    shape[2] = g.out[1];
    shape[3] = g.out[2];
    return 0;
}

static int locally_connected2d_forward(tg_tape *t, tg_node *node)
{
    tg_conv_geom g;
    int64_t oc;
    if (lc_geom(t, node->inputs, node->n_inputs, node->attr, &g, &oc)) return -1;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1], *b = node->n_inputs > 2 ? node->inputs[2] : NULL;
    const int64_t pin = tg_conv_geom_in_size(&g), pout = tg_conv_geom_out_size(&g), rows = g.channels * tg_conv_geom_taps(&g);
    tg_real *y = node->out->data;
    tg_real *col = conv_scratch(t, (size_t)(rows * pout) * sizeof *col);
    if (!col) return -1;
    for (int64_t n = 0; n < x->shape[0]; n++) {
        tg_im2col(&g, x->data + n * g.channels * pin, col, pout);
        for (int64_t o = 0; o < oc; o++)
            for (int64_t pos = 0; pos < pout; pos++) {
                const tg_real *wp = w->data + (pos * oc + o) * rows;
                double sum = b ? b->data[o * pout + pos] : 0;
                for (int64_t j = 0; j < rows; j++) sum += (double)wp[j] * col[j * pout + pos];
                y[(n * oc + o) * pout + pos] = (tg_real)sum;
            }
    }
    return 0;
}

static void locally_connected2d_backward(tg_tape *t, tg_node *node)
{
    tg_conv_geom g;
    int64_t oc;
    if (lc_geom(t, node->inputs, node->n_inputs, node->attr, &g, &oc)) return;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    const int64_t pin = tg_conv_geom_in_size(&g), pout = tg_conv_geom_out_size(&g), rows = g.channels * tg_conv_geom_taps(&g);
    const tg_real *dy = node->out->grad;
    tg_real *dx = tg_input_grad(t, node, 0), *dw = tg_input_grad(t, node, 1);
    tg_real *db = node->n_inputs > 2 ? tg_input_grad(t, node, 2) : NULL;
    tg_real *col = conv_scratch(t, (size_t)(rows * pout) * sizeof *col);
    if (!col) return;
    for (int64_t n = 0; n < x->shape[0]; n++) {
        const tg_real *dyn = dy + n * oc * pout;
        if (db)
            for (int64_t i = 0; i < oc * pout; i++) db[i] += dyn[i];
        if (dw) {
            tg_im2col(&g, x->data + n * g.channels * pin, col, pout);
            for (int64_t pos = 0; pos < pout; pos++)
                for (int64_t o = 0; o < oc; o++) {
                    tg_real *dwp = dw + (pos * oc + o) * rows, d = dyn[o * pout + pos];
                    for (int64_t j = 0; j < rows; j++) dwp[j] += d * col[j * pout + pos];
                }
        }
        if (dx) {
            for (int64_t j = 0; j < rows; j++)
                for (int64_t pos = 0; pos < pout; pos++) {
                    double sum = 0;
                    for (int64_t o = 0; o < oc; o++) sum += (double)w->data[(pos * oc + o) * rows + j] * dyn[o * pout + pos];
                    col[j * pout + pos] = (tg_real)sum;
                }
            tg_col2im_add(&g, col, pout, dx + n * g.channels * pin);
        }
    }
}

const tg_op_desc tg_op_desc_locally_connected2d = {
    .name = "locally_connected2d", .min_inputs = 2, .max_inputs = 3, .input_names = conv_inputs,
    .optional_inputs = TG_INPUT_BIT(2), .param_inputs = CONV_WEIGHT_AND_BIAS, .spatial_dims = 2,
    .attrs = locally_connected_attrs, .n_attrs = TG_N_ATTRS(locally_connected_attrs),
    .attr_size = sizeof(tg_conv_attr), .shape = locally_connected2d_shape, .forward = locally_connected2d_forward,
    .backward = locally_connected2d_backward,
    .summary = "2-D locally-connected layer (unshared weights per output position)"};

tg_tensor *tg_locally_connected2d(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b, const tg_conv_attr *a)
{
    return apply3(t, TG_OP_LOCALLY_CONNECTED2D, x, w, b, a);
}
