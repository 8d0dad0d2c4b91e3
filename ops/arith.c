/* ops/arith.c — add, sub, mul, div with NumPy broadcasting; neg, exp, log, sqrt, pow.
 *
 * Broadcasting has one mechanism: a plan that views the output as a few merged dims, with each
 * input's element stride on every dim (0 where that input is broadcast). Size-1 dims are dropped
 * and adjacent dims merged while both inputs stay contiguous across them, so the common cases
 * collapse to a single row loop:
 *   same shape          -> 1 dim, strides (1, 1)
 *   scalar operand      -> 1 dim, strides (1, 0)
 *   trailing (bias)     -> [rows, C] with strides a (C, 1), b (0, 1)
 *   channel bias [C,1,1] on [N,C,H,W] -> [N, C, H*W] with b strides (0, 1, 0)
 * Rows with unit and zero strides (all the plan produces on its last dim) run the vectorised
 * elementwise kernels (kernels/elementwise.h); anything else takes the strided loop.
 * The backward walks the same plan and adds each output element's contribution into the input's
 * gradient at that input's offset, which sums over the broadcast dims; an input of the output's
 * size whose gradient is fresh has it written instead (no zero-fill first).
 */
#include "arith.h"

#include "kernels/elementwise.h"
#include "kernels/parallel.h"
#include "op_internal.h"

#include <tgmath.h> /* exp, log, sqrt in tg_real precision */
#include <stdio.h>

/* ---- broadcasting ---- */

int tg_broadcast_shape(const tg_tensor *a, const tg_tensor *b, int *ndim, int64_t *shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        /* align from the right */
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        shape[i] = da == 1 ? db : da;
    }
    *ndim = nd;
    return 0;
}

typedef struct bcast_plan {
    int ndim; /* >= 1 */
    int64_t shape[TG_MAX_DIMS];
    int64_t stride[2][TG_MAX_DIMS]; /* element strides of input 0 and 1; 0 where broadcast */
} bcast_plan;

