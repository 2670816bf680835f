/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-bus's calls: what the daemon serves, learnt by introspection, and seeded random calls to
 * it with hostile values and wrong signatures (see fuzz-bus.c for what is checked). */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bus-calls.h"
#include "claim-world.h"
#include "harness.h"
#include "names.h"
#include "util.h"

#define FALLTHROUGH __attribute__((fallthrough))
/* Bytes of string payload one message may carry (a few 64 KiB strings). */
#define MESSAGE_BUDGET (512u * 1024u)
/* D-Bus allows 64 levels of nesting (32 arrays, 32 structs); stay well inside them: a message
 * the bus refuses would cost us the connection, which is not the daemon's fault. */
#define MAX_DEPTH 8
/* dbus-daemon drops a connection that sends more fds in one message than it allows (16 here):
 * again our fault, so arrays of fds stay short. */
#define FD_BUDGET 12

World W = { .null_fd = -1, .memfd = -1 };

/* ---- a seeded PRNG: xoshiro256**, seeded per (seed, index, stream) by splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

void rng_init(Rng *r, uint64_t seed, uint64_t index, uint64_t stream) {
        uint64_t x = seed;

        x ^= splitmix64(&x) + index;
        x ^= splitmix64(&x) + stream;
        for (size_t i = 0; i < 4; i++)
                r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(Rng *r) {
        uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

uint64_t rng_below(Rng *r, uint64_t n) {
        return n ? rng_next(r) % n : 0;
}

bool rng_percent(Rng *r, unsigned p) {
        return rng_below(r, 100) < p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s);

        ck_assert_msg(p, "out of memory");
        return p;
}

void add_unique(char ***l, const char *s) {
        if (!strv_contains(*l, s))
                ck_assert_int_ge(strv_extend(l, s), 0);
}

/* The value of attribute name="..." in one XML tag, or NULL. */
static char *xml_attr(const char *tag, const char *name) {
        _cleanup_free_ char *key = xasprintf(" %s=\"", name);
        const char *p = strstr(tag, key), *end;

        if (!p)
                return NULL;
        p += strlen(key);
        end = strchr(p, '"');
        ck_assert_msg(end, "unterminated attribute in <%s>", tag);
        return strndup(p, end - p);
}

static Member *node_add(Node *n, const char *iface, const char *name) {
        Member *m;

        n->members = reallocarray(n->members, n->n_members + 1, sizeof(Member));
        ck_assert_ptr_nonnull(n->members);
        m = &n->members[n->n_members++];
        *m = (Member) { .iface = xstrdup(iface), .name = xstrdup(name), .sig = xstrdup("") };
        return m;
}

/* sd-bus's introspection XML, one tag at a time: interfaces, their methods with the in-args
 * and their properties; the names of child nodes go to *children. */
void parse_introspection(const char *xml, Node *n, char ***children) {
        _cleanup_free_ char *iface = NULL;
        Member *method = NULL;
        bool in_signal = false;

        for (const char *p = xml; (p = strchr(p, '<'));) {
                const char *end = strchr(p, '>');
                _cleanup_free_ char *tag = NULL, *name = NULL;
                bool self_closing;

                ck_assert_msg(end, "unterminated tag in the introspection of %s", n->path);
                tag = strndup(p + 1, end - p - 1);
                ck_assert_ptr_nonnull(tag);
                p = end + 1;
                self_closing = *tag && tag[strlen(tag) - 1] == '/';
                name = xml_attr(tag, "name");
                if (startswith(tag, "interface ")) {
                        free(iface);
                        iface = TAKE_PTR(name);
                        add_unique(&W.ifaces, iface);
                } else if (streq(tag, "/interface"))
                        iface = mfree(iface);
                else if (startswith(tag, "method ") && iface && name) {
                        method = node_add(n, iface, name);
                        add_unique(&W.methods, name);
                        if (self_closing)
                                method = NULL;
                } else if (streq(tag, "/method"))
                        method = NULL;
                else if (startswith(tag, "signal "))
                        in_signal = !self_closing;
                else if (streq(tag, "/signal"))
                        in_signal = false;
                else if (startswith(tag, "arg ") && method && !in_signal) {
                        _cleanup_free_ char *type = xml_attr(tag, "type");
                        _cleanup_free_ char *dir = xml_attr(tag, "direction");

                        ck_assert_ptr_nonnull(type);
                        if (dir && !streq(dir, "in"))
                                continue;
                        ck_assert_int_ge(strextendf(&method->sig, "", "%s", type), 0);
                        ck_assert_int_ge(strv_extend(&method->arg_names, name ?: ""), 0);
                } else if (startswith(tag, "property ") && iface && name) {
                        _cleanup_free_ char *type = xml_attr(tag, "type");
                        Member *m = node_add(n, iface, name);

                        ck_assert_ptr_nonnull(type);
                        free(m->sig);
                        m->sig = TAKE_PTR(type);
                        m->property = true;
                        add_unique(&W.props, name);
                } else if (startswith(tag, "node ") && name)
                        ck_assert_int_ge(strv_extend(children, name), 0);
        }
}

