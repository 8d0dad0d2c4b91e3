/* tools/cmd_deploy.c — `tg predict MODEL --ckpt FILE INPUT... [--top K] [--json]` and
 * `tg eval MODEL --ckpt FILE --data DIR|X.npy,y.npy|FILE.csv [--confusion SVG]`: a trained model on
 * new inputs, through the C API's tg_predictor (nn/train.h). Inputs are given as training got them:
 * .npy values as they are, IDX pixels scaled to [0,1], PGM and PNG images converted to the model's
 * input as image folders are (tg_image_to_input: channels, resize, centre crop); the checkpoint's
 * per-channel statistics normalise them. A regression checkpoint (trained with --loss mse or l1)
 * predicts its output values and evaluates to MSE and MAE. Exit codes and the one error line as
 * every tg command (tools/cli.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/image.h"
#include "cli.h"

/* What tg train used before checkpoints stored statistics (format version 1): Fashion-MNIST's pixel
 * mean and std, for one-channel inputs */
#define LEGACY_MEAN 0.2860
#define LEGACY_STD 0.3530
/* Pixel bytes map to [0,1], as the IDX training sets are loaded */
#define PIXEL_SCALE 255.0f
/* Largest --top: more rows than any terminal wants */
#define TOP_MAX 1000

/* Reads a command's words: options from the table, the rest in order into words (MODEL first). */
static int parse_words(const char *cmd, const char *word_usage, const char *about, const cli_opt *opts, int argc,
                       char **argv, const char **words, int max_words, int *n_words)
{
    *n_words = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_option(cmd, opts, argc, argv, &i);
        if (r == CLI_HELP) {
            char line[1024];
            cli_format_usage(opts, line, sizeof line);
            printf("usage: tg %s%s%s\n%s", cmd, word_usage, line, about);
            cli_print_help(stdout, opts);
            return CLI_HELP;
        }
        if (r != CLI_POSITIONAL) {
            if (r != TG_EXIT_OK) return r;
        } else if (*n_words >= max_words) {
            return cli_fail(TG_EXIT_USAGE, cmd, "too many inputs (at most %d)", max_words - 1);
        } else {
            words[(*n_words)++] = argv[i];
        }
    }
    if (*n_words == 0) return cli_fail(TG_EXIT_USAGE, cmd, "MODEL (a model spec file) is required");
    return cli_check_required(cmd, opts);
}

/* The predictor, with a version-1 checkpoint's implied statistics filled in (with a note). */
static tg_predictor *load_predictor(const char *cmd, const char *model, const char *ckpt, int *rc)
{
    char err[512];
    tg_predictor *p = tg_predictor_load(model, ckpt, err, sizeof err);
    if (!p) {
        *rc = cli_fail(TG_EXIT_INVALID, cmd, "%s", err);
        return NULL;
    }
    if (p->ckpt_version == 1 && p->model->in_ndim == 3 && p->model->in_shape[0] == 1) {
        if (tg_norm_stats_alloc(&p->norm, 1) != TG_OK) {
            tg_predictor_free(p);
            *rc = cli_fail(TG_EXIT_INVALID, cmd, "out of memory");
            return NULL;
        }
        p->norm.mean[0] = LEGACY_MEAN, p->norm.std[0] = LEGACY_STD;
        fprintf(stderr, "tg: %s: note: %s is a version 1 checkpoint: normalising with mean %.4f std %.4f as tg train did\n",
                cmd, CLI_Q(ckpt), LEGACY_MEAN, LEGACY_STD);
    }
    return p;
}

/* "[1,28,28]" of the model's input, for messages. */
static const char *model_shape(const tg_model *m, char *buf, size_t size)
{
    int n = snprintf(buf, size, "[");
    for (int d = 0; d < m->in_ndim && n > 0 && (size_t)n < size; d++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", d ? "," : "", (long long)m->in_shape[d]);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "]");
    return buf;
}

/* Loads one INPUT as a batch [N, model input] (*single: a file holding exactly one sample, named
 * without an index). NULL with the reason in err. */
