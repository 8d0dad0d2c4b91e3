/* ops/kernels/gemm.c — the blocked, packed GEMM (BLIS-style) and its dispatch.
 *
 * Loop nest for C = alpha*op(A)*op(B) + beta*C over a block of C:
 *   jc: nc columns of C   -> pc: kc steps of K, pack op(B)[pc:pc+kc, jc:jc+nc] into NR-column panels
 *     -> ic: mc rows     -> pack op(A)[ic:ic+mc, pc:pc+kc] into MR-row panels
 *       -> jr, ir: one MR x NR micro-kernel call per tile.
 * The first K block applies the caller's beta, later ones accumulate (beta 1). A partial row panel
 * (the last rows of C) runs the micro-kernel variant for that many rows, straight into C; a
 * partial column panel (zero-padded in the pack) is computed into a scratch tile and copied out,
 * by the narrow kernel (half the columns) when it is at most half full. With few rows of C
 * (TG_GEMM_B_ROWS_DIRECT_MAX_M) an untransposed B's whole panels are not packed but read from its
 * rows.
 * tg_gemm_packed_b runs the same nest with B packed by the caller's function (implicit im2col);
 * tg_gemm_prepacked with A packed once beforehand (tg_gemm_pack_a: a filter reused image after
 * image), which skips the A packing; tg_gemm_prepacked_in_place also reads B where it lies.
 *
 * Threads split C into contiguous column (or row) ranges aligned to NR (MR); each thread runs the
 * whole nest on its range with its own packing buffers, so every element of C is summed by one
 * thread in the same K order: results are bit-identical for any thread count.
 * Packing buffers are per thread, grown on first need and kept (freed at thread exit).
 */
#include "gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gemm_internal.h"
#include "parallel.h"

/* ---- kernel choice ---- */

static const tg_kernel_variant gemm_variants[] = {
    TG_SIMD_VARIANTS(&tg_gemm_kernel_avx512, &tg_gemm_kernel_avx2, &tg_gemm_kernel_portable)};
static tg_kernel_choice gemm_choice = TG_KERNEL_CHOICE(gemm_variants, "TG_GEMM_KERNEL");

static const tg_gemm_kernel *current_kernel(void) { return tg_kernel_choice_get(&gemm_choice); }
int tg_gemm_set_kernel(const char *name) { return tg_kernel_choice_set(&gemm_choice, name); }
const char *tg_gemm_kernel_name(void) { return tg_kernel_choice_name(&gemm_choice); }

/* ---- per-thread packing buffers ---- */

typedef struct pack_buffers {
    tg_real *a, *b;
    size_t a_size, b_size; /* elements */
} pack_buffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;

static void free_buffers(void *p)
{
    pack_buffers *buf = p;
    free(buf->a);
    free(buf->b);
    free(buf);
}
static void make_buffers_key(void) { pthread_key_create(&buffers_key, free_buffers); }

/* Grows *p to hold `size` elements (64-byte aligned); false when out of memory. */
static bool reserve(tg_real **p, size_t *have, size_t size)
{
    if (*have >= size) return true;
    size_t bytes = (size * sizeof(tg_real) + 63) / 64 * 64;
    tg_real *q = aligned_alloc(64, bytes);
    if (!q) return false;
    free(*p);
    *p = q;
    *have = size;
    return true;
}

/* This thread's buffers, big enough for kernel k; NULL when out of memory. */
static pack_buffers *thread_buffers(const tg_gemm_kernel *k)
{
    pthread_once(&buffers_once, make_buffers_key);
    pack_buffers *buf = pthread_getspecific(buffers_key);
    if (!buf) {
        buf = calloc(1, sizeof *buf);
        if (!buf || pthread_setspecific(buffers_key, buf) != 0) {
            free(buf);
            return NULL;
        }
    }
    size_t a_size = (size_t)(k->mc + k->mr) * (size_t)k->kc;
    size_t b_size = (size_t)(k->nc + k->nr) * (size_t)k->kc;
    if (!reserve(&buf->a, &buf->a_size, a_size) || !reserve(&buf->b, &buf->b_size, b_size)) return NULL;
    return buf;
}

