/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VFIO backend seam without a kernel: the registry and what the host supports, a type1
 * handle's fds (adopted, handed out, closed, named for the fd store), a lease's backend in
 * state.json (written, read back, absent = type1, unknown = refused and left alone), and the fd
 * store's messages to systemd (sd_notify(3), sd_listen_fds_with_names(3)) with a socket of the
 * test's own standing for systemd's. The backend's ioctls are tested under the kernel model
 * (tests/integration/test-backend.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdstore.h"
#include "lease-set.h"
#include "state.h"
#include "util.h"
#include "vfio-backend.h"

static int memfd(const char *name) {
        int fd = memfd_create(name, MFD_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        return fd;
}

static bool same_file(int a, int b) {
        struct stat sa, sb;

        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
               sa.st_ino == sb.st_ino;
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* A type1 lease on group 7 with id 7 and nothing open. */
static Lease *new_lease(void) {
        Lease *l = calloc(1, sizeof(Lease));

        ck_assert_ptr_nonnull(l);
        *l = (Lease) { .id = 7,
                       .kind = LEASE_CLAIM,
                       .state = LEASE_ACTIVE,
                       .group = 7,
                       .granted_uid = UINT32_MAX,
                       .close_wd = -1,
                       .holder_pidfd = -1 };
        ck_assert_int_eq(vfio_backend_new(&vfio_type1_ops, 7, &l->backend), 0);
        return l;
}

/* ---- the registry ---- */

START_TEST(test_registry) {
        _cleanup_(vfio_backend_freep) VfioBackend *b = NULL;
        _cleanup_free_ char *known = vfio_backends_known();

        ck_assert_ptr_eq(vfio_backend_ops_from_name("type1"), &vfio_type1_ops);
        ck_assert_ptr_eq(vfio_backend_ops_from_name("iommufd"), &vfio_iommufd_ops);
        ck_assert_ptr_null(vfio_backend_ops_from_name("spapr"));
        ck_assert_ptr_null(vfio_backend_ops_from_name(""));
        ck_assert_ptr_null(vfio_backend_ops_from_name("TYPE1"));
        ck_assert_ptr_null(vfio_backend_ops_from_name(NULL));
        ck_assert_str_eq(known, "type1, iommufd");
        /* New leases are type1 unless told otherwise. */
        ck_assert_ptr_eq(vfio_backends[0], &vfio_type1_ops);
        ck_assert_int_eq(vfio_backend_new(NULL, 3, &b), 0);
        ck_assert_ptr_eq(b->ops, &vfio_type1_ops);
        ck_assert_uint_eq(b->group, 3);
        ck_assert_str_eq(vfio_backend_name(b), "type1");
        ck_assert_str_eq(vfio_backend_name(NULL), "");
        ck_assert(!vfio_backend_is_open(NULL));
        ck_assert_str_eq(vfio_fd_kind_to_string(VFIO_FD_CONTAINER), "container");
        ck_assert_str_eq(vfio_fd_kind_to_string(VFIO_FD_GROUP), "group");
        ck_assert_ptr_null(vfio_fd_kind_to_string(_VFIO_FD_KIND_MAX));
}
END_TEST

START_TEST(test_supported) {
        static const struct {
                bool iommu, node, module;
                size_t n;
        } cases[] = {
                { true, true, true, 1 },   { true, true, false, 1 }, { true, false, true, 1 },
                { true, false, false, 0 }, { false, true, true, 0 }, { false, false, false, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                HostInfo h = { .iommu_present = cases[i].iommu,
                               .vfio_container_node = cases[i].node,
                               .mod_vfio = cases[i].module };
                _cleanup_strv_free_ char **l = NULL;

                ck_assert_int_eq(vfio_backends_supported(&h, &l), 0);
                ck_assert_ptr_nonnull(l);
                ck_assert_msg(strv_length(l) == cases[i].n, "case %zu: %zu backends", i,
                              strv_length(l));
                if (cases[i].n)
                        ck_assert_str_eq(l[0], "type1");
        }
}
END_TEST

/* ---- a type1 handle ---- */

START_TEST(test_type1_closed) {
        _cleanup_(vfio_backend_freep) VfioBackend *b = NULL;
        _cleanup_strv_free_ char **nodes = NULL;
        LeaseError err = {};
        const char *name;
        int fd = 42;

        ck_assert_int_eq(vfio_backend_new(&vfio_type1_ops, 7, &b), 0);
        ck_assert(!vfio_backend_is_open(b));
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_CONTAINER, &fd), -EBADF);
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_GROUP, &fd), -EBADF);
        ck_assert_int_eq(b->ops->hand_out(b, _VFIO_FD_KIND_MAX, &fd), -EOPNOTSUPP);
        ck_assert_int_eq(fd, 42);
        ck_assert_int_eq(b->ops->reset_device(b, NULL, "0000:03:00.0"), -EBADF);
        ck_assert_int_eq(b->ops->open_device(b, NULL, "0000:03:00.0", &fd, &err), -EBADF);
        ck_assert_int_eq(err.code, VA_ERROR_VFIO_FAILED);
        ck_assert_ptr_nonnull(strstr(err.message, "0000:03:00.0"));
        lease_error_clear(&err);
        ck_assert_int_eq(b->ops->attach(b, NULL, &err), -EBADF);
        ck_assert_ptr_nonnull(strstr(err.message, "IOMMU group 7 is not open"));
        lease_error_clear(&err);
        ck_assert_int_eq(b->ops->nodes(b, &nodes), 0);
        ck_assert_uint_eq(strv_length(nodes), 1);
        ck_assert_str_eq(nodes[0], "dev/vfio/7");
        /* Both names, closed or not: the store is cleaned of names, not of open fds. */
        name = b->ops->stored_fd(b, 0, &fd);
        ck_assert_str_eq(name, "container");
        ck_assert_int_eq(fd, -1);
        name = b->ops->stored_fd(b, 1, &fd);
        ck_assert_str_eq(name, "group");
        ck_assert_int_eq(fd, -1);
        ck_assert_ptr_null(b->ops->stored_fd(b, 2, &fd));
        ck_assert_int_eq(vfio_backend_stored_fd(b, "group"), -1);
        ck_assert_int_eq(vfio_backend_stored_fd(b, "holder"), -1);
}
END_TEST

