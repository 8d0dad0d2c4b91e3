/* tests/test_onnx.c — the protobuf writer/reader (hand-computed bytes, malformed input), ONNX
 * export (every exportable layer kind through onnx.checker.check_model(full_check=True) when
 * python3-onnx is installed; one-line errors for layers with no ONNX form) and, further down,
 * import. */
#include "util.h"

#include <stdlib.h>
#include <unistd.h>

#include "../nn/onnx.h"
#include "../nn/protobuf.h"

/* Every layer kind export maps, on a small input; the BN statistics are set below so that a
 * wrong binding of mean/var/weight/bias changes the outputs. */
static const char *const all_kinds =
    "input 2x10x10\n"
    "conv2d out=4 kernel=3 padding=1 id=a\n"
    "batch_norm\n"
    "relu\n"
    "conv2d out=4 kernel=3,1 padding=same groups=2 dilation=2\n"
    "batch_norm\n"
    "add from=a\n"
    "max_pool2d kernel=2 stride=2\n"
    "conv_transpose2d out=3 kernel=3 stride=2 padding=1 output_padding=1\n"
    "instance_norm affine=1\n"
    "group_norm groups=3\n"
    "frn\n"
    "tlu\n"
    "leaky_relu slope=0.2\n"
    "avg_pool2d kernel=3 stride=1 padding=1 count_include_pad=0\n"
    "concat from=.,a\n"
    "layer_norm normalized_shape=10\n"
    "gelu\n"
    "elu alpha=0.7\n"
    "sigmoid\n"
    "tanh\n"
    "global_avg_pool\n"
    "flatten\n"
    "linear out=6\n"
    "batch_norm\n"
    "dropout p=0.3\n"
    "linear out=5\n"
    "softmax\n";

static const char *const conv1d_3d =
    "input 2x6x6x6\n"
    "conv3d out=3 kernel=3 padding=1 stride=2\n"
    "batch_norm\n"
    "max_pool3d kernel=2 stride=1\n"
    "conv_transpose3d out=2 kernel=2\n"
    "avg_pool3d kernel=2\n"
    "flatten\n"
    "linear out=4\n";

/* Gives every batch norm non-trivial running statistics and affine values. */
static void perturb_norms(tg_module *net, uint64_t seed)
{
    tg_named_tensor list[256];
    const int n = tg_module_named_tensors(net, true, list, 256);
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        tg_tensor *t = list[i].tensor;
        const char *name = strrchr(list[i].name, '.') + 1;
        const bool positive = !strcmp(name, "running_var") || !strcmp(name, "weight");
        if (!strcmp(name, "running_mean") || !strcmp(name, "running_var") ||
            (t->ndim == 1 && (!strcmp(name, "weight") || !strcmp(name, "bias") || !strcmp(name, "tau"))))
            for (int64_t k = 0; k < t->numel; k++)
                t->data[k] = (tg_real)(positive ? 0.5 + tg_rng_uniform(&rng) : tg_rng_uniform(&rng) - 0.5);
    }
}

static tg_model *load_spec(const char *text)
{
    char err[256];
    tg_model *m = tg_model_parse(text, "spec", 11, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    perturb_norms(m->net, 5);
    return m;
}

/* The interpreter with python3-onnx: $TG_PYTHON, else Debian's /usr/bin/python3, else python3.
 * NULL (with a note) when none imports onnx; under CI=true that is a failure (.ci/run installs
 * python3-onnx). */
static const char *onnx_python(void)
{
    static const char *const candidates[] = {NULL, "/usr/bin/python3", "python3"};
    for (int i = 0; i < 3; i++) {
        const char *py = i == 0 ? getenv("TG_PYTHON") : candidates[i];
        if (!py) continue;
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import onnx' >/dev/null 2>&1", py);
        if (system(cmd) == 0) return py;
    }
    const char *ci = getenv("CI");
    ck_assert_msg(!ci || strcmp(ci, "true") != 0, "python3-onnx is missing but CI=true (.ci/run installs it)");
    printf("note: python3-onnx is not installed; the ONNX checker tests are skipped\n");
    return NULL;
}

/* Runs onnx.checker.check_model(full_check=True) on the file; 0 when it passes. */
static int onnx_check(const char *py, const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' %s",
             py, path);
    return system(cmd);
}

static void temp_path(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/tg_onnx_%ld_%s_%d.onnx", (long)getpid(), tag, TT_DOUBLE);
}

/* ---- protobuf ---- */

