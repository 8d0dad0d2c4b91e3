/* ops/kernels/conv_ovec_internal.h — what conv_ovec.c needs from its SIMD files (not public).
 *
 * A kernel runs the two inner loops of conv_ovec.h over prepared operands:
 *   forward: y[o, q] (+)= sum_{c, tap} packed_w[c][tap][o] * box[c][pos[q] + offset[tap]] for the
 *            items [first, end) of tg_conv_ovec_items (blocks of output-channel vectors x positions);
 *   dw:      acc[c][tap][o] += sum_{n, q} dyt[n][q][o] * box[n][c][pos[q] + offset[tap]] for the
 *            channels [c0, c1), every image and position in order.
 * Boxes are [channels][plane] per image; dyt: [positions][o_pad] per image. Each SIMD file is
 * compiled in both precisions and provides the kernel for tg_real. */
#ifndef TG_CONV_OVEC_INTERNAL_H
#define TG_CONV_OVEC_INTERNAL_H

#include "conv_ovec.h"

typedef struct tg_conv_ovec_kernel {
    const char *name; /* "avx512", "avx2", "portable" */
    int64_t lanes;    /* output channels per vector: o_pad is a multiple */
    int64_t (*items)(const tg_conv_ovec_plan *p);
    void (*forward)(const tg_conv_ovec_plan *p, int64_t channels, const tg_real *box, const int32_t *pos,
                    const tg_real *packed_w, tg_real *y, bool accumulate, int64_t first, int64_t end);
    void (*dw)(const tg_conv_ovec_plan *p, int64_t channels, int64_t images, const tg_real *boxes,
               const int32_t *pos, const tg_real *dyt, tg_real *acc, int64_t c0, int64_t c1);
} tg_conv_ovec_kernel;

#if defined(__x86_64__)
extern const tg_conv_ovec_kernel tg_conv_ovec_kernel_avx512;
extern const tg_conv_ovec_kernel tg_conv_ovec_kernel_avx2;
#endif

#endif
