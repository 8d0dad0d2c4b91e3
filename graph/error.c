/* graph/error.c — status text, the log callback, assertion failures. */
#include "error.h"

#include <stdio.h>
#include <stdlib.h>

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

void tg_assert_fail(const char *expr, const char *file, int line)
{
    /* An invariant of the library itself broke: say where, even with no log set, then stop. */
    if (log_fn) tg_log_message("%s:%d: assertion failed: %s", file, line, expr);
    else fprintf(stderr, "tapegrad: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
