/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "worker.h"

/* The one way the daemon reaches the kernel's files: every path is relative to a root directory
 * fd, "/" in production and a fake tree in tests. sys/ and proc/ live under the sysfs root, dev/
 * under the dev root. Callers validate every name they splice into a path (filename_is_valid(),
 * pci_address_is_canonical()). */
typedef struct SysRoot SysRoot;

#define SYSFS_ATTR_MAX 4096

int sysroot_open(const char *sysfs_root, const char *dev_root, SysRoot **ret);
SysRoot *sysroot_free(SysRoot *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(SysRoot *, sysroot_free);

const char *sysroot_path(const SysRoot *r);
bool sysroot_is_host(const SysRoot *r); /* the real "/" (so udev events describe this tree) */

/* Opens a directory under the sysfs root; returns an O_DIRECTORY fd. */
int sysroot_open_dir(const SysRoot *r, const char *path, int *ret_fd);
/* Same, relative to dirfd (or the sysfs root if dirfd < 0): a scan opens its parent directory
 * once and saves the kernel the walk down to it for every entry. */
int sysroot_open_dir_at(const SysRoot *r, int dirfd, const char *path, int *ret_fd);
/* A DIR* for listing, relative to dirfd (or the sysfs root if dirfd < 0). */
int sysroot_opendir_at(const SysRoot *r, int dirfd, const char *path, DIR **ret);

/* Reads a text attribute (at most SYSFS_ATTR_MAX bytes) with trailing whitespace removed.
 * dirfd < 0 means relative to the sysfs root. -ENOENT when absent, -EISDIR, -EFBIG when larger. */
int sysfs_read_attr_at(const SysRoot *r, int dirfd, const char *path, char **ret);
int sysfs_read_attr(const SysRoot *r, const char *path, char **ret);
/* Same, into a caller buffer; returns the length. */
int sysfs_read_attr_buf(const SysRoot *r, int dirfd, const char *path, char *buf, size_t size);
/* Reads a binary file of at most max bytes. */
int sysfs_read_file(const SysRoot *r, const char *path, size_t max, uint8_t **ret,
                    size_t *ret_size);
/* The target of a symlink, and its last component. */
int sysfs_readlink_at(const SysRoot *r, int dirfd, const char *path, char **ret);
int sysfs_read_link_name_at(const SysRoot *r, int dirfd, const char *path, char **ret);
/* Whether path exists (without following a final symlink when nofollow). */
bool sysfs_exists_at(const SysRoot *r, int dirfd, const char *path);
bool dev_node_exists(const SysRoot *r, const char *path);
/* Opens a node under the dev root (O_CLOEXEC is added). */
int dev_open(const SysRoot *r, const char *path, int flags);
/* A node under the dev root as an absolute path, for the calls that have no *at() form (and
 * as /proc/PID/fd links name it). */
int dev_abs_path(const SysRoot *r, const char *path, char **ret);
/* inotify_add_watch() on a node under the dev root; returns the watch descriptor. */
int dev_add_watch(const SysRoot *r, int inotify_fd, const char *path, uint32_t mask);
/* Gives a node under the dev root to uid (group root, mode rw for the owner only); the daemon
 * may run as a user of its own (CAP_CHOWN). */
int dev_chown(const SysRoot *r, const char *path, uint32_t uid);

/* Writes value to an attribute under the sysfs root (a kernel interface such as driver_override
 * or drivers_probe), giving up after timeout_usec: a driver's probe or remove can block the write
 * for as long as it likes, and the daemon must stay responsive. On -ETIMEDOUT the write may still
 * complete later; the caller must verify the state it wanted. */
int sysfs_write_attr(const SysRoot *r, const char *path, const char *value, uint64_t timeout_usec);
/* Several such writes, in order, stopping at the first that fails (worker_write_chain()): paths
 * under the sysfs root; *ret_failed the index of the failed one. */
int sysfs_write_attrs(const SysRoot *r, const WorkerWrite *writes, size_t n, uint64_t timeout_usec,
                      size_t *ret_failed);

/* Joins a symlink's relative target to the directory the link lives in and normalises "..",
 * giving a path relative to the root, e.g. "sys/devices/pci0000:00/0000:00:1f.6/net/eno1".
 * -EXDEV if it is absolute or leaves the root. */
int sysfs_resolve_link(const SysRoot *r, const char *link_path, char **ret);
/* Same for the link name in dirfd, which is the directory dir (relative to the root). */
int sysfs_resolve_link_at(const SysRoot *r, int dirfd, const char *dir, const char *name,
                          char **ret);