bool tg_gemm_reserve_thread(void) { return thread_buffers(current_kernel()) != NULL; }

/* ---- the blocked nest ---- */

typedef struct gemm_job {
    bool trans_a, trans_b;
    int64_t m, n, k;
    tg_real alpha, beta;
    const tg_real *a, *b;
    int64_t lda, ldb, ldc;
    tg_real *c;
    const tg_gemm_kernel *kernel;
    bool split_rows; /* threads split rows (MR panels) rather than columns (NR panels) */
    tg_gemm_pack_b_fn pack_b; /* B given by its packing function (b unused), or NULL */
    const void *pack_ctx;
    const tg_real *packed_a;  /* A already in panels (tg_gemm_pack_a; a unused), or NULL */
    const tg_gemm_b_in_place *b_in_place; /* B read where it lies, never packed (b unused), or NULL */
    bool b_rows_direct; /* b untransposed: whole panels read from its rows, only a partial one packed */
    const tg_gemm_epilogue *ep; /* applied as C's values are finished, or NULL */
} gemm_job;

/* One finished value through ep (row bias b): the micro-kernels' epilogue, lane by lane. */
static inline tg_real epilogue_value(const tg_gemm_epilogue *ep, tg_real x, tg_real b)
{
    if (ep->bias) x = x + b;
    if (ep->act == TG_GEMM_ACT_RELU) return x <= 0 ? (tg_real)0 : x;
    if (ep->act == TG_GEMM_ACT_LEAKY_RELU) return x > 0 ? x : ep->slope * x;
    return x;
}
/* ep on C[i0:i1, j0:j1], for the paths without a micro-kernel. */
static void epilogue_rows(const tg_gemm_epilogue *ep, tg_real *c, int64_t ldc, int64_t i0, int64_t i1, int64_t j0,
                          int64_t j1)
{
    if (!ep) return;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++)
            c[i * ldc + j] = epilogue_value(ep, c[i * ldc + j], ep->bias ? ep->bias[i] : 0);
}

/* K in equal blocks of at most kern->kc (784 = 4 x 196, not 3 x 256 + 16: a thin last block pays
 * a whole pass of packing and C updates for little work). */
static int64_t k_step_of(const tg_gemm_kernel *kern, int64_t k)
{
    const int64_t k_blocks = (k + kern->kc - 1) / kern->kc;
    return (k + k_blocks - 1) / k_blocks;
}

/* Rows of C rounded up to whole MR panels: the packed A holds that many rows per K block. */
static int64_t padded_rows(const tg_gemm_kernel *kern, int64_t m) { return (m + kern->mr - 1) / kern->mr * kern->mr; }

/* Where A's panels for K block pc..pc+kc and rows from i (a multiple of MR) start in a packed A:
 * the blocks one after another, each padded_rows x kc as MR-row panels. */
static const tg_real *packed_a_panels(const gemm_job *g, int64_t pc, int64_t kc, int64_t i)
{
    return g->packed_a + pc * padded_rows(g->kernel, g->m) + i * kc;
}

static inline tg_real a_at(const gemm_job *g, int64_t i, int64_t p)
{
    if (g->packed_a) {
        const int64_t step = k_step_of(g->kernel, g->k), pc = p / step * step, mr = g->kernel->mr;
        const int64_t kc = g->k - pc < step ? g->k - pc : step;
        return packed_a_panels(g, pc, kc, i / mr * mr)[(p - pc) * mr + i % mr];
    }
    return g->trans_a ? g->a[p * g->lda + i] : g->a[i * g->lda + p];
}

