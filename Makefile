# bemi: logical decoding output plugin (and, later, extension) in one shared library.
#
#   make && make install      build and install with the pg_config on PATH (or PG_CONFIG=...)
#   make unittest             build and run the Catch2 tests of the PostgreSQL-free core
#   make installcheck         pg_regress against a running server (see test/run_tests.sh)
#   make fuzz                 run each libFuzzer target for FUZZ_SECONDS (default 20) seconds
#   test/sanitize.sh          the whole suite against an ASan+UBSan build of bemi.so

MODULE_big = bemi
EXTENSION  = bemi
# Upgrade scripts are assembled from sql/<version>/*.sql, one file per feature, in name order.
# A released version's folder is frozen (it is what shipped and what ALTER EXTENSION replays);
# only the folder of the version under development (bemi.control's default_version) changes.
ASSEMBLED   = sql/bemi--0.2--0.3.sql sql/bemi--0.3--0.4.sql
DATA        = $(filter-out $(ASSEMBLED),$(wildcard sql/bemi--*.sql))
DATA_built  = $(ASSEMBLED)
PGFILEDESC = "bemi - change tracking with application context"

CORE_SRCS = $(wildcard src/core/*.cpp)
PG_SRCS   = $(wildcard src/pg/*.cpp src/pg/*/*.cpp)
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

# pg_regress suites: sql/<name>.sql against expected/<name>.out.
REGRESS = record_format values toast context transactions options filters origins spill partitions session_settings capture extension_schema exclusions actor comments time_travel_store time_travel_lineage time_travel_access time_travel_diff time_travel_revert time_travel time_travel_history
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= pg_config
PG_INCLUDE_SERVER := $(shell $(PG_CONFIG) --includedir-server)

# -isystem keeps the strict warnings on our own code only.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-register -fno-strict-aliasing \
              -Iinclude -Isrc -isystem $(PG_INCLUDE_SERVER)
SHLIB_LINK += -lstdc++

# BEMI_SANITIZE=1 (test/sanitize.sh): bemi.so with AddressSanitizer and UndefinedBehaviorSanitizer,
# gcc's runtimes, which the server must preload (LD_PRELOAD); no JIT bitcode for it.
ifdef BEMI_SANITIZE
PG_CXXFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
               -DBEMI_SANITIZER_CANARY
SHLIB_LINK += -fsanitize=address,undefined
override with_llvm = no
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

define assemble_upgrade
sql/bemi--$(1)--$(2).sql: $$(sort $$(wildcard sql/$(2)/*.sql))
	cat $$^ > $$@
endef
$(eval $(call assemble_upgrade,0.2,0.3))
$(eval $(call assemble_upgrade,0.3,0.4))

# Header dependencies for the objects (not the bitcode, whose rule does not use CXXFLAGS).
override CXXFLAGS += -MMD -MP
-include $(OBJS:.o=.d)

# PGXS also emits LLVM bitcode for JIT inlining, compiled by clang without PG_CXXFLAGS.
COMPILE.cxx.bc += $(PG_CXXFLAGS)

# The core headers must never need PostgreSQL: the unit tests compile them without it.
UNIT_SRCS = $(wildcard test/unit/*.cpp)
test/unit/bemi_unit: $(UNIT_SRCS) $(CORE_SRCS) $(wildcard include/bemi/*.hpp)
	$(CXX) -std=c++17 -O1 -g -Wall -Wextra -Werror -Iinclude -o $@ $(UNIT_SRCS) $(CORE_SRCS)

.PHONY: unittest
unittest: test/unit/bemi_unit
	test/unit/bemi_unit

# libFuzzer targets over the PostgreSQL-free core (clang-14 and libfuzzer-14-dev), each built
# with AddressSanitizer and UndefinedBehaviorSanitizer. `make fuzz` runs every target for
# FUZZ_SECONDS from its seed corpus in test/fuzz/corpus/<target>; new inputs and crash
# reproducers go to FUZZ_WORK, never into the committed corpus.
FUZZ_TARGETS = context comment options json_escape record_fields
FUZZ_SECONDS ?= 20
FUZZ_WORK ?= test/fuzz/work
FUZZ_CXX ?= clang++-14
FUZZ_BINS = $(FUZZ_TARGETS:%=test/fuzz/fuzz_%)
FUZZ_FLAGS = -std=c++17 -g -O1 -fno-sanitize-recover=all -Wall -Wextra -Werror -Iinclude
FUZZ_CORE_OBJS = $(CORE_SRCS:src/core/%.cpp=test/fuzz/obj/%.o)
test/fuzz/obj/%.o: src/core/%.cpp $(wildcard include/bemi/*.hpp)
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
test/fuzz/fuzz_%: test/fuzz/fuzz_%.cpp test/fuzz/fuzz_util.hpp $(FUZZ_CORE_OBJS)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_CORE_OBJS)

.PHONY: fuzz print-fuzz-targets
print-fuzz-targets:
	@echo $(FUZZ_TARGETS)

fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_WORK)/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		test/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_WORK)/$$t- $(FUZZ_WORK)/$$t test/fuzz/corpus/$$t 2>&1 | \
			grep -E '^(Done [0-9]+ runs|==[0-9]+==|SUMMARY|.*check failed|artifact_prefix|Test unit written)' || true; \
		if ls $(FUZZ_WORK)/$$t-* >/dev/null 2>&1; then echo "fuzz: $$t FAILED, reproducers: $$(ls $(FUZZ_WORK)/$$t-*)"; exit 1; fi; \
	done

EXTRA_CLEAN = $(OBJS:.o=.d) test/unit/bemi_unit results regression.diffs regression.out $(FUZZ_BINS) $(FUZZ_WORK) test/fuzz/obj
