/* tests/test_own_data.c — the loaders of a user's own data: CSV (fields, quotes, headers, label
 * columns, every malformed file as a one-line file:line:column error), float regression targets,
 * the PNG decoder (tests/data/png: every colour type and bit depth from a hand encoder and from
 * PIL, made by tests/data/png/make_png.py, with the pixels each must give; malformed files built
 * here), the image-to-input conversion against PyTorch's bilinear resize, and image folders. */
#include "util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../graph/npy.h"
#include "../nn/data.h"
#include "../nn/image.h"

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Parses CSV text (expecting success) with the given label column and kind. */
static tg_dataset *csv_ok(const char *text, const char *label, bool targets)
{
    char err[512];
    tg_dataset *d = NULL;
    ck_assert_msg(tg_dataset_parse_csv(text, strlen(text), "t.csv", label, targets, &d, err, sizeof err) == TG_OK,
                  "'%s': %s", text, err);
    return d;
}

/* A header with a quoted name (comma and doubled quotes inside), CRLF line ends, blank lines,
 * spaces around fields, the label by name, by index and by default (the last column). */
START_TEST(csv_reads_fields_and_labels)
{
    const char *text = "a, \"b, \"\"the second\"\"\" ,label\r\n"
                       "1.5, -2, 0\r\n"
                       "\r\n"
                       " 3e2 ,4,2\r\n"
                       "\n"
                       "-0.25,\"7\",1"; /* no line end at the end, a quoted number */
    tg_dataset *d = csv_ok(text, "label", false);
    ck_assert_int_eq(d->n, 3);
    ck_assert_int_eq(d->c, 2);
    ck_assert_int_eq(d->sample_ndim, 1);
    ck_assert_int_eq(d->n_classes, 3);
    ck_assert_ptr_null(d->targets);
    const float want[6] = {1.5f, -2, 300, 4, -0.25f, 7};
    for (int i = 0; i < 6; i++) ck_assert_float_eq(d->images[i], want[i]);
    ck_assert_int_eq(d->labels[0], 0);
    ck_assert_int_eq(d->labels[1], 2);
    ck_assert_int_eq(d->labels[2], 1);
    tg_dataset_free(d);
    /* the quoted name, undone: label by that name takes the middle column */
    d = csv_ok(text, "b, \"the second\"", true);
    ck_assert_int_eq(d->n_targets, 1);
    ck_assert_ptr_null(d->labels);
    ck_assert_float_eq(d->targets[0], -2);
    ck_assert_float_eq(d->targets[2], 7);
    ck_assert_float_eq(d->images[1], 0); /* features a, label */
    ck_assert_float_eq(d->images[2], 300);
    tg_dataset_free(d);
    /* no header: label by 0-based index, or the last column by default */
    d = csv_ok("4,5,6\n7,8,9\n", "0", true);
    ck_assert_int_eq(d->n, 2);
    ck_assert_float_eq(d->targets[1], 7);
    ck_assert_float_eq(d->images[0], 5);
    ck_assert_float_eq(d->images[3], 9);
    tg_dataset_free(d);
    d = csv_ok("4,5,6\n7,8,9\n", NULL, true);
    ck_assert_float_eq(d->targets[0], 6);
    ck_assert_float_eq(d->images[3], 8);
    tg_dataset_free(d);
    /* an index when the header has no such name; an integral float label is a class */
    d = csv_ok("x,y\n1,2.0\n", "1", false);
    ck_assert_int_eq(d->labels[0], 2);
    tg_dataset_free(d);
}
END_TEST

