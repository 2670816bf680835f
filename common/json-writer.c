/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <string.h>

#include "json-writer.h"

/* Before a value or a key: the comma that separates it from the previous item. */
static void item(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->depth == 0)
                return;
        if (w->has_items & (UINT32_C(1) << w->depth))
                putc_unlocked(',', w->f);
        w->has_items |= UINT32_C(1) << w->depth;
}

static void begin(JsonWriter *w, char c) {
        item(w);
        putc_unlocked(c, w->f);
        assert(w->depth + 1 < JSON_WRITER_DEPTH_MAX);
        w->depth++;
        w->has_items &= ~(UINT32_C(1) << w->depth);
}

static void end(JsonWriter *w, char c) {
        assert(w->depth > 0);
        w->depth--;
        putc_unlocked(c, w->f);
}

void json_write_begin_object(JsonWriter *w) {
        begin(w, '{');
}

void json_write_end_object(JsonWriter *w) {
        end(w, '}');
}

void json_write_begin_array(JsonWriter *w) {
        begin(w, '[');
}

void json_write_end_array(JsonWriter *w) {
        end(w, ']');
}

/* json-c's escaping (json_escape_str() in json_object.c, 0.13 to 0.17): the two-letter escapes
 * for \b \n \r \t \f " and \\, \u00xx in lower-case hex for the other bytes below 0x20, every
 * other byte as it is ('/' too, with JSON_C_TO_STRING_NOSLASHESCAPE). */
static void write_quoted(FILE *f, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const char *run = s;

        putc_unlocked('"', f);
        for (;; s++) {
                unsigned char c = (unsigned char) *s;
                const char *esc = NULL;

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                if (s > run)
                        fwrite_unlocked(run, 1, (size_t) (s - run), f);
                run = s + 1;
                switch (c) {
                case 0:
                        putc_unlocked('"', f);
                        return;
                case '\b':
                        esc = "\\b";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                }
                if (esc)
                        fputs_unlocked(esc, f);
                else {
                        fputs_unlocked("\\u00", f);
                        putc_unlocked(hex[c >> 4], f);
                        putc_unlocked(hex[c & 0xf], f);
                }
        }
}

void json_write_key(JsonWriter *w, const char *key) {
        item(w);
        write_quoted(w->f, key);
        putc_unlocked(':', w->f);
        w->after_key = true;
}

void json_write_null(JsonWriter *w) {
        item(w);
        fputs_unlocked("null", w->f);
}

void json_write_bool(JsonWriter *w, bool b) {
        item(w);
        fputs_unlocked(b ? "true" : "false", w->f);
}

void json_write_int64(JsonWriter *w, int64_t v) {
        char buf[24], *p = buf + sizeof(buf);
        /* In unsigned arithmetic, so that INT64_MIN negates. */
        uint64_t u = v < 0 ? -(uint64_t) v : (uint64_t) v;

        item(w);
        do {
                *--p = (char) ('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                *--p = '-';
        fwrite_unlocked(p, 1, (size_t) (buf + sizeof(buf) - p), w->f);
}

void json_write_string(JsonWriter *w, const char *s) {
        if (!s) {
                json_write_null(w);
                return;
        }
        item(w);
        write_quoted(w->f, s);
}

void json_write_hex(JsonWriter *w, unsigned width, uint64_t v) {
        static const char hex[] = "0123456789abcdef";
        char buf[2 + 16 + 1], *p = buf + sizeof(buf);
        unsigned n = 0;

        item(w);
        *--p = '"';
        width = width > 16 ? 16 : width;
        do {
                *--p = hex[v & 0xf];
                v >>= 4;
                n++;
        } while (v || n < width);
        *--p = 'x';
        *--p = '0';
        putc_unlocked('"', w->f);
        fwrite_unlocked(p, 1, (size_t) (buf + sizeof(buf) - p), w->f);
}

void json_write_strv(JsonWriter *w, char *const *l) {
        json_write_begin_array(w);
        for (; l && *l; l++)
                json_write_string(w, *l);
        json_write_end_array(w);
}
