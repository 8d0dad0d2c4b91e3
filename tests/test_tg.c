/* tests/test_tg.c — the `tg` command as a user (or an outside check) runs it: exit codes 0/1/2,
 * exactly one "tg: " line on stderr for every error, the files `tg op` writes (out, grads,
 * float64 in -> float64 out, optional inputs skipped with `none`, int64 labels), `tg gradcheck`,
 * and a sweep over every op in the table with wrong inputs that must never crash the tool.
 * TG_BIN names the binary (default build/tg); its sibling tg64 serves float64 and gradcheck. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char work_dir[64];
static char out_text[1 << 16], err_text[4096];

static void read_file(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs tg with the given words (NULL-terminated) in work_dir; stdout and stderr land in
 * out_text / err_text. Returns the exit status, or 128 + signal when it crashed. */
static int run_argv(char *const *words)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)tt_tg_binary();
    for (int i = 0; words[i] && argc < 63; i++) argv[argc++] = words[i];
    argv[argc] = NULL;
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s.stdout", work_dir);
    snprintf(err_path, sizeof err_path, "%s.stderr", work_dir);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || chdir(work_dir) != 0) _exit(125);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) ck_assert_int_eq(errno, EINTR);
    read_file(out_path, out_text, sizeof out_text);
    read_file(err_path, err_text, sizeof err_text);
    unlink(out_path);
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(const char *first, ...)
{
    char *words[64];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w && n < 63; w = va_arg(ap, const char *)) words[n++] = (char *)w;
    va_end(ap);
    words[n] = NULL;
    return run_argv(words);
}

/* The error contract: one line on stderr, "tg: " first. */
static void assert_one_error_line(const char *what)
{
    size_t len = strlen(err_text);
    ck_assert_msg(strncmp(err_text, "tg: ", 4) == 0, "%s: stderr '%s' lacks the 'tg: ' prefix", what, err_text);
    ck_assert_msg(len > 4 && err_text[len - 1] == '\n' && strchr(err_text, '\n') == err_text + len - 1,
                  "%s: stderr is not exactly one line: '%s'", what, err_text);
}

#define assert_fails(code, text, ...) assert_fails_at(__LINE__, (code), (text), __VA_ARGS__, (const char *)NULL)
static void assert_fails_at(int line, int code, const char *text, ...)
{
    char *words[64];
    int n = 0;
    va_list ap;
    va_start(ap, text);
    for (const char *w = va_arg(ap, const char *); w && n < 63; w = va_arg(ap, const char *)) words[n++] = (char *)w;
    va_end(ap);
    words[n] = NULL;
    int rc = run_argv(words);
    char what[64];
    snprintf(what, sizeof what, "line %d", line);
    ck_assert_msg(rc == code, "line %d: exit %d, expected %d (stderr '%s')", line, rc, code, err_text);
    assert_one_error_line(what);
    ck_assert_msg(strstr(err_text, text) != NULL, "line %d: stderr '%s' lacks '%s'", line, err_text, text);
}

