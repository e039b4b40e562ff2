-- The buy-till-you-die models against their published estimates on the
-- CDNOW sample (test/data/cdnow_summary.csv: 2,357 customers, 39-week
-- calibration, in weeks), parameters recovered from simulated customers,
-- scores against their closed forms, parallel and text-form fits against
-- the serial one, and bad input.

\getenv abs_srcdir PG_ABS_SRCDIR
\set csv :abs_srcdir '/test/data/cdnow_summary.csv'
CREATE TABLE cdnow (id int4, x float8, t_x float8, "T" float8, zbar float8);
COPY cdnow FROM :'csv' WITH (FORMAT csv, HEADER);
SELECT count(*) AS customers, count(*) FILTER (WHERE x > 0) AS repeat_buyers FROM cdnow;

-- BG/NBD (Fader, Hardie & Lee 2005): r = 0.243, alpha = 4.414, a = 0.793,
-- b = 2.426, log-likelihood -9582.4
CREATE TABLE cdnow_models AS
SELECT segment.bgnbd_fit(x, t_x, "T") AS bgnbd, segment.gammagamma_fit(x, zbar) AS gg,
       segment.paretonbd_fit(x, t_x, "T") AS pnbd
FROM cdnow;
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(a::numeric, 3) AS a,
       round(b::numeric, 3) AS b, round(log_likelihood::numeric, 1) AS log_likelihood, customers, converged
FROM cdnow_models, segment.bgnbd_info(bgnbd);

-- Gamma-Gamma on the 946 repeat buyers (Fader, Hardie & Lee's note):
-- p = 6.25, q = 3.74, gamma = 15.44 (the maximum is at 15.4477; the note's
-- spreadsheet stopped within 0.01 of it)
SELECT round(p::numeric, 2) AS p, round(q::numeric, 2) AS q, abs(gamma - 15.44) < 0.01 AS gamma_15_44,
       customers, converged
FROM cdnow_models, segment.gammagamma_info(gg);

-- Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie's
-- estimates): r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669.  The
-- likelihood is flat along (s, beta): the fit stops at beta = 11.668, where
-- the log-likelihood is higher than at the published point
SELECT round(r::numeric, 3) AS r, round(alpha::numeric, 3) AS alpha, round(s::numeric, 3) AS s,
       abs(beta - 11.669) < 0.002 AS beta_11_669, round(log_likelihood::numeric, 1) AS log_likelihood, converged,
       log_likelihood >= (SELECT sum(segment.paretonbd_log_likelihood(
                              'r=0.553;alpha=10.578;s=0.606;beta=11.669;log_likelihood=0;customers=1;iterations=0;converged=true',
                              x, t_x, "T")) FROM cdnow) AS beats_published
FROM cdnow_models, segment.paretonbd_info(pnbd);
-- its P(alive) against the same integral by Simpson's rule in SQL (2,000
-- intervals): P = A / (A + s * integral from t_x to T of (alpha + tau)^-(r+x)
-- (beta + tau)^-(s+1)), A = (alpha + T)^-(r+x) (beta + T)^-s
WITH p AS (SELECT (segment.paretonbd_info(pnbd)).*, pnbd FROM cdnow_models),
cases(x, t_x, "T") AS (VALUES (2.0::float8, 30.43::float8, 38.86::float8), (0, 0, 38.86), (7, 1.5, 38.5), (1, 38.5, 38.5)),
simpson AS (
    SELECT c.x, c.t_x, c."T",
           sum(CASE WHEN i IN (0, 2000) THEN 1 WHEN i % 2 = 1 THEN 4 ELSE 2 END
               * (p.alpha + tau) ^ (-(p.r + c.x)) * (p.beta + tau) ^ (-(p.s + 1))) * (c."T" - c.t_x) / 2000 / 3 AS integral
    FROM p, cases AS c, generate_series(0, 2000) AS i, LATERAL (SELECT c.t_x + i * (c."T" - c.t_x) / 2000) AS t(tau)
    GROUP BY 1, 2, 3)
SELECT x, t_x, "T", round(segment.paretonbd_p_alive(pnbd, x, t_x, "T")::numeric, 6) AS p_alive,
       abs(segment.paretonbd_p_alive(pnbd, x, t_x, "T")
           - ((p.alpha + "T") ^ (-(p.r + x)) * (p.beta + "T") ^ (-p.s))
             / ((p.alpha + "T") ^ (-(p.r + x)) * (p.beta + "T") ^ (-p.s) + p.s * integral)) < 1e-10 AS simpson_agrees
