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
	export TOP_SRCDIR=$(abs_top_srcdir); \
	unset DBUS_SYSTEM_BUS_ADDRESS;
