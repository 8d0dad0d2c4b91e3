/* ops/kernels/winograd1d_internal.h — what winograd1d.c shares with its SIMD copies of the
 * transform loops (winograd1d_rows.h). Only winograd1d*.c include it.
 */
#ifndef TG_KERNEL_WINOGRAD1D_INTERNAL_H
#define TG_KERNEL_WINOGRAD1D_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "im2col.h" /* tg_real */

#define W1_MAX_ALPHA 8 /* transformed positions of a tile at most (winograd1d.h) */

/* The vector loops of one instruction set (winograd1d_rows.h), chosen at run time by winograd1d.c. */
typedef struct w1_loops {
    void (*deinterleave)(const tg_real *restrict line, int m, int64_t n, tg_real *restrict s, int64_t spitch);
    void (*interleave)(const tg_real *restrict z, int64_t zpitch, int m, int64_t n, tg_real *restrict line);
    void (*combine)(const tg_real coef[W1_MAX_ALPHA][W1_MAX_ALPHA], int outs, int ins, int split, const tg_real *in,
                    int64_t ipitch, int64_t n, tg_real *out, int64_t ostride, tg_real *check);
    void (*gather_rows)(const tg_real *restrict x, int64_t image_stride, int64_t size, int64_t row0, int64_t rows,
                        int64_t phases, int64_t shift, int64_t step, int64_t len, tg_real *restrict dst);
} w1_loops;
extern const w1_loops winograd1d_portable_loops, winograd1d_avx2_loops, winograd1d_avx512_loops;

#endif
