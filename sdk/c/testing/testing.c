/* The native side of sluice_testing.h: the host's log and metrics recorded for the test
 * to read (in place of component/component.c, which sends them to the host), batches
 * encoded as the host encodes them, and results read back as the host reads them. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"
#include "sluice_testing.h"

sluice_test_host sluice_test_captured;

void sluice_log_fields(sluice_level level, const char *message, const sluice_field *fields, size_t count) {
    sluice_test_host *h = &sluice_test_captured;
    h->logs++;
    h->last_level = level;
    snprintf(h->last_log, sizeof h->last_log, "%s", message);
    for (size_t i = 0; i < count; i++) {
        size_t at = strlen(h->last_log);
        snprintf(h->last_log + at, sizeof h->last_log - at, " %s=%s", fields[i].name, fields[i].value);
    }
}

void sluice_counter_add(const char *name, uint64_t delta) {
    (void)name;
    sluice_test_captured.counters += delta;
}

void sluice_gauge_set(const char *name, double value) {
    (void)name;
    sluice_test_captured.last_gauge = value;
}

/* Encoding. */

static void le(sluice_buf *b, uint64_t v, int bytes) {
    uint8_t out[8];
    for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(v >> (8 * i));
    sluice_buf_append(b, out, (size_t)bytes);
}

static void bytes_with_len(sluice_buf *b, sluice_bytes bytes, int len_bytes) {
    le(b, bytes.ptr ? bytes.len : SLUICE_ABSENT_LEN, len_bytes);
}

void sluice_test_encode(const sluice_test_record *records, size_t count, const char *source, sluice_buf *into) {
    le(into, count, 4);
    le(into, strlen(source), 2);
    sluice_buf_append_text(into, source);
    for (size_t i = 0; i < count; i++) {
        const sluice_test_record *r = &records[i];
        const char *stream = r->stream ? r->stream : "test";
        le(into, r->offset, 8);
        le(into, r->partition, 4);
        le(into, (uint64_t)(r->has_timestamp ? r->timestamp : SLUICE_NO_TIMESTAMP), 8);
        bytes_with_len(into, r->key, 4);
        bytes_with_len(into, r->value, 4);
        le(into, strlen(stream), 2);
        le(into, r->header_count, 2);
        sluice_buf_append(into, r->key.ptr, r->key.len);
        sluice_buf_append(into, r->value.ptr, r->value.len);
        for (size_t h = 0; h < r->header_count; h++) {
            le(into, r->headers[h].name.len, 2);
            sluice_buf_append(into, r->headers[h].name.ptr, r->headers[h].name.len);
            le(into, r->headers[h].value.len, 4);
            sluice_buf_append(into, r->headers[h].value.ptr, r->headers[h].value.len);
        }
        sluice_buf_append_text(into, stream);
    }
}

/* Decoding. A result's memory is one list of blocks, freed together. */

struct block {
    struct block *next;
    max_align_t data[];
};

static void *keep(sluice_test_result *result, size_t bytes) {
    struct block *b = calloc(1, sizeof *b + bytes + 1);
    if (b == NULL) abort();
    b->next = result->memory;
    result->memory = b;
    return b->data;
}

/* A NUL-terminated copy of `bytes`, owned by the result. */
static char *keep_text(sluice_test_result *result, const uint8_t *bytes, size_t len) {
    char *text = keep(result, len);
    memcpy(text, bytes, len);
    return text;
}

struct reader {
    const uint8_t *p, *end;
    const char *refused;
};

static bool need(struct reader *r, uint64_t n, const char *what) {
    if (r->refused) return false;
    if ((uint64_t)(r->end - r->p) >= n) return true;
    r->refused = what;
    return false;
}

