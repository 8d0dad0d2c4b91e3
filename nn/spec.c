/* nn/spec.c — the model spec parser: each line calls the C API's constructor; after every line
 * the model's output shape is found by a shapes-only pass (no values computed or stored, so a
 * line's cost does not grow with the activations), which also reports any shape error. */
#include "spec.h"
#include "data.h"
#include "module_internal.h"
#include "../graph/error_internal.h"
#include "../graph/tape_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

void tg_model_free(tg_model *m)
{
    if (!m) return;
    tg_module_free(m->net);
    tg_tape_free(m->infer_tape);
    for (int i = 0; i < m->n_infer_chunk_tapes; i++) tg_tape_free(m->infer_chunk_tapes[i]);
    free(m->infer_chunk_tapes);
    free(m);
}

/* Runs the net on [2, in_shape] in eval mode, without recording, on a shapes-only tape (every
 * layer is ops, and an op's shape function reads no values); fills out_shape or err. */
static int propagate(tg_model *m, char *err, size_t errsz)
{
    int64_t shape[5] = {2};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tape_set_shapes_only(t, true);
    tg_tensor *x = t ? tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape) : NULL;
    if (!x) {
        tg_tape_free(t);
        SAY("out of memory");
        return -1;
    }
    const bool was_training = m->net->training;
    tg_module_train(m->net, false);
    tg_no_grad_begin(t);
    tg_tensor *y = tg_module_forward(m->net, t, x);
    tg_no_grad_end(t);
    tg_module_train(m->net, was_training);
    int rc = 0;
    if (!y) {
        SAY("%s", tg_error(t) ? tg_error(t) : "forward failed");
        rc = -1;
    } else {
        m->out_ndim = y->ndim - 1;
        for (int i = 1; i < y->ndim; i++) m->out_shape[i - 1] = y->shape[i];
    }
    tg_tape_free(t);
    return rc;
}

