/* The shared wire-format vectors (sdk/vectors/, specified in sdk/SPEC.md) through this
 * SDK's own batch loop, natively: every valid batch decodes to its records, every
 * malformed one fails the call, and every valid result is written byte for byte. The
 * vector files are read with the SDK's own JSON lookups.
 *
 * Built and run by scripts/test-sdks, natively, with the vectors' directory as argument. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"
#include "check.h"
#include "sluice_testing.h"

static const char *vectors_dir;

/* The raw JSON at the pointer `format, ...` of `doc`. */
static sluice_json_kind at(sluice_bytes doc, sluice_bytes *raw, const char *format, ...) {
    char path[256];
    va_list args;
    va_start(args, format);
    vsnprintf(path, sizeof path, format, args);
    va_end(args);
    return sluice_json_field(doc, path, raw);
}

/* A text field of the vectors as a NUL-terminated string (static until the next call). */
static const char *text_at(sluice_bytes doc, const char *path) {
    static sluice_buf buf;
    sluice_bytes raw;
    buf.len = 0;
    if (sluice_json_field(doc, path, &raw) == SLUICE_JSON_MISSING) return "";
    sluice_json_text(raw, &buf);
    sluice_buf_append(&buf, "", 1);
    return (const char *)buf.ptr;
}

/* A copy of `text`, to keep past the next `text_at`. */
static char *copy_text(const char *text) {
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy == NULL) abort();
    return memcpy(copy, text, n);
}

static int base64_digit(uint8_t c) {
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *found = c ? strchr(alphabet, c) : NULL;
    return found ? (int)(found - alphabet) : -1;
}

/* A byte string of the vector JSON: null (absent), text, {"base64"} or {"repeat",
 * "count"}; appended to `into`. Returns false for null. */
static bool data(sluice_bytes raw, sluice_buf *into) {
    sluice_json_kind kind = sluice_json_kind_of(raw);
    sluice_bytes part;
    if (kind == SLUICE_JSON_NULL) return false;
    if (kind == SLUICE_JSON_STRING) {
        sluice_json_text(raw, into);
    } else if (sluice_json_field(raw, "base64", &part) == SLUICE_JSON_STRING) {
        sluice_buf text = {0};
        sluice_json_text(part, &text);
        uint32_t bits = 0;
        int have = 0;
        for (size_t i = 0; i < text.len; i++) {
            int d = base64_digit(text.ptr[i]);
            if (d < 0) continue; /* padding */
            bits = bits << 6 | (uint32_t)d;
            have += 6;
            if (have >= 8) {
                uint8_t byte = (uint8_t)(bits >> (have - 8));
                sluice_buf_append(into, &byte, 1);
                have -= 8;
            }
        }
        sluice_buf_free(&text);
    } else {
        sluice_bytes count;
        sluice_buf unit = {0};
        sluice_json_field(raw, "repeat", &part);
        sluice_json_field(raw, "count", &count);
        sluice_json_text(part, &unit);
        for (long n = strtol((const char *)count.ptr, NULL, 10); n > 0; n--) sluice_buf_append(into, unit.ptr, unit.len);
        sluice_buf_free(&unit);
    }
    return true;
}

static bool same(sluice_bytes a, bool present, const sluice_buf *b) {
    if (!present) return a.ptr == NULL;
    return a.ptr != NULL && a.len == b->len && (a.len == 0 || memcmp(a.ptr, b->ptr, a.len) == 0);
}

static sluice_buf read_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", vectors_dir, name);
    FILE *f = fopen(path, "rb");
    sluice_buf buf = {0};
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sluice_buf_append(&buf, chunk, n);
    fclose(f);
    return buf;
}

/* What the Capture plugin compares each record with: the case's JSON and its index. */
struct capture {
    sluice_bytes doc;
    const char *kind;
    size_t vector;
    size_t seen;
};