FROM simpson, p ORDER BY x, t_x;
-- expected purchases: at s = 1 the limit (r + x) (beta + T) / (alpha + T) log(1 + t / (beta + T)) P(alive),
-- and on both sides of it continuous
SELECT abs(segment.paretonbd_expected_orders(m1, 10, 2, 5, 8)
           - segment.paretonbd_p_alive(m1, 2, 5, 8) * 3.0 * 10 / 9 * ln(1 + 10.0 / 10)) < 1e-12 AS s1_limit,
       abs(segment.paretonbd_expected_orders(m_below, 10, 2, 5, 8) - segment.paretonbd_expected_orders(m1, 10, 2, 5, 8)) < 1e-6
       AND abs(segment.paretonbd_expected_orders(m_above, 10, 2, 5, 8) - segment.paretonbd_expected_orders(m1, 10, 2, 5, 8)) < 1e-6
           AS continuous
FROM (SELECT 'r=1;alpha=1;s=1;beta=2;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.paretonbd_model AS m1,
             'r=1;alpha=1;s=0.9999999;beta=2;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.paretonbd_model AS m_below,
             'r=1;alpha=1;s=1.0000001;beta=2;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.paretonbd_model AS m_above) AS m;
-- which model fits CDNOW's calibration better: the log-likelihoods side by side
SELECT round((segment.bgnbd_info(bgnbd)).log_likelihood::numeric, 1) AS bgnbd,
       round((segment.paretonbd_info(pnbd)).log_likelihood::numeric, 1) AS paretonbd,
       round(segment.paretonbd_expected_orders(pnbd, 39, 2, 30.43, 38.86)::numeric, 3) AS paretonbd_customer_1
FROM cdnow_models;

-- customer 1 (x = 2, t_x = 30.43, T = 38.86): 1.226 purchases expected in
-- the next 39 weeks (the paper's worked example)
SELECT round(segment.bgnbd_expected_orders(bgnbd, 39, 2, 30.43, 38.86)::numeric, 3) AS expected_39_weeks,
       round(segment.bgnbd_p_alive(bgnbd, 2, 30.43, 38.86)::numeric, 4) AS p_alive
FROM cdnow_models;

-- P(alive) is 1 without repeat purchases, below 1 with; it falls as the
-- last purchase recedes, and expected purchases grow with the horizon
SELECT bool_and(segment.bgnbd_p_alive(bgnbd, 0, 0, c."T") = 1) FILTER (WHERE x = 0) AS no_repeat_alive,
       bool_and(segment.bgnbd_p_alive(bgnbd, x, t_x, c."T") < 1) FILTER (WHERE x > 0) AS repeat_below_1,
       bool_and(segment.bgnbd_p_alive(bgnbd, 3, 10, 38) < segment.bgnbd_p_alive(bgnbd, 3, 30, 38)) AS recency_counts,
       bool_and(segment.bgnbd_expected_orders(bgnbd, 10, x, t_x, c."T")
                < segment.bgnbd_expected_orders(bgnbd, 20, x, t_x, c."T")) AS grows_with_horizon
FROM cdnow_models, cdnow AS c;

-- the sample's expected repeat purchases in weeks 40-78
SELECT round(sum(segment.bgnbd_expected_orders(bgnbd, 39, x, t_x, c."T"))::numeric) AS forecast_weeks_40_78
FROM cdnow_models, cdnow AS c;

-- closed forms at hand-picked points.  r = 1, alpha = 1, a = 2, b = 2:
-- P(alive | 1, 1, 2) = 1 / (1 + 2/2 (3/2)^2) = 4/13; for a new customer
-- (x = t_x = T = 0) E[X(1)] = 3 (1 - 1/2 2F1(1, 2; 3; 1/2)) with
-- 2F1(1, 2; 3; z) = -2 (z + ln(1 - z)) / z^2
SELECT abs(segment.bgnbd_p_alive(m, 1, 1, 2) - 4.0 / 13) < 1e-15 AS p_alive_4_13,
       abs(segment.bgnbd_expected_orders(m, 1, 0, 0, 0) - 3 * (1 - 0.5 * (-2 * (0.5 + ln(0.5)) / 0.25))) < 1e-12
           AS expected_closed_form,
       segment.bgnbd_expected_orders(m, 0, 4, 2, 5) AS nothing_in_no_time
FROM (SELECT 'r=1;alpha=1;a=2;b=2;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.bgnbd_model AS m) AS s;
-- Gamma-Gamma p = 2, q = 3, gamma = 4: x = 2, mean 10: 2 (4 + 20) / (4 + 3 - 1) = 8;
-- x = 0: p gamma / (q - 1) = 4; q <= 1: no population mean
SELECT segment.gammagamma_expected_value(m, 2, 10) AS x2_mean10, segment.gammagamma_expected_value(m, 0, NULL) AS x0,
       segment.gammagamma_expected_value('p=2;q=1;gamma=4;log_likelihood=0;customers=1;iterations=0;converged=true', 0, 5)
           AS q1_x0,
       segment.gammagamma_expected_value(m, 3, NULL) AS no_mean, segment.gammagamma_expected_value(m, NULL, 3) AS no_x
FROM (SELECT 'p=2;q=3;gamma=4;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.gammagamma_model AS m) AS s;

-- the next order: for a new customer of r = 1, alpha = 1 (a, b aside)
-- P(a purchase by t) = 1 - 1/(1 + t) = 1/2 at t = 1; with x = 1, t_x = 1,
-- T = 2, P(alive) = 4/13 < 1/2: none; with x = 3, t_x = 9, T = 10 the
-- purchase probability at the time found is 1/2
SELECT segment.bgnbd_next_order_in(m, 0, 0, 0) AS new_customer, segment.bgnbd_next_order_in(m, 1, 1, 2) AS likely_gone,
       abs(segment.bgnbd_p_alive(m, 3, 9, 10)
           * (1 - ((1 + 10) / (1 + 10 + segment.bgnbd_next_order_in(m, 3, 9, 10))) ^ (1 + 3)) - 0.5) < 1e-12 AS half
FROM (SELECT 'r=1;alpha=1;a=2;b=2;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.bgnbd_model AS m) AS s;
-- predicted CLV: a new customer (x = 0: the population's order value 4)
-- over 2 periods of 1 at 10% a period: (E[Y(1)] / 1.1 + (E[Y(2)] - E[Y(1)]) / 1.21) * 4;
-- no discount over one period: E[Y(h)] * 4 whatever h; a repeat buyer's value is his expected order value
SELECT abs(segment.predicted_clv(m, g, 0, 0, 0, NULL, 2, 1, 0.1)
           - (segment.bgnbd_expected_orders(m, 1, 0, 0, 0) / 1.1
              + (segment.bgnbd_expected_orders(m, 2, 0, 0, 0) - segment.bgnbd_expected_orders(m, 1, 0, 0, 0)) / 1.21) * 4)
           < 1e-12 AS discounted,
       abs(segment.predicted_clv(m, g, 0, 0, 0, NULL, 2.5, 2.5, 0) - segment.bgnbd_expected_orders(m, 2.5, 0, 0, 0) * 4)
           < 1e-12 AS one_period,
       abs(segment.predicted_clv(m, g, 2, 3, 5, 10, 3, 1, 0)
           - segment.bgnbd_expected_orders(m, 3, 2, 3, 5) * segment.gammagamma_expected_value(g, 2, 10)) < 1e-12
           AS repeat_buyer,
       segment.predicted_clv(m, g, 2, 3, 5, NULL, 3, 1, 0) AS no_mean_value
FROM (SELECT 'r=1;alpha=1;a=2;b=2;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.bgnbd_model AS m,
             'p=2;q=3;gamma=4;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.gammagamma_model AS g) AS s;
-- CDNOW customer 1 over the next 39 weeks, undiscounted
SELECT round(segment.predicted_clv(bgnbd, gg, 2, 30.43, 38.86, 22.35, 39, 39, 0)::numeric, 2) AS clv_39_weeks,
       round(segment.bgnbd_next_order_in(bgnbd, 2, 30.43, 38.86)::numeric, 2) AS next_order_in_weeks
FROM cdnow_models;

-- the fitted parameters maximize the likelihood: the per-customer
-- log-likelihoods sum to the model's, and moving any parameter 1% either
-- way lowers the sum
CREATE FUNCTION bgnbd_moved(m segment.bgnbd_model, i int4, factor float8) RETURNS segment.bgnbd_model
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('r=%s;alpha=%s;a=%s;b=%s;log_likelihood=0;customers=1;iterations=0;converged=true',
                  r * CASE i WHEN 1 THEN factor ELSE 1 END, alpha * CASE i WHEN 2 THEN factor ELSE 1 END,
                  a * CASE i WHEN 3 THEN factor ELSE 1 END, b * CASE i WHEN 4 THEN factor ELSE 1 END)::segment.bgnbd_model
    FROM segment.bgnbd_info(m)
$$;
SELECT abs(sum(segment.bgnbd_log_likelihood(bgnbd, x, t_x, c."T"))
           - min((segment.bgnbd_info(bgnbd)).log_likelihood)) < 1e-6 AS sums_to_model
FROM cdnow_models, cdnow AS c;
SELECT i AS parameter, bool_and(moved < fitted) AS lower_both_ways
FROM (SELECT i, f, sum(segment.bgnbd_log_likelihood(bgnbd_moved(bgnbd, i, f), x, t_x, c."T")) AS moved,
             sum(segment.bgnbd_log_likelihood(bgnbd, x, t_x, c."T")) AS fitted
      FROM cdnow_models, cdnow AS c, generate_series(1, 4) AS i, unnest(ARRAY[0.99, 1.01]) AS f
      GROUP BY i, f) AS t
GROUP BY i ORDER BY i;
SELECT abs(sum(segment.gammagamma_log_likelihood(gg, x, zbar))
           - min((segment.gammagamma_info(gg)).log_likelihood)) < 1e-6 AS gg_sums_to_model
FROM cdnow_models, cdnow WHERE x > 0;

-- simulated customers from known parameters r = 2, alpha = 10 (purchase
-- rates Gamma(2, rate 10) per week), a = 1, b = 3 (drop-out Beta(1, 3)),
-- observed 20 to 52 weeks: the fit recovers each within 5%
SELECT setseed(0.42);
CREATE TABLE simulated AS
WITH RECURSIVE customers AS MATERIALIZED (
    SELECT id, (-ln(1 - random()) - ln(1 - random())) / 10 AS lambda, g1 / (g1 + g3) AS p, 20 + 32 * random() AS "T"
    FROM (SELECT id, -ln(1 - random()) AS g1, -ln(1 - random()) - ln(1 - random()) - ln(1 - random()) AS g3
          FROM generate_series(1, 20000) AS id) AS draws
), purchases AS (
    -- the first purchase at 0; after each repeat purchase the customer drops out with probability p
    SELECT id, lambda, p, "T", 0.0::float8 AS t, 0 AS x, true AS alive FROM customers
    UNION ALL
    SELECT id, lambda, p, "T", t + gap, x + 1, random() >= p
    FROM (SELECT *, -ln(1 - random()) / lambda AS gap FROM purchases WHERE alive) AS next
    WHERE t + gap <= "T"
)
SELECT id, max(x)::float8 AS x, max(t) AS t_x, "T" FROM purchases GROUP BY id, "T";
SELECT abs(r / 2 - 1) < 0.05 AS r_2, abs(alpha / 10 - 1) < 0.05 AS alpha_10, abs(a - 1) < 0.05 AS a_1,
       abs(b / 3 - 1) < 0.05 AS b_3, converged
FROM (SELECT (segment.bgnbd_info(segment.bgnbd_fit(x, t_x, "T"))).* FROM simulated) AS f;

-- a parallel plan (partial states combined) and a state read from its text
-- form (each distinct summary once, weighted) give the serial model bit for bit
CREATE TABLE cdnow_many AS SELECT c.* FROM cdnow AS c, generate_series(1, 40);
ANALYZE cdnow_many;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT segment.bgnbd_fit(x, t_x, "T") FROM cdnow_many;
CREATE TABLE parallel_fit AS
SELECT segment.bgnbd_fit(x, t_x, "T")::text AS bgnbd, segment.gammagamma_fit(x, zbar)::text AS gg FROM cdnow_many;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT p.bgnbd = s.bgnbd::text AS bgnbd_parallel_equal, p.gg = s.gg::text AS gg_parallel_equal
FROM parallel_fit AS p,
     (SELECT segment.bgnbd_fit(x, t_x, "T") AS bgnbd, segment.gammagamma_fit(x, zbar) AS gg FROM cdnow_many) AS s;
-- Pareto/NBD's the same way, on the 2,357 customers
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE parallel_pnbd AS SELECT segment.paretonbd_fit(x, t_x, "T")::text AS pnbd FROM cdnow;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SET max_parallel_workers_per_gather = 0;
SELECT p.pnbd = m.pnbd::text AS pnbd_parallel_equal FROM parallel_pnbd AS p, cdnow_models AS m;
SELECT segment.bgnbd_fit_final(('kind=summary;points=' || string_agg(x || ',' || t_x || ',' || "T" || ',' || n * 40, '|'))::segment.btyd_state)::text
       = (SELECT bgnbd FROM parallel_fit) AS state_text_equal
FROM (SELECT x, t_x, "T", count(*) AS n FROM cdnow GROUP BY 1, 2, 3) AS d;
RESET max_parallel_workers_per_gather;
-- the model's text form round-trips exactly
SELECT bgnbd::text::segment.bgnbd_model::text = bgnbd::text AS bgnbd_round_trip,
       gg::text::segment.gammagamma_model::text = gg::text AS gg_round_trip,
       pnbd::text::segment.paretonbd_model::text = pnbd::text AS pnbd_round_trip
FROM cdnow_models;

-- a state stored in a table (toasted: 2 kB and more) reads back, prints,
-- copies out and fits; an aggregate of one's own over stored states
-- combines them like the fit does
CREATE TABLE stored_states (s segment.btyd_state);
INSERT INTO stored_states
SELECT ('kind=summary;points=' || string_agg(x || ',' || t_x || ',' || "T" || ',' || n, '|'))::segment.btyd_state
FROM (SELECT x, t_x, "T", count(*) AS n FROM cdnow GROUP BY 1, 2, 3) AS d GROUP BY x > 0;
SELECT count(*) AS states, sum(length(s::text)) > 10000 AS long, bool_and(pg_column_size(s) < length(s::text)) AS compressed
FROM stored_states;
COPY (SELECT length(s::text) > 0 FROM stored_states) TO STDOUT;
CREATE AGGREGATE merge_states(segment.btyd_state) (SFUNC = segment.btyd_state_combine, STYPE = segment.btyd_state);
SELECT segment.bgnbd_fit_final(merge_states(s))::text = (SELECT bgnbd::text FROM cdnow_models) AS stored_fit_equal
FROM stored_states;
DROP AGGREGATE merge_states(segment.btyd_state);
-- weights are customer counts: at most 2^53 each, and a fit counts at most 2^53
SELECT 'kind=spend;points=1,10,0,1e300'::segment.btyd_state;
SELECT segment.gammagamma_fit_final('kind=spend;points=1,10,0,9007199254740992|2,10,0,9007199254740992');

-- BG/NBD's expected purchases where the paper's form fails: a = 1 (it
-- divides by a - 1) and a + b <= 1 without repeat purchases (2F1 with c <= 0):
-- continuous across both, positive, growing with the horizon
WITH m(a, b, model) AS (
    SELECT a, b, format('r=0.5;alpha=10;a=%s;b=%s;log_likelihood=0;customers=1;iterations=0;converged=true', a, b)::segment.bgnbd_model
    FROM (VALUES (0.9999999, 2.0), (1.0, 2.0), (1.0000001, 2.0), (0.3, 0.69999), (0.3, 0.7), (0.3, 0.70001)) AS v(a, b))
SELECT a, b, round(segment.bgnbd_expected_orders(model, 10, 0, 0, 30)::numeric, 6) AS new_customer_10,
       round(segment.bgnbd_expected_orders(model, 10, 3, 20, 30)::numeric, 6) AS repeat_buyer_10,
       segment.bgnbd_expected_orders(model, 20, 0, 0, 30) > segment.bgnbd_expected_orders(model, 10, 0, 0, 30) AS grows
FROM m ORDER BY a, b;
-- Gamma-Gamma's mean spend is infinite when p x + q <= 1: NULL, not a negative number
SELECT segment.gammagamma_expected_value('p=0.1;q=0.5;gamma=1;log_likelihood=0;customers=1;iterations=0;converged=true', 1, 10)
           AS infinite_mean;
-- Pareto/NBD with alpha and beta far apart: P(alive) stays a probability
SELECT p BETWEEN 0 AND 1 AS probability
FROM (SELECT segment.paretonbd_p_alive('r=1;alpha=1e12;s=1;beta=1e-12;log_likelihood=0;customers=1;iterations=0;converged=true',
                                       2, 0.0005, 0.001) AS p) AS v;

-- nothing to fit: no rows, NULLs only, no repeat purchase
SELECT segment.bgnbd_fit(x, t_x, "T") IS NULL AS no_rows FROM cdnow WHERE false;
SELECT segment.bgnbd_fit(NULL, t_x, "T") IS NULL AS nulls_only FROM cdnow;
SELECT segment.bgnbd_fit(0, 0, "T") IS NULL AS no_repeat, segment.paretonbd_fit(0, 0, "T") IS NULL AS pnbd_no_repeat,
       segment.gammagamma_fit(0, zbar) IS NULL AS no_repeat_buyer
FROM cdnow;

-- bad input: each its error
SELECT segment.bgnbd_fit(x, t_x, "T") FROM (VALUES (-1.0, 0.0, 5.0)) AS v(x, t_x, "T");
SELECT segment.bgnbd_fit(x, t_x, "T") FROM (VALUES (1.5, 1.0, 5.0)) AS v(x, t_x, "T");
SELECT segment.bgnbd_fit(x, t_x, "T") FROM (VALUES (2.0, 6.0, 5.0)) AS v(x, t_x, "T");
SELECT segment.bgnbd_fit(x, t_x, "T") FROM (VALUES (0.0, 1.0, 5.0)) AS v(x, t_x, "T");
SELECT segment.bgnbd_fit(x, t_x, "T") FROM (VALUES (1.0, 'NaN'::float8, 5.0)) AS v(x, t_x, "T");
SELECT segment.gammagamma_fit(x, m) FROM (VALUES (2.0, -3.0)) AS v(x, m);
SELECT segment.gammagamma_fit(x, m) FROM (VALUES (2.5, 3.0)) AS v(x, m);
SELECT segment.bgnbd_p_alive(bgnbd, 1, 4, 3) FROM cdnow_models;
SELECT segment.bgnbd_expected_orders(bgnbd, -1, 1, 2, 3) FROM cdnow_models;
SELECT segment.bgnbd_expected_orders(bgnbd, 1e15, 1, 2, 3) FROM cdnow_models;
SELECT segment.gammagamma_expected_value(gg, 2, 0) FROM cdnow_models;
SELECT segment.gammagamma_log_likelihood(gg, 0, 5) FROM cdnow_models;
SELECT segment.predicted_clv(bgnbd, gg, 1, 2, 3, 10, 365, 0, 0.01) FROM cdnow_models;
SELECT segment.predicted_clv(bgnbd, gg, 1, 2, 3, 10, 365, 30, -1) FROM cdnow_models;
SELECT segment.predicted_clv(bgnbd, gg, 1, 2, 3, -10, 365, 30, 0.01) FROM cdnow_models;
SELECT 'r=-1;alpha=1;a=1;b=1;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.bgnbd_model;
SELECT 'r=1;alpha=1;a=1;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.bgnbd_model;
SELECT 'p=1;q=1;gamma=1;log_likelihood=0;customers=0;iterations=0;converged=true'::segment.gammagamma_model;
SELECT 'kind=summary;points=1,5,3,1'::segment.btyd_state;
SELECT 'kind=spend;points=0,5,0,1'::segment.btyd_state;
SELECT segment.paretonbd_fit(x, t_x, "T") FROM (VALUES (1.0, 4.0, 3.0)) AS v(x, t_x, "T");
SELECT segment.paretonbd_p_alive(pnbd, -1, 0, 3) FROM cdnow_models;
SELECT segment.paretonbd_expected_orders(pnbd, 'Infinity', 1, 2, 3) FROM cdnow_models;
SELECT 'r=1;alpha=1;s=0;beta=1;log_likelihood=0;customers=1;iterations=0;converged=true'::segment.paretonbd_model;
SELECT 'kind=other;points='::segment.btyd_state;
SELECT segment.bgnbd_fit_transfn(NULL, 1, 1, 2);
