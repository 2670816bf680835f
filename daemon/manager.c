/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "daemon.h"
#include "explain.h"
#include "log.h"
#include "names.h"
#include "report.h"
#include "util.h"
#include "worker.h"

/* The manager decides: what a uevent means for the leases, whether a caller gets a group, what
 * happens when a holder goes, when a stuck group is tried again, which policy is in force. It
 * changes groups only through jobs (job.h) and tells the bus through the glue's send functions;
 * the glue parses, authorises, calls one function here and replies. */

static char *join_reasons(char **reasons) {
        char *text = NULL;

        for (char **r = reasons; r && *r; r++)
                if (strextendf(&text, "; ", "%s", *r) < 0)
                        return mfree(text);
        return text;
}

/* ---- the policy ---- */

int manager_reload_policy(Manager *d) {
        _cleanup_strv_free_ char **errors = NULL;
        Policy *p = NULL;
        int k;

        k = policy_load_dirs(d->policy_dirs, &p, &errors);
        strv_free(d->policy_errors);
        d->policy_errors = NULL;
        if (k < 0) {
                /* Validate everything, then swap: a bad file leaves the policy in force. */
                for (char **e = errors; e && *e; e++)
                        log_error("Policy not loaded, the previous one stays in force: %s", *e);
                d->policy_errors = TAKE_PTR(errors);
                if (!d->policy_errors)
                        (void) strv_extendf(&d->policy_errors, "cannot load the policy: %s",
                                            strerror(-k));
        } else {
                policy_free(d->policy);
                d->policy = p;
                log_info("Policy loaded: %zu files, %zu rules", strv_length(policy_files(p)),
                         policy_n_rules(p));
                manager_identities_record(d, NULL, true);
        }
        manager_bus_send_policy_changed(d);
        return k;
}

char *manager_policy_errors(const Manager *d) {
        return join_reasons(d->policy_errors);
}

/* The module parameters are read at each decision: allow_unsafe_interrupts may have been flipped
 * by hand, and nothing announces it. The other host facts are fixed for the boot, or change with
 * the IOMMU groups (host.h): read again for a report, and on the uevents that can move them. */
void manager_refresh_host(Manager *d, bool full) {
        bool changed = false;
        int k = model_refresh_host(d->model, full, &changed);

        if (k < 0)
                log_warning_errno(k,
                                  "Cannot read the host facts again, using the previous ones: %m");
        else if (changed)
                manager_bus_send_host_changed(d);
}

static const char *running_job(const void *userdata, uint32_t group) {
        const Manager *d = userdata;

        return job_queue_running(d->jobs, group);
}

int manager_host_report(Manager *d, char **ret) {
        _cleanup_free_ ReportIdentity *ids = calloc(d->n_identities + 1, sizeof(*ids));
        ReportPersistent p = { .devices = d->leases ? d->leases->persistent : NULL,
                               .n = d->leases ? d->leases->n_persistent : 0,
                               .identities = ids,
                               .n_identities = d->n_identities };

        if (!ids)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_identities; i++) {
                ids[i].record = d->identities[i];
                (void) policy_names_address(d->policy, ids[i].record.address, &ids[i].rule_file,
                                            &ids[i].rule_index);
        }
        manager_refresh_host(d, true);
        return report_to_string(d->model, running_job, d, &p, ret);
}

/* No policy could be loaded at start: what a rule in the unreadable file would decide is not
 * known, so nothing is decided. */
static int no_policy_error(Manager *d, LeaseError *err) {
        _cleanup_free_ char *why = join_reasons(d->policy_errors);

        lease_error_set(
                err, -EINVAL, VA_ERROR_POLICY_INVALID,
                "No policy is in force, so claims and prepares are refused until the policy files are fixed "
                "and reloaded: %s",
                why ? why : "the policy could not be loaded");
        return -EINVAL;
}

static VaError deny_error(const PolicyVerdict *v, const Group *g) {
        switch (v->code) {
        case POLICY_DENY_HOST_CRITICAL:
                return VA_ERROR_HOST_CRITICAL;
        case POLICY_DENY_INTERRUPT_REMAPPING:
                return VA_ERROR_IR_REQUIRED;
        case POLICY_DENY_BLOCKER:
                for (size_t i = 0; i < g->n_blockers; i++)
                        if (streq(g->blockers[i].code, BLOCKER_RMRR))
                                return VA_ERROR_RMRR_LOCKED;
                return VA_ERROR_NOT_ASSIGNABLE;
        default:
                return VA_ERROR_POLICY_DENIED;
        }
}

static int find_group(Manager *d, uint32_t group, const Group **ret, LeaseError *err) {
        const Group *g = topology_find_group(d->model->topology, group);

        if (!g) {
                lease_error_set(err, -ENOENT, VA_ERROR_NO_SUCH_GROUP,
                                "IOMMU group %" PRIu32 " does not exist", group);
                return -ENOENT;
        }
        *ret = g;
        return 0;
}

/* What the policy says of caller c and the group (returned too). */
static int evaluate(Manager *d, uint32_t group, const BusCaller *c, const Group **ret_group,
                    PolicyVerdict *v, LeaseError *err) {
        PolicyCaller pc = { .uid = c->uid, .user = c->user, .groups = c->groups };
        int k;

        k = find_group(d, group, ret_group, err);
        if (k < 0)
                return k;
        if (!d->policy)
                return no_policy_error(d, err);
        manager_refresh_host(d, false);
        *v = POLICY_VERDICT_INIT;
        return policy_evaluate_group(d->policy, d->model->topology, *ret_group, d->model->host, &pc,
                                     v);
}

/* The verdict's refusal as an error naming group, user and rule. */
static int verdict_error(const PolicyVerdict *v, const Group *g, const BusCaller *c,
                         LeaseError *err) {
        _cleanup_free_ char *why = join_reasons(v->denials ?: v->reasons);

        lease_error_set(err, -EPERM, deny_error(v, g),
                        "IOMMU group %" PRIu32 " for uid %" PRIu32 "%s%s%s: %s", g->id, c->uid,
                        c->user ? " (" : "", strempty(c->user), c->user ? ")" : "",
                        why ? why : "denied by policy");
        return -EPERM;
}

/* A rule that pins a backend refuses any other: what the caller asks for (a claim's option, the
 * backend of the lease a grant gives access to) is not the rule's. */
