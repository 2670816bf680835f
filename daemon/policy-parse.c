/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Policy files: strict JSON text to a Policy (the format is vfio-assignd.policy(5)).
 *
 * Three passes over one file: json-c in strict mode builds the tree (and reports syntax errors
 * with their position); a small scanner over the raw text catches what json-c lets through
 * (duplicate keys, which it silently merges; single-quoted strings; NaN and Infinity; integers
 * it would saturate; control characters in strings); then the tree is validated key by key.
 * Every problem of the file is reported, as "FILE: key.path: reason". */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bdf.h"
#include "macro.h"
#include "policy-internal.h"
#include "util.h"

#define PATH_LEN 256
#define QUOTE_MAX 64

static void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* ---- error lines ---- */

void policy_errors_add(PolicyErrors *e, const char *fmt, ...) {
        va_list ap;
        int k;

        if (e->oom)
                return;
        if (e->n >= POLICY_ERRORS_MAX) {
                e->dropped++;
                return;
        }
        va_start(ap, fmt);
        k = strv_extendv(&e->lines, fmt, ap);
        va_end(ap);
        if (k < 0)
                e->oom = true;
        else
                e->n++;
}

void policy_errors_done(PolicyErrors *e) {
        strv_free(e->lines);
        *e = (PolicyErrors) {};
}

int policy_errors_finish(PolicyErrors *e, char ***ret) {
        if (!e->oom && e->dropped > 0 &&
            strv_extendf(&e->lines, "... and %zu more error%s", e->dropped,
                         e->dropped == 1 ? "" : "s") < 0)
                e->oom = true;
        if (e->oom) {
                policy_errors_done(e);
                return -ENOMEM;
        }
        if (ret)
                *ret = TAKE_PTR(e->lines);
        policy_errors_done(e);
        return 0;
}

/* ---- small helpers ---- */

/* Values from files end up in logs and bus errors: quote them, escape what a terminal would
 * interpret, and keep them short. */
char *policy_quote(const char *s, size_t len) {
        bool cut = false;
        char *buf, *p;

        if (len > QUOTE_MAX) {
                len = QUOTE_MAX;
                /* Do not split a UTF-8 sequence. */
                while (len > 0 && ((unsigned char) s[len] & 0xC0) == 0x80)
                        len--;
                cut = true;
        }
        /* Worst case every byte becomes \u00XX. */
        buf = malloc(len * 6 + sizeof("\"...\""));
        if (!buf)
                return NULL;
        p = buf;
        *p++ = '"';
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) s[i];

                if (ch == '"' || ch == '\\') {
                        *p++ = '\\';
                        *p++ = (char) ch;
                } else if (ch == '\n') {
                        p = stpcpy(p, "\\n");
                } else if (ch == '\t') {
                        p = stpcpy(p, "\\t");
                } else if (ch < 0x20 || ch == 0x7f) {
                        p += sprintf(p, "\\u%04x", ch);
                } else
                        *p++ = (char) ch;
        }
        if (cut)
                p = stpcpy(p, "...");
        *p++ = '"';
        *p = 0;
        return buf;
}

/* 1-based line and byte column, as editors and compilers count them. */
static void offset_to_line_column(const char *text, size_t offset, unsigned *ret_line,
                                  unsigned *ret_col) {
        unsigned line = 1;
        size_t start = 0;

        for (size_t i = 0; i < offset; i++)
                if (text[i] == '\n') {
                        line++;
                        start = i + 1;
                }
        *ret_line = line;
        *ret_col = (unsigned) (offset - start + 1);
}

/* Key paths for messages; a path longer than PATH_LEN is cut, which only shortens a message. */
static void path_fmt(char buf[static PATH_LEN], const char *fmt, ...) _printf_(2, 3);
static void path_fmt(char buf[static PATH_LEN], const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, PATH_LEN, fmt, ap);
        va_end(ap);
}

/* ---- the raw-text scanner ---- */

typedef struct KeyRef {
        const char *s; /* decoded key: into the text, or owned */
        size_t len;
        size_t offset; /* of the opening quote */
        char *owned;
} KeyRef;

typedef struct Scanner {
        const char *text;
        size_t size, pos;
        json_tokener *tok; /* decodes keys with escapes, made on first use */
        int r;             /* first error: -EINVAL (described below) or -ENOMEM */
        size_t err_offset;
        char err_path[PATH_LEN];
        char *err_reason;
        bool err_has_path;
} Scanner;

static void scan_fail(Scanner *s, size_t offset, const char *path, const char *fmt, ...)
        _printf_(4, 5);
static void scan_fail(Scanner *s, size_t offset, const char *path, const char *fmt, ...) {
        va_list ap;

        if (s->r < 0)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s->err_reason, fmt, ap) < 0) {
                s->err_reason = NULL;
                s->r = -ENOMEM;
        } else
                s->r = -EINVAL;
        va_end(ap);
        s->err_offset = offset;
        s->err_has_path = path != NULL;
        path_fmt(s->err_path, "%s", strempty(path));
}

/* RFC 8259 section 2: the four whitespace characters, no others (json-c also takes \f, \v). */
static void scan_ws(Scanner *s) {
        while (s->pos < s->size && strchr(" \t\n\r", s->text[s->pos]) && s->text[s->pos])
                s->pos++;
}

