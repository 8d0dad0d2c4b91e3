/* tests/mpi/dist_api.c — build/test_dist: the dist/ C API under mpirun, and two helpers for
 * tests/mpi/run.sh that need no MPI.
 *
 *   mpirun -n 3 build/test_dist api                 every check below, on every rank; exit 0 if all pass
 *   build/test_dist make-data DIR N_TRAIN N_TEST    tiny 8x8 IDX data set, 3 classes, deterministic
 *   mpirun -n P build/test_dist bench-allreduce      microseconds per all-reduce, 4 B .. 16 MiB (JSON lines)
 *   build/test_dist compare MODEL A.ckpt B.ckpt RTOL
 *       per tensor max|a-b| / max|a| <= RTOL for every parameter and buffer; RTOL 0: bit-identical
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>
#include <sys/stat.h>

#include "../../dist/dist.h"
#include "../../tapegrad.h"

static int rank, size, failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            failures++;                                                                                                \
            fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
        }                                                                                                              \
    } while (0)

/* ---- helpers for run.sh ---- */

#define DATA_SIDE 8
#define DATA_CLASSES 3

static int write_file(const char *path, const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
    FILE *f = fopen(path, "wb");
    if (!f) return perror(path), 1;
    int bad = fwrite(a, 1, na, f) != na || fwrite(b, 1, nb, f) != nb;
    return (fclose(f) != 0 || bad) ? (perror(path), 1) : 0;
}

/* class k: a bright 3x3 block at one of three places plus noise, so a small CNN learns something */
static int make_data(const char *dir, int n_train, int n_test)
{
    mkdir(dir, 0777);
    const char *const prefixes[2] = {"train", "t10k"};
    const int counts[2] = {n_train, n_test};
    uint64_t state = 12345;
    for (int k = 0; k < 2; k++) {
        const int n = counts[k];
        unsigned char ih[16] = {0, 0, 8, 3, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                                (unsigned char)n, 0, 0, 0, DATA_SIDE, 0, 0, 0, DATA_SIDE};
        unsigned char lh[8] = {0, 0, 8, 1, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                               (unsigned char)n};
        unsigned char *px = malloc((size_t)n * DATA_SIDE * DATA_SIDE), *lb = malloc((size_t)n);
        if (!px || !lb) return 1;
        for (int i = 0; i < n; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            lb[i] = (unsigned char)((state >> 33) % DATA_CLASSES);
            for (int p = 0; p < DATA_SIDE * DATA_SIDE; p++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                const int y = p / DATA_SIDE, x = p % DATA_SIDE, at = 1 + 2 * lb[i];
                const int bright = y >= at && y < at + 3 && x >= at && x < at + 3;
                px[(size_t)i * DATA_SIDE * DATA_SIDE + p] = (unsigned char)((state >> 40) % 96 + (bright ? 150 : 0));
            }
        }
        char path[1024];
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefixes[k]);
        if (write_file(path, ih, sizeof ih, px, (size_t)n * DATA_SIDE * DATA_SIDE)) return 1;
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefixes[k]);
        if (write_file(path, lh, sizeof lh, lb, (size_t)n)) return 1;
        free(px), free(lb);
    }
    return 0;
}

static int compare(const char *model, const char *a, const char *b, double rtol)
{
    char err[512];
    tg_model *ma = tg_model_load(model, 0, err, sizeof err), *mb = ma ? tg_model_load(model, 0, err, sizeof err) : NULL;
    if (!mb || tg_checkpoint_load(a, ma->net, NULL, NULL, NULL, err, sizeof err) != TG_OK ||
        tg_checkpoint_load(b, mb->net, NULL, NULL, NULL, err, sizeof err) != TG_OK) {
        fprintf(stderr, "compare: %s\n", err);
        return 2;
    }
    const int n = tg_module_named_tensors(ma->net, true, NULL, 0);
    tg_named_tensor *la = calloc((size_t)n, sizeof *la), *lb = calloc((size_t)n, sizeof *lb);
    tg_module_named_tensors(ma->net, true, la, n);
    tg_module_named_tensors(mb->net, true, lb, n);
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = la[i].tensor, *y = lb[i].tensor;
        if (x->dtype != TG_REAL) continue;
        double diff = 0, scale = 0;
        for (int64_t j = 0; j < x->numel; j++) {
            diff = fmax(diff, fabs((double)x->data[j] - (double)y->data[j]));
            scale = fmax(scale, fabs((double)x->data[j]));
        }
        const double rel = scale > 0 ? diff / scale : diff;
        worst = fmax(worst, rel);
        if (rtol == 0 ? diff != 0 : !(rel <= rtol)) {
            fprintf(stderr, "compare: %s differs: max|a-b| %.3g, relative %.3g > %.3g\n", la[i].name, diff, rel, rtol);
            bad = 1;
        }
    }
    printf("compared %d tensors: worst relative difference %.3g\n", n, worst);
    free(la), free(lb);
    tg_model_free(ma), tg_model_free(mb);
    return bad;
}

