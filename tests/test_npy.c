/* tests/test_npy.c — .npy reading and writing: files numpy wrote (tests/data/npy, from
 * make_samples.py), byte-identical output, round trips, and every malformed header or data size
 * rejected with its one-line reason; truncations and byte flips of a valid file never crash. */
#include "util.h"

#include <stdlib.h>
#include <unistd.h>

#define SAMPLES "tests/data/npy/"

static tg_tensor *load_ok(const char *path, tg_npy_dtype want_type)
{
    char err[256] = "";
    tg_tensor *t = NULL;
    tg_npy_dtype type;
    tg_status st = tg_npy_load(path, &t, &type, err, sizeof err);
    ck_assert_msg(st == TG_OK, "%s: %s", path, err);
    ck_assert_int_eq(type, want_type);
    return tt_track(t);
}

/* Asserts that loading path fails with status st and a message containing what. */
static void assert_load_fails(const char *path, tg_status want, const char *what)
{
    char err[256] = "";
    tg_tensor *t = (tg_tensor *)&err; /* must be reset to NULL */
    ck_assert_int_eq(tg_npy_load(path, &t, NULL, err, sizeof err), want);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, what) != NULL, "message '%s' lacks '%s'", err, what);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "message '%s' does not name %s", err, path);
    ck_assert_msg(strchr(err, '\n') == NULL, "message is not one line: %s", err);
}

/* A whole .npy file in memory: magic, version, header (dict text + padding + '\n'), data. */
typedef struct blob {
    unsigned char *bytes;
    size_t len;
} blob;

static blob make_npy(int major, int minor, const char *dict, size_t pad, const void *data, size_t data_len)
{
    size_t dict_len = strlen(dict), header_len = dict_len + pad + 1;
    size_t prefix = major == 1 ? 10 : 12;
    blob b = {malloc(prefix + header_len + data_len + 1), prefix + header_len + data_len};
    ck_assert_ptr_nonnull(b.bytes);
    memcpy(b.bytes, "\x93NUMPY", 6);
    b.bytes[6] = (unsigned char)major;
    b.bytes[7] = (unsigned char)minor;
    for (size_t i = 0; i < prefix - 8; i++) b.bytes[8 + i] = (unsigned char)(header_len >> (8 * i));
    memcpy(b.bytes + prefix, dict, dict_len);
    memset(b.bytes + prefix + dict_len, ' ', pad);
    b.bytes[prefix + header_len - 1] = '\n';
    if (data_len) memcpy(b.bytes + prefix + header_len, data, data_len);
    return b;
}

static void assert_parse_fails(blob b, const char *what)
{
    char err[256] = "";
    tg_tensor *t = NULL;
    tg_status st = tg_npy_parse(b.bytes, b.len, &t, NULL, err, sizeof err);
    free(b.bytes);
    tg_tensor_free(t);
    ck_assert_msg(st == TG_ERR_FORMAT, "status %d for '%s' (message '%s')", st, what, err);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, what) != NULL, "message '%s' lacks '%s'", err, what);
    ck_assert_msg(strchr(err, '\n') == NULL, "message is not one line: %s", err);
}

static tg_tensor *parse_ok(blob b)
{
    char err[256] = "";
    tg_tensor *t = NULL;
    tg_status st = tg_npy_parse(b.bytes, b.len, &t, NULL, err, sizeof err);
    free(b.bytes);
    ck_assert_msg(st == TG_OK, "%s", err);
    return tt_track(t);
}

static const float f32_six[6] = {1, 2, 3, 4, 5, 6};
#define DICT_F32(shape) "{'descr': '<f4', 'fortran_order': False, 'shape': " shape ", }"

