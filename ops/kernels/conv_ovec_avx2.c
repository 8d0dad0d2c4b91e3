/* ops/kernels/conv_ovec_avx2.c — AVX2+FMA inner loops of the direct convolution vectorised over
 * output channels (built with -mavx2 -mfma on x86-64 only; conv_ovec.c calls them only when the
 * CPU reports both): conv_ovec_template.h over 8 floats / 4 doubles. 16 registers: blocks of 2
 * vectors of output channels x 6 positions (or taps) of sums, or 1 x 12. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT ON
#endif
#include "conv_ovec_internal.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#define VLEN (32 / (int)sizeof(tg_real))
#define OB_MAX 2
#define FWD_P1 12
#define FWD_P2 6
#define FWD_P3 6 /* unused: OB_MAX 2 */
#define DW_T1 9
#define DW_T2 5
#define DW_T3 5
#define OVEC_KERNEL tg_conv_ovec_kernel_avx2
#define OVEC_KERNEL_NAME "avx2"
#include "conv_ovec_template.h"
#else
typedef int tg_conv_ovec_avx2_unavailable; /* keeps the translation unit non-empty */
#endif