/* ---- the API under mpirun ---- */

static void test_shard(void)
{
    int64_t off, cnt;
    tg_dist_shard(64, 0, 3, &off, &cnt);
    CHECK(off == 0 && cnt == 22, "64 on 3, rank 0: [%lld,+%lld)", (long long)off, (long long)cnt);
    tg_dist_shard(64, 1, 3, &off, &cnt);
    CHECK(off == 22 && cnt == 21, "64 on 3, rank 1: [%lld,+%lld)", (long long)off, (long long)cnt);
    tg_dist_shard(64, 2, 3, &off, &cnt);
    CHECK(off == 43 && cnt == 21, "64 on 3, rank 2: [%lld,+%lld)", (long long)off, (long long)cnt);
    for (int64_t batch = 1; batch < 40; batch++)
        for (int p = 1; p <= 5; p++) {
            int64_t next = 0;
            for (int r = 0; r < p; r++) {
                tg_dist_shard(batch, r, p, &off, &cnt);
                CHECK(off == next && (cnt == batch / p || cnt == batch / p + 1), "batch %lld on %d, rank %d",
                      (long long)batch, p, r);
                next = off + cnt;
            }
            CHECK(next == batch, "batch %lld on %d ends at %lld", (long long)batch, p, (long long)next);
        }
}

static void test_agree(tg_dist *d)
{
    char err[TG_DIST_MSG_MAX] = "";
    CHECK(tg_dist_agree(d, TG_OK, NULL, err, sizeof err) == TG_OK, "all ok");
    const int bad = size - 1;
    tg_status st = tg_dist_agree(d, rank == bad ? TG_ERR_IO : TG_OK, rank == bad ? "cannot read 'x'" : NULL, err, sizeof err);
    CHECK(st == TG_ERR_IO, "agreed status %d", st);
    char want[128];
    if (rank == bad) snprintf(want, sizeof want, "cannot read 'x'");
    else snprintf(want, sizeof want, "rank %d of %d failed: cannot read 'x'", bad, size);
    CHECK(!strcmp(err, want), "message '%s', want '%s'", err, want);
}

/* grad_i of rank r = (r+1)(i+1), weight (r+1)/S with S = 1+..+P: the sum is
 * (i+1) * sum (r+1)^2 / S, computed here in double. Tiny buckets: one per parameter. */
