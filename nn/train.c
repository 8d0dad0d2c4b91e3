/* nn/train.c — one training epoch and evaluation for classifiers (cross-entropy, argmax). */
#include "train.h"
#include "infer.h"
#include "module_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ops/loss.h"
#include "../ops/activation.h"
#include "../ops/shape.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int64_t count_correct(const tg_tensor *logits, const int64_t *labels, int64_t n)
{
    const int64_t k = logits->shape[1];
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (logits->data[i * k + j] > logits->data[i * k + best]) best = j;
        correct += best == labels[i];
    }
    return correct;
}

/* Batch buffers [batch, C, H, W] and the targets: int64 [batch] labels, or real [batch, K] targets. */
static int make_buffers(const tg_dataset *d, int64_t batch, tg_tensor **x, tg_tensor **y)
{
    int64_t xs[1 + TG_DATASET_MAX_RANK] = {batch};
    const int ndim = tg_dataset_sample_shape(d, xs + 1);
    *x = tg_tensor_new(TG_REAL, ndim + 1, xs);
    *y = d->targets ? tg_tensor_newv(2, batch, d->n_targets) : tg_tensor_new(TG_INT64, 1, &batch);
    return *x && *y ? 0 : -1;
}

/* The batch's loss: cross-entropy of logits and labels, or MSE / L1 of outputs and targets. The
 * loss op's own shape check names both shapes when the model's outputs do not fit. */
/* The batch's loss of the given kind; attr (NULL: defaults) carries cross-entropy's label smoothing. */
static tg_tensor *batch_loss(tg_tape *t, tg_loss_kind kind, tg_tensor *out, tg_tensor *y, const tg_loss_attr *attr)
{
    if (!out || !y) return NULL;
    if (attr && attr->label_smoothing != 0 && kind != TG_LOSS_CROSS_ENTROPY) {
        tg_fail(t, "train: label_smoothing applies to cross_entropy only, the loss is %s", tg_loss_kind_name(kind));
        return NULL;
    }
    if ((kind == TG_LOSS_CROSS_ENTROPY) != (y->dtype == TG_INT64)) {
        tg_fail(t, "train: loss %s needs %s, the data has %s", tg_loss_kind_name(kind),
                kind == TG_LOSS_CROSS_ENTROPY ? "class labels" : "float targets",
                y->dtype == TG_INT64 ? "class labels" : "float targets");
        return NULL;
    }
    switch (kind) {
    case TG_LOSS_MSE: return tg_mse_loss(t, out, y);
    case TG_LOSS_L1: return tg_l1_loss(t, out, y);
    default: return attr ? tg_cross_entropy_ex(t, out, y, attr) : tg_cross_entropy(t, out, y);
    }
}

tg_status tg_train_epoch(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                         tg_batch_fn on_batch, void *ctx)
{
    return tg_train_epoch_sync(net, opt, b, tape, st, on_batch, ctx, NULL);
}

/* Copies samples [off, off + n) of the batch (x, y) into the shard buffers (xs, ys). */
static void copy_shard(const tg_tensor *x, const tg_tensor *y, int64_t off, int64_t n, tg_tensor *xs, tg_tensor *ys)
{
    const int64_t per_sample = x->numel / x->shape[0], per_target = y->numel / y->shape[0];
    memcpy(xs->data, x->data + off * per_sample, (size_t)(n * per_sample) * sizeof(tg_real));
    if (y->dtype == TG_INT64) memcpy(ys->idata, y->idata + off, (size_t)n * sizeof(int64_t));
    else memcpy(ys->data, y->data + off * per_target, (size_t)(n * per_target) * sizeof(tg_real));
}

tg_status tg_train_epoch_sync(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                              tg_batch_fn on_batch, void *ctx, const tg_train_sync *sync)
{
    return tg_train_epoch_opts(net, opt, b, tape, st, on_batch, ctx, sync, NULL);
}

/* NFNets' floor on a unit's weight norm in adaptive clipping */
#define AGC_DEFAULT_EPS 1e-3
/* PyTorch LinearLR's default start_factor */
#define WARMUP_DEFAULT_START (1.0 / 3)

