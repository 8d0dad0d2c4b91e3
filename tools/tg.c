/* tools/tg.c — the `tg` command (DESIGN.md § The `tg` command).
 *
 * `tg op` and `tg gradcheck` are generic over the op table: the op's descriptor says how many
 * inputs it takes, which are optional, int64 labels, never differentiated or updated in place, and
 * its attribute table parses the key=value words. No op has code of its own here, so ops added
 * later (or registered by a user build) work unchanged.
 *
 * Precision: the float32 binary re-executes its double-precision sibling `tg64` (same directory)
 * when an input file is float64 and for every gradcheck, so float64 in gives float64 out.
 *
 * Exit codes: 0 success, 1 usage error, 2 invalid input. Every error is one line on stderr,
 * prefixed "tg: ". */
#include "../tapegrad.h"
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tg_cmd_summary(int argc, char **argv);
int tg_cmd_dot(int argc, char **argv);
int tg_cmd_train(int argc, char **argv);

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INVALID = 2, EXIT_CHECK_FAILED = 1 };

#define IS_DOUBLE_BUILD (sizeof(tg_real) == sizeof(double))
#define OUT_DTYPE (IS_DOUBLE_BUILD ? TG_NPY_F64 : TG_NPY_F32)

/* Prints "tg: <message>" as one line (newlines inside become spaces) and returns code. */
static int error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int error(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    fflush(stdout);
    fprintf(stderr, "tg: %s\n", msg);
    return code;
}

static const char *const usage_text =
    "usage:\n"
    "  tg op NAME [key=value ...] IN.npy ... [--grad-out DY.npy] [--out DIR] [--dot FILE]\n"
    "        run one op on .npy inputs (torch.nn.functional order; 'none' skips an optional input);\n"
    "        writes DIR/out.npy, DIR/grad{i}.npy with --grad-out, DIR/updated{i}.npy for running stats\n"
    "  tg op --list | tg ops        list the ops with their inputs and attributes\n"
    "  tg gradcheck NAME [key=value ...] SHAPE ... [--seed N]\n"
    "        compare analytic and numeric gradients on random double inputs (SHAPE like 2x3x8x8)\n"
    "  tg summary MODEL\n"
    "  tg dot MODEL [-o FILE]\n"
    "  tg train MODEL --data DIR [--epochs E] [--batch B] [--lr X] [--optim sgd|adam|adamw] ...\n"
    "  tg bench [--filter NAME] [--threads T]\n"
    "exit status: 0 success, 1 usage error, 2 invalid input\n";

/* ---- re-executing the double-precision sibling ---- */

static int exec_tg64(char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return error(EXIT_INVALID, "cannot locate the tg64 binary: %s", strerror(errno));
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    size_t dir_len = slash ? (size_t)(slash - self) + 1 : 0;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%.*stg64", (int)dir_len, self);
    fflush(stdout);
    execv(path, argv);
    return error(EXIT_INVALID, "double precision needs %s: %s", path, strerror(errno));
}

/* ---- shared argument handling ---- */

/* "key=value" where key looks like an attribute name (so file names with '=' stay files) */
static bool is_attribute_word(const char *s)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return false;
    for (const char *p = s; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static bool has_attribute(const tg_op_desc *d, const char *kv)
{
    size_t kl = (size_t)(strchr(kv, '=') - kv);
    for (int i = 0; i < d->n_attrs; i++)
        if (strlen(d->attrs[i].name) == kl && !strncmp(d->attrs[i].name, kv, kl)) return true;
    return false;
}

/* Applies one key=value word; unknown attributes are usage errors, bad values invalid input. */
static int set_attribute(int op, const tg_op_desc *d, void *attr, const char *kv)
{
    char err[512];
    if (tg_attr_parse(op, attr, kv, err, sizeof err) == 0) return EXIT_OK;
    return error(has_attribute(d, kv) ? EXIT_INVALID : EXIT_USAGE, "%s", err);
}

static const char *input_name(const tg_op_desc *d, int i)
{
    static const char *const generic[TG_MAX_INPUTS] = {"input0", "input1", "input2", "input3", "input4", "input5"};
    return d->input_names && d->input_names[i] ? d->input_names[i] : generic[i];
}

/* "input, weight[, bias]" */
static void format_inputs(const tg_op_desc *d, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < d->max_inputs && len < size; i++) {
        bool opt = i >= d->min_inputs || (d->optional_inputs & (1u << i));
        int w = snprintf(buf + len, size - len, "%s%s%s%s%s", opt ? "[" : "", i ? ", " : "", input_name(d, i),
                         d->int_inputs & (1u << i) ? ":int64" : "", opt ? "]" : "");
        if (w < 0) break;
        len += (size_t)w;
    }
}

