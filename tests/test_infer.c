/* tests/test_infer.c — inference and memory reuse: tg_model_infer against the recorded eval
 * forward (bit-identical, buffers reused, no growth after the first call, bad arguments named),
 * tg_fold_batch_norms against the unfolded model on many layer kinds with non-trivial running
 * statistics (what it folds, what it leaves, what it refuses), tg_predictor folding at load,
 * and gradients freed during the walk (tg_tape_set_release_grads) giving the same parameter
 * gradients. */
#include "util.h"

#include <stdlib.h>

#include "../graph/tape_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define TT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_ASAN 1
#endif
#endif
#ifdef TT_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define MAX_NAMED 256

static tg_model *parse(const char *spec)
{
    char err[256];
    tg_model *m = tg_model_parse(spec, "test", 5, err, sizeof err);
    ck_assert_msg(m != NULL, "spec: %s", err);
    return m;
}

/* Non-trivial batch-norm state: running mean in [-1, 1), variance in [0.3, 2.3), γ in
 * [0.5, 1.5), β in [-0.5, 0.5), so a fold that drops any term changes the output. */
static void randomize_bn(tg_model *m, uint64_t seed)
{
    tg_named_tensor named[MAX_NAMED];
    const int n = tg_module_named_tensors(m->net, true, named, MAX_NAMED);
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        tg_tensor *t = named[i].tensor;
        if (strcmp(tg_module_type(named[i].owner), "batch_norm")) continue;
        const char *leaf = strrchr(named[i].name, '.') ? strrchr(named[i].name, '.') + 1 : named[i].name;
        double lo = -1, span = 2;
        if (!strcmp(leaf, "running_var")) lo = 0.3, span = 2;
        else if (!strcmp(leaf, "weight")) lo = 0.5, span = 1;
        else if (!strcmp(leaf, "bias")) lo = -0.5, span = 1;
        for (int64_t k = 0; k < t->numel; k++) t->data[k] = (tg_real)(lo + span * tg_rng_uniform(&rng));
    }
}

static tg_tensor *input_for(const tg_model *m, int64_t batch, uint64_t seed)
{
    int64_t shape[5] = {batch};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    return tt_random(m->in_ndim + 1, shape, seed, -1, 1);
}

static tg_tensor *output_for(const tg_model *m, int64_t batch)
{
    int64_t shape[TG_MAX_DIMS + 1] = {batch};
    for (int i = 0; i < m->out_ndim; i++) shape[i + 1] = m->out_shape[i];
    return tt_tensor(m->out_ndim + 1, shape, NULL);
}

static tg_tensor *infer(tg_model *m, const tg_tensor *x)
{
    tg_tensor *y = output_for(m, x->shape[0]);
    char err[256];
    ck_assert_msg(tg_model_infer(m, x, y, err, sizeof err) == TG_OK, "infer: %s", err);
    return y;
}

static int count_type(const tg_module *m, const char *type)
{
    int n = !strcmp(tg_module_type(m), type);
    for (int i = 0; i < tg_module_child_count(m); i++) n += count_type(tg_module_child(m, i), type);
    return n;
}

static void assert_all_close(const tg_tensor *got, const tg_tensor *want, double tol)
{
    ck_assert_int_eq(got->numel, want->numel);
    for (int64_t i = 0; i < got->numel; i++) {
        const double g = got->data[i], w = want->data[i];
        ck_assert_msg(fabs(g - w) <= tol * (1 + fabs(w)), "index %lld: %.17g vs %.17g", (long long)i, g, w);
    }
}

/* Folds m (in eval mode) and checks: the count folded / left, BN layers gone, and the same
 * outputs as before on two batch sizes. */
static void check_fold(const char *spec, int want_folded, int want_kept)
{
    tg_model *m = parse(spec);
    randomize_bn(m, 11);
    tg_module_train(m->net, false);
    tg_tensor *x1 = input_for(m, 1, 3), *x5 = input_for(m, 5, 4);
    tg_tensor *before1 = infer(m, x1), *before5 = infer(m, x5);
    const int bns = count_type(m->net, "batch_norm");
    char err[256] = "";
    int kept = -1;
    const int folded = tg_fold_batch_norms(m, &kept, err, sizeof err);
    ck_assert_msg(folded == want_folded && kept == want_kept, "%s\nfolded %d (want %d), left %d (want %d): %s", spec,
                  folded, want_folded, kept, want_kept, err);
    ck_assert_int_eq(count_type(m->net, "batch_norm"), bns - folded);
    /* the fold is exact algebra: float64 agrees to rounding, float32 to a few ulps of the sums */
    const double tol = TT_DOUBLE ? 1e-11 : 2e-5;
    assert_all_close(infer(m, x1), before1, tol);
    assert_all_close(infer(m, x5), before5, tol);
    tg_model_free(m);
}

