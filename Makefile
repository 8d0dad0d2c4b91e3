# tapegrad — `make` builds both libraries, build/tg and the examples; `make test` runs every Check
# suite in float32 and float64; `make test-asan` runs them under ASan+UBSan; `make bench` prints
# kernel figures; `make run` trains LeNet-5 on Fashion-MNIST; `make install` copies lib + headers.
CC      ?= cc
PREFIX  ?= /usr/local
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror
CFLAGS_BASE := -std=c11 $(OPT) -g $(WARN) -D_DEFAULT_SOURCE -pthread -fno-math-errno
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
define variant_rules
$(B)/$(1)/%_avx512.o: %_avx512.c
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $(2) $$(AVX512_FLAGS) -MMD -MP -c $$< -o $$@
$(B)/$(1)/%_avx2.o: %_avx2.c
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_BASE) $(2) $$(AVX2_FLAGS) -MMD -MP -c $$< -o $$@
$(B)/$(1)/%.o: %.c
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

clean:
	rm -rf $(B)

.PHONY: all test test-asan bench run install clean
.SECONDARY:
-include $(shell find $(B) -name '*.d' 2>/dev/null)

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
