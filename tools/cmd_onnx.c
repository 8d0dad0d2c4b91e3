/* tools/cmd_onnx.c — `tg export MODEL --ckpt FILE -o OUT.onnx [--fold-bn]` and
 * `tg import IN.onnx -o MODEL --ckpt FILE` (nn/onnx.h). Exit codes as the rest of tg: 0 success,
 * 1 usage error, 2 invalid input; every error is one line on stderr (tools/cli.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tapegrad.h"
#include "../nn/onnx.h"
#include "cli.h"

/* The one positional word and the options; TG_EXIT_OK, CLI_HELP (help printed) or an error code. */
static int parse_args(const char *cmd, const char *what, const char *usage, const cli_opt *opts, int argc, char **argv,
                      const char **word)
{
    *word = NULL;
    for (int i = 1; i < argc; i++) {
        const int r = cli_option(cmd, opts, argc, argv, &i);
        if (r == CLI_HELP) {
            char line[512];
            cli_format_usage(opts, line, sizeof line);
            printf("usage: tg %s %s%s\n%s", cmd, what, line, usage);
            cli_print_help(stdout, opts);
            return CLI_HELP;
        }
        if (r != CLI_POSITIONAL) {
            if (r != TG_EXIT_OK) return r;
        } else if (*word) {
            return cli_fail(TG_EXIT_USAGE, cmd, "unexpected argument '%s' (%s is '%s')", CLI_Q(argv[i]), what, CLI_Q(*word));
        } else {
            *word = argv[i];
        }
    }
    if (!*word) return cli_fail(TG_EXIT_USAGE, cmd, "%s is required", what);
    return cli_check_required(cmd, opts);
}

/* The library's message without its leading "export: " / "import: " (cli_fail names the command). */
static const char *reason(const char *err, const char *cmd)
{
    const size_t n = strlen(cmd);
    return !strncmp(err, cmd, n) && !strncmp(err + n, ": ", 2) ? err + n + 2 : err;
}

int tg_cmd_export(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *model = NULL;
    bool fold_bn = false;
    const cli_opt opts[] = {
        {"--ckpt", CLI_STRING, &ckpt, "FILE", .required = true, .help = "the checkpoint holding the weights"},
        {"-o", CLI_STRING, &out, "OUT.onnx", .required = true, .help = "the ONNX file to write"},
        {"--fold-bn", CLI_FLAG, &fold_bn, .help = "fold each batch norm into the conv/linear layer before it"},
        {0}};
    int rc = parse_args("export", "MODEL", "  writes the model with its trained weights as ONNX (opset 17)\n", opts,
                        argc, argv, &model);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    if ((rc = cli_check_writable("export", "-o", out)) != TG_EXIT_OK) return rc;
    char err[512];
    tg_model *m = tg_model_load(model, 0, err, sizeof err);
    if (!m) return cli_fail(TG_EXIT_INVALID, "export", "%s", err);
    if (tg_checkpoint_load(ckpt, m->net, NULL, NULL, NULL, err, sizeof err) != TG_OK ||
        tg_onnx_export(m, out, fold_bn, err, sizeof err) != TG_OK) {
        tg_model_free(m);
        return cli_fail(TG_EXIT_INVALID, "export", "%s", reason(err, "export"));
    }
    tg_model_free(m);
    printf("wrote %s\n", out);
    return TG_EXIT_OK;
}

int tg_cmd_import(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *in = NULL;
    const cli_opt opts[] = {
        {"-o", CLI_STRING, &out, "MODEL", .required = true, .help = "the model spec file to write"},
        {"--ckpt", CLI_STRING, &ckpt, "FILE", .required = true, .help = "the checkpoint to write with the file's weights"},
        {0}};
    int rc = parse_args("import", "IN.onnx", "  turns an ONNX model into a model spec and a checkpoint\n", opts, argc,
                        argv, &in);
    if (rc != TG_EXIT_OK) return rc == CLI_HELP ? TG_EXIT_OK : rc;
    if ((rc = cli_check_writable("import", "-o", out)) != TG_EXIT_OK ||
        (rc = cli_check_writable("import", "--ckpt", ckpt)) != TG_EXIT_OK)
        return rc;
    char err[512], *spec = NULL;
    tg_model *m = tg_onnx_import(in, &spec, err, sizeof err);
    if (!m) return cli_fail(TG_EXIT_INVALID, "import", "%s", reason(err, "import"));
    FILE *f = fopen(out, "w");
    const bool wrote = f && fputs(spec, f) >= 0;
    if ((f && fclose(f)) || !wrote) {
        free(spec), tg_model_free(m);
        return cli_fail(TG_EXIT_INVALID, "import", "-o: cannot write '%s'", CLI_Q(out));
    }
    free(spec);
    if (tg_checkpoint_save(ckpt, m->net, NULL, NULL, NULL, err, sizeof err) != TG_OK) {
        tg_model_free(m);
        return cli_fail(TG_EXIT_INVALID, "import", "%s", err);
    }
    tg_model_free(m);
    printf("wrote %s and %s\n", out, ckpt);
    return TG_EXIT_OK;
}
