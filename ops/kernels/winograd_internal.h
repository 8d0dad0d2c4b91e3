/* ops/kernels/winograd_internal.h — what winograd.c shares with its SIMD copies of the row
 * transforms (winograd_rows.h): the tiling and the transforms' signatures. Only winograd*.c include it.
 */
#ifndef TG_KERNEL_WINOGRAD_INTERNAL_H
#define TG_KERNEL_WINOGRAD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "im2col.h"

/* The tiling: rows and columns of 2x2 output tiles per image, tile rows per chunk. The row loops
 * run over whole blocks of WINOGRAD_VEC columns (no scalar tails): cols_pad = cols rounded up, and
 * the extra columns' results land in slack that later rows overwrite or nobody reads. */
#define WINOGRAD_VEC 16
typedef struct tiling {
    int64_t rows, cols, rows_per_chunk;
    int64_t cols_pad; /* cols rounded up to WINOGRAD_VEC */
    int64_t line;     /* a padded input row: 2*cols_pad + WINOGRAD_VEC values */
} tiling;
/* v[k][t] (k = 0..15, kstride apart) = (B^T d B)[k] for the row of tiles whose input rows start at r0;
 * lines: 8 * line scratch values, of which lines[line, 2*line) accumulates the finiteness check
 * (it turns NaN where an input read was NaN or ±Inf; the caller zeroes it). */
typedef void (*winograd_input_row_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *plane, int64_t r0,
                                      tg_real *restrict lines, tg_real *restrict v, int64_t kstride);
/* Output rows 2*row, 2*row+1 of one plane (+)= A^T m A for one row of tiles; lines: 4 * cols values. */
typedef void (*winograd_output_row_fn)(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t kstride,
                                       int64_t row, tg_real *restrict lines, tg_real *plane, bool accumulate);

void winograd_portable_transform_input_row(const tg_conv_geom *g, const tiling *tl, const tg_real *plane, int64_t r0,
                                           tg_real *restrict lines, tg_real *restrict v, int64_t kstride);
void winograd_portable_transform_output_row(const tg_conv_geom *g, const tiling *tl, const tg_real *m,
                                            int64_t kstride, int64_t row, tg_real *restrict lines, tg_real *plane,
                                            bool accumulate);
void winograd_avx512_transform_input_row(const tg_conv_geom *g, const tiling *tl, const tg_real *plane, int64_t r0,
                                         tg_real *restrict lines, tg_real *restrict v, int64_t kstride);
void winograd_avx512_transform_output_row(const tg_conv_geom *g, const tiling *tl, const tg_real *m, int64_t kstride,
                                          int64_t row, tg_real *restrict lines, tg_real *plane, bool accumulate);
bool winograd_portable_all_finite(const tg_real *v, int64_t n);
bool winograd_avx512_all_finite(const tg_real *v, int64_t n);

#endif
