/* ops/kernels/conv_ovec_avx512.c — AVX-512 inner loops of the direct convolution vectorised over
 * output channels (built with -mavx512f on x86-64 only; conv_ovec.c calls them only when the CPU
 * reports AVX-512F): conv_ovec_template.h over 16 floats / 8 doubles. 32 registers: the forward
 * keeps 3 vectors of output channels x 9 positions of sums (+ 3 weight vectors and a broadcast
 * input), dW 3 x 9 taps (+ 3 dY vectors and a broadcast input: a 3x3 filter in one block, 5x5 in
 * three). Measured 5 Dec, Zen 5, one thread, batch 64, forward ms with 9 positions against 8:
 * 5x5 24 -> 48 at 9x9 1.16-1.21 / 1.30-1.32, 3x3 48 -> 48 at 14x14 2.05-2.15 / 2.19-2.21. */
/* the sums of products fuse into FMAs (each kernel gives the same bits on every call) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT ON
#endif
#include "conv_ovec_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define VLEN (64 / (int)sizeof(tg_real))
#define OB_MAX 3
#define FWD_P1 16
#define FWD_P2 12
#define FWD_P3 9
#define DW_T1 9
#define DW_T2 9
#define DW_T3 9
#define OVEC_KERNEL tg_conv_ovec_kernel_avx512
#define OVEC_KERNEL_NAME "avx512"
#include "conv_ovec_template.h"
#else
typedef int tg_conv_ovec_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
