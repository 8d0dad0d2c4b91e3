/* ops/conv.h — conv ops (not implemented yet). */
#ifndef TG_OPS_CONV_H
#define TG_OPS_CONV_H

#include "op.h"

#endif
