/* tests/alloc/alloc_walk.c — `make test-alloc`: fails the N-th allocation of a workload, for every
 * N from 1 to the workload's allocation count, and checks each outcome. The library and tools
 * objects are linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,
 * --wrap=strdup so their allocations go through the counters below (libc's own, e.g. inside
 * fopen, are not counted). Built with ASan+UBSan.
 *
 * The workload: model build from a spec, forward, backward, SGD (momentum) and Adam steps,
 * checkpoint save and load, IDX + gzip dataset loading, tg_train_epoch / tg_evaluate, and the
 * `tg train` command itself (with --save). Each N runs in a forked child; the child must
 *   - exit cleanly (a signal or sanitizer report is a failure),
 *   - leak nothing (LeakSanitizer checked in the child),
 *   - either report an error (with a message) or, when it reports success, produce exactly the
 *     reference result (parameters and the saved checkpoint bytes): a silent success is a failure,
 *   - never leave a model half-updated: a failed optimizer step or checkpoint load must leave the
 *     parameters bit-identical to before.
 * An error message that does not mention memory is a failure too: a misleading report ("cannot
 * build the layer" when the cause was an allocation) sends the user the wrong way.
 *
 *   make test-alloc            # every N
 *   build/alloc/alloc_walk 123 # one N, in the foreground (for a debugger) */
#include <math.h>
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../tapegrad.h"
#include "../../nn/data.h"

int tg_cmd_train(int argc, char **argv);

/* ---- the failing allocator ---- */
static long alloc_count, fail_at; /* fail_at 0: never */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);

static int should_fail(void) { return ++alloc_count == fail_at; }
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) { return should_fail() ? NULL : __real_aligned_alloc(align, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }

/* ---- the workload ---- */
#define DATA_DIR "build/alloc/data"
#define SPEC "input 1x3x4\nconv2d out=2 kernel=3 padding=1\nbatch_norm\nrelu\nflatten\nlinear out=5\n"

static char message[512]; /* the error the workload stopped at */

/* Child exit codes besides 0 (success) and 1 (a clean error). */
enum { EXIT_HALF_UPDATED = 3, EXIT_LEAK = 4, EXIT_NO_MESSAGE = 5 };

static uint64_t params_hash(tg_module *net)
{
    tg_named_tensor e[32];
    const int n = tg_module_named_tensors(net, true, e, 32);
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n && i < 32; i++)
        for (int64_t j = 0; j < e[i].tensor->numel; j++) {
            uint64_t bits = 0;
            memcpy(&bits, &e[i].tensor->data[j], sizeof e[i].tensor->data[j]);
            h = (h ^ bits) * 1099511628211ull;
        }
    return h;
}

#define FAIL(...) (snprintf(message, sizeof message, __VA_ARGS__), 1)

/* One forward + backward + optimizer step; the step must be all or nothing. */
static int train_step(tg_model *m, tg_optim *opt, tg_tape *t, const tg_dataset *d)
{
    tg_batcher b;
    if (tg_batcher_init(&b, d, 4, true, 5) != TG_OK) return FAIL("batcher: out of memory");
    int64_t xs[4] = {4, d->c, d->h, d->w}, n = 4;
    tg_tensor *x = tg_tensor_new(TG_REAL, 4, xs), *y = tg_tensor_new(TG_INT64, 1, &n);
    int rc = 0;
    if (!x || !y) {
        rc = FAIL("batch tensors: out of memory");
    } else {
        tg_batcher_next(&b, x, y);
        tg_tape_reset(t);
        tg_optim_zero_grad(opt);
        tg_tensor *loss = tg_cross_entropy(t, tg_module_forward(m->net, t, x), y);
        if (!loss) rc = FAIL("%s", tg_error(t) ? tg_error(t) : "");
        else if (tg_backward(loss) != TG_OK) rc = FAIL("%s", tg_error(t) ? tg_error(t) : "");
        if (!rc) {
            const uint64_t before = params_hash(m->net);
            if (tg_optim_step(opt)) {
                if (params_hash(m->net) != before) _exit(EXIT_HALF_UPDATED);
                rc = FAIL("%s", opt->error);
            }
        }
    }
    tg_tensor_free(x), tg_tensor_free(y);
    tg_batcher_free(&b);
    return rc;
}

