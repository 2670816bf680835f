/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "userdb.h"
#include "util.h"

#define GROUPS_MAX 256

int userdb_add_group(char ***groups, uint32_t gid) {
        struct group gr, *res = NULL;
        char buf[4096];

        if (getgrgid_r((gid_t) gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return 0;
        return strv_contains(*groups, res->gr_name) ? 0 : strv_extend(groups, res->gr_name);
}

static int from_passwd(const struct passwd *pw, char **ret_user, char ***ret_groups) {
        _cleanup_strv_free_ char **groups = NULL;
        _cleanup_free_ char *user = NULL;
        gid_t list[GROUPS_MAX];
        int n = GROUPS_MAX;

        user = strdup(pw->pw_name);
        if (!user)
                return -ENOMEM;
        if (userdb_add_group(&groups, pw->pw_gid) < 0)
                return -ENOMEM;
        if (getgrouplist(pw->pw_name, pw->pw_gid, list, &n) >= 0)
                for (int i = 0; i < n; i++)
                        if (userdb_add_group(&groups, list[i]) < 0)
                                return -ENOMEM;
        *ret_user = TAKE_PTR(user);
        *ret_groups = TAKE_PTR(groups);
        return 0;
}

int userdb_by_uid(uint32_t uid, char **ret_user, char ***ret_groups) {
        struct passwd pw, *res = NULL;
        char buf[4096];

        if (getpwuid_r((uid_t) uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -ESRCH;
        return from_passwd(res, ret_user, ret_groups);
}

int userdb_by_name(const char *name, uint32_t *ret_uid, char **ret_user, char ***ret_groups) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        int k;

        if (!name || !filename_is_valid(name))
                return -EINVAL;
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -ESRCH;
        k = from_passwd(res, ret_user, ret_groups);
        if (k < 0)
                return k;
        *ret_uid = res->pw_uid;
        return 0;
}
