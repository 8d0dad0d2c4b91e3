/* ops/kernels/norm_avx512.c — the normalization core's loops (norm_impl.h) built with AVX-512
 * (x86-64 only; norm.c calls them only when the CPU reports AVX-512F). */
#include "norm.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define NORM_FN(name) norm_##name##_avx512
#include "norm_impl.h"
#else
typedef int tg_norm_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
