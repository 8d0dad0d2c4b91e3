/* ops/kernels/norm_avx512.c — the normalization core's loops (norm_impl.h) built with AVX-512
 * (x86-64 only; norm.c calls them only when the CPU reports AVX-512F). */
#include "norm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define NORM_FN(name) norm_##name##_avx512
void norm_stats_avx512(const tg_norm_view *v, const tg_real *x, double *mean, double *var);
void norm_forward_avx512(const tg_norm_view *v, const tg_real *x, const double *mean, const double *rstd,
                         const tg_real *gamma, const tg_real *beta, tg_real *y);
void norm_backward_avx512(const tg_norm_view *v, const tg_real *x, const tg_real *dy, const double *mean,
                          const double *rstd, const tg_real *gamma, bool batch_stats, tg_real *dx, tg_real *dgamma,
                          tg_real *dbeta, double *scratch);
#include "norm_impl.h"
#else
typedef int tg_norm_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
