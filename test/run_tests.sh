#!/usr/bin/env bash
# make test -- install what is missing, build with -Werror, install, then run
# the pg_regress, isolation and TAP suites on throwaway clusters.  Ends with
# one line "N passed, N failed"; exits non-zero when anything failed.
source "$(dirname "$0")/../scripts/common.sh"

ensure_postgres
build_and_install

work=$(server_user_dir test)
cp -r "$SEGMENT_ROOT/sql" "$SEGMENT_ROOT/expected" "$SEGMENT_ROOT/test" "$work/"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
cd "$work"

passed=0
failed=0
status=0
# Counts "test x ... ok" (PostgreSQL <= 15) and "ok 1 - x" (16+) lines.
count_regress_log() {
	local log=$1 ok bad
	ok=$(grep -Ec '(\.\.\. +ok)|(^ok [0-9]+)' "$log" || true)
	bad=$(grep -Eci '(\.\.\. +failed)|(^not ok [0-9]+)' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# Runs one pg_regress-style suite on its own temporary instance.
#   run_suite <label> <driver> <inputdir> <outputdir> <tests...>
run_suite() {
	local label=$1 driver=$2 inputdir=$3 outputdir=$4
	shift 4
	say "$label: $*"
	mkdir -p "$outputdir"
	[ "$(id -u)" = 0 ] && chown postgres: "$outputdir"
	if ! as_server_user "$driver" \
		--temp-instance="$outputdir/tmp_instance" --temp-config="$work/test/regress.conf" \
		--bindir="$PG_BINDIR" --inputdir="$inputdir" --outputdir="$outputdir" \
		--load-extension=segment "$@" 2>&1 | tee "$work/$label.log"; then
		status=1
	fi
	count_regress_log "$work/$label.log"
	if [ -s "$outputdir/regression.diffs" ]; then
		status=1
		cat "$outputdir/regression.diffs"
	fi
}

run_suite pg_regress "$PGXS_DIR/test/regress/pg_regress" "$work" "$work" \
	$(cd sql && ls *.sql | sed 's/\.sql$//')
run_suite isolation "$PGXS_DIR/test/isolation/pg_isolation_regress" "$work/test" "$work/isolation" \
	$(cd test/specs && ls *.spec | sed 's/\.spec$//')

# 0.1.0 built from its release commit, for the upgrade test (009_upgrade.pl)
say "building segment 0.1.0 for the upgrade test"
bash "$SEGMENT_ROOT/test/upgrade/install_0.1.0.sh" "$work/old_install"
say "TAP: $(cd test/t && ls *.pl | tr '\n' ' ')"
if ! as_server_user env PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" TESTDIR="$work" \
	SEGMENT_OLD_INSTALL="$work/old_install" \
	prove -I "$PGXS_DIR/test/perl" test/t/*.pl 2>&1 | tee tap.log; then
	status=1
fi
tap_total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' tap.log)
tap_failed=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' tap.log | awk '{s+=$1} END {print s+0}')
if [ "$status" != 0 ] && ! grep -q '^Result: PASS' tap.log && [ "$tap_failed" = 0 ]; then
	tap_failed=1 # a script that died before its plan
fi
passed=$((passed + ${tap_total:-0} - tap_failed))
failed=$((failed + tap_failed))

# One counted pass or fail per script, its output kept in <log>.
run_counted() {
	local log=$1
	shift
	if SEGMENT_ALREADY_BUILT=1 bash "$@" 2>&1 | tee "$log"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		status=1
	fi
}
# the fuzzer: every function of the extension, hostile arguments, as a non-superuser
run_counted fuzz.log "$SEGMENT_ROOT/test/fuzz/run.sh"
# random queries (sqlsmith) as a non-superuser with segmentations
run_counted sqlsmith.log "$SEGMENT_ROOT/test/sqlsmith/run.sh"
run_counted valgrind.log "$SEGMENT_ROOT/test/valgrind.sh"
# META.json against the PGXN Meta Spec, and the zip of `make dist`
run_counted meta.log "$SEGMENT_ROOT/test/meta_check.sh"
# the Debian package (make deb, lintian), installed with apt-get, make installcheck against it;
# ends with the source build installed again
run_counted package.log "$SEGMENT_ROOT/test/package.sh"
if [ "$status" != 0 ]; then
	for f in tmp_check/log/*; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
	echo "test files kept in $work"
else
	cd / && rm -rf "$work"
fi

echo "$passed passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ]