static void test_allreduce_grads(tg_dist *d)
{
    const int64_t s3 = 3, s2 = 2;
    tg_tensor *p[2] = {tg_tensor_new(TG_REAL, 1, &s3), tg_tensor_new(TG_REAL, 1, &s2)};
    double S = 0, sq = 0;
    for (int r = 0; r < size; r++) S += r + 1, sq += (double)(r + 1) * (r + 1);
    for (size_t bytes = sizeof(tg_real); bytes <= 4096; bytes *= 64) {
        char err[TG_DIST_MSG_MAX];
        tg_dist_reducer *red = tg_dist_reducer_new(d, p, 2, bytes, err, sizeof err);
        CHECK(red, "reducer: %s", err);
        if (!red) continue;
        tg_dist_reducer_stats rs = tg_dist_reducer_get_stats(red);
        CHECK(rs.buckets == (bytes < 5 * sizeof(tg_real) ? 2 : 1), "%zu-byte buckets: %lld", bytes, (long long)rs.buckets);
        for (int k = 0; k < 2; k++) {
            tg_real *g = tg_tensor_grad(p[k]);
            for (int64_t i = 0; i < p[k]->numel; i++) g[i] = (tg_real)((rank + 1) * (i + 1));
        }
        CHECK(tg_dist_allreduce_grads(red, (rank + 1) / S, err, sizeof err) == TG_OK, "allreduce: %s", err);
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < p[k]->numel; i++) {
                const double want = (double)(i + 1) * sq / S;
                CHECK(fabs(p[k]->grad[i] - want) <= 1e-6 * want, "param %d grad[%lld] %g, want %g", k, (long long)i,
                      (double)p[k]->grad[i], want);
            }
        tg_dist_reducer_free(red);
    }
    {
        /* a tensor listed twice, each in a bucket of its own: its gradient is the weighted sum once
         * (buckets of one parameter are summed in the gradient's memory, but not a shared one's) */
        char err2[TG_DIST_MSG_MAX];
        tg_tensor *twice[2] = {p[0], p[0]};
        tg_dist_reducer *red = tg_dist_reducer_new(d, twice, 2, sizeof(tg_real), err2, sizeof err2);
        CHECK(red, "reducer over a shared tensor: %s", err2);
        tg_real *g = tg_tensor_grad(p[0]);
        for (int64_t i = 0; i < p[0]->numel; i++) g[i] = (tg_real)((rank + 1) * (i + 1));
        CHECK(red && tg_dist_allreduce_grads(red, (rank + 1) / S, err2, sizeof err2) == TG_OK, "shared: %s", err2);
        for (int64_t i = 0; i < p[0]->numel; i++) {
            const double want = (double)(i + 1) * sq / S;
            CHECK(fabs(p[0]->grad[i] - want) <= 1e-6 * want, "shared tensor grad[%lld] %g, want %g", (long long)i,
                  (double)p[0]->grad[i], want);
        }
        tg_dist_reducer_free(red);
    }
    char err[TG_DIST_MSG_MAX] = "";
    /* a parameter no gradient reached stays without one (the optimizer skips it, as PyTorch) */
    tg_tensor *unused = tg_tensor_new(TG_REAL, 1, &s2), *with[3] = {p[0], unused, p[1]};
    tg_dist_reducer *red = tg_dist_reducer_new(d, with, 3, 4096, err, sizeof err);
    CHECK(red && tg_dist_allreduce_grads(red, 1.0, err, sizeof err) == TG_OK, "with unused: %s", err);
    CHECK(unused->grad == NULL, "an unused parameter got a gradient");
    CHECK(p[0]->grad && p[1]->grad, "used parameters lost their gradients");
    tg_dist_reducer_free(red);
    tg_tensor_free(unused);
    CHECK(!tg_dist_reducer_new(d, p, 0, 1024, err, sizeof err) && strstr(err, "at least one parameter"), "n=0: '%s'", err);
    tg_tensor_free(p[0]), tg_tensor_free(p[1]);
}

static const char small_cnn[] = "input 1x6x6\nconv2d out=3 kernel=3 padding=1\nrelu\nmax_pool2d kernel=2 stride=2\n"
                                "flatten\nlinear out=5\nrelu\nlinear out=3\n";

/* Shard r's batch: 2 + r samples (uneven on purpose), values from r. */
static void shard_batch(int r, tg_tape *t, tg_tensor **x, tg_tensor **y)
{
    const int64_t n = 2 + r, xs[4] = {n, 1, 6, 6};
    *x = tg_tape_tensor(t, TG_REAL, 4, xs);
    *y = tg_tape_tensor(t, TG_INT64, 1, &n);
    for (int64_t i = 0; i < (*x)->numel; i++) (*x)->data[i] = (tg_real)sin(0.37 * (double)i + r);
    for (int64_t i = 0; i < n; i++) (*y)->idata[i] = (i + r) % 3;
}

/* The hook path (buckets started during the backward) gives the same bits as the blocking path,
 * and both equal the whole batch's gradient computed on one rank from every shard. */