static int pin_error(const PolicyVerdict *v, const Group *g, const BusCaller *c, const char *what,
                     const char *backend, LeaseError *err) {
        return lease_error_set(err, -EPERM, VA_ERROR_POLICY_DENIED,
                               "IOMMU group %" PRIu32 " for uid %" PRIu32
                               "%s%s%s: %s the %s backend, but rule %s#%d pins the %s backend "
                               "for %s",
                               g->id, c->uid, c->user ? " (" : "", strempty(c->user),
                               c->user ? ")" : "", what, backend, v->backend_rule_file,
                               v->backend_rule_index, policy_backend_to_string(v->backend),
                               strna(v->backend_device));
}

int manager_check_user(Manager *d, uint32_t group, const BusCaller *c, const char *backend,
                       LeaseError *err) {
        PolicyVerdict v = POLICY_VERDICT_INIT;
        const Group *g;
        int k;

        k = evaluate(d, group, c, &g, &v, err);
        if (k >= 0 && !v.allowed)
                k = verdict_error(&v, g, c, err);
        else if (k >= 0 && backend && v.backend != POLICY_BACKEND_ANY &&
                 !streq(backend, policy_backend_to_string(v.backend)))
                k = pin_error(&v, g, c, "the lease uses", backend, err);
        policy_verdict_clear(&v);
        return k;
}

int manager_explain(Manager *d, uint32_t group, const BusCaller *c, struct json_object **ret,
                    LeaseError *err) {
        PolicyVerdict v = POLICY_VERDICT_INIT;
        const Group *g;
        int k;

        k = evaluate(d, group, c, &g, &v, err);
        if (k >= 0)
                k = policy_verdict_to_json(&v, g->id, c->user, c->uid, ret);
        policy_verdict_clear(&v);
        return k;
}

/* What the daemon binds on its own is judged as root's own prepare of the group would be: a
 * host-critical member only when a rule names it, no blocker, no rule denying everyone. An entry
 * in persistent.json or a prepare_at_boot rule is no rule naming the root disk. */
static int guard_unattended(void *userdata, uint32_t group, char **ret_why) {
        static char *const root_groups[] = { (char *) "root", NULL };
        const PolicyCaller root = { .uid = 0, .user = "root", .groups = root_groups };
        PolicyVerdict v = POLICY_VERDICT_INIT;
        Manager *d = userdata;
        const Group *g = topology_find_group(d->model->topology, group);
        int k;

        if (!g)
                return asprintf(ret_why, "IOMMU group %" PRIu32 " does not exist", group) < 0
                               ? -ENOMEM
                               : -ENOENT;
        if (!d->policy)
                return asprintf(ret_why, "no policy is in force") < 0 ? -ENOMEM : -EPERM;
        k = manager_identity_refusal(d, group, ret_why);
        if (k < 0)
                return k;
        k = policy_evaluate_group(d->policy, d->model->topology, g, d->model->host, &root, &v);
        if (k < 0)
                return k;
        if (!v.allowed) {
                for (char **r = v.denials ?: v.reasons; r && *r; r++)
                        if (strextendf(ret_why, "; ", "%s", *r) < 0) {
                                policy_verdict_clear(&v);
                                return -ENOMEM;
                        }
                k = -EPERM;
        }
        policy_verdict_clear(&v);
        return k;
}

/* ---- jobs ---- */

/* Stuck groups are looked at often, cheaply (is the group still open elsewhere?), and a real
 * release attempt, which writes to sysfs, is made at most every 30 s per group. A group that is
 * stuck only because another process holds /dev/vfio/N is tried again as soon as that process
 * closes it (manager_wait_for_close()), not on the next tick. */
#define STUCK_CHECK_USEC (2 * 1000000ULL)
#define STUCK_RETRY_USEC (30 * 1000000ULL)

static void drop_unsafe_interrupts(Manager *d, const char *why) {
        int k = lease_set_drop_unsafe_interrupts(d->leases);

        if (k > 0)
                log_notice("vfio_iommu_type1.allow_unsafe_interrupts cleared: %s", why);
        else if (k < 0)
                log_warning_errno(k, "Cannot clear vfio_iommu_type1.allow_unsafe_interrupts: %m");
}

/* A lease just became active: a member the model does not see on vfio-pci (another driver took
 * it while the lease was being acquired, or the uevents of its binding are still to come) is
 * checked by a job, as a uevent of it would have been. */
static void check_members(Manager *d, const Lease *l) {
        for (size_t i = 0; i < l->n_devices; i++)
                manager_queue_enforcement(d, "bind", l->devices[i].address);
}

static void lease_appeared(Manager *d, Lease *l) {
        (void) lease_bus_attach(d, l);
        (void) lease_bus_emit_added(d, l);
}

static void reply(ManagerReplyFn fn, void *userdata, const Lease *l, const LeaseError *err) {
        if (fn)
                fn(userdata, l, err);
}

static const LeaseError stopping_error = { .error = -ESHUTDOWN,
                                           .code = VA_ERROR_FAILED,
                                           .message = (char *) "vfio-assignd is stopping" };

typedef struct AcquireJob {
        Manager *daemon;
        LeaseRequest req;
        VfNetConfig vf_net;   /* what req.vf_net points to */
        char *holder, *owner; /* what req.holder and req.owner point to */
        char *caller;         /* for the log */
        bool set_unsafe_interrupts;
        int unsafe_result;
        ManagerReplyFn reply;
        void *userdata;
        Lease *lease;
        int result;
        LeaseError err;
} AcquireJob;

static void acquire_job_free(AcquireJob *a) {
        lease_error_clear(&a->err);
        free(a->holder);
        free(a->owner);
        free(a->caller);
        free(a);
}

static void acquire_run(Job *j) {
        AcquireJob *a = j->data;
        Manager *d = a->daemon;

        if (a->set_unsafe_interrupts) {
                a->unsafe_result = lease_set_allow_unsafe_interrupts(d->leases);
                if (a->unsafe_result >= 0)
                        d->model->host->unsafe_interrupts = 1;
        }
        a->req.unsafe_interrupts = d->model->host->ir != IR_ENABLED;
        a->result = lease_set_acquire(d->leases, &a->req, &a->lease, &a->err);
}

