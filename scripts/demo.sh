#!/usr/bin/env bash
# make demo / make demo-stop -- a throwaway cluster with demo data, RFM scores
# and named segments.  Running `make demo` again reuses the running cluster and
# rebuilds the demo database.  The server listens on a Unix socket only.
source "$(dirname "$0")/common.sh"

PORT=${SEGMENT_DEMO_PORT:-54320}
AS_OF='2026-01-01 00:00:00+00'
RETAIL_AS_OF='2011-12-10 00:00:00+00'

# The cluster lives in .demo/ of the checkout when the server user can reach
# it, else (a checkout in a home directory closed to "postgres") under /tmp.
demo_dir() {
	if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$SEGMENT_ROOT" 2>/dev/null; then
		echo "$SEGMENT_ROOT/.demo"
	else
		echo "${TMPDIR:-/tmp}/segment-demo"
	fi
}

# One row per named segment of an RFM table made by the README's query.
segment_summary_sql() {
	cat <<SQL
SELECT rfm_segment AS segment, count(*) AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS "share %",
       round(avg(recency_days)::numeric, 0) AS avg_recency_days,
       round(avg(frequency), 1) AS avg_orders,
       round(avg(monetary), 2) AS avg_net_revenue
FROM $1 GROUP BY rfm_segment ORDER BY customers DESC;
SQL
}

DIR=$(demo_dir)
DATA=$DIR/data

stop() {
	if [ -f "$DATA/postmaster.pid" ]; then
		PATH="$(/usr/lib/postgresql/$PG_MAJOR/bin/pg_config --bindir 2>/dev/null):$PATH" \
			as_server_user pg_ctl -D "$DATA" -m fast -w stop >/dev/null && say "demo cluster stopped"
	fi
	rm -rf "$DIR"
	say "removed $DIR"
}

