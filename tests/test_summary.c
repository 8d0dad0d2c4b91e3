/* tests/test_summary.c — tg_summary totals against the notes (seeds/000): LeNet-5 (§7.12.1),
 * the 1x1 bottleneck (256->64->256 on 64x64) and the depthwise-separable example (§7.10.6), all
 * recomputed by hand below; receptive fields and the table's last lines. */
#include "util.h"

#include <stdlib.h>

static tg_model *parse(const char *text)
{
    char err[256];
    tg_model *m = tg_model_parse(text, "t.txt", 1, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    return m;
}

static void totals(tg_model *m, int64_t want_params, int64_t want_macs)
{
    int64_t p, macs;
    char err[256];
    ck_assert_int_eq(tg_summary_totals(m, &p, &macs, err, sizeof err), 0);
    ck_assert_int_eq(p, want_params);
    ck_assert_int_eq(macs, want_macs);
}

START_TEST(lenet5_table)
{
    tg_model *m = parse("input 1x28x28\nconv2d out=20 kernel=5 padding=2\nrelu\nmax_pool2d kernel=2 stride=2\n"
                        "conv2d out=50 kernel=5 padding=2\nrelu\nmax_pool2d kernel=2 stride=2\nflatten\n"
                        "linear out=500\nrelu\nlinear out=10\n");
    /* params: 20*25+20 = 520; 50*20*25+50 = 25050; 2450*500+500 = 1225500; 500*10+10 = 5010
     * MACs: 20*28*28*25 = 392000; 50*14*14*500 = 4900000; 1225000; 5000 */
    totals(m, 520 + 25050 + 1225500 + 5010, 392000 + 4900000 + 1225000 + 5000);
    ck_assert_int_eq(520 + 25050 + 1225500 + 5010, 1256080);
    ck_assert_int_eq(392000 + 4900000 + 1225000 + 5000, 6522000);
    char err[256];
    char *text = tg_summary(m, err, sizeof err);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "Total params: 1256080\nTotal MACs: 6522000\n") != NULL, "%s", text);
    /* row of the second conv: [50,14,14], 25050 params, 4900000 MACs, receptive field 5+1+2*4 = 14 */
    ck_assert_msg(strstr(text, "[50,14,14]") && strstr(text, "25050") && strstr(text, "4900000"), "%s", text);
    const char *row = strstr(text, "\n3 ");
    ck_assert_ptr_nonnull(row);
    int64_t params, macs;
    char type[32], shape[64];
    int rf;
    ck_assert_int_eq(sscanf(row + 1, "%*s %31s %63s %lld %lld %d", type, shape, (long long *)&params, (long long *)&macs, &rf), 5);
    ck_assert_str_eq(type, "conv2d");
    ck_assert_int_eq(rf, 14);
    free(text);
    tg_model_free(m);
}
END_TEST

START_TEST(bottleneck_and_direct)
{
    /* direct 3x3 256->256 on 64x64, no padding: 256*(256*9)+256 = 590080 params;
     * 256*62*62 = 984064 outputs x 2304 = 2267283456 MACs */
    tg_model *m = parse("input 256x64x64\nconv2d out=256 kernel=3\n");
    totals(m, 590080, 2267283456LL);
    tg_model_free(m);
    /* 1x1 256->64 (16448 params, 64*64*64*256 = 67108864 MACs) then 3x3 64->256
     * (147712 params, 984064*576 = 566820864 MACs): 164160 params, 633929728 MACs */
    m = parse("input 256x64x64\nconv2d out=64 kernel=1\nconv2d out=256 kernel=3\n");
    totals(m, 164160, 67108864LL + 566820864LL);
    tg_model_free(m);
}
END_TEST

START_TEST(depthwise_separable)
{
    /* K=3, Cin=128, Cout=256, 32x32, same padding, no bias:
     * standard 9*128*256 = 294912 params, 32*32*9*128*256 = 301989888 MACs;
     * depthwise 1152 params / 1179648 MACs + pointwise 32768 / 33554432 */
    tg_model *m = parse("input 128x32x32\nconv2d out=256 kernel=3 padding=1 bias=0\n");
    totals(m, 294912, 301989888LL);
    tg_model_free(m);
    m = parse("input 128x32x32\nconv2d out=128 kernel=3 padding=1 groups=128 bias=0\nconv2d out=256 kernel=1 bias=0\n");
    totals(m, 1152 + 32768, 1179648LL + 33554432LL);
    tg_model_free(m);
}
END_TEST

START_TEST(summary_errors_and_transpose)
{
    /* transposed conv 4->2 k3 s2 on 3x3 -> 7x7: every input value meets 2*9 weights:
     * 4*3*3 * 18 = 648 MACs; params 4*2*9 + 2 = 74 */
    tg_model *m = parse("input 4x3x3\nconv_transpose2d out=2 kernel=3 stride=2\n");
    totals(m, 74, 648);
    ck_assert_int_eq(m->out_shape[1], 7);
    tg_model_free(m);
}
END_TEST

Suite *suite_summary(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tt_tcase("summary");
    tcase_add_test(tc, lenet5_table);
    tcase_add_test(tc, bottleneck_and_direct);
    tcase_add_test(tc, depthwise_separable);
    tcase_add_test(tc, summary_errors_and_transpose);
    suite_add_tcase(s, tc);
    return s;
}