/* A string token starting at the opening quote. For keys, *ret gets the decoded key. */
static int scan_string(Scanner *s, KeyRef *ret) {
        size_t start = s->pos;
        bool escapes = false;

        s->pos++;
        for (;;) {
                unsigned char ch;

                if (s->pos >= s->size) {
                        scan_fail(s, s->pos, NULL, "unterminated string");
                        return s->r;
                }
                ch = (unsigned char) s->text[s->pos];
                if (ch == '"')
                        break;
                if (ch < 0x20) {
                        scan_fail(s, s->pos, NULL,
                                  "control character in a string (JSON needs it escaped)");
                        return s->r;
                }
                if (ch == '\\') {
                        char e;

                        escapes = true;
                        if (s->pos + 1 >= s->size) {
                                scan_fail(s, s->pos, NULL, "unterminated string");
                                return s->r;
                        }
                        e = s->text[s->pos + 1];
                        if (e == 'u') {
                                for (size_t i = 2; i < 6; i++)
                                        if (s->pos + i >= s->size ||
                                            !isxdigit((unsigned char) s->text[s->pos + i])) {
                                                scan_fail(s, s->pos, NULL,
                                                          "invalid \\u escape in a string");
                                                return s->r;
                                        }
                                s->pos += 6;
                                continue;
                        }
                        if (!strchr("\"\\/bfnrt", e) || e == 0) {
                                scan_fail(s, s->pos, NULL, "invalid escape in a string");
                                return s->r;
                        }
                        s->pos += 2;
                        continue;
                }
                s->pos++;
        }
        s->pos++; /* the closing quote */

        if (!ret)
                return 0;
        *ret = (KeyRef) { .s = s->text + start + 1, .len = s->pos - start - 2, .offset = start };
        if (escapes) {
                json_object *o;
                const char *d;

                if (!s->tok) {
                        s->tok = json_tokener_new_ex(2);
                        if (!s->tok)
                                return (s->r = -ENOMEM);
                }
                json_tokener_reset(s->tok);
                o = json_tokener_parse_ex(s->tok, s->text + start, (int) (s->pos - start));
                if (!o || !json_object_is_type(o, json_type_string)) {
                        json_object_put(o);
                        scan_fail(s, start, NULL, "invalid string");
                        return s->r;
                }
                d = json_object_get_string(o);
                ret->len = (size_t) json_object_get_string_len(o);
                ret->owned = malloc(ret->len + 1);
                if (!ret->owned) {
                        json_object_put(o);
                        return (s->r = -ENOMEM);
                }
                memcpy(ret->owned, d, ret->len + 1);
                ret->s = ret->owned;
                json_object_put(o);
        }
        return 0;
}

/* RFC 8259 section 6 number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(Scanner *s, const char *path) {
        size_t start = s->pos, digits;
        bool neg = false, integer = true;
        uint64_t v = 0;

        if (s->text[s->pos] == '-') {
                neg = true;
                s->pos++;
        }
        if (s->pos >= s->size || !isdigit((unsigned char) s->text[s->pos])) {
                scan_fail(s, start, NULL,
                          s->pos < s->size && s->text[s->pos] == 'I'
                                  ? "NaN and Infinity are not JSON numbers"
                                  : "invalid number");
                return s->r;
        }
        if (s->text[s->pos] == '0')
                s->pos++;
        else
                while (s->pos < s->size && isdigit((unsigned char) s->text[s->pos]))
                        s->pos++;
        digits = s->pos - start - neg;
        if (s->pos < s->size && s->text[s->pos] == '.') {
                integer = false;
                s->pos++;
                if (s->pos >= s->size || !isdigit((unsigned char) s->text[s->pos])) {
                        scan_fail(s, start, NULL, "invalid number: a digit must follow \".\"");
                        return s->r;
                }
                while (s->pos < s->size && isdigit((unsigned char) s->text[s->pos]))
                        s->pos++;
        }
        if (s->pos < s->size && (s->text[s->pos] == 'e' || s->text[s->pos] == 'E')) {
                integer = false;
                s->pos++;
                if (s->pos < s->size && (s->text[s->pos] == '+' || s->text[s->pos] == '-'))
                        s->pos++;
                if (s->pos >= s->size || !isdigit((unsigned char) s->text[s->pos])) {
                        scan_fail(s, start, NULL,
                                  "invalid number: a digit must follow the exponent");
                        return s->r;
                }
                while (s->pos < s->size && isdigit((unsigned char) s->text[s->pos]))
                        s->pos++;
        }
        if (!integer)
                return 0;

        /* json-c saturates integers beyond 64 bits without telling: refuse them here. */
        for (size_t i = 0; i < digits; i++) {
                unsigned d = (unsigned) (s->text[start + neg + i] - '0');

                if (v > (UINT64_C(1) << 63) / 10 ||
                    v * 10 + d > (UINT64_C(1) << 63) - (neg ? 0 : 1)) {
                        scan_fail(s, start, path, "integer %.*s%s is out of range",
                                  (int) MIN(digits + neg, 24u), s->text + start,
                                  digits + neg > 24 ? "..." : "");
                        return s->r;
                }
                v = v * 10 + d;
        }
        return 0;
}

/* Keys of the schema print as .key; anything else (unknown, escaped) as ["..."]. */
static void path_key(char buf[static PATH_LEN], const char *parent, const char *key, size_t len) {
        bool plain = len > 0 && len <= 48;

        for (size_t i = 0; plain && i < len; i++)
                if (!isalnum((unsigned char) key[i]) && key[i] != '_')
                        plain = false;
        if (plain)
                path_fmt(buf, "%s%s%.*s", parent, isempty(parent) ? "" : ".", (int) len, key);
        else {
                _cleanup_free_ char *q = policy_quote(key, len);

                path_fmt(buf, "%s[%s]", parent, q ?: "?");
        }
}

