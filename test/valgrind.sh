#!/usr/bin/env bash
# make valgrind -- the pg_regress SQL of the C functions, run by a single-user
# backend under valgrind memcheck.  Fails when an error report has a frame in
# segment.so (PostgreSQL's own WAL padding and the dynamic loader report
# harmless errors of their own without a valgrind-aware build; those are
# ignored).  About two minutes.
source "$(dirname "$0")/../scripts/common.sh"

ensure_postgres
command -v valgrind >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
[ -n "${SEGMENT_ALREADY_BUILT:-}" ] || build_and_install

dir=$(server_user_dir valgrind)
trap 'rm -rf "$dir"' EXIT
as_server_user initdb -D "$dir/data" -A trust >/dev/null
{
	echo "CREATE EXTENSION segment;"
	# psql meta-commands are not SQL; online_retail needs them to load its file
	for f in quantile quantile_state rfm_segment reference errors segmentation \
		kmeans kmeans_align kmeans_step kmeans_report kmeans_errors attribution attribution_segments; do
		grep -v '^\\' "$SEGMENT_ROOT/sql/$f.sql"
	done
} >"$dir/input.sql"
say "running the C functions under valgrind (single-user backend)"
(cd "$dir" && as_server_user valgrind --quiet --num-callers=30 --log-file="$dir/valgrind.%p.log" \
	postgres --single -j -D "$dir/data" postgres <"$dir/input.sql" >"$dir/output.txt" 2>&1) || true

# Reports end with a line "==pid== "; keep those with a frame of ours (a frame
# names the library, or the source file when built with -g).  Without a
# valgrind-aware server, overruns inside a palloc block go unseen; our large
# arrays get blocks of their own, so their overruns are caught.
pattern="segment\\.so$(cd "$SEGMENT_ROOT/src" && for f in *.c; do printf '|\\(%s:' "${f//./\\.}"; done)"
ours=$(pat="$pattern" awk '
	/^==[0-9]+== *$/ { if (report ~ ENVIRON["pat"]) printf "%s\n", report; report = ""; next }
	{ report = report $0 "\n" }
	END { if (report ~ ENVIRON["pat"]) printf "%s", report }' "$dir"/valgrind.*.log)
if [ -n "$ours" ]; then
	echo "$ours"
	echo "valgrind: error reports in segment (above)"
	exit 1
fi
echo "valgrind: no error report with a frame in segment"
