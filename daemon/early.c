/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfio-assignd-early: the helper of the udev rule that keeps host drivers away from the cards of
 * persistent prepares at boot (systemd/udev/70-vfio-assignd.rules, vfio-assignd(8) EARLY
 * PREPARE). The daemon starts after the kernel has added the devices, so without it the host
 * driver probes first and the daemon takes the card away later (the boot race).
 *
 *   vfio-assignd-early [--file=PATH] ADDRESS VENDOR DEVICE SUBSYSTEM_VENDOR SUBSYSTEM_DEVICE
 *       The rule's IMPORT{program}: prints VFIO_ASSIGND_DRIVER=DRIVER when the early-prepare
 *       file the daemon keeps lists ADDRESS with these ids (sysfs spells them "0x8086"), and
 *       nothing otherwise: another card at the address (any id differs) gets no override.
 *   vfio-assignd-early --probe [--sysfs-root=DIR] ADDRESS
 *       The rule's RUN: a device that no driver has (its override keeps the host driver away)
 *       goes to drivers_probe, so that a VFIO driver already loaded binds it now.
 *
 * It runs in udev's worker, early, maybe in the initrd: no daemon, no bus, no allocation that
 * grows with the file, and a missing file (no persistent prepares, /var not mounted yet) is
 * nothing to do. Its complaints go to stderr, which udev logs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdf.h"
#include "errors.h"
#include "macro.h"
#include "names.h"
#include "util.h"

static const char *arg_file = EARLY_PREPARE_PATH;
static const char *arg_sysfs_root = "/";
static bool arg_probe = false;

/* "0x8086" (sysfs) or "8086" (the file); "*" only where wildcard is true (an id the daemon did
 * not record): -1. */
static int parse_id(const char *s, bool wildcard, int32_t *ret) {
        char buf[16];
        uint32_t v;

        if (wildcard && streq(s, "*")) {
                *ret = -1;
                return 0;
        }
        if (strlen(s) > 6)
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%s%s", strneq(s, "0x", 2) ? "" : "0x", s);
        if (safe_atou32(buf, 16, &v) < 0 || v > 0xffff)
                return -EINVAL;
        *ret = (int32_t) v;
        return 0;
}

/* The driver the file names for address with ids, if the line there matches them all. */
static int lookup(const char *address, const int32_t ids[4], char *ret_driver, size_t size) {
        _cleanup_fclose_ FILE *f = fopen(arg_file, "re");
        char line[256];
        unsigned lineno = 0;

        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                char addr[32], sid[4][16], driver[64], extra[2];
                int32_t want[4];
                int n;

                lineno++;
                if (line[0] == '#' || line[0] == '\n')
                        continue;
                n = sscanf(line, "%31s %15s %15s %15s %15s %63s %1s", addr, sid[0], sid[1], sid[2],
                           sid[3], driver, extra);
                if (n != 6 || !pci_address_is_canonical(addr) || !filename_is_valid(driver) ||
                    parse_id(sid[0], false, &want[0]) < 0 ||
                    parse_id(sid[1], false, &want[1]) < 0 || parse_id(sid[2], true, &want[2]) < 0 ||
                    parse_id(sid[3], true, &want[3]) < 0) {
                        fprintf(stderr, "%s:%u: not an early-prepare line, skipped\n", arg_file,
                                lineno);
                        continue;
                }
                if (!streq(addr, address))
                        continue;
                for (size_t i = 0; i < 4; i++)
                        if (want[i] >= 0 && want[i] != ids[i]) {
                                /* The daemon says IdentityChanged when it starts. */
                                fprintf(stderr,
                                        "%s: another card than the persistent prepare recorded "
                                        "(%s line %u): no driver_override\n",
                                        address, arg_file, lineno);
                                return 0;
                        }
                snprintf(ret_driver, size, "%s", driver);
                return 1;
        }
        return ferror(f) ? -EIO : 0;
}

static int probe(const char *address) {
        _cleanup_free_ char *link = NULL, *probe_path = NULL;
        _cleanup_close_ int fd = -1;
        size_t n = strlen(address);

        if (asprintf(&link, "%s/" SYSFS_PCI_DEVICES "/%s/driver", arg_sysfs_root, address) < 0 ||
            asprintf(&probe_path, "%s/" SYSFS_PCI_DRIVERS_PROBE, arg_sysfs_root) < 0)
                return -ENOMEM;
        if (access(link, F_OK) == 0)
                return 0; /* bound already: the daemon moves it (and records the driver) */
        fd = open(probe_path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* "no driver" is success too (sysfs-bus-pci: drivers_probe). */
        return write(fd, address, n) == (ssize_t) n ? 0 : -errno;
}

static int usage(void) {
        fprintf(stderr,
                "Usage: %s [--file=PATH] ADDRESS VENDOR DEVICE SUBSYSTEM_VENDOR SUBSYSTEM_DEVICE\n"
                "       %s --probe [--sysfs-root=DIR] ADDRESS\n"
                "The udev rule's helper for early prepares; see vfio-assignd(8).\n",
                program_invocation_short_name, program_invocation_short_name);
        return EXIT_USAGE;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = { { "file", required_argument, NULL, 'f' },
                                                 { "probe", no_argument, NULL, 'p' },
                                                 { "sysfs-root", required_argument, NULL, 'r' },
                                                 { "help", no_argument, NULL, 'h' },
                                                 {} };
        char driver[64];
        int32_t ids[4];
        int c, k;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'f':
                        arg_file = optarg;
                        break;
                case 'p':
                        arg_probe = true;
                        break;
                case 'r':
                        arg_sysfs_root = optarg;
                        break;
                case 'h':
                        (void) usage();
                        return EXIT_OK;
                default:
                        return usage();
                }
        if (argc - optind != (arg_probe ? 1 : 5) || !pci_address_is_canonical(argv[optind]))
                return usage();
        if (arg_probe) {
                k = probe(argv[optind]);
                if (k < 0) {
                        fprintf(stderr, "%s: drivers_probe: %s\n", argv[optind], strerror(-k));
                        return EXIT_FAILED;
                }
                return EXIT_OK;
        }
        for (size_t i = 0; i < 4; i++)
                if (parse_id(argv[optind + 1 + i], false, &ids[i]) < 0)
                        return usage();
        k = lookup(argv[optind], ids, driver, sizeof(driver));
        if (k < 0) {
                fprintf(stderr, "%s: %s\n", arg_file, strerror(-k));
                return EXIT_FAILED;
        }
        if (k > 0)
                printf("%s=%s\n", EARLY_PREPARE_ENV, driver);
        return EXIT_OK;
}