/* The iommufd backend's fds in systemd's store: the context and each member's cdev, named so
 * that a restarted daemon knows whose cdev each is (an FDNAME may not hold ':'). */
START_TEST(test_iommufd_store_names) {
        _cleanup_(vfio_backend_freep) VfioBackend *b = NULL;
        _cleanup_strv_free_ char **nodes = NULL;
        LeaseError err = {};
        int ctx = memfd("iommufd"), c0 = memfd("cdev0"), c1 = memfd("cdev1"), other = memfd("x");
        int fd = 42;

        ck_assert_int_eq(vfio_backend_new(&vfio_iommufd_ops, 9, &b), 0);
        ck_assert(!vfio_backend_is_open(b));
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_IOMMUFD, &fd), -EBADF);
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_CONTAINER, &fd), -EOPNOTSUPP);
        ck_assert_int_eq(b->ops->attach(b, NULL, &err), -EBADF);
        lease_error_clear(&err);
        ck_assert_str_eq(b->ops->stored_fd(b, 0, &fd), "iommufd");
        ck_assert_int_eq(fd, -1);
        ck_assert_ptr_null(b->ops->stored_fd(b, 1, &fd));

        /* Not ours, malformed, or a type1 name: left alone. */
        ck_assert_int_eq(b->ops->adopt_fd(b, "container", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "cdev-0000_03_00.0", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "cdev-0000_3_00.0-vfio1", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "cdev-0000_03_00.0-tty1", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "iommufd", ctx), 1);
        ck_assert_int_eq(b->ops->adopt_fd(b, "iommufd", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "cdev-0000_03_00.0-vfio1", c0), 1);
        ck_assert_int_eq(b->ops->adopt_fd(b, "cdev-0000_03_00.0-vfio7", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "cdev-0000_03_00.1-vfio2", c1), 1);
        ck_assert(vfio_backend_is_open(b));
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_IOMMUFD, &fd), 0);
        ck_assert_int_eq(fd, ctx);
        ck_assert_str_eq(b->ops->stored_fd(b, 1, &fd), "cdev-0000_03_00.0-vfio1");
        ck_assert_int_eq(fd, c0);
        ck_assert_str_eq(b->ops->stored_fd(b, 2, &fd), "cdev-0000_03_00.1-vfio2");
        ck_assert_int_eq(fd, c1);
        ck_assert_ptr_null(b->ops->stored_fd(b, 3, &fd));
        ck_assert_int_eq(b->ops->nodes(b, &nodes), 0);
        ck_assert_uint_eq(strv_length(nodes), 2);
        ck_assert_str_eq(nodes[0], "dev/vfio/devices/vfio1");
        ck_assert_str_eq(nodes[1], "dev/vfio/devices/vfio2");
        ck_assert_int_eq(b->ops->open_device(b, NULL, "0000:03:00.2", &fd, &err), -ENODEV);
        ck_assert_ptr_nonnull(strstr(err.message, "0000:03:00.2"));
        lease_error_clear(&err);
        /* Closing closes them all; the names stay for the store to be cleaned. */
        vfio_backend_close(b);
        ck_assert(!vfio_backend_is_open(b));
        ck_assert_int_eq(fcntl(c0, F_GETFD), -1);
        ck_assert_str_eq(b->ops->stored_fd(b, 1, &fd), "cdev-0000_03_00.0-vfio1");
        ck_assert_int_eq(fd, -1);
        close(other);
}
END_TEST

