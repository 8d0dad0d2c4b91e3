/* ops/kernels/im2col.c — N-d im2col / col2im and the direct kernel (see im2col.h).
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

int64_t tg_conv_geom_in_size(const tg_conv_geom *g) { return g->in[0] * g->in[1] * g->in[2]; }
int64_t tg_conv_geom_out_size(const tg_conv_geom *g) { return g->out[0] * g->out[1] * g->out[2]; }
int64_t tg_conv_geom_taps(const tg_conv_geom *g) { return g->kernel[0] * g->kernel[1] * g->kernel[2]; }

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Output indices o in [*lo, *hi) with 0 <= o*stride + offset < in, clipped to [0, out). */
static void valid_run(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t a = floor_div(-offset + stride - 1, stride);  /* ceil(-offset / stride) */
    int64_t b = floor_div(in - 1 - offset, stride) + 1;
    if (a < 0) a = 0;
    if (b > out) b = out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

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
                    valid_run(offset, sw, in_w, out_w, &lo, &hi);
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
                    valid_run(offset, sw, in_w, out_w, &lo, &hi);
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

void tg_conv_direct(const tg_conv_geom *g, int64_t out_channels, const tg_real *x, const tg_real *w,
                    tg_real *y, bool accumulate)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g);
    const int64_t taps = tg_conv_geom_taps(g);
    if (!accumulate) memset(y, 0, (size_t)(out_channels * out_plane) * sizeof *y);
    for (int64_t o = 0; o < out_channels; o++)
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                tg_real *yrow = y + o * out_plane + (od * g->out[1] + oh) * out_w;
                for (int64_t c = 0; c < g->channels; c++) {
                    const tg_real *wk = w + (o * g->channels + c) * taps;
                    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                        for (int64_t kh = 0; kh < g->kernel[1]; kh++, wk += g->kernel[2]) {
                            int64_t row = input_row(g, od, oh, kd, kh);
                            if (row < 0) continue;
                            const tg_real *xrow = x + c * in_plane + row * in_w;
                            for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                                int64_t offset = kw * g->dilation[2] - g->pad[2], lo, hi;
                                valid_run(offset, sw, in_w, out_w, &lo, &hi);
                                const tg_real wv = wk[kw], *src = xrow + offset;
                                if (sw == 1)
                                    for (int64_t ow = lo; ow < hi; ow++) yrow[ow] += wv * src[ow];
                                else
                                    for (int64_t ow = lo; ow < hi; ow++) yrow[ow] += wv * src[ow * sw];
                            }
                        }
                }
            }
}

/* sum_i a[i] * b[i*stride], in 8 independent partial sums so the loop vectorises. */
static double strided_dot(const tg_real *a, const tg_real *b, int64_t stride, int64_t n)
{
    tg_real part[8] = {0};
    int64_t i = 0;
    if (stride == 1)
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) part[l] += a[i + l] * b[i + l];
    double sum = 0;
    for (; i < n; i++) sum += (double)a[i] * b[i * stride];
    for (int l = 0; l < 8; l++) sum += part[l];
    return sum;
}

void tg_conv_direct_dw(const tg_conv_geom *g, int64_t out_channels, const tg_real *x,
                       const tg_real *dy, tg_real *dw)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g);
    const int64_t taps = tg_conv_geom_taps(g);
    for (int64_t o = 0; o < out_channels; o++)
        for (int64_t c = 0; c < g->channels; c++) {
            tg_real *wk = dw + (o * g->channels + c) * taps;
            for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                    for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                        int64_t offset = kw * g->dilation[2] - g->pad[2], lo, hi;
                        valid_run(offset, sw, in_w, out_w, &lo, &hi);
                        double sum = 0;
                        for (int64_t od = 0; od < g->out[0]; od++)
                            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                                int64_t row = input_row(g, od, oh, kd, kh);
                                if (row < 0) continue;
                                const tg_real *dyrow = dy + o * out_plane + (od * g->out[1] + oh) * out_w;
                                const tg_real *src = x + c * in_plane + row * in_w + offset;
                                sum += strided_dot(dyrow + lo, src + lo * sw, sw, hi - lo);
                            }
                        wk[(kd * g->kernel[1] + kh) * g->kernel[2] + kw] += (tg_real)sum;
                    }
        }
}