START_TEST(fold_matches_unfolded_on_many_layers)
{
    /* conv2d with and without bias, stride, dilation, reflect padding, groups, depthwise */
    check_fold("input 3x9x11\nconv2d out=6 kernel=3 padding=1\nbatch_norm\nrelu\n"
               "conv2d out=4 kernel=3 stride=2 dilation=2 padding=2 bias=0\nbatch_norm\n"
               "conv2d out=8 kernel=3,1 groups=2 padding=1 padding_mode=reflect\nbatch_norm\nrelu\n"
               "conv2d out=8 kernel=3 groups=8 bias=0\nbatch_norm\nflatten\nlinear out=7\nbatch_norm\n"
               "linear out=3 bias=0\nbatch_norm\n",
               6, 0);
    /* conv1d and conv3d, odd sizes */
    check_fold("input 5x13\nconv1d out=7 kernel=4 stride=3 padding=2\nbatch_norm\nrelu\nconv1d out=3 kernel=1 bias=0\n"
               "batch_norm\n",
               2, 0);
    check_fold("input 2x5x6x7\nconv3d out=5 kernel=3 padding=1 bias=0\nbatch_norm\nrelu\nconv3d out=3 kernel=2\n"
               "batch_norm\n",
               2, 0);
    /* transposed convolutions: output channels in the weight's dim 1, per group */
    check_fold("input 4x5x6\nconv_transpose2d out=6 kernel=3 stride=2 groups=2\nbatch_norm\n"
               "conv_transpose2d out=3 kernel=2 bias=0\nbatch_norm\n",
               2, 0);
    check_fold("input 6x9\nconv_transpose1d out=9 kernel=3 groups=3 padding=1 bias=0\nbatch_norm\n", 1, 0);
}
END_TEST

START_TEST(fold_leaves_what_it_cannot_fold)
{
    /* first layer; after a relu; after a pool; batch statistics (no running stats) */
    check_fold("input 3x6x6\nbatch_norm\nconv2d out=4 kernel=3\nrelu\nbatch_norm\nmax_pool2d kernel=2\nbatch_norm\n"
               "conv2d out=4 kernel=1\nbatch_norm track_running_stats=0\n",
               0, 4);
    /* the conv's output is also read by the join: folding would change what the add sees */
    check_fold("input 4x5x5\nconv2d out=4 kernel=3 padding=1 id=a\nbatch_norm\nrelu\nadd from=a\n"
               "conv2d out=4 kernel=1 id=b\nbatch_norm\nconcat from=b,.\n",
               0, 2);
    /* linear on [N, L, F]: batch norm's channels are L (= 4 here, as the features), not the
     * linear's outputs, so it must stay */
    check_fold("input 4x6\nlinear out=4\nbatch_norm\n", 0, 1);
    /* a batch norm's own id moves to the layer it folds into, so the join still finds it */
    check_fold("input 3x5x5\nconv2d out=3 kernel=3 padding=1\nbatch_norm id=s\nrelu\nconv2d out=3 kernel=3 padding=1\n"
               "batch_norm\nadd from=s\n",
               2, 0);
}
END_TEST

