/* fuzz/fuzz_idx.c — libFuzzer target: the same bytes as an IDX file, as a raw DEFLATE stream and
 * as a gzip member whose contents are then parsed as IDX (the path of a .gz dataset file). */
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_idx(const uint8_t *b, size_t len)
{
    tg_idx idx;
    char err[256];
    if (tg_idx_parse(b, len, &idx, err, sizeof err) == TG_OK) {
        int64_t count = 1;
        for (int i = 0; i < idx.ndim; i++) count *= idx.dims[i];
        /* the declared size must be exactly what was read: touching every byte lets ASan check it */
        if ((size_t)count + 4 + 4 * (size_t)idx.ndim != len || memcmp(idx.data, b + len - count, (size_t)count))
            abort();
        tg_idx_free(&idx);
    } else if (idx.data) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_idx(data, size);
    uint8_t *out = NULL;
    size_t out_len = 0, used = 0;
    char err[256];
    if (tg_inflate(data, size, &out, &out_len, &used, err, sizeof err) == TG_OK) {
        if (!out || used > size) abort();
        free(out);
    }
    out = NULL;
    if (tg_gunzip(data, size, &out, &out_len, err, sizeof err) == TG_OK) {
        if (!out) abort();
        parse_idx(out, out_len);
        free(out);
    }
    return 0;
}
