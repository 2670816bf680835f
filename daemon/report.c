/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmar.h"
#include "json-util.h"
#include "json-writer.h"
#include "names.h"
#include "persistent.h"
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

static void write_group(JsonWriter *w, const Group *g, const char *job) {
        json_write_begin_object(w);
        json_write_key(w, "id");
        json_write_int64(w, g->id);
        json_write_key(w, "type");
        json_write_string(w, g->type);
        json_write_key(w, "devices");
        json_write_strv(w, g->devices);
        json_write_key(w, "assignable");
        json_write_bool(w, g->assignable);
        if (job) {
                json_write_key(w, "job");
                json_write_string(w, job);
        }
        json_write_key(w, "blockers");
        json_write_begin_array(w);
        for (size_t i = 0; i < g->n_blockers; i++) {
                json_write_begin_object(w);
                json_write_key(w, "code");
                json_write_string(w, g->blockers[i].code);
                json_write_key(w, "device");
                json_write_string(w, g->blockers[i].device);
                json_write_key(w, "reason");
                json_write_string(w, g->blockers[i].reason);
                json_write_end_object(w);
        }
        json_write_end_array(w);
        json_write_key(w, "reserved_regions");
        json_write_begin_array(w);
        for (size_t i = 0; i < g->n_regions; i++) {
                json_write_begin_object(w);
                json_write_key(w, "start");
                json_write_hex(w, 1, g->regions[i].start);
                json_write_key(w, "end");
                json_write_hex(w, 1, g->regions[i].end);
                json_write_key(w, "type");
                json_write_string(w, g->regions[i].type);
                json_write_end_object(w);
        }
        json_write_end_array(w);
        json_write_end_object(w);
}

/* An optional number: null when negative. */
static void write_optional(JsonWriter *w, const char *key, int64_t v) {
        json_write_key(w, key);
        if (v >= 0)
                json_write_int64(w, v);
        else
                json_write_null(w);
}

static void write_device(JsonWriter *w, const Device *d) {
        /* Unreadable ids are null, never a made-up 0x0000 (the group says "unreadable"). */
        static const char *const keys[] = { "vendor", "device", "subsystem_vendor",
                                            "subsystem_device", "class" };
        const uint32_t ids[] = { d->vendor, d->device, d->subsystem_vendor, d->subsystem_device,
                                 d->class };
        char root[PCI_ROOT_STRLEN];

        json_write_begin_object(w);
        json_write_key(w, "address");
        json_write_string(w, d->address);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_write_key(w, keys[i]);
                if (d->ids_known)
                        json_write_hex(w, i == 4 ? 6 : 4, ids[i]);
                else
                        json_write_null(w);
        }
        json_write_key(w, "vendor_name");
        json_write_string(w, d->vendor_name);
        json_write_key(w, "device_name");
        json_write_string(w, d->device_name);
        json_write_key(w, "driver");
        json_write_string(w, d->driver);
        json_write_key(w, "driver_override");
        json_write_string(w, d->driver_override);
        write_optional(w, "group", d->group);
        json_write_key(w, "bridge");
        json_write_bool(w, d->bridge);
        json_write_key(w, "host_bridge");
        json_write_bool(w, d->host_bridge);
        json_write_key(w, "reset_methods");
        json_write_strv(w, d->reset_methods);
        write_optional(w, "numa_node", d->numa_node);
        json_write_key(w, "pcie_root");
        json_write_string(w, pci_root_of_path(d->devpath, root) ? root : NULL);
        json_write_key(w, "boot_vga");
        json_write_bool(w, d->boot_vga > 0);
        json_write_key(w, "physfn");
        json_write_string(w, d->physfn);
        json_write_key(w, "virtfns");
        json_write_strv(w, d->virtfns);
        write_optional(w, "sriov_totalvfs", d->sriov_totalvfs);
        write_optional(w, "sriov_numvfs",
                       d->sriov_totalvfs >= 0 ? MAX(d->sriov_numvfs, (int64_t) 0) : -1);
        json_write_key(w, "vfio_device");
        json_write_string(w, d->vfio_dev);
        json_write_key(w, "vfio_driver");
        json_write_string(w, device_vfio_driver(d));
        json_write_key(w, "rmrr_locked");
        json_write_bool(w, d->rmrr_locked);
        json_write_key(w, "host_critical");
        json_write_string(w, d->host_critical);
        json_write_end_object(w);
}

