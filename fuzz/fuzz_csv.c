/* fuzz/fuzz_csv.c — libFuzzer target: CSV bytes through tg_dataset_parse_csv, as class labels and
 * as float targets, with the label column by default and by name/index (the first input byte picks
 * which). A success must give a consistent set (every value finite, labels in range); a failure
 * nothing and one line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *text, size_t len, const char *label, bool targets)
{
    tg_dataset *d = NULL;
    char err[512];
    if (tg_dataset_parse_csv(text, len, "f.csv", label, targets, &d, err, sizeof err) != TG_OK) {
        if (d || strchr(err, '\n') || strncmp(err, "f.csv", 5)) abort();
        return;
    }
    if (!d || d->n < 1 || d->c < 1 || d->sample_ndim != 1 || !d->images) abort();
    for (int64_t i = 0; i < d->n * d->c; i++)
        if (!isfinite(d->images[i])) abort();
    if (targets) {
        if (!d->targets || d->labels || d->n_targets != 1) abort();
        for (int64_t i = 0; i < d->n; i++)
            if (!isfinite(d->targets[i])) abort();
    } else {
        if (!d->labels || d->targets) abort();
        for (int64_t i = 0; i < d->n; i++)
            if (d->labels[i] < 0 || d->labels[i] >= d->n_classes) abort();
    }
    tg_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const labels[] = {NULL, "0", "1", "label", "y"};
    const char *label = labels[size ? data[0] % 5 : 0];
    const char *text = (const char *)data + (size ? 1 : 0);
    const size_t len = size ? size - 1 : 0;
    check(text, len, label, false);
    check(text, len, label, true);
    return 0;
}