static tg_tensor *load_input(const char *path, const tg_model *m, bool *single, char *err, size_t errsz)
{
    char ms[TG_SHAPE_STR_LEN], got[TG_SHAPE_STR_LEN];
    model_shape(m, ms, sizeof ms);
    uint8_t head[6] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(err, errsz, "%s: cannot open: %s", path, strerror(errno)), NULL;
    const size_t got_head = fread(head, 1, sizeof head, f);
    fclose(f);
    tg_tensor *x = NULL;
    int64_t shape[5] = {1};
    *single = false;
    if (got_head == 6 && !memcmp(head, "\x93NUMPY", 6)) {
        if (tg_npy_load(path, &x, NULL, err, errsz) != TG_OK) return NULL;
        bool one = x->ndim == m->in_ndim, batch = x->ndim == m->in_ndim + 1 && x->dtype == TG_REAL;
        for (int d = 0; d < m->in_ndim; d++) {
            one = one && x->shape[d] == m->in_shape[d];
            batch = batch && x->shape[d + 1] == m->in_shape[d];
        }
        if (x->dtype != TG_REAL || (!one && !batch)) {
            snprintf(err, errsz, "%s: %s%s is neither one input %s nor a batch [N,...] of them", path,
                     x->dtype == TG_REAL ? "" : "int64 ", tg_shape_str(x, got, sizeof got), ms);
            tg_tensor_free(x);
            return NULL;
        }
        if (one) { /* view it as a batch of one: same values, one more leading dim */
            for (int d = 0; d < m->in_ndim; d++) shape[d + 1] = m->in_shape[d];
            tg_tensor *b = tg_tensor_new(TG_REAL, m->in_ndim + 1, shape);
            if (b) memcpy(b->data, x->data, (size_t)x->numel * sizeof(tg_real));
            tg_tensor_free(x);
            if (!b) return snprintf(err, errsz, "%s: out of memory", path), NULL;
            x = b;
            *single = true;
        }
        return x;
    }
    /* one PGM or PNG image: converted to the model's input as training on an image folder did */
    if ((got_head >= 2 && head[0] == 'P' && (head[1] == '5' || head[1] == '2')) ||
        (got_head >= 4 && !memcmp(head, "\x89PNG", 4))) {
        tg_image im;
        if (tg_image_load(path, &im, err, errsz) != TG_OK) return NULL;
        if (m->in_ndim != 3 || (m->in_shape[0] != 1 && m->in_shape[0] != 3)) {
            snprintf(err, errsz, "%s: images of %dx%dx%d do not fit the model's input %s", path, im.channels, im.height,
                     im.width, ms);
            tg_image_free(&im);
            return NULL;
        }
        for (int d = 0; d < 3; d++) shape[d + 1] = m->in_shape[d];
        x = tg_tensor_new(TG_REAL, 4, shape);
        float *buf = malloc((size_t)(x ? x->numel : 1) * sizeof *buf);
        if (x && buf && tg_image_to_input(&im, (int)shape[1], (int)shape[2], (int)shape[3], buf) == TG_OK) {
            for (int64_t i = 0; i < x->numel; i++) x->data[i] = (tg_real)buf[i];
        } else {
            snprintf(err, errsz, "%s: out of memory", path);
            tg_tensor_free(x), x = NULL;
        }
        free(buf);
        tg_image_free(&im);
        *single = true;
        return x;
    }
    /* pixels: an IDX array of images ([H,W], [N,H,W], [N,C,H,W]) */
    uint8_t *pix = NULL;
    int64_t dims[4];
    int ndim = 0;
    tg_idx idx = {0};
    {
        if (tg_idx_load(path, &idx, err, errsz) != TG_OK) return NULL;
        pix = idx.data;
        ndim = 4;
        dims[0] = idx.ndim >= 3 ? idx.dims[0] : 1;
        dims[1] = idx.ndim == 4 ? idx.dims[1] : 1;
        dims[2] = idx.ndim >= 2 ? idx.dims[idx.ndim - 2] : 0;
        dims[3] = idx.ndim >= 2 ? idx.dims[idx.ndim - 1] : 0;
        *single = idx.ndim == 2;
    }
    const bool fits = m->in_ndim == 3 && dims[1] == m->in_shape[0] && dims[2] == m->in_shape[1] &&
                      dims[3] == m->in_shape[2];
    if (fits) {
        for (int d = 0; d < 4; d++) shape[d] = dims[d];
        x = tg_tensor_new(TG_REAL, 4, shape);
        if (x)
            for (int64_t i = 0; i < x->numel; i++) x->data[i] = (tg_real)(pix[i] / PIXEL_SCALE);
        else
            snprintf(err, errsz, "%s: out of memory", path);
    } else {
        snprintf(err, errsz, "%s: images of %lldx%lldx%lld do not fit the model's input %s", path, (long long)dims[1],
                 (long long)dims[2], (long long)dims[3], ms);
    }
    tg_idx_free(&idx);
    (void)ndim;
    return x;
}

