/* The two directions of the encoding the SDK does not need in a component, for the
 * tests: writing a batch of inputs and reading a result, as the host does (refusing
 * what sdk/SPEC.md says it must). */
#ifndef SLUICE_TEST_WIRE_H
#define SLUICE_TEST_WIRE_H

#include <stdio.h>
#include <string.h>

#include "../src/internal.h"

static void le(sluice_buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        sluice_buf_append(b, &byte, 1);
    }
}

/* A batch of `n` records from source "s", each with the value "x" and offset i. */
static sluice_buf encode_inputs(size_t n) {
    sluice_buf b = {0};
    le(&b, n, 4);
    le(&b, 1, 2);
    sluice_buf_append(&b, "s", 1);
    for (size_t i = 0; i < n; i++) {
        le(&b, i, 8);                            /* offset */
        le(&b, 0, 4);                            /* partition */
        le(&b, (uint64_t)SLUICE_NO_TIMESTAMP, 8); /* timestamp */
        le(&b, SLUICE_ABSENT_LEN, 4);            /* key */
        le(&b, 1, 4);                            /* value */
        le(&b, 4, 2);                            /* stream */
        le(&b, 0, 2);                            /* headers */
        sluice_buf_append(&b, "xtest", 5);
    }
    return b;
}

/* What a decoded result held. */
struct decoded {
    size_t outputs;
    size_t default_routes;
    size_t rejected;
};

static uint64_t take(const uint8_t **p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)(*p)[i] << (8 * i);
    *p += bytes;
    return v;
}

/* Reads a result for a batch of `records`; NULL, or why it is refused. */
static const char *decode_result(sluice_bytes result, size_t records, struct decoded *d) {
    const uint8_t *p = result.ptr, *end = result.ptr + result.len;
#define NEED(n, what) \
    if ((size_t)(end - p) < (size_t)(n)) return what " runs past the end"
    *d = (struct decoded){0};
    NEED(4, "the outcome count");
    if (take(&p, 4) != records) return "the outcome count differs from the batch's";
    for (size_t i = 0; i < records; i++) {
        NEED(5, "an outcome");
        uint64_t tag = take(&p, 1), n = take(&p, 4);
        if (tag == 1) {
            NEED(n, "a rejection reason");
            if (!sluice_utf8_valid((sluice_bytes){p, n})) return "a rejection reason is not UTF-8";
            p += n;
            d->rejected++;
            continue;
        }
        if (tag != 0) return "an unknown outcome tag";
        for (uint64_t o = 0; o < n; o++) {
            NEED(SLUICE_OUTPUT_FIXED, "an output record");
            take(&p, 8);
            uint64_t key = take(&p, 4), value = take(&p, 4), route = take(&p, 2), headers = take(&p, 2);
            if (key != SLUICE_ABSENT_LEN) { NEED(key, "a key"); p += key; }
            if (value != SLUICE_ABSENT_LEN) { NEED(value, "a value"); p += value; }
            for (uint64_t h = 0; h < headers; h++) {
                NEED(2, "a header name length");
                uint64_t name = take(&p, 2);
                NEED(name, "a header name");
                if (!sluice_utf8_valid((sluice_bytes){p, name})) return "a header name is not UTF-8";
                p += name;
                NEED(4, "a header value length");
                uint64_t len = take(&p, 4);
                NEED(len, "a header value");
                p += len;
            }
            if (route == SLUICE_DEFAULT_ROUTE) {
                d->default_routes++;
            } else {
                NEED(route, "a route");
                if (!sluice_utf8_valid((sluice_bytes){p, route})) return "a route is not UTF-8";
                p += route;
            }
            d->outputs++;
        }
    }
    if (p != end) return "bytes after the last outcome";
    return NULL;
#undef NEED
}

#endif
