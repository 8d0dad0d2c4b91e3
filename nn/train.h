/* nn/train.h — the plain classification loop shared by `tg train` and the examples: one epoch
 * of mini-batch training with cross-entropy, and evaluation in eval mode.
 *
 *   tg_epoch_stats st;
 *   tg_train_epoch(net, opt, &batcher, tape, &st, NULL, NULL);   // st.loss, st.accuracy
 *   tg_evaluate(net, test, 256, tape, &st);
 */
#ifndef TG_NN_TRAIN_H
#define TG_NN_TRAIN_H

#include "../graph/api.h"
#include "../optim/optim.h"
#include "checkpoint.h"
#include "data.h"
#include "module.h"
#include "spec.h"

TG_API_BEGIN

typedef struct tg_epoch_stats {
    double loss, accuracy;   /* means over the samples seen */
    int64_t samples;
    int64_t steps;           /* optimizer steps taken; a failed step is number steps + 1 */
    double last_loss;        /* the latest batch's loss (the non-finite one when that stopped it) */
    double seconds;
    double lr;               /* the lr of the latest step (group 0, warmup included) */
    double grad_norm;        /* the latest step's global L2 gradient norm, before any clipping */
} tg_epoch_stats;

/* What a training step does besides forward, backward and the update; {0} (or NULL) is plain
 * cross-entropy and the optimizer's lr. After the backward (and the sync's after_backward) the
 * gradients are clipped in this order: adaptive (agc), by value, by global norm; then the
 * optimizer steps with every group's lr times the warmup factor of the step.
 *   tg_train_opts o = {.clip_norm = 1, .warmup_steps = 100};
 *   tg_train_epoch_opts(net, opt, &b, tape, &st, NULL, NULL, NULL, &o); */
typedef struct tg_train_opts {
    double label_smoothing; /* [0, 1]: torch.nn.CrossEntropyLoss(label_smoothing=) */
    double clip_norm;       /* > 0: torch.nn.utils.clip_grad_norm_(every parameter of opt, clip_norm) */
    double clip_value;      /* > 0: torch.nn.utils.clip_grad_value_(..., clip_value) */
    double agc;             /* > 0: adaptive gradient clipping factor (NFNets' lambda, tg_clip_grad_adaptive) */
    double agc_eps;         /* the unit-norm floor of agc; 0: NFNets' 1e-3 */
    tg_tensor *const *agc_params; /* the parameters agc clips (NFNets leave out the last linear layer); */
    int n_agc_params;             /* NULL: every parameter of opt */
    int64_t warmup_steps;   /* > 0: the lr of optimizer step t (0-based, counted by tg_optim_steps) is
                               scaled by start + (1 - start) min(t, warmup_steps) / warmup_steps,
                               PyTorch's LinearLR(start_factor=start, total_iters=warmup_steps) */
    double warmup_start;    /* (0, 1]; 0: LinearLR's default 1/3 */
} tg_train_opts;
/* The parameters NFNets clip adaptively: every parameter of net except the last linear layer's
 * (the classifier; "we do not clip the final linear layer"), in tg_module_named_tensors order.
 * out may be NULL to count; returns how many there are (a model without linear layer: all), or
 * -1 when out of memory. */
int tg_train_agc_params(tg_module *net, tg_tensor **out, int max);
/* The warmup factor of optimizer step t under o (1 without warmup). */
double tg_train_warmup_factor(const tg_train_opts *o, int64_t t);

/* Called after every batch (progress bars); may be NULL. */
typedef void (*tg_batch_fn)(void *ctx, const tg_epoch_stats *so_far);

/* One epoch over the batcher (its loss kind: cross-entropy of class labels, the default, or MSE /
 * L1 of float targets, b->loss; reshuffled first; a short last batch is dropped so shapes stay
 * fixed, so a batch larger than the data takes no step). Errors, with tg_error(tape) saying why:
 * TG_ERR_INVALID when a forward fails (with anomaly mode on, also the first op producing NaN/Inf);
 * TG_ERR_NONFINITE when a batch's loss is NaN or Inf ("loss is nan at step 17 of the epoch"; no
 * step is taken with it) or, in anomaly mode, a backward produces one; TG_ERR_NOMEM (also with
 * tg_error(tape)) when a buffer, a gradient or the optimizer's state cannot be allocated: then
 * the failing batch changed no parameter. st holds the steps before. */
tg_status tg_train_epoch(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                         tg_batch_fn on_batch, void *ctx);
/* How a training loop shares each step with other processes (data parallelism, dist/ and
 * docs/distributed.md); the core library knows no transport, only these callbacks. Every process
 * runs the same batcher, so all see the same global batch; each computes samples
 * [shard_offset, shard_offset + shard_count) of it. The callbacks are collective: every process
 * calls them at the same steps, and each returns the status all processes agree on, so a failure
 * on one process stops every process at the same step instead of leaving the others waiting. */
