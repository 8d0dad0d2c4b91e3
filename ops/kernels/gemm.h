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

/* B given by a function that packs it (implicit im2col: the matrix is never stored). It writes
 * B[p0:p0+kc, j0:j0+nc] as ceil(nc/nr) panels one after another, each kc rows of nr values
 * (columns past nc zero): dst[(j / nr) * kc * nr + p * nr + j % nr] = B[p0 + p, j0 + j]. It may be
 * called from several threads at once (disjoint blocks) and must write nothing else. */
typedef void (*tg_gemm_pack_b_fn)(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                  tg_real *dst);
/* C = alpha * op(A) * B + beta * C with B (k x n) from pack_b; otherwise as tg_gemm (same blocking,
 * threads and bit-identical results for any thread count). */
void tg_gemm_packed_b(bool trans_a, int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *a, int64_t lda,
                      tg_gemm_pack_b_fn pack_b, const void *ctx, tg_real beta, tg_real *c, int64_t ldc);
/* A packed once for many products with the same A (a convolution's filter, image after image):
 * tg_gemm_pack_a writes op(A) (m x k) into dst (tg_gemm_packed_a_size elements) in the panels the
 * blocked nest reads, and tg_gemm_prepacked computes C = alpha * A * B + beta * C from it without
 * packing A again, B being either b (k x n, rows ldb apart) or, when b is NULL, pack_b's panels.
 * Results are bit-identical to tg_gemm / tg_gemm_packed_b. The layout belongs to the micro-kernel
 * in use: pack and multiply with no tg_gemm_set_kernel in between. */
int64_t tg_gemm_packed_a_size(int64_t m, int64_t k);
void tg_gemm_pack_a(bool trans_a, int64_t m, int64_t k, const tg_real *a, int64_t lda, tg_real *dst);
void tg_gemm_prepacked(int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *packed_a, const tg_real *b,
                       int64_t ldb, tg_gemm_pack_b_fn pack_b, const void *ctx, tg_real beta, tg_real *c, int64_t ldc);
/* What a product applies to C's values as they are finished (after the last block of K, while the
 * tile is in registers): C[i, j] = f(C[i, j] + bias[i]) (no bias: NULL), f the identity, ReLU
 * (c <= 0 ? 0 : c) or leaky ReLU (c > 0 ? c : slope * c) — bit for bit the elementwise kernels'
 * bias_unary (elementwise.h) on the stored product: a convolution's bias and the activation after
 * it without a pass of their own over the output. */
typedef enum tg_gemm_act { TG_GEMM_ACT_NONE, TG_GEMM_ACT_RELU, TG_GEMM_ACT_LEAKY_RELU } tg_gemm_act;
typedef struct tg_gemm_epilogue {
    const tg_real *bias; /* [m], or NULL */
    tg_gemm_act act;
    tg_real slope; /* leaky ReLU's */
} tg_gemm_epilogue;
/* tg_gemm_prepacked with an epilogue (NULL: none, as tg_gemm_prepacked). */
void tg_gemm_prepacked_epilogue(int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *packed_a,
                                const tg_real *b, int64_t ldb, tg_gemm_pack_b_fn pack_b, const void *ctx,
                                tg_real beta, tg_real *c, int64_t ldc, const tg_gemm_epilogue *ep);
/* B read where it lies instead of packed: each panel of NR columns (NR = tg_gemm_col_panel())
 * starting at column j (a multiple of NR) has its row p at panel(ctx, j) + (p / seg_len) *
 * seg_stride + (p % seg_len) * row_stride, NR contiguous values (e.g. a convolution's channel-
 * blocked input: seg_len output columns per output row). */
typedef struct tg_gemm_b_in_place {
    const tg_real *(*panel)(const void *ctx, int64_t j);
    const void *ctx;
    int64_t seg_len, seg_stride, row_stride;
} tg_gemm_b_in_place;
/* C = alpha * A * B + beta * C with A from tg_gemm_pack_a and B in place; n a multiple of
 * tg_gemm_col_panel(). Same threads and bit-identical results for any thread count. */
void tg_gemm_prepacked_in_place(int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *packed_a,
                                const tg_gemm_b_in_place *b, tg_real beta, tg_real *c, int64_t ldc);
/* Columns per panel of the micro-kernel in use (NR). */
int tg_gemm_col_panel(void);
/* For packing functions: dst[p * width + r] = src[r * ld + p] for r < lines, p < kc, zero for
 * lines <= r < width (the micro-kernel's SIMD transpose when it has one). */
void tg_gemm_pack_transposed(const tg_real *src, int64_t ld, int64_t lines, int64_t kc, int width, tg_real *dst);

/* The straightforward triple loop, for tests to compare against. */
void tg_gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
                       const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta,
                       tg_real *c, int64_t ldc);

/* Name of the micro-kernel in use ("avx512", "avx2", "portable"). */
const char *tg_gemm_kernel_name(void);
/* Allocates the calling thread's packing buffers now, if it has none big enough; false when out of
 * memory. tg_op_apply calls it before every forward so that an allocation failure is an op's
 * error: a GEMM that finds no buffers still computes, by unpacked loops, but those round
 * differently (the same values, other bits). Kernel threads get theirs on first use. */
bool tg_gemm_reserve_thread(void);

/* Forces a micro-kernel by name ("portable", "avx2", "avx512"; NULL = the best this CPU runs) for
 * every later call, process-wide. Returns 0, or -1 (nothing changed) when the name is unknown or
 * the CPU cannot run it. The environment variable TG_GEMM_KERNEL does the same at first use. */
int tg_gemm_set_kernel(const char *name);

#endif