static uint64_t take(struct reader *r, int bytes, const char *what) {
    if (!need(r, (uint64_t)bytes, what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

/* `len` bytes as a view into the copy of the result; absent for SLUICE_ABSENT_LEN. */
static sluice_bytes view(struct reader *r, uint64_t len, const char *what) {
    if (len == SLUICE_ABSENT_LEN || !need(r, len, what)) return (sluice_bytes){0};
    sluice_bytes b = {r->p, (size_t)len};
    r->p += len;
    return b;
}

static sluice_bytes text(struct reader *r, uint64_t len, const char *what, const char *not_utf8) {
    sluice_bytes b = view(r, len, what);
    if (b.ptr && !sluice_utf8_valid(b) && !r->refused) r->refused = not_utf8;
    return b;
}

static void output(struct reader *r, sluice_test_result *result, sluice_test_output *o) {
    int64_t timestamp = (int64_t)take(r, 8, "an output record");
    uint64_t key = take(r, 4, "an output record"), value = take(r, 4, "an output record");
    uint64_t route = take(r, 2, "an output record"), headers = take(r, 2, "an output record");
    if (r->refused) return;
    o->has_timestamp = timestamp != SLUICE_NO_TIMESTAMP;
    o->timestamp = o->has_timestamp ? timestamp : 0;
    o->key = view(r, key, "a key");
    o->value = view(r, value, "a value");
    o->header_count = (size_t)headers;
    o->headers = keep(result, (size_t)headers * sizeof *o->headers);
    for (uint64_t h = 0; h < headers && !r->refused; h++) {
        o->headers[h].name = text(r, take(r, 2, "a header name length"), "a header name", "a header name is not UTF-8");
        o->headers[h].value = view(r, take(r, 4, "a header value length"), "a header value");
    }
    if (route != SLUICE_DEFAULT_ROUTE) {
        sluice_bytes name = text(r, route, "a route", "a route is not UTF-8");
        if (!r->refused) o->route = keep_text(result, name.ptr, name.len);
    }
}

void sluice_test_decode(sluice_bytes bytes, size_t records, sluice_test_result *result) {
    *result = (sluice_test_result){0};
    uint8_t *copy = keep(result, bytes.len);
    memcpy(copy, bytes.ptr, bytes.len);
    struct reader r = {copy, copy + bytes.len, NULL};
    if (take(&r, 4, "the outcome count") != records && !r.refused) r.refused = "the outcome count differs from the batch's";
    sluice_test_outcome *outcomes = keep(result, records * sizeof *outcomes);
    for (size_t i = 0; i < records && !r.refused; i++) {
        sluice_test_outcome *o = &outcomes[i];
        uint64_t tag = take(&r, 1, "an outcome"), n = take(&r, 4, "an outcome");
        if (r.refused) break;
        if (tag == 1) {
            sluice_bytes reason = text(&r, n, "a rejection reason", "a rejection reason is not UTF-8");
            if (!r.refused) o->rejected = keep_text(result, reason.ptr, reason.len);
        } else if (tag != 0) {
            r.refused = "an unknown outcome tag";
        } else if (need(&r, n * SLUICE_OUTPUT_FIXED, "an output record")) {
            /* At most as many outputs as the rest could hold, so the count cannot make
             * the allocation huge. */
            o->count = (size_t)n;
            o->outputs = keep(result, o->count * sizeof *o->outputs);
            for (size_t k = 0; k < o->count && !r.refused; k++) output(&r, result, &o->outputs[k]);
        }
    }
    if (!r.refused && r.p != r.end) r.refused = "bytes after the last outcome";
    if (r.refused) {
        result->failure = keep_text(result, (const uint8_t *)r.refused, strlen(r.refused));
        return;
    }
    result->count = records;
    result->outcomes = outcomes;
}

void sluice_test_free(sluice_test_result *result) {
    for (struct block *b = result->memory, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    *result = (sluice_test_result){0};
}

/* Running the plugin. */

static void *state;
static struct sluice_config config;

const char *sluice_test_init(const char *const *pairs) {
    size_t n = 0;
    while (pairs && pairs[2 * n] != NULL) n++;
    free(config.keys);
    free(config.values);
    config.count = n;
    config.keys = calloc(n + 1, sizeof *config.keys);
    config.values = calloc(n + 1, sizeof *config.values);
    if (config.keys == NULL || config.values == NULL) abort();
    for (size_t i = 0; i < n; i++) {
        config.keys[i] = pairs[2 * i];
        config.values[i] = pairs[2 * i + 1] ? pairs[2 * i + 1] : "";
    }
    state = NULL;
    return sluice_plugin_definition.init ? sluice_plugin_definition.init(&config, &state) : NULL;
}

sluice_test_result sluice_test_run(const sluice_test_record *records, size_t count) {
    sluice_buf batch = {0}, bytes = {0};
    sluice_test_encode(records, count, "test", &batch);
    char *failure = sluice_run_batch(&sluice_plugin_definition, state, batch.ptr, batch.len, &bytes);
    sluice_test_result result = {0};
    if (failure != NULL) {
        result.failure = keep_text(&result, (const uint8_t *)failure, strlen(failure));
        free(failure);
    } else {
        sluice_test_decode(sluice_buf_bytes(&bytes), count, &result);
    }
    sluice_buf_free(&batch);
    sluice_buf_free(&bytes);
    return result;
}

/* Checks. */

static size_t checks, failures;

void sluice_test_passed(void) { checks++; }

void sluice_test_failed(const char *file, int line, const char *condition) {
    checks++;
    failures++;
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, condition);
}

int sluice_test_summary(void) {
    fprintf(stderr, "%zu checks, %zu failed\n", checks, failures);
    return failures ? 1 : 0;
}
