/* tools/bench.c — timing and output shared by the bench families. */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

double tg_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool tg_bench_selected(const tg_bench_ctx *ctx, const char *name)
{
    return !ctx->filter || !*ctx->filter || strstr(name, ctx->filter);
}

double tg_bench_time(const tg_bench_ctx *ctx, void (*fn)(void *arg), void *arg)
{
    double budget = ctx->min_seconds > 0 ? ctx->min_seconds : 0.3;
    fn(arg); /* warm-up: caches, page faults, workspace sizing */
    double best = 1e300, start = tg_bench_now();
    int runs = 0;
    do {
        double t0 = tg_bench_now();
        fn(arg);
        double dt = tg_bench_now() - t0;
        if (dt < best) best = dt;
        runs++;
    } while (tg_bench_now() - start < budget || runs < 3);
    return best * 1e3;
}

void tg_bench_emit(const char *name, const char *shape, double ms, double gflops, double gbps,
                   const char *extra)
{
    printf("{\"name\":\"%s\",\"shape\":\"%s\",\"ms\":%.4f", name, shape, ms);
    if (gflops >= 0) printf(",\"gflops\":%.2f", gflops);
    if (gbps >= 0) printf(",\"gbps\":%.2f", gbps);
    if (extra && *extra) printf(",%s", extra);
    printf("}\n");
    fflush(stdout);
}

bool tg_bench_all(const tg_bench_ctx *ctx)
{
    if (ctx->model_path) return tg_bench_train(ctx); /* one user model: its cases alone */
    tg_bench_gemm(ctx);
    tg_bench_conv(ctx);
    tg_bench_pool(ctx);
    tg_bench_norm(ctx);
    return tg_bench_train(ctx);
}
