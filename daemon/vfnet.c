/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A VF's MAC, VLAN, spoof check and trust over plain rtnetlink (vfnet.h): one NETLINK_ROUTE
 * socket per call, one request, its answer. Layouts: include/uapi/linux/netlink.h (nlmsghdr,
 * nlmsgerr, NLMSG_ALIGN), include/uapi/linux/rtnetlink.h (ifinfomsg, rtattr, RTA_ALIGN,
 * RTEXT_FILTER_VF), include/uapi/linux/if_link.h (IFLA_VFINFO_LIST, IFLA_VF_INFO, IFLA_VF_*,
 * struct ifla_vf_*). What the kernel does with them: net/core/rtnetlink.c (rtnl_getlink(),
 * rtnl_fill_vfinfo(), do_setvfinfo()). */
#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bdf.h"
#include "macro.h"
#include "names.h"
#include "nlmsg.h"
#include "util.h"
#include "vfnet-internal.h"

#define REQUEST_MAX 256
/* The kernel answers at once; anything else answering (tests/mock) must not hang a job. */
#define REPLY_TIMEOUT_SEC 5
/* Datagrams that are not the answer (none are expected on a fresh socket) before giving up. */
#define STRAY_MAX 16

/* ---- the reply (pure) ---- */

/* Every struct ifla_vf_* starts with the VF's number; one IFLA_VF_INFO names one VF. */
static int vf_number(const uint8_t *data, size_t len, size_t need, bool *have, uint32_t *vf) {
        uint32_t n;

        if (len < need)
                return -EBADMSG;
        memcpy(&n, data, sizeof(n));
        if (*have && n != *vf)
                return -EBADMSG;
        *have = true;
        *vf = n;
        return 0;
}

/* rtnl_fill_vfinfo() starts spoofchk and trust at -1 and a driver's ndo_get_vf_config() that
 * does not know them leaves them so: "not reported". */
static int setting_of(const uint8_t *data) {
        uint32_t s;

        memcpy(&s, data + sizeof(uint32_t), sizeof(s));
        return s == UINT32_MAX ? -1 : s != 0;
}

/* One IFLA_VF_INFO: 1 when it is VF vf (parsed into *ret), 0 when another VF. */
static int parse_vf_info(const uint8_t *p, size_t n, uint32_t vf, VfNetConfig *ret) {
        VfNetConfig c = VF_NET_CONFIG_NONE;
        NlAttrIter it = { p, n };
        const uint8_t *data;
        bool have = false;
        uint32_t seen = 0;
        uint16_t type;
        size_t len;
        int r;

        while ((r = nla_next(&it, &type, &data, &len)) > 0) {
                switch (type) {
                case IFLA_VF_MAC:
                        r = vf_number(data, len, sizeof(struct ifla_vf_mac), &have, &seen);
                        if (r < 0)
                                return r;
                        /* ifla_vf_mac.mac has room for 32 bytes; Ethernet uses the first 6. */
                        memcpy(c.mac, data + offsetof(struct ifla_vf_mac, mac), sizeof(c.mac));
                        c.set_mac = true;
                        break;
                case IFLA_VF_VLAN: {
                        struct ifla_vf_vlan v;

                        r = vf_number(data, len, sizeof(v), &have, &seen);
                        if (r < 0)
                                return r;
                        memcpy(&v, data, sizeof(v));
                        if (v.vlan > 4095 || v.qos > 7)
                                return -EBADMSG;
                        c.vlan = (uint16_t) v.vlan;
                        c.qos = (uint8_t) v.qos;
                        c.set_vlan = true;
                        break;
                }
                case IFLA_VF_SPOOFCHK:
                case IFLA_VF_TRUST:
                        /* struct ifla_vf_spoofchk and struct ifla_vf_trust: { vf, setting }. */
                        r = vf_number(data, len, 2 * sizeof(uint32_t), &have, &seen);
                        if (r < 0)
                                return r;
                        *(type == IFLA_VF_SPOOFCHK ? &c.spoofchk : &c.trust) = setting_of(data);
                        break;
                default:
                        /* Rates, link state, statistics, GUIDs: not ours. */
                        break;
                }
        }
        if (r < 0)
                return r;
        if (!have || seen != vf)
                return 0;
        /* rtnl_fill_vfinfo() always puts both. */
        if (!c.set_mac || !c.set_vlan)
                return -EBADMSG;
        *ret = c;
        return 1;
}

