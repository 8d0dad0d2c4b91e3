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

/* The subgraph layers on [N,C] inputs (no spatial dims) and a linear + BN at rank 3 (not foldable:
 * BN's channels are dim 1, the linear's features the last dim). */
static const char *const flat_kinds =
    "input 3x6\n"
    "linear out=4\n"
    "batch_norm\n"
    "flatten\n"
    "linear out=4\n"
    "frn\n"
    "tlu\n"
    "group_norm groups=2\n"
    "gelu\n";

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
    const char *const specs[] = {all_kinds, conv1d_3d, flat_kinds};
    for (int s = 0; s < 3; s++)
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
        /* 5 + 2 - 2 = 5 -> ceil(5/2) + 1 = 4 in ONNX; the 4th window would start in the padding: 3 */
        {"input 1x5x5\nmax_pool2d kernel=2 stride=2 padding=1 ceil_mode=1\n", "ceil_mode=1 ONNX makes dim 2 of size 4, tapegrad 3"},
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

/* ---- import ---- */

#define FIXTURE_DIR "tests/fixtures/onnx/"

/* Runs the model in eval mode on x and compares with want (abs tolerance tol). */
static void assert_forward_matches(tg_model *m, const tg_tensor *x, const tg_tensor *want, double tol, const char *what)
{
    tg_tape *t = tt_tape();
    tg_module_train(m->net, false);
    tg_tensor *y = tg_module_forward(m->net, t, (tg_tensor *)x);
    ck_assert_msg(y != NULL, "%s: %s", what, tg_error(t));
    ck_assert_msg(y->numel == want->numel, "%s: %lld outputs, want %lld", what, (long long)y->numel, (long long)want->numel);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_msg(fabs((double)y->data[i] - (double)want->data[i]) <= tol, "%s: output %lld is %.8g, want %.8g", what,
                      (long long)i, (double)y->data[i], (double)want->data[i]);
    tg_tape_reset(t);
}

START_TEST(pytorch_exports_match_pytorch)
{
    static const char *const names[] = {"lenet", "resblock", "concat", "depthwise"};
    for (int i = 0; i < 4; i++) {
        char path[256], err[512], *spec;
        snprintf(path, sizeof path, FIXTURE_DIR "%s.onnx", names[i]);
        tg_model *m = tg_onnx_import(path, &spec, err, sizeof err);
        ck_assert_msg(m != NULL, "%s", err);
        tg_tensor *x, *y;
        snprintf(path, sizeof path, FIXTURE_DIR "%s_x.npy", names[i]);
        ck_assert_int_eq(tg_npy_load(path, &x, NULL, err, sizeof err), TG_OK);
        snprintf(path, sizeof path, FIXTURE_DIR "%s_y.npy", names[i]);
        ck_assert_int_eq(tg_npy_load(path, &y, NULL, err, sizeof err), TG_OK);
        tt_track(x), tt_track(y);
        assert_forward_matches(m, x, y, 1e-4, names[i]);
        /* the spec text is what `tg import` writes: it parses to the same layers */
        tg_model *again = tg_model_parse(spec, names[i], 0, err, sizeof err);
        ck_assert_msg(again != NULL, "%s", err);
        ck_assert_int_eq(again->net->n_children, m->net->n_children);
        tg_model_free(again);
        free(spec);
        tg_model_free(m);
    }
}
END_TEST

/* What export writes and import reads back: every layer kind both sides know. */
static const char *const importable[] = {
    "input 2x10x10\n"
    "conv2d out=4 kernel=3 padding=1 id=a\n"
    "batch_norm\n"
    "relu\n"
    "conv2d out=4 kernel=3,1 padding=same groups=2 dilation=2\n"
    "batch_norm\n"
    "add from=a\n"
    "max_pool2d kernel=3 stride=2 padding=1 ceil_mode=1\n"
    "conv_transpose2d out=3 kernel=3 stride=2 padding=1 output_padding=1\n"
    "instance_norm affine=1\n"
    "leaky_relu slope=0.2\n"
    "avg_pool2d kernel=3 stride=1 padding=1 count_include_pad=0\n"
    "instance_norm affine=1 track_running_stats=1\n"
    "sigmoid\n"
    "layer_norm normalized_shape=12\n"
    "elu alpha=0.7\n"
    "tanh\n"
    "global_avg_pool\n"
    "flatten\n"
    "linear out=6\n"
    "batch_norm\n"
    "dropout p=0.3\n"
    "linear out=5\n"
    "softmax\n",
    "input 2x6x6x6\n"
    "conv3d out=3 kernel=3 padding=1 stride=2\n"
    "batch_norm\n"
    "max_pool3d kernel=2 stride=1\n"
    "conv_transpose3d out=4 kernel=2\n"
    "avg_pool3d kernel=2\n"
    "reshape shape=-1,2,2\n"
    "linear out=3\n"
    "log_softmax dim=2\n",
    "input 3x6\n" /* BN over dim 1 after a linear on the last dim: must not fold */
    "linear out=4\n"
    "batch_norm\n"
    "flatten\n"
    "linear out=2\n",
    "input 2x12\n"
    "conv1d out=3 kernel=3 padding=1 bias=0\n"
    "global_max_pool\n"
    "concat from=.,.\n"
    "flatten\n"
    "linear out=3 bias=0\n",
};

