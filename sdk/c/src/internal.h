/* What the SDK's files share and plugins do not see: the layouts behind the opaque
 * types of sluice.h, and the batch loop the component's exports (component.c) and the
 * native tests drive. */
#ifndef SLUICE_INTERNAL_H
#define SLUICE_INTERNAL_H

#include <stdarg.h>

#include "sluice.h"

#define SLUICE_ABSENT_LEN 0xffffffffu
#define SLUICE_DEFAULT_ROUTE 0xffffu
#define SLUICE_NO_TIMESTAMP INT64_MIN
/* Bytes of an input record's fixed part, and of an output record's. */
#define SLUICE_INPUT_FIXED 32
#define SLUICE_OUTPUT_FIXED 20

struct sluice_record {
    const uint8_t *batch;
    const uint8_t *fixed; /* the record's fixed part */
    const uint8_t *key;   /* key, then value, then headers */
    const uint8_t *key_end;
    const uint8_t *headers;
    const uint8_t *end; /* end of the headers, start of the stream name */
    sluice_bytes source;
    /* Whether the value was checked as JSON: 0 not yet, 1 valid, 2 not. */
    int json;
    /* Where header `header_index` starts: reading headers in order costs one step each,
     * not a walk from the first. */
    size_t header_index;
    const uint8_t *header_at;
};

struct sluice_output {
    sluice_buf *result;
    const sluice_record *record;
    uint32_t count;
    /* Where the record's outcome starts in the result: a rejection rewinds to it. */
    size_t outcome_at;
    bool rejected;
    /* A failure of the batch (`sluice_fail`), owned by the output. */
    char *failure;
};

struct sluice_config {
    size_t count;
    const char **keys;
    const char **values;
};

/* Runs `plugin` (with `state`) over the batch `bytes` and writes the encoded result into
 * `result`. Returns NULL, or the message of a failed batch (a malformed batch, or
 * `sluice_fail`), which the caller frees. */
char *sluice_run_batch(const sluice_plugin *plugin, void *state, const uint8_t *bytes, size_t len, sluice_buf *result);

/* The length of the UTF-8 sequence at `p` (before `end`), or 0 if it is not one. */
size_t sluice_utf8_sequence(const uint8_t *p, const uint8_t *end);
/* The code point of the valid UTF-8 sequence at `p` of `len` bytes. */
uint32_t sluice_utf8_point(const uint8_t *p, size_t len);
/* Appends the UTF-8 of code point `point`. */
void sluice_buf_append_point(sluice_buf *buf, uint32_t point);
/* The upper case of `point` into `upper` (up to three code points); how many (upper.c). */
size_t sluice_upper_case(uint32_t point, uint32_t upper[3]);

/* A formatted message, allocated. */
char *sluice_format(const char *format, va_list args);

#endif
