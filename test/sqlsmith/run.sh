#!/usr/bin/env bash
# A bounded sqlsmith run (part of make test): random queries, as a
# non-superuser that owns a schema, demo data and two segmentations (one
# scheduled, so the scheduler refreshes it during the run), against a
# throwaway cluster.  Passes when the server never crashed: the postmaster is
# still up with the same start time (restart_after_crash is off) and its log
# holds no "terminated by signal".  Ends with "sqlsmith: N queries, M crashes".
#
#   SQLSMITH_QUERIES (5000), SQLSMITH_SEED (1), SQLSMITH_TIMEOUT (300 seconds)
#   SEGMENT_ALREADY_BUILT=1: use the installed extension (run_tests.sh built it)
source "$(dirname "$0")/../../scripts/common.sh"

QUERIES=${SQLSMITH_QUERIES:-5000}
SEED=${SQLSMITH_SEED:-1}
LIMIT=${SQLSMITH_TIMEOUT:-300}
PORT=${SQLSMITH_PORT:-54331}

ensure_postgres
if ! command -v sqlsmith >/dev/null; then
	say "installing sqlsmith"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sqlsmith >/dev/null
fi
[ -n "${SEGMENT_ALREADY_BUILT:-}" ] || build_and_install

dir=$(server_user_dir sqlsmith)
stop_cluster() {
	as_server_user pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
trap 'stop_cluster; rm -rf "$dir"' EXIT

as_server_user initdb -D "$dir/data" -A trust -U "$(server_user)" >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $PORT
shared_preload_libraries = 'segment'
max_worker_processes = 16
restart_after_crash = off
# the log keeps crashes, not the errors of the random queries
log_min_messages = log
log_min_error_statement = panic
CONF
as_server_user pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

psql_su() { as_server_user psql -X -q -A -t -h "$dir" -p "$PORT" -v ON_ERROR_STOP=1 "$@"; }
psql_su -d postgres -c "CREATE DATABASE smith"
psql_su -d smith -f - <"$SEGMENT_ROOT/test/sqlsmith/setup.sql" >/dev/null
started=$(psql_su -d postgres -c "SELECT pg_postmaster_start_time()")

say "sqlsmith: $QUERIES queries as a non-superuser, seed $SEED"
begin=$SECONDS
timed_out=
sqlsmith --target="host=$dir port=$PORT dbname=smith user=smith" \
	--seed="$SEED" --max-queries="$QUERIES" --exclude-catalog --verbose --dump-all-queries \
	>"$dir/queries.sql" 2>"$dir/sqlsmith.log" &
smith=$!
# sqlsmith goes on after losing the server: stop it at the first crash
while kill -0 "$smith" 2>/dev/null; do
	if grep -q 'terminated by signal' "$dir/server.log" || [ ! -f "$dir/data/postmaster.pid" ]; then
		kill "$smith" 2>/dev/null || true
		break
	fi
	if [ $((SECONDS - begin)) -ge "$LIMIT" ]; then
		kill "$smith" 2>/dev/null || true
		timed_out=1
		break
	fi
	sleep 1
done
rc=0
wait "$smith" || rc=$?
# one progress character per query: . ok, e error, t timeout, S syntax, C connection lost
ran=$( (grep -E '^[.eCSt]+$' "$dir/sqlsmith.log" || true) | tr -d '\n' | wc -c)

now=$(psql_su -d postgres -c "SELECT pg_postmaster_start_time()" 2>/dev/null || echo "down")
crashes=$(grep -c 'terminated by signal' "$dir/server.log" || true)
if [ "$now" != "$started" ] && [ "$crashes" = 0 ]; then
	crashes=1 # the server is gone without saying why
fi
if [ "$crashes" != 0 ]; then
	echo "--- server log"
	grep -v -E 'LOG: +(checkpoint|database system|segment scheduler)' "$dir/server.log" | tail -n 60
	# the log shows the first 1024 bytes of the query; the whole one is in queries.sql
	detail=$(awk '/Failed process was running: / { sub(/.*Failed process was running: /, ""); print; on = 1; next }
		on && !/^\t/ { exit }
		on { sub(/^\t/, ""); print }' "$dir/server.log" | head -c 900 || true)
	if [ -n "$detail" ]; then
		echo "--- the crashing query (sqlsmith seed $SEED; the whole run: $dir/queries.sql)"
		detail="$detail" awk 'BEGIN { RS = ";\n" } index($0, ENVIRON["detail"]) == 1 { print $0 ";"; exit }' "$dir/queries.sql"
	fi
	echo "files kept in $dir"
	trap 'stop_cluster' EXIT # keep the files
elif [ -n "$timed_out" ]; then
	echo "sqlsmith stopped after ${LIMIT}s (SQLSMITH_TIMEOUT), no crash"
elif [ "$rc" != 0 ]; then
	tail -n 20 "$dir/sqlsmith.log"
	echo "sqlsmith failed (exit $rc) without a server crash; files kept in $dir"
	trap 'stop_cluster' EXIT
	echo "sqlsmith: $ran queries, 0 crashes in $((SECONDS - begin))s"
	exit 1
fi
echo "sqlsmith: $ran queries, $crashes crashes in $((SECONDS - begin))s"
[ "$crashes" = 0 ]
