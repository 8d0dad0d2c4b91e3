/* nn/module.c — modules: construction, forward, train/eval, joins, parameter iteration, init. */
#include "module.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/activation.h"
#include "../ops/arith.h"
#include "../ops/linalg.h"
#include "../ops/shape.h"

static tg_module *module_new(tg_module_kind kind, const char *type)
{
    tg_module *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->op = -1;
    m->training = true;
    snprintf(m->type, sizeof m->type, "%s", type);
    return m;
}

/* Sets an attribute when the op has it (e.g. "training"); silently skips otherwise. */
static void set_if_present(tg_module *m, const char *key, const char *value)
{
    const tg_op_desc *d = tg_op_get(m->op);
    if (!d) return;
    for (int i = 0; i < d->n_attrs; i++)
        if (!strcmp(d->attrs[i].name, key)) {
            char err[128];
            tg_attr_set(m->op, m->attr, key, value, err, sizeof err);
        }
}

tg_module *tg_op_layer(const char *op_name)
{
    const int op = tg_op_find(op_name);
    const tg_op_desc *d = tg_op_get(op);
    if (!d || d->attr_size > TG_MODULE_ATTR_BYTES) return NULL;
    tg_module *m = module_new(TG_MOD_OP, op_name);
    if (!m) return NULL;
    m->op = op;
    if (d->attr_size) tg_attr_defaults(op, m->attr);
    if (!strcmp(op_name, "flatten")) set_if_present(m, "start_dim", "1"); /* nn.Flatten keeps N */
    set_if_present(m, "training", "1");
    return m;
}

int tg_module_set(tg_module *m, const char *key, const char *value, char *err, size_t errsz)
{
    if (m->kind == TG_MOD_DROPOUT && !strcmp(key, "p")) {
        char *end;
        const double p = strtod(value, &end);
        if (*end || !(p >= 0 && p < 1)) {
            snprintf(err, errsz, "dropout: p must be a number in [0, 1), not '%s'", value);
            return -1;
        }
        m->p = p;
        return 0;
    }
    if (m->kind != TG_MOD_OP) {
        snprintf(err, errsz, "%s: unknown key '%s'", m->type, key);
        return -1;
    }
    const tg_op_desc *d = tg_op_get(m->op);
    for (int i = 0; i < d->n_attrs; i++)
        if (!strcmp(d->attrs[i].name, key)) return tg_attr_set(m->op, m->attr, key, value, err, errsz);
    snprintf(err, errsz, "%s: unknown key '%s'", m->type, key);
    return -1;
}

static tg_tensor *param_new(tg_module *m, int ndim, const int64_t *shape, const char *name, bool buffer)
{
    tg_tensor *t = tg_tensor_new(TG_REAL, ndim, shape);
    if (!t) return NULL;
    if (buffer) {
        m->buffers[m->n_buffers] = t;
        m->buffer_names[m->n_buffers++] = name;
    } else {
        t->requires_grad = true;
        t->is_param = true;
        m->params[m->n_params] = t;
        m->param_names[m->n_params++] = name;
    }
    tg_tensor_set_name(t, name);
    return t;
}

void tg_weight_fans(const tg_tensor *w, double *fan_in, double *fan_out)
{
    double receptive = 1;
    for (int i = 2; i < w->ndim; i++) receptive *= (double)w->shape[i];
    *fan_in = (double)(w->ndim > 1 ? w->shape[1] : w->shape[0]) * receptive;
    *fan_out = (double)w->shape[0] * receptive;
}

/* Draws a weight/bias pair: PyTorch's default or one of the named schemes. */
static void init_pair(tg_tensor *w, tg_tensor *b, tg_init_kind kind, tg_rng *rng)
{
    double fan_in, fan_out;
    tg_weight_fans(w, &fan_in, &fan_out);
    for (int64_t i = 0; i < w->numel; i++) {
        double v;
        switch (kind) {
        case TG_INIT_HE_NORMAL: v = tg_rng_normal(rng) * sqrt(2 / fan_in); break;
        case TG_INIT_HE_UNIFORM: v = (2 * tg_rng_uniform(rng) - 1) * sqrt(6 / fan_in); break;
        case TG_INIT_XAVIER_UNIFORM: v = (2 * tg_rng_uniform(rng) - 1) * sqrt(6 / (fan_in + fan_out)); break;
        case TG_INIT_XAVIER_NORMAL: v = tg_rng_normal(rng) * sqrt(2 / (fan_in + fan_out)); break;
        case TG_INIT_DEFAULT:
        default: v = (2 * tg_rng_uniform(rng) - 1) / sqrt(fan_in); break; /* kaiming_uniform(a=sqrt 5) */
        }
        w->data[i] = (tg_real)v;
    }
    if (b)
        for (int64_t i = 0; i < b->numel; i++)
            b->data[i] = kind == TG_INIT_DEFAULT ? (tg_real)((2 * tg_rng_uniform(rng) - 1) / sqrt(fan_in)) : 0;
}

