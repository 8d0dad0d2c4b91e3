/* ops/kernels/conv_reference.c — the reference convolution: the three formulas of the core
 * convolution (conv_engine.h) as loops, nothing tuned. It is the text to learn the convolution
 * from (docs/convolution.md) and the oracle the tests hold the fast paths to; `algo=reference`
 * and `dx_algo=reference` (tg op, tg_conv_set_algo, tg_conv_set_dx_path) run it.
 *
 * Along each spatial dim, output b and tap k read input i = b*stride + k*dilation - pad; an i
 * outside [0, in) reads zero and is skipped (no product is formed with it).
 *   forward  B[n, g*Og+o, b] = sum_{c<Cg, k} W[g*Og+o, c, k] A[n, g*Cg+c, i(b, k)]
 *   dA       the full convolution of dB, zero-inserted by the stride (Z[m] = dB[m/s] where s
 *            divides m, else 0), with the 180°-rotated, channel-swapped filter
 *            R[g*Cg+c, o, j] = W[g*Og+o, c, K-1-j], padded by dilation*(K-1) - pad:
 *              dA[n, g*Cg+c, i] = sum_{o<Og, j} R[g*Cg+c, o, j] Z[n, g*Og+o, i + j*dilation - (dilation*(K-1) - pad)]
 *   dW       the correlation of A with dB: dW[g*Og+o, c, k] = sum_{n, b} dB[n, g*Og+o, b] A[n, g*Cg+c, i(b, k)]
 * Sums run in double. Plain loops over plain arrays: no scratch, no threads.
 */
#include "conv_engine.h"

/* Row-major index of (d, h, w) in a [size[0], size[1], size[2]] volume, or -1 when outside. */
static int64_t at3(const int64_t *size, int64_t d, int64_t h, int64_t w)
{
    if (d < 0 || h < 0 || w < 0 || d >= size[0] || h >= size[1] || w >= size[2]) return -1;
    return (d * size[1] + h) * size[2] + w;
}

/* The input position tap (kd, kh, kw) of output (bd, bh, bw) reads: i = b*stride + k*dilation - pad. */
static int64_t tap_input(const tg_conv_geom *g, const int64_t *b, const int64_t *k)
{
    int64_t i[3];
    for (int d = 0; d < 3; d++) i[d] = b[d] * g->stride[d] + k[d] * g->dilation[d] - g->pad[d];
    return at3(g->in, i[0], i[1], i[2]);
}

/* Iterates x over every index of a [size[0], size[1], size[2]] volume. */
#define FOR3(x, size)                                  \
    for (x[0] = 0; x[0] < (size)[0]; x[0]++)           \
        for (x[1] = 0; x[1] < (size)[1]; x[1]++)       \
            for (x[2] = 0; x[2] < (size)[2]; x[2]++)

void tg_conv_reference_forward(const tg_conv_core *k, const tg_real *a, const tg_real *w, tg_real *b,
                               bool accumulate)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t cg = g->channels, og = k->cb / k->groups, taps = tg_conv_geom_taps(g);
    const int64_t pa = tg_conv_geom_in_size(g), pb = tg_conv_geom_out_size(g);
    int64_t out[3], tap[3];
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->cb; o++) {
            const int64_t grp = o / og;
            tg_real *bo = b + (n * k->cb + o) * pb;
            FOR3(out, g->out) {
                double sum = 0;
                for (int64_t c = 0; c < cg; c++) {
                    const tg_real *ac = a + (n * k->ca + grp * cg + c) * pa, *wc = w + (o * cg + c) * taps;
                    FOR3(tap, g->kernel) {
                        int64_t i = tap_input(g, out, tap);
                        if (i >= 0) sum += (double)wc[at3(g->kernel, tap[0], tap[1], tap[2])] * ac[i];
                    }
                }
                tg_real *y = bo + at3(g->out, out[0], out[1], out[2]);
                *y = (tg_real)(accumulate ? *y + sum : sum);
            }
        }
}

void tg_conv_reference_dx(const tg_conv_core *k, const tg_real *db, const tg_real *w, tg_real *da)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t cg = g->channels, og = k->cb / k->groups, taps = tg_conv_geom_taps(g);
    const int64_t pa = tg_conv_geom_in_size(g), pb = tg_conv_geom_out_size(g);
    int64_t full_pad[3], inserted[3]; /* the full convolution's padding; Z's size */
    for (int d = 0; d < 3; d++) {
        full_pad[d] = g->dilation[d] * (g->kernel[d] - 1) - g->pad[d];
        inserted[d] = (g->out[d] - 1) * g->stride[d] + 1;
    }
    int64_t i[3], j[3];
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t ch = 0; ch < k->ca; ch++) {
            const int64_t grp = ch / cg, c = ch % cg;
            tg_real *dac = da + (n * k->ca + ch) * pa;
            FOR3(i, g->in) {
                double sum = 0;
                for (int64_t o = 0; o < og; o++) {
                    const tg_real *dbo = db + (n * k->cb + grp * og + o) * pb;
                    const tg_real *wo = w + ((grp * og + o) * cg + c) * taps; /* R[ch, o] = W[o, c] reversed */
                    FOR3(j, g->kernel) {
                        int64_t m[3], src[3];
                        bool hit = true;
                        for (int d = 0; d < 3 && hit; d++) {
                            m[d] = i[d] + j[d] * g->dilation[d] - full_pad[d];
                            /* outside Z, or one of the zeros inserted between dB's entries */
                            hit = m[d] >= 0 && m[d] < inserted[d] && m[d] % g->stride[d] == 0;
                            src[d] = hit ? m[d] / g->stride[d] : 0;
                        }
                        if (!hit) continue;
                        const int64_t rotated = at3(g->kernel, g->kernel[0] - 1 - j[0], g->kernel[1] - 1 - j[1],
                                                    g->kernel[2] - 1 - j[2]);
                        sum += (double)wo[rotated] * dbo[at3(g->out, src[0], src[1], src[2])];
                    }
                }
                tg_real *x = dac + at3(g->in, i[0], i[1], i[2]);
                *x = (tg_real)(*x + sum);
            }
        }
}

void tg_conv_reference_dw(const tg_conv_core *k, const tg_real *a, const tg_real *db, tg_real *dw)
{
    const tg_conv_geom *g = &k->geom;
    const int64_t cg = g->channels, og = k->cb / k->groups, taps = tg_conv_geom_taps(g);
    const int64_t pa = tg_conv_geom_in_size(g), pb = tg_conv_geom_out_size(g);
    int64_t tap[3], out[3];
    for (int64_t o = 0; o < k->cb; o++)
        for (int64_t c = 0; c < cg; c++)
            FOR3(tap, g->kernel) {
                double sum = 0;
                for (int64_t n = 0; n < k->n; n++) {
                    const tg_real *dbo = db + (n * k->cb + o) * pb, *ac = a + (n * k->ca + o / og * cg + c) * pa;
                    FOR3(out, g->out) {
                        int64_t i = tap_input(g, out, tap);
                        if (i >= 0) sum += (double)dbo[at3(g->out, out[0], out[1], out[2])] * ac[i];
                    }
                }
                tg_real *dwt = dw + (o * cg + c) * taps + at3(g->kernel, tap[0], tap[1], tap[2]);
                *dwt = (tg_real)(*dwt + sum);
            }
}
