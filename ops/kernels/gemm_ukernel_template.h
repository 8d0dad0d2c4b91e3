/* ops/kernels/gemm_ukernel_template.h — the one micro-kernel, written once over a vector type.
 *
 * Included by gemm_portable.c, gemm_avx2.c and gemm_avx512.c after defining:
 *   UK_NAME            name of the table of kernels it defines (UK_NAME[r-1] computes r rows)
 *   UK_MR, UK_NV       tile rows, vectors per tile row (tile columns NR = UK_NV * UK_VLEN)
 *   UK_VLEN, UK_VEC    elements per vector, vector type
 *   UK_ZERO(), UK_SET1(x), UK_LOAD(p) (aligned), UK_LOADU(p), UK_STOREU(p, v),
 *   UK_FMA(a, b, acc) (= a*b + acc), UK_MUL(a, b), UK_ADD(a, b),
 *   UK_RELU(x) (x <= 0 ? +0 : x), UK_LEAKY(x, s) (x > 0 ? x : s*x), lane by lane
 * The MR x NV accumulators live in registers; each k step loads NV vectors of B and broadcasts MR
 * values of A (an outer-product update). Contract in gemm_internal.h. One body, specialised for
 * every row count 1..MR, so a partial row panel (M = 50, 64 with MR = 12) writes straight into C
 * without computing padding rows or going through a scratch tile; and again computing only the first
 * NV/2 vectors of each row (UK_NAME_narrow), for a last column panel at most half full (N = 784 =
 * 24*32 + 16 with NR = 32), which would otherwise compute a whole panel of padding.
 */
#define UK_NR (UK_NV * UK_VLEN)
#if UK_NV % 2
#error "gemm_ukernel_template.h: the narrow kernels need an even UK_NV"
#endif
#define UK_CAT2(a, b) a##_##b
#define UK_CAT(a, b) UK_CAT2(a, b)
#define UK_BODY UK_CAT(UK_NAME, body)

/* B's rows: a packed panel is one run of kc rows UK_NR apart (off 0, seg_len kc, step UK_NR); B read
 * in place is runs of seg_len rows step apart, the runs seg_stride apart, the first row `off` rows
 * into the run at pb_seg. */
static inline __attribute__((always_inline)) void UK_BODY(int rows, int nv, int64_t kc, const tg_real *restrict pa,
                                                           const tg_real *restrict pb_seg, int64_t off,
                                                           int64_t seg_len, int64_t seg_stride, int64_t step,
                                                           tg_real *restrict c, int64_t ldc, tg_real alpha,
                                                           tg_real beta, const tg_gemm_epilogue *ep)
{
    UK_VEC acc[UK_MR][UK_NV];
#pragma GCC unroll 16
    for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[i][v] = UK_ZERO();

    const tg_real *pb = pb_seg + off * step;
    for (int64_t p = 0, left = seg_len - off; p < kc; left = seg_len) {
        const int64_t n = kc - p < left ? kc - p : left;
#pragma GCC unroll 2
        for (int64_t q = 0; q < n; q++) {
            UK_VEC b[UK_NV];
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) b[v] = step == UK_NR ? UK_LOAD(pb + v * UK_VLEN) : UK_LOADU(pb + v * UK_VLEN);
#pragma GCC unroll 16
            for (int i = 0; i < rows; i++) {
                UK_VEC a = UK_SET1(pa[i]);
#pragma GCC unroll 4
                for (int v = 0; v < nv; v++) acc[i][v] = UK_FMA(a, b[v], acc[i][v]);
            }
            pa += UK_MR;
            pb += step;
        }
        p += n;
        pb = pb_seg += seg_stride;
    }

    UK_VEC va = UK_SET1(alpha);
    if (ep) { /* the value as stored below, then + bias[i], then the activation (tg_gemm_epilogue) */
        const tg_real *const bias_rows = ep->bias; /* read once: C's stores may not alias ep */
        const tg_gemm_act act = ep->act;
        const UK_VEC vs = UK_SET1(ep->slope), vb = UK_SET1(beta);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++) {
            const UK_VEC bias = UK_SET1(bias_rows ? bias_rows[i] : 0);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                tg_real *cp = c + i * ldc + v * UK_VLEN;
                UK_VEC x = beta == 0 ? UK_MUL(va, acc[i][v]) : UK_FMA(vb, UK_LOADU(cp), UK_MUL(va, acc[i][v]));
                if (bias_rows) x = UK_ADD(x, bias);
                if (act == TG_GEMM_ACT_RELU) x = UK_RELU(x);
                else if (act == TG_GEMM_ACT_LEAKY_RELU) x = UK_LEAKY(x, vs);
                UK_STOREU(cp, x);
            }
        }
        return;
    }
    if (beta == 0) {
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) UK_STOREU(c + i * ldc + v * UK_VLEN, UK_MUL(va, acc[i][v]));
    } else {
        UK_VEC vb = UK_SET1(beta);
#pragma GCC unroll 16
        for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                tg_real *cp = c + i * ldc + v * UK_VLEN;
                UK_STOREU(cp, UK_FMA(vb, UK_LOADU(cp), UK_MUL(va, acc[i][v])));
            }
    }
}

