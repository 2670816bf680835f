/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl claim, release, prepare, unprepare and leases: the verbs that move groups. A claim
 * belongs to our bus connection (the daemon tracks the holder), so `claim` keeps the connection
 * open for as long as it should hold the group. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "assignctl.h"
#include "holders.h"
#include "memory.h"
#include "names.h"
#include "output.h"
#include "util.h"

#define IFACE_OBJECT_MANAGER "org.freedesktop.DBus.ObjectManager"
#define IFACE_PROPERTIES "org.freedesktop.DBus.Properties"

/* Bounds on what the daemon's answers make us hold: a group has a handful of functions (a PCIe
 * slot has at most 256 with ARI), and a host a few dozen leases. */
#define LEASE_DEVICES_MAX 256
#define LEASES_MAX 4096

/* ---- arguments ---- */

typedef struct Target {
        char address[PCI_ADDRESS_STRLEN]; /* "" when a number was given */
        uint64_t number;
} Target;

/* ADDRESS, or a decimal number of at most max. */
static int parse_target(const char *arg, uint64_t max, const char *what, Target *ret) {
        _cleanup_free_ char *shown = NULL;
        Target t = {};
        int r;

        if (strchr(arg, ':')) {
                r = parse_address_arg(arg, t.address);
                if (r != EXIT_OK)
                        return r;
        } else if (safe_atou64(arg, 10, &t.number) < 0 || t.number > max) {
                shown = strcut(arg, ARG_SHOWN_MAX);
                return fail(EXIT_USAGE, NULL,
                            "Invalid argument '%s': expected a PCI address (DDDD:BB:DD.F) or %s.",
                            strna(shown), what);
        }
        *ret = t;
        return EXIT_OK;
}

/* ---- leases on the bus ---- */

typedef struct LeaseInfo {
        uint64_t id;
        char *path;
        uint32_t group;
        char *kind, *state, *holder;
        char *owner;   /* NULL or "": none */
        char *backend; /* NULL: a daemon older than the Backend property */
        uint32_t uid;
        char **devices;
        Holder *holders; /* a stuck lease's: the daemon's list and ours (holders_for()) */
        size_t n_holders;
} LeaseInfo;

static void lease_info_done(LeaseInfo *l) {
        free(l->path);
        free(l->kind);
        free(l->state);
        free(l->holder);
        free(l->owner);
        free(l->backend);
        strv_free(l->devices);
        free(l->holders);
        *l = (LeaseInfo) {};
}

static void lease_info_array_free(LeaseInfo *l, size_t n) {
        for (size_t i = 0; l && i < n; i++)
                lease_info_done(&l[i]);
        free(l);
}

static int read_string_variant(sd_bus_message *m, char **field) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "v", "s", &s);
        return r < 0 ? r : set_string(field, s);
}

/* Adds a holder unless its pid is listed; keeps the list in pid order. */
static int holder_add(LeaseInfo *l, uint32_t pid, const char *comm) {
        Holder *grown;
        size_t i = 0;

        while (i < l->n_holders && l->holders[i].pid < pid)
                i++;
        if ((i < l->n_holders && l->holders[i].pid == pid) || l->n_holders >= HOLDERS_MAX)
                return 0;
        grown = realloc(l->holders, (l->n_holders + 1) * sizeof(Holder));
        if (!grown)
                return -ENOMEM;
        l->holders = grown;
        memmove(&l->holders[i + 1], &l->holders[i], (l->n_holders - i) * sizeof(Holder));
        l->holders[i].pid = pid;
        snprintf(l->holders[i].comm, sizeof(l->holders[i].comm), "%s", comm);
        l->n_holders++;
        return 0;
}

/* Holders a(us): pid, command. */
static int read_holders(sd_bus_message *m, LeaseInfo *l) {
        const char *comm;
        uint32_t pid;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "a(us)");
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "(us)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(us)", &pid, &comm)) > 0)
                r = holder_add(l, pid, comm);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* The daemon lists only the processes it may see: its unit hides other users' (ProtectProc=)
 * and it may not read their fds (no CAP_SYS_PTRACE). We look too, for a stuck lease, at the
 * nodes its release waits for: dev/vfio/N and each member's cdev dev/vfio/devices/vfioM (the M of
 * its sys/bus/pci/devices/BDF/vfio-dev/vfioM), under --root. Best effort: what we cannot read
 * is what the daemon said. */
