/* ops/kernels/elementwise_avx2.c — the elementwise kernels (elementwise_impl.h) 8 floats / 4 doubles
 * wide, built with AVX2 on x86-64 only; elementwise.c picks them when the CPU has AVX2 (and FMA,
 * the family's test; the kernels themselves use no FMA) but not AVX-512. */
#include "elementwise.h"

#if defined(__x86_64__) && defined(__AVX2__)
#define EW_VBYTES 32
#define EW_NAME(name) tg_elementwise_##name##_avx2
#define EW_VARIANT_NAME "avx2"
#include "elementwise_impl.h"
#else
typedef int tg_elementwise_avx2_unavailable; /* keeps the translation unit non-empty */
#endif
