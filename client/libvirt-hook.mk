# client/libvirt-hook.mk: the libvirt hook (client/libvirt-hook.c, docs/vfio-assignd.8 LIBVIRT),
# its domain XML reader (client/libvirt-domain.c, libxml2), their tests and the script installed
# in libvirt's hook directory. configure builds it unless --disable-libvirt-hook.
EXTRA_DIST += client/libvirt/vfio-assignd.in tests/data/libvirt tests/fuzz/corpus/libvirt
if ENABLE_LIBVIRT_HOOK
vfioassignlibexecdir = $(libexecdir)/vfio-assignd
vfioassignlibexec_PROGRAMS = libvirt-hook
libvirt_hook_SOURCES = client/libvirt-hook.c client/libvirt-domain.c client/libvirt-domain.h
libvirt_hook_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(LIBXML2_CFLAGS)
libvirt_hook_LDADD = libcommon.a $(LIBXML2_LIBS) $(LIBSYSTEMD_LIBS)

# Installed as FILE in libvirt's qemu hook directory (--with-libvirthooksdir); a script, so that
# the path of the program is the only thing it holds and an administrator can read it.
libvirthooks_SCRIPTS = client/libvirt/vfio-assignd
CLEANFILES += client/libvirt/vfio-assignd
client/libvirt/vfio-assignd: client/libvirt/vfio-assignd.in Makefile
	$(AM_V_GEN)$(MKDIR_P) client/libvirt && $(subst_paths) < $(srcdir)/client/libvirt/vfio-assignd.in > $@ && \
		chmod +x $@

# The reader alone on the sample domains of tests/data/libvirt/.
check_PROGRAMS += tests/unit/test-libvirt-domain
TESTS += tests/unit/test-libvirt-domain
tests_unit_test_libvirt_domain_SOURCES = tests/unit/test-libvirt-domain.c client/libvirt-domain.c
tests_unit_test_libvirt_domain_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/client
tests_unit_test_libvirt_domain_CFLAGS = $(UNIT_CFLAGS) $(LIBXML2_CFLAGS)
tests_unit_test_libvirt_domain_LDADD = libcommon.a $(LIBXML2_LIBS) $(CHECK_LIBS)

# The hook against the real daemon on the kernel model (tests/integration/claim.mk's world).
check_PROGRAMS += tests/integration/test-libvirt-hook
TESTS += tests/integration/test-libvirt-hook
tests_integration_test_libvirt_hook_SOURCES = \
	tests/integration/test-libvirt-hook.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_libvirt_hook_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_libvirt_hook_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_libvirt_hook_DEPENDENCIES = \
	$(EXTRA_tests_integration_test_claim_DEPENDENCIES) libvirt-hook$(EXEEXT)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-libvirt
tests_fuzz_fuzz_libvirt_SOURCES = tests/fuzz/fuzz-libvirt.c client/libvirt-domain.c
tests_fuzz_fuzz_libvirt_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/client
tests_fuzz_fuzz_libvirt_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_libvirt_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_libvirt_LDADD = libcommon.a $(LIBXML2_LIBS)
endif
endif
