# tapegrad — `make` builds both libraries, build/tg and the examples; `make test` runs every Check
# suite in float32 and float64; `make test-asan` runs them under ASan+UBSan; `make bench` prints
# kernel figures; `make run` trains LeNet-5 on Fashion-MNIST; `make install` copies lib + headers.
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
TOOL_SRC := $(sort $(wildcard tools/*.c))
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

TEST_FLAGS := $(CHECK_CFLAGS) -I$(B)/gen -Wno-error=deprecated-declarations
$(B)/obj32/tests/%.o $(B)/obj64/tests/%.o $(B)/asan32/tests/%.o $(B)/asan64/tests/%.o: CFLAGS_BASE += $(TEST_FLAGS)
$(call objs,obj32,$(TEST_SRC)) $(call objs,obj64,$(TEST_SRC)) $(call objs,asan32,$(TEST_SRC)) $(call objs,asan64,$(TEST_SRC)): $(B)/gen/suites.h

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
test: all $(B)/test_tapegrad $(B)/test_tapegrad64
	$(TEST_ENV) $(B)/test_tapegrad64
	$(TEST_ENV) $(B)/test_tapegrad

test-asan: all $(B)/asan/test32 $(B)/asan/test64
	$(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/asan/test64
	$(TEST_ENV) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/asan/test32

bench: $(B)/tg
	$(B)/tg bench

run: all
	./tools/run_lenet.sh

install: $(LIB32) $(LIB64) $(B)/tg $(B)/tg64
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/tapegrad
	install -m 644 $(LIB32) $(LIB64) $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(B)/tg $(B)/tg64 $(DESTDIR)$(PREFIX)/bin
	install -m 644 tapegrad.h $(DESTDIR)$(PREFIX)/include/tapegrad
	for d in graph ops ops/kernels nn optim; do install -d $(DESTDIR)$(PREFIX)/include/tapegrad/$$d; \
	  install -m 644 $$d/*.h $(DESTDIR)$(PREFIX)/include/tapegrad/$$d; done

# The architecture picture (docs/architecture.md): DOT source and rendered SVG are both committed.
docs: docs/layers.svg
docs/layers.svg: docs/layers.dot
	dot -Tsvg $< -o $@

clean:
	rm -rf $(B)

.PHONY: all test test-asan bench run install clean docs
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
FUZZ_TARGETS := npy idx checkpoint checkpoint_crc spec
FUZZ_BINS    := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_LIB_OBJ := $(patsubst %.c,$(B)/fuzzobj/%.o,$(LIB_SRC))

# The SIMD kernels are arithmetic over buffers the sanitized code sized; instrumented, the AVX-512
# templates take minutes each to compile, so they are built plain.
FUZZ_SIMD_CFLAGS := -std=c11 -O1 -g $(WARN) -D_DEFAULT_SOURCE -pthread -fno-math-errno
$(B)/fuzzobj/%_avx512.o: %_avx512.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SIMD_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@
$(B)/fuzzobj/%_avx2.o: %_avx2.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SIMD_CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@
$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(B)/fuzzobj/fuzz/fuzz_checkpoint_crc.o: fuzz/fuzz_checkpoint.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DTG_FUZZ_FIX_CRC -MMD -MP -c $< -o $@
$(B)/fuzz/fuzz_%: $(B)/fuzzobj/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_BINS)

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
	    $(B)/fuzz/fuzz_$$t -runs=1 $$files >/dev/null 2>$(B)/fuzz/replay-$$t.log || { cat $(B)/fuzz/replay-$$t.log; exit 1; }; fi; \
	done

.PHONY: fuzz fuzz-run fuzz-replay

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
TSAN_SUITES ?= parallel reliability data threads
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
