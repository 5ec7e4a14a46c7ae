#include <string.h>

#include "sluice_testing.h"

static void keeps_only_matching_records(void) {
    const char *config[] = {"field", "level", "equals", "error", NULL};
    SLUICE_CHECK(sluice_test_init(config) == NULL);
    sluice_test_record in[] = {{.value = sluice_text("{\"level\":\"error\",\"n\":1}")},
                               {.value = sluice_text("{\"level\":\"info\",\"n\":2}")},
                               {.value = sluice_text("{\"n\":3}")}};
    sluice_test_result got = sluice_test_run(in, 3);
    SLUICE_CHECK(got.failure == NULL);
    SLUICE_CHECK(got.outcomes[0].count == 1 && got.outcomes[1].count == 0 && got.outcomes[2].count == 0);
    SLUICE_CHECK(sluice_bytes_eq(got.outcomes[0].outputs[0].value, "{\"level\":\"error\",\"n\":1}"));
    sluice_test_free(&got);
}

static void compares_numbers_as_text_and_follows_paths(void) {
    const char *config[] = {"field", "user.age", "equals", "7", NULL};
    SLUICE_CHECK(sluice_test_init(config) == NULL);
    sluice_test_record in[] = {{.value = sluice_text("{\"user\":{\"age\":7}}")},
                               {.value = sluice_text("{\"user\":{\"age\":8}}")}};
    sluice_test_result got = sluice_test_run(in, 2);
    SLUICE_CHECK(got.failure == NULL && got.outcomes[0].count == 1 && got.outcomes[1].count == 0);
    sluice_test_free(&got);
}

static void rejects_records_that_are_not_json(void) {
    const char *config[] = {"field", "a", "equals", "b", NULL};
    SLUICE_CHECK(sluice_test_init(config) == NULL);
    sluice_test_record in[] = {{.value = sluice_text("nope")}};
    sluice_test_result got = sluice_test_run(in, 1);
    const char *reason = got.failure ? NULL : got.outcomes[0].rejected;
    SLUICE_CHECK(reason && strncmp(reason, "value is not valid JSON", 23) == 0);
    sluice_test_free(&got);
}

static void missing_config_is_an_init_error(void) {
    const char *config[] = {"field", "a", NULL};
    const char *error = sluice_test_init(config);
    SLUICE_CHECK(error && strcmp(error, "missing required config key `equals`") == 0);
}

int main(void) {
    keeps_only_matching_records();
    compares_numbers_as_text_and_follows_paths();
    rejects_records_that_are_not_json();
    missing_config_is_an_init_error();
    return sluice_test_summary();
}
