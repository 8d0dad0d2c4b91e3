/* ops/kernels/conv_ovec.c — the direct convolution vectorised over output channels (conv_ovec.h):
 * its plan, the boxes and turned dY it reads, and the choice of its inner loops: AVX-512
 * (conv_ovec_avx512.c) or AVX2+FMA (conv_ovec_avx2.c) when the CPU has them, else the portable
 * loops below (conv_ovec_template.h over 16-byte vectors, which the compiler maps to what it has).
 */
#include <string.h>

#include "../../graph/error.h"
#include "conv_ovec_internal.h"
#include "cpu.h"
#include "parallel.h"

/* ---- the portable inner loops ---- */
#define VLEN (16 / (int)sizeof(tg_real)) /* one SSE2 register on x86-64: no wider vector crosses a call */
#define OB_MAX 2
#define FWD_P1 8
#define FWD_P2 4
#define FWD_P3 4 /* unused: OB_MAX 2 */
#define DW_T1 8
#define DW_T2 4
#define DW_T3 4
#define OVEC_KERNEL tg_conv_ovec_kernel_portable
#define OVEC_KERNEL_NAME "portable"
extern const tg_conv_ovec_kernel tg_conv_ovec_kernel_portable;
#include "conv_ovec_template.h"

/* ---- kernel choice ---- */

static const tg_kernel_variant ovec_variants[] = {
    TG_SIMD_VARIANTS(&tg_conv_ovec_kernel_avx512, &tg_conv_ovec_kernel_avx2, &tg_conv_ovec_kernel_portable)};
static tg_kernel_choice ovec_choice = TG_KERNEL_CHOICE(ovec_variants, "TG_CONV_OVEC_KERNEL");

static const tg_conv_ovec_kernel *current_kernel(void) { return tg_kernel_choice_get(&ovec_choice); }
int tg_conv_ovec_set_kernel(const char *name) { return tg_kernel_choice_set(&ovec_choice, name); }
const char *tg_conv_ovec_kernel_name(void) { return tg_kernel_choice_name(&ovec_choice); }
int64_t tg_conv_ovec_lanes(void) { return current_kernel()->lanes; }
bool tg_conv_ovec_kernel_is_simd(void) { return current_kernel() != &tg_conv_ovec_kernel_portable; }

/* ---- the plan ---- */

/* A channel's box starts on a cache line: each plane rounded to this many elements. */
#define OVEC_PLANE_ALIGN 16

/* The box's extents (every read of every output position inside) and its elements; false when
 * the geometry is degenerate or the offsets would leave int32. */
static bool ovec_extents(const tg_conv_geom *g, int64_t extent[3], int64_t *box)
{
    *box = 1;
    for (int d = 0; d < 3; d++) {
        if (g->out[d] < 1 || g->kernel[d] < 1 || g->dilation[d] < 1 || g->stride[d] < 1 || g->in[d] < 1) return false;
        if (g->out[d] - 1 > INT32_MAX / g->stride[d] || g->kernel[d] - 1 > INT32_MAX / g->dilation[d]) return false;
        extent[d] = (g->out[d] - 1) * g->stride[d] + g->dilation[d] * (g->kernel[d] - 1) + 1;
        if (extent[d] > INT32_MAX / 2 / *box) return false;
        *box *= extent[d];
    }
    return true;
}

bool tg_conv_ovec_supported(const tg_conv_geom *g)
{
    int64_t extent[3], box;
    return tg_conv_geom_taps(g) <= TG_CONV_OVEC_MAX_TAPS && ovec_extents(g, extent, &box);
}