/* dst[p * width + r] = src[r * ld + p] (zero for lines <= r < width): the kernel's SIMD version
 * when it has one (a 16 x 16 register transpose is ~5x faster than these strided stores). */
static void pack_transposed(const tg_gemm_kernel *kern, const tg_real *src, int64_t ld, int64_t lines, int64_t kc,
                            int width, tg_real *dst)
{
    if (kern->pack_t) {
        kern->pack_t(src, ld, lines, kc, width, dst);
        return;
    }
    for (int64_t r = 0; r < lines; r++)
        for (int64_t p = 0; p < kc; p++) dst[p * width + r] = src[r * ld + p];
    for (int64_t r = lines; r < width; r++)
        for (int64_t p = 0; p < kc; p++) dst[p * width + r] = 0;
}

/* op(A)[i0:i0+mc, p0:p0+kc] -> panels of MR rows: panel r holds, for each p, MR values (zero-padded). */
static void pack_a(const gemm_job *g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, tg_real *dst)
{
    const int mr = g->kernel->mr;
    for (int64_t ir = 0; ir < mc; ir += mr) {
        int64_t rows = mc - ir < mr ? mc - ir : mr;
        if (g->trans_a && rows == 12) { /* the AVX-512 tile: a fixed-length copy the compiler vectorises */
            for (int64_t p = 0; p < kc; p++, dst += 12) memcpy(dst, g->a + (p0 + p) * g->lda + i0 + ir, 12 * sizeof *dst);
        } else if (g->trans_a) { /* A^T: the MR values of one k step are contiguous in A */
            for (int64_t p = 0; p < kc; p++) {
                const tg_real *src = g->a + (p0 + p) * g->lda + i0 + ir;
                for (int64_t i = 0; i < rows; i++) dst[i] = src[i];
                for (int64_t i = rows; i < mr; i++) dst[i] = 0;
                dst += mr;
            }
        } else {
            pack_transposed(g->kernel, g->a + (i0 + ir) * g->lda + p0, g->lda, rows, kc, mr, dst);
            dst += kc * mr;
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] -> panels of NR columns: panel r holds, for each p, NR values. */
static void pack_b(const gemm_job *g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, tg_real *dst)
{
    const int nr = g->kernel->nr;
    if (g->pack_b) {
        g->pack_b(g->pack_ctx, p0, kc, j0, nc, nr, dst);
        return;
    }
    for (int64_t jr = 0; jr < nc; jr += nr) {
        int64_t cols = nc - jr < nr ? nc - jr : nr;
        if (!g->trans_b && cols == nr && g->kernel->pack_rows) {
            g->kernel->pack_rows(g->b + p0 * g->ldb + j0 + jr, g->ldb, kc, dst);
            dst += kc * nr;
        } else if (!g->trans_b) { /* B: the NR values of one k step are contiguous */
            for (int64_t p = 0; p < kc; p++) {
                const tg_real *src = g->b + (p0 + p) * g->ldb + j0 + jr;
                memcpy(dst, src, (size_t)cols * sizeof *dst); /* libc's copy is vectorised */
                for (int64_t j = cols; j < nr; j++) dst[j] = 0;
                dst += nr;
            }
        } else {
            pack_transposed(g->kernel, g->b + (j0 + jr) * g->ldb + p0, g->ldb, cols, kc, nr, dst);
            dst += kc * nr;
        }
    }
}

/* C[i0:i1, j0:j1] through the packed nest; false when the buffers cannot be had. */
static bool gemm_blocked(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const tg_gemm_kernel *kern = g->kernel;
    const bool packs = !g->packed_a || !g->b_in_place; /* with neither operand to pack, no buffers */
    pack_buffers *buf = packs ? thread_buffers(kern) : NULL;
    if (packs && !buf) return false;
    const int mr = kern->mr, nr = kern->nr;
    tg_real edge[TG_GEMM_MAX_MR * TG_GEMM_MAX_NR];

    for (int64_t jc = j0; jc < j1; jc += kern->nc) {
        int64_t nc = j1 - jc < kern->nc ? j1 - jc : kern->nc;
        const int64_t k_step = k_step_of(kern, g->k);
        for (int64_t pc = 0; pc < g->k; pc += k_step) {
            int64_t kc = g->k - pc < k_step ? g->k - pc : k_step;
            tg_real beta = pc == 0 ? g->beta : 1;
            const tg_gemm_epilogue *ep = pc + kc >= g->k ? g->ep : NULL; /* once C is complete */
            tg_gemm_epilogue tile_ep = ep ? *ep : (tg_gemm_epilogue){0};
            const int64_t whole = g->b_rows_direct ? nc / nr * nr : 0; /* columns read from B's rows */
            if (g->b_rows_direct) {
                if (whole < nc) pack_b(g, pc, kc, jc + whole, nc - whole, buf->b + whole * kc);
            } else if (!g->b_in_place)
                pack_b(g, pc, kc, jc, nc, buf->b);
            for (int64_t ic = i0; ic < i1; ic += kern->mc) {
                int64_t mc = i1 - ic < kern->mc ? i1 - ic : kern->mc;
                const tg_real *a_panels; /* ic is a multiple of MR: so are all kernels' mc */
                if (g->packed_a) {
                    a_panels = packed_a_panels(g, pc, kc, ic);
                } else {
                    pack_a(g, ic, mc, pc, kc, buf->a);
                    a_panels = buf->a;
                }
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int64_t cols = nc - jr < nr ? nc - jr : nr;
                    if (g->b_in_place) { /* whole panels (n is a multiple of NR): straight into C */
                        const tg_gemm_b_in_place *bp = g->b_in_place;
                        const tg_real *seg = bp->panel(bp->ctx, jc + jr) + pc / bp->seg_len * bp->seg_stride;
                        for (int64_t ir = 0; ir < mc; ir += mr) {
                            int64_t rows = mc - ir < mr ? mc - ir : mr;
                            if (ep && ep->bias) tile_ep.bias = ep->bias + ic + ir;
                            kern->run_in_place[rows - 1](kc, a_panels + ir * kc, seg, pc % bp->seg_len, bp->seg_len,
                                                         bp->seg_stride, bp->row_stride,
                                                         g->c + (ic + ir) * g->ldc + jc + jr, g->ldc, g->alpha, beta,
                                                         ep ? &tile_ep : NULL);
                        }
                        continue;
                    }
                    if (jr < whole) { /* B's rows: one run of kc rows ldb apart */
                        const tg_real *b_rows = g->b + pc * g->ldb + jc + jr;
                        for (int64_t ir = 0; ir < mc; ir += mr) {
                            int64_t rows = mc - ir < mr ? mc - ir : mr;
                            if (ep && ep->bias) tile_ep.bias = ep->bias + ic + ir;
                            kern->run_in_place[rows - 1](kc, a_panels + ir * kc, b_rows, 0, kc, 0, g->ldb,
                                                         g->c + (ic + ir) * g->ldc + jc + jr, g->ldc, g->alpha, beta,
                                                         ep ? &tile_ep : NULL);
                        }
                        continue;
                    }
                    const tg_real *pb = buf->b + jr * kc;
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        int64_t rows = mc - ir < mr ? mc - ir : mr;
                        const tg_real *pa = a_panels + ir * kc;
                        tg_real *c = g->c + (ic + ir) * g->ldc + jc + jr;
                        tg_gemm_ukernel_fn run = 2 * cols <= nr ? kern->run_narrow[rows - 1] : kern->run[rows - 1];
                        if (ep && ep->bias) tile_ep.bias = ep->bias + ic + ir;
                        if (cols == nr || 2 * cols == nr) { /* full or half panel: straight into C */
                            run(kc, pa, pb, c, g->ldc, g->alpha, beta, ep ? &tile_ep : NULL);
                            continue;
                        }
                        if (ep && beta == 0) { /* the epilogue in the micro-kernel here too, then copied */
                            run(kc, pa, pb, edge, nr, g->alpha, 0, &tile_ep);
                            for (int64_t i = 0; i < rows; i++) memcpy(c + i * g->ldc, edge + i * nr, (size_t)cols * sizeof *c);
                            continue;
                        }
                        run(kc, pa, pb, edge, nr, 1, 0, NULL);
                        for (int64_t i = 0; i < rows; i++) { /* one loop per case: no branch per element */
                            tg_real *ci = c + i * g->ldc;
                            const tg_real *ei = edge + i * nr;
                            if (beta == 0)
                                for (int64_t j = 0; j < cols; j++) ci[j] = g->alpha * ei[j];
                            else
                                for (int64_t j = 0; j < cols; j++) ci[j] = g->alpha * ei[j] + beta * ci[j];
                            if (ep)
                                for (int64_t j = 0; j < cols; j++)
                                    ci[j] = epilogue_value(ep, ci[j], ep->bias ? ep->bias[ic + ir + i] : 0);
                        }
                    }
                }
            }
        }
    }
    return true;
}

