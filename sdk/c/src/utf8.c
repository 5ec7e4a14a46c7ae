/* UTF-8: validation, code points, and upper-casing with the table of upper.c. */

#include "internal.h"

size_t sluice_utf8_sequence(const uint8_t *p, const uint8_t *end) {
    uint8_t b = p[0];
    if (b < 0x80) return 1;
    size_t need;
    uint32_t point, min;
    if (b >= 0xc2 && b <= 0xdf) {
        need = 1, point = b & 0x1f, min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 2, point = b & 0x0f, min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3, point = b & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) <= need) return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        point = (point << 6) | (p[k] & 0x3f);
    }
    /* Overlong forms, surrogates and what lies past U+10FFFF are not UTF-8. */
    if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return 0;
    return need + 1;
}

uint32_t sluice_utf8_point(const uint8_t *p, size_t len) {
    static const uint8_t lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t point = p[0] & lead_mask[len];
    for (size_t k = 1; k < len; k++) point = (point << 6) | (p[k] & 0x3f);
    return point;
}

bool sluice_utf8_valid(sluice_bytes bytes) {
    if (bytes.ptr == NULL) return false;
    const uint8_t *p = bytes.ptr, *end = bytes.ptr + bytes.len;
    while (p < end) {
        size_t n = sluice_utf8_sequence(p, end);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

void sluice_buf_append_point(sluice_buf *buf, uint32_t c) {
    uint8_t b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (uint8_t)c, n = 1;
    } else if (c < 0x800) {
        b[0] = (uint8_t)(0xc0 | (c >> 6)), b[1] = (uint8_t)(0x80 | (c & 0x3f)), n = 2;
    } else if (c < 0x10000) {
        b[0] = (uint8_t)(0xe0 | (c >> 12)), b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (c & 0x3f)), n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | (c >> 18)), b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f)), b[3] = (uint8_t)(0x80 | (c & 0x3f)), n = 4;
    }
    sluice_buf_append(buf, b, n);
}

void sluice_buf_append_upper(sluice_buf *buf, sluice_bytes text) {
    const uint8_t *p = text.ptr, *end = text.ptr + text.len;
    while (p < end) {
        if (*p < 0x80) { /* ASCII, most text: no table */
            uint8_t c = *p >= 'a' && *p <= 'z' ? (uint8_t)(*p - 32) : *p;
            sluice_buf_append(buf, &c, 1);
            p++;
            continue;
        }
        size_t n = sluice_utf8_sequence(p, end);
        if (n == 0) return; /* the caller promised UTF-8 */
        uint32_t upper[3];
        size_t count = sluice_upper_case(sluice_utf8_point(p, n), upper);
        for (size_t i = 0; i < count; i++) sluice_buf_append_point(buf, upper[i]);
        p += n;
    }
}
