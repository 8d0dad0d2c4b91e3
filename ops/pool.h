/* ops/pool.h — pool ops (not implemented yet). */
#ifndef TG_OPS_POOL_H
#define TG_OPS_POOL_H

#include "op.h"

#endif