START_TEST(test_type1_adopt_hand_out_close) {
        _cleanup_(vfio_backend_freep) VfioBackend *b = NULL;
        int container = memfd("container"), group = memfd("group"), other = memfd("other"), fd = -1;

        ck_assert_int_eq(vfio_backend_new(&vfio_type1_ops, 7, &b), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "iommufd", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "holder", other), 0);
        ck_assert_int_eq(b->ops->adopt_fd(b, "group", group), 1);
        ck_assert(vfio_backend_is_open(b));
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_CONTAINER, &fd), -EBADF);
        ck_assert_int_eq(b->ops->adopt_fd(b, "container", container), 1);
        /* Each once: a second fd of a name is not taken. */
        ck_assert_int_eq(b->ops->adopt_fd(b, "container", other), 0);
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_CONTAINER, &fd), 0);
        ck_assert_int_eq(fd, container);
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_GROUP, &fd), 0);
        ck_assert_int_eq(fd, group);
        ck_assert_int_eq(vfio_backend_stored_fd(b, "container"), container);
        ck_assert_int_eq(vfio_backend_stored_fd(b, "group"), group);

        vfio_backend_close(b);
        ck_assert(!vfio_backend_is_open(b));
        ck_assert(!fd_is_open(container));
        ck_assert(!fd_is_open(group));
        ck_assert(fd_is_open(other));
        ck_assert_int_eq(b->ops->hand_out(b, VFIO_FD_GROUP, &fd), -EBADF);
        /* The handle can hold fds again, and frees them with itself. */
        ck_assert_int_eq(b->ops->adopt_fd(b, "group", other), 1);
        b = vfio_backend_free(b);
        ck_assert(!fd_is_open(other));
}
END_TEST

/* ---- state.json ---- */

static char *state_dir(int *ret_fd) {
        char *dir = strdup("/tmp/test-backend-XXXXXX");
        _cleanup_free_ char *why = NULL;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chmod(dir, 0700), 0);
        ck_assert_int_eq(state_open_dir(dir, ret_fd, &why), 0);
        return dir;
}

static void remove_dir(char *dir, int dir_fd) {
        (void) unlinkat(dir_fd, STATE_FILE, 0);
        (void) unlinkat(dir_fd, STATE_FILE ".corrupt", 0);
        close(dir_fd);
        ck_assert_int_eq(rmdir(dir), 0);
        free(dir);
}

/* state.json with leases on groups 7 and 8; backend7/backend8: the text of their "backend"
 * member, NULL for none. */