void tg_conv_ovec_plan_make(const tg_conv_geom *g, int64_t og, tg_conv_ovec_plan *p)
{
    int64_t box = 0;
    p->taps = tg_conv_geom_taps(g);
    const bool supported = p->taps <= TG_CONV_OVEC_MAX_TAPS && ovec_extents(g, p->extent, &box);
    TG_ASSERT(supported); /* tg_conv_ovec_supported(g), with the extents kept */
    p->kernel = current_kernel();
    p->plane = (box + OVEC_PLANE_ALIGN - 1) / OVEC_PLANE_ALIGN * OVEC_PLANE_ALIGN;
    p->positions = tg_conv_geom_out_size(g);
    p->out_channels = og;
    p->o_pad = (og + p->kernel->lanes - 1) / p->kernel->lanes * p->kernel->lanes;
    const int64_t e1 = p->extent[1], e2 = p->extent[2];
    int64_t t = 0;
    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
        for (int64_t kh = 0; kh < g->kernel[1]; kh++)
            for (int64_t kw = 0; kw < g->kernel[2]; kw++, t++)
                p->offset[t] = (int32_t)((kd * g->dilation[0] * e1 + kh * g->dilation[1]) * e2 + kw * g->dilation[2]);
}

/* Where each output position's window starts in a box: pos[q] for q < positions. */
static void position_offsets(const tg_conv_geom *g, const tg_conv_ovec_plan *p, int32_t *pos)
{
    const int64_t e1 = p->extent[1], e2 = p->extent[2];
    int64_t q = 0;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++)
            for (int64_t ow = 0; ow < g->out[2]; ow++)
                pos[q++] = (int32_t)((od * g->stride[0] * e1 + oh * g->stride[1]) * e2 + ow * g->stride[2]);
}

/* box[c] = channel c of x:[channels, in...] zero-padded (input index i at box index i + pad;
 * inputs past the extent are read by no output and left out). */
static void fill_boxes(const tg_conv_geom *g, const tg_conv_ovec_plan *p, int64_t channels, const tg_real *x,
                       tg_real *box)
{
    const int64_t e0 = p->extent[0], e1 = p->extent[1], e2 = p->extent[2];
    const int64_t in0 = g->in[0], in1 = g->in[1], in2 = g->in[2], plane_in = in0 * in1 * in2;
    /* the columns of an input row that land inside the box */
    const int64_t pad2 = g->pad[2], w_lo = pad2 < 0 ? -pad2 : 0;
    const int64_t w_hi = in2 < e2 - pad2 ? in2 : e2 - pad2;
    for (int64_t c = 0; c < channels; c++) {
        tg_real *bc = box + c * p->plane;
        memset(bc, 0, (size_t)p->plane * sizeof *bc);
        if (w_hi <= w_lo) continue;
        for (int64_t d = 0; d < in0; d++) {
            const int64_t bd = d + g->pad[0];
            if (bd < 0 || bd >= e0) continue;
            for (int64_t h = 0; h < in1; h++) {
                const int64_t bh = h + g->pad[1];
                if (bh < 0 || bh >= e1) continue;
                memcpy(bc + (bd * e1 + bh) * e2 + w_lo + pad2, x + c * plane_in + (d * in1 + h) * in2 + w_lo,
                       (size_t)(w_hi - w_lo) * sizeof *bc);
            }
        }
    }
}

/* Elements of tg_real that hold n int32 offsets. */
static int64_t offsets_size(int64_t n)
{
    return (n * (int64_t)sizeof(int32_t) + (int64_t)sizeof(tg_real) - 1) / (int64_t)sizeof(tg_real);
}

/* ---- forward ---- */

int64_t tg_conv_ovec_packed_w_size(const tg_conv_ovec_plan *p, int64_t channels)
{
    return channels * p->taps * p->o_pad;
}

void tg_conv_ovec_pack_w(const tg_conv_ovec_plan *p, int64_t channels, const tg_real *w, tg_real *packed)
{
    const int64_t taps = p->taps, og = p->out_channels;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t t = 0; t < taps; t++)
            for (int64_t o = 0; o < p->o_pad; o++) *packed++ = o < og ? w[(o * channels + c) * taps + t] : 0;
}