/* A batch norm after a nested sequential folds into that sequential's last layer. */
START_TEST(fold_follows_nested_sequentials)
{
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    tg_module *net = tg_sequential("net");
    tg_module *inner = tg_sequential_add(net, tg_sequential("block"));
    tg_sequential_add(inner, tg_conv_layer(2, 2, 3, 3, 1, true, &rng));
    tg_sequential_add(inner, tg_op_layer("relu"));
    tg_sequential_add(inner, tg_conv_layer(2, 3, 4, 3, 1, false, &rng));
    tg_sequential_add(net, tg_batch_norm_layer(4));
    char err[256];
    tg_model *m = tg_model_wrap(net, 3, (const int64_t[]){2, 7, 7}, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    randomize_bn(m, 2);
    tg_module_train(m->net, false);
    tg_tensor *x = input_for(m, 3, 1), *before = infer(m, x);
    int kept = -1;
    ck_assert_int_eq(tg_fold_batch_norms(m, &kept, err, sizeof err), 1);
    ck_assert_int_eq(kept, 0);
    ck_assert_int_eq(tg_module_child_count(m->net), 1);
    ck_assert_ptr_nonnull(tg_module_tensor(tg_module_find(m->net, "block.2"), "bias")); /* given one */
    assert_all_close(infer(m, x), before, TT_DOUBLE ? 1e-11 : 2e-5);
    tg_model_free(m);
}
END_TEST

START_TEST(fold_refuses_training_mode_and_null)
{
    tg_model *m = parse("input 2x4x4\nconv2d out=3 kernel=3\nbatch_norm\nrelu\n");
    char err[256] = "";
    int kept = 7;
    ck_assert_int_eq(tg_fold_batch_norms(m, &kept, err, sizeof err), -1); /* models start in training mode */
    ck_assert_msg(strstr(err, "fold_batch_norms: layer '1' (batch_norm) is in training mode"), "%s", err);
    ck_assert_int_eq(kept, 0);
    ck_assert_int_eq(count_type(m->net, "batch_norm"), 1); /* nothing changed */
    ck_assert_ptr_null(tg_module_tensor(m->net, "bias"));
    ck_assert_int_eq(tg_fold_batch_norms(NULL, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "the model is NULL"), "%s", err);
    tg_model_free(m);
}
END_TEST

/* A model with every join kind, identities (eval dropout) after an id'd output and after a plain
 * one, and a pool, so the activations released on the way are the tricky ones. */
static const char *const joins_spec =
    "input 2x12x12\nconv2d out=8 kernel=3 padding=1\nbatch_norm\nrelu id=a\ndropout p=0.3\n"
    "conv2d out=8 kernel=3 padding=1\nbatch_norm\nrelu\ndropout p=0.2\nconv2d out=8 kernel=3 padding=1\nadd from=a\n"
    "relu id=b\n"
    "max_pool2d kernel=2\nconv2d out=6 kernel=1 id=c\nrelu\nconcat from=c,.\nconv2d out=5 kernel=3\n"
    "global_avg_pool\nflatten\nlinear out=4\n";

START_TEST(infer_equals_recorded_forward)
{
    tg_model *m = parse(joins_spec);
    randomize_bn(m, 4);
    for (int64_t batch = 1; batch <= 7; batch += 6) {
        tg_tensor *x = input_for(m, batch, (uint64_t)batch);
        tg_tensor *y = infer(m, x);
        ck_assert(m->net->training); /* the mode is restored */
        /* the reference: the same model in eval mode on a recording tape (nothing released) */
        tg_module_train(m->net, false);
        tg_tape *t = tt_tape();
        x->requires_grad = true;
        tg_tensor *ref = tg_module_forward(m->net, t, x);
        x->requires_grad = false;
        tg_module_train(m->net, true);
        ck_assert_msg(ref != NULL, "%s", tg_error(t));
        ck_assert_int_gt(tg_tape_node_count(t), 0);
        ck_assert_int_eq(ref->numel, y->numel);
        ck_assert_msg(!memcmp(ref->data, y->data, (size_t)y->numel * sizeof *y->data), "batch %lld differs",
                      (long long)batch);
    }
    ck_assert_int_eq(tg_tape_node_count(m->infer_tape), 0); /* nothing recorded */
    tg_model_free(m);
}
END_TEST

/* What inference skips gives the recorded forward's bits (where every layer runs alone and keeps
 * everything): max pools without indices (and with them when an unpool reads one); a convolution
 * followed by ReLU or leaky ReLU as one op (the activation in the conv's bias pass), biased and
 * unbiased, 1-D/2-D, transposed, folded batch norms, an id on the activation (a join reads it) and
 * on the conv (not fused: the join reads the conv's own output); a residual add's activation in
 * place. */
START_TEST(infer_shortcuts_are_exact)
{
    static const char *const specs[] = {
        /* max pools: indices unused (none kept); with an unpool reading one: kept */
        "input 2x12x12\nconv2d out=4 kernel=3 padding=1\nrelu\nmax_pool2d kernel=2\nconv2d out=4 kernel=3\n"
        "max_pool2d kernel=3 stride=2 padding=1\nglobal_max_pool\nflatten\nlinear out=3\n",
        "input 2x12x12\nconv2d out=4 kernel=3 padding=1\nrelu\nmax_pool2d kernel=2 id=p\nconv2d out=4 kernel=3 "
        "padding=1\nmax_unpool2d from=p kernel_size=2\nrelu\nflatten\nlinear out=3\n",
        "input 3x9x9\nconv2d out=6 kernel=3 padding=1\nrelu\nconv2d out=6 kernel=3 padding=1 bias=0\nleaky_relu "
        "negative_slope=0.2 id=a\nconv2d out=6 kernel=1 id=b\nrelu\nadd from=b\nconcat from=a,.\n"
        "conv_transpose2d out=4 kernel=2 stride=2\nrelu\nconv2d out=4 kernel=3 bias=0\nbatch_norm\nrelu\n"
        "global_avg_pool\nflatten\nlinear out=3\n",
        "input 2x30\nconv1d out=8 kernel=5 padding=2 bias=0\nbatch_norm\nleaky_relu\nmax_pool1d kernel=2\n"
        "conv1d out=8 kernel=3 dilation=2 padding=2\nbatch_norm\nrelu\nflatten\nlinear out=2\n",
    };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        tg_model *m = parse(specs[k]);
        randomize_bn(m, 8);
        tg_module_train(m->net, false);
        char err[256];
        ck_assert_int_ge(tg_fold_batch_norms(m, NULL, err, sizeof err), 0);
        for (int64_t batch = 1; batch <= 5; batch += 4) {
            tg_tensor *x = input_for(m, batch, 20 + (uint64_t)batch);
            tg_tensor *y = infer(m, x);
            tg_tape *t = tt_tape();
            x->requires_grad = true; /* recording: nothing is fused */
            tg_tensor *ref = tg_module_forward(m->net, t, x);
            x->requires_grad = false;
            ck_assert_msg(ref != NULL, "%s", tg_error(t));
            ck_assert_int_eq(ref->numel, y->numel);
            ck_assert_msg(!memcmp(ref->data, y->data, (size_t)y->numel * sizeof *y->data), "spec %zu batch %lld differs",
                          k, (long long)batch);
        }
        tg_model_free(m);
    }
}
END_TEST

/* The plain eval forward of x[begin:begin+count] on a fresh tape (the reference for one sub-batch). */
static tg_tensor *forward_slice(tg_model *m, const tg_tensor *x, int64_t begin, int64_t count)
{
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = count;
    const int64_t per = x->numel / x->shape[0];
    tg_tensor *part = tt_tensor(x->ndim, shape, NULL);
    memcpy(part->data, x->data + begin * per, (size_t)(count * per) * sizeof(tg_real));
    tg_module_train(m->net, false);
    tg_tape *t = tg_tape_new(0);
    tg_no_grad_begin(t);
    tg_tensor *y = tg_module_forward(m->net, t, part);
    tg_no_grad_end(t);
    tg_module_train(m->net, true);
    ck_assert_msg(y != NULL, "%s", tg_error(t));
    tg_tensor *kept = tt_tensor(y->ndim, y->shape, NULL);
    memcpy(kept->data, y->data, (size_t)y->numel * sizeof(tg_real));
    tg_tape_free(t);
    return kept;
}

