/* ops/arith.h — arith ops (not implemented yet). */
#ifndef TG_OPS_ARITH_H
#define TG_OPS_ARITH_H

#include "op.h"

#endif
