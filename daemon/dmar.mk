# daemon/dmar.mk: the ACPI DMAR parser (pure, in libmodel.a), its unit test and fuzz target.
libmodel_a_SOURCES += daemon/dmar.c daemon/dmar.h daemon/dmar-json.c

DMAR_TEST_FILES = \
	tests/data/dmar/qemu72-q35-intremap-on.bin \
	tests/data/dmar/qemu72-q35-intremap-off.bin \
	tests/data/dmar/synthetic-all-types.bin \
	tests/data/dmar/synthetic-rmrr-multilevel.bin \
	tests/data/dmar/synthetic-two-segments.bin \
	tests/data/dmar/synthetic-unknown-types.bin \
	tests/data/dmar/README.md
EXTRA_DIST += $(DMAR_TEST_FILES)

check_PROGRAMS += tests/unit/test-dmar
TESTS += tests/unit/test-dmar
tests_unit_test_dmar_SOURCES = \
	tests/unit/test-dmar.c \
	daemon/dmar.c daemon/dmar.h daemon/dmar-json.c \
	tests/dmar-build.c tests/dmar-build.h
tests_unit_test_dmar_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-DTEST_DATA_DIR_DEFAULT='"$(abs_top_srcdir)/tests/data"'
tests_unit_test_dmar_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_dmar_LDADD = libcommon.a $(CHECK_LIBS) $(JSONC_LIBS)

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-dmar
tests_fuzz_fuzz_dmar_SOURCES = \
	tests/fuzz/fuzz-dmar.c \
	daemon/dmar.c daemon/dmar.h daemon/dmar-json.c
tests_fuzz_fuzz_dmar_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_dmar_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_dmar_LDADD = libcommon.a $(JSONC_LIBS)
endif