START_TEST(export_then_import_gives_the_same_outputs)
{
    for (size_t s = 0; s < sizeof importable / sizeof importable[0]; s++)
        for (int fold = 0; fold < 2; fold++) {
            tg_model *m = load_spec(importable[s]);
            uint8_t *bytes;
            size_t len;
            char err[512];
            ck_assert_msg(tg_onnx_export_mem(m, fold, &bytes, &len, err, sizeof err) == TG_OK, "%s", err);
            tg_model *back = tg_onnx_import_mem(bytes, len, "roundtrip", NULL, err, sizeof err);
            ck_assert_msg(back != NULL, "spec %zu fold %d: %s", s, fold, err);
            free(bytes);
            int64_t shape[5] = {3};
            for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
            tg_tensor *x = tt_random(m->in_ndim + 1, shape, 3 + s, -2, 2);
            /* the reference: the original model's own eval forward */
            tg_tape *t = tt_tape();
            tg_module_train(m->net, false);
            tg_tensor *y = tg_module_forward(m->net, t, x);
            ck_assert_msg(y != NULL, "%s", tg_error(t));
            tg_tensor *want = tt_tensor(y->ndim, y->shape, NULL);
            memcpy(want->data, y->data, (size_t)y->numel * sizeof(tg_real));
            tg_tape_reset(t);
            /* float32 weights in the file: 1e-5 in both builds */
            assert_forward_matches(back, x, want, 1e-5, "roundtrip");
            tg_model_free(back);
            tg_model_free(m);
        }
}
END_TEST

