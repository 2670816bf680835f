/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML libvirt hands its hooks, read for the libvirt hook (client/libvirt-hook.c).
 * Where libvirt's own reading is the reference, the comments name the function in libvirt's
 * sources (src/conf/domain_conf.c, src/conf/device_conf.c) that this follows. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirt-domain.h"
#include "macro.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlParserCtxtPtr, xmlFreeParserCtxt);

static inline void xml_freep(xmlChar **p) {
        xmlFree(*p);
}
#define _cleanup_xml_free_ _cleanup_(xml_freep)

LibvirtDomain *libvirt_domain_free(LibvirtDomain *d) {
        if (!d)
                return NULL;
        free(d->hostdevs);
        return mfree(d);
}

int libvirt_parse_address_number(const char *s, unsigned max, unsigned *ret) {
        unsigned base = 10;
        uint64_t v = 0;

        /* strtoul() with base 0, as virStrToLong_uip() calls it, but without the leading blanks
         * and sign strtoul() would accept: libvirt never writes them. The whole string must be
         * the number (virStrToLong_uip() with no end pointer). */
        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
                if (!*s)
                        return -EINVAL;
        } else if (s[0] == '0' && s[1]) {
                base = 8;
                s++;
        }
        for (; *s; s++) {
                int d = unhexchar(*s);

                if (d < 0 || (unsigned) d >= base)
                        return -EINVAL;
                v = v * base + (unsigned) d;
                if (v > max)
                        return -ERANGE;
        }
        *ret = (unsigned) v;
        return 0;
}

/* Sets *ret_error (when asked for) to the formatted message and returns r. */
_printf_(3, 4) static int parse_error(char **ret_error, int r, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                char *msg = NULL;

                va_start(ap, format);
                if (vasprintf(&msg, format, ap) < 0)
                        msg = NULL;
                va_end(ap);
                if (!msg)
                        return -ENOMEM;
                free(*ret_error);
                *ret_error = msg;
        }
        return r;
}

/* An element without a namespace named name: libvirt's own elements (other namespaces, like the
 * qemu:commandline one, are extensions the hook has nothing to do with). */
static bool is_element(const xmlNode *n, const char *name) {
        return n->type == XML_ELEMENT_NODE && !n->ns && streq((const char *) n->name, name);
}

static bool is_uuid_hex_position(size_t i) {
        return i != 8 && i != 13 && i != 18 && i != 23;
}

/* The text of <uuid>, in virUUIDFormat()'s form (src/util/viruuid.c): lower-case hex 8-4-4-4-12.
 * libvirt writes it so; any case is accepted and lowered, anything else refused. */
