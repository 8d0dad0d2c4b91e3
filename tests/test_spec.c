/* tests/test_spec.c — the model spec: the parsed model equals the one built from C (same types,
 * attributes, parameter names and values for the same seed), shape propagation, and
 * line-numbered errors. */
#include "util.h"

#include <stdlib.h>

static const char *const lenet =
    "# LeNet-5\n"
    "input 1x28x28\n"
    "conv2d out=20 kernel=5 padding=2\n"
    "relu\n"
    "max_pool2d kernel=2 stride=2   # halves\n"
    "\n"
    "conv2d out=50 kernel=5 padding=2\n"
    "relu\n"
    "max_pool2d kernel=2 stride=2\n"
    "flatten\n"
    "linear out=500\n"
    "relu\n"
    "dropout p=0.25\n"
    "linear out=10\n";

START_TEST(spec_equals_c_api)
{
    char err[256];
    tg_model *m = tg_model_parse(lenet, "lenet.txt", 42, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->out_ndim, 1);
    ck_assert_int_eq(m->out_shape[0], 10);
    /* the same net from C with the same seed */
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    tg_module *net = tg_sequential(NULL);
    tg_module *c = tg_sequential_add(net, tg_conv_layer(2, 1, 20, 5, 1, true, &rng));
    tg_module_set(c, "padding", "2", err, sizeof err);
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_module *p = tg_sequential_add(net, tg_op_layer("max_pool2d"));
    tg_module_set(p, "kernel_size", "2", err, sizeof err), tg_module_set(p, "stride", "2", err, sizeof err);
    c = tg_sequential_add(net, tg_conv_layer(2, 20, 50, 5, 1, true, &rng));
    tg_module_set(c, "padding", "2", err, sizeof err);
    tg_sequential_add(net, tg_op_layer("relu"));
    p = tg_sequential_add(net, tg_op_layer("max_pool2d"));
    tg_module_set(p, "kernel_size", "2", err, sizeof err), tg_module_set(p, "stride", "2", err, sizeof err);
    tg_sequential_add(net, tg_op_layer("flatten"));
    tg_sequential_add(net, tg_linear_layer(2450, 500, true, &rng));
    tg_sequential_add(net, tg_op_layer("relu"));
    tg_sequential_add(net, tg_dropout_layer(0.25));
    tg_sequential_add(net, tg_linear_layer(500, 10, true, &rng));
    ck_assert_int_eq(net->n_children, m->net->n_children);
    for (int i = 0; i < net->n_children; i++) {
        const tg_module *a = m->net->children[i], *b = net->children[i];
        ck_assert_str_eq(a->type, b->type);
        ck_assert_int_eq(a->op, b->op);
        ck_assert_msg(!memcmp(a->attr, b->attr, sizeof a->attr), "layer %d attributes differ", i);
        ck_assert_double_eq(a->p, b->p);
        ck_assert_int_eq(a->n_params, b->n_params);
        for (int k = 0; k < a->n_params; k++) {
            ck_assert(tg_same_shape(a->params[k], b->params[k]));
            ck_assert(!memcmp(a->params[k]->data, b->params[k]->data, (size_t)a->params[k]->numel * sizeof(tg_real)));
        }
    }
    ck_assert_int_eq(m->net->children[0]->line, 3);
    ck_assert_int_eq(m->net->children[3]->line, 7);
    ck_assert_int_eq(tg_module_param_count(m->net), 1256080);
    tg_module_free(net);
    tg_model_free(m);
}
END_TEST

