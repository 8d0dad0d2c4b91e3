/* ops/kernels/winograd.c — Winograd F(2x2,3x3) and F(4x4,3x3) convolution (see winograd.h).
 *
 * The 1-D F(2,3) matrices (outputs y0,y1 of a 3-tap correlation over inputs d0..d3):
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input)
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]  (filter)
 *   A^T = [1 1 1 0; 0 1 -1 -1]                       (output)
 * applied along rows and then columns for the 2-D tile.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* the transforms' row loops must vectorise; short row copies stay inline, not memcpy calls */
#pragma GCC optimize("O3", "no-tree-loop-distribute-patterns")
#endif
#include "winograd.h"

#include <stdatomic.h>
#include <string.h>

#include "cpu.h"
#include "gemm.h"
#include "parallel.h"
#include "prefetch.h"
#include "winograd_internal.h"

#define WINOGRAD_ROWS(name) winograd_portable_##name
#include "winograd_rows.h"

/* The forward's chunks: about this many tiles (whole rows of tiles, at least one), whose V and M
 * stay in the core's caches between the transforms and the multiply. Measured (4 Dec, one thread,
 * batch 64, forward ms at 16, 32, 64, 128, 256, 512 tiles): 16 -> 16 channels 28x28 1.22, 1.08,
 * 1.05, 0.99, 0.97, 1.03; 16 -> 32 14x14 0.68, 0.58, 0.81, 0.55, 0.55, 0.84; 256 -> 256 14x14
 * at batch 8, 32 / 64 / 128 tiles: 4.87, 4.41, 4.47. */
#define WINOGRAD_FORWARD_TILES 128
/* dW's chunks (its sums run over the chunk's tiles): about 8 MiB of transformed inputs
 * [16, C, tiles] and transformed gradients [16, tiles, O], 256-1024 tiles: fewer, longer sums,
 * still in the last-level cache. The chunks cut dW's sum over the tiles, so they are a function
 * of the shapes alone (never the thread count). */
#ifndef WINOGRAD_CHUNK_BYTES
#define WINOGRAD_CHUNK_BYTES (8 << 20)
#endif
#define WINOGRAD_CHUNK_MIN 256
#define WINOGRAD_CHUNK_MAX 1024

bool tg_winograd_supported(const tg_conv_geom *g, int64_t groups)
{
    if (groups != 1 || g->in[0] != 1 || g->out[0] != 1 || g->kernel[0] != 1 || g->pad[0] != 0) return false;
    for (int i = 1; i < 3; i++)
        if (g->kernel[i] != 3 || g->stride[i] != 1 || g->dilation[i] != 1 || g->pad[i] < 0 || g->out[i] < 1)
            return false;
    return true;
}

const winograd_kernel winograd_portable_kernel = {
    winograd_portable_transform_input_rows, winograd_portable_transform_output_rows,
    winograd_portable_transform_input_pair, winograd_portable_transform_output_pair, winograd_portable_multiply,
    winograd_portable_all_finite, winograd_portable_dy_transform_t, winograd_portable_dw_multiply,
    winograd_portable_transform_input4, winograd_portable_transform_output4, winograd_portable_dy_transform4,
    winograd_portable_filters4, winograd_portable_dw_filters4};
/* The best this CPU runs, chosen at first use (several pool threads may ask at once). */
static const tg_kernel_variant kernel_variants[] = {
#if defined(__x86_64__)
    {"avx512", tg_cpu_has_avx512, &winograd_avx512_kernel},
#endif
    {"portable", NULL, &winograd_portable_kernel}};
static tg_kernel_choice kernel_choice = TG_KERNEL_CHOICE(kernel_variants, NULL);
static const winograd_kernel *kernel(void) { return tg_kernel_choice_get(&kernel_choice); }

/* Blocks of the finiteness scan the threads share: a whole operand checked before a batch is split
 * among the threads (conv_engine.c's split_needs_exact) was 1 % of a 1-D CNN's two-thread training
 * step on the calling thread alone, the other thread waiting. */
#define FINITE_BLOCK 65536
typedef struct finite_job {
    const tg_real *v;
    int64_t n;
    tg_real headroom;
    atomic_bool all; /* cleared by any block holding NaN or ±Inf: the same answer for any split */
} finite_job;
static void finite_blocks(void *ctx, int64_t b0, int64_t b1)
{
    finite_job *j = ctx;
    const int64_t end = b1 * FINITE_BLOCK < j->n ? b1 * FINITE_BLOCK : j->n;
    if (!kernel()->all_finite(j->v + b0 * FINITE_BLOCK, end - b0 * FINITE_BLOCK, j->headroom))
        atomic_store(&j->all, false);
}
static bool scan(const tg_real *v, int64_t n, tg_real headroom)
{
    if (n <= FINITE_BLOCK) return kernel()->all_finite(v, n, headroom);
    finite_job j = {v, n, headroom, true};
    tg_parallel_for((n + FINITE_BLOCK - 1) / FINITE_BLOCK, finite_blocks, &j);
    return atomic_load(&j.all);
}
bool tg_winograd_finite(const tg_real *v, int64_t n) { return scan(v, n, 1); }
bool tg_winograd_in_range(const tg_real *v, int64_t n) { return scan(v, n, TG_WINOGRAD_HEADROOM); }
const char *tg_winograd_kernel_name(void) { return tg_kernel_choice_name(&kernel_choice); }
bool tg_winograd_kernel_is_simd(void) { return kernel() != &winograd_portable_kernel; }
int tg_winograd_set_kernel(const char *name) { return tg_kernel_choice_set(&kernel_choice, name); }

