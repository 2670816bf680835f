/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The assignment policy: the Policy object and the pure evaluation (device or group, caller,
 * host facts) -> verdict with reasons. It calls neither the parser (policy-parse.c, text ->
 * Policy) nor the loader (policy-load.c, files -> Policy); the format and the evaluation order
 * are documented in vfio-assignd.policy(5). */

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "macro.h"
#include "names.h"
#include "policy-internal.h"
#include "util.h"

/* ---- objects ---- */

const char *const policy_host_key_names[_POLICY_HOST_KEY_MAX] = {
        [POLICY_HOST_REQUIRE_IR] = "require_interrupt_remapping",
        [POLICY_HOST_ALLOW_UNSAFE] = "allow_unsafe_interrupts",
        [POLICY_HOST_RESTORE_DRIVER] = "restore_driver_on_release",
        [POLICY_HOST_ON_HOLDER_EXIT] = "on_holder_exit",
        [POLICY_HOST_MAX_PINNED] = "max_pinned_bytes_per_uid",
        [POLICY_HOST_REQUIRE_RESET] = "require_reset",
};

void policy_match_init(PolicyMatch *m) {
        *m = (PolicyMatch) {
                .vendor = -1,
                .device = -1,
                .subsystem_vendor = -1,
                .subsystem_device = -1,
                .group = -1,
                .boot_vga = -1,
                .host_critical = -1,
                .numa_node = -1,
                .physfn = POLICY_PHYSFN_ANY,
        };
}

static void policy_match_done(PolicyMatch *m) {
        free(m->address);
        free(m->driver);
        free(m->physfn_glob);
}

static void policy_rule_done(PolicyRule *r) {
        free(r->description);
        policy_match_done(&r->match);
        strv_free(r->users);
        strv_free(r->groups);
        free(r->reason);
        free(r->vfio_driver);
}

static const PolicyHost host_defaults = {
        .require_interrupt_remapping = true,
        .allow_unsafe_interrupts = false,
        .restore_driver_on_release = true,
        .require_reset = false,
        .on_holder_exit = ON_HOLDER_EXIT_RELEASE,
        .max_pinned_bytes_per_uid = UINT64_MAX,
};

Policy *policy_alloc(void) {
        Policy *p = calloc(1, sizeof(Policy));

        if (!p)
                return NULL;
        p->host = host_defaults;
        for (size_t k = 0; k < _POLICY_HOST_KEY_MAX; k++)
                p->host_source[k] = -1;
        return p;
}

int policy_new_default(Policy **ret) {
        Policy *p;

        if (!ret)
                return -EINVAL;
        p = policy_alloc();
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_rules; i++)
                policy_rule_done(&p->rules[i]);
        free(p->rules);
        strv_free(p->files);
        free(p);
        return NULL;
}

const PolicyHost *policy_host(const Policy *p) {
        return p ? &p->host : &host_defaults;
}

size_t policy_n_rules(const Policy *p) {
        return p ? p->n_rules : 0;
}

char **policy_files(const Policy *p) {
        return p ? p->files : NULL;
}

bool policy_glob_has_wildcard(const char *glob) {
        return strpbrk(glob, "*?[") != NULL;
}

const char *policy_host_source(const Policy *p, const char *key) {
        if (!p || !key)
                return NULL;
        for (size_t k = 0; k < _POLICY_HOST_KEY_MAX; k++)
                if (streq(key, policy_host_key_names[k]))
                        return p->host_source[k] >= 0 ? p->files[p->host_source[k]] : NULL;
        return NULL;
}

/* ---- evaluation ---- */

static const char *ir_name(IrVerdict v) {
        /* The strings of ir_verdict_to_string() (host.c), which this pure module does not link. */
        switch (v) {
        case IR_ENABLED:
                return "enabled";
        case IR_DISABLED:
                return "disabled";
        case IR_UNSUPPORTED:
                return "unsupported";
        case IR_UNKNOWN:
                break;
        }
        return "unknown";
}