static void write_state(int dir_fd, const char *backend7, const char *backend8) {
        _cleanup_free_ char *text = NULL, *b7 = NULL, *b8 = NULL;
        _cleanup_close_ int fd = -1;

        if (backend7)
                ck_assert_int_ge(asprintf(&b7, "\"backend\": %s, ", backend7), 0);
        if (backend8)
                ck_assert_int_ge(asprintf(&b8, "\"backend\": %s, ", backend8), 0);
        ck_assert_int_ge(
                asprintf(
                        &text,
                        "{ \"version\": 1, \"next_id\": 9, \"leases\": [ "
                        "{ \"id\": 7, \"kind\": \"claim\", \"state\": \"active\", \"group\": 7, %s"
                        "\"holder\": \":1.5\", \"uid\": 0, \"pid\": 1, \"persistent\": false, "
                        "\"reason\": null, \"devices\": [ { \"address\": \"0000:03:00.0\", "
                        "\"original_driver\": \"e1000e\", \"bridge\": false } ] }, "
                        "{ \"id\": 8, \"kind\": \"prepare\", \"state\": \"active\", \"group\": 8, %s"
                        "\"holder\": null, \"uid\": 0, \"pid\": 0, \"persistent\": false, "
                        "\"reason\": null, \"devices\": [ { \"address\": \"0000:04:00.0\", "
                        "\"original_driver\": null, \"bridge\": false } ] } ] }\n",
                        strempty(b7), strempty(b8)),
                0);
        fd = openat(dir_fd, STATE_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

static char *read_state(int dir_fd) {
        _cleanup_close_ int fd = openat(dir_fd, STATE_FILE, O_RDONLY | O_CLOEXEC);
        char *text = calloc(1, 65536);

        ck_assert_int_ge(fd, 0);
        ck_assert_ptr_nonnull(text);
        ck_assert_int_ge(read(fd, text, 65535), 0);
        return text;
}

static void free_leases(Lease **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                lease_free(l[i]);
        free(l);
}

/* A file without "backend" (written before there were backends) is type1, and is written back
 * with it. */
START_TEST(test_state_backend_absent_is_type1) {
        _cleanup_free_ char *error = NULL, *text = NULL;
        Lease **leases = NULL;
        StateGlobals g;
        size_t n = 0;
        int dir_fd;
        char *dir = state_dir(&dir_fd);

        write_state(dir_fd, NULL, "\"type1\"");
        ck_assert_int_eq(state_load(dir_fd, &leases, &n, &g, &error), 0);
        ck_assert_uint_eq(n, 2);
        for (size_t i = 0; i < n; i++) {
                ck_assert_ptr_eq(leases[i]->backend->ops, &vfio_type1_ops);
                ck_assert_uint_eq(leases[i]->backend->group, leases[i]->group);
                ck_assert(!vfio_backend_is_open(leases[i]->backend));
        }
        ck_assert_int_eq(state_save(dir_fd, leases, n, &g), 0);
        text = read_state(dir_fd);
        ck_assert_ptr_nonnull(strstr(text, "\"backend\":\"type1\""));
        ck_assert_ptr_nonnull(strstr(strstr(text, "\"backend\":\"type1\"") + 1,
                                     "\"backend\":\"type1\""));
        free_leases(leases, n);
        remove_dir(dir, dir_fd);
}
END_TEST

/* A backend this daemon does not know: refused by name, with the file's name and the value. */
START_TEST(test_state_backend_unknown) {
        static const struct {
                const char *b7, *b8;
                int error;
                const char *message;
        } cases[] = {
                { "\"spapr\"", NULL, -EPROTONOSUPPORT,
                  "state.json: leases[0].backend: unknown VFIO backend \"spapr\" (this vfio-assignd knows "
                  "type1, iommufd)" },
                { "\"type1\"", "\"vfio-type1\"", -EPROTONOSUPPORT,
                  "state.json: leases[1].backend: unknown VFIO backend \"vfio-type1\"" },
                { "\"\"", NULL, -EPROTONOSUPPORT,
                  "state.json: leases[0].backend: unknown VFIO backend \"\"" },
                { "1", NULL, -EBADMSG, "state.json: leases[0].backend: not a string" },
                { "null", NULL, -EBADMSG, "state.json: leases[0].backend: not a string" },
                { "[\"type1\"]", NULL, -EBADMSG, "state.json: leases[0].backend: not a string" },
        };
        int dir_fd;
        char *dir = state_dir(&dir_fd);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *error = NULL, *before = NULL, *after = NULL;
                Lease **leases = (Lease **) 0x1;
                StateGlobals g;
                size_t n = 99;
                int k;

                write_state(dir_fd, cases[i].b7, cases[i].b8);
                before = read_state(dir_fd);
                k = state_load(dir_fd, &leases, &n, &g, &error);
                ck_assert_msg(k == cases[i].error, "case %zu: %d (%s)", i, k, strna(error));
                ck_assert_msg(error && strstr(error, cases[i].message), "case %zu: %s", i,
                              strna(error));
                ck_assert_ptr_eq(leases, (Lease **) 0x1);
                ck_assert_uint_eq(n, 99);
                after = read_state(dir_fd);
                ck_assert_str_eq(after, before);
        }
        remove_dir(dir, dir_fd);
}
END_TEST

/* A name longer than any backend's is cut in the message. */
START_TEST(test_state_backend_long_name) {
        _cleanup_free_ char *error = NULL, *name = malloc(302), *quoted = NULL;
        Lease **leases = NULL;
        StateGlobals g;
        size_t n = 0;
        int dir_fd;
        char *dir = state_dir(&dir_fd);

        ck_assert_ptr_nonnull(name);
        memset(name, 'x', 300);
        name[300] = 0;
        ck_assert_int_ge(asprintf(&quoted, "\"%s\"", name), 0);
        write_state(dir_fd, quoted, NULL);
        ck_assert_int_eq(state_load(dir_fd, &leases, &n, &g, &error), -EPROTONOSUPPORT);
        name[64] = 0;
        ck_assert_ptr_nonnull(strstr(error, name));
        name[64] = 'x';
        name[65] = 0;
        ck_assert_ptr_null(strstr(error, name));
        remove_dir(dir, dir_fd);
}
END_TEST

/* The lease set refuses to start on it and leaves it where it is (a corrupt file would be moved
 * aside and forgotten, and with it the groups on vfio-pci). */
START_TEST(test_reconcile_refuses_unknown_backend) {
        _cleanup_strv_free_ char **log = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        LeaseSet *s = NULL;
        Model model = {};
        int dir_fd, state_fd;
        char *dir = state_dir(&dir_fd);

        write_state(dir_fd, "\"spapr\"", NULL);
        before = read_state(dir_fd);
        state_fd = dup(dir_fd);
        ck_assert_int_ge(state_fd, 0);
        ck_assert_int_eq(lease_set_new(&model, dup(dir_fd), state_fd, &s), 0);
        ck_assert_int_eq(lease_set_reconcile(s, NULL, NULL, NULL, &log), -EPROTONOSUPPORT);
        ck_assert_uint_eq(s->n, 0);
        ck_assert_uint_eq(strv_length(log), 1);
        ck_assert_ptr_nonnull(strstr(log[0], "unknown VFIO backend \"spapr\""));
        after = read_state(dir_fd);
        ck_assert_str_eq(after, before);
        ck_assert_int_lt(faccessat(dir_fd, STATE_FILE ".corrupt", F_OK, 0), 0);
        lease_set_free(s);
        remove_dir(dir, dir_fd);
}
END_TEST

/* ---- the fd store ---- */

/* A datagram socket standing for systemd's notify socket; NOTIFY_SOCKET names it. */
static int notify_socket(char **ret_dir) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *dir = strdup("/tmp/test-backend-notify-XXXXXX");
        int fd;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(setenv("NOTIFY_SOCKET", sa.sun_path, 1), 0);
        *ret_dir = dir;
        return fd;
}

