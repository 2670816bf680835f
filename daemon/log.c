/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

void log_msg(int level, const char *fmt, ...) {
        va_list ap;

        if (level > log_max)
                return;
        if (log_prefix)
                fprintf(stderr, "<%d>", level);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
