/* ops/kernels/col2im_split_impl.h — the strided col2im's split-phase loops (see im2col.h), kept
 * in one place for two builds: im2col.c compiles them for the baseline ISA and im2col_avx512.c with
 * AVX-512 enabled, so the compiler vectorises the same loops 16 floats wide (im2col.c picks at run
 * time). Include with SPLIT_FN(name) defined to name the functions. An includer with SIMD defines
 * SPLIT_SIMD and, before the include, SPLIT_FN(add_run) and SPLIT_FN(pair_add) (the two inner
 * loops, whole vectors plus one masked tail: the compiler's own tails are scalar, and a 28-element
 * run is 12 scalar adds after one vector). */
#include "im2col.h"
#include "index_math.h"

#ifndef SPLIT_SIMD
/* dst[0:n] += src[0:n] */
static inline void SPLIT_FN(add_run)(tg_real *restrict dst, const tg_real *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* even[a] = src[2a], odd[a] = src[2a + 1] for a < pairs */
static inline void SPLIT_FN(pair_split)(const tg_real *restrict src, tg_real *restrict even, tg_real *restrict odd,
                                        int64_t pairs)
{
    for (int64_t a = 0; a < pairs; a++) {
        even[a] = src[2 * a];
        odd[a] = src[2 * a + 1];
    }
}

/* dx[2a] += even[a], dx[2a + 1] += odd[a] for a < pairs */
static inline void SPLIT_FN(pair_add)(tg_real *restrict dx, const tg_real *restrict even, const tg_real *restrict odd,
                                      int64_t pairs)
{
    for (int64_t a = 0; a < pairs; a++) { /* vectorises: two loads, interleaved into the row */
        dx[2 * a] += even[a];
        dx[2 * a + 1] += odd[a];
    }
}
#endif


void SPLIT_FN(col2im_add_split)(const tg_conv_geom *g, const tg_real *col, int64_t col_ld, tg_real *dx_split)
{
    const int64_t out_w = g->out[2], sw = g->stride[2], len = (g->in[2] + sw - 1) / sw, pitch = len * sw;
    const int64_t plane = g->in[0] * g->in[1] * pitch;
    for (int64_t c = 0; c < g->channels; c++)
        for (int64_t kd = 0; kd < g->kernel[0]; kd++)
            for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                    /* input column ow*sw + offset = (ow + q)*sw + r: phase r, element ow + q */
                    int64_t offset = kw * g->dilation[2] - g->pad[2], q = tg_floor_div(offset, sw), r = offset - q * sw;
                    int64_t lo = -q > 0 ? -q : 0, hi = len - q < out_w ? len - q : out_w;
                    const tg_real *src = col;
                    col += col_ld;
                    for (int64_t od = 0; od < g->out[0]; od++)
                        for (int64_t oh = 0; oh < g->out[1]; oh++, src += out_w) {
                            int64_t id = od * g->stride[0] + kd * g->dilation[0] - g->pad[0];
                            int64_t ih = oh * g->stride[1] + kh * g->dilation[1] - g->pad[1];
                            if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1]) continue;
                            tg_real *dst = dx_split + c * plane + (id * g->in[1] + ih) * pitch + r * len + q;
                            if (hi > lo) SPLIT_FN(add_run)(dst + lo, src + lo, hi - lo);
                        }
                }
}

static void SPLIT_FN(phase_pair_add)(tg_real *restrict dx, int64_t width, const tg_real *restrict even,
                                     const tg_real *restrict odd)
{
    const int64_t pairs = width / 2;
    SPLIT_FN(pair_add)(dx, even, odd, pairs);
    if (width % 2) dx[width - 1] += even[pairs];
}

void SPLIT_FN(phase_rows_add)(tg_real *dx, int64_t width, int64_t stride, const tg_real *const *rows)
{
    if (stride == 2 && rows[0] && rows[1]) {
        SPLIT_FN(phase_pair_add)(dx, width, rows[0], rows[1]);
        return;
    }
    for (int64_t r = 0; r < stride; r++)
        if (rows[r])
            for (int64_t a = 0; a * stride + r < width; a++) dx[a * stride + r] += rows[r][a];
}

void SPLIT_FN(phase_rows_split)(const tg_real *src, int64_t n, int64_t lead, int64_t stride, int64_t count,
                                tg_real *const *rows)
{
    int64_t a = 0;
    if (stride == 2) { /* whole pairs inside src: one load of both phases */
        int64_t a0 = (lead + 1) / 2, a1 = (n + lead - 1) / 2; /* 2a - lead >= 0, 2a + 1 - lead < n */
        a1 = a1 < count ? a1 : count;
        for (; a < a0 && a < count; a++)
            for (int64_t r = 0; r < 2; r++) {
                const int64_t t = 2 * a + r - lead;
                rows[r][a] = t >= 0 && t < n ? src[t] : 0;
            }
        if (a1 > a) {
            SPLIT_FN(pair_split)(src + 2 * a - lead, rows[0] + a, rows[1] + a, a1 - a);
            a = a1;
        }
    }
    for (; a < count; a++)
        for (int64_t r = 0; r < stride; r++) {
            const int64_t t = a * stride + r - lead;
            rows[r][a] = t >= 0 && t < n ? src[t] : 0;
        }
}
