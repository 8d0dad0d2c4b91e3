/* tools/bench_pool.c — max and average pooling 2x2/2 and 3x3/2 on (64, 64, 56, 56), forward and
 * backward, as memory traffic: gbps = (bytes read + bytes written) / time, counting each array
 * once — forward: x, y (+ int64 indices for max); backward: dy (+ indices), dx (zero-filled and
 * accumulated, as PyTorch's backward does). tools/bench_pool_torch.py measures PyTorch with the
 * same byte counts, so the GB/s ratio is the time ratio. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../ops/kernels/pool.h"
#include "../tapegrad.h"
#include "bench.h"

typedef struct pool_case {
    tg_tape *tape;
    tg_tensor *x;
    int op;
    const tg_pool_attr *attr;
    tg_node *node; /* the recorded forward the backward case reruns */
} pool_case;

static void run_forward(void *arg)
{
    pool_case *c = arg;
    tg_tape_reset(c->tape);
    tg_tensor *y = tg_op_apply(c->tape, c->op, &c->x, 1, c->attr);
    c->node = y ? y->node : NULL;
}

static void run_backward(void *arg)
{
    pool_case *c = arg;
    tg_tensor_zero_grad(c->x);
    c->node->op->backward(c->tape, c->node);
}

/* Best CPU time of this thread over `runs` calls, ms: on a loaded machine wall-clock runs of
 * tens of ms are mostly preempted, CPU time much less so (one thread only: the work must run on
 * the calling thread). */
static double best_cpu_ms(void (*fn)(void *), void *arg, int runs)
{
    double best = 1e300;
    for (int i = 0; i < runs; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        fn(arg);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
        if (ms < best) best = ms;
    }
    return best;
}

/* The JSON extras: threads, then for one thread the best CPU time. */
static void format_extra(char *out, size_t size, const char *more, void (*fn)(void *), void *arg)
{
    int n = snprintf(out, size, "\"threads\":%d", tg_get_threads());
    if (tg_get_threads() == 1 && n > 0 && (size_t)n < size)
        n += snprintf(out + n, size - (size_t)n, ",\"cpu_ms\":%.4f", best_cpu_ms(fn, arg, 10));
    if (more && n > 0 && (size_t)n < size) snprintf(out + n, size - (size_t)n, ",%s", more);
}

static void bench_pool_case(const tg_bench_ctx *ctx, pool_case *c, const char *kind, int k)
{
    char name[64], shape[64], extra[128], kernel[64];
    snprintf(shape, sizeof shape, "64x64x56x56_k%ds2", k);
    tg_pool_attr a = tg_pool_attr_kernel(k, 2);
    c->attr = &a;
    c->op = !strcmp(kind, "max") ? TG_OP_MAX_POOL2D : TG_OP_AVG_POOL2D;
    const double real = sizeof(tg_real), in = (double)c->x->numel;

    snprintf(name, sizeof name, "pool_%s_%dx%ds2_fwd", kind, k, k);
    if (tg_bench_selected(ctx, name)) {
        double ms = tg_bench_time(ctx, run_forward, c);
        if (!c->node) {
            fprintf(stderr, "bench pool: %s\n", tg_error(c->tape));
            return;
        }
        double out = (double)c->node->out->numel;
        double bytes = real * (in + out) + (c->op == TG_OP_MAX_POOL2D ? 8.0 * out : 0);
        /* the max forward names its run kernel (ops/kernels/pool.h) */
        snprintf(kernel, sizeof kernel, "\"kernel\":\"%s\"",
                 c->op == TG_OP_MAX_POOL2D ? tg_pool_max_kernel_name() : "general");
        format_extra(extra, sizeof extra, kernel, run_forward, c);
        tg_bench_emit(name, shape, ms, -1, bytes / (ms * 1e6), extra);
    }

    snprintf(name, sizeof name, "pool_%s_%dx%ds2_bwd", kind, k, k);
    if (tg_bench_selected(ctx, name)) {
        run_forward(c);
        if (!c->node) {
            fprintf(stderr, "bench pool: %s\n", tg_error(c->tape));
            return;
        }
        tg_tensor *y = c->node->out;
        tg_real *dy = tg_tensor_grad(y);
        for (int64_t i = 0; i < y->numel; i++) dy[i] = (tg_real)((i % 7) - 3);
        double ms = tg_bench_time(ctx, run_backward, c);
        double out = (double)y->numel;
        double bytes = real * (out + in) + (c->op == TG_OP_MAX_POOL2D ? 8.0 * out : 0);
        format_extra(extra, sizeof extra, NULL, run_backward, c);
        tg_bench_emit(name, shape, ms, -1, bytes / (ms * 1e6), extra);
    }
}

void tg_bench_pool(const tg_bench_ctx *ctx)
{
    static const char *const names[] = {"pool_max_2x2s2_fwd", "pool_max_2x2s2_bwd", "pool_max_3x3s2_fwd",
                                        "pool_max_3x3s2_bwd", "pool_avg_2x2s2_fwd", "pool_avg_2x2s2_bwd",
                                        "pool_avg_3x3s2_fwd", "pool_avg_3x3s2_bwd"};
    bool any = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) any |= tg_bench_selected(ctx, names[i]);
    if (!any) return;
    int saved = tg_get_threads();
    tg_set_threads(ctx->threads > 0 ? ctx->threads : 1);
    pool_case c = {.tape = tg_tape_new(0)};
    c.x = tg_tensor_new(TG_REAL, 4, (int64_t[]){64, 64, 56, 56});
    if (c.tape && c.x) {
        c.x->requires_grad = true;
        tg_rng r;
        tg_rng_seed(&r, 1);
        for (int64_t i = 0; i < c.x->numel; i++) c.x->data[i] = (tg_real)tg_rng_uniform(&r);
        bench_pool_case(ctx, &c, "max", 2);
        bench_pool_case(ctx, &c, "max", 3);
        bench_pool_case(ctx, &c, "avg", 2);
        bench_pool_case(ctx, &c, "avg", 3);
    } else {
        fprintf(stderr, "bench pool: out of memory\n");
    }
    tg_tensor_free(c.x);
    tg_tape_free(c.tape);
    tg_set_threads(saved);
}
