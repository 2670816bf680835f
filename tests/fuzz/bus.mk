# tests/fuzz/bus.mk: fuzz-bus (issue 8, item 14), random and malformed calls to every member of the
# D-Bus API, from root and from nobody, against the real daemon on the kernel model (the world of
# tests/integration/claim-world.c). Built by `make check`, run by tests/run-tests.sh (briefly, in
# the ASan build) and by hand: `make check-fuzz-bus FUZZ_BUS_FLAGS="--calls 100000 --seed N"`.
check_PROGRAMS += tests/fuzz/fuzz-bus
tests_fuzz_fuzz_bus_SOURCES = \
	tests/fuzz/fuzz-bus.c tests/fuzz/bus-calls.c tests/fuzz/bus-calls.h \
	tests/integration/claim-world.c tests/integration/claim-world.h \
	tests/integration/harness.c tests/integration/harness.h
# Where the program finds the daemon, the mock and the data when run without make.
tests_fuzz_fuzz_bus_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/integration \
	-DABS_TOP_SRCDIR='"$(abs_top_srcdir)"' -DABS_TOP_BUILDDIR='"$(abs_top_builddir)"'
tests_fuzz_fuzz_bus_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_fuzz_bus_LDADD = libcommon.a $(CHECK_LIBS) $(LIBSYSTEMD_LIBS) $(JSONC_LIBS) -lm
EXTRA_tests_fuzz_fuzz_bus_DEPENDENCIES = \
	tests/mock/libvfio-mock.so tests/mkhost$(EXEEXT) vfio-assignd$(EXEEXT)

FUZZ_BUS_FLAGS ?=
check-fuzz-bus: tests/fuzz/fuzz-bus$(EXEEXT)
	$(AM_TESTS_ENVIRONMENT) tests/fuzz/fuzz-bus $(FUZZ_BUS_FLAGS)
.PHONY: check-fuzz-bus
