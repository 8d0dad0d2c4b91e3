/* nn/infer.h — inference: an eval-mode forward that records no graph and reuses its memory
 * (tg_model_infer), and folding eval-mode batch norms into the layer before them
 * (tg_fold_batch_norms).
 *
 * tg_model_infer runs the model in eval mode (BN with its running statistics, no dropout) in
 * no-grad mode on a tape the model keeps for it: nothing is recorded, an activation goes back to
 * that tape's arena once its last reader has run, and the arena is sized by the first call, so
 * later calls of the same batch size (or smaller) call malloc zero times. The result is copied
 * into the caller's `out`.
 *
 * Ownership: x and out stay the caller's; the model owns its inference tape (freed by
 * tg_model_free). One model must not run two tg_model_infer calls at once (the tape is shared);
 * use one model per thread.
 *
 *   char err[256];
 *   tg_model *m = tg_model_load("lenet.txt", 1, err, sizeof err);
 *   ... load a checkpoint ...
 *   int folded = tg_fold_batch_norms(m, NULL, err, sizeof err);     // optional, once
 *   tg_tensor *x = tg_tensor_new(TG_REAL, 4, (int64_t[]){64, 1, 28, 28});
 *   tg_tensor *y = tg_tensor_new(TG_REAL, 2, (int64_t[]){64, 10});
 *   if (tg_model_infer(m, x, y, err, sizeof err) != TG_OK) fprintf(stderr, "%s\n", err);
 */
#ifndef TG_NN_INFER_H
#define TG_NN_INFER_H

#include "../graph/api.h"
#include "spec.h"

TG_API_BEGIN

/* out = model(x) in eval mode without a graph. x:[N, in_shape...] and out:[N, out_shape...] are
 * real tensors the caller owns (model->in_shape / out_shape; any N >= 1). The module's train/eval
 * mode is left as it was. TG_OK; TG_ERR_INVALID with the reason in err for NULL arguments or
 * shapes that do not match ("model_infer: input is [2,3,28,28] but the model takes
 * [N,1,28,28]") or a failing layer (its message); TG_ERR_NOMEM when the tape cannot grow. */
tg_status tg_model_infer(tg_model *model, const tg_tensor *x, tg_tensor *out, char *err, size_t errsz);

/* Sub-batches. tg_model_infer runs the leading layers of the model's top sequential that
 * compute each sample from that sample alone (in eval mode: convolutions, pools, activations,
 * batch norm with running statistics, joins, ...) a sub-batch at a time, so that one sub-batch's
 * activations stay in the core's caches from layer to layer; the layers after them (one that
 * mixes samples, such as a batch norm without running statistics, or a dense head whose weights
 * would be read again for each sub-batch) run on the whole batch. A sub-batch holds as many
 * samples as keep one layer's input and output within 4 MiB (tg_infer_set_chunk_bytes), evened
 * out: with c sub-batches of a batch of n, sub-batch k holds samples k*n/c .. (k+1)*n/c - 1.
 * This depends on the model's shapes and n only, never on the thread count. Each sample's output
 * is bit for bit what the model gives for its sub-batch on its own. With several threads
 * (tg_set_threads), the sub-batches run in parallel, one per thread at a time, each on a tape
 * of its own (the layers inside a sub-batch then run on their thread alone).
 *
 * Returns the number of sub-batches tg_model_infer uses for a batch of n (1: none) and, in
 * *prefix_layers (may be NULL), how many of the top sequential's children run in sub-batches
 * (0: none). */
int64_t tg_model_infer_sub_batches(tg_model *model, int64_t n, int *prefix_layers);
/* The most bytes tg_model_infer's tapes have held at once: the whole-batch tape's high-water
 * mark plus every sub-batch tape's (one per thread that ran sub-batches). */
size_t tg_model_infer_peak(const tg_model *model);
/* Sets the bytes one layer may read and write per sub-batch (0: the default, 4 MiB),
 * process-wide: for tests, and for a machine whose caches differ (docs/inference.md). */
void tg_infer_set_chunk_bytes(size_t bytes);

/* Folds every batch_norm whose input is the output of a conv (1-3 D, any groups, padding mode,
 * stride, dilation), a conv_transpose (any groups) or a linear layer with a [N, features] output
 * into that layer, and removes the batch norm: W' = W·γ/σ, b' = γ(b − μ)/σ + β, σ =
 * sqrt(running_var + eps), so the model computes the same eval-mode function (up to rounding)
 * with one layer less. A layer without a bias gets one. It follows the module tree: the layer
 * before a batch norm may be the last layer of a nested sequential. A batch norm is left in
 * place (counted in *not_folded, which may be NULL) when it cannot be folded exactly: it comes
 * first in its sequential, the layer before it is of another kind, that layer's output has an
 * id a join or unpool reads (it is used by something else), or it has no running statistics
 * (track_running_stats=0: it normalises with the batch's). A batch norm's own id moves to the
 * layer it folded into.
 * For inference only: the folded model trains differently (and its checkpoint names differ).
 * Returns the number folded, or -1 with the reason in err: NULL model, a model that does not
 * run, or a batch norm in training mode (nothing is changed for these; out of memory for a new
 * bias may stop after some folds) ("fold_batch_norms: layer 'features.1' (batch_norm)
 * is in training mode; call tg_module_train(net, false) first"). */
int tg_fold_batch_norms(tg_model *model, int *not_folded, char *err, size_t errsz);

TG_API_END

#endif
