/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "json-util.h"

int json_add(json_object *o, const char *key, json_object *v) {
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_add_new(json_object *o, const char *key, json_object *v) {
        return v ? json_add(o, key, v) : -ENOMEM;
}

int json_add_string(json_object *o, const char *key, const char *s) {
        return s ? json_add_new(o, key, json_object_new_string(s)) : json_add(o, key, NULL);
}

int json_append_new(json_object *a, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}
