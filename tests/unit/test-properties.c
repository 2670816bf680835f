/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus objects' properties as a client sees them: every model change bit announces exactly its
 * properties (a full mask all of them), every property has its own value of its own signature,
 * and the tables the vtables are made from list each property once. The daemon's objects are
 * served on one end of a socketpair (as --bus-introspect does) over a model of one device in one
 * group, one lease and a region of it, on an empty tree (no memory pools). */
#include <check.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "names.h"
#include "util.h"

#define DEVICE_ADDRESS "0000:03:00.0"

static struct {
        Topology topology;
        Model model;
        HostInfo host;
        Device device;
        Device *devices[1];
        Group group;
        Group *groups[1];
        LeaseDevice lease_devices[1];
        Lease lease;
        Lease *leases[1];
        LeaseSet set;
        Region region;
        Region *regions[1];
        char tree[64];
        SysRoot *root;
        Manager d;
        sd_bus *client;
        char **changed; /* the names the PropertiesChanged signals carried */
        unsigned n_changed_signals;
        bool marker;
        bool replied;
        sd_bus_message *reply;
} w;

static char *reset_methods[] = { (char *) "flr", (char *) "bus", NULL };
static char *group_devices[] = { (char *) DEVICE_ADDRESS, NULL };
static Blocker blockers[] = { { .code = (char *) "rmrr", .reason = (char *) "RMRR" } };
static ReservedRegion regions[] = {
        { .start = 0xfee00000, .end = 0xfeefffff, .type = (char *) "msi" }
};

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name;

        if (sd_bus_message_is_signal(m, "org.vfioassign1.Test", "Marker")) {
                w.marker = true;
                return 0;
        }
        if (!sd_bus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged"))
                return 0;
        w.n_changed_signals++;
        ck_assert_int_ge(sd_bus_message_skip(m, "s"), 0);
        ck_assert_int_ge(sd_bus_message_enter_container(m, 'a', "{sv}"), 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                ck_assert_int_ge(sd_bus_message_read(m, "s", &name), 0);
                ck_assert_int_ge(strv_extend(&w.changed, name), 0);
                ck_assert_int_ge(sd_bus_message_skip(m, "v"), 0);
                ck_assert_int_ge(sd_bus_message_exit_container(m), 0);
        }
        ck_assert_int_ge(sd_bus_message_exit_container(m), 0);
        ck_assert_int_ge(sd_bus_message_enter_container(m, 'a', "s"), 0);
        while (sd_bus_message_read(m, "s", &name) > 0)
                ck_assert_int_ge(strv_extend(&w.changed, name), 0);
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        w.reply = sd_bus_message_ref(m);
        w.replied = true;
        return 0;
}

/* Both ends run in this thread: each is processed in turn until *done. */
static void pump_until(const bool *done) {
        for (unsigned i = 0; !*done; i++) {
                int a = sd_bus_process(w.d.bus, NULL), b = sd_bus_process(w.client, NULL);

                ck_assert_int_ge(a, 0);
                ck_assert_int_ge(b, 0);
                ck_assert_uint_lt(i, 1000);
                if (a == 0 && b == 0 && !*done)
                        ck_assert_int_ge(sd_bus_wait(w.client, 10 * 1000), 0);
        }
}

static sd_bus_message *call(const char *path, const char *interface, const char *member,
                            const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;

        ck_assert_int_ge(sd_bus_message_new_method_call(w.client, &m, NULL, path, interface,
                                                        member),
                         0);
        va_start(ap, types);
        ck_assert_int_ge(sd_bus_message_appendv(m, types, ap), 0);
        va_end(ap);
        w.replied = false;
        ck_assert_int_ge(sd_bus_call_async(w.client, NULL, m, on_reply, NULL, 0), 0);
        pump_until(&w.replied);
        return TAKE_PTR(w.reply);
}

