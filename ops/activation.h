/* ops/activation.h — activations, softmax and dropout. All keep the input's shape and return a
 * tape tensor (NULL with the tape's error for NULL input, a bad dim or p outside [0, 1]).
 * Slopes at kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha.
 * softmax/log_softmax subtract the maximum first, so large logits do not overflow.
 *
 *   tg_tensor *h = tg_relu(tape, tg_linear(tape, x, w, b));
 *   tg_tensor *p = tg_softmax(tape, logits, -1);
 */
#ifndef TG_OPS_ACTIVATION_H
#define TG_OPS_ACTIVATION_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

/* Attribute structs (PyTorch's names and defaults). */
typedef struct tg_leaky_relu_attr { double negative_slope; } tg_leaky_relu_attr; /* 0.01 */
typedef struct tg_elu_attr { double alpha; } tg_elu_attr;                        /* 1.0 */
typedef enum tg_gelu_approximate { TG_GELU_NONE, TG_GELU_TANH } tg_gelu_approximate;
typedef struct tg_gelu_attr { int approximate; } tg_gelu_attr;                   /* none */
typedef struct tg_softmax_attr { int dim; } tg_softmax_attr;                     /* -1 */
typedef struct tg_dropout_attr { double p; bool training; } tg_dropout_attr;     /* 0.5, 1 */

tg_tensor *tg_relu(tg_tape *t, tg_tensor *x);
tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, double negative_slope); /* PyTorch default 0.01 */
tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, double alpha);                 /* default 1.0 */
tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x);
tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x);
/* exact (erf) GELU, or the tanh approximation (approximate='tanh') */
tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x, bool tanh_approximation);
tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x, int dim);
tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x, int dim);
/* training: zeroes each element with probability p and scales the rest by 1/(1-p), drawing from
 * the tape's random stream (tg_tape_seed); eval: identity. p in [0, 1]. */
tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, bool training);

TG_API_END

#endif
