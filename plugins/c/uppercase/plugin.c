/* Upper-cases each record's value (a map). Values that are not UTF-8 are rejected. */

#include "sluice.h"

/* The new value, reused from record to record. */
static sluice_buf upper;

static void process(void *state, const sluice_record *record, sluice_output *out) {
    (void)state;
    sluice_bytes text;
    if (!sluice_record_text(record, out, &text)) return;
    upper.len = 0;
    sluice_buf_append_upper(&upper, text);
    sluice_emit_value(out, sluice_buf_bytes(&upper), NULL);
}

SLUICE_PLUGIN(.process = process);
