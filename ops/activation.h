/* ops/activation.h — activation ops (not implemented yet). */
#ifndef TG_OPS_ACTIVATION_H
#define TG_OPS_ACTIVATION_H

#include "op.h"

#endif
