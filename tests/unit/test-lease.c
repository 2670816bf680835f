/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The group transaction (lease.c), the lease set (lease-set.c) and the state files (state.c), on
 * the workstation sample host under the kernel model: libvfio-mock.so is linked into this program
 * (tests/tests.mk), so the sysfs writes of binding.c and the VFIO ioctls of vfio.c behave as the
 * kernel's would. Nothing of the bus glue, the manager or main is linked; the lease code sees
 * the host through a topology scanned from the tree (the only part of the model it reads).
 *
 * Each test builds its tree with the model off (fakesys' own writes must not look like kernel
 * writes), then switches it on (lease-world.c). Outcomes are read back from the tree (driver
 * links, driver_override, dev/vfio/N) and from the state files, never from the code under test.
 *
 * kill -9 half way is test-lease-crash.c, on the same world. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json-util.h"
#include "lease-world.h"
#include "names.h"
#include "state.h"
#include "util.h"

#define PARAM_UNSAFE "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"

/* ---- a lease on its own: the context records every save ---- */

typedef struct Journal {
        Lease *lease;
        int dir_fd;
        char **states;          /* the lease's state at each save */
        char *drivers_at_first; /* "GPU=driver ..." when the first save was made */
        unsigned fail_save;     /* 1-based number of the save that fails (-EIO); 0: none */
} Journal;

static int journal_save(void *userdata) {
        Journal *j = userdata;
        StateGlobals g = { .next_id = j->lease->id + 1 };

        if (!j->states)
                for (size_t i = 0; i < j->lease->n_devices; i++) {
                        _cleanup_free_ char *drv = driver_of(j->lease->devices[i].address);

                        ck_assert_int_ge(strextendf(&j->drivers_at_first, " ", "%s=%s",
                                                    j->lease->devices[i].address, strna(drv)),
                                         0);
                }
        ck_assert_int_ge(strv_extend(&j->states, lease_state_to_string(j->lease->state)), 0);
        if (strv_length(j->states) == j->fail_save)
                return -EIO;
        return state_save(j->dir_fd, &j->lease, 1, &g);
}

static char *journal_states(const Journal *j) {
        char *text = NULL;

        for (char **s = j->states; s && *s; s++)
                ck_assert_int_ge(strextendf(&text, ",", "%s", *s), 0);
        return text ?: strdup("");
}

static void journal_clear(Journal *j) {
        lease_free(j->lease);
        safe_close(j->dir_fd);
        strv_free(j->states);
        free(j->drivers_at_first);
        *j = (Journal) { .dir_fd = -1 };
}

static LeaseContext context(Journal *j) {
        ck_assert_int_eq(mkdir(run_dir, 0700), 0);
        j->dir_fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(j->dir_fd, 0);
        return (LeaseContext) {
                .model = model,
                .save = journal_save,
                .save_userdata = j,
                .timeout_usec = BINDING_TIMEOUT_USEC,
        };
}

/* The context, and a new lease (id 1) on the group in j->lease. */
static LeaseContext begin(Journal *j, LeaseKind kind, uint32_t group) {
        LeaseContext c = context(j);
        LeaseError err = {};
        int k = lease_new(&c, kind, group, 1, &j->lease, &err);

        ck_assert_msg(k == 0, "lease_new(%" PRIu32 "): %s", group, strna(err.message));
        lease_error_clear(&err);
        return c;
}

static void acquire(const LeaseContext *c, Journal *j) {
        LeaseError err = {};
        int k = lease_acquire(c, j->lease, &err);

        ck_assert_msg(k == 0, "lease_acquire(%" PRIu32 "): %s", j->lease->group,
                      strna(err.message));
        ck_assert_int_eq(j->lease->state, LEASE_ACTIVE);
        lease_error_clear(&err);
}

static void release(const LeaseContext *c, Journal *j) {
        LeaseError err = {};
        int k = lease_release(c, j->lease, &err);

        ck_assert_msg(k == 0, "lease_release(%" PRIu32 "): %s", j->lease->group,
                      strna(err.message));
        lease_error_clear(&err);
}

/* ---- 1. the transaction ---- */

START_TEST(test_new_reads_the_group) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        Lease *sentinel = (Lease *) &j, *l = sentinel;
        LeaseError err = {};

        ck_assert_int_eq(j.lease->kind, LEASE_CLAIM);
        ck_assert_int_eq(j.lease->state, LEASE_BINDING);
        ck_assert_uint_eq(j.lease->group, GPU_GROUP);
        ck_assert_uint_eq(j.lease->n_devices, 2);
        ck_assert_str_eq(j.lease->devices[0].address, GPU);
        ck_assert_str_eq(j.lease->devices[0].original_driver, "nouveau");
        ck_assert_str_eq(j.lease->devices[1].address, AUDIO);
        ck_assert_str_eq(j.lease->devices[1].original_driver, "snd_hda_intel");
        ck_assert(!j.lease->devices[0].bridge && !j.lease->devices[1].bridge);
        ck_assert(lease_has_device(j.lease, AUDIO));
        ck_assert(!lease_has_device(j.lease, NIC));
        ck_assert_uint_eq(j.lease->granted_uid, UINT32_MAX);
        /* Recording is reading: nothing saved, nothing moved. */
        ck_assert_ptr_null(j.states);
        assert_gpu_group_on_host();

        ck_assert_int_eq(lease_new(&c, LEASE_CLAIM, 99, 2, &l, &err), -ENOENT);
        ck_assert_int_eq(err.code, VA_ERROR_NO_SUCH_GROUP);
        ck_assert_str_eq(err.message, "IOMMU group 99 does not exist");
        ck_assert_ptr_eq(l, sentinel);

        ck_assert_int_eq(lease_new(&c, LEASE_PREPARE, PORT_GROUP, 2, &l, &err), -ENODEV);
        ck_assert_int_eq(err.code, VA_ERROR_NOT_ASSIGNABLE);
        assert_contains(err.message, "IOMMU group 1 has only bridges");
        ck_assert_ptr_eq(l, sentinel);
        lease_error_clear(&err);
}
END_TEST

/* Claim: every member to vfio-pci, the group opened and attached; the lease hands out device fds.
 * Release: each member reset through VFIO and given back to the driver it had. */
START_TEST(test_claim_binds_and_releases) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_free_ char *states = NULL;
        _cleanup_json_ json_object *state = NULL;
        _cleanup_close_ int dfd = -1;
        LeaseError err = {};
        int fd = -1;

        acquire(&c, &j);
        assert_gpu_group_on_vfio();
        states = journal_states(&j);
        ck_assert_str_eq(states, "binding,active");
        /* The original drivers were on disk before the first write. */
        ck_assert_str_eq(j.drivers_at_first, GPU "=nouveau " AUDIO "=snd_hda_intel");
        state = read_json(run_dir, STATE_FILE);
        ck_assert_str_eq(jstr(state_only_lease(state), "state"), "active");
        assert_state_device(state_only_lease(state), 0, GPU, "nouveau");
        assert_state_device(state_only_lease(state), 1, AUDIO, "snd_hda_intel");

        ck_assert_int_eq(lease_can_hand_out_fds(j.lease, &err), 0);
        ck_assert_int_eq(lease_open_device(&c, j.lease, AUDIO, &dfd, &err), 0);
        ck_assert_int_ge(dfd, 0);
        ck_assert_str_eq(spy_fd_device[dfd], AUDIO);
        ck_assert_int_eq(lease_open_device(&c, j.lease, NIC, &fd, &err), -ENODEV);
        ck_assert_int_eq(err.code, VA_ERROR_NO_SUCH_DEVICE);
        ck_assert_str_eq(err.message, NIC " is not in IOMMU group 7 of this lease");
        ck_assert_int_eq(fd, -1);
        /* The daemon's own fds do not make the group busy. */
        ck_assert(!lease_group_busy(&c, j.lease));
        dfd = safe_close(dfd);

        release(&c, &j);
        assert_gpu_group_on_host();
        ck_assert_ptr_null(j.lease->reason);
        free(states);
        states = journal_states(&j);
        ck_assert_str_eq(states, "binding,active,releasing");
        ck_assert(strv_contains(spy_resets, GPU));
        ck_assert(strv_contains(spy_resets, AUDIO));
        ck_assert_uint_eq(strv_length(spy_resets), 2);
        lease_error_clear(&err);
}
END_TEST

/* A member found without a driver is recorded so and left without one again. */
START_TEST(test_claim_unbound_member) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, USB_GROUP);

        assert_driver(USB_SRAM, NULL);
        ck_assert_ptr_null(j.lease->devices[1].original_driver);
        acquire(&c, &j);
        assert_on_vfio(USB);
        assert_on_vfio(USB_SRAM);
        release(&c, &j);
        assert_on_host(USB, "xhci_hcd");
        assert_on_host(USB_SRAM, NULL);
        ck_assert(!node_exists(USB_GROUP));
}
END_TEST

