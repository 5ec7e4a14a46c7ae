#include <string.h>

#include "sluice_testing.h"

static void passes_json_and_rejects_the_rest_with_the_reason(void) {
    SLUICE_CHECK(sluice_test_init(NULL) == NULL);
    sluice_test_record in[] = {{.value = sluice_text("{\"id\":1}")}, {.value = sluice_text("{oops")}, {.offset = 2}};
    sluice_test_result got = sluice_test_run(in, 3);
    SLUICE_CHECK(got.failure == NULL);
    SLUICE_CHECK(got.outcomes[0].count == 1 && sluice_bytes_eq(got.outcomes[0].outputs[0].value, "{\"id\":1}"));
    const char *reason = got.outcomes[1].rejected;
    SLUICE_CHECK(reason && strncmp(reason, "value is not valid JSON: ", 25) == 0);
    reason = got.outcomes[2].rejected;
    SLUICE_CHECK(reason && strcmp(reason, "record has no value") == 0);
    sluice_test_free(&got);
}

static void enforces_required_fields(void) {
    SLUICE_CHECK(sluice_test_init((const char *[]){"require", "id, level", NULL}) == NULL);
    sluice_test_record in[] = {{.value = sluice_text("{\"id\":1,\"level\":\"x\"}")},
                               {.value = sluice_text("{\"id\":1}")}};
    sluice_test_result got = sluice_test_run(in, 2);
    SLUICE_CHECK(got.failure == NULL && got.outcomes[0].count == 1);
    const char *reason = got.outcomes[1].rejected;
    SLUICE_CHECK(reason && strcmp(reason, "missing required field `level`") == 0);
    sluice_test_free(&got);
}

int main(void) {
    passes_json_and_rejects_the_rest_with_the_reason();
    enforces_required_fields();
    return sluice_test_summary();
}
