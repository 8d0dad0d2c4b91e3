/* tests/test_tg.c — the `tg` command as a user (or an outside check) runs it: exit codes 0/1/2,
 * exactly one "tg: " line on stderr for every error, the files `tg op` writes (out, grads,
 * float64 in -> float64 out, optional inputs skipped with `none`, int64 labels), `tg gradcheck`,
 * and a sweep over every op in the table with wrong inputs that must never crash the tool.
 * TG_BIN names the binary (default build/tg); its sibling tg64 serves float64 and gradcheck. */
#include "util.h"

#include "../nn/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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
    if (realpath("models/lenet5.txt", model)) {
        ck_assert_msg(run("summary", model, NULL) == 0, "%s", err_text);
        ck_assert(strstr(out_text, "Total params: ") != NULL && strstr(out_text, "Total MACs: ") != NULL);
    }
}
END_TEST

/* The tape line of `tg summary`: before the totals (which stay last), and it grows with the batch
 * by at least what the activations and their gradients need. For input 1x4x4 -> conv2d out=2
 * kernel=3 ([2,2,2]: 8 values) -> flatten -> linear out=3 (3 values), each extra sample adds at
 * least its input (16 values), the conv output and its gradient (2 x 8), the logits and their
 * gradient (2 x 3): 38 values. */
static unsigned long long summary_peak(const char *batch)
{
    ck_assert_msg(run("summary", "peak.txt", "--batch", batch, NULL) == 0, "%s", err_text);
    const char *tape = strstr(out_text, "Tape peak (one training step, batch ");
    ck_assert_msg(tape != NULL, "%s", out_text);
    /* params: conv 2*9+2 = 20, linear 8*3+3 = 27; MACs: 8*9 = 72, 8*3 = 24 */
    static const char totals[] = "\nTotal params: 47\nTotal MACs: 96\n";
    const size_t n = strlen(out_text), nt = strlen(totals);
    ck_assert_msg(n > nt && !strcmp(out_text + n - nt, totals) && strchr(tape, '\n') == out_text + n - nt,
                  "the tape line, then the totals, last:\n%s", out_text);
    long long b = 0;
    unsigned long long bytes = 0;
    ck_assert_int_eq(sscanf(tape, "Tape peak (one training step, batch %lld): %llu bytes", &b, &bytes), 2);
    ck_assert_int_eq(b, atoll(batch));
    return bytes;
}

START_TEST(summary_reports_the_tape_peak)
{
    static const char spec[] = "input 1x4x4\nconv2d out=2 kernel=3\nflatten\nlinear out=3\n";
    write_bytes("peak.txt", spec, strlen(spec));
    const unsigned long long one = summary_peak("1"), many = summary_peak("101");
    ck_assert_uint_gt(one, 0);
    ck_assert_msg(many >= one + 100ull * 38 * sizeof(float), "batch 1: %llu bytes, batch 101: %llu", one, many);
    assert_fails(1, "tg: summary: --batch: '0' is out of range (must be from 1 to 1048576)", "summary", "peak.txt",
                 "--batch", "0");
}
END_TEST

/* `tg bench --model FILE` measures a user's spec: its three cases named after the file, nothing
 * else; a missing file or a bad spec is a one-line error and exit 2. */
START_TEST(bench_runs_a_model_file)
{
    static const char spec[] = "input 2x10x10\nconv2d out=4 kernel=3 padding=1\nbatch_norm\nelu\nmax_pool2d kernel=2\n"
                               "flatten\nlinear out=3\n";
    write_bytes("mine.txt", spec, strlen(spec));
    ck_assert_msg(run("bench", "--model", "mine.txt", "--threads", "1", "--seconds", "0.01", NULL) == 0, "%s", err_text);
    const char *names[] = {"\"train_mine\"", "\"infer_mine_b1\"", "\"infer_mine_b64\""};
    int lines = 0;
    for (const char *p = out_text; (p = strchr(p, '{')); p++) lines++;
    ck_assert_msg(lines == 3, "%s", out_text);
    for (int i = 0; i < 3; i++) ck_assert_msg(strstr(out_text, names[i]), "%s missing:\n%s", names[i], out_text);
    ck_assert_msg(run("bench", "--model", "mine.txt", "--filter", "infer_mine_b64", "--threads", "1", "--seconds",
                      "0.01", NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "infer_mine_b64") && !strstr(out_text, "train_mine"), "%s", out_text);
    ck_assert_int_eq(run("bench", "--model", "no_such_model.txt", NULL), 2);
    ck_assert_msg(strstr(err_text, "cannot open 'no_such_model.txt'"), "%s", err_text);
    static const char bad[] = "input 2x10x10\nconv2d out=4 kernal=3\n";
    write_bytes("bad_model.txt", bad, strlen(bad));
    ck_assert_int_eq(run("bench", "--model", "bad_model.txt", "--seconds", "0.01", NULL), 2);
    ck_assert_msg(strstr(err_text, "conv2d"), "%s", err_text);
}
END_TEST

/* `tg bench` carries the zoo inside the binary: a whole-model case runs from a directory without
 * models/ and reports images/s, threads and both memory figures. */
START_TEST(bench_zoo_case_runs_anywhere)
{
    ck_assert_msg(run("bench", "--filter", "infer_lenet5_b1", "--threads", "1", NULL) == 0, "%s", err_text);
    ck_assert_msg(strncmp(out_text, "{\"name\":\"infer_lenet5_b1\",\"shape\":\"1x1x28x28\"", 44) == 0, "%s", out_text);
    double img_per_s = 0;
    int threads = 0;
    unsigned long long tape = 0, rss = 0;
    const char *f = strstr(out_text, "\"img_per_s\":");
    ck_assert_msg(f && sscanf(f, "\"img_per_s\":%lf,\"threads\":%d,\"tape_peak_bytes\":%llu,\"max_rss_bytes\":%llu",
                              &img_per_s, &threads, &tape, &rss) == 4, "%s", out_text);
    ck_assert(img_per_s > 0);
    ck_assert_int_eq(threads, 1);
    /* the input alone is 784 floats; a process holding the tape has at least that much resident */
    ck_assert_uint_gt(tape, 784 * sizeof(float));
    ck_assert_uint_gt(rss, tape);
    ck_assert_ptr_null(strchr(strchr(out_text, '\n') + 1, '{')); /* one case, not the b64 one */
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

/* ---- tg train, tg summary: a tiny data set and model written per test ---- */

/* 4x4 images of 3 classes: class k lights row k, so a linear model learns it in a few steps. */
#define TOY_SIDE 4
#define TOY_CLASSES 3

static void write_idx(const char *name, const unsigned char *header, size_t header_len, const unsigned char *body,
                      size_t body_len)
{
    unsigned char *all = malloc(header_len + body_len);
    ck_assert_ptr_nonnull(all);
    memcpy(all, header, header_len);
    memcpy(all + header_len, body, body_len);
    write_bytes(name, all, header_len + body_len);
    free(all);
}

/* data/{train,t10k}-{images-idx3,labels-idx1}-ubyte (raw IDX, big-endian sizes) and toy.txt */
static void write_toy_data(int n_train, int n_test)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/data", work_dir);
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    const char *const prefixes[2] = {"train", "t10k"};
    const int counts[2] = {n_train, n_test};
    for (int k = 0; k < 2; k++) {
        const int n = counts[k];
        unsigned char ih[16] = {0, 0, 8, 3, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                                (unsigned char)n, 0, 0, 0, TOY_SIDE, 0, 0, 0, TOY_SIDE};
        unsigned char lh[8] = {0, 0, 8, 1, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                               (unsigned char)n};
        unsigned char *pixels = calloc((size_t)n * TOY_SIDE * TOY_SIDE, 1), *labels = malloc((size_t)n);
        ck_assert(pixels && labels);
        for (int i = 0; i < n; i++) {
            labels[i] = (unsigned char)(i % TOY_CLASSES);
            for (int x = 0; x < TOY_SIDE; x++) pixels[(size_t)i * TOY_SIDE * TOY_SIDE + labels[i] * TOY_SIDE + x] = 255;
        }
        char name[64];
        snprintf(name, sizeof name, "data/%s-images-idx3-ubyte", prefixes[k]);
        write_idx(name, ih, sizeof ih, pixels, (size_t)n * TOY_SIDE * TOY_SIDE);
        snprintf(name, sizeof name, "data/%s-labels-idx1-ubyte", prefixes[k]);
        write_idx(name, lh, sizeof lh, labels, (size_t)n);
        free(pixels), free(labels);
    }
    static const char spec[] = "input 1x4x4\nflatten\nlinear out=3\n";
    write_bytes("toy.txt", spec, sizeof spec - 1);
}

/* No byte of stderr but its final newline is outside printable ASCII. */
static void assert_stderr_printable(const char *what)
{
    size_t len = strlen(err_text);
    for (size_t i = 0; i + 1 < len; i++)
        ck_assert_msg((unsigned char)err_text[i] >= 0x20 && (unsigned char)err_text[i] < 0x7f,
                      "%s: stderr byte %zu is 0x%02x: '%s'", what, i, (unsigned char)err_text[i], err_text);
}

