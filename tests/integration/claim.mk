# tests/integration/claim.mk: the fast level of group-atomic claim and release (issue 5): the real
# vfio-assignd under the kernel model (tests/mock, LD_PRELOAD) on sample hosts, on a private bus
# with python-dbusmock's polkitd, driven through sd-bus, busctl and shell commands under the same
# preload. Needs the variables of tests/tests.mk and VFIO_MOCK_LIB (tests/mock/mock.mk); skips
# (77) without dbus-daemon, busctl, python-dbusmock or the preload library.
check_PROGRAMS += tests/integration/test-claim
TESTS += tests/integration/test-claim
tests_integration_test_claim_SOURCES = \
	tests/integration/test-claim.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_claim_CFLAGS = \
	$(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_integration_test_claim_LDADD = \
	libcommon.a $(CHECK_LIBS) $(LIBSYSTEMD_LIBS) $(JSONC_LIBS)
# What a test run starts besides the daemon and assignctl (which `all` builds).
EXTRA_tests_integration_test_claim_DEPENDENCIES = tests/mock/libvfio-mock.so tests/mkhost$(EXEEXT)

# The daemon as a whole on the same world: agreement of report, bus, assignctl and claim on every
# sample host; lifecycle and guards.
check_PROGRAMS += tests/integration/test-daemon
TESTS += tests/integration/test-daemon
tests_integration_test_daemon_SOURCES = \
	tests/integration/test-daemon.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_daemon_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_daemon_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_daemon_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# assignctl's own tests (issue 8): what it prints and how it follows the daemon, against the real
# daemon under the kernel model and a fake one from python-dbusmock that says what the real one
# never would.
check_PROGRAMS += tests/integration/test-client
TESTS += tests/integration/test-client
tests_integration_test_client_SOURCES = \
	tests/integration/test-client.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_client_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_client_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_client_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# The attacks of issue 9 (security), each as a local user would make it.
check_PROGRAMS += tests/integration/test-security
TESTS += tests/integration/test-security
tests_integration_test_security_SOURCES = \
	tests/integration/test-security.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_security_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_security_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_security_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# The VFIO backend seam through the daemon: Backends, a lease's Backend and fds, state.json's
# backend at start.
check_PROGRAMS += tests/integration/test-backend
TESTS += tests/integration/test-backend
tests_integration_test_backend_SOURCES = \
	tests/integration/test-backend.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_backend_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_backend_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_backend_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# Guest-RAM regions through the daemon (Lease.AllocateMemory, Region) on the kernel model.
check_PROGRAMS += tests/integration/test-memory
TESTS += tests/integration/test-memory
tests_integration_test_memory_SOURCES = \
	tests/integration/test-memory.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_memory_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_memory_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_memory_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# VFIO variant drivers through the daemon, on the kernel model.
check_PROGRAMS += tests/integration/test-variant
TESTS += tests/integration/test-variant
tests_integration_test_variant_SOURCES = \
	tests/integration/test-variant.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_variant_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_variant_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_variant_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# SetNumVfs through the daemon, on the kernel model.
check_PROGRAMS += tests/integration/test-sriov
TESTS += tests/integration/test-sriov
tests_integration_test_sriov_SOURCES = \
	tests/integration/test-sriov.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_sriov_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_sriov_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_sriov_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)
# Persistent prepares and the identity of the card they prepared, on the kernel model.
check_PROGRAMS += tests/integration/test-persistent
TESTS += tests/integration/test-persistent
tests_integration_test_persistent_SOURCES = \
	tests/integration/test-persistent.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_persistent_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_persistent_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_persistent_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)
# The card at an address a policy rule names (identities.json), on the kernel model.
check_PROGRAMS += tests/integration/test-identity
TESTS += tests/integration/test-identity
tests_integration_test_identity_SOURCES = \
	tests/integration/test-identity.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_identity_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_identity_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_identity_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)

# The daemon's record of its callers (daemon/bus-peers.c) on a private dbus-daemon.
check_PROGRAMS += tests/integration/test-peers
TESTS += tests/integration/test-peers
tests_integration_test_peers_SOURCES = \
	tests/integration/test-peers.c \
	daemon/bus-peers.c daemon/bus-peers.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_peers_CFLAGS = $(tests_integration_test_claim_CFLAGS) -DPEERS_UNWATCHED_MAX=4
tests_integration_test_peers_LDADD = $(tests_integration_test_claim_LDADD)
# Leases by owner key (issue 15): not tied to a connection, idempotent, FindLease, ReleaseByOwner.
check_PROGRAMS += tests/integration/test-owner
TESTS += tests/integration/test-owner
tests_integration_test_owner_SOURCES = \
	tests/integration/test-owner.c \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_owner_CFLAGS = $(tests_integration_test_claim_CFLAGS)
tests_integration_test_owner_LDADD = $(tests_integration_test_claim_LDADD)
EXTRA_tests_integration_test_owner_DEPENDENCIES = $(EXTRA_tests_integration_test_claim_DEPENDENCIES)