char *introspect(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *xml;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, path, "org.freedesktop.DBus.Introspectable",
                               "Introspect", &e, &reply, "");
        ck_assert_msg(r >= 0, "Introspect %s: %s", path, e.message ?: strerror(-r));
        ck_assert_int_ge(sd_bus_message_read(reply, "s", &xml), 0);
        return xstrdup(xml);
}

/* Every node below the manager, breadth first (the manager first). No lease exists yet. */
void introspect_tree(sd_bus *bus) {
        _cleanup_strv_free_ char **queue = NULL;

        ck_assert_int_ge(strv_extend(&queue, OBJ_ROOT), 0);
        for (size_t i = 0; queue[i]; i++) {
                _cleanup_free_ char *xml = introspect(bus, queue[i]);
                _cleanup_strv_free_ char **children = NULL;
                Node n = { .path = xstrdup(queue[i]) };

                parse_introspection(xml, &n, &children);
                for (char **c = children; c && *c; c++)
                        ck_assert_int_ge(strv_extendf(&queue, "%s/%s", queue[i], *c), 0);
                W.nodes = reallocarray(W.nodes, W.n_nodes + 1, sizeof(Node));
                ck_assert_ptr_nonnull(W.nodes);
                W.nodes[W.n_nodes++] = n;
        }
}

const Member *node_find(const Node *n, const char *iface, const char *name, bool property) {
        for (size_t i = 0; i < n->n_members; i++) {
                const Member *m = &n->members[i];

                if (m->property == property && streq(m->name, name) &&
                    (!iface || streq(m->iface, iface)))
                        return m;
        }
        return NULL;
}

/* ---- values ---- */

/* A call under construction: the message and a printable copy of what went into it. */
typedef struct Gen {
        Rng *rng;
        sd_bus_message *m;
        const Node *node;
        const char *member; /* the method called, for the options it knows */
        bool valid;         /* the call is meant to succeed: real addresses and groups */
        char *desc;
        size_t budget;
        unsigned fds;
} Gen;

static void desc_add(Gen *g, const char *fmt, ...) _printf_(2, 3);
static void desc_add(Gen *g, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(r, 0);
        ck_assert_int_ge(strextendf(&g->desc, "", "%s", s), 0);
}

