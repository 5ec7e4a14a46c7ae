/* The per-batch loop: reads each input record of a batch in place, hands it to the
 * plugin, and writes the result, as sdk/SPEC.md specifies; with the records' accessors
 * and the outputs' writers it uses. Integers are little-endian and unaligned: read and
 * written byte by byte, which compilers turn into single loads and stores. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }

/* Buffers. Out of memory aborts: the host sees a trap, as for any other crash. */

static void reserve(sluice_buf *buf, size_t more) {
    if (buf->cap - buf->len >= more) return;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < more) cap *= 2;
    uint8_t *grown = realloc(buf->ptr, cap);
    if (grown == NULL) abort();
    buf->ptr = grown;
    buf->cap = cap;
}

void sluice_buf_append(sluice_buf *buf, const void *data, size_t len) {
    reserve(buf, len);
    if (len) memcpy(buf->ptr + buf->len, data, len);
    buf->len += len;
}

void sluice_buf_append_text(sluice_buf *buf, const char *text) { sluice_buf_append(buf, text, strlen(text)); }

void sluice_buf_append_json_string(sluice_buf *buf, sluice_bytes text) {
    static const char digits[] = "0123456789abcdef";
    sluice_buf_append(buf, "\"", 1);
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        if (c == '"' || c == '\\') {
            uint8_t escaped[2] = {'\\', c};
            sluice_buf_append(buf, escaped, 2);
        } else if (c < 0x20) {
            uint8_t escaped[6] = {'\\', 'u', '0', '0', (uint8_t)digits[c >> 4], (uint8_t)digits[c & 15]};
            sluice_buf_append(buf, escaped, 6);
        } else {
            sluice_buf_append(buf, &c, 1);
        }
    }
    sluice_buf_append(buf, "\"", 1);
}

sluice_bytes sluice_buf_bytes(const sluice_buf *buf) { return (sluice_bytes){buf->ptr ? buf->ptr : (const uint8_t *)"", buf->len}; }

void sluice_buf_free(sluice_buf *buf) {
    free(buf->ptr);
    *buf = (sluice_buf){0};
}

sluice_bytes sluice_text(const char *text) { return (sluice_bytes){(const uint8_t *)text, text ? strlen(text) : 0}; }

bool sluice_bytes_eq(sluice_bytes bytes, const char *text) {
    size_t n = strlen(text);
    return bytes.ptr != NULL && bytes.len == n && memcmp(bytes.ptr, text, n) == 0;
}

char *sluice_format(const char *format, va_list args) {
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(NULL, 0, format, args);
    char *text = malloc(n < 0 ? 1 : (size_t)n + 1);
    if (text == NULL) abort();
    if (n < 0) text[0] = '\0';
    else vsnprintf(text, (size_t)n + 1, format, again);
    va_end(again);
    return text;
}

/* A log line: the message formatted, then given to the host as `sluice_log_fields`. */
void sluice_log(sluice_level level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *message = sluice_format(format, args);
    va_end(args);
    sluice_log_fields(level, message, NULL, 0);
    free(message);
}

/* Records. */

sluice_bytes sluice_record_key(const sluice_record *r) {
    return get32(r->fixed + 20) == SLUICE_ABSENT_LEN ? (sluice_bytes){0} : (sluice_bytes){r->key, (size_t)(r->key_end - r->key)};
}

sluice_bytes sluice_record_value(const sluice_record *r) {
    if (get32(r->fixed + 24) == SLUICE_ABSENT_LEN) return (sluice_bytes){0};
    return (sluice_bytes){r->key_end, (size_t)(r->headers - r->key_end)};
}

bool sluice_record_timestamp(const sluice_record *r, int64_t *ms) {
    int64_t timestamp = (int64_t)get64(r->fixed + 12);
    if (timestamp == SLUICE_NO_TIMESTAMP) return false;
    *ms = timestamp;
    return true;
}

uint64_t sluice_record_offset(const sluice_record *r) { return get64(r->fixed); }
uint32_t sluice_record_partition(const sluice_record *r) { return get32(r->fixed + 8); }
sluice_bytes sluice_record_stream(const sluice_record *r) { return (sluice_bytes){r->end, get16(r->fixed + 28)}; }
sluice_bytes sluice_record_source(const sluice_record *r) { return r->source; }
size_t sluice_record_header_count(const sluice_record *r) { return get16(r->fixed + 30); }

bool sluice_record_header(const sluice_record *r, size_t index, sluice_bytes *name, sluice_bytes *value) {
    if (index >= sluice_record_header_count(r)) return false;
    sluice_record *cache = (sluice_record *)r; /* the position is the SDK's own */
    if (index < cache->header_index) cache->header_index = 0, cache->header_at = r->headers;
    const uint8_t *p = cache->header_at;
    for (size_t i = cache->header_index;; i++) {
        size_t name_len = get16(p);
        size_t value_len = get32(p + 2 + name_len);
        if (i == index) {
            cache->header_index = i, cache->header_at = p;
            *name = (sluice_bytes){p + 2, name_len};
            *value = (sluice_bytes){p + 6 + name_len, value_len};
            return true;
        }
        p += 6 + name_len + value_len;
    }
}

