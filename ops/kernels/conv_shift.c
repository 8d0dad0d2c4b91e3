/* ops/kernels/conv_shift.c — the shift convolution (conv_shift.h): its layout plan, the boxes and
 * wide rows it reads and writes, and the choice of its inner loops: AVX-512
 * (conv_shift_avx512.c) or AVX2+FMA (conv_shift_avx2.c) when the CPU has them, else the portable
 * loops below (conv_shift_template.h over one-lane "vectors").
 */

#include "../../graph/error.h"
#include "conv_shift_internal.h"
#include "cpu.h"
#include "parallel.h"

/* ---- the portable inner loops: the template over scalars ---- */
#define VLEN 1
typedef tg_real vec;
#define vzero() ((tg_real)0)
#define vset1(x) (x)
#define vloadu(p) (*(p))
#define vstoreu(p, v) (*(p) = (v))
#define vfma(a, b, c) ((a) * (b) + (c))
#define vhsum(v) (v)
#define vadd(a, b) ((a) + (b))
/* one-lane vectors have no partial ones: the tails below never run */
#define vloadn(p, n) (*(p))
#define vstoren(p, v, n) (*(p) = (v))
#define vkeep(v) ((void)(v))
#define FWD_OB 4
#define FWD_V 4
#define DW_OB 2
#define DW_TB 4
#define SHIFT_KERNEL tg_conv_shift_kernel_portable
#define SHIFT_KERNEL_NAME "portable"
extern const tg_conv_shift_kernel tg_conv_shift_kernel_portable;
#include "conv_shift_template.h"

/* ---- kernel choice ---- */

static const tg_kernel_variant shift_variants[] = {
    TG_SIMD_VARIANTS(&tg_conv_shift_kernel_avx512, &tg_conv_shift_kernel_avx2, &tg_conv_shift_kernel_portable)};
static tg_kernel_choice shift_choice = TG_KERNEL_CHOICE(shift_variants, "TG_CONV_SHIFT_KERNEL");

static const tg_conv_shift_kernel *current_kernel(void) { return tg_kernel_choice_get(&shift_choice); }
int tg_conv_shift_set_kernel(const char *name) { return tg_kernel_choice_set(&shift_choice, name); }
const char *tg_conv_shift_kernel_name(void) { return tg_kernel_choice_name(&shift_choice); }
bool tg_conv_shift_kernel_is_simd(void) { return current_kernel() != &tg_conv_shift_kernel_portable; }

/* ---- the plan ---- */

#define SHIFT_PLANE_ALIGN 16 /* elements a box plane is rounded to: whole 64-byte lines for floats */

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* Phase boxes' extents (a phase box holds every stride-th padded input position: out + the
 * largest tap's shift, dilation*(kernel-1)/stride, positions along each dim) and the elements of
 * one, or false when the boxes of all phases overflow int32 offsets (a box that large is far
 * outside what this path is chosen for). */
static bool shift_extents(const tg_conv_geom *g, int64_t extent[3], int64_t *box)
{
    *box = 1;
    int64_t phases = 1;
    for (int d = 0; d < 3; d++) {
        if (g->out[d] < 1 || g->kernel[d] < 1 || g->dilation[d] < 1 || g->stride[d] < 1) return false;
        if (g->kernel[d] - 1 > (INT32_MAX - g->out[d]) / g->dilation[d]) return false;
        if (g->stride[d] > TG_CONV_SHIFT_MAX_PHASES / phases) return false;
        phases *= g->stride[d];
        extent[d] = g->out[d] + g->dilation[d] * (g->kernel[d] - 1) / g->stride[d];
        if (extent[d] > INT32_MAX / 4 / phases / *box) return false;
        *box *= extent[d];
    }
    return true;
}

bool tg_conv_shift_supported(const tg_conv_geom *g)
{
    int64_t extent[3], box;
    return tg_conv_geom_taps(g) <= TG_CONV_SHIFT_MAX_TAPS && shift_extents(g, extent, &box);
}

/* Output channels per forward block for og of them: the kernel's, or half for few channels. */
static int64_t out_block_for(const tg_conv_shift_kernel *k, int64_t og)
{
    return og <= k->out_block / 2 ? k->out_block / 2 : k->out_block;
}

/* The span with kernel k: positions up to the last one kept, in whole blocks of the block og
 * output channels take (the half-channel block covers twice the kernel's positions). */
static int64_t span_for(const tg_conv_shift_kernel *k, const int64_t extent[3], const tg_conv_geom *g, int64_t og)
{
    const int64_t block = k->positions * (k->out_block / out_block_for(k, og));
    const int64_t last = ((g->out[0] - 1) * extent[1] + g->out[1] - 1) * extent[2] + g->out[2];
    return round_up(last, block);
}

int64_t tg_conv_shift_span(const tg_conv_geom *g, int64_t og)
{
    int64_t extent[3], box;
    const bool supported = shift_extents(g, extent, &box);
    TG_ASSERT(supported);
    return span_for(current_kernel(), extent, g, og);
}

