/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CDI spec writer. The field names and rules are SPEC.md's (github.com/cncf-tags/
 * container-device-interface) and its JSON schema's (schema/schema.json): "cdiVersion", "kind"
 * and "devices" are required, and so are each device's "name" and "containerEdits" and each
 * device node's "path"; "hostPath" came in 0.5.0. A spec must list at least one device: with
 * none listed there is no file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cdi.h"
#include "json-util.h"
#include "state.h"
#include "util.h"

/* 0.5.0 is the first version whose device names may start with a digit ("7", "0000_03_00.0"),
 * and the first with "hostPath". The versions after it added only optional fields that this
 * writer does not use (annotations in 0.6.0, intelRdt and additionalGids in 0.7.0, netDevices
 * in 1.1.0) or changed only the Go API (0.8.0, 1.0.0), so the same document is valid in each:
 * the library's specs-go/version.go asks for no version above 0.5.0 for it. */
static const char versions[] = "0.5.0, 0.6.0, 0.7.0, 0.8.0, 1.0.0, 1.1.0";

bool cdi_version_is_supported(const char *version) {
        size_t n = version ? strlen(version) : 0;

        for (const char *p = versions; n > 0 && (p = strstr(p, version)); p += n)
                if ((p == versions || p[-1] == ' ') && (p[n] == ',' || !p[n]))
                        return true;
        return false;
}

const char *cdi_versions_known(void) {
        return versions;
}

int cdi_spec_path_check(const char *path, const char **ret_why) {
        const char *base = path ? strrchr(path, '/') : NULL;
        size_t n = base ? strlen(base + 1) : 0;

        if (!path || path[0] != '/')
                *ret_why = "not an absolute path";
        else if (n < strlen("x.json") || !streq(base + 1 + n - 5, ".json"))
                /* The runtimes skip other files (pkg/cdi/spec-dirs.go): it would never be read. */
                *ret_why = "the file name must end in .json (container runtimes read no other)";
        else if (!filename_is_valid(base + 1) || n + strlen("..tmp") > NAME_MAX)
                *ret_why = "not a valid file name";
        else
                return 0;
        return -EINVAL;
}

bool cdi_lists_lease(const Lease *l) {
        return l->state == LEASE_ACTIVE && (l->kind == LEASE_PREPARE || l->owner);
}

void cdi_address_name(const char *address, char ret[static CDI_ADDRESS_NAME_MAX]) {
        snprintf(ret, CDI_ADDRESS_NAME_MAX, "%s", address);
        for (char *c = ret; *c; c++)
                if (*c == ':')
                        *c = '_';
}

CdiSpec *cdi_spec_free(CdiSpec *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_groups; i++)
                strv_free(s->groups[i].names);
        free(s->groups);
        free(s->text);
        free(s);
        return NULL;
}

char *const *cdi_spec_names(const CdiSpec *s, uint64_t lease) {
        for (size_t i = 0; s && i < s->n_groups; i++)
                if (s->groups[i].lease == lease)
                        return s->groups[i].names;
        return NULL;
}

/* {"path": "/dev/...", "hostPath": ..., "type": "c", "permissions": "rw"}: the container sees
 * the node where the host has it (hostPath only when the dev root is not "/"); its major and
 * minor are left to the runtime, which reads them from the host node when it creates the
 * container (they are the kernel's to choose, and /dev/vfio/N is made anew for each binding).
 * "rw" and not the default "rwm": nothing in the container needs to make nodes. */
static int add_node(json_object *nodes, const Model *m, const char *node) {
        _cleanup_json_ json_object *o = json_object_new_object();
        _cleanup_free_ char *path = NULL, *host = NULL;
        int k = 0;

        if (!o || asprintf(&path, "/%s", node) < 0 || dev_abs_path(m->root, node, &host) < 0)
                return -ENOMEM;
        k |= json_add_new(o, "path", json_object_new_string(path));
        if (!streq(host, path))
                k |= json_add_new(o, "hostPath", json_object_new_string(host));
        k |= json_add_new(o, "type", json_object_new_string("c"));
        k |= json_add_new(o, "permissions", json_object_new_string("rw"));
        if (k)
                return -ENOMEM;
        return json_append_new(nodes, TAKE_PTR(o));
}

/* Appends {"name": name, "containerEdits": {"deviceNodes": [...]}} for the backend's context
 * node and the nodes of a group whose members on VFIO have these cdevs; nothing when the group
 * has no node of its own. Returns 1 when it appended one. */
static int add_device(json_object *devices, const Model *m, const Lease *l, const char *name,
                      char *const *cdevs) {
        const VfioBackendOps *ops = l->backend->ops;
        _cleanup_json_ json_object *dev = json_object_new_object(), *edits = NULL, *nodes = NULL;
        _cleanup_strv_free_ char **own = NULL;
        int k;

        k = ops->group_nodes(l->group, cdevs, &own);
        if (k < 0)
                return k;
        if (!own[0])
                return 0;
        edits = json_object_new_object();
        nodes = json_object_new_array();
        if (!dev || !edits || !nodes)
                return -ENOMEM;
        k = add_node(nodes, m, ops->context_node);
        for (char **n = own; k >= 0 && *n; n++)
                k = add_node(nodes, m, *n);
        if (k < 0)
                return k;
        if (json_add_new(edits, "deviceNodes", TAKE_PTR(nodes)) < 0 ||
            json_add_new(dev, "name", json_object_new_string(name)) < 0 ||
            json_add_new(dev, "containerEdits", TAKE_PTR(edits)) < 0 ||
            json_append_new(devices, TAKE_PTR(dev)) < 0)
                return -ENOMEM;
        return 1;
}

