# daemon/: the model (no sd-bus) in libmodel.a, the bus glue and main in vfio-assignd.
noinst_LIBRARIES += libmodel.a
libmodel_a_SOURCES = \
	daemon/sysfs.c daemon/sysfs.h \
	daemon/worker.c daemon/worker.h \
	daemon/job.c daemon/job.h \
	daemon/parallel.c daemon/parallel.h \
	daemon/pcinames.c daemon/pcinames.h \
	daemon/topology.c daemon/topology.h \
	daemon/host.c daemon/host.h \
	daemon/hostcrit.c daemon/hostcrit.h \
	daemon/model.c daemon/model.h \
	daemon/report.c daemon/report.h \
	daemon/report-offline.c \
	daemon/udev.c daemon/udev.h \
	daemon/binding.c daemon/binding.h \
	daemon/vfio.c daemon/vfio.h \
	daemon/vfio-backend.c daemon/vfio-backend.h \
	daemon/vfio-type1.c \
	daemon/vfio-iommufd.c \
	daemon/lease-error.c daemon/lease-error.h \
	daemon/holders.c daemon/holders.h \
	daemon/lease.c daemon/lease.h \
	daemon/lease-vfnet.c daemon/lease-vfnet.h \
	daemon/state.c daemon/state.h \
	daemon/cdi.c daemon/cdi.h \
	daemon/persistent.c daemon/persistent.h \
	daemon/lease-set.c daemon/lease-set.h \
	daemon/mempool.c daemon/mempool.h \
	daemon/region.c daemon/region.h \
	daemon/vfio-variant.c daemon/vfio-variant.h \
	daemon/sriov.c daemon/sriov.h \
	daemon/vfnet.c daemon/vfnet.h daemon/vfnet-internal.h daemon/nlmsg.h
libmodel_a_CFLAGS = $(AM_CFLAGS) -pthread $(LIBSYSTEMD_CFLAGS) $(LIBUDEV_CFLAGS) $(LIBPCI_CFLAGS) $(JSONC_CFLAGS)

MODEL_LIBS = libmodel.a libcommon.a $(LIBSYSTEMD_LIBS) $(LIBUDEV_LIBS) $(LIBPCI_LIBS) $(JSONC_LIBS)

# The bus glue, in a library so that tests can inspect the vtables.
noinst_LIBRARIES += libbus.a
libbus_a_SOURCES = \
	daemon/daemon.h daemon/manager.h \
	daemon/manager.c \
	daemon/manager-identity.c \
	daemon/manager-cdi.c \
	daemon/manager-owner.c \
	daemon/manager-uevent.c \
	daemon/manager-memory.c \
	daemon/manager-variant.c \
	daemon/manager-sriov.c \
	daemon/sriov-bus.c \
	daemon/bus-options.c \
	daemon/errors.c \
	daemon/manager-bus.c \
	daemon/group-bus.c \
	daemon/device-bus.c \
	daemon/lease-bus.c \
	daemon/region-bus.c \
	daemon/access-bus.c \
	daemon/introspect.c daemon/introspect.h \
	daemon/fdstore.c daemon/fdstore.h \
	daemon/polkit.c daemon/polkit.h \
	daemon/bus-peers.c daemon/bus-peers.h \
	daemon/log.c daemon/log.h
libbus_a_CFLAGS = $(AM_CFLAGS) -pthread $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)

# libFuzzer target for state.json, persistent.json and sriov.json (configure --enable-fuzzing); state.c is
# compiled into it for coverage, the rest of the model comes from libmodel.a.
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-state
tests_fuzz_fuzz_state_SOURCES = tests/fuzz/fuzz-state.c daemon/state.c daemon/state.h \
	daemon/sriov.c daemon/sriov.h
tests_fuzz_fuzz_state_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_state_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_state_LDADD = $(MODEL_LIBS)
endif
EXTRA_DIST += tests/fuzz/corpus/state

