/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cdi.h"
#include "fdstore.h"
#include "job.h"
#include "lease-set.h"
#include "model.h"
#include "policy.h"
#include "polkit.h"
#include "region.h"
#include "sriov.h"
#include "vfio-variant.h"
#include "udev.h"

/* The running daemon: the model, the leases, the policy, the group jobs, and the bus it is served
 * on. Decided on by manager.c, served by the *-bus.c glue. */
typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        char bus_id[33]; /* org.freedesktop.DBus.GetId, for holder identities */
        FdStore *stored; /* at start: the leases' fds systemd kept for us */
        Model *model;
        LeaseSet *leases; /* NULL in --bus-introspect */
        Policy *policy;
        char **policy_errors; /* why the last reload failed (the previous policy stays) */
        char **policy_dirs;
        UdevWatch *udev; /* uevents of the real /sys */
        FifoWatch *fifo; /* --uevent-fifo */
        BusPeers *peers; /* the callers' credentials and their leaving (bus-peers.c) */
        PolkitRegistry *polkit;
        JobQueue *jobs;
        uint64_t write_timeout_usec; /* per sysfs write */
        sd_event_source *settle; /* re-reads what the kernel had not finished (model_settle()) */
        unsigned settle_attempt;
        sd_event_source *stuck_timer; /* retries stuck groups */
        unsigned close_attempt;       /* checks since the last close of a /dev/vfio/N */
        int inotify_fd;               /* closes of /dev/vfio/N that stuck groups wait for */
        sd_event_source *inotify_source;
        sd_event_source *trim;      /* gives large replies' memory back (bus_trim_after_...()) */
        sd_bus_slot *trim_filter;   /* arms it; goes first */
        SriovChange *sriov_changes; /* under way, as in sriov.json (manager-sriov.c) */
        size_t n_sriov_changes;
        Region **regions; /* guest RAM held for leases (manager-memory.c) */
        size_t n_regions;
        uint64_t next_region_id;
        PersistentDevice *identities; /* the cards at the addresses rules name (identities.json) */
        size_t n_identities;
        const char *cdi_path;    /* the CDI spec (cdi.h); NULL: none is written */
        const char *cdi_version; /* its cdiVersion */
        CdiSpec *cdi;     /* what the file holds as last written; NULL: not since the start */
        char *cdi_failed; /* the text whose write failed last ("": the removal); NULL: none */
} Manager;

/* Where the daemon keeps what it knows (state_open_dir()) and hears uevents from besides udev. */
typedef struct ManagerPaths {
        const char *runtime_dir, *state_dir;
        const char *uevent_fifo; /* NULL: none */
        const char *cdi_spec;    /* the CDI spec's path; NULL: none */
        const char *cdi_version; /* its version (cdi_version_is_supported()); NULL: the default */
} ManagerPaths;

typedef struct BusCaller {
        uint32_t uid, pid;
        const char *unique_name;
        char *user;
        char **groups;
} BusCaller;

/* manager.c: every decision. Functions that take a ManagerReplyFn queue a group job and return
 * 0; the reply comes when the job ends (err NULL on success, l the lease when there is one). A
 * negative return means refused at once, with *err saying why. */
typedef void (*ManagerReplyFn)(void *userdata, const Lease *l, const LeaseError *err);

/* The daemon's start, in its order, on d->event with d->model and d->policy_dirs set: the policy;
 * the bus name before anything touches the host, so that a second instance finds it taken; the
 * host and its uevents; the bus on the loop (requests waited in the socket); the leases read
 * back and reconciled, and what prepare_at_boot rules name prepared, before anyone is served.
 * *ret_bus is the caller's, closed after manager_done(). Logs what failed. */
int manager_startup(Manager *d, const ManagerPaths *p, sd_bus **ret_bus);
/* Waits for running jobs, cancels queued ones, and frees what the daemon holds. */
void manager_done(Manager *d);
/* manager-uevent.c. Every uevent (udev, the kernel, the test FIFO): the model, the signals, the
 * leases. */
