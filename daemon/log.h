/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* Logging for the top-level daemon code (main.c and the bus glue); the model never logs. To
 * stderr, which under systemd is the journal, with <N> priority prefixes then (sd-daemon(3)). */
void log_setup(void);
void log_msg(int level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) log_msg(3, __VA_ARGS__)
#define log_warning(...) log_msg(4, __VA_ARGS__)
#define log_notice(...) log_msg(5, __VA_ARGS__)
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)

/* log_msg() with errno set to the error for the message's "%m" (glibc's printf prints
 * strerror(errno) there), so callers end with "return log_error_errno(r, "Cannot ...: %m");".
 * error is an errno, negative or positive; returns it negative, whether or not the level is
 * shown. errno is what it was before the call. */
int log_msg_errno(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_error_errno(error, ...) log_msg_errno(3, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_msg_errno(4, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_msg_errno(5, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_msg_errno(6, error, __VA_ARGS__)
#define log_debug_errno(error, ...) log_msg_errno(7, error, __VA_ARGS__)
