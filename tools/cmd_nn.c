/* tools/cmd_nn.c — `tg summary MODEL`, `tg dot MODEL [-o FILE]`, `tg train MODEL --data DIR ...`.
 * Exit codes as the rest of tg: 0 success, 1 usage error, 2 invalid input (one line on stderr). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tapegrad.h"
#include "../nn/image.h"

int tg_cmd_summary(int argc, char **argv);
int tg_cmd_dot(int argc, char **argv);
int tg_cmd_train(int argc, char **argv);

int tg_cmd_summary(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tg summary MODEL\n");
        return 1;
    }
    char err[512];
    tg_model *m = tg_model_load(argv[1], 0, err, sizeof err);
    char *text = m ? tg_summary(m, err, sizeof err) : NULL;
    if (!text) {
        fprintf(stderr, "tg summary: %s\n", err);
        tg_model_free(m);
        return 2;
    }
    fputs(text, stdout);
    free(text);
    tg_model_free(m);
    return 0;
}

/* One training step's graph: batch of 2 zero images, labels 0, cross-entropy. */
int tg_cmd_dot(int argc, char **argv)
{
    const char *model = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!model && argv[i][0] != '-') model = argv[i];
        else {
            fprintf(stderr, "usage: tg dot MODEL [-o FILE]\n");
            return 1;
        }
    }
    if (!model) {
        fprintf(stderr, "usage: tg dot MODEL [-o FILE]\n");
        return 1;
    }
    char err[512];
    tg_model *m = tg_model_load(model, 0, err, sizeof err);
    if (!m) {
        fprintf(stderr, "tg dot: %s\n", err);
        return 2;
    }
    int64_t shape[5] = {2};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    tg_tape *t = tg_tape_new(0);
    tg_tensor *x = tg_tape_tensor(t, TG_REAL, m->in_ndim + 1, shape);
    tg_tensor *y = tg_tape_tensor(t, TG_INT64, 1, shape);
    int rc = 0;
    if (x && y) {
        memset(x->data, 0, (size_t)x->numel * sizeof(tg_real));
        y->idata[0] = y->idata[1] = 0;
        tg_tensor_set_name(x, "input");
    }
    tg_tensor *logits = x && y ? tg_module_forward(m->net, t, x) : NULL;
    tg_tensor *loss = logits && logits->ndim == 2 ? tg_cross_entropy(t, logits, y) : logits;
    if (loss) tg_tensor_set_name(loss, logits->ndim == 2 ? "loss" : "output");
    tg_status st = loss ? (out ? tg_dot_write(t, loss, out, NULL) : tg_dot_fprint(stdout, t, loss, NULL)) : TG_ERR_INVALID;
    if (st != TG_OK) {
        fprintf(stderr, "tg dot: %s\n", tg_error(t) ? tg_error(t) : tg_strerror(st));
        rc = 2;
    }
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
    for (int i = 0; i < net->n_children && !conv; i++)
        if (!strcmp(net->children[i]->type, "conv2d")) conv = net->children[i];
    if (!conv) return snprintf(err, errsz, "%s: the model has no conv2d layer", path), TG_ERR_INVALID;
    const tg_tensor *w = conv->params[0];
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

static int train_usage(void)
{
    fprintf(stderr, "usage: tg train MODEL --data DIR [--epochs E] [--batch B] [--lr X] [--optim sgd|adam|adamw]\n"
                    "                [--momentum M] [--weight-decay W] [--threads T] [--seed S] [--save FILE]\n"
                    "                [--csv FILE] [--limit N] [--augment] [--resume CKPT] [--filters PNG]\n");
    return 1;
}

