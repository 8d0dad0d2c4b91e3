/* nn/infer.c — eval-mode forward without a graph (tg_model_infer) and batch-norm folding over a
 * model's module tree (tg_fold_batch_norms). */
#include "infer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/conv.h"
#include "../ops/norm.h"
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
    tg_tape_reset(t); /* keeps the memory: after the first call of this size, nothing is malloc'd */
    const bool was_training = m->net->training;
    if (was_training) tg_module_train(m->net, false);
    tg_no_grad_begin(t);
    /* x is only read: no-grad mode records nothing and an eval forward updates no state */
    tg_tensor *y = tg_module_forward(m->net, t, (tg_tensor *)x);
    tg_no_grad_end(t);
    if (was_training) tg_module_train(m->net, true);
    if (!y) {
        const char *why = tg_error(t) ? tg_error(t) : "forward failed";
        SAY("model_infer: %s", why);
        return strstr(why, "arena full") ? TG_ERR_NOMEM : TG_ERR_INVALID;
    }
    memcpy(out->data, y->data, (size_t)out->numel * sizeof *out->data);
    return TG_OK;
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