/* The payload of an RTM_NEWLINK: ifinfomsg, then attributes; VF vf from IFLA_VFINFO_LIST. */
static int parse_link(const uint8_t *p, size_t n, uint32_t vf, VfNetConfig *ret) {
        const size_t hdr = NLMSG_ALIGN(sizeof(struct ifinfomsg));
        const uint8_t *data, *vdata;
        size_t len, vlen;
        uint16_t type, vtype;
        NlAttrIter it, list;
        int r, k;

        if (n < hdr)
                return -EBADMSG;
        it = (NlAttrIter) { p + hdr, n - hdr };
        while ((r = nla_next(&it, &type, &data, &len)) > 0) {
                if (type != IFLA_VFINFO_LIST)
                        continue;
                list = (NlAttrIter) { data, len };
                while ((k = nla_next(&list, &vtype, &vdata, &vlen)) > 0) {
                        if (vtype != IFLA_VF_INFO)
                                continue;
                        k = parse_vf_info(vdata, vlen, vf, ret);
                        if (k != 0)
                                return k;
                }
                if (k < 0)
                        return k;
        }
        return r < 0 ? r : -ENOENT;
}

int vfnet_parse_reply(const uint8_t *buf, size_t len, uint32_t seq, uint32_t portid, uint32_t vf,
                      VfNetConfig *ret) {
        VfNetConfig c;
        size_t off = 0;
        int r;

        if (!buf && len > 0)
                return -EINVAL;
        while (len - off >= sizeof(struct nlmsghdr)) {
                const uint8_t *payload = buf + off + NLMSG_HDRLEN;
                struct nlmsghdr h;
                size_t plen;

                memcpy(&h, buf + off, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len - off)
                        return -EBADMSG;
                plen = h.nlmsg_len - NLMSG_HDRLEN;
                off += MIN((size_t) NLMSG_ALIGN(h.nlmsg_len), len - off);
                /* The kernel answers with the request's sequence number and the requester's port
                 * (netlink_ack(), rtnl_fill_ifinfo()); anything else is not ours. */
                if (h.nlmsg_seq != seq || h.nlmsg_pid != portid)
                        continue;
                if (h.nlmsg_type == NLMSG_ERROR) {
                        struct nlmsgerr e;

                        if (plen < sizeof(e))
                                return -EBADMSG;
                        memcpy(&e, payload, sizeof(e));
                        if (e.error > 0 || e.error < -4095)
                                return -EBADMSG;
                        if (e.error < 0)
                                return e.error;
                        /* An ack where a link was asked for. */
                        return ret ? -EBADMSG : 1;
                }
                if (h.nlmsg_type != RTM_NEWLINK || !ret)
                        return -EBADMSG;
                r = parse_link(payload, plen, vf, &c);
                if (r < 0)
                        return r;
                *ret = c;
                return 1;
        }
        return off == len ? 0 : -EBADMSG;
}

/* ---- the request ---- */

static uint32_t next_seq(void) {
        static uint32_t seq;

        return __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
}

/* A request about the PF: header, its ifinfomsg, then what the caller adds; nlb_msg_end() when
 * done. The buffer starts zeroed, so padding is zero. */
static void request_init(NlBuild *q, uint8_t buf[static REQUEST_MAX], uint16_t type, uint16_t flags,
                         uint32_t seq, int ifindex) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };

        *q = (NlBuild) { .buf = buf, .size = REQUEST_MAX };
        (void) nlb_msg(q, type, (uint16_t) (NLM_F_REQUEST | flags), seq, 0);
        (void) nlb_raw(q, &ifi, sizeof(ifi));
}

/* ---- the socket ---- */

static int nl_open(int *ret_fd, uint32_t *ret_portid) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        struct timeval tv = { .tv_sec = REPLY_TIMEOUT_SEC };
        socklen_t salen = sizeof(sa);
        _cleanup_close_ int fd = -1;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return negative_errno();
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                return negative_errno();
        /* Port 0: the kernel picks ours (the process's pid for its first socket). */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        if (getsockname(fd, (struct sockaddr *) &sa, &salen) < 0)
                return negative_errno();
        if (salen < sizeof(sa) || sa.nl_family != AF_NETLINK)
                return -EPROTO;
        *ret_fd = TAKE_FD(fd);
        *ret_portid = sa.nl_pid;
        return 0;
}

/* One datagram, of any size up to VFNET_REPLY_MAX: its size is peeked first (MSG_TRUNC gives
 * the real length), so a larger one is refused, never cut. *ret_len 0 for one that did not come
 * from the kernel (port 0). */