# libFuzzer target for the vfio_pci aliases of modules.alias (VFIO variant drivers).
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-variant
tests_fuzz_fuzz_variant_SOURCES = tests/fuzz/fuzz-variant.c daemon/vfio-variant.c
tests_fuzz_fuzz_variant_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_variant_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_variant_LDADD = libmodel.a libcommon.a $(LIBSYSTEMD_LIBS) -lpthread
endif
EXTRA_DIST += tests/fuzz/corpus/variant

# The early-prepare udev rule's helper (daemon/early.c) and the rule.
libexec_PROGRAMS = vfio-assignd-early
vfio_assignd_early_SOURCES = daemon/early.c
vfio_assignd_early_LDADD = libcommon.a
udevrules_DATA = systemd/udev/70-vfio-assignd.rules
EXTRA_DIST += systemd/udev/70-vfio-assignd.rules.in
CLEANFILES += systemd/udev/70-vfio-assignd.rules
systemd/udev/70-vfio-assignd.rules: systemd/udev/70-vfio-assignd.rules.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd/udev && $(subst_paths) < $(srcdir)/systemd/udev/70-vfio-assignd.rules.in > $@

# libFuzzer target for the rtnetlink replies of a VF's network settings.
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-vfnet
tests_fuzz_fuzz_vfnet_SOURCES = tests/fuzz/fuzz-vfnet.c daemon/vfnet.c
tests_fuzz_fuzz_vfnet_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_vfnet_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_vfnet_LDADD = libmodel.a libcommon.a $(LIBSYSTEMD_LIBS) -lpthread
endif
EXTRA_DIST += tests/fuzz/corpus/vfnet

sbin_PROGRAMS += vfio-assignd
vfio_assignd_SOURCES = daemon/main.c
vfio_assignd_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(JSONC_CFLAGS)
vfio_assignd_LDADD = libbus.a $(MODEL_LIBS) -lpthread

# Files installed with the daemon: bus policy, activation, unit, module list, and the system user
# the unit runs it as (systemd-sysusers creates it; a package's postinst runs it).
dbussystemconf_DATA = dbus/org.vfioassign1.conf
dbussystemservice_DATA = dbus/org.vfioassign1.service
systemdsystemunit_DATA = systemd/vfio-assignd.service
modulesloaddir = $(prefix)/lib/modules-load.d
dist_modulesload_DATA = systemd/modules-load.d/vfio-assignd.conf
dist_tmpfiles_DATA = systemd/tmpfiles.d/vfio-assignd.conf
sysusersdir = $(prefix)/lib/sysusers.d
dist_sysusers_DATA = systemd/sysusers.d/vfio-assignd.conf
EXTRA_DIST += dbus/org.vfioassign1.conf dbus/org.vfioassign1.service.in systemd/vfio-assignd.service.in \
	dbus/org.vfioassign1.xml
CLEANFILES += dbus/org.vfioassign1.service systemd/vfio-assignd.service

subst_paths = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@libexecdir[@]|$(libexecdir)|g'
dbus/org.vfioassign1.service: dbus/org.vfioassign1.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) dbus && $(subst_paths) < $(srcdir)/dbus/org.vfioassign1.service.in > $@
systemd/vfio-assignd.service: systemd/vfio-assignd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(subst_paths) < $(srcdir)/systemd/vfio-assignd.service.in > $@

# dbus/org.vfioassign1.xml is checked in; this regenerates it (the tests fail when it drifts).
update-dbus-xml: vfio-assignd
	$(AM_V_GEN)./vfio-assignd --bus-introspect > $(srcdir)/dbus/org.vfioassign1.xml
.PHONY: update-dbus-xml
dist_man_MANS += docs/vfio-assignd.8

polkitaction_DATA = policy/org.vfioassign1.policy
EXTRA_DIST += policy/org.vfioassign1.policy
