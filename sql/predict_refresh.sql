-- Predictions in segmentations (predict => true) on the CDNOW purchases
-- (test/data/cdnow_transactions.csv), 39 weeks of calibration: each
-- customer's summary equals segment.customer_summary's, each score the
-- building blocks' on the models the refresh stored, whichever path read
-- the orders; small populations get NULL predictions and a warning.

SET TimeZone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\set transactions :abs_srcdir '/test/data/cdnow_transactions.csv'
CREATE SCHEMA pr;
CREATE TABLE pr.all_orders (customer_id int4, day date, cds int4, amount numeric(10, 2));
COPY pr.all_orders FROM :'transactions' WITH (FORMAT csv, HEADER);
-- in time order, as orders are written
CREATE TABLE pr.orders AS SELECT * FROM pr.all_orders WHERE day <= '1997-09-30' ORDER BY day, customer_id;

SELECT segment.create_segmentation('cd', 'pr.orders', 'customer_id', 'day', 'amount', predict => true,
    as_of => '1997-09-30', clusters => 0, time_zone => 'UTC', target_table => 'pr.cd_segments') AS customers;
SELECT status, scan_method, predict_ms IS NOT NULL AS timed, warning FROM segment.job_runs WHERE segmentation = 'cd';

-- the models, in days: Gamma-Gamma as published (p 6.25, q 3.74, gamma
-- 15.44); BG/NBD's r, a and b as published from the weekly summary, alpha
-- 4.414 weeks = 30.9 days (the days' summary differs a little from the weeks')
SELECT round((segment.bgnbd_info(bgnbd_model)).r::numeric, 3) AS r,
       round((segment.bgnbd_info(bgnbd_model)).alpha::numeric, 1) AS alpha_days,
       round((segment.bgnbd_info(bgnbd_model)).a::numeric, 3) AS a,
       round((segment.bgnbd_info(bgnbd_model)).b::numeric, 2) AS b,
       (segment.bgnbd_info(bgnbd_model)).customers,
       round((segment.gammagamma_info(gammagamma_model)).p::numeric, 2) AS p,
       round((segment.gammagamma_info(gammagamma_model)).q::numeric, 2) AS q,
       round((segment.gammagamma_info(gammagamma_model)).gamma::numeric, 2) AS gamma
FROM segment.segmentations WHERE name = 'cd';

-- every customer's summary is customer_summary's, in days up to as_of's day
CREATE TABLE pr.reference AS
SELECT * FROM segment.customer_summary('pr.orders', 'customer_id', 'day', 'amount', '1997-09-30');
CREATE FUNCTION pr.summary_differences(segments regclass) RETURNS TABLE (customers int8, differing int8)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT count(*), count(*) FILTER (WHERE s.repeat_purchases IS DISTINCT FROM c.x::int8
                                          OR s.repeat_span_days IS DISTINCT FROM c.t_x
                                          OR s.tenure_days IS DISTINCT FROM c."T"
                                          OR (s.mean_repeat_value IS NULL) <> (c.mean_value IS NULL)
                                          OR abs(s.mean_repeat_value - c.mean_value::numeric) > 1e-9)
        FROM pr.reference AS c FULL JOIN %s AS s ON s.customer_id::text = c.customer
        WHERE s.repeat_purchases IS NOT NULL OR c.customer IS NOT NULL$q$, segments);
END $$;
SELECT * FROM pr.summary_differences('pr.cd_segments');
-- the 8 who bought only for $0 made no purchase: no summary, no prediction
SELECT count(*) AS customers, count(repeat_purchases) AS with_purchase, count(p_alive) AS with_p_alive,
       count(predicted_clv) AS with_clv, count(predictive_segment) AS with_segment
FROM pr.cd_segments;

