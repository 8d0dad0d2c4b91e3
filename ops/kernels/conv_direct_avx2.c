/* ops/kernels/conv_direct_avx2.c — AVX2+FMA plane kernels of the direct convolution (built with
 * -mavx2 -mfma on x86-64 only; conv_direct.c calls them only when the CPU reports AVX2 and FMA),
 * for CPUs without AVX-512. The kernels are conv_direct_template.h over 8 floats / 4 doubles;
 * lane masks are vectors (AVX2 has no mask registers) and blocks have 4 output rows, so the
 * accumulators and the 9 weights of a 3x3 kernel fit the 16 registers.
 */
#include "conv_direct_internal.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define ROWS 4

#ifdef TG_REAL_DOUBLE
#define VLEN 4
typedef __m256d vec;
typedef __m128i vidx;  /* 4 int32 gather indices */
typedef __m256i vmask; /* all-ones 64-bit lanes where set */
static vmask lane_mask(int64_t lo, int64_t hi)
{
    const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_and_si256(_mm256_cmpgt_epi64(lane, _mm256_set1_epi64x(lo - 1)),
                            _mm256_cmpgt_epi64(_mm256_set1_epi64x(hi), lane));
}
static inline double vhsum(vec v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#define vzero() _mm256_setzero_pd()
#define vset1(x) _mm256_set1_pd(x)
#define vloadz(m, p) _mm256_maskload_pd((p), (m))
#define vstorem(p, m, v) _mm256_maskstore_pd((p), (m), (v))
#define vfma(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define vadd(a, b) _mm256_add_pd((a), (b))
#define vramp(s) _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32((int)(s)))
#define vgather(m, base, ramp, p) \
    _mm256_mask_i32gather_pd(vzero(), (p), _mm_add_epi32(_mm_set1_epi32((int)(base)), (ramp)), _mm256_castsi256_pd(m), 8)
/* [a0 b0 a2 b2] -> [a0 a2 b0 b2] */
#define veven(a, b) _mm256_permute4x64_pd(_mm256_unpacklo_pd((a), (b)), _MM_SHUFFLE(3, 1, 2, 0))
/* [a0 b0 | a2 b2] and [a1 b1 | a3 b3] -> [a0 b0 a1 b1], [a2 b2 a3 b3] */
#define vinterleave_lo(a, b) _mm256_permute2f128_pd(_mm256_unpacklo_pd((a), (b)), _mm256_unpackhi_pd((a), (b)), 0x20)
#define vinterleave_hi(a, b) _mm256_permute2f128_pd(_mm256_unpacklo_pd((a), (b)), _mm256_unpackhi_pd((a), (b)), 0x31)
#else
#define VLEN 8
typedef __m256 vec;
typedef __m256i vidx;
typedef __m256i vmask; /* all-ones 32-bit lanes where set */
static vmask lane_mask(int64_t lo, int64_t hi)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lane));
}
static inline float vhsum(vec v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
#define vzero() _mm256_setzero_ps()
#define vset1(x) _mm256_set1_ps(x)
#define vloadz(m, p) _mm256_maskload_ps((p), (m))
#define vstorem(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define vfma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm256_add_ps((a), (b))
#define vramp(s) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(s)))
#define vgather(m, base, ramp, p) \
    _mm256_mask_i32gather_ps(vzero(), (p), _mm256_add_epi32(_mm256_set1_epi32((int)(base)), (ramp)), _mm256_castsi256_ps(m), 4)
/* per 128-bit half [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs reordered */
#define veven(a, b)                                                                                              \
    _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps((a), (b), _MM_SHUFFLE(2, 0, 2, 0))), \
                                           _MM_SHUFFLE(3, 1, 2, 0)))
/* [a0 b0 a1 b1 | a4 b4 a5 b5] and [a2 b2 a3 b3 | a6 b6 a7 b7] -> the low and high halves in order */
#define vinterleave_lo(a, b) _mm256_permute2f128_ps(_mm256_unpacklo_ps((a), (b)), _mm256_unpackhi_ps((a), (b)), 0x20)
#define vinterleave_hi(a, b) _mm256_permute2f128_ps(_mm256_unpacklo_ps((a), (b)), _mm256_unpackhi_ps((a), (b)), 0x31)
#endif

#include "conv_direct_template.h"

const tg_conv_direct_kernel tg_conv_direct_kernel_avx2 = {
    .name = "avx2", .plane = plane_simd, .plane_dw = plane_dw_simd, .plane_adjoint = plane_adjoint_simd,
    .planes = planes_simd};
#else
typedef int tg_conv_direct_avx2_unavailable; /* keeps the translation unit non-empty */
#endif