static int check_input_count(const tg_op_desc *d, int n)
{
    if (n >= d->min_inputs && n <= d->max_inputs) return EXIT_OK;
    char names[256];
    format_inputs(d, names, sizeof names);
    if (d->min_inputs == d->max_inputs)
        return error(EXIT_USAGE, "%s expects %d input%s (%s), got %d", d->name, d->min_inputs,
                     d->min_inputs == 1 ? "" : "s", names, n);
    return error(EXIT_USAGE, "%s expects %d to %d inputs (%s), got %d", d->name, d->min_inputs, d->max_inputs,
                 names, n);
}

static bool is_none_word(const char *s) { return !strcmp(s, "none") || !strcmp(s, "None"); }

/* ---- tg ops ---- */

static int cmd_list(void)
{
    for (int id = 0; id < tg_op_count(); id++) {
        const tg_op_desc *d = tg_op_get(id);
        char inputs[256], attrs[1024] = "";
        format_inputs(d, inputs, sizeof inputs);
        if (d->attr_size) {
            void *a = calloc(1, d->attr_size);
            if (!a) return error(EXIT_INVALID, "out of memory");
            tg_attr_defaults(id, a);
            tg_attr_format(id, a, true, attrs, sizeof attrs);
            free(a);
        }
        printf("%-22s (%s)%s%s%s%s\n", d->name, inputs, *attrs ? "  " : "", attrs,
               d->forward ? "" : "  [not implemented]", d->backward ? "" : (d->forward ? "  [no backward]" : ""));
        if (d->summary) printf("%-22s   %s\n", "", d->summary);
    }
    return EXIT_OK;
}

/* ---- tg op ---- */

typedef struct op_call {
    int op;
    const tg_op_desc *d;
    void *attr;
    int n_inputs;
    const char *files[TG_MAX_INPUTS];
    tg_tensor *inputs[TG_MAX_INPUTS];
    const char *grad_out, *out_dir, *dot_file;
    tg_tensor *dy;
} op_call;

static void free_call(op_call *c)
{
    for (int i = 0; i < c->n_inputs; i++) tg_tensor_free(c->inputs[i]);
    tg_tensor_free(c->dy);
    free(c->attr);
}

static const char *npy_type_name(tg_npy_dtype t)
{
    return t == TG_NPY_F32 ? "float32" : t == TG_NPY_F64 ? "float64" : "int64";
}

/* Loads the inputs and the upstream gradient; *wants_double is set when a float file is float64. */
static int load_inputs(op_call *c, bool *wants_double)
{
    char err[512];
    for (int i = 0; i < c->n_inputs; i++) {
        if (!c->files[i]) continue;
        tg_npy_dtype ft;
        if (tg_npy_load(c->files[i], &c->inputs[i], &ft, err, sizeof err) != TG_OK) return error(EXIT_INVALID, "%s", err);
        bool want_int = c->d->int_inputs & (1u << i);
        if (want_int != (ft == TG_NPY_I64))
            return error(EXIT_INVALID, "%s: %s (%s) must be %s, got %s", c->d->name, input_name(c->d, i), c->files[i],
                         want_int ? "an int64 file (class labels)" : "a float32 or float64 file", npy_type_name(ft));
        if (ft == TG_NPY_F64) *wants_double = true;
    }
    if (c->grad_out) {
        tg_npy_dtype ft;
        if (tg_npy_load(c->grad_out, &c->dy, &ft, err, sizeof err) != TG_OK) return error(EXIT_INVALID, "%s", err);
        if (ft == TG_NPY_I64)
            return error(EXIT_INVALID, "--grad-out %s must be a float32 or float64 file, got int64", c->grad_out);
        if (ft == TG_NPY_F64) *wants_double = true;
    }
    return EXIT_OK;
}

static int save(const char *dir, const char *name, const tg_tensor *t)
{
    char path[PATH_MAX], err[512];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return error(EXIT_INVALID, "output path too long: %s/%s", dir, name);
    if (tg_npy_save(path, t, OUT_DTYPE, err, sizeof err) != TG_OK) return error(EXIT_INVALID, "%s", err);
    return EXIT_OK;
}

