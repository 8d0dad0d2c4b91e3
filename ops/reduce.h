/* ops/reduce.h — reduce ops (not implemented yet). */
#ifndef TG_OPS_REDUCE_H
#define TG_OPS_REDUCE_H

#include "op.h"

#endif
