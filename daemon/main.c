/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "daemon.h"
#include "introspect.h"
#include "log.h"
#include "names.h"
#include "report.h"
#include "udev.h"
#include "util.h"

static const char *arg_sysfs_root = "/";
static const char *arg_dev_root = "/";
static const char *arg_uevent_fifo = NULL;
static const char *arg_pci_ids = PCI_IDS_PATH;
static bool arg_pci_ids_set = false;
static const char *arg_runtime_dir = NULL;
static const char *arg_state_dir = NULL;
static char **arg_policy_dirs = NULL;
static enum { ACTION_RUN, ACTION_REPORT, ACTION_INTROSPECT } arg_action = ACTION_RUN;

static void help(void) {
        printf("Usage: %s [OPTIONS]\n"
               "Tracks the host's IOMMU groups and PCI devices and serves them on the system bus as\n"
               "%s.\n\n"
               "  -h --help               Show this help and exit\n"
               "     --version            Show the version and exit\n"
               "     --report             Print the host report as JSON and exit (no bus)\n"
               "     --bus-introspect     Print the D-Bus introspection XML and exit\n"
               "     --sysfs-root=DIR     Read sys/ and proc/ under DIR instead of / (tests, demos)\n"
               "     --dev-root=DIR       Look for dev/ under DIR instead of /\n"
               "     --pci-ids=FILE       The pci.ids database for names (default %s)\n"
               "     --uevent-fifo=PATH   Also read \"ACTION ADDRESS\" lines from the FIFO at PATH and\n"
               "                          handle each like a uevent (for tests on a fake tree)\n"
               "     --runtime-dir=DIR    Lease state (default $RUNTIME_DIRECTORY or /run/vfio-assignd)\n"
               "     --state-dir=DIR      Persistent prepares (default $STATE_DIRECTORY or\n"
               "                          /var/lib/vfio-assignd)\n"
               "     --policy-dir=DIR     Read policy from DIR; repeat for several, later ones override\n"
               "                          (default %s, %s, %s)\n"
               "\nSee vfio-assignd(8).\n",
               program_invocation_short_name, BUS_NAME, PCI_IDS_PATH, POLICY_DIR_VENDOR, POLICY_DIR_ETC,
               POLICY_DIR_RUN);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_REPORT,
                ARG_INTROSPECT,
                ARG_SYSFS_ROOT,
                ARG_DEV_ROOT,
                ARG_PCI_IDS,
                ARG_UEVENT_FIFO,
                ARG_RUNTIME_DIR,
                ARG_STATE_DIR,
                ARG_POLICY_DIR,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "report", no_argument, NULL, ARG_REPORT },
                { "bus-introspect", no_argument, NULL, ARG_INTROSPECT },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "dev-root", required_argument, NULL, ARG_DEV_ROOT },
                { "pci-ids", required_argument, NULL, ARG_PCI_IDS },
                { "uevent-fifo", required_argument, NULL, ARG_UEVENT_FIFO },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "policy-dir", required_argument, NULL, ARG_POLICY_DIR },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
                        return 0;
                case ARG_REPORT:
                        arg_action = ACTION_REPORT;
                        break;
                case ARG_INTROSPECT:
                        arg_action = ACTION_INTROSPECT;
                        break;
                case ARG_SYSFS_ROOT:
                        arg_sysfs_root = optarg;
                        break;
                case ARG_DEV_ROOT:
                        arg_dev_root = optarg;
                        break;
                case ARG_PCI_IDS:
                        arg_pci_ids = optarg;
                        arg_pci_ids_set = true;
                        break;
                case ARG_UEVENT_FIFO:
                        arg_uevent_fifo = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_POLICY_DIR:
                        if (strv_extend(&arg_policy_dirs, optarg) < 0)
                                return -ENOMEM;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument \"%s\"; see --help\n", program_invocation_short_name,
                        argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Paths the administrator named that are not there: the daemon runs without them, and says so. */
