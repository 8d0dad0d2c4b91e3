/* ops/kernels/vec_avx512.h — the AVX-512 vector vocabulary the direct kernels' files share
 * (conv_direct_avx512.c, conv_lanes_avx512.c): VLEN lanes of tg_real (16 floats / 8 doubles),
 * mask registers, masked and plain loads and stores, gathers, two-source permutes. Included only
 * inside `#if defined(__x86_64__) && defined(__AVX512F__)`, after <immintrin.h>.
 */
#ifndef TG_KERNEL_VEC_AVX512_H
#define TG_KERNEL_VEC_AVX512_H

#ifdef TG_REAL_DOUBLE
#define VLEN 8
typedef __m512d vec;
typedef __m256i vidx; /* 8 int32 gather indices */
typedef unsigned vmask;
#define vzero() _mm512_setzero_pd()
#define vset1(x) _mm512_set1_pd(x)
#define vloadz(m, p) _mm512_maskz_loadu_pd((__mmask8)(m), (p))
#define vstorem(p, m, v) _mm512_mask_storeu_pd((p), (__mmask8)(m), (v))
#define vfma(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define vadd(a, b) _mm512_add_pd((a), (b))
#define vhsum(v) _mm512_reduce_add_pd(v)
#define vramp(s) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(s)))
#define vgather(m, base, ramp, p) \
    _mm512_mask_i32gather_pd(vzero(), (__mmask8)(m), _mm256_add_epi32(_mm256_set1_epi32((int)(base)), (ramp)), (p), 8)
#define veven(a, b) _mm512_permutex2var_pd((a), _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), (b))
#define vinterleave_lo(a, b) _mm512_permutex2var_pd((a), _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), (b))
#define vinterleave_hi(a, b) _mm512_permutex2var_pd((a), _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), (b))
#define VLEN_LOG2 3
typedef int64_t perm_lane; /* a two-source permute's lane index */
#define vload(p) _mm512_loadu_pd(p)
#define vstore(p, v) _mm512_storeu_pd((p), (v))
#define vperm2(a, i, b) _mm512_permutex2var_pd((a), (i), (b))
#else
#define VLEN 16
typedef __m512 vec;
typedef __m512i vidx;
typedef unsigned vmask;
#define vzero() _mm512_setzero_ps()
#define vset1(x) _mm512_set1_ps(x)
#define vloadz(m, p) _mm512_maskz_loadu_ps((__mmask16)(m), (p))
#define vstorem(p, m, v) _mm512_mask_storeu_ps((p), (__mmask16)(m), (v))
#define vfma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm512_add_ps((a), (b))
#define vhsum(v) _mm512_reduce_add_ps(v)
#define vramp(s) \
    _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)(s)))
#define vgather(m, base, ramp, p) \
    _mm512_mask_i32gather_ps(vzero(), (__mmask16)(m), _mm512_add_epi32(_mm512_set1_epi32((int)(base)), (ramp)), (p), 4)
#define veven(a, b) \
    _mm512_permutex2var_ps((a), _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), (b))
#define vinterleave_lo(a, b) \
    _mm512_permutex2var_ps((a), _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), (b))
#define vinterleave_hi(a, b) \
    _mm512_permutex2var_ps((a), _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), (b))
#define VLEN_LOG2 4
typedef int32_t perm_lane;
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps((p), (v))
#define vperm2(a, i, b) _mm512_permutex2var_ps((a), (i), (b))
#endif

/* The lane mask of bits [lo, hi). */
static vmask lane_mask(int64_t lo, int64_t hi)
{
    return hi <= lo ? 0 : (vmask)(((1ull << hi) - 1) & ~((1ull << lo) - 1));
}

#endif
