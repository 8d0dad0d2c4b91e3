/* ops/kernels/elementwise_avx512.c — the elementwise kernels (elementwise_impl.h) 16 floats / 8 doubles
 * wide, built with AVX-512 on x86-64 only; elementwise.c picks them when the CPU reports AVX-512F. */
#include "elementwise.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define EW_VBYTES 64
#define EW_NAME(name) tg_elementwise_##name##_avx512
#define EW_VARIANT_NAME "avx512"
#include <immintrin.h>
/* masked ragged ends: lanes past n are neither read nor written */
#ifdef TG_REAL_DOUBLE
#define EW_LOAD_PART(p, n) ((vreal)_mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), (p)))
#define EW_STORE_PART(p, v, n) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (n)) - 1), (__m512d)(v))
#else
#define EW_LOAD_PART(p, n) ((vreal)_mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), (p)))
#define EW_STORE_PART(p, v, n) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1), (__m512)(v))
#endif
#define select ew_select /* <immintrin.h> brings POSIX select() along */
#include "elementwise_impl.h"
#else
typedef int tg_elementwise_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
