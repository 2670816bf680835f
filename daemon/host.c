/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmar.h"
#include "host.h"
#include "names.h"
#include "util.h"

#define DMAR_MAX_SIZE (1024 * 1024)
#define PROC_TEXT_MAX (4 * 1024 * 1024)

static const char *const ir_verdict_table[] = {
        [IR_ENABLED] = "enabled",
        [IR_DISABLED] = "disabled",
        [IR_UNSUPPORTED] = "unsupported",
        [IR_UNKNOWN] = "unknown",
};

static const char *const iommu_kind_table[] = {
        [IOMMU_KIND_NONE] = "none",
        [IOMMU_KIND_INTEL] = "intel",
        [IOMMU_KIND_AMD] = "amd",
        [IOMMU_KIND_UNKNOWN] = "unknown",
};

const char *ir_verdict_to_string(IrVerdict v) {
        return (size_t) v < ELEMENTSOF(ir_verdict_table) ? ir_verdict_table[v] : NULL;
}

const char *iommu_kind_to_string(IommuKind k) {
        return (size_t) k < ELEMENTSOF(iommu_kind_table) ? iommu_kind_table[k] : NULL;
}

HostInfo *host_info_free(HostInfo *h) {
        if (!h)
                return NULL;
        dmar_table_free(h->dmar);
        free(h->dmar_error);
        for (size_t i = 0; i < h->n_units; i++)
                free(h->units[i].name);
        free(h->units);
        strv_free(h->ir_reasons);
        free(h->kernel_release);
        free(h->hugepages);
        strv_free(h->errors);
        free(h);
        return NULL;
}

/* Module parameters print bools as Y/N (kernel/params.c param_get_bool). */
static int read_param_bool(const SysRoot *root, const char *path, char ***errors) {
        char buf[64];
        int k = sysfs_read_attr_buf(root, -1, path, buf, sizeof(buf));

        if (k == -ENOENT)
                return -1;
        if (k < 0) {
                if (errors)
                        (void) strv_extendf(errors, "%s: %s", path, strerror(-k));
                return -1;
        }
        if (streq(buf, "Y") || streq(buf, "1"))
                return 1;
        if (streq(buf, "N") || streq(buf, "0"))
                return 0;
        if (errors)
                (void) strv_extendf(errors, "%s: invalid value \"%.32s\"", path, buf);
        return -1;
}

static int read_units(const SysRoot *root, HostInfo *h) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int k;

        k = sysroot_opendir_at(root, -1, SYSFS_CLASS_IOMMU, &d);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return k == -ENOMEM ? k
                                    : strv_extendf(&h->errors, "%s: %s", SYSFS_CLASS_IOMMU,
                                                   strerror(-k));
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && filename_is_valid(de->d_name) &&
                    strv_extend(&names, de->d_name) < 0)
                        return -ENOMEM;
        strv_sort(names);

        h->units = calloc(strv_length(names) + 1, sizeof(IommuUnit));
        if (!h->units)
                return -ENOMEM;
        for (char **n = names; n && *n; n++) {
                IommuUnit *u = &h->units[h->n_units++];
                _cleanup_free_ char *path = NULL;
                bool intel = strneq(*n, "dmar", 4);
                char buf[64];

                u->name = strdup(*n);
                if (!u->name)
                        return -ENOMEM;
                u->ir = -1;
                /* Intel: class/iommu/dmarN/intel-iommu/ecap, hex without 0x
                 * (Documentation/ABI/testing/sysfs-class-iommu-intel-iommu).
                 * AMD: class/iommu/ivhdN/amd-iommu/features (sysfs-class-iommu-amd-iommu). */
                if (asprintf(&path, SYSFS_CLASS_IOMMU "/%s/%s", *n,
                             intel ? "intel-iommu/ecap" : "amd-iommu/features") < 0)
                        return -ENOMEM;
                k = sysfs_read_attr_buf(root, -1, path, buf, sizeof(buf));
                if (k >= 0 && safe_atou64(buf, 16, &u->ecap) >= 0) {
                        u->has_ecap = true;
                        if (intel)
                                u->ir = !!(u->ecap & DMAR_ECAP_IR);
                } else if (k != -ENOENT || intel) {
                        if (strv_extendf(&h->errors, "%s: %s", path,
                                         k < 0 ? strerror(-k) : "invalid value") < 0)
                                return -ENOMEM;
                }
                if (intel)
                        h->kind = IOMMU_KIND_INTEL;
                else if (strneq(*n, "ivhd", 4))
                        h->kind = IOMMU_KIND_AMD;
                else if (h->kind == IOMMU_KIND_NONE)
                        h->kind = IOMMU_KIND_UNKNOWN;
        }
        return 0;
}

