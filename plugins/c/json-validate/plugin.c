/* Passes records whose value is valid JSON and rejects the rest, with the parser's
 * reason, so that they land in the dead-letter sink.
 *
 * Config (optional): `require`, a comma-separated list of top-level fields that every
 * record must have. */

#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* The required fields as JSON pointers ("/id"), for top-level lookups, and as named. */
struct validate {
    char **pointers;
    char **names;
    size_t count;
};

/* The fields of an earlier `init` (tests start a plugin more than once). */
static void clear(struct validate *validate) {
    for (size_t i = 0; i < validate->count; i++) free(validate->pointers[i]), free(validate->names[i]);
    free(validate->pointers);
    free(validate->names);
    *validate = (struct validate){0};
}

static const char *init(const sluice_config *config, void **state) {
    static struct validate validate;
    clear(&validate);
    const char *list = sluice_config_get(config, "require");
    if (list == NULL) list = "";
    validate.pointers = calloc(strlen(list) / 2 + 1, sizeof *validate.pointers);
    validate.names = calloc(strlen(list) / 2 + 1, sizeof *validate.names);
    if (validate.pointers == NULL || validate.names == NULL) abort();
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *a = p, *b = p + len;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        if (b > a) {
            /* A JSON pointer escapes `~` as `~0` and `/` as `~1`: at most twice the name. */
            char *pointer = malloc(2 * (size_t)(b - a) + 2), *w = pointer;
            char *name = calloc(1, (size_t)(b - a) + 1);
            if (pointer == NULL || name == NULL) abort();
            memcpy(name, a, (size_t)(b - a));
            *w++ = '/';
            for (const char *c = a; c < b; c++) {
                if (*c == '~' || *c == '/') *w++ = '~', *w++ = *c == '~' ? '0' : '1';
                else *w++ = *c;
            }
            *w = '\0';
            validate.pointers[validate.count] = pointer;
            validate.names[validate.count++] = name;
        }
        p += len + (p[len] == ',');
    }
    *state = &validate;
    return NULL;
}

static void process(void *state, const sluice_record *record, sluice_output *out) {
    const struct validate *validate = state;
    sluice_bytes json, raw;
    if (!sluice_record_json(record, out, &json)) return;
    for (size_t i = 0; i < validate->count; i++) {
        if (sluice_json_kind_of(json) != SLUICE_JSON_OBJECT ||
            sluice_json_field(json, validate->pointers[i], &raw) == SLUICE_JSON_MISSING) {
            sluice_reject(out, "missing required field `%s`", validate->names[i]);
            return;
        }
    }
    sluice_forward(out, NULL);
}

SLUICE_PLUGIN(.init = init, .process = process);
