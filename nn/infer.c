/* nn/infer.c — eval-mode forward without a graph (tg_model_infer) and batch-norm folding over a
 * model's module tree (tg_fold_batch_norms). */
#include "infer.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/tape_internal.h"
#include "../ops/activation.h"
#include "../ops/conv.h"
#include "../ops/norm.h"
#include "../ops/kernels/parallel.h"
#include "../ops/shape.h"
#include "module_internal.h"

#define SAY(...) ((err) && (errsz) ? (void)snprintf((err), (errsz), __VA_ARGS__) : (void)0)

/* ---- tg_model_infer ---- */

/* Whether t is a real tensor [N, dims...] with N >= 1 (n_fixed: 0 = any N, else exactly it). */
static bool batch_shape_is(const tg_tensor *t, int ndim, const int64_t *dims, int64_t n_fixed)
{
    if (t->dtype != TG_REAL || t->ndim != ndim + 1 || t->shape[0] < 1) return false;
    if (n_fixed && t->shape[0] != n_fixed) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i + 1] != dims[i]) return false;
    return true;
}

/* "[N,1,28,28]" for a model's per-sample shape. */
static const char *batch_shape_str(int ndim, const int64_t *dims, int64_t n, char *buf, size_t size)
{
    int len = n ? snprintf(buf, size, "[%lld", (long long)n) : snprintf(buf, size, "[N");
    for (int i = 0; i < ndim && len > 0 && (size_t)len < size; i++)
        len += snprintf(buf + len, size - (size_t)len, ",%lld", (long long)dims[i]);
    if (len > 0 && (size_t)len < size) snprintf(buf + len, size - (size_t)len, "]");
    return buf;
}

/* ---- sub-batches ----
 *
 * At batch 64 a layer's input and output are megabytes: each layer streams them through the
 * last-level cache or DRAM, and the next layer streams them back. In eval mode most layers compute
 * each sample from that sample alone, so the leading run of such layers (the "prefix") goes
 * through the model a sub-batch at a time, on a tape reset for every sub-batch: a sub-batch's
 * activations stay in the core's caches from one layer to the next, and every sub-batch reuses the
 * same memory. What follows the prefix (a layer that mixes samples, or a dense head whose weights
 * would be read again per sub-batch) runs on the whole batch as before.
 *
 * The sub-batch size depends only on the model's shapes and the batch size (never on the thread
 * count), so results stay the same for any thread count; they equal, bit for bit, the plain
 * forward of each sub-batch on its own. */

/* Bytes one layer may read and write for a sub-batch (its input and output activations, per
 * sample times the sub-batch). Measured 4 Dec on Zen 5 (1 MiB L2 per core, 32 MiB L3), `tg bench
 * --filter infer` at batch 64: the best sub-batch of every zoo model lay between 2.4 and 8 MiB of
 * that (separable 9.1 -> 13.1 ms unchunked, volume3d 12.6 -> 18.4, dense_concat 12.7 -> 16.9). */
#define INFER_CHUNK_BYTES ((size_t)4 << 20)
/* A layer holding more weight bytes than this, used for fewer than INFER_HEAD_MIN_COLUMNS output
 * positions per sub-batch, ends the prefix: a sub-batch would read its weights from memory again
 * for little work (LeNet-5's 1.2 M-weight linear layer: 5.3 ms at batch 64, 6.6 in sub-batches of 8). */
#define INFER_HEAD_WEIGHT_BYTES ((size_t)256 << 10)
#define INFER_HEAD_MIN_COLUMNS 64

/* The number of sub-batches is rounded up to a multiple of this (at most one per sample), so that
 * 2 or 4 threads get equal shares (separable at batch 64 on two threads: 7 sub-batches, 4 + 3,
 * 5.8 ms; 8 of them, 5.1 ms). Not the thread count itself: the sub-batches, hence the results,
 * must not depend on it. */
#define INFER_CHUNK_MULTIPLE 4

/* process-wide (tg_infer_set_chunk_bytes); atomic: models on other threads read it while planning */
static _Atomic size_t chunk_bytes_setting = INFER_CHUNK_BYTES;

void tg_infer_set_chunk_bytes(size_t bytes) { atomic_store(&chunk_bytes_setting, bytes ? bytes : INFER_CHUNK_BYTES); }

