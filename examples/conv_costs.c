/* examples/conv_costs.c — parameter and MAC counts of the notes' convolution layers, measured on
 * real layers next to the notes' formulas.
 *
 *   build/examples/conv_costs
 *
 * Each layer is built (weights, optional bias), run through conv2d on one image, and counted from
 * the real tensors: params = elements of weight and bias; MACs = output elements times the
 * multiply-accumulates each needs (C_in/groups * kh * kw; bias adds are not MACs, as the notes
 * count). The notes' closed forms are printed beside them; a mismatch is flagged.
 */
#include <stdio.h>

#include "../tapegrad.h"

typedef struct layer_cost { long long params, macs; } layer_cost;

/* Runs one conv2d layer on x and returns its counts; *out receives the output (tape-owned). */
static layer_cost run_layer(tg_tape *tape, tg_tensor *x, int64_t out_ch, int64_t k, int64_t pad, int groups,
                            bool bias, tg_tensor **out)
{
    layer_cost c = {-1, -1};
    int64_t cin = x->shape[1];
    tg_tensor *w = tg_tensor_newv(4, out_ch, cin / groups, k, k);
    tg_tensor *b = bias ? tg_tensor_newv(1, out_ch) : NULL;
    if (!w || (bias && !b)) return c;
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    for (int64_t i = 0; i < w->numel; i++) w->data[i] = (tg_real)(tg_rng_uniform(&rng) - 0.5) * 0.1f;
    tg_conv_attr a;
    tg_attr_defaults(TG_OP_CONV2D, &a);
    a.padding = (tg_ints){1, {pad}};
    a.groups = groups;
    tg_tensor *y = tg_conv2d(tape, x, w, b, &a);
    if (y) {
        c.params = (long long)(w->numel + (b ? b->numel : 0));
        c.macs = (long long)(y->numel / y->shape[0]) * (long long)(w->numel / w->shape[0]);
        *out = y;
    }
    tg_tensor_free(w);
    tg_tensor_free(b);
    return c;
}

static int row(const char *what, layer_cost got, long long want_params, long long want_macs, const char *formula)
{
    bool ok = got.params == want_params && got.macs == want_macs;
    printf("  %-34s params %11lld  MACs %14lld   notes: %s = %lld params, %lld MACs%s\n", what, got.params, got.macs,
           formula, want_params, want_macs, ok ? "" : "   <-- MISMATCH");
    return ok ? 0 : 1;
}

static tg_tensor *input(int64_t c, int64_t h, int64_t w)
{
    tg_tensor *x = tg_tensor_newv(4, (int64_t)1, c, h, w);
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    for (int64_t i = 0; x && i < x->numel; i++) x->data[i] = (tg_real)tg_rng_uniform(&rng);
    return x;
}

int main(void)
{
    tg_tape *tape = tg_tape_new(0);
    int bad = 0;
    tg_tensor *y, *mid;

    printf("3x32x32 input, ten 5x5 filters, padding 2 (notes 7.4):\n");
    tg_tensor *x = input(3, 32, 32);
    layer_cost c = run_layer(tape, x, 10, 5, 2, 1, true, &y);
    bad |= row("conv 3->10 5x5", c, 760, 768000, "(3*5*5+1)*10; 75 * (10*32*32)");
    tg_tensor_free(x);

    printf("\n256 -> 256 channels on 64x64, no padding (notes 7.10.1):\n");
    x = input(256, 64, 64);
    tg_tape_reset(tape);
    layer_cost direct = run_layer(tape, x, 256, 3, 0, 1, true, &y);
    bad |= row("direct 3x3", direct, 590080, 2267283456LL, "256*(256*3*3)+256; 62*62*256 * 2304");
    tg_tape_reset(tape);
    layer_cost reduce = run_layer(tape, x, 64, 1, 0, 1, true, &mid);
    layer_cost expand = mid ? run_layer(tape, mid, 256, 3, 0, 1, true, &y) : (layer_cost){-1, -1};
    bad |= row("bottleneck 1x1 256->64", reduce, 16448, 67108864LL, "256*64+64; 64*64 * 256*64");
    bad |= row("bottleneck 3x3 64->256", expand, 147712, 566820864LL, "64*256*3*3+256; 62*62*256 * 576");
    layer_cost sum = {reduce.params + expand.params, reduce.macs + expand.macs};
    bad |= row("bottleneck total", sum, 164160, 633929728LL, "16,384+64+147,456+256; ~634e6");
    printf("  direct / bottleneck: %.2fx params, %.2fx MACs (notes: ~3.6x)\n", (double)direct.params / sum.params,
           (double)direct.macs / sum.macs);
    tg_tensor_free(x);

    printf("\n128 -> 256 channels on 32x32, 3x3 'same' (notes, depthwise separable; no biases):\n");
    x = input(128, 32, 32);
    tg_tape_reset(tape);
    layer_cost standard = run_layer(tape, x, 256, 3, 1, 1, false, &y);
    bad |= row("standard 3x3", standard, 294912, 301989888LL, "K^2*Cin*Cout; H*W*K^2*Cin*Cout");
    tg_tape_reset(tape);
    layer_cost depthwise = run_layer(tape, x, 128, 3, 1, 128, false, &mid);
    layer_cost pointwise = mid ? run_layer(tape, mid, 256, 1, 0, 1, false, &y) : (layer_cost){-1, -1};
    bad |= row("depthwise 3x3 (groups=128)", depthwise, 1152, 1179648LL, "K^2*Cin; H*W*K^2*Cin");
    bad |= row("pointwise 1x1", pointwise, 32768, 33554432LL, "Cin*Cout; H*W*Cin*Cout");
    sum = (layer_cost){depthwise.params + pointwise.params, depthwise.macs + pointwise.macs};
    bad |= row("depthwise separable total", sum, 33920, 34734080LL, "Cin*(K^2+Cout); H*W*Cin*(K^2+Cout)");
    printf("  standard / separable: %.2fx params, %.2fx MACs (notes: ~8.69x)\n", (double)standard.params / sum.params,
           (double)standard.macs / sum.macs);
    tg_tensor_free(x);

    if (tg_error(tape)) fprintf(stderr, "conv_costs: %s\n", tg_error(tape));
    tg_tape_free(tape);
    return bad ? 1 : 0;
}
