/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>

#include "explain.h"
#include "util.h"

static int add(struct json_object *o, const char *key, struct json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_nullable(struct json_object *o, const char *key, const char *s) {
        if (!s)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return add(o, key, json_object_new_string(s));
}

int policy_verdict_to_json(const PolicyVerdict *v, uint32_t group, const char *user, uint32_t uid,
                           struct json_object **ret) {
        struct json_object *o = json_object_new_object(), *rule = NULL, *reasons;
        int k = 0;

        if (!o)
                return -ENOMEM;
        k |= add(o, "group", json_object_new_int64(group));
        k |= add_nullable(o, "user", user);
        k |= add(o, "uid", json_object_new_int64(uid));
        k |= add(o, "allowed", json_object_new_boolean(v->allowed));
        k |= add(o, "code", json_object_new_string(policy_deny_code_to_string(v->code)));
        if (v->rule_file) {
                rule = json_object_new_object();
                k |= add(o, "rule", rule);
                if (rule) {
                        k |= add(rule, "file", json_object_new_string(v->rule_file));
                        k |= add(rule, "index", json_object_new_int(v->rule_index));
                }
        } else
                k |= json_object_object_add(o, "rule", NULL) < 0 ? -ENOMEM : 0;
        k |= add_nullable(o, "device", v->device);
        reasons = json_object_new_array();
        k |= add(o, "reasons", reasons);
        for (char **r = v->reasons; reasons && r && *r; r++) {
                struct json_object *s = json_object_new_string(*r);

                if (!s || json_object_array_add(reasons, s) < 0) {
                        json_object_put(s);
                        k = -ENOMEM;
                }
        }
        k |= add(o, "set_unsafe_interrupts", json_object_new_boolean(v->set_unsafe_interrupts));
        k |= add_nullable(o, "policy_key", v->ir_denial_key);
        if (k) {
                json_object_put(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}
