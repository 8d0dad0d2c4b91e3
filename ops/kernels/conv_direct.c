/* ops/kernels/conv_direct.c — the direct convolution for thin groups (declared in im2col.h) and
 * the choice of its plane kernel: AVX-512 (conv_direct_avx512.c) or AVX2+FMA (conv_direct_avx2.c,
 * both from conv_direct_template.h) when the CPU has them, else the portable C below. All split
 * the work into planes (one input channel x one output channel);
 * see conv_direct_internal.h.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the portable inner row loops must vectorise */
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../../graph/error.h"
#include "conv_direct_internal.h"
#include "index_math.h"
#include "cpu.h"
#include "prefetch.h"

/* ---- portable plane kernels: tap by tap over the plane, rows along W ---- */

static void plane_portable(const tg_conv_geom *g, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    if (!accumulate) memset(y, 0, (size_t)tg_conv_geom_out_size(g) * sizeof *y);
    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
        for (int64_t kh = 0; kh < g->kernel[1]; kh++)
            for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                int64_t offset = kw * g->dilation[2] - g->pad[2], lo, hi;
                tg_valid_run(offset, sw, in_w, out_w, &lo, &hi);
                const tg_real wv = w[(kd * g->kernel[1] + kh) * g->kernel[2] + kw];
                tg_real *yrow = y;
                for (int64_t od = 0; od < g->out[0]; od++)
                    for (int64_t oh = 0; oh < g->out[1]; oh++, yrow += out_w) {
                        int64_t row = tg_conv_direct_input_row(g, od, oh, kd, kh);
                        if (row < 0) continue;
                        const tg_real *src = x + row * in_w + offset;
                        if (sw == 1)
                            for (int64_t ow = lo; ow < hi; ow++) yrow[ow] += wv * src[ow];
                        else
                            for (int64_t ow = lo; ow < hi; ow++) yrow[ow] += wv * src[ow * sw];
                    }
            }
}

#define DW_CHUNK 256 /* columns summed per pass, on the stack */

static void plane_dw_portable_one(const tg_conv_geom *g, const tg_real *x, const tg_real *dy, tg_real *dw)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    tg_real acc[DW_CHUNK];
    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
        for (int64_t kh = 0; kh < g->kernel[1]; kh++)
            for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                int64_t offset = kw * g->dilation[2] - g->pad[2], lo, hi;
                tg_valid_run(offset, sw, in_w, out_w, &lo, &hi);
                double sum = 0;
                /* column-wise partial sums over all rows (vectorises), then one reduction */
                for (int64_t c0 = lo; c0 < hi; c0 += DW_CHUNK) {
                    int64_t len = hi - c0 < DW_CHUNK ? hi - c0 : DW_CHUNK;
                    memset(acc, 0, (size_t)len * sizeof *acc);
                    const tg_real *dyrow = dy + c0;
                    for (int64_t od = 0; od < g->out[0]; od++)
                        for (int64_t oh = 0; oh < g->out[1]; oh++, dyrow += out_w) {
                            int64_t row = tg_conv_direct_input_row(g, od, oh, kd, kh);
                            if (row < 0) continue;
                            const tg_real *src = x + row * in_w + offset + c0 * sw;
                            if (sw == 1)
                                for (int64_t i = 0; i < len; i++) acc[i] += dyrow[i] * src[i];
                            else
                                for (int64_t i = 0; i < len; i++) acc[i] += dyrow[i] * src[i * sw];
                        }
                    for (int64_t i = 0; i < len; i++) sum += acc[i];
                }
                dw[(kd * g->kernel[1] + kh) * g->kernel[2] + kw] += (tg_real)sum;
            }
}

static void plane_dw_portable(const tg_conv_geom *g, const tg_real *x, int64_t x_step, const tg_real *dy,
                              int64_t dy_step, int64_t count, tg_real *dw)
{
    for (int64_t i = 0; i < count; i++) plane_dw_portable_one(g, x + i * x_step, dy + i * dy_step, dw);
}

