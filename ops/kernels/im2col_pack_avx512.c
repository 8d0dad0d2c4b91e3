/* ops/kernels/im2col_pack_avx512.c — AVX-512 version of tg_im2col_pack_b for float, panels of 32
 * columns, stride 1 along W (built with -mavx512f on x86-64 only; im2col_pack.c calls it only when
 * the CPU reports AVX-512F).
 *
 * The columns of one panel fall into a few runs (one output row each); they are found once per
 * panel. Then each row of M is two registers: every run is one masked load (lanes of the valid
 * input columns; the others stay zero), and the row is two plain stores. */
#include "im2col_pack_internal.h"

#include "gemm.h"

#if defined(__x86_64__) && defined(__AVX512F__) && !defined(TG_REAL_DOUBLE)
#include <immintrin.h>

typedef struct panel_run {
    int64_t base;       /* offset of lane 0 in x for the tap with all offsets zero */
    int64_t d, h;       /* input depth and row for the tap with all offsets zero */
    int64_t ow, lane;   /* output column of the first lane, first lane */
    uint64_t lanes;     /* len low bits set */
} panel_run;

/* Bits of the output columns ow in [lo, hi) that lie in [ow0, ow0 + len), shifted to start at 0. */
static inline uint64_t valid_columns(const tg_im2col_row_tap *tap, uint64_t wmask, int64_t out_w, int64_t ow0,
                                     uint64_t lanes)
{
    if (out_w <= 64) return (wmask >> ow0) & lanes;
    int64_t a = tap->lo - ow0, b = tap->hi - ow0; /* rare: wide outputs */
    a = a < 0 ? 0 : a;
    if (b > 32) b = 32;
    return b <= a ? 0 : (((1ull << (b - a)) - 1) << a) & lanes;
}

/* The rows of M given by their taps, precomputed once per call. */
typedef struct tap_rows {
    const tg_im2col_row_tap *taps;
    int64_t offset[TG_IM2COL_ROW_CHUNK]; /* input offset of the tap (channel, W, H, D shifts together) */
    uint64_t wmask[TG_IM2COL_ROW_CHUNK]; /* output columns (< 64) reading inside the input row */
    int64_t n;
} tap_rows;

static void tap_rows_make(const tg_conv_geom *g, const tg_im2col_row_tap *taps, int64_t n, tap_rows *t)
{
    t->taps = taps;
    t->n = n;
    for (int64_t r = 0; r < n; r++) {
        t->offset[r] = taps[r].offset + (taps[r].dd * g->in[1] + taps[r].dh) * g->in[2];
        int64_t lo = taps[r].lo < 64 ? taps[r].lo : 64, hi = taps[r].hi < 64 ? taps[r].hi : 64;
        uint64_t below_hi = hi == 64 ? ~0ull : (1ull << hi) - 1, below_lo = lo == 64 ? ~0ull : (1ull << lo) - 1;
        t->wmask[r] = below_hi & ~below_lo; /* bits lo..hi-1 */
    }
}

/* Rows t->n of M, columns j0..j0+nc, as panels of 32 columns: row r of panel p at
 * dst + p * panel_stride + r * 32. */
