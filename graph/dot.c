/* graph/dot.c — placeholder. */
#include "dot.h"
