/* ops/kernels/gemm_avx512.c — AVX-512 micro-kernels (built with -mavx512f on x86-64 only; gemm.c
 * calls them only when the CPU reports AVX-512F). float: 12 x 32 tile, double: 12 x 16 tile;
 * 24 zmm accumulators, 2 B vectors, broadcasts folded into the FMAs. */
#include "gemm_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#define UK_NAME ukernel_avx512
#define UK_MR 12
#define UK_NV 2
#ifdef TG_REAL_DOUBLE
#define UK_VLEN 8
#define UK_VEC __m512d
#define UK_ZERO() _mm512_setzero_pd()
#define UK_SET1(x) _mm512_set1_pd(x)
#define UK_LOAD(p) _mm512_load_pd(p)
#define UK_LOADU(p) _mm512_loadu_pd(p)
#define UK_STOREU(p, v) _mm512_storeu_pd((p), (v))
#define UK_FMA(a, b, acc) _mm512_fmadd_pd((a), (b), (acc))
#define UK_MUL(a, b) _mm512_mul_pd((a), (b))
#else
#define UK_VLEN 16
#define UK_VEC __m512
#define UK_ZERO() _mm512_setzero_ps()
#define UK_SET1(x) _mm512_set1_ps(x)
#define UK_LOAD(p) _mm512_load_ps(p)
#define UK_LOADU(p) _mm512_loadu_ps(p)
#define UK_STOREU(p, v) _mm512_storeu_ps((p), (v))
#define UK_FMA(a, b, acc) _mm512_fmadd_ps((a), (b), (acc))
#define UK_MUL(a, b) _mm512_mul_ps((a), (b))
#endif
#include "gemm_ukernel_template.h"

const tg_gemm_kernel tg_gemm_kernel_avx512 = {
    .name = "avx512", .mr = UK_MR, .nr = UK_NV * UK_VLEN, .kc = 256, .mc = 192, .nc = 4096,
    .run = ukernel_avx512};
#else
typedef int tg_gemm_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