static void setup(void)
{
    snprintf(work_dir, sizeof work_dir, "/tmp/tg_cli_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(work_dir));
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(path);
        else unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void teardown(void)
{
    if (work_dir[0]) remove_tree(work_dir);
    work_dir[0] = '\0';
}

static void write_npy(const char *name, const tg_tensor *t, tg_npy_dtype type)
{
    char path[PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    ck_assert_msg(tg_npy_save(path, t, type, err, sizeof err) == TG_OK, "%s", err);
}

static void write_bytes(const char *name, const void *bytes, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static tg_tensor *read_npy(const char *name, tg_npy_dtype *type)
{
    char path[PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    tg_tensor *t = NULL;
    ck_assert_msg(tg_npy_load(path, &t, type, err, sizeof err) == TG_OK, "%s", err);
    return tt_track(t);
}

static bool exists(const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    return access(path, F_OK) == 0;
}

/* a = [[1,2,3],[4,5,6]], b = [10,20,30], dy = [[1,-1,2],[0,3,1]] */
static void write_common_inputs(void)
{
    write_npy("a.npy", tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 2, 2, 3), TG_NPY_F32);
    write_npy("a64.npy", tt_tensorv((double[]){1, 2, 3, 4, 5, 6}, 2, 2, 3), TG_NPY_F64);
    write_npy("b.npy", tt_tensorv((double[]){10, 20, 30}, 1, 3), TG_NPY_F32);
    write_npy("c.npy", tt_tensorv((double[]){1, 2, 3, 4}, 1, 4), TG_NPY_F32);
    write_npy("dy.npy", tt_tensorv((double[]){1, -1, 2, 0, 3, 1}, 2, 2, 3), TG_NPY_F32);
    write_npy("labels.npy", tt_labels(2, (int64_t[]){1, 0}), TG_NPY_I64);
}

START_TEST(usage_errors_exit_1)
{
    write_common_inputs();
    assert_fails(1, "missing command", NULL);
    assert_fails(1, "unknown command 'frobnicate'", "frobnicate");
    assert_fails(1, "missing op name", "op");
    assert_fails(1, "unknown op 'no_such_op'", "op", "no_such_op", "a.npy");
    assert_fails(1, "add: unknown attribute 'stride'", "op", "add", "stride=2", "a.npy", "b.npy");
    assert_fails(1, "add expects 2 inputs (input, other), got 1", "op", "add", "a.npy");
    assert_fails(1, "add expects 2 inputs (input, other), got 3", "op", "add", "a.npy", "b.npy", "b.npy");
    assert_fails(1, "linear expects 2 to 3 inputs (input, weight[, bias]), got 1", "op", "linear", "a.npy");
    assert_fails(1, "unknown option '--bogus'", "op", "add", "a.npy", "b.npy", "--bogus");
    assert_fails(1, "--out needs a value", "op", "add", "a.npy", "b.npy", "--out");
    assert_fails(1, "add: other is required; 'none' only skips an optional input", "op", "add", "a.npy", "none");
    assert_fails(1, "unknown op 'nope'", "gradcheck", "nope", "2x3");
    assert_fails(1, "bad shape '2xx3'", "gradcheck", "relu", "2xx3");
    assert_fails(1, "tg: gradcheck: --seed: 'abc' is not a non-negative integer", "gradcheck", "relu", "2x3", "--seed", "abc");
    assert_fails(1, "relu expects 1 input (input), got 0", "gradcheck", "relu");
    assert_fails(1, "tg: bench: unknown option '--fast'", "bench", "--fast");
}
END_TEST

START_TEST(invalid_input_exits_2)
{
    write_common_inputs();
    assert_fails(2, "add: shapes [2,3] and [4] do not broadcast", "op", "add", "a.npy", "c.npy");
    assert_fails(2, "missing.npy: cannot open: No such file or directory", "op", "add", "a.npy", "missing.npy");
    assert_fails(2, "leaky_relu: bad value 'steep' for attribute negative_slope", "op", "leaky_relu",
                 "negative_slope=steep", "a.npy");
    assert_fails(2, "add: other (labels.npy) must be a float32 or float64 file, got int64", "op", "add", "a.npy",
                 "labels.npy");
    assert_fails(2, "cross_entropy: target (b.npy) must be an int64 file (class labels), got float32", "op",
                 "cross_entropy", "a.npy", "b.npy");
    assert_fails(2, "--grad-out b.npy has shape [3] but the output of add is [2,3]", "op", "add", "a.npy", "b.npy",
                 "--grad-out", "b.npy");
    assert_fails(2, "add: shapes [2,3] and [4] do not broadcast", "gradcheck", "add", "2x3", "4");

    /* corrupt files: garbage, truncated, big-endian, Fortran order */
    write_bytes("garbage.npy", "hello, world", 12);
    assert_fails(2, "garbage.npy: not a .npy file (bad magic)", "op", "relu", "garbage.npy");
    write_bytes("empty.npy", "", 0);
    assert_fails(2, "empty.npy: not a .npy file", "op", "relu", "empty.npy");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/a.npy", work_dir);
    FILE *f = fopen(path, "rb");
    unsigned char bytes[512];
    size_t len = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    write_bytes("truncated.npy", bytes, len - 3);
    assert_fails(2, "truncated.npy: truncated: shape [2,3] needs 24 data bytes, found 21", "op", "relu",
                 "truncated.npy");
    bytes[10 + 11] = '>'; /* the header at 10 starts "{'descr': '<f4'": the '<' */
    ck_assert_int_eq(bytes[10 + 10], '\'');
    write_bytes("big.npy", bytes, len);
    assert_fails(2, "big.npy: dtype '>f4' is big-endian; only little-endian is supported", "op", "relu", "big.npy");
    bytes[10 + 11] = '<';
    size_t at = 10;
    while (at + 5 < len && memcmp(bytes + at, "False", 5) != 0) at++;
    ck_assert(at + 5 < len);
    memcpy(bytes + at, "True ", 5);
    write_bytes("fortran.npy", bytes, len);
    assert_fails(2, "fortran.npy: fortran_order is True; only C order is supported", "op", "relu", "fortran.npy");
    ck_assert(!exists("out.npy")); /* nothing written on failure */
}
END_TEST

START_TEST(op_writes_out_and_grads)
{
    write_common_inputs();
    /* out = a + b (b broadcast over rows), into the current directory by default */
    ck_assert_msg(run("op", "add", "a.npy", "b.npy", NULL) == 0, "%s", err_text);
    ck_assert_str_eq(err_text, "");
    tg_npy_dtype type;
    tg_tensor *out = read_npy("out.npy", &type);
    ck_assert_int_eq(type, TG_NPY_F32);
    tt_assert_shape(out, 2, 3);
    tt_assert_close(out->data, ((double[]){11, 22, 33, 14, 25, 36}), 6, 0);

    /* y = a * b: dA = dy * b; dB = sum over rows of dy * a */
    ck_assert_msg(run("op", "mul", "a.npy", "b.npy", "--grad-out", "dy.npy", "--out", "res", NULL) == 0, "%s", err_text);
    tt_assert_close(read_npy("res/out.npy", NULL)->data, ((double[]){10, 40, 90, 40, 100, 180}), 6, 0);
    tg_tensor *g0 = read_npy("res/grad0.npy", NULL), *g1 = read_npy("res/grad1.npy", NULL);
    tt_assert_shape(g0, 2, 3);
    tt_assert_shape(g1, 3);
    tt_assert_close(g0->data, ((double[]){10, -20, 60, 0, 60, 30}), 6, 0);
    /* column j: 1*a[0][j]... dy[0]*a[0] + dy[1]*a[1] = [1*1+0*4, -1*2+3*5, 2*3+1*6] */
    tt_assert_close(g1->data, ((double[]){1, 13, 12}), 3, 0);
    ck_assert(!exists("res/grad2.npy") && !exists("res/updated0.npy"));
}
END_TEST

START_TEST(float64_inputs_give_float64_outputs)
{
    write_common_inputs();
    ck_assert_msg(run("op", "mul", "a64.npy", "b.npy", "--grad-out", "dy.npy", NULL) == 0, "%s", err_text);
    tg_npy_dtype type;
    tg_tensor *out = read_npy("out.npy", &type);
    ck_assert_int_eq(type, TG_NPY_F64);
    tt_assert_close(out->data, ((double[]){10, 40, 90, 40, 100, 180}), 6, 0);
    read_npy("grad1.npy", &type);
    ck_assert_int_eq(type, TG_NPY_F64);
}
END_TEST

START_TEST(optional_and_label_inputs)
{
    write_common_inputs();
    /* linear without bias: y = a W^T with W = [[1,0,0],[0,1,1]] */
    write_npy("w.npy", tt_tensorv((double[]){1, 0, 0, 0, 1, 1}, 2, 2, 3), TG_NPY_F32);
    write_npy("dy22.npy", tt_tensorv((double[]){1, 0, 0, 1}, 2, 2, 2), TG_NPY_F32);
    ck_assert_msg(run("op", "linear", "a.npy", "w.npy", "none", "--grad-out", "dy22.npy", NULL) == 0, "%s", err_text);
    tt_assert_close(read_npy("out.npy", NULL)->data, ((double[]){1, 5, 4, 11}), 4, 0);
    /* dW = dy^T a = [[1,2,3],[4,5,6]] with dy = I */
    tt_assert_close(read_npy("grad1.npy", NULL)->data, ((double[]){1, 2, 3, 4, 5, 6}), 6, 0);
    ck_assert(!exists("grad2.npy"));

    /* cross entropy of zero logits over 3 classes: ln 3; d logits = softmax - onehot, averaged */
    write_npy("z.npy", tt_tensorv((double[]){0, 0, 0, 0, 0, 0}, 2, 2, 3), TG_NPY_F32);
    write_npy("one.npy", tt_tensor(0, NULL, (double[]){1}), TG_NPY_F32);
    ck_assert_msg(run("op", "cross_entropy", "z.npy", "labels.npy", "--grad-out", "one.npy", "--out", "ce", NULL) == 0,
                  "%s", err_text);
    tg_tensor *loss = read_npy("ce/out.npy", NULL);
    ck_assert_int_eq(loss->ndim, 0);
    tt_assert_close(loss->data, ((double[]){log(3.0)}), 1, 1e-6);
    double third = 1.0 / 3 / 2, hit = (1.0 / 3 - 1) / 2;
    tt_assert_close(read_npy("ce/grad0.npy", NULL)->data, ((double[]){third, hit, third, hit, third, third}), 6, 1e-6);
    ck_assert(!exists("ce/grad1.npy")); /* labels get no gradient */
}
END_TEST

START_TEST(dot_and_listing)
{
    write_common_inputs();
    ck_assert_msg(run("op", "leaky_relu", "negative_slope=0.25", "a.npy", "--dot", "g.dot", NULL) == 0, "%s", err_text);
    char path[PATH_MAX], text[8192];
    snprintf(path, sizeof path, "%s/g.dot", work_dir);
    read_file(path, text, sizeof text);
    ck_assert_msg(strstr(text, "digraph") && strstr(text, "leaky_relu\\nnegative_slope=0.25") && strstr(text, "[2,3]"),
                  "%s", text);

    ck_assert_int_eq(run("ops", NULL), 0);
    ck_assert_msg(strstr(out_text, "conv2d") && strstr(out_text, "linear                 (input, weight[, bias])"),
                  "%s", out_text);
    ck_assert_int_eq(run("op", "--list", NULL), 0);
    ck_assert(strstr(out_text, "cross_entropy") != NULL);
    ck_assert_int_eq(run("--help", NULL), 0);
    ck_assert(strstr(out_text, "tg gradcheck NAME") != NULL);
}
END_TEST

START_TEST(gradcheck_command)
{
    ck_assert_msg(run("gradcheck", "mul", "2x3", "3", "--seed", "5", NULL) == 0, "%s", err_text);
    ck_assert_str_eq(err_text, "");
    ck_assert_msg(strstr(out_text, "input 0 input") && strstr(out_text, "[2,3]") && strstr(out_text, "checked 6 skipped 0 failed 0")
                      && strstr(out_text, "checked 3 skipped 0 failed 0") && strstr(out_text, "\nPASS mul"),
                  "%s", out_text);
    ck_assert_msg(run("gradcheck", "cross_entropy", "4x5", "4", NULL) == 0, "%s %s", out_text, err_text);
    ck_assert_msg(strstr(out_text, "not differentiated (int64 labels)") != NULL, "%s", out_text);
    ck_assert_msg(run("gradcheck", "linear", "3x4", "2x4", "none", NULL) == 0, "%s %s", out_text, err_text);
    ck_assert_msg(strstr(out_text, "input 2 bias       none") != NULL, "%s", out_text);
    ck_assert_msg(run("gradcheck", "leaky_relu", "negative_slope=0.1", "3x1x5", NULL) == 0, "%s", err_text);
}
END_TEST

/* bench and the model commands are dispatched to their own code (tools/bench*.c, cmd_nn.c) */
START_TEST(delegated_commands)
{
    ck_assert_msg(run("bench", "--filter", "no_such_case_zzz", "--threads", "1", NULL) == 0, "%s", err_text);
    ck_assert_str_eq(out_text, "");
    assert_fails(1, "tg: bench: --threads: '0' is out of range (must be from 1 to 64)", "bench", "--threads", "0");
    ck_assert_int_eq(run("summary", NULL), 1); /* usage error from tg_cmd_summary */
    char model[PATH_MAX];
    if (realpath("nn/models/lenet5.txt", model)) {
        ck_assert_msg(run("summary", model, NULL) == 0, "%s", err_text);
        ck_assert(strstr(out_text, "Total params: ") != NULL && strstr(out_text, "Total MACs: ") != NULL);
    }
}
END_TEST

/* `tg gradcheck` passes on every op in the table, each with attributes away from the defaults
 * (stride, dilation, groups, padding modes, ceil_mode, broadcasting, size-1 dims). */
START_TEST(gradcheck_every_op)
{
    static const char *const cases[] = {
        "add 2x3x1 3x4",
        "sub 2x3 1x3",
        "mul 2x1x4 3x1",
        "div 2x3 2x3",
        "neg 3x5",
        "exp 2x3",
        "log 2x3",
        "sqrt 2x3",
        "pow exponent=3 2x3",
        "matmul 2x3x4 4x5",
        "linear 3x4 2x4 2",
        "sum dim=1 keepdim=1 2x3x4",
        "mean dim=-1 2x3x4",
        "max dim=1 2x5x3",
        "reshape shape=3,-1 2x3x2",
        "flatten start_dim=1 2x3x2x2",
        "permute dims=2,0,1 2x3x4",
        "transpose dim0=0 dim1=2 2x3x4",
        "concat dim=1 2x3 2x2 2x1",
        "slice dim=1 start=1 end=5 step=2 2x6",
        "pad pad=1,2,0,1 mode=reflect 2x3x4x5",
        "relu 3x7",
        "leaky_relu negative_slope=0.2 3x7",
        "elu 3x7",
        "sigmoid 3x7",
        "tanh 3x7",
        "gelu 3x7",
        "softmax dim=1 3x7",
        "log_softmax dim=0 3x7",
        "cross_entropy 4x5 4",
        "nll_loss 4x5 4",
        "mse_loss 3x4 3x4",
        "l1_loss 3x4 3x4",
        "dropout p=0.3 4x5",
        "conv1d stride=2 padding=1 dilation=2 2x4x11 6x2x3 6 groups=2",
        "conv2d stride=2 padding=1 groups=2 padding_mode=reflect 2x4x7x9 6x2x3x3 6",
        "conv3d padding=1 stride=2 1x2x5x4x5 3x2x3x2x3 3",
        "conv_transpose1d stride=3 output_padding=2 padding=1 2x4x5 4x3x3 3",
        "conv_transpose2d stride=2 output_padding=1 groups=2 dilation=2 2x4x4x5 4x3x3x3 6",
        "conv_transpose3d stride=2 1x2x3x3x2 2x2x2x3x2 2",
        "locally_connected2d stride=2 1x2x7x7 3x3x4x2x3x3 4x3x3",
        "max_pool1d kernel_size=3 stride=2 padding=1 2x3x9",
        "max_pool2d kernel_size=3 stride=2 ceil_mode=1 dilation=1 2x3x8x7",
        "max_pool3d kernel_size=2 2x2x4x5x4",
        "avg_pool1d kernel_size=3 stride=2 padding=1 count_include_pad=0 2x3x9",
        "avg_pool2d kernel_size=3 stride=2 ceil_mode=1 2x3x8x7",
        "avg_pool3d kernel_size=2 stride=1 2x2x4x5x4",
        "global_avg_pool 2x3x5x4",
        "global_max_pool 2x3x5x4x3",
        "adaptive_avg_pool2d output_size=3,2 2x3x7x5",
        "adaptive_max_pool2d output_size=3,4 2x3x7x5",
        "max_unpool1d kernel_size=2 2x3x4 2x3x4",
        "max_unpool2d kernel_size=2 2x3x3x4 2x3x3x4",
        "max_unpool3d kernel_size=2 1x2x2x2x3 1x2x2x2x3",
        "batch_norm training=1 4x3x5x2 3 3 3 3",
        "layer_norm normalized_shape=5,2 4x3x5x2 5x2 5x2",
        "instance_norm 2x3x5x4 none none 3 3",
        "group_norm num_groups=2 2x4x3x5 4 4",
        "frn 2x3x5x4 3 3",
        "tlu 2x3x5x4 3",
    };
    const int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int op = 0; op < TG_OP_COUNT; op++) {
        const char *name = tg_op_get(op)->name;
        bool listed = false;
        for (int c = 0; c < n_cases && !listed; c++)
            listed = !strncmp(cases[c], name, strlen(name)) && cases[c][strlen(name)] == ' ';
        ck_assert_msg(listed, "op %s has no gradcheck case", name);
    }
    for (int c = 0; c < n_cases; c++) {
        char line[256], *words[32];
        int n = 0;
        snprintf(line, sizeof line, "gradcheck %s", cases[c]);
        for (char *w = strtok(line, " "); w && n < 31; w = strtok(NULL, " ")) words[n++] = w;
        words[n] = NULL;
        ck_assert_msg(run_argv(words) == 0, "tg %s: %s%s", cases[c], out_text, err_text);
        ck_assert_msg(strstr(out_text, "\nPASS ") || !strncmp(out_text, "PASS ", 5), "tg %s: %s", cases[c], out_text);
    }
}
END_TEST

/* Every op in the table, given wrong inputs, answers 0, 1 or 2 with one error line: never a crash. */
START_TEST(every_op_survives_wrong_inputs)
{
    write_common_inputs();
    write_npy("s.npy", tt_tensor(0, NULL, (double[]){0.5}), TG_NPY_F32);
    write_npy("e.npy", tt_tensorv(NULL, 2, 0, 3), TG_NPY_F32);
    int64_t shape4[4] = {1, 2, 3, 3};
    write_npy("x4.npy", tt_random(4, shape4, 1, -1, 1), TG_NPY_F32);
    char ops_text[sizeof out_text];
    ck_assert_int_eq(run("ops", NULL), 0);
    memcpy(ops_text, out_text, sizeof ops_text);
    /* a few wrong-input patterns per op (process starts dominate the time, so keep them few) */
    const char *const patterns[][4] = {
        {"a.npy"}, {"s.npy"}, {"x4.npy", "labels.npy", "a.npy"}, {"e.npy", "a.npy"}, {"labels.npy", "s.npy", "none"},
    };
    int runs = 0;
    for (char *line = strtok(ops_text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == ' ') continue;
        char name[64];
        if (sscanf(line, "%63s", name) != 1) continue;
        for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
            char *words[10];
            int n = 0;
            words[n++] = "op";
            words[n++] = name;
            for (int k = 0; k < 4 && patterns[p][k]; k++) words[n++] = (char *)patterns[p][k];
            words[n++] = "--grad-out";
            words[n++] = "s.npy";
            words[n] = NULL;
            int rc = run_argv(words);
            runs++;
            ck_assert_msg(rc <= 2, "tg op %s (pattern %zu): exit %d: %s", name, p, rc, err_text);
            if (rc) assert_one_error_line(name);
        }
        char *gc[] = {"gradcheck", name, "2x3", "2x3", NULL};
        int rc = run_argv(gc);
        ck_assert_msg(rc <= 2, "tg gradcheck %s: exit %d: %s", name, rc, err_text);
        if (rc == 2) assert_one_error_line(name);
    }
    ck_assert_int_gt(runs, 100);
}
END_TEST

Suite *suite_tg(void)
{
    Suite *s = suite_create("tg");
    TCase *tc = tt_tcase("tg");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, usage_errors_exit_1);
    tcase_add_test(tc, invalid_input_exits_2);
    tcase_add_test(tc, op_writes_out_and_grads);
    tcase_add_test(tc, float64_inputs_give_float64_outputs);
    tcase_add_test(tc, optional_and_label_inputs);
    tcase_add_test(tc, dot_and_listing);
    tcase_add_test(tc, gradcheck_command);
    tcase_add_test(tc, gradcheck_every_op);
    tcase_add_test(tc, delegated_commands);
    tcase_add_test(tc, every_op_survives_wrong_inputs);
    suite_add_tcase(s, tc);
    return s;
}