/* Runs the op, the backward when asked, and writes the results. */
static int run_op(op_call *c)
{
    const tg_op_desc *d = c->d;
    bool record = c->grad_out || c->dot_file;
    if (c->grad_out && !d->backward) return error(EXIT_INVALID, "%s has no backward; --grad-out cannot be used", d->name);
    if (record)
        for (int i = 0; i < c->n_inputs; i++)
            if (c->inputs[i] && c->inputs[i]->dtype == TG_REAL && !(d->nograd_inputs & (1u << i))) {
                c->inputs[i]->requires_grad = true;
                tg_tensor_set_name(c->inputs[i], input_name(d, i));
            }
    tg_tape *tape = tg_tape_new(0);
    if (!tape) return error(EXIT_INVALID, "out of memory");
    tg_tape_seed(tape, 0);
    int rc = EXIT_OK;
    tg_tensor *out = tg_op_apply(tape, c->op, c->inputs, c->n_inputs, c->attr);
    if (!out) {
        rc = error(EXIT_INVALID, "%s", tg_error(tape) ? tg_error(tape) : "op failed");
        goto done;
    }
    if (c->grad_out && !tg_same_shape(c->dy, out)) {
        char a[TG_SHAPE_STR_LEN], b[TG_SHAPE_STR_LEN];
        rc = error(EXIT_INVALID, "--grad-out %s has shape %s but the output of %s is %s", c->grad_out,
                   tg_shape_str(c->dy, a, sizeof a), d->name, tg_shape_str(out, b, sizeof b));
        goto done;
    }
    struct stat st;
    if (stat(c->out_dir, &st) != 0 && mkdir(c->out_dir, 0777) != 0) {
        rc = error(EXIT_INVALID, "cannot create the output directory %s: %s", c->out_dir, strerror(errno));
        goto done;
    }
    if ((rc = save(c->out_dir, "out.npy", out)) != EXIT_OK) goto done;
    if (c->grad_out) {
        if (out->node) {
            tg_status bs = tg_backward_with(out, c->dy->data);
            if (bs != TG_OK) {
                rc = error(EXIT_INVALID, "%s backward: %s", d->name, tg_error(tape) ? tg_error(tape) : tg_strerror(bs));
                goto done;
            }
        }
        for (int i = 0; i < c->n_inputs; i++) {
            tg_tensor *x = c->inputs[i];
            if (!x || x->dtype != TG_REAL || (d->nograd_inputs & (1u << i))) continue;
            /* an input the output does not depend on gets an explicit zero gradient */
            if (!x->grad && !tg_tensor_grad(x)) {
                rc = error(EXIT_INVALID, "out of memory");
                goto done;
            }
            tg_tensor g = *x;
            g.data = x->grad;
            char name[32];
            snprintf(name, sizeof name, "grad%d.npy", i);
            if ((rc = save(c->out_dir, name, &g)) != EXIT_OK) goto done;
        }
    }
    for (int i = 0; i < c->n_inputs; i++)
        if (c->inputs[i] && (d->updated_inputs & (1u << i))) {
            char name[32];
            snprintf(name, sizeof name, "updated%d.npy", i);
            if ((rc = save(c->out_dir, name, c->inputs[i])) != EXIT_OK) goto done;
        }
    if (c->dot_file) {
        tg_dot_opts opts = {.backward_edges = c->grad_out != NULL, .title = d->name};
        if (tg_dot_write(tape, out, c->dot_file, &opts) != TG_OK) {
            rc = error(EXIT_INVALID, "cannot write %s: %s", c->dot_file, strerror(errno));
            goto done;
        }
    }
done:
    tg_tape_free(tape);
    return rc;
}

static int cmd_op(int argc, char **argv, char **full_argv)
{
    if (argc < 2) return error(EXIT_USAGE, "op: missing op name (tg ops lists them)");
    if (!strcmp(argv[1], "--list")) return cmd_list();
    op_call c = {.op = tg_op_find(argv[1]), .out_dir = "."};
    if (c.op < 0) return error(EXIT_USAGE, "unknown op '%s' (tg ops lists them)", argv[1]);
    c.d = tg_op_get(c.op);
    if (c.d->attr_size) {
        c.attr = calloc(1, c.d->attr_size);
        if (!c.attr) return error(EXIT_INVALID, "out of memory");
        tg_attr_defaults(c.op, c.attr);
    }
    int rc = EXIT_OK;
    int n_words = 0;
    for (int i = 2; i < argc && rc == EXIT_OK; i++) {
        const char *a = argv[i];
        const char **flag_value = !strcmp(a, "--grad-out") ? &c.grad_out
                                  : !strcmp(a, "--out")    ? &c.out_dir
                                  : !strcmp(a, "--dot")    ? &c.dot_file
                                                           : NULL;
        if (flag_value) {
            if (i + 1 >= argc) rc = error(EXIT_USAGE, "op: %s needs a value", a);
            else *flag_value = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            rc = error(EXIT_USAGE, "op: unknown option '%s'", a);
        } else if (is_attribute_word(a)) {
            rc = set_attribute(c.op, c.d, c.attr, a);
        } else {
            if (n_words < TG_MAX_INPUTS) c.files[n_words] = a;
            n_words++;
        }
    }
    if (rc == EXIT_OK) rc = check_input_count(c.d, n_words);
    if (rc == EXIT_OK) c.n_inputs = n_words;
    for (int i = 0; i < c.n_inputs && rc == EXIT_OK; i++)
        if (is_none_word(c.files[i])) {
            if (!(c.d->optional_inputs & (1u << i)))
                rc = error(EXIT_USAGE, "%s: %s is required; 'none' only skips an optional input", c.d->name,
                           input_name(c.d, i));
            c.files[i] = NULL;
        }
    bool wants_double = false;
    if (rc == EXIT_OK) rc = load_inputs(&c, &wants_double);
    if (rc == EXIT_OK && wants_double && !IS_DOUBLE_BUILD) {
        free_call(&c);
        return exec_tg64(full_argv);
    }
    if (rc == EXIT_OK) rc = run_op(&c);
    free_call(&c);
    return rc;
}