START_TEST(loads_files_numpy_wrote)
{
    tg_tensor *a = load_ok(SAMPLES "f32_2x3.npy", TG_NPY_F32);
    tt_assert_shape(a, 2, 3);
    tt_assert_close(a->data, ((double[]){1.5, -2, 3, 4, 5.25, -6}), 6, 0);

    tg_tensor *s = load_ok(SAMPLES "f64_scalar.npy", TG_NPY_F64);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_int_eq(s->numel, 1);
    ck_assert(s->data[0] == -0.125);

    tg_tensor *i = load_ok(SAMPLES "i64_4.npy", TG_NPY_I64);
    ck_assert_int_eq(i->dtype, TG_INT64);
    tt_assert_shape(i, 4);
    ck_assert(i->idata[0] == 0 && i->idata[1] == 3 && i->idata[2] == -1 && i->idata[3] == ((int64_t)1 << 40));

    /* narrow integer labels widen to int64 */
    tg_tensor *i32 = load_ok(SAMPLES "i32_3.npy", TG_NPY_I64);
    ck_assert(i32->dtype == TG_INT64 && i32->idata[0] == 7 && i32->idata[1] == -8 && i32->idata[2] == 9);
    tg_tensor *u8 = load_ok(SAMPLES "u8_2x2.npy", TG_NPY_I64);
    tt_assert_shape(u8, 2, 2);
    ck_assert(u8->idata[0] == 0 && u8->idata[1] == 255 && u8->idata[2] == 1 && u8->idata[3] == 128);

    tg_tensor *e = load_ok(SAMPLES "f32_empty_0x3.npy", TG_NPY_F32);
    tt_assert_shape(e, 0, 3);
    ck_assert_int_eq(e->numel, 0);

    tg_tensor *v2 = load_ok(SAMPLES "f64_v2_3.npy", TG_NPY_F64);
    tt_assert_close(v2->data, ((double[]){1, 2, 3}), 3, 0);
}
END_TEST

START_TEST(rejects_files_numpy_wrote)
{
    assert_load_fails(SAMPLES "f32_big_endian.npy", TG_ERR_FORMAT,
                      "dtype '>f4' is big-endian; only little-endian is supported");
    assert_load_fails(SAMPLES "f32_fortran.npy", TG_ERR_FORMAT, "fortran_order is True; only C order is supported");
    assert_load_fails(SAMPLES "f16.npy", TG_ERR_FORMAT, "dtype '<f2' is not supported");
    assert_load_fails(SAMPLES "no_such_file.npy", TG_ERR_IO, "cannot open");
    assert_load_fails("tests/data/npy", TG_ERR_IO, "cannot read"); /* a directory */
}
END_TEST

/* Bytes of a whole file. */
static blob slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    blob b = {malloc(1 << 16), 0};
    b.len = fread(b.bytes, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void temp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "/tmp/tg_npy_%ld_%s", (long)getpid(), name);
}

/* Saving what numpy wrote gives back numpy's exact bytes (header text, padding, data). */
static void assert_saves_identically(const char *sample, tg_npy_dtype type)
{
    tg_tensor *t = load_ok(sample, type);
    char path[256], err[256];
    temp_path(path, sizeof path, "same.npy");
    ck_assert_int_eq(tg_npy_save(path, t, type, err, sizeof err), TG_OK);
    blob want = slurp(sample), got = slurp(path);
    unlink(path);
    ck_assert_uint_eq(got.len, want.len);
    ck_assert_msg(memcmp(got.bytes, want.bytes, want.len) == 0, "%s: saved bytes differ from numpy's", sample);
    free(want.bytes);
    free(got.bytes);
}

START_TEST(saves_the_bytes_numpy_writes)
{
    assert_saves_identically(SAMPLES "f32_2x3.npy", TG_NPY_F32);
    assert_saves_identically(SAMPLES "i64_4.npy", TG_NPY_I64);
    assert_saves_identically(SAMPLES "f64_scalar.npy", TG_NPY_F64);
    assert_saves_identically(SAMPLES "f32_empty_0x3.npy", TG_NPY_F32);
}
END_TEST

static tg_tensor *round_trip(const tg_tensor *t, tg_npy_dtype type)
{
    char path[256], err[256];
    temp_path(path, sizeof path, "rt.npy");
    ck_assert_int_eq(tg_npy_save(path, t, type, err, sizeof err), TG_OK);
    blob b = slurp(path);
    /* version 1.0, header padded with spaces and '\n' so the data starts on 64 bytes */
    ck_assert(b.bytes[6] == 1 && b.bytes[7] == 0);
    size_t header_len = b.bytes[8] | (size_t)b.bytes[9] << 8;
    ck_assert_uint_eq((10 + header_len) % 64, 0);
    ck_assert_int_eq(b.bytes[10 + header_len - 1], '\n');
    free(b.bytes);
    tg_tensor *back = load_ok(path, t->dtype == TG_INT64 ? TG_NPY_I64 : type);
    unlink(path);
    ck_assert(tg_same_shape(t, back));
    return back;
}

