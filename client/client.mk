# client/: assignctl, its docs, and the integration tests that drive it against the real daemon.
bin_PROGRAMS += assignctl
assignctl_SOURCES = \
	client/assignctl.c client/assignctl.h \
	client/output.c client/output.h \
	client/monitor.c \
	client/policy-cmd.c \
	client/lease-cmd.c \
	client/sriov-cmd.c \
	client/modules-cmd.c \
	client/memory.c client/memory.h
assignctl_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
# `policy check` and `policy explain` run the daemon's own reader, parser and evaluator
# (libpolicy.a). The offline `policy explain --sysfs-root` also reads the host as the daemon does:
# from libmodel.a the linker takes model.c and what model_load() reaches (sysfs, topology, host,
# hostcrit, dmar, pcinames: hence libpci), not the claim machinery nor udev.
assignctl_LDADD = libmodel.a $(POLICY_LIBS) $(LIBPCI_LIBS) $(LIBSYSTEMD_LIBS)

dist_man_MANS += docs/assignctl.1 docs/org.vfioassign1.5
dist_bashcompletion_DATA = shell-completion/bash/assignctl
TESTS += tests/check-completion.sh
EXTRA_DIST += tests/check-completion.sh
EXTRA_DIST += docs/report.md docs/kubernetes.md tests/test-system-bus.conf

# Integration: private dbus-daemon + vfio-assignd on a sample host + assignctl and busctl.
# Needs VFIO_ASSIGND, ASSIGNCTL, MKHOST, TEST_DATA_DIR, TEST_BUS_CONF, TOP_SRCDIR (tests/tests.mk).
check_PROGRAMS += tests/integration/test-integration
TESTS += tests/integration/test-integration
tests_integration_test_integration_SOURCES = \
	tests/integration/test-integration.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_integration_CFLAGS = \
	$(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_integration_test_integration_LDADD = \
	libcommon.a $(CHECK_LIBS) $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)

# Policy verbs against the same setup: policy check on the corpora and the shipped files,
# policy explain offline and online, reload atomicity (SIGHUP and ReloadPolicy under the polkit
# mock), and the exit codes of refused claims.
check_PROGRAMS += tests/integration/test-policy
TESTS += tests/integration/test-policy
tests_integration_test_policy_SOURCES = \
	tests/integration/test-policy.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_policy_CFLAGS = \
	$(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_integration_test_policy_LDADD = \
	libcommon.a $(CHECK_LIBS) $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)
