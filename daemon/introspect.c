/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "introspect.h"
#include "names.h"
#include "util.h"

/* libsystemd has no public call that renders a vtable as introspection XML without a bus, so we
 * serve our vtables on one end of a socketpair (a peer-to-peer D-Bus connection, no bus daemon)
 * and ask sd-bus's own Introspect on the other. The output is therefore exactly what
 * `busctl introspect` shows of the running daemon. */

typedef struct Server {
        sd_bus *bus;
        volatile int stop;
} Server;

static void *serve(void *p) {
        Server *s = p;

        while (!s->stop) {
                int k = sd_bus_process(s->bus, NULL);
                if (k < 0)
                        break;
                if (k == 0 && sd_bus_wait(s->bus, 100 * 1000) < 0)
                        break;
        }
        return NULL;
}

/* Cuts the <interface name="NAME"> element out of an introspection document. */
static int extract_interface(const char *xml, const char *name, char **ret) {
        _cleanup_free_ char *open = NULL;
        const char *b, *e;
        char *s;

        if (asprintf(&open, " <interface name=\"%s\">", name) < 0)
                return -ENOMEM;
        b = strstr(xml, open);
        if (!b)
                return -ENOENT;
        e = strstr(b, " </interface>\n");
        if (!e)
                return -EBADMSG;
        e += strlen(" </interface>\n");
        s = strndup(b, (size_t) (e - b));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int introspect(sd_bus *client, const char *path, const char *interface, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *xml;
        int k;

        k = sd_bus_call_method(client, NULL, path, "org.freedesktop.DBus.Introspectable",
                               "Introspect", &error, &reply, "");
        if (k < 0)
                return k;
        k = sd_bus_message_read(reply, "s", &xml);
        if (k < 0)
                return k;
        return extract_interface(xml, interface, ret);
}

int bus_print_introspection(FILE *out) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *client = NULL;
        _cleanup_free_ char *mgr = NULL, *grp = NULL, *dev = NULL, *devpath = NULL, *grppath = NULL;
        _cleanup_free_ char *lease = NULL, *leasepath = NULL, *region = NULL, *regionpath = NULL;
        Server server = {};
        Topology topology = {};
        Model model = { .topology = &topology };
        HostInfo host = {};
        Device device = { .address = "0000:00:00.0", .group = 0 };
        Group group = { .id = 0 };
        Device *devices[] = { &device, NULL };
        Group *groups[] = { &group, NULL };
        Lease l = { .id = 1, .close_wd = -1, .holder_pidfd = -1 };
        Lease *leases[] = { &l };
        LeaseSet set = { .leases = leases, .n = 1 };
        Region rg = { .id = 1, .lease_id = 1 }; /* no memory: introspection reads no property */
        Region *regions[] = { &rg };
        Manager d = { .model = &model, .leases = &set, .regions = regions, .n_regions = 1 };
        pthread_t thread;
        sd_id128_t id;
        int fds[2], k;

        /* A model with one device in one group, a lease and a region, so every object path
         * resolves. */
        topology.devices = devices;
        topology.n_devices = 1;
        topology.groups = groups;
        topology.n_groups = 1;
        model.host = &host;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                return negative_errno();
        k = sd_bus_new(&server.bus);
        if (k < 0)
                goto close_fds;
        d.bus = server.bus;
        k = sd_id128_randomize(&id);
        if (k >= 0)
                k = sd_bus_set_fd(server.bus, fds[0], fds[0]);
        if (k >= 0)
                k = sd_bus_set_server(server.bus, 1, id);
        if (k >= 0)
                k = sd_bus_set_anonymous(server.bus, 1);
        if (k >= 0)
                k = bus_register_objects(&d);
        if (k >= 0)
                k = sd_bus_start(server.bus);
        if (k < 0)
                goto close_fds;
        fds[0] = -1;
        k = sd_bus_new(&client);
        if (k >= 0)
                k = sd_bus_set_fd(client, fds[1], fds[1]);
        if (k >= 0)
                k = sd_bus_set_anonymous(client, 1);
        if (k >= 0)
                k = sd_bus_start(client);
        if (k < 0)
                goto close_fds;
        fds[1] = -1;

        k = -pthread_create(&thread, NULL, serve, &server);
        if (k < 0)
                goto close_fds;
        k = device_object_path(device.address, &devpath);
        if (k >= 0)
                k = group_object_path(group.id, &grppath);
        if (k >= 0)
                k = introspect(client, OBJ_ROOT, IFACE_MANAGER, &mgr);
        if (k >= 0)
                k = introspect(client, grppath, IFACE_GROUP, &grp);
        if (k >= 0)
                k = introspect(client, devpath, IFACE_DEVICE, &dev);
        if (k >= 0)
                k = lease_object_path(l.id, &leasepath);
        if (k >= 0)
                k = introspect(client, leasepath, IFACE_LEASE, &lease);
        if (k >= 0)
                k = region_object_path(rg.id, &regionpath);
        if (k >= 0)
                k = introspect(client, regionpath, IFACE_REGION, &region);
        server.stop = 1;
        pthread_join(thread, NULL);
        if (k >= 0) {
                fputs("<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
                      "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"
                      "<!-- Generated by vfio-assignd --bus-introspect; do not edit. -->\n<node>\n",
                      out);
                fputs(mgr, out);
                fputs(grp, out);
                fputs(dev, out);
                fputs(lease, out);
                fputs(region, out);
                fputs("</node>\n", out);
                k = ferror(out) ? -EIO : 0;
        }
close_fds:
        sd_bus_flush_close_unref(server.bus);
        /* Serving the lease object attached its bus side, as for a real lease. */
        lease_bus_forget(&l);
        safe_close(fds[0]);
        safe_close(fds[1]);
        return k;
}