START_TEST(round_trips)
{
    int64_t shape[8] = {2, 1, 3, 1, 1, 2, 1, 1};
    tg_tensor *a = tt_random(8, shape, 7, -3, 3);
    tg_tensor *b = round_trip(a, TG_NPY_F32);
    for (int64_t i = 0; i < a->numel; i++) ck_assert((float)a->data[i] == (float)b->data[i]);
    b = round_trip(a, TG_NPY_F64);
    for (int64_t i = 0; i < a->numel; i++) ck_assert(a->data[i] == b->data[i]); /* exact in either build */

    tg_tensor *labels = tt_labels(5, (int64_t[]){0, 9, -4, INT64_MAX, INT64_MIN});
    tg_tensor *lb = round_trip(labels, TG_NPY_F32); /* int64 tensors are always saved as int64 */
    ck_assert_int_eq(lb->dtype, TG_INT64);
    for (int i = 0; i < 5; i++) ck_assert(lb->idata[i] == labels->idata[i]);

    tg_tensor *scalar = tt_tensor(0, NULL, (double[]){2.5});
    ck_assert(round_trip(scalar, TG_NPY_F32)->data[0] == 2.5);
    tg_tensor *empty = tt_tensorv(NULL, 3, 4, 0, 2);
    ck_assert_int_eq(round_trip(empty, TG_NPY_F64)->numel, 0);
    tg_tensor *one = tt_tensorv((double[]){-1}, 1, 1);
    ck_assert(round_trip(one, TG_NPY_F32)->data[0] == -1);

    /* more data than one write chunk */
    int64_t big_shape[1] = {3000};
    tg_tensor *big = tt_random(1, big_shape, 3, -1, 1);
    tg_tensor *bb = round_trip(big, TG_NPY_F64);
    for (int64_t i = 0; i < big->numel; i++) ck_assert(bb->data[i] == big->data[i]);
}
END_TEST