/* The forward's slots per row of tiles in V and M: rows of 6 to 8 tiles (maps 11 to 16 wide) take
 * 8, so that two rows fill one vector of the transforms (a 14x14 map's rows of 7 tiles filled 7 of
 * 16 lanes); other rows are packed end to end (at 5 tiles and fewer the multiply's empty slots
 * cost more than the transforms save). Forward ms, batch 64, packed / paired: 32 -> 32 at 14x14
 * 0.85 / 0.64, 16 -> 32 at 14x14 0.51 / 0.36, 64 -> 64 at 14x14 2.52 / 2.15, at 12x12 1.95 / 1.85,
 * at 16x16 (32 ch) 0.90 / 0.73; but 64 -> 64 at 10x10 1.47 / 1.53 and at 8x8 1.02 / 1.24. */
#define WINOGRAD_PAIR_MIN_COLS 6
static bool forward_paired(const tiling *tl)
{
    return tl->cols >= WINOGRAD_PAIR_MIN_COLS && tl->cols <= WINOGRAD_PAIR_TILES;
}
static int64_t forward_pitch(const tiling *tl) { return forward_paired(tl) ? WINOGRAD_PAIR_TILES : tl->cols; }

/* n images: a chunk never holds more rows of tiles than the batch has (a small batch's scratch,
 * taken from the tape for every convolution, was sized for a whole chunk: BN-ResNet training at
 * batch 8 peaked 14 MB higher). The forward's chunks hold about WINOGRAD_FORWARD_TILES tiles;
 * dW's are sized by bytes (its sums run over the chunk's tiles). */
static tiling tiling_of(const tg_conv_geom *g, int64_t out_channels, int64_t n, bool forward)
{
    tiling t = {(g->out[1] + 1) / 2, (g->out[2] + 1) / 2, 1, 0, 0};
    int64_t chunk = WINOGRAD_CHUNK_BYTES / (16 * (int64_t)sizeof(tg_real) * (g->channels + out_channels));
    chunk = chunk < WINOGRAD_CHUNK_MIN ? WINOGRAD_CHUNK_MIN : chunk > WINOGRAD_CHUNK_MAX ? WINOGRAD_CHUNK_MAX : chunk;
    if (forward) chunk = WINOGRAD_FORWARD_TILES;
    if (t.cols < chunk) t.rows_per_chunk = chunk / t.cols;
    if (forward && forward_paired(&t)) /* rows in pairs, 8 slots each (forward_pitch) */
        t.rows_per_chunk = chunk / WINOGRAD_PAIR_TILES / 2 * 2;
    const int64_t all_rows = (n > 1 ? n : 1) * t.rows;
    if (t.rows_per_chunk > all_rows) t.rows_per_chunk = all_rows;
    t.cols_pad = (t.cols + WINOGRAD_VEC - 1) / WINOGRAD_VEC * WINOGRAD_VEC;
    t.line = 2 * t.cols_pad + WINOGRAD_VEC;
    return t;
}
static int64_t round_to_vec(int64_t count) { return (count + WINOGRAD_VEC - 1) / WINOGRAD_VEC * WINOGRAD_VEC; }

/* The row transforms run over cols_pad tiles: each k plane of V and M gets that much slack. */
#define WINOGRAD_SLACK WINOGRAD_VEC

/* The forward's scratch, [u | V | M | lines]: U [16, O, C]; V's rows (one a channel) hold a chunk's
 * tile slots and a vector of slack (a row of tiles writes cols_pad values, and the rows of all
 * channels are written row by row, not channel by channel); M's rows the slots rounded up to whole
 * vectors (the multiply writes them); the 16 planes of each sit a cache line past a multiple of
 * their rows (64 channels' rows of 144 made them 9 x 4 KiB apart, and the 16 streams of a
 * transform met in one set of the first-level cache: 64 -> 8 channels at 28x28 3.8 ms forward, 1.5
 * at 48 channels). */
typedef struct forward_layout {
    tiling tl;
    int64_t pitch, v_row, m_row, v_plane, m_plane;
    size_t size; /* elements */
} forward_layout;
static forward_layout forward_layout_of(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    forward_layout f = {.tl = tiling_of(g, out_channels, n, true)};
    const int64_t c = g->channels, chunk_cap = f.tl.rows_per_chunk * forward_pitch(&f.tl);
    f.pitch = forward_pitch(&f.tl);
    f.v_row = round_to_vec(chunk_cap) + WINOGRAD_SLACK;
    f.m_row = round_to_vec(chunk_cap);
    f.v_plane = c * f.v_row + WINOGRAD_SLACK;
    f.m_plane = out_channels * f.m_row + WINOGRAD_SLACK;
    f.size = (size_t)(16 * out_channels * c + 16 * (f.v_plane + f.m_plane) + 8 * f.tl.line);
    return f;
}

/* Either tile's (tg_winograd_set_tile may change the choice between a caller's two calls). */
static size_t w4_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels);
size_t tg_winograd_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    const size_t f2 = forward_layout_of(g, n, out_channels).size, f4 = w4_scratch(g, n, out_channels);
    return f2 > f4 ? f2 : f4;
}

/* u:[16, O, C] = G w G^T for every (o, c) filter w:[O, C, 3, 3]. Filters go in blocks through a
 * small [16, block] buffer so that u is written in 16 contiguous runs, not 16 scattered streams. */
