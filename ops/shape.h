/* ops/shape.h — shape ops (not implemented yet). */
#ifndef TG_OPS_SHAPE_H
#define TG_OPS_SHAPE_H

#include "op.h"

#endif
