/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkhost SPEC DIR: materialises the host described by SPEC (tests/data/hosts/README.md) as a
 * fake root in DIR, for vfio-assignd --sysfs-root DIR --dev-root DIR. DIR must be missing or
 * empty. Exit 0, or 1 with the error on stderr. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakesys.h"
#include "hostspec.h"
#include "macro.h"

static int dir_is_empty_or_missing(const char *dir) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r = 1;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 1 : -errno;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = 0;
        return r;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *error = NULL;
        FakeSys *fs = NULL;
        int r;

        if (argc != 3 || isempty(argv[1]) || isempty(argv[2])) {
                fprintf(stderr,
                        "Usage: %s SPEC DIR\n"
                        "Builds the fake host described by SPEC in DIR (missing or empty).\n",
                        program_invocation_short_name);
                return 1;
        }
        r = dir_is_empty_or_missing(argv[2]);
        if (r <= 0) {
                fprintf(stderr, "mkhost: %s: %s\n", argv[2],
                        r == 0 ? "directory is not empty" : strerror(-r));
                return 1;
        }
        r = fakesys_new(argv[2], 0, &fs);
        if (r < 0) {
                fprintf(stderr, "mkhost: %s: %s\n", argv[2], strerror(-r));
                return 1;
        }
        r = hostspec_apply(fs, argv[1], &error);
        fakesys_free(fs);
        if (r < 0) {
                fprintf(stderr, "mkhost: %s\n", error ?: strerror(-r));
                return 1;
        }
        return 0;
}
