/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignctl monitor: one line per added, removed or changed object until SIGINT/SIGTERM, across
 * restarts of the daemon. It keeps what it knows of the daemon's objects, so when a daemon appears
 * it can print what differs from before instead of missing what changed while none was there. */
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

/* {"event": "added", ..., "interfaces": {interface: {property: value}}} or "added KIND ID", with
 * the group of a device. */
static int emit_added(const char *path, json_object *ifaces) {
        _cleanup_(object_done) Object obj = {};
        json_object *props = NULL, *group = NULL;
        int r;

        r = object_from_path(path, &obj);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *o = event_new("added", &obj, path);

                if (!o || json_add(o, "interfaces", json_object_get(ifaces)) < 0)
                        return -ENOMEM;
                return print_json_line(o);
        }
        r = emit_text_start("added", &obj);
        if (r < 0)
                return r;
        if (obj.kind == OBJECT_DEVICE && json_object_object_get_ex(ifaces, IFACE_DEVICE, &props) &&
            json_object_object_get_ex(props, "Group", &group) &&
            json_object_is_type(group, json_type_int) && json_object_get_int64(group) >= 0)
                printf(" group %" PRIi64, json_object_get_int64(group));
        emit_text_end();
        return 0;
}

/* names: the array of the interfaces that went. */
static int emit_removed(const char *path, json_object *names) {
        _cleanup_(object_done) Object obj = {};
        int r;

        r = object_from_path(path, &obj);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *o = event_new("removed", &obj, path);

                if (!o || json_add(o, "interfaces", json_object_get(names)) < 0)
                        return -ENOMEM;
                return print_json_line(o);
        }
        r = emit_text_start("removed", &obj);
        if (r < 0)
                return r;
        emit_text_end();
        return 0;
}

/* value NULL: the property was invalidated. */
static int emit_changed(const char *path, const char *iface, const char *name, json_object *value) {
        _cleanup_(object_done) Object obj = {};
        int r;

        r = object_from_path(path, &obj);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                _cleanup_json_ json_object *o = event_new("changed", &obj, path);

                if (!o || json_add(o, "interface", json_object_new_string(iface)) < 0 ||
                    json_add(o, "property", json_object_new_string(name)) < 0 ||
                    (value ? json_add(o, "value", json_object_get(value))
                           : json_add(o, "invalidated", json_object_new_boolean(true))) < 0)
                        return -ENOMEM;
                return print_json_line(o);
        }
        r = emit_text_start("changed", &obj);
        if (r >= 0) {
                putchar(' ');
                r = put_escaped(name);
        }
        if (r >= 0 && value) {
                putchar('=');
                r = print_value(value);
        } else if (r >= 0)
                fputs(" (invalidated)", stdout);
        if (r < 0)
                return r;
        emit_text_end();
        return 0;
}

static int warn_bad_signal(sd_bus_message *m, int r) {
        note_errno(r, "Ignoring malformed %s signal from %s: %m",
                   strna(sd_bus_message_get_member(m)), strna(sd_bus_message_get_path(m)));
        return 0;
}

/* ---- what we know of the daemon's objects ---- */

typedef struct Monitor {
        sd_bus *bus;
        /* {path: {interface: {property: value}}}, kept up to date by the signals. */
        json_object *objects;
        /* One reading of the daemon's objects while it is in flight: [0] GetManagedObjects for
         * the objects below the root, [1] GetAll for the manager's properties at the root. */
        sd_bus_slot *reading[2];
        bool quiet;     /* the reading sets what we know without printing the difference */
        bool announced; /* the banner is out */
        bool seen;      /* a daemon was on the bus since we started */
} Monitor;

static void monitor_done(Monitor *m) {
        for (size_t i = 0; i < ELEMENTSOF(m->reading); i++)
                m->reading[i] = sd_bus_slot_unref(m->reading[i]);
        json_object_put(m->objects);
        m->objects = NULL;
}

/* The interfaces of path in objects, NULL when it is not there. */
static json_object *object_in(json_object *objects, const char *path) {
        json_object *o = NULL;

        return json_object_object_get_ex(objects, path, &o) ? o : NULL;
}

