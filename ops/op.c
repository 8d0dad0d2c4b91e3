/* ops/op.c — generic op application, user op registration and attribute parsing/printing. */
#include "op_internal.h"
#include "kernels/gemm.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const tg_op_desc *const tg_builtin_ops[TG_OP_COUNT];

#define TG_MAX_USER_OPS 64
static const tg_op_desc *user_ops[TG_MAX_USER_OPS];
static int n_user_ops;
/* A shapes-only tape's stand-in for the argmax positions an op keeps: present, never read. */
static const int64_t no_indices[1];

const tg_op_desc *tg_op_get(int id)
{
    if (id >= 0 && id < TG_OP_COUNT) return tg_builtin_ops[id];
    if (id >= TG_OP_COUNT && id < TG_OP_COUNT + n_user_ops) return user_ops[id - TG_OP_COUNT];
    return NULL;
}

int tg_op_count(void) { return TG_OP_COUNT + n_user_ops; }

int tg_op_find(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < tg_op_count(); i++)
        if (strcmp(tg_op_get(i)->name, name) == 0) return i;
    return -1;
}

int tg_op_register(const tg_op_desc *desc)
{
    if (!desc || !desc->name || !desc->shape || !desc->forward || desc->max_inputs > TG_MAX_INPUTS ||
        desc->min_inputs < 0 || desc->min_inputs > desc->max_inputs || n_user_ops == TG_MAX_USER_OPS ||
        tg_op_find(desc->name) >= 0)
        return -1;
    user_ops[n_user_ops] = desc;
    return TG_OP_COUNT + n_user_ops++;
}

static const char *input_name(const tg_op_desc *d, int i)
{
    static const char *const generic[TG_MAX_INPUTS] = {"input0", "input1", "input2",
                                                       "input3", "input4", "input5"};
    return d->input_names && d->input_names[i] ? d->input_names[i] : generic[i];
}

tg_tensor *tg_op_apply(tg_tape *t, int op_id, tg_tensor *const *inputs, int n_inputs, const void *attr)
{
    if (!t) return NULL;
    const tg_op_desc *d = tg_op_get(op_id);
    if (!d) return tg_fail(t, "op: unknown op id %d", op_id);
    if (n_inputs < d->min_inputs || n_inputs > d->max_inputs) {
        if (d->min_inputs == d->max_inputs)
            return tg_fail(t, "%s: expects %d inputs, got %d", d->name, d->min_inputs, n_inputs);
        return tg_fail(t, "%s: expects %d to %d inputs, got %d", d->name, d->min_inputs,
                       d->max_inputs, n_inputs);
    }
    if (n_inputs > 0 && !inputs) return tg_fail(t, "%s: inputs array is NULL", d->name);
    if (!d->shape || !d->forward) return tg_fail(t, "%s: not implemented", d->name);

    tg_node *n = tg_tape_alloc(t, sizeof *n);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    tg_node_bind_op(n, d);
    n->n_inputs = d->max_inputs;
    n->index = -1;
    n->scope = tg_tape_scope_for_node(t);
    bool needs_grad = false;
    for (int i = 0; i < d->max_inputs; i++) {
        tg_tensor *x = i < n_inputs ? inputs[i] : NULL;
        n->inputs[i] = x;
        if (!x) {
            if (d->optional_inputs & (1u << i)) continue;
            /* An earlier failure already explains the NULL; keep that message. */
            return tg_fail(t, "%s: %s is NULL", d->name, input_name(d, i));
        }
        bool want_int = d->int_inputs & (1u << i);
        if (want_int != (x->dtype == TG_INT64))
            return tg_fail(t, "%s: %s must be %s, got %s", d->name, input_name(d, i),
                           want_int ? "int64 (class labels)" : "real",
                           x->dtype == TG_INT64 ? "int64" : "real");
        if (x->requires_grad && !want_int && !(d->nograd_inputs & (1u << i))) needs_grad = true;
    }

    if (d->attr_size) {
        n->attr = tg_tape_alloc(t, d->attr_size);
        if (!n->attr) return NULL;
        if (attr) memcpy(n->attr, attr, d->attr_size);
        else tg_attr_defaults(op_id, n->attr);
    }

    int ndim = 0;
    int64_t shape[TG_MAX_DIMS] = {0};
    if (d->shape(t, n->inputs, n_inputs, n->attr, &ndim, shape) != 0) {
        if (!tg_error(t)) tg_fail(t, "%s: invalid input", d->name);
        return NULL;
    }
    n->out = tg_tape_tensor(t, TG_REAL, ndim, shape);
    if (!n->out) return NULL;
    if (tg_tape_shapes_only(t)) {
        /* the shape is all there is: an op that keeps argmax positions says so, for from= */
        if (d->keeps_indices) n->out->indices = no_indices;
        return n->out;
    }
    if (!tg_gemm_reserve_thread())
        return tg_fail(t, "%s: out of memory for the matrix-multiply buffers of this thread", d->name);
    if (d->forward(t, n) != 0) {
        if (!tg_error(t)) tg_fail(t, "%s: forward failed", d->name);
        return NULL;
    }
    if (needs_grad && d->backward && tg_grad_enabled(t)) {
        n->out->requires_grad = true;
        n->out->node = n;
        /* what this node's backward will read must outlive the forward */
        if (!d->unread_output) n->out->backward_reads = true;
        for (int i = 0; i < d->max_inputs; i++)
            if (n->inputs[i] && !(d->unread_inputs & (1u << i))) n->inputs[i]->backward_reads = true;
        tg_tape_record(t, n);
    }
    /* checked after recording, so a DOT of the tape still shows the op that failed */
    if (tg_detect_anomaly(t) && tg_anomaly_check(t, n, -1) != 0) return NULL;
    return n->out;
}