static void acquire_done(Job *j) {
        AcquireJob *a = j->data;
        Manager *d = a->daemon;
        Lease *l = a->lease;
        const char *what = lease_kind_to_string(a->req.kind);
        int k;

        if (j->cancelled)
                reply(a->reply, a->userdata, NULL, &stopping_error);
        else {
                if (a->set_unsafe_interrupts)
                        log_warning(
                                "Policy allows unsafe interrupts: set vfio_iommu_type1.allow_unsafe_interrupts "
                                "for IOMMU group %" PRIu32
                                "%s%s: devices can forge MSIs without interrupt "
                                "remapping",
                                j->group, a->unsafe_result < 0 ? ", which failed: " : "",
                                a->unsafe_result < 0 ? strerror(-a->unsafe_result) : "");
                if (l && a->result == 0)
                        lease_appeared(d, l);
                if (a->result > 0) {
                        log_info("IOMMU group %" PRIu32 " is already %s for owner \"%s\" (lease "
                                 "%" PRIu64 "), asked again by %s",
                                 j->group, l->kind == LEASE_CLAIM ? "claimed" : "prepared",
                                 l->owner, l->id, strna(a->caller));
                        reply(a->reply, a->userdata, l, NULL);
                } else if (a->result < 0) {
                        /* Named as a caller would get it: the daemon's own prepares have
                         * none, and the log is where they are read. */
                        log_warning("%s of IOMMU group %" PRIu32 " failed (%s): %s", what, j->group,
                                    va_error_name(a->err.code),
                                    a->err.message ?: strerror(-a->result));
                        if (!a->err.error)
                                a->err.error = a->result;
                        /* Set for this claim, which did not happen (a stuck rollback keeps its lease). */
                        drop_unsafe_interrupts(d, "the claim that needed it failed");
                        reply(a->reply, a->userdata, NULL, &a->err);
                } else {
                        check_members(d, l);
                        if (l->kind == LEASE_CLAIM && !l->owner) {
                                fdstore_put_lease(l);
                                k = lease_bus_track(d, l);
                                if (k < 0)
                                        log_warning_errno(
                                                k,
                                                "Cannot track the holder %s of IOMMU group %" PRIu32
                                                ": %m",
                                                strna(l->holder), j->group);
                        }
                        if (a->req.unattended)
                                log_info("IOMMU group %" PRIu32
                                         " prepared for vfio-pci (%s), lease %" PRIu64,
                                         j->group, strna(a->caller), l->id);
                        else
                                log_info("IOMMU group %" PRIu32 " %s for %s, lease %" PRIu64,
                                         j->group, l->kind == LEASE_CLAIM ? "claimed" : "prepared",
                                         strna(a->caller), l->id);
                        /* In the CDI spec before the caller hears of it. */
                        manager_cdi_sync(d);
                        reply(a->reply, a->userdata, l, NULL);
                }
        }
        acquire_job_free(a);
}

static int queue_acquire(Manager *d, const LeaseRequest *req, const char *caller, bool set_unsafe,
                         ManagerReplyFn fn, void *userdata) {
        AcquireJob *a = calloc(1, sizeof(*a));
        int k;

        if (!a)
                return -ENOMEM;
        *a = (AcquireJob) { .daemon = d,
                            .req = *req,
                            .set_unsafe_interrupts = set_unsafe,
                            .reply = fn,
                            .userdata = userdata };
        a->caller = caller ? strdup(caller) : NULL;
        if ((req->holder && !(a->holder = strdup(req->holder))) ||
            (req->owner && !(a->owner = strdup(req->owner)))) {
                acquire_job_free(a);
                return -ENOMEM;
        }
        a->req.holder = a->holder;
        a->req.owner = a->owner;
        a->req.holder_bus_id = d->bus_id;
        if (req->vf_net) {
                a->vf_net = *req->vf_net;
                a->req.vf_net = &a->vf_net;
        }
        k = job_enqueue(d->jobs, req->kind == LEASE_CLAIM ? JOB_CLAIM : JOB_PREPARE, req->group,
                        acquire_run, acquire_done, a);
        if (k < 0)
                acquire_job_free(a);
        return k;
}

int manager_queue_prepare(Manager *d, uint32_t group, bool persistent, const char *why,
                          ManagerReplyFn fn, void *userdata) {
        LeaseRequest req = {
                .kind = LEASE_PREPARE, .group = group, .unattended = true, .persistent = persistent
        };

        return queue_acquire(d, &req, why, false, fn, userdata);
}

static int backend_unavailable(Manager *d, const VfioBackendOps *ops, const char *pinned_by,
                               LeaseError *err) {
        const HostInfo *h = d->model->host;

        return lease_error_set(err, -ENXIO, VA_ERROR_BACKEND_UNAVAILABLE,
                               "This kernel offers no %s backend: %s%s%s", ops->name,
                               !h->iommu_present ? "no IOMMU is enabled"
                               : ops == &vfio_iommufd_ops
                                       ? "/dev/iommu is missing (CONFIG_IOMMUFD)"
                                       : "neither /dev/vfio/vfio nor the vfio module is there",
                               pinned_by ? "; " : "", strempty(pinned_by));
}

/* The backend a claim asked for; *ret NULL: the default. Refused before policy and polkit have
 * their say: an unknown name is the caller's mistake, an unavailable backend the kernel's. A
 * rule's pin is applied once the policy has spoken (pin_backend()). */
static int choose_backend(Manager *d, const char *name, const VfioBackendOps **ret,
                          LeaseError *err) {
        const VfioBackendOps *ops;

        *ret = NULL;
        if (!name)
                return 0;
        if (streq(name, "auto")) {
                *ret = vfio_iommufd_ops.supported(d->model->host) ? &vfio_iommufd_ops : NULL;
                return 0;
        }
        ops = vfio_backend_ops_from_name(name);
        if (!ops) {
                _cleanup_free_ char *known = vfio_backends_known();

                return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                       "Unknown VFIO backend \"%.*s\" (known: %s, auto)",
                                       utf8_prefix_len(name, 32), name, strna(known));
        }
        if (!ops->supported(d->model->host))
                return backend_unavailable(d, ops, NULL, err);
        *ret = ops;
        return 0;
}

/* The backend the allowing rule pins replaces the default and "auto"; a claim that names another
 * is refused, naming the rule and both backends. */