static int count_modules(const tg_module *m);

/* The survey batch: 2, so that a layer that folds samples together shows in its output's batch dim. */
#define SURVEY_BATCH 2

/* What a shapes-only pass tells about one child of the model's top sequential. */
typedef struct child_survey {
    bool per_sample;        /* each of its layers computes a sample's output from that sample alone */
    int64_t head_positions; /* the fewest output positions per sample of its layers with more than
                               INFER_HEAD_WEIGHT_BYTES of weights (INT64_MAX: none) */
    size_t bytes;           /* the most one of its layers reads and writes, per sample */
    int64_t out_per_sample; /* its output's elements per sample */
    int out_ndim;
    int64_t out_shape[TG_MAX_DIMS];
} child_survey;

typedef struct leaf_owner {
    const tg_module *leaf;
    int child;
} leaf_owner;

typedef struct survey {
    child_survey *child;
    leaf_owner *owner;
    int n_owner, cap_owner;
} survey;

static void list_leaves(survey *s, const tg_module *m, int child)
{
    if (m->kind != TG_MOD_SEQUENTIAL) {
        if (s->n_owner < s->cap_owner) s->owner[s->n_owner++] = (leaf_owner){m, child};
        return;
    }
    for (int i = 0; i < m->n_children; i++) list_leaves(s, m->children[i], child);
}

static int normalized_dim(int dim, int ndim) { return dim < 0 ? dim + ndim : dim; }

/* Whether layer, in eval mode, computes each sample's output from that sample alone. A layer
 * not known to does not go into sub-batches (always correct, only not faster). */
static bool layer_is_per_sample(const tg_module *layer, const tg_tensor *in, const tg_tensor *out)
{
    if (out->ndim < 1 || out->shape[0] != in->shape[0]) return false;
    switch (layer->kind) {
    case TG_MOD_DROPOUT: /* eval: the identity */
    case TG_MOD_ADD:
    case TG_MOD_CONCAT:  /* channels (dim 1) */
        return true;
    case TG_MOD_SEQUENTIAL: return false;
    case TG_MOD_OP: break;
    }
    const void *attr = layer->attr;
    switch (layer->op) {
    case TG_OP_CONV1D: case TG_OP_CONV2D: case TG_OP_CONV3D:
    case TG_OP_CONV_TRANSPOSE1D: case TG_OP_CONV_TRANSPOSE2D: case TG_OP_CONV_TRANSPOSE3D:
    case TG_OP_LOCALLY_CONNECTED2D:
    case TG_OP_MAX_POOL1D: case TG_OP_MAX_POOL2D: case TG_OP_MAX_POOL3D:
    case TG_OP_AVG_POOL1D: case TG_OP_AVG_POOL2D: case TG_OP_AVG_POOL3D:
    case TG_OP_GLOBAL_AVG_POOL: case TG_OP_GLOBAL_MAX_POOL:
    case TG_OP_ADAPTIVE_AVG_POOL2D: case TG_OP_ADAPTIVE_MAX_POOL2D:
    case TG_OP_MAX_UNPOOL1D: case TG_OP_MAX_UNPOOL2D: case TG_OP_MAX_UNPOOL3D:
    case TG_OP_RELU: case TG_OP_LEAKY_RELU: case TG_OP_ELU: case TG_OP_SIGMOID: case TG_OP_TANH: case TG_OP_GELU:
    case TG_OP_NEG: case TG_OP_EXP: case TG_OP_LOG: case TG_OP_SQRT: case TG_OP_POW:
    case TG_OP_LINEAR:
    case TG_OP_LAYER_NORM: case TG_OP_INSTANCE_NORM: case TG_OP_GROUP_NORM: case TG_OP_FRN: case TG_OP_TLU:
        return true;
    case TG_OP_BATCH_NORM: /* eval with running statistics; without them it normalises by the batch */
        return !((const tg_norm_attr *)attr)->training && tg_module_tensor(layer, "running_mean");
    case TG_OP_SOFTMAX: case TG_OP_LOG_SOFTMAX:
        return normalized_dim(((const tg_softmax_attr *)attr)->dim, in->ndim) >= 1;
    case TG_OP_FLATTEN:
        return normalized_dim(((const tg_flatten_attr *)attr)->start_dim, in->ndim) >= 1;
    default: return false;
    }
}

