/* tests/tsan/stress.c — `make test-tsan`: two user threads use the library at once, the way the
 * threading rule (docs/reliability.md) allows: each its own model, tape and optimizer; both
 * gunzip the same bytes (the fixed-Huffman and CRC tables are built once, under pthread_once);
 * both read the conv algorithm setting; the shared thread pool serves both. Run under
 * ThreadSanitizer, any race is a report; the results must also equal a single-threaded run. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tapegrad.h"
#include "../../nn/data.h"

#define ROUNDS 3
static const char spec[] = "input 1x8x8\nconv2d out=4 kernel=3 padding=1\nbatch_norm\nrelu\nmax_pool2d kernel=2\n"
                           "flatten\nlinear out=3\n";
/* a dynamic-Huffman and a fixed-Huffman member: both lazily built tables are raced for */
static const char *const gz_paths[2] = {"tests/data/nn_text_dynamic.gz", "tests/data/nn_labels_fixed.gz"};
static uint8_t *gz[2];
static size_t gz_len[2];

typedef struct job {
    uint64_t seed;
    double loss;     /* the last step's loss */
    uint32_t crc;    /* CRC-32 of what was gunzipped */
    int failed;
} job;

static void *work(void *arg)
{
    job *j = arg;
    char err[256];
    tg_model *m = tg_model_parse(spec, "stress", j->seed, err, sizeof err);
    tg_tape *t = tg_tape_new(0);
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_ADAM);
    tg_optim *opt = tg_optim_new(&cfg);
    tg_named_tensor named[16];
    tg_tensor *params[16];
    if (!m || !t || !opt) return j->failed = 1, NULL;
    const int np = tg_module_named_tensors(m->net, false, named, 16);
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    tg_optim_add_group(opt, params, np, NAN, NAN);
    for (int r = 0; r < ROUNDS && !j->failed; r++) {
        for (int g = 0; g < 2; g++) {
            uint8_t *out;
            size_t len;
            if (tg_gunzip(gz[g], gz_len[g], &out, &len, err, sizeof err) != TG_OK) j->failed = 1;
            else j->crc = tg_crc32(j->crc, out, len), free(out);
        }
        (void)tg_conv_get_algo();
        tg_tape_reset(t);
        const int64_t xs[4] = {4, 1, 8, 8}, n = 4;
        tg_tensor *x = tg_tape_tensor(t, TG_REAL, 4, xs), *y = tg_tape_tensor(t, TG_INT64, 1, &n);
        for (int64_t i = 0; x && i < x->numel; i++) x->data[i] = (tg_real)sin((double)(i + r));
        for (int i = 0; y && i < 4; i++) y->idata[i] = i % 3;
        tg_optim_zero_grad(opt);
        tg_tensor *loss = tg_cross_entropy(t, tg_module_forward(m->net, t, x), y);
        if (!loss || tg_backward(loss) != TG_OK || tg_optim_step(opt)) j->failed = 1;
        else j->loss = loss->data[0];
    }
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_model_free(m);
    return NULL;
}

int main(void)
{
    for (int g = 0; g < 2; g++)
        if (tg_read_file(gz_paths[g], 0, &gz[g], &gz_len[g], NULL, 0) != TG_OK) {
            fprintf(stderr, "stress: run from the repository root\n");
            return 2;
        }
    tg_set_threads(2);
    job alone = {.seed = 11};
    job pair[2] = {{.seed = 11}, {.seed = 11}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, work, &pair[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    work(&alone); /* afterwards: the same work on one thread gives the reference */
    int bad = alone.failed;
    for (int i = 0; i < 2; i++)
        if (pair[i].failed || pair[i].loss != alone.loss || pair[i].crc != alone.crc) bad = 1;
    printf("stress: 2 threads x %d rounds: loss %.6f / %.6f (alone %.6f), gunzip crc %08x / %08x (alone %08x): %s\n",
           ROUNDS, pair[0].loss, pair[1].loss, alone.loss, (unsigned)pair[0].crc, (unsigned)pair[1].crc,
           (unsigned)alone.crc, bad ? "FAILED" : "ok");
    free(gz[0]), free(gz[1]);
    return bad;
}