static int pin_backend(Manager *d, const PolicyVerdict *v, const Group *g, const BusCaller *c,
                       const char *asked, const VfioBackendOps **backend, LeaseError *err) {
        const VfioBackendOps *pinned;
        _cleanup_free_ char *why = NULL;

        if (v->backend == POLICY_BACKEND_ANY)
                return 0;
        pinned = vfio_backend_ops_from_name(policy_backend_to_string(v->backend));
        if (!pinned)
                return -EINVAL; /* policy.h names only backends this daemon has */
        if (asked && !streq(asked, "auto") && *backend != pinned)
                return pin_error(v, g, c, "the claim asks for", asked, err);
        if (!pinned->supported(d->model->host)) {
                if (asprintf(&why, "rule %s#%d pins it for %s", v->backend_rule_file,
                             v->backend_rule_index, strna(v->backend_device)) < 0)
                        return -ENOMEM;
                return backend_unavailable(d, pinned, why, err);
        }
        *backend = pinned;
        return 0;
}

/* A claim's VF settings need one VF in the group to set them on (which VF would a MAC be for,
 * with two?). Whether its PF has a netdev is the lease's to find out, as it sets them. */
static int check_vf_net(Manager *d, LeaseKind kind, uint32_t group, const VfNetConfig *vf_net,
                        LeaseError *err) {
        const Group *g = topology_find_group(d->model->topology, group);
        size_t n = 0;

        if (!vf_net)
                return 0;
        if (kind != LEASE_CLAIM)
                return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                       "The vf_* options are for claims");
        for (char **a = g ? g->devices : NULL; a && *a; a++) {
                const Device *dev = topology_find_device(d->model->topology, *a);

                n += dev && dev->physfn;
        }
        if (n != 1)
                return lease_error_set(err, -EINVAL, VA_ERROR_INVALID_ARGUMENT,
                                       "The vf_* options set a VF's network settings: IOMMU group "
                                       "%" PRIu32 " has %zu VFs, not one",
                                       group, n);
        return 0;
}

int manager_acquire(Manager *d, LeaseKind kind, uint32_t group, const AcquireOptions *o,
                    const BusCaller *c, ManagerReplyFn fn, void *userdata, LeaseError *err) {
        PolicyVerdict v = POLICY_VERDICT_INIT;
        LeaseRequest req = { .kind = kind,
                             .group = group,
                             .persistent = o->persistent,
                             .uid = c->uid,
                             .pid = c->pid,
                             /* An owner's lease outlives the caller's connection. */
                             .holder = kind == LEASE_CLAIM && !o->owner ? c->unique_name : NULL,
                             .vf_net = o->vf_net_set ? &o->vf_net : NULL,
                             .owner = o->owner };
        _cleanup_free_ char *who = NULL;
        const Group *g;
        bool unsafe;
        int k;

        k = check_vf_net(d, kind, group, req.vf_net, err);
        if (k < 0)
                return k;
        k = choose_backend(d, o->backend, &req.backend, err);
        if (k < 0)
                return k;
        if (o->memlock > policy_host(d->policy)->max_pinned_bytes_per_uid)
                return lease_error_set(err, -EPERM, VA_ERROR_POLICY_DENIED,
                                       "memlock %" PRIu64 " bytes for uid %" PRIu32
                                       " is more than the policy allows a uid "
                                       "(host.max_pinned_bytes_per_uid: %" PRIu64 " bytes)",
                                       o->memlock, c->uid,
                                       policy_host(d->policy)->max_pinned_bytes_per_uid);
        req.memlock = o->memlock;
        /* polkit said this caller may act now; the policy says what its uid may get. */
        k = evaluate(d, group, c, &g, &v, err);
        if (k < 0)
                return k;
        if (!v.allowed) {
                _cleanup_free_ char *why = join_reasons(v.denials ?: v.reasons);

                log_notice("Refused %s of IOMMU group %" PRIu32 " for uid %" PRIu32 ": %s",
                           lease_kind_to_string(kind), group, c->uid, strna(why));
                lease_error_set(err, -EPERM, deny_error(&v, g), "IOMMU group %" PRIu32 ": %s",
                                group, why ? why : "denied by policy");
                policy_verdict_clear(&v);
                return -EPERM;
        }
        k = manager_identity_check(d, group, err);
        if (k < 0) {
                log_notice("Refused %s of IOMMU group %" PRIu32 " for uid %" PRIu32 ": %s",
                           lease_kind_to_string(kind), group, c->uid, strna(err->message));
                policy_verdict_clear(&v);
                return k;
        }
        if (kind == LEASE_CLAIM) {
                k = pin_backend(d, &v, g, c, o->backend, &req.backend, err);
                if (k < 0) {
                        log_notice("Refused %s of IOMMU group %" PRIu32 " for uid %" PRIu32 ": %s",
                                   lease_kind_to_string(kind), group, c->uid, strna(err->message));
                        policy_verdict_clear(&v);
                        return k;
                }
        }
        unsafe = v.set_unsafe_interrupts;
        policy_verdict_clear(&v);
        if (asprintf(&who, "uid %" PRIu32 " (%s)", c->uid, strna(c->unique_name)) < 0)
                return -ENOMEM;
        return queue_acquire(d, &req, who, unsafe, fn, userdata);
}

/* A look at who holds a waiting lease's nodes reads the fd table of every process we may see:
 * one a second per lease at most, on top of the one when the wait starts. */
#define HOLDERS_RESCAN_USEC (1000000ULL)

/* Refreshes the lease's Holders (empty unless it waits for another process); true when they
 * changed, which the caller announces. */
static bool update_holders(Manager *d, Lease *l, bool now) {
        uint64_t t = 0;
        int k;

        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &t);
        if (!now && t < l->holders_usec + HOLDERS_RESCAN_USEC)
                return false;
        l->holders_usec = t;
        k = lease_update_holders(&d->leases->ctx, l);
        if (k < 0)
                log_debug_errno(k, "IOMMU group %" PRIu32 ": cannot tell who holds it open: %m",
                                l->group);
        return k > 0;
}

typedef struct ReleaseJob {
        Manager *daemon;
        uint64_t id;
        char *who; /* NULL: the daemon's own retry */
        bool holder_gone;
        ManagerReplyFn reply;
        void *userdata;
        /* Results: */
        bool missing;         /* no such lease (any more) */
        Lease *stuck;         /* still there */
        bool kept;            /* on_holder_exit=keep */
        uint32_t revoked_uid; /* UINT32_MAX: none */
        LeaseBus *bus;        /* of a lease that is gone */
        int close_wd;
        bool was_claim;
        int result;
        LeaseError err;
} ReleaseJob;

