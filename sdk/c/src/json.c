/* JSON read in place: a validating scanner (RFC 8259, UTF-8 inside strings checked) and
 * field lookups that walk the text without building a tree, so that a filter on one
 * field costs one pass over the value and no allocation. */

#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Nesting deeper than this is refused rather than risking the stack. */
#define MAX_DEPTH 512

typedef struct {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    const char *error;
    int depth;
} scanner;

static char error_text[160];

static bool fail(scanner *s, const char *what) {
    if (s->error == NULL) {
        snprintf(error_text, sizeof error_text, "%s at byte %zu", what, (size_t)(s->p - s->start));
        s->error = error_text;
    }
    return false;
}

static void skip_space(scanner *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static bool literal(scanner *s, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return fail(s, "invalid literal");
    s->p += n;
    return true;
}

static bool digits(scanner *s) {
    if (s->p >= s->end || *s->p < '0' || *s->p > '9') return fail(s, "expected a digit");
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return true;
}

static bool number(scanner *s) {
    if (*s->p == '-') s->p++;
    if (s->p < s->end && *s->p == '0') {
        s->p++;
    } else if (!digits(s)) {
        return false;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s)) return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!digits(s)) return false;
    }
    return true;
}

static int hex(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool string(scanner *s) {
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        uint8_t c = *s->p;
        if (c == '"') {
            s->p++;
            return true;
        }
        if (c < 0x20) return fail(s, "control character in a string");
        if (c == '\\') {
            if (s->end - s->p < 2) break;
            uint8_t e = s->p[1];
            if (e == 'u') {
                if (s->end - s->p < 6) break;
                for (int k = 2; k < 6; k++)
                    if (hex(s->p[k]) < 0) return fail(s, "invalid \\u escape");
                s->p += 6;
            } else if (strchr("\"\\/bfnrt", e) != NULL && e != 0) {
                s->p += 2;
            } else {
                return fail(s, "invalid escape");
            }
            continue;
        }
        if (c < 0x80) {
            s->p++;
            continue;
        }
        size_t n = sluice_utf8_sequence(s->p, s->end);
        if (n == 0) return fail(s, "invalid UTF-8 in a string");
        s->p += n;
    }
    return fail(s, "unterminated string");
}

static bool value(scanner *s);

static bool container(scanner *s, uint8_t close, bool object) {
    if (++s->depth > MAX_DEPTH) return fail(s, "nested too deeply");
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (s->p >= s->end || *s->p != '"') return fail(s, "expected a member name");
            if (!string(s)) return false;
            skip_space(s);
            if (s->p >= s->end || *s->p != ':') return fail(s, "expected ':'");
            s->p++;
        }
        if (!value(s)) return false;
        skip_space(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_space(s);
            continue;
        }
        if (s->p < s->end && *s->p == close) {
            s->p++;
            s->depth--;
            return true;
        }
        return fail(s, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static bool value(scanner *s) {
    skip_space(s);
    if (s->p >= s->end) return fail(s, "unexpected end");
    switch (*s->p) {
    case '{': return container(s, '}', true);
    case '[': return container(s, ']', false);
    case '"': return string(s);
    case 't': return literal(s, "true");
    case 'f': return literal(s, "false");
    case 'n': return literal(s, "null");
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) return number(s);
        return fail(s, "unexpected character");
    }
}

bool sluice_json_valid(sluice_bytes json, const char **error) {
    scanner s = {json.ptr, json.ptr, json.ptr + json.len, NULL, 0};
    if (json.ptr == NULL) {
        if (error) *error = "no value";
        return false;
    }
    bool ok = value(&s);
    if (ok) {
        skip_space(&s);
        if (s.p != s.end) ok = fail(&s, "trailing characters");
    }
    if (!ok && error) *error = s.error;
    return ok;
}

sluice_json_kind sluice_json_kind_of(sluice_bytes json) {
    size_t i = 0;
    while (i < json.len && (json.ptr[i] == ' ' || json.ptr[i] == '\t' || json.ptr[i] == '\n' || json.ptr[i] == '\r')) i++;
    if (i == json.len) return SLUICE_JSON_MISSING;
    switch (json.ptr[i]) {
    case '{': return SLUICE_JSON_OBJECT;
    case '[': return SLUICE_JSON_ARRAY;
    case '"': return SLUICE_JSON_STRING;
    case 't': return SLUICE_JSON_TRUE;
    case 'f': return SLUICE_JSON_FALSE;
    case 'n': return SLUICE_JSON_NULL;
    default: return SLUICE_JSON_NUMBER;
    }
}

/* Walks past one value of valid JSON; `s->p` at its first byte. */
static void skip_value(scanner *s) {
    bool ok = value(s);
    (void)ok; /* the text was validated before any lookup */
}