/* Every malformed file: a one-line error naming file:line[:column] and the bad text; nothing returned. */
START_TEST(csv_refuses_malformed_files)
{
    struct {
        const char *text, *label;
        bool targets;
        const char *want;
    } bad[] = {
        {"", NULL, false, "t.csv: empty file (no rows)"},
        {"\n\n  \n", NULL, false, "t.csv: empty file (no rows)"},
        {"a,b\n", NULL, false, "t.csv: no data rows after the header"},
        {"a,b\n1,2\n3\n", NULL, false, "t.csv:3: 1 fields, but the first row has 2"},
        {"a,b\n1,2\n3,4,5\n", NULL, false, "t.csv:3: more fields than the 2 of the first row"},
        {"a,b\n1,x\n", NULL, true, "t.csv:2:2 (b): label 'x' is not a number"},
        {"a,b\nfoo,1\n", NULL, false, "t.csv:2:1 (a): 'foo' is not a number"},
        {"1,2\n3,nan\n", NULL, true, "t.csv:2:2: label 'nan' is NaN or Inf text, not accepted"},
        {"1,2\n-Infinity,3\n", NULL, true, "t.csv:2:1: '-Infinity' is NaN or Inf text, not accepted"},
        {"1,2\n1e999,3\n", NULL, true, "t.csv:2:1: '1e999' is out of the range of a double"},
        {"1,2\n3,-1e39\n", NULL, true, "t.csv:2:2: label '-1e39' is out of the range of a float (the values are stored as float32)"},
        {"1,2\n0x10,3\n", NULL, true, "t.csv:2:1: '0x10' is not a number"},
        {"1,2\n,3\n", NULL, true, "t.csv:2:1: '' is empty, not a number"},
        {"a,1\n2,3\n", NULL, false, "t.csv:1: the first row mixes names and numbers (column 1 'a' is text, column 2 '1' a number)"},
        {"a,b\n1,2\n", "c", false, "t.csv: no column named 'c' (the header has: 'a', 'b')"},
        {"1,2\n", "c", false, "t.csv: the file has no header, so the label column must be an index, not 'c'"},
        {"1,2\n", "2", false, "t.csv: label column 2 is past the 2 columns (indices count from 0)"},
        {"a\n1\n", NULL, false, "t.csv: 1 column: needs the label and at least one feature column"},
        {"a,b\n1,1.5\n", NULL, false, "t.csv:2:2 (b): label '1.5' is not a class index (an integer 0..1000000)"},
        {"a,b\n1,-1\n", NULL, false, "t.csv:2:2 (b): label '-1' is not a class index"},
        {"a,b\n1,\"2\n", NULL, false, "t.csv:3: a quoted field is not closed"},
        {"a,b\n1,\"2\"x\n", NULL, false, "t.csv:2: text after a closing quote"},
        {"a,b\n1,2\x01\n", NULL, true, "t.csv:2:2 (b): label '2\\x01' is not a number"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tg_dataset *d = (tg_dataset *)&err; /* must come back NULL */
        ck_assert_int_ne(tg_dataset_parse_csv(bad[i].text, strlen(bad[i].text), "t.csv", bad[i].label, bad[i].targets, &d,
                                              err, sizeof err), TG_OK);
        ck_assert_ptr_null(d);
        ck_assert_msg(!strncmp(err, bad[i].want, strlen(bad[i].want)), "case %zu: got '%s', want '%s'", i, err, bad[i].want);
        ck_assert_ptr_null(strchr(err, '\n'));
    }
    /* a NUL inside a field is bad text, not the end of it */
    tg_dataset *d = NULL;
    ck_assert_int_eq(tg_dataset_parse_csv("1,2\n3,4\0" "5\n", 10, "t.csv", NULL, true, &d, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err, "t.csv:2:2: label '4\\x005' is not a number"), "%s", err);
    /* too many columns: stopped at the limit, before reading on */
    const size_t n = 2 * (TG_CSV_MAX_COLUMNS + 1);
    char *wide = malloc(n + 1);
    for (size_t i = 0; i < n; i += 2) wide[i] = '1', wide[i + 1] = ',';
    wide[n - 1] = '\n', wide[n] = 0;
    ck_assert_int_eq(tg_dataset_parse_csv(wide, n, "t.csv", NULL, true, &d, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "t.csv:1: more than 65536 columns");
    free(wide);
    /* through a file: the path names it */
    write_text("build/od_bad.csv", "x,y\n1,2\n3,zz\n");
    ck_assert_int_eq(tg_dataset_load_csv("build/od_bad.csv", "y", true, &d, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "build/od_bad.csv:3:2 (y): label 'zz' is not a number");
    ck_assert_int_eq(tg_dataset_load_csv("build/od_none.csv", "y", true, &d, err, sizeof err), TG_ERR_IO);
    /* tg_dataset_load_spec tells a .csv by its name */
    tg_data_options o = {.label_col = "y", .float_targets = true};
    write_text("build/od_ok.CSV", "x,y\n1,2\n3,4\n");
    ck_assert_int_eq(tg_data_source_of("build/od_ok.CSV"), TG_DATA_CSV);
    ck_assert_msg(tg_dataset_load_spec("build/od_ok.CSV", &o, true, &d, err, sizeof err) == TG_OK, "%s", err);
    ck_assert_float_eq(d->targets[1], 4);
    tg_dataset_free(d);
}
END_TEST

/* Float y.npy: [N] and [N,K] targets, kept through a split and given to the batcher as real y. */
START_TEST(npy_float_targets)
{
    char err[256];
    tg_tensor *x = tg_tensor_newv(2, (int64_t)6, (int64_t)2), *y = tg_tensor_newv(2, (int64_t)6, (int64_t)3);
    for (int i = 0; i < 12; i++) x->data[i] = (tg_real)i;
    for (int i = 0; i < 18; i++) y->data[i] = (tg_real)(100 + i);
    ck_assert(tg_npy_save("build/od_x.npy", x, TG_NPY_F32, err, sizeof err) == TG_OK);
    ck_assert(tg_npy_save("build/od_y.npy", y, TG_NPY_F64, err, sizeof err) == TG_OK);
    tg_tensor_free(x), tg_tensor_free(y);
    tg_dataset *d = NULL, *held = NULL;
    ck_assert_msg(tg_dataset_load_any("build/od_x.npy,build/od_y.npy", true, &d, err, sizeof err) == TG_OK, "%s", err);
    ck_assert_ptr_null(d->labels);
    ck_assert_int_eq(d->n_targets, 3);
    ck_assert_int_eq(d->n_classes, 0);
    ck_assert_int_eq(tg_dataset_split(d, 0.5, 3, &held, err, sizeof err), TG_OK);
    ck_assert_int_eq(d->n + held->n, 6);
    /* each sample keeps its own targets: sample i has x = 2i, 2i+1 and y = 100 + 3i .. */
    for (const tg_dataset *s = d; s; s = s == d ? held : NULL)
        for (int64_t i = 0; i < s->n; i++) {
            const int k = (int)s->images[2 * i] / 2;
            for (int j = 0; j < 3; j++) ck_assert_float_eq(s->targets[3 * i + j], (float)(100 + 3 * k + j));
        }
    tg_batcher b;
    ck_assert_int_eq(tg_batcher_init(&b, d, 2, false, 1), TG_OK);
    tg_tensor *xb = tt_track(tg_tensor_newv(2, (int64_t)2, (int64_t)2)), *yb = tt_track(tg_tensor_newv(2, (int64_t)2, (int64_t)3));
    ck_assert_int_eq(tg_batcher_next(&b, xb, yb), 2);
    const int k1 = (int)xb->data[2] / 2;
    ck_assert_double_eq((double)yb->data[3], 100 + 3 * k1);
    ck_assert_double_eq((double)yb->data[5], 102 + 3 * k1);
    /* an int64 y buffer is left alone (the set has no labels) */
    tg_tensor *yl = tt_labels(2, (int64_t[]){-7, -7});
    tg_batcher_reset(&b);
    ck_assert_int_eq(tg_batcher_next(&b, xb, yl), 2);
    ck_assert_int_eq(yl->idata[0], -7);
    tg_batcher_free(&b);
    tg_dataset_free(d), tg_dataset_free(held);
}
END_TEST

/* ---- PNG ---- */

/* Every colour type and bit depth of the hand encoder (rows through all five filters, several
 * IDATs, an ancillary chunk) and PIL's files decode to the pixels the generator wrote down. */
START_TEST(png_decodes_every_kind)
{
    static const struct {
        const char *name;
        int w, h, channels;
    } files[] = {{"c0_d1", 7, 5, 1}, {"c0_d2", 7, 5, 1}, {"c0_d4", 7, 5, 1}, {"c0_d8", 7, 5, 1}, {"c0_d16", 7, 5, 1},
                 {"c2_d8", 7, 5, 3}, {"c2_d16", 7, 5, 3}, {"c3_d1", 7, 5, 3}, {"c3_d2", 7, 5, 3}, {"c3_d4", 7, 5, 3},
                 {"c3_d8", 7, 5, 3}, {"c4_d8", 7, 5, 1}, {"c4_d16", 7, 5, 1}, {"c6_d8", 7, 5, 3}, {"c6_d16", 7, 5, 3},
                 {"pil_l", 9, 6, 1}, {"pil_rgb", 9, 6, 3}, {"pil_rgba", 9, 6, 3}, {"pil_p", 9, 6, 3}};
    char path[256], err[256];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        tg_image im;
        snprintf(path, sizeof path, "tests/data/png/%s.png", files[i].name);
        ck_assert_msg(tg_image_load(path, &im, err, sizeof err) == TG_OK, "%s", err);
        ck_assert_int_eq(im.width, files[i].w);
        ck_assert_int_eq(im.height, files[i].h);
        ck_assert_int_eq(im.channels, files[i].channels);
        size_t len;
        snprintf(path, sizeof path, "tests/data/png/%s.u8", files[i].name);
        uint8_t *want = tt_slurp(path, &len);
        ck_assert_uint_eq(len, (size_t)im.width * im.height * im.channels);
        for (size_t k = 0; k < len; k++)
            ck_assert_msg(im.pixels[k] == want[k], "%s: byte %zu is %d, want %d", files[i].name, k, im.pixels[k], want[k]);
        free(want);
        tg_image_free(&im);
    }
    /* the writer's files read back (stored deflate blocks) */
    uint8_t pix[6] = {0, 50, 100, 150, 200, 255};
    ck_assert_int_eq(tg_png_write_gray("build/od_w.png", pix, 3, 2), TG_OK);
    tg_image im;
    ck_assert_int_eq(tg_image_load("build/od_w.png", &im, err, sizeof err), TG_OK);
    ck_assert_int_eq(memcmp(im.pixels, pix, 6), 0);
    tg_image_free(&im);
}
END_TEST

/* A PNG around raw (filter bytes included) scanlines: zlib with stored blocks, every CRC right. */
typedef struct png_buf {
    uint8_t b[4096];
    size_t n;
} png_buf;

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void add_chunk(png_buf *p, const char *type, const uint8_t *data, size_t n)
{
    put_be32(p->b + p->n, (uint32_t)n);
    memcpy(p->b + p->n + 4, type, 4);
    if (n) memcpy(p->b + p->n + 8, data, n);
    put_be32(p->b + p->n + 8 + n, tg_crc32(0, p->b + p->n + 4, 4 + n));
    p->n += 12 + n;
}

static void add_ihdr(png_buf *p, uint32_t w, uint32_t h, int depth, int color, int interlace)
{
    memcpy(p->b, "\x89PNG\r\n\x1a\n", 8);
    p->n = 8;
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, w), put_be32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)color, ihdr[12] = (uint8_t)interlace;
    add_chunk(p, "IHDR", ihdr, 13);
}

