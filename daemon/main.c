/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "daemon.h"
#include "introspect.h"
#include "log.h"
#include "names.h"
#include "report.h"
#include "util.h"
#include "worker.h"

static const char *arg_sysfs_root = "/";
static const char *arg_dev_root = "/";
static const char *arg_uevent_fifo = NULL;
static const char *arg_modules_alias = NULL;
static const char *arg_pci_ids = PCI_IDS_PATH;
static bool arg_pci_ids_set = false;
static const char *arg_runtime_dir = NULL;
static const char *arg_state_dir = NULL;
static char **arg_policy_dirs = NULL;
static uint64_t arg_write_timeout_usec = BINDING_TIMEOUT_USEC;
static const char *arg_cdi_spec = CDI_SPEC_DEFAULT; /* NULL: none */
static const char *arg_cdi_version = CDI_VERSION_DEFAULT;
static enum { ACTION_RUN, ACTION_REPORT, ACTION_INTROSPECT } arg_action = ACTION_RUN;

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
               "     --runtime-dir=DIR    Lease state (default $RUNTIME_DIRECTORY or /run/vfio-assignd)\n"
               "     --state-dir=DIR      Persistent prepares (default $STATE_DIRECTORY or\n"
               "                          /var/lib/vfio-assignd)\n"
               "     --policy-dir=DIR     Read policy from DIR; repeat for several, later ones override\n"
               "                          (default %s, %s, %s)\n"
               "     --write-timeout=SEC  Give up on a sysfs write (a driver's probe or remove) after SEC\n"
               "                          seconds and roll back (default %u)\n"
               "     --modules-alias=FILE Read the VFIO variant drivers' aliases from FILE (default:\n"
               "                          lib/modules/RELEASE/modules.alias under the sysfs root)\n"
               "     --cdi-spec=FILE      Keep the CDI spec of the prepared and owned groups in FILE\n"
               "                          (default %s; \"\" writes none)\n"
               "     --cdi-version=VER    Its cdiVersion: %s (default %s)\n"
               "\nSee vfio-assignd(8).\n",
               program_invocation_short_name, BUS_NAME, PCI_IDS_PATH, POLICY_DIR_VENDOR,
               POLICY_DIR_ETC, POLICY_DIR_RUN, (unsigned) (BINDING_TIMEOUT_USEC / 1000000),
               CDI_SPEC_DEFAULT, cdi_versions_known(), CDI_VERSION_DEFAULT);
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
                ARG_RUNTIME_DIR,
                ARG_STATE_DIR,
                ARG_POLICY_DIR,
                ARG_WRITE_TIMEOUT,
                ARG_MODULES_ALIAS,
                ARG_CDI_SPEC,
                ARG_CDI_VERSION,
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
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "policy-dir", required_argument, NULL, ARG_POLICY_DIR },
                { "write-timeout", required_argument, NULL, ARG_WRITE_TIMEOUT },
                { "modules-alias", required_argument, NULL, ARG_MODULES_ALIAS },
                { "cdi-spec", required_argument, NULL, ARG_CDI_SPEC },
                { "cdi-version", required_argument, NULL, ARG_CDI_VERSION },
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
                        arg_pci_ids_set = true;
                        break;
                case ARG_UEVENT_FIFO:
                        arg_uevent_fifo = optarg;
                        break;
                case ARG_MODULES_ALIAS:
                        if (optarg[0] != '/') {
                                fprintf(stderr, "%s: --modules-alias needs an absolute path: %s\n",
                                        program_invocation_short_name, optarg);
                                return -EINVAL;
                        }
                        arg_modules_alias = optarg;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_POLICY_DIR:
                        if (strv_extend(&arg_policy_dirs, optarg) < 0)
                                return -ENOMEM;
                        break;
                case ARG_CDI_SPEC: {
                        const char *why = NULL;

                        if (isempty(optarg)) {
                                arg_cdi_spec = NULL;
                                break;
                        }
                        if (cdi_spec_path_check(optarg, &why) < 0) {
                                fprintf(stderr, "%s: --cdi-spec=%s: %s\n",
                                        program_invocation_short_name, optarg, why);
                                return -EINVAL;
                        }
                        arg_cdi_spec = optarg;
                        break;
                }
                case ARG_CDI_VERSION:
                        if (!cdi_version_is_supported(optarg)) {
                                fprintf(stderr,
                                        "%s: --cdi-version=%s: not a CDI spec version this daemon "
                                        "writes (known: %s; 0.5.0 is the first whose device names "
                                        "may start with a digit)\n",
                                        program_invocation_short_name, optarg,
                                        cdi_versions_known());
                                return -EINVAL;
                        }
                        arg_cdi_version = optarg;
                        break;
                case ARG_WRITE_TIMEOUT: {
                        uint32_t sec;

                        if (safe_atou32(optarg, 10, &sec) < 0 || sec == 0 || sec > 3600) {
                                fprintf(stderr,
                                        "%s: --write-timeout=%s: not a number of seconds from 1 to 3600\n",
                                        program_invocation_short_name, optarg);
                                return -EINVAL;
                        }
                        arg_write_timeout_usec = sec * 1000000ULL;
                        break;
                }
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument \"%s\"; see --help\n",
                        program_invocation_short_name, argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Paths the administrator named that are not there: the daemon runs without them, and says so. */
