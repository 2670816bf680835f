/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

/* A region of guest RAM the daemon filled for a claim (claim --memory). */
typedef struct Memory {
        int fd;     /* the memfd, ours (O_CLOEXEC until the command's exec) */
        char *path; /* the Region object */
        uint64_t size, populated;
        char *state, *error;
} Memory;

void memory_done(Memory *m);
/* AllocateMemory on the lease with the --memory, --hugepages, --numa-node and --map options, and
 * waits until the region is filled (a progress bar when stderr is a terminal). An exit code;
 * fail() said why. */
int memory_allocate(sd_bus *bus, const char *context, const char *lease, Memory *mem);
/* The pre-flight of status --memory: prints (to f, when not NULL) and returns in *ret_json (when
 * not NULL) whether a VM of size bytes fits this RLIMIT_MEMLOCK and the free pages of the pool
 * (hugepages "2M"/"1G", or NULL/"none"): 1 when it does, 0 when not, or a negative errno. */
int memory_preflight(FILE *f, json_object *report, uint64_t size, const char *hugepages,
                     json_object **ret_json);
/* The QEMU arguments that make the region the guest's RAM. */
int memory_qemu_args(const Memory *m, char **ret);