START_TEST(pb_writer_bytes)
{
    /* the protobuf documentation's example: field 1 = 150 is 08 96 01; a nested message in
     * field 3 holding it is 1a 03 08 96 01; a string "hi" in field 2 is 12 02 68 69; -1 as int64
     * takes 10 bytes */
    tg_pb_writer w = {0};
    tg_pb_int(&w, 1, 150);
    const size_t at = tg_pb_begin(&w, 3);
    tg_pb_int(&w, 1, 150);
    tg_pb_end(&w, at);
    tg_pb_string(&w, 2, "hi");
    tg_pb_int(&w, 4, -1);
    tg_pb_float(&w, 5, 1.0f);
    const uint8_t want[] = {0x08, 0x96, 0x01, 0x1a, 0x03, 0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x20,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x2d, 0x00, 0x00, 0x80, 0x3f};
    ck_assert(!w.failed);
    ck_assert_uint_eq(w.len, sizeof want);
    ck_assert_mem_eq(w.buf, want, sizeof want);
    /* and back */
    tg_pb_reader r = {w.buf, w.buf + w.len};
    tg_pb_field f;
    char err[128];
    ck_assert_int_eq(tg_pb_next(&r, &f, w.buf, err, sizeof err), 1);
    ck_assert_uint_eq(f.number, 1);
    ck_assert_uint_eq(f.u, 150);
    ck_assert_int_eq(tg_pb_next(&r, &f, w.buf, err, sizeof err), 1);
    ck_assert_int_eq(f.wire, TG_PB_LEN);
    ck_assert_uint_eq(f.len, 3);
    ck_assert_int_eq(tg_pb_next(&r, &f, w.buf, err, sizeof err), 1);
    ck_assert_int_eq(tg_pb_next(&r, &f, w.buf, err, sizeof err), 1);
    ck_assert_int_eq((int64_t)f.u, -1);
    ck_assert_int_eq(tg_pb_next(&r, &f, w.buf, err, sizeof err), 1);
    ck_assert_int_eq(f.wire, TG_PB_FIXED32);
    ck_assert_uint_eq(f.u, 0x3f800000u);
    ck_assert_int_eq(tg_pb_next(&r, &f, w.buf, err, sizeof err), 0);
    free(w.buf);
}
END_TEST

START_TEST(pb_reader_rejects_malformed)
{
    static const struct {
        uint8_t bytes[12];
        size_t len;
        const char *message;
    } cases[] = {
        {{0x08}, 1, "bad varint in field 1"},                                   /* value missing */
        {{0x08, 0x96}, 2, "bad varint in field 1"},                             /* varint cut */
        {{0x0b, 0x00}, 2, "unsupported wire type 3"},                           /* a group */
        {{0x0e, 0x00}, 2, "unsupported wire type 6"},
        {{0x12, 0x05, 0x61}, 3, "length 5 past the end"},
        {{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}, 6, "past the end"},
        {{0x0d, 0x00, 0x00}, 3, "4-byte value past the end"},
        {{0x09, 0x00}, 2, "8-byte value past the end"},
        {{0x00, 0x01}, 2, "bad field number 0"},
        {{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 11, "bad varint"}, /* > 64 bits */
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 11, "bad varint (field tag)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_pb_reader r = {cases[i].bytes, cases[i].bytes + cases[i].len};
        tg_pb_field f;
        char err[128] = "";
        ck_assert_int_eq(tg_pb_next(&r, &f, cases[i].bytes, err, sizeof err), -1);
        ck_assert_msg(strstr(err, cases[i].message), "case %zu: '%s' lacks '%s'", i, err, cases[i].message);
    }
}
END_TEST

/* ---- export ---- */

START_TEST(export_passes_onnx_checker)
{
    const char *py = onnx_python();
    const char *const specs[] = {all_kinds, conv1d_3d};
    for (int s = 0; s < 2; s++)
        for (int fold = 0; fold < 2; fold++) {
            tg_model *m = load_spec(specs[s]);
            char path[256], err[256], tag[16];
            snprintf(tag, sizeof tag, "chk%d%d", s, fold);
            temp_path(path, sizeof path, tag);
            ck_assert_msg(tg_onnx_export(m, path, fold, err, sizeof err) == TG_OK, "%s", err);
            if (py) ck_assert_msg(onnx_check(py, path) == 0, "onnx.checker rejects %s", path);
            unlink(path);
            tg_model_free(m);
        }
}
END_TEST

START_TEST(export_names_layers_it_cannot_write)
{
    static const struct {
        const char *spec, *message;
    } cases[] = {
        {"input 1x6x6\nconv2d out=2 kernel=3 padding=1 padding_mode=reflect\n", "export: layer 0 (conv2d): padding_mode"},
        {"input 1x6x6\nlocally_connected2d out=2 kernel=3\n", "export: layer 0 (locally_connected2d) has no ONNX form"},
        {"input 2x6x6\nrelu\nbatch_norm track_running_stats=0\n", "export: layer 1 (batch_norm): without running statistics"},
        {"input 1x6x6\ngelu approximate=tanh\n", "export: layer 0 (gelu): approximate=tanh"},
        {"input 1x6x6\navg_pool2d kernel=2 divisor_override=3\n", "divisor_override"},
        {"input 1x6x6\nflatten start_dim=0\n", "export: layer 0 (flatten): output [72,...] does not keep the batch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        tg_model *m = tg_model_parse(cases[i].spec, "spec", 1, err, sizeof err);
        ck_assert_msg(m != NULL, "case %zu: %s", i, err);
        uint8_t *bytes = (uint8_t *)"untouched";
        size_t len = 7;
        ck_assert_int_eq(tg_onnx_export_mem(m, false, &bytes, &len, err, sizeof err), TG_ERR_INVALID);
        ck_assert_msg(strstr(err, cases[i].message), "case %zu: '%s' lacks '%s'", i, err, cases[i].message);
        ck_assert_ptr_null(bytes);
        tg_model_free(m);
    }
}
END_TEST

Suite *suite_onnx(void)
{
    Suite *s = suite_create("onnx");
    TCase *tc = tt_tcase("onnx");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pb_writer_bytes);
    tcase_add_test(tc, pb_reader_rejects_malformed);
    tcase_add_test(tc, export_passes_onnx_checker);
    tcase_add_test(tc, export_names_layers_it_cannot_write);
    suite_add_tcase(s, tc);
    return s;
}
