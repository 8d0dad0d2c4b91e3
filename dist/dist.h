/* dist/dist.h — data-parallel training over MPI (built only by `make mpi`; the core library never
 * needs MPI). Every process (rank) holds the whole model; each computes its share of every global
 * batch; gradients are summed across ranks in flat buckets, started with MPI_Iallreduce while the
 * backward is still running; the optimizer step then runs on identical gradients everywhere, so
 * the parameters stay bit-identical. docs/distributed.md has the whole story and an example.
 *
 * Ownership: tg_dist_init makes the tg_dist (one per process) and tg_dist_finalize ends it; a
 * tg_dist_reducer is made for one parameter list and freed with tg_dist_reducer_free. Nothing here
 * prints or exits: errors are a tg_status plus one line in err (every rank gets a line).
 *
 * Collective calls (marked "collective") must be made by every rank, in the same order. A failure
 * on one rank is reported to all of them (tg_dist_agree) instead of leaving them waiting.
 *
 *   tg_dist *d;
 *   if (tg_dist_init(&argc, &argv, &d, err, sizeof err) != TG_OK) return 1;
 *   tg_dist_broadcast_module(d, net, err, sizeof err);            // rank 0's initial values
 *   tg_dist_reducer *r = tg_dist_reducer_new(d, params, n, TG_DIST_BUCKET_BYTES, err, sizeof err);
 *   tg_dist_shard(batch, tg_dist_rank(d), tg_dist_size(d), &off, &count);
 *   ... forward on samples [off, off+count) of the global batch ...
 *   tg_dist_reducer_begin(r, tape, (double)count / batch);       // after the forward
 *   tg_backward(loss);                                           // buckets start on the way
 *   tg_dist_reducer_end(r, err, sizeof err);                     // grads = the global batch's
 *   tg_optim_step(opt);
 *   tg_dist_reducer_free(r);
 *   tg_dist_finalize(d);
 */
#ifndef TG_DIST_DIST_H
#define TG_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../graph/error.h"
#include "../graph/tape.h"
#include "../graph/tensor.h"
#include "../nn/module.h"
#include "../nn/train.h"

/* Default bucket size: big enough that the per-call latency is amortised, small enough that the
 * first buckets start well before the backward ends. */
#define TG_DIST_BUCKET_BYTES ((size_t)1 << 20)
/* The longest message tg_dist_agree carries from the failing rank to the others. */
#define TG_DIST_MSG_MAX 512

typedef struct tg_dist tg_dist;
typedef struct tg_dist_reducer tg_dist_reducer;

/* Starts MPI (unless the program already did; then the program finalizes it) with errors returned,
 * not fatal, on a communicator of tapegrad's own. TG_ERR_IO when MPI cannot start. */
tg_status tg_dist_init(int *argc, char ***argv, tg_dist **out, char *err, size_t errsz);
/* Collective. Frees d and finalizes MPI when tg_dist_init started it. NULL is a no-op. */
void tg_dist_finalize(tg_dist *d);
int tg_dist_rank(const tg_dist *d);
int tg_dist_size(const tg_dist *d);

/* Samples [*offset, *offset + *count) of a global batch are rank's: batch/size each, the first
 * batch%size ranks one more (64 on 3 ranks: 22, 21, 21). */
void tg_dist_shard(int64_t batch, int rank, int size, int64_t *offset, int64_t *count);

/* Collective. Every rank reports its status (why: its one-line reason, may be NULL). All TG_OK:
 * TG_OK. Otherwise every rank returns the failure of the lowest failing rank; err receives why on
 * that rank and "rank R of P failed: why" on the others. */
tg_status tg_dist_agree(tg_dist *d, tg_status local, const char *why, char *err, size_t errsz);

/* Collective. Sums n doubles over the ranks in place (statistics, counts). */
tg_status tg_dist_allreduce_sum(tg_dist *d, double *values, int n, char *err, size_t errsz);

/* Collective. The largest of each of n doubles over the ranks, in place (the slowest rank's time). */
tg_status tg_dist_allreduce_max(tg_dist *d, double *values, int n, char *err, size_t errsz);

/* Collective. Checks that every rank has the same parameters and buffers (names, shapes, order)
 * and the same settings (a line the caller builds, e.g. "batch 64, 600 images"; may be NULL).
 * TG_ERR_INVALID on every rank when not, the line naming the first difference and the rank. */
