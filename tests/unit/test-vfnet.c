/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon/vfnet.c without a kernel: MAC addresses both ways, the PF's netdev and the VF's number
 * found in a fake sysfs, and the rtnetlink reply parser on messages built as the kernel lays
 * them out (rtnl_fill_vfinfo()). The socket side runs against the kernel model (tests/mock) and
 * the real kernel (tests/vm, vfnet-netdevsim). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fakesys.h"
#include "macro.h"
#include "nlmsg.h"
#include "sysfs.h"
#include "vfnet-internal.h"
#include "vfnet.h"

#define PF "0000:03:00.0"
#define VF0 "0000:03:10.0" /* RID 0x300 + offset 0x80 */
#define VF1 "0000:03:10.2" /* + stride 2 */
#define SEQ 41
#define PORT 4242

START_TEST(test_mac) {
        static const char *const bad[] = {
                "",
                "52:54:00:12:34",
                "52:54:00:12:34:5",
                "52:54:00:12:34:567",
                "52-54-00-12-34-56",
                "52:54:00:12:34:5g",
                " 52:54:00:12:34:5",
                "01:00:5e:00:00:01", /* multicast */
                "ff:ff:ff:ff:ff:ff", /* broadcast, a group address too */
                "00:00:00:00:00:00",
        };
        uint8_t mac[6], keep[6] = { 1, 2, 3, 4, 5, 6 };
        char s[18];

        ck_assert_int_eq(vfnet_parse_mac("52:54:00:AB:cd:0F", mac), 0);
        ck_assert_mem_eq(mac, ((uint8_t[]) { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f }), 6);
        vfnet_format_mac(mac, s);
        ck_assert_str_eq(s, "52:54:00:ab:cd:0f");
        vfnet_format_mac((uint8_t[6]) {}, s);
        ck_assert_str_eq(s, "00:00:00:00:00:00");
        /* Locally administered unicast is fine. */
        ck_assert_int_eq(vfnet_parse_mac("02:00:00:00:00:01", mac), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memcpy(mac, keep, sizeof(mac));
                ck_assert_msg(vfnet_parse_mac(bad[i], mac) == -EINVAL, "accepted \"%s\"", bad[i]);
                ck_assert_mem_eq(mac, keep, sizeof(mac));
        }
        ck_assert_int_eq(vfnet_parse_mac(NULL, mac), -EINVAL);
}
END_TEST

/* ---- vfnet_find ---- */

static FakeSys *fs;
static SysRoot *root;

static void add(const char *bdf, const char *parent, uint32_t cls, const char *physfn) {
        FakeDevice d;

        fake_device_init(&d, bdf);
        d.parent = parent;
        d.vendor = 0x8086;
        d.device = physfn ? 0x1520 : 0x1521;
        d.class_code = cls;
        d.physfn = physfn;
        if (streq(bdf, PF)) {
                d.driver = "igb";
                d.sriov_totalvfs = 4;
                d.sriov_offset = 0x80;
                d.sriov_stride = 2;
                d.sriov_vf_device = 0x1520;
        }
        ck_assert_int_eq(fakesys_add_device(fs, &d), 0);
}

static void setup(void) {
        ck_assert_int_eq(fakesys_new(NULL, FAKESYS_REMOVE_ON_FREE, &fs), 0);
        add("0000:00:03.0", NULL, 0x060400, NULL);
        add(PF, "0000:00:03.0", 0x020000, NULL);
        add(VF0, "0000:00:03.0", 0x020000, PF);
        add(VF1, "0000:00:03.0", 0x020000, PF);
        ck_assert_int_eq(sysroot_open(fakesys_root(fs), fakesys_root(fs), &root), 0);
}

static void teardown(void) {
        root = sysroot_free(root);
        fs = fakesys_free(fs);
}