/* A string as C would write it; long ones as their start and length. */
static void desc_string(Gen *g, const char *s) {
        size_t n = strlen(s);

        desc_add(g, "\"");
        for (size_t i = 0; i < n && i < 80; i++) {
                unsigned char c = s[i];

                if (c == '"' || c == '\\')
                        desc_add(g, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        desc_add(g, "\\x%02x", c);
                else
                        desc_add(g, "%c", c);
        }
        if (n > 80)
                desc_add(g, "\"...(%zu bytes)", n);
        else
                desc_add(g, "\"");
}

static void gen_check(Gen *g, int r, const char *what) {
        /* Only invalid UTF-8 may be refused (append_string() tries that itself): a message we
         * cannot build is a bug here, not in the daemon. */
        ck_assert_msg(r >= 0, "building the message failed at %s: %s (%s)", what, strerror(-r),
                      g->desc);
}

static const char *const hostile_strings[] = {
        "",
        "/",
        ".",
        "..",
        "../",
        "../../../../../../etc/passwd",
        "./",
        "//",
        "\\",
        "\"",
        "'",
        "*",
        "?",
        "~",
        "-",
        "--",
        "-1",
        "0",
        "4294967295",
        "4294967296",
        "18446744073709551616",
        "%s%s%s%s%n",
        "%p",
        "(null)",
        "null",
        "true",
        "{}",
        "[]",
        "<node/>",
        "vfio-pci",
        "pcieport",
        "e1000",
        "driver_override",
        "sys/bus/pci/devices",
        "/sys/bus/pci/drivers_probe",
        "/dev/vfio/vfio",
        "dev/vfio/../../etc",
        "org.vfioassign1",
        "org.vfioassign1.Error.Failed",
        "0x10de",
        "0x03*",
        "persistent",
        "user",
        "root",
        "nobody",
        "0000:03:01.0/..",
        "0000:03:01.0/../../..",
        "../0000:03:01.0",
        "./0000:00:02.0",
        "03:01.0",
        "3:1.0",
        "0:3:1.0",
        "0000:03:01",
        "0000:03:01.",
        "0000:03:01.00",
        "00000:03:01.0",
        "0000:003:01.0",
        "0000:03:001.0",
        "0000:03:01.8",
        "0000:03:20.0",
        "0000:0g:01.0",
        "0000:0A:00.0",
        "0000:0a:00.0",
        "ffff:ff:1f.7",
        "FFFF:FF:1F.7",
        "0000:7f:00.0",
        "0000:00:00.0",
        "0001:00:02.0",
        "10000:00:02.0",
        " 0000:00:02.0",
        "0000:00:02.0 ",
        "0000:00:02.0\n",
        "0000:00:02.0\t",
        "0000-00-02.0",
        "0000:00:02_0",
        ":::.",
        "+0000:00:02.0",
        "\x01\x02\x03\x1f\x7f",
        "\x1b[2J\x1b[31m",
        "\r\n",
        "\t",
        "\n",
        "a\nb",
        "\xc3\xa9",
        "\xe2\x80\xae"
        "0000:00:02.0",
        "\xef\xbb\xbf"
        "0000:00:02.0",
        "\xf0\x9f\x92\xa9",
        "\xef\xbf\xbd",
        "\xf3\xa0\x80\x81",
};

/* Sequences sd-bus must refuse to put in an "s": it validates UTF-8 and also refuses the
 * noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF). */
static const char *const invalid_utf8[] = {
        "\xff",
        "\xfe\xff",
        "\xc3",
        "\xc0\xaf",
        "\xed\xa0\x80",
        "\xf5\x80\x80\x80",
        "0000:00:02.0\x80",
        "\xe2\x82",
        "\xef\xbf\xbf",
        "\xf4\x8f\xbf\xbf",
        "\xef\xb7\x90",
};

static const char *const users[] = {
        "root",    "nobody", "daemon",   "",
        "0",       "65534",  "-1",       "nosuchuser",
        "../root", "root\n", "ROOT",     "root ",
        "+",       "@",      "nobody:x", "a-very-long-user-name-that-is-not-there-at-all",
};

static const char *const option_keys[] = {
        "persistent", "persistent", "user",  "user",         "",        "Persistent", "persistent ",
        "force",      "frobnicate", "../",   "persistent\n", "options", "uid",        "group",
        "address",    "owner",      "owner", "Owner",
};

char *repeat(const char *unit, size_t bytes) {
        size_t n = strlen(unit);
        char *s = malloc(bytes + 1);

        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < bytes; i++)
                s[i] = unit[i % n];
        s[bytes] = '\0';
        /* Cut at a character boundary if the unit is multi-byte. */
        while (bytes > 0 && ((unsigned char) s[bytes - 1] & 0xc0) == 0x80)
                s[--bytes] = '\0';
        if (bytes > 0 && ((unsigned char) s[bytes - 1]) >= 0xc0)
                s[--bytes] = '\0';
        return s;
}

