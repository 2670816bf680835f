/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "daemon.h"
#include "introspect.h"
#include "names.h"
#include "report.h"
#include "udev.h"

static const char *arg_sysfs_root = "/";
static const char *arg_dev_root = "/";
static const char *arg_uevent_fifo = NULL;
static const char *arg_pci_ids = PCI_IDS_PATH;
static enum { ACTION_RUN, ACTION_REPORT, ACTION_INTROSPECT } arg_action = ACTION_RUN;

/* The daemon logs to stderr; under systemd that is the journal, with <N> level prefixes
 * (sd-daemon(3)) when stderr is the journal stream. */
static bool log_prefix;

_printf_(2, 3) static void log_msg(int level, const char *fmt, ...) {
        va_list ap;

        if (log_prefix)
                fprintf(stderr, "<%d>", level);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

#define log_error(...) log_msg(3, __VA_ARGS__)
#define log_warning(...) log_msg(4, __VA_ARGS__)
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)

static void help(void) {
        printf("Usage: %s [OPTIONS]\n"
               "Tracks the host's IOMMU groups and PCI devices and serves them on the system bus as\n"
               "%s.\n\n"
               "  -h --help               Show this help and exit\n"
               "     --version            Show the version and exit\n"
               "     --report             Print the host report as JSON and exit (no bus)\n"
               "     --bus-introspect     Print the D-Bus introspection XML and exit\n"
               "     --sysfs-root=DIR     Read sys/ and proc/ under DIR instead of / (tests, demos)\n"
               "     --dev-root=DIR       Look for dev/ under DIR instead of /\n"
               "     --pci-ids=FILE       The pci.ids database for names (default %s)\n"
               "     --uevent-fifo=PATH   Also read \"ACTION ADDRESS\" lines from the FIFO at PATH and\n"
               "                          handle each like a uevent (for tests on a fake tree)\n"
               "\nSee vfio-assignd(8).\n",
               program_invocation_short_name, BUS_NAME, PCI_IDS_PATH);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_REPORT,
                ARG_INTROSPECT,
                ARG_SYSFS_ROOT,
                ARG_DEV_ROOT,
                ARG_PCI_IDS,
                ARG_UEVENT_FIFO,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "report", no_argument, NULL, ARG_REPORT },
                { "bus-introspect", no_argument, NULL, ARG_INTROSPECT },
                { "sysfs-root", required_argument, NULL, ARG_SYSFS_ROOT },
                { "dev-root", required_argument, NULL, ARG_DEV_ROOT },
                { "pci-ids", required_argument, NULL, ARG_PCI_IDS },
                { "uevent-fifo", required_argument, NULL, ARG_UEVENT_FIFO },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
                        return 0;
                case ARG_REPORT:
                        arg_action = ACTION_REPORT;
                        break;
                case ARG_INTROSPECT:
                        arg_action = ACTION_INTROSPECT;
                        break;
                case ARG_SYSFS_ROOT:
                        arg_sysfs_root = optarg;
                        break;
                case ARG_DEV_ROOT:
                        arg_dev_root = optarg;
                        break;
                case ARG_PCI_IDS:
                        arg_pci_ids = optarg;
                        break;
                case ARG_UEVENT_FIFO:
                        arg_uevent_fifo = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument \"%s\"; see --help\n", program_invocation_short_name,
                        argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int model_open(Model **ret) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(pci_names_freep) PciNames *names = NULL;
        Model *m;
        int k;

        k = sysroot_open(arg_sysfs_root, arg_dev_root, &root);
        if (k < 0) {
                log_error("Cannot open the roots %s and %s: %s", arg_sysfs_root, arg_dev_root, strerror(-k));
                return k;
        }
        k = pci_names_new(sysroot_path(root), arg_pci_ids, &names);
        if (k < 0)
                return k;
        k = model_new(root, names, &m);
        if (k < 0)
                return k;
        root = NULL;
        names = NULL;
        *ret = m;
        return 0;
}

static void log_model_errors(const Model *m) {
        for (char **e = m->host->errors; e && *e; e++)
                log_warning("%s", *e);
        for (char **e = m->errors; e && *e; e++)
                log_warning("%s", *e);
        for (char **e = m->topology->errors; e && *e; e++)
                log_warning("%s", *e);
}

static int run_report(void) {
        _cleanup_(model_freep) Model *m = NULL;
        int k;

        k = model_open(&m);
        if (k < 0)
                return k;
        k = model_load(m);
        if (k < 0) {
                log_error("Cannot read the host: %s", strerror(-k));
                return k;
        }
        k = report_write(m, stdout);
        if (k >= 0 && fflush(stdout) != 0)
                k = -EIO;
        if (k < 0)
                log_error("Cannot write the report: %s", strerror(-k));
        return k;
}

