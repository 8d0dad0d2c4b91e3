/* ops/norm.c — batch/layer/instance/group norm and FRN on one core, TLU, and BN folding.
 *
 * Each norm op only checks its inputs and describes itself as a tg_norm_view (which values one
 * statistic covers, how weight/bias are indexed, whether to centre) plus where its statistics
 * come from: the batch, or running statistics (eval). One forward and one backward serve all.
 */
#include "norm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "op_internal.h"

typedef enum norm_kind { NORM_BATCH, NORM_LAYER, NORM_INSTANCE, NORM_GROUP, NORM_FRN } norm_kind;

static const char *const norm_names[] = {"batch_norm", "layer_norm", "instance_norm", "group_norm", "frn"};

/* Input positions: batch/instance norm take running stats first (F order), the others do not. */
enum { IN_X = 0, IN_RUNNING_MEAN = 1, IN_RUNNING_VAR = 2, IN_WEIGHT = 3, IN_BIAS = 4, IN_NUM_BATCHES = 5 };
static bool has_running(norm_kind k) { return k == NORM_BATCH || k == NORM_INSTANCE; }
static int weight_index(norm_kind k) { return has_running(k) ? 3 : 1; }

static tg_tensor *input_at(tg_tensor *const *in, int n, int i) { return i < n ? in[i] : NULL; }

/* Product of x's dims from `from` on (1 for none). */
static int64_t dims_product(const tg_tensor *x, int from)
{
    int64_t p = 1;
    for (int i = from; i < x->ndim; i++) p *= x->shape[i];
    return p;
}

/* The normalized_shape layer_norm uses: the attribute, else weight's (or bias's) shape, else the
 * last dim. Writes its rank and dims; returns its element count. */
static int64_t layer_norm_dims(const tg_norm_attr *a, tg_tensor *const *in, int n, const tg_tensor *x,
                               int *rank, int64_t *dims)
{
    const tg_tensor *affine = input_at(in, n, 1) ? input_at(in, n, 1) : input_at(in, n, 2);
    if (a->normalized_shape.n > 0) {
        *rank = a->normalized_shape.n;
        for (int i = 0; i < *rank; i++) dims[i] = a->normalized_shape.v[i];
    } else if (affine) {
        *rank = affine->ndim;
        for (int i = 0; i < *rank; i++) dims[i] = affine->shape[i];
    } else {
        *rank = x->ndim > 0 ? 1 : 0;
        if (*rank) dims[0] = x->shape[x->ndim - 1];
    }
    int64_t p = 1;
    for (int i = 0; i < *rank; i++) p *= dims[i];
    return p;
}

/* What one call normalises over, and with which statistics. */
typedef struct norm_plan {
    tg_norm_view view;
    int64_t channels; /* length of the running statistics (batch/instance norm) */
    bool batch_stats; /* statistics of this input (else: the running ones) */
} norm_plan;

static norm_plan plan_of(norm_kind kind, tg_tensor *const *in, int n, const tg_norm_attr *a)
{
    const tg_tensor *x = in[IN_X];
    norm_plan p = {.batch_stats = true};
    tg_norm_view *v = &p.view;
    v->center = kind != NORM_FRN;
    int64_t batch = x->ndim > 0 ? x->shape[0] : 1, c = x->ndim > 1 ? x->shape[1] : 1;
    int64_t spatial = dims_product(x, 2);
    switch (kind) {
    case NORM_BATCH:
        *v = (tg_norm_view){batch, c, spatial, spatial, c, true, 0, 0};
        p.batch_stats = a->training;
        break;
    case NORM_INSTANCE:
    case NORM_FRN:
        *v = (tg_norm_view){1, batch * c, spatial, spatial, c, kind != NORM_FRN, 0, 0};
        p.batch_stats = kind == NORM_FRN || a->use_input_stats;
        break;
    case NORM_GROUP:
        *v = (tg_norm_view){1, batch * a->num_groups, c / a->num_groups * spatial, spatial, c, true, 0, 0};
        break;
    case NORM_LAYER: {
        int rank;
        int64_t dims[TG_MAX_DIMS];
        int64_t d = layer_norm_dims(a, in, n, x, &rank, dims);
        *v = (tg_norm_view){1, d ? x->numel / d : 0, d, 1, d, true, 0, 0};
        break;
    }
    }
    p.channels = c;
    int wi = weight_index(kind);
    if (!input_at(in, n, wi) && !input_at(in, n, wi + 1)) { /* no affine: one run per row */
        v->affine_run = v->inner;
        v->affine_n = 0;
    }
    return p;
}

/* ---- shape checks (every op): x's shape out, one-line errors ---- */