static int recv_one(int fd, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ uint8_t *buf = NULL;
        struct sockaddr_nl from = {};
        struct iovec iov;
        struct msghdr m = {
                .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1
        };
        ssize_t n;

        do
                n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : negative_errno();
        if ((size_t) n > VFNET_REPLY_MAX)
                return -EMSGSIZE;
        buf = malloc(MAX((size_t) n, 1u));
        if (!buf)
                return -ENOMEM;
        iov = (struct iovec) { buf, MAX((size_t) n, 1u) };
        do
                n = recvmsg(fd, &m, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if (m.msg_flags & MSG_TRUNC)
                return -EMSGSIZE;
        /* Another process may send to our port; only the kernel's word counts. (A socketpair
         * standing in for the kernel, tests/mock, has no address to give.) */
        if (m.msg_namelen >= sizeof(from) && from.nl_family == AF_NETLINK && from.nl_pid != 0)
                n = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = (size_t) n;
        return 0;
}

static int transact(NlBuild *q, uint32_t seq, uint32_t vf, VfNetConfig *ret) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        _cleanup_close_ int fd = -1;
        uint32_t portid;
        ssize_t n;
        int r;

        if (q->overflow)
                return -ENOBUFS;
        r = nl_open(&fd, &portid);
        if (r < 0)
                return r;
        nlb_msg_end(q, 0);
        do
                n = sendto(fd, q->buf, q->len, 0, (struct sockaddr *) &kernel, sizeof(kernel));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != q->len)
                return -EIO;
        for (unsigned i = 0; i < STRAY_MAX; i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len;

                r = recv_one(fd, &buf, &len);
                if (r < 0)
                        return r;
                r = vfnet_parse_reply(buf, len, seq, portid, vf, ret);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return -EBADMSG;
}

int vfnet_get(const VfNetTarget *t, VfNetConfig *ret) {
        uint8_t buf[REQUEST_MAX];
        uint32_t seq = next_seq();
        VfNetConfig c;
        NlBuild q;
        int r;

        if (!t || !ret || t->pf_ifindex <= 0)
                return -EINVAL;
        /* Without RTEXT_FILTER_VF rtnl_getlink() leaves IFLA_VFINFO_LIST out. */
        request_init(&q, buf, RTM_GETLINK, 0, seq, t->pf_ifindex);
        (void) nlb_u32(&q, IFLA_EXT_MASK, RTEXT_FILTER_VF);
        r = transact(&q, seq, t->vf, &c);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

int vfnet_set(const VfNetTarget *t, const VfNetConfig *c) {
        uint8_t buf[REQUEST_MAX];
        uint32_t seq = next_seq();
        size_t list, info;
        NlBuild q;

        /* do_setvfinfo() refuses VF numbers from INT_MAX on. */
        if (!t || !c || t->pf_ifindex <= 0 || t->vf >= INT_MAX)
                return -EINVAL;
        if ((c->set_vlan && (c->vlan > 4095 || c->qos > 7)) || c->spoofchk > 1 || c->trust > 1)
                return -EINVAL;
        if (!c->set_mac && !c->set_vlan && c->spoofchk < 0 && c->trust < 0)
                return 0;
        request_init(&q, buf, RTM_SETLINK, NLM_F_ACK, seq, t->pf_ifindex);
        list = nlb_nest(&q, IFLA_VFINFO_LIST);
        info = nlb_nest(&q, IFLA_VF_INFO);
        /* do_setvfinfo() applies them in its own order (MAC, VLAN, ..., spoof check, ...,
         * trust), whatever the order here; this one is the same, for whoever reads a trace. */
        if (c->set_mac) {
                struct ifla_vf_mac m = { .vf = t->vf };

                memcpy(m.mac, c->mac, sizeof(c->mac));
                (void) nlb_attr(&q, IFLA_VF_MAC, &m, sizeof(m));
        }
        if (c->set_vlan) {
                struct ifla_vf_vlan v = { .vf = t->vf, .vlan = c->vlan, .qos = c->qos };

                (void) nlb_attr(&q, IFLA_VF_VLAN, &v, sizeof(v));
        }
        if (c->spoofchk >= 0) {
                struct ifla_vf_spoofchk s = { .vf = t->vf, .setting = (uint32_t) c->spoofchk };

                (void) nlb_attr(&q, IFLA_VF_SPOOFCHK, &s, sizeof(s));
        }
        if (c->trust >= 0) {
                struct ifla_vf_trust s = { .vf = t->vf, .setting = (uint32_t) c->trust };

                (void) nlb_attr(&q, IFLA_VF_TRUST, &s, sizeof(s));
        }
        nlb_nest_end(&q, info);
        nlb_nest_end(&q, list);
        return transact(&q, seq, t->vf, NULL);
}

/* ---- sysfs: which PF netdev, which VF number ---- */

/* N of the PF's virtfnN link that names vf_address (sysfs-bus-pci: virtfnN -> ../<VF>). */
static int find_vf_number(const SysRoot *r, int pf_fd, const char *vf_address, uint32_t *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int k;

        k = sysroot_opendir_at(r, pf_fd, ".", &d);
        if (k < 0)
                return k;
        while ((de = readdir(d))) {
                _cleanup_free_ char *target = NULL;
                uint32_t n;

                if (!strneq(de->d_name, "virtfn", 6) || safe_atou32(de->d_name + 6, 10, &n) < 0)
                        continue;
                k = sysfs_read_link_name_at(r, pf_fd, de->d_name, &target);
                if (k == -ENOMEM)
                        return k;
                if (k >= 0 && streq(target, vf_address)) {
                        *ret = n;
                        return 0;
                }
        }
        return -EINVAL;
}

/* The PF's netdev: the entry of its net/ directory (there while a NIC driver is bound). A PF
 * with several (a driver with a port representor on the function, say) gives the first in
 * sorted order: the kernel does not say which one owns the VFs, and a fixed choice at least
 * gives the same answer every time. */
static int find_netdev(const SysRoot *r, int pf_fd, char ret[static IFNAMSIZ]) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        bool found = false;
        int k;

        k = sysroot_opendir_at(r, pf_fd, "net", &d);
        if (k < 0)
                return k == -ENOTDIR ? -ENOENT : k;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || !filename_is_valid(de->d_name) ||
                    strlen(de->d_name) >= IFNAMSIZ)
                        continue;
                if (!found || strcmp(de->d_name, ret) < 0)
                        strcpy(ret, de->d_name);
                found = true;
        }
        return found ? 0 : -ENOENT;
}

