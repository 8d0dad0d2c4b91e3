/* nn/spec.c — the model spec parser: each line calls the C API's constructor; shapes are
 * propagated by a forward pass of one zero sample after every line. */
#include "spec.h"
#include "data.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

void tg_model_free(tg_model *m)
{
    if (!m) return;
    tg_module_free(m->net);
    free(m);
}

/* Runs the net on zeros [2, in_shape] in eval mode without recording; fills out_shape or err. */
static int propagate(tg_model *m, char *err, size_t errsz)
{
    int64_t shape[5] = {2};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tensor *x = t ? tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape) : NULL;
    if (!x) {
        tg_tape_free(t);
        SAY("out of memory");
        return -1;
    }
    memset(x->data, 0, (size_t)x->numel * sizeof(tg_real));
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

/* Builds the module for one line; keys it consumed are marked in used[]. The current output
 * shape (without batch) is cur/cur_ndim. On error writes the reason (without file:line). */
static tg_module *build_layer(const char *type, const kv *kvs, int n, bool *used, const int64_t *cur, int cur_ndim,
                              tg_rng *rng, char *err, size_t errsz)
{
#define TAKE(k) (find_kv(kvs, n, k) ? (used[find_kv(kvs, n, k) - kvs] = true) : false)
    const int64_t channels = cur_ndim >= 1 ? cur[0] : 0;
    bool bias = true;
    if (TAKE("bias")) {
        const char *v = find_kv(kvs, n, "bias")->value;
        if (strcmp(v, "0") && strcmp(v, "1")) return SAY("%s: bias must be 0 or 1, not '%s'", type, v), NULL;
        bias = v[0] == '1';
    }
    tg_module *m = NULL;
    if (!strcmp(type, "linear") || !strncmp(type, "conv", 4)) {
        const int64_t out = int_value(kvs, n, "out");
        TAKE("out");
        if (out < 0) return SAY("%s: %s out=N (a positive integer)", type, out == -1 ? "needs" : "bad"), NULL;
        if (!strcmp(type, "linear")) {
            if (cur_ndim < 1) return SAY("linear: needs an input with a feature dim"), NULL;
            return tg_linear_layer(cur[cur_ndim - 1], out, bias, rng);
        }
        const int64_t kernel = int_value(kvs, n, "kernel"), groups_v = int_value(kvs, n, "groups");
        TAKE("kernel"), TAKE("groups");
        if (kernel < 0) return SAY("%s: %s kernel=K (a positive integer)", type, kernel == -1 ? "needs" : "bad"), NULL;
        if (groups_v == -2) return SAY("%s: bad groups", type), NULL;
        const int64_t groups = groups_v > 0 ? groups_v : 1;
        const int dims = !strcmp(type, "conv1d") ? 1 : !strcmp(type, "conv2d") ? 2 : !strcmp(type, "conv3d") ? 3
                       : !strcmp(type, "conv_transpose2d") ? -2 : 0;
        if (!dims) return SAY("unknown layer '%s'", type), NULL;
        if (channels % groups || out % groups)
            return SAY("%s: groups=%lld must divide input channels %lld and out=%lld", type, (long long)groups,
                       (long long)channels, (long long)out), NULL;
        m = dims > 0 ? tg_conv_layer(dims, channels, out, kernel, groups, bias, rng)
                     : tg_conv_transpose2d_layer(channels, out, kernel, groups, bias, rng);
    } else if (!strcmp(type, "batch_norm")) {
        m = tg_batch_norm_layer(channels);
    } else if (!strcmp(type, "layer_norm")) {
        m = tg_layer_norm_layer(cur_ndim, cur);
    } else if (!strcmp(type, "instance_norm")) {
        bool affine = false;
        if (TAKE("affine")) affine = find_kv(kvs, n, "affine")->value[0] == '1';
        m = tg_instance_norm_layer(channels, affine);
    } else if (!strcmp(type, "group_norm")) {
        const int64_t g = int_value(kvs, n, "groups");
        TAKE("groups");
        if (g < 0) return SAY("group_norm: %s groups=G", g == -1 ? "needs" : "bad"), NULL;
        if (channels % g) return SAY("group_norm: groups=%lld does not divide %lld channels", (long long)g, (long long)channels), NULL;
        m = tg_group_norm_layer(g, channels);
    } else if (!strcmp(type, "dropout")) {
        m = tg_dropout_layer(0.5);
    } else if (!strcmp(type, "add") || !strcmp(type, "concat")) {
        const kv *from = find_kv(kvs, n, "from");
        TAKE("from");
        if (!from) return SAY("%s: needs from=NAME", type), NULL;
        m = type[0] == 'a' ? tg_add_layer(from->value) : tg_concat_layer(from->value);
        if (!m) return SAY("%s: bad from='%s'", type, from->value), NULL;
    } else {
        const int op = tg_op_find(type);
        const tg_op_desc *d = tg_op_get(op);
        if (!d || d->min_inputs != 1 || (d->max_inputs > 1 && !(d->optional_inputs >> 1 & 1)))
            return SAY("unknown layer '%s'", type), NULL;
        m = tg_op_layer(type);
    }
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
#undef TAKE
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
        if (id) snprintf(layer->id, sizeof layer->id, "%s", id);
        if (!tg_sequential_add(m->net, layer)) { snprintf(reason, sizeof reason, "out of memory"); break; }
        if (propagate(m, reason, sizeof reason)) break;
        bad_line = 0;
    }
    free(copy);
    if (!bad_line && !m->in_ndim) bad_line = last_content, snprintf(reason, sizeof reason, "no 'input' line");
    if (!bad_line && m->net->n_children == 0) bad_line = last_content, snprintf(reason, sizeof reason, "no layers");
    if (bad_line) {
        SAY("%s:%d: %s", file, bad_line, reason);
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
