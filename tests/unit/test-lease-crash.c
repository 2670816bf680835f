/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kill -9 at each state a claim records in state.json (binding, active, releasing, stuck), for
 * each backend, on the workstation sample host with iommufd under the kernel model
 * (lease-world.c). A crash helper (this program, run with --crash-helper) claims the GPU group and
 * is killed with SIGKILL inside a hanging write of a member (the model's "hang"), or, with
 * iommufd, inside the open of a member's cdev with the iommufd open ("cdev-open-hang"), exactly as
 * a daemon killed there leaves things; a new lease set then reconciles as a restarted daemon
 * does. Each time state.json names the backend, and afterwards the whole group is back on its
 * host drivers, reset, with no override, no node and no lease left, or a claim whose holder lives
 * is kept with its backend. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json-util.h"
#include "lease-world.h"
#include "../mock/mock-observe.h"
#include "names.h"
#include "state.h"
#include "util.h"

static const char *const hang_faults[] = { GPU " hang 60\n", AUDIO " hang 60\n" };
static const char *const backends[] = { "type1", "iommufd" };

/* Loop tests run each backend (the index's high part) in two variants (its low bit): the
 * member that hangs (0: the GPU, 1: the audio function), or whether the holder lives. */
#define BACKEND(i) backends[(i) / 2]
#define HANG(i) ((int) ((i) % 2))
#define N_CASES (ELEMENTSOF(backends) * 2)

static void assert_state_backend(const char *want) {
        _cleanup_json_ json_object *state = read_json(run_dir, STATE_FILE);

        ck_assert_str_eq(jstr(state_only_lease(state), "backend"), want);
}

static void crash_setup(void) {
        world_setup();
        world_enable_iommufd();
}

/* SIGKILL while a member is being bound. */
START_TEST(test_crash_while_binding) {
        pid_t pid;

        faults(hang_faults[HANG(_i)]);
        pid = spawn_helper("claim", BACKEND(_i), NULL);
        kill_at(pid, "binding", HANG(_i));
        assert_state_backend(BACKEND(_i));
        /* Half moved, as the daemon left it. */
        if (HANG(_i) == 0)
                assert_driver(GPU, "nouveau");
        else
                assert_driver(GPU, DRIVER_VFIO_PCI);
        assert_driver(AUDIO, "snd_hda_intel");
        restart_gives_back("binding");
}
END_TEST

static const char *const cdev_hangs[] = { GPU " cdev-open-hang 60\n",
                                          AUDIO " cdev-open-hang 60\n" };

/* The backend is being opened: the open of that member's cdev hangs. */
static bool in_backend_open(const void *data) {
        return mock_is_hanging(root, data);
}

/* SIGKILL inside the iommufd backend's open: the whole group is on vfio-pci, state.json still
 * says "binding"; the kernel closed the helper's iommufd and cdevs, and the restart opens them
 * again to reset the members before it gives the group back. */
START_TEST(test_crash_in_iommufd_open) {
        pid_t pid;

        faults(cdev_hangs[_i]);
        pid = spawn_helper("claim", "iommufd", NULL);
        wait_until(pid, in_backend_open, _i == 0 ? GPU : AUDIO, "the open of a cdev");
        ck_assert(mock_iommufd_context_exists(root));
        kill_helper(pid);
        ck_assert(state_says("binding"));
        assert_state_backend("iommufd");
        assert_gpu_group_on_vfio();
        restart_gives_back("binding");
}
END_TEST

/* SIGKILL with the claim active. A holder still there keeps it, with its backend and no fds
 * (they went with the process; systemd's fd store is not here), until it is released; a holder
 * that is gone has the group given back at once. */
START_TEST(test_crash_while_active) {
        _cleanup_(restart_clear) Restart r = { .alive = _i % 2 == 1 };
        const char *backend = BACKEND(_i);
        LeaseError err = {};
        LeaseSet *s;
        Lease *l;
        int go = -1;
        pid_t pid;

        pid = spawn_helper("release", backend, &go);
        wait_point(pid, "active", -1);
        kill_helper(pid);
        safe_close(go);
        assert_state_backend(backend);
        assert_gpu_group_on_vfio();

        s = set_restart(&r, 0);
        ck_assert_uint_eq(r.n_adopted, 1);
        if (!r.alive) {
                assert_log_has(r.log, "lease 1 on IOMMU group 7 was active and its holder is "
                                      "gone: giving it back");
                ck_assert_uint_eq(s->n, 0);
        } else {
                ck_assert_uint_eq(s->n, 1);
                l = lease_set_find_group(s, GPU_GROUP);
                ck_assert_int_eq(l->state, LEASE_ACTIVE);
                ck_assert_str_eq(l->backend->ops->name, backend);
                ck_assert_int_eq(lease_can_hand_out_fds(l, &err), -ESTALE);
                assert_contains(err.message, "did not survive a restart");
                lease_error_clear(&err);
                assert_state_backend(backend);
                assert_gpu_group_on_vfio();
                set_release(s, l);
        }
        assert_gpu_group_on_host();
        ck_assert(was_reset(GPU) && was_reset(AUDIO));
        ck_assert_uint_eq(state_n_leases(), 0);
        lease_set_free(s);
}
END_TEST

/* SIGKILL while a member is being given back (the backend's fds are closed by then: a member
 * cannot leave vfio-pci while they are open). */
START_TEST(test_crash_while_releasing) {
        int go = -1;
        pid_t pid;

        pid = spawn_helper("release", BACKEND(_i), &go);
        wait_point(pid, "active", -1);
        assert_gpu_group_on_vfio();
        faults(hang_faults[HANG(_i)]);
        ck_assert_int_eq(write(go, "x", 1), 1);
        kill_at(pid, "releasing", HANG(_i));
        safe_close(go);
        assert_state_backend(BACKEND(_i));
        if (HANG(_i) == 0)
                assert_driver(GPU, DRIVER_VFIO_PCI);
        else
                assert_on_host(GPU, "nouveau");
        assert_driver(AUDIO, DRIVER_VFIO_PCI);
        restart_gives_back("releasing");
}
END_TEST

/* SIGKILL with the group stuck: the restart retries, keeps the lease and its backend while the
 * member still refuses (never drops it; the member stays bound, never driverless), and gives the
 * group back once it can. */
START_TEST(test_crash_while_stuck) {
        _cleanup_(restart_clear) Restart r1 = { .alive = true };
        _cleanup_json_ json_object *state = NULL;
        LeaseRequest claim = claim_request(GPU_GROUP);
        LeaseError err = {};
        LeaseSet *s = set_open();
        Lease *l;

        claim.backend = vfio_backend_ops_from_name(backends[_i]);
        l = set_acquire(s, &claim);
        faults(AUDIO " refuse-release EBUSY\n");
        ck_assert_int_eq(lease_set_release(s, l, &err), -EBUSY);
        ck_assert_int_eq(l->state, LEASE_STUCK);
        s = lease_set_free(s);

        s = set_restart(&r1, 0);
        assert_log_has(r1.log, "lease 1 on IOMMU group 7 was stuck: giving it back");
        assert_log_has(r1.log,
                       "IOMMU group 7 is stuck: " AUDIO " cannot be given back to snd_hda_intel");
        ck_assert_uint_eq(s->n, 1);
        l = lease_set_find_group(s, GPU_GROUP);
        ck_assert_int_eq(l->state, LEASE_STUCK);
        ck_assert_str_eq(l->backend->ops->name, backends[_i]);
        assert_contains(l->reason, AUDIO);
        state = read_json(run_dir, STATE_FILE);
        ck_assert_str_eq(jstr(state_only_lease(state), "state"), "stuck");
        assert_state_backend(backends[_i]);
        assert_on_host(GPU, "nouveau");
        assert_driver(AUDIO, DRIVER_VFIO_PCI);
        s = lease_set_free(s);

        restart_gives_back("stuck");
        lease_error_clear(&err);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("lease-crash");
        TCase *tc = tcase_create("crash");

        /* Each test on a fresh world; they wait up to WAIT_MS for their helper. */
        tcase_add_checked_fixture(tc, crash_setup, world_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_crash_while_binding, 0, N_CASES);
        tcase_add_loop_test(tc, test_crash_in_iommufd_open, 0, ELEMENTSOF(cdev_hangs));
        tcase_add_loop_test(tc, test_crash_while_active, 0, N_CASES);
        tcase_add_loop_test(tc, test_crash_while_releasing, 0, N_CASES);
        tcase_add_loop_test(tc, test_crash_while_stuck, 0, ELEMENTSOF(backends));
        suite_add_tcase(s, tc);
        return s;
}

int main(int argc, char *argv[]) {
        return lease_world_main(argc, argv, suite);
}
