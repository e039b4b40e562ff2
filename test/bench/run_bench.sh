#!/usr/bin/env bash
# make bench -- RFM on 10M generated orders / 1M customers, measured in one run:
#   (a) plain GROUP BY customer      (f) the per-customer facts RFM needs, unscored
#   (b) hand-written NTILE(5) RFM    (c) the README's RFM from segment's blocks
#   (d) the same RFM in DuckDB (if node is present)
# Prints the median of BENCH_RUNS runs of each, the backend's peak RSS, and
# the ratios c/a, c/f, b/c and c/d.  BENCH_CUSTOMERS scales the data (default 1M),
# BENCH_MEAN_ORDERS the orders per customer (default 10).
# The orders are in time order, customers interleaved, as real order tables
# grow; BENCH_LAYOUT=customer keeps each customer's orders together instead.
# Then k-means on the customers' log recency, frequency and monetary (k = 8):
#   (k) segment.kmeans in the backend, total and per Lloyd iteration
#   (s) scikit-learn's KMeans (lloyd) on the same rows, default threads and one
#       thread (if python3-sklearn is importable)
# with the ratio of the times per iteration, both inertias and the peak RSS.
# Then materialized segmentations (segment.refresh) on the same orders:
#   (r)  refresh without clustering, (rk) with k-means (k = 6), both with the
#        parallel C scan (max_parallel_maintenance_workers, default 2); (r1)
#        the same with the scan alone; (rs) on the SQL path (segment.fast_scan
#        off): total ms, phase times from segment.job_runs and the leader's
#        peak RSS
#   (b)  the hand-written equivalent: CREATE TABLE AS the NTILE RFM + an index
#   (a2) the plain GROUP BY with 2 parallel workers
# with the ratios to (a) plain GROUP BY, (b) and DuckDB's RFM, and a reader's
# worst wait (pgbench point reads of the segment table) during one refresh;
#   (ri) an incremental refresh (incremental => 'triggers') and (rw) one by
#        watermark after 1% new orders, against (rf) a full refresh of the
#        same orders, with the capture triggers' cost on the insert and the
#        history log's size after BENCH_INC_RUNS (10) refreshes.
# BENCH_PERF=<dir> also profiles one refresh with perf (perf.data and
# perf-report.txt in <dir>).
# Then the scheduler: 100 segmentations of 200 customers each scheduled every
# 10 seconds for BENCH_SCHED_SECONDS (default 60), with segment.max_workers
# BENCH_SCHED_WORKERS (default 8): the launch delay of each
# run after it came due (from the scheduler's due time to the job worker's
# start), p50/p95/max, and the scheduler's CPU time while they run and while
# idle (everything paused).
# Then attribution: 100,000 customers with about 1M orders and 10M touchpoints
# (BENCH_ATTR_CUSTOMERS scales it), one segmentation refreshed with all six
# models for three segment types (attribution_ms from the run log), against
# (g) a plain GROUP BY channel over the touchpoints, and once on the SQL path
# (ts); and the Markov model fitted and solved for 1M paths over 50 channels.
# Then the scheduler's soak (test/t/006_scheduler_soak.pl for BENCH_SOAK_SECONDS,
# default 600, where make test runs it 90 s): its memory every 10 s and the
# run log against what the schedules imply.
# Then the predictive models: BG/NBD and Gamma-Gamma fitted on the bench
# customers' summaries and every customer scored, against SciPy; and (rn) a
# refresh of the bench orders without predictions against (rp) one with.
# BENCH_ONLY=rfm, kmeans, refresh, scheduler, attribution, predict or soak runs one part
# (the 10M orders are made for the first three only); BENCH_ONLY=incremental
# runs the refresh part's incremental runs alone (with BENCH_MEAN_ORDERS=30:
# the same customers with three times the history).
source "$(dirname "$0")/../../scripts/common.sh"

CUSTOMERS=${BENCH_CUSTOMERS:-1000000}
MEAN_ORDERS=${BENCH_MEAN_ORDERS:-10}
RUNS=${BENCH_RUNS:-3}
PORT=${BENCH_PORT:-54329}
AS_OF='2026-01-01 00:00:00+00'
ONLY=${BENCH_ONLY:-}
LAYOUT=${BENCH_LAYOUT:-time}
case "$LAYOUT" in
	time | customer) ;;
	*) echo "BENCH_LAYOUT must be time or customer, not '$LAYOUT'" >&2; exit 1 ;;
esac
case "$ONLY" in
	"" | rfm | kmeans | refresh | incremental | scheduler | attribution | predict | soak) ;;
	*) echo "BENCH_ONLY must be rfm, kmeans, refresh, incremental, scheduler, attribution, predict or soak, not '$ONLY'" >&2; exit 1 ;;
