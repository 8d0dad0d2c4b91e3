/* fuzz/checkpoint_model.h — the model the checkpoint fuzz target loads into, shared with the
 * program that writes its seed checkpoints (make_checkpoint_seeds.c). */
#ifndef TG_FUZZ_CHECKPOINT_MODEL_H
#define TG_FUZZ_CHECKPOINT_MODEL_H

static const char fuzz_checkpoint_spec[] =
    "input 1x4x4\nconv2d out=2 kernel=3\nbatch_norm\nrelu\nflatten\nlinear out=3\n";

#endif