/* A JSON string body: quotes, backslashes and control bytes escaped (\u00XX). */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

int tg_cmd_predict(int argc, char **argv)
{
    const char *ckpt = NULL;
    int64_t top = 3, threads = 0;
    bool json = false;
    const cli_opt opts[] = {
        {"--ckpt", CLI_STRING, &ckpt, "FILE", .required = true, .help = "the trained values (tg train --save)"},
        {"--top", CLI_INT, &top, "K", 1, TOP_MAX, .help = "classes shown per input, most probable first"},
        {"--json", CLI_FLAG, &json, .help = "one JSON object per input and line instead of text"},
        CLI_THREADS_OPTION(&threads),
        {0}};
    enum { MAX_WORDS = 1024 };
    const char **words = calloc(MAX_WORDS, sizeof *words);
    if (!words) return cli_fail(TG_EXIT_INVALID, "predict", "out of memory");
    int n_words;
    int rc = parse_words("predict", " MODEL INPUT...",
                         "  class probabilities (a regression model: its output values): .npy inputs (one, or a batch\n"
                         "  [N,...]) as given, IDX pixels /255, PGM and PNG images converted to the model's input\n",
                         opts, argc, argv, words, MAX_WORDS, &n_words);
    if (rc == TG_EXIT_OK && n_words < 2)
        rc = cli_fail(TG_EXIT_USAGE, "predict", "INPUT (.npy, IDX, PGM or PNG files) is required");
    if (rc == TG_EXIT_OK) rc = cli_apply_threads("predict", threads);
    if (rc != TG_EXIT_OK) {
        free(words);
        return rc == CLI_HELP ? TG_EXIT_OK : rc;
    }
    tg_predictor *p = load_predictor("predict", words[0], ckpt, &rc);
    const int64_t k = p ? p->n_classes : 0, shown = top < k ? top : k;
    const bool regression = p && p->loss != TG_LOSS_CROSS_ENTROPY;
    for (int w = 1; p && w < n_words && rc == TG_EXIT_OK; w++) {
        char err[512];
        bool single;
        tg_tensor *x = load_input(words[w], p->model, &single, err, sizeof err);
        tg_real *probs = x ? malloc((size_t)(x->shape[0] * k) * sizeof *probs) : NULL;
        int64_t *order = malloc((size_t)k * sizeof *order);
        if (!x) rc = cli_fail(TG_EXIT_INVALID, "predict", "%s", err);
        else if (!probs || !order) rc = cli_fail(TG_EXIT_INVALID, "predict", "%s: out of memory", CLI_Q(words[w]));
        else if ((regression ? tg_predict_outputs(p, x, probs, err, sizeof err) : tg_predict(p, x, probs, err, sizeof err)) !=
                 TG_OK)
            rc = cli_fail(TG_EXIT_INVALID, "predict", "%s", err);
        for (int64_t i = 0; rc == TG_EXIT_OK && regression && i < x->shape[0]; i++) { /* every output value */
            if (json) {
                fputs("{\"input\":", stdout);
                json_string(stdout, words[w]);
                printf(",\"index\":%lld,\"outputs\":[", (long long)i);
            } else if (single) {
                printf("%s:", CLI_Q(words[w]));
            } else {
                printf("%s[%lld]:", CLI_Q(words[w]), (long long)i);
            }
            for (int64_t j = 0; j < k; j++) printf(json ? "%s%.6g" : "%s %.6g", json && j ? "," : "", (double)probs[i * k + j]);
            puts(json ? "]}" : "");
        }
        for (int64_t i = 0; rc == TG_EXIT_OK && !regression && i < x->shape[0]; i++) {
            const tg_real *pr = probs + i * k;
            /* the `shown` most probable classes, ties to the lower class (a stable selection) */
            for (int64_t j = 0; j < k; j++) order[j] = j;
            for (int64_t a = 0; a < shown; a++)
                for (int64_t b = a + 1; b < k; b++)
                    if (pr[order[b]] > pr[order[a]] || (pr[order[b]] == pr[order[a]] && order[b] < order[a])) {
                        const int64_t t = order[a];
                        order[a] = order[b], order[b] = t;
                    }
            if (json) {
                fputs("{\"input\":", stdout);
                json_string(stdout, words[w]);
                printf(",\"index\":%lld,\"top\":[", (long long)i);
                for (int64_t a = 0; a < shown; a++)
                    printf("%s{\"class\":%lld,\"prob\":%.6f}", a ? "," : "", (long long)order[a], (double)pr[order[a]]);
                puts("]}");
            } else {
                if (single) printf("%s:", CLI_Q(words[w]));
                else printf("%s[%lld]:", CLI_Q(words[w]), (long long)i);
                for (int64_t a = 0; a < shown; a++)
                    printf("%s %lld (%.4f)", a ? "," : "", (long long)order[a], (double)pr[order[a]]);
                putchar('\n');
            }
        }
        free(order), free(probs);
        tg_tensor_free(x);
    }
    tg_predictor_free(p);
    free(words);
    return rc;
}

