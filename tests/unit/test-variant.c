/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon/vfio-variant.c: the vfio_pci aliases of modules.alias (other aliases skipped), the
 * device's alias string, the best match (fewest wildcards, the first among equals), a file read
 * through the root's tree, and bad lines refused with their number. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"
#include "vfio-variant.h"

#define MLX5_VF "vfio_pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00"

static const char sample[] = "# Aliases extracted from modules.builtin.alias\n"
                             "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
                             "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n"
                             "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
                             "\n"
                             "alias vfio_pci:v000015B3d*sv*sd*bc02sc*i* generic_mlx_vfio\n"
                             "alias vfio_pci:v000015B3d0000101Esv000015B3sd*bc*sc*i* vendor_sku\n"
                             "alias vfio_pci:v000015B3d0000101Esv000015B3sd*bc*sc*i* second_sku\n"
                             "alias symbol:mlx5_core_create_mkey mlx5_core\r\n"
                             "alias vfio_pci:v000019E5d0000A256sv*sd*bc*sc*i* hisi_acc_vfio_pci";

START_TEST(test_parse_and_match) {
        _cleanup_(vfio_variants_freep) VfioVariants *v = NULL;
        _cleanup_free_ char *error = NULL;
        const VfioVariant *m;

        ck_assert_int_eq(vfio_variants_parse(sample, strlen(sample), &v, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_uint_eq(v->n, 5);
        ck_assert_str_eq(v->variants[0].module, "mlx5_vfio_pci");
        ck_assert_uint_eq(v->variants[0].wildcards, 5);
        ck_assert_str_eq(v->variants[4].pattern, "vfio_pci:v000019E5d0000A256sv*sd*bc*sc*i*");

        /* Three match; the one that names the subsystem vendor too wins, the first of two. */
        m = vfio_variants_match(v, MLX5_VF);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->module, "vendor_sku");
        ck_assert_uint_eq(m->wildcards, 4);
        /* Another device of the vendor's, network class: only the generic one. */
        m = vfio_variants_match(v, "vfio_pci:v000015B3d00001021sv00000000sd00000000bc02sc00i00");
        ck_assert_str_eq(m->module, "generic_mlx_vfio");
        /* A device no variant names: vfio-pci (its own catch-all alias is not kept). */
        ck_assert_ptr_null(vfio_variants_match(
                v, "vfio_pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"));
        ck_assert_ptr_null(vfio_variants_match(NULL, MLX5_VF));
}
END_TEST

/* The string a device is matched as: its modalias with vfio_pci: for pci:, every id upper-case
 * hex of the widths modalias_show() prints. */
START_TEST(test_device_alias) {
        Device d = { .vendor = 0x15b3,
                     .device = 0x101e,
                     .subsystem_vendor = 0x15b3,
                     .subsystem_device = 0x0001,
                     .class = 0x020000 };
        char alias[VFIO_VARIANT_ALIAS_MAX];

        vfio_variant_alias(&d, alias);
        ck_assert_str_eq(alias, MLX5_VF);
}
END_TEST

START_TEST(test_bad_lines) {
        static const struct {
                const char *text;
                const char *error;
        } cases[] = {
                { "alias vfio_pci:v*d*sv*sd*bc*sc*i* ok\noptions foo bar=1\n",
                  "line 2: not an alias line" },
                { "alias vfio_pci:v*\n", "line 1: an alias line is \"alias PATTERN MODULE\"" },
                { "alias vfio_pci:v* m extra\n",
                  "line 1: an alias line is \"alias PATTERN MODULE\"" },
                { "alias vfio_pci:v* bad/name\n", "line 1: \"bad/name\" is no module name" },
                { "alias vfio_pci:v* "
                  "a_module_name_that_is_far_longer_than_any_kernel_module_can_be\n",
                  "line 1: \"a_module_name_that_is_far_longer_than_any_kernel_module_can_be\" is "
                  "no module name" },
                { "aliasx vfio_pci:v* m\n", "line 1: not an alias line" },
                { "alias vfio_pci: m\n", "line 1: \"vfio_pci:\" is no vfio_pci alias pattern" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                VfioVariants *v = (VfioVariants *) 1;
                _cleanup_free_ char *error = NULL;

                ck_assert_int_eq(vfio_variants_parse(cases[i].text, strlen(cases[i].text), &v,
                                                     &error),
                                 -EBADMSG);
                ck_assert_ptr_eq(v, (VfioVariants *) 1);
                ck_assert_msg(error && streq(error, cases[i].error), "case %zu: %s", i,
                              strna(error));
        }
        {
                static const char nul[] = "alias vfio_pci:v* m\n\0alias";
                VfioVariants *v = NULL;
                _cleanup_free_ char *error = NULL;

                ck_assert_int_eq(vfio_variants_parse(nul, sizeof(nul) - 1, &v, &error), -EBADMSG);
                ck_assert_str_eq(error, "a NUL byte: not a text file");
        }
}
END_TEST

/* Read through the root: lib/modules/RELEASE/modules.alias; a kernel without modules has none;
 * or from a file named by its absolute path. */
START_TEST(test_load) {
        char tree[] = "/tmp/test-variant.XXXXXX";
        _cleanup_(sysroot_freep) SysRoot *root = NULL;
        _cleanup_(vfio_variants_freep) VfioVariants *v = NULL;
        _cleanup_free_ char *dir = NULL, *file = NULL, *cmd = NULL, *error = NULL, *error2 = NULL,
                            *error3 = NULL;
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(tree));
        ck_assert_int_ge(asprintf(&dir, "%s/lib/modules/6.1.0-57-amd64", tree), 0);
        ck_assert_int_ge(asprintf(&cmd, "mkdir -p '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_ge(asprintf(&file, "%s/modules.alias", dir), 0);
        f = fopen(file, "we");
        ck_assert_ptr_nonnull(f);
        fputs(sample, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(sysroot_open(tree, tree, &root), 0);

        ck_assert_int_eq(vfio_variants_load(root, "6.1.0-57-amd64", NULL, &v, &error), 0);
        ck_assert_uint_eq(v->n, 5);
        ck_assert_int_eq(vfio_variants_load(root, "6.12.0", NULL, &v, &error2), -ENOENT);
        ck_assert_str_eq(error2, "lib/modules/6.12.0/modules.alias: No such file or directory");
        ck_assert_int_eq(vfio_variants_load(root, "../..", NULL, &v, &error3), -EINVAL);
        /* A copy elsewhere, by absolute path (the unit's). */
        v = vfio_variants_free(v);
        ck_assert_int_eq(vfio_variants_load(root, NULL, file, &v, NULL), 0);
        ck_assert_uint_eq(v->n, 5);
        ck_assert_int_eq(vfio_variants_load(root, NULL, "modules.alias", &v, NULL), -EINVAL);

        free(cmd);
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", tree), 0);
        ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("variant");
        TCase *tc = tcase_create("modules-alias");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_parse_and_match);
        tcase_add_test(tc, test_device_alias);
        tcase_add_test(tc, test_bad_lines);
        tcase_add_test(tc, test_load);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