static void fdstore_remove_fds_unlocked(const Lease *l) {
        fdstore_remove_fds(l);
        /* Waits for systemd (sd_notify_barrier()): nothing shared is touched meanwhile. */
        blocking_begin();
        fdstore_wait_removed();
        blocking_end();
}

/* The holder is gone and the policy keeps the group on vfio-pci for whoever is authorised to
 * take it over; what the holder handed out goes with it. */
static void keep_without_holder(Manager *d, Lease *l, ReleaseJob *r) {
        r->kept = true;
        r->revoked_uid = UINT32_MAX;
        if (l->granted_uid != UINT32_MAX) {
                r->revoked_uid = l->granted_uid;
                r->result = lease_grant_access(&d->leases->ctx, l, UINT32_MAX, &r->err);
        }
        l->holder = mfree(l->holder);
        l->holder_pidfd = safe_close(l->holder_pidfd);
        fdstore_remove_holder(l->id);
        (void) lease_set_save(d->leases);
}

static void release_run(Job *j) {
        ReleaseJob *r = j->data;
        Manager *d = r->daemon;
        Lease *l = lease_set_find_id(d->leases, r->id);

        if (!l) {
                lease_error_set(&r->err, -ENOENT, VA_ERROR_NO_SUCH_LEASE,
                                "Lease %" PRIu64 " is gone", r->id);
                r->missing = true;
                return;
        }
        if (r->holder_gone && policy_host(d->policy)->on_holder_exit == ON_HOLDER_EXIT_KEEP) {
                keep_without_holder(d, l, r);
                r->stuck = l;
                return;
        }
        if (j->kind == JOB_RETRY &&
            (l->state != LEASE_STUCK || lease_group_busy(&d->leases->ctx, l))) {
                r->stuck = l; /* nothing to try now */
                return;
        }
        r->bus = l->bus_data;
        r->close_wd = l->close_wd;
        r->was_claim = l->kind == LEASE_CLAIM;
        r->result = lease_set_release(d->leases, l, &r->err);
        if (r->result < 0 && lease_set_find_id(d->leases, r->id))
                r->stuck = l;
}

static void release_done(Job *j) {
        ReleaseJob *r = j->data;
        Manager *d = r->daemon;

        if (j->cancelled) {
                reply(r->reply, r->userdata, NULL, &stopping_error);
                goto finish;
        }
        if (r->kept) {
                if (r->revoked_uid != UINT32_MAX) {
                        if (r->result < 0)
                                log_warning("Lease %" PRIu64 ": cannot take /dev/vfio/%" PRIu32
                                            " back from uid %" PRIu32 ": %s",
                                            r->id, j->group, r->revoked_uid, strna(r->err.message));
                        else
                                log_info("Lease %" PRIu64 ": /dev/vfio/%" PRIu32
                                         " taken back from uid %" PRIu32 ": its holder is gone",
                                         r->id, j->group, r->revoked_uid);
                }
                (void) lease_bus_emit_changed(d, r->stuck);
                log_notice("Lease %" PRIu64 " on IOMMU group %" PRIu32
                           ": holder gone, kept (on_holder_exit=keep)",
                           r->id, j->group);
                goto finish;
        }
        /* The VM is over: its regions go with the release, given back or stuck. */
        manager_drop_regions(d, r->id, "its lease was released");
        if (r->stuck) {
                if (j->kind == JOB_RETRY && r->result == 0)
                        goto finish; /* not tried */
                /* Still there: stuck. Tell watchers, and wait for whoever holds the group. */
                if (j->kind == JOB_RETRY) {
                        uint64_t now = 0;

                        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
                        r->stuck->retry_after = now + STUCK_RETRY_USEC;
                }
                (void) update_holders(d, r->stuck, true);
                (void) lease_bus_emit_changed(d, r->stuck);
                manager_wait_for_close(d, r->stuck);
                if (r->holder_gone)
                        log_warning("IOMMU group %" PRIu32 ": holder gone, release failed: %s",
                                    j->group, strna(r->err.message));
                if (!r->err.error)
                        r->err.error = r->result;
                reply(r->reply, r->userdata, NULL, &r->err);
                goto finish;
        }
        if (r->missing) {
                reply(r->reply, r->userdata, NULL, &r->err);
                goto finish;
        }
        /* The lease is gone (freed by the set), with or without a save error. */
        if (r->close_wd >= 0)
                (void) inotify_rm_watch(d->inotify_fd, r->close_wd);
        fdstore_remove_holder(r->id); /* its fds left the store before the release */
        lease_bus_free(r->bus);
        (void) lease_bus_emit_removed(d, r->id);
        if (r->result >= 0)
                drop_unsafe_interrupts(d, "no lease relies on it any more");
        /* Given back, with a note: a VF's network settings that could not be put back. */
        if (r->err.message)
                log_warning("IOMMU group %" PRIu32 ": %s", j->group, r->err.message);
        if (r->holder_gone)
                log_info("IOMMU group %" PRIu32 ": holder gone, released", j->group);
        else if (j->kind == JOB_RETRY)
                log_info("IOMMU group %" PRIu32 " is back on its host drivers", j->group);
        else if (j->kind == JOB_UNPREPARE)
                log_info("IOMMU group %" PRIu32 " unprepared by %s", j->group, strna(r->who));
        else
                log_info("Lease %" PRIu64 " released by %s: IOMMU group %" PRIu32
                         " is back on its host drivers",
                         r->id, strna(r->who), j->group);
        if (r->result < 0) {
                LeaseError e = {};

                lease_error_set(&e, r->result, VA_ERROR_STATE_FAILED,
                                "The lease was released but the state could not be "
                                "saved: %s",
                                strerror(-r->result));
                reply(r->reply, r->userdata, NULL, &e);
                lease_error_clear(&e);
        } else
                reply(r->reply, r->userdata, NULL, NULL);
finish:
        lease_error_clear(&r->err);
        free(r->who);
        free(r);
}