/* Output positions per sample of a layer with more than INFER_HEAD_WEIGHT_BYTES of weights (a
 * sub-batch reads them all for that many columns per sample); INT64_MAX for any other layer. */
static int64_t heavy_layer_positions(const tg_module *layer, const tg_tensor *out)
{
    const tg_tensor *w = layer->kind == TG_MOD_OP ? tg_module_tensor(layer, "weight") : NULL;
    if (!w || (size_t)w->numel * sizeof(tg_real) <= INFER_HEAD_WEIGHT_BYTES || out->ndim < 2) return INT64_MAX;
    const int64_t features = layer->op == TG_OP_LINEAR ? out->shape[out->ndim - 1] : out->shape[1];
    return features > 0 ? out->numel / out->shape[0] / features : 0;
}

static void survey_layer(void *ctx, tg_module *layer, tg_tensor *in, tg_tensor *out)
{
    survey *s = ctx;
    int child = -1;
    for (int i = 0; i < s->n_owner && child < 0; i++)
        if (s->owner[i].leaf == layer) child = s->owner[i].child;
    if (child < 0) return;
    child_survey *c = &s->child[child];
    c->per_sample = c->per_sample && layer_is_per_sample(layer, in, out);
    const size_t bytes = (size_t)(in->numel + out->numel) / SURVEY_BATCH * sizeof(tg_real);
    if (bytes > c->bytes) c->bytes = bytes;
    const int64_t positions = heavy_layer_positions(layer, out);
    if (positions < c->head_positions) c->head_positions = positions;
    /* the child's output: its last layer's (a nested sequential's layers report in order) */
    c->out_ndim = out->ndim;
    memcpy(c->out_shape, out->shape, sizeof c->out_shape);
    c->out_per_sample = out->numel / SURVEY_BATCH;
}

/* The child that defines the output a join in child j names (-1: the model's input). */
static int defining_child(const tg_module *net, int j, const char *name)
{
    for (int k = j - 1; k >= 0; k--)
        if (!strcmp(net->children[k]->id, name)) return k;
    return -1;
}

typedef struct chunk_plan {
    int prefix;        /* children 0..prefix-1 run in sub-batches; 0: none */
    int64_t chunks;    /* sub-batches: sub-batch k holds samples k*n/chunks .. (k+1)*n/chunks - 1 */
    child_survey last; /* child prefix-1 */
} chunk_plan;

/* Plans sub-batches for batch n; plan->prefix = 0 when the model runs whole. */
static void plan_chunks(tg_model *m, tg_tape *t, int64_t n, chunk_plan *plan)
{
    plan->prefix = 0;
    tg_module *net = m->net;
    if (n < 2 || net->kind != TG_MOD_SEQUENTIAL || net->n_children < 1) return;
    survey s = {.cap_owner = 0};
    s.child = calloc((size_t)net->n_children, sizeof *s.child);
    s.cap_owner = count_modules(net);
    s.owner = calloc((size_t)s.cap_owner, sizeof *s.owner);
    if (!s.child || !s.owner) goto done; /* no plan: the whole batch at once */
    for (int i = 0; i < net->n_children; i++) {
        s.child[i].per_sample = true;
        s.child[i].head_positions = INT64_MAX;
        list_leaves(&s, net->children[i], i);
    }
    int64_t shape[5] = {SURVEY_BATCH};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape_reset(t);
    tg_tape_set_shapes_only(t, true);
    tg_tensor *x = tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape);
    tg_no_grad_begin(t);
    tg_tensor *y = x ? tg_module_forward_observed(net, t, x, survey_layer, &s) : NULL;
    tg_no_grad_end(t);
    tg_tape_set_shapes_only(t, false);
    tg_tape_reset(t);
    tg_clear_error(t);
    if (!y) goto done; /* the real forward reports the error */
    const size_t budget = atomic_load(&chunk_bytes_setting); /* one value for the whole plan */
    /* the prefix: per-sample children, up to a dense head at the sub-batch they would run at */
    int prefix = 0;
    size_t bytes = 0;
    for (; prefix < net->n_children && s.child[prefix].per_sample; prefix++) {
        const size_t with = s.child[prefix].bytes > bytes ? s.child[prefix].bytes : bytes;
        const int64_t sub_batch = with ? (int64_t)(budget / with) : n;
        const int64_t columns = sub_batch < 1 ? 1 : sub_batch < n ? sub_batch : n;
        const int64_t positions = s.child[prefix].head_positions;
        if (positions != INT64_MAX && positions * columns < INFER_HEAD_MIN_COLUMNS) break;
        bytes = with;
    }
    /* a join after the prefix can only see the prefix's last output */
    for (bool moved = true; moved && prefix > 0;) {
        moved = false;
        for (int j = prefix; j < net->n_children && !moved; j++) {
            const tg_module *c = net->children[j];
            for (int k = 0; k < c->n_from && !moved; k++) {
                if (!strcmp(c->from[k], ".")) continue;
                const int d = defining_child(net, j, c->from[k]);
                if (d < prefix - 1) {
                    prefix = d + 1;
                    moved = true;
                }
            }
        }
    }
    bytes = 0;
    for (int i = 0; i < prefix; i++)
        if (s.child[i].bytes > bytes) bytes = s.child[i].bytes;
    int64_t sub_batch = (int64_t)(budget / (bytes ? bytes : 1));
    if (prefix == 0 || sub_batch >= n) goto done;
    if (sub_batch < 1) sub_batch = 1;
    plan->prefix = prefix;
    /* evened out (sizes differ by at most one), in a multiple of INFER_CHUNK_MULTIPLE */
    int64_t chunks = (n + sub_batch - 1) / sub_batch;
    chunks = (chunks + INFER_CHUNK_MULTIPLE - 1) / INFER_CHUNK_MULTIPLE * INFER_CHUNK_MULTIPLE;
    plan->chunks = chunks < n ? chunks : n;
    plan->last = s.child[prefix - 1];