static void transform_filters(const tg_real *w, int64_t o_count, int64_t c_count, tg_real *u)
{
    const int64_t plane = o_count * c_count;
    tg_real buf[16][WINOGRAD_FILTER_BLOCK];
    for (int64_t f0 = 0; f0 < plane; f0 += WINOGRAD_FILTER_BLOCK) {
        const int64_t count = plane - f0 < WINOGRAD_FILTER_BLOCK ? plane - f0 : WINOGRAD_FILTER_BLOCK;
        for (int64_t f = 0; f < count; f++) {
            const tg_real *g = w + (f0 + f) * 9;
            tg_real rows[4][3]; /* G g (4x3); then (G g) G^T row by row */
            for (int j = 0; j < 3; j++) {
                tg_real g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                rows[0][j] = g0;
                rows[1][j] = (tg_real)0.5 * (g0 + g1 + g2);
                rows[2][j] = (tg_real)0.5 * (g0 - g1 + g2);
                rows[3][j] = g2;
            }
            for (int i = 0; i < 4; i++) {
                tg_real g0 = rows[i][0], g1 = rows[i][1], g2 = rows[i][2];
                buf[4 * i][f] = g0;
                buf[4 * i + 1][f] = (tg_real)0.5 * (g0 + g1 + g2);
                buf[4 * i + 2][f] = (tg_real)0.5 * (g0 - g1 + g2);
                buf[4 * i + 3][f] = g2;
            }
        }
        for (int k = 0; k < 16; k++) memcpy(u + k * plane + f0, buf[k], (size_t)count * sizeof *u);
    }
}

/* Consecutive rows of tiles of one channel step from one image's plane to the next, C planes
 * apart: too far for the hardware prefetcher, so each small plane's lines arrived one load at a
 * time, waited for (on 14x14 maps the input transform spent half its time on two loads). The next
 * plane is asked for when a plane begins, its first PREFETCH_PLANE_BYTES. */
#define PREFETCH_PLANE_BYTES 4096
static inline void prefetch_plane(const tg_real *plane, int64_t count)
{
    const char *p = (const char *)plane;
    int64_t bytes = count * (int64_t)sizeof *plane;
    if (bytes > PREFETCH_PLANE_BYTES) bytes = PREFETCH_PLANE_BYTES;
    for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
}

/* V[k][c][t] (planes v_plane apart) = B^T d B for the tiles of tile rows row0..row0+rows-1 (all
 * images numbered together) of every channel of x: the forward's and the weight gradient's inputs.
 * Returns false when an input it read is NaN or ±Inf (checked on the way, not by another pass). */
static bool transform_inputs(const tg_conv_geom *g, const tiling *tl, const tg_real *x, int64_t row0, int64_t rows,
                             bool all_channels, tg_real *lines, tg_real *v, int64_t v_row, int64_t v_plane)
{
    const winograd_input_rows_fn input_rows = kernel()->input_rows;
    const int64_t c_count = g->channels, in_plane = g->in[1] * g->in[2];
    tg_real *check = lines + tl->line;
    memset(check, 0, (size_t)tl->line * sizeof *check);
    if (all_channels && forward_paired(tl)) { /* the forward's rows two at a time */
        const winograd_input_pair_fn input_pair = kernel()->input_pair;
        for (int64_t r = 0; r < rows; r += 2) {
            const int64_t image_a = (row0 + r) / tl->rows, tile_a = (row0 + r) % tl->rows;
            const int64_t image_b = (row0 + r + 1) / tl->rows, tile_b = (row0 + r + 1) % tl->rows;
            input_pair(g, tl, x + image_a * c_count * in_plane, 2 * tile_a - g->pad[1],
                       r + 1 < rows ? x + image_b * c_count * in_plane : NULL, 2 * tile_b - g->pad[1], in_plane,
                       c_count, lines, v + r * WINOGRAD_PAIR_TILES, v_row, v_plane);
        }
    } else if (all_channels) { /* a row of tiles of every channel at once (the forward's small chunks):
                                * the loads' masks worked out once for them all */
        for (int64_t r = 0; r < rows; r++) {
            int64_t image = (row0 + r) / tl->rows, tile_row = (row0 + r) % tl->rows;
            input_rows(g, tl, x + image * c_count * in_plane, in_plane, c_count, 2 * tile_row - g->pad[1], lines,
                       v + r * tl->cols, v_row, v_plane);
        }
    } else { /* channel by channel (dW's large chunks): V is written in long runs (64 -> 64 channels at
              * 14x14, chunks of 512 tiles, 3.1-3.2 ms forward, 3.5-3.8 with every channel per row) */
        for (int64_t c = 0; c < c_count; c++)
            for (int64_t r = 0; r < rows;) {
                const int64_t image = (row0 + r) / tl->rows, tile_row = (row0 + r) % tl->rows;
                const tg_real *plane = x + (image * c_count + c) * in_plane;
                if (tile_row == 0 && r + tl->rows < rows)
                    prefetch_plane(x + ((image + 1) * c_count + c) * in_plane, in_plane);
                /* a run of tile rows whose four input rows all lie inside the plane is one call: each
                 * row is the "plane" two input rows further (plane_stride 2w), its tiles cols further
                 * in V (a call a row of 14 tiles was a third of a BN-ResNet step's dW). The rows'
                 * tiles overlap in V by a row's slack: the transforms write plane after plane then
                 * (winograd_internal.h), so each row's real tiles land after the slack before them. */
                const int64_t r0 = 2 * tile_row - g->pad[1];
                int64_t run = 1;
                if (r0 >= 0 && r0 + 3 < g->in[1])
                    while (r + run < rows && tile_row + run < tl->rows && r0 + 2 * run + 3 < g->in[1]) run++;
                input_rows(g, tl, plane, 2 * g->in[2], run, r0, lines, v + c * v_row + r * tl->cols, tl->cols, v_plane);
                r += run;
            }
    }
    return tg_winograd_finite(check, tl->line);
}