static int read_hugepages(const SysRoot *root, HostInfo *h) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int k;

        k = sysroot_opendir_at(root, -1, SYSFS_HUGEPAGES, &d);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        while ((de = readdir(d))) {
                char path[512], buf[64], num[32];
                uint64_t size, total, freep_;
                Hugepages *nh;
                const char *p;

                /* Documentation/ABI/testing/sysfs-kernel-mm-hugepages: hugepages-<size>kB/ */
                if (!strneq(de->d_name, "hugepages-", 10) || !(p = strstr(de->d_name, "kB")) ||
                    p[2] != 0 || (size_t) (p - de->d_name - 10) >= sizeof(num))
                        continue;
                memcpy(num, de->d_name + 10, (size_t) (p - de->d_name - 10));
                num[p - de->d_name - 10] = 0;
                if (safe_atou64(num, 10, &size) < 0)
                        continue;
                snprintf(path, sizeof(path), SYSFS_HUGEPAGES "/%s/nr_hugepages", de->d_name);
                if (sysfs_read_attr_buf(root, -1, path, buf, sizeof(buf)) < 0 ||
                    safe_atou64(buf, 10, &total) < 0)
                        continue;
                snprintf(path, sizeof(path), SYSFS_HUGEPAGES "/%s/free_hugepages", de->d_name);
                if (sysfs_read_attr_buf(root, -1, path, buf, sizeof(buf)) < 0 ||
                    safe_atou64(buf, 10, &freep_) < 0)
                        continue;
                nh = realloc(h->hugepages, sizeof(*nh) * (h->n_hugepages + 1));
                if (!nh)
                        return -ENOMEM;
                h->hugepages = nh;
                nh[h->n_hugepages++] = (Hugepages) { .size_kb = size,
                                                     .total = total,
                                                     .free = freep_ };
        }
        for (size_t i = 1; i < h->n_hugepages; i++)
                for (size_t j = i; j > 0 && h->hugepages[j - 1].size_kb > h->hugepages[j].size_kb;
                     j--) {
                        Hugepages x = h->hugepages[j];
                        h->hugepages[j] = h->hugepages[j - 1];
                        h->hugepages[j - 1] = x;
                }
        return 0;
}

static bool dir_has_entries(const SysRoot *root, const char *path) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        bool any = false;

        if (sysroot_opendir_at(root, -1, path, &d) < 0)
                return false;
        while (!any && (de = readdir(d)))
                any = de->d_name[0] != '.';
        return any;
}

