/* tests/test_shape.c — the pad kernel directly (each mode against hand-written arrays, adjointness
 * of its backward) and the shape ops: reshape, flatten, permute, transpose, concat, slice, pad —
 * hand-computed values and gradients, gradient checks over many shapes and attributes, bad input. */
#include "util.h"

#include "../ops/kernels/pad.h"

static tg_tensor *rnd(int nd, const int64_t *s, uint64_t seed)
{
    tg_tensor *x = tt_random(nd, s, seed, -1, 1);
    x->requires_grad = true;
    return x;
}
#define RND(seed, ...) rnd((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}, seed)

/* 0, 1, 2, ... in the given shape, requiring a gradient */
static tg_tensor *iota(int nd, const int64_t *s)
{
    tg_tensor *x = tt_tensor(nd, s, NULL);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (tg_real)i;
    x->requires_grad = true;
    return x;
}
#define IOTA(...) iota((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* Runs backward from dy = 1, 2, 3, ... (distinct so misrouted gradients show). */
static void backward_iota(tg_tensor *y)
{
    ck_assert_ptr_nonnull(y);
    tg_real *dy = tg_tape_alloc(y->tape, sizeof(tg_real) * (size_t)(y->numel ? y->numel : 1));
    for (int64_t i = 0; i < y->numel; i++) dy[i] = (tg_real)(i + 1);
    ck_assert_int_eq(tg_backward_with(y, dy), TG_OK);
}

/* ---- pad kernel ---- */

static void kernel_1d(tg_pad_mode mode, const double *want)
{
    tg_real x[3] = {1, 2, 3}, y[7];
    int64_t shape[1] = {3}, lo[1] = {2}, hi[1] = {2};
    tg_pad_kernel(x, y, 1, 1, shape, lo, hi, mode, 9);
    tt_assert_close(y, want, 7, 0);
}

START_TEST(pad_kernel_1d_each_mode)
{
    kernel_1d(TG_PAD_CONSTANT, (double[]){9, 9, 1, 2, 3, 9, 9});
    kernel_1d(TG_PAD_REFLECT, (double[]){3, 2, 1, 2, 3, 2, 1});
    kernel_1d(TG_PAD_REPLICATE, (double[]){1, 1, 1, 2, 3, 3, 3});
    kernel_1d(TG_PAD_CIRCULAR, (double[]){2, 3, 1, 2, 3, 1, 2});
    /* constant with negative amounts crops: [1,2,3,4] lo -1 hi +1 */
    tg_real x[4] = {1, 2, 3, 4}, y[4];
    tg_pad_kernel(x, y, 1, 1, (int64_t[]){4}, (int64_t[]){-1}, (int64_t[]){1}, TG_PAD_CONSTANT, 7);
    tt_assert_close(y, ((double[]){2, 3, 4, 7}), 4, 0);
}
END_TEST

