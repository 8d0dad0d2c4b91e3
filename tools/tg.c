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
 * "tg: COMMAND: reason" (tools/cli.h), option values parsed by the command's option table. */
#include "../tapegrad.h"
#include "bench.h"
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_OK = TG_EXIT_OK, EXIT_USAGE = TG_EXIT_USAGE, EXIT_INVALID = TG_EXIT_INVALID, EXIT_CHECK_FAILED = 1 };

#define IS_DOUBLE_BUILD (sizeof(tg_real) == sizeof(double))
#define OUT_DTYPE (IS_DOUBLE_BUILD ? TG_NPY_F64 : TG_NPY_F32)

/* The subcommand being run ("op", "gradcheck", "bench"; NULL before one is chosen): the second
 * word of every error line. */
static const char *current_cmd;

/* Prints "tg: COMMAND: <message>" as one line (cli_fail) and returns code. */
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
    return cli_fail(code, current_cmd, "%s", msg);
}

static const char *const usage_text =
    "usage:\n"
    "  tg op NAME [key=value ...] IN.npy ... [--grad-out DY.npy] [--out DIR] [--dot FILE] [--threads T]\n"
    "        run one op on .npy inputs (torch.nn.functional order; 'none' skips an optional input);\n"
    "        writes DIR/out.npy, DIR/grad{i}.npy with --grad-out, DIR/updated{i}.npy for running stats\n"
    "  tg op --list | tg ops        list the ops with their inputs and attributes\n"
    "  tg gradcheck NAME [key=value ...] SHAPE ... [--seed N] [--threads T]\n"
    "        compare analytic and numeric gradients on random double inputs (SHAPE like 2x3x8x8,\n"
    "        'none' skips an optional input); exit 1 when a gradient is wrong\n"
    "  tg summary MODEL\n"
    "  tg dot MODEL [-o FILE]\n";

static const char *const usage_tail =
    "  tg predict MODEL --ckpt FILE INPUT... [--top K] [--json] [--threads T]\n"
    "        class probabilities of .npy (one input or a batch), IDX or PGM inputs\n"
    "  tg eval MODEL --ckpt FILE --data DIR|X.npy,y.npy [--confusion SVG] [--threads T]\n"
    "        per-class precision and recall; ends with 'accuracy A'\n"
    "  tg export MODEL --ckpt FILE -o OUT.onnx [--fold-bn]\n"
    "  tg import IN.onnx -o MODEL --ckpt FILE\n"
    "  tg bench [--filter NAME] [--threads T] [--seconds S] [--model FILE]\n"
    "threads: op, gradcheck, train and bench take --threads T; the default is $TG_NUM_THREADS, else\n"
    "        the cores this process may use (its affinity mask, as PyTorch); results do not depend on it\n"
    "  tg COMMAND --help            that command's options\n"
    "exit status: 0 success, 1 usage error (or a failed gradient check), 2 invalid input\n"
    "errors: one line on stderr, 'tg: COMMAND: reason'; bytes outside printable ASCII show as \\xNN\n";

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

/* `tg COMMAND --help`: the usage line from the option table, then one line per option. */
static int print_help(const char *words, const cli_opt *opts)
{
    char line[512];
    cli_format_usage(opts, line, sizeof line);
    printf("usage: tg %s%s\n", words, line);
    cli_print_help(stdout, opts);
    return EXIT_OK;
}

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
            return error(EXIT_INVALID, "%s: %s (%s) must be %s, got %s", c->d->name, input_name(c->d, i), CLI_Q(c->files[i]),
                         want_int ? "an int64 file (class labels)" : "a float32 or float64 file", npy_type_name(ft));
        if (ft == TG_NPY_F64) *wants_double = true;
    }
    if (c->grad_out) {
        tg_npy_dtype ft;
        if (tg_npy_load(c->grad_out, &c->dy, &ft, err, sizeof err) != TG_OK) return error(EXIT_INVALID, "%s", err);
        if (ft == TG_NPY_I64)
            return error(EXIT_INVALID, "--grad-out %s must be a float32 or float64 file, got int64", CLI_Q(c->grad_out));
        if (ft == TG_NPY_F64) *wants_double = true;
    }
    return EXIT_OK;
}

static int save(const char *dir, const char *name, const tg_tensor *t)
{
    char path[PATH_MAX], err[512];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return error(EXIT_INVALID, "--out: the path '%s/%s' is longer than the limit of %d bytes", CLI_Q(dir), name,
                     PATH_MAX - 1);
    if (tg_npy_save(path, t, OUT_DTYPE, err, sizeof err) != TG_OK) return error(EXIT_INVALID, "%s", err);
    return EXIT_OK;
}

/* The tape's message for a failed op, which names the op — except errors from the layers below it
 * (arena full, a tensor shape too large), which are prefixed with it here. */
