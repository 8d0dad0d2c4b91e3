/* examples/pool_routing.c — how pooling routes gradients (notes, Enrichment 7.11.3).
 *
 * The 4x4 input X goes through 2x2/2 max pooling and 2x2/2 average pooling; the upstream gradient
 * dL/dY = [[0.2, -0.3], [0.4, 0.1]] is sent back through each. Max pooling hands each window's
 * gradient to the position of its maximum (recorded in the forward pass, printed as the argmax
 * indices), average pooling spreads dY/4 over its window. Everything printed is computed by the
 * engine. The graph of both branches is written as DOT.
 *
 *   build/examples/pool_routing [graph.dot]     then: dot -Tsvg graph.dot -o graph.svg
 */
#include <stdio.h>

#include "../tapegrad.h"

static void print_matrix(const char *title, const tg_real *v, int rows, int cols)
{
    printf("%s\n", title);
    for (int r = 0; r < rows; r++) {
        printf("  [");
        for (int c = 0; c < cols; c++) printf("%s%7.3f", c ? " " : "", (double)v[r * cols + c]);
        printf(" ]\n");
    }
}

int main(int argc, char **argv)
{
    const char *dot_path = argc > 1 ? argv[1] : "pool_routing.dot";
    static const tg_real X[16] = {1, 3, 2, 1, 4, 2, 1, 5, 2, 0, 3, 1, 1, 5, 2, 2};
    static const tg_real dY[4] = {0.2f, -0.3f, 0.4f, 0.1f};

    tg_tape *tape = tg_tape_new(0);
    tg_tensor *x = tg_tensor_new(TG_REAL, 4, (int64_t[]){1, 1, 4, 4});
    if (!tape || !x) return 1;
    tg_tensor_set(x, X);
    tg_tensor_set_name(x, "X");
    x->requires_grad = true;
    print_matrix("X", x->data, 4, 4);
    print_matrix("upstream dL/dY", dY, 2, 2);

    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    const char *kinds[2] = {"max", "avg"};
    tg_tensor *outs[2];
    for (int k = 0; k < 2; k++) {
        tg_tensor *y = k == 0 ? tg_max_pool2d(tape, x, &a) : tg_avg_pool2d(tape, x, &a);
        if (!y) {
            fprintf(stderr, "%s\n", tg_error(tape));
            return 1;
        }
        tg_tensor_set_name(y, k == 0 ? "Y_max" : "Y_avg");
        outs[k] = y;
        char title[64];
        snprintf(title, sizeof title, "\n%s pooling 2x2/2: Y", kinds[k]);
        print_matrix(title, y->data, 2, 2);
        if (k == 0) {
            const int64_t *idx = tg_pool_indices(y);
            printf("argmax positions (row, col):");
            for (int i = 0; i < 4; i++) printf(" (%lld, %lld)", (long long)(idx[i] / 4), (long long)(idx[i] % 4));
            printf("\n");
        }
        /* each branch on its own: backward walks the whole tape, so clear X's gradient and the
         * gradients left on the earlier branch's output, then send dY back through this one */
        tg_tensor_zero_grad(x);
        for (int j = 0; j < k; j++) tg_tensor_zero_grad(outs[j]);
        if (tg_backward_with(y, dY) != TG_OK) {
            fprintf(stderr, "backward: %s\n", tg_error(tape));
            return 1;
        }
        snprintf(title, sizeof title, "%s pooling: dL/dX", kinds[k]);
        print_matrix(title, x->grad, 4, 4);
    }

    /* one DOT with both branches: a sum of the two outputs as the root */
    tg_tensor *both = tg_add(tape, outs[0], outs[1]);
    tg_tensor_set_name(both, "Y_max + Y_avg");
    if (tg_dot_write(tape, both, dot_path, NULL) == TG_OK) printf("\ngraph written to %s\n", dot_path);
    else fprintf(stderr, "could not write %s\n", dot_path);

    tg_tensor_free(x);
    tg_tape_free(tape);
    return 0;
}