static uint32_t hex4(const uint8_t *p) {
    return (uint32_t)(hex(p[0]) << 12 | hex(p[1]) << 8 | hex(p[2]) << 4 | hex(p[3]));
}

/* Appends the content of the valid JSON string `raw` (quotes included), unescaped. A
 * lone surrogate escape becomes U+FFFD. */
static void unescape(sluice_bytes raw, sluice_buf *into) {
    const uint8_t *p = raw.ptr + 1, *end = raw.ptr + raw.len - 1;
    while (p < end) {
        const uint8_t *run = p;
        while (p < end && *p != '\\') p++;
        sluice_buf_append(into, run, (size_t)(p - run));
        if (p == end) break;
        uint8_t e = p[1];
        if (e != 'u') {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            sluice_buf_append(into, to + (strchr(from, e) - from), 1);
            p += 2;
            continue;
        }
        uint32_t c = hex4(p + 2);
        p += 6;
        if (c >= 0xd800 && c <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            uint32_t low = hex4(p + 2);
            if (low >= 0xdc00 && low <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
                p += 6;
            }
        }
        sluice_buf_append_point(into, c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
    }
}

void sluice_json_text(sluice_bytes raw, sluice_buf *into) {
    if (sluice_json_kind_of(raw) == SLUICE_JSON_STRING) {
        while (raw.len > 0 && raw.ptr[0] != '"') raw.ptr++, raw.len--;
        while (raw.len > 0 && raw.ptr[raw.len - 1] != '"') raw.len--;
        unescape(raw, into);
    } else {
        sluice_buf_append(into, raw.ptr, raw.len);
    }
}

/* Whether the member name `raw` (a valid JSON string) is `name`. */
static bool name_is(sluice_bytes raw, const char *name, size_t len) {
    if (memchr(raw.ptr, '\\', raw.len) == NULL) return raw.len == len + 2 && memcmp(raw.ptr + 1, name, len) == 0;
    sluice_buf plain = {0};
    unescape(raw, &plain);
    bool same = plain.len == len && memcmp(plain.ptr, name, len) == 0;
    sluice_buf_free(&plain);
    return same;
}

/* A JSON pointer's array index: digits without a leading zero; -1 if it is not one. */
static long pointer_index(const char *name, size_t len) {
    if (len == 0 || len > 9 || (len > 1 && name[0] == '0')) return -1;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] < '0' || name[i] > '9') return -1;
        n = n * 10 + (name[i] - '0');
    }
    return n;
}

/* In the value at `s->p`, the member or element `name`: leaves `s->p` at it and returns
 * true, or false if there is none. */
static bool step(scanner *s, const char *name, size_t len, bool pointer) {
    skip_space(s);
    if (*s->p == '{') {
        s->p++;
        for (;;) {
            skip_space(s);
            if (*s->p == '}') return false;
            const uint8_t *key = s->p;
            string(s);
            bool found = name_is((sluice_bytes){key, (size_t)(s->p - key)}, name, len);
            skip_space(s);
            s->p++; /* ':' */
            skip_space(s);
            if (found) return true;
            skip_value(s);
            skip_space(s);
            if (*s->p == ',') s->p++;
        }
    }
    if (*s->p == '[' && pointer) {
        long index = pointer_index(name, len);
        if (index < 0) return false;
        s->p++;
        for (long i = 0;; i++) {
            skip_space(s);
            if (*s->p == ']') return false;
            if (i == index) return true;
            skip_value(s);
            skip_space(s);
            if (*s->p == ',') s->p++;
        }
    }
    return false;
}

sluice_json_kind sluice_json_field(sluice_bytes json, const char *path, sluice_bytes *raw) {
    scanner s = {json.ptr, json.ptr, json.ptr + json.len, NULL, 0};
    bool pointer = path[0] == '/';
    const char *part = pointer ? path + 1 : path;
    sluice_buf name = {0};
    bool found = true;
    for (;;) {
        const char *stop = part + strcspn(part, pointer ? "/" : ".");
        name.len = 0;
        if (pointer) {
            for (const char *c = part; c < stop; c++) {
                if (c[0] == '~' && c + 1 < stop && (c[1] == '0' || c[1] == '1')) {
                    sluice_buf_append(&name, c[1] == '0' ? "~" : "/", 1);
                    c++;
                } else {
                    sluice_buf_append(&name, c, 1);
                }
            }
        } else {
            sluice_buf_append(&name, part, (size_t)(stop - part));
        }
        if (!step(&s, name.len ? (const char *)name.ptr : "", name.len, pointer)) {
            found = false;
            break;
        }
        if (*stop == '\0') break;
        part = stop + 1;
    }
    sluice_buf_free(&name);
    if (!found) return SLUICE_JSON_MISSING;
    const uint8_t *start = s.p;
    skip_value(&s);
    *raw = (sluice_bytes){start, (size_t)(s.p - start)};
    return sluice_json_kind_of(*raw);
}
