/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Failure injection: $VFIO_MOCK_CONFIG, re-read on every use so that a test can change it
 * between steps. One directive per line, '#' starts a comment:
 *
 *   BDF bind-fails | probe-nothing | unbind-ebusy | override-eio | reset-fails
 *   BDF hang SECONDS
 *   BDF probe-hang SECONDS
 *   BDF cdev-open-hang SECONDS
 *   BDF host-driver NAME
 *   BDF refuse-release [ERRNO-NAME]
 *   BDF cdev-open-fails | bind-iommufd-fails
 *   BDF vf-driver NAME                      (a PF: its VFs' host driver)
 *   BDF sriov-enable-fails [ERRNO-NAME] | sriov-disable-fails [ERRNO-NAME]
 *   BDF autoprobe-fails [ERRNO-NAME]
 *   BDF sriov-limit N
 *   BDF sriov-async MILLISECONDS
 *   BDF vfnet-fails ERRNO-NAME [mac|vlan|spoofchk|trust]   (a PF: RTM_SETLINK of its VFs)
 *   no-interrupt-remapping
 *   no-iommufd
 *   fill-hang-after N
 *
 * Lines for other devices, and directives this version does not know, are skipped. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "mock.h"
#include "util.h"

#define CONFIG_MAX (64u * 1024u)
#define CONFIG_ARGS_MAX 4

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        { "EBUSY", EBUSY },         { "EAGAIN", EAGAIN },         { "EIO", EIO },
        { "EPERM", EPERM },         { "EINVAL", EINVAL },         { "ENODEV", ENODEV },
        { "ETIMEDOUT", ETIMEDOUT }, { "EINTR", EINTR },           { "ENOMEM", ENOMEM },
        { "EACCES", EACCES },       { "EOPNOTSUPP", EOPNOTSUPP },
};

static int parse_errno(const char *s) {
        uint32_t v;

        if (!s)
                return EBUSY;
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (streq(s, errno_names[i].name))
                        return errno_names[i].value;
        if (safe_atou32(s, 10, &v) >= 0 && v > 0 && v < 4096)
                return (int) v;
        return EBUSY;
}

static int read_config(const char *path, char **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t have = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(CONFIG_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + have, CONFIG_MAX - have);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                have += (size_t) n;
                if (have == CONFIG_MAX)
                        return -EFBIG;
        }
        buf[have] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

static void apply(MockFaults *f, char **argv, size_t argc) {
        const char *what = argv[1];

        if (streq(what, "bind-fails"))
                f->bind_fails = true;
        else if (streq(what, "probe-nothing"))
                f->probe_nothing = true;
        else if (streq(what, "unbind-ebusy"))
                f->unbind_ebusy = true;
        else if (streq(what, "override-eio"))
                f->override_eio = true;
        else if (streq(what, "reset-fails"))
                f->reset_fails = true;
        else if (streq(what, "cdev-open-fails"))
                f->cdev_open_fails = true;
        else if (streq(what, "bind-iommufd-fails"))
                f->bind_iommufd_fails = true;
        else if ((streq(what, "hang") || streq(what, "probe-hang") ||
                  streq(what, "cdev-open-hang")) &&
                 argc == 3) {
                uint32_t s;

                if (safe_atou32(argv[2], 10, &s) >= 0)
                        *(streq(what, "hang") ? &f->hang_sec
                          : streq(what, "probe-hang")
                                  ? &f->probe_hang_sec
                                  : &f->cdev_open_hang_sec) = MIN(s, MOCK_HANG_MAX_SEC);
        } else if (streq(what, "host-driver") && argc == 3 && filename_is_valid(argv[2]) &&
                   strlen(argv[2]) < MOCK_NAME_MAX)
                strcpy(f->host_driver, argv[2]);
        else if (streq(what, "refuse-release"))
                f->refuse_release = parse_errno(argc >= 3 ? argv[2] : NULL);
        else if (streq(what, "vf-driver") && argc == 3 && filename_is_valid(argv[2]) &&
                 strlen(argv[2]) < MOCK_NAME_MAX)
                strcpy(f->vf_driver, argv[2]);
        else if (streq(what, "sriov-enable-fails"))
                f->sriov_enable_fails = parse_errno(argc >= 3 ? argv[2] : NULL);
        else if (streq(what, "sriov-disable-fails"))
                f->sriov_disable_fails = parse_errno(argc >= 3 ? argv[2] : NULL);
        else if (streq(what, "autoprobe-fails"))
                f->autoprobe_fails = parse_errno(argc >= 3 ? argv[2] : NULL);
        else if (streq(what, "sriov-limit") && argc == 3) {
                uint32_t n;

                if (safe_atou32(argv[2], 10, &n) >= 0)
                        f->sriov_limit = n;
        } else if (streq(what, "vfnet-fails")) {
                f->vfnet_fails = parse_errno(argc >= 3 ? argv[2] : NULL);
                f->vfnet_fails_at = -1;
                for (int i = 0; argc >= 4 && i < _MOCK_VF_ATTR_MAX; i++)
                        if (streq(argv[3], mock_vf_attr_names[i]))
                                f->vfnet_fails_at = i;
        } else if (streq(what, "sriov-async") && argc == 3) {
                uint32_t ms;

                if (safe_atou32(argv[2], 10, &ms) >= 0)
                        f->sriov_async_ms = MIN(ms, MOCK_HANG_MAX_SEC * 1000u);
        }
}

unsigned mock_fill_hang_after(void) {
        _cleanup_free_ char *text = NULL;
        const char *path = getenv("VFIO_MOCK_CONFIG");
        char *save = NULL;

        if (isempty(path) || read_config(path, &text) < 0)
                return UINT_MAX;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                uint32_t n;

                if (strneq(line, "fill-hang-after ", 16) && safe_atou32(line + 16, 10, &n) >= 0)
                        return n;
        }
        return UINT_MAX;
}

int mock_config_load(const char *bdf, MockFaults *ret) {
        _cleanup_free_ char *text = NULL;
        const char *path = getenv("VFIO_MOCK_CONFIG");
        MockFaults f = {};
        char *save = NULL;
        int r;

        if (!isempty(path)) {
                r = read_config(path, &text);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
                char *argv[CONFIG_ARGS_MAX + 1], *s2 = NULL, *hash = strchr(line, '#');
                size_t argc = 0;

                if (hash)
                        *hash = 0;
                for (char *t = strtok_r(line, " \t\r", &s2); t && argc <= CONFIG_ARGS_MAX;
                     t = strtok_r(NULL, " \t\r", &s2))
                        argv[argc++] = t;
                if (argc == 0 || argc > CONFIG_ARGS_MAX)
                        continue;
                if (argc == 1 && streq(argv[0], "no-interrupt-remapping"))
                        f.no_interrupt_remapping = true;
                else if (argc == 1 && streq(argv[0], "no-iommufd"))
                        f.no_iommufd = true;
                else if (argc >= 2 && bdf && streq(argv[0], bdf))
                        apply(&f, argv, argc);
        }
        *ret = f;
        return 0;
}
