/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Builds and walks netlink messages the way the kernel lays them out
 * (include/uapi/linux/netlink.h: NLMSG_ALIGN'ed headers; rtnetlink.h: RTA_ALIGN'ed attributes,
 * rta_len covering the header, nests as attributes whose payload is the attributes that follow):
 * vfnet.c's requests and replies, the kernel model's side of them (tests/mock) and vfnet's unit
 * test. Building goes into a caller's buffer: one too small sets overflow and takes nothing
 * more. */

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
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

/* One IFLA_VF_INFO as rtnl_fill_vfinfo() lays it out: MAC, VLAN, spoof check, link state (auto),
 * trust; the rates, RSS query and statistics a driver adds are left out. For the replies of the
 * kernel model and of vfnet's unit test. */
static inline void nlb_vf_info(NlBuild *b, uint32_t vf, const uint8_t mac[6], uint32_t vlan,
                               uint32_t qos, uint32_t spoofchk, uint32_t trust) {
        struct ifla_vf_mac m = { .vf = vf };
        struct ifla_vf_vlan v = { .vf = vf, .vlan = vlan, .qos = qos };
        struct ifla_vf_spoofchk sp = { .vf = vf, .setting = spoofchk };
        struct ifla_vf_link_state ls = { .vf = vf, .link_state = IFLA_VF_LINK_STATE_AUTO };
        struct ifla_vf_trust tr = { .vf = vf, .setting = trust };
        size_t info = nlb_nest(b, IFLA_VF_INFO);

        memcpy(m.mac, mac, 6);
        (void) nlb_attr(b, IFLA_VF_MAC, &m, sizeof(m));
        (void) nlb_attr(b, IFLA_VF_VLAN, &v, sizeof(v));
        (void) nlb_attr(b, IFLA_VF_SPOOFCHK, &sp, sizeof(sp));
        (void) nlb_attr(b, IFLA_VF_LINK_STATE, &ls, sizeof(ls));
        (void) nlb_attr(b, IFLA_VF_TRUST, &tr, sizeof(tr));
        nlb_nest_end(b, info);
}

/* Walks attributes: the last one may come without its padding. */
typedef struct NlAttrIter {
        const uint8_t *p;
        size_t left;
} NlAttrIter;

/* 1 with the next attribute (its type without NLA_F_NESTED/NLA_F_NET_BYTEORDER), 0 at the end,
 * -EBADMSG when one runs past the buffer. */
static inline int nla_next(NlAttrIter *it, uint16_t *ret_type, const uint8_t **ret_data,
                           size_t *ret_len) {
        struct rtattr a;
        size_t step;

        if (it->left == 0)
                return 0;
        if (it->left < sizeof(a))
                return -EBADMSG;
        memcpy(&a, it->p, sizeof(a));
        if (a.rta_len < RTA_LENGTH(0) || a.rta_len > it->left)
                return -EBADMSG;
        *ret_type = a.rta_type & NLA_TYPE_MASK;
        *ret_data = it->p + RTA_LENGTH(0);
        *ret_len = a.rta_len - RTA_LENGTH(0);
        step = RTA_ALIGN(a.rta_len) < it->left ? RTA_ALIGN(a.rta_len) : it->left;
        it->p += step;
        it->left -= step;
        return 1;
}