static int queue_release(Manager *d, JobKind kind, const Lease *l, const char *who,
                         bool holder_gone, ManagerReplyFn fn, void *userdata) {
        ReleaseJob *r = calloc(1, sizeof(*r));
        int k;

        if (!r)
                return -ENOMEM;
        *r = (ReleaseJob) { .daemon = d,
                            .id = l->id,
                            .holder_gone = holder_gone,
                            .reply = fn,
                            .userdata = userdata,
                            .close_wd = -1 };
        if (who && !(r->who = strdup(who))) {
                free(r);
                return -ENOMEM;
        }
        k = job_enqueue(d->jobs, kind, l->group, release_run, release_done, r);
        if (k < 0) {
                free(r->who);
                free(r);
        }
        return k;
}

int manager_release(Manager *d, Lease *l, const char *who, ManagerReplyFn fn, void *userdata) {
        return queue_release(d, l->kind == LEASE_PREPARE ? JOB_UNPREPARE : JOB_RELEASE, l, who,
                             false, fn, userdata);
}

void manager_holder_gone(Manager *d, Lease *l) {
        int k = queue_release(d, JOB_RELEASE, l, NULL, true, NULL, NULL);

        if (k < 0)
                log_warning_errno(k,
                                  "IOMMU group %" PRIu32
                                  ": holder gone, cannot queue the release: %m",
                                  l->group);
}

typedef struct GrantJob {
        Manager *daemon;
        uint64_t id;
        uint32_t uid;
        char *user, *who;
        ManagerReplyFn reply;
        void *userdata;
        int result;
        LeaseError err;
} GrantJob;

static void grant_run(Job *j) {
        GrantJob *g = j->data;
        Lease *l = lease_set_find_id(g->daemon->leases, g->id);

        if (!l) {
                lease_error_set(&g->err, -ENOENT, VA_ERROR_NO_SUCH_LEASE,
                                "Lease %" PRIu64 " is gone", g->id);
                g->result = -ENOENT;
                return;
        }
        g->result = lease_grant_access(&g->daemon->leases->ctx, l, g->uid, &g->err);
        if (g->result >= 0)
                fdstore_remove_fds_unlocked(l); /* the daemon's fds went with the grant */
}

static void grant_done(Job *j) {
        GrantJob *g = j->data;
        Lease *l = lease_set_find_id(g->daemon->leases, g->id);

        if (j->cancelled)
                reply(g->reply, g->userdata, NULL, &stopping_error);
        else if (g->result < 0) {
                if (!g->err.error)
                        g->err.error = g->result;
                reply(g->reply, g->userdata, NULL, &g->err);
        } else {
                log_info("Lease %" PRIu64 ": /dev/vfio/%" PRIu32 " handed to uid %" PRIu32
                         " (%s) by %s",
                         g->id, j->group, g->uid, strna(g->user), strna(g->who));
                reply(g->reply, g->userdata, l, NULL);
        }
        lease_error_clear(&g->err);
        free(g->user);
        free(g->who);
        free(g);
}

int manager_grant_access(Manager *d, Lease *l, const BusCaller *grantee, const char *who,
                         ManagerReplyFn fn, void *userdata, LeaseError *err) {
        GrantJob *g;
        int k;

        /* The node gives the grantee what a claim of its own would: the policy must allow it the
         * group as it allowed the holder, with the lease's backend. */
        if (grantee->uid != l->uid) {
                k = manager_check_user(d, l->group, grantee, l->backend->ops->name, err);
                if (k < 0) {
                        log_notice("Lease %" PRIu64 ": refused to hand /dev/vfio/%" PRIu32
                                   " to uid %" PRIu32 " for %s: %s",
                                   l->id, l->group, grantee->uid, strna(who), strna(err->message));
                        return k;
                }
        }
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (GrantJob) {
                .daemon = d, .id = l->id, .uid = grantee->uid, .reply = fn, .userdata = userdata
        };
        g->user = grantee->user ? strdup(grantee->user) : NULL;
        g->who = who ? strdup(who) : NULL;
        k = job_enqueue(d->jobs, JOB_GRANT, l->group, grant_run, grant_done, g);
        if (k < 0) {
                free(g->user);
                free(g->who);
                free(g);
        }
        return k;
}

int manager_open_device(Manager *d, Lease *l, const char *address, int *ret_fd, LeaseError *err) {
        return lease_open_device(&d->leases->ctx, l, address, ret_fd, err);
}

int manager_open_cdev(Manager *d, Lease *l, const char *address, int *ret_fd, LeaseError *err) {
        return lease_open_cdev(&d->leases->ctx, l, address, ret_fd, err);
}

int manager_hand_out_fd(Manager *d, Lease *l, VfioFdKind kind, int *ret_fd, LeaseError *err) {
        return lease_hand_out_fd(l, kind, ret_fd, err);
}

/* ---- stuck groups ---- */

/* The close event is no promise that the group can be opened again: __fput() (fs/file_table.c)
 * queues IN_CLOSE_* before it calls the file's ->release, and only vfio_group_fops_release()
 * clears the group's opened file (drivers/vfio/group.c; vfio_main.c before 6.2). A check right
 * after the event can still meet EBUSY, and nothing else tells when the release has run; so after
 * a close a group still busy is looked at again 1, 2, 4 ... 512 ms later, before the periodic
 * check takes over. */
#define CLOSE_FIRST_USEC 1000ULL
#define CLOSE_ATTEMPTS 10

/* A group that could not be given back is retried until it can: it is never dropped. */
static int on_retry_stuck(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *d = userdata;
        bool waiting = false;
        uint64_t now;

        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        for (size_t i = 0; d->leases && i < d->leases->n; i++) {
                Lease *l = d->leases->leases[i];

                if (l->state != LEASE_STUCK || job_queue_has(d->jobs, l->group) ||
                    (!l->waiting && now < l->retry_after))
                        continue;
                if (lease_group_busy(&d->leases->ctx, l)) {
                        waiting = true;
                        if (update_holders(d, l, false))
                                (void) lease_bus_emit_changed(d, l);
                        continue;
                }
                if (queue_release(d, JOB_RETRY, l, NULL, false, NULL, NULL) < 0)
                        log_warning("IOMMU group %" PRIu32 ": cannot queue another release attempt",
                                    l->group);
        }
        if (waiting && d->close_attempt < CLOSE_ATTEMPTS)
                (void) sd_event_source_set_time_relative(s, CLOSE_FIRST_USEC << d->close_attempt++);
        else {
                d->close_attempt = CLOSE_ATTEMPTS;
                (void) sd_event_source_set_time_relative(s, STUCK_CHECK_USEC);
        }
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

/* The stuck leases are looked at now rather than at the next periodic check. */
static void kick_stuck(Manager *d) {
        if (d->stuck_timer && sd_event_source_set_time_relative(d->stuck_timer, 0) >= 0)
                (void) sd_event_source_set_enabled(d->stuck_timer, SD_EVENT_ONESHOT);
}

/* Some /dev/vfio/N was closed for the last time by someone (IN_CLOSE_*). */
static int on_group_closed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *d = userdata;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;

        /* Which group it was does not matter: checking the stuck ones is cheap. */
        while (read(fd, &u, sizeof(u)) > 0)
                ;
        d->close_attempt = 0;
        kick_stuck(d);
        return 0;
}