static int add_our_holders(LeaseInfo *l) {
        _cleanup_strv_free_ char **nodes = NULL;
        _cleanup_free_ Holder *found = NULL;
        const char *root = root_prefix();
        size_t n = 0;
        int r;

        if (!l->state || !streq(l->state, "stuck"))
                return 0;
        if (strv_extendf(&nodes, "%s/dev/vfio/%" PRIu32, root, l->group) < 0)
                return -ENOMEM;
        for (char **d = l->devices; d && *d; d++) {
                _cleanup_closedir_ DIR *dir = NULL;
                _cleanup_free_ char *p = NULL;
                struct dirent *de;

                if (!pci_address_is_canonical(*d) ||
                    asprintf(&p, "%s/sys/bus/pci/devices/%s/vfio-dev", root, *d) < 0)
                        continue;
                dir = opendir(p);
                while (dir && (de = readdir(dir)))
                        if (strneq(de->d_name, "vfio", 4) && filename_is_valid(de->d_name) &&
                            strv_extendf(&nodes, "%s/dev/vfio/devices/%s", root, de->d_name) < 0)
                                return -ENOMEM;
        }
        /* As /proc/PID/fd links name them: resolved. */
        for (char **p = nodes; *p; p++) {
                char *real = realpath(*p, NULL);

                if (real) {
                        free(*p);
                        *p = real;
                }
        }
        r = holders_scan(nodes, &found, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = holder_add(l, found[i].pid, found[i].comm);
        return r == -ENOMEM ? r : 0;
}

/* Properties.GetAll of a lease; unknown keys are skipped, so a newer daemon is fine. */
static int read_lease_properties(sd_bus_message *m, LeaseInfo *l) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "Id"))
                        r = sd_bus_message_read(m, "v", "t", &l->id);
                else if (streq(key, "Group"))
                        r = sd_bus_message_read(m, "v", "u", &l->group);
                else if (streq(key, "Uid"))
                        r = sd_bus_message_read(m, "v", "u", &l->uid);
                else if (streq(key, "Kind"))
                        r = read_string_variant(m, &l->kind);
                else if (streq(key, "State"))
                        r = read_string_variant(m, &l->state);
                else if (streq(key, "Holder"))
                        r = read_string_variant(m, &l->holder);
                else if (streq(key, "Owner"))
                        r = read_string_variant(m, &l->owner);
                else if (streq(key, "Backend"))
                        r = read_string_variant(m, &l->backend);
                else if (streq(key, "Devices")) {
                        strv_free(l->devices);
                        l->devices = NULL;
                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &l->devices);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0 && strv_length(l->devices) > LEASE_DEVICES_MAX)
                                r = -E2BIG;
                } else if (streq(key, "Holders"))
                        r = read_holders(m, l);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int lease_get(sd_bus *bus, const char *path, LeaseInfo *l, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, path, IFACE_PROPERTIES, "GetAll", error, &reply, "s",
                               IFACE_LEASE);
        if (r < 0)
                return r;
        r = read_lease_properties(reply, l);
        if (r >= 0)
                r = add_our_holders(l);
        if (r < 0)
                return r;
        return set_string(&l->path, path);
}

/* ListLeases: a(tousssu) id, path, group, kind, state, holder, uid. */
static int list_leases(sd_bus *bus, LeaseInfo **ret, size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        LeaseInfo *l = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ListLeases", &error, &reply,
                               "");
        if (r < 0)
                return fail_call("ListLeases", &error, r);
        r = sd_bus_message_enter_container(reply, 'a', "(tousssu)");
        while (r >= 0) {
                const char *path, *kind, *state, *holder;
                LeaseInfo *grown, *li;
                uint64_t id;
                uint32_t group, uid;

                r = sd_bus_message_read(reply, "(tousssu)", &id, &path, &group, &kind, &state,
                                        &holder, &uid);
                if (r <= 0)
                        break;
                if (n >= LEASES_MAX) {
                        r = -E2BIG;
                        break;
                }
                grown = realloc(l, (n + 1) * sizeof(LeaseInfo));
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                l = grown;
                li = &l[n++];
                *li = (LeaseInfo) { .id = id, .group = group, .uid = uid };
                if (set_string(&li->path, path) < 0 || set_string(&li->kind, kind) < 0 ||
                    set_string(&li->state, state) < 0 || set_string(&li->holder, holder) < 0)
                        r = -ENOMEM;
        }
        if (r < 0) {
                lease_info_array_free(l, n);
                return fail_errno(EXIT_FAILED, r, "Malformed reply to ListLeases: %m");
        }
        *ret = l;
        *ret_n = n;
        return EXIT_OK;
}

