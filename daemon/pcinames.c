/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcinames.h"
#include "util.h"

/* One (vendor, device) pair's names, looked up once: a host has few distinct pairs (36,000
 * functions of a big host are a handful of models), so the devices share these strings. */
typedef struct NameEntry {
        uint32_t key; /* vendor << 16 | device */
        bool used;
        char *vendor, *device; /* NULL when the database does not know them */
} NameEntry;

struct PciNames {
        struct pci_access *pacc;
        NameEntry *table; /* open addressing, a power of two in size, at most half full */
        size_t n_table, n_used;
};

/* libpci's error callback must not return (its default calls exit(1)); we jump back to the call
 * that entered libpci instead. The daemon is single-threaded; the jump target is per call. */
static jmp_buf *current_jump;

_printf_(1, 2) _noreturn_ static void on_pci_error(char *msg, ...) {
        if (current_jump)
                longjmp(*current_jump, 1);
        abort(); /* unreachable: we only call libpci under a jump target */
}

_printf_(1, 2) static void on_pci_quiet(char *msg, ...) {
}

#define WITH_PCI_JUMP(fail)          \
        jmp_buf _jb;                 \
        if (setjmp(_jb) != 0) {      \
                current_jump = NULL; \
                fail;                \
        }                            \
        current_jump = &_jb

int pci_names_new(const char *sysfs_root, const char *ids_path, PciNames **ret) {
        PciNames *n;
        struct pci_access *a;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        a = pci_alloc();
        if (!a) {
                free(n);
                return -ENOMEM;
        }
        a->error = on_pci_error;
        a->warning = on_pci_quiet;
        a->debug = on_pci_quiet;
        /* Names come from pci.ids only: asking udev's hwdb per lookup is slow and its answers are
         * the same database on Debian. */
        a->id_lookup_mode = PCI_LOOKUP_NO_HWDB;
        if (ids_path)
                pci_set_name_list_path(a, (char *) ids_path, 0);
        if (sysfs_root) {
                /* Point libpci at the same tree the daemon reads, as lspci -O sysfs.path= does. */
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/sys/bus/pci", sysfs_root) < 0) {
                        pci_cleanup(a);
                        free(n);
                        return -ENOMEM;
                }
                pci_set_param(a, (char *) "sysfs.path", path);
        }
        n->pacc = a;
        *ret = n;
        return 0;
}

PciNames *pci_names_free(PciNames *n) {
        if (!n)
                return NULL;
        if (n->pacc)
                pci_cleanup(n->pacc);
        for (size_t i = 0; i < n->n_table; i++) {
                free(n->table[i].vendor);
                free(n->table[i].device);
        }
        free(n->table);
        free(n);
        return NULL;
}

/* Every string on the bus must be UTF-8, or sd-bus refuses the message: a damaged pci.ids must
 * not take GetHostReport and the names' properties down with it. */
static char *name_dup(const char *s) {
        char *copy = strdup(s);

        utf8_sanitize(copy);
        return copy;
}

/* The names in the caller's buffers, NULL when unknown; the one place that enters libpci. */
static int lookup(PciNames *n, uint16_t vendor, uint16_t device, char vbuf[static 256],
                  char dbuf[static 256], const char **ret_vendor, const char **ret_device) {
        WITH_PCI_JUMP(return -EIO);
        *ret_vendor = pci_lookup_name(n->pacc, vbuf, 256, PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS,
                                      (int) vendor);
        *ret_device = pci_lookup_name(n->pacc, dbuf, 256, PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS,
                                      (int) vendor, (int) device);
        current_jump = NULL;
        return 0;
}

static size_t slot_of(const NameEntry *table, size_t n_table, uint32_t key) {
        /* Fibonacci hashing spreads the ids' low bits, which repeat across a vendor's models. */
        size_t i = (size_t) ((key * UINT32_C(2654435769)) & (n_table - 1));

        while (table[i].used && table[i].key != key)
                i = (i + 1) & (n_table - 1);
        return i;
}

static int table_grow(PciNames *n) {
        size_t size = n->n_table ? n->n_table * 2 : 64;
        NameEntry *t = calloc(size, sizeof(NameEntry));

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_table; i++)
                if (n->table[i].used)
                        t[slot_of(t, size, n->table[i].key)] = n->table[i];
        free(n->table);
        n->table = t;
        n->n_table = size;
        return 0;
}

int pci_names_lookup(PciNames *n, uint16_t vendor, uint16_t device, const char **ret_vendor,
                     const char **ret_device) {
        uint32_t key = (uint32_t) vendor << 16 | device;
        char vbuf[256], dbuf[256];
        const char *v, *d;
        NameEntry *e;
        int k;

        if (n->n_table > 0) {
                e = &n->table[slot_of(n->table, n->n_table, key)];
                if (e->used) {
                        *ret_vendor = e->vendor;
                        *ret_device = e->device;
                        return 0;
                }
        }
        k = lookup(n, vendor, device, vbuf, dbuf, &v, &d);
        if (k < 0)
                return k;
        if ((n->n_used + 1) * 2 > n->n_table && table_grow(n) < 0)
                return -ENOMEM;
        e = &n->table[slot_of(n->table, n->n_table, key)];
        *e = (NameEntry) { .key = key };
        if ((v && !(e->vendor = name_dup(v))) || (d && !(e->device = name_dup(d)))) {
                e->vendor = mfree(e->vendor);
                return -ENOMEM;
        }
        e->used = true;
        n->n_used++;
        *ret_vendor = e->vendor;
        *ret_device = e->device;
        return 0;
}