/* The multiply of one chunk, its 16 positions shared among the threads: a batch too small to split
 * (one image) still multiplies on every thread, as the GEMMs did by panels; inside a batch split
 * (each thread its own images) the nested call runs on the calling thread. Each M[k] is computed
 * alone, so the bits do not depend on the split. */
typedef struct multiply_job {
    winograd_multiply_fn multiply;
    const tg_real *u, *v;
    int64_t o_count, c_count, v_row, v_plane, count, m_row, m_plane;
    tg_real *m;
} multiply_job;
static void multiply_range(void *ctx, int64_t begin, int64_t end)
{
    const multiply_job *j = ctx;
    j->multiply(j->u, j->o_count, j->c_count, j->v, j->v_row, j->v_plane, j->count, j->m, j->m_row, j->m_plane,
                (int)begin, (int)end);
}

void tg_winograd_products(const tg_real *u, int64_t o_count, int64_t c_count, const tg_real *v, int64_t v_row,
                          int64_t v_plane, int64_t count, tg_real *m, int64_t m_row, int64_t m_plane, int k_count)
{
    multiply_job job = {kernel()->multiply, u, v, o_count, c_count, v_row, v_plane, count, m_row, m_plane, m};
    tg_parallel_for(k_count, multiply_range, &job); /* M[k] = U[k] V[k] */
}

/* ---- F(4x4,3x3) ----
 * The 1-D F(4,3) of the points 0, 1, -1, 2, -2 and infinity (winograd1d.c's construction):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * A 4x4 tile costs 36 multiplies per channel pair where F(2x2)'s four 2x2 tiles cost 64: the
 * multiply, most of the forward from 16 channels (perf, 5 Dec: 51 % at 16 -> 16, 60 % at 32 -> 32,
 * 28x28), shrinks by 0.44. B^T and A^T are exact; G's sixths round once. */

static int forced_tile; /* 0: AUTO's rule; 2 or 4: every call (tg_winograd_set_tile) */
int tg_winograd_set_tile(int tile)
{
    if (tile != 0 && tile != 2 && tile != 4) return -1;
    forced_tile = tile;
    return 0;
}

/* Where AUTO takes F(4x4): with the AVX-512 float transforms, every map (quarters up to 16 wide,
 * halves above). A function of the CPU alone, never of the batch or the threads, so every split
 * of a batch gets the same bits. Forward ms against F(2x2), batch 64, one thread (5 Dec, Zen 5):
 * 16 -> 16 at 28x28 0.74 / 0.60, 32 -> 32 at 28x28 2.98 / 1.86, at 32x32 3.19 / 2.32, at 16x16 0.70 /
 * 0.52, at 14x14 0.61 / 0.51, at 12x12 0.52 / 0.38, 64 -> 64 at 8x8 0.96 / 0.81, 128 -> 128 at 7x7
 * 2.89 / 2.75 and at 28x28 35.4 / 20.9, 16 x 64 -> 64 at 56x56 10.4 / 6.6, 8 -> 8 at 28x28 0.30 /
 * 0.25. The portable transforms (double, or no AVX-512) keep F(2x2): theirs are tile by tile. */
int tg_winograd_tile(const tg_conv_geom *g, int64_t out_channels)
{
    (void)g;
    (void)out_channels;
    if (forced_tile) return forced_tile;
#ifdef TG_REAL_DOUBLE
    return 2;
#else
    return tg_winograd_kernel_is_simd() ? 4 : 2;
#endif
}

/* The forward's chunks: about this many tile slots (whole blocks), whose V [36, C, slots] and M
 * [36, O, slots] stay in cache between the transforms and the multiply. */
#ifndef WINOGRAD4_CHUNK_SLOTS
#define WINOGRAD4_CHUNK_SLOTS 128
#endif
/* Rows of at most this many tiles (maps up to 16 wide) go four to a block (quarters), wider ones
 * in halves of 8 tiles. */
#define WINOGRAD4_QUARTER_TILES 4
typedef struct w4_layout {
    int parts, span;                /* parts per block (2 or 4), tiles per part (16 / parts) */
    int64_t rows, parts_per_row;    /* rows of tiles per image; parts per row of tiles */
    int64_t chunk_blocks, slots;    /* blocks per chunk; its slots (16 each) */
    int64_t v_plane, m_plane;       /* V's and M's planes: rows of `slots`, then a cache line */
    size_t size;                    /* elements: U [36, O, C] | V | M */
} w4_layout;
/* Chunks of about `slots` tile slots, whole blocks, never more than n images have. */
static void w4_set_chunk(w4_layout *f, int64_t n, int64_t slots)
{
    const int64_t all_blocks = ((n > 1 ? n : 1) * f->rows * f->parts_per_row + f->parts - 1) / f->parts;
    f->chunk_blocks = slots / 16 < all_blocks ? slots / 16 : all_blocks;
    f->slots = 16 * f->chunk_blocks;
}
static w4_layout w4_layout_of(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    w4_layout f;
    const int64_t cols = (g->out[2] + 3) / 4;
    f.parts = cols <= WINOGRAD4_QUARTER_TILES ? 4 : 2;
    f.span = 16 / f.parts;
    f.rows = (g->out[1] + 3) / 4;
    f.parts_per_row = (cols + f.span - 1) / f.span;
    w4_set_chunk(&f, n, WINOGRAD4_CHUNK_SLOTS);
    f.v_plane = g->channels * f.slots + WINOGRAD_SLACK;
    f.m_plane = out_channels * f.slots + WINOGRAD_SLACK;
    f.size = (size_t)(36 * out_channels * g->channels + 36 * (f.v_plane + f.m_plane));
    return f;
}

