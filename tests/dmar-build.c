/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dmar-build.h"
#include "macro.h"

/* Offsets and sizes from the ACPI spec 5.2.6 (header) and VT-d spec chapter 8 (DMAR). */
#define HEADER_SIZE 48u
#define STRUCT_MAX 0xffffu
#define SCOPE_PATH_MAX ((0xffu - 6u) / 2u)

struct DmarBuilder {
        uint8_t *buf;
        size_t size, allocated;
        size_t current; /* offset of the open structure; 0 = none (structures start at 48) */
};

static void wr16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void wr32(uint8_t *p, uint32_t v) {
        wr16(p, (uint16_t) v);
        wr16(p + 2, (uint16_t) (v >> 16));
}

static void wr64(uint8_t *p, uint64_t v) {
        wr32(p, (uint32_t) v);
        wr32(p + 4, (uint32_t) (v >> 32));
}

/* Appends n zero bytes and returns a pointer to them, or NULL. */
static uint8_t *extend(DmarBuilder *b, size_t n) {
        uint8_t *p;

        if (n > UINT32_MAX - b->size)
                return NULL;
        if (b->size + n > b->allocated) {
                size_t want = MAX(b->allocated * 2, b->size + n);

                p = realloc(b->buf, want);
                if (!p)
                        return NULL;
                b->buf = p;
                b->allocated = want;
        }
        p = b->buf + b->size;
        memset(p, 0, n);
        b->size += n;
        return p;
}

DmarBuilder *dmar_builder_new(uint8_t host_address_width_field, uint8_t flags) {
        DmarBuilder *b;
        uint8_t *h;

        b = calloc(1, sizeof(DmarBuilder));
        if (!b)
                return NULL;
        h = extend(b, HEADER_SIZE);
        if (!h) {
                free(b);
                return NULL;
        }
        memcpy(h, "DMAR", 4);
        h[8] = 1; /* revision */
        memcpy(h + 10, "VFIOAS", 6);
        memcpy(h + 16, "DMARTEST", 8);
        wr32(h + 24, 1);
        memcpy(h + 28, "VATB", 4);
        wr32(h + 32, 1);
        h[36] = host_address_width_field;
        h[37] = flags;
        return b;
}

DmarBuilder *dmar_builder_free(DmarBuilder *b) {
        if (!b)
                return NULL;
        free(b->buf);
        free(b);
        return NULL;
}

/* Opens a structure of type with body_len zeroed body bytes, stored in *ret_body. */
static int begin(DmarBuilder *b, uint16_t type, size_t body_len, uint8_t **ret_body) {
        size_t off;
        uint8_t *p;

        if (!b)
                return -EINVAL;
        if (body_len > STRUCT_MAX - 4)
                return -E2BIG;
        off = b->size;
        p = extend(b, 4 + body_len);
        if (!p)
                return -ENOMEM;
        wr16(p, type);
        wr16(p + 2, (uint16_t) (4 + body_len));
        b->current = off;
        if (ret_body)
                *ret_body = p + 4;
        return 0;
}

int dmar_builder_drhd(DmarBuilder *b, uint8_t flags, uint16_t segment, uint64_t register_base) {
        uint8_t *p;
        int r;

        r = begin(b, DMAR_DRHD, 12, &p);
        if (r < 0)
                return r;
        p[0] = flags;
        wr16(p + 2, segment);
        wr64(p + 4, register_base);
        return 0;
}

int dmar_builder_rmrr(DmarBuilder *b, uint16_t segment, uint64_t base, uint64_t limit) {
        uint8_t *p;
        int r;

        r = begin(b, DMAR_RMRR, 20, &p);
        if (r < 0)
                return r;
        wr16(p + 2, segment);
        wr64(p + 4, base);
        wr64(p + 12, limit);
        return 0;
}

int dmar_builder_atsr(DmarBuilder *b, uint8_t flags, uint16_t segment) {
        uint8_t *p;
        int r;

        r = begin(b, DMAR_ATSR, 4, &p);
        if (r < 0)
                return r;
        p[0] = flags;
        wr16(p + 2, segment);
        return 0;
}

int dmar_builder_rhsa(DmarBuilder *b, uint64_t register_base, uint32_t proximity_domain) {
        uint8_t *p;
        int r;

        r = begin(b, DMAR_RHSA, 16, &p);
        if (r < 0)
                return r;
        wr64(p + 4, register_base);
        wr32(p + 12, proximity_domain);
        return 0;
}

int dmar_builder_andd(DmarBuilder *b, uint8_t acpi_device_number, const char *object_name) {
        size_t n;
        uint8_t *p;
        int r;

        if (!object_name)
                return -EINVAL;
        n = strlen(object_name);
        if (n > STRUCT_MAX - 8 - 1)
                return -E2BIG;
        r = begin(b, DMAR_ANDD, 4 + n + 1, &p);
        if (r < 0)
                return r;
        p[3] = acpi_device_number;
        memcpy(p + 4, object_name, n + 1);
        return 0;
}

int dmar_builder_satc(DmarBuilder *b, uint8_t flags, uint16_t segment) {
        uint8_t *p;
        int r;

        r = begin(b, DMAR_SATC, 4, &p);
        if (r < 0)
                return r;
        p[0] = flags;
        wr16(p + 2, segment);
        return 0;
}

int dmar_builder_raw(DmarBuilder *b, uint16_t type, const void *body, size_t body_len) {
        uint8_t *p;
        int r;

        if (body_len > 0 && !body)
                return -EINVAL;
        r = begin(b, type, body_len, &p);
        if (r < 0)
                return r;
        if (body_len > 0)
                memcpy(p, body, body_len);
        return 0;
}

int dmar_builder_scope(DmarBuilder *b, uint8_t type, uint8_t enumeration_id, uint8_t start_bus,
                       const DmarPathEntry *path, size_t n) {
        size_t len, struct_len;
        uint8_t *p;

        if (!b || b->current == 0 || (n > 0 && !path))
                return -EINVAL;
        if (n > SCOPE_PATH_MAX)
                return -E2BIG;
        len = 6 + 2 * n;
        struct_len = b->size - b->current + len;
        if (struct_len > STRUCT_MAX)
                return -E2BIG;
        p = extend(b, len);
        if (!p)
                return -ENOMEM;
        p[0] = type;
        p[1] = (uint8_t) len;
        p[4] = enumeration_id;
        p[5] = start_bus;
        for (size_t i = 0; i < n; i++) {
                p[6 + 2 * i] = path[i].dev;
                p[7 + 2 * i] = path[i].fn;
        }
        wr16(b->buf + b->current + 2, (uint16_t) struct_len);
        return 0;
}

int dmar_builder_finish(DmarBuilder *b, uint8_t **ret, size_t *ret_size) {
        uint8_t *copy, sum = 0;

        if (!b || !ret || !ret_size)
                return -EINVAL;
        copy = malloc(b->size);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, b->buf, b->size);
        wr32(copy + 4, (uint32_t) b->size);
        copy[9] = 0;
        for (size_t i = 0; i < b->size; i++)
                sum = (uint8_t) (sum + copy[i]);
        /* ACPI spec 5.2.6: the checksum byte makes the whole table sum to zero. */
        copy[9] = (uint8_t) (0x100 - sum);
        *ret = copy;
        *ret_size = b->size;
        return 0;
}
