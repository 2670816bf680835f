# tests/fakesys.mk: the fake-root builder (libfakesys.a: fakesys, hostspec, dmar-build),
# tests/mkhost, the sample hosts in tests/data/hosts/ and their unit test.
noinst_LIBRARIES += libfakesys.a
libfakesys_a_SOURCES = \
	tests/fakesys.c tests/fakesys.h tests/fakesys-host.c \
	tests/hostspec.c tests/hostspec.h \
	tests/dmar-build.c tests/dmar-build.h
libfakesys_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests

check_PROGRAMS += tests/mkhost
tests_mkhost_SOURCES = tests/mkhost.c
tests_mkhost_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_mkhost_LDADD = libfakesys.a libcommon.a

check_PROGRAMS += tests/unit/test-fakesys
TESTS += tests/unit/test-fakesys
tests_unit_test_fakesys_SOURCES = tests/unit/test-fakesys.c
tests_unit_test_fakesys_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-DTEST_DATA_DIR_DEFAULT='"$(abs_top_srcdir)/tests/data"'
tests_unit_test_fakesys_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_fakesys_LDADD = libfakesys.a libcommon.a $(CHECK_LIBS)

HOST_SPECS = \
	tests/data/hosts/README.md \
	tests/data/hosts/qemu-q35-vtd.host \
	tests/data/hosts/qemu-q35-vtd-intremap-off.host \
	tests/data/hosts/workstation.host \
	tests/data/hosts/server.host \
	tests/data/hosts/no-ir.host \
	tests/data/hosts/amd.host \
	tests/data/hosts/no-iommu.host
EXTRA_DIST += $(HOST_SPECS) tests/data/qemu-q35-vtd/sysfs-snapshot.tar.gz