/* Sorting keys makes duplicates adjacent: O(n log n) even for an object of thousands of keys. */
static int key_cmp(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int k;

        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        k = memcmp(x->s, y->s, x->len);
        if (k != 0)
                return k;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void keys_free(KeyRef *keys, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(keys[i].owned);
        free(keys);
}

static int scan_value(Scanner *s, unsigned depth, const char *path);

static int scan_object(Scanner *s, unsigned depth, const char *path) {
        KeyRef *keys = NULL;
        size_t n = 0, allocated = 0;
        int r = 0;

        s->pos++; /* '{' */
        scan_ws(s);
        if (s->pos < s->size && s->text[s->pos] == '}') {
                s->pos++;
                return 0;
        }
        for (;;) {
                char child[PATH_LEN];
                KeyRef k;

                scan_ws(s);
                if (s->pos >= s->size || s->text[s->pos] != '"') {
                        scan_fail(s, s->pos, NULL,
                                  s->pos < s->size && s->text[s->pos] == '\''
                                          ? "strings must be in double quotes"
                                          : "expected a key in double quotes");
                        r = s->r;
                        goto finish;
                }
                r = scan_string(s, &k);
                if (r < 0)
                        goto finish;
                if (n == allocated) {
                        size_t na = MAX(allocated * 2, (size_t) 8);
                        KeyRef *nk = realloc(keys, na * sizeof(KeyRef));

                        if (!nk) {
                                free(k.owned);
                                r = s->r = -ENOMEM;
                                goto finish;
                        }
                        keys = nk;
                        allocated = na;
                }
                keys[n++] = k;
                if (memchr(k.s, 0, k.len)) {
                        unsigned line, col;

                        offset_to_line_column(s->text, k.offset, &line, &col);
                        scan_fail(s, k.offset, path,
                                  "a key contains a NUL character (line %u, column %u)", line, col);
                        r = s->r;
                        goto finish;
                }
                scan_ws(s);
                if (s->pos >= s->size || s->text[s->pos] != ':') {
                        scan_fail(s, s->pos, NULL, "expected \":\" after a key");
                        r = s->r;
                        goto finish;
                }
                s->pos++;
                path_key(child, path, k.s, k.len);
                r = scan_value(s, depth + 1, child);
                if (r < 0)
                        goto finish;
                scan_ws(s);
                if (s->pos < s->size && s->text[s->pos] == ',') {
                        s->pos++;
                        continue;
                }
                if (s->pos < s->size && s->text[s->pos] == '}') {
                        s->pos++;
                        break;
                }
                scan_fail(s, s->pos, NULL, "expected \",\" or \"}\" in an object");
                r = s->r;
                goto finish;
        }

        /* json-c keeps the last of duplicate keys; report the first repetition in the text. */
        if (n > 1) {
                const KeyRef *dup = NULL;

                qsort(keys, n, sizeof(KeyRef), key_cmp);
                for (size_t i = 1; i < n; i++)
                        if (keys[i].len == keys[i - 1].len &&
                            memcmp(keys[i].s, keys[i - 1].s, keys[i].len) == 0 &&
                            (!dup || keys[i].offset < dup->offset))
                                dup = &keys[i];
                if (dup) {
                        _cleanup_free_ char *q = policy_quote(dup->s, dup->len);
                        unsigned line, col;

                        offset_to_line_column(s->text, dup->offset, &line, &col);
                        scan_fail(s, dup->offset, path, "duplicate key %s (line %u, column %u)",
                                  strna(q), line, col);
                        r = s->r;
                }
        }
finish:
        keys_free(keys, n);
        return r;
}

static int scan_array(Scanner *s, unsigned depth, const char *path) {
        size_t i = 0;

        s->pos++; /* '[' */
        scan_ws(s);
        if (s->pos < s->size && s->text[s->pos] == ']') {
                s->pos++;
                return 0;
        }
        for (;; i++) {
                char child[PATH_LEN];
                int r;

                path_fmt(child, "%s[%zu]", path, i);
                r = scan_value(s, depth + 1, child);
                if (r < 0)
                        return r;
                scan_ws(s);
                if (s->pos < s->size && s->text[s->pos] == ',') {
                        s->pos++;
                        continue;
                }
                if (s->pos < s->size && s->text[s->pos] == ']') {
                        s->pos++;
                        return 0;
                }
                scan_fail(s, s->pos, NULL, "expected \",\" or \"]\" in an array");
                return s->r;
        }
}

static int scan_value(Scanner *s, unsigned depth, const char *path) {
        static const char *const literals[] = { "true", "false", "null" };
        char ch;

        if (depth > POLICY_DEPTH_MAX) {
                scan_fail(s, s->pos, NULL, "nesting deeper than %d levels", POLICY_DEPTH_MAX);
                return s->r;
        }
        scan_ws(s);
        if (s->pos >= s->size) {
                scan_fail(s, s->pos, NULL, "unexpected end of file");
                return s->r;
        }
        ch = s->text[s->pos];
        if (ch == '{')
                return scan_object(s, depth, path);
        if (ch == '[')
                return scan_array(s, depth, path);
        if (ch == '"')
                return scan_string(s, NULL);
        if (ch == '-' || isdigit((unsigned char) ch))
                return scan_number(s, path);
        for (size_t i = 0; i < ELEMENTSOF(literals); i++) {
                size_t n = strlen(literals[i]);

                if (s->size - s->pos >= n && strneq(s->text + s->pos, literals[i], n) &&
                    (s->size - s->pos == n || !isalnum((unsigned char) s->text[s->pos + n]))) {
                        s->pos += n;
                        return 0;
                }
        }
        if (ch == '\'')
                scan_fail(s, s->pos, NULL, "strings must be in double quotes");
        else if (ch == 'N' || ch == 'I')
                scan_fail(s, s->pos, NULL, "NaN and Infinity are not JSON numbers");
        else
                scan_fail(s, s->pos, NULL, "unexpected character");
        return s->r;
}

/* 0, or -EINVAL with one error line added, or -ENOMEM. */
static int scan_text(PolicyErrors *e, const char *name, const char *text, size_t size) {
        Scanner s = { .text = text, .size = size };
        unsigned line, col;
        int r;

        r = scan_value(&s, 1, "");
        if (r >= 0) {
                scan_ws(&s);
                if (s.pos < s.size) {
                        scan_fail(&s, s.pos, NULL, "trailing characters after the top-level value");
                        r = s.r;
                }
        }
        if (s.tok)
                json_tokener_free(s.tok);
        if (r == -EINVAL) {
                offset_to_line_column(text, s.err_offset, &line, &col);
                if (s.err_has_path && !isempty(s.err_path))
                        policy_errors_add(e, "%s: %s: %s", name, s.err_path, s.err_reason);
                else if (s.err_has_path)
                        policy_errors_add(e, "%s: %s", name, s.err_reason);
                else
                        policy_errors_add(e, "%s:%u:%u: %s", name, line, col, s.err_reason);
        }
        free(s.err_reason);
        return r;
}

/* ---- tree validation ---- */

typedef struct Ctx {
        PolicyErrors *errors;
        const char *name;
        bool failed;
} Ctx;

static void ctx_error(Ctx *c, const char *path, const char *fmt, ...) _printf_(3, 4);
static void ctx_error(Ctx *c, const char *path, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        va_list ap;
        int k;

        c->failed = true;
        va_start(ap, fmt);
        k = vasprintf(&reason, fmt, ap);
        va_end(ap);
        if (k < 0) {
                reason = NULL;
                c->errors->oom = true;
                return;
        }
        if (isempty(path))
                policy_errors_add(c->errors, "%s: %s", c->name, reason);
        else
                policy_errors_add(c->errors, "%s: %s: %s", c->name, path, reason);
}

static void ctx_oom(Ctx *c) {
        c->failed = true;
        c->errors->oom = true;
}

/* For "expected X, got Y": JSON's names for types, not json-c's. */
static const char *type_name(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
                return "a number with a fraction or exponent";
        case json_type_int:
                return "an integer";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        }
        return "an unknown type";
}

