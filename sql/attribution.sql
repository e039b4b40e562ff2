-- Attribution building blocks, checked by hand: per-touch credits of each
-- rule-based model, the Markov model's removal effects, the text form, the
-- aggregate under parallel plans, and bad input.
SET timezone = 'UTC';
SET extra_float_digits = 0;

-- direct -> organic_search -> direct, then one order of 140.00
CREATE TEMP TABLE path (pos int, channel text, touched_at timestamptz);
INSERT INTO path VALUES (1, 'direct', '2026-01-01 10:00'), (2, 'organic_search', '2026-01-05 10:00'),
                        (3, 'direct', '2026-01-08 10:00');
CREATE TEMP TABLE credits AS
SELECT m.model, p.channel, c.credit
FROM unnest(ARRAY['first_touch', 'last_touch', 'linear', 'position_based', 'time_decay']) AS m(model),
     LATERAL unnest(segment.touch_credits(m.model, (SELECT array_agg(touched_at ORDER BY pos) FROM path),
                                          '2026-01-08 10:00')) WITH ORDINALITY AS c(credit, pos)
     JOIN path AS p USING (pos);
-- linear: direct 93.33, organic_search 46.67; position_based: 112.00 / 28.00
SELECT model, channel, round((sum(credit) * 140)::numeric, 2) AS revenue
FROM credits GROUP BY 1, 2 ORDER BY 1, 2;
-- time_decay, half-life 7 days: weights 2^(-1), 2^(-3/7), 1 (7, 3 and 0 days before)
SELECT round(credit::numeric, 10) AS credit,
       round((CASE pos WHEN 1 THEN 0.5 WHEN 2 THEN 2 ^ (-3.0 / 7) ELSE 1 END
              / (0.5 + 2 ^ (-3.0 / 7) + 1))::numeric, 10) AS by_hand
FROM unnest(segment.touch_credits('time_decay', (SELECT array_agg(touched_at ORDER BY pos) FROM path),
                                  '2026-01-08 10:00')) WITH ORDINALITY AS c(credit, pos);
-- each model's credits sum to 1
SELECT model, sum(credit) = 1 AS sums_to_one FROM credits GROUP BY 1 ORDER BY 1;

-- position_based for 1, 2 and 5 touches; ties keep their order; touches after
-- the conversion get nothing; input order does not matter
SELECT segment.touch_credits('position_based', ARRAY['2026-01-01']::timestamptz[], '2026-01-02') AS one,
       segment.touch_credits('position_based', ARRAY['2026-01-01', '2026-01-01']::timestamptz[], '2026-01-02') AS two,
       segment.touch_credits('position_based',
           ARRAY['2026-01-05', '2026-01-01', '2026-01-03', '2026-01-02', '2026-01-04']::timestamptz[], '2026-01-06') AS five;
SELECT segment.touch_credits('last_touch', ARRAY['2026-01-01', '2026-01-03', '2026-01-02']::timestamptz[], '2026-01-02') AS after_ignored,
       segment.touch_credits('first_touch', ARRAY['2026-01-02', '2026-01-02']::timestamptz[], '2026-01-02') AS same_instant,
       segment.touch_credits('linear', ARRAY['2026-02-01']::timestamptz[], '2026-01-02') AS none_before,
       segment.touch_credits('linear', '{}'::timestamptz[], '2026-01-02') AS empty;
-- a path of 10,000 touches: credits still sum to 1
SELECT model, round(sum(c)::numeric, 12) AS total, count(*) AS touches
FROM unnest(ARRAY['linear', 'position_based', 'time_decay']) AS m(model),
     LATERAL unnest(segment.touch_credits(model,
         ARRAY(SELECT timestamptz '2025-01-01' + i * interval '1 hour' FROM generate_series(1, 10000) AS i),
         '2026-12-31')) AS c
GROUP BY 1 ORDER BY 1;

-- Markov: A>B>A>B>B>A, A>B>B>A>A, A>A, one conversion each: A = 2, B = 1
CREATE TEMP TABLE journeys (id int, path text[], converted bool);
INSERT INTO journeys VALUES (1, '{A,B,A,B,B,A}', true), (2, '{A,B,B,A,A}', true), (3, '{A,A}', true);
SELECT channel, round(removal_effect::numeric, 12) AS removal_effect, round(share::numeric, 12) AS share,
       round((3 * share)::numeric, 12) AS conversions
FROM segment.markov_removal_effects((SELECT segment.markov_fit(path, converted) FROM journeys)) ORDER BY 1;
SELECT segment.markov_fit(path, converted ORDER BY id) FROM journeys;

