#!/usr/bin/env bash
# make bench -- RFM on 10M generated orders / 1M customers, measured in one run:
#   (a) plain GROUP BY customer      (f) the per-customer facts RFM needs, unscored
#   (b) hand-written NTILE(5) RFM    (c) the README's RFM from segment's blocks
#   (d) the same RFM in DuckDB (if node is present)
# Prints the median of BENCH_RUNS runs of each, the backend's peak RSS, and
# the ratios c/a, c/f, b/c and c/d.  BENCH_CUSTOMERS scales the data (default 1M).
source "$(dirname "$0")/../../scripts/common.sh"

CUSTOMERS=${BENCH_CUSTOMERS:-1000000}
RUNS=${BENCH_RUNS:-3}
PORT=${BENCH_PORT:-54329}
AS_OF='2026-01-01 00:00:00+00'

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

declare -A times peaks
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
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
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