double tg_train_warmup_factor(const tg_train_opts *o, int64_t t)
{
    if (!o || o->warmup_steps <= 0) return 1;
    /* the schedule library's closed form of LinearLR, with base 1 */
    const tg_sched_config warm = {.kind = TG_SCHED_LINEAR_WARMUP,
                                  .start_factor = o->warmup_start > 0 ? o->warmup_start : WARMUP_DEFAULT_START,
                                  .end_factor = 1, .total_iters = (int)o->warmup_steps};
    return tg_sched_lr_at(&warm, 1.0, t);
}

/* The last linear layer in forward order (a child after its parent, later children after
 * earlier ones), or NULL. */
static tg_module *last_linear(tg_module *m)
{
    for (int i = tg_module_child_count(m) - 1; i >= 0; i--) {
        tg_module *found = last_linear(tg_module_child(m, i));
        if (found) return found;
    }
    return !strcmp(tg_module_type(m), "linear") ? m : NULL;
}

int tg_train_agc_params(tg_module *net, tg_tensor **out, int max)
{
    const int n = tg_module_named_tensors(net, false, NULL, 0);
    if (n <= 0) return 0;
    tg_named_tensor *all = calloc((size_t)n, sizeof *all);
    if (!all) return -1;
    tg_module_named_tensors(net, false, all, n);
    const tg_module *head = last_linear(net);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        tg_tensor *p = all[i].tensor;
        if (head && (p == tg_module_tensor(head, "weight") || p == tg_module_tensor(head, "bias"))) continue;
        if (out && kept < max) out[kept] = p;
        kept++;
    }
    free(all);
    return kept;
}