static void setup(void) {
        int fds[2];
        sd_id128_t id;

        w.device = (Device) {
                .address = DEVICE_ADDRESS,
                .vendor = 0x8086,
                .device = 0x10d3,
                .subsystem_vendor = 0x1028,
                .subsystem_device = 0x0001,
                .class = 0x020000,
                .vendor_name = (char *) "Intel Corporation",
                .device_name = (char *) "82574L",
                .driver = (char *) "e1000e",
                .reset_methods = reset_methods,
                .numa_node = -1,
                .boot_vga = -1,
                .sriov_totalvfs = 8,
                .sriov_numvfs = 2,
                .group = 7,
                .vfio_dev = (char *) "vfio3",
                .devpath = (char *) "sys/devices/pci0000:00/0000:00:03.0/" DEVICE_ADDRESS,
                .rmrr_locked = true,
                .host_critical = (char *) "boot disk",
        };
        ck_assert_int_eq(pci_address_parse(DEVICE_ADDRESS, &w.device.addr), 0);
        w.group = (Group) { .id = 7,
                            .devices = group_devices,
                            .assignable = false,
                            .blockers = blockers,
                            .n_blockers = 1,
                            .regions = regions,
                            .n_regions = 1,
                            .regions_known = true };
        w.lease_devices[0] = (LeaseDevice) { .address = DEVICE_ADDRESS };
        w.lease = (Lease) { .id = 5,
                            .kind = LEASE_CLAIM,
                            .state = LEASE_STUCK,
                            .group = 7,
                            .devices = w.lease_devices,
                            .n_devices = 1,
                            .holder = (char *) ":1.42",
                            .uid = 1000,
                            .pid = 4242,
                            .reason = (char *) "busy",
                            .close_wd = -1,
                            .holder_pidfd = -1 };
        ck_assert_int_eq(vfio_backend_new(&vfio_type1_ops, 7, &w.lease.backend), 0);
        w.devices[0] = &w.device;
        w.groups[0] = &w.group;
        w.leases[0] = &w.lease;
        w.topology = (Topology) {
                .devices = w.devices, .n_devices = 1, .groups = w.groups, .n_groups = 1
        };
        strcpy(w.tree, "/tmp/test-properties.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(w.tree));
        ck_assert_int_eq(sysroot_open(w.tree, w.tree, &w.root), 0);
        w.model = (Model) { .topology = &w.topology, .host = &w.host, .root = w.root };
        w.set = (LeaseSet) { .leases = w.leases, .n = 1 };
        /* A ready region of one page, as region.c leaves one (no fill thread). */
        w.region = (Region) { .id = 3,
                              .lease_id = 5,
                              .uid = 1000,
                              .state = REGION_READY,
                              .iova = REGION_NO_IOVA,
                              .notify_fd = -1 };
        ck_assert_int_eq(mem_region_new(4096, MEM_PAGE_4K, MEM_NODE_ANY, &w.region.mem, NULL), 0);
        atomic_init(&w.region.populated, 4096);
        w.regions[0] = &w.region;
        w.d = (Manager) { .model = &w.model,
                          .leases = &w.set,
                          .inotify_fd = -1,
                          .regions = w.regions,
                          .n_regions = 1 };

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        ck_assert_int_ge(sd_id128_randomize(&id), 0);
        ck_assert_int_ge(sd_bus_new(&w.d.bus), 0);
        ck_assert_int_ge(sd_bus_set_fd(w.d.bus, fds[0], fds[0]), 0);
        ck_assert_int_ge(sd_bus_set_server(w.d.bus, 1, id), 0);
        ck_assert_int_ge(sd_bus_set_anonymous(w.d.bus, 1), 0);
        ck_assert_int_ge(bus_register_objects(&w.d), 0);
        ck_assert_int_ge(sd_bus_start(w.d.bus), 0);
        ck_assert_int_ge(sd_bus_new(&w.client), 0);
        ck_assert_int_ge(sd_bus_set_fd(w.client, fds[1], fds[1]), 0);
        ck_assert_int_ge(sd_bus_set_anonymous(w.client, 1), 0);
        ck_assert_int_ge(sd_bus_add_filter(w.client, NULL, on_message, NULL), 0);
        ck_assert_int_ge(sd_bus_start(w.client), 0);
        sd_bus_message_unref(call("/", "org.freedesktop.DBus.Peer", "Ping", ""));
}

static void teardown(void) {
        w.client = sd_bus_flush_close_unref(w.client);
        w.d.bus = sd_bus_flush_close_unref(w.d.bus);
        lease_bus_forget(&w.lease);
        w.lease.backend = vfio_backend_free(w.lease.backend);
        strv_free(w.changed);
        w.changed = NULL;
        w.region.mem = mem_region_free(w.region.mem);
        w.root = sysroot_free(w.root);
        ck_assert_int_eq(rmdir(w.tree), 0);
}

static char *join_sorted(char **names) {
        char *s = NULL;

        strv_sort(names);
        for (char **n = names; n && *n; n++)
                ck_assert_int_ge(strextendf(&s, ",", "%s", *n), 0);
        return s ?: strdup("");
}

/* What emit() announced, sorted and joined by commas. A marker signal sent after it tells that
 * everything it sent has arrived. */
static char *emitted(int (*emit)(void)) {
        strv_free(w.changed);
        w.changed = NULL;
        w.n_changed_signals = 0;
        w.marker = false;
        ck_assert_int_ge(emit(), 0);
        ck_assert_int_ge(sd_bus_emit_signal(w.d.bus, "/", "org.vfioassign1.Test", "Marker", ""), 0);
        pump_until(&w.marker);
        ck_assert_uint_le(w.n_changed_signals, 1);
        return join_sorted(w.changed);
}

static Change change;

static int emit_model_change(void) {
        return bus_emit_changes(&w.d, &(ChangeList) { .changes = &change, .n = 1 });
}

static int emit_lease_change(void) {
        return lease_bus_emit_changed(&w.d, &w.lease);
}

static int emit_region_change(void) {
        return region_bus_emit_changed(&w.d, &w.region);
}

/* The API as documented: what each model change bit announces, written out independently of the
 * tables. A bit not listed announces nothing. */
typedef struct BitSpec {
        uint32_t bit;
        const char *names;
} BitSpec;

static const BitSpec device_spec[] = {
        { DEVICE_CHANGED_IDS,
          "Class,Device,DeviceName,SubsystemDevice,SubsystemVendor,Vendor,VendorName,VfioDriver" },
        { DEVICE_CHANGED_DRIVER, "Driver" },
        { DEVICE_CHANGED_DRIVER_OVERRIDE, "DriverOverride" },
        { DEVICE_CHANGED_RESET, "ResetMethods" },
        { DEVICE_CHANGED_NUMA, "NumaNode" },
        { DEVICE_CHANGED_BOOT_VGA, "BootVga" },
        { DEVICE_CHANGED_PHYSFN, "PhysFn" },
        { DEVICE_CHANGED_VIRTFNS, "VirtFns" },
        { DEVICE_CHANGED_SRIOV, "SriovNumVfs,SriovTotalVfs" },
        { DEVICE_CHANGED_BRIDGE, "Bridge" },
        { DEVICE_CHANGED_GROUP, "Group" },
        { DEVICE_CHANGED_VFIO_DEV, "VfioDevice" },
        { DEVICE_CHANGED_RMRR, "RmrrLocked" },
        { DEVICE_CHANGED_HOST_CRITICAL, "HostCritical" },
};

static const BitSpec group_spec[] = {
        { GROUP_CHANGED_DEVICES, "Devices" },         { GROUP_CHANGED_TYPE, "Type" },
        { GROUP_CHANGED_REGIONS, "ReservedRegions" }, { GROUP_CHANGED_ASSIGNABLE, "Assignable" },
        { GROUP_CHANGED_BLOCKERS, "Blockers" },       { GROUP_CHANGED_JOB, "Job" },
};

/* The properties a vtable says change, sorted and joined. */
static char *emitting(const sd_bus_vtable *vtable) {
        _cleanup_strv_free_ char **names = NULL;

        for (const sd_bus_vtable *v = vtable; v->type != _SD_BUS_VTABLE_END; v++)
                if (v->type == _SD_BUS_VTABLE_PROPERTY &&
                    (v->flags & (SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE |
                                 SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION)))
                        ck_assert_int_ge(strv_extend(&names, v->x.property.member), 0);
        return join_sorted(names);
}

static void check_bits(ChangeKind kind, const BitSpec *spec, size_t n_spec,
                       const sd_bus_vtable *vtable, size_t n_all) {
        _cleanup_free_ char *all = NULL, *every = emitting(vtable);
        uint32_t full = 0;

        change = (Change) { .kind = kind, .address = DEVICE_ADDRESS, .group = 7 };
        for (unsigned b = 0; b < 32; b++) {
                _cleanup_free_ char *got = NULL;
                const char *want = "";

                change.mask = 1u << b;
                for (size_t i = 0; i < n_spec; i++)
                        if (spec[i].bit == change.mask)
                                want = spec[i].names;
                got = emitted(emit_model_change);
                ck_assert_msg(streq(got, want), "bit %u announces \"%s\", not \"%s\"", b, got,
                              want);
                full |= change.mask;
        }
        /* Every bit at once: every property that changes, none dropped. */
        change.mask = full;
        all = emitted(emit_model_change);
        ck_assert_str_eq(all, every);
        ck_assert_uint_eq(strv_length(w.changed), n_all);
}

START_TEST(test_device_change_bits) {
        check_bits(CHANGE_DEVICE_CHANGED, device_spec, ELEMENTSOF(device_spec), device_vtable, 22);
}
END_TEST

START_TEST(test_group_change_bits) {
        check_bits(CHANGE_GROUP_CHANGED, group_spec, ELEMENTSOF(group_spec), group_vtable, 6);
}
END_TEST

static int emit_policy_change(void) {
        manager_bus_send_policy_changed(&w.d);
        return 0;
}

static int emit_host_change(void) {
        manager_bus_send_host_changed(&w.d);
        return 0;
}

static int emit_job_change(void) {
        group_bus_send_job_changed(&w.d, 7);
        return 0;
}

/* What the manager announces: its own properties, and a group's job. */
START_TEST(test_manager_changes) {
        _cleanup_free_ char *policy = emitted(emit_policy_change),
                            *host = emitted(emit_host_change), *job = emitted(emit_job_change),
                            *every = emitting(manager_vtable), *both = NULL;

        ck_assert_str_eq(policy, "PolicyError,PolicyFiles");
        ck_assert_str_eq(host, "Backends,InterruptRemapping,IommuPresent");
        ck_assert_str_eq(job, "Job");
        ck_assert_int_ge(asprintf(&both, "%s,%s", host, policy), 0);
        ck_assert_str_eq(both, every);
}
END_TEST

START_TEST(test_lease_changed) {
        _cleanup_free_ char *got = emitted(emit_lease_change), *every = emitting(lease_vtable);

        ck_assert_str_eq(got, "CdiDevices,Holder,Holders,Reason,State");
        ck_assert_str_eq(got, every);
}
END_TEST

/* What a region announces while it fills and when it is done: all that can change in it. */
START_TEST(test_region_changed) {
        _cleanup_free_ char *got = emitted(emit_region_change), *every = emitting(region_vtable);

        ck_assert_str_eq(got, "Error,Mapped,Populated,State");
        ck_assert_str_eq(got, every);
}
END_TEST

static const struct {
        const char *interface;
        const sd_bus_vtable *vtable;
        const BusProperty *properties;
} objects[] = {
        { IFACE_MANAGER, manager_vtable, manager_properties },
        { IFACE_GROUP, group_vtable, group_properties },
        { IFACE_DEVICE, device_vtable, device_properties },
        { IFACE_LEASE, lease_vtable, lease_properties },
        { IFACE_REGION, region_vtable, region_properties },
};

START_TEST(test_vtables_are_the_tables) {
        for (size_t i = 0; i < ELEMENTSOF(objects); i++) {
                size_t n_vtable = 0, n_table = 0;

                for (const BusProperty *p = objects[i].properties; p->name; p++)
                        n_table++;
                for (const sd_bus_vtable *v = objects[i].vtable; v->type != _SD_BUS_VTABLE_END;
                     v++) {
                        const BusProperty *row = NULL;
                        unsigned rows = 0;

                        if (v->type != _SD_BUS_VTABLE_PROPERTY)
                                continue;
                        n_vtable++;
                        for (const BusProperty *p = objects[i].properties; p->name; p++)
                                if (streq(p->name, v->x.property.member)) {
                                        row = p;
                                        rows++;
                                }
                        ck_assert_msg(rows == 1, "%s.%s is in its table %u times",
                                      objects[i].interface, v->x.property.member, rows);
                        ck_assert_str_eq(row->signature, v->x.property.signature);
                        ck_assert_ptr_eq(row->get, v->x.property.get);
                        ck_assert_ptr_nonnull(row->get);
                        ck_assert_uint_eq(row->flags, v->flags);
                        /* A property that changes is announced by its bit, with its value or
                         * (explicit ones) as invalidated. */
                        ck_assert_msg(!!row->change ==
                                              !!(row->flags &
                                                 (SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE |
                                                  SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION)),
                                      "%s.%s: change bit %#x, flags %#llx", objects[i].interface,
                                      row->name, row->change, (unsigned long long) row->flags);
                }
                ck_assert_uint_eq(n_vtable, n_table);
        }
}
END_TEST

/* A variant's value as text: numbers in decimal, booleans as true/false, string arrays joined by
 * commas; other signatures as the signature itself. */
static char *variant_text(sd_bus_message *m, const char *sig) {
        union {
                uint16_t q;
                uint32_t u;
                int32_t i;
                uint64_t t;
                int b;
                const char *s;
        } v;
        char *text = NULL;

        ck_assert_int_ge(sd_bus_message_enter_container(m, 'v', sig), 0);
        if (streq(sig, "as")) {
                _cleanup_strv_free_ char **l = NULL;

                ck_assert_int_ge(sd_bus_message_read_strv(m, &l), 0);
                for (char **s = l; s && *s; s++)
                        ck_assert_int_ge(strextendf(&text, ",", "%s", *s), 0);
        } else if (strlen(sig) == 1) {
                ck_assert_int_ge(sd_bus_message_read_basic(m, sig[0], &v), 0);
                switch (sig[0]) {
                case 'q':
                        ck_assert_int_ge(asprintf(&text, "%u", v.q), 0);
                        break;
                case 'u':
                        ck_assert_int_ge(asprintf(&text, "%u", v.u), 0);
                        break;
                case 'i':
                        ck_assert_int_ge(asprintf(&text, "%d", v.i), 0);
                        break;
                case 't':
                        ck_assert_int_ge(asprintf(&text, "%llu", (unsigned long long) v.t), 0);
                        break;
                case 'b':
                        text = strdup(v.b ? "true" : "false");
                        break;
                default:
                        text = strdup(v.s);
                }
        } else {
                ck_assert_int_ge(sd_bus_message_skip(m, sig), 0);
                text = strdup(sig);
        }
        ck_assert_int_ge(sd_bus_message_exit_container(m), 0);
        return text ?: strdup("");
}

/* Get of one explicit property: its row's signature, its value as name=value in *got. */
static void check_get_explicit(size_t object, const char *path, const BusProperty *row,
                               char ***got) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *text = NULL;
        const char *sig;
        char type;

        reply = call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                     objects[object].interface, row->name);
        ck_assert_msg(!sd_bus_message_is_method_error(reply, NULL), "Get %s on %s: %s", row->name,
                      path, sd_bus_message_get_error(reply)->message);
        ck_assert_int_gt(sd_bus_message_peek_type(reply, &type, &sig), 0);
        ck_assert_int_eq(type, 'v');
        ck_assert_str_eq(sig, row->signature);
        text = variant_text(reply, sig);
        ck_assert_int_ge(strv_extendf(got, "%s=%s", row->name, text), 0);
}