/* A random valid UTF-8 string without NUL: ASCII (controls included) and some code points. */
static char *random_string(Rng *r) {
        size_t n = 1 + rng_below(r, 48);
        char *s = NULL;

        for (size_t i = 0; i < n; i++) {
                uint32_t cp;

                if (rng_percent(r, 85))
                        cp = 1 + rng_below(r, 0x7f);
                else {
                        cp = 0x80 + rng_below(r, 0x10ff80);
                        /* Surrogates and noncharacters: sd-bus refuses them (invalid_utf8). */
                        if ((cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
                            (cp & 0xfffe) == 0xfffe)
                                cp = 0xfffd;
                }
                if (cp < 0x80)
                        ck_assert_int_ge(strextendf(&s, "", "%c", (char) cp), 0);
                else if (cp < 0x800)
                        ck_assert_int_ge(strextendf(&s, "", "%c%c", (char) (0xc0 | cp >> 6),
                                                    (char) (0x80 | (cp & 0x3f))),
                                         0);
                else if (cp < 0x10000)
                        ck_assert_int_ge(strextendf(&s, "", "%c%c%c", (char) (0xe0 | cp >> 12),
                                                    (char) (0x80 | ((cp >> 6) & 0x3f)),
                                                    (char) (0x80 | (cp & 0x3f))),
                                         0);
                else
                        ck_assert_int_ge(strextendf(&s, "", "%c%c%c%c", (char) (0xf0 | cp >> 18),
                                                    (char) (0x80 | ((cp >> 12) & 0x3f)),
                                                    (char) (0x80 | ((cp >> 6) & 0x3f)),
                                                    (char) (0x80 | (cp & 0x3f))),
                                         0);
        }
        return s;
}

/* A real address, bent: upper case, no domain, another function, junk around it. */
static char *bent_address(Rng *r) {
        const char *a = W.addresses[rng_below(r, strv_length(W.addresses))];
        char *s = xstrdup(a);

        switch (rng_below(r, 8)) {
        case 0:
                for (char *p = s; *p; p++)
                        *p = (char) toupper((unsigned char) *p);
                return s;
        case 1:
                free(s);
                return xstrdup(a + 5); /* BB:DD.F */
        case 2:
                s[strlen(s) - 1] = (char) ('0' + rng_below(r, 10));
                return s;
        case 3:
                free(s);
                return xasprintf("%s/..", a);
        case 4:
                free(s);
                return xasprintf("../%s", a);
        case 5:
                free(s);
                return xasprintf("%s%s", a, rng_percent(r, 50) ? "\n" : "\x01");
        case 6:
                free(s);
                return xasprintf("0000:%s", a);
        default:
                s[rng_below(r, strlen(s))] = (char) (1 + rng_below(r, 0x7f));
                return s;
        }
}

static char *generic_string(Gen *g) {
        Rng *r = g->rng;
        size_t big;

        switch (rng_below(r, 10)) {
        case 0:
        case 1:
        case 2:
                return xstrdup(PICK(r, hostile_strings));
        case 3:
                return xstrdup(W.addresses[rng_below(r, strv_length(W.addresses))]);
        case 4:
                return bent_address(r);
        case 5: {
                static const size_t sizes[] = { 255, 256, 4095, 4096, 65535, 65536, 65537 };
                static const char *const units[] = {
                        "A", "../", "0000:00:02.0/", "\x01", "\xf0\x9f\x92\xa9", "%n"
                };

                big = PICK(r, sizes);
                if (big > g->budget)
                        big = 64;
                g->budget -= big;
                return repeat(PICK(r, units), big);
        }
        case 6:
                return xstrdup(rng_percent(r, 50) ? PICK(r, users) : PICK(r, option_keys));
        case 7:
                if (rng_percent(r, 50))
                        return xstrdup(W.ifaces[rng_below(r, strv_length(W.ifaces))]);
                return xstrdup(W.props[rng_below(r, strv_length(W.props))]);
        default:
                return random_string(r);
        }
}

/* A string for an argument, by its name. */
static char *string_for(Gen *g, const char *arg) {
        Rng *r = g->rng;
        const Node *n = g->node;

        if (streq(arg, "address") && (g->valid || rng_percent(r, 50)))
                return xstrdup(W.addresses[rng_below(r, strv_length(W.addresses))]);
        if (streq(arg, "user") && rng_percent(r, 70))
                return xstrdup(PICK(r, users));
        if ((streq(arg, "interface_name") || streq(arg, "property_name")) && n && n->n_members &&
            rng_percent(r, 75)) {
                const Member *m = &n->members[rng_below(r, n->n_members)];

                /* The property of the node, mostly: the path where Get works. */
                if (streq(arg, "interface_name"))
                        return xstrdup(m->iface);
                for (size_t i = 0; i < 8 && !m->property; i++)
                        m = &n->members[rng_below(r, n->n_members)];
                return xstrdup(m->name);
        }
        return generic_string(g);
}

static void append_string(Gen *g, const char *arg) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (rng_percent(g->rng, 3)) {
                const char *bad = PICK(g->rng, invalid_utf8);

                r = sd_bus_message_append_basic(g->m, 's', bad);
                if (r >= 0) {
                        /* Sent: then the daemon must cope, and the finding says why. */
                        desc_add(g, "(invalid UTF-8 that sd-bus let through)");
                        desc_string(g, bad);
                        return;
                }
                W.utf8_rejected++;
        }
        s = string_for(g, arg);
        gen_check(g, sd_bus_message_append_basic(g->m, 's', s), "a string");
        desc_string(g, s);
}

static uint32_t u32_for(Gen *g, const char *arg) {
        static const uint32_t edges[] = { 0,
                                          1,
                                          2,
                                          65534,
                                          65535,
                                          65536,
                                          99999,
                                          INT32_MAX,
                                          (uint32_t) INT32_MAX + 1,
                                          UINT32_MAX - 1,
                                          UINT32_MAX };
        static const uint32_t uids[] = {
                0,    0,     65534,      65534,          1,
                1000, 65535, UINT32_MAX, UINT32_MAX - 1, (uint32_t) INT32_MAX + 1
        };
        Rng *r = g->rng;

        if (streq(arg, "group") && W.n_groups > 0 && (g->valid || rng_percent(r, 60)))
                return W.groups[rng_below(r, W.n_groups)];
        if (streq(arg, "uid"))
                return rng_percent(r, 80) ? PICK(r, uids) : (uint32_t) rng_next(r);
        if (rng_percent(r, 30) && W.n_groups > 0)
                return W.groups[rng_below(r, W.n_groups)];
        return rng_percent(r, 70) ? PICK(r, edges) : (uint32_t) rng_next(r);
}

static uint64_t u64_edge(Rng *r) {
        static const uint64_t edges[] = { 0,
                                          1,
                                          2,
                                          UINT32_MAX,
                                          (uint64_t) UINT32_MAX + 1,
                                          INT64_MAX,
                                          (uint64_t) INT64_MAX + 1,
                                          UINT64_MAX };

        return rng_percent(r, 70) ? PICK(r, edges) : rng_next(r);
}

