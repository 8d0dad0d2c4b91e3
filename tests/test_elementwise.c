/* tests/test_elementwise.c — the vectorised elementwise kernels (ops/kernels/elementwise.h) against
 * scalar definitions written here (unary, bias then unary in place, binary, their gradients, sum),
 * for every variant this CPU runs: every length 0..80 and a long
 * one (vector bodies and ragged ends), misaligned starts, NaN/±Inf/±0/subnormal values, scalar
 * operands, accumulate and write; untouched memory past the end. Then the ops that use them
 * (relu, leaky_relu, add/sub/mul/div with broadcasting, dropout) against scalar loops, forced onto
 * each variant, including gradients that are written fresh and then accumulated (fan-out). */
#include <stdint.h>
#include <stdlib.h>

#include "../ops/kernels/cpu.h"
#include "../ops/kernels/elementwise.h"
#include "util.h"

static const char *const variant_names[] = {"avx512", "avx2", "portable"};
enum { N_VARIANTS = 3, MAX_LEN = 80, LONG_LEN = 1031, MAX_SHIFT = 3, PAD = 8 };

/* Values that exercise every rule: NaN, infinities, signed zeros, subnormals, ties with 0. */
static tg_real special_value(uint64_t *state, int64_t i)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = (double)(*state >> 11) / 9007199254740992.0; /* [0, 1) */
    switch (i % 11) {
    case 0: return (tg_real)NAN;
    case 1: return (tg_real)INFINITY;
    case 2: return (tg_real)-INFINITY;
    case 3: return (tg_real)-0.0;
    case 4: return (tg_real)0.0;
    case 5: return (tg_real)(TT_DOUBLE ? 1e-310 : 1e-40); /* subnormal */
    default: return (tg_real)(4 * u - 2);
    }
}

static void fill(tg_real *v, int64_t n, uint64_t seed, bool special)
{
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) v[i] = special ? special_value(&s, i + (int64_t)seed) : special_value(&s, 6);
}

/* same bits, or both NaN (a NaN's payload may come from either operand) */
static bool same_value(tg_real a, tg_real b)
{
    if (isnan((double)a) && isnan((double)b)) return true;
    return memcmp(&a, &b, sizeof a) == 0;
}

/* equal as numbers (−0 = +0: a leaf's gradient starts as +0 and adds), or both NaN */
static bool same_number(tg_real a, tg_real b) { return a == b || (isnan((double)a) && isnan((double)b)); }

static void assert_same(const tg_real *got, const tg_real *want, int64_t n, const char *what, const char *variant,
                        int64_t len)
{
    for (int64_t i = 0; i < n; i++)
        if (!same_value(got[i], want[i]))
            ck_abort_msg("%s (%s, n=%lld): element %lld is %.17g, want %.17g", what, variant, (long long)len,
                         (long long)i, (double)got[i], (double)want[i]);
}

/* ---- the scalar definitions ---- */

#define REF_GELU_C 0.7978845608028654
#define REF_GELU_K 0.044715
/* the definitions in tg_real's arithmetic, the transcendental ones through libm in tg_real's
 * operation order (float: computed in double, then rounded: the kernels' vector e^x is compared
 * with it to a few ulps; double: the kernels call the same libm functions, bit for bit) */