/* A weighted op layer: weight of the given shape plus an optional bias of bias_len. */
static tg_module *weighted_layer(const char *op_name, int ndim, const int64_t *wshape, int64_t bias_len,
                                 bool bias, tg_rng *rng)
{
    tg_module *m = tg_op_layer(op_name);
    if (!m) return NULL;
    tg_tensor *w = param_new(m, ndim, wshape, "weight", false);
    tg_tensor *b = bias ? param_new(m, 1, &bias_len, "bias", false) : NULL;
    if (!w || (bias && !b)) {
        tg_module_free(m);
        return NULL;
    }
    if (rng) init_pair(w, b, TG_INIT_DEFAULT, rng);
    return m;
}

tg_module *tg_linear_layer(int64_t in, int64_t out, bool bias, tg_rng *rng)
{
    if (in <= 0 || out <= 0) return NULL;
    const int64_t shape[2] = {out, in};
    return weighted_layer("linear", 2, shape, out, bias, rng);
}

tg_module *tg_conv_layer(int dims, int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng)
{
    static const char *const names[4] = {NULL, "conv1d", "conv2d", "conv3d"};
    if (dims < 1 || dims > 3 || in <= 0 || out <= 0 || kernel <= 0 || groups <= 0 || in % groups || out % groups)
        return NULL;
    int64_t shape[5] = {out, in / groups, kernel, kernel, kernel};
    tg_module *m = weighted_layer(names[dims], 2 + dims, shape, out, bias, rng);
    if (m && groups > 1) {
        char g[24], err[128];
        snprintf(g, sizeof g, "%lld", (long long)groups);
        tg_attr_set(m->op, m->attr, "groups", g, err, sizeof err);
    }
    return m;
}

tg_module *tg_conv_transpose2d_layer(int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng)
{
    if (in <= 0 || out <= 0 || kernel <= 0 || groups <= 0 || in % groups || out % groups) return NULL;
    const int64_t shape[4] = {in, out / groups, kernel, kernel};
    tg_module *m = weighted_layer("conv_transpose2d", 4, shape, out, bias, rng);
    if (m && groups > 1) {
        char g[24], err[128];
        snprintf(g, sizeof g, "%lld", (long long)groups);
        tg_attr_set(m->op, m->attr, "groups", g, err, sizeof err);
    }
    return m;
}

/* gamma = 1, beta = 0 of length c (affine norms). */
static int affine_params(tg_module *m, int ndim, const int64_t *shape)
{
    tg_tensor *g = param_new(m, ndim, shape, "weight", false), *b = param_new(m, ndim, shape, "bias", false);
    if (!g || !b) return -1;
    tg_tensor_fill(g, 1);
    return 0;
}

tg_module *tg_batch_norm_layer(int64_t channels)
{
    if (channels <= 0) return NULL;
    tg_module *m = tg_op_layer("batch_norm");
    if (!m) return NULL;
    tg_tensor *mean = param_new(m, 1, &channels, "running_mean", true);
    tg_tensor *var = param_new(m, 1, &channels, "running_var", true);
    if (!mean || !var || affine_params(m, 1, &channels)) {
        tg_module_free(m);
        return NULL;
    }
    tg_tensor_fill(var, 1);
    return m;
}

