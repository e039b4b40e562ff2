-- Attribution by segment, materialized by the refresh: a small case checked by
-- hand, then the invariants on generated data for every model and segment
-- type (credits add up to the orders, revenue to the net revenue, allocated
-- spend to the spend), and the edge cases of the issue.
SET timezone = 'UTC';
CREATE SCHEMA att;
CREATE TABLE att.orders (order_id int, customer_id int, ordered_at timestamptz, amount numeric);
CREATE TABLE att.touches (customer_id int, touched_at timestamptz, channel text);
CREATE TABLE att.spend (channel text, day date, cost numeric);
-- customer 1: direct -> organic_search -> direct, then one order of 140.00;
-- a touch after it is never credited
INSERT INTO att.orders VALUES (1, 1, '2026-01-08 10:00', 140.00);
INSERT INTO att.touches VALUES (1, '2026-01-01 10:00', 'direct'), (1, '2026-01-05 10:00', 'organic_search'),
                               (1, '2026-01-08 10:00', 'direct'), (1, '2026-01-09 10:00', 'email');
-- customer 2: an order of 50.00 and no touch: (none); customer 3: a touch without a
-- channel (unknown), an order and a refund of 10.00; a touch 40 days before: too old
INSERT INTO att.orders VALUES (2, 2, '2026-01-06', 50.00), (3, 3, '2026-01-07', 30.00), (4, 3, '2026-01-09', -10.00);
INSERT INTO att.touches VALUES (3, '2026-01-06', NULL), (3, '2025-11-28', 'email'), (NULL, '2026-01-06', 'email'),
                               (3, NULL, 'email');
-- spend: organic_search has none; email twice on one day (summed)
INSERT INTO att.spend VALUES ('direct', '2026-01-03', 20), ('email', '2026-01-04', 5), ('email', '2026-01-04', 5);
SELECT segment.create_segmentation('att', 'att.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 0, as_of => '2026-01-10',
    touchpoints => 'att.touches', touch_time_column => 'touched_at', spend => 'att.spend') AS customers;
SELECT touches_skipped FROM segment.job_runs WHERE segmentation = 'att';
-- per model and channel, all customers together (segment type rfm, summed over its segments)
SELECT model, channel, round(sum(conversions)::numeric, 4) AS conversions, round(sum(revenue), 2) AS revenue,
       round(sum(spend), 2) AS spend
FROM segment.attribution_by_segment WHERE segmentation = 'att' AND segment_type = 'rfm'
GROUP BY 1, 2 ORDER BY 1, 2;
-- by hand, linear: customer 1 gives direct 2/3 and organic_search 1/3 of 140.00
-- (93.33, 46.67); customer 3's order (30.00) and refund (-10.00) have the one
-- (unknown) touch before the order, the refund's path is empty: (none), with
-- customer 2's 50.00
SELECT segment, channel, round(conversions::numeric, 4) AS conversions, round(revenue, 2) AS revenue,
       round(spend, 2) AS spend, round(roas, 4) AS roas, round(cac, 2) AS cac
FROM segment.attribution_by_segment
WHERE segmentation = 'att' AND segment_type = 'lifecycle' AND model = 'position_based' ORDER BY 1, 2;

-- duplicate touches (one customer, one instant, one channel, twice) are two touches:
-- linear gives the channel both halves, the Markov model collapses the repeat
CREATE TABLE att.dup_orders AS SELECT 9 AS order_id, 9 AS customer_id, timestamptz '2026-01-05' AS ordered_at, 80.00 AS amount;
CREATE TABLE att.dup_touches AS
SELECT 9 AS customer_id, timestamptz '2026-01-04' AS touched_at, 'email' AS channel FROM generate_series(1, 2);
SELECT segment.create_segmentation('attdup', 'att.dup_orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 0, as_of => '2026-01-10',
    touchpoints => 'att.dup_touches', touch_time_column => 'touched_at') AS customers;
SELECT model, channel, conversions, revenue FROM segment.attribution_by_segment
WHERE segmentation = 'attdup' AND segment_type = 'lifecycle' ORDER BY 1, 2;

-- touchpoints behind a view take the SQL path to the same rows
CREATE VIEW att.touches_view AS SELECT * FROM att.touches;
SELECT segment.create_segmentation('attview', 'att.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 0, as_of => '2026-01-10',
    touchpoints => 'att.touches_view', touch_time_column => 'touched_at', spend => 'att.spend') AS customers;
