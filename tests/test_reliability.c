/* tests/test_reliability.c — regressions of issue 15: inputs that once crashed, overflowed or were
 * silently accepted (tests/data/rel_*), each now a clean result or a one-line error naming the
 * limit; the tg tool on the same inputs (exit code, never a signal). Allocation failures are
 * walked by `make test-alloc` (tests/alloc/), races by `make test-tsan`. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../nn/data.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    char err[256] = "";
    ck_assert_msg(tg_read_file(path, 0, &b, len, err, sizeof err) == TG_OK, "%s (run from the repository root)",
                  err);
    return b;
}

static char tool_err[4096];

/* Runs `tg WORDS...` with stdout discarded and stderr in tool_err; the exit status, or 128 +
 * the signal when it crashed. */
static int run_tg(const char *const *words)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)tt_tg_binary();
    for (int i = 0; words[i] && argc < 15; i++) argv[argc++] = (char *)words[i];
    argv[argc] = NULL;
    char err_path[64];
    snprintf(err_path, sizeof err_path, "/tmp/tg_rel_%d.stderr", (int)getpid());
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const int fo = open("/dev/null", O_WRONLY), fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(125);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) ck_assert_int_eq(errno, EINTR);
    tool_err[0] = 0;
    FILE *f = fopen(err_path, "r");
    if (f) {
        tool_err[fread(tool_err, 1, sizeof tool_err - 1, f)] = 0;
        fclose(f);
    }
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* 00 00 08 03, dims 131072 x 131072 x 2^30: the product 2^64 wrapped to 0 and matched the empty
 * data, so a 16-byte file became 131072 images of zero bytes. */