static void capture(void *state, const sluice_record *r, sluice_output *out) {
    struct capture *c = state;
    char base[96];
    snprintf(base, sizeof base, "/%s/%zu/records/%zu", c->kind, c->vector, c->seen);
    sluice_bytes raw;
    char path[160];
    sluice_buf want = {0};

    snprintf(path, sizeof path, "/%s/%zu/source", c->kind, c->vector);
    sluice_json_field(c->doc, path, &raw);
    CHECK(same(sluice_record_source(r), data(raw, &want), &want), "%s: source", base);
    want.len = 0;
    snprintf(path, sizeof path, "%s/stream", base);
    sluice_json_field(c->doc, path, &raw);
    CHECK(same(sluice_record_stream(r), data(raw, &want), &want), "%s: stream", base);
    snprintf(path, sizeof path, "%s/offset", base);
    CHECK(sluice_record_offset(r) == strtoull(text_at(c->doc, path), NULL, 10), "%s: offset", base);
    snprintf(path, sizeof path, "%s/partition", base);
    CHECK(sluice_record_partition(r) == strtoul(text_at(c->doc, path), NULL, 10), "%s: partition", base);
    int64_t ts;
    bool has = sluice_record_timestamp(r, &ts);
    snprintf(path, sizeof path, "%s/timestamp", base);
    sluice_json_field(c->doc, path, &raw);
    if (sluice_json_kind_of(raw) == SLUICE_JSON_NULL) CHECK(!has, "%s: a timestamp", base);
    else CHECK(has && ts == strtoll(text_at(c->doc, path), NULL, 10), "%s: timestamp", base);
    const char *fields[] = {"key", "value"};
    for (int f = 0; f < 2; f++) {
        want.len = 0;
        snprintf(path, sizeof path, "%s/%s", base, fields[f]);
        sluice_json_field(c->doc, path, &raw);
        bool present = data(raw, &want);
        sluice_bytes got = f == 0 ? sluice_record_key(r) : sluice_record_value(r);
        CHECK(same(got, present, &want), "%s: %s", base, fields[f]);
    }
    /* Headers: a list of pairs, or {"repeat": [name, value], "count": n}. */
    snprintf(path, sizeof path, "%s/headers", base);
    sluice_json_field(c->doc, path, &raw);
    bool repeated = sluice_json_kind_of(raw) == SLUICE_JSON_OBJECT;
    size_t count = 0;
    sluice_bytes n_raw;
    if (repeated) {
        snprintf(path, sizeof path, "%s/headers/count", base);
        sluice_json_field(c->doc, path, &n_raw);
        count = strtoul((const char *)n_raw.ptr, NULL, 10);
    } else {
        while (at(c->doc, &n_raw, "%s/headers/%zu", base, count) != SLUICE_JSON_MISSING) count++;
    }
    CHECK(sluice_record_header_count(r) == count, "%s: %zu headers", base, count);
    sluice_buf name = {0};
    for (size_t h = 0; h < count && h < sluice_record_header_count(r); h++) {
        sluice_bytes got_name, got_value;
        sluice_record_header(r, h, &got_name, &got_value);
        name.len = want.len = 0;
        at(c->doc, &raw, repeated ? "%s/headers/repeat/0" : "%s/headers/%zu/0", base, h);
        data(raw, &name);
        at(c->doc, &raw, repeated ? "%s/headers/repeat/1" : "%s/headers/%zu/1", base, h);
        data(raw, &want);
        CHECK(same(got_name, true, &name) && same(got_value, true, &want), "%s: header %zu", base, h);
    }
    sluice_buf_free(&name);
    sluice_buf_free(&want);
    c->seen++;
    sluice_forward(out, NULL);
}

static bool keep_all(void *state, const sluice_record *r, sluice_output *out) {
    (void)state, (void)r, (void)out;
    return true;
}

static sluice_bytes same_value(void *state, sluice_bytes value, sluice_output *out) {
    (void)state, (void)out;
    return value;
}

/* Emits, for the record at offset i, the i-th outcome of a result vector. */
struct replay {
    sluice_bytes doc;
    size_t vector;
};

