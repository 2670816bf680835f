/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel's rtnetlink, as far as a VF's network settings go (daemon/vfnet.c): a
 * NETLINK_ROUTE socket of the model is one end of a socketpair (vfio-mock.c); what is sent on it
 * comes here, and the answers go into the other end, where the process reads them with plain
 * recv()/recvmsg().
 *
 * Sources: net/core/rtnetlink.c (rtnl_getlink(), rtnl_fill_ifinfo(), rtnl_fill_vfinfo(),
 * do_setlink(), do_setvfinfo(), ifla_vf_policy), net/netlink/af_netlink.c (netlink_ack(),
 * netlink_rcv_skb()), drivers/net/netdevsim/netdev.c (nsim_set_vf_*: a VF number beyond the
 * VFs is EINVAL), include/uapi/linux/if_link.h.
 *
 * A link is a PCI device's netdev (DEVICE/net/IFNAME/ifindex); its VFs are the PF's
 * sriov_numvfs, VF n the device of its virtfnN link. Their settings are files in
 * <root>/.vfio-mock/vfnet/ (mock-observe.h), so every process sees the same. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdf.h"
#include "macro.h"
#include "mock.h"
#include "names.h"
#include "nlmsg.h"
#include "util.h"

#define REPLY_MAX (64u * 1024u)
#define VF_MAX 256u

const char *const mock_vf_attr_names[_MOCK_VF_ATTR_MAX] = {
        [MOCK_VF_MAC] = "mac",
        [MOCK_VF_VLAN] = "vlan",
        [MOCK_VF_SPOOFCHK] = "spoofchk",
        [MOCK_VF_TRUST] = "trust",
};

typedef struct VfState {
        uint8_t mac[6];
        unsigned vlan, qos, spoofchk, trust;
} VfState;

/* ---- the tree ---- */

typedef struct Link {
        char pf[PCI_ADDRESS_STRLEN];
        char ifname[IFNAMSIZ];
        unsigned n_vfs;
        char vfs[VF_MAX][PCI_ADDRESS_STRLEN]; /* "" where a virtfnN link is missing */
} Link;

/* The PCI device whose netdev has this ifindex, with its VFs; -ENODEV when none (the kernel's
 * __dev_get_by_index() failing in rtnl_getlink() and rtnl_setlink()). */
static int link_find(int root_fd, int ifindex, Link *ret) {
        _cleanup_strv_free_ char **devs = NULL;
        char p[PATH_MAX], v[64];
        uint32_t n;

        if (ifindex <= 0 || mock_list_names(root_fd, SYSFS_PCI_DEVICES, &devs) < 0)
                return -ENODEV;
        for (char **d = devs; *d; d++) {
                _cleanup_strv_free_ char **nets = NULL;

                snprintf(p, sizeof(p), SYSFS_PCI_DEVICES "/%s/net", *d);
                if (!pci_address_is_canonical(*d) || mock_list_names(root_fd, p, &nets) < 0)
                        continue;
                for (char **i = nets; *i; i++) {
                        snprintf(p, sizeof(p), SYSFS_PCI_DEVICES "/%s/net/%s/ifindex", *d, *i);
                        if (strlen(*i) >= IFNAMSIZ ||
                            mock_read_small(root_fd, p, v, sizeof(v)) < 0 ||
                            safe_atou32(v, 10, &n) < 0 || n != (uint32_t) ifindex)
                                continue;
                        *ret = (Link) {};
                        strcpy(ret->pf, *d);
                        strcpy(ret->ifname, *i);
                        snprintf(p, sizeof(p), SYSFS_PCI_DEVICES "/%s/sriov_numvfs", *d);
                        if (mock_read_small(root_fd, p, v, sizeof(v)) >= 0 &&
                            safe_atou32(v, 10, &n) >= 0)
                                ret->n_vfs = MIN(n, VF_MAX);
                        for (unsigned k = 0; k < ret->n_vfs; k++) {
                                char target[PATH_MAX];
                                const char *base;
                                ssize_t len;

                                snprintf(p, sizeof(p), SYSFS_PCI_DEVICES "/%s/virtfn%u", *d, k);
                                len = readlinkat(root_fd, p, target, sizeof(target) - 1);
                                if (len < 0)
                                        continue;
                                target[len] = 0;
                                base = strrchr(target, '/');
                                base = base ? base + 1 : target;
                                if (pci_address_is_canonical(base))
                                        strcpy(ret->vfs[k], base);
                        }
                        return 0;
                }
        }
        return -ENODEV;
}