void manager_uevent(const char *action, const char *address, void *userdata);
/* A job looks at address as a uevent of it with action would have it looked at: a member of an
 * active lease off vfio-pci is moved back (DriverReverted), a device joining a leased group
 * follows it, an arrival that a persistent prepare or prepare_at_boot rule names is prepared.
 * Nothing is queued when none of that can apply. */
void manager_queue_enforcement(Manager *d, const char *action, const char *address);
/* The policy files are read again; a bad file keeps the policy in force. Returns 0 when the new
 * policy is in force. */
int manager_reload_policy(Manager *d);
/* Why the policy is not what the files say ("" when it is); free() it. */
char *manager_policy_errors(const Manager *d);
void manager_refresh_host(Manager *d, bool full);
/* GetHostReport: the host facts read again, and each group's running job. */
int manager_host_report(Manager *d, char **ret);
/* What a ClaimGroup, ClaimDevice or Prepare asks for besides the group. */
typedef struct AcquireOptions {
        bool persistent;     /* prepares */
        const char *backend; /* claims: "type1", "iommufd", "auto" (iommufd where this kernel
                              * has it); NULL: the default, type1 */
        uint64_t memlock;    /* claims: raise the caller's RLIMIT_MEMLOCK to this (0: leave it) */
        bool vf_net_set;     /* claims: vf_net is the VF's network settings */
        VfNetConfig vf_net;
        const char *owner; /* the owner key (Lease.owner); NULL: none */
} AcquireOptions;

int manager_acquire(Manager *d, LeaseKind kind, uint32_t group, const AcquireOptions *o,
                    const BusCaller *c, ManagerReplyFn reply, void *userdata, LeaseError *err);
/* who: the caller, for the log. */
int manager_release(Manager *d, Lease *l, const char *who, ManagerReplyFn reply, void *userdata);
int manager_grant_access(Manager *d, Lease *l, const BusCaller *grantee, const char *who,
                         ManagerReplyFn reply, void *userdata, LeaseError *err);
int manager_open_device(Manager *d, Lease *l, const char *address, int *ret_fd, LeaseError *err);
int manager_open_cdev(Manager *d, Lease *l, const char *address, int *ret_fd, LeaseError *err);
/* The lease's fd of that kind (OpenContainer, OpenGroup), still the lease's: send a copy. */
int manager_hand_out_fd(Manager *d, Lease *l, VfioFdKind kind, int *ret_fd, LeaseError *err);
/* The holder of a claim left the bus: on_holder_exit applies. */
void manager_holder_gone(Manager *d, Lease *l);
/* A stuck lease waiting for another process to close its group is retried when it does. */
void manager_wait_for_close(Manager *d, Lease *l);
/* Whether the policy gives IOMMU group to the user c as it would to a claim of its own with that
 * backend (NULL: any): 0, or the error a claim would get (PolicyDenied, HostCritical, ...). */
int manager_check_user(Manager *d, uint32_t group, const BusCaller *c, const char *backend,
                       LeaseError *err);
/* manager-variant.c: the VFIO driver of a new lease's member (LeaseContext.pick_vfio_driver): the
 * model's Device.vfio_variant when it is loaded, vfio-pci when there is none. */
int manager_pick_vfio_driver(void *userdata, const Device *dev, char **ret, LeaseError *err);

/* A prepare the daemon asks for itself (judged as root's own, like an arrival's); persistent: it
 * is recorded to survive a reboot (persistent.json); why is for the log. fn (may be NULL) gets
 * the result. */
int manager_queue_prepare(Manager *d, uint32_t group, bool persistent, const char *why,
                          ManagerReplyFn fn, void *userdata);

/* manager-owner.c: leases by owner key (AcquireOptions.owner). The leases with that key, oldest
 * first (*ret_n 0: none); the array is the caller's to free, the leases are the set's. */
int manager_find_owner(Manager *d, const char *owner, Lease ***ret, size_t *ret_n);
/* ReleaseByOwner: every lease with that key is given back, each as its group's job; fn gets the
 * first failure, or success, once all of them are done. NoSuchLease in *err when there is none. */