esac
# part NAME: whether that part runs
part() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

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
# room for the scheduler benchmark's job workers
max_worker_processes = 20
segment.max_workers = ${BENCH_SCHED_WORKERS:-8}
CONF
as_server_user pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql_bench() { as_server_user psql -X -q -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

psql_bench -c "CREATE EXTENSION segment"
if [ "$ONLY" != scheduler ] && [ "$ONLY" != attribution ]; then
	say "generating $CUSTOMERS customers (about $MEAN_ORDERS orders each)"
	start=$(date +%s)
	psql_bench -c "SELECT * FROM segment.generate_demo_data('bench', customers => $CUSTOMERS, mean_orders => $MEAN_ORDERS, touches_per_order => 0)"
	# generate_demo_data writes each customer's orders together; real order
	# tables grow in time order, customers interleaved (BENCH_LAYOUT=customer
	# keeps the grouped layout)
	if [ "$LAYOUT" = time ]; then
		psql_bench -c "CREATE TABLE bench.orders_by_time AS SELECT * FROM bench.orders ORDER BY ordered_at" \
			-c "DROP TABLE bench.orders" -c "ALTER TABLE bench.orders_by_time RENAME TO orders"
	fi
	psql_bench -c "VACUUM ANALYZE bench.orders"
	correlation=$(psql_bench -At -c "SELECT round(correlation::numeric, 2) FROM pg_stats
		WHERE schemaname = 'bench' AND tablename = 'orders' AND attname = 'customer_id'")
	say "generated in $(( $(date +%s) - start )) s; layout $LAYOUT (correlation of customer_id with the heap: $correlation)"
fi

# The facts CTE of the README query, shared by (f) and (b).
facts_cte=$(sed -n '/^WITH facts AS (/,/^), scored AS (/p' "$SEGMENT_ROOT/test/bench/rfm_readme.sql" | sed '$d')
query_a=$(cat "$SEGMENT_ROOT/test/bench/group_by.sql")
query_f="$facts_cte) SELECT * FROM facts"
query_b="$facts_cte
$(cat "$SEGMENT_ROOT/test/bench/rfm_ntile.sql")"
query_c=$(cat "$SEGMENT_ROOT/test/bench/rfm_readme.sql")

# Runs one query in a fresh session; prints "<ms> <peak RSS kB>".
run_query() {
	local query=$1 consume=$2 setting=${3:-}
	local sql
	sql="SET search_path = bench, public;
$setting
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
	echo "RFM benchmark: $orders orders, $CUSTOMERS customers, median of $RUNS runs, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), $(nproc) cores"
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

# ---- materialized segmentations ----------------------------------------------
# Two segmentations of bench.orders: bench_seg (no clustering) and bench_seg_k
# (k-means), created once (with their first refresh), then refreshed in fresh
# sessions.  A CHECKPOINT before each timed write keeps one run's dirty
# buffers out of the next one's time.
SEG_K=6
declare -A rf_times rf_peaks rf_phase rf_method
refresh_error=""
duck_ms=${duck_ms:-}

# Reports a failed refresh (psql's output in $1) and remembers the error.
refresh_failed() {
	refresh_error=$(echo "$1" | grep -E '^(psql:.*)?(ERROR|DETAIL|HINT|CONTEXT):' || echo "$1")
	echo "segment.refresh failed:" >&2
	echo "$refresh_error" | sed 's/^/    /' >&2
}

# Refreshes segmentation $1 in a fresh session, after the SQL in $2 (may be
# empty); sets rr to "<ms> <peak RSS kB> <scan> <cluster> <score> <history>
# <swap ms> <scan method> <rows> <orders scanned> <start epoch>", or fails.
run_refresh() {
	local name=$1 setting=${2:-} sql out
	psql_bench -c CHECKPOINT
	sql="$setting
\\timing on
SELECT 'refreshed', segment.refresh('$name');
\\timing off
SELECT 'phases', scan_ms, cluster_ms, score_ms, history_ms, swap_ms,
       scan_method || CASE WHEN scan_partitions > 0 THEN ',spilled:' || scan_partitions || '_files' ELSE '' END,
       rows, orders_scanned,
       extract(epoch FROM started_at)
FROM segment.job_runs WHERE segmentation = '$name' ORDER BY run_id DESC LIMIT 1;
SELECT 'peak_kb ' || (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1];"
	if ! out=$(printf '%s\n' "$sql" | psql_bench -At -F ' ' -f - 2>&1); then
		refresh_failed "$out"
		return 1
	fi
	rr=$(echo "$out" | awk '/^Time:/ {ms=$2} /^peak_kb/ {kb=$2}
		/^phases / {p=$2 " " $3 " " $4 " " $5 " " $6 " " $7 " " $8 " " $9 " " $10}
		END {print ms, kb, p}')
}

# (b) in a fresh session: CREATE TABLE AS + CREATE INDEX, the two times added;
# prints "<ms> <peak RSS kB>".
run_hand() {
	psql_bench -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench.hand" -c CHECKPOINT
	printf '%s\n' "SET search_path = bench, public;
\\timing on
CREATE TABLE bench.hand AS
$query_b
;
CREATE INDEX ON bench.hand (customer_id);
\\timing off
SELECT 'peak_kb ' || (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1];" |
		psql_bench -At -v as_of="$AS_OF" -f - |
		awk '/^Time:/ {ms += $2} /^peak_kb/ {kb=$2} END {print ms, kb}'
}

# A reader's point queries on bench.bench_seg (pgbench, one client, per-
# transaction log) from 1 s before one refresh to about 3 s after it.
reader_bench() {
	local script="$dir/point_read.sql" seconds pgb t0 t1 t_end log logdir
	printf '\\set id random(1, %d)\nSELECT * FROM bench.bench_seg WHERE customer_id = :id;\n' "$CUSTOMERS" >"$script"
	chmod 644 "$script"
	# long enough for a refresh slowed by the reader itself
	seconds=$(awk -v ms="${rf_times[r]}" 'BEGIN {printf "%d", ms * 1.5 / 1000 + 4.999}')
	# pgbench's log in memory: a log on disk can stall pgbench itself while
	# the kernel writes back the refresh's gigabytes, which is not a wait of
	# the reader's query
	logdir=$(TMPDIR=/dev/shm server_user_dir reader)
	say "reader during a refresh: pgbench point reads for $seconds s, refresh after 1 s"
	as_server_user "$PG_BINDIR/pgbench" -n -c 1 -T "$seconds" -l --log-prefix="$logdir/reader" -f "$script" \
		-h "$dir" -p "$PORT" postgres >"$dir/pgbench.out" 2>&1 &
	pgb=$!
	t_end=$(awk -v t="$(date +%s.%N)" -v s="$seconds" 'BEGIN {printf "%.3f", t + s}')
	sleep 1
	run_refresh bench_seg || { wait "$pgb" || true; return 1; }
	t1=$(date +%s.%N)
	t0=$(echo "$rr" | awk '{print $11}')
	say "reader's refresh: $(echo "$rr" | awk '{print $1}') ms"
	wait "$pgb" || { say "pgbench failed:"; sed 's/^/    /' "$dir/pgbench.out"; return 0; }
	awk -v a="$t1" -v b="$t_end" 'BEGIN {exit !(a > b - 0.5)}' &&
		say "warning: the refresh ended less than 0.5 s before pgbench did"
	log=$(ls "$logdir"/reader.* | head -1)
	# pgbench 15: client_id transaction_no time(us) script_no time_epoch time_us
	# [schedule_lag] [retries]; time is "failed" or "skipped" for those
	# over the reads: count, those overlapping the refresh, max, p99.9 and failed
	reader=$(awk -v t0="$t0" -v t1="$t1" '
		$3 ~ /^[0-9]+$/ {
			n++; end = $5 + $6 / 1e6
			if (end >= t0 && end - $3 / 1e6 <= t1) during++
			if ($3 / 1000 > max) max = $3 / 1000
			# the reads within a second of the swap and commit
			if (end >= t1 - 1 && end - $3 / 1e6 <= t1 + 1 && $3 / 1000 > swap) swap = $3 / 1000
		}
		$3 !~ /^[0-9]+$/ {bad++}
		END {printf "%d %d %.1f %.1f", n, during, max, swap}' "$log")
	reader+=" $(awk '$3 ~ /^[0-9]+$/ {print $3 / 1000}' "$log" | sort -g |
		awk '{v[NR] = $1} END {i = int(NR * 0.999); if (i < NR * 0.999) i++; if (i < 1) i = 1; printf "%.1f", v[i]}')"
	reader+=" $(awk '$3 !~ /^[0-9]+$/' "$log" | wc -l)"
	rm -rf "$logdir"
}

refresh_bench() {
	local run ms kb scan cluster score history swap method rows scanned started q f i
	say "creating segmentations bench_seg (no clustering) and bench_seg_k (k-means, k = $SEG_K) with their first refresh"
	for q in "bench_seg 0" "bench_seg_k $SEG_K"; do
		set -- $q
		ms=$(psql_bench -At -c '\timing on' -c "SELECT segment.create_segmentation('$1', 'bench.orders', 'customer_id',
			'ordered_at', 'amount', clusters => $2, as_of => '$AS_OF', target_table => 'bench.$1')" 2>&1 |
			awk '/^Time:/ {print $2} /ERROR/ {print > "/dev/stderr"}' || true)
		[ -n "$ms" ] || { refresh_error="create_segmentation('$1') failed"; echo "$refresh_error" >&2; return; }
		say "create_segmentation('$1', clusters => $2): $ms ms"
	done
	for run in $(seq "$RUNS"); do
		for q in r rk r1 rs; do
			case $q in
				r) run_refresh bench_seg || return 0 ;;
				rk) run_refresh bench_seg_k || return 0 ;;
				r1) run_refresh bench_seg "SET max_parallel_maintenance_workers = 0;" || return 0 ;;
				rs) run_refresh bench_seg "SET segment.fast_scan = off;" || return 0 ;;
			esac
			read -r ms kb scan cluster score history swap method rows scanned started <<<"$rr"
			rf_times[$q]+="$ms "
			rf_peaks[$q]=$kb
			for f in scan cluster score history swap; do rf_phase[$q.$f]+="${!f} "; done
			rf_method[$q]=$method
			say "run $run ($q): $ms ms, peak $kb kB, scan $scan ($method), cluster $cluster, score $score, history $history, swap $swap ms; $rows rows, $scanned orders"
		done
		read -r ms kb < <(run_hand)
		rf_times[b]+="$ms "
		rf_peaks[b]=$kb
		say "run $run (b): $ms ms, peak $kb kB"
		if [ -z "${times[a]:-}" ]; then
			read -r ms kb < <(run_query "$query_a" "count(*), count(last_order_at), count(orders), count(revenue)")
			rf_times[a]+="$ms "
			rf_peaks[a]=$kb
			say "run $run (a): $ms ms, peak $kb kB"
		fi
		read -r ms kb < <(run_query "$query_a" "count(*), count(last_order_at), count(orders), count(revenue)" \
			"SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET min_parallel_table_scan_size = 0;")
		rf_times[a2]+="$ms "
		rf_peaks[a2]=$kb
		say "run $run (a2): $ms ms, peak $kb kB"
	done
	psql_bench -c "DROP TABLE bench.hand"
	for q in r rk r1 rs b a a2; do
		if [ -n "${rf_times[$q]:-}" ]; then rf_times[$q]=$(echo "${rf_times[$q]}" | median); fi
	done
	for q in r rk r1 rs; do
		for f in scan cluster score history swap; do rf_phase[$q.$f]=$(echo "${rf_phase[$q.$f]}" | median); done
	done
	# (a) from the RFM part when it ran: the same query, the same data
	if [ -n "${times[a]:-}" ]; then rf_times[a]=${times[a]} rf_peaks[a]=${peaks[a]}; fi
	# (",spilled:N_files" after the method when the scan outgrew segment.scan_memory)
	[ "${rf_method[r]%%,*}" = parallel ] || say "warning: (r) used scan method '${rf_method[r]}', not parallel"
	[ "${rf_method[r1]%%,*}" = fast ] || say "warning: (r1) used scan method '${rf_method[r1]}', not fast"
	[ "${rf_method[rs]}" = sql ] || say "warning: (rs) used scan method '${rf_method[rs]}', not sql"

	reader_bench || return 0
	incremental_bench || return 0
	if [ -n "${BENCH_PERF:-}" ]; then refresh_profile; fi
}