static int remember_interfaces(Monitor *m, const char *path, json_object *ifaces) {
        json_object *o = object_in(m->objects, path);

        if (!o) {
                o = json_object_new_object();
                if (!o || json_add(m->objects, path, o) < 0)
                        return -ENOMEM;
        }
        json_object_object_foreach(ifaces, iface, props)
                if (json_add(o, iface, json_object_get(props)) < 0)
                        return -ENOMEM;
        return 0;
}

static void forget_interfaces(Monitor *m, const char *path, json_object *names) {
        json_object *o = object_in(m->objects, path);

        for (size_t i = 0; o && i < json_object_array_length(names); i++)
                json_object_object_del(o,
                                       json_object_get_string(json_object_array_get_idx(names, i)));
        if (o && json_object_object_length(o) == 0)
                json_object_object_del(m->objects, path);
}

/* Changed and invalidated properties of an object we know; an unknown one waits for a reading. */
static int remember_properties(Monitor *m, const char *path, const char *iface,
                               json_object *changed, json_object *invalidated) {
        json_object *props = NULL;

        if (!json_object_object_get_ex(object_in(m->objects, path), iface, &props))
                return 0;
        json_object_object_foreach(changed, name, value)
                if (json_add(props, name, json_object_get(value)) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(invalidated); i++)
                json_object_object_del(props,
                                       json_object_get_string(json_object_array_get_idx(invalidated,
                                                                                        i)));
        return 0;
}