sluice_bytes sluice_record_header_value(const sluice_record *r, const char *name) {
    sluice_bytes n, v;
    for (size_t i = 0; sluice_record_header(r, i, &n, &v); i++)
        if (sluice_bytes_eq(n, name)) return v;
    return (sluice_bytes){0};
}

/* Outputs. Each writes one output record after the outcome's header, which the loop
 * writes and completes with the count. */

static sluice_bytes route_of(const char *route) { return sluice_text(route); }

static void output_header(sluice_output *out, const uint8_t ts_key[12], uint32_t value_len, sluice_bytes route,
                          size_t headers) {
    uint8_t fixed[SLUICE_OUTPUT_FIXED];
    memcpy(fixed, ts_key, 12);
    put32(fixed + 12, value_len);
    put16(fixed + 16, route.ptr ? (uint32_t)route.len : SLUICE_DEFAULT_ROUTE);
    put16(fixed + 18, (uint32_t)headers);
    sluice_buf_append(out->result, fixed, sizeof fixed);
}

static bool accepts(sluice_output *out, sluice_bytes route) {
    if (out->rejected || out->failure) return false;
    if (route.len >= SLUICE_DEFAULT_ROUTE) {
        sluice_fail(out, "route name of %zu bytes (at most 65534)", route.len);
        return false;
    }
    return true;
}

void sluice_forward(sluice_output *out, const char *route) {
    sluice_bytes name = route_of(route);
    if (!accepts(out, name)) return;
    const sluice_record *r = out->record;
    output_header(out, r->fixed + 12, get32(r->fixed + 24), name, get16(r->fixed + 30));
    sluice_buf_append(out->result, r->key, (size_t)(r->end - r->key));
    sluice_buf_append(out->result, name.ptr, name.len);
    out->count++;
}

void sluice_emit_value(sluice_output *out, sluice_bytes value, const char *route) {
    sluice_bytes name = route_of(route);
    if (!accepts(out, name)) return;
    if (value.ptr && value.len >= SLUICE_ABSENT_LEN) {
        sluice_fail(out, "a value of %zu bytes", value.len);
        return;
    }
    const sluice_record *r = out->record;
    output_header(out, r->fixed + 12, value.ptr ? (uint32_t)value.len : SLUICE_ABSENT_LEN, name, get16(r->fixed + 30));
    sluice_buf_append(out->result, r->key, (size_t)(r->key_end - r->key));
    sluice_buf_append(out->result, value.ptr, value.len);
    sluice_buf_append(out->result, r->headers, (size_t)(r->end - r->headers));
    sluice_buf_append(out->result, name.ptr, name.len);
    out->count++;
}

static uint32_t length_of(sluice_bytes b) { return b.ptr ? (uint32_t)b.len : SLUICE_ABSENT_LEN; }

void sluice_emit(sluice_output *out, const sluice_out_record *record, const char *route) {
    sluice_bytes name = route_of(route);
    if (!accepts(out, name)) return;
    if (record->header_count > 0xffff) {
        sluice_fail(out, "%zu headers on one record (at most 65535)", record->header_count);
        return;
    }
    uint8_t ts_key[12];
    int64_t timestamp = record->has_timestamp ? record->timestamp : SLUICE_NO_TIMESTAMP;
    put32(ts_key, (uint32_t)(uint64_t)timestamp);
    put32(ts_key + 4, (uint32_t)((uint64_t)timestamp >> 32));
    put32(ts_key + 8, length_of(record->key));
    output_header(out, ts_key, length_of(record->value), name, record->header_count);
    sluice_buf_append(out->result, record->key.ptr, record->key.len);
    sluice_buf_append(out->result, record->value.ptr, record->value.len);
    for (size_t i = 0; i < record->header_count; i++) {
        const sluice_header *h = &record->headers[i];
        if (h->name.len > 0xffff) {
            sluice_fail(out, "header name of %zu bytes (at most 65535)", h->name.len);
            return;
        }
        uint8_t lens[4];
        put16(lens, (uint32_t)h->name.len);
        sluice_buf_append(out->result, lens, 2);
        sluice_buf_append(out->result, h->name.ptr, h->name.len);
        put32(lens, (uint32_t)h->value.len);
        sluice_buf_append(out->result, lens, 4);
        sluice_buf_append(out->result, h->value.ptr, h->value.len);
    }
    sluice_buf_append(out->result, name.ptr, name.len);
    out->count++;
}

void sluice_reject(sluice_output *out, const char *format, ...) {
    if (out->rejected || out->failure) return;
    va_list args;
    va_start(args, format);
    char *reason = sluice_format(format, args);
    va_end(args);
    out->result->len = out->outcome_at;
    uint8_t head[5] = {1};
    put32(head + 1, (uint32_t)strlen(reason));
    sluice_buf_append(out->result, head, 5);
    sluice_buf_append_text(out->result, reason);
    free(reason);
    out->rejected = true;
}