/* Unpacked loops for products too small for packing to pay (and the out-of-memory fallback).
 * Each row of C: scaled by beta (or zeroed), then alpha*A[i,p]*B[p,:] added in K order; with B^T
 * the rows of B are contiguous, so each element is a dot product instead. */
/* Independent partial sums of a dot product. A matrix-vector product (a batch-1 linear layer:
 * x[1,K] W[N,K]^T) is one long dot per output, and one accumulator waits on each add's latency;
 * DOT_LANES sums run side by side (and vectorise). The lanes are fixed, so the order of the
 * additions is the same on every run and thread count. */
#define DOT_LANES 16
static tg_real dot_lanes(const tg_real *x, const tg_real *y, int64_t n)
{
    tg_real part[DOT_LANES] = {0};
    int64_t p = 0;
    for (; p + DOT_LANES <= n; p += DOT_LANES)
        for (int l = 0; l < DOT_LANES; l++) part[l] += x[p + l] * y[p + l];
    for (int l = 0; p + l < n; l++) part[l] += x[p + l] * y[p + l];
    tg_real acc = 0;
    for (int l = 0; l < DOT_LANES; l++) acc += part[l];
    return acc;
}

static void gemm_direct(const gemm_job *g, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++) {
        tg_real *c = g->c + i * g->ldc;
        if (g->trans_b) {
            /* row i of A is contiguous unless A is transposed or packed */
            const tg_real *ai = g->trans_a || g->packed_a ? NULL : g->a + i * g->lda;
            for (int64_t j = 0; j < g->n; j++) {
                const tg_real *bj = g->b + j * g->ldb;
                tg_real acc = 0;
                if (ai) acc = dot_lanes(ai, bj, g->k);
                else
                    for (int64_t p = 0; p < g->k; p++) acc += a_at(g, i, p) * bj[p];
                c[j] = g->beta == 0 ? g->alpha * acc : g->alpha * acc + g->beta * c[j];
            }
            continue;
        }
        for (int64_t j = 0; j < g->n; j++) c[j] = g->beta == 0 ? 0 : g->beta * c[j];
        for (int64_t p = 0; p < g->k; p++) {
            tg_real s = g->alpha * a_at(g, i, p);
            const tg_real *bp = g->b + p * g->ldb;
            for (int64_t j = 0; j < g->n; j++) c[j] += s * bp[j];
        }
    }
}