static tg_real ref_unary(tg_ew_unary op, tg_real p, tg_real x)
{
    const tg_real c = (tg_real)REF_GELU_C, k = (tg_real)REF_GELU_K;
    switch (op) {
    case TG_EW_RELU: return x <= 0 ? 0 : x;
    case TG_EW_LEAKY_RELU: return x > 0 ? x : p * x;
    case TG_EW_ELU: return x > 0 ? x : (tg_real)((double)p * expm1((double)x));
    case TG_EW_SIGMOID: return (tg_real)(1 / (1 + exp(-(double)x)));
    case TG_EW_TANH: return (tg_real)tanh((double)x);
    case TG_EW_GELU_TANH: {
        const double u = (double)(c * (x + k * x * x * x));
        return (tg_real)(0.5 * (double)x * (1 + tanh(u)));
    }
    case TG_EW_GELU: return (tg_real)(0.5 * (double)x * (1 + erf((double)(x * (tg_real)0.7071067811865476))));
    default: return 0;
    }
}
/* `from` is x or y as elementwise.h lists */
static tg_real ref_unary_grad(tg_ew_unary op, tg_real p, tg_real from, tg_real dy)
{
    const tg_real c = (tg_real)REF_GELU_C, k = (tg_real)REF_GELU_K;
    switch (op) {
    case TG_EW_RELU: return from <= 0 ? 0 : dy;
    case TG_EW_LEAKY_RELU: return from > 0 ? dy : p * dy;
    case TG_EW_ELU: return from > 0 ? dy : (tg_real)((double)p * exp((double)from) * (double)dy);
    case TG_EW_SIGMOID: return from * (1 - from) * dy;
    case TG_EW_TANH: return (1 - from * from) * dy;
    case TG_EW_GELU_TANH: {
        const tg_real x = from;
        const double th = tanh((double)(c * (x + k * x * x * x)));
        const double slope = 0.5 * (1 + th) + 0.5 * (double)x * (1 - th * th) * REF_GELU_C * (1 + 3 * REF_GELU_K * (double)x * (double)x);
        return (tg_real)(slope * (double)dy);
    }
    case TG_EW_GELU: {
        const double x = (double)from;
        const double phi = 0.5 * (1 + erf((double)(from * (tg_real)0.7071067811865476)));
        return (tg_real)((phi + x * 0.3989422804014327 * exp(-0.5 * x * x)) * (double)dy);
    }
    default: return 0;
    }
}
/* the ops computed through e^x: in float a few ulps from the reference, not its bits */
static bool exp_based(int op) { return op >= TG_EW_ELU; }
/* got within the e^x kernels' error of want: bitwise in double; in float, NaN/Inf/zero-sign exact
 * and otherwise within 8 ulps of want's magnitude (gelu: 32, or 2^-22 absolute) */
static bool close_to(int op, tg_real got, tg_real want, double base)
{
    if (TT_DOUBLE || !exp_based(op) || isnan((double)want) || isinf((double)want) || (want == 0 && base == 0))
        return same_value(got, want);
    const double err = fabs((double)got - (double)want), scale = fabs((double)want) + fabs(base);
    if (op == TG_EW_GELU_TANH || op == TG_EW_GELU) /* float sums terms of both signs (1 + tanh u or erf, the slope's two) */
        return err <= 32 * scale * 0x1p-24 || err <= 0x1p-22;
    return err <= 8 * scale * 0x1p-24;
}
/* base: what a gradient was added onto (its magnitude joins the scale), or NULL */
static void assert_close_op(int op, const tg_real *got, const tg_real *want, const tg_real *base, int64_t n,
                            const char *what, const char *variant, int64_t len)
{
    for (int64_t i = 0; i < n; i++)
        if (!close_to(op, got[i], want[i], base ? (double)base[i] : 0))
            ck_abort_msg("%s op %d (%s, n=%lld): element %lld is %.9g, want %.9g", what, op, variant, (long long)len,
                         (long long)i, (double)got[i], (double)want[i]);
}
static tg_real ref_binary(tg_ew_binary op, tg_real a, tg_real b)
{
    switch (op) {
    case TG_EW_ADD: return a + b;
    case TG_EW_SUB: return a - b;
    case TG_EW_MUL: return a * b;
    case TG_EW_DIV: return a / b;
    default: return 0;
    }
}
static tg_real ref_binary_grad(tg_ew_binary op, int which, tg_real a, tg_real b, tg_real g)
{
    switch (op) {
    case TG_EW_ADD: return g;
    case TG_EW_SUB: return which ? -g : g;
    case TG_EW_MUL: return which ? g * a : g * b;
    case TG_EW_DIV: return which ? -g * a / (b * b) : g / b;
    default: return 0;
    }
}