static int check_vector(tg_tape *t, const char *op, const char *what, const tg_tensor *v,
                        int64_t want, const tg_tensor *x)
{
    if (!v || (v->ndim == 1 && v->shape[0] == want)) return 0;
    char xs[TG_SHAPE_STR_LEN], vs[TG_SHAPE_STR_LEN];
    tg_fail(t, "%s: %s must have %lld values, one per channel, but has shape %s (x=%s %s=%s)", op, what,
            (long long)want, tg_shape_str(v, vs, sizeof vs), tg_shape_str(x, xs, sizeof xs), what,
            vs);
    return -1;
}

static int norm_shape(norm_kind kind, tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim,
                      int64_t *shape)
{
    tg_norm_attr *a = attr;
    const char *op = norm_names[kind];
    const tg_tensor *x = in[IN_X];
    char xs[TG_SHAPE_STR_LEN];
    tg_shape_str(x, xs, sizeof xs);
    int wi = weight_index(kind);
    const tg_tensor *w = input_at(in, n, wi), *b = input_at(in, n, wi + 1);
    if (!(a->eps >= 0)) {
        tg_fail(t, "%s: eps must be >= 0, got %g (x=%s)", op, a->eps, xs);
        return -1;
    }
    if (kind != NORM_LAYER && x->ndim < 2) {
        tg_fail(t, "%s: input must have at least 2 dims [N,C,...] (x=%s)", op, xs);
        return -1;
    }
    int64_t c = kind != NORM_LAYER ? x->shape[1] : 0, spatial = dims_product(x, 2);
    if (kind == NORM_LAYER) {
        int rank;
        int64_t dims[TG_MAX_DIMS];
        layer_norm_dims(a, in, n, x, &rank, dims);
        bool ok = rank >= 1 && rank <= x->ndim;
        for (int i = 0; ok && i < rank; i++) ok = dims[i] == x->shape[x->ndim - rank + i];
        char ns[TG_SHAPE_STR_LEN];
        tg_shape_str_raw(rank, dims, ns, sizeof ns);
        if (!ok) {
            tg_fail(t, "layer_norm: normalized_shape=%s does not match the last dims of the input (x=%s)", ns, xs);
            return -1;
        }
        const tg_tensor *aff[2] = {w, b};
        for (int i = 0; i < 2; i++) {
            if (!aff[i]) continue;
            bool same = aff[i]->ndim == rank;
            for (int j = 0; same && j < rank; j++) same = aff[i]->shape[j] == dims[j];
            if (!same) {
                char s[TG_SHAPE_STR_LEN];
                tg_fail(t, "layer_norm: %s must have the normalized_shape %s (x=%s %s=%s)",
                        i ? "bias" : "weight", ns, xs, i ? "bias" : "weight", tg_shape_str(aff[i], s, sizeof s));
                return -1;
            }
        }
    } else {
        if (check_vector(t, op, "weight", w, c, x) || check_vector(t, op, "bias", b, c, x)) return -1;
    }
    if (kind == NORM_GROUP) {
        if (a->num_groups <= 0) {
            tg_fail(t, "group_norm: num_groups must be positive, got %d (x=%s)", a->num_groups, xs);
            return -1;
        }
        if (c % a->num_groups) {
            tg_fail(t, "group_norm: %lld channels are not divisible by num_groups=%d (x=%s)", (long long)c,
                    a->num_groups, xs);
            return -1;
        }
    }
    if (has_running(kind)) {
        const tg_tensor *rm = input_at(in, n, IN_RUNNING_MEAN), *rv = input_at(in, n, IN_RUNNING_VAR);
        if (check_vector(t, op, "running_mean", rm, c, x) || check_vector(t, op, "running_var", rv, c, x))
            return -1;
        if (!rm != !rv) {
            tg_fail(t, "%s: running_mean and running_var must be given together (x=%s)", op, xs);
            return -1;
        }
        bool batch_stats = kind == NORM_BATCH ? a->training : a->use_input_stats;
        if (!batch_stats && !rm) {
            tg_fail(t, "%s: running_mean and running_var are required when %s=0 (x=%s)", op,
                    kind == NORM_BATCH ? "training" : "use_input_stats", xs);
            return -1;
        }
        if (batch_stats && kind == NORM_BATCH && x->numel > 0 && x->shape[0] * spatial <= 1) {
            tg_fail(t, "batch_norm: expected more than 1 value per channel when training (x=%s)", xs);
            return -1;
        }
        if (batch_stats && kind == NORM_INSTANCE && x->numel > 0 && spatial <= 1) {
            tg_fail(t, "instance_norm: expected more than 1 spatial element when use_input_stats=1 (x=%s)", xs);
            return -1;
        }
        const tg_tensor *nbt = input_at(in, n, IN_NUM_BATCHES);
        if (nbt && nbt->numel != 1) {
            char s[TG_SHAPE_STR_LEN];
            tg_fail(t, "batch_norm: num_batches_tracked must hold one value (x=%s num_batches_tracked=%s)", xs,
                    tg_shape_str(nbt, s, sizeof s));
            return -1;
        }
        if (batch_stats && rm && isnan(a->momentum) && !nbt) {
            tg_fail(t, "%s: momentum=none (cumulative average) needs the num_batches_tracked input (x=%s)", op, xs);
            return -1;
        }
    }
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    return 0;
}

