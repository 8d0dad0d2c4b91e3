/* tests/test_fixtures.c — PyTorch reference cases (tests/fixtures/<family>/<case>/, written by
 * tests/fixtures/gen_*.py with fixture_lib.py) run through the `tg` binary and compared.
 *
 * For each case: `$TG_BIN op <args> --out <tmpdir>` runs with the case directory as its working
 * directory; every expected/NAME.npy must exist in tmpdir with the identical shape and values within
 * |got - want| <= atol + rtol * |want| (the case's `tol` file, default rtol 1e-4 atol 1e-5);
 * NaN must be NaN and an infinity the same infinity, exactly (tests/fixtures/nonfinite relies on it).
 * One test per family directory; a failure lists each failing case with its worst element.
 * TG_BIN defaults to build/tg; run from the repository root. */
#include "util.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURE_ROOT "tests/fixtures"
#define MAX_FAMILIES 128
#define MAX_ARGS 64

static char *families[MAX_FAMILIES];
static int n_families;

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names of the subdirectories of dir (at most max); returns the count. */
static int list_dirs(const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.' || e->d_name[0] == '_') continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
}

static bool read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Runs tg in case_dir with the words of args plus --out out_dir; stderr goes to err_file.
 * Returns the exit status, or -1 when the child did not exit normally. */
static int run_case(const char *case_dir, char *args, const char *out_dir, const char *err_file)
{
    char *argv[MAX_ARGS + 5];
    const char *bin = tt_tg_binary();
    int argc = 0;
    argv[argc++] = (char *)bin;
    argv[argc++] = "op";
    for (char *w = strtok(args, " \t\r\n"); w && argc < MAX_ARGS; w = strtok(NULL, " \t\r\n")) argv[argc++] = w;
    argv[argc++] = "--out";
    argv[argc++] = (char *)out_dir;
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        if (chdir(case_dir) != 0) _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Appends one line to the family's report (kept short: the first problems are enough). */
static void report(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 2 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
    len = strlen(buf);
    if (len + 1 < size) strcat(buf, "\n");
}

/* How far got is from want in units of the tolerance (> 1: a mismatch). Non-finite values are
 * exact: NaN only where want is NaN, an infinity only where want is the same infinity. */
static double mismatch_ratio(double want, double got, double rtol, double atol)
{
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got) ? 0 : INFINITY;
    if (isinf(want) || isinf(got)) return want == got ? 0 : INFINITY;
    return fabs(got - want) / (atol + rtol * fabs(want));
}

/* Compares every expected/NAME.npy with the file tg produced; returns the number of mismatches. */
static int compare_outputs(const char *family, const char *name, const char *case_dir, const char *out_dir,
                           double rtol, double atol, char *msg, size_t msgsz)
{
    char expected_dir[PATH_MAX + 16];
    snprintf(expected_dir, sizeof expected_dir, "%s/expected", case_dir);
    DIR *d = opendir(expected_dir);
    if (!d) {
        report(msg, msgsz, "%s/%s: no expected/ directory", family, name);
        return 1;
    }
    int bad = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".npy") != 0) continue;
        files++;
        char want_path[PATH_MAX + 512], got_path[PATH_MAX + 512], err[512];
        snprintf(want_path, sizeof want_path, "%s/%s", expected_dir, e->d_name);
        snprintf(got_path, sizeof got_path, "%s/%s", out_dir, e->d_name);
        tg_tensor *want = NULL, *got = NULL;
        if (tg_npy_load(want_path, &want, NULL, err, sizeof err) != TG_OK) {
            report(msg, msgsz, "%s/%s: bad expected file: %s", family, name, err);
            bad++;
        } else if (tg_npy_load(got_path, &got, NULL, err, sizeof err) != TG_OK) {
            report(msg, msgsz, "%s/%s: %s not produced: %s", family, name, e->d_name, err);
            bad++;
        } else if (!tg_same_shape(want, got) || want->dtype != got->dtype) {
            char a[TG_SHAPE_STR_LEN], b[TG_SHAPE_STR_LEN];
            report(msg, msgsz, "%s/%s: %s has shape %s%s, expected %s%s", family, name, e->d_name,
                   tg_shape_str(got, a, sizeof a), got->dtype == TG_INT64 ? " int64" : "",
                   tg_shape_str(want, b, sizeof b), want->dtype == TG_INT64 ? " int64" : "");
            bad++;
        } else {
            int64_t worst = -1, n_bad = 0;
            double worst_ratio = 0;
            for (int64_t i = 0; i < want->numel; i++) {
                double w = want->dtype == TG_INT64 ? (double)want->idata[i] : (double)want->data[i];
                double g = got->dtype == TG_INT64 ? (double)got->idata[i] : (double)got->data[i];
                double ratio = mismatch_ratio(w, g, rtol, atol);
                if (ratio > 1) n_bad++;
                if (ratio > worst_ratio || (worst < 0 && ratio > 1)) worst_ratio = ratio, worst = i;
            }
            if (n_bad) {
                double w = (double)want->data[worst], g = (double)got->data[worst];
                if (want->dtype == TG_INT64) w = (double)want->idata[worst], g = (double)got->idata[worst];
                report(msg, msgsz, "%s/%s: %s: %lld of %lld elements differ; worst [%lld] got %.8g want %.8g (rtol %g atol %g)",
                       family, name, e->d_name, (long long)n_bad, (long long)want->numel, (long long)worst, g, w, rtol, atol);
                bad++;
            }
        }
        tg_tensor_free(want);
        tg_tensor_free(got);
    }
    closedir(d);
    if (files == 0) {
        report(msg, msgsz, "%s/%s: expected/ holds no .npy file", family, name);
        bad++;
    }
    return bad;
}

