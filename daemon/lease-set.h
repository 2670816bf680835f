/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lease.h"
#include "state.h"

/* Every lease the daemon holds, saved as a whole on each transition (state.c). */
/* Judges a binding the daemon starts on its own, with no caller: a persistent or boot-time
 * prepare, a device joining a leased group, a member moved back after a host driver took it. The
 * checks a bus call passes (host-critical members, blockers, the policy), for the whole group: 0
 * to go ahead, else a negative errno and *ret_why naming device and rule; -EREMCHG is another
 * card at an address a rule names (IdentityChanged). */
typedef int (*LeaseGuardFn)(void *userdata, uint32_t group, char **ret_why);

typedef struct LeaseSet {
        Lease **leases;
        size_t n;
        uint64_t next_id;
        int runtime_fd; /* $RUNTIME_DIRECTORY: state.json */
        int state_fd;   /* $STATE_DIRECTORY: persistent.json */
        PersistentDevice *persistent;
        size_t n_persistent;
        bool unsafe_interrupts_set; /* we set allow_unsafe_interrupts: cleared with its last user */
        LeaseContext ctx;
        LeaseGuardFn guard;   /* NULL: nothing is bound unattended */
        void *guard_userdata; /* also before_release()'s */
        /* Called before a lease is given back: whoever else holds copies of its fds (systemd's fd
         * store) must let go first, or the group stays open and the release waits for it. */
        void (*before_release)(void *userdata, Lease *l);
} LeaseSet;

/* Takes the directory fds. */
int lease_set_new(Model *m, int runtime_fd, int state_fd, LeaseSet **ret);
LeaseSet *lease_set_free(LeaseSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(LeaseSet *, lease_set_free);

int lease_set_save(LeaseSet *s);
Lease *lease_set_find_id(const LeaseSet *s, uint64_t id);
Lease *lease_set_find_group(const LeaseSet *s, uint32_t group);
Lease *lease_set_find_device(const LeaseSet *s, const char *address);

typedef struct LeaseRequest {
        LeaseKind kind;
        uint32_t group;
        const char *holder; /* claims: the unique name, on the bus instance holder_bus_id */
        const char *holder_bus_id;
        uint32_t uid, pid;
        bool persistent;        /* prepares */
        bool unsafe_interrupts; /* taken without interrupt remapping */
        bool unattended;        /* no caller: the daemon prepares on its own (s->guard judges) */
        const VfioBackendOps *backend; /* NULL: the set's (ctx.backend) */
        uint64_t memlock; /* claims: the holder's RLIMIT_MEMLOCK is raised to this first (0: not) */
        const VfNetConfig *vf_net; /* claims: settings for the group's VF (NULL: none) */
        const char *owner;         /* the owner key (Lease.owner); NULL: none */
} LeaseRequest;

/* Creates, records and acquires a lease. -EBUSY (VA_ERROR_BUSY) when the group already has one,
 * unless it is an active lease of the same kind with the request's owner key: then 1, and *ret is
 * that lease.
 * On failure nothing is kept, unless rolling back left the group stuck (then the stuck lease
 * stays in the set and is returned in *ret as well). */
int lease_set_acquire(LeaseSet *s, const LeaseRequest *req, Lease **ret, LeaseError *err);

/* Releases; on success the lease is freed and forgotten (and a persistent prepare no longer
 * persists). On failure it stays, STUCK. */
int lease_set_release(LeaseSet *s, Lease *l, LeaseError *err);

/* After a restart: loads state.json and persistent.json and settles every lease that was in the
 * middle of something: BINDING is rolled back, RELEASING and STUCK are (re)released, ACTIVE claims
 * whose holder is gone (holder_alive() false) are released, ACTIVE prepares are re-bound if a
 * member drifted. Problems go to *log as lines. Never drops a lease it could not settle. */
typedef bool (*LeaseHolderAliveFn)(void *userdata, Lease *l);
/* Gives a lease read back from state.json what it had before the restart (fds). */
typedef void (*LeaseAdoptFn)(void *userdata, Lease *l);
int lease_set_reconcile(LeaseSet *s, LeaseAdoptFn adopt, LeaseHolderAliveFn alive, void *userdata,
                        char ***log);

/* The ACTIVE lease of which address is a non-bridge member while it is on driver (NULL: none),
 * not vfio-pci; else NULL. What lease_set_enforce_device() acts on. */
Lease *lease_set_device_drifted(const LeaseSet *s, const char *address, const char *driver);

/* A member of a leased group got a host driver (a kernel upgrade adding a driver is the known
 * case): move it back to vfio-pci. Returns 1 if something was undone, 0 if nothing to do. */
int lease_set_enforce_device(LeaseSet *s, const char *address, const char *driver,
                             char **ret_message);

/* A device appeared in a group that is leased (hotplug, a VF, a member back after a reboot):
 * it joins the lease (its driver recorded first) and goes to vfio-pci like the others, so the
 * group is never split. Returns 1 when it joined, 0 if nothing to do. */
int lease_set_add_member(LeaseSet *s, const Device *d, char **ret_message);

/* Sets the kernel's allow_unsafe_interrupts for a lease the policy allows without interrupt
 * remapping. The state file records that this daemon set it before it is written, so that it is
 * cleared again (lease_set_drop_unsafe_interrupts()), after a crash too. */
int lease_set_allow_unsafe_interrupts(LeaseSet *s);
/* Clears allow_unsafe_interrupts when this daemon set it and no lease relies on it any more
 * (Lease.unsafe_interrupts). 1 when it was cleared, 0 when nothing was to be done. */
int lease_set_drop_unsafe_interrupts(LeaseSet *s);

/* The persistent prepare recorded at address, whatever card is there now; NULL: none. The
 * daemon prepares it on "add" (lease_set_acquire() refuses another card, IdentityChanged). */
const PersistentDevice *lease_set_find_persistent(const LeaseSet *s, const char *address);
/* Whether address is a persistent prepare of the card vendor:device. */
bool lease_set_is_persistent(const LeaseSet *s, const char *address, uint16_t vendor,
                             uint16_t device);
