/* The plugin's configuration, as `init` reads it, and the messages `init` returns. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *sluice_config_get(const sluice_config *config, const char *key) {
    for (size_t i = 0; i < config->count; i++)
        if (strcmp(config->keys[i], key) == 0) return config->values[i];
    return NULL;
}

size_t sluice_config_count(const sluice_config *config) { return config->count; }

bool sluice_config_entry(const sluice_config *config, size_t index, const char **key, const char **value) {
    if (index >= config->count) return false;
    *key = config->keys[index];
    *value = config->values[index];
    return true;
}

const char *sluice_error(const char *format, ...) {
    static char *message;
    free(message);
    va_list args;
    va_start(args, format);
    message = sluice_format(format, args);
    va_end(args);
    return message;
}