/* GetAll on the object: every property of the table but the explicit ones once, each of its row's
 * signature; Get answers each explicit one; and the values listed (name=value, all of them for
 * the device, lease and group: one getter each). */
static void check_get_all(size_t object, const char *path, const char *const *values) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **got = NULL, **want = NULL;
        _cleanup_free_ char *got_text = NULL, *want_text = NULL;
        size_t n_table = 0, n = 0;
        const char *name, *sig;
        char type;

        for (const BusProperty *p = objects[object].properties; p->name; p++)
                if (p->flags & SD_BUS_VTABLE_PROPERTY_EXPLICIT)
                        check_get_explicit(object, path, p, &got);
                else
                        n_table++;
        reply = call(path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                     objects[object].interface);
        ck_assert_msg(!sd_bus_message_is_method_error(reply, NULL), "GetAll on %s: %s", path,
                      sd_bus_message_get_error(reply)->message);
        ck_assert_int_ge(sd_bus_message_enter_container(reply, 'a', "{sv}"), 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                const BusProperty *row = NULL;

                ck_assert_int_ge(sd_bus_message_read(reply, "s", &name), 0);
                for (const BusProperty *p = objects[object].properties; p->name; p++)
                        if (streq(p->name, name))
                                row = p;
                ck_assert_msg(row, "%s has %s, which is not in its table", path, name);
                ck_assert_msg(!(row->flags & SD_BUS_VTABLE_PROPERTY_EXPLICIT),
                              "GetAll on %s has the explicit %s", path, name);
                ck_assert_int_gt(sd_bus_message_peek_type(reply, &type, &sig), 0);
                ck_assert_int_eq(type, 'v');
                ck_assert_str_eq(sig, row->signature);
                if (values) {
                        _cleanup_free_ char *text = variant_text(reply, sig);

                        ck_assert_int_ge(strv_extendf(&got, "%s=%s", name, text), 0);
                } else
                        ck_assert_int_ge(sd_bus_message_skip(reply, "v"), 0);
                ck_assert_int_ge(sd_bus_message_exit_container(reply), 0);
                n++;
        }
        ck_assert_uint_eq(n, n_table);
        if (values) {
                for (const char *const *v = values; *v; v++)
                        ck_assert_int_ge(strv_extend(&want, *v), 0);
                got_text = join_sorted(got);
                want_text = join_sorted(want);
                ck_assert_str_eq(got_text, want_text);
        }
}

