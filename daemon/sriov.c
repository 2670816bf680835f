/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "names.h"
#include "sriov.h"
#include "state.h"
#include "util.h"
#include "worker.h"

static int read_u32(const SysRoot *r, const char *pf, const char *name, uint32_t *ret) {
        char path[160], buf[32];
        int k;

        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/%s", pf, name);
        k = sysfs_read_attr_buf(r, -1, path, buf, sizeof(buf));
        if (k < 0)
                return k;
        return safe_atou32(buf, 10, ret) < 0 ? -EBADMSG : 0;
}

int sriov_read(const SysRoot *r, const char *pf, SriovInfo *ret) {
        uint32_t autoprobe = 1;
        int k;

        if (!pci_address_is_canonical(pf))
                return -EINVAL;
        k = read_u32(r, pf, "sriov_totalvfs", &ret->total);
        if (k == -ENOENT)
                return -ENOTSUP;
        if (k >= 0)
                k = read_u32(r, pf, "sriov_numvfs", &ret->num);
        if (k < 0)
                return k;
        /* Since 4.12; older kernels always probe. */
        k = read_u32(r, pf, "sriov_drivers_autoprobe", &autoprobe);
        if (k < 0 && k != -ENOENT)
                return k;
        ret->autoprobe = autoprobe != 0;
        return 0;
}

static int write_attr(const SysRoot *r, const char *pf, const char *name, uint32_t value,
                      uint64_t timeout_usec) {
        char path[160], text[16];

        if (!pci_address_is_canonical(pf))
                return -EINVAL;
        snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/%s", pf, name);
        snprintf(text, sizeof(text), "%" PRIu32, value);
        return sysfs_write_attr(r, path, text, timeout_usec);
}

int sriov_write_num_vfs(const SysRoot *r, const char *pf, uint32_t n, uint64_t timeout_usec) {
        return write_attr(r, pf, "sriov_numvfs", n, timeout_usec);
}

int sriov_write_autoprobe(const SysRoot *r, const char *pf, bool on, uint64_t timeout_usec) {
        return write_attr(r, pf, "sriov_drivers_autoprobe", on, timeout_usec);
}