static const char *const change_names[] = {
        [CHANGE_DEVICE_ADDED] = "added device",
        [CHANGE_DEVICE_REMOVED] = "removed device",
        [CHANGE_DEVICE_CHANGED] = "changed device",
        [CHANGE_GROUP_ADDED] = "added group",
        [CHANGE_GROUP_REMOVED] = "removed group",
        [CHANGE_GROUP_CHANGED] = "changed group",
};

/* Every uevent, whatever its source, ends here. */
static void on_uevent(const char *action, const char *address, void *userdata) {
        Daemon *d = userdata;
        ChangeList changes = {};
        int k;

        k = model_process_event(d->model, action, address, &changes);
        if (k < 0)
                log_warning("%s %s: cannot refresh the model: %s", action, address, strerror(-k));
        for (size_t i = 0; i < changes.n; i++) {
                const Change *c = &changes.changes[i];

                if (c->kind <= CHANGE_DEVICE_CHANGED)
                        log_debug("%s: %s %s", action, change_names[c->kind], c->address);
                else
                        log_debug("%s: %s %u", action, change_names[c->kind], c->group);
        }
        k = bus_emit_changes(d, &changes);
        if (k < 0)
                log_warning("%s %s: cannot emit signals: %s", action, address, strerror(-k));
        change_list_clear(&changes);
}

static int run_daemon(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(model_freep) Model *model = NULL;
        _cleanup_(udev_watch_freep) UdevWatch *udev = NULL;
        _cleanup_(fifo_watch_freep) FifoWatch *fifo = NULL;
        Daemon d = {};
        sigset_t mask;
        int k;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        k = sd_event_default(&event);
        if (k < 0)
                goto fail;
        /* A NULL handler exits the loop with code 0: a clean stop. */
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_set_watchdog(event, true);
        d.event = event;

        k = model_open(&model);
        if (k < 0)
                return k;
        d.model = model;

        /* Monitor first, then the bus, then enumerate, so no uevent falls in a gap. udev events
         * describe the real /sys only; on a fake tree the FIFO is the event source. */
        if (sysroot_is_host(model->root)) {
                k = udev_watch_new(event, on_uevent, &d, &udev);
                if (k < 0) {
                        log_error("Cannot listen to uevents: %s", strerror(-k));
                        return k;
                }
                log_info("Listening to %s uevents for pci", udev_watch_uses_udevd(udev) ? "udev" : "kernel");
        }
        if (arg_uevent_fifo) {
                k = fifo_watch_new(event, arg_uevent_fifo, on_uevent, &d, &fifo);
                if (k < 0) {
                        log_error("Cannot open the uevent FIFO %s: %s", arg_uevent_fifo, strerror(-k));
                        return k;
                }
        }

        k = bus_errors_register();
        if (k < 0)
                goto fail;
        k = sd_bus_open_system(&bus);
        if (k < 0) {
                log_error("Cannot connect to the system bus: %s", strerror(-k));
                return k;
        }
        d.bus = bus;
        k = bus_register_objects(&d);
        if (k < 0)
                goto fail;

        k = model_load(model);
        if (k < 0) {
                log_error("Cannot read the host under %s: %s", arg_sysfs_root, strerror(-k));
                return k;
        }
        log_model_errors(model);
        log_info("%zu PCI devices in %zu IOMMU groups; interrupt remapping %s", model->topology->n_devices,
                 model->topology->n_groups, ir_verdict_to_string(model->host->ir));

        k = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (k < 0)
                goto fail;
        k = sd_bus_request_name(bus, BUS_NAME, 0);
        if (k < 0) {
                log_error("Cannot own %s on the system bus: %s", BUS_NAME, strerror(-k));
                return k;
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Serving " BUS_NAME);

        k = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        if (k < 0)
                goto fail;
        log_info("Stopped.");
        return 0;
fail:
        log_error("vfio-assignd: %s", strerror(-k));
        return k;
}

int main(int argc, char *argv[]) {
        int k;

        log_prefix = getenv("JOURNAL_STREAM") != NULL;
        k = parse_argv(argc, argv);
        if (k <= 0)
                return k < 0 ? 2 : 0;

        switch (arg_action) {
        case ACTION_REPORT:
                k = run_report();
                break;
        case ACTION_INTROSPECT:
                k = bus_print_introspection(stdout);
                if (k < 0)
                        log_error("Cannot render the introspection data: %s", strerror(-k));
                break;
        default:
                k = run_daemon();
        }
        return k < 0 ? 1 : 0;
}