/* [{"pid", "command"}] */
static json_object *holders_to_json(const LeaseInfo *l) {
        _cleanup_json_ json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < l->n_holders; i++) {
                json_object *h = json_object_new_object();

                if (!h || json_object_array_add(a, h) < 0) {
                        json_object_put(h);
                        return NULL;
                }
                if (json_add_new(h, "pid", json_object_new_int64(l->holders[i].pid)) < 0 ||
                    json_add_new(h, "command", json_object_new_string(l->holders[i].comm)) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

/* {"id", "path", "group", "kind", "backend" (null when the daemon does not say), "state", "holder"
 * and "owner" (null when none), "uid", "devices", "holders" (the processes a stuck release waits
 * for)} */
static json_object *lease_info_to_json(const LeaseInfo *l) {
        _cleanup_json_ json_object *o = json_object_new_object(), *devices = NULL;
        _cleanup_json_ json_object *holders = holders_to_json(l);

        devices = json_object_new_array();
        if (!o || !devices || !holders)
                return NULL;
        for (char **d = l->devices; d && *d; d++) {
                json_object *s = json_object_new_string(*d);

                if (!s || json_object_array_add(devices, s) < 0) {
                        json_object_put(s);
                        return NULL;
                }
        }
        if (json_add(o, "id", json_object_new_uint64(l->id)) < 0 ||
            json_add(o, "path", json_object_new_string(strempty(l->path))) < 0 ||
            json_add(o, "group", json_object_new_int64(l->group)) < 0 ||
            json_add(o, "kind", json_object_new_string(strempty(l->kind))) < 0 ||
            json_add(o, "backend",
                     isempty(l->backend) ? NULL : json_object_new_string(l->backend)) < 0 ||
            json_add(o, "state", json_object_new_string(strempty(l->state))) < 0 ||
            json_add(o, "holder", isempty(l->holder) ? NULL : json_object_new_string(l->holder)) <
                    0 ||
            json_add(o, "owner", isempty(l->owner) ? NULL : json_object_new_string(l->owner)) < 0 ||
            json_add(o, "uid", json_object_new_int64(l->uid)) < 0 ||
            json_add(o, "devices", TAKE_PTR(devices)) < 0 ||
            json_add(o, "holders", TAKE_PTR(holders)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static int print_lease(const char *verb, const LeaseInfo *l, FILE *f, const char *suffix) {
        _cleanup_json_ json_object *o = lease_info_to_json(l);

        if (!o)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        if (arg_json != JSON_OFF)
                return print_json_to(f, o);
        return printed(output_lease(f, verb, o, suffix));
}

static int release_lease(sd_bus *bus, const char *context, const LeaseInfo *l) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, l->path, IFACE_LEASE, "Release", &error, NULL,
                               "a{sv}", 0);
        if (r < 0)
                return fail_call(context, &error, r);
        return EXIT_OK;
}

/* ---- claim ---- */

typedef struct Claim {
        sd_bus *bus;
        sd_event *event;
        const char *context;
        LeaseInfo lease;
        sigset_t saved_mask;
        sd_bus_slot *check; /* asking a new daemon about our lease */
        pid_t child;        /* --exec: the command while it runs */
        int status;         /* --exec: its exit code, 128 + signal when killed */
        int lost;           /* EXIT_OK while we hold the lease, then our exit code */
        bool done;          /* leave the event loop */
} Claim;

/* Not sd_event_loop()/sd_event_exit(): on exit the event loop runs the exit source that
 * sd_bus_attach_event() installs, which closes the bus, and we still have to call Release. */
static int run_loop(Claim *c) {
        while (!c->done) {
                int r = sd_event_run(c->event, UINT64_MAX);

                if (r < 0)
                        return fail_errno(EXIT_FAILED, r, "Event loop failed: %m");
        }
        return EXIT_OK;
}

/* The lease ended without us: say how, once. With --exec we still wait for the command: it
 * decides what to do without its devices, and our exit status tells that the lease was lost. */
static void lease_lost(Claim *c, int exit_code, const char *how) {
        if (c->lost != EXIT_OK)
                return;
        c->lost = fail(exit_code, NULL, "%s: %s: lease %" PRIu64 " on IOMMU group %" PRIu32 " %s",
                       program_invocation_short_name, c->context, c->lease.id, c->lease.group, how);
        if (c->child <= 0)
                c->done = true;
}

static int on_lease_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Claim *c = userdata;
        const char *path;

        if (sd_bus_message_read(m, "o", &path) >= 0 && c->lease.path && streq(path, c->lease.path))
                lease_lost(c, EXIT_FAILED, "was released by someone else");
        return 0;
}

static int on_lease_checked(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        _cleanup_(lease_info_done) LeaseInfo now = {};
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        Claim *c = userdata;
        const char *me = NULL;

        c->check = sd_bus_slot_unref(c->check);
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE))
                lease_lost(c, EXIT_FAILED, "was given back by the restarted daemon");
        else if (e || read_lease_properties(reply, &now) < 0)
                /* Gone again, or no answer we can read: the next daemon is asked in turn. */
                note("%s: %s: cannot ask vfio-assignd about lease %" PRIu64 ": %s",
                     program_invocation_short_name, c->context, c->lease.id,
                     e ? strna(e->message) : "malformed reply");
        else if (sd_bus_get_unique_name(c->bus, &me) < 0 || !now.holder || !streq(now.holder, me))
                lease_lost(c, EXIT_FAILED, "is no longer ours after the daemon restarted");
        else if (!now.state || !streq(now.state, "active"))
                /* Releasing, or stuck while a process (our --exec command) holds the group. */
                lease_lost(c, EXIT_FAILED, "was given back by the restarted daemon");
        else
                note("%s: %s: vfio-assignd is back; still holding lease %" PRIu64,
                     program_invocation_short_name, c->context, c->lease.id);
        return 0;
}

