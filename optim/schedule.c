/* optim/schedule.c — learning-rate schedules as closed forms of t (PyTorch's formulas). */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double or_default(double v, double def) { return v != 0 ? v : def; }

/* Fills PyTorch's defaults into the zero fields. */
static tg_sched_config resolved(const tg_sched_config *in)
{
    tg_sched_config c = *in;
    c.gamma = or_default(c.gamma, 0.1);
    c.t_mult = c.t_mult ? c.t_mult : 1;
    c.start_factor = or_default(c.start_factor, 1.0 / 3);
    c.end_factor = or_default(c.end_factor, 1.0);
    c.total_iters = c.total_iters ? c.total_iters : 5;
    c.pct_start = or_default(c.pct_start, 0.3);
    c.div_factor = or_default(c.div_factor, 25);
    c.final_div_factor = or_default(c.final_div_factor, 1e4);
    c.base_momentum = or_default(c.base_momentum, 0.85);
    c.max_momentum = or_default(c.max_momentum, 0.95);
    c.factor = or_default(c.factor, 0.1);
    c.patience = c.patience ? c.patience : 10;
    c.threshold = or_default(c.threshold, 1e-4);
    c.plateau_eps = or_default(c.plateau_eps, 1e-8);
    return c;
}

static const char *config_problem(const tg_sched_config *c)
{
    switch (c->kind) {
    case TG_SCHED_STEP: if (c->step_size <= 0) return "step: step_size must be > 0"; break;
    case TG_SCHED_MULTI_STEP:
        if (c->n_milestones < 0 || c->n_milestones > TG_SCHED_MAX_MILESTONES)
            return "multi_step: 0..16 milestones";
        for (int i = 1; i < c->n_milestones; i++)
            if (c->milestones[i] <= c->milestones[i - 1]) return "multi_step: milestones must increase";
        break;
    case TG_SCHED_COSINE: if (c->t_max <= 0) return "cosine: t_max must be > 0"; break;
    case TG_SCHED_COSINE_RESTARTS:
        if (c->t_0 <= 0 || c->t_mult < 1) return "cosine_restarts: t_0 must be > 0 and t_mult >= 1";
        break;
    case TG_SCHED_LINEAR_WARMUP:
        if (c->start_factor <= 0 || c->start_factor > 1 || c->end_factor < 0 || c->end_factor > 1)
            return "linear_warmup: start_factor must be in (0, 1] and end_factor in [0, 1]";
        break;
    case TG_SCHED_ONE_CYCLE:
        if (c->total_steps <= 1) return "one_cycle: total_steps must be > 1";
        if (c->pct_start <= 0 || c->pct_start >= 1) return "one_cycle: pct_start must be in (0, 1)";
        break;
    case TG_SCHED_PLATEAU:
        if (c->factor >= 1 || c->factor <= 0) return "plateau: factor must be in (0, 1)";
        break;
    case TG_SCHED_CONSTANT:
    case TG_SCHED_EXPONENTIAL: break;
    default: return "unknown schedule kind";
    }
    return NULL;
}

/* Cosine interpolation from a (pct 0) to b (pct 1), as OneCycleLR's _annealing_cos. */
static double anneal_cos(double a, double b, double pct) { return b + (a - b) / 2 * (cos(M_PI * pct) + 1); }

/* One-cycle phase boundaries and position: returns the fraction through the current phase and
 * whether t is in the first (rising lr) phase. */
static double one_cycle_pct(const tg_sched_config *c, int64_t t, bool *rising)
{
    const double end_up = c->pct_start * c->total_steps - 1, end_down = c->total_steps - 1;
    if (t <= end_up) {
        *rising = true;
        return end_up > 0 ? t / end_up : 1;
    }
    *rising = false;
    return (t - end_up) / (end_down - end_up);
}