static void bcast_plan_make(const tg_tensor *const in[2], const tg_tensor *out, bcast_plan *p)
{
    int64_t stride[2][TG_MAX_DIMS];
    for (int k = 0; k < 2; k++) {
        int64_t s = 1;
        for (int i = out->ndim - 1; i >= 0; i--) {
            int j = in[k]->ndim - out->ndim + i;
            int64_t d = j >= 0 ? in[k]->shape[j] : 1;
            stride[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    p->ndim = 0;
    for (int i = 0; i < out->ndim; i++) {
        if (out->shape[i] == 1) continue;
        int m = p->ndim - 1;
        if (m >= 0 && p->stride[0][m] == stride[0][i] * out->shape[i] &&
            p->stride[1][m] == stride[1][i] * out->shape[i]) {
            /* contiguous across the boundary for both inputs: merge into the previous dim */
            p->shape[m] *= out->shape[i];
            p->stride[0][m] = stride[0][i];
            p->stride[1][m] = stride[1][i];
            continue;
        }
        p->shape[p->ndim] = out->shape[i];
        p->stride[0][p->ndim] = stride[0][i];
        p->stride[1][p->ndim] = stride[1][i];
        p->ndim++;
    }
    if (p->ndim == 0) { /* one element */
        p->ndim = 1;
        p->shape[0] = 1;
        p->stride[0][0] = p->stride[1][0] = 0;
    }
}

/* Calls row(ctx, n, offset_a, stride_a, offset_b, stride_b, offset_out) for the pieces of the
 * plan's rows (its last dim) that cover output elements [begin, end), in output order (the output
 * is contiguous). */
typedef void (*bcast_row_fn)(void *ctx, int64_t n, int64_t ia, int64_t sa, int64_t ib, int64_t sb,
                             int64_t io);
static void bcast_walk(const bcast_plan *p, int64_t begin, int64_t end, bcast_row_fn row, void *ctx)
{
    if (begin >= end) return;
    int last = p->ndim - 1;
    int64_t len = p->shape[last], sa = p->stride[0][last], sb = p->stride[1][last];
    int64_t idx[TG_MAX_DIMS] = {0};
    int64_t ia = 0, ib = 0, col = begin % len, rest = begin / len;
    for (int d = last - 1; d >= 0; d--) { /* multi-index of the first row */
        idx[d] = rest % p->shape[d];
        rest /= p->shape[d];
        ia += idx[d] * p->stride[0][d];
        ib += idx[d] * p->stride[1][d];
    }
    for (int64_t io = begin; io < end;) {
        int64_t n = len - col < end - io ? len - col : end - io;
        row(ctx, n, ia + col * sa, sa, ib + col * sb, sb, io);
        io += n;
        col = 0;
        for (int d = last - 1; d >= 0; d--) { /* odometer over the outer dims */
            ia += p->stride[0][d];
            ib += p->stride[1][d];
            if (++idx[d] < p->shape[d]) break;
            ia -= p->stride[0][d] * p->shape[d];
            ib -= p->stride[1][d] * p->shape[d];
            idx[d] = 0;
        }
    }
}

/* Elementwise work is split into chunks of this many output elements across the thread pool. */
#define ELEMENTWISE_GRAIN 32768

static int64_t chunk_count(int64_t numel) { return (numel + ELEMENTWISE_GRAIN - 1) / ELEMENTWISE_GRAIN; }
/* End (exclusive) of chunk range [.., last) in elements. */
static int64_t chunk_end(int64_t last, int64_t numel)
{
    return last * ELEMENTWISE_GRAIN < numel ? last * ELEMENTWISE_GRAIN : numel;
}

typedef struct bcast_job {
    const bcast_plan *plan;
    int64_t numel;
    bcast_row_fn row;
    void *ctx;
} bcast_job;

static void bcast_chunks(void *vjob, int64_t first, int64_t last)
{
    const bcast_job *j = vjob;
    /* chunk by chunk, so the split is the same whatever range a thread receives */
    for (int64_t c = first; c < last; c++)
        bcast_walk(j->plan, c * ELEMENTWISE_GRAIN, chunk_end(c + 1, j->numel), j->row, j->ctx);
}

/* Walks every output element; in parallel chunks when `parallel` (rows write disjoint memory). */
static void bcast_run(const bcast_plan *p, int64_t numel, bool parallel, bcast_row_fn row, void *ctx)
{
    if (!parallel) {
        bcast_walk(p, 0, numel, row, ctx);
        return;
    }
    bcast_job job = {p, numel, row, ctx};
    tg_parallel_for(chunk_count(numel), bcast_chunks, &job);
}

typedef tg_ew_binary binop; /* the kernels' enum: TG_EW_ADD, TG_EW_SUB, TG_EW_MUL, TG_EW_DIV */
static const char *const binop_names[] = {"add", "sub", "mul", "div"};

/* The row loop for EXPR(x, z) over a[i*sa], b[i*sb] with other strides than 0 and 1. */
#define ROW_LOOP(EXPR)                                                                             \
    for (int64_t i = 0; i < n; i++) {                                                              \
        tg_real x = a[i * sa], z = b[i * sb];                                                      \
        y[i] = (EXPR);                                                                             \
    }

typedef struct binary_ctx {
    const tg_elementwise_kernel *k;
    binop op;
    int which;                /* backward: the input whose gradient is accumulated */
    bool accumulate;          /* backward: dx += (else dx =, a fresh gradient of the output's size) */
    const tg_real *a, *b; /* inputs */
    tg_real *y;           /* forward: the output */
    const tg_real *dy;    /* backward: the output's gradient ... */
    tg_real *dx;          /* ... added into this input's gradient */
} binary_ctx;

static void binary_forward_row(void *vctx, int64_t n, int64_t ia, int64_t sa, int64_t ib, int64_t sb,
                               int64_t io)
{
    binary_ctx *c = vctx;
    const tg_real *a = c->a + ia, *b = c->b + ib;
    tg_real *y = c->y + io;
    if ((sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
        c->k->binary(c->op, a, sa == 0, b, sb == 0, y, n);
        return;
    }
    switch (c->op) {
    case TG_EW_ADD: ROW_LOOP(x + z); break;
    case TG_EW_SUB: ROW_LOOP(x - z); break;
    case TG_EW_MUL: ROW_LOOP(x * z); break;
    case TG_EW_DIV: ROW_LOOP(x / z); break;
    case TG_EW_BINARY_COUNT: break;
    }
}

/* Adds (or writes, without accumulate) the contributions G(g, x, z) of one row into dx (stride sx)
 * where the kernels do not apply. A zero stride means the whole row lands on one element (a
 * broadcast dim): sum it in double first. */
#define GRAD_ROW(G)                                                                                \
    do {                                                                                           \
        if (sx == 0) {                                                                             \
            double acc = 0;                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                      \
                tg_real g = dy[i], x = a[i * sa], z = b[i * sb];                                   \
                (void)x, (void)z;                                                                  \
                acc += (G);                                                                        \
            }                                                                                      \
            dx[0] = c->accumulate ? dx[0] + (tg_real)acc : (tg_real)acc;                           \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                tg_real g = dy[i], x = a[i * sa], z = b[i * sb];                                   \
                (void)x, (void)z;                                                                  \
                dx[i * sx] = c->accumulate ? dx[i * sx] + (G) : (G);                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void binary_backward_row(void *vctx, int64_t n, int64_t ia, int64_t sa, int64_t ib, int64_t sb,
                                int64_t io)
{
    binary_ctx *c = vctx;
    const tg_real *a = c->a + ia, *b = c->b + ib, *dy = c->dy + io;
    tg_real *dx = c->dx + (c->which == 0 ? ia : ib);
    int64_t sx = c->which == 0 ? sa : sb;
    if (sx == 1 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1)) {
        c->k->binary_backward(c->op, c->which, a, sa == 0, b, sb == 0, dy, dx, n, c->accumulate);
        return;
    }
    switch (c->op * 2 + c->which) {
    case TG_EW_ADD * 2 + 0: case TG_EW_ADD * 2 + 1: case TG_EW_SUB * 2 + 0: GRAD_ROW(g); break;
    case TG_EW_SUB * 2 + 1: GRAD_ROW(-g); break;
    case TG_EW_MUL * 2 + 0: GRAD_ROW(g * z); break;
    case TG_EW_MUL * 2 + 1: GRAD_ROW(g * x); break;
    case TG_EW_DIV * 2 + 0: GRAD_ROW(g / z); break;
    case TG_EW_DIV * 2 + 1: GRAD_ROW(-g * x / (z * z)); break;
    }
}

/* a:[...] b:[...] -> y: broadcast shape of a and b */
static int binary_shape(tg_tape *t, binop op, tg_tensor *const *in, int *ndim, int64_t *shape)
{
    if (tg_broadcast_shape(in[0], in[1], ndim, shape) != 0) {
        char sa[TG_SHAPE_STR_LEN], sb[TG_SHAPE_STR_LEN];
        tg_fail(t, "%s: shapes %s and %s do not broadcast", binop_names[op],
                tg_shape_str(in[0], sa, sizeof sa), tg_shape_str(in[1], sb, sizeof sb));
        return -1;
    }
    return 0;
}

static int binary_forward(binop op, tg_node *node)
{
    const tg_tensor *in[2] = {node->inputs[0], node->inputs[1]};
    bcast_plan p;
    bcast_plan_make(in, node->out, &p);
    binary_ctx c = {.k = tg_elementwise_kernel_get(), .op = op, .a = in[0]->data, .b = in[1]->data,
                    .y = node->out->data};
    bcast_run(&p, node->out->numel, true, binary_forward_row, &c);
    return 0;
}

/* add: da = sum_bcast dy, db = sum_bcast dy;   sub: db = -sum_bcast dy
 * mul: da = sum_bcast dy*b, db = sum_bcast dy*a;   div: da = sum_bcast dy/b, db = -sum_bcast dy*a/b^2 */
static void binary_backward(binop op, tg_tape *t, tg_node *node)
{
    const tg_tensor *in[2] = {node->inputs[0], node->inputs[1]};
    if (!node->out->numel) return;
    bcast_plan p;
    bcast_plan_make(in, node->out, &p);
    const tg_real *dy = node->out->grad;
    /* a's gradient of a + b (and of a − b) is dy itself: where the tape allows, a takes dy's buffer
     * instead of a copy (the residual add of every ResNet block: one pass over the activation saved,
     * and one buffer fewer). b's gradient is made first, from dy, before the buffer changes hands. */
    const bool hand_over = (op == TG_EW_ADD || op == TG_EW_SUB) && in[0] != in[1] && in[0]->numel == node->out->numel &&
                           in[1]->numel == node->out->numel;
    for (int step = 0; step < 2; step++) {
        const int k = hand_over ? 1 - step : step;
        /* an input of the output's size gets one contribution per element: written when fresh */
        const bool full = in[k]->numel == node->out->numel;
        bool accumulate = true;
        tg_real *dx = hand_over && k == 0 ? tg_input_grad_over_output(t, node, 0, &accumulate)
                      : full             ? tg_input_grad_to_write(t, node, k, &accumulate)
                                         : tg_input_grad(t, node, k);
        if (!dx || dx == dy) continue; /* dx == dy: handed over, already a's gradient, bit for bit */
        /* add's and sub's gradients never use the operands' values (their descriptors say so, and
         * a model may have freed them): dy stands in, in bounds at every broadcast offset */
        const bool values = op == TG_EW_MUL || op == TG_EW_DIV;
        binary_ctx c = {.k = tg_elementwise_kernel_get(), .op = op, .which = k, .accumulate = accumulate,
                        .a = values ? in[0]->data : dy, .b = values ? in[1]->data : dy, .dy = dy, .dx = dx};
        /* a broadcast input gathers several output elements per gradient element: serial */
        bcast_run(&p, node->out->numel, full, binary_backward_row, &c);
    }
}

#define BINARY_OP(NAME, OP, ID, UNREAD, SUMMARY)                                                   \
    static int NAME##_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim,        \
                            int64_t *shape)                                                        \
    {                                                                                              \
        (void)n, (void)attr;                                                                       \
        return binary_shape(t, OP, in, ndim, shape);                                               \
    }                                                                                              \
    static int NAME##_forward(tg_tape *t, tg_node *node) { (void)t; return binary_forward(OP, node); } \
    static void NAME##_backward(tg_tape *t, tg_node *node) { binary_backward(OP, t, node); }       \
    const tg_op_desc tg_op_desc_##NAME = {                                                         \
        .name = #NAME, .min_inputs = 2, .max_inputs = 2, .input_names = binary_inputs,             \
        .shape = NAME##_shape, .forward = NAME##_forward, .backward = NAME##_backward,             \
        .unread_inputs = (UNREAD) ? TG_INPUT_BITS(0, 1) : 0, .unread_output = true,                \
        .summary = SUMMARY};                                                                       \
    tg_tensor *tg_##NAME(tg_tape *t, tg_tensor *a, tg_tensor *b)                                   \
    {                                                                                              \
        tg_tensor *in[2] = {a, b};                                                                 \
        return tg_op_apply(t, ID, in, 2, NULL);                                                    \
    }

static const char *const binary_inputs[] = {"input", "other"};
BINARY_OP(add, TG_EW_ADD, TG_OP_ADD, true, "a + b with broadcasting (torch.add)")
BINARY_OP(sub, TG_EW_SUB, TG_OP_SUB, true, "a - b with broadcasting (torch.sub)")
BINARY_OP(mul, TG_EW_MUL, TG_OP_MUL, false, "a * b with broadcasting (torch.mul)")
BINARY_OP(div, TG_EW_DIV, TG_OP_DIV, false, "a / b with broadcasting (torch.div)")

/* ---- unary ops: x -> y of the same shape ---- */

static const char *const unary_inputs[] = {"input"};

static int same_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)t, (void)n, (void)attr;
    *ndim = in[0]->ndim;
    for (int i = 0; i < in[0]->ndim; i++) shape[i] = in[0]->shape[i];
    return 0;
}

