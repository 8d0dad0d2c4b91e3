/* ops/linalg.h — linalg ops (not implemented yet). */
#ifndef TG_OPS_LINALG_H
#define TG_OPS_LINALG_H

#include "op.h"

#endif
