/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* JSON written straight onto a stdio stream, byte for byte what json-c's
 * json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) prints
 * for the same values in the same order: a report of 36,000 devices needs no json-c tree per
 * object (building and printing those was a quarter of `vfio-assignd --report`'s time).
 * Errors are the stream's (ferror()); nesting deeper than JSON_WRITER_DEPTH_MAX is a bug. */

#define JSON_WRITER_DEPTH_MAX 32

typedef struct JsonWriter {
        FILE *f;
        unsigned depth;
        uint32_t has_items; /* bit n: the container at depth n has an item already */
        bool after_key;     /* the next value follows a key: no comma */
} JsonWriter;

static inline JsonWriter json_writer_init(FILE *f) {
        return (JsonWriter) { .f = f };
}

void json_write_begin_object(JsonWriter *w);
void json_write_end_object(JsonWriter *w);
void json_write_begin_array(JsonWriter *w);
void json_write_end_array(JsonWriter *w);
/* An object's key; the next call writes its value. */
void json_write_key(JsonWriter *w, const char *key);

void json_write_null(JsonWriter *w);
void json_write_bool(JsonWriter *w, bool b);
void json_write_int64(JsonWriter *w, int64_t v);
/* A string, or null for NULL. */
void json_write_string(JsonWriter *w, const char *s);
/* The string "0x" followed by v in at least width lower-case hex digits ("%#0*x" without the
 * '#' quirks): ids as lspci -n prints them. */
void json_write_hex(JsonWriter *w, unsigned width, uint64_t v);
/* An array of strings (NULL is the empty array). */
void json_write_strv(JsonWriter *w, char *const *l);