tg_status tg_dist_check_model(tg_dist *d, tg_module *net, const char *settings, char *err, size_t errsz);

/* Collective. Copies rank 0's parameters and buffers into every rank's (DDP's start). */
tg_status tg_dist_broadcast_module(tg_dist *d, tg_module *net, char *err, size_t errsz);
/* Collective. Copies the tensors' values from root into every rank's (same shapes everywhere). */
tg_status tg_dist_broadcast(tg_dist *d, tg_tensor *const *tensors, int n, int root, char *err, size_t errsz);

/* Collective. CRC-32 of every parameter's and buffer's bytes, compared across ranks:
 * TG_ERR_INVALID on every rank when a replica has drifted ("replicas differ: rank 2 ..."). */
tg_status tg_dist_check_replicas(tg_dist *d, tg_module *net, char *err, size_t errsz);

/* ---- gradient buckets ----
 * The parameters are packed, newest first (the backward finishes them roughly in that order),
 * into flat buckets of at most bucket_bytes (one parameter larger than that gets a bucket of its
 * own). Every rank must give the same list. NULL with err on a bad argument or out of memory. */
tg_dist_reducer *tg_dist_reducer_new(tg_dist *d, tg_tensor *const *params, int n, size_t bucket_bytes, char *err,
                                     size_t errsz);
void tg_dist_reducer_free(tg_dist_reducer *r);
/* After the forward, before tg_backward: finds for each parameter the oldest node that reads it
 * (its gradient is final once that node's backward ran) and sets the tape's backward hook, which
 * then starts each bucket's MPI_Iallreduce as soon as its last gradient is final. This rank's
 * gradients enter the sum multiplied by weight (its share of the global batch, count / batch, so
 * the sum is the global batch's mean-loss gradient). tape NULL: nothing starts before _end. */
tg_status tg_dist_reducer_begin(tg_dist_reducer *r, tg_tape *tape, double weight);
/* Collective, after the backward: starts the buckets not started yet, waits for all, and writes
 * the sums into the parameters' gradients; removes the hook. A parameter no gradient reached
 * (on any rank: the graphs are the same) adds zeros and is left without a gradient. */
tg_status tg_dist_reducer_end(tg_dist_reducer *r, char *err, size_t errsz);
/* Collective, blocking: begin without a tape, then end (a user's loop without overlap). */
tg_status tg_dist_allreduce_grads(tg_dist_reducer *r, double weight, char *err, size_t errsz);

/* What the reducer measured since it was made. */
typedef struct tg_dist_reducer_stats {
    int64_t steps, buckets, bytes; /* buckets and bytes per step */
    int64_t early_buckets;         /* buckets started by the hook, during the backward (all steps) */
    double wait_seconds;           /* time in _end waiting for the sums: all-reduce not hidden */
} tg_dist_reducer_stats;
tg_dist_reducer_stats tg_dist_reducer_get_stats(const tg_dist_reducer *r);

/* Sync batch norm (--sync-bn): on, every batch_norm in training mode normalises with the
 * statistics of the whole global batch (per-channel sums all-reduced in its forward, the Σdy and
 * Σdy·x̂ sums in its backward, through ops/norm.h's statistics reducer), so P ranks × B/P equal
 * one process × B up to rounding and the running statistics are the same on every rank. The
 * backward uses the weight of the latest tg_dist_reducer_begin: call it before tg_backward.
 * Process-wide (one reducer at a time); off again before freeing r. */
void tg_dist_sync_batch_norm(tg_dist_reducer *r, bool on);

/* Fills *sync so that tg_train_epoch_sync shards each batch of `batch` samples by rank, agrees
 * on every step's status and loss, and sums the gradients through r (weights count / batch).
 * With broadcast_buffers, net's buffers (BN running statistics, which each rank updates from its
 * own shard) are copied from rank 0 after every step, as DDP does; sync batch norm keeps them
 * equal by itself. r must outlive the loop. */
tg_status tg_dist_train_sync(tg_dist_reducer *r, tg_module *net, int64_t batch, bool broadcast_buffers,
                             tg_train_sync *sync, char *err, size_t errsz);

#endif
