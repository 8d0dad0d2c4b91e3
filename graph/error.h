/* graph/error.h — status codes, the optional log callback and internal assertions.
 *
 * tapegrad reports what a caller can cause in two ways (docs/architecture.md § Errors):
 *   1. ops on a tape (bad shape, bad attribute, NULL input, full arena): the op returns NULL and
 *      the tape keeps the first message (tg_error(tape));
 *   2. everything else returns a tg_status (tg_strerror() names it) with a one-line reason in the
 *      caller's err buffer, or, for a constructor, NULL with the reason in tg_last_error().
 * Broken internal invariants are not for callers: TG_ASSERT logs file and line and aborts.
 * The library never calls exit() and never prints except through tg_set_log().
 *
 *   tg_status st = tg_backward(loss);
 *   if (st != TG_OK) fprintf(stderr, "%s: %s\n", tg_strerror(st), tg_error(tape));
 */
#ifndef TG_ERROR_H
#define TG_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#include "api.h"

TG_API_BEGIN

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_INVALID,   /* bad argument, shape or attribute */
    TG_ERR_NOMEM,     /* malloc failed or the arena's limit was reached */
    TG_ERR_IO,        /* a file could not be opened, read or written */
    TG_ERR_FORMAT,    /* a file's contents are malformed or unsupported */
    TG_ERR_STATE,     /* the call does not fit the object's state (e.g. backward without a graph) */
    TG_ERR_NONFINITE, /* anomaly mode: an op produced NaN or Inf */
    TG_STATUS_COUNT
} tg_status;

/* Text for a status code; never NULL. */
const char *tg_strerror(tg_status status);

/* Why the calling thread's latest failed constructor returned NULL (tg_tensor_new, the nn/ layer
 * constructors, tg_tape_new, tg_sequential_add): one line naming the constructor, the
 * argument and its value, e.g. "conv layer: in=3 and out=8 must be divisible by groups=2". Read it right
 * after the NULL; later calls may replace it. "" when no constructor has failed in this thread.
 * (Ops report through tg_error(tape); calls that return a tg_status fill their err buffer.) */
#define TG_LAST_ERROR_LEN 256
const char *tg_last_error(void);

/* Messages the library wants a person to see (assertion failures, optional progress) go here.
 * Default: none are printed. Pass NULL to silence again. */
typedef void (*tg_log_fn)(const char *message, void *user);
void tg_set_log(tg_log_fn fn, void *user);
void tg_log_message(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Quotes untrusted text (file headers, names, spec words) for a message: printable ASCII is
 * copied, every other byte becomes \xNN, a backslash becomes \\, and at most max_chars bytes
 * of s are quoted (the rest is cut and marked "..."). len is s's length, or TG_ESCAPE_CSTR to stop
 * at its NUL. buf always ends with a NUL; size >= 4 * max_chars + 4 is always enough. Returns buf,
 * so it goes straight into a printf: "unknown key '%s'", tg_escape(key, TG_ESCAPE_CSTR, 40, b, sizeof b). */
#define TG_ESCAPE_CSTR ((size_t)-1)
const char *tg_escape(const char *s, size_t len, size_t max_chars, char *buf, size_t size);

/* Internal invariant: on failure logs "file:line: assertion failed: expr" and aborts. Never used
 * for anything a caller can cause. */
void tg_assert_fail(const char *expr, const char *file, int line);
#define TG_ASSERT(expr) ((expr) ? (void)0 : tg_assert_fail(#expr, __FILE__, __LINE__))

TG_API_END

#endif
