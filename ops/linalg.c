/* ops/linalg.c — matmul and linear, every product through tg_gemm (ops/kernels/gemm.h).
 *
 * Backward products accumulate straight into the gradients (beta = 1), so broadcast batch dims
 * (several output batches reading one input matrix) sum without extra buffers, and no transposed
 * copy is ever made: the transposes are gemm flags.
 */
#include "linalg.h"

#include <stdio.h>
#include <string.h>

#include "kernels/gemm.h"
#include "op_internal.h"

/* ---- matmul ---- */

/* How the batch dims of a:[...,m,k] and b:[...,k,n] map onto the output's batch dims. */
typedef struct matmul_plan {
    int64_t m, k, n;
    int64_t batches;                /* product of the output's batch dims */
    int batch_ndim;
    int64_t batch_shape[TG_MAX_DIMS];
    int64_t a_stride[TG_MAX_DIMS];  /* in matrices; 0 where a is broadcast */
    int64_t b_stride[TG_MAX_DIMS];
} matmul_plan;

/* Batch strides (in matrices) of x for the output batch shape, 0 on broadcast dims. */
static void batch_strides(const tg_tensor *x, const matmul_plan *p, int64_t *stride)
{
    int xb = x->ndim - 2;
    int64_t s = 1;
    for (int i = p->batch_ndim - 1; i >= 0; i--) {
        int j = xb - p->batch_ndim + i;
        int64_t d = j >= 0 ? x->shape[j] : 1;
        stride[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

static void matmul_plan_make(const tg_tensor *a, const tg_tensor *b, const tg_tensor *out, matmul_plan *p)
{
    p->m = a->shape[a->ndim - 2];
    p->k = a->shape[a->ndim - 1];
    p->n = b->shape[b->ndim - 1];
    p->batch_ndim = out->ndim - 2;
    p->batches = 1;
    for (int i = 0; i < p->batch_ndim; i++) {
        p->batch_shape[i] = out->shape[i];
        p->batches *= out->shape[i];
    }
    batch_strides(a, p, p->a_stride);
    batch_strides(b, p, p->b_stride);
}

/* Matrix offsets of a and b for output batch number `batch`. */
static void batch_offsets(const matmul_plan *p, int64_t batch, int64_t *ia, int64_t *ib)
{
    *ia = *ib = 0;
    for (int i = p->batch_ndim - 1; i >= 0; i--) {
        int64_t c = batch % p->batch_shape[i];
        batch /= p->batch_shape[i];
        *ia += c * p->a_stride[i];
        *ib += c * p->b_stride[i];
    }
}

/* b is one matrix for every batch (so a's batches are the output's): the batches stack into the
 * rows of one [batches*m, k] x [k, n] product. */
static bool matmul_rows_fold(const tg_tensor *b)
{
    for (int i = 0; i < b->ndim - 2; i++)
        if (b->shape[i] != 1) return false;
    return true;
}

/* a:[...,m,k] b:[...,k,n] -> y:[broadcast(...),m,n]
 * backward: dA = dY B^T, dB = A^T dY per batch, summed over the batches a broadcast input serves */
static int matmul_shape(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim, int64_t *shape)
{
    (void)n_in, (void)attr;
    const tg_tensor *a = in[0], *b = in[1];
    char sa[TG_SHAPE_STR_LEN], sb[TG_SHAPE_STR_LEN];
    tg_shape_str(a, sa, sizeof sa);
    tg_shape_str(b, sb, sizeof sb);
    if (a->ndim < 2 || b->ndim < 2) {
        tg_fail(t, "matmul: both operands need at least 2 dims (a=%s b=%s)", sa, sb);
        return -1;
    }
    if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2]) {
        tg_fail(t, "matmul: inner dims differ (a=%s b=%s)", sa, sb);
        return -1;
    }
    int nd = (a->ndim > b->ndim ? a->ndim : b->ndim) - 2;
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - 2 - nd + i, ib = b->ndim - 2 - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            tg_fail(t, "matmul: batch dims do not broadcast (a=%s b=%s)", sa, sb);
            return -1;
        }
        shape[i] = da == 1 ? db : da;
    }
    shape[nd] = a->shape[a->ndim - 2];
    shape[nd + 1] = b->shape[b->ndim - 1];
    *ndim = nd + 2;
    return 0;
}

