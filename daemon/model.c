/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmar.h"
#include "model.h"
#include "names.h"
#include "util.h"
#include "vfio-variant.h"

void change_list_clear(ChangeList *l) {
        free(l->changes);
        l->changes = NULL;
        l->n = 0;
}

static int change_add(ChangeList *l, ChangeKind kind, const char *address, uint32_t group,
                      uint32_t mask) {
        Change *nc = realloc(l->changes, sizeof(Change) * (l->n + 1));

        if (!nc)
                return -ENOMEM;
        l->changes = nc;
        nc[l->n] = (Change) { .kind = kind, .group = group, .mask = mask };
        if (address)
                strcpy(nc[l->n].address, address);
        l->n++;
        return 0;
}

int model_new(SysRoot *root, PciNames *names, Model **ret) {
        Model *m;
        int k;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        k = topology_new(&m->topology);
        if (k < 0) {
                free(m);
                return k;
        }
        m->root = root;
        m->names = names;
        *ret = m;
        return 0;
}

static void model_clear_rmrr(Model *m) {
        m->rmrr = mfree(m->rmrr);
        m->n_rmrr = 0;
        m->rmrr_subtrees = mfree(m->rmrr_subtrees);
        m->n_rmrr_subtrees = 0;
        m->rmrr_bridges = mfree(m->rmrr_bridges);
        m->n_rmrr_bridges = 0;
        m->rmrr_volatile = false;
        m->rmrr_error = mfree(m->rmrr_error);
}

static void model_clear_critical(Model *m) {
        host_critical_free(m->critical, m->n_critical);
        m->critical = NULL;
        m->n_critical = 0;
        strv_free(m->critical_errors);
        m->critical_errors = NULL;
}

static void model_clear_derived_inputs(Model *m) {
        model_clear_rmrr(m);
        model_clear_critical(m);
        strv_free(m->errors);
        m->errors = NULL;
}

Model *model_free(Model *m) {
        if (!m)
                return NULL;
        model_forget_unsettled(m);
        model_clear_derived_inputs(m);
        topology_free(m->topology);
        vfio_variants_free(m->variants);
        free(m->variants_error);
        host_info_free(m->host);
        pci_names_free(m->names);
        sysroot_free(m->root);
        free(m);
        return NULL;
}

/* A set of PCI addresses, sorted and unique once address_set_sort() ran. */
typedef struct AddressSet {
        PciAddress *a;
        size_t n;
} AddressSet;

static int address_set_add(AddressSet *s, const PciAddress *a) {
        PciAddress *n;

        /* Doubling: a subtree can name many devices. */
        if ((s->n & (s->n - 1)) == 0) {
                n = realloc(s->a, sizeof(PciAddress) * (s->n ? s->n * 2 : 1));
                if (!n)
                        return -ENOMEM;
                s->a = n;
        }
        s->a[s->n++] = *a;
        return 0;
}

static int cmp_address(const void *a, const void *b) {
        return pci_address_compare(a, b);
}

static void address_set_sort(AddressSet *s) {
        size_t j = 0;

        if (s->n > 1)
                qsort(s->a, s->n, sizeof(PciAddress), cmp_address);
        for (size_t i = 0; i < s->n; i++)
                if (j == 0 || pci_address_compare(&s->a[j - 1], &s->a[i]) != 0)
                        s->a[j++] = s->a[i];
        s->n = j;
}

static bool address_in(const PciAddress *l, size_t n, const PciAddress *a) {
        return n > 0 && bsearch(a, l, n, sizeof(PciAddress), cmp_address);
}

/* The addresses in exactly one of two sorted lists: whose facts a new resolution changed. */
static int address_symmetric_difference(const PciAddress *a, size_t na, const PciAddress *b,
                                        size_t nb, AddressSet *out) {
        size_t i = 0, j = 0;
        int k;

        while (i < na || j < nb) {
                int c = i == na ? 1 : j == nb ? -1 : pci_address_compare(&a[i], &b[j]);

                if (c == 0) {
                        i++;
                        j++;
                        continue;
                }
                k = address_set_add(out, c < 0 ? &a[i++] : &b[j++]);
                if (k < 0)
                        return k;
        }
        return 0;
}

typedef struct RmrrResolution {
        Model *m;
        AddressSet bridges;
        bool is_volatile;
} RmrrResolution;

/* The secondary bus of a bridge, for DMAR scope paths: config space offset 0x19 (PCI-to-PCI
 * Bridge Architecture spec 3.2.5.3); if config is unreadable, the bus of a child directory. */