/* The old daemon is gone without a word about our lease. While none runs, the group stays on
 * vfio-pci: keep holding. A new one kept the claims whose holders are still connected, but gave
 * back those it found half-way, and says nothing about it: ask it about ours. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name, *old_owner, *new_owner;
        Claim *c = userdata;
        int r;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            !streq(name, BUS_NAME))
                return 0;
        c->check = sd_bus_slot_unref(c->check);
        if (isempty(new_owner)) {
                note("%s: %s: vfio-assignd left the bus; holding lease %" PRIu64
                     " until it is back",
                     program_invocation_short_name, c->context, c->lease.id);
                return 0;
        }
        r = sd_bus_call_method_async(c->bus, &c->check, BUS_NAME, c->lease.path, IFACE_PROPERTIES,
                                     "GetAll", on_lease_checked, c, "s", IFACE_LEASE);
        if (r < 0)
                note_errno(r, "%s: %s: cannot ask vfio-assignd about lease %" PRIu64 ": %m",
                           program_invocation_short_name, c->context, c->lease.id);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Claim *c = userdata;

        if (c->child > 0) {
                /* The command decides how to stop; we release once it has. */
                (void) kill(c->child, (int) si->ssi_signo);
                return 0;
        }
        c->done = true;
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Claim *c = userdata;

        c->status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
        c->child = 0;
        c->done = true;
        return 0;
}

/* The daemon releases the lease of a holder whose connection closed. */
static int on_disconnect(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        lease_lost(userdata, EXIT_UNREACHABLE, "went with our connection to the system bus");
        return 0;
}

static int hold(Claim *c) {
        int r;

        r = print_lease("Claimed", &c->lease, stdout, "");
        if (r != EXIT_OK)
                return r;
        fflush(stdout);
        fprintf(stderr,
                "Holding IOMMU group %" PRIu32 " (lease %" PRIu64 "); press Ctrl-C to "
                "release.\n",
                c->lease.group, c->lease.id);
        return run_loop(c);
}

/* Duplicates an fd owned by a reply message, so it outlives the message. */
static int take_fd(sd_bus_message *reply, int *ret) {
        int fd, r;

        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return r;
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

static int open_fd(Claim *c, const char *method, const char *address, int *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (address)
                r = sd_bus_call_method(c->bus, BUS_NAME, c->lease.path, IFACE_LEASE, method, &error,
                                       &reply, "s", address);
        else
                r = sd_bus_call_method(c->bus, BUS_NAME, c->lease.path, IFACE_LEASE, method, &error,
                                       &reply, "");
        if (r < 0)
                return fail_call(c->context, &error, r);
        r = take_fd(reply, ret);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "%s: %s: cannot take the fd from %s: %m",
                                  program_invocation_short_name, c->context, method);
        return EXIT_OK;
}

/* type1: the container, the group and device fds; iommufd: the context and unbound cdevs; the
 * guest RAM of --memory. */
typedef struct Fds {
        int container, group, iommufd;
        int devices[LEASE_DEVICES_MAX];
        size_t n_devices;
        Memory memory;
} Fds;

static void fds_close(Fds *f) {
        f->container = safe_close(f->container);
        f->group = safe_close(f->group);
        f->iommufd = safe_close(f->iommufd);
        for (size_t i = 0; i < f->n_devices; i++)
                safe_close(f->devices[i]);
        f->n_devices = 0;
        memory_done(&f->memory);
}

static int setenv_fd(const char *name, int fd) {
        char buf[16];

        snprintf(buf, sizeof(buf), "%d", fd);
        return setenv(name, buf, 1) < 0 ? negative_errno() : 0;
}

/* What a stock QEMU (8.2 and later) takes for an iommufd lease: one iommufd object, and a
 * vfio-pci device per member on its cdev (QEMU's docs/devel/vfio-iommufd.rst). */
static int qemu_args(const Fds *f, const char *memory, char **ret) {
        char *args = NULL;

        if (asprintf(&args, "%s%s-object iommufd,id=vfio-iommufd,fd=%d", strempty(memory),
                     memory ? " " : "", f->iommufd) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_devices; i++)
                if (strextendf(&args, " ", "-device vfio-pci,iommufd=vfio-iommufd,fd=%d,id=vfio%zu",
                               f->devices[i], i) < 0) {
                        free(args);
                        return -ENOMEM;
                }
        *ret = args;
        return 0;
}