static void kernel_2d(tg_pad_mode mode, const double *want)
{
    /* two blocks of [[1,2,3],[4,5,6]] and their negatives; rows lo 1 hi 0, cols lo 1 hi 2 */
    tg_real x[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, y[36];
    int64_t shape[2] = {2, 3}, lo[2] = {1, 1}, hi[2] = {0, 2};
    tg_pad_kernel(x, y, 2, 2, shape, lo, hi, mode, 0);
    tt_assert_close(y, want, 18, 0);
    for (int i = 0; i < 18; i++) ck_assert(y[18 + i] == -y[i]);
}

START_TEST(pad_kernel_2d_each_mode)
{
    kernel_2d(TG_PAD_CONSTANT, (double[]){0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0});
    kernel_2d(TG_PAD_REFLECT, (double[]){5, 4, 5, 6, 5, 4, 2, 1, 2, 3, 2, 1, 5, 4, 5, 6, 5, 4});
    kernel_2d(TG_PAD_REPLICATE, (double[]){1, 1, 2, 3, 3, 3, 1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 6, 6});
    kernel_2d(TG_PAD_CIRCULAR, (double[]){6, 4, 5, 6, 4, 5, 3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5});
}
END_TEST

START_TEST(pad_kernel_backward_counts_reads)
{
    /* reflect [x0,x1,x2] by 2,2 reads x2 x1 x0 x1 x2 x1 x0: with dy = 1..7,
     * dx0 = 3 + 7, dx1 = 2 + 4 + 6, dx2 = 1 + 5 */
    tg_real dy[7] = {1, 2, 3, 4, 5, 6, 7}, dx[3] = {100, 100, 100};
    tg_pad_backward_kernel(dy, dx, 1, 1, (int64_t[]){3}, (int64_t[]){2}, (int64_t[]){2}, TG_PAD_REFLECT);
    tt_assert_close(dx, ((double[]){110, 112, 106}), 3, 0); /* adds into dx */
    /* constant: the border reads nothing */
    tg_real dc[3] = {0, 0, 0};
    tg_pad_backward_kernel(dy, dc, 1, 1, (int64_t[]){3}, (int64_t[]){2}, (int64_t[]){2}, TG_PAD_CONSTANT);
    tt_assert_close(dc, ((double[]){3, 4, 5}), 3, 0);
}
END_TEST

/* <pad(x), y> == <x, pad^T(y)> for random x, y over modes, ranks and asymmetric pads */
START_TEST(pad_kernel_backward_is_adjoint)
{
    static const struct { int nd; int64_t shape[3], lo[3], hi[3]; } cases[] = {
        {1, {5}, {3}, {1}},
        {2, {3, 4}, {2, 0}, {1, 3}},
        {2, {1, 4}, {0, 1}, {0, 2}},
        {3, {2, 3, 4}, {1, 2, 0}, {1, 0, 3}},
        {3, {3, 1, 2}, {2, 0, 1}, {0, 0, 1}},
        {2, {3, 5}, {1, -2}, {-1, 1}}, /* crops in constant mode; other modes use 0 there */
    };
    tg_rng r;
    tg_rng_seed(&r, 7);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int mode = TG_PAD_CONSTANT; mode <= TG_PAD_CIRCULAR; mode++) {
            int nd = cases[c].nd;
            int64_t lo[3], hi[3], in_n = 1, out_n = 1, outer = 3;
            for (int d = 0; d < nd; d++) {
                lo[d] = cases[c].lo[d];
                hi[d] = cases[c].hi[d];
                int64_t n = cases[c].shape[d];
                if (mode != TG_PAD_CONSTANT) { /* only constant mode crops */
                    if (lo[d] < 0) lo[d] = 0;
                    if (hi[d] < 0) hi[d] = 0;
                }
                if (mode == TG_PAD_REFLECT) { /* reflect needs pads < size */
                    if (lo[d] >= n) lo[d] = n - 1;
                    if (hi[d] >= n) hi[d] = n - 1;
                }
                in_n *= n;
                out_n *= n + lo[d] + hi[d];
            }
            tg_real x[3 * 24], y[3 * 200], py[3 * 200], dx[3 * 24] = {0};
            for (int64_t i = 0; i < outer * in_n; i++) x[i] = (tg_real)(2 * tg_rng_uniform(&r) - 1);
            for (int64_t i = 0; i < outer * out_n; i++) y[i] = (tg_real)(2 * tg_rng_uniform(&r) - 1);
            tg_pad_kernel(x, py, outer, nd, cases[c].shape, lo, hi, (tg_pad_mode)mode, 0);
            tg_pad_backward_kernel(y, dx, outer, nd, cases[c].shape, lo, hi, (tg_pad_mode)mode);
            double lhs = 0, rhs = 0;
            for (int64_t i = 0; i < outer * out_n; i++) lhs += (double)py[i] * y[i];
            for (int64_t i = 0; i < outer * in_n; i++) rhs += (double)x[i] * dx[i];
            ck_assert_msg(fabs(lhs - rhs) <= 1e-4 * (1 + fabs(lhs)), "case %zu mode %d: %g vs %g", c, mode, lhs, rhs);
        }
}
END_TEST