START_TEST(idx_dimension_product_overflow)
{
    size_t len;
    uint8_t *b = slurp("tests/data/rel_idx_overflow.idx", &len);
    ck_assert_uint_eq(len, 16);
    tg_idx idx;
    char err[256];
    ck_assert_int_eq(tg_idx_parse(b, len, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: dimensions need more than the 1099511627776-byte limit");
    ck_assert_ptr_null(idx.data);
    free(b);

    tg_dataset *d = (tg_dataset *)1;
    ck_assert_int_eq(tg_dataset_load_idx("tests/data/rel_idx_overflow.idx", "tests/data/nn_labels.idx", &d, err,
                                         sizeof err),
                     TG_ERR_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_str_eq(err, "tests/data/rel_idx_overflow.idx: idx: dimensions need more than the 1099511627776-byte limit");

    /* at the limit exactly (2^10 x 2^30 bytes declared) the size check is reached, not the limit */
    const uint8_t at_limit[] = {0, 0, 8, 2, 0, 0, 4, 0, 0x40, 0, 0, 0};
    ck_assert_int_eq(tg_idx_parse(at_limit, sizeof at_limit, &idx, err, sizeof err), TG_ERR_FORMAT);
    ck_assert_str_eq(err, "idx: dimensions need 1099511627776 data bytes but the file has 0");
}
END_TEST

/* A stored block of length 0 first: the output buffer is still unallocated, and the copy of zero
 * bytes to NULL + 0 was undefined behaviour (UBSan flags it). */
START_TEST(inflate_empty_stored_block)
{
    size_t len;
    uint8_t *in = slurp("tests/data/rel_inflate_empty_stored.bin", &len);
    ck_assert_uint_eq(len, 5);
    uint8_t *out = NULL;
    size_t out_len = 99, used = 0;
    char err[256] = "";
    ck_assert_int_eq(tg_inflate(in, len, &out, &out_len, &used, err, sizeof err), TG_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, 0);
    ck_assert_uint_eq(used, 5);
    free(out);
    free(in);

    /* an empty stored block, then a final stored block "hi" */
    const uint8_t two[] = {0x00, 0x00, 0x00, 0xff, 0xff, 0x01, 0x02, 0x00, 0xfd, 0xff, 'h', 'i'};
    ck_assert_int_eq(tg_inflate(two, sizeof two, &out, &out_len, &used, err, sizeof err), TG_OK);
    ck_assert_uint_eq(out_len, 2);
    ck_assert_int_eq(memcmp(out, "hi", 2), 0);
    free(out);
}
END_TEST

/* A layer that reduces the batch dim away (sum, max over everything) gave a 0-d output; the
 * summary divided by its (absent) batch size: SIGFPE. */
START_TEST(summary_of_zero_d_output)
{
    const char *files[] = {"tests/data/rel_spec_sum.txt", "tests/data/rel_spec_max.txt"};
    const char *types[] = {"sum", "max"};
    for (int i = 0; i < 2; i++) {
        char err[512] = "";
        tg_model *m = tg_model_load(files[i], 0, err, sizeof err);
        ck_assert_msg(m != NULL, "%s", err);
        char *text = tg_summary(m, err, sizeof err);
        ck_assert_msg(text != NULL, "%s", err);
        char row[128];
        snprintf(row, sizeof row, "%-14s %-16s %-18s", "0", types[i], "[] (no batch)");
        ck_assert_msg(strstr(text, row), "no row '%s' in:\n%s", row, text);
        ck_assert_ptr_nonnull(strstr(text, "Total params: 0\nTotal MACs: 0\n"));
        free(text);
        tg_model_free(m);
        const char *words[] = {"summary", files[i], NULL};
        ck_assert_int_eq(run_tg(words), 0);
    }
}
END_TEST

/* A directory opened fine and read as empty: "no 'input' line". */
START_TEST(model_checkpoint_and_data_from_a_directory)
{
    char err[512] = "";
    ck_assert_ptr_null(tg_model_load("tests/data", 0, err, sizeof err));
    ck_assert_str_eq(err, "tests/data: is a directory, not a file");
    tg_idx idx;
    ck_assert_int_eq(tg_idx_load("tests/data", &idx, err, sizeof err), TG_ERR_IO);
    ck_assert_str_eq(err, "tests/data: is a directory, not a file");
    tg_model *m = tg_model_load("tests/data/rel_spec_sum.txt", 0, err, sizeof err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(tg_checkpoint_load("tests/data", m->net, NULL, NULL, NULL, err, sizeof err), TG_ERR_IO);
    ck_assert_str_eq(err, "tests/data: is a directory, not a file");
    tg_model_free(m);

    const char *words[] = {"summary", "/tmp", NULL};
    ck_assert_int_eq(run_tg(words), 2);
    ck_assert_msg(strstr(tool_err, "/tmp: is a directory, not a file"), "stderr: %s", tool_err);
}
END_TEST

/* Over 1 MiB a spec was cut silently at the limit (a valid-looking prefix); now the limit is
 * named. A NUL byte ended the text silently the same way. */
START_TEST(spec_size_limit_and_nul)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/tg_rel_spec_%d.txt", (int)getpid());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("input 1x4x4\nflatten\n", f);
    for (long n = 20; n <= 1L << 20; n += 64) fprintf(f, "# %61s\n", "padding comment");
    fputs("linear out=3\n", f);
    fclose(f);
    char err[512] = "";
    ck_assert_ptr_null(tg_model_load(path, 0, err, sizeof err));
    char want[128];
    snprintf(want, sizeof want, "%s: larger than the limit of 1048576 bytes", path);
    ck_assert_str_eq(err, want);

    static const char with_nul[] = "input 1x4x4\nflatten\n\0linear out=3\n";
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(with_nul, 1, sizeof with_nul - 1, f);
    fclose(f);
    ck_assert_ptr_null(tg_model_load(path, 0, err, sizeof err));
    snprintf(want, sizeof want, "%s: byte 20 is a NUL byte: not a text file", path);
    ck_assert_str_eq(err, want);
    unlink(path);
}
END_TEST

/* divisor_override=0 meant "none"; PyTorch rejects it ("divisor must be not zero"). */
START_TEST(avg_pool_divisor_override_zero)
{
    tg_tape *t = tt_tape();
    const int64_t shape[] = {1, 1, 4, 4};
    tg_tensor *x = tt_random(4, shape, 3, -1, 1);
    tg_pool_attr a = tg_pool_attr_kernel(2, 2);
    a.divisor_override = 0;
    tt_assert_error(t, tg_avg_pool2d(t, x, &a), "avg_pool2d: divisor_override must not be 0 (x=[1,1,4,4])");
    /* a nonzero override still divides by it: the window {x00,x01,x10,x11} over 3 */
    tg_clear_error(t);
    a.divisor_override = 3;
    tg_tensor *y = tg_avg_pool2d(t, x, &a);
    ck_assert_ptr_nonnull(y);
    const double want = ((double)x->data[0] + x->data[1] + x->data[4] + x->data[5]) / 3;
    tt_assert_close(y->data, &want, 1, TT_TOL);
}
END_TEST

Suite *suite_reliability(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tt_tcase("reliability");
    tcase_add_test(tc, idx_dimension_product_overflow);
    tcase_add_test(tc, inflate_empty_stored_block);
    tcase_add_test(tc, summary_of_zero_d_output);
    tcase_add_test(tc, model_checkpoint_and_data_from_a_directory);
    tcase_add_test(tc, spec_size_limit_and_nul);
    tcase_add_test(tc, avg_pool_divisor_override_zero);
    suite_add_tcase(s, tc);
    return s;
}
