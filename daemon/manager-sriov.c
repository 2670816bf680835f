/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SetNumVfs (issue 14): a PF's VF count changed in the known-good order (libvirt's and Incus'
 * too): sriov_drivers_autoprobe off when the VFs go to VFIO, sriov_numvfs through 0, the new
 * count, the virtfnN links awaited (a PF driver may add them late), each VF's override set to its
 * VFIO driver, autoprobe back on; any failure puts the PF back at its old count. The change is
 * a job on the PF's group, recorded in sriov.json before its first write, so a daemon killed in
 * the middle undoes it at start. VFs for VFIO are then prepared, each its own group's job. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "sriov.h"
#include "util.h"
#include "worker.h"

typedef struct SriovJob {
        Manager *daemon;
        SriovChange change;
        bool vfio;
        ManagerSriovReplyFn reply;
        void *userdata;
        /* Results: */
        char **vfs;
        uint32_t *vf_groups;
        int result;
        LeaseError err;
        /* VFs for VFIO: the prepares still running, and the first that failed. */
        size_t pending;
        LeaseError prepare_err;
} SriovJob;

static void sriov_job_free(SriovJob *x) {
        strv_free(x->vfs);
        free(x->vf_groups);
        lease_error_clear(&x->err);
        lease_error_clear(&x->prepare_err);
        free(x);
}

static int save_changes(Manager *d) {
        return sriov_changes_save(d->leases->runtime_fd, d->sriov_changes, d->n_sriov_changes);
}

static int record_change(Manager *d, const SriovChange *c) {
        SriovChange *n = reallocarray(d->sriov_changes, d->n_sriov_changes + 1, sizeof(*n));
        int k;

        if (!n)
                return -ENOMEM;
        d->sriov_changes = n;
        n[d->n_sriov_changes++] = *c;
        k = save_changes(d);
        if (k < 0)
                d->n_sriov_changes--;
        return k;
}

static int forget_change(Manager *d, const char *pf) {
        for (size_t i = 0; i < d->n_sriov_changes; i++)
                if (streq(d->sriov_changes[i].pf, pf)) {
                        d->sriov_changes[i] = d->sriov_changes[--d->n_sriov_changes];
                        return save_changes(d);
                }
        return 0;
}

/* A VF in a lease would lose its device under its holder: sriov_numvfs 0 even blocks until
 * it lets go. */
static int check_vfs_free(Manager *d, const Device *pf, LeaseError *err) {
        for (char **v = pf->virtfns; v && *v; v++) {
                const Lease *l = lease_set_find_device(d->leases, *v);

                if (l)
                        return lease_error_set(
                                err, -EBUSY, VA_ERROR_BUSY,
                                "VF %s of %s is in lease %" PRIu64 " (%s, %s): the VF count "
                                "changes only while no VF is leased; release or unprepare it "
                                "first",
                                *v, pf->address, l->id, lease_kind_to_string(l->kind),
                                l->holder ?: "no holder");
        }
        return 0;
}

/* Waits (in blocking sections) until the model has every VF with its group: the VFs' uevents
 * reach the loop while the job waits. */
static int wait_model(Manager *d, char **vfs, uint64_t timeout_usec, uint32_t **ret_groups) {
        size_t n = strv_length(vfs);
        _cleanup_free_ uint32_t *groups = calloc(n + 1, sizeof(uint32_t));
        uint64_t waited = 0;

        if (!groups)
                return -ENOMEM;
        for (;;) {
                size_t known = 0;

                for (size_t i = 0; i < n; i++) {
                        const Device *v = topology_find_device(d->model->topology, vfs[i]);

                        if (v && v->group >= 0) {
                                groups[i] = (uint32_t) v->group;
                                known++;
                        }
                }
                if (known == n) {
                        *ret_groups = TAKE_PTR(groups);
                        return 0;
                }
                if (waited >= timeout_usec)
                        return -ETIMEDOUT;
                blocking_sleep(20000);
                waited += 20000;
        }
}

/* Each VF's override names its VFIO driver before autoprobe comes back on, so that no probe in
 * between can hand it to a host driver. */