static const char *const deny_code_table[] = {
        [POLICY_DENY_NONE] = "none",
        [POLICY_DENY_RULE] = "rule",
        [POLICY_DENY_DEFAULT] = "default",
        [POLICY_DENY_HOST_CRITICAL] = "host-critical",
        [POLICY_DENY_BLOCKER] = "blocker",
        [POLICY_DENY_INTERRUPT_REMAPPING] = "interrupt-remapping",
        [POLICY_DENY_NO_RESET] = "no-reset",
        [POLICY_DENY_BACKEND_CONFLICT] = "backend-conflict",
};

const char *policy_deny_code_to_string(int code) {
        return code >= 0 && (size_t) code < ELEMENTSOF(deny_code_table) ? deny_code_table[code]
                                                                        : NULL;
}

static const char *const backend_table[_POLICY_BACKEND_MAX] = {
        [POLICY_BACKEND_ANY] = "any",
        [POLICY_BACKEND_TYPE1] = "type1",
        [POLICY_BACKEND_IOMMUFD] = "iommufd",
};

const char *policy_backend_to_string(PolicyBackend b) {
        return b >= 0 && b < _POLICY_BACKEND_MAX ? backend_table[b] : NULL;
}

void policy_verdict_clear(PolicyVerdict *v) {
        if (!v)
                return;
        free(v->backend_rule_file);
        free(v->backend_device);
        free(v->rule_file);
        free(v->device);
        strv_free(v->reasons);
        strv_free(v->denials);
        free(v->ir_denial_key);
        *v = POLICY_VERDICT_INIT;
}

static bool glob_matches(const char *glob, const char *s) {
        return s && fnmatch(glob, s, 0) == 0;
}

/* Every criterion present must hold; absent ones (NULL, -1) hold for any device. Unknown
 * device facts (no group, no NUMA node, unbound) match no value. */
static bool match_device(const PolicyMatch *m, const Device *d) {
        if (m->address && !glob_matches(m->address, d->address))
                return false;
        if (m->vendor >= 0 && d->vendor != m->vendor)
                return false;
        if (m->device >= 0 && d->device != m->device)
                return false;
        if (m->subsystem_vendor >= 0 && d->subsystem_vendor != m->subsystem_vendor)
                return false;
        if (m->subsystem_device >= 0 && d->subsystem_device != m->subsystem_device)
                return false;
        /* The class is 24 bits: base class, sub-class, programming interface (PCI Local Bus
         * spec 6.2.1); 2 or 4 digits compare the leading byte(s) only. */
        if (m->class_digits > 0 &&
            ((d->class & 0xffffffu) >> (24 - 4 * m->class_digits)) != m->class_prefix)
                return false;
        if (m->group >= 0 && d->group != m->group)
                return false;
        if (m->driver && !(d->driver && streq(d->driver, m->driver)))
                return false;
        if (m->boot_vga >= 0 && (d->boot_vga == 1) != (m->boot_vga == 1))
                return false;
        if (m->host_critical >= 0 && (d->host_critical != NULL) != (m->host_critical == 1))
                return false;
        if (m->numa_node >= 0 && d->numa_node != m->numa_node)
                return false;
        switch (m->physfn) {
        case POLICY_PHYSFN_ANY:
                break;
        case POLICY_PHYSFN_VF:
                if (!d->physfn)
                        return false;
                break;
        case POLICY_PHYSFN_NOT_VF:
                if (d->physfn)
                        return false;
                break;
        case POLICY_PHYSFN_GLOB:
                if (!glob_matches(m->physfn_glob, d->physfn))
                        return false;
                break;
        }
        return true;
}

/* A rule names a device explicitly when it cannot have matched it by accident. */
static bool rule_names_device(const PolicyRule *r, const Device *d) {
        if (r->match.host_critical == 1)
                return true;
        return r->match.address && !policy_glob_has_wildcard(r->match.address) &&
               streq(r->match.address, d->address);
}

