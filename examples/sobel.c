/* examples/sobel.c — edge detection with the notes' Sobel kernels through the engine's conv2d.
 *
 *   build/examples/sobel [IN.pgm] [OUT_DIR]
 *
 * Reads a grey-scale PGM (or draws a test image: a bright square and a disc on a gradient),
 * stacks Sobel_x = [1 0 -1; 2 0 -2; 1 0 -1] and Sobel_y = [1 2 1; 0 0 0; -1 -2 -1] as the two
 * output channels of one conv2d weight [2,1,3,3] (padding 1 keeps the size), and writes
 * Gx, Gy and |G| = sqrt(Gx^2 + Gy^2) as sobel_gx/gy/mag .pgm and .png into OUT_DIR (default .).
 * Gx and Gy are shown with 0 as mid-grey; |G| from black (0) to white (its maximum).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/image.h"
#include "../tapegrad.h"

static uint8_t *test_image(int w, int h)
{
    uint8_t *p = malloc((size_t)w * (size_t)h);
    for (int y = 0; p && y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = 40 + 60 * x / w;                                     /* soft horizontal ramp */
            if (x > w / 8 && x < w / 2 && y > h / 8 && y < h / 2) v = 220; /* square: straight edges */
            int dx = x - 2 * w / 3, dy = y - 2 * h / 3;
            if (dx * dx + dy * dy < (w / 6) * (w / 6)) v = 180;           /* disc: every orientation */
            p[y * w + x] = (uint8_t)v;
        }
    return p;
}

static int save(const char *dir, const char *name, const tg_real *plane, int w, int h, double lo, double hi)
{
    char path[1024];
    uint8_t *bytes = malloc((size_t)w * (size_t)h);
    if (!bytes) return 1;
    tg_image_from_real(plane, (size_t)w * (size_t)h, lo, hi, bytes);
    int bad = 0;
    snprintf(path, sizeof path, "%s/%s.pgm", dir, name);
    bad |= tg_pgm_write(path, bytes, w, h) != TG_OK;
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    bad |= tg_png_write_gray(path, bytes, w, h) != TG_OK;
    if (bad) fprintf(stderr, "sobel: cannot write %s\n", path);
    else printf("wrote %s/%s.pgm and .png\n", dir, name);
    free(bytes);
    return bad;
}

static double max_abs(const tg_tensor *t)
{
    double m = 0;
    for (int64_t i = 0; i < t->numel; i++) m = fabs(t->data[i]) > m ? fabs(t->data[i]) : m;
    return m > 0 ? m : 1;
}

int main(int argc, char **argv)
{
    const char *out_dir = argc > 2 ? argv[2] : ".";
    int w = 96, h = 96;
    uint8_t *pix = NULL;
    if (argc > 1 && strcmp(argv[1], "-") != 0) {
        tg_status st = tg_pgm_read(argv[1], &pix, &w, &h);
        if (st != TG_OK) {
            fprintf(stderr, "sobel: %s: %s\n", argv[1], tg_strerror(st));
            return 2;
        }
    } else {
        pix = test_image(w, h);
    }
    if (!pix) return 1;

    tg_tensor *x = tg_tensor_newv(4, (int64_t)1, (int64_t)1, (int64_t)h, (int64_t)w);
    tg_tensor *k = tg_tensor_newv(4, (int64_t)2, (int64_t)1, (int64_t)3, (int64_t)3);
    tg_tape *tape = tg_tape_new(0);
    if (!x || !k || !tape) return 1;
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = pix[i] / (tg_real)255;
    static const tg_real sobel[18] = {1, 0, -1, 2, 0, -2, 1, 0, -1,   /* Sobel_x: vertical edges */
                                      1, 2, 1, 0, 0, 0, -1, -2, -1};  /* Sobel_y: horizontal edges */
    tg_tensor_set(k, sobel);

    tg_conv_attr a;
    tg_attr_defaults(TG_OP_CONV2D, &a);
    a.padding = (tg_ints){1, {1}};
    tg_tensor *g = tg_conv2d(tape, x, k, NULL, &a);                  /* [1,2,h,w]: Gx, Gy */
    tg_tensor *gx = tg_slice(tape, g, 1, 0, 1, 1), *gy = tg_slice(tape, g, 1, 1, 2, 1);
    tg_tensor *mag = tg_sqrt(tape, tg_add(tape, tg_mul(tape, gx, gx), tg_mul(tape, gy, gy)));
    if (!mag) {
        fprintf(stderr, "sobel: %s\n", tg_error(tape));
        return 2;
    }
    double mx = max_abs(gx), my = max_abs(gy);
    printf("%dx%d image: max |Gx| = %.3f, max |Gy| = %.3f, max |G| = %.3f\n", w, h, mx, my, max_abs(mag));
    int bad = save(out_dir, "sobel_gx", gx->data, w, h, -mx, mx) | save(out_dir, "sobel_gy", gy->data, w, h, -my, my) |
              save(out_dir, "sobel_mag", mag->data, w, h, 0, max_abs(mag));
    tg_tape_free(tape);
    tg_tensor_free(x);
    tg_tensor_free(k);
    free(pix);
    return bad ? 1 : 0;
}
