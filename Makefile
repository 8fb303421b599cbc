# bemi: logical decoding output plugin (and, later, extension) in one shared library.
#
#   make && make install      build and install with the pg_config on PATH (or PG_CONFIG=...)
#   make unittest             build and run the Catch2 tests of the PostgreSQL-free core
#   make installcheck         pg_regress against a running server (see test/run_tests.sh)

MODULE_big = bemi
EXTENSION  = bemi
# Released scripts are kept as they shipped. The script of the version under development is
# assembled from sql/<version>/*.sql, one file per feature, in name order.
DEV_VERSION = 0.2
DEV_SCRIPT  = sql/bemi--0.1--$(DEV_VERSION).sql
DATA        = $(filter-out $(DEV_SCRIPT),$(wildcard sql/bemi--*.sql))
DATA_built  = $(DEV_SCRIPT)
PGFILEDESC = "bemi - change tracking with application context"

CORE_SRCS = $(wildcard src/core/*.cpp)
PG_SRCS   = $(wildcard src/pg/*.cpp)
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

# pg_regress suites: sql/<name>.sql against expected/<name>.out.
REGRESS = record_format values toast context transactions options filters origins spill partitions session_settings capture extension_schema exclusions comments
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= pg_config
PG_INCLUDE_SERVER := $(shell $(PG_CONFIG) --includedir-server)

# -isystem keeps the strict warnings on our own code only.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-register -fno-strict-aliasing \
              -Iinclude -Isrc -isystem $(PG_INCLUDE_SERVER)
SHLIB_LINK += -lstdc++

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DEV_SCRIPT): $(sort $(wildcard sql/$(DEV_VERSION)/*.sql))
	cat $^ > $@

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

EXTRA_CLEAN = $(OBJS:.o=.d) test/unit/bemi_unit results regression.diffs regression.out
