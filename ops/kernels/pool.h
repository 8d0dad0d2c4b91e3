/* ops/kernels/pool.h — the one pooling kernel behind max/avg pooling (1-D..3-D), global and
 * adaptive pooling, and max-unpool. Plain loops over arrays: no allocation, inputs untouched.
 *
 * x holds `planes` (N*C) contiguous planes of in[0]*in[1]*in[2] values (lower ranks are padded on
 * the left with size-1 dims; global pooling flattens all spatial dims into one). Each spatial dim
 * d describes its windows in tables of out[d] entries: output position o reads the input positions
 * begin[o], begin[o]+step, ... < end[o] (already clipped to the input, so padding is never read),
 * and an average divides by the product of span[o] over the dims (or by `divisor` when nonzero).
 * Indices are flat positions inside a plane, ((i0*in1)+i1)*in2+i2, as PyTorch's return_indices.
 * Work is split over planes with tg_parallel_for, so results do not depend on the thread count.
 *
 *   tg_pool_geom g = {.planes = n * c, .divisor = 0, .dim = {d0, d1, d2}};
 *   tg_pool_max_forward(&g, x, y, idx);
 *   tg_pool_max_backward(&g, dy, idx, dx, false); // dx += routed dy
 */
#ifndef TG_KERNEL_POOL_H
#define TG_KERNEL_POOL_H

#include <stdint.h>

#include "../../graph/tensor.h"

#define TG_POOL_DIMS 3

typedef struct tg_pool_dim {
    int64_t in, out, step;
    const int64_t *begin, *end, *span; /* out entries each; span may be NULL for max */
} tg_pool_dim;

typedef struct tg_pool_geom {
    int64_t planes;
    double divisor; /* nonzero: every average divides by this (divisor_override) */
    tg_pool_dim dim[TG_POOL_DIMS];
} tg_pool_geom;

/* y = window maxima, idx = flat plane index of the first maximum in row-major window order (a NaN
 * wins and the last NaN is kept, as PyTorch's CPU kernel); an empty window (dilation skipping
 * every input position) gives -inf and index -1. */
void tg_pool_max_forward(const tg_pool_geom *g, const tg_real *x, tg_real *y, int64_t *idx);
/* (idx may be NULL in both: the maxima alone, the same values, no index written.) */
/* Which code computes the max forward; every path gives bitwise the same y and idx (the tests
 * compare them). BEST: windows inside the input with dilation 1 along the last dim go through a
 * specialised run kernel (AVX-512 or AVX2 when the CPU has it, else portable C), the rest through
 * the general loop; PORTABLE and AVX2: the same split with that run kernel (AVX2 falls back to
 * portable C on a CPU without it); GENERAL: the table-driven loop for everything. */
typedef enum tg_pool_max_path {
    TG_POOL_MAX_BEST,
    TG_POOL_MAX_PORTABLE,
    TG_POOL_MAX_GENERAL,
    TG_POOL_MAX_AVX2
} tg_pool_max_path;
void tg_pool_max_forward_path(const tg_pool_geom *g, const tg_real *x, tg_real *y, int64_t *idx,
                              tg_pool_max_path path);
/* "avx512", "avx2" or "portable": the run kernel TG_POOL_MAX_BEST uses on this CPU. */
const char *tg_pool_max_kernel_name(void);
/* dx[idx] += dy: the adjoint of the selection (overlapping windows accumulate). overwrite: dx's old
 * contents are ignored (a fresh buffer: each plane is zeroed on its thread just before). */
void tg_pool_max_backward(const tg_pool_geom *g, const tg_real *dy, const int64_t *idx, tg_real *dx,
                          bool overwrite);
/* y = window sums / divisor (sums in double). */
void tg_pool_avg_forward(const tg_pool_geom *g, const tg_real *x, tg_real *y);
/* dx += dy / divisor over each window (overwrite: as tg_pool_max_backward's). */
void tg_pool_avg_backward(const tg_pool_geom *g, const tg_real *dy, tg_real *dx, bool overwrite);

/* Max-unpool: y (planes * out_plane) = 0 except y[p, idx[p, i]] = x[p, i], later duplicates
 * winning; winner (planes * out_plane, scratch the caller keeps for the backward) records which i
 * survived at each output (-1: none). Every idx must lie in [0, out_plane) (the op checks). */
void tg_unpool_forward(int64_t planes, int64_t in_plane, int64_t out_plane, const tg_real *x,
                       const int64_t *idx, int64_t *winner, tg_real *y);
/* dx[p, winner[p, o]] += dy[p, o]: only the surviving writer receives the gradient. */
void tg_unpool_backward(int64_t planes, int64_t in_plane, int64_t out_plane, const tg_real *dy,
                        const int64_t *winner, tg_real *dx);

#endif
