-- Customer summaries and the backtest of the buy-till-you-die models on the
-- CDNOW purchases (test/data/cdnow_transactions.csv): the summaries match
-- the published ones (test/data/cdnow_summary.csv) customer for customer.

\getenv abs_srcdir PG_ABS_SRCDIR
\set transactions :abs_srcdir '/test/data/cdnow_transactions.csv'
\set summary :abs_srcdir '/test/data/cdnow_summary.csv'
CREATE TABLE cdnow_orders (customer_id int4, day date, cds int4, amount numeric(10, 2));
COPY cdnow_orders FROM :'transactions' WITH (FORMAT csv, HEADER);
CREATE TABLE cdnow_published (id int4, x float8, t_x float8, "T" float8, zbar float8);
COPY cdnow_published FROM :'summary' WITH (FORMAT csv, HEADER);

-- the 39-week calibration (1997-01-01 .. 1997-09-30), in weeks: every
-- customer's x, t_x, T and mean repeat value as published, to the printed
-- two decimals; the eight customers who bought only for $0 made no
-- purchase by segment's rule (a day's orders are a purchase when their net
-- amount is positive)
CREATE TABLE summary AS
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'day', 'amount', '1997-09-30', '7 days');
SELECT count(*) AS customers,
       count(*) FILTER (WHERE s.x = p.x AND round(s.t_x::numeric, 2) = p.t_x::numeric
                        AND round(s."T"::numeric, 2) = p."T"::numeric
                        AND round(coalesce(s.mean_value, 0)::numeric, 2) = p.zbar::numeric) AS as_published
FROM summary AS s JOIN cdnow_published AS p ON p.id = s.customer::int4;
SELECT p.id, p.x, (SELECT sum(amount) FROM cdnow_orders AS o WHERE o.customer_id = p.id) AS spent
FROM cdnow_published AS p
WHERE p.id::text NOT IN (SELECT customer FROM summary) ORDER BY p.id;
-- customer 1 (00004): purchases on 1997-01-01 ($29.33), 01-18 ($29.73), 08-02 ($14.96) in the calibration
SELECT * FROM summary WHERE customer = '1';

-- refunds and same-day orders, by hand: customer 10 buys 10 on day 1 and 30
-- + 20 on day 3 (one purchase of 50), refunds 15 on day 5 and buys 5 on day 8
-- (8 - 1 = 7 days); as of day 10: x = 2, t_x = 7, T = 9, mean (50 - 15 + 5) / 2 = 20.
-- Customer 11 only refunds: no purchase.  Customer 12 buys once, then its
-- refund leaves the repeat value at -5: no mean.
CREATE TABLE small_orders (customer_id int8, ordered_at timestamptz, amount numeric);
INSERT INTO small_orders VALUES
    (10, '2024-01-01 10:00+00', 10), (10, '2024-01-03 09:00+00', 30), (10, '2024-01-03 18:00+00', 20),
    (10, '2024-01-05 12:00+00', -15), (10, '2024-01-08 12:00+00', 5), (10, '2024-01-20 12:00+00', 99),
    (11, '2024-01-02 12:00+00', -7),
    (12, '2024-01-02 12:00+00', 40), (12, '2024-01-04 12:00+00', 3), (12, '2024-01-05 12:00+00', -8),
    (13, NULL, 5), (NULL, '2024-01-02 12:00+00', 5);
SET TimeZone = 'UTC';
SELECT * FROM segment.customer_summary('small_orders', 'customer_id', 'ordered_at', 'amount', '2024-01-10')
ORDER BY customer;
RESET TimeZone;

-- the backtest: fitted on the calibration, forecasting weeks 40 to 78
CREATE TABLE backtest AS
SELECT * FROM segment.btyd_backtest('cdnow_orders', 'customer_id', 'day', 'amount', '1997-09-30', '1998-06-30', '7 days');
SELECT model, repeat_purchases, customers, actual_orders, round(predicted_orders::numeric, 1) AS predicted_orders,
       round(orders_error_pct::numeric, 1) AS orders_error_pct, round(orders_mae::numeric, 3) AS orders_mae,
       round(actual_value::numeric, 2) AS actual_value, round(predicted_value::numeric, 2) AS predicted_value,
       round(log_likelihood::numeric, 1) AS log_likelihood
FROM backtest ORDER BY model, repeat_purchases NULLS LAST;
-- the buckets add up to the totals, and the actuals are those of plain SQL
SELECT b.model, sum(b.customers) = t.customers AND abs(sum(b.predicted_orders) - t.predicted_orders) < 1e-6 AS adds_up
FROM backtest AS b JOIN backtest AS t ON t.model = b.model AND t.repeat_purchases IS NULL
WHERE b.repeat_purchases IS NOT NULL GROUP BY b.model, t.customers, t.predicted_orders ORDER BY 1;
SELECT (SELECT actual_orders FROM backtest WHERE model = 'bgnbd' AND repeat_purchases IS NULL)
       = (SELECT count(*) FROM (SELECT customer_id, day FROM cdnow_orders
                                WHERE day > '1997-09-30' AND customer_id IN (SELECT customer::int4 FROM summary)
                                GROUP BY 1, 2 HAVING sum(amount) > 0) AS d) AS actual_orders_match;

-- source columns named like the backtest's own (day, amount) are read as they are
CREATE TABLE odd_names (day int4, amount date, customer numeric);
INSERT INTO odd_names SELECT customer_id, day, amount FROM cdnow_orders;
SELECT b.model, b.predicted_orders = o.predicted_orders AND b.actual_orders = o.actual_orders AS same
FROM backtest AS b
JOIN segment.btyd_backtest('odd_names', 'day', 'amount', 'customer', '1997-09-30', '1998-06-30', '7 days') AS o
  ON o.model = b.model AND o.repeat_purchases IS NOT DISTINCT FROM b.repeat_purchases
WHERE b.repeat_purchases IS NULL ORDER BY 1;

-- bad input
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'day', 'amount', '1997-09-30', '1 month');
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'day', 'amount', '1997-09-30', '-1 day');
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'cds', 'amount', '1997-09-30');
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'day', 'nope', '1997-09-30');
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'day', 'amount', NULL);
SELECT * FROM segment.btyd_backtest('cdnow_orders', 'customer_id', 'day', 'amount', '1997-09-30', '1997-09-30');
-- the backtest checks its arguments before it builds a query (the fuzzer's finds)
SELECT * FROM segment.btyd_backtest(NULL, 'customer_id', 'day', 'amount', '1997-09-30', '1998-06-30');
SELECT * FROM segment.btyd_backtest('cdnow_orders', '', 'day', 'amount', '1997-09-30', '1998-06-30');
-- the caller's rights: a role without SELECT on the orders reads nothing
CREATE ROLE backtest_stranger;
SET ROLE backtest_stranger;
SELECT * FROM segment.customer_summary('cdnow_orders', 'customer_id', 'day', 'amount', '1997-09-30');
RESET ROLE;
DROP ROLE backtest_stranger;