-- every score is the building blocks' on the stored models (horizon 365
-- days, 10% a year discounted per 30 days; the CLV in cents)
SELECT count(*) FILTER (WHERE p_alive IS DISTINCT FROM segment.bgnbd_p_alive(g.bgnbd_model, s.repeat_purchases, s.repeat_span_days, s.tenure_days)) AS p_alive,
       count(*) FILTER (WHERE p_purchase IS DISTINCT FROM segment.bgnbd_purchase_probability(g.bgnbd_model, 365, s.repeat_purchases, s.repeat_span_days, s.tenure_days)) AS p_purchase,
       count(*) FILTER (WHERE abs(expected_orders - segment.bgnbd_expected_orders(g.bgnbd_model, 365, s.repeat_purchases, s.repeat_span_days, s.tenure_days)) > 1e-12) AS expected_orders,
       count(*) FILTER (WHERE predicted_clv <> round(segment.predicted_clv(g.bgnbd_model, g.gammagamma_model, s.repeat_purchases, s.repeat_span_days,
                                                                           s.tenure_days, s.mean_repeat_value, 365, 30, power(1.1, 30 / 365.0) - 1)::numeric, 2)) AS clv,
       count(*) FILTER (WHERE (expected_next_order_at IS NULL) <> (segment.bgnbd_next_order_in(g.bgnbd_model, s.repeat_purchases, s.repeat_span_days, s.tenure_days) IS NULL)
                        OR abs(extract(epoch FROM expected_next_order_at - '1997-09-30'::timestamptz) / 86400
                               - segment.bgnbd_next_order_in(g.bgnbd_model, s.repeat_purchases, s.repeat_span_days, s.tenure_days)) > 1e-9) AS next_order,
       count(*) FILTER (WHERE churn_risk IS DISTINCT FROM CASE WHEN p_purchase >= 0.5 THEN 'low' WHEN p_purchase >= 0.2 THEN 'medium' ELSE 'high' END) AS churn_risk
FROM pr.cd_segments AS s, segment.segmentations AS g
WHERE g.name = 'cd' AND s.repeat_purchases IS NOT NULL;
-- hand-checked: customer 1 (x 2, t_x 213, T 272 days); customer 3 bought
-- once, 272 days ago: alive by BG/NBD's assumption, unlikely to buy
SELECT customer_id, repeat_purchases, repeat_span_days, tenure_days, mean_repeat_value, round(p_alive::numeric, 4) AS p_alive,
       round(p_purchase::numeric, 4) AS p_purchase, round(expected_orders::numeric, 4) AS expected_orders,
       round(predicted_clv, 2) AS predicted_clv, expected_next_order_at IS NOT NULL AS next_order, churn_risk, predictive_segment
FROM pr.cd_segments WHERE customer_id IN (1, 3) ORDER BY 1;
-- no next order date without churn risk 'low' (both mean a purchase more likely than not within the horizon)
SELECT count(*) FILTER (WHERE (expected_next_order_at <= '1997-09-30'::timestamptz + interval '365 days') <> (churn_risk = 'low')) AS inconsistent
FROM pr.cd_segments WHERE p_alive IS NOT NULL;

-- the value tiers: top 20%, next 30% and the rest by predicted CLV (the
-- sample is every customer here: exact)
SELECT value_tier, count(*) AS customers, round(min(predicted_clv), 2) AS least, round(max(predicted_clv), 2) AS most
FROM (SELECT predicted_clv, CASE WHEN predictive_segment IN ('Best Future Customers', 'High Value, Cooling', 'High Value At Risk') THEN 'high'
                                 WHEN predictive_segment IN ('Steady Customers', 'Needs Nurturing', 'Fading Customers') THEN 'medium'
                                 ELSE 'low' END AS value_tier
      FROM pr.cd_segments WHERE predicted_clv IS NOT NULL) AS t
GROUP BY value_tier ORDER BY least DESC;

