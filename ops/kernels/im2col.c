/* ops/kernels/im2col.c — N-d im2col / col2im (see im2col.h; the direct kernel is in conv_direct.c).
 *
 * All loops walk whole output rows along W: for one kernel tap the valid run of output columns
 * is computed once (taps that fall outside the input read zero), so the inner loop is a plain
 * copy / axpy with no bounds test.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the inner row loops must vectorise */
#endif
#include "im2col.h"

#include <string.h>

#include "cpu.h"
#include "index_math.h"

int64_t tg_conv_geom_in_size(const tg_conv_geom *g) { return g->in[0] * g->in[1] * g->in[2]; }
int64_t tg_conv_geom_out_size(const tg_conv_geom *g) { return g->out[0] * g->out[1] * g->out[2]; }
int64_t tg_conv_geom_taps(const tg_conv_geom *g) { return g->kernel[0] * g->kernel[1] * g->kernel[2]; }

/* Input row (d, h) read by output row (od, oh) at taps (kd, kh), or -1 when outside. */
static int64_t input_row(const tg_conv_geom *g, int64_t od, int64_t oh, int64_t kd, int64_t kh)
{
    int64_t id = od * g->stride[0] + kd * g->dilation[0] - g->pad[0];
    int64_t ih = oh * g->stride[1] + kh * g->dilation[1] - g->pad[1];
    if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1]) return -1;
    return id * g->in[1] + ih;
}

void tg_im2col(const tg_conv_geom *g, const tg_real *x, tg_real *col, int64_t col_ld)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    const int64_t in_plane = tg_conv_geom_in_size(g);
    for (int64_t c = 0; c < g->channels; c++)
        for (int64_t kd = 0; kd < g->kernel[0]; kd++)
            for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                    int64_t offset = kw * g->dilation[2] - g->pad[2], lo, hi;
                    tg_valid_run(offset, sw, in_w, out_w, &lo, &hi);
                    tg_real *dst = col;
                    col += col_ld;
                    for (int64_t od = 0; od < g->out[0]; od++)
                        for (int64_t oh = 0; oh < g->out[1]; oh++, dst += out_w) {
                            int64_t row = input_row(g, od, oh, kd, kh);
                            if (row < 0) {
                                memset(dst, 0, (size_t)out_w * sizeof *dst);
                                continue;
                            }
                            const tg_real *src = x + c * in_plane + row * in_w + offset;
                            for (int64_t ow = 0; ow < lo; ow++) dst[ow] = 0;
                            if (sw == 1)
                                memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof *dst);
                            else
                                for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[ow * sw];
                            for (int64_t ow = hi; ow < out_w; ow++) dst[ow] = 0;
                        }
                }
}

void tg_col2im_add(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    const int64_t in_plane = tg_conv_geom_in_size(g);
    for (int64_t c = 0; c < g->channels; c++)
        for (int64_t kd = 0; kd < g->kernel[0]; kd++)
            for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                    int64_t offset = kw * g->dilation[2] - g->pad[2], lo, hi;
                    tg_valid_run(offset, sw, in_w, out_w, &lo, &hi);
                    const tg_real *src = col;
                    col += col_ld;
                    for (int64_t od = 0; od < g->out[0]; od++)
                        for (int64_t oh = 0; oh < g->out[1]; oh++, src += out_w) {
                            int64_t row = input_row(g, od, oh, kd, kh);
                            if (row < 0) continue;
                            tg_real *dst = dx + c * in_plane + row * in_w + offset;
                            if (sw == 1)
                                for (int64_t ow = lo; ow < hi; ow++) dst[ow] += src[ow];
                            else
                                for (int64_t ow = lo; ow < hi; ow++) dst[ow * sw] += src[ow];
                        }
                }
}

int64_t tg_col2im_split_pitch(const tg_conv_geom *g)
{
    return (g->in[2] + g->stride[2] - 1) / g->stride[2] * g->stride[2];
}

#define SPLIT_FN(name) split_##name##_base
#include "col2im_split_impl.h"
#undef SPLIT_FN

#if defined(__x86_64__)
/* im2col_avx512.c: the same loops built with AVX-512 */
void split_col2im_add_split_avx512(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx_split);
void split_phase_rows_add_avx512(tg_real *dx, int64_t width, int64_t stride, const tg_real *const *rows);
void split_phase_rows_split_avx512(const tg_real *src, int64_t n, int64_t lead, int64_t stride, int64_t count,
                                   tg_real *const *rows);
#endif

void tg_col2im_add_split(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx_split)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        split_col2im_add_split_avx512(g, col, col_ld, dx_split);
        return;
    }
#endif
    split_col2im_add_split_base(g, col, col_ld, dx_split);
}

void tg_phase_rows_split(const tg_real *src, int64_t n, int64_t lead, int64_t stride, int64_t count,
                         tg_real *const *rows)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        split_phase_rows_split_avx512(src, n, lead, stride, count, rows);
        return;
    }
#endif
    split_phase_rows_split_base(src, n, lead, stride, count, rows);
}

void tg_phase_rows_add(tg_real *dx, int64_t width, int64_t stride, const tg_real *const *rows)
{
#if defined(__x86_64__)
    if (tg_cpu_has_avx512()) {
        split_phase_rows_add_avx512(dx, width, stride, rows);
        return;
    }
#endif
    split_phase_rows_add_base(dx, width, stride, rows);
}