START_TEST(tg_import_and_export_commands)
{
    char cmd[1024], dir[] = "/tmp/tg_onnx_cmd_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *tg = tt_tg_binary();
    snprintf(cmd, sizeof cmd,
             "cd %s && %s import %s/" FIXTURE_DIR "resblock.onnx -o m.txt --ckpt m.ckpt >/dev/null && "
             "%s export m.txt --ckpt m.ckpt -o back.onnx --fold-bn >/dev/null && "
             "%s import back.onnx -o m2.txt --ckpt m2.ckpt >/dev/null",
             dir, tg, getenv("PWD") ? getenv("PWD") : ".", tg, tg);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    /* the model the commands wrote twice computes what PyTorch computed */
    char path[512], err[512];
    tg_tensor *x, *y;
    ck_assert_int_eq(tg_npy_load(FIXTURE_DIR "resblock_x.npy", &x, NULL, err, sizeof err), TG_OK);
    ck_assert_int_eq(tg_npy_load(FIXTURE_DIR "resblock_y.npy", &y, NULL, err, sizeof err), TG_OK);
    tt_track(x), tt_track(y);
    snprintf(path, sizeof path, "%s/m2.txt", dir);
    tg_model *m = tg_model_load(path, 0, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/m2.ckpt", dir);
    ck_assert_msg(tg_checkpoint_load(path, m->net, NULL, NULL, NULL, err, sizeof err) == TG_OK, "%s", err);
    assert_forward_matches(m, x, y, 1e-4, "tg import/export/import");
    tg_model_free(m);
    /* errors: one line naming the op; usage errors exit 1 */
    snprintf(cmd, sizeof cmd, "%s import %s/" FIXTURE_DIR "unsupported_clip.onnx -o %s/u.txt --ckpt %s/u.ckpt 2>%s/err; "
             "test $? = 2 && grep -q \"^tg: import: .*unsupported op 'Clip' (node '/Clip')$\" %s/err && "
             "test $(wc -l < %s/err) = 1", tg, getenv("PWD") ? getenv("PWD") : ".", dir, dir, dir, dir, dir);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s import x.onnx --ckpt c 2>/dev/null; test $? = 1", tg);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
}
END_TEST

/* A ModelProto around one graph built by the caller's function. */
typedef void (*graph_fn)(tg_pb_writer *w, int variant);

static void value(tg_pb_writer *w, int field, const char *name, int ndim, const int64_t *dims)
{
    const size_t v = tg_pb_begin(w, (uint32_t)field);
    tg_pb_string(w, 1, name);
    const size_t t = tg_pb_begin(w, 2), tt = tg_pb_begin(w, 1);
    tg_pb_int(w, 1, 1);
    const size_t s = tg_pb_begin(w, 2);
    for (int i = 0; i < ndim; i++) {
        const size_t d = tg_pb_begin(w, 1);
        tg_pb_int(w, 1, dims[i]);
        tg_pb_end(w, d);
    }
    tg_pb_end(w, s), tg_pb_end(w, tt), tg_pb_end(w, t), tg_pb_end(w, v);
}

/* A Gemm model x:[N,2] -> y:[N,3]; variant breaks one thing. */
static uint8_t *small_model(int variant, size_t *len)
{
    tg_pb_writer w = {0};
    tg_pb_int(&w, 1, 8);
    const size_t op = tg_pb_begin(&w, 8);
    tg_pb_int(&w, 2, variant == 1 ? 9 : 13);
    tg_pb_end(&w, op);
    const size_t g = tg_pb_begin(&w, 7);
    const size_t n = tg_pb_begin(&w, 1);
    tg_pb_string(&w, 1, "x"), tg_pb_string(&w, 1, "W"), tg_pb_string(&w, 2, "y");
    tg_pb_string(&w, 4, variant == 2 ? "Gemmm" : "Gemm");
    const size_t a = tg_pb_begin(&w, 5);
    tg_pb_string(&w, 1, "transB"), tg_pb_int(&w, 20, 2), tg_pb_int(&w, 3, 1);
    tg_pb_end(&w, a);
    tg_pb_end(&w, n);
    const size_t t = tg_pb_begin(&w, 5);
    const int64_t dims[2] = {3, variant == 3 ? (int64_t)1 << 40 : 2};
    tg_pb_int(&w, 1, dims[0]), tg_pb_int(&w, 1, dims[1]);
    tg_pb_int(&w, 2, variant == 4 ? 16 : 1);
    tg_pb_string(&w, 8, "W");
    float vals[6] = {1, 2, 3, 4, 5, 6};
    tg_pb_bytes(&w, 9, vals, variant == 5 ? 20 : 24);
    if (variant == 6) tg_pb_int(&w, 14, 1);
    tg_pb_end(&w, t);
    value(&w, 11, "x", 2, (const int64_t[]){1, 2});
    if (variant == 7) value(&w, 11, "x2", 2, (const int64_t[]){1, 2});
    value(&w, 12, "y", 2, (const int64_t[]){1, 3});
    tg_pb_end(&w, g);
    *len = w.len;
    return w.buf;
}

START_TEST(import_rejects_malformed_files)
{
    static const char *const messages[] = {
        NULL,
        "opset 9: need 13 or newer",
        "unsupported op 'Gemmm' (node '')",
        "dim 1099511627776 out of range",
        "tensor 'W': element type 16 is not float",
        "tensor 'W': 5 values stored for 6 elements",
        "external data is not supported",
        "more than one input ('x', 'x2')",
    };
    char err[512];
    for (int v = 0; v < 8; v++) {
        size_t len;
        uint8_t *bytes = small_model(v, &len);
        tg_model *m = tg_onnx_import_mem(bytes, len, "small.onnx", NULL, err, sizeof err);
        if (!messages[v]) {
            ck_assert_msg(m != NULL, "%s", err);
            /* y = x W^T with W = [[1,2],[3,4],[5,6]]: x = (1, -1) gives (-1, -1, -1) */
            tg_tensor *x = tt_tensorv((const double[]){1, -1}, 2, (int64_t)1, (int64_t)2);
            tg_tensor *want = tt_tensorv((const double[]){-1, -1, -1}, 2, (int64_t)1, (int64_t)3);
            assert_forward_matches(m, x, want, 1e-6, "small");
            tg_model_free(m);
            /* every truncation of it is an error, never a crash or a model */
            for (size_t cut = 0; cut < len; cut++) {
                tg_model *part = tg_onnx_import_mem(bytes, cut, "cut.onnx", NULL, err, sizeof err);
                ck_assert_msg(part == NULL, "a file cut at %zu of %zu bytes loaded", cut, len);
                ck_assert_msg(!strncmp(err, "import: cut.onnx: ", 18), "%s", err);
            }
        } else {
            ck_assert_ptr_null(m);
            ck_assert_msg(strstr(err, messages[v]), "variant %d: '%s' lacks '%s'", v, err, messages[v]);
        }
        free(bytes);
    }
    /* bad wire types and lengths past the end inside a real PyTorch file */
    uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(tg_read_file(FIXTURE_DIR "concat.onnx", 1 << 20, &bytes, &len, err, sizeof err), TG_OK);
    for (size_t i = 0; i < len; i += 3) { /* every third byte flipped: no crash; a load is a whole model */
        const uint8_t keep = bytes[i];
        bytes[i] ^= 0xff;
        tg_model *m = tg_onnx_import_mem(bytes, len, "flip.onnx", NULL, err, sizeof err);
        if (m) ck_assert_int_gt(m->net->n_children, 0);
        else ck_assert_msg(!strncmp(err, "import: flip.onnx: ", 19), "%s", err);
        tg_model_free(m);
        bytes[i] = keep;
    }
    for (size_t cut = 0; cut < len; cut += 7) {
        ck_assert_ptr_null(tg_onnx_import_mem(bytes, cut, "cut.onnx", NULL, err, sizeof err));
    }
    free(bytes);
    ck_assert_ptr_null(tg_onnx_import(FIXTURE_DIR "missing.onnx", NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "missing.onnx"));
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
    tcase_add_test(tc, pytorch_exports_match_pytorch);
    tcase_add_test(tc, export_then_import_gives_the_same_outputs);
    tcase_add_test(tc, tg_import_and_export_commands);
    tcase_add_test(tc, import_rejects_malformed_files);
    suite_add_tcase(s, tc);
    return s;
}
