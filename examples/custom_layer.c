/* examples/custom_layer.c — a user-defined op with its own backward, registered at run time,
 * gradient-checked through the public API, and used as a layer in a model.
 *
 * The op is swish, y = x * sigmoid(x); its derivative is s + x s (1 - s) with s = sigmoid(x).
 * A second user op, `scale` (y = x * weight[c]), has a parameter: the layer gets it with
 * tg_module_add_param(m, "weight", ...) and binds it by the op's declared input name, the same
 * rule every built-in layer follows (docs/nn.md).
 *
 *   build/examples/custom_layer
 */
#include <math.h>
#include <stdio.h>

#include "../tapegrad.h"

/* x:[any] -> y:[same] */
static int swish_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)t, (void)n, (void)attr;
    *ndim = in[0]->ndim;
    for (int i = 0; i < in[0]->ndim; i++) shape[i] = in[0]->shape[i];
    return 0;
}
static int swish_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_real *x = node->inputs[0]->data;
    for (int64_t i = 0; i < node->out->numel; i++) node->out->data[i] = x[i] / (1 + exp(-x[i]));
    return 0;
}
/* dx += dy * (s + x s (1 - s)) */
static void swish_backward(tg_tape *t, tg_node *node)
{
    tg_real *dx = tg_input_grad(t, node, 0);
    if (!dx) return;
    const tg_real *x = node->inputs[0]->data, *dy = node->out->grad;
    for (int64_t i = 0; i < node->out->numel; i++) {
        const double s = 1 / (1 + exp(-x[i]));
        dx[i] += (tg_real)(dy[i] * (s + x[i] * s * (1 - s)));
    }
}
static const char *const swish_inputs[] = {"input"};
static const tg_op_desc swish_desc = {
    .name = "swish", .min_inputs = 1, .max_inputs = 1, .input_names = swish_inputs,
    .shape = swish_shape, .forward = swish_forward, .backward = swish_backward,
    .summary = "x * sigmoid(x) (user-defined in examples/custom_layer.c)"};

/* x:[N,C,*] weight:[C] -> y = x * weight[c]; dx = dy * weight[c], dweight[c] = sum dy * x */
static int64_t plane_size(const tg_tensor *x)
{
    int64_t n = 1;
    for (int i = 2; i < x->ndim; i++) n *= x->shape[i];
    return n;
}
static int scale_shape(tg_tape *t, tg_tensor *const *in, int n, void *attr, int *ndim, int64_t *shape)
{
    (void)n, (void)attr;
    if (in[0]->ndim < 2 || in[1]->ndim != 1 || in[1]->shape[0] != in[0]->shape[1]) {
        tg_fail(t, "scale: weight must hold one value per channel of x");
        return -1;
    }
    return swish_shape(t, in, 1, NULL, ndim, shape);
}
static int scale_forward(tg_tape *t, tg_node *node)
{
    (void)t;
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    const int64_t plane = plane_size(x), c = x->shape[1];
    for (int64_t i = 0; i < x->numel; i++) node->out->data[i] = x->data[i] * w->data[i / plane % c];
    return 0;
}
static void scale_backward(tg_tape *t, tg_node *node)
{
    const tg_tensor *x = node->inputs[0], *w = node->inputs[1];
    tg_real *dx = tg_input_grad(t, node, 0), *dw = tg_input_grad(t, node, 1);
    const tg_real *dy = node->out->grad;
    const int64_t plane = plane_size(x), c = x->shape[1];
    for (int64_t i = 0; i < x->numel; i++) {
        if (dx) dx[i] += dy[i] * w->data[i / plane % c];
        if (dw) dw[i / plane % c] += dy[i] * x->data[i];
    }
}
static const char *const scale_inputs[] = {"input", "weight"};
static const tg_op_desc scale_desc = {
    .name = "scale", .min_inputs = 2, .max_inputs = 2, .input_names = scale_inputs,
    .shape = scale_shape, .forward = scale_forward, .backward = scale_backward,
    .summary = "x * weight[c] (user-defined in examples/custom_layer.c)"};

int main(void)
{
    const int id = tg_op_register(&swish_desc);
    if (id < 0 || tg_op_register(&scale_desc) < 0) {
        fprintf(stderr, "could not register swish\n");
        return 1;
    }
    /* gradient check: analytic vs central differences. This example links the float32 library,
     * so it uses a larger step and tolerance than the double-precision default. */
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    tg_tensor *x = tg_tensor_newv(2, (int64_t)3, (int64_t)5);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (tg_real)(4 * tg_rng_uniform(&rng) - 2);
    x->requires_grad = true;
    tg_gradcheck_opts opts = tg_gradcheck_defaults();
    if (sizeof(tg_real) == sizeof(float)) opts.eps = 1e-2, opts.atol = 1e-3, opts.rtol = 1e-2;
    tg_gradcheck_report rep;
    const int bad = tg_gradcheck_op(id, NULL, &x, 1, &opts, &rep);
    printf("gradcheck swish: %s (worst abs err %.2g over %lld values)\n", bad ? "FAILED" : "passed",
           rep.inputs[0].abs_err, (long long)rep.inputs[0].n_checked);

    /* the op is now a layer like any other: by name from C, and in the model spec */
    char err[256];
    tg_model *m = tg_model_parse("input 1x8x8\nconv2d out=4 kernel=3\nswish\n", "inline", 7,
                                 err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* a layer of the user op with a parameter: named like the op's input, so it binds there */
    tg_module *scale = tg_op_layer("scale");
    tg_tensor *gain = tg_tensor_newv(1, (int64_t)4);
    tg_tensor_fill(gain, 0.5);
    if (!scale || tg_module_add_param(scale, "weight", gain, err, sizeof err)) {
        fprintf(stderr, "scale layer: %s\n", err);
        return 1;
    }
    tg_sequential_add(m->net, scale);
    tg_sequential_add(m->net, tg_op_layer("flatten"));
    tg_sequential_add(m->net, tg_linear_layer(4 * 6 * 6, 2, true, &rng));
    tg_tape *tape = tg_tape_new(0);
    tg_tensor *in = tg_tape_tensor(tape, TG_REAL, 4, (const int64_t[]){2, 1, 8, 8});
    for (int64_t i = 0; i < in->numel; i++) in->data[i] = (tg_real)tg_rng_normal(&rng);
    tg_tensor *y = tg_module_forward(m->net, tape, in);
    tg_tensor *loss = y ? tg_sum(tape, tg_mul(tape, y, y), TG_DIM_NONE, false) : NULL;
    if (!loss || tg_backward(loss) != TG_OK) {
        fprintf(stderr, "%s\n", tg_error(tape));
        return 1;
    }
    printf("model with swish and scale layers: loss %.4f, d(loss)/d(conv weight)[0] = %.4f, "
           "d(loss)/d(2.weight)[0] = %.4f\n", (double)loss->data[0], (double)tg_module_tensor(tg_module_child(m->net, 0), "weight")->grad[0],
           (double)gain->grad[0]);
    tg_tape_free(tape);
    tg_model_free(m);
    tg_tensor_free(x);
    return bad;
}
