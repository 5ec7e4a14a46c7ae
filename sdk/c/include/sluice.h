/* The Sluice SDK for C: write Sluice transformation plugins in C.
 *
 * A plugin defines what to do per record and names it with SLUICE_PLUGIN:
 *
 *     #include "sluice.h"
 *
 *     static void process(void *state, const sluice_record *record, sluice_output *out) {
 *         sluice_forward(out, NULL);
 *     }
 *
 *     SLUICE_PLUGIN(.process = process);
 *
 * The SDK reads each record of the batch the host sends in place and writes what the
 * plugin emits straight into the result; the encoding (sdk/SPEC.md) never shows. Every
 * `sluice_bytes` a record gives is a view into the batch, valid until the plugin's call
 * for that record returns. `sluice plugin build` compiles the plugin, this SDK and the
 * bindings of the WIT contract with clang for wasm32-wasi into a component. */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes: a pointer and a length. `ptr == NULL` means absent, which is not the same as
 * empty (an empty value has a pointer and a length of 0). */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} sluice_bytes;

/* NUL-terminated text as bytes; NULL gives absent. */
sluice_bytes sluice_text(const char *text);
/* Whether `bytes` holds exactly the text `text`. */
bool sluice_bytes_eq(sluice_bytes bytes, const char *text);
/* Whether `bytes` is valid UTF-8 (absent is not). */
bool sluice_utf8_valid(sluice_bytes bytes);

/* A growable buffer, for building values. Zero-initialise it; `sluice_buf_free` frees it. */
typedef struct {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} sluice_buf;

void sluice_buf_append(sluice_buf *buf, const void *data, size_t len);
void sluice_buf_append_text(sluice_buf *buf, const char *text);
/* Appends `text` as a JSON string, quoted and escaped. */
void sluice_buf_append_json_string(sluice_buf *buf, sluice_bytes text);
/* Appends the valid UTF-8 `text` upper-cased, with Unicode's full mapping (ß -> SS, ﬁ ->
 * FI), as Rust's `to_uppercase`, JavaScript's `toUpperCase` and Python's `upper` do. */
void sluice_buf_append_upper(sluice_buf *buf, sluice_bytes text);
sluice_bytes sluice_buf_bytes(const sluice_buf *buf);
void sluice_buf_free(sluice_buf *buf);

/* One input record, read in place from the batch. */
typedef struct sluice_record sluice_record;

sluice_bytes sluice_record_key(const sluice_record *record);
sluice_bytes sluice_record_value(const sluice_record *record);
/* The timestamp in milliseconds since the Unix epoch into `*ms`; false if the source gave
 * none. */
bool sluice_record_timestamp(const sluice_record *record, int64_t *ms);
uint64_t sluice_record_offset(const sluice_record *record);
uint32_t sluice_record_partition(const sluice_record *record);
/* The topic, stream, subject or file the record came from (UTF-8). */
sluice_bytes sluice_record_stream(const sluice_record *record);
/* The name of the pipeline's source (UTF-8). */
sluice_bytes sluice_record_source(const sluice_record *record);
size_t sluice_record_header_count(const sluice_record *record);
/* The header at `index`, in order (names may repeat); false past the last. */
bool sluice_record_header(const sluice_record *record, size_t index, sluice_bytes *name, sluice_bytes *value);
/* The value of the first header called `name`, or absent. */
sluice_bytes sluice_record_header_value(const sluice_record *record, const char *name);

/* Where a plugin puts the outputs of the record at hand. Each emit is one output: emit
 * several times to fan out, none to drop the record. `route` names a route of the
 * pipeline's `routes` table; NULL is the default route. */
typedef struct sluice_output sluice_output;

/* The input record unchanged: key, value and headers in one copy. */
void sluice_forward(sluice_output *out, const char *route);
/* The input record with a new value (copied); its key, headers and timestamp are kept. */
void sluice_emit_value(sluice_output *out, sluice_bytes value, const char *route);

typedef struct {
    sluice_bytes name; /* UTF-8 */
    sluice_bytes value;
} sluice_header;

/* A record built by the plugin; its fields are copied when emitted. */
typedef struct {
    sluice_bytes key;
    sluice_bytes value;
    const sluice_header *headers;
    size_t header_count;
    bool has_timestamp;
    int64_t timestamp;
} sluice_out_record;

void sluice_emit(sluice_output *out, const sluice_out_record *record, const char *route);

/* Rejects the record: the host sends it to the pipeline's dead-letter sink with this
 * reason (printf-style), and what was emitted for it is dropped, as is what the plugin
 * emits for it afterwards. */
