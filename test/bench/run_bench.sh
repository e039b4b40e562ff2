#!/usr/bin/env bash
# make bench -- RFM on 10M generated orders / 1M customers, measured in one run:
#   (a) plain GROUP BY customer      (f) the per-customer facts RFM needs, unscored
#   (b) hand-written NTILE(5) RFM    (c) the README's RFM from segment's blocks
#   (d) the same RFM in DuckDB (if node is present)
# Prints the median of BENCH_RUNS runs of each, the backend's peak RSS, and
# the ratios c/a, c/f, b/c and c/d.  BENCH_CUSTOMERS scales the data (default 1M).
# Then k-means on the customers' log recency, frequency and monetary (k = 8):
#   (k) segment.kmeans in the backend, total and per Lloyd iteration
#   (s) scikit-learn's KMeans (lloyd) on the same rows, default threads and one
#       thread (if python3-sklearn is importable)
# with the ratio of the times per iteration, both inertias and the peak RSS.
# BENCH_ONLY=rfm or BENCH_ONLY=kmeans runs one part (the data is always made).
source "$(dirname "$0")/../../scripts/common.sh"

CUSTOMERS=${BENCH_CUSTOMERS:-1000000}
RUNS=${BENCH_RUNS:-3}
PORT=${BENCH_PORT:-54329}
AS_OF='2026-01-01 00:00:00+00'
ONLY=${BENCH_ONLY:-}
case "$ONLY" in
	"" | rfm | kmeans) ;;
	*) echo "BENCH_ONLY must be rfm or kmeans, not '$ONLY'" >&2; exit 1 ;;
esac

ensure_postgres
build_and_install
cd /