static void replay(void *state, const sluice_record *r, sluice_output *out) {
    struct replay *c = state;
    char base[96];
    snprintf(base, sizeof base, "/valid/%zu/outcomes/%llu", c->vector, (unsigned long long)sluice_record_offset(r));
    sluice_bytes raw;
    sluice_buf a = {0};
    if (at(c->doc, &raw, "%s/rejected", base) != SLUICE_JSON_MISSING) {
        data(raw, &a);
        sluice_buf_append(&a, "", 1);
        sluice_reject(out, "%s", (const char *)a.ptr);
        sluice_buf_free(&a);
        return;
    }
    for (size_t o = 0; at(c->doc, &raw, "%s/outputs/%zu", base, o) != SLUICE_JSON_MISSING; o++) {
        sluice_buf key = {0}, value = {0}, route = {0};
        sluice_out_record record = {0};
        at(c->doc, &raw, "%s/outputs/%zu/key", base, o);
        record.key = data(raw, &key) ? sluice_buf_bytes(&key) : (sluice_bytes){0};
        at(c->doc, &raw, "%s/outputs/%zu/value", base, o);
        record.value = data(raw, &value) ? sluice_buf_bytes(&value) : (sluice_bytes){0};
        char path[160];
        snprintf(path, sizeof path, "%s/outputs/%zu/timestamp", base, o);
        sluice_json_field(c->doc, path, &raw);
        record.has_timestamp = sluice_json_kind_of(raw) != SLUICE_JSON_NULL;
        if (record.has_timestamp) record.timestamp = strtoll(text_at(c->doc, path), NULL, 10);
        /* Headers: the names and values, back to back in two buffers. */
        at(c->doc, &raw, "%s/outputs/%zu/headers", base, o);
        bool repeated = sluice_json_kind_of(raw) == SLUICE_JSON_OBJECT;
        size_t count = 0;
        if (repeated) {
            at(c->doc, &raw, "%s/outputs/%zu/headers/count", base, o);
            count = strtoul((const char *)raw.ptr, NULL, 10);
        } else {
            while (at(c->doc, &raw, "%s/outputs/%zu/headers/%zu", base, o, count) != SLUICE_JSON_MISSING) count++;
        }
        sluice_header *headers = calloc(count ? count : 1, sizeof *headers);
        sluice_buf *names = calloc(count ? count : 1, sizeof *names), *values = calloc(count ? count : 1, sizeof *values);
        for (size_t h = 0; h < count; h++) {
            at(c->doc, &raw, repeated ? "%s/outputs/%zu/headers/repeat/0" : "%s/outputs/%zu/headers/%zu/0", base, o, h);
            data(raw, &names[h]);
            at(c->doc, &raw, repeated ? "%s/outputs/%zu/headers/repeat/1" : "%s/outputs/%zu/headers/%zu/1", base, o, h);
            data(raw, &values[h]);
            headers[h] = (sluice_header){sluice_buf_bytes(&names[h]), sluice_buf_bytes(&values[h])};
        }
        record.headers = headers;
        record.header_count = count;
        at(c->doc, &raw, "%s/outputs/%zu/route", base, o);
        bool routed = data(raw, &route);
        sluice_buf_append(&route, "", 1);
        sluice_emit(out, &record, routed ? (const char *)route.ptr : NULL);
        for (size_t h = 0; h < count; h++) sluice_buf_free(&names[h]), sluice_buf_free(&values[h]);
        free(names), free(values), free(headers);
        sluice_buf_free(&key), sluice_buf_free(&value), sluice_buf_free(&route);
    }
}

/* A batch of `n` records, each with the value "x" and its index as offset. */
static sluice_buf inputs(size_t n) {
    sluice_test_record *records = calloc(n + 1, sizeof *records);
    if (records == NULL) abort();
    for (size_t i = 0; i < n; i++) records[i] = (sluice_test_record){.value = sluice_text("x"), .offset = i};
    sluice_buf batch = {0};
    sluice_test_encode(records, n, "s", &batch);
    free(records);
    return batch;
}

/* The component's plugin, which the testing library runs; these tests run their own. */
SLUICE_PLUGIN();

