/* ops/kernels/im2col_pack.c — implicit im2col into GEMM panels (see im2col_pack.h).
 *
 * B = M: for each row r of M (one channel and tap) the columns j0..j0+nc are walked in runs that
 * stay inside one output row and one panel; a run is a zero prefix, a copy (strided by the
 * convolution's stride) and a zero suffix, as in tg_im2col. B = M^T: blocks of M (nr rows by
 * BT_CHUNK columns) are written the same way into a stack tile, then transposed into the panel
 * (tg_gemm_pack_transposed: a register transpose on AVX-512).
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3") /* the run loops must vectorise */
#endif
#include "im2col_pack_internal.h"

#include "../../graph/error.h"
#include "cpu.h"
#include "index_math.h"
#include "gemm.h"


void tg_im2col_row_taps(const tg_conv_geom *g, int64_t r0, int64_t n, tg_im2col_row_tap *taps)
{
    const int64_t in_w = g->in[2], out_w = g->out[2], sw = g->stride[2];
    const int64_t ntaps = g->kernel[0] * g->kernel[1] * g->kernel[2], khw = g->kernel[1] * g->kernel[2];
    for (int64_t r = 0; r < n; r++) {
        int64_t row = r0 + r, c = row / ntaps, tap = row % ntaps;
        int64_t kd = tap / khw, kh = tap % khw / g->kernel[2], kw = tap % g->kernel[2];
        int64_t offset = kw * g->dilation[2] - g->pad[2];
        int64_t lo = tg_floor_div(-offset + sw - 1, sw), hi = tg_floor_div(in_w - 1 - offset, sw) + 1;
        lo = lo < 0 ? 0 : lo;
        hi = hi > out_w ? out_w : hi;
        taps[r] = (tg_im2col_row_tap){.offset = c * g->in[0] * g->in[1] * in_w + offset,
                            .dd = kd * g->dilation[0] - g->pad[0], .dh = kh * g->dilation[1] - g->pad[1],
                            .lo = lo, .hi = hi < lo ? lo : hi};
    }
}

/* M[r0 + r, j0 + j] for r < rows, j < cols into panels of nr columns:
 * dst[(j / nr) * rows * nr + r * nr + j % nr], columns past cols of the last panel zero.
 * Runs of columns (one output row, one panel) outside, rows of M inside. */
static void im2col_panels_rows(const tg_im2col_src *s, const tg_im2col_row_tap *taps, int64_t n, int64_t rc, int64_t rows,
                               int64_t j0, int64_t cols, int64_t nr, tg_real *dst);

static void im2col_panels(const tg_im2col_src *s, int64_t r0, int64_t rows, int64_t j0, int64_t cols, int64_t nr,
                          tg_real *dst)
{
    const int64_t panel = rows * nr, tail = cols % nr;
    if (tail) /* zero columns of the last panel past cols */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = tail; j < nr; j++) dst[(cols / nr) * panel + r * nr + j] = 0;
    tg_im2col_row_tap taps[TG_IM2COL_ROW_CHUNK];
    for (int64_t rc = 0; rc < rows; rc += TG_IM2COL_ROW_CHUNK) {
        int64_t n = rows - rc < TG_IM2COL_ROW_CHUNK ? rows - rc : TG_IM2COL_ROW_CHUNK;
        tg_im2col_row_taps(s->geom, r0 + rc, n, taps);
        im2col_panels_rows(s, taps, n, rc, rows, j0, cols, nr, dst);
    }
}

/* Rows rc..rc+n of the block (their taps given) for every column: the runs. */
static void im2col_panels_rows(const tg_im2col_src *s, const tg_im2col_row_tap *taps, int64_t n, int64_t rc, int64_t rows,
                               int64_t j0, int64_t cols, int64_t nr, tg_real *dst)
{
    const tg_conv_geom *g = s->geom;
    const int64_t out_w = g->out[2], out_h = g->out[1], out_d = g->out[0], in_w = g->in[2], sw = g->stride[2];
    const int64_t positions = out_w * out_h * out_d, panel = rows * nr;
    {
        int64_t j = j0, image = j / positions, q = j % positions;
        int64_t ow = q % out_w, oh = q / out_w % out_h, od = q / (out_w * out_h);
        while (j < j0 + cols) {
            int64_t t = j - j0, run = out_w - ow;
            if (run > j0 + cols - j) run = j0 + cols - j;
            if (run > nr - t % nr) run = nr - t % nr;
            const int64_t end = ow + run;
            const tg_real *xi = s->x + image * s->image_stride;
            tg_real *d0 = dst + (t / nr) * panel + rc * nr + t % nr; /* d0[0]: column j of row rc */
            for (int64_t r = 0; r < n; r++) {
                tg_real *d = d0 + r * nr - ow; /* d[o]: output column o */
                int64_t id = od * g->stride[0] + taps[r].dd, ih = oh * g->stride[1] + taps[r].dh;
                int64_t a = taps[r].lo > ow ? taps[r].lo : ow, b = taps[r].hi < end ? taps[r].hi : end;
                if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1] || b < a) a = b = end;
                for (int64_t o = ow; o < a; o++) d[o] = 0;
                const tg_real *src = xi + taps[r].offset + (id * g->in[1] + ih) * in_w;
                if (sw == 1)
                    for (int64_t o = a; o < b; o++) d[o] = src[o];
                else
                    for (int64_t o = a; o < b; o++) d[o] = src[o * sw];
                for (int64_t o = b; o < end; o++) d[o] = 0;
            }
            j += run;
            ow = end;
            if (ow == out_w) { /* next output row, plane, image */
                ow = 0;
                tg_im2col_next_out_row(g, &oh, &od, &image);
            }
        }
    }
}