/* Names, not ids: the bus glue resolves the caller's uid and groups before asking. */
static bool rule_applies_to(const PolicyRule *r, const PolicyCaller *c) {
        if (!r->users && !r->groups)
                return true;
        if (c->user && strv_contains(r->users, c->user))
                return true;
        for (char *const *g = c->groups; g && *g; g++)
                if (strv_contains(r->groups, *g))
                        return true;
        return false;
}

static void caller_name(const PolicyCaller *c, char buf[static 64]) {
        if (c->user)
                snprintf(buf, 64, "user %.32s (uid %" PRIu32 ")", c->user, c->uid);
        else
                snprintf(buf, 64, "uid %" PRIu32, c->uid);
}

static int add_reason(PolicyVerdict *v, const char *fmt, ...) _printf_(2, 3);
static int add_reason(PolicyVerdict *v, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = strv_extendv(&v->reasons, fmt, ap);
        va_end(ap);
        return k;
}

/* Records a denial; the first one decides code, device and rule. */
static int verdict_deny(PolicyVerdict *v, int code, const char *device, const char *rule_file,
                        int rule_index) {
        size_t n = strv_length(v->reasons);
        char *f = NULL, *d = NULL;

        /* Every denial is recorded right after its reason. */
        if (n > 0 && strv_extend(&v->denials, v->reasons[n - 1]) < 0)
                return -ENOMEM;
        if (v->code != POLICY_DENY_NONE)
                return 0;
        if ((rule_file && !(f = strdup(rule_file))) || (device && !(d = strdup(device)))) {
                free(f);
                return -ENOMEM;
        }
        free(v->rule_file);
        free(v->device);
        v->rule_file = f;
        v->rule_index = rule_file ? rule_index : -1;
        v->device = d;
        v->code = code;
        v->allowed = false;
        return 0;
}

/* First match wins; rules for other callers are skipped, not a stop. */
static const PolicyRule *first_rule(const Policy *p, const Device *d, const PolicyCaller *c) {
        for (size_t i = 0; i < p->n_rules; i++)
                if (rule_applies_to(&p->rules[i], c) && match_device(&p->rules[i].match, d))
                        return &p->rules[i];
        return NULL;
}

/* One device into a fresh verdict v. */
static int device_verdict(const Policy *p, const Device *d, const PolicyCaller *c,
                          PolicyVerdict *v) {
        const PolicyRule *rule = first_rule(p, d, c);
        const char *file = rule ? p->files[rule->file] : NULL;
        int index = rule ? (int) rule->index : -1;
        char who[64];

        caller_name(c, who);
        if (rule && rule->action == POLICY_ACTION_DENY) {
                const char *why = rule->reason ?: rule->description;

                if (add_reason(v, "%s is denied for %s by rule %s#%d%s%s", d->address, who, file,
                               index, why ? ": " : "", strempty(why)) < 0)
                        return -ENOMEM;
                return verdict_deny(v, POLICY_DENY_RULE, d->address, file, index);
        }
        if (!rule && c->uid != 0) {
                if (add_reason(v,
                               "no rule matches %s for %s; without a rule only root may claim "
                               "a device",
                               d->address, who) < 0)
                        return -ENOMEM;
                return verdict_deny(v, POLICY_DENY_DEFAULT, d->address, NULL, -1);
        }
        if (d->host_critical && !(rule && rule_names_device(rule, d))) {
                int k;

                if (rule)
                        k = add_reason(v,
                                       "%s is needed by the host (%s) and rule %s#%d does not "
                                       "name it explicitly (with \"host_critical\": true or its "
                                       "exact address)",
                                       d->address, d->host_critical, file, index);
                else
                        k = add_reason(v,
                                       "%s is needed by the host (%s) and no rule names it "
                                       "explicitly (with \"host_critical\": true or its exact "
                                       "address)",
                                       d->address, d->host_critical);
                if (k < 0)
                        return -ENOMEM;
                return verdict_deny(v, POLICY_DENY_HOST_CRITICAL, d->address, file, index);
        }
        if (rule) {
                bool pin = rule->backend != POLICY_BACKEND_ANY;

                if (add_reason(v, "%s is allowed for %s by rule %s#%d%s%s%s%s%s%s", d->address, who,
                               file, index, rule->description ? " (\"" : "",
                               strempty(rule->description), rule->description ? "\")" : "",
                               pin ? ", which pins the " : "",
                               pin ? policy_backend_to_string(rule->backend) : "",
                               pin ? " backend" : "") < 0)
                        return -ENOMEM;
                v->rule_file = strdup(file);
                if (!v->rule_file)
                        return -ENOMEM;
                v->rule_index = index;
                if (pin) {
                        v->backend_rule_file = strdup(file);
                        v->backend_device = strdup(d->address);
                        if (!v->backend_rule_file || !v->backend_device)
                                return -ENOMEM;
                        v->backend = rule->backend;
                        v->backend_rule_index = index;
                }
        } else {
                int k = add_reason(v, "no rule matches %s; root may claim it by default",
                                   d->address);

                if (k < 0)
                        return -ENOMEM;
        }
        v->allowed = true;
        return 0;
}