/* Chunked elementwise loops over [0, numel) for the unary ops, run on the thread pool. */
typedef struct unary_ctx {
    const tg_real *x, *y, *dy;
    tg_real *out; /* y in the forward, dx in the backward */
    const void *attr;
    int64_t numel;
} unary_ctx;


static void unary_run(int64_t numel, tg_range_fn chunk_fn, unary_ctx *c)
{
    c->numel = numel;
    tg_parallel_for(chunk_count(numel), chunk_fn, c);
}

/* Defines a unary op: forward y = FWD(x), backward dx += BWD(g, x, y) with g = dy, and its
 * descriptor. `attr` is in scope for both expressions. */
#define UNARY_OP(NAME, FWD, BWD, ATTRS, N_ATTRS, ATTR_SIZE, POSITIVE, SUMMARY)                     \
    static void NAME##_forward_chunks(void *vctx, int64_t first, int64_t last)                     \
    {                                                                                              \
        const unary_ctx *c = vctx;                                                                 \
        const void *attr = c->attr;                                                                \
        (void)attr;                                                                                \
        for (int64_t i = first * ELEMENTWISE_GRAIN; i < chunk_end(last, c->numel); i++) {         \
            tg_real x = c->x[i];                                                                   \
            c->out[i] = (tg_real)(FWD);                                                            \
        }                                                                                          \
    }                                                                                              \
    static void NAME##_backward_chunks(void *vctx, int64_t first, int64_t last)                    \
    {                                                                                              \
        const unary_ctx *c = vctx;                                                                 \
        const void *attr = c->attr;                                                                \
        (void)attr;                                                                                \
        for (int64_t i = first * ELEMENTWISE_GRAIN; i < chunk_end(last, c->numel); i++) {         \
            tg_real g = c->dy[i], x = c->x[i], y = c->y[i];                                        \
            (void)x, (void)y;                                                                      \
            c->out[i] += (tg_real)(BWD);                                                           \
        }                                                                                          \
    }                                                                                              \
    static int NAME##_forward(tg_tape *t, tg_node *node)                                           \
    {                                                                                              \
        (void)t;                                                                                   \
        unary_ctx c = {.x = node->inputs[0]->data, .out = node->out->data, .attr = node->attr};    \
        unary_run(node->out->numel, NAME##_forward_chunks, &c);                                    \
        return 0;                                                                                  \
    }                                                                                              \
    static void NAME##_backward(tg_tape *t, tg_node *node)                                         \
    {                                                                                              \
        tg_real *dx = tg_input_grad(t, node, 0);                                                   \
        if (!dx) return;                                                                           \
        unary_ctx c = {.x = node->inputs[0]->data, .y = node->out->data, .dy = node->out->grad,    \
                       .out = dx, .attr = node->attr};                                             \
        unary_run(node->out->numel, NAME##_backward_chunks, &c);                                   \
    }                                                                                              \
    const tg_op_desc tg_op_desc_##NAME = {                                                         \
        .name = #NAME, .min_inputs = 1, .max_inputs = 1, .input_names = unary_inputs,              \
        .positive_inputs = POSITIVE, .attrs = ATTRS, .n_attrs = N_ATTRS, .attr_size = ATTR_SIZE,   \
        .shape = same_shape, .forward = NAME##_forward, .backward = NAME##_backward,               \
        .summary = SUMMARY};

/* x -> -x;            backward: dx = -dy */
UNARY_OP(neg, -x, -g, NULL, 0, 0, 0, "-x")
/* x -> exp(x);        backward: dx = dy * y */
UNARY_OP(exp, exp(x), g * y, NULL, 0, 0, 0, "e^x elementwise")
/* x -> log(x), x > 0; backward: dx = dy / x */
UNARY_OP(log, log(x), g / x, NULL, 0, 0, 1u, "natural logarithm elementwise")
/* x -> sqrt(x);       backward: dx = dy / (2 y) */
UNARY_OP(sqrt, sqrt(x), g / (2 * y), NULL, 0, 0, 1u, "square root elementwise")

/* x -> x^p (p a real attribute, torch.pow(x, p)); backward: dx = dy * p * x^(p-1).
 * A non-integer p needs x > 0 (NaN otherwise, as in PyTorch), hence positive_inputs. */
static const tg_attr_desc pow_attrs[] = {
    {"exponent", TG_ATTR_REAL, offsetof(tg_pow_attr, exponent), "2", .nullable = false},
};
/* x^p as torch.pow computes it: p = ±0.5 go through sqrt, which differs from C's pow at -Inf
 * (NaN, not +Inf or 0) and at -0 (rsqrt(-0) = -Inf). */
static double torch_pow(double x, double p)
{
    return p == 0.5 ? sqrt(x) : p == -0.5 ? 1 / sqrt(x) : pow(x, p);
}
#define POW_P (((const tg_pow_attr *)attr)->exponent)
UNARY_OP(pow, torch_pow(x, POW_P), POW_P == 0 ? 0 : g * POW_P * torch_pow(x, POW_P - 1), pow_attrs,
         TG_N_ATTRS(pow_attrs), sizeof(tg_pow_attr), 1u, "x ** exponent elementwise (scalar exponent, default 2)")

tg_tensor *tg_neg(tg_tape *t, tg_tensor *x) { return tg_op_apply(t, TG_OP_NEG, &x, 1, NULL); }
tg_tensor *tg_exp(tg_tape *t, tg_tensor *x) { return tg_op_apply(t, TG_OP_EXP, &x, 1, NULL); }
tg_tensor *tg_log(tg_tape *t, tg_tensor *x) { return tg_op_apply(t, TG_OP_LOG, &x, 1, NULL); }
tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x) { return tg_op_apply(t, TG_OP_SQRT, &x, 1, NULL); }
tg_tensor *tg_pow(tg_tape *t, tg_tensor *x, double exponent)
{
    tg_pow_attr a = {.exponent = exponent};
    return tg_op_apply(t, TG_OP_POW, &x, 1, &a);
}