/* An object path: the daemon's, a lease's (live or gone) or one that is not there. */
static char *object_path(Rng *r) {
        static const char *const bogus[] = {
                "/",
                "/org",
                "/org/vfioassign1/group",
                "/org/vfioassign1/device",
                "/org/vfioassign1/lease",
                "/org/vfioassign1/group/4294967296",
                "/org/vfioassign1/group/_2e_2e",
                "/org/vfioassign1/group/00",
                "/org/vfioassign1/group/x",
                "/org/vfioassign1/device/_2e_2e",
                "/org/vfioassign1/device/0000_3a7f_3a00_2e0",
                "/org/vfioassign1/lease/0",
                "/org/vfioassign1/lease/18446744073709551615",
                "/org/vfioassign1/lease/18446744073709551616",
                "/org/vfioassign1/lease/01",
                "/org/vfioassign1/lease/1/2",
                "/org/vfioassign1/Lease/1",
                "/org/vfioassign1/a/b/c",
                "/org/freedesktop/DBus",
                "/org/vfioassign1/lease/_31",
        };

        switch (rng_below(r, 4)) {
        case 0:
                return xstrdup(W.nodes[rng_below(r, W.n_nodes)].path);
        case 1:
                if (W.leases)
                        return xstrdup(W.leases[rng_below(r, strv_length(W.leases))]);
                FALLTHROUGH;
        case 2:
                return xasprintf(OBJ_LEASE_PREFIX "/%" PRIu64, rng_below(r, W.max_lease_id + 3));
        default:
                return xstrdup(PICK(r, bogus));
        }
}

/* The length of the complete type at s, 0 at the end. */
size_t type_len(const char *s) {
        size_t n = 1;
        char close;

        switch (*s) {
        case '\0':
                return 0;
        case 'a':
                return 1 + type_len(s + 1);
        case '(':
        case '{':
                close = *s == '(' ? ')' : '}';
                while (s[n] && s[n] != close)
                        n += type_len(s + n);
                return n + 1;
        default:
                return 1;
        }
}

static const char basic_types[] = "ybnqiuxtdsogh";

/* Appends one random complete type to *sig; with fds false, one without "h". */
static void random_type(Rng *r, int depth, bool fds, char **sig) {
        unsigned k = depth >= 3 ? 0 : (unsigned) rng_below(r, 10);
        size_t n_basic = sizeof(basic_types) - (fds ? 1 : 2);

        switch (k) {
        case 6:
                ck_assert_int_ge(strextendf(sig, "", "a"), 0);
                random_type(r, depth + 1, fds, sig);
                return;
        case 7:
                ck_assert_int_ge(strextendf(sig, "", "a{%c", basic_types[rng_below(r, 12)]), 0);
                random_type(r, depth + 1, fds, sig);
                ck_assert_int_ge(strextendf(sig, "", "}"), 0);
                return;
        case 8: {
                size_t n = 1 + rng_below(r, 3);

                ck_assert_int_ge(strextendf(sig, "", "("), 0);
                for (size_t i = 0; i < n; i++)
                        random_type(r, depth + 1, fds, sig);
                ck_assert_int_ge(strextendf(sig, "", ")"), 0);
                return;
        }
        case 9:
                ck_assert_int_ge(strextendf(sig, "", "v"), 0);
                return;
        default:
                ck_assert_int_ge(strextendf(sig, "", "%c", basic_types[rng_below(r, n_basic)]), 0);
        }
}

static void gen_value(Gen *g, const char *type, size_t len, const char *arg, int depth);

/* The a{sv} every mutator ends with: mostly nothing or what the method knows (Prepare's
 * "persistent", ExplainPolicy's "user"), else known keys of the wrong type and unknown keys. */