typedef struct tg_train_sync {
    void *ctx;
    int64_t shard_offset, shard_count; /* this process's part of every batch; shard_count 0: all */
    /* After the forward (status: TG_OK, or why this process's forward failed, tg_error(tape) set).
     * local_loss is the mean over this shard; *global_loss receives the mean over the whole batch.
     * May install a backward hook on the tape (gradient buckets). */
    tg_status (*after_forward)(void *ctx, tg_tape *tape, tg_status status, double local_loss, double *global_loss);
    /* After this process's backward, before the optimizer step: the parameters' gradients become
     * the whole batch's (status: this process's backward's). */
    tg_status (*after_backward)(void *ctx, tg_tape *tape, tg_status status);
} tg_train_sync;

/* tg_train_epoch sharing every step through sync (NULL: tg_train_epoch itself). st counts this
 * process's samples, loss and accuracy; combine them across processes for the global figures. */
tg_status tg_train_epoch_sync(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                              tg_batch_fn on_batch, void *ctx, const tg_train_sync *sync);
/* tg_train_epoch_sync with the step options o (NULL: none). TG_ERR_INVALID before any step when
 * an option is out of range ("train: clip_norm must be > 0 or 0 (off), got -1"). */
tg_status tg_train_epoch_opts(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                              tg_batch_fn on_batch, void *ctx, const tg_train_sync *sync, const tg_train_opts *o);
/* Loss and accuracy on a whole dataset in eval mode (the mode is restored): cross-entropy for a set
 * with labels, MSE for one with targets (accuracy 0). */
tg_status tg_evaluate(tg_module *net, const tg_dataset *d, int64_t batch, tg_tape *tape, tg_epoch_stats *st);
/* The same with the given loss (a set with targets needs MSE or L1, one with labels cross-entropy;
 * TG_ERR_INVALID with tg_error(tape) otherwise). Accuracy is counted for cross-entropy only. */
tg_status tg_evaluate_loss(tg_module *net, const tg_dataset *d, int64_t batch, tg_loss_kind kind, tg_tape *tape,
                           tg_epoch_stats *st);

/* ---- deployment: a trained model on new inputs ----
 * A predictor holds a model spec with a checkpoint's values, in eval mode, the input
 * normalisation the checkpoint stores, and its own tape (no gradients are recorded):
 *
 *   char err[512];
 *   tg_predictor *p = tg_predictor_load("lenet5.txt", "run.ckpt", err, sizeof err);
 *   if (!p) { fprintf(stderr, "%s\n", err); return 1; }
 *   tg_real probs[10 * 4];                 // x: [4,1,28,28] raw inputs, as the training data was given
 *   if (tg_predict(p, x, probs, err, sizeof err) == TG_OK) ...  // softmax row per sample
 *   tg_predictor_free(p);
 */
typedef struct tg_predictor {
    tg_model *model;
    tg_norm_stats norm; /* n 0: the inputs are used as given */
    int64_t n_classes;  /* the model's output size */
    int ckpt_version;   /* the checkpoint's format version: 1 had no normalisation part */
    tg_loss_kind loss;  /* what the model was trained with (the checkpoint's; cross-entropy if absent):
                         * MSE / L1 mean its outputs are regression values, not class scores */
    tg_tape *tape;
} tg_predictor;

/* Loads the spec and the checkpoint (optimizer state in it is skipped). The model's output must
 * be [K] per sample. NULL with "file: reason" in err. */
tg_predictor *tg_predictor_load(const char *model_path, const char *ckpt_path, char *err, size_t errsz);
/* Class probabilities (softmax of the outputs) of x's samples: x is [N, model input shape] (raw:
 * the predictor normalises a copy); probs receives N*n_classes values. TG_ERR_INVALID naming both
 * shapes when x does not fit the model, TG_ERR_NOMEM. */
tg_status tg_predict(tg_predictor *p, const tg_tensor *x, tg_real *probs, char *err, size_t errsz);
/* The model's raw outputs (no softmax: regression values) of x's samples, n_classes per sample;
 * as tg_predict otherwise. */
tg_status tg_predict_outputs(tg_predictor *p, const tg_tensor *x, tg_real *out, char *err, size_t errsz);
/* Mean squared and mean absolute error of the outputs against a dataset's float targets (raw
 * inputs), over every value. TG_ERR_INVALID when d has no targets or n_targets is not the model's
 * output size. */
tg_status tg_predictor_regression(tg_predictor *p, const tg_dataset *d, double *mse, double *mae, char *err,
                                  size_t errsz);
/* Runs a labelled dataset (raw values, not yet normalised) through the predictor and counts
 * confusion[true * n_classes + predicted] (n_classes^2 entries, zeroed first). A label outside the
 * model's classes is TG_ERR_INVALID. */
tg_status tg_predictor_confusion(tg_predictor *p, const tg_dataset *d, int64_t *confusion, char *err, size_t errsz);
void tg_predictor_free(tg_predictor *p);

TG_API_END

#endif
