/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "dmar.h"
#include "json-util.h"
#include "names.h"
#include "report.h"
#include "util.h"

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

static int add_tristate(struct json_object *o, const char *key, int v) {
        if (v < 0)
                return json_add(o, key, NULL);
        return json_add_new(o, key, json_object_new_boolean(v));
}

int report_host_json(const Model *m, struct json_object **ret) {
        const HostInfo *h = m->host;
        _cleanup_json_ json_object *o = NULL;
        struct json_object *units, *hp, *mods, *errors;
        int k = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= json_add_new(o, "iommu_present", json_object_new_boolean(h->iommu_present));
        k |= json_add_string(o, "iommu_kind", iommu_kind_to_string(h->kind));
        k |= json_add_string(o, "interrupt_remapping", ir_verdict_to_string(h->ir));
        k |= json_add_new(o, "interrupt_remapping_reasons", strv_json(h->ir_reasons));

        units = json_object_new_array();
        k |= json_add_new(o, "units", units);
        for (size_t i = 0; units && i < h->n_units; i++) {
                struct json_object *u = json_object_new_object();

                k |= json_append_new(units, u);
                if (!u)
                        break;
                k |= json_add_string(u, "name", h->units[i].name);
                if (h->units[i].has_ecap)
                        k |= json_add_new(u, "ecap", hex_string(1, h->units[i].ecap));
                else
                        k |= json_add_string(u, "ecap", NULL);
                k |= add_tristate(u, "interrupt_remapping", h->units[i].ir);
        }
        k |= json_add_new(o, "unsafe_interrupts_allowed",
                          json_object_new_boolean(h->unsafe_interrupts > 0));
        k |= add_tristate(o, "iommufd_unsafe_interrupts_allowed", h->iommufd_unsafe_interrupts);
        if (h->dma_entry_limit >= 0)
                k |= json_add_new(o, "dma_entry_limit", json_object_new_int64(h->dma_entry_limit));
        else
                k |= json_add_string(o, "dma_entry_limit", NULL);
        mods = json_object_new_object();
        k |= json_add_new(o, "modules", mods);
        if (mods) {
                k |= json_add_new(mods, "vfio", json_object_new_boolean(h->mod_vfio));
                k |= json_add_new(mods, "vfio_pci", json_object_new_boolean(h->mod_vfio_pci));
                k |= json_add_new(mods, "vfio_iommu_type1",
                                  json_object_new_boolean(h->mod_vfio_iommu_type1));
                k |= json_add_new(mods, "iommufd", json_object_new_boolean(h->mod_iommufd));
        }
        k |= json_add_new(o, "vfio_container_node",
                          json_object_new_boolean(h->vfio_container_node));
        k |= json_add_new(o, "iommufd_node", json_object_new_boolean(h->iommufd_node));
        k |= json_add_string(o, "kernel_release", h->kernel_release);
        hp = json_object_new_array();
        k |= json_add_new(o, "hugepages", hp);
        for (size_t i = 0; hp && i < h->n_hugepages; i++) {
                struct json_object *e = json_object_new_object();

                k |= json_append_new(hp, e);
                if (!e)
                        break;
                k |= json_add_new(e, "size_kb",
                                  json_object_new_int64((int64_t) h->hugepages[i].size_kb));
                k |= json_add_new(e, "total",
                                  json_object_new_int64((int64_t) h->hugepages[i].total));
                k |= json_add_new(e, "free", json_object_new_int64((int64_t) h->hugepages[i].free));
        }
        /* Everything that could not be read, from every part of the model. */
        errors = strv_json(h->errors);
        k |= json_add_new(o, "errors", errors);
        for (char **e = m->errors; errors && e && *e; e++)
                k |= json_append_new(errors, json_object_new_string(*e));
        for (char **e = m->topology->errors; errors && e && *e; e++)
                k |= json_append_new(errors, json_object_new_string(*e));
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int report_group_json(const Group *g, const char *job, struct json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        struct json_object *bl, *rr;
        int k = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= json_add_new(o, "id", json_object_new_int64(g->id));
        k |= json_add_string(o, "type", g->type);
        k |= json_add_new(o, "devices", strv_json(g->devices));
        k |= json_add_new(o, "assignable", json_object_new_boolean(g->assignable));
        if (job)
                k |= json_add_new(o, "job", json_object_new_string(job));
        bl = json_object_new_array();
        k |= json_add_new(o, "blockers", bl);
        for (size_t i = 0; bl && i < g->n_blockers; i++) {
                struct json_object *b = json_object_new_object();

                k |= json_append_new(bl, b);
                if (!b)
                        break;
                k |= json_add_string(b, "code", g->blockers[i].code);
                k |= json_add_string(b, "device", g->blockers[i].device);
                k |= json_add_string(b, "reason", g->blockers[i].reason);
        }
        rr = json_object_new_array();
        k |= json_add_new(o, "reserved_regions", rr);
        for (size_t i = 0; rr && i < g->n_regions; i++) {
                struct json_object *r = json_object_new_object();

                k |= json_append_new(rr, r);
                if (!r)
                        break;
                k |= json_add_new(r, "start", hex_string(1, g->regions[i].start));
                k |= json_add_new(r, "end", hex_string(1, g->regions[i].end));
                k |= json_add_string(r, "type", g->regions[i].type);
        }
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int report_device_json(const Device *d, struct json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int k = 0;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= json_add_string(o, "address", d->address);
        {
                /* Unreadable ids are null, never a made-up 0x0000 (the group says "unreadable"). */
                static const char *const keys[] = { "vendor", "device", "subsystem_vendor",
                                                    "subsystem_device", "class" };
                const uint32_t ids[] = { d->vendor, d->device, d->subsystem_vendor,
                                         d->subsystem_device, d->class };

                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        k |= d->ids_known
                                     ? json_add_new(o, keys[i], hex_string(i == 4 ? 6 : 4, ids[i]))
                                     : json_add_string(o, keys[i], NULL);
        }
        k |= json_add_string(o, "vendor_name", d->vendor_name);
        k |= json_add_string(o, "device_name", d->device_name);
        k |= json_add_string(o, "driver", d->driver);
        k |= json_add_string(o, "driver_override", d->driver_override);
        if (d->group >= 0)
                k |= json_add_new(o, "group", json_object_new_int64(d->group));
        else
                k |= json_add_string(o, "group", NULL);
        k |= json_add_new(o, "bridge", json_object_new_boolean(d->bridge));
        k |= json_add_new(o, "host_bridge", json_object_new_boolean(d->host_bridge));
        k |= json_add_new(o, "reset_methods", strv_json(d->reset_methods));
        if (d->numa_node >= 0)
                k |= json_add_new(o, "numa_node", json_object_new_int64(d->numa_node));
        else
                k |= json_add_string(o, "numa_node", NULL);
        k |= json_add_new(o, "boot_vga", json_object_new_boolean(d->boot_vga > 0));
        k |= json_add_string(o, "physfn", d->physfn);
        k |= json_add_new(o, "virtfns", strv_json(d->virtfns));
        if (d->sriov_totalvfs >= 0) {
                k |= json_add_new(o, "sriov_totalvfs", json_object_new_int64(d->sriov_totalvfs));
                k |= json_add_new(o, "sriov_numvfs",
                                  json_object_new_int64(MAX(d->sriov_numvfs, 0)));
        } else {
                k |= json_add_string(o, "sriov_totalvfs", NULL);
                k |= json_add_string(o, "sriov_numvfs", NULL);
        }
        k |= json_add_string(o, "vfio_device", d->vfio_dev);
        k |= json_add_new(o, "rmrr_locked", json_object_new_boolean(d->rmrr_locked));
        k |= json_add_string(o, "host_critical", d->host_critical);
        if (k)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int write_json(FILE *f, struct json_object *o) {
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);

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

int report_write(const Model *m, ReportJobFn job, const void *userdata, FILE *f) {
        _cleanup_json_ json_object *host = NULL, *dmar = NULL;
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
                _cleanup_json_ json_object *g = NULL;

                k = report_group_json(t->groups[i], job ? job(userdata, t->groups[i]->id) : NULL,
                                      &g);
                if (k < 0)
                        return k;
                fputs(i ? ",\n" : "\n", f);
                if ((k = write_json(f, g)) < 0)
                        return k;
        }
        fputs("],\n\"devices\":[", f);
        for (size_t i = 0; i < t->n_devices; i++) {
                _cleanup_json_ json_object *d = NULL;

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

int report_to_string(const Model *m, ReportJobFn job, const void *userdata, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int k;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        k = report_write(m, job, userdata, f);
        if (fclose(f) != 0 && k >= 0)
                k = -ENOMEM;
        if (k < 0) {
                free(buf);
                return k;
        }
        *ret = buf;
        return 0;
}
