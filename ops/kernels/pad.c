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

void tg_pad_kernel(const tg_real *x, tg_real *y, int64_t outer, int nd, const int64_t *in_shape,
                   const int64_t *lo, const int64_t *hi, tg_pad_mode mode, tg_real value)
{
    pad_geometry g = pad_geometry_of(nd, in_shape, lo, hi);
    int64_t lo_last = nd ? lo[nd - 1] : 0;
    /* output columns [begin, end) copy input columns straight */
    int64_t begin = lo_last > 0 ? lo_last : 0;
    int64_t end = lo_last + g.in_last < g.out_last ? lo_last + g.in_last : g.out_last;
    for (int64_t o = 0; o < outer; o++) {
        const tg_real *xb = x + o * g.in_block;
        tg_real *yb = y + o * g.out_block;
        for (int64_t r = 0; r < g.rows; r++) {
            tg_real *yr = yb + r * g.out_last;
            int64_t src = pad_row_source(&g, r, nd, in_shape, lo, mode);
            if (src < 0) {
                for (int64_t i = 0; i < g.out_last; i++) yr[i] = value;
                continue;
            }
            const tg_real *xr = xb + src;
            if (nd == 0) {
                yr[0] = xr[0];
                continue;
            }
            for (int64_t i = 0; i < begin && i < g.out_last; i++) {
                int64_t j = pad_source(i, g.in_last, lo_last, mode);
                yr[i] = j < 0 ? value : xr[j];
            }
            for (int64_t i = begin; i < end; i++) yr[i] = xr[i - lo_last];
            for (int64_t i = end > begin ? end : begin; i < g.out_last; i++) {
                int64_t j = pad_source(i, g.in_last, lo_last, mode);
                yr[i] = j < 0 ? value : xr[j];
            }
        }
    }
}

void tg_pad_backward_kernel(const tg_real *dy, tg_real *dx, int64_t outer, int nd,
                            const int64_t *in_shape, const int64_t *lo, const int64_t *hi,
                            tg_pad_mode mode)
{
    pad_geometry g = pad_geometry_of(nd, in_shape, lo, hi);
    int64_t lo_last = nd ? lo[nd - 1] : 0;
    int64_t begin = lo_last > 0 ? lo_last : 0;
    int64_t end = lo_last + g.in_last < g.out_last ? lo_last + g.in_last : g.out_last;
    for (int64_t o = 0; o < outer; o++) {
        tg_real *dxb = dx + o * g.in_block;
        const tg_real *dyb = dy + o * g.out_block;
        for (int64_t r = 0; r < g.rows; r++) {
            int64_t src = pad_row_source(&g, r, nd, in_shape, lo, mode);
            if (src < 0) continue;
            const tg_real *dyr = dyb + r * g.out_last;
            tg_real *dxr = dxb + src;
            if (nd == 0) {
                dxr[0] += dyr[0];
                continue;
            }
            for (int64_t i = 0; i < begin && i < g.out_last; i++) {
                int64_t j = pad_source(i, g.in_last, lo_last, mode);
                if (j >= 0) dxr[j] += dyr[i];
            }
            for (int64_t i = begin; i < end; i++) dxr[i - lo_last] += dyr[i];
            for (int64_t i = end > begin ? end : begin; i < g.out_last; i++) {
                int64_t j = pad_source(i, g.in_last, lo_last, mode);
                if (j >= 0) dxr[j] += dyr[i];
            }
        }
    }
}