static void child_path(char buf[static PATH_LEN], const char *parent, const char *key) {
        path_fmt(buf, "%s%s%s", parent, isempty(parent) ? "" : ".", key);
}

static void unknown_key(Ctx *c, const char *path, const char *key) {
        _cleanup_free_ char *q = policy_quote(key, strlen(key));

        if (!q) {
                ctx_oom(c);
                return;
        }
        ctx_error(c, path, "unknown key %s", q);
}

static bool want_type(Ctx *c, const char *path, json_object *o, json_type type, const char *what) {
        if (json_object_is_type(o, type))
                return true;
        ctx_error(c, path, "expected %s, got %s", what, type_name(o));
        return false;
}

static bool get_bool(Ctx *c, const char *path, json_object *o, bool *ret) {
        if (!want_type(c, path, o, json_type_boolean, "true or false"))
                return false;
        *ret = json_object_get_boolean(o);
        return true;
}

static bool get_int(Ctx *c, const char *path, json_object *o, int64_t min, int64_t max,
                    int64_t *ret) {
        int64_t v;

        if (json_object_is_type(o, json_type_double)) {
                ctx_error(c, path,
                          "expected an integer, got a number with a fraction or exponent (%.32s)",
                          json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                return false;
        }
        if (!want_type(c, path, o, json_type_int, "an integer"))
                return false;
        v = json_object_get_int64(o);
        if (v < min || v > max) {
                if (max == INT64_MAX)
                        ctx_error(c, path, "expected an integer >= %" PRId64 ", got %" PRId64, min,
                                  v);
                else
                        ctx_error(c, path,
                                  "expected an integer from %" PRId64 " to %" PRId64
                                  ", got %" PRId64,
                                  min, max, v);
                return false;
        }
        *ret = v;
        return true;
}

/* A string without NUL characters; what says what kind of string is expected. */
static const char *get_string(Ctx *c, const char *path, json_object *o, const char *what) {
        const char *s;

        if (!want_type(c, path, o, json_type_string, what))
                return NULL;
        s = json_object_get_string(o);
        if ((size_t) json_object_get_string_len(o) != strlen(s)) {
                ctx_error(c, path, "contains a NUL character");
                return NULL;
        }
        return s;
}

/* Reports "REASON, got "VALUE"" with the value quoted. */
static void bad_value(Ctx *c, const char *path, const char *s, const char *reason) {
        _cleanup_free_ char *q = policy_quote(s, strlen(s));

        if (!q) {
                ctx_oom(c);
                return;
        }
        ctx_error(c, path, "%s, got %s", reason, q);
}

/* description, reason: free text for humans that lands in one-line log messages and bus errors,
 * so no control characters (no line breaks to forge log lines with). */
static bool get_text(Ctx *c, const char *path, json_object *o, char **ret) {
        const char *s = get_string(c, path, o, "a string");
        char *d;

        if (!s)
                return false;
        if (strlen(s) > POLICY_TEXT_LEN_MAX) {
                ctx_error(c, path, "longer than %d bytes", POLICY_TEXT_LEN_MAX);
                return false;
        }
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                        ctx_error(c, path, "contains a control character");
                        return false;
                }
        d = strdup(s);
        if (!d) {
                ctx_oom(c);
                return false;
        }
        free(*ret);
        *ret = d;
        return true;
}

static bool all_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

