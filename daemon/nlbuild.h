/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Builds netlink messages the way the kernel lays them out (include/uapi/linux/netlink.h:
 * NLMSG_ALIGN'ed headers; rtnetlink.h: RTA_ALIGN'ed attributes, rta_len covering the header,
 * nests as attributes whose payload is the attributes that follow), into a caller's buffer:
 * vfnet.c's requests, and the replies of the kernel model (tests/mock) and of vfnet's unit test.
 * A buffer too small sets overflow and writes nothing more. */

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct NlBuild {
        uint8_t *buf;
        size_t size, len;
        bool overflow;
} NlBuild;

/* Appends n bytes (NULL: zeros) and pads to 4; returns where they start. */
static inline size_t nlb_raw(NlBuild *b, const void *data, size_t n) {
        size_t at = b->len, padded = (n + 3) & ~(size_t) 3;

        if (b->overflow || padded > b->size - b->len) {
                b->overflow = true;
                return at;
        }
        memset(b->buf + at, 0, padded);
        if (data)
                memcpy(b->buf + at, data, n);
        b->len += padded;
        return at;
}

/* A message header; nlb_msg_end() sets its length. */
static inline size_t nlb_msg(NlBuild *b, uint16_t type, uint16_t flags, uint32_t seq,
                             uint32_t pid) {
        struct nlmsghdr h = {
                .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq, .nlmsg_pid = pid
        };

        return nlb_raw(b, &h, sizeof(h));
}

static inline void nlb_msg_end(NlBuild *b, size_t at) {
        uint32_t len = (uint32_t) (b->len - at);

        if (!b->overflow)
                memcpy(b->buf + at + offsetof(struct nlmsghdr, nlmsg_len), &len, sizeof(len));
}

static inline size_t nlb_attr(NlBuild *b, uint16_t type, const void *data, size_t n) {
        struct rtattr a = { .rta_len = (unsigned short) RTA_LENGTH(n), .rta_type = type };
        size_t at = nlb_raw(b, &a, sizeof(a));

        if (n > 0)
                (void) nlb_raw(b, data, n);
        return at;
}

static inline size_t nlb_u32(NlBuild *b, uint16_t type, uint32_t v) {
        return nlb_attr(b, type, &v, sizeof(v));
}

/* A nest: its attributes follow; nlb_nest_end() sets its length. */
static inline size_t nlb_nest(NlBuild *b, uint16_t type) {
        return nlb_attr(b, type, NULL, 0);
}

static inline void nlb_nest_end(NlBuild *b, size_t at) {
        unsigned short len = (unsigned short) (b->len - at);

        if (!b->overflow)
                memcpy(b->buf + at + offsetof(struct rtattr, rta_len), &len, sizeof(len));
}

/* An NLMSG_ERROR answer to request seq of port pid (error 0: an ack), as netlink_ack() makes
 * it with NETLINK_CAP_ACK: the request's header only. */
static inline void nlb_ack(NlBuild *b, uint32_t seq, uint32_t pid, int error,
                           const struct nlmsghdr *request) {
        struct nlmsgerr e = { .error = error };
        size_t m = nlb_msg(b, NLMSG_ERROR, 0, seq, pid);

        if (request)
                e.msg = *request;
        (void) nlb_raw(b, &e, sizeof(e));
        nlb_msg_end(b, m);
}
