#ifndef SLUICE_TEST_CAPTURE_H
#define SLUICE_TEST_CAPTURE_H

#include <stdio.h>

#include "sluice.h"

/* What a plugin run natively asked of the host. */
struct captured {
    int logs;
    sluice_level last_level;
    char last_log[256];
    uint64_t counter_total;
    double last_gauge;
};

extern struct captured captured;

#endif