int policy_evaluate_device(const Policy *p, const Device *d, const PolicyCaller *c,
                           PolicyVerdict *ret) {
        _cleanup_(policy_verdict_clear) PolicyVerdict v = POLICY_VERDICT_INIT;
        int r;

        if (!p || !d || !c || !ret)
                return -EINVAL;
        r = device_verdict(p, d, c, &v);
        if (r < 0)
                return r;
        *ret = v;
        v = POLICY_VERDICT_INIT;
        return 0;
}

/* Linear: groups are small, and this module must not rely on the topology's sort order. */
static const Device *find_device(const Topology *t, const char *address) {
        for (size_t i = 0; i < t->n_devices; i++)
                if (streq(t->devices[i]->address, address))
                        return t->devices[i];
        return NULL;
}

static char *strv_join_semicolon(char *const *l) {
        size_t n = 1;
        char *s, *p;

        for (char *const *i = l; i && *i; i++)
                n += strlen(*i) + 2;
        s = malloc(n);
        if (!s)
                return NULL;
        p = s;
        *p = 0;
        for (char *const *i = l; i && *i; i++)
                p = stpcpy(stpcpy(p, i == l ? "" : "; "), *i);
        return s;
}

/* The interrupt-remapping gate. Without remapping, a device can write MSI messages of its
 * choosing and inject interrupts into the host (the reason vfio_iommu_type1 refuses such
 * groups unless allow_unsafe_interrupts is set, drivers/vfio/vfio_iommu_type1.c). */
