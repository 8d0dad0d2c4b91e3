/* ops/kernels/conv_shift_internal.h — what conv_shift.c needs from its SIMD files (not public).
 *
 * A kernel runs the two inner loops of conv_shift.h over prepared operands:
 *   forward: wide[o, q] = sum_{c, tap} packed_w[block(o)][c][tap][o % p->out_block] * box[c][q + offset[tap]]
 *            for q in [first, end) (whole blocks of p->positions) and o < og (rows o >= og are not
 *            written);
 *   dw:      dw[o, c, tap] += sum_{n, q} dy_wide[n][o][q] * box[n][c][q + offset[tap]], q in [0, span).
 * Boxes are [channels][plane] per image, wide rows span apart. Each SIMD file is compiled in both
 * precisions and provides the kernel for tg_real. */
#ifndef TG_CONV_SHIFT_INTERNAL_H
#define TG_CONV_SHIFT_INTERNAL_H

#include "conv_shift.h"

typedef struct tg_conv_shift_kernel {
    const char *name;     /* "avx512", "avx2", "portable" */
    int64_t out_block;    /* output channels per forward block (half for og <= out_block/2: the plan's) */
    int64_t positions;    /* wide positions per forward block (twice as many in the half-channel block) */
    void (*forward)(const tg_conv_shift_plan *p, int64_t channels, const tg_real *box, const tg_real *packed_w,
                    tg_real *wide, int64_t first, int64_t end);
    void (*dw)(const tg_conv_shift_plan *p, int64_t channels, int64_t images, const tg_real *boxes,
               const tg_real *dy_wide, tg_real *dw);
    /* the operands: x:[channels, in...] -> zero-padded boxes; dy:[og, out...] -> wide rows (zeros
     * at the thrown-away positions); wide rows -> y:[og, out...] (added when accumulate) */
    void (*fill)(const tg_conv_geom *g, const tg_conv_shift_plan *p, int64_t channels, const tg_real *x, tg_real *box);
    void (*to_wide)(const tg_conv_geom *g, const tg_conv_shift_plan *p, const tg_real *dy, tg_real *wide);
    void (*from_wide)(const tg_conv_geom *g, const tg_conv_shift_plan *p, const tg_real *wide, tg_real *y,
                      bool accumulate);
} tg_conv_shift_kernel;

#if defined(__x86_64__)
extern const tg_conv_shift_kernel tg_conv_shift_kernel_avx512;
extern const tg_conv_shift_kernel tg_conv_shift_kernel_avx2;
#endif

#endif