/* ---- reshape / flatten ---- */

START_TEST(reshape_values_inference_and_grad)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = IOTA(2, 3);
    tg_tensor *y = tg_reshape(t, x, 2, (int64_t[]){3, -1});
    tt_assert_shape(y, 3, 2);
    tt_assert_close(y->data, ((double[]){0, 1, 2, 3, 4, 5}), 6, 0);
    backward_iota(y);
    tt_assert_close(x->grad, ((double[]){1, 2, 3, 4, 5, 6}), 6, 0);
}
END_TEST

START_TEST(reshape_to_scalar_and_size1)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){4}, 3, 1, 1, 1);
    tg_tensor *y = tg_reshape(t, x, 0, NULL);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->ndim, 0);
    ck_assert(y->data[0] == 4);
    tg_tensor *z = tg_reshape(t, IOTA(4, 3), 3, (int64_t[]){1, -1, 1});
    tt_assert_shape(z, 1, 12, 1);
}
END_TEST

START_TEST(flatten_dims)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = IOTA(2, 3, 4, 5);
    tt_assert_shape(tg_flatten(t, x, 1, -1), 2, 60);
    tt_assert_shape(tg_flatten(t, x, 0, -1), 120);
    tt_assert_shape(tg_flatten(t, x, 1, 2), 2, 12, 5);
    tt_assert_shape(tg_flatten(t, x, -2, -1), 2, 3, 20);
    tt_assert_shape(tg_flatten(t, x, 2, 2), 2, 3, 4, 5);
    tg_tensor *s = tg_flatten(t, tt_tensorv((double[]){3}, 0), 0, -1);
    tt_assert_shape(s, 1);
    tg_tensor *y = tg_flatten(t, x, 1, -1);
    for (int64_t i = 0; i < 120; i++) ck_assert(y->data[i] == i);
}
END_TEST

/* ---- permute / transpose ---- */

START_TEST(transpose_2d_by_hand)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 2, 2, 3);
    x->requires_grad = true;
    tg_tensor *y = tg_transpose(t, x, 0, 1);
    tt_assert_shape(y, 3, 2);
    tt_assert_close(y->data, ((double[]){1, 4, 2, 5, 3, 6}), 6, 0);
    backward_iota(y); /* dy = [[1,2],[3,4],[5,6]] -> dx = dy^T */
    tt_assert_close(x->grad, ((double[]){1, 3, 5, 2, 4, 6}), 6, 0);
}
END_TEST

START_TEST(permute_3d_matches_index_formula)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = IOTA(2, 3, 4); /* x[i,j,k] = 12i + 4j + k */
    tg_tensor *y = tg_permute(t, x, 3, (int[]){2, 0, -2});
    tt_assert_shape(y, 4, 2, 3);
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) ck_assert(y->data[(k * 2 + i) * 3 + j] == 12 * i + 4 * j + k);
    backward_iota(y); /* dx[i,j,k] = 1 + flat index of y[k,i,j] */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) ck_assert(x->grad[12 * i + 4 * j + k] == 1 + (k * 2 + i) * 3 + j);
    tg_tensor *z = tg_transpose(t, IOTA(2, 3, 4), -1, 0);
    tt_assert_shape(z, 4, 3, 2);
    ck_assert(z->data[1] == 12); /* z[0,0,1] = x[1,0,0] */
}
END_TEST

/* ---- concat ---- */