START_TEST(save_errors)
{
    char err[256];
    tg_tensor *a = tt_tensorv((double[]){1, 2}, 1, 2);
    ck_assert_int_eq(tg_npy_save("/nonexistent_dir_tg/x.npy", a, TG_NPY_F32, err, sizeof err), TG_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent_dir_tg/x.npy: cannot create") == err, "%s", err);
    ck_assert_int_eq(tg_npy_save("/tmp/x.npy", a, TG_NPY_I64, err, sizeof err), TG_ERR_INVALID);
    ck_assert_int_eq(tg_npy_save("/tmp/x.npy", NULL, TG_NPY_F32, err, sizeof err), TG_ERR_INVALID);
}
END_TEST

START_TEST(versions_and_large_headers)
{
    const char *dict = DICT_F32("(2, 3)");
    tg_tensor *v1 = parse_ok(make_npy(1, 0, dict, 3, f32_six, sizeof f32_six));
    tt_assert_close(v1->data, ((double[]){1, 2, 3, 4, 5, 6}), 6, 0);
    tg_tensor *v3 = parse_ok(make_npy(3, 0, dict, 0, f32_six, sizeof f32_six));
    tt_assert_shape(v3, 2, 3);
    /* a 2.0 header longer than a 1.0 file's uint16 length can hold */
    tg_tensor *v2 = parse_ok(make_npy(2, 0, dict, 70000, f32_six, sizeof f32_six));
    tt_assert_close(v2->data, ((double[]){1, 2, 3, 4, 5, 6}), 6, 0);
    /* spacing and quoting variations numpy's own reader accepts; keys in any order */
    tg_tensor *q = parse_ok(make_npy(1, 0, "{\"shape\":(3,),\"fortran_order\":False,\"descr\":\"<f4\"}", 0, f32_six,
                                     3 * sizeof(float)));
    tt_assert_shape(q, 3);
    tg_tensor *s = parse_ok(make_npy(1, 0, DICT_F32("()"), 0, f32_six, sizeof(float)));
    ck_assert_int_eq(s->ndim, 0);
    ck_assert(s->data[0] == 1);
    tg_tensor *z = parse_ok(make_npy(1, 0, DICT_F32("(0,)"), 0, NULL, 0));
    tt_assert_shape(z, 0);
}
END_TEST

START_TEST(rejects_every_corruption)
{
    const size_t six = sizeof f32_six;
    const char *good = DICT_F32("(2, 3)");
    blob b = make_npy(1, 0, good, 0, f32_six, six);
    b.bytes[1] = 'X';
    assert_parse_fails(b, "not a .npy file (bad magic)");
    b = make_npy(1, 0, good, 0, f32_six, six);
    b.len = 9;
    assert_parse_fails(b, "file ends inside the header");
    assert_parse_fails(make_npy(4, 0, good, 0, f32_six, six), "format version 4.0 is not supported");
    assert_parse_fails(make_npy(1, 1, good, 0, f32_six, six), "format version 1.1 is not supported");
    assert_parse_fails(make_npy(0, 0, good, 0, f32_six, six), "format version 0.0");
    b = make_npy(1, 0, good, 0, f32_six, six);
    b.bytes[8] = 0xff, b.bytes[9] = 0xff;
    assert_parse_fails(b, "header length 65535 runs past the end of the file");

    /* the dict */
    assert_parse_fails(make_npy(1, 0, "[1, 2]", 0, f32_six, six), "header is not a dict literal");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'shape': (2, 3)}", 0, f32_six, six),
                       "header lacks the key 'fortran_order'");
    assert_parse_fails(make_npy(1, 0, "{'fortran_order': False, 'shape': (2, 3)}", 0, f32_six, six),
                       "header lacks the key 'descr'");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False}", 0, f32_six, six),
                       "header lacks the key 'shape'");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 0,
                                f32_six, six),
                       "header has an unexpected key 'x'");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
                                0, f32_six, six),
                       "header repeats the key 'descr'");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", 0, f32_six, six),
                       "header dict is malformed after 'descr'");
    assert_parse_fails(make_npy(1, 0, "{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", 0, f32_six, six),
                       "header dict lacks ':' after 'descr'");
    assert_parse_fails(make_npy(1, 0, "{descr: '<f4'}", 0, f32_six, six), "header dict has a bad key");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", 0, f32_six, six),
                       "header 'fortran_order' is not True or False");
    assert_parse_fails(make_npy(1, 0, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3)}", 0,
                                f32_six, six),
                       "header 'descr' is not a simple dtype string");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x", 0, f32_six,
                                six),
                       "header has text after the dict");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 0, f32_six, six),
                       "header dict is malformed after 'shape'");
    b = make_npy(1, 0, good, 0, f32_six, six);
    b.bytes[12] = '\0';
    assert_parse_fails(b, "header contains a NUL byte");

    /* the shape */
    assert_parse_fails(make_npy(1, 0, DICT_F32("[2, 3]"), 0, f32_six, six), "header 'shape' is not a tuple");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(2, -3)"), 0, f32_six, six), "header 'shape' has a negative dimension");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(2, x)"), 0, f32_six, six), "header 'shape' has a bad or too large dimension");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(99999999999999999999,)"), 0, f32_six, six),
                       "header 'shape' has a bad or too large dimension");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(4611686018427387904, 4)"), 0, f32_six, six),
                       "shape [4611686018427387904,4] is too large");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(1152921504606846976,)"), 0, f32_six, six), "is too large");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(1, 1, 1, 1, 1, 1, 1, 1, 6)"), 0, f32_six, six),
                       "shape has more than 8 dimensions");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(6)"), 0, f32_six, six), "lacks the comma of a 1-tuple");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(2 3)"), 0, f32_six, six), "header 'shape' is not a valid tuple");

    /* dtypes */
    assert_parse_fails(make_npy(1, 0, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", 0, f32_six, six),
                       "npy: dtype '>f8' is big-endian; only little-endian is supported");
    assert_parse_fails(make_npy(1, 0, "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", 0, f32_six, six),
                       "dtype '|O' is not supported");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", 0, f32_six, six),
                       "dtype '<c8' is not supported");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 0, f32_six, six),
                       "fortran_order is True");

    /* data size */
    assert_parse_fails(make_npy(1, 0, good, 0, f32_six, six - 1),
                       "truncated: shape [2,3] needs 24 data bytes, found 23");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(2, 2)"), 0, f32_six, six), "8 extra bytes after the data of shape [2,2]");
    assert_parse_fails(make_npy(1, 0, DICT_F32("()"), 0, f32_six, 0), "truncated: shape [] needs 4 data bytes, found 0");
}
END_TEST

/* True when every byte of s is printable ASCII: what a message may carry to a terminal. */
static bool printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f) return false;
    return true;
}

/* Header text is quoted escaped (a terminal escape in a key or dtype must not reach a terminal),
 * strings past the 31-byte limit are named as such, never cut and compared. */
