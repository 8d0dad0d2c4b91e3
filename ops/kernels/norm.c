/* ops/kernels/norm.c — the normalization core (see norm.h): statistics, forward, compact backward.
 *
 * Sums run in blocks: LANES independent tg_real partial sums over at most BLOCK values (the
 * compiler vectorises the lane loop), each block then added into a double. Blocks are short, so
 * the float partial sums lose nothing measurable, and the double total keeps long reductions
 * (M = N·H·W values per channel) exact to double rounding.
 *
 * Centring uses the mean split into two tg_reals, mean = hi + lo: (x − hi) is exact for x near
 * the mean (Sterbenz), so x − mean keeps the noise of inputs like 1e4 + 0.01·noise.
 */
#include "norm.h"

#include "cpu.h"

#define NORM_FN(name) norm_##name##_base
#include "norm_impl.h"
#undef NORM_FN

int64_t tg_norm_backward_scratch(const tg_norm_view *v)
{
    return elementwise(v) ? 2 * v->inner * ew_blocks(v) : 2 * runs_of(v) + 2 * v->stats;
}

int64_t tg_norm_stats_scratch(const tg_norm_view *v) { return v->outer > 1 ? 2 * v->outer * v->stats : 0; }

/* The AVX-512 build where the CPU has it (as im2col.c picks its split loops). */
void tg_norm_kernel_stats(const tg_norm_view *v, const tg_real *x, double *mean, double *var, double *scratch)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        norm_stats_avx512(v, x, mean, var, scratch);
        return;
    }
#endif
    norm_stats_base(v, x, mean, var, scratch);
}

void tg_norm_kernel_forward(const tg_norm_view *v, const tg_real *x, const double *mean,
                            const double *rstd, const tg_real *gamma, const tg_real *beta, tg_real *y)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        norm_forward_avx512(v, x, mean, rstd, gamma, beta, y);
        return;
    }
#endif
    norm_forward_base(v, x, mean, rstd, gamma, beta, y);
}

void tg_norm_kernel_stats_forward(const tg_norm_view *v, const tg_real *x, double eps, double *mean, double *rstd,
                                  const tg_real *gamma, const tg_real *beta, tg_real *y)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        norm_stats_forward_avx512(v, x, eps, mean, rstd, gamma, beta, y);
        return;
    }
#endif
    norm_stats_forward_base(v, x, eps, mean, rstd, gamma, beta, y);
}

void tg_norm_kernel_backward(const tg_norm_view *v, const tg_real *x, const tg_real *dy,
                             const double *mean, const double *rstd, const tg_real *gamma, const tg_real *beta,
                             bool batch_stats, tg_real *dx, bool accumulate, tg_real *dgamma, tg_real *dbeta,
                             double *scratch)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        norm_backward_avx512(v, x, dy, mean, rstd, gamma, beta, batch_stats, dx, accumulate, dgamma, dbeta, scratch);
        return;
    }
#endif
    norm_backward_base(v, x, dy, mean, rstd, gamma, beta, batch_stats, dx, accumulate, dgamma, dbeta, scratch);
}