static int secondary_bus(void *userdata, const PciAddress *bridge, uint8_t *ret_bus) {
        RmrrResolution *r = userdata;
        char addr[PCI_ADDRESS_STRLEN], path[128];
        _cleanup_close_ int dfd = -1;
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;
        uint8_t b;

        if (address_set_add(&r->bridges, bridge) < 0)
                return -ENOMEM;
        pci_address_format(bridge, addr);
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s", addr);
        if (sysroot_open_dir(r->m->root, path, &dfd) < 0) {
                r->is_volatile = true; /* the bridge may appear */
                return -ENODEV;
        }
        {
                _cleanup_close_ int fd = openat(dfd, "config", O_RDONLY | O_CLOEXEC);

                if (fd >= 0 && pread(fd, &b, 1, 0x19) == 1 && b != 0) {
                        *ret_bus = b;
                        return 0;
                }
        }
        /* What follows depends on the children there are. */
        r->is_volatile = true;
        if (sysroot_opendir_at(r->m->root, dfd, ".", &d) < 0)
                return -ENODEV;
        while ((de = readdir(d))) {
                PciAddress child;

                if (pci_address_is_canonical(de->d_name) &&
                    pci_address_parse(de->d_name, &child) >= 0) {
                        *ret_bus = child.bus;
                        return 0;
                }
        }
        return -ENODEV;
}

/* Resolves the RMRR scopes again. A bridge scope's subtree is not listed device by device: each
 * device checks whether it is below one (derive_facts_rmrr_named()). ret_named and ret_subtrees
 * (both NULL or neither) get the devices and the bridge scopes that came or went. */
static int model_resolve_rmrr(Model *m, AddressSet *ret_named, AddressSet *ret_subtrees) {
        _cleanup_free_ DmarRmrrLock *locks = NULL;
        RmrrResolution r = { .m = m };
        AddressSet named = {}, subtrees = {};
        size_t n = 0;
        int k;

        if (!m->host->dmar) {
                k = 0;
                goto done;
        }
        k = dmar_rmrr_locks(m->host->dmar, secondary_bus, &r, &locks, &n);
        for (size_t i = 0; k >= 0 && i < n; i++) {
                k = address_set_add(&named, &locks[i].address);
                if (k >= 0 && locks[i].subtree)
                        k = address_set_add(&subtrees, &locks[i].address);
        }
done:
        if (k == -ENOMEM)
                goto fail;
        address_set_sort(&named);
        address_set_sort(&subtrees);
        address_set_sort(&r.bridges);
        if (ret_named) {
                int r2 = address_symmetric_difference(m->rmrr, m->n_rmrr, named.a, named.n,
                                                      ret_named);

                if (r2 >= 0)
                        r2 = address_symmetric_difference(m->rmrr_subtrees, m->n_rmrr_subtrees,
                                                          subtrees.a, subtrees.n, ret_subtrees);
                if (r2 < 0) {
                        k = r2;
                        goto fail;
                }
        }
        model_clear_rmrr(m);
        if (k < 0 && asprintf(&m->rmrr_error, "DMAR RMRR scopes: %s", strerror(-k)) < 0) {
                k = -ENOMEM;
                goto fail;
        }
        m->rmrr = named.a;
        m->n_rmrr = named.n;
        m->rmrr_subtrees = subtrees.a;
        m->n_rmrr_subtrees = subtrees.n;
        m->rmrr_bridges = r.bridges.a;
        m->n_rmrr_bridges = r.bridges.n;
        m->rmrr_volatile = r.is_volatile || k < 0;
        return 0;
fail:
        free(named.a);
        free(subtrees.a);
        free(r.bridges.a);
        return k;
}

static const char *critical_reason(const Model *m, const char *address) {
        for (size_t i = 0; i < m->n_critical; i++)
                if (streq(m->critical[i].address, address))
                        return m->critical[i].reason;
        return NULL;
}

/* Finds the devices behind "/" and the default route again; ret_changed (may be NULL) gets the
 * devices whose reason came, went or changed. */
static int model_find_critical(Model *m, AddressSet *ret_changed) {
        HostCritical *c = NULL;
        char **errors = NULL;
        size_t n = 0;
        int k;

        k = host_critical_find(m->root, &c, &n, &errors);
        if (k < 0) {
                strv_free(errors);
                return k;
        }
        for (size_t i = 0; ret_changed && i < n + m->n_critical; i++) {
                const HostCritical *x = i < n ? &c[i] : &m->critical[i - n];
                const char *before = critical_reason(m, x->address), *now = NULL;
                PciAddress a;

                for (size_t j = 0; j < n && !now; j++)
                        if (streq(c[j].address, x->address))
                                now = c[j].reason;
                if ((!before || !now || !streq(before, now)) &&
                    pci_address_parse(x->address, &a) >= 0 &&
                    (k = address_set_add(ret_changed, &a)) < 0) {
                        host_critical_free(c, n);
                        strv_free(errors);
                        return k;
                }
        }
        model_clear_critical(m);
        m->critical = c;
        m->n_critical = n;
        m->critical_errors = errors;
        return 0;
}

/* m->errors, as the report shows them: the RMRR problem, then the host-critical ones. */
static int model_join_errors(Model *m) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        if (m->rmrr_error && strv_extend_n(&l, &n, m->rmrr_error) < 0)
                return -ENOMEM;
        if (m->variants_error && strv_extend_n(&l, &n, m->variants_error) < 0)
                return -ENOMEM;
        for (char **e = m->critical_errors; e && *e; e++)
                if (strv_extend_n(&l, &n, *e) < 0)
                        return -ENOMEM;
        strv_free(m->errors);
        m->errors = TAKE_PTR(l);
        return 0;
}