/* A prepare binds the group and hands out nothing: the VMM opens /dev/vfio/N itself. */
START_TEST(test_prepare_hands_out_nothing) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_PREPARE, NIC_GROUP);
        LeaseError err = {};
        int fd = -1;

        acquire(&c, &j);
        assert_on_vfio(NIC);
        ck_assert(node_exists(NIC_GROUP));
        ck_assert(!lease_group_busy(&c, j.lease));

        ck_assert_int_eq(lease_can_hand_out_fds(j.lease, &err), -EOPNOTSUPP);
        ck_assert_int_eq(err.code, VA_ERROR_NOT_CLAIMED);
        assert_contains(err.message, "a prepare hands out no file descriptors");
        ck_assert_int_eq(lease_open_device(&c, j.lease, NIC, &fd, &err), -EOPNOTSUPP);
        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(lease_grant_access(&c, j.lease, 4242, &err), -ESTALE);
        ck_assert_int_eq(err.code, VA_ERROR_NOT_ACTIVE);

        release(&c, &j);
        assert_on_host(NIC, "igb");
        ck_assert(!node_exists(NIC_GROUP));
        ck_assert(was_reset(NIC));
        lease_error_clear(&err);
}
END_TEST

/* One member fails on its way to vfio-pci: every member is back where it was, and the error
 * names device, driver, step and errno. */
static const struct {
        const char *fault;
        const char *member, *driver, *step;
        int error;
} bind_failures[] = {
        { AUDIO " probe-nothing\n", AUDIO, "snd_hda_intel", "verify the driver link", -EIO },
        { AUDIO " unbind-ebusy\n", AUDIO, "snd_hda_intel", "unbind", -EBUSY },
        { GPU " probe-nothing\n", GPU, "nouveau", "verify the driver link", -EIO },
};

START_TEST(test_bind_failure_rolls_back) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_free_ char *want = NULL, *states = NULL;
        _cleanup_json_ json_object *state = NULL;
        LeaseError err = {};

        faults(bind_failures[_i].fault);
        ck_assert_int_eq(lease_acquire(&c, j.lease, &err), bind_failures[_i].error);
        ck_assert_int_eq(err.error, bind_failures[_i].error);
        ck_assert_int_eq(err.code, VA_ERROR_BIND_FAILED);
        want = xasprintf("Binding %s (was on %s) to vfio-pci failed at step \"%s\": %s",
                         bind_failures[_i].member, bind_failures[_i].driver, bind_failures[_i].step,
                         strerror(-bind_failures[_i].error));
        assert_contains(err.message, want);
        ck_assert_msg(!strstr(err.message, "stuck"), "the roll-back did not complete: %s",
                      err.message);

        faults("");
        assert_gpu_group_on_host();
        ck_assert_int_eq(j.lease->state, LEASE_RELEASING);
        ck_assert_ptr_null(j.lease->reason);
        states = journal_states(&j);
        ck_assert_str_eq(states, "binding,releasing");
        state = read_json(run_dir, STATE_FILE);
        ck_assert_str_eq(jstr(state_only_lease(state), "state"), "releasing");
        lease_error_clear(&err);
}
END_TEST

/* The way back fails too (the model refuses every bind of the member, the one to its own driver
 * included): the group is stuck, never dropped, and the message says why. A later release
 * completes once the member can move. */
START_TEST(test_failed_rollback_is_stuck) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_free_ char *states = NULL;
        _cleanup_json_ json_object *state = NULL;
        LeaseError err = {};

        faults(AUDIO " bind-fails\n");
        ck_assert_int_eq(lease_acquire(&c, j.lease, &err), -ENODEV);
        ck_assert_int_eq(err.code, VA_ERROR_BIND_FAILED);
        assert_contains(err.message,
                        "Binding " AUDIO " (was on snd_hda_intel) to vfio-pci failed at step "
                        "\"drivers_probe\"");
        assert_contains(err.message, "rolling back failed, the group is stuck: " AUDIO
                                     " cannot be given back to snd_hda_intel: bind failed");
        ck_assert_int_eq(j.lease->state, LEASE_STUCK);
        assert_contains(j.lease->reason, AUDIO);
        assert_on_host(GPU, "nouveau");
        assert_driver(AUDIO, NULL);
        states = journal_states(&j);
        ck_assert_str_eq(states, "binding,releasing,stuck");
        state = read_json(run_dir, STATE_FILE);
        ck_assert_str_eq(jstr(state_only_lease(state), "state"), "stuck");
        assert_contains(jstr(state_only_lease(state), "reason"), AUDIO " cannot be given back");

        faults("");
        release(&c, &j);
        assert_gpu_group_on_host();
        lease_error_clear(&err);
}
END_TEST

/* Without interrupt remapping the kernel refuses the container after every member moved: the
 * named error, and the members go back. */
START_TEST(test_claim_without_interrupt_remapping) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        LeaseError err = {};

        faults("no-interrupt-remapping\n");
        ck_assert_int_eq(lease_acquire(&c, j.lease, &err), -EPERM);
        ck_assert_int_eq(err.code, VA_ERROR_IR_REQUIRED);
        assert_contains(err.message,
                        "The kernel refused IOMMU group 7 a type1 IOMMU domain (EPERM)");
        assert_contains(err.message, "allow_unsafe_interrupts is off");
        ck_assert_int_ne(lease_can_hand_out_fds(j.lease, &err), 0);
        assert_gpu_group_on_host();
        lease_error_clear(&err);
}
END_TEST

/* The state cannot be written: before the first write nothing moves; at the last transition
 * everything goes back. */
START_TEST(test_save_failure) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_free_ char *states = NULL;
        LeaseError err = {};

        j.fail_save = 1;
        ck_assert_int_eq(lease_acquire(&c, j.lease, &err), -EIO);
        ck_assert_int_eq(err.code, VA_ERROR_STATE_FAILED);
        assert_contains(err.message, "Cannot record the state before binding");
        assert_gpu_group_on_host();
        /* Not a single write: the model reports every bind and unbind. */
        ck_assert(!uevent_seen("unbind " GPU));

        strv_free(j.states);
        j.states = NULL;
        j.fail_save = 2;
        ck_assert_int_eq(lease_acquire(&c, j.lease, &err), -EIO);
        ck_assert_int_eq(err.code, VA_ERROR_STATE_FAILED);
        assert_contains(err.message, "Cannot record the lease");
        states = journal_states(&j);
        ck_assert_str_eq(states, "binding,active,releasing");
        ck_assert(uevent_seen("bind " GPU));
        assert_gpu_group_on_host();
        lease_error_clear(&err);
}
END_TEST

/* A VMM still has the group open (here: a child holding a device fd it inherited): the release
 * writes nothing and waits, STUCK with the reason; once the child is gone (killed: valgrind
 * checks no leaks then, in a copy of this process) it completes. */
START_TEST(test_release_waits_for_other_process) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        LeaseError err = {};
        int dfd = -1, status;
        pid_t pid;

        acquire(&c, &j);
        ck_assert_int_eq(lease_open_device(&c, j.lease, GPU, &dfd, &err), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                /* Only async-signal-safe calls: the parent has threads. */
                for (;;)
                        pause();
        safe_close(dfd);

        before = read_text(uevents_path);
        ck_assert_int_eq(lease_release(&c, j.lease, &err), -EBUSY);
        ck_assert_int_eq(err.code, VA_ERROR_STUCK);
        ck_assert_str_eq(
                err.message,
                "IOMMU group 7 is stuck: /dev/vfio/7 is still open in another process (a VMM "
                "still running?); waiting for it to close before giving the devices back");
        ck_assert_int_eq(j.lease->state, LEASE_STUCK);
        ck_assert(j.lease->waiting);
        assert_contains(j.lease->reason, "/dev/vfio/7 is still open in another process");
        state = read_json(run_dir, STATE_FILE);
        ck_assert_str_eq(jstr(state_only_lease(state), "state"), "stuck");
        ck_assert_str_eq(jstr(state_only_lease(state), "reason"), j.lease->reason);
        after = read_text(uevents_path);
        ck_assert_str_eq(after, before);
        assert_gpu_group_on_vfio();
        ck_assert(lease_group_busy(&c, j.lease));

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        ck_assert(!lease_group_busy(&c, j.lease));
        release(&c, &j);
        assert_gpu_group_on_host();
        ck_assert(!j.lease->waiting);
        lease_error_clear(&err);
}
END_TEST

