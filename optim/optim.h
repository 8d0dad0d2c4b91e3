/* optim/optim.h — optimizers (SGD, Adam, AdamW, RMSProp), parameter groups, learning-rate
 * schedules and gradient clipping, with PyTorch 1.13's defaults and update formulas.
 *
 * Optimizers act on long-lived tensors (a parameter's .data and .grad); they never use a tape.
 * Parameters are organised in groups, each with its own lr and weight decay, so BN's gamma/beta
 * and biases can be kept out of weight decay (notes 000, Enrichment 7.14.8):
 * tg_optim_add_params_split_decay() does that split.
 *
 * Ownership: the optimizer keeps pointers to the parameters (it does not own them) and owns its
 * per-parameter state (momentum buffers, moment estimates), freed by tg_optim_free().
 *
 *   tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_SGD);
 *   cfg.lr = 0.02; cfg.momentum = 0.9;
 *   tg_optim *opt = tg_optim_new(&cfg);
 *   tg_optim_add_group(opt, params, n_params, NAN, NAN);     // NAN: the config's lr / decay
 *   tg_sched *sched = tg_sched_new(opt, &(tg_sched_config){.kind = TG_SCHED_STEP,
 *                                                           .step_size = 30, .gamma = 0.1});
 *   for (...) { tg_optim_zero_grad(opt); ... tg_backward(loss); tg_optim_step(opt); }
 *   tg_sched_step(sched);   // once per epoch
 *   tg_sched_free(sched); tg_optim_free(opt);
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "../graph/api.h"
#include "../graph/error.h"
#include "../graph/tensor.h"

TG_API_BEGIN

typedef enum tg_optim_kind { TG_OPTIM_SGD, TG_OPTIM_ADAM, TG_OPTIM_ADAMW, TG_OPTIM_RMSPROP } tg_optim_kind;

/* Hyper-parameters; tg_optim_defaults() gives PyTorch's defaults for each kind:
 * SGD lr 0.01 (PyTorch requires it), momentum 0, dampening 0, nesterov off, decay 0;
 * Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, decay 0; AdamW the same with decay 1e-2;
 * RMSProp lr 1e-2, alpha 0.99, eps 1e-8, momentum 0, not centered. */
typedef struct tg_optim_config {
    tg_optim_kind kind;
    double lr;
    double weight_decay;
    double momentum;   /* SGD, RMSProp */
    double dampening;  /* SGD */
    bool nesterov;     /* SGD: needs momentum > 0 and dampening 0 */
    double beta1, beta2, eps; /* Adam/AdamW (eps also RMSProp) */
    bool amsgrad;      /* Adam/AdamW */
    double alpha;      /* RMSProp smoothing */
    bool centered;     /* RMSProp */
} tg_optim_config;

typedef struct tg_param_group {
    int first, count;     /* the group's parameters are slots [first, first+count) */
    double lr, weight_decay;
    double initial_lr;    /* lr when the group was added; schedules scale from it */
    double momentum;      /* per-group: one-cycle cycles it (beta1 for Adam) */
} tg_param_group;

/* One parameter and its state. */
typedef struct tg_param_slot {
    tg_tensor *param;
    int group;
    tg_real *state[3];    /* SGD: momentum buffer; Adam: exp_avg, exp_avg_sq, max_exp_avg_sq;
                             RMSProp: square_avg, momentum buffer, grad_avg */
    int64_t step;
} tg_param_slot;

typedef struct tg_optim {
    tg_optim_config cfg;
    tg_param_group *groups;
    int n_groups;
    tg_param_slot *slots;
    int n_slots;
    char error[256];      /* the last error of an add/step call */
} tg_optim;

tg_optim_config tg_optim_defaults(tg_optim_kind kind);
/* Parses "sgd", "adam", "adamw", "rmsprop"; -1 when unknown. */
int tg_optim_kind_from_name(const char *name);
const char *tg_optim_kind_name(tg_optim_kind kind);

/* A new optimizer without parameters; NULL when cfg is invalid (negative lr, Nesterov without
 * momentum, beta outside [0,1), ...) — the reason goes to err when err is not NULL. */
tg_optim *tg_optim_new_checked(const tg_optim_config *cfg, char *err, size_t errsz);
tg_optim *tg_optim_new(const tg_optim_config *cfg);
void tg_optim_free(tg_optim *opt);
/* Adds a group of n long-lived real tensors; lr / weight_decay NAN take the config's values.
 * Returns the group index, or -1 (opt->error says why: NULL/tape/int tensor, out of memory). */
int tg_optim_add_group(tg_optim *opt, tg_tensor *const *params, int n, double lr, double weight_decay);
/* Puts the parameters in two groups: weights (ndim >= 2) with the config's decay and the rest
 * (biases, BN gamma and beta: 1-D) with no decay. Returns 0 or -1. */
int tg_optim_add_params_split_decay(tg_optim *opt, tg_tensor *const *params, int n);
/* One update of every parameter that has a gradient (parameters without one are skipped, as
 * in PyTorch). Returns 0, or -1 when a state buffer cannot be allocated (opt->error names the
 * parameter); then no parameter was changed, so the step can be retried. */
