/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>

#include "lease-set.h"
#include "names.h"
#include "persistent.h"
#include "util.h"

static int save_cb(void *userdata) {
        return lease_set_save(userdata);
}

int lease_set_new(Model *m, int runtime_fd, int state_fd, LeaseSet **ret) {
        LeaseSet *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->next_id = 1;
        s->runtime_fd = runtime_fd;
        s->state_fd = state_fd;
        s->ctx = (LeaseContext) {
                .model = m,
                .save = save_cb,
                .save_userdata = s,
                .timeout_usec = BINDING_TIMEOUT_USEC,
        };
        *ret = s;
        return 0;
}

LeaseSet *lease_set_free(LeaseSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                lease_free(s->leases[i]);
        free(s->leases);
        free(s->persistent);
        safe_close(s->runtime_fd);
        safe_close(s->state_fd);
        free(s);
        return NULL;
}

int lease_set_save(LeaseSet *s) {
        StateGlobals g = { .next_id = s->next_id,
                           .unsafe_interrupts_set = s->unsafe_interrupts_set };

        return state_save(s->runtime_fd, s->leases, s->n, &g);
}

int lease_set_allow_unsafe_interrupts(LeaseSet *s) {
        int k;

        if (!s->unsafe_interrupts_set) {
                s->unsafe_interrupts_set = true;
                k = lease_set_save(s);
                if (k < 0) {
                        s->unsafe_interrupts_set = false;
                        return k;
                }
        }
        return host_set_unsafe_interrupts(s->ctx.model->root, true);
}

int lease_set_drop_unsafe_interrupts(LeaseSet *s) {
        int k;

        if (!s->unsafe_interrupts_set)
                return 0;
        for (size_t i = 0; i < s->n; i++)
                if (s->leases[i]->unsafe_interrupts)
                        return 0;
        k = host_set_unsafe_interrupts(s->ctx.model->root, false);
        if (k < 0 && k != -ENOENT) /* a module that is gone took its parameter with it */
                return k;
        s->unsafe_interrupts_set = false;
        k = lease_set_save(s);
        return k < 0 ? k : 1;
}

Lease *lease_set_find_id(const LeaseSet *s, uint64_t id) {
        for (size_t i = 0; i < s->n; i++)
                if (s->leases[i]->id == id)
                        return s->leases[i];
        return NULL;
}

Lease *lease_set_find_group(const LeaseSet *s, uint32_t group) {
        for (size_t i = 0; i < s->n; i++)
                if (s->leases[i]->group == group)
                        return s->leases[i];
        return NULL;
}

Lease *lease_set_find_device(const LeaseSet *s, const char *address) {
        for (size_t i = 0; i < s->n; i++)
                if (lease_has_device(s->leases[i], address))
                        return s->leases[i];
        return NULL;
}

static int append(LeaseSet *s, Lease *l) {
        Lease **n = realloc(s->leases, sizeof(Lease *) * (s->n + 1));

        if (!n)
                return -ENOMEM;
        s->leases = n;
        n[s->n++] = l;
        return 0;
}

static void forget(LeaseSet *s, Lease *l) {
        for (size_t i = 0; i < s->n; i++)
                if (s->leases[i] == l) {
                        memmove(s->leases + i, s->leases + i + 1, sizeof(Lease *) * (s->n - i - 1));
                        s->n--;
                        break;
                }
        lease_free(l);
}

/* Drops this lease's devices from the persistent list, then (when adding) records them again as
 * they are now. keep: a record of the same card stays as it was (the daemon prepares on its own:
 * only a caller's prepare replaces a record, so a group number that changed stays visible). */