dir=$(server_user_dir bench)
trap 'as_server_user pg_ctl -D "$dir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
as_server_user initdb -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $PORT
shared_preload_libraries = 'segment'
# one core per query: times compare like for like and peak memory is one process
max_parallel_workers_per_gather = 0
CONF
as_server_user pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql_bench() { as_server_user psql -X -q -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

say "generating $CUSTOMERS customers (about 10 orders each)"
start=$(date +%s)
psql_bench -c "CREATE EXTENSION segment" \
	-c "SELECT * FROM segment.generate_demo_data('bench', customers => $CUSTOMERS, mean_orders => 10, touches_per_order => 0)" \
	-c "VACUUM ANALYZE bench.orders"
say "generated in $(( $(date +%s) - start )) s"

# The facts CTE of the README query, shared by (f) and (b).
facts_cte=$(sed -n '/^WITH facts AS (/,/^), scored AS (/p' "$SEGMENT_ROOT/test/bench/rfm_readme.sql" | sed '$d')
query_a=$(cat "$SEGMENT_ROOT/test/bench/group_by.sql")
query_f="$facts_cte) SELECT * FROM facts"
query_b="$facts_cte
$(cat "$SEGMENT_ROOT/test/bench/rfm_ntile.sql")"
query_c=$(cat "$SEGMENT_ROOT/test/bench/rfm_readme.sql")

# Runs one query in a fresh session; prints "<ms> <peak RSS kB>".
run_query() {
	local query=$1 consume=$2
	local sql
	sql="SET search_path = bench, public;
\\timing on
SELECT $consume FROM ($query) AS q;
\\timing off
SELECT 'peak_kb ' || (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1];"
	printf '%s\n' "$sql" | psql_bench -At -v as_of="$AS_OF" -f - |
		awk '/^Time:/ {ms=$2} /^peak_kb/ {kb=$2} END {print ms, kb}'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

declare -A times peaks
rfm_bench() {
	names="a f b c"
	consume_a="count(*), count(last_order_at), count(orders), count(revenue)"
	consume_f="count(*), count(recency_days), count(frequency), count(monetary)"
	consume_b="count(*), count(rfm_segment), sum(r_score + f_score + m_score)"
	consume_c="count(*), count(rfm_segment), sum(r_score + f_score + m_score)"
	for run in $(seq "$RUNS"); do
		for q in $names; do
			query=query_$q; c=consume_$q
			read -r ms kb < <(run_query "${!query}" "${!c}")
			times[$q]+="$ms "
			peaks[$q]=$kb
			say "run $run ($q): $ms ms, peak $kb kB"
		done
	done
	for q in $names; do times[$q]=$(echo "${times[$q]}" | median); done

	duck_ms=""
	if command -v node >/dev/null && command -v npm >/dev/null; then
		cache=${SEGMENT_BENCH_NODE_DIR:-$SEGMENT_ROOT/test/bench}
		if [ ! -d "$cache/node_modules/@duckdb/node-api" ]; then
			say "installing @duckdb/node-api (npm)"
			(cd "$cache" && npm install --no-save --no-audit --no-fund --silent @duckdb/node-api >/dev/null 2>&1) || true
		fi
		if [ -d "$cache/node_modules/@duckdb/node-api" ]; then
			psql_bench -c "COPY bench.orders TO '$dir/orders.csv' WITH (FORMAT csv, HEADER)"
			cp "$SEGMENT_ROOT/test/bench/duckdb_rfm.mjs" "$cache/.duckdb_rfm.mjs"
			out=$(cd "$cache" && node .duckdb_rfm.mjs "$dir/orders.csv" "$AS_OF" "$RUNS")
			rm -f "$cache/.duckdb_rfm.mjs"
			echo "$out" | sed 's/^/    duckdb: /'
			duck_ms=$(echo "$out" | awk '/^run_ms/ {print $2}' | median)
			duck_kb=$(echo "$out" | awk '/^peak_rss_kb/ {print $2}')
		fi
	fi
}

rfm_summary() {
	orders=$(psql_bench -At -c "SELECT count(*) FROM bench.orders")
	echo
	echo "RFM benchmark: $orders orders, $CUSTOMERS customers, median of $RUNS runs, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), one core per query"
	printf '  %-44s %10s %14s\n' "query" "ms" "peak RSS MB"
	printf '  %-44s %10.0f %14.0f\n' "(a) plain GROUP BY customer" "${times[a]}" "$(( ${peaks[a]} / 1024 ))"
	printf '  %-44s %10.0f %14.0f\n' "(f) RFM facts grouping, no scores" "${times[f]}" "$(( ${peaks[f]} / 1024 ))"
	printf '  %-44s %10.0f %14.0f\n' "(b) hand-written NTILE(5) RFM" "${times[b]}" "$(( ${peaks[b]} / 1024 ))"
	printf '  %-44s %10.0f %14.0f\n' "(c) README RFM with segment blocks" "${times[c]}" "$(( ${peaks[c]} / 1024 ))"
	[ -n "$duck_ms" ] && printf '  %-44s %10.0f %14.0f\n' "(d) same RFM in DuckDB (whole process)" "$duck_ms" "$(( duck_kb / 1024 ))"
	awk -v a="${times[a]}" -v f="${times[f]}" -v b="${times[b]}" -v c="${times[c]}" -v d="$duck_ms" 'BEGIN {
		printf "  c/a = %.2f (target <= 1.15)   c/f = %.2f   b/c = %.2f (target >= 1.8)", c / a, c / f, b / c
		if (d != "") printf "   c/d = %.2f", c / d
		printf "\n" }'
}

# ---- k-means -----------------------------------------------------------------
# One row per customer with a positive order (the others have no recency):
# ln(1 + x) of recency days, frequency and monetary (refund-only balances as 0),
# the usual way to tame RFM's long tails.  PostgreSQL has no log1p; for
# x >= 0 ln(1 + x) loses nothing that matters here.  Both sides z-score it.
KM_K=8
KM_N_INIT=4
KM_MAX_ITER=300
KM_TOL=1e-4
# Per iteration: two fits with one init and tol 0 that differ only in
# max_iter, so that reading the rows, sorting and seeding cancel out.
KM_ITER_LO=1
KM_ITER_HI=${BENCH_KMEANS_ITERS:-81}
declare -A sk_total sk_iter sk_inertia sk_niter sk_peak sk_threads

make_kmeans_features() {
	say "building bench.kmeans_features and its CSV"
	printf '%s\n' "SET search_path = bench, public;
CREATE TABLE bench.kmeans_features AS
$facts_cte)
SELECT ARRAY[ln(1 + recency_days::float8), ln(1 + frequency::float8),
             ln(1 + greatest(monetary, 0)::float8)]::float8[] AS f
FROM facts
WHERE recency_days IS NOT NULL;
VACUUM ANALYZE bench.kmeans_features;
COPY (SELECT f[1], f[2], f[3] FROM bench.kmeans_features) TO '$dir/kmeans_features.csv' WITH (FORMAT csv);" |
		psql_bench -v as_of="$AS_OF" -f -
	km_rows=$(psql_bench -At -c "SELECT count(*) FROM bench.kmeans_features")
}