/* ---- forward and backward (every norm)
 * x viewed as [outer, K, inner]; per statistic k over its M values:
 *   μ = mean(x), σ² = mean((x − μ)²)   (frn: μ = 0, σ² = mean(x²)); eval: running μ, σ²
 *   x̂ = (x − μ)/sqrt(σ² + eps),  y = γ·x̂ + β
 * backward (batch statistics): dx = (γ/σ)·(dy − mean(dŷ) − x̂·mean(dŷ·x̂)), dŷ = γ·dy
 *   (frn: no mean(dŷ) term; eval: dx = γ·dy/σ); dγ = Σ dy·x̂, dβ = Σ dy ---- */

/* The mean as PyTorch's batch statistics give it, Σx / M, for a statistic whose merged mean came out
 * non-finite: the shifted two-pass mean turns one ±Inf into NaN (Inf − Inf), while the plain sum
 * keeps +Inf or -Inf (the running mean then holds it, as PyTorch's does). Rare, so not vectorized. */
static double plain_mean(const tg_norm_view *v, const tg_real *x, int64_t k)
{
    double sum = 0;
    for (int64_t p = 0; p < v->outer; p++)
        for (int64_t q = 0; q < v->inner; q++) sum += x[(p * v->stats + k) * v->inner + q];
    return sum / (double)(v->outer * v->inner);
}

/* Every centred statistic whose mean came out non-finite gets plain_mean's; true when one did. */
static bool refit_nonfinite_means(const tg_norm_view *v, const tg_real *x, double *mean, int64_t k_all)
{
    bool refit = false;
    for (int64_t k = 0; k < k_all && v->center; k++)
        if (!isfinite(mean[k])) {
            mean[k] = plain_mean(v, x, k);
            refit = true;
        }
    return refit;
}

typedef struct norm_saved {
    norm_plan plan;
    double *mean, *rstd;
    double count; /* values behind each statistic: M, or the global batch's with a stats reducer */
    bool synced;  /* the statistics came through the stats reducer: so must the backward's sums */
} norm_saved;

/* ---- SyncBatchNorm: the process-wide statistics reducer (ops/norm.h) ---- */

static tg_norm_stats_reducer stats_reducer;
static void *stats_reducer_ctx;

void tg_norm_set_stats_reducer(tg_norm_stats_reducer fn, void *ctx)
{
    stats_reducer = fn;
    stats_reducer_ctx = fn ? ctx : NULL;
}

bool tg_norm_can_fuse_activation(int op)
{
    return op == TG_OP_INSTANCE_NORM || op == TG_OP_GROUP_NORM || (op == TG_OP_BATCH_NORM && !stats_reducer);
}

static void *reducer_failed(tg_tape *t, const tg_tensor *x)
{
    char xs[TG_SHAPE_STR_LEN];
    return tg_fail(t, "batch_norm: the statistics reducer failed (x=%s)", tg_shape_str(x, xs, sizeof xs));
}

/* Local mean and biased variance per channel -> the global ones, through the reducer; *count
 * becomes the global M. -1 (tape error set) when the reducer fails. */
static int sync_forward_stats(tg_tape *t, const tg_tensor *x, const tg_norm_view *v, double *mean, double *var,
                              double *count)
{
    const int64_t c = v->stats;
    double *sums = tg_tape_alloc(t, sizeof(double) * (size_t)(1 + 2 * c));
    if (!sums) return -1;
    const double m = (double)(v->outer * v->inner);
    sums[0] = m;
    for (int64_t k = 0; k < c; k++) {
        sums[1 + k] = m * mean[k];
        sums[1 + c + k] = m * (var[k] + mean[k] * mean[k]);
    }
    if (stats_reducer(stats_reducer_ctx, TG_NORM_SYNC_FORWARD, sums, 1 + 2 * c) != 0) return reducer_failed(t, x), -1;
    *count = sums[0];
    for (int64_t k = 0; k < c; k++) {
        mean[k] = sums[1 + k] / *count;
        /* E[x²] − μ² in double; rounding may leave a tiny negative for a constant channel */
        const double e2 = sums[1 + c + k] / *count - mean[k] * mean[k];
        var[k] = e2 > 0 ? e2 : 0;
    }
    return 0;
}