done:
    free(s.child);
    free(s.owner);
}

int64_t tg_model_infer_sub_batches(tg_model *m, int64_t n, int *prefix_layers)
{
    if (prefix_layers) *prefix_layers = 0;
    if (!m || !m->net || n < 1) return 1;
    if (!m->infer_tape && !(m->infer_tape = tg_tape_new(0))) return 1;
    const bool was_training = m->net->training;
    if (was_training) tg_module_train(m->net, false);
    chunk_plan plan;
    plan_chunks(m, m->infer_tape, n, &plan);
    if (was_training) tg_module_train(m->net, true);
    if (prefix_layers) *prefix_layers = plan.prefix;
    return plan.prefix ? plan.chunks : 1;
}

/* x[begin:begin+count] as a tensor that borrows x's memory (no tape owns it: nothing frees it). */
static tg_tensor *batch_view(tg_tape *t, const tg_tensor *x, int64_t begin, int64_t count)
{
    tg_tensor *v = tg_tape_alloc(t, sizeof *v);
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->dtype = TG_REAL;
    v->ndim = x->ndim;
    memcpy(v->shape, x->shape, sizeof v->shape);
    v->shape[0] = count;
    const int64_t per_sample = x->numel / x->shape[0];
    v->numel = per_sample * count;
    v->data = x->data + begin * per_sample;
    return v;
}

static bool has_unpooling(const tg_module *m)
{
    if (m->kind == TG_MOD_OP && m->op >= TG_OP_MAX_UNPOOL1D && m->op <= TG_OP_MAX_UNPOOL3D) return true;
    for (int i = 0; i < m->n_children; i++)
        if (has_unpooling(m->children[i])) return true;
    return false;
}

/* The sub-batch tapes for `workers` threads, told whether max pools may skip their indices;
 * false when out of memory. */
static bool chunk_tapes(tg_model *m, int workers, bool indices_unused)
{
    for (int i = 0; i < m->n_infer_chunk_tapes; i++) tg_tape_set_indices_unused(m->infer_chunk_tapes[i], indices_unused);
    if (m->n_infer_chunk_tapes >= workers) return true;
    tg_tape **grown = realloc(m->infer_chunk_tapes, (size_t)workers * sizeof *grown);
    if (!grown) return false;
    m->infer_chunk_tapes = grown;
    for (; m->n_infer_chunk_tapes < workers; m->n_infer_chunk_tapes++) {
        if (!(grown[m->n_infer_chunk_tapes] = tg_tape_new(0))) return false;
        tg_tape_set_indices_unused(grown[m->n_infer_chunk_tapes], indices_unused);
    }
    return true;
}