static DeriveFacts model_facts(const Model *m) {
        return (DeriveFacts) { .rmrr = m->rmrr,
                               .n_rmrr = m->n_rmrr,
                               .rmrr_subtrees = m->rmrr_subtrees,
                               .n_rmrr_subtrees = m->n_rmrr_subtrees,
                               .crit = m->critical,
                               .n_crit = m->n_critical,
                               .iommu_present = m->host->iommu_present,
                               .variants = m->variants };
}

static int model_derive_all(Model *m) {
        DeriveFacts f = model_facts(m);

        m->derived_iommu_present = f.iommu_present;
        return topology_derive(m->topology, &f);
}

/* A kernel without modules.alias has no variants; a file that cannot be read or parsed leaves
 * every device to vfio-pci and says why in the report. */
static int model_load_variants(Model *m) {
        _cleanup_free_ char *error = NULL;
        int k;

        m->variants = vfio_variants_free(m->variants);
        m->variants_error = mfree(m->variants_error);
        /* Which kernel this is unknown (its own error in the report): which modules, too. */
        if (!m->modules_alias && !m->host->kernel_release)
                return 0;
        k = vfio_variants_load(m->root, m->host->kernel_release, m->modules_alias, &m->variants,
                               &error);
        if (k == -ENOMEM)
                return k;
        if (k < 0 && k != -ENOENT &&
            asprintf(&m->variants_error, "VFIO variant drivers: %s", error ? error : strerror(-k)) <
                    0)
                return -ENOMEM;
        return 0;
}

int model_load(Model *m) {
        HostInfo *h = NULL;
        int k;

        k = host_info_read(m->root, &h);
        if (k < 0)
                return k;
        host_info_free(m->host);
        m->host = h;
        k = model_load_variants(m);
        if (k < 0)
                return k;
        model_forget_unsettled(m);
        k = topology_scan(m->topology, m->root, m->names);
        if (k < 0)
                return k;
        model_clear_derived_inputs(m);
        if ((k = model_resolve_rmrr(m, NULL, NULL)) < 0 || (k = model_find_critical(m, NULL)) < 0 ||
            (k = model_join_errors(m)) < 0)
                return k;
        return model_derive_all(m);
}

int model_refresh_host(Model *m, bool full, bool *ret_changed) {
        HostInfo *h = NULL;
        int k;

        if (!full && m->host) {
                host_read_params(m->root, m->host, NULL);
                if (ret_changed)
                        *ret_changed = false;
                return 0;
        }
        k = host_info_read(m->root, &h);
        if (k < 0)
                return k;
        if (ret_changed)
                *ret_changed = !m->host || m->host->ir != h->ir ||
                               m->host->iommu_present != h->iommu_present;
        host_info_free(m->host);
        m->host = h;
        return 0;
}

static bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static bool strv_equal(char *const *a, char *const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

uint32_t device_diff(const Device *a, const Device *b) {
        uint32_t m = 0;

        if (a->ids_known != b->ids_known || a->vendor != b->vendor || a->device != b->device ||
            a->subsystem_vendor != b->subsystem_vendor ||
            a->subsystem_device != b->subsystem_device || a->class != b->class ||
            !streq_ptr(a->vendor_name, b->vendor_name) ||
            !streq_ptr(a->device_name, b->device_name))
                m |= DEVICE_CHANGED_IDS;
        if (!streq_ptr(a->driver, b->driver))
                m |= DEVICE_CHANGED_DRIVER;
        if (!streq_ptr(a->driver_override, b->driver_override))
                m |= DEVICE_CHANGED_DRIVER_OVERRIDE;
        if (!strv_equal(a->reset_methods, b->reset_methods))
                m |= DEVICE_CHANGED_RESET;
        if (a->numa_node != b->numa_node)
                m |= DEVICE_CHANGED_NUMA;
        if (a->boot_vga != b->boot_vga)
                m |= DEVICE_CHANGED_BOOT_VGA;
        if (!streq_ptr(a->physfn, b->physfn))
                m |= DEVICE_CHANGED_PHYSFN;
        if (!strv_equal(a->virtfns, b->virtfns))
                m |= DEVICE_CHANGED_VIRTFNS;
        if (a->sriov_totalvfs != b->sriov_totalvfs || a->sriov_numvfs != b->sriov_numvfs)
                m |= DEVICE_CHANGED_SRIOV;
        if (a->bridge != b->bridge || a->host_bridge != b->host_bridge)
                m |= DEVICE_CHANGED_BRIDGE;
        if (a->group != b->group)
                m |= DEVICE_CHANGED_GROUP;
        if (!streq_ptr(a->vfio_dev, b->vfio_dev))
                m |= DEVICE_CHANGED_VFIO_DEV;
        if (a->rmrr_locked != b->rmrr_locked)
                m |= DEVICE_CHANGED_RMRR;
        if (!streq_ptr(a->host_critical, b->host_critical))
                m |= DEVICE_CHANGED_HOST_CRITICAL;
        return m;
}

uint32_t group_diff(const Group *a, const Group *b) {
        uint32_t m = 0;

        if (!strv_equal(a->devices, b->devices))
                m |= GROUP_CHANGED_DEVICES;
        if (!streq_ptr(a->type, b->type))
                m |= GROUP_CHANGED_TYPE;
        if (a->n_regions != b->n_regions)
                m |= GROUP_CHANGED_REGIONS;
        else
                for (size_t i = 0; i < a->n_regions; i++)
                        if (a->regions[i].start != b->regions[i].start ||
                            a->regions[i].end != b->regions[i].end ||
                            !streq(a->regions[i].type, b->regions[i].type))
                                m |= GROUP_CHANGED_REGIONS;
        if (a->assignable != b->assignable)
                m |= GROUP_CHANGED_ASSIGNABLE;
        if (a->n_blockers != b->n_blockers)
                m |= GROUP_CHANGED_BLOCKERS;
        else
                for (size_t i = 0; i < a->n_blockers; i++)
                        if (!streq(a->blockers[i].code, b->blockers[i].code) ||
                            !streq_ptr(a->blockers[i].device, b->blockers[i].device) ||
                            !streq(a->blockers[i].reason, b->blockers[i].reason))
                                m |= GROUP_CHANGED_BLOCKERS;
        return m;
}

/* One device re-read: the old object is kept (*ret_old) until the caller has diffed. */
typedef struct Refreshed {
        char address[PCI_ADDRESS_STRLEN];
        Device *old;
        bool present;
} Refreshed;

/* Replaces the device in place: the index shifts only when a device comes or goes. */
static int refresh_device(Model *m, const char *address, Refreshed *r) {
        Device *d = NULL;
        int k;

        strcpy(r->address, address);
        r->old = NULL;
        r->present = false;
        k = device_read(m->root, m->names, address, &d, &m->topology->errors);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                /* gone, or unreadable: treat as absent */
                r->old = topology_take_device(m->topology, address);
                return 0;
        }
        k = topology_put_device(m->topology, d, &r->old);
        if (k < 0) {
                device_free(d);
                return k;
        }
        r->present = true;
        return 0;
}

