/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-util.h"
#include "names.h"
#include "state.h"
#include "util.h"

/* What the daemon acts on at start (leases that bind devices) must be root's alone: a directory
 * or file another user can write, or replace, could make it bind the root disk. */
static int check_trusted(const struct stat *st, const char *path, bool file, char **ret_error) {
        const char *why = NULL;

        if (file && !S_ISREG(st->st_mode))
                why = "is not a regular file";
        else if (st->st_uid != geteuid())
                why = "is not owned by the daemon's user";
        else if (st->st_mode & (file ? 0077 : 0022))
                why = file ? "can be read or written by group or others (state files are 0600)"
                           : "is writable by group or others";
        if (!why)
                return 0;
        return asprintf(ret_error, "%s %s (owner uid %u, mode %04o): refusing to trust it", path,
                        why, (unsigned) st->st_uid, (unsigned) (st->st_mode & 07777)) < 0
                       ? -ENOMEM
                       : -EPERM;
}

int state_open_dir(const char *path, int *ret_fd, char **ret_error) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int k;

        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        /* O_NOFOLLOW: a symlink in its place is refused (ELOOP), not followed. */
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        k = check_trusted(&st, path, false, ret_error);
        if (k < 0)
                return k;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int state_write_file(int dir_fd, const char *name, const char *text) {
        return write_file_atomic_at(dir_fd, name, text, 0600);
}

int write_file_atomic_at(int dir_fd, const char *name, const char *text, mode_t mode) {
        char tmp[NAME_MAX + 1];
        size_t n = strlen(text);
        int fd, k = 0;

        /* A fresh file, never an existing one or what a symlink points to: whatever has the
         * name (a crash's leftover) goes first. */
        if ((size_t) snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= sizeof(tmp))
                return -ENAMETOOLONG;
        if (unlinkat(dir_fd, tmp, 0) < 0 && errno != ENOENT)
                return negative_errno();
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        /* The mode as asked, whatever the umask took away. */
        if (mode != 0600 && fchmod(fd, mode) < 0)
                k = negative_errno();
        for (size_t done = 0; k >= 0 && done < n;) {
                ssize_t w = write(fd, text + done, n - done);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        k = negative_errno();
                        break;
                }
                done += (size_t) w;
        }
        if (k >= 0 && fsync(fd) < 0)
                k = negative_errno();
        if (close(fd) < 0 && k >= 0)
                k = negative_errno();
        if (k >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                k = negative_errno();
        if (k < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return k;
        }
        /* The rename itself is durable only once the directory is. */
        return fsync(dir_fd) < 0 ? negative_errno() : 0;
}

/* A VF's saved network settings (lease-vfnet.c): "vf_net": {"pf", "vf", "mac", "vlan", "qos",
 * "spoofchk", "trust"}, the last two null when the driver reported none. */
static struct json_object *vf_net_to_json(const LeaseVfNet *v) {
        _cleanup_json_ json_object *o = json_object_new_object();
        char mac[18];
        int k = 0;

        if (!o)
                return NULL;
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", v->saved.mac[0],
                 v->saved.mac[1], v->saved.mac[2], v->saved.mac[3], v->saved.mac[4],
                 v->saved.mac[5]);
        k |= json_add_new(o, "pf", json_object_new_string(v->pf_ifname));
        k |= json_add_new(o, "vf", json_object_new_int64(v->vf));
        k |= json_add_new(o, "mac", json_object_new_string(mac));
        k |= json_add_new(o, "vlan", json_object_new_int64(v->saved.vlan));
        k |= json_add_new(o, "qos", json_object_new_int64(v->saved.qos));
        k |= json_add(o, "spoofchk",
                      v->saved.spoofchk >= 0 ? json_object_new_boolean(v->saved.spoofchk) : NULL);
        k |= json_add(o, "trust",
                      v->saved.trust >= 0 ? json_object_new_boolean(v->saved.trust) : NULL);
        return k ? NULL : TAKE_PTR(o);
}