/* One piece as a json-c object: written, then parsed back, so that there is one writer. */
static int piece_json(const Group *g, const char *job, const Device *d, struct json_object **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        JsonWriter w;
        FILE *f;
        bool failed;
        struct json_object *o;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        w = json_writer_init(f);
        if (g)
                write_group(&w, g, job);
        else
                write_device(&w, d);
        failed = ferror(f);
        if (fclose(f) != 0 || failed)
                return -ENOMEM;
        o = json_tokener_parse(buf);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int report_group_json(const Group *g, const char *job, struct json_object **ret) {
        return piece_json(g, job, NULL, ret);
}

int report_device_json(const Device *d, struct json_object **ret) {
        return piece_json(NULL, NULL, d, ret);
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

static void write_id(JsonWriter *w, const char *key, bool known, uint16_t id) {
        json_write_key(w, key);
        if (known)
                json_write_hex(w, 4, id);
        else
                json_write_null(w);
}

/* One persistent prepare (ri NULL) or recorded card: what was recorded, and what is at the
 * address now. */
static int write_persistent(JsonWriter *w, const Topology *t, const PersistentDevice *pd,
                            const ReportIdentity *ri) {
        _cleanup_free_ char *message = NULL;
        PersistentState state;
        const char *name;
        int k;

        k = ri ? identity_state(t, pd, ri->rule_file, ri->rule_index, &state, &message)
               : persistent_state(t, pd, &state, &message);
        if (k < 0)
                return k;
        name = persistent_state_to_string(state);
        if (ri && (state == PERSISTENT_PREPARED || state == PERSISTENT_NOT_PREPARED))
                name = "ok";
        json_write_begin_object(w);
        json_write_key(w, "address");
        json_write_string(w, pd->address);
        write_id(w, "vendor", true, pd->vendor);
        write_id(w, "device", true, pd->device);
        write_id(w, "subsystem_vendor", pd->subsystem_known, pd->subsystem_vendor);
        write_id(w, "subsystem_device", pd->subsystem_known, pd->subsystem_device);
        write_optional(w, "group", pd->group_known ? (int64_t) pd->group : -1);
        if (ri) {
                _cleanup_free_ char *rule = NULL;

                if (ri->rule_file && asprintf(&rule, "%s#%d", ri->rule_file, ri->rule_index) < 0)
                        return -ENOMEM;
                json_write_key(w, "rule");
                json_write_string(w, rule);
        }
        json_write_key(w, "state");
        json_write_string(w, name);
        json_write_key(w, "error");
        json_write_string(w, state == PERSISTENT_IDENTITY_CHANGED
                                     ? va_error_name(VA_ERROR_IDENTITY_CHANGED)
                                     : NULL);
        json_write_key(w, "message");
        json_write_string(w, message);
        json_write_end_object(w);
        return 0;
}

static int compare_identity(const void *a, const void *b) {
        return strcmp(((const ReportIdentity *) a)->record.address,
                      ((const ReportIdentity *) b)->record.address);
}

/* One list by address: the recorded cards (identities), or the persistent prepares. */
static int write_list(FILE *f, const Topology *t, const char *key, const ReportIdentity *items,
                      size_t n, bool identities) {
        _cleanup_free_ ReportIdentity *sorted = calloc(n + 1, sizeof(*sorted));
        int k;

        if (!sorted)
                return -ENOMEM;
        if (n)
                memcpy(sorted, items, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), compare_identity);
        fprintf(f, ",\n\"%s\":[", key);
        for (size_t i = 0; i < n; i++) {
                JsonWriter w = json_writer_init(f);

                fputs(i ? ",\n" : "\n", f);
                k = write_persistent(&w, t, &sorted[i].record, identities ? &sorted[i] : NULL);
                if (k < 0)
                        return k;
        }
        fputs("]", f);
        return 0;
}

static int write_persistent_list(FILE *f, const Topology *t, const ReportPersistent *p) {
        size_t n = p ? p->n : 0;
        _cleanup_free_ ReportIdentity *items = calloc(n + 1, sizeof(*items));

        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                items[i].record = p->devices[i];
        return write_list(f, t, "persistent", items, n, false);
}

int report_write(const Model *m, ReportJobFn job, const void *userdata, const ReportPersistent *p,
                 FILE *f) {
        _cleanup_json_ json_object *host = NULL, *dmar = NULL;
        const Topology *t = m->topology;
        int k;

        k = report_host_json(m, &host);
        if (k < 0)
                return k;
        if (p && p->error &&
            json_append_new(json_object_object_get(host, "errors"),
                            json_object_new_string(p->error)) < 0)
                return -ENOMEM;
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
                JsonWriter w = json_writer_init(f);

                fputs(i ? ",\n" : "\n", f);
                write_group(&w, t->groups[i], job ? job(userdata, t->groups[i]->id) : NULL);
        }
        fputs("],\n\"devices\":[", f);
        for (size_t i = 0; i < t->n_devices; i++) {
                JsonWriter w = json_writer_init(f);

                fputs(i ? ",\n" : "\n", f);
                write_device(&w, t->devices[i]);
        }
        fputs("]", f);
        k = write_persistent_list(f, t, p);
        if (k < 0)
                return k;
        k = write_list(f, t, "identities", p ? p->identities : NULL, p ? p->n_identities : 0, true);
        if (k < 0)
                return k;
        fputs("}\n", f);
        return ferror(f) ? -EIO : 0;
}

int report_to_string(const Model *m, ReportJobFn job, const void *userdata,
                     const ReportPersistent *p, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int k;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        k = report_write(m, job, userdata, p, f);
        if (fclose(f) != 0 && k >= 0)
                k = -ENOMEM;
        if (k < 0) {
                free(buf);
                return k;
        }
        *ret = buf;
        return 0;
}