typedef struct prefix_job {
    tg_model *m;
    const tg_tensor *x;
    const chunk_plan *plan;
    int workers;
    tg_real *y;
    int64_t *failed_chunk; /* per worker: the first sub-batch it could not run (INT64_MAX: none) */
} prefix_job;

/* Sub-batch k of the prefix into its rows of y, on tape t; false (the reason in t) on error. */
static bool run_chunk(const prefix_job *j, tg_tape *t, int64_t k)
{
    const int64_t n = j->x->shape[0], out_per_sample = j->plan->last.out_per_sample;
    const int64_t begin = k * n / j->plan->chunks, count = (k + 1) * n / j->plan->chunks - begin;
    tg_tape_reset(t); /* the same memory for every sub-batch */
    tg_no_grad_begin(t);
    tg_tensor *in = batch_view(t, j->x, begin, count);
    tg_tensor *part = in ? tg_sequential_forward_range(j->m->net, t, in, 0, j->plan->prefix) : NULL;
    tg_no_grad_end(t);
    if (!part) return false;
    if (part->numel != count * out_per_sample) { /* cannot happen: the survey's shapes are the forward's */
        tg_fail(t, "layer '%s' gave %lld values for %lld samples", j->m->net->children[j->plan->prefix - 1]->name,
                (long long)part->numel, (long long)count);
        return false;
    }
    memcpy(j->y + begin * out_per_sample, part->data, (size_t)part->numel * sizeof *j->y);
    return true;
}

/* Worker w runs sub-batches w, w + workers, ... on tape w. */
static void prefix_workers(void *ctx, int64_t w0, int64_t w1)
{
    const prefix_job *j = ctx;
    for (int64_t w = w0; w < w1; w++) {
        tg_tape *t = j->m->infer_chunk_tapes[w];
        j->failed_chunk[w] = INT64_MAX;
        for (int64_t k = w; k < j->plan->chunks; k += j->workers)
            if (!run_chunk(j, t, k)) {
                j->failed_chunk[w] = k;
                break;
            }
    }
}

/* Runs children 0..plan->prefix-1 a sub-batch at a time into y (the prefix's output for the
 * whole batch); NULL, or why it failed (the error of the first sub-batch that failed). */
static const char *run_prefix(tg_model *m, const tg_tensor *x, const chunk_plan *plan, bool indices_unused,
                              tg_real *y)
{
    int64_t threads = tg_get_threads();
    const int workers = (int)(threads < plan->chunks ? threads : plan->chunks);
    int64_t failed[TG_MAX_THREADS];
    if (workers > TG_MAX_THREADS || !chunk_tapes(m, workers, indices_unused)) return "arena full: out of memory for the sub-batch tapes";
    prefix_job j = {.m = m, .x = x, .plan = plan, .workers = workers, .y = y, .failed_chunk = failed};
    if (workers > 1) tg_parallel_for(workers, prefix_workers, &j);
    else prefix_workers(&j, 0, 1);
    int first = -1;
    for (int w = 0; w < workers; w++)
        if (failed[w] != INT64_MAX && (first < 0 || failed[w] < failed[first])) first = w;
    if (first < 0) return NULL;
    const char *why = tg_error(m->infer_chunk_tapes[first]);
    return why ? why : "forward failed";
}

size_t tg_model_infer_peak(const tg_model *m)
{
    if (!m) return 0;
    size_t peak = tg_tape_peak(m->infer_tape);
    for (int i = 0; i < m->n_infer_chunk_tapes; i++) peak += tg_tape_peak(m->infer_chunk_tapes[i]);
    return peak;
}