static void add_idat(png_buf *p, const uint8_t *raw, size_t n)
{
    uint8_t z[1024];
    size_t o = 0;
    z[o++] = 0x78, z[o++] = 0x01;
    z[o++] = 1, z[o++] = (uint8_t)n, z[o++] = (uint8_t)(n >> 8), z[o++] = (uint8_t)~n, z[o++] = (uint8_t)(~n >> 8);
    memcpy(z + o, raw, n);
    o += n;
    put_be32(z + o, tg_adler32(1, raw, n));
    add_chunk(p, "IDAT", z, o + 4);
}

/* Expects decoding to fail with a message containing want, leaving *out zeroed. */
#define assert_png_fails(p, want) assert_png_fails_at(__LINE__, (p)->b, (p)->n, (want))
static void assert_png_fails_at(int line, const uint8_t *b, size_t n, const char *want)
{
    char err[256];
    tg_image im = {1, 1, 1, (uint8_t *)err};
    ck_assert_msg(tg_png_decode(b, n, &im, err, sizeof err) != TG_OK, "line %d: decoded", line);
    ck_assert_msg(im.pixels == NULL && im.width == 0, "line %d: half-loaded", line);
    ck_assert_msg(strstr(err, want) != NULL, "line %d: '%s' lacks '%s'", line, err, want);
    ck_assert_msg(!strncmp(err, "png: ", 5) && !strchr(err, '\n'), "line %d: '%s'", line, err);
}

