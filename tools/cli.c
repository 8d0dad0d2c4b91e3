/* tools/cli.c — the error line and the option parser of `tg` (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest error line kept; a longer one is cut (the reason comes first, so little is lost). */
#define CLI_LINE_MAX 1024
/* Suggest an option within this many edits of an unknown one ("--epoch" -> "--epochs"). */
#define CLI_SUGGEST_EDITS 2
#define CLI_NAME_MAX 32

static char last_error[4 * CLI_LINE_MAX];

const char *cli_last_error(void) { return last_error; }

int cli_fail(int code, const char *cmd, const char *fmt, ...)
{
    char msg[CLI_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Layers below escape what they quote; this is the last guard for the terminal: no control
     * byte (ESC, BEL, CR, newline) or non-ASCII byte leaves as itself. Backslashes stay, so text
     * already escaped is not escaped twice. */
    char line[4 * CLI_LINE_MAX];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sizeof line; p++) {
        if (*p >= 0x20 && *p < 0x7f) line[n++] = (char)*p;
        else n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", *p);
    }
    line[n] = '\0';
    fflush(stdout);
    snprintf(last_error, sizeof last_error, "%s", line);
    if (cmd) fprintf(stderr, "tg: %s: %s\n", cmd, line);
    else fprintf(stderr, "tg: %s\n", line);
    return code;
}

/* ---- option lookup ---- */