START_TEST(test_find) {
        const VfNetTarget keep = { .pf_ifname = "keep", .pf_ifindex = 99, .vf = 99 };
        VfNetTarget t = keep;

        /* No NIC driver on the PF: no netdev. */
        ck_assert_int_eq(vfnet_find(root, VF1, &t), -ENOENT);
        ck_assert_mem_eq(&t, &keep, sizeof(t));

        ck_assert_int_eq(fakesys_add_netdev_ifindex(fs, PF, "ens3f0", NULL, 7), 0);
        ck_assert_int_eq(vfnet_find(root, VF1, &t), 0);
        ck_assert_str_eq(t.pf_ifname, "ens3f0");
        ck_assert_int_eq(t.pf_ifindex, 7);
        ck_assert_uint_eq(t.vf, 1);
        ck_assert_int_eq(vfnet_find(root, VF0, &t), 0);
        ck_assert_uint_eq(t.vf, 0);

        /* Two netdevs on the PF: the first by name, whatever the order they came in. */
        ck_assert_int_eq(fakesys_add_netdev_ifindex(fs, PF, "ens3d0", NULL, 0), 0);
        ck_assert_int_eq(vfnet_find(root, VF1, &t), 0);
        ck_assert_str_eq(t.pf_ifname, "ens3d0");
        ck_assert_int_eq(t.pf_ifindex, 100);
        ck_assert_uint_eq(t.vf, 1);

        /* Not a VF, not there, not an address; a bad ifindex. */
        t = keep;
        ck_assert_int_eq(vfnet_find(root, PF, &t), -EINVAL);
        ck_assert_int_eq(vfnet_find(root, "0000:03:10.4", &t), -ENODEV);
        ck_assert_int_eq(vfnet_find(root, "03:10.2", &t), -EINVAL);
        ck_assert_int_eq(vfnet_find(root, "../../x", &t), -EINVAL);
        ck_assert_int_eq(fakesys_set_attr(fs, PF, "net/ens3d0/ifindex", "0\n"), 0);
        ck_assert_int_eq(vfnet_find(root, VF1, &t), -EIO);
        ck_assert_int_eq(fakesys_set_attr(fs, PF, "net/ens3d0/ifindex", "2147483648\n"), 0);
        ck_assert_int_eq(vfnet_find(root, VF1, &t), -EIO);
        ck_assert_mem_eq(&t, &keep, sizeof(t));
        /* A VF its PF does not list (a tree caught half-way through sriov_numvfs = 0). */
        ck_assert_int_eq(fakesys_set_attr(fs, PF, "net/ens3d0/ifindex", "5\n"), 0);
        ck_assert_int_eq(fakesys_remove(fs, "sys/bus/pci/devices/" PF "/virtfn1"), 0);
        ck_assert_int_eq(vfnet_find(root, VF1, &t), -EINVAL);
        ck_assert_int_eq(vfnet_find(root, VF0, &t), 0);
        ck_assert_int_eq(t.pf_ifindex, 5);
}
END_TEST

/* ---- the reply parser ---- */

typedef struct Vf {
        uint32_t n;
        uint8_t mac[6];
        uint32_t vlan, qos, spoofchk, trust;
} Vf;

static const Vf vfs[] = {
        { 0, { 0x52, 0x54, 0, 1, 2, 3 }, 100, 5, 1, 0 },
        /* A driver that reports neither spoof check nor trust. */
        { 1, { 0 }, 0, 0, UINT32_MAX, UINT32_MAX },
};

static void put_link(NlBuild *b, uint32_t seq, uint32_t pid) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = 7 };
        size_t m = nlb_msg(b, RTM_NEWLINK, 0, seq, pid), list;

        (void) nlb_raw(b, &ifi, sizeof(ifi));
        (void) nlb_attr(b, IFLA_IFNAME, "ens3f0", 7);
        (void) nlb_u32(b, IFLA_NUM_VF, ELEMENTSOF(vfs));
        list = nlb_nest(b, IFLA_VFINFO_LIST);
        for (size_t i = 0; i < ELEMENTSOF(vfs); i++)
                nlb_vf_info(b, vfs[i].n, vfs[i].mac, vfs[i].vlan, vfs[i].qos, vfs[i].spoofchk,
                            vfs[i].trust);
        nlb_nest_end(b, list);
        (void) nlb_u32(b, IFLA_MTU, 1500);
        nlb_msg_end(b, m);
}

START_TEST(test_parse_link) {
        uint8_t buf[1024];
        NlBuild b = { .buf = buf, .size = sizeof(buf) };
        VfNetConfig c, keep = VF_NET_CONFIG_NONE;

        put_link(&b, SEQ, PORT);
        ck_assert(!b.overflow);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, &c), 1);
        ck_assert(c.set_mac && c.set_vlan);
        ck_assert_mem_eq(c.mac, vfs[0].mac, 6);
        ck_assert_uint_eq(c.vlan, 100);
        ck_assert_uint_eq(c.qos, 5);
        ck_assert_int_eq(c.spoofchk, 1);
        ck_assert_int_eq(c.trust, 0);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 1, &c), 1);
        ck_assert_mem_eq(c.mac, vfs[1].mac, 6);
        ck_assert_uint_eq(c.vlan, 0);
        ck_assert_int_eq(c.spoofchk, -1);
        ck_assert_int_eq(c.trust, -1);

        /* No such VF; another request's answer, another port's; an ack where a link was
         * asked for. *ret stays as it was. */
        c = keep;
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 2, &c), -ENOENT);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ + 1, PORT, 0, &c), 0);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT + 1, 0, &c), 0);
        ck_assert_mem_eq(&c, &keep, sizeof(c));
        ck_assert_int_eq(vfnet_parse_reply(NULL, 0, SEQ, PORT, 0, &c), 0);

        /* A stray message, then ours, in one datagram. */
        b.len = 0;
        put_link(&b, SEQ - 1, PORT);
        put_link(&b, SEQ, PORT);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, &c), 1);
        ck_assert_uint_eq(c.vlan, 100);
}
END_TEST

