/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdf.h"
#include "udev.h"

/* udevd's control socket: libudev itself refuses "udev" monitors without it. */
#define UDEV_CONTROL "/run/udev/control"
#define FIFO_LINE_MAX 128

struct UdevWatch {
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *source;
        UdevEventHandler handler;
        void *userdata;
        bool udevd;
};

UdevWatch *udev_watch_free(UdevWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->source);
        udev_monitor_unref(w->monitor);
        udev_unref(w->udev);
        free(w);
        return NULL;
}

bool udev_watch_uses_udevd(const UdevWatch *w) {
        return w->udevd;
}

static int on_udev_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UdevWatch *w = userdata;

        /* Drain what is queued; each receive returns one device or NULL when empty. */
        for (;;) {
                struct udev_device *d = udev_monitor_receive_device(w->monitor);
                const char *action, *name;

                if (!d)
                        break;
                action = udev_device_get_action(d);
                name = udev_device_get_sysname(d);
                if (action && name && pci_address_is_canonical(name))
                        w->handler(action, name, w->userdata);
                udev_device_unref(d);
        }
        return 0;
}

int udev_watch_new(sd_event *e, UdevEventHandler handler, void *userdata, UdevWatch **ret) {
        _cleanup_(udev_watch_freep) UdevWatch *w = NULL;
        int k;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->handler = handler;
        w->userdata = userdata;
        w->udev = udev_new();
        if (!w->udev)
                return -ENOMEM;
        w->udevd = access(UDEV_CONTROL, F_OK) >= 0;
        w->monitor = udev_monitor_new_from_netlink(w->udev, w->udevd ? "udev" : "kernel");
        if (!w->monitor)
                return -EIO;
        k = udev_monitor_filter_add_match_subsystem_devtype(w->monitor, "pci", NULL);
        if (k < 0)
                return k;
        /* A bigger buffer than the default so a burst (VF creation, rescan) is not dropped. */
        (void) udev_monitor_set_receive_buffer_size(w->monitor, 4 * 1024 * 1024);
        k = udev_monitor_enable_receiving(w->monitor);
        if (k < 0)
                return k;
        k = sd_event_add_io(e, &w->source, udev_monitor_get_fd(w->monitor), EPOLLIN, on_udev_io, w);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(w);
        return 0;
}

struct FifoWatch {
        int fd;
        sd_event_source *source;
        UdevEventHandler handler;
        void *userdata;
        char buf[FIFO_LINE_MAX];
        size_t have;
};

FifoWatch *fifo_watch_free(FifoWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->source);
        safe_close(w->fd);
        free(w);
        return NULL;
}

static void fifo_line(FifoWatch *w, char *line) {
        char *sp = strchr(line, ' ');

        if (!sp)
                return;
        *sp = 0;
        if (pci_address_is_canonical(sp + 1))
                w->handler(line, sp + 1, w->userdata);
}

static int on_fifo_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        FifoWatch *w = userdata;
        ssize_t n;

        n = read(w->fd, w->buf + w->have, sizeof(w->buf) - w->have);
        if (n <= 0)
                return 0;
        w->have += (size_t) n;
        for (;;) {
                char *nl = memchr(w->buf, '\n', w->have);
                size_t len;

                if (!nl) {
                        if (w->have == sizeof(w->buf))
                                w->have = 0; /* an overlong line: drop it */
                        break;
                }
                *nl = 0;
                len = (size_t) (nl - w->buf) + 1;
                fifo_line(w, w->buf);
                memmove(w->buf, w->buf + len, w->have - len);
                w->have -= len;
        }
        return 0;
}

int fifo_watch_new(sd_event *e, const char *path, UdevEventHandler handler, void *userdata,
                   FifoWatch **ret) {
        _cleanup_(fifo_watch_freep) FifoWatch *w = NULL;
        struct stat st;
        int k;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->handler = handler;
        w->userdata = userdata;
        w->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (w->fd < 0)
                return negative_errno();
        if (fstat(w->fd, &st) < 0)
                return negative_errno();
        if (!S_ISFIFO(st.st_mode))
                return -ENOTTY;
        k = sd_event_add_io(e, &w->source, w->fd, EPOLLIN, on_fifo_io, w);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(w);
        return 0;
}
