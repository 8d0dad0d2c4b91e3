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
#include "data.h"
#include "module.h"

TG_API_BEGIN

typedef struct tg_epoch_stats {
    double loss, accuracy;   /* means over the samples seen */
    int64_t samples;
    int64_t steps;           /* optimizer steps taken; a failed step is number steps + 1 */
    double last_loss;        /* the latest batch's loss (the non-finite one when that stopped it) */
    double seconds;
} tg_epoch_stats;

/* Called after every batch (progress bars); may be NULL. */
typedef void (*tg_batch_fn)(void *ctx, const tg_epoch_stats *so_far);

/* One epoch over the batcher (reshuffled first; a short last batch is dropped so shapes stay
 * fixed, so a batch larger than the data takes no step). Errors, with tg_error(tape) saying why:
 * TG_ERR_INVALID when a forward fails (with anomaly mode on, also the first op producing NaN/Inf);
 * TG_ERR_NONFINITE when a batch's loss is NaN or Inf ("loss is nan at step 17 of the epoch"; no
 * step is taken with it) or, in anomaly mode, a backward produces one; TG_ERR_NOMEM (also with
 * tg_error(tape)) when a buffer, a gradient or the optimizer's state cannot be allocated: then
 * the failing batch changed no parameter. st holds the steps before. */
tg_status tg_train_epoch(tg_module *net, tg_optim *opt, tg_batcher *b, tg_tape *tape, tg_epoch_stats *st,
                         tg_batch_fn on_batch, void *ctx);
/* Loss and accuracy on a whole dataset in eval mode (the mode is restored). */
tg_status tg_evaluate(tg_module *net, const tg_dataset *d, int64_t batch, tg_tape *tape, tg_epoch_stats *st);

TG_API_END

#endif
