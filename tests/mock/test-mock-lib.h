/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the kernel model's test programs share: the fake host every test starts from (setup()
 * builds it with the model off, then switches the model on), helpers that act on it with plain
 * syscalls, and the main() that re-execs the program with libvfio-mock.so preloaded. */
#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fakesys.h"
#include "macro.h"
#include "util.h"

#define NIC0 "0000:01:00.0"  /* e1000e, group 2 with NIC1 */
#define NIC1 "0000:01:00.1"  /* e1000e, group 2 */
#define NVME "0000:02:00.0"  /* nvme, group 4 alone */
#define PF "0000:03:00.0"    /* igb, SR-IOV PF, group 6 */
#define VF0 "0000:03:10.0"   /* RID 0x300 + offset 0x80 */
#define VF1 "0000:03:10.2"   /* + stride 2 */
#define AUDIO "0000:00:1f.3" /* snd_hda_intel, group 7, no reset */
#define SPARE "0000:00:1f.4" /* unbound from the start, group 8 */
#define DEVS "sys/bus/pci/devices/"
#define DRVS "sys/bus/pci/drivers/"
#define PROBE "sys/bus/pci/drivers_probe"

extern char tmpdir[];
extern char *root, *config_path, *fifo_path;
extern FakeSys *fs;
extern int root_fd, fifo_fd;

void mock_on(void);
void mock_off(void);
void add(const char *bdf, const char *parent, uint32_t cls, const char *driver, int group,
         const char *reset);
void setup(void);
void teardown(void);
void config(const char *text);
int wr_bytes(const char *rel, const void *value, size_t n);
int wr(const char *rel, const char *value);
char *rd(const char *rel);
bool exists(const char *rel);
char *dev_rel(const char *bdf, const char *attr);
/* The driver's name from the device's driver link, "" when unbound. */
char *driver_of(const char *bdf);
bool back_link(const char *driver, const char *bdf);
int attr_wr(const char *bdf, const char *attr, const char *value);
int drv_wr(const char *driver, const char *file, const char *bdf);
void expect_events(const char *expected);
void to_vfio(const char *bdf);
int open_dev(const char *rel, int flags);
int xioctl(int fd, unsigned long req, void *arg);
int group_status(int gfd);
/* Runs fn in a forked child (which inherits the preload and the environment) and returns its
 * exit status. */
int in_child(int (*fn)(void));
/* valgrind warns about every VFIO ioctl that reaches the kernel. */
bool under_valgrind(void);
/* main(): re-execs with the library preloaded when it is not, then runs the suite. */
int test_mock_main(int argc, char *argv[], Suite *(*make_suite)(void) );

#define assert_file(rel, expected)                                         \
        do {                                                               \
                _cleanup_free_ char *_s = rd(rel);                         \
                ck_assert_msg(_s, "%s: unreadable", (const char *) (rel)); \
                ck_assert_str_eq(_s, (expected));                          \
        } while (0)
#define assert_driver(bdf, expected)                      \
        do {                                              \
                _cleanup_free_ char *_d = driver_of(bdf); \
                ck_assert_str_eq(_d, (expected));         \
        } while (0)

/* CLOCK_MONOTONIC, for the hang injections. */
double now_sec(void);
/* How many close events the inotify watch ifd has queued (it is non-blocking). */
int close_events(int ifd);
