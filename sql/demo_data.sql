-- segment.generate_demo_data: deterministic for a seed, realistic in shape.

SELECT * FROM segment.generate_demo_data('demo_a', customers => 2000, seed => 7);
-- the session's time zone does not change the rows
SET TimeZone = 'Europe/Berlin';
SELECT relation, rows FROM segment.generate_demo_data('demo_b', customers => 2000, seed => 7);
SELECT relation, rows FROM segment.generate_demo_data('demo_c', customers => 2000, seed => 8);
RESET TimeZone;

-- same seed, same rows; another seed, other rows
SELECT (SELECT count(*) FROM (TABLE demo_a.orders EXCEPT ALL TABLE demo_b.orders) AS x) AS orders_differing,
       (SELECT count(*) FROM (TABLE demo_a.touchpoints EXCEPT ALL TABLE demo_b.touchpoints) AS x) AS touches_differing,
       (SELECT count(*) FROM (TABLE demo_a.spend EXCEPT ALL TABLE demo_b.spend) AS x) AS spend_differing,
       (SELECT count(*) FROM (TABLE demo_a.carts EXCEPT ALL TABLE demo_b.carts) AS x) AS carts_differing;
SELECT (SELECT count(*) FROM (TABLE demo_a.orders EXCEPT ALL TABLE demo_c.orders) AS x) > 1000 AS other_seed_differs;

-- the shape: heavy-tailed frequency, about 5% refunds, a December peak,
-- churned customers, every channel, no spend for organic and direct
WITH per_customer AS (
    SELECT customer_id, count(*) FILTER (WHERE amount > 0) AS n, max(ordered_at) AS last_at
    FROM demo_a.orders GROUP BY customer_id)
SELECT count(*) AS customers,
       round(avg(n), 1) BETWEEN 4 AND 6 AS mean_orders_near_5,
       (count(*) FILTER (WHERE n = 1))::float8 / count(*) BETWEEN 0.25 AND 0.5 AS many_one_time_buyers,
       max(n) >= 50 AS long_tail,
       (count(*) FILTER (WHERE last_at < '2025-07-01'))::float8 / count(*) BETWEEN 0.3 AND 0.7 AS many_churned
FROM per_customer;
SELECT (count(*) FILTER (WHERE amount < 0))::float8 / count(*) BETWEEN 0.03 AND 0.06 AS refund_share,
       bool_and(amount <> 0) AS no_zero_amounts,
       bool_and(ordered_at < '2026-01-01 00:00+00' AND ordered_at >= '2023-01-02 00:00+00') AS within_span,
       (count(*) FILTER (WHERE extract(month FROM ordered_at AT TIME ZONE 'UTC') = 12))::float8 / count(*) > 2.0 / 12 AS december_peak,
       count(DISTINCT order_id) = count(*) FILTER (WHERE amount > 0) AS one_sale_per_order_id,
       bool_and(order_id IN (SELECT order_id FROM demo_a.orders WHERE amount > 0)) FILTER (WHERE amount < 0) AS refunds_follow_orders
FROM demo_a.orders;
SELECT channel, count(*) > 0 AS touched, channel IN (SELECT channel FROM demo_a.spend) AS has_spend
FROM demo_a.touchpoints GROUP BY channel ORDER BY channel;
SELECT count(DISTINCT customer_id) FILTER (WHERE customer_id > 2000) AS prospects_touched,
       count(*) FILTER (WHERE customer_id <= 2000
                        AND NOT EXISTS (SELECT 1 FROM demo_a.orders AS o WHERE o.customer_id = t.customer_id)) AS customers_without_orders
FROM demo_a.touchpoints AS t;
SELECT count(DISTINCT customer_id) > 200 AS abandoners_and_buyers, min(added_at) >= '2023-01-01' AS carts_in_span
FROM demo_a.carts;
SELECT min(day) AS first_day, max(day) AS last_day, count(DISTINCT channel) AS paid_channels, bool_and(cost > 0) AS positive_costs
FROM demo_a.spend;

-- existing tables are never overwritten silently, and stay untouched
SELECT segment.generate_demo_data('demo_a', customers => 10, seed => 1);
SELECT count(*) AS orders_still_there FROM demo_a.orders;
-- replace => true regenerates them
SELECT relation, rows FROM segment.generate_demo_data('demo_a', customers => 10, seed => 1, replace => true);

SET client_min_messages = warning;
DROP SCHEMA demo_a, demo_b, demo_c CASCADE;
