/* graph/npy.c — placeholder. */
#include "npy.h"
