/* ops/kernels/pool_avx512.c — AVX-512 max-pool runs (see pool_internal.h; built with -mavx512f on
 * x86-64 only, called only when the CPU reports AVX-512F, and only F instructions are used).
 *
 * One vector of outputs at a time: each tap is one vector of inputs — a plain load for stride 1;
 * for stride 2 two loads deinterleaved by one permute (neighbouring taps c, c+1 share the loads as
 * the even and odd lanes). Loads are plain while they stay inside the plane, and masked to the
 * positions the outputs need at the plane's end, so no scalar tail is needed and nothing outside
 * the plane is read; stores are masked to the row's outputs. The running maximum and the tap
 * offset of its position stay in registers; the flat index is formed once per output when the
 * vector is stored.
 */
#include "pool_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#ifdef TG_REAL_DOUBLE
#define VLEN 8
typedef __m512d vec;
typedef __mmask8 vmask;
#define vzero() _mm512_setzero_pd()
#define vload(p) _mm512_loadu_pd(p)
#define vload_masked(m, p) _mm512_maskz_loadu_pd((m), (p))
#define vstorem(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define vgreater(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#define visnan(a) _mm512_cmp_pd_mask((a), (a), _CMP_UNORD_Q)
#define vtake(m, old, new) _mm512_mask_mov_pd((old), (m), (new))
#define veven(a, b) _mm512_permutex2var_pd((a), _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), (b))
#define vodd(a, b) _mm512_permutex2var_pd((a), _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), (b))
/* tap offsets: one int64 lane per output */
#define otake(m, old, off) _mm512_mask_mov_epi64((old), (m), _mm512_set1_epi64(off))
typedef __m256i gidx;
#define vstride_index(s) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(s)))
#define vgather(p, ix) _mm512_i32gather_pd((ix), (p), 8)
#define vgather_masked(m, p, ix) _mm512_mask_i32gather_pd(_mm512_setzero_pd(), (m), (ix), (p), 8)
#else
#define VLEN 16
typedef __m512 vec;
typedef __mmask16 vmask;
#define vzero() _mm512_setzero_ps()
#define vload(p) _mm512_loadu_ps(p)
#define vload_masked(m, p) _mm512_maskz_loadu_ps((m), (p))
#define vstorem(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define vgreater(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define visnan(a) _mm512_cmp_ps_mask((a), (a), _CMP_UNORD_Q)
#define vtake(m, old, new) _mm512_mask_mov_ps((old), (m), (new))
#define veven(a, b) \
    _mm512_permutex2var_ps((a), _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), (b))
#define vodd(a, b) \
    _mm512_permutex2var_ps((a), _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), (b))
/* tap offsets: one int32 lane per output */
#define otake(m, old, off) _mm512_mask_mov_epi32((old), (m), _mm512_set1_epi32(off))
typedef __m512i gidx;
#define vstride_index(s) \
    _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)(s)))
#define vgather(p, ix) _mm512_i32gather_ps((ix), (p), 4)
#define vgather_masked(m, p, ix) _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (m), (ix), (p), 4)
#endif

typedef __m512i offv; /* tap offsets of the running maxima */
#define off_zero() _mm512_setzero_si512()

/* The first n lanes (n may be <= 0 or >= VLEN). */
static inline vmask lanes(int64_t n)
{
    return n <= 0 ? (vmask)0 : n >= VLEN ? (vmask)~(vmask)0 : (vmask)((1u << n) - 1);
}

/* Strictly greater replaces, a NaN always replaces: the general kernel's rule. */
#define CONSIDER(v, t)                                                     \
    do {                                                                   \
        const vmask take_ = vgreater((v), best) | visnan(v);               \
        best = vtake(take_, best, (v));                                    \
        off = otake(take_, off, run->tap_off[(t)]);                        \
    } while (0)

/* Writes n outputs (n <= VLEN) from output o: the maxima and first + o*stride + their offsets. */
static inline __attribute__((always_inline)) void store_outputs(const tg_pool_max_run *run, const out_row *row,
                                                               int64_t o, int64_t n, vec best, __m512i off)
{
    vstorem(row->y + o, lanes(n), best);
    if (!row->idx) return;
    const int64_t s = run->stride;
    const __m512i base = _mm512_add_epi64(_mm512_set1_epi64(row->first + o * s),
                                          _mm512_setr_epi64(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s));
#ifdef TG_REAL_DOUBLE
    _mm512_mask_storeu_epi64(row->idx + o, (__mmask8)lanes(n), _mm512_add_epi64(base, off));
#else
    const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(off));
    const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1));
    _mm512_mask_storeu_epi64(row->idx + o, (__mmask8)lanes(n), _mm512_add_epi64(base, lo));
    _mm512_mask_storeu_epi64(row->idx + o + 8, (__mmask8)lanes(n - 8),
                             _mm512_add_epi64(_mm512_add_epi64(base, _mm512_set1_epi64(8 * s)), hi));
#endif
}

#define POOL_MAX_RUN_FN tg_pool_max_run_avx512
#include "pool_max_template.h"
#define MAX_WHOLE_BYTES 64
#define MAX_WHOLE_FN tg_pool_max_whole_avx512
#include "pool_whole_max.h"
#else
typedef int tg_pool_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