static int set_overrides(Manager *d, char **vfs, LeaseError *err) {
        for (char **v = vfs; v && *v; v++) {
                const Device *dev = topology_find_device(d->model->topology, *v);
                _cleanup_free_ char *driver = NULL;
                int k;

                if (!dev)
                        return -ENODEV;
                k = manager_pick_vfio_driver(d, dev, &driver, err);
                if (k < 0)
                        return k;
                k = binding_set_override(d->model->root, *v, driver ?: DRIVER_VFIO_PCI,
                                         d->write_timeout_usec);
                if (k < 0)
                        return lease_error_set(err, k, VA_ERROR_SRIOV_FAILED,
                                               "Setting driver_override of VF %s to %s failed: %s",
                                               *v, driver ?: DRIVER_VFIO_PCI, strerror(-k));
        }
        return 0;
}

static int step_failed(SriovJob *x, const char *step, int k) {
        return lease_error_set(&x->err, k, VA_ERROR_SRIOV_FAILED, "%s: %s failed: %s", x->change.pf,
                               step, strerror(-k));
}

static int apply_change(SriovJob *x) {
        Manager *d = x->daemon;
        const SysRoot *r = d->model->root;
        SriovChange *c = &x->change;
        int k;

        if (c->autoprobe > 0) {
                k = sriov_write_autoprobe(r, c->pf, false, d->write_timeout_usec);
                if (k < 0)
                        return step_failed(x, "writing sriov_drivers_autoprobe 0", k);
        }
        if (c->from != 0) {
                k = sriov_write_num_vfs(r, c->pf, 0, d->write_timeout_usec);
                if (k < 0)
                        return step_failed(x, "writing sriov_numvfs 0 (is a VF still open?)", k);
        }
        if (c->to == 0)
                goto done;
        k = sriov_write_num_vfs(r, c->pf, c->to, d->write_timeout_usec);
        if (k < 0)
                return lease_error_set(&x->err, k, VA_ERROR_SRIOV_FAILED,
                                       "%s: writing sriov_numvfs %" PRIu32 " failed: %s (the PF "
                                       "driver refused; its kernel log says why)",
                                       c->pf, c->to, strerror(-k));
        k = sriov_wait_vfs(r, c->pf, c->to, d->write_timeout_usec, &x->vfs);
        if (k < 0)
                return step_failed(x, "waiting for the virtfn links", k);
        k = wait_model(d, x->vfs, d->write_timeout_usec, &x->vf_groups);
        if (k < 0)
                return step_failed(x, "waiting for the VFs' uevents", k);
        if (x->vfio) {
                k = set_overrides(d, x->vfs, &x->err);
                if (k < 0)
                        return x->err.code ? k : step_failed(x, "setting the overrides", k);
        }
done:
        if (c->autoprobe > 0) {
                k = sriov_write_autoprobe(r, c->pf, true, d->write_timeout_usec);
                if (k < 0)
                        return step_failed(x, "writing sriov_drivers_autoprobe 1", k);
        }
        return 0;
}

