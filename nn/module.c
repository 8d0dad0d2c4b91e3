/* nn/module.c — modules: construction, forward, train/eval, joins, parameter iteration, init. */
#include "module_internal.h"

#include "../graph/error_internal.h"
#include "../graph/tape_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/activation.h"
#include "../ops/arith.h"
#include "../ops/kernels/elementwise.h"
#include "../ops/norm.h"
#include "../ops/linalg.h"
#include "../ops/pool.h"
#include "../ops/shape.h"

static tg_module *module_new(tg_module_kind kind, const char *type)
{
    tg_module *m = calloc(1, sizeof *m);
    if (!m) return tg_set_last_error("%s layer: out of memory", type);
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
    char q[64];
    if (!d) return tg_set_last_error("op layer: unknown op '%s'", tg_escape(op_name ? op_name : "(null)", TG_ESCAPE_CSTR, 12, q, sizeof q));
    if (d->attr_size > TG_MODULE_ATTR_BYTES)
        return tg_set_last_error("%s layer: its attributes take %zu bytes, more than TG_MODULE_ATTR_BYTES (%d)", d->name,
                                 d->attr_size, TG_MODULE_ATTR_BYTES);
    tg_module *m = module_new(TG_MOD_OP, op_name);
    if (!m) return NULL;
    m->op = op;
    if (d->attr_size) tg_attr_defaults(op, m->attr);
    if (!strcmp(op_name, "flatten")) set_if_present(m, "start_dim", "1"); /* nn.Flatten keeps N */
    set_if_present(m, "training", "1");
    return m;
}


/* Index of the op input called name (>= 1), or -1. */
static int op_input_index(const tg_op_desc *d, const char *name)
{
    for (int i = 1; d && d->input_names && i < d->max_inputs; i++)
        if (d->input_names[i] && !strcmp(d->input_names[i], name)) return i;
    return -1;
}

tg_tensor *tg_module_tensor(const tg_module *m, const char *name)
{
    if (!m || !name) return NULL;
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->param_names[i], name)) return m->params[i];
    for (int i = 0; i < m->n_buffers; i++)
        if (!strcmp(m->buffer_names[i], name)) return m->buffers[i];
    return NULL;
}

/* Checks that t can bind to the op input `name` of m; 0 or -1 with the reason. */
static int check_new_tensor(const tg_module *m, const char *name, const tg_tensor *t, bool buffer, char *err,
                            size_t errsz)
{
    const char *what = buffer ? "buffer" : "parameter";
    const tg_op_desc *d = m ? tg_op_get(m->op) : NULL;
    if (!m || m->kind != TG_MOD_OP || !d) return snprintf(err, errsz, "module: a %s needs an op layer", what), -1;
    if (!t || !name) return snprintf(err, errsz, "%s: NULL %s or name", m->type, what), -1;
    if (strlen(name) >= TG_NAME_LEN) return snprintf(err, errsz, "%s: %s name too long", m->type, what), -1;
    const int input = op_input_index(d, name);
    if (input < 0)
        return snprintf(err, errsz, "%s: op %s has no input '%s' for the %s to bind to", m->type, d->name, name,
                        what), -1;
    if (tg_module_tensor(m, name)) return snprintf(err, errsz, "%s: '%s' is already set", m->type, name), -1;
    /* an op that marks its parameter inputs (every built-in with one) says which kind binds where */
    const bool param_input = (d->param_inputs & TG_INPUT_BIT(input)) != 0;
    if (d->param_inputs && param_input == buffer)
        return snprintf(err, errsz, "%s: input '%s' of op %s takes a %s, not a %s", m->type, name, d->name,
                        param_input ? "parameter" : "buffer", what), -1;
    if ((buffer ? m->n_buffers : m->n_params) == (buffer ? TG_MODULE_MAX_BUFFERS : TG_MODULE_MAX_PARAMS))
        return snprintf(err, errsz, "%s: more than %d %ss (TG_MODULE_MAX_%s)", m->type,
                        buffer ? TG_MODULE_MAX_BUFFERS : TG_MODULE_MAX_PARAMS, what, buffer ? "BUFFERS" : "PARAMS"),
               -1;
    return 0;
}