/* The fds go to the command at the same numbers; the environment says which is which. */
static int export_env(Claim *c, const Fds *f, char *const *addresses) {
        _cleanup_free_ char *list = NULL, *args = NULL, *memory = NULL;
        bool iommufd = f->iommufd >= 0;
        int r;

        if (f->memory.fd >= 0) {
                char size[24];

                snprintf(size, sizeof(size), "%" PRIu64, f->memory.size);
                r = memory_qemu_args(&f->memory, &memory);
                if (r >= 0 && setenv("VFIO_QEMU_MEMORY_ARGS", memory, 1) < 0)
                        r = negative_errno();
                if (r >= 0)
                        r = setenv_fd("VFIO_MEMFD", f->memory.fd);
                if (r >= 0 && setenv("VFIO_MEMORY_SIZE", size, 1) < 0)
                        r = negative_errno();
                if (r >= 0 && setenv("VFIO_REGION", f->memory.path, 1) < 0)
                        r = negative_errno();
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < f->n_devices; i++)
                if (strextendf(&list, ",", "%s=%d", addresses[i], f->devices[i]) < 0)
                        return -ENOMEM;
        r = setenv("VFIO_LEASE", c->lease.path, 1) < 0 ? negative_errno() : 0;
        if (r >= 0 && !iommufd)
                r = setenv_fd("VFIO_CONTAINER_FD", f->container);
        if (r >= 0 && !iommufd)
                r = setenv_fd("VFIO_GROUP_FD", f->group);
        if (r >= 0 && iommufd)
                r = setenv_fd("VFIO_IOMMUFD_FD", f->iommufd);
        if (r >= 0 && iommufd)
                r = qemu_args(f, memory, &args);
        if (r >= 0 && iommufd && setenv("VFIO_QEMU_ARGS", args, 1) < 0)
                r = negative_errno();
        if (r >= 0 && setenv(iommufd ? "VFIO_CDEV_FDS" : "VFIO_DEVICE_FDS", strempty(list), 1) < 0)
                r = negative_errno();
        return r;
}

_noreturn_ static void exec_child(Claim *c, const Fds *f) {
        int k;

        /* Only these cross exec (everything else we hold is O_CLOEXEC). */
        (void) fcntl(f->container, F_SETFD, 0);
        (void) fcntl(f->group, F_SETFD, 0);
        (void) fcntl(f->iommufd, F_SETFD, 0);
        for (size_t i = 0; i < f->n_devices; i++)
                (void) fcntl(f->devices[i], F_SETFD, 0);
        (void) fcntl(f->memory.fd, F_SETFD, 0);
        (void) sigprocmask(SIG_SETMASK, &c->saved_mask, NULL);
        execvp(arg_exec[0], arg_exec);
        k = errno;
        dprintf(STDERR_FILENO, "%s: %s: cannot run %s: %s\n", program_invocation_short_name,
                c->context, arg_exec[0], strerror(k));
        /* The shell's codes: 127 not found, 126 found but not runnable. */
        _exit(k == ENOENT ? 127 : 126);
}

/* A VMM on an iommufd lease pins guest RAM against its own RLIMIT_MEMLOCK (the daemon sets
 * IOMMU_OPTION_RLIMIT_MODE), and fails on the default 8 MiB with nothing but "-12": when the
 * command failed, say what limit it had and how to raise it. */
static void memlock_hint(const Claim *c) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return;
        fprintf(stderr,
                "%s: %s: the command ran with RLIMIT_MEMLOCK %llu bytes (%llu MiB); a VMM maps "
                "its guest's RAM through the iommufd against it and needs that RAM plus about "
                "1 MiB (--memlock=SIZE raises it)\n",
                program_invocation_short_name, c->context, (unsigned long long) rl.rlim_cur,
                (unsigned long long) rl.rlim_cur >> 20);
}