static int ir_gate(const Policy *p, const HostInfo *h, PolicyVerdict *v) {
        const char *source = policy_host_source(p, "allow_unsafe_interrupts");
        bool ir_ok = h->ir == IR_ENABLED;
        bool already = h->unsafe_interrupts > 0 || h->iommufd_unsafe_interrupts > 0;
        _cleanup_free_ char *details = NULL;

        if (ir_ok && !already)
                return 0;
        details = strv_join_semicolon(h->ir_reasons);
        if (!details)
                return -ENOMEM;

        if (!p->host.require_interrupt_remapping) {
                if (ir_ok || !p->host.allow_unsafe_interrupts || h->unsafe_interrupts > 0)
                        return 0;
                v->set_unsafe_interrupts = true;
                return add_reason(v,
                                  "interrupt remapping is %s (%s); "
                                  "host.require_interrupt_remapping is false and "
                                  "host.allow_unsafe_interrupts is true (set in %s): "
                                  "vfio_iommu_type1.allow_unsafe_interrupts will be set when the "
                                  "group is claimed",
                                  ir_name(h->ir), isempty(details) ? "no details" : details,
                                  strna(source));
        }

        if (!p->host.allow_unsafe_interrupts) {
                int k;

                if (!ir_ok)
                        k = add_reason(v,
                                       "interrupt remapping is %s (%s): without it a device "
                                       "given to a VM can forge interrupts to attack the host, and "
                                       "the policy requires it (host.require_interrupt_remapping); "
                                       "to accept that risk set host.allow_unsafe_interrupts to "
                                       "true",
                                       ir_name(h->ir), isempty(details) ? "no details" : details);
                else
                        k = add_reason(v,
                                       "the kernel already accepts unsafe interrupts "
                                       "(vfio_iommu_type1.allow_unsafe_interrupts=%d, "
                                       "iommufd.allow_unsafe_interrupts=%d) and the policy does "
                                       "not: clear the module parameter or set "
                                       "host.allow_unsafe_interrupts to true",
                                       h->unsafe_interrupts, h->iommufd_unsafe_interrupts);
                if (k < 0)
                        return -ENOMEM;
                free(v->ir_denial_key);
                v->ir_denial_key = strdup("host.allow_unsafe_interrupts");
                if (!v->ir_denial_key)
                        return -ENOMEM;
                return verdict_deny(v, POLICY_DENY_INTERRUPT_REMAPPING, NULL, NULL, -1);
        }

        if (ir_ok)
                return add_reason(v,
                                  "the kernel already accepts unsafe interrupts "
                                  "(vfio_iommu_type1.allow_unsafe_interrupts=%d, "
                                  "iommufd.allow_unsafe_interrupts=%d); accepted because "
                                  "host.allow_unsafe_interrupts is true (set in %s)",
                                  h->unsafe_interrupts, h->iommufd_unsafe_interrupts,
                                  strna(source));
        v->set_unsafe_interrupts = h->unsafe_interrupts <= 0;
        return add_reason(v,
                          "interrupt remapping is %s (%s); allowed only because "
                          "host.allow_unsafe_interrupts is true (set in %s): "
                          "vfio_iommu_type1.allow_unsafe_interrupts %s, and a device in the VM can "
                          "forge interrupts to attack the host",
                          ir_name(h->ir), isempty(details) ? "no details" : details, strna(source),
                          v->set_unsafe_interrupts ? "will be set when the group is claimed"
                                                   : "is already set in the kernel");
}

/* A group is claimed with one backend: the first pin among its members' rules is the group's,
 * and a rule pinning another one denies it. */
static int merge_backend(PolicyVerdict *v, PolicyVerdict *dv) {
        if (dv->backend == POLICY_BACKEND_ANY || dv->backend == v->backend)
                return 0;
        if (v->backend == POLICY_BACKEND_ANY) {
                v->backend = dv->backend;
                v->backend_rule_file = TAKE_PTR(dv->backend_rule_file);
                v->backend_rule_index = dv->backend_rule_index;
                v->backend_device = TAKE_PTR(dv->backend_device);
                return 0;
        }
        if (add_reason(v,
                       "rule %s#%d pins the %s backend for %s and rule %s#%d the %s backend for "
                       "%s: the members of an IOMMU group are claimed with one backend",
                       v->backend_rule_file, v->backend_rule_index,
                       policy_backend_to_string(v->backend), v->backend_device,
                       dv->backend_rule_file, dv->backend_rule_index,
                       policy_backend_to_string(dv->backend), dv->backend_device) < 0)
                return -ENOMEM;
        return verdict_deny(v, POLICY_DENY_BACKEND_CONFLICT, dv->backend_device,
                            dv->backend_rule_file, dv->backend_rule_index);
}