static void test_hook_matches(tg_dist *d)
{
    char err[TG_DIST_MSG_MAX];
    tg_model *m = tg_model_parse(small_cnn, "small_cnn", 3, err, sizeof err);
    CHECK(m, "model: %s", err);
    if (!m) return;
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    tg_named_tensor named[16];
    tg_tensor *params[16];
    tg_module_named_tensors(m->net, false, named, np);
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    int64_t total = 0;
    for (int r = 0; r < size; r++) total += 2 + r;
    const double weight = (double)(2 + rank) / (double)total;
    tg_dist_reducer *red = tg_dist_reducer_new(d, params, np, 64, err, sizeof err); /* 64 B: many buckets */
    tg_tape *t = tg_tape_new(0);
    double *hooked = calloc(4096, sizeof *hooked), *want = calloc(4096, sizeof *want);
    for (int pass = 0; pass < 2 && red; pass++) {
        tg_tape_reset(t);
        for (int i = 0; i < np; i++) tg_tensor_zero_grad(params[i]);
        tg_tensor *x, *y;
        shard_batch(rank, t, &x, &y);
        tg_tensor *loss = tg_cross_entropy(t, tg_module_forward(m->net, t, x), y);
        CHECK(loss, "forward: %s", tg_error(t));
        if (!loss) break;
        if (pass == 0) tg_dist_reducer_begin(red, t, weight);
        CHECK(tg_backward(loss) == TG_OK, "backward: %s", tg_error(t));
        tg_status st = pass == 0 ? tg_dist_reducer_end(red, err, sizeof err) : tg_dist_allreduce_grads(red, weight, err, sizeof err);
        CHECK(st == TG_OK, "pass %d: %s", pass, err);
        int64_t k = 0;
        for (int i = 0; i < np; i++)
            for (int64_t j = 0; j < params[i]->numel && k < 4096; j++, k++) {
                if (pass == 0) hooked[k] = params[i]->grad[j];
                else CHECK(hooked[k] == params[i]->grad[j], "%s[%lld]: hook %.9g, blocking %.9g", named[i].name, (long long)j,
                           hooked[k], (double)params[i]->grad[j]);
            }
    }
    if (red) {
        tg_dist_reducer_stats rs = tg_dist_reducer_get_stats(red);
        CHECK(rs.buckets > 2 && rs.early_buckets >= rs.buckets - 1, "buckets %lld, started during backward %lld",
              (long long)rs.buckets, (long long)rs.early_buckets);
    }
    /* reference: every shard's mean-loss gradient, weighted by its share, on this rank alone */
    for (int r = 0; r < size; r++) {
        tg_tape_reset(t);
        for (int i = 0; i < np; i++) tg_tensor_zero_grad(params[i]);
        tg_tensor *x, *y;
        shard_batch(r, t, &x, &y);
        tg_tensor *loss = tg_cross_entropy(t, tg_module_forward(m->net, t, x), y);
        if (!loss || tg_backward(loss) != TG_OK) break;
        int64_t k = 0;
        for (int i = 0; i < np; i++)
            for (int64_t j = 0; j < params[i]->numel && k < 4096; j++, k++)
                want[k] += (double)(2 + r) / (double)total * params[i]->grad[j];
    }
    int64_t k = 0;
    for (int i = 0; i < np; i++)
        for (int64_t j = 0; j < params[i]->numel && k < 4096; j++, k++)
            CHECK(fabs(hooked[k] - want[k]) <= 1e-5 * fmax(fabs(want[k]), 1e-3), "%s[%lld]: %.9g, want %.9g",
                  named[i].name, (long long)j, hooked[k], want[k]);
    free(hooked), free(want);
    tg_tape_free(t);
    tg_dist_reducer_free(red);
    tg_model_free(m);
}

static void test_models_and_replicas(tg_dist *d)
{
    char err[TG_DIST_MSG_MAX] = "";
    /* different seeds: same names and shapes, different values */
    tg_model *m = tg_model_parse(small_cnn, "small_cnn", 100 + (uint64_t)rank, err, sizeof err);
    CHECK(m, "model: %s", err);
    if (!m) return;
    CHECK(tg_dist_check_model(d, m->net, "batch 8", err, sizeof err) == TG_OK, "same model: %s", err);
    CHECK(tg_dist_check_replicas(d, m->net, err, sizeof err) == TG_ERR_INVALID && strstr(err, "replicas differ: rank 1"),
          "different values: '%s'", err);
    CHECK(tg_dist_broadcast_module(d, m->net, err, sizeof err) == TG_OK, "broadcast: %s", err);
    CHECK(tg_dist_check_replicas(d, m->net, err, sizeof err) == TG_OK, "after broadcast: %s", err);
    /* a setting that differs is named */
    char settings[32];
    snprintf(settings, sizeof settings, "batch %d", rank == size - 1 ? 9 : 8);
    CHECK(tg_dist_check_model(d, m->net, settings, err, sizeof err) == TG_ERR_INVALID &&
              strstr(err, "settings batch 9 here but settings batch 8 on rank 0"),
          "settings: '%s'", err);
    tg_model_free(m);
    /* the last rank's second conv has 4 filters, not 3 */
    char text[sizeof small_cnn];
    memcpy(text, small_cnn, sizeof text);
    if (rank == size - 1) *strstr(text, "out=3 kernel") = '\0', strcat(text, "out=4 kernel=3 padding=1\nrelu\nmax_pool2d kernel=2 stride=2\nflatten\nlinear out=5\nrelu\nlinear out=3\n");
    m = tg_model_parse(text, "cnn", 1, err, sizeof err);
    CHECK(m, "model: %s", err);
    if (!m) return;
    tg_status st = tg_dist_check_model(d, m->net, NULL, err, sizeof err);
    char want[256];
    if (rank == size - 1)
        snprintf(want, sizeof want, "the model differs from rank 0's: entry 1 is parameter '0.weight' [4,1,3,3] here but "
                                    "parameter '0.weight' [3,1,3,3] on rank 0");
    else
        snprintf(want, sizeof want, "rank %d of %d failed: the model differs from rank 0's: entry 1 is parameter "
                                    "'0.weight' [4,1,3,3] here but parameter '0.weight' [3,1,3,3] on rank 0", size - 1, size);
    CHECK(st == TG_ERR_INVALID && !strcmp(err, want), "mismatch: '%s', want '%s'", err, want);
    tg_model_free(m);
}