#define UK_NARROW UK_CAT(UK_NAME, narrow)
#define UK_IN_PLACE UK_CAT(UK_NAME, in_place)
#define UK_ROWS_FN(r)                                                                                     \
    static void UK_CAT(UK_NAME, r)(int64_t kc, const tg_real *restrict pa, const tg_real *restrict pb,      \
                                   tg_real *restrict c, int64_t ldc, tg_real alpha, tg_real beta,         \
                                   const tg_gemm_epilogue *ep)                                            \
    {                                                                                                     \
        UK_BODY(r, UK_NV, kc, pa, pb, 0, kc, 0, UK_NR, c, ldc, alpha, beta, ep);                          \
    }                                                                                                     \
    static void UK_CAT(UK_NARROW, r)(int64_t kc, const tg_real *restrict pa, const tg_real *restrict pb,    \
                                     tg_real *restrict c, int64_t ldc, tg_real alpha, tg_real beta,       \
                                     const tg_gemm_epilogue *ep)                                          \
    {                                                                                                     \
        UK_BODY(r, UK_NV / 2, kc, pa, pb, 0, kc, 0, UK_NR, c, ldc, alpha, beta, ep);                      \
    }                                                                                                     \
    static void UK_CAT(UK_IN_PLACE, r)(int64_t kc, const tg_real *restrict pa, const tg_real *restrict pb,  \
                                       int64_t off, int64_t seg_len, int64_t seg_stride, int64_t step,    \
                                       tg_real *restrict c, int64_t ldc, tg_real alpha, tg_real beta,     \
                                       const tg_gemm_epilogue *ep)                                        \
    {                                                                                                     \
        UK_BODY(r, UK_NV, kc, pa, pb, off, seg_len, seg_stride, step, c, ldc, alpha, beta, ep);           \
    }
UK_ROWS_FN(1)
#if UK_MR >= 2
UK_ROWS_FN(2)
#endif
#if UK_MR >= 3
UK_ROWS_FN(3)
#endif
#if UK_MR >= 4
UK_ROWS_FN(4)
#endif
#if UK_MR >= 5
UK_ROWS_FN(5)
#endif
#if UK_MR >= 6
UK_ROWS_FN(6)
#endif
#if UK_MR >= 7
UK_ROWS_FN(7)
#endif
#if UK_MR >= 8
UK_ROWS_FN(8)
#endif
#if UK_MR >= 9
UK_ROWS_FN(9)
#endif
#if UK_MR >= 10
UK_ROWS_FN(10)
#endif
#if UK_MR >= 11
UK_ROWS_FN(11)
#endif
#if UK_MR >= 12
UK_ROWS_FN(12)
#endif
#if UK_MR > 12
#error "gemm_ukernel_template.h: add UK_ROWS_FN lines for UK_MR > 12"
#endif