/* Runs one case; returns true when it passed, else appends the reason to msg. */
static bool check_case(const char *family, const char *name, char *msg, size_t msgsz)
{
    char case_dir[PATH_MAX], path[PATH_MAX + 16], args[4096];
    snprintf(case_dir, sizeof case_dir, FIXTURE_ROOT "/%s/%s", family, name);
    snprintf(path, sizeof path, "%s/args", case_dir);
    if (!read_text(path, args, sizeof args)) {
        report(msg, msgsz, "%s/%s: no args file", family, name);
        return false;
    }
    double rtol = 1e-4, atol = 1e-5;
    char tol[128];
    snprintf(path, sizeof path, "%s/tol", case_dir);
    if (read_text(path, tol, sizeof tol) && sscanf(tol, "%lf %lf", &rtol, &atol) != 2) {
        report(msg, msgsz, "%s/%s: tol file must hold \"rtol atol\"", family, name);
        return false;
    }
    char out_dir[] = "/tmp/tg_fixture_XXXXXX";
    if (!mkdtemp(out_dir)) {
        report(msg, msgsz, "%s/%s: cannot make a temp dir: %s", family, name, strerror(errno));
        return false;
    }
    char abs_case[PATH_MAX], err_file[PATH_MAX + 16];
    if (!realpath(case_dir, abs_case)) snprintf(abs_case, sizeof abs_case, "%s", case_dir);
    /* stderr lives outside out_dir so that only tg's outputs are in it */
    snprintf(err_file, sizeof err_file, "%s.stderr", out_dir);
    int rc = run_case(abs_case, args, out_dir, err_file);
    bool ok = true;
    if (rc != 0) {
        char err[600] = "";
        read_text(err_file, err, sizeof err);
        char *nl = strchr(err, '\n');
        if (nl) *nl = '\0';
        report(msg, msgsz, "%s/%s: tg exited with %d: %s", family, name, rc, err);
        ok = false;
    } else {
        ok = compare_outputs(family, name, case_dir, out_dir, rtol, atol, msg, msgsz) == 0;
    }
    unlink(err_file);
    remove_tree(out_dir);
    return ok;
}

START_TEST(fixture_family)
{
    const char *family = families[_i];
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, FIXTURE_ROOT "/%s", family);
    char *cases[1024];
    int n = list_dirs(dir, cases, 1024);
    static char msg[8192];
    msg[0] = '\0';
    int failed = 0;
    for (int i = 0; i < n; i++)
        if (!check_case(family, cases[i], msg, sizeof msg)) failed++;
    free_names(cases, n);
    ck_assert_msg(failed == 0, "%d of %d %s cases failed (TG_BIN=%s):\n%s", failed, n, family, tt_tg_binary(), msg);
}
END_TEST

/* PyTorch's convolution cases again, every one through the reference convolution (forward and
 * dW by TG_CONV_ALGO=reference, dX by TG_CONV_DX_PATH=reference: tg reads both at first use), so
 * the loops the conv tests take as their oracle are themselves held to PyTorch. */
START_TEST(conv_family_through_reference)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, FIXTURE_ROOT "/conv");
    char *cases[1024];
    int n = list_dirs(dir, cases, 1024);
    ck_assert_msg(n > 0, "no conv fixtures under %s", dir);
    setenv("TG_CONV_ALGO", "reference", 1);
    setenv("TG_CONV_DX_PATH", "reference", 1);
    static char msg[8192];
    msg[0] = '\0';
    int failed = 0;
    for (int i = 0; i < n; i++)
        if (!check_case("conv", cases[i], msg, sizeof msg)) failed++;
    unsetenv("TG_CONV_ALGO");
    unsetenv("TG_CONV_DX_PATH");
    free_names(cases, n);
    ck_assert_msg(failed == 0, "%d of %d conv cases failed through the reference:\n%s", failed, n, msg);
}
END_TEST

