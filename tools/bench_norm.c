/* tools/bench_norm.c — batch_norm on (64, 64, 56, 56) as memory traffic, like PyTorch's
 * F.batch_norm on one thread (tools/bench_norm_torch.py measures it with the same byte counts):
 *   batch_norm_train_fwd     x read, y written                               (2 arrays)
 *   batch_norm_train_fwdbwd  forward + backward: x, y; x, dy read, dx written (5 arrays)
 *   batch_norm_eval_fwd      x read, y written                               (2 arrays)
 *   layer_norm_fwdbwd        (64·56·56, 64) rows, normalized over 64: 5 arrays
 * gbps = bytes / time, counting each array once (the minimum traffic; the real one is higher:
 * the statistics and the backward's sums read x and dy once more). Before each backward the
 * gradients are cleared (tg_tensor_clear_grad), as the PyTorch script sets x.grad = None: dx is
 * then written into the kept buffer, not zero-filled and added to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "bench.h"

typedef struct norm_case {
    tg_tape *tape;
    tg_tensor *x, *rm, *rv, *w, *b;
    tg_real *dy;
    tg_norm_attr attr;
    int op;
    bool backward;
    bool failed;
} norm_case;

static void run_case(void *arg)
{
    norm_case *c = arg;
    tg_tape_reset(c->tape);
    tg_tensor *y = c->op == TG_OP_BATCH_NORM ? tg_batch_norm(c->tape, c->x, c->rm, c->rv, c->w, c->b, &c->attr)
                                             : tg_layer_norm(c->tape, c->x, c->w, c->b, &c->attr);
    if (!y) {
        c->failed = true;
        return;
    }
    if (!c->backward) return;
    tg_tensor_clear_grad(c->x);
    tg_tensor_clear_grad(c->w);
    tg_tensor_clear_grad(c->b);
    if (tg_backward_with(y, c->dy) != TG_OK) c->failed = true;
}

static void bench_one(const tg_bench_ctx *ctx, norm_case *c, const char *name, const char *shape, int arrays)
{
    if (!tg_bench_selected(ctx, name)) return;
    char extra[64];
    snprintf(extra, sizeof extra, "\"threads\":%d", tg_get_threads());
    c->failed = false;
    double ms = tg_bench_time(ctx, run_case, c);
    if (c->failed) {
        fprintf(stderr, "bench norm: %s: %s\n", name, tg_error(c->tape) ? tg_error(c->tape) : "failed");
        return;
    }
    double bytes = (double)arrays * (double)c->x->numel * sizeof(tg_real);
    tg_bench_emit(name, shape, ms, -1, bytes / (ms * 1e6), extra);
}

void tg_bench_norm(const tg_bench_ctx *ctx)
{
    static const char *const names[] = {"batch_norm_train_fwd", "batch_norm_train_fwdbwd", "batch_norm_eval_fwd",
                                        "layer_norm_fwdbwd"};
    bool any = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) any |= tg_bench_selected(ctx, names[i]);
    if (!any) return;

    const int64_t n = 64, ch = 64, h = 56, w = 56;
    norm_case c = {.tape = tg_tape_new(0)};
    c.x = tg_tensor_newv(4, n, ch, h, w);
    c.rm = tg_tensor_newv(1, ch);
    c.rv = tg_tensor_newv(1, ch);
    c.w = tg_tensor_newv(1, ch);
    c.b = tg_tensor_newv(1, ch);
    c.dy = c.x ? malloc(sizeof(tg_real) * (size_t)c.x->numel) : NULL;
    if (!c.tape || !c.x || !c.rm || !c.rv || !c.w || !c.b || !c.dy) {
        fprintf(stderr, "bench norm: out of memory\n");
        goto done;
    }
    tg_rng r;
    tg_rng_seed(&r, 1);
    for (int64_t i = 0; i < c.x->numel; i++) {
        c.x->data[i] = (tg_real)(tg_rng_uniform(&r) * 4 - 1);
        c.dy[i] = (tg_real)(tg_rng_uniform(&r) - 0.5);
    }
    tg_tensor_fill(c.rv, 1);
    tg_tensor_fill(c.w, 1);
    c.x->requires_grad = c.w->requires_grad = c.b->requires_grad = true;

    c.op = TG_OP_BATCH_NORM;
    tg_attr_defaults(TG_OP_BATCH_NORM, &c.attr);
    c.attr.training = true;
    bench_one(ctx, &c, "batch_norm_train_fwd", "64x64x56x56", 2);
    c.backward = true;
    bench_one(ctx, &c, "batch_norm_train_fwdbwd", "64x64x56x56", 5);
    c.backward = false;
    c.attr.training = false;
    bench_one(ctx, &c, "batch_norm_eval_fwd", "64x64x56x56", 2);

    /* layer norm over the channel dim of a channels-last activation: 200704 rows of 64 */
    if (tg_bench_selected(ctx, "layer_norm_fwdbwd")) {
        tg_tensor *lx = tg_tensor_newv(2, n * h * w, ch);
        if (!lx) goto done;
        memcpy(lx->data, c.x->data, sizeof(tg_real) * (size_t)lx->numel);
        lx->requires_grad = true;
        tg_tensor *bx = c.x;
        c.x = lx;
        c.op = TG_OP_LAYER_NORM;
        tg_attr_defaults(TG_OP_LAYER_NORM, &c.attr);
        c.backward = true;
        bench_one(ctx, &c, "layer_norm_fwdbwd", "200704x64", 5);
        c.x = bx;
        tg_tensor_free(lx);
    }
done:
    free(c.dy);
    tg_tensor_free(c.x);
    tg_tensor_free(c.rm);
    tg_tensor_free(c.rv);
    tg_tensor_free(c.w);
    tg_tensor_free(c.b);
    tg_tape_free(c.tape);
}
