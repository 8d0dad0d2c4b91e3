/* ops/kernels/pad.c — padding of the trailing nd dims (see pad.h).
 *
 * Every output position maps to one input position or to the constant: along each padded dim the
 * output index i reads input index j = i - lo when 0 <= j < n, otherwise
 *   reflect   mirrors around the edge without repeating it (-1 -> 1, n -> n-2),
 *   replicate clamps to the edge (-1 -> 0, n -> n-1),
 *   circular  wraps around (-1 -> n-1, n -> 0),
 *   constant  reads nothing (the value).
 * The backward walks the same map and adds dy into dx at the source, which makes it the exact
 * adjoint of the forward. Both walk the output row by row (the last dim contiguous).
 */
#include "pad.h"

#include <string.h>

#include "parallel.h"
#include "vectorise.h"

/* Input index read by output index i along a dim of size n padded by lo in front; -1: constant. */
static int64_t pad_source(int64_t i, int64_t n, int64_t lo, tg_pad_mode mode)
{
    int64_t j = i - lo;
    if (j >= 0 && j < n) return j;
    switch (mode) {
    case TG_PAD_REFLECT: return j < 0 ? -j : 2 * (n - 1) - j;
    case TG_PAD_REPLICATE: return j < 0 ? 0 : n - 1;
    case TG_PAD_CIRCULAR: return ((j % n) + n) % n;
    case TG_PAD_CONSTANT: break;
    }
    return -1;
}

/* Geometry of one padded block: output sizes, input strides, rows (output elements / last dim). */
typedef struct pad_geometry {
    int64_t out_shape[TG_MAX_DIMS], in_stride[TG_MAX_DIMS];
    int64_t in_block, out_block, rows, in_last, out_last;
} pad_geometry;

static pad_geometry pad_geometry_of(int nd, const int64_t *in_shape, const int64_t *lo, const int64_t *hi)
{
    pad_geometry g;
    g.in_block = g.out_block = 1;
    for (int d = nd - 1; d >= 0; d--) {
        g.out_shape[d] = in_shape[d] + lo[d] + hi[d];
        g.in_stride[d] = g.in_block;
        g.in_block *= in_shape[d];
        g.out_block *= g.out_shape[d];
    }
    g.in_last = nd ? in_shape[nd - 1] : 1;
    g.out_last = nd ? g.out_shape[nd - 1] : 1;
    g.rows = g.out_last ? g.out_block / g.out_last : 0;
    return g;
}

/* Offset inside the input block of the row feeding output row r (all dims but the last), or -1
 * when that row lies in the constant border. */
static int64_t pad_row_source(const pad_geometry *g, int64_t r, int nd, const int64_t *in_shape,
                              const int64_t *lo, tg_pad_mode mode)
{
    int64_t offset = 0;
    for (int d = nd - 2; d >= 0; d--) {
        int64_t i = r % g->out_shape[d];
        r /= g->out_shape[d];
        int64_t j = pad_source(i, in_shape[d], lo[d], mode);
        if (j < 0) return -1;
        offset += j * g->in_stride[d];
    }
    return offset;
}

/* The arguments of one call, for the blocks a thread runs. */
typedef struct pad_job {
    const tg_real *src;
    tg_real *dst;
    int nd;
    const int64_t *in_shape, *lo, *hi;
    tg_pad_mode mode;
    tg_real value;
    pad_geometry g;
    int64_t lo_last, begin, end; /* output columns [begin, end) copy input columns straight */
} pad_job;

static pad_job pad_job_of(const tg_real *src, tg_real *dst, int nd, const int64_t *in_shape, const int64_t *lo,
                          const int64_t *hi, tg_pad_mode mode, tg_real value)
{
    pad_job j = {src, dst, nd, in_shape, lo, hi, mode, value, pad_geometry_of(nd, in_shape, lo, hi), 0, 0, 0};
    j.lo_last = nd ? lo[nd - 1] : 0;
    j.begin = j.lo_last > 0 ? j.lo_last : 0;
    j.end = j.lo_last + j.g.in_last < j.g.out_last ? j.lo_last + j.g.in_last : j.g.out_last;
    return j;
}

/* A block's row sources (pad_row_source) are the same for every block: worked out once per range
 * of blocks for up to this many rows (its divisions per row were as long as a short row's copy:
 * reflect padding of 64x32x32x32 took 1.56 ms, 5 Dec), else row by row. */
