/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The pure part of vfnet.c, for its fuzz target (tests/fuzz/fuzz-vfnet.c) and unit test. */

#include <stddef.h>
#include <stdint.h>

#include "vfnet.h"

/* Replies larger than this are refused (-EMSGSIZE): an RTM_NEWLINK with IFLA_VFINFO_LIST takes
 * a few hundred bytes a VF, so this holds thousands. */
#define VFNET_REPLY_MAX (1024u * 1024u)

/* Looks in one datagram read from the socket for the answer to request seq of port portid:
 * 0 when none is there (read on); 1 for an ack with error 0, or (ret not NULL) for an
 * RTM_NEWLINK whose IFLA_VFINFO_LIST lists VF vf, parsed into *ret; the ack's error when it
 * carries one; -ENOENT when the link lists no VF vf; -EBADMSG for anything malformed. */
int vfnet_parse_reply(const uint8_t *buf, size_t len, uint32_t seq, uint32_t portid, uint32_t vf,
                      VfNetConfig *ret);
