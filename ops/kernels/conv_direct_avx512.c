/* ops/kernels/conv_direct_avx512.c — AVX-512 plane kernels of the direct convolution (built with
 * -mavx512f on x86-64 only; conv_direct.c calls them only when the CPU reports AVX-512F).
 * The kernels are conv_direct_template.h over 16 floats / 8 doubles with AVX-512 mask registers.
 */
#include "conv_direct_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "vec_avx512.h"

#include "conv_direct_template.h"

const tg_conv_direct_kernel tg_conv_direct_kernel_avx512 = {
    .name = "avx512", .plane = plane_simd, .plane_dw = plane_dw_simd, .plane_adjoint = plane_adjoint_simd,
    .planes = planes_simd};
#else
typedef int tg_conv_direct_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