tg_status tg_model_infer(tg_model *m, const tg_tensor *x, tg_tensor *out, char *err, size_t errsz)
{
    if (!m || !m->net || !x || !out) {
        SAY("model_infer: %s is NULL", !m || !m->net ? "the model" : !x ? "the input" : "out");
        return TG_ERR_INVALID;
    }
    char got[TG_SHAPE_STR_LEN], want[TG_SHAPE_STR_LEN];
    if (!batch_shape_is(x, m->in_ndim, m->in_shape, 0)) {
        SAY("model_infer: input is %s%s but the model takes %s", x->dtype == TG_REAL ? "" : "int64 ",
            tg_shape_str(x, got, sizeof got), batch_shape_str(m->in_ndim, m->in_shape, 0, want, sizeof want));
        return TG_ERR_INVALID;
    }
    if (!batch_shape_is(out, m->out_ndim, m->out_shape, x->shape[0])) {
        SAY("model_infer: out is %s%s but the model gives %s for this input", out->dtype == TG_REAL ? "" : "int64 ",
            tg_shape_str(out, got, sizeof got),
            batch_shape_str(m->out_ndim, m->out_shape, x->shape[0], want, sizeof want));
        return TG_ERR_INVALID;
    }
    if (!m->infer_tape && !(m->infer_tape = tg_tape_new(0))) {
        SAY("model_infer: out of memory for the inference tape");
        return TG_ERR_NOMEM;
    }
    tg_tape *t = m->infer_tape;
    const bool was_training = m->net->training;
    if (was_training) tg_module_train(m->net, false);
    chunk_plan plan;
    plan_chunks(m, t, x->shape[0], &plan);
    /* the intermediate tensors stay inside: only an unpooling layer could read a max pool's argmax */
    const bool indices_unused = !has_unpooling(m->net);
    tg_tape_set_indices_unused(t, indices_unused);
    tg_tape_reset(t); /* keeps the memory: after the first call of this size, nothing is malloc'd */
    const char *why = NULL;
    if (plan.prefix == m->net->n_children) {
        why = run_prefix(m, x, &plan, indices_unused, out->data);
    } else {
        tg_tensor *in = (tg_tensor *)x; /* only read: no-grad mode records nothing, eval updates no state */
        if (plan.prefix > 0) {         /* the prefix's output for the whole batch, then the rest on it */
            int64_t shape[TG_MAX_DIMS];
            memcpy(shape, plan.last.out_shape, sizeof shape);
            shape[0] = x->shape[0];
            in = tg_tape_tensor(t, TG_REAL, plan.last.out_ndim, shape);
            why = !in ? tg_error(t) : run_prefix(m, x, &plan, indices_unused, in->data);
        }
        if (!why) {
            tg_no_grad_begin(t);
            tg_tensor *y = plan.prefix ? tg_sequential_forward_range(m->net, t, in, plan.prefix, m->net->n_children)
                                       : tg_module_forward(m->net, t, in);
            tg_no_grad_end(t);
            if (!y) why = tg_error(t) ? tg_error(t) : "forward failed";
            else memcpy(out->data, y->data, (size_t)out->numel * sizeof *out->data);
        }
    }
    if (was_training) tg_module_train(m->net, true);
    if (!why) return TG_OK;
    SAY("model_infer: %s", why);
    return strstr(why, "arena full") ? TG_ERR_NOMEM : TG_ERR_INVALID;
}

/* ---- tg_fold_batch_norms ---- */

/* The rank of every layer's output, from one eval-mode forward of a single zero sample: a linear
 * folds only when its output is [N, features] (elsewhere BN's channel dim is not its features). */
typedef struct out_rank {
    const tg_module *layer;
    int ndim;
} out_rank;

typedef struct rank_table {
    out_rank *list;
    int n, cap;
} rank_table;

static void record_rank(void *ctx, tg_module *layer, tg_tensor *in, tg_tensor *out)
{
    (void)in;
    rank_table *r = ctx;
    if (r->n < r->cap) r->list[r->n++] = (out_rank){layer, out->ndim};
}

static int rank_of(const rank_table *r, const tg_module *layer)
{
    for (int i = 0; i < r->n; i++)
        if (r->list[i].layer == layer) return r->list[i].ndim;
    return -1;
}

static int count_modules(const tg_module *m)
{
    int n = 1;
    for (int i = 0; i < m->n_children; i++) n += count_modules(m->children[i]);
    return n;
}

static bool is_batch_norm(const tg_module *m) { return m->kind == TG_MOD_OP && m->op == TG_OP_BATCH_NORM; }

static bool is_conv(const tg_module *m)
{
    return m->kind == TG_MOD_OP && m->op >= TG_OP_CONV1D && m->op <= TG_OP_CONV_TRANSPOSE3D;
}