static void fill_panels(const tg_im2col_src *s, const tap_rows *t, int64_t j0, int64_t nc, int64_t panel_stride,
                        float *dst)
{
    enum { NR = 32 };
    const tg_conv_geom *g = s->geom;
    const int64_t out_w = g->out[2], out_h = g->out[1], out_d = g->out[0], in_w = g->in[2], in_h = g->in[1];
    const int64_t positions = out_w * out_h * out_d;
    panel_run runs[NR];
    for (int64_t jp = 0; jp < nc; jp += NR) {
        /* the runs of this panel: one output row each */
        int64_t cols = nc - jp < NR ? nc - jp : NR, j = j0 + jp, image = j / positions, q = j % positions;
        int64_t ow = q % out_w, oh = q / out_w % out_h, od = q / (out_w * out_h), n_runs = 0;
        for (int64_t lane = 0; lane < cols;) {
            int64_t len = out_w - ow < cols - lane ? out_w - ow : cols - lane;
            int64_t d = od * g->stride[0], h = oh * g->stride[1];
            runs[n_runs++] = (panel_run){.base = image * s->image_stride + (d * in_h + h) * in_w + ow - lane,
                                         .d = d, .h = h, .ow = ow, .lane = lane, .lanes = (1ull << len) - 1};
            lane += len;
            ow += len;
            if (ow == out_w) {
                ow = 0;
                if (++oh == out_h) {
                    oh = 0;
                    if (++od == out_d) {
                        od = 0;
                        image++;
                    }
                }
            }
        }
        float *dp = dst + (jp / NR) * panel_stride;
        for (int64_t r = 0; r < t->n; r++, dp += NR) {
            const tg_im2col_row_tap *tap = &t->taps[r];
            __m512 lo16 = _mm512_setzero_ps(), hi16 = _mm512_setzero_ps();
            for (int64_t k = 0; k < n_runs; k++) {
                const panel_run *run = &runs[k];
                if ((uint64_t)(run->d + tap->dd) >= (uint64_t)g->in[0] || (uint64_t)(run->h + tap->dh) >= (uint64_t)in_h)
                    continue; /* the tap's input row is padding */
                uint32_t mask = (uint32_t)(valid_columns(tap, t->wmask[r], out_w, run->ow, run->lanes) << run->lane);
                const float *lane0 = s->x + run->base + t->offset[r]; /* lane l: input column l - lane + ow */
                /* zero-masked loads ORed in: no merge dependency between the runs' loads */
                lo16 = _mm512_or_ps(lo16, _mm512_maskz_loadu_ps((__mmask16)mask, lane0));
                hi16 = _mm512_or_ps(hi16, _mm512_maskz_loadu_ps((__mmask16)(mask >> 16), lane0 + 16));
            }
            _mm512_storeu_ps(dp, lo16);
            _mm512_storeu_ps(dp + 16, hi16);
        }
    }
}

void tg_im2col_pack_b_avx512(const tg_im2col_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst)
{
    tg_im2col_row_tap taps[TG_IM2COL_ROW_CHUNK];
    tap_rows rows;
    for (int64_t rc = 0; rc < kc; rc += TG_IM2COL_ROW_CHUNK) {
        int64_t n = kc - rc < TG_IM2COL_ROW_CHUNK ? kc - rc : TG_IM2COL_ROW_CHUNK;
        tg_im2col_row_taps(s->geom, p0 + rc, n, taps);
        tap_rows_make(s->geom, taps, n, &rows);
        fill_panels(s, &rows, j0, nc, kc * 32, dst + rc * 32);
    }
}

void tg_im2col_pack_bt_avx512(const tg_im2col_src *s, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst)
{
    enum { NR = 32, CHUNK = 256 };
    float tile[NR * CHUNK] __attribute__((aligned(64))); /* CHUNK columns of nr rows of M, as 32-column panels */
    tg_im2col_row_tap taps[NR];
    tap_rows rows;
    for (int64_t jr = 0; jr < nc; jr += NR) {
        int64_t lines = nc - jr < NR ? nc - jr : NR;
        tg_im2col_row_taps(s->geom, j0 + jr, lines, taps);
        tap_rows_make(s->geom, taps, lines, &rows);
        for (int64_t pc = 0; pc < kc; pc += CHUNK) {
            int64_t chunk = kc - pc < CHUNK ? kc - pc : CHUNK;
            fill_panels(s, &rows, p0 + pc, chunk, lines * NR, tile);
            for (int64_t q = 0; q < chunk; q += NR) /* each lines x 32 panel, transposed into B's panel */
                tg_gemm_pack_transposed(tile + q * lines, NR, lines, chunk - q < NR ? chunk - q : NR, NR,
                                        dst + jr * kc + (pc + q) * NR);
        }
    }
}
#else
typedef int tg_im2col_pack_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