static int run_command(Claim *c) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_strv_free_ char **addresses = NULL;
        Fds f = { .container = -1, .group = -1, .iommufd = -1, .memory = { .fd = -1 } };
        bool iommufd = c->lease.backend && streq(c->lease.backend, "iommufd");
        int r;

        /* stdout belongs to the command from here; our own lines go to stderr. */
        r = print_lease("Claimed", &c->lease, stderr, "");
        if (r != EXIT_OK)
                return r;
        r = fetch_report(c->bus, &report);
        if (r != EXIT_OK)
                return r;
        if (iommufd)
                r = open_fd(c, "OpenIommufd", NULL, &f.iommufd);
        else {
                r = open_fd(c, "OpenContainer", NULL, &f.container);
                if (r == EXIT_OK)
                        r = open_fd(c, "OpenGroup", NULL, &f.group);
        }
        for (char **d = c->lease.devices; r == EXIT_OK && d && *d; d++) {
                json_object *dev = report_find_device(report, *d), *bridge = NULL, *host = NULL;

                /* Bridges stay on pcieport and host bridges with the host; VFIO has no device
                 * fd for them. */
                if (dev && ((json_object_object_get_ex(dev, "bridge", &bridge) &&
                             json_object_get_boolean(bridge)) ||
                            (json_object_object_get_ex(dev, "host_bridge", &host) &&
                             json_object_get_boolean(host))))
                        continue;
                r = open_fd(c, iommufd ? "OpenCdev" : "OpenDevice", *d, &f.devices[f.n_devices]);
                if (r == EXIT_OK) {
                        f.n_devices++;
                        if (strv_extend(&addresses, *d) < 0)
                                r = fail(EXIT_FAILED, NULL, "Out of memory.");
                }
        }
        /* Last: the fds above are quick, the RAM can take a while to fill. */
        if (r == EXIT_OK && arg_memory > 0)
                r = memory_allocate(c->bus, c->context, c->lease.path, &f.memory);
        if (r == EXIT_OK && export_env(c, &f, addresses) < 0)
                r = fail_errno(EXIT_FAILED, ENOMEM, "Cannot set the environment: %m");
        if (r != EXIT_OK) {
                fds_close(&f);
                return r;
        }

        fflush(stdout);
        fflush(stderr);
        c->child = fork();
        if (c->child < 0) {
                r = negative_errno();
                fds_close(&f);
                return fail_errno(EXIT_FAILED, r, "Cannot fork: %m");
        }
        if (c->child == 0)
                exec_child(c, &f);
        /* Ours go now: a release must not wait for an fd we still hold. */
        fds_close(&f);

        r = sd_event_add_child(c->event, NULL, c->child, WEXITED, on_child, c);
        if (r < 0) {
                /* Without a watch we cannot know when to release: wait here instead. */
                int wstatus;

                while (waitpid(c->child, &wstatus, 0) < 0 && errno == EINTR)
                        ;
                c->child = 0;
                c->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
                return c->status;
        }
        r = run_loop(c);
        if (r == EXIT_OK && c->status != EXIT_OK && iommufd)
                memlock_hint(c);
        return r != EXIT_OK ? r : c->status;
}

static int claim_setup(Claim *c) {
        sigset_t mask;
        int r;

        /* Blocked from before the claim, so a Ctrl-C during it still ends in a Release. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (arg_exec)
                sigaddset(&mask, SIGCHLD); /* sd_event_add_child() needs it blocked */
        if (sigprocmask(SIG_BLOCK, &mask, &c->saved_mask) < 0)
                return fail_errno(EXIT_FAILED, errno, "Failed to block signals: %m");

        r = sd_event_default(&c->event);
        if (r >= 0)
                r = sd_event_add_signal(c->event, NULL, SIGINT, on_signal, c);
        if (r >= 0)
                r = sd_event_add_signal(c->event, NULL, SIGTERM, on_signal, c);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Failed to set up the event loop: %m");
        r = connect_bus(&c->bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_attach_event(c->bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_OBJECT_MANAGER,
                                        "InterfacesRemoved", on_lease_removed, c);
        if (r >= 0)
                r = sd_bus_add_match(c->bus, NULL, MATCH_OWNER_CHANGED, on_owner_changed, c);
        /* sd-bus synthesizes this local signal when the connection drops. */
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, NULL, "org.freedesktop.DBus.Local",
                                        "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                        "Disconnected", on_disconnect, c);
        if (r < 0)
                return fail_call(c->context, NULL, r);
        return EXIT_OK;
}

static void claim_done(Claim *c) {
        c->check = sd_bus_slot_unref(c->check);
        lease_info_done(&c->lease);
        c->bus = sd_bus_flush_close_unref(c->bus);
        c->event = sd_event_unref(c->event);
}

/* ClaimDevice or ClaimGroup, with the options --owner, --backend, --memlock and --vf-* give. */
static int claim_call(Claim *c, const Target *t, sd_bus_error *error, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(c->bus, &m, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                           t->address[0] ? "ClaimDevice" : "ClaimGroup");
        if (r >= 0)
                r = t->address[0] ? sd_bus_message_append(m, "s", t->address)
                                  : sd_bus_message_append(m, "u", (uint32_t) t->number);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_owner)
                r = sd_bus_message_append(m, "{sv}", "owner", "s", arg_owner);
        if (r >= 0 && arg_backend)
                r = sd_bus_message_append(m, "{sv}", "backend", "s", arg_backend);
        if (r >= 0 && arg_memlock > 0)
                r = sd_bus_message_append(m, "{sv}", "memlock", "t", arg_memlock);
        if (r >= 0 && arg_vf_mac)
                r = sd_bus_message_append(m, "{sv}", "vf_mac", "s", arg_vf_mac);
        if (r >= 0 && arg_vf_vlan >= 0)
                r = sd_bus_message_append(m, "{sv}", "vf_vlan", "u", (uint32_t) arg_vf_vlan);
        if (r >= 0 && arg_vf_qos >= 0)
                r = sd_bus_message_append(m, "{sv}", "vf_qos", "u", (uint32_t) arg_vf_qos);
        if (r >= 0 && arg_vf_spoofchk >= 0)
                r = sd_bus_message_append(m, "{sv}", "vf_spoofchk", "b", arg_vf_spoofchk);
        if (r >= 0 && arg_vf_trust >= 0)
                r = sd_bus_message_append(m, "{sv}", "vf_trust", "b", arg_vf_trust);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_call(c->bus, m, 0, error, ret);
}

