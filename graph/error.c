/* graph/error.c — status text, the log callback, assertion failures. */
#include "error_internal.h"

#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Per thread, so constructors on two threads do not overwrite each other's reason. */
static _Thread_local char last_error[TG_LAST_ERROR_LEN];

const char *tg_last_error(void) { return last_error; }

void *tg_set_last_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return NULL;
}

static tg_log_fn log_fn;
static void *log_user;

const char *tg_strerror(tg_status status)
{
    static const char *const text[TG_STATUS_COUNT] = {
        [TG_OK] = "success",
        [TG_ERR_INVALID] = "invalid argument",
        [TG_ERR_NOMEM] = "out of memory",
        [TG_ERR_IO] = "input/output error",
        [TG_ERR_FORMAT] = "malformed or unsupported file",
        [TG_ERR_STATE] = "operation does not fit the current state",
        [TG_ERR_NONFINITE] = "non-finite value (anomaly mode)",
    };
    if ((int)status < 0 || status >= TG_STATUS_COUNT) return "unknown status";
    return text[status];
}

void tg_set_log(tg_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void tg_log_message(const char *fmt, ...)
{
    if (!log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(buf, log_user);
}

const char *tg_escape(const char *s, size_t len, size_t max_chars, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    static const char ellipsis[] = "...";
    size_t out = 0, i = 0;
    buf[0] = '\0';
    if (!s) return buf;
    for (; (len == TG_ESCAPE_CSTR ? s[i] != '\0' : i < len) && i < max_chars; i++) {
        const unsigned char c = (unsigned char)s[i];
        char piece[5];
        size_t n;
        if (c == '\\') n = (size_t)snprintf(piece, sizeof piece, "\\\\");
        else if (c >= 0x20 && c < 0x7f) piece[0] = (char)c, piece[1] = '\0', n = 1;
        else n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", c);
        if (out + n + sizeof ellipsis > size) break; /* keep room to mark the cut */
        memcpy(buf + out, piece, n);
        out += n;
    }
    const bool cut = len == TG_ESCAPE_CSTR ? s[i] != '\0' : i < len;
    if (cut && out + sizeof ellipsis <= size) memcpy(buf + out, ellipsis, sizeof ellipsis - 1), out += sizeof ellipsis - 1;
    buf[out] = '\0';
    return buf;
}

void tg_assert_fail(const char *expr, const char *file, int line)
{
    /* An invariant of the library itself broke: say where, even with no log set, then stop. */
    if (log_fn) tg_log_message("%s:%d: assertion failed: %s", file, line, expr);
    else fprintf(stderr, "tapegrad: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