static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la >= CLI_NAME_MAX || lb >= CLI_NAME_MAX) return (size_t)-1;
    size_t row[CLI_NAME_MAX + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

static int unknown_option(const char *cmd, const cli_opt *opts, const char *word, size_t name_len)
{
    const char *best = NULL;
    size_t best_d = CLI_SUGGEST_EDITS + 1;
    for (const cli_opt *o = opts; o->name; o++) {
        size_t d = edit_distance(word, name_len, o->name);
        if (d < best_d) best_d = d, best = o->name;
    }
    if (best)
        return cli_fail(TG_EXIT_USAGE, cmd, "unknown option '%s' (did you mean %s?)", CLI_Q(word), best);
    return cli_fail(TG_EXIT_USAGE, cmd, "unknown option '%s' (tg %s --help lists them)", CLI_Q(word), cmd);
}

/* A word that is an option rather than a value: "--x" or "-x" with a letter (so "-1" is a value). */
static bool is_option_word(const char *s)
{
    return s[0] == '-' && (s[1] == '-' || (s[1] >= 'a' && s[1] <= 'z') || (s[1] >= 'A' && s[1] <= 'Z'));
}

/* "must be > 0", "must be >= 0 and < 1", "must be from 1 to 64" */
static void range_text(const cli_opt *o, char *buf, size_t size)
{
    const bool has_lo = isfinite(o->lo), has_hi = isfinite(o->hi);
    if (o->kind == CLI_INT && has_lo && has_hi) snprintf(buf, size, "from %.17g to %.17g", o->lo, o->hi);
    else if (o->kind == CLI_INT && has_lo) snprintf(buf, size, "at least %.17g", o->lo);
    else if (has_lo && has_hi)
        snprintf(buf, size, "%s %.17g and %s %.17g", o->lo_open ? ">" : ">=", o->lo, o->hi_open ? "<" : "<=", o->hi);
    else if (has_lo) snprintf(buf, size, "%s %.17g", o->lo_open ? ">" : ">=", o->lo);
    else if (has_hi) snprintf(buf, size, "%s %.17g", o->hi_open ? "<" : "<=", o->hi);
    else snprintf(buf, size, "any number");
}

static bool in_range(const cli_opt *o, double v)
{
    if (o->lo > o->hi) return true;
    if (o->lo_open ? !(v > o->lo) : !(v >= o->lo)) return false;
    if (o->hi_open ? !(v < o->hi) : !(v <= o->hi)) return false;
    return true;
}

static bool is_choice(const char *choices, const char *v)
{
    const size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        const size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

/* strtod/strtoll accept leading spaces; a value must be the number and nothing else */
static bool starts_like_number(const char *v) { return *v && !(*v == ' ' || (*v >= '\t' && *v <= '\r')); }

static int set_value(const char *cmd, const cli_opt *o, const char *v)
{
    char range[96];
    range_text(o, range, sizeof range);
    switch (o->kind) {
    case CLI_FLAG:
        return cli_fail(TG_EXIT_USAGE, cmd, "%s takes no value (got '%s')", o->name, CLI_Q(v));
    case CLI_STRING:
        if (!*v) return cli_fail(TG_EXIT_USAGE, cmd, "%s: the value is empty (expected %s)", o->name, o->metavar);
        *(const char **)o->dst = v;
        return TG_EXIT_OK;
    case CLI_CHOICE:
        if (!is_choice(o->metavar, v))
            return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is not one of %s", o->name, CLI_Q(v), o->metavar);
        *(const char **)o->dst = v;
        return TG_EXIT_OK;
    case CLI_INT: {
        char *end;
        errno = 0;
        long long x = starts_like_number(v) ? strtoll(v, &end, 10) : 0;
        if (!starts_like_number(v) || *end) return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is not an integer", o->name, CLI_Q(v));
        if (errno == ERANGE || !in_range(o, (double)x))
            return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is out of range (must be %s)", o->name, CLI_Q(v), range);
        *(int64_t *)o->dst = (int64_t)x;
        return TG_EXIT_OK;
    }
    case CLI_REAL: {
        char *end;
        errno = 0;
        double x = starts_like_number(v) ? strtod(v, &end) : 0;
        if (!starts_like_number(v) || *end) return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is not a number", o->name, CLI_Q(v));
        if (errno == ERANGE || !isfinite(x))
            return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is not a finite number", o->name, CLI_Q(v));
        if (!in_range(o, x))
            return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is out of range (must be %s)", o->name, CLI_Q(v), range);
        *(double *)o->dst = x;
        return TG_EXIT_OK;
    }
    case CLI_SEED: {
        char *end;
        errno = 0;
        /* strtoull would wrap "-1" to 2^64-1: only digits are a seed */
        unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
        if (!(*v >= '0' && *v <= '9') || *end)
            return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is not a non-negative integer", o->name, CLI_Q(v));
        if (errno == ERANGE)
            return cli_fail(TG_EXIT_USAGE, cmd, "%s: '%s' is out of range (must be from 0 to %llu)", o->name, CLI_Q(v),
                            (unsigned long long)UINT64_MAX);
        *(uint64_t *)o->dst = (uint64_t)x;
        return TG_EXIT_OK;
    }
    }
    return cli_fail(TG_EXIT_USAGE, cmd, "%s: unsupported option kind", o->name);
}

int cli_option(const char *cmd, const cli_opt *opts, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return CLI_HELP;
    if (!is_option_word(a)) return CLI_POSITIONAL;
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    const size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
    const cli_opt *o = opts;
    while (o->name && !(strlen(o->name) == name_len && !strncmp(o->name, a, name_len))) o++;
    if (!o->name) return unknown_option(cmd, opts, a, name_len);
    if (o->kind == CLI_FLAG) {
        if (eq) return set_value(cmd, o, eq + 1);
        *(bool *)o->dst = true;
        return TG_EXIT_OK;
    }
    if (eq) return set_value(cmd, o, eq + 1);
    if (*i + 1 >= argc || is_option_word(argv[*i + 1]))
        return cli_fail(TG_EXIT_USAGE, cmd, "%s needs a value (%s %s)", o->name, o->name, o->metavar);
    return set_value(cmd, o, argv[++*i]);
}

int cli_check_required(const char *cmd, const cli_opt *opts)
{
    for (const cli_opt *o = opts; o->name; o++)
        if (o->required && o->kind == CLI_STRING && !*(const char **)o->dst)
            return cli_fail(TG_EXIT_USAGE, cmd, "%s %s is required", o->name, o->metavar);
    return TG_EXIT_OK;
}

void cli_format_usage(const cli_opt *opts, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const cli_opt *o = opts; o->name && n < size; o++) {
        const char *open = o->required ? "" : "[", *close = o->required ? "" : "]";
        int w = o->kind == CLI_FLAG ? snprintf(buf + n, size - n, " %s%s%s", open, o->name, close)
                                    : snprintf(buf + n, size - n, " %s%s %s%s", open, o->name, o->metavar, close);
        if (w < 0) break;
        n += (size_t)w;
    }
}

void cli_print_help(FILE *f, const cli_opt *opts)
{
    for (const cli_opt *o = opts; o->name; o++) {
        char head[64], range[96] = "", dflt[64] = "";
        snprintf(head, sizeof head, "%s%s%s", o->name, o->kind == CLI_FLAG ? "" : " ",
                 o->kind == CLI_FLAG ? "" : o->metavar);
        if ((o->kind == CLI_INT || o->kind == CLI_REAL) && o->lo <= o->hi) {
            char r[80];
            range_text(o, r, sizeof r);
            snprintf(range, sizeof range, "; %s", r);
        }
        switch (o->kind) {
        /* a default outside the range means "not set" (--limit: all images) and is not shown */
        case CLI_INT:
            if (in_range(o, (double)*(int64_t *)o->dst))
                snprintf(dflt, sizeof dflt, "; default %lld", (long long)*(int64_t *)o->dst);
            break;
        case CLI_REAL:
            if (in_range(o, *(double *)o->dst)) snprintf(dflt, sizeof dflt, "; default %g", *(double *)o->dst);
            break;
        case CLI_SEED: snprintf(dflt, sizeof dflt, "; default %llu", (unsigned long long)*(uint64_t *)o->dst); break;
        case CLI_CHOICE:
        case CLI_STRING:
            if (*(const char **)o->dst) snprintf(dflt, sizeof dflt, "; default %s", *(const char **)o->dst);
            break;
        case CLI_FLAG: break;
        }
        fprintf(f, "  %-26s %s%s%s\n", head, o->help ? o->help : "", range, dflt);
    }
}

int cli_check_writable(const char *cmd, const char *option, const char *path)
{
    struct stat st;
    const char *why = NULL;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) why = strerror(EISDIR);
        else if (access(path, W_OK) != 0) why = strerror(errno);
    } else if (errno != ENOENT) {
        why = strerror(errno);
    } else {
        /* a new file: its directory must exist and take new entries */
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == path) snprintf(dir, sizeof dir, "/");
        else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        if (stat(dir, &st) != 0) why = strerror(errno);
        else if (!S_ISDIR(st.st_mode)) why = strerror(ENOTDIR);
        else if (access(dir, W_OK | X_OK) != 0) why = strerror(errno);
    }
    if (!why) return TG_EXIT_OK;
    return cli_fail(TG_EXIT_INVALID, cmd, "%s: cannot write '%s': %s", option, CLI_Q(path), why);
}