/* Returns 0 with *result set on success, 1 with message set on a clean error. */
static int workload(uint64_t *result)
{
    char err[512] = "";
    tg_model *m = NULL;
    tg_dataset *d = NULL;
    tg_optim *sgd = NULL, *adam = NULL;
    tg_tape *t = NULL;
    tg_tensor **params = NULL;
    int rc = 0;
    if (!(m = tg_model_parse(SPEC, "alloc", 7, err, sizeof err))) return FAIL("%s", err);
    if (tg_dataset_load_idx(DATA_DIR "/train-images-idx3-ubyte.gz", DATA_DIR "/train-labels-idx1-ubyte.gz", &d, err,
                            sizeof err) != TG_OK) {
        rc = FAIL("%s", err);
        goto done;
    }
    if (!(t = tg_tape_new(0))) {
        rc = FAIL("tape: out of memory");
        goto done;
    }
    const int np = tg_module_named_tensors(m->net, false, NULL, 0);
    params = calloc((size_t)np, sizeof *params);
    tg_named_tensor named[32];
    tg_module_named_tensors(m->net, false, named, 32);
    tg_optim_config sc = tg_optim_defaults(TG_OPTIM_SGD), ac = tg_optim_defaults(TG_OPTIM_ADAM);
    sc.momentum = 0.9;
    sgd = tg_optim_new_checked(&sc, err, sizeof err);
    adam = tg_optim_new_checked(&ac, err, sizeof err);
    if (!params || !sgd || !adam) {
        rc = FAIL("%s", params ? err : "params: out of memory");
        goto done;
    }
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    if (tg_optim_add_group(sgd, params, np, NAN, NAN) < 0 || tg_optim_add_params_split_decay(adam, params, np)) {
        rc = FAIL("%s", sgd->error[0] ? sgd->error : adam->error);
        goto done;
    }
    for (int step = 0; step < 2 && !rc; step++) rc = train_step(m, sgd, t, d);
    for (int step = 0; step < 2 && !rc; step++) rc = train_step(m, adam, t, d);
    if (rc) goto done;

    /* checkpoint round trip: a failed load leaves the model as it was */
    if (tg_checkpoint_save(DATA_DIR "/walk.ckpt", m->net, adam, NULL, NULL, err, sizeof err) != TG_OK) {
        rc = FAIL("%s", err);
        goto done;
    }
    const uint64_t before = params_hash(m->net);
    if (tg_checkpoint_load(DATA_DIR "/walk.ckpt", m->net, adam, NULL, NULL, err, sizeof err) != TG_OK) {
        if (params_hash(m->net) != before) _exit(EXIT_HALF_UPDATED);
        rc = FAIL("%s", err);
        goto done;
    }
    tg_epoch_stats st;
    tg_batcher b;
    if (tg_batcher_init(&b, d, 2, true, 9) != TG_OK) {
        rc = FAIL("batcher: out of memory");
        goto done;
    }
    if (tg_train_epoch(m->net, adam, &b, t, &st, NULL, NULL) != TG_OK ||
        tg_evaluate(m->net, d, 3, t, &st) != TG_OK)
        rc = FAIL("%s", tg_error(t) ? tg_error(t) : "");
    tg_batcher_free(&b);
    if (!rc) *result = params_hash(m->net);
done:
    free(params);
    tg_optim_free(sgd), tg_optim_free(adam);
    tg_tape_free(t);
    tg_dataset_free(d);
    tg_model_free(m);
    return rc;
}

/* `tg train` on the same data; 0 and the saved checkpoint's hash, or its exit code. */
static int tool_workload(uint64_t *result)
{
    FILE *spec = fopen(DATA_DIR "/model.txt", "w");
    if (!spec) return 125;
    fputs(SPEC, spec);
    fclose(spec);
    char *argv[] = {"train", DATA_DIR "/model.txt", "--data", DATA_DIR, "--epochs", "2", "--batch", "2",
                    "--optim", "adam", "--save", DATA_DIR "/tool.ckpt", /* the step options allocate too */
                    "--agc", "0.05", "--clip-norm", "1", "--warmup", "2", "--label-smoothing", "0.1",
                    "--step-csv", DATA_DIR "/steps.csv", "--log-every", "1", NULL};
    const int rc = tg_cmd_train((int)(sizeof argv / sizeof *argv) - 1, argv);
    if (rc) return rc;
    uint8_t *bytes;
    size_t len;
    fail_at = 0; /* reading the result back is not part of the workload */
    if (tg_read_file(DATA_DIR "/tool.ckpt", 0, &bytes, &len, NULL, 0) != TG_OK) return 125;
    *result = tg_crc32(0, bytes, len) ^ (uint64_t)len << 32;
    free(bytes);
    return 0;
}

/* Runs both workloads in a child failing allocation n (0: none). The child's stderr goes to a
 * file so the tool's message can be read. Returns the exit status (128 + signal on a crash). */