start() {
	ensure_postgres
	build_and_install

	if [ ! -f "$DATA/PG_VERSION" ]; then
		rm -rf "$DIR"
		mkdir -p "$DIR"
		chmod 700 "$DIR"
		[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
		say "creating a throwaway cluster in $DATA"
		as_server_user initdb -D "$DATA" -A trust -U "$(server_user)" >/dev/null
		cat >>"$DATA/postgresql.conf" <<CONF
# segment demo: Unix socket only, no TCP
listen_addresses = ''
unix_socket_directories = '$DIR'
unix_socket_permissions = 0700
port = $PORT
shared_preload_libraries = 'segment'
CONF
	fi
	if ! as_server_user pg_ctl -D "$DATA" status >/dev/null 2>&1; then
		as_server_user pg_ctl -D "$DATA" -l "$DIR/server.log" -w start >/dev/null
	else
		# a rebuilt library is loaded by a restart
		as_server_user pg_ctl -D "$DATA" -l "$DIR/server.log" -w restart >/dev/null
	fi

	psql_demo() { as_server_user psql -X -q -h "$DIR" -p "$PORT" -v ON_ERROR_STOP=1 "$@"; }
	psql_demo -d postgres -c "DROP DATABASE IF EXISTS segment_demo WITH (FORCE)" -c "CREATE DATABASE segment_demo"
	say "loading demo data (10,000 generated customers) and the UCI Online Retail invoices"
	psql_demo -d segment_demo -c "CREATE EXTENSION segment" \
		-c "SELECT relation, rows FROM segment.generate_demo_data()"
	psql_demo -d segment_demo \
		-c "CREATE TABLE segment_demo.online_retail (invoice_no text, invoice_date date, customer_id int4, total_price numeric(12,2))" \
		-c "COMMENT ON TABLE segment_demo.online_retail IS 'UCI Online Retail invoices 2010-12-01..2011-12-09 (CC BY 4.0, Daqing Chen, UCI Machine Learning Repository).'" \
		-c "\\copy segment_demo.online_retail FROM STDIN WITH (FORMAT csv, HEADER)" \
		<"$SEGMENT_ROOT/test/data/online_retail_invoices.csv"
	psql_demo -d segment_demo -c "CREATE VIEW segment_demo.online_retail_orders AS
		SELECT invoice_no AS order_id, customer_id, invoice_date::timestamp AT TIME ZONE 'UTC' AS ordered_at, total_price AS amount
		FROM segment_demo.online_retail" \
		-c "COMMENT ON VIEW segment_demo.online_retail_orders IS 'The Online Retail invoices with the column names of segment_demo.orders.'"

	say "RFM scores of the demo orders as of $AS_OF (the README's query)"
	{
		echo "SET search_path = segment_demo, public;"
		echo "CREATE TABLE segment_demo.rfm AS"
		cat "$SEGMENT_ROOT/test/bench/rfm_readme.sql"
		echo ";"
		echo "COMMENT ON TABLE segment_demo.rfm IS 'RFM scores of segment_demo.orders, made by make demo.';"
		echo "\\set as_of '$RETAIL_AS_OF'"
		echo "CREATE TABLE segment_demo.online_retail_rfm AS"
		sed 's/FROM orders$/FROM online_retail_orders/' "$SEGMENT_ROOT/test/bench/rfm_readme.sql"
		echo ";"
		echo "COMMENT ON TABLE segment_demo.online_retail_rfm IS 'RFM scores of the Online Retail customers as of $RETAIL_AS_OF, made by make demo.';"
		echo "\\echo"
		echo "\\echo 'Named RFM segments (segment_demo.rfm):'"
		segment_summary_sql segment_demo.rfm
		echo "\\echo 'The same segments on the real UCI Online Retail customers (segment_demo.online_retail_rfm):'"
		segment_summary_sql segment_demo.online_retail_rfm
		cat <<'SQL'
\echo 'A few demo customers:'
SELECT customer_id, round(recency_days::numeric, 1) AS recency_days, frequency, monetary,
       r_score AS r, f_score AS f, m_score AS m, rfm_code, rfm_segment
FROM segment_demo.rfm ORDER BY customer_id LIMIT 8;

-- k-means on the log facts: choose k, then cluster with it.
CREATE VIEW segment_demo.rfm_features AS
SELECT customer_id, ARRAY[log(1 + recency_days), log(1 + frequency), log(1 + greatest(monetary, 0))]::float8[] AS features
FROM segment_demo.rfm WHERE recency_days IS NOT NULL;
\echo 'Choosing k for the demo customers (segment.kmeans_report: inertia for the elbow, silhouette on a 5,000-row sample):'
SELECT k, round(inertia::numeric, 0) AS inertia, round(silhouette::numeric, 3) AS silhouette, iterations
FROM segment.kmeans_report('segment_demo.rfm_features'::regclass, 'features', 2, 8, sample_size => 5000);
CREATE TABLE segment_demo.rfm_model AS
SELECT segment.kmeans(features, 5) AS model FROM segment_demo.rfm_features;
COMMENT ON TABLE segment_demo.rfm_model IS 'k-means model (k = 5) of segment_demo.rfm_features, made by make demo.';
\echo 'Five k-means clusters (segment_demo.rfm_model), described by their customers:'
SELECT segment.kmeans_assign(model, features) AS cluster, count(*) AS customers,
       round(avg(recency_days)::numeric, 0) AS avg_recency_days,
       round(avg(frequency), 1) AS avg_orders,
       round(avg(monetary), 2) AS avg_net_revenue,
       mode() WITHIN GROUP (ORDER BY rfm_segment) AS typical_rfm_segment
FROM segment_demo.rfm JOIN segment_demo.rfm_features USING (customer_id), segment_demo.rfm_model
GROUP BY 1 ORDER BY 1;

-- a materialized segmentation: registered once, refreshed on demand
\echo 'A segmentation of the demo orders with predictions (segment.create_segmentation), its lifecycle segments:'
SELECT segment.create_segmentation('demo', 'segment_demo.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', as_of => :'demo_as_of', target_table => 'segment_demo.customer_segments',
    touchpoints => 'segment_demo.touchpoints', touch_time_column => 'touched_at',
    spend => 'segment_demo.spend', carts => 'segment_demo.carts', cart_time_column => 'added_at',
    predict => true) AS customers;
SELECT segment, customers, round(100 * customer_share::numeric, 1) AS "share %", orders, revenue,
       round(aov, 2) AS aov, round(repeat_rate::numeric, 2) AS repeat_rate,
       round(historical_clv, 2) AS historical_clv, round(predicted_clv, 2) AS predicted_clv_365d
FROM segment.segment_summary WHERE segmentation = 'demo' AND segment_type = 'lifecycle' ORDER BY customers DESC;
-- predictions: BG/NBD and Gamma-Gamma fitted by the refresh on the customers' purchase days
\echo 'The models the refresh fitted (BG/NBD, rates per day; Gamma-Gamma):'
SELECT round(b.r::numeric, 3) AS r, round(b.alpha::numeric, 2) AS alpha, round(b.a::numeric, 3) AS a,
       round(b.b::numeric, 3) AS b, round(g.p::numeric, 2) AS p, round(g.q::numeric, 2) AS q,
       round(g.gamma::numeric, 2) AS gamma, b.converged AND g.converged AS converged
FROM segment.segmentations, segment.bgnbd_info(bgnbd_model) AS b, segment.gammagamma_info(gammagamma_model) AS g
WHERE name = 'demo';
\echo 'Predicted value over the next year and churn risk per lifecycle segment:'
SELECT lifecycle_segment AS segment, count(*) AS customers,
       round(avg(predicted_clv), 2) AS predicted_clv_365d, round(avg(monetary), 2) AS spent_so_far,
       round(avg(p_purchase)::numeric, 2) AS p_purchase,
       round(100.0 * count(*) FILTER (WHERE churn_risk = 'high') / count(*), 1) AS "churn risk high %"
FROM segment_demo.customer_segments WHERE predicted_clv IS NOT NULL
GROUP BY 1 ORDER BY 3 DESC;
\echo 'Predictive segments (churn risk x predicted value, segment.segment_summary):'
SELECT segment, customers, round(100 * customer_share::numeric, 1) AS "share %",
       round(historical_clv, 2) AS historical_clv, round(predicted_clv, 2) AS predicted_clv_365d
FROM segment.segment_summary WHERE segmentation = 'demo' AND segment_type = 'predictive'
ORDER BY predicted_clv DESC;
-- the same segmentation a month later: who moved, and the churn since
UPDATE segment.segmentations SET as_of = as_of + interval '30 days' WHERE name = 'demo';
SELECT segment.refresh('demo') AS customers_a_month_later;
\echo 'Lifecycle moves over that month (segment.segment_migration):'
SELECT from_segment, to_segment, customers FROM segment.segment_migration
WHERE segmentation = 'demo' AND segment_type = 'lifecycle' AND from_segment <> to_segment
ORDER BY customers DESC LIMIT 8;
SELECT segment, customers, round(churn_rate::numeric, 3) AS churn_rate
FROM segment.segment_summary WHERE segmentation = 'demo' AND segment_type = 'lifecycle' ORDER BY customers DESC;
\echo 'Attribution by lifecycle segment, Markov model (segment.attribution_by_segment), top channels:'
SELECT segment, channel, round(conversions::numeric, 1) AS conversions, round(revenue, 2) AS revenue,
       round(spend, 2) AS spend, round(roas, 2) AS roas, round(cac, 2) AS cac
FROM (SELECT *, row_number() OVER (PARTITION BY segment ORDER BY revenue DESC) AS rank
      FROM segment.attribution_by_segment
      WHERE segmentation = 'demo' AND segment_type = 'lifecycle' AND model = 'markov') AS a
WHERE rank <= 3 ORDER BY segment, revenue DESC;
-- scheduled: the background worker refreshes it every 5 seconds; the demo
-- waits for two scheduled runs, then leaves it on an hourly schedule
\echo 'Scheduled every 5 seconds (segment.schedule); waiting for two scheduled runs:'
SELECT segment.schedule('demo', '5 seconds') IS NOT NULL AS scheduled;
DO $$
BEGIN
    FOR i IN 1..120 LOOP
        EXIT WHEN (SELECT count(*) FROM segment.job_runs WHERE segmentation = 'demo' AND status = 'succeeded') >= 4;
        PERFORM pg_sleep(0.25);
    END LOOP;
END $$;
SELECT segmentation, owner, schedule, active, last_status, consecutive_failures,
       round(extract(epoch FROM last_duration) * 1000) AS last_ms
FROM segment.jobs;
\echo 'The run log (segment.job_runs): two manual refreshes, then the scheduled ones:'
SELECT run_id, status, rows, orders_scanned, scan_method, round(extract(epoch FROM duration) * 1000) AS ms
FROM segment.job_runs WHERE segmentation = 'demo' ORDER BY run_id;
SELECT segment.schedule('demo', '@hourly') AS next_hourly_run;
SQL
	} | psql_demo -d segment_demo -v as_of="$AS_OF" -v demo_as_of="$AS_OF" -f -

	cat <<EOF2

The demo cluster is running (PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), Unix socket only).
  connect:  $( [ "$(id -u)" = 0 ] && echo "runuser -u postgres -- " )psql -h $DIR -p $PORT -d segment_demo
  tables:   segment_demo.orders, touchpoints, spend, carts, rfm, rfm_features (view), rfm_model,
            online_retail, online_retail_rfm, customer_segments (segmentation 'demo')
  views:    segment.segment_summary, segment.segment_migration, segment.attribution_by_segment,
            segment.jobs, segment.job_runs,
            segment.refresh_progress ('demo' is refreshed hourly by the background worker)
  stop:     make demo-stop
EOF2
}

case "${1:-start}" in
	start) start ;;
	stop) stop ;;
	*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