/* The out-of-memory fallback when B exists only through its packing function: one column of B at a
 * time (panels one column wide) into a stack buffer. */
#define SOURCE_CHUNK 256
static void gemm_direct_source(const gemm_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    tg_real col[SOURCE_CHUNK];
    for (int64_t j = j0; j < j1; j++) {
        for (int64_t i = i0; i < i1; i++) {
            tg_real *c = g->c + i * g->ldc + j;
            *c = g->beta == 0 ? 0 : g->beta * *c;
        }
        for (int64_t p0 = 0; p0 < g->k; p0 += SOURCE_CHUNK) {
            int64_t kc = g->k - p0 < SOURCE_CHUNK ? g->k - p0 : SOURCE_CHUNK;
            g->pack_b(g->pack_ctx, p0, kc, j, 1, 1, col);
            for (int64_t i = i0; i < i1; i++) {
                tg_real acc = 0;
                for (int64_t p = 0; p < kc; p++) acc += a_at(g, i, p0 + p) * col[p];
                g->c[i * g->ldc + j] += g->alpha * acc;
            }
        }
    }
}

static void gemm_range(void *ctx, int64_t begin, int64_t end)
{
    const gemm_job *g = ctx;
    bool ok = g->split_rows
                  ? gemm_blocked(g, begin * g->kernel->mr, end * g->kernel->mr < g->m ? end * g->kernel->mr : g->m,
                                 0, g->n)
                  : gemm_blocked(g, 0, g->m, begin * g->kernel->nr,
                                 end * g->kernel->nr < g->n ? end * g->kernel->nr : g->n);
    if (ok) return;
    const int64_t mr = g->kernel->mr, nr = g->kernel->nr;
    const int64_t i0 = g->split_rows ? begin * mr : 0, i1 = g->split_rows ? (end * mr < g->m ? end * mr : g->m) : g->m;
    const int64_t j0 = g->split_rows ? 0 : begin * nr, j1 = g->split_rows ? g->n : (end * nr < g->n ? end * nr : g->n);
    if (g->pack_b) {
        gemm_direct_source(g, i0, i1, j0, j1);
    } else if (g->split_rows) { /* no packing memory: same result contract, slower loops */
        gemm_direct(g, i0, i1);
    } else {
        gemm_job sub = *g;
        sub.n = j1 - j0;
        sub.b = g->trans_b ? g->b + j0 * g->ldb : g->b + j0;
        sub.c = g->c + j0;
        gemm_direct(&sub, 0, g->m);
    }
    epilogue_rows(g->ep, g->c, g->ldc, i0, i1, j0, j1);
}