static void notify_socket_close(int fd, char *dir) {
        _cleanup_free_ char *path = NULL;

        close(fd);
        ck_assert_int_ge(asprintf(&path, "%s/notify", dir), 0);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
        free(dir);
        unsetenv("NOTIFY_SOCKET");
}

/* The next message within timeout_ms, NULL when none came; its fds in fds (at most 4). */
static char *receive(int sock, int timeout_ms, int fds[4], size_t *ret_n_fds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
        } control = {};
        char text[512];
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct pollfd p = { .fd = sock, .events = POLLIN };
        ssize_t n;

        *ret_n_fds = 0;
        if (poll(&p, 1, timeout_ms) <= 0)
                return NULL;
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        ck_assert_int_ge(n, 0);
        text[n] = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        ck_assert_uint_le(k, 4);
                        memcpy(fds, CMSG_DATA(c), k * sizeof(int));
                        *ret_n_fds = k;
                }
        return strdup(text);
}

static void expect_message(int sock, const char *want, int want_fd) {
        _cleanup_free_ char *got = NULL;
        int fds[4];
        size_t n;

        got = receive(sock, 5000, fds, &n);
        ck_assert_msg(got, "no message; expected %s", want);
        ck_assert_str_eq(got, want);
        ck_assert_uint_eq(n, want_fd >= 0);
        if (n) {
                ck_assert(same_file(fds[0], want_fd));
                close(fds[0]);
        }
}