static int persistent_update(LeaseSet *s, const Lease *l, bool add, bool keep) {
        _cleanup_free_ PersistentDevice *old = NULL;
        size_t j = 0, n_old = 0;

        old = calloc(l->n_devices + 1, sizeof(*old));
        if (!old)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_persistent; i++)
                if (!lease_has_device(l, s->persistent[i].address))
                        s->persistent[j++] = s->persistent[i];
                else if (n_old < l->n_devices)
                        old[n_old++] = s->persistent[i];
        s->n_persistent = j;
        if (add)
                for (size_t i = 0; i < l->n_devices; i++) {
                        const Device *d = topology_find_device(s->ctx.model->topology,
                                                               l->devices[i].address);
                        PersistentDevice *n;

                        if (l->devices[i].bridge || !d)
                                continue;
                        n = realloc(s->persistent, sizeof(*n) * (s->n_persistent + 1));
                        if (!n)
                                return -ENOMEM;
                        s->persistent = n;
                        n = &n[s->n_persistent++];
                        persistent_device_record(d, n);
                        if (l->devices[i].vfio_driver &&
                            strlen(l->devices[i].vfio_driver) < sizeof(n->vfio_driver))
                                strcpy(n->vfio_driver, l->devices[i].vfio_driver);
                        for (size_t o = 0; keep && o < n_old; o++)
                                if (streq(old[o].address, d->address) &&
                                    persistent_identity_matches(&old[o], d))
                                        *n = old[o];
                }
        return persistent_save(s->state_fd, s->persistent, s->n_persistent);
}

const PersistentDevice *lease_set_find_persistent(const LeaseSet *s, const char *address) {
        for (size_t i = 0; i < s->n_persistent; i++)
                if (streq(s->persistent[i].address, address))
                        return &s->persistent[i];
        return NULL;
}

/* A prepare the daemon makes on its own from persistent.json binds no member that is another
 * card than the one recorded at its address (the caller's own prepare replaces the records). */
static int check_identity(LeaseSet *s, uint32_t group, LeaseError *err) {
        const Group *g = topology_find_group(s->ctx.model->topology, group);

        for (char **a = g ? g->devices : NULL; a && *a; a++) {
                const PersistentDevice *pd = lease_set_find_persistent(s, *a);
                const Device *d = topology_find_device(s->ctx.model->topology, *a);
                char *message;

                if (!pd || !d || persistent_identity_matches(pd, d))
                        continue;
                if (persistent_identity_message(pd, d, &message) < 0)
                        return -ENOMEM;
                lease_error_clear(err);
                *err = (LeaseError) { .error = -EREMCHG,
                                      .code = VA_ERROR_IDENTITY_CHANGED,
                                      .message = message };
                return -EREMCHG;
        }
        return 0;
}

/* Members the early-prepare udev rule kept from their host driver: the card of a persistent
 * prepare, its override on a VFIO driver, and no driver or a VFIO one. What they are on is no
 * driver to give them back to; the release lets drivers_probe find theirs. */
static void mark_early_prepared(const LeaseSet *s, Lease *l) {
        for (size_t i = 0; i < l->n_devices; i++) {
                LeaseDevice *ld = &l->devices[i];
                const PersistentDevice *pd = lease_set_find_persistent(s, ld->address);
                const Device *d = topology_find_device(s->ctx.model->topology, ld->address);

                if (ld->bridge || !pd || !d || !persistent_identity_matches(pd, d) ||
                    !driver_is_vfio(d->driver_override) ||
                    (ld->original_driver && !driver_is_vfio(ld->original_driver)))
                        continue;
                ld->original_driver = mfree(ld->original_driver);
                ld->restore_probe = true;
        }
}

/* Nothing is bound unattended without a guard's yes. */
static int guard(LeaseSet *s, uint32_t group, char **ret_why) {
        if (!s->guard)
                return asprintf(ret_why,
                                "no checks are set up for bindings the daemon starts on its own") <
                                       0
                               ? -ENOMEM
                               : -EPERM;
        return s->guard(s->guard_userdata, group, ret_why);
}

/* RLIMIT_MEMLOCK of pid, both limits, up to bytes (never down); pidfd says it is still the process
 * that called (its pid could have been reused meanwhile). Needs CAP_SYS_RESOURCE to raise the
 * hard limit. */
