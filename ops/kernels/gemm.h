/* ops/kernels/gemm.h — the one matrix multiply behind matmul, linear and convolution.
 *
 * C = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or X^T. op(A) is m x k, op(B) is
 * k x n, C is m x n; lda/ldb/ldc are row strides in elements. beta == 0 overwrites C (NaNs in
 * C are not propagated). Kernels never allocate per call: packing buffers are sized once per
 * thread. The micro-kernel is chosen at run time (AVX-512, AVX2+FMA, portable C).
 *
 *   tg_gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n);   // C = A * B^T
 */
#ifndef TG_GEMM_H
#define TG_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "../../graph/tensor.h"

void tg_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
             const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta, tg_real *c,
             int64_t ldc);

/* The straightforward triple loop, for tests to compare against. */
void tg_gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
                       const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta,
                       tg_real *c, int64_t ldc);

/* Name of the micro-kernel in use ("avx512", "avx2", "portable"). */
const char *tg_gemm_kernel_name(void);

/* Forces a micro-kernel by name ("portable", "avx2", "avx512"; NULL = the best this CPU runs) for
 * every later call, process-wide. Returns 0, or -1 (nothing changed) when the name is unknown or
 * the CPU cannot run it. The environment variable TG_GEMM_KERNEL does the same at first use. */
int tg_gemm_set_kernel(const char *name);

#endif