tg_real *tg_input_grad(tg_tape *t, tg_node *n, int i)
{
    if (i < 0 || i >= n->n_inputs) return NULL;
    tg_tensor *x = n->inputs[i];
    if (!x || !x->requires_grad || x->dtype != TG_REAL) return NULL;
    if (n->op->nograd_inputs & (1u << i)) return NULL;
    tg_real *g = tg_tensor_grad(x);
    /* Reported on the tape running backward, for tape tensors and long-lived ones (parameters,
     * whose gradient is malloc'd) alike: tg_backward then fails instead of skipping the input. */
    tg_tape *owner = t ? t : n->out ? n->out->tape : NULL;
    if (!g && owner) {
        char s[TG_SHAPE_STR_LEN];
        tg_fail(owner, "%s: out of memory for the gradient of %s %s", n->op->name, input_name(n->op, i),
                tg_shape_str(x, s, sizeof s));
    }
    return g;
}

/* Input i, when its gradient would be written fresh (none yet, one wanted, a buffer to take: the
 * tape's or the tensor's spare), else NULL. */
static tg_tensor *fresh_grad_input(const tg_node *n, int i)
{
    tg_tensor *x = i >= 0 && i < n->n_inputs ? n->inputs[i] : NULL;
    if (x && !x->grad && (x->tape || x->grad_spare) && x->requires_grad && x->dtype == TG_REAL && x->numel > 0 &&
        !(n->op->nograd_inputs & (1u << i)))
        return x;
    return NULL;
}

tg_real *tg_input_grad_to_write(tg_tape *t, tg_node *n, int i, bool *accumulate)
{
    *accumulate = true;
    if (i < 0 || i >= n->n_inputs) return NULL;
    tg_tensor *x = fresh_grad_input(n, i);
    if (x) {
        if (x->tape) {
            x->grad = tg_tape_alloc_buffer(x->tape, (size_t)x->numel * sizeof(tg_real));
        } else { /* a long-lived tensor whose gradient was cleared: its buffer, written fresh */
            x->grad = x->grad_spare;
            x->grad_spare = NULL;
        }
        if (x->grad) {
            *accumulate = false;
            return x->grad;
        }
    }
    return tg_input_grad(t, n, i); /* an existing gradient, a parameter's, or the out-of-memory report */
}

tg_real *tg_input_grad_over_output(tg_tape *t, tg_node *n, int i, bool *accumulate)
{
    tg_tensor *x = fresh_grad_input(n, i), *y = n->out;
    if (x && x != y && x->tape == t && x->numel == y->numel && y->grad && y->tape == t && !y->grad_borrowed &&
        !y->retains_grad && tg_tape_may_hand_over_grads(t)) {
        x->grad = y->grad; /* the same size: released with x's as it was allocated with y's */
        y->grad = NULL;
        *accumulate = false;
        return x->grad;
    }
    return tg_input_grad_to_write(t, n, i, accumulate);
}