static void warn_missing_inputs(void) {
        for (char **dir = arg_policy_dirs; dir && *dir; dir++)
                if (access(*dir, F_OK) < 0)
                        log_warning("--policy-dir %s: %s; no policy is read from it", *dir, strerror(errno));
        if (arg_pci_ids && access(arg_pci_ids, R_OK) < 0)
                log_warning("%s %s: %s; devices are shown without vendor and device names",
                            arg_pci_ids_set ? "--pci-ids" : "The PCI ID database", arg_pci_ids, strerror(errno));
}

static int model_open(Model **ret) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(pci_names_freep) PciNames *names = NULL;
        Model *m;
        int k;

        k = sysroot_open(arg_sysfs_root, arg_dev_root, &root);
        if (k < 0) {
                /* Name the one that failed. */
                _cleanup_close_ int fd = open(arg_sysfs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                log_error("Cannot open the %s root %s: %s", fd < 0 ? "sysfs" : "dev",
                          fd < 0 ? arg_sysfs_root : arg_dev_root, strerror(-k));
                return k;
        }
        k = pci_names_new(sysroot_path(root), arg_pci_ids, &names);
        if (k < 0)
                return k;
        k = model_new(root, names, &m);
        if (k < 0)
                return k;
        root = NULL;
        names = NULL;
        *ret = m;
        return 0;
}

static void log_model_errors(const Model *m) {
        for (char **e = m->host->errors; e && *e; e++)
                log_warning("%s", *e);
        for (char **e = m->errors; e && *e; e++)
                log_warning("%s", *e);
        for (char **e = m->topology->errors; e && *e; e++)
                log_warning("%s", *e);
}

static int run_report(void) {
        _cleanup_(model_freep) Model *m = NULL;
        int k;

        k = model_open(&m);
        if (k < 0)
                return k;
        k = model_load(m);
        if (k < 0) {
                log_error("Cannot read the host: %s", strerror(-k));
                return k;
        }
        k = report_write(m, stdout);
        if (k >= 0 && fflush(stdout) != 0)
                k = -EIO;
        if (k < 0)
                log_error("Cannot write the report: %s", strerror(-k));
        return k;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) daemon_reload_policy(userdata);
        return 0;
}

static const char *const change_names[] = {
        [CHANGE_DEVICE_ADDED] = "added device",
        [CHANGE_DEVICE_REMOVED] = "removed device",
        [CHANGE_DEVICE_CHANGED] = "changed device",
        [CHANGE_GROUP_ADDED] = "added group",
        [CHANGE_GROUP_REMOVED] = "removed group",
        [CHANGE_GROUP_CHANGED] = "changed group",
};

/* Keeps leased groups whole: a host driver that binds to a member (a kernel upgrade adding a
 * driver is the known case) is undone and reported; a device that should go to vfio-pci as soon
 * as it appears (persistent prepare, prepare_at_boot) goes there. */
static void enforce_leases(Daemon *d, const char *action, const char *address) {
        const Device *dev = topology_find_device(d->model->topology, address);
        _cleanup_free_ char *message = NULL;
        Lease *l;
        int k;

        if (!dev || !d->leases)
                return;
        l = lease_set_find_device(d->leases, address);
        if (l) {
                k = lease_set_enforce_device(d->leases, address, dev->driver, &message);
                if (k > 0) {
                        log_warning("%s", message);
                        (void) sd_bus_emit_signal(d->bus, OBJ_ROOT, IFACE_MANAGER, "DriverReverted", "ssus", address,
                                                  strempty(dev->driver), l->group, message);
                }
                return;
        }
        if (!streq(action, "add") || dev->group < 0)
                return;
        k = lease_set_add_member(d->leases, dev, &message);
        if (k != 0) {
                if (k > 0)
                        log_info("%s", message);
                else
                        log_warning("%s joining its leased group: %s", address, strerror(-k));
                return;
        }
        if (!device_is_endpoint(dev))
                return;
        if (lease_set_is_persistent(d->leases, address, dev->vendor, dev->device) ||
            policy_prepare_at_boot(d->policy, dev)) {
                LeaseRequest req = { .kind = LEASE_PREPARE, .group = (uint32_t) dev->group, .unattended = true,
                                     .persistent = lease_set_is_persistent(d->leases, address, dev->vendor, dev->device) };
                LeaseError err = {};

                k = lease_set_acquire(d->leases, &req, &l, &err);
                if (l) {
                        (void) lease_bus_attach(d, l);
                        (void) lease_bus_emit_added(d, l);
                }
                if (k < 0)
                        log_warning("Preparing %s on arrival failed: %s", address, err.message ?: strerror(-k));
                else
                        log_info("%s appeared and was prepared for vfio-pci (IOMMU group %" PRIu32 ")", address, l->group);
                lease_error_clear(&err);
        }
}

