# tests/mock/mock.mk: the kernel model for fast tests of the claim/release path (design.md §8).
# libvfio-mock.so is an LD_PRELOAD library; it is a "program" linked with -shared because the
# build has no libtool. Its own copies of fakesys and libcommon are compiled -fPIC and hidden
# (-fvisibility=hidden), so they cannot clash with the same code in the process it is loaded
# into; only the interposed libc functions are exported.
check_PROGRAMS += tests/mock/libvfio-mock.so
tests_mock_libvfio_mock_so_SOURCES = \
	tests/mock/mock.h tests/mock/mock-observe.h \
	tests/mock/vfio-mock.c \
	tests/mock/mock-model.c \
	tests/mock/mock-vfio.c \
	tests/mock/mock-iommufd.c \
	tests/mock/mock-config.c \
	tests/mock/mock-memory.c \
	tests/mock/mock-netlink.c \
	tests/fakesys.c tests/fakesys.h \
	common/util.c common/util.h \
	common/bdf.c common/bdf.h
tests_mock_libvfio_mock_so_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_mock_libvfio_mock_so_CFLAGS = $(AM_CFLAGS) -fPIC -fvisibility=hidden
tests_mock_libvfio_mock_so_LDFLAGS = -shared -Wl,-soname,libvfio-mock.so -Wl,--wrap=realpath
tests_mock_libvfio_mock_so_LDADD = -ldl -lpthread

# The test re-execs itself with the library in LD_PRELOAD.
check_PROGRAMS += tests/mock/test-mock
TESTS += tests/mock/test-mock
tests_mock_test_mock_SOURCES = tests/mock/test-mock.c tests/mock/test-mock-lib.c tests/mock/test-mock-lib.h \
	daemon/sysfs.c daemon/worker.c daemon/binding.c daemon/vfio.c daemon/vfnet.c
tests_mock_test_mock_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_mock_test_mock_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_mock_test_mock_LDADD = libfakesys.a libcommon.a $(CHECK_LIBS) -lpthread
EXTRA_tests_mock_test_mock_DEPENDENCIES = tests/mock/libvfio-mock.so

# /dev/iommu and the VFIO device cdevs, on the same harness.
check_PROGRAMS += tests/mock/test-mock-iommufd
TESTS += tests/mock/test-mock-iommufd
tests_mock_test_mock_iommufd_SOURCES = tests/mock/test-mock-iommufd.c \
	tests/mock/test-mock-lib.c tests/mock/test-mock-lib.h
tests_mock_test_mock_iommufd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_mock_test_mock_iommufd_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_mock_test_mock_iommufd_LDADD = libfakesys.a libcommon.a $(CHECK_LIBS)
EXTRA_tests_mock_test_mock_iommufd_DEPENDENCIES = tests/mock/libvfio-mock.so

AM_TESTS_ENVIRONMENT += export VFIO_MOCK_LIB=$(abs_top_builddir)/tests/mock/libvfio-mock.so;
EXTRA_DIST += tests/mock/README.md
