/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "sysfs.h"

/* A VF's network settings as its PF's driver keeps them: the PF netdev's IFLA_VFINFO_LIST over
 * rtnetlink (include/uapi/linux/if_link.h: IFLA_VF_MAC, IFLA_VF_VLAN, IFLA_VF_SPOOFCHK,
 * IFLA_VF_TRUST), what `ip link set PF vf N mac|vlan|spoofchk|trust` sets. Needs CAP_NET_ADMIN
 * to set. */

typedef struct VfNetConfig {
        bool set_mac;
        uint8_t mac[6];
        bool set_vlan;
        uint16_t vlan; /* 0: none; at most 4095 */
        uint8_t qos;   /* 802.1p priority, at most 7 */
        int spoofchk;  /* -1: not set (vfnet_set) or not reported (vfnet_get); else 0/1 */
        int trust;     /* the same */
} VfNetConfig;

#define VF_NET_CONFIG_NONE ((VfNetConfig) { .spoofchk = -1, .trust = -1 })

/* Where a VF's settings live: its PF's netdev and the VF's number there. */
typedef struct VfNetTarget {
        char pf_ifname[IFNAMSIZ];
        int pf_ifindex;
        uint32_t vf;
} VfNetTarget;

/* From sysfs under the root: the VF's physfn link, the PF's net/IFNAME (its netdev, there while
 * a NIC driver is bound), that netdev's ifindex, and the PF's virtfnN that names the VF.
 * -ENOENT when the VF's PF has no netdev; -EINVAL when address is no VF. */
int vfnet_find(const SysRoot *r, const char *vf_address, VfNetTarget *ret);

/* RTM_GETLINK of the PF with IFLA_EXT_MASK RTEXT_FILTER_VF: the VF's MAC, VLAN and QoS (VLAN
 * 0 when none), spoof check and trust (-1 when the driver reports none). -ENOENT when the PF
 * lists no such VF. */
int vfnet_get(const VfNetTarget *t, VfNetConfig *ret);

/* One RTM_SETLINK of the PF with what c sets (set_mac, set_vlan, spoofchk and trust >= 0), acked;
 * the kernel applies them in that order and stops at the first that fails (do_setvfinfo()):
 * the error is returned and the ones before it stay applied. */
int vfnet_set(const VfNetTarget *t, const VfNetConfig *c);

/* "52:54:00:12:34:56" (case-insensitive, colons) <-> bytes; -EINVAL for anything else, and for
 * a multicast or all-zero address, which is no address to give a VF (the all-zero one a VF has
 * before anyone set one is restored with vfnet_set(), not parsed). */
int vfnet_parse_mac(const char *s, uint8_t ret[6]);
void vfnet_format_mac(const uint8_t mac[6], char ret[18]);