# ---- incremental refresh ----------------------------------------------------
# bench_inc: the same orders with incremental => 'triggers' (and the index on
# the customer that recomputing a customer needs); bench_wm: with incremental
# => 'watermark' on ingested_at (default now(), with its index; the rows
# before the bench share one old time).  Each of BENCH_INC_RUNS (default 10)
# runs adds 1% new orders (90% to existing customers, 10% to new ones, dated
# in the month before as_of; BENCH_INC_ORDERS sets another number): the
# insert timed with the capture triggers (wi) against the same insert into a
# copy of the orders with the same indexes and no triggers (w0); then (ri) the
# incremental refresh by triggers, (rw) by watermark and, in the first
# BENCH_RUNS runs, (rf) a full refresh of bench_seg on the same orders.  Last,
# the history log's bytes after the runs against one snapshot of every
# customer per refresh (0.1.0's history).
INC_RUNS=${BENCH_INC_RUNS:-10}
declare -A inc_times inc_peaks inc_phase
inc_kinds=""
incremental_bench() {
	local run n ms kb scan cluster score history swap rest insert q f
	n=${BENCH_INC_ORDERS:-$(( CUSTOMERS * MEAN_ORDERS / 100 ))}
	inc_orders=$n
	say "incremental: bench_inc (triggers) and bench_wm (watermark); each of $INC_RUNS runs adds $n orders"
	psql_bench -c "CREATE INDEX ON bench.orders (customer_id)" \
		-c "ALTER TABLE bench.orders ADD COLUMN ingested_at timestamptz DEFAULT '2025-01-01 00:00:00+00'" \
		-c "ALTER TABLE bench.orders ALTER COLUMN ingested_at SET DEFAULT now()" \
		-c "CREATE INDEX ON bench.orders (ingested_at)" \
		-c "CREATE TABLE bench.orders_plain (LIKE bench.orders INCLUDING DEFAULTS INCLUDING INDEXES)" \
		-c "INSERT INTO bench.orders_plain SELECT * FROM bench.orders" -c "VACUUM ANALYZE bench.orders_plain"
	for q in "bench_inc incremental => 'triggers'" "bench_wm incremental => 'watermark', watermark_column => 'ingested_at'"; do
		if ! psql_bench -At -c "SELECT segment.create_segmentation('${q%% *}', 'bench.orders', 'customer_id', 'ordered_at',
				'amount', clusters => 0, as_of => '$AS_OF', target_table => 'bench.${q%% *}', ${q#* })" >/dev/null; then
			refresh_error="create_segmentation('${q%% *}') failed"
			return 1
		fi
	done
	for run in $(seq "$INC_RUNS"); do
		insert="(order_id, customer_id, ordered_at, amount)
		        SELECT 9000000000000 + $run * 100000000 + g,
		               CASE WHEN g % 10 = 0 THEN $CUSTOMERS + $run * 100000000 + g ELSE 1 + (g * 7919) % $CUSTOMERS END,
		               timestamptz '$AS_OF' - interval '30 days' + g * (interval '30 days' / $n),
		               (10 + (g * 31) % 300)::numeric(12, 2)
		        FROM generate_series(1, $n) AS g"
		for q in w0 wi; do
			ms=$(printf '%s\n' '\timing on' "INSERT INTO bench.$([ $q = w0 ] && echo orders_plain || echo orders) $insert;" |
				psql_bench -At -f - | awk '/^Time:/ {print $2}')
			inc_times[$q]+="$ms "
		done
		for q in ri rw; do
			run_refresh "$([ $q = ri ] && echo bench_inc || echo bench_wm)" || return 1
			read -r ms kb scan cluster score history swap rest <<<"$rr"
			inc_times[$q]+="$ms "
			inc_peaks[$q]=$kb
			for f in scan score history swap; do inc_phase[$q.$f]+="${!f} "; done
			inc_kinds+="$(psql_bench -At -c "SELECT refresh_kind || ':' || coalesce(customers_changed::text, '-')
				FROM segment.job_runs WHERE segmentation = '$([ $q = ri ] && echo bench_inc || echo bench_wm)'
				ORDER BY run_id DESC LIMIT 1") "
		done
		ms=-
		if [ "$run" -le "$RUNS" ]; then
			run_refresh bench_seg || return 1
			read -r ms kb rest <<<"$rr"
			inc_times[rf]+="$ms "
			inc_peaks[rf]=$kb
		fi
		say "run $run: insert $(echo "${inc_times[wi]}" | awk '{print $NF}') ms with capture, $(echo "${inc_times[w0]}" | awk '{print $NF}') ms without; (ri) $(echo "${inc_times[ri]}" | awk '{print $NF}') ms, (rw) $(echo "${inc_times[rw]}" | awk '{print $NF}') ms ($(echo "$inc_kinds" | awk '{print $(NF-1), $NF}')), (rf) $ms ms"
	done
	for q in w0 wi ri rw rf; do inc_times[$q]=$(echo "${inc_times[$q]}" | median); done
	for q in ri rw; do
		for f in scan score history swap; do inc_phase[$q.$f]=$(echo "${inc_phase[$q.$f]}" | median); done
	done
	inc_customers=$(psql_bench -At -c "SELECT count(*) FROM bench.bench_inc")
	# the log kept against snapshots: bytes, refreshes, rows
	history_sizes=$(psql_bench -At -F ' ' -c "CREATE TABLE bench.snapshot_shape AS
			SELECT customer_id, rfm_segment, lifecycle_segment, cluster, refreshed_at FROM bench.bench_inc" -c "
		SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'bench.bench_inc_history'::regclass),
		       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'bench.bench_inc_history'::regclass),
		       (SELECT count(*) FROM bench.bench_inc_history),
		       pg_total_relation_size('bench.snapshot_shape')" | tail -1)
	psql_bench -c "DROP TABLE bench.snapshot_shape, bench.orders_plain"
}

