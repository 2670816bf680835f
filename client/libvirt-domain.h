/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bdf.h"
#include "macro.h"

/* What the libvirt hook needs of a domain's XML (the text libvirt writes on a hook's stdin, the
 * schema of https://libvirt.org/formatdomain.html): the domain's UUID and the PCI addresses of
 * its <hostdev mode='subsystem' type='pci' managed='no'> devices, the ones libvirt expects to
 * find on vfio-pci already (docs/vfio-assignd.8, LIBVIRT). Pure: no bus, no files. */

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and its NUL. */
#define LIBVIRT_UUID_STRLEN 37
/* The most unmanaged PCI host devices one domain may list (a q35 machine has 32 slots of 8
 * functions on each of its root ports; no real domain comes near this). */
#define LIBVIRT_HOSTDEVS_MAX 1024
/* The largest domain XML read: libvirt's own are a few KiB, with every device a few dozen. */
#define LIBVIRT_XML_MAX (4u * 1024u * 1024u)

typedef struct LibvirtDomain {
        /* Lower case, as libvirt formats it. */
        char uuid[LIBVIRT_UUID_STRLEN];
        /* The unmanaged PCI host devices, in document order, each once. */
        PciAddress *hostdevs;
        size_t n_hostdevs;
} LibvirtDomain;

typedef enum LibvirtParseFlags {
        /* Only the UUID: a host device the hook cannot read does not fail the parse (release
         * needs the UUID alone, and must work for any domain libvirt could start). */
        LIBVIRT_PARSE_UUID_ONLY = 1 << 0,
} LibvirtParseFlags;

/* Parses size bytes of XML. On failure returns -EINVAL (the text is not a domain the hook can
 * read: *ret_error says where and why, naming the host device by its position and address),
 * -E2BIG (more than LIBVIRT_XML_MAX bytes or LIBVIRT_HOSTDEVS_MAX devices) or -ENOMEM;
 * *ret_error (which may be NULL) is set on -EINVAL and -E2BIG only. */
int libvirt_domain_parse(const char *xml, size_t size, LibvirtParseFlags flags, LibvirtDomain **ret,
                         char **ret_error);

LibvirtDomain *libvirt_domain_free(LibvirtDomain *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(LibvirtDomain *, libvirt_domain_free);

/* One number of a libvirt PCI address attribute as libvirt reads it (virPCIDeviceAddressParseXML()
 * in src/conf/device_conf.c: strtoul() with base 0): "0x" and hex digits, a leading 0 and octal
 * digits, or decimal; no sign, no blanks, at most max. -EINVAL or -ERANGE. */
int libvirt_parse_address_number(const char *s, unsigned max, unsigned *ret);
