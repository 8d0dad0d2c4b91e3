/* ops/kernels/conv_lanes_avx512.c — depthwise convolution with the channels in the vector lanes
 * (tg_conv_lanes_kernel, conv_direct_internal.h; built with -mavx512f on x86-64 only, used by
 * conv_direct.c with the AVX-512 direct kernel), in both precisions.
 *
 * The plane kernels put one output row in a vector: on maps narrower than a vector most lanes idle
 * and every tap is a masked load (a 7x7 depthwise on 8x8 maps ran at a sixth of the core's peak).
 * Here the VLEN channels of one image share each vector instead. Their planes are turned into a
 * tile of positions x channels with zeros around and (for dX) between them (a VLEN x VLEN
 * transpose per VLEN positions); an output position is then the sum over the taps of (the taps'
 * channel weights) x (the tile's vector at the tap), every lane busy, no masks; and the sums are
 * turned back into planes. dW turns dY alike and keeps one vector of sums per tap, over all images
 * of a channel block (one thread a block, images in order: the same bits for any thread count).
 * A file of its own: compiled with the plane kernels, it changed GCC's code for them (the 64 x 64
 * planes of 32x32 forward took 2.3 ms instead of 0.9).
 *
 *   tile (positions, VLEN channels each):  tile[0] x tile[1] x tile[2] x VLEN
 *   y[c, o] = sum_tap w[c, tap] * tile[o*stride + tap*dilation, c]
 *   dw[c, tap] += sum_o dy[c, o] * tile[o*stride + tap*dilation, c]
 */
#include <stdint.h>
#include <string.h>

#include "../../graph/error.h"
#include "conv_direct_internal.h"
#include "prefetch.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#include "vec_avx512.h"

#define INLINE static inline __attribute__((always_inline))
/* Loops over registers must unroll fully so the arrays stay in registers (clang's spelling apart). */
#ifdef __clang__
#define UNROLL_FULL _Pragma("clang loop unroll(full)")
#else
#define UNROLL_FULL _Pragma("GCC unroll 32")
#endif

#define LANES_STRIP TG_CONV_LANES_STRIP
#define LANES_SLACK TG_CONV_LANES_SLACK

/* One slot's scratch (tg_conv_lanes_scratch elements) cut into the tile, the sums (or dY turned),
 * the filter (or dW's sums) and the two offset tables, each vector array 64-byte aligned. */
typedef struct lanes_scratch {
    tg_real *tile, *sums, *wt;
    int32_t *at, *dy_at;
} lanes_scratch;

