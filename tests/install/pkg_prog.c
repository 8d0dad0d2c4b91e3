/* tests/install/pkg_prog.c — a user program built out of tree against an installed tapegrad
 * (tests/install_test.sh compiles it with `pkg-config --cflags --libs tapegrad` or tapegrad64).
 *
 * It checks what a broken install would get silently wrong: the precision the headers were
 * compiled with matches the library (tapegrad64.pc must add -DTG_REAL_DOUBLE), ops and backward
 * run through the library, and an error message comes back across it.
 *
 *   pkg_prog 32|64      prints "ok float32|float64 loss A -> B", exit 0; else a reason, exit 1
 */
#include <stdio.h>
#include <string.h>

#include <tapegrad.h>

enum { STEPS = 30, SAMPLES = 4, FEATURES = 3, CLASSES = 2 };

/* A value float keeps and double does not lose: 1 + TINY - 1 is 0 in float, TINY in double. */
#define TINY 1e-10

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "32") && strcmp(argv[1], "64"))) {
        fprintf(stderr, "usage: pkg_prog 32|64\n");
        return 1;
    }
    int want_bits = argv[1][0] == '6' ? 64 : 32;
    if ((int)sizeof(tg_real) * 8 != want_bits) {
        fprintf(stderr, "pkg_prog: tg_real has %d bits, expected %d\n", (int)sizeof(tg_real) * 8, want_bits);
        return 1;
    }

    tg_tape *tape = tg_tape_new(0);
    /* Precision through the library: sum([1, TINY]) - 1 computed by its kernels. Headers and
     * library of different precisions read each other's buffers as the wrong type. */
    tg_tensor *pair = tg_tensor_newv(1, (int64_t)2);
    pair->data[0] = 1;
    pair->data[1] = (tg_real)TINY;
    tg_tensor *s = tg_sum(tape, pair, TG_DIM_NONE, false);
    if (!s) { fprintf(stderr, "pkg_prog: sum failed: %s\n", tg_error(tape)); return 1; }
    double residue = (double)s->data[0] - 1.0;
    double want_residue = want_bits == 64 ? TINY : 0.0;
    if (residue < want_residue - 1e-15 || residue > want_residue + 1e-15) {
        fprintf(stderr, "pkg_prog: sum([1, 1e-10]) - 1 = %g, expected %g\n", residue, want_residue);
        return 1;
    }

    /* A few steps of softmax regression: the loss must fall. */
    tg_tensor *x = tg_tensor_newv(2, (int64_t)SAMPLES, (int64_t)FEATURES);
    tg_tensor *w = tg_tensor_newv(2, (int64_t)CLASSES, (int64_t)FEATURES);
    tg_tensor *b = tg_tensor_newv(1, (int64_t)CLASSES);
    tg_tensor *y = tg_tensor_new(TG_INT64, 1, (int64_t[]){SAMPLES});
    for (int i = 0; i < SAMPLES * FEATURES; i++) x->data[i] = (tg_real)((i % 5) - 2);
    for (int i = 0; i < SAMPLES; i++) y->idata[i] = i % CLASSES;
    w->requires_grad = b->requires_grad = true;
    double first = 0, last = 0;
    for (int step = 0; step < STEPS; step++) {
        tg_tape_reset(tape);
        tg_tensor *loss = tg_cross_entropy(tape, tg_linear(tape, x, w, b), y);
        if (!loss) { fprintf(stderr, "pkg_prog: %s\n", tg_error(tape)); return 1; }
        tg_tensor_zero_grad(w);
        tg_tensor_zero_grad(b);
        if (tg_backward(loss) != TG_OK) { fprintf(stderr, "pkg_prog: backward: %s\n", tg_error(tape)); return 1; }
        for (int i = 0; i < CLASSES * FEATURES; i++) w->data[i] -= (tg_real)0.5 * w->grad[i];
        for (int i = 0; i < CLASSES; i++) b->data[i] -= (tg_real)0.5 * b->grad[i];
        if (step == 0) first = (double)loss->data[0];
        last = (double)loss->data[0];
    }
    if (!(last < 0.5 * first)) {
        fprintf(stderr, "pkg_prog: loss went from %g to %g in %d steps\n", first, last, STEPS);
        return 1;
    }

    /* An error message from inside the library: a weight with 5 features for 3-feature input. */
    tg_tensor *wrong = tg_tensor_newv(2, (int64_t)CLASSES, (int64_t)(FEATURES + 2));
    tg_tape_reset(tape);
    if (tg_linear(tape, x, wrong, NULL) != NULL || !strstr(tg_error(tape), "linear")) {
        fprintf(stderr, "pkg_prog: mismatched linear gave no 'linear' error (got '%s')\n", tg_error(tape));
        return 1;
    }

    printf("ok float%d loss %.4f -> %.4f\n", want_bits, first, last);
    tg_tape_free(tape);
    tg_tensor_free(pair);
    tg_tensor_free(wrong);
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(b);
    tg_tensor_free(y);
    return 0;
}
