/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internals of libvfio-mock.so, the LD_PRELOAD kernel model (see tests/mock/README.md).
 *
 * vfio-mock.c   interposes libc (open*, write, close, dup*, fcntl, ioctl) and keeps the fd table;
 * mock-model.c  what the kernel does on writes to sysfs attributes (sysfs-bus-pci);
 * mock-vfio.c   the fake /dev/vfio nodes and their ioctls (include/uapi/linux/vfio.h);
 * mock-iommufd.c the fake /dev/iommu and /dev/vfio/devices/vfioN (iommufd, VFIO device cdevs);
 * mock-config.c failure injection read from $VFIO_MOCK_CONFIG.
 *
 * State that other processes must see lives in the tree: the sysfs shapes themselves, plus
 * <root>/.vfio-mock/ (the model lock, natural drivers, armed host drivers, one lock file per
 * IOMMU group whose open file description locks say who holds the group). Only what an fd
 * stands for lives in memory. Everything here returns 0 / a count, or a negative errno. */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mock-observe.h"

/* While non-zero, the calling thread is inside the model: every interposed call goes straight
 * to libc, so the model can use open/write/close (and fakesys) like any other code. */
extern __thread int mock_guard __attribute__((tls_model("initial-exec")));

/* The trees the model acts on, as realpath()s. */
typedef struct MockRoots {
        char root[PATH_MAX];     /* $VFIO_MOCK_ROOT: sys/ lives here */
        char dev_root[PATH_MAX]; /* $VFIO_MOCK_DEV_ROOT, default root: dev/ lives here */
} MockRoots;

/* -ENXIO when the model is inactive: $VFIO_MOCK_ROOT unset, missing, or the real "/". */
int mock_roots_get(MockRoots *ret);

#define MOCK_STATE_DIR ".vfio-mock"
#define MOCK_NAME_MAX 256
#define MOCK_DRIVER_VFIO "vfio-pci"
/* VFIO's own drivers: vfio-pci and the variants (named *_vfio_pci, as their modules are), which
 * register the device with VFIO the same way (vfio_pci_core_register_device()). Only vfio-pci is
 * "modprobed" by a probe; a variant must be loaded (its drivers/NAME directory there). */
static inline bool mock_driver_is_vfio(const char *drv) {
        size_t n = strlen(drv), m = strlen("_vfio_pci");

        return streq(drv, MOCK_DRIVER_VFIO) || (n > m && streq(drv + n - m, "_vfio_pci"));
}

/* ---- failure injection (mock-config.c) ---- */

typedef struct MockFaults {
        bool bind_fails;    /* binding any driver fails with ENODEV */
        bool probe_nothing; /* drivers_probe binds nothing (and succeeds) */
        bool unbind_ebusy;
        bool override_eio;
        bool reset_fails;                /* sysfs reset and VFIO_DEVICE_RESET fail with EIO */
        bool no_interrupt_remapping;     /* global: VFIO_SET_IOMMU needs allow_unsafe_interrupts */
        bool no_iommufd;                 /* global: opening dev/iommu fails ENOENT */
        bool cdev_open_fails;            /* opening the device's cdev fails EIO */
        bool bind_iommufd_fails;         /* VFIO_DEVICE_BIND_IOMMUFD fails ENODEV */
        unsigned hang_sec;               /* writes concerning the device block this long */
        unsigned probe_hang_sec;         /* drivers_probe writes naming it block this long */
        unsigned cdev_open_hang_sec;     /* opening the device's cdev blocks this long */
        int refuse_release;              /* errno for unbinding from vfio-pci; 0: none */
        char host_driver[MOCK_NAME_MAX]; /* "": none */
        /* A PF's SR-IOV: */
        char vf_driver[MOCK_NAME_MAX]; /* the host driver of its VFs ("": none) */
        int sriov_enable_fails;        /* errno for a non-zero sriov_numvfs; 0: none */
        unsigned sriov_limit;          /* more VFs than this fail ENOMEM; 0: no limit */
        int sriov_disable_fails;       /* errno for sriov_numvfs 0 */
        int autoprobe_fails;           /* errno for sriov_drivers_autoprobe */
        unsigned sriov_async_ms;       /* VFs appear this long after the write returns */
        int vfnet_fails;               /* errno for RTM_SETLINK of its VFs' settings; 0: none */
        int vfnet_fails_at;            /* at that MockVfAttr; -1: the first the request sets */
} MockFaults;

#define MOCK_HANG_MAX_SEC 3600u

/* Reads $VFIO_MOCK_CONFIG afresh: the lines for bdf (NULL: only the global ones). A missing
 * variable or file means no faults. */
int mock_config_load(const char *bdf, MockFaults *ret);

