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

/* A VF's network settings as the kernel model's rtnetlink keeps them (mock-netlink.c), in the
 * file <root>/.vfio-mock/vfnet/BDF: one line, MOCK_VFNET_FORMAT; none (a VF as igb, ixgbe and
 * i40e start it: spoof check on) reads as MOCK_VFNET_DEFAULT. */
#define MOCK_VFNET_DIR "vfnet"
#define MOCK_VFNET_FORMAT "mac=%s vlan=%u qos=%u spoofchk=%u trust=%u"
#define MOCK_VFNET_DEFAULT "mac=00:00:00:00:00:00 vlan=0 qos=0 spoofchk=1 trust=0"

static inline void mock_vfnet_settings(const char *root_dir, const char *vf, char ret[static 128]) {
        char p[4096];
        size_t n = 0;
        FILE *f;

        snprintf(p, sizeof(p), "%s/.vfio-mock/" MOCK_VFNET_DIR "/%s", root_dir, vf);
        f = fopen(p, "re");
        if (f) {
                n = fread(ret, 1, 127, f);
                fclose(f);
        }
        while (n > 0 && (ret[n - 1] == '\n' || ret[n - 1] == ' '))
                n--;
        ret[n] = 0;
        if (n == 0)
                strcpy(ret, MOCK_VFNET_DEFAULT);
}
