/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Text from the daemon, sysfs or the command line, made fit for a terminal or a log line. */

/* The mark that ends a cut string. */
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 … */

/* A copy of s with the C0 controls, DEL, the C1 controls (U+0080..U+009F), bytes that are not
 * part of valid UTF-8, and the backslash written as C escapes (\n, \t, \\, \x1b, \xc2\x9b): a
 * name cannot move the cursor, change colours or start a line of its own, and the escaped text
 * says exactly which bytes were there. Other UTF-8 is kept. NULL when out of memory. */
char *cescape(const char *s);

/* A copy of s, or when s has more than max characters (a byte that is not UTF-8 counts as one),
 * of its first max characters followed by ELLIPSIS. NULL when out of memory. */
char *strcut(const char *s, size_t max);

/* JSON text as json-c writes it, with what json-c leaves raw in strings written as escapes: DEL
 * and the C1 controls as \u007f..\u009f, and bytes that are not UTF-8 as \ufffd (JSON text is
 * UTF-8, RFC 8259 section 8.1). json-c escapes the C0 controls itself. NULL when out of memory. */
char *json_escape_controls(const char *json);