static void sriov_run(Job *j) {
        SriovJob *x = j->data;
        Manager *d = x->daemon;
        const Device *pf = topology_find_device(d->model->topology, x->change.pf);
        const char *undo_step = NULL;
        SriovInfo info;
        int k;

        /* Decided again now that the PF's group is ours: claims of VFs may have run since. */
        if (!pf) {
                x->result = lease_error_set(&x->err, -ENODEV, VA_ERROR_NO_SUCH_DEVICE, "%s is gone",
                                            x->change.pf);
                return;
        }
        x->result = check_vfs_free(d, pf, &x->err);
        if (x->result < 0)
                return;
        k = sriov_read(d->model->root, x->change.pf, &info);
        if (k < 0) {
                x->result = step_failed(x, "reading sriov_numvfs", k);
                return;
        }
        x->change.from = info.num;
        x->change.autoprobe = x->vfio && info.autoprobe ? 1 : -1;
        if (info.num == x->change.to) {
                /* Nothing to write; VFs asked for VFIO are still prepared. */
                for (char **v = pf->virtfns; v && *v; v++)
                        if (strv_extend(&x->vfs, *v) < 0) {
                                x->result = -ENOMEM;
                                return;
                        }
                if (wait_model(d, x->vfs, 0, &x->vf_groups) < 0)
                        x->result = step_failed(x, "finding the VFs' groups", -ENODEV);
                return;
        }
        k = record_change(d, &x->change);
        if (k < 0) {
                x->result = lease_error_set(&x->err, k, VA_ERROR_STATE_FAILED,
                                            "Cannot record the SR-IOV change of %s in %s: %s",
                                            x->change.pf, SRIOV_FILE, strerror(-k));
                return;
        }
        x->result = apply_change(x);
        if (x->result < 0) {
                k = sriov_undo(d->model->root, &x->change, d->write_timeout_usec, &undo_step);
                if (k < 0) {
                        /* Kept in sriov.json: the next start tries again. */
                        (void) strextendf(&x->err.message, "; ",
                                          "putting it back to %" PRIu32 " VFs failed too (%s: %s)",
                                          x->change.from, undo_step, strerror(-k));
                        return;
                }
                (void) strextendf(&x->err.message, "; ", "it is back at %" PRIu32 " VFs",
                                  x->change.from);
        }
        k = forget_change(d, x->change.pf);
        if (k < 0 && x->result >= 0)
                x->result = lease_error_set(&x->err, k, VA_ERROR_STATE_FAILED,
                                            "Cannot update %s: %s", SRIOV_FILE, strerror(-k));
}

static void sriov_finish(SriovJob *x) {
        const LeaseError *err = x->result < 0          ? &x->err
                                : x->prepare_err.error ? &x->prepare_err
                                                       : NULL;

        if (x->reply)
                x->reply(x->userdata, err ? NULL : x->vfs, err);
        sriov_job_free(x);
}

static void vf_prepared(void *userdata, const Lease *l, const LeaseError *err) {
        SriovJob *x = userdata;

        if (err && !x->prepare_err.error)
                (void) lease_error_set(&x->prepare_err, err->error ?: -EIO, err->code,
                                       "%s: the VFs are there, but not all on VFIO: %s",
                                       x->change.pf, strna(err->message));
        if (--x->pending == 0)
                sriov_finish(x);
}

static void sriov_done(Job *j) {
        SriovJob *x = j->data;
        Manager *d = x->daemon;
        size_t n = strv_length(x->vfs);

        /* The PF read again: its change uevent comes before the kernel sets the new count
         * (sriov_enable()), and a removal announces none. */
        if (!j->cancelled)
                manager_uevent("change", x->change.pf, d);

        if (j->cancelled) {
                (void) lease_error_set(&x->err, -ESHUTDOWN, VA_ERROR_FAILED,
                                       "vfio-assignd is stopping");
                x->result = -ESHUTDOWN;
        }
        if (x->result < 0) {
                log_warning("SR-IOV change of %s to %" PRIu32 " VFs failed: %s", x->change.pf,
                            x->change.to, strna(x->err.message));
                sriov_finish(x);
                return;
        }
        log_info("%s has %zu VFs now (was %" PRIu32 ")%s", x->change.pf, n, x->change.from,
                 x->vfio && n > 0 ? "; preparing them for VFIO" : "");
        if (!x->vfio || n == 0) {
                sriov_finish(x);
                return;
        }
        /* One prepare per VF, each its group's job; the reply waits for the last. */
        x->pending = 1;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *why = NULL;
                int k;

                if (lease_set_find_group(d->leases, x->vf_groups[i]))
                        continue; /* prepared on arrival (prepare_at_boot) */
                if (asprintf(&why, "SetNumVfs of %s", x->change.pf) < 0)
                        k = -ENOMEM;
                else
                        k = manager_queue_prepare(d, x->vf_groups[i], false, why, vf_prepared, x);
                if (k < 0) {
                        LeaseError e = { .error = k,
                                         .code = VA_ERROR_FAILED,
                                         .message = (char *) "cannot queue the prepare" };

                        x->pending++;
                        vf_prepared(x, NULL, &e);
                        continue;
                }
                x->pending++;
        }
        vf_prepared(x, NULL, NULL);
}

