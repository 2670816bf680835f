/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the policy parser: parse one file; on success render it as JSON and
 * evaluate it against a small made-up topology for a few callers and host facts. The error
 * contract is checked too: failure means at least one line, each naming the file.
 * Seed corpus: tests/fuzz/corpus/policy/ (the files of tests/policy/good/ and policy/). */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "macro.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.json"

static char *members[] = { (char *) "0000:00:01.0", (char *) "0000:01:00.0",
                           (char *) "0000:01:00.1", NULL };
static char *groups[] = { (char *) "kvm", (char *) "users", NULL };
static char *reasons[] = { (char *) "fuzzing", NULL };
static char *resets[] = { (char *) "flr", NULL };

static void evaluate(const Policy *p) {
        Device bridge = { .address = "0000:00:01.0",
                          .vendor = 0x8086,
                          .class = 0x060400,
                          .ids_known = true,
                          .bridge = true,
                          .group = 1,
                          .numa_node = -1,
                          .boot_vga = -1 };
        Device gpu = { .address = "0000:01:00.0",
                       .vendor = 0x10de,
                       .device = 0x1b80,
                       .class = 0x030000,
                       .ids_known = true,
                       .driver = (char *) "nouveau",
                       .group = 1,
                       .numa_node = 0,
                       .boot_vga = 1,
                       .reset_methods = resets };
        Device vf = { .address = "0000:01:00.1",
                      .vendor = 0x8086,
                      .device = 0x154c,
                      .class = 0x020000,
                      .ids_known = true,
                      .physfn = (char *) "0000:3b:00.0",
                      .group = 1,
                      .numa_node = 1,
                      .boot_vga = -1,
                      .host_critical = (char *) "default route" };
        Device *devices[] = { &bridge, &gpu, &vf };
        Blocker blocker = { .code = (char *) "no-reset",
                            .device = (char *) "0000:01:00.1",
                            .reason = (char *) "no reset" };
        Topology t = { .devices = devices, .n_devices = ELEMENTSOF(devices) };
        Group g = { .id = 1, .devices = members, .blockers = &blocker, .n_blockers = 1 };
        PolicyCaller callers[] = {
                { .uid = 0, .user = "root" },
                { .uid = 1000, .user = "vmm", .groups = groups },
                { .uid = 1001 },
        };

        for (size_t c = 0; c < ELEMENTSOF(callers); c++)
                for (int ir = IR_ENABLED; ir <= IR_UNKNOWN; ir++) {
                        HostInfo h = { .ir = (IrVerdict) ir,
                                       .ir_reasons = reasons,
                                       .unsafe_interrupts = (int) c - 1,
                                       .iommufd_unsafe_interrupts = -1 };
                        PolicyVerdict v = POLICY_VERDICT_INIT;

                        if (policy_evaluate_group(p, &t, &g, &h, &callers[c], &v) == 0) {
                                /* A verdict always says why; a denial has a code. */
                                if (!v.reasons || v.allowed != (v.code == POLICY_DENY_NONE))
                                        abort();
                                policy_verdict_clear(&v);
                        }
                        if (policy_evaluate_device(p, devices[ir % 3], &callers[c], &v) == 0)
                                policy_verdict_clear(&v);
                }
        for (size_t i = 0; i < ELEMENTSOF(devices); i++)
                (void) policy_prepare_at_boot(p, devices[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char **errors = NULL;
        Policy *p = NULL;
        json_object *j = NULL;
        int r;

        r = policy_parse_file(NAME, (const char *) data, size, &p, &errors);
        if (r < 0) {
                if (p)
                        abort();
                if (r == -EINVAL) {
                        if (!errors || !errors[0])
                                abort();
                        for (char **e = errors; *e; e++)
                                if (!strneq(*e, NAME, strlen(NAME)) && !strneq(*e, "... and ", 8))
                                        abort();
                }
                strv_free(errors);
                return 0;
        }
        if (errors || !p)
                abort();
        if (policy_to_json(p, &j) == 0) {
                (void) json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
                json_object_put(j);
        }
        evaluate(p);
        policy_free(p);
        return 0;
}
