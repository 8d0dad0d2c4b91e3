/* ops/kernels/gemm_internal.h — what gemm.c needs from the micro-kernel files (not public).
 *
 * A micro-kernel computes one MR x NR tile of C from packed panels:
 *   C[0:MR, 0:NR] = alpha * sum_p pa[p*MR + i] * pb[p*NR + j]  (+ beta * C when beta != 0)
 * pa is a kc x MR panel of op(A) (MR values per k step), pb a kc x NR panel of op(B) (NR values
 * per k step, 64-byte aligned). With beta == 0, C is only written (NaNs in C never propagate).
 * ep (NULL: none) is applied to the tile's values before they are stored, its bias already
 * offset to the tile's first row (tg_gemm_epilogue).
 * Each kernel comes in MR variants: run[r - 1] reads the same MR-strided A panel but computes and
 * writes only the first r rows of the tile (the last, partial row panel of C), and run_narrow[r - 1]
 * only the first NR/2 columns of those (a last column panel at most half full).
 * Each micro-kernel file is compiled in both precisions and provides the kernel for tg_real.
 */
#ifndef TG_GEMM_INTERNAL_H
#define TG_GEMM_INTERNAL_H

#include <stdint.h>

#include "../../graph/tensor.h"
#include "gemm.h"

typedef void (*tg_gemm_ukernel_fn)(int64_t kc, const tg_real *pa, const tg_real *pb, tg_real *c,
                                   int64_t ldc, tg_real alpha, tg_real beta, const tg_gemm_epilogue *ep);

/* The micro-kernel reading B in place (tg_gemm_b_in_place): B's row p is NR contiguous values at
 * pb + ((off + p) / seg_len) * seg_stride + ((off + p) % seg_len) * step. */
typedef void (*tg_gemm_in_place_fn)(int64_t kc, const tg_real *pa, const tg_real *pb, int64_t off, int64_t seg_len,
                                    int64_t seg_stride, int64_t step, tg_real *c, int64_t ldc, tg_real alpha,
                                    tg_real beta, const tg_gemm_epilogue *ep);

/* Transposing pack: dst[p * width + r] = src[r * ld + p] for r < lines, p < kc, and zero for
 * lines <= r < width (lines <= width). Packs the operands whose MR (NR) values of one k step are
 * ld apart: A untransposed and B transposed. */
typedef void (*tg_gemm_pack_t_fn)(const tg_real *src, int64_t ld, int64_t lines, int64_t kc, int width,
                                  tg_real *dst);
/* Row pack of one whole panel: dst[p * nr + j] = src[p * ld + j] for p < kc, j < nr (B untransposed,
 * its NR values of one k step contiguous). */
typedef void (*tg_gemm_pack_rows_fn)(const tg_real *src, int64_t ld, int64_t kc, tg_real *dst);

typedef struct tg_gemm_kernel {
    const char *name;      /* "avx512", "avx2", "portable" */
    int mr, nr;            /* tile shape */
    int kc, mc, nc;        /* cache blocks: kc x nr panel of B in L1, mc x kc of A in L2, kc x nc of B in L3 */
    const tg_gemm_ukernel_fn *run; /* run[r - 1]: the first r rows of the tile; run[mr - 1]: all */
    const tg_gemm_ukernel_fn *run_narrow; /* the same for the first nr/2 columns only */
    const tg_gemm_in_place_fn *run_in_place; /* the same reading B in place */
    tg_gemm_pack_t_fn pack_t;      /* SIMD transposing pack, or NULL for gemm.c's plain loops */
    tg_gemm_pack_rows_fn pack_rows; /* SIMD whole-panel row copy, or NULL (gemm.c's memcpy) */
} tg_gemm_kernel;

/* Up to this many rows of C, B's whole panels are read from its rows (tg_gemm_in_place_fn) instead
 * of packed: a packed value then feeds only M multiply-adds, too few to pay for its copy. Measured
 * 5 Dec on Zen 5, one thread, 64 products each (M x K x N): 16x64x784 0.66 -> 0.45 ms, 32x64x784
 * 1.09 -> 0.87, 32x288x512 1.74 -> 1.26, 64x256x196 2.00 -> 1.83, 64x64x784 tied; from 96 rows
 * (96x64x784 2.98 -> 3.14, 128x64x784 4.03 -> 4.22) the packed panel, reused by more row panels,
 * was ahead. Same products in the same order: the same bits either way. */
#define TG_GEMM_B_ROWS_DIRECT_MAX_M 64

/* Largest tile of any kernel: sizes the edge-tile scratch. */
#define TG_GEMM_MAX_MR 16
#define TG_GEMM_MAX_NR 32

extern const tg_gemm_kernel tg_gemm_kernel_portable;
#if defined(__x86_64__)
extern const tg_gemm_kernel tg_gemm_kernel_avx2;
extern const tg_gemm_kernel tg_gemm_kernel_avx512;
#endif

#endif