void sluice_fail(sluice_output *out, const char *format, ...) {
    if (out->failure) return;
    va_list args;
    va_start(args, format);
    out->failure = sluice_format(format, args);
    va_end(args);
}

/* Text and JSON of records (the scanner and lookups are json.c's). */

bool sluice_record_text(const sluice_record *record, sluice_output *out, sluice_bytes *text) {
    sluice_bytes value = sluice_record_value(record);
    if (value.ptr == NULL) {
        sluice_reject(out, "record has no value");
        return false;
    }
    if (!sluice_utf8_valid(value)) {
        sluice_reject(out, "value is not UTF-8");
        return false;
    }
    *text = value;
    return true;
}

bool sluice_record_json(const sluice_record *record, sluice_output *out, sluice_bytes *json) {
    sluice_record *r = (sluice_record *)record; /* the cache of the check is the SDK's own */
    sluice_bytes value = sluice_record_value(r);
    if (value.ptr == NULL) {
        sluice_reject(out, "record has no value");
        return false;
    }
    const char *error = NULL;
    if (r->json == 0) r->json = sluice_json_valid(value, &error) ? 1 : 2;
    if (r->json == 2) {
        if (error == NULL) sluice_json_valid(value, &error);
        sluice_reject(out, "value is not valid JSON: %s", error);
        return false;
    }
    *json = value;
    return true;
}

sluice_json_kind sluice_record_json_field(const sluice_record *record, sluice_output *out, const char *path,
                                          sluice_bytes *raw) {
    sluice_bytes json;
    if (!sluice_record_json(record, out, &json)) return SLUICE_JSON_INVALID;
    return sluice_json_field(json, path, raw);
}

/* The loop. */

static char *malformed(const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *text = sluice_format(format, args);
    va_end(args);
    return text;
}

char *sluice_run_batch(const sluice_plugin *plugin, void *state, const uint8_t *bytes, size_t len, sluice_buf *result) {
    const uint8_t *end = bytes + len;
    if (len < 6) return malformed("malformed batch header: %zu bytes", len);
    uint32_t count = get32(bytes);
    size_t source_len = get16(bytes + 4);
    if (6 + source_len > len) return malformed("the source name runs past the end");
    const uint8_t *p = bytes + 6 + source_len;
    result->len = 0;
    reserve(result, len + 64);
    uint8_t head[4];
    put32(head, count);
    sluice_buf_append(result, head, 4);
    static const uint8_t outputs[5] = {0}; /* tag 0, its count set after the plugin ran */
    sluice_record record = {.batch = bytes, .source = {bytes + 6, source_len}};
    sluice_output out = {.result = result, .record = &record};
    for (uint32_t index = 0; index < count; index++) {
        /* The record's bounds, checked before the plugin sees it; lengths are added as
         * 64-bit offsets from the start, so none can wrap. */
        size_t left = (size_t)(end - p);
        if (left < SLUICE_INPUT_FIXED) return malformed("record %u of %u runs past the end of the batch", index, count);
        uint32_t key_len = get32(p + 20), value_len = get32(p + 24);
        uint64_t at = SLUICE_INPUT_FIXED;
        uint64_t key_end = at + (key_len == SLUICE_ABSENT_LEN ? 0 : key_len);
        uint64_t headers = key_end + (value_len == SLUICE_ABSENT_LEN ? 0 : value_len);
        uint64_t headers_end = headers;
        for (uint32_t h = get16(p + 30); h > 0; h--) {
            if (headers_end + 2 > left) return malformed("record %u of %u runs past the end of the batch", index, count);
            headers_end += 2 + get16(p + headers_end);
            if (headers_end + 4 > left) return malformed("record %u of %u runs past the end of the batch", index, count);
            headers_end += 4 + (uint64_t)get32(p + headers_end);
        }
        uint64_t next = headers_end + get16(p + 28);
        if (next > left) return malformed("record %u of %u runs past the end of the batch", index, count);

        record.fixed = p;
        record.key = p + at;
        record.key_end = p + key_end;
        record.headers = p + headers;
        record.end = p + headers_end;
        record.json = 0;
        record.header_index = 0;
        record.header_at = record.headers;
        out.count = 0;
        out.rejected = false;
        out.outcome_at = result->len;
        sluice_buf_append(result, outputs, 5);
        if (plugin->process) {
            plugin->process(state, &record, &out);
        } else if (plugin->keep) {
            if (plugin->keep(state, &record, &out)) sluice_forward(&out, NULL);
        } else if (plugin->map_value) {
            sluice_bytes value = plugin->map_value(state, sluice_record_value(&record), &out);
            sluice_emit_value(&out, value, NULL);
        } else {
            sluice_forward(&out, NULL);
        }
        if (out.failure) return out.failure;
        if (!out.rejected) put32(result->ptr + out.outcome_at + 1, out.count);
        p += next;
    }
    if (p != end) return malformed("%zu bytes after the last record", (size_t)(end - p));
    return NULL;
}
