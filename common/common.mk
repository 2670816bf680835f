# common/: code both the daemon and the client use.
noinst_LIBRARIES += libcommon.a
libcommon_a_SOURCES = \
	common/macro.h \
	common/iommufd-uapi.h \
	common/names.h \
	common/util.c common/util.h \
	common/errors.c common/errors.h \
	common/escape.c common/escape.h \
	common/bdf.c common/bdf.h \
	common/userdb.c common/userdb.h \
	common/json-util.c common/json-util.h \
	common/json-writer.c common/json-writer.h
libcommon_a_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
