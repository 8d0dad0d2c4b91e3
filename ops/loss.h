/* ops/loss.h — loss ops (not implemented yet). */
#ifndef TG_OPS_LOSS_H
#define TG_OPS_LOSS_H

#include "op.h"

#endif
