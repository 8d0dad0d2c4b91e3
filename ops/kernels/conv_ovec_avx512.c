/* ops/kernels/conv_ovec_avx512.c — AVX-512 inner loops of the direct convolution vectorised over
 * output channels (built with -mavx512f on x86-64 only; conv_ovec.c calls them only when the CPU
 * reports AVX-512F): conv_ovec_template.h over 16 floats / 8 doubles. 32 vector registers: the
 * forward keeps 3 vectors of output channels x 9 positions of sums (+ 3 weight vectors and a
 * broadcast input), 2 x 8 or 1 x 10; dW 9 taps x up to 3 vectors (+ the dY vectors and a broadcast
 * input: a 3x3 filter in one block, 5x5 in three). The positions are limited by the 16 integer
 * registers too: each block's position offsets stay in them, and with 12 of them the broadcasts
 * waited on reloads. Measured 5 Dec, Zen 5, one thread, batch 64, forward ms: 3 vectors, 9
 * positions against 8: 5x5 24 -> 48 at 9x9 1.16-1.21 / 1.30-1.32, 3x3 48 -> 48 at 14x14
 * 2.05-2.15 / 2.19-2.21; 2 vectors, 8 against 12: 3-D 32 -> 64 at 6x6x6 6.59 / 7.28, 2 groups of
 * 24 at 9x9 0.735 / 0.753; 1 vector, 10 against 8, 12, 16: 3-D 32 -> 16 at 12x12x12 18.9 / 18.6,
 * 19.5, 20.0, 5x5 24 -> 16 at 9x9 0.634 / 0.699, 0.627, 0.748. */
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
#define FWD_P1 10
#define FWD_P2 8
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