/* Whether any join or unpool in the tree reads the output named id. */
static bool id_is_read(const tg_module *m, const char *id)
{
    for (int k = 0; k < m->n_from; k++)
        if (!strcmp(m->from[k], id)) return true;
    for (int i = 0; i < m->n_children; i++)
        if (id_is_read(m->children[i], id)) return true;
    return false;
}

/* The first batch norm below m in training mode, with its dotted path in path; NULL when none. */
static const tg_module *training_bn(const tg_module *m, const char *prefix, char *path, size_t size)
{
    for (int i = 0; i < m->n_children; i++) {
        const tg_module *c = m->children[i];
        char here[4 * TG_NAME_LEN];
        snprintf(here, sizeof here, "%s%s%s", prefix, prefix[0] ? "." : "", c->name);
        if (is_batch_norm(c) && c->training && tg_module_tensor(c, "running_mean")) {
            snprintf(path, size, "%s", here);
            return c;
        }
        const tg_module *bn = training_bn(c, here, path, size);
        if (bn) return bn;
    }
    return NULL;
}

/* γ/σ of channel c: the scale batch norm applies after subtracting μ. */
static double bn_scale(const tg_tensor *var, const tg_tensor *gamma, double eps, int64_t c)
{
    return (gamma ? (double)gamma->data[c] : 1.0) / sqrt((double)var->data[c] + eps);
}

/* conv_transpose weight [C_in, C_out/g, k...]: output channel o = group * C_out/g + j lies in
 * dim 1, so tg_fold_batch_norm's per-row scaling does not apply. */
static void fold_transposed(tg_tensor *w, tg_tensor *b, int64_t groups, const tg_tensor *mean, const tg_tensor *var,
                            const tg_tensor *gamma, const tg_tensor *beta, double eps)
{
    const int64_t c_in = w->shape[0], out_g = w->shape[1], in_g = c_in / groups;
    const int64_t taps = c_in > 0 && out_g > 0 ? w->numel / (c_in * out_g) : 0;
    for (int64_t i = 0; i < c_in; i++)
        for (int64_t j = 0; j < out_g; j++) {
            const double s = bn_scale(var, gamma, eps, i / in_g * out_g + j);
            tg_real *row = w->data + (i * out_g + j) * taps;
            for (int64_t k = 0; k < taps; k++) row[k] = (tg_real)(row[k] * s);
        }
    for (int64_t o = 0; o < groups * out_g; o++)
        b->data[o] = (tg_real)((b->data[o] - mean->data[o]) * bn_scale(var, gamma, eps, o) +
                               (beta ? (double)beta->data[o] : 0.0));
}

/* Folds bn into layer (already known to fit); 0, or -1 out of memory with err. */
static int fold_pair(tg_module *layer, const tg_module *bn, char *err, size_t errsz)
{
    tg_tensor *w = tg_module_tensor(layer, "weight"), *b = tg_module_tensor(layer, "bias");
    const tg_tensor *mean = tg_module_tensor(bn, "running_mean"), *var = tg_module_tensor(bn, "running_var");
    const tg_tensor *gamma = tg_module_tensor(bn, "weight"), *beta = tg_module_tensor(bn, "bias");
    const double eps = ((const tg_norm_attr *)(const void *)bn->attr)->eps;
    const int64_t channels = mean->numel;
    if (!b) { /* b' = β − γμ/σ needs somewhere to live */
        b = tg_tensor_new(TG_REAL, 1, &channels);
        if (!b) {
            SAY("fold_batch_norms: out of memory for the bias of layer '%s'", layer->name);
            return -1;
        }
        memset(b->data, 0, (size_t)channels * sizeof *b->data);
        b->requires_grad = true;
        char why[160];
        if (tg_module_add_param(layer, "bias", b, why, sizeof why) != TG_OK) {
            tg_tensor_free(b);
            SAY("fold_batch_norms: %s", why);
            return -1;
        }
    }
    if (tg_op_get(layer->op)->transposed) {
        fold_transposed(w, b, ((const tg_conv_attr *)(const void *)layer->attr)->groups, mean, var, gamma, beta, eps);
        return 0;
    }
    return tg_fold_batch_norm(w, b, mean, var, gamma, beta, eps) == TG_OK ? 0 : -1;
}

