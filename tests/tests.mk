# tests/: environment shared by every test program.
AM_TESTS_ENVIRONMENT = \
	export CK_FORK=yes; \
	export CK_VERBOSITY=$${CK_VERBOSITY:-normal}; \
	export ASAN_OPTIONS=$${ASAN_OPTIONS:-verify_asan_link_order=0}; \
	export TEST_DATA_DIR=$(abs_top_srcdir)/tests/data; \
	export TEST_BUS_CONF=$(abs_top_srcdir)/tests/test-system-bus.conf; \
	export VFIO_ASSIGND=$(abs_top_builddir)/vfio-assignd; \
	export ASSIGNCTL=$(abs_top_builddir)/assignctl; \
	export MKHOST=$(abs_top_builddir)/tests/mkhost; \
	export MKBIGHOST=$(abs_top_builddir)/bench/mkbighost; \
	export TOP_SRCDIR=$(abs_top_srcdir); \
	export TOP_BUILDDIR=$(abs_top_builddir); \
	unset DBUS_SYSTEM_BUS_ADDRESS;

# Unit tests of the model: each links the modules under test and libcommon.a only.
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests

check_PROGRAMS += tests/unit/test-common tests/unit/test-host
TESTS += tests/unit/test-common tests/unit/test-host
check_PROGRAMS += tests/unit/test-mempool
TESTS += tests/unit/test-mempool
tests_unit_test_mempool_SOURCES = tests/unit/test-mempool.c daemon/mempool.c daemon/sysfs.c daemon/worker.c
tests_unit_test_mempool_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mempool_LDADD = libcommon.a $(CHECK_LIBS)
check_PROGRAMS += tests/unit/test-variant
TESTS += tests/unit/test-variant
tests_unit_test_variant_SOURCES = tests/unit/test-variant.c daemon/vfio-variant.c daemon/sysfs.c daemon/worker.c
tests_unit_test_variant_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_variant_LDADD = libcommon.a $(CHECK_LIBS) -lpthread
check_PROGRAMS += tests/unit/test-vfnet
TESTS += tests/unit/test-vfnet
tests_unit_test_vfnet_SOURCES = tests/unit/test-vfnet.c daemon/vfnet.c daemon/sysfs.c daemon/worker.c
tests_unit_test_vfnet_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_vfnet_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_vfnet_LDADD = libfakesys.a libcommon.a $(CHECK_LIBS) -lpthread
check_PROGRAMS += tests/unit/test-region
TESTS += tests/unit/test-region
tests_unit_test_region_SOURCES = tests/unit/test-region.c daemon/region.c daemon/mempool.c daemon/sysfs.c daemon/worker.c
tests_unit_test_region_CFLAGS = $(UNIT_CFLAGS) -pthread $(LIBSYSTEMD_CFLAGS)
tests_unit_test_region_LDADD = libcommon.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS) -lpthread

