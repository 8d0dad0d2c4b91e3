/* ops/kernels/gemm_avx2.c — AVX2+FMA micro-kernels (built with -mavx2 -mfma on x86-64 only; gemm.c
 * calls them only when the CPU reports AVX2 and FMA). float: 6 x 16 tile, double: 6 x 8 tile;
 * 12 ymm accumulators, 2 B vectors, 1 broadcast. */
#include "gemm_internal.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define UK_NAME ukernel_avx2
#define UK_MR 6
#define UK_NV 2
#ifdef TG_REAL_DOUBLE
#define UK_VLEN 4
#define UK_VEC __m256d
#define UK_ZERO() _mm256_setzero_pd()
#define UK_SET1(x) _mm256_set1_pd(x)
#define UK_LOAD(p) _mm256_load_pd(p)
#define UK_LOADU(p) _mm256_loadu_pd(p)
#define UK_STOREU(p, v) _mm256_storeu_pd((p), (v))
#define UK_FMA(a, b, acc) _mm256_fmadd_pd((a), (b), (acc))
#define UK_MUL(a, b) _mm256_mul_pd((a), (b))
#define UK_ADD(a, b) _mm256_add_pd((a), (b))
#define UK_RELU(x) _mm256_blendv_pd((x), _mm256_setzero_pd(), _mm256_cmp_pd((x), _mm256_setzero_pd(), _CMP_LE_OQ))
#define UK_LEAKY(x, s) _mm256_blendv_pd(_mm256_mul_pd((s), (x)), (x), _mm256_cmp_pd((x), _mm256_setzero_pd(), _CMP_GT_OQ))
#else
#define UK_VLEN 8
#define UK_VEC __m256
#define UK_ZERO() _mm256_setzero_ps()
#define UK_SET1(x) _mm256_set1_ps(x)
#define UK_LOAD(p) _mm256_load_ps(p)
#define UK_LOADU(p) _mm256_loadu_ps(p)
#define UK_STOREU(p, v) _mm256_storeu_ps((p), (v))
#define UK_FMA(a, b, acc) _mm256_fmadd_ps((a), (b), (acc))
#define UK_MUL(a, b) _mm256_mul_ps((a), (b))
#define UK_ADD(a, b) _mm256_add_ps((a), (b))
#define UK_RELU(x) _mm256_blendv_ps((x), _mm256_setzero_ps(), _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_LE_OQ))
#define UK_LEAKY(x, s) _mm256_blendv_ps(_mm256_mul_ps((s), (x)), (x), _mm256_cmp_ps((x), _mm256_setzero_ps(), _CMP_GT_OQ))
#endif
#include "gemm_ukernel_template.h"

const tg_gemm_kernel tg_gemm_kernel_avx2 = {
    .name = "avx2", .mr = UK_MR, .nr = UK_NV * UK_VLEN, .kc = 256, .mc = 144, .nc = 4096,
    .run = ukernel_avx2, .run_narrow = ukernel_avx2_narrow, .run_in_place = ukernel_avx2_in_place};
#else
typedef int tg_gemm_avx2_unavailable; /* keeps the translation unit non-empty */
#endif