/* Batch norm's backward with global statistics (x viewed as [N, C, S]):
 *   dx = γ·rstd·(dy − Σdy/M − x̂·Σdy·x̂/M), the sums over the global batch from the reducer;
 *   dγ += Σ dy·x̂, dβ += Σ dy over this process's values. dx is added to when accumulate, else
 *   written (tg_input_grad_to_write: a fresh buffer holds no zeros). */
static void sync_backward(tg_tape *t, const norm_saved *s, const tg_tensor *x, const tg_real *dy, const tg_real *gamma,
                          tg_real *dx, bool accumulate, tg_real *dgamma, tg_real *dbeta)
{
    const tg_norm_view *v = &s->plan.view;
    const int64_t c = v->stats;
    double *sums = tg_tape_alloc_zero(t, sizeof(double) * (size_t)(4 * c));
    if (!sums) return; /* the tape keeps "arena full" */
    double *sdy = sums, *sdyx = sums + c, *local = sums + 2 * c;
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t k = 0; k < c; k++) {
            const tg_real *xr = x->data + (o * c + k) * v->inner, *gr = dy + (o * c + k) * v->inner;
            for (int64_t i = 0; i < v->inner; i++) {
                sdy[k] += gr[i];
                sdyx[k] += gr[i] * (xr[i] - s->mean[k]) * s->rstd[k];
            }
        }
    memcpy(local, sums, sizeof(double) * (size_t)(2 * c));
    if (stats_reducer(stats_reducer_ctx, TG_NORM_SYNC_BACKWARD, sums, 2 * c) != 0) {
        reducer_failed(t, x);
        return;
    }
    for (int64_t k = 0; k < c; k++) {
        if (dgamma) dgamma[k] += (tg_real)local[c + k];
        if (dbeta) dbeta[k] += (tg_real)local[k];
    }
    if (!dx) return;
    for (int64_t o = 0; o < v->outer; o++)
        for (int64_t k = 0; k < c; k++) {
            const int64_t at = (o * c + k) * v->inner;
            const double g = (gamma ? gamma[k] : 1.0) * s->rstd[k], mdy = sdy[k] / s->count, mdyx = sdyx[k] / s->count;
            for (int64_t i = 0; i < v->inner; i++) {
                const double xhat = (x->data[at + i] - s->mean[k]) * s->rstd[k];
                const tg_real d = (tg_real)(g * (dy[at + i] - mdy - xhat * mdyx));
                dx[at + i] = accumulate ? dx[at + i] + d : d;
            }
        }
}

/* r = (1 − f)·r + f·stat averaged over the statistics of each channel (instance norm has N per
 * channel, as PyTorch's), the variance unbiased (M/(M−1)). */
static void update_running(const norm_plan *p, const double *mean, const double *var, double m, tg_real *rm,
                           tg_real *rv, double factor)
{
    int64_t k_all = p->view.stats, per_channel = k_all / p->channels;
    double unbias = m > 1 ? m / (m - 1) : NAN;
    for (int64_t ch = 0; ch < p->channels; ch++) {
        double sm = 0, sv = 0;
        for (int64_t k = ch; k < k_all; k += p->channels) sm += mean[k], sv += var[k];
        rm[ch] = (tg_real)((1 - factor) * rm[ch] + factor * sm / (double)per_channel);
        rv[ch] = (tg_real)((1 - factor) * rv[ch] + factor * sv / (double)per_channel * unbias);
    }
}