START_TEST(test_get_all) {
        static const char *const device[] = {
                "Address=" DEVICE_ADDRESS,
                "Vendor=32902",
                "Device=4307",
                "SubsystemVendor=4136",
                "SubsystemDevice=1",
                "Class=131072",
                "VendorName=Intel Corporation",
                "DeviceName=82574L",
                "Driver=e1000e",
                "DriverOverride=",
                "Group=7",
                "Bridge=false",
                "ResetMethods=flr,bus",
                "NumaNode=-1",
                "PcieRoot=pci0000:00",
                "BootVga=false",
                "PhysFn=",
                "VirtFns=",
                "SriovTotalVfs=8",
                "SriovNumVfs=2",
                "RmrrLocked=true",
                "HostCritical=boot disk",
                "VfioDevice=vfio3",
                "VfioDriver=vfio-pci",
                NULL,
        };
        static const char *const group[] = {
                "Id=7",
                "Devices=" DEVICE_ADDRESS,
                "Type=",
                "Assignable=false",
                "Blockers=a(sss)",
                "ReservedRegions=a(tts)",
                "Job=",
                NULL,
        };
        static const char *const lease[] = {
                "Id=5",
                "Kind=claim",
                "Group=7",
                "Devices=" DEVICE_ADDRESS,
                "Holder=:1.42",
                "Uid=1000",
                "Pid=4242",
                "State=stuck",
                "Reason=busy",
                "Persistent=false",
                "Backend=type1",
                "Holders=a(us)",
                "Owner=",
                "CdiDevices=",
                NULL,
        };
        static const char *const region[] = {
                "Lease=" OBJ_LEASE_PREFIX "/5",
                "Size=4096",
                "Populated=4096",
                "PageSize=4K",
                "NumaNode=-1",
                "State=ready",
                "Error=",
                "Mapped=false",
                "Iova=18446744073709551615",
                NULL,
        };
        _cleanup_free_ char *device_path = NULL, *group_path = NULL, *lease_path = NULL,
                            *region_path = NULL;

        ck_assert_int_ge(device_object_path(DEVICE_ADDRESS, &device_path), 0);
        ck_assert_int_ge(group_object_path(7, &group_path), 0);
        ck_assert_int_ge(lease_object_path(5, &lease_path), 0);
        ck_assert_int_ge(region_object_path(3, &region_path), 0);
        check_get_all(0, OBJ_ROOT, NULL);
        check_get_all(1, group_path, group);
        check_get_all(2, device_path, device);
        check_get_all(3, lease_path, lease);
        check_get_all(4, region_path, region);
}
END_TEST

