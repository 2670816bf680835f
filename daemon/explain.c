/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "explain.h"
#include "json-util.h"
#include "util.h"

/* {"file": s, "index": n} */
static json_object *rule_json(const char *file, int index) {
        json_object *rule = json_object_new_object();

        if (rule && (json_add_new(rule, "file", json_object_new_string(file)) < 0 ||
                     json_add_new(rule, "index", json_object_new_int(index)) < 0)) {
                json_object_put(rule);
                return NULL;
        }
        return rule;
}

/* {"name": s, "rule": {...}, "device": s} or null: the pin the allowing rules put on the claim. */
static int add_backend(json_object *o, const PolicyVerdict *v) {
        json_object *b;
        int k = 0;

        if (v->backend == POLICY_BACKEND_ANY || !v->backend_rule_file)
                return json_add(o, "backend", NULL);
        b = json_object_new_object();
        if (!b)
                return -ENOMEM;
        k |= json_add_new(b, "name", json_object_new_string(policy_backend_to_string(v->backend)));
        k |= json_add_new(b, "rule", rule_json(v->backend_rule_file, v->backend_rule_index));
        k |= json_add_string(b, "device", v->backend_device);
        if (k != 0) {
                json_object_put(b);
                return -ENOMEM;
        }
        return json_add(o, "backend", b);
}

int policy_verdict_to_json(const PolicyVerdict *v, uint32_t group, const char *user, uint32_t uid,
                           struct json_object **ret) {
        struct json_object *o = json_object_new_object(), *reasons;
        int k = 0;

        if (!o)
                return -ENOMEM;
        k |= json_add_new(o, "group", json_object_new_int64(group));
        k |= json_add_string(o, "user", user);
        k |= json_add_new(o, "uid", json_object_new_int64(uid));
        k |= json_add_new(o, "allowed", json_object_new_boolean(v->allowed));
        k |= json_add_new(o, "code", json_object_new_string(policy_deny_code_to_string(v->code)));
        if (v->rule_file)
                k |= json_add_new(o, "rule", rule_json(v->rule_file, v->rule_index));
        else
                k |= json_add(o, "rule", NULL);
        k |= json_add_string(o, "device", v->device);
        reasons = json_object_new_array();
        k |= json_add_new(o, "reasons", reasons);
        for (char **r = v->reasons; reasons && r && *r; r++) {
                k |= json_append_new(reasons, json_object_new_string(*r));
        }
        k |= json_add_new(o, "set_unsafe_interrupts",
                          json_object_new_boolean(v->set_unsafe_interrupts));
        k |= json_add_string(o, "policy_key", v->ir_denial_key);
        k |= add_backend(o, v);
        if (k) {
                json_object_put(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}
