/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl modules-load: the documented way to load VFIO variant drivers. The daemon loads no
 * modules (its unit has ProtectKernelModules=yes) and refuses a member whose variant is missing
 * with DriverNotLoaded; this verb, run by the administrator outside the sandbox, lists the
 * modules in a modules-load.d(5) file that systemd-modules-load reads at every boot, and with
 * --now loads them at once with modprobe. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assignctl.h"
#include "util.h"

#define MODULES_LOAD_FILE "etc/modules-load.d/vfio-assignd.conf"
/* MODULE_NAME_LEN (include/linux/module.h): 64 bytes with the NUL. */
#define MODULE_NAME_MAX 63
/* A generous bound on what we read back from the file. */
#define MODULES_FILE_MAX (64 * 1024)

/* modprobe treats '-' and '_' alike (kmod's modname_normalize()). */
static bool module_names_equal(const char *a, const char *b) {
        for (; *a && *b; a++, b++)
                if (*a != *b && !(strchr("-_", *a) && strchr("-_", *b)))
                        return false;
        return *a == *b;
}

static bool module_name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= MODULE_NAME_MAX &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* The kernel's VFIO drivers are named vfio*, *vfio_pci (variants). */
static bool module_is_vfio(const char *s) {
        return strstr(s, "vfio") != NULL;
}

static char *file_path(void) {
        char *p = NULL;

        if (asprintf(&p, "%s/" MODULES_LOAD_FILE, root_prefix()) < 0)
                return NULL;
        return p;
}

/* Whether a line of a modules-load.d file names the module (comments start with '#' or ';'). */
static bool file_lists(const char *text, const char *module) {
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL;

        if (!copy)
                return false;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                line += strspn(line, " \t");
                strstrip_trailing(line);
                if (line[0] != '#' && line[0] != ';' && module_names_equal(line, module))
                        return true;
        }
        return false;
}

/* Writes text to path through a temporary file in the same directory, synced, then renamed
 * over it: systemd-modules-load never reads half a file. */
static int write_atomic(const char *path, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        size_t n = strlen(text);
        int fd, r = 0;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0 || write(fd, text, n) != (ssize_t) n || fsync(fd) < 0)
                r = errno ? -errno : -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* modprobe MODULE ($ASSIGNCTL_MODPROBE instead of modprobe, for tests). */
