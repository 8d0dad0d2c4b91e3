/* ops/kernels/pool_internal.h — what pool.c shares with its SIMD file (not public).
 *
 * A max "run" is a stretch of one output row whose windows all lie inside the input with dilation
 * 1 along the last dim: output o (0 <= o < n) reads, from each window row r (in row-major window
 * order), the taps2 consecutive positions rows[r][col0 + o*stride + c]. Tap t = r*taps2 + c sits
 * tap_off[t] plane positions after the window's first position, so the recorded index is
 * first + o*stride + tap_off[t] with first = the plane position of rows[0][col0].
 * Selection is the general kernel's, exactly: strictly greater replaces (ties keep the first
 * maximum), a NaN always replaces (the last NaN is kept). Each SIMD file is compiled in both
 * precisions and provides its kernel for tg_real.
 */
#ifndef TG_KERNEL_POOL_INTERNAL_H
#define TG_KERNEL_POOL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../../graph/tensor.h"

/* Window rows and taps a run may have (the tap table lives on the stack). */
#define TG_POOL_RUN_MAX_TAPS 64

typedef struct tg_pool_max_run {
    const tg_real *const *rows; /* nrows window rows, each pointing at input column 0 */
    int nrows;
    int64_t taps2, stride, col0, n;
    /* out_rows output rows of n outputs each: output row l reads the window rows shifted by
     * l*in_row_step positions and writes y, idx + l*out_row_step */
    int64_t out_rows, in_row_step, out_row_step;
    /* what each output row adds to the recorded index: in_row_step for rows of one plane, 0 for
     * rows that are planes of their own (1-D pooling, each plane's indices from 0) */
    int64_t idx_row_step;
    const int32_t *tap_off; /* nrows * taps2 entries, tap_off[0] = 0 */
    int64_t first;
    const tg_real *limit; /* one past the input plane: loads may read up to here */
    tg_real *y;   /* n outputs */
    int64_t *idx; /* n indices; NULL: the maxima alone */
} tg_pool_max_run;

/* One output row of a run: its window rows are the run's shifted by `shift` positions. */
typedef struct out_row {
    int64_t shift, first;
    tg_real *y;
    int64_t *idx;
} out_row;

/* Shared by the SIMD files (through pool_max_template.h), which define VLEN and the vector
 * kernels vector_fn(run, &row, from, n, plain) before using it. */
/* An output row in vectors of VLEN outputs; a ragged end is redone as the row's last full vector
 * (its outputs written twice, identically) when the row has one. A vector's taps are plain loads
 * of all lanes whenever those stay inside the plane (lanes past the row's end read positions that
 * are never used; their outputs are not stored), masked loads otherwise, i.e. only at the end of
 * a plane: with masked loads everywhere the 2x2/2 kernel took 21 ms instead of 5 (measured). */
#define TG_POOL_MAX_RUN_ROWS(vector_fn)                                                             \
    for (int64_t l = 0; l < run->out_rows; l++) {                                                   \
        const int64_t shift = l * run->in_row_step;                                                 \
        const out_row row = {shift, run->first + l * run->idx_row_step, run->y + l * run->out_row_step, \
                             run->idx ? run->idx + l * run->out_row_step : NULL};                   \
        /* one past the last position plain loads of the vector at output o read */                 \
        const tg_real *last_row = run->rows[run->nrows - 1] + shift + run->col0 + run->taps2 - 1;   \
        for (int64_t o = 0; o < run->n; o += VLEN) {                                                \
            int64_t from = o, n = run->n - o < VLEN ? run->n - o : VLEN;                            \
            if (n < VLEN && run->n >= VLEN && last_row + run->stride * run->n <= run->limit)        \
                from = run->n - VLEN, n = VLEN;                                                     \
            if (last_row + run->stride * (from + VLEN) <= run->limit)                               \
                vector_fn(run, &row, from, n, true);                                                \
            else                                                                                    \
                vector_fn(run, &row, from, n, false);                                               \
        }                                                                                           \
    }

/* The entry point of a SIMD file: strides 1 and 2, and larger ones, through its vector kernels. */
#define TG_POOL_MAX_RUN_ROWS_ENTRY(name, stride1_fn, stride2_fn, strided_fn)                        \
    bool name(const tg_pool_max_run *run)                                                           \
    {                                                                                               \
        if (run->stride == 1) TG_POOL_MAX_RUN_ROWS(stride1_fn)                                      \
        else if (run->stride == 2) TG_POOL_MAX_RUN_ROWS(stride2_fn)                                 \
        else if (run->stride > 2 && run->stride <= TG_POOL_GATHER_MAX_STRIDE) TG_POOL_MAX_RUN_ROWS(strided_fn) \
        else return false;                                                                          \
        return true;                                                                                \
    }
/* Strides the gathers take: their lane offsets (stride times the lane) stay small int32s */
#define TG_POOL_GATHER_MAX_STRIDE 4096

/* One window over a whole plane of n values (n <= INT32_MAX): *y = its maximum, *idx (when not NULL)
 * its position, by the window scan's rule (the first maximum; a NaN wins, the last one). */
typedef void (*tg_pool_max_whole_fn)(const tg_real *x, int64_t n, tg_real *y, int64_t *idx);

#if defined(__x86_64__)
/* Strides 1 to TG_POOL_GATHER_MAX_STRIDE; return false without writing anything for others. */
bool tg_pool_max_run_avx512(const tg_pool_max_run *run);
bool tg_pool_max_run_avx2(const tg_pool_max_run *run);
void tg_pool_max_whole_avx512(const tg_real *x, int64_t n, tg_real *y, int64_t *idx);
void tg_pool_max_whole_avx2(const tg_real *x, int64_t n, tg_real *y, int64_t *idx);
#endif

#endif
