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

static void model_clear_derived_inputs(Model *m) {
        free(m->rmrr);
        m->rmrr = NULL;
        m->n_rmrr = 0;
        host_critical_free(m->critical, m->n_critical);
        m->critical = NULL;
        m->n_critical = 0;
        strv_free(m->errors);
        m->errors = NULL;
}

Model *model_free(Model *m) {
        if (!m)
                return NULL;
        model_forget_unsettled(m);
        model_clear_derived_inputs(m);
        topology_free(m->topology);
        host_info_free(m->host);
        pci_names_free(m->names);
        sysroot_free(m->root);
        free(m);
        return NULL;
}

/* The secondary bus of a bridge, for DMAR scope paths: config space offset 0x19 (PCI-to-PCI
 * Bridge Architecture spec 3.2.5.3); if config is unreadable, the bus of a child directory. */
static int secondary_bus(void *userdata, const PciAddress *bridge, uint8_t *ret_bus) {
        Model *m = userdata;
        char addr[PCI_ADDRESS_STRLEN], path[128];
        _cleanup_close_ int dfd = -1;
        struct dirent *de;
        _cleanup_closedir_ DIR *d = NULL;
        uint8_t b;

        pci_address_format(bridge, addr);
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s", addr);
        if (sysroot_open_dir(m->root, path, &dfd) < 0)
                return -ENODEV;
        {
                _cleanup_close_ int fd = openat(dfd, "config", O_RDONLY | O_CLOEXEC);

                if (fd >= 0 && pread(fd, &b, 1, 0x19) == 1 && b != 0) {
                        *ret_bus = b;
                        return 0;
                }
        }
        if (sysroot_opendir_at(m->root, dfd, ".", &d) < 0)
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

static int rmrr_add(Model *m, const PciAddress *a) {
        PciAddress *n;

        for (size_t i = 0; i < m->n_rmrr; i++)
                if (pci_address_compare(&m->rmrr[i], a) == 0)
                        return 0;
        n = realloc(m->rmrr, sizeof(PciAddress) * (m->n_rmrr + 1));
        if (!n)
                return -ENOMEM;
        m->rmrr = n;
        n[m->n_rmrr++] = *a;
        return 0;
}

/* Devices named by RMRR scopes. A bridge scope gives the region to every device below the
 * bridge as well (drivers/iommu/intel/iommu.c, intel_iommu_get_resv_regions(): any device
 * downstream of the scope's bridge), so those are named too. */
static int rmrr_devices(Model *m) {
        _cleanup_free_ DmarRmrrLock *locks = NULL;
        size_t n = 0;
        int k;

        k = dmar_rmrr_locks(m->host->dmar, secondary_bus, m, &locks, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                char bridge[PCI_ADDRESS_STRLEN + 2];

                k = rmrr_add(m, &locks[i].address);
                if (k < 0)
                        return k;
                if (!locks[i].subtree)
                        continue;
                bridge[0] = '/';
                pci_address_format(&locks[i].address, bridge + 1);
                strcat(bridge, "/");
                for (size_t j = 0; j < m->topology->n_devices; j++) {
                        const Device *d = m->topology->devices[j];

                        if (d->devpath && strstr(d->devpath, bridge) &&
                            (k = rmrr_add(m, &d->addr)) < 0)
                                return k;
                }
        }
        return 0;
}

/* Inputs of topology_derive() that come from outside the PCI tree. */
static int model_refresh_derived_inputs(Model *m) {
        int k;

        model_clear_derived_inputs(m);
        if (m->host->dmar) {
                k = rmrr_devices(m);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 &&
                    topology_add_error(&m->errors, "DMAR RMRR scopes: %s", strerror(-k)) < 0)
                        return -ENOMEM;
        }
        k = host_critical_find(m->root, m->topology, &m->critical, &m->n_critical, &m->errors);
        if (k < 0)
                return k;
        return 0;
}