static const tg_conv_direct_kernel kernel_portable = {
    .name = "portable", .plane = plane_portable, .plane_dw = plane_dw_portable};

/* ---- kernel choice ---- */

static const tg_kernel_variant direct_variants[] = {
    TG_SIMD_VARIANTS(&tg_conv_direct_kernel_avx512, &tg_conv_direct_kernel_avx2, &kernel_portable)};
static tg_kernel_choice direct_choice = TG_KERNEL_CHOICE(direct_variants, "TG_CONV_DIRECT_KERNEL");

static const tg_conv_direct_kernel *current_kernel(void) { return tg_kernel_choice_get(&direct_choice); }
int tg_conv_direct_set_kernel(const char *name) { return tg_kernel_choice_set(&direct_choice, name); }
const char *tg_conv_direct_kernel_name(void) { return tg_kernel_choice_name(&direct_choice); }

/* The kernel for this geometry: the SIMD kernels bound the kernel width and index rows in int32. */
static const tg_conv_direct_kernel *kernel_for(const tg_conv_geom *g)
{
    const tg_conv_direct_kernel *k = current_kernel();
    if (k != &kernel_portable &&
        (g->kernel[2] > TG_CONV_DIRECT_MAX_KW || (g->in[2] + g->out[2]) * g->stride[2] + g->kernel[2] * g->dilation[2] > INT32_MAX))
        return &kernel_portable;
    return k;
}

/* ---- the public kernels: one plane per (output channel, input channel) ---- */

void tg_conv_direct(const tg_conv_geom *g, int64_t out_channels, const tg_real *x, const tg_real *w,
                    tg_real *y, bool accumulate)
{
    const tg_conv_direct_kernel *k = kernel_for(g);
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g);
    const int64_t taps = tg_conv_geom_taps(g);
    for (int64_t o = 0; o < out_channels; o++) {
        if (g->channels == 0 && !accumulate) memset(y + o * out_plane, 0, (size_t)out_plane * sizeof *y);
        for (int64_t c = 0; c < g->channels; c++)
            k->plane(g, x + c * in_plane, w + (o * g->channels + c) * taps, y + o * out_plane, accumulate || c > 0);
    }
}

void tg_conv_direct_depthwise(const tg_conv_geom *g, int64_t groups, int64_t i0, int64_t i1, const tg_real *x,
                              const tg_real *w, tg_real *y, bool accumulate)
{
    const tg_conv_direct_kernel *k = kernel_for(g);
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g), taps = tg_conv_geom_taps(g);
    TG_ASSERT(g->channels == 1);
    if (k->planes) {
        k->planes(g, i1 - i0, x + i0 * in_plane, in_plane, w, groups, i0 % groups, y + i0 * out_plane, out_plane,
                  accumulate);
        return;
    }
    for (int64_t i = i0; i < i1; i++) k->plane(g, x + i * in_plane, w + i % groups * taps, y + i * out_plane, accumulate);
}

void tg_conv_direct_dw_batch(const tg_conv_geom *g, int64_t out_channels, const tg_real *x, int64_t x_step,
                             const tg_real *dy, int64_t dy_step, int64_t count, tg_real *dw)
{
    const tg_conv_direct_kernel *k = kernel_for(g);
    if (g->kernel[1] * g->kernel[2] > TG_CONV_DIRECT_DW_TAPS) k = &kernel_portable;
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g);
    const int64_t taps = tg_conv_geom_taps(g);
    for (int64_t o = 0; o < out_channels; o++)
        for (int64_t c = 0; c < g->channels; c++)
            k->plane_dw(g, x + c * in_plane, x_step, dy + o * out_plane, dy_step, count,
                        dw + (o * g->channels + c) * taps);
}

