/* ops/kernels/conv_shift_avx512.c — AVX-512 inner loops of the shift convolution (built with
 * -mavx512f on x86-64 only; conv_shift.c calls them only when the CPU reports AVX-512F):
 * conv_shift_template.h over 16 floats / 8 doubles. 32 registers: the forward keeps 8 output
 * channels x 3 vectors of sums (+ 3 input vectors and a broadcast tap), dW 3 x 9 (a 3x3 filter's
 * taps for 3 output channels, + 3 dY vectors and an input vector). */
#include "conv_shift_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#ifdef TG_REAL_DOUBLE
#define VLEN 8
typedef __m512d vec;
#define vzero() _mm512_setzero_pd()
#define vset1(x) _mm512_set1_pd(x)
#define vloadu(p) _mm512_loadu_pd(p)
#define vstoreu(p, v) _mm512_storeu_pd((p), (v))
#define vfma(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define vadd(a, b) _mm512_add_pd((a), (b))
#define vloadn(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), (p))
#define vstoren(p, v, n) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (n)) - 1), (v))
#define vhsum(v) _mm512_reduce_add_pd(v)
#define vdeal2(lo, hi, even, odd)                                                                          \
    do {                                                                                                   \
        const __m512d lo_ = (lo), hi_ = (hi);                                                              \
        (even) = _mm512_permutex2var_pd(lo_, _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), hi_);            \
        (odd) = _mm512_permutex2var_pd(lo_, _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1), hi_);             \
    } while (0)
#else
#define VLEN 16
typedef __m512 vec;
#define vzero() _mm512_setzero_ps()
#define vset1(x) _mm512_set1_ps(x)
#define vloadu(p) _mm512_loadu_ps(p)
#define vstoreu(p, v) _mm512_storeu_ps((p), (v))
#define vfma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vadd(a, b) _mm512_add_ps((a), (b))
#define vloadn(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p))
#define vstoren(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (v))
#define vhsum(v) _mm512_reduce_add_ps(v)
#define vdeal2(lo, hi, even, odd)                                                                          \
    do {                                                                                                   \
        const __m512 lo_ = (lo), hi_ = (hi);                                                               \
        (even) = _mm512_permutex2var_ps(                                                                   \
            lo_, _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), hi_);        \
        (odd) = _mm512_permutex2var_ps(                                                                    \
            lo_, _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1), hi_);        \
    } while (0)
#endif
#define vkeep(v) __asm__("" : "+v"(v))
#define FWD_OB 8
#define FWD_V 3
#define DW_OB 3
#define DW_TB 9
#define SHIFT_KERNEL tg_conv_shift_kernel_avx512
#define SHIFT_KERNEL_NAME "avx512"
#include "conv_shift_template.h"
#else
typedef int tg_conv_shift_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
