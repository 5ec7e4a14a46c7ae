#include <string.h>

#include "sluice_testing.h"

static const char *config[] = {"field", "level", "map.error", "errors, alerts", "map.warn", "alerts", NULL};

/* Whether the record with `value` goes to exactly `routes` (NULL the default), in order. */
static bool routed(const char *value, size_t count, const char *const *routes) {
    sluice_test_record in[] = {{.value = sluice_text(value)}};
    sluice_test_result got = sluice_test_run(in, 1);
    bool same = got.failure == NULL && got.outcomes[0].count == count;
    for (size_t i = 0; same && i < count; i++) {
        const char *route = got.outcomes[0].outputs[i].route;
        same = routes[i] ? route && strcmp(route, routes[i]) == 0 : route == NULL;
    }
    sluice_test_free(&got);
    return same;
}

int main(void) {
    SLUICE_CHECK(sluice_test_init(config) == NULL);
    /* Fans out to every mapped route. */
    SLUICE_CHECK(routed("{\"level\":\"error\"}", 2, (const char *[]){"errors", "alerts"}));
    SLUICE_CHECK(routed("{\"level\":\"warn\"}", 1, (const char *[]){"alerts"}));
    /* Unmapped or missing values take the default route. */
    SLUICE_CHECK(routed("{\"level\":\"info\"}", 1, (const char *[]){NULL}));
    SLUICE_CHECK(routed("{\"other\":1}", 1, (const char *[]){NULL}));
    /* A config without routes is refused. */
    const char *error = sluice_test_init((const char *[]){"field", "level", NULL});
    SLUICE_CHECK(error && strstr(error, "no `map.<value>` entries"));
    error = sluice_test_init((const char *[]){"field", "level", "mapp.x", "y", NULL});
    SLUICE_CHECK(error && strstr(error, "unknown config key `mapp.x`"));
    return sluice_test_summary();
}