static int model_derive(Model *m) {
        return topology_derive(m->topology, m->rmrr, m->n_rmrr, m->critical, m->n_critical,
                               m->host->iommu_present);
}

int model_load(Model *m) {
        HostInfo *h = NULL;
        int k;

        k = host_info_read(m->root, &h);
        if (k < 0)
                return k;
        host_info_free(m->host);
        m->host = h;
        model_forget_unsettled(m);
        k = topology_scan(m->topology, m->root, m->names);
        if (k < 0)
                return k;
        k = model_refresh_derived_inputs(m);
        if (k < 0)
                return k;
        return model_derive(m);
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

static int refresh_device(Model *m, const char *address, Refreshed *r) {
        Device *d = NULL, *replaced = NULL;
        int k;

        strcpy(r->address, address);
        r->old = topology_take_device(m->topology, address);
        r->present = false;
        k = device_read(m->root, m->names, address, &d, &m->topology->errors);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return 0; /* gone, or unreadable: treat as absent */
        k = topology_put_device(m->topology, d, &replaced);
        if (k < 0) {
                device_free(d);
                return k;
        }
        device_free(replaced); /* cannot happen: we took it out above */
        r->present = true;
        return 0;
}

typedef struct RefreshedGroup {
        uint32_t id;
        Group *old;
        bool present;
} RefreshedGroup;

static int refresh_group(Model *m, uint32_t id, RefreshedGroup *r) {
        Group *g = NULL, *replaced = NULL;
        int k;

        r->id = id;
        r->old = topology_take_group(m->topology, id);
        r->present = false;
        k = group_read(m->root, id, &g, &m->topology->errors);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return 0;
        k = topology_put_group(m->topology, g, &replaced);
        if (k < 0) {
                group_free(g);
                return k;
        }
        group_free(replaced);
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

/* Re-reads the batch's devices (with the PF of a VF: its virtfnN links and sriov_numvfs change),
 * the groups they were and are in, and the extra groups; derives again; appends what changed. */
static int refresh(Model *m, Batch *b, bool inputs_may_change, ChangeList *changes) {
        int k;

        for (size_t i = 0; i < b->n_devs; i++) {
                const Device *now = topology_find_device(m->topology, b->devs[i].address);
                const char *pf = now && now->physfn ? now->physfn
                                 : b->devs[i].old   ? b->devs[i].old->physfn
                                                    : NULL;

                if (pf && topology_find_device(m->topology, pf) && (k = batch_device(m, b, pf)) < 0)
                        return k;
        }
        for (size_t i = 0; i < b->n_devs; i++) {
                const Device *now = topology_find_device(m->topology, b->devs[i].address);

                if ((k = batch_group(m, b, b->devs[i].old ? b->devs[i].old->group : -1)) < 0 ||
                    (k = batch_group(m, b, now ? now->group : -1)) < 0)
                        return k;
                if (b->devs[i].present != !!b->devs[i].old)
                        inputs_may_change = true;
        }

        /* Devices appearing or going may change which PCI device holds "/" or the default route,
         * and what an RMRR scope path resolves to. */
        if (inputs_may_change) {
                k = model_refresh_derived_inputs(m);
                if (k < 0)
                        return k;
        }
        k = model_derive(m);
        if (k < 0)
                return k;
        k = update_unsettled(m, b);
        if (k < 0)
                return k;

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

int model_process_event(Model *m, const char *action, const char *address, ChangeList *changes) {
        Batch b = {};
        int k;

        if (!action || !pci_address_is_canonical(address))
                return -EINVAL;
        k = batch_device(m, &b, address);
        if (k >= 0)
                k = refresh(m, &b, streq(action, "add") || streq(action, "remove"), changes);
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
                k = refresh(m, &b, true, changes);
        batch_done(&b);
        return k;
}

void model_forget_unsettled(Model *m) {
        m->unsettled_groups = mfree(m->unsettled_groups);
        m->n_unsettled_groups = 0;
        strv_free(m->unsettled_devices);
        m->unsettled_devices = NULL;
}