/* The model's cdev of a member, NULL when it has none (yet). */
static char *member_cdev(const Model *m, const char *address) {
        const Device *d = topology_find_device(m->topology, address);

        return d ? d->vfio_dev : NULL;
}

/* The lease's devices, appended to devices, and the names they have in g. */
static int add_lease(json_object *devices, const Model *m, const Lease *l, CdiGroup *g) {
        _cleanup_free_ char **cdevs = calloc(l->n_devices + 1, sizeof(char *));
        size_t n = 0;
        char name[32];
        int k;

        if (!cdevs)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_devices; i++)
                if (!l->devices[i].bridge && member_cdev(m, l->devices[i].address))
                        cdevs[n++] = member_cdev(m, l->devices[i].address); /* borrowed */
        snprintf(name, sizeof(name), "%" PRIu32, l->group);
        k = add_device(devices, m, l, name, cdevs);
        if (k <= 0)
                return k;
        if (strv_extendf(&g->names, CDI_KIND "=%s", name) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_devices; i++) {
                const LeaseDevice *d = &l->devices[i];
                char *one[2] = { member_cdev(m, d->address), NULL };

                if (d->bridge)
                        continue;
                cdi_address_name(d->address, name);
                k = add_device(devices, m, l, name, one[0] ? one : NULL);
                if (k < 0)
                        return k;
                if (k > 0 && strv_extendf(&g->names, CDI_KIND "=%s", name) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int by_group(const void *a, const void *b) {
        const Lease *x = *(Lease *const *) a, *y = *(Lease *const *) b;

        return x->group < y->group ? -1 : x->group > y->group;
}

int cdi_spec_build(const char *version, Lease *const *leases, size_t n, const Model *m,
                   CdiSpec **ret) {
        _cleanup_(cdi_spec_freep) CdiSpec *s = calloc(1, sizeof(*s));
        _cleanup_json_ json_object *root = json_object_new_object(), *devices = NULL;
        _cleanup_free_ Lease **sorted = NULL;
        const char *text;
        int k = 0;

        if (!cdi_version_is_supported(version))
                return -EPROTONOSUPPORT;
        devices = json_object_new_array();
        if (!s || !root || !devices)
                return -ENOMEM;
        if (n > 0) {
                sorted = calloc(n, sizeof(*sorted));
                s->groups = calloc(n, sizeof(*s->groups));
                if (!sorted || !s->groups)
                        return -ENOMEM;
                memcpy(sorted, leases, n * sizeof(*sorted));
                qsort(sorted, n, sizeof(*sorted), by_group);
        }
        for (size_t i = 0; i < n; i++) {
                CdiGroup *g = &s->groups[s->n_groups];

                g->lease = sorted[i]->id;
                k = add_lease(devices, m, sorted[i], g);
                if (k < 0)
                        return k;
                if (g->names)
                        s->n_groups++;
        }
        if (s->n_groups > 0) {
                k |= json_add_new(root, "cdiVersion", json_object_new_string(version));
                k |= json_add_new(root, "kind", json_object_new_string(CDI_KIND));
                k |= json_add_new(root, "devices", TAKE_PTR(devices));
                if (k)
                        return -ENOMEM;
                /* No "\/" for '/': YAML 1.1 knows no such escape, and the runtimes read specs
                 * through a YAML parser. */
                text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                                    JSON_C_TO_STRING_SPACED |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
                if (!text || asprintf(&s->text, "%s\n", text) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* mkdir -p, each new directory 0755 whatever the umask: the runtimes that read the spec may run
 * as other users (rootless podman reads /run/cdi too). */
static int mkdir_parents(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *c = p + 1;; c++)
                if (*c == '/' || !*c) {
                        char end = *c;

                        *c = 0;
                        if (mkdir(p, 0755) >= 0) {
                                if (chmod(p, 0755) < 0)
                                        return negative_errno();
                        } else if (errno != EEXIST)
                                return negative_errno();
                        if (!end)
                                return 0;
                        *c = end;
                }
}

int cdi_spec_write(const CdiSpec *s, const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -1;
        char *base = dir ? strrchr(dir, '/') : NULL;
        int k;

        if (!base)
                return dir ? -EINVAL : -ENOMEM;
        *base++ = 0;
        if (s->text && dir[0]) {
                k = mkdir_parents(dir);
                if (k < 0)
                        return k;
        }
        fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT && !s->text ? 0 : negative_errno();
        if (s->text)
                return write_file_atomic_at(fd, base, s->text, 0644);
        return unlinkat(fd, base, 0) < 0 && errno != ENOENT ? negative_errno() : 0;
}
