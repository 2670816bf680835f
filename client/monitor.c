/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl monitor: one line per added, removed or changed object until SIGINT/SIGTERM. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-event.h>

#include "assignctl.h"
#include "escape.h"
#include "names.h"
#include "util.h"

#define IFACE_OBJECT_MANAGER "org.freedesktop.DBus.ObjectManager"
#define IFACE_PROPERTIES "org.freedesktop.DBus.Properties"

/* D-Bus allows 32 levels of arrays plus 32 of structs (specification, "Valid Signatures"). */
#define MAX_DEPTH 64

typedef enum ObjectKind {
        OBJECT_MANAGER,
        OBJECT_GROUP,
        OBJECT_DEVICE,
        OBJECT_OTHER,
} ObjectKind;

static const char *const kind_names[] = {
        [OBJECT_MANAGER] = "manager",
        [OBJECT_GROUP] = "group",
        [OBJECT_DEVICE] = "device",
        [OBJECT_OTHER] = "object",
};

typedef struct Object {
        ObjectKind kind;
        char *id; /* device address, group number, or the path itself */
} Object;

static void object_done(Object *o) {
        free(o->id);
        o->id = NULL;
}

/* ---- a D-Bus value to JSON, whatever its signature ---- */

static int read_basic_json(sd_bus_message *m, char type, json_object **ret) {
        union {
                uint8_t y;
                int16_t n;
                uint16_t q;
                int32_t i;
                uint32_t u;
                int64_t x;
                uint64_t t;
                double d;
                int b;
                int h;
                const char *s;
        } v;
        json_object *o;
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        switch (type) {
        case SD_BUS_TYPE_BYTE:
                o = json_object_new_int(v.y);
                break;
        case SD_BUS_TYPE_INT16:
                o = json_object_new_int(v.n);
                break;
        case SD_BUS_TYPE_UINT16:
                o = json_object_new_int(v.q);
                break;
        case SD_BUS_TYPE_INT32:
                o = json_object_new_int(v.i);
                break;
        case SD_BUS_TYPE_UINT32:
                o = json_object_new_int64(v.u);
                break;
        case SD_BUS_TYPE_INT64:
                o = json_object_new_int64(v.x);
                break;
        case SD_BUS_TYPE_UINT64:
                o = json_object_new_uint64(v.t);
                break;
        case SD_BUS_TYPE_DOUBLE:
                o = json_object_new_double(v.d);
                break;
        case SD_BUS_TYPE_BOOLEAN:
                o = json_object_new_boolean(v.b);
                break;
        case SD_BUS_TYPE_UNIX_FD:
                o = json_object_new_int(v.h);
                break;
        case SD_BUS_TYPE_STRING:
        case SD_BUS_TYPE_OBJECT_PATH:
        case SD_BUS_TYPE_SIGNATURE:
                o = json_object_new_string(v.s);
                break;
        default:
                return -EBADMSG;
        }
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static int read_json(sd_bus_message *m, unsigned depth, json_object **ret);

/* Dictionary keys are basic types; JSON keys are strings, so numbers are spelled out. */
static int read_dict_entry(sd_bus_message *m, unsigned depth, json_object *dict) {
        _cleanup_json_ json_object *key = NULL;
        json_object *value = NULL;
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, NULL);
        if (r < 0)
                return r;
        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        r = read_basic_json(m, type, &key);
        if (r < 0)
                return r;
        r = read_json(m, depth + 1, &value);
        if (r < 0)
                return r;
        r = json_add(dict, json_object_get_string(key), value);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_json(sd_bus_message *m, unsigned depth, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        const char *contents;
        char type;
        int r;

        if (depth > MAX_DEPTH)
                return -ELOOP;
        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG; /* nothing left where a value was expected */

        switch (type) {
        case SD_BUS_TYPE_VARIANT:
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                r = read_json(m, depth + 1, &o);
                if (r < 0)
                        return r;
                break;
        case SD_BUS_TYPE_ARRAY:
        case SD_BUS_TYPE_STRUCT: {
                /* a{..} becomes an object; other arrays and structs become arrays. */
                bool dict = type == SD_BUS_TYPE_ARRAY &&
                            contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN;

                o = dict ? json_object_new_object() : json_object_new_array();
                if (!o)
                        return -ENOMEM;
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                for (;;) {
                        r = sd_bus_message_at_end(m, false);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                break;
                        if (dict)
                                r = read_dict_entry(m, depth + 1, o);
                        else {
                                json_object *item = NULL;

                                r = read_json(m, depth + 1, &item);
                                if (r >= 0 && json_object_array_add(o, item) < 0) {
                                        json_object_put(item);
                                        r = -ENOMEM;
                                }
                        }
                        if (r < 0)
                                return r;
                }
                break;
        }
        default:
                return read_basic_json(m, type, ret);
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- paths ---- */

static int object_from_path(const char *path, Object *ret) {
        static const struct {
                const char *prefix;
                ObjectKind kind;
        } table[] = {
                { OBJ_GROUP_PREFIX, OBJECT_GROUP },
                { OBJ_DEVICE_PREFIX, OBJECT_DEVICE },
        };
        char *id = NULL;
        int r;

        if (streq(path, OBJ_ROOT)) {
                id = strdup(path);
                if (!id)
                        return -ENOMEM;
                *ret = (Object) { OBJECT_MANAGER, id };
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                /* Child labels are sd_bus_path_encode()d (':' is _3a, '.' is _2e). */
                r = sd_bus_path_decode(path, table[i].prefix, &id);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret = (Object) { table[i].kind, id };
                        return 0;
                }
        }
        id = strdup(path);
        if (!id)
                return -ENOMEM;
        *ret = (Object) { OBJECT_OTHER, id };
        return 0;
}

/* {"event": e, "type": kind, "address"|"id"|"path": ...}; the group id as a number. */
static json_object *event_new(const char *event, const Object *obj, const char *path) {
        _cleanup_json_ json_object *o = json_object_new_object();
        uint32_t gid;
        int r;

        if (!o)
                return NULL;
        r = json_add(o, "event", json_object_new_string(event));
        if (r >= 0)
                r = json_add(o, "type", json_object_new_string(kind_names[obj->kind]));
        if (r >= 0 && obj->kind == OBJECT_DEVICE)
                r = json_add(o, "address", json_object_new_string(obj->id));
        else if (r >= 0 && obj->kind == OBJECT_GROUP && safe_atou32(obj->id, 10, &gid) >= 0)
                r = json_add(o, "id", json_object_new_int64(gid));
        if (r >= 0)
                r = json_add(o, "path", json_object_new_string(path));
        return r < 0 ? NULL : TAKE_PTR(o);
}

/* Text lines carry names from sysfs and the daemon: escaped, so each event stays one harmless
 * line. */
static int put_escaped(const char *s) {
        _cleanup_free_ char *e = cescape(s);

        if (!e)
                return -ENOMEM;
        fputs(e, stdout);
        return 0;
}

/* "EVENT KIND ID"; there is one manager, so it goes without its path. */
static int emit_text_start(const char *event, const Object *obj) {
        printf("%s %s", event, kind_names[obj->kind]);
        if (obj->kind == OBJECT_MANAGER)
                return 0;
        putchar(' ');
        return put_escaped(obj->id);
}

static void emit_text_end(void) {
        putchar('\n');
        fflush(stdout); /* readers of a pipe see each event as it happens */
}

/* Strings print bare (so "Driver=vfio-pci"), the empty string as "", everything else as JSON. */
static int print_value(json_object *v) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return put_escaped(json_object_to_json_string_ext(
                        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        s = json_object_get_string(v);
        return put_escaped(isempty(s) ? "\"\"" : s);
}

static int warn_bad_signal(sd_bus_message *m, int r) {
        fprintf(stderr, "Ignoring malformed %s signal from %s: %s\n",
                strna(sd_bus_message_get_member(m)), strna(sd_bus_message_get_path(m)),
                strerror(-r));
        return 0;
}

/* ---- signal handlers ---- */

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_object *ifaces = NULL;
        _cleanup_(object_done) Object obj = {};
        json_object *props = NULL, *group = NULL;
        const char *path;
        int r;

        r = sd_bus_message_read(m, "o", &path);
        if (r < 0)
                return warn_bad_signal(m, r);
        r = read_json(m, 0, &ifaces);
        if (r < 0)
                return warn_bad_signal(m, r);
        r = object_from_path(path, &obj);
        if (r < 0)
                return warn_bad_signal(m, r);

        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *o = event_new("added", &obj, path);

                if (!o || json_add(o, "interfaces", json_object_get(ifaces)) < 0)
                        return warn_bad_signal(m, -ENOMEM);
                r = print_json_line(o);
                return r < 0 ? warn_bad_signal(m, r) : 0;
        }

        r = emit_text_start("added", &obj);
        if (r < 0)
                return warn_bad_signal(m, r);
        if (obj.kind == OBJECT_DEVICE && json_object_object_get_ex(ifaces, IFACE_DEVICE, &props) &&
            json_object_object_get_ex(props, "Group", &group) &&
            json_object_is_type(group, json_type_int) && json_object_get_int64(group) >= 0)
                printf(" group %" PRIi64, json_object_get_int64(group));
        emit_text_end();
        return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_object *ifaces = NULL;
        _cleanup_(object_done) Object obj = {};
        const char *path;
        int r;

        r = sd_bus_message_read(m, "o", &path);
        if (r < 0)
                return warn_bad_signal(m, r);
        r = read_json(m, 0, &ifaces);
        if (r < 0)
                return warn_bad_signal(m, r);
        r = object_from_path(path, &obj);
        if (r < 0)
                return warn_bad_signal(m, r);

        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *o = event_new("removed", &obj, path);

                if (!o || json_add(o, "interfaces", json_object_get(ifaces)) < 0)
                        return warn_bad_signal(m, -ENOMEM);
                r = print_json_line(o);
                return r < 0 ? warn_bad_signal(m, r) : 0;
        }
        r = emit_text_start("removed", &obj);
        if (r < 0)
                return warn_bad_signal(m, r);
        emit_text_end();
        return 0;
}