/* Every option value is parsed completely or named with the option: nothing falls back to a default. */
START_TEST(train_rejects_bad_options)
{
    write_toy_data(24, 6);
#define TRAIN "train", "toy.txt", "--data", "data"
    assert_fails(1, "tg: train: --lr: 'abc' is not a number", TRAIN, "--lr", "abc");
    assert_fails(1, "tg: train: --lr: '0.1x' is not a number", TRAIN, "--lr", "0.1x");
    assert_fails(1, "tg: train: --lr: '' is not a number", TRAIN, "--lr=");
    assert_fails(1, "tg: train: --lr: '0' is out of range (must be > 0)", TRAIN, "--lr", "0");
    assert_fails(1, "tg: train: --lr: 'nan' is not a finite number", TRAIN, "--lr", "nan");
    assert_fails(1, "tg: train: --lr: '1e999' is not a finite number", TRAIN, "--lr", "1e999");
    assert_fails(1, "tg: train: --momentum: '1' is out of range (must be >= 0 and < 1)", TRAIN, "--momentum", "1");
    assert_fails(1, "tg: train: --weight-decay: '-0.1' is out of range (must be >= 0)", TRAIN, "--weight-decay", "-0.1");
    assert_fails(1, "tg: train: --epochs: '1.5' is not an integer", TRAIN, "--epochs", "1.5");
    assert_fails(1, "tg: train: --epochs: '0' is out of range (must be from 1 to 1000000)", TRAIN, "--epochs", "0");
    assert_fails(1, "tg: train: --epochs: '99999999999999999999' is out of range", TRAIN, "--epochs",
                 "99999999999999999999");
    assert_fails(1, "tg: train: --batch: '-3' is out of range (must be from 1 to 1048576)", TRAIN, "--batch", "-3");
    assert_fails(1, "tg: train: --batch: ' 8' is not an integer", TRAIN, "--batch", " 8");
    assert_fails(1, "tg: train: --threads: '65' is out of range (must be from 1 to 64)", TRAIN, "--threads", "65");
    assert_fails(1, "tg: train: --limit: '0' is out of range (must be at least 1)", TRAIN, "--limit", "0");
    assert_fails(1, "tg: train: --seed: '-1' is not a non-negative integer", TRAIN, "--seed", "-1");
    assert_fails(1, "tg: train: --seed: '18446744073709551616' is out of range", TRAIN, "--seed", "18446744073709551616");
    assert_fails(1, "tg: train: --optim: 'rmsprp' is not one of sgd|adam|adamw|rmsprop", TRAIN, "--optim", "rmsprp");
    assert_fails(1, "tg: train: unknown option '--epoch' (did you mean --epochs?)", TRAIN, "--epoch", "1");
    assert_fails(1, "tg: train: unknown option '--frobnicate' (tg train --help lists them)", TRAIN, "--frobnicate");
    assert_fails(1, "tg: train: --augment takes no value (got '1')", TRAIN, "--augment=1");
    assert_fails(1, "tg: train: --epochs needs a value (--epochs E)", TRAIN, "--epochs");
    assert_fails(1, "tg: train: --save needs a value (--save FILE)", TRAIN, "--save", "--augment");
    assert_fails(1, "tg: train: unexpected argument 'extra' (the model is 'toy.txt')", TRAIN, "extra");
    assert_fails(1, "tg: train: --data DIR|X.npy,y.npy|FILE.csv is required", "train", "toy.txt");
    assert_fails(1, "tg: train: --data needs a value (--data DIR|X.npy,y.npy|FILE.csv)", "train", "toy.txt", "--data");
    assert_fails(1, "tg: train: MODEL (a model spec file) is required", "train", "--data", "data");
    /* argv bytes are quoted escaped */
    assert_fails(1, "tg: train: --lr: '1\\x1b[31m' is not a number", TRAIN, "--lr", "1\x1b[31m");
    assert_stderr_printable("--lr with an escape");
    /* the other commands parse the same way */
    assert_fails(1, "tg: summary: unexpected argument 'b.txt'", "summary", "toy.txt", "b.txt");
    assert_fails(1, "tg: summary: unknown option '-x'", "summary", "toy.txt", "-x");
    assert_fails(1, "tg: dot: -o needs a value (-o FILE)", "dot", "toy.txt", "-o");
    assert_fails(1, "tg: op: --out needs a value", "op", "relu", "a.npy", "--out");
    assert_fails(1, "tg: bench: --threads: 'two' is not an integer", "bench", "--threads", "two");
    assert_fails(1, "tg: bench: unexpected argument 'conv'", "bench", "conv");
    assert_fails(1, "tg: gradcheck: --seed: '1.5' is not a non-negative integer", "gradcheck", "relu", "2x3", "--seed",
                 "1.5");
#undef TRAIN
}
END_TEST

/* The usage lists every option (it is printed from the table that parses them) */
START_TEST(usage_lists_every_option)
{
    ck_assert_int_eq(run("--help", NULL), 0);
    static const char *const train_options[] = {
        "--data DIR|X.npy,y.npy|FILE.csv", "--test DIR|X.npy,y.npy|FILE.csv", "--label COL",
        "--loss cross_entropy|mse|l1", "--val-split F", "--epochs E", "--batch B", "--lr X", "--optim sgd|adam|adamw|rmsprop", "--momentum M",
        "--weight-decay W", "--threads T", "--seed S", "--save FILE", "--resume FILE", "--limit N", "--csv FILE",
        "--filters PNG", "--augment", "--detect-anomaly", "--step-csv FILE", "--log-every N", "--warmup N",
        "--warmup-start F", "--clip-norm MAX", "--clip-value V", "--agc LAMBDA", "--label-smoothing EPS"};
    for (size_t i = 0; i < sizeof train_options / sizeof train_options[0]; i++)
        ck_assert_msg(strstr(out_text, train_options[i]) != NULL, "tg --help lacks %s", train_options[i]);
    ck_assert(strstr(out_text, "tg: COMMAND: reason") != NULL);
    ck_assert_int_eq(run("train", "--help", NULL), 0);
    ck_assert(strstr(out_text, "usage: tg train MODEL --data DIR|X.npy,y.npy|FILE.csv [--test DIR|X.npy,y.npy|FILE.csv]") != NULL);
    ck_assert_msg(strstr(out_text, "--lr X") && strstr(out_text, "> 0; default 0.02"), "%s", out_text);
    ck_assert_int_eq(run("gradcheck", "--help", NULL), 0);
    ck_assert(strstr(out_text, "--seed N") != NULL);
}
END_TEST

/* Output files and the batch size are checked before any step; img/s is never NaN. */
START_TEST(train_checks_before_training)
{
    write_toy_data(24, 6);
#define TRAIN "train", "toy.txt", "--data", "data", "--epochs", "1"
    assert_fails(2, "tg: train: --batch 100000 is larger than the training set (16 images, from --limit)", TRAIN,
                 "--batch", "100000", "--limit", "16");
    ck_assert_str_eq(out_text, ""); /* no epoch line, no img/s */
    assert_fails(2, "tg: train: --batch 25 is larger than the training set (24 images)", TRAIN, "--batch", "25");
    assert_fails(2, "tg: train: --csv: cannot write '/nonexistent/dir/m.csv': No such file or directory", TRAIN, "--csv",
                 "/nonexistent/dir/m.csv");
    assert_fails(2, "tg: train: --save: cannot write '/nonexistent/dir/m.ckpt': No such file or directory", TRAIN,
                 "--save", "/nonexistent/dir/m.ckpt");
    assert_fails(2, "tg: train: --save: cannot write 'data': Is a directory", TRAIN, "--save", "data");
    assert_fails(2, "tg: train: --filters: cannot write 'toy.txt/f.png': Not a directory", TRAIN, "--filters",
                 "toy.txt/f.png");
    assert_fails(2, "tg: dot: -o: cannot write '/nonexistent/g.dot': No such file or directory", "dot", "toy.txt", "-o",
                 "/nonexistent/g.dot");
    ck_assert(!exists("m.csv"));

    /* a run that works: every value of the output finite, the files written */
    ck_assert_msg(run(TRAIN, "--batch", "8", "--lr", "0.5", "--optim", "rmsprop", "--momentum", "0", "--csv", "m.csv",
                      "--save", "m.ckpt", NULL) == 0,
                  "%s", err_text);
    ck_assert_str_eq(err_text, "");
    ck_assert_msg(strstr(out_text, "epoch 1 train_loss ") && strstr(out_text, "\ntest_acc ") &&
                      strstr(out_text, "\ntrain_img_per_s ") && !strstr(out_text, "nan") && !strstr(out_text, "inf"),
                  "%s", out_text);
    char path[PATH_MAX], text[1024];
    snprintf(path, sizeof path, "%s/m.csv", work_dir);
    read_file(path, text, sizeof text);
    ck_assert_msg(!strncmp(text, "epoch,train_loss", 16) && strstr(text, "\n1,"), "%s", text);
    ck_assert(exists("m.ckpt"));
    /* and resumes from its checkpoint */
    ck_assert_msg(run(TRAIN, "--batch", "8", "--optim", "rmsprop", "--resume", "m.ckpt", NULL) == 0, "%s", err_text);
    ck_assert(strstr(out_text, "resumed from m.ckpt") != NULL);
#undef TRAIN
}
END_TEST

/* The model work_dir/model_name with the weights, normalisation statistics and epoch count (epoch
 * may be NULL) of the checkpoint work_dir/ckpt_name. */
