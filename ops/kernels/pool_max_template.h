/* ops/kernels/pool_max_template.h — the max-pool run kernels once, for every SIMD file (included
 * by pool_avx2.c and pool_avx512.c, as the GEMM's micro-kernel template is by its SIMD files).
 *
 * The including file defines, for its instruction set and tg_real:
 *   VLEN                  outputs per vector
 *   vec, vmask, offv      vector of tg_real, lane mask, vector of tap offsets
 *   lanes(n)              mask of the first n lanes (n may be <= 0 or >= VLEN)
 *   vload(p), vload_masked(m, p)   loads of VLEN inputs (masked: lanes off read as zero)
 *   veven(a, b), vodd(a, b)        the even and odd lanes of a and b in order (stride 2)
 *   gidx, vstride_index(s), vgather(p, ix), vgather_masked(m, p, ix)
 *                         lane offsets 0, s, 2s, ... and the gathers of p[ix] (strides from 3)
 *   vzero(), off_zero()
 *   CONSIDER(v, t)        best, off := v, tap_off[t] where v > best or v is NaN
 *   store_outputs(run, row, o, n, best, off)
 *   POOL_MAX_RUN_FN       the name of the entry point (tg_pool_max_run_<isa>)
 *
 * One vector of outputs at a time: each tap is one vector of inputs — a plain load for stride 1;
 * for stride 2 two loads deinterleaved (neighbouring taps c, c+1 share the loads as the even and
 * odd lanes). The running maximum and the tap offset of its position stay in registers.
 */

/* The vector kernels are always inlined: `plain` is a literal at every call, so each use compiles
 * to plain loads or to masked ones (and an unused mask is never computed). */
#define INLINE static inline __attribute__((always_inline))

INLINE vec load_taps(const tg_real *p, vmask m, bool plain) { return plain ? vload(p) : vload_masked(m, p); }

/* Outputs o .. o+n-1 (n <= VLEN) of one output row; plain: loads of all VLEN lanes stay inside
 * the plane (RUN_ROWS), else they are masked to the n outputs' positions. */
INLINE void stride1_vector(const tg_pool_max_run *run, const out_row *row, int64_t o, int64_t n, bool plain)
{
    const vmask m = lanes(n);
    const int64_t from = row->shift + run->col0 + o;
    vec best = load_taps(run->rows[0] + from, m, plain);
    offv off = off_zero();
    int t = 0;
    for (int r = 0; r < run->nrows; r++) {
        const tg_real *p = run->rows[r] + from;
        for (int64_t c = 0; c < run->taps2; c++, t++) {
            if (t == 0) continue;
            const vec v = load_taps(p + c, m, plain);
            CONSIDER(v, t);
        }
    }
    store_outputs(run, row, o, n, best, off);
}

INLINE void stride2_vector(const tg_pool_max_run *run, const out_row *row, int64_t o, int64_t n, bool plain)
{
    /* taps c and c+1 of n outputs span 2n positions from c; tap c alone 2n-1 */
    const vmask pair_lo = lanes(2 * n), pair_hi = lanes(2 * n - VLEN);
    const vmask one_lo = lanes(2 * n - 1), one_hi = lanes(2 * n - 1 - VLEN);
    const int64_t from = row->shift + run->col0 + 2 * o;
    vec best = vzero(); /* replaced by tap 0 */
    offv off = off_zero();
    int t = 0;
    for (int r = 0; r < run->nrows; r++) {
        const tg_real *p = run->rows[r] + from;
        int64_t c = 0;
        for (; c + 1 < run->taps2; c += 2, t += 2) {
            const vec a = load_taps(p + c, pair_lo, plain), b = load_taps(p + c + VLEN, pair_hi, plain);
            const vec even = veven(a, b), odd = vodd(a, b);
            if (t == 0) best = even;
            else CONSIDER(even, t);
            CONSIDER(odd, t + 1);
        }
        if (c < run->taps2) {
            const vec a = load_taps(p + c, one_lo, plain), b = load_taps(p + c + VLEN, one_hi, plain);
            const vec even = veven(a, b);
            if (t == 0) best = even;
            else CONSIDER(even, t);
            t++;
        }
    }
    store_outputs(run, row, o, n, best, off);
}

/* Strides from 3 (windows such as 3x3/3 or 4/4): each tap's VLEN inputs, a stride apart, gathered
 * (the scalar loop they had took about 1.2 ns an input: a quarter of a 1-D net's inference at
 * batch 64, 5 Dec); masked gathers read nothing for the lanes off. */
INLINE void strided_vector(const tg_pool_max_run *run, const out_row *row, int64_t o, int64_t n, bool plain)
{
    const vmask m = lanes(n);
    const gidx ix = vstride_index(run->stride);
    const int64_t from = row->shift + run->col0 + run->stride * o;
    vec best = vzero(); /* replaced by tap 0 */
    offv off = off_zero();
    int t = 0;
    for (int r = 0; r < run->nrows; r++) {
        const tg_real *p = run->rows[r] + from;
        for (int64_t c = 0; c < run->taps2; c++, t++) {
            const vec v = plain ? vgather(p + c, ix) : vgather_masked(m, p + c, ix);
            if (t == 0) best = v;
            else CONSIDER(v, t);
        }
    }
    store_outputs(run, row, o, n, best, off);
}

TG_POOL_MAX_RUN_ROWS_ENTRY(POOL_MAX_RUN_FN, stride1_vector, stride2_vector, strided_vector)