int manager_set_num_vfs(Manager *d, const char *address, uint32_t count, const SriovOptions *o,
                        ManagerSriovReplyFn fn, void *userdata, LeaseError *err) {
        const Device *pf = topology_find_device(d->model->topology, address);
        SriovJob *x;
        int k;

        if (!pf)
                return lease_error_set(err, -ENODEV, VA_ERROR_NO_SUCH_DEVICE, "No PCI device %s",
                                       address);
        if (pf->sriov_totalvfs <= 0)
                return lease_error_set(err, -EOPNOTSUPP, VA_ERROR_INVALID_ARGUMENT,
                                       "%s is no SR-IOV physical function (no sriov_totalvfs)",
                                       address);
        if (count > (uint64_t) pf->sriov_totalvfs)
                return lease_error_set(err, -ERANGE, VA_ERROR_INVALID_ARGUMENT,
                                       "%s has at most %" PRId64
                                       " VFs (sriov_totalvfs), not %" PRIu32,
                                       address, pf->sriov_totalvfs, count);
        if (pf->group < 0 || lease_set_find_group(d->leases, (uint32_t) pf->group))
                return lease_error_set(err, -EBUSY, VA_ERROR_BUSY,
                                       "%s is %s: its VFs are changed only while the PF is "
                                       "the host's (on vfio-pci a PF needs a VF token, which "
                                       "this daemon does not hand out)",
                                       address, pf->group < 0 ? "in no IOMMU group" : "leased");
        if (!pf->driver)
                return lease_error_set(err, -ENOENT, VA_ERROR_SRIOV_FAILED,
                                       "%s has no driver: only the PF's driver can enable VFs "
                                       "(sriov_numvfs, sysfs-bus-pci)",
                                       address);
        k = check_vfs_free(d, pf, err);
        if (k < 0)
                return k;
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        *x = (SriovJob) { .daemon = d,
                          .change.to = count,
                          .change.autoprobe = -1,
                          .vfio = o->vfio,
                          .reply = fn,
                          .userdata = userdata };
        strcpy(x->change.pf, pf->address);
        k = job_enqueue(d->jobs, JOB_SRIOV, (uint32_t) pf->group, sriov_run, sriov_done, x);
        if (k < 0)
                free(x);
        return k;
}

/* At start: a change the daemon did not finish is undone; the caller never heard it happen. A
 * file that cannot be read is kept aside (sriov.json.corrupt) like state.json; one that cannot
 * be trusted stops the start. */
int manager_sriov_reconcile(Manager *d) {
        _cleanup_free_ char *error = NULL;
        SriovChange *c = NULL;
        size_t n = 0;
        int k;

        k = sriov_changes_load(d->leases->runtime_fd, &c, &n, &error);
        if (k == -EBADMSG) {
                log_error("%s: %s; kept as %s.corrupt, no unfinished SR-IOV change is undone",
                          SRIOV_FILE, strna(error), SRIOV_FILE);
                return renameat(d->leases->runtime_fd, SRIOV_FILE, d->leases->runtime_fd,
                                SRIOV_FILE ".corrupt") < 0
                               ? negative_errno()
                               : 0;
        }
        if (k < 0) {
                log_error("%s: %s", SRIOV_FILE, error ?: strerror(-k));
                return k;
        }
        d->sriov_changes = c;
        d->n_sriov_changes = n;
        for (size_t i = 0; i < d->n_sriov_changes;) {
                SriovChange *x = &d->sriov_changes[i];
                const char *step = NULL;

                k = sriov_undo(d->model->root, x, d->write_timeout_usec, &step);
                if (k < 0) {
                        log_warning("%s: undoing the unfinished change to %" PRIu32
                                    " VFs failed (%s: %s); it is tried again at the next start",
                                    x->pf, x->to, step, strerror(-k));
                        i++;
                        continue;
                }
                log_notice("%s: the change to %" PRIu32 " VFs was not finished when vfio-assignd "
                           "stopped: back at %" PRIu32 " VFs",
                           x->pf, x->to, x->from);
                *x = d->sriov_changes[--d->n_sriov_changes];
        }
        return save_changes(d);
}