static void emit_changes(Daemon *d, const char *action, const char *address, ChangeList *changes) {
        int k;

        for (size_t i = 0; i < changes->n; i++) {
                const Change *c = &changes->changes[i];

                if (c->kind <= CHANGE_DEVICE_CHANGED)
                        log_debug("%s: %s %s", action, change_names[c->kind], c->address);
                else
                        log_debug("%s: %s %u", action, change_names[c->kind], c->group);
        }
        k = bus_emit_changes(d, changes);
        if (k < 0)
                log_warning("%s %s: cannot emit signals: %s", action, address, strerror(-k));
        change_list_clear(changes);
}

/* The kernel updates a group's member list and a device's own links one after the other, and a
 * uevent can come in between (a remove while iommu_groups/N/devices still lists the device). What
 * was read half-done is read again after 50 ms, doubling, seven times (6.35 s in all); after that
 * it is what the kernel says it is, and the next event of that group reads it again anyway. */
#define SETTLE_FIRST_USEC (50 * 1000ULL)
#define SETTLE_ATTEMPTS 7

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        ChangeList changes = {};
        int k;

        k = model_settle(d->model, &changes);
        if (k < 0)
                log_warning("Cannot read unsettled IOMMU groups again: %s", strerror(-k));
        emit_changes(d, "settle", "", &changes);
        if (model_is_settled(d->model) || k < 0) {
                d->settle_attempt = 0;
                return 0;
        }
        if (++d->settle_attempt >= SETTLE_ATTEMPTS) {
                _cleanup_free_ char *what = NULL;

                for (size_t i = 0; i < d->model->n_unsettled_groups; i++)
                        (void) strextendf(&what, ", ", "IOMMU group %" PRIu32, d->model->unsettled_groups[i]);
                for (char **a = d->model->unsettled_devices; a && *a; a++)
                        (void) strextendf(&what, ", ", "%s", *a);
                log_warning("The kernel's view of %s still disagrees with itself; keeping what it says now",
                            strna(what));
                model_forget_unsettled(d->model);
                d->settle_attempt = 0;
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, SETTLE_FIRST_USEC << d->settle_attempt);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void schedule_settle(Daemon *d) {
        int k;

        if (model_is_settled(d->model))
                return;
        if (d->settle) {
                int enabled = SD_EVENT_OFF;

                (void) sd_event_source_get_enabled(d->settle, &enabled);
                if (enabled != SD_EVENT_OFF)
                        return; /* already waiting */
                k = sd_event_source_set_time_relative(d->settle, SETTLE_FIRST_USEC);
                if (k >= 0)
                        k = sd_event_source_set_enabled(d->settle, SD_EVENT_ONESHOT);
        } else
                /* 1 ms accuracy: sd-event's default of 250 ms would dwarf the first 50 ms. */
                k = sd_event_add_time_relative(d->event, &d->settle, CLOCK_MONOTONIC, SETTLE_FIRST_USEC, 1000,
                                               on_settle, d);
        if (k < 0)
                log_warning("Cannot schedule reading unsettled IOMMU groups again: %s", strerror(-k));
        d->settle_attempt = 0;
}

/* Every uevent, whatever its source, ends here. */
static void on_uevent(const char *action, const char *address, void *userdata) {
        Daemon *d = userdata;
        ChangeList changes = {};
        int k;

        k = model_process_event(d->model, action, address, &changes);
        if (k < 0)
                log_warning("%s %s: cannot refresh the model: %s", action, address, strerror(-k));
        emit_changes(d, action, address, &changes);
        schedule_settle(d);
        if (streq(action, "add") || streq(action, "bind") || streq(action, "unbind"))
                enforce_leases(d, action, address);
}