START_TEST(png_refuses_malformed_files)
{
    /* the base case decodes: 2x2 grey, filter 0 rows */
    const uint8_t raw[6] = {0, 10, 20, 0, 30, 40};
    png_buf p;
    add_ihdr(&p, 2, 2, 8, 0, 0), add_idat(&p, raw, 6), add_chunk(&p, "IEND", NULL, 0);
    char err[256];
    tg_image im;
    ck_assert_msg(tg_png_decode(p.b, p.n, &im, err, sizeof err) == TG_OK, "%s", err);
    ck_assert_int_eq(im.pixels[3], 40);
    tg_image_free(&im);
    /* every truncation fails cleanly */
    for (size_t n = 0; n < p.n; n++) assert_png_fails_at(__LINE__, p.b, n, "");
    /* a flipped byte in the image data: its chunk's CRC */
    png_buf q = p;
    q.b[8 + 25 + 10] ^= 1;
    assert_png_fails(&q, "chunk 1 (IDAT) has a bad CRC");
    /* a length past the end of the file */
    q = p;
    put_be32(q.b + 8 + 25, 0x7fffffffu);
    assert_png_fails(&q, "chunk 1 (IDAT) claims 2147483647 bytes but");
    q = p;
    q.b[0] = 'x';
    assert_png_fails(&q, "not a PNG file (bad signature)");
    /* huge dimensions: refused on the header, before anything is allocated or inflated */
    add_ihdr(&q, 100000, 100000, 8, 0, 0), add_idat(&q, raw, 6), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "image of 100000x100000 pixels is over the limit of 67108864 pixels");
    add_ihdr(&q, 0, 2, 8, 0, 0);
    assert_png_fails(&q, "image size 0x2 is not valid");
    add_ihdr(&q, 2, 2, 4, 2, 0), add_idat(&q, raw, 6), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "bit depth 4 with colour type 2 is not a valid PNG combination");
    add_ihdr(&q, 2, 2, 8, 5, 0);
    assert_png_fails(&q, "colour type 5");
    add_ihdr(&q, 2, 2, 8, 0, 1), add_idat(&q, raw, 6), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "Adam7 interlaced images are not supported");
    /* the data: a filter type past 4, too few or too many bytes, a bad Adler-32 */
    const uint8_t bad_filter[6] = {0, 10, 20, 5, 30, 40};
    add_ihdr(&q, 2, 2, 8, 0, 0), add_idat(&q, bad_filter, 6), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "row 1 has filter type 5 (0..4 exist)");
    add_ihdr(&q, 2, 2, 8, 0, 0), add_idat(&q, raw, 5), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "image data inflates to 5 bytes, the 2x2 image needs 6");
    const uint8_t more[8] = {0, 10, 20, 0, 30, 40, 0, 0};
    add_ihdr(&q, 2, 2, 8, 0, 0), add_idat(&q, more, 8), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "image data: inflate: output exceeds the limit of 6 bytes");
    q = p;
    q.b[8 + 25 + 8 + 13] ^= 0xff; /* the Adler-32's first byte (the CRC fixed below) */
    put_be32(q.b + 8 + 25 + 8 + 17, tg_crc32(0, q.b + 8 + 25 + 4, 4 + 17));
    assert_png_fails(&q, "image data: Adler-32 mismatch");
    /* the chunk order */
    add_ihdr(&q, 2, 2, 8, 0, 0), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "no IDAT chunk");
    add_ihdr(&q, 2, 2, 8, 0, 0), add_idat(&q, raw, 6);
    assert_png_fails(&q, "no IEND chunk");
    add_ihdr(&q, 2, 2, 8, 0, 0), add_chunk(&q, "ABCD", raw, 2), add_idat(&q, raw, 6), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "unknown critical chunk ABCD");
    q.n = 8, add_chunk(&q, "IDAT", raw, 6);
    assert_png_fails(&q, "the first chunk is IDAT, not IHDR");
    add_ihdr(&q, 2, 2, 8, 0, 0), add_idat(&q, raw, 3), add_chunk(&q, "tEXt", raw, 1), add_idat(&q, raw, 3);
    add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "IDAT chunks are not consecutive");
    /* palettes: missing, and an index past the entries */
    const uint8_t pal_raw[4] = {0, 0x01, 0, 0x20}; /* 2x2 at 4 bits: indices 0,1 / 2,0 */
    add_ihdr(&q, 2, 2, 4, 3, 0), add_idat(&q, pal_raw, 4), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "a palette image without a PLTE chunk before its IDAT");
    const uint8_t plte[6] = {1, 2, 3, 4, 5, 6};
    add_ihdr(&q, 2, 2, 4, 3, 0), add_chunk(&q, "PLTE", plte, 6), add_idat(&q, pal_raw, 4), add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "pixel (0,1) has palette index 2 of 2 entries");
    add_ihdr(&q, 2, 2, 4, 3, 0), add_chunk(&q, "PLTE", plte, 5);
    assert_png_fails(&q, "PLTE of 5 bytes is not 1..256 RGB entries");
    /* the zlib header */
    add_ihdr(&q, 2, 2, 8, 0, 0), add_chunk(&q, "IDAT", (const uint8_t *)"\x78\x02\x01\x02\x03\x04\x05\x06", 8);
    add_chunk(&q, "IEND", NULL, 0);
    assert_png_fails(&q, "the image data is not a zlib stream (header 78 02)");
    /* the committed interlaced file, through the path-naming loader */
    ck_assert_int_eq(tg_image_load("tests/data/png/interlaced.png", &im, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "tests/data/png/interlaced.png: png: Adam7 interlaced images are not supported (save it "
                          "non-interlaced)");
    ck_assert_ptr_null(im.pixels);
}
END_TEST