START_TEST(concat_values_and_grads)
{
    tg_tape *t = tt_tape();
    tg_tensor *a = tt_tensorv((double[]){1, 2, 3, 4}, 2, 2, 2);
    tg_tensor *b = tt_tensorv((double[]){5, 6}, 2, 2, 1);
    a->requires_grad = b->requires_grad = true;
    tg_tensor *y = tg_concat(t, (tg_tensor *[]){a, b}, 2, -1);
    tt_assert_shape(y, 2, 3);
    tt_assert_close(y->data, ((double[]){1, 2, 5, 3, 4, 6}), 6, 0);
    backward_iota(y);
    tt_assert_close(a->grad, ((double[]){1, 2, 4, 5}), 4, 0);
    tt_assert_close(b->grad, ((double[]){3, 6}), 2, 0);
    /* along dim 0, a single input, and a size-0 piece */
    tg_tensor *z = tg_concat(t, (tg_tensor *[]){b, b, b}, 3, 0);
    tt_assert_shape(z, 6, 1);
    tt_assert_close(z->data, ((double[]){5, 6, 5, 6, 5, 6}), 6, 0);
    tt_assert_shape(tg_concat(t, (tg_tensor *[]){a}, 1, 1), 2, 2);
    tg_tensor *empty = tt_tensor(2, (int64_t[]){2, 0}, NULL);
    tt_assert_close(tg_concat(t, (tg_tensor *[]){empty, b}, 2, 1)->data, ((double[]){5, 6}), 2, 0);
}
END_TEST

/* A concat big enough to be split over threads (ops/shape.c: CONCAT_PARALLEL_MIN): y and every
 * input's gradient, computed from the indices, for 1, 2 and 3 threads; the inputs are both leaves
 * (gradients zeroed, added to) and intermediates (fresh gradients, written), and one is listed
 * twice (its second slice adds to its first). */
START_TEST(concat_split_over_threads)
{
    const int saved = tg_get_threads();
    const int64_t n = 5, h = 40, w = 41, ca = 3, cb = 2, plane = h * w;
    for (int threads = 1; threads <= 3; threads++) {
        tg_set_threads(threads);
        tg_tape *t = tt_tape();
        tg_tensor *a = tt_tensor(4, (int64_t[]){n, ca, h, w}, NULL), *b = tt_tensor(4, (int64_t[]){n, cb, h, w}, NULL);
        for (int64_t i = 0; i < a->numel; i++) a->data[i] = (tg_real)i;
        for (int64_t i = 0; i < b->numel; i++) b->data[i] = (tg_real)(-1 - i);
        a->requires_grad = b->requires_grad = true;
        tg_tensor *na = tg_neg(t, a); /* an intermediate: its gradient is written fresh */
        tg_tensor *y = tg_concat(t, (tg_tensor *[]){a, na, b, a}, 4, 1);
        tt_assert_shape(y, n, 2 * ca + ca + cb, h, w);
        const int64_t cy = 3 * ca + cb;
        ck_assert_int_ge(y->numel, 1 << 15);
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < cy; c++)
                for (int64_t q = 0; q < plane; q++) {
                    double want;
                    if (c < ca) want = a->data[(i * ca + c) * plane + q];
                    else if (c < 2 * ca) want = -a->data[(i * ca + c - ca) * plane + q];
                    else if (c < 2 * ca + cb) want = b->data[(i * cb + c - 2 * ca) * plane + q];
                    else want = a->data[(i * ca + c - 2 * ca - cb) * plane + q];
                    ck_assert_msg(y->data[(i * cy + c) * plane + q] == want, "threads %d: y[%lld,%lld,%lld]",
                                  threads, (long long)i, (long long)c, (long long)q);
                }
        backward_iota(y); /* dy = 1, 2, 3, ... */
        for (int64_t i = 0; i < n; i++)
            for (int64_t q = 0; q < plane; q++) {
                for (int64_t c = 0; c < ca; c++) {
                    /* a: its own slices 0 and 3, and minus the neg's slice 1 */
                    const double d0 = (double)((i * cy + c) * plane + q + 1);
                    const double d1 = (double)((i * cy + ca + c) * plane + q + 1);
                    const double d3 = (double)((i * cy + 2 * ca + cb + c) * plane + q + 1);
                    ck_assert_msg(a->grad[(i * ca + c) * plane + q] == (tg_real)(d0 + d3 - d1), "threads %d: da",
                                  threads);
                }
                for (int64_t c = 0; c < cb; c++)
                    ck_assert_msg(b->grad[(i * cb + c) * plane + q] ==
                                      (tg_real)((i * cy + 2 * ca + c) * plane + q + 1),
                                  "threads %d: db", threads);
            }
    }
    tg_set_threads(saved);
}
END_TEST