/* Below this many multiply-adds (or for a matrix-vector product) packing costs more than it saves. */
#define DIRECT_MAX_FLOPS (16 * 16 * 16)
/* Below this many multiply-adds (about 10 us on one core) one thread beats waking the pool. */
#define PARALLEL_MIN_FLOPS (128 * 128 * 64)

/* The packed nest over all of C, split across the pool by whole panels when the product is big
 * enough to pay for waking it. */
static void run_blocked(gemm_job *g)
{
    g->b_rows_direct = g->b && !g->trans_b && !g->pack_b && !g->b_in_place && g->m <= TG_GEMM_B_ROWS_DIRECT_MAX_M;
    double flops = (double)g->m * (double)g->n * (double)g->k;
    int64_t row_panels = (g->m + g->kernel->mr - 1) / g->kernel->mr;
    int64_t col_panels = (g->n + g->kernel->nr - 1) / g->kernel->nr;
    g->split_rows = row_panels > col_panels;
    int64_t panels = g->split_rows ? row_panels : col_panels;
    if (flops < PARALLEL_MIN_FLOPS || tg_get_threads() == 1)
        gemm_range(g, 0, panels);
    else
        tg_parallel_for(panels, gemm_range, g);
}

/* C = beta*C: the whole product when K is empty or alpha is 0 */
static void scale_c(int64_t m, int64_t n, tg_real beta, tg_real *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
}