static int norm_forward(norm_kind kind, tg_tape *t, tg_node *node)
{
    const tg_norm_attr *a = node->attr;
    tg_tensor *const *in = node->inputs;
    int n = node->n_inputs;
    norm_saved *s = tg_tape_alloc(t, sizeof *s);
    if (!s) return -1;
    s->plan = plan_of(kind, in, n, a);
    /* the activation after this layer, fused by nn (module.c): y = f(z), z never stored; the
     * backward recomputes z from x. Per-channel views only, not SyncBatchNorm's paths. */
    const tg_epilogue act = tg_tape_take_epilogue_recorded(t);
    if (act.on) {
        if (!tg_norm_can_fuse_activation(kind == NORM_BATCH ? TG_OP_BATCH_NORM
                                         : kind == NORM_INSTANCE ? TG_OP_INSTANCE_NORM
                                         : kind == NORM_GROUP ? TG_OP_GROUP_NORM : -1) ||
            (act.op != TG_EW_RELU && act.op != TG_EW_LEAKY_RELU))
            return tg_fail(t, "%s: cannot take a fused activation here (internal)", node->op->name), -1;
        s->plan.view.act = 1 + act.op;
        s->plan.view.act_param = act.param;
        /* messages and DOT name both layers: "batch_norm+relu" */
        const char *an = act.op == TG_EW_RELU ? "relu" : "leaky_relu";
        const size_t len = strlen(node->op_name) + 1 + strlen(an) + 1;
        char *name = tg_tape_alloc(t, len);
        if (!name) return -1;
        snprintf(name, len, "%s+%s", node->op_name, an);
        node->op_name = name;
    }
    const tg_norm_view *v = &s->plan.view;
    int64_t k_all = v->stats;
    s->mean = tg_tape_alloc(t, sizeof(double) * (size_t)(k_all + 1));
    s->rstd = tg_tape_alloc(t, sizeof(double) * (size_t)(k_all + 1));
    if (!s->mean || !s->rstd) return -1;
    node->saved = s;
    s->count = (double)(v->outer * v->inner);
    s->synced = false;
    if (node->out->numel == 0) return 0;
    tg_tensor *rm = has_running(kind) ? input_at(in, n, IN_RUNNING_MEAN) : NULL;
    tg_tensor *rv = has_running(kind) ? input_at(in, n, IN_RUNNING_VAR) : NULL;
    const int wi = weight_index(kind);
    tg_tensor *w = input_at(in, n, wi), *b = input_at(in, n, wi + 1);
    if (s->plan.batch_stats && v->outer == 1 && !rm && !(kind == NORM_BATCH && stats_reducer)) {
        /* each statistic is one row and nothing else wants the variance: one pass over x */
        tg_norm_kernel_stats_forward(v, in[IN_X]->data, a->eps, s->mean, s->rstd, w ? w->data : NULL,
                                     b ? b->data : NULL, node->out->data);
        if (refit_nonfinite_means(v, in[IN_X]->data, s->mean, k_all))
            /* rare (an infinite input): the rows again with the means as the two-pass route has them */
            tg_norm_kernel_forward(v, in[IN_X]->data, s->mean, s->rstd, w ? w->data : NULL, b ? b->data : NULL,
                                   node->out->data);
        return 0;
    }
    if (s->plan.batch_stats) {
        double *var = s->rstd; /* the variance first, then 1/σ in place */
        /* scratch back to the tape at once: a later tensor of the step reuses it */
        const size_t rows_bytes = sizeof(double) * (size_t)(tg_norm_stats_scratch(v) + 1);
        double *rows = tg_tape_alloc_buffer(t, rows_bytes);
        if (!rows) return -1;
        tg_norm_kernel_stats(v, in[IN_X]->data, s->mean, var, rows);
        tg_tape_release(t, rows, rows_bytes);
        refit_nonfinite_means(v, in[IN_X]->data, s->mean, k_all);
        if (kind == NORM_BATCH && stats_reducer) {
            if (sync_forward_stats(t, in[IN_X], v, s->mean, var, &s->count) != 0) return -1;
            s->synced = true;
        }
        if (rm) {
            tg_tensor *nbt = input_at(in, n, IN_NUM_BATCHES);
            if (nbt) nbt->idata[0] += 1;
            double factor = isnan(a->momentum) ? 1.0 / (double)nbt->idata[0] : a->momentum;
            update_running(&s->plan, s->mean, var, s->count, rm->data, rv->data, factor);
        }
        for (int64_t k = 0; k < k_all; k++) s->rstd[k] = 1.0 / sqrt(var[k] + a->eps);
    } else {
        for (int64_t k = 0; k < k_all; k++) {
            int64_t ch = k % s->plan.channels;
            s->mean[k] = rm->data[ch];
            s->rstd[k] = 1.0 / sqrt((double)rv->data[ch] + a->eps);
        }
    }
    tg_norm_kernel_forward(v, in[IN_X]->data, s->mean, s->rstd, w ? w->data : NULL, b ? b->data : NULL,
                           node->out->data);
    return 0;
}

