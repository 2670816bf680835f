/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a test sees of the model's state from outside (tests/mock/README.md, "State"), so that it
 * waits for a point instead of sleeping, and kills a process exactly there. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MOCK_HANG_PREFIX "hang-"

/* Whether a process waits in a hang injection of bdf ("hang", "probe-hang", "cdev-open-hang"):
 * it holds a shared flock() on <root>/.vfio-mock/hang-BDF meanwhile, which goes when the wait
 * ends or the process dies. */
static inline bool mock_is_hanging(const char *root_dir, const char *bdf) {
        char p[4096];
        bool held;
        int fd;

        snprintf(p, sizeof(p), "%s/.vfio-mock/" MOCK_HANG_PREFIX "%s", root_dir, bdf);
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        close(fd);
        return held;
}

/* Whether some process holds an iommufd context (an open /dev/iommu), or a dead one's is still to
 * be collected: <root>/.vfio-mock/iommufd/ctx-*. */
static inline bool mock_iommufd_context_exists(const char *root_dir) {
        char p[4096];
        struct dirent *de;
        bool found = false;
        DIR *d;

        snprintf(p, sizeof(p), "%s/.vfio-mock/iommufd", root_dir);
        d = opendir(p);
        while (d && !found && (de = readdir(d)))
                found = strncmp(de->d_name, "ctx-", 4) == 0;
        if (d)
                closedir(d);
        return found;
}
