#!/usr/bin/env bash
# test/fuzz/run.sh -- the fuzzer on a throwaway cluster: starts a server with
# segment preloaded, loads small demo data and two segmentations (one owned
# by the superuser, one by the fuzzer's non-superuser role), runs
# test/fuzz/fuzz.py, and stops the cluster.  Exits non-zero on any finding
# (a crash, a hang, XX000, or a syntax error in SQL the extension generated).
#   FUZZ_SEED, FUZZ_CALLS, FUZZ_SECONDS   override the defaults (fixed seed,
#   6000 calls, 60 s), FUZZ_ARGS more options of fuzz.py (--only REGEX,
#   --report FILE, --verbose); SEGMENT_ALREADY_BUILT=1 skips the build.
# Run by `make test`; alone: bash test/fuzz/run.sh
source "$(dirname "$0")/../../scripts/common.sh"

ensure_postgres
[ -n "${SEGMENT_ALREADY_BUILT:-}" ] || build_and_install
command -v python3 >/dev/null || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null

dir=$(server_user_dir fuzz)
port=${FUZZ_PORT:-$((20000 + RANDOM % 20000))}
stop_cluster() {
	as_server_user pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	if [ -n "${FUZZ_KEEP:-}" ]; then echo "fuzz: files kept in $dir"; else rm -rf "$dir"; fi
}
trap stop_cluster EXIT

as_server_user initdb -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<EOF
shared_preload_libraries = 'segment'
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
max_worker_processes = 16
max_parallel_workers = 4
EOF
say "fuzz: starting a throwaway cluster on port $port"
as_server_user pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

su_psql() { as_server_user psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres "$@"; }
su_psql -U "$(server_user)" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION segment;
CREATE ROLE segment_fuzz LOGIN;
CREATE SCHEMA fuzz AUTHORIZATION segment_fuzz;
SELECT * FROM segment.generate_demo_data('demo', customers => 300, seed => 7);
GRANT USAGE ON SCHEMA demo TO segment_fuzz;
GRANT SELECT ON ALL TABLES IN SCHEMA demo TO segment_fuzz;
SELECT segment.create_segmentation('fz_admin', 'demo.orders', 'customer_id', 'ordered_at', 'amount',
                                   touchpoints => 'demo.touchpoints', touch_time_column => 'touched_at', touch_channel_column => 'channel',
                                   clusters => 3);
SELECT segment.refresh('fz_admin');
SQL
su_psql -U segment_fuzz >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE fuzz.orders AS SELECT * FROM demo.orders;
SELECT segment.create_segmentation('fz_user', 'fuzz.orders', 'customer_id', 'ordered_at', 'amount',
                                   order_id_column => 'order_id', target_table => 'fuzz.fz_user_segments',
                                   touchpoints => 'demo.touchpoints', touch_time_column => 'touched_at', touch_channel_column => 'channel',
                                   spend => 'demo.spend', spend_channel_column => 'channel',
                                   spend_day_column => 'day', spend_cost_column => 'cost',
                                   carts => 'demo.carts', cart_time_column => 'added_at', clusters => 4);
SELECT segment.refresh('fz_user');
SQL

say "fuzz: calling every function of the extension as a non-superuser"
as_server_user python3 "$SEGMENT_ROOT/test/fuzz/fuzz.py" --psql "$PG_BINDIR/psql" --host "$dir" --port "$port" \
	--superuser "$(server_user)" --log "$dir/server.log" --seed "${FUZZ_SEED:-20240601}" \
	--calls "${FUZZ_CALLS:-6000}" --seconds "${FUZZ_SECONDS:-60}" ${FUZZ_ARGS:-}