void tg_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
             const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta, tg_real *c,
             int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    gemm_job g = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k, .alpha = alpha,
                  .beta = beta, .a = a, .b = b, .lda = lda, .ldb = ldb, .ldc = ldc, .c = c,
                  .kernel = current_kernel()};
    double flops = (double)m * (double)n * (double)k;
    if (n == 1 || m == 1 || flops <= DIRECT_MAX_FLOPS) {
        gemm_direct(&g, 0, m);
        return;
    }
    run_blocked(&g);
}

void tg_gemm_packed_b(bool trans_a, int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *a, int64_t lda,
                      tg_gemm_pack_b_fn pack_b, const void *ctx, tg_real beta, tg_real *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    gemm_job g = {.trans_a = trans_a, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .a = a, .lda = lda,
                  .ldc = ldc, .c = c, .kernel = current_kernel(), .pack_b = pack_b, .pack_ctx = ctx};
    run_blocked(&g);
}

int64_t tg_gemm_packed_a_size(int64_t m, int64_t k)
{
    return m > 0 && k > 0 ? padded_rows(current_kernel(), m) * k : 0;
}

void tg_gemm_pack_a(bool trans_a, int64_t m, int64_t k, const tg_real *a, int64_t lda, tg_real *dst)
{
    if (m <= 0 || k <= 0) return;
    gemm_job g = {.trans_a = trans_a, .m = m, .k = k, .a = a, .lda = lda, .kernel = current_kernel()};
    const int64_t step = k_step_of(g.kernel, k);
    for (int64_t pc = 0; pc < k; pc += step) {
        int64_t kc = k - pc < step ? k - pc : step;
        pack_a(&g, 0, m, pc, kc, dst + pc * padded_rows(g.kernel, m));
    }
}

void tg_gemm_prepacked_epilogue(int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *packed_a,
                                const tg_real *b, int64_t ldb, tg_gemm_pack_b_fn pack_b, const void *ctx,
                                tg_real beta, tg_real *c, int64_t ldc, const tg_gemm_epilogue *ep)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        epilogue_rows(ep, c, ldc, 0, m, 0, n);
        return;
    }
    gemm_job g = {.m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .b = b, .ldb = ldb, .ldc = ldc, .c = c,
                  .kernel = current_kernel(), .pack_b = pack_b, .pack_ctx = ctx, .packed_a = packed_a, .ep = ep};
    run_blocked(&g);
}

void tg_gemm_prepacked(int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *packed_a, const tg_real *b,
                       int64_t ldb, tg_gemm_pack_b_fn pack_b, const void *ctx, tg_real beta, tg_real *c, int64_t ldc)
{
    tg_gemm_prepacked_epilogue(m, n, k, alpha, packed_a, b, ldb, pack_b, ctx, beta, c, ldc, NULL);
}

int tg_gemm_col_panel(void) { return current_kernel()->nr; }

void tg_gemm_prepacked_in_place(int64_t m, int64_t n, int64_t k, tg_real alpha, const tg_real *packed_a,
                                const tg_gemm_b_in_place *b, tg_real beta, tg_real *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    gemm_job g = {.m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .ldc = ldc, .c = c,
                  .kernel = current_kernel(), .packed_a = packed_a, .b_in_place = b};
    run_blocked(&g);
}

void tg_gemm_pack_transposed(const tg_real *src, int64_t ld, int64_t lines, int64_t kc, int width, tg_real *dst)
{
    pack_transposed(current_kernel(), src, ld, lines, kc, width, dst);
}

void tg_gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, tg_real alpha,
                       const tg_real *a, int64_t lda, const tg_real *b, int64_t ldb, tg_real beta,
                       tg_real *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < k; p++) {
                tg_real x = trans_a ? a[p * lda + i] : a[i * lda + p];
                tg_real y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                acc += (double)x * y;
            }
            c[i * ldc + j] = (tg_real)(alpha * acc + (beta == 0 ? 0 : beta * c[i * ldc + j]));
        }
}