/* Runs body once per variant this CPU runs, with that variant in use; restores the best. */
#define FOR_EACH_VARIANT(v)                                                              \
    for (int vi_ = 0; vi_ < N_VARIANTS; vi_++)                                           \
        for (const char *v = variant_names[vi_]; v && tg_elementwise_set_kernel(v) == 0; \
             v = (tg_elementwise_set_kernel(NULL), (const char *)NULL))

static int64_t test_length(int k) { return k <= MAX_LEN ? k : LONG_LEN; }

START_TEST(unary_kernels_match_scalar_definition)
{
    static tg_real x[LONG_LEN + PAD], dy[LONG_LEN + PAD], y[LONG_LEN + PAD], want[LONG_LEN + PAD];
    static tg_real dx0[LONG_LEN + PAD], dx[LONG_LEN + PAD];
    const tg_real slopes[] = {(tg_real)0.01, (tg_real)-0.5, 0};
    int variants_run = 0;
    FOR_EACH_VARIANT(v) {
        variants_run++;
        const tg_elementwise_kernel *k = tg_elementwise_kernel_get();
        ck_assert_str_eq(k->name, v);
        for (int op = 0; op < TG_EW_UNARY_COUNT; op++)
            for (int si = 0; si < 3; si++)
                for (int len = 0; len <= MAX_LEN + 1; len++)
                    for (int shift = 0; shift <= MAX_SHIFT; shift += len % 7 == 0 ? 1 : MAX_SHIFT) {
                        const int64_t n = test_length(len);
                        const tg_real p = slopes[si];
                        fill(x, n + PAD, 11 + (uint64_t)len, true);
                        fill(dy, n + PAD, 29 + (uint64_t)len, true);
                        fill(dx0, n + PAD, 47 + (uint64_t)len, false);
                        /* forward: y past the end keeps its sentinel */
                        for (int64_t i = 0; i < n + PAD; i++) y[i] = want[i] = (tg_real)-7.25;
                        for (int64_t i = 0; i < n; i++) want[shift + i] = ref_unary((tg_ew_unary)op, p, x[shift + i]);
                        k->unary((tg_ew_unary)op, p, x + shift, y + shift, n);
                        assert_close_op(op, y, want, NULL, n + PAD, "unary", v, n);
                        /* with a bias first, in place: f(x + b) of the rounded sum */
                        const tg_real bias = len % 3 == 0 ? (tg_real)0.75 : len % 3 == 1 ? (tg_real)-1.5 : (tg_real)NAN;
                        for (int64_t i = 0; i < n + PAD; i++) y[i] = want[i] = (tg_real)-7.25;
                        for (int64_t i = 0; i < n; i++) {
                            y[shift + i] = x[shift + i];
                            want[shift + i] = ref_unary((tg_ew_unary)op, p, (tg_real)(x[shift + i] + bias));
                        }
                        k->bias_unary((tg_ew_unary)op, p, bias, y + shift, n);
                        assert_close_op(op, y, want, NULL, n + PAD, "bias_unary", v, n);
                        /* backward, accumulating and writing */
                        for (int acc = 0; acc < 2; acc++) {
                            memcpy(dx, dx0, sizeof(tg_real) * (size_t)(n + PAD));
                            memcpy(want, dx0, sizeof(tg_real) * (size_t)(n + PAD));
                            for (int64_t i = shift; i < shift + n; i++) {
                                tg_real g = ref_unary_grad((tg_ew_unary)op, p, x[i], dy[i]);
                                want[i] = acc ? dx0[i] + g : g;
                            }
                            k->unary_backward((tg_ew_unary)op, p, x + shift, dy + shift, dx + shift, n, acc);
                            assert_close_op(op, dx, want, acc ? dx0 : NULL, n + PAD, acc ? "unary backward +=" : "unary backward =", v, n);
                        }
                    }
    }
    ck_assert_int_ge(variants_run, 1);
    ck_assert_int_eq(variants_run, 1 + tg_cpu_has_avx2_fma() + tg_cpu_has_avx512());
}
END_TEST