static char *manager_backends(void) {
        _cleanup_(sd_bus_message_unrefp)
                sd_bus_message *reply = call(OBJ_ROOT, "org.freedesktop.DBus.Properties", "Get",
                                             "ss", IFACE_MANAGER, "Backends");

        ck_assert_msg(!sd_bus_message_is_method_error(reply, NULL), "Get Backends: %s",
                      sd_bus_message_get_error(reply)->message);
        return variant_text(reply, "as");
}

/* Backends comes from the host facts: type1 wants an IOMMU and the vfio container (its node, or
 * the vfio module that makes it). */
START_TEST(test_manager_backends) {
        static const struct {
                bool iommu, node, module;
                const char *want;
        } cases[] = {
                { true, true, true, "type1" },  { true, true, false, "type1" },
                { true, false, true, "type1" }, { true, false, false, "" },
                { false, true, true, "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = NULL;

                w.host.iommu_present = cases[i].iommu;
                w.host.vfio_container_node = cases[i].node;
                w.host.mod_vfio = cases[i].module;
                got = manager_backends();
                ck_assert_msg(streq(got, cases[i].want), "case %zu: Backends %s, expected %s", i,
                              got, cases[i].want);
        }
}
END_TEST

/* A name no table has is an error, never another property's value. */
START_TEST(test_unknown_property) {
        _cleanup_free_ char *group_path = NULL, *device_path = NULL, *lease_path = NULL,
                            *region_path = NULL;

        ck_assert_int_ge(group_object_path(7, &group_path), 0);
        ck_assert_int_ge(device_object_path(DEVICE_ADDRESS, &device_path), 0);
        ck_assert_int_ge(lease_object_path(5, &lease_path), 0);
        ck_assert_int_ge(region_object_path(3, &region_path), 0);
        for (size_t i = 0; i < ELEMENTSOF(objects); i++) {
                const char *paths[] = { OBJ_ROOT, group_path, device_path, lease_path,
                                        region_path };
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

                reply = call(paths[i], "org.freedesktop.DBus.Properties", "Get", "ss",
                             objects[i].interface, "Nope");
                ck_assert_msg(sd_bus_message_is_method_error(reply, SD_BUS_ERROR_UNKNOWN_PROPERTY),
                              "%s.Nope did not fail with UnknownProperty", objects[i].interface);
        }
}
END_TEST

int main(void) {
        Suite *s = suite_create("properties");
        TCase *tc = tcase_create("tables");
        SRunner *sr;
        int failed;

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_device_change_bits);
        tcase_add_test(tc, test_group_change_bits);
        tcase_add_test(tc, test_lease_changed);
        tcase_add_test(tc, test_region_changed);
        tcase_add_test(tc, test_manager_changes);
        tcase_add_test(tc, test_manager_backends);
        tcase_add_test(tc, test_vtables_are_the_tables);
        tcase_add_test(tc, test_get_all);
        tcase_add_test(tc, test_unknown_property);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