SELECT (SELECT count(*) FROM (SELECT segment_type, segment, model, channel, round(conversions::numeric, 9), revenue, spend
                              FROM segment.attributions WHERE segmentation = 'att'
                              EXCEPT SELECT segment_type, segment, model, channel, round(conversions::numeric, 9), revenue, spend
                              FROM segment.attributions WHERE segmentation = 'attview') AS d) AS differing_rows,
       (SELECT touches_skipped FROM segment.job_runs WHERE segmentation = 'attview') AS touches_skipped;

-- channels of another type take the SQL path, read as ::text reads them
-- (char(n) without its padding): the same rows
CREATE TABLE att.touches_char AS SELECT customer_id, touched_at, channel::char(20) AS channel FROM att.touches;
SELECT segment.create_segmentation('attchar', 'att.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 0, as_of => '2026-01-10',
    touchpoints => 'att.touches_char', touch_time_column => 'touched_at', spend => 'att.spend') AS customers;
SELECT count(*) AS differing_rows
FROM (SELECT segment_type, segment, model, channel, round(conversions::numeric, 9), revenue, spend
      FROM segment.attributions WHERE segmentation = 'att'
      EXCEPT SELECT segment_type, segment, model, channel, round(conversions::numeric, 9), revenue, spend
      FROM segment.attributions WHERE segmentation = 'attchar') AS d;
-- a channel name over 255 bytes is refused, and the segment table is left as it was
INSERT INTO att.touches VALUES (1, '2026-01-07', repeat('x', 256));
SELECT segment.refresh('att');
DELETE FROM att.touches WHERE length(channel) > 255;
SELECT count(*) AS rows_kept, count(DISTINCT refreshed_at) AS refreshes FROM segment.attributions WHERE segmentation = 'att';

-- generated data: every model and segment type attributes every order once,
-- its net revenue, and all the spend (a channel a model credits nothing books
-- its spend to the segment (unattributed))
SELECT relation, rows FROM segment.generate_demo_data('attgen', customers => 1500, seed => 21);
SELECT segment.create_segmentation('attgen', 'attgen.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 3, as_of => '2026-01-01',
    touchpoints => 'attgen.touchpoints', touch_time_column => 'touched_at', spend => 'attgen.spend') AS customers;
WITH expected AS (
    SELECT count(DISTINCT order_id) AS orders, sum(amount) AS revenue FROM attgen.orders WHERE ordered_at <= '2026-01-01'
), spend AS (
    SELECT sum(cost) AS spend FROM attgen.spend WHERE day <= '2026-01-01'
)
SELECT a.model, a.segment_type,
       abs(sum(a.conversions) - e.orders) < 1e-6 AS all_orders,
       abs(sum(a.revenue) - e.revenue) < 1e-6 AS all_revenue,
       abs(sum(a.spend) - sp.spend) < 1e-6 AS all_spend
FROM segment.attribution_by_segment AS a, expected AS e, spend AS sp
WHERE a.segmentation = 'attgen'
GROUP BY a.model, a.segment_type, e.orders, e.revenue, sp.spend ORDER BY 1, 2;
-- the same through a view (the SQL path), with parallel plans forced: the same rows
CREATE VIEW attgen.touches_view AS SELECT * FROM attgen.touchpoints;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT segment.create_segmentation('attgenview', 'attgen.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 3, as_of => '2026-01-01',
    touchpoints => 'attgen.touches_view', touch_time_column => 'touched_at', spend => 'attgen.spend') AS customers;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT count(*) AS differing_rows
FROM (SELECT segment_type, segment, model, channel, round(conversions::numeric, 6), round(revenue, 4), round(spend, 4)
      FROM segment.attributions WHERE segmentation = 'attgen'
      EXCEPT SELECT segment_type, segment, model, channel, round(conversions::numeric, 6), round(revenue, 4), round(spend, 4)
      FROM segment.attributions WHERE segmentation = 'attgenview') AS d;
-- past segment.scan_memory the scan gives way to the SQL path: the same rows
SET segment.scan_memory = '1MB';
SELECT segment.create_segmentation('attgensmall', 'attgen.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 3, as_of => '2026-01-01',
    touchpoints => 'attgen.touchpoints', touch_time_column => 'touched_at', spend => 'attgen.spend') AS customers;
RESET segment.scan_memory;
SELECT count(*) AS differing_rows
FROM (SELECT segment_type, segment, model, channel, round(conversions::numeric, 6), round(revenue, 4), round(spend, 4)
      FROM segment.attributions WHERE segmentation = 'attgen'
      EXCEPT SELECT segment_type, segment, model, channel, round(conversions::numeric, 6), round(revenue, 4), round(spend, 4)
      FROM segment.attributions WHERE segmentation = 'attgensmall') AS d;