-- segment_summary: the predictive segments, and the predicted CLV of every segment beside the historical
SELECT segment, customers, round(historical_clv, 2) AS historical_clv, round(predicted_clv, 2) AS predicted_clv
FROM segment.segment_summary WHERE segmentation = 'cd' AND segment_type = 'predictive' ORDER BY segment;
SELECT segment_type, sum(customers) AS customers, count(predicted_clv) AS with_predicted_clv
FROM segment.segment_summary WHERE segmentation = 'cd' GROUP BY 1 ORDER BY 1;
-- the mean predicted CLV of a segment is its customers' (before their rounding to cents)
SELECT count(*) AS differing FROM segment.segment_summary AS m
WHERE m.segmentation = 'cd' AND m.segment_type = 'lifecycle'
  AND abs(m.predicted_clv - (SELECT avg(predicted_clv) FROM pr.cd_segments AS s WHERE s.lifecycle_segment = m.segment)) > 0.005;

-- the same predictions whichever way the orders are read
CREATE FUNCTION pr.prediction_differences(a regclass, b regclass) RETURNS int8
LANGUAGE plpgsql AS $$
DECLARE
    n int8;
BEGIN
    EXECUTE format($q$
        SELECT count(*) FROM (
            (SELECT customer_id, repeat_purchases, repeat_span_days, tenure_days, mean_repeat_value, p_alive, p_purchase,
                    round(expected_orders::numeric, 9), round(predicted_clv, 6), expected_next_order_at, churn_risk, predictive_segment FROM %1$s
             EXCEPT SELECT customer_id, repeat_purchases, repeat_span_days, tenure_days, mean_repeat_value, p_alive, p_purchase,
                    round(expected_orders::numeric, 9), round(predicted_clv, 6), expected_next_order_at, churn_risk, predictive_segment FROM %2$s)
            UNION ALL
            (SELECT customer_id, repeat_purchases, repeat_span_days, tenure_days, mean_repeat_value, p_alive, p_purchase,
                    round(expected_orders::numeric, 9), round(predicted_clv, 6), expected_next_order_at, churn_risk, predictive_segment FROM %2$s
             EXCEPT SELECT customer_id, repeat_purchases, repeat_span_days, tenure_days, mean_repeat_value, p_alive, p_purchase,
                    round(expected_orders::numeric, 9), round(predicted_clv, 6), expected_next_order_at, churn_risk, predictive_segment FROM %1$s)) AS d
        $q$, a, b) INTO n;
    RETURN n;
END $$;
CREATE TABLE pr.fast AS SELECT * FROM pr.cd_segments;
-- out of time order: the scan's days break, SQL sums them
CREATE TABLE pr.shuffled AS SELECT * FROM pr.orders ORDER BY md5(customer_id || ' ' || day || ' ' || amount);
UPDATE segment.segmentations SET orders = 'pr.shuffled' WHERE name = 'cd';
SELECT segment.refresh('cd');
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'cd' ORDER BY run_id DESC LIMIT 1;
SELECT pr.prediction_differences('pr.fast', 'pr.cd_segments') AS shuffled_vs_ordered;
-- a view: the SQL path
CREATE VIEW pr.orders_view AS SELECT * FROM pr.orders;
UPDATE segment.segmentations SET orders = 'pr.orders_view' WHERE name = 'cd';
SELECT segment.refresh('cd');
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'cd' ORDER BY run_id DESC LIMIT 1;
SELECT pr.prediction_differences('pr.fast', 'pr.cd_segments') AS sql_vs_scan;
UPDATE segment.segmentations SET orders = 'pr.orders' WHERE name = 'cd';

