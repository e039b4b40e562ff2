# segment -- PGXS build.  The user-facing targets are at the bottom:
#   make test   install what is missing, build with -Werror, install, run every suite
#   make demo   the same set-up, then a throwaway cluster with demo data (make demo-stop)
#   make bench  the RFM benchmark on 10M generated orders
#   make valgrind  the C functions' SQL tests under valgrind memcheck
#   make dist   the PGXN zip, dist/segment-<version>.zip, from the last commit
#   make deb    the Debian package postgresql-15-segment into dist/ (Debian's tooling, lintian)

EXTENSION = segment
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = segment
# One folder per concern (see the README's Layout); segment.c registers the settings and workers.
OBJS = src/segment.o \
       src/common/textio.o src/common/money.o src/common/interner.o src/common/time_zone.o src/common/catalog_version.o src/common/large_alloc.o \
       src/rfm/quantile.o src/rfm/quantile_state.o src/rfm/quantile_edges.o src/rfm/quantile_score.o \
       src/rfm/rfm_segment.o \
       src/kmeans/kmeans_input.o src/kmeans/kmeans_fit.o src/kmeans/kmeans_model.o src/kmeans/kmeans_agg.o \
       src/kmeans/kmeans_step.o src/kmeans/kmeans_align.o src/kmeans/kmeans_report.o \
       src/security/identity.o src/security/relation_check.o \
       src/refresh/facts_scan.o src/refresh/facts_spill.o src/refresh/facts_read.o src/refresh/lifecycle.o src/refresh/row_writer.o \
       src/refresh/score_edges.o src/refresh/cluster_sample.o src/refresh/purchase_days.o src/refresh/prediction.o \
       src/refresh/segment_build.o src/refresh/run_log.o src/refresh/refresh_entry.o src/refresh/watermark.o \
       src/scheduler/cron.o src/scheduler/shared.o src/scheduler/launcher.o src/scheduler/scheduler.o \
       src/scheduler/job.o src/scheduler/utility_hook.o src/scheduler/schedule_sql.o \
       src/attribution/attribution_credits.o src/attribution/attribution_sums.o \
       src/attribution/attribution_query.o src/attribution/attribution_scan.o src/attribution/markov.o \
       src/predict/special_functions.o src/predict/optimize.o src/predict/btyd_points.o src/predict/btyd_fit.o src/predict/bgnbd.o src/predict/paretonbd.o src/predict/gammagamma.o src/predict/btyd_model.o src/predict/btyd_agg.o
# The install script is assembled from the SQL files of the concerns, in this order.
SQL_SOURCES = src/rfm/quantile.sql src/rfm/rfm_segment.sql src/kmeans/kmeans.sql src/predict/predict.sql \
              src/predict/predictive_segments.sql src/refresh/segmentation.sql src/refresh/change_capture.sql src/refresh/history.sql src/refresh/refresh.sql \
              src/refresh/segment_views.sql src/scheduler/scheduler.sql \
              src/attribution/attribution.sql src/attribution/attribution_views.sql \
              src/predict/backtest.sql src/demo/demo_data.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql
# Earlier versions' install scripts, frozen as released, and the upgrade
# scripts from each to the next: ALTER EXTENSION segment UPDATE follows them.
DATA = $(wildcard src/upgrade/$(EXTENSION)--*.sql)
# The upgrade scripts of the version being made: src/upgrade/<from>--<to>.sql
# with the version's routines generated in (scripts/upgrade_routines.pl).
UPGRADES = $(patsubst src/upgrade/%.sql,$(EXTENSION)--%.sql,$(wildcard src/upgrade/*--$(EXTVERSION).sql))
DATA_built += $(UPGRADES)
EXTRA_CLEAN += $(UPGRADES)

PG_CPPFLAGS = -I$(srcdir)/src -DSEGMENT_VERSION='"$(EXTVERSION)"'

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
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)
else
all:
	@echo "pg_config not found: run 'make test' or 'make demo', which install PostgreSQL 15 and its headers" >&2; exit 1
endif

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) $(EXTENSION).control
	{ printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; cat $(SQL_SOURCES); } > $@

$(UPGRADES): $(EXTENSION)--%.sql: src/upgrade/%.sql $(SQL_SOURCES) scripts/upgrade_routines.pl
	perl scripts/upgrade_routines.pl $(SQL_SOURCES) > $@.routines
	sed -e '/^-- @routines@$$/{r $@.routines' -e 'd;}' $< > $@
	rm -f $@.routines

.PHONY: test demo demo-stop bench valgrind dist deb
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
# PGXS has no dist target (only PostgreSQL's own source tree does), so this one
# does not override anything.  DIST_DIR=<dir> writes the zip elsewhere.
DIST_DIR ?= dist
dist:
	@bash scripts/dist.sh $(DIST_DIR)
deb:
	@bash scripts/deb.sh
