/* examples/spiral.c — a custom model built from C: a two-layer MLP learns the 3-arm 2-D spiral.
 *
 * Shows the whole loop a newcomer needs: long-lived parameters, one tape reset per step, a
 * forward made of graph ops, tg_backward, a hand-written SGD update, the loss falling, and the
 * graph of one step written as DOT (render it with `dot -Tsvg spiral.dot -o spiral.svg`).
 *
 *   build/examples/spiral [steps] [out.dot]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tapegrad.h"

enum { CLASSES = 3, PER_CLASS = 100, N = CLASSES * PER_CLASS, HIDDEN = 64 };

/* Points on three interleaved spiral arms with a little noise; label = arm. */
static void make_spiral(tg_tensor *x, tg_tensor *y, tg_rng *rng)
{
    for (int c = 0; c < CLASSES; c++)
        for (int i = 0; i < PER_CLASS; i++) {
            int k = c * PER_CLASS + i;
            double r = (double)i / PER_CLASS;
            double theta = c * 4.0 + r * 4.0 + 0.2 * tg_rng_normal(rng);
            x->data[2 * k] = (tg_real)(r * sin(theta));
            x->data[2 * k + 1] = (tg_real)(r * cos(theta));
            y->idata[k] = c;
        }
}

/* PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
static tg_tensor *param(int64_t rows, int64_t cols, int64_t fan_in, tg_rng *rng, const char *name)
{
    int64_t shape[2] = {rows, cols};
    tg_tensor *p = tg_tensor_new(TG_REAL, cols ? 2 : 1, shape);
    if (!p) return NULL;
    double bound = 1.0 / sqrt((double)fan_in);
    for (int64_t i = 0; i < p->numel; i++) p->data[i] = (tg_real)(bound * (2 * tg_rng_uniform(rng) - 1));
    p->requires_grad = true;
    p->is_param = true;
    return tg_tensor_set_name(p, name);
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 2000;
    const char *dot_path = argc > 2 ? argv[2] : "spiral.dot";
    tg_rng rng;
    tg_rng_seed(&rng, 1);

    int64_t xs[2] = {N, 2}, ys[1] = {N};
    tg_tensor *x = tg_tensor_new(TG_REAL, 2, xs), *y = tg_tensor_new(TG_INT64, 1, ys);
    tg_tensor *w1 = param(HIDDEN, 2, 2, &rng, "fc1.weight"), *b1 = param(HIDDEN, 0, 2, &rng, "fc1.bias");
    tg_tensor *w2 = param(CLASSES, HIDDEN, HIDDEN, &rng, "fc2.weight");
    tg_tensor *b2 = param(CLASSES, 0, HIDDEN, &rng, "fc2.bias");
    tg_tape *tape = tg_tape_new(0);
    if (!x || !y || !w1 || !b1 || !w2 || !b2 || !tape) {
        fprintf(stderr, "spiral: out of memory\n");
        return 1;
    }
    tg_tensor_set_name(x, "points");
    make_spiral(x, y, &rng);
    tg_tensor *params[4] = {w1, b1, w2, b2};
    const double lr = 1.0;
    int status = 0;

    for (int step = 0; step <= steps; step++) {
        tg_tape_reset(tape);
        tg_tensor *logits = tg_linear(tape, tg_relu(tape, tg_linear(tape, x, w1, b1)), w2, b2);
        tg_tensor *loss = tg_cross_entropy(tape, logits, y);
        if (!loss) { /* one check for the whole forward: ops given NULL return NULL */
            fprintf(stderr, "spiral: %s\n", tg_error(tape));
            status = 1;
            break;
        }
        for (int p = 0; p < 4; p++) tg_tensor_zero_grad(params[p]);
        if (tg_backward(loss) != TG_OK) {
            fprintf(stderr, "spiral: backward: %s\n", tg_error(tape));
            status = 1;
            break;
        }
        for (int p = 0; p < 4; p++) /* plain SGD */
            for (int64_t i = 0; i < params[p]->numel; i++) params[p]->data[i] -= (tg_real)lr * params[p]->grad[i];

        if (step % (steps / 10 ? steps / 10 : 1) == 0 || step == steps) {
            int correct = 0;
            for (int k = 0; k < N; k++) {
                int best = 0;
                for (int c = 1; c < CLASSES; c++)
                    if (logits->data[k * CLASSES + c] > logits->data[k * CLASSES + best]) best = c;
                correct += best == y->idata[k];
            }
            printf("step %5d  loss %.4f  accuracy %.3f\n", step, (double)loss->data[0], (double)correct / N);
        }
        if (step == steps) {
            tg_dot_opts opts = {.backward_edges = false, .title = "spiral MLP: one training step"};
            if (tg_dot_write(tape, loss, dot_path, &opts) != TG_OK) {
                fprintf(stderr, "spiral: cannot write %s\n", dot_path);
                status = 1;
            } else {
                printf("graph written to %s (dot -Tsvg %s -o spiral.svg)\n", dot_path, dot_path);
            }
        }
    }
    tg_tape_free(tape);
    for (int p = 0; p < 4; p++) tg_tensor_free(params[p]);
    tg_tensor_free(x);
    tg_tensor_free(y);
    return status;
}
