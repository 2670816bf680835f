/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The policy tests' helpers (policy-world.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy-world.h"
#include "util.h"

char policy_sentinel;

char *join_lines(char **l) {
        size_t n = 1;
        char *s, *p;

        for (char **i = l; i && *i; i++)
                n += strlen(*i) + 1;
        s = malloc(n);
        ck_assert_ptr_nonnull(s);
        p = s;
        *p = 0;
        for (char **i = l; i && *i; i++)
                p = stpcpy(stpcpy(p, *i), "\n");
        return s;
}

Policy *parse_ok(const char *text) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *joined = NULL;
        Policy *p = NULL;
        int r;

        r = policy_parse_file("test.json", text, strlen(text), &p, &errors);
        joined = join_lines(errors);
        ck_assert_msg(r == 0, "parse failed (%d): %s", r, joined);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_null(errors);
        return p;
}

void expect_errors_n(const char *text, size_t size, const char *expected) {
        Policy *sentinel = SENTINEL, *p = sentinel;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *joined = NULL;
        int r;

        r = policy_parse_file("test.json", text, size, &p, &errors);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_eq(p, sentinel);
        ck_assert_ptr_nonnull(errors);
        joined = join_lines(errors);
        ck_assert_str_eq(joined, expected);

        /* Without an error list the result is the same. */
        r = policy_parse_file("test.json", text, size, &p, NULL);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_eq(p, sentinel);
}

void expect_errors(const char *text, const char *expected) {
        expect_errors_n(text, strlen(text), expected);
}

bool any_contains(char **l, const char *needle) {
        for (char **i = l; i && *i; i++)
                if (strstr(*i, needle))
                        return true;
        return false;
}

static char *root_groups[] = { (char *) "root", NULL };
static char *vmm_groups[] = { (char *) "vmm", NULL };
static char *alice_groups[] = { (char *) "alice", (char *) "kvm", (char *) "video", NULL };
static char *eve_groups[] = { (char *) "eve", (char *) "users", NULL };

const PolicyCaller ROOT = { .uid = 0, .user = "root", .groups = root_groups };
const PolicyCaller ROOT_NONAME = { .uid = 0 };
const PolicyCaller VMM = { .uid = 1000, .user = "vmm", .groups = vmm_groups };
const PolicyCaller ALICE = { .uid = 1001, .user = "alice", .groups = alice_groups };
const PolicyCaller EVE = { .uid = 1002, .user = "eve", .groups = eve_groups };
const PolicyCaller NONAME = { .uid = 1003 };

static char *ir_enabled_reasons[] = { (char *) "DMAR-IR: Enabled IRQ remapping in x2apic mode",
                                      NULL };
static char *ir_disabled_reasons[] = { (char *) "intremap=off on the kernel command line", NULL };

HostInfo host_with(IrVerdict ir, int unsafe) {
        return (HostInfo) {
                .kind = IOMMU_KIND_INTEL,
                .iommu_present = true,
                .ir = ir,
                .ir_reasons = ir == IR_ENABLED ? ir_enabled_reasons : ir_disabled_reasons,
                .unsafe_interrupts = unsafe,
                .iommufd_unsafe_interrupts = -1,
                .dma_entry_limit = 65535,
        };
}

void eval_device(const Policy *p, const Device *d, const PolicyCaller *c, PolicyVerdict *v) {
        ck_assert_int_eq(policy_evaluate_device(p, d, c, v), 0);
}

void eval_group(const Policy *p, const Topology *t, const Group *g, const HostInfo *h,
                const PolicyCaller *c, PolicyVerdict *v) {
        ck_assert_int_eq(policy_evaluate_group(p, t, g, h, c, v), 0);
}