START_TEST(no_fixtures_yet)
{
    /* nothing to compare: tests/fixtures holds no case directories (or the suite ran elsewhere) */
}
END_TEST

/* The comparison itself must be able to fail: a case whose expected values are off is caught. */
START_TEST(comparison_detects_a_wrong_value)
{
    char dir[] = "/tmp/tg_fixture_self_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[PATH_MAX], err[256];
    tg_tensor *a = tt_tensorv((double[]){1, 2, 3}, 1, 3);
    tg_tensor *b = tt_tensorv((double[]){1, 2, 3.01}, 1, 3);
    snprintf(path, sizeof path, "%s/expected", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/expected/out.npy", dir);
    ck_assert_int_eq(tg_npy_save(path, a, TG_NPY_F32, err, sizeof err), TG_OK);
    snprintf(path, sizeof path, "%s/out", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/out/out.npy", dir);
    ck_assert_int_eq(tg_npy_save(path, b, TG_NPY_F32, err, sizeof err), TG_OK);
    char msg[1024] = "", out_dir[PATH_MAX];
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    ck_assert_int_eq(compare_outputs("self", "case", dir, out_dir, 1e-4, 1e-5, msg, sizeof msg), 1);
    ck_assert_msg(strstr(msg, "1 of 3 elements differ; worst [2] got 3.01 want 3") != NULL, "%s", msg);
    msg[0] = '\0';
    ck_assert_int_eq(compare_outputs("self", "case", dir, out_dir, 1e-2, 0, msg, sizeof msg), 0);
    remove_tree(out_dir);
    snprintf(path, sizeof path, "%s/expected", dir);
    remove_tree(path);
    rmdir(dir);
}
END_TEST

/* NaN matches only NaN, an infinity only the same infinity; a finite want never accepts them. */
START_TEST(comparison_treats_nan_and_inf_exactly)
{
    const double tol_r = 1e-4, tol_a = 1e-5;
    ck_assert(mismatch_ratio(NAN, NAN, tol_r, tol_a) == 0);
    ck_assert(mismatch_ratio(INFINITY, INFINITY, tol_r, tol_a) == 0);
    ck_assert(mismatch_ratio(-INFINITY, -INFINITY, tol_r, tol_a) == 0);
    ck_assert(mismatch_ratio(NAN, 1.0, tol_r, tol_a) > 1);
    ck_assert(mismatch_ratio(1.0, NAN, tol_r, tol_a) > 1);
    ck_assert(mismatch_ratio(INFINITY, NAN, tol_r, tol_a) > 1);
    ck_assert(mismatch_ratio(NAN, INFINITY, tol_r, tol_a) > 1);
    ck_assert(mismatch_ratio(INFINITY, -INFINITY, tol_r, tol_a) > 1);
    ck_assert(mismatch_ratio(INFINITY, 1e300, tol_r, tol_a) > 1); /* rtol * inf must not excuse it */
    ck_assert(mismatch_ratio(1e300, INFINITY, tol_r, tol_a) > 1);
    ck_assert(mismatch_ratio(1.0, 1.0 + 1e-6, tol_r, tol_a) <= 1);
}
END_TEST

Suite *suite_fixtures(void)
{
    Suite *s = suite_create("fixtures");
    free_names(families, n_families);
    n_families = list_dirs(FIXTURE_ROOT, families, MAX_FAMILIES);
    TCase *self = tt_tcase("comparison");
    tcase_add_test(self, comparison_detects_a_wrong_value);
    tcase_add_test(self, comparison_treats_nan_and_inf_exactly);
    suite_add_tcase(s, self);
    if (access(FIXTURE_ROOT "/conv", F_OK) == 0) {
        TCase *ref = tt_tcase("conv_reference");
        tcase_set_timeout(ref, 300);
        tcase_add_test(ref, conv_family_through_reference);
        suite_add_tcase(s, ref);
    }
    if (n_families == 0) {
        TCase *tc = tt_tcase("none");
        tcase_add_test(tc, no_fixtures_yet);
        suite_add_tcase(s, tc);
    }
    for (int i = 0; i < n_families; i++) {
        TCase *tc = tt_tcase(families[i]);
        tcase_set_timeout(tc, 300);
        tcase_add_loop_test(tc, fixture_family, i, i + 1);
        suite_add_tcase(s, tc);
    }
    return s;
}