/* The global "fill-hang-after N": fill steps after the first N wait while it is there;
 * UINT_MAX when there is none. */
unsigned mock_fill_hang_after(void);

/* Waits s seconds (whatever signals arrive) for a hang injection of bdf, observable from outside
 * meanwhile (mock-observe.h). */
void mock_hang(const char *root, const char *bdf, unsigned s);

/* ---- sysfs attributes (mock-model.c) ---- */

typedef enum MockAttr {
        MOCK_ATTR_DRIVER_OVERRIDE, /* devices/BDF/driver_override */
        MOCK_ATTR_RESET,           /* devices/BDF/reset */
        MOCK_ATTR_SRIOV_NUMVFS,    /* devices/BDF/sriov_numvfs */
        MOCK_ATTR_SRIOV_AUTOPROBE, /* devices/BDF/sriov_drivers_autoprobe */
        MOCK_ATTR_BIND,            /* drivers/NAME/bind */
        MOCK_ATTR_UNBIND,          /* drivers/NAME/unbind */
        MOCK_ATTR_DRIVERS_PROBE,   /* bus/pci/drivers_probe */
        _MOCK_ATTR_MAX,
} MockAttr;

/* Whether a file name can be one of the attributes above (cheap filter before resolving). */
bool mock_attr_name_is_candidate(const char *basename);
/* Classifies the canonical path of an opened file; name gets the BDF or the driver. Returns
 * 1 for a modelled attribute, 0 for anything else. */
int mock_attr_classify(const MockRoots *roots, const char *canonical, MockAttr *ret_attr,
                       char ret_name[static MOCK_NAME_MAX]);
/* Performs a write of n bytes to the attribute as the kernel's store() would: returns n or a
 * negative errno. May block (hang injection). */
ssize_t mock_attr_write(const MockRoots *roots, MockAttr attr, const char *name, const void *buf,
                        size_t n);

/* Shared with mock-vfio.c. The model lock serialises tree edits across threads and processes
 * (flock on <root>/.vfio-mock/lock); returns the lock fd. */
int mock_lock_model(const char *root);
void mock_unlock_model(int fd);
/* The driver bound to bdf ("" when unbound); -ENOENT when the device does not exist. */
int mock_device_driver(int root_fd, const char *bdf, char ret[static MOCK_NAME_MAX]);
/* The IOMMU group of bdf; -ENOENT when it has none. */
int mock_device_group(int root_fd, const char *bdf, unsigned *ret);
bool mock_device_has_reset(int root_fd, const char *bdf);
/* The N of bdf's vfio-dev/vfioN (its cdev), or -ENOENT. */
int mock_device_cdev_number(int root_fd, const char *bdf);
/* Member BDFs of group N (NULL-terminated strv); -ENOENT when the group does not exist. */
int mock_group_members(int root_fd, unsigned group, char ***ret);
/* Opens <root>/.vfio-mock/group-N (created when missing). */
int mock_group_lock_open(const char *root, unsigned group, int flags);
/* Whether any process holds group N open (its group fd or a device fd). */
bool mock_group_in_use(const char *root, unsigned group);
/* Appends "ACTION BDF\n" to $VFIO_MOCK_UEVENT_FIFO when set (a FIFO without a reader, or a
 * full one, loses the event, as a netlink socket would). */
void mock_emit_uevent(const char *action, const char *bdf);
/* Records the natural driver of every device that has no record yet. */
void mock_record_natural_all(const char *root);
/* A small text file under dirfd, NUL-terminated, trailing whitespace removed. */
int mock_read_small(int dirfd, const char *rel, char *buf, size_t size);
/* The names in root_fd/rel, sorted, without dot files. */
int mock_list_names(int dirfd, const char *rel, char ***ret);
/* <root>/.vfio-mock/SUB/BDF, a line of text that other processes can read: its value (trailing
 * whitespace removed), written (SUB created when missing), removed. */
int mock_state_read(int dirfd, const char *sub, const char *bdf, char ret[static MOCK_NAME_MAX]);
int mock_state_write(int dirfd, const char *sub, const char *bdf, const char *value);
void mock_state_remove(int dirfd, const char *sub, const char *bdf);

/* ---- /dev/vfio (mock-vfio.c) ---- */

typedef enum MockKind {
        MOCK_KIND_ATTR = 1,
        MOCK_KIND_CONTAINER,
        MOCK_KIND_GROUP,
        MOCK_KIND_DEVICE,
        MOCK_KIND_IOMMUFD, /* an open of dev/iommu: name is its context file */
        MOCK_KIND_CDEV,    /* an open of dev/vfio/devices/vfioN: name is the BDF */
        MOCK_KIND_NETLINK, /* a NETLINK_ROUTE socket: one end of a socketpair */
} MockKind;

