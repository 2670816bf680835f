/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vfio-backend.h"

const VfioBackendOps *const vfio_backends[] = {
        &vfio_type1_ops,
        &vfio_iommufd_ops,
        NULL,
};

static const char *const fd_kind_table[_VFIO_FD_KIND_MAX] = {
        [VFIO_FD_CONTAINER] = "container",
        [VFIO_FD_GROUP] = "group",
        [VFIO_FD_IOMMUFD] = "iommufd",
};

const char *vfio_fd_kind_to_string(VfioFdKind k) {
        return (size_t) k < _VFIO_FD_KIND_MAX ? fd_kind_table[k] : NULL;
}

const VfioBackendOps *vfio_backend_ops_from_name(const char *name) {
        for (size_t i = 0; name && vfio_backends[i]; i++)
                if (streq(vfio_backends[i]->name, name))
                        return vfio_backends[i];
        return NULL;
}

int vfio_backends_supported(const HostInfo *h, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; vfio_backends[i]; i++)
                if (vfio_backends[i]->supported(h) && strv_extend(&l, vfio_backends[i]->name) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

char *vfio_backends_known(void) {
        char *text = NULL;

        for (size_t i = 0; vfio_backends[i]; i++)
                if (strextendf(&text, ", ", "%s", vfio_backends[i]->name) < 0)
                        return mfree(text);
        return text;
}

int vfio_backend_new(const VfioBackendOps *ops, uint32_t group, VfioBackend **ret) {
        return (ops ?: vfio_backends[0])->new (group, ret);
}

VfioBackend *vfio_backend_free(VfioBackend *b) {
        if (b)
                b->ops->free(b);
        return NULL;
}

const char *vfio_backend_name(const VfioBackend *b) {
        return b ? b->ops->name : "";
}

bool vfio_backend_is_open(const VfioBackend *b) {
        return b && b->ops->is_open(b);
}

void vfio_backend_close(VfioBackend *b) {
        if (b)
                b->ops->close(b);
}

int vfio_backend_stored_fd(const VfioBackend *b, const char *name) {
        const char *n;
        int fd;

        for (size_t i = 0; b && (n = b->ops->stored_fd(b, i, &fd)); i++)
                if (streq(n, name))
                        return fd;
        return -1;
}