static void norm_backward(norm_kind kind, tg_tape *t, tg_node *node)
{
    const norm_saved *s = node->saved;
    if (node->out->numel == 0) return;
    int wi = weight_index(kind);
    tg_tensor *w = input_at(node->inputs, node->n_inputs, wi);
    bool accumulate; /* a fresh dx is written, not zero-filled and added to */
    const tg_real *dy = node->out->grad;
    tg_real *dx = s->synced ? tg_input_grad_to_write(t, node, IN_X, &accumulate)
                            : tg_input_grad_over_output(t, node, IN_X, &accumulate); /* dx over dy */
    tg_real *dw = wi < node->n_inputs ? tg_input_grad(t, node, wi) : NULL;
    tg_real *db = wi + 1 < node->n_inputs ? tg_input_grad(t, node, wi + 1) : NULL;
    if (s->synced) {
        sync_backward(t, s, node->inputs[IN_X], dy, w ? w->data : NULL, dx, accumulate, dw, db);
        return;
    }
    const size_t scratch_bytes = sizeof(double) * (size_t)(tg_norm_backward_scratch(&s->plan.view) + 1);
    double *scratch = tg_tape_alloc_buffer(t, scratch_bytes);
    if (!scratch) return; /* the tape keeps "arena full" */
    tg_tensor *b = wi + 1 < node->n_inputs ? input_at(node->inputs, node->n_inputs, wi + 1) : NULL;
    tg_norm_kernel_backward(&s->plan.view, node->inputs[IN_X]->data, dy, s->mean, s->rstd,
                            w ? w->data : NULL, b ? b->data : NULL, s->plan.batch_stats, dx, accumulate, dw, db, scratch);
    tg_tape_release(t, scratch, scratch_bytes);
}

/* ---- descriptors ---- */

#define NORM_OP(kind, lower)                                                                             \
    static int lower##_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape) \
    {                                                                                                     \
        return norm_shape(kind, t, in, n, attr, ndim, shape);                                            \
    }                                                                                                     \
    static int lower##_forward(tg_tape *t, tg_node *node) { return norm_forward(kind, t, node); }        \
    static void lower##_backward(tg_tape *t, tg_node *node) { norm_backward(kind, t, node); }

NORM_OP(NORM_BATCH, batch_norm)
NORM_OP(NORM_LAYER, layer_norm)
NORM_OP(NORM_INSTANCE, instance_norm)
NORM_OP(NORM_GROUP, group_norm)
NORM_OP(NORM_FRN, frn)

#define ATTR_EPS(def) {"eps", TG_ATTR_REAL, offsetof(tg_norm_attr, eps), def, .nullable = false}
#define ATTR_MOMENTUM {"momentum", TG_ATTR_REAL, offsetof(tg_norm_attr, momentum), "0.1", .nullable = true}

static const tg_attr_desc batch_norm_attrs[] = {
    {"training", TG_ATTR_BOOL, offsetof(tg_norm_attr, training), "0", .nullable = false},
    ATTR_MOMENTUM,
    ATTR_EPS("1e-5"),
};
static const tg_attr_desc instance_norm_attrs[] = {
    {"use_input_stats", TG_ATTR_BOOL, offsetof(tg_norm_attr, use_input_stats), "1", .nullable = false},
    ATTR_MOMENTUM,
    ATTR_EPS("1e-5"),
};
static const tg_attr_desc layer_norm_attrs[] = {
    {"normalized_shape", TG_ATTR_INTS, offsetof(tg_norm_attr, normalized_shape), "", .nullable = false},
    ATTR_EPS("1e-5"),
};
static const tg_attr_desc group_norm_attrs[] = {
    {"num_groups", TG_ATTR_INT, offsetof(tg_norm_attr, num_groups), "0", .nullable = false},
    ATTR_EPS("1e-5"),
};
static const tg_attr_desc frn_attrs[] = {ATTR_EPS("1e-6")};

static const char *const running_inputs[] = {"input", "running_mean", "running_var", "weight", "bias",
                                             "num_batches_tracked"};
static const char *const affine_inputs[] = {"input", "weight", "bias"};

#define RUNNING_BITS (TG_INPUT_BIT(IN_RUNNING_MEAN) | TG_INPUT_BIT(IN_RUNNING_VAR))
#define RUNNING_AFFINE_BITS (TG_INPUT_BIT(IN_WEIGHT) | TG_INPUT_BIT(IN_BIAS))
#define AFFINE_BITS TG_INPUT_BITS(1, 2) /* affine_inputs: weight, bias */

const tg_op_desc tg_op_desc_batch_norm = {
    .name = "batch_norm", .min_inputs = 1, .max_inputs = 6, .input_names = running_inputs,
    .optional_inputs = TG_INPUT_BITS(IN_RUNNING_MEAN, IN_NUM_BATCHES), .int_inputs = TG_INPUT_BIT(IN_NUM_BATCHES),
    .param_inputs = RUNNING_AFFINE_BITS,
    .nograd_inputs = RUNNING_BITS | (1u << IN_NUM_BATCHES),
    .updated_inputs = RUNNING_BITS | (1u << IN_NUM_BATCHES), .positive_inputs = 1u << IN_RUNNING_VAR,
    .attrs = batch_norm_attrs, .n_attrs = TG_N_ATTRS(batch_norm_attrs), .attr_size = sizeof(tg_norm_attr),
    .shape = batch_norm_shape, .forward = batch_norm_forward, .backward = batch_norm_backward, .unread_output = true,
    .summary = "batch normalization over N and the spatial dims, per channel (running stats updated)"};