/* Stuck groups are looked at often, cheaply (is the group still open elsewhere?), and a real
 * release attempt, which writes to sysfs, is made at most every 30 s per group. A group that is
 * stuck only because another process holds /dev/vfio/N is tried again as soon as that process
 * closes it (lease_bus_wait_for_close()), not on the next tick. */
#define STUCK_CHECK_USEC (2 * 1000000ULL)
#define STUCK_RETRY_USEC (30 * 1000000ULL)

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
        Daemon *d = userdata;
        bool waiting = false;
        uint64_t now;

        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        for (size_t i = 0; d->leases && i < d->leases->n;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                Lease *l = d->leases->leases[i];
                uint32_t group = l->group;

                if (l->state != LEASE_STUCK || (!l->waiting && now < l->retry_after)) {
                        i++;
                        continue;
                }
                if (lease_group_busy(&d->leases->ctx, l)) {
                        waiting = true;
                        i++;
                        continue;
                }
                if (lease_bus_release(d, l, &error) >= 0)
                        log_info("IOMMU group %" PRIu32 " is back on its host drivers", group);
                else {
                        l->retry_after = now + STUCK_RETRY_USEC; /* still stuck; it stays in the set */
                        i++;
                }
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

/* Some /dev/vfio/N was closed for the last time by someone (IN_CLOSE_*). */
static int on_group_closed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;

        /* Which group it was does not matter: checking the stuck ones is cheap. */
        while (read(fd, &u, sizeof(u)) > 0)
                ;
        d->close_attempt = 0;
        lease_bus_kick_stuck(d);
        return 0;
}

static int setup_close_watch(Daemon *d) {
        int k;

        d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (d->inotify_fd < 0)
                return negative_errno();
        k = sd_event_add_io(d->event, &d->inotify_source, d->inotify_fd, EPOLLIN, on_group_closed, d);
        if (k < 0)
                return k;
        /* 1 ms accuracy, not sd-event's default 250 ms: a kick must run at once. */
        return sd_event_add_time_relative(d->event, &d->stuck_timer, CLOCK_MONOTONIC, STUCK_CHECK_USEC, 1000,
                                          on_retry_stuck, d);
}

static void release_stored_fds(void *userdata, Lease *l) {
        if (l->kind == LEASE_CLAIM)
                fdstore_remove_fds(l->id);
}

/* A lease read back at start gets the fds systemd kept for it: its holder's pidfd, and for a
 * claim its container and group, which it can hand out again. */
static void adopt_stored_fds(void *userdata, Lease *l) {
        Daemon *d = userdata;

        fdstore_adopt(d->stored, l);
}

/* What the daemon binds on its own is judged as root's own prepare of the group would be: a
 * host-critical member only when a rule names it, no blocker, no rule denying everyone. An entry
 * in persistent.json or a prepare_at_boot rule is no rule naming the root disk. */
static int guard_unattended(void *userdata, uint32_t group, char **ret_why) {
        static char *const root_groups[] = { (char *) "root", NULL };
        const PolicyCaller root = { .uid = 0, .user = "root", .groups = root_groups };
        PolicyVerdict v = POLICY_VERDICT_INIT;
        Daemon *d = userdata;
        const Group *g = topology_find_group(d->model->topology, group);
        int k;

        if (!g)
                return asprintf(ret_why, "IOMMU group %" PRIu32 " does not exist", group) < 0 ? -ENOMEM : -ENOENT;
        if (!d->policy)
                return asprintf(ret_why, "no policy is in force") < 0 ? -ENOMEM : -EPERM;
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

/* A claim's holder is still there if the owner of its unique name is the process that claimed,
 * on the same bus instance: after a bus restart another user may own the same name. The uid and
 * pid are the bus's record of the connection (no augmenting from /proc). */
static bool holder_alive(void *userdata, Lease *l) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        Daemon *d = userdata;
        uid_t uid;
        pid_t pid;


        if (!l->holder || sd_bus_get_name_creds(d->bus, l->holder, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &creds) < 0 ||
            sd_bus_creds_get_euid(creds, &uid) < 0 || sd_bus_creds_get_pid(creds, &pid) < 0)
                return false;
        return lease_holder_is(l, d->bus_id, uid, (uint32_t) pid);
}