tests_unit_test_common_SOURCES = tests/unit/test-common.c
tests_unit_test_common_CFLAGS = $(UNIT_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_common_LDADD = libcommon.a $(JSONC_LIBS) $(CHECK_LIBS)

# The CDI spec writer on leases and a model made by hand.
check_PROGRAMS += tests/unit/test-cdi
TESTS += tests/unit/test-cdi
tests_unit_test_cdi_SOURCES = tests/unit/test-cdi.c
tests_unit_test_cdi_CFLAGS = $(UNIT_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_cdi_LDADD = $(MODEL_LIBS) $(CHECK_LIBS) -lpthread

check_PROGRAMS += tests/unit/test-worker
TESTS += tests/unit/test-worker
tests_unit_test_worker_SOURCES = tests/unit/test-worker.c daemon/worker.c daemon/worker.h
tests_unit_test_worker_CFLAGS = $(UNIT_CFLAGS) -pthread
tests_unit_test_worker_LDADD = libcommon.a $(CHECK_LIBS) -lpthread

check_PROGRAMS += tests/unit/test-holders
TESTS += tests/unit/test-holders
tests_unit_test_holders_SOURCES = tests/unit/test-holders.c daemon/holders.c daemon/holders.h
tests_unit_test_holders_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_holders_LDADD = libcommon.a $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test-log
TESTS += tests/unit/test-log
tests_unit_test_log_SOURCES = tests/unit/test-log.c daemon/log.c daemon/log.h
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(CHECK_LIBS)

tests_unit_test_host_SOURCES = tests/unit/test-host.c daemon/host.c daemon/hostcrit.c daemon/sysfs.c daemon/worker.c \
	daemon/dmar.c
tests_unit_test_host_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_host_LDADD = libcommon.a $(CHECK_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-bdf
tests_fuzz_fuzz_bdf_SOURCES = tests/fuzz/fuzz-bdf.c
tests_fuzz_fuzz_bdf_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_bdf_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_bdf_LDADD = libcommon.a
endif

EXTRA_DIST += tests/install-deps.sh tests/run-demo.sh tests/run-tests.sh

check_PROGRAMS += tests/unit/test-model
TESTS += tests/unit/test-model
tests_unit_test_model_SOURCES = tests/unit/test-model.c \
	daemon/model.c daemon/topology.c daemon/vfio-variant.c daemon/parallel.c daemon/host.c daemon/hostcrit.c daemon/sysfs.c daemon/worker.c daemon/dmar.c \
	daemon/dmar-json.c daemon/report.c daemon/persistent.c daemon/pcinames.c \
	tests/fakesys.c tests/fakesys-host.c tests/fakesys.h tests/dmar-build.c tests/dmar-build.h
tests_unit_test_model_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_model_CFLAGS = $(UNIT_CFLAGS) $(JSONC_CFLAGS) $(LIBPCI_CFLAGS)
tests_unit_test_model_LDADD = libcommon.a $(CHECK_LIBS) $(JSONC_LIBS) $(LIBPCI_LIBS)

check_PROGRAMS += tests/unit/test-model-events
TESTS += tests/unit/test-model-events
tests_unit_test_model_events_SOURCES = tests/unit/test-model-events.c \
	daemon/model.c daemon/topology.c daemon/vfio-variant.c daemon/parallel.c daemon/host.c daemon/hostcrit.c daemon/sysfs.c daemon/worker.c daemon/dmar.c \
	daemon/dmar-json.c daemon/report.c daemon/persistent.c daemon/pcinames.c \
	tests/fakesys.c tests/fakesys-host.c tests/fakesys.h tests/dmar-build.c tests/dmar-build.h
tests_unit_test_model_events_CPPFLAGS = $(UNIT_CPPFLAGS)
tests_unit_test_model_events_CFLAGS = $(UNIT_CFLAGS) $(JSONC_CFLAGS) $(LIBPCI_CFLAGS)
tests_unit_test_model_events_LDADD = libcommon.a $(CHECK_LIBS) $(JSONC_LIBS) $(LIBPCI_LIBS)

check_PROGRAMS += tests/unit/test-scan
TESTS += tests/unit/test-scan
tests_unit_test_scan_SOURCES = tests/unit/test-scan.c \
	daemon/model.c daemon/topology.c daemon/vfio-variant.c daemon/parallel.c daemon/host.c daemon/hostcrit.c daemon/sysfs.c \
	daemon/worker.c daemon/dmar.c daemon/dmar-json.c daemon/report.c daemon/persistent.c daemon/pcinames.c
tests_unit_test_scan_CPPFLAGS = $(UNIT_CPPFLAGS) -DTEST_DATA_DIR_DEFAULT='"$(abs_top_srcdir)/tests/data"'
tests_unit_test_scan_CFLAGS = $(UNIT_CFLAGS) $(JSONC_CFLAGS) $(LIBPCI_CFLAGS)
tests_unit_test_scan_LDADD = libfakesys.a libcommon.a $(CHECK_LIBS) $(JSONC_LIBS) $(LIBPCI_LIBS)

# The checked-in introspection XML must match the vtables.
TESTS += tests/check-dbus-xml.sh
EXTRA_DIST += tests/check-dbus-xml.sh
EXTRA_DIST += \
	tests/data/qemu-q35-vtd/DMAR-qemu72-q35-intremap-off.bin \
	tests/data/qemu-q35-vtd/DMAR-qemu72-q35-intremap-on.bin \
	tests/data/qemu-q35-vtd/dmesg-excerpt.txt \
	tests/data/qemu-q35-vtd/iommu-groups.txt \
	tests/data/qemu-q35-vtd/sysfs-snapshot.tar.gz

check_PROGRAMS += tests/unit/test-access
TESTS += tests/unit/test-access
tests_unit_test_access_SOURCES = tests/unit/test-access.c
tests_unit_test_access_CFLAGS = $(UNIT_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_access_LDADD = libbus.a $(MODEL_LIBS) $(CHECK_LIBS) -lpthread

check_PROGRAMS += tests/unit/test-properties
TESTS += tests/unit/test-properties
tests_unit_test_properties_SOURCES = tests/unit/test-properties.c
tests_unit_test_properties_CFLAGS = $(UNIT_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_properties_LDADD = libbus.a $(MODEL_LIBS) $(CHECK_LIBS) -lpthread

# The VFIO backend seam without a kernel: registry, a type1 handle, state.json's "backend", the fd
# store's messages.
check_PROGRAMS += tests/unit/test-backend
TESTS += tests/unit/test-backend
tests_unit_test_backend_SOURCES = tests/unit/test-backend.c
tests_unit_test_backend_CFLAGS = $(UNIT_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_backend_LDADD = libbus.a $(MODEL_LIBS) $(CHECK_LIBS) -lpthread

# The unit's hardening, scored offline.
TESTS += tests/check-unit.sh
EXTRA_DIST += tests/check-unit.sh
TESTS += tests/check-early.sh
EXTRA_DIST += tests/check-early.sh
check_DATA = systemd/vfio-assignd.service

# The lease transaction, the lease set and the state files (tests/unit/test-lease.c) on the kernel
# model, with nothing of the bus glue, the manager or main. libvfio-mock.so is linked in rather
# than preloaded (found through the rpath): its open/write/ioctl come before libc's all the same,
# and the program needs no re-exec, so a valgrind run checks the tests themselves.
# What the lease-world programs (lease-world.h) are built from.
LEASE_WORLD_SRCS = tests/unit/lease-world.c tests/unit/lease-world.h \
	daemon/lease.c daemon/lease-vfnet.c daemon/vfnet.c daemon/holders.c daemon/lease-set.c daemon/persistent.c daemon/state.c daemon/lease-error.c daemon/vfio-backend.c daemon/vfio-type1.c daemon/vfio-iommufd.c \
	daemon/binding.c daemon/vfio.c daemon/sysfs.c \
	daemon/worker.c daemon/topology.c daemon/vfio-variant.c daemon/parallel.c daemon/pcinames.c daemon/host.c daemon/dmar.c
LEASE_WORLD_CPP = $(UNIT_CPPFLAGS) -DTEST_DATA_DIR_DEFAULT='"$(abs_top_srcdir)/tests/data"'
LEASE_WORLD_CC = $(UNIT_CFLAGS) $(JSONC_CFLAGS) $(LIBPCI_CFLAGS)
LEASE_WORLD_LINK = -Wl,-rpath,$(abs_top_builddir)/tests/mock
LEASE_WORLD_LIBS = tests/mock/libvfio-mock.so libfakesys.a libcommon.a $(CHECK_LIBS) $(JSONC_LIBS) \
	$(LIBPCI_LIBS) -ldl -lpthread
check_PROGRAMS += tests/unit/test-lease
TESTS += tests/unit/test-lease
tests_unit_test_lease_SOURCES = tests/unit/test-lease.c $(LEASE_WORLD_SRCS)
tests_unit_test_lease_CPPFLAGS = $(LEASE_WORLD_CPP)
tests_unit_test_lease_CFLAGS = $(LEASE_WORLD_CC)
tests_unit_test_lease_LDFLAGS = $(LEASE_WORLD_LINK)
tests_unit_test_lease_LDADD = $(LEASE_WORLD_LIBS)

# kill -9 at each state a claim records, for each backend, on the same world.
check_PROGRAMS += tests/unit/test-lease-crash
TESTS += tests/unit/test-lease-crash
tests_unit_test_lease_crash_SOURCES = tests/unit/test-lease-crash.c $(LEASE_WORLD_SRCS)
tests_unit_test_lease_crash_CPPFLAGS = $(LEASE_WORLD_CPP)
tests_unit_test_lease_crash_CFLAGS = $(LEASE_WORLD_CC)
tests_unit_test_lease_crash_LDFLAGS = $(LEASE_WORLD_LINK)
tests_unit_test_lease_crash_LDADD = $(LEASE_WORLD_LIBS)