/* The resize against PyTorch's F.interpolate(bilinear, align_corners=False) plus the centre crop
 * (tests/data/png/make_png.py), the channel conversions, and an exact copy at the same size. */
START_TEST(image_to_input_matches_pytorch)
{
    char err[256];
    struct {
        const char *png, *ref;
        int c, h, w;
    } cases[] = {{"tests/data/png/c0_d8.png", "tests/data/png/resize_up.npy", 1, 10, 12},
                 {"tests/data/png/pil_rgb.png", "tests/data/png/resize_luma_down.npy", 1, 4, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tg_image im;
        ck_assert_msg(tg_image_load(cases[i].png, &im, err, sizeof err) == TG_OK, "%s", err);
        tg_tensor *ref = NULL;
        ck_assert_msg(tg_npy_load(cases[i].ref, &ref, NULL, err, sizeof err) == TG_OK, "%s", err);
        tt_track(ref);
        ck_assert_int_eq(ref->numel, cases[i].c * cases[i].h * cases[i].w);
        float *out = malloc((size_t)ref->numel * sizeof *out);
        ck_assert_int_eq(tg_image_to_input(&im, cases[i].c, cases[i].h, cases[i].w, out), TG_OK);
        for (int64_t k = 0; k < ref->numel; k++)
            ck_assert_msg(fabs(out[k] - (double)ref->data[k]) < 1e-5, "%s: value %lld is %g, PyTorch %g", cases[i].ref,
                          (long long)k, out[k], (double)ref->data[k]);
        free(out);
        tg_image_free(&im);
    }
    /* same size: an exact copy; grey to 3 channels: the grey value in each */
    tg_image im;
    ck_assert_int_eq(tg_image_load("tests/data/png/pil_l.png", &im, err, sizeof err), TG_OK);
    float out[3 * 6 * 9];
    ck_assert_int_eq(tg_image_to_input(&im, 3, 6, 9, out), TG_OK);
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 54; k++) ck_assert_float_eq(out[c * 54 + k], (float)(im.pixels[k] / 255.0));
    ck_assert_int_eq(tg_image_to_input(&im, 2, 6, 9, out), TG_ERR_INVALID);
    ck_assert_int_eq(tg_image_to_input(&im, 1, 0, 9, out), TG_ERR_INVALID);
    tg_image_free(&im);
    /* RGB to grey, one pixel by hand: 0.299*200 + 0.587*100 + 0.114*50 = 59.8 + 58.7 + 5.7 = 124.2 */
    uint8_t rgb[3] = {200, 100, 50};
    tg_image one = {1, 1, 3, rgb};
    ck_assert_int_eq(tg_image_to_input(&one, 1, 2, 2, out), TG_OK);
    for (int k = 0; k < 4; k++) ck_assert_float_eq_tol(out[k], (float)(124.2 / 255), 1e-6);
}
END_TEST

