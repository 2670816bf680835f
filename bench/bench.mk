# bench/bench.mk: benchmarks against a baseline measured in the same run. Not part of
# `make check`; `make bench` builds what it needs, runs bench/run-all.sh and prints the figures
# and one summary block (see bench/README.md).
# noinst rather than EXTRA_PROGRAMS: Makefile.am initialises only the former for fragments.
noinst_PROGRAMS += bench/mkbighost bench/runstat
bench_mkbighost_SOURCES = bench/mkbighost.c
bench_mkbighost_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
bench_mkbighost_LDADD = libfakesys.a libcommon.a
bench_runstat_SOURCES = bench/runstat.c
EXTRA_DIST += bench/README.md bench/run-all.sh bench/bench-lib.sh bench/run-report.sh \
	bench/run-uevent.sh bench/uevent-client.py bench/run-daemon-rss.sh bench/bench-claim.sh \
	bench/bench-memory.sh

# make bench [BENCH_REPS=N] [BENCH_SIZES=N,N,N] [BENCH_DEVICES=N] [BENCH_BIG=N] [BENCH_ROUNDS=N]
#            [BENCH_CLAIM_CYCLES=N] [BENCH_CLAIM_ROUNDS=N]
#            [BENCH_BEFORE=BUILDDIR]  (an older build's daemon, measured against this one)
BENCH_REPS = 7
BENCH_SIZES = 1000,9000,36000
BENCH_DEVICES = 9000
BENCH_BIG = 36000
BENCH_ROUNDS = 5
BENCH_CLAIM_CYCLES = 200
BENCH_CLAIM_ROUNDS = 5
BENCH_BEFORE =
bench: bench/mkbighost$(EXEEXT) bench/runstat$(EXEEXT) vfio-assignd$(EXEEXT) assignctl$(EXEEXT) \
		tests/mkhost$(EXEEXT) tests/mock/libvfio-mock.so
	$(SHELL) $(srcdir)/bench/run-all.sh --builddir=$(abs_top_builddir) --reps=$(BENCH_REPS) \
		--sizes=$(BENCH_SIZES) --devices=$(BENCH_DEVICES) --big=$(BENCH_BIG) \
		--rounds=$(BENCH_ROUNDS) --claim-cycles=$(BENCH_CLAIM_CYCLES) \
		--claim-rounds=$(BENCH_CLAIM_ROUNDS) $(if $(BENCH_BEFORE),--before=$(BENCH_BEFORE))
.PHONY: bench

# Pre-pinned guest memory on the real kernel (tests/vm/, two VM boots, root): QEMU's device-ready
# time with cold RAM against daemon-filled shmem and hugetlb regions, and adopting a
# daemon-mapped type1 region against pinning it (bench/README.md).
# make bench-memory [GUEST_MB=N]   (QEMU's guest RAM in MiB; the test VM is sized to fit)
GUEST_MB = 512
bench-memory:
	$(AM_V_at)bash $(abs_top_srcdir)/bench/bench-memory.sh --srcdir=$(abs_top_srcdir) \
		--builddir=$(abs_top_builddir) --guest-mb=$(GUEST_MB)
.PHONY: bench-memory