static int parse_uuid(xmlNode *n, char ret[static LIBVIRT_UUID_STRLEN], char **ret_error) {
        _cleanup_xml_free_ xmlChar *text = xmlNodeGetContent(n);
        const char *s = text ? (const char *) text : "";

        if (strlen(s) != LIBVIRT_UUID_STRLEN - 1)
                goto bad;
        for (size_t i = 0; i < LIBVIRT_UUID_STRLEN - 1; i++) {
                if (is_uuid_hex_position(i) ? unhexchar(s[i]) < 0 : s[i] != '-')
                        goto bad;
                ret[i] = is_uuid_hex_position(i) ? "0123456789abcdef"[unhexchar(s[i])] : '-';
        }
        ret[LIBVIRT_UUID_STRLEN - 1] = 0;
        return 0;
bad:
        return parse_error(ret_error, -EINVAL,
                           "line %ld: <uuid>: '%.40s' is not a UUID "
                           "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                           xmlGetLineNo(n), s);
}

/* One attribute of <address>: as virPCIDeviceAddressParseXML() reads it, a missing one is 0. */
static int parse_address_attr(xmlNode *address, const char *name, unsigned max, unsigned *ret,
                              unsigned index, char **ret_error) {
        _cleanup_xml_free_ xmlChar *value = xmlGetNoNsProp(address, (const xmlChar *) name);
        int r;

        if (!value) {
                *ret = 0;
                return 0;
        }
        r = libvirt_parse_address_number((const char *) value, max, ret);
        if (r == -ERANGE)
                return parse_error(ret_error, -EINVAL,
                                   "line %ld: <hostdev> %u: source address: %s='%.20s' is out of "
                                   "range (at most 0x%x)",
                                   xmlGetLineNo(address), index, name, (const char *) value, max);
        if (r < 0)
                return parse_error(ret_error, -EINVAL,
                                   "line %ld: <hostdev> %u: source address: %s='%.20s' is not a "
                                   "number (0x and hex digits, or decimal)",
                                   xmlGetLineNo(address), index, name, (const char *) value);
        return 0;
}

/* The <source><address .../></source> of a PCI host device (virDomainHostdevSubsysPCIDefParseXML():
 * the address is required). */
static int parse_hostdev_address(xmlNode *hostdev, unsigned index, PciAddress *ret,
                                 char **ret_error) {
        /* The limits are virPCIDeviceAddressIsValid()'s. */
        static const struct {
                const char *name;
                unsigned max;
        } fields[] = { { "domain", 0xffff }, { "bus", 0xff }, { "slot", 0x1f }, { "function", 7 } };
        xmlNode *address = NULL;
        unsigned v[ELEMENTSOF(fields)];
        int r;

        for (xmlNode *s = hostdev->children; s; s = s->next) {
                if (!is_element(s, "source"))
                        continue;
                for (xmlNode *a = s->children; a; a = a->next)
                        if (is_element(a, "address")) {
                                address = a;
                                break;
                        }
                break;
        }
        if (!address)
                return parse_error(ret_error, -EINVAL,
                                   "line %ld: <hostdev> %u: no <source><address .../></source>",
                                   xmlGetLineNo(hostdev), index);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                r = parse_address_attr(address, fields[i].name, fields[i].max, &v[i], index,
                                       ret_error);
                if (r < 0)
                        return r;
        }
        *ret = (PciAddress) {
                .domain = v[0], .bus = (uint8_t) v[1], .dev = (uint8_t) v[2], .fn = (uint8_t) v[3]
        };
        return 0;
}

/* Whether a <hostdev> is one the hook claims: mode 'subsystem' (libvirt's default when the
 * attribute is missing), type 'pci', managed 'no' (the default: virDomainHostdevDefParseXMLSubsys()
 * takes only "yes" as managed). 1 yes, 0 no, -EINVAL for a managed that is neither. */
static int hostdev_is_unmanaged_pci(xmlNode *hostdev, unsigned index, char **ret_error) {
        _cleanup_xml_free_ xmlChar *mode = xmlGetNoNsProp(hostdev, (const xmlChar *) "mode");
        _cleanup_xml_free_ xmlChar *type = xmlGetNoNsProp(hostdev, (const xmlChar *) "type");
        _cleanup_xml_free_ xmlChar *managed = xmlGetNoNsProp(hostdev, (const xmlChar *) "managed");

        if (mode && !streq((const char *) mode, "subsystem"))
                return 0;
        if (!type || !streq((const char *) type, "pci"))
                return 0;
        if (!managed || streq((const char *) managed, "no"))
                return 1;
        if (streq((const char *) managed, "yes"))
                return 0;
        return parse_error(ret_error, -EINVAL,
                           "line %ld: <hostdev> %u: managed='%.20s' is neither 'yes' nor 'no'",
                           xmlGetLineNo(hostdev), index, (const char *) managed);
}

static bool contains_address(const LibvirtDomain *d, const PciAddress *a) {
        for (size_t i = 0; i < d->n_hostdevs; i++)
                if (pci_address_compare(&d->hostdevs[i], a) == 0)
                        return true;
        return false;
}