/* A member refuses to leave vfio-pci: the others go back, the lease is STUCK naming the member,
 * and a retry after the refusal ends completes. */
START_TEST(test_release_refused_is_stuck) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_free_ char *states = NULL;
        LeaseError err = {};

        acquire(&c, &j);
        faults(AUDIO " refuse-release EBUSY\n");
        ck_assert_int_eq(lease_release(&c, j.lease, &err), -EBUSY);
        ck_assert_int_eq(err.code, VA_ERROR_STUCK);
        assert_contains(err.message,
                        "IOMMU group 7 is stuck: " AUDIO " cannot be given back to snd_hda_intel: "
                        "unbind failed: Device or resource busy (now on vfio-pci)");
        ck_assert_int_eq(j.lease->state, LEASE_STUCK);
        ck_assert(!j.lease->waiting);
        assert_on_host(GPU, "nouveau");
        assert_driver(AUDIO, DRIVER_VFIO_PCI);
        states = journal_states(&j);
        ck_assert_str_eq(states, "binding,active,releasing,stuck");

        /* Still refused: still stuck, nothing lost. */
        ck_assert_int_eq(lease_release(&c, j.lease, &err), -EBUSY);
        ck_assert_int_eq(j.lease->state, LEASE_STUCK);

        faults("");
        release(&c, &j);
        assert_gpu_group_on_host();
        ck_assert_ptr_null(j.lease->reason);
        lease_error_clear(&err);
}
END_TEST

/* GrantAccess hands /dev/vfio/N to a uid and closes the daemon's fds; it is recorded, and taken
 * back on release. */
START_TEST(test_grant_access) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = begin(&j, LEASE_CLAIM, GPU_GROUP);
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *node = xasprintf("%s/dev/vfio/7", root);
        LeaseError err = {};
        struct stat st;
        int fd = -1;

        acquire(&c, &j);
        ck_assert_int_eq(lease_grant_access(&c, j.lease, 4242, &err), 0);
        ck_assert_int_eq(stat(node, &st), 0);
        ck_assert_uint_eq(st.st_uid, 4242);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_uint_eq(j.lease->granted_uid, 4242);
        state = read_json(run_dir, STATE_FILE);
        ck_assert_int_eq(jint(state_only_lease(state), "granted_uid"), 4242);

        ck_assert_int_eq(lease_can_hand_out_fds(j.lease, &err), -ESTALE);
        ck_assert_int_eq(err.code, VA_ERROR_NOT_ACTIVE);
        assert_contains(err.message, "/dev/vfio/7 was handed over with GrantAccess");
        ck_assert_int_eq(lease_open_device(&c, j.lease, GPU, &fd, &err), -ESTALE);
        ck_assert_int_eq(fd, -1);
        /* Nobody holds the group now (the VMM has not opened it yet). */
        ck_assert(!lease_group_busy(&c, j.lease));

        ck_assert_int_eq(lease_grant_access(&c, j.lease, UINT32_MAX, &err), 0);
        ck_assert_int_eq(stat(node, &st), 0);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_int_eq(lease_grant_access(&c, j.lease, 4243, &err), 0);

        release(&c, &j);
        ck_assert_uint_eq(j.lease->granted_uid, UINT32_MAX);
        assert_gpu_group_on_host();
        lease_error_clear(&err);
}
END_TEST

/* ---- 2. the lease set and its files ---- */

START_TEST(test_set_claim_records_every_step) {
        _cleanup_(lease_set_freep) LeaseSet *s = set_open();
        _cleanup_json_ json_object *state = NULL;
        LeaseRequest req = claim_request(GPU_GROUP);
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, run_dir);
        json_object *o;
        LeaseError err = {};
        struct stat st;
        Lease *l, *other = NULL;

        l = set_acquire(s, &req);
        assert_gpu_group_on_vfio();
        ck_assert_uint_eq(l->id, 1);
        ck_assert_ptr_eq(lease_set_find_group(s, GPU_GROUP), l);
        ck_assert_ptr_eq(lease_set_find_device(s, AUDIO), l);
        ck_assert_ptr_eq(lease_set_find_id(s, 1), l);
        ck_assert_ptr_null(lease_set_find_device(s, NIC));
        if (holders_identifiable()) {
                ck_assert(lease_holder_is(l, BUS_ID, (uint32_t) getuid(), (uint32_t) getpid()));
                ck_assert(!lease_holder_is(l, "fedcba9876543210fedcba9876543210",
                                           (uint32_t) getuid(), (uint32_t) getpid()));
        }

        /* The file is the daemon's alone, and says everything a restart needs. */
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        state = read_json(run_dir, STATE_FILE);
        ck_assert_int_eq(jint(state, "next_id"), 2);
        o = state_only_lease(state);
        ck_assert_int_eq(jint(o, "id"), 1);
        ck_assert_str_eq(jstr(o, "kind"), "claim");
        ck_assert_str_eq(jstr(o, "state"), "active");
        ck_assert_int_eq(jint(o, "group"), GPU_GROUP);
        ck_assert_int_eq(jint(o, "pid"), getpid());
        if (holders_identifiable()) {
                ck_assert_str_eq(jstr(o, "holder"), HOLDER);
                ck_assert_str_eq(jstr(o, "holder_bus_id"), BUS_ID);
                ck_assert_int_gt(jint(o, "holder_start_time"), 0);
        } else
                ck_assert_ptr_null(jstr(o, "holder"));
        assert_state_device(o, 0, GPU, "nouveau");
        assert_state_device(o, 1, AUDIO, "snd_hda_intel");

        /* One lease per group. */
        ck_assert_int_eq(lease_set_acquire(s, &req, &other, &err), -EBUSY);
        ck_assert_int_eq(err.code, VA_ERROR_BUSY);
        ck_assert_str_eq(
                err.message,
                holders_identifiable()
                        ? "IOMMU group 7 is already leased (lease 1, claim, active, held by " HOLDER
                          ")"
                        : "IOMMU group 7 is already leased (lease 1, claim, active)");
        ck_assert_ptr_null(other);
        /* A group that does not exist: nothing recorded, no id used. */
        req.group = 99;
        ck_assert_int_eq(lease_set_acquire(s, &req, &other, &err), -ENOENT);
        ck_assert_int_eq(err.code, VA_ERROR_NO_SUCH_GROUP);
        ck_assert_ptr_null(other);
        ck_assert_uint_eq(s->n, 1);
        json_object_put(state);
        state = read_json(run_dir, STATE_FILE);
        ck_assert_int_eq(jint(state, "next_id"), 2);

        set_release(s, l);
        assert_gpu_group_on_host();
        ck_assert_uint_eq(s->n, 0);
        json_object_put(state);
        state = read_json(run_dir, STATE_FILE);
        ck_assert_uint_eq(json_object_array_length(state_leases(state)), 0);
        ck_assert_int_eq(jint(state, "next_id"), 2);
        lease_error_clear(&err);
}
END_TEST

/* A caller that cannot be recognised after a restart is refused before anything moves. Where
 * pidfd_open() is missing (valgrind 3.19) nobody can be: that is the refusal then. */
START_TEST(test_set_claim_needs_an_identity) {
        _cleanup_(lease_set_freep) LeaseSet *s = set_open();
        _cleanup_free_ char *want = NULL, *path = xasprintf("%s/" STATE_FILE, run_dir);
        LeaseRequest req = claim_request(GPU_GROUP);
        bool pidfds = holders_identifiable();
        LeaseError err = {};
        Lease *l = NULL;

        req.holder = HOLDER;
        req.holder_bus_id = "short";
        ck_assert_int_eq(lease_set_acquire(s, &req, &l, &err), pidfds ? -EINVAL : -ENOSYS);
        ck_assert_int_eq(err.code, VA_ERROR_FAILED);
        want = xasprintf("Cannot identify the caller " HOLDER " (pid %d): %s", (int) getpid(),
                         pidfds ? "no bus id" : strerror(ENOSYS));
        ck_assert_str_eq(err.message, want);

        /* The caller is gone by the time its claim runs: no process has its pid (beyond any
         * pid_max, so never reused), no pidfd for it. */
        req = claim_request(GPU_GROUP);
        req.holder = HOLDER;
        req.holder_bus_id = BUS_ID;
        req.pid = INT32_MAX;
        ck_assert_int_eq(lease_set_acquire(s, &req, &l, &err), pidfds ? -ESRCH : -ENOSYS);
        assert_contains(err.message, strerror(pidfds ? ESRCH : ENOSYS));

        ck_assert_ptr_null(l);
        ck_assert_uint_eq(s->n, 0);
        assert_gpu_group_on_host();
        ck_assert_int_eq(access(path, F_OK), -1);
        lease_error_clear(&err);
}
END_TEST

