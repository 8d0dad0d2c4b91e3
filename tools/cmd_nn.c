/* tools/cmd_nn.c — `tg summary MODEL`, `tg dot MODEL [-o FILE]`, `tg train MODEL --data DIR ...`.
 * Exit codes as the rest of tg: 0 success, 1 usage error, 2 invalid input; every error is one line
 * on stderr, "tg: COMMAND: reason" (tools/cli.h). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tapegrad.h"
#include "../nn/image.h"
#include "cli.h"

/* Reads the words of a command that takes one MODEL and the given options; TG_EXIT_OK, CLI_HELP
 * (the help is printed) or an error code (the line is printed). */
static int parse_model_args(const char *cmd, const char *usage, const cli_opt *opts, int argc, char **argv,
                            const char **model)
{
    *model = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_option(cmd, opts, argc, argv, &i);
        if (r == CLI_HELP) {
            char line[1024];
            cli_format_usage(opts, line, sizeof line);
            printf("usage: tg %s MODEL%s\n%s", cmd, line, usage);
            cli_print_help(stdout, opts);
            return CLI_HELP;
        }
        if (r != CLI_POSITIONAL) {
            if (r != TG_EXIT_OK) return r;
        } else if (*model) {
            return cli_fail(TG_EXIT_USAGE, cmd, "unexpected argument '%s' (the model is '%s')", CLI_Q(argv[i]),
                            CLI_Q(*model));
        } else {
            *model = argv[i];
        }
    }
    if (!*model) return cli_fail(TG_EXIT_USAGE, cmd, "MODEL (a model spec file) is required");
    return cli_check_required(cmd, opts);
}

/* The tape's high-water mark over one training step at `batch` as `tg train` runs it (gradients
 * freed once propagated): zero inputs in training mode,
 * cross-entropy against class 0 (the mean of the output when it is not [N, classes]), backward.
 * Writes the bytes, or returns the reason it could not run. The model is the summary's own copy,
 * so the step's BN statistics and gradients change nothing a caller keeps. */
static const char *train_step_peak(tg_model *m, int64_t batch, size_t *bytes, char *why, size_t whysz)
{
    int64_t shape[5] = {batch};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    if (!t) return snprintf(why, whysz, "%s", tg_last_error()), why;
    tg_tape_set_release_grads(t, true); /* as tg_train_epoch and tg bench run a step */
    tg_tensor *x = tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape);
    tg_tensor *y = tg_tape_tensor(t, TG_INT64, 1, shape);
    if (x) memset(x->data, 0, (size_t)x->numel * sizeof(tg_real));
    if (y) memset(y->idata, 0, (size_t)y->numel * sizeof(int64_t));
    tg_module_train(m->net, true);
    tg_tensor *out = x && y ? tg_module_forward(m->net, t, x) : NULL;
    tg_tensor *loss = out && out->ndim == 2 ? tg_cross_entropy(t, out, y) : tg_mean(t, out, TG_DIM_NONE, false);
    const char *reason = NULL;
    if (!loss || (loss->node && tg_backward(loss) != TG_OK)) reason = tg_error(t) ? tg_error(t) : "the step failed";
    if (reason) snprintf(why, whysz, "%s", reason);
    *bytes = tg_tape_peak(t);
    tg_tape_free(t);
    return reason ? why : NULL;
}

int tg_cmd_summary(int argc, char **argv)
{
    int64_t batch = 64;
    const cli_opt opts[] = {
        {"--batch", CLI_INT, &batch, "B", 1, 1 << 20, .help = "batch of the training step whose tape peak is shown (64)"},
        {0}};
    const char *model;
    int rc = parse_model_args("summary",
                              "  one row per layer: name, output shape, params, MACs; the tape's peak bytes for one\n"
                              "  training step at batch B\n",
                              opts, argc, argv, &model);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    char err[512];
    tg_model *m = tg_model_load(model, 0, err, sizeof err);
    char *text = m ? tg_summary(m, err, sizeof err) : NULL;
    if (!text) {
        tg_model_free(m);
        return cli_fail(TG_EXIT_INVALID, "summary", "%s", err);
    }
    /* the table, the tape line, then the totals: the output keeps ending with them */
    char *totals = strstr(text, "Total params: ");
    if (totals) fwrite(text, 1, (size_t)(totals - text), stdout);
    size_t peak = 0;
    const char *why = train_step_peak(m, batch, &peak, err, sizeof err);
    if (why) printf("Tape peak (one training step, batch %lld): not measured: %s\n", (long long)batch, why);
    else printf("Tape peak (one training step, batch %lld): %zu bytes (%.1f MiB)\n", (long long)batch, peak,
                (double)peak / (1024.0 * 1024.0));
    fputs(totals ? totals : text, stdout);
    free(text);
    tg_model_free(m);
    return 0;
}

/* Parameters' full names ("features.0.weight") for the DOT labels; the tensors keep their own. */
typedef struct param_names {
    tg_named_tensor *list;
    int n;
} param_names;

static const char *param_name(const tg_tensor *x, void *ctx)
{
    const param_names *p = ctx;
    for (int i = 0; i < p->n; i++)
        if (p->list[i].tensor == x) return p->list[i].name;
    return NULL;
}

/* One training step's graph: batch of 2 zero images, labels 0, cross-entropy, backward (so the
 * drawing shows gradient norms). */