/* The confusion matrix as an SVG: rows true classes, columns predictions, each cell shaded by its
 * share of the row and labelled with its count. */
#define SVG_CELL 36
#define SVG_MARGIN 64
static int write_confusion_svg(const char *path, const int64_t *cm, int64_t k)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail(TG_EXIT_INVALID, "eval", "--confusion: cannot write '%s': %s", CLI_Q(path), strerror(errno));
    const long long side = SVG_MARGIN + k * SVG_CELL + 8;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%lld\" height=\"%lld\" font-family=\"sans-serif\" "
               "font-size=\"11\">\n", side, side);
    fprintf(f, "<text x=\"%d\" y=\"14\">predicted</text>\n", SVG_MARGIN);
    fprintf(f, "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\">true</text>\n", SVG_MARGIN + 40, SVG_MARGIN + 40);
    for (int64_t i = 0; i < k; i++) {
        int64_t row = 0;
        for (int64_t j = 0; j < k; j++) row += cm[i * k + j];
        fprintf(f, "<text x=\"%lld\" y=\"%d\" text-anchor=\"middle\">%lld</text>\n",
                (long long)(SVG_MARGIN + i * SVG_CELL + SVG_CELL / 2), SVG_MARGIN - 6, (long long)i);
        fprintf(f, "<text x=\"%d\" y=\"%lld\" text-anchor=\"end\">%lld</text>\n", SVG_MARGIN - 6,
                (long long)(SVG_MARGIN + i * SVG_CELL + SVG_CELL / 2 + 4), (long long)i);
        for (int64_t j = 0; j < k; j++) {
            const double share = row ? (double)cm[i * k + j] / (double)row : 0;
            const int shade = 255 - (int)(200 * share);
            fprintf(f, "<rect x=\"%lld\" y=\"%lld\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" stroke=\"#999\"/>\n",
                    (long long)(SVG_MARGIN + j * SVG_CELL), (long long)(SVG_MARGIN + i * SVG_CELL), SVG_CELL, SVG_CELL,
                    shade, shade);
            fprintf(f, "<text x=\"%lld\" y=\"%lld\" text-anchor=\"middle\">%lld</text>\n",
                    (long long)(SVG_MARGIN + j * SVG_CELL + SVG_CELL / 2),
                    (long long)(SVG_MARGIN + i * SVG_CELL + SVG_CELL / 2 + 4), (long long)cm[i * k + j]);
        }
    }
    fputs("</svg>\n", f);
    if (fclose(f) != 0)
        return cli_fail(TG_EXIT_INVALID, "eval", "--confusion: cannot write '%s': %s", CLI_Q(path), strerror(errno));
    return TG_EXIT_OK;
}