static int op_error(const tg_op_desc *d, const tg_tape *tape)
{
    const char *msg = tg_error(tape) ? tg_error(tape) : "failed";
    const size_t len = strlen(d->name);
    if (!strncmp(msg, d->name, len) && (msg[len] == ':' || msg[len] == ' ')) return error(EXIT_INVALID, "%s", msg);
    return error(EXIT_INVALID, "%s: %s", d->name, msg);
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
        rc = op_error(d, tape);
        goto done;
    }
    if (c->grad_out && !tg_same_shape(c->dy, out)) {
        char a[TG_SHAPE_STR_LEN], b[TG_SHAPE_STR_LEN];
        rc = error(EXIT_INVALID, "--grad-out %s has shape %s but the output of %s is %s", CLI_Q(c->grad_out),
                   tg_shape_str(c->dy, a, sizeof a), d->name, tg_shape_str(out, b, sizeof b));
        goto done;
    }
    struct stat st;
    if (stat(c->out_dir, &st) != 0 && mkdir(c->out_dir, 0777) != 0) {
        rc = error(EXIT_INVALID, "--out: cannot create the directory '%s': %s", CLI_Q(c->out_dir), strerror(errno));
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
            rc = error(EXIT_INVALID, "--dot: cannot write '%s': %s", CLI_Q(c->dot_file), strerror(errno));
            goto done;
        }
    }
done:
    tg_tape_free(tape);
    return rc;
}

static int cmd_op(int argc, char **argv, char **full_argv)
{
    if (argc < 2) return error(EXIT_USAGE, "missing op name (tg ops lists them)");
    if (!strcmp(argv[1], "--list")) return cmd_list();
    op_call c = {.op = tg_op_find(argv[1]), .out_dir = "."};
    int64_t threads = 0;
    const cli_opt opts[] = {
        {"--grad-out", CLI_STRING, &c.grad_out, "DY.npy", .help = "run backward from this upstream gradient"},
        {"--out", CLI_STRING, &c.out_dir, "DIR", .help = "where out.npy, grad{i}.npy, updated{i}.npy go"},
        {"--dot", CLI_STRING, &c.dot_file, "FILE", .help = "write the call's graph as DOT"},
        CLI_THREADS_OPTION(&threads),
        {0}};
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return print_help("op NAME [key=value ...] IN.npy ...", opts);
    if (c.op < 0) return error(EXIT_USAGE, "unknown op '%s' (tg ops lists them)", CLI_Q(argv[1]));
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
        int r = cli_option(current_cmd, opts, argc, argv, &i);
        if (r == CLI_HELP) {
            free(c.attr);
            return print_help("op NAME [key=value ...] IN.npy ...", opts);
        } else if (r != CLI_POSITIONAL) {
            rc = r;
        } else if (is_attribute_word(a)) {
            rc = set_attribute(c.op, c.d, c.attr, a);
        } else {
            if (n_words < TG_MAX_INPUTS) c.files[n_words] = a;
            n_words++;
        }
    }
    if (rc == EXIT_OK) rc = cli_apply_threads(current_cmd, threads);
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