int tg_cmd_dot(int argc, char **argv)
{
    const char *model, *out = NULL;
    const cli_opt opts[] = {{"-o", CLI_STRING, &out, "FILE", .help = "write the DOT here instead of stdout"}, {0}};
    int rc = parse_model_args("dot", "  the graph of one training step (batch of 2, cross-entropy) as DOT\n", opts, argc,
                              argv, &model);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    if (out && (rc = cli_check_writable("dot", "-o", out)) != TG_EXIT_OK) return rc;
    char err[512];
    tg_model *m = tg_model_load(model, 0, err, sizeof err);
    if (!m) return cli_fail(TG_EXIT_INVALID, "dot", "%s", err);
    int64_t shape[5] = {2};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tensor *x = tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape);
    tg_tensor *y = tg_tape_tensor(t, TG_INT64, 1, shape);
    if (x && y) {
        memset(x->data, 0, (size_t)x->numel * sizeof(tg_real));
        y->idata[0] = y->idata[1] = 0;
        tg_tensor_set_name(x, "input");
    }
    tg_tensor *logits = x && y ? tg_module_forward(m->net, t, x) : NULL;
    tg_tensor *loss = logits && logits->ndim == 2 ? tg_cross_entropy(t, logits, y) : logits;
    if (loss) tg_tensor_set_name(loss, logits->ndim == 2 ? "loss" : "output");
    tg_status st = loss ? TG_OK : TG_ERR_INVALID;
    if (loss && loss->numel == 1 && loss->node) st = tg_backward(loss);
    param_names names = {.n = tg_module_named_tensors(m->net, true, NULL, 0)};
    names.list = names.n > 0 ? calloc((size_t)names.n, sizeof *names.list) : NULL;
    if (names.n > 0 && !names.list) st = TG_ERR_NOMEM;
    if (names.list) tg_module_named_tensors(m->net, true, names.list, names.n);
    tg_dot_opts dot_opts = {.tensor_name = param_name, .tensor_name_ctx = &names};
    if (st == TG_OK) st = out ? tg_dot_write(t, loss, out, &dot_opts) : tg_dot_fprint(stdout, t, loss, &dot_opts);
    free(names.list);
    if (st != TG_OK) rc = cli_fail(TG_EXIT_INVALID, "dot", "%s", tg_error(t) ? tg_error(t) : tg_strerror(st));
    tg_tape_free(t);
    tg_model_free(m);
    return rc;
}

/* A loss this many times the run's first step's loss, and above LOSS_GROWTH_FLOOR, is a run
 * diverging while still finite (an lr far too high): warned about once. */
#define LOSS_GROWTH_FACTOR 1e3
#define LOSS_GROWTH_FLOOR 1e6

/* What the training loop reports step by step over the whole run (all epochs). */
typedef struct step_log {
    FILE *csv;              /* --step-csv: a line every `every` steps, or NULL */
    int64_t every;
    int64_t global_step;    /* optimizer steps so far, counting on from a --resume */
    double loss_sum;        /* batch losses since the last line */
    int64_t loss_count;
    double first_loss;      /* the run's first step's loss (NAN before it) */
    int64_t first_step;
    bool warn, warned;      /* watch for a growing loss (the printing process only) */
    bool tty;               /* a progress bar may be on the line */
} step_log;

/* Progress bar on a terminal, redrawn at most every 0.2 s. */
typedef struct progress_ctx {
    int epoch, epochs;
    int64_t total;
    double last_draw;
    bool draw;              /* stderr is a terminal */
    tg_sched *per_step;     /* a schedule stepped after every optimizer step (one-cycle), or NULL */
    bool regression;        /* no accuracy to show */
    step_log *log;
} progress_ctx;

/* After each step: the step CSV's line every log->every steps, and the growing-loss warning. */
static void log_step(step_log *log, int epoch, const tg_epoch_stats *st)
{
    log->global_step++;
    log->loss_sum += st->last_loss;
    log->loss_count++;
    if (log->csv && log->global_step % log->every == 0) {
        fprintf(log->csv, "%d,%lld,%lld,%.6g,%.8g,%.6g\n", epoch, (long long)st->steps, (long long)log->global_step,
                log->loss_sum / (double)log->loss_count, st->lr, st->grad_norm);
        log->loss_sum = 0, log->loss_count = 0;
    }
    if (isnan(log->first_loss)) log->first_loss = st->last_loss, log->first_step = log->global_step;
    if (log->warn && !log->warned && st->last_loss > LOSS_GROWTH_FLOOR &&
        st->last_loss > LOSS_GROWTH_FACTOR * log->first_loss) {
        log->warned = true;
        fprintf(stderr, "%stg: train: warning: loss grew from %.4g to %.4g in %lld step%s: lr too high?\n",
                log->tty ? "\n" : "", log->first_loss, st->last_loss, (long long)(log->global_step - log->first_step),
                log->global_step - log->first_step == 1 ? "" : "s");
    }
}

static void progress(void *vc, const tg_epoch_stats *st)
{
    progress_ctx *c = vc;
    if (c->log) log_step(c->log, c->epoch, st);
    if (c->per_step) tg_sched_step(c->per_step);
    if (!c->draw || st->seconds - c->last_draw < 0.2) return;
    c->last_draw = st->seconds;
    const int width = 30, filled = (int)(width * st->samples / (c->total ? c->total : 1));
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    const double ips = (double)st->samples / st->seconds;
    const double eta = (double)(c->total - st->samples) / ips + (double)(c->epochs - c->epoch) * (double)c->total / ips;
    fprintf(stderr, "\repoch %d/%d [%s] %3d%% loss %.4f", c->epoch, c->epochs, bar,
            (int)(100 * st->samples / (c->total ? c->total : 1)), st->loss);
    if (!c->regression) fprintf(stderr, " acc %.4f", st->accuracy);
    fprintf(stderr, " %.0f img/s ETA %.0fs   ", ips, eta);
    fflush(stderr);
}

