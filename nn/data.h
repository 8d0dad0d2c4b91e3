/* nn/data.h — datasets: IDX files (MNIST / Fashion-MNIST, raw or gzip), .npy pairs, CSV tables,
 * folders of class sub-folders of PNG/PGM images (decoded by nn/image.h), class labels or float
 * regression targets; a libc-only inflate (RFC 1951) with gzip framing (RFC 1952, CRC-32
 * checked), shuffled mini-batches from a seeded tg_rng, augmentation (random horizontal flip,
 * random crop with zero padding) and normalisation.
 *
 * Ownership: a tg_dataset owns its images (float, N x C x H x W, scaled to [0,1]) and labels;
 * tg_dataset_free() releases them. Batches are written into caller-owned long-lived tensors.
 * Errors are tier 2: a tg_status plus one line in err naming the file and the field.
 *
 *   char err[256];
 *   tg_dataset *train = NULL;
 *   if (tg_dataset_load_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
 *                           ".../train-labels-idx1-ubyte.gz", &train, err, sizeof err) != TG_OK)
 *       fprintf(stderr, "%s\n", err);
 *   tg_norm_stats ns; tg_norm_stats_compute(train, &ns);   // per channel, from the training data
 *   tg_dataset_normalize_stats(train, &ns);
 *   tg_batcher b; tg_batcher_init(&b, train, 64, true, 42);
 *   while (tg_batcher_next(&b, x, y, &n)) { ... }
 */
#ifndef TG_NN_DATA_H
#define TG_NN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../graph/api.h"
#include "../graph/error.h"
#include "../graph/tape.h"
#include "../graph/tensor.h"

TG_API_BEGIN

/* ---- compression ---- */
/* CRC-32 (IEEE, as gzip and PNG use) of n bytes, continuing from crc (start with 0). */
uint32_t tg_crc32(uint32_t crc, const void *data, size_t n);
/* Inflates a raw DEFLATE stream into a malloc'd buffer (*out, *out_len); *consumed receives the
 * input bytes used. TG_ERR_FORMAT on a malformed stream, TG_ERR_NOMEM. */
tg_status tg_inflate(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len,
                     size_t *consumed, char *err, size_t errsz);
/* tg_inflate with a bound: a stream that would produce more than max_out bytes (0: no bound) fails
 * with "output exceeds N bytes" before the buffer grows past it (a small file cannot claim
 * gigabytes). */
tg_status tg_inflate_limited(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out, size_t *out_len,
                             size_t *consumed, char *err, size_t errsz);
/* Decompresses a gzip member (header fields, CRC-32 and ISIZE checked). */
tg_status tg_gunzip(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len, char *err,
                    size_t errsz);
/* Reads a whole file into a malloc'd buffer (*out, *out_len; free() it), followed by one 0 byte so
 * text can be parsed in place. limit > 0: a file longer
 * than limit bytes is TG_ERR_FORMAT naming the limit. A directory, a missing or unreadable file
 * is TG_ERR_IO; TG_ERR_NOMEM names the buffer size. */
tg_status tg_read_file(const char *path, size_t limit, uint8_t **out, size_t *out_len, char *err, size_t errsz);
/* Reads a whole file, gunzipping it when it starts with the gzip magic (1f 8b). */
tg_status tg_read_file_maybe_gz(const char *path, uint8_t **out, size_t *out_len, char *err,
                                size_t errsz);

/* ---- IDX ---- */
/* An IDX array: unsigned bytes only (MNIST's type 0x08), up to 4 dims. */
typedef struct tg_idx {
    int ndim;
    int64_t dims[4];
    uint8_t *data;   /* malloc'd, prod(dims) bytes */
} tg_idx;
/* Parses IDX bytes: magic 00 00 08 ndim, big-endian dims, and the data size must match the rest
 * of the buffer exactly. */
tg_status tg_idx_parse(const uint8_t *bytes, size_t len, tg_idx *out, char *err, size_t errsz);
tg_status tg_idx_load(const char *path, tg_idx *out, char *err, size_t errsz);
void tg_idx_free(tg_idx *idx);

/* ---- datasets ---- */
/* What a model's outputs are scored with: class labels (cross-entropy) or float targets (MSE, L1). */
typedef enum tg_loss_kind { TG_LOSS_CROSS_ENTROPY = 0, TG_LOSS_MSE, TG_LOSS_L1, TG_LOSS_COUNT } tg_loss_kind;
/* "cross_entropy", "mse", "l1" (NULL for a value out of range). */
const char *tg_loss_kind_name(tg_loss_kind k);
/* The kind named by its name, or -1. */
int tg_loss_kind_from_name(const char *name);

/* A labelled set: a classification set has labels (int64 class indices), a regression set float
 * targets (n_targets values per sample) and labels NULL. */
