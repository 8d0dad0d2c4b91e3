/* ops/kernels/norm.h — the one normalization core behind batch/layer/instance/group norm and FRN.
 *
 * The input is viewed as x:[outer, stats, inner] (contiguous, row-major): there is one statistic
 * (mean, 1/σ) per middle index k, reduced over every outer index p and inner index q, so it
 * covers M = outer*inner values.
 *   batch_norm    x:[N,C,S]  -> outer N, stats C,      inner S
 *   instance_norm x:[N,C,S]  -> outer 1, stats N*C,    inner S
 *   group_norm    x:[N,C,S]  -> outer 1, stats N*G,    inner (C/G)*S
 *   layer_norm    x:[R,D]    -> outer 1, stats R,      inner D (D = prod(normalized_shape))
 *   frn           as instance_norm, without centering (ν² = mean(x²))
 * The affine weight/bias (length affine_n) is indexed by run: consecutive runs of affine_run
 * elements (affine_run divides inner) share one value, and run number r uses index r % affine_n
 * (per channel: affine_run = S, affine_n = C; layer_norm elementwise: affine_run = 1, affine_n = D).
 *
 * Kernels never allocate: the backward's per-run sums come from the caller (tape arena). Sums are
 * accumulated in double (per-lane partial sums of at most a few dozen values in tg_real first).
 * Statistics are two-pass per contiguous row of `inner` values (the mean as an offset from the
 * row's first value, then Σ(x − mean)² while the row is still in cache), the rows merged by Chan's
 * pairwise formula: x is read from memory once and large means (1e4 + noise) keep their precision.
 * Work is split over rows in memory order (batch norm: the batch, as the convolutions split it) or
 * over statistics; every sum's order is fixed by the shapes, so results do not depend on the thread
 * count.
 */
#ifndef TG_KERNELS_NORM_H
#define TG_KERNELS_NORM_H

#include <stdbool.h>
#include <stdint.h>

#include "../../graph/tensor.h"

typedef struct tg_norm_view {
    int64_t outer, stats, inner;
    int64_t affine_run; /* elements sharing one weight/bias value; divides inner */
    int64_t affine_n;   /* length of weight/bias (their absence is a NULL pointer) */
    bool center;        /* subtract the mean (false for FRN: mean square, no centering) */
    /* A fused activation after the affine output, 1 + its tg_ew_unary (elementwise.h): ReLU or
     * leaky ReLU (act_param its slope); 0: none. The forward writes y = f(z), z the normalised
     * output, and the backward takes dy as the gradient of y, recomputing z from x exactly as the
     * forward made it. Not with an elementwise affine (layer norm's). */
    int act;
    tg_real act_param;
} tg_norm_view;

/* Doubles of scratch tg_norm_kernel_backward needs: two per affine run and two per statistic, or, for
 * layer norm's elementwise affine (runs of 1 with one full period per statistic), two per affine
 * index for each block of 256 rows (dγ, dβ partials summed in block order: the same whatever the
 * thread split). */
int64_t tg_norm_backward_scratch(const tg_norm_view *v);
/* Doubles of scratch tg_norm_kernel_stats needs: two per row when outer > 1 (each (image, channel)
 * row's moments, merged per statistic in image order), else none (scratch may be NULL). */
int64_t tg_norm_stats_scratch(const tg_norm_view *v);

/* mean[k] and biased var[k] (mean square when !center; then mean[k] = 0) for every statistic. */
void tg_norm_kernel_stats(const tg_norm_view *v, const tg_real *x, double *mean, double *var, double *scratch);

/* y = (x − mean[k]) · rstd[k] · γ + β   (γ, β may be NULL: 1 and 0). */
void tg_norm_kernel_forward(const tg_norm_view *v, const tg_real *x, const double *mean,
                            const double *rstd, const tg_real *gamma, const tg_real *beta, tg_real *y);

/* Statistics and forward in one pass, for views whose statistics are one row each (outer = 1:
 * layer, group, instance norm, FRN): mean[k], rstd[k] = 1/sqrt(var + eps) and y as
 * tg_norm_kernel_stats, then tg_norm_kernel_forward, would give them (the same bits). */
void tg_norm_kernel_stats_forward(const tg_norm_view *v, const tg_real *x, double eps, double *mean, double *rstd,
                                  const tg_real *gamma, const tg_real *beta, tg_real *y);

/* Backward with x̂ = (x − mean)·rstd, dx̂ = γ·dy, over the M values of each statistic (with a fused
 * activation dy is first taken through its backward at z = x̂·γ + β; beta is read only then):
 *   batch_stats: dx += rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))   (no mean(dx̂) term when !center)
 *   otherwise (statistics are constants, eval mode): dx += rstd·dx̂
 *   dγ[a] += Σ dy·x̂, dβ[a] += Σ dy over the runs using index a.
 * Without accumulate dx is written (dx = ..., a fresh gradient) instead of added to.
 * dx, dgamma, dbeta may each be NULL. scratch: tg_norm_backward_scratch(v) doubles. */
void tg_norm_kernel_backward(const tg_norm_view *v, const tg_real *x, const tg_real *dy,
                             const double *mean, const double *rstd, const tg_real *gamma, const tg_real *beta,
                             bool batch_stats, tg_real *dx, bool accumulate, tg_real *dgamma, tg_real *dbeta,
                             double *scratch);

#if defined(__x86_64__)
/* The same three built with AVX-512 (norm_avx512.c, from norm_impl.h); the functions above call
 * them when the CPU reports AVX-512F. */
void norm_stats_avx512(const tg_norm_view *v, const tg_real *x, double *mean, double *var, double *scratch);
void norm_forward_avx512(const tg_norm_view *v, const tg_real *x, const double *mean, const double *rstd,
                         const tg_real *gamma, const tg_real *beta, tg_real *y);
void norm_stats_forward_avx512(const tg_norm_view *v, const tg_real *x, double eps, double *mean, double *rstd,
                               const tg_real *gamma, const tg_real *beta, tg_real *y);
void norm_backward_avx512(const tg_norm_view *v, const tg_real *x, const tg_real *dy, const double *mean,
                          const double *rstd, const tg_real *gamma, const tg_real *beta, bool batch_stats,
                          tg_real *dx, bool accumulate, tg_real *dgamma, tg_real *dbeta, double *scratch);
#endif

#endif
