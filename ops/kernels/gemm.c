/* ops/kernels/gemm.c — placeholder: the reference loop until the blocked kernel lands. */
#include "gemm.h"

void tg_gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
                       const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta,
                       tg_real *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < k; p++) {
                tg_real x = trans_a ? a[p * lda + i] : a[i * lda + p];
                tg_real y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                acc += (double)x * y;
            }
            c[i * ldc + j] = (tg_real)(alpha * acc + (beta == 0 ? 0 : beta * c[i * ldc + j]));
        }
}

void tg_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
             const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta, tg_real *c,
             int64_t ldc)
{
    tg_gemm_reference(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *tg_gemm_kernel_name(void) { return "reference"; }
