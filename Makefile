# segment -- PGXS build.  The user-facing targets are at the bottom:
#   make test   install what is missing, build with -Werror, install, run every suite
#   make demo   the same set-up, then a throwaway cluster with demo data (make demo-stop)
#   make bench  the RFM benchmark on 10M generated orders
#   make valgrind  the C functions' SQL tests under valgrind memcheck

EXTENSION = segment
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = segment
OBJS = src/segment.o src/textio.o src/quantile.o src/quantile_state.o \
       src/quantile_edges.o src/quantile_score.o src/rfm_segment.o \
       src/kmeans_input.o src/kmeans_fit.o src/kmeans_model.o src/kmeans_agg.o \
       src/kmeans_step.o src/kmeans_align.o src/kmeans_report.o src/facts_scan.o \
       src/run_log.o src/money.o src/facts_read.o src/lifecycle.o \
       src/row_writer.o src/segment_build.o src/identity.o src/relation_check.o src/refresh_entry.o src/time_zone.o \
       src/scheduler/cron.o src/scheduler/shared.o src/scheduler/launcher.o \
       src/scheduler/scheduler.o src/scheduler/job.o src/scheduler/utility_hook.o \
       src/scheduler/schedule_sql.o src/interner.o src/attribution_credits.o src/attribution_sums.o src/attribution_query.o src/attribution_scan.o src/markov.o

# The install script is assembled from one file per concern, in this order.
SQL_SOURCES = src/sql/quantile.sql src/sql/rfm_segment.sql src/sql/kmeans.sql \
              src/sql/segmentation.sql src/sql/history.sql src/sql/refresh.sql \
              src/sql/segment_views.sql src/sql/scheduler.sql src/sql/attribution.sql src/sql/attribution_views.sql \
              src/sql/demo_data.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql

PG_CPPFLAGS = -I$(srcdir)/src

# pg_regress suites (sql/, expected/) and isolation specs (test/specs/).
# `make test` runs them, and the TAP tests, on throwaway clusters;
# `make installcheck` runs the first two against a running server.
REGRESS = $(patsubst sql/%.sql,%,$(wildcard sql/*.sql))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)
ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)

# a header change rebuilds every object (PGXS tracks no header dependencies)
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/scheduler/*.h)
else
all:
	@echo "pg_config not found: run 'make test' or 'make demo', which install PostgreSQL 15 and its headers" >&2; exit 1
endif

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) $(EXTENSION).control
	{ printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; cat $(SQL_SOURCES); } > $@

.PHONY: test demo demo-stop bench valgrind
test:
	@bash test/run_tests.sh
demo:
	@bash scripts/demo.sh start
demo-stop:
	@bash scripts/demo.sh stop
bench:
	@bash test/bench/run_bench.sh
valgrind:
	@bash test/valgrind.sh
