/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfio-assignd's libvirt hook (docs/vfio-assignd.8, LIBVIRT): libvirt's qemu driver runs it, through
 * the script /etc/libvirt/hooks/qemu.d/vfio-assignd, as
 *
 *     vfio-assignd DOMAIN OPERATION SUB-OPERATION EXTRA   (the domain's XML on stdin)
 *
 * At "prepare begin" it claims the IOMMU group of each <hostdev mode='subsystem' type='pci'
 * managed='no'> for the owner key libvirt:UUID, at "release end" it gives back whatever that key
 * holds; everything else is none of its business.
 *
 * What it relies on in libvirt (src/qemu/qemu_process.c, src/util/virhook.c,
 * src/util/vircommand.c, src/hypervisor/virhostdev.c):
 * - qemuProcessInit() runs the "prepare begin" hook before qemuProcessPrepareHost() calls
 *   qemuHostdevPrepareDomainDevices(); virHostdevPreparePCIDevicesImpl() then refuses an
 *   unmanaged device that is not on a stub driver ("Unmanaged PCI device ... must be manually
 *   detached from the host") and leaves such a device's driver alone at the domain's end
 *   (virHostdevReattachAllPCIDevices(): "Not reattaching unmanaged PCI device"). So whatever
 *   this hook binds at prepare is in place when libvirt checks it, and stays ours.
 * - A hook failing at prepare stops the start: qemuProcessInit() goes to qemuProcessStop(),
 *   which, the domain having its id already, runs the "stopped end" and "release end" hooks
 *   too. So release runs after a refused start as well, and must find nothing to do then.
 * - "release end" runs at the end of qemuProcessStop(), after QEMU was killed and libvirt's
 *   own host device clean-up: no process holds the group then. Its failure is ignored.
 * - virHookCall() runs /etc/libvirt/hooks/qemu and then every executable of
 *   /etc/libvirt/hooks/qemu.d/ in name order, each as PATH DOMAIN OP SUBOP EXTRA ("-" for none)
 *   with the domain XML on stdin; virHookInitialize() looks for them when the daemon starts.
 * - virCommandRun() (without an exit status pointer) captures the hook's stderr and turns a
 *   non-zero exit into "Child process (...) unexpected exit status N: STDERR", which
 *   virRunScript() reports as VIR_ERR_HOOK_SCRIPT_FAILED: what this program prints on stderr is
 *   what `virsh start` shows. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "bdf.h"
#include "errors.h"
#include "escape.h"
#include "libvirt-domain.h"
#include "macro.h"
#include "names.h"

/* The owner keys of libvirt's domains: libvirt:UUID (lease_owner_is_valid() in daemon/lease.h). */
#define OWNER_PREFIX "libvirt:"
/* A claim moves a whole group, each member's unbind and probe bounded by the daemon's write
 * timeout (10 s by default, BINDING_TIMEOUT_USEC); sd-bus's default of 25 s would give up on a
 * group of three slow members that the daemon is still moving. */
#define CALL_TIMEOUT_USEC (120 * 1000000ULL)

static const char *arg_domain = NULL;

static void help(void) {
        printf("%s DOMAIN OPERATION SUB-OPERATION EXTRA < DOMAIN-XML\n\n"
               "libvirt's qemu hook for vfio-assignd, run by libvirt through\n"
               "/etc/libvirt/hooks/qemu.d/vfio-assignd with the domain's XML on stdin.\n\n"
               "  prepare begin  claims the IOMMU group of every <hostdev mode='subsystem'\n"
               "                 type='pci' managed='no'> for the owner key libvirt:UUID; a\n"
               "                 refusal gives back what it claimed, prints the daemon's\n"
               "                 reason and exits 1, which stops the domain's start\n"
               "  release end    gives back every group libvirt:UUID holds\n"
               "  anything else  does nothing\n\n"
               "  -h --help      Show this help\n\n"
               "See vfio-assignd(8), LIBVIRT.\n",
               program_invocation_short_name);
}

/* Prints "vfio-assignd: domain 'NAME': MESSAGE" on stderr, the daemon's words and the domain's
 * name escaped to one line of text, and returns EXIT_FAILURE. */
_printf_(1, 2) static int hook_error(const char *format, ...) {
        _cleanup_free_ char *msg = NULL, *shown = NULL, *name = cescape(arg_domain);
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&msg, format, ap);
        va_end(ap);
        shown = k >= 0 ? cescape(msg) : NULL;
        fprintf(stderr, "vfio-assignd: domain '%s': %s\n", strna(name), shown ?: "out of memory");
        return EXIT_FAILURE;
}

static const char *bus_error_text(const sd_bus_error *e, int r) {
        return sd_bus_error_is_set(e) && e->message ? e->message : strerror(-r);
}

static const char *bus_error_name(const sd_bus_error *e) {
        return sd_bus_error_is_set(e) ? e->name : "(no error name)";
}

/* The whole of stdin, NUL-terminated; at most LIBVIRT_XML_MAX + 1 bytes are read, so that the
 * parser sees that a larger text is too large. The buffer's pages beyond the text are never
 * touched. */
static int read_stdin(char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = malloc(LIBVIRT_XML_MAX + 2);
        size_t size;

        if (!buf)
                return -ENOMEM;
        errno = 0;
        size = fread(buf, 1, LIBVIRT_XML_MAX + 1, stdin);
        if (ferror(stdin))
                return errno > 0 ? -errno : -EIO;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* The domain XML of stdin, parsed with flags; on failure says why and returns EXIT_FAILURE. */
static int parse_domain(const char *xml, size_t size, LibvirtParseFlags flags,
                        LibvirtDomain **ret) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = libvirt_domain_parse(xml, size, flags, ret, &error);
        if (r == -ENOMEM)
                return hook_error("out of memory");
        if (r < 0)
                return hook_error("cannot read the domain XML: %s", strna(error));
        return EXIT_SUCCESS;
}

static int read_xml(char **ret, size_t *ret_size) {
        int r;

        r = read_stdin(ret, ret_size);
        if (r < 0)
                return hook_error("cannot read the domain XML on stdin: %s", strerror(-r));
        return EXIT_SUCCESS;
}

static int owner_of(const LibvirtDomain *d, char **ret) {
        if (asprintf(ret, OWNER_PREFIX "%s", d->uuid) < 0)
                return -ENOMEM;
        return 0;
}

/* sd_bus_open_system() honours $DBUS_SYSTEM_BUS_ADDRESS, which the tests rely on. */
static int connect_bus(sd_bus **ret) {
        int r;

        r = sd_bus_open_system(ret);
        if (r < 0)
                return hook_error("cannot connect to the system bus: %s", strerror(-r));
        return EXIT_SUCCESS;
}

/* Manager.ReleaseByOwner(owner, {}). auto_start false: a daemon that does not run is not started
 * for it (sd-bus's NO_AUTO_START flag), and then there is nothing to give back. 0 when given back
 * or nothing was held, else -errno with *error set. */
static int release_by_owner(sd_bus *bus, const char *owner, bool auto_start, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                           "ReleaseByOwner");
        if (r >= 0)
                r = sd_bus_message_append(m, "sa{sv}", owner, 0);
        if (r >= 0)
                r = sd_bus_message_set_auto_start(m, auto_start);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, error, NULL);
        if (r >= 0 || sd_bus_error_has_name(error, va_error_name(VA_ERROR_NO_SUCH_LEASE)))
                return 0;
        if (!auto_start && sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                                  SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return 0;
        return r;
}

