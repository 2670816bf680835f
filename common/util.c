/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"

int safe_atou64(const char *s, unsigned base, uint64_t *ret) {
        char *end = NULL;
        unsigned long long v;
        size_t n;

        if (!s)
                return -EINVAL;
        /* strtoull accepts leading blanks and a sign; sysfs never has them, callers must not. */
        if (!isxdigit((unsigned char) s[0]))
                return -EINVAL;
        if (base == 0) {
                if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                        base = 16;
                        s += 2;
                        if (!isxdigit((unsigned char) s[0]))
                                return -EINVAL;
                } else
                        base = 10;
        }
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s)
                return -EINVAL;
        n = strlen(end);
        if (n > 1 || (n == 1 && *end != '\n'))
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atou32(const char *s, unsigned base, uint32_t *ret) {
        uint64_t v;
        int r;

        r = safe_atou64(s, base, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int safe_atoi32(const char *s, int32_t *ret) {
        uint32_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (s[0] == '-') {
                r = safe_atou32(s + 1, 10, &v);
                if (r < 0)
                        return r;
                if (v > (uint32_t) INT32_MAX + 1)
                        return -ERANGE;
                *ret = (int32_t) (0 - (int64_t) v);
                return 0;
        }
        r = safe_atou32(s, 10, &v);
        if (r < 0)
                return r;
        if (v > INT32_MAX)
                return -ERANGE;
        *ret = (int32_t) v;
        return 0;
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *strstrip_trailing(char *s) {
        size_t n = strlen(s);

        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *s) {
        unsigned c = s[0], n, cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (unsigned i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
                return 0;
        if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
                return 0;
        return n;
}

void utf8_sanitize(char *s) {
        for (unsigned char *p = (unsigned char *) s; p && *p;) {
                size_t n = utf8_sequence(p);

                if (n == 0)
                        *p++ = '?';
                else
                        p += n;
        }
}

int utf8_prefix_len(const char *s, size_t max) {
        size_t n = strnlen(s, MIN(max, (size_t) INT_MAX));

        /* A continuation byte (10xxxxxx) right after the cut: the character straddles it. */
        while (n > 0 && s[n] && ((unsigned char) s[n] & 0xc0) == 0x80)
                n--;
        return (int) n;
}

bool filename_is_valid(const char *s) {
        size_t n = 0;

        if (isempty(s) || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++, n++) {
                if (*p == '/' || !isprint((unsigned char) *p))
                        return false;
                if (n >= 255)
                        return false;
        }
        return true;
}

int strextendf(char **s, const char *sep, const char *fmt, ...) {
        _cleanup_free_ char *add = NULL;
        char *n;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&add, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (asprintf(&n, "%s%s%s", *s ? *s : "", *s && **s ? sep : "", add) < 0)
                return -ENOMEM;
        free(*s);
        *s = n;
        return 0;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

int strv_extend(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char *c, **nl;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        nl = realloc(*l, sizeof(char *) * (n + 2));
        if (!nl) {
                free(c);
                return -ENOMEM;
        }
        nl[n] = c;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

/* Slots (entries plus the NULL) allocated for a list of n entries built by strv_extend_n(). */
static size_t strv_slots(size_t n) {
        size_t s = 4;

        while (s < n + 1)
                s *= 2;
        return s;
}

int strv_extend_n(char ***l, size_t *n, const char *s) {
        char *c, **nl = *l;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        if (!nl || *n + 2 > strv_slots(*n)) {
                nl = realloc(*l, sizeof(char *) * strv_slots(*n + 1));
                if (!nl) {
                        free(c);
                        return -ENOMEM;
                }
        }
        nl[*n] = c;
        nl[*n + 1] = NULL;
        (*n)++;
        *l = nl;
        return 0;
}

int strv_extendv(char ***l, const char *fmt, va_list ap) {
        _cleanup_free_ char *s = NULL;

        if (vasprintf(&s, fmt, ap) < 0)
                return -ENOMEM;
        return strv_extend(l, s);
}

int strv_extendf(char ***l, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = strv_extendv(l, fmt, ap);
        va_end(ap);
        return k;
}

void strv_remove(char **l, const char *s) {
        size_t n = strv_length(l);

        for (size_t i = 0; i < n; i++)
                if (streq(l[i], s)) {
                        free(l[i]);
                        l[i] = l[n - 1];
                        l[n - 1] = NULL;
                        return;
                }
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (; *l; l++)
                        if (streq(*l, s))
                                return true;
        return false;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l) {
        size_t n = strv_length(l);

        if (n > 1)
                qsort(l, n, sizeof(char *), cmp_str);
}

bool pidfd_is_alive(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        /* A pidfd polls readable once its process has exited (pidfd_open(2)). */
        return poll(&p, 1, 0) == 0;
}

int pid_start_time(pid_t pid, uint64_t *ret) {
        char path[32], buf[1024], *p;
        uint64_t t;
        ssize_t n;
        int fd;

        /* proc(5), /proc/pid/stat: the command name (field 2) is in parentheses and may hold
         * spaces and ')', so fields are counted from the last ')'; starttime is field 22. */
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        if (!p)
                return -EBADMSG;
        p++;
        for (int field = 3; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EBADMSG;
        }
        p++;
        p[strcspn(p, " ")] = '\0';
        if (safe_atou64(p, 10, &t) < 0)
                return -EBADMSG;
        *ret = t;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        char digits[32];
        unsigned shift = 0;
        uint64_t v;
        size_t n;

        if (!s)
                return -EINVAL;
        n = strlen(s);
        if (n > 0 && s[n - 1] && strchr("KMGT", s[n - 1])) {
                shift = 10 * (unsigned) (strchr("KMGT", s[n - 1]) - "KMGT" + 1);
                n--;
        }
        if (n == 0 || n >= sizeof(digits))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]))
                        return -EINVAL;
        memcpy(digits, s, n);
        digits[n] = 0;
        if (safe_atou64(digits, 10, &v) < 0 || (shift > 0 && v > (UINT64_MAX >> shift)))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}