# ---- predictive models --------------------------------------------------------
# The bench orders' customer summaries in days as of as_of
# (segment.customer_summary), then, in fresh sessions on one core:
#   (pb) segment.bgnbd_fit and (pg) segment.gammagamma_fit over the summary
#        table (reading it included), median of BENCH_RUNS, peak RSS;
#   (pa) P(alive) and (pe) the expected purchases in the next 365 days of
#        every customer, (pv) predicted_clv over 365 days in 30-day periods;
# against SciPy's BFGS on the same summaries in NumPy arrays
# (test/bench/btyd_scipy.py, python3-scipy), with both sets of parameters.
declare -A pr_times pr_peaks pr_phase
predict_bench() {
	local run ms kb q query consume
	say "predict: the customers' summaries (segment.customer_summary, days)"
	pr_summary_ms=$(psql_bench -At -c '\timing on' -c "CREATE TABLE bench.btyd_summary AS
		SELECT x, t_x, \"T\", mean_value FROM segment.customer_summary('bench.orders', 'customer_id', 'ordered_at',
		                                                               'amount', date '$AS_OF', '1 day')" |
		awk '/^Time:/ {print $2}')
	pr_shape=$(psql_bench -At -F ' ' -c "SELECT count(*), count(DISTINCT (x, t_x, \"T\")), count(*) FILTER (WHERE x > 0)
		FROM bench.btyd_summary")
	psql_bench -c "CREATE TABLE bench.btyd_models AS SELECT segment.bgnbd_fit(x, t_x, \"T\") AS bg,
		segment.gammagamma_fit(x, mean_value) AS gg FROM bench.btyd_summary"
	for run in $(seq "$RUNS"); do
		for q in pb pg pa pe pv; do
			case $q in
				pb) query='SELECT segment.bgnbd_fit(x, t_x, "T") AS v FROM bench.btyd_summary'; consume='count(v)' ;;
				pg) query='SELECT segment.gammagamma_fit(x, mean_value) AS v FROM bench.btyd_summary'; consume='count(v)' ;;
				pa) query='SELECT segment.bgnbd_p_alive(bg, x, t_x, "T") AS v FROM bench.btyd_summary, bench.btyd_models'; consume='sum(v)' ;;
				pe) query='SELECT segment.bgnbd_expected_orders(bg, 365, x, t_x, "T") AS v FROM bench.btyd_summary, bench.btyd_models'; consume='sum(v)' ;;
				pv) query='SELECT segment.predicted_clv(bg, gg, x, t_x, "T", mean_value, 365, 30, 0.01) AS v FROM bench.btyd_summary, bench.btyd_models'; consume='sum(v)' ;;
			esac
			read -r ms kb < <(run_query "$query" "$consume")
			pr_times[$q]+="$ms "
			pr_peaks[$q]=$kb
			say "run $run ($q): $ms ms, peak $kb kB"
		done
	done
	for q in pb pg pa pe pv; do pr_times[$q]=$(echo "${pr_times[$q]}" | median); done
	predict_refresh_bench
	pr_ours=$(psql_bench -At -F ' ' -c "SELECT b.r, b.alpha, b.a, b.b, b.iterations, g.p, g.q, g.gamma
		FROM bench.btyd_models, segment.bgnbd_info(bg) AS b, segment.gammagamma_info(gg) AS g")
	pr_scipy=""
	local python=""
	for p in ${BENCH_PYTHON:-python3 /usr/bin/python3}; do
		if "$p" -c 'import scipy, numpy' >/dev/null 2>&1; then python=$p; break; fi
	done
	if [ -z "$python" ] && command -v apt-get >/dev/null; then
		say "installing python3-scipy (apt) for the comparison"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-scipy >/dev/null 2>&1 || true
		/usr/bin/python3 -c 'import scipy, numpy' >/dev/null 2>&1 && python=/usr/bin/python3
	fi
	if [ -z "$python" ]; then
		say "SciPy is not importable (apt-get install python3-scipy): no comparison"
		return 0
	fi
	psql_bench -At -c "COPY bench.btyd_summary TO STDOUT WITH (FORMAT csv)" >"$dir/btyd_summary.csv"
	say "SciPy BFGS on the same summaries ($python)"
	pr_scipy=$("$python" "$SEGMENT_ROOT/test/bench/btyd_scipy.py" "$dir/btyd_summary.csv") || pr_scipy=""
	echo "$pr_scipy" | sed 's/^/    scipy: /'
}

