/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Policy files to a Policy: the one reader of a policy file, and the directories (listing,
 * masking, same-name replacement, merge). One file's text is parsed by policy-parse.c. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "macro.h"
#include "policy-internal.h"
#include "util.h"

typedef struct Entry {
        char *name; /* borrowed from path */
        char *path;
} Entry;

typedef struct EntryList {
        Entry *entries;
        size_t n;
        bool too_many;
} EntryList;

static void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->entries[i].path);
        free(l->entries);
        *l = (EntryList) {};
}

/* A same-named file of a later directory replaces the earlier one. Takes path. */
static int entry_list_put(EntryList *l, char *path, size_t name_offset) {
        const char *name = path + name_offset;
        Entry *n;

        for (size_t i = 0; i < l->n; i++)
                if (streq(l->entries[i].name, name)) {
                        free(l->entries[i].path);
                        l->entries[i] = (Entry) { .name = path + name_offset, .path = path };
                        return 0;
                }
        if (l->n >= POLICY_FILES_MAX) {
                l->too_many = true;
                free(path);
                return 0;
        }
        n = realloc(l->entries, (l->n + 1) * sizeof(Entry));
        if (!n) {
                free(path);
                return -ENOMEM;
        }
        l->entries = n;
        l->entries[l->n++] = (Entry) { .name = path + name_offset, .path = path };
        return 0;
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->name, ((const Entry *) b)->name);
}

/* Collects DIR/NAME.json; a missing directory is normal (nothing installed there). */
static int list_dir(PolicyErrors *e, const char *dir, EntryList *l) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_close_ int fd = -1;
        size_t dlen = strlen(dir);
        struct dirent *de;
        int r = 0;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                policy_errors_add(e, "%s: cannot open directory: %s", dir, strerror(errno));
                return -EINVAL;
        }
        d = fdopendir(fd);
        if (!d)
                return -ENOMEM;
        fd = -1; /* owned by d now */
        while (dlen > 1 && dir[dlen - 1] == '/')
                dlen--;

        for (;;) {
                char *path;
                size_t n;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                policy_errors_add(e, "%s: cannot read directory: %s", dir,
                                                  strerror(errno));
                                r = -EINVAL;
                        }
                        break;
                }
                n = strlen(de->d_name);
                /* Hidden files are editor and package-manager leftovers, not policy. */
                if (de->d_name[0] == '.' || n <= strlen(".json") ||
                    !streq(de->d_name + n - 5, ".json"))
                        continue;
                if (asprintf(&path, "%.*s/%s", (int) dlen, dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (!filename_is_valid(de->d_name)) {
                        _cleanup_free_ char *q = policy_quote(de->d_name, n);

                        policy_errors_add(e, "%.*s/%s: file names must be printable ASCII",
                                          (int) dlen, dir, strna(q));
                        free(path);
                        r = -EINVAL;
                        continue;
                }
                if (entry_list_put(l, path, (size_t) dlen + 1) < 0) {
                        r = -ENOMEM;
                        break;
                }
        }
        return r;
}

/* -EINVAL with the error line for the caller (-ENOMEM when it cannot be made). */
static int file_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int file_error(char **ret_error, const char *fmt, ...) {
        va_list ap;
        int k;

        if (!ret_error)
                return -EINVAL;
        va_start(ap, fmt);
        k = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        return k < 0 ? -ENOMEM : -EINVAL;
}