static int lease_to_json(const Lease *l, struct json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        struct json_object *devs;
        int k = 0;

        if (!o)
                return -ENOMEM;
        k |= json_add_new(o, "id", json_object_new_int64((int64_t) l->id));
        k |= json_add_new(o, "kind", json_object_new_string(lease_kind_to_string(l->kind)));
        k |= json_add_new(o, "state", json_object_new_string(lease_state_to_string(l->state)));
        k |= json_add_new(o, "group", json_object_new_int64(l->group));
        k |= json_add_new(o, "backend", json_object_new_string(vfio_backend_name(l->backend)));
        k |= json_add_string(o, "holder", l->holder);
        k |= json_add_new(o, "uid", json_object_new_int64(l->uid));
        k |= json_add_new(o, "pid", json_object_new_int64(l->pid));
        /* Only a holder identified at its claim has them (one read back from an older file
         * does not): an empty id written here could not be read back. */
        if (l->holder && l->holder_bus_id[0]) {
                k |= json_add_new(o, "holder_start_time",
                                  json_object_new_int64((int64_t) l->holder_start_time));
                k |= json_add_string(o, "holder_bus_id", l->holder_bus_id);
        }
        if (l->owner)
                k |= json_add_string(o, "owner", l->owner);
        k |= json_add_new(o, "persistent", json_object_new_boolean(l->persistent));
        if (l->unsafe_interrupts)
                k |= json_add_new(o, "unsafe_interrupts", json_object_new_boolean(true));
        k |= json_add_string(o, "reason", l->reason);
        if (l->granted_uid != UINT32_MAX)
                k |= json_add_new(o, "granted_uid", json_object_new_int64(l->granted_uid));
        devs = json_object_new_array();
        k |= json_add_new(o, "devices", devs);
        for (size_t i = 0; devs && i < l->n_devices; i++) {
                struct json_object *d = json_object_new_object();

                k |= json_append_new(devs, d);
                if (!d)
                        break;
                k |= json_add_new(d, "address", json_object_new_string(l->devices[i].address));
                k |= json_add_string(d, "original_driver", l->devices[i].original_driver);
                if (l->devices[i].vfio_driver)
                        k |= json_add_string(d, "vfio_driver", l->devices[i].vfio_driver);
                k |= json_add_new(d, "bridge", json_object_new_boolean(l->devices[i].bridge));
                if (l->devices[i].restore_probe)
                        k |= json_add_new(d, "restore_probe", json_object_new_boolean(true));
                if (l->devices[i].vf_net)
                        k |= json_add_new(d, "vf_net", vf_net_to_json(l->devices[i].vf_net));
        }
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int state_save(int dir_fd, Lease *const *leases, size_t n, const StateGlobals *g) {
        _cleanup_json_ json_object *root = json_object_new_object();
        struct json_object *arr;
        const char *text;
        int k = 0;

        if (!root)
                return -ENOMEM;
        k |= json_add_new(root, "version", json_object_new_int(1));
        k |= json_add_new(root, "next_id", json_object_new_int64((int64_t) g->next_id));
        if (g->unsafe_interrupts_set)
                k |= json_add_new(root, "unsafe_interrupts_set", json_object_new_boolean(true));
        arr = json_object_new_array();
        k |= json_add_new(root, "leases", arr);
        if (k)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct json_object *o;

                k = lease_to_json(leases[i], &o);
                if (k < 0)
                        return k;
                if (json_append_new(arr, o) < 0)
                        return -ENOMEM;
        }
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        return state_write_file(dir_fd, STATE_FILE, text);
}

