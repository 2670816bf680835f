# daemon/policy.mk: the assignment policy in libpolicy.a (pure: it needs libcommon.a and json-c,
# not the model), its unit test and fuzz target, the shipped vendor default, the examples and
# vfio-assignd.policy(5).
noinst_LIBRARIES += libpolicy.a
libpolicy_a_SOURCES = \
	daemon/policy.c daemon/policy.h daemon/policy-internal.h \
	daemon/policy-parse.c \
	daemon/policy-load.c \
	daemon/explain.c daemon/explain.h
libpolicy_a_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
POLICY_LIBS = libpolicy.a libcommon.a $(JSONC_LIBS)
# The daemon's main and bus glue (libbus.a) judge claims with it.
MODEL_LIBS += $(POLICY_LIBS)

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
tests_unit_test_policy_SOURCES = tests/unit/test-policy.c \
	tests/unit/policy-world.c tests/unit/policy-world.h
tests_unit_test_policy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-DPOLICY_TEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_policy_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_policy_LDADD = $(POLICY_LIBS) $(CHECK_LIBS)

# A rule's backend pin: parsed, reported in verdicts and explanations.
check_PROGRAMS += tests/unit/test-policy-backend
TESTS += tests/unit/test-policy-backend
tests_unit_test_policy_backend_SOURCES = tests/unit/test-policy-backend.c \
	tests/unit/policy-world.c tests/unit/policy-world.h
tests_unit_test_policy_backend_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_policy_backend_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_policy_backend_LDADD = $(POLICY_LIBS) $(CHECK_LIBS)
check_PROGRAMS += tests/unit/test-policy-driver
TESTS += tests/unit/test-policy-driver
tests_unit_test_policy_driver_SOURCES = tests/unit/test-policy-driver.c \
	tests/unit/policy-world.c tests/unit/policy-world.h
tests_unit_test_policy_driver_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_unit_test_policy_driver_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_policy_driver_LDADD = $(POLICY_LIBS) $(CHECK_LIBS)

# The same library with libFuzzer's coverage and the sanitizers, which the programs above must
# not have: without the coverage the fuzzer would not see which inputs reach new code.
if ENABLE_FUZZING
noinst_LIBRARIES += libpolicy-fuzz.a
libpolicy_fuzz_a_SOURCES = $(libpolicy_a_SOURCES)
libpolicy_fuzz_a_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined
noinst_PROGRAMS += tests/fuzz/fuzz-policy
tests_fuzz_fuzz_policy_SOURCES = tests/fuzz/fuzz-policy.c
tests_fuzz_fuzz_policy_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_policy_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_policy_LDADD = libpolicy-fuzz.a libcommon.a $(JSONC_LIBS)
endif
