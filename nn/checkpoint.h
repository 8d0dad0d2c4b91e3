/* nn/checkpoint.h — training checkpoints and single-tensor .npy import/export.
 *
 * One versioned file, little-endian whatever the host: magic "TGCKPT\r\n", version (2), the value
 * type (4: float32, written by the float32 build; 8: float64, by the float64 build), then every
 * parameter and buffer by name and shape, the optimizer's per-parameter state (values in the
 * value type), step counts and group lr/momentum, the schedule step and plateau state, an RNG
 * state, the input normalisation statistics, the epochs completed and the loss kind of a regression
 * model (the last three optional),
 * and a CRC-32 of everything before it. Either build loads either value type, converting (a
 * float64 file loaded by the float32 build rounds to float). Version 1 files (float64 values, no
 * normalisation or epoch) still load. Loading checks the
 * magic, version, checksum, sizes, every name and shape against the model and optimizer, and only
 * then copies anything: on any error the model, optimizer, schedule and rng are left untouched.
 *
 *   char err[256];
 *   tg_checkpoint_save("run.ckpt", net, opt, sched, &batcher.rng, err, sizeof err);
 *   ...
 *   if (tg_checkpoint_load("run.ckpt", net, opt, sched, &batcher.rng, err, sizeof err) != TG_OK)
 *       fprintf(stderr, "%s\n", err);
 */
#ifndef TG_NN_CHECKPOINT_H
#define TG_NN_CHECKPOINT_H

#include "../graph/api.h"
#include "../optim/optim.h"
#include "module.h"

#include "data.h"

TG_API_BEGIN
#define TG_CHECKPOINT_VERSION 2

/* What a checkpoint holds besides the model, optimizer, schedule and rng; either pointer may be
 * NULL. Saving: norm is stored when norm->n > 0, epoch when given. Loading: *norm is replaced by
 * the file's statistics (n 0 when it has none: version 1 files, C programs that stored none; free
 * with tg_norm_stats_free), *epoch by its epoch count (0 when absent). */
typedef struct tg_checkpoint_extra {
    tg_norm_stats *norm;
    int64_t *epoch;
    int *loss;   /* a tg_loss_kind: saved when not cross-entropy; loading gives cross-entropy when absent */
    int version; /* loading sets it: the file's format version (1 or 2) */
} tg_checkpoint_extra;

/* opt, sched and rng may be NULL (not stored). TG_ERR_IO when the file cannot be written. */
tg_status tg_checkpoint_save(const char *path, tg_module *net, const tg_optim *opt, const tg_sched *sched,
                             const tg_rng *rng, char *err, size_t errsz);
/* Restores what the file holds into net (required) and into opt / sched / rng when given; a part
 * given here but absent from the file, or present with other names/shapes, is TG_ERR_FORMAT. */
tg_status tg_checkpoint_load(const char *path, tg_module *net, tg_optim *opt, tg_sched *sched, tg_rng *rng,
                             char *err, size_t errsz);
/* The same from len bytes in memory; path only names the source in messages. */
tg_status tg_checkpoint_load_mem(const uint8_t *bytes, size_t len, const char *path, tg_module *net, tg_optim *opt,
                                 tg_sched *sched, tg_rng *rng, char *err, size_t errsz);

/* The same with the extra parts (extra may be NULL). */
tg_status tg_checkpoint_save_ex(const char *path, tg_module *net, const tg_optim *opt, const tg_sched *sched,
                                const tg_rng *rng, const tg_checkpoint_extra *extra, char *err, size_t errsz);
tg_status tg_checkpoint_load_ex(const char *path, tg_module *net, tg_optim *opt, tg_sched *sched, tg_rng *rng,
                                tg_checkpoint_extra *extra, char *err, size_t errsz);
tg_status tg_checkpoint_load_mem_ex(const uint8_t *bytes, size_t len, const char *path, tg_module *net,
                                    tg_optim *opt, tg_sched *sched, tg_rng *rng, tg_checkpoint_extra *extra,
                                    char *err, size_t errsz);

/* Copies a .npy file into the named parameter or buffer ("features.0.weight"); the shapes must
 * match. */
tg_status tg_module_load_npy(tg_module *net, const char *name, const char *path, char *err, size_t errsz);
/* Writes the named parameter or buffer as float32 .npy. */
tg_status tg_module_save_npy(tg_module *net, const char *name, const char *path, char *err, size_t errsz);

TG_API_END

#endif
