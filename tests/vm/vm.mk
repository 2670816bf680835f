# tests/vm/vm.mk: the real-kernel level (QEMU + emulated VT-d). Not part of `make check`:
# it needs root, downloads a kernel and a guest root into its cache (VFIO_VM_CACHE) once, and takes
# minutes. See tests/vm/README.md.
VM_DIST_FILES = \
	tests/vm/README.md \
	tests/vm/run.sh \
	tests/vm/build-kernel.sh \
	tests/vm/custom-kernel.config \
	tests/vm/initramfs-init \
	tests/vm/guest/run-scenarios \
	tests/vm/guest/lib.sh \
	tests/vm/guest/vfio-vm-scenarios.service \
	tests/vm/guest/journald.conf \
	tests/vm/guest/autologin.conf \
	tests/vm/scenarios/00-guest-boots.sh \
	tests/vm/scenarios/10-list-matches-sysfs.sh \
	tests/vm/scenarios/20-host-report.sh \
	tests/vm/scenarios/22-variant-aliases.sh \
	tests/vm/scenarios/24-sriov-nvme.sh \
	tests/vm/scenarios/26-vfnet-netdevsim.sh \
	tests/vm/scenarios/30-hotplug.sh \
	tests/vm/scenarios/40-driver-rebind.sh \
	tests/vm/scenarios/50-service-lifecycle.sh \
	tests/vm/scenarios/51-package.sh \
	tests/vm/scenarios/60-claim-single.sh \
	tests/vm/scenarios/61-claim-group.sh \
	tests/vm/scenarios/62-holder-killed.sh \
	tests/vm/scenarios/63-polkit-user.sh \
	tests/vm/scenarios/64-daemon-restart.sh \
	tests/vm/scenarios/65-driver-revert.sh \
	tests/vm/scenarios/66-qemu-grant.sh \
	tests/vm/scenarios/67-unsafe-param-live.sh \
	tests/vm/scenarios/68-exec-holder-killed.sh \
	tests/vm/scenarios/69-early-prepare.sh \
	tests/vm/scenarios/70-ir-kernel-refuses.sh \
	tests/vm/scenarios/71-ir-unsafe-policy.sh \
	tests/vm/scenarios/75-backend-unavailable.sh \
	tests/vm/scenarios/80-iommufd-claim.sh \
	tests/vm/scenarios/81-iommufd-qemu.sh \
	tests/vm/scenarios/82-memory-qemu.sh \
	tests/vm/scenarios/83-memory-adopt.sh \
	tests/vm/scenarios/84-memory-map-refused.sh \
	tests/vm/scenarios/85-libvirt-hook.sh \
	tests/vm/scenarios/86-cdi-podman.sh \
	tests/vm/scenarios/90-bench-group-move.sh \
	tests/vm/test-vmm.c \
	tests/vm/vfnet-check.c \
	bench/bench-vm.sh
EXTRA_DIST += $(VM_DIST_FILES)

# The harness builds the Debian package of the tree for the guest (tests/build-deb.sh, from a
# clean copy under $(builddir)/tests/vm/deb), so it does not depend on this build's prefix.
check-vm:
	$(AM_V_at)bash $(abs_top_srcdir)/tests/vm/run.sh \
		--srcdir=$(abs_top_srcdir) --builddir=$(abs_top_builddir)

# Interactive debugging: a root shell in the guest on this terminal (FLAVOUR=on|off|iommufd).
vm-shell:
	bash $(abs_top_srcdir)/tests/vm/run.sh --srcdir=$(abs_top_srcdir) \
		--builddir=$(abs_top_builddir) --interactive=$${FLAVOUR:-on}

# The VM benchmark: group 6 moved by the daemon vs by bare sysfs writes, same boot (ROUNDS=N).
bench-vm:
	$(AM_V_at)bash $(abs_top_srcdir)/bench/bench-vm.sh --srcdir=$(abs_top_srcdir) \
		--builddir=$(abs_top_builddir) --rounds=$${ROUNDS:-10}

.PHONY: check-vm vm-shell bench-vm

# Prerequisite-only, so other fragments can hook clean-local the same way.
clean-local: clean-local-vm
clean-local-vm:
	-rm -rf tests/vm/guest-build tests/vm/deb tests/vm/dpkg-install.log tests/vm/logs \
		tests/vm/work tests/vm/test-vmm \
		tests/vm/vfnet-check bench-vm.log bench-memory.log
.PHONY: clean-local-vm