static int matmul_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    tg_tensor *y = node->out;
    matmul_plan p;
    matmul_plan_make(a, b, y, &p);
    if (y->numel == 0) return 0;
    if (p.k == 0) { /* an empty sum */
        memset(y->data, 0, (size_t)y->numel * sizeof *y->data);
        return 0;
    }
    if (matmul_rows_fold(b)) {
        tg_gemm(false, false, p.batches * p.m, p.n, p.k, 1, a->data, p.k, b->data, p.n, 0, y->data, p.n);
        return 0;
    }
    for (int64_t batch = 0; batch < p.batches; batch++) {
        int64_t ia, ib;
        batch_offsets(&p, batch, &ia, &ib);
        tg_gemm(false, false, p.m, p.n, p.k, 1, a->data + ia * p.m * p.k, p.k, b->data + ib * p.k * p.n,
                p.n, 0, y->data + batch * p.m * p.n, p.n);
    }
    return 0;
}

static void matmul_backward(tg_tape *t, tg_node *node)
{
    const tg_tensor *a = node->inputs[0], *b = node->inputs[1];
    const tg_tensor *y = node->out;
    tg_real *da = tg_input_grad(t, node, 0), *db = tg_input_grad(t, node, 1);
    matmul_plan p;
    matmul_plan_make(a, b, y, &p);
    if (p.m * p.k * p.n == 0 || p.batches == 0) return;
    const tg_real *dy = y->grad;
    if (matmul_rows_fold(b)) {
        int64_t rows = p.batches * p.m;
        if (da) tg_gemm(false, true, rows, p.k, p.n, 1, dy, p.n, b->data, p.n, 1, da, p.k);
        if (db) tg_gemm(true, false, p.k, p.n, rows, 1, a->data, p.k, dy, p.n, 1, db, p.n);
        return;
    }
    for (int64_t batch = 0; batch < p.batches; batch++) {
        int64_t ia, ib;
        batch_offsets(&p, batch, &ia, &ib);
        const tg_real *dyb = dy + batch * p.m * p.n;
        if (da)
            tg_gemm(false, true, p.m, p.k, p.n, 1, dyb, p.n, b->data + ib * p.k * p.n, p.n, 1,
                    da + ia * p.m * p.k, p.k);
        if (db)
            tg_gemm(true, false, p.k, p.n, p.m, 1, a->data + ia * p.m * p.k, p.k, dyb, p.n, 1,
                    db + ib * p.k * p.n, p.n);
    }
}

static const char *const matmul_inputs[] = {"input", "other"};
const tg_op_desc tg_op_desc_matmul = {
    .name = "matmul", .min_inputs = 2, .max_inputs = 2, .input_names = matmul_inputs,
    .shape = matmul_shape, .forward = matmul_forward, .backward = matmul_backward,
    .summary = "matrix product, batched with broadcast batch dims (torch.matmul, operands >= 2-D)"};

tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    return tg_op_apply(t, TG_OP_MATMUL, in, 2, NULL);
}

/* ---- linear ---- */

/* x:[...,in] w:[out,in] b:[out] (optional) -> y:[...,out];  y = x W^T + b over rows = numel(x)/in
 * backward: dX = dY W, dW = dY^T X, db = sum over rows of dY */