static lanes_scratch lanes_scratch_of(const tg_conv_lanes_plan *pl, tg_real *scratch)
{
    lanes_scratch s;
    s.tile = (tg_real *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    s.sums = s.tile + (pl->tile_size + LANES_SLACK) * VLEN;
    s.wt = s.sums + pl->out_size * VLEN;
    s.at = (int32_t *)(s.wt + pl->taps * VLEN);
    s.dy_at = s.at + pl->in_size;
    return s;
}

/* The permutes of a VLEN x VLEN transpose: stage s swaps the off-diagonal blocks of size
 * VLEN >> (s + 1) between vectors that far apart. */
typedef struct lanes_perm {
    __m512i lo[VLEN_LOG2], hi[VLEN_LOG2];
} lanes_perm;

static lanes_perm lanes_perm_make(void)
{
    lanes_perm p;
    for (int s = 0; s < VLEN_LOG2; s++) {
        const int b = VLEN >> (s + 1);
        perm_lane lo[VLEN], hi[VLEN];
        for (int l = 0; l < VLEN; l++) {
            lo[l] = (perm_lane)((l & b) ? VLEN + l - b : l); /* block b of r[i + b] moves in */
            hi[l] = (perm_lane)((l & b) ? VLEN + l : l + b); /* block 0 of r[i] moves out */
        }
        p.lo[s] = _mm512_loadu_si512(lo);
        p.hi[s] = _mm512_loadu_si512(hi);
    }
    return p;
}

/* r[i] lane l <- r[l] lane i */
INLINE void lanes_transpose(const lanes_perm *p, vec r[VLEN])
{
#if VLEN == 16 && !defined(TG_REAL_DOUBLE)
    /* floats: 4x4 blocks inside each 128-bit lane by unpacks and in-lane shuffles (no index
     * vectors, cheaper than two-source permutes), then the 128-bit lanes by shuffle_f32x4 */
    (void)p;
    vec t[16], u[16];
    UNROLL_FULL
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    UNROLL_FULL
    for (int i = 0; i < 16; i += 4) { /* u[i + j] lane k: column 4k + j of rows i..i+3 */
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    UNROLL_FULL
    for (int j = 0; j < 4; j++) { /* row 4k + j gathers lane k of u[j], u[4 + j], u[8 + j], u[12 + j] */
        const vec v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee);
        const vec v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
        r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[8 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
#else
    UNROLL_FULL
    for (int s = 0; s < VLEN_LOG2; s++) {
        const int b = VLEN >> (s + 1);
        UNROLL_FULL
        for (int i = 0; i < VLEN; i++)
            if (!(i & b)) {
                const vec a = r[i], c = r[i + b];
                r[i] = vperm2(a, p->lo[s], c);
                r[i + b] = vperm2(a, p->hi[s], c);
            }
    }
#endif
}

/* at[p] = the tile position of turned-in position p (the plan's insertion and padding). */
static void lanes_offsets(const tg_conv_lanes_plan *pl, int32_t *at)
{
    int64_t p = 0;
    for (int64_t d = 0; d < pl->in[0]; d++)
        for (int64_t h = 0; h < pl->in[1]; h++)
            for (int64_t w = 0; w < pl->in[2]; w++)
                at[p++] = (int32_t)(((d * pl->insert[0] + pl->pad[0]) * pl->tile[1] + h * pl->insert[1] + pl->pad[1]) *
                                        pl->tile[2] +
                                    w * pl->insert[2] + pl->pad[2]);
}

/* tile[at[p]] = (x[l*plane_step + p] for l < lanes, then zeros) for the `size` input positions p;
 * the padding is left as it is (zero). check (when not NULL) += 0 * each value: NaN once one is NaN
 * or Inf. */
INLINE void lanes_turn_in(const lanes_perm *perm, const int32_t *at, int64_t size, const tg_real *x,
                          int64_t plane_step, int lanes, tg_real *tile, vec *check)
{
    for (int64_t p0 = 0; p0 < size; p0 += VLEN) {
        const int64_t n = size - p0 < VLEN ? size - p0 : VLEN;
        const vmask m = lane_mask(0, n);
        vec r[VLEN];
        UNROLL_FULL
        for (int l = 0; l < VLEN; l++) {
            r[l] = l < lanes ? vloadz(m, x + l * plane_step + p0) : vzero();
            if (check) *check = vfma(r[l], vzero(), *check);
        }
        lanes_transpose(perm, r);
        UNROLL_FULL
        for (int j = 0; j < VLEN; j++)
            if (j < n) vstore(tile + (int64_t)at[p0 + j] * VLEN, r[j]);
    }
}

/* y[l*plane_step + q] (+)= sums[q*VLEN + l] for the `size` positions q and l < lanes. */
INLINE void lanes_turn_out(const lanes_perm *perm, const tg_real *sums, int64_t size, tg_real *y, int64_t plane_step,
                           int lanes, bool accumulate)
{
    for (int64_t q0 = 0; q0 < size; q0 += VLEN) {
        const int64_t n = size - q0 < VLEN ? size - q0 : VLEN;
        const vmask m = lane_mask(0, n);
        vec r[VLEN];
        UNROLL_FULL
        for (int j = 0; j < VLEN; j++) r[j] = j < n ? vload(sums + (q0 + j) * VLEN) : vzero();
        lanes_transpose(perm, r);
        UNROLL_FULL
        for (int l = 0; l < VLEN; l++)
            if (l < lanes) {
                tg_real *dst = y + l * plane_step + q0;
                vstorem(dst, m, accumulate ? vadd(vloadz(m, dst), r[l]) : r[l]);
            }
    }
}

/* sums[o] = sum over the taps of wt[tap] * tile[o*stride + tap*dilation] for every output position
 * o, LANES_STRIP outputs of a row at a time (a short last strip computes positions past the row
 * from the tile's next row or slack, and stores only its own). */
INLINE void lanes_sums_stride(const tg_conv_geom *g, const int64_t *t, const tg_real *tile, const tg_real *wt,
                              tg_real *sums, const int64_t s2)
{
    const int64_t d2 = g->dilation[2], k2 = g->kernel[2], out2 = g->out[2];
    tg_real *dst = sums;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++)
            for (int64_t ow0 = 0; ow0 < out2; ow0 += LANES_STRIP) {
                vec acc[LANES_STRIP];
                UNROLL_FULL
                for (int j = 0; j < LANES_STRIP; j++) acc[j] = vzero();
                for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                    for (int64_t kh = 0; kh < g->kernel[1]; kh++) {
                        const int64_t row = (od * g->stride[0] + kd * g->dilation[0]) * t[1] + oh * g->stride[1] +
                                            kh * g->dilation[1];
                        const tg_real *src = tile + (row * t[2] + ow0 * s2) * VLEN;
                        const tg_real *wk = wt + (kd * g->kernel[1] + kh) * k2 * VLEN;
                        for (int64_t kw = 0; kw < k2; kw++, src += d2 * VLEN) {
                            const vec wv = vload(wk + kw * VLEN);
                            UNROLL_FULL
                            for (int j = 0; j < LANES_STRIP; j++) acc[j] = vfma(wv, vload(src + j * s2 * VLEN), acc[j]);
                        }
                    }
                const int64_t n = out2 - ow0 < LANES_STRIP ? out2 - ow0 : LANES_STRIP;
                UNROLL_FULL
                for (int j = 0; j < LANES_STRIP; j++)
                    if (j < n) vstore(dst + j * VLEN, acc[j]);
                dst += n * VLEN;
            }
}
/* the stride along W a constant: the strip's load offsets then stay immediates (a variable
 * stride left them on the stack: 7x7 on 8x8 took 0.104 ms for 64 x 32 planes, 0.084 with it) */
static void lanes_sums(const tg_conv_lanes_plan *pl, const tg_real *tile, const tg_real *wt, tg_real *sums)
{
    if (pl->sums.stride[2] == 1) lanes_sums_stride(&pl->sums, pl->tile, tile, wt, sums, 1);
    else lanes_sums_stride(&pl->sums, pl->tile, tile, wt, sums, 2);
}

/* wt[tap*VLEN + l] = w[(c0 + l)*taps + tap] for l < lanes, else 0 (the taps reversed: rotate) */
static void lanes_weights(const tg_real *w, int64_t c0, int lanes, int64_t taps, bool rotate, tg_real *wt)
{
    for (int64_t tap = 0; tap < taps; tap++)
        for (int l = 0; l < VLEN; l++) wt[tap * VLEN + l] = l < lanes ? w[(c0 + l) * taps + (rotate ? taps - 1 - tap : tap)] : 0;
}

/* Items item0..item1 (item = block * images + image): block b's channels are b*VLEN.. of the
 * `channels`; x's planes (the plan's in[]) turned in, y's (sums.out) summed into. */
static void lanes_forward_simd(const tg_conv_lanes_plan *pl, int64_t channels, int64_t images, int64_t item0,
                               int64_t item1, const tg_real *x, const tg_real *w, tg_real *y, bool accumulate,
                               tg_real *scratch)
{
    const int64_t in_size = pl->in_size, out_size = pl->out_size, taps = pl->taps;
    TG_ASSERT(pl->sums.stride[2] <= TG_CONV_LANES_MAX_STRIDE);
    const lanes_scratch sc = lanes_scratch_of(pl, scratch);
    tg_real *tile = sc.tile, *sums = sc.sums, *wt = sc.wt;
    int32_t *at = sc.at;
    /* the padding, the inserted zeros and the slack: never written below */
    memset(tile, 0, (size_t)((pl->tile_size + LANES_SLACK) * VLEN) * sizeof *tile);
    lanes_offsets(pl, at);
    const lanes_perm perm = lanes_perm_make();
    int64_t wt_block = -1;
    for (int64_t item = item0; item < item1; item++) {
        const int64_t block = item / images, n = item % images, c0 = block * VLEN;
        const int lanes = channels - c0 < VLEN ? (int)(channels - c0) : VLEN;
        if (block != wt_block) lanes_weights(w, c0, lanes, taps, pl->rotate, wt), wt_block = block;
        if (item + 1 < item1) { /* the next item's planes (prefetch.h): a few KiB each item */
            const int64_t next_c0 = (item + 1) / images * VLEN, next = (item + 1) % images * channels + next_c0;
            const int64_t next_lanes = channels - next_c0 < VLEN ? channels - next_c0 : VLEN;
            tg_prefetch_span(x + next * in_size, next_lanes * in_size * (int64_t)sizeof *x, false);
            tg_prefetch_span(y + next * out_size, next_lanes * out_size * (int64_t)sizeof *y, true);
        }
        lanes_turn_in(&perm, at, in_size, x + (n * channels + c0) * in_size, in_size, lanes, tile, NULL);
        lanes_sums(pl, tile, wt, sums);
        lanes_turn_out(&perm, sums, out_size, y + (n * channels + c0) * out_size, out_size, lanes, accumulate);
    }
}

/* The dW sums of one tap row (kd, kh) and the taps kw0..kw0+nk-1 (nk <= LANES_DW_TAPS) over one
 * image: acc[tap] += dy[o] * tile[o*stride + tap*dilation], even and odd output columns in sums
 * of their own (two independent chains a tap) added at the end. */
#define LANES_DW_TAPS 8
INLINE void lanes_dw_row_at(const tg_conv_geom *g, const int64_t *t, const tg_real *tile, const tg_real *dyt,
                            int64_t kd, int64_t kh, int64_t kw0, int nk, tg_real *acc, const int64_t s2, const int64_t d2)
{
    const int64_t out2 = g->out[2];
    vec even[LANES_DW_TAPS], odd[LANES_DW_TAPS];
    UNROLL_FULL
    for (int i = 0; i < LANES_DW_TAPS; i++) even[i] = odd[i] = vzero();
    const tg_real *dy = dyt;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++, dy += out2 * VLEN) {
            const int64_t row = (od * g->stride[0] + kd * g->dilation[0]) * t[1] + oh * g->stride[1] +
                                kh * g->dilation[1];
            const tg_real *src = tile + (row * t[2] + kw0 * d2) * VLEN;
            int64_t ow = 0;
            for (; ow + 1 < out2; ow += 2) {
                const vec a = vload(dy + ow * VLEN), b = vload(dy + (ow + 1) * VLEN);
                const tg_real *sa = src + ow * s2 * VLEN, *sb = sa + s2 * VLEN;
                UNROLL_FULL
                for (int i = 0; i < LANES_DW_TAPS; i++)
                    if (i < nk) {
                        even[i] = vfma(a, vload(sa + i * d2 * VLEN), even[i]);
                        odd[i] = vfma(b, vload(sb + i * d2 * VLEN), odd[i]);
                    }
            }
            if (ow < out2) {
                const vec a = vload(dy + ow * VLEN);
                const tg_real *sa = src + ow * s2 * VLEN;
                UNROLL_FULL
                for (int i = 0; i < LANES_DW_TAPS; i++)
                    if (i < nk) even[i] = vfma(a, vload(sa + i * d2 * VLEN), even[i]);
            }
        }
    tg_real *dst = acc + ((kd * g->kernel[1] + kh) * g->kernel[2] + kw0) * VLEN;
    UNROLL_FULL
    for (int i = 0; i < LANES_DW_TAPS; i++)
        if (i < nk) vstore(dst + i * VLEN, vadd(vload(dst + i * VLEN), vadd(even[i], odd[i])));
}
/* the stride and dilation along W constants where they are 1 or 2 and 1 (as lanes_sums) */
static void lanes_dw_row(const tg_conv_geom *g, const int64_t *t, const tg_real *tile, const tg_real *dyt,
                         int64_t kd, int64_t kh, int64_t kw0, int nk, tg_real *acc)
{
    if (g->dilation[2] != 1) lanes_dw_row_at(g, t, tile, dyt, kd, kh, kw0, nk, acc, g->stride[2], g->dilation[2]);
    else if (g->stride[2] == 1) lanes_dw_row_at(g, t, tile, dyt, kd, kh, kw0, nk, acc, 1, 1);
    else lanes_dw_row_at(g, t, tile, dyt, kd, kh, kw0, nk, acc, 2, 1);
}

/* dw[c, tap] += the sums over the images for the channels of block `block` (a forward plan): x's
 * image i at x + i*x_image, dy's at dy + i*dy_image, the channels' planes adjacent. false (dw
 * untouched) when dY holds NaN or Inf: the tile's zero padding would meet it where the convolution
 * forms no product. */
static bool lanes_dw_simd(const tg_conv_lanes_plan *pl, int64_t channels, int64_t images, int64_t block,
                          const tg_real *x, int64_t x_image, const tg_real *dy, int64_t dy_image, tg_real *dw,
                          tg_real *scratch)
{
    const tg_conv_geom *g = &pl->sums;
    const int64_t in_size = pl->in_size, out_size = pl->out_size, taps = pl->taps;
    TG_ASSERT(!pl->rotate);
    const lanes_scratch sc = lanes_scratch_of(pl, scratch);
    tg_real *tile = sc.tile, *dyt = sc.sums, *acc = sc.wt;
    int32_t *at = sc.at, *dy_at = sc.dy_at;
    memset(tile, 0, (size_t)((pl->tile_size + LANES_SLACK) * VLEN) * sizeof *tile);
    memset(acc, 0, (size_t)(taps * VLEN) * sizeof *acc);
    lanes_offsets(pl, at);
    for (int64_t q = 0; q < out_size; q++) dy_at[q] = (int32_t)q; /* dY turned as it lies */
    const lanes_perm perm = lanes_perm_make();
    const int64_t c0 = block * VLEN;
    const int lanes = channels - c0 < VLEN ? (int)(channels - c0) : VLEN;
    vec check = vzero();
    for (int64_t n = 0; n < images; n++) {
        if (n + 1 < images) { /* the next image's planes (prefetch.h) */
            tg_prefetch_span(x + (n + 1) * x_image + c0 * in_size, lanes * in_size * (int64_t)sizeof *x, false);
            tg_prefetch_span(dy + (n + 1) * dy_image + c0 * out_size, lanes * out_size * (int64_t)sizeof *dy, false);
        }
        lanes_turn_in(&perm, at, in_size, x + n * x_image + c0 * in_size, in_size, lanes, tile, NULL);
        lanes_turn_in(&perm, dy_at, out_size, dy + n * dy_image + c0 * out_size, out_size, lanes, dyt, &check);
        for (int64_t kd = 0; kd < g->kernel[0]; kd++)
            for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                for (int64_t kw0 = 0; kw0 < g->kernel[2]; kw0 += LANES_DW_TAPS) {
                    const int nk = g->kernel[2] - kw0 < LANES_DW_TAPS ? (int)(g->kernel[2] - kw0) : LANES_DW_TAPS;
                    lanes_dw_row(g, pl->tile, tile, dyt, kd, kh, kw0, nk, acc);
                }
    }
    if (vhsum(check) != 0) return false; /* NaN (0 * Inf is NaN too) */
    for (int l = 0; l < lanes; l++)
        for (int64_t tap = 0; tap < taps; tap++) dw[(c0 + l) * taps + tap] += acc[tap * VLEN + l];
    return true;
}

const tg_conv_lanes_kernel tg_conv_lanes_kernel_avx512 = {lanes_forward_simd, lanes_dw_simd, VLEN};
#else
typedef int tg_conv_lanes_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