void tg_conv_direct_dw(const tg_conv_geom *g, int64_t out_channels, const tg_real *x,
                       const tg_real *dy, tg_real *dw)
{
    tg_conv_direct_dw_batch(g, out_channels, x, 0, dy, 0, 1, dw);
}

/* ---- depthwise with the channels in the lanes (conv_lanes_avx512.c) ---- */

/* The lanes kernel that goes with the direct kernel in use (AVX-512 only), else NULL. */
static const tg_conv_lanes_kernel *lanes_kernel(void)
{
#if defined(__x86_64__)
    if (current_kernel() == &tg_conv_direct_kernel_avx512) return &tg_conv_lanes_kernel_avx512;
#endif
    return NULL;
}

/* Whether the plan fits the kernels' limits (tile, output, taps, stride) and a lanes kernel is in use. */
static bool lanes_plan_fits(const tg_conv_lanes_plan *p)
{
    for (int i = 0; i < 3; i++)
        if (p->pad[i] < 0) return false; /* a crop: the tile starts at the first position turned in */
    return lanes_kernel() && p->tile_size <= TG_CONV_LANES_TILE_POSITIONS &&
           p->in_size <= TG_CONV_LANES_TILE_POSITIONS && p->out_size <= TG_CONV_LANES_OUT_POSITIONS &&
           p->taps <= TG_CONV_LANES_TAPS && p->sums.stride[2] <= TG_CONV_LANES_MAX_STRIDE;
}

/* The sizes of a plan whose in[], insert[], pad[] and sums are set: the tile covers what is turned
 * in and every position a window reads. false when it does not fit (lanes_plan_fits). */
static bool lanes_plan_sizes(tg_conv_lanes_plan *p)
{
    const tg_conv_geom *s = &p->sums;
    p->in_size = p->out_size = p->tile_size = 1;
    for (int i = 0; i < 3; i++) {
        const int64_t placed = p->pad[i] + (p->in[i] - 1) * p->insert[i] + 1;
        const int64_t read = (s->out[i] - 1) * s->stride[i] + (s->kernel[i] - 1) * s->dilation[i] + 1;
        p->tile[i] = placed > read ? placed : read;
        if (p->tile[i] > TG_CONV_LANES_TILE_POSITIONS) return false; /* (no overflow below) */
        p->in_size *= p->in[i];
        p->out_size *= s->out[i];
        p->tile_size *= p->tile[i];
        if (p->tile_size > TG_CONV_LANES_TILE_POSITIONS) return false;
    }
    p->taps = tg_conv_geom_taps(s);
    return lanes_plan_fits(p);
}

/* The forward: x turned in behind its padding, the convolution itself summed. */
static bool lanes_plan_forward(const tg_conv_geom *g, tg_conv_lanes_plan *p)
{
    *p = (tg_conv_lanes_plan){.sums = *g, .rotate = false};
    for (int i = 0; i < 3; i++) p->in[i] = g->in[i], p->insert[i] = 1, p->pad[i] = g->pad[i];
    return g->channels == 1 && lanes_plan_sizes(p);
}

/* dX = the full convolution of dY with the rotated filter: dY's positions `stride` apart (the
 * zeros between them never written), (kernel - 1)*dilation - pad of zeros around, summed at
 * stride 1 into dX's positions: dx[i] = sum_j w[K-1-j] * tile[i + j*dilation], where
 * tile[o*stride + (K-1)*dilation - pad] = dy[o], i.e. the taps k with o*stride + k*dilation - pad = i. */
static bool lanes_plan_adjoint(const tg_conv_geom *g, tg_conv_lanes_plan *p)
{
    *p = (tg_conv_lanes_plan){.sums = *g, .rotate = true};
    for (int i = 0; i < 3; i++) {
        p->in[i] = g->out[i];
        p->insert[i] = g->stride[i];
        p->pad[i] = (g->kernel[i] - 1) * g->dilation[i] - g->pad[i];
        p->sums.in[i] = g->out[i];
        p->sums.out[i] = g->in[i];
        p->sums.stride[i] = 1;
        p->sums.pad[i] = p->pad[i];
    }
    return g->channels == 1 && lanes_plan_sizes(p);
}