static tg_model *load_trained(const char *model_name, const char *ckpt_name, tg_norm_stats *norm, int64_t *epoch)
{
    char model_path[PATH_MAX], ckpt_path[PATH_MAX], err[512];
    snprintf(model_path, sizeof model_path, "%s/%s", work_dir, model_name);
    snprintf(ckpt_path, sizeof ckpt_path, "%s/%s", work_dir, ckpt_name);
    tg_model *m = tg_model_load(model_path, 0, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_checkpoint_extra extra = {.norm = norm, .epoch = epoch};
    ck_assert_msg(tg_checkpoint_load_ex(ckpt_path, m->net, NULL, NULL, NULL, &extra, err, sizeof err) == TG_OK, "%s", err);
    return m;
}

/* x (float32) and y (int64) saved as work_dir/x_name and work_dir/y_name, then freed. */
static void save_npy_pair(const char *x_name, tg_tensor *x, const char *y_name, tg_tensor *y)
{
    char path[PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/%s", work_dir, x_name);
    ck_assert_msg(tg_npy_save(path, x, TG_NPY_F32, err, sizeof err) == TG_OK, "%s", err);
    snprintf(path, sizeof path, "%s/%s", work_dir, y_name);
    ck_assert_msg(tg_npy_save(path, y, TG_NPY_I64, err, sizeof err) == TG_OK, "%s", err);
    tg_tensor_free(x), tg_tensor_free(y);
}

/* Own data as .npy pairs: N x F features with int64 labels, a --test pair or --val-split, per-feature
 * statistics from the training data stored in the checkpoint, and --resume counting epochs on. */
static void write_feature_pair(const char *x_name, const char *y_name, int n, int f)
{
    tg_tensor *x = tg_tensor_newv(2, (int64_t)n, (int64_t)f), *y = tg_tensor_new(TG_INT64, 1, (const int64_t[]){n});
    for (int i = 0; i < n; i++) {
        y->idata[i] = i % 3;
        /* feature j of sample i: 100*j + (class == j ? 1 : 0): classes separable, scales far apart */
        for (int j = 0; j < f; j++) x->data[i * f + j] = (tg_real)(100 * j + (y->idata[i] == j ? 1 : 0));
    }
    save_npy_pair(x_name, x, y_name, y);
}

START_TEST(train_on_npy_pairs)
{
    write_feature_pair("x.npy", "y.npy", 30, 4);
    write_feature_pair("xt.npy", "yt.npy", 9, 4);
    write_feature_pair("x5.npy", "y5.npy", 9, 5);
    static const char spec[] = "input 4\nlinear out=8\nrelu\nlinear out=3\n";
    write_bytes("tab.txt", spec, sizeof spec - 1);
#define TRAIN "train", "tab.txt", "--data", "x.npy,y.npy", "--batch", "5"
    assert_fails(1, "tg: train: --data: a .npy pair needs --test X.npy,y.npy or --val-split F", TRAIN);
    assert_fails(1, "tg: train: --val-split: '1' is out of range (must be > 0 and < 1)", TRAIN, "--val-split", "1");
    assert_fails(2, "tg: train: --test: xt.npy: not a directory, an X.npy,y.npy pair or a .csv file", TRAIN, "--test",
                 "xt.npy");
    assert_fails(2, "tg: train: --test: samples of 5 do not match the training data's 4", TRAIN, "--test",
                 "x5.npy,y5.npy");
    assert_fails(2, "tg: train: --data: 'x.npy,x.npy' holds float targets; --loss cross_entropy needs int64 class labels "
                 "(regression: --loss mse or l1)", "train", "tab.txt", "--data", "x.npy,x.npy", "--val-split", "0.2");
    assert_fails(2, "tg: train: --data: 'x.npy,y.npy' holds class labels; --loss l1 needs float targets", TRAIN,
                 "--val-split", "0.2", "--loss", "l1");
    assert_fails(2, "tg: train: --loss mse: the model's output 3 does not match the 4 target values per sample of "
                 "'x.npy,x.npy'", "train", "tab.txt", "--data", "x.npy,x.npy", "--val-split", "0.2", "--loss", "mse");
    assert_fails(1, "tg: train: --loss: 'hinge' is not one of cross_entropy|mse|l1", TRAIN, "--loss", "hinge");
    assert_fails(1, "tg: train: --label: names a CSV column, but --data 'x.npy,y.npy' is not a .csv file", TRAIN,
                 "--label", "3", "--val-split", "0.2");
    assert_fails(2, "tg: train: model input 4 does not match the data's 5", "train", "tab.txt", "--data", "x5.npy,y5.npy",
                 "--val-split", "0.2");
    assert_fails(1, "tg: train: --augment: flips and crops need images, the data has 4 features", TRAIN, "--val-split",
                 "0.2", "--augment");
    ck_assert_msg(run(TRAIN, "--val-split", "0.2", "--epochs", "2", "--lr", "0.1", "--save", "t.ckpt", NULL) == 0, "%s",
                  err_text);
    ck_assert_msg(strstr(out_text, "epoch 2 train_loss ") && strstr(out_text, " val_acc ") &&
                      strstr(out_text, "\nval_acc ") && !strstr(out_text, "test_acc"),
                  "%s", out_text);
    /* the statistics of the 24 training samples (6 held out): per feature j, mean 100j + 1/3 share */
    tg_norm_stats norm = {0};
    int64_t epoch = 0;
    tg_model *m = load_trained("tab.txt", "t.ckpt", &norm, &epoch);
    ck_assert_int_eq(epoch, 2);
    ck_assert_int_eq(norm.n, 4);
    for (int j = 0; j < 3; j++) {
        ck_assert_double_gt(norm.mean[j], 100 * j);
        ck_assert_double_lt(norm.mean[j], 100 * j + 1);
    }
    /* feature 3 is constant 300 (no class 3): std 1 */
    ck_assert_double_eq(norm.mean[3], 300);
    ck_assert_double_eq(norm.std[3], 1);
    ck_assert_double_gt(norm.std[0], 0.4); /* sqrt(p(1-p)), p near 1/3 */
    ck_assert_double_lt(norm.std[0], 0.5);
    tg_norm_stats_free(&norm);
    tg_model_free(m);
    /* resuming counts on from epoch 2, with a test pair now */
    ck_assert_msg(run(TRAIN, "--test", "xt.npy,yt.npy", "--epochs", "1", "--resume", "t.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "resumed from t.ckpt after epoch 2\nepoch 3 train_loss ") &&
                      strstr(out_text, "\ntest_acc ") && !strstr(out_text, "epoch 1 "),
                  "%s", out_text);
#undef TRAIN
}
END_TEST

/* [N,C,L] signals for a 1-D model and [N,C,D,H,W] volumes for a 3-D one, from .npy: the samples
 * are viewed with the model's input shape (an [N,C,L] array reads as one-channel images until
 * then), the normalisation is per model channel, and eval reads them the same way; a shape that
 * differs by more than leading 1s is refused naming both. */
static void write_signal_pair(const char *x_name, const char *y_name, int n, int ndim, const int64_t *sample)
{
    int64_t shape[6] = {n}, per = 1;
    for (int d = 0; d < ndim; d++) shape[d + 1] = sample[d], per *= sample[d];
    tg_tensor *x = tg_tensor_new(TG_REAL, ndim + 1, shape), *y = tg_tensor_new(TG_INT64, 1, (const int64_t[]){n});
    const int64_t plane = per / sample[0];
    for (int i = 0; i < n; i++) {
        y->idata[i] = i % 2;
        /* channel c at 10c, plus a ramp along the signal whose sign is the class */
        for (int64_t e = 0; e < per; e++)
            x->data[i * per + e] = (tg_real)(10 * (e / plane) + (y->idata[i] ? 1 : -1) * (double)(e % plane) / plane);
    }
    save_npy_pair(x_name, x, y_name, y);
}

START_TEST(train_1d_and_3d_from_npy)
{
    write_signal_pair("sx.npy", "sy.npy", 40, 2, (const int64_t[]){3, 16});
    write_signal_pair("vx.npy", "vy.npy", 24, 4, (const int64_t[]){2, 3, 4, 4});
    static const char sig[] = "input 3x16\nconv1d out=4 kernel=3 padding=1\nrelu\nglobal_avg_pool\nflatten\nlinear out=2\n";
    static const char vol[] = "input 2x3x4x4\nconv3d out=4 kernel=3 padding=1\nrelu\nglobal_avg_pool\nflatten\n"
                              "linear out=2\n";
    static const char img[] = "input 1x16x3\nconv2d out=2 kernel=3 padding=1\nflatten\nlinear out=2\n";
    write_bytes("sig.txt", sig, sizeof sig - 1);
    write_bytes("vol.txt", vol, sizeof vol - 1);
    write_bytes("img.txt", img, sizeof img - 1);
    ck_assert_msg(run("train", "sig.txt", "--data", "sx.npy,sy.npy", "--val-split", "0.25", "--epochs", "2", "--batch",
                      "10", "--save", "sig.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "epoch 2 train_loss ") && strstr(out_text, "\nval_acc "), "%s", out_text);
    tg_norm_stats norm = {0};
    tg_model *m = load_trained("sig.txt", "sig.ckpt", &norm, NULL);
    ck_assert_int_eq(norm.n, 3); /* the model's channels, each about 10c */
    for (int c = 0; c < 3; c++) ck_assert_double_eq_tol(norm.mean[c], 10 * c, 0.5);
    tg_norm_stats_free(&norm);
    tg_model_free(m);
    ck_assert_msg(run("eval", "sig.txt", "--ckpt", "sig.ckpt", "--data", "sx.npy,sy.npy", NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "\naccuracy "), "%s", out_text);
    ck_assert_msg(run("train", "vol.txt", "--data", "vx.npy,vy.npy", "--val-split", "0.25", "--epochs", "1", "--batch",
                      "6", NULL) == 0, "%s", err_text);
    assert_fails(2, "tg: train: model input 1x16x3 does not match the data's 1x3x16", "train", "img.txt", "--data",
                 "sx.npy,sy.npy", "--val-split", "0.25");
    assert_fails(2, "tg: train: model input 3x16 does not match the data's 2x3x4x4", "train", "sig.txt", "--data",
                 "vx.npy,vy.npy", "--val-split", "0.25");
    assert_fails(2, "tg: eval: --data: samples of 2x3x4x4 do not fit the model's input [3,16]", "eval", "sig.txt", "--ckpt",
                 "sig.ckpt", "--data", "vx.npy,vy.npy");
    assert_fails(1, "tg: train: --augment: flips and crops need images (C x H x W), the samples are 3x16", "train", "sig.txt",
                 "--data", "sx.npy,sy.npy", "--val-split", "0.25", "--augment");
}
END_TEST

/* The value after "key " in text (the first occurrence), or -1. */
static double value_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

/* tg eval agrees with tg train's test accuracy on the same set, its per-class recall with what tg
 * predict says about each sample; PGM and IDX inputs of the same image give the same answer. */
START_TEST(predict_and_eval)
{
    write_toy_data(24, 6);
    ck_assert_msg(run("train", "toy.txt", "--data", "data", "--epochs", "3", "--batch", "8", "--lr", "0.5", "--save",
                      "toy.ckpt", NULL) == 0, "%s", err_text);
    const double test_acc = value_after(out_text, "\ntest_acc ");
    ck_assert_msg(run("eval", "toy.txt", "--ckpt", "toy.ckpt", "--data", "data", "--confusion", "cm.svg", NULL) == 0, "%s",
                  err_text);
    ck_assert_str_eq(err_text, "");
    ck_assert_double_eq_tol(value_after(out_text, "\naccuracy "), test_acc, 1e-9);
    const size_t len = strlen(out_text);
    ck_assert_msg(len > 17 && !strncmp(out_text + len - 17, "\naccuracy ", 10), "ends with: %s", out_text);
    ck_assert_msg(strstr(out_text, "class 2 precision ") && strstr(out_text, "support 2\nsamples 6\n"), "%s", out_text);
    char path[PATH_MAX], svg[1 << 14];
    snprintf(path, sizeof path, "%s/cm.svg", work_dir);
    read_file(path, svg, sizeof svg);
    int rects = 0;
    for (const char *p = svg; (p = strstr(p, "<rect")); p++) rects++;
    ck_assert_int_eq(rects, 9);
    ck_assert_msg(!strncmp(svg, "<svg", 4) && strstr(svg, "</svg>\n"), "%s", svg);

    /* the t10k file's 6 images as one IDX batch, and image 0 as a PGM */
    ck_assert_msg(run("predict", "toy.txt", "--ckpt", "toy.ckpt", "data/t10k-images-idx3-ubyte", "--top", "3", NULL) == 0,
                  "%s", err_text);
    char idx_text[4096];
    const size_t idx_len = strlen(out_text);
    ck_assert_uint_lt(idx_len, sizeof idx_text);
    memcpy(idx_text, out_text, idx_len + 1);
    ck_assert_msg(strstr(idx_text, "data/t10k-images-idx3-ubyte[5]: "), "%s", idx_text);
    unsigned char pix[TOY_SIDE * TOY_SIDE] = {0};
    for (int x = 0; x < TOY_SIDE; x++) pix[0 * TOY_SIDE + x] = 255; /* image 0 is class 0: row 0 lit */
    snprintf(path, sizeof path, "%s/one.pgm", work_dir);
    ck_assert_int_eq(tg_pgm_write(path, pix, TOY_SIDE, TOY_SIDE), TG_OK);
    ck_assert_msg(run("predict", "toy.txt", "--ckpt", "toy.ckpt", "one.pgm", NULL) == 0, "%s", err_text);
    const char *first = strchr(idx_text, ':'), *end = strchr(idx_text, '\n');
    ck_assert_msg(!strncmp(out_text, "one.pgm:", 8) && !strncmp(out_text + 8, first + 1, (size_t)(end - first)),
                  "pgm '%s' idx '%s'", out_text, idx_text);

    /* a .npy pair: eval's recall of each class from predict's top-1 answers */
    write_feature_pair("x.npy", "y.npy", 30, 4);
    write_feature_pair("xt.npy", "yt.npy", 12, 4);
    static const char spec[] = "input 4\nlinear out=3\n";
    write_bytes("tab.txt", spec, sizeof spec - 1);
    ck_assert_msg(run("train", "tab.txt", "--data", "x.npy,y.npy", "--test", "xt.npy,yt.npy", "--epochs", "1", "--batch",
                      "10", "--lr", "0.05", "--save", "tab.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_msg(run("predict", "tab.txt", "--ckpt", "tab.ckpt", "xt.npy", "--json", "--top", "1", NULL) == 0, "%s",
                  err_text);
    int hits[3] = {0}, support[3] = {0};
    const char *p = out_text;
    for (int i = 0; i < 12; i++) {
        p = strstr(p, "\"class\":");
        ck_assert_ptr_nonnull(p);
        const int predicted = atoi(p + 8), truth = i % 3; /* write_feature_pair's labels */
        support[truth]++, hits[truth] += predicted == truth;
        p++;
    }
    ck_assert_msg(!strncmp(out_text, "{\"input\":\"xt.npy\",\"index\":0,\"top\":[{\"class\":", 44), "%s", out_text);
    ck_assert_msg(run("eval", "tab.txt", "--ckpt", "tab.ckpt", "--data", "xt.npy,yt.npy", NULL) == 0, "%s", err_text);
    for (int c = 0; c < 3; c++) {
        char key[32], line[128];
        snprintf(key, sizeof key, "class %d precision ", c);
        const char *row = strstr(out_text, key);
        ck_assert_msg(row != NULL, "%s", out_text);
        snprintf(line, sizeof line, " recall %.4f support %d\n", (double)hits[c] / support[c], support[c]);
        ck_assert_msg(strstr(row, line) != NULL && strstr(row, line) < strchr(row, '\n'),
                      "class %d: want '%s' in %s", c, line, out_text);
    }

    /* a version-1 checkpoint (written by tg train before statistics were stored): its implied
     * Fashion-MNIST constants, said in a note */
    static const char v1_spec[] = "input 1x6x6\nconv2d out=3 kernel=3\nbatch_norm\nrelu\nflatten\nlinear out=2\n";
    write_bytes("v1.txt", v1_spec, sizeof v1_spec - 1);
    char v1_path[PATH_MAX], err[256];
    ck_assert_ptr_nonnull(getcwd(v1_path, sizeof v1_path - 32));
    strcat(v1_path, "/tests/data/ckpt/v1.ckpt");
    tg_tensor *ones = tg_tensor_newv(3, (int64_t)1, (int64_t)6, (int64_t)6);
    for (int64_t i = 0; i < ones->numel; i++) ones->data[i] = 1;
    snprintf(path, sizeof path, "%s/ones.npy", work_dir);
    ck_assert_int_eq(tg_npy_save(path, ones, TG_NPY_F32, err, sizeof err), TG_OK);
    tg_tensor_free(ones);
    ck_assert_msg(run("predict", "v1.txt", "--ckpt", v1_path, "ones.npy", NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(err_text, "is a version 1 checkpoint: normalising with mean 0.2860 std 0.3530 as tg train did\n"),
                  "%s", err_text);
    ck_assert_msg(!strncmp(out_text, "ones.npy: ", 10), "%s", out_text);

    /* refusals: one line each */
    assert_fails(1, "tg: predict: --ckpt FILE is required", "predict", "toy.txt", "one.pgm");
    assert_fails(1, "tg: predict: INPUT (.npy, IDX, PGM or PNG files) is required", "predict", "toy.txt", "--ckpt", "toy.ckpt");
    assert_fails(1, "tg: predict: --top: '0' is out of range", "predict", "toy.txt", "--ckpt", "toy.ckpt", "one.pgm",
                 "--top", "0");
    assert_fails(2, "tg: predict: yt.npy: int64 [12] is neither one input [4] nor a batch [N,...] of them", "predict",
                 "tab.txt", "--ckpt", "tab.ckpt", "yt.npy");
    assert_fails(2, "tg: predict: one.pgm: images of 1x4x4 do not fit the model's input [4]", "predict", "tab.txt",
                 "--ckpt", "tab.ckpt", "one.pgm");
    assert_fails(2, "tg: predict: toy.txt: not a tapegrad checkpoint (bad magic)", "predict", "tab.txt", "--ckpt",
                 "toy.txt", "xt.npy");
    assert_fails(2, "tg: predict: tab.ckpt: tensor 0 is '0.weight' but the model has '1.weight'", "predict", "toy.txt", "--ckpt",
                 "tab.ckpt", "one.pgm");
    assert_fails(1, "tg: eval: --data DIR|X.npy,y.npy|FILE.csv is required", "eval", "tab.txt", "--ckpt", "tab.ckpt");
    assert_fails(2, "tg: eval: --data: samples of 1x4x4 do not fit the model's input [4]", "eval", "tab.txt", "--ckpt",
                 "tab.ckpt", "--data", "data");
    assert_fails(2, "tg: eval: --confusion: cannot write '/nonexistent/c.svg': No such file or directory", "eval",
                 "tab.txt", "--ckpt", "tab.ckpt", "--data", "xt.npy,yt.npy", "--confusion", "/nonexistent/c.svg");
}
END_TEST

/* The lr printed at the end of each epoch line, in order, into lr[]; returns how many. */
static int epoch_lrs(double *lr, int max)
{
    int n = 0;
    for (const char *line = out_text; n < max && *line;) {
        const char *end = strchr(line, '\n');
        if (!end) break;
        const char *l = strstr(line, " lr ");
        if (!strncmp(line, "epoch ", 6) && l && l < end) lr[n++] = strtod(l + 4, NULL);
        line = end + 1;
    }
    return n;
}

/* --sched step/multistep/cosine/plateau/onecycle: the lr of each epoch from PyTorch's closed forms
 * (hand-computed), --resume continues the schedule, --early-stop ends on a stalled validation loss. */
START_TEST(train_schedules)
{
    write_feature_pair("x.npy", "y.npy", 40, 4);
    static const char spec[] = "input 4\nlinear out=3\n";
    write_bytes("tab.txt", spec, sizeof spec - 1);
#define TRAIN "train", "tab.txt", "--data", "x.npy,y.npy", "--val-split", "0.2", "--batch", "8"
    double lr[16];
    ck_assert_msg(run(TRAIN, "--epochs", "4", "--lr", "0.1", "--sched", "step", "--step-size", "2", "--gamma", "0.5",
                      "--save", "s.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_int_eq(epoch_lrs(lr, 16), 4);
    ck_assert_double_eq_tol(lr[0], 0.1, 1e-9);
    ck_assert_double_eq_tol(lr[1], 0.1, 1e-9);
    ck_assert_double_eq_tol(lr[2], 0.05, 1e-9);
    ck_assert_double_eq_tol(lr[3], 0.05, 1e-9);
    ck_assert_msg(run(TRAIN, "--epochs", "2", "--sched", "step", "--step-size", "2", "--gamma", "0.5", "--resume",
                      "s.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_int_eq(epoch_lrs(lr, 16), 2); /* epochs 5 and 6: 0.1 * 0.5^2 */
    ck_assert_msg(strstr(out_text, "\nepoch 5 "), "%s", out_text);
    ck_assert_double_eq_tol(lr[0], 0.025, 1e-9);
    ck_assert_double_eq_tol(lr[1], 0.025, 1e-9);
    ck_assert_msg(run(TRAIN, "--epochs", "4", "--lr", "0.02", "--sched", "cosine", NULL) == 0, "%s", err_text);
    ck_assert_int_eq(epoch_lrs(lr, 16), 4);
    for (int e = 0; e < 4; e++) ck_assert_double_eq_tol(lr[e], 0.01 * (1 + cos(M_PI * e / 4)), 1e-7);
    ck_assert_msg(run(TRAIN, "--epochs", "3", "--lr", "0.2", "--sched", "multistep", "--milestones", "1,2", NULL) == 0,
                  "%s", err_text);
    ck_assert_int_eq(epoch_lrs(lr, 16), 3);
    ck_assert_double_eq_tol(lr[0], 0.2, 1e-9);
    ck_assert_double_eq_tol(lr[1], 0.02, 1e-9);
    ck_assert_double_eq_tol(lr[2], 0.002, 1e-9);
    /* one-cycle steps every batch: epoch 1 starts at max/25 */
    ck_assert_msg(run(TRAIN, "--epochs", "2", "--lr", "0.1", "--sched", "onecycle", NULL) == 0, "%s", err_text);
    ck_assert_int_eq(epoch_lrs(lr, 16), 2);
    ck_assert_double_eq_tol(lr[0], 0.004, 1e-9);
    ck_assert_double_gt(lr[1], 0.004);
    /* early stop: a huge lr never improves on its first validation loss for long */
    ck_assert_msg(run(TRAIN, "--epochs", "200", "--lr", "0.5", "--early-stop", "2", "--sched", "plateau", "--patience", "0",
                      NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "early stop: validation loss not below ") && !strstr(out_text, "\nepoch 200 "), "%s",
                  out_text);
    assert_fails(1, "tg: train: --milestones: '2,1' is not a list of increasing epochs >= 1", TRAIN, "--sched",
                 "multistep", "--milestones", "2,1");
    assert_fails(1, "tg: train: --sched multistep needs --milestones E1,E2,...", TRAIN, "--sched", "multistep");
    assert_fails(1, "tg: train: --sched: 'cyclic' is not one of none|step|multistep|cosine|onecycle|plateau", TRAIN,
                 "--sched", "cyclic");
    assert_fails(1, "tg: train: --sched plateau: watches the validation loss: give --val-split F", "train", "tab.txt",
                 "--data", "x.npy,y.npy", "--test", "x.npy,y.npy", "--batch", "8", "--sched", "plateau");
    assert_fails(1, "tg: train: --early-stop: watches the validation loss: give --val-split F", "train", "tab.txt",
                 "--data", "x.npy,y.npy", "--test", "x.npy,y.npy", "--batch", "8", "--early-stop", "3");
    /* a checkpoint without schedule state cannot resume one */
    ck_assert_msg(run(TRAIN, "--epochs", "1", "--save", "plain.ckpt", NULL) == 0, "%s", err_text);
    assert_fails(2, "tg: train: --resume: plain.ckpt: has no schedule state", TRAIN, "--sched", "step", "--resume",
                 "plain.ckpt");
#undef TRAIN
}
END_TEST

/* One line of --step-csv. */
typedef struct step_line {
    int epoch;
    long long step, global;
    double loss, lr, grad_norm;
} step_line;

/* Reads a --step-csv file after checking its header; returns the number of lines. */
static int read_step_csv(const char *name, step_line *lines, int max)
{
    char path[PATH_MAX], text[8192];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    read_file(path, text, sizeof text);
    const char header[] = "epoch,step,global_step,loss,lr,grad_norm\n";
    ck_assert_msg(!strncmp(text, header, sizeof header - 1), "%s: %s", name, text);
    int n = 0;
    for (const char *p = text + sizeof header - 1; *p && n < max; n++) {
        step_line *l = &lines[n];
        int used = 0;
        ck_assert_msg(sscanf(p, "%d,%lld,%lld,%lf,%lf,%lf\n%n", &l->epoch, &l->step, &l->global, &l->loss, &l->lr,
                             &l->grad_norm, &used) == 6 && used > 0, "%s: bad line '%s'", name, p);
        p += used;
    }
    return n;
}

/* --warmup (lr of every step by hand, on from a --resume), --step-csv/--log-every (the format,
 * the mean loss over each period), the epoch CSV's global_step, the clipping options and label
 * smoothing on the command line, and their range errors. */
START_TEST(train_step_options)
{
    write_feature_pair("x.npy", "y.npy", 40, 4);
    static const char spec[] = "input 4\nlinear out=3\n";
    write_bytes("tab.txt", spec, sizeof spec - 1);
#define TRAIN "train", "tab.txt", "--data", "x.npy,y.npy", "--val-split", "0.2", "--batch", "8", "--lr", "0.1"
    /* 32 training samples: 4 steps an epoch; warmup over 6 steps from 0.25 */
    ck_assert_msg(run(TRAIN, "--epochs", "1", "--warmup", "6", "--warmup-start", "0.25", "--step-csv", "s.csv",
                      "--log-every", "1", "--csv", "e.csv", "--save", "w.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_str_eq(err_text, "");
    step_line l[16];
    ck_assert_int_eq(read_step_csv("s.csv", l, 16), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(l[i].epoch, 1);
        ck_assert_int_eq(l[i].step, i + 1);
        ck_assert_int_eq(l[i].global, i + 1);
        ck_assert_double_eq_tol(l[i].lr, 0.1 * (0.25 + 0.75 * i / 6), 1e-9);
        ck_assert(l[i].loss > 0 && isfinite(l[i].loss) && l[i].grad_norm > 0 && isfinite(l[i].grad_norm));
    }
    char path[PATH_MAX], text[2048];
    snprintf(path, sizeof path, "%s/e.csv", work_dir);
    read_file(path, text, sizeof text);
    ck_assert_msg(strstr(text, ",lr,global_step\n1,") && strstr(text, ",0.1,4\n"), "%s", text);
    /* resumed: the warmup goes on from step 5 (the optimizer's step count in the checkpoint) */
    ck_assert_msg(run(TRAIN, "--epochs", "1", "--warmup", "6", "--warmup-start", "0.25", "--step-csv", "s2.csv",
                      "--log-every", "1", "--resume", "w.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_int_eq(read_step_csv("s2.csv", l, 16), 4);
    const double resumed[] = {0.1 * (0.25 + 0.75 * 4 / 6), 0.1 * (0.25 + 0.75 * 5 / 6), 0.1, 0.1};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(l[i].epoch, 2);
        ck_assert_int_eq(l[i].global, 5 + i);
        ck_assert_double_eq_tol(l[i].lr, resumed[i], 1e-9);
    }
    /* a line every 3 steps, its loss the mean of those 3 steps' (the same run step by step) */
    ck_assert_msg(run(TRAIN, "--epochs", "2", "--step-csv", "every1.csv", "--log-every", "1", NULL) == 0, "%s", err_text);
    step_line one[16], three[16];
    ck_assert_int_eq(read_step_csv("every1.csv", one, 16), 8);
    ck_assert_msg(run(TRAIN, "--epochs", "2", "--step-csv", "every3.csv", "--log-every", "3", NULL) == 0, "%s", err_text);
    ck_assert_int_eq(read_step_csv("every3.csv", three, 16), 2);
    ck_assert_int_eq(three[0].global, 3);
    ck_assert_int_eq(three[1].global, 6);
    ck_assert_int_eq(three[1].epoch, 2);
    ck_assert_int_eq(three[1].step, 2);
    ck_assert_double_eq_tol(three[0].loss, (one[0].loss + one[1].loss + one[2].loss) / 3, 1e-5 * three[0].loss);
    ck_assert_double_eq_tol(three[1].loss, (one[3].loss + one[4].loss + one[5].loss) / 3, 1e-5 * three[1].loss);
    ck_assert_double_eq_tol(three[1].grad_norm, one[5].grad_norm, 1e-5 * one[5].grad_norm);
    /* clipping changes the run; grad_norm is the norm before clipping */
    ck_assert_msg(run(TRAIN, "--epochs", "2", "--step-csv", "clip.csv", "--log-every", "1", "--clip-norm", "1e-3",
                      NULL) == 0, "%s", err_text);
    step_line clipped[16];
    ck_assert_int_eq(read_step_csv("clip.csv", clipped, 16), 8);
    ck_assert_double_eq_tol(clipped[0].grad_norm, one[0].grad_norm, 1e-5 * one[0].grad_norm);
    ck_assert(fabs(clipped[7].loss - one[7].loss) > 1e-3);
    ck_assert_msg(run(TRAIN, "--epochs", "1", "--clip-value", "0.01", "--agc", "0.05", "--label-smoothing", "0.1", NULL) == 0,
                  "%s", err_text);
    ck_assert_msg(strstr(out_text, "epoch 1 train_loss ") && !strstr(out_text, "nan"), "%s", out_text);

    assert_fails(1, "tg: train: --warmup: '-1' is out of range (must be from 0 to 2147483647)", TRAIN, "--warmup", "-1");
    assert_fails(1, "tg: train: --warmup-start: '0' is out of range (must be > 0 and <= 1)", TRAIN, "--warmup", "5",
                 "--warmup-start", "0");
    assert_fails(1, "tg: train: --warmup-start: '1.5' is out of range (must be > 0 and <= 1)", TRAIN, "--warmup", "5",
                 "--warmup-start", "1.5");
    assert_fails(1, "tg: train: --warmup-start: applies to a warmup: give --warmup N", TRAIN, "--warmup-start", "0.1");
    assert_fails(1, "tg: train: --clip-norm: '0' is out of range (must be > 0)", TRAIN, "--clip-norm", "0");
    assert_fails(1, "tg: train: --clip-value: '-1' is out of range (must be > 0)", TRAIN, "--clip-value", "-1");
    assert_fails(1, "tg: train: --agc: 'nan' is not a finite number", TRAIN, "--agc", "nan");
    assert_fails(1, "tg: train: --label-smoothing: '1.01' is out of range (must be >= 0 and <= 1)", TRAIN,
                 "--label-smoothing", "1.01");
    assert_fails(1, "tg: train: --log-every: '0' is out of range (must be from 1 to 1000000000)", TRAIN, "--step-csv",
                 "s.csv", "--log-every", "0");
    assert_fails(1, "tg: train: --log-every: sets the period of --step-csv lines: give --step-csv FILE", TRAIN,
                 "--log-every", "10");
    assert_fails(2, "tg: train: --step-csv: cannot write '/nonexistent/s.csv': No such file or directory", TRAIN,
                 "--step-csv", "/nonexistent/s.csv");
#undef TRAIN
}
END_TEST

/* A finite loss that grows by orders of magnitude (lr far too high) gets one warning line; a loss
 * that stays below the floor gets none. Labels unrelated to the features keep the loss up. */
START_TEST(train_warns_of_growing_loss)
{
    tg_tensor *x = tt_track(tg_tensor_newv(2, (int64_t)40, (int64_t)4));
    tg_tensor *y = tt_track(tg_tensor_new(TG_INT64, 1, (const int64_t[]){40}));
    for (int i = 0; i < 40; i++) {
        y->idata[i] = i % 3;
        for (int j = 0; j < 4; j++) x->data[i * 4 + j] = (tg_real)((i * 7 + j * 3) % 5 - 2);
    }
    write_npy("nx.npy", x, TG_NPY_F32);
    write_npy("ny.npy", y, TG_NPY_I64);
    static const char spec[] = "input 4\nlinear out=3\n";
    write_bytes("tab.txt", spec, sizeof spec - 1);
#define TRAIN "train", "tab.txt", "--data", "nx.npy,ny.npy", "--val-split", "0.2", "--batch", "8", "--momentum", "0", \
              "--epochs", "3"
    ck_assert_msg(run(TRAIN, "--lr", "1e7", NULL) == 0, "%s", err_text);
    assert_one_error_line("growing loss");
    ck_assert_msg(strstr(err_text, "tg: train: warning: loss grew from 1.076 to 1.674e+06 in 1 step: lr too high?\n"),
                  "%s", err_text);
    ck_assert(strstr(out_text, "\nepoch 3 ") != NULL);
    ck_assert_msg(run(TRAIN, "--lr", "1e5", NULL) == 0, "%s", err_text); /* up to ~1e5: below the floor */
    ck_assert_str_eq(err_text, "");
#undef TRAIN
}
END_TEST

/* A NaN/Inf loss stops training with the epoch and step (exit 2); --detect-anomaly names the op. */
START_TEST(train_stops_on_nonfinite_loss)
{
    write_toy_data(24, 6);
    /* lr 1e38: the first step puts weights near 1e38, the second step's logits overflow float32
     * (a smaller lr only fits this separable toy set faster) */
    assert_fails(2, "tg: train: loss is nan at epoch 1 step 2 (lr 1e+38): lower --lr or use --detect-anomaly", "train",
                 "toy.txt", "--data", "data", "--batch", "8", "--lr", "1e38", "--momentum", "0");
    ck_assert(strstr(out_text, "test_acc") == NULL);
    assert_fails(2, "tg: train: epoch 1 step 2: anomaly: linear (node ", "train", "toy.txt", "--data", "data", "--batch",
                 "8", "--lr", "1e38", "--momentum", "0", "--detect-anomaly");
    ck_assert(strstr(err_text, "produced Inf in its output [8,3]") != NULL);
}
END_TEST

/* The same stop for C users: tg_train_epoch returns TG_ERR_NONFINITE and says where. */
START_TEST(train_epoch_reports_nonfinite_loss)
{
    char err[256];
    tg_model *m = tg_model_parse("input 1x2x2\nflatten\nlinear out=2\n", "toy", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    tg_dataset d = {.n = 4, .c = 1, .h = 2, .w = 2, .n_classes = 2};
    float images[16] = {0};
    int64_t labels[4] = {0, 1, 0, 1};
    d.images = images, d.labels = labels;
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
    cfg.lr = 0.1;
    tg_optim *opt = tg_optim_new_checked(&cfg, err, sizeof err);
    ck_assert_ptr_nonnull(opt);
    tg_tensor *params[8];
    tg_named_tensor named[8];
    int np = tg_module_named_tensors(m->net, false, named, 8);
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    ck_assert_int_eq(tg_optim_add_group(opt, params, np, NAN, NAN), 0);
    tg_tape *tape = tg_tape_new(0);
    tg_batcher b;
    ck_assert_int_eq(tg_batcher_init(&b, &d, 2, false, 0), TG_OK);
    tg_epoch_stats st;
    /* finite data: both steps run */
    ck_assert_int_eq(tg_train_epoch(m->net, opt, &b, tape, &st, NULL, NULL), TG_OK);
    ck_assert_int_eq(st.steps, 2);
    ck_assert(isfinite(st.last_loss));
    /* an Inf pixel in the second batch: the first step runs, the second stops before updating */
    images[9] = INFINITY;
    tg_tensor *w = params[0];
    ck_assert_int_eq(tg_train_epoch(m->net, opt, &b, tape, &st, NULL, NULL), TG_ERR_NONFINITE);
    ck_assert_int_eq(st.steps, 1);
    ck_assert(!isfinite(st.last_loss));
    ck_assert_msg(tg_error(tape) && !strcmp(tg_error(tape), "loss is nan at step 2 of the epoch"), "%s", tg_error(tape));
    for (int64_t i = 0; i < w->numel; i++) ck_assert(isfinite(w->data[i])); /* no step from the NaN loss */
    tg_batcher_free(&b);
    tg_tape_free(tape);
    tg_optim_free(opt);
    tg_model_free(m);
}
END_TEST

/* tg gradcheck on an input with no elements says so instead of passing over nothing. */
START_TEST(gradcheck_refuses_empty_inputs)
{
    assert_fails(2, "tg: gradcheck: input 0 (input) has no elements (shape 0x3): nothing to check", "gradcheck", "relu",
                 "0x3");
    ck_assert(strstr(out_text, "PASS") == NULL);
    assert_fails(2, "tg: gradcheck: input 1 (other) has no elements (shape 2x0)", "gradcheck", "add", "2x3", "2x0");
    assert_fails(1, "tg: gradcheck: bad shape '2x3x' for input", "gradcheck", "relu", "2x3x");
}
END_TEST

/* Errors from below the op (tensor limits, the arena) still name the op. */
START_TEST(op_errors_name_the_op)
{
    write_common_inputs();
    assert_fails(2, "tg: op: pad: tensor: invalid shape [2,2000000000000000003]", "op", "pad",
                 "pad=1000000000000000000,1000000000000000000", "a.npy");
    assert_fails(2, "tg: op: add: shapes [2,3] and [4] do not broadcast", "op", "add", "a.npy", "c.npy");
}
END_TEST

/* Bytes from files, checkpoints, spec files and argv reach stderr escaped (\xNN), never raw. */
START_TEST(messages_escape_untrusted_bytes)
{
    /* an .npy header key holding a terminal title escape */
    static const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '\x1b]0;pwned\x07': 1, }";
    unsigned char npy[128] = "\x93NUMPY\x01\x00";
    const size_t header_len = sizeof dict; /* dict + '\n' */
    npy[8] = (unsigned char)header_len, npy[9] = 0;
    memcpy(npy + 10, dict, sizeof dict - 1);
    npy[10 + header_len - 1] = '\n';
    memset(npy + 10 + header_len, 0, 4);
    write_bytes("evil.npy", npy, 10 + header_len + 4);
    assert_fails(2, "tg: op: evil.npy: header has an unexpected key '\\x1b]0;pwned\\x07'", "op", "relu", "evil.npy");
    assert_stderr_printable("npy key");
    assert_fails(2, "tg: op: no\\x1b[2J.npy: cannot open", "op", "relu", "no\x1b[2J.npy");
    assert_stderr_printable("file name");
    assert_fails(1, "tg: op: unknown op 'r\\x07elu'", "op", "r\x07" "elu", "x.npy");
    assert_stderr_printable("op name");

    /* a spec word (spec.c's messages; the error line escapes whatever reaches it) */
    static const char spec[] = "input 1x4x4\nfl\x1b]0;x\x07" "atten\nlinear out=3\n";
    write_bytes("evil.txt", spec, sizeof spec - 1);
    ck_assert_int_eq(run("summary", "evil.txt", NULL), 2);
    assert_one_error_line("spec word");
    assert_stderr_printable("spec word");
    ck_assert_msg(strstr(err_text, "\\x1b]0;x\\x07") != NULL, "%s", err_text);

    /* a checkpoint whose first tensor name holds control bytes (checksum recomputed) */
    write_toy_data(24, 6);
    ck_assert_msg(run("train", "toy.txt", "--data", "data", "--epochs", "1", "--batch", "8", "--save", "m.ckpt", NULL) == 0,
                  "%s", err_text);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/m.ckpt", work_dir);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char ckpt[1 << 16];
    size_t len = fread(ckpt, 1, sizeof ckpt, f);
    fclose(f);
    /* magic 8, version 8, value type 8, parts 8, count 8, then the first name: u64 length and its bytes */
    const size_t name_at = 40;
    ck_assert_uint_gt(ckpt[name_at], 2);
    ckpt[name_at + 8] = 0x1b, ckpt[name_at + 9] = 0x07;
    uint32_t crc = tg_crc32(0, ckpt, len - 8);
    for (int i = 0; i < 8; i++) ckpt[len - 8 + i] = (unsigned char)(i < 4 ? crc >> (8 * i) : 0);
    write_bytes("evil.ckpt", ckpt, len);
    assert_fails(2, "tg: train: --resume: evil.ckpt: tensor 0 is '\\x1b\\x07", "train", "toy.txt", "--data", "data",
                 "--batch", "8", "--resume", "evil.ckpt");
    assert_stderr_printable("checkpoint name");
    /* the library's own message is escaped (C users print it too) */
    char model_path[PATH_MAX], err[512];
    snprintf(model_path, sizeof model_path, "%s/toy.txt", work_dir);
    tg_model *m = tg_model_load(model_path, 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/evil.ckpt", work_dir);
    ck_assert_int_eq(tg_checkpoint_load(path, m->net, NULL, NULL, NULL, err, sizeof err), TG_ERR_FORMAT);
    tg_model_free(m);
    ck_assert_msg(strstr(err, "tensor 0 is '\\x1b\\x07"), "%s", err);
    for (const char *p = err; *p; p++) ck_assert_msg((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "%s", err);
    /* a name past the limit is named as such (not read as a truncated file) */
    ckpt[name_at] = 200;
    crc = tg_crc32(0, ckpt, len - 8);
    for (int i = 0; i < 8; i++) ckpt[len - 8 + i] = (unsigned char)(i < 4 ? crc >> (8 * i) : 0);
    write_bytes("long.ckpt", ckpt, len);
    assert_fails(2, "long.ckpt: tensor 0's name is 200 bytes, longer than the limit of 127", "train", "toy.txt",
                 "--data", "data", "--batch", "8", "--resume", "long.ckpt");
}
END_TEST

/* --threads and TG_NUM_THREADS: tg train gives the same checkpoint bytes with 1, 2 and 3 threads
 * (a conv + batch-norm model), the variable is read when --threads is absent, and bad counts in
 * either are usage errors naming them. */
START_TEST(train_threads_same_checkpoint)
{
    write_toy_data(40, 6);
    static const char spec[] = "input 1x4x4\nconv2d out=4 kernel=3 padding=1 bias=0\nbatch_norm\nrelu\n"
                               "conv2d out=6 kernel=3 padding=1\nrelu\nflatten\nlinear out=3\n";
    write_bytes("bn.txt", spec, sizeof spec - 1);
#define TRAIN_BN "train", "bn.txt", "--data", "data", "--epochs", "2", "--batch", "7"
    ck_assert_msg(run(TRAIN_BN, "--threads", "1", "--save", "t1.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_msg(run(TRAIN_BN, "--threads", "2", "--save", "t2.ckpt", NULL) == 0, "%s", err_text);
    setenv("TG_NUM_THREADS", "3", 1);
    ck_assert_msg(run(TRAIN_BN, "--save", "t3.ckpt", NULL) == 0, "%s", err_text);
    char path[PATH_MAX], one[1 << 16], other[1 << 16];
    for (int k = 2; k <= 3; k++) {
        snprintf(path, sizeof path, "%s/t1.ckpt", work_dir);
        FILE *a = fopen(path, "rb");
        snprintf(path, sizeof path, "%s/t%d.ckpt", work_dir, k);
        FILE *b = fopen(path, "rb");
        ck_assert(a && b);
        size_t na = fread(one, 1, sizeof one, a), nb = fread(other, 1, sizeof other, b);
        fclose(a), fclose(b);
        ck_assert_msg(na > 0 && na < sizeof one && na == nb && memcmp(one, other, na) == 0,
                      "the checkpoint with %d threads differs from 1 thread's", k);
    }
    setenv("TG_NUM_THREADS", "2x", 1);
    assert_fails(1, "tg: train: TG_NUM_THREADS: '2x' is not a thread count (a whole number from 1 to 64)", TRAIN_BN);
    assert_fails(1, "tg: bench: TG_NUM_THREADS: '2x' is not a thread count (a whole number from 1 to 64)", "bench",
                 "--filter", "none");
    ck_assert_msg(run(TRAIN_BN, "--threads", "1", NULL) == 0, "%s", err_text); /* --threads wins */
    unsetenv("TG_NUM_THREADS");
    assert_fails(1, "tg: train: --threads: '0' is out of range (must be from 1 to 64)", TRAIN_BN, "--threads", "0");
    assert_fails(1, "tg: gradcheck: --threads: '65' is out of range (must be from 1 to 64)", "gradcheck", "relu", "2x3",
                 "--threads", "65");
    assert_fails(1, "tg: op: --threads: 'two' is not an integer", "op", "relu", "x.npy", "--threads", "two");
#undef TRAIN_BN
}
END_TEST

/* Own data through the tg binary: a CSV regression (--loss mse, then l1) and a CSV classifier by
 * header name; tg eval's MSE/MAE agree with training's test loss, tg predict gives the outputs, and
 * the loss kind travels in the checkpoint. */
static void write_regression_csv(const char *name, int n, int seed)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("a,\"b, in m\",target\n", f);
    for (int i = 0; i < n; i++) {
        const double a = ((i * 7 + seed) % 13) / 6.0 - 1, b = ((i * 5 + 3 * seed) % 11) / 5.0 - 1;
        fprintf(f, "%.4f,%.4f,%.4f\n", a, b, 2 * a - 3 * b + 0.5); /* a plane a linear layer can fit */
    }
    fclose(f);
}

START_TEST(train_on_csv)
{
    write_regression_csv("reg.csv", 64, 1);
    write_regression_csv("reg_test.csv", 16, 4);
    static const char spec[] = "input 2\nlinear out=1\n";
    write_bytes("reg.txt", spec, sizeof spec - 1);
#define TRAIN "train", "reg.txt", "--data", "reg.csv", "--label", "target", "--test", "reg_test.csv", "--batch", "8"
    assert_fails(2, "tg: train: --data: reg.csv:2:3 (target): label '", TRAIN); /* cross-entropy wants class indices */
    assert_fails(2, "tg: train: --data: reg.csv: no column named 'y' (the header has: 'a', 'b, in m', 'target')",
                 "train", "reg.txt", "--data", "reg.csv", "--label", "y", "--loss", "mse", "--val-split", "0.2");
    assert_fails(1, "tg: train: --data: a CSV file needs --test FILE.csv or --val-split F", "train", "reg.txt", "--data",
                 "reg.csv", "--loss", "mse");
    assert_fails(1, "tg: train: --label-smoothing: applies to --loss cross_entropy, not mse", TRAIN, "--loss", "mse",
                 "--label-smoothing", "0.1");
    ck_assert_msg(run(TRAIN, "--loss", "mse", "--epochs", "40", "--lr", "0.1", "--save", "reg.ckpt", "--csv", "reg_log.csv",
                      NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "epoch 40 train_loss ") && !strstr(out_text, "acc") && strstr(out_text, "\ntest_loss "),
                  "%s", out_text);
    const double test_loss = value_after(out_text, "\ntest_loss ");
    ck_assert_msg(test_loss >= 0 && test_loss < 1e-3, "the plane is not learnt: test_loss %g", test_loss);
    char text[4096], path[PATH_MAX];
    snprintf(path, sizeof path, "%s/reg_log.csv", work_dir);
    read_file(path, text, sizeof text);
    ck_assert_msg(strstr(text, "\n40,") && strstr(text, ",,,"), "%s", text); /* the accuracy columns stay empty */
    /* tg eval: MSE over the test file as training measured it, MAE beside it */
    ck_assert_msg(run("eval", "reg.txt", "--ckpt", "reg.ckpt", "--data", "reg_test.csv", "--label", "target", NULL) == 0,
                  "%s", err_text);
    ck_assert_msg(strstr(out_text, "samples 16\nmse "), "%s", out_text);
    const double mse = value_after(out_text, "\nmse "), mae = value_after(out_text, "\nmae ");
    ck_assert_msg(fabs(mse - test_loss) <= 1e-4 + 1e-2 * test_loss, "eval mse %g, train test_loss %g", mse, test_loss);
    ck_assert_msg(mae > 0 && mae * mae <= mse + 1e-9, "mae %g mse %g", mae, mse); /* MAE^2 <= MSE (Jensen) */
    /* tg predict: the output value of (0.5, 0.25) is near 2*0.5 - 3*0.25 + 0.5 = 0.75 */
    write_npy("one.npy", tt_tensorv((double[]){0.5, 0.25}, 1, 2), TG_NPY_F32);
    ck_assert_msg(run("predict", "reg.txt", "--ckpt", "reg.ckpt", "one.npy", NULL) == 0, "%s", err_text);
    ck_assert_msg(!strncmp(out_text, "one.npy: ", 9) && fabs(strtod(out_text + 9, NULL) - 0.75) < 0.05, "%s", out_text);
    ck_assert_msg(run("predict", "reg.txt", "--ckpt", "reg.ckpt", "one.npy", "--json", NULL) == 0, "%s", err_text);
    ck_assert_msg(!strncmp(out_text, "{\"input\":\"one.npy\",\"index\":0,\"outputs\":[0.7", 43), "%s", out_text);
    /* the checkpoint says mse; resuming with another loss is refused */
    char model_path[PATH_MAX], err[512];
    snprintf(model_path, sizeof model_path, "%s/reg.txt", work_dir);
    snprintf(path, sizeof path, "%s/reg.ckpt", work_dir);
    tg_model *m = tg_model_load(model_path, 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    int loss = -1;
    tg_checkpoint_extra extra = {.loss = &loss};
    ck_assert_msg(tg_checkpoint_load_ex(path, m->net, NULL, NULL, NULL, &extra, err, sizeof err) == TG_OK, "%s", err);
    ck_assert_int_eq(loss, TG_LOSS_MSE);
    tg_model_free(m);
    assert_fails(2, "tg: train: --resume: reg.ckpt was trained with --loss mse, not l1", TRAIN, "--loss", "l1", "--resume",
                 "reg.ckpt");
    ck_assert_msg(run(TRAIN, "--loss", "l1", "--epochs", "2", "--lr", "0.05", NULL) == 0, "%s", err_text);
    ck_assert_msg(strstr(out_text, "epoch 2 train_loss ") && !strstr(out_text, "acc"), "%s", out_text);
#undef TRAIN
    /* a classifier from a CSV, the label by its header name, in the first column */
    snprintf(path, sizeof path, "%s/cls.csv", work_dir);
    FILE *f = fopen(path, "w");
    fputs("species,x0,x1\n", f);
    for (int i = 0; i < 40; i++) fprintf(f, "%d,%d.%d,%d\n", i % 2, 3 * (i % 2), i % 7, (i * 3) % 5);
    fclose(f);
    static const char cls_spec[] = "input 2\nlinear out=2\n";
    write_bytes("cls.txt", cls_spec, sizeof cls_spec - 1);
    ck_assert_msg(run("train", "cls.txt", "--data", "cls.csv", "--label", "species", "--val-split", "0.25", "--batch", "6",
                      "--epochs", "15", "--lr", "0.2", "--save", "cls.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_msg(value_after(out_text, "\nval_acc ") == 1.0, "%s", out_text);
    ck_assert_msg(run("eval", "cls.txt", "--ckpt", "cls.ckpt", "--data", "cls.csv", "--label", "0", NULL) == 0, "%s", err_text);
    ck_assert_msg(value_after(out_text, "\naccuracy ") == 1.0, "%s", out_text);
}
END_TEST

/* An image folder through tg train (classes printed once, images of other sizes resized to the
 * model's 1x8x8), tg eval on a folder, tg predict on PNG files. */
static void write_stripes(const char *name, int w, int h, bool left_bright)
{
    uint8_t px[16 * 16];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) px[y * w + x] = (uint8_t)((x < w / 2) == left_bright ? 230 - 3 * y : 20 + 2 * x);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    ck_assert_int_eq(tg_png_write_gray(path, px, w, h), TG_OK);
}

START_TEST(train_on_image_folder)
{
    char path[PATH_MAX];
    const char *dirs[] = {"imgs", "imgs/left", "imgs/right"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", work_dir, dirs[i]);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    for (int i = 0; i < 12; i++) { /* 8x8, 16x16 (halved) and 12x8 (cropped) images */
        const int w = i % 3 == 0 ? 8 : i % 3 == 1 ? 16 : 12, h = i % 3 == 1 ? 16 : 8;
        char name[64];
        snprintf(name, sizeof name, "imgs/left/%02d.png", i);
        write_stripes(name, w, h, true);
        snprintf(name, sizeof name, "imgs/right/%02d.png", i);
        write_stripes(name, w, h, false);
    }
    static const char spec[] = "input 1x8x8\nconv2d out=4 kernel=3 padding=1\nrelu\nglobal_avg_pool\nflatten\nlinear out=2\n";
    write_bytes("img.txt", spec, sizeof spec - 1);
    assert_fails(1, "tg: train: --data: an image folder needs --test DIR or --val-split F", "train", "img.txt", "--data",
                 "imgs");
    assert_fails(2, "tg: train: --data: 'imgs' holds class labels; --loss mse needs float targets", "train", "img.txt",
                 "--data", "imgs", "--loss", "mse", "--val-split", "0.25");
    /* a test folder must have the training folder's classes, or class numbers would mean other things */
    const char *other[] = {"imgs2", "imgs2/left", "imgs2/up"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", work_dir, other[i]);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    write_stripes("imgs2/left/a.png", 8, 8, true), write_stripes("imgs2/up/a.png", 8, 8, false);
    assert_fails(2, "tg: train: --test: class 1 is 'up' but --data's is 'right' (classes are numbered by sorted folder name)",
                 "train", "img.txt", "--data", "imgs", "--test", "imgs2", "--batch", "4");
    ck_assert_msg(run("train", "img.txt", "--data", "imgs", "--test", "imgs", "--batch", "4", "--epochs", "30", "--lr", "0.1",
                      "--optim", "adam", "--save", "img.ckpt", NULL) == 0, "%s", err_text);
    ck_assert_msg(!strncmp(out_text, "classes: 0=left 1=right\nepoch 1 ", 32) && !strstr(out_text + 10, "classes:"), "%s",
                  out_text);
    ck_assert_msg(value_after(out_text, "\ntest_acc ") == 1.0, "%s", out_text);
    ck_assert_msg(run("eval", "img.txt", "--ckpt", "img.ckpt", "--data", "imgs", NULL) == 0, "%s", err_text);
    ck_assert_msg(value_after(out_text, "\naccuracy ") == 1.0 && strstr(out_text, "samples 24\n"), "%s", out_text);
    /* a PNG of another size: resized as training resized it */
    write_stripes("new_right.png", 16, 8, false);
    ck_assert_msg(run("predict", "img.txt", "--ckpt", "img.ckpt", "new_right.png", "imgs/left/01.png", NULL) == 0, "%s",
                  err_text);
    ck_assert_msg(!strncmp(out_text, "new_right.png: 1 (", 18) && strstr(out_text, "\nimgs/left/01.png: 0 ("), "%s", out_text);
    write_bytes("broken.png", "\x89PNG\r\n\x1a\n", 8);
    assert_fails(2, "tg: predict: broken.png: png: file ends after a chunk (no IEND chunk)", "predict", "img.txt", "--ckpt",
                 "img.ckpt", "broken.png");
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
    tcase_add_test(tc, summary_reports_the_tape_peak);
    tcase_add_test(tc, bench_zoo_case_runs_anywhere);
    tcase_add_test(tc, bench_runs_a_model_file);
    tcase_add_test(tc, every_op_survives_wrong_inputs);
    tcase_add_test(tc, train_rejects_bad_options);
    tcase_add_test(tc, usage_lists_every_option);
    tcase_add_test(tc, train_checks_before_training);
    tcase_add_test(tc, train_on_npy_pairs);
    tcase_add_test(tc, train_1d_and_3d_from_npy);
    tcase_add_test(tc, train_on_csv);
    tcase_add_test(tc, train_on_image_folder);
    tcase_add_test(tc, predict_and_eval);
    tcase_add_test(tc, train_schedules);
    tcase_add_test(tc, train_threads_same_checkpoint);
    tcase_add_test(tc, train_stops_on_nonfinite_loss);
    tcase_add_test(tc, train_step_options);
    tcase_add_test(tc, train_warns_of_growing_loss);
    tcase_add_test(tc, train_epoch_reports_nonfinite_loss);
    tcase_add_test(tc, gradcheck_refuses_empty_inputs);
    tcase_add_test(tc, op_errors_name_the_op);
    tcase_add_test(tc, messages_escape_untrusted_bytes);
    suite_add_tcase(s, tc);
    return s;
}
