/* tools/tg_mpi.c — build/tg-mpi (`make mpi`): `mpirun -n P build/tg-mpi train MODEL ...` is
 * `tg train` with the global batch split over P processes (dist/dist.h). Same options as tg train
 * plus --bucket-mb, --check-replicas and --sync-bn; rank 0 alone prints and writes files; every
 * error is one line on every rank ("tg: train (rank 1 of 3): reason") and every rank exits non-zero.
 * docs/distributed.md has the details. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dist/dist.h"
#include "../tapegrad.h"
#include "cli.h"

/* the state the driver's callbacks share */
typedef struct mpi_train {
    tg_dist *d;
    tg_dist_reducer *reducer;
    char cmd[64];
    double bucket_mb;
    bool check_replicas, sync_bn;
    int failed_rc;       /* non-zero once a failure was agreed: no more communication */
    tg_dataset eval_view; /* this rank's part of the test set (the test set owns the data) */
    int epoch;
} mpi_train;

static int agree(void *ctx, int rc)
{
    mpi_train *c = ctx;
    if (c->failed_rc) return c->failed_rc;
    char err[TG_DIST_MSG_MAX];
    tg_status st = tg_dist_agree(c->d, rc == TG_EXIT_OK ? TG_OK : TG_ERR_INVALID, cli_last_error(), err, sizeof err);
    if (st == TG_OK) return TG_EXIT_OK;
    /* the failing rank printed its own line already */
    if (rc == TG_EXIT_OK) rc = cli_fail(TG_EXIT_INVALID, c->cmd, "%s", err);
    return c->failed_rc = rc;
}

/* A failure every rank already knows of (a collective call returned it everywhere). */
static int agreed_failure(mpi_train *c, const char *what, const char *err)
{
    return c->failed_rc = cli_fail(TG_EXIT_INVALID, c->cmd, "%s%s", what, err);
}

static int start(void *ctx, tg_model *m, tg_optim *opt, tg_dataset *test, const tg_dataset **eval,
                 const tg_batcher *b, tg_train_sync *sync)
{
    (void)opt; /* same optimizer settings and (with --resume) the same file everywhere */
    mpi_train *c = ctx;
    char err[TG_DIST_MSG_MAX], why[TG_DIST_MSG_MAX], settings[256];
    const int size = tg_dist_size(c->d), rank = tg_dist_rank(c->d);
    /* what must match besides the model: a different batch, data size or shuffling state
     * would silently train each rank on other samples */
    snprintf(settings, sizeof settings, "batch %lld, %lld training images, shuffle state %016llx", (long long)b->batch,
             (long long)b->data->n, (unsigned long long)(b->rng.s[0] ^ b->rng.s[1] ^ b->rng.s[2] ^ b->rng.s[3]));
    if (tg_dist_check_model(c->d, m->net, settings, err, sizeof err) != TG_OK) return agreed_failure(c, "", err);
    if (tg_dist_broadcast_module(c->d, m->net, err, sizeof err) != TG_OK)
        return agreed_failure(c, "sharing rank 0's parameters: ", err);
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    tg_named_tensor *named = calloc((size_t)np + 1, sizeof *named);
    tg_tensor **params = calloc((size_t)np + 1, sizeof *params);
    tg_status st = named && params ? TG_OK : TG_ERR_NOMEM;
    snprintf(err, sizeof err, "out of memory");
    if (st == TG_OK) {
        tg_module_named_tensors(m->net, false, named, np);
        for (int i = 0; i < np; i++) params[i] = named[i].tensor;
        c->reducer = tg_dist_reducer_new(c->d, params, np, (size_t)(c->bucket_mb * (1 << 20)), err, sizeof err);
        if (!c->reducer) st = TG_ERR_INVALID;
    }
    free(named), free(params);
    if (st == TG_OK)
        st = tg_dist_train_sync(c->reducer, m->net, b->batch, !c->sync_bn, sync, err, sizeof err);
    if (st == TG_OK && c->sync_bn) tg_dist_sync_batch_norm(c->reducer, true);
    if (st == TG_OK && test && test->n < size) {
        snprintf(err, sizeof err, "the test set (%lld images) has fewer images than the %d ranks", (long long)test->n, size);
        st = TG_ERR_INVALID;
    }
    /* the same on every rank so far, but agree anyway: the next call is a collective */
    snprintf(why, sizeof why, "%s", err);
    if ((st = tg_dist_agree(c->d, st, why, err, sizeof err)) != TG_OK) return agreed_failure(c, "", err);
    *eval = NULL; /* no test set (--val-split alone): every rank evaluates the same validation set */
    if (!test) return TG_EXIT_OK;
    int64_t off, count;
    tg_dist_shard(test->n, rank, size, &off, &count);
    const int64_t per_image = test->c * test->h * test->w;
    c->eval_view = *test;
    c->eval_view.n = count;
    c->eval_view.images = test->images + off * per_image;
    if (test->labels) c->eval_view.labels = test->labels + off;
    if (test->targets) c->eval_view.targets = test->targets + off * test->n_targets; /* regression */
    *eval = &c->eval_view;
    return TG_EXIT_OK;
}

