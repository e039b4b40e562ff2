-- Checked by hand on a Citus cluster (coordinator plus workers, segment
-- installed on every node, preloaded or not).  Not part of `make test`: Citus
-- is not packaged for Debian.  Every check prints true.
--   psql -h <coordinator> -d <database> -f test/citus/distributed_rfm.sql
\set ON_ERROR_STOP 1
\set as_of '2026-01-01 00:00:00+00'
CREATE EXTENSION IF NOT EXISTS segment;
SELECT relation, rows FROM segment.generate_demo_data('citus_local', customers => 20000, touches_per_order => 0, replace => true);
DROP TABLE IF EXISTS citus_orders;
CREATE TABLE citus_orders (LIKE citus_local.orders);
SELECT create_distributed_table('citus_orders', 'customer_id');
INSERT INTO citus_orders SELECT * FROM citus_local.orders;

-- quantile_edges runs as worker_partial_agg on every shard; the text states
-- are combined on the coordinator (coord_combine_agg)
EXPLAIN (VERBOSE, COSTS OFF) SELECT segment.quantile_edges(amount::float8, 5) FROM citus_orders;
CREATE TEMP TABLE edges AS
SELECT 'distributed' AS source, segment.quantile_edges(amount::float8, 2) AS e2, segment.quantile_edges(amount::float8, 5) AS e5,
       segment.quantile_edges(amount::float8, 100) AS e100 FROM citus_orders;
INSERT INTO edges
SELECT 'local', segment.quantile_edges(amount::float8, 2), segment.quantile_edges(amount::float8, 5),
       segment.quantile_edges(amount::float8, 100) FROM citus_local.orders;
SELECT count(DISTINCT (e2, e5, e100)) = 1 AS distributed_edges_equal_local FROM edges;

-- the README RFM query: facts grouped on the shards, scored on the coordinator
CREATE TEMP TABLE distributed_rfm AS
WITH facts AS (
    SELECT customer_id,
           date_part('epoch', :'as_of'::timestamptz - max(ordered_at) FILTER (WHERE amount > 0)) / 86400 AS recency_days,
           count(*) FILTER (WHERE amount > 0) AS frequency, sum(amount) AS monetary
    FROM citus_orders WHERE ordered_at <= :'as_of' GROUP BY customer_id)
SELECT customer_id, segment.quantile_score(-recency_days, 5) OVER w AS r, segment.quantile_score(frequency, 5) OVER w AS f,
       segment.quantile_score(monetary, 5) OVER w AS m
FROM facts WINDOW w AS ();
CREATE TEMP TABLE local_rfm AS
WITH facts AS (
    SELECT customer_id,
           date_part('epoch', :'as_of'::timestamptz - max(ordered_at) FILTER (WHERE amount > 0)) / 86400 AS recency_days,
           count(*) FILTER (WHERE amount > 0) AS frequency, sum(amount) AS monetary
    FROM citus_local.orders WHERE ordered_at <= :'as_of' GROUP BY customer_id)
SELECT customer_id, segment.quantile_score(-recency_days, 5) OVER w AS r, segment.quantile_score(frequency, 5) OVER w AS f,
       segment.quantile_score(monetary, 5) OVER w AS m
FROM facts WINDOW w AS ();
SELECT count(*) = 20000 AND count(*) FILTER (WHERE (d.r, d.f, d.m) IS DISTINCT FROM (l.r, l.f, l.m)) = 0 AS distributed_rfm_equals_local
FROM distributed_rfm AS d JOIN local_rfm AS l USING (customer_id);

-- scoring on the shards against edges computed across all of them
CREATE TEMP TABLE shard_scores AS
WITH e AS (SELECT segment.quantile_edges(amount::float8, 5) AS edges FROM citus_orders)
SELECT segment.score(amount::float8, edges) AS s, count(*) AS n FROM citus_orders, e GROUP BY 1;
CREATE TEMP TABLE window_scores AS
SELECT s, count(*) AS n FROM (SELECT segment.quantile_score(amount::float8, 5) OVER () AS s FROM citus_local.orders) AS x GROUP BY s;
SELECT (SELECT array_agg((s, n) ORDER BY s) FROM shard_scores) = (SELECT array_agg((s, n) ORDER BY s) FROM window_scores)
       AS shard_scores_equal_window_scores;

DROP TABLE citus_orders, distributed_rfm, local_rfm, edges, shard_scores, window_scores;
DROP SCHEMA citus_local CASCADE;