int main(int argc, char **argv) {
    vectors_dir = argc > 1 ? argv[1] : "../vectors";
    sluice_buf batches = read_file("batches.json"), results = read_file("results.json");
    sluice_bytes bdoc = sluice_buf_bytes(&batches), rdoc = sluice_buf_bytes(&results);
    CHECK(sluice_json_valid(bdoc, NULL) && sluice_json_valid(rdoc, NULL), "the vector files are JSON");
    sluice_bytes raw;
    sluice_buf result = {0}, first = {0};

    for (size_t v = 0; at(bdoc, &raw, "/valid/%zu", v) != SLUICE_JSON_MISSING; v++) {
        char path[64];
        snprintf(path, sizeof path, "/valid/%zu/file", v);
        sluice_buf batch = read_file(text_at(bdoc, path));
        snprintf(path, sizeof path, "/valid/%zu/name", v);
        const char *name = copy_text(text_at(bdoc, path));
        struct capture c = {bdoc, "valid", v, 0};
        sluice_plugin capturing = {.process = capture};
        char *error = sluice_run_batch(&capturing, &c, batch.ptr, batch.len, &first);
        CHECK(error == NULL, "%s: %s", name, error);
        size_t records = 0;
        while (at(bdoc, &raw, "/valid/%zu/records/%zu", v, records) != SLUICE_JSON_MISSING) records++;
        CHECK(c.seen == records, "%s: saw %zu of %zu records", name, c.seen, records);
        /* Every loop forwards a valid batch alike. */
        sluice_plugin loops[] = {{0}, {.keep = keep_all}, {.map_value = same_value}};
        for (size_t l = 0; l < 3; l++) {
            error = sluice_run_batch(&loops[l], NULL, batch.ptr, batch.len, &result);
            CHECK(error == NULL && result.len == first.len && memcmp(result.ptr, first.ptr, first.len) == 0,
                  "%s: loop %zu forwards differently", name, l);
        }
        /* And what they forward is each record, unchanged, on the default route. */
        sluice_test_result decoded;
        sluice_test_decode(sluice_buf_bytes(&first), records, &decoded);
        CHECK(decoded.failure == NULL, "%s: the result is refused: %s", name, decoded.failure);
        for (size_t i = 0; i < decoded.count; i++) {
            const sluice_test_outcome *o = &decoded.outcomes[i];
            CHECK(o->rejected == NULL && o->count == 1 && o->outputs[0].route == NULL,
                  "%s: record %zu is not forwarded once on the default route", name, i);
        }
        sluice_test_free(&decoded);
        free((void *)name);
        sluice_buf_free(&batch);
    }

    for (size_t v = 0; at(bdoc, &raw, "/malformed/%zu", v) != SLUICE_JSON_MISSING; v++) {
        char path[64];
        snprintf(path, sizeof path, "/malformed/%zu/name", v);
        const char *name = copy_text(text_at(bdoc, path));
        sluice_buf batch = {0};
        at(bdoc, &raw, "/malformed/%zu/bytes", v);
        data(raw, &batch);
        sluice_plugin loops[] = {{0}, {.keep = keep_all}, {.map_value = same_value}};
        for (size_t l = 0; l < 3; l++) {
            char *error = sluice_run_batch(&loops[l], NULL, batch.ptr, batch.len, &result);
            CHECK(error != NULL, "%s is not refused by loop %zu", name, l);
            free(error);
        }
        free((void *)name);
        sluice_buf_free(&batch);
    }

    for (size_t v = 0; at(rdoc, &raw, "/valid/%zu", v) != SLUICE_JSON_MISSING; v++) {
        char path[64];
        snprintf(path, sizeof path, "/valid/%zu/name", v);
        const char *name = copy_text(text_at(rdoc, path));
        size_t outcomes = 0;
        while (at(rdoc, &raw, "/valid/%zu/outcomes/%zu", v, outcomes) != SLUICE_JSON_MISSING) outcomes++;
        sluice_buf batch = inputs(outcomes);
        struct replay c = {rdoc, v};
        sluice_plugin replaying = {.process = replay};
        char *error = sluice_run_batch(&replaying, &c, batch.ptr, batch.len, &result);
        snprintf(path, sizeof path, "/valid/%zu/file", v);
        sluice_buf want = read_file(text_at(rdoc, path));
        size_t differs = 0;
        while (differs < result.len && differs < want.len && result.ptr[differs] == want.ptr[differs]) differs++;
        CHECK(error == NULL, "%s: %s", name, error);
        CHECK(result.len == want.len && differs == want.len,
              "%s is not written byte for byte (%zu bytes, expected %zu; from byte %zu on)", name, result.len, want.len,
              differs);
        free(error);
        free((void *)name);
        sluice_buf_free(&batch);
        sluice_buf_free(&want);
    }

    for (size_t v = 0; at(rdoc, &raw, "/malformed/%zu", v) != SLUICE_JSON_MISSING; v++) {
        char path[64];
        snprintf(path, sizeof path, "/malformed/%zu/name", v);
        const char *name = copy_text(text_at(rdoc, path));
        snprintf(path, sizeof path, "/malformed/%zu/records", v);
        size_t records = strtoul(text_at(rdoc, path), NULL, 10);
        sluice_buf bytes = {0};
        at(rdoc, &raw, "/malformed/%zu/bytes", v);
        data(raw, &bytes);
        sluice_test_result decoded;
        sluice_test_decode(sluice_buf_bytes(&bytes), records, &decoded);
        CHECK(decoded.failure != NULL, "%s is not refused", name);
        sluice_test_free(&decoded);
        free((void *)name);
        sluice_buf_free(&bytes);
    }
    sluice_buf_free(&result), sluice_buf_free(&first), sluice_buf_free(&batches), sluice_buf_free(&results);
    return checks_done("wire vectors");
}