# (rn) a refresh of the bench orders without predictions and (rp) with them
# (predict => true: the purchase days, both fits and every customer scored
# and written): the cost of predicting in a refresh.
predict_refresh_bench() {
	local run q ms kb scan cluster score history swap method rows scanned started
	for q in "bench_np false" "bench_p true"; do
		set -- $q
		if ! psql_bench -At -c "SELECT segment.create_segmentation('$1', 'bench.orders', 'customer_id', 'ordered_at',
				'amount', clusters => 0, as_of => '$AS_OF', target_table => 'bench.$1', predict => $2)" >/dev/null; then
			pr_refresh_error="create_segmentation('$1') failed"
			return 0
		fi
	done
	for run in $(seq "$RUNS"); do
		for q in rn rp; do
			run_refresh "$([ $q = rn ] && echo bench_np || echo bench_p)" || { pr_refresh_error=$refresh_error; return 0; }
			read -r ms kb scan cluster score history swap method rows scanned started <<<"$rr"
			pr_times[$q]+="$ms "
			pr_peaks[$q]=$kb
			pr_phase[$q]="scan $scan ms ($method), score $score ms"
			say "run $run ($q): $ms ms, peak $kb kB, scan $scan ($method), score $score ms"
		done
	done
	for q in rn rp; do pr_times[$q]=$(echo "${pr_times[$q]}" | median); done
	pr_fit_ms=$(psql_bench -At -c "SELECT round(predict_ms) FROM segment.job_runs WHERE segmentation = 'bench_p'
		ORDER BY run_id DESC LIMIT 1")
}

predict_summary() {
	local n distinct repeaters
	read -r n distinct repeaters <<<"$pr_shape"
	echo
	echo "Predictive models: $n customers ($distinct distinct summaries, $repeaters with repeat purchases), summaries in days, median of $RUNS runs, one core"
	printf '  %-58s %9s %8s\n' "" "ms" "peak MB"
	printf '  %-58s %9.0f\n' "customer_summary over the orders (plain SQL, once)" "$pr_summary_ms"
	printf '  %-58s %9.0f %8.0f\n' "(pb) segment.bgnbd_fit, reading the table included" "${pr_times[pb]}" "$(( ${pr_peaks[pb]} / 1024 ))"
	printf '  %-58s %9.0f %8.0f\n' "(pg) segment.gammagamma_fit" "${pr_times[pg]}" "$(( ${pr_peaks[pg]} / 1024 ))"
	printf '  %-58s %9.0f %8.0f\n' "(pa) bgnbd_p_alive of every customer" "${pr_times[pa]}" "$(( ${pr_peaks[pa]} / 1024 ))"
	printf '  %-58s %9.0f %8.0f\n' "(pe) bgnbd_expected_orders in 365 days of every customer" "${pr_times[pe]}" "$(( ${pr_peaks[pe]} / 1024 ))"
	printf '  %-58s %9.0f %8.0f\n' "(pv) predicted_clv, 365 days in 30-day periods" "${pr_times[pv]}" "$(( ${pr_peaks[pv]} / 1024 ))"
	echo "  segment: BG/NBD r alpha a b (iterations) = $(echo "$pr_ours" | awk '{print $1, $2, $3, $4, "(" $5 ")"}'); Gamma-Gamma p q gamma = $(echo "$pr_ours" | awk '{print $6, $7, $8}')"
	if [ -n "$pr_scipy" ]; then
		local sb sg
		sb=$(echo "$pr_scipy" | awk '/^bgnbd_ms/ {print $2}')
		sg=$(echo "$pr_scipy" | awk '/^gammagamma_ms/ {print $2}')
		echo "  SciPy:   BG/NBD r alpha a b = $(echo "$pr_scipy" | awk '/^bgnbd_params/ {print $2, $3, $4, $5}') ($(echo "$pr_scipy" | awk '/^bgnbd_evaluations/ {print $2}') evaluations, converged $(echo "$pr_scipy" | awk '/^bgnbd_converged/ {print $2}')); Gamma-Gamma p q gamma = $(echo "$pr_scipy" | awk '/^gammagamma_params/ {print $2, $3, $4}')"
		awk -v pb="${pr_times[pb]}" -v pg="${pr_times[pg]}" -v sb="$sb" -v sg="$sg" -v pk="$(echo "$pr_scipy" | awk '/^peak_rss_kb/ {print $2}')" 'BEGIN {
			printf "  SciPy BFGS (arrays in memory, fit only): BG/NBD %.0f ms, Gamma-Gamma %.0f ms, peak %.0f MB\n", sb, sg, pk / 1024
			printf "  pb/SciPy = %.3f  pg/SciPy = %.3f  (pb+pg)/SciPy = %.3f (target <= 0.05)\n", pb / sb, pg / sg, (pb + pg) / (sb + sg) }'
	else
		echo "  SciPy: not measured"
	fi
	if [ -n "${pr_refresh_error:-}" ]; then
		echo "  refresh with predictions: failed: $pr_refresh_error"
	elif [ -n "${pr_times[rp]:-}" ]; then
		printf '  %-58s %9.0f %8.0f  %s\n' "(rn) refresh of the bench orders, predict off" "${pr_times[rn]}" "$(( ${pr_peaks[rn]} / 1024 ))" "${pr_phase[rn]}"
		printf '  %-58s %9.0f %8.0f  %s, fits %s ms\n' "(rp) the same with predict => true" "${pr_times[rp]}" "$(( ${pr_peaks[rp]} / 1024 ))" "${pr_phase[rp]}" "$pr_fit_ms"
		awk -v p="${pr_times[rp]}" -v n="${pr_times[rn]}" 'BEGIN { printf "  rp/rn = %.2f (target <= 1.3)\n", p / n }'
	fi
}

