/* nn/spec.h — the model spec text format (DESIGN.md § Model spec) and model summaries.
 *
 * One layer per line, `#` comments, `key=value` options with PyTorch's defaults:
 *   input 1x28x28
 *   conv2d out=20 kernel=5 padding=2     # stride, dilation, groups, bias=0|1, padding_mode
 *   relu
 *   max_pool2d kernel=2 stride=2
 *   flatten
 *   linear out=10
 * `id=NAME` names a layer's output; `add from=NAME` adds it to the current output; `concat
 * from=A,B` concatenates channels ("." is the current output, "input" the model's input).
 * Every line calls the same constructor the C API uses (nn/module.h); input channels come from
 * propagating the `input` shape (a forward pass of one zero sample), so a mismatch is reported
 * with the line: "model.txt:3: conv2d: unknown key 'kernal'".
 *
 * Ownership: the returned model owns its module tree; tg_model_free() releases it.
 *
 *   char err[256];
 *   tg_model *m = tg_model_load("lenet.txt", 42, err, sizeof err);
 *   if (!m) fprintf(stderr, "%s\n", err);
 *   char *text = tg_summary(m, err, sizeof err); fputs(text, stdout); free(text);
 */
#ifndef TG_NN_SPEC_H
#define TG_NN_SPEC_H

#include "../graph/api.h"
#include "module.h"

TG_API_BEGIN

typedef struct tg_model {
    tg_module *net;          /* a sequential */
    int in_ndim;             /* input shape without the batch dim */
    int64_t in_shape[4];
    int64_t out_shape[TG_MAX_DIMS];
    int out_ndim;            /* output shape without the batch dim */
    struct tg_tape *infer_tape; /* tg_model_infer's memory (nn/infer.h); NULL until first used */
    struct tg_tape **infer_chunk_tapes; /* its memory for one sub-batch per worker thread (sub-batches
                                           run in parallel); NULL until first used */
    int n_infer_chunk_tapes;
} tg_model;

/* Parses spec text; file names the source in messages. Parameters are drawn from a tg_rng
 * seeded with seed (PyTorch's default init). NULL with "file:line: reason" in err. */
tg_model *tg_model_parse(const char *text, const char *file, uint64_t seed, char *err, size_t errsz);
tg_model *tg_model_load(const char *path, uint64_t seed, char *err, size_t errsz);
/* Wraps a module built from C with its input shape (checked by a forward pass). */
tg_model *tg_model_wrap(tg_module *net, int in_ndim, const int64_t *in_shape, char *err, size_t errsz);
void tg_model_free(tg_model *m);

/* One row per layer (name, type, output shape, params, MACs, receptive field, activation memory
 * per sample) and the totals, ending with "Total params: N" and "Total MACs: N" (MACs of conv and
 * linear only, per sample, no bias adds — the notes' convention). malloc'd text, NULL with err. */
char *tg_summary(tg_model *m, char *err, size_t errsz);
/* Totals alone. */
int tg_summary_totals(tg_model *m, int64_t *params, int64_t *macs, char *err, size_t errsz);

TG_API_END

#endif