/* The first conv layer's filters (input channel 0), one tile each, 8x enlarged, in a grid. */
static tg_status write_filters(tg_module *net, const char *path, char *err, size_t errsz)
{
    tg_module *conv = NULL;
    for (int i = 0; i < tg_module_child_count(net) && !conv; i++)
        if (!strcmp(tg_module_type(tg_module_child(net, i)), "conv2d")) conv = tg_module_child(net, i);
    if (!conv) return snprintf(err, errsz, "%s: the model has no conv2d layer", path), TG_ERR_INVALID;
    const tg_tensor *w = tg_module_tensor(conv, "weight");
    const int o = (int)w->shape[0], kh = (int)w->shape[2], kw = (int)w->shape[3], zoom = 8, gap = 2;
    const int cols = o < 10 ? o : 10, rows = (o + cols - 1) / cols;
    const int width = cols * (kw * zoom + gap) + gap, height = rows * (kh * zoom + gap) + gap;
    uint8_t *img = calloc((size_t)width * height, 1), *tile = malloc((size_t)kh * kw);
    if (!img || !tile) {
        free(img), free(tile);
        return snprintf(err, errsz, "%s: out of memory", path), TG_ERR_NOMEM;
    }
    const int64_t per_filter = w->numel / o;
    for (int f = 0; f < o; f++) {
        double lo = 1e30, hi = -1e30;
        const tg_real *v = w->data + f * per_filter;
        for (int i = 0; i < kh * kw; i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
        tg_image_from_real(v, (size_t)kh * kw, lo, hi, tile);
        const int x0 = gap + (f % cols) * (kw * zoom + gap), y0 = gap + (f / cols) * (kh * zoom + gap);
        for (int y = 0; y < kh * zoom; y++)
            for (int x = 0; x < kw * zoom; x++) img[(size_t)(y0 + y) * width + x0 + x] = tile[(y / zoom) * kw + x / zoom];
    }
    tg_status st = tg_png_write_gray(path, img, width, height);
    if (st != TG_OK) snprintf(err, errsz, "%s: %s", path, tg_strerror(st));
    free(img), free(tile);
    return st;
}

/* "1x28x28" for a message (a struct so it can be used inline). */
typedef struct shape_str {
    char s[96];
} shape_str;
static shape_str shape_text(const int64_t *shape, int ndim)
{
    shape_str r = {""};
    for (int d = 0, n = 0; d < ndim && n >= 0 && (size_t)n < sizeof r.s; d++)
        n += snprintf(r.s + n, sizeof r.s - (size_t)n, "%s%lld", d ? "x" : "", (long long)shape[d]);
    return r;
}

/* Images per second, 0 when no time was measured (never NaN or Inf in the output). */
static double rate(int64_t images, double seconds) { return seconds > 0 ? (double)images / seconds : 0.0; }

/* Training tape's arena: one LeNet step at batch 256 needs ~20 MB; the arena grows past it as needed */
#define TRAIN_ARENA_BYTES (64u << 20)

/* `tg train`'s options, defaults in the variables they parse into; one table parses argv and
 * prints the usage and help. */
typedef struct train_args {
    const char *model, *data, *test, *save, *csv, *optim, *resume, *filters, *sched, *milestones, *step_csv;
    int64_t epochs, batch, threads, limit, step_size, t_max, patience, early_stop, warmup, log_every;
    double lr, momentum, weight_decay, val_split, gamma, eta_min, factor, warmup_start, clip_norm, clip_value, agc,
        label_smoothing;
    uint64_t seed;
    bool augment, detect_anomaly;
    const char *label, *loss; /* own data: the CSV label column; what the outputs are scored with */
} train_args;

#define TRAIN_OPTIONS(a)                                                                                               \
    {                                                                                                                  \
        {"--data", CLI_STRING, &(a)->data, "DIR|X.npy,y.npy|FILE.csv", .required = true,                                \
         .help = "MNIST-named IDX files in DIR ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]), class sub-folders " \
                 "of PNG/PGM images in DIR, a .npy pair (float inputs [N,C,H,W]/[N,F]; int64 labels [N] or float "     \
                 "targets [N]/[N,K]) or a CSV file (numeric columns; see --label)"},                                    \
        {"--test", CLI_STRING, &(a)->test, "DIR|X.npy,y.npy|FILE.csv",                                                  \
         .help = "the test set, in any --data form (an IDX DIR's own is its t10k files)"},                              \
        {"--label", CLI_STRING, &(a)->label, "COL", .help = "CSV: the label column, a header name or 0-based index; "   \
                                                             "default the last column"},                                \
        {"--loss", CLI_CHOICE, &(a)->loss, "cross_entropy|mse|l1",                                                     \
         .help = "cross_entropy: class labels; mse, l1: regression on float targets"},                                  \
        {"--val-split", CLI_REAL, &(a)->val_split, "F", 0, 1, .lo_open = true, .hi_open = true,                         \
         .help = "hold out this fraction of the training data (seeded) as a validation set"},                          \
        {"--epochs", CLI_INT, &(a)->epochs, "E", 1, 1e6, .help = "passes over the training set"},                        \
        {"--batch", CLI_INT, &(a)->batch, "B", 1, 1 << 20, .help = "images per step (at most the training set)"},       \
        {"--lr", CLI_REAL, &(a)->lr, "X", 0, INFINITY, .lo_open = true, .help = "learning rate"},                         \
        {"--optim", CLI_CHOICE, &(a)->optim, "sgd|adam|adamw|rmsprop", .help = "optimizer"},                             \
        {"--momentum", CLI_REAL, &(a)->momentum, "M", 0, 1, .hi_open = true, .help = "sgd and rmsprop momentum"},        \
        {"--weight-decay", CLI_REAL, &(a)->weight_decay, "W", 0, INFINITY,                                               \
         .help = "L2 penalty (decoupled for adamw); biases and norm parameters are exempt"},                            \
        CLI_THREADS_OPTION(&(a)->threads),                                                                             \
        {"--seed", CLI_SEED, &(a)->seed, "S", .help = "initialisation and shuffling seed"},                              \
        {"--save", CLI_STRING, &(a)->save, "FILE", .help = "write a checkpoint after every epoch"},                      \
        {"--resume", CLI_STRING, &(a)->resume, "FILE",                                                                  \
         .help = "start from a checkpoint (model, optimizer, shuffling, normalisation); epochs count on"},             \
        {"--limit", CLI_INT, &(a)->limit, "N", 1, INFINITY, .help = "train on the first N images only"},                \
        {"--csv", CLI_STRING, &(a)->csv, "FILE", .help = "per-epoch metrics as CSV"},                                    \
        {"--step-csv", CLI_STRING, &(a)->step_csv, "FILE",                                                              \
         .help = "a CSV line every --log-every steps: epoch,step,global_step,loss,lr,grad_norm"},                      \
        {"--log-every", CLI_INT, &(a)->log_every, "N", 1, 1e9,                                                          \
         .help = "steps per --step-csv line (its loss: the mean batch loss over those steps)"},                        \
        {"--filters", CLI_STRING, &(a)->filters, "PNG", .help = "the first conv layer's filters as an image, at the end"},\
        {"--sched", CLI_CHOICE, &(a)->sched, "none|step|multistep|cosine|onecycle|plateau",                             \
         .help = "learning-rate schedule: per epoch; onecycle per step with --lr as the peak"},                         \
        {"--step-size", CLI_INT, &(a)->step_size, "N", 1, 1e6, .help = "step: epochs between decays"},                   \
        {"--gamma", CLI_REAL, &(a)->gamma, "G", 0, 1, .lo_open = true, .help = "step, multistep: decay factor"},         \
        {"--milestones", CLI_STRING, &(a)->milestones, "E1,E2,...", .help = "multistep: increasing epochs to decay at"},\
        {"--t-max", CLI_INT, &(a)->t_max, "N", 0, 1e6, .help = "cosine: epochs of the half cosine (0: until the last)"}, \
        {"--eta-min", CLI_REAL, &(a)->eta_min, "X", 0, INFINITY, .help = "cosine: the lowest lr"},                      \
        {"--factor", CLI_REAL, &(a)->factor, "F", 0, 1, .lo_open = true, .hi_open = true,                               \
         .help = "plateau: lr multiplier when the validation loss stalls"},                                            \
        {"--patience", CLI_INT, &(a)->patience, "N", 0, 1e6, .help = "plateau: epochs without improvement first"},      \
        {"--warmup", CLI_INT, &(a)->warmup, "N", 0, INT32_MAX,                                                          \
         .help = "linear lr warmup over the first N steps, multiplying any --sched (PyTorch LinearLR)"},               \
        {"--warmup-start", CLI_REAL, &(a)->warmup_start, "F", 0, 1, .lo_open = true,                                    \
         .help = "warmup: the lr factor of the first step (LinearLR's start_factor)"},                                 \
        {"--clip-norm", CLI_REAL, &(a)->clip_norm, "MAX", 0, INFINITY, .lo_open = true,                                 \
         .help = "scale the gradients to a global L2 norm of at most MAX (clip_grad_norm_)"},                          \
        {"--clip-value", CLI_REAL, &(a)->clip_value, "V", 0, INFINITY, .lo_open = true,                                 \
         .help = "clamp every gradient value into [-V, V] (clip_grad_value_)"},                                        \
        {"--agc", CLI_REAL, &(a)->agc, "LAMBDA", 0, INFINITY, .lo_open = true,                                          \
         .help = "adaptive gradient clipping per unit (NFNets; eps 1e-3; not the last linear layer)"},                \
        {"--label-smoothing", CLI_REAL, &(a)->label_smoothing, "EPS", 0, 1,                                             \
         .help = "cross-entropy against (1-EPS) one-hot + EPS/classes (CrossEntropyLoss(label_smoothing=))"},          \
        {"--early-stop", CLI_INT, &(a)->early_stop, "PATIENCE", 1, 1e6,                                                 \
         .help = "stop after this many epochs without a lower validation loss (needs --val-split)"},                   \
        {"--augment", CLI_FLAG, &(a)->augment, .help = "random horizontal flips and 2-pixel crops"},                     \
        {"--detect-anomaly", CLI_FLAG, &(a)->detect_anomaly,                                                             \
         .help = "check every op's output and gradient; name the first NaN/Inf (slower)"},                              \
        {0}                                                                                                            \
    }

/* steps per --step-csv line */
#define DEFAULT_LOG_EVERY 50
/* PyTorch LinearLR's default start_factor */
#define DEFAULT_WARMUP_START (1.0 / 3)

static train_args train_defaults(void)
{
    return (train_args){.optim = "sgd", .epochs = 2, .batch = 64, .threads = 0, .lr = 0.02, .momentum = 0.9, .seed = 42,
                        .sched = "none", .loss = "cross_entropy", .step_size = 1, .gamma = 0.1, .factor = 0.1, .patience = 10,
                        .log_every = DEFAULT_LOG_EVERY, .warmup_start = DEFAULT_WARMUP_START};
}

static const char *const train_about =
    "  train a classifier with cross-entropy; inputs are normalised per channel with the training data's mean and\n"
    "  std (stored in the checkpoint); prints per-epoch loss and accuracy, then 'test_acc A' (and 'val_acc A'\n"
    "  with --val-split) and 'train_img_per_s R'; a finite loss grown past 1e6 and 1000x the first step's gets one\n"
    "  warning on stderr ('lr too high?')\n";

void tg_train_help(FILE *f)
{
    train_args a = train_defaults();
    const cli_opt opts[] = TRAIN_OPTIONS(&a);
    char line[1024];
    cli_format_usage(opts, line, sizeof line);
    fprintf(f, "  tg train MODEL%s\n", line);
    cli_print_help(f, opts);
}

/* The --sched schedule over opt (NULL for none); steps_per_epoch sizes one-cycle. The lr of every
 * group starts from --lr. */
static int make_schedule(const train_args *a, tg_optim *opt, int64_t steps_per_epoch, bool has_val, tg_sched **out)
{
    *out = NULL;
    if (a->early_stop && !has_val)
        return cli_fail(TG_EXIT_USAGE, "train", "--early-stop: watches the validation loss: give --val-split F");
    if (!strcmp(a->sched, "none")) return TG_EXIT_OK;
    tg_sched_config c = {.gamma = a->gamma};
    if (!strcmp(a->sched, "step")) {
        c.kind = TG_SCHED_STEP, c.step_size = (int)a->step_size;
    } else if (!strcmp(a->sched, "multistep")) {
        c.kind = TG_SCHED_MULTI_STEP;
        if (!a->milestones) return cli_fail(TG_EXIT_USAGE, "train", "--sched multistep needs --milestones E1,E2,...");
        const char *p = a->milestones;
        while (*p) {
            char *end;
            errno = 0;
            const long v = strtol(p, &end, 10);
            if (end == p || errno || v < 1 || v > INT32_MAX || (*end && *end != ',') ||
                (c.n_milestones && v <= c.milestones[c.n_milestones - 1]))
                return cli_fail(TG_EXIT_USAGE, "train", "--milestones: '%s' is not a list of increasing epochs >= 1",
                                CLI_Q(a->milestones));
            if (c.n_milestones == TG_SCHED_MAX_MILESTONES)
                return cli_fail(TG_EXIT_USAGE, "train", "--milestones: more than %d", TG_SCHED_MAX_MILESTONES);
            c.milestones[c.n_milestones++] = (int)v;
            p = *end ? end + 1 : end;
            if (*end && !*p) return cli_fail(TG_EXIT_USAGE, "train", "--milestones: '%s' ends with a comma", CLI_Q(a->milestones));
        }
    } else if (!strcmp(a->sched, "cosine")) {
        c.kind = TG_SCHED_COSINE, c.eta_min = a->eta_min, c.t_max = (int)(a->t_max ? a->t_max : a->epochs);
    } else if (!strcmp(a->sched, "onecycle")) {
        c.kind = TG_SCHED_ONE_CYCLE, c.total_steps = (int)(steps_per_epoch * a->epochs);
    } else {
        if (!has_val)
            return cli_fail(TG_EXIT_USAGE, "train", "--sched plateau: watches the validation loss: give --val-split F");
        c.kind = TG_SCHED_PLATEAU, c.factor = a->factor, c.patience = (int)a->patience;
    }
    char err[256];
    if (!(*out = tg_sched_new_checked(opt, &c, err, sizeof err)))
        return cli_fail(TG_EXIT_USAGE, "train", "--sched %s: %s", a->sched, err);
    return TG_EXIT_OK;
}

/* Whether a loaded set suits the loss and the model: class labels for cross-entropy, float targets
 * of the model's output size for mse/l1. The error line names the option, the data and both sizes. */
static int check_targets(const char *cmd, const char *opt, const char *spec, const tg_dataset *d, tg_loss_kind loss,
                         const tg_model *m)
{
    const char *name = tg_loss_kind_name(loss);
    if (loss == TG_LOSS_CROSS_ENTROPY && d->targets)
        return cli_fail(TG_EXIT_INVALID, cmd, "%s: '%s' holds float targets; --loss cross_entropy needs int64 class "
                        "labels (regression: --loss mse or l1)", opt, CLI_Q(spec));
    if (loss != TG_LOSS_CROSS_ENTROPY && !d->targets)
        return cli_fail(TG_EXIT_INVALID, cmd, "%s: '%s' holds class labels; --loss %s needs float targets", opt,
                        CLI_Q(spec), name);
    if (loss != TG_LOSS_CROSS_ENTROPY && (m->out_ndim != 1 || m->out_shape[0] != d->n_targets))
        return cli_fail(TG_EXIT_INVALID, cmd, "--loss %s: the model's output %s does not match the %lld target "
                        "value%s per sample of '%s'", name, shape_text(m->out_shape, m->out_ndim).s,
                        (long long)d->n_targets, d->n_targets == 1 ? "" : "s", CLI_Q(spec));
    return TG_EXIT_OK;
}

/* Why a training step failed, as the error line: a non-finite loss gets the advice. */
static int train_failure(const char *cmd, const train_args *a, int epoch, const tg_epoch_stats *tr, tg_status st, const tg_tape *t)
{
    const long long step = (long long)tr->steps + 1;
    if (st == TG_ERR_NONFINITE && !isfinite(tr->last_loss))
        return cli_fail(TG_EXIT_INVALID, cmd, "loss is %s at epoch %d step %lld (lr %g): lower --lr%s",
                        isnan(tr->last_loss) ? "nan" : "inf", epoch, step, a->lr,
                        a->detect_anomaly ? "" : " or use --detect-anomaly");
    return cli_fail(TG_EXIT_INVALID, cmd, "epoch %d step %lld: %s", epoch, step,
                    tg_error(t) ? tg_error(t) : tg_strerror(st));
}

int tg_cmd_train(int argc, char **argv) { return tg_train_command(argc, argv, NULL); }

/* the most options a driver may add to tg train's */
#define TRAIN_EXTRA_OPTS 8

int tg_train_command(int argc, char **argv, const tg_train_driver *drv)
{
    train_args a = train_defaults();
    const cli_opt base[] = TRAIN_OPTIONS(&a);
    cli_opt opts[sizeof base / sizeof *base + TRAIN_EXTRA_OPTS];
    int n_opts = 0;
    for (; base[n_opts].name; n_opts++) opts[n_opts] = base[n_opts];
    for (int i = 0; drv && drv->extra && drv->extra[i].name && i < TRAIN_EXTRA_OPTS; i++) opts[n_opts++] = drv->extra[i];
    opts[n_opts] = (cli_opt){0};
    const char *cmd = drv ? drv->cmd : "train";
    const bool quiet = drv && drv->quiet; /* another process prints and writes the files */
    char err[512];
    tg_model *m = NULL;
    tg_dataset *train = NULL, *test = NULL, *val = NULL;
    tg_norm_stats norm = {0};
    tg_optim *opt = NULL;
    tg_sched *sched = NULL;
    tg_named_tensor *named = NULL;
    tg_tensor **params = NULL;
    tg_tape *t = NULL;
    tg_batcher b = {0};
    bool batcher_ready = false;
    FILE *csv = NULL, *step_csv = NULL;
    tg_tensor **agc_params = NULL;
    int kind = 0;
    int rc = parse_model_args(cmd, train_about, opts, argc, argv, &a.model);
    if (rc == CLI_HELP) return TG_EXIT_OK;
    if (rc != TG_EXIT_OK) goto done;
    if ((kind = tg_optim_kind_from_name(a.optim)) < 0) {
        rc = cli_fail(TG_EXIT_USAGE, cmd, "--optim: '%s' is not one of sgd|adam|adamw|rmsprop", CLI_Q(a.optim));
        goto done;
    }
    if (!a.warmup && a.warmup_start != DEFAULT_WARMUP_START) {
        rc = cli_fail(TG_EXIT_USAGE, cmd, "--warmup-start: applies to a warmup: give --warmup N");
        goto done;
    }
    if (!a.step_csv && a.log_every != DEFAULT_LOG_EVERY) {
        rc = cli_fail(TG_EXIT_USAGE, cmd, "--log-every: sets the period of --step-csv lines: give --step-csv FILE");
        goto done;
    }
    /* output files fail now, not after an hour of training */
    if (!quiet && a.save && (rc = cli_check_writable(cmd, "--save", a.save)) != TG_EXIT_OK) goto done;
    if (!quiet && a.filters && (rc = cli_check_writable(cmd, "--filters", a.filters)) != TG_EXIT_OK) goto done;
    if (!quiet && a.csv && !(csv = fopen(a.csv, "w"))) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--csv: cannot write '%s': %s", CLI_Q(a.csv), strerror(errno));
        goto done;
    }
    if (!quiet && a.step_csv && !(step_csv = fopen(a.step_csv, "w"))) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--step-csv: cannot write '%s': %s", CLI_Q(a.step_csv), strerror(errno));
        goto done;
    }
    if ((rc = cli_apply_threads(cmd, a.threads)) != TG_EXIT_OK) goto done;

    if (!(m = tg_model_load(a.model, a.seed, err, sizeof err))) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "%s", err);
        goto done;
    }
    const tg_loss_kind loss = (tg_loss_kind)tg_loss_kind_from_name(a.loss); /* CLI_CHOICE checked the name */
    /* images are resized to the model's input; a CSV's label column is read as the loss needs it */
    const tg_data_options data_opts = {.label_col = a.label, .float_targets = loss != TG_LOSS_CROSS_ENTROPY,
                                       .c = m->in_ndim == 3 ? (int)m->in_shape[0] : 0,
                                       .h = m->in_ndim == 3 ? (int)m->in_shape[1] : 0,
                                       .w = m->in_ndim == 3 ? (int)m->in_shape[2] : 0};
    if (a.label_smoothing > 0 && loss != TG_LOSS_CROSS_ENTROPY) {
        rc = cli_fail(TG_EXIT_USAGE, cmd, "--label-smoothing: applies to --loss cross_entropy, not %s", a.loss);
        goto done;
    }
    const tg_data_source source = tg_data_source_of(a.data);
    if (a.label && source != TG_DATA_CSV) {
        rc = cli_fail(TG_EXIT_USAGE, cmd, "--label: names a CSV column, but --data '%s' is not a .csv file", CLI_Q(a.data));
        goto done;
    }
    if (tg_dataset_load_spec(a.data, &data_opts, true, &train, err, sizeof err) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--data: %s", err);
        goto done;
    }
    if ((rc = check_targets(cmd, "--data", a.data, train, loss, m)) != TG_EXIT_OK) goto done;
    /* the held-out sets: --test, else an IDX directory's t10k files; --val-split carves one from train */
    const bool data_is_dir = source == TG_DATA_IDX_DIR;
    if ((a.test || data_is_dir) &&
        (data_is_dir && !a.test ? tg_dataset_load_mnist_dir(a.data, false, &test, err, sizeof err)
                                : tg_dataset_load_spec(a.test, &data_opts, false, &test, err, sizeof err)) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "%s: %s", data_is_dir && !a.test ? "--data" : "--test", err);
        goto done;
    }
    if (a.test && (rc = check_targets(cmd, "--test", a.test, test, loss, m)) != TG_EXIT_OK) goto done;
    /* image folders number their classes by sorted name: the same numbers need the same class folders */
    if (test && (test->class_names || train->class_names)) {
        if (!test->class_names || !train->class_names)
            rc = cli_fail(TG_EXIT_INVALID, cmd, "--test: one of --data and --test is an image folder and the other not");
        else if (test->n_classes != train->n_classes)
            rc = cli_fail(TG_EXIT_INVALID, cmd, "--test: %d class folders, --data has %d", test->n_classes,
                          train->n_classes);
        for (int k = 0; !rc && k < test->n_classes; k++)
            if (strcmp(test->class_names[k], train->class_names[k]))
                rc = cli_fail(TG_EXIT_INVALID, cmd, "--test: class %d is '%s' but --data's is '%s' (classes are numbered "
                              "by sorted folder name)", k, CLI_Q(test->class_names[k]), CLI_Q(train->class_names[k]));
        if (rc) goto done;
    }
    if (!test && a.val_split <= 0) {
        rc = cli_fail(TG_EXIT_USAGE, cmd, "--data: %s needs --test %s or --val-split F",
                      source == TG_DATA_CSV ? "a CSV file" : source == TG_DATA_IMAGE_DIR ? "an image folder" : "a .npy pair",
                      source == TG_DATA_CSV ? "FILE.csv" : source == TG_DATA_IMAGE_DIR ? "DIR" : "X.npy,y.npy");
        goto done;
    }
    if (train->class_names && !quiet) { /* the folder names behind the class numbers, once */
        printf("classes:");
        for (int k = 0; k < train->n_classes; k++) printf(" %d=%s", k, CLI_Q(train->class_names[k]));
        putchar('\n');
    }
    if (a.limit > 0 && a.limit < train->n) train->n = a.limit;
    if (a.val_split > 0 && tg_dataset_split(train, a.val_split, a.seed, &val, err, sizeof err) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--val-split: %s", err);
        goto done;
    }
    /* the samples viewed with the model's input shape where they differ only by leading 1s (a
     * [N,C,L] array is read as one-channel images; a 1-D model takes it as C channels of L) */
    int64_t data_shape[TG_DATASET_MAX_RANK];
    const bool fits = tg_dataset_fit_shape(train, m->in_shape, m->in_ndim);
    const int data_ndim = tg_dataset_sample_shape(train, data_shape);
    if (!fits) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "model input %s does not match the data's %s",
                      shape_text(m->in_shape, m->in_ndim).s, shape_text(data_shape, data_ndim).s);
        goto done;
    }
    if (val) tg_dataset_fit_shape(val, m->in_shape, m->in_ndim); /* split from train: the same shape */
    if (test && !tg_dataset_fit_shape(test, m->in_shape, m->in_ndim)) {
        int64_t hs[TG_DATASET_MAX_RANK];
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--test: samples of %s do not match the training data's %s",
                      shape_text(hs, tg_dataset_sample_shape(test, hs)).s, shape_text(data_shape, data_ndim).s);
        goto done;
    }
    if (a.augment && data_ndim != 3) {
        if (data_ndim == 1)
            rc = cli_fail(TG_EXIT_USAGE, cmd, "--augment: flips and crops need images, the data has %lld features",
                          (long long)data_shape[0]);
        else
            rc = cli_fail(TG_EXIT_USAGE, cmd, "--augment: flips and crops need images (C x H x W), the samples are %s",
                          shape_text(data_shape, data_ndim).s);
        goto done;
    }
    /* the loop drops a short last batch (fixed shapes), so a batch past the data would train nothing */
    if (a.batch > train->n) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--batch %lld is larger than the training set (%lld images%s)",
                      (long long)a.batch, (long long)train->n, a.limit > 0 && a.limit == train->n ? ", from --limit" : "");
        goto done;
    }
    if (tg_norm_stats_compute(train, &norm) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "out of memory for the normalisation statistics");
        goto done;
    }

    tg_optim_config cfg = tg_optim_defaults((tg_optim_kind)kind);
    cfg.lr = a.lr;
    cfg.weight_decay = a.weight_decay;
    if (kind == TG_OPTIM_SGD || kind == TG_OPTIM_RMSPROP) cfg.momentum = a.momentum;
    if (!(opt = tg_optim_new_checked(&cfg, err, sizeof err))) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "%s", err);
        goto done;
    }
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    named = calloc((size_t)np + 1, sizeof *named);
    params = calloc((size_t)np + 1, sizeof *params);
    t = tg_tape_new(TRAIN_ARENA_BYTES);
    if (!named || !params || !t) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "out of memory for the %s", t ? "parameter list" : "tape");
        goto done;
    }
    tg_module_named_tensors(m->net, false, named, np);
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    if (tg_optim_add_params_split_decay(opt, params, np)) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "%s", opt->error);
        goto done;
    }
    tg_set_detect_anomaly(t, a.detect_anomaly);
    tg_train_opts step_opts = {.label_smoothing = a.label_smoothing, .clip_norm = a.clip_norm,
                               .clip_value = a.clip_value, .agc = a.agc, .warmup_steps = a.warmup,
                               .warmup_start = a.warmup_start};
    if (a.agc > 0) { /* every parameter but the last linear layer's */
        if (!(agc_params = calloc((size_t)np + 1, sizeof *agc_params))) {
            rc = cli_fail(TG_EXIT_INVALID, cmd, "out of memory for the parameter list");
            goto done;
        }
        step_opts.n_agc_params = tg_train_agc_params(m->net, agc_params, np);
        step_opts.agc_params = agc_params;
        if (step_opts.n_agc_params < 0) {
            rc = cli_fail(TG_EXIT_INVALID, cmd, "--agc: out of memory for the parameter list");
            goto done;
        }
    }
    if ((rc = make_schedule(&a, opt, train->n / a.batch, val != NULL, &sched)) != TG_EXIT_OK) goto done;
    if (tg_batcher_init(&b, train, a.batch, true, a.seed) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, cmd, "out of memory for the batch order");
        goto done;
    }
    batcher_ready = true;
    b.augment.hflip = a.augment;
    b.loss = loss;
    b.augment.crop_padding = a.augment ? 2 : 0;
    int64_t epochs_done = 0;
    if (a.resume) {
        tg_norm_stats stored = {0};
        int stored_loss = TG_LOSS_CROSS_ENTROPY;
        tg_checkpoint_extra extra = {.norm = &stored, .epoch = &epochs_done, .loss = &stored_loss};
        if (tg_checkpoint_load_ex(a.resume, m->net, opt, sched, &b.rng, &extra, err, sizeof err) != TG_OK) {
            rc = cli_fail(TG_EXIT_INVALID, cmd, "--resume: %s", err);
            goto done;
        }
        if (stored_loss != (int)loss) {
            tg_norm_stats_free(&stored);
            rc = cli_fail(TG_EXIT_INVALID, cmd, "--resume: %s was trained with --loss %s, not %s", CLI_Q(a.resume),
                          tg_loss_kind_name((tg_loss_kind)stored_loss), a.loss);
            goto done;
        }
        /* the statistics the weights were trained with; an old file has none: keep today's */
        if (stored.n == norm.n) tg_norm_stats_free(&norm), norm = stored;
        else tg_norm_stats_free(&stored);
        if (!quiet) printf("resumed from %s after epoch %lld\n", CLI_Q(a.resume), (long long)epochs_done);
    }
    tg_dataset_normalize_stats(train, &norm);
    if (test) tg_dataset_normalize_stats(test, &norm);
    if (val) tg_dataset_normalize_stats(val, &norm);
    int loss_id = (int)loss;
    tg_checkpoint_extra save_extra = {.norm = &norm, .epoch = &epochs_done, .loss = &loss_id};
    const bool regression = loss != TG_LOSS_CROSS_ENTROPY; /* no accuracy: loss figures only */
    const tg_dataset *eval = test; /* with a driver: this process's part of the test set */
    tg_train_sync sync = {0};
    if (drv) {
        if ((rc = drv->agree(drv->ctx, rc)) != TG_EXIT_OK ||
            (rc = drv->start(drv->ctx, m, opt, test, &eval, &b, &sync)) != TG_EXIT_OK)
            goto done;
    }
    if (csv) fprintf(csv, "epoch,train_loss,train_acc,test_loss,test_acc,val_loss,val_acc,img_per_s,seconds,lr,global_step\n");
    if (step_csv) fprintf(step_csv, "epoch,step,global_step,loss,lr,grad_norm\n");
    step_log log = {.csv = step_csv, .every = a.log_every, .global_step = tg_optim_steps(opt), .first_loss = NAN,
                    .warn = !quiet, .tty = !quiet && isatty(2)};
    double best_val = INFINITY;
    int64_t stale = 0;
    bool stop_now = false;
    const bool tty = !quiet && isatty(2);
    double total_train_s = 0, test_acc = 0, val_acc = 0;
    int64_t total_imgs = 0;
    const int first = (int)epochs_done + 1, last = (int)(epochs_done + a.epochs);
    for (int epoch = first; epoch <= last && !rc; epoch++) {
        /* this process's samples: its share of every batch */
        const int64_t mine = sync.shard_count ? train->n / a.batch * sync.shard_count : train->n;
        progress_ctx pc = {.epoch = epoch, .epochs = last, .total = mine, .draw = tty, .regression = regression,
                           .per_step = sched && sched->cfg.kind == TG_SCHED_ONE_CYCLE ? sched : NULL, .log = &log};
        const double epoch_lr = opt->groups[0].lr;
        tg_epoch_stats tr, te = {0}, tv = {0};
        tg_status st = tg_train_epoch_opts(m->net, opt, &b, t, &tr, progress, &pc, drv ? &sync : NULL, &step_opts);
        if (st != TG_OK) {
            if (tty) fputc('\n', stderr);
            rc = train_failure(cmd, &a, epoch, &tr, st, t);
            break;
        }
        if ((eval && (st = tg_evaluate_loss(m->net, eval, a.batch, loss, t, &te)) != TG_OK) ||
            (val && (st = tg_evaluate_loss(m->net, val, a.batch, loss, t, &tv)) != TG_OK)) {
            if (tty) fputc('\n', stderr);
            rc = cli_fail(TG_EXIT_INVALID, cmd, "epoch %d, evaluating: %s", epoch, tg_error(t) ? tg_error(t) : tg_strerror(st));
        }
        /* the figures below are the whole run's: every process's samples */
        if (drv && (rc = drv->agree(drv->ctx, rc)) == TG_EXIT_OK) rc = drv->epoch_end(drv->ctx, m, &tr, &te);
        if (rc) break;
        total_train_s += tr.seconds;
        total_imgs += tr.samples;
        test_acc = regression ? te.loss : te.accuracy, val_acc = regression ? tv.loss : tv.accuracy;
        epochs_done = epoch;
        if (tty) fprintf(stderr, "\r%100s\r", "");
        if (!quiet) {
            printf("epoch %d train_loss %.4f", epoch, tr.loss);
            if (!regression) printf(" train_acc %.4f", tr.accuracy);
            if (test) printf(" test_loss %.4f", te.loss);
            if (test && !regression) printf(" test_acc %.4f", te.accuracy);
            if (val) printf(" val_loss %.4f", tv.loss);
            if (val && !regression) printf(" val_acc %.4f", tv.accuracy);
            printf(" img/s %.1f time %.1fs lr %.6g\n", rate(tr.samples, tr.seconds), tr.seconds, epoch_lr);
            fflush(stdout);
        }
        /* epoch schedules step after the epoch; plateau watches the validation loss */
        if (sched && sched->cfg.kind == TG_SCHED_PLATEAU) tg_sched_step_metric(sched, tv.loss);
        else if (sched && sched->cfg.kind != TG_SCHED_ONE_CYCLE) tg_sched_step(sched);
        if (a.early_stop && val) {
            if (tv.loss < best_val) best_val = tv.loss, stale = 0;
            else if (++stale >= a.early_stop) stop_now = true;
        }
        if (!quiet && a.save && tg_checkpoint_save_ex(a.save, m->net, opt, sched, &b.rng, &save_extra, err, sizeof err) != TG_OK)
            rc = cli_fail(TG_EXIT_INVALID, cmd, "--save: %s", err);
        if (csv) { /* a set that is not there leaves its columns empty, as regression the accuracies */
            fprintf(csv, "%d,%.6f,", epoch, tr.loss);
            if (!regression) fprintf(csv, "%.6f", tr.accuracy);
            if (test) fprintf(csv, regression ? ",%.6f,," : ",%.6f,%.6f,", te.loss, te.accuracy);
            else fputs(",,,", csv);
            if (val) fprintf(csv, regression ? "%.6f,," : "%.6f,%.6f,", tv.loss, tv.accuracy);
            else fputs(",,", csv);
            fprintf(csv, "%.2f,%.2f,%.8g,%lld\n", rate(tr.samples, tr.seconds), tr.seconds, epoch_lr,
                    (long long)log.global_step);
        }
        if (drv && (rc = drv->agree(drv->ctx, rc)) != TG_EXIT_OK) break; /* a failed --save on the first process stops all */
        if (stop_now) {
            if (!quiet) printf("early stop: validation loss not below %.4f for %lld epochs\n", best_val, (long long)a.early_stop);
            break;
        }
    }
    if (!rc && !quiet && a.filters && write_filters(m->net, a.filters, err, sizeof err) != TG_OK)
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--filters: %s", err);
    if (!rc && !quiet) {
        const char *metric = regression ? "loss" : "acc"; /* regression ends with the held-out losses */
        if (val) printf("val_%s %.4f\n", metric, val_acc);
        if (test) printf("test_%s %.4f\n", metric, test_acc);
        printf("train_img_per_s %.1f\n", rate(total_imgs, total_train_s));
    }
done:
    if (csv && fclose(csv) != 0 && !rc)
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--csv: cannot write '%s': %s", CLI_Q(a.csv), strerror(errno));
    if (step_csv && fclose(step_csv) != 0 && !rc)
        rc = cli_fail(TG_EXIT_INVALID, cmd, "--step-csv: cannot write '%s': %s", CLI_Q(a.step_csv), strerror(errno));
    /* a process that failed before the start meets the others' first agree here */
    if (drv) rc = drv->agree(drv->ctx, rc);
    if (batcher_ready) tg_batcher_free(&b);
    tg_tape_free(t);
    free(named), free(params), free(agc_params);
    tg_sched_free(sched);
    tg_optim_free(opt);
    tg_dataset_free(train), tg_dataset_free(test), tg_dataset_free(val);
    tg_norm_stats_free(&norm);
    tg_model_free(m);
    return rc;
}