/* Sub-batches: with a small byte budget every model here runs in several; each sample's output
 * is, bit for bit, the plain forward of its sub-batch alone, for any thread count. */
START_TEST(infer_in_sub_batches_equals_each_sub_batch)
{
    static const char *const specs[] = {
        joins_spec,
        /* nested sequentials, avg pool, eval dropout at the end of the prefix, a dense head */
        "input 3x10x10\nconv2d out=6 kernel=3 padding=1\nbatch_norm\nrelu\navg_pool2d kernel=2\n"
        "conv2d out=4 kernel=3 padding=1 groups=2\nsigmoid\nflatten\ndropout\nlinear out=5\nsoftmax dim=1\n",
        "input 2x40\nconv1d out=5 kernel=5 padding=2 dilation=1\nleaky_relu\nmax_pool1d kernel=2\n"
        "conv1d out=3 kernel=3 padding=2 dilation=2\ntanh\nglobal_avg_pool\nflatten\nlinear out=2\n",
    };
    const int saved = tg_get_threads();
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        tg_model *m = parse(specs[k]);
        randomize_bn(m, 6);
        const int64_t n = 11;
        tg_tensor *x = input_for(m, n, 9);
        tg_infer_set_chunk_bytes(1); /* one sample per sub-batch */
        int prefix = 0;
        ck_assert_int_eq(tg_model_infer_sub_batches(m, n, &prefix), n);
        ck_assert_int_eq(prefix, tg_module_child_count(m->net));
        tg_tensor *single = infer(m, x);
        for (int64_t i = 0; i < n; i++) {
            tg_tensor *want = forward_slice(m, x, i, 1);
            ck_assert_msg(!memcmp(single->data + i * want->numel, want->data, (size_t)want->numel * sizeof(tg_real)),
                          "spec %zu sample %lld differs from its own forward", k, (long long)i);
        }
        /* budgets from one input sample up, doubling, until the batch runs whole */
        const int64_t per_sample = x->numel / n;
        for (size_t bytes = per_sample * sizeof(tg_real); bytes < ((size_t)64 << 20); bytes *= 2) {
            tg_infer_set_chunk_bytes(bytes);
            const int64_t chunks = tg_model_infer_sub_batches(m, n, &prefix);
            if (chunks == 1) break;
            ck_assert_int_le(chunks, n);
            tg_set_threads(1);
            tg_tensor *y = infer(m, x);
            for (int64_t c = 0; c < chunks; c++) {
                const int64_t begin = c * n / chunks, count = (c + 1) * n / chunks - begin;
                tg_tensor *want = forward_slice(m, x, begin, count);
                if (prefix == tg_module_child_count(m->net))
                    ck_assert_msg(!memcmp(y->data + begin * (want->numel / count), want->data,
                                          (size_t)want->numel * sizeof(tg_real)),
                                  "spec %zu, %lld sub-batches: samples from %lld differ", k, (long long)chunks,
                                  (long long)begin);
            }
            /* the whole batch at once agrees to rounding */
            tg_infer_set_chunk_bytes((size_t)1 << 40);
            ck_assert_int_eq(tg_model_infer_sub_batches(m, n, NULL), 1);
            assert_all_close(y, infer(m, x), TT_DOUBLE ? 1e-12 : 1e-5);
            tg_infer_set_chunk_bytes(bytes);
            for (int threads = 2; threads <= 3; threads++) {
                tg_set_threads(threads);
                tg_tensor *again = infer(m, x);
                ck_assert_msg(!memcmp(again->data, y->data, (size_t)y->numel * sizeof(tg_real)),
                              "spec %zu: %d threads differ from 1", k, threads);
            }
        }
        tg_set_threads(saved);
        tg_infer_set_chunk_bytes(0);
        tg_model_free(m);
    }
}
END_TEST

/* Layers that mix samples end the sub-batched prefix, and so does a join naming an output from
 * before such a layer; the results are those of the whole batch at once. */
