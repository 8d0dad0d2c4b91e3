/* fuzz/make_checkpoint_seeds.c — writes the checkpoint fuzz target's seeds into DIR: the model
 * alone, and the model with Adam state (after one step), a schedule and an RNG, as tg train
 * saves them. Run once; its output is committed (fuzz/corpus/checkpoint).
 *   cc -Ifuzz fuzz/make_checkpoint_seeds.c build/libtapegrad.a -lm -pthread && ./a.out fuzz/corpus/checkpoint */
#include <math.h>
#include <stdio.h>

#include "../tapegrad.h"
#include "checkpoint_model.h"

int main(int argc, char **argv)
{
    if (argc != 2) return 1;
    char err[256], path[512];
    tg_model *m = tg_model_parse(fuzz_checkpoint_spec, "seed", 1, err, sizeof err);
    tg_optim_config cfg = tg_optim_defaults(TG_OPTIM_ADAM);
    tg_optim *opt = tg_optim_new(&cfg);
    tg_named_tensor named[16];
    tg_tensor *params[16];
    const int np = tg_module_named_tensors(m->net, false, named, 16);
    for (int i = 0; i < np; i++) params[i] = named[i].tensor;
    tg_optim_add_group(opt, params, np, NAN, NAN);
    tg_sched *sched = tg_sched_new(opt, &(tg_sched_config){.kind = TG_SCHED_STEP, .step_size = 1, .gamma = 0.5});
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    snprintf(path, sizeof path, "%s/model_only.ckpt", argv[1]);
    if (tg_checkpoint_save(path, m->net, NULL, NULL, NULL, err, sizeof err) != TG_OK) return fprintf(stderr, "%s\n", err), 1;
    for (int i = 0; i < np; i++) { /* a gradient for every parameter, then one Adam step */
        tg_real *g = tg_tensor_grad(params[i]);
        for (int64_t j = 0; j < params[i]->numel; j++) g[j] = (tg_real)(0.1 * (double)(j % 5) - 0.2);
    }
    tg_optim_step(opt);
    tg_sched_step(sched);
    snprintf(path, sizeof path, "%s/adam_sched_rng.ckpt", argv[1]);
    if (tg_checkpoint_save(path, m->net, opt, sched, &rng, err, sizeof err) != TG_OK) return fprintf(stderr, "%s\n", err), 1;
    tg_sched_free(sched);
    tg_optim_free(opt);
    tg_model_free(m);
    return 0;
}
