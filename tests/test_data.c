/* tests/test_data.c — CRC-32, inflate (stored / fixed / dynamic blocks), gzip framing, IDX
 * validation, datasets, shuffled batches and augmentation. Vectors: tests/data/nn_* (made once by
 * tests/data/nn_make_gz.py with Python's zlib) plus hand-built streams below. */
#include "util.h"

#include <math.h>
#include <stdlib.h>

#include "../graph/npy.h"
#include "../nn/data.h"
#include "../nn/data_cache.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

START_TEST(crc32_check_value)
{
    ck_assert_uint_eq(tg_crc32(0, "123456789", 9), 0xCBF43926u); /* the standard check value */
    ck_assert_uint_eq(tg_crc32(tg_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    ck_assert_uint_eq(tg_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(inflate_hand_built)
{
    /* stored block (BFINAL=1, BTYPE=00): len 2, nlen ~2, "hi" */
    const uint8_t stored[] = {0x01, 0x02, 0x00, 0xfd, 0xff, 'h', 'i'};
    uint8_t *out;
    size_t n, used;
    char err[128];
    ck_assert_int_eq(tg_inflate(stored, sizeof stored, &out, &n, &used, err, sizeof err), TG_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(!memcmp(out, "hi", 2));
    ck_assert_uint_eq(used, 7);
    free(out);
    /* fixed block with "a" then a back-reference length 3 distance 1: "aaaa".
     * bits (LSB first): 1 (final), 01 (fixed) | 'a'=0x61 -> code 0x30+0x61=0x91 (8 bits, MSB
     * first) | sym 257 (len 3) = 0000001 (7 bits) | dist code 0 = 00000 | 256 = 0000000 */
    const uint8_t fixed[] = {0x4b, 0x04, 0x02, 0x00};
    ck_assert_int_eq(tg_inflate(fixed, sizeof fixed, &out, &n, NULL, err, sizeof err), TG_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert(!memcmp(out, "aaaa", 4));
    free(out);
    /* bad stored complement, block type 3, truncated, distance too far */
    const uint8_t bad_nlen[] = {0x01, 0x02, 0x00, 0xfd, 0xfe, 'h', 'i'};
    ck_assert_int_eq(tg_inflate(bad_nlen, sizeof bad_nlen, &out, &n, NULL, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "inflate: stored block length does not match its complement");
    const uint8_t type3[] = {0x07};
    ck_assert_int_eq(tg_inflate(type3, 1, &out, &n, NULL, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "inflate: invalid block type 3");
    ck_assert_int_eq(tg_inflate(fixed, 2, &out, &n, NULL, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "inflate: stream ends inside a block");
    const uint8_t far[] = {0x03, 0x02, 0x00}; /* fixed: first symbol is a length 3 back-ref */
    ck_assert_int_eq(tg_inflate(far, sizeof far, &out, &n, NULL, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "inflate: distance reaches before the start of the output");
}
END_TEST

START_TEST(gzip_all_block_types)
{
    char err[256];
    size_t gl, rl, n;
    uint8_t *out;
    /* stored (level 0) */
    uint8_t *g = tt_slurp("tests/data/nn_images_stored.gz", &gl), *raw = tt_slurp("tests/data/nn_images.idx", &rl);
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_OK);
    ck_assert_uint_eq(n, rl);
    ck_assert(!memcmp(out, raw, n));
    free(out), free(g), free(raw);
    /* fixed Huffman */
    g = tt_slurp("tests/data/nn_labels_fixed.gz", &gl), raw = tt_slurp("tests/data/nn_labels.idx", &rl);
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_OK);
    ck_assert_uint_eq(n, rl);
    ck_assert(!memcmp(out, raw, n));
    free(out), free(g), free(raw);
    /* dynamic Huffman, 3000 bytes */
    g = tt_slurp("tests/data/nn_text_dynamic.gz", &gl), raw = tt_slurp("tests/data/nn_text.txt", &rl);
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_OK);
    ck_assert_uint_eq(n, 3000);
    ck_assert(!memcmp(out, raw, n));
    free(out);
    /* a flipped bit in the compressed data or the CRC is caught */
    g[gl - 6] ^= 0x10; /* inside the stored CRC-32 */
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err, "gzip: CRC-32 mismatch") != NULL, "%s", err);
    g[gl - 6] ^= 0x10;
    g[gl - 2] ^= 1; /* ISIZE */
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err, "gzip: size mismatch") != NULL, "%s", err);
    g[gl - 2] ^= 1;
    ck_assert_int_eq(tg_gunzip(g, gl / 2, &out, &n, err, sizeof err), TG_ERR_FORMAT);
    g[0] = 0x1e;
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "gzip: bad magic 1e 8b");
    g[0] = 0x1f, g[2] = 7;
    ck_assert_int_eq(tg_gunzip(g, gl, &out, &n, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "gzip: compression method 7 is not deflate (8)");
    free(g), free(raw);
}
END_TEST

START_TEST(gzip_header_fields)
{
    /* FNAME "a" and FHCRC, stored "hi"; CRC-32("hi") = 0xd8932aac, ISIZE 2 */
    uint8_t g[40] = {0x1f, 0x8b, 8, 0x08 | 0x02, 0, 0, 0, 0, 0, 3, 'a', 0};
    size_t pos = 12;
    const uint32_t hcrc = tg_crc32(0, g, pos);
    g[pos++] = hcrc & 0xff, g[pos++] = (hcrc >> 8) & 0xff;
    const uint8_t body[] = {0x01, 0x02, 0x00, 0xfd, 0xff, 'h', 'i', 0xac, 0x2a, 0x93, 0xd8, 2, 0, 0, 0};
    memcpy(g + pos, body, sizeof body);
    pos += sizeof body;
    uint8_t *out;
    size_t n;
    char err[128];
    ck_assert_int_eq(tg_gunzip(g, pos, &out, &n, err, sizeof err), TG_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(!memcmp(out, "hi", 2));
    free(out);
    g[12] ^= 1;
    ck_assert_int_eq(tg_gunzip(g, pos, &out, &n, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "gzip: header CRC mismatch");
}
END_TEST

START_TEST(idx_validation)
{
    tg_idx idx;
    char err[200];
    const uint8_t ok[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(tg_idx_parse(ok, sizeof ok, &idx, err, sizeof err), TG_OK);
    ck_assert_int_eq(idx.ndim, 2);
    ck_assert(idx.dims[0] == 2 && idx.dims[1] == 3 && idx.data[5] == 6);
    tg_idx_free(&idx);
    uint8_t b[sizeof ok];
    memcpy(b, ok, sizeof ok), b[1] = 1;
    ck_assert_int_eq(tg_idx_parse(b, sizeof b, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: bad magic 00 01 (want 00 00)");
    memcpy(b, ok, sizeof ok), b[2] = 0x0d;
    ck_assert_int_eq(tg_idx_parse(b, sizeof b, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: element type 0x0d is not unsigned byte (0x08)");
    memcpy(b, ok, sizeof ok), b[3] = 0;
    ck_assert_int_eq(tg_idx_parse(b, sizeof b, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: 0 dimensions (1..4 supported)");
    ck_assert_int_eq(tg_idx_parse(ok, sizeof ok - 1, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: dimensions need 6 data bytes but the file has 5");
    ck_assert_int_eq(tg_idx_parse(ok, 9, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: file ends inside the 2 dimension sizes");
    memcpy(b, ok, sizeof ok), b[7] = 0;
    ck_assert_int_eq(tg_idx_parse(b, sizeof b, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: dimension 0 has size 0");
    ck_assert_int_eq(tg_idx_load("tests/data/no_such_file", &idx, err, sizeof err), TG_ERR_IO);
    ck_assert_str_eq(err, "tests/data/no_such_file: cannot open");
}
END_TEST

START_TEST(dataset_raw_and_gzip_and_batches)
{
    char err[256];
    tg_dataset *a, *g;
    ck_assert_int_eq(tg_dataset_load_idx("tests/data/nn_images.idx", "tests/data/nn_labels.idx", &a, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_dataset_load_idx("tests/data/nn_images_stored.gz", "tests/data/nn_labels_fixed.gz", &g, err, sizeof err), TG_OK);
    ck_assert(a->n == 5 && a->c == 1 && a->h == 3 && a->w == 4 && a->n_classes == 5);
    ck_assert(!memcmp(a->images, g->images, 60 * sizeof(float)));
    /* image 2 pixel (1,3) = 20 + 4 + 3 = 27 -> 27/255 */
    ck_assert_float_eq_tol(a->images[2 * 12 + 1 * 4 + 3], 27 / 255.0f, 1e-7);
    ck_assert_int_eq(a->labels[1], 3);
    tg_dataset_normalize(a, 0.5, 0.25);
    ck_assert_float_eq_tol(a->images[2 * 12 + 7], (27 / 255.0 - 0.5) / 0.25, 1e-6);
    /* batches of 2 without shuffling: 2, 2, 1 then the end */
    tg_batcher b;
    ck_assert_int_eq(tg_batcher_init(&b, g, 2, false, 1), TG_OK);
    tg_tensor *x = tt_track(tg_tensor_newv(4, (int64_t)2, (int64_t)1, (int64_t)3, (int64_t)4));
    tg_tensor *y = tt_track(tg_tensor_new(TG_INT64, 1, (const int64_t[]){2}));
    ck_assert_int_eq(tg_batcher_next(&b, x, y), 2);
    ck_assert_int_eq(tg_batcher_next(&b, x, y), 2);
    ck_assert(y->idata[0] == 2 && y->idata[1] == 1);
    ck_assert_double_eq_tol(x->data[12], 30 / 255.0, 1e-6); /* image 3, pixel 0 */
    ck_assert_int_eq(tg_batcher_next(&b, x, y), 1);
    ck_assert_int_eq(tg_batcher_next(&b, x, y), 0);
    tg_batcher_free(&b);
    /* shuffling: every sample once per epoch, same order for the same seed, others differ */
    int64_t seen[3][5];
    const uint64_t seeds[3] = {7, 7, 8};
    for (int r = 0; r < 3; r++) {
        tg_batcher_init(&b, g, 2, true, seeds[r]);
        int64_t k = 0, m;
        while ((m = tg_batcher_next(&b, x, y)) > 0)
            for (int64_t i = 0; i < m; i++) seen[r][k++] = y->idata[i];
        ck_assert_int_eq(k, 5);
        int mask = 0;
        for (int i = 0; i < 5; i++) mask |= 1 << seen[r][i];
        ck_assert_int_eq(mask, 31);
        tg_batcher_free(&b);
    }
    ck_assert(!memcmp(seen[0], seen[1], sizeof seen[0]));
    tg_dataset *bad;
    ck_assert_int_eq(tg_dataset_load_idx("tests/data/nn_images.idx", "tests/data/nn_images.idx", &bad, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_ptr_null(bad);
    ck_assert_str_eq(err, "tests/data/nn_images.idx: labels must have 1 dimension, not 3");
    tg_dataset_free(a);
    tg_dataset_free(g);
}
END_TEST

START_TEST(augmentation)
{
    /* one 1x2x3 image 1..6: flipping gives rows reversed left-right; crop shifts with zero fill */
    const uint8_t im[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
    const uint8_t lb[] = {0, 0, 8, 1, 0, 0, 0, 1, 9};
    write_file("build/nn_aug_images.idx", im, sizeof im);
    write_file("build/nn_aug_labels.idx", lb, sizeof lb);
    tg_dataset *d;
    char err[200];
    ck_assert_int_eq(tg_dataset_load_idx("build/nn_aug_images.idx", "build/nn_aug_labels.idx", &d, err, sizeof err), TG_OK);
    tg_dataset_normalize(d, 0, 1.0 / 255);
    tg_batcher b;
    tg_batcher_init(&b, d, 1, false, 3);
    b.augment.hflip = true;
    tg_tensor *x = tt_track(tg_tensor_newv(4, (int64_t)1, (int64_t)1, (int64_t)2, (int64_t)3));
    int flips = 0, plain = 0;
    for (int r = 0; r < 64; r++) {
        tg_batcher_reset(&b);
        tg_batcher_next(&b, x, NULL);
        const double flipped[6] = {3, 2, 1, 6, 5, 4};
        if (fabs(x->data[0] - 3) < 1e-3) {
            tt_assert_close(x->data, flipped, 6, 1e-3);
            flips++;
        } else {
            tt_assert_close(x->data, ((const double[]){1, 2, 3, 4, 5, 6}), 6, 1e-3);
            plain++;
        }
    }
    ck_assert_msg(flips > 10 && plain > 10, "flips %d plain %d", flips, plain);
    /* crop with padding 1: each output is the image shifted by dy,dx in [-1,1] with zeros */
    b.augment = (tg_augment){.crop_padding = 1};
    int shifted = 0;
    for (int r = 0; r < 64; r++) {
        tg_batcher_reset(&b);
        tg_batcher_next(&b, x, NULL);
        bool matched = false;
        for (int dy = -1; dy <= 1 && !matched; dy++)
            for (int dx = -1; dx <= 1 && !matched; dx++) {
                bool all = true;
                for (int yy = 0; yy < 2; yy++)
                    for (int xx = 0; xx < 3; xx++) {
                        const int sy = yy + dy, sx = xx + dx;
                        const double want = sy >= 0 && sy < 2 && sx >= 0 && sx < 3 ? 1 + sy * 3 + sx : 0;
                        all &= fabs(x->data[yy * 3 + xx] - want) < 1e-3;
                    }
                matched = all;
                shifted += all && (dx || dy);
            }
        ck_assert(matched);
    }
    ck_assert_int_gt(shifted, 30);
    tg_batcher_free(&b);
    tg_dataset_free(d);
}
END_TEST

START_TEST(fashion_mnist_if_installed)
{
    FILE *f = fopen("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "rb");
    if (!f) return; /* dataset-fashion-mnist not installed */
    fclose(f);
    tg_idx idx;
    char err[256];
    ck_assert_int_eq(tg_idx_load("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", &idx, err, sizeof err), TG_OK);
    ck_assert_int_eq(idx.ndim, 1);
    ck_assert_int_eq(idx.dims[0], 10000);
    int count[10] = {0};
    for (int i = 0; i < 10000; i++) count[idx.data[i] < 10 ? idx.data[i] : 0]++;
    for (int c = 0; c < 10; c++) ck_assert_int_eq(count[c], 1000); /* balanced test set */
    tg_idx_free(&idx);
}
END_TEST


/* Writes a real tensor of the given shape holding values[] (float64 file) and returns the path. */
static const char *save_real(const char *path, int ndim, const int64_t *shape, const double *values)
{
    char err[256];
    tg_tensor *t = tg_tensor_new(TG_REAL, ndim, shape);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (tg_real)values[i];
    ck_assert_msg(tg_npy_save(path, t, TG_NPY_F64, err, sizeof err) == TG_OK, "%s", err);
    tg_tensor_free(t);
    return path;
}
static const char *save_labels(const char *path, int64_t n, const int64_t *labels)
{
    char err[256];
    tg_tensor *t = tg_tensor_new(TG_INT64, 1, &n);
    memcpy(t->idata, labels, (size_t)n * sizeof *labels);
    ck_assert_msg(tg_npy_save(path, t, TG_NPY_I64, err, sizeof err) == TG_OK, "%s", err);
    tg_tensor_free(t);
    return path;
}

/* .npy pairs: [N,C,H,W], [N,H,W] and [N,F] inputs with int64 labels; every malformed pair is a
 * one-line error naming the file and shapes, and nothing is returned. */
START_TEST(npy_pairs)
{
    char err[256];
    const double v[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const int64_t labels[3] = {2, 0, 1}, bad_labels[3] = {0, -1, 1};
    tg_dataset *d = NULL;
    save_labels("build/nd_y.npy", 3, labels);
    save_real("build/nd_x4.npy", 4, (const int64_t[]){3, 1, 2, 2}, v);
    ck_assert_msg(tg_dataset_load_any("build/nd_x4.npy,build/nd_y.npy", true, &d, err, sizeof err) == TG_OK, "%s", err);
    int64_t shape[TG_DATASET_MAX_RANK];
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 3);
    ck_assert_int_eq(shape[0], 1);
    ck_assert_int_eq(shape[1], 2);
    ck_assert_int_eq(shape[2], 2);
    ck_assert_int_eq(d->n, 3);
    ck_assert_int_eq(d->n_classes, 3);
    ck_assert_float_eq(d->images[5], 6.0f); /* taken as given: no /255 */
    ck_assert_int_eq(d->labels[0], 2);
    tg_dataset_free(d);
    save_real("build/nd_x2.npy", 2, (const int64_t[]){3, 4}, v);
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_x2.npy", "build/nd_y.npy", &d, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 1);
    ck_assert_int_eq(shape[0], 4);
    ck_assert_int_eq(d->c, 4);
    ck_assert_int_eq(d->h * d->w, 1);
    tg_dataset_free(d);
    save_real("build/nd_x3.npy", 3, (const int64_t[]){3, 2, 2}, v);
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_x3.npy", "build/nd_y.npy", &d, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 3);
    ck_assert_int_eq(shape[0], 1);
    tg_dataset_free(d);
    /* a 6-dim array is none of them */
    save_real("build/nd_x6.npy", 6, (const int64_t[]){3, 1, 1, 2, 1, 2}, v);

    struct {
        const char *spec, *want;
    } bad[] = {
        {"build/nd_y.npy,build/nd_y.npy", "build/nd_y.npy: inputs must be float [N,C,D,H,W], [N,C,H,W], [N,H,W] or [N,F] with N >= 1, not int64 [3]"},
        {"build/nd_x2.npy,build/nd_x4.npy", "build/nd_x4.npy: labels must be int64 [N] (classes) or float [N] or [N,K] (targets), not float [3,1,2,2]"},
        {"build/nd_x2.npy,build/nd_ynan.npy", "build/nd_ynan.npy: target nan at index 1 is not finite"},
        {"build/nd_x1.npy,build/nd_y.npy", "build/nd_x1.npy: inputs must be float [N,C,D,H,W], [N,C,H,W], [N,H,W] or [N,F] with N >= 1, not [12]"},
        {"build/nd_x4.npy,build/nd_y2.npy", "build/nd_y2.npy: 2 labels for 3 inputs (x=[3,1,2,2] y=[2])"},
        {"build/nd_x4.npy,build/nd_yneg.npy", "build/nd_yneg.npy: label -1 at index 1 is outside 0..1000000"},
        {"build/nd_x4.npy,", "build/nd_x4.npy,: expected X.npy,y.npy (two file names and one comma) or a directory"},
        {"a,b,c", "a,b,c: expected X.npy,y.npy (two file names and one comma) or a directory"},
        {"build/nd_none.npy,build/nd_y.npy", "build/nd_none.npy"},
        {"build/nd_x6.npy,build/nd_y.npy", "build/nd_x6.npy: inputs must be float [N,C,D,H,W], [N,C,H,W], [N,H,W] or [N,F] with N >= 1, not [3,1,1,2,1,2]"},
    };
    save_real("build/nd_x1.npy", 1, (const int64_t[]){12}, v);
    save_real("build/nd_ynan.npy", 1, (const int64_t[]){3}, (const double[]){1, NAN, 2});
    save_labels("build/nd_y2.npy", 2, labels);
    save_labels("build/nd_yneg.npy", 3, bad_labels);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = (tg_dataset *)&err; /* must come back NULL */
        ck_assert_int_ne(tg_dataset_load_any(bad[i].spec, true, &d, err, sizeof err), TG_OK);
        ck_assert_ptr_null(d);
        ck_assert_msg(!strncmp(err, bad[i].want, strlen(bad[i].want)), "%s: got '%s'", bad[i].spec, err);
        ck_assert_ptr_null(strchr(err, '\n'));
    }
}
END_TEST

/* Samples fitted to a model's input: [N,C,L] arrays (read as one-channel C x L images) viewed as C
 * channels of L for a 1-D model, [N,C,D,H,W] volumes as they are, grayscale images and features
 * as before (leading 1s only: never a reshape that moves values), the channels behind the
 * per-channel statistics following the view; anything else refused, the set unchanged. */
START_TEST(npy_fit_to_model_input)
{
    char err[256];
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = i < 12 ? i : 100 + i; /* sample 1's values far from sample 0's */
    const int64_t labels[2] = {1, 0};
    save_labels("build/nd_fy.npy", 2, labels);
    tg_dataset *d = NULL;
    int64_t shape[TG_DATASET_MAX_RANK];
    /* [2,3,4]: one-channel 3x4 images until a 3x4 model takes it as 3 channels of 4 */
    save_real("build/nd_f3.npy", 3, (const int64_t[]){2, 3, 4}, v);
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_f3.npy", "build/nd_fy.npy", &d, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 3);
    ck_assert(!tg_dataset_fit_shape(d, (const int64_t[]){4, 3}, 2));    /* the values would move */
    ck_assert(!tg_dataset_fit_shape(d, (const int64_t[]){3, 5}, 2));
    ck_assert(!tg_dataset_fit_shape(d, (const int64_t[]){2, 3, 2}, 3));
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 3); /* refusals leave it as it was */
    ck_assert(tg_dataset_fit_shape(d, (const int64_t[]){1, 3, 4}, 3)); /* the grayscale model */
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 3);
    ck_assert(tg_dataset_fit_shape(d, (const int64_t[]){3, 4}, 2));
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 2);
    ck_assert_int_eq(shape[0], 3);
    ck_assert_int_eq(shape[1], 4);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h * d->w, 4);
    tg_norm_stats st = {0};
    ck_assert_int_eq(tg_norm_stats_compute(d, &st), TG_OK);
    ck_assert_int_eq(st.n, 3); /* channel 1 = values 4..7 and 116..119: mean 61.5 */
    ck_assert_double_eq_tol(st.mean[1], (4 + 5 + 6 + 7 + 116 + 117 + 118 + 119) / 8.0, 1e-9);
    tg_norm_stats_free(&st);
    tg_dataset_free(d);
    /* [2,2,1,3,2]: volumes C x D x H x W, kept as such; per-channel planes of D*H*W */
    save_real("build/nd_f5.npy", 5, (const int64_t[]){2, 2, 1, 3, 2}, v);
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_f5.npy", "build/nd_fy.npy", &d, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 4);
    ck_assert_int_eq(shape[0], 2);
    ck_assert_int_eq(shape[1], 1);
    ck_assert_int_eq(shape[2], 3);
    ck_assert_int_eq(shape[3], 2);
    ck_assert_int_eq(d->c, 2);
    ck_assert_int_eq(d->h * d->w, 6);
    ck_assert(!tg_dataset_fit_shape(d, (const int64_t[]){2, 3, 2}, 3)); /* D = 1 is not a leading 1 */
    ck_assert(tg_dataset_fit_shape(d, (const int64_t[]){2, 1, 3, 2}, 4));
    tg_dataset_free(d);
    /* features [2,12] fit a 12-feature input and a one-channel 1-D input of 12, not 2x6 */
    save_real("build/nd_f2.npy", 2, (const int64_t[]){2, 12}, v);
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_f2.npy", "build/nd_fy.npy", &d, err, sizeof err), TG_OK);
    ck_assert(tg_dataset_fit_shape(d, (const int64_t[]){12}, 1));
    ck_assert(!tg_dataset_fit_shape(d, (const int64_t[]){2, 6}, 2));
    ck_assert(tg_dataset_fit_shape(d, (const int64_t[]){1, 12}, 2));
    ck_assert_int_eq(tg_dataset_sample_shape(d, shape), 2);
    ck_assert_int_eq(d->c, 1);
    tg_dataset_free(d);
}
END_TEST

/* A seeded split moves round(f*N) samples out, keeps both sides in file order and loses none. */
START_TEST(split_keeps_every_sample)
{
    char err[256];
    double v[20];
    int64_t labels[10];
    for (int i = 0; i < 10; i++) v[2 * i] = i, v[2 * i + 1] = 100 + i, labels[i] = i;
    save_real("build/nd_sx.npy", 2, (const int64_t[]){10, 2}, v);
    save_labels("build/nd_sy.npy", 10, labels);
    tg_dataset *d, *held;
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_sx.npy", "build/nd_sy.npy", &d, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_dataset_split(d, 0.3, 5, &held, err, sizeof err), TG_OK);
    ck_assert_int_eq(d->n, 7);
    ck_assert_int_eq(held->n, 3);
    int seen[10] = {0};
    for (int side = 0; side < 2; side++) {
        const tg_dataset *p = side ? held : d;
        for (int64_t i = 0; i < p->n; i++) {
            const int64_t l = p->labels[i];
            seen[l]++;
            ck_assert_float_eq(p->images[2 * i], (float)l); /* images travel with their labels */
            ck_assert_float_eq(p->images[2 * i + 1], (float)(100 + l));
            if (i) ck_assert_int_gt(l, p->labels[i - 1]);
        }
    }
    for (int i = 0; i < 10; i++) ck_assert_int_eq(seen[i], 1);
    tg_dataset_free(held);
    ck_assert_int_eq(tg_dataset_split(d, 0.01, 5, &held, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "split: a fraction of 0.01 of 7 samples leaves one side empty");
    ck_assert_ptr_null(held);
    ck_assert_int_eq(d->n, 7);
    tg_dataset_free(d);
}
END_TEST

/* Per-channel statistics, hand-computed: channel 0 holds 1,3,5,7 (mean 4, population std
 * sqrt(5)), channel 1 is constant 2 (std taken as 1, so it maps to 0). */
START_TEST(per_channel_statistics)
{
    char err[256];
    const double v[8] = {1, 3, 2, 2, 5, 7, 2, 2}; /* [2 samples, 2 channels, 1x2] */
    const int64_t labels[2] = {0, 1};
    save_real("build/nd_cx.npy", 4, (const int64_t[]){2, 2, 1, 2}, v);
    save_labels("build/nd_cy.npy", 2, labels);
    tg_dataset *d;
    ck_assert_int_eq(tg_dataset_load_npy("build/nd_cx.npy", "build/nd_cy.npy", &d, err, sizeof err), TG_OK);
    tg_norm_stats s;
    ck_assert_int_eq(tg_norm_stats_compute(d, &s), TG_OK);
    ck_assert_int_eq(s.n, 2);
    ck_assert_double_eq_tol(s.mean[0], 4, 1e-12);
    ck_assert_double_eq_tol(s.std[0], sqrt(5.0), 1e-12);
    ck_assert_double_eq_tol(s.mean[1], 2, 1e-12);
    ck_assert_double_eq(s.std[1], 1);
    ck_assert_int_eq(tg_dataset_normalize_stats(d, &s), TG_OK);
    ck_assert_float_eq_tol(d->images[0], (float)(-3 / sqrt(5.0)), 1e-6);
    ck_assert_float_eq_tol(d->images[5], (float)(3 / sqrt(5.0)), 1e-6);
    ck_assert_float_eq(d->images[2], 0.0f);
    /* the same on a tensor (what prediction does) */
    tg_real x[4] = {7, 1, 2, 9};
    tg_norm_stats_apply(&s, x, 1, 4);
    ck_assert_double_eq_tol((double)x[0], 3 / sqrt(5.0), 1e-6);
    ck_assert_double_eq_tol((double)x[3], 7, 1e-6);
    tg_norm_stats one;
    ck_assert_int_eq(tg_norm_stats_alloc(&one, 1), TG_OK);
    ck_assert_int_eq(tg_dataset_normalize_stats(d, &one), TG_ERR_INVALID);
    tg_norm_stats_free(&one);
    tg_norm_stats_free(&s);
    tg_dataset_free(d);
}
END_TEST

/* ---- the decoded-data cache (nn/data_cache.h) ---- */

static void copy_file(const char *from, const char *to)
{
    uint8_t *bytes;
    size_t len;
    char err[256];
    ck_assert_int_eq(tg_read_file(from, 0, &bytes, &len, err, sizeof err), TG_OK);
    FILE *f = fopen(to, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    free(bytes);
}

static size_t file_bytes(const char *path, uint8_t **bytes)
{
    size_t len = 0;
    char err[256];
    if (tg_read_file(path, 0, bytes, &len, err, sizeof err) != TG_OK) *bytes = NULL;
    return len;
}

static void write_bytes(const char *path, const uint8_t *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* Loads src and compares with the reference IDX; the entry must exist and be valid afterwards. */
static void load_matches(const char *src, const tg_idx *want, const char *entry, const char *why)
{
    tg_idx got;
    char err[256];
    ck_assert_msg(tg_idx_load(src, &got, err, sizeof err) == TG_OK, "%s: %s", why, err);
    ck_assert_int_eq(got.ndim, want->ndim);
    ck_assert_msg(!memcmp(got.data, want->data, (size_t)(want->dims[0] * want->dims[1] * want->dims[2])),
                  "%s: the data differ", why);
    tg_idx_free(&got);
    struct stat sb;
    ck_assert_msg(stat(entry, &sb) == 0 && sb.st_size > 56, "%s: no cache entry", why);
}

START_TEST(decoded_cache_used_checked_and_rebuilt)
{
    char dir[] = "/tmp/tg_cache_test_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cache[300], src[300], entry[PATH_MAX + 96], err[256];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(src, sizeof src, "%s/images.gz", dir);
    setenv("TG_DATA_CACHE_DIR", cache, 1);
    unsetenv("TG_DATA_CACHE");
    copy_file("tests/data/nn_images_stored.gz", src);
    tg_idx want;
    ck_assert_int_eq(tg_idx_load("tests/data/nn_images.idx", &want, err, sizeof err), TG_OK);
    const size_t data_len = (size_t)(want.dims[0] * want.dims[1] * want.dims[2]);
    ck_assert_int_eq(tg_data_cache_path(src, entry, sizeof entry), 0);
    ck_assert_str_eq(strstr(entry, cache) ? "in dir" : entry, "in dir");

    /* first load writes the entry, which holds the decoded file: header, path, payload */
    load_matches(src, &want, entry, "first load");
    uint8_t *e;
    size_t elen = file_bytes(entry, &e);
    const size_t payload = elen - data_len - 4 - 4 * (size_t)want.ndim; /* where the IDX bytes start */
    ck_assert_int_eq(e[payload + 2], 0x08);
    ck_assert_int_eq(e[payload + 3], want.ndim);

    /* a valid entry is used: change a pixel and its checksum, and the load returns the change */
    uint8_t *forged = malloc(elen);
    memcpy(forged, e, elen);
    forged[elen - 1] ^= 0x5a;
    uint64_t sum = tg_data_cache_checksum(forged + payload, elen - payload);
    memcpy(forged + 40, &sum, 8); /* the header's checksum field */
    write_bytes(entry, forged, elen);
    tg_idx got;
    ck_assert_int_eq(tg_idx_load(src, &got, err, sizeof err), TG_OK);
    ck_assert_int_eq(got.data[data_len - 1], want.data[data_len - 1] ^ 0x5a);
    tg_idx_free(&got);

    /* a flipped payload byte (checksum not updated): ignored, the entry rebuilt */
    memcpy(forged, e, elen);
    forged[elen - 1] ^= 0x01;
    write_bytes(entry, forged, elen);
    load_matches(src, &want, entry, "corrupt payload");
    uint8_t *again;
    ck_assert_uint_eq(file_bytes(entry, &again), elen);
    ck_assert(!memcmp(again, e, elen)); /* rewritten as it was */
    free(again);

    /* every header field and the length are checked: each change is ignored and rebuilt */
    const size_t fields[] = {0, 7, 8, 16, 24, 32, 40, 48, 52, 56};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        memcpy(forged, e, elen);
        forged[fields[k]] ^= 0x10;
        write_bytes(entry, forged, elen);
        load_matches(src, &want, entry, "corrupt header");
        ck_assert_uint_eq(file_bytes(entry, &again), elen);
        ck_assert_msg(!memcmp(again, e, elen), "header byte %zu: not rebuilt", fields[k]);
        free(again);
    }
    write_bytes(entry, e, elen - 3); /* truncated */
    load_matches(src, &want, entry, "truncated");
    write_bytes(entry, e, 20); /* shorter than a header */
    load_matches(src, &want, entry, "short");
    memcpy(forged, e, elen);
    write_bytes(entry, forged, elen);
    FILE *f = fopen(entry, "ab");
    fputc(0, f); /* one byte too many */
    fclose(f);
    load_matches(src, &want, entry, "long");
    ck_assert_uint_eq(file_bytes(entry, &again), elen);
    free(again);

    /* stale: the source changes (new mtime): the entry is rebuilt with the new stamp */
    struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 0}, {.tv_sec = 1000000000, .tv_nsec = 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, src, times, 0), 0);
    load_matches(src, &want, entry, "stale");
    ck_assert_uint_eq(file_bytes(entry, &again), elen);
    int64_t stamp;
    memcpy(&stamp, again + 16, 8);
    ck_assert_int_eq(stamp, 1000000000);
    free(again);

    /* off: nothing read or written */
    remove(entry);
    setenv("TG_DATA_CACHE", "0", 1);
    ck_assert_int_eq(tg_data_cache_path(src, entry, sizeof entry), -1);
    ck_assert_int_eq(tg_idx_load(src, &got, err, sizeof err), TG_OK);
    tg_idx_free(&got);
    unsetenv("TG_DATA_CACHE");
    ck_assert_int_eq(tg_data_cache_path(src, entry, sizeof entry), 0);
    struct stat sb;
    ck_assert_int_ne(stat(entry, &sb), 0);

    /* a raw (not gzip) IDX file is not cached */
    char raw[300], raw_entry[PATH_MAX + 96];
    snprintf(raw, sizeof raw, "%s/images.idx", dir);
    copy_file("tests/data/nn_images.idx", raw);
    ck_assert_int_eq(tg_idx_load(raw, &got, err, sizeof err), TG_OK);
    tg_idx_free(&got);
    ck_assert_int_eq(tg_data_cache_path(raw, raw_entry, sizeof raw_entry), 0);
    ck_assert_int_ne(stat(raw_entry, &sb), 0);

    free(e), free(forged);
    tg_idx_free(&want);
    remove(raw), remove(src), remove(entry), rmdir(cache), rmdir(dir);
    unsetenv("TG_DATA_CACHE_DIR");
}
END_TEST

START_TEST(decoded_cache_checksum_sees_every_byte)
{
    uint8_t buf[77];
    for (int i = 0; i < 77; i++) buf[i] = (uint8_t)(i * 37);
    const uint64_t base = tg_data_cache_checksum(buf, sizeof buf);
    ck_assert(tg_data_cache_checksum(buf, sizeof buf - 1) != base); /* the length counts */
    for (int i = 0; i < 77; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1 << bit);
            ck_assert_msg(tg_data_cache_checksum(buf, sizeof buf) != base, "byte %d bit %d unseen", i, bit);
            buf[i] ^= (uint8_t)(1 << bit);
        }
}
END_TEST

Suite *suite_data(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tt_tcase("data");
    tcase_add_test(tc, crc32_check_value);
    tcase_add_test(tc, inflate_hand_built);
    tcase_add_test(tc, gzip_all_block_types);
    tcase_add_test(tc, gzip_header_fields);
    tcase_add_test(tc, idx_validation);
    tcase_add_test(tc, dataset_raw_and_gzip_and_batches);
    tcase_add_test(tc, augmentation);
    tcase_add_test(tc, fashion_mnist_if_installed);
    tcase_add_test(tc, npy_pairs);
    tcase_add_test(tc, npy_fit_to_model_input);
    tcase_add_test(tc, split_keeps_every_sample);
    tcase_add_test(tc, per_channel_statistics);
    tcase_add_test(tc, decoded_cache_used_checked_and_rebuilt);
    tcase_add_test(tc, decoded_cache_checksum_sees_every_byte);
    suite_add_tcase(s, tc);
    return s;
}