START_TEST(test_parse_ack) {
        struct nlmsghdr req = { .nlmsg_len = 64, .nlmsg_type = RTM_SETLINK, .nlmsg_seq = SEQ };
        uint8_t buf[256];
        NlBuild b = { .buf = buf, .size = sizeof(buf) };
        VfNetConfig c;

        nlb_ack(&b, SEQ, PORT, 0, &req);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, NULL), 1);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, &c), -EBADMSG);
        b.len = 0;
        nlb_ack(&b, SEQ, PORT, -EINVAL, &req);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, NULL), -EINVAL);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, &c), -EINVAL);
        /* Errors are small negative numbers. */
        b.len = 0;
        nlb_ack(&b, SEQ, PORT, 5, &req);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, NULL), -EBADMSG);
        b.len = 0;
        nlb_ack(&b, SEQ, PORT, INT_MIN, &req);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, NULL), -EBADMSG);
        /* A link where an ack was awaited. */
        b.len = 0;
        put_link(&b, SEQ, PORT);
        ck_assert_int_eq(vfnet_parse_reply(buf, b.len, SEQ, PORT, 0, NULL), -EBADMSG);
}
END_TEST

/* Every length is checked against what is there. */
START_TEST(test_parse_malformed) {
        uint8_t buf[1024], copy[1024];
        NlBuild b = { .buf = buf, .size = sizeof(buf) };
        size_t vlan_at = 0;
        VfNetConfig c;

        put_link(&b, SEQ, PORT);
        /* Every cut is refused or, cut between messages, left for the next read. */
        for (size_t n = 1; n < b.len; n++)
                ck_assert_msg(vfnet_parse_reply(buf, n, SEQ, PORT, 0, &c) == -EBADMSG,
                              "a reply cut at %zu bytes", n);

        /* VF 0's VLAN attribute claims more than its nest holds. */
        for (size_t i = 0; i + 8 <= b.len && vlan_at == 0; i += 4) {
                struct rtattr a;

                memcpy(&a, buf + i, sizeof(a));
                if (a.rta_type == IFLA_VF_VLAN &&
                    a.rta_len == RTA_LENGTH(sizeof(struct ifla_vf_vlan)))
                        vlan_at = i;
        }
        ck_assert_uint_gt(vlan_at, 0);
        memcpy(copy, buf, b.len);
        copy[vlan_at] = 0xff;
        ck_assert_int_eq(vfnet_parse_reply(copy, b.len, SEQ, PORT, 0, &c), -EBADMSG);
        /* One shorter than its structure. */
        memcpy(copy, buf, b.len);
        copy[vlan_at] = RTA_LENGTH(sizeof(struct ifla_vf_vlan)) - 4;
        ck_assert_int_eq(vfnet_parse_reply(copy, b.len, SEQ, PORT, 0, &c), -EBADMSG);
        /* A VLAN no switch knows. */
        memcpy(copy, buf, b.len);
        copy[vlan_at + RTA_LENGTH(0) + offsetof(struct ifla_vf_vlan, vlan) + 1] = 0x10;
        ck_assert_int_eq(vfnet_parse_reply(copy, b.len, SEQ, PORT, 0, &c), -EBADMSG);
        /* A message longer than the datagram. */
        memcpy(copy, buf, b.len);
        copy[0] = (uint8_t) (b.len + 4);
        copy[1] = (uint8_t) ((b.len + 4) >> 8);
        ck_assert_int_eq(vfnet_parse_reply(copy, b.len, SEQ, PORT, 0, &c), -EBADMSG);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("vfnet");
        TCase *tc = tcase_create("vfnet");

        tcase_add_test(tc, test_mac);
        tcase_add_test(tc, test_parse_link);
        tcase_add_test(tc, test_parse_ack);
        tcase_add_test(tc, test_parse_malformed);
        suite_add_tcase(s, tc);
        tc = tcase_create("find");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_find);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(suite());
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