static void gen_options(Gen *g, int depth) {
        Rng *r = g->rng;
        unsigned k = (unsigned) rng_below(r, 100);
        size_t n;

        gen_check(g, sd_bus_message_open_container(g->m, 'a', "{sv}"), "options");
        desc_add(g, "{");
        if (k < 55)
                n = 0;
        else if (k < 70 || g->valid) {
                /* What the method takes, right. */
                n = 0;
                if (g->member && streq(g->member, "Prepare")) {
                        int b = (int) rng_below(r, 2);

                        gen_check(g, sd_bus_message_append(g->m, "{sv}", "persistent", "b", b),
                                  "persistent");
                        desc_add(g, "\"persistent\": <b> %s", b ? "true" : "false");
                } else if (g->member && streq(g->member, "ExplainPolicy")) {
                        const char *u = PICK(r, users);

                        gen_check(g, sd_bus_message_append(g->m, "{sv}", "user", "s", u), "user");
                        desc_add(g, "\"user\": <s> ");
                        desc_string(g, u);
                }
        } else if (k < 95)
                n = 1 + rng_below(r, 3);
        else
                n = 16 + rng_below(r, 48);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *key = NULL, *vtype = NULL;

                key = rng_percent(r, 80) ? xstrdup(PICK(r, option_keys)) : generic_string(g);
                if (streq(key, "persistent") && rng_percent(r, 60))
                        vtype = xstrdup("b");
                else if (streq(key, "user") && rng_percent(r, 60))
                        vtype = xstrdup("s");
                else
                        random_type(r, depth + 1, g->fds < FD_BUDGET, &vtype);
                gen_check(g, sd_bus_message_open_container(g->m, 'e', "sv"), "an option");
                gen_check(g, sd_bus_message_append_basic(g->m, 's', key), "an option's key");
                desc_add(g, i ? ", " : "");
                desc_string(g, key);
                desc_add(g, ": <%s> ", vtype);
                gen_check(g, sd_bus_message_open_container(g->m, 'v', vtype), "an option's value");
                gen_value(g, vtype, strlen(vtype), streq(key, "user") ? "user" : key, depth + 2);
                gen_check(g, sd_bus_message_close_container(g->m), "an option's value");
                gen_check(g, sd_bus_message_close_container(g->m), "an option");
        }
        desc_add(g, "}");
        gen_check(g, sd_bus_message_close_container(g->m), "options");
}

/* One value of the complete type type[0..len). */
static void gen_value(Gen *g, const char *type, size_t len, const char *arg, int depth) {
        _cleanup_free_ char *contents = len > 1 ? strndup(type + 1, len - 2) : NULL;
        Rng *r = g->rng;

        switch (type[0]) {
        case 'y': {
                uint8_t v = rng_percent(r, 50) ? PICK(r, ((uint8_t[]) { 0, 1, 0x7f, 0xff }))
                                               : (uint8_t) rng_next(r);

                gen_check(g, sd_bus_message_append_basic(g->m, 'y', &v), "y");
                desc_add(g, "%u", v);
                return;
        }
        case 'b': {
                int v = (int) rng_below(r, 2);

                gen_check(g, sd_bus_message_append_basic(g->m, 'b', &v), "b");
                desc_add(g, "%s", v ? "true" : "false");
                return;
        }
        case 'n':
        case 'q': {
                uint16_t v = rng_percent(r, 50)
                                     ? PICK(r, ((uint16_t[]) { 0, 1, 0x7fff, 0x8000, 0xffff }))
                                     : (uint16_t) rng_next(r);

                gen_check(g, sd_bus_message_append_basic(g->m, type[0], &v), "n/q");
                desc_add(g, type[0] == 'n' ? "%d" : "%u", type[0] == 'n' ? (int) (int16_t) v : v);
                return;
        }
        case 'i':
        case 'u': {
                uint32_t v = u32_for(g, arg);

                gen_check(g, sd_bus_message_append_basic(g->m, type[0], &v), "i/u");
                if (type[0] == 'i')
                        desc_add(g, "%" PRIi32, (int32_t) v);
                else
                        desc_add(g, "%" PRIu32, v);
                return;
        }
        case 'x':
        case 't': {
                uint64_t v = u64_edge(r);

                gen_check(g, sd_bus_message_append_basic(g->m, type[0], &v), "x/t");
                if (type[0] == 'x')
                        desc_add(g, "%" PRIi64, (int64_t) v);
                else
                        desc_add(g, "%" PRIu64, v);
                return;
        }
        case 'd': {
                double v = PICK(r, ((double[]) { 0.0, -0.0, 1.5, -1e308, 1e308, NAN, INFINITY,
                                                 -INFINITY, 4294967296.0 }));

                gen_check(g, sd_bus_message_append_basic(g->m, 'd', &v), "d");
                desc_add(g, "%g", v);
                return;
        }
        case 's':
                append_string(g, arg);
                return;
        case 'o': {
                _cleanup_free_ char *p = object_path(r);

                gen_check(g, sd_bus_message_append_basic(g->m, 'o', p), "o");
                desc_add(g, "o\"%s\"", p);
                return;
        }
        case 'g': {
                static const char *const sigs[] = {
                        "",       "s", "a{sv}",        "ua{sv}",
                        "sa{sv}", "h", "aaaaaaaa{sv}", "(((((((v)))))))",
                        "v"
                };
                const char *s = PICK(r, sigs);

                gen_check(g, sd_bus_message_append_basic(g->m, 'g', s), "g");
                desc_add(g, "g\"%s\"", s);
                return;
        }
        case 'h': {
                int fd = rng_percent(r, 50) ? W.null_fd : W.memfd;

                gen_check(g, sd_bus_message_append_basic(g->m, 'h', &fd), "h");
                g->fds++;
                desc_add(g, "fd:%s", fd == W.null_fd ? "/dev/null" : "memfd");
                return;
        }
        case 'v': {
                _cleanup_free_ char *vt = NULL;

                if (depth >= MAX_DEPTH)
                        vt = xstrdup("s");
                else
                        random_type(r, depth + 1, g->fds < FD_BUDGET, &vt);
                gen_check(g, sd_bus_message_open_container(g->m, 'v', vt), "v");
                desc_add(g, "<%s> ", vt);
                gen_value(g, vt, strlen(vt), arg, depth + 1);
                gen_check(g, sd_bus_message_close_container(g->m), "v");
                return;
        }
        case 'a': {
                _cleanup_free_ char *elem = strndup(type + 1, len - 1);
                size_t n = rng_percent(r, 30)   ? 0
                           : rng_percent(r, 90) ? 1 + rng_below(r, 3)
                                                : 16 + rng_below(r, 48);

                ck_assert_ptr_nonnull(elem);
                if (streq(elem, "{sv}") && (streq(arg, "options") || rng_percent(r, 50))) {
                        gen_options(g, depth);
                        return;
                }
                if (depth >= MAX_DEPTH || (strchr(elem, 'h') && g->fds + n > FD_BUDGET))
                        n = 0;
                gen_check(g, sd_bus_message_open_container(g->m, 'a', elem), "a");
                desc_add(g, "[");
                for (size_t i = 0; i < n; i++) {
                        desc_add(g, i ? ", " : "");
                        gen_value(g, elem, strlen(elem), arg, depth + 1);
                }
                desc_add(g, "]");
                gen_check(g, sd_bus_message_close_container(g->m), "a");
                return;
        }
        case '(':
        case '{':
                ck_assert_ptr_nonnull(contents);
                gen_check(g,
                          sd_bus_message_open_container(g->m, type[0] == '(' ? 'r' : 'e', contents),
                          "struct");
                desc_add(g, type[0] == '(' ? "(" : "{");
                for (size_t i = 0, k; (k = type_len(contents + i)) > 0; i += k) {
                        desc_add(g, i ? ", " : "");
                        gen_value(g, contents + i, k, arg, depth + 1);
                }
                desc_add(g, type[0] == '(' ? ")" : "}");
                gen_check(g, sd_bus_message_close_container(g->m), "struct");
                return;
        default:
                ck_abort_msg("unknown type %c", type[0]);
        }
}

