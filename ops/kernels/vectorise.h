/* ops/kernels/vectorise.h — TG_VECTORISE: marks a function whose loops of unknown length must
 * vectorise. GCC's -O2 cost model ("very cheap") leaves such loops scalar; this asks it for its
 * dynamic model on that function alone. Clang vectorises them at -O2 already. */
#ifndef TG_KERNEL_VECTORISE_H
#define TG_KERNEL_VECTORISE_H

#if defined(__GNUC__) && !defined(__clang__)
#define TG_VECTORISE __attribute__((optimize("vect-cost-model=dynamic")))
#else
#define TG_VECTORISE
#endif

#endif