-- with a non-converting path A>C and a converting C.  By hand: start -> A 4/5,
-- C 1/5; A -> B 3/7, conversion 3/7, C 1/7; B -> A; C -> conversion 1/2, null 1/2.
-- So x_C = 1/2, x_A = (3/7 + 1/14) / (1 - 3/7) = 7/8, x_start = 4/5 * 7/8 + 1/5 * 1/2 = 0.8;
-- without A: 1/5 * 1/2 = 0.1; without B: x_A = 1/2, 0.5; without C: x_A = 3/4, 0.6.
-- Removal effects 0.875, 0.375, 0.25; shares 7/12, 3/12, 2/12.
INSERT INTO journeys VALUES (4, '{A,C}', false), (5, '{C}', true);
SELECT channel, round(removal_effect::numeric, 12) AS removal_effect, round(share::numeric, 12) AS share
FROM segment.markov_removal_effects((SELECT segment.markov_fit(path, converted) FROM journeys)) ORDER BY 1;
SELECT round(7 / 12.0, 12) AS share_a, round(3 / 12.0, 12) AS share_b, round(2 / 12.0, 12) AS share_c;

-- the text form round-trips, and a model from text gives the same effects
SELECT m::text::segment.markov_model::text = m::text AS round_trip
FROM (SELECT segment.markov_fit(path, converted) AS m FROM journeys) AS f;
SELECT channel, round(share::numeric, 12) AS share
FROM segment.markov_removal_effects('channels=email|search;paths=2;conversions=1;counts=1,1,0,0,0,0,1,0,0,0,0,1');
-- names with the separators
SELECT segment.markov_fit(path, true) FROM (VALUES ('{"a|b","c;d","e\\f"}'::text[])) AS t(path);
SELECT segment.markov_fit(path, true)::text::segment.markov_model::text
FROM (VALUES ('{"a|b","c;d","e\\f"}'::text[])) AS t(path);

-- NULL channels count as (unknown); empty paths are left out; no conversion: NULL shares
SELECT channel, removal_effect, share FROM segment.markov_removal_effects(
    (SELECT segment.markov_fit(path, converted) FROM (VALUES ('{x,NULL}'::text[], false), ('{}'::text[], true)) AS t(path, converted)))
ORDER BY 1;

-- 500 channels and 20,000 generated paths, in a parallel plan and not: same shares
CREATE TABLE gen_paths AS
SELECT i AS id, ARRAY(SELECT 'ch' || ((i * 7 + j * 13) % 500) FROM generate_series(1, 1 + i % 6) AS j) AS path,
       i % 3 = 0 AS converted
FROM generate_series(1, 20000) AS i;
ANALYZE gen_paths;
CREATE TEMP TABLE serial_fit AS SELECT segment.markov_fit(path, converted) AS m FROM gen_paths;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT segment.markov_fit(path, converted) FROM gen_paths;
CREATE TEMP TABLE parallel_fit AS SELECT segment.markov_fit(path, converted) AS m FROM gen_paths;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
SELECT count(*) AS channels, round(sum(s.share)::numeric, 9) AS shares_sum,
       max(abs(s.share - p.share)) < 1e-12 AS same_in_parallel
FROM segment.markov_removal_effects((SELECT m FROM serial_fit)) AS s
JOIN segment.markov_removal_effects((SELECT m FROM parallel_fit)) AS p USING (channel);

-- bad input
\set VERBOSITY default
SELECT segment.touch_credits('u_shaped', ARRAY['2026-01-01']::timestamptz[], '2026-01-02');
SELECT segment.touch_credits('markov', ARRAY['2026-01-01']::timestamptz[], '2026-01-02');
SELECT segment.touch_credits('linear', ARRAY['2026-01-01', NULL]::timestamptz[], '2026-01-02');
SELECT segment.touch_credits('time_decay', ARRAY['2026-01-01']::timestamptz[], '2026-01-02', '0 days');
SELECT segment.touch_credits('linear', '{{2026-01-01}}'::timestamptz[], '2026-01-02');
SELECT 'channels=a|a;paths=1;conversions=0;counts=0,0,0,0,0,0,0,0,0,0,0,0'::segment.markov_model;
SELECT 'channels=a;paths=1;conversions=0;counts=1,2'::segment.markov_model;
SELECT 'channels=a;paths=1;conversions=0;counts=1,0,0,0,0,-1'::segment.markov_model;
SELECT segment.markov_fit_transfn(NULL, '{a}', true);
SELECT segment.markov_fit(ARRAY[repeat('x', 300)], true);
SELECT segment.markov_fit(ARRAY['ch' || i], true) FROM generate_series(1, 1001) AS i;
\set VERBOSITY terse
DROP TABLE gen_paths;