void manager_wait_for_close(Manager *d, Lease *l) {
        int k;

        if (l->state != LEASE_STUCK || !l->waiting || d->inotify_fd < 0)
                return;
        if (l->close_wd < 0) {
                k = lease_watch_close(&d->leases->ctx, l, d->inotify_fd);
                if (k < 0) {
                        log_debug_errno(k,
                                        "Cannot watch /dev/vfio/%" PRIu32
                                        " for closes (%m); checking periodically",
                                        l->group);
                        return;
                }
        }
        /* It may have been closed between the release attempt and the watch. */
        if (!lease_group_busy(&d->leases->ctx, l))
                kick_stuck(d);
}

static int setup_close_watch(Manager *d) {
        int k;

        d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (d->inotify_fd < 0)
                return negative_errno();
        k = sd_event_add_io(d->event, &d->inotify_source, d->inotify_fd, EPOLLIN, on_group_closed,
                            d);
        if (k < 0)
                return k;
        /* 1 ms accuracy, not sd-event's default 250 ms: a kick must run at once. */
        return sd_event_add_time_relative(d->event, &d->stuck_timer, CLOCK_MONOTONIC,
                                          STUCK_CHECK_USEC, 1000, on_retry_stuck, d);
}

/* ---- start and stop ---- */

static void release_stored_fds(void *userdata, Lease *l) {
        if (l->kind == LEASE_CLAIM)
                fdstore_remove_fds_unlocked(l);
}

/* A lease read back at start gets the fds systemd kept for it: its holder's pidfd, and for a
 * claim its backend's (type1: container and group), which it can hand out again. */
static void adopt_stored_fds(void *userdata, Lease *l) {
        Manager *d = userdata;

        fdstore_adopt(d->stored, l);
}

/* A claim's holder is still there if the owner of its unique name is the process that claimed,
 * on the same bus instance: after a bus restart another user may own the same name. */
static bool holder_alive(void *userdata, Lease *l) {
        Manager *d = userdata;
        uint32_t uid, pid;

        return l->holder && bus_name_owner(d, l->holder, &uid, &pid) >= 0 &&
               lease_holder_is(l, d->bus_id, uid, pid);
}

/* A job's start or end: the lease set may have changed (the CDI spec follows). */
static void job_changed(void *userdata, uint32_t group) {
        group_bus_send_job_changed(userdata, group);
        manager_cdi_sync(userdata);
}

static int setup_leases(Manager *d, int runtime_fd, int state_fd) {
        _cleanup_strv_free_ char **log = NULL;
        int k;

        k = lease_set_new(d->model, runtime_fd, state_fd, &d->leases);
        if (k < 0) {
                safe_close(runtime_fd);
                safe_close(state_fd);
                return k;
        }
        d->leases->ctx.timeout_usec = d->write_timeout_usec;
        d->leases->ctx.pick_vfio_driver = manager_pick_vfio_driver;
        d->leases->ctx.pick_userdata = d;
        d->leases->guard = guard_unattended;
        d->leases->before_release = release_stored_fds;
        d->leases->guard_userdata = d;
        d->stored = fdstore_take();
        k = lease_set_reconcile(d->leases, adopt_stored_fds, holder_alive, d, &log);
        fdstore_finish(d->stored, d->leases);
        d->stored = NULL;
        for (char **l = log; l && *l; l++)
                log_warning("%s", *l);
        if (k < 0)
                return k;
        for (size_t i = 0; i < d->leases->n; i++) {
                Lease *l = d->leases->leases[i];

                if (!lease_bus_attach(d, l))
                        return -ENOMEM;
                if (l->kind == LEASE_CLAIM && l->state == LEASE_ACTIVE && lease_bus_track(d, l) < 0)
                        log_warning("Cannot track the holder of lease %" PRIu64, l->id);
                /* Recognised by its start time (no fd store before): from now on by its pidfd. */
                if (l->kind == LEASE_CLAIM && l->holder && l->holder_pidfd < 0) {
                        l->holder_pidfd = pidfd_open((pid_t) l->pid, 0);
                        fdstore_put_lease(l);
                }
                manager_wait_for_close(d, l);
                (void) update_holders(d, l, true);
                log_info("Lease %" PRIu64 ": IOMMU group %" PRIu32 " %s, %s%s%s", l->id, l->group,
                         lease_kind_to_string(l->kind), lease_state_to_string(l->state),
                         l->holder ? ", held by " : "", strempty(l->holder));
        }
        return 0;
}

/* prepare_at_boot rules: groups that should already be on vfio-pci, before anyone is served:
 * run here and now, not as jobs. */
static void prepare_at_boot(Manager *d) {
        for (size_t i = 0; i < d->model->topology->n_devices; i++) {
                const Device *dev = d->model->topology->devices[i];
                LeaseRequest req = { .kind = LEASE_PREPARE, .unattended = true };
                LeaseError err = {};
                Lease *l = NULL;
                int k;

                if (dev->group < 0 || lease_set_find_group(d->leases, (uint32_t) dev->group) ||
                    !device_is_endpoint(dev) || !policy_prepare_at_boot(d->policy, dev))
                        continue;
                req.group = (uint32_t) dev->group;
                k = lease_set_acquire(d->leases, &req, &l, &err);
                if (l)
                        lease_appeared(d, l);
                if (k < 0)
                        log_warning("Preparing %s at start failed: %s", dev->address,
                                    err.message ?: strerror(-k));
                else
                        log_info("%s was prepared for vfio-pci at start (IOMMU group %" PRIu32 ")",
                                 dev->address, l->group);
                lease_error_clear(&err);
        }
}