/* -EAGAIN until sriov_numvfs reads n (the kernel's last step) and virtfn0..n-1 are there. */
static int list_vfs(const SysRoot *r, const char *pf, uint32_t n, char ***ret) {
        _cleanup_strv_free_ char **vfs = NULL;
        uint32_t num;
        int k;

        k = read_u32(r, pf, "sriov_numvfs", &num);
        if (k < 0)
                return k;
        if (num != n)
                return -EAGAIN;
        for (uint32_t i = 0; i < n; i++) {
                _cleanup_free_ char *name = NULL;
                char path[160];

                snprintf(path, sizeof(path), SYSFS_PCI_DEVICES "/%s/virtfn%" PRIu32, pf, i);
                k = sysfs_read_link_name_at(r, -1, path, &name);
                if (k == -ENOENT)
                        return -EAGAIN;
                if (k < 0)
                        return k;
                if (!pci_address_is_canonical(name))
                        return -EBADMSG;
                k = strv_extend(&vfs, name);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(vfs);
        return 0;
}

int sriov_wait_vfs(const SysRoot *r, const char *pf, uint32_t n, uint64_t timeout_usec,
                   char ***ret_vfs) {
        uint64_t waited = 0;

        if (!pci_address_is_canonical(pf))
                return -EINVAL;
        for (;;) {
                int k = list_vfs(r, pf, n, ret_vfs);

                if (k != -EAGAIN)
                        return k;
                if (waited >= timeout_usec)
                        return -ETIMEDOUT;
                blocking_sleep(20000);
                waited += 20000;
        }
}

int sriov_undo(const SysRoot *r, const SriovChange *c, uint64_t timeout_usec,
               const char **ret_step) {
        const char *step = NULL;
        SriovInfo now;
        int k, first = 0;

        k = sriov_read(r, c->pf, &now);
        if (k < 0) {
                if (ret_step)
                        *ret_step = "read sriov_numvfs";
                return k;
        }
        if (now.num != c->from) {
                if (now.num != 0) {
                        k = sriov_write_num_vfs(r, c->pf, 0, timeout_usec);
                        if (k < 0) {
                                first = k;
                                step = "write sriov_numvfs 0";
                        }
                }
                if (first >= 0 && c->from != 0) {
                        k = sriov_write_num_vfs(r, c->pf, c->from, timeout_usec);
                        if (k < 0) {
                                first = k;
                                step = "write sriov_numvfs back";
                        }
                }
        }
        if (c->autoprobe >= 0 && now.autoprobe != (c->autoprobe > 0)) {
                k = sriov_write_autoprobe(r, c->pf, c->autoprobe > 0, timeout_usec);
                if (k < 0 && first >= 0) {
                        first = k;
                        step = "write sriov_drivers_autoprobe back";
                }
        }
        if (ret_step)
                *ret_step = step;
        return first;
}

/* ---- sriov.json ---- */

int sriov_changes_save(int dir_fd, const SriovChange *c, size_t n) {
        _cleanup_json_ json_object *root = NULL;
        struct json_object *arr;
        const char *text;
        int k = 0;

        if (n == 0)
                return unlinkat(dir_fd, SRIOV_FILE, 0) < 0 && errno != ENOENT ? negative_errno()
                                                                              : 0;
        root = json_object_new_object();
        arr = json_object_new_array();
        if (!root || !arr) {
                json_object_put(arr);
                return -ENOMEM;
        }
        k |= json_add_new(root, "version", json_object_new_int(1));
        k |= json_add_new(root, "changes", arr);
        for (size_t i = 0; i < n && !k; i++) {
                struct json_object *o = json_object_new_object();

                k |= json_append_new(arr, o);
                if (k)
                        break;
                k |= json_add_new(o, "pf", json_object_new_string(c[i].pf));
                k |= json_add_new(o, "from", json_object_new_int64(c[i].from));
                k |= json_add_new(o, "to", json_object_new_int64(c[i].to));
                if (c[i].autoprobe >= 0)
                        k |= json_add_new(o, "autoprobe",
                                          json_object_new_boolean(c[i].autoprobe > 0));
        }
        if (k)
                return -ENOMEM;
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
        return text ? state_write_file(dir_fd, SRIOV_FILE, text) : -ENOMEM;
}

static bool get_count(struct json_object *o, const char *key, uint32_t *ret) {
        struct json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        i = json_object_get_int64(v);
        /* sriov_totalvfs is a 16-bit field (PCIe 6.0 §9.3.3.6). */
        if (i < 0 || i > UINT16_MAX)
                return false;
        *ret = (uint32_t) i;
        return true;
}

static bool change_from_json(struct json_object *o, SriovChange *ret) {
        struct json_object *v;
        const char *pf;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "pf", &v) ||
            !json_object_is_type(v, json_type_string))
                return false;
        pf = json_object_get_string(v);
        if (!pci_address_is_canonical(pf) || !get_count(o, "from", &ret->from) ||
            !get_count(o, "to", &ret->to))
                return false;
        strcpy(ret->pf, pf);
        ret->autoprobe = -1;
        if (json_object_object_get_ex(o, "autoprobe", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        return false;
                ret->autoprobe = json_object_get_boolean(v);
        }
        return true;
}

int sriov_changes_load(int dir_fd, SriovChange **ret, size_t *ret_n, char **ret_error) {
        _cleanup_json_ json_object *root = NULL;
        _cleanup_free_ SriovChange *c = NULL;
        struct json_object *v, *arr;
        size_t len;
        int k;

        k = state_read_json(dir_fd, SRIOV_FILE, &root, ret_error);
        if (k == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (k < 0)
                return k;
        if (!json_object_is_type(root, json_type_object) ||
            !json_object_object_get_ex(root, "version", &v) ||
            !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1 ||
            !json_object_object_get_ex(root, "changes", &arr) ||
            !json_object_is_type(arr, json_type_array) ||
            (len = json_object_array_length(arr)) > SRIOV_MAX_CHANGES)
                return asprintf(ret_error, "%s: not a version 1 list of SR-IOV changes",
                                SRIOV_FILE) < 0
                               ? -ENOMEM
                               : -EBADMSG;
        c = calloc(len + 1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++)
                if (!change_from_json(json_object_array_get_idx(arr, i), &c[i]))
                        return asprintf(ret_error, "%s: changes[%zu]: missing or invalid fields",
                                        SRIOV_FILE, i) < 0
                                       ? -ENOMEM
                                       : -EBADMSG;
        *ret = TAKE_PTR(c);
        *ret_n = len;
        return 0;
}