/* ---- calls ---- */

void call_clear(Call *c) {
        free(c->path);
        free(c->iface);
        free(c->member);
        free(c->sig);
        free(c->desc);
        *c = (Call) {};
}

/* Not the member's signature: one argument less or more, one of another type, none, or random. */
static char *wrong_signature(Rng *r, const char *right) {
        char *sig = NULL;
        size_t n = 0, lens[16], offs[16];

        for (size_t i = 0, k; n < ELEMENTSOF(lens) && (k = type_len(right + i)) > 0; i += k) {
                offs[n] = i;
                lens[n++] = k;
        }
        switch (rng_below(r, 5)) {
        case 0:
                if (n > 0) {
                        sig = strndup(right, offs[n - 1]);
                        ck_assert_ptr_nonnull(sig);
                        break;
                }
                FALLTHROUGH;
        case 1:
                sig = xstrdup(right);
                random_type(r, 0, true, &sig);
                break;
        case 2:
                if (n > 0) {
                        size_t i = rng_below(r, n);

                        sig = strndup(right, offs[i]);
                        ck_assert_ptr_nonnull(sig);
                        random_type(r, 0, true, &sig);
                        ck_assert_int_ge(strextendf(&sig, "", "%s", right + offs[i] + lens[i]), 0);
                        break;
                }
                FALLTHROUGH;
        case 3:
                sig = xstrdup(rng_percent(r, 50) ? "" : "h");
                break;
        default:
                sig = xstrdup("");
                for (size_t i = 0, k = 1 + rng_below(r, 4); i < k; i++)
                        random_type(r, 0, true, &sig);
        }
        return sig;
}

/* A method of the node: mostly one of our interfaces, which sd-bus does not answer itself. */
static const Member *pick_method(Rng *r, const Node *n) {
        bool ours = rng_percent(r, 80);

        for (int pass = 0; pass < 2; pass++, ours = false) {
                size_t k = 0, j;

                for (size_t i = 0; i < n->n_members; i++)
                        k += !n->members[i].property &&
                             (!ours || !startswith(n->members[i].iface, IFACE_STD_PREFIX));
                if (k == 0)
                        continue;
                j = rng_below(r, k);
                for (size_t i = 0; i < n->n_members; i++)
                        if (!n->members[i].property &&
                            (!ours || !startswith(n->members[i].iface, IFACE_STD_PREFIX)) &&
                            j-- == 0)
                                return &n->members[i];
        }
        ck_abort_msg("%s has no methods", n->path);
        return NULL;
}