static void expect_no_message(int sock) {
        _cleanup_free_ char *got = NULL;
        int fds[4];
        size_t n;

        got = receive(sock, 0, fds, &n);
        ck_assert_msg(!got, "unexpected message: %s", got);
}

/* The holder's pidfd and the backend's fds go to the store under the names an older daemon used
 * (tests/vm/scenarios/64-daemon-restart.sh restarts across them); a closed one is not sent. */
START_TEST(test_fdstore_put) {
        char *dir = NULL;
        int sock = notify_socket(&dir);
        Lease *l = new_lease();
        int holder = memfd("holder"), group = memfd("group"), container = memfd("container");

        l->holder_pidfd = holder;
        ck_assert_int_eq(l->backend->ops->adopt_fd(l->backend, "group", group), 1);
        fdstore_put_lease(l);
        expect_message(sock, "FDSTORE=1\nFDNAME=lease-7-holder", holder);
        expect_message(sock, "FDSTORE=1\nFDNAME=lease-7-group", group);
        expect_no_message(sock);

        ck_assert_int_eq(l->backend->ops->adopt_fd(l->backend, "container", container), 1);
        fdstore_put_lease(l);
        expect_message(sock, "FDSTORE=1\nFDNAME=lease-7-holder", holder);
        expect_message(sock, "FDSTORE=1\nFDNAME=lease-7-container", container);
        expect_message(sock, "FDSTORE=1\nFDNAME=lease-7-group", group);
        expect_no_message(sock);

        fdstore_remove_holder(7);
        expect_message(sock, "FDSTOREREMOVE=1\nFDNAME=lease-7-holder", -1);
        expect_no_message(sock);
        lease_free(l);
        notify_socket_close(sock, dir);

        /* Not run by systemd: nothing is sent, nothing fails. */
        l = new_lease();
        l->holder_pidfd = memfd("holder");
        fdstore_put_lease(l);
        fdstore_remove_holder(7);
        lease_free(l);
}
END_TEST

static int wait_child(pid_t pid) {
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* Removing a lease's fds names every fd of its backend, the closed ones too (GrantAccess closed
 * them first), and waits until systemd has closed its copies (BARRIER=1). */
START_TEST(test_fdstore_remove_fds) {
        char *dir = NULL;
        int sock = notify_socket(&dir);
        _cleanup_free_ char *barrier = NULL;
        int fds[4];
        size_t n;
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                Lease *l = new_lease();

                fdstore_remove_fds(l);
                lease_free(l);
                fdstore_wait_removed();
                _exit(0);
        }
        expect_message(sock, "FDSTOREREMOVE=1\nFDNAME=lease-7-container", -1);
        expect_message(sock, "FDSTOREREMOVE=1\nFDNAME=lease-7-group", -1);
        barrier = receive(sock, 5000, fds, &n);
        ck_assert_str_eq(strna(barrier), "BARRIER=1");
        ck_assert_uint_eq(n, 1);
        close(fds[0]); /* what systemd does once it has handled what came before */
        ck_assert_int_eq(wait_child(pid), 0);
        expect_no_message(sock);
        notify_socket_close(sock, dir);
}
END_TEST