#define PAD_ROW_TABLE 512
/* The table (in rows, PAD_ROW_TABLE long) filled when the block's rows fit it; else NULL. */
static const int64_t *row_table(const pad_job *j, int64_t *rows)
{
    if (j->g.rows > PAD_ROW_TABLE) return NULL;
    for (int64_t r = 0; r < j->g.rows; r++) rows[r] = pad_row_source(&j->g, r, j->nd, j->in_shape, j->lo, j->mode);
    return rows;
}
static int64_t row_source(const pad_job *j, const int64_t *table, int64_t r)
{
    return table ? table[r] : pad_row_source(&j->g, r, j->nd, j->in_shape, j->lo, j->mode);
}

TG_VECTORISE static void pad_blocks(void *ctx, int64_t o0, int64_t o1)
{
    const pad_job *j = ctx;
    const pad_geometry *g = &j->g;
    int64_t table_rows[PAD_ROW_TABLE];
    const int64_t *table = row_table(j, table_rows);
    const int64_t out_last = g->out_last, lo_last = j->lo_last, begin = j->begin, end = j->end;
    for (int64_t o = o0; o < o1; o++) {
        const tg_real *xb = j->src + o * g->in_block;
        tg_real *yb = j->dst + o * g->out_block;
        for (int64_t r = 0; r < g->rows; r++) {
            tg_real *restrict yr = yb + r * out_last;
            const int64_t src = row_source(j, table, r);
            if (src < 0) {
                for (int64_t i = 0; i < out_last; i++) yr[i] = j->value;
                continue;
            }
            const tg_real *restrict xr = xb + src;
            if (j->nd == 0) {
                yr[0] = xr[0];
                continue;
            }
            for (int64_t i = 0; i < begin && i < out_last; i++) {
                int64_t s = pad_source(i, g->in_last, lo_last, j->mode);
                yr[i] = s < 0 ? j->value : xr[s];
            }
            if (end > begin) memcpy(yr + begin, xr + begin - lo_last, (size_t)(end - begin) * sizeof *yr);
            for (int64_t i = end > begin ? end : begin; i < out_last; i++) {
                int64_t s = pad_source(i, g->in_last, lo_last, j->mode);
                yr[i] = s < 0 ? j->value : xr[s];
            }
        }
    }
}

void tg_pad_kernel(const tg_real *x, tg_real *y, int64_t outer, int nd, const int64_t *in_shape,
                   const int64_t *lo, const int64_t *hi, tg_pad_mode mode, tg_real value)
{
    pad_job j = pad_job_of(x, y, nd, in_shape, lo, hi, mode, value);
    tg_parallel_for(outer, pad_blocks, &j); /* each block written by one thread */
}

/* dx's blocks o0..o1 += the adjoint of the padding on dy's: each by one thread, its rows in order
 * (the same sums for any split). */
TG_VECTORISE static void pad_backward_blocks(void *ctx, int64_t o0, int64_t o1)
{
    const pad_job *j = ctx;
    const pad_geometry *g = &j->g;
    int64_t table_rows[PAD_ROW_TABLE];
    const int64_t *table = row_table(j, table_rows);
    const int64_t out_last = g->out_last, lo_last = j->lo_last, begin = j->begin, end = j->end;
    for (int64_t o = o0; o < o1; o++) {
        tg_real *dxb = j->dst + o * g->in_block;
        const tg_real *dyb = j->src + o * g->out_block;
        for (int64_t r = 0; r < g->rows; r++) {
            const int64_t src = row_source(j, table, r);
            if (src < 0) continue;
            const tg_real *restrict dyr = dyb + r * out_last;
            tg_real *restrict dxr = dxb + src;
            if (j->nd == 0) {
                dxr[0] += dyr[0];
                continue;
            }
            for (int64_t i = 0; i < begin && i < out_last; i++) {
                int64_t s = pad_source(i, g->in_last, lo_last, j->mode);
                if (s >= 0) dxr[s] += dyr[i];
            }
            for (int64_t i = begin; i < end; i++) dxr[i - lo_last] += dyr[i];
            for (int64_t i = end > begin ? end : begin; i < out_last; i++) {
                int64_t s = pad_source(i, g->in_last, lo_last, j->mode);
                if (s >= 0) dxr[s] += dyr[i];
            }
        }
    }
}

void tg_pad_backward_kernel(const tg_real *dy, tg_real *dx, int64_t outer, int nd,
                            const int64_t *in_shape, const int64_t *lo, const int64_t *hi,
                            tg_pad_mode mode)
{
    pad_job j = pad_job_of(dy, dx, nd, in_shape, lo, hi, mode, 0);
    tg_parallel_for(outer, pad_backward_blocks, &j);
}
