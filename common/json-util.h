/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "macro.h"

static inline void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

/* All of these take v, also when they fail (json_object_object_add() leaves it with us then). */

/* NULL v is JSON null (json-c's convention). */
int json_add(json_object *o, const char *key, json_object *v);
/* For a freshly constructed v: NULL means the constructor ran out of memory, -ENOMEM. */
int json_add_new(json_object *o, const char *key, json_object *v);
/* A string, or JSON null for NULL. */
int json_add_string(json_object *o, const char *key, const char *s);
/* Appends a freshly constructed v to an array; NULL is -ENOMEM. */
int json_append_new(json_object *a, json_object *v);
