/* The component's side of the contract: the exports the host calls (`init`, `process`)
 * and the host's log and metrics, over the bindings that `wit-bindgen c` generates from
 * wit/plugin.wit into `plugin.h` when `sluice plugin build` builds a C plugin. The native
 * tests put test/capture.c in this file's place.
 *
 * The result is a fresh buffer each batch, because the post-return frees it; malloc
 * hands the same block back for a batch like the last.
 *
 * Ownership follows the canonical ABI as wit-bindgen spells it: an export owns its
 * arguments and frees them; what it returns is malloc'd and freed by the generated
 * post-return function once the host has copied it out; an import borrows its
 * arguments. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"
#include "plugin.h"

/* The plugin's state from `init`, and the configuration it was given, which the plugin
 * may keep pointers into: both live as long as the instance. */
static void *state;
static struct sluice_config config;

static char *copy(const plugin_string_t *text) {
    char *copied = malloc(text->len + 1);
    if (copied == NULL) abort();
    memcpy(copied, text->ptr, text->len);
    copied[text->len] = '\0';
    return copied;
}

/* A message of ours as the `string` of a returned error: the post-return frees it. */
static void give(plugin_string_t *err, char *message) {
    err->ptr = (uint8_t *)message;
    err->len = strlen(message);
}

bool exports_sluice_plugin_transform_init(exports_sluice_plugin_transform_config_t *given, plugin_string_t *err) {
    config.count = given->len;
    config.keys = calloc(given->len + 1, sizeof *config.keys);
    config.values = calloc(given->len + 1, sizeof *config.values);
    if (config.keys == NULL || config.values == NULL) abort();
    for (size_t i = 0; i < given->len; i++) {
        config.keys[i] = copy(&given->ptr[i].f0);
        config.values[i] = copy(&given->ptr[i].f1);
    }
    exports_sluice_plugin_transform_config_free(given);
    if (sluice_plugin_definition.init == NULL) return true;
    const char *failed = sluice_plugin_definition.init(&config, &state);
    if (failed == NULL) return true;
    size_t len = strlen(failed);
    char *message = malloc(len + 1);
    if (message == NULL) abort();
    give(err, memcpy(message, failed, len + 1));
    return false;
}

bool exports_sluice_plugin_transform_process(plugin_list_u8_t *batch, plugin_list_u8_t *ret, plugin_string_t *err) {
    sluice_buf result = {0};
    char *failure = sluice_run_batch(&sluice_plugin_definition, state, batch->ptr, batch->len, &result);
    /* The records' views point into the batch: it is freed only once the plugin is done. */
    plugin_list_u8_free(batch);
    if (failure != NULL) {
        sluice_buf_free(&result);
        give(err, failure);
        return false;
    }
    ret->ptr = result.ptr;
    ret->len = result.len;
    return true;
}

void sluice_log_fields(sluice_level level, const char *message, const sluice_field *fields, size_t count) {
    plugin_tuple2_string_string_t *pairs = count ? malloc(count * sizeof *pairs) : NULL;
    if (count && pairs == NULL) abort();
    for (size_t i = 0; i < count; i++) {
        plugin_string_set(&pairs[i].f0, fields[i].name);
        plugin_string_set(&pairs[i].f1, fields[i].value);
    }
    plugin_string_t text;
    plugin_string_set(&text, message);
    plugin_list_tuple2_string_string_t list = {pairs, count};
    /* sluice_level and the WIT enum `level` list the same levels in the same order. */
    sluice_plugin_host_log((sluice_plugin_host_level_t)level, &text, &list);
    free(pairs);
}

void sluice_counter_add(const char *name, uint64_t delta) {
    plugin_string_t text;
    plugin_string_set(&text, name);
    sluice_plugin_host_counter_add(&text, delta);
}

void sluice_gauge_set(const char *name, double value) {
    plugin_string_t text;
    plugin_string_set(&text, name);
    sluice_plugin_host_gauge_set(&text, value);
}
