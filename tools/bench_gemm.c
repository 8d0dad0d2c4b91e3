/* tools/bench_gemm.c — `tg bench` cases for the one GEMM: square products 64..1024, a few
 * convolution-shaped ones (m = output channels, n = output pixels, k = C*kh*kw), and "fma_peak",
 * this core's float FMA throughput from a register-only loop, to quote GEMM figures against. */
#include <stdio.h>
#include <stdlib.h>

#include "../ops/kernels/cpu.h"
#include "../ops/kernels/gemm.h"
#include "../ops/kernels/parallel.h"
#include "bench.h"

#ifdef TG_REAL_DOUBLE
#define GEMM_NAME "dgemm"
#else
#define GEMM_NAME "sgemm"
#endif

typedef struct gemm_case {
    int64_t m, n, k;
    tg_real *a, *b, *c;
} gemm_case;

static void run_gemm(void *arg)
{
    gemm_case *g = arg;
    tg_gemm(false, false, g->m, g->n, g->k, 1, g->a, g->k, g->b, g->n, 0, g->c, g->n);
}

static void bench_one(const tg_bench_ctx *ctx, const char *name, int64_t m, int64_t n, int64_t k)
{
    gemm_case g = {m, n, k, malloc(sizeof(tg_real) * (size_t)(m * k)), malloc(sizeof(tg_real) * (size_t)(k * n)),
                   malloc(sizeof(tg_real) * (size_t)(m * n))};
    if (g.a && g.b && g.c) {
        uint32_t state = 12345;
        for (int64_t i = 0; i < m * k; i++) g.a[i] = (tg_real)((state = state * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f;
        for (int64_t i = 0; i < k * n; i++) g.b[i] = (tg_real)((state = state * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f;
        double ms = tg_bench_time(ctx, run_gemm, &g);
        char shape[64], extra[96];
        snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)m, (long long)n, (long long)k);
        snprintf(extra, sizeof extra, "\"threads\":%d,\"kernel\":\"%s\"", tg_get_threads(), tg_gemm_kernel_name());
        tg_bench_emit(name, shape, ms, 2.0 * (double)m * (double)n * (double)k / (ms * 1e6), -1, extra);
    }
    free(g.a);
    free(g.b);
    free(g.c);
}

/* ---- FMA peak: independent accumulators so latency never stalls the FMA pipes ---- */

#define PEAK_ACCUMULATORS 16
#define PEAK_ITERATIONS 4000000L

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
__attribute__((target("avx512f"))) static double peak_avx512(void)
{
    __m512 acc[PEAK_ACCUMULATORS];
    __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACCUMULATORS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < PEAK_ITERATIONS; it++) {
#pragma GCC unroll 16
        for (int i = 0; i < PEAK_ACCUMULATORS; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }
    for (int i = 1; i < PEAK_ACCUMULATORS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return (double)_mm512_reduce_add_ps(acc[0]);
}
__attribute__((target("avx2,fma"))) static double peak_avx2(void)
{
    __m256 acc[PEAK_ACCUMULATORS];
    __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < PEAK_ACCUMULATORS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < PEAK_ITERATIONS; it++) {
#pragma GCC unroll 16
        for (int i = 0; i < PEAK_ACCUMULATORS; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    float out[8];
    for (int i = 1; i < PEAK_ACCUMULATORS; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    _mm256_storeu_ps(out, acc[0]);
    return out[0] + out[7];
}
#endif

static volatile double peak_sink; /* keeps the loop's result alive */

static void bench_fma_peak(const tg_bench_ctx *ctx)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    bool wide = tg_cpu_has_avx512();
    if (!wide && !tg_cpu_has_avx2_fma()) return;
    int lanes = wide ? 16 : 8;
    double best = 1e300;
    double start = tg_bench_now(), budget = ctx->min_seconds > 0 ? ctx->min_seconds : 0.3;
    for (int run = 0; run < 3 || tg_bench_now() - start < budget; run++) {
        double t0 = tg_bench_now();
        peak_sink = wide ? peak_avx512() : peak_avx2();
        double dt = tg_bench_now() - t0;
        if (dt < best) best = dt;
    }
    double flops = 2.0 * lanes * PEAK_ACCUMULATORS * (double)PEAK_ITERATIONS;
    tg_bench_emit("fma_peak", wide ? "avx512_f32_1core" : "avx2_f32_1core", best * 1e3, flops / (best * 1e9), -1,
                  "\"threads\":1");
#else
    (void)ctx;
#endif
}

void tg_bench_gemm(const tg_bench_ctx *ctx)
{
    if (tg_bench_selected(ctx, "fma_peak")) bench_fma_peak(ctx);
    int saved = tg_get_threads();
    tg_set_threads(ctx->threads > 0 ? ctx->threads : 1);
    if (tg_bench_selected(ctx, GEMM_NAME)) {
        static const int sizes[] = {64, 128, 256, 512, 1024};
        for (int i = 0; i < 5; i++) bench_one(ctx, GEMM_NAME, sizes[i], sizes[i], sizes[i]);
    }
    /* convolution-shaped: m = out channels, n = batch pixels (e.g. 56x56), k = C*3*3 */
    static const int64_t conv_shapes[][3] = {{64, 3136, 27}, {64, 3136, 576}, {128, 3136, 1152},
                                             {256, 784, 1152}, {64, 12544, 9}, {576, 576, 3136}};
    if (tg_bench_selected(ctx, GEMM_NAME "_conv"))
        for (int i = 0; i < 6; i++) bench_one(ctx, GEMM_NAME "_conv", conv_shapes[i][0], conv_shapes[i][1], conv_shapes[i][2]);
    tg_set_threads(saved);
}
