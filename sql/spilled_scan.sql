-- The fast scan past segment.scan_memory: customers it cannot hold go to
-- partition files, aggregated one at a time.  Its table must equal, row for
-- row and column for column, the in-memory scan's and the SQL path's.
\set VERBOSITY terse
SET timezone = 'UTC';

-- 150,000 order lines in time order, two lines per order, 40,000 skewed
-- customers interleaved; refunds, zero and NULL amounts, rows without a
-- customer or a time, and rows after as_of
CREATE SCHEMA spill;
CREATE TABLE spill.orders AS
SELECT g / 2 AS order_no,
       CASE WHEN g % 1009 = 0 THEN NULL
            ELSE floor(40000 * power((hashint8(g / 2) & 1048575)::float8 / 1048576, 2))::int8 END AS customer_id,
       CASE WHEN g % 2003 = 0 THEN NULL
            ELSE timestamptz '2023-01-01 00:00:00+00' + g * interval '7 minutes' END AS ordered_at,
       CASE WHEN g % 17 = 0 THEN -round(((hashint8(g) & 65535) / 1000.0)::numeric, 2)
            WHEN g % 17 = 5 THEN NULL
            WHEN g % 17 = 6 THEN 0
            ELSE round(((hashint8(g) & 65535) / 100.0)::numeric, 2) END AS amount
FROM generate_series(1, 150000) AS g;
-- text keys: three times as many customers
CREATE TABLE spill.orders_text AS
SELECT order_no, 'C-' || customer_id || '-' || order_no % 3 AS customer, ordered_at, amount FROM spill.orders;
ANALYZE spill.orders, spill.orders_text;
SELECT count(*) AS lines, count(DISTINCT customer_id) AS customers, max(ordered_at) AS last_order
FROM spill.orders;

-- one segment table three ways: spilled (1MB holds about 3,300 customers),
-- in memory and SQL; with the partition files the spilled scan aggregated
-- (the spilled refresh first: it plans its partitions for the customers of
-- the statistics or of the last refresh, whichever is more)
CREATE FUNCTION refresh_three(name text) RETURNS TABLE (method text, partitions int4, customers int8)
LANGUAGE plpgsql AS $$
DECLARE
    target regclass;
BEGIN
    SELECT target_table INTO target FROM segment.segmentations AS s WHERE s.name = refresh_three.name;
    PERFORM set_config('segment.scan_memory', '1MB', true);
    PERFORM segment.refresh(name);
    PERFORM set_config('segment.scan_memory', '1GB', true);
    EXECUTE format('CREATE TEMP TABLE spill_result AS SELECT * FROM %s', target);
    PERFORM segment.refresh(name);
    EXECUTE format('CREATE TEMP TABLE mem_result AS SELECT * FROM %s', target);
    PERFORM set_config('segment.fast_scan', 'off', true);
    PERFORM segment.refresh(name);
    PERFORM set_config('segment.fast_scan', 'on', true);
    EXECUTE format('CREATE TEMP TABLE sql_result AS SELECT * FROM %s', target);
    ALTER TABLE mem_result DROP COLUMN refreshed_at;
    ALTER TABLE spill_result DROP COLUMN refreshed_at;
    ALTER TABLE sql_result DROP COLUMN refreshed_at;
    RETURN QUERY SELECT r.scan_method, r.scan_partitions, r.rows FROM segment.job_runs AS r
                 WHERE r.segmentation = name ORDER BY r.run_id DESC LIMIT 3;
END $$;
CREATE FUNCTION differences(OUT spilled_vs_memory int8, OUT spilled_vs_sql int8, OUT rows int8)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'SELECT (SELECT count(*) FROM (TABLE spill_result EXCEPT ALL TABLE mem_result) AS d)
                  + (SELECT count(*) FROM (TABLE mem_result EXCEPT ALL TABLE spill_result) AS d),
                    (SELECT count(*) FROM (TABLE spill_result EXCEPT ALL TABLE sql_result) AS d)
                  + (SELECT count(*) FROM (TABLE sql_result EXCEPT ALL TABLE spill_result) AS d),
                    (SELECT count(*) FROM spill_result)'
        INTO spilled_vs_memory, spilled_vs_sql, rows;