#if defined(__x86_64__) && !defined(TG_REAL_DOUBLE)
static bool avx512_path(const tg_im2col_src *s, int nr)
{
    const tg_conv_geom *g = s->geom;
    return nr == 32 && (g->stride[2] == 1 || g->stride[2] == 2) && g->kernel[0] * g->kernel[1] * g->kernel[2] <= TG_IM2COL_MAX_TAPS &&
           tg_cpu_has_avx512();
}
#endif

void tg_im2col_pack_b(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst)
{
    const tg_im2col_src *s = ctx;
#if defined(__x86_64__) && !defined(TG_REAL_DOUBLE)
    if (avx512_path(s, nr)) {
        tg_im2col_pack_b_avx512(s, p0, kc, j0, nc, dst);
        return;
    }
#endif
    im2col_panels(s, p0, kc, j0, nc, nr, dst);
}

#define BT_LINES 32  /* nr of the widest micro-kernel */
#define BT_CHUNK 128 /* M columns per tile: the tile (16 KiB in float) stays in L1 */

void tg_im2col_pack_bt(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst)
{
    TG_ASSERT(nr <= BT_LINES);
    const tg_im2col_src *s = ctx;
#if defined(__x86_64__) && !defined(TG_REAL_DOUBLE)
    if (avx512_path(s, nr)) {
        tg_im2col_pack_bt_avx512(s, p0, kc, j0, nc, dst);
        return;
    }
#endif
    tg_real tile[BT_LINES * BT_CHUNK];
    tg_im2col_row_tap taps[BT_LINES];
    for (int64_t jr = 0; jr < nc; jr += nr) {
        int64_t lines = nc - jr < nr ? nc - jr : nr;
        tg_im2col_row_taps(s->geom, j0 + jr, lines, taps);
        for (int64_t pc = 0; pc < kc; pc += BT_CHUNK) {
            int64_t chunk = kc - pc < BT_CHUNK ? kc - pc : BT_CHUNK;
            /* tile[line * BT_CHUNK + p]: one panel as wide as the chunk, so no tail to zero */
            im2col_panels_rows(s, taps, lines, 0, lines, p0 + pc, chunk, BT_CHUNK, tile);
            tg_gemm_pack_transposed(tile, BT_CHUNK, lines, chunk, nr, dst + jr * kc + pc * nr);
        }
    }
}

void tg_im2col_block_channels(const tg_real *x, int64_t channels, int64_t positions, int64_t blocks, int64_t width,
                              tg_real *dst)
{
    for (int64_t b = 0; b < blocks; b++) {
        int64_t c0 = b * width, lines = channels - c0 < width ? channels - c0 : width;
        tg_gemm_pack_transposed(x + c0 * positions, positions, lines, positions, (int)width, dst + b * positions * width);
    }
}

void tg_im2col_pack_bt_blocked(const void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, tg_real *dst)
{
    const tg_im2col_blocked_src *s = ctx;
#if defined(__x86_64__) && !defined(TG_REAL_DOUBLE)
    if (nr == TG_IM2COL_BLOCK && j0 % TG_IM2COL_BLOCK == 0 && tg_cpu_has_avx512()) { /* either width */
        tg_im2col_pack_bt_blocked_avx512(s, p0, kc, j0, nc, dst);
        return;
    }
#endif
    const tg_conv_geom *g = s->geom;
    const int64_t taps = g->kernel[0] * g->kernel[1] * g->kernel[2], khw = g->kernel[1] * g->kernel[2];
    const int64_t pin = g->in[0] * g->in[1] * g->in[2];
    int64_t image[TG_IM2COL_CORNERS], corner[3][TG_IM2COL_CORNERS]; /* input position of tap 0 */
    for (int64_t pc = 0; pc < kc; pc += TG_IM2COL_CORNERS) {
        const int64_t n = kc - pc < TG_IM2COL_CORNERS ? kc - pc : TG_IM2COL_CORNERS;
        tg_im2col_corners(g, p0 + pc, n, image, corner);
        for (int64_t jr = 0; jr < nc; jr += nr) {
            tg_real *panel = dst + jr * kc + pc * nr; /* panel jr / nr, k step pc */
            for (int64_t jj = 0; jj < nr;) {
                const int64_t j = j0 + jr + jj, group = j / s->width, r = j % s->width;
                int64_t run = s->width - r < nr - jj ? s->width - r : nr - jj;
                if (jr + jj >= nc) { /* past the last column: zeros */
                    for (int64_t p = 0; p < n; p++)
                        for (int64_t e = jj; e < nr; e++) panel[p * nr + e] = 0;
                    break;
                }
                if (run > nc - jr - jj) run = nc - jr - jj;
                const int64_t block = group / taps, tap = group % taps;
                const int64_t off[3] = {tap / khw * g->dilation[0], tap % khw / g->kernel[2] * g->dilation[1],
                                        tap % g->kernel[2] * g->dilation[2]};
                for (int64_t p = 0; p < n; p++) {
                    tg_real *d = panel + p * nr + jj;
                    int64_t id = corner[0][p] + off[0], ih = corner[1][p] + off[1], iw = corner[2][p] + off[2];
                    if ((uint64_t)id >= (uint64_t)g->in[0] || (uint64_t)ih >= (uint64_t)g->in[1] ||
                        (uint64_t)iw >= (uint64_t)g->in[2]) {
                        for (int64_t e = 0; e < run; e++) d[e] = 0;
                        continue;
                    }
                    const tg_real *src = s->x + ((image[p] * s->blocks + block) * pin + (id * g->in[1] + ih) * g->in[2] + iw) *
                                                    s->width + r;
                    for (int64_t e = 0; e < run; e++) d[e] = src[e];
                }
                jj += run;
            }
        }
    }
}
