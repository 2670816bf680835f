/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "binding.h"
#include "errors.h"
#include "holders.h"
#include "lease-error.h"
#include "macro.h"
#include "model.h"
#include "vfio-backend.h"
#include "vfnet.h"

/* A lease owns one IOMMU group while it is away from the host: either claimed by a holder (a
 * D-Bus peer that gets fds) or prepared (bound to vfio-pci with no holder, optionally across
 * reboots). Every transition is written to the state file before it is acted on (state.c), so a
 * crash anywhere can be reconciled at the next start. */

typedef enum LeaseKind {
        LEASE_CLAIM,
        LEASE_PREPARE,
        _LEASE_KIND_MAX,
} LeaseKind;

typedef enum LeaseState {
        LEASE_BINDING,   /* members are being moved to vfio-pci */
        LEASE_ACTIVE,    /* the group is on vfio-pci (and attached by its backend for claims) */
        LEASE_RELEASING, /* members are being given back */
        LEASE_STUCK,     /* a member could not be given back; retried, never dropped */
        _LEASE_STATE_MAX,
} LeaseState;

/* A VF's network settings as they were before a claim set its own (vfnet.h), saved before the
 * change and put back when the lease ends: on its PF's netdev, by name (its ifindex is looked up
 * again then). */
typedef struct LeaseVfNet {
        char pf_ifname[IFNAMSIZ];
        uint32_t vf;
        VfNetConfig saved;
} LeaseVfNet;

typedef struct LeaseDevice {
        char address[PCI_ADDRESS_STRLEN];
        char *original_driver; /* NULL: it was unbound */
        char *vfio_driver;     /* the VFIO driver it goes to (vfio-pci or a variant), chosen and
                                * saved before the first write; NULL: vfio-pci (bridges, and
                                * state files from before variants) */
        bool bridge;           /* left on its driver (pcieport) */
        /* No host driver ever bound it (the early-prepare udev rule set its override at "add"):
         * the release clears the override and lets drivers_probe find its driver. */
        bool restore_probe;
        LeaseVfNet *vf_net; /* a VF whose network settings the lease changed: what they were */
} LeaseDevice;

/* The member's VFIO driver: its vfio_driver, or vfio-pci. */
const char *lease_device_vfio_driver(const LeaseDevice *d);

typedef struct Lease {
        uint64_t id;
        LeaseKind kind;
        LeaseState state;
        uint32_t group;
        LeaseDevice *devices;
        size_t n_devices;
        char *holder; /* D-Bus unique name of a claim's holder */
        /* The owner key a claim or prepare was made with (the option "owner", e.g.
         * "k8s:claim/UID", "libvirt:UUID"; lease_owner_is_valid()); NULL: none. A lease with one
         * has no holder and outlives its caller's connection: its owner finds it again
         * (FindLease) and gives it back (ReleaseByOwner). It keeps no fd of the group open, so
         * that whoever the owner hands the device nodes to (a container runtime through CDI,
         * libvirt) can open them. */
        char *owner;
        uint32_t uid; /* the caller the policy judged (a claim's holder) */
        uint32_t pid;
        /* A unique name is no identity on its own: names restart at :1.0 with the bus. A claim's
         * holder is the process uid/pid that owned the name on the bus instance holder_bus_id
         * (org.freedesktop.DBus.GetId): holder_pidfd names that very process, and it outlives
         * our restarts in systemd's fd store; without it (not run by systemd), the pid's start
         * time (pid_start_time(), 0 when /proc did not show it) does. */
        uint64_t holder_start_time;
        char holder_bus_id[33];
        bool persistent;        /* prepare: keep across reboots */
        char *reason;           /* why it is stuck */
        uint32_t granted_uid;   /* GrantAccess: /dev/vfio/N handed to this uid; UINT32_MAX = none */
        bool unsafe_interrupts; /* taken without interrupt remapping: it relies on the kernel's
                                 * allow_unsafe_interrupts */
        VfioBackend *backend;   /* how the group reaches the VMM (vfio-backend.h): its name is
                                 * saved, the fds it holds are runtime only; never NULL */

        /* Runtime only: */
        VfNetConfig *vf_net_request; /* a claim's settings for its VF, until it is acquired */
        bool waiting;                /* STUCK only until another process closes /dev/vfio/N */
        int close_wd;                /* inotify watch for that close, -1 when none */
        int holder_pidfd;            /* pidfd_open() of a claim's holder, -1 when none */
        void *bus_data;              /* owned by the bus glue (track slot, object path) */
        uint64_t retry_after;        /* CLOCK_MONOTONIC usec: no new release attempt before */
        Holder *holders;             /* while waiting: who has the nodes open (that we may see) */
        size_t n_holders;
        uint64_t holders_usec; /* CLOCK_MONOTONIC usec of the last look */
} Lease;