START_TEST(messages_escape_header_text_and_name_limits)
{
    const size_t six = sizeof f32_six;
    char err[512];
    tg_tensor *t = NULL;
    blob b = make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), '\x1b]0;pwned\x07': 1, }", 0,
                      f32_six, six);
    ck_assert_int_eq(tg_npy_parse(b.bytes, b.len, &t, NULL, err, sizeof err), TG_ERR_FORMAT);
    free(b.bytes);
    ck_assert_msg(strstr(err, "header has an unexpected key '\\x1b]0;pwned\\x07'") && printable(err), "%s", err);

    b = make_npy(1, 0, "{'descr': '<f\x9b" "4', 'fortran_order': False, 'shape': (6,), }", 0, f32_six, six);
    ck_assert_int_eq(tg_npy_parse(b.bytes, b.len, &t, NULL, err, sizeof err), TG_ERR_FORMAT);
    free(b.bytes);
    ck_assert_msg(strstr(err, "dtype '<f\\x9b4' is not supported") && printable(err), "%s", err);

    /* a 32-byte key: past the limit (before, a 31-byte buffer turned it into "a bad key") */
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), "
                                      "'abcdefghijklmnopqrstuvwxyz012345': 1, }", 0, f32_six, six),
                       "header has a key longer than 31 bytes (the limit)");
    /* 31 bytes is within it: the key is read whole and named */
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), "
                                      "'abcdefghijklmnopqrstuvwxyz01234': 1, }", 0, f32_six, six),
                       "header has an unexpected key 'abcdefghijklmnopqrstuvwxyz01234'");
    assert_parse_fails(make_npy(1, 0, "{'descr': '<f4_________________________________', 'fortran_order': False, "
                                      "'shape': (6,), }", 0, f32_six, six),
                       "header 'descr' is longer than 31 bytes (the limit)");
    assert_parse_fails(make_npy(1, 0, DICT_F32("(1, 1, 1, 1, 1, 1, 1, 1, 6)"), 0, f32_six, six),
                       "shape has more than 8 dimensions (tapegrad's limit)");

    /* the path names the file in every message: escaped too */
    ck_assert_int_eq(tg_npy_load("/nonexistent/\x1b[2Jx.npy", &t, NULL, err, sizeof err), TG_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent/\\x1b[2Jx.npy: cannot open") && printable(err), "%s", err);
}
END_TEST

/* Every prefix of a valid file is an error, and flipping any header byte either still parses or
 * fails cleanly (run under ASan, this is the "never trust a field" test). */
START_TEST(truncations_and_byte_flips_never_crash)
{
    blob b = slurp(SAMPLES "f32_2x3.npy");
    char err[256];
    for (size_t len = 0; len < b.len; len++) {
        tg_tensor *t = NULL;
        unsigned char *copy = malloc(len ? len : 1); /* exact size: ASan catches any over-read */
        memcpy(copy, b.bytes, len);
        ck_assert_int_ne(tg_npy_parse(copy, len, &t, NULL, err, sizeof err), TG_OK);
        ck_assert_ptr_null(t);
        free(copy);
    }
    const unsigned char values[] = {0, 1, '\'', '(', ')', ',', ':', '-', '9', '{', '}', 0x80, 0xff};
    int parsed = 0;
    for (size_t pos = 0; pos < 128; pos++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char *copy = malloc(b.len);
            memcpy(copy, b.bytes, b.len);
            copy[pos] = values[v];
            tg_tensor *t = NULL;
            if (tg_npy_parse(copy, b.len, &t, NULL, err, sizeof err) == TG_OK) {
                ck_assert_ptr_nonnull(t);
                ck_assert_int_eq(t->numel, 6); /* a flip that still parses cannot change the size */
                parsed++;
            } else {
                ck_assert_ptr_null(t);
                ck_assert(err[0] != '\0' && strchr(err, '\n') == NULL);
            }
            tg_tensor_free(t);
            free(copy);
        }
    ck_assert_int_gt(parsed, 0); /* padding bytes may change freely */
    free(b.bytes);
}
END_TEST

Suite *suite_npy(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tt_tcase("npy");
    tcase_add_test(tc, loads_files_numpy_wrote);
    tcase_add_test(tc, rejects_files_numpy_wrote);
    tcase_add_test(tc, saves_the_bytes_numpy_writes);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, save_errors);
    tcase_add_test(tc, versions_and_large_headers);
    tcase_add_test(tc, rejects_every_corruption);
    tcase_add_test(tc, truncations_and_byte_flips_never_crash);
    tcase_add_test(tc, messages_escape_header_text_and_name_limits);
    suite_add_tcase(s, tc);
    return s;
}