/* What the daemon binds on its own needs the guard's yes; without a guard nothing is bound. */
START_TEST(test_set_unattended_needs_the_guard) {
        _cleanup_(lease_set_freep) LeaseSet *s = set_open();
        LeaseRequest req = { .kind = LEASE_PREPARE, .group = NIC_GROUP, .unattended = true };
        LeaseError err = {};
        unsigned calls = 0;
        Lease *l = NULL;

        ck_assert_int_eq(lease_set_acquire(s, &req, &l, &err), -EPERM);
        ck_assert_int_eq(err.code, VA_ERROR_POLICY_DENIED);
        ck_assert_str_eq(err.message,
                         "no checks are set up for bindings the daemon starts on its own");
        assert_on_host(NIC, "igb");

        s->guard = guard_no;
        ck_assert_int_eq(lease_set_acquire(s, &req, &l, &err), -EPERM);
        ck_assert_int_eq(err.code, VA_ERROR_POLICY_DENIED);
        ck_assert_str_eq(err.message, "IOMMU group 8: denied by rule test-rule");
        assert_on_host(NIC, "igb");
        ck_assert_ptr_null(l);
        ck_assert_uint_eq(s->n, 0);

        s->guard = guard_yes;
        s->guard_userdata = &calls;
        l = set_acquire(s, &req);
        ck_assert_uint_eq(calls, 1);
        ck_assert_int_eq(l->kind, LEASE_PREPARE);
        assert_on_vfio(NIC);
        set_release(s, l);
        assert_on_host(NIC, "igb");
        lease_error_clear(&err);
}
END_TEST

/* A persistent prepare is written to persistent.json, and leaves it on release. */
START_TEST(test_set_persistent_prepare) {
        _cleanup_(lease_set_freep) LeaseSet *s = set_open();
        _cleanup_json_ json_object *p = NULL, *state = NULL;
        LeaseRequest req = { .kind = LEASE_PREPARE, .group = NIC_GROUP, .persistent = true };
        json_object *d;
        Lease *l;

        l = set_acquire(s, &req);
        assert_on_vfio(NIC);
        p = read_json(state_dir, PERSISTENT_FILE);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(json_object_array_length(jget(p, "devices")), 1);
        d = json_object_array_get_idx(jget(p, "devices"), 0);
        ck_assert_str_eq(jstr(d, "address"), NIC);
        ck_assert_str_eq(jstr(d, "vendor"), "0x8086");
        ck_assert_str_eq(jstr(d, "device"), "0x1533");
        ck_assert(lease_set_is_persistent(s, NIC, 0x8086, 0x1533));
        /* Another card in the slot is not what was prepared. */
        ck_assert(!lease_set_is_persistent(s, NIC, 0x8086, 0x1534));
        ck_assert(!lease_set_is_persistent(s, GPU, 0x10de, 0x1b80));
        state = read_json(run_dir, STATE_FILE);
        ck_assert(json_object_get_boolean(jget(state_only_lease(state), "persistent")));

        set_release(s, l);
        assert_on_host(NIC, "igb");
        json_object_put(p);
        p = read_json(state_dir, PERSISTENT_FILE);
        ck_assert_uint_eq(json_object_array_length(jget(p, "devices")), 0);
        ck_assert(!lease_set_is_persistent(s, NIC, 0x8086, 0x1533));
}
END_TEST

static char *param_unsafe(void) {
        char *text = NULL;
        size_t size;

        ck_assert_int_eq(fakesys_read_file(fs, PARAM_UNSAFE, &text, &size), 0);
        text[strcspn(text, "\n")] = 0;
        return text;
}

/* allow_unsafe_interrupts: set (and recorded) for a lease that needs it, cleared with the last
 * lease that relied on it. */
START_TEST(test_set_unsafe_interrupts) {
        _cleanup_(lease_set_freep) LeaseSet *s = set_open();
        _cleanup_json_ json_object *state = NULL;
        _cleanup_free_ char *param = NULL;
        LeaseRequest req = claim_request(GPU_GROUP);
        LeaseError err = {};
        json_object *v;
        Lease *l = NULL;

        faults("no-interrupt-remapping\n");
        ck_assert_int_eq(lease_set_acquire(s, &req, &l, &err), -EPERM);
        ck_assert_int_eq(err.code, VA_ERROR_IR_REQUIRED);
        ck_assert_uint_eq(s->n, 0);
        assert_gpu_group_on_host();

        ck_assert_int_eq(lease_set_allow_unsafe_interrupts(s), 0);
        param = param_unsafe();
        ck_assert_str_eq(param, "1");
        state = read_json(run_dir, STATE_FILE);
        ck_assert(json_object_get_boolean(jget(state, "unsafe_interrupts_set")));

        req.unsafe_interrupts = true;
        l = set_acquire(s, &req);
        assert_gpu_group_on_vfio();
        /* Still relied on. */
        ck_assert_int_eq(lease_set_drop_unsafe_interrupts(s), 0);
        free(param);
        param = param_unsafe();
        ck_assert_str_eq(param, "1");

        set_release(s, l);
        assert_gpu_group_on_host();
        ck_assert_int_eq(lease_set_drop_unsafe_interrupts(s), 1);
        free(param);
        param = param_unsafe();
        ck_assert_str_eq(param, "0");
        json_object_put(state);
        state = read_json(run_dir, STATE_FILE);
        ck_assert(!json_object_object_get_ex(state, "unsafe_interrupts_set", &v));
        ck_assert_int_eq(lease_set_drop_unsafe_interrupts(s), 0);
        lease_error_clear(&err);
}
END_TEST

/* state.json across a restart: a new set reads every lease back and adopts it; a claim whose
 * holder is gone is given back, a prepare stays. */
START_TEST(test_reconcile_adopts_and_releases) {
        _cleanup_(restart_clear) Restart r1 = { .alive = true }, r2 = { .alive = false };
        _cleanup_json_ json_object *state = NULL, *p = NULL;
        _cleanup_free_ char *log1 = NULL;
        LeaseRequest claim = claim_request(GPU_GROUP);
        LeaseRequest prep = { .kind = LEASE_PREPARE, .group = NIC_GROUP, .persistent = true };
        LeaseError err = {};
        LeaseSet *s = set_open();
        Lease *l;

        set_acquire(s, &claim);
        set_acquire(s, &prep);
        /* The daemon goes away (its fds with it); the groups stay bound. */
        s = lease_set_free(s);
        assert_gpu_group_on_vfio();
        assert_on_vfio(NIC);

        s = set_restart(&r1, 0);
        log1 = log_text(r1.log);
        ck_assert_msg(!r1.log, "unexpected log: %s", log1);
        ck_assert_uint_eq(r1.n_adopted, 2);
        ck_assert_uint_eq(r1.adopted[0], 1);
        ck_assert_uint_eq(r1.adopted[1], 2);
        ck_assert_uint_eq(s->n, 2);
        ck_assert_uint_eq(s->next_id, 3);
        l = lease_set_find_group(s, GPU_GROUP);
        ck_assert_ptr_nonnull(l);
        ck_assert_uint_eq(l->id, 1);
        ck_assert_int_eq(l->kind, LEASE_CLAIM);
        ck_assert_int_eq(l->state, LEASE_ACTIVE);
        ck_assert_uint_eq(l->n_devices, 2);
        ck_assert_str_eq(l->devices[0].original_driver, "nouveau");
        ck_assert_str_eq(l->devices[1].original_driver, "snd_hda_intel");
        if (holders_identifiable()) {
                ck_assert_str_eq(l->holder, HOLDER);
                /* The holder is recognised by its start time now that no pidfd survived. */
                ck_assert(lease_holder_is(l, BUS_ID, (uint32_t) getuid(), (uint32_t) getpid()));
                ck_assert(!lease_holder_is(l, BUS_ID, (uint32_t) getuid(), (uint32_t) getppid()));
        }
        ck_assert_int_eq(lease_can_hand_out_fds(l, &err), -ESTALE);
        assert_contains(err.message, "they did not survive a restart of the daemon");
        l = lease_set_find_group(s, NIC_GROUP);
        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(l->kind, LEASE_PREPARE);
        ck_assert(l->persistent);
        ck_assert(lease_set_is_persistent(s, NIC, 0x8086, 0x1533));
        assert_gpu_group_on_vfio();
        assert_on_vfio(NIC);
        s = lease_set_free(s);

        s = set_restart(&r2, 0);
        assert_log_has(
                r2.log,
                "lease 1 on IOMMU group 7 was active and its holder is gone: giving it back");
        ck_assert_uint_eq(r2.n_adopted, 2);
        ck_assert_uint_eq(s->n, 1);
        ck_assert_ptr_null(lease_set_find_group(s, GPU_GROUP));
        assert_gpu_group_on_host();
        ck_assert(was_reset(GPU) && was_reset(AUDIO));
        state = read_json(run_dir, STATE_FILE);
        ck_assert_int_eq(jint(state_only_lease(state), "id"), 2);
        assert_on_vfio(NIC);

        set_release(s, lease_set_find_group(s, NIC_GROUP));
        assert_on_host(NIC, "igb");
        p = read_json(state_dir, PERSISTENT_FILE);
        ck_assert_uint_eq(json_object_array_length(jget(p, "devices")), 0);
        ck_assert_uint_eq(state_n_leases(), 0);
        lease_set_free(s);
        lease_error_clear(&err);
}
END_TEST

