/* tools/cmd_nn.c — `tg summary`, `tg dot`, `tg train`: placeholder until nn/ lands. */
#include <stdio.h>

int tg_cmd_summary(int argc, char **argv);
int tg_cmd_dot(int argc, char **argv);
int tg_cmd_train(int argc, char **argv);

static int not_yet(const char *what)
{
    fprintf(stderr, "tg %s: not implemented yet\n", what);
    return 1;
}
int tg_cmd_summary(int argc, char **argv) { (void)argc, (void)argv; return not_yet("summary"); }
int tg_cmd_dot(int argc, char **argv) { (void)argc, (void)argv; return not_yet("dot"); }
int tg_cmd_train(int argc, char **argv) { (void)argc, (void)argv; return not_yet("train"); }