typedef struct RefreshedGroup {
        uint32_t id;
        Group *old;
        bool present;
} RefreshedGroup;

static int refresh_group(Model *m, uint32_t id, RefreshedGroup *r) {
        Group *g = NULL;
        int k;

        r->id = id;
        r->old = NULL;
        r->present = false;
        k = group_read(m->root, id, &g, &m->topology->errors);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                r->old = topology_take_group(m->topology, id);
                return 0;
        }
        k = topology_put_group(m->topology, g, &r->old);
        if (k < 0) {
                group_free(g);
                return k;
        }
        r->present = true;
        return 0;
}

static int device_changes(Model *m, const Refreshed *r, ChangeList *changes) {
        Device *now = r->present ? topology_find_device(m->topology, r->address) : NULL;

        if (now && !r->old)
                return change_add(changes, CHANGE_DEVICE_ADDED, r->address, 0, 0);
        if (!now && r->old)
                return change_add(changes, CHANGE_DEVICE_REMOVED, r->address, 0, 0);
        if (now && r->old) {
                uint32_t mask = device_diff(r->old, now);
                if (mask)
                        return change_add(changes, CHANGE_DEVICE_CHANGED, r->address, 0, mask);
        }
        return 0;
}

static int group_changes(Model *m, const RefreshedGroup *r, ChangeList *changes) {
        Group *now = r->present ? topology_find_group(m->topology, r->id) : NULL;

        if (now && !r->old)
                return change_add(changes, CHANGE_GROUP_ADDED, NULL, r->id, 0);
        if (!now && r->old)
                return change_add(changes, CHANGE_GROUP_REMOVED, NULL, r->id, 0);
        if (now && r->old) {
                uint32_t mask = group_diff(r->old, now);
                if (mask)
                        return change_add(changes, CHANGE_GROUP_CHANGED, NULL, r->id, mask);
        }
        return 0;
}

/* What one pass of refresh() re-reads: devices (and the PF of a VF among them) and groups. */
typedef struct Batch {
        Refreshed *devs;
        size_t n_devs;
        RefreshedGroup *groups;
        size_t n_groups;
        bool driver_only; /* the devices' drivers changed, nothing else: see model_process_event() */
} Batch;

static void batch_done(Batch *b) {
        for (size_t i = 0; i < b->n_devs; i++)
                device_free(b->devs[i].old);
        for (size_t i = 0; i < b->n_groups; i++)
                group_free(b->groups[i].old);
        free(b->devs);
        free(b->groups);
}

static bool batch_has_device(const Batch *b, const char *address) {
        for (size_t i = 0; i < b->n_devs; i++)
                if (streq(b->devs[i].address, address))
                        return true;
        return false;
}

static bool batch_has_group(const Batch *b, uint32_t id) {
        for (size_t i = 0; i < b->n_groups; i++)
                if (b->groups[i].id == id)
                        return true;
        return false;
}