static void write_attr(const char *rel, const char *value) {
        int fd = openat(fakesys_root_fd(fs), rel, O_WRONLY | O_CLOEXEC);
        size_t n = strlen(value);

        ck_assert_msg(fd >= 0, "%s: %s", rel, strerror(errno));
        ck_assert_msg(write(fd, value, n) == (ssize_t) n, "%s: %s", rel, strerror(errno));
        ck_assert_int_eq(close(fd), 0);
}

/* Through the model, as a script or a new host driver would: the override cleared, vfio-pci
 * unbound, the host driver bound. */
static void nic_taken_by_igb(void) {
        write_attr(SYSFS_PCI_DEVICES "/" NIC "/driver_override", "\n");
        write_attr(SYSFS_PCI_DRIVERS "/vfio-pci/unbind", NIC);
        write_attr(SYSFS_PCI_DRIVERS "/igb/bind", NIC);
        assert_on_host(NIC, "igb");
}

#define NIC_MOVED_BACK \
        NIC ", a member of leased IOMMU group 8, was taken by igb; moved back to vfio-pci"

/* A prepared member that a host driver took, while the daemon was away and while it runs. */
START_TEST(test_drifted_member_moved_back) {
        _cleanup_(restart_clear) Restart r = {};
        _cleanup_free_ char *msg = NULL;
        LeaseRequest prep = { .kind = LEASE_PREPARE, .group = NIC_GROUP };
        LeaseSet *s = set_open();
        unsigned calls = 0;

        set_acquire(s, &prep);
        s = lease_set_free(s);
        nic_taken_by_igb();

        s = set_open();
        s->guard = guard_yes;
        s->guard_userdata = &calls;
        ck_assert_int_eq(lease_set_reconcile(s, on_adopt, on_alive, &r, &r.log), 0);
        assert_log_has(r.log, NIC_MOVED_BACK);
        ck_assert_uint_eq(calls, 1);
        assert_on_vfio(NIC);
        ck_assert_int_eq(lease_set_find_group(s, NIC_GROUP)->state, LEASE_ACTIVE);

        nic_taken_by_igb();
        ck_assert_int_eq(lease_set_enforce_device(s, NIC, "igb", &msg), 1);
        ck_assert_str_eq(msg, NIC_MOVED_BACK);
        assert_on_vfio(NIC);

        /* Without the guard's yes the member is left where it is, and the message says why. */
        s->guard = guard_no;
        nic_taken_by_igb();
        msg = mfree(msg);
        ck_assert_int_eq(lease_set_enforce_device(s, NIC, "igb", &msg), 1);
        ck_assert_str_eq(msg, NIC
                         ", a member of leased IOMMU group 8, was taken by igb and is left there: "
                         "IOMMU group 8: denied by rule test-rule");
        assert_on_host(NIC, "igb");

        /* Nothing to do: a device nobody leases, a member on vfio-pci. */
        msg = mfree(msg);
        ck_assert_int_eq(lease_set_enforce_device(s, GPU, "nouveau", &msg), 0);
        ck_assert_int_eq(lease_set_enforce_device(s, NIC, DRIVER_VFIO_PCI, &msg), 0);
        ck_assert_ptr_null(msg);

        set_release(s, lease_set_find_group(s, NIC_GROUP));
        assert_on_host(NIC, "igb");
        lease_set_free(s);
}
END_TEST

/* Two persistent prepares are both applied after a reboot: preparing the first rewrites the list
 * (its devices move to the end), which once made the walk skip the second. */
START_TEST(test_persistent_all_prepared_again) {
        _cleanup_(restart_clear) Restart r = {};
        const PersistentDevice list[] = {
                { .address = NIC, .vendor = 0x8086, .device = 0x1533 },
                { .address = GPU, .vendor = 0x10de, .device = 0x1b80 },
        };
        _cleanup_free_ char *error = NULL;
        int state_fd = -1;
        LeaseSet *s;

        ck_assert_int_eq(state_open_dir(state_dir, &state_fd, &error), 0);
        ck_assert_int_eq(persistent_save(state_fd, list, ELEMENTSOF(list)), 0);
        safe_close(state_fd);
        s = set_open();
        s->guard = guard_yes;
        ck_assert_int_eq(lease_set_reconcile(s, on_adopt, on_alive, &r, &r.log), 0);
        ck_assert_ptr_null(r.log);
        ck_assert_uint_eq(s->n, 2);
        assert_on_vfio(NIC);
        assert_on_vfio(GPU);
        set_release(s, lease_set_find_group(s, NIC_GROUP));
        set_release(s, lease_set_find_group(s, GPU_GROUP));
        assert_on_host(NIC, "igb");
        assert_gpu_group_on_host();
        lease_set_free(s);
}
END_TEST

/* After a reboot /run is empty and persistent.json names what to prepare again, with the guard's
 * yes; a device whose ids changed (another card at the address) is not touched, and the log says
 * which ids it had and has. */
START_TEST(test_persistent_prepared_again) {
        _cleanup_(restart_clear) Restart r1 = {}, r2 = {};
        _cleanup_json_ json_object *p = NULL, *state = NULL;
        const PersistentDevice list[] = {
                { .address = NIC, .vendor = 0x8086, .device = 0x1533 },
                { .address = GPU, .vendor = 0x10de, .device = 0x1b81 }, /* another card now */
        };
        _cleanup_free_ char *error = NULL;
        int state_fd = -1;
        unsigned calls = 0;
        LeaseSet *s;
        Lease *l;

        ck_assert_int_eq(state_open_dir(state_dir, &state_fd, &error), 0);
        ck_assert_int_eq(persistent_save(state_fd, list, ELEMENTSOF(list)), 0);
        safe_close(state_fd);

        s = set_restart(&r1, 0);
        assert_log_has(r1.log, "persistent prepare of " NIC
                               ": no checks are set up for bindings the daemon "
                               "starts on its own");
        assert_log_has(r1.log,
                       GPU ": the card there is 10de:1b80, the persistent prepare "
                           "recorded 10de:1b81: another card at that address is never "
                           "prepared in its place (org.vfioassign1.Error.IdentityChanged). "
                           "To prepare the new card, prepare " GPU " again with "
                           "persistent=true (assignctl prepare " GPU " --persistent), which "
                           "replaces the record; unprepare it then to forget it");
        ck_assert_uint_eq(strv_length(r1.log), 2);
        ck_assert_uint_eq(s->n, 0);
        assert_on_host(NIC, "igb");
        s = lease_set_free(s);

        s = set_open();
        s->guard = guard_yes;
        s->guard_userdata = &calls;
        ck_assert_int_eq(lease_set_reconcile(s, on_adopt, on_alive, &r2, &r2.log), 0);
        ck_assert_uint_eq(strv_length(r2.log), 1);
        assert_log_has(r2.log, GPU ": the card there is 10de:1b80, the persistent prepare "
                                   "recorded 10de:1b81");
        ck_assert_uint_eq(calls, 1);
        ck_assert_uint_eq(s->n, 1);
        l = lease_set_find_group(s, NIC_GROUP);
        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(l->kind, LEASE_PREPARE);
        ck_assert(l->persistent);
        assert_on_vfio(NIC);
        assert_gpu_group_on_host();
        state = read_json(run_dir, STATE_FILE);
        ck_assert_int_eq(jint(state_only_lease(state), "group"), NIC_GROUP);

        set_release(s, l);
        assert_on_host(NIC, "igb");
        /* Only the released device left the list. */
        p = read_json(state_dir, PERSISTENT_FILE);
        ck_assert_uint_eq(json_object_array_length(jget(p, "devices")), 1);
        ck_assert_str_eq(jstr(json_object_array_get_idx(jget(p, "devices"), 0), "address"), GPU);
        lease_set_free(s);
}
END_TEST

/* ---- 3. the files on their own ---- */