/* Seconds per MPI_Allreduce (through a one-bucket reducer, as training uses it) for sizes 4 B ..
 * 16 MiB: the α + β·bytes fit of docs/distributed.md. */
static int bench_allreduce(tg_dist *d)
{
    char err[TG_DIST_MSG_MAX];
    for (int64_t n = 1; n <= (4 << 20); n *= 4) {
        tg_tensor *p = tg_tensor_new(TG_REAL, 1, &n);
        tg_tensor_grad(p);
        tg_dist_reducer *r = tg_dist_reducer_new(d, &p, 1, (size_t)n * sizeof(tg_real), err, sizeof err);
        if (!r) return 1;
        const int reps = n < 4096 ? 500 : n < (1 << 20) ? 50 : 10;
        tg_dist_allreduce_grads(r, 1.0, err, sizeof err); /* warm-up */
        /* the mean, and the fastest call: on a shared machine the minimum is the transport's cost,
         * the mean adds the time a descheduled rank makes the others wait */
        double total = 0, best = 1e30;
        for (int i = 0; i < reps; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            const double t = MPI_Wtime();
            tg_dist_allreduce_grads(r, 1.0, err, sizeof err);
            const double dt = MPI_Wtime() - t;
            total += dt, best = dt < best ? dt : best;
        }
        if (rank == 0)
            printf("{\"ranks\": %d, \"bytes\": %lld, \"mean_us\": %.2f, \"min_us\": %.2f}\n", size,
                   (long long)(n * (int64_t)sizeof(tg_real)), total / reps * 1e6, best * 1e6);
        tg_dist_reducer_free(r);
        tg_tensor_free(p);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "make-data")) return make_data(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc == 6 && !strcmp(argv[1], "compare")) return compare(argv[2], argv[3], argv[4], atof(argv[5]));
    const bool bench = argc == 2 && !strcmp(argv[1], "bench-allreduce");
    if (!bench && (argc != 2 || strcmp(argv[1], "api"))) {
        fprintf(stderr, "usage: mpirun -n P test_dist api | test_dist make-data DIR N_TRAIN N_TEST | "
                        "test_dist compare MODEL A B RTOL\n");
        return 1;
    }
    char err[TG_DIST_MSG_MAX];
    tg_dist *d;
    /* tg_dist_init asks Open MPI for its ring all-reduce unless the environment already chose */
    const char *algo_env = "OMPI_MCA_coll_libnbc_iallreduce_algorithm", *chosen = getenv(algo_env);
    char user_algo[32] = "";
    if (chosen) snprintf(user_algo, sizeof user_algo, "%s", chosen);
    if (tg_dist_init(&argc, &argv, &d, err, sizeof err) != TG_OK) return fprintf(stderr, "%s\n", err), 1;
    const char *now_algo = getenv(algo_env);
    CHECK(now_algo && !strcmp(now_algo, chosen ? user_algo : "1"), "%s is '%s' after init (before: '%s')", algo_env,
          now_algo ? now_algo : "(unset)", chosen ? user_algo : "(unset)");
    rank = tg_dist_rank(d), size = tg_dist_size(d);
    if (bench) {
        int rc = bench_allreduce(d);
        tg_dist_finalize(d);
        return rc;
    }
    if (size < 2) fprintf(stderr, "test_dist api: run it under mpirun -n 2 or more\n"), failures++;
    test_shard();
    test_agree(d);
    test_allreduce_grads(d);
    test_hook_matches(d);
    test_models_and_replicas(d);
    double total = failures;
    tg_dist_allreduce_sum(d, &total, 1, err, sizeof err);
    if (rank == 0) printf("test_dist api on %d ranks: %s (%d failures on rank 0, %.0f in all)\n", size,
                          total == 0 ? "ok" : "FAILED", failures, total);
    tg_dist_finalize(d);
    return total == 0 ? 0 : 1;
}