static double sched_lr(const tg_sched_config *c, double base, int64_t t)
{
    switch (c->kind) {
    case TG_SCHED_STEP: return base * pow(c->gamma, (double)(t / c->step_size));
    case TG_SCHED_MULTI_STEP: {
        int passed = 0;
        for (int i = 0; i < c->n_milestones; i++) passed += t >= c->milestones[i];
        return base * pow(c->gamma, passed);
    }
    case TG_SCHED_EXPONENTIAL: return base * pow(c->gamma, (double)t);
    case TG_SCHED_COSINE:
        return c->eta_min + (base - c->eta_min) * (1 + cos(M_PI * (double)t / c->t_max)) / 2;
    case TG_SCHED_COSINE_RESTARTS: {
        /* find the period holding t: periods are t_0, t_0 t_mult, t_0 t_mult^2, ... */
        int64_t t_cur = t, t_i = c->t_0;
        while (t_cur >= t_i) {
            t_cur -= t_i;
            t_i *= c->t_mult;
        }
        return c->eta_min + (base - c->eta_min) * (1 + cos(M_PI * (double)t_cur / (double)t_i)) / 2;
    }
    case TG_SCHED_LINEAR_WARMUP: {
        const double done = (double)(t < c->total_iters ? t : c->total_iters) / c->total_iters;
        return base * (c->start_factor + (c->end_factor - c->start_factor) * done);
    }
    case TG_SCHED_ONE_CYCLE: {
        const double initial = base / c->div_factor, final_lr = initial / c->final_div_factor;
        bool rising;
        const double pct = one_cycle_pct(c, t, &rising);
        return rising ? anneal_cos(initial, base, pct) : anneal_cos(base, final_lr, pct);
    }
    case TG_SCHED_CONSTANT:
    case TG_SCHED_PLATEAU:
    default: return base;
    }
}

double tg_sched_lr_at(const tg_sched_config *cfg, double base, int64_t t)
{
    tg_sched_config c = resolved(cfg);
    return sched_lr(&c, base, t);
}

/* Sets the groups' lr (and one-cycle momentum) for the current t. */
static void apply(tg_sched *s)
{
    if (s->cfg.kind == TG_SCHED_PLATEAU) return;
    for (int i = 0; i < s->opt->n_groups; i++) {
        tg_param_group *g = &s->opt->groups[i];
        g->lr = sched_lr(&s->cfg, g->initial_lr, s->t);
        if (s->cfg.kind == TG_SCHED_ONE_CYCLE && s->cfg.cycle_momentum) {
            bool rising;
            const double pct = one_cycle_pct(&s->cfg, s->t, &rising);
            g->momentum = rising ? anneal_cos(s->cfg.max_momentum, s->cfg.base_momentum, pct)
                                 : anneal_cos(s->cfg.base_momentum, s->cfg.max_momentum, pct);
        }
    }
}

tg_sched *tg_sched_new_checked(tg_optim *opt, const tg_sched_config *cfg, char *err, size_t errsz)
{
    const char *why = !opt ? "sched: optimizer is NULL" : !cfg ? "sched: config is NULL" : NULL;
    tg_sched_config c;
    if (!why) {
        c = resolved(cfg);
        why = config_problem(&c);
    }
    if (why) {
        if (err) snprintf(err, errsz, "%s", why);
        return NULL;
    }
    tg_sched *s = calloc(1, sizeof *s);
    if (!s) {
        if (err) snprintf(err, errsz, "sched: out of memory");
        return NULL;
    }
    s->cfg = c;
    s->opt = opt;
    s->best = c.mode_max ? -INFINITY : INFINITY;
    apply(s);
    return s;
}

tg_sched *tg_sched_new(tg_optim *opt, const tg_sched_config *cfg)
{
    return tg_sched_new_checked(opt, cfg, NULL, 0);
}

void tg_sched_free(tg_sched *s) { free(s); }

void tg_sched_step(tg_sched *s)
{
    if (!s) return;
    s->t++;
    apply(s);
}

void tg_sched_set_step(tg_sched *s, int64_t t)
{
    if (!s) return;
    s->t = t;
    apply(s);
}

/* ReduceLROnPlateau, threshold_mode 'rel': better means metric < best (1 - threshold) in mode
 * min (> best (1 + threshold) in mode max). After more than `patience` bad steps every group's
 * lr becomes max(lr factor, min_lr) (only when that changes it by more than eps), followed by
 * `cooldown` steps in which bad steps are not counted. */
void tg_sched_step_metric(tg_sched *s, double metric)
{
    if (!s) return;
    s->t++;
    if (s->cfg.kind != TG_SCHED_PLATEAU) {
        apply(s);
        return;
    }
    const bool better = s->cfg.mode_max ? metric > s->best * (1 + s->cfg.threshold)
                                        : metric < s->best * (1 - s->cfg.threshold);
    if (better) {
        s->best = metric;
        s->bad_epochs = 0;
    } else {
        s->bad_epochs++;
    }
    if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad_epochs = 0;
    }
    if (s->bad_epochs > s->cfg.patience) {
        for (int i = 0; i < s->opt->n_groups; i++) {
            tg_param_group *g = &s->opt->groups[i];
            double reduced = g->lr * s->cfg.factor;
            if (reduced < s->cfg.min_lr) reduced = s->cfg.min_lr;
            if (g->lr - reduced > s->cfg.plateau_eps) g->lr = reduced;
        }
        s->cooldown_left = s->cfg.cooldown;
        s->bad_epochs = 0;
    }
}