/* Prints how an object differs from what we knew of it: new, or properties that changed. */
static int print_difference(const char *path, json_object *was, json_object *now) {
        int r;

        if (!was)
                return emit_added(path, now);
        json_object_object_foreach(now, iface, props) {
                json_object *was_props = NULL;

                (void) json_object_object_get_ex(was, iface, &was_props);
                json_object_object_foreach(props, name, value) {
                        json_object *was_value = NULL;

                        if (json_object_object_get_ex(was_props, name, &was_value) &&
                            json_object_equal(was_value, value))
                                continue;
                        r = emit_changed(path, iface, name, value);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int print_removed(const char *path, json_object *was) {
        _cleanup_json_ json_object *names = json_object_new_array();

        if (!names)
                return -ENOMEM;
        json_object_object_foreach(was, iface, props)
                if (json_append_new(names, json_object_new_string(iface)) < 0)
                        return -ENOMEM;
        return emit_removed(path, names);
}

/* Takes over a reading of part of the daemon's objects: the root alone, or all below it. Signals
 * sent before the reply have been applied already (sd-bus dispatches in order), so what differs
 * now changed while nobody could tell us. */
static int adopt(Monitor *m, json_object *now /* takes */, bool root) {
        _cleanup_json_ json_object *reading = now;
        int r = 0;

        json_object_object_foreach(m->objects, path, was) {
                if (streq(path, OBJ_ROOT) != root) {
                        /* Not covered by this reading: kept as it is. */
                        if (json_add(reading, path, json_object_get(was)) < 0)
                                return -ENOMEM;
                } else if (!object_in(reading, path) && !m->quiet)
                        r = print_removed(path, was);
                if (r < 0)
                        return r;
        }
        json_object_object_foreach(reading, path2, obj) {
                if (!m->quiet && streq(path2, OBJ_ROOT) == root)
                        r = print_difference(path2, object_in(m->objects, path2), obj);
                if (r < 0)
                        return r;
        }
        json_object_put(m->objects);
        m->objects = TAKE_PTR(reading);
        return 0;
}

/* ---- reading the daemon's objects ---- */

static void announce(Monitor *m) {
        if (m->announced)
                return;
        m->announced = true;
        fputs("Monitoring " BUS_NAME " (Ctrl-C to stop)\n", stderr);
}

static void reading_done(Monitor *m, sd_bus_slot **slot) {
        *slot = sd_bus_slot_unref(*slot);
        for (size_t i = 0; i < ELEMENTSOF(m->reading); i++)
                if (m->reading[i])
                        return;
        m->quiet = false;
        announce(m);
}

/* False (after saying why, when it matters) for a failed call. */
static bool reading_ok(Monitor *m, sd_bus_message *reply, bool say_waiting) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (!e)
                return true;
        if (bus_error_exit_code(e->name, -sd_bus_message_get_errno(reply)) != EXIT_UNREACHABLE)
                note("Cannot read the objects of %s: %s", BUS_NAME, strna(e->message));
        else if (say_waiting && !m->seen)
                /* One part of a reading says it, and only until a daemon was seen: once. */
                fputs("vfio-assignd is not running; waiting for it to appear on the bus\n", stderr);
        return false;
}

/* {key: v}; takes v; NULL when out of memory (or v is NULL). */
static json_object *json_wrap(const char *key, json_object *v) {
        _cleanup_json_ json_object *o = NULL;

        if (!v)
                return NULL;
        o = json_object_new_object();
        if (!o) {
                json_object_put(v);
                return NULL;
        }
        return json_add(o, key, v) < 0 ? NULL : TAKE_PTR(o);
}

/* root: the reply is GetAll of the manager's properties, else GetManagedObjects. */
static void on_reading(Monitor *m, sd_bus_message *reply, bool root) {
        json_object *now = NULL;
        int r;

        if (reading_ok(m, reply, !root)) {
                m->seen = true;
                r = sd_bus_message_has_signature(reply, root ? "a{sv}" : "a{oa{sa{sv}}}")
                            ? read_json(reply, 0, &now)
                            : -EBADMSG;
                /* As GetManagedObjects would have it: {OBJ_ROOT: {IFACE_MANAGER: props}}. */
                if (r >= 0 && root)
                        now = json_wrap(OBJ_ROOT, json_wrap(IFACE_MANAGER, now));
                if (r >= 0)
                        r = now ? adopt(m, now, root) : -ENOMEM;
                if (r < 0)
                        note_errno(r, "Ignoring the malformed answer of %s: %m", BUS_NAME);
        }
        reading_done(m, &m->reading[root]);
}

static int on_objects(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        on_reading(userdata, reply, false);
        return 0;
}

static int on_manager(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        on_reading(userdata, reply, true);
        return 0;
}

/* Without auto-start: monitoring watches the daemon, it does not start it. */
static int call_async(Monitor *m, sd_bus_slot **slot, const char *iface, const char *member,
                      sd_bus_message_handler_t callback, const char *arg) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int r;

        r = sd_bus_message_new_method_call(m->bus, &call, BUS_NAME, OBJ_ROOT, iface, member);
        if (r >= 0)
                r = sd_bus_message_set_auto_start(call, false);
        if (r >= 0 && arg)
                r = sd_bus_message_append(call, "s", arg);
        if (r >= 0)
                r = sd_bus_call_async(m->bus, slot, call, callback, m, 0);
        return r;
}

/* A new reading replaces one in flight: its answers may come from a daemon that is gone. */
static int read_objects(Monitor *m, bool quiet) {
        int r;

        for (size_t i = 0; i < ELEMENTSOF(m->reading); i++)
                m->reading[i] = sd_bus_slot_unref(m->reading[i]);
        m->quiet = quiet;
        r = call_async(m, &m->reading[0], IFACE_OBJECT_MANAGER, "GetManagedObjects", on_objects,
                       NULL);
        if (r >= 0)
                r = call_async(m, &m->reading[1], IFACE_PROPERTIES, "GetAll", on_manager,
                               IFACE_MANAGER);
        return r;
}

/* ---- signal handlers ---- */

static int on_interfaces_added(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_object *ifaces = NULL;
        Monitor *m = userdata;
        const char *path;
        int r;

        r = sd_bus_message_read(msg, "o", &path);
        if (r >= 0)
                r = read_json(msg, 0, &ifaces);
        if (r >= 0 && !json_object_is_type(ifaces, json_type_object))
                r = -EBADMSG;
        if (r >= 0)
                r = emit_added(path, ifaces);
        if (r >= 0)
                r = remember_interfaces(m, path, ifaces);
        return r < 0 ? warn_bad_signal(msg, r) : 0;
}

static int on_interfaces_removed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_object *names = NULL;
        Monitor *m = userdata;
        const char *path;
        int r;

        r = sd_bus_message_read(msg, "o", &path);
        if (r >= 0)
                r = read_json(msg, 0, &names);
        if (r >= 0 && !json_object_is_type(names, json_type_array))
                r = -EBADMSG;
        if (r >= 0)
                r = emit_removed(path, names);
        if (r < 0)
                return warn_bad_signal(msg, r);
        forget_interfaces(m, path, names);
        return 0;
}