static int batch_device(Model *m, Batch *b, const char *address) {
        Refreshed *n;

        if (batch_has_device(b, address))
                return 0;
        n = realloc(b->devs, sizeof(Refreshed) * (b->n_devs + 1));
        if (!n)
                return -ENOMEM;
        b->devs = n;
        n[b->n_devs] = (Refreshed) {};
        b->n_devs++;
        return refresh_device(m, address, &n[b->n_devs - 1]);
}

static int batch_group(Model *m, Batch *b, int64_t id) {
        RefreshedGroup *n;

        if (id < 0 || batch_has_group(b, (uint32_t) id))
                return 0;
        n = realloc(b->groups, sizeof(RefreshedGroup) * (b->n_groups + 1));
        if (!n)
                return -ENOMEM;
        b->groups = n;
        n[b->n_groups] = (RefreshedGroup) {};
        b->n_groups++;
        return refresh_group(m, (uint32_t) id, &n[b->n_groups - 1]);
}

static int set_add_group(uint32_t **ids, size_t *n, uint32_t id) {
        uint32_t *g;

        for (size_t i = 0; i < *n; i++)
                if ((*ids)[i] == id)
                        return 0;
        g = realloc(*ids, sizeof(uint32_t) * (*n + 1));
        if (!g)
                return -ENOMEM;
        g[(*n)++] = id;
        *ids = g;
        return 0;
}

static void set_remove_group(uint32_t *ids, size_t *n, uint32_t id) {
        for (size_t i = 0; i < *n; i++)
                if (ids[i] == id) {
                        ids[i] = ids[--*n];
                        return;
                }
}

/* A group is settled when every device iommu_groups/N/devices lists is one we read with that
 * group, and every device we read with that group is listed. The kernel updates the two sides
 * one after the other: a remove uevent can come while the device is still listed. */
static bool group_settled(const Model *m, const Group *g, const Batch *b) {
        for (char **a = g->devices; a && *a; a++) {
                const Device *d = topology_find_device(m->topology, *a);

                if (!d || d->group != g->id)
                        return false;
        }
        for (size_t i = 0; i < b->n_devs; i++) {
                const Device *d = topology_find_device(m->topology, b->devs[i].address);

                if (d && d->group == g->id && !strv_contains(g->devices, d->address))
                        return false;
        }
        return true;
}

/* A device is settled when it has the group it will keep: with an IOMMU, every PCI device gets
 * one when the kernel adds it (iommu_probe_device()), so a device without one is still being
 * added. */
static bool device_settled(const Model *m, const Device *d) {
        if (d->group < 0)
                return !m->host || !m->host->iommu_present;
        return topology_find_group(m->topology, (uint32_t) d->group);
}

