/* ops/kernels/winograd1d_rows.h — the loops of the 1-D Winograd transforms, over a whole chunk's
 * line at once, included by winograd1d.c (portable build), winograd1d_avx2.c and
 * winograd1d_avx512.c (the same loops compiled for those ISAs, where the compiler vectorises them
 * 8 or 16 wide); WINOGRAD1D_ROWS(name) gives each copy its own names. Only winograd1d*.c include it.
 */
#ifndef WINOGRAD1D_ROWS
#error "define WINOGRAD1D_ROWS(name) before including winograd1d_rows.h"
#endif

#include <string.h>

#include "winograd1d_internal.h"

/* s[a*spitch + t] = line[m*t + a] (a < m, t < n): the line split by position within a tile. Each
 * m its own loop, so the compiler sees the constant stride and vectorises it by shuffles. */
static void WINOGRAD1D_ROWS(deinterleave)(const tg_real *restrict line, int m, int64_t n, tg_real *restrict s,
                                   int64_t spitch)
{
    tg_real *restrict s0 = s, *restrict s1 = s + spitch, *restrict s2 = s + 2 * spitch, *restrict s3 = s + 3 * spitch;
    switch (m) {
    case 2:
        for (int64_t t = 0; t < n; t++) {
            s0[t] = line[2 * t];
            s1[t] = line[2 * t + 1];
        }
        break;
    case 3:
        for (int64_t t = 0; t < n; t++) {
            s0[t] = line[3 * t];
            s1[t] = line[3 * t + 1];
            s2[t] = line[3 * t + 2];
        }
        break;
    case 4:
        for (int64_t t = 0; t < n; t++) {
            s0[t] = line[4 * t];
            s1[t] = line[4 * t + 1];
            s2[t] = line[4 * t + 2];
            s3[t] = line[4 * t + 3];
        }
        break;
    default:
        for (int a = 0; a < m; a++)
            for (int64_t t = 0; t < n; t++) s[a * spitch + t] = line[m * t + a];
    }
}

/* The q in [*lo, *hi) (within [0, len)) with 0 <= start + step*q < size. */
static inline void WINOGRAD1D_ROWS(valid_range)(int64_t size, int64_t start, int64_t step, int64_t len, int64_t *lo,
                                                int64_t *hi)
{
    int64_t a = start >= 0 ? 0 : (-start + step - 1) / step;
    int64_t b = start >= size ? 0 : (size - start + step - 1) / step;
    a = a < len ? a : len;
    b = b < len ? b : len;
    *lo = a;
    *hi = b > a ? b : a;
}

/* Rows row0 .. row0+rows-1 of a chunk (row r: image r / phases, phase r % phases) gathered one after
 * another, len apart: dst row r [q] = src[start + step*q] (start = phase + shift, src image r's
 * plane, x + image * image_stride) where that is within [0, size), else 0 — loops, not
 * memset/memcpy: rows are a few hundred values, where the calls cost more than the copying. The
 * valid range of a phase is worked out once, not per row (two divisions and a call per row of
 * 32-256 values were most of the gather's time: 8 % of a 1-D CNN's training step, 5 Dec). */
