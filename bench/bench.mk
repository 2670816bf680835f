# bench/bench.mk: benchmarks against a baseline measured in the same run. Not part of
# `make check`; `make bench` builds what it needs and prints the figures.
# noinst rather than EXTRA_PROGRAMS: Makefile.am initialises only the former for fragments.
noinst_PROGRAMS += bench/mkbighost bench/runstat
bench_mkbighost_SOURCES = bench/mkbighost.c
bench_mkbighost_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
bench_mkbighost_LDADD = libfakesys.a libcommon.a
bench_runstat_SOURCES = bench/runstat.c
EXTRA_DIST += bench/README.md bench/run-report.sh bench/run-daemon-rss.sh bench/bench-claim.sh

# make bench [BENCH_REPS=N] [BENCH_DEVICES=N] [BENCH_CLAIM_CYCLES=N] [BENCH_CLAIM_ROUNDS=N]
#            [BENCH_BEFORE=BUILDDIR]  (an older build's daemon, measured against this one)
BENCH_REPS = 7
BENCH_DEVICES = 9000
BENCH_CLAIM_CYCLES = 200
BENCH_CLAIM_ROUNDS = 3
BENCH_BEFORE =
bench: bench/mkbighost$(EXEEXT) bench/runstat$(EXEEXT) vfio-assignd$(EXEEXT) assignctl$(EXEEXT) \
		tests/mkhost$(EXEEXT) tests/mock/libvfio-mock.so
	$(SHELL) $(srcdir)/bench/run-report.sh --builddir=$(abs_top_builddir) \
		--reps=$(BENCH_REPS) --devices=$(BENCH_DEVICES)
	$(SHELL) $(srcdir)/bench/run-daemon-rss.sh --builddir=$(abs_top_builddir) \
		--srcdir=$(abs_top_srcdir) --devices=$(BENCH_DEVICES)
	$(SHELL) $(srcdir)/bench/bench-claim.sh --builddir=$(abs_top_builddir) \
		--srcdir=$(abs_top_srcdir) --cycles=$(BENCH_CLAIM_CYCLES) --rounds=$(BENCH_CLAIM_ROUNDS) \
		$(if $(BENCH_BEFORE),--before=$(BENCH_BEFORE))
.PHONY: bench
