/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "policy.h"

struct json_object;

/* {"group": n, "user": s|null, "uid": n, "allowed": b, "code": s, "rule": {"file": s, "index": n}|null,
 *  "device": s|null, "reasons": [s], "set_unsafe_interrupts": b, "policy_key": s|null,
 *  "backend": {"name": s, "rule": {"file": s, "index": n}, "device": s}|null} */
int policy_verdict_to_json(const PolicyVerdict *v, uint32_t group, const char *user, uint32_t uid,
                           struct json_object **ret);