static const Node *pick_node(Rng *r, char **ret_path) {
        unsigned k = (unsigned) rng_below(r, 100);
        const Node *n;

        if (k < 30 && W.leases && W.lease.n_members > 0) {
                *ret_path = xstrdup(W.leases[rng_below(r, strv_length(W.leases))]);
                return &W.lease;
        }
        if (k >= 30 && k < 36 && W.lease.n_members > 0) {
                /* A lease that is gone or never was, with a lease's members. */
                *ret_path = xasprintf(OBJ_LEASE_PREFIX "/%" PRIu64,
                                      rng_below(r, W.max_lease_id + 3));
                return &W.lease;
        }
        if (k < 44) {
                /* Somewhere else entirely, with some object's members. */
                *ret_path = object_path(r);
                return rng_percent(r, 50) && W.lease.n_members > 0
                               ? &W.lease
                               : &W.nodes[rng_below(r, W.n_nodes)];
        }
        /* The manager half of the time: it has most of the methods. */
        n = k < 72 ? &W.nodes[0] : &W.nodes[rng_below(r, W.n_nodes)];
        *ret_path = xstrdup(n->path);
        return n;
}

void gen_call(sd_bus *bus, uint64_t seed, uint64_t index, Call *c, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const Node *node;
        const Member *member = NULL;
        bool valid = false;
        Rng rng;
        Gen g;
        int k;

        rng_init(&rng, seed, index, 1);
        *c = (Call) {};
        /* Now and then a claim or prepare that can succeed: without them leases are rare and the
         * lease members meet objects that are not there. */
        if (rng_percent(&rng, W.leases ? 4 : 20)) {
                static const char *const takers[] = { "ClaimGroup", "ClaimDevice", "Prepare" };

                node = &W.nodes[0];
                member = node_find(node, IFACE_MANAGER, PICK(&rng, takers), false);
                valid = member != NULL;
        }
        if (!valid) {
                node = pick_node(&rng, &c->path);
                if (node->n_members == 0)
                        node = &W.nodes[0];
                /* Properties are reached through org.freedesktop.DBus.Properties, a method like
                 * the others. */
                member = pick_method(&rng, node);
        } else
                c->path = xstrdup(node->path);
        c->iface = xstrdup(member->iface);
        c->member = xstrdup(member->name);
        c->want = member->sig;

        k = valid ? 100 : (int) rng_below(&rng, 100);
        if (k < 4) {
                /* A member nobody has. */
                free(c->member);
                c->member = xstrdup(PICK(&rng,
                                         ((const char *[]) { "Frobnicate", "Claim", "listgroups",
                                                             "Release_", "Get_" })));
                c->want = NULL;
        } else if (k < 8) {
                /* A member of another interface, or of another object's. */
                const char *other = W.ifaces[rng_below(&rng, strv_length(W.ifaces))];

                free(c->iface);
                c->iface = xstrdup(other);
                member = node_find(node, other, c->member, false);
                c->want = member ? member->sig : NULL;
        } else if (k < 12) {
                /* No interface: sd-bus looks the member up in all of the object's. */
                c->iface = mfree(c->iface);
        } else if (k < 14) {
                const char *other = W.methods[rng_below(&rng, strv_length(W.methods))];

                free(c->member);
                c->member = xstrdup(other);
                member = node_find(node, c->iface, other, false);
                c->want = member ? member->sig : NULL;
        }
        c->standard = c->iface && startswith(c->iface, IFACE_STD_PREFIX);

        if (c->want && (valid || !rng_percent(&rng, 18)))
                c->sig = xstrdup(c->want);
        else
                c->sig = wrong_signature(&rng, c->want ?: "");

        g = (Gen) { .rng = &rng,
                    .node = node,
                    .member = c->member,
                    .valid = valid,
                    .budget = MESSAGE_BUDGET };
        desc_add(&g, "%s %s.%s(%s: ", c->path, c->iface ?: "(no interface)", c->member, c->sig);
        k = sd_bus_message_new_method_call(bus, &m, BUS_NAME, c->path, c->iface, c->member);
        ck_assert_msg(k >= 0, "new_method_call %s: %s", g.desc, strerror(-k));
        g.m = m;
        if (rng_percent(&rng, 10)) {
                ck_assert_int_ge(sd_bus_message_set_allow_interactive_authorization(m, true), 0);
                desc_add(&g, "[interactive] ");
        }
        for (size_t i = 0, n = 0, len; (len = type_len(c->sig + i)) > 0; i += len, n++) {
                const Member *own = c->want ? member : NULL;
                const char *arg = own && n < strv_length(own->arg_names) ? own->arg_names[n] : "";

                desc_add(&g, n ? ", " : "");
                gen_value(&g, c->sig + i, len, arg, 0);
        }
        desc_add(&g, ")");
        c->desc = TAKE_PTR(g.desc);
        if (ret)
                *ret = TAKE_PTR(m);
}
