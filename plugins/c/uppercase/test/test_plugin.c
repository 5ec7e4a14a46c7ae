#include <string.h>

#include "sluice_testing.h"

static void upper_cases_values_and_keeps_the_rest(void) {
    sluice_header headers[] = {{sluice_text("h"), sluice_text("x")}};
    sluice_test_record in[] = {{.value = sluice_text("héllo"), .key = sluice_text("id-1"), .headers = headers,
                                .header_count = 1, .has_timestamp = true, .timestamp = 5}};
    sluice_test_result got = sluice_test_run(in, 1);
    SLUICE_CHECK(got.failure == NULL && got.outcomes[0].count == 1);
    const sluice_test_output *out = &got.outcomes[0].outputs[0];
    SLUICE_CHECK(sluice_bytes_eq(out->value, "HÉLLO"));
    SLUICE_CHECK(sluice_bytes_eq(out->key, "id-1") && out->has_timestamp && out->timestamp == 5);
    SLUICE_CHECK(out->header_count == 1 && sluice_bytes_eq(out->headers[0].name, "h") &&
                 sluice_bytes_eq(out->headers[0].value, "x"));
    sluice_test_free(&got);
}

static void rejects_values_that_are_not_text(void) {
    sluice_test_record in[] = {{.value = {(const uint8_t *)"\xff\xfe", 2}}, {.offset = 2}};
    sluice_test_result got = sluice_test_run(in, 2);
    SLUICE_CHECK(got.failure == NULL);
    SLUICE_CHECK(got.outcomes[0].rejected && strcmp(got.outcomes[0].rejected, "value is not UTF-8") == 0);
    SLUICE_CHECK(got.outcomes[1].rejected && strcmp(got.outcomes[1].rejected, "record has no value") == 0);
    sluice_test_free(&got);
}

int main(void) {
    SLUICE_CHECK(sluice_test_init(NULL) == NULL);
    upper_cases_values_and_keeps_the_rest();
    rejects_values_that_are_not_text();
    return sluice_test_summary();
}
