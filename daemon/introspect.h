/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

/* Prints the introspection XML of the Manager, Group and Device interfaces
 * (dbus/org.vfioassign1.xml is this output). */
int bus_print_introspection(FILE *out);
