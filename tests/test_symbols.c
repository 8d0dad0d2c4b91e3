/* tests/test_symbols.c — the public/internal line (graph/api.h): the library is built with
 * -fvisibility=hidden, and what it exports must be the user API alone. Every symbol the library
 * exports (readelf: GLOBAL or WEAK binding, DEFAULT visibility, defined) must start with tg_ and be
 * declared in a public header, i.e. one that tapegrad.h includes. The library checked is the one of
 * the runner's precision, found beside TG_BIN (default build/tg); the headers are read from the
 * repository root (the suites' working directory). */
#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <ctype.h>
#include <libgen.h>
#include <stdlib.h>

/* Public API today is a few hundred names; a count far below this means readelf read nothing. */
#define MIN_EXPORTED_SYMBOLS 100
#define SYMBOL_NAME_LEN 256
#define REPORT_LEN 4096

typedef struct text_buf {
    char *s;
    size_t len, cap;
} text_buf;

static void text_append(text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        ck_assert_ptr_nonnull(b->s);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Appends a file's text with its comments removed (a name mentioned in a comment declares nothing). */
static void append_code_of(text_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open public header %s", path);
    text_buf raw = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) text_append(&raw, chunk, n);
    fclose(f);
    for (size_t i = 0; i < raw.len; i++) {
        if (raw.s[i] == '/' && raw.s[i + 1] == '*') {
            char *end = strstr(raw.s + i + 2, "*/");
            i = end ? (size_t)(end - raw.s) + 1 : raw.len;
            text_append(b, " ", 1);
        } else if (raw.s[i] == '/' && raw.s[i + 1] == '/') {
            while (i < raw.len && raw.s[i] != '\n') i++;
            text_append(b, "\n", 1);
        } else {
            text_append(b, raw.s + i, 1);
        }
    }
    free(raw.s);
}

/* The code of tapegrad.h and of every header it includes (the public headers). */
static text_buf public_header_code(int *n_headers)
{
    text_buf code = {0};
    append_code_of(&code, "tapegrad.h");
    FILE *f = fopen("tapegrad.h", "r");
    ck_assert_ptr_nonnull(f);
    char line[512], path[512];
    *n_headers = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, " #include \"%511[^\"]\"", path) == 1) {
            append_code_of(&code, path);
            ++*n_headers;
        }
    fclose(f);
    return code;
}

static bool is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* name occurs in code as a whole identifier */
static bool declares(const char *code, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = code; (p = strstr(p, name)); p += n) {
        bool starts = p == code || !is_ident_char(p[-1]);
        if (starts && !is_ident_char(p[n])) return true;
    }
    return false;
}

static void library_path(char *out, size_t size)
{
    const char *bin = getenv("TG_BIN");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", bin && *bin ? bin : "build/tg");
    snprintf(out, size, "%s/%s", dirname(buf), TT_DOUBLE ? "libtapegrad64.a" : "libtapegrad.a");
}

START_TEST(exported_symbols_are_the_public_api)
{
    char lib[1200], cmd[1400];
    library_path(lib, sizeof lib);
    int n_headers = 0;
    text_buf code = public_header_code(&n_headers);
    ck_assert_msg(n_headers >= 10, "tapegrad.h includes only %d headers", n_headers);

    snprintf(cmd, sizeof cmd, "readelf -sW '%s' 2>&1", lib);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[1024], report[REPORT_LEN] = "";
    size_t used = 0;
    int exported = 0, bad = 0;
    while (fgets(line, sizeof line, p)) {
        char type[32], bind[32], vis[32], ndx[32], name[SYMBOL_NAME_LEN];
        /* Num: Value Size Type Bind Vis Ndx Name */
        if (sscanf(line, " %*[0-9]: %*s %*s %31s %31s %31s %31s %255s", type, bind, vis, ndx, name) != 5) continue;
        if (strcmp(type, "FUNC") && strcmp(type, "OBJECT")) continue;
        if (strcmp(bind, "GLOBAL") && strcmp(bind, "WEAK")) continue;
        if (strcmp(vis, "DEFAULT") || !strcmp(ndx, "UND")) continue;
        exported++;
        const char *why = strncmp(name, "tg_", 3) ? "lacks the tg_ prefix"
                          : !declares(code.s, name) ? "is declared in no public header"
                                                    : NULL;
        if (!why) continue;
        bad++;
        int w = snprintf(report + used, sizeof report - used, "\n  %s %s", name, why);
        if (w > 0 && used + (size_t)w < sizeof report) used += (size_t)w;
    }
    int st = pclose(p);
    free(code.s);
    ck_assert_msg(st == 0, "readelf -sW %s failed (status %d)", lib, st);
    ck_assert_msg(exported >= MIN_EXPORTED_SYMBOLS, "%s exports only %d symbols: is it built?", lib, exported);
    ck_assert_msg(bad == 0, "%s: %d of %d exported symbols are not the public API:%s", lib, bad, exported, report);
}
END_TEST

/* The check itself: a comment does not declare, a longer identifier does not either. */
START_TEST(declaration_search_matches_whole_identifiers_only)
{
    ck_assert(declares("void tg_relu(tg_tape *t);", "tg_relu"));
    ck_assert(!declares("void tg_relu_layer(void);", "tg_relu"));
    ck_assert(!declares("void xtg_relu(void);", "tg_relu"));
    ck_assert(declares("x\ntg_relu\n", "tg_relu"));
}
END_TEST

Suite *suite_symbols(void)
{
    Suite *s = suite_create("symbols");
    TCase *tc = tt_tcase("exports");
    tcase_add_test(tc, exported_symbols_are_the_public_api);
    tcase_add_test(tc, declaration_search_matches_whole_identifiers_only);
    suite_add_tcase(s, tc);
    return s;
}
