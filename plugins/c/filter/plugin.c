/* Keeps records whose JSON field has a given value, and drops the others.
 *
 * Config: `field` (a field name, dotted path or JSON pointer) and `equals` (the value to
 * keep, compared as text: "7" matches both 7 and "7"). Records that are not JSON are
 * rejected, so that a schema change upstream shows up in the dead-letter sink instead of
 * silently emptying the output. */

#include "sluice.h"

struct filter {
    const char *field;
    const char *equals;
    sluice_buf text; /* the field's text, reused from record to record */
};

static const char *init(const sluice_config *config, void **state) {
    static struct filter filter;
    filter.field = sluice_config_get(config, "field");
    filter.equals = sluice_config_get(config, "equals");
    if (filter.field == NULL) return "missing required config key `field`";
    if (filter.equals == NULL) return "missing required config key `equals`";
    *state = &filter;
    return NULL;
}

static bool keep(void *state, const sluice_record *record, sluice_output *out) {
    struct filter *filter = state;
    sluice_bytes raw;
    /* Not JSON (the record is rejected) or no such field: not kept. */
    if (sluice_record_json_field(record, out, filter->field, &raw) <= SLUICE_JSON_MISSING) return false;
    filter->text.len = 0;
    sluice_json_text(raw, &filter->text);
    return sluice_bytes_eq(sluice_buf_bytes(&filter->text), filter->equals);
}

SLUICE_PLUGIN(.init = init, .keep = keep);
