/* graph/gradcheck.c — central-difference gradient checks in double precision. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A repeated backward adds the same values again; only summation order may differ. */
#define REPEAT_TOL (sizeof(tg_real) == sizeof(double) ? 1e-9 : 1e-4)

tg_gradcheck_opts tg_gradcheck_defaults(void)
{
    return (tg_gradcheck_opts){.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 1};
}

typedef struct checker {
    tg_graph_fn fn;
    void *ctx;
    tg_tensor *const *inputs;
    int n_inputs;
    tg_tape *tape;
    uint64_t seed;
    double *r;          /* projection weights, one per output element */
    int64_t out_numel;
} checker;

/* Runs the function on a fresh step; returns the output or NULL (message in the tape). */
static tg_tensor *evaluate(checker *c, bool record)
{
    tg_tape_reset(c->tape);
    tg_tape_seed(c->tape, c->seed);
    if (!record) tg_no_grad_begin(c->tape);
    return c->fn(c->tape, c->inputs, c->n_inputs, c->ctx);
}

static int projected(checker *c, double *value)
{
    tg_tensor *out = evaluate(c, false);
    if (!out || out->numel != c->out_numel) return -1;
    double s = 0;
    for (int64_t i = 0; i < out->numel; i++) s += (double)out->data[i] * c->r[i];
    *value = s;
    return 0;
}

static int fail(tg_gradcheck_report *rep, const char *what, const char *why)
{
    snprintf(rep->message, sizeof rep->message, "gradcheck: %s%s%s", what, why ? ": " : "", why ? why : "");
    rep->passed = false;
    return -1;
}

