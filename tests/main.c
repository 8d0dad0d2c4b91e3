/* tests/main.c — runs every suite. The list comes from tests/test_*.c (build/gen/suites.h), so a
 * new suite only needs its file: tests/test_<module>.c exporting Suite *suite_<module>(void).
 * Run from the repository root (suites find build/tg and tests/fixtures there).
 * TG_SUITE=name runs one suite. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define TG_SUITE(name) Suite *suite_##name(void);
#include "suites.h"
#undef TG_SUITE

int main(void)
{
    const char *only = getenv("TG_SUITE");
    SRunner *sr = srunner_create(NULL);
#define TG_SUITE(name) \
    if (!only || !strcmp(only, #name)) srunner_add_suite(sr, suite_##name());
#include "suites.h"
#undef TG_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
