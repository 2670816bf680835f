/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who has a device node open: the processes a release waits for (a lease's Holders), found the
 * way fuser(1) finds them, by the /proc/PID/fd links that name the node. A link is readable only
 * when the reader may ptrace the process (proc(5): PTRACE_MODE_READ_FSCREDS), and ProtectProc=
 * hides the rest: a process the caller may not see is not listed. */

/* TASK_COMM_LEN (include/linux/sched.h): 15 bytes and the NUL. */
#define HOLDER_COMM_MAX 16
/* A bound on what a scan keeps: a group has one opener (the kernel's rule) plus whoever
 * inherited the fd. */
#define HOLDERS_MAX 64

typedef struct Holder {
        uint32_t pid;
        char comm[HOLDER_COMM_MAX]; /* /proc/PID/comm; bytes outside printable ASCII as '?' */
} Holder;

/* The processes other than this one with an fd on any of paths (absolute, as /proc/PID/fd links
 * read: the node under the dev root), in pid order, at most HOLDERS_MAX. *ret is NULL when there
 * are none. */
int holders_scan(char *const *paths, Holder **ret, size_t *ret_n);

bool holders_equal(const Holder *a, size_t n_a, const Holder *b, size_t n_b);