#define ID_WHAT "\"0x\" and 4 hex digits"

/* Ids are written as sysfs shows them (vendor, device, ... in Documentation/ABI/testing/
 * sysfs-bus-pci: "0x" and four hex digits), so a value can be pasted from there. */
static bool get_id16(Ctx *c, const char *path, json_object *o, int32_t *ret) {
        const char *s = get_string(c, path, o, "a string (" ID_WHAT ")");
        uint32_t v;

        if (!s)
                return false;
        if (strlen(s) != 6 || !strneq(s, "0x", 2) || !all_hex(s + 2, 4) ||
            safe_atou32(s, 0, &v) < 0) {
                bad_value(c, path, s, "expected " ID_WHAT);
                return false;
        }
        *ret = (int32_t) v;
        return true;
}

#define CLASS_WHAT "\"0x\" and 2, 4 or 6 hex digits, optionally followed by \"*\""

/* The 24-bit class code (PCI Code and ID Assignment spec): base class, sub-class, programming
 * interface, one byte each; 2 or 4 digits name a prefix. */
static bool get_class(Ctx *c, const char *path, json_object *o, PolicyMatch *m) {
        const char *s = get_string(c, path, o, "a string (" CLASS_WHAT ")");
        char digits[7];
        size_t n;
        uint32_t v;

        if (!s)
                return false;
        n = strlen(s);
        if (n > 0 && s[n - 1] == '*')
                n--;
        if (n < 2 || !strneq(s, "0x", 2) || !(n - 2 == 2 || n - 2 == 4 || n - 2 == 6) ||
            !all_hex(s + 2, n - 2)) {
                bad_value(c, path, s, "expected " CLASS_WHAT);
                return false;
        }
        memcpy(digits, s + 2, n - 2);
        digits[n - 2] = 0;
        if (safe_atou32(digits, 16, &v) < 0) {
                bad_value(c, path, s, "expected " CLASS_WHAT);
                return false;
        }
        m->class_digits = (unsigned) (n - 2);
        m->class_prefix = v;
        return true;
}

/* Address globs are matched with fnmatch() against canonical addresses only: the character set
 * keeps them to what an address can contain, so no glob can name anything but PCI addresses. */
#define GLOB_CHARS "0123456789abcdef:.*?[]-"

static bool get_address_glob(Ctx *c, const char *path, json_object *o, char **ret) {
        const char *s = get_string(c, path, o, "a string (a PCI address glob)");
        bool in_bracket = false;
        size_t n;
        char *d;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0) {
                ctx_error(c, path, "empty address glob");
                return false;
        }
        if (n > POLICY_GLOB_LEN_MAX) {
                bad_value(c, path, s, "an address glob is at most 32 characters");
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                if (!strchr(GLOB_CHARS, s[i])) {
                        _cleanup_free_ char *q = policy_quote(s, n), *ch = policy_quote(s + i, 1);

                        if (!q || !ch) {
                                ctx_oom(c);
                                return false;
                        }
                        ctx_error(c, path,
                                  "character %s is not allowed in an address glob "
                                  "(only 0-9 a-f : . * ? [ ] -), got %s",
                                  ch, q);
                        return false;
                }
                if (in_bracket) {
                        if (s[i] == ']' && s[i - 1] != '[')
                                in_bracket = false;
                        else if (s[i] == ']') {
                                bad_value(c, path, s, "empty \"[]\" in address glob");
                                return false;
                        }
                } else if (s[i] == '[')
                        in_bracket = true;
                else if (s[i] == ']') {
                        bad_value(c, path, s, "\"]\" without \"[\" in address glob");
                        return false;
                }
        }
        if (in_bracket) {
                bad_value(c, path, s, "unterminated \"[\" in address glob");
                return false;
        }
        if (strstr(s, "..")) {
                bad_value(c, path, s, "\"..\" cannot appear in a PCI address");
                return false;
        }
        if (!policy_glob_has_wildcard(s) && !pci_address_is_canonical(s)) {
                bad_value(c, path, s,
                          "expected a canonical PCI address (DDDD:BB:DD.F, lower-case hex) "
                          "or a glob with * ? [ ]");
                return false;
        }
        d = strdup(s);
        if (!d) {
                ctx_oom(c);
                return false;
        }
        free(*ret);
        *ret = d;
        return true;
}