int tg_cmd_train(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *save = NULL, *csv_path = NULL, *optim_name = "sgd";
    const char *resume = NULL, *filters = NULL;
    int epochs = 2, threads = 1;
    int64_t batch = 64, limit = 0;
    double lr = 0.02, momentum = 0.9, wd = 0;
    uint64_t seed = 42;
    bool augment = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (model_path) return train_usage();
            model_path = a;
            continue;
        }
        if (!strcmp(a, "--augment")) {
            augment = true;
            continue;
        }
        if (!v) return train_usage();
        i++;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoll(v);
        else if (!strcmp(a, "--lr")) lr = atof(v);
        else if (!strcmp(a, "--optim")) optim_name = v;
        else if (!strcmp(a, "--momentum")) momentum = atof(v);
        else if (!strcmp(a, "--weight-decay")) wd = atof(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--csv")) csv_path = v;
        else if (!strcmp(a, "--resume")) resume = v;
        else if (!strcmp(a, "--filters")) filters = v;
        else if (!strcmp(a, "--limit")) limit = atoll(v);
        else return train_usage();
    }
    const int kind = tg_optim_kind_from_name(optim_name);
    if (!model_path || !data || epochs < 1 || batch < 1 || threads < 1 || kind < 0) return train_usage();
    tg_set_threads(threads);

    char err[512];
    tg_model *m = tg_model_load(model_path, seed, err, sizeof err);
    if (!m) {
        fprintf(stderr, "tg train: %s\n", err);
        return 2;
    }
    tg_dataset *train = NULL, *test = NULL;
    if (tg_dataset_load_mnist_dir(data, true, &train, err, sizeof err) != TG_OK ||
        tg_dataset_load_mnist_dir(data, false, &test, err, sizeof err) != TG_OK) {
        fprintf(stderr, "tg train: %s\n", err);
        tg_dataset_free(train);
        tg_model_free(m);
        return 2;
    }
    if (m->in_ndim != 3 || m->in_shape[0] != train->c || m->in_shape[1] != train->h || m->in_shape[2] != train->w) {
        fprintf(stderr, "tg train: model input %lldx%lldx%lld does not match the data's %lldx%lldx%lld\n",
                (long long)m->in_shape[0], (long long)m->in_shape[1], (long long)m->in_shape[2],
                (long long)train->c, (long long)train->h, (long long)train->w);
        tg_dataset_free(train), tg_dataset_free(test), tg_model_free(m);
        return 2;
    }
    if (limit > 0 && limit < train->n) train->n = limit;
    /* Fashion-MNIST's pixel mean and std (over the training set) */
    tg_dataset_normalize(train, 0.2860, 0.3530);
    tg_dataset_normalize(test, 0.2860, 0.3530);

    tg_optim_config cfg = tg_optim_defaults((tg_optim_kind)kind);
    cfg.lr = lr;
    cfg.weight_decay = wd;
    if (kind == TG_OPTIM_SGD || kind == TG_OPTIM_RMSPROP) cfg.momentum = momentum;
    tg_optim *opt = tg_optim_new_checked(&cfg, err, sizeof err);
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    tg_named_tensor *named = calloc((size_t)np + 1, sizeof *named);
    tg_tensor **params = calloc((size_t)np + 1, sizeof *params);
    tg_tape *t = NULL;
    tg_batcher b = {0};
    int rc = 0;
    if (!opt || !named || !params) {
        fprintf(stderr, "tg train: %s\n", opt ? "out of memory for the parameter list" : err);
        rc = 2;
    } else {
        tg_module_named_tensors(m->net, false, named, np);
        for (int i = 0; i < np; i++) params[i] = named[i].tensor;
        if (tg_optim_add_params_split_decay(opt, params, np)) {
            fprintf(stderr, "tg train: %s\n", opt->error);
            rc = 2;
        } else if (!(t = tg_tape_new(64u << 20)) || tg_batcher_init(&b, train, batch, true, seed) != TG_OK) {
            fprintf(stderr, "tg train: out of memory for the %s\n", t ? "batch order" : "tape");
            rc = 2;
        }
    }
    b.augment.hflip = augment;
    b.augment.crop_padding = augment ? 2 : 0;
    if (!rc && resume && tg_checkpoint_load(resume, m->net, opt, NULL, &b.rng, err, sizeof err) != TG_OK) {
        fprintf(stderr, "tg train: %s\n", err);
        rc = 2;
    } else if (!rc && resume) {
        printf("resumed from %s\n", resume);
    }
    FILE *csv = csv_path && !rc ? fopen(csv_path, "w") : NULL;
    if (csv) fprintf(csv, "epoch,train_loss,train_acc,test_loss,test_acc,img_per_s,seconds\n");
    const bool tty = isatty(2);
    double total_train_s = 0, test_acc = 0;
    int64_t total_imgs = 0;
    for (int epoch = 1; epoch <= epochs && !rc; epoch++) {
        progress_ctx pc = {.epoch = epoch, .epochs = epochs, .total = train->n};
        tg_epoch_stats tr, te;
        if (tg_train_epoch(m->net, opt, &b, t, &tr, tty ? progress : NULL, &pc) != TG_OK ||
            tg_evaluate(m->net, test, batch, t, &te) != TG_OK) {
            fprintf(stderr, "%stg train: %s\n", tty ? "\n" : "", tg_error(t) ? tg_error(t) : "training failed");
            rc = 2;
            break;
        }
        total_train_s += tr.seconds;
        total_imgs += tr.samples;
        test_acc = te.accuracy;
        if (tty) fprintf(stderr, "\r%100s\r", "");
        printf("epoch %d train_loss %.4f train_acc %.4f test_loss %.4f test_acc %.4f img/s %.1f time %.1fs\n", epoch,
               tr.loss, tr.accuracy, te.loss, te.accuracy, (double)tr.samples / tr.seconds, tr.seconds);
        fflush(stdout);
        if (save && tg_checkpoint_save(save, m->net, opt, NULL, &b.rng, err, sizeof err) != TG_OK) {
            fprintf(stderr, "tg train: %s\n", err);
            rc = 2;
        }
        if (csv)
            fprintf(csv, "%d,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", epoch, tr.loss, tr.accuracy, te.loss, te.accuracy,
                    (double)tr.samples / tr.seconds, tr.seconds);
    }
    if (!rc && filters && write_filters(m->net, filters, err, sizeof err) != TG_OK) fprintf(stderr, "tg train: %s\n", err);
    if (!rc) {
        printf("test_acc %.4f\n", test_acc);
        printf("train_img_per_s %.1f\n", (double)total_imgs / total_train_s);
    }
    if (csv) fclose(csv);
    tg_batcher_free(&b);
    tg_tape_free(t);
    free(named), free(params);
    tg_optim_free(opt);
    tg_dataset_free(train), tg_dataset_free(test);
    tg_model_free(m);
    return rc;
}