/* Part q of the batch (parts numbered over images, rows of tiles, then along each row). */
typedef struct w4_place {
    int64_t image, tile_row, part;
} w4_place;
static w4_place w4_place_of(const w4_layout *f, int64_t q)
{
    const int64_t per_image = f->rows * f->parts_per_row, rem = q % per_image;
    return (w4_place){q / per_image, rem / f->parts_per_row, rem % f->parts_per_row};
}
/* Part q of x:[n, C, in] (its patches' first input row and column) and of a gradient or output
 * [n, O, out] (its tiles' first output row and column); an empty part (NULL plane) past the
 * batch's last one (total parts). */
static winograd4_part w4_input_part(const tg_conv_geom *g, const w4_layout *f, const tg_real *x, int64_t q,
                                    int64_t total)
{
    if (q >= total) return (winograd4_part){NULL, 0, 0};
    const w4_place at = w4_place_of(f, q);
    return (winograd4_part){x + at.image * g->channels * g->in[1] * g->in[2], 4 * at.tile_row - g->pad[1],
                            4 * f->span * at.part - g->pad[2]};
}
static winograd4_part w4_gradient_part(const tg_conv_geom *g, const w4_layout *f, const tg_real *dy,
                                       int64_t out_channels, int64_t q, int64_t total)
{
    if (q >= total) return (winograd4_part){NULL, 0, 0};
    const w4_place at = w4_place_of(f, q);
    return (winograd4_part){dy + at.image * out_channels * g->out[1] * g->out[2], 4 * at.tile_row,
                            4 * f->span * at.part};
}
static winograd4_out_part w4_output_part(const tg_conv_geom *g, const w4_layout *f, tg_real *y, int64_t out_channels,
                                         int64_t q, int64_t total)
{
    const winograd4_part place = w4_gradient_part(g, f, y, out_channels, q, total);
    return (winograd4_out_part){place.plane ? y + (place.plane - y) : NULL, place.row, place.col}; /* y's own */
}

/* The 6 patch rows of a part (columns col .. col + span_cols + 1) of the first W4_PREFETCH_PLANES
 * channel planes. */
#define W4_PREFETCH_PLANES 2
static void prefetch_part_rows(const tg_conv_geom *g, const tg_real *plane, int64_t row, int64_t col, int64_t span_cols,
                               int64_t plane_stride, int64_t planes)
{
    const int64_t lo = col < 0 ? 0 : col, hi = col + span_cols + 2 < g->in[2] ? col + span_cols + 2 : g->in[2];
    for (int64_t c = 0; c < planes && c < W4_PREFETCH_PLANES; c++)
        for (int64_t r = row < 0 ? 0 : row; r < row + 6 && r < g->in[1]; r++)
            tg_prefetch_span(plane + c * plane_stride + r * g->in[2] + lo, (hi - lo) * (int64_t)sizeof(tg_real), false);
}

/* The 4 gradient rows of a part (columns col .. col + span_cols - 1) of the first W4_DY_PREFETCH_PLANES
 * output planes: the dY transform gathers each tile's values from every plane. */
#define W4_DY_PREFETCH_PLANES 64
static void prefetch_dy_rows(const tg_conv_geom *g, const tg_real *plane, int64_t row, int64_t col, int64_t span_cols,
                             int64_t plane_stride, int64_t planes)
{
    const int64_t hi = col + span_cols < g->out[2] ? col + span_cols : g->out[2];
    for (int64_t c = 0; c < planes && c < W4_DY_PREFETCH_PLANES; c++)
        for (int64_t r = row; r < row + 4 && r < g->out[1]; r++)
            tg_prefetch_span(plane + c * plane_stride + r * g->out[2] + col, (hi - col) * (int64_t)sizeof(tg_real), false);
}

static size_t w4_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    return w4_layout_of(g, n, out_channels).size;
}

static bool winograd4_conv(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x,
                           const tg_real *w, tg_real *y, bool accumulate, tg_real *scratch)
{
    const w4_layout f = w4_layout_of(g, n, out_channels);
    const int64_t c_count = g->channels, o_count = out_channels;
    const int64_t in_plane = g->in[1] * g->in[2], out_plane = g->out[1] * g->out[2];
    const int64_t total = n * f.rows * f.parts_per_row, span_cols = 4 * f.span; /* columns of a part */
    const int64_t per_chunk = f.chunk_blocks * f.parts;
    tg_real *u = scratch, *v = u + 36 * o_count * c_count, *m = v + 36 * f.v_plane;
    const winograd_kernel *k = kernel();
    k->filters4(w, o_count, c_count, u);
    for (int64_t q0 = 0; q0 < total; q0 += per_chunk) {
        const int64_t blocks = ((total - q0 < per_chunk ? total - q0 : per_chunk) + f.parts - 1) / f.parts;
        for (int64_t b = 0; b < blocks; b++) {
            winograd4_part in[WINOGRAD4_MAX_PARTS];
            for (int p = 0; p < f.parts; p++) {
                const int64_t q = q0 + f.parts * b + p;
                in[p] = w4_input_part(g, &f, x, q, total);
                /* the same part's first planes of the next block (the transform asks for the planes
                 * ahead of the one it works on, not for the next block's first ones) */
                const winograd4_part next = w4_input_part(g, &f, x, q + f.parts, total);
                if (next.plane) prefetch_part_rows(g, next.plane, next.row, next.col, span_cols, in_plane, c_count);
            }
            if (k->input4(g, in, f.parts, in_plane, c_count, v + 16 * b, f.slots, f.v_plane) != 0) return false;
        }
        multiply_job job = {k->multiply, u, v, o_count, c_count, f.slots, f.v_plane, 16 * blocks, f.slots, f.m_plane, m};
        tg_parallel_for(36, multiply_range, &job); /* M[k] = U[k] V[k] */
        for (int64_t b = 0; b < blocks; b++) {
            winograd4_out_part out[WINOGRAD4_MAX_PARTS];
            for (int p = 0; p < f.parts; p++) out[p] = w4_output_part(g, &f, y, o_count, q0 + f.parts * b + p, total);
            k->output4(g, out, f.parts, m + 16 * b, f.slots, f.m_plane, o_count, out_plane, accumulate);
        }
    }
    return true;
}

