/* fuzz/fuzz_npy.c — libFuzzer target: .npy bytes (header dict, dtypes, shapes, data size) through
 * tg_npy_parse. Any outcome but a clean status or a valid tensor is a finding. */
#include <stdlib.h>

#include "../tapegrad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_tensor *t = NULL;
    tg_npy_dtype dtype;
    char err[256];
    if (tg_npy_parse(data, size, &t, &dtype, err, sizeof err) == TG_OK) {
        if (!t || t->numel < 0) abort(); /* success must give a tensor */
        tg_tensor_free(t);
    } else if (t) {
        abort(); /* a failure must not hand out a tensor */
    }
    return 0;
}
