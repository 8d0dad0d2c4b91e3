/* fuzz/fuzz_checkpoint.c — libFuzzer target: checkpoint bytes loaded into a small fixed model with
 * an Adam optimizer, a schedule and an RNG (every part of the format). Built twice: as is (the
 * CRC check rejects almost every mutation), and with -DTG_FUZZ_FIX_CRC, which rewrites the
 * trailing CRC-32 so mutations reach the body's decoder. A load that fails must leave the model
 * as it was. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/data.h"
#include "checkpoint_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tg_model *m;
    static tg_optim *opt;
    static tg_sched *sched;
    static tg_named_tensor named[16];
    static int n_named;
    static tg_real *before;
    static int64_t total;
    if (!m) { /* once per process: the model the checkpoints are loaded into */
        char err[256];
        m = tg_model_parse(fuzz_checkpoint_spec, "fuzz", 1, err, sizeof err);
        tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_ADAM);
        opt = tg_optim_new(&cfg);
        tg_tensor *params[16];
        const int np = tg_module_named_tensors(m->net, false, named, 16);
        for (int i = 0; i < np; i++) params[i] = named[i].tensor;
        tg_optim_add_group(opt, params, np, NAN, NAN);
        tg_sched_config sc = {.kind = TG_SCHED_STEP, .step_size = 1, .gamma = 0.5};
        sched = tg_sched_new(opt, &sc);
        n_named = tg_module_named_tensors(m->net, true, named, 16);
        for (int i = 0; i < n_named; i++) total += named[i].tensor->numel;
        before = malloc((size_t)total * sizeof *before);
        if (!m || !opt || !sched || !before) abort();
    }
    int64_t k = 0;
    for (int i = 0; i < n_named; i++)
        for (int64_t j = 0; j < named[i].tensor->numel; j++) before[k++] = named[i].tensor->data[j];

    const uint8_t *bytes = data;
    uint8_t *copy = NULL;
#ifdef TG_FUZZ_FIX_CRC
    if (size >= 8) {
        copy = malloc(size);
        memcpy(copy, data, size);
        const uint32_t crc = tg_crc32(0, copy, size - 8);
        for (int i = 0; i < 8; i++) copy[size - 8 + i] = (uint8_t)((uint64_t)crc >> (8 * i));
        bytes = copy;
    }
#endif
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    char err[256];
    const tg_status st = tg_checkpoint_load_mem(bytes, size, "fuzz", m->net, opt, sched, &rng, err, sizeof err);
    if (st != TG_OK) {
        k = 0;
        for (int i = 0; i < n_named; i++)
            for (int64_t j = 0; j < named[i].tensor->numel; j++)
                if (memcmp(&before[k++], &named[i].tensor->data[j], sizeof *before)) abort(); /* half-loaded */
    }
    free(copy);
    return 0;
}