/* The e^x-based ops over a dense sweep (float): within their error bounds of libm in double, and
 * the same bits on every variant (lane-by-lane IEEE operations, no contraction). Measured over 2 M
 * points: ELU 1.3 ulp, sigmoid 2.3, tanh 2.7, gelu-tanh 7.3·2^-24 absolute, gelu (erf) 8.2. Outputs below
 * FLT_MIN are not held to ulps (e^x flushes below e^-104; sigmoid's tail is subnormal there). */
START_TEST(exp_based_ops_sweep)
{
    if (TT_DOUBLE) return; /* double calls libm itself: the scalar-definition test holds it bit for bit */
    enum { N = 200001 };
    static tg_real x[N], y[N], first[N];
    static const struct {
        int op;
        double lo, hi, bound; /* ulps of the value; gelu: units of 2^-24 absolute */
    } cases[] = {{TG_EW_ELU, -20, 20, 2}, {TG_EW_SIGMOID, -110, 110, 3}, {TG_EW_TANH, -12, 12, 3},
                 {TG_EW_GELU_TANH, -12, 12, 12}, {TG_EW_GELU, -12, 12, 12}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        for (int i = 0; i < N; i++) x[i] = (tg_real)(cases[c].lo + (cases[c].hi - cases[c].lo) * i / (N - 1));
        int variants = 0;
        FOR_EACH_VARIANT(v) {
            tg_elementwise_kernel_get()->unary((tg_ew_unary)cases[c].op, 1, x, y, N);
            double worst = 0;
            for (int i = 0; i < N; i++) {
                const tg_real want = ref_unary((tg_ew_unary)cases[c].op, 1, x[i]);
                if (fabs((double)want) < 1.17549435e-38) continue;
                int e;
                frexp(fabs((double)want), &e);
                const bool gelu = cases[c].op == TG_EW_GELU_TANH || cases[c].op == TG_EW_GELU;
                const double unit = gelu ? 0x1p-24 * (1 + fabs((double)x[i])) : ldexp(1.0, e - 24);
                const double err = fabs((double)y[i] - (double)want) / unit;
                if (err > worst) worst = err;
            }
            ck_assert_msg(worst <= cases[c].bound, "op %d on %s: %.2f units off, bound %.0f", cases[c].op, v, worst,
                          cases[c].bound);
            if (variants++ == 0) memcpy(first, y, sizeof y);
            else ck_assert_msg(!memcmp(first, y, sizeof y), "op %d: %s's bits differ from the first variant's", cases[c].op, v);
        }
        ck_assert_int_ge(variants, 1);
    }
}
END_TEST

/* The sum: the same bits on every variant (its lanes are fixed, not the vector width), close to a
 * plain double sum, over lengths either side of a lane group (16) and a block (256), at odd offsets. */
START_TEST(sum_is_the_same_on_every_variant)
{
    static tg_real x[4099 + PAD];
    const int64_t lengths[] = {0, 1, 15, 16, 17, 49, 255, 256, 257, 784, 1031, 4099};
    uint64_t state = 5;
    for (int64_t i = 0; i < 4099 + PAD; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        x[i] = (tg_real)((double)(state >> 11) / 9007199254740992.0 - 0.25); /* [-0.25, 0.75) */
    }
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++)
        for (int shift = 0; shift <= MAX_SHIFT; shift++) {
            const int64_t n = lengths[li];
            double exact = 0, first = 0;
            for (int64_t i = 0; i < n; i++) exact += x[shift + i];
            int variants = 0;
            FOR_EACH_VARIANT(v) {
                const double got = tg_elementwise_kernel_get()->sum(x + shift, n);
                ck_assert_msg(fabs(got - exact) <= 1e-5 * (1 + fabs(exact)), "%s: sum of %lld values %.9g, want %.9g", v,
                              (long long)n, got, exact);
                if (variants++ == 0) first = got;
                ck_assert_msg(memcmp(&got, &first, sizeof got) == 0, "%s: sum of %lld values %.17g, the first variant's %.17g",
                              v, (long long)n, got, first);
            }
            ck_assert_int_ge(variants, 1);
        }
}
END_TEST