static void warn_missing_inputs(void) {
        for (char **dir = arg_policy_dirs; dir && *dir; dir++)
                if (access(*dir, F_OK) < 0)
                        log_warning_errno(errno, "--policy-dir %s: %m; no policy is read from it",
                                          *dir);
        if (arg_pci_ids && access(arg_pci_ids, R_OK) < 0)
                log_warning_errno(errno,
                                  "%s %s: %m; devices are shown without vendor and device names",
                                  arg_pci_ids_set ? "--pci-ids" : "The PCI ID database",
                                  arg_pci_ids);
}

static int model_open(Model **ret) {
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(pci_names_freep) PciNames *names = NULL;
        Model *m;
        int k;

        k = sysroot_open(arg_sysfs_root, arg_dev_root, &root);
        if (k < 0) {
                /* Name the one that failed. */
                _cleanup_close_ int fd = open(arg_sysfs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                return log_error_errno(k, "Cannot open the %s root %s: %m",
                                       fd < 0 ? "sysfs" : "dev",
                                       fd < 0 ? arg_sysfs_root : arg_dev_root);
        }
        k = pci_names_new(sysroot_path(root), arg_pci_ids, &names);
        if (k < 0)
                return k;
        k = model_new(root, names, &m);
        if (k < 0)
                return k;
        root = NULL;
        names = NULL;
        m->modules_alias = arg_modules_alias;
        *ret = m;
        return 0;
}

static const char *state_dir(void) {
        return arg_state_dir ?: getenv("STATE_DIRECTORY") ?: "/var/lib/vfio-assignd";
}

static int run_report(void) {
        _cleanup_(model_freep) Model *m = NULL;
        int k;

        k = model_open(&m);
        if (k < 0)
                return k;
        k = model_load(m);
        if (k < 0)
                return log_error_errno(k, "Cannot read the host: %m");
        k = report_write_offline(m, state_dir(), stdout);
        if (k >= 0 && fflush(stdout) != 0)
                k = -EIO;
        if (k < 0)
                return log_error_errno(k, "Cannot write the report: %m");
        return k;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload_policy(userdata);
        return 0;
}

/* sd_event_run() with the daemon lock let go while the loop waits, and only then: group jobs run
 * their blocking parts meanwhile (worker.h). */
static int run_loop(sd_event *e) {
        int k;

        for (;;) {
                k = sd_event_get_state(e);
                if (k == SD_EVENT_FINISHED)
                        break;
                k = sd_event_prepare(e);
                if (k == 0) {
                        daemon_unlock();
                        k = sd_event_wait(e, UINT64_MAX);
                        daemon_lock();
                }
                if (k > 0)
                        k = sd_event_dispatch(e);
                if (k < 0)
                        return k;
        }
        return sd_event_get_exit_code(e, &k) < 0 ? -EIO : k;
}

static int run_daemon(void) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(model_freep) Model *model = NULL;
        _cleanup_(manager_done)
                Manager d = { .inotify_fd = -1, .write_timeout_usec = arg_write_timeout_usec };
        char *default_dirs[] = { (char *) POLICY_DIR_VENDOR, (char *) POLICY_DIR_ETC,
                                 (char *) POLICY_DIR_RUN, NULL };
        const ManagerPaths paths = {
                .runtime_dir = arg_runtime_dir ?: getenv("RUNTIME_DIRECTORY") ?: "/run/vfio-assignd",
                .state_dir = state_dir(),
                .uevent_fifo = arg_uevent_fifo,
                .cdi_spec = arg_cdi_spec,
                .cdi_version = arg_cdi_version,
        };
        sigset_t mask;
        int k;

        /* Held by this thread but while the loop waits (run_loop()); the cleanups run with it. */
        daemon_lock();
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        k = sd_event_default(&event);
        if (k < 0)
                goto fail;
        /* A NULL handler exits the loop with code 0: a clean stop. */
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGHUP, on_sighup, &d);
        (void) sd_event_set_watchdog(event, true);
        d.event = event;
        d.policy_dirs = arg_policy_dirs ?: default_dirs;
        warn_missing_inputs();
        k = model_open(&model);
        if (k < 0)
                return k;
        d.model = model;

        k = manager_startup(&d, &paths, &bus);
        if (k < 0)
                return k;
        (void) sd_notify(false, "READY=1\nSTATUS=Serving " BUS_NAME);
        k = run_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        if (k < 0)
                goto fail;
        log_info("Stopped.");
        return 0;
fail:
        return log_error_errno(k, "vfio-assignd: %m");
}

int main(int argc, char *argv[]) {
        int k;

        log_setup();
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
                        log_error_errno(k, "Cannot render the introspection data: %m");
                break;
        default:
                k = run_daemon();
        }
        strv_free(arg_policy_dirs);
        return k < 0 ? 1 : 0;
}