START_TEST(spec_joins_and_norms)
{
    const char *text = "input 3x8x8\n"
                       "conv2d out=4 kernel=3 padding=1 bias=0 id=a\n"
                       "batch_norm\n"
                       "relu\n"
                       "conv2d out=4 kernel=3 padding=1 groups=4\n"
                       "group_norm groups=2\n"
                       "add from=a\n"
                       "concat from=a,.\n"
                       "instance_norm affine=1\n"
                       "leaky_relu slope=0.2\n"
                       "global_avg_pool\n"
                       "flatten\n"
                       "layer_norm\n"
                       "linear out=3\n";
    char err[256];
    tg_model *m = tg_model_parse(text, "net.txt", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->out_shape[0], 3);
    /* conv 3*4*9 (no bias) + bn 8 + depthwise 4*9+4 + gn 8 + in 16 + ln 16 + linear 8*3+3 */
    ck_assert_int_eq(tg_module_param_count(m->net), 108 + 8 + 40 + 8 + 16 + 16 + 27);
    ck_assert_str_eq(m->net->children[0]->id, "a");
    tg_named_tensor e[32];
    ck_assert_int_eq(tg_module_named_tensors(m->net, true, e, 32), 1 + 4 + 2 + 2 + 2 + 2 + 2);
    ck_assert_str_eq(e[3].name, "1.running_mean");
    tg_model_free(m);
}
END_TEST

/* Parses text and asserts failure with exactly this message. */
static void expect_error(const char *text, const char *want)
{
    char err[256] = "";
    tg_model *m = tg_model_parse(text, "model.txt", 1, err, sizeof err);
    ck_assert_msg(m == NULL, "parsed although '%s' was expected", want);
    ck_assert_msg(strstr(err, want) != NULL, "got '%s', want '%s'", err, want);
}

START_TEST(spec_errors)
{
    expect_error("input 1x8x8\nconv2d out=2 kernel=3\nconv2d out=2 kernal=3\n", "model.txt:3: conv2d: needs kernel=K");
    expect_error("input 1x8x8\nconv2d out=2 kernel=3 kernal=3\n", "model.txt:2: conv2d: unknown key 'kernal'");
    expect_error("input 1x8x8\n\n# c\nfrobnicate\n", "model.txt:4: unknown layer 'frobnicate'");
    expect_error("conv2d out=2 kernel=3\n", "model.txt:1: the first layer line must be 'input CxHxW'");
    expect_error("input 1x0x8\n", "model.txt:1: input: bad shape '1x0x8'");
    expect_error("input 1x8x8\nconv2d out=2 kernel=3 stride=x\n", "model.txt:2: ");
    expect_error("input 1x8x8\nconv2d out=2 kernel=3 bias=2\n", "model.txt:2: conv2d: bias must be 0 or 1, not '2'");
    expect_error("input 1x8x8\nrelu slope\n", "model.txt:2: relu: expected key=value, got 'slope'");
    expect_error("input 1x8x8\nconv2d out=4 kernel=3 groups=2\n", "model.txt:2: conv2d: groups=2 must divide input channels 1 and out=4");
    expect_error("input 2x8x8\ngroup_norm groups=3\n", "model.txt:2: group_norm: groups=3 does not divide 2 channels");
    expect_error("input 1x8x8\ndropout p=1.5\n", "model.txt:2: dropout: p must be a number in [0, 1), not '1.5'");
    /* shape mismatches found by propagation name the line and the op */
    expect_error("input 1x4x4\nconv2d out=2 kernel=5\n", "model.txt:2: conv2d");
    expect_error("input 1x8x8\nmax_pool2d kernel=2 id=p\nconv2d out=3 kernel=3\nadd from=p\n", "model.txt:4: add");
    expect_error("input 1x8x8\nrelu\nadd from=q\n", "model.txt:3: add: no earlier layer has id 'q'");
    expect_error("input 1x8x8\n", "model.txt:1: no layers");
    /* ids: a duplicate names both lines, a reserved name is refused, joins and unpools name the
     * missing id */
    expect_error("input 1x8x8\nconv2d out=2 kernel=3 id=b1\n\nrelu\nrelu\n# x\nrelu id=b1\n",
                 "model.txt:7: id 'b1' already used on line 2");
    expect_error("input 1x8x8\nrelu id=input\n", "model.txt:2: id 'input' is reserved");
    expect_error("input 1x8x8\nrelu id=a\nconcat from=a,zz\n", "model.txt:3: concat: no earlier layer has id 'zz'");
    expect_error("input 1x8x8\nmax_pool2d kernel=2\nmax_unpool2d from=p kernel=2\n",
                 "model.txt:3: max_unpool2d: no earlier layer has id 'p'");
    expect_error("input 1x8x8\nmax_unpool2d kernel=2\n", "model.txt:2: max_unpool2d: needs from=ID");
    /* the unpool's from= must be a max pool: the op's message says so */
    expect_error("input 1x8x8\nrelu id=r\nmax_unpool2d from=r kernel=2\n", "model.txt:3: ");
    /* per-dim kernels: 1 or dims values */
    expect_error("input 1x8x8\nconv2d out=2 kernel=3,1,1\n",
                 "model.txt:2: conv2d: kernel must be one positive integer or 2 comma-separated ones, not '3,1,1'");
    expect_error("input 1x8x8\nconv2d out=2 kernel=3,0\n", "model.txt:2: conv2d: kernel must be");
    expect_error("input 1x8x8\nbatch_norm affine=yes\n", "model.txt:2: batch_norm: affine must be 0 or 1, not 'yes'");
    expect_error("input 3x8x8\nlayer_norm normalized_shape=3\n",
                 "model.txt:2: layer_norm: normalized_shape must be the input's last 1 dims");
    expect_error("input 1x8\nconv2d out=2 kernel=3\n", "model.txt:2: conv2d: needs an input of 3 dims C x spatial, got 2");
    char err[256];
    ck_assert_ptr_null(tg_model_load("tests/data/no_such_model.txt", 1, err, sizeof err));
    ck_assert_str_eq(err, "tests/data/no_such_model.txt: cannot open");
}
END_TEST