int policy_read_file(const char *path, char **ret_text, size_t *ret_size, char **ret_error) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        struct stat st;

        if (!path || !ret_text || !ret_size)
                return -EINVAL;
        /* O_NONBLOCK: a FIFO in the directory must not hang the daemon; fstat() refuses it. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return file_error(ret_error, "%s: cannot read: %s", path, strerror(errno));
        /* A symlink to /dev/null (char 1:3, Documentation/admin-guide/devices.txt) masks the file
         * of the same name in an earlier directory, as in systemd's drop-in directories. */
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
                *ret_text = NULL;
                *ret_size = 0;
                return 1;
        }
        if (!S_ISREG(st.st_mode))
                return file_error(ret_error, "%s: not a regular file", path);
        /* One byte more than allowed, so the parser sees and reports an oversized file without
         * reading all of it; one more for the NUL. */
        buf = malloc(POLICY_FILE_SIZE_MAX + 2);
        if (!buf)
                return -ENOMEM;
        while (size < POLICY_FILE_SIZE_MAX + 1) {
                ssize_t k = read(fd, buf + size, POLICY_FILE_SIZE_MAX + 1 - size);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return file_error(ret_error, "%s: cannot read: %s", path, strerror(errno));
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = 0;
        *ret_text = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static void host_copy_key(PolicyHost *to, const PolicyHost *from, PolicyHostKey k) {
        switch (k) {
        case POLICY_HOST_REQUIRE_IR:
                to->require_interrupt_remapping = from->require_interrupt_remapping;
                break;
        case POLICY_HOST_ALLOW_UNSAFE:
                to->allow_unsafe_interrupts = from->allow_unsafe_interrupts;
                break;
        case POLICY_HOST_RESTORE_DRIVER:
                to->restore_driver_on_release = from->restore_driver_on_release;
                break;
        case POLICY_HOST_ON_HOLDER_EXIT:
                to->on_holder_exit = from->on_holder_exit;
                break;
        case POLICY_HOST_MAX_PINNED:
                to->max_pinned_bytes_per_uid = from->max_pinned_bytes_per_uid;
                break;
        case POLICY_HOST_REQUIRE_RESET:
                to->require_reset = from->require_reset;
                break;
        case _POLICY_HOST_KEY_MAX:
                break;
        }
}

/* Files in order: host keys of later files override, rules are appended. The rules move out
 * of the parts (which keep their files and are freed by the caller). */
static int policy_merge(Policy **parts, size_t n, Policy **ret) {
        _cleanup_(policy_freep) Policy *p = NULL;
        size_t total = 0;

        p = policy_alloc();
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (parts[i])
                        total += parts[i]->n_rules;
        p->rules = calloc(MAX(total, (size_t) 1), sizeof(PolicyRule));
        if (!p->rules)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                Policy *part = parts[i];
                size_t file;

                if (!part)
                        continue;
                file = strv_length(p->files);
                if (strv_extend(&p->files, part->files[0]) < 0)
                        return -ENOMEM;
                for (size_t k = 0; k < _POLICY_HOST_KEY_MAX; k++)
                        if (part->host_source[k] >= 0) {
                                host_copy_key(&p->host, &part->host, (PolicyHostKey) k);
                                p->host_source[k] = (ssize_t) file;
                        }
                for (size_t j = 0; j < part->n_rules; j++) {
                        p->rules[p->n_rules] = part->rules[j];
                        p->rules[p->n_rules].file = file;
                        p->n_rules++;
                }
                part->n_rules = 0;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* Lists all directories, reads and parses every file in effect, and merges only when nothing
 * failed: the caller swaps in the result or keeps its old policy. */
int policy_load_dirs(char *const *dirs, Policy **ret, char ***ret_errors) {
        PolicyErrors e = {};
        EntryList l = {};
        Policy **parts = NULL;
        Policy *merged = NULL;
        bool failed = false;
        int r = 0;

        if (!ret)
                return -EINVAL;
        for (char *const *d = dirs; d && *d; d++) {
                r = list_dir(&e, *d, &l);
                if (r == -ENOMEM)
                        goto finish;
                if (r < 0)
                        failed = true;
                if (l.too_many) {
                        policy_errors_add(&e, "%s: more than %d policy files in effect", *d,
                                          POLICY_FILES_MAX);
                        failed = true;
                        goto finish;
                }
        }
        if (l.n > 0)
                qsort(l.entries, l.n, sizeof(Entry), entry_cmp);
        parts = calloc(MAX(l.n, (size_t) 1), sizeof(Policy *));
        if (!parts) {
                r = -ENOMEM;
                goto finish;
        }
        /* Everything is parsed and validated before anything is used, so that one bad file
         * reports all problems and leaves no half-merged policy. */
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_free_ char *text = NULL, *error = NULL;
                size_t size = 0;

                r = policy_read_file(l.entries[i].path, &text, &size, &error);
                if (r == -ENOMEM)
                        goto finish;
                if (error)
                        policy_errors_add(&e, "%s", error);
                if (r < 0) {
                        failed = true;
                        continue;
                }
                if (r > 0)
                        continue; /* masked */
                r = policy_parse_text(&e, l.entries[i].path, text, size, &parts[i]);
                if (r == -ENOMEM)
                        goto finish;
                if (r < 0)
                        failed = true;
        }
        r = 0;
        if (!failed)
                r = policy_merge(parts, l.n, &merged);

finish:
        if (parts)
                for (size_t i = 0; i < l.n; i++)
                        policy_free(parts[i]);
        free(parts);
        entry_list_done(&l);
        if (r == -ENOMEM || e.oom) {
                policy_errors_done(&e);
                policy_free(merged);
                return -ENOMEM;
        }
        if (failed) {
                r = policy_errors_finish(&e, ret_errors);
                return r < 0 ? r : -EINVAL;
        }
        policy_errors_done(&e);
        *ret = merged;
        return 0;
}
