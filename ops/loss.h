/* ops/loss.h — losses. Inputs follow torch.nn.functional: (input, target).
 *
 *   tg_tensor *loss = tg_cross_entropy(tape, logits, labels);  // [N,C], int64 [N] -> []
 */
#ifndef TG_OPS_LOSS_H
#define TG_OPS_LOSS_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

typedef enum tg_reduction { TG_REDUCTION_MEAN, TG_REDUCTION_SUM, TG_REDUCTION_NONE } tg_reduction;

/* Attributes of every loss (PyTorch's names). ignore_index (default -100) applies to
 * cross_entropy and nll_loss: those samples add nothing and do not count in the mean (all
 * ignored: the mean is NaN, as PyTorch). reduction none keeps one loss per sample.
 * label_smoothing (cross_entropy only, default 0, in [0, 1]) is torch.nn.CrossEntropyLoss's: the
 * target of a sample is (1 - e) on its class plus e/C on every class; nll_loss refuses a nonzero
 * one ("nll_loss: label_smoothing is cross_entropy's only ..."), as torch's has none. */
typedef struct tg_loss_attr {
    int reduction;          /* mean */
    int ignore_index;       /* -100 */
    double label_smoothing; /* 0 */
} tg_loss_attr;

/* logits:[N,C] (or [N,C,d1,...]) labels: int64 [N] (or [N,d1,...]) -> [] mean over samples */
tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *labels);
/* log_probs:[N,C] labels: int64 [N] -> [] */
tg_tensor *tg_nll_loss(tg_tape *t, tg_tensor *log_probs, tg_tensor *labels);
/* input, target of the same shape -> [] mean */
tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *input, tg_tensor *target);
tg_tensor *tg_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target);
/* The same with explicit attributes (a == NULL: defaults). Labels out of [0, C) other than
 * ignore_index fail with "cross_entropy: label 12 at index 3 is outside [0, 10)". */
tg_tensor *tg_cross_entropy_ex(tg_tape *t, tg_tensor *logits, tg_tensor *labels, const tg_loss_attr *a);
tg_tensor *tg_nll_loss_ex(tg_tape *t, tg_tensor *log_probs, tg_tensor *labels, const tg_loss_attr *a);
tg_tensor *tg_mse_loss_ex(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction reduction);
tg_tensor *tg_l1_loss_ex(tg_tape *t, tg_tensor *input, tg_tensor *target, tg_reduction reduction);

TG_API_END

#endif