tg_module *tg_layer_norm_layer(int n, const int64_t *normalized_shape)
{
    if (n < 1 || n > 4) return NULL;
    tg_module *m = tg_op_layer("layer_norm");
    if (!m) return NULL;
    char text[128] = "", err[128];
    for (int i = 0; i < n; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%lld", i ? "," : "", (long long)normalized_shape[i]);
    if (tg_attr_set(m->op, m->attr, "normalized_shape", text, err, sizeof err) || affine_params(m, n, normalized_shape)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_instance_norm_layer(int64_t channels, bool affine)
{
    if (channels <= 0) return NULL;
    tg_module *m = tg_op_layer("instance_norm");
    if (m && affine && affine_params(m, 1, &channels)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_group_norm_layer(int64_t groups, int64_t channels)
{
    if (groups <= 0 || channels <= 0 || channels % groups) return NULL;
    tg_module *m = tg_op_layer("group_norm");
    if (!m) return NULL;
    char g[24], err[128];
    snprintf(g, sizeof g, "%lld", (long long)groups);
    if (tg_attr_set(m->op, m->attr, "num_groups", g, err, sizeof err) || affine_params(m, 1, &channels)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_dropout_layer(double p)
{
    if (!(p >= 0 && p < 1)) return NULL;
    tg_module *m = module_new(TG_MOD_DROPOUT, "dropout");
    if (m) m->p = p;
    return m;
}

tg_module *tg_sequential(const char *name)
{
    tg_module *m = module_new(TG_MOD_SEQUENTIAL, "sequential");
    if (m && name) snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

static tg_module *join_layer(tg_module_kind kind, const char *type, const char *from)
{
    if (!from || !*from) return NULL;
    tg_module *m = module_new(kind, type);
    if (!m) return NULL;
    const char *p = from;
    while (*p) {
        const size_t len = strcspn(p, ",");
        if (len == 0 || len >= TG_NAME_LEN || m->n_from == TG_MODULE_MAX_FROM) {
            tg_module_free(m);
            return NULL;
        }
        memcpy(m->from[m->n_from], p, len);
        m->from[m->n_from++][len] = 0;
        p += len + (p[len] == ',');
    }
    if (kind == TG_MOD_ADD && m->n_from != 1) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_add_layer(const char *from) { return join_layer(TG_MOD_ADD, "add", from); }
tg_module *tg_concat_layer(const char *from) { return join_layer(TG_MOD_CONCAT, "concat", from); }

tg_module *tg_sequential_add(tg_module *seq, tg_module *child)
{
    if (!seq || !child) {
        tg_module_free(child);
        return NULL;
    }
    tg_module **c = realloc(seq->children, (size_t)(seq->n_children + 1) * sizeof *c);
    if (!c) {
        tg_module_free(child);
        return NULL;
    }
    seq->children = c;
    if (!child->name[0]) snprintf(child->name, sizeof child->name, "%d", seq->n_children);
    child->training = seq->training;
    seq->children[seq->n_children++] = child;
    return child;
}

void tg_module_free(tg_module *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) tg_tensor_free(m->params[i]);
    for (int i = 0; i < m->n_buffers; i++) tg_tensor_free(m->buffers[i]);
    for (int i = 0; i < m->n_children; i++) tg_module_free(m->children[i]);
    free(m->children);
    free(m);
}

void tg_module_train(tg_module *m, bool training)
{
    if (!m) return;
    m->training = training;
    if (m->kind == TG_MOD_OP) set_if_present(m, "training", training ? "1" : "0");
    for (int i = 0; i < m->n_children; i++) tg_module_train(m->children[i], training);
}

static tg_tensor *op_forward(tg_module *m, tg_tape *t, tg_tensor *x)
{
    tg_tensor *in[TG_MAX_INPUTS] = {x};
    int n = 1;
    if (!strcmp(m->type, "batch_norm")) { /* F.batch_norm order: input, mean, var, weight, bias */
        in[n++] = m->buffers[0], in[n++] = m->buffers[1];
        in[n++] = m->params[0], in[n++] = m->params[1];
    } else {
        const tg_op_desc *d = tg_op_get(m->op);
        for (int i = 0; i < m->n_params; i++) in[n++] = m->params[i];
        /* affine-free norms and bias-free layers pass their optional slots as NULL */
        while (n < d->max_inputs && (d->optional_inputs >> n & 1)) in[n++] = NULL;
    }
    return tg_op_apply(t, m->op, in, n, m->attr);
}

/* Outputs named by id= within one sequential, for joins. */
typedef struct named_outputs {
    const char *names[64];
    tg_tensor *tensors[64];
    int n;
} named_outputs;

static tg_tensor *lookup(const named_outputs *o, const char *name, tg_tensor *current)
{
    if (!strcmp(name, ".")) return current;
    for (int i = o->n - 1; i >= 0; i--)
        if (!strcmp(o->names[i], name)) return o->tensors[i];
    return NULL;
}

static tg_tensor *sequential_forward(tg_module *m, tg_tape *t, tg_tensor *x, tg_module_observer obs, void *ctx)
{
    named_outputs outs = {.names = {"input"}, .tensors = {x}, .n = 1};
    tg_tensor *cur = x;
    for (int i = 0; i < m->n_children && cur; i++) {
        tg_module *c = m->children[i];
        tg_tensor *in = cur;
        if (c->kind == TG_MOD_ADD || c->kind == TG_MOD_CONCAT) {
            tg_tensor *parts[TG_MODULE_MAX_FROM + 1];
            int n = 0;
            if (c->kind == TG_MOD_ADD) parts[n++] = cur;
            for (int k = 0; k < c->n_from; k++) {
                parts[n] = lookup(&outs, c->from[k], cur);
                if (!parts[n]) return tg_fail(t, "%s: no earlier layer has id '%s'", c->type, c->from[k]);
                n++;
            }
            tg_tape_push_scope(t, c->name);
            cur = c->kind == TG_MOD_ADD ? tg_add(t, parts[0], parts[1]) : tg_concat(t, parts, n, 1);
            tg_tape_pop_scope(t);
        } else {
            cur = tg_module_forward_observed(c, t, cur, obs, ctx);
        }
        if (obs && cur && c->kind != TG_MOD_SEQUENTIAL) obs(ctx, c, in, cur);
        if (cur && c->id[0] && outs.n < 64) {
            outs.names[outs.n] = c->id;
            outs.tensors[outs.n++] = cur;
        }
    }
    return cur;
}

tg_tensor *tg_module_forward(tg_module *m, tg_tape *t, tg_tensor *x)
{
    return tg_module_forward_observed(m, t, x, NULL, NULL);
}

tg_tensor *tg_module_forward_observed(tg_module *m, tg_tape *t, tg_tensor *x, tg_module_observer obs, void *ctx)
{
    if (!m || !x) return x ? tg_fail(t, "module: NULL module") : NULL;
    tg_tensor *y = NULL;
    tg_tape_push_scope(t, m->name); /* nodes remember the layer path (DOT clusters, anomaly messages) */
    switch (m->kind) {
    case TG_MOD_OP: y = op_forward(m, t, x); break;
    case TG_MOD_DROPOUT: y = m->training && m->p > 0 ? tg_dropout(t, x, m->p, true) : x; break;
    case TG_MOD_SEQUENTIAL: y = sequential_forward(m, t, x, obs, ctx); break;
    case TG_MOD_ADD:
    case TG_MOD_CONCAT: y = tg_fail(t, "%s: joins only work inside a sequential", m->type); break;
    }
    tg_tape_pop_scope(t);
    return y;
}

/* ---- iteration ---- */

static void named_walk(tg_module *m, const char *prefix, bool buffers, tg_named_tensor *out, int max, int *count)
{
    for (int pass = 0; pass < (buffers ? 2 : 1); pass++) {
        const int n = pass ? m->n_buffers : m->n_params;
        for (int i = 0; i < n; i++) {
            tg_tensor *t = pass ? m->buffers[i] : m->params[i];
            if (!t) continue;
            if (out && *count < max) {
                tg_named_tensor *e = &out[*count];
                snprintf(e->name, sizeof e->name, "%s%s%s", prefix, *prefix ? "." : "",
                         pass ? m->buffer_names[i] : m->param_names[i]);
                e->tensor = t, e->is_buffer = pass, e->owner = m;
            }
            (*count)++;
        }
    }
    for (int i = 0; i < m->n_children; i++) {
        char sub[128];
        snprintf(sub, sizeof sub, "%s%s%s", prefix, *prefix ? "." : "", m->children[i]->name);
        named_walk(m->children[i], sub, buffers, out, max, count);
    }
}

int tg_module_named_tensors(tg_module *m, bool buffers, tg_named_tensor *out, int max)
{
    int count = 0;
    if (m) named_walk(m, "", buffers, out, max, &count);
    return count;
}

int64_t tg_module_param_count(tg_module *m)
{
    if (!m) return 0;
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i] ? m->params[i]->numel : 0;
    for (int i = 0; i < m->n_children; i++) n += tg_module_param_count(m->children[i]);
    return n;
}

void tg_module_init(tg_module *m, tg_init_kind kind, tg_rng *rng)
{
    if (!m) return;
    const bool weighted = m->kind == TG_MOD_OP && m->n_params >= 1 && !strcmp(m->param_names[0], "weight") &&
                          (strstr(m->type, "conv") || !strcmp(m->type, "linear"));
    if (weighted) init_pair(m->params[0], m->n_params > 1 ? m->params[1] : NULL, kind, rng);
    for (int i = 0; i < m->n_children; i++) tg_module_init(m->children[i], kind, rng);
}

tg_module *tg_module_find(tg_module *m, const char *path)
{
    if (!m || !path) return NULL;
    if (!*path) return m;
    const size_t len = strcspn(path, ".");
    for (int i = 0; i < m->n_children; i++)
        if (strlen(m->children[i]->name) == len && !strncmp(m->children[i]->name, path, len))
            return tg_module_find(m->children[i], path[len] ? path + len + 1 : "");
    return NULL;
}