/* More than 64 ids in one sequential: every one stays reachable (the old table dropped them). */
START_TEST(spec_many_ids)
{
    char text[8192] = "input 2x4x4\n";
    for (int i = 0; i < 80; i++) snprintf(text + strlen(text), sizeof text - strlen(text), "relu id=r%d\n", i);
    strcat(text, "concat from=r0,r79,r70\n");
    char err[256];
    tg_model *m = tg_model_parse(text, "ids.txt", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->out_shape[0], 6);
    tg_model_free(m);
}
END_TEST

/* kernel=3,1 builds the layer tg_conv_layer_nd builds; a list per dim for the other keys. */
START_TEST(spec_nonsquare_kernels)
{
    char err[256];
    tg_model *m = tg_model_parse("input 3x9x8\nconv2d out=4 kernel=3,1 stride=2,1 padding=1,0\n"
                                 "conv_transpose3d out=2 kernel=1,2,3\n",
                                 "k.txt", 3, err, sizeof err);
    ck_assert_msg(m == NULL, "a 2-D output cannot feed conv_transpose3d");
    ck_assert_msg(strstr(err, "k.txt:3: conv_transpose3d: needs an input of 4 dims") != NULL, "%s", err);
    m = tg_model_parse("input 3x9x8\nconv2d out=4 kernel=3,1 stride=2,1 padding=1,0\n", "k.txt", 3, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->out_shape[1], 5);
    ck_assert_int_eq(m->out_shape[2], 8);
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_module *c = tg_conv_layer_nd(2, 3, 4, (const int64_t[]){3, 1}, 1, true, &rng);
    const tg_module *a = m->net->children[0];
    ck_assert(tg_same_shape(a->params[0], c->params[0]));
    ck_assert_int_eq(a->params[0]->shape[2], 3);
    ck_assert_int_eq(a->params[0]->shape[3], 1);
    ck_assert(!memcmp(a->params[0]->data, c->params[0]->data, (size_t)c->params[0]->numel * sizeof(tg_real)));
    tg_module_free(c);
    tg_model_free(m);
}
END_TEST

/* Spec words and the file name reach the message escaped: a crafted spec cannot send terminal
 * control sequences through a C caller's error text. */