static int setup_leases(Daemon *d) {
        _cleanup_strv_free_ char **log = NULL;
        _cleanup_free_ char *why = NULL;
        const char *runtime = arg_runtime_dir ?: getenv("RUNTIME_DIRECTORY") ?: "/run/vfio-assignd";
        const char *state = arg_state_dir ?: getenv("STATE_DIRECTORY") ?: "/var/lib/vfio-assignd";
        int runtime_fd = -1, state_fd = -1, k;

        /* systemd may pass several directories separated by ':'; the first is ours. */
        k = state_open_dir(runtime, &runtime_fd, &why);
        if (k < 0) {
                log_error("Cannot use the runtime directory %s: %s", runtime, why ?: strerror(-k));
                return k;
        }
        why = mfree(why);
        k = state_open_dir(state, &state_fd, &why);
        if (k < 0) {
                log_error("Cannot use the state directory %s: %s", state, why ?: strerror(-k));
                safe_close(runtime_fd);
                return k;
        }
        k = lease_set_new(d->model, runtime_fd, state_fd, &d->leases);
        if (k < 0) {
                safe_close(runtime_fd);
                safe_close(state_fd);
                return k;
        }
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
                lease_bus_wait_for_close(d, l);
                log_info("Lease %" PRIu64 ": IOMMU group %" PRIu32 " %s, %s%s%s", l->id, l->group,
                         lease_kind_to_string(l->kind), lease_state_to_string(l->state), l->holder ? ", held by " : "",
                         strempty(l->holder));
        }
        /* prepare_at_boot rules: groups that should already be on vfio-pci. */
        for (size_t i = 0; i < d->model->topology->n_devices; i++) {
                const Device *dev = d->model->topology->devices[i];

                if (dev->group >= 0 && !lease_set_find_group(d->leases, (uint32_t) dev->group) &&
                    policy_prepare_at_boot(d->policy, dev))
                        enforce_leases(d, "add", dev->address);
        }
        return 0;
}

/* Without the bus nobody can reach the leases, and the holders' exits go unseen: stop, and let
 * the service manager start us again (the leases are on disk). */
static int on_bus_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        log_error("Lost the connection to the system bus; exiting");
        return sd_event_exit(d->event, -ENOTCONN);
}

static void daemon_done(Daemon *d) {
        d->settle = sd_event_source_disable_unref(d->settle);
        d->stuck_timer = sd_event_source_disable_unref(d->stuck_timer);
        d->inotify_source = sd_event_source_disable_unref(d->inotify_source);
        d->inotify_fd = safe_close(d->inotify_fd);
        if (d->leases)
                for (size_t i = 0; i < d->leases->n; i++)
                        lease_bus_forget(d->leases->leases[i]);
        /* The leases stay on disk and the groups on vfio-pci: the next start picks them up. */
        d->leases = lease_set_free(d->leases);
        d->polkit = polkit_registry_free(d->polkit);
        d->policy = policy_free(d->policy);
        strv_free(d->policy_errors);
        d->policy_errors = NULL;
}