/* ---- attributes ---- */

static int find_attr(const tg_op_desc *d, const char *key, size_t keylen)
{
    for (int i = 0; i < d->n_attrs; i++)
        if (strlen(d->attrs[i].name) == keylen && strncmp(d->attrs[i].name, key, keylen) == 0) return i;
    return -1;
}

static bool is_none(const char *s) { return strcmp(s, "none") == 0 || strcmp(s, "None") == 0; }

/* Parses one integer that must fill the whole token. */
static bool parse_i64(const char *s, const char *end, int64_t *out)
{
    char buf[32];
    size_t len = (size_t)(end - s);
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *e;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    if (*e || errno) return false;
    *out = v;
    return true;
}

static int set_value(const tg_attr_desc *a, void *attr, const char *value, char *err, size_t errsz,
                     const char *opname)
{
    unsigned char *field = (unsigned char *)attr + a->offset;
    const char *v = value ? value : "";
    switch (a->type) {
    case TG_ATTR_INT: {
        int64_t x;
        if (a->nullable && is_none(v)) x = TG_DIM_NONE;
        else if (!parse_i64(v, v + strlen(v), &x) || x < INT32_MIN + 1 || x > INT32_MAX) goto bad;
        *(int *)field = (int)x;
        return 0;
    }
    case TG_ATTR_REAL: {
        double x;
        if (a->nullable && is_none(v)) x = NAN;
        else {
            char *e;
            errno = 0;
            x = strtod(v, &e);
            if (e == v || *e || errno || !isfinite(x)) goto bad;
        }
        *(double *)field = x;
        return 0;
    }
    case TG_ATTR_BOOL: {
        bool x;
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "True")) x = true;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "False")) x = false;
        else goto bad;
        *(bool *)field = x;
        return 0;
    }
    case TG_ATTR_ENUM:
        for (int k = 0; a->names[k]; k++)
            if (!strcmp(v, a->names[k])) {
                *(int *)field = k;
                return 0;
            }
        goto bad;
    case TG_ATTR_INTS: {
        tg_ints x = {0};
        if (a->alt_names) {
            /* words like same/valid: stored as n = 0, v[0] = -(position + 1) */
            int k = 0;
            for (const char *w = a->alt_names; *w; k++) {
                const char *c = strchr(w, ',');
                size_t wl = c ? (size_t)(c - w) : strlen(w);
                if (strlen(v) == wl && !strncmp(v, w, wl)) {
                    x.v[0] = -(k + 1);
                    *(tg_ints *)field = x;
                    return 0;
                }
                w += wl + (c ? 1 : 0);
            }
        }
        const char *s = v, *end = v + strlen(v);
        while (s < end && (isspace((unsigned char)*s) || *s == '(' || *s == '[')) s++;
        while (end > s && (isspace((unsigned char)end[-1]) || end[-1] == ')' || end[-1] == ']')) end--;
        if (s == end) {
            if (!*v && !a->default_text) goto bad;
            *(tg_ints *)field = x; /* "" or "()" : empty tuple */
            return 0;
        }
        while (s <= end) {
            const char *c = memchr(s, ',', (size_t)(end - s));
            const char *tok_end = c ? c : end;
            if (tok_end == s && !c) break; /* trailing comma: "(2,)" */
            if (x.n == TG_MAX_DIMS || !parse_i64(s, tok_end, &x.v[x.n])) goto bad;
            x.n++;
            if (!c) break;
            s = c + 1;
        }
        *(tg_ints *)field = x;
        return 0;
    }
    }
bad:
    snprintf(err, errsz, "%s: bad value '%s' for attribute %s", opname, v, a->name);
    return -1;
}

int tg_attr_defaults(int op_id, void *attr)
{
    const tg_op_desc *d = tg_op_get(op_id);
    if (!d || !attr) return -1;
    memset(attr, 0, d->attr_size);
    char err[128];
    for (int i = 0; i < d->n_attrs; i++) {
        const char *def = d->attrs[i].default_text;
        if (def && *def && set_value(&d->attrs[i], attr, def, err, sizeof err, d->name) != 0)
            TG_ASSERT(!"attribute default does not parse");
    }
    return 0;
}