static int update_unsettled(Model *m, const Batch *b) {
        int k;

        for (size_t i = 0; i < b->n_groups; i++) {
                const Group *g = topology_find_group(m->topology, b->groups[i].id);

                if (!g || group_settled(m, g, b))
                        set_remove_group(m->unsettled_groups, &m->n_unsettled_groups,
                                         b->groups[i].id);
                else if ((k = set_add_group(&m->unsettled_groups, &m->n_unsettled_groups, g->id)) <
                         0)
                        return k;
        }
        for (size_t i = 0; i < b->n_devs; i++) {
                const Device *d = topology_find_device(m->topology, b->devs[i].address);

                if (!d || device_settled(m, d))
                        strv_remove(m->unsettled_devices, b->devs[i].address);
                else if (!strv_contains(m->unsettled_devices, d->address) &&
                         strv_extend(&m->unsettled_devices, d->address) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int batch_changes(Model *m, const Batch *b, ChangeList *changes) {
        int k;

        /* A new group is announced before the devices that point at it, a changed one after. */
        for (size_t i = 0; i < b->n_groups; i++)
                if (!b->groups[i].old && b->groups[i].present &&
                    (k = group_changes(m, &b->groups[i], changes)) < 0)
                        return k;
        for (size_t i = 0; i < b->n_devs; i++)
                if ((k = device_changes(m, &b->devs[i], changes)) < 0)
                        return k;
        for (size_t i = 0; i < b->n_groups; i++)
                if (b->groups[i].old && (k = group_changes(m, &b->groups[i], changes)) < 0)
                        return k;
        return 0;
}

/* Whether an event of the batch device r may change what "/" or the default route resolve to.
 * They resolve through sysfs paths (sys/dev/block/MAJ:MIN, sys/class/net/IF, and the slaves/
 * and lower_* links of stacked devices) to the directories the drivers of PCI devices create
 * below them (Documentation/ABI/stable/sysfs-block, sysfs-class-net). A PCI event changes those
 * paths only in two ways:
 * - the device goes, or loses its driver: its block and net devices go with it (the driver's
 *   remove() unregisters them) and with them what resolved through them. So: when the device
 *   held one of the facts, or is an ancestor of one that did (its directory is on the path).
 * - the device comes, or gets a driver: new block and net devices appear below it. The root
 *   filesystem is mounted and a route has its interface before any PCI event of ours, so a new
 *   device can only complete a resolution that failed (the mount's block device or the route's
 *   interface was not there: an error was recorded), never change one that succeeded.
 * A disk joining the root's md array, or a NIC its bond, is done later by mdadm or netlink,
 * with no PCI event: neither a full scan at that event nor this would see it. */
static bool critical_may_change(const Model *m, const Refreshed *r, const Device *now) {
        const Device *old = r->old;
        bool went = old && (!now || (old->driver && !streq_ptr(old->driver, now->driver)));
        bool came = now && (!old || (now->driver && !streq_ptr(old->driver, now->driver)));
        char component[PCI_ADDRESS_STRLEN + 2];

        if (came && m->critical_errors)
                return true;
        if (!went)
                return false;
        snprintf(component, sizeof(component), "/%s/", r->address);
        for (size_t i = 0; i < m->n_critical; i++) {
                const Device *c = topology_find_device(m->topology, m->critical[i].address);

                if (streq(m->critical[i].address, r->address) ||
                    (c && c->devpath && strstr(c->devpath, component)))
                        return true;
        }
        return false;
}

/* Whether an event of the batch device r may change what the RMRR scopes resolve to. A scope is
 * a start bus and a path of (device, function) hops (ACPI DMAR, VT-d spec 8.3.1); each hop past
 * the first goes through the secondary bus of the bridge the previous hop named. Bus numbers of
 * a bridge are fixed while it is there (the kernel assigns them when it scans the bridge), so the
 * resolution changes only when one of the bridges it read comes, goes or is read again, or, when
 * a bridge was missing or had no readable config (rmrr_volatile), when any device comes or
 * goes. */
static bool rmrr_may_change(const Model *m, const Refreshed *r, const Device *now) {
        PciAddress a;

        if (!m->host->dmar || pci_address_parse(r->address, &a) < 0)
                return false;
        if (address_in(m->rmrr_bridges, m->n_rmrr_bridges, &a))
                return true;
        return m->rmrr_volatile && !r->old != !now;
}

/* The devices and groups one event derives again. */
typedef struct DeriveSet {
        Device **devices;
        size_t n_devices;
        uint32_t *groups;
        size_t n_groups;
} DeriveSet;

static void derive_set_done(DeriveSet *s) {
        free(s->devices);
        free(s->groups);
}

/* Both arrays grow by doubling (a group may have many members, a bridge scope many devices). */
static int grow_array(void **p, size_t n, size_t size) {
        void *np;

        if (n & (n - 1))
                return 0;
        np = realloc(*p, size * (n ? n * 2 : 1));
        if (!np)
                return -ENOMEM;
        *p = np;
        return 0;
}

static int derive_set_device(DeriveSet *s, Device *d) {
        if (!d)
                return 0;
        if (grow_array((void **) &s->devices, s->n_devices, sizeof(Device *)) < 0)
                return -ENOMEM;
        s->devices[s->n_devices++] = d;
        if (d->group < 0)
                return 0;
        if (grow_array((void **) &s->groups, s->n_groups, sizeof(uint32_t)) < 0)
                return -ENOMEM;
        s->groups[s->n_groups++] = (uint32_t) d->group;
        return 0;
}

static int derive_set_group(Model *m, DeriveSet *s, uint32_t id) {
        const Group *g = topology_find_group(m->topology, id);
        int k;

        if (!g)
                return 0;
        if (grow_array((void **) &s->groups, s->n_groups, sizeof(uint32_t)) < 0)
                return -ENOMEM;
        s->groups[s->n_groups++] = id;
        /* A member's rmrr_locked reads the group's reserved regions. */
        for (char **a = g->devices; a && *a; a++)
                if ((k = derive_set_device(s, topology_find_device(m->topology, *a))) < 0)
                        return k;
        return 0;
}

/* The devices below a bridge are those on the buses from its secondary bus to its subordinate
 * bus (PCI-to-PCI Bridge Architecture spec 3.2.5.3): a contiguous run of the address-sorted
 * devices, each with the bridge's directory on its path. */
static int derive_set_subtree(Model *m, DeriveSet *s, const PciAddress *bridge) {
        RmrrResolution r = { .m = m };
        Device *b;
        char addr[PCI_ADDRESS_STRLEN];
        PciAddress first;
        uint8_t bus;
        size_t len;
        int k;

        pci_address_format(bridge, addr);
        b = topology_find_device(m->topology, addr);
        /* A bridge that went took its subtree with it: the kernel removes the devices below a
         * bridge before the bridge (pci_stop_and_remove_bus_device()), each with its event. */
        if (!b || !b->devpath)
                return 0;
        k = secondary_bus(&r, bridge, &bus);
        free(r.bridges.a);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        first = (PciAddress) { .domain = bridge->domain, .bus = bus };
        len = strlen(b->devpath);
        for (size_t i = topology_device_lower_bound(m->topology, &first);
             i < m->topology->n_devices; i++) {
                Device *d = m->topology->devices[i];

                if (!d->devpath || !strneq(d->devpath, b->devpath, len) || d->devpath[len] != '/')
                        break;
                if ((k = derive_set_device(s, d)) < 0)
                        return k;
        }
        return 0;
}

static int cmp_ptr(const void *a, const void *b) {
        uintptr_t x = (uintptr_t) * (void *const *) a, y = (uintptr_t) * (void *const *) b;
        return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

static void derive_set_sort(DeriveSet *s) {
        size_t j = 0;

        if (s->n_devices > 1)
                qsort(s->devices, s->n_devices, sizeof(Device *), cmp_ptr);
        for (size_t i = 0; i < s->n_devices; i++)
                if (j == 0 || s->devices[j - 1] != s->devices[i])
                        s->devices[j++] = s->devices[i];
        s->n_devices = j;
        j = 0;
        if (s->n_groups > 1)
                qsort(s->groups, s->n_groups, sizeof(uint32_t), cmp_u32);
        for (size_t i = 0; i < s->n_groups; i++)
                if (j == 0 || s->groups[j - 1] != s->groups[i])
                        s->groups[j++] = s->groups[i];
        s->n_groups = j;
}

/* Derives a device outside the batch again; its derived facts are all that can change. */
static int rederive_device(Model *m, Device *d, const DeriveFacts *f, ChangeList *changes) {
        bool locked = d->rmrr_locked;
        _cleanup_free_ char *critical = TAKE_PTR(d->host_critical);
        uint32_t mask = 0;
        int k;

        k = topology_derive_device(m->topology, d, f);
        if (k < 0)
                return k;
        if (locked != d->rmrr_locked)
                mask |= DEVICE_CHANGED_RMRR;
        if (!streq_ptr(critical, d->host_critical))
                mask |= DEVICE_CHANGED_HOST_CRITICAL;
        return mask ? change_add(changes, CHANGE_DEVICE_CHANGED, d->address, 0, mask) : 0;
}

static int rederive_group(Model *m, Group *g, ChangeList *changes) {
        Group before = { .assignable = g->assignable,
                         .blockers = TAKE_PTR(g->blockers),
                         .n_blockers = g->n_blockers };
        uint32_t mask;
        int k;

        g->n_blockers = 0;
        k = topology_derive_group(m->topology, g, m->host->iommu_present);
        mask = group_diff(&before, g) & (GROUP_CHANGED_ASSIGNABLE | GROUP_CHANGED_BLOCKERS);
        blockers_free(before.blockers, before.n_blockers);
        if (k < 0)
                return k;
        return mask ? change_add(changes, CHANGE_GROUP_CHANGED, NULL, g->id, mask) : 0;
}

/* Derives what the batch touched: its devices, its groups and their members, and what a new
 * resolution of the RMRR scopes or of "/" and the default route changed (with those devices'
 * groups). Devices and groups outside the batch are diffed here; the batch's are diffed whole by
 * the caller. */
static int derive_batch(Model *m, Batch *b, bool rmrr, bool critical, ChangeList *changes) {
        AddressSet named_changed = {}, subtrees_changed = {};
        DeriveSet s = {};
        DeriveFacts f;
        int k = 0;

        if (rmrr && (k = model_resolve_rmrr(m, &named_changed, &subtrees_changed)) < 0)
                goto out;
        if (critical && (k = model_find_critical(m, &named_changed)) < 0)
                goto out;
        if ((rmrr || critical) && (k = model_join_errors(m)) < 0)
                goto out;
        /* The IOMMU's presence (a boot-time fact) blocks or frees every group. */
        if (m->host->iommu_present != m->derived_iommu_present) {
                k = model_derive_all(m);
                goto out;
        }

        for (size_t i = 0; i < b->n_devs && k >= 0; i++)
                k = derive_set_device(&s, topology_find_device(m->topology, b->devs[i].address));
        for (size_t i = 0; i < b->n_groups && k >= 0; i++)
                k = derive_set_group(m, &s, b->groups[i].id);
        for (size_t i = 0; i < named_changed.n && k >= 0; i++) {
                char addr[PCI_ADDRESS_STRLEN];

                pci_address_format(&named_changed.a[i], addr);
                k = derive_set_device(&s, topology_find_device(m->topology, addr));
        }
        for (size_t i = 0; i < subtrees_changed.n && k >= 0; i++)
                k = derive_set_subtree(m, &s, &subtrees_changed.a[i]);
        if (k < 0)
                goto out;
        derive_set_sort(&s);

        f = model_facts(m);
        for (size_t i = 0; i < s.n_devices && k >= 0; i++)
                k = batch_has_device(b, s.devices[i]->address)
                            ? topology_derive_device(m->topology, s.devices[i], &f)
                            : rederive_device(m, s.devices[i], &f, changes);
        for (size_t i = 0; i < s.n_groups && k >= 0; i++) {
                Group *g = topology_find_group(m->topology, s.groups[i]);

                if (g)
                        k = batch_has_group(b, g->id)
                                    ? topology_derive_group(m->topology, g, f.iommu_present)
                                    : rederive_group(m, g, changes);
        }
out:
        free(named_changed.a);
        free(subtrees_changed.a);
        derive_set_done(&s);
        return k;
}

/* Re-reads the batch's devices (with the PF of a VF: its virtfnN links and sriov_numvfs change),
 * the groups they were and are in, and the extra groups; derives what they touch; appends what
 * changed. No step walks all devices or groups. */
static int refresh(Model *m, Batch *b, ChangeList *changes) {
        bool rmrr = false, critical = false;
        ChangeList extra = {};
        int k;

        for (size_t i = 0; i < b->n_devs && !b->driver_only; i++) {
                const Device *now = topology_find_device(m->topology, b->devs[i].address);
                const char *pf = now && now->physfn ? now->physfn
                                 : b->devs[i].old   ? b->devs[i].old->physfn
                                                    : NULL;

                if (pf && topology_find_device(m->topology, pf) && (k = batch_device(m, b, pf)) < 0)
                        return k;
        }
        for (size_t i = 0; i < b->n_devs; i++) {
                const Device *now = topology_find_device(m->topology, b->devs[i].address);

                if (!b->driver_only &&
                    ((k = batch_group(m, b, b->devs[i].old ? b->devs[i].old->group : -1)) < 0 ||
                     (k = batch_group(m, b, now ? now->group : -1)) < 0))
                        return k;
                rmrr = rmrr || rmrr_may_change(m, &b->devs[i], now);
                critical = critical || critical_may_change(m, &b->devs[i], now);
        }

        /* Changes outside the batch are announced after the batch's own. */
        k = derive_batch(m, b, rmrr, critical, &extra);
        if (k >= 0)
                k = update_unsettled(m, b);
        if (k >= 0)
                k = batch_changes(m, b, changes);
        for (size_t i = 0; k >= 0 && i < extra.n; i++) {
                const Change *c = &extra.changes[i];

                k = change_add(changes, c->kind, c->address[0] ? c->address : NULL, c->group,
                               c->mask);
        }
        change_list_clear(&extra);
        return k;
}

/* A bind or unbind uevent (KOBJ_BIND, KOBJ_UNBIND: the driver core sends them once a driver has
 * bound to a device or let it go, drivers/base/dd.c, kernel >= 4.14) changes what the device's
 * driver is and nothing else the model reads: the device keeps its ids, its place and its IOMMU
 * group (iommu_probe_device() runs when the device is added, not when a driver binds). So only
 * the driver is read again, and the group derived again without being read. 1: done; 0: the
 * device could not be read (it is going), the caller reads it whole. */
static int refresh_driver(Model *m, Batch *b, const Device *old) {
        Device *d = NULL;
        int k;

        k = device_read_driver(m->root, old, &d, &m->topology->errors);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return 0;
        b->devs = calloc(1, sizeof(Refreshed));
        if (!b->devs) {
                device_free(d);
                return -ENOMEM;
        }
        b->n_devs = 1;
        b->driver_only = true;
        strcpy(b->devs[0].address, old->address);
        k = topology_put_device(m->topology, d, &b->devs[0].old);
        if (k < 0) {
                device_free(d);
                return k;
        }
        b->devs[0].present = true;
        return 1;
}

int model_process_event(Model *m, const char *action, const char *address, ChangeList *changes) {
        const Device *known;
        Batch b = {};
        int k = 0;

        if (!action || !pci_address_is_canonical(address))
                return -EINVAL;
        known = topology_find_device(m->topology, address);
        if (known && (streq(action, "bind") || streq(action, "unbind")))
                k = refresh_driver(m, &b, known);
        if (k == 0)
                k = batch_device(m, &b, address);
        if (k >= 0)
                k = refresh(m, &b, changes);
        batch_done(&b);
        return k;
}

bool model_is_settled(const Model *m) {
        return m->n_unsettled_groups == 0 && strv_length(m->unsettled_devices) == 0;
}

int model_settle(Model *m, ChangeList *changes) {
        _cleanup_strv_free_ char **devices = TAKE_PTR(m->unsettled_devices);
        _cleanup_free_ uint32_t *groups = TAKE_PTR(m->unsettled_groups);
        size_t n_groups = m->n_unsettled_groups;
        Batch b = {};
        int k = 0;

        m->n_unsettled_groups = 0;
        for (char **a = devices; a && *a && k >= 0; a++)
                k = batch_device(m, &b, *a);
        for (size_t i = 0; i < n_groups && k >= 0; i++) {
                const Group *g;

                k = batch_group(m, &b, groups[i]);
                g = topology_find_group(m->topology, groups[i]);
                /* Members the group lists and the model does not have (or has elsewhere), read
                 * again: the add uevent may still be on its way. */
                for (char **a = g ? g->devices : NULL; a && *a && k >= 0; a++) {
                        const Device *d = topology_find_device(m->topology, *a);

                        if (!d || d->group != g->id)
                                k = batch_device(m, &b, *a);
                }
        }
        if (k >= 0)
                k = refresh(m, &b, changes);
        batch_done(&b);
        return k;
}

void model_forget_unsettled(Model *m) {
        m->unsettled_groups = mfree(m->unsettled_groups);
        m->n_unsettled_groups = 0;
        strv_free(m->unsettled_devices);
        m->unsettled_devices = NULL;
}
