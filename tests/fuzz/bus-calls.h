/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* fuzz-bus's calls (bus-calls.c): a seeded PRNG, what the daemon serves (learnt by
 * introspection), and call number i of a run, built from (seed, i) and the world alone so that
 * the unprivileged worker and the parent build the same. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "macro.h"

#define IFACE_STD_PREFIX "org.freedesktop.DBus."

typedef struct Rng {
        uint64_t s[4];
} Rng;

/* Every call draws from its own stream, so that what it sends does not depend on how many
 * numbers the steps before it used. */
void rng_init(Rng *r, uint64_t seed, uint64_t index, uint64_t stream);
uint64_t rng_next(Rng *r);
uint64_t rng_below(Rng *r, uint64_t n);
bool rng_percent(Rng *r, unsigned p);
#define PICK(r, array) ((array)[rng_below((r), ELEMENTSOF(array))])

typedef struct Member {
        char *iface, *name;
        char *sig;        /* methods: the in-arguments; properties: the type */
        char **arg_names; /* methods: one per in-argument */
        bool property;
} Member;

typedef struct Node {
        char *path;
        Member *members;
        size_t n_members;
} Node;

typedef struct World {
        Node *nodes; /* the manager, the groups, the devices and the nodes between */
        size_t n_nodes;
        Node lease; /* the members of a lease object (its path is unused) */
        char **addresses;
        uint32_t *groups;
        size_t n_groups;
        char **ifaces, **props, **methods;  /* every name seen, for mix-ups */
        char **errors;                      /* the documented error names */
        char **leases, **holders, **states; /* ListLeases, refreshed after every success */
        uint64_t max_lease_id;
        int null_fd, memfd;     /* what "h" arguments carry */
        uint64_t utf8_rejected; /* invalid UTF-8 strings sd-bus refused to send */
} World;

extern World W;

typedef struct Call {
        char *path, *iface, *member;
        char *sig;        /* what was sent */
        const char *want; /* the member's own signature, NULL when it has none here */
        bool standard;    /* an interface sd-bus implements itself */
        char *desc;
} Call;

void call_clear(Call *c);
/* Call number index of the run seeded seed: the message on bus (in *ret, unless NULL; the caller
 * sends it) and its description in c. */
void gen_call(sd_bus *bus, uint64_t seed, uint64_t index, Call *c, sd_bus_message **ret);

char *xstrdup(const char *s);
void add_unique(char ***l, const char *s);
/* sd-bus's introspection XML: interfaces, their methods with the in-args and their properties
 * into n; the names of child nodes into *children. */
void parse_introspection(const char *xml, Node *n, char ***children);
char *introspect(sd_bus *bus, const char *path);
/* Every node below the manager, breadth first (the manager first), into W.nodes. */
void introspect_tree(sd_bus *bus);
const Member *node_find(const Node *n, const char *iface, const char *name, bool property);
/* bytes bytes of unit repeated, cut at a character boundary. */
char *repeat(const char *unit, size_t bytes);
/* The length of the complete type at s, 0 at the end. */
size_t type_len(const char *s);
