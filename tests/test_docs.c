/* tests/test_docs.c — every complete C program in README.md and the docs folder (a ```c block with a
 * main function) is compiled against the library and run, so documentation cannot rot.
 * The library is found beside TG_BIN (default build/tg). Runs in the float build only. */
#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <dirent.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Compiles and runs each program block of one file; returns the number compiled. */
static int check_file(const char *path, const char *build_dir)
{
    char *text = read_all(path);
    if (!text) return 0;
    int count = 0;
    for (char *p = text; (p = strstr(p, "```c\n")); ) {
        char *start = p + 5, *end = strstr(start, "```");
        if (!end) break;
        p = end + 3;
        if (!strstr(start, "int main") || strstr(start, "int main") > end) continue;
        char dir[] = "/tmp/tgdocXXXXXX";
        ck_assert_ptr_nonnull(mkdtemp(dir));
        char src[512], cmd[2048];
        snprintf(src, sizeof src, "%s/example.c", dir);
        FILE *f = fopen(src, "w");
        ck_assert_ptr_nonnull(f);
        fwrite(start, 1, (size_t)(end - start), f);
        fclose(f);
        char cwd[1024];
        ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
        snprintf(cmd, sizeof cmd,
                 "cc -std=c11 -Wall -Wextra -Werror -I%s -o %s/example %s %s/libtapegrad.a -lm -pthread "
                 "> %s/cc.log 2>&1 && %s/example > %s/run.log 2>&1",
                 cwd, dir, src, build_dir, dir, dir, dir);
        int st = system(cmd);
        char logcmd[1200];
        if (st != 0) {
            snprintf(logcmd, sizeof logcmd, "cat %s/cc.log %s/run.log >&2", dir, dir);
            if (system(logcmd)) {}
        }
        snprintf(logcmd, sizeof logcmd, "rm -rf %s", dir);
        if (system(logcmd)) {}
        ck_assert_msg(st == 0, "%s: example %d failed to compile or run (status %d)", path, count + 1, st);
        count++;
    }
    free(text);
    return count;
}

START_TEST(doc_examples_compile_and_run)
{
#if TT_DOUBLE
    (void)check_file; /* once is enough: the float build runs them */
#else
    const char *bin = getenv("TG_BIN");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", bin ? bin : "build/tg");
    const char *build_dir = dirname(buf);
    int total = check_file("README.md", build_dir);
    DIR *d = opendir("docs");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".md")) continue;
        char path[512];
        snprintf(path, sizeof path, "docs/%s", e->d_name);
        total += check_file(path, build_dir);
    }
    closedir(d);
    ck_assert_msg(total >= 2, "expected the README and architecture examples, found %d", total);
#endif
}
END_TEST

/* A program compiled for one precision and linked with the other library must not link (it would
 * run and compute garbage): graph/tensor.h's precision guard. */
START_TEST(precision_mismatch_fails_to_link)
{
#if TT_DOUBLE
    (void)0; /* once is enough */
#else
    const char *bin = getenv("TG_BIN");
    char buf[1024], cwd[1024];
    snprintf(buf, sizeof buf, "%s", bin ? bin : "build/tg");
    const char *build_dir = dirname(buf);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    char dir[] = "/tmp/tglinkXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char src[512];
    snprintf(src, sizeof src, "%s/prog.c", dir);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#include \"tapegrad.h\"\nint main(void) { tg_tensor_free(tg_tensor_newv(1, (int64_t)3)); return 0; }\n", f);
    fclose(f);
    static const struct { const char *define, *lib, *symbol; } cases[] = {
        {"", "libtapegrad64.a", "tg_real_is_float32__link_libtapegrad_not_libtapegrad64"},
        {"-DTG_REAL_DOUBLE", "libtapegrad.a", "tg_real_is_float64__link_libtapegrad64_or_drop_TG_REAL_DOUBLE"},
        {"", "libtapegrad.a", NULL},            /* matching pairs link */
        {"-DTG_REAL_DOUBLE", "libtapegrad64.a", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[4096], log[600];
        snprintf(log, sizeof log, "%s/ld.log", dir);
        snprintf(cmd, sizeof cmd, "cc -std=c11 %s -I%s -o %s/prog %s %s/%s -lm -pthread > %s 2>&1", cases[i].define, cwd,
                 dir, src, build_dir, cases[i].lib, log);
        const int st = system(cmd);
        char text[4096] = "";
        FILE *lf = fopen(log, "r");
        if (lf) {
            size_t n = fread(text, 1, sizeof text - 1, lf);
            text[n] = '\0';
            fclose(lf);
        }
        if (cases[i].symbol) {
            ck_assert_msg(st != 0, "case %zu: a precision mismatch linked", i);
            ck_assert_msg(strstr(text, cases[i].symbol), "case %zu: the linker did not name %s: %s", i, cases[i].symbol, text);
        } else {
            ck_assert_msg(st == 0, "case %zu: a matching precision failed to link: %s", i, text);
        }
    }
    snprintf(buf, sizeof buf, "rm -rf %s", dir);
    if (system(buf)) {}
#endif
}
END_TEST

Suite *suite_docs(void)
{
    Suite *s = suite_create("docs");
    TCase *tc = tt_tcase("examples");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, doc_examples_compile_and_run);
    tcase_add_test(tc, precision_mismatch_fails_to_link);
    suite_add_tcase(s, tc);
    return s;
}