typedef struct tg_dataset {
    int64_t n, c, h, w;
    float *images;    /* n*c*h*w, [0,1] then normalised */
    int64_t *labels;  /* n, or NULL when the set has targets */
    int n_classes;    /* max label + 1 (0 with targets) */
    int sample_ndim;  /* dims per sample: 3 (C,H,W), or 1 (F features held as c=F, h=w=1); 0 reads as 3 */
    /* the samples' shape when it is neither (C,H,W) nor (F): (C, L) for a 1-D model, (C, D, H, W)
     * from a 5-D array (c, h*w the channels and their plane, for per-channel statistics); 0: none */
    int view_ndim;
    int64_t view[4];
    float *targets;   /* regression: n * n_targets values, sample-major; NULL for classification */
    int64_t n_targets;
    char **class_names; /* image folders: the sub-folder name of each class (n_classes), else NULL */
} tg_dataset;

/* The shape of one sample (without the batch dim) into shape[TG_DATASET_MAX_RANK]; returns its
 * ndim (1 to 4). */
#define TG_DATASET_MAX_RANK 4
int tg_dataset_sample_shape(const tg_dataset *d, int64_t shape[TG_DATASET_MAX_RANK]);
/* Fits the samples to a model's input shape (ndim 1 to 4): true when they have that shape, or
 * differ from it only by leading dims of 1 — then they are viewed with it (the same values in the
 * same order; its first dim the channels of the per-channel statistics): a [N,C,L] array is read
 * as one-channel C x L images, and a model with input C x L takes it as C channels of L. */
bool tg_dataset_fit_shape(tg_dataset *d, const int64_t *shape, int ndim);

/* Loads an image file ([N,H,W] or [N,C,H,W] IDX) and a label file ([N]); the counts must
 * agree. */
tg_status tg_dataset_load_idx(const char *images_path, const char *labels_path, tg_dataset **out,
                              char *err, size_t errsz);
/* Loads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (either form). */
tg_status tg_dataset_load_mnist_dir(const char *dir, bool train, tg_dataset **out, char *err,
                                    size_t errsz);
/* Loads a .npy pair: x float32/float64 [N,C,D,H,W] (volumes), [N,C,H,W], [N,H,W] (one channel; also
 * [N,C,L] for a 1-D model: tg_dataset_fit_shape) or [N,F] (features), y int64
 * [N] class labels >= 0, or y float [N] or [N,K]: regression targets (n_targets 1 or K). Values are
 * taken as they are (no scaling). Errors name the file and the shapes; on any error nothing is
 * returned. */
tg_status tg_dataset_load_npy(const char *x_path, const char *y_path, tg_dataset **out, char *err, size_t errsz);
/* What `tg train --data` / `tg eval --data` take: "X.npy,y.npy" (a pair, as above) or a directory
 * of MNIST-named IDX files (train or t10k part by `train`); a .csv file or a folder of class
 * sub-folders with the defaults of tg_data_options (see tg_dataset_load_spec). */
tg_status tg_dataset_load_any(const char *spec, bool train, tg_dataset **out, char *err, size_t errsz);

/* CSV: one sample per row, numeric fields. The first row is a header when none of its fields is a
 * number (then label_col may name a column); a row mixing names and numbers is an error. Fields
 * are comma-separated and may be quoted per RFC 4180 (a quoted field may hold commas, doubled
 * quotes and line breaks), with spaces around them; blank lines are skipped. label_col is a header
 * name or a 0-based column index (a name matching a header field wins), NULL for the last column;
 * every other column is a feature: N x F samples (sample_ndim 1). float_targets: the label column
 * holds float targets (regression, n_targets 1); else class indices (integers 0..1000000). Errors
 * name file:line:column (the column counted from 1, with the header name when there is one) and
 * the bad text: ragged rows, an empty file, a non-numeric field, NaN/Inf text, more than
 * TG_CSV_MAX_COLUMNS columns, a label that is not a class index. On error nothing is returned. */
#define TG_CSV_MAX_COLUMNS 65536
tg_status tg_dataset_load_csv(const char *path, const char *label_col, bool float_targets, tg_dataset **out,
                              char *err, size_t errsz);
/* The same from len bytes in memory; name stands for the file in messages. */
tg_status tg_dataset_parse_csv(const char *bytes, size_t len, const char *name, const char *label_col,
                               bool float_targets, tg_dataset **out, char *err, size_t errsz);

/* An image folder: DIR/<class>/<image>.png|.pgm. Class folders are sorted by name (strcmp order)
 * and numbered from 0 (names in class_names); within a class the files are sorted too; hidden
 * entries (".x") and files without a .png/.pgm extension are skipped, a class with no image is an
 * error. Every image becomes c x h x w floats in [0,1] by tg_image_to_input (nn/image.h: bilinear
 * resize so the image covers h x w, then a centre crop; RGB->grey by ITU-R 601 luma, grey->RGB
 * replicated). c, h, w of 0 take the first image's channels and size. */
