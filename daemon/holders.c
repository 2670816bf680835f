/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "holders.h"
#include "macro.h"
#include "util.h"

/* Whether a process's fd table (the open directory PID/fd) has a link to one of paths. */
static bool fds_name_one_of(int fd_dir, char *const *paths) {
        _cleanup_closedir_ DIR *d = fdopendir(fd_dir);
        struct dirent *de;

        if (!d) {
                safe_close(fd_dir);
                return false;
        }
        while ((de = readdir(d))) {
                char target[PATH_MAX];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                /* An fd closed since the listing is just not there any more. */
                n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                if (strv_contains(paths, target))
                        return true;
        }
        return false;
}

/* PID/comm; a process gone in between leaves "?". */
static void read_comm(int proc_fd, uint32_t pid, char ret[static HOLDER_COMM_MAX]) {
        _cleanup_close_ int fd = -1;
        char path[32];
        ssize_t n = -1;

        snprintf(path, sizeof(path), "%" PRIu32 "/comm", pid);
        fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0)
                n = read(fd, ret, HOLDER_COMM_MAX - 1);
        if (n <= 0) {
                strcpy(ret, "?");
                return;
        }
        ret[n] = 0;
        strstrip_trailing(ret);
        /* A process names itself (prctl(PR_SET_NAME)): it goes on the bus as valid UTF-8. */
        for (char *c = ret; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        *c = '?';
}

int holders_scan(char *const *paths, Holder **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *proc = opendir("/proc");
        _cleanup_free_ Holder *l = NULL;
        pid_t self = getpid();
        struct dirent *de;
        size_t n = 0;

        if (!proc)
                return negative_errno();
        /* /proc lists thread-group leaders in pid order: fd tables are per process. */
        while (n < HOLDERS_MAX && (de = readdir(proc))) {
                char path[32];
                uint32_t pid;
                Holder *grown;
                int fd_dir;

                if (safe_atou32(de->d_name, 10, &pid) < 0 || pid == 0 || (pid_t) pid == self)
                        continue;
                snprintf(path, sizeof(path), "%" PRIu32 "/fd", pid);
                /* EACCES: another user's process, which we may not ptrace. */
                fd_dir = openat(dirfd(proc), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd_dir < 0 || !fds_name_one_of(fd_dir, paths))
                        continue;
                grown = realloc(l, (n + 1) * sizeof(Holder));
                if (!grown)
                        return -ENOMEM;
                l = grown;
                l[n].pid = pid;
                read_comm(dirfd(proc), pid, l[n].comm);
                n++;
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

bool holders_equal(const Holder *a, size_t n_a, const Holder *b, size_t n_b) {
        if (n_a != n_b)
                return false;
        for (size_t i = 0; i < n_a; i++)
                if (a[i].pid != b[i].pid || !streq(a[i].comm, b[i].comm))
                        return false;
        return true;
}
