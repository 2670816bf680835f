/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the rtnetlink reply parser of daemon/vfnet.c: one datagram as the socket
 * gave it, read as the answer to a link request (VF 0 and VF 1) and to a set (an ack).
 * Seed corpus: tests/fuzz/corpus/vfnet/ (an RTM_NEWLINK with two VFs, an ack, an error). */
#include <stddef.h>
#include <stdint.h>

#include "vfnet-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* The seeds' sequence number and port. */
        const uint32_t seq = 41, port = 4242;
        VfNetConfig c;

        if (size > VFNET_REPLY_MAX)
                return 0;
        (void) vfnet_parse_reply(data, size, seq, port, 0, &c);
        (void) vfnet_parse_reply(data, size, seq, port, 1, &c);
        (void) vfnet_parse_reply(data, size, seq, port, 0, NULL);
        return 0;
}