#define W1_GATHER_PHASES 8 /* phases whose ranges are kept; more (a dilation above 8) work row by row */
static void WINOGRAD1D_ROWS(gather_rows)(const tg_real *restrict x, int64_t image_stride, int64_t size, int64_t row0,
                                         int64_t rows, int64_t phases, int64_t shift, int64_t step, int64_t len,
                                         tg_real *restrict dst)
{
    int64_t lo[W1_GATHER_PHASES] = {0}, hi[W1_GATHER_PHASES] = {0};
    for (int64_t q = 0; q < phases && q < W1_GATHER_PHASES; q++)
        WINOGRAD1D_ROWS(valid_range)(size, q + shift, step, len, &lo[q], &hi[q]);
    int64_t image = row0 / phases, phase = row0 % phases;
    for (int64_t r = 0; r < rows; r++, dst += len, phase = phase + 1 < phases ? phase + 1 : (image++, 0)) {
        const int64_t start = phase + shift;
        const tg_real *src = x + image * image_stride;
        int64_t a, b;
        if (phase < W1_GATHER_PHASES) a = lo[phase], b = hi[phase];
        else WINOGRAD1D_ROWS(valid_range)(size, start, step, len, &a, &b);
        for (int64_t q = 0; q < a; q++) dst[q] = 0;
        if (step == 1)
            for (int64_t q = a; q < b; q++) dst[q] = src[start + q];
        else if (step == 2) /* a constant stride: the compiler gathers it with shuffles */
            for (int64_t q = a; q < b; q++) dst[q] = src[start + 2 * q];
        else
            for (int64_t q = a; q < b; q++) dst[q] = src[start + step * q];
        for (int64_t q = b; q < len; q++) dst[q] = 0;
    }
}

/* line[m*t + a] = z[a*zpitch + t]: the inverse of deinterleave. */
static void WINOGRAD1D_ROWS(interleave)(const tg_real *restrict z, int64_t zpitch, int m, int64_t n, tg_real *restrict line)
{
    const tg_real *restrict z0 = z, *restrict z1 = z + zpitch, *restrict z2 = z + 2 * zpitch, *restrict z3 = z + 3 * zpitch;
    switch (m) {
    case 2:
        for (int64_t t = 0; t < n; t++) {
            line[2 * t] = z0[t];
            line[2 * t + 1] = z1[t];
        }
        break;
    case 3:
        for (int64_t t = 0; t < n; t++) {
            line[3 * t] = z0[t];
            line[3 * t + 1] = z1[t];
            line[3 * t + 2] = z2[t];
        }
        break;
    case 4:
        for (int64_t t = 0; t < n; t++) {
            line[4 * t] = z0[t];
            line[4 * t + 1] = z1[t];
            line[4 * t + 2] = z2[t];
            line[4 * t + 3] = z3[t];
        }
        break;
    default:
        for (int a = 0; a < m; a++)
            for (int64_t t = 0; t < n; t++) line[m * t + a] = z[a * zpitch + t];
    }
}

/* Tiles per block of combine: one vector of floats at AVX-512's width (two at AVX2's, four at
 * SSE2's); a block's inputs and its running sums stay in registers. */
#define W1_BLOCK 16
/* a block as one value of the compiler's generic vectors (GCC and Clang lower it to the ISA the
 * file is built for): written as plain arrays, the unrolled block was scalar code with shuffles */
typedef tg_real w1_vec __attribute__((vector_size(W1_BLOCK * sizeof(tg_real))));
/* (macros: a function passing such a vector by value in the portable build changes the ABI) */
#define W1_LOAD(v, p) memcpy(&(v), (p), sizeof(w1_vec))
#define W1_STORE(p, v) memcpy((p), &(v), sizeof(w1_vec))

/* out[k*ostride + t] = sum over i < ins of coef[k][i] * in[(i % split)*ipitch + i/split + t], for
 * k < outs and t < n: one matrix of a transform applied to n tiles at once. Input i of tile t is
 * term i/split of array i%split (a deinterleaved line: tile t's inputs past its own m are the next
 * tile's first ones). Each sum runs over every i in order (zero coefficients too: the sizes are
 * constants here, so the block's loops unroll into register code, which costs less than skipping).
 * When check is given, check[t] turns NaN for good once an output of tile t is NaN or ±Inf (or
 * the outputs' sum overflows: a false alarm only sends the caller to the exact path). */