START_TEST(spec_errors_escape_raw_bytes)
{
    char err[512];
    static const char *const texts[] = {
        "input 1x4x4\nconv2d out=2 kernel=3 \x1b]0;pwned\x07=1\n",
        "input 1x4x4\n\x1b[2Jrelu\n",
        "input 1x4x4\nrelu id=\xff\xfe\nadd from=\x01\n",
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        err[0] = '\0';
        ck_assert_ptr_null(tg_model_parse(texts[k], "m\x1b.txt", 1, err, sizeof err));
        ck_assert_msg(err[0] != '\0', "case %zu: no message", k);
        for (const char *p = err; *p; p++)
            ck_assert_msg((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "case %zu: raw byte 0x%02x in '%s'", k,
                          (unsigned char)*p, err);
        ck_assert_msg(strstr(err, "m\\x1b.txt:"), "case %zu: %s", k, err);
    }
    ck_assert_ptr_null(tg_model_parse(texts[0], "m.txt", 1, err, sizeof err));
    ck_assert_str_eq(err, "m.txt:2: conv2d: unknown key '\\x1b]0;pwned\\x07'");
}
END_TEST

/* Shapes are found without values: a model whose activations would need ~400 GB parses at once,
 * with its shapes, its summary and its shape errors; only a real forward needs the memory, and
 * on a tape with a limit it says so. The unpool's from= still finds the pool's indices. */
START_TEST(spec_shapes_without_values)
{
    char err[512];
    static const char huge[] = "input 1x8x8\nconv_transpose2d out=64 kernel=4 stride=64\n"
                               "conv_transpose2d out=64 kernel=4 stride=64 id=big\nmax_pool2d kernel=2 id=p\n"
                               "max_unpool2d from=p kernel=2\nglobal_avg_pool\nflatten\nlinear out=3\n";
    tg_model *m = tg_model_parse(huge, "huge.txt", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->out_ndim, 1);
    ck_assert_int_eq(m->out_shape[0], 3);
    char *table = tg_summary(m, err, sizeof err);
    ck_assert_msg(table != NULL, "%s", err);
    /* (8 - 1) * 64 + 4 = 452, then 451 * 64 + 4 = 28868 */
    ck_assert_msg(strstr(table, "[64,28868,28868]") != NULL, "%s", table);
    free(table);
    tg_tape *t = tg_tape_new(0);
    tg_tape_set_limit(t, 64u << 20);
    tg_tensor *x = tg_tape_tensor(t, TG_REAL, 4, (const int64_t[]){1, 1, 8, 8});
    ck_assert_ptr_nonnull(x);
    memset(x->data, 0, 64 * sizeof(tg_real));
    ck_assert_ptr_null(tg_module_forward(m->net, t, x));
    ck_assert_msg(tg_error(t) && strstr(tg_error(t), "limit"), "%s", tg_error(t));
    tg_tape_free(t);
    tg_model_free(m);
    /* a shape error past the huge layers is still found, on its line */
    static const char bad[] = "input 1x8x8\nconv_transpose2d out=64 kernel=4 stride=64\n"
                              "conv_transpose2d out=64 kernel=4 stride=64\nflatten\nconv2d out=2 kernel=3\n";
    ck_assert_ptr_null(tg_model_parse(bad, "bad.txt", 1, err, sizeof err));
    ck_assert_msg(strstr(err, "bad.txt:5: conv2d: needs an input of 3 dims") != NULL, "%s", err);
}
END_TEST

Suite *suite_spec(void)
{
    Suite *s = suite_create("spec");
    TCase *tc = tt_tcase("spec");
    tcase_add_test(tc, spec_equals_c_api);
    tcase_add_test(tc, spec_joins_and_norms);
    tcase_add_test(tc, spec_errors);
    tcase_add_test(tc, spec_many_ids);
    tcase_add_test(tc, spec_nonsquare_kernels);
    tcase_add_test(tc, spec_errors_escape_raw_bytes);
    tcase_add_test(tc, spec_shapes_without_values);
    suite_add_tcase(s, tc);
    return s;
}
