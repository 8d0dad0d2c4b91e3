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

int tg_cmd_summary(int argc, char **argv)
{
    const cli_opt opts[] = {{0}};
    const char *model;
    int rc = parse_model_args("summary", "  one row per layer: name, output shape, params, MACs\n", opts, argc, argv, &model);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    char err[512];
    tg_model *m = tg_model_load(model, 0, err, sizeof err);
    char *text = m ? tg_summary(m, err, sizeof err) : NULL;
    if (!text) {
        tg_model_free(m);
        return cli_fail(TG_EXIT_INVALID, "summary", "%s", err);
    }
    fputs(text, stdout);
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

/* Progress bar on a terminal, redrawn at most every 0.2 s. */
typedef struct progress_ctx {
    int epoch, epochs;
    int64_t total;
    double last_draw;
} progress_ctx;

static void progress(void *vc, const tg_epoch_stats *st)
{
    progress_ctx *c = vc;
    if (st->seconds - c->last_draw < 0.2) return;
    c->last_draw = st->seconds;
    const int width = 30, filled = (int)(width * st->samples / (c->total ? c->total : 1));
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    const double ips = (double)st->samples / st->seconds;
    const double eta = (double)(c->total - st->samples) / ips + (double)(c->epochs - c->epoch) * (double)c->total / ips;
    fprintf(stderr, "\repoch %d/%d [%s] %3d%% loss %.4f acc %.4f %.0f img/s ETA %.0fs   ", c->epoch, c->epochs, bar,
            (int)(100 * st->samples / (c->total ? c->total : 1)), st->loss, st->accuracy, ips, eta);
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

/* Images per second, 0 when no time was measured (never NaN or Inf in the output). */
static double rate(int64_t images, double seconds) { return seconds > 0 ? (double)images / seconds : 0.0; }

/* Fashion-MNIST's pixel mean and std (over the training set) */
#define DATA_MEAN 0.2860
#define DATA_STD 0.3530
/* Training tape's arena: one LeNet step at batch 256 needs ~20 MB; the arena grows past it as needed */
#define TRAIN_ARENA_BYTES (64u << 20)

/* `tg train`'s options, defaults in the variables they parse into; one table parses argv and
 * prints the usage and help. */
typedef struct train_args {
    const char *model, *data, *save, *csv, *optim, *resume, *filters;
    int64_t epochs, batch, threads, limit;
    double lr, momentum, weight_decay;
    uint64_t seed;
    bool augment, detect_anomaly;
} train_args;

#define TRAIN_OPTIONS(a)                                                                                               \
    {                                                                                                                  \
        {"--data", CLI_STRING, &(a)->data, "DIR", .required = true,                                                     \
         .help = "Fashion-MNIST/MNIST IDX files (gzip or raw): {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"},     \
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
        {"--resume", CLI_STRING, &(a)->resume, "FILE", .help = "start from a checkpoint (model, optimizer, shuffling)"}, \
        {"--limit", CLI_INT, &(a)->limit, "N", 1, INFINITY, .help = "train on the first N images only"},                \
        {"--csv", CLI_STRING, &(a)->csv, "FILE", .help = "per-epoch metrics as CSV"},                                    \
        {"--filters", CLI_STRING, &(a)->filters, "PNG", .help = "the first conv layer's filters as an image, at the end"},\
        {"--augment", CLI_FLAG, &(a)->augment, .help = "random horizontal flips and 2-pixel crops"},                     \
        {"--detect-anomaly", CLI_FLAG, &(a)->detect_anomaly,                                                             \
         .help = "check every op's output and gradient; name the first NaN/Inf (slower)"},                              \
        {0}                                                                                                            \
    }

static train_args train_defaults(void)
{
    return (train_args){.optim = "sgd", .epochs = 2, .batch = 64, .threads = 0, .lr = 0.02, .momentum = 0.9, .seed = 42};
}

static const char *const train_about = "  train a classifier with cross-entropy; prints per-epoch loss and accuracy, "
                                       "then 'test_acc A' and 'train_img_per_s R'\n";

void tg_train_help(FILE *f)
{
    train_args a = train_defaults();
    const cli_opt opts[] = TRAIN_OPTIONS(&a);
    char line[1024];
    cli_format_usage(opts, line, sizeof line);
    fprintf(f, "  tg train MODEL%s\n", line);
    cli_print_help(f, opts);
}

/* Why a training step failed, as the error line: a non-finite loss gets the advice. */
static int train_failure(const train_args *a, int epoch, const tg_epoch_stats *tr, tg_status st, const tg_tape *t)
{
    const long long step = (long long)tr->steps + 1;
    if (st == TG_ERR_NONFINITE && !isfinite(tr->last_loss))
        return cli_fail(TG_EXIT_INVALID, "train", "loss is %s at epoch %d step %lld (lr %g): lower --lr%s",
                        isnan(tr->last_loss) ? "nan" : "inf", epoch, step, a->lr,
                        a->detect_anomaly ? "" : " or use --detect-anomaly");
    return cli_fail(TG_EXIT_INVALID, "train", "epoch %d step %lld: %s", epoch, step,
                    tg_error(t) ? tg_error(t) : tg_strerror(st));
}

int tg_cmd_train(int argc, char **argv)
{
    train_args a = train_defaults();
    const cli_opt opts[] = TRAIN_OPTIONS(&a);
    int rc = parse_model_args("train", train_about, opts, argc, argv, &a.model);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    const int kind = tg_optim_kind_from_name(a.optim);
    if (kind < 0) return cli_fail(TG_EXIT_USAGE, "train", "--optim: '%s' is not one of sgd|adam|adamw|rmsprop", CLI_Q(a.optim));
    /* output files fail now, not after an hour of training */
    if (a.save && (rc = cli_check_writable("train", "--save", a.save)) != TG_EXIT_OK) return rc;
    if (a.filters && (rc = cli_check_writable("train", "--filters", a.filters)) != TG_EXIT_OK) return rc;
    FILE *csv = NULL;
    if (a.csv && !(csv = fopen(a.csv, "w")))
        return cli_fail(TG_EXIT_INVALID, "train", "--csv: cannot write '%s': %s", CLI_Q(a.csv), strerror(errno));
    if ((rc = cli_apply_threads("train", a.threads)) != TG_EXIT_OK) {
        if (csv) fclose(csv);
        return rc;
    }

    char err[512];
    tg_model *m = NULL;
    tg_dataset *train = NULL, *test = NULL;
    tg_optim *opt = NULL;
    tg_named_tensor *named = NULL;
    tg_tensor **params = NULL;
    tg_tape *t = NULL;
    tg_batcher b = {0};
    bool batcher_ready = false;
    if (!(m = tg_model_load(a.model, a.seed, err, sizeof err))) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "%s", err);
        goto done;
    }
    if (tg_dataset_load_mnist_dir(a.data, true, &train, err, sizeof err) != TG_OK ||
        tg_dataset_load_mnist_dir(a.data, false, &test, err, sizeof err) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "--data: %s", err);
        goto done;
    }
    if (m->in_ndim != 3 || m->in_shape[0] != train->c || m->in_shape[1] != train->h || m->in_shape[2] != train->w) {
        char shape[96] = "";
        for (int d = 0, n = 0; d < m->in_ndim && n >= 0 && (size_t)n < sizeof shape; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%lld", d ? "x" : "", (long long)m->in_shape[d]);
        rc = cli_fail(TG_EXIT_INVALID, "train", "model input %s does not match the data's %lldx%lldx%lld", shape,
                      (long long)train->c, (long long)train->h, (long long)train->w);
        goto done;
    }
    if (a.limit > 0 && a.limit < train->n) train->n = a.limit;
    /* the loop drops a short last batch (fixed shapes), so a batch past the data would train nothing */
    if (a.batch > train->n) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "--batch %lld is larger than the training set (%lld images%s)",
                      (long long)a.batch, (long long)train->n, a.limit > 0 && a.limit == train->n ? ", from --limit" : "");
        goto done;
    }
    tg_dataset_normalize(train, DATA_MEAN, DATA_STD);
    tg_dataset_normalize(test, DATA_MEAN, DATA_STD);

    tg_optim_config cfg = tg_optim_defaults((tg_optim_kind)kind);
    cfg.lr = a.lr;
    cfg.weight_decay = a.weight_decay;
    if (kind == TG_OPTIM_SGD || kind == TG_OPTIM_RMSPROP) cfg.momentum = a.momentum;
    if (!(opt = tg_optim_new_checked(&cfg, err, sizeof err))) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "%s", err);
        goto done;
    }
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    named = calloc((size_t)np + 1, sizeof *named);
    params = calloc((size_t)np + 1, sizeof *params);
    t = tg_tape_new(TRAIN_ARENA_BYTES);
    if (!named || !params || !t) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "out of memory for the %s", t ? "parameter list" : "tape");
        goto done;
    }
    tg_module_named_tensors(m->net, false, named, np);
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    if (tg_optim_add_params_split_decay(opt, params, np)) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "%s", opt->error);
        goto done;
    }
    tg_set_detect_anomaly(t, a.detect_anomaly);
    if (tg_batcher_init(&b, train, a.batch, true, a.seed) != TG_OK) {
        rc = cli_fail(TG_EXIT_INVALID, "train", "out of memory for the batch order");
        goto done;
    }
    batcher_ready = true;
    b.augment.hflip = a.augment;
    b.augment.crop_padding = a.augment ? 2 : 0;
    if (a.resume) {
        if (tg_checkpoint_load(a.resume, m->net, opt, NULL, &b.rng, err, sizeof err) != TG_OK) {
            rc = cli_fail(TG_EXIT_INVALID, "train", "--resume: %s", err);
            goto done;
        }
        printf("resumed from %s\n", CLI_Q(a.resume));
    }
    if (csv) fprintf(csv, "epoch,train_loss,train_acc,test_loss,test_acc,img_per_s,seconds\n");
    const bool tty = isatty(2);
    double total_train_s = 0, test_acc = 0;
    int64_t total_imgs = 0;
    for (int epoch = 1; epoch <= a.epochs && !rc; epoch++) {
        progress_ctx pc = {.epoch = epoch, .epochs = (int)a.epochs, .total = train->n};
        tg_epoch_stats tr, te;
        tg_status st = tg_train_epoch(m->net, opt, &b, t, &tr, tty ? progress : NULL, &pc);
        if (st != TG_OK) {
            if (tty) fputc('\n', stderr);
            rc = train_failure(&a, epoch, &tr, st, t);
            break;
        }
        if ((st = tg_evaluate(m->net, test, a.batch, t, &te)) != TG_OK) {
            if (tty) fputc('\n', stderr);
            rc = cli_fail(TG_EXIT_INVALID, "train", "epoch %d, evaluating: %s", epoch, tg_error(t) ? tg_error(t) : tg_strerror(st));
            break;
        }
        total_train_s += tr.seconds;
        total_imgs += tr.samples;
        test_acc = te.accuracy;
        if (tty) fprintf(stderr, "\r%100s\r", "");
        printf("epoch %d train_loss %.4f train_acc %.4f test_loss %.4f test_acc %.4f img/s %.1f time %.1fs\n", epoch,
               tr.loss, tr.accuracy, te.loss, te.accuracy, rate(tr.samples, tr.seconds), tr.seconds);
        fflush(stdout);
        if (a.save && tg_checkpoint_save(a.save, m->net, opt, NULL, &b.rng, err, sizeof err) != TG_OK)
            rc = cli_fail(TG_EXIT_INVALID, "train", "--save: %s", err);
        if (csv)
            fprintf(csv, "%d,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", epoch, tr.loss, tr.accuracy, te.loss, te.accuracy,
                    rate(tr.samples, tr.seconds), tr.seconds);
    }
    if (!rc && a.filters && write_filters(m->net, a.filters, err, sizeof err) != TG_OK)
        rc = cli_fail(TG_EXIT_INVALID, "train", "--filters: %s", err);
    if (!rc) {
        printf("test_acc %.4f\n", test_acc);
        printf("train_img_per_s %.1f\n", rate(total_imgs, total_train_s));
    }
done:
    if (csv && fclose(csv) != 0 && !rc)
        rc = cli_fail(TG_EXIT_INVALID, "train", "--csv: cannot write '%s': %s", CLI_Q(a.csv), strerror(errno));
    if (batcher_ready) tg_batcher_free(&b);
    tg_tape_free(t);
    free(named), free(params);
    tg_optim_free(opt);
    tg_dataset_free(train), tg_dataset_free(test);
    tg_model_free(m);
    return rc;
}
