/* The identity of the languages bench in C: no per-record function, so the SDK forwards
 * every record unchanged (one copy of its bytes). */

#include "sluice.h"

SLUICE_PLUGIN();
