/* ops/kernels/im2col_avx512.c — the strided col2im's split-phase loops (col2im_split_impl.h)
 * built with AVX-512 (x86-64 only; im2col.c calls them only when the CPU reports AVX-512F). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the row loops must vectorise */
#endif
#include "im2col.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#define SPLIT_FN(name) split_##name##_avx512
#define SPLIT_SIMD
void split_col2im_add_split_avx512(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx_split);
void split_phase_rows_add_avx512(tg_real *dx, int64_t width, int64_t stride, const tg_real *const *rows);
void split_phase_rows_split_avx512(const tg_real *src, int64_t n, int64_t lead, int64_t stride, int64_t count,
                                   tg_real *const *rows);

#ifdef TG_REAL_DOUBLE
#define V_LEN 8
#define V_T __m512d
#define V_MASK __mmask8
#define V_LOADU _mm512_loadu_pd
#define V_STOREU _mm512_storeu_pd
#define V_MASKZ_LOADU _mm512_maskz_loadu_pd
#define V_MASK_STOREU _mm512_mask_storeu_pd
#define V_ADD _mm512_add_pd
#define V_PERMUTE2 _mm512_permutex2var_pd
#define V_INTERLEAVE_LO _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11)
#define V_INTERLEAVE_HI _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15)
#define V_EVEN _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14)
#define V_ODD _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15)
#else
#define V_LEN 16
#define V_T __m512
#define V_MASK __mmask16
#define V_LOADU _mm512_loadu_ps
#define V_STOREU _mm512_storeu_ps
#define V_MASKZ_LOADU _mm512_maskz_loadu_ps
#define V_MASK_STOREU _mm512_mask_storeu_ps
#define V_ADD _mm512_add_ps
#define V_PERMUTE2 _mm512_permutex2var_ps
#define V_INTERLEAVE_LO _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define V_INTERLEAVE_HI _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define V_EVEN _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define V_ODD _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#endif

/* A mask of the first n lanes of one vector (all of them when n >= V_LEN, none when n <= 0). */
static inline V_MASK lanes(int64_t n) { return n <= 0 ? 0 : n >= V_LEN ? (V_MASK)~0u : (V_MASK)((1u << n) - 1); }

static inline void split_add_run_avx512(tg_real *restrict dst, const tg_real *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + V_LEN <= n; i += V_LEN) V_STOREU(dst + i, V_ADD(V_LOADU(dst + i), V_LOADU(src + i)));
    if (i < n) {
        V_MASK m = lanes(n - i);
        V_MASK_STOREU(dst + i, m, V_ADD(V_MASKZ_LOADU(m, dst + i), V_MASKZ_LOADU(m, src + i)));
    }
}

static inline void split_pair_split_avx512(const tg_real *restrict src, tg_real *restrict even, tg_real *restrict odd,
                                           int64_t pairs)
{
    const __m512i even_idx = V_EVEN, odd_idx = V_ODD;
    int64_t a = 0;
    for (; a + V_LEN <= pairs; a += V_LEN) {
        const V_T lo = V_LOADU(src + 2 * a), hi = V_LOADU(src + 2 * a + V_LEN);
        V_STOREU(even + a, V_PERMUTE2(lo, even_idx, hi));
        V_STOREU(odd + a, V_PERMUTE2(lo, odd_idx, hi));
    }
    if (a < pairs) {
        const int64_t n = pairs - a;
        const V_T lo = V_MASKZ_LOADU(lanes(2 * n), src + 2 * a), hi = V_MASKZ_LOADU(lanes(2 * n - V_LEN), src + 2 * a + V_LEN);
        V_MASK_STOREU(even + a, lanes(n), V_PERMUTE2(lo, even_idx, hi));
        V_MASK_STOREU(odd + a, lanes(n), V_PERMUTE2(lo, odd_idx, hi));
    }
}

static inline void split_pair_add_avx512(tg_real *restrict dx, const tg_real *restrict even, const tg_real *restrict odd,
                                         int64_t pairs)
{
    const __m512i lo_idx = V_INTERLEAVE_LO, hi_idx = V_INTERLEAVE_HI;
    for (int64_t a = 0; a < pairs; a += V_LEN) {
        const int64_t n = pairs - a; /* pairs left: a whole vector of them when n >= V_LEN */
        V_T e, o;
        if (n >= V_LEN) {
            e = V_LOADU(even + a);
            o = V_LOADU(odd + a);
        } else {
            e = V_MASKZ_LOADU(lanes(n), even + a);
            o = V_MASKZ_LOADU(lanes(n), odd + a);
        }
        V_T lo = V_PERMUTE2(e, lo_idx, o), hi = V_PERMUTE2(e, hi_idx, o); /* e0 o0 e1 o1 ... */
        tg_real *d = dx + 2 * a;
        if (n >= V_LEN) {
            V_STOREU(d, V_ADD(V_LOADU(d), lo));
            V_STOREU(d + V_LEN, V_ADD(V_LOADU(d + V_LEN), hi));
        } else {
            V_MASK m_lo = lanes(2 * n), m_hi = lanes(2 * n - V_LEN);
            V_MASK_STOREU(d, m_lo, V_ADD(V_MASKZ_LOADU(m_lo, d), lo));
            if (m_hi) V_MASK_STOREU(d + V_LEN, m_hi, V_ADD(V_MASKZ_LOADU(m_hi, d + V_LEN), hi));
        }
    }
}

#include "col2im_split_impl.h"
#else
typedef int tg_im2col_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