/* ---- slice ---- */

START_TEST(slice_python_semantics)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = IOTA(10);
    tg_tensor *y = tg_slice(t, x, 0, 1, 8, 3);
    tt_assert_close(y->data, ((double[]){1, 4, 7}), 3, 0);
    tt_assert_shape(y, 3);
    tt_assert_close(tg_slice(t, x, 0, -3, INT64_MAX, 1)->data, ((double[]){7, 8, 9}), 3, 0);
    tt_assert_close(tg_slice(t, x, -1, -100, 2, 1)->data, ((double[]){0, 1}), 2, 0);
    tt_assert_shape(tg_slice(t, x, 0, 7, 3, 1), 0);
    tt_assert_shape(tg_slice(t, x, 0, 12, 20, 2), 0);
    tt_assert_close(tg_slice(t, x, 0, 0, -1, 4)->data, ((double[]){0, 4, 8}), 3, 0);
    backward_iota(y); /* dy = 1,2,3 lands on 1,4,7 */
    tt_assert_close(x->grad, ((double[]){0, 1, 0, 0, 2, 0, 0, 3, 0, 0}), 10, 0);

    tg_tensor *m = IOTA(3, 4);
    tg_tensor *c = tg_slice(t, m, 1, 1, 3, 1);
    tt_assert_shape(c, 3, 2);
    tt_assert_close(c->data, ((double[]){1, 2, 5, 6, 9, 10}), 6, 0);
}
END_TEST

/* slice attributes parse "none" for open bounds */
START_TEST(slice_attribute_text)
{
    tg_slice_attr a;
    char err[128];
    tg_attr_defaults(TG_OP_SLICE, &a);
    ck_assert_int_eq(a.start, TG_DIM_NONE);
    ck_assert_int_eq(a.end, TG_DIM_NONE);
    ck_assert_int_eq(a.step, 1);
    ck_assert_int_eq(tg_attr_parse(TG_OP_SLICE, &a, "start=-2", err, sizeof err), 0);
    tg_tape *t = tt_tape();
    tg_tensor *x = IOTA(5);
    tg_tensor *in[1] = {x};
    tt_assert_close(tg_op_apply(t, TG_OP_SLICE, in, 1, &a)->data, ((double[]){3, 4}), 2, 0);
}
END_TEST

/* ---- pad op ---- */

START_TEST(pad_op_f_pad_order)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 3, 1, 2, 3);
    x->requires_grad = true;
    /* (last lo, last hi, prev lo, prev hi) = (1, 2, 1, 0) as the kernel test above */
    tg_tensor *y = tg_pad(t, x, 4, (int64_t[]){1, 2, 1, 0}, TG_PAD_REPLICATE, 0);
    tt_assert_shape(y, 1, 3, 6);
    tt_assert_close(y->data, ((double[]){1, 1, 2, 3, 3, 3, 1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 6, 6}), 18, 0);
    backward_iota(y);
    /* x[0,0] collects out (0,0),(0,1),(1,0),(1,1) -> 1+2+7+8; x[0,2] collects cols 3..5 of rows 0,1 */
    tt_assert_close(x->grad, ((double[]){18, 3 + 9, 4 + 5 + 6 + 10 + 11 + 12, 13 + 14, 15, 16 + 17 + 18}), 6, 0);
    tg_tensor *c = tg_pad(t, x, 2, (int64_t[]){-1, 1}, TG_PAD_CONSTANT, 2.5);
    tt_assert_shape(c, 1, 2, 3);
    tt_assert_close(c->data, ((double[]){2, 3, 2.5, 5, 6, 2.5}), 6, 0);
    tt_assert_shape(tg_pad(t, x, 0, NULL, TG_PAD_REFLECT, 0), 1, 2, 3);
}
END_TEST

