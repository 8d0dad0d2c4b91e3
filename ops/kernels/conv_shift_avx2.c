/* ops/kernels/conv_shift_avx2.c — AVX2+FMA inner loops of the shift convolution (built with
 * -mavx2 -mfma on x86-64 only; conv_shift.c calls them only when the CPU reports AVX2 and FMA), for
 * CPUs without AVX-512: conv_shift_template.h over 8 floats / 4 doubles. 16 registers: the forward
 * keeps 4 output channels x 3 vectors of sums (+ 3 input vectors and a broadcast tap), dW 2 x 5
 * (+ 2 dY vectors and an input vector). */
#include "conv_shift_internal.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#ifdef TG_REAL_DOUBLE
#define VLEN 4
typedef __m256d vec;
#define vzero() _mm256_setzero_pd()
#define vset1(x) _mm256_set1_pd(x)
#define vloadu(p) _mm256_loadu_pd(p)
#define vstoreu(p, v) _mm256_storeu_pd((p), (v))
#define vfma(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define vadd(a, b) _mm256_add_pd((a), (b))
#define lanes_below(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define vloadn(p, n) _mm256_maskload_pd((p), lanes_below(n))
#define vstoren(p, v, n) _mm256_maskstore_pd((p), lanes_below(n), (v))
static inline double vhsum(vec v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#else
#define VLEN 8
typedef __m256 vec;
#define vzero() _mm256_setzero_ps()
#define vset1(x) _mm256_set1_ps(x)
#define vloadu(p) _mm256_loadu_ps(p)
#define vstoreu(p, v) _mm256_storeu_ps((p), (v))
#define vfma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm256_add_ps((a), (b))
#define lanes_below(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define vloadn(p, n) _mm256_maskload_ps((p), lanes_below(n))
#define vstoren(p, v, n) _mm256_maskstore_ps((p), lanes_below(n), (v))
static inline float vhsum(vec v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}
#endif
#define vkeep(v) __asm__("" : "+x"(v))
#define FWD_OB 4
#define FWD_V 3
#define DW_OB 2
#define DW_TB 5
#define SHIFT_KERNEL tg_conv_shift_kernel_avx2
#define SHIFT_KERNEL_NAME "avx2"
#include "conv_shift_template.h"
#else
typedef int tg_conv_shift_avx2_unavailable; /* keeps the translation unit non-empty */
#endif