/* Random inputs stay small: a gradient check runs the op twice per element. */
#define GRADCHECK_MAX_NUMEL 1000000

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
            if (v > GRADCHECK_MAX_NUMEL) return false;
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
    tg_gradcheck_opts opts = tg_gradcheck_defaults();
    int64_t threads = 0;
    const cli_opt options[] = {
        {"--seed", CLI_SEED, &opts.seed, "N", .help = "seed of the random inputs"},
        CLI_THREADS_OPTION(&threads),
        {0}};
    if (argc < 2) return error(EXIT_USAGE, "missing op name (tg ops lists them)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return print_help("gradcheck NAME [key=value ...] SHAPE ...", options);
    int op = tg_op_find(argv[1]);
    if (op < 0) return error(EXIT_USAGE, "unknown op '%s' (tg ops lists them)", CLI_Q(argv[1]));
    const tg_op_desc *d = tg_op_get(op);
    void *attr = NULL;
    if (d->attr_size) {
        attr = calloc(1, d->attr_size);
        if (!attr) return error(EXIT_INVALID, "out of memory");
        tg_attr_defaults(op, attr);
    }
    const char *shapes[TG_MAX_INPUTS] = {0};
    int n = 0, rc = EXIT_OK;
    for (int i = 2; i < argc && rc == EXIT_OK; i++) {
        const char *a = argv[i];
        int r = cli_option(current_cmd, options, argc, argv, &i);
        if (r == CLI_HELP) {
            free(attr);
            return print_help("gradcheck NAME [key=value ...] SHAPE ...", options);
        } else if (r != CLI_POSITIONAL) {
            rc = r;
        } else if (is_attribute_word(a)) {
            rc = set_attribute(op, d, attr, a);
        } else {
            if (n < TG_MAX_INPUTS) shapes[n] = a;
            n++;
        }
    }
    if (rc == EXIT_OK) rc = cli_apply_threads(current_cmd, threads);
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
            rc = error(EXIT_USAGE, "bad shape '%s' for %s (expected e.g. 2x3x8x8: at most %d dims, each at most %d)",
                       CLI_Q(shapes[i]), input_name(d, i), TG_MAX_DIMS, GRADCHECK_MAX_NUMEL);
            break;
        }
        int64_t numel = tg_shape_numel(ndim, shape);
        if (numel < 0 || numel > GRADCHECK_MAX_NUMEL) {
            rc = error(EXIT_INVALID, "shape '%s' of %s is too large for a gradient check (limit %d elements)",
                       CLI_Q(shapes[i]), input_name(d, i), GRADCHECK_MAX_NUMEL);
            break;
        }
        if (numel == 0 && !(d->int_inputs & (1u << i)) && !(d->nograd_inputs & (1u << i))) {
            rc = error(EXIT_INVALID, "input %d (%s) has no elements (shape %s): nothing to check", i, input_name(d, i),
                       CLI_Q(shapes[i]));
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
            int64_t checked = 0;
            for (int i = 0; i < n; i++) checked += rep.inputs[i].checked ? rep.inputs[i].n_checked : 0;
            if (checked == 0) {
                /* a PASS over zero elements would claim what was never compared */
                fflush(stdout);
                rc = error(EXIT_INVALID, "%s: no gradient element was checked (every input is empty, labels or not differentiable)",
                           d->name);
            } else if (rep.passed) printf("PASS %s (eps %g atol %g rtol %g seed %llu)\n", d->name, opts.eps, opts.atol, opts.rtol,
                                   (unsigned long long)opts.seed);
            else printf("FAIL %s: %s\n", d->name, rep.message);
            if (checked > 0) rc = rep.passed ? EXIT_OK : EXIT_CHECK_FAILED;
        }
    }
    for (int i = 0; i < TG_MAX_INPUTS; i++) tg_tensor_free(inputs[i]);
    free(attr);
    return rc;
}

/* ---- tg bench ---- */

static int cmd_bench(int argc, char **argv)
{
    tg_bench_ctx ctx = {.filter = NULL, .threads = 0, .min_seconds = 0};
    int64_t threads = 0;
    const cli_opt opts[] = {
        {"--filter", CLI_STRING, &ctx.filter, "NAME", .help = "only the cases whose name contains NAME"},
        CLI_THREADS_OPTION(&threads),
        {"--seconds", CLI_REAL, &ctx.min_seconds, "S", 0.01, 600,
         .help = "time each case for at least S seconds (default 0.3); the best run is reported"},
        {"--model", CLI_STRING, &ctx.model_path, "FILE",
         .help = "the whole-model cases of the spec FILE (train_NAME, infer_NAME_b1, infer_NAME_b64) instead of the zoo's"},
        {0}};
    for (int i = 1; i < argc; i++) {
        int r = cli_option(current_cmd, opts, argc, argv, &i);
        if (r == CLI_HELP) return print_help("bench", opts);
        if (r == CLI_POSITIONAL) return error(EXIT_USAGE, "unexpected argument '%s'", CLI_Q(argv[i]));
        if (r != EXIT_OK) return r;
    }
    int rc = cli_apply_threads(current_cmd, threads);
    if (rc != EXIT_OK) return rc;
    ctx.threads = tg_get_threads();
    return tg_bench_all(&ctx) ? EXIT_OK : EXIT_INVALID;
}

int main(int argc, char **argv)
{
    if (argc < 2) return error(EXIT_USAGE, "missing command (tg --help lists them)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        tg_train_help(stdout);
        fputs(usage_tail, stdout);
        return EXIT_OK;
    }
    static const char *const commands[] = {"op", "ops", "gradcheck", "bench", "summary", "dot", "train", "predict", "eval", "export", "import"};
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (!strcmp(cmd, commands[k])) current_cmd = commands[k];
    if (!strcmp(cmd, "op")) return cmd_op(argc - 1, argv + 1, argv);
    if (!strcmp(cmd, "ops")) return cmd_list();
    if (!strcmp(cmd, "gradcheck")) return cmd_gradcheck(argc - 1, argv + 1, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    /* the model commands get argv starting at their own name, like a main() */
    if (!strcmp(cmd, "summary")) return tg_cmd_summary(argc - 1, argv + 1);
    if (!strcmp(cmd, "dot")) return tg_cmd_dot(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return tg_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "predict")) return tg_cmd_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return tg_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return tg_cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "import")) return tg_cmd_import(argc - 1, argv + 1);
    return error(EXIT_USAGE, "unknown command '%s' (tg --help lists them)", CLI_Q(cmd));
}