static int emit_changed(const Object *obj, const char *path, const char *iface, const char *name,
                        json_object *value, bool invalidated) {
        int r;

        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *o = event_new("changed", obj, path);

                if (!o || json_add(o, "interface", json_object_new_string(iface)) < 0 ||
                    json_add(o, "property", json_object_new_string(name)) < 0 ||
                    (invalidated ? json_add(o, "invalidated", json_object_new_boolean(true))
                                 : json_add(o, "value", json_object_get(value))) < 0)
                        return -ENOMEM;
                return print_json_line(o);
        }
        r = emit_text_start("changed", obj);
        if (r >= 0) {
                putchar(' ');
                r = put_escaped(name);
        }
        if (r >= 0 && !invalidated) {
                putchar('=');
                r = print_value(value);
        } else if (r >= 0)
                fputs(" (invalidated)", stdout);
        if (r < 0)
                return r;
        emit_text_end();
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_object *changed = NULL, *invalidated = NULL;
        _cleanup_(object_done) Object obj = {};
        const char *path = sd_bus_message_get_path(m), *iface;
        int r;

        if (!path)
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0)
                return warn_bad_signal(m, r);
        r = read_json(m, 0, &changed);
        if (r >= 0)
                r = read_json(m, 0, &invalidated);
        if (r >= 0 && (!json_object_is_type(changed, json_type_object) ||
                       !json_object_is_type(invalidated, json_type_array)))
                r = -EBADMSG;
        if (r >= 0)
                r = object_from_path(path, &obj);
        if (r < 0)
                return warn_bad_signal(m, r);

        json_object_object_foreach(changed, name, value) {
                r = emit_changed(&obj, path, iface, name, value, false);
                if (r < 0)
                        return warn_bad_signal(m, r);
        }
        for (size_t i = 0; i < json_object_array_length(invalidated); i++) {
                json_object *n = json_object_array_get_idx(invalidated, i);

                r = emit_changed(&obj, path, iface, strna(json_object_get_string(n)), NULL, true);
                if (r < 0)
                        return warn_bad_signal(m, r);
        }
        return 0;
}

