/* A minimal test harness: CHECK records a failure with its place and goes on; each
 * test program ends with `return checks_done();`, which prints the tally and fails the
 * run if anything failed. */
#ifndef SLUICE_TEST_CHECK_H
#define SLUICE_TEST_CHECK_H

#include <stdio.h>

static int checks_run, checks_failed;

#define CHECK(condition, ...)                                          \
    do {                                                               \
        checks_run++;                                                  \
        if (!(condition)) {                                            \
            checks_failed++;                                           \
            fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
        }                                                              \
    } while (0)

static int checks_done(const char *what) {
    printf("%s: %d checks, %d failed\n", what, checks_run, checks_failed);
    return checks_failed ? 1 : 0;
}

#endif
