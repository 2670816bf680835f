/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static bool log_prefix;
static int log_max = 6;

void log_setup(void) {
        const char *level = getenv("VFIO_ASSIGND_LOG_LEVEL");

        log_prefix = getenv("JOURNAL_STREAM") != NULL;
        if (level && level[0] >= '0' && level[0] <= '7' && !level[1])
                log_max = level[0] - '0';
}

/* error goes into errno just before the message is formatted, for its "%m" (the prefix's
 * fprintf() may change errno); the callers put the caller's errno back. */
_printf_(3, 0) static void log_msgv(int level, int error, const char *fmt, va_list ap) {
        if (log_prefix)
                fprintf(stderr, "<%d>", level);
        errno = error;
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

void log_msg(int level, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        if (level > log_max)
                return;
        va_start(ap, fmt);
        log_msgv(level, saved, fmt, ap);
        va_end(ap);
        errno = saved;
}

int log_msg_errno(int level, int error, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        error = error < 0 ? -error : error;
        if (level <= log_max) {
                va_start(ap, fmt);
                log_msgv(level, error, fmt, ap);
                va_end(ap);
                errno = saved;
        }
        return -error;
}