/* ---- gradient checks ---- */

START_TEST(gradcheck_reshape_flatten)
{
    tg_reshape_attr r = {.shape = {3, {2, -1, 1}}};
    tt_gradcheck_op(TG_OP_RESHAPE, &r, (tg_tensor *[]){RND(1, 3, 4)}, 1);
    tg_flatten_attr f = {1, -2};
    tt_gradcheck_op(TG_OP_FLATTEN, &f, (tg_tensor *[]){RND(2, 2, 3, 1, 5)}, 1);
    f = (tg_flatten_attr){0, -1};
    tt_gradcheck_op(TG_OP_FLATTEN, &f, (tg_tensor *[]){RND(3, 3, 1)}, 1);
}
END_TEST

START_TEST(gradcheck_permute_transpose)
{
    tg_permute_attr p = {.dims = {4, {3, 1, 0, 2}}};
    tt_gradcheck_op(TG_OP_PERMUTE, &p, (tg_tensor *[]){RND(4, 2, 3, 1, 5)}, 1);
    p = (tg_permute_attr){.dims = {2, {-1, 0}}};
    tt_gradcheck_op(TG_OP_PERMUTE, &p, (tg_tensor *[]){RND(5, 3, 4)}, 1);
    tg_transpose_attr tr = {-1, 1};
    tt_gradcheck_op(TG_OP_TRANSPOSE, &tr, (tg_tensor *[]){RND(6, 2, 3, 4)}, 1);
    tr = (tg_transpose_attr){0, 0};
    tt_gradcheck_op(TG_OP_TRANSPOSE, &tr, (tg_tensor *[]){RND(7, 3, 2)}, 1);
}
END_TEST

START_TEST(gradcheck_concat)
{
    tg_concat_attr c = {1};
    tt_gradcheck_op(TG_OP_CONCAT, &c, ((tg_tensor *[]){RND(8, 2, 3, 4), RND(9, 2, 1, 4), RND(10, 2, 2, 4)}), 3);
    c.dim = -1;
    tg_tensor *six[6];
    for (int i = 0; i < 6; i++) six[i] = RND(11 + i, 3, i % 3 + 1);
    tt_gradcheck_op(TG_OP_CONCAT, &c, six, 6);
    c.dim = 0;
    tt_gradcheck_op(TG_OP_CONCAT, &c, ((tg_tensor *[]){RND(20, 1, 3), RND(21, 2, 3)}), 2);
}
END_TEST