static bool unix_name_is_valid(const char *s) {
        size_t n = strlen(s);

        /* The shadow-utils default NAME_REGEX, [a-z_][a-z0-9_-]*[$]?, at most 32 characters. */
        if (n == 0 || n > POLICY_NAME_LEN_MAX)
                return false;
        if (!(islower((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char ch = s[i];

                if (ch == '$' && i == n - 1)
                        break;
                if (!(islower((unsigned char) ch) || isdigit((unsigned char) ch) || ch == '_' ||
                      ch == '-'))
                        return false;
        }
        return true;
}

/* An empty list would make a rule apply to nobody, which is never what was meant. */
static bool get_names(Ctx *c, const char *path, json_object *o, const char *what, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n;
        bool ok = true;

        if (!want_type(c, path, o, json_type_array, "an array of strings"))
                return false;
        n = json_object_array_length(o);
        if (n == 0) {
                ctx_error(c, path, "empty list: leave the key out to apply the rule to everyone");
                return false;
        }
        if (n > POLICY_NAMES_MAX) {
                ctx_error(c, path, "%zu entries, at most %d", n, POLICY_NAMES_MAX);
                return false;
        }
        for (size_t i = 0; i < n; i++) {
                char p[PATH_LEN], reason[128];
                const char *s;

                path_fmt(p, "%s[%zu]", path, i);
                s = get_string(c, p, json_object_array_get_idx(o, i), "a string");
                if (!s) {
                        ok = false;
                        continue;
                }
                if (!unix_name_is_valid(s)) {
                        snprintf(
                                reason, sizeof(reason),
                                "expected a %s name ([a-z_][a-z0-9_-]*[$]?, at most %d characters)",
                                what, POLICY_NAME_LEN_MAX);
                        bad_value(c, p, s, reason);
                        ok = false;
                        continue;
                }
                if (strv_extend(&l, s) < 0) {
                        ctx_oom(c);
                        return false;
                }
        }
        if (!ok)
                return false;
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return true;
}

static void parse_match(Ctx *c, const char *path, json_object *o, PolicyMatch *m) {
        if (!want_type(c, path, o, json_type_object, "an object"))
                return;
        json_object_object_foreach(o, key, v) {
                char p[PATH_LEN];
                int64_t i;
                bool b;

                child_path(p, path, key);
                if (streq(key, "address"))
                        (void) get_address_glob(c, p, v, &m->address);
                else if (streq(key, "vendor"))
                        (void) get_id16(c, p, v, &m->vendor);
                else if (streq(key, "device"))
                        (void) get_id16(c, p, v, &m->device);
                else if (streq(key, "subsystem_vendor"))
                        (void) get_id16(c, p, v, &m->subsystem_vendor);
                else if (streq(key, "subsystem_device"))
                        (void) get_id16(c, p, v, &m->subsystem_device);
                else if (streq(key, "class"))
                        (void) get_class(c, p, v, m);
                else if (streq(key, "group")) {
                        if (get_int(c, p, v, 0, INT32_MAX, &i))
                                m->group = i;
                } else if (streq(key, "driver")) {
                        const char *s = get_string(c, p, v, "a string (a driver name)");

                        if (!s)
                                continue;
                        if (strlen(s) > POLICY_DRIVER_LEN_MAX || !filename_is_valid(s) ||
                            strchr(s, ' '))
                                bad_value(c, p, s,
                                          "expected a driver name (no \"/\" or spaces, "
                                          "at most 64 characters)");
                        else if (!(m->driver = strdup(s)))
                                ctx_oom(c);
                } else if (streq(key, "boot_vga")) {
                        if (get_bool(c, p, v, &b))
                                m->boot_vga = b;
                } else if (streq(key, "host_critical")) {
                        if (get_bool(c, p, v, &b))
                                m->host_critical = b;
                } else if (streq(key, "numa_node")) {
                        if (get_int(c, p, v, 0, INT32_MAX, &i))
                                m->numa_node = i;
                } else if (streq(key, "physfn")) {
                        if (json_object_is_type(v, json_type_boolean))
                                m->physfn = json_object_get_boolean(v) ? POLICY_PHYSFN_VF
                                                                       : POLICY_PHYSFN_NOT_VF;
                        else if (json_object_is_type(v, json_type_string)) {
                                if (get_address_glob(c, p, v, &m->physfn_glob))
                                        m->physfn = POLICY_PHYSFN_GLOB;
                        } else
                                ctx_error(c, p,
                                          "expected true, false or a PCI address glob, got %s",
                                          type_name(v));
                } else
                        unknown_key(c, path, key);
        }
}

#define BACKEND_WHAT "\"type1\", \"iommufd\" or \"any\""

static void get_backend(Ctx *c, const char *path, json_object *o, PolicyBackend *ret) {
        const char *s = get_string(c, path, o, BACKEND_WHAT);

        if (!s)
                return;
        for (PolicyBackend b = 0; b < _POLICY_BACKEND_MAX; b++)
                if (streq(s, policy_backend_to_string(b))) {
                        *ret = b;
                        return;
                }
        bad_value(c, path, s, "expected " BACKEND_WHAT);
}

#define VFIO_DRIVER_WHAT "\"vfio-pci\" or a VFIO variant driver (NAME_vfio_pci)"
/* include/linux/module.h: MODULE_NAME_LEN is 64 - sizeof(unsigned long). */
#define VFIO_DRIVER_MAX 56

/* vfio-pci, or a variant (driver_is_vfio()) whose name a module can have. */
static void get_vfio_driver(Ctx *c, const char *path, json_object *o, char **ret) {
        const char *s = get_string(c, path, o, VFIO_DRIVER_WHAT);
        size_t n = s ? strlen(s) : 0;

        if (!s)
                return;
        if (!driver_is_vfio(s) ||
            (!streq(s, DRIVER_VFIO_PCI) &&
             (n > VFIO_DRIVER_MAX ||
              strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n))) {
                bad_value(c, path, s, "expected " VFIO_DRIVER_WHAT);
                return;
        }
        free(*ret);
        *ret = strdup(s);
        if (!*ret)
                ctx_oom(c);
}

static void parse_rule(Ctx *c, const char *path, json_object *o, PolicyRule *r) {
        bool have_action = false;

        if (!want_type(c, path, o, json_type_object, "an object"))
                return;
        json_object_object_foreach(o, key, v) {
                char p[PATH_LEN];

                child_path(p, path, key);
                if (streq(key, "description"))
                        (void) get_text(c, p, v, &r->description);
                else if (streq(key, "match"))
                        parse_match(c, p, v, &r->match);
                else if (streq(key, "action")) {
                        const char *s = get_string(c, p, v, "\"allow\" or \"deny\"");

                        have_action = true;
                        if (!s)
                                continue;
                        if (streq(s, "allow"))
                                r->action = POLICY_ACTION_ALLOW;
                        else if (streq(s, "deny"))
                                r->action = POLICY_ACTION_DENY;
                        else
                                bad_value(c, p, s, "expected \"allow\" or \"deny\"");
                } else if (streq(key, "users"))
                        (void) get_names(c, p, v, "user", &r->users);
                else if (streq(key, "groups"))
                        (void) get_names(c, p, v, "group", &r->groups);
                else if (streq(key, "reason"))
                        (void) get_text(c, p, v, &r->reason);
                else if (streq(key, "prepare_at_boot"))
                        (void) get_bool(c, p, v, &r->prepare_at_boot);
                else if (streq(key, "backend"))
                        get_backend(c, p, v, &r->backend);
                else if (streq(key, "vfio_driver"))
                        get_vfio_driver(c, p, v, &r->vfio_driver);
                else
                        unknown_key(c, path, key);
        }
        if (!have_action)
                ctx_error(c, path, "required key \"action\" is missing");
        else if (r->action == POLICY_ACTION_DENY) {
                char p[PATH_LEN];

                if (r->prepare_at_boot) {
                        child_path(p, path, "prepare_at_boot");
                        ctx_error(c, p, "only an \"allow\" rule can prepare devices at boot");
                }
                if (r->backend != POLICY_BACKEND_ANY) {
                        child_path(p, path, "backend");
                        ctx_error(c, p, "only an \"allow\" rule can pin a backend");
                }
                if (r->vfio_driver) {
                        child_path(p, path, "vfio_driver");
                        ctx_error(c, p, "only an \"allow\" rule can choose a VFIO driver");
                }
        }
}

#define SIZE_WHAT                                                                    \
        "a number of bytes, \"unlimited\", or digits with an optional K, M, G or T " \
        "suffix (powers of 1024)"

/* Integers are bytes; strings take binary suffixes, as memlock limits and hugepage sizes do. */
static bool get_size(Ctx *c, const char *path, json_object *o, uint64_t *ret) {
        const char *s;

        if (json_object_is_type(o, json_type_int)) {
                int64_t i;

                if (!get_int(c, path, o, 0, INT64_MAX, &i))
                        return false;
                *ret = (uint64_t) i;
                return true;
        }
        if (!json_object_is_type(o, json_type_string)) {
                ctx_error(c, path, "expected %s, got %s", SIZE_WHAT, type_name(o));
                return false;
        }
        s = get_string(c, path, o, "a string");
        if (!s)
                return false;
        if (streq(s, "unlimited")) {
                *ret = UINT64_MAX;
                return true;
        }
        switch (parse_size(s, ret)) {
        case 0:
                return true;
        case -ERANGE:
                bad_value(c, path, s, "does not fit in 64 bits");
                return false;
        default:
                bad_value(c, path, s, "expected " SIZE_WHAT);
                return false;
        }
}

/* Only keys that validate are marked as set, so a bad value never overrides an earlier file. */
static void parse_host(Ctx *c, const char *path, json_object *o, Policy *p) {
        if (!want_type(c, path, o, json_type_object, "an object"))
                return;
        json_object_object_foreach(o, key, v) {
                char kp[PATH_LEN];
                PolicyHostKey k = _POLICY_HOST_KEY_MAX;
                bool ok = false;

                child_path(kp, path, key);
                for (size_t i = 0; i < _POLICY_HOST_KEY_MAX; i++)
                        if (streq(key, policy_host_key_names[i]))
                                k = (PolicyHostKey) i;
                switch (k) {
                case POLICY_HOST_REQUIRE_IR:
                        ok = get_bool(c, kp, v, &p->host.require_interrupt_remapping);
                        break;
                case POLICY_HOST_ALLOW_UNSAFE:
                        ok = get_bool(c, kp, v, &p->host.allow_unsafe_interrupts);
                        break;
                case POLICY_HOST_RESTORE_DRIVER:
                        ok = get_bool(c, kp, v, &p->host.restore_driver_on_release);
                        break;
                case POLICY_HOST_REQUIRE_RESET:
                        ok = get_bool(c, kp, v, &p->host.require_reset);
                        break;
                case POLICY_HOST_MAX_PINNED:
                        ok = get_size(c, kp, v, &p->host.max_pinned_bytes_per_uid);
                        break;
                case POLICY_HOST_ON_HOLDER_EXIT: {
                        const char *s = get_string(c, kp, v, "\"release\" or \"keep\"");

                        if (!s)
                                break;
                        if (streq(s, "release"))
                                p->host.on_holder_exit = ON_HOLDER_EXIT_RELEASE;
                        else if (streq(s, "keep"))
                                p->host.on_holder_exit = ON_HOLDER_EXIT_KEEP;
                        else {
                                bad_value(c, kp, s, "expected \"release\" or \"keep\"");
                                break;
                        }
                        ok = true;
                        break;
                }
                case _POLICY_HOST_KEY_MAX:
                        unknown_key(c, path, key);
                        break;
                }
                if (ok)
                        p->host_source[k] = 0;
        }
}

static void parse_rules(Ctx *c, const char *path, json_object *o, Policy *p) {
        size_t n;

        if (!want_type(c, path, o, json_type_array, "an array"))
                return;
        n = json_object_array_length(o);
        if (n > POLICY_RULES_MAX) {
                ctx_error(c, path, "%zu rules, at most %d per file", n, POLICY_RULES_MAX);
                return;
        }
        p->rules = calloc(MAX(n, (size_t) 1), sizeof(PolicyRule));
        if (!p->rules) {
                ctx_oom(c);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                PolicyRule *r = &p->rules[i];
                char rp[PATH_LEN];

                *r = (PolicyRule) { .file = 0, .index = (unsigned) i };
                policy_match_init(&r->match);
                p->n_rules = i + 1;
                path_fmt(rp, "%s[%zu]", path, i);
                parse_rule(c, rp, json_object_array_get_idx(o, i), r);
        }
}

static void parse_root(Ctx *c, json_object *root, Policy *p) {
        json_object *v;
        int64_t version;

        if (!json_object_is_type(root, json_type_object)) {
                ctx_error(c, NULL, "the top level must be an object, got %s", type_name(root));
                return;
        }
        /* The version decides how to read the rest: check it first and alone. */
        if (!json_object_object_get_ex(root, "version", &v)) {
                ctx_error(c, "version",
                          "required key is missing (this vfio-assignd reads version %d)",
                          POLICY_VERSION);
                return;
        }
        if (json_object_is_type(v, json_type_int)) {
                version = json_object_get_int64(v);
                if (version != POLICY_VERSION) {
                        ctx_error(c, "version",
                                  "unsupported version %" PRId64
                                  " (this vfio-assignd reads version %d)",
                                  version, POLICY_VERSION);
                        return;
                }
        } else {
                ctx_error(c, "version", "expected the integer %d, got %s", POLICY_VERSION,
                          type_name(v));
                return;
        }
        json_object_object_foreach(root, key, val) {
                if (streq(key, "version"))
                        continue;
                if (streq(key, "host"))
                        parse_host(c, "host", val, p);
                else if (streq(key, "rules"))
                        parse_rules(c, "rules", val, p);
                else
                        unknown_key(c, NULL, key);
        }
}

/* json-c's own description, made friendlier where we know better. */
static const char *tokener_reason(enum json_tokener_error err, const char *text, size_t size,
                                  size_t offset) {
        if (offset < size && text[offset] == '/' && err != json_tokener_error_depth)
                return "comments are not allowed in JSON (use a \"description\" key)";
        if (offset < size && text[offset] == '\'' && err != json_tokener_error_depth)
                return "strings must be in double quotes";
        switch (err) {
        case json_tokener_error_depth:
                return "nesting deeper than 8 levels";
        case json_tokener_continue:
        case json_tokener_error_parse_eof:
                return "unexpected end of file";
        case json_tokener_error_parse_utf8_string:
                return "invalid UTF-8";
        default:
                return json_tokener_error_desc(err);
        }
}

/* Cheap checks on the bytes first, then json-c, then the scanner, then the schema: each step
 * runs only on input the previous one accepted. */
int policy_parse_text(PolicyErrors *e, const char *name, const char *text, size_t size,
                      Policy **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_free_ char *buf = NULL;
        Ctx c = { .errors = e, .name = name };
        const char *nul;
        bool blank = true;
        int r;

        if (size > POLICY_FILE_SIZE_MAX) {
                policy_errors_add(e, "%s: larger than %u bytes", name, POLICY_FILE_SIZE_MAX);
                return e->oom ? -ENOMEM : -EINVAL;
        }
        nul = memchr(text, 0, size);
        if (nul) {
                unsigned line, col;

                offset_to_line_column(text, (size_t) (nul - text), &line, &col);
                policy_errors_add(e, "%s:%u:%u: NUL byte in the file", name, line, col);
                return e->oom ? -ENOMEM : -EINVAL;
        }
        /* RFC 8259 section 8.1: JSON text must not begin with a byte order mark. */
        if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
                policy_errors_add(
                        e, "%s:1:1: byte order mark at the start of the file (not allowed in JSON)",
                        name);
                return e->oom ? -ENOMEM : -EINVAL;
        }
        for (size_t i = 0; i < size && blank; i++)
                blank = strchr(" \t\n\r", text[i]) != NULL;
        if (blank) {
                policy_errors_add(e,
                                  "%s: empty file (a policy file needs at least {\"version\": %d})",
                                  name, POLICY_VERSION);
                return e->oom ? -ENOMEM : -EINVAL;
        }

        /* json-c wants the terminating NUL inside the length to finish a top-level number. */
        buf = malloc(size + 1);
        tok = json_tokener_new_ex(POLICY_DEPTH_MAX);
        if (!buf || !tok)
                return -ENOMEM;
        memcpy(buf, text, size);
        buf[size] = 0;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        root = json_tokener_parse_ex(tok, buf, (int) size + 1);
        if (json_tokener_get_error(tok) != json_tokener_success) {
                size_t off = MIN(json_tokener_get_parse_end(tok), size);
                unsigned line, col;

                offset_to_line_column(buf, off, &line, &col);
                policy_errors_add(e, "%s:%u:%u: %s", name, line, col,
                                  tokener_reason(json_tokener_get_error(tok), buf, size, off));
                return e->oom ? -ENOMEM : -EINVAL;
        }
        r = scan_text(e, name, buf, size);
        if (r < 0)
                return e->oom ? -ENOMEM : r;

        p = policy_alloc();
        if (!p || strv_extend(&p->files, name) < 0)
                return -ENOMEM;
        parse_root(&c, root, p);
        if (e->oom)
                return -ENOMEM;
        if (c.failed)
                return -EINVAL;
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_parse_file(const char *name, const char *text, size_t size, Policy **ret,
                      char ***ret_errors) {
        PolicyErrors e = {};
        Policy *p = NULL;
        int r, k;

        if (!name || (!text && size > 0) || !ret)
                return -EINVAL;
        r = policy_parse_text(&e, name, text ?: "", size, &p);
        if (r >= 0) {
                policy_errors_done(&e);
                *ret = p;
                return 0;
        }
        if (r == -ENOMEM) {
                policy_errors_done(&e);
                return r;
        }
        k = policy_errors_finish(&e, ret_errors);
        return k < 0 ? k : r;
}