int state_read_json(int dir_fd, const char *name, struct json_object **ret, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        struct json_tokener *tok;
        struct json_object *o;
        struct stat st;
        ssize_t n;
        int k;

        /* O_NONBLOCK: a FIFO in its place must not hang the start (it is refused below). */
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 && errno == ELOOP)
                return asprintf(ret_error, "%s is a symbolic link: refusing to trust it", name) < 0
                               ? -ENOMEM
                               : -EPERM;
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        k = check_trusted(&st, name, true, ret_error);
        if (k < 0)
                return k;
        if (st.st_size > STATE_MAX_SIZE)
                return asprintf(ret_error, "%s: larger than %d bytes", name, STATE_MAX_SIZE) < 0
                               ? -ENOMEM
                               : -EBADMSG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        n = read(fd, buf, (size_t) st.st_size);
        if (n < 0)
                return negative_errno();
        tok = json_tokener_new_ex(16);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int) n);
        if (!o || json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != (size_t) n) {
                enum json_tokener_error e = json_tokener_get_error(tok);

                /* json-c's word for input that stops inside a value is "continue". */
                k = asprintf(ret_error, "%s: not valid JSON: %s", name,
                             e == json_tokener_continue
                                     ? "it ends inside a value (a truncated file)"
                                     : json_tokener_error_desc(e));
                json_object_put(o);
                json_tokener_free(tok);
                return k < 0 ? -ENOMEM : -EBADMSG;
        }
        json_tokener_free(tok);
        *ret = o;
        return 0;
}

