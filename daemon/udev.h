/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The libudev adapter: a monitor on the "pci" subsystem attached to sd-event, delivering
 * (action, PCI address) to one handler. */
typedef struct UdevWatch UdevWatch;
typedef void (*UdevEventHandler)(const char *action, const char *address, void *userdata);

/* Listens to udevd's "udev" netlink group when udevd runs (/run/udev/control exists), else to
 * the kernel's own uevents. Must be started before the first scan so nothing falls in the gap. */
int udev_watch_new(sd_event *e, UdevEventHandler handler, void *userdata, UdevWatch **ret);
UdevWatch *udev_watch_free(UdevWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(UdevWatch *, udev_watch_free);
bool udev_watch_uses_udevd(const UdevWatch *w);

/* A test hook with the same handler: lines "ACTION ADDRESS" read from a FIFO. The FIFO is
 * opened read-write so that writers coming and going never give us EOF. */
typedef struct FifoWatch FifoWatch;
int fifo_watch_new(sd_event *e, const char *path, UdevEventHandler handler, void *userdata,
                   FifoWatch **ret);
FifoWatch *fifo_watch_free(FifoWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(FifoWatch *, fifo_watch_free);