bool tg_winograd_conv(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *w,
                      tg_real *y, bool accumulate, tg_real *scratch)
{
    if (tg_winograd_tile(g, out_channels) == 4) return winograd4_conv(g, n, out_channels, x, w, y, accumulate, scratch);
    const forward_layout f = forward_layout_of(g, n, out_channels);
    const tiling tl = f.tl;
    const int64_t c_count = g->channels, o_count = out_channels, all_rows = n * tl.rows;
    const int64_t out_plane = g->out[1] * g->out[2], pitch = f.pitch, v_row = f.v_row, m_row = f.m_row;
    const int64_t v_plane = f.v_plane, m_plane = f.m_plane;
    tg_real *u = scratch, *v = u + 16 * o_count * c_count, *m = v + 16 * v_plane;
    tg_real *lines = m + 16 * m_plane;
    const winograd_kernel *k = kernel();
    const winograd_output_rows_fn output_rows = k->output_rows;
    const winograd_output_pair_fn output_pair = k->output_pair;
    const winograd_multiply_fn multiply = k->multiply;
    transform_filters(w, o_count, c_count, u);
    for (int64_t row0 = 0; row0 < all_rows; row0 += tl.rows_per_chunk) { /* rows of tiles, all images */
        const int64_t rows = all_rows - row0 < tl.rows_per_chunk ? all_rows - row0 : tl.rows_per_chunk;
        const int64_t count = rows * pitch;
        if (!transform_inputs(g, &tl, x, row0, rows, true, lines, v, v_row, v_plane)) return false;
        multiply_job job = {multiply, u, v, o_count, c_count, v_row, v_plane, count, m_row, m_plane, m};
        tg_parallel_for(16, multiply_range, &job); /* M[k] = U[k] V[k] */
        if (forward_paired(&tl)) /* two rows of tiles of every output channel at once */
            for (int64_t r = 0; r < rows; r += 2) {
                const int64_t image_a = (row0 + r) / tl.rows, tile_a = (row0 + r) % tl.rows;
                const int64_t image_b = (row0 + r + 1) / tl.rows, tile_b = (row0 + r + 1) % tl.rows;
                output_pair(g, &tl, m + r * WINOGRAD_PAIR_TILES, m_row, m_plane, o_count, tile_a,
                            y + image_a * o_count * out_plane, tile_b,
                            r + 1 < rows ? y + image_b * o_count * out_plane : NULL, out_plane, lines, accumulate);
            }
        else
            for (int64_t r = 0; r < rows; r++) { /* a row of tiles of every output channel at once */
                int64_t image = (row0 + r) / tl.rows, tile_row = (row0 + r) % tl.rows;
                output_rows(g, &tl, m + r * tl.cols, m_row, m_plane, o_count, tile_row, lines,
                            y + image * o_count * out_plane, out_plane, accumulate);
            }
    }
    return true;
}

/* ---- weight gradient ---- */

/* Output channels rounded up to whole vectors of the multiply: Yt's and M's rows. */
int64_t tg_winograd_dw_o_pad(int64_t out_channels) { return (out_channels + 15) / 16 * 16; }

/* The sums split among the threads by (position, block of DW_SUMS_CHANNELS input channels): each
 * element of M summed by one thread over the tiles in order, so the same bits for any split (a dW
 * chunk of small maps, or a 1x1 layer's, is often the whole batch: one thread summed it all). */
#define DW_SUMS_CHANNELS 32 /* a multiple of the multiply's 8- and 16-channel blocks */
#define DW_SUMS_PARALLEL_MIN (64 * 64 * 256) /* multiply-adds: below, one thread beats waking the pool */
typedef struct dw_sums_job {
    const winograd_kernel *kern;
    const tg_real *v, *yt;
    int64_t v_row, v_plane, c_count, o_pad, y_plane, count, m_plane, c_parts;
    tg_real *m;
} dw_sums_job;
static void dw_sums_range(void *ctx, int64_t begin, int64_t end)
{
    const dw_sums_job *j = ctx;
    for (int64_t item = begin; item < end; item++) {
        const int64_t k = item / j->c_parts, c0 = item % j->c_parts * DW_SUMS_CHANNELS;
        const int64_t c1 = c0 + DW_SUMS_CHANNELS < j->c_count ? c0 + DW_SUMS_CHANNELS : j->c_count;
        j->kern->dw_multiply(j->v + k * j->v_plane + c0 * j->v_row, j->v_row, j->v_plane, c1 - c0,
                             j->yt + k * j->y_plane, j->o_pad, j->y_plane, j->count,
                             j->m + k * j->m_plane + c0 * j->o_pad, j->m_plane, 1);
    }
}

void tg_winograd_dw_sums(const tg_real *v, int64_t v_row, int64_t v_plane, int64_t c_count, const tg_real *yt,
                         int64_t o_pad, int64_t y_plane, int64_t count, tg_real *m, int64_t m_plane, int k_count)
{
    const int64_t c_parts = (c_count + DW_SUMS_CHANNELS - 1) / DW_SUMS_CHANNELS;
    dw_sums_job job = {kernel(), v, yt, v_row, v_plane, c_count, o_pad, y_plane, count, m_plane, c_parts, m};
    const double work = (double)k_count * (double)c_count * (double)o_pad * (double)count;
    if (tg_get_threads() > 1 && k_count * c_parts > 1 && work >= DW_SUMS_PARALLEL_MIN)
        tg_parallel_for(k_count * c_parts, dw_sums_range, &job);
    else
        dw_sums_range(&job, 0, k_count * c_parts);
}

