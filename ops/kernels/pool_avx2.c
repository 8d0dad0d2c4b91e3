/* ops/kernels/pool_avx2.c — AVX2 max-pool runs (see pool_internal.h) for CPUs without AVX-512;
 * built with -mavx2 on x86-64 only and called only when the CPU reports AVX2.
 *
 * The AVX-512 kernel's scheme on 8 floats / 4 doubles, with vector masks for the lane choices:
 * each tap is one vector of inputs (stride 2: two loads deinterleaved, taps c and c+1 sharing
 * them); the running maximum and the tap offset of its position stay in registers; masked loads
 * only at the end of a plane, masked stores only in rows shorter than a vector (a ragged row end
 * is redone as the row's last full vector).
 */
#include "pool_internal.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

#ifdef TG_REAL_DOUBLE
#define VLEN 4
typedef __m256d vec;
#define vcast_i(v) _mm256_castpd_si256(v)
#define vcast_v(i) _mm256_castsi256_pd(i)
#define vzero() _mm256_setzero_pd()
#define vload(p) _mm256_loadu_pd(p)
#define vload_masked(m, p) _mm256_maskload_pd((p), (m))
#define vstore(p, v) _mm256_storeu_pd((p), (v))
#define vstorem(p, m, v) _mm256_maskstore_pd((p), (m), (v))
#define vtakemask(v, best) \
    _mm256_or_pd(_mm256_cmp_pd((v), (best), _CMP_GT_OQ), _mm256_cmp_pd((v), (v), _CMP_UNORD_Q))
#define vblend(old, new, m) _mm256_blendv_pd((old), (new), (m))
/* [a0 a1 a2 a3] [b0 b1 b2 b3] -> [a0 a2 b0 b2] and [a1 a3 b1 b3] */
#define veven(a, b) _mm256_permute4x64_pd(_mm256_unpacklo_pd((a), (b)), _MM_SHUFFLE(3, 1, 2, 0))
#define vodd(a, b) _mm256_permute4x64_pd(_mm256_unpackhi_pd((a), (b)), _MM_SHUFFLE(3, 1, 2, 0))
/* tap offsets: one int64 lane per output */
#define oset1(x) _mm256_castsi256_pd(_mm256_set1_epi64x(x))
#define lane_ramp() _mm256_setr_epi64x(0, 1, 2, 3)
#define lane_lt(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), lane_ramp())
typedef __m128i gidx;
#define vstride_index(s) _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32((int)(s)))
#define vgather(p, ix) _mm256_i32gather_pd((p), (ix), 8)
#define vgather_masked(m, p, ix) _mm256_mask_i32gather_pd(_mm256_setzero_pd(), (p), (ix), _mm256_castsi256_pd(m), 8)
#else
#define VLEN 8
typedef __m256 vec;
#define vcast_i(v) _mm256_castps_si256(v)
#define vcast_v(i) _mm256_castsi256_ps(i)
#define vzero() _mm256_setzero_ps()
#define vload(p) _mm256_loadu_ps(p)
#define vload_masked(m, p) _mm256_maskload_ps((p), (m))
#define vstore(p, v) _mm256_storeu_ps((p), (v))
#define vstorem(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define vtakemask(v, best) \
    _mm256_or_ps(_mm256_cmp_ps((v), (best), _CMP_GT_OQ), _mm256_cmp_ps((v), (v), _CMP_UNORD_Q))
#define vblend(old, new, m) _mm256_blendv_ps((old), (new), (m))
/* shuffle_ps picks within 128-bit halves: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute then
 * puts the pairs in order: [a0 a2 a4 a6 b0 b2 b4 b6] */
#define vpairs(x) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(x), _MM_SHUFFLE(3, 1, 2, 0)))
#define veven(a, b) vpairs(_mm256_shuffle_ps((a), (b), _MM_SHUFFLE(2, 0, 2, 0)))
#define vodd(a, b) vpairs(_mm256_shuffle_ps((a), (b), _MM_SHUFFLE(3, 1, 3, 1)))
/* tap offsets: one int32 lane per output */
#define oset1(x) _mm256_castsi256_ps(_mm256_set1_epi32(x))
#define lane_ramp() _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define lane_lt(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), lane_ramp())
typedef __m256i gidx;
#define vstride_index(s) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(s)))
#define vgather(p, ix) _mm256_i32gather_ps((p), (ix), 4)
#define vgather_masked(m, p, ix) _mm256_mask_i32gather_ps(_mm256_setzero_ps(), (p), (ix), _mm256_castsi256_ps(m), 4)
#endif

/* Lane mask of the first n lanes (n may be <= 0 or >= VLEN). */
typedef __m256i vmask;
static inline vmask lanes(int64_t n) { return lane_lt(n < 0 ? 0 : n > VLEN ? VLEN : n); }
typedef vec offv; /* tap offsets ride in a vector of the same width, blended by the same mask */
#define off_zero() vzero()

/* Strictly greater replaces, a NaN always replaces: the general kernel's rule. The offsets ride
 * in a vector of the same width, blended by the same mask. */
#define CONSIDER(v, t)                                              \
    do {                                                            \
        const vec take_ = vtakemask((v), best);                     \
        best = vblend(best, (v), take_);                            \
        off = vblend(off, oset1(run->tap_off[(t)]), take_);         \
    } while (0)

static inline __attribute__((always_inline)) void store_outputs(const tg_pool_max_run *run, const out_row *row,
                                                               int64_t o, int64_t n, vec best, vec off)
{
    if (!row->idx) {
        if (n == VLEN) vstore(row->y + o, best);
        else vstorem(row->y + o, lanes(n), best);
        return;
    }
    const int64_t s = run->stride;
    const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(row->first + o * s), _mm256_setr_epi64x(0, s, 2 * s, 3 * s));
#ifdef TG_REAL_DOUBLE
    const __m256i idx = _mm256_add_epi64(base, vcast_i(off));
    if (n == VLEN) {
        vstore(row->y + o, best);
        _mm256_storeu_si256((__m256i *)(row->idx + o), idx);
    } else {
        vstorem(row->y + o, lanes(n), best);
        _mm256_maskstore_epi64((long long *)(row->idx + o), lanes(n), idx);
    }
#else
    const __m256i o32 = vcast_i(off);
    const __m256i lo = _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(o32)));
    const __m256i hi = _mm256_add_epi64(_mm256_add_epi64(base, _mm256_set1_epi64x(4 * s)),
                                        _mm256_cvtepi32_epi64(_mm256_extracti128_si256(o32, 1)));
    if (n == VLEN) {
        vstore(row->y + o, best);
        _mm256_storeu_si256((__m256i *)(row->idx + o), lo);
        _mm256_storeu_si256((__m256i *)(row->idx + o + 4), hi);
    } else {
        vstorem(row->y + o, lanes(n), best);
        /* 64-bit lanes: lane i of the 32-bit mask widened */
        const __m256i m = lanes(n);
        _mm256_maskstore_epi64((long long *)(row->idx + o), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)), lo);
        _mm256_maskstore_epi64((long long *)(row->idx + o + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)), hi);
    }
#endif
}

#define POOL_MAX_RUN_FN tg_pool_max_run_avx2
#include "pool_max_template.h"
#define MAX_WHOLE_BYTES 32
#define MAX_WHOLE_FN tg_pool_max_whole_avx2
#include "pool_whole_max.h"
#else
typedef int tg_pool_avx2_unavailable; /* keeps the translation unit non-empty */
#endif
