/* nn/summary.c — per-layer table of a model: output shape, parameters, MACs (conv and linear
 * multiply-accumulates per sample, the notes' convention), receptive field and activation memory. */
#include "spec.h"
#include "module_internal.h"
#include "../graph/tape_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(...) (err ? (void)snprintf(err, errsz, __VA_ARGS__) : (void)0)

typedef struct summary_ctx {
    char *text;
    size_t len, cap;
    int64_t params, macs;
    double rf, jump;     /* receptive field and stride product along the main path (rows) */
    bool rf_all;         /* a global pool saw the whole input */
    bool oom;
} summary_ctx;

static void emit(summary_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    const int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    const size_t add = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (c->len + add + 1 > c->cap) {
        const size_t cap = (c->cap + add + 1) * 2;
        char *p = realloc(c->text, cap);
        if (!p) {
            c->oom = true;
            return;
        }
        c->text = p, c->cap = cap;
    }
    memcpy(c->text + c->len, line, add + 1);
    c->len += add;
}

/* First value of a tuple attribute in the formatted attribute text ("stride=2,2 ..."). */
static int64_t attr_first(const char *attrs, const char *key, int64_t fallback)
{
    char pat[40];
    snprintf(pat, sizeof pat, "%s=", key);
    for (const char *p = attrs; (p = strstr(p, pat)); p++)
        if (p == attrs || p[-1] == ' ') {
            char *end;
            const long long v = strtoll(p + strlen(pat), &end, 10);
            return end == p + strlen(pat) ? fallback : v;
        }
    return fallback;
}

/* Values per entry of the first dim (per sample of a batch, per output unit of a weight). A
 * tensor without a first dim (a layer that reduced the batch away) or with an empty one counts
 * whole: no division by zero whatever shape a layer gives. */
static int64_t per_first(const tg_tensor *t)
{
    return t->ndim >= 1 && t->shape[0] > 0 ? t->numel / t->shape[0] : t->numel;
}

static int64_t layer_macs(const tg_module *m, const tg_tensor *in, const tg_tensor *out)
{
    if (m->kind != TG_MOD_OP || m->n_params == 0 || !m->params[0]) return 0;
    const int64_t per_unit = per_first(m->params[0]);
    if (!strcmp(m->type, "linear") || !strncmp(m->type, "conv", 4)) {
        if (strstr(m->type, "transpose")) return per_first(in) * per_unit; /* each input value scatters */
        return per_first(out) * per_unit;
    }
    return 0;
}

static void observe(void *vc, tg_module *m, tg_tensor *in, tg_tensor *out)
{
    summary_ctx *c = vc;
    const int64_t params = tg_module_param_count(m), macs = layer_macs(m, in, out);
    c->params += params;
    c->macs += macs;
    /* receptive field along the chain: rf += (k_eff - 1) * jump; jump *= stride */
    if (m->kind == TG_MOD_OP) {
        char attrs[512] = "";
        tg_attr_format(m->op, m->attr, true, attrs, sizeof attrs);
        int64_t k = 0;
        if (!strncmp(m->type, "conv", 4) && m->params[0]) k = m->params[0]->shape[m->params[0]->ndim - 1];
        else if (strstr(m->type, "pool") && !strstr(m->type, "global") && !strstr(m->type, "adaptive"))
            k = attr_first(attrs, "kernel_size", 1);
        if (strstr(m->type, "global") || strstr(m->type, "adaptive")) c->rf_all = true;
        if (k > 0) {
            const int64_t dil = attr_first(attrs, "dilation", 1);
            int64_t stride = attr_first(attrs, "stride", strstr(m->type, "pool") ? k : 1);
            if (stride <= 0) stride = strstr(m->type, "pool") ? k : 1; /* pool stride "none" = kernel */
            if (strstr(m->type, "transpose")) stride = 1; /* upsampling: the rf grows by the kernel only */
            c->rf += (double)(dil * (k - 1)) * c->jump;
            c->jump *= (double)stride;
        }
    }
    char shape[TG_SHAPE_STR_LEN], rf[32];
    if (out->ndim >= 1) tg_shape_str_raw(out->ndim - 1, out->shape + 1, shape, sizeof shape);
    else snprintf(shape, sizeof shape, "[] (no batch)"); /* the layer reduced the batch dim too */
    if (c->rf_all) snprintf(rf, sizeof rf, "all");
    else snprintf(rf, sizeof rf, "%.0f", c->rf);
    emit(c, "%-14s %-16s %-18s %12lld %14lld %6s %12.1f\n", m->name, m->type, shape, (long long)params,
         (long long)macs, rf, (double)per_first(out) * sizeof(float) / 1024.0);
}

static int run_summary(tg_model *m, summary_ctx *c, char *err, size_t errsz)
{
    int64_t shape[5] = {1};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tape_set_shapes_only(t, true); /* the table is shapes and parameter counts: no values needed */
    tg_tensor *x = t ? tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape) : NULL;
    if (!x) {
        tg_tape_free(t);
        SAY("summary: out of memory for the tape and its input");
        return -1;
    }
    c->rf = 1, c->jump = 1;
    const bool was = m->net->training;
    tg_module_train(m->net, false);
    tg_no_grad_begin(t);
    tg_tensor *y = tg_module_forward_observed(m->net, t, x, observe, c);
    tg_no_grad_end(t);
    tg_module_train(m->net, was);
    if (!y) SAY("summary: %s", tg_error(t) ? tg_error(t) : "forward failed");
    else if (c->oom) SAY("summary: out of memory for the table's text");
    tg_tape_free(t);
    return y && !c->oom ? 0 : -1;
}

char *tg_summary(tg_model *m, char *err, size_t errsz)
{
    summary_ctx c = {0};
    char in[TG_SHAPE_STR_LEN];
    emit(&c, "%-14s %-16s %-18s %12s %14s %6s %12s\n", "Layer", "Type", "Output shape", "Params", "MACs", "RF",
         "Act. KiB");
    emit(&c, "%-14s %-16s %-18s %12d %14d %6d %12.1f\n", "input", "input",
         tg_shape_str_raw(m->in_ndim, m->in_shape, in, sizeof in), 0, 0, 1,
         (double)tg_shape_numel(m->in_ndim, m->in_shape) * sizeof(float) / 1024.0);
    if (run_summary(m, &c, err, errsz)) {
        free(c.text);
        return NULL;
    }
    emit(&c, "Total params: %lld\nTotal MACs: %lld\n", (long long)c.params, (long long)c.macs);
    if (c.oom) {
        free(c.text);
        SAY("summary: out of memory for the table's text");
        return NULL;
    }
    return c.text;
}

int tg_summary_totals(tg_model *m, int64_t *params, int64_t *macs, char *err, size_t errsz)
{
    summary_ctx c = {0};
    const int rc = run_summary(m, &c, err, errsz);
    free(c.text);
    if (rc) return -1;
    *params = c.params;
    *macs = c.macs;
    return 0;
}