/* ---- F(4x4)'s weight gradient ----
 * y is linear in U = G g G^T, so dW = G^T [ sum over tiles (A dY_t A^T) .* (B^T d_t B) ] G: V from
 * the forward's input transform (the same blocks of parts), the gradient transformed into Yt
 * [36][slots, o_pad] with the output channels in the lanes, and F(2x2)'s register-blocked sums
 * (tg_winograd_dw_sums) over the 36 positions. Chunks of about W4_DW_CHUNK_BYTES of V and Yt,
 * between the bounds: a function of the shapes alone (the sums run over each chunk's tiles). */
#define W4_DW_CHUNK_BYTES (8 << 20)
#define W4_DW_CHUNK_MIN 256
#define W4_DW_CHUNK_MAX 1024
typedef struct w4_dw_layout {
    w4_layout f;             /* the parts (f.chunk_blocks, f.slots: this layout's chunks) */
    int64_t o_pad, v_plane, y_plane, m_plane;
    size_t size;             /* elements: M [36, C, o_pad] | V [36][C, slots] | Yt [36][slots, o_pad] */
} w4_dw_layout;
static w4_dw_layout w4_dw_layout_of(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    w4_dw_layout d = {.f = w4_layout_of(g, n, out_channels), .o_pad = tg_winograd_dw_o_pad(out_channels)};
    const int64_t c = g->channels;
    int64_t slots = W4_DW_CHUNK_BYTES / (36 * (int64_t)sizeof(tg_real) * (c + d.o_pad));
    slots = slots < W4_DW_CHUNK_MIN ? W4_DW_CHUNK_MIN : slots > W4_DW_CHUNK_MAX ? W4_DW_CHUNK_MAX : slots;
    w4_set_chunk(&d.f, n, slots);
    d.m_plane = c * d.o_pad + WINOGRAD_SLACK; /* a cache line past: planes 4 KiB apart met in one L1 set */
    d.v_plane = c * d.f.slots + WINOGRAD_SLACK;
    d.y_plane = d.f.slots * d.o_pad + WINOGRAD_SLACK;
    d.size = (size_t)(36 * (d.m_plane + d.v_plane + d.y_plane));
    return d;
}

/* One chunk of winograd4_dw: its blocks' input and dY transforms, and at the end dW from M. */
typedef struct w4_dw_job {
    const tg_conv_geom *g;
    const w4_dw_layout *d;
    const winograd_kernel *k;
    const tg_real *x, *dy, *m;
    tg_real *v, *yt, *dw;
    int64_t q0, total, o_count;
    atomic_bool failed;
} w4_dw_job;

/* Blocks b0..b1 of the chunk at q0: each writes its own 16 slots of V and Yt, so the blocks go to
 * the threads (a transform is per tile: the same values whoever runs it). On the calling thread
 * they were a quarter of a 7x7 layer's dW, whose one chunk left the other threads idle meanwhile:
 * 64x64x7x7 -> 128 dW 2.9 ms on one thread and on two (5 Dec). */
static void w4_dw_transform_blocks(void *arg, int64_t b0, int64_t b1)
{
    w4_dw_job *j = arg;
    const tg_conv_geom *g = j->g;
    const w4_layout *f = &j->d->f;
    const int64_t c_count = g->channels, in_plane = g->in[1] * g->in[2], out_plane = g->out[1] * g->out[2];
    const int64_t span_cols = 4 * f->span;
    for (int64_t b = b0; b < b1; b++) {
        winograd4_part in[WINOGRAD4_MAX_PARTS], grad[WINOGRAD4_MAX_PARTS];
        for (int p = 0; p < f->parts; p++) {
            const int64_t q = j->q0 + f->parts * b + p;
            in[p] = w4_input_part(g, f, j->x, q, j->total);
            grad[p] = w4_gradient_part(g, f, j->dy, j->o_count, q, j->total);
            /* as the forward's; dY's rows of every plane */
            const winograd4_part next = w4_input_part(g, f, j->x, q + f->parts, j->total);
            const winograd4_part next_dy = w4_gradient_part(g, f, j->dy, j->o_count, q + f->parts, j->total);
            if (next.plane) prefetch_part_rows(g, next.plane, next.row, next.col, span_cols, in_plane, c_count);
            if (next_dy.plane)
                prefetch_dy_rows(g, next_dy.plane, next_dy.row, next_dy.col, span_cols, out_plane, j->o_count);
        }
        if (j->k->input4(g, in, f->parts, in_plane, c_count, j->v + 16 * b, f->slots, j->d->v_plane) != 0 ||
            j->k->dy_transform4(g, grad, f->parts, j->o_count, j->d->o_pad, j->yt + 16 * b * j->d->o_pad,
                                j->d->y_plane) != 0) {
            atomic_store(&j->failed, true);
            return;
        }
    }
}

/* dW[o, c] += G^T M[c, o] G for input channels c0..c1 (each filter its own: split by c) */
static void w4_dw_filters(void *arg, int64_t c0, int64_t c1)
{
    const w4_dw_job *j = arg;
    j->k->dw_filters4(j->m, j->d->m_plane, j->d->o_pad, j->o_count, j->g->channels, c0, c1, j->dw);
}