START_TEST(test_state_round_trip) {
        _cleanup_(journal_clear) Journal j = { .dir_fd = -1 };
        LeaseContext c = context(&j);
        _cleanup_(lease_freep) Lease *a = NULL, *b = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ PersistentDevice *pd = NULL;
        const PersistentDevice list[] = {
                { .address = NIC, .vendor = 0x8086, .device = 0x1533 },
                { .address = GPU, .vendor = 0x10de, .device = 0x1b80 },
        };
        StateGlobals g = { .next_id = 10, .unsafe_interrupts_set = true }, got = {};
        Lease **loaded = NULL;
        size_t n = 0;

        ck_assert_int_eq(lease_new(&c, LEASE_CLAIM, GPU_GROUP, 5, &a, NULL), 0);
        a->state = LEASE_STUCK;
        a->holder = strdup(HOLDER);
        strcpy(a->holder_bus_id, BUS_ID);
        a->holder_start_time = 123456789;
        a->uid = 1000;
        a->pid = 4321;
        a->reason = strdup("0000:01:00.1 cannot be given back to \"snd_hda_intel\"");
        a->granted_uid = 1000;
        a->unsafe_interrupts = true;
        a->devices[0].vfio_driver = strdup("nvgrace_gpu_vfio_pci");
        /* A VF's network settings as they were, with spoof check unreported by its driver. */
        a->devices[1].vf_net = calloc(1, sizeof(LeaseVfNet));
        ck_assert_ptr_nonnull(a->devices[1].vf_net);
        *a->devices[1].vf_net = (LeaseVfNet) {
                .pf_ifname = "enp65s0f0",
                .vf = 7,
                .saved = { .set_mac = true,
                           .mac = { 0x02, 0, 0, 0xab, 0xcd, 0xef },
                           .set_vlan = true,
                           .vlan = 4095,
                           .qos = 7,
                           .spoofchk = -1,
                           .trust = 1 },
        };
        ck_assert_int_eq(lease_new(&c, LEASE_PREPARE, USB_GROUP, 9, &b, NULL), 0);
        b->state = LEASE_ACTIVE;
        b->persistent = true;

        /* Missing: no leases, ids from 1. */
        ck_assert_int_eq(state_load(j.dir_fd, &loaded, &n, &got, &error), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_uint_eq(got.next_id, 1);

        ck_assert_int_eq(state_save(j.dir_fd, (Lease *[]) { a, b }, 2, &g), 0);
        ck_assert_int_eq(state_load(j.dir_fd, &loaded, &n, &got, &error), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_uint_eq(got.next_id, 10);
        ck_assert(got.unsafe_interrupts_set);

        ck_assert_uint_eq(loaded[0]->id, 5);
        ck_assert_int_eq(loaded[0]->kind, LEASE_CLAIM);
        ck_assert_int_eq(loaded[0]->state, LEASE_STUCK);
        ck_assert_uint_eq(loaded[0]->group, GPU_GROUP);
        ck_assert_str_eq(loaded[0]->holder, HOLDER);
        ck_assert_str_eq(loaded[0]->holder_bus_id, BUS_ID);
        ck_assert_uint_eq(loaded[0]->holder_start_time, 123456789);
        ck_assert_uint_eq(loaded[0]->uid, 1000);
        ck_assert_uint_eq(loaded[0]->pid, 4321);
        ck_assert_str_eq(loaded[0]->reason, a->reason);
        ck_assert_uint_eq(loaded[0]->granted_uid, 1000);
        ck_assert(loaded[0]->unsafe_interrupts);
        ck_assert(!loaded[0]->persistent);
        ck_assert_uint_eq(loaded[0]->n_devices, 2);
        ck_assert_str_eq(loaded[0]->devices[1].address, AUDIO);
        ck_assert_str_eq(loaded[0]->devices[1].original_driver, "snd_hda_intel");
        /* The VFIO driver chosen for a member; none recorded is vfio-pci. */
        ck_assert_str_eq(loaded[0]->devices[0].vfio_driver, "nvgrace_gpu_vfio_pci");
        ck_assert_str_eq(lease_device_vfio_driver(&loaded[0]->devices[0]), "nvgrace_gpu_vfio_pci");
        ck_assert_ptr_null(loaded[0]->devices[1].vfio_driver);
        ck_assert_str_eq(lease_device_vfio_driver(&loaded[0]->devices[1]), "vfio-pci");
        ck_assert_ptr_null(loaded[0]->devices[0].vf_net);
        ck_assert_ptr_nonnull(loaded[0]->devices[1].vf_net);
        {
                const LeaseVfNet *v = loaded[0]->devices[1].vf_net;

                ck_assert_str_eq(v->pf_ifname, "enp65s0f0");
                ck_assert_uint_eq(v->vf, 7);
                ck_assert(v->saved.set_mac && v->saved.set_vlan);
                ck_assert_mem_eq(v->saved.mac, a->devices[1].vf_net->saved.mac, 6);
                ck_assert_uint_eq(v->saved.vlan, 4095);
                ck_assert_uint_eq(v->saved.qos, 7);
                ck_assert_int_eq(v->saved.spoofchk, -1);
                ck_assert_int_eq(v->saved.trust, 1);
        }
        ck_assert(!lease_group_busy(&c, loaded[0]));

        ck_assert_uint_eq(loaded[1]->id, 9);
        ck_assert_int_eq(loaded[1]->kind, LEASE_PREPARE);
        ck_assert_int_eq(loaded[1]->state, LEASE_ACTIVE);
        ck_assert_ptr_null(loaded[1]->holder);
        ck_assert_ptr_null(loaded[1]->reason);
        ck_assert_uint_eq(loaded[1]->granted_uid, UINT32_MAX);
        ck_assert(!loaded[1]->unsafe_interrupts);
        ck_assert(loaded[1]->persistent);
        ck_assert_str_eq(loaded[1]->devices[0].address, USB);
        ck_assert_str_eq(loaded[1]->devices[0].original_driver, "xhci_hcd");
        ck_assert_str_eq(loaded[1]->devices[1].address, USB_SRAM);
        ck_assert_ptr_null(loaded[1]->devices[1].original_driver);
        for (size_t i = 0; i < n; i++)
                lease_free(loaded[i]);
        free(loaded);

        ck_assert_int_eq(persistent_save(j.dir_fd, list, ELEMENTSOF(list)), 0);
        ck_assert_int_eq(persistent_load(j.dir_fd, &pd, &n, &error), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(pd[0].address, NIC);
        ck_assert_uint_eq(pd[0].vendor, 0x8086);
        ck_assert_uint_eq(pd[0].device, 0x1533);
        ck_assert_str_eq(pd[1].address, GPU);
        ck_assert_uint_eq(pd[1].device, 0x1b80);
        ck_assert_ptr_null(error);
}
END_TEST

/* A valid state file, and ways to spoil it. */
#define STATE_BASE                                                                                                  \
        "{\"version\":1,\"next_id\":2,\"leases\":[{\"id\":1,\"kind\":\"claim\",\"state\":\"active\",\"group\":7,"   \
        "\"holder\":null,\"uid\":0,\"pid\":0,\"persistent\":false,\"reason\":null,\"devices\":[{\"address\":\"" GPU \
        "\",\"original_driver\":\"nouveau\",\"bridge\":false}]}]}"

static const struct {
        const char *from, *to; /* from NULL: the first half of the file (a torn write) */
        const char *error;
} corrupt_states[] = {
        { NULL, NULL, "state.json: not valid JSON: it ends inside a value (a truncated file)" },
        { "}]}]}", "}]}]} []", "state.json: not valid JSON: unexpected character" },
        { "\"version\":1", "\"version\":2", "state.json: not a version 1 state file" },
        { "\"leases\":[", "\"lease\":[", "state.json: not a version 1 state file" },
        { "\"leases\":[", "\"unsafe_interrupts_set\":\"yes\",\"leases\":[",
          "state.json: unsafe_interrupts_set: not a boolean" },
        { "\"next_id\":2", "\"next_id\":1", "leases[0]: id 1 is not below next_id" },
        { "\"state\":\"active\"", "\"state\":\"flying\"", "leases[0]: missing or invalid fields" },
        { "\"group\":7", "\"group\":4294967296", "leases[0]: missing or invalid fields" },
        { "\"group\":7", "\"group\":\"7\"", "leases[0]: missing or invalid fields" },
        { ",\"devices\":", ",\"members\":", "leases[0]: missing or invalid fields" },
        { GPU, "0000:1:00.0", "leases[0].devices[0]: missing or invalid fields" },
        { "\"nouveau\"", "\"../nouveau\"", "leases[0].devices[0]: missing or invalid fields" },
        { "\"bridge\":false", "\"bridge\":false,\"vfio_driver\":\"../vfio\"",
          "leases[0].devices[0]: missing or invalid fields" },
        { "\"bridge\":false", "\"bridge\":false,\"vfio_driver\":null",
          "leases[0].devices[0]: missing or invalid fields" },
        { "\"holder\":null",
          "\"holder\":\":1.1\",\"holder_bus_id\":\"xyz\",\"holder_start_time\":1",
          "leases[0]: invalid holder_bus_id or holder_start_time" },
        { "\"reason\":null", "\"reason\":null,\"granted_uid\":-1",
          "leases[0].granted_uid: invalid" },
        { "\"persistent\":false", "\"persistent\":false,\"unsafe_interrupts\":1",
          "leases[0].unsafe_interrupts: not a boolean" },
        { "\"holder\":null", "\"holder\":null,\"owner\":\"\"",
          "leases[0].owner: not an owner key" },
        { "\"holder\":null", "\"holder\":null,\"owner\":\"k8s:a b\"",
          "leases[0].owner: not an owner key" },
        { "\"holder\":null", "\"holder\":null,\"owner\":7", "leases[0].owner: not an owner key" },
};

static char *spoil(const char *base, const char *from, const char *to) {
        const char *at;

        if (!from)
                return strndup(base, strlen(base) / 2);
        at = strstr(base, from);
        ck_assert_ptr_nonnull(at);
        return xasprintf("%.*s%s%s", (int) (at - base), base, to, at + strlen(from));
}

/* The base is valid, so each case fails for the reason it names. */
START_TEST(test_state_base_is_valid) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, run_dir), *error = NULL;
        Lease **loaded = NULL;
        StateGlobals g;
        size_t n = 0;

        ck_assert_int_eq(mkdir(run_dir, 0700), 0);
        fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        write_text(path, STATE_BASE, 0600);
        ck_assert_int_eq(state_load(fd, &loaded, &n, &g, &error), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(loaded[0]->devices[0].original_driver, "nouveau");
        lease_free(loaded[0]);
        free(loaded);
}
END_TEST

/* A state file that cannot be read: a clear error, the outputs untouched; at a restart the file
 * is kept aside for a human and the tree is left alone (what it said is unknown). */
START_TEST(test_corrupt_state_file) {
        _cleanup_(restart_clear) Restart r = {};
        _cleanup_free_ char *text = spoil(STATE_BASE, corrupt_states[_i].from,
                                          corrupt_states[_i].to);
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, run_dir), *error = NULL,
                            *kept = NULL;
        _cleanup_free_ char *aside = NULL, *want = NULL;
        LeaseRequest claim = claim_request(GPU_GROUP);
        Lease **sentinel = (Lease **) &r, **loaded = sentinel;
        StateGlobals g = { .next_id = 77 };
        size_t n = 77;
        _cleanup_close_ int dir_fd = -1;
        LeaseSet *s = set_open();

        set_acquire(s, &claim);
        s = lease_set_free(s);
        write_text(path, text, 0600);

        dir_fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dir_fd, 0);
        ck_assert_int_eq(state_load(dir_fd, &loaded, &n, &g, &error), -EBADMSG);
        ck_assert_msg(streq_ptr(error, corrupt_states[_i].error), "error \"%s\", not \"%s\"",
                      strna(error), corrupt_states[_i].error);
        ck_assert_ptr_eq(loaded, sentinel);
        ck_assert_uint_eq(n, 77);
        ck_assert_uint_eq(g.next_id, 77);

        s = set_restart(&r, 0);
        want = xasprintf("state: %s; moved aside to " STATE_FILE ".corrupt", error);
        ck_assert_ptr_nonnull(r.log);
        ck_assert_str_eq(r.log[0], want);
        ck_assert_uint_eq(s->n, 0);
        ck_assert_uint_eq(r.n_adopted, 0);
        assert_gpu_group_on_vfio();
        aside = xasprintf("%s/" STATE_FILE ".corrupt", run_dir);
        kept = read_text(aside);
        ck_assert_str_eq(kept, text);
        ck_assert_uint_eq(state_n_leases(), 0);
        lease_set_free(s);
}
END_TEST