static bool cmdline_has(const char *cmdline, const char *word) {
        size_t n = strlen(word);

        for (const char *p = cmdline; p && (p = strstr(p, word)); p += n)
                if ((p == cmdline || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* Static support, as the kernel decides it (drivers/iommu/intel/irq_remapping.c,
 * intel_irq_remapping_supported()): the DMAR INTR_REMAP flag and the IR bit of every unit's ECAP.
 * Runtime: the kernel may still have turned it off (intremap=off, chipset quirks); remapped
 * interrupt domains are named "IR-..." in /proc/interrupts, which is the evidence we accept. */
int host_ir_verdict(HostInfo *h, const char *interrupts, const char *cmdline) {
        bool hw_unsupported = false, hw_unknown = false;
        int k = 0;

        strv_free(h->ir_reasons);
        h->ir_reasons = NULL;

        if (h->kind == IOMMU_KIND_NONE && h->iommu_present) {
                /* Groups without a unit or an ACPI table to say what the hardware can do. */
                h->ir = IR_UNKNOWN;
                return strv_extendf(&h->ir_reasons,
                                    "IOMMU groups exist but no DMAR or IVRS table and no unit "
                                    "in /%s describes the hardware",
                                    SYSFS_CLASS_IOMMU);
        }
        if (h->kind == IOMMU_KIND_NONE) {
                h->ir = IR_UNSUPPORTED;
                return strv_extendf(&h->ir_reasons,
                                    "no IOMMU: no DMAR or IVRS ACPI table and no units in /%s",
                                    SYSFS_CLASS_IOMMU);
        }
        if (h->kind == IOMMU_KIND_INTEL) {
                /* Not a verdict of its own: the kernel only warns and uses the table (dmar.c). */
                if (h->dmar && !h->dmar->checksum_valid) {
                        k = strv_extendf(
                                &h->ir_reasons,
                                "the DMAR table's checksum is invalid (bytes sum to 0x%02x, "
                                "not 0); like the kernel, the table is used anyway",
                                h->dmar->checksum_sum);
                        if (k < 0)
                                return k;
                }
                if (h->dmar_error) {
                        hw_unknown = true;
                        k = strv_extendf(&h->ir_reasons, "the DMAR table is invalid: %s",
                                         h->dmar_error);
                } else if (!h->dmar) {
                        hw_unknown = true;
                        k = strv_extendf(&h->ir_reasons, "no readable DMAR table at /%s",
                                         SYSFS_ACPI_DMAR);
                } else if (!(h->dmar->flags & DMAR_FLAG_INTR_REMAP)) {
                        hw_unsupported = true;
                        k = strv_extendf(
                                &h->ir_reasons,
                                "DMAR flags 0x%02x: INTR_REMAP (bit 0) is clear, the firmware does not "
                                "support interrupt remapping",
                                h->dmar->flags);
                }
                if (k < 0)
                        return k;
                for (size_t i = 0; i < h->n_units; i++) {
                        const IommuUnit *u = &h->units[i];

                        if (u->ir == 0) {
                                hw_unsupported = true;
                                k = strv_extendf(&h->ir_reasons,
                                                 "%s: ecap 0x%" PRIx64 " has IR (bit 3) clear",
                                                 u->name, u->ecap);
                        } else if (u->ir < 0) {
                                hw_unknown = true;
                                k = strv_extendf(&h->ir_reasons, "%s: ecap could not be read",
                                                 u->name);
                        }
                        if (k < 0)
                                return k;
                }
        }
        if (hw_unsupported) {
                h->ir = IR_UNSUPPORTED;
                return 0;
        }
        if (!h->iommu_present) {
                h->ir = IR_DISABLED;
                return strv_extendf(
                        &h->ir_reasons,
                        "the firmware describes an IOMMU but the kernel did not enable it (no units "
                        "in /%s; boot with %s)",
                        SYSFS_CLASS_IOMMU,
                        h->kind == IOMMU_KIND_AMD ? "amd_iommu=on" : "intel_iommu=on");
        }
        if (cmdline &&
            (cmdline_has(cmdline, "intremap=off") || cmdline_has(cmdline, "nointremap"))) {
                h->ir = IR_DISABLED;
                return strv_extendf(&h->ir_reasons,
                                    "interrupt remapping is turned off on the kernel command line");
        }
        if (interrupts && strstr(interrupts, "IR-")) {
                h->ir = hw_unknown ? IR_UNKNOWN : IR_ENABLED;
                return hw_unknown ? 0
                                  : strv_extendf(
                                            &h->ir_reasons,
                                            "remapped interrupt domains (IR-) in /proc/interrupts");
        }
        if (interrupts) {
                h->ir = IR_DISABLED;
                return strv_extendf(
                        &h->ir_reasons,
                        "no remapped interrupt domain (IR-) in /proc/interrupts: the kernel did "
                        "not enable interrupt remapping");
        }
        h->ir = IR_UNKNOWN;
        return strv_extendf(
                &h->ir_reasons,
                "/proc/interrupts is not readable: the runtime state cannot be confirmed");
}

void host_read_params(const SysRoot *root, HostInfo *h, char ***errors) {
        char buf[64];

        h->unsafe_interrupts = read_param_bool(
                root, SYSFS_MODULE "/vfio_iommu_type1/parameters/allow_unsafe_interrupts", errors);
        h->iommufd_unsafe_interrupts = read_param_bool(
                root, SYSFS_MODULE "/iommufd/parameters/allow_unsafe_interrupts", errors);
        h->dma_entry_limit = -1;
        if (sysfs_read_attr_buf(root, -1,
                                SYSFS_MODULE "/vfio_iommu_type1/parameters/dma_entry_limit", buf,
                                sizeof(buf)) >= 0) {
                uint32_t v;

                if (safe_atou32(buf, 10, &v) >= 0)
                        h->dma_entry_limit = v;
        }
}

bool host_iommu_presence_moved(const SysRoot *root, const HostInfo *h) {
        return h->n_units == 0 && dir_has_entries(root, SYSFS_IOMMU_GROUPS) != h->iommu_present;
}

int host_info_read(const SysRoot *root, HostInfo **ret) {
        _cleanup_(host_info_freep) HostInfo *h = NULL;
        _cleanup_free_ uint8_t *table = NULL;
        _cleanup_free_ char *interrupts = NULL, *cmdline = NULL;
        size_t size;
        int k;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->dma_entry_limit = -1;

        k = sysfs_read_file(root, SYSFS_ACPI_DMAR, DMAR_MAX_SIZE, &table, &size);
        if (k >= 0) {
                h->dmar_table = true;
                h->kind = IOMMU_KIND_INTEL;
                k = dmar_parse(table, size, &h->dmar, &h->dmar_error);
                if (k == -ENOMEM)
                        return k;
                if (k < 0 && !h->dmar_error && !(h->dmar_error = strdup(strerror(-k))))
                        return -ENOMEM;
        } else if (k != -ENOENT) {
                h->dmar_table = true;
                h->kind = IOMMU_KIND_INTEL;
                if (asprintf(&h->dmar_error, "cannot read /%s: %s", SYSFS_ACPI_DMAR, strerror(-k)) <
                    0)
                        return -ENOMEM;
        }
        h->ivrs_table = sysfs_exists_at(root, -1, SYSFS_ACPI_IVRS);
        if (h->ivrs_table && h->kind == IOMMU_KIND_NONE)
                h->kind = IOMMU_KIND_AMD;

        k = read_units(root, h);
        if (k < 0)
                return k;
        h->iommu_present = h->n_units > 0 || dir_has_entries(root, SYSFS_IOMMU_GROUPS);

        host_read_params(root, h, &h->errors);
        h->mod_vfio = sysfs_exists_at(root, -1, SYSFS_MODULE "/vfio");
        h->mod_vfio_pci = sysfs_exists_at(root, -1, SYSFS_MODULE "/vfio_pci");
        h->mod_vfio_iommu_type1 = sysfs_exists_at(root, -1, SYSFS_MODULE "/vfio_iommu_type1");
        h->mod_iommufd = sysfs_exists_at(root, -1, SYSFS_MODULE "/iommufd");
        h->vfio_container_node = dev_node_exists(root, DEV_VFIO_CONTAINER);
        h->iommufd_node = dev_node_exists(root, DEV_IOMMU);

        k = sysfs_read_attr(root, PROC_OSRELEASE, &h->kernel_release);
        if (k == -ENOMEM)
                return k;
        k = read_hugepages(root, h);
        if (k < 0)
                return k;

        k = sysfs_read_file(root, PROC_INTERRUPTS, PROC_TEXT_MAX, (uint8_t **) &interrupts, &size);
        if (k >= 0) {
                char *nt = realloc(interrupts, size + 1);
                if (!nt)
                        return -ENOMEM;
                interrupts = nt;
                interrupts[size] = 0;
        }
        k = sysfs_read_attr(root, PROC_CMDLINE, &cmdline);
        if (k == -ENOMEM)
                return k;
        k = host_ir_verdict(h, interrupts, cmdline);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(h);
        return 0;
}

int host_set_unsafe_interrupts(const SysRoot *root, bool allow) {
        static const char type1[] = SYSFS_MODULE
                "/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
        static const char iommufd[] = SYSFS_MODULE "/iommufd/parameters/allow_unsafe_interrupts";
        const char *value = allow ? "1" : "0";
        int k;

        /* Both parameters are writable at runtime (module_param(..., 0644)); type1 reads it at
         * VFIO_SET_IOMMU time, so setting it before the claim is enough, and clearing it does
         * not undo an attachment already made. */
        k = sysfs_write_attr(root, type1, value, 5 * 1000000ULL);
        if (k < 0)
                return k;
        if (sysfs_exists_at(root, -1, iommufd))
                (void) sysfs_write_attr(root, iommufd, value, 5 * 1000000ULL);
        return 0;
}