START_TEST(binary_kernels_match_scalar_definition)
{
    static tg_real a[LONG_LEN + PAD], b[LONG_LEN + PAD], dy[LONG_LEN + PAD], y[LONG_LEN + PAD];
    static tg_real want[LONG_LEN + PAD], dx0[LONG_LEN + PAD], dx[LONG_LEN + PAD];
    FOR_EACH_VARIANT(v) {
        const tg_elementwise_kernel *k = tg_elementwise_kernel_get();
        for (int op = 0; op < TG_EW_BINARY_COUNT; op++)
            for (int form = 0; form < 3; form++) /* both vectors, a scalar, b scalar */
                for (int len = 0; len <= MAX_LEN + 1; len++) {
                    const int64_t n = test_length(len), shift = len % (MAX_SHIFT + 1);
                    const bool as = form == 1, bs = form == 2;
                    fill(a, n + PAD, 5 + (uint64_t)len, true);
                    fill(b, n + PAD, 17 + (uint64_t)len, (len & 1) == 0); /* finite divisors half the time */
                    fill(dy, n + PAD, 31 + (uint64_t)len, true);
                    fill(dx0, n + PAD, 43 + (uint64_t)len, false);
                    for (int64_t i = 0; i < n + PAD; i++) y[i] = want[i] = (tg_real)3.5;
                    for (int64_t i = 0; i < n; i++)
                        want[shift + i] = ref_binary((tg_ew_binary)op, a[as ? shift : shift + i], b[bs ? shift : shift + i]);
                    k->binary((tg_ew_binary)op, a + shift, as, b + shift, bs, y + shift, n);
                    assert_same(y, want, n + PAD, "binary", v, n);
                    for (int which = 0; which < 2; which++)
                        for (int acc = 0; acc < 2; acc++) {
                            memcpy(dx, dx0, sizeof(tg_real) * (size_t)(n + PAD));
                            memcpy(want, dx0, sizeof(tg_real) * (size_t)(n + PAD));
                            for (int64_t i = shift; i < shift + n; i++) {
                                tg_real g = ref_binary_grad((tg_ew_binary)op, which, a[as ? shift : i], b[bs ? shift : i],
                                                            dy[i]);
                                want[i] = acc ? dx0[i] + g : g;
                            }
                            k->binary_backward((tg_ew_binary)op, which, a + shift, as, b + shift, bs, dy + shift,
                                               dx + shift, n, acc);
                            assert_same(dx, want, n + PAD, "binary backward", v, n);
                        }
                }
    }
}
END_TEST

START_TEST(kernel_choice)
{
    ck_assert_int_eq(tg_elementwise_set_kernel("portable"), 0);
    ck_assert_str_eq(tg_elementwise_kernel_name(), "portable");
    ck_assert_int_eq(tg_elementwise_set_kernel("no-such-kernel"), -1);
    ck_assert_str_eq(tg_elementwise_kernel_name(), "portable"); /* unchanged */
    ck_assert_int_eq(tg_elementwise_set_kernel(NULL), 0);
    ck_assert_str_eq(tg_elementwise_kernel_name(),
                     tg_cpu_has_avx512() ? "avx512" : tg_cpu_has_avx2_fma() ? "avx2" : "portable");
}
END_TEST