# BENCH_PERF: one refresh of bench_seg under perf record -g attached to its
# backend (wall-clock sample times, so that each phase's samples can be cut
# out with the phase times of segment.job_runs), then one under auto_explain
# (nested statements, analyze without timing) for the time of each statement.
# Writes perf.data, perf-report.txt (whole refresh), perf-report-<phase>.txt
# and statements.txt into $BENCH_PERF.
refresh_profile() {
	local out=$BENCH_PERF pidfile="$dir/perf.pid" psql_pid perf_pid pid="" i phases ph from to log_from
	mkdir -p "$out"
	say "profiling one refresh of bench_seg with perf into $out"
	psql_bench -c CHECKPOINT
	printf '%s\n' "SELECT pg_backend_pid() \\g $pidfile" "SELECT pg_sleep(1);" '\timing on' \
		"SELECT segment.refresh('bench_seg');" | psql_bench -At -f - >"$dir/perf.psql.out" 2>&1 &
	psql_pid=$!
	for i in $(seq 200); do
		pid=$( (tr -dc 0-9 <"$pidfile") 2>/dev/null || true)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	[ -n "$pid" ] || { say "no backend pid: no profile"; wait "$psql_pid" || true; return 0; }
	as_root perf record -k CLOCK_REALTIME -g -F 999 -p "$pid" -o "$out/perf.data" >"$dir/perf.record.out" 2>&1 &
	perf_pid=$!
	wait "$psql_pid" || { refresh_failed "$(cat "$dir/perf.psql.out")"; return 0; }
	# perf stops when the backend exits; SIGINT in case it has not yet
	sleep 0.5
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" || true
	say "profiled refresh: $(awk '/^Time:/ {print $2}' "$dir/perf.psql.out") ms (with perf attached)"
	perf_top() { # <report file> <lines>: the top symbols, without the empty IPC columns
		grep -E '^ +[0-9]' "$1" | head -"$2" | sed -E 's/ +- +- *$//; s/ +$//; s/^/      /' || true
	}
	as_root perf report -i "$out/perf.data" --no-children --stdio --sort dso,symbol --percent-limit 0.3 \
		-g none >"$out/perf-report.txt" 2>/dev/null || true
	echo "    whole refresh, self time:"
	perf_top "$out/perf-report.txt" 12
	# phase slices: the scan starts within milliseconds of started_at; the
	# commit (old partition's files dropped) is what follows the swap
	phases=$(psql_bench -At -F ' ' -c "SELECT extract(epoch FROM started_at), scan_ms, cluster_ms, score_ms,
		history_ms, swap_ms FROM segment.job_runs WHERE segmentation = 'bench_seg' ORDER BY run_id DESC LIMIT 1" |
		awk '{t = $1; n = split("scan cluster score history swap", name, " ")
			for (i = 1; i <= n; i++) {d = $(i + 1) / 1000; if (d > 0) printf "%s %.6f %.6f\n", name[i], t, t + d; t += d}
			printf "commit %.6f %.6f\n", t, t + 60}')
	while read -r ph from to; do
		as_root perf report -i "$out/perf.data" --time "$from,$to" --no-children --stdio --sort dso,symbol \
			--percent-limit 0.3 -g none >"$out/perf-report-$ph.txt" 2>/dev/null || true
		echo "    $ph phase ($(grep -m1 '^# Samples' "$out/perf-report-$ph.txt" | awk '{print $3}') samples at 999 Hz), self time:"
		perf_top "$out/perf-report-$ph.txt" 6
	done <<<"$phases"

	say "one refresh of bench_seg under auto_explain: its statements over 100 ms"
	psql_bench -c CHECKPOINT
	log_from=$(( $(wc -l <"$dir/server.log") + 1 ))
	printf '%s\n' "LOAD 'auto_explain';" "SET auto_explain.log_min_duration = '100ms';" \
		"SET auto_explain.log_nested_statements = on;" "SET auto_explain.log_analyze = on;" \
		"SET auto_explain.log_timing = off;" "SELECT segment.refresh('bench_seg');" | psql_bench -At -f - >/dev/null
	# "duration: <ms> ms  plan:", then "Query Text: <first line>" (EXECUTE's
	# text may start on the next line): one line per statement
	tail -n +"$log_from" "$dir/server.log" | awk '
		/duration: [0-9.]+ ms +plan:/ {ms = $0; sub(/.*duration: /, "", ms); sub(/ ms.*/, "", ms); want = 1; next}
		want && /Query Text:/ {q = $0; sub(/.*Query Text: */, "", q); if (q != "") {printf "%10.0f ms  %s\n", ms, substr(q, 1, 110); want = 0}; next}
		want && NF > 0 {q = $0; sub(/^[ \t]+/, "", q); printf "%10.0f ms  %s\n", ms, substr(q, 1, 110); want = 0}' >"$out/statements.txt"
	sed 's/^/    /' "$out/statements.txt"
}

# The incremental part's lines (refresh_summary's, or alone).
incremental_summary() {
	[ -n "${inc_times[ri]:-}" ] || return 0
	printf '  %-50s %8.0f %8.0f\n' "(ri) incremental refresh (triggers), $inc_orders new orders" "${inc_times[ri]}" "$(( ${inc_peaks[ri]} / 1024 ))"
	printf '  %-50s %8.0f %8.0f\n' "(rw) incremental refresh (watermark), the same" "${inc_times[rw]}" "$(( ${inc_peaks[rw]} / 1024 ))"
	printf '  %-50s %8.0f %8.0f\n' "(rf) full refresh of the same orders" "${inc_times[rf]}" "$(( ${inc_peaks[rf]} / 1024 ))"
	echo "  kind:customers changed of each incremental run (ri rw ri rw ...): $inc_kinds"
	awk -v c="$inc_customers" -v sc="${inc_phase[ri.scan]}" -v so="${inc_phase[ri.score]}" \
		-v hi="${inc_phase[ri.history]}" -v sw="${inc_phase[ri.swap]}" -v t="${inc_times[ri]}" 'BEGIN {
		printf "  (ri) phases: read %.0f ms (the new orders and the last table), score+write+index %.0f ms, history %.0f ms, swap %.0f ms\n", sc, so, hi, sw
		printf "  (ri) per customer of the table (%d): %.2f us in all, %.2f us scoring, writing and indexing\n", c, t * 1000 / c, so * 1000 / c }'

	awk -v ri="${inc_times[ri]}" -v rw="${inc_times[rw]}" -v rf="${inc_times[rf]}" -v wi="${inc_times[wi]}" -v w0="${inc_times[w0]}" \
		-v n="$INC_RUNS" -v m="$RUNS" 'BEGIN {
		printf "  ri/rf = %.2f  rw/rf = %.2f (target <= 0.4; ri, rw median of %d runs, rf of %d)\n", ri / rf, rw / rf, n, m
		printf "  the insert of the new orders: %.0f ms with the capture triggers, %.0f ms into a copy with the same indexes and no triggers (x%.1f)\n", wi, w0, wi / w0 }'
	read -r log_bytes log_refreshes log_rows snapshot_bytes <<<"$history_sizes"
	awk -v lb="$log_bytes" -v n="$log_refreshes" -v r="$log_rows" -v sb="$snapshot_bytes" 'BEGIN {
		printf "  history after %d kept refreshes: the log %.1f MB (%d rows), snapshots of every customer would take %.1f MB (%.1f MB each)\n",
			n, lb / 1048576, r, n * sb / 1048576, sb / 1048576 }'
}

# BENCH_ONLY=incremental: bench_seg for (rf), then the incremental part.
incremental_only_bench() {
	psql_bench -At -c "SELECT segment.create_segmentation('bench_seg', 'bench.orders', 'customer_id', 'ordered_at', 'amount',
		clusters => 0, as_of => '$AS_OF', target_table => 'bench.bench_seg')" >/dev/null ||
		{ refresh_error="create_segmentation('bench_seg') failed"; return 0; }
	incremental_bench || return 0
}

incremental_only_summary() {
	echo
	echo "Incremental refresh benchmark: $(psql_bench -At -c "SELECT count(*) FROM bench.orders") orders after the runs, $CUSTOMERS customers to begin with, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), $(nproc) cores"
	if [ -n "$refresh_error" ]; then
		echo "  failed:"
		echo "$refresh_error" | sed 's/^/    /'
		return 0
	fi
	printf '  %-50s %8s %8s\n' "" "ms" "peak MB"
	incremental_summary
}

