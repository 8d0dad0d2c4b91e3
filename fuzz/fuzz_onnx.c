/* fuzz/fuzz_onnx.c — libFuzzer target: ONNX bytes (protobuf wire format, graph, tensors,
 * attributes, the op conversion and the spec it makes) through tg_onnx_import_mem, and a
 * successful import through one eval forward. Any outcome but an error line or a whole model is a
 * finding. */
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "", *spec = NULL;
    tg_model *m = tg_onnx_import_mem(data, size, "fuzz.onnx", &spec, err, sizeof err);
    if (!m) {
        if (spec || strncmp(err, "import: fuzz.onnx: ", 19)) abort(); /* a failure: one message, nothing else */
        return 0;
    }
    if (!spec || !m->net || m->net->n_children < 1) abort();
    int64_t shape[5] = {1};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tensor *x = t ? tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape) : NULL;
    if (x) {
        memset(x->data, 0, (size_t)x->numel * sizeof(tg_real));
        tg_module_forward(m->net, t, x); /* NULL with a message is fine (e.g. batch-1 batch norm) */
    }
    tg_tape_free(t);
    free(spec);
    tg_model_free(m);
    return 0;
}