bool tg_conv_lanes_supported(const tg_conv_geom *g)
{
    tg_conv_lanes_plan p;
    return lanes_plan_forward(g, &p);
}
bool tg_conv_lanes_adjoint_supported(const tg_conv_geom *g)
{
    tg_conv_lanes_plan p;
    return lanes_plan_adjoint(g, &p);
}

static _Atomic int lanes_mode = TG_CONV_LANES_AUTO;
void tg_conv_lanes_set_mode(tg_conv_lanes_mode mode) { lanes_mode = mode; }

/* AUTO: the lanes kernels where they won. They pay two transposes a position for every lane busy
 * at every tap; the plane kernels pay a masked load a tap and idle the lanes past a row's end.
 * Depthwise forward + dX + dW, batch 64, 64 channels, plane / lanes ms (5 Dec, Zen 5, one thread):
 * 3x3 at 4x4 0.232 / 0.080, 7x7 0.304 / 0.195, 8x8 0.342 / 0.213, 10x10 0.487 / 0.387, 12x12
 * 0.553 / 0.512, 14x14 0.628 / 0.665, 16x16 0.720 / 0.936, 28x28 2.86 / 6.12; 5x5 at 8x8
 * 1.151 / 0.340, 16x16 3.158 / 1.382, 28x28 10.2 / 7.7, 56x56 68 / 33; 7x7 at 8x8 1.980 / 0.542,
 * 16x16 5.383 / 2.168, 28x28 16.9 / 9.7, 56x56 112 / 42. So: rows up to LANES_MAX_OUT_W outputs,
 * or filters of LANES_MIN_TAPS taps and more at any size the plan takes. */
#define LANES_MAX_OUT_W 12
#define LANES_MIN_TAPS 25

/* The mode and the rule above, for a geometry whose plan (forward or adjoint) is `supported`. */
static bool lanes_rule(const tg_conv_geom *g, bool supported)
{
    const int mode = lanes_mode;
    if (mode == TG_CONV_LANES_NEVER || !supported) return false;
    return mode == TG_CONV_LANES_ALWAYS || g->out[2] <= LANES_MAX_OUT_W || tg_conv_geom_taps(g) >= LANES_MIN_TAPS;
}
bool tg_conv_lanes_chosen(const tg_conv_geom *g) { return lanes_rule(g, tg_conv_lanes_supported(g)); }
bool tg_conv_lanes_adjoint_chosen(const tg_conv_geom *g) { return lanes_rule(g, tg_conv_lanes_adjoint_supported(g)); }

/* A plan's scratch (conv_lanes_avx512.c, lanes_scratch_of): 64-byte alignment, the tile with its
 * slack, the sums and the filter (lanes values a position or tap), the offset tables (int32). */
static int64_t lanes_plan_scratch(const tg_conv_lanes_plan *p, int64_t lanes)
{
    const int64_t offsets = (p->in_size + p->out_size) * (int64_t)sizeof(int32_t);
    return 64 / (int64_t)sizeof(tg_real) + (p->tile_size + TG_CONV_LANES_SLACK + p->out_size + p->taps) * lanes +
           (offsets + (int64_t)sizeof(tg_real) - 1) / (int64_t)sizeof(tg_real);
}

int64_t tg_conv_lanes_scratch(const tg_conv_geom *g)
{
    tg_conv_lanes_plan p;
    const int64_t lanes = tg_conv_lanes_width();
    int64_t forward = lanes_plan_forward(g, &p) ? lanes_plan_scratch(&p, lanes) : 0;
    int64_t adjoint = lanes_plan_adjoint(g, &p) ? lanes_plan_scratch(&p, lanes) : 0;
    return forward > adjoint ? forward : adjoint;
}

