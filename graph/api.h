/* graph/api.h — which declarations are tapegrad's public API (exported) and which are internal.
 *
 * The library is compiled with -fvisibility=hidden, so a function is exported only when a public
 * header declares it: public headers (those tapegrad.h includes) wrap their declarations in
 * TG_API_BEGIN / TG_API_END, or mark a single one with TG_API. Internal headers (`*_internal.h`,
 * the kernels' headers but threads.h) do neither, so what they declare stays inside the library; a
 * static link (tools, tests) still reaches it, a shared object does not export it.
 * tests/test_symbols.c fails when an exported symbol lacks the tg_ prefix or no public header
 * declares it.
 *
 *   #include "api.h"
 *   TG_API_BEGIN
 *   void tg_something_public(void);
 *   TG_API_END
 */
#ifndef TG_API_H
#define TG_API_H

#if defined(__GNUC__)
#define TG_API __attribute__((visibility("default")))
#define TG_API_BEGIN _Pragma("GCC visibility push(default)")
#define TG_API_END _Pragma("GCC visibility pop")
#else
#define TG_API
#define TG_API_BEGIN
#define TG_API_END
#endif

#endif
