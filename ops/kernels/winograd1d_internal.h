/* ops/kernels/winograd1d_internal.h — what winograd1d.c shares with its SIMD copies of the
 * transform loops (winograd1d_rows.h). Only winograd1d*.c include it.
 */
#ifndef TG_KERNEL_WINOGRAD1D_INTERNAL_H
#define TG_KERNEL_WINOGRAD1D_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "im2col.h" /* tg_real */

#define W1_MAX_ALPHA 8 /* transformed positions of a tile at most (winograd1d.h) */

#define WINOGRAD1D_DECLARE(prefix)                                                                              \
    void winograd1d_##prefix##_deinterleave(const tg_real *restrict line, int m, int64_t n, tg_real *restrict s, \
                                            int64_t spitch);                                                    \
    void winograd1d_##prefix##_interleave(const tg_real *restrict z, int64_t zpitch, int m, int64_t n,          \
                                          tg_real *restrict line);                                              \
    void winograd1d_##prefix##_combine(const tg_real coef[W1_MAX_ALPHA][W1_MAX_ALPHA], int outs, int ins,       \
                                       int split, const tg_real *in, int64_t ipitch, int64_t n, tg_real *out,   \
                                       int64_t ostride, tg_real *check);                                        \
    void winograd1d_##prefix##_gather_row(const tg_real *restrict src, int64_t size, int64_t start, int64_t step, \
                                          int64_t len, tg_real *restrict dst);
WINOGRAD1D_DECLARE(portable)
WINOGRAD1D_DECLARE(avx2)
WINOGRAD1D_DECLARE(avx512)

#endif
