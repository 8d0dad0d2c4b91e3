/* ops/loss.h — losses. Inputs follow torch.nn.functional: (input, target).
 *
 *   tg_tensor *loss = tg_cross_entropy(tape, logits, labels);  // [N,C], int64 [N] -> []
 */
#ifndef TG_OPS_LOSS_H
#define TG_OPS_LOSS_H

#include "op.h"

typedef enum tg_reduction { TG_REDUCTION_MEAN, TG_REDUCTION_SUM, TG_REDUCTION_NONE } tg_reduction;

/* logits:[N,C] (or [N,C,d1,...]) labels: int64 [N] (or [N,d1,...]) -> [] mean over samples */
tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *labels);
/* log_probs:[N,C] labels: int64 [N] -> [] */
tg_tensor *tg_nll_loss(tg_tape *t, tg_tensor *log_probs, tg_tensor *labels);
/* input, target of the same shape -> [] mean */
tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *input, tg_tensor *target);
tg_tensor *tg_l1_loss(tg_tape *t, tg_tensor *input, tg_tensor *target);

#endif