/* The first option out of range, as a message; NULL when all are fine. */
static const char *train_opts_problem(const tg_train_opts *o, char *buf, size_t size)
{
    struct { const char *name; double v, hi; const char *zero; } checks[] = {
        {"label_smoothing", o->label_smoothing, 1, "off"}, {"clip_norm", o->clip_norm, INFINITY, "off"},
        {"clip_value", o->clip_value, INFINITY, "off"},     {"agc", o->agc, INFINITY, "off"},
        {"agc_eps", o->agc_eps, INFINITY, "1e-3"},          {"warmup_start", o->warmup_start, 1, "1/3"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (!(checks[i].v >= 0 && checks[i].v <= checks[i].hi)) /* NaN fails too */
            return snprintf(buf, size, "train: %s must be in [0, %g] (0: %s), got %g", checks[i].name, checks[i].hi,
                            checks[i].zero, checks[i].v), buf;
    if (o->warmup_steps < 0 || o->warmup_steps > INT32_MAX)
        return snprintf(buf, size, "train: warmup_steps must be in [0, %d], got %lld", INT32_MAX,
                        (long long)o->warmup_steps), buf;
    if (o->n_agc_params < 0 || (o->n_agc_params > 0 && !o->agc_params))
        return snprintf(buf, size, "train: agc_params is NULL with n_agc_params %d", o->n_agc_params), buf;
    return NULL;
}

/* Gradient clipping of one step, in the documented order; returns the norm before clipping. */
static double clip_step(const tg_train_opts *o, tg_tensor *const *params, int n)
{
    const double norm = tg_clip_grad_norm(params, n, INFINITY, 2); /* an infinite bound only measures */
    if (o->agc > 0)
        tg_clip_grad_adaptive(o->agc_params ? o->agc_params : params, o->agc_params ? o->n_agc_params : n, o->agc,
                              o->agc_eps > 0 ? o->agc_eps : AGC_DEFAULT_EPS);
    if (o->clip_value > 0) tg_clip_grad_value(params, n, o->clip_value);
    if (o->clip_norm > 0) tg_clip_grad_norm(params, n, o->clip_norm, 2);
    return norm;
}

/* One optimizer step with every group's lr scaled by factor for this step only (the schedules
 * keep owning the groups' lr); saved holds n_groups values. */
static int scaled_step(tg_optim *opt, double factor, double *saved)
{
    if (factor == 1) return tg_optim_step(opt);
    for (int i = 0; i < opt->n_groups; i++) saved[i] = opt->groups[i].lr, opt->groups[i].lr *= factor;
    const int r = tg_optim_step(opt);
    for (int i = 0; i < opt->n_groups; i++) opt->groups[i].lr = saved[i];
    return r;
}

tg_status tg_train_epoch_opts(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                              tg_batch_fn on_batch, void *ctx, const tg_train_sync *sync, const tg_train_opts *opts)
{
    memset(st, 0, sizeof *st);
    const tg_train_opts none = {0}, *o = opts ? opts : &none;
    char why[160];
    if (train_opts_problem(o, why, sizeof why)) {
        tg_fail(tape, "%s", why);
        return TG_ERR_INVALID;
    }
    const bool sharded = sync && sync->shard_count > 0;
    const int64_t off = sharded ? sync->shard_offset : 0, local = sharded ? sync->shard_count : b->batch;
    if (off < 0 || off + local > b->batch) {
        tg_fail(tape, "train: shard [%lld, %lld) is outside the batch of %lld", (long long)off,
                (long long)(off + local), (long long)b->batch);
        return TG_ERR_INVALID;
    }
    tg_tensor *x, *y, *xs = NULL, *ys = NULL;
    tg_status status = TG_OK;
    /* the optimizer's parameters as one list, for the clipping functions */
    tg_tensor **params = malloc(sizeof *params * (size_t)(opt->n_slots ? opt->n_slots : 1));
    for (int i = 0; params && i < opt->n_slots; i++) params[i] = opt->slots[i].param;
    double *saved_lr = malloc(sizeof *saved_lr * (size_t)(opt->n_groups ? opt->n_groups : 1));
    if (make_buffers(b->data, b->batch, &x, &y) || (sharded && make_buffers(b->data, local, &xs, &ys)) || !params ||
        !saved_lr) {
        status = TG_ERR_NOMEM;
        tg_fail(tape, "train: out of memory for the batch buffers (batch %lld)", (long long)b->batch);
    }
    const tg_loss_attr loss_attr = {.reduction = TG_REDUCTION_MEAN, .ignore_index = -100,
                                    .label_smoothing = o->label_smoothing};
    if (!sharded) xs = x, ys = y;
    tg_batcher_reset(b);
    tg_module_train(net, true);
    /* the loop reads no intermediate's gradient: their buffers serve later ones of the walk */
    const bool released_grads = tg_tape_release_grads(tape);
    tg_tape_set_release_grads(tape, true);
    const double t0 = now_s();
    double loss_sum = 0;
    int64_t correct = 0;
    while (status == TG_OK && tg_batcher_next(b, x, y) == b->batch) {
        if (sharded) copy_shard(x, y, off, local, xs, ys);
        tg_tape_reset(tape);
        tg_tensor *logits = tg_module_forward(net, tape, xs);
        tg_tensor *loss = batch_loss(tape, b->loss, logits, ys, &loss_attr);
        const double local_loss = loss ? loss->data[0] : NAN;
        st->last_loss = local_loss;
        status = loss ? TG_OK : TG_ERR_INVALID;
        /* every process learns of a failed forward here, at the same step */
        if (sync && sync->after_forward) status = sync->after_forward(sync->ctx, tape, status, local_loss, &st->last_loss);
        if (status != TG_OK) break;
        if (!isfinite(st->last_loss)) {
            /* a step from a NaN/Inf loss would poison every parameter; stop and say where */
            tg_fail(tape, "loss is %s at step %lld of the epoch", isnan(st->last_loss) ? "nan" : "inf",
                    (long long)st->steps + 1);
            status = TG_ERR_NONFINITE;
            break;
        }
        tg_optim_zero_grad(opt);
        tg_status back = tg_backward(loss);
        if (back != TG_OK) back = back == TG_ERR_NONFINITE ? back : TG_ERR_INVALID;
        if (sync && sync->after_backward) back = sync->after_backward(sync->ctx, tape, back);
        if (back != TG_OK) {
            status = back;
            break;
        }
        st->grad_norm = clip_step(o, params, opt->n_slots);
        const double factor = tg_train_warmup_factor(o, tg_optim_steps(opt));
        st->lr = opt->n_groups ? opt->groups[0].lr * factor : 0;
        if (scaled_step(opt, factor, saved_lr)) { /* the message goes where the caller looks: the tape */
            tg_fail(tape, "train: %s", opt->error);
            status = TG_ERR_NOMEM;
            break;
        }
        st->steps++;
        loss_sum += local_loss * (double)local;
        if (b->loss == TG_LOSS_CROSS_ENTROPY) correct += count_correct(logits, ys->idata, local);
        st->samples += local;
        st->loss = loss_sum / (double)st->samples;
        st->accuracy = (double)correct / (double)st->samples;
        st->seconds = now_s() - t0;
        if (on_batch) on_batch(ctx, st);
    }
    tg_tape_set_release_grads(tape, released_grads);
    if (sharded) tg_tensor_free(xs), tg_tensor_free(ys);
    tg_tensor_free(x), tg_tensor_free(y);
    free(params), free(saved_lr);
    return status;
}

tg_status tg_evaluate(tg_module *net, const tg_dataset *d, int64_t batch, tg_tape *tape, tg_epoch_stats *st)
{
    return tg_evaluate_loss(net, d, batch, d->targets ? TG_LOSS_MSE : TG_LOSS_CROSS_ENTROPY, tape, st);
}

tg_status tg_evaluate_loss(tg_module *net, const tg_dataset *d, int64_t batch, tg_loss_kind kind, tg_tape *tape,
                           tg_epoch_stats *st)
{
    memset(st, 0, sizeof *st);
    tg_batcher b;
    tg_tensor *x = NULL, *y = NULL;
    if (tg_batcher_init(&b, d, batch, false, 0) != TG_OK || make_buffers(d, batch, &x, &y)) {
        tg_fail(tape, "evaluate: out of memory for the batch buffers (batch %lld)", (long long)batch);
        tg_batcher_free(&b);
        tg_tensor_free(x), tg_tensor_free(y);
        return TG_ERR_NOMEM;
    }
    const bool was = net->training;
    tg_module_train(net, false);
    const double t0 = now_s();
    double loss_sum = 0;
    int64_t correct = 0, n;
    tg_status status = TG_OK;
    while ((n = tg_batcher_next(&b, x, y)) > 0) {
        tg_tape_reset(tape);
        tg_no_grad_begin(tape);
        tg_tensor *xb = n < batch ? tg_slice(tape, x, 0, 0, n, 1) : x, *yb = y;
        if (n < batch && y->dtype == TG_REAL) yb = tg_slice(tape, y, 0, 0, n, 1);
        else if (n < batch && (yb = tg_tape_tensor(tape, TG_INT64, 1, &n)))
            memcpy(yb->idata, y->idata, (size_t)n * sizeof(int64_t));
        tg_tensor *logits = tg_module_forward(net, tape, xb);
        tg_tensor *loss = batch_loss(tape, kind, logits, yb, NULL);
        tg_no_grad_end(tape);
        if (!loss) {
            status = TG_ERR_INVALID;
            break;
        }
        loss_sum += loss->data[0] * (double)n;
        if (kind == TG_LOSS_CROSS_ENTROPY) correct += count_correct(logits, yb->idata, n);
        st->samples += n;
    }
    tg_module_train(net, was);
    if (st->samples) {
        st->loss = loss_sum / (double)st->samples;
        st->accuracy = (double)correct / (double)st->samples;
    }
    st->seconds = now_s() - t0;
    tg_batcher_free(&b);
    tg_tensor_free(x), tg_tensor_free(y);
    return status;
}

/* ---------------- deployment ---------------- */

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)
/* Samples per forward pass of tg_predict: bounds the tape's arena whatever N is */
#define PREDICT_CHUNK 256

void tg_predictor_free(tg_predictor *p)
{
    if (!p) return;
    tg_model_free(p->model);
    tg_norm_stats_free(&p->norm);
    tg_tape_free(p->tape);
    free(p);
}

tg_predictor *tg_predictor_load(const char *model_path, const char *ckpt_path, char *err, size_t errsz)
{
    tg_predictor *p = calloc(1, sizeof *p);
    if (!p) return SAY("%s: out of memory", model_path), NULL;
    int64_t epoch = 0;
    int loss = TG_LOSS_CROSS_ENTROPY;
    tg_checkpoint_extra extra = {.norm = &p->norm, .epoch = &epoch, .loss = &loss};
    if (!(p->model = tg_model_load(model_path, 0, err, errsz)) ||
        tg_checkpoint_load_ex(ckpt_path, p->model->net, NULL, NULL, NULL, &extra, err, errsz) != TG_OK) {
        tg_predictor_free(p);
        return NULL;
    }
    if (p->model->out_ndim != 1) {
        SAY("%s: the model's output has %d dimensions per sample; predict needs class scores [K]", model_path,
            p->model->out_ndim);
        tg_predictor_free(p);
        return NULL;
    }
    const int64_t channels = p->model->in_shape[0];
    if (p->norm.n > 0 && p->norm.n != channels) {
        SAY("%s: normalisation statistics for %lld channels but the model's input has %lld", ckpt_path,
            (long long)p->norm.n, (long long)channels);
        tg_predictor_free(p);
        return NULL;
    }
    p->n_classes = p->model->out_shape[0];
    p->ckpt_version = extra.version;
    p->loss = (tg_loss_kind)loss;
    if (!(p->tape = tg_tape_new(0))) {
        SAY("%s: out of memory for the tape", model_path);
        tg_predictor_free(p);
        return NULL;
    }
    tg_module_train(p->model->net, false);
    /* a predictor only infers: a batch norm folded into its conv or linear is one pass less */
    if (tg_fold_batch_norms(p->model, NULL, err, errsz) < 0) {
        tg_predictor_free(p);
        return NULL;
    }
    return p;
}

/* The outputs of x's samples into out: the softmax of each row (probabilities) or the raw values. */
static tg_status predict_rows(tg_predictor *p, const tg_tensor *x, bool softmax, tg_real *probs, char *err, size_t errsz)
{
    const tg_model *m = p->model;
    bool fits = x && x->dtype == TG_REAL && x->ndim == m->in_ndim + 1;
    for (int d = 0; fits && d < m->in_ndim; d++) fits = x->shape[d + 1] == m->in_shape[d];
    if (!fits) {
        char xs[TG_SHAPE_STR_LEN] = "NULL", ms[TG_SHAPE_STR_LEN];
        if (x) tg_shape_str(x, xs, sizeof xs);
        int n = snprintf(ms, sizeof ms, "[N");
        for (int d = 0; d < m->in_ndim && n > 0 && (size_t)n < sizeof ms; d++)
            n += snprintf(ms + n, sizeof ms - (size_t)n, ",%lld", (long long)m->in_shape[d]);
        if (n > 0 && (size_t)n < sizeof ms) snprintf(ms + n, sizeof ms - (size_t)n, "]");
        return SAY("predict: input %s%s does not fit the model's %s", x && x->dtype != TG_REAL ? "int64 " : "", xs,
                   ms), TG_ERR_INVALID;
    }
    const int64_t per = x->numel / (x->shape[0] ? x->shape[0] : 1), k = p->n_classes;
    tg_status st = TG_OK;
    for (int64_t start = 0; start < x->shape[0] && st == TG_OK; start += PREDICT_CHUNK) {
        int64_t shape[5] = {x->shape[0] - start < PREDICT_CHUNK ? x->shape[0] - start : PREDICT_CHUNK};
        for (int d = 0; d < m->in_ndim; d++) shape[d + 1] = m->in_shape[d];
        tg_tape_reset(p->tape);
        tg_no_grad_begin(p->tape);
        tg_tensor *xb = tg_tape_tensor(p->tape, TG_REAL, m->in_ndim + 1, shape);
        if (xb) {
            memcpy(xb->data, x->data + start * per, (size_t)(shape[0] * per) * sizeof(tg_real));
            if (p->norm.n > 0) tg_norm_stats_apply(&p->norm, xb->data, shape[0], per);
        }
        tg_tensor *out = xb ? tg_module_forward(m->net, p->tape, xb) : NULL;
        if (softmax) out = tg_softmax(p->tape, out, -1);
        tg_no_grad_end(p->tape);
        if (!out) {
            st = xb ? TG_ERR_INVALID : TG_ERR_NOMEM;
            SAY("predict: %s", tg_error(p->tape) ? tg_error(p->tape) : "out of memory for the inputs");
        } else {
            memcpy(probs + start * k, out->data, (size_t)(shape[0] * k) * sizeof(tg_real));
        }
    }
    return st;
}

tg_status tg_predict(tg_predictor *p, const tg_tensor *x, tg_real *probs, char *err, size_t errsz)
{
    return predict_rows(p, x, true, probs, err, errsz);
}

tg_status tg_predict_outputs(tg_predictor *p, const tg_tensor *x, tg_real *out, char *err, size_t errsz)
{
    return predict_rows(p, x, false, out, err, errsz);
}

/* Runs the whole dataset through the predictor in chunks of PREDICT_CHUNK samples and hands each
 * chunk's rows (probabilities when probs, else raw outputs; n x n_classes) to fn. */
typedef void (*chunk_fn)(void *ctx, const tg_dataset *d, int64_t start, int64_t n, int64_t k, const tg_real *rows);

static tg_status predict_dataset(tg_predictor *p, const tg_dataset *d, bool probs, chunk_fn fn, void *ctx, char *err,
                                 size_t errsz)
{
    const int64_t k = p->n_classes;
    int64_t shape[1 + TG_DATASET_MAX_RANK] = {0};
    const int ndim = tg_dataset_sample_shape(d, shape + 1);
    const int64_t per = d->c * d->h * d->w, chunk = d->n < PREDICT_CHUNK ? d->n : PREDICT_CHUNK;
    shape[0] = chunk;
    tg_tensor *x = tg_tensor_new(TG_REAL, ndim + 1, shape);
    tg_real *rows = malloc((size_t)(chunk * k) * sizeof *rows);
    tg_status st = x && rows ? TG_OK : TG_ERR_NOMEM;
    if (st != TG_OK) SAY("eval: out of memory for a batch of %lld", (long long)chunk);
    for (int64_t start = 0; start < d->n && st == TG_OK; start += chunk) {
        const int64_t n = d->n - start < chunk ? d->n - start : chunk;
        x->shape[0] = n, x->numel = n * per; /* the last chunk may be short */
        for (int64_t i = 0; i < n * per; i++) x->data[i] = (tg_real)d->images[start * per + i];
        st = probs ? tg_predict(p, x, rows, err, errsz) : tg_predict_outputs(p, x, rows, err, errsz);
        if (st == TG_OK) fn(ctx, d, start, n, k, rows);
    }
    if (x) x->shape[0] = chunk, x->numel = chunk * per;
    tg_tensor_free(x);
    free(rows);
    return st;
}

typedef struct error_sums {
    double sq, ab;
} error_sums;

static void add_errors(void *ctx, const tg_dataset *d, int64_t start, int64_t n, int64_t k, const tg_real *outs)
{
    error_sums *e = ctx;
    for (int64_t i = 0; i < n * k; i++) {
        const double diff = (double)outs[i] - d->targets[start * k + i];
        e->sq += diff * diff, e->ab += fabs(diff);
    }
}

tg_status tg_predictor_regression(tg_predictor *p, const tg_dataset *d, double *mse, double *mae, char *err,
                                  size_t errsz)
{
    *mse = *mae = 0;
    const int64_t k = p->n_classes;
    if (!d->targets || d->n_targets != k)
        return SAY("eval: the model gives %lld outputs per sample but the data has %s%lld", (long long)k,
                   d->targets ? "targets of " : "class labels, not float targets, for ",
                   (long long)(d->targets ? d->n_targets : d->n)), TG_ERR_INVALID;
    error_sums e = {0, 0};
    const tg_status st = predict_dataset(p, d, false, add_errors, &e, err, errsz);
    /* means over every value, as mse_loss and l1_loss with reduction 'mean' */
    if (st == TG_OK && d->n) *mse = e.sq / (double)(d->n * k), *mae = e.ab / (double)(d->n * k);
    return st;
}

static void count_predictions(void *ctx, const tg_dataset *d, int64_t start, int64_t n, int64_t k, const tg_real *probs)
{
    int64_t *confusion = ctx;
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (probs[i * k + j] > probs[i * k + best]) best = j;
        confusion[d->labels[start + i] * k + best]++;
    }
}

tg_status tg_predictor_confusion(tg_predictor *p, const tg_dataset *d, int64_t *confusion, char *err, size_t errsz)
{
    const int64_t k = p->n_classes;
    memset(confusion, 0, (size_t)(k * k) * sizeof *confusion);
    if (!d->labels) return SAY("eval: the data has float targets, not class labels"), TG_ERR_INVALID;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] >= k)
            return SAY("eval: label %lld of sample %lld is not one of the model's %lld classes",
                       (long long)d->labels[i], (long long)i, (long long)k), TG_ERR_INVALID;
    return predict_dataset(p, d, true, count_predictions, confusion, err, errsz);
}