/* ---- tg gradcheck ---- */

/* "2x3x8x8"; "scalar" or "()" is a 0-d shape. */
static bool parse_shape(const char *s, int *ndim, int64_t *shape)
{
    *ndim = 0;
    if (!strcmp(s, "scalar") || !strcmp(s, "()")) return true;
    const char *p = s;
    for (;;) {
        if (*p < '0' || *p > '9' || *ndim == TG_MAX_DIMS) return false;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (v > 1000000) return false;
        }
        shape[(*ndim)++] = v;
        if (*p == '\0') return true;
        if (*p != 'x' && *p != 'X' && *p != ',') return false;
        p++;
    }
}

static int cmd_gradcheck(int argc, char **argv, char **full_argv)
{
    if (!IS_DOUBLE_BUILD) return exec_tg64(full_argv);
    if (argc < 2) return error(EXIT_USAGE, "gradcheck: missing op name (tg ops lists them)");
    int op = tg_op_find(argv[1]);
    if (op < 0) return error(EXIT_USAGE, "unknown op '%s' (tg ops lists them)", argv[1]);
    const tg_op_desc *d = tg_op_get(op);
    void *attr = NULL;
    if (d->attr_size) {
        attr = calloc(1, d->attr_size);
        if (!attr) return error(EXIT_INVALID, "out of memory");
        tg_attr_defaults(op, attr);
    }
    tg_gradcheck_opts opts = tg_gradcheck_defaults();
    const char *shapes[TG_MAX_INPUTS] = {0};
    int n = 0, rc = EXIT_OK;
    for (int i = 2; i < argc && rc == EXIT_OK; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long v = i + 1 < argc ? strtoull(argv[i + 1], &end, 10) : 0;
            if (i + 1 >= argc || errno || *end || argv[i + 1][0] == '-')
                rc = error(EXIT_USAGE, "gradcheck: --seed needs a non-negative integer");
            else opts.seed = v, i++;
        } else if (a[0] == '-' && a[1] == '-') {
            rc = error(EXIT_USAGE, "gradcheck: unknown option '%s'", a);
        } else if (is_attribute_word(a)) {
            rc = set_attribute(op, d, attr, a);
        } else {
            if (n < TG_MAX_INPUTS) shapes[n] = a;
            n++;
        }
    }
    if (rc == EXIT_OK) rc = check_input_count(d, n);
    if (rc == EXIT_OK && !d->backward)
        rc = error(EXIT_INVALID, "%s has no backward; there is no gradient to check", d->name);

    tg_tensor *inputs[TG_MAX_INPUTS] = {0};
    tg_rng rng;
    tg_rng_seed(&rng, opts.seed);
    for (int i = 0; i < n && rc == EXIT_OK; i++) {
        if (is_none_word(shapes[i])) {
            if (!(d->optional_inputs & (1u << i)))
                rc = error(EXIT_USAGE, "%s: %s is required; 'none' only skips an optional input", d->name,
                           input_name(d, i));
            continue;
        }
        int ndim;
        int64_t shape[TG_MAX_DIMS];
        if (!parse_shape(shapes[i], &ndim, shape)) {
            rc = error(EXIT_USAGE, "gradcheck: bad shape '%s' for %s (expected e.g. 2x3x8x8, at most %d dims)",
                       shapes[i], input_name(d, i), TG_MAX_DIMS);
            break;
        }
        int64_t numel = tg_shape_numel(ndim, shape);
        if (numel < 0 || numel > 1000000) {
            rc = error(EXIT_INVALID, "gradcheck: shape '%s' is too large for a gradient check", shapes[i]);
            break;
        }
        bool is_int = d->int_inputs & (1u << i);
        inputs[i] = tg_tensor_new(is_int ? TG_INT64 : TG_REAL, ndim, shape);
        if (!inputs[i]) {
            rc = error(EXIT_INVALID, "out of memory");
            break;
        }
        if (is_int) {
            /* class labels in [0, C), C = the class dim of input 0 (dim 1, or dim 0 when 1-d) */
            int64_t classes = 1;
            if (inputs[0] && inputs[0]->ndim >= 2) classes = inputs[0]->shape[1];
            else if (inputs[0] && inputs[0]->ndim == 1) classes = inputs[0]->shape[0];
            for (int64_t k = 0; k < numel; k++) inputs[i]->idata[k] = classes > 0 ? (int64_t)tg_rng_below(&rng, (uint64_t)classes) : 0;
        } else {
            bool positive = d->positive_inputs & (1u << i);
            for (int64_t k = 0; k < numel; k++) {
                double u = tg_rng_uniform(&rng);
                inputs[i]->data[k] = positive ? 0.5 + u : 2 * u - 1;
            }
        }
    }
    if (rc == EXIT_OK) {
        /* a trial run reports a rejected shape or attribute with the op's own message */
        tg_tape *tape = tg_tape_new(0);
        if (!tape) rc = error(EXIT_INVALID, "out of memory");
        else {
            tg_tape_seed(tape, opts.seed);
            if (!tg_op_apply(tape, op, inputs, n, attr))
                rc = error(EXIT_INVALID, "%s", tg_error(tape) ? tg_error(tape) : "op failed");
            tg_tape_free(tape);
        }
    }
    if (rc == EXIT_OK) {
        tg_gradcheck_report rep;
        int st = tg_gradcheck_op(op, attr, inputs, n, &opts, &rep);
        if (st < 0) {
            rc = error(EXIT_INVALID, "%s", rep.message);
        } else {
            char s[TG_SHAPE_STR_LEN];
            for (int i = 0; i < n; i++) {
                const tg_gradcheck_input *r = &rep.inputs[i];
                printf("input %d %-10s %-16s ", i, input_name(d, i),
                       inputs[i] ? tg_shape_str(inputs[i], s, sizeof s) : "none");
                if (!inputs[i]) printf("not given\n");
                else if (!r->checked) printf("not differentiated (%s)\n", (d->int_inputs & (1u << i)) ? "int64 labels" : "no gradient");
                else
                    printf("worst abs %.3e rel %.3e  checked %lld skipped %lld failed %lld\n", r->abs_err, r->rel_err,
                           (long long)r->n_checked, (long long)r->n_skipped, (long long)r->n_failed);
            }
            if (rep.passed) printf("PASS %s (eps %g atol %g rtol %g seed %llu)\n", d->name, opts.eps, opts.atol, opts.rtol,
                                   (unsigned long long)opts.seed);
            else printf("FAIL %s: %s\n", d->name, rep.message);
            rc = rep.passed ? EXIT_OK : EXIT_CHECK_FAILED;
        }
    }
    for (int i = 0; i < TG_MAX_INPUTS; i++) tg_tensor_free(inputs[i]);
    free(attr);
    return rc;
}

/* ---- tg bench ---- */

static int cmd_bench(int argc, char **argv)
{
    tg_bench_ctx ctx = {.filter = NULL, .threads = 1, .min_seconds = 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
            ctx.filter = argv[++i];
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 64) return error(EXIT_USAGE, "bench: --threads needs a number from 1 to 64");
            ctx.threads = (int)t;
        } else {
            return error(EXIT_USAGE, "bench: unknown or incomplete option '%s'", argv[i]);
        }
    }
    tg_set_threads(ctx.threads);
    tg_bench_all(&ctx);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) return error(EXIT_USAGE, "missing command (tg --help lists them)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "op")) return cmd_op(argc - 1, argv + 1, argv);
    if (!strcmp(cmd, "ops")) return cmd_list();
    if (!strcmp(cmd, "gradcheck")) return cmd_gradcheck(argc - 1, argv + 1, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    /* the model commands get argv starting at their own name, like a main() */
    if (!strcmp(cmd, "summary")) return tg_cmd_summary(argc - 1, argv + 1);
    if (!strcmp(cmd, "dot")) return tg_cmd_dot(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return tg_cmd_train(argc - 1, argv + 1);
    return error(EXIT_USAGE, "unknown command '%s' (tg --help lists them)", cmd);
}
