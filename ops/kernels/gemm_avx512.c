/* ops/kernels/gemm_avx512.c — AVX-512 micro-kernels (built with -mavx512f on x86-64 only; gemm.c
 * calls them only when the CPU reports AVX-512F). float: 12 x 32 tile, double: 12 x 16 tile;
 * 24 zmm accumulators, 2 B vectors, broadcasts folded into the FMAs. */
#include "gemm_internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

#define UK_NAME ukernel_avx512
#define UK_MR 12
#define UK_NV 2
#ifdef TG_REAL_DOUBLE
#define UK_VLEN 8
#define UK_VEC __m512d
#define UK_ZERO() _mm512_setzero_pd()
#define UK_SET1(x) _mm512_set1_pd(x)
#define UK_LOAD(p) _mm512_load_pd(p)
#define UK_LOADU(p) _mm512_loadu_pd(p)
#define UK_STOREU(p, v) _mm512_storeu_pd((p), (v))
#define UK_FMA(a, b, acc) _mm512_fmadd_pd((a), (b), (acc))
#define UK_MUL(a, b) _mm512_mul_pd((a), (b))
#define UK_ADD(a, b) _mm512_add_pd((a), (b))
#define UK_RELU(x) _mm512_mask_mov_pd((x), _mm512_cmp_pd_mask((x), _mm512_setzero_pd(), _CMP_LE_OQ), _mm512_setzero_pd())
#define UK_LEAKY(x, s) _mm512_mask_mov_pd(_mm512_mul_pd((s), (x)), _mm512_cmp_pd_mask((x), _mm512_setzero_pd(), _CMP_GT_OQ), (x))
#else
#define UK_VLEN 16
#define UK_VEC __m512
#define UK_ZERO() _mm512_setzero_ps()
#define UK_SET1(x) _mm512_set1_ps(x)
#define UK_LOAD(p) _mm512_load_ps(p)
#define UK_LOADU(p) _mm512_loadu_ps(p)
#define UK_STOREU(p, v) _mm512_storeu_ps((p), (v))
#define UK_FMA(a, b, acc) _mm512_fmadd_ps((a), (b), (acc))
#define UK_MUL(a, b) _mm512_mul_ps((a), (b))
#define UK_ADD(a, b) _mm512_add_ps((a), (b))
#define UK_RELU(x) _mm512_mask_mov_ps((x), _mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_LE_OQ), _mm512_setzero_ps())
#define UK_LEAKY(x, s) _mm512_mask_mov_ps(_mm512_mul_ps((s), (x)), _mm512_cmp_ps_mask((x), _mm512_setzero_ps(), _CMP_GT_OQ), (x))
#endif
#include "gemm_ukernel_template.h"

#ifdef TG_REAL_DOUBLE
#define PACK_T NULL /* double is the gradient-check build: the plain loops do */
#else
/* The 16 vectors of a block must stay in registers: loops over them unroll fully (GCC's -O2 left
 * some rolled, the vectors on the stack; the pack took 7.2% of LeNet-5's step, 4.5% unrolled). */
#ifdef __clang__
#define UNROLL_16 _Pragma("clang loop unroll(full)")
#else
#define UNROLL_16 _Pragma("GCC unroll 16")
#endif
/* In-register transpose of 16 rows of 16 floats: unpack pairs of rows, then pairs of pairs (as
 * doubles), then 128-bit lanes across rows 4 and 8 apart. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    UNROLL_16
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    UNROLL_16
    for (int i = 0; i < 4; i++) { /* u[4i + c], lane L: rows 4i..4i+3 of column 4L + c */
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    UNROLL_16
    for (int c = 0; c < 4; c++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
}

/* The transposing pack (gemm_internal.h) by 16 x 16 blocks; masked loads and stores take the
 * edges (missing lines load as zeros, which is the padding). */
#ifndef PACK_T_AHEAD
#define PACK_T_AHEAD 64
#endif
static void pack_t_avx512(const float *src, int64_t ld, int64_t lines, int64_t kc, int width, float *dst)
{
    /* 16 k steps at a time across the whole width, so dst is written line after line */
    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
        int64_t steps = kc - p0 < 16 ? kc - p0 : 16;
        __mmask16 load_mask = (__mmask16)((1u << steps) - 1);
        for (int64_t r0 = 0; r0 < width; r0 += 16) {
            int64_t have = lines - r0 < 0 ? 0 : (lines - r0 < 16 ? lines - r0 : 16);
            int lanes = width - r0 < 16 ? (int)(width - r0) : 16;
            __mmask16 store_mask = (__mmask16)((1u << lanes) - 1);
            __m512 r[16];
            /* masked accesses are slow on AMD: plain ones whenever the block is whole */
            if (steps == 16)
                UNROLL_16
                for (int i = 0; i < 16; i++) {
                    if (i < have) _mm_prefetch((const char *)(src + (r0 + i) * ld + p0 + PACK_T_AHEAD), _MM_HINT_T0);
                    r[i] = i < have ? _mm512_loadu_ps(src + (r0 + i) * ld + p0) : _mm512_setzero_ps();
                }
            else
                UNROLL_16
                for (int i = 0; i < 16; i++)
                    r[i] = i < have ? _mm512_maskz_loadu_ps(load_mask, src + (r0 + i) * ld + p0) : _mm512_setzero_ps();
            transpose16(r);
            if (lanes == 16)
                for (int64_t q = 0; q < steps; q++) _mm512_storeu_ps(dst + (p0 + q) * width + r0, r[q]);
            else
                for (int64_t q = 0; q < steps; q++) _mm512_mask_storeu_ps(dst + (p0 + q) * width + r0, store_mask, r[q]);
        }
    }
}
#define PACK_T pack_t_avx512
#endif

/* A whole panel of B's rows, 64-byte moves: gemm.c (built for the baseline ISA) copied each
 * 32-float row as eight 16-byte moves, a quarter of a 1x1 convolution's time at 14x14 (measured
 * 4 Dec, Zen 5). */
static void pack_rows_avx512(const tg_real *src, int64_t ld, int64_t kc, tg_real *dst)
{
    enum { VECS = UK_NV };
    for (int64_t p = 0; p < kc; p++, src += ld, dst += VECS * UK_VLEN)
        for (int v = 0; v < VECS; v++) UK_STOREU(dst + v * UK_VLEN, UK_LOADU(src + v * UK_VLEN));
}

const tg_gemm_kernel tg_gemm_kernel_avx512 = {
    .name = "avx512", .mr = UK_MR, .nr = UK_NV * UK_VLEN, .kc = 256, .mc = 192, .nc = 4096,
    .run = ukernel_avx512, .run_narrow = ukernel_avx512_narrow, .run_in_place = ukernel_avx512_in_place, .pack_t = PACK_T,
    .pack_rows = pack_rows_avx512};
#else
typedef int tg_gemm_avx512_unavailable; /* keeps the translation unit non-empty */
#endif
