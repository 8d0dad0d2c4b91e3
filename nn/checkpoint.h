/* nn/checkpoint.h — training checkpoints and single-tensor .npy import/export.
 *
 * One versioned file, little-endian whatever the host: magic "TGCKPT\r\n", version, then every
 * parameter and buffer by name and shape (values as float64, so float32 values round-trip
 * exactly), the optimizer's per-parameter state, step counts and group lr/momentum, the schedule
 * step and plateau state, an RNG state, and a CRC-32 of everything before it. Loading checks the
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

TG_API_BEGIN

#define TG_CHECKPOINT_VERSION 1

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

/* Copies a .npy file into the named parameter or buffer ("features.0.weight"); the shapes must
 * match. */
tg_status tg_module_load_npy(tg_module *net, const char *name, const char *path, char *err, size_t errsz);
/* Writes the named parameter or buffer as float32 .npy. */
tg_status tg_module_save_npy(tg_module *net, const char *name, const char *path, char *err, size_t errsz);

TG_API_END

#endif