static int linear_shape(tg_tape *t, tg_tensor *const *in, int n_in, void *attr, int *ndim, int64_t *shape)
{
    (void)n_in, (void)attr;
    const tg_tensor *x = in[0], *w = in[1], *b = in[2];
    char sx[TG_SHAPE_STR_LEN], sw[TG_SHAPE_STR_LEN], sb[TG_SHAPE_STR_LEN];
    tg_shape_str(x, sx, sizeof sx);
    tg_shape_str(w, sw, sizeof sw);
    if (w->ndim != 2) {
        tg_fail(t, "linear: weight must be 2-D [out,in], got %s (x=%s)", sw, sx);
        return -1;
    }
    if (x->ndim < 1) {
        tg_fail(t, "linear: input must have at least 1 dim, got %s (w=%s)", sx, sw);
        return -1;
    }
    if (x->shape[x->ndim - 1] != w->shape[1]) {
        tg_fail(t, "linear: weight has %lld input features but input has %lld (x=%s w=%s)",
                (long long)w->shape[1], (long long)x->shape[x->ndim - 1], sx, sw);
        return -1;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        tg_fail(t, "linear: bias must be [%lld] to match the weight's outputs, got %s (w=%s)",
                (long long)w->shape[0], tg_shape_str(b, sb, sizeof sb), sw);
        return -1;
    }
    *ndim = x->ndim;
    for (int i = 0; i < x->ndim - 1; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = w->shape[0];
    return 0;
}

static int linear_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1], *b = node->inputs[2];
    tg_tensor *y = node->out;
    int64_t in = w->shape[1], out = w->shape[0];
    int64_t rows = out ? y->numel / out : 0;
    if (y->numel == 0) return 0;
    if (b)
        for (int64_t r = 0; r < rows; r++) memcpy(y->data + r * out, b->data, (size_t)out * sizeof *y->data);
    else if (in == 0)
        memset(y->data, 0, (size_t)y->numel * sizeof *y->data);
    if (in > 0) tg_gemm(false, true, rows, out, in, 1, x->data, in, w->data, in, b ? 1 : 0, y->data, out);
    return 0;
}

static void linear_backward(tg_tape *t, tg_node *node)
{
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    const tg_tensor *y = node->out;
    int64_t in = w->shape[1], out = w->shape[0];
    int64_t rows = out ? y->numel / out : 0;
    /* dx = dy W sets every element once: a fresh buffer is written (beta 0), not zeroed and added to */
    bool dx_accumulate = true;
    tg_real *dx = tg_input_grad_to_write(t, node, 0, &dx_accumulate), *dw = tg_input_grad(t, node, 1);
    tg_real *db = tg_input_grad(t, node, 2);
    if (rows * out == 0) {
        if (dx && !dx_accumulate) memset(dx, 0, (size_t)x->numel * sizeof *dx); /* no output: zero */
        return;
    }
    const tg_real *dy = y->grad;
    if (in > 0) {
        if (dx) tg_gemm(false, false, rows, in, out, 1, dy, out, w->data, in, dx_accumulate ? 1 : 0, dx, in);
        if (dw) tg_gemm(true, false, out, in, rows, 1, dy, out, x->data, in, 1, dw, in);
    }
    if (db) {
        double *acc = tg_tape_alloc_zero(t, (size_t)out * sizeof *acc); /* row-order sums in double */
        if (!acc) return;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < out; o++) acc[o] += dy[r * out + o];
        for (int64_t o = 0; o < out; o++) db[o] += (tg_real)acc[o];
    }
}

static const char *const linear_inputs[] = {"input", "weight", "bias"};
const tg_op_desc tg_op_desc_linear = {
    .name = "linear", .min_inputs = 2, .max_inputs = 3, .input_names = linear_inputs,
    .optional_inputs = TG_INPUT_BIT(2), .param_inputs = TG_INPUT_BIT(1) | TG_INPUT_BIT(2),
    .fan_in_inputs = TG_INPUT_BIT(1), .shape = linear_shape, .forward = linear_forward,
    .backward = linear_backward, .unread_output = true, .summary = "y = x W^T + b (torch.nn.functional.linear)"};

tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    tg_tensor *in[3] = {x, w, b};
    return tg_op_apply(t, TG_OP_LINEAR, in, 3, NULL);
}
