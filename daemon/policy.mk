# daemon/policy.mk: the assignment policy (pure, in libmodel.a), its unit test and fuzz target,
# the shipped vendor default, the examples and vfio-assignd.policy(5).
libmodel_a_SOURCES += daemon/policy.c daemon/policy-parse.c daemon/policy.h daemon/policy-internal.h

# The vendor default is installed as 00-default.json so that it sorts first: any administrator's
# file overrides its host keys, and it has no rules to shadow theirs (root is allowed by the
# built-in default when no rule matches).
vendorpolicydir = $(datadir)/vfio-assignd/policy.d
EXTRA_DIST += policy/default.json
install-data-local: install-vendor-policy
install-vendor-policy:
	$(MKDIR_P) $(DESTDIR)$(vendorpolicydir)
	$(INSTALL_DATA) $(srcdir)/policy/default.json $(DESTDIR)$(vendorpolicydir)/00-default.json
uninstall-local: uninstall-vendor-policy
uninstall-vendor-policy:
	rm -f $(DESTDIR)$(vendorpolicydir)/00-default.json
.PHONY: install-vendor-policy uninstall-vendor-policy
dist_man_MANS += docs/vfio-assignd.policy.5

# Directories are copied whole into the tarball: the corpora grow without editing this list.
EXTRA_DIST += policy/examples tests/policy/good tests/policy/bad tests/fuzz/corpus/policy

check_PROGRAMS += tests/unit/test-policy
TESTS += tests/unit/test-policy
tests_unit_test_policy_SOURCES = \
	tests/unit/test-policy.c \
	daemon/policy.c daemon/policy-parse.c daemon/policy.h daemon/policy-internal.h
tests_unit_test_policy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-DPOLICY_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_policy_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_policy_LDADD = libcommon.a $(CHECK_LIBS) $(JSONC_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-policy
tests_fuzz_fuzz_policy_SOURCES = \
	tests/fuzz/fuzz-policy.c \
	daemon/policy.c daemon/policy-parse.c daemon/policy.h daemon/policy-internal.h
tests_fuzz_fuzz_policy_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_policy_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_policy_LDADD = libcommon.a $(JSONC_LIBS)
endif