# Fits with the given options (the inside of a JSON object) in a fresh session;
# prints "<ms> <peak RSS kB> <inertia> <iterations> <converged>".
run_kmeans() {
	local sql
	sql="\\timing on
SELECT 'fit', i.inertia, i.iterations, i.converged
FROM (SELECT segment.kmeans(f, $KM_K, '{$1}'::jsonb) AS m FROM bench.kmeans_features) AS q,
     segment.kmeans_info(q.m) AS i;
\\timing off
SELECT 'peak_kb ' || (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1];"
	printf '%s\n' "$sql" | psql_bench -At -f - |
		awk '/^Time:/ {ms=$2} /^peak_kb/ {kb=$2} /^fit\|/ {split($0, f, "|"); inertia=f[2]; it=f[3]; conv=f[4]}
			END {print ms, kb, inertia, it, conv}'
}

kmeans_bench() {
	local run ms kb inertia it conv it_lo it_hi total="" lo="" hi="" python="" p threads tag out
	local total_options="\"n_init\":$KM_N_INIT,\"max_iter\":$KM_MAX_ITER,\"tol\":$KM_TOL,\"seed\":0"
	local step_options="\"n_init\":1,\"tol\":0,\"seed\":0,\"max_iter\":"
	for run in $(seq "$RUNS"); do
		read -r ms kb inertia it conv < <(run_kmeans "$total_options")
		[ -n "$inertia" ] || { echo "segment.kmeans failed" >&2; exit 1; }
		total+="$ms "
		km_peak=$kb km_inertia=$inertia km_niter=$it km_converged=$conv
		say "kmeans run $run (total): $ms ms, inertia $inertia, $it iterations, converged $conv, peak $kb kB"
		read -r ms kb inertia it_lo conv < <(run_kmeans "$step_options$KM_ITER_LO")
		lo+="$ms "
		read -r ms kb inertia it_hi conv < <(run_kmeans "$step_options$KM_ITER_HI")
		hi+="$ms "
		say "kmeans run $run (per iteration): max_iter $KM_ITER_LO: $(echo "$lo" | awk '{print $NF}') ms ($it_lo iterations), max_iter $KM_ITER_HI: $ms ms ($it_hi iterations)"
	done
	# a fit that stops early (no label changed) ran fewer iterations: divide by those
	[ "$it_hi" = "$KM_ITER_HI" ] ||
		say "warning: max_iter $KM_ITER_HI stopped after $it_hi iterations (converged $conv); per iteration uses $it_lo..$it_hi"
	km_total=$(echo "$total" | median)
	km_iter=$(awk -v l="$(echo "$lo" | median)" -v h="$(echo "$hi" | median)" -v n="$(( it_hi - it_lo ))" \
		'BEGIN {printf "%.3f", (h - l) / (n > 0 ? n : 1)}')

	# The Debian package goes into the system Python; a pyenv or venv python3
	# first on PATH does not see it, so /usr/bin/python3 is tried as well.
	find_python() {
		for p in ${BENCH_PYTHON:-python3 /usr/bin/python3}; do
			if "$p" -c 'import sklearn, threadpoolctl' >/dev/null 2>&1; then python=$p; return; fi
		done
	}
	find_python
	if [ -z "$python" ] && command -v apt-get >/dev/null; then
		say "installing python3-sklearn (apt) for the comparison"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-sklearn >/dev/null 2>&1 || true
		find_python
	fi
	if [ -z "$python" ]; then
		say "scikit-learn is not importable (apt-get install python3-sklearn): no comparison"
		return
	fi
	# default threads (all cores), then one thread like the backend
	for threads in "" 1; do
		tag=s$threads
		say "scikit-learn KMeans (lloyd), ${threads:-default} thread(s), $python"
		if ! out=$("$python" "$SEGMENT_ROOT/test/bench/kmeans_sklearn.py" "$dir/kmeans_features.csv" \
			"$KM_K" "$KM_N_INIT" "$KM_MAX_ITER" "$KM_TOL" "$RUNS" "$KM_ITER_LO" "$KM_ITER_HI" $threads); then
			say "scikit-learn run failed: no comparison"
			continue
		fi
		echo "$out" | sed 's/^/    sklearn: /'
		sk_total[$tag]=$(echo "$out" | awk '/^total_ms/ {print $2}')
		sk_iter[$tag]=$(echo "$out" | awk '/^per_iter_ms/ {print $2}')
		sk_inertia[$tag]=$(echo "$out" | awk '/^inertia/ {print $2}')
		sk_niter[$tag]=$(echo "$out" | awk '/^n_iter/ {print $2}')
		sk_peak[$tag]=$(echo "$out" | awk '/^peak_rss_kb/ {print $2}')
		sk_threads[$tag]=$(echo "$out" | awk '/^sklearn/ {print $NF}')
	done
}