refresh_summary() {
	local orders q label
	orders=$(psql_bench -At -c "SELECT count(*) FROM bench.orders")
	echo
	echo "Refresh benchmark: $orders orders, $CUSTOMERS customers, median of $RUNS runs, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), $(nproc) cores"
	if [ -n "$refresh_error" ]; then
		echo "  failed:"
		echo "$refresh_error" | sed 's/^/    /'
		return 0
	fi
	printf '  %-50s %8s %8s %8s %8s %8s %8s %8s\n' "" "ms" "peak MB" "scan" "cluster" "score" "history" "swap"
	for q in r rk r1 rs; do
		case $q in
			r) label="(r)  refresh, no clustering" ;;
			rk) label="(rk) refresh, k-means k = $SEG_K" ;;
			r1) label="(r1) refresh, no clustering, scan alone" ;;
			rs) label="(rs) refresh, SQL path (fast_scan off)" ;;
		esac
		printf '  %-50s %8.0f %8.0f %8.0f %8.0f %8.0f %8.0f %8.1f\n' "$label" "${rf_times[$q]}" "$(( ${rf_peaks[$q]} / 1024 ))" \
			"${rf_phase[$q.scan]}" "${rf_phase[$q.cluster]}" "${rf_phase[$q.score]}" "${rf_phase[$q.history]}" "${rf_phase[$q.swap]}"
	done
	printf '  %-50s %8.0f %8.0f\n' "(a)  plain GROUP BY customer, one core" "${rf_times[a]}" "$(( ${rf_peaks[a]} / 1024 ))"
	printf '  %-50s %8.0f %8.0f\n' "(a2) plain GROUP BY customer, 2 parallel workers" "${rf_times[a2]}" "$(( ${rf_peaks[a2]} / 1024 ))"
	printf '  %-50s %8.0f %8.0f\n' "(b)  hand-written SQL table (CTAS + NTILE + index)" "${rf_times[b]}" "$(( ${rf_peaks[b]} / 1024 ))"
	if [ -n "$duck_ms" ]; then
		printf '  %-50s %8.0f %8.0f\n' "(c)  DuckDB RFM (whole process, all cores)" "$duck_ms" "$(( duck_kb / 1024 ))"
	else
		printf '  %-50s %8s\n' "(c)  DuckDB RFM" "not run (the RFM part measures it)"
	fi
	echo "  phase columns: ms from segment.job_runs, median of each phase; r, rk: segment.parallel_scan = auto; peak MB: the leader"
	awk -v r="${rf_times[r]}" -v rk="${rf_times[rk]}" -v r1="${rf_times[r1]}" -v a="${rf_times[a]}" -v a2="${rf_times[a2]}" \
		-v b="${rf_times[b]}" -v sc="${rf_phase[r.scan]}" -v so="${rf_phase[r.score]}" -v c="$duck_ms" 'BEGIN {
		printf "  r/a = %.2f (target <= 0.8)   r/b = %.2f (target <= 0.4)   rk/a = %.2f (target <= 1.0)\n", r / a, r / b, rk / a
		printf "  r/a2 = %.2f   r1/a = %.2f", r / a2, r1 / a
		if (c != "") printf "   (scan+score)/c = %.2f (target <= 1.0)", (sc + so) / c
		printf "\n" }'
	incremental_summary
	if [ -n "${reader:-}" ]; then
		read -r n during max swap p999 bad <<<"$reader"
		printf '  reader during refresh: %d reads (%d overlapping the refresh), max wait %.1f ms (%.1f ms within 1 s of the swap), p99.9 %.1f ms (target max <= 50 ms)%s\n' \
			"$n" "$during" "$max" "$swap" "$p999" "$([ "$bad" -gt 0 ] && echo ", $bad failed")"
	else
		echo "  reader during refresh: not measured"
	fi
}

# CPU seconds (user + system) a process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }

scheduler_bench() {
	local seconds=${BENCH_SCHED_SECONDS:-60} pid cpu0 cpu1 t0 t1
	say "scheduler: 100 segmentations of 200 customers, each scheduled every 10 s, for $seconds s"
	psql_bench -c "SELECT segment.generate_demo_data('sched_bench', customers => 200, touches_per_order => 0)" \
		-c "SELECT count(segment.create_segmentation('sched_' || i, 'sched_bench.orders', 'customer_id', 'ordered_at',
		        'amount', clusters => 0, target_table => 'sched_bench.seg_' || i)) FROM generate_series(1, 100) AS i" \
		-c "DELETE FROM segment.runs" >/dev/null
	scheduled_at=$(psql_bench -At -c "SELECT now() FROM (SELECT count(segment.schedule('sched_' || i, '10 seconds'))
		FROM generate_series(1, 100) AS i) AS s")
	pid=$(psql_bench -At -c "SELECT segment._scheduler_pid()")
	cpu0=$(cpu_seconds "$pid")
	t0=$(date +%s.%N)
	sleep "$seconds"
	cpu1=$(cpu_seconds "$pid")
	t1=$(date +%s.%N)
	sched_busy=$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.3f %.1f", b - a, t1 - t0}')
	# a run's delay: its start (set by the job worker) after it came due (the
	# previous run's start + 10 s; the first: the schedule call + 10 s)
	sched_delays=$(psql_bench -At -F ' ' -c "
		WITH runs AS (
			SELECT started_at, lag(started_at) OVER w IS NULL AS first,
			       started_at - coalesce(lag(started_at) OVER w, '$scheduled_at') - interval '10 seconds' AS delay, status
			FROM segment.runs WHERE segmentation LIKE 'sched\_%' AND status <> 'skipped'
			WINDOW w AS (PARTITION BY segmentation ORDER BY run_id))
		SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'),
		       round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY delay)))::int,
		       round(1000 * extract(epoch FROM percentile_cont(0.95) WITHIN GROUP (ORDER BY delay)))::int,
		       round(1000 * extract(epoch FROM max(delay)))::int,
		       round(1000 * extract(epoch FROM percentile_cont(0.95) WITHIN GROUP (ORDER BY delay) FILTER (WHERE NOT first)))::int,
		       round(1000 * extract(epoch FROM max(delay) FILTER (WHERE NOT first)))::int
		FROM runs WHERE delay IS NOT NULL")
	# idle: every job paused; the scheduler sleeps until woken
	psql_bench -c "SELECT count(segment.pause('sched_' || i)) FROM generate_series(1, 100) AS i" >/dev/null
	sleep 2
	cpu0=$(cpu_seconds "$pid")
	t0=$(date +%s.%N)
	sleep 30
	cpu1=$(cpu_seconds "$pid")
	t1=$(date +%s.%N)
	sched_idle=$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.3f %.1f", b - a, t1 - t0}')
	sched_peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	sched_errors=$(psql_bench -At -c "SELECT status || ': ' || error_message || ' (' || count(*) || ')' FROM segment.runs
		WHERE segmentation LIKE 'sched\_%' AND status NOT IN ('succeeded', 'running') GROUP BY status, error_message")
	sched_running=$(psql_bench -At -c "SELECT count(*) FROM segment.runs WHERE status = 'running'")
}

