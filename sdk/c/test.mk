# The rules of a C plugin project's Makefile (`include .sluice/sdk/c/test.mk`): `make test`
# builds the plugin with its tests natively, under AddressSanitizer and UBSan, and runs
# them. The component is `sluice plugin build`'s, which also writes this SDK into .sluice/.
SLUICE_SDK := .sluice/sdk/c
CC ?= cc
TEST_CFLAGS ?= -std=c11 -Wall -Wextra -O1 -g -fsanitize=address,undefined
PLUGIN_SOURCES := plugin.c $(wildcard src/*.c)
TEST_SOURCES := $(wildcard test/*.c)

test: .sluice/test-plugin
	./.sluice/test-plugin

.sluice/test-plugin: $(PLUGIN_SOURCES) $(TEST_SOURCES) $(wildcard *.h src/*.h test/*.h)
	$(CC) $(TEST_CFLAGS) $(CFLAGS) -I$(SLUICE_SDK)/include -I. -o $@ $(PLUGIN_SOURCES) $(TEST_SOURCES) \
	  $(wildcard $(SLUICE_SDK)/src/*.c) $(SLUICE_SDK)/testing/testing.c

.PHONY: test