/* The epoch's figures over every rank: sums of samples, loss and hits; the slowest rank's time. */
static int epoch_end(void *ctx, tg_model *m, tg_epoch_stats *tr, tg_epoch_stats *te)
{
    mpi_train *c = ctx;
    char err[TG_DIST_MSG_MAX];
    c->epoch++;
    double v[6] = {(double)tr->samples, tr->loss * (double)tr->samples, tr->accuracy * (double)tr->samples,
                   (double)te->samples, te->loss * (double)te->samples, te->accuracy * (double)te->samples};
    if (tg_dist_allreduce_sum(c->d, v, 6, err, sizeof err) != TG_OK) return agreed_failure(c, "", err);
    if (tg_dist_allreduce_max(c->d, &tr->seconds, 1, err, sizeof err) != TG_OK) return agreed_failure(c, "", err);
    tr->samples = (int64_t)v[0], te->samples = (int64_t)v[3];
    tr->loss = v[0] > 0 ? v[1] / v[0] : 0, tr->accuracy = v[0] > 0 ? v[2] / v[0] : 0;
    te->loss = v[3] > 0 ? v[4] / v[3] : 0, te->accuracy = v[3] > 0 ? v[5] / v[3] : 0;
    if (c->check_replicas && tg_dist_check_replicas(c->d, m->net, err, sizeof err) != TG_OK)
        return c->failed_rc = cli_fail(TG_EXIT_INVALID, c->cmd, "--check-replicas: epoch %d: %s", c->epoch, err);
    return TG_EXIT_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mpirun -n P tg-mpi train MODEL [tg train's options] [--bucket-mb X] [--check-replicas] "
               "[--sync-bn]\n");
    tg_train_help(f);
}

int main(int argc, char **argv)
{
    char err[TG_DIST_MSG_MAX];
    tg_dist *d = NULL;
    if (tg_dist_init(&argc, &argv, &d, err, sizeof err) != TG_OK) return cli_fail(TG_EXIT_INVALID, NULL, "%s", err);
    mpi_train c = {.d = d, .bucket_mb = (double)TG_DIST_BUCKET_BYTES / (1 << 20)};
    const int rank = tg_dist_rank(d), size = tg_dist_size(d);
    snprintf(c.cmd, sizeof c.cmd, size > 1 ? "train (rank %d of %d)" : "train", rank, size);
    const cli_opt extra[] = {
        {"--bucket-mb", CLI_REAL, &c.bucket_mb, "X", 0, 1024, .lo_open = true,
         .help = "gradient bucket size in MiB: each bucket's all-reduce starts once its gradients are final"},
        {"--check-replicas", CLI_FLAG, &c.check_replicas,
         .help = "compare a checksum of the parameters across ranks after every epoch"},
        {"--sync-bn", CLI_FLAG, &c.sync_bn, .help = "batch norm statistics over the global batch (SyncBatchNorm)"},
        {0}};
    /* Without --threads or TG_NUM_THREADS, the ranks on one node share its cores instead of each
     * taking all of them (Open MPI names the ranks per node; elsewhere all ranks count as local). */
    if (!getenv(TG_THREADS_ENV)) {
        const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        const int local_ranks = local && tg_parse_threads(local) > 0 ? tg_parse_threads(local) : size;
        const int share = tg_default_threads() / (local_ranks > 0 ? local_ranks : 1);
        tg_set_threads(share > 0 ? share : 1);
    }
    const tg_train_driver drv = {.ctx = &c, .cmd = c.cmd, .extra = extra, .quiet = rank != 0, .agree = agree,
                                 .start = start, .epoch_end = epoch_end};
    int rc;
    if (argc >= 2 && !strcmp(argv[1], "train")) {
        rc = tg_train_command(argc - 1, argv + 1, &drv);
    } else if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        if (rank == 0) usage(stdout);
        rc = TG_EXIT_OK;
    } else {
        if (rank == 0) usage(stderr);
        rc = cli_fail(TG_EXIT_USAGE, NULL, "the MPI build runs one command, 'train'%s%s%s", argc >= 2 ? " (not '" : "",
                      argc >= 2 ? CLI_Q(argv[1]) : "", argc >= 2 ? "')" : "");
    }
    if (rc == TG_EXIT_OK && c.reducer && rank == 0) {
        /* how much of the all-reduce the backward hid: the wait in _end is what it did not */
        const tg_dist_reducer_stats rs = tg_dist_reducer_get_stats(c.reducer);
        printf("allreduce_buckets %lld bytes %lld started_in_backward %.2f exposed_wait_ms_per_step %.3f\n",
               (long long)rs.buckets, (long long)rs.bytes,
               rs.steps ? (double)rs.early_buckets / (double)(rs.steps * rs.buckets) : 0.0,
               rs.steps ? 1e3 * rs.wait_seconds / (double)rs.steps : 0.0);
    }
    if (c.reducer) tg_dist_sync_batch_norm(c.reducer, false);
    tg_dist_reducer_free(c.reducer);
    tg_dist_finalize(d);
    return rc;
}