const char *lease_kind_to_string(LeaseKind k);
LeaseKind lease_kind_from_string(const char *s);
const char *lease_state_to_string(LeaseState s);
LeaseState lease_state_from_string(const char *s);

Lease *lease_free(Lease *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(Lease *, lease_free);

/* Writes the lease set before each transition (lease-set.c passes one that calls state.c). */
typedef int (*LeaseSaveFn)(void *userdata);

typedef struct LeaseContext {
        Model *model;
        LeaseSaveFn save;
        void *save_userdata;
        uint64_t timeout_usec;         /* per sysfs write */
        const VfioBackendOps *backend; /* of new leases; NULL: the default (vfio_backends[0]) */
        /* The VFIO driver a member of a new lease goes to (*ret NULL: vfio-pci), or an error
         * naming the device and the driver; NULL: vfio-pci for every member. */
        int (*pick_vfio_driver)(void *userdata, const Device *d, char **ret, LeaseError *err);
        void *pick_userdata;
} LeaseContext;

/* Builds a lease for the group from the model: records every member and its driver now, and
 * gives it a handle of c->backend with nothing open. */
int lease_new(const LeaseContext *c, LeaseKind kind, uint32_t group, uint64_t id, Lease **ret,
              LeaseError *err);

/* The transaction: state BINDING is saved, every non-bridge member is bound to vfio-pci; any
 * failure restores every member to its original driver. For a claim, then the backend opens the
 * group and attaches it (type1: checked viable, attached to a new container, the IOMMU set).
 * On success the lease is ACTIVE and saved; on failure everything is as it was. */
int lease_acquire(const LeaseContext *c, Lease *l, LeaseError *err);

/* Gives the group back: closes the daemon's fds, resets each member (through the backend when
 * the group can still be opened, else the sysfs reset attribute), restores original drivers. A member
 * that cannot be restored leaves the lease STUCK with a reason (returns -EBUSY); a later call
 * retries. Returns 0 when everything is back (the caller then forgets the lease). */
int lease_release(const LeaseContext *c, Lease *l, LeaseError *err);

/* Whether the lease has fds to hand out: only an active claim does, and not after GrantAccess
 * or a restart of the daemon that systemd's fd store did not bridge. The error says which. */
int lease_can_hand_out_fds(const Lease *l, LeaseError *err);
/* The backend's fd of that kind (the container, the group), still the lease's: the caller sends
 * a copy. A kind the lease's backend does not have is an error naming the backend. */
int lease_hand_out_fd(Lease *l, VfioFdKind kind, int *ret_fd, LeaseError *err);
/* Opens a VFIO device fd of a member of an active claim. */
int lease_open_device(const LeaseContext *c, Lease *l, const char *address, int *ret_fd,
                      LeaseError *err);
/* The same as an unbound VFIO device cdev, for a claim with the iommufd backend only. */
int lease_open_cdev(const LeaseContext *c, Lease *l, const char *address, int *ret_fd,
                    LeaseError *err);

bool lease_has_device(const Lease *l, const char *address);

/* An owner key: 1 to 256 bytes of printable ASCII (no spaces), so that it can be logged, written
 * in state.json and passed on a command line as it is. */
#define LEASE_OWNER_MAX 256
bool lease_owner_is_valid(const char *owner);

/* Whether the process that owns the holder's name now, on the bus instance bus_id, with the
 * bus-reported uid and pid, is the claim's holder: same bus, uid, pid and process start time. */
bool lease_holder_is(const Lease *l, const char *bus_id, uint32_t uid, uint32_t pid);

/* Whether another process holds the group open (cheap: one open attempt through the backend);
 * while it does, a release would only wait on the kernel. */
bool lease_group_busy(const LeaseContext *c, const Lease *l);

/* While the lease waits for another process to close its nodes: looks up who has them open
 * (holders_scan() on the backend's nodes); otherwise empties the list. Returns 1 when the list
 * changed, 0 when not. */
int lease_update_holders(const LeaseContext *c, Lease *l);

/* Adds inotify watches for the closes of the backend's device nodes (type1: /dev/vfio/N;
 * IN_CLOSE_*: the kernel reports the last close of each open file, which is when a VMM that held
 * the group lets go) and records one in l->close_wd. */
int lease_watch_close(const LeaseContext *c, Lease *l, int inotify_fd);

/* GrantAccess: the backend's device nodes (type1: /dev/vfio/N) are handed to uid (ownership),
 * for VMMs that open them themselves; UINT32_MAX gives them back to root. The grant is recorded
 * in the lease and revoked on release. */
int lease_grant_access(const LeaseContext *c, Lease *l, uint32_t uid, LeaseError *err);