void tg_conv_shift_plan_make(const tg_conv_geom *g, int64_t og, tg_conv_shift_plan *p)
{
    int64_t box;
    p->taps = tg_conv_geom_taps(g);
    const bool supported = p->taps <= TG_CONV_SHIFT_MAX_TAPS && shift_extents(g, p->extent, &box);
    TG_ASSERT(supported); /* tg_conv_shift_supported(g), with the extents kept */
    const int64_t e1 = p->extent[1], e2 = p->extent[2];
    const int64_t *s = g->stride;
    p->kernel = current_kernel();
    p->phases = s[0] * s[1] * s[2];
    /* tap (kd, kh, kw) reads padded input (s*o + k*dilation) per dim: phase (k*dilation) % s of
     * the input, shifted by (k*dilation) / s inside that phase's box */
    int64_t t = 0, shift[TG_CONV_SHIFT_MAX_TAPS], phase[TG_CONV_SHIFT_MAX_TAPS], reach_max = 0;
    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
        for (int64_t kh = 0; kh < g->kernel[1]; kh++)
            for (int64_t kw = 0; kw < g->kernel[2]; kw++, t++) {
                const int64_t ed = kd * g->dilation[0], eh = kh * g->dilation[1], ew = kw * g->dilation[2];
                shift[t] = (ed / s[0] * e1 + eh / s[1]) * e2 + ew / s[2];
                phase[t] = (ed % s[0] * s[1] + eh % s[1]) * s[2] + ew % s[2];
                reach_max = shift[t] > reach_max ? shift[t] : reach_max;
            }
    /* every read of the computed positions inside its phase's box */
    p->span = span_for(p->kernel, p->extent, g, og);
    const int64_t reach = p->span + reach_max;
    p->phase_plane = round_up(reach > box ? reach : box, SHIFT_PLANE_ALIGN);
    p->plane = p->phases * p->phase_plane;
    for (t = 0; t < p->taps; t++) p->offset[t] = (int32_t)(phase[t] * p->phase_plane + shift[t]);
    p->out_channels = og;
    p->out_block = out_block_for(p->kernel, og);
    p->out_blocks = (og + p->out_block - 1) / p->out_block;
    p->positions = p->kernel->positions * (p->kernel->out_block / p->out_block);
}

/* ---- forward ---- */

int64_t tg_conv_shift_packed_w_size(const tg_conv_shift_plan *p, int64_t channels)
{
    return p->out_blocks * p->out_block * channels * p->taps;
}

int64_t tg_conv_shift_forward_scratch(const tg_conv_shift_plan *p, int64_t channels)
{
    return channels * p->plane + p->out_channels * p->span;
}

void tg_conv_shift_pack_w(const tg_conv_shift_plan *p, int64_t channels, const tg_real *w, tg_real *packed)
{
    const int64_t ob = p->out_block, taps = p->taps;
    for (int64_t b = 0; b < p->out_blocks; b++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t t = 0; t < taps; t++)
                for (int64_t i = 0; i < ob; i++) {
                    const int64_t o = b * ob + i;
                    *packed++ = o < p->out_channels ? w[(o * channels + c) * taps + t] : 0;
                }
}

typedef struct forward_job {
    const tg_conv_shift_plan *p;
    int64_t channels;
    const tg_real *box, *packed_w;
    tg_real *wide;
} forward_job;

static void forward_range(void *ctx, int64_t begin, int64_t end)
{
    const forward_job *j = ctx;
    const int64_t block = j->p->positions;
    j->p->kernel->forward(j->p, j->channels, j->box, j->packed_w, j->wide, begin * block, end * block);
}

void tg_conv_shift_forward(const tg_conv_geom *g, const tg_conv_shift_plan *p, const tg_real *x,
                           const tg_real *packed_w, tg_real *y, bool accumulate, bool split_positions,
                           tg_real *scratch)
{
    const int64_t channels = g->channels, og = p->out_channels;
    tg_real *box = scratch, *wide = scratch + channels * p->plane;
    if (og == 0) return;
    p->kernel->fill(g, p, channels, x, box);
    forward_job job = {p, channels, box, packed_w, wide};
    if (split_positions)
        tg_parallel_for(p->span / p->positions, forward_range, &job);
    else
        forward_range(&job, 0, p->span / p->positions);
    p->kernel->from_wide(g, p, wide, y, accumulate);
}

/* ---- weight gradient ---- */

int64_t tg_conv_shift_dw_scratch(const tg_conv_shift_plan *p, int64_t channels, int64_t images)
{
    return images * (channels * p->plane + p->out_channels * p->span);
}

void tg_conv_shift_dw(const tg_conv_geom *g, const tg_conv_shift_plan *p, int64_t images, const tg_real *x,
                      int64_t x_stride, const tg_real *dy, int64_t dy_stride, tg_real *dw, tg_real *scratch)
{
    const int64_t channels = g->channels, og = p->out_channels;
    tg_real *boxes = scratch, *dy_wide = scratch + images * channels * p->plane;
    if (og == 0 || channels == 0) return;
    for (int64_t n = 0; n < images; n++) {
        p->kernel->fill(g, p, channels, x + n * x_stride, boxes + n * channels * p->plane);
        p->kernel->to_wide(g, p, dy + n * dy_stride, dy_wide + n * og * p->span);
    }
    p->kernel->dw(p, channels, images, boxes, dy_wide, dw);
}