/* The layer whose output child `prev` of a sequential gives (the last layer of nested
 * sequentials), or NULL when that output carries an id something reads or there is none. */
static tg_module *producer(const tg_module *root, tg_module *prev)
{
    for (tg_module *p = prev; p;) {
        if (p->id[0] && id_is_read(root, p->id)) return NULL;
        if (p->kind != TG_MOD_SEQUENTIAL) return p;
        p = p->n_children ? p->children[p->n_children - 1] : NULL;
    }
    return NULL;
}

/* Whether bn, right after layer, folds into it exactly. */
static bool foldable(const tg_module *layer, const tg_module *bn, const rank_table *ranks)
{
    const tg_tensor *mean = tg_module_tensor(bn, "running_mean");
    const tg_tensor *w = tg_module_tensor(layer, "weight");
    if (!mean || !tg_module_tensor(bn, "running_var") || !w) return false;
    int64_t out_channels;
    if (is_conv(layer)) {
        const int64_t groups = ((const tg_conv_attr *)(const void *)layer->attr)->groups;
        out_channels = tg_op_get(layer->op)->transposed ? w->shape[1] * groups : w->shape[0];
    } else if (layer->kind == TG_MOD_OP && layer->op == TG_OP_LINEAR) {
        if (rank_of(ranks, layer) != 2) return false; /* [N, L, F]: BN's channels are L, not F */
        out_channels = w->shape[0];
    } else {
        return false;
    }
    return mean->numel == out_channels;
}

static int fold_in(const tg_module *root, tg_module *seq, const rank_table *ranks, int *kept, char *err,
                   size_t errsz)
{
    int folded = 0;
    for (int i = 0; i < seq->n_children; i++) {
        tg_module *c = seq->children[i];
        if (c->kind == TG_MOD_SEQUENTIAL) {
            const int f = fold_in(root, c, ranks, kept, err, errsz);
            if (f < 0) return -1;
            folded += f;
            continue;
        }
        if (!is_batch_norm(c)) continue;
        tg_module *layer = i > 0 ? producer(root, seq->children[i - 1]) : NULL;
        if (!layer || !foldable(layer, c, ranks)) {
            (*kept)++;
            continue;
        }
        if (fold_pair(layer, c, err, errsz)) return -1;
        /* joins name the sequential's child, so the id moves to the child before the BN */
        if (c->id[0]) memcpy(seq->children[i - 1]->id, c->id, sizeof c->id);
        tg_module_free(c);
        memmove(&seq->children[i], &seq->children[i + 1], (size_t)(seq->n_children - i - 1) * sizeof *seq->children);
        seq->n_children--;
        i--;
        folded++;
    }
    return folded;
}

int tg_fold_batch_norms(tg_model *m, int *not_folded, char *err, size_t errsz)
{
    if (not_folded) *not_folded = 0;
    if (!m || !m->net) {
        SAY("fold_batch_norms: the model is NULL");
        return -1;
    }
    char path[4 * TG_NAME_LEN];
    const tg_module *bn = training_bn(m->net, "", path, sizeof path);
    if (bn) {
        SAY("fold_batch_norms: layer '%s' (batch_norm) is in training mode; call tg_module_train(net, false) first",
            path);
        return -1;
    }
    /* one zero sample through the model records every layer's output rank */
    rank_table ranks = {.cap = count_modules(m->net)};
    ranks.list = calloc((size_t)ranks.cap, sizeof *ranks.list);
    int64_t shape[5] = {1};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = ranks.list ? tg_tape_new(0) : NULL;
    tg_tensor *x = t ? tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape) : NULL;
    if (x) memset(x->data, 0, (size_t)x->numel * sizeof *x->data);
    int folded = -1;
    if (!x) {
        SAY("fold_batch_norms: out of memory");
    } else {
        tg_no_grad_begin(t);
        tg_tensor *y = tg_module_forward_observed(m->net, t, x, record_rank, &ranks);
        tg_no_grad_end(t);
        int kept = 0;
        if (!y) SAY("fold_batch_norms: the model does not run: %s", tg_error(t));
        else folded = fold_in(m->net, m->net, &ranks, &kept, err, errsz);
        if (not_folded) *not_folded = kept;
    }
    tg_tape_free(t);
    free(ranks.list);
    return folded;
}