END $$;

-- rows counted, a lookback window, k-means; carts (found, or added as
-- prospects, in the facts kept after the spill)
CREATE TABLE spill.carts AS
SELECT g * 7 AS customer_id, timestamptz '2024-06-01 00:00:00+00' + g * interval '1 hour' AS added_at
FROM generate_series(1, 8000) AS g;
SELECT segment.create_segmentation('spill_rows', 'spill.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => '2025-01-01', lookback => '500 days', clusters => 3,
    carts => 'spill.carts', cart_time_column => 'added_at') AS customers;
SELECT * FROM refresh_three('spill_rows');
SELECT * FROM differences();
SELECT count(*) FILTER (WHERE monetary < 0) AS refunded_net, count(*) FILTER (WHERE frequency = 0) AS no_purchase,
       count(*) FILTER (WHERE lifecycle_segment = 'Prospect') AS prospects, count(DISTINCT cluster) AS clusters
FROM spill_result;
DROP TABLE mem_result, spill_result, sql_result;

-- distinct order ids: each order's two lines counted once, in memory and in
-- each partition
SELECT segment.create_segmentation('spill_ids', 'spill.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_no', as_of => '2026-01-01', clusters => 0) AS customers;
SELECT * FROM refresh_three('spill_ids');
SELECT * FROM differences();
SELECT sum(frequency) = (SELECT count(DISTINCT (customer_id, order_no)) FROM spill.orders
                         WHERE amount > 0 AND ordered_at IS NOT NULL AND customer_id IS NOT NULL) AS orders_counted_once