static int run_child(long n, int tool, uint64_t *result, long *count, char *msg, size_t msgsz)
{
    int pipefd[2];
    if (pipe(pipefd)) return 126;
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        if (!freopen("/dev/null", "w", stdout) || !freopen(DATA_DIR "/stderr.txt", "w", stderr)) _exit(125);
        fail_at = n, alloc_count = 0;
        uint64_t r = 0;
        int rc = tool ? tool_workload(&r) : workload(&r);
        const long used = alloc_count;
        fail_at = 0;
        fflush(stderr);
        if (rc && tool) {
            FILE *f = fopen(DATA_DIR "/stderr.txt", "r");
            message[0] = 0;
            if (f) {
                const size_t got = fread(message, 1, sizeof message - 1, f);
                message[got] = 0;
                fclose(f);
            }
        }
        if (rc && !message[0]) rc = EXIT_NO_MESSAGE;
        if (__lsan_do_recoverable_leak_check()) rc = EXIT_LEAK;
        struct { uint64_t r; long used; char msg[512]; } out = {r, used, ""};
        snprintf(out.msg, sizeof out.msg, "%s", message);
        if (write(pipefd[1], &out, sizeof out) != (ssize_t)sizeof out) _exit(126);
        _exit(rc ? (rc == 1 || rc == 2 ? 1 : rc) : 0);
    }
    close(pipefd[1]);
    struct { uint64_t r; long used; char msg[512]; } out = {0, 0, ""};
    const ssize_t got = read(pipefd[0], &out, sizeof out);
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got == (ssize_t)sizeof out) {
        *result = out.r, *count = out.used;
        snprintf(msg, msgsz, "%s", out.msg);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int copy_file(const char *from, const char *to)
{
    uint8_t *b;
    size_t len;
    if (tg_read_file(from, 0, &b, &len, NULL, 0) != TG_OK) return -1;
    FILE *f = fopen(to, "wb");
    const int ok = f && fwrite(b, 1, len, f) == len;
    if (f) fclose(f);
    free(b);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    tg_set_threads(1);
    if (system("mkdir -p " DATA_DIR) != 0 ||
        copy_file("tests/data/nn_images_stored.gz", DATA_DIR "/train-images-idx3-ubyte.gz") ||
        copy_file("tests/data/nn_labels_fixed.gz", DATA_DIR "/train-labels-idx1-ubyte.gz") ||
        copy_file("tests/data/nn_images.idx", DATA_DIR "/t10k-images-idx3-ubyte") ||
        copy_file("tests/data/nn_labels.idx", DATA_DIR "/t10k-labels-idx1-ubyte")) {
        fprintf(stderr, "alloc_walk: cannot set up " DATA_DIR " (run from the repository root)\n");
        return 2;
    }
    int failures = 0, misleading = 0;
    for (int tool = 0; tool < 2; tool++) {
        const char *name = tool ? "tg train" : "library";
        uint64_t want = 0, got = 0;
        long total = 0, used = 0;
        char msg[512];
        const int ref = run_child(0, tool, &want, &total, msg, sizeof msg);
        if (ref != 0) {
            fprintf(stderr, "alloc_walk: %s: the reference run failed (exit %d): %s\n", name, ref, msg);
            return 1;
        }
        long first = 1, last = total;
        if (argc > 1) first = last = atol(argv[1]);
        long errors = 0, recovered = 0;
        for (long n = first; n <= last; n++) {
            got = 0, msg[0] = 0;
            const int rc = run_child(n, tool, &got, &used, msg, sizeof msg);
            const char *bad = rc == 0 && got != want              ? "silent success with another result"
                              : rc == EXIT_HALF_UPDATED          ? "half-updated model"
                              : rc == EXIT_LEAK                  ? "leak"
                              : rc == EXIT_NO_MESSAGE            ? "error without a message"
                              : rc != 0 && rc != 1               ? "crash"
                                                                 : NULL;
            if (bad) {
                failures++;
                fprintf(stderr, "alloc_walk: %s: allocation %ld of %ld failed: %s (exit %d) %s\n", name, n, total, bad,
                        rc, msg);
            } else if (rc == 0) {
                recovered++;
            } else {
                errors++;
                if (!strstr(msg, "memory")) {
                    misleading++;
                    fprintf(stderr, "alloc_walk: %s: allocation %ld: message does not say out of memory: %s", name, n,
                            msg);
                    if (!strchr(msg, '\n')) fputc('\n', stderr);
                }
            }
        }
        printf("alloc_walk: %s: %ld allocations walked: %ld clean errors, %ld recovered with the same result\n",
               name, last - first + 1, errors, recovered);
    }
    printf("alloc_walk: %d failures, %d messages not naming memory\n", failures, misleading);
    return failures || misleading ? 1 : 0;
}