const tg_op_desc tg_op_desc_instance_norm = {
    .name = "instance_norm", .min_inputs = 1, .max_inputs = 5, .input_names = running_inputs,
    .optional_inputs = TG_INPUT_BITS(IN_RUNNING_MEAN, IN_BIAS), .param_inputs = RUNNING_AFFINE_BITS,
    .nograd_inputs = RUNNING_BITS, .updated_inputs = RUNNING_BITS,
    .positive_inputs = 1u << IN_RUNNING_VAR, .attrs = instance_norm_attrs, .n_attrs = TG_N_ATTRS(instance_norm_attrs),
    .attr_size = sizeof(tg_norm_attr), .shape = instance_norm_shape, .forward = instance_norm_forward,
    .backward = instance_norm_backward, .unread_output = true,
    .summary = "instance normalization per sample and channel over the spatial dims"};
const tg_op_desc tg_op_desc_layer_norm = {
    .name = "layer_norm", .min_inputs = 1, .max_inputs = 3, .input_names = affine_inputs,
    .optional_inputs = AFFINE_BITS, .param_inputs = AFFINE_BITS, .attrs = layer_norm_attrs,
    .n_attrs = TG_N_ATTRS(layer_norm_attrs), .attr_size = sizeof(tg_norm_attr),
    .shape = layer_norm_shape, .forward = layer_norm_forward, .backward = layer_norm_backward, .unread_output = true,
    .summary = "layer normalization over the last dims (normalized_shape), elementwise affine"};
const tg_op_desc tg_op_desc_group_norm = {
    .name = "group_norm", .min_inputs = 1, .max_inputs = 3, .input_names = affine_inputs,
    .optional_inputs = AFFINE_BITS, .param_inputs = AFFINE_BITS, .attrs = group_norm_attrs,
    .n_attrs = TG_N_ATTRS(group_norm_attrs), .attr_size = sizeof(tg_norm_attr),
    .shape = group_norm_shape, .forward = group_norm_forward, .backward = group_norm_backward, .unread_output = true,
    .summary = "group normalization: per sample over groups of channels, per-channel affine"};
const tg_op_desc tg_op_desc_frn = {
    .name = "frn", .min_inputs = 1, .max_inputs = 3, .input_names = affine_inputs,
    .optional_inputs = AFFINE_BITS, .param_inputs = AFFINE_BITS, .attrs = frn_attrs,
    .n_attrs = TG_N_ATTRS(frn_attrs), .attr_size = sizeof(tg_norm_attr),
    .shape = frn_shape, .forward = frn_forward, .backward = frn_backward, .unread_output = true,
    .summary = "filter response normalization x/sqrt(mean(x^2)+eps) per sample and channel"};

/* ---- tlu: x:[N,C,*] tau:[C] -> y = max(x, τ[c])
 * backward: dy goes to x where x > τ, to τ where x < τ, half to each on a tie, all of it to both
 * where either is NaN (torch.maximum; y is NaN there) ---- */

static int tlu_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n, (void)attr;
    const tg_tensor *x = in[0];
    char xs[TG_SHAPE_STR_LEN];
    if (x->ndim < 2) {
        tg_fail(t, "tlu: input must have at least 2 dims [N,C,...] (x=%s)", tg_shape_str(x, xs, sizeof xs));
        return -1;
    }
    if (check_vector(t, "tlu", "tau", in[1], x->shape[1], x)) return -1;
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    return 0;
}

static int tlu_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_tensor *x = node->inputs[0], *tau = node->inputs[1];
    int64_t c = x->shape[1], spatial = dims_product(x, 2);
    for (int64_t i = 0; i < x->numel; i++) {
        tg_real th = tau->data[(i / spatial) % c];
        node->out->data[i] = x->data[i] > th || isnan(x->data[i]) ? x->data[i] : th; /* NaN wins */
    }
    return 0;
}