int64_t tg_conv_ovec_forward_scratch(const tg_conv_ovec_plan *p, int64_t channels)
{
    return channels * p->plane + offsets_size(p->positions);
}

typedef struct forward_job {
    const tg_conv_ovec_plan *p;
    int64_t channels;
    const tg_real *box, *packed_w;
    const int32_t *pos;
    tg_real *y;
    bool accumulate;
} forward_job;

static void forward_range(void *ctx, int64_t begin, int64_t end)
{
    const forward_job *j = ctx;
    j->p->kernel->forward(j->p, j->channels, j->box, j->pos, j->packed_w, j->y, j->accumulate, begin, end);
}

void tg_conv_ovec_forward(const tg_conv_geom *g, const tg_conv_ovec_plan *p, const tg_real *x, const tg_real *packed_w,
                          tg_real *y, bool accumulate, bool split, tg_real *scratch)
{
    const int64_t channels = g->channels;
    if (p->out_channels == 0) return;
    tg_real *box = scratch;
    int32_t *pos = (int32_t *)(scratch + channels * p->plane);
    fill_boxes(g, p, channels, x, box);
    position_offsets(g, p, pos);
    forward_job job = {p, channels, box, packed_w, pos, y, accumulate};
    const int64_t items = p->kernel->items(p);
    if (split) tg_parallel_for(items, forward_range, &job);
    else forward_range(&job, 0, items);
}

/* ---- weight gradient ---- */

int64_t tg_conv_ovec_dw_scratch(const tg_conv_ovec_plan *p, int64_t channels, int64_t images)
{
    /* boxes | dY turned, [positions][o_pad] per image | the sums [channels][taps][o_pad] | offsets */
    return images * (channels * p->plane + p->positions * p->o_pad) + channels * p->taps * p->o_pad +
           offsets_size(p->positions);
}

typedef struct dw_job {
    const tg_conv_ovec_plan *p;
    int64_t channels, images;
    const tg_real *boxes, *dyt;
    const int32_t *pos;
    tg_real *acc;
} dw_job;

static void dw_range(void *ctx, int64_t c0, int64_t c1)
{
    const dw_job *j = ctx;
    j->p->kernel->dw(j->p, j->channels, j->images, j->boxes, j->pos, j->dyt, j->acc, c0, c1);
}

void tg_conv_ovec_dw(const tg_conv_geom *g, const tg_conv_ovec_plan *p, int64_t images, const tg_real *x,
                     int64_t x_stride, const tg_real *dy, int64_t dy_stride, tg_real *dw, tg_real *scratch)
{
    const int64_t channels = g->channels, og = p->out_channels, o_pad = p->o_pad, positions = p->positions;
    const int64_t taps = p->taps;
    if (og == 0 || channels == 0 || images == 0) return;
    tg_real *boxes = scratch, *dyt = boxes + images * channels * p->plane, *acc = dyt + images * positions * o_pad;
    int32_t *pos = (int32_t *)(acc + channels * taps * o_pad);
    position_offsets(g, p, pos);
    for (int64_t n = 0; n < images; n++) {
        fill_boxes(g, p, channels, x + n * x_stride, boxes + n * channels * p->plane);
        tg_real *dn = dyt + n * positions * o_pad;
        const tg_real *dyn = dy + n * dy_stride;
        for (int64_t q = 0; q < positions; q++) /* [og][positions] -> [positions][o_pad] */
            for (int64_t o = 0; o < o_pad; o++) dn[q * o_pad + o] = o < og ? dyn[o * positions + q] : 0;
    }
    memset(acc, 0, (size_t)(channels * taps * o_pad) * sizeof *acc);
    dw_job job = {p, channels, images, boxes, dyt, pos, acc};
    tg_parallel_for(channels, dw_range, &job); /* each channel's sums by one thread, in order */
    for (int64_t o = 0; o < og; o++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t t = 0; t < taps; t++) dw[(o * channels + c) * taps + t] += acc[(c * taps + t) * o_pad + o];
}
