# tapegrad — `make` builds both libraries, build/tg and the examples; `make test` runs every Check
# suite in float64 and float32; `make test-asan` runs them under ASan+UBSan; `make bench` prints
# kernel figures (`make bench-train`: the model zoo against PyTorch); `make run` trains LeNet-5 on Fashion-MNIST; `make shared` builds the .so files;
# `make install` / `uninstall` copy / remove libs, headers, tg and the pkg-config files. `run`,
# `test`, `test-asan` and `fuzz` do their own set-up first (tools/deps.sh, docs/install.md).
CC      ?= cc
PREFIX  ?= /usr/local
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror
# -fvisibility=hidden: the library exports only what public headers declare (graph/api.h).
CFLAGS_BASE := -std=c11 $(OPT) -g $(WARN) -D_DEFAULT_SOURCE -pthread -fno-math-errno -fvisibility=hidden
LDLIBS  := -lm -pthread

# Runtime-dispatched SIMD kernels: files named *_avx512.c / *_avx2.c get the ISA flags (on x86-64
# only; elsewhere they compile to nothing and the portable kernel is used).
X86 := $(findstring x86_64,$(shell $(CC) -dumpmachine))
ifneq ($(X86),)
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mavx2
AVX2_FLAGS   := -mavx2 -mfma
endif

