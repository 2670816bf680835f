/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"
#include "vfio-variant.h"

#define ALIAS_PREFIX "vfio_pci:"
#define VFIO_PCI_MODULE "vfio_pci"
/* Debian's modules.alias is about 1 MiB; ten times that is no modules.alias. */
#define MODULES_ALIAS_MAX (16u << 20)
/* include/linux/module.h: MODULE_NAME_LEN is 64 - sizeof(unsigned long). */
#define MODULE_NAME_MAX 56
/* A vfio_pci pattern spells each of the 7 ids out or leaves it '*'; a bracket expression is
 * longer, never this long. */
#define PATTERN_MAX 256

void vfio_variant_alias(const Device *d, char ret[static VFIO_VARIANT_ALIAS_MAX]) {
        snprintf(ret, VFIO_VARIANT_ALIAS_MAX,
                 ALIAS_PREFIX "v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", d->vendor, d->device,
                 d->subsystem_vendor, d->subsystem_device, (d->class >> 16) & 0xff,
                 (d->class >> 8) & 0xff, d->class & 0xff);
}

VfioVariants *vfio_variants_free(VfioVariants *v) {
        if (!v)
                return NULL;
        for (size_t i = 0; i < v->n; i++) {
                free(v->variants[i].pattern);
                free(v->variants[i].module);
        }
        free(v->variants);
        free(v);
        return NULL;
}

/* Module names are what kbuild makes of file names: letters, digits, '_' ('-' becomes '_'). */
static bool module_name_valid(const char *s, size_t n) {
        if (n == 0 || n > MODULE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(isalnum((unsigned char) s[i]) || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static bool pattern_valid(const char *s, size_t n) {
        if (n <= strlen(ALIAS_PREFIX) || n > PATTERN_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
                        return false;
        return true;
}

static unsigned count_wildcards(const char *pattern) {
        unsigned n = 0;

        for (const char *p = pattern; *p; p++)
                n += *p == '*' || *p == '?';
        return n;
}

static int add(VfioVariants *v, const char *pattern, size_t pn, const char *module, size_t mn) {
        VfioVariant *grown = reallocarray(v->variants, v->n + 1, sizeof(*v->variants));
        VfioVariant *e;

        if (!grown)
                return -ENOMEM;
        v->variants = grown;
        e = &v->variants[v->n];
        *e = (VfioVariant) { .pattern = strndup(pattern, pn), .module = strndup(module, mn) };
        if (!e->pattern || !e->module) {
                free(e->pattern);
                free(e->module);
                return -ENOMEM;
        }
        e->wildcards = count_wildcards(e->pattern);
        v->n++;
        return 0;
}

/* The next space-separated word of [*p, end): its start and length; *p moves past it. */
static size_t next_word(const char **p, const char *end, const char **ret) {
        const char *s = *p;
        size_t n = 0;

        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        while (s + n < end && s[n] != ' ' && s[n] != '\t')
                n++;
        *ret = s;
        *p = s + n;
        return n;
}

static int parse_line(VfioVariants *v, const char *line, const char *end, char **ret_why) {
        const char *p = line, *word, *pattern, *module, *rest;
        size_t n, pn, mn;

        n = next_word(&p, end, &word);
        if (n == 0 || word[0] == '#')
                return 0;
        if (n != 5 || !strneq(word, "alias", 5))
                return asprintf(ret_why, "not an alias line") < 0 ? -ENOMEM : -EBADMSG;
        pn = next_word(&p, end, &pattern);
        mn = next_word(&p, end, &module);
        if (pn == 0 || mn == 0 || next_word(&p, end, &rest) != 0)
                return asprintf(ret_why, "an alias line is \"alias PATTERN MODULE\"") < 0
                               ? -ENOMEM
                               : -EBADMSG;
        if (pn < strlen(ALIAS_PREFIX) || !strneq(pattern, ALIAS_PREFIX, strlen(ALIAS_PREFIX)))
                return 0; /* another bus's alias */
        if (!pattern_valid(pattern, pn))
                return asprintf(ret_why, "\"%.*s\" is no vfio_pci alias pattern",
                                (int) MIN(pn, (size_t) 64), pattern) < 0
                               ? -ENOMEM
                               : -EBADMSG;
        if (!module_name_valid(module, mn))
                return asprintf(ret_why, "\"%.*s\" is no module name", (int) MIN(mn, (size_t) 64),
                                module) < 0
                               ? -ENOMEM
                               : -EBADMSG;
        /* vfio-pci's own catch-all for driver_override (drivers/vfio/pci/vfio_pci.c:
         * PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_ANY_ID, PCI_ANY_ID), "vfio_pci:v*d*sv*sd*bc*sc*i*
         * vfio_pci"): not a variant, and its module's driver is named "vfio-pci". */
        if (mn == strlen(VFIO_PCI_MODULE) && strneq(module, VFIO_PCI_MODULE, mn))
                return 0;
        return add(v, pattern, pn, module, mn);
}

int vfio_variants_parse(const char *text, size_t size, VfioVariants **ret, char **ret_error) {
        _cleanup_(vfio_variants_freep) VfioVariants *v = calloc(1, sizeof(*v));
        const char *end = text + size;
        unsigned line = 0;

        if (!v)
                return -ENOMEM;
        if (memchr(text, 0, size)) {
                if (ret_error && asprintf(ret_error, "a NUL byte: not a text file") < 0)
                        *ret_error = NULL;
                return -EBADMSG;
        }
        for (const char *l = text; l < end;) {
                const char *nl = memchr(l, '\n', (size_t) (end - l));
                const char *le = nl ? nl : end;
                _cleanup_free_ char *why = NULL;
                int k;

                line++;
                k = parse_line(v, l, le > l && le[-1] == '\r' ? le - 1 : le, &why);
                if (k == -EBADMSG) {
                        if (ret_error && asprintf(ret_error, "line %u: %s", line, why) < 0)
                                *ret_error = NULL;
                        return k;
                }
                if (k < 0)
                        return k;
                l = nl ? nl + 1 : end;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int vfio_variants_load(const SysRoot *root, const char *kernel_release, const char *file,
                       VfioVariants **ret, char **ret_error) {
        _cleanup_(sysroot_freep) SysRoot *top = NULL;
        _cleanup_free_ uint8_t *text = NULL;
        _cleanup_free_ char *path = NULL, *why = NULL;
        size_t size = 0;
        int k;

        if (file) {
                if (file[0] != '/')
                        return -EINVAL;
                k = sysroot_open("/", "/", &top);
                if (k < 0)
                        return k;
                root = top;
                path = strdup(file + 1);
        } else if (!kernel_release || !filename_is_valid(kernel_release))
                return -EINVAL;
        else if (asprintf(&path, "lib/modules/%s/modules.alias", kernel_release) < 0)
                path = NULL;
        if (!path)
                return -ENOMEM;
        k = sysfs_read_file(root, path, MODULES_ALIAS_MAX, &text, &size);
        if (k >= 0)
                k = vfio_variants_parse((const char *) text, size, ret, &why);
        if (k < 0 && ret_error &&
            asprintf(ret_error, "%s%s: %s", file ? "/" : "", path, why ? why : strerror(-k)) < 0)
                *ret_error = NULL;
        return k;
}

const VfioVariant *vfio_variants_match(const VfioVariants *v, const char *alias) {
        const VfioVariant *best = NULL;

        for (size_t i = 0; v && i < v->n; i++)
                if (fnmatch(v->variants[i].pattern, alias, 0) == 0 &&
                    (!best || v->variants[i].wildcards < best->wildcards))
                        best = &v->variants[i];
        return best;
}