static int on_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_json_ json_object *changed = NULL, *invalidated = NULL;
        const char *path = sd_bus_message_get_path(msg), *iface;
        Monitor *m = userdata;
        int r;

        if (!path)
                return 0;
        r = sd_bus_message_read(msg, "s", &iface);
        if (r >= 0)
                r = read_json(msg, 0, &changed);
        if (r >= 0)
                r = read_json(msg, 0, &invalidated);
        if (r >= 0 && (!json_object_is_type(changed, json_type_object) ||
                       !json_object_is_type(invalidated, json_type_array)))
                r = -EBADMSG;
        if (r < 0)
                return warn_bad_signal(msg, r);

        json_object_object_foreach(changed, name, value) {
                r = emit_changed(path, iface, name, value);
                if (r < 0)
                        return warn_bad_signal(msg, r);
        }
        for (size_t i = 0; i < json_object_array_length(invalidated); i++) {
                json_object *n = json_object_array_get_idx(invalidated, i);

                r = emit_changed(path, iface, strna(json_object_get_string(n)), NULL);
                if (r < 0)
                        return warn_bad_signal(msg, r);
        }
        r = remember_properties(m, path, iface, changed, invalidated);
        return r < 0 ? warn_bad_signal(msg, r) : 0;
}

/* Not an event of the model, so it goes to stderr with the banner. A new owner may be a daemon
 * that restarted: it announces nothing of what it found or changed at start, so read it all. */
static int on_name_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *name, *old_owner, *new_owner;
        Monitor *m = userdata;
        int r;

        r = sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner);
        if (r < 0)
                return warn_bad_signal(msg, r);
        if (!streq(name, BUS_NAME))
                return 0;
        if (isempty(new_owner)) {
                fputs("vfio-assignd left the bus; waiting for it to come back\n", stderr);
                return 0;
        }
        fputs(m->seen ? "vfio-assignd is on the bus again\n" : "vfio-assignd is on the bus\n",
              stderr);
        m->seen = true;
        r = read_objects(m, false);
        if (r < 0)
                note_errno(r, "Cannot read the objects of %s: %m", BUS_NAME);
        return 0;
}

int verb_monitor(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(monitor_done) Monitor m = {};
        sigset_t mask;
        int r;

        /* sd-event signal sources need the signals blocked; a NULL handler makes the loop exit
         * with code 0, which is our "stopped by the user" exit status. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return fail_errno(EXIT_FAILED, errno, "Failed to block signals: %m");

        r = sd_event_default(&event);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Failed to allocate the event loop: %m");
        r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Failed to watch SIGINT/SIGTERM: %m");

        m.objects = json_object_new_object();
        if (!m.objects)
                return fail(EXIT_FAILED, NULL, "Out of memory.");
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;
        m.bus = bus;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Failed to attach the bus to the event loop: %m");
        /* A lost bus ends the loop with a non-zero code instead of exiting the process. */
        r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Failed to set up the bus: %m");

        /* Subscribe before reading the objects, so nothing falls between the two. The
         * synchronous matches are installed on the bus when these calls return. The bus sends us
         * the signals of whoever owns BUS_NAME at the time, so they follow a restarted daemon. */
        r = sd_bus_match_signal(bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_OBJECT_MANAGER,
                                "InterfacesAdded", on_interfaces_added, &m);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, BUS_NAME, OBJ_ROOT, IFACE_OBJECT_MANAGER,
                                        "InterfacesRemoved", on_interfaces_removed, &m);
        /* sd_bus_match_signal() takes one exact path; the objects live below the root, so
         * the property match uses path_namespace. */
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',sender='" BUS_NAME "',"
                                     "interface='" IFACE_PROPERTIES "',"
                                     "member='PropertiesChanged',"
                                     "path_namespace='" OBJ_ROOT "'",
                                     on_properties_changed, &m);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL, MATCH_OWNER_CHANGED, on_name_owner_changed, &m);
        if (r < 0)
                return fail_bus_call("AddMatch", NULL, r);

        /* What there is now is no event: the first reading is not printed. The banner follows
         * it, so whoever waits for the banner knows a change after it is printed. */
        r = read_objects(&m, true);
        if (r < 0)
                return fail_bus_call("GetManagedObjects", NULL, r);

        r = sd_event_loop(event);
        if (r < 0)
                return fail_errno(EXIT_FAILED, r, "Event loop failed: %m");
        if (r > 0)
                return fail(EXIT_UNREACHABLE, NULL, "Lost the connection to the system bus.");
        return EXIT_OK;
}