kmeans_summary() {
	local tag best=""
	echo
	echo "k-means benchmark: $km_rows customers x 3 features (ln(1 + recency days, frequency, monetary), z-scored), k = $KM_K, n_init $KM_N_INIT, max_iter $KM_MAX_ITER, tol $KM_TOL, median of $RUNS runs"
	echo "  ms/iter: n_init 1, tol 0, (time at max_iter $KM_ITER_HI - time at max_iter $KM_ITER_LO) / iterations between"
	printf '  %-40s %10s %6s %9s %12s %18s\n' "fit" "total ms" "iters" "ms/iter" "peak RSS MB" "inertia"
	printf '  %-40s %10.0f %6d %9.2f %12.0f %18.6f\n' "(k) segment.kmeans, backend, one core" \
		"$km_total" "$km_niter" "$km_iter" "$(( km_peak / 1024 ))" "$km_inertia"
	for tag in s s1; do
		[ -n "${sk_total[$tag]:-}" ] || continue
		printf '  %-40s %10.0f %6d %9.2f %12.0f %18.6f\n' \
			"($tag) scikit-learn lloyd, ${sk_threads[$tag]} thread(s)" \
			"${sk_total[$tag]}" "${sk_niter[$tag]}" "${sk_iter[$tag]}" "$(( ${sk_peak[$tag]} / 1024 ))" "${sk_inertia[$tag]}"
		best=$(awk -v b="$best" -v x="${sk_inertia[$tag]}" 'BEGIN {print (b == "" || x < b) ? x : b}')
	done
	[ -n "$best" ] || return 0
	awk -v k="$km_iter" -v s="${sk_iter[s]:-}" -v s1="${sk_iter[s1]:-}" \
		-v kt="$km_total" -v st="${sk_total[s]:-}" -v s1t="${sk_total[s1]:-}" 'BEGIN {
		if (s != "") printf "  k/s per iteration = %.2f (target <= 1.0)   k/s total = %.2f\n", k / s, kt / st
		if (s1 != "") printf "  k/s1 per iteration = %.2f (target <= 1.0)   k/s1 total = %.2f\n", k / s1, kt / s1t }'
	awk -v k="$km_inertia" -v b="$best" 'BEGIN {
		printf "  inertia k vs best scikit-learn = %+.4f%% (target within 1%%)\n", 100 * (k - b) / b }'
}

if [ "$ONLY" != kmeans ]; then rfm_bench; fi
if [ "$ONLY" != rfm ]; then make_kmeans_features; kmeans_bench; fi
if [ "$ONLY" != kmeans ]; then rfm_summary; fi
if [ "$ONLY" != rfm ]; then kmeans_summary; fi