-- generated orders of 40,000 customers interleaved, several a day, with
-- refunds (as_of the end of a day: customer_summary counts whole days): the scan's days equal customer_summary's, in memory and past
-- segment.scan_memory (the partitions merge each customer's days), and the
-- SQL path's
CREATE TABLE pr.many AS
SELECT (1 + ((g::int8 * 48271) % 2147483647) % 40000)::int4 AS customer_id,
       timestamptz '2020-01-01 00:00+00' + g * interval '7 minutes' AS ordered_at,
       CASE WHEN g % 23 = 0 THEN -(g % 40) ELSE 1 + (g::int8 * 7919) % 5000 / 100.0 END::numeric(10, 2) AS amount
FROM generate_series(1, 200000) AS g ORDER BY g;
SELECT segment.create_segmentation('many', 'pr.many', 'customer_id', 'ordered_at', 'amount', predict => true,
    as_of => '2022-06-30 23:59:59.999999+00', clusters => 0, time_zone => 'UTC', target_table => 'pr.many_segments') AS customers;
CREATE TABLE pr.many_reference AS
SELECT * FROM segment.customer_summary('pr.many', 'customer_id', 'ordered_at', 'amount', '2022-06-30');
SELECT count(*) AS customers, count(*) FILTER (WHERE s.repeat_purchases IS DISTINCT FROM c.x::int8
                                               OR s.repeat_span_days IS DISTINCT FROM c.t_x
                                               OR s.tenure_days IS DISTINCT FROM c."T"
                                               OR abs(s.mean_repeat_value - c.mean_value::numeric) > 1e-9
                                               OR (s.mean_repeat_value IS NULL) <> (c.mean_value IS NULL)) AS differing,
       count(*) FILTER (WHERE c.mean_value IS NULL AND c.x > 0) AS refunded_repeats
FROM pr.many_reference AS c FULL JOIN pr.many_segments AS s ON s.customer_id::text = c.customer
WHERE s.repeat_purchases IS NOT NULL OR c.customer IS NOT NULL;
CREATE TABLE pr.many_memory AS SELECT * FROM pr.many_segments;
SET segment.scan_memory = '1MB';
SELECT segment.refresh('many');
RESET segment.scan_memory;
SELECT scan_method, scan_partitions > 0 AS spilled FROM segment.job_runs WHERE segmentation = 'many' ORDER BY run_id DESC LIMIT 1;
SELECT pr.prediction_differences('pr.many_memory', 'pr.many_segments') AS spilled_vs_memory;
CREATE VIEW pr.many_view AS SELECT * FROM pr.many;
UPDATE segment.segmentations SET orders = 'pr.many_view' WHERE name = 'many';
SELECT segment.refresh('many');
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'many' ORDER BY run_id DESC LIMIT 1;
SELECT pr.prediction_differences('pr.many_memory', 'pr.many_segments') AS sql_vs_scan;
-- a time zone with summer time: days are the zone's, as ::date gives them
UPDATE segment.segmentations SET orders = 'pr.many', time_zone = 'America/New_York', as_of = '2022-06-30 23:59:59.999999-04'
WHERE name = 'many';
SELECT segment.refresh('many');
SET TimeZone = 'America/New_York';
CREATE TABLE pr.many_ny AS
SELECT * FROM segment.customer_summary('pr.many', 'customer_id', 'ordered_at', 'amount', '2022-06-30');
RESET TimeZone;
SET TimeZone = 'UTC';
SELECT count(*) AS customers, count(*) FILTER (WHERE s.repeat_purchases IS DISTINCT FROM c.x::int8
                                               OR s.repeat_span_days IS DISTINCT FROM c.t_x
                                               OR s.tenure_days IS DISTINCT FROM c."T") AS differing,
       (SELECT count(*) FROM pr.many_ny AS n JOIN pr.many_reference AS r USING (customer) WHERE n.x <> r.x) AS other_than_utc
FROM pr.many_ny AS c FULL JOIN pr.many_segments AS s ON s.customer_id::text = c.customer
WHERE s.repeat_purchases IS NOT NULL OR c.customer IS NOT NULL;

-- the predictive segments in the migrations and the change log: a month on
UPDATE segment.segmentations SET as_of = '1997-10-31' WHERE name = 'cd';
CREATE TABLE pr.later AS SELECT * FROM pr.all_orders WHERE day <= '1997-10-31' ORDER BY day, customer_id;
UPDATE segment.segmentations SET orders = 'pr.later' WHERE name = 'cd';
SELECT segment.refresh('cd');
SELECT sum(customers) AS customers, sum(customers) FILTER (WHERE from_segment <> to_segment) AS moved
FROM segment.segment_migration WHERE segmentation = 'cd' AND segment_type = 'predictive';
SELECT count(*) FILTER (WHERE from_segment IS DISTINCT FROM to_segment) AS logged,
       (SELECT sum(customers) FROM segment.segment_migration WHERE segmentation = 'cd' AND segment_type = 'predictive'
          AND from_segment <> to_segment AND from_segment <> '(new)') AS migrated
FROM segment.membership_changes WHERE segmentation = 'cd' AND segment_type = 'predictive' AND from_segment IS NOT NULL;

-- predict off again: the columns stay, empty
UPDATE segment.segmentations SET predict = false WHERE name = 'cd';
SELECT segment.refresh('cd');
SELECT count(*) AS customers, count(p_alive) AS with_p_alive, count(predictive_segment) AS with_segment FROM pr.cd_segments;
SELECT count(*) AS predictive_rows FROM segment.segment_summary WHERE segmentation = 'cd' AND segment_type = 'predictive';

-- too few customers to fit: NULL predictions, a warning, a refresh that succeeds
CREATE TABLE pr.few AS SELECT * FROM pr.orders WHERE customer_id <= 60 ORDER BY day, customer_id;
SELECT segment.create_segmentation('few', 'pr.few', 'customer_id', 'day', 'amount', predict => true,
    as_of => '1997-09-30', clusters => 0, time_zone => 'UTC', target_table => 'pr.few_segments') AS customers;
SELECT status, warning FROM segment.job_runs WHERE segmentation = 'few';
SELECT count(*) AS customers, count(repeat_purchases) AS with_summary, count(p_alive) AS with_p_alive,
       count(predictive_segment) AS with_segment FROM pr.few_segments;
SELECT bgnbd_model IS NULL AS no_bgnbd, gammagamma_model IS NULL AS no_gammagamma FROM segment.segmentations WHERE name = 'few';

-- edited levels, tiers and names are read at the next refresh
UPDATE segment.predictive_segment_map SET segment = 'VIP Future' WHERE churn_risk = 'low' AND value_tier = 'high';
UPDATE segment.segmentations SET predict = true, orders = 'pr.orders', as_of = '1997-09-30' WHERE name = 'cd';
SELECT segment.refresh('cd');
SELECT count(*) AS vip_future FROM pr.cd_segments WHERE predictive_segment = 'VIP Future';
SELECT pr.prediction_differences('pr.fast', 'pr.cd_segments') = 2 * count(*) AS differing_only_by_name
FROM pr.cd_segments WHERE predictive_segment = 'VIP Future';
UPDATE segment.predictive_segment_map SET segment = 'Best Future Customers' WHERE churn_risk = 'low' AND value_tier = 'high';

-- more than 100 levels (or tiers) are refused, and the table is kept
INSERT INTO segment.churn_risk_levels SELECT 'level ' || g, g / 1000.0 FROM generate_series(1, 101) AS g;
SELECT segment.refresh('cd');
DELETE FROM segment.churn_risk_levels WHERE churn_risk LIKE 'level %';
SELECT count(*) AS still_there FROM pr.cd_segments WHERE predictive_segment = 'VIP Future';

-- next orders past the last representable time are NULL, not an invalid timestamp
CREATE TABLE pr.far AS
SELECT c AS customer_id, timestamptz '294276-01-01 00:00+00' + ((c * 37 + k * 53) % 270) * interval '1 day' AS ordered_at,
       10.0 + k AS amount
FROM generate_series(1, 300) AS c, generate_series(1, 1 + c % 5) AS k;
SELECT segment.create_segmentation('far', 'pr.far', 'customer_id', 'ordered_at', 'amount', predict => true,
    as_of => '294276-12-15 00:00+00', clusters => 0, time_zone => 'UTC', target_table => 'pr.far_segments') AS customers;
SELECT count(p_alive) AS with_p_alive, count(expected_next_order_at) AS with_next_order,
       count(*) FILTER (WHERE expected_next_order_at IS NULL AND p_alive > 0.5) AS past_the_end
FROM pr.far_segments;
SELECT segment.drop_segmentation('far');

-- incremental refreshes: the customers with new, changed or deleted orders
-- get their days from SQL, the others keep the last table's summary; the
-- same predictions as a full refresh of the same orders (the floats to
-- 1e-9: the models are fitted again on the same summaries)
CREATE TABLE pr.inc_orders AS SELECT * FROM pr.all_orders WHERE day <= '1997-09-30' ORDER BY day, customer_id;
SELECT segment.create_segmentation('inc', 'pr.inc_orders', 'customer_id', 'day', 'amount', predict => true,
    as_of => '1997-12-31', clusters => 0, time_zone => 'UTC', target_table => 'pr.inc_segments',
    incremental => 'triggers') AS customers;
-- the first one after predictions were turned on is full
UPDATE segment.segmentations SET predict = false WHERE name = 'inc';
SELECT segment.refresh('inc');
UPDATE segment.segmentations SET predict = true WHERE name = 'inc';
SELECT segment.refresh('inc');
SELECT refresh_kind, full_reason FROM segment.job_runs WHERE segmentation = 'inc' ORDER BY run_id DESC LIMIT 1;
-- later days, orders on a customer's last day, a refund that cancels a day, new customers, changes
INSERT INTO pr.inc_orders SELECT * FROM pr.all_orders WHERE day > '1997-09-30' AND day <= '1997-12-31';
INSERT INTO pr.inc_orders
SELECT customer_id, max(day), 1, 5.00 FROM pr.inc_orders WHERE customer_id % 7 = 0 GROUP BY customer_id;
INSERT INTO pr.inc_orders
SELECT customer_id, max(day), 1, -sum(amount) FROM pr.inc_orders WHERE customer_id % 11 = 0
GROUP BY customer_id, day HAVING day = (SELECT max(day) FROM pr.inc_orders AS o WHERE o.customer_id = inc_orders.customer_id);
INSERT INTO pr.inc_orders VALUES (900001, '1997-10-05', 1, 12.00), (900001, '1997-11-05', 1, 14.00), (900002, '1997-12-01', 1, 3.00);
UPDATE pr.inc_orders SET amount = amount * 2 WHERE customer_id % 13 = 0 AND day < '1997-06-01';
DELETE FROM pr.inc_orders WHERE customer_id % 17 = 0 AND day < '1997-03-01';
SELECT segment.refresh('inc');
SELECT refresh_kind, full_reason, customers_changed > 0 AS changed, warning FROM segment.job_runs
WHERE segmentation = 'inc' ORDER BY run_id DESC LIMIT 1;
CREATE TABLE pr.inc_incremental AS SELECT * FROM pr.inc_segments;
SELECT segment.refresh('inc', full => true);
SELECT count(*) AS customers,
       count(*) FILTER (WHERE i.repeat_purchases IS DISTINCT FROM f.repeat_purchases
                        OR i.repeat_span_days IS DISTINCT FROM f.repeat_span_days
                        OR i.tenure_days IS DISTINCT FROM f.tenure_days
                        OR (i.mean_repeat_value IS NULL) <> (f.mean_repeat_value IS NULL)
                        OR abs(i.mean_repeat_value - f.mean_repeat_value) > 1e-9 * abs(f.mean_repeat_value)) AS summaries,
       count(*) FILTER (WHERE (i.p_alive IS NULL) <> (f.p_alive IS NULL) OR abs(i.p_alive - f.p_alive) > 1e-9
                        OR abs(i.p_purchase - f.p_purchase) > 1e-9
                        OR abs(i.expected_orders - f.expected_orders) > 1e-9 * greatest(f.expected_orders, 1)
                        OR abs(i.predicted_clv - f.predicted_clv) > 0.01
                        OR abs(extract(epoch FROM i.expected_next_order_at - f.expected_next_order_at)) > 1
                        OR (i.expected_next_order_at IS NULL) <> (f.expected_next_order_at IS NULL)) AS scores,
       count(*) FILTER (WHERE i.churn_risk IS DISTINCT FROM f.churn_risk
                        OR i.predictive_segment IS DISTINCT FROM f.predictive_segment) AS segments
FROM pr.inc_incremental AS i FULL JOIN pr.inc_segments AS f USING (customer_id);
SELECT segment.drop_segmentation('inc');
-- the same by watermark (appends only)
CREATE TABLE pr.wm_orders (customer_id int4, day date, cds int4, amount numeric(10, 2), seq bigserial);
INSERT INTO pr.wm_orders (customer_id, day, cds, amount)
SELECT customer_id, day, cds, amount FROM pr.all_orders WHERE day <= '1997-09-30' ORDER BY day, customer_id;
SELECT segment.create_segmentation('wm', 'pr.wm_orders', 'customer_id', 'day', 'amount', predict => true,
    as_of => '1997-12-31', clusters => 0, time_zone => 'UTC', target_table => 'pr.wm_segments',
    incremental => 'watermark', watermark_column => 'seq') AS customers;
INSERT INTO pr.wm_orders (customer_id, day, cds, amount)
SELECT customer_id, day, cds, amount FROM pr.all_orders WHERE day > '1997-09-30' AND day <= '1997-12-31' ORDER BY day;
INSERT INTO pr.wm_orders (customer_id, day, cds, amount)
SELECT customer_id, max(day), 1, -1.00 FROM pr.wm_orders WHERE customer_id % 5 = 0 GROUP BY customer_id;
SELECT segment.refresh('wm');
SELECT refresh_kind, full_reason FROM segment.job_runs WHERE segmentation = 'wm' ORDER BY run_id DESC LIMIT 1;
CREATE TABLE pr.wm_incremental AS SELECT * FROM pr.wm_segments;
SELECT segment.refresh('wm', full => true);
SELECT count(*) AS customers,
       count(*) FILTER (WHERE i.repeat_purchases IS DISTINCT FROM f.repeat_purchases
                        OR i.repeat_span_days IS DISTINCT FROM f.repeat_span_days
                        OR i.tenure_days IS DISTINCT FROM f.tenure_days
                        OR abs(i.p_purchase - f.p_purchase) > 1e-9
                        OR abs(i.predicted_clv - f.predicted_clv) > 0.01
                        OR i.predictive_segment IS DISTINCT FROM f.predictive_segment) AS differing
FROM pr.wm_incremental AS i FULL JOIN pr.wm_segments AS f USING (customer_id);
SELECT segment.drop_segmentation('wm');

-- bad parameters: each its error, nothing made
SELECT segment.create_segmentation('bad', 'pr.orders', 'customer_id', 'day', 'amount', predict => true, horizon => '0 days');
SELECT segment.create_segmentation('bad', 'pr.orders', 'customer_id', 'day', 'amount', predict => true, discount_rate => -0.1);
SELECT segment.create_segmentation('bad', 'pr.orders', 'customer_id', 'day', 'amount', predict => NULL);
\set VERBOSITY terse
UPDATE segment.segmentations SET horizon = '200 years' WHERE name = 'cd';
UPDATE segment.segmentations SET discount_rate = 'NaN' WHERE name = 'cd';
\set VERBOSITY default
SELECT count(*) AS bad_segmentations, to_regclass('public.bad_segments') AS bad_table FROM segment.segmentations WHERE name = 'bad';

-- the editable tables are the superuser's: an ordinary role reads them only
CREATE ROLE pr_user;
SET ROLE pr_user;
UPDATE segment.churn_risk_levels SET min_p_purchase = 0.9 WHERE churn_risk = 'low';
INSERT INTO segment.value_tiers VALUES ('top', 0.01);
DELETE FROM segment.predictive_segment_map;
SELECT count(*) AS levels FROM segment.churn_risk_levels;
RESET ROLE;
DROP ROLE pr_user;

SELECT segment.drop_segmentation('cd');
SELECT segment.drop_segmentation('few');
SELECT segment.drop_segmentation('many');
DROP SCHEMA pr CASCADE;