static void make_dir(const char *path) { ck_assert_msg(mkdir(path, 0755) == 0 || access(path, F_OK) == 0, "%s", path); }

/* An image folder: classes sorted by name, files sorted within, other files skipped, every image
 * converted to the asked shape; broken folders are one-line errors with nothing returned. */
START_TEST(image_folder)
{
    char err[512];
    make_dir("build/od_img");
    make_dir("build/od_img/b_dog");
    make_dir("build/od_img/a_cat");
    make_dir("build/od_img/.hidden");
    uint8_t px[4] = {0, 51, 102, 255};
    ck_assert_int_eq(tg_png_write_gray("build/od_img/b_dog/2.png", px, 2, 2), TG_OK);
    ck_assert_int_eq(tg_pgm_write("build/od_img/b_dog/1.PGM", px + 1, 1, 3), TG_OK);
    ck_assert_int_eq(tg_pgm_write("build/od_img/a_cat/x.pgm", px, 2, 2), TG_OK);
    write_text("build/od_img/a_cat/notes.txt", "not an image");
    write_text("build/od_img/README", "skipped");
    ck_assert_int_eq(tg_data_source_of("build/od_img"), TG_DATA_IMAGE_DIR);
    tg_dataset *d = NULL;
    ck_assert_msg(tg_dataset_load_image_dir("build/od_img", 1, 2, 2, &d, err, sizeof err) == TG_OK, "%s", err);
    ck_assert_int_eq(d->n, 3);
    ck_assert_int_eq(d->n_classes, 2);
    ck_assert_str_eq(d->class_names[0], "a_cat");
    ck_assert_str_eq(d->class_names[1], "b_dog");
    ck_assert_int_eq(d->labels[0], 0);
    ck_assert_int_eq(d->labels[1], 1);
    ck_assert_int_eq(d->labels[2], 1);
    ck_assert_float_eq(d->images[3], 1.0f);            /* x.pgm as it is */
    ck_assert_float_eq(d->images[8 + 1], 51 / 255.0f); /* 2.png after 1.PGM */
    /* 1.PGM is 1x3 (values 51,102,255): widened 2x to cover 2x2, rows 1..2 of 6 cropped from the centre */
    ck_assert_float_eq_tol(d->images[4], (float)((0.25 * 51 + 0.75 * 102) / 255), 1e-6);
    tg_dataset *held = NULL;
    ck_assert_int_eq(tg_dataset_split(d, 0.4, 1, &held, err, sizeof err), TG_OK); /* names travel with the copy */
    ck_assert_str_eq(held->class_names[1], "b_dog");
    tg_dataset_free(held);
    tg_dataset_free(d);
    /* shape from the first image (a_cat/x.pgm): 1x2x2 */
    ck_assert_int_eq(tg_dataset_load_spec("build/od_img", NULL, true, &d, err, sizeof err), TG_OK);
    ck_assert_int_eq(d->c * 100 + d->h * 10 + d->w, 122);
    tg_dataset_free(d);
    /* refusals */
    ck_assert_int_eq(tg_dataset_load_image_dir("build/od_img", 2, 2, 2, &d, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "build/od_img: images convert to 1 or 3 channels, not 2 (shape 2x2x2)");
    make_dir("build/od_img/c_empty");
    d = (tg_dataset *)&err;
    ck_assert_int_eq(tg_dataset_load_image_dir("build/od_img", 1, 2, 2, &d, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_str_eq(err, "build/od_img/c_empty: class folder has no .png or .pgm image");
    write_text("build/od_img/c_empty/bad.png", "\x89PNG\r\n\x1a\nshort");
    ck_assert_int_eq(tg_dataset_load_image_dir("build/od_img", 1, 2, 2, &d, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_str_eq(err, "build/od_img/c_empty/bad.png: png: file ends inside a chunk header (no IEND chunk)");
    unlink("build/od_img/c_empty/bad.png");
    rmdir("build/od_img/c_empty");
    make_dir("build/od_flat");
    ck_assert_int_eq(tg_dataset_load_image_dir("build/od_flat", 1, 2, 2, &d, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "build/od_flat: no class sub-folders (and no MNIST IDX files): expected DIR/<class>/<image>.png");
    ck_assert_int_eq(tg_dataset_load_spec("build/od_nothing", NULL, true, &d, err, sizeof err), TG_ERR_IO);
    ck_assert_str_eq(err, "build/od_nothing: not a directory, an X.npy,y.npy pair or a .csv file");
}
END_TEST

Suite *suite_own_data(void)
{
    Suite *s = suite_create("own_data");
    TCase *tc = tt_tcase("own_data");
    tcase_add_test(tc, csv_reads_fields_and_labels);
    tcase_add_test(tc, csv_refuses_malformed_files);
    tcase_add_test(tc, npy_float_targets);
    tcase_add_test(tc, png_decodes_every_kind);
    tcase_add_test(tc, png_refuses_malformed_files);
    tcase_add_test(tc, image_to_input_matches_pytorch);
    tcase_add_test(tc, image_folder);
    suite_add_tcase(s, tc);
    return s;
}