tg_status tg_dataset_load_image_dir(const char *dir, int c, int h, int w, tg_dataset **out, char *err, size_t errsz);

/* What kind of data a --data word names: a file ending in .csv, an X.npy,y.npy pair (a comma), a
 * directory with MNIST-named IDX files, or another directory (class sub-folders of images). */
typedef enum tg_data_source { TG_DATA_NPY_PAIR, TG_DATA_CSV, TG_DATA_IDX_DIR, TG_DATA_IMAGE_DIR } tg_data_source;
tg_data_source tg_data_source_of(const char *spec);
/* How tg_dataset_load_spec reads a source; zeroes are the defaults. */
typedef struct tg_data_options {
    const char *label_col; /* CSV: the label column (name or 0-based index); NULL: the last column */
    bool float_targets;    /* CSV: the label column holds regression targets */
    int c, h, w;           /* image folders: the samples' shape (the model's input); 0: the first image's */
} tg_data_options;
/* Loads any source above (an IDX directory's train or t10k part by `train`); o may be NULL. */
tg_status tg_dataset_load_spec(const char *spec, const tg_data_options *o, bool train, tg_dataset **out, char *err,
                               size_t errsz);
/* Moves a random fraction (0 < fraction < 1, seeded) of d into a new dataset *held (at least one
 * sample each side); d keeps the rest in its original order. TG_ERR_INVALID when either side would
 * be empty, TG_ERR_NOMEM; on error d is unchanged. */
tg_status tg_dataset_split(tg_dataset *d, double fraction, uint64_t seed, tg_dataset **held, char *err,
                           size_t errsz);
void tg_dataset_free(tg_dataset *d);
/* x = (x - mean) / std for every value. */
void tg_dataset_normalize(tg_dataset *d, double mean, double std);

/* Per-channel input normalisation, (x - mean[c]) / std[c]: channels of an image, features of an
 * [N,F] sample. Owned arrays of n values; tg_norm_stats_free releases them. Stored in checkpoints
 * so prediction normalises as training did. */
typedef struct tg_norm_stats {
    int64_t n;
    double *mean, *std;
} tg_norm_stats;
/* Mean and (population) standard deviation of each channel over the whole dataset, in double; a
 * constant channel gets std 1 so it maps to 0 instead of dividing by zero. TG_ERR_NOMEM. */
tg_status tg_norm_stats_compute(const tg_dataset *d, tg_norm_stats *s);
/* Arrays for n channels (mean 0, std 1); TG_ERR_NOMEM. */
tg_status tg_norm_stats_alloc(tg_norm_stats *s, int64_t n);
void tg_norm_stats_free(tg_norm_stats *s);
/* Normalises every sample of d in place; s->n must equal d's channels (TG_ERR_INVALID otherwise). */
tg_status tg_dataset_normalize_stats(tg_dataset *d, const tg_norm_stats *s);
/* Normalises n samples of `per` values laid out [channels, per/channels] in place. */
void tg_norm_stats_apply(const tg_norm_stats *s, tg_real *x, int64_t n, int64_t per);

/* Augmentation applied by the batcher (training only). */
typedef struct tg_augment {
    bool hflip;       /* flip left-right with probability 1/2 */
    int crop_padding; /* > 0: zero-pad by this many pixels, take a random HxW crop */
} tg_augment;

/* Iterates over a dataset in mini-batches; with shuffle a new permutation (Fisher-Yates from the
 * batcher's rng) each epoch. */
typedef struct tg_batcher {
    const tg_dataset *data;
    int64_t batch, pos;
    int64_t *order;
    bool shuffle;
    tg_augment augment;
    tg_rng rng;
    tg_loss_kind loss; /* what tg_train_epoch scores the batches with (0: cross-entropy); a set with
                        * targets needs TG_LOSS_MSE or TG_LOSS_L1 */
} tg_batcher;

tg_status tg_batcher_init(tg_batcher *b, const tg_dataset *d, int64_t batch, bool shuffle, uint64_t seed);
void tg_batcher_free(tg_batcher *b);
/* Starts a new epoch (reshuffles). */
void tg_batcher_reset(tg_batcher *b);
/* Fills x ([>=n, C, H, W] real tensor) and y with the next batch; returns its size n (the last
 * batch may be short), 0 at the end of the epoch. x and y must hold `batch` samples. y (may be
 * NULL) is int64 [>=n] for a set with labels, real [>=n, n_targets] for a set with targets; a y
 * of the other kind is left as it is. */
int64_t tg_batcher_next(tg_batcher *b, tg_tensor *x, tg_tensor *y);

TG_API_END

#endif