static int raise_memlock(int pidfd, uint32_t pid, uint64_t bytes) {
        struct rlimit old, new;

        if (prlimit((pid_t) pid, RLIMIT_MEMLOCK, NULL, &old) < 0)
                return negative_errno();
        new.rlim_cur = old.rlim_cur == RLIM_INFINITY ? old.rlim_cur : MAX(old.rlim_cur, bytes);
        new.rlim_max = old.rlim_max == RLIM_INFINITY ? old.rlim_max : MAX(old.rlim_max, bytes);
        if (prlimit((pid_t) pid, RLIMIT_MEMLOCK, &new, NULL) < 0)
                return negative_errno();
        /* Gone (and its pid maybe given to another process) before we were done: nothing to
         * raise for; the claim fails below when the holder is found gone. Signal 0 through the
         * pidfd says ESRCH only then: for another user's live process it says EPERM (we have no
         * CAP_KILL, kill(2)), which is alive. */
        if (pidfd_send_signal(pidfd, 0, NULL, 0) < 0 && errno != EPERM)
                return negative_errno();
        return 0;
}

int lease_set_acquire(LeaseSet *s, const LeaseRequest *req, Lease **ret, LeaseError *err) {
        LeaseContext c = s->ctx;
        Lease *l, *other;
        int k;

        other = lease_set_find_group(s, req->group);
        /* The owner asks again (its plugin restarted, a retry): the lease it has. */
        if (other && req->owner && other->owner && streq(other->owner, req->owner) &&
            other->kind == req->kind && other->state == LEASE_ACTIVE) {
                *ret = other;
                return 1;
        }
        if (other) {
                lease_error_clear(err);
                err->error = -EBUSY;
                err->code = VA_ERROR_BUSY;
                if (asprintf(&err->message,
                             "IOMMU group %" PRIu32 " is already leased (lease %" PRIu64
                             ", %s, %s%s%s%s%s%s)",
                             req->group, other->id, lease_kind_to_string(other->kind),
                             lease_state_to_string(other->state), other->holder ? ", held by " : "",
                             strempty(other->holder), other->owner ? ", owner \"" : "",
                             strempty(other->owner), other->owner ? "\"" : "") < 0)
                        err->message = NULL;
                return -EBUSY;
        }
        if (req->unattended && req->persistent) {
                k = check_identity(s, req->group, err);
                if (k < 0)
                        return k;
        }
        if (req->unattended) {
                _cleanup_free_ char *why = NULL;

                k = guard(s, req->group, &why);
                if (k < 0) {
                        lease_error_clear(err);
                        err->error = k;
                        /* Another card at an address a rule names (the guard's -EREMCHG). */
                        err->code = k == -EREMCHG ? VA_ERROR_IDENTITY_CHANGED
                                                  : VA_ERROR_POLICY_DENIED;
                        err->message = TAKE_PTR(why);
                        return k;
                }
        }
        if (req->backend)
                c.backend = req->backend;
        k = lease_new(&c, req->kind, req->group, s->next_id, &l, err);
        if (k < 0)
                return k;
        mark_early_prepared(s, l);
        if ((req->holder && !(l->holder = strdup(req->holder))) ||
            (req->owner && !(l->owner = strdup(req->owner)))) {
                lease_free(l);
                return -ENOMEM;
        }
        if (req->vf_net) {
                l->vf_net_request = malloc(sizeof(*req->vf_net));
                if (!l->vf_net_request) {
                        lease_free(l);
                        return -ENOMEM;
                }
                *l->vf_net_request = *req->vf_net;
        }
        l->uid = req->uid;
        l->pid = req->pid;
        if (req->holder) {
                /* Without a pidfd the holder could not be recognised after a restart: the caller
                 * is gone already, and the claim is refused rather than half-recorded. The start
                 * time is for restarts without systemd's fd store; /proc may not show it
                 * (ProtectProc=invisible hides other users' processes). */
                l->holder_pidfd = pidfd_open((pid_t) req->pid, 0);
                k = l->holder_pidfd < 0 ? negative_errno() : 0;
                if (k >= 0 && pid_start_time((pid_t) req->pid, &l->holder_start_time) < 0)
                        l->holder_start_time = 0;
                if (k < 0 || !req->holder_bus_id || strlen(req->holder_bus_id) != 32) {
                        lease_free(l);
                        lease_error_clear(err);
                        err->error = k < 0 ? k : -EINVAL;
                        err->code = VA_ERROR_FAILED;
                        if (asprintf(&err->message,
                                     "Cannot identify the caller %s (pid %" PRIu32 "): %s",
                                     req->holder, req->pid, k < 0 ? strerror(-k) : "no bus id") < 0)
                                err->message = NULL;
                        return err->error;
                }
                /* Asked for: the memory the holder will pin (the policy bounded it) is
                 * charged to its RLIMIT_MEMLOCK under iommufd's per-process accounting, and
                 * the default 8 MiB fails any VM. Before the group moves: a refusal changes
                 * nothing. */
                if (req->memlock > 0 &&
                    (k = raise_memlock(l->holder_pidfd, req->pid, req->memlock)) < 0) {
                        lease_free(l);
                        lease_error_clear(err);
                        err->error = k;
                        err->code = VA_ERROR_FAILED;
                        if (asprintf(&err->message,
                                     "Cannot raise the memlock limit of pid %" PRIu32 " to %" PRIu64
                                     " bytes: %s",
                                     req->pid, req->memlock, strerror(-k)) < 0)
                                err->message = NULL;
                        return k;
                }
                strcpy(l->holder_bus_id, req->holder_bus_id);
        }
        l->persistent = req->persistent;
        l->unsafe_interrupts = req->unsafe_interrupts;
        k = append(s, l);
        if (k < 0) {
                lease_free(l);
                return k;
        }
        s->next_id++;

        k = lease_acquire(&s->ctx, l, err);
        if (k < 0) {
                if (l->state == LEASE_STUCK) {
                        *ret = l;
                        return k;
                }
                forget(s, l);
                (void) lease_set_save(s);
                return k;
        }
        if (l->persistent) {
                k = persistent_update(s, l, true, req->unattended);
                if (k < 0) {
                        lease_error_clear(err);
                        err->error = k;
                        err->code = VA_ERROR_STATE_FAILED;
                        if (asprintf(&err->message,
                                     "IOMMU group %" PRIu32 " is on vfio-pci but could not be made "
                                     "persistent: %s",
                                     l->group, strerror(-k)) < 0)
                                err->message = NULL;
                        *ret = l;
                        return k;
                }
        }
        *ret = l;
        return 0;
}