static int run_daemon(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        sd_id128_t bus_id;
        _cleanup_(model_freep) Model *model = NULL;
        _cleanup_(udev_watch_freep) UdevWatch *udev = NULL;
        _cleanup_(fifo_watch_freep) FifoWatch *fifo = NULL;
        _cleanup_(daemon_done) Daemon d = { .inotify_fd = -1, .close_attempt = CLOSE_ATTEMPTS };
        char *default_dirs[] = { (char *) POLICY_DIR_VENDOR, (char *) POLICY_DIR_ETC, (char *) POLICY_DIR_RUN, NULL };
        sigset_t mask;
        int k;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        k = sd_event_default(&event);
        if (k < 0)
                goto fail;
        /* A NULL handler exits the loop with code 0: a clean stop. */
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGHUP, on_sighup, &d);
        (void) sd_event_set_watchdog(event, true);
        d.event = event;

        d.policy_dirs = arg_policy_dirs ?: default_dirs;
        warn_missing_inputs();
        if (daemon_reload_policy(&d) < 0)
                /* Nothing to keep yet. The built-in default would allow what a rule in the
                 * unreadable file may forbid: no policy is in force, claims and prepares are
                 * refused (PolicyInvalid) until a reload succeeds. The leases on disk are still
                 * looked after. */
                log_error("No policy is in force: claims and prepares are refused until the policy "
                          "files are fixed and reloaded (SIGHUP or assignctl policy reload)");
        k = polkit_registry_new(event, &d.polkit);
        if (k < 0)
                goto fail;

        k = model_open(&model);
        if (k < 0)
                return k;
        d.model = model;

        /* The name first: a second instance must find it taken before it touches anything (the
         * state file, a persistent prepare, a stuck group). Requests wait in the socket until the
         * loop runs. */
        k = bus_errors_register();
        if (k < 0)
                goto fail;
        k = sd_bus_open_system(&bus);
        if (k < 0) {
                log_error("Cannot connect to the system bus: %s", strerror(-k));
                return k;
        }
        d.bus = bus;
        k = bus_register_objects(&d);
        if (k < 0)
                goto fail;
        k = sd_bus_request_name(bus, BUS_NAME, 0);
        if (k == -EEXIST) {
                log_error("Another vfio-assignd already owns %s on the system bus; exiting without "
                          "touching anything", BUS_NAME);
                return k;
        }
        if (k < 0) {
                log_error("Cannot own %s on the system bus: %s", BUS_NAME, strerror(-k));
                return k;
        }
        k = sd_bus_get_bus_id(bus, &bus_id);
        if (k < 0) {
                log_error("Cannot get the id of the system bus: %s", strerror(-k));
                return k;
        }
        sd_id128_to_string(bus_id, d.bus_id);
        k = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_bus_disconnected, &d);
        if (k < 0)
                goto fail;

        /* Monitor first, then enumerate, so no uevent falls in a gap. udev events describe the
         * real /sys only; on a fake tree the FIFO is the event source. */
        if (sysroot_is_host(model->root)) {
                k = udev_watch_new(event, on_uevent, &d, &udev);
                if (k < 0) {
                        log_error("Cannot listen to uevents: %s", strerror(-k));
                        return k;
                }
                log_info("Listening to %s uevents for pci", udev_watch_uses_udevd(udev) ? "udev" : "kernel");
        }
        if (arg_uevent_fifo) {
                k = fifo_watch_new(event, arg_uevent_fifo, on_uevent, &d, &fifo);
                if (k < 0) {
                        log_error("Cannot open the uevent FIFO %s: %s", arg_uevent_fifo, strerror(-k));
                        return k;
                }
        }

        k = model_load(model);
        if (k < 0) {
                log_error("Cannot read the host under %s: %s", arg_sysfs_root, strerror(-k));
                return k;
        }
        log_model_errors(model);
        log_info("%zu PCI devices in %zu IOMMU groups; interrupt remapping %s", model->topology->n_devices,
                 model->topology->n_groups, ir_verdict_to_string(model->host->ir));

        k = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (k < 0)
                goto fail;
        k = setup_close_watch(&d);
        if (k < 0)
                goto fail;
        k = setup_leases(&d);
        if (k < 0) {
                log_error("Cannot set up the leases: %s", strerror(-k));
                return k;
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Serving " BUS_NAME);

        k = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        if (k < 0)
                goto fail;
        log_info("Stopped.");
        return 0;
fail:
        log_error("vfio-assignd: %s", strerror(-k));
        return k;
}

int main(int argc, char *argv[]) {
        int k;

        log_setup();
        k = parse_argv(argc, argv);
        if (k <= 0)
                return k < 0 ? 2 : 0;

        switch (arg_action) {
        case ACTION_REPORT:
                k = run_report();
                break;
        case ACTION_INTROSPECT:
                k = bus_print_introspection(stdout);
                if (k < 0)
                        log_error("Cannot render the introspection data: %s", strerror(-k));
                break;
        default:
                k = run_daemon();
        }
        strv_free(arg_policy_dirs);
        return k < 0 ? 1 : 0;
}