/* ---- the ops on the kernels ---- */

/* relu / leaky_relu of x (odd sizes, special values), then a second use of x (fan-out), gradient
 * against the scalar rule: the first contribution is written into x's fresh gradient, the second
 * added. */
START_TEST(activations_on_every_variant)
{
    const int64_t shapes[][4] = {{1, 1, 1, 1}, {2, 3, 5, 7}, {3, 1, 17, 1}, {1, 16, 4, 4}, {2, 5, 33, 3}};
    tg_tape *t = tt_tape();
    FOR_EACH_VARIANT(v) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int leaky = 0; leaky < 2; leaky++) {
                tg_tape_reset(t);
                tg_tensor *x0 = tt_tensor(4, shapes[s], NULL);
                fill(x0->data, x0->numel, 101 + s, true);
                x0->requires_grad = true;
                /* x is a tape intermediate (its gradient fresh, in the arena): x = x0 * 1 */
                tg_tensor *one = tt_tensorv((double[]){1}, 1, (int64_t)1);
                tg_tensor *x = tg_mul(t, x0, one);
                const double slope = -0.3;
                tg_tensor *y = leaky ? tg_leaky_relu(t, x, slope) : tg_relu(t, x);
                tg_tensor *z = tg_add(t, y, x); /* x used twice */
                ck_assert_ptr_nonnull(z);
                tg_tensor *dz = tt_tensor(4, shapes[s], NULL);
                fill(dz->data, dz->numel, 7 + s, true);
                ck_assert_int_eq(tg_backward_with(z, dz->data), TG_OK);
                for (int64_t i = 0; i < x->numel; i++) {
                    tg_real xv = x0->data[i], g = dz->data[i];
                    tg_real want_y = ref_unary(leaky ? TG_EW_LEAKY_RELU : TG_EW_RELU, (tg_real)slope, xv);
                    tg_real want_dx = ref_unary_grad(leaky ? TG_EW_LEAKY_RELU : TG_EW_RELU, (tg_real)slope, xv, g) + g;
                    if (!same_value(y->data[i], want_y) || !same_number(x0->grad[i], want_dx))
                        ck_abort_msg("%s (%s) at %lld: x %g dy %g -> y %g dx %g, want %g %g", leaky ? "leaky_relu" : "relu",
                                     v, (long long)i, (double)xv, (double)g, (double)y->data[i], (double)x0->grad[i],
                                     (double)want_y, (double)want_dx);
                }
            }
    }
}
END_TEST

/* a ∘ b over broadcast shapes (bias per channel, trailing, scalar, both broadcast, same shape) with
 * both gradients, each variant, against a scalar loop over the broadcast index; run twice on one
 * tape so the second backward adds to the leaves' gradients. */