/* Not an event of the model, so it goes to stderr with the banner. */
static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name, *old_owner, *new_owner;
        int r;

        r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
        if (r < 0)
                return warn_bad_signal(m, r);
        if (!streq(name, BUS_NAME))
                return 0;
        if (isempty(new_owner))
                fputs("vfio-assignd left the bus; waiting for it to come back\n", stderr);
        else if (isempty(old_owner))
                fputs("vfio-assignd is on the bus again\n", stderr);
        return 0;
}

static int check_daemon_present(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has_owner = 0, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
                               BUS_NAME);
        if (r < 0)
                return fail_bus_call("NameHasOwner", &error, r);
        r = sd_bus_message_read(reply, "b", &has_owner);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Malformed reply to NameHasOwner: %s",
                            strerror(-r));
        if (!has_owner)
                return fail(EXIT_UNREACHABLE, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                            "vfio-assignd is not running or not reachable on the system bus: "
                            "nobody owns %s", BUS_NAME);
        return EXIT_OK;
}

int verb_monitor(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sigset_t mask;
        int r;

        /* sd-event signal sources need the signals blocked; a NULL handler makes the loop exit
         * with code 0, which is our "stopped by the user" exit status. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return fail(EXIT_FAILED, NULL, "Failed to block signals: %s", strerror(errno));

        r = sd_event_default(&event);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Failed to allocate the event loop: %s",
                            strerror(-r));
        r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Failed to watch SIGINT/SIGTERM: %s",
                            strerror(-r));

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Failed to attach the bus to the event loop: %s",
                            strerror(-r));
        /* A lost bus ends the loop with a non-zero code instead of exiting the process. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Failed to set up the bus: %s", strerror(-r));

        /* Subscribe before checking for the daemon, so nothing falls between the two. The
         * synchronous matches are installed on the bus when these calls return. */
        r = sd_bus_match_signal(bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_OBJECT_MANAGER,
                                "InterfacesAdded", on_interfaces_added, NULL);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_OBJECT_MANAGER,
                                        "InterfacesRemoved", on_interfaces_removed, NULL);
        /* sd_bus_match_signal() takes one exact path; the objects live below the root, so
         * the property match uses path_namespace. */
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',sender='" BUS_NAME "',"
                                     "interface='" IFACE_PROPERTIES "',"
                                     "member='PropertiesChanged',"
                                     "path_namespace='" OBJ_ROOT "'",
                                     on_properties_changed, NULL);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',"
                                     "interface='org.freedesktop.DBus',"
                                     "member='NameOwnerChanged',arg0='" BUS_NAME "'",
                                     on_name_owner_changed, NULL);
        if (r < 0)
                return fail_bus_call("AddMatch", NULL, r);

        r = check_daemon_present(bus);
        if (r != EXIT_OK)
                return r;

        fputs("Monitoring " BUS_NAME " (Ctrl-C to stop)\n", stderr);
        r = sd_event_loop(event);
        if (r < 0)
                return fail(EXIT_FAILED, NULL, "Event loop failed: %s", strerror(-r));
        if (r > 0)
                return fail(EXIT_UNREACHABLE, NULL, "Lost the connection to the system bus.");
        return EXIT_OK;
}
