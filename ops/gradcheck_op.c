/* ops/gradcheck_op.c — tg_gradcheck applied to one op of the table. */
#include "gradcheck_op.h"

#include "op.h"

#include <stdio.h>
#include <string.h>

typedef struct op_ctx {
    int op_id;
    const void *attr;
} op_ctx;

static tg_tensor *apply_op(tg_tape *t, tg_tensor *const *inputs, int n, void *ctx)
{
    op_ctx *o = ctx;
    return tg_op_apply(t, o->op_id, inputs, n, o->attr);
}

int tg_gradcheck_op(int op_id, const void *attr, tg_tensor *const *inputs, int n_inputs,
                    const tg_gradcheck_opts *opts, tg_gradcheck_report *report)
{
    const tg_op_desc *d = tg_op_get(op_id);
    tg_gradcheck_report dummy;
    if (!report) report = &dummy;
    if (!d || n_inputs < 0 || n_inputs > TG_MAX_INPUTS) {
        memset(report, 0, sizeof *report);
        snprintf(report->message, sizeof report->message, "gradcheck: unknown op or bad input count");
        return -1;
    }
    bool saved[TG_MAX_INPUTS] = {0};
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) continue;
        saved[i] = inputs[i]->requires_grad;
        bool differentiable = inputs[i]->dtype == TG_REAL && !(d->nograd_inputs & (1u << i));
        inputs[i]->requires_grad = differentiable;
    }
    op_ctx ctx = {op_id, attr};
    int st = tg_gradcheck(apply_op, &ctx, inputs, n_inputs, opts, report);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i]) inputs[i]->requires_grad = saved[i];
    return st;
}
