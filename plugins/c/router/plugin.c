/* Routes each record by the value of a JSON field, fanning out to several routes.
 *
 * Config: `field` (a field name, dotted path or JSON pointer) and one `map.<value>` entry
 * per routed value, naming one route or several separated by commas:
 *
 *     config = { field = "level", map = { error = "errors,alerts", warn = "alerts" } }
 *
 * A record is emitted once per route its value maps to; a record whose value is not mapped
 * (or that lacks the field) goes down the pipeline's default route. */

#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* The routes of one value: `count` NUL-terminated names. */
struct mapping {
    const char *value;
    char **routes;
    size_t count;
};

struct router {
    const char *field;
    struct mapping *mappings;
    size_t count;
    sluice_buf text; /* the field's text, reused from record to record */
};

static void *allocate(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (p == NULL) abort();
    return p;
}

/* The comma-separated names of `list`, trimmed, empty ones left out. */
static size_t split(const char *list, char ***names) {
    *names = allocate((strlen(list) / 2 + 1) * sizeof **names);
    size_t count = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (b > a) {
            char *name = allocate((size_t)(b - a) + 1);
            memcpy(name, a, (size_t)(b - a));
            (*names)[count++] = name;
        }
        p = *end ? end + 1 : end;
    }
    return count;
}

/* The mappings of an earlier `init` (tests start a plugin more than once). */
static void clear(struct router *router) {
    for (size_t i = 0; i < router->count; i++) {
        for (size_t r = 0; r < router->mappings[i].count; r++) free(router->mappings[i].routes[r]);
        free(router->mappings[i].routes);
    }
    free(router->mappings);
    router->mappings = NULL;
    router->count = 0;
}

static const char *init(const sluice_config *config, void **state) {
    static struct router router;
    clear(&router);
    router.field = sluice_config_get(config, "field");
    if (router.field == NULL) return "missing required config key `field`";
    router.mappings = allocate(sluice_config_count(config) * sizeof *router.mappings);
    const char *key, *value;
    for (size_t i = 0; sluice_config_entry(config, i, &key, &value); i++) {
        if (strncmp(key, "map.", 4) == 0) {
            struct mapping *m = &router.mappings[router.count++];
            m->value = key + 4;
            m->count = split(value, &m->routes);
            if (m->count == 0) return sluice_error("config key `%s` names no route", key);
        } else if (strcmp(key, "field") != 0) {
            return sluice_error("unknown config key `%s` (expected `field` and `map.<value>` entries)", key);
        }
    }
    if (router.count == 0) return "no `map.<value>` entries: nothing would be routed";
    *state = &router;
    return NULL;
}

static void process(void *state, const sluice_record *record, sluice_output *out) {
    struct router *router = state;
    sluice_bytes raw;
    sluice_json_kind kind = sluice_record_json_field(record, out, router->field, &raw);
    if (kind == SLUICE_JSON_INVALID) return;
    if (kind != SLUICE_JSON_MISSING) {
        router->text.len = 0;
        sluice_json_text(raw, &router->text);
        for (size_t i = 0; i < router->count; i++) {
            const struct mapping *m = &router->mappings[i];
            if (!sluice_bytes_eq(sluice_buf_bytes(&router->text), m->value)) continue;
            for (size_t r = 0; r < m->count; r++) sluice_forward(out, m->routes[r]);
            return;
        }
    }
    sluice_forward(out, NULL);
}

SLUICE_PLUGIN(.init = init, .process = process);
