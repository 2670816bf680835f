/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

#include "dmar.h"
#include "names.h"
#include "report.h"
#include "util.h"

static void json_putp(struct json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

/* Takes v: json_object_object_add() leaves the value with us when it fails. */
static int add(struct json_object *o, const char *key, struct json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_str(struct json_object *o, const char *key, const char *s) {
        if (!s)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return add(o, key, json_object_new_string(s));
}

/* "0x" + at least width lower-case hex digits: ids as lspci -n prints them, addresses unpadded. */
static struct json_object *hex_string(unsigned width, uint64_t v) {
        char buf[32];

        snprintf(buf, sizeof(buf), "0x%0*" PRIx64, (int) width, v);
        return json_object_new_string(buf);
}

static struct json_object *strv_json(char *const *l) {
        struct json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (; l && *l; l++) {
                struct json_object *s = json_object_new_string(*l);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

static int add_array_item(struct json_object *a, struct json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_tristate(struct json_object *o, const char *key, int v) {
        if (v < 0)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return add(o, key, json_object_new_boolean(v));
}

int report_host_json(const Model *m, struct json_object **ret) {
        const HostInfo *h = m->host;
        _cleanup_json_ struct json_object *o = NULL;
        struct json_object *units, *hp, *mods, *errors;
        int k = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= add(o, "iommu_present", json_object_new_boolean(h->iommu_present));
        k |= add_str(o, "iommu_kind", iommu_kind_to_string(h->kind));
        k |= add_str(o, "interrupt_remapping", ir_verdict_to_string(h->ir));
        k |= add(o, "interrupt_remapping_reasons", strv_json(h->ir_reasons));

        units = json_object_new_array();
        k |= add(o, "units", units);
        for (size_t i = 0; units && i < h->n_units; i++) {
                struct json_object *u = json_object_new_object();

                k |= add_array_item(units, u);
                if (!u)
                        break;
                k |= add_str(u, "name", h->units[i].name);
                if (h->units[i].has_ecap)
                        k |= add(u, "ecap", hex_string(1, h->units[i].ecap));
                else
                        k |= add_str(u, "ecap", NULL);
                k |= add_tristate(u, "interrupt_remapping", h->units[i].ir);
        }
        k |= add(o, "unsafe_interrupts_allowed", json_object_new_boolean(h->unsafe_interrupts > 0));
        k |= add_tristate(o, "iommufd_unsafe_interrupts_allowed", h->iommufd_unsafe_interrupts);
        if (h->dma_entry_limit >= 0)
                k |= add(o, "dma_entry_limit", json_object_new_int64(h->dma_entry_limit));
        else
                k |= add_str(o, "dma_entry_limit", NULL);
        mods = json_object_new_object();
        k |= add(o, "modules", mods);
        if (mods) {
                k |= add(mods, "vfio", json_object_new_boolean(h->mod_vfio));
                k |= add(mods, "vfio_pci", json_object_new_boolean(h->mod_vfio_pci));
                k |= add(mods, "vfio_iommu_type1", json_object_new_boolean(h->mod_vfio_iommu_type1));
                k |= add(mods, "iommufd", json_object_new_boolean(h->mod_iommufd));
        }
        k |= add(o, "vfio_container_node", json_object_new_boolean(h->vfio_container_node));
        k |= add(o, "iommufd_node", json_object_new_boolean(h->iommufd_node));
        k |= add_str(o, "kernel_release", h->kernel_release);
        hp = json_object_new_array();
        k |= add(o, "hugepages", hp);
        for (size_t i = 0; hp && i < h->n_hugepages; i++) {
                struct json_object *e = json_object_new_object();

                k |= add_array_item(hp, e);
                if (!e)
                        break;
                k |= add(e, "size_kb", json_object_new_int64((int64_t) h->hugepages[i].size_kb));
                k |= add(e, "total", json_object_new_int64((int64_t) h->hugepages[i].total));
                k |= add(e, "free", json_object_new_int64((int64_t) h->hugepages[i].free));
        }
        /* Everything that could not be read, from every part of the model. */
        errors = strv_json(h->errors);
        k |= add(o, "errors", errors);
        for (char **e = m->errors; errors && e && *e; e++)
                k |= add_array_item(errors, json_object_new_string(*e));
        for (char **e = m->topology->errors; errors && e && *e; e++)
                k |= add_array_item(errors, json_object_new_string(*e));
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int report_group_json(const Group *g, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = NULL;
        struct json_object *bl, *rr;
        int k = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= add(o, "id", json_object_new_int64(g->id));
        k |= add_str(o, "type", g->type);
        k |= add(o, "devices", strv_json(g->devices));
        k |= add(o, "assignable", json_object_new_boolean(g->assignable));
        bl = json_object_new_array();
        k |= add(o, "blockers", bl);
        for (size_t i = 0; bl && i < g->n_blockers; i++) {
                struct json_object *b = json_object_new_object();

                k |= add_array_item(bl, b);
                if (!b)
                        break;
                k |= add_str(b, "code", g->blockers[i].code);
                k |= add_str(b, "device", g->blockers[i].device);
                k |= add_str(b, "reason", g->blockers[i].reason);
        }
        rr = json_object_new_array();
        k |= add(o, "reserved_regions", rr);
        for (size_t i = 0; rr && i < g->n_regions; i++) {
                struct json_object *r = json_object_new_object();

                k |= add_array_item(rr, r);
                if (!r)
                        break;
                k |= add(r, "start", hex_string(1, g->regions[i].start));
                k |= add(r, "end", hex_string(1, g->regions[i].end));
                k |= add_str(r, "type", g->regions[i].type);
        }
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int report_device_json(const Device *d, struct json_object **ret) {
        _cleanup_json_ struct json_object *o = NULL;
        int k = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= add_str(o, "address", d->address);
        k |= add(o, "vendor", hex_string(4, d->vendor));
        k |= add(o, "device", hex_string(4, d->device));
        k |= add(o, "subsystem_vendor", hex_string(4, d->subsystem_vendor));
        k |= add(o, "subsystem_device", hex_string(4, d->subsystem_device));
        k |= add(o, "class", hex_string(6, d->class));
        k |= add_str(o, "vendor_name", d->vendor_name);
        k |= add_str(o, "device_name", d->device_name);
        k |= add_str(o, "driver", d->driver);
        k |= add_str(o, "driver_override", d->driver_override);
        if (d->group >= 0)
                k |= add(o, "group", json_object_new_int64(d->group));
        else
                k |= add_str(o, "group", NULL);
        k |= add(o, "bridge", json_object_new_boolean(d->bridge));
        k |= add(o, "reset_methods", strv_json(d->reset_methods));
        if (d->numa_node >= 0)
                k |= add(o, "numa_node", json_object_new_int64(d->numa_node));
        else
                k |= add_str(o, "numa_node", NULL);
        k |= add(o, "boot_vga", json_object_new_boolean(d->boot_vga > 0));
        k |= add_str(o, "physfn", d->physfn);
        k |= add(o, "virtfns", strv_json(d->virtfns));
        if (d->sriov_totalvfs >= 0) {
                k |= add(o, "sriov_totalvfs", json_object_new_int64(d->sriov_totalvfs));
                k |= add(o, "sriov_numvfs", json_object_new_int64(MAX(d->sriov_numvfs, 0)));
        } else {
                k |= add_str(o, "sriov_totalvfs", NULL);
                k |= add_str(o, "sriov_numvfs", NULL);
        }
        k |= add_str(o, "vfio_device", d->vfio_dev);
        k |= add(o, "rmrr_locked", json_object_new_boolean(d->rmrr_locked));
        k |= add_str(o, "host_critical", d->host_critical);
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int write_json(FILE *f, struct json_object *o) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s)
                return -ENOMEM;
        return fputs(s, f) < 0 ? -EIO : 0;
}

static int dmar_json(const Model *m, struct json_object **ret) {
        if (m->host->dmar)
                return dmar_to_json(m->host->dmar, ret);
        if (m->host->dmar_error)
                return dmar_error_to_json(m->host->dmar_error, ret);
        *ret = NULL;
        return 0;
}

int report_write(const Model *m, FILE *f) {
        _cleanup_json_ struct json_object *host = NULL, *dmar = NULL;
        const Topology *t = m->topology;
        int k;

        k = report_host_json(m, &host);
        if (k < 0)
                return k;
        k = dmar_json(m, &dmar);
        if (k < 0)
                return k;
        fprintf(f, "{\"api_version\":%d,\n\"host\":", API_VERSION);
        if ((k = write_json(f, host)) < 0)
                return k;
        fputs(",\n\"dmar\":", f);
        if (dmar) {
                if ((k = write_json(f, dmar)) < 0)
                        return k;
        } else
                fputs("null", f);
        fputs(",\n\"groups\":[", f);
        for (size_t i = 0; i < t->n_groups; i++) {
                _cleanup_json_ struct json_object *g = NULL;

                k = report_group_json(t->groups[i], &g);
                if (k < 0)
                        return k;
                fputs(i ? ",\n" : "\n", f);
                if ((k = write_json(f, g)) < 0)
                        return k;
        }
        fputs("],\n\"devices\":[", f);
        for (size_t i = 0; i < t->n_devices; i++) {
                _cleanup_json_ struct json_object *d = NULL;

                k = report_device_json(t->devices[i], &d);
                if (k < 0)
                        return k;
                fputs(i ? ",\n" : "\n", f);
                if ((k = write_json(f, d)) < 0)
                        return k;
        }
        fputs("]}\n", f);
        return ferror(f) ? -EIO : 0;
}

int report_to_string(const Model *m, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int k;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        k = report_write(m, f);
        if (fclose(f) != 0 && k >= 0)
                k = -ENOMEM;
        if (k < 0) {
                free(buf);
                return k;
        }
        *ret = buf;
        return 0;
}