/* ---- VF settings in the state dir ---- */

static void vf_state_get(int root_fd, const char *vf, VfState *ret) {
        char line[MOCK_NAME_MAX], mac[18];
        VfState s = { .spoofchk = 1 };
        uint8_t *m = s.mac;

        if (vf[0] && mock_state_read(root_fd, MOCK_VFNET_DIR, vf, line) >= 0 &&
            sscanf(line, "mac=%17s vlan=%u qos=%u spoofchk=%u trust=%u", mac, &s.vlan, &s.qos,
                   &s.spoofchk, &s.trust) == 5)
                (void) sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3],
                              &m[4], &m[5]);
        *ret = s;
}

static int vf_state_put(int root_fd, const char *vf, const VfState *s) {
        char line[MOCK_NAME_MAX], mac[18];

        /* A VF whose device the model does not have: the driver keeps nothing anyone can see. */
        if (!vf[0])
                return 0;
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", s->mac[0], s->mac[1], s->mac[2],
                 s->mac[3], s->mac[4], s->mac[5]);
        snprintf(line, sizeof(line), MOCK_VFNET_FORMAT "\n", mac, s->vlan, s->qos, s->spoofchk,
                 s->trust);
        return mock_state_write(root_fd, MOCK_VFNET_DIR, vf, line);
}

/* ---- RTM_GETLINK ---- */

static int getlink(int root_fd, const struct nlmsghdr *h, uint32_t pid, const Link *l, bool vf,
                   NlBuild *b) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC,
                                 .ifi_type = ARPHRD_ETHER,
                                 .ifi_flags = IFF_UP | IFF_BROADCAST | IFF_RUNNING |
                                              IFF_MULTICAST };
        size_t m, list;
        int ifindex;

        memcpy(&ifindex, (const uint8_t *) h + NLMSG_HDRLEN + offsetof(struct ifinfomsg, ifi_index),
               sizeof(ifindex));
        ifi.ifi_index = ifindex;
        m = nlb_msg(b, RTM_NEWLINK, 0, h->nlmsg_seq, pid);
        (void) nlb_raw(b, &ifi, sizeof(ifi));
        (void) nlb_attr(b, IFLA_IFNAME, l->ifname, strlen(l->ifname) + 1);
        (void) nlb_u32(b, IFLA_MTU, 1500);
        /* rtnl_fill_ifinfo(): only when asked for with RTEXT_FILTER_VF. */
        if (vf) {
                (void) nlb_u32(b, IFLA_NUM_VF, l->n_vfs);
                list = nlb_nest(b, IFLA_VFINFO_LIST);
                for (unsigned n = 0; n < l->n_vfs; n++) {
                        VfState s;

                        vf_state_get(root_fd, l->vfs[n], &s);
                        nlb_vf_info(b, n, s.mac, s.vlan, s.qos, s.spoofchk, s.trust);
                }
                nlb_nest_end(b, list);
        }
        if (b->overflow) {
                /* rtnl_getlink() fails when its message does not fit; nothing of it goes out. */
                *b = (NlBuild) { .buf = b->buf, .size = b->size, .len = m };
                return -EMSGSIZE;
        }
        nlb_msg_end(b, m);
        return 0;
}

/* ---- RTM_SETLINK ---- */

/* One IFLA_VF_INFO as do_setvfinfo() takes it: each attribute at least its structure's size
 * (ifla_vf_policy), applied in the kernel's order, the first failure ending it with the ones
 * before kept. */