/* Every <devices><hostdev>, counted from 1 in document order for the messages. */
static int parse_devices(xmlNode *root, LibvirtDomain *d, char **ret_error) {
        unsigned index = 0;
        size_t allocated = 0;
        int r;

        for (xmlNode *devices = root->children; devices; devices = devices->next) {
                if (!is_element(devices, "devices"))
                        continue;
                for (xmlNode *h = devices->children; h; h = h->next) {
                        PciAddress a;

                        if (!is_element(h, "hostdev"))
                                continue;
                        index++;
                        r = hostdev_is_unmanaged_pci(h, index, ret_error);
                        if (r <= 0) {
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = parse_hostdev_address(h, index, &a, ret_error);
                        if (r < 0)
                                return r;
                        if (contains_address(d, &a))
                                continue;
                        if (d->n_hostdevs >= LIBVIRT_HOSTDEVS_MAX)
                                return parse_error(ret_error, -E2BIG,
                                                   "more than %u unmanaged PCI host devices",
                                                   LIBVIRT_HOSTDEVS_MAX);
                        if (d->n_hostdevs == allocated) {
                                size_t n = allocated ? allocated * 2 : 4;
                                PciAddress *p = reallocarray(d->hostdevs, n, sizeof(*p));

                                if (!p)
                                        return -ENOMEM;
                                d->hostdevs = p;
                                allocated = n;
                        }
                        d->hostdevs[d->n_hostdevs++] = a;
                }
        }
        return 0;
}

/* libxml2's complaint about text it could not parse, as "line N: what". */
static int xml_error(xmlParserCtxtPtr ctxt, char **ret_error) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        _cleanup_free_ char *msg = NULL;

        if (e && e->domain == XML_FROM_MEMORY)
                return -ENOMEM;
        msg = strdup(e && e->message ? e->message : "not well-formed");
        if (!msg)
                return -ENOMEM;
        strstrip_trailing(msg);
        return parse_error(ret_error, -EINVAL, "line %d: %s", e ? e->line : 0, msg);
}

int libvirt_domain_parse(const char *xml, size_t size, LibvirtParseFlags flags, LibvirtDomain **ret,
                         char **ret_error) {
        _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = NULL;
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(libvirt_domain_freep) LibvirtDomain *d = NULL;
        xmlNode *root, *uuid = NULL;
        int r;

        if (size > LIBVIRT_XML_MAX)
                return parse_error(ret_error, -E2BIG, "the domain XML has more than %u bytes",
                                   LIBVIRT_XML_MAX);
        ctxt = xmlNewParserCtxt();
        if (!ctxt)
                return -ENOMEM;
        /* No network, and libxml2's messages kept off stderr: the hook prints its own. External
         * entities and DTDs are not loaded (no XML_PARSE_DTDLOAD, XML_PARSE_NOENT). */
        doc = xmlCtxtReadMemory(ctxt, xml, (int) size, "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return xml_error(ctxt, ret_error);
        /* libvirt's domain XML has no document type; one could only bring entity declarations
         * whose expansions the attributes read below would carry. */
        if (doc->intSubset || doc->extSubset)
                return parse_error(ret_error, -EINVAL,
                                   "a <!DOCTYPE> does not belong in a domain XML");
        root = xmlDocGetRootElement(doc);
        if (!root || !is_element(root, "domain"))
                return parse_error(ret_error, -EINVAL, "the root element is not <domain>");

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        for (xmlNode *n = root->children; n; n = n->next) {
                if (!is_element(n, "uuid"))
                        continue;
                if (uuid)
                        return parse_error(ret_error, -EINVAL, "line %ld: a second <uuid>",
                                           xmlGetLineNo(n));
                uuid = n;
        }
        /* libvirt always writes the UUID (it makes one when a definition has none). */
        if (!uuid)
                return parse_error(ret_error, -EINVAL, "the domain has no <uuid>");
        r = parse_uuid(uuid, d->uuid, ret_error);
        if (r < 0)
                return r;
        if (!(flags & LIBVIRT_PARSE_UUID_ONLY)) {
                r = parse_devices(root, d, ret_error);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(d);
        return 0;
}