tg_status tg_module_add_param(tg_module *m, const char *name, tg_tensor *t, char *err, size_t errsz)
{
    char local[160];
    if (!err) err = local, errsz = sizeof local;
    if (check_new_tensor(m, name, t, false, err, errsz)) return TG_ERR_INVALID;
    t->requires_grad = true;
    t->is_param = true;
    snprintf(m->param_names[m->n_params], TG_NAME_LEN, "%s", name);
    m->params[m->n_params++] = t;
    return TG_OK;
}

tg_status tg_module_add_buffer(tg_module *m, const char *name, tg_tensor *t, char *err, size_t errsz)
{
    char local[160];
    if (!err) err = local, errsz = sizeof local;
    if (check_new_tensor(m, name, t, true, err, errsz)) return TG_ERR_INVALID;
    snprintf(m->buffer_names[m->n_buffers], TG_NAME_LEN, "%s", name);
    m->buffers[m->n_buffers++] = t;
    return TG_OK;
}

/* A new zeroed parameter or buffer of the given shape, added under name; NULL when that fails. */
static tg_tensor *param_new(tg_module *m, int ndim, const int64_t *shape, const char *name, bool buffer)
{
    tg_tensor *t = tg_tensor_new(TG_REAL, ndim, shape);
    if (!t) {
        char why[TG_LAST_ERROR_LEN]; /* copied: the new message is written over the old one */
        snprintf(why, sizeof why, "%s", tg_last_error());
        return tg_set_last_error("%s layer: %s: %s", m->type, name, why);
    }
    tg_tensor_set_name(t, name);
    char err[TG_LAST_ERROR_LEN];
    const int rc = buffer ? tg_module_add_buffer(m, name, t, err, sizeof err) : tg_module_add_param(m, name, t, err, sizeof err);
    if (rc) {
        tg_tensor_free(t);
        return tg_set_last_error("%s", err);
    }
    return t;
}

/* momentum=none is PyTorch's cumulative average (factor 1/num_batches_tracked), so a layer whose
 * op takes the counter gets it as an int64 buffer of one value. It is transient (not listed by
 * tg_module_named_tensors) because checkpoints store real values; layers with a momentum keep
 * the layout they always had. */
static int add_batch_counter(tg_module *m, char *err, size_t errsz)
{
    static const char counter[] = "num_batches_tracked";
    if (op_input_index(tg_op_get(m->op), counter) < 0 || tg_module_tensor(m, counter)) return 0;
    const int64_t one = 1;
    tg_tensor *t = tg_tensor_new(TG_INT64, 1, &one);
    if (!t) return snprintf(err, errsz, "%s: out of memory", m->type), -1;
    t->idata[0] = 0;
    if (tg_module_add_buffer(m, counter, t, err, errsz)) {
        tg_tensor_free(t);
        return -1;
    }
    m->transient_buffers |= 1u << (m->n_buffers - 1);
    return 0;
}

/* The body of tg_module_set: 0, or -1 with the reason in err. */
static int module_set(tg_module *m, const char *key, const char *value, char *err, size_t errsz)
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
        if (!strcmp(d->attrs[i].name, key)) {
            if (tg_attr_set(m->op, m->attr, key, value, err, errsz)) return -1;
            return !strcmp(key, "momentum") && !strcmp(value, "none") ? add_batch_counter(m, err, errsz) : 0;
        }
    snprintf(err, errsz, "%s: unknown key '%s'", m->type, key);
    return -1;
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
    if (in <= 0 || out <= 0)
        return tg_set_last_error("linear layer: in=%lld and out=%lld must be > 0", (long long)in, (long long)out);
    const int64_t shape[2] = {out, in};
    return weighted_layer("linear", 2, shape, out, bias, rng);
}

/* Sets an integer attribute from C (constructors); 0, or -1 with tg_last_error set. */
static int set_int(tg_module *m, const char *key, int64_t v)
{
    char text[24], err[TG_LAST_ERROR_LEN];
    snprintf(text, sizeof text, "%lld", (long long)v);
    if (tg_attr_set(m->op, m->attr, key, text, err, sizeof err) == 0) return 0;
    tg_set_last_error("%s layer: %s", m->type, err);
    return -1;
}