/* At start (in a child: the fds must be 3, 4, ... as systemd passes them): the lease takes its
 * holder's pidfd and its backend's fds; what no lease takes, a lease that is gone, a name its
 * backend does not have, a stranger's, is closed and removed from the store. Exit codes say which
 * check failed. */
static int take_in_child(void) {
        static const char *const names =
                "lease-7-container:lease-7-group:lease-7-holder:lease-9-group:"
                "stranger:lease-7-iommufd";
        int high[6];
        char pid[16];
        Lease *l, *leases[1];
        LeaseSet set = { .leases = leases, .n = 1 };
        FdStore *s;
        int fd;

        for (int i = 0; i < 6; i++) {
                high[i] = fcntl(memfd_create("stored", MFD_CLOEXEC), F_DUPFD_CLOEXEC, 100);
                if (high[i] < 0)
                        return 10;
        }
        for (int i = 0; i < 6; i++)
                if (dup2(high[i], 3 + i) != 3 + i)
                        return 11;
        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        if (setenv("LISTEN_PID", pid, 1) < 0 || setenv("LISTEN_FDS", "6", 1) < 0 ||
            setenv("LISTEN_FDNAMES", names, 1) < 0)
                return 12;

        s = fdstore_take();
        if (!s)
                return 13;
        l = calloc(1, sizeof(Lease));
        if (!l)
                return 14;
        *l = (Lease) { .id = 7,
                       .kind = LEASE_CLAIM,
                       .state = LEASE_ACTIVE,
                       .group = 7,
                       .close_wd = -1,
                       .holder_pidfd = -1 };
        if (vfio_backend_new(&vfio_type1_ops, 7, &l->backend) < 0)
                return 15;
        leases[0] = l;
        fdstore_adopt(s, l);
        fdstore_finish(s, &set);

        if (!same_file(vfio_backend_stored_fd(l->backend, "container"), high[0]))
                return 20;
        if (l->backend->ops->hand_out(l->backend, VFIO_FD_GROUP, &fd) < 0 ||
            !same_file(fd, high[1]))
                return 21;
        if (!same_file(l->holder_pidfd, high[2]))
                return 22;
        if (!(fcntl(l->holder_pidfd, F_GETFD) & FD_CLOEXEC) || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
                return 23;
        for (int i = 3; i < 6; i++)
                if (fd_is_open(3 + i))
                        return 24;
        if (getenv("LISTEN_FDS"))
                return 25;
        lease_free(l);
        return 0;
}

START_TEST(test_fdstore_take) {
        char *dir = NULL;
        int sock = notify_socket(&dir);
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                _exit(take_in_child());
        ck_assert_int_eq(wait_child(pid), 0);
        expect_message(sock, "FDSTOREREMOVE=1\nFDNAME=stranger", -1);
        expect_message(sock, "FDSTOREREMOVE=1\nFDNAME=lease-9-group", -1);
        expect_message(sock, "FDSTOREREMOVE=1\nFDNAME=lease-7-iommufd", -1);
        expect_no_message(sock);
        notify_socket_close(sock, dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("backend");
        TCase *tc = tcase_create("backend");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_registry);
        tcase_add_test(tc, test_supported);
        tcase_add_test(tc, test_type1_closed);
        tcase_add_test(tc, test_type1_adopt_hand_out_close);
        tcase_add_test(tc, test_iommufd_store_names);
        tcase_add_test(tc, test_state_backend_absent_is_type1);
        tcase_add_test(tc, test_state_backend_unknown);
        tcase_add_test(tc, test_state_backend_long_name);
        tcase_add_test(tc, test_reconcile_refuses_unknown_backend);
        tcase_add_test(tc, test_fdstore_put);
        tcase_add_test(tc, test_fdstore_remove_fds);
        tcase_add_test(tc, test_fdstore_take);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