START_TEST(gradcheck_slice)
{
    static const tg_slice_attr cases[] = {
        {0, 1, 5, 2}, {1, TG_DIM_NONE, TG_DIM_NONE, 3}, {-1, -3, TG_DIM_NONE, 1}, {2, 0, 1, 1}, {1, -100, 100, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        tt_gradcheck_op(TG_OP_SLICE, &cases[i], (tg_tensor *[]){RND(30 + i, 5, 4, 3)}, 1);
}
END_TEST

START_TEST(gradcheck_pad_every_mode)
{
    static const struct { int n; int64_t pad[6]; } pads[] = {
        {2, {1, 2}}, {4, {2, 0, 1, 1}}, {4, {0, 1, 0, 0}}, {6, {1, 1, 1, 0, 0, 2}},
    };
    for (int mode = TG_PAD_CONSTANT; mode <= TG_PAD_CIRCULAR; mode++)
        for (size_t i = 0; i < sizeof pads / sizeof *pads; i++) {
            tg_pad_attr a = {.pad = {pads[i].n, {0}}, .mode = mode, .value = 0.5};
            for (int k = 0; k < pads[i].n; k++) a.pad.v[k] = pads[i].pad[k];
            tt_gradcheck_op(TG_OP_PAD, &a, (tg_tensor *[]){RND(40 + i, 2, 3, 3, 4)}, 1);
        }
    tg_pad_attr crop = {.pad = {4, {-1, 2, 1, -2}}, .mode = TG_PAD_CONSTANT};
    tt_gradcheck_op(TG_OP_PAD, &crop, (tg_tensor *[]){RND(50, 2, 4, 5)}, 1);
    tg_pad_attr one = {.pad = {2, {1, 1}}, .mode = TG_PAD_CIRCULAR};
    tt_gradcheck_op(TG_OP_PAD, &one, (tg_tensor *[]){RND(51, 2, 1, 1)}, 1);
}
END_TEST

/* ---- bad input ---- */

START_TEST(bad_input_messages)
{
    tg_tape *t = tt_tape();
    tg_tensor *x = IOTA(3, 4);
    tt_assert_error(t, tg_reshape(t, x, 2, (int64_t[]){5, -1}), "reshape: shape [5,-1] is invalid for input of 12 elements (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_reshape(t, x, 2, (int64_t[]){-1, -1}), "reshape: shape [-1,-1] has more than one -1");
    tg_tape_reset(t);
    tt_assert_error(t, tg_reshape(t, x, 2, (int64_t[]){5, 2}), "invalid for input of 12 elements");
    tg_tape_reset(t);
    tt_assert_error(t, tg_flatten(t, x, 1, 0), "flatten: start_dim 1 comes after end_dim 0 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_flatten(t, x, 2, -1), "flatten: start_dim 2 out of range for rank 2 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_permute(t, x, 2, (int[]){0, 0}), "permute: dims [0,0] repeat dim 0 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_permute(t, x, 1, (int[]){0}), "permute: dims [0] name 1 dims but the input has rank 2");
    tg_tape_reset(t);
    tt_assert_error(t, tg_transpose(t, x, 0, -3), "transpose: dim1 -3 out of range for rank 2 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_concat(t, (tg_tensor *[]){x, IOTA(3, 4, 1)}, 2, 0), "concat: tensor1 has rank 3 but tensor0 has rank 2");
    tg_tape_reset(t);
    tt_assert_error(t, tg_concat(t, (tg_tensor *[]){x, IOTA(2, 5)}, 2, 0),
                    "concat: tensor1 differs from tensor0 in dim 1, which is not the concat dim 0 (tensor0=[3,4] tensor1=[2,5])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_concat(t, (tg_tensor *[]){x, NULL}, 2, 0), "concat: tensor1 is NULL");
    tg_tape_reset(t);
    tt_assert_error(t, tg_slice(t, x, 1, 0, 2, 0), "slice: step must be >= 1, got 0 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_slice(t, x, 2, 0, 2, 1), "slice: dim 2 out of range for rank 2 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pad(t, x, 3, (int64_t[]){1, 1, 1}, TG_PAD_CONSTANT, 0), "pad: pad [1,1,1] has 3 values");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pad(t, x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, TG_PAD_CONSTANT, 0),
                    "pad: pad [1,1,1,1,1,1] pads 3 dims but the input has rank 2 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pad(t, x, 4, (int64_t[]){0, 0, 3, 0}, TG_PAD_REFLECT, 0),
                    "pad: reflect padding 3 must be less than the size 3 of dim 0 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pad(t, x, 2, (int64_t[]){5, 0}, TG_PAD_CIRCULAR, 0),
                    "pad: circular padding 5 must not exceed the size 4 of dim 1 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pad(t, x, 2, (int64_t[]){-1, 0}, TG_PAD_REPLICATE, 0), "pad: negative padding -1 in pad [-1,0] needs mode constant, not replicate");
    tg_tape_reset(t);
    tt_assert_error(t, tg_pad(t, x, 2, (int64_t[]){-3, -2}, TG_PAD_CONSTANT, 0), "pad: pad [-3,-2] leaves dim 1 with negative size -1 (x=[3,4])");
    tg_tape_reset(t);
    tt_assert_error(t, tg_reshape(t, NULL, 1, (int64_t[]){1}), "reshape: input is NULL");
}
END_TEST

/* concat's backward copies each input's slice of dy into a fresh gradient (no zeroing, no adds), and
 * adds when an input comes twice: on an arena full of old values, concat(h, g, h) of op outputs
 * along dim 1 gives x the sum of its two slices and z its own. */
START_TEST(concat_fresh_gradients_are_written)
{
    tg_tape *t = tt_tape();
    tt_dirty_arena(t, 28800);
    tg_tensor *x = tt_random(3, (int64_t[]){2, 3, 5}, 2, 0.5, 1.5), *z = tt_random(3, (int64_t[]){2, 1, 5}, 3, 0.5, 1.5);
    x->requires_grad = z->requires_grad = true;
    tg_tensor *h = tg_relu(t, x), *g = tg_relu(t, z);
    tg_tensor *y = tg_concat(t, (tg_tensor *[]){h, g, h}, 3, 1);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tt_assert_shape(y, 2, 7, 5);
    tg_tensor *dy = tt_random(3, y->shape, 4, -1, 1);
    ck_assert_int_eq(tg_backward_with(y, dy->data), TG_OK);
    double want_x[30], want_z[10];
    for (int64_t n = 0; n < 2; n++)
        for (int64_t k = 0; k < 5; k++) {
            for (int64_t c = 0; c < 3; c++)
                want_x[(n * 3 + c) * 5 + k] = (double)dy->data[(n * 7 + c) * 5 + k] + (double)dy->data[(n * 7 + 4 + c) * 5 + k];
            want_z[n * 5 + k] = dy->data[(n * 7 + 3) * 5 + k];
        }
    tt_assert_close(x->grad, want_x, 30, 1e-6);
    tt_assert_close(z->grad, want_z, 10, 0);
}
END_TEST

Suite *suite_shape(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = tt_tcase("pad_kernel");
    tcase_add_test(tc, pad_kernel_1d_each_mode);
    tcase_add_test(tc, pad_kernel_2d_each_mode);
    tcase_add_test(tc, pad_kernel_backward_counts_reads);
    tcase_add_test(tc, pad_kernel_backward_is_adjoint);
    suite_add_tcase(s, tc);
    tc = tt_tcase("ops");
    tcase_add_test(tc, reshape_values_inference_and_grad);
    tcase_add_test(tc, reshape_to_scalar_and_size1);
    tcase_add_test(tc, flatten_dims);
    tcase_add_test(tc, transpose_2d_by_hand);
    tcase_add_test(tc, permute_3d_matches_index_formula);
    tcase_add_test(tc, concat_values_and_grads);
    tcase_add_test(tc, concat_split_over_threads);
    tcase_add_test(tc, slice_python_semantics);
    tcase_add_test(tc, slice_attribute_text);
    tcase_add_test(tc, pad_op_f_pad_order);
    tcase_add_test(tc, bad_input_messages);
    suite_add_tcase(s, tc);
    tc = tt_tcase("gradcheck");
    tcase_add_test(tc, gradcheck_reshape_flatten);
    tcase_add_test(tc, gradcheck_permute_transpose);
    tcase_add_test(tc, gradcheck_concat);
    tcase_add_test(tc, gradcheck_slice);
    tcase_add_test(tc, gradcheck_pad_every_mode);
    tcase_add_test(tc, concat_fresh_gradients_are_written);
    suite_add_tcase(s, tc);
    return s;
}
