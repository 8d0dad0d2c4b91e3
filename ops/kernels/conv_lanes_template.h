/* ops/kernels/conv_lanes_template.h — depthwise convolution with the channels in the vector lanes
 * (the lanes_* kernels of conv_direct_internal.h), included by conv_direct_avx512.c after
 * conv_direct_template.h, for both precisions (VLEN, vec, vmask and the v* macros come from there).
 *
 * The plane kernels put one output row in a vector: on maps narrower than a vector most lanes idle
 * and every tap is a masked load (a 7x7 depthwise on 8x8 maps ran at a sixth of the core's peak).
 * Here the VLEN channels of one image share each vector instead. Their planes are turned into a
 * tile of positions x channels with the zero padding around it (a VLEN x VLEN transpose per VLEN
 * positions); an output position is then the sum over the taps of (the taps' channel weights) x
 * (the tile's vector at the tap), every lane busy, no masks; and the sums are turned back into
 * planes. dW turns dY alike and keeps one vector of sums per tap, over all images of a channel
 * block (one thread a block, images in order: the same bits for any thread count).
 *
 *   tile (positions of the padded input, VLEN channels each):  P0 x P1 x P2 x VLEN
 *   y[c, o] = sum_tap w[c, tap] * tile[o*stride + tap*dilation, c]
 *   dw[c, tap] += sum_o dy[c, o] * tile[o*stride + tap*dilation, c]
 */

#define LANES_STRIP 8 /* output positions of a row summed together: independent FMA chains */
/* A strip reads up to (LANES_STRIP - 1) * stride positions past a row's last output; the tile has
 * these (zeroed) positions after its end for the last row. */
#define LANES_SLACK (LANES_STRIP * TG_CONV_LANES_MAX_STRIDE)

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
}

/* The padded tile of a geometry: dims P[i] cover the input behind its left padding and every
 * position a window reads (pads >= 0: tg_conv_lanes_supported). */
typedef struct lanes_tile {
    int64_t p[3];
    int64_t positions;
} lanes_tile;

static lanes_tile lanes_tile_of(const tg_conv_geom *g)
{
    lanes_tile t = {{0, 0, 0}, 1};
    for (int i = 0; i < 3; i++) {
        const int64_t read = (g->out[i] - 1) * g->stride[i] + (g->kernel[i] - 1) * g->dilation[i] + 1;
        t.p[i] = g->pad[i] + g->in[i] > read ? g->pad[i] + g->in[i] : read;
        t.positions *= t.p[i];
    }
    return t;
}