/* What one open file description stands for; dup()s share it (refs). */
typedef struct MockObj {
        unsigned refs;
        MockKind kind;
        dev_t st_dev; /* of the real fd behind it, to spot stale table entries */
        ino_t st_ino;
        MockRoots roots;
        MockAttr attr;
        char name[MOCK_NAME_MAX];  /* attr: BDF or driver; device: BDF */
        unsigned group;            /* group, device */
        struct MockObj *container; /* group: the container it is attached to (a ref) */
        unsigned n_groups;         /* container */
        bool iommu_set;            /* container */
        int peer_fd;               /* netlink: the other end, where the answers go (owned) */
        uint32_t nl_pid;           /* netlink: the port getsockname() gives */
} MockObj;

/* The fd table (vfio-mock.c); the caller holds the table lock for all three. */
void mock_table_lock(void);
void mock_table_unlock(void);
MockObj *mock_table_get_locked(int fd);
/* Takes a new reference on o for fd; -EMFILE when fd is beyond the table. */
int mock_table_install_locked(int fd, MockObj *o);
MockObj *mock_obj_new(MockKind kind, const MockRoots *roots);
void mock_obj_unref_locked(MockObj *o);

/* Whether rel (relative to the dev root) names a node the model fakes: "dev/vfio/vfio" or
 * "dev/vfio/N". */
bool mock_vfio_path_is_node(const char *rel);
/* Opens such a node: returns a new fd, already in the table. */
int mock_vfio_open(const MockRoots *roots, const char *rel, int flags);
/* ioctl on a container, group or device fd; o is from the table, whose lock is held. */
int mock_vfio_ioctl_locked(MockObj *o, unsigned long request, void *arg);
/* Puts fd in the table as a new object of kind; closes fd on failure. Returns fd. */
int mock_obj_install(int fd, MockKind kind, const MockRoots *roots, const char *name,
                     unsigned group, bool table_locked);
/* Kernel 5.19 DMA ownership: every member unbound or on vfio-pci, pci-stub, pcieport. */
bool mock_group_viable(int root_fd, unsigned group);
/* Whether the config says no-interrupt-remapping and the module's allow_unsafe_interrupts
 * parameter (sys/module/MODULE/parameters/) does not read Y. */
bool mock_interrupts_unsafe(const MockRoots *roots, const char *module);
/* VFIO_DEVICE_GET_INFO and VFIO_DEVICE_RESET of vfio-pci on device bdf; -ENOTTY for others. */
int mock_vfio_device_ioctl(const MockRoots *roots, const char *bdf, unsigned long request,
                           void *arg);

/* ---- /dev/iommu and the VFIO device cdevs (mock-iommufd.c) ---- */

/* "dev/iommu" or "dev/vfio/devices/vfioN" (relative to the dev root). */
bool mock_iommufd_path_is_node(const char *rel);
/* Opens such a node: returns a new fd, already in the table. */
int mock_iommufd_open(const MockRoots *roots, const char *rel, int flags);
/* ioctl on an iommufd or cdev fd; the table lock is held. */
int mock_iommufd_ioctl_locked(int fd, MockObj *o, unsigned long request, void *arg);
/* An fd this process got without opening it (SCM_RIGHTS, exec) that is an iommufd or cdev of
 * the model: put it in the table and return its object; NULL otherwise. Table lock held. */
MockObj *mock_iommufd_adopt_locked(int fd);
/* Whether any process has a cdev of bdf open. */
bool mock_cdev_device_open(const char *root, const char *bdf);
/* Whether a cdev of a member of group is bound to an iommufd anywhere. */
bool mock_cdev_group_bound(const char *root, unsigned group);
/* The directory whose children are the open files of cdev N; created when missing. */
int mock_cdev_watch_dir(const MockRoots *roots, const char *rel, char ret[static PATH_MAX]);

/* ---- rtnetlink: a VF's network settings (mock-netlink.c) ---- */

/* The VF attributes of RTM_SETLINK, in the order do_setvfinfo() applies them. */
typedef enum MockVfAttr {
        MOCK_VF_MAC,
        MOCK_VF_VLAN,
        MOCK_VF_SPOOFCHK,
        MOCK_VF_TRUST,
        _MOCK_VF_ATTR_MAX,
} MockVfAttr;

extern const char *const mock_vf_attr_names[_MOCK_VF_ATTR_MAX];

/* Handles the netlink messages in buf[0..n) sent on a NETLINK_ROUTE socket of port nl_pid:
 * writes the kernel's answers to peer_fd. Returns n or a negative errno. */
ssize_t mock_netlink_send(const MockRoots *roots, uint32_t nl_pid, int peer_fd, const void *buf,
                          size_t n);