int tg_gradcheck(tg_graph_fn fn, void *ctx, tg_tensor *const *inputs, int n_inputs,
                 const tg_gradcheck_opts *opts_in, tg_gradcheck_report *rep)
{
    tg_gradcheck_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    rep->passed = true;
    if (!fn || n_inputs < 0 || n_inputs > TG_MAX_INPUTS || (n_inputs && !inputs))
        return fail(rep, "bad arguments", NULL);
    tg_gradcheck_opts opts = opts_in ? *opts_in : tg_gradcheck_defaults();
    rep->n_inputs = n_inputs;

    checker c = {.fn = fn, .ctx = ctx, .inputs = inputs, .n_inputs = n_inputs, .seed = opts.seed};
    c.tape = tg_tape_new(0);
    if (!c.tape) return fail(rep, "out of memory", NULL);
    int status = 0;

    /* Analytic pass: L = sum(out * R), so d(out) = R. */
    for (int i = 0; i < n_inputs; i++) tg_tensor_zero_grad(inputs[i]);
    tg_tensor *out = evaluate(&c, true);
    if (!out) {
        status = fail(rep, "the function failed", tg_error(c.tape));
        goto done;
    }
    c.out_numel = out->numel;
    c.r = malloc(sizeof(double) * (size_t)(out->numel ? out->numel : 1));
    tg_real *dy = tg_tape_alloc(c.tape, sizeof(tg_real) * (size_t)(out->numel ? out->numel : 1));
    if (!c.r || !dy) {
        status = fail(rep, "out of memory", NULL);
        goto done;
    }
    tg_rng rng;
    tg_rng_seed(&rng, opts.seed ^ 0x5eedull);
    for (int64_t i = 0; i < out->numel; i++) {
        dy[i] = (tg_real)(2 * tg_rng_uniform(&rng) - 1);
        c.r[i] = dy[i];
    }
    tg_status st = tg_backward_with(out, dy);
    if (st != TG_OK) {
        status = fail(rep, "backward failed", tg_error(c.tape) ? tg_error(c.tape) : tg_strerror(st));
        goto done;
    }
    /* Keep the analytic gradients: the numeric evaluations reuse the tape. */
    double *analytic[TG_MAX_INPUTS] = {0};
    for (int i = 0; i < n_inputs; i++) {
        tg_tensor *x = inputs[i];
        if (!x || x->dtype != TG_REAL || !x->requires_grad) continue;
        analytic[i] = calloc((size_t)(x->numel ? x->numel : 1), sizeof(double));
        if (!analytic[i]) {
            status = fail(rep, "out of memory", NULL);
            goto free_analytic;
        }
        for (int64_t k = 0; k < x->numel && x->grad; k++) analytic[i][k] = x->grad[k];
    }
    /* A second backward over the same graph must add the same gradient again (PyTorch with
     * retain_graph=True): a backward that consumes or changes what its forward saved, or an
     * intermediate gradient that leaks into the next call, shows up here on every checked op. */
    st = tg_backward_with(out, dy);
    if (st != TG_OK) {
        status = fail(rep, "a second backward failed", tg_error(c.tape) ? tg_error(c.tape) : tg_strerror(st));
        goto free_analytic;
    }
    for (int i = 0; i < n_inputs && status == 0; i++) {
        const tg_tensor *x = inputs[i];
        for (int64_t k = 0; analytic[i] && x->grad && k < x->numel; k++) {
            const double want = 2 * analytic[i][k], got = (double)x->grad[k];
            if (fabs(got - want) > REPEAT_TOL * (fabs(want) + 1)) {
                snprintf(rep->message, sizeof rep->message,
                         "gradcheck: input %d element %lld: a second backward on the same graph gave %.10g in all, "
                         "not twice the first %.10g (the backward is not repeatable)", i, (long long)k, got,
                         analytic[i][k]);
                rep->passed = false;
                status = 1;
                break;
            }
        }
    }
    if (status != 0) goto free_analytic;

    double base;
    if (projected(&c, &base) != 0) {
        status = fail(rep, "the function failed", tg_error(c.tape));
        goto free_analytic;
    }
    for (int i = 0; i < n_inputs; i++) {
        tg_gradcheck_input *r = &rep->inputs[i];
        r->worst_index = -1;
        if (!analytic[i]) continue;
        tg_tensor *x = inputs[i];
        r->checked = true;
        double worst_ratio = -1;
        for (int64_t k = 0; k < x->numel; k++) {
            tg_real saved = x->data[k];
            double fp, fm;
            x->data[k] = (tg_real)(saved + opts.eps);
            int e1 = projected(&c, &fp);
            x->data[k] = (tg_real)(saved - opts.eps);
            int e2 = projected(&c, &fm);
            x->data[k] = saved;
            if (e1 || e2) {
                status = fail(rep, "the function failed", tg_error(c.tape));
                goto free_analytic;
            }
            double numeric = (fp - fm) / (2 * opts.eps);
            double left = (base - fm) / opts.eps, right = (fp - base) / opts.eps;
            double a = analytic[i][k];
            double err = fabs(a - numeric);
            double allowed = opts.atol + opts.rtol * fabs(numeric);
            /* One-sided slopes that disagree by far more than curvature explains: a kink. */
            bool kink = fabs(left - right) > 100 * opts.atol + 10 * opts.rtol * fmax(fabs(left), fabs(right));
            if (kink && err > allowed) {
                r->n_skipped++;
                continue;
            }
            r->n_checked++;
            double ratio = err / allowed;
            if (ratio > worst_ratio) {
                worst_ratio = ratio;
                r->worst_index = k;
                r->analytic = a;
                r->numeric = numeric;
                r->abs_err = err;
                r->rel_err = err / fmax(fabs(numeric), 1e-300);
            }
            if (err > allowed) {
                if (r->n_failed++ == 0 && rep->passed) {
                    rep->passed = false;
                    status = 1;
                    snprintf(rep->message, sizeof rep->message,
                             "gradcheck: input %d element %lld: analytic %.10g vs numeric %.10g (abs err %.3g)",
                             i, (long long)k, a, numeric, err);
                }
            }
        }
    }
free_analytic:
    for (int i = 0; i < n_inputs; i++) free(analytic[i]);
done:
    free(c.r);
    tg_tape_free(c.tape);
    if (status < 0) rep->passed = false;
    return status;
}