SELECT count(DISTINCT model) AS models, count(DISTINCT channel) AS channels,
       bool_and(roas IS NULL) FILTER (WHERE spend = 0) AS roas_null_without_spend
FROM segment.attribution_by_segment WHERE segmentation = 'attgen';
-- a refresh replaces the rows
SELECT segment.refresh('attgen') AS customers;
SELECT count(DISTINCT refreshed_at) AS refreshes_kept FROM segment.attributions WHERE segmentation = 'attgen';
SELECT attribution_ms > 0 AS timed FROM segment.job_runs WHERE segmentation = 'attgen' ORDER BY run_id DESC LIMIT 1;

-- without order ids (each row an order, ties by position) and with an
-- attribution period of 180 days: the scan and the SQL path give the same
-- rows, which attribute the orders and the spend of the period only
SELECT segment.create_segmentation('attper', 'attgen.orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 2, as_of => '2026-01-01', touchpoints => 'attgen.touchpoints', touch_time_column => 'touched_at',
    spend => 'attgen.spend', attribution_period => '180 days') AS customers;
SELECT segment.create_segmentation('attperview', 'attgen.orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 2, as_of => '2026-01-01', touchpoints => 'attgen.touches_view', touch_time_column => 'touched_at',
    spend => 'attgen.spend', attribution_period => '180 days') AS customers;
SELECT count(*) AS differing_rows
FROM (SELECT segment_type, segment, model, channel, round(conversions::numeric, 6), round(revenue, 4), round(spend, 4)
      FROM segment.attributions WHERE segmentation = 'attper'
      EXCEPT SELECT segment_type, segment, model, channel, round(conversions::numeric, 6), round(revenue, 4), round(spend, 4)
      FROM segment.attributions WHERE segmentation = 'attperview') AS d;
WITH expected AS (
    SELECT count(*) AS orders, sum(amount) AS revenue FROM attgen.orders
    WHERE ordered_at <= '2026-01-01' AND ordered_at > timestamptz '2026-01-01' - interval '180 days'
), spend AS (
    SELECT sum(cost) AS spend FROM attgen.spend WHERE day <= '2026-01-01' AND day > timestamptz '2026-01-01' - interval '180 days'
)
SELECT a.model, bool_and(ok.orders AND ok.revenue AND ok.spend) AS all_of_the_period
FROM (SELECT model, segment_type, sum(conversions) AS conversions, sum(revenue) AS revenue, sum(spend) AS spend
      FROM segment.attribution_by_segment WHERE segmentation = 'attper' GROUP BY 1, 2) AS a
CROSS JOIN expected AS e CROSS JOIN spend AS sp
CROSS JOIN LATERAL (SELECT abs(a.conversions - e.orders) < 1e-6, abs(a.revenue - e.revenue) < 1e-6,
                           abs(a.spend - sp.spend) < 1e-6) AS ok(orders, revenue, spend)
GROUP BY 1 ORDER BY 1;
-- by hand, a 3-day period on the small case: customer 1's 140.00 (direct,
-- organic_search, direct) and customer 3's refund; customer 3's order of
-- 01-07 is before the period but still takes the (unknown) touch of 01-06,
-- so the refund has no touch; no spend in the period
SELECT segment.create_segmentation('attshort', 'att.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 0, as_of => '2026-01-10',
    touchpoints => 'att.touches', touch_time_column => 'touched_at', spend => 'att.spend',
    attribution_period => '3 days') AS customers;
SELECT segment, channel, round(conversions::numeric, 4) AS conversions, round(revenue, 2) AS revenue,
       round(spend, 2) AS spend, round(cac, 2) AS cac
FROM segment.attribution_by_segment
WHERE segmentation = 'attshort' AND segment_type = 'lifecycle' AND model = 'linear' ORDER BY 1, 2;
SELECT segment.create_segmentation('attbad', 'att.orders', 'customer_id', 'ordered_at', 'amount',
    touchpoints => 'att.touches', attribution_period => '0 days');

-- no conversion at all (every order after as_of): no rows, no division by zero
SELECT segment.create_segmentation('attnone', 'att.orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2025-01-01', touchpoints => 'att.touches', touch_time_column => 'touched_at',
    spend => 'att.spend') AS customers;
SELECT count(*) AS attribution_rows FROM segment.attribution_by_segment WHERE segmentation = 'attnone';

SELECT segment.drop_segmentation(name) FROM segment.segmentations WHERE name LIKE 'att%' ORDER BY name;
SELECT count(*) AS left_over FROM segment.attributions;
DROP SCHEMA att, attgen CASCADE;
