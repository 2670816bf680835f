/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the unit tests of the policy module (test-policy.c, test-policy-backend.c) share: parsing
 * that must work or fail with given lines, hand-made devices, callers and host facts, and
 * evaluation that must not fail. */

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "policy.h"

/* Stands for "untouched" in outputs that must not change on failure (Policy is opaque here). */
extern char policy_sentinel;
#define SENTINEL ((Policy *) &policy_sentinel)

/* The error lines as one text, one line each, newline-terminated. */
char *join_lines(char **l);
/* text as "test.json", which must parse. */
Policy *parse_ok(const char *text);
/* Parses text (of the given size) as "test.json", which must fail with exactly these lines. */
void expect_errors_n(const char *text, size_t size, const char *expected);
void expect_errors(const char *text, const char *expected);
bool any_contains(char **l, const char *needle);

#define assert_reason(v, needle)                                             \
        do {                                                                 \
                _cleanup_free_ char *_j = join_lines((v)->reasons);          \
                ck_assert_msg(any_contains((v)->reasons, needle),            \
                              "no reason contains \"%s\":\n%s", needle, _j); \
        } while (0)

#define DEV(addr, ven, dev, cls)                \
        ((Device) { .address = addr,            \
                    .vendor = ven,              \
                    .device = dev,              \
                    .subsystem_vendor = 0x1458, \
                    .subsystem_device = 0x3702, \
                    .class = cls,               \
                    .ids_known = true,          \
                    .numa_node = -1,            \
                    .boot_vga = -1,             \
                    .sriov_totalvfs = -1,       \
                    .sriov_numvfs = -1,         \
                    .group = -1 })

extern const PolicyCaller ROOT, ROOT_NONAME, VMM, NONAME;
extern const PolicyCaller ALICE; /* in kvm */
extern const PolicyCaller EVE;   /* a stranger */

HostInfo host_with(IrVerdict ir, int unsafe);
void eval_device(const Policy *p, const Device *d, const PolicyCaller *c, PolicyVerdict *v);
void eval_group(const Policy *p, const Topology *t, const Group *g, const HostInfo *h,
                const PolicyCaller *c, PolicyVerdict *v);
