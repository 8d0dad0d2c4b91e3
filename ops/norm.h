/* ops/norm.h — norm ops (not implemented yet). */
#ifndef TG_OPS_NORM_H
#define TG_OPS_NORM_H

#include "op.h"

#endif