/* at[p] = the tile position of input position p (lanes_tile_of's padding in front). */
static void lanes_offsets(const tg_conv_geom *g, const lanes_tile *t, int32_t *at)
{
    int64_t p = 0;
    for (int64_t d = 0; d < g->in[0]; d++)
        for (int64_t h = 0; h < g->in[1]; h++)
            for (int64_t w = 0; w < g->in[2]; w++)
                at[p++] = (int32_t)(((d + g->pad[0]) * t->p[1] + h + g->pad[1]) * t->p[2] + w + g->pad[2]);
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
static void lanes_sums(const tg_conv_geom *g, const lanes_tile *t, const tg_real *tile, const tg_real *wt,
                       tg_real *sums)
{
    const int64_t s2 = g->stride[2], d2 = g->dilation[2], k2 = g->kernel[2], out2 = g->out[2];
    tg_real *dst = sums;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++)
            for (int64_t ow0 = 0; ow0 < out2; ow0 += LANES_STRIP) {
                vec acc[LANES_STRIP];
                UNROLL_FULL
                for (int j = 0; j < LANES_STRIP; j++) acc[j] = vzero();
                for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                    for (int64_t kh = 0; kh < g->kernel[1]; kh++) {
                        const int64_t row = (od * g->stride[0] + kd * g->dilation[0]) * t->p[1] + oh * g->stride[1] +
                                            kh * g->dilation[1];
                        const tg_real *src = tile + (row * t->p[2] + ow0 * s2) * VLEN;
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

/* wt[tap*VLEN + l] = w[(c0 + l)*taps + tap] for l < lanes, else 0 */
static void lanes_weights(const tg_real *w, int64_t c0, int lanes, int64_t taps, tg_real *wt)
{
    for (int64_t tap = 0; tap < taps; tap++)
        for (int l = 0; l < VLEN; l++) wt[tap * VLEN + l] = l < lanes ? w[(c0 + l) * taps + tap] : 0;
}

/* Items item0..item1 (item = block * images + image): block b's channels are b*VLEN.. of the
 * `channels`, each plane of x, w and y where the depthwise layer has it. */
static void lanes_forward_simd(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t item0, int64_t item1,
                               const tg_real *x, const tg_real *w, tg_real *y, bool accumulate)
{
    const lanes_tile t = lanes_tile_of(g);
    const int64_t in_size = tg_conv_geom_in_size(g), out_size = tg_conv_geom_out_size(g), taps = tg_conv_geom_taps(g);
    TG_ASSERT(t.positions <= TG_CONV_LANES_TILE_POSITIONS && out_size <= TG_CONV_LANES_OUT_POSITIONS &&
              taps <= TG_CONV_LANES_TAPS && g->stride[2] <= TG_CONV_LANES_MAX_STRIDE);
    _Alignas(64) tg_real tile[(TG_CONV_LANES_TILE_POSITIONS + LANES_SLACK) * VLEN];
    _Alignas(64) tg_real sums[TG_CONV_LANES_OUT_POSITIONS * VLEN];
    _Alignas(64) tg_real wt[TG_CONV_LANES_TAPS * VLEN];
    int32_t at[TG_CONV_LANES_TILE_POSITIONS];
    memset(tile, 0, (size_t)((t.positions + LANES_SLACK) * VLEN) * sizeof *tile); /* the padding and slack */
    lanes_offsets(g, &t, at);
    const lanes_perm perm = lanes_perm_make();
    int64_t wt_block = -1;
    for (int64_t item = item0; item < item1; item++) {
        const int64_t block = item / images, n = item % images, c0 = block * VLEN;
        const int lanes = channels - c0 < VLEN ? (int)(channels - c0) : VLEN;
        if (block != wt_block) lanes_weights(w, c0, lanes, taps, wt), wt_block = block;
        if (item + 1 < item1) { /* the next item's planes (prefetch.h): a few KiB each item */
            const int64_t next = (item + 1) % images * channels + (item + 1) / images * VLEN;
            const int64_t next_lanes = channels - (item + 1) / images * VLEN < VLEN ? channels - (item + 1) / images * VLEN : VLEN;
            tg_prefetch_span(x + next * in_size, next_lanes * in_size * (int64_t)sizeof *x, false);
            tg_prefetch_span(y + next * out_size, next_lanes * out_size * (int64_t)sizeof *y, true);
        }
        lanes_turn_in(&perm, at, in_size, x + (n * channels + c0) * in_size, in_size, lanes, tile, NULL);
        lanes_sums(g, &t, tile, wt, sums);
        lanes_turn_out(&perm, sums, out_size, y + (n * channels + c0) * out_size, out_size, lanes, accumulate);
    }
}

/* The dW sums of one tap row (kd, kh) and the taps kw0..kw0+nk-1 (nk <= LANES_DW_TAPS) over one
 * image: acc[tap] += dy[o] * tile[o*stride + tap*dilation], even and odd output columns in sums
 * of their own (two independent chains a tap) added at the end. */
#define LANES_DW_TAPS 8
static void lanes_dw_row(const tg_conv_geom *g, const lanes_tile *t, const tg_real *tile, const tg_real *dyt,
                         int64_t kd, int64_t kh, int64_t kw0, int nk, tg_real *acc)
{
    const int64_t s2 = g->stride[2], d2 = g->dilation[2], out2 = g->out[2];
    vec even[LANES_DW_TAPS], odd[LANES_DW_TAPS];
    UNROLL_FULL
    for (int i = 0; i < LANES_DW_TAPS; i++) even[i] = odd[i] = vzero();
    const tg_real *dy = dyt;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++, dy += out2 * VLEN) {
            const int64_t row = (od * g->stride[0] + kd * g->dilation[0]) * t->p[1] + oh * g->stride[1] +
                                kh * g->dilation[1];
            const tg_real *src = tile + (row * t->p[2] + kw0 * d2) * VLEN;
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

/* dw[c, tap] += the sums over the images for the channels of block `block`: x's image i at
 * x + i*x_image, dy's at dy + i*dy_image, the channels' planes adjacent. false (dw untouched) when
 * dY holds NaN or Inf: the tile's zero padding would meet it where the convolution forms no product. */
static bool lanes_dw_simd(const tg_conv_geom *g, int64_t channels, int64_t images, int64_t block, const tg_real *x,
                          int64_t x_image, const tg_real *dy, int64_t dy_image, tg_real *dw)
{
    const lanes_tile t = lanes_tile_of(g);
    const int64_t in_size = tg_conv_geom_in_size(g), out_size = tg_conv_geom_out_size(g), taps = tg_conv_geom_taps(g);
    TG_ASSERT(t.positions <= TG_CONV_LANES_TILE_POSITIONS && out_size <= TG_CONV_LANES_OUT_POSITIONS &&
              taps <= TG_CONV_LANES_TAPS && g->stride[2] <= TG_CONV_LANES_MAX_STRIDE);
    _Alignas(64) tg_real tile[(TG_CONV_LANES_TILE_POSITIONS + LANES_SLACK) * VLEN];
    _Alignas(64) tg_real dyt[TG_CONV_LANES_OUT_POSITIONS * VLEN];
    _Alignas(64) tg_real acc[TG_CONV_LANES_TAPS * VLEN];
    int32_t at[TG_CONV_LANES_TILE_POSITIONS], dy_at[TG_CONV_LANES_OUT_POSITIONS];
    memset(tile, 0, (size_t)((t.positions + LANES_SLACK) * VLEN) * sizeof *tile);
    memset(acc, 0, (size_t)(taps * VLEN) * sizeof *acc);
    lanes_offsets(g, &t, at);
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
                    lanes_dw_row(g, &t, tile, dyt, kd, kh, kw0, nk, acc);
                }
    }
    if (vhsum(check) != 0) return false; /* NaN (0 * Inf is NaN too) */
    for (int l = 0; l < lanes; l++)
        for (int64_t tap = 0; tap < taps; tap++) dw[(c0 + l) * taps + tap] += acc[tap * VLEN + l];
    return true;
}