/* The policy at start: without one, claims and prepares are refused until a reload works. */
static void manager_load_policy(Manager *d) {
        if (manager_reload_policy(d) < 0)
                /* Nothing to keep yet. The built-in default would allow what a rule in the
                 * unreadable file may forbid: no policy is in force, claims and prepares are
                 * refused (PolicyInvalid) until a reload succeeds. The leases on disk are still
                 * looked after. */
                log_error("No policy is in force: claims and prepares are refused until the policy "
                          "files are fixed and reloaded (SIGHUP or assignctl policy reload)");
}

static void log_model_errors(const Model *m) {
        for (char **e = m->host->errors; e && *e; e++)
                log_warning("%s", *e);
        for (char **e = m->errors; e && *e; e++)
                log_warning("%s", *e);
        for (char **e = m->topology->errors; e && *e; e++)
                log_warning("%s", *e);
}

/* The uevent sources (udev on the real /sys; the FIFO at uevent_fifo, if any), then the first
 * read of the host. Logs what failed. */
static int manager_load_host(Manager *d, const char *uevent_fifo) {
        Model *m = d->model;
        int k;

        /* Monitor first, then enumerate, so no uevent falls in a gap. udev events describe the
         * real /sys only; on a fake tree the FIFO is the event source. */
        if (sysroot_is_host(m->root)) {
                k = udev_watch_new(d->event, manager_uevent, d, &d->udev);
                if (k < 0)
                        return log_error_errno(k, "Cannot listen to uevents: %m");
                log_info("Listening to %s uevents for pci",
                         udev_watch_uses_udevd(d->udev) ? "udev" : "kernel");
        }
        if (uevent_fifo) {
                k = fifo_watch_new(d->event, uevent_fifo, manager_uevent, d, &d->fifo);
                if (k < 0)
                        return log_error_errno(k, "Cannot open the uevent FIFO %s: %m",
                                               uevent_fifo);
        }
        k = model_load(m);
        if (k < 0)
                return log_error_errno(k, "Cannot read the host under %s: %m",
                                       sysroot_path(m->root));
        log_model_errors(m);
        if (m->variants)
                log_info("%zu VFIO variant driver aliases", m->variants->n);
        log_info("%zu PCI devices in %zu IOMMU groups; interrupt remapping %s",
                 m->topology->n_devices, m->topology->n_groups, ir_verdict_to_string(m->host->ir));
        return 0;
}

static int start_leases(Manager *d, int runtime_fd, int state_fd) {
        int k;

        k = job_queue_new(d->event, job_changed, d, &d->jobs);
        if (k < 0) {
                safe_close(runtime_fd);
                safe_close(state_fd);
                return k;
        }
        k = setup_close_watch(d);
        if (k < 0) {
                safe_close(runtime_fd);
                safe_close(state_fd);
                return k;
        }
        k = setup_leases(d, runtime_fd, state_fd);
        if (k < 0)
                return k;
        k = manager_sriov_reconcile(d);
        if (k < 0)
                return k;
        k = manager_identities_load(d);
        if (k < 0)
                return k;
        manager_identities_record(d, NULL, true);
        prepare_at_boot(d);
        return 0;
}

/* The runtime and state directories, checked: the leases' files live there. */
static int open_state_dirs(const ManagerPaths *p, int *ret_runtime_fd, int *ret_state_fd) {
        _cleanup_free_ char *why = NULL;
        int runtime_fd = -1, k;

        k = state_open_dir(p->runtime_dir, &runtime_fd, &why);
        if (k < 0) {
                log_error("Cannot use the runtime directory %s: %s", p->runtime_dir,
                          why ?: strerror(-k));
                return k;
        }
        why = mfree(why);
        k = state_open_dir(p->state_dir, ret_state_fd, &why);
        if (k < 0) {
                log_error("Cannot use the state directory %s: %s", p->state_dir,
                          why ?: strerror(-k));
                safe_close(runtime_fd);
                return k;
        }
        *ret_runtime_fd = runtime_fd;
        return 0;
}

int manager_startup(Manager *d, const ManagerPaths *p, sd_bus **ret_bus) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int runtime_fd = -1, state_fd = -1, k;

        manager_load_policy(d);
        k = manager_bus_open(d, &bus);
        if (k < 0)
                return k;
        /* The bus is the caller's from here on: manager_done() must run before it is closed. */
        *ret_bus = TAKE_PTR(bus);
        k = manager_load_host(d, p->uevent_fifo);
        if (k < 0)
                return k;
        k = sd_bus_attach_event(*ret_bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (k >= 0)
                k = bus_trim_after_large_replies(*ret_bus, d->event, &d->trim, &d->trim_filter);
        if (k < 0)
                return log_error_errno(k, "Cannot serve the bus: %m");
        k = open_state_dirs(p, &runtime_fd, &state_fd);
        if (k < 0)
                return k;
        k = start_leases(d, runtime_fd, state_fd);
        if (k < 0)
                return log_error_errno(k, "Cannot set up the leases: %m");
        d->cdi_path = p->cdi_spec;
        d->cdi_version = p->cdi_version ?: CDI_VERSION_DEFAULT;
        manager_cdi_sync(d);
        return 0;
}

void manager_done(Manager *d) {
        /* Running jobs end first: they may still reply and emit. */
        d->jobs = job_queue_free(d->jobs);
        d->udev = udev_watch_free(d->udev);
        d->fifo = fifo_watch_free(d->fifo);
        d->settle = sd_event_source_disable_unref(d->settle);
        d->stuck_timer = sd_event_source_disable_unref(d->stuck_timer);
        d->inotify_source = sd_event_source_disable_unref(d->inotify_source);
        d->inotify_fd = safe_close(d->inotify_fd);
        d->trim_filter = sd_bus_slot_unref(d->trim_filter);
        d->trim = sd_event_source_disable_unref(d->trim);
        manager_free_regions(d);
        d->sriov_changes = mfree(d->sriov_changes);
        d->n_sriov_changes = 0;
        manager_identities_free(d);
        manager_cdi_free(d);
        if (d->leases)
                for (size_t i = 0; i < d->leases->n; i++)
                        lease_bus_forget(d->leases->leases[i]);
        /* The leases stay on disk and the groups on vfio-pci: the next start picks them up. */
        d->leases = lease_set_free(d->leases);
        d->polkit = polkit_registry_free(d->polkit);
        d->peers = bus_peers_free(d->peers);
        d->policy = policy_free(d->policy);
        strv_free(d->policy_errors);
        d->policy_errors = NULL;
}
