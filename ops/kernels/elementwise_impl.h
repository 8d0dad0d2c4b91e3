/* ops/kernels/elementwise_impl.h — the elementwise kernels (elementwise.h) written once over a
 * vector of EW_VBYTES bytes with the compiler's vector extension (GCC and clang): each variant file
 * defines EW_VBYTES and EW_NAME(name), includes this header, and gets the kernels for its
 * instruction set (64 bytes: AVX-512, 32: AVX2, 16: SSE2 or whatever the target lowers it to).
 *
 * A ragged end is loaded into a zero-filled vector and stored back element by element, so the
 * whole row runs the same lane arithmetic: every lane is one IEEE operation on one element, as the
 * scalar definition. Selections (relu) are bit masks from IEEE comparisons, which are false for
 * NaN, so a NaN x keeps its value where the rule keeps x.
 */
#include <math.h>
#include <string.h>

#include "elementwise.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* a·b + c stays two roundings, as the scalar rule (GCC's ISO mode: off) */
#endif

#ifdef TG_REAL_DOUBLE
typedef int64_t ew_lane_bits;
#else
typedef int32_t ew_lane_bits;
#endif
typedef tg_real vreal __attribute__((vector_size(EW_VBYTES)));
typedef ew_lane_bits vmask __attribute__((vector_size(EW_VBYTES)));
enum { VL = EW_VBYTES / (int)sizeof(tg_real) };