static int group_members(const Policy *p, const Topology *t, const Group *g, const PolicyCaller *c,
                         PolicyVerdict *v) {
        bool decided = false;
        int r;

        for (char **a = g->devices; a && *a; a++) {
                _cleanup_(policy_verdict_clear) PolicyVerdict dv = POLICY_VERDICT_INIT;
                const Device *d = find_device(t, *a);

                /* A member that cannot be read, and a group of bridges only, are the topology's
                 * blockers ("unreadable", "no-endpoint"): group_blockers() says so. */
                if (!d || !d->ids_known)
                        continue;
                /* Bridges stay on pcieport and host bridges on the host: they are not assigned,
                 * but one the host needs keeps the group (a rule cannot name it away). */
                if (!device_is_endpoint(d)) {
                        if (!d->host_critical)
                                continue;
                        if (add_reason(v, "%s is a bridge the host needs (%s)", d->address,
                                       d->host_critical) < 0)
                                return -ENOMEM;
                        r = verdict_deny(v, POLICY_DENY_HOST_CRITICAL, d->address, NULL, -1);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = device_verdict(p, d, c, &dv);
                if (r < 0)
                        return r;
                for (char **i = dv.reasons; i && *i; i++)
                        if (strv_extend(&v->reasons, *i) < 0)
                                return -ENOMEM;
                if (!dv.allowed) {
                        r = verdict_deny(v, dv.code, dv.device, dv.rule_file, dv.rule_index);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = merge_backend(v, &dv);
                if (r < 0)
                        return r;
                if (!decided && v->code == POLICY_DENY_NONE) {
                        /* An allowed group names the rule of its first assignable member. */
                        v->rule_file = TAKE_PTR(dv.rule_file);
                        v->rule_index = dv.rule_index;
                        decided = true;
                }
        }
        return 0;
}

/* The topology's blockers describe the hardware; policy cannot make an RMRR or a missing IOMMU
 * safe, so these deny whoever asks. */
static int group_blockers(const Policy *p, const Topology *t, const Group *g, PolicyVerdict *v) {
        int r;

        for (size_t i = 0; i < g->n_blockers; i++) {
                const Blocker *b = &g->blockers[i];

                /* Handled per member above, where a rule may name the device. */
                if (streq(b->code, BLOCKER_HOST_CRITICAL))
                        continue;
                if (streq(b->code, BLOCKER_NO_RESET)) {
                        if (!p->host.require_reset)
                                continue;
                        if (add_reason(v,
                                       "group %" PRIu32 ": %s; the policy requires a reset "
                                       "(host.require_reset)",
                                       g->id, b->reason) < 0)
                                return -ENOMEM;
                        r = verdict_deny(v, POLICY_DENY_NO_RESET, b->device, NULL, -1);
                } else {
                        if (add_reason(v,
                                       "group %" PRIu32
                                       " cannot be assigned (%s): %s; no policy overrides this",
                                       g->id, b->code, b->reason) < 0)
                                return -ENOMEM;
                        r = verdict_deny(v, POLICY_DENY_BLOCKER, b->device, NULL, -1);
                }
                if (r < 0)
                        return r;
        }
        if (!p->host.require_reset)
                return 0;
        for (char **a = g->devices; a && *a; a++) {
                const Device *d = find_device(t, *a);

                if (!d || !d->ids_known || !device_is_endpoint(d) ||
                    strv_length(d->reset_methods) > 0)
                        continue;
                if (add_reason(v,
                               "%s has no reset method the kernel knows of (reset_method) and "
                               "the policy requires one (host.require_reset)",
                               d->address) < 0)
                        return -ENOMEM;
                r = verdict_deny(v, POLICY_DENY_NO_RESET, d->address, NULL, -1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Members, then blockers, then the interrupt gate: all are evaluated so the reasons are complete;
 * the first denial decides code, device and rule. */
int policy_evaluate_group(const Policy *p, const Topology *t, const Group *g, const HostInfo *host,
                          const PolicyCaller *c, PolicyVerdict *ret) {
        _cleanup_(policy_verdict_clear) PolicyVerdict v = POLICY_VERDICT_INIT;
        int r;

        if (!p || !t || !g || !host || !c || !ret)
                return -EINVAL;
        r = group_members(p, t, g, c, &v);
        if (r < 0)
                return r;
        r = group_blockers(p, t, g, &v);
        if (r < 0)
                return r;
        r = ir_gate(p, host, &v);
        if (r < 0)
                return r;
        v.allowed = v.code == POLICY_DENY_NONE;
        if (!v.allowed)
                v.set_unsafe_interrupts = false;
        *ret = v;
        v = POLICY_VERDICT_INIT;
        return 0;
}

bool policy_prepare_at_boot(const Policy *p, const Device *d) {
        if (!p || !d || !d->ids_known || !device_is_endpoint(d))
                return false;
        for (size_t i = 0; i < p->n_rules; i++) {
                const PolicyRule *r = &p->rules[i];

                if (!match_device(&r->match, d))
                        continue;
                /* Nobody could claim it: binding it to vfio-pci would only take it from the host.
                 */
                if (r->action == POLICY_ACTION_DENY && !r->users && !r->groups)
                        return false;
                if (r->prepare_at_boot && (!d->host_critical || rule_names_device(r, d)))
                        return true;
        }
        return false;
}

const char *policy_rule_address(const Policy *p, size_t i, const char **ret_file, int *ret_index) {
        const PolicyRule *r;

        if (!p || i >= p->n_rules)
                return NULL;
        r = &p->rules[i];
        if (!r->match.address || policy_glob_has_wildcard(r->match.address))
                return NULL;
        if (ret_file)
                *ret_file = p->files[r->file];
        if (ret_index)
                *ret_index = (int) r->index;
        return r->match.address;
}

bool policy_names_address(const Policy *p, const char *address, const char **ret_file,
                          int *ret_index) {
        for (size_t i = 0; i < policy_n_rules(p); i++) {
                const char *file, *a;
                int index;

                a = policy_rule_address(p, i, &file, &index);

                if (!a || !streq(a, address))
                        continue;
                if (ret_file)
                        *ret_file = file;
                if (ret_index)
                        *ret_index = index;
                return true;
        }
        return false;
}

const char *policy_vfio_driver(const Policy *p, const Device *d, const char **ret_file,
                               int *ret_index) {
        for (size_t i = 0; p && d && i < p->n_rules; i++) {
                const PolicyRule *r = &p->rules[i];

                if (r->action != POLICY_ACTION_ALLOW || !r->vfio_driver ||
                    !match_device(&r->match, d))
                        continue;
                if (ret_file)
                        *ret_file = p->files[r->file];
                if (ret_index)
                        *ret_index = (int) r->index;
                return r->vfio_driver;
        }
        return NULL;
}

/* ---- JSON ---- */

static int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* null for NULL */
static int json_add_string_or_null(json_object *o, const char *key, const char *s) {
        json_object *v = NULL;

        if (s && !(v = json_object_new_string(s)))
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int json_add_strv_or_null(json_object *o, const char *key, char *const *l) {
        json_object *a;

        if (!l)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (char *const *i = l; *i; i++) {
                json_object *s = json_object_new_string(*i);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return -ENOMEM;
                }
        }
        return json_add(o, key, a);
}

static int json_add_id(json_object *o, const char *key, int32_t id) {
        char buf[16];

        if (id < 0)
                return 0;
        snprintf(buf, sizeof(buf), "0x%04x", (unsigned) (uint16_t) id);
        return json_add(o, key, json_object_new_string(buf));
}

/* The match in the file's own syntax, so `policy status` output can be pasted back. */
static json_object *match_to_json(const PolicyMatch *m) {
        json_object *o = json_object_new_object();
        int k = 0;

        if (!o)
                return NULL;
        if (m->address)
                k |= json_add(o, "address", json_object_new_string(m->address));
        k |= json_add_id(o, "vendor", m->vendor);
        k |= json_add_id(o, "device", m->device);
        k |= json_add_id(o, "subsystem_vendor", m->subsystem_vendor);
        k |= json_add_id(o, "subsystem_device", m->subsystem_device);
        if (m->class_digits > 0) {
                char buf[sizeof("0x000000*")];

                snprintf(buf, sizeof(buf), "0x%0*" PRIx32 "%s", (int) m->class_digits,
                         m->class_prefix, m->class_digits < 6 ? "*" : "");
                k |= json_add(o, "class", json_object_new_string(buf));
        }
        if (m->group >= 0)
                k |= json_add(o, "group", json_object_new_int64(m->group));
        if (m->driver)
                k |= json_add(o, "driver", json_object_new_string(m->driver));
        if (m->boot_vga >= 0)
                k |= json_add(o, "boot_vga", json_object_new_boolean(m->boot_vga));
        if (m->host_critical >= 0)
                k |= json_add(o, "host_critical", json_object_new_boolean(m->host_critical));
        if (m->numa_node >= 0)
                k |= json_add(o, "numa_node", json_object_new_int64(m->numa_node));
        if (m->physfn == POLICY_PHYSFN_VF || m->physfn == POLICY_PHYSFN_NOT_VF)
                k |= json_add(o, "physfn", json_object_new_boolean(m->physfn == POLICY_PHYSFN_VF));
        else if (m->physfn == POLICY_PHYSFN_GLOB)
                k |= json_add(o, "physfn", json_object_new_string(m->physfn_glob));
        if (k != 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static json_object *rule_to_json(const Policy *p, const PolicyRule *r) {
        json_object *o = json_object_new_object();
        int k = 0;

        if (!o)
                return NULL;
        k |= json_add(o, "file", json_object_new_string(p->files[r->file]));
        k |= json_add(o, "index", json_object_new_int64(r->index));
        k |= json_add_string_or_null(o, "description", r->description);
        k |= json_add(o, "action",
                      json_object_new_string(r->action == POLICY_ACTION_ALLOW ? "allow" : "deny"));
        k |= json_add(o, "match", match_to_json(&r->match));
        k |= json_add_strv_or_null(o, "users", r->users);
        k |= json_add_strv_or_null(o, "groups", r->groups);
        k |= json_add_string_or_null(o, "reason", r->reason);
        k |= json_add(o, "prepare_at_boot", json_object_new_boolean(r->prepare_at_boot));
        k |= json_add_string_or_null(o, "backend",
                                     r->backend != POLICY_BACKEND_ANY
                                             ? policy_backend_to_string(r->backend)
                                             : NULL);
        k |= json_add_string_or_null(o, "vfio_driver", r->vfio_driver);
        if (k != 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static json_object *host_to_json(const PolicyHost *h) {
        json_object *o = json_object_new_object();
        int k = 0;

        if (!o)
                return NULL;
        k |= json_add(o, "require_interrupt_remapping",
                      json_object_new_boolean(h->require_interrupt_remapping));
        k |= json_add(o, "allow_unsafe_interrupts",
                      json_object_new_boolean(h->allow_unsafe_interrupts));
        k |= json_add(o, "restore_driver_on_release",
                      json_object_new_boolean(h->restore_driver_on_release));
        k |= json_add(o, "on_holder_exit",
                      json_object_new_string(h->on_holder_exit == ON_HOLDER_EXIT_KEEP ? "keep"
                                                                                      : "release"));
        k |= json_add(o, "max_pinned_bytes_per_uid",
                      h->max_pinned_bytes_per_uid == UINT64_MAX
                              ? json_object_new_string("unlimited")
                              : json_object_new_uint64(h->max_pinned_bytes_per_uid));
        k |= json_add(o, "require_reset", json_object_new_boolean(h->require_reset));
        if (k != 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* Absent optional values are JSON null rather than missing keys: consumers see one shape. */
int policy_to_json(const Policy *p, struct json_object **ret) {
        json_object *o, *rules, *sources;
        int k = 0;

        if (!p || !ret)
                return -EINVAL;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        k |= json_add_strv_or_null(o, "files", p->files ?: (char *[]) { NULL });
        k |= json_add(o, "host", host_to_json(&p->host));
        sources = json_object_new_object();
        if (sources)
                for (size_t i = 0; i < _POLICY_HOST_KEY_MAX; i++)
                        if (p->host_source[i] >= 0)
                                k |= json_add(sources, policy_host_key_names[i],
                                              json_object_new_string(p->files[p->host_source[i]]));
        k |= json_add(o, "host_sources", sources);
        rules = json_object_new_array();
        if (rules)
                for (size_t i = 0; i < p->n_rules && k == 0; i++) {
                        json_object *r = rule_to_json(p, &p->rules[i]);

                        if (!r || json_object_array_add(rules, r) < 0) {
                                json_object_put(r);
                                k = -ENOMEM;
                        }
                }
        k |= json_add(o, "rules", rules);
        if (k != 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}