/* conv and conv_transpose of 1..3 spatial dims: the weight is [a, b/groups, kernel...] with
 * (a, b) = (out, in) for conv and (in, out) for the transpose. */
static tg_module *conv_family_layer(bool transposed, int dims, int64_t in, int64_t out, const int64_t *kernel,
                                    int64_t groups, bool bias, tg_rng *rng)
{
    static const char *const conv_names[4] = {NULL, "conv1d", "conv2d", "conv3d"};
    static const char *const transpose_names[4] = {NULL, "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"};
    const char *what = transposed ? "conv_transpose layer" : "conv layer";
    if (dims < 1 || dims > 3) return tg_set_last_error("%s: dims=%d is outside 1..3", what, dims);
    if (!kernel) return tg_set_last_error("%s: kernel is NULL", what);
    if (in <= 0 || out <= 0 || groups <= 0)
        return tg_set_last_error("%s: in=%lld, out=%lld and groups=%lld must be > 0", what, (long long)in, (long long)out,
                                 (long long)groups);
    if (in % groups || out % groups)
        return tg_set_last_error("%s: in=%lld and out=%lld must be divisible by groups=%lld", what, (long long)in,
                                 (long long)out, (long long)groups);
    int64_t shape[5] = {transposed ? in : out, transposed ? out / groups : in / groups};
    for (int i = 0; i < dims; i++) {
        if (kernel[i] <= 0)
            return tg_set_last_error("%s: kernel[%d]=%lld must be > 0", what, i, (long long)kernel[i]);
        shape[2 + i] = kernel[i];
    }
    tg_module *m = weighted_layer(transposed ? transpose_names[dims] : conv_names[dims], 2 + dims, shape, out, bias, rng);
    if (m && groups > 1 && set_int(m, "groups", groups)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_conv_layer_nd(int dims, int64_t in, int64_t out, const int64_t *kernel, int64_t groups, bool bias,
                            tg_rng *rng)
{
    return conv_family_layer(false, dims, in, out, kernel, groups, bias, rng);
}

tg_module *tg_conv_layer(int dims, int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng)
{
    const int64_t k[3] = {kernel, kernel, kernel};
    return conv_family_layer(false, dims, in, out, k, groups, bias, rng);
}

tg_module *tg_conv_transpose_layer_nd(int dims, int64_t in, int64_t out, const int64_t *kernel, int64_t groups,
                                      bool bias, tg_rng *rng)
{
    return conv_family_layer(true, dims, in, out, kernel, groups, bias, rng);
}

tg_module *tg_conv_transpose2d_layer(int64_t in, int64_t out, int64_t kernel, int64_t groups, bool bias, tg_rng *rng)
{
    const int64_t k[2] = {kernel, kernel};
    return conv_family_layer(true, 2, in, out, k, groups, bias, rng);
}

tg_module *tg_locally_connected2d_layer(int64_t in, const int64_t *in_hw, int64_t out, const int64_t *kernel,
                                        const tg_conv_attr *attr, bool bias, tg_rng *rng)
{
    if (in <= 0 || out <= 0)
        return tg_set_last_error("locally_connected2d layer: in=%lld and out=%lld must be > 0", (long long)in,
                                 (long long)out);
    if (!in_hw || !kernel) return tg_set_last_error("locally_connected2d layer: %s is NULL", !in_hw ? "in_hw" : "kernel");
    tg_module *m = tg_op_layer("locally_connected2d");
    if (!m) return NULL;
    if (attr) memcpy(m->attr, attr, sizeof *attr);
    const tg_conv_attr *a = (const tg_conv_attr *)m->attr;
    int64_t wshape[6] = {0, 0, out, in, kernel[0], kernel[1]};
    for (int i = 0; i < 2; i++) {
        const int64_t s = tg_ints_at(&a->stride, i), p = tg_ints_at(&a->padding, i), d = tg_ints_at(&a->dilation, i);
        const int64_t span = in_hw[i] + 2 * p - d * (kernel[i] - 1) - 1;
        if (kernel[i] <= 0 || s <= 0 || d <= 0 || p < 0 || span < 0) {
            tg_module_free(m);
            return tg_set_last_error("locally_connected2d layer: dim %d: kernel=%lld stride=%lld dilation=%lld padding=%lld "
                                     "leave no output position for an input of %lld", i, (long long)kernel[i], (long long)s,
                                     (long long)d, (long long)p, (long long)in_hw[i]);
        }
        wshape[i] = span / s + 1;
    }
    const int64_t bshape[3] = {out, wshape[0], wshape[1]};
    tg_tensor *w = param_new(m, 6, wshape, "weight", false);
    tg_tensor *b = bias ? param_new(m, 3, bshape, "bias", false) : NULL;
    if (!w || (bias && !b)) {
        tg_module_free(m);
        return NULL;
    }
    /* PyTorch's default for a layer with fan_in = in*kh*kw inputs per output: U(+-1/sqrt(fan_in)) */
    const double bound = 1 / sqrt((double)(in * kernel[0] * kernel[1]));
    for (int64_t i = 0; rng && i < w->numel; i++) w->data[i] = (tg_real)((2 * tg_rng_uniform(rng) - 1) * bound);
    for (int64_t i = 0; rng && b && i < b->numel; i++) b->data[i] = (tg_real)((2 * tg_rng_uniform(rng) - 1) * bound);
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

/* running_mean 0, running_var 1 of length c (batch/instance norm with track_running_stats). */
static int running_buffers(tg_module *m, int64_t c)
{
    tg_tensor *mean = param_new(m, 1, &c, "running_mean", true), *var = param_new(m, 1, &c, "running_var", true);
    if (!mean || !var) return -1;
    tg_tensor_fill(var, 1);
    return 0;
}

/* A norm layer of op_name with optional affine parameters [affine_ndim shape] and running
 * statistics of length channels. Parameters come before buffers in the names either way. */
static tg_module *norm_layer(const char *op_name, int affine_ndim, const int64_t *affine_shape, bool affine,
                             bool running, int64_t channels)
{
    tg_module *m = tg_op_layer(op_name);
    if (m && ((affine && affine_params(m, affine_ndim, affine_shape)) || (running && running_buffers(m, channels)))) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_batch_norm_layer_opts(int64_t channels, bool affine, bool track_running_stats)
{
    if (channels <= 0) return tg_set_last_error("batch_norm layer: channels=%lld must be > 0", (long long)channels);
    return norm_layer("batch_norm", 1, &channels, affine, track_running_stats, channels);
}

tg_module *tg_batch_norm_layer(int64_t channels) { return tg_batch_norm_layer_opts(channels, true, true); }

tg_module *tg_layer_norm_layer_opts(int n, const int64_t *normalized_shape, bool elementwise_affine)
{
    if (n < 1 || n > 4) return tg_set_last_error("layer_norm layer: n=%d normalized dims is outside 1..4", n);
    if (!normalized_shape) return tg_set_last_error("layer_norm layer: normalized_shape is NULL");
    tg_module *m = norm_layer("layer_norm", n, normalized_shape, elementwise_affine, false, 0);
    if (!m) return NULL;
    char text[128] = "", err[128];
    for (int i = 0; i < n; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%lld", i ? "," : "", (long long)normalized_shape[i]);
    if (tg_attr_set(m->op, m->attr, "normalized_shape", text, err, sizeof err)) {
        tg_module_free(m);
        return tg_set_last_error("layer_norm layer: %s", err);
    }
    return m;
}

tg_module *tg_layer_norm_layer(int n, const int64_t *normalized_shape)
{
    return tg_layer_norm_layer_opts(n, normalized_shape, true);
}

tg_module *tg_instance_norm_layer_opts(int64_t channels, bool affine, bool track_running_stats)
{
    if (channels <= 0) return tg_set_last_error("instance_norm layer: channels=%lld must be > 0", (long long)channels);
    tg_module *m = norm_layer("instance_norm", 1, &channels, affine, track_running_stats, channels);
    if (m) tg_module_train(m, true); /* use_input_stats follows the mode and the running stats */
    return m;
}

tg_module *tg_instance_norm_layer(int64_t channels, bool affine)
{
    return tg_instance_norm_layer_opts(channels, affine, false);
}

tg_module *tg_group_norm_layer_opts(int64_t groups, int64_t channels, bool affine)
{
    if (groups <= 0 || channels <= 0 || channels % groups)
        return tg_set_last_error("group_norm layer: channels=%lld must be a positive multiple of groups=%lld",
                                 (long long)channels, (long long)groups);
    tg_module *m = norm_layer("group_norm", 1, &channels, affine, false, 0);
    if (m && set_int(m, "num_groups", groups)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_group_norm_layer(int64_t groups, int64_t channels)
{
    return tg_group_norm_layer_opts(groups, channels, true);
}

tg_module *tg_frn_layer(int64_t channels, bool affine)
{
    if (channels <= 0) return tg_set_last_error("frn layer: channels=%lld must be > 0", (long long)channels);
    return norm_layer("frn", 1, &channels, affine, false, 0);
}

tg_module *tg_tlu_layer(int64_t channels)
{
    if (channels <= 0) return tg_set_last_error("tlu layer: channels=%lld must be > 0", (long long)channels);
    tg_module *m = tg_op_layer("tlu");
    if (m && !param_new(m, 1, &channels, "tau", false)) {
        tg_module_free(m);
        return NULL;
    }
    return m;
}

tg_module *tg_dropout_layer(double p)
{
    if (!(p >= 0 && p < 1)) return tg_set_last_error("dropout layer: p=%g is outside [0, 1)", p);
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

/* Parses the comma list of ids into m->from; 0, or -1 when empty, too long or too many. */
static int parse_from(tg_module *m, const char *from)
{
    if (!from || !*from) return -1;
    for (const char *p = from; *p;) {
        const size_t len = strcspn(p, ",");
        if (len == 0 || len >= TG_NAME_LEN || m->n_from == TG_MODULE_MAX_FROM) return -1;
        memcpy(m->from[m->n_from], p, len);
        m->from[m->n_from++][len] = 0;
        p += len + (p[len] == ',');
    }
    return 0;
}

static tg_module *join_layer(tg_module_kind kind, const char *type, const char *from)
{
    tg_module *m = module_new(kind, type);
    if (m && (parse_from(m, from) || (kind == TG_MOD_ADD && m->n_from != 1))) {
        tg_module_free(m);
        char q[64];
        return tg_set_last_error("%s layer: from='%s' must be %s (ids of at most %d characters)", type,
                                 tg_escape(from ? from : "", TG_ESCAPE_CSTR, 12, q, sizeof q),
                                 kind == TG_MOD_ADD ? "one id" : "a comma list of 1 to 4 ids", TG_NAME_LEN - 1);
    }
    return m;
}

tg_module *tg_max_unpool_layer(int dims, const char *from)
{
    static const char *const names[4] = {NULL, "max_unpool1d", "max_unpool2d", "max_unpool3d"};
    if (dims < 1 || dims > 3) return tg_set_last_error("max_unpool layer: dims=%d is outside 1..3", dims);
    tg_module *m = tg_op_layer(names[dims]);
    if (m && (parse_from(m, from) || m->n_from != 1)) {
        tg_module_free(m);
        char q[64];
        return tg_set_last_error("%s layer: from='%s' must be the id of one max pool layer", names[dims],
                                 tg_escape(from ? from : "", TG_ESCAPE_CSTR, 12, q, sizeof q));
    }
    return m;
}

tg_module *tg_add_layer(const char *from) { return join_layer(TG_MOD_ADD, "add", from); }
tg_module *tg_concat_layer(const char *from) { return join_layer(TG_MOD_CONCAT, "concat", from); }

tg_module *tg_sequential_add(tg_module *seq, tg_module *child)
{
    if (!seq || !child) {
        tg_module_free(child);
        /* a NULL child keeps the reason its constructor gave */
        return seq ? NULL : tg_set_last_error("sequential_add: seq is NULL");
    }
    tg_module **c = realloc(seq->children, (size_t)(seq->n_children + 1) * sizeof *c);
    if (!c) {
        tg_module_free(child);
        return tg_set_last_error("sequential_add: out of memory");
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
    if (m->kind == TG_MOD_OP) {
        /* Without running statistics a norm has only the batch's (nn.BatchNorm/InstanceNorm with
         * track_running_stats=False use them in eval too). */
        const bool batch_stats = training || !tg_module_tensor(m, "running_mean");
        set_if_present(m, "training", batch_stats ? "1" : "0");
        set_if_present(m, "use_input_stats", batch_stats ? "1" : "0");
    }
    for (int i = 0; i < m->n_children; i++) tg_module_train(m->children[i], training);
}

/* The binding rule (module.h): input 0 is x, input i >= 1 the layer's tensor named like the op's
 * input i, `indices` the argmax of source (the from= output). Trailing absent inputs are left
 * off; a required one missing, or a layer tensor no input takes, is an error. */
static tg_tensor *op_forward(tg_module *m, tg_tape *t, tg_tensor *x, tg_tensor *source)
{
    const tg_op_desc *d = tg_op_get(m->op);
    char who[TG_NAME_LEN + 48]; /* "conv2d (layer '3')", or the type alone outside a sequential */
    snprintf(who, sizeof who, m->name[0] ? "%s (layer '%s')" : "%s", m->type, m->name);
    tg_tensor *in[TG_MAX_INPUTS] = {x};
    int n = 1;
    for (int i = 1; i < d->max_inputs && i < TG_MAX_INPUTS; i++) {
        const char *name = d->input_names && d->input_names[i] ? d->input_names[i] : "";
        in[i] = tg_module_tensor(m, name);
        if (!in[i] && source && !strcmp(name, "indices")) {
            in[i] = tg_pool_indices_tensor(t, source);
            if (!in[i]) return NULL;
        }
        if (in[i]) n = i + 1;
        else if (!(d->optional_inputs >> i & 1))
            return tg_fail(t, "%s: op %s needs input '%s' but the layer has no parameter or buffer of that name%s",
                           who, d->name, name,
                           strcmp(name, "indices") ? "" : " (give it from=ID of a max pool)");
    }
    for (int k = 0; k < m->n_params + m->n_buffers; k++) {
        const char *name = k < m->n_params ? m->param_names[k] : m->buffer_names[k - m->n_params];
        if (op_input_index(d, name) < 0)
            return tg_fail(t, "%s: '%s' matches no input of op %s", who, name, d->name);
    }
    return tg_op_apply(t, m->op, in, n, m->attr);
}

/* The output of the child with id `name` among the first `count` children (or the sequential's
 * input / the current output), latest first; NULL when none. */
static tg_tensor *lookup(const tg_module *seq, tg_tensor *const *outs, int count, const char *name, tg_tensor *input,
                         tg_tensor *current)
{
    if (!strcmp(name, ".")) return current;
    for (int i = count - 1; i >= 0; i--)
        if (!strcmp(seq->children[i]->id, name)) return outs[i];
    return !strcmp(name, "input") ? input : NULL;
}

/* Whether `in`, the input child i just consumed, is read by nothing later: it is not the
 * sequential's own input (the caller's), not child i's output (an identity such as eval
 * dropout returns its input), and no child with an id (which a later join or unpool may name)
 * holds it. */
static bool is_dead(const tg_module *m, tg_tensor *const *outs, int i, const tg_tensor *in, const tg_tensor *x)
{
    if (in == x || in == outs[i]) return false;
    for (int k = 0; k < i; k++)
        if (m->children[k]->id[0] && outs[k] == in) return false;
    return true;
}

/* The activation layer `act` as a convolution's fused epilogue (tg_tape_set_epilogue): ReLU and
 * leaky ReLU, the elementwise kernels' unary ops. */
static bool epilogue_of(const tg_module *act, tg_epilogue *e)
{
    if (act->kind != TG_MOD_OP || act->n_from || act->n_params || act->n_buffers) return false;
    if (act->op == TG_OP_RELU) *e = (tg_epilogue){true, TG_EW_RELU, 0};
    else if (act->op == TG_OP_LEAKY_RELU)
        *e = (tg_epilogue){true, TG_EW_LEAKY_RELU, (tg_real)((const tg_leaky_relu_attr *)(const void *)act->attr)->negative_slope};
    else return false;
    return true;
}

/* Whether child i (whose output nothing else reads: no id) and the activation after it can run as
 * one step, never under an observer (which is shown every layer):
 * - a batch, instance or group norm, also while recording: its kernel writes f(z) for the
 *   normalised z and its backward recomputes z from x and takes f's backward itself, so z is
 *   neither stored nor read back (the activation's own two passes over memory, forward and
 *   backward, saved: bit for bit the two layers' values and gradients; tests/test_nn.c);
 * - a convolution or a residual add without recording: the convolution applies it in its bias
 *   pass, the add's sum takes it in place. */
static bool fuses_with_next(const tg_module *m, int i, int hi, const tg_tape *t, bool observed, tg_epilogue *e)
{
    const tg_module *c = m->children[i];
    if (observed || i + 1 >= hi || c->id[0]) return false;
    const bool op = c->kind == TG_MOD_OP && !c->n_from;
    const bool conv = op && c->op >= TG_OP_CONV1D && c->op <= TG_OP_CONV_TRANSPOSE3D;
    const bool norm = op && tg_norm_can_fuse_activation(c->op);
    return (norm || (!tg_grad_enabled(t) && (conv || c->kind == TG_MOD_ADD))) && epilogue_of(m->children[i + 1], e);
}

/* Children lo..hi-1 of m on x: the sequential's input when lo == 0, else the output of child
 * lo-1 (a join may name that child's id; ids of earlier children are not available). */
static tg_tensor *sequential_range(tg_module *m, tg_tape *t, tg_tensor *x, int lo, int hi, tg_module_observer obs,
                                   void *ctx)
{
    /* A child's input that no later child reads goes back to the arena once the child has run,
     * unless a recorded node's backward reads its values (tg_tensor.backward_reads; none does
     * without grad mode, so inference peaks at the live activations, not all of them). In
     * training that frees, as PyTorch's reference counts do, e.g. a batch norm's output read only
     * by the ReLU after it (which reads its own output) or the sum before a residual ReLU. An
     * observer may keep what it is shown, so nothing is released then. */
    const bool release = !obs;
    /* every child's output, for joins and unpooling by id (arena: no limit on named outputs) */
    tg_tensor **outs = m->n_children ? tg_tape_alloc(t, (size_t)m->n_children * sizeof *outs) : NULL;
    if (m->n_children && !outs) return tg_fail(t, "sequential: arena full");
    for (int i = 0; i < lo; i++) outs[i] = i == lo - 1 ? x : NULL;
    tg_tensor *const input = lo == 0 ? x : NULL;
    tg_tensor *cur = x;
    for (int i = lo; i < hi && cur; i++) {
        tg_module *c = m->children[i];
        tg_tensor *in = cur;
        tg_epilogue act;
        bool fused = false;
        tg_tensor *parts[TG_MODULE_MAX_FROM + 1];
        int n = 0;
        if (c->kind == TG_MOD_ADD) parts[n++] = cur;
        for (int k = 0; k < c->n_from; k++) {
            parts[n] = lookup(m, outs, i, c->from[k], input, cur);
            if (!parts[n]) return tg_fail(t, "%s: no earlier layer has id '%s'", c->type, c->from[k]);
            n++;
        }
        if (c->kind == TG_MOD_ADD || c->kind == TG_MOD_CONCAT || c->kind == TG_MOD_OP) {
            tg_tape_push_scope(t, c->name); /* as tg_module_forward_observed does for the others */
            if (c->kind == TG_MOD_ADD) {
                cur = tg_add(t, parts[0], parts[1]);
                /* the sum is this step's own new tensor: the activation in place, the same kernel */
                if (cur && cur != parts[0] && cur != parts[1] && cur->data &&
                    fuses_with_next(m, i, hi, t, obs != NULL, &act)) {
                    tg_elementwise_kernel_get()->unary((tg_ew_unary)act.op, act.param, cur->data, cur->data, cur->numel);
                    fused = true;
                }
            } else if (c->kind == TG_MOD_CONCAT) cur = tg_concat(t, parts, n, 1);
            else if (fuses_with_next(m, i, hi, t, obs != NULL, &act)) {
                tg_tape_set_epilogue(t, act); /* the activation after it, in the op's own pass */
                cur = op_forward(c, t, cur, NULL);
                tg_tape_set_epilogue(t, (tg_epilogue){false, 0, 0});
                fused = true;
            } else cur = op_forward(c, t, cur, c->n_from ? parts[0] : NULL);
            tg_tape_pop_scope(t);
        } else {
            cur = tg_module_forward_observed(c, t, cur, obs, ctx);
        }
        if (obs && cur && c->kind != TG_MOD_SEQUENTIAL) obs(ctx, c, in, cur);
        outs[i] = cur;
        if (release && cur && !in->backward_reads && is_dead(m, outs, i, in, x)) tg_tape_release_tensor(t, in);
        if (fused) outs[++i] = cur; /* the activation layer's output: this one */
    }
    return cur;
}

static tg_tensor *sequential_forward(tg_module *m, tg_tape *t, tg_tensor *x, tg_module_observer obs, void *ctx)
{
    return sequential_range(m, t, x, 0, m->n_children, obs, ctx);
}

tg_tensor *tg_sequential_forward_range(tg_module *seq, tg_tape *t, tg_tensor *x, int lo, int hi)
{
    if (!seq || !x || seq->kind != TG_MOD_SEQUENTIAL || lo < 0 || lo > hi || hi > seq->n_children)
        return tg_fail(t, "sequential: bad range of children");
    tg_tape_push_scope(t, seq->name);
    tg_tensor *y = sequential_range(seq, t, x, lo, hi, NULL, NULL);
    tg_tape_pop_scope(t);
    return y;
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
    case TG_MOD_OP:
        y = m->n_from ? tg_fail(t, "%s: a layer with from= only works inside a sequential", m->type)
                      : op_forward(m, t, x, NULL);
        break;
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
            if (!t || (pass && (m->transient_buffers >> i & 1))) continue;
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
    /* the op says which input is a fan-in weight (conv, linear) and that its bias follows it */
    const tg_op_desc *d = m->kind == TG_MOD_OP ? tg_op_get(m->op) : NULL;
    for (int i = 0; d && d->input_names && i < d->max_inputs; i++)
        if (d->fan_in_inputs & TG_INPUT_BIT(i)) {
            tg_tensor *w = tg_module_tensor(m, d->input_names[i]);
            tg_tensor *b = i + 1 < d->max_inputs ? tg_module_tensor(m, d->input_names[i + 1]) : NULL;
            if (w) init_pair(w, b, kind, rng);
        }
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

/* ---- reading a module ---- */

const char *tg_module_name(const tg_module *m) { return m ? m->name : ""; }
const char *tg_module_type(const tg_module *m) { return m ? m->type : ""; }
int tg_module_child_count(const tg_module *m) { return m ? m->n_children : 0; }

tg_module *tg_module_child(const tg_module *m, int i)
{
    return m && i >= 0 && i < m->n_children ? m->children[i] : NULL;
}

tg_status tg_module_set_id(tg_module *m, const char *id, char *err, size_t errsz)
{
    if (!m || !id || !id[0] || strlen(id) >= sizeof m->id) {
        if (err && errsz)
            snprintf(err, errsz, "module id: %s (at most %d characters)", !m ? "module is NULL" : !id || !id[0] ? "id is empty" : "id is too long",
                     TG_NAME_LEN - 1);
        return TG_ERR_INVALID;
    }
    snprintf(m->id, sizeof m->id, "%s", id);
    return TG_OK;
}

tg_status tg_module_set(tg_module *m, const char *key, const char *value, char *err, size_t errsz)
{
    return module_set(m, key, value, err, errsz) ? TG_ERR_INVALID : TG_OK;
}
