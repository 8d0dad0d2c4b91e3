/* tools/cli.h — what every `tg` subcommand shares: exit codes, the one error line, and a small
 * table-driven option parser.
 *
 * Error lines: every error is exactly one line on stderr, "tg: COMMAND: reason" ("tg: reason" when
 * there is no command yet). Bytes outside printable ASCII in the line become \xNN, so nothing a
 * file or an argument holds can reach a terminal raw.
 *
 * Options: each subcommand describes its options once, in a table; the same table parses argv
 * (every value parsed completely, range-checked, or rejected naming the option and the value),
 * names unknown options, and prints the usage line and help:
 *
 *   int64_t epochs = 2;
 *   const cli_opt opts[] = {
 *       {"--epochs", CLI_INT, &epochs, "E", 1, 1e6, .help = "passes over the training set"},
 *       {0}};
 *   for (int i = 1; i < argc; i++) {
 *       int r = cli_option("train", opts, argc, argv, &i);
 *       if (r == CLI_POSITIONAL) ...argv[i] is a word of the command's own...
 *       else if (r != TG_EXIT_OK) return r;          // the error line is printed already
 *   }
 */
#ifndef TG_TOOLS_CLI_H
#define TG_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../graph/error.h"

enum { TG_EXIT_OK = 0, TG_EXIT_USAGE = 1, TG_EXIT_INVALID = 2 };

/* --threads' upper bound: the thread pool's size (ops/kernels/parallel.c) */
#define CLI_MAX_THREADS 64

/* cli_option's answers besides the exit codes */
enum { CLI_POSITIONAL = -1, CLI_HELP = -2 };

typedef enum cli_kind {
    CLI_FLAG,   /* bool *: present or not, takes no value */
    CLI_STRING, /* const char **: any non-empty word (a path, a name) */
    CLI_CHOICE, /* const char **: one of the '|'-separated words in metavar */
    CLI_INT,    /* int64_t *: a whole decimal number in [lo, hi] */
    CLI_REAL,   /* double *: a finite number in lo..hi (ends open when lo_open / hi_open) */
    CLI_SEED    /* uint64_t *: a non-negative integer up to 2^64-1 */
} cli_kind;

typedef struct cli_opt {
    const char *name;    /* "--lr", "-o"; a zeroed entry ends the table */
    cli_kind kind;
    void *dst;           /* holds the default before parsing */
    const char *metavar; /* "X" in "--lr X"; CLI_CHOICE: the choices, "sgd|adam" */
    double lo, hi;       /* CLI_INT / CLI_REAL range (lo > hi: no range) */
    bool lo_open, hi_open;
    bool required;       /* CLI_STRING only: cli_check_required names it when still NULL */
    const char *help;    /* one line for `tg COMMAND --help` */
} cli_opt;

/* Prints "tg: COMMAND: message" (cmd NULL: "tg: message") as one sanitised line; returns code. */
int cli_fail(int code, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The reason of the latest cli_fail line (without "tg: COMMAND: "), "" before any. */
const char *cli_last_error(void);

/* Quotes an untrusted word (argv value, path, file text) for a message: tg_escape, cut at
 * CLI_QUOTE_MAX bytes. The buffer lives until the end of the enclosing block. */
#define CLI_QUOTE_MAX 200
#define CLI_QUOTE_BUF (4 * CLI_QUOTE_MAX + 4)
#define CLI_Q(s) tg_escape((s), TG_ESCAPE_CSTR, CLI_QUOTE_MAX, (char[CLI_QUOTE_BUF]){0}, CLI_QUOTE_BUF)

/* Looks at argv[*i]: an option of the table is parsed (its value too, advancing *i) and
 * TG_EXIT_OK returned; "--help"/"-h" returns CLI_HELP; a word that is not an option returns
 * CLI_POSITIONAL; anything wrong prints the error line and returns TG_EXIT_USAGE. Values may
 * follow as the next word or after '=' ("--lr=0.1"). */
int cli_option(const char *cmd, const cli_opt *opts, int argc, char **argv, int *i);

/* TG_EXIT_OK when every required option was given, else names the first missing one. */
int cli_check_required(const char *cmd, const cli_opt *opts);

/* " --data DIR [--epochs E] ... [--augment]" into buf (the usage line's options). */
void cli_format_usage(const cli_opt *opts, char *buf, size_t size);
/* One line per option: name, metavar, help, range and default. */
void cli_print_help(FILE *f, const cli_opt *opts);

/* Whether path can be written before any work starts: an existing file must be writable, a new
 * one's directory must exist and be writable. Error: "tg: CMD: OPTION: cannot write 'PATH': why". */
int cli_check_writable(const char *cmd, const char *option, const char *path);

/* The subcommands in their own files (argv starts at the command's name, like a main()). */
int tg_cmd_summary(int argc, char **argv);
int tg_cmd_dot(int argc, char **argv);
int tg_cmd_train(int argc, char **argv);
int tg_cmd_predict(int argc, char **argv); /* tools/cmd_deploy.c */
int tg_cmd_eval(int argc, char **argv);
int tg_cmd_export(int argc, char **argv); /* tools/cmd_onnx.c */
int tg_cmd_import(int argc, char **argv);
/* What a distributed `tg train` (tools/tg_mpi.c) adds to the one training command: its options,
 * and collective callbacks at the points where every process must agree. NULL: one process. */
struct tg_model;
struct tg_optim;
struct tg_dataset;
struct tg_batcher;
struct tg_epoch_stats;
struct tg_train_sync;
typedef struct tg_train_driver {
    void *ctx;
    const char *cmd;         /* the command's name in error lines ("train (rank 1 of 3)") */
    const cli_opt *extra;    /* options appended to tg train's (a zeroed entry ends them) */
    bool quiet;              /* not the first process: no stdout lines, progress or files */
    /* Every process reports rc (TG_EXIT_OK or its own failure, already printed); all get the
     * same exit code back, the others printing which process failed and why. Once a failure is
     * agreed, later calls return it without communicating. */
    int (*agree)(void *ctx, int rc);
    /* Once, after a successful agree, before the first epoch: compare the models, share rank 0's
     * parameters, fill *sync and point *eval at this process's part of the test set. */
    int (*start)(void *ctx, struct tg_model *m, struct tg_optim *opt, struct tg_dataset *test,
                 const struct tg_dataset **eval, const struct tg_batcher *batcher, struct tg_train_sync *sync);
    /* After each epoch's agree: this process's figures become the whole run's (summed samples). */
    int (*epoch_end)(void *ctx, struct tg_model *m, struct tg_epoch_stats *train, struct tg_epoch_stats *test);
} tg_train_driver;

/* `tg train` with a driver (NULL: one process, exactly tg_cmd_train). */
int tg_train_command(int argc, char **argv, const tg_train_driver *drv);
/* `tg train`'s usage line and option help, for `tg --help`. */
void tg_train_help(FILE *f);

#endif