int vfnet_find(const SysRoot *r, const char *vf_address, VfNetTarget *ret) {
        _cleanup_close_ int vf_fd = -1, pf_fd = -1;
        _cleanup_free_ char *pf = NULL;
        char path[128], value[32];
        VfNetTarget t = {};
        uint32_t ifindex;
        int k;

        if (!r || !ret || !vf_address || !pci_address_is_canonical(vf_address))
                return -EINVAL;
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s", vf_address);
        k = sysroot_open_dir(r, path, &vf_fd);
        if (k < 0)
                return k == -ENOENT ? -ENODEV : k;
        k = sysfs_read_link_name_at(r, vf_fd, "physfn", &pf);
        if (k < 0)
                return k == -ENOENT ? -EINVAL : k;
        if (!pci_address_is_canonical(pf))
                return -EIO;
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s", pf);
        k = sysroot_open_dir(r, path, &pf_fd);
        if (k < 0)
                return k == -ENOENT ? -EIO : k;
        k = find_vf_number(r, pf_fd, vf_address, &t.vf);
        if (k < 0)
                return k;
        k = find_netdev(r, pf_fd, t.pf_ifname);
        if (k < 0)
                return k;
        snprintf(path, sizeof(path), "net/%s/ifindex", t.pf_ifname);
        k = sysfs_read_attr_buf(r, pf_fd, path, value, sizeof(value));
        /* The netdev went between the two reads: it has none now. */
        if (k == -ENOENT)
                return -ENOENT;
        if (k < 0)
                return k;
        if (safe_atou32(value, 10, &ifindex) < 0 || ifindex == 0 || ifindex > INT_MAX)
                return -EIO;
        t.pf_ifindex = (int) ifindex;
        *ret = t;
        return 0;
}

/* ---- MAC addresses ---- */

int vfnet_parse_mac(const char *s, uint8_t ret[6]) {
        uint8_t mac[6];
        bool zero = true;

        if (!s || strlen(s) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                int hi = unhexchar(s[3 * i]), lo = unhexchar(s[3 * i + 1]);

                if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
                        return -EINVAL;
                mac[i] = (uint8_t) (hi << 4 | lo);
                zero = zero && mac[i] == 0;
        }
        /* Bit 0 of the first octet: a group address (IEEE 802-2014 §8.2). */
        if (zero || (mac[0] & 1))
                return -EINVAL;
        memcpy(ret, mac, sizeof(mac));
        return 0;
}

void vfnet_format_mac(const uint8_t mac[6], char ret[18]) {
        snprintf(ret, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}