/* A state file someone else could have written is neither acted on nor moved aside: the start
 * fails with a message naming it, and nothing changes. */
START_TEST(test_untrusted_state_file) {
        _cleanup_(restart_clear) Restart r = {};
        _cleanup_free_ char *path = xasprintf("%s/" STATE_FILE, run_dir),
                            *real = xasprintf("%s/real.json", run_dir);
        _cleanup_free_ char *before = NULL, *after = NULL, *error = NULL, *aside = NULL;
        _cleanup_close_ int dir_fd = -1;
        LeaseRequest claim = claim_request(GPU_GROUP);
        Lease **loaded = NULL;
        StateGlobals g;
        size_t n = 0;
        LeaseSet *s = set_open();

        set_acquire(s, &claim);
        s = lease_set_free(s);
        ck_assert_int_eq(chmod(path, 0644), 0);
        before = read_text(path);

        dir_fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dir_fd, 0);
        ck_assert_int_eq(state_load(dir_fd, &loaded, &n, &g, &error), -EPERM);
        ck_assert_str_eq(error, STATE_FILE
                         " can be read or written by group or others (state files are 0600) "
                         "(owner uid 0, mode 0644): refusing to trust it");

        s = set_restart(&r, -EPERM);
        ck_assert_uint_eq(strv_length(r.log), 1);
        assert_log_has(r.log, "state: " STATE_FILE " can be read or written by group or others");
        ck_assert_uint_eq(s->n, 0);
        s = lease_set_free(s);
        after = read_text(path);
        ck_assert_str_eq(after, before);
        aside = xasprintf("%s/" STATE_FILE ".corrupt", run_dir);
        ck_assert_int_eq(access(aside, F_OK), -1);
        assert_gpu_group_on_vfio();

        /* A symbolic link in its place is not followed. */
        ck_assert_int_eq(rename(path, real), 0);
        ck_assert_int_eq(chmod(real, 0600), 0);
        ck_assert_int_eq(symlink("real.json", path), 0);
        error = mfree(error);
        ck_assert_int_eq(state_load(dir_fd, &loaded, &n, &g, &error), -EPERM);
        ck_assert_str_eq(error, STATE_FILE " is a symbolic link: refusing to trust it");
        assert_gpu_group_on_vfio();
}
END_TEST

/* The identity a persistent prepare records (subsystem ids, group) and its VFIO driver round-trip,
 * and the early-prepare file follows; an entry of an older file has neither and loads with them
 * unknown; half a subsystem pair, a group out of range or a driver that is no name is refused. */
/* identities.json: the same records under its own name, without the udev rule's list; a file
 * that is not one is -EBADMSG with a reason naming it. */