int tg_cmd_eval(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *confusion = NULL, *label = NULL;
    int64_t threads = 0;
    const cli_opt opts[] = {
        {"--ckpt", CLI_STRING, &ckpt, "FILE", .required = true, .help = "the trained values (tg train --save)"},
        {"--data", CLI_STRING, &data, "DIR|X.npy,y.npy|FILE.csv", .required = true,
         .help = "labelled inputs: a directory's t10k IDX files, an image folder, a .npy pair or a CSV file"},
        {"--label", CLI_STRING, &label, "COL", .help = "CSV: the label column (header name or 0-based index)"},
        {"--confusion", CLI_STRING, &confusion, "SVG", .help = "write the confusion matrix as an SVG image"},
        CLI_THREADS_OPTION(&threads),
        {0}};
    const char *words[2];
    int n_words;
    int rc = parse_words("eval", " MODEL",
                         "  accuracy, per-class precision and recall; ends with 'accuracy A'\n"
                         "  (a regression checkpoint: 'mse E' and 'mae E')\n", opts,
                         argc, argv, words, 1, &n_words);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    if (confusion && (rc = cli_check_writable("eval", "--confusion", confusion)) != TG_EXIT_OK) return rc;
    if ((rc = cli_apply_threads("eval", threads)) != TG_EXIT_OK) return rc;
    char err[512];
    tg_dataset *d = NULL;
    int64_t *cm = NULL;
    tg_predictor *p = load_predictor("eval", words[0], ckpt, &rc);
    const bool regression = p && p->loss != TG_LOSS_CROSS_ENTROPY;
    if (p) { /* the data read as training read it: the model's image size, the loss's kind of label */
        const tg_model *m = p->model;
        const tg_data_options o = {.label_col = label, .float_targets = regression,
                                   .c = m->in_ndim == 3 ? (int)m->in_shape[0] : 0,
                                   .h = m->in_ndim == 3 ? (int)m->in_shape[1] : 0,
                                   .w = m->in_ndim == 3 ? (int)m->in_shape[2] : 0};
        if (tg_dataset_load_spec(data, &o, false, &d, err, sizeof err) != TG_OK) {
            rc = cli_fail(TG_EXIT_INVALID, "eval", "--data: %s", err);
        } else if (!tg_dataset_fit_shape(d, m->in_shape, m->in_ndim)) {
            int64_t ds[TG_DATASET_MAX_RANK];
            char ms[TG_SHAPE_STR_LEN], dsh[TG_SHAPE_STR_LEN];
            const int dn = tg_dataset_sample_shape(d, ds);
            int n = 0;
            for (int i = 0; i < dn && n >= 0 && (size_t)n < sizeof dsh; i++)
                n += snprintf(dsh + n, sizeof dsh - (size_t)n, "%s%lld", i ? "x" : "", (long long)ds[i]);
            rc = cli_fail(TG_EXIT_INVALID, "eval", "--data: samples of %s do not fit the model's input %s", dsh,
                          model_shape(m, ms, sizeof ms));
            tg_dataset_free(d);
            d = NULL;
        }
    }
    const int64_t k = p ? p->n_classes : 0;
    if (d && regression) {
        double mse, mae;
        if (tg_predictor_regression(p, d, &mse, &mae, err, sizeof err) != TG_OK) {
            rc = cli_fail(TG_EXIT_INVALID, "eval", "--data: %s", err);
        } else {
            printf("samples %lld\nmse %.6g\nmae %.6g\n", (long long)d->n, mse, mae);
        }
        tg_dataset_free(d);
        d = NULL;
    }
    if (d) {
        if (!(cm = calloc((size_t)(k * k), sizeof *cm)))
            rc = cli_fail(TG_EXIT_INVALID, "eval", "out of memory for a %lldx%lld confusion matrix", (long long)k, (long long)k);
        else if (tg_predictor_confusion(p, d, cm, err, sizeof err) != TG_OK)
            rc = cli_fail(TG_EXIT_INVALID, "eval", "%s", err);
    }
    if (cm && rc == TG_EXIT_OK) {
        int64_t correct = 0;
        for (int64_t c = 0; c < k; c++) {
            int64_t row = 0, col = 0;
            for (int64_t j = 0; j < k; j++) row += cm[c * k + j], col += cm[j * k + c];
            correct += cm[c * k + c];
            /* a class never predicted has no precision (0/0), one never present no recall: shown as '-' */
            printf("class %lld precision ", (long long)c);
            col ? printf("%.4f", (double)cm[c * k + c] / (double)col) : printf("-");
            printf(" recall ");
            row ? printf("%.4f", (double)cm[c * k + c] / (double)row) : printf("-");
            printf(" support %lld\n", (long long)row);
        }
        if (confusion) rc = write_confusion_svg(confusion, cm, k);
        if (rc == TG_EXIT_OK) {
            printf("samples %lld\n", (long long)d->n);
            printf("accuracy %.4f\n", d->n ? (double)correct / (double)d->n : 0.0);
        }
    }
    free(cm);
    tg_dataset_free(d);
    tg_predictor_free(p);
    return rc;
}
