/* nn/data.h — datasets: IDX files (MNIST / Fashion-MNIST, raw or gzip), a libc-only inflate
 * (RFC 1951) with gzip framing (RFC 1952, CRC-32 checked), shuffled mini-batches from a seeded
 * tg_rng, augmentation (random horizontal flip, random crop with zero padding) and normalisation.
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
typedef struct tg_dataset {
    int64_t n, c, h, w;
    float *images;    /* n*c*h*w, [0,1] then normalised */
    int64_t *labels;  /* n */
    int n_classes;    /* max label + 1 */
    int sample_ndim;  /* dims per sample: 3 (C,H,W), or 1 (F features held as c=F, h=w=1); 0 reads as 3 */
} tg_dataset;

/* The shape of one sample (without the batch dim) into shape[3]; returns its ndim (1 or 3). */
int tg_dataset_sample_shape(const tg_dataset *d, int64_t shape[3]);

/* Loads an image file ([N,H,W] or [N,C,H,W] IDX) and a label file ([N]); the counts must
 * agree. */
tg_status tg_dataset_load_idx(const char *images_path, const char *labels_path, tg_dataset **out,
                              char *err, size_t errsz);
/* Loads DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (either form). */
tg_status tg_dataset_load_mnist_dir(const char *dir, bool train, tg_dataset **out, char *err,
                                    size_t errsz);
/* Loads a .npy pair: x float32/float64 [N,C,H,W], [N,H,W] (one channel) or [N,F] (features), y int64
 * [N] class labels >= 0. Values are taken as they are (no scaling). Errors name the file and the
 * shapes; on any error nothing is returned. */
tg_status tg_dataset_load_npy(const char *x_path, const char *y_path, tg_dataset **out, char *err, size_t errsz);
/* What `tg train --data` / `tg eval --data` take: "X.npy,y.npy" (a pair, as above) or a directory
 * of MNIST-named IDX files (train or t10k part by `train`). */
tg_status tg_dataset_load_any(const char *spec, bool train, tg_dataset **out, char *err, size_t errsz);
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
} tg_batcher;

tg_status tg_batcher_init(tg_batcher *b, const tg_dataset *d, int64_t batch, bool shuffle, uint64_t seed);
void tg_batcher_free(tg_batcher *b);
/* Starts a new epoch (reshuffles). */
void tg_batcher_reset(tg_batcher *b);
/* Fills x ([>=n, C, H, W] real tensor) and y ([>=n] int64) with the next batch; returns its size
 * n (the last batch may be short), 0 at the end of the epoch. x and y must hold `batch` samples. */
int64_t tg_batcher_next(tg_batcher *b, tg_tensor *x, tg_tensor *y);

TG_API_END

#endif
