/* ops/norm.h — the normalization family: batch_norm, layer_norm, instance_norm, group_norm, frn,
 * the thresholded linear unit tlu, and folding an eval-mode batch norm into the layer before it.
 *
 * Every norm runs on one core (ops/kernels/norm.h) parameterised by the values each statistic
 * reduces over; the backward is the compact form dx = (γ/σ)·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)).
 * Semantics and input order are torch.nn.functional's (DESIGN.md § Numerics):
 *   batch_norm(x, running_mean, running_var, weight, bias)       x:[N,C] or [N,C,*]
 *       training=1: batch statistics (biased variance), running stats (if given) updated in place
 *       with the unbiased variance: r = (1 − m)·r + m·stat, m = momentum (default 0.1);
 *       momentum=none is the cumulative average m = 1/num_batches_tracked, which needs the
 *       optional 6th input num_batches_tracked (int64, one value; incremented in training).
 *       training=0 (the default, as F.batch_norm): normalise with the running statistics.
 *   layer_norm(x, weight, bias)         normalized_shape = the last k dims (default: weight's
 *                                       shape, else the last dim); weight/bias of that shape
 *   instance_norm(x, running_mean, running_var, weight, bias)   per sample and channel over the
 *                                       spatial dims; use_input_stats=0 uses the running stats
 *   group_norm(x, weight, bias)         num_groups (required) divides C; weight/bias:[C]
 *   frn(x, weight, bias)                filter response norm: x / sqrt(mean(x²) + eps) per
 *                                       sample and channel (no centring), eps default 1e-6
 *   tlu(x, tau)                         y = max(x, τ[c])
 * Weight, bias and running stats may be NULL. A constant input (σ = 0) gives y = β, never NaN.
 * Errors: NULL with one line, e.g.
 *   "batch_norm: expected more than 1 value per channel when training (x=[1,4])"
 *
 *   tg_norm_attr a;
 *   tg_attr_defaults(TG_OP_BATCH_NORM, &a);
 *   a.training = true;
 *   tg_tensor *y = tg_batch_norm(tape, x, running_mean, running_var, gamma, beta, &a);
 */
#ifndef TG_OPS_NORM_H
#define TG_OPS_NORM_H

#include "../graph/api.h"
#include "op.h"

TG_API_BEGIN

/* The attributes of every norm op (each op's table lists only the ones it uses). */
typedef struct tg_norm_attr {
    bool training;            /* batch_norm (default 0) */
    bool use_input_stats;     /* instance_norm (default 1) */
    double momentum;          /* batch_norm, instance_norm: 0.1; NAN (momentum=none): cumulative */
    double eps;               /* 1e-5 (frn: 1e-6) */
    tg_ints normalized_shape; /* layer_norm; n == 0: weight's shape, else the last dim */
    int num_groups;           /* group_norm */
} tg_norm_attr;

/* x:[N,C,*] running_mean/var:[C] weight/bias:[C] -> y of x's shape. */
tg_tensor *tg_batch_norm(tg_tape *t, tg_tensor *x, tg_tensor *running_mean, tg_tensor *running_var,
                         tg_tensor *weight, tg_tensor *bias, const tg_norm_attr *attr);
/* The same with the num_batches_tracked counter (int64, 1 value) momentum=none needs. */
tg_tensor *tg_batch_norm_tracked(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                                 tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                                 tg_tensor *num_batches_tracked, const tg_norm_attr *attr);
/* x:[*, normalized_shape] weight/bias:[normalized_shape] -> y of x's shape. */
tg_tensor *tg_layer_norm(tg_tape *t, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                         const tg_norm_attr *attr);
/* x:[N,C,*] running_mean/var:[C] weight/bias:[C] -> y of x's shape. */
tg_tensor *tg_instance_norm(tg_tape *t, tg_tensor *x, tg_tensor *running_mean,
                            tg_tensor *running_var, tg_tensor *weight, tg_tensor *bias,
                            const tg_norm_attr *attr);
/* x:[N,C,*] weight/bias:[C], C divisible by attr->num_groups -> y of x's shape. */
tg_tensor *tg_group_norm(tg_tape *t, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                         const tg_norm_attr *attr);
/* x:[N,C,*] weight/bias:[C] -> y of x's shape (filter response normalization). */
tg_tensor *tg_frn(tg_tape *t, tg_tensor *x, tg_tensor *weight, tg_tensor *bias, const tg_norm_attr *attr);
/* x:[N,C,*] tau:[C] -> max(x, tau[c]) (thresholded linear unit). */
tg_tensor *tg_tlu(tg_tape *t, tg_tensor *x, tg_tensor *tau);

/* ---- batch norm across processes (SyncBatchNorm, docs/distributed.md) ----
 * Process-wide and off by default. When a reducer is set, every batch_norm in training mode hands
 * its per-channel sums to it, which must replace them in place by the sums over all processes
 * (every process calls it at the same points, so a data-parallel run normalises with the
 * statistics of the whole global batch):
 *   TG_NORM_SYNC_FORWARD   sums[0] = this batch's values per channel M; sums[1..C] = Σx;
 *                          sums[C+1..2C] = Σx²   (n = 1 + 2C; plain sums over the processes)
 *   TG_NORM_SYNC_BACKWARD  sums[0..C) = Σdy; sums[C..2C) = Σdy·x̂   (n = 2C), to become the whole
 *                          batch's in this process's loss scale: Σ_r w_r·S_r / w_self, where w_r
 *                          is process r's weight in the global loss (its share of the batch)
 * The running statistics are then updated from the global mean and variance (unbiased over the
 * global M), the same on every process; dγ and dβ stay this process's sums (the gradient
 * all-reduce adds them up). A non-zero return fails the op: "batch_norm: the statistics reducer
 * failed (x=[8,16,14,14])". fn NULL turns it off. Not thread-safe: set it before training. */
typedef enum tg_norm_sync_phase { TG_NORM_SYNC_FORWARD, TG_NORM_SYNC_BACKWARD } tg_norm_sync_phase;
typedef int (*tg_norm_stats_reducer)(void *ctx, tg_norm_sync_phase phase, double *sums, int64_t n);
void tg_norm_set_stats_reducer(tg_norm_stats_reducer fn, void *ctx);
/* Whether the norm op `op` (a tg_op_id) can apply the activation after it itself, recorded too
 * (nn fuses BN -> ReLU this way): batch norm (not with a stats reducer), instance and group norm. */
bool tg_norm_can_fuse_activation(int op);

/* Folds an eval-mode batch norm into the conv or linear layer before it, in place:
 * weight:[O,...] (linear [O,in], conv [O,C/g,k...]) and bias:[O] become
 *   W' = W·γ/σ,  b' = γ·(b − μ)/σ + β,  σ = sqrt(running_var + eps),
 * so layer'(x) == batch_norm(layer(x)) with training=0. bn_weight/bn_bias may be NULL (1, 0);
 * bias must exist (give a zero bias to a layer that had none). TG_ERR_INVALID on NULL or on
 * sizes that do not match O; nothing is changed then. */
tg_status tg_fold_batch_norm(tg_tensor *weight, tg_tensor *bias, const tg_tensor *running_mean,
                             const tg_tensor *running_var, const tg_tensor *bn_weight,
                             const tg_tensor *bn_bias, double eps);

TG_API_END

#endif
