# client/: assignctl, its docs, and the integration tests that drive it against the real daemon.
bin_PROGRAMS += assignctl
assignctl_SOURCES = \
	client/assignctl.c client/assignctl.h \
	client/output.c client/output.h \
	client/monitor.c
assignctl_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
assignctl_LDADD = libcommon.a $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)

dist_man_MANS += docs/assignctl.1 docs/org.vfioassign1.5
EXTRA_DIST += docs/report.md tests/test-system-bus.conf

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