START_TEST(infer_sub_batches_stop_where_samples_mix)
{
    static const struct {
        const char *spec;
        int prefix; /* children run in sub-batches */
    } cases[] = {
        /* batch norm without running statistics normalises by the batch in eval mode too */
        {"input 2x6x6\nconv2d out=3 kernel=3\nrelu\nbatch_norm track_running_stats=0\nflatten\nlinear out=2\n", 2},
        /* a join after it names the conv's output: the prefix ends right after the conv */
        {"input 2x6x6\nconv2d out=3 kernel=3 padding=1 id=a\nrelu\nbatch_norm track_running_stats=0\nadd from=a\n"
         "flatten\nlinear out=2\n", 1},
        /* ... or names the model's input: nothing runs in sub-batches */
        {"input 3x6x6\nrelu\nbatch_norm track_running_stats=0\nconcat from=input,.\nflatten\nlinear out=2\n", 0},
        /* softmax over the batch dim */
        {"input 4\nlinear out=3\nsoftmax dim=0\nlinear out=2\n", 1},
        /* a reshape may fold samples together: never sub-batched */
        {"input 2x4x4\nconv2d out=2 kernel=1\nreshape shape=-1,16\nlinear out=2\n", 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_model *m = parse(cases[k].spec);
        const int64_t n = 8;
        tg_tensor *x = input_for(m, n, 2);
        tg_infer_set_chunk_bytes((size_t)1 << 40);
        tg_tensor *whole = infer(m, x);
        tg_infer_set_chunk_bytes(1);
        int prefix = -1;
        const int64_t chunks = tg_model_infer_sub_batches(m, n, &prefix);
        ck_assert_msg(prefix == cases[k].prefix, "case %zu: prefix %d, want %d", k, prefix, cases[k].prefix);
        ck_assert_int_eq(chunks, prefix ? n : 1);
        assert_all_close(infer(m, x), whole, TT_DOUBLE ? 1e-12 : 1e-5);
        tg_infer_set_chunk_bytes(0);
        tg_model_free(m);
    }
}
END_TEST

/* Every sub-batch reuses the same memory: the sub-batch tape's arena does not grow over calls
 * and stays well below the whole batch's. */
START_TEST(infer_sub_batches_reuse_their_memory)
{
    tg_model *m = parse("input 4x16x16\nconv2d out=8 kernel=3 padding=1\nrelu\nconv2d out=8 kernel=3 padding=1\n"
                        "relu\nmax_pool2d kernel=2\nconv2d out=8 kernel=3 padding=1\nrelu\nglobal_avg_pool\n"
                        "flatten\nlinear out=3\n");
    const int64_t n = 32;
    tg_tensor *x = input_for(m, n, 4);
    infer(m, x);
    const size_t whole = tg_tape_peak(m->infer_tape);
    tg_infer_set_chunk_bytes(8 * 16 * 16 * 2 * sizeof(tg_real) * 4); /* 4 samples of the widest layer */
    ck_assert_int_eq(tg_model_infer_sub_batches(m, n, NULL), 8); /* of 4 samples */
    tg_tensor *y = infer(m, x);
    ck_assert_int_ge(m->n_infer_chunk_tapes, 1);
    const size_t held = tg_tape_capacity(m->infer_chunk_tapes[0]), peak = tg_tape_peak(m->infer_chunk_tapes[0]);
    /* a quarter of the activations, but the convolutions' scratch (Winograd's chunks of 128 tiles,
     * one per thread) does not shrink with the batch: at most half the whole batch's peak */
    ck_assert_msg(peak * 2 < whole, "sub-batch peak %zu, whole batch %zu", peak, whole);
    ck_assert_uint_ge(tg_model_infer_peak(m), peak);
    for (int call = 0; call < 3; call++) {
        tg_tensor *again = infer(m, x);
        ck_assert(!memcmp(again->data, y->data, (size_t)y->numel * sizeof *y->data));
        ck_assert_uint_eq(tg_tape_capacity(m->infer_chunk_tapes[0]), held);
    }
    tg_infer_set_chunk_bytes(0);
    tg_model_free(m);
}
END_TEST

START_TEST(infer_reuses_its_memory)
{
    /* ten same-size activations in a chain: with release, two or three are live at a time */
    tg_model *m = parse("input 4x16x16\nconv2d out=4 kernel=3 padding=1\nrelu\nconv2d out=4 kernel=3 padding=1\n"
                        "relu\nconv2d out=4 kernel=3 padding=1\nrelu\nconv2d out=4 kernel=3 padding=1\nrelu\n"
                        "conv2d out=4 kernel=3 padding=1\nrelu\nflatten\nlinear out=3\n");
    tg_tensor *x = input_for(m, 16, 2);
    tg_tensor *y = infer(m, x);
    const size_t used = tg_tape_used(m->infer_tape), held = tg_tape_capacity(m->infer_tape);
    const size_t activation = (size_t)x->numel * sizeof(tg_real);
    ck_assert_msg(used < 5 * activation, "inference used %zu bytes for 10 activations of %zu", used, activation);
    for (int call = 0; call < 3; call++) {
        tg_tensor *again = infer(m, x);
        ck_assert(!memcmp(again->data, y->data, (size_t)y->numel * sizeof *y->data));
        ck_assert_uint_eq(tg_tape_used(m->infer_tape), used);     /* the same plan every call */
        ck_assert_uint_eq(tg_tape_capacity(m->infer_tape), held); /* no growth: no malloc */
    }
    /* a smaller batch fits in what the first call took */
    infer(m, input_for(m, 3, 5));
    ck_assert_uint_eq(tg_tape_capacity(m->infer_tape), held);
    tg_model_free(m);
}
END_TEST

START_TEST(infer_names_bad_arguments)
{
    tg_model *m = parse("input 1x6x6\nconv2d out=2 kernel=3\nflatten\nlinear out=3\n");
    char err[256];
    tg_tensor *x = input_for(m, 2, 1), *y = output_for(m, 2);
    ck_assert_int_eq(tg_model_infer(NULL, x, y, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "model_infer: the model is NULL");
    ck_assert_int_eq(tg_model_infer(m, NULL, y, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "model_infer: the input is NULL");
    ck_assert_int_eq(tg_model_infer(m, x, NULL, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "model_infer: out is NULL");
    tg_tensor *wrong = tt_random(4, (const int64_t[]){2, 3, 6, 6}, 1, 0, 1);
    ck_assert_int_eq(tg_model_infer(m, wrong, y, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "model_infer: input is [2,3,6,6] but the model takes [N,1,6,6]");
    tg_tensor *short_out = tt_tensor(2, (const int64_t[]){3, 3}, NULL);
    ck_assert_int_eq(tg_model_infer(m, x, short_out, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "model_infer: out is [3,3] but the model gives [2,3] for this input");
    tg_tensor *labels = tt_labels(2, (const int64_t[]){0, 1});
    ck_assert_int_eq(tg_model_infer(m, x, labels, err, sizeof err), TG_ERR_INVALID);
    ck_assert_str_eq(err, "model_infer: out is int64 [2] but the model gives [2,3] for this input");
    tg_model_free(m);
}
END_TEST

/* One training step's parameter gradients, with or without freeing intermediates' gradients. */
static void step_grads(tg_model *m, tg_tensor *x, tg_tensor *labels, bool release, tg_real **out, int *n_out,
                       tg_tensor **probe)
{
    tg_named_tensor named[MAX_NAMED];
    const int n = tg_module_named_tensors(m->net, false, named, MAX_NAMED);
    for (int i = 0; i < n; i++) tg_tensor_zero_grad(named[i].tensor);
    tg_tape *t = tt_tape();
    tg_tape_set_release_grads(t, release);
    tg_tensor *logits = tg_module_forward(m->net, t, x);
    tg_tensor_retain_grad(logits); /* a retained gradient survives the release */
    tg_tensor *loss = tg_cross_entropy(t, logits, labels);
    ck_assert_msg(loss != NULL, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    ck_assert_int_eq(tg_backward(loss), TG_OK); /* twice: the graph is still whole */
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += named[i].tensor->numel;
    tg_real *g = malloc((size_t)total * sizeof *g);
    ck_assert_ptr_nonnull(g);
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(g + at, named[i].tensor->grad, (size_t)named[i].tensor->numel * sizeof *g);
        at += named[i].tensor->numel;
    }
    *out = g;
    *n_out = (int)total;
    ck_assert_ptr_nonnull(logits->grad);
    *probe = tg_tape_last_node(t)->prev->inputs[0]; /* an intermediate just before the logits */
}

START_TEST(released_grads_give_the_same_gradients)
{
    tg_model *m = parse(joins_spec);
    tg_tensor *x = input_for(m, 4, 8);
    tg_tensor *labels = tt_labels(4, (const int64_t[]){0, 3, 1, 2});
    tg_real *kept, *freed;
    int n_kept, n_freed;
    tg_tensor *probe_kept, *probe_freed;
    step_grads(m, x, labels, false, &kept, &n_kept, &probe_kept);
    step_grads(m, x, labels, true, &freed, &n_freed, &probe_freed);
    ck_assert_int_eq(n_kept, n_freed);
    ck_assert(!memcmp(kept, freed, (size_t)n_kept * sizeof *kept));
    ck_assert_ptr_nonnull(probe_kept->grad); /* default: an intermediate's gradient stays readable */
    ck_assert_ptr_null(probe_freed->grad);   /* released: gone, as PyTorch's None */
    free(kept), free(freed);
    tg_model_free(m);
}
END_TEST

/* A released gradient serves the next one: through a chain of 12 ReLUs the backward holds one
 * gradient at a time, so the tape grows by a tensor, not by one per node (it did when fresh
 * gradients took new arena memory). */
START_TEST(released_grads_are_reused)
{
    enum { CHAIN = 12 };
    tg_tape *t = tt_tape();
    tg_tape_set_release_grads(t, true);
    tg_tensor *x = tt_random(2, (const int64_t[]){256, 1024}, 4, -1, 1);
    x->requires_grad = true;
    tg_tensor *y = x;
    for (int i = 0; i < CHAIN; i++) y = tg_relu(t, y);
    tg_tensor *loss = tg_sum(t, y, TG_DIM_NONE, false);
    ck_assert_msg(loss != NULL, "%s", tg_error(t));
    const size_t forward = tg_tape_used(t), tensor = (size_t)x->numel * sizeof(tg_real);
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    /* one gradient at a time: each ReLU writes its input's gradient over its output's (handed over,
     * tg_input_grad_over_output); with a fresh buffer each it was two */
    ck_assert_msg(tg_tape_peak(t) <= forward + tensor + tensor / 2, "the backward took %zu bytes for %zu-byte gradients",
                  tg_tape_peak(t) - forward, tensor);
}
END_TEST

/* With gradients released, an elementwise backward (batch norm, ReLU, dropout) writes its input's
 * fresh gradient over its output's (tg_input_grad_over_output): the same bits as with two buffers;
 * not when the output's gradient is retained (the caller reads it) or a backward hook may look at
 * it. x -> conv c -> batch norm h -> ReLU -> dropout -> + c -> sum of squares. */
static int hook_saw_null; /* nodes whose output gradient a hook found gone */
static void grad_hook(void *ctx, const tg_node *n)
{
    (void)ctx;
    if (!n->out->grad) hook_saw_null++;
}
static void bn_chain_grads(int mode, tg_real *dx, tg_real *dh, size_t *peak)
{
    /* mode 0: gradients kept; 1: released; 2: released, h's retained; 3: released, with a hook */
    tg_tape *t = tg_tape_new(0);
    tg_tape_set_release_grads(t, mode > 0);
    if (mode == 3) tg_tape_set_backward_hook(t, grad_hook, NULL);
    tg_tensor *x = tt_random(4, (const int64_t[]){4, 3, 10, 10}, 81, -1, 1);
    tg_tensor *w = tt_random(4, (const int64_t[]){6, 3, 3, 3}, 82, -1, 1);
    x->requires_grad = w->requires_grad = true;
    tg_conv_attr ca;
    tg_attr_defaults(TG_OP_CONV2D, &ca);
    ca.padding = (tg_ints){1, {1}};
    tg_tensor *c = tg_conv2d(t, x, w, NULL, &ca);
    tg_norm_attr na;
    tg_attr_defaults(TG_OP_BATCH_NORM, &na);
    na.training = true;
    tg_tensor *h = tg_batch_norm(t, c, NULL, NULL, NULL, NULL, &na);
    if (mode == 2) tg_tensor_retain_grad(h);
    /* a residual add: c's gradient comes from it and from the batch norm, which then adds its dx */
    tg_tensor *y = tg_add(t, tg_dropout(t, tg_relu(t, h), 0.25, true), c);
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, y), TG_DIM_NONE, false);
    ck_assert_msg(loss != NULL, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    memcpy(dx, x->grad, (size_t)x->numel * sizeof *dx);
    if (dh) memcpy(dh, h->grad, (size_t)h->numel * sizeof *dh);
    if (mode == 1) {
        ck_assert_ptr_null(h->grad); /* handed over to c, then released with it */
        ck_assert_ptr_null(c->grad);
    }
    *peak = tg_tape_peak(t);
    tg_tape_free(t);
}

/* a + b and a − b: a's gradient is dy, so with gradients released a takes dy's buffer (b's
 * gradient made first): the same bits as with every buffer kept, for add, sub and x + x; the
 * handed-over chain holds fewer buffers at its peak. x -> relu -> a, x -> tanh -> b, a op b ->
 * relu -> sum of squares. */
static void join_grads(int op, bool release, tg_real *dx, size_t *peak)
{
    tg_tape *t = tg_tape_new(0);
    tg_tape_set_release_grads(t, release);
    tg_tensor *x = tt_random(2, (const int64_t[]){64, 1000}, 91, -1, 1);
    x->requires_grad = true;
    tg_tensor *a = tg_relu(t, x), *b = tg_tanh(t, x);
    tg_tensor *j = op == 0 ? tg_add(t, a, b) : op == 1 ? tg_sub(t, a, b) : tg_add(t, a, a);
    tg_tensor *r = tg_relu(t, j);
    tg_tensor *loss = tg_sum(t, tg_mul(t, r, r), TG_DIM_NONE, false);
    ck_assert_msg(loss != NULL, "%s", tg_error(t));
    ck_assert_int_eq(tg_backward(loss), TG_OK);
    memcpy(dx, x->grad, (size_t)x->numel * sizeof *dx);
    if (release) ck_assert_ptr_null(a->grad); /* handed over, then released */
    *peak = tg_tape_peak(t);
    tg_tape_free(t);
}

START_TEST(add_and_sub_hand_over_their_gradient)
{
    enum { N = 64 * 1000 };
    tg_real *kept = malloc(N * sizeof *kept), *freed = malloc(N * sizeof *freed);
    size_t peak_freed[3];
    const tg_tensor *x = tt_random(2, (const int64_t[]){64, 1000}, 91, -1, 1);
    for (int op = 0; op < 3; op++) {
        size_t peak_kept;
        join_grads(op, false, kept, &peak_kept);
        join_grads(op, true, freed, &peak_freed[op]);
        ck_assert_msg(!memcmp(kept, freed, N * sizeof *kept), "op %d", op);
        ck_assert_msg(peak_freed[op] < peak_kept, "op %d: peak %zu released, %zu kept", op, peak_freed[op], peak_kept);
        /* by hand at every 997th element: d(sum r^2)/dx with r = relu(a op b) */
        for (int i = 0; i < N; i += 997) {
            const double v = x->data[i], a = v > 0 ? v : 0, b = tanh(v), da = v > 0 ? 1 : 0, db = 1 - b * b;
            const double j = op == 0 ? a + b : op == 1 ? a - b : 2 * a, dj = op == 0 ? da + db : op == 1 ? da - db : 2 * da;
            const double want = j > 0 ? 2 * j * dj : 0;
            ck_assert_msg(fabs(freed[i] - want) <= 1e-5 * (1 + fabs(want)), "op %d element %d: %g, want %g", op, i,
                          (double)freed[i], want);
        }
    }
    /* a + b and a − b hold no more at their peak than a + a, whose one input has one gradient:
     * b's gradient is the only new buffer (before the hand-over: one more, 2.05 against 1.79 MB) */
    ck_assert_msg(peak_freed[0] <= peak_freed[2] && peak_freed[1] <= peak_freed[2], "peaks %zu %zu, a + a %zu",
                  peak_freed[0], peak_freed[1], peak_freed[2]);
    free(kept), free(freed);
}
END_TEST

START_TEST(handed_over_grads_give_the_same_gradients)
{
    enum { NX = 4 * 3 * 10 * 10, NH = 4 * 6 * 10 * 10 };
    tg_real dx[4][NX], dh[2][NH];
    size_t peak[4];
    hook_saw_null = 0;
    bn_chain_grads(0, dx[0], dh[0], &peak[0]);
    bn_chain_grads(1, dx[1], NULL, &peak[1]);
    bn_chain_grads(2, dx[2], dh[1], &peak[2]);
    bn_chain_grads(3, dx[3], NULL, &peak[3]);
    for (int m = 1; m < 4; m++) ck_assert_msg(!memcmp(dx[0], dx[m], sizeof dx[0]), "mode %d: dx differs", m);
    ck_assert(!memcmp(dh[0], dh[1], sizeof dh[0])); /* the retained gradient, intact */
    ck_assert_int_eq(hook_saw_null, 0);               /* a hook saw every output gradient */
    ck_assert_msg(peak[1] <= peak[3], "handed over: peak %zu, with the hook %zu", peak[1], peak[3]);
}
END_TEST

/* tg_predictor (tg predict / tg eval) folds the batch norms of what it loads and gives the
 * probabilities of the unfolded model. */
START_TEST(predictor_folds_and_agrees)
{
    static const char spec[] = "input 2x6x6\nconv2d out=4 kernel=3 bias=0\nbatch_norm\nrelu\nflatten\n"
                               "linear out=5\nbatch_norm\nlinear out=3\n";
    FILE *f = fopen("build/infer_pr.txt", "w");
    ck_assert_ptr_nonnull(f);
    fputs(spec, f);
    fclose(f);
    char err[512];
    tg_model *m = parse(spec);
    randomize_bn(m, 21);
    ck_assert_int_eq(tg_checkpoint_save_ex("build/infer_pr.ckpt", m->net, NULL, NULL, NULL, NULL, err, sizeof err),
                     TG_OK);
    tg_predictor *p = tg_predictor_load("build/infer_pr.txt", "build/infer_pr.ckpt", err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(count_type(p->model->net, "batch_norm"), 0);
    tg_tensor *x = input_for(m, 4, 6), *logits = infer(m, x); /* unfolded, eval */
    tg_real probs[4 * 3];
    ck_assert_int_eq(tg_predict(p, x, probs, err, sizeof err), TG_OK);
    for (int i = 0; i < 4; i++) {
        const tg_real *l = logits->data + 3 * i;
        const double z = exp((double)l[0]) + exp((double)l[1]) + exp((double)l[2]);
        for (int j = 0; j < 3; j++)
            ck_assert_double_eq_tol((double)probs[3 * i + j], exp((double)l[j]) / z, TT_DOUBLE ? 1e-12 : 1e-5);
    }
    tg_predictor_free(p);
    tg_model_free(m);
}
END_TEST

/* The free list: a released buffer serves the next request that fits (best fit, split), a
 * released tensor's data is NULL, and under ASan a released buffer is poisoned until reused. */
START_TEST(released_buffers_are_reused_and_poisoned)
{
    tg_tape *t = tt_tape();
    const int64_t big = 4096, small = 100; /* the remainder stays above the split threshold */
    tg_tensor *a = tg_tape_tensor(t, TG_REAL, 1, &big);
    ck_assert_ptr_nonnull(a);
    tg_real *mem = a->data;
    const size_t used = tg_tape_used(t);
    tg_tape_release_tensor(t, a);
    ck_assert_ptr_null(a->data);
#ifdef TT_ASAN
    ck_assert(__asan_address_is_poisoned(mem));
    ck_assert(__asan_address_is_poisoned(mem + big - 1));
#endif
    tg_tensor *b = tg_tape_tensor(t, TG_REAL, 1, &small); /* fits: takes the front of it */
    ck_assert_ptr_eq(b->data, mem);
#ifdef TT_ASAN
    ck_assert(!__asan_address_is_poisoned(mem + small - 1));
    ck_assert(__asan_address_is_poisoned(mem + big - 1)); /* the remainder is still released */
#endif
    tg_tensor *c = tg_tape_tensor(t, TG_REAL, 1, &small); /* the remainder, after 100 rounded to 64 bytes */
    const size_t step = (small * sizeof(tg_real) + 63) / 64 * 64;
    ck_assert_ptr_eq((unsigned char *)c->data, (unsigned char *)mem + step);
    ck_assert_uint_eq(tg_tape_used(t), used + 2 * ((sizeof(tg_tensor) + 63) / 64 * 64)); /* only the structs */
    tg_tape_reset(t); /* forgets the list: the next tensor is fresh arena memory from the start */
    ck_assert_ptr_nonnull(tg_tape_tensor(t, TG_REAL, 1, &big));
#ifdef TT_ASAN
    ck_assert(!__asan_address_is_poisoned(mem + big - 1));
#endif
}
END_TEST

Suite *suite_infer(void)
{
    Suite *s = suite_create("infer");
    TCase *tc = tt_tcase("infer");
    tcase_add_test(tc, fold_matches_unfolded_on_many_layers);
    tcase_add_test(tc, fold_leaves_what_it_cannot_fold);
    tcase_add_test(tc, fold_follows_nested_sequentials);
    tcase_add_test(tc, fold_refuses_training_mode_and_null);
    tcase_add_test(tc, infer_equals_recorded_forward);
    tcase_add_test(tc, infer_reuses_its_memory);
    tcase_add_test(tc, infer_shortcuts_are_exact);
    tcase_add_test(tc, infer_in_sub_batches_equals_each_sub_batch);
    tcase_add_test(tc, infer_sub_batches_stop_where_samples_mix);
    tcase_add_test(tc, infer_sub_batches_reuse_their_memory);
    tcase_add_test(tc, infer_names_bad_arguments);
    tcase_add_test(tc, released_grads_give_the_same_gradients);
    tcase_add_test(tc, released_grads_are_reused);
    tcase_add_test(tc, handed_over_grads_give_the_same_gradients);
    tcase_add_test(tc, add_and_sub_hand_over_their_gradient);
    tcase_add_test(tc, predictor_folds_and_agrees);
    tcase_add_test(tc, released_buffers_are_reused_and_poisoned);
    suite_add_tcase(s, tc);
    return s;
}