int64_t tg_conv_lanes_width(void) { return lanes_kernel() ? lanes_kernel()->lanes : 0; }
int64_t tg_conv_lanes_blocks(int64_t channels)
{
    const int64_t lanes = tg_conv_lanes_width();
    return lanes > 0 ? (channels + lanes - 1) / lanes : 0;
}

void tg_conv_lanes_forward(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t item0, int64_t item1,
                           const tg_real *x, const tg_real *w, tg_real *y, bool accumulate, tg_real *scratch)
{
    tg_conv_lanes_plan p;
    TG_ASSERT(lanes_plan_forward(g, &p));
    lanes_kernel()->forward(&p, channels, images, item0, item1, x, w, y, accumulate, scratch);
}

void tg_conv_lanes_adjoint(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t item0, int64_t item1,
                           const tg_real *dy, const tg_real *w, tg_real *dx, bool accumulate, tg_real *scratch)
{
    tg_conv_lanes_plan p;
    TG_ASSERT(lanes_plan_adjoint(g, &p));
    lanes_kernel()->forward(&p, channels, images, item0, item1, dy, w, dx, accumulate, scratch);
}

bool tg_conv_lanes_dw(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t block, const tg_real *x,
                      int64_t x_image, const tg_real *dy, int64_t dy_image, tg_real *dw, tg_real *scratch)
{
    tg_conv_lanes_plan p;
    TG_ASSERT(lanes_plan_forward(g, &p));
    return lanes_kernel()->dw(&p, channels, images, block, x, x_image, dy, dy_image, dw, scratch);
}

bool tg_conv_direct_adjoint_supported(const tg_conv_geom *g)
{
    return current_kernel()->plane_adjoint && g->in[0] == 1 && g->out[0] == 1 && g->kernel[0] == 1 &&
           g->kernel[1] == 3 && g->kernel[2] == 3 && g->stride[1] == 2 && g->stride[2] == 2 && g->dilation[1] == 1 &&
           g->dilation[2] == 1;
}

void tg_conv_direct_adjoint(const tg_conv_geom *g, int64_t out_channels, const tg_real *dy, const tg_real *w,
                            tg_real *dx, bool accumulate)
{
    const tg_conv_direct_kernel *k = current_kernel();
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g);
    const int64_t taps = tg_conv_geom_taps(g);
    TG_ASSERT(tg_conv_direct_adjoint_supported(g));
    if (!accumulate && out_channels == 0) memset(dx, 0, (size_t)(g->channels * in_plane) * sizeof *dx);
    for (int64_t o = 0; o < out_channels; o++) /* the first output channel writes dx, the others add */
        for (int64_t c = 0; c < g->channels; c++)
            k->plane_adjoint(g, dy + o * out_plane, w + (o * g->channels + c) * taps, dx + c * in_plane,
                             accumulate || o > 0, NULL, NULL);
}

void tg_conv_direct_adjoint_depthwise(const tg_conv_geom *g, int64_t groups, int64_t i0, int64_t i1, const tg_real *dy,
                                      const tg_real *w, tg_real *dx, bool accumulate)
{
    const tg_conv_direct_kernel *k = current_kernel();
    const int64_t in_plane = tg_conv_geom_in_size(g), out_plane = tg_conv_geom_out_size(g), taps = tg_conv_geom_taps(g);
    TG_ASSERT(g->channels == 1 && tg_conv_direct_adjoint_supported(g));
    for (int64_t i = i0; i < i1; i++) { /* the plane TG_PLANES_PREFETCH_AHEAD ahead asked for row by row */
        const int64_t ahead = i + TG_PLANES_PREFETCH_AHEAD;
        k->plane_adjoint(g, dy + i * out_plane, w + i % groups * taps, dx + i * in_plane, accumulate,
                         ahead < i1 ? dy + ahead * out_plane : NULL, ahead < i1 ? dx + ahead * in_plane : NULL);
    }
}