int manager_release_by_owner(Manager *d, const char *owner, const char *who, ManagerReplyFn fn,
                             void *userdata, LeaseError *err);

/* manager-sriov.c: a PF's VF count (SetNumVfs). */
typedef struct SriovOptions {
        bool vfio; /* the VFs are prepared for VFIO (else their host driver probes them) */
} SriovOptions;
/* vfs: the PF's VFs now (NULL on error). */
typedef void (*ManagerSriovReplyFn)(void *userdata, char **vfs, const LeaseError *err);
int manager_set_num_vfs(Manager *d, const char *pf, uint32_t count, const SriovOptions *o,
                        ManagerSriovReplyFn fn, void *userdata, LeaseError *err);
/* At start, after the leases: undoes the SR-IOV changes sriov.json says were not finished. */
int manager_sriov_reconcile(Manager *d);

/* manager-identity.c: the cards at the addresses policy rules name (identities.json). At start,
 * after the leases: the file read back; one that cannot be parsed is kept aside (.corrupt) and
 * the cards are recorded again. */
int manager_identities_load(Manager *d);
/* Records the card at each address a rule names that has no record yet (address: only that one,
 * NULL: all); prune: first drops the records of addresses no rule in force names. Logs. */
void manager_identities_record(Manager *d, const char *address, bool prune);
void manager_identities_free(Manager *d);
/* Whether a member of the group sits at a recorded address with another card: -EREMCHG and the
 * IdentityChanged message (naming the address, the ids, the rule, and how to accept the card),
 * else 0. manager_identity_check() puts it in *err. */
int manager_identity_refusal(Manager *d, uint32_t group, char **ret_message);
int manager_identity_check(Manager *d, uint32_t group, LeaseError *err);
/* AcceptIdentity: the card now at address, which a rule must name, is recorded in place of the
 * one before; who: the caller, for the log. */
int manager_accept_identity(Manager *d, const char *address, const char *who, LeaseError *err);

/* manager-cdi.c: the CDI spec (cdi.h), built again from the lease set after each change of it
 * (a job's end, the start of a release, a member's cdev appearing) and written when it changed.
 * A failed write is logged and tried again at the next change; it fails no call. */
void manager_cdi_sync(Manager *d);
/* The fully qualified CDI names the lease's group is listed under in the file (borrowed), NULL
 * when none. */
char *const *manager_cdi_names(const Manager *d, const Lease *l);
void manager_cdi_free(Manager *d);

/* manager-memory.c: guest-RAM regions for a lease's VMM (design.md, "Pre-pinned memory"). */
#define MEMORY_NODE_OF_DEVICES (-2) /* the node of the group's devices, when they have one */
typedef struct MemoryOptions {
        uint64_t size;
        const char *hugepages; /* "2M", "1G", "none" (4 KiB shmem); NULL: none */
        int numa_node;         /* a node, MEM_NODE_ANY, or MEMORY_NODE_OF_DEVICES */
        uint64_t iova;         /* map it there into the lease's container; REGION_NO_IOVA: not */
} MemoryOptions;
/* A region for the lease's VMM, charged to the lease's uid against the policy's
 * host.max_pinned_bytes_per_uid and checked against its pool before anything is allocated; it
 * fills in the background (Region.state). */
int manager_allocate_memory(Manager *d, Lease *l, const MemoryOptions *o, Region **ret,
                            LeaseError *err);
Region *manager_find_region(const Manager *d, uint64_t id);
/* What the uid's regions hold (and how many there are), and what all regions of a pool hold
 * (node MEM_NODE_ANY: of every node). */
uint64_t manager_memory_held(const Manager *d, uint32_t uid, size_t *ret_n);
uint64_t manager_memory_held_in(const Manager *d, MemPageSize page, int node);
/* why: for the log ("released by ...", "lease 3 released"). */
void manager_release_region(Manager *d, Region *r, const char *why);
void manager_drop_regions(Manager *d, uint64_t lease_id, const char *why);
void manager_free_regions(Manager *d);

int manager_explain(Manager *d, uint32_t group, const BusCaller *c, struct json_object **ret,
                    LeaseError *err);
