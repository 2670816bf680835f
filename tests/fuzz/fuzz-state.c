/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the state files the daemon reads back at start (daemon/state.c): the
 * first byte chooses state.json, persistent.json, sriov.json or identities.json ('0', '1', '2',
 * '3', modulo 4), the rest is the file. A file that loads is
 * saved again and must load again to the same number of entries (what the daemon writes, it
 * must be able to read). The files live in a private directory of the fuzzer's own, 0700, with
 * mode 0600, as the daemon's trust checks want. Seed corpus: tests/fuzz/corpus/state/. */

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lease.h"
#include "sriov.h"
#include "names.h"
#include "state.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dir_fd = -1;
static char dir[] = "/tmp/fuzz-state.XXXXXX";

static void remove_dir(void) {
        (void) unlinkat(dir_fd, STATE_FILE, 0);
        (void) unlinkat(dir_fd, PERSISTENT_FILE, 0);
        (void) unlinkat(dir_fd, SRIOV_FILE, 0);
        (void) unlinkat(dir_fd, IDENTITY_FILE, 0);
        (void) unlinkat(dir_fd, EARLY_PREPARE_FILE, 0);
        (void) rmdir(dir);
}

static void write_file(const char *name, const uint8_t *data, size_t size) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size))
                abort();
        close(fd);
}

static void free_leases(Lease **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                lease_free(l[i]);
        free(l);
}

static void fuzz_state(void) {
        Lease **leases = NULL, **again = NULL;
        size_t n = 0, n_again = 0;
        StateGlobals g, g_again;
        char *error = NULL;

        if (state_load(dir_fd, &leases, &n, &g, &error) >= 0) {
                if (state_save(dir_fd, leases, n, &g) < 0 ||
                    state_load(dir_fd, &again, &n_again, &g_again, &error) < 0 || n_again != n ||
                    g_again.next_id != g.next_id)
                        abort();
                for (size_t i = 0; i < n; i++)
                        for (size_t d = 0; d < leases[i]->n_devices; d++) {
                                const LeaseVfNet *x = leases[i]->devices[d].vf_net,
                                                 *y = again[i]->devices[d].vf_net;

                                if (!x != !y || (x && memcmp(x, y, sizeof(*x)) != 0))
                                        abort();
                        }
                free_leases(again, n_again);
        }
        free_leases(leases, n);
        free(error);
}

/* persistent.json or identities.json: the same list of devices under two names. */
static void fuzz_devices(int (*load)(int, PersistentDevice **, size_t *, char **),
                         int (*save)(int, const PersistentDevice *, size_t)) {
        PersistentDevice *d = NULL, *again = NULL;
        size_t n = 0, n_again = 0;
        char *error = NULL;

        if (load(dir_fd, &d, &n, &error) >= 0) {
                if (save(dir_fd, d, n) < 0 || load(dir_fd, &again, &n_again, &error) < 0 ||
                    n_again != n)
                        abort();
                /* Every field, the identity's too, comes back as it was (the structs are
                 * calloc'd, so their padding compares equal). */
                if (n && memcmp(d, again, n * sizeof(*d)) != 0)
                        abort();
                free(again);
        }
        free(d);
        free(error);
}

static void fuzz_sriov(void) {
        SriovChange *c = NULL, *again = NULL;
        size_t n = 0, n_again = 0;
        char *error = NULL;

        if (sriov_changes_load(dir_fd, &c, &n, &error) >= 0 && n > 0) {
                if (sriov_changes_save(dir_fd, c, n) < 0 ||
                    sriov_changes_load(dir_fd, &again, &n_again, &error) < 0 || n_again != n ||
                    memcmp(c, again, n * sizeof(*c)) != 0)
                        abort();
                free(again);
        }
        free(c);
        free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (dir_fd < 0) {
                if (!mkdtemp(dir) || (dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                        abort();
                (void) atexit(remove_dir);
        }
        if (size < 1)
                return 0;
        switch (data[0] % 4) {
        case 0:
                write_file(STATE_FILE, data + 1, size - 1);
                fuzz_state();
                break;
        case 1:
                write_file(PERSISTENT_FILE, data + 1, size - 1);
                fuzz_devices(persistent_load, persistent_save);
                break;
        case 3:
                write_file(IDENTITY_FILE, data + 1, size - 1);
                fuzz_devices(identities_load, identities_save);
                break;
        default:
                write_file(SRIOV_FILE, data + 1, size - 1);
                fuzz_sriov();
        }
        return 0;
}