int verb_claim(int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *context = NULL;
        _cleanup_(claim_done) Claim c = {};
        const char *path;
        Target t;
        int r, k;

        r = parse_target(argv[1], UINT32_MAX, "an IOMMU group number", &t);
        if (r != EXIT_OK)
                return r;
        if (asprintf(&context, "claim %s", t.address[0] ? t.address : argv[1]) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        c.context = context;
        r = claim_setup(&c);
        if (r != EXIT_OK)
                return r;

        r = claim_call(&c, &t, &error, &reply);
        if (r < 0)
                return fail_call(context, &error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Malformed reply to the claim: %m");
        r = set_string(&c.lease.path, path);
        if (r >= 0)
                r = lease_get(c.bus, path, &c.lease, &error);
        if (r < 0) {
                /* Not holding what we cannot describe: give it back (an owner's lease is the
                 * owner's: it may be one it had already). */
                k = fail_call(context, &error, r);
                if (!arg_owner)
                        (void) release_lease(c.bus, context, &c.lease);
                return k;
        }
        if (arg_owner)
                return print_lease("Claimed", &c.lease, stdout, "");

        r = arg_exec ? run_command(&c) : hold(&c);
        if (c.lost != EXIT_OK)
                /* Nothing left to release. A command that failed says more than we do. */
                return r != EXIT_OK ? r : c.lost;
        k = release_lease(c.bus, context, &c.lease);
        if (k == EXIT_OK)
                fprintf(stderr, "Released lease %" PRIu64 " (IOMMU group %" PRIu32 ").\n",
                        c.lease.id, c.lease.group);
        /* The command's own status wins; a failed release shows when the command succeeded. */
        return r != EXIT_OK ? r : k;
}

/* ---- release, prepare, unprepare, leases ---- */

/* The group of a device, from the host report. */
static int device_group(sd_bus *bus, const char *context, const char *address, uint32_t *ret) {
        _cleanup_json_ json_object *report = NULL;
        json_object *dev, *group = NULL;
        int r;

        r = fetch_report(bus, &report);
        if (r != EXIT_OK)
                return r;
        dev = report_find_device(report, address);
        if (!dev)
                return fail(EXIT_FAILED, NULL, "%s: %s: no device %s",
                            program_invocation_short_name, context, address);
        if (!json_object_object_get_ex(dev, "group", &group) ||
            !json_object_is_type(group, json_type_int) || json_object_get_int64(group) < 0 ||
            json_object_get_int64(group) > UINT32_MAX)
                return fail(EXIT_FAILED, NULL, "%s: %s: %s is in no IOMMU group",
                            program_invocation_short_name, context, address);
        *ret = (uint32_t) json_object_get_int64(group);
        return EXIT_OK;
}

static const LeaseInfo *find_lease(const LeaseInfo *l, size_t n, bool by_id, uint64_t v) {
        for (size_t i = 0; i < n; i++)
                if (by_id ? l[i].id == v : l[i].group == v)
                        return &l[i];
        return NULL;
}

/* release --owner KEY: every lease of the key, given back by the daemon. */
static int release_by_owner(const char *owner) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *context = NULL;
        int r;

        if (asprintf(&context, "release --owner %s", owner) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "ReleaseByOwner", &error,
                               NULL, "sa{sv}", owner, 0);
        if (r < 0)
                return fail_call(context, &error, r);
        if (arg_json == JSON_OFF)
                printf("Released the leases of owner %s.\n", owner);
        return EXIT_OK;
}

int verb_release(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *context = NULL;
        const LeaseInfo *by_id = NULL, *by_group = NULL, *l;
        LeaseInfo *leases = NULL;
        size_t n = 0;
        uint32_t group = 0;
        Target t;
        int r;

        if ((argc > 1) == !!arg_owner)
                return fail(EXIT_USAGE, NULL,
                            "release takes a lease, a device or a group, or --owner KEY: one of "
                            "them.");
        if (arg_owner)
                return release_by_owner(arg_owner);
        r = parse_target(argv[1], UINT64_MAX, "a lease id or IOMMU group number", &t);
        if (r != EXIT_OK)
                return r;
        if (asprintf(&context, "release %s", t.address[0] ? t.address : argv[1]) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = list_leases(bus, &leases, &n);
        if (r != EXIT_OK)
                return r;

        if (t.address[0]) {
                r = device_group(bus, context, t.address, &group);
                if (r != EXIT_OK)
                        goto finish;
                l = find_lease(leases, n, false, group);
                if (!l) {
                        r = fail(EXIT_FAILED, NULL,
                                 "%s: %s: IOMMU group %" PRIu32 " of %s is "
                                 "not leased",
                                 program_invocation_short_name, context, group, t.address);
                        goto finish;
                }
        } else {
                /* Lease ids and group numbers are both small numbers: refuse to guess. */
                by_id = find_lease(leases, n, true, t.number);
                if (t.number <= UINT32_MAX)
                        by_group = find_lease(leases, n, false, t.number);
                if (by_id && by_group && by_id != by_group) {
                        r = fail(EXIT_USAGE, NULL,
                                 "'%s' is ambiguous: lease %" PRIu64 " holds IOMMU group %" PRIu32
                                 ", and lease %" PRIu64 " holds IOMMU group %s. Name a device of "
                                 "the group you mean instead.",
                                 argv[1], by_id->id, by_id->group, by_group->id, argv[1]);
                        goto finish;
                }
                l = by_id ?: by_group;
                if (!l) {
                        r = fail(EXIT_FAILED, NULL,
                                 "%s: %s: no lease %s and no lease on IOMMU "
                                 "group %s",
                                 program_invocation_short_name, context, argv[1], argv[1]);
                        goto finish;
                }
        }
        r = release_lease(bus, context, l);
        /* Under --json, the exit status says it all: stdout carries JSON or nothing. */
        if (r == EXIT_OK && arg_json == JSON_OFF)
                printf("Released lease %" PRIu64 " (IOMMU group %" PRIu32 ").\n", l->id, l->group);
finish:
        lease_info_array_free(leases, n);
        return r;
}

int verb_prepare(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(lease_info_done) LeaseInfo lease = {};
        _cleanup_free_ char *context = NULL;
        char address[PCI_ADDRESS_STRLEN];
        const char *path;
        int r;

        r = parse_address_arg(argv[1], address);
        if (r != EXIT_OK)
                return r;
        if (asprintf(&context, "prepare %s", address) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "Prepare");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", address);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_persistent)
                r = sd_bus_message_append(m, "{sv}", "persistent", "b", 1);
        if (r >= 0 && arg_owner)
                r = sd_bus_message_append(m, "{sv}", "owner", "s", arg_owner);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return fail_call(context, &error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = lease_get(bus, path, &lease, &error);
        if (r < 0)
                return fail_call(context, &error, r);
        return print_lease("Prepared", &lease, stdout,
                           arg_persistent ? ", persistent across reboots" : "");
}

int verb_unprepare(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *context = NULL;
        char address[PCI_ADDRESS_STRLEN];
        int r;

        r = parse_address_arg(argv[1], address);
        if (r != EXIT_OK)
                return r;
        if (asprintf(&context, "unprepare %s", address) < 0)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_call_method(bus, BUS_NAME, OBJ_ROOT, IFACE_MANAGER, "Unprepare", &error, NULL,
                               "sa{sv}", address, 0);
        if (r < 0)
                return fail_call(context, &error, r);
        if (arg_json == JSON_OFF)
                printf("Unprepared the IOMMU group of %s.\n", address);
        return EXIT_OK;
}

int verb_leases(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *array = NULL, *doc = NULL;
        LeaseInfo *leases = NULL;
        size_t n = 0;
        int r;

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = list_leases(bus, &leases, &n);
        if (r != EXIT_OK)
                return r;
        array = json_object_new_array();
        doc = json_object_new_object();
        if (!array || !doc || json_add(doc, "leases", json_object_get(array)) < 0)
                r = fail(EXIT_FAILED, NULL, "Out of memory.");
        for (size_t i = 0; r == EXIT_OK && i < n; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                json_object *o;
                int k;

                /* ListLeases has no devices; a lease released in between is left out. */
                k = lease_get(bus, leases[i].path, &leases[i], &error);
                if (k < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                        continue;
                if (k < 0) {
                        r = fail_call("leases", &error, k);
                        break;
                }
                o = lease_info_to_json(&leases[i]);
                if (!o || json_object_array_add(array, o) < 0) {
                        json_object_put(o);
                        r = fail(EXIT_FAILED, NULL, "Out of memory.");
                }
        }
        lease_info_array_free(leases, n);
        if (r != EXIT_OK)
                return r;
        if (arg_json != JSON_OFF)
                return print_json(doc);
        return printed(output_leases(stdout, array));
}