static int bad(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int bad(char **ret_error, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        return k < 0 ? -ENOMEM : -EBADMSG;
}

static int get_u32(struct json_object *o, const char *key, uint32_t *ret) {
        struct json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        i = json_object_get_int64(v);
        if (i < 0 || i > UINT32_MAX)
                return -EBADMSG;
        *ret = (uint32_t) i;
        return 0;
}

static int get_u64(struct json_object *o, const char *key, uint64_t *ret) {
        struct json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        i = json_object_get_int64(v);
        if (i < 0)
                return -EBADMSG;
        *ret = (uint64_t) i;
        return 0;
}

static int get_string(struct json_object *o, const char *key, bool nullable, const char **ret) {
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return -EBADMSG;
        if (!v) {
                if (!nullable)
                        return -EBADMSG;
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        return 0;
}

/* A PCI id as persistent.json writes it: "0x8086". */
static int get_id(struct json_object *o, const char *key, uint16_t *ret) {
        const char *s;
        uint32_t v;

        if (get_string(o, key, false, &s) < 0 || safe_atou32(s, 0, &v) < 0 || v > 0xffff)
                return -EBADMSG;
        *ret = (uint16_t) v;
        return 0;
}

/* Absent is false: older files do not have the key. */
static int get_optional_bool(struct json_object *o, const char *key, bool *ret) {
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ret = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* The lease's backend; absent, the file is older than the backends, when every lease was type1.
 * A name this daemon does not know is no corruption: a newer daemon wrote it, and the lease can
 * be given back only by a daemon that knows how (-EPROTONOSUPPORT: the file stays as it is). */
static int backend_from_json(struct json_object *o, size_t index, const VfioBackendOps **ret,
                             char **ret_error) {
        _cleanup_free_ char *known = NULL;
        const char *name;

        if (!json_object_object_get_ex(o, "backend", NULL)) {
                *ret = &vfio_type1_ops;
                return 0;
        }
        if (get_string(o, "backend", false, &name) < 0)
                return bad(ret_error, "%s: leases[%zu].backend: not a string", STATE_FILE, index);
        *ret = vfio_backend_ops_from_name(name);
        if (*ret)
                return 0;
        known = vfio_backends_known();
        return asprintf(
                       ret_error,
                       "%s: leases[%zu].backend: unknown VFIO backend \"%.*s\" (this vfio-assignd "
                       "knows %s); a newer vfio-assignd wrote it, and only one that knows the backend can give "
                       "the group back: the file is left as it is",
                       STATE_FILE, index, utf8_prefix_len(name, 64), name, strna(known)) < 0
                       ? -ENOMEM
                       : -EPROTONOSUPPORT;
}

/* A boolean, or null for -1. */
static int get_tristate(struct json_object *o, const char *key, int *ret) {
        struct json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return -EBADMSG;
        if (!v) {
                *ret = -1;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

static int vf_net_from_json(struct json_object *o, LeaseVfNet **ret) {
        _cleanup_free_ LeaseVfNet *v = calloc(1, sizeof(*v));
        const char *pf, *mac;
        uint32_t vlan, qos;
        unsigned b[6];
        int n = 0;

        if (!v)
                return -ENOMEM;
        if (!json_object_is_type(o, json_type_object) || get_string(o, "pf", false, &pf) < 0 ||
            isempty(pf) || strlen(pf) >= sizeof(v->pf_ifname) || !filename_is_valid(pf) ||
            get_u32(o, "vf", &v->vf) < 0 || get_string(o, "mac", false, &mac) < 0 ||
            strlen(mac) != 17 ||
            sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                   &n) != 6 ||
            n != 17 || get_u32(o, "vlan", &vlan) < 0 || vlan > 4095 ||
            get_u32(o, "qos", &qos) < 0 || qos > 7 ||
            get_tristate(o, "spoofchk", &v->saved.spoofchk) < 0 ||
            get_tristate(o, "trust", &v->saved.trust) < 0)
                return -EBADMSG;
        strcpy(v->pf_ifname, pf);
        for (size_t i = 0; i < 6; i++)
                v->saved.mac[i] = (uint8_t) b[i];
        v->saved.vlan = (uint16_t) vlan;
        v->saved.qos = (uint8_t) qos;
        /* Saved settings are whole (vfnet_get()): all of them go back. */
        v->saved.set_mac = true;
        v->saved.set_vlan = true;
        *ret = TAKE_PTR(v);
        return 0;
}

static int lease_from_json(struct json_object *o, size_t index, Lease **ret, char **ret_error) {
        _cleanup_(lease_freep) Lease *l = calloc(1, sizeof(Lease));
        const VfioBackendOps *backend = NULL;
        struct json_object *v, *devs;
        const char *s, *holder, *reason;
        uint32_t id;
        bool persistent;
        int k;

        if (!l)
                return -ENOMEM;
        l->close_wd = l->holder_pidfd = -1;
        l->granted_uid = UINT32_MAX;
        if (!json_object_is_type(o, json_type_object) || get_u32(o, "id", &id) < 0 ||
            get_u32(o, "group", &l->group) < 0 || get_u32(o, "uid", &l->uid) < 0 ||
            get_u32(o, "pid", &l->pid) < 0 || get_string(o, "kind", false, &s) < 0 ||
            (l->kind = lease_kind_from_string(s)) == _LEASE_KIND_MAX ||
            get_string(o, "state", false, &s) < 0 ||
            (l->state = lease_state_from_string(s)) == _LEASE_STATE_MAX ||
            get_string(o, "holder", true, &holder) < 0 ||
            get_string(o, "reason", true, &reason) < 0 ||
            !json_object_object_get_ex(o, "persistent", &v) ||
            !json_object_is_type(v, json_type_boolean) ||
            !json_object_object_get_ex(o, "devices", &devs) ||
            !json_object_is_type(devs, json_type_array))
                return bad(ret_error, "leases[%zu]: missing or invalid fields", index);
        persistent = json_object_get_boolean(v);
        k = backend_from_json(o, index, &backend, ret_error);
        if (k < 0)
                return k;
        k = vfio_backend_new(backend, l->group, &l->backend);
        if (k < 0)
                return k;
        l->id = id;
        l->persistent = persistent;
        if ((holder && !(l->holder = strdup(holder))) || (reason && !(l->reason = strdup(reason))))
                return -ENOMEM;
        /* A holder recorded without them (an older daemon wrote the file) is no identity: it is
         * never recognised, and the claim goes back as if its holder were gone. */
        if (holder && json_object_object_get_ex(o, "holder_bus_id", &v)) {
                if (get_string(o, "holder_bus_id", false, &s) < 0 || strlen(s) != 32 ||
                    strspn(s, "0123456789abcdef") != 32 ||
                    get_u64(o, "holder_start_time", &l->holder_start_time) < 0)
                        return bad(ret_error,
                                   "leases[%zu]: invalid holder_bus_id or holder_start_time",
                                   index);
                strcpy(l->holder_bus_id, s);
        }
        if (json_object_object_get_ex(o, "owner", &v)) {
                if (get_string(o, "owner", false, &s) < 0 || !lease_owner_is_valid(s))
                        return bad(ret_error, "leases[%zu].owner: not an owner key", index);
                l->owner = strdup(s);
                if (!l->owner)
                        return -ENOMEM;
        }
        if (json_object_object_get_ex(o, "granted_uid", &v) &&
            get_u32(o, "granted_uid", &l->granted_uid) < 0)
                return bad(ret_error, "leases[%zu].granted_uid: invalid", index);
        if (get_optional_bool(o, "unsafe_interrupts", &l->unsafe_interrupts) < 0)
                return bad(ret_error, "leases[%zu].unsafe_interrupts: not a boolean", index);
        l->devices = calloc(json_object_array_length(devs) + 1, sizeof(LeaseDevice));
        if (!l->devices)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                struct json_object *d = json_object_array_get_idx(devs, i), *b, *vn;
                const char *addr, *drv, *vfio_drv = NULL;
                LeaseDevice *ld = &l->devices[l->n_devices];

                if (!json_object_is_type(d, json_type_object) ||
                    get_string(d, "address", false, &addr) < 0 || !pci_address_is_canonical(addr) ||
                    get_string(d, "original_driver", true, &drv) < 0 ||
                    (drv && !filename_is_valid(drv)) ||
                    !json_object_object_get_ex(d, "bridge", &b) ||
                    !json_object_is_type(b, json_type_boolean) ||
                    (json_object_object_get_ex(d, "vfio_driver", NULL) &&
                     (get_string(d, "vfio_driver", false, &vfio_drv) < 0 ||
                      !filename_is_valid(vfio_drv))))
                        return bad(ret_error, "leases[%zu].devices[%zu]: missing or invalid fields",
                                   index, i);
                if (get_optional_bool(d, "restore_probe", &ld->restore_probe) < 0)
                        return bad(ret_error,
                                   "leases[%zu].devices[%zu].restore_probe: not a boolean", index,
                                   i);
                strcpy(ld->address, addr);
                ld->bridge = json_object_get_boolean(b);
                if (drv && !(ld->original_driver = strdup(drv)))
                        return -ENOMEM;
                if (vfio_drv && !(ld->vfio_driver = strdup(vfio_drv)))
                        return -ENOMEM;
                l->n_devices++;
                if (json_object_object_get_ex(d, "vf_net", &vn)) {
                        k = vf_net_from_json(vn, &ld->vf_net);
                        if (k == -ENOMEM)
                                return k;
                        if (k < 0)
                                return bad(ret_error,
                                           "leases[%zu].devices[%zu].vf_net: missing or "
                                           "invalid fields",
                                           index, i);
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int state_load(int dir_fd, Lease ***ret, size_t *ret_n, StateGlobals *ret_globals,
               char **ret_error) {
        _cleanup_json_ json_object *root = NULL;
        struct json_object *v, *arr;
        Lease **leases = NULL;
        size_t n = 0, len;
        bool unsafe_set;
        int64_t next;
        int k;

        k = state_read_json(dir_fd, STATE_FILE, &root, ret_error);
        if (k == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                *ret_globals = (StateGlobals) { .next_id = 1 };
                return 0;
        }
        if (k < 0)
                return k;
        if (!json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "version", &v) || json_object_get_int64(v) != 1 ||
            !json_object_object_get_ex(root, "next_id", &v) ||
            !json_object_is_type(v, json_type_int) || (next = json_object_get_int64(v)) < 1 ||
            !json_object_object_get_ex(root, "leases", &arr) ||
            !json_object_is_type(arr, json_type_array))
                return bad(ret_error, "%s: not a version 1 state file", STATE_FILE);
        if (get_optional_bool(root, "unsafe_interrupts_set", &unsafe_set) < 0)
                return bad(ret_error, "%s: unsafe_interrupts_set: not a boolean", STATE_FILE);
        len = json_object_array_length(arr);
        if (len > STATE_MAX_LEASES)
                return bad(ret_error, "%s: %zu leases, more than %d", STATE_FILE, len,
                           STATE_MAX_LEASES);
        leases = calloc(len + 1, sizeof(Lease *));
        if (!leases)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                k = lease_from_json(json_object_array_get_idx(arr, i), i, &leases[n], ret_error);
                if (k < 0)
                        goto fail;
                if (leases[n]->id >= (uint64_t) next) {
                        k = bad(ret_error, "leases[%zu]: id %" PRIu64 " is not below next_id", i,
                                leases[n]->id);
                        n++;
                        goto fail;
                }
                n++;
        }
        *ret = leases;
        *ret_n = n;
        *ret_globals = (StateGlobals) { .next_id = (uint64_t) next,
                                        .unsafe_interrupts_set = unsafe_set };
        return 0;
fail:
        for (size_t i = 0; i < n; i++)
                lease_free(leases[i]);
        free(leases);
        return k;
}

static int early_prepare_save(int dir_fd, const PersistentDevice *d, size_t n) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return -ENOMEM;
        fputs("# vfio-assignd's persistent prepares, for its udev rule (vfio-assignd(8), EARLY\n"
              "# PREPARE). Written by the daemon whenever they change: do not edit.\n"
              "# address vendor device subsystem_vendor subsystem_device driver\n",
              f);
        for (size_t i = 0; i < n; i++) {
                char sv[8] = "*", sd[8] = "*";

                if (d[i].subsystem_known) {
                        snprintf(sv, sizeof(sv), "%04x", d[i].subsystem_vendor);
                        snprintf(sd, sizeof(sd), "%04x", d[i].subsystem_device);
                }
                fprintf(f, "%s %04x %04x %s %s %s\n", d[i].address, d[i].vendor, d[i].device, sv,
                        sd, d[i].vfio_driver[0] ? d[i].vfio_driver : DRIVER_VFIO_PCI);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        return state_write_file(dir_fd, EARLY_PREPARE_FILE, text);
}

/* persistent.json and identities.json: {"version": 1, "devices": [...]}, each device an address
 * and its identity (persistent.h). */
static int devices_save(int dir_fd, const char *name, const PersistentDevice *d, size_t n) {
        _cleanup_json_ json_object *root = json_object_new_object();
        struct json_object *arr = json_object_new_array();
        char id[8];
        const char *text;
        int k = 0;

        if (!root || !arr) {
                json_object_put(arr);
                return -ENOMEM;
        }
        k |= json_add_new(root, "version", json_object_new_int(1));
        k |= json_add_new(root, "devices", arr);
        for (size_t i = 0; i < n; i++) {
                struct json_object *o = json_object_new_object();

                k |= json_append_new(arr, o);
                if (!o)
                        break;
                k |= json_add_new(o, "address", json_object_new_string(d[i].address));
                snprintf(id, sizeof(id), "0x%04x", d[i].vendor);
                k |= json_add_new(o, "vendor", json_object_new_string(id));
                snprintf(id, sizeof(id), "0x%04x", d[i].device);
                k |= json_add_new(o, "device", json_object_new_string(id));
                if (d[i].subsystem_known) {
                        snprintf(id, sizeof(id), "0x%04x", d[i].subsystem_vendor);
                        k |= json_add_new(o, "subsystem_vendor", json_object_new_string(id));
                        snprintf(id, sizeof(id), "0x%04x", d[i].subsystem_device);
                        k |= json_add_new(o, "subsystem_device", json_object_new_string(id));
                }
                if (d[i].group_known)
                        k |= json_add_new(o, "group", json_object_new_int64(d[i].group));
                if (d[i].vfio_driver[0])
                        k |= json_add_string(o, "vfio_driver", d[i].vfio_driver);
        }
        if (k)
                return -ENOMEM;
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
        if (!text)
                return -ENOMEM;
        return state_write_file(dir_fd, name, text);
}

int persistent_save(int dir_fd, const PersistentDevice *d, size_t n) {
        int k = devices_save(dir_fd, PERSISTENT_FILE, d, n);

        return k < 0 ? k : early_prepare_save(dir_fd, d, n);
}

int identities_save(int dir_fd, const PersistentDevice *d, size_t n) {
        return devices_save(dir_fd, IDENTITY_FILE, d, n);
}

static int devices_load(int dir_fd, const char *name, PersistentDevice **ret, size_t *ret_n,
                        char **ret_error) {
        _cleanup_json_ json_object *root = NULL;
        _cleanup_free_ PersistentDevice *d = NULL;
        struct json_object *arr;
        size_t len;
        int k;

        k = state_read_json(dir_fd, name, &root, ret_error);
        if (k == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (k < 0)
                return k;
        if (!json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "devices", &arr) ||
            !json_object_is_type(arr, json_type_array) ||
            (len = json_object_array_length(arr)) > STATE_MAX_LEASES)
                return bad(ret_error, "%s: not a version 1 list of devices", name);
        d = calloc(len + 1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                struct json_object *o = json_object_array_get_idx(arr, i);
                bool has_sv = json_object_object_get_ex(o, "subsystem_vendor", NULL),
                     has_sd = json_object_object_get_ex(o, "subsystem_device", NULL);
                const char *addr, *drv;
                uint16_t v, dv;

                if (!json_object_is_type(o, json_type_object) ||
                    get_string(o, "address", false, &addr) < 0 || !pci_address_is_canonical(addr) ||
                    get_id(o, "vendor", &v) < 0 || get_id(o, "device", &dv) < 0)
                        return bad(ret_error, "%s: devices[%zu]: missing or invalid fields", name,
                                   i);
                strcpy(d[i].address, addr);
                d[i].vendor = v;
                d[i].device = dv;
                /* Absent in files older than the identity check; one without the other is no
                 * file this daemon wrote. */
                if (has_sv != has_sd ||
                    (has_sv && (get_id(o, "subsystem_vendor", &d[i].subsystem_vendor) < 0 ||
                                get_id(o, "subsystem_device", &d[i].subsystem_device) < 0)))
                        return bad(ret_error,
                                   "%s: devices[%zu]: subsystem_vendor and subsystem_device: "
                                   "both or neither, each a 16-bit id",
                                   name, i);
                d[i].subsystem_known = has_sv;
                d[i].group_known = json_object_object_get_ex(o, "group", NULL);
                if (d[i].group_known && get_u32(o, "group", &d[i].group) < 0)
                        return bad(ret_error, "%s: devices[%zu].group: not an IOMMU group number",
                                   name, i);
                if (json_object_object_get_ex(o, "vfio_driver", NULL)) {
                        if (get_string(o, "vfio_driver", false, &drv) < 0 ||
                            !filename_is_valid(drv) || strlen(drv) >= sizeof(d[i].vfio_driver))
                                return bad(ret_error,
                                           "%s: devices[%zu].vfio_driver: not a driver name", name,
                                           i);
                        strcpy(d[i].vfio_driver, drv);
                }
        }
        *ret = TAKE_PTR(d);
        *ret_n = len;
        return 0;
}

int persistent_load(int dir_fd, PersistentDevice **ret, size_t *ret_n, char **ret_error) {
        return devices_load(dir_fd, PERSISTENT_FILE, ret, ret_n, ret_error);
}

int identities_load(int dir_fd, PersistentDevice **ret, size_t *ret_n, char **ret_error) {
        return devices_load(dir_fd, IDENTITY_FILE, ret, ret_n, ret_error);
}

int devices_read_dir(const char *path, const char *name, PersistentDevice **ret, size_t *ret_n,
                     char **ret_error) {
        _cleanup_free_ char *why = NULL;
        _cleanup_close_ int fd = -1;
        int k;

        *ret = NULL;
        *ret_n = 0;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return 0;
        k = fd < 0 ? negative_errno() : devices_load(fd, name, ret, ret_n, &why);
        if (k == -ENOMEM || k >= 0)
                return k;
        /* devices_load()'s reasons name the file already. */
        if ((why ? asprintf(ret_error, "%s: %s", path, why)
                 : asprintf(ret_error, "%s/%s: %s", path, name, strerror(-k))) < 0)
                return -ENOMEM;
        return k;
}
