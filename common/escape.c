/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "macro.h"

/* The length of the UTF-8 character at p, or 0 when p does not start a valid one (a stray
 * continuation byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short). The ranges
 * are those of RFC 3629, section 4. */
static size_t utf8_char_len(const unsigned char *p) {
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                n = 3;
                if (p[0] == 0xe0)
                        lo = 0xa0;
                else if (p[0] == 0xed)
                        hi = 0x9f;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                n = 4;
                if (p[0] == 0xf0)
                        lo = 0x90;
                else if (p[0] == 0xf4)
                        hi = 0x8f;
        } else
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return n;
}

/* DEL, or a C1 control (U+0080..U+009F, 0xc2 0x80..0x9f in UTF-8): terminals act on some. */
static bool is_del_or_c1(const unsigned char *p, size_t len) {
        return (len == 1 && *p == 0x7f) || (len == 2 && p[0] == 0xc2 && p[1] < 0xa0);
}

static bool needs_escape(const unsigned char *p, size_t len) {
        return len == 0 || (len == 1 && (*p < 0x20 || *p == '\\')) || is_del_or_c1(p, len);
}

static char *escape_byte(char *o, unsigned char c) {
        static const char named[] = { ['\a'] = 'a', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
                                      ['\v'] = 'v', ['\f'] = 'f', ['\r'] = 'r', ['\\'] = '\\' };
        static const char hex[] = "0123456789abcdef";

        *o++ = '\\';
        if (c < sizeof(named) && named[c]) {
                *o++ = named[c];
                return o;
        }
        *o++ = 'x';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
        return o;
}

/* Writes the character at p (len bytes, 0 when not UTF-8: one byte) or what stands for it at o;
 * returns the end of what it wrote. */
typedef char *(*Rewrite)(char *o, const unsigned char *p, size_t len);

/* A copy of s with each character rewritten; max_growth: the most bytes a byte becomes. */
static char *rewrite(const char *s, size_t max_growth, Rewrite put) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s);
        char *buf, *o;

        if (n > (SIZE_MAX - 1) / max_growth)
                return NULL;
        buf = malloc(n * max_growth + 1);
        if (!buf)
                return NULL;
        for (o = buf; *p;) {
                size_t len = utf8_char_len(p);

                o = put(o, p, len);
                p += MAX(len, 1u);
        }
        *o = '\0';
        return buf;
}

static char *put_cescaped(char *o, const unsigned char *p, size_t len) {
        if (!needs_escape(p, len)) {
                memcpy(o, p, len);
                return o + len;
        }
        for (size_t i = 0; i < MAX(len, 1u); i++)
                o = escape_byte(o, p[i]);
        return o;
}

char *cescape(const char *s) {
        return rewrite(s, strlen("\\xNN"), put_cescaped);
}

/* Outside strings JSON text is ASCII (and line feeds when pretty), so all this changes is
 * inside strings. */
static char *put_json(char *o, const unsigned char *p, size_t len) {
        if (len == 0)
                return o + sprintf(o, "\\ufffd");
        if (is_del_or_c1(p, len))
                return o + sprintf(o, "\\u%04x", len == 1 ? *p : p[1]);
        memcpy(o, p, len);
        return o + len;
}

char *json_escape_controls(const char *json) {
        return rewrite(json, strlen("\\u007f"), put_json);
}

char *strcut(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n;
        char *buf;

        for (size_t chars = 0; *p && chars < max; chars++)
                p += MAX(utf8_char_len(p), 1u);
        if (!*p)
                return strdup(s);
        n = (size_t) (p - (const unsigned char *) s);
        buf = malloc(n + sizeof(ELLIPSIS));
        if (!buf)
                return NULL;
        memcpy(buf, s, n);
        memcpy(buf + n, ELLIPSIS, sizeof(ELLIPSIS));
        return buf;
}