int tg_optim_step(tg_optim *opt);
/* Zeroes every parameter's gradient. */
void tg_optim_zero_grad(tg_optim *opt);
/* Sets every group's lr. */
void tg_optim_set_lr(tg_optim *opt, double lr);
/* Optimizer steps taken so far (the most any parameter has taken; checkpoints keep it). */
int64_t tg_optim_steps(const tg_optim *opt);

/* ---- learning-rate schedules (PyTorch's closed forms; t counts sched steps, usually epochs) ---- */
typedef enum tg_sched_kind {
    TG_SCHED_CONSTANT,
    TG_SCHED_STEP,            /* base * gamma^floor(t / step_size) */
    TG_SCHED_MULTI_STEP,      /* base * gamma^(number of milestones <= t) */
    TG_SCHED_EXPONENTIAL,     /* base * gamma^t */
    TG_SCHED_COSINE,          /* eta_min + (base - eta_min)(1 + cos(pi t / t_max)) / 2 */
    TG_SCHED_COSINE_RESTARTS, /* the same within periods t_0, t_0*t_mult, ... (SGDR) */
    TG_SCHED_LINEAR_WARMUP,   /* base * (start + (end - start) min(t, total) / total) */
    TG_SCHED_ONE_CYCLE,       /* cos up from max/div to max over pct_start, down to max/div/final_div */
    TG_SCHED_PLATEAU,         /* lr *= factor after `patience` steps without improvement */
} tg_sched_kind;

#define TG_SCHED_MAX_MILESTONES 16

/* Zero fields take PyTorch's defaults: gamma 0.1, t_mult 1, start_factor 1/3, end_factor 1,
 * total_iters 5, pct_start 0.3, div_factor 25, final_div_factor 1e4, base/max momentum
 * 0.85/0.95 (one-cycle cycles momentum when cycle_momentum), factor 0.1, patience 10,
 * threshold 1e-4 (relative, mode min), plateau eps 1e-8. */
typedef struct tg_sched_config {
    tg_sched_kind kind;
    int step_size;                        /* STEP */
    double gamma;                         /* STEP, MULTI_STEP, EXPONENTIAL */
    int milestones[TG_SCHED_MAX_MILESTONES], n_milestones; /* MULTI_STEP, increasing */
    int t_max;                            /* COSINE */
    int t_0, t_mult;                      /* COSINE_RESTARTS */
    double eta_min;                       /* COSINE, COSINE_RESTARTS */
    double start_factor, end_factor;      /* LINEAR_WARMUP */
    int total_iters;                      /* LINEAR_WARMUP */
    int total_steps;                      /* ONE_CYCLE: the group's lr is max_lr */
    double pct_start, div_factor, final_div_factor;
    bool cycle_momentum;
    double base_momentum, max_momentum;
    double factor;                        /* PLATEAU */
    int patience, cooldown;
    double threshold, min_lr, plateau_eps;
    bool mode_max;                        /* PLATEAU: higher metric is better */
} tg_sched_config;

typedef struct tg_sched {
    tg_sched_config cfg;
    tg_optim *opt;
    int64_t t;          /* steps taken */
    /* reduce-on-plateau state */
    double best;
    int bad_epochs, cooldown_left;
} tg_sched;

/* A schedule driving opt's groups; sets the lr for t = 0 at once (as PyTorch's constructors do).
 * NULL when the config is invalid (reason in err when not NULL). */
tg_sched *tg_sched_new_checked(tg_optim *opt, const tg_sched_config *cfg, char *err, size_t errsz);
tg_sched *tg_sched_new(tg_optim *opt, const tg_sched_config *cfg);
void tg_sched_free(tg_sched *s);
/* Advances t and sets each group's lr (and momentum for one-cycle). */
void tg_sched_step(tg_sched *s);
/* Reduce-on-plateau: one step with the monitored metric (other kinds ignore it). */
void tg_sched_step_metric(tg_sched *s, double metric);
/* The closed form: lr at step t for a group whose initial lr is base (not PLATEAU). */
double tg_sched_lr_at(const tg_sched_config *cfg, double base, int64_t t);
/* Sets the schedule to step t (resuming from a checkpoint). */
void tg_sched_set_step(tg_sched *s, int64_t t);

/* ---- gradient clipping (over the parameters that have a gradient) ---- */
/* Scales all gradients so their global norm (norm_type 2, 1, or INFINITY) is at most max_norm,
 * by max_norm / (norm + 1e-6) as PyTorch does; returns the norm before clipping. */
double tg_clip_grad_norm(tg_tensor *const *params, int n, double max_norm, double norm_type);
/* Clamps every gradient value into [-clip, clip]. */
void tg_clip_grad_value(tg_tensor *const *params, int n, double clip);
/* Adaptive gradient clipping (NFNets; notes 004 §14.2.4.3): per unit i (a row over dim 0 of a
 * weight, the whole tensor for 1-D), when |G_i| / max(|W_i|, eps) > clip, G_i is scaled to
 * clip * max(|W_i|, eps) / |G_i|. NFNets use eps 1e-3 and clip 0.01..0.16. */
void tg_clip_grad_adaptive(tg_tensor *const *params, int n, double clip, double eps);

TG_API_END

#endif