START_TEST(test_identities_file) {
        const PersistentDevice list[] = {
                { .address = NIC,
                  .vendor = 0x8086,
                  .device = 0x1533,
                  .subsystem_known = true,
                  .subsystem_vendor = 0x15d9,
                  .subsystem_device = 0x0001,
                  .group_known = true,
                  .group = NIC_GROUP },
        };
        _cleanup_free_ char *path = xasprintf("%s/" IDENTITY_FILE, state_dir);
        _cleanup_free_ PersistentDevice *pd = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int dir_fd = -1;
        size_t n = 0;

        ck_assert_int_eq(state_open_dir(state_dir, &dir_fd, &error), 0);
        ck_assert_int_eq(identities_load(dir_fd, &pd, &n, &error), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(identities_save(dir_fd, list, ELEMENTSOF(list)), 0);
        ck_assert_int_eq(faccessat(dir_fd, PERSISTENT_FILE, F_OK, 0), -1);
        ck_assert_int_eq(faccessat(dir_fd, EARLY_PREPARE_FILE, F_OK, 0), -1);
        ck_assert_int_eq(identities_load(dir_fd, &pd, &n, &error), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(memcmp(&pd[0], &list[0], sizeof(list[0])), 0);
        pd = mfree(pd);

        ck_assert_int_eq(unlink(path), 0);
        write_text(path, "{\"version\":1,\"devices\":[{\"address\":\"" NIC "\"}]}", 0600);
        ck_assert_int_eq(identities_load(dir_fd, &pd, &n, &error), -EBADMSG);
        ck_assert_str_eq(error, IDENTITY_FILE ": devices[0]: missing or invalid fields");
}
END_TEST

START_TEST(test_persistent_identity_fields) {
        const PersistentDevice list[] = {
                { .address = NIC,
                  .vendor = 0x8086,
                  .device = 0x1533,
                  .subsystem_known = true,
                  .subsystem_vendor = 0x15d9,
                  .subsystem_device = 0x0000,
                  .group_known = true,
                  .group = NIC_GROUP,
                  .vfio_driver = "igb_vfio_pci" },
                { .address = GPU, .vendor = 0x10de, .device = 0x1b80 },
        };
        static const char *const bad_entries[] = {
                "\"subsystem_vendor\":\"0x15d9\"",
                "\"subsystem_vendor\":\"0x15d9\",\"subsystem_device\":\"0x10000\"",
                "\"subsystem_vendor\":\"0x15d9\",\"subsystem_device\":7",
                "\"group\":-1",
                "\"group\":4294967296",
                "\"group\":\"3\"",
                "\"vfio_driver\":\"../vfio-pci\"",
                "\"vfio_driver\":\"a_name_longer_than_the_sixty_three_bytes_a_driver_name_may_be_here\"",
        };
        _cleanup_free_ char *path = xasprintf("%s/" PERSISTENT_FILE, state_dir);
        _cleanup_free_ char *early_path = xasprintf("%s/" EARLY_PREPARE_FILE, state_dir);
        _cleanup_free_ char *early = NULL;
        _cleanup_free_ PersistentDevice *pd = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int dir_fd = -1;
        size_t n = 0;

        ck_assert_int_eq(state_open_dir(state_dir, &dir_fd, &error), 0);
        ck_assert_int_eq(persistent_save(dir_fd, list, ELEMENTSOF(list)), 0);
        ck_assert_int_eq(persistent_load(dir_fd, &pd, &n, &error), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert(pd[0].subsystem_known && pd[0].group_known);
        ck_assert_uint_eq(pd[0].subsystem_vendor, 0x15d9);
        ck_assert_uint_eq(pd[0].subsystem_device, 0x0000);
        ck_assert_uint_eq(pd[0].group, NIC_GROUP);
        ck_assert_str_eq(pd[0].vfio_driver, "igb_vfio_pci");
        ck_assert(!pd[1].subsystem_known && !pd[1].group_known);
        ck_assert_uint_eq(pd[1].vendor, 0x10de);
        ck_assert_uint_eq(pd[1].device, 0x1b80);
        ck_assert_str_eq(pd[1].vfio_driver, "");
        pd = mfree(pd);
        /* The udev rule's list follows: the ids, "*" where none were recorded, the driver. */
        early = read_text(early_path);
        ck_assert_str_eq(
                early, "# vfio-assignd's persistent prepares, for its udev rule (vfio-assignd(8), "
                       "EARLY\n# PREPARE). Written by the daemon whenever they change: do not "
                       "edit.\n# address vendor device subsystem_vendor subsystem_device "
                       "driver\n" NIC " 8086 1533 15d9 0000 igb_vfio_pci\n" GPU
                       " 10de 1b80 * * vfio-pci\n");

        /* As an older daemon wrote it: no subsystem ids, no group. */
        write_text(path,
                   "{\"version\":1,\"devices\":[{\"address\":\"" NIC
                   "\",\"vendor\":\"0x8086\",\"device\":\"0x1533\"}]}",
                   0600);
        ck_assert_int_eq(persistent_load(dir_fd, &pd, &n, &error), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert(!pd[0].subsystem_known && !pd[0].group_known);
        ck_assert_uint_eq(pd[0].device, 0x1533);
        pd = mfree(pd);

        for (size_t i = 0; i < ELEMENTSOF(bad_entries); i++) {
                _cleanup_free_ char *text =
                        xasprintf("{\"version\":1,\"devices\":[{\"address\":\"" NIC
                                  "\",\"vendor\":\"0x8086\",\"device\":\"0x1533\",%s}]}",
                                  bad_entries[i]);

                write_text(path, text, 0600);
                error = mfree(error);
                ck_assert_msg(persistent_load(dir_fd, &pd, &n, &error) == -EBADMSG, "accepted %s",
                              bad_entries[i]);
                ck_assert_ptr_nonnull(error);
                ck_assert_msg(strneq(error, PERSISTENT_FILE ": devices[0]",
                                     strlen(PERSISTENT_FILE ": devices[0]")),
                              "%s", error);
        }
}
END_TEST

/* persistent.json that cannot be read: a clear error; the leases in state.json are still
 * settled and nothing is prepared. */
START_TEST(test_corrupt_persistent_file) {
        _cleanup_(restart_clear) Restart r = { .alive = true };
        _cleanup_free_ char *path = xasprintf("%s/" PERSISTENT_FILE, state_dir), *error = NULL;
        _cleanup_free_ PersistentDevice *sentinel = malloc(1);
        PersistentDevice *loaded = sentinel;
        _cleanup_close_ int dir_fd = -1;
        LeaseRequest claim = claim_request(GPU_GROUP);
        unsigned calls = 0;
        size_t n = 77;
        LeaseSet *s = set_open();

        set_acquire(s, &claim);
        s = lease_set_free(s);
        write_text(path,
                   "{\"version\":1,\"devices\":[{\"address\":\"" NIC
                   "\",\"vendor\":\"0x10000\",\"device\":\"0x1533\"}]}",
                   0600);
        dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dir_fd, 0);
        ck_assert_int_eq(persistent_load(dir_fd, &loaded, &n, &error), -EBADMSG);
        ck_assert_str_eq(error, PERSISTENT_FILE ": devices[0]: missing or invalid fields");
        ck_assert_ptr_eq(loaded, sentinel);
        ck_assert_uint_eq(n, 77);

        s = set_open();
        s->guard = guard_yes;
        s->guard_userdata = &calls;
        ck_assert_int_eq(lease_set_reconcile(s, on_adopt, on_alive, &r, &r.log), 0);
        ck_assert_uint_eq(strv_length(r.log), 1);
        ck_assert_str_eq(r.log[0], "persistent prepares: " PERSISTENT_FILE
                                   ": devices[0]: missing or invalid fields");
        ck_assert_uint_eq(s->n, 1);
        ck_assert_ptr_nonnull(lease_set_find_group(s, GPU_GROUP));
        ck_assert_uint_eq(calls, 0);
        assert_on_host(NIC, "igb");
        assert_gpu_group_on_vfio();
        s = lease_set_free(s);

        write_text(path, "{\"version\":1,\"devices\":[", 0600);
        error = mfree(error);
        ck_assert_int_eq(persistent_load(dir_fd, &loaded, &n, &error), -EBADMSG);
        ck_assert_str_eq(error, PERSISTENT_FILE
                         ": not valid JSON: it ends inside a value (a truncated file)");
}
END_TEST

/* Each test on a fresh world. */
static TCase *new_tcase(Suite *s, const char *name) {
        TCase *tc = tcase_create(name);

        tcase_add_checked_fixture(tc, world_setup, world_teardown);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return tc;
}

static Suite *suite(void) {
        Suite *s = suite_create("lease");
        TCase *tc;

        tc = new_tcase(s, "lease");
        tcase_add_test(tc, test_new_reads_the_group);
        tcase_add_test(tc, test_claim_binds_and_releases);
        tcase_add_test(tc, test_claim_unbound_member);
        tcase_add_test(tc, test_prepare_hands_out_nothing);
        tcase_add_loop_test(tc, test_bind_failure_rolls_back, 0, ELEMENTSOF(bind_failures));
        tcase_add_test(tc, test_failed_rollback_is_stuck);
        tcase_add_test(tc, test_claim_without_interrupt_remapping);
        tcase_add_test(tc, test_save_failure);
        tcase_add_test(tc, test_release_waits_for_other_process);
        tcase_add_test(tc, test_release_refused_is_stuck);
        tcase_add_test(tc, test_grant_access);

        tc = new_tcase(s, "set");
        tcase_add_test(tc, test_set_claim_records_every_step);
        tcase_add_test(tc, test_set_claim_needs_an_identity);
        tcase_add_test(tc, test_set_unattended_needs_the_guard);
        tcase_add_test(tc, test_set_persistent_prepare);
        tcase_add_test(tc, test_set_unsafe_interrupts);
        tcase_add_test(tc, test_reconcile_adopts_and_releases);
        tcase_add_test(tc, test_drifted_member_moved_back);
        tcase_add_test(tc, test_persistent_prepared_again);
        tcase_add_test(tc, test_persistent_all_prepared_again);

        tc = new_tcase(s, "state");
        tcase_add_test(tc, test_state_round_trip);
        tcase_add_test(tc, test_state_base_is_valid);
        tcase_add_loop_test(tc, test_corrupt_state_file, 0, ELEMENTSOF(corrupt_states));
        tcase_add_test(tc, test_untrusted_state_file);
        tcase_add_test(tc, test_corrupt_persistent_file);
        tcase_add_test(tc, test_persistent_identity_fields);
        tcase_add_test(tc, test_identities_file);

        return s;
}

int main(int argc, char *argv[]) {
        return lease_world_main(argc, argv, suite);
}