static int claim_device(sd_bus *bus, const char *address, const char *owner, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_ROOT, IFACE_MANAGER,
                                           "ClaimDevice");
        if (r >= 0)
                r = sd_bus_message_append(m, "sa{sv}", address, 1, "owner", "s", owner);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, CALL_TIMEOUT_USEC, error, NULL);
}

/* "prepare begin": every unmanaged PCI host device's group for the domain's key, or none. */
static int hook_prepare(void) {
        _cleanup_(libvirt_domain_freep) LibvirtDomain *d = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *xml = NULL, *owner = NULL;
        size_t size;
        int r;

        r = read_xml(&xml, &size);
        if (r == EXIT_SUCCESS)
                r = parse_domain(xml, size, 0, &d);
        if (r != EXIT_SUCCESS)
                return r;
        /* A domain without such devices is not ours: the bus is not even touched. */
        if (d->n_hostdevs == 0)
                return EXIT_SUCCESS;
        if (owner_of(d, &owner) < 0)
                return hook_error("out of memory");
        r = connect_bus(&bus);
        if (r != EXIT_SUCCESS)
                return r;

        for (size_t i = 0; i < d->n_hostdevs; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error undo = SD_BUS_ERROR_NULL;
                char address[PCI_ADDRESS_STRLEN];
                int k;

                pci_address_format(&d->hostdevs[i], address);
                /* A second prepare of the same domain gets the same lease back (the daemon's
                 * claims by owner are idempotent), so a retried start works. */
                r = claim_device(bus, address, owner, &error);
                if (r >= 0)
                        continue;
                /* Nothing of this domain stays claimed after a refused start: the groups of the
                 * devices before this one go back (release may run later; it then finds none). */
                k = release_by_owner(bus, owner, true, &undo);
                hook_error("cannot claim %s for %s: %s: %s", address, owner, bus_error_name(&error),
                           bus_error_text(&error, r));
                if (k < 0)
                        hook_error("and cannot give back what %s claimed: %s: %s", owner,
                                   bus_error_name(&undo), bus_error_text(&undo, k));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/* "release end": whatever the domain's key holds goes back. */
static int hook_release(void) {
        _cleanup_(libvirt_domain_freep) LibvirtDomain *d = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *xml = NULL, *owner = NULL;
        bool auto_start;
        size_t size;
        int r;

        r = read_xml(&xml, &size);
        if (r != EXIT_SUCCESS)
                return r;
        /* The devices the XML lists now only decide whether a daemon that is not running is
         * started; an XML whose devices cannot be read still names the key. */
        if (libvirt_domain_parse(xml, size, 0, &d, NULL) >= 0)
                auto_start = d->n_hostdevs > 0;
        else {
                r = parse_domain(xml, size, LIBVIRT_PARSE_UUID_ONLY, &d);
                if (r != EXIT_SUCCESS)
                        return r;
                auto_start = true;
        }
        if (owner_of(d, &owner) < 0)
                return hook_error("out of memory");
        /* Without a bus there is no daemon, and for such a domain nothing to ask for. */
        if (!auto_start && sd_bus_open_system(&bus) < 0)
                return EXIT_SUCCESS;
        if (!bus) {
                r = connect_bus(&bus);
                if (r != EXIT_SUCCESS)
                        return r;
        }
        /* Every domain's end asks, even one without unmanaged devices now: one may have been
         * detached while the domain ran, its group still claimed. For such a domain the call
         * does not start a daemon that is not running (its leases stay in its state file until
         * it starts, for the next release of that domain or `assignctl release --owner`): the
         * hosts that never use the daemon do not get it started at each domain's end. */
        r = release_by_owner(bus, owner, auto_start, &error);
        if (r < 0)
                return hook_error("cannot give back what %s holds: %s: %s", owner,
                                  bus_error_name(&error), bus_error_text(&error, r));
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        if (argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                help();
                return EXIT_SUCCESS;
        }
        if (argc != 5) {
                fprintf(stderr,
                        "%s: expected DOMAIN OPERATION SUB-OPERATION EXTRA, as libvirt passes "
                        "them (see --help)\n",
                        program_invocation_short_name);
                return 2;
        }
        arg_domain = argv[1];
        if (streq(argv[2], "prepare") && streq(argv[3], "begin"))
                return hook_prepare();
        if (streq(argv[2], "release") && streq(argv[3], "end"))
                return hook_release();
        return EXIT_SUCCESS;
}
