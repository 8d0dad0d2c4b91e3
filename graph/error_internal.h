/* graph/error_internal.h — how constructors record the reason behind a NULL (tg_last_error).
 * Internal: the library's own code calls it. */
#ifndef TG_ERROR_INTERNAL_H
#define TG_ERROR_INTERNAL_H

#include "error.h"

/* Formats the calling thread's last error (one line, cut at TG_LAST_ERROR_LEN - 1) and returns
 * NULL, so a constructor can `return tg_set_last_error("linear layer: in=%lld ...", ...)`. */
void *tg_set_last_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