static void tlu_backward(tg_tape *t, tg_node *node)
{
    const tg_tensor *x = node->inputs[0], *tau = node->inputs[1];
    tg_real *dx = tg_input_grad(t, node, 0), *dtau = tg_input_grad(t, node, 1);
    const tg_real *dy = node->out->grad;
    int64_t c = x->shape[1], spatial = dims_product(x, 2);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t ch = (i / spatial) % c;
        tg_real xi = x->data[i], th = tau->data[ch];
        /* torch.maximum's rule: ties split dy in halves; a NaN on either side gives dy to both */
        if (dx) dx[i] += xi < th ? 0 : xi == th ? dy[i] / 2 : dy[i];
        if (dtau) dtau[ch] += xi > th ? 0 : xi == th ? dy[i] / 2 : dy[i];
    }
}

static const char *const tlu_inputs[] = {"input", "tau"};
const tg_op_desc tg_op_desc_tlu = {
    .name = "tlu", .min_inputs = 2, .max_inputs = 2, .input_names = tlu_inputs,
    .param_inputs = TG_INPUT_BIT(1), .shape = tlu_shape,
    .forward = tlu_forward, .backward = tlu_backward,
    .summary = "thresholded linear unit max(x, tau[c]) (pairs with frn)"};

/* ---- typed entry points ---- */

tg_tensor *tg_batch_norm(tg_tape *t, tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                         tg_tensor *weight, tg_tensor *bias, const tg_norm_attr *attr)
{
    tg_tensor *in[5] = {x, running_mean, running_var, weight, bias};
    return tg_op_apply(t, TG_OP_BATCH_NORM, in, 5, attr);
}
tg_tensor *tg_batch_norm_tracked(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                                 tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                                 tg_tensor *num_batches_tracked, const tg_norm_attr *attr)
{
    tg_tensor *in[6] = {x, running_mean, running_var, weight, bias, num_batches_tracked};
    return tg_op_apply(t, TG_OP_BATCH_NORM, in, 6, attr);
}
tg_tensor *tg_layer_norm(tg_tape *t, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                         const tg_norm_attr *attr)
{
    tg_tensor *in[3] = {x, weight, bias};
    return tg_op_apply(t, TG_OP_LAYER_NORM, in, 3, attr);
}
tg_tensor *tg_instance_norm(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                            tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                            const tg_norm_attr *attr)
{
    tg_tensor *in[5] = {x, running_mean, running_var, weight, bias};
    return tg_op_apply(t, TG_OP_INSTANCE_NORM, in, 5, attr);
}
tg_tensor *tg_group_norm(tg_tape *t, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                         const tg_norm_attr *attr)
{
    tg_tensor *in[3] = {x, weight, bias};
    return tg_op_apply(t, TG_OP_GROUP_NORM, in, 3, attr);
}
tg_tensor *tg_frn(tg_tape *t, tg_tensor *x, tg_tensor *weight, tg_tensor *bias, const tg_norm_attr *attr)
{
    tg_tensor *in[3] = {x, weight, bias};
    return tg_op_apply(t, TG_OP_FRN, in, 3, attr);
}
tg_tensor *tg_tlu(tg_tape *t, tg_tensor *x, tg_tensor *tau)
{
    tg_tensor *in[2] = {x, tau};
    return tg_op_apply(t, TG_OP_TLU, in, 2, NULL);
}

/* ---- folding: W' = W·γ/σ, b' = γ·(b − μ)/σ + β ---- */

static bool is_channel_vector(const tg_tensor *v, int64_t o)
{
    return v && v->dtype == TG_REAL && v->ndim == 1 && v->shape[0] == o;
}

tg_status tg_fold_batch_norm(tg_tensor *weight, tg_tensor *bias, const tg_tensor *running_mean,
                             const tg_tensor *running_var, const tg_tensor *bn_weight,
                             const tg_tensor *bn_bias, double eps)
{
    if (!weight || weight->dtype != TG_REAL || weight->ndim < 1 || !(eps >= 0)) return TG_ERR_INVALID;
    int64_t o = weight->shape[0];
    if (!is_channel_vector(bias, o) || !is_channel_vector(running_mean, o) ||
        !is_channel_vector(running_var, o) || (bn_weight && !is_channel_vector(bn_weight, o)) ||
        (bn_bias && !is_channel_vector(bn_bias, o)))
        return TG_ERR_INVALID;
    int64_t per_out = o ? weight->numel / o : 0;
    for (int64_t c = 0; c < o; c++) {
        double gamma = bn_weight ? bn_weight->data[c] : 1.0, beta = bn_bias ? bn_bias->data[c] : 0.0;
        double scale = gamma / sqrt((double)running_var->data[c] + eps);
        for (int64_t i = 0; i < per_out; i++) weight->data[c * per_out + i] = (tg_real)(weight->data[c * per_out + i] * scale);
        bias->data[c] = (tg_real)((bias->data[c] - running_mean->data[c]) * scale + beta);
    }
    return TG_OK;
}