static bool winograd4_dw(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *dy,
                         tg_real *dw, tg_real *scratch)
{
    const w4_dw_layout d = w4_dw_layout_of(g, n, out_channels);
    const w4_layout *f = &d.f;
    const int64_t c_count = g->channels, o_pad = d.o_pad;
    const int64_t total = n * f->rows * f->parts_per_row, per_chunk = f->chunk_blocks * f->parts;
    tg_real *m = scratch, *v = m + 36 * d.m_plane, *yt = v + 36 * d.v_plane;
    w4_dw_job j = {.g = g, .d = &d, .k = kernel(), .x = x, .dy = dy, .m = m, .v = v, .yt = yt, .dw = dw,
                   .total = total, .o_count = out_channels};
    atomic_init(&j.failed, false);
    memset(m, 0, (size_t)(36 * d.m_plane) * sizeof *m);
    for (int64_t q0 = 0; q0 < total; q0 += per_chunk) {
        const int64_t blocks = ((total - q0 < per_chunk ? total - q0 : per_chunk) + f->parts - 1) / f->parts;
        j.q0 = q0;
        tg_parallel_for(blocks, w4_dw_transform_blocks, &j);
        if (atomic_load(&j.failed)) return false;
        /* M[k] += V[k] Yt[k] */
        tg_winograd_dw_sums(v, f->slots, d.v_plane, c_count, yt, o_pad, d.y_plane, 16 * blocks, m, d.m_plane, 36);
    }
    /* dW from M filter by filter in M's order (input channel, then output channel: each of the 36
     * planes read in runs) */
    tg_parallel_for(c_count, w4_dw_filters, &j);
    return true;
}

size_t tg_winograd_dw_scratch(const tg_conv_geom *g, int64_t n, int64_t out_channels)
{
    const size_t f4 = w4_dw_layout_of(g, n, out_channels).size;
    const tiling tl = tiling_of(g, out_channels, n, false);
    const int64_t c = g->channels, chunk = tl.rows_per_chunk * tl.cols, o_pad = tg_winograd_dw_o_pad(out_channels);
    /* M [16, C, o_pad] | V [16][C, chunk] | Yt [16][chunk, o_pad] | the input transform's lines */
    const size_t f2 = (size_t)(16 * c * o_pad + 16 * (c * chunk + WINOGRAD_SLACK) +
                               16 * (chunk * o_pad + WINOGRAD_SLACK) + 8 * tl.line);
    return f2 > f4 ? f2 : f4; /* either tile's (tg_winograd_set_tile) */
}

bool tg_winograd_dw(const tg_conv_geom *g, int64_t n, int64_t out_channels, const tg_real *x, const tg_real *dy,
                    tg_real *dw, tg_real *scratch)
{
    if (tg_winograd_tile(g, out_channels) == 4) return winograd4_dw(g, n, out_channels, x, dy, dw, scratch);
    /* the chunks cut dW's sum over the tiles (each chunk's multiply adds into M): tiling_of sizes
     * them from the shapes alone, never the thread count */
    const tiling tl = tiling_of(g, out_channels, n, false);
    const winograd_kernel *kern = kernel();
    const int64_t c_count = g->channels, o_count = out_channels, all_rows = n * tl.rows;
    const int64_t o_pad = tg_winograd_dw_o_pad(o_count);
    const int64_t chunk_cap = tl.rows_per_chunk * tl.cols;
    /* planes a cache line past a multiple of their rows: the transforms write all 16 at once, and
     * planes a multiple of 4 KiB apart met in one set of the first-level cache */
    const int64_t v_plane = c_count * chunk_cap + WINOGRAD_SLACK, y_plane = chunk_cap * o_pad + WINOGRAD_SLACK;
    const int64_t m_plane = c_count * o_pad;
    tg_real *m = scratch, *v = m + 16 * m_plane, *yt = v + 16 * v_plane;
    tg_real *lines = yt + 16 * y_plane;
    memset(m, 0, (size_t)(16 * m_plane) * sizeof *m);
    for (int64_t row0 = 0; row0 < all_rows; row0 += tl.rows_per_chunk) {
        const int64_t rows = all_rows - row0 < tl.rows_per_chunk ? all_rows - row0 : tl.rows_per_chunk;
        const int64_t count = rows * tl.cols;
        if (!transform_inputs(g, &tl, x, row0, rows, false, lines, v, count, v_plane)) return false;
        if (kern->dy_transform_t(g, &tl, dy, o_count, o_pad, row0, rows, yt, y_plane) != 0) return false;
        /* M[k] += V[k] Yt[k] */
        tg_winograd_dw_sums(v, count, v_plane, c_count, yt, o_pad, y_plane, count, m, m_plane, 16);
    }
    /* dW[o, c] += G^T M[c, o] G, G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1] */
    for (int64_t f = 0; f < o_count * c_count; f++) {
        const int64_t at = f % c_count * o_pad + f / c_count; /* M[k][c][o] of filter f = (o, c) */
        tg_real t[3][4];
        for (int l = 0; l < 4; l++) { /* G^T M, column l */
            tg_real m0 = m[l * m_plane + at], m1 = m[(4 + l) * m_plane + at], m2 = m[(8 + l) * m_plane + at];
            tg_real m3 = m[(12 + l) * m_plane + at];
            t[0][l] = m0 + (tg_real)0.5 * (m1 + m2);
            t[1][l] = (tg_real)0.5 * (m1 - m2);
            t[2][l] = (tg_real)0.5 * (m1 + m2) + m3;
        }
        tg_real *out = dw + f * 9;
        for (int i = 0; i < 3; i++) { /* (G^T M) G */
            out[3 * i] += t[i][0] + (tg_real)0.5 * (t[i][1] + t[i][2]);
            out[3 * i + 1] += (tg_real)0.5 * (t[i][1] - t[i][2]);
            out[3 * i + 2] += (tg_real)0.5 * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
    return true;
}
