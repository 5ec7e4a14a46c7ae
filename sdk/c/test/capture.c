/* The host's log and metrics when the SDK runs natively, in tests: recorded here for
 * the tests to read instead of going to a host. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "../src/internal.h"

struct captured captured;

void sluice_log(sluice_level level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *message = sluice_format(format, args);
    va_end(args);
    sluice_log_fields(level, message, NULL, 0);
    free(message);
}

void sluice_log_fields(sluice_level level, const char *message, const sluice_field *fields, size_t count) {
    captured.logs++;
    captured.last_level = level;
    snprintf(captured.last_log, sizeof captured.last_log, "%s", message);
    for (size_t i = 0; i < count; i++) {
        size_t at = strlen(captured.last_log);
        snprintf(captured.last_log + at, sizeof captured.last_log - at, " %s=%s", fields[i].name, fields[i].value);
    }
}

void sluice_counter_add(const char *name, uint64_t delta) {
    (void)name;
    captured.counter_total += delta;
}

void sluice_gauge_set(const char *name, double value) {
    (void)name;
    captured.last_gauge = value;
}