static int setvfinfo(int root_fd, const Link *l, const MockFaults *f, const uint8_t *p, size_t n) {
        static const size_t sizes[_MOCK_VF_ATTR_MAX] = {
                [MOCK_VF_MAC] = sizeof(struct ifla_vf_mac),
                [MOCK_VF_VLAN] = sizeof(struct ifla_vf_vlan),
                [MOCK_VF_SPOOFCHK] = sizeof(struct ifla_vf_spoofchk),
                [MOCK_VF_TRUST] = sizeof(struct ifla_vf_trust),
        };
        const uint8_t *attrs[_MOCK_VF_ATTR_MAX] = {};
        NlAttrIter it = { p, n };
        bool first = true;
        const uint8_t *data;
        uint16_t type;
        size_t len;
        int r;

        while ((r = nla_next(&it, &type, &data, &len)) > 0) {
                int a = type == IFLA_VF_MAC        ? MOCK_VF_MAC
                        : type == IFLA_VF_VLAN     ? MOCK_VF_VLAN
                        : type == IFLA_VF_SPOOFCHK ? MOCK_VF_SPOOFCHK
                        : type == IFLA_VF_TRUST    ? MOCK_VF_TRUST
                                                   : -1;

                if (a < 0)
                        continue;
                if (len < sizes[a])
                        return -EINVAL;
                attrs[a] = data;
        }
        if (r < 0)
                return -EINVAL;
        for (int a = 0; a < _MOCK_VF_ATTR_MAX; a++) {
                uint32_t vf, v[3];
                VfState s;

                if (!attrs[a])
                        continue;
                if (f->vfnet_fails && (f->vfnet_fails_at == a || (f->vfnet_fails_at < 0 && first)))
                        return -f->vfnet_fails;
                first = false;
                memcpy(&vf, attrs[a], sizeof(vf));
                if (vf >= l->n_vfs)
                        return -EINVAL;
                vf_state_get(root_fd, l->vfs[vf], &s);
                switch (a) {
                case MOCK_VF_MAC: {
                        const uint8_t *mac = attrs[a] + offsetof(struct ifla_vf_mac, mac);
                        static const uint8_t zero[6];

                        /* What ixgbe and igb check: a unicast address, or zero to clear it. */
                        if ((mac[0] & 1) && memcmp(mac, zero, 6) != 0)
                                return -EINVAL;
                        memcpy(s.mac, mac, 6);
                        break;
                }
                case MOCK_VF_VLAN:
                        memcpy(v, attrs[a], sizeof(v));
                        if (v[1] > 4095 || v[2] > 7)
                                return -EINVAL;
                        s.vlan = v[1];
                        s.qos = v[2];
                        break;
                default:
                        /* ndo_set_vf_spoofchk() and ndo_set_vf_trust() take a bool. */
                        memcpy(v, attrs[a], 2 * sizeof(uint32_t));
                        *(a == MOCK_VF_SPOOFCHK ? &s.spoofchk : &s.trust) = v[1] != 0;
                }
                r = vf_state_put(root_fd, l->vfs[vf], &s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* do_setlink(): every entry of IFLA_VFINFO_LIST must be an IFLA_VF_INFO; other attributes are
 * not modelled and left alone. */
static int setlink(int root_fd, const uint8_t *attrs, size_t n, const Link *l) {
        NlAttrIter it = { attrs, n }, list;
        const uint8_t *data, *vdata;
        size_t len, vlen;
        uint16_t type, vtype;
        MockFaults f;
        int r, k;

        r = mock_config_load(l->pf, &f);
        if (r < 0)
                return r;
        while ((r = nla_next(&it, &type, &data, &len)) > 0) {
                if (type != IFLA_VFINFO_LIST)
                        continue;
                list = (NlAttrIter) { data, len };
                while ((k = nla_next(&list, &vtype, &vdata, &vlen)) > 0) {
                        if (vtype != IFLA_VF_INFO)
                                return -EINVAL;
                        k = setvfinfo(root_fd, l, &f, vdata, vlen);
                        if (k < 0)
                                return k;
                }
                if (k < 0)
                        return -EINVAL;
        }
        return r < 0 ? -EINVAL : 0;
}

/* ---- requests ---- */

/* RTEXT_FILTER_VF in the request's IFLA_EXT_MASK. */
static bool wants_vfs(const uint8_t *attrs, size_t n) {
        NlAttrIter it = { attrs, n };
        const uint8_t *data;
        uint16_t type;
        size_t len;
        uint32_t mask;

        while (nla_next(&it, &type, &data, &len) > 0)
                if (type == IFLA_EXT_MASK && len >= sizeof(mask)) {
                        memcpy(&mask, data, sizeof(mask));
                        return mask & RTEXT_FILTER_VF;
                }
        return false;
}

/* One request; its answers appended to b. netlink_rcv_skb(): an error is always acked, success
 * only with NLM_F_ACK. */
static void handle(const MockRoots *roots, const struct nlmsghdr *h, uint32_t pid, NlBuild *b) {
        const size_t hdr = NLMSG_SPACE(sizeof(struct ifinfomsg));
        const uint8_t *attrs = (const uint8_t *) h + hdr;
        _cleanup_close_ int root_fd = -1;
        int lock, ifindex, r;
        Link *l = NULL;

        if (!(h->nlmsg_flags & NLM_F_REQUEST))
                return;
        if (h->nlmsg_type != RTM_GETLINK && h->nlmsg_type != RTM_SETLINK) {
                r = -EOPNOTSUPP;
                goto ack;
        }
        if (h->nlmsg_len < hdr) {
                r = -EINVAL;
                goto ack;
        }
        memcpy(&ifindex, (const uint8_t *) h + NLMSG_HDRLEN + offsetof(struct ifinfomsg, ifi_index),
               sizeof(ifindex));
        l = malloc(sizeof(*l));
        root_fd = open(roots->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!l || root_fd < 0) {
                r = -ENOMEM;
                goto ack;
        }
        /* RTNL: one change at a time, across the processes of the model. */
        lock = mock_lock_model(roots->root);
        if (lock < 0) {
                r = lock;
                goto ack;
        }
        r = link_find(root_fd, ifindex, l);
        if (r >= 0 && h->nlmsg_type == RTM_GETLINK)
                r = getlink(root_fd, h, pid, l, wants_vfs(attrs, h->nlmsg_len - hdr), b);
        else if (r >= 0)
                r = setlink(root_fd, attrs, h->nlmsg_len - hdr, l);
        mock_unlock_model(lock);
ack:
        free(l);
        if (r < 0 || (h->nlmsg_flags & NLM_F_ACK))
                nlb_ack(b, h->nlmsg_seq, pid, r, h);
}

ssize_t mock_netlink_send(const MockRoots *roots, uint32_t nl_pid, int peer_fd, const void *buf,
                          size_t n) {
        _cleanup_free_ uint8_t *reply = NULL;
        NlBuild b = {};
        size_t off = 0;

        reply = malloc(REPLY_MAX);
        if (!reply)
                return -ENOMEM;
        b = (NlBuild) { .buf = reply, .size = REPLY_MAX };
        /* netlink_rcv_skb(): messages one after the other; a short one ends the datagram. */
        while (n - off >= NLMSG_HDRLEN) {
                struct nlmsghdr h;
                uint8_t *copy;

                memcpy(&h, (const uint8_t *) buf + off, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > n - off)
                        break;
                /* Aligned for the parsers. */
                copy = malloc(h.nlmsg_len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, (const uint8_t *) buf + off, h.nlmsg_len);
                handle(roots, (const struct nlmsghdr *) copy, nl_pid, &b);
                free(copy);
                off += MIN((size_t) NLMSG_ALIGN(h.nlmsg_len), n - off);
        }
        /* One datagram per answer, as the kernel unicasts each. */
        for (size_t at = 0; at + NLMSG_HDRLEN <= b.len;) {
                struct nlmsghdr h;

                memcpy(&h, b.buf + at, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > b.len - at)
                        break;
                /* The peer end is non-blocking: a reader that does not read loses answers, as
                 * a netlink socket whose buffer is full does (ENOBUFS). */
                if (write(peer_fd, b.buf + at, h.nlmsg_len) != (ssize_t) h.nlmsg_len)
                        return -ENOBUFS;
                at += NLMSG_ALIGN(h.nlmsg_len);
        }
        return (ssize_t) n;
}