static inline vreal load(const tg_real *p)
{
    vreal v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store(tg_real *p, vreal v) { memcpy(p, &v, sizeof v); }
/* The first n < VL elements, the other lanes 0; and the first n lanes stored. A variant file may
 * give masked instructions (EW_LOAD_PART, EW_STORE_PART): the memcpy calls cost more than the
 * vectors of a short row (a 7x7 or 14x14 plane's bias and ReLU, measured 4 Dec). */
#ifdef EW_LOAD_PART
static inline vreal load_part(const tg_real *p, int64_t n) { return EW_LOAD_PART(p, n); }
static inline void store_part(tg_real *p, vreal v, int64_t n) { EW_STORE_PART(p, v, n); }
#else
static inline vreal load_part(const tg_real *p, int64_t n)
{
    vreal v = {0};
    memcpy(&v, p, (size_t)n * sizeof(tg_real));
    return v;
}
static inline void store_part(tg_real *p, vreal v, int64_t n) { memcpy(p, &v, (size_t)n * sizeof(tg_real)); }
#endif
/* every lane s (a loop, not 0 + s, which would turn −0 into +0) */
static inline vreal splat(tg_real s)
{
    vreal v = {0}; /* every lane is set below; the initialiser quiets gcc -O1's maybe-uninitialized */
    for (int l = 0; l < VL; l++) v[l] = s;
    return v;
}
/* m ? a : b lane by lane (m all ones or all zeros per lane) */
static inline vreal select(vmask m, vreal a, vreal b) { return (vreal)(((vmask)a & m) | ((vmask)b & ~m)); }

/* ---- the loops: BODY(off, count, ...) for whole vectors, then the ragged end ----
 * LOAD_OPERAND gives operand p at element i: a broadcast scalar or the vector at i. */
#define LOAD_OPERAND(p, scalar, i, n) ((scalar) ? splat((p)[0]) : (n) == VL ? load((p) + (i)) : load_part((p) + (i), (n)))
#define LOAD_AT(p, i, n) ((n) == VL ? load((p) + (i)) : load_part((p) + (i), (n)))
#define STORE_AT(p, i, n, v)                             \
    do {                                                 \
        if ((n) == VL) store((p) + (i), (v));            \
        else store_part((p) + (i), (v), (n));            \
    } while (0)
#define FOR_VECTORS(n, BODY)                                             \
    do {                                                                 \
        int64_t i_ = 0;                                                  \
        for (; i_ + VL <= (n); i_ += VL) BODY(i_, VL);                   \
        if (i_ < (n)) BODY(i_, (n) - i_);                                \
    } while (0)
/* the same with the op as a third argument: STEP(off, count, OP), OP a compile-time constant */
#define FOR_VECTORS_OP(n, STEP, OP)                                      \
    do {                                                                 \
        int64_t i_ = 0;                                                  \
        for (; i_ + VL <= (n); i_ += VL) STEP(i_, VL, OP);               \
        if (i_ < (n)) STEP(i_, (n) - i_, OP);                            \
    } while (0)
/* every unary op: the kernels below run one loop per op (the switch resolved outside it, so each
 * loop body is a few vector instructions) */
#define EW_UNARY_OPS(X) \
    X(TG_EW_RELU) X(TG_EW_LEAKY_RELU) X(TG_EW_ELU) X(TG_EW_SIGMOID) X(TG_EW_TANH) X(TG_EW_GELU_TANH) X(TG_EW_GELU)

/* ---- e^x and e^x − 1 ---- */

#ifndef TG_REAL_DOUBLE
typedef int32_t vint __attribute__((vector_size(EW_VBYTES)));

/* x = n·ln2 + r with |r| <= ln2/2 (x first clamped to [−104, 89], beyond which e^x is 0 or +inf
 * in float): e^r − 1 = r·q(r) by the Taylor series to r^7 (truncation below 2^−26 relative), and
 * 2^n as the product of two normal powers of two, so that subnormal and overflowing results round
 * once, as a correctly rounded e^x would. n is returned for the caller's exact path at n = 0. */
static inline vreal exp_reduce(vreal x, vreal *scale_lo, vreal *scale_hi, vreal *n_out)
{
    const vreal lo = splat(-104.0f), hi = splat(89.0f);
    x = select(x != x, splat(0), x); /* NaN lanes: any value (the caller puts NaN back) */
    x = select(x < lo, lo, x);
    x = select(x > hi, hi, x);
    const vreal shifter = splat(12582912.0f); /* 1.5·2^23: adding and subtracting rounds to an integer */
    const vreal n = (x * splat(1.44269504088896341f) + shifter) - shifter;
    /* ln2 = 0.693359375 − 2.12194440e-4, the first part exact in n·c for |n| <= 2^15 */
    vreal r = x - n * splat(0.693359375f);
    r = r - n * splat(-2.12194440e-4f);
    vreal q = splat(1.0f / 5040);
    q = q * r + splat(1.0f / 720);
    q = q * r + splat(1.0f / 120);
    q = q * r + splat(1.0f / 24);
    q = q * r + splat(1.0f / 6);
    q = q * r + splat(0.5f);
    q = q * r + splat(1.0f);
    const vint ni = __builtin_convertvector(n, vint), n1 = ni >> 1, n2 = ni - n1;
    *scale_lo = (vreal)((n1 + 127) << 23);
    *scale_hi = (vreal)((n2 + 127) << 23);
    *n_out = n;
    return r * q; /* e^r − 1 */
}

static inline vreal vexp(vreal x)
{
    vreal s1, s2, n;
    const vreal em1 = exp_reduce(x, &s1, &s2, &n);
    const vreal e = (em1 + splat(1)) * s1 * s2;
    return select(x != x, x, e);
}

/* e^x − 1: e^r − 1 itself where n = 0 (|x| < ln2/2: no cancellation), else (e^r − 1)·2^n + (2^n − 1) */
static inline vreal vexpm1(vreal x)
{
    vreal s1, s2, n;
    const vreal em1 = exp_reduce(x, &s1, &s2, &n), s = s1 * s2;
    vreal e = select(n == splat(0), em1, em1 * s + (s - splat(1)));
    e = select(x > splat(88.8f), splat((tg_real)INFINITY), e); /* inf·(e^r − 1 < 0) + inf would be NaN */
    return select((x != x) | (x == splat(0)), x, e);           /* NaN; ±0 keeps its sign */
}

/* |x|, and x's sign bit on a non-negative value */
static inline vreal vabs(vreal x) { return (vreal)((vmask)x & ~(vmask)splat(-0.0f)); }
static inline vreal with_sign_of(vreal v, vreal x) { return (vreal)((vmask)v | ((vmask)x & (vmask)splat(-0.0f))); }

/* tanh x = t/(t + 2), t = e^{2|x|} − 1, with x's sign; 1 past |x| = 9.1 (tanh rounds to 1 there) */
static inline vreal vtanh(vreal x)
{
    const vreal a = vabs(x), t = vexpm1(a + a);
    const vreal y = select(a > splat(9.1f), splat(1), t / (t + splat(2)));
    return select(x != x, x, with_sign_of(y, x));
}

/* erf (elementwise.h): the fitted polynomials (tools/fit_erf.py prints these, and their error) */
static const float erf_small[7] = {0.965468739f, -0.140536097f, 0.0198524977f, -0.00228541953f,
                                   0.00021751199f, -1.76690808e-05f, 1.23164025e-06f};
static const float erf_big[2][10] = {
    {0.986671633f, 0.0395812335f, -0.0519484752f, 0.0380353657f, -0.0152353817f, 0.00157059429f, 0.00163992923f,
     -0.000805808319f, 1.92506795e-05f, 6.47436623e-05f},
    {0.999995697f, 2.18901106e-05f, -5.3363793e-05f, 8.26401328e-05f, -9.06591147e-05f, 7.42834583e-05f,
     -4.69036814e-05f, 2.30987085e-05f, -8.25453558e-06f, 1.55604571e-06f}};
static inline vreal verf(vreal x)
{
    const vreal a = vabs(x);
    const vreal ts = a * a * splat(2.0f) - splat(1.0f);
    vreal small = splat(erf_small[6]);
    for (int m = 5; m >= 0; m--) small = small * ts + splat(erf_small[m]);
    small = small * a;
    /* [1, 2.5): mid 1.75, 1/half 4/3; [2.5, 4): mid 3.25 */
    const vmask upper = a >= splat(2.5f);
    const vreal tb = (a - select(upper, splat(3.25f), splat(1.75f))) * splat(1.0f / 0.75f);
    vreal big = select(upper, splat(erf_big[1][9]), splat(erf_big[0][9]));
    for (int m = 8; m >= 0; m--) big = big * tb + select(upper, splat(erf_big[1][m]), splat(erf_big[0][m]));
    const vreal y = select(a <= splat(1), small, select(a < splat(4), big, splat(1)));
    return select(x != x, x, with_sign_of(y, x));
}
#else
/* double: libm lane by lane (the tests' precision; gradient checks compare with its exact values) */
#define LANEWISE(name, fn)                                       \
    static inline vreal name(vreal x)                            \
    {                                                            \
        vreal y = x;                                             \
        for (int l = 0; l < VL; l++) y[l] = fn(x[l]);            \
        return y;                                                \
    }
LANEWISE(vexp, exp)
LANEWISE(vexpm1, expm1)
LANEWISE(vtanh, tanh)
LANEWISE(verf, erf)
#undef LANEWISE
#endif

#define GELU_INV_SQRT2 ((tg_real)0.7071067811865476) /* 1/√2 */
#define GELU_INV_SQRT_2PI ((tg_real)0.3989422804014327) /* 1/√(2π) */
#define GELU_C ((tg_real)0.7978845608028654) /* √(2/π) */
#define GELU_K ((tg_real)0.044715)

/* ---- unary ---- */

static inline vreal unary_value(tg_ew_unary op, vreal x, vreal p)
{
    const vreal zero = {0}, one = splat(1), half = splat(0.5);
    switch (op) {
    case TG_EW_RELU: return select(x <= zero, zero, x);
    case TG_EW_LEAKY_RELU: return select(x > zero, x, p * x);
    case TG_EW_ELU: return select(x > zero, x, p * vexpm1(x));
    case TG_EW_SIGMOID: return one / (one + vexp(-x));
    case TG_EW_TANH: return vtanh(x);
    case TG_EW_GELU_TANH: return half * x * (one + vtanh(splat(GELU_C) * (x + splat(GELU_K) * x * x * x)));
    case TG_EW_GELU: return half * x * (one + verf(x * splat(GELU_INV_SQRT2)));
    case TG_EW_UNARY_COUNT: break;
    }
    return x;
}

/* the gradient from `from` (x or y, see elementwise.h) */
static inline vreal unary_grad(tg_ew_unary op, vreal x, vreal dy, vreal p)
{
    const vreal zero = {0}, one = splat(1), half = splat(0.5);
    switch (op) {
    case TG_EW_RELU: return select(x <= zero, zero, dy);
    case TG_EW_LEAKY_RELU: return select(x > zero, dy, p * dy);
    case TG_EW_ELU: return select(x > zero, dy, p * vexp(x) * dy);
    case TG_EW_SIGMOID: return x * (one - x) * dy;
    case TG_EW_TANH: return (one - x * x) * dy;
    case TG_EW_GELU_TANH: {
        const vreal th = vtanh(splat(GELU_C) * (x + splat(GELU_K) * x * x * x));
        const vreal slope = half * (one + th) +
                            half * x * (one - th * th) * splat(GELU_C) * (one + splat(3 * GELU_K) * x * x);
        return slope * dy;
    }
    case TG_EW_GELU: {
        const vreal phi = half * (one + verf(x * splat(GELU_INV_SQRT2)));
        return (phi + x * splat(GELU_INV_SQRT_2PI) * vexp(splat(-0.5) * x * x)) * dy;
    }
    case TG_EW_UNARY_COUNT: break;
    }
    return dy;
}

static void EW_NAME(unary)(tg_ew_unary op, tg_real p, const tg_real *x, tg_real *y, int64_t n)
{
    const vreal pv = splat(p);
#define UNARY_STEP(i, cnt, OP) STORE_AT(y, i, cnt, unary_value(OP, LOAD_AT(x, i, cnt), pv))
#define UNARY_CASE(OP) \
    case OP: FOR_VECTORS_OP(n, UNARY_STEP, OP); break;
    switch (op) {
        EW_UNARY_OPS(UNARY_CASE)
    case TG_EW_UNARY_COUNT: break;
    }
#undef UNARY_CASE
#undef UNARY_STEP
}

/* y = f(y + b) in place: the same two roundings as binary ADD then unary, in one pass */
static void EW_NAME(bias_unary)(tg_ew_unary op, tg_real p, tg_real b, tg_real *y, int64_t n)
{
    const vreal pv = splat(p), bv = splat(b);
#define BIAS_STEP(i, cnt, OP) STORE_AT(y, i, cnt, unary_value(OP, LOAD_AT(y, i, cnt) + bv, pv))
#define BIAS_CASE(OP) \
    case OP: FOR_VECTORS_OP(n, BIAS_STEP, OP); break;
    switch (op) {
        EW_UNARY_OPS(BIAS_CASE)
    case TG_EW_UNARY_COUNT: break;
    }
#undef BIAS_CASE
#undef BIAS_STEP
}

static void EW_NAME(unary_backward)(tg_ew_unary op, tg_real p, const tg_real *x, const tg_real *dy, tg_real *dx,
                                    int64_t n, bool accumulate)
{
    const vreal pv = splat(p);
#define GRAD_STEP(i, cnt, OP, ACC)                                                        \
    do {                                                                                  \
        vreal g_ = unary_grad(OP, LOAD_AT(x, i, cnt), LOAD_AT(dy, i, cnt), pv);           \
        if (ACC) g_ = LOAD_AT(dx, i, cnt) + g_;                                           \
        STORE_AT(dx, i, cnt, g_);                                                         \
    } while (0)
#define GRAD_ADD(i, cnt, OP) GRAD_STEP(i, cnt, OP, 1)
#define GRAD_SET(i, cnt, OP) GRAD_STEP(i, cnt, OP, 0)
#define GRAD_CASE(OP)                                   \
    case OP:                                            \
        if (accumulate) FOR_VECTORS_OP(n, GRAD_ADD, OP); \
        else FOR_VECTORS_OP(n, GRAD_SET, OP);            \
        break;
    switch (op) {
        EW_UNARY_OPS(GRAD_CASE)
    case TG_EW_UNARY_COUNT: break;
    }
#undef GRAD_CASE
#undef GRAD_SET
#undef GRAD_ADD
#undef GRAD_STEP
}

/* ---- binary ---- */

static inline vreal binary_value(tg_ew_binary op, vreal a, vreal b)
{
    switch (op) {
    case TG_EW_ADD: return a + b;
    case TG_EW_SUB: return a - b;
    case TG_EW_MUL: return a * b;
    case TG_EW_DIV: return a / b;
    case TG_EW_BINARY_COUNT: break;
    }
    return a;
}

/* the gradient expressions of elementwise.h, in the scalar code's order of operations */
static inline vreal binary_grad(tg_ew_binary op, int which, vreal a, vreal b, vreal g)
{
    switch (op) {
    case TG_EW_ADD: return g;
    case TG_EW_SUB: return which ? -g : g;
    case TG_EW_MUL: return which ? g * a : g * b;
    case TG_EW_DIV: return which ? -g * a / (b * b) : g / b;
    case TG_EW_BINARY_COUNT: break;
    }
    return g;
}

static void EW_NAME(binary)(tg_ew_binary op, const tg_real *a, bool a_scalar, const tg_real *b, bool b_scalar,
                            tg_real *y, int64_t n)
{
#define BIN_STEP(i, cnt, OP) \
    STORE_AT(y, i, cnt, binary_value(OP, LOAD_OPERAND(a, a_scalar, i, cnt), LOAD_OPERAND(b, b_scalar, i, cnt)))
#define BIN_ADD(i, cnt) BIN_STEP(i, cnt, TG_EW_ADD)
#define BIN_SUB(i, cnt) BIN_STEP(i, cnt, TG_EW_SUB)
#define BIN_MUL(i, cnt) BIN_STEP(i, cnt, TG_EW_MUL)
#define BIN_DIV(i, cnt) BIN_STEP(i, cnt, TG_EW_DIV)
    switch (op) {
    case TG_EW_ADD: FOR_VECTORS(n, BIN_ADD); break;
    case TG_EW_SUB: FOR_VECTORS(n, BIN_SUB); break;
    case TG_EW_MUL: FOR_VECTORS(n, BIN_MUL); break;
    case TG_EW_DIV: FOR_VECTORS(n, BIN_DIV); break;
    case TG_EW_BINARY_COUNT: break;
    }
#undef BIN_DIV
#undef BIN_MUL
#undef BIN_SUB
#undef BIN_ADD
#undef BIN_STEP
}

static void EW_NAME(binary_backward)(tg_ew_binary op, int which, const tg_real *a, bool a_scalar, const tg_real *b,
                                     bool b_scalar, const tg_real *dy, tg_real *dx, int64_t n, bool accumulate)
{
#define BGRAD_STEP(i, cnt, OP, ACC)                                                                  \
    do {                                                                                             \
        vreal g_ = binary_grad(OP, which, LOAD_OPERAND(a, a_scalar, i, cnt),                         \
                               LOAD_OPERAND(b, b_scalar, i, cnt), LOAD_AT(dy, i, cnt));              \
        if (ACC) g_ = LOAD_AT(dx, i, cnt) + g_;                                                      \
        STORE_AT(dx, i, cnt, g_);                                                                    \
    } while (0)
#define BGRAD_CASE(OP)                                                            \
    do {                                                                          \
        if (accumulate) FOR_VECTORS(n, BGRAD_##OP##_ADD);                         \
        else FOR_VECTORS(n, BGRAD_##OP##_SET);                                    \
    } while (0)
#define BGRAD_ADD_ADD(i, cnt) BGRAD_STEP(i, cnt, TG_EW_ADD, 1)
#define BGRAD_ADD_SET(i, cnt) BGRAD_STEP(i, cnt, TG_EW_ADD, 0)
#define BGRAD_SUB_ADD(i, cnt) BGRAD_STEP(i, cnt, TG_EW_SUB, 1)
#define BGRAD_SUB_SET(i, cnt) BGRAD_STEP(i, cnt, TG_EW_SUB, 0)
#define BGRAD_MUL_ADD(i, cnt) BGRAD_STEP(i, cnt, TG_EW_MUL, 1)
#define BGRAD_MUL_SET(i, cnt) BGRAD_STEP(i, cnt, TG_EW_MUL, 0)
#define BGRAD_DIV_ADD(i, cnt) BGRAD_STEP(i, cnt, TG_EW_DIV, 1)
#define BGRAD_DIV_SET(i, cnt) BGRAD_STEP(i, cnt, TG_EW_DIV, 0)
    switch (op) {
    case TG_EW_ADD: BGRAD_CASE(ADD); break;
    case TG_EW_SUB: BGRAD_CASE(SUB); break;
    case TG_EW_MUL: BGRAD_CASE(MUL); break;
    case TG_EW_DIV: BGRAD_CASE(DIV); break;
    case TG_EW_BINARY_COUNT: break;
    }
#undef BGRAD_DIV_SET
#undef BGRAD_DIV_ADD
#undef BGRAD_MUL_SET
#undef BGRAD_MUL_ADD
#undef BGRAD_SUB_SET
#undef BGRAD_SUB_ADD
#undef BGRAD_ADD_SET
#undef BGRAD_ADD_ADD
#undef BGRAD_CASE
#undef BGRAD_STEP
}

/* ---- sum ---- */

/* Σ x[i], i < n: SUM_LANES partial sums in tg_real over blocks of SUM_BLOCK values (lane l takes the
 * elements ≡ l mod SUM_LANES: whole vectors of every width divide SUM_LANES), each block's lanes then
 * added into a double as a fixed tree, and the last n mod SUM_LANES values added in double in order —
 * so every variant gives the same bits. */
enum { SUM_LANES = 16, SUM_BLOCK = 256 };
_Static_assert(SUM_LANES % VL == 0, "a whole number of vectors per lane group");
static double EW_NAME(sum)(const tg_real *x, int64_t n)
{
    enum { NV = SUM_LANES / VL };
    double total = 0;
    int64_t i = 0;
    const int64_t whole = n / SUM_LANES * SUM_LANES;
    while (i < whole) {
        vreal acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = splat(0);
        const int64_t end = whole - i > SUM_BLOCK ? i + SUM_BLOCK : whole;
        for (; i < end; i += SUM_LANES)
            for (int v = 0; v < NV; v++) acc[v] += load(x + i + v * VL);
        tg_real lane[SUM_LANES];
        for (int v = 0; v < NV; v++) store(lane + v * VL, acc[v]);
        double t[SUM_LANES / 2];
        for (int l = 0; l < SUM_LANES / 2; l++) t[l] = (double)lane[l] + (double)lane[l + SUM_LANES / 2];
        for (int w = SUM_LANES / 4; w > 0; w /= 2)
            for (int l = 0; l < w; l++) t[l] += t[l + w];
        total += t[0];
    }
    for (; i < n; i++) total += x[i];
    return total;
}

const tg_elementwise_kernel EW_NAME(kernel) = {
    .name = EW_VARIANT_NAME,
    .unary = EW_NAME(unary),
    .bias_unary = EW_NAME(bias_unary),
    .unary_backward = EW_NAME(unary_backward),
    .binary = EW_NAME(binary),
    .binary_backward = EW_NAME(binary_backward),
    .sum = EW_NAME(sum),
};