int lease_set_release(LeaseSet *s, Lease *l, LeaseError *err) {
        bool persistent = l->persistent;
        int k;

        if (s->before_release)
                s->before_release(s->guard_userdata, l);
        k = lease_release(&s->ctx, l, err);
        if (k < 0)
                return k;
        if (persistent)
                (void) persistent_update(s, l, false, false);
        forget(s, l);
        return lease_set_save(s);
}

static int log_line(char ***log, const char *fmt, ...) _printf_(2, 3);
static int log_line(char ***log, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = strv_extendv(log, fmt, ap);
        va_end(ap);
        return k;
}

/* An active prepare or owner's claim whose members drifted away from vfio-pci while we were not
 * running. */
static int rebind_drifted(LeaseSet *s, Lease *l, char ***log) {
        for (size_t i = 0; i < l->n_devices; i++) {
                _cleanup_free_ char *message = NULL;
                const LeaseDevice *d = &l->devices[i];
                _cleanup_free_ char *drv = NULL;

                if (d->bridge || binding_current_driver(s->ctx.model->root, d->address, &drv) < 0 ||
                    (drv && streq(drv, lease_device_vfio_driver(d))))
                        continue;
                if (lease_set_enforce_device(s, d->address, drv, &message) > 0 && message &&
                    log_line(log, "%s", message) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Persistent prepares whose group has no lease (after a reboot). Over a copy of the list: each
 * prepare rewrites it (persistent_update() moves its devices to the end), and walking the list
 * itself skipped the entry that moved into the place just visited. */
static int prepare_persistent(LeaseSet *s, char ***log) {
        size_t n_todo = s->n_persistent;
        _cleanup_free_ PersistentDevice *todo = calloc(MAX(n_todo, (size_t) 1), sizeof(*todo));
        int k;

        if (!todo)
                return -ENOMEM;
        for (size_t i = 0; i < n_todo; i++)
                todo[i] = s->persistent[i];
        for (size_t i = 0; i < n_todo; i++) {
                const PersistentDevice *pd = &todo[i];
                const Device *d = topology_find_device(s->ctx.model->topology, pd->address);
                LeaseRequest req = { .kind = LEASE_PREPARE,
                                     .persistent = true,
                                     .unattended = true };
                _cleanup_free_ char *message = NULL;
                PersistentState state;
                LeaseError err = {};
                Lease *l;

                /* Another card at the address (Proxmox's mapping check) is never prepared in its
                 * place (lease_set_acquire() checks every member of the group), and said; so is
                 * a group number that changed under the same card. */
                k = persistent_state(s->ctx.model->topology, pd, &state, &message);
                if (k < 0)
                        return k;
                if (message && log_line(log, "%s", message) < 0)
                        return -ENOMEM;
                if (state == PERSISTENT_IDENTITY_CHANGED)
                        continue;
                if (!d || d->group < 0 || !d->ids_known ||
                    lease_set_find_group(s, (uint32_t) d->group))
                        continue;
                req.group = (uint32_t) d->group;
                k = lease_set_acquire(s, &req, &l, &err);
                if (k == -ENOMEM) {
                        lease_error_clear(&err);
                        return k;
                }
                if (k < 0 && log_line(log, "persistent prepare of %s: %s", d->address,
                                      err.message ?: strerror(-k)) < 0) {
                        lease_error_clear(&err);
                        return -ENOMEM;
                }
                lease_error_clear(&err);
        }
        return 0;
}

int lease_set_reconcile(LeaseSet *s, LeaseAdoptFn adopt, LeaseHolderAliveFn alive, void *userdata,
                        char ***log) {
        _cleanup_free_ char *error = NULL;
        Lease **loaded = NULL;
        StateGlobals g;
        size_t n = 0;
        int k;

        k = state_load(s->runtime_fd, &loaded, &n, &g, &error);
        if (k == -ENOMEM)
                return k;
        if (k == -EPERM || k == -EPROTONOSUPPORT) {
                /* Someone else could have written it, or a daemon that knows a backend this one
                 * does not: neither acted on nor moved aside. */
                (void) log_line(log, "state: %s", error ?: strerror(-k));
                return k;
        }
        if (k < 0) {
                /* Keep the unreadable file for a human and start from nothing. */
                (void) renameat(s->runtime_fd, STATE_FILE, s->runtime_fd, STATE_FILE ".corrupt");
                if (log_line(log, "state: %s; moved aside to %s.corrupt", error ?: strerror(-k),
                             STATE_FILE) < 0)
                        return -ENOMEM;
        } else {
                s->leases = loaded;
                s->n = n;
                for (size_t i = 0; adopt && i < n; i++)
                        adopt(userdata, loaded[i]);
                s->next_id = g.next_id;
                s->unsafe_interrupts_set = g.unsafe_interrupts_set;
        }
        error = mfree(error);
        k = persistent_load(s->state_fd, &s->persistent, &s->n_persistent, &error);
        if (k == -ENOMEM)
                return k;
        if (k == -EPERM) {
                (void) log_line(log, "persistent prepares: %s", error ?: strerror(-k));
                return k;
        }
        if (k < 0 && log_line(log, "persistent prepares: %s", error ?: strerror(-k)) < 0)
                return -ENOMEM;

        for (size_t i = 0; i < s->n;) {
                Lease *l = s->leases[i];
                LeaseError err = {};
                bool release;

                switch (l->state) {
                case LEASE_ACTIVE:
                        /* An owner's claim waits for its owner, who has no connection. */
                        release = l->kind == LEASE_CLAIM && !l->owner &&
                                  !(alive && alive(userdata, l));
                        if (!release && (l->kind == LEASE_PREPARE || l->owner) &&
                            rebind_drifted(s, l, log) < 0)
                                return -ENOMEM;
                        break;
                default:
                        /* Interrupted mid-bind (roll back), mid-release (finish) or stuck (retry). */
                        release = true;
                }
                if (!release) {
                        i++;
                        continue;
                }
                if (log_line(log,
                             "lease %" PRIu64 " on IOMMU group %" PRIu32
                             " was %s%s: giving it back",
                             l->id, l->group, lease_state_to_string(l->state),
                             l->state == LEASE_ACTIVE ? " and its holder is gone" : "") < 0)
                        return -ENOMEM;
                if (s->before_release)
                        s->before_release(s->guard_userdata, l);
                k = lease_release(&s->ctx, l, &err);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        if (log_line(log, "%s", err.message ?: strerror(-k)) < 0) {
                                lease_error_clear(&err);
                                return -ENOMEM;
                        }
                        lease_error_clear(&err);
                        i++;
                        continue;
                }
                lease_error_clear(&err);
                if (l->persistent)
                        (void) persistent_update(s, l, false, false);
                forget(s, l);
        }
        (void) lease_set_save(s);

        k = prepare_persistent(s, log);
        if (k < 0)
                return k;
        /* A lease that needed allow_unsafe_interrupts may have ended while we were not running. */
        k = lease_set_drop_unsafe_interrupts(s);
        if (k > 0 &&
            log_line(log, "allow_unsafe_interrupts cleared: no lease relies on it any more") < 0)
                return -ENOMEM;
        if (k < 0 &&
            log_line(log, "allow_unsafe_interrupts could not be cleared: %s", strerror(-k)) < 0)
                return -ENOMEM;
        return 0;
}

Lease *lease_set_device_drifted(const LeaseSet *s, const char *address, const char *driver) {
        Lease *l = lease_set_find_device(s, address);
        const LeaseDevice *d = NULL;

        if (!l || l->state != LEASE_ACTIVE)
                return NULL;
        for (size_t i = 0; i < l->n_devices; i++)
                if (streq(l->devices[i].address, address))
                        d = &l->devices[i];
        if (!d || d->bridge || (driver && streq(driver, lease_device_vfio_driver(d))))
                return NULL;
        return l;
}

/* One member to its VFIO driver. */
static int bind_member(LeaseSet *s, const LeaseDevice *d, BindFailure *f) {
        BindMember m = { .address = d->address, .vfio_driver = d->vfio_driver };

        return binding_bind_vfio_members(s->ctx.model->root, &m, 1, s->ctx.timeout_usec, NULL, f);
}

int lease_set_enforce_device(LeaseSet *s, const char *address, const char *driver,
                             char **ret_message) {
        Lease *l = lease_set_device_drifted(s, address, driver);
        const LeaseDevice *d = NULL;
        BindFailure f = {};
        int k;

        if (!l)
                return 0;
        for (size_t i = 0; i < l->n_devices; i++)
                if (streq(l->devices[i].address, address))
                        d = &l->devices[i];
        {
                _cleanup_free_ char *why = NULL;

                k = guard(s, l->group, &why);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        k = asprintf(ret_message,
                                     "%s, a member of leased IOMMU group %" PRIu32 ", was taken "
                                     "by %s and is left there: %s",
                                     address, l->group, driver ?: "no driver", strna(why));
                        return k < 0 ? -ENOMEM : 1;
                }
        }
        k = bind_member(s, d, &f);
        if (k < 0)
                k = asprintf(ret_message,
                             "%s, a member of leased IOMMU group %" PRIu32 ", was taken by %s "
                             "and could not be moved back to %s: %s failed: %s",
                             address, l->group, driver ?: "no driver", lease_device_vfio_driver(d),
                             bind_step_to_string(f.step), strerror(-k));
        else
                k = asprintf(ret_message,
                             "%s, a member of leased IOMMU group %" PRIu32 ", was taken by %s; "
                             "moved back to %s",
                             address, l->group, driver ?: "no driver", lease_device_vfio_driver(d));
        bind_failure_clear(&f);
        return k < 0 ? -ENOMEM : 1;
}

int lease_set_add_member(LeaseSet *s, const Device *d, char **ret_message) {
        Lease *l = d->group >= 0 ? lease_set_find_group(s, (uint32_t) d->group) : NULL;
        LeaseDevice *n, *ld;
        BindFailure f = {};
        int k;

        if (!l || lease_has_device(l, d->address) || l->state != LEASE_ACTIVE)
                return 0;
        if (device_is_endpoint(d)) {
                _cleanup_free_ char *why = NULL;

                k = guard(s, l->group, &why);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        k = asprintf(ret_message,
                                     "%s appeared in leased IOMMU group %" PRIu32 " and was left "
                                     "on %s: %s",
                                     d->address, l->group, d->driver ?: "no driver", strna(why));
                        return k < 0 ? -ENOMEM : 1;
                }
        }
        n = realloc(l->devices, sizeof(LeaseDevice) * (l->n_devices + 1));
        if (!n)
                return -ENOMEM;
        l->devices = n;
        ld = &n[l->n_devices];
        *ld = (LeaseDevice) { .bridge = !device_is_endpoint(d) };
        strcpy(ld->address, d->address);
        if (d->driver && !(ld->original_driver = strdup(d->driver)))
                return -ENOMEM;
        l->n_devices++;
        if (!ld->bridge && s->ctx.pick_vfio_driver) {
                LeaseError e = {};

                k = s->ctx.pick_vfio_driver(s->ctx.pick_userdata, d, &ld->vfio_driver, &e);
                if (k < 0) {
                        l->n_devices--;
                        free(ld->original_driver);
                        k = asprintf(ret_message,
                                     "%s appeared in leased IOMMU group %" PRIu32
                                     " and was left on %s: %s",
                                     d->address, l->group, d->driver ?: "no driver",
                                     strna(e.message));
                        lease_error_clear(&e);
                        return k < 0 ? -ENOMEM : 1;
                }
        }
        /* Recorded before the first write, like every member. */
        k = lease_set_save(s);
        if (k < 0)
                return k;
        if (l->persistent)
                (void) persistent_update(s, l, true, true);
        if (ld->bridge)
                return asprintf(ret_message,
                                "%s appeared in leased IOMMU group %" PRIu32
                                " (a bridge: left on %s)",
                                d->address, l->group, d->driver ?: "no driver") < 0
                               ? -ENOMEM
                               : 1;
        /* d is the model's, which a uevent may change while the write waits: the lease's copies
         * from here on. */
        k = bind_member(s, ld, &f);
        if (k < 0)
                k = asprintf(ret_message,
                             "%s appeared in leased IOMMU group %" PRIu32 " on %s and could not be "
                             "moved to %s: %s failed: %s",
                             ld->address, l->group, ld->original_driver ?: "no driver",
                             lease_device_vfio_driver(ld), bind_step_to_string(f.step),
                             strerror(-k));
        else
                k = asprintf(ret_message,
                             "%s appeared in leased IOMMU group %" PRIu32 " and joined it on %s",
                             ld->address, l->group, lease_device_vfio_driver(ld));
        bind_failure_clear(&f);
        return k < 0 ? -ENOMEM : 1;
}

bool lease_set_is_persistent(const LeaseSet *s, const char *address, uint16_t vendor,
                             uint16_t device) {
        const PersistentDevice *pd = lease_set_find_persistent(s, address);

        return pd && pd->vendor == vendor && pd->device == device;
}