scheduler_summary() {
	local runs ok p50 p95 max p95_later max_later busy busy_s idle idle_s
	read -r runs ok p50 p95 max p95_later max_later <<<"$sched_delays"
	read -r busy busy_s <<<"$sched_busy"
	read -r idle idle_s <<<"$sched_idle"
	echo
	echo "Scheduler benchmark: 100 segmentations (200 customers each) every 10 s, segment.max_workers ${BENCH_SCHED_WORKERS:-8}, $(nproc) cores"
	printf '  runs measured: %d (%d succeeded, %d still running at the end)\n' "$runs" "$ok" "$sched_running"
	printf '  launch delay after due: p50 %d ms, p95 %d ms (target <= 1000), max %d ms\n' "$p50" "$p95" "$max"
	printf '    without the first round (all 100 due at the same instant): p95 %d ms, max %d ms\n' "$p95_later" "$max_later"
	printf '  scheduler CPU: %.3f s in %.0f s with the jobs running, %.3f s in %.0f s idle (all paused); peak RSS %d MB\n' \
		"$busy" "$busy_s" "$idle" "$idle_s" "$(( sched_peak / 1024 ))"
	[ -z "$sched_errors" ] || echo "$sched_errors" | sed 's/^/  not succeeded: /'
}

attribution_bench() {
	local customers=${BENCH_ATTR_CUSTOMERS:-100000} out run ms kb
	say "attribution: generating $customers customers, about 10 orders and 100 touches each"
	psql_bench -c "SELECT * FROM segment.generate_demo_data('attr', customers => $customers, mean_orders => 10,
		touches_per_order => 10)" -c "VACUUM ANALYZE attr.orders, attr.touchpoints" >/dev/null
	attr_sizes=$(psql_bench -At -F ' ' -c "SELECT (SELECT count(*) FROM attr.orders), (SELECT count(*) FROM attr.touchpoints)")
	say "attribution: segmentation with touchpoints and spend (first refresh)"
	psql_bench -c "SELECT segment.create_segmentation('attr', 'attr.orders', 'customer_id', 'ordered_at', 'amount',
		order_id_column => 'order_id', clusters => 0, as_of => '$AS_OF', touchpoints => 'attr.touchpoints',
		touch_time_column => 'touched_at', spend => 'attr.spend', target_table => 'attr.segments')" >/dev/null
	attr_ms=""
	for run in $(seq "$RUNS"); do
		run_refresh attr || return 0
		read -r ms kb _ <<<"$rr"
		out=$(psql_bench -At -c "SELECT round(attribution_ms) FROM segment.job_runs WHERE segmentation = 'attr' ORDER BY run_id DESC LIMIT 1")
		attr_ms+="$out "
		attr_peak=$kb
		say "run $run (attribution): refresh $ms ms, attribution $out ms, peak $kb kB"
		read -r ms kb < <(run_query "SELECT channel, count(*) FROM attr.touchpoints GROUP BY channel" "count(*)")
		attr_g+="$ms "
		say "run $run (g): $ms ms"
	done
	attr_ms=$(echo "$attr_ms" | median)
	attr_g=$(echo "$attr_g" | median)
	# (ts) once, the SQL path the attribution takes for views (segment.fast_scan off)
	run_refresh attr "SET segment.fast_scan = off;" || return 0
	attr_sql=$(psql_bench -At -c "SELECT round(attribution_ms) FROM segment.job_runs WHERE segmentation = 'attr' ORDER BY run_id DESC LIMIT 1")
	say "(ts) attribution on the SQL path: $attr_sql ms"
	attr_markov=$(psql_bench -At -F ' ' <<'SQL'
\timing on
CREATE TEMP TABLE p50 AS SELECT ARRAY(SELECT 'ch' || ((i * 7 + j * 13) % 50) FROM generate_series(1, 1 + i % 6) AS j) AS path,
       i % 3 = 0 AS converted FROM generate_series(1, 1000000) AS i;
CREATE TEMP TABLE m50 AS SELECT segment.markov_fit(path, converted) AS m FROM p50;
SELECT count(*) FROM segment.markov_removal_effects((SELECT m FROM m50));
SQL
)
	attr_markov=$(echo "$attr_markov" | awk '/^Time:/ {t[++n] = $2} END {printf "%.0f %.1f", t[2], t[3]}')
}

attribution_summary() {
	local orders touches fit solve
	read -r orders touches <<<"$attr_sizes"
	read -r fit solve <<<"$attr_markov"
	echo
	echo "Attribution benchmark: $touches touchpoints, $orders orders, median of $RUNS runs, $(nproc) cores"
	printf '  %-58s %8.0f ms   peak %d MB (the refresh)\n' "(t) all six models x 3 segment types, in the refresh" "$attr_ms" "$(( attr_peak / 1024 ))"
	printf '  %-58s %8.0f ms\n' "(g) plain GROUP BY channel over the touchpoints" "$attr_g"
	printf '  %-58s %8.0f ms (one run)\n' "(ts) the same on the SQL path (views; segment.fast_scan off)" "$attr_sql"
	awk -v t="$attr_ms" -v g="$attr_g" 'BEGIN {printf "  t/g = %.1f (target <= 3)\n", t / g}'
	printf '  Markov, 1M paths over 50 channels: fit %s ms, removal effects %s ms (target < 1000 ms)\n' "$fit" "$solve"
}

# The soak test on a cluster of its own, longer than in make test.
soak_bench() {
	local work
	work=$(server_user_dir soak)
	cp -r "$SEGMENT_ROOT/test" "$work/"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
	say "soak: 300 scheduled segmentations for ${BENCH_SOAK_SECONDS:-600} s"
	soak_log=$( (cd "$work" && as_server_user env SOAK_SECONDS="${BENCH_SOAK_SECONDS:-600}" \
		SOAK_FAST_INTERVAL="${BENCH_SOAK_FAST_INTERVAL:-5}" SOAK_SLOW_INTERVAL="${BENCH_SOAK_SLOW_INTERVAL:-80}" \
		PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" TESTDIR="$work" \
		prove -v -I "$PGXS_DIR/test/perl" test/t/006_scheduler_soak.pl) 2>&1 || true)
	rm -rf "$work"
}

soak_summary() {
	echo
	echo "Scheduler soak: 300 segmentations (20 every ${BENCH_SOAK_FAST_INTERVAL:-5} s, 280 every ${BENCH_SOAK_SLOW_INTERVAL:-80} s), segment.max_workers 4, $(nproc) cores"
	echo "$soak_log" | grep -E '^# (scheduler memory|scheduled runs|runs in the window)|^(not )?ok|^Result' | sed 's/^/  /'
}

if part rfm; then rfm_bench; fi
if part kmeans; then make_kmeans_features; kmeans_bench; fi
if part refresh; then refresh_bench; fi
if [ "$ONLY" = incremental ]; then incremental_only_bench; fi
if part scheduler; then scheduler_bench; fi
if part attribution; then attribution_bench; fi
if part predict; then predict_bench; fi
if part soak; then soak_bench; fi
if part rfm; then rfm_summary; fi
if part kmeans; then kmeans_summary; fi
if part refresh; then refresh_summary; fi
if [ "$ONLY" = incremental ]; then incremental_only_summary; fi
if part scheduler; then scheduler_summary; fi
if part attribution; then attribution_summary; fi
if part predict; then predict_summary; fi
if part soak; then soak_summary; fi
[ -z "${refresh_error:-}" ]
