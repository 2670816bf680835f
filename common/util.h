/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

/* Strict number parsing: the whole string (trailing newline allowed) must be a number that fits.
 * base 0 accepts 0x-prefixed hex and decimal (never octal). */
int safe_atou64(const char *s, unsigned base, uint64_t *ret);
int safe_atou32(const char *s, unsigned base, uint32_t *ret);
int safe_atoi32(const char *s, int32_t *ret);

/* The start time of a process, in clock ticks after boot (proc(5), /proc/pid/stat field 22):
 * with the pid, it names one process even after the pid is reused. -ESRCH when there is none. */
int pid_start_time(pid_t pid, uint64_t *ret);
/* Whether the process a pidfd names is still running. */
bool pidfd_is_alive(int pidfd);

/* The value of a hex digit (either case), -1 for anything else. */
int unhexchar(char c);

/* Removes trailing whitespace in place; returns s. */
char *strstrip_trailing(char *s);

/* A name that may be used as one path component: non-empty, no '/', not "." or "..",
 * printable ASCII, at most 255 bytes. */
bool filename_is_valid(const char *s);

/* Replaces every byte of s that is not part of a valid UTF-8 sequence with '?' (NULL is fine). */
void utf8_sanitize(char *s);
/* The length of the longest prefix of the UTF-8 string s that has at most max bytes and does not
 * end inside a multi-byte character: for "%.*s" of a caller's string in a bus error message,
 * which sd-bus does not send when it is not valid UTF-8 (the caller would get no reply). */
int utf8_prefix_len(const char *s, size_t max);
/* "4096", "512K", "8G": decimal digits and an optional binary unit K, M, G or T. -EINVAL for
 * anything else, -ERANGE past 64 bits. */
int parse_size(const char *s, uint64_t *ret);

/* Appends a formatted string to *s (which may be NULL), separated by sep when *s is not empty. */
int strextendf(char **s, const char *sep, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

size_t strv_length(char *const *l);
/* Appends a copy of s; *l may be NULL. Counts the list first: for building long lists use
 * strv_extend_n(). */
int strv_extend(char ***l, const char *s);
/* Appends a copy of s to the list *l of *n entries (*l NULL when *n is 0), in amortised constant
 * time: the allocation grows by doubling, and its size follows from *n, so nothing is stored
 * beside the list. Only lists built with strv_extend_n() alone may be passed. */
int strv_extend_n(char ***l, size_t *n, const char *s);
/* Appends a formatted string. */
int strv_extendv(char ***l, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int strv_extendf(char ***l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool strv_contains(char *const *l, const char *s);
/* Removes the first s from l (the last element takes its place). */
void strv_remove(char **l, const char *s);
void strv_sort(char **l);