static inline __attribute__((always_inline)) void WINOGRAD1D_ROWS(combine_fixed)(
    const tg_real coef[W1_MAX_ALPHA][W1_MAX_ALPHA], const int outs, const int ins, const int split,
    const tg_real *restrict in, int64_t ipitch, int64_t n, tg_real *restrict out, int64_t ostride,
    tg_real *restrict check)
{
    for (int64_t t0 = 0; t0 < n; t0 += W1_BLOCK) {
        const int64_t len = n - t0 < W1_BLOCK ? n - t0 : W1_BLOCK;
        if (len == W1_BLOCK) {
            w1_vec x[W1_MAX_ALPHA], flag = {0};
            for (int i = 0; i < ins; i++) W1_LOAD(x[i], in + (i % split) * ipitch + i / split + t0);
            for (int k = 0; k < outs; k++) {
                w1_vec acc = x[0] * coef[k][0];
                for (int i = 1; i < ins; i++) acc += x[i] * coef[k][i];
                W1_STORE(out + k * ostride + t0, acc);
                flag += acc;
            }
            if (check) {
                w1_vec old;
                W1_LOAD(old, check + t0);
                old += flag * 0;
                W1_STORE(check + t0, old);
            }
        } else { /* the last, partial block: the same sums, element by element */
            for (int64_t l = 0; l < len; l++) {
                tg_real sum_all = 0;
                for (int k = 0; k < outs; k++) {
                    tg_real acc = coef[k][0] * in[t0 + l];
                    for (int i = 1; i < ins; i++) acc += coef[k][i] * in[(i % split) * ipitch + i / split + t0 + l];
                    out[k * ostride + t0 + l] = acc;
                    sum_all += acc;
                }
                if (check) check[t0 + l] += sum_all * 0;
            }
        }
    }
}

/* The shapes the 1-D kernel uses (winograd1d.c: tile m and alpha for 2..7 taps), each its own
 * unrolled copy; with split = ins the inputs are ins separate arrays (the output transform). */
static void WINOGRAD1D_ROWS(combine)(const tg_real coef[W1_MAX_ALPHA][W1_MAX_ALPHA], int outs, int ins, int split,
                              const tg_real *in, int64_t ipitch, int64_t n, tg_real *out, int64_t ostride,
                              tg_real *check)
{
#define W1_CASE(o, i, s)                                                                   \
    if (outs == (o) && ins == (i) && split == (s)) {                                       \
        WINOGRAD1D_ROWS(combine_fixed)(coef, o, i, s, in, ipitch, n, out, ostride, check); \
        return;                                                                            \
    }
    /* input transforms: alpha x alpha, split m */
    W1_CASE(5, 5, 4) W1_CASE(6, 6, 4) W1_CASE(7, 7, 4) W1_CASE(8, 8, 4) W1_CASE(8, 8, 3) W1_CASE(8, 8, 2)
    /* output transforms: m x alpha over alpha arrays */
    W1_CASE(4, 5, 5) W1_CASE(4, 6, 6) W1_CASE(4, 7, 7) W1_CASE(4, 8, 8) W1_CASE(3, 8, 8) W1_CASE(2, 8, 8)
    /* gradient transforms: alpha x m over m arrays */
    W1_CASE(5, 4, 4) W1_CASE(6, 4, 4) W1_CASE(7, 4, 4) W1_CASE(8, 4, 4) W1_CASE(8, 3, 3) W1_CASE(8, 2, 2)
    /* filter transforms: alpha x r over r arrays; the weight gradient's G^T: r x alpha */
    W1_CASE(5, 2, 2) W1_CASE(6, 3, 3) W1_CASE(8, 5, 5) W1_CASE(8, 6, 6) W1_CASE(8, 7, 7)
    W1_CASE(2, 5, 5) W1_CASE(3, 6, 6) W1_CASE(5, 8, 8) W1_CASE(6, 8, 8) W1_CASE(7, 8, 8)
#undef W1_CASE
    WINOGRAD1D_ROWS(combine_fixed)(coef, outs, ins, split, in, ipitch, n, out, ostride, check);
}

const w1_loops WINOGRAD1D_ROWS(loops) = {WINOGRAD1D_ROWS(deinterleave), WINOGRAD1D_ROWS(interleave),
                                         WINOGRAD1D_ROWS(combine), WINOGRAD1D_ROWS(gather_rows)};