START_TEST(binary_ops_on_every_variant)
{
    struct { int an; int64_t as[4]; int bn; int64_t bs[4]; } cases[] = {
        {4, {2, 3, 5, 7}, 4, {2, 3, 5, 7}}, {4, {2, 3, 5, 7}, 3, {3, 1, 1}}, {2, {6, 19}, 1, {19}},
        {3, {4, 1, 9}, 3, {1, 3, 1}}, {2, {5, 33}, 0, {0}}, {1, {1}, 2, {3, 17}}};
    tg_tensor *(*const fns[])(tg_tape *, tg_tensor *, tg_tensor *) = {tg_add, tg_sub, tg_mul, tg_div};
    tg_tape *t = tt_tape();
    FOR_EACH_VARIANT(v) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int op = 0; op < TG_EW_BINARY_COUNT; op++) {
                tg_tape_reset(t);
                tg_tensor *a = tt_random(cases[c].an, cases[c].as, 3 + c, -2, 2);
                tg_tensor *b = tt_random(cases[c].bn, cases[c].bs, 5 + c, 0.5, 2);
                a->requires_grad = b->requires_grad = true;
                tg_tensor *y = fns[op](t, a, b);
                ck_assert_ptr_nonnull(y);
                tg_tensor *dy = tt_random(y->ndim, y->shape, 13 + c, -1, 1);
                double *want_da = calloc((size_t)a->numel, sizeof *want_da);
                double *want_db = calloc((size_t)b->numel, sizeof *want_db);
                for (int call = 1; call <= 2; call++) {
                    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
                    for (int64_t o = 0; o < y->numel; o++) {
                        /* the broadcast source index of each operand */
                        int64_t ia = 0, ib = 0, rest = o, sa = 1, sb = 1;
                        for (int d = y->ndim - 1; d >= 0; d--) {
                            int64_t idx = rest % y->shape[d];
                            rest /= y->shape[d];
                            int da = d - (y->ndim - a->ndim), db = d - (y->ndim - b->ndim);
                            if (da >= 0) { ia += (a->shape[da] == 1 ? 0 : idx) * sa; sa *= a->shape[da]; }
                            if (db >= 0) { ib += (b->shape[db] == 1 ? 0 : idx) * sb; sb *= b->shape[db]; }
                        }
                        if (call == 1 && !same_value(y->data[o], ref_binary((tg_ew_binary)op, a->data[ia], b->data[ib])))
                            ck_abort_msg("op %d case %zu (%s): y[%lld] wrong", op, c, v, (long long)o);
                        want_da[ia] += ref_binary_grad((tg_ew_binary)op, 0, a->data[ia], b->data[ib], dy->data[o]);
                        want_db[ib] += ref_binary_grad((tg_ew_binary)op, 1, a->data[ia], b->data[ib], dy->data[o]);
                    }
                    tt_assert_close(a->grad, want_da, a->numel, TT_DOUBLE ? 1e-12 : 1e-5);
                    tt_assert_close(b->grad, want_db, b->numel, TT_DOUBLE ? 1e-12 : 1e-5);
                }
                free(want_da), free(want_db);
            }
    }
}
END_TEST

/* x + x and x * x: one input twice; the first gradient is written into the fresh buffer, the second
 * must add to it (dx = 2 dy, dx = 2 x dy). */
START_TEST(same_tensor_twice)
{
    tg_tape *t = tt_tape();
    FOR_EACH_VARIANT(v) {
        tg_tape_reset(t);
        tg_tensor *x0 = tt_random(2, (int64_t[]){3, 37}, 77, -2, 2);
        x0->requires_grad = true;
        tg_tensor *x = tg_relu(t, x0); /* an intermediate: its gradient is fresh */
        tg_tensor *s = tg_add(t, x, x), *p = tg_mul(t, x, x);
        tg_tensor *loss = tg_sum(t, tg_add(t, s, p), TG_DIM_NONE, false);
        ck_assert_int_eq(tg_backward(loss), TG_OK);
        for (int64_t i = 0; i < x0->numel; i++) {
            double xv = x0->data[i], want = xv > 0 ? 2 + 2 * xv : 0;
            ck_assert_msg(fabs((double)x0->grad[i] - want) <= 1e-5 * (1 + fabs(want)), "%s: dx[%lld] = %g, want %g", v,
                          (long long)i, (double)x0->grad[i], want);
        }
    }
}
END_TEST

Suite *suite_elementwise(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tt_tcase("kernels");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unary_kernels_match_scalar_definition);
    tcase_add_test(tc, binary_kernels_match_scalar_definition);
    tcase_add_test(tc, sum_is_the_same_on_every_variant);
    tcase_add_test(tc, exp_based_ops_sweep);
    tcase_add_test(tc, kernel_choice);
    suite_add_tcase(s, tc);
    tc = tt_tcase("ops");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, activations_on_every_variant);
    tcase_add_test(tc, binary_ops_on_every_variant);
    tcase_add_test(tc, same_tensor_twice);
    suite_add_tcase(s, tc);
    return s;
}
