/* {{name}}: a Sluice plugin. It drops debug-level records, tags the others with
 * `"tag": "<config tag, or the plugin's name>"`, and rejects values that are not JSON
 * objects, so that they land in the dead-letter sink with the reason. */

#include <string.h>

#include "sluice.h"

struct tag {
    const char *tag;
    sluice_buf level; /* the level's text, reused from record to record */
    sluice_buf value; /* the new value, likewise */
};

static const char *init(const sluice_config *config, void **state) {
    static struct tag tag;
    tag.tag = sluice_config_get(config, "tag");
    if (tag.tag == NULL) tag.tag = "{{name}}";
    *state = &tag;
    return NULL;
}

static void process(void *state, const sluice_record *record, sluice_output *out) {
    struct tag *tag = state;
    sluice_bytes json, field;
    if (!sluice_record_json(record, out, &json)) return; /* rejected: not JSON */
    if (sluice_json_kind_of(json) != SLUICE_JSON_OBJECT) {
        sluice_reject(out, "value is not a JSON object");
        return;
    }
    if (sluice_json_field(json, "level", &field) != SLUICE_JSON_MISSING) {
        tag->level.len = 0;
        sluice_json_text(field, &tag->level);
        if (sluice_bytes_eq(sluice_buf_bytes(&tag->level), "debug")) return; /* dropped: no output */
    }
    /* The text of the object with "tag" set: its old value replaced, or a member added
     * before the closing brace. */
    tag->value.len = 0;
    if (sluice_json_field(json, "tag", &field) != SLUICE_JSON_MISSING) {
        sluice_buf_append(&tag->value, json.ptr, (size_t)(field.ptr - json.ptr));
        sluice_buf_append_json_string(&tag->value, sluice_text(tag->tag));
        sluice_buf_append(&tag->value, field.ptr + field.len, (size_t)(json.ptr + json.len - (field.ptr + field.len)));
    } else {
        size_t close = json.len - 1, last;
        while (json.ptr[close] != '}') close--;
        for (last = close - 1; strchr(" \t\r\n", json.ptr[last]); last--) {}
        bool empty = json.ptr[last] == '{';
        sluice_buf_append(&tag->value, json.ptr, close);
        sluice_buf_append_text(&tag->value, empty ? "\"tag\":" : ",\"tag\":");
        sluice_buf_append_json_string(&tag->value, sluice_text(tag->tag));
        sluice_buf_append(&tag->value, json.ptr + close, json.len - close);
    }
    sluice_emit_value(out, sluice_buf_bytes(&tag->value), NULL);
}

SLUICE_PLUGIN(.init = init, .process = process);
