-- segment.quantile_state: its text form, round trips, and the two-phase path
-- that parallel workers and Citus use (partial states, moved as text, combined).

SELECT '5;4;1.5*2,3,7'::segment.quantile_state AS canonical;
SELECT '2;0;'::segment.quantile_state AS empty;
SELECT '5;3;-2.5,1e+300*2'::segment.quantile_state AS extremes;
SELECT '3;1;0.1'::segment.quantile_state::text::segment.quantile_state::text AS round_trip;

-- aggregates that expose the state, as a distributed planner would build them
CREATE AGGREGATE quantile_partial(float8, int4) (
    SFUNC = segment.quantile_edges_transfn, STYPE = segment.quantile_state);
CREATE AGGREGATE quantile_merge(segment.quantile_state) (
    SFUNC = segment.quantile_edges_combine, STYPE = segment.quantile_state,
    FINALFUNC = segment.quantile_edges_final);

-- duplicates are merged: 10,000 rows over 7 distinct values keep 7 items
SELECT quantile_partial(i % 7, 5)::text AS state FROM generate_series(1, 10000) AS i;

-- every float8 survives the text form exactly
CREATE TEMP TABLE vals AS
SELECT i, (segment.demo_random(7, 1, i) - 0.5) * power(10, (segment.demo_random(7, 2, i) * 40 - 20)::int) AS x
FROM generate_series(1, 20000) AS i;
SELECT count(*) AS values_lost
FROM (SELECT unnest(string_to_array(split_part(quantile_partial(x, 5)::text, ';', 3), ','))::float8 AS y FROM vals) AS s
WHERE NOT EXISTS (SELECT 1 FROM vals WHERE vals.x = s.y);

-- "shards": partial states per i % 4, shipped as text, merged: same edges as one pass
WITH shards AS (SELECT i % 4 AS shard, quantile_partial(x, 10)::text AS state FROM vals GROUP BY i % 4)
SELECT (SELECT quantile_merge(state::segment.quantile_state) FROM shards)
     = (SELECT segment.quantile_edges(x, 10) FROM vals) AS merged_equals_direct;

-- fuzzing the input function: 3,000 mutations of valid texts either fail
-- cleanly or parse into a state whose text form reads back identically
CREATE FUNCTION state_text_ok(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE canonical text;
BEGIN
    canonical := t::segment.quantile_state::text;
    IF canonical::segment.quantile_state::text = canonical THEN RETURN 'parsed'; END IF;
    RETURN 'unstable';
EXCEPTION WHEN invalid_text_representation THEN
    RETURN 'rejected';
END $$;
SELECT result, count(*) > 0 AS seen
FROM (SELECT state_text_ok(
             overlay(base PLACING substr('0123456789;,*-.e+x ', 1 + (segment.demo_random(3, 1, i) * 19)::int, 1)
                     FROM 1 + (segment.demo_random(3, 2, i) * length(base))::int
                     FOR (segment.demo_random(3, 3, i) * 2)::int)) AS result
      FROM generate_series(1, 3000) AS i,
           LATERAL (SELECT (ARRAY['5;4;1.5*2,3,7', '10;6;-2e-5,0,3*3,1e+300', '2;1;42'])[1 + i % 3] AS base) AS b) AS f
GROUP BY result ORDER BY result;
DROP FUNCTION state_text_ok(text);