/* UK_NAME[r - 1]: the kernel for the first r rows of a tile. */
static const tg_gemm_ukernel_fn UK_NAME[UK_MR] = {
    UK_CAT(UK_NAME, 1),
#if UK_MR >= 2
    UK_CAT(UK_NAME, 2),
#endif
#if UK_MR >= 3
    UK_CAT(UK_NAME, 3),
#endif
#if UK_MR >= 4
    UK_CAT(UK_NAME, 4),
#endif
#if UK_MR >= 5
    UK_CAT(UK_NAME, 5),
#endif
#if UK_MR >= 6
    UK_CAT(UK_NAME, 6),
#endif
#if UK_MR >= 7
    UK_CAT(UK_NAME, 7),
#endif
#if UK_MR >= 8
    UK_CAT(UK_NAME, 8),
#endif
#if UK_MR >= 9
    UK_CAT(UK_NAME, 9),
#endif
#if UK_MR >= 10
    UK_CAT(UK_NAME, 10),
#endif
#if UK_MR >= 11
    UK_CAT(UK_NAME, 11),
#endif
#if UK_MR >= 12
    UK_CAT(UK_NAME, 12),
#endif
};

/* UK_NARROW[r - 1]: the same for the first NR/2 columns. */
static const tg_gemm_ukernel_fn UK_NARROW[UK_MR] = {
    UK_CAT(UK_NARROW, 1),
#if UK_MR >= 2
    UK_CAT(UK_NARROW, 2),
#endif
#if UK_MR >= 3
    UK_CAT(UK_NARROW, 3),
#endif
#if UK_MR >= 4
    UK_CAT(UK_NARROW, 4),
#endif
#if UK_MR >= 5
    UK_CAT(UK_NARROW, 5),
#endif
#if UK_MR >= 6
    UK_CAT(UK_NARROW, 6),
#endif
#if UK_MR >= 7
    UK_CAT(UK_NARROW, 7),
#endif
#if UK_MR >= 8
    UK_CAT(UK_NARROW, 8),
#endif
#if UK_MR >= 9
    UK_CAT(UK_NARROW, 9),
#endif
#if UK_MR >= 10
    UK_CAT(UK_NARROW, 10),
#endif
#if UK_MR >= 11
    UK_CAT(UK_NARROW, 11),
#endif
#if UK_MR >= 12
    UK_CAT(UK_NARROW, 12),
#endif
};

/* UK_IN_PLACE[r - 1]: the same reading B in place (tg_gemm_in_place_fn). */
static const tg_gemm_in_place_fn UK_IN_PLACE[UK_MR] = {
    UK_CAT(UK_IN_PLACE, 1),
#if UK_MR >= 2
    UK_CAT(UK_IN_PLACE, 2),
#endif
#if UK_MR >= 3
    UK_CAT(UK_IN_PLACE, 3),
#endif
#if UK_MR >= 4
    UK_CAT(UK_IN_PLACE, 4),
#endif
#if UK_MR >= 5
    UK_CAT(UK_IN_PLACE, 5),
#endif
#if UK_MR >= 6
    UK_CAT(UK_IN_PLACE, 6),
#endif
#if UK_MR >= 7
    UK_CAT(UK_IN_PLACE, 7),
#endif
#if UK_MR >= 8
    UK_CAT(UK_IN_PLACE, 8),
#endif
#if UK_MR >= 9
    UK_CAT(UK_IN_PLACE, 9),
#endif
#if UK_MR >= 10
    UK_CAT(UK_IN_PLACE, 10),
#endif
#if UK_MR >= 11
    UK_CAT(UK_IN_PLACE, 11),
#endif
#if UK_MR >= 12
    UK_CAT(UK_IN_PLACE, 12),
#endif
};

#undef UK_ROWS_FN
#undef UK_NARROW
#undef UK_IN_PLACE
#undef UK_BODY
#undef UK_CAT
#undef UK_CAT2
#undef UK_NR
