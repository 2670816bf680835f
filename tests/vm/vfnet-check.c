/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfnet-check: daemon/vfnet.c against the real kernel's rtnetlink (the vfnet-netdevsim
 * scenario: netdevsim's VFs, compared with `ip -j -d link show`).
 *
 *   vfnet-check IFNAME VF get
 *   vfnet-check IFNAME VF set [mac=M] [vlan=N [qos=N]] [spoofchk=on|off] [trust=on|off]
 *
 * get prints one line, "mac=M vlan=N qos=N spoofchk=on|off|- trust=on|off|-" ("-": the driver
 * reports none); set prints nothing. A failure is one line on stderr, "vfnet-check: ...: <the
 * kernel's strerror> (errno N)", and exit status 1; usage errors exit 2. The PF's ifindex comes
 * from if_nametoindex(): netdevsim's VFs are no PCI functions, so vfnet_find() (covered by
 * tests/unit/test-vfnet.c and tests/mock) has nothing to read here.
 *
 * Built on the host by tests/vm/run.sh with vfnet.c and what it links (sysfs.c, worker.c,
 * util.c, bdf.c), installed in the guest as /usr/local/bin/vfnet-check. */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "util.h"
#include "vfnet.h"

static int usage(void) {
        fprintf(stderr, "usage: vfnet-check IFNAME VF get\n"
                        "       vfnet-check IFNAME VF set [mac=M] [vlan=N [qos=N]] "
                        "[spoofchk=on|off] [trust=on|off]\n");
        return 2;
}

static const char *onoff(int v) {
        return v < 0 ? "-" : v ? "on" : "off";
}

static int parse_onoff(const char *s) {
        return streq(s, "on") ? 1 : streq(s, "off") ? 0 : -1;
}

/* The all-zero address is what a VF has before anyone sets one: the scenario restores it. */
static int parse_mac(const char *s, uint8_t mac[6]) {
        if (streq(s, "00:00:00:00:00:00")) {
                memset(mac, 0, 6);
                return 0;
        }
        return vfnet_parse_mac(s, mac);
}

static int parse_set(int argc, char **argv, VfNetConfig *ret) {
        VfNetConfig c = VF_NET_CONFIG_NONE;
        bool have_qos = false;
        uint32_t v;

        for (int i = 0; i < argc; i++) {
                const char *val = strchr(argv[i], '=');

                if (!val)
                        return -EINVAL;
                val++;
                if (strneq(argv[i], "mac=", 4)) {
                        if (parse_mac(val, c.mac) < 0)
                                return -EINVAL;
                        c.set_mac = true;
                } else if (strneq(argv[i], "vlan=", 5)) {
                        if (safe_atou32(val, 10, &v) < 0 || v > 4095)
                                return -EINVAL;
                        c.vlan = (uint16_t) v;
                        c.set_vlan = true;
                } else if (strneq(argv[i], "qos=", 4)) {
                        if (safe_atou32(val, 10, &v) < 0 || v > 7)
                                return -EINVAL;
                        c.qos = (uint8_t) v;
                        have_qos = true;
                } else if (strneq(argv[i], "spoofchk=", 9)) {
                        c.spoofchk = parse_onoff(val);
                        if (c.spoofchk < 0)
                                return -EINVAL;
                } else if (strneq(argv[i], "trust=", 6)) {
                        c.trust = parse_onoff(val);
                        if (c.trust < 0)
                                return -EINVAL;
                } else
                        return -EINVAL;
        }
        /* IFLA_VF_VLAN carries both: a QoS alone has no VLAN to go with. */
        if (have_qos && !c.set_vlan)
                return -EINVAL;
        *ret = c;
        return 0;
}

int main(int argc, char **argv) {
        VfNetTarget t = {};
        VfNetConfig c;
        uint32_t vf;
        char mac[18];
        int r;

        if (argc < 4 || strlen(argv[1]) >= IFNAMSIZ || safe_atou32(argv[2], 10, &vf) < 0)
                return usage();
        strcpy(t.pf_ifname, argv[1]);
        t.vf = vf;
        t.pf_ifindex = (int) if_nametoindex(argv[1]);
        if (t.pf_ifindex <= 0) {
                fprintf(stderr, "vfnet-check: no netdev %s: %s (errno %d)\n", argv[1],
                        strerror(errno), errno);
                return 1;
        }
        if (streq(argv[3], "get") && argc == 4) {
                r = vfnet_get(&t, &c);
                if (r >= 0) {
                        vfnet_format_mac(c.mac, mac);
                        printf("mac=%s vlan=%u qos=%u spoofchk=%s trust=%s\n", mac, c.vlan, c.qos,
                               onoff(c.spoofchk), onoff(c.trust));
                }
        } else if (streq(argv[3], "set")) {
                if (parse_set(argc - 4, argv + 4, &c) < 0)
                        return usage();
                r = vfnet_set(&t, &c);
        } else
                return usage();
        if (r < 0) {
                fprintf(stderr, "vfnet-check: %s VF %u of %s (ifindex %d): %s (errno %d)\n",
                        argv[3], vf, argv[1], t.pf_ifindex, strerror(-r), -r);
                return 1;
        }
        return 0;
}
