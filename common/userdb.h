/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Who a uid or a user name is: the name and the names of all its groups (primary and
 * supplementary), through NSS. Policy rules name users and groups. */
int userdb_by_uid(uint32_t uid, char **ret_user, char ***ret_groups);
int userdb_by_name(const char *name, uint32_t *ret_uid, char **ret_user, char ***ret_groups);
/* Appends the name of gid to *groups unless present; a gid without a name is skipped. */
int userdb_add_group(char ***groups, uint32_t gid);