tg_model *tg_model_wrap(tg_module *net, int in_ndim, const int64_t *in_shape, char *err, size_t errsz)
{
    if (!net || in_ndim < 1 || in_ndim > 4) {
        SAY("model: need a module and an input shape of 1..4 dims");
        return NULL;
    }
    tg_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->net = net;
    m->in_ndim = in_ndim;
    memcpy(m->in_shape, in_shape, (size_t)in_ndim * sizeof *in_shape);
    if (propagate(m, err, errsz)) {
        m->net = NULL;
        tg_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- one line ---- */

typedef struct kv {
    char key[32], value[96];
} kv;

/* Spec names that differ from the op's attribute names. */
static const char *attr_name(const char *type, const char *key)
{
    if (!strcmp(key, "kernel")) return "kernel_size";
    if (!strcmp(key, "slope")) return "negative_slope";
    if (!strcmp(key, "groups") && !strcmp(type, "group_norm")) return "num_groups";
    return key;
}

static const kv *find_kv(const kv *kvs, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(kvs[i].key, key)) return &kvs[i];
    return NULL;
}

/* Parses a positive integer value; -1 when absent, -2 when malformed. */
static int64_t int_value(const kv *kvs, int n, const char *key)
{
    const kv *e = find_kv(kvs, n, key);
    if (!e) return -1;
    char *end;
    const long long v = strtoll(e->value, &end, 10);
    return *end || v <= 0 ? -2 : v;
}

/* Parses a comma list of positive integers ("3" or "3,1") into v[max]; returns the count, -1
 * when absent, -2 when malformed or longer than max. */
static int int_list(const kv *kvs, int n, const char *key, int64_t *v, int max)
{
    const kv *e = find_kv(kvs, n, key);
    if (!e) return -1;
    int count = 0;
    for (const char *p = e->value;; p++) {
        char *end;
        const long long x = strtoll(p, &end, 10);
        if (end == p || x <= 0 || count == max || (*end && *end != ',')) return -2;
        v[count++] = x;
        p = end;
        if (!*p) return count;
    }
}

/* A 0|1 key: 1 when absent (def), -1 (with the reason) when it is neither. */
static int bool_value(const kv *kvs, int n, const char *type, const char *key, bool def, char *err, size_t errsz)
{
    const kv *e = find_kv(kvs, n, key);
    if (!e) return def;
    if (strcmp(e->value, "0") && strcmp(e->value, "1")) return SAY("%s: %s must be 0 or 1, not '%s'", type, key, e->value), -1;
    return e->value[0] == '1';
}

/* The convolution-like layers: spatial dims and whether transposed. */
static const struct conv_kind {
    const char *type;
    int dims;
    bool transposed;
} conv_kinds[] = {
    {"conv1d", 1, false}, {"conv2d", 2, false}, {"conv3d", 3, false},
    {"conv_transpose1d", 1, true}, {"conv_transpose2d", 2, true}, {"conv_transpose3d", 3, true},
    {"locally_connected2d", 2, false},
};

/* Builds the module for one line; keys it consumed are marked in used[]. The current output
 * shape (without batch) is cur/cur_ndim. On error writes the reason (without file:line). */
static tg_module *build_layer(const char *type, const kv *kvs, int n, bool *used, const int64_t *cur, int cur_ndim,
                              tg_rng *rng, char *err, size_t errsz)
{
#define TAKE(k) (find_kv(kvs, n, k) ? (used[find_kv(kvs, n, k) - kvs] = true) : false)
#define FLAG(var, key, def)                                                  \
    const int var = bool_value(kvs, n, type, key, def, err, errsz);          \
    TAKE(key);                                                               \
    if (var < 0) return NULL
    const int64_t channels = cur_ndim >= 1 ? cur[0] : 0;
    const struct conv_kind *conv = NULL;
    for (size_t i = 0; i < sizeof conv_kinds / sizeof conv_kinds[0]; i++)
        if (!strcmp(type, conv_kinds[i].type)) conv = &conv_kinds[i];
    tg_module *m = NULL;
    tg_set_last_error("%s", ""); /* a reason left below is this line's constructor's */
    if (!strcmp(type, "linear") || conv) {
        FLAG(bias, "bias", true);
        const int64_t out = int_value(kvs, n, "out");
        TAKE("out");
        if (out < 0) return SAY("%s: %s out=N (a positive integer)", type, out == -1 ? "needs" : "bad"), NULL;
        if (!conv) {
            if (cur_ndim < 1) return SAY("linear: needs an input with a feature dim"), NULL;
            m = tg_linear_layer(cur[cur_ndim - 1], out, bias, rng);
            return m ? m : (SAY("%s", tg_last_error()), NULL);
        }
        int64_t kernel[3];
        const int nk = int_list(kvs, n, "kernel", kernel, 3);
        TAKE("kernel");
        if (nk == -1) return SAY("%s: needs kernel=K (or one size per dim, like kernel=3,1)", type), NULL;
        if (nk != 1 && nk != conv->dims)
            return SAY("%s: kernel must be one positive integer or %d comma-separated ones, not '%s'", type, conv->dims,
                       find_kv(kvs, n, "kernel")->value), NULL;
        for (int i = nk; i < conv->dims; i++) kernel[i] = kernel[0];
        if (cur_ndim != conv->dims + 1)
            return SAY("%s: needs an input of %d dims C x spatial, got %d", type, conv->dims + 1, cur_ndim), NULL;
        if (conv->dims == 2 && !strcmp(type, "locally_connected2d")) {
            /* the output size (hence the weight) depends on stride, padding, dilation: set them first */
            tg_conv_attr a;
            const int op = tg_op_find(type);
            tg_attr_defaults(op, &a);
            static const char *const geometry[] = {"stride", "padding", "dilation"};
            for (int g = 0; g < 3; g++) {
                const kv *e = find_kv(kvs, n, geometry[g]);
                if (e && tg_attr_set(op, &a, geometry[g], e->value, err, errsz)) return NULL;
                TAKE(geometry[g]);
            }
            m = tg_locally_connected2d_layer(channels, cur + 1, out, kernel, &a, bias, rng);
        } else {
            const int64_t groups_v = int_value(kvs, n, "groups");
            TAKE("groups");
            if (groups_v == -2) return SAY("%s: bad groups", type), NULL;
            const int64_t groups = groups_v > 0 ? groups_v : 1;
            if (channels % groups || out % groups)
                return SAY("%s: groups=%lld must divide input channels %lld and out=%lld", type, (long long)groups,
                           (long long)channels, (long long)out), NULL;
            m = conv->transposed ? tg_conv_transpose_layer_nd(conv->dims, channels, out, kernel, groups, bias, rng)
                                 : tg_conv_layer_nd(conv->dims, channels, out, kernel, groups, bias, rng);
        }
    } else if (!strcmp(type, "batch_norm") || !strcmp(type, "instance_norm")) {
        /* PyTorch's defaults: BatchNorm affine and tracking, InstanceNorm neither */
        const bool bn = type[0] == 'b';
        FLAG(affine, "affine", bn);
        FLAG(track, "track_running_stats", bn);
        m = bn ? tg_batch_norm_layer_opts(channels, affine, track) : tg_instance_norm_layer_opts(channels, affine, track);
    } else if (!strcmp(type, "layer_norm")) {
        FLAG(affine, "elementwise_affine", true);
        int64_t shape[4];
        int ns = int_list(kvs, n, "normalized_shape", shape, 4);
        TAKE("normalized_shape");
        if (ns == -2 || ns > cur_ndim) return SAY("layer_norm: bad normalized_shape (input %d dims)", cur_ndim), NULL;
        if (ns == -1) { /* default: every non-batch dim */
            ns = cur_ndim;
            memcpy(shape, cur, (size_t)ns * sizeof *shape);
        }
        for (int i = 0; i < ns; i++)
            if (shape[i] != cur[cur_ndim - ns + i])
                return SAY("layer_norm: normalized_shape must be the input's last %d dims", ns), NULL;
        m = tg_layer_norm_layer_opts(ns, shape, affine);
    } else if (!strcmp(type, "group_norm")) {
        FLAG(affine, "affine", true);
        const int64_t g = int_value(kvs, n, "groups");
        TAKE("groups");
        if (g < 0) return SAY("group_norm: %s groups=G", g == -1 ? "needs" : "bad"), NULL;
        if (channels % g) return SAY("group_norm: groups=%lld does not divide %lld channels", (long long)g, (long long)channels), NULL;
        m = tg_group_norm_layer_opts(g, channels, affine);
    } else if (!strcmp(type, "frn")) {
        FLAG(affine, "affine", true);
        m = tg_frn_layer(channels, affine);
    } else if (!strcmp(type, "tlu")) {
        m = tg_tlu_layer(channels);
    } else if (!strcmp(type, "dropout")) {
        m = tg_dropout_layer(0.5);
    } else if (!strcmp(type, "add") || !strcmp(type, "concat") || !strncmp(type, "max_unpool", 10)) {
        const kv *from = find_kv(kvs, n, "from");
        TAKE("from");
        if (!from) return SAY("%s: needs from=%s", type, type[0] == 'm' ? "ID (the id of a max pool)" : "NAME"), NULL;
        const int dims = !strcmp(type, "max_unpool1d") ? 1 : !strcmp(type, "max_unpool2d") ? 2
                       : !strcmp(type, "max_unpool3d") ? 3 : 0;
        if (type[0] == 'm' && !dims) return SAY("unknown layer '%s'", type), NULL;
        m = type[0] == 'a' ? tg_add_layer(from->value) : type[0] == 'c' ? tg_concat_layer(from->value)
                                                                          : tg_max_unpool_layer(dims, from->value);
        if (!m) return SAY("%s: bad from='%s'", type, from->value), NULL;
    } else {
        const int op = tg_op_find(type);
        const tg_op_desc *d = tg_op_get(op);
        if (!d || d->min_inputs != 1 || (d->max_inputs > 1 && !(d->optional_inputs >> 1 & 1)))
            return SAY("unknown layer '%s'", type), NULL;
        m = tg_op_layer(type);
    }
    /* the constructor's own reason (tg_last_error), else what this line asked for */
    if (!m && *tg_last_error()) return SAY("%s", tg_last_error()), NULL;
    if (!m) return SAY("%s: cannot build the layer for input of %lld channels", type, (long long)channels), NULL;
    for (int i = 0; i < n; i++) {
        if (used[i]) continue;
        used[i] = true;
        if (tg_module_set(m, attr_name(type, kvs[i].key), kvs[i].value, err, errsz)) {
            /* the generic message names the op's attribute; say the user's key */
            if (err && strstr(err, "unknown key")) SAY("%.64s: unknown key '%.31s'", type, kvs[i].key);
            tg_module_free(m);
            return NULL;
        }
    }
    snprintf(m->type, sizeof m->type, "%s", type);
    return m;
#undef FLAG
#undef TAKE
}

/* The reason a new layer's id or from= names are wrong (duplicate id, reserved name, an id no
 * earlier layer has), or "" when they are fine. */
static void check_names(const tg_module *net, const tg_module *layer, char *reason, size_t size)
{
    if (layer->id[0]) {
        if (!strcmp(layer->id, "input") || !strcmp(layer->id, "."))
            snprintf(reason, size, "id '%s' is reserved ('input' is the model's input, '.' the current output)", layer->id);
        for (int i = 0; i < net->n_children && !reason[0]; i++)
            if (!strcmp(net->children[i]->id, layer->id))
                snprintf(reason, size, "id '%s' already used on line %d", layer->id, net->children[i]->line);
    }
    for (int k = 0; k < layer->n_from && !reason[0]; k++) {
        const char *name = layer->from[k];
        bool found = !strcmp(name, ".") || !strcmp(name, "input");
        for (int i = 0; i < net->n_children && !found; i++) found = !strcmp(net->children[i]->id, name);
        if (!found) snprintf(reason, size, "%s: no earlier layer has id '%s'", layer->type, name);
    }
}

/* Splits a line into words (comment stripped); returns the count. */
static int split_words(char *line, char **words, int max)
{
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    int n = 0;
    for (char *p = line; *p;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        if (n == max) return -1;
        words[n++] = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (*p) *p++ = 0;
    }
    return n;
}

tg_model *tg_model_parse(const char *text, const char *file, uint64_t seed, char *err, size_t errsz)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_model *m = calloc(1, sizeof *m);
    char *copy = strdup(text ? text : "");
    if (!m || !copy || !(m->net = tg_sequential(NULL))) {
        free(copy), free(m);
        SAY("%s: out of memory", file);
        return NULL;
    }
    char reason[256] = "";
    int lineno = 0, bad_line = 0, last_content = 1;
    for (char *line = copy, *next; line && !bad_line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        char *words[32];
        const int nw = split_words(line, words, 32);
        if (nw == 0) continue;
        bad_line = last_content = lineno;
        if (nw < 0) {
            snprintf(reason, sizeof reason, "too many words");
            break;
        }
        if (!strcmp(words[0], "input")) {
            if (m->in_ndim) { snprintf(reason, sizeof reason, "input: given twice"); break; }
            if (nw != 2) { snprintf(reason, sizeof reason, "input: needs one shape like 1x28x28"); break; }
            char *p = words[1];
            while (*p && m->in_ndim < 4) {
                char *end;
                const long long v = strtoll(p, &end, 10);
                if (end == p || v <= 0 || (*end && *end != 'x')) { m->in_ndim = -1; break; }
                m->in_shape[m->in_ndim++] = v;
                p = *end ? end + 1 : end;
            }
            if (m->in_ndim <= 0 || *p) {
                m->in_ndim = 0;
                snprintf(reason, sizeof reason, "input: bad shape '%s' (want 1..4 positive sizes like 1x28x28)", words[1]);
                break;
            }
            m->out_ndim = m->in_ndim;
            memcpy(m->out_shape, m->in_shape, sizeof m->in_shape);
            bad_line = 0;
            continue;
        }
        if (!m->in_ndim) { snprintf(reason, sizeof reason, "the first layer line must be 'input CxHxW'"); break; }
        kv kvs[31];
        bool used[31] = {false};
        int n = 0;
        const char *id = NULL;
        for (int i = 1; i < nw; i++) {
            char *eq = strchr(words[i], '=');
            if (!eq || eq == words[i] || strlen(eq + 1) >= sizeof kvs[0].value || (size_t)(eq - words[i]) >= sizeof kvs[0].key) {
                snprintf(reason, sizeof reason, "%s: expected key=value, got '%s'", words[0], words[i]);
                break;
            }
            *eq = 0;
            if (!strcmp(words[i], "id")) { id = eq + 1; continue; }
            snprintf(kvs[n].key, sizeof kvs[n].key, "%s", words[i]);
            snprintf(kvs[n].value, sizeof kvs[n].value, "%s", eq + 1);
            n++;
        }
        if (reason[0]) break;
        tg_module *layer = build_layer(words[0], kvs, n, used, m->out_shape, m->out_ndim, &rng, reason, sizeof reason);
        if (!layer) break;
        layer->line = lineno;
        if (id && strlen(id) >= sizeof layer->id) snprintf(reason, sizeof reason, "id '%.60s' is too long", id);
        else if (id) snprintf(layer->id, sizeof layer->id, "%s", id);
        if (!reason[0]) check_names(m->net, layer, reason, sizeof reason);
        if (reason[0]) {
            tg_module_free(layer);
            break;
        }
        if (!tg_sequential_add(m->net, layer)) { snprintf(reason, sizeof reason, "out of memory"); break; }
        if (propagate(m, reason, sizeof reason)) break;
        bad_line = 0;
    }
    free(copy);
    if (!bad_line && !m->in_ndim) bad_line = last_content, snprintf(reason, sizeof reason, "no 'input' line");
    if (!bad_line && m->net->n_children == 0) bad_line = last_content, snprintf(reason, sizeof reason, "no layers");
    if (bad_line) {
        /* the reason quotes the user's words: bytes outside printable ASCII become \xNN here, once */
        char file_q[4 * 128 + 4], reason_q[4 * sizeof reason + 4];
        SAY("%s:%d: %s", tg_escape(file, TG_ESCAPE_CSTR, 128, file_q, sizeof file_q), bad_line,
            tg_escape(reason, TG_ESCAPE_CSTR, sizeof reason, reason_q, sizeof reason_q));
        tg_model_free(m);
        return NULL;
    }
    return m;
}

tg_model *tg_model_load(const char *path, uint64_t seed, char *err, size_t errsz)
{
    enum { SPEC_MAX_BYTES = 1 << 20 }; /* a spec is a few lines; anything larger is not one */
    uint8_t *bytes;
    size_t len;
    if (tg_read_file(path, SPEC_MAX_BYTES, &bytes, &len, err, errsz) != TG_OK) return NULL;
    const uint8_t *nul = memchr(bytes, 0, len);
    if (nul) {
        SAY("%s: byte %zu is a NUL byte: not a text file", path, (size_t)(nul - bytes));
        free(bytes);
        return NULL;
    }
    tg_model *m = tg_model_parse((const char *)bytes, path, seed, err, errsz);
    free(bytes);
    return m;
}
