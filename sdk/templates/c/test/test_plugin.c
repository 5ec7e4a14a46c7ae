#include <string.h>

#include "sluice_testing.h"

static void tags_drops_and_rejects(void) {
    SLUICE_CHECK(sluice_test_init((const char *[]){"tag", "t", NULL}) == NULL);
    sluice_test_record in[] = {{.value = sluice_text("{\"level\":\"info\"}")},
                               {.value = sluice_text("{\"level\":\"debug\"}")},
                               {.value = sluice_text("[1]")},
                               {.value = sluice_text("{ }")},
                               {.value = sluice_text("{\"tag\":\"old\",\"n\":1}")}};
    sluice_test_result got = sluice_test_run(in, 5);
    SLUICE_CHECK(got.failure == NULL);
    if (got.failure) return;
    SLUICE_CHECK(got.outcomes[0].count == 1 &&
                 sluice_bytes_eq(got.outcomes[0].outputs[0].value, "{\"level\":\"info\",\"tag\":\"t\"}"));
    SLUICE_CHECK(got.outcomes[1].count == 0 && got.outcomes[1].rejected == NULL);
    SLUICE_CHECK(got.outcomes[2].rejected && strcmp(got.outcomes[2].rejected, "value is not a JSON object") == 0);
    SLUICE_CHECK(got.outcomes[3].count == 1 && sluice_bytes_eq(got.outcomes[3].outputs[0].value, "{ \"tag\":\"t\"}"));
    SLUICE_CHECK(got.outcomes[4].count == 1 &&
                 sluice_bytes_eq(got.outcomes[4].outputs[0].value, "{\"tag\":\"t\",\"n\":1}"));
    sluice_test_free(&got);
}

int main(void) {
    tags_drops_and_rejects();
    return sluice_test_summary();
}
