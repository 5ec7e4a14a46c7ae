/* Testing a C plugin natively, in a plain C test program: the plugin's `init` and batch
 * loop run as the component runs them, over records the test writes, and the result is
 * read back the way the host reads it (refusing what it would refuse). Link the plugin's
 * sources with the SDK's `src` files and `testing/testing.c`, and no component glue; the
 * Makefile of `sluice plugin new --lang c` does.
 *
 *     int main(void) {
 *         const char *config[] = {"field", "level", "equals", "error", NULL};
 *         SLUICE_CHECK(sluice_test_init(config) == NULL);
 *         sluice_test_record in[] = {{.value = sluice_text("{\"level\":\"error\"}")}};
 *         sluice_test_result got = sluice_test_run(in, 1);
 *         SLUICE_CHECK(got.failure == NULL && got.outcomes[0].count == 1);
 *         sluice_test_free(&got);
 *         return sluice_test_summary();
 *     }
 */
#ifndef SLUICE_TESTING_H
#define SLUICE_TESTING_H

#include "sluice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An input record. Zero-initialised fields are absent: no key, no value, no headers, no
 * timestamp, offset 0, partition 0, and the stream "test". */
typedef struct {
    sluice_bytes key;
    sluice_bytes value;
    const sluice_header *headers;
    size_t header_count;
    bool has_timestamp;
    int64_t timestamp;
    uint64_t offset;
    uint32_t partition;
    const char *stream;
} sluice_test_record;

/* One output of a record. `route` is NULL for the default route. */
typedef struct {
    const char *route;
    sluice_bytes key;
    sluice_bytes value;
    sluice_header *headers;
    size_t header_count;
    bool has_timestamp;
    int64_t timestamp;
} sluice_test_output;

/* What the plugin made of one input record: its outputs, or the reason it was rejected
 * (then `count` is 0). */
typedef struct {
    const char *rejected;
    size_t count;
    sluice_test_output *outputs;
} sluice_test_outcome;

/* A batch's result: one outcome per input record, in order; or, when the batch failed
 * (`sluice_fail`, or a result the host would refuse), `failure` says why and there are no
 * outcomes. Everything in it lives until `sluice_test_free`. */
typedef struct {
    const char *failure;
    size_t count;
    sluice_test_outcome *outcomes;
    void *memory;
} sluice_test_result;

/* Starts the plugin with `config`: keys and values in turn, ended by NULL (NULL for no
 * config at all). NULL, or the message `init` returned. */
const char *sluice_test_init(const char *const *config);
/* Runs the `count` records through the plugin as one batch from the source "test". */
sluice_test_result sluice_test_run(const sluice_test_record *records, size_t count);
void sluice_test_free(sluice_test_result *result);

/* What the plugin told the host so far: the number of log lines and the last one (with
 * its fields as ` name=value`), the sum of every counter, and the last gauge value. */
typedef struct {
    size_t logs;
    sluice_level last_level;
    char last_log[512];
    uint64_t counters;
    double last_gauge;
} sluice_test_host;
extern sluice_test_host sluice_test_captured;

/* A check that says where it failed, and goes on to the next. */
#define SLUICE_CHECK(condition) ((condition) ? sluice_test_passed() : sluice_test_failed(__FILE__, __LINE__, #condition))
void sluice_test_passed(void);
void sluice_test_failed(const char *file, int line, const char *condition);
/* A line saying how many checks failed; what `main` returns: 0 when none did, else 1. */
int sluice_test_summary(void);

/* The two directions of the encoding (sdk/SPEC.md) a component never needs: a batch of
 * `count` records from `source` appended to `into`, and the result `bytes` of a batch of
 * `records` records read into `*result` (`failure` set when the host would refuse it). */
void sluice_test_encode(const sluice_test_record *records, size_t count, const char *source, sluice_buf *into);
void sluice_test_decode(sluice_bytes bytes, size_t records, sluice_test_result *result);

#ifdef __cplusplus
}
#endif

#endif