tg_status tg_attr_set(int op_id, void *attr, const char *key, const char *value, char *err, size_t errsz)
{
    const tg_op_desc *d = tg_op_get(op_id);
    if (!d || !key) {
        snprintf(err, errsz, "op: unknown op id %d", op_id);
        return TG_ERR_INVALID;
    }
    int k = find_attr(d, key, strlen(key));
    if (k < 0) {
        int len = snprintf(err, errsz, "%s: unknown attribute '%s' (known:", d->name, key);
        for (int i = 0; i < d->n_attrs && len > 0 && (size_t)len < errsz; i++)
            len += snprintf(err + len, errsz - (size_t)len, " %s", d->attrs[i].name);
        if (d->n_attrs == 0 && len > 0 && (size_t)len < errsz)
            len += snprintf(err + len, errsz - (size_t)len, " none");
        if (len > 0 && (size_t)len < errsz) snprintf(err + len, errsz - (size_t)len, ")");
        return TG_ERR_INVALID;
    }
    return set_value(&d->attrs[k], attr, value, err, errsz, d->name) ? TG_ERR_INVALID : TG_OK;
}

tg_status tg_attr_parse(int op_id, void *attr, const char *kv, char *err, size_t errsz)
{
    const tg_op_desc *d = tg_op_get(op_id);
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!d || !eq || eq == kv) {
        snprintf(err, errsz, "%s: expected key=value, got '%s'", d ? d->name : "op", kv ? kv : "");
        return TG_ERR_INVALID;
    }
    char key[64];
    size_t kl = (size_t)(eq - kv);
    if (kl >= sizeof key) kl = sizeof key - 1;
    memcpy(key, kv, kl);
    key[kl] = '\0';
    return tg_attr_set(op_id, attr, key, eq + 1, err, errsz);
}

static int format_value(const tg_attr_desc *a, const void *attr, char *buf, size_t size)
{
    const unsigned char *field = (const unsigned char *)attr + a->offset;
    switch (a->type) {
    case TG_ATTR_INT: {
        int x = *(const int *)field;
        return x == TG_DIM_NONE ? snprintf(buf, size, "none") : snprintf(buf, size, "%d", x);
    }
    case TG_ATTR_REAL: {
        double x = *(const double *)field;
        return isnan(x) ? snprintf(buf, size, "none") : snprintf(buf, size, "%g", x);
    }
    case TG_ATTR_BOOL: return snprintf(buf, size, "%d", *(const bool *)field ? 1 : 0);
    case TG_ATTR_ENUM: return snprintf(buf, size, "%s", a->names[*(const int *)field]);
    case TG_ATTR_INTS: {
        const tg_ints *x = (const tg_ints *)field;
        if (x->n == 0 && x->v[0] < 0 && a->alt_names) {
            const char *w = a->alt_names;
            for (int64_t k = 1; k < -x->v[0] && w; k++) {
                w = strchr(w, ',');
                if (w) w++;
            }
            if (w) {
                const char *c = strchr(w, ',');
                return snprintf(buf, size, "%.*s", c ? (int)(c - w) : (int)strlen(w), w);
            }
        }
        int len = 0;
        for (int i = 0; i < x->n && (size_t)len < size; i++)
            len += snprintf(buf + len, size - (size_t)len, i ? ",%lld" : "%lld", (long long)x->v[i]);
        if (x->n == 0) len = snprintf(buf, size, "()");
        return len;
    }
    }
    return 0;
}

char *tg_attr_format(int op_id, const void *attr, bool all_attrs, char *buf, size_t size)
{
    const tg_op_desc *d = tg_op_get(op_id);
    if (!buf || size == 0) return buf;
    buf[0] = '\0';
    if (!d || !attr) return buf;
    unsigned char defaults[512];
    TG_ASSERT(d->attr_size <= sizeof defaults);
    tg_attr_defaults(op_id, defaults);
    size_t len = 0;
    for (int i = 0; i < d->n_attrs && len < size; i++) {
        char v[160], dv[160];
        format_value(&d->attrs[i], attr, v, sizeof v);
        format_value(&d->attrs[i], defaults, dv, sizeof dv);
        if (!all_attrs && !strcmp(v, dv)) continue;
        int w = snprintf(buf + len, size - len, "%s%s=%s", len ? " " : "", d->attrs[i].name, v);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}
