/* ops/kernels/elementwise_avx512.c — the elementwise kernels (elementwise_impl.h) 16 floats / 8 doubles
 * wide, built with AVX-512 on x86-64 only; elementwise.c picks them when the CPU reports AVX-512F. */
#include "elementwise.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define EW_VBYTES 64
#define EW_NAME(name) tg_elementwise_##name##_avx512
#define EW_VARIANT_NAME "avx512"
#include "elementwise_impl.h"
#else
typedef int tg_elementwise_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