FROM spill_result;
DROP TABLE mem_result, spill_result, sql_result;
-- the same where the statistics promise 5,000 customers and the last
-- refresh counted fewer, before the orders since brought 30,000: too few
-- partitions, each split again, and the customers and order ids held in
-- each evicted to the next level
CREATE TABLE spill.orders_few AS SELECT * FROM spill.orders WHERE order_no < 2000;
SELECT segment.create_segmentation('spill_ids_few', 'spill.orders_few', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_no', as_of => '2026-01-01', clusters => 0) AS customers;
INSERT INTO spill.orders_few SELECT * FROM spill.orders WHERE order_no >= 2000;
ALTER TABLE spill.orders_few ALTER COLUMN customer_id SET (n_distinct = 5000);
ANALYZE spill.orders_few;
SELECT * FROM refresh_three('spill_ids_few');
SELECT * FROM differences();
DROP TABLE mem_result, spill_result, sql_result;

-- text keys, and statistics that promise 100 customers: parallel workers
-- (forced: the last refresh's count would keep the scan alone) whose tables
-- fill send what they have and start again, and the leader spills
ALTER TABLE spill.orders_text ALTER COLUMN customer SET (n_distinct = 100);
ANALYZE spill.orders_text;
SELECT segment.create_segmentation('spill_text', 'spill.orders_text', 'customer', 'ordered_at', 'amount',
    as_of => '2026-01-01', clusters => 4) AS customers;
SET segment.parallel_scan = always;
SELECT * FROM refresh_three('spill_text');
RESET segment.parallel_scan;
SELECT * FROM differences();
DROP TABLE mem_result, spill_result, sql_result;
-- alone, with statistics that promise 5,000 customers of about 49,000 (and
-- a last refresh of fewer): the spill starts with 8 partitions, and each is
-- split again by the next bits of the hash
CREATE TABLE spill.orders_text_few AS SELECT * FROM spill.orders_text WHERE order_no < 2000;
SELECT segment.create_segmentation('spill_text_few', 'spill.orders_text_few', 'customer', 'ordered_at', 'amount',
    as_of => '2026-01-01', clusters => 4) AS customers;
INSERT INTO spill.orders_text_few SELECT * FROM spill.orders_text WHERE order_no >= 2000;
ALTER TABLE spill.orders_text_few ALTER COLUMN customer SET (n_distinct = 5000);
ANALYZE spill.orders_text_few;
SET segment.parallel_scan = off;
SELECT * FROM refresh_three('spill_text_few');
RESET segment.parallel_scan;
SELECT * FROM differences();
DROP TABLE mem_result, spill_result, sql_result;

-- a spill past temp_file_limit fails the refresh, logged; the table keeps its rows
SELECT count(*) AS rows_before FROM spill_text_segments;
SET segment.scan_memory = '1MB';
SET temp_file_limit = '64kB';
SELECT segment.refresh('spill_text');
RESET temp_file_limit;
RESET segment.scan_memory;
SELECT status, error_message FROM segment.job_runs WHERE segmentation = 'spill_text' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS rows_after FROM spill_text_segments;

-- moves, churn and the change log after a spilled scan, whose previous
-- contents go to the partitions with the orders: customers gone, new and
-- moved since the last refresh, against plain SQL over the table before and
-- after
CREATE TABLE spill.orders_moves AS SELECT * FROM spill.orders;
SELECT segment.create_segmentation('spill_moves', 'spill.orders_moves', 'customer_id', 'ordered_at', 'amount',
    as_of => '2025-01-01', lookback => '500 days', clusters => 3,
    carts => 'spill.carts', cart_time_column => 'added_at') AS customers;
SELECT segment.refresh('spill_moves') AS customers;
CREATE TEMP TABLE moves_before AS
SELECT customer_id, rfm_segment, lifecycle_segment, cluster, refreshed_at FROM spill_moves_segments;
DELETE FROM spill.orders_moves WHERE customer_id % 10 = 3;
UPDATE spill.orders_moves SET amount = amount * 40 WHERE customer_id % 10 = 4;
INSERT INTO spill.orders_moves
SELECT 0, 60000 + g % 3000, timestamptz '2024-11-01 00:00:00+00' + g * interval '1 minute', 25
FROM generate_series(1, 6000) AS g;
SET segment.scan_memory = '1MB';
SELECT segment.refresh('spill_moves') AS customers;
RESET segment.scan_memory;
SELECT scan_partitions > 0 AS spilled FROM segment.job_runs WHERE segmentation = 'spill_moves'
ORDER BY run_id DESC LIMIT 1;
CREATE TEMP VIEW snapshots AS
SELECT customer_id, b.rfm_segment AS rfm_before, b.lifecycle_segment AS lifecycle_before,
       b.cluster::text AS cluster_before, a.rfm_segment AS rfm_after, a.lifecycle_segment AS lifecycle_after,
       a.cluster::text AS cluster_after
FROM moves_before AS b FULL JOIN spill_moves_segments AS a USING (customer_id);
CREATE TEMP VIEW expected_moves AS
SELECT t.segment_type, coalesce(t.before, '(new)') AS from_segment, coalesce(t.after, '(gone)') AS to_segment,
       count(*) AS customers
FROM snapshots AS s
CROSS JOIN LATERAL (VALUES ('rfm', s.rfm_before, s.rfm_after),
                           ('lifecycle', s.lifecycle_before, s.lifecycle_after),
                           ('cluster', s.cluster_before, s.cluster_after)) AS t(segment_type, before, after)
WHERE t.before IS NOT NULL OR t.after IS NOT NULL
GROUP BY 1, 2, 3;
CREATE TEMP VIEW logged_moves AS
SELECT segment_type, from_segment, to_segment, customers FROM segment.migrations
WHERE segmentation = 'spill_moves'
  AND to_refreshed_at = (SELECT max(refreshed_at) FROM spill_moves_segments);
SELECT (SELECT count(*) FROM (TABLE expected_moves EXCEPT ALL TABLE logged_moves) AS d)
     + (SELECT count(*) FROM (TABLE logged_moves EXCEPT ALL TABLE expected_moves) AS d) AS differing_moves,
       (SELECT sum(customers) FROM logged_moves WHERE from_segment = '(new)' AND segment_type = 'lifecycle') AS new,
       (SELECT sum(customers) FROM logged_moves WHERE to_segment = '(gone)' AND segment_type = 'lifecycle') AS gone,
       (SELECT sum(customers) FROM logged_moves WHERE from_segment <> to_segment
          AND from_segment <> '(new)' AND to_segment <> '(gone)' AND segment_type = 'rfm') AS moved;
-- churn: of the customers active before (not Lapsed nor Prospect) in a
-- segment, the share Lapsed or gone now
WITH expected AS (
    SELECT t.segment_type, t.before AS segment,
           avg((s.lifecycle_after IS NULL OR s.lifecycle_after = 'Lapsed')::int) AS churn_rate
    FROM snapshots AS s
    CROSS JOIN LATERAL (VALUES ('rfm', s.rfm_before), ('lifecycle', s.lifecycle_before),
                               ('cluster', s.cluster_before)) AS t(segment_type, before)
    WHERE t.before IS NOT NULL AND s.lifecycle_before NOT IN ('Lapsed', 'Prospect')
    GROUP BY 1, 2),
logged AS (
    SELECT segment_type, segment, churn_rate FROM segment.summaries
    WHERE segmentation = 'spill_moves'
      AND refreshed_at = (SELECT max(refreshed_at) FROM spill_moves_segments))
SELECT count(*) AS segments_compared,
       count(*) FILTER (WHERE abs(e.churn_rate - l.churn_rate) > 1e-12) AS differing_churn,
       count(*) FILTER (WHERE e.churn_rate > 0) AS with_churn
FROM expected AS e JOIN logged AS l USING (segment_type, segment);
-- the change log: exactly the customers and types whose segment changed,
-- each once (NULL: in none of that type)
CREATE TEMP VIEW expected_changes AS
SELECT s.customer_id, t.segment_type, t.before AS from_segment, t.after AS to_segment
FROM snapshots AS s
CROSS JOIN LATERAL (VALUES ('rfm', s.rfm_before, s.rfm_after),
                           ('lifecycle', s.lifecycle_before, s.lifecycle_after),
                           ('cluster', s.cluster_before, s.cluster_after)) AS t(segment_type, before, after)
WHERE t.before IS DISTINCT FROM t.after;
CREATE TEMP VIEW logged_changes AS
SELECT customer_id, segment_type, from_segment, to_segment FROM spill_moves_segments_history
WHERE refreshed_at = (SELECT max(refreshed_at) FROM spill_moves_segments);
SELECT (SELECT count(*) FROM expected_changes) AS changes,
       (SELECT count(*) FROM (TABLE expected_changes EXCEPT ALL TABLE logged_changes) AS d)
     + (SELECT count(*) FROM (TABLE logged_changes EXCEPT ALL TABLE expected_changes) AS d) AS differing_changes,
       (SELECT count(*) FROM spill_moves_segments_history
        WHERE refreshed_at = (SELECT min(refreshed_at) FROM moves_before)) AS changes_of_the_refresh_before;
-- the migrations are the change log counted (and those who stayed)
SELECT count(*) AS differing_counts FROM (
    (SELECT segment_type, coalesce(from_segment, '(new)'), coalesce(to_segment, '(gone)'), count(*)
     FROM logged_changes GROUP BY 1, 2, 3
     EXCEPT ALL
     SELECT segment_type, from_segment, to_segment, customers FROM logged_moves WHERE from_segment <> to_segment)
    UNION ALL
    (SELECT segment_type, from_segment, to_segment, customers FROM logged_moves WHERE from_segment <> to_segment
     EXCEPT ALL
     SELECT segment_type, coalesce(from_segment, '(new)'), coalesce(to_segment, '(gone)'), count(*)
     FROM logged_changes GROUP BY 1, 2, 3)) AS d;
-- the membership as of the refresh before, rebuilt from the table and the
-- log, is the table as it was then; as of now, the table
CREATE TEMP VIEW membership_before AS
SELECT b.customer_id::text AS customer, t.segment_type, t.segment
FROM moves_before AS b
CROSS JOIN LATERAL (VALUES ('rfm', b.rfm_segment), ('lifecycle', b.lifecycle_segment),
                           ('cluster', b.cluster::text)) AS t(segment_type, segment)
WHERE t.segment IS NOT NULL;
SELECT (SELECT count(*) FROM membership_before) AS memberships_before,
       (SELECT count(*) FROM (SELECT * FROM segment.membership_as_of('spill_moves', (SELECT min(refreshed_at) FROM moves_before))
                              EXCEPT ALL TABLE membership_before) AS d)
     + (SELECT count(*) FROM (TABLE membership_before EXCEPT ALL
                              SELECT * FROM segment.membership_as_of('spill_moves', (SELECT min(refreshed_at) FROM moves_before))) AS d)
       AS differing_before,
       (SELECT count(*) FROM (SELECT * FROM segment.membership_as_of('spill_moves', now())
                              EXCEPT ALL
                              SELECT a.customer_id::text, t.segment_type, t.segment
                              FROM spill_moves_segments AS a
                              CROSS JOIN LATERAL (VALUES ('rfm', a.rfm_segment), ('lifecycle', a.lifecycle_segment),
                                                         ('cluster', a.cluster::text)) AS t(segment_type, segment)
                              WHERE t.segment IS NOT NULL) AS d) AS differing_now;
DROP VIEW membership_before, logged_changes, expected_changes, logged_moves, expected_moves, snapshots;
DROP TABLE moves_before;

-- the k-means sample: past segment.cluster_sample customers the model is
-- fitted on those whose keys hash lowest, the same sample in memory, spilled
-- and on the SQL path
SET segment.cluster_sample = 1000;
SELECT * FROM refresh_three('spill_rows');
RESET segment.cluster_sample;
SELECT * FROM differences();
SELECT count(DISTINCT cluster) AS clusters, count(*) FILTER (WHERE cluster IS NULL) AS without_cluster,
       count(*) FILTER (WHERE frequency > 0 AND cluster IS NULL) AS buyers_without_cluster
FROM spill_result;
DROP TABLE mem_result, spill_result, sql_result;

-- VIPs among net revenues a float8 cannot tell apart (about 10^15): the top
-- 5 of 100 customers exactly, with scaled sums (fast scan) and numeric ones
-- (9 decimals: the SQL path)
CREATE TABLE spill.big_orders AS
SELECT c AS customer_id, timestamptz '2024-12-01 00:00:00+00' + c * interval '1 hour' AS ordered_at,
       CASE WHEN c <= 10 THEN 1000000000000000 + c * 0.01 ELSE c END::numeric AS amount
FROM generate_series(1, 100) AS c;
CREATE TABLE spill.big_orders_9 AS
SELECT customer_id, ordered_at, CASE WHEN customer_id <= 10 THEN amount + 0.000000001 ELSE amount END AS amount
FROM spill.big_orders;
SELECT (1000000000000000 + 6 * 0.01)::float8 = (1000000000000000 + 1 * 0.01)::float8 AS floats_equal;
SELECT segment.create_segmentation('spill_big', 'spill.big_orders', 'customer_id', 'ordered_at', 'amount',
    as_of => '2025-01-01', vip_share => 0.05, clusters => 0) AS customers;
SELECT segment.create_segmentation('spill_big_9', 'spill.big_orders_9', 'customer_id', 'ordered_at', 'amount',
    as_of => '2025-01-01', vip_share => 0.05, clusters => 0) AS customers;
SELECT r.segmentation, r.scan_method, array_agg(s.customer_id ORDER BY s.customer_id) AS vips
FROM (SELECT 'spill_big' AS segmentation, customer_id, lifecycle_segment FROM spill_big_segments
      UNION ALL
      SELECT 'spill_big_9', customer_id, lifecycle_segment FROM spill_big_9_segments) AS s
JOIN segment.job_runs AS r USING (segmentation)
WHERE s.lifecycle_segment = 'High-Value VIP'
GROUP BY 1, 2 ORDER BY 1;

SELECT segment.drop_segmentation(name) FROM segment.segmentations ORDER BY name;
DROP FUNCTION refresh_three(text), differences();
DROP SCHEMA spill CASCADE;