LIB_SRC  := $(sort $(wildcard graph/*.c ops/*.c ops/kernels/*.c nn/*.c optim/*.c))
# tools/*_mpi.c need MPI: only `make mpi` builds them
TOOL_SRC := $(sort $(filter-out tools/%_mpi.c,$(wildcard tools/*.c)))
EX_SRC   := $(sort $(wildcard examples/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))
SUITES   := $(patsubst tests/test_%.c,%,$(wildcard tests/test_*.c))

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

B := build

# $(call objs,variant,sources)
objs = $(patsubst %.c,$(B)/$(1)/%.o,$(2))

LIB32 := $(B)/libtapegrad.a
LIB64 := $(B)/libtapegrad64.a
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(EX_SRC))

all: $(LIB32) $(LIB64) $(B)/tg $(B)/tg64 $(EXAMPLES)

# ---- objects, one tree per variant ----
# Objects depend on the Makefile: the flags (e.g. -fvisibility=hidden) are part of what they are.
define variant_rules
$(B)/$(1)/%_avx512.o: %_avx512.c Makefile
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $(2) $$(AVX512_FLAGS) -MMD -MP -c $$< -o $$@
$(B)/$(1)/%_avx2.o: %_avx2.c Makefile
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $(2) $$(AVX2_FLAGS) -MMD -MP -c $$< -o $$@
$(B)/$(1)/%.o: %.c Makefile
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $(2) -MMD -MP -c $$< -o $$@
endef
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
$(eval $(call variant_rules,obj32,))
$(eval $(call variant_rules,obj64,-DTG_REAL_DOUBLE))
$(eval $(call variant_rules,asan32,$(SAN)))
$(eval $(call variant_rules,asan64,-DTG_REAL_DOUBLE $(SAN)))

$(LIB32): $(call objs,obj32,$(LIB_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(LIB64): $(call objs,obj64,$(LIB_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/tg: $(call objs,obj32,$(TOOL_SRC)) $(LIB32)
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS)
$(B)/tg64: $(call objs,obj64,$(TOOL_SRC)) $(LIB64)
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS)

$(B)/examples/%: $(B)/obj32/examples/%.o $(LIB32)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS)

# ---- tests: one runner per precision; the suite list is generated from tests/test_*.c ----
$(B)/gen/suites.h: $(wildcard tests/test_*.c) Makefile
	@mkdir -p $(@D)
	@printf '%s\n' $(foreach s,$(SUITES),"TG_SUITE($(s))") > $@.tmp && mv $@.tmp $@

# The model zoo (models/*.txt) compiled into `tg bench` and the tests as {"name", "text"} rows, so
# the bench runs from any directory (issue 14). '?' is escaped: C11 would read "??x" as a trigraph.
MODEL_SPECS := $(sort $(wildcard models/*.txt))
$(B)/gen/zoo_models.h: $(MODEL_SPECS) Makefile
	@mkdir -p $(@D)
	@for f in $(MODEL_SPECS); do printf '{"%s",\n' "$$(basename $$f .txt)"; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/ "/' -e 's/$$/\\n"/' $$f; \
	  printf '},\n'; done > $@.tmp && mv $@.tmp $@
$(call objs,obj32,$(TOOL_SRC)) $(call objs,obj64,$(TOOL_SRC)): CFLAGS_BASE += -I$(B)/gen
$(call objs,obj32,$(TOOL_SRC)) $(call objs,obj64,$(TOOL_SRC)): $(B)/gen/zoo_models.h

TEST_FLAGS := $(CHECK_CFLAGS) -I$(B)/gen -Wno-error=deprecated-declarations
$(B)/obj32/tests/%.o $(B)/obj64/tests/%.o $(B)/asan32/tests/%.o $(B)/asan64/tests/%.o: CFLAGS_BASE += $(TEST_FLAGS)
$(call objs,obj32,$(TEST_SRC)) $(call objs,obj64,$(TEST_SRC)) $(call objs,asan32,$(TEST_SRC)) $(call objs,asan64,$(TEST_SRC)): $(B)/gen/suites.h $(B)/gen/zoo_models.h

$(B)/test_tapegrad: $(call objs,obj32,$(TEST_SRC)) $(LIB32)
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(B)/test_tapegrad64: $(call objs,obj64,$(TEST_SRC)) $(LIB64)
	$(CC) $(CFLAGS_BASE) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(B)/asan/test32: $(call objs,asan32,$(TEST_SRC) $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(SAN) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(B)/asan/test64: $(call objs,asan64,$(TEST_SRC) $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(SAN) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# The suites find build/tg and tests/fixtures relative to the repository root.
# TG_BIN / TG_BIN64 tell the suites which tg binaries to run.
TEST_ENV = TG_BIN=$(abspath $(B)/tg) TG_BIN64=$(abspath $(B)/tg64)
# `make test` and `make test-asan` first do their own set-up (tools/deps.sh: a C compiler, Check and
# pkg-config, installed with apt-get when root, else the one command to run and exit 1; Graphviz
# for the DOT rendering test when it can be had), then run themselves again in a fresh make so the
# Check flags above are read after Check is there.
SETUP_TEST = @CC="$(CC)" ./tools/deps.sh --for "make $@" cc check pkg-config && \
	CC="$(CC)" ./tools/deps.sh --optional --for "make $@ (DOT rendering test)" graphviz
test:
	$(SETUP_TEST)
	@$(MAKE) --no-print-directory test-suites
test-suites: all $(B)/test_tapegrad $(B)/test_tapegrad64
	$(TEST_ENV) $(B)/test_tapegrad64
	$(TEST_ENV) $(B)/test_tapegrad

test-asan:
	$(SETUP_TEST)
	@$(MAKE) --no-print-directory test-asan-suites
test-asan-suites: all $(B)/asan/test32 $(B)/asan/test64
	$(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/asan/test64
	$(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/asan/test32

bench: $(B)/tg
	$(B)/tg bench

# The zoo against PyTorch 1.13 (docs/speed.md): `make bench-train` prints the tables, `make speed-doc`
# also rewrites them in docs/speed.md. PYTHON must have torch.
PYTHON ?= /usr/bin/python3
bench-train: $(B)/tg
	$(PYTHON) tools/bench_zoo.py --tg $(B)/tg --python $(PYTHON) --seconds 1
speed-doc: $(B)/tg
	$(PYTHON) tools/bench_zoo.py --tg $(B)/tg --python $(PYTHON) --seconds 1 --write-doc docs/speed.md

# `make run` does its own set-up: a C compiler (tools/deps.sh), the build, then tools/run_lenet.sh
# installs the data set (and Graphviz for model.svg) when root with apt.
run:
	@CC="$(CC)" ./tools/deps.sh --for "make run" cc
	@$(MAKE) --no-print-directory all
	./tools/run_lenet.sh

# ---- shared libraries (`make shared`): position-independent objects in their own trees, the same
# CFLAGS_BASE as the static ones, a SONAME carrying the major version, and only tg_* exported
# (tapegrad.map; correct whether or not the sources also mark visibility) ----
VERSION       := 0.1.0
VERSION_MAJOR := $(firstword $(subst ., ,$(VERSION)))
$(eval $(call variant_rules,pic32,-fPIC))
$(eval $(call variant_rules,pic64,-DTG_REAL_DOUBLE -fPIC))
SO32 := $(B)/libtapegrad.so
SO64 := $(B)/libtapegrad64.so
# $(call shared_lib,variant,name): build/NAME.so.VERSION, linked as NAME.so.MAJOR and NAME.so
define shared_lib
$(B)/$(2).so.$(VERSION): $(call objs,$(1),$(LIB_SRC)) tapegrad.map
	$$(CC) $$(CFLAGS_BASE) -shared -Wl,-soname,$(2).so.$(VERSION_MAJOR) -Wl,--version-script=tapegrad.map \
	  -Wl,-z,defs -o $$@ $(call objs,$(1),$(LIB_SRC)) $$(LDLIBS)
$(B)/$(2).so: $(B)/$(2).so.$(VERSION)
	ln -sf $(2).so.$(VERSION) $(B)/$(2).so.$(VERSION_MAJOR)
	ln -sf $(2).so.$(VERSION_MAJOR) $$@
endef
$(eval $(call shared_lib,pic32,libtapegrad))
$(eval $(call shared_lib,pic64,libtapegrad64))
shared: $(SO32) $(SO64)

# ---- install / uninstall: `make install PREFIX=/usr/local DESTDIR=`; pkg-config files
# tapegrad.pc / tapegrad64.pc (the latter adds -DTG_REAL_DOUBLE) ----
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR      ?= $(LIBDIR)/pkgconfig
HEADER_DIRS := graph ops ops/kernels nn optim

$(B)/pkgconfig/%.pc: %.pc.in FORCE
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	  -e 's|@VERSION@|$(VERSION)|g' $< > $@.tmp && mv $@.tmp $@
# The .pc files hold PREFIX: remade on every install (FORCE) so a new PREFIX is never stale.
FORCE:

install: $(LIB32) $(LIB64) $(SO32) $(SO64) $(B)/tg $(B)/tg64 $(B)/pkgconfig/tapegrad.pc $(B)/pkgconfig/tapegrad64.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR)/tapegrad $(DESTDIR)$(PCDIR)
	install -m 644 $(LIB32) $(LIB64) $(DESTDIR)$(LIBDIR)
	for l in libtapegrad libtapegrad64; do \
	  install -m 755 $(B)/$$l.so.$(VERSION) $(DESTDIR)$(LIBDIR) && \
	  ln -sf $$l.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$$l.so.$(VERSION_MAJOR) && \
	  ln -sf $$l.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/$$l.so || exit 1; done
	install -m 644 $(B)/pkgconfig/tapegrad.pc $(B)/pkgconfig/tapegrad64.pc $(DESTDIR)$(PCDIR)
	install -m 755 $(B)/tg $(B)/tg64 $(DESTDIR)$(BINDIR)
	install -m 644 tapegrad.h $(DESTDIR)$(INCLUDEDIR)/tapegrad
	for d in $(HEADER_DIRS); do install -d $(DESTDIR)$(INCLUDEDIR)/tapegrad/$$d && \
	  install -m 644 $$d/*.h $(DESTDIR)$(INCLUDEDIR)/tapegrad/$$d || exit 1; done

# Removes exactly what install wrote (same PREFIX/DESTDIR), and the include folder it made.
uninstall:
	for l in libtapegrad libtapegrad64; do rm -f $(DESTDIR)$(LIBDIR)/$$l.a $(DESTDIR)$(LIBDIR)/$$l.so \
	  $(DESTDIR)$(LIBDIR)/$$l.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/$$l.so.$(VERSION); done
	rm -f $(DESTDIR)$(PCDIR)/tapegrad.pc $(DESTDIR)$(PCDIR)/tapegrad64.pc
	rm -f $(DESTDIR)$(BINDIR)/tg $(DESTDIR)$(BINDIR)/tg64
	rm -rf $(DESTDIR)$(INCLUDEDIR)/tapegrad

# `make test-install`: installs into a temporary DESTDIR/PREFIX, checks the exported symbols, builds
# a program out of tree with pkg-config against the installed copy (static and shared, float32 and
# float64), runs it, then uninstalls and checks nothing is left (tests/install_test.sh).
test-install: shared $(B)/tg
	@./tools/deps.sh --for "make test-install" pkg-config
	CC="$(CC)" B="$(B)" MAKE="$(MAKE)" ./tests/install_test.sh

# `make test-readme`: every line of the README's ```sh blocks, as written, in a fresh copy of the
# tracked files (tests/readme_commands.sh; lines it skips are listed with their reason).
test-readme:
	./tests/readme_commands.sh

# The architecture picture (docs/architecture.md): DOT source and rendered SVG are both committed.
docs: docs/layers.svg
docs/layers.svg: docs/layers.dot
	dot -Tsvg $< -o $@

clean:
	rm -rf $(B)

.PHONY: all test test-suites test-asan test-asan-suites bench run install uninstall shared test-install test-readme clean docs
.PHONY: all test test-asan bench bench-train speed-doc run install clean docs
.SECONDARY:
-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---- reliability (docs/reliability.md) ----
# `make fuzz`: one libFuzzer binary per parser (clang, ASan+UBSan); `make fuzz-run FUZZ_S=N` runs
# each for N seconds from its committed seeds (fuzz/corpus/<target>) into a work corpus under
# $(B)/fuzz, then `make fuzz-replay` runs the committed crash regressions (fuzz/regressions/<target>).
FUZZ_CC      ?= clang
FUZZ_S       ?= 30
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -O1 -g $(WARN) -D_DEFAULT_SOURCE -pthread -fno-math-errno $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_TARGETS := npy idx checkpoint checkpoint_crc spec onnx png csv data_cache
FUZZ_BINS    := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_LIB_OBJ := $(patsubst %.c,$(B)/fuzzobj/%.o,$(LIB_SRC))

# The SIMD kernels are arithmetic over buffers the sanitized code sized; instrumented, the AVX-512
# templates take minutes each to compile, so they are built plain.
FUZZ_SIMD_CFLAGS := -std=c11 -O1 -g $(WARN) -D_DEFAULT_SOURCE -pthread -fno-math-errno
$(B)/fuzzobj/%_avx512.o: %_avx512.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SIMD_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@
$(B)/fuzzobj/%_avx2.o: %_avx2.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SIMD_CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@
$(B)/fuzzobj/%.o: %.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(B)/fuzzobj/fuzz/fuzz_checkpoint_crc.o: fuzz/fuzz_checkpoint.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DTG_FUZZ_FIX_CRC -MMD -MP -c $< -o $@
$(B)/fuzz/fuzz_%: $(B)/fuzzobj/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_BINS)

# The fuzz build's own set-up: clang (installed with apt-get when root; tools/deps.sh).
fuzz-deps:
	@$(if $(filter clang%,$(notdir $(FUZZ_CC))),./tools/deps.sh --for "make fuzz" clang,true)

# The checkpoint targets share one seed corpus; one process per target keeps the run to one core.
fuzz-run: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(B)/fuzz/work/$$t $(B)/fuzz/crashes; \
	  echo "fuzz $$t: $(FUZZ_S) s"; \
	  if $(B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_S) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(B)/fuzz/crashes/$$t- $(B)/fuzz/work/$$t fuzz/corpus/$$(echo $$t | sed 's/_crc$$//') \
	    >$(B)/fuzz/$$t.log 2>&1; then grep -E '^stat::(number_of_executed_units|peak_rss_mb)' $(B)/fuzz/$$t.log; \
	  else tail -40 $(B)/fuzz/$$t.log; echo "fuzz $$t: FAILED (input in $(B)/fuzz/crashes)"; exit 1; fi; \
	done
	$(MAKE) --no-print-directory fuzz-replay

# Every committed crash input once through its target (a target's own folder; checkpoint_crc's
# inputs are stored already fixed up, so the plain target replays them too).
fuzz-replay: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  files=$$(ls fuzz/regressions/$$t/* 2>/dev/null || true); \
	  if [ -n "$$files" ]; then echo "replay $$t: $$(echo $$files | wc -w) inputs"; \
	    $(B)/fuzz/fuzz_$$t -runs=1 -timeout=10 $$files >/dev/null 2>$(B)/fuzz/replay-$$t.log || { cat $(B)/fuzz/replay-$$t.log; exit 1; }; fi; \
	done

.PHONY: fuzz fuzz-deps fuzz-run fuzz-replay

# `make test-alloc`: tests/alloc/alloc_walk.c fails the N-th malloc/calloc/realloc/aligned_alloc/
# strdup of a workload (library and `tg train`) for every N, under ASan+UBSan.
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup
$(B)/alloc/alloc_walk: $(call objs,asan32,tests/alloc/alloc_walk.c tools/cmd_nn.c tools/cli.c $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(SAN) $(ALLOC_WRAP) -o $@ $^ $(LDLIBS)

test-alloc: $(B)/alloc/alloc_walk
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/alloc/alloc_walk

.PHONY: test-alloc

# `make test-tsan`: ThreadSanitizer build of the suites; runs the threaded ones (TSAN_SUITES) and
# tests/tsan/stress.c (two user threads on separate tapes, both gunzipping at once).
TSAN        := -fsanitize=thread -O1
TSAN_SUITES ?= parallel reliability data threads infer
$(eval $(call variant_rules,tsan32,$(TSAN)))
$(B)/tsan32/tests/%.o: CFLAGS_BASE += $(TEST_FLAGS)
$(call objs,tsan32,$(TEST_SRC)): $(B)/gen/suites.h
$(B)/tsan/test32: $(call objs,tsan32,$(TEST_SRC) $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(TSAN) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)
$(B)/tsan/stress: $(call objs,tsan32,tests/tsan/stress.c $(LIB_SRC))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(TSAN) -o $@ $^ $(LDLIBS)

test-tsan: all $(B)/tsan/test32 $(B)/tsan/stress
	TSAN_OPTIONS=halt_on_error=1 $(B)/tsan/stress
	for s in $(TSAN_SUITES); do $(TEST_ENV) TSAN_OPTIONS=halt_on_error=1 TG_SUITE=$$s CK_FORK=no $(B)/tsan/test32 || exit 1; done

# `make test-valgrind`: memcheck over the suites that finish in a few minutes under it (summary,
# whose LeNet-5 table takes over 5 minutes there, is left out; the
# non-sanitized float64 runner, in-process so every test is checked).
VALGRIND_SUITES ?= data npy checkpoint optim spec reliability graph shape
test-valgrind: all $(B)/test_tapegrad64
	for s in $(VALGRIND_SUITES); do $(TEST_ENV) TG_SUITE=$$s CK_FORK=no valgrind -q --error-exitcode=99 \
	  --leak-check=full --errors-for-leak-kinds=definite,indirect $(B)/test_tapegrad64 || exit 1; done

.PHONY: test-tsan test-valgrind
# ---- optional: data-parallel training over MPI (Debian: openmpi-bin libopenmpi-dev) ----
# `make mpi` builds build/tg-mpi: the float32 library and tg's tool objects (without tg.c's main),
# plus dist/ and tools/*_mpi.c compiled with mpicc. `make test-mpi` runs tests/mpi/run.sh. Nothing
# else in the build needs MPI. docs/distributed.md.
MPICC   ?= mpicc
MPIRUN  ?= mpirun
DIST_SRC := $(sort $(wildcard dist/*.c))
MPI_TOOL_SRC := $(sort $(wildcard tools/*_mpi.c))
$(B)/mpi32/%.o: %.c
	@mkdir -p $(@D)
	$(MPICC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@
$(B)/tg-mpi: $(call objs,mpi32,$(MPI_TOOL_SRC) $(DIST_SRC)) $(call objs,obj32,$(filter-out tools/tg.c,$(TOOL_SRC))) $(LIB32)
	$(MPICC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS)
# tests/mpi/dist_api.c: the C API under mpirun (its own main, no Check)
$(B)/test_dist: $(B)/mpi32/tests/mpi/dist_api.o $(call objs,mpi32,$(DIST_SRC)) $(LIB32)
	$(MPICC) $(CFLAGS_BASE) -o $@ $^ $(LDLIBS)
mpi: $(B)/tg-mpi
test-mpi: $(B)/tg-mpi $(B)/tg $(B)/test_dist
	TG_MPI=$(abspath $(B)/tg-mpi) TG=$(abspath $(B)/tg) TG_TEST_DIST=$(abspath $(B)/test_dist) MPIRUN="$(MPIRUN)" \
	  MPICC="$(MPICC)" TG_DIST_OBJ=$(abspath $(B)/mpi32/dist/dist.o) TG_LIB=$(abspath $(LIB32)) \
	  tests/mpi/run.sh
.PHONY: mpi test-mpi