void sluice_reject(sluice_output *out, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Fails the whole batch with this message, as a crash would: the host finds the record
 * that fails alone and dead-letters it with the message, following the plugin's
 * `on_failure`. For what should never happen; a bad record is `sluice_reject`ed. */
void sluice_fail(sluice_output *out, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The plugin's configuration: the key/value table of its pipeline config, as text;
 * numbers and booleans arrive in their TOML spelling. */
typedef struct sluice_config sluice_config;

/* The value of `key` (NUL-terminated), or NULL when unset. */
const char *sluice_config_get(const sluice_config *config, const char *key);
size_t sluice_config_count(const sluice_config *config);
/* The entry at `index`, in the order the host gave them; false past the last. */
bool sluice_config_entry(const sluice_config *config, size_t index, const char **key, const char **value);
/* A message for `init` to return (printf-style), in a buffer the SDK owns. */
const char *sluice_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* A plugin: what it does per record, and how it starts.
 *
 * `init` (optional) builds the plugin's state from its configuration; it returns NULL,
 * or the message why the plugin cannot start (the host shows it and does not start the
 * plugin). Then exactly one of, or none to forward every record unchanged:
 * - `process`: emits the record's outputs through `out`, or rejects it;
 * - `keep`: true forwards the record unchanged, false drops it (a filter);
 * - `map_value`: the record's new value (`value` is absent when the record has none),
 *   which must stay valid until the next call (a `sluice_buf` of the state, say); its
 *   key, headers and timestamp are kept.
 * `keep` and `map_value` may reject through `out` too. */
typedef struct {
    const char *(*init)(const sluice_config *config, void **state);
    void (*process)(void *state, const sluice_record *record, sluice_output *out);
    bool (*keep)(void *state, const sluice_record *record, sluice_output *out);
    sluice_bytes (*map_value)(void *state, sluice_bytes value, sluice_output *out);
} sluice_plugin;

/* Names the plugin of this component: `SLUICE_PLUGIN(.init = init, .process = process);` */
#define SLUICE_PLUGIN(...) const sluice_plugin sluice_plugin_definition = {__VA_ARGS__}
extern const sluice_plugin sluice_plugin_definition;

/* The host's log and metrics, labelled with the plugin and the pipeline. */
typedef enum { SLUICE_TRACE, SLUICE_DEBUG, SLUICE_INFO, SLUICE_WARN, SLUICE_ERROR } sluice_level;

typedef struct {
    const char *name;
    const char *value;
} sluice_field;

/* A log line (printf-style message). */
void sluice_log(sluice_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* A log line with fields shown alongside the message. */
void sluice_log_fields(sluice_level level, const char *message, const sluice_field *fields, size_t count);
void sluice_counter_add(const char *name, uint64_t delta);
void sluice_gauge_set(const char *name, double value);

/* JSON, read in place: validation, and field lookups the same as the other SDKs'. */
typedef enum {
    SLUICE_JSON_INVALID = -1, /* the record was rejected: its value is not JSON */
    SLUICE_JSON_MISSING = 0,
    SLUICE_JSON_NULL,
    SLUICE_JSON_FALSE,
    SLUICE_JSON_TRUE,
    SLUICE_JSON_NUMBER,
    SLUICE_JSON_STRING,
    SLUICE_JSON_ARRAY,
    SLUICE_JSON_OBJECT,
} sluice_json_kind;

/* Whether `json` is one valid JSON text (RFC 8259, UTF-8); if not, `*error` (when not
 * NULL) says what is wrong and where, in a buffer the SDK owns. */
bool sluice_json_valid(sluice_bytes json, const char **error);
/* The kind of a valid JSON value. */
sluice_json_kind sluice_json_kind_of(sluice_bytes json);
/* The value at `path` in the valid JSON `json`, its text into `*raw`: a JSON pointer
 * (`/user/country`, `/items/0`) or dotted field names (`user.country`; a plain name is a
 * top-level field). MISSING when there is none. */
sluice_json_kind sluice_json_field(sluice_bytes json, const char *path, sluice_bytes *raw);
/* Appends a JSON value's text: a string's content, unescaped; anything else as written. */
void sluice_json_text(sluice_bytes raw, sluice_buf *into);

/* The record's value as text: true with the value in `*text`, or false after rejecting
 * the record ("record has no value", "value is not UTF-8"). */
bool sluice_record_text(const sluice_record *record, sluice_output *out, sluice_bytes *text);
/* The record's value as JSON: true with the value's text in `*json`, or false after
 * rejecting the record ("record has no value", "value is not valid JSON: ..."). */
bool sluice_record_json(const sluice_record *record, sluice_output *out, sluice_bytes *json);
/* `sluice_json_field` of the record's value; INVALID after rejecting the record as
 * `sluice_record_json` does. */
sluice_json_kind sluice_record_json_field(const sluice_record *record, sluice_output *out, const char *path,
                                          sluice_bytes *raw);

#ifdef __cplusplus
}
#endif

#endif