static int modprobe(const char *module) {
        const char *prog = getenv("ASSIGNCTL_MODPROBE");
        int status;
        pid_t pid;

        if (isempty(prog))
                prog = "modprobe";
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return fail_errno(EXIT_FAILED, errno, "Cannot run %s: %m", prog);
        if (pid == 0) {
                execlp(prog, prog, "--", module, (char *) NULL);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid)
                return fail_errno(EXIT_FAILED, errno, "Cannot wait for %s: %m", prog);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return fail(EXIT_FAILED, NULL, "'%s %s' failed (exit status %d).", prog, module,
                            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return EXIT_OK;
}

/* The whole of a small text file; -EFBIG past max bytes. */
static int read_small_file(const char *path, size_t max, char **ret) {
        _cleanup_free_ char *buf = malloc(max + 1);
        _cleanup_close_ int fd = -1;
        size_t n = 0;
        ssize_t k;

        if (!buf)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while ((k = read(fd, buf + n, max + 1 - n)) > 0)
                if ((n += (size_t) k) > max)
                        return -EFBIG;
        if (k < 0)
                return -errno;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The variant drivers the daemon would bind devices to (the host report's vfio_driver) that
 * are not loaded (no sys/bus/pci/drivers/NAME under --root). */
static int needed_modules(char ***ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_json_ json_object *report = NULL;
        _cleanup_strv_free_ char **l = NULL;
        json_object *devices;
        int r;

        r = connect_bus(&bus);
        if (r == EXIT_OK)
                r = fetch_report(bus, &report);
        if (r != EXIT_OK)
                return r;
        if (!json_object_object_get_ex(report, "devices", &devices) ||
            !json_object_is_type(devices, json_type_array))
                return fail(EXIT_FAILED, NULL, "GetHostReport has no devices.");
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *v = NULL;
                const char *driver = NULL;
                _cleanup_free_ char *dir = NULL;

                if (json_object_object_get_ex(json_object_array_get_idx(devices, i), "vfio_driver",
                                              &v) &&
                    json_object_is_type(v, json_type_string))
                        driver = json_object_get_string(v);

                if (!driver || !module_name_is_valid(driver) ||
                    module_names_equal(driver, "vfio-pci") || strv_contains(l, driver))
                        continue;
                if (asprintf(&dir, "%s/sys/bus/pci/drivers/%s", root_prefix(), driver) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
                if (access(dir, F_OK) < 0 && strv_extend(&l, driver) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
        }
        *ret = TAKE_PTR(l);
        return EXIT_OK;
}

int verb_modules_load(int argc, char *argv[]) {
        _cleanup_strv_free_ char **modules = NULL, **added = NULL;
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_json_ json_object *doc = NULL;
        int r;

        if (arg_needed == (argc > 1))
                return fail(EXIT_USAGE, NULL,
                            "Give modules, or --needed for the ones the devices would use. "
                            "Usage: assignctl modules-load [--now] MODULE...|--needed");
        if (arg_needed) {
                r = needed_modules(&modules);
                if (r != EXIT_OK)
                        return r;
        }
        for (int i = 1; i < argc; i++) {
                if (!module_name_is_valid(argv[i]))
                        return fail_arg(EXIT_USAGE,
                                        "Invalid module name '%s': letters, digits, '_' and '-'.",
                                        argv[i]);
                /* This file is for vfio-assignd's drivers; another module has a file of its own. */
                if (!module_is_vfio(argv[i]) && !arg_force)
                        return fail_arg(EXIT_USAGE,
                                        "'%s' is not a VFIO driver (vfio_pci, *_vfio_pci); "
                                        "give --force to list it anyway.",
                                        argv[i]);
                if (strv_extend(&modules, argv[i]) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
        }

        path = file_path();
        if (!path)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = read_small_file(path, MODULES_FILE_MAX, &text);
        if (r == -ENOENT)
                r = set_string(&text, "# VFIO drivers for vfio-assignd, written by "
                                      "'assignctl modules-load' (modules-load.d(5)).\n");
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Cannot read %s: %m", path);
        for (char **m = modules; m && *m; m++)
                if (!file_lists(text, *m) && !strv_contains(added, *m) &&
                    (strextendf(&text, "", "%s%s\n",
                                text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "", *m) < 0 ||
                     strv_extend(&added, *m) < 0))
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
        if (added) {
                r = mkdir_parents(path);
                if (r >= 0)
                        r = write_atomic(path, text);
                if (r < 0)
                        return fail_errno(EXIT_FAILED, r, "Cannot write %s: %m", path);
        }
        for (char **m = modules; arg_now && m && *m; m++) {
                r = modprobe(*m);
                if (r != EXIT_OK)
                        return r;
        }

        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *a = json_object_new_array();
                _cleanup_json_ json_object *all = json_object_new_array();

                doc = json_object_new_object();
                for (char **m = modules; a && all && m && *m; m++)
                        if (json_append_new(all, json_object_new_string(*m)) < 0 ||
                            (strv_contains(added, *m) &&
                             json_append_new(a, json_object_new_string(*m)) < 0))
                                return fail(EXIT_FAILED, NULL, "Out of memory.");
                if (!doc || !a || !all || json_add_string(doc, "file", path) < 0 ||
                    json_add(doc, "modules", TAKE_PTR(all)) < 0 ||
                    json_add(doc, "added", TAKE_PTR(a)) < 0 ||
                    json_add(doc, "loaded", json_object_new_boolean(arg_now)) < 0)
                        return fail(EXIT_FAILED, NULL, "Out of memory.");
                return print_json(doc);
        }
        if (!modules)
                printf("No VFIO variant driver is missing.\n");
        for (char **m = modules; m && *m; m++)
                printf("%s: %s%s.\n", *m, strv_contains(added, *m) ? "added to " : "already in ",
                       path);
        if (arg_now && modules)
                printf("Loaded %zu module%s.\n", strv_length(modules),
                       strv_length(modules) == 1 ? "" : "s");
        return EXIT_OK;
}
