-- Cross-checks against plain SQL on 100,000 generated values with many ties
-- and NULLs: quantile_score equals the rank formula of DESIGN.md, and
-- score(v, quantile_edges(v)) equals quantile_score, serial and parallel.

CREATE TABLE ref AS
SELECT i,
       CASE WHEN segment.demo_random(11, 1, i) < 0.02 THEN NULL
            ELSE floor(segment.demo_random(11, 2, i) * 40)::float8 END AS tied,     -- 40 distinct values
       round((exp(segment.demo_random(11, 3, i) * 8) - 200)::numeric, 2)::float8 AS spread -- refunds below 0
FROM generate_series(1, 100000) AS i;
ANALYZE ref;

CREATE FUNCTION reference_mismatches(col text, bins int) RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE mismatches int8;
BEGIN
    EXECUTE format($q$
        WITH ours AS (SELECT i, segment.quantile_score(%1$I, %2$s) OVER () AS s FROM ref),
             sql AS (SELECT i, (1 + floor(%2$s * (rank() OVER (ORDER BY %1$I) - 1)::numeric / count(*) OVER ()))::int AS s
                     FROM ref WHERE %1$I IS NOT NULL)
        SELECT count(*) FROM ours LEFT JOIN sql USING (i) WHERE ours.s IS DISTINCT FROM sql.s$q$, col, bins)
    INTO mismatches;
    RETURN mismatches;
END $$;

SELECT col, bins, reference_mismatches(col, bins) AS mismatches
FROM unnest(ARRAY['tied', 'spread']) AS col, unnest(ARRAY[2, 3, 5, 10, 100]) AS bins
ORDER BY col, bins;

-- ties are never split: one score per distinct value
SELECT count(*) AS split_ties
FROM (SELECT tied FROM (SELECT tied, segment.quantile_score(tied, 5) OVER () AS s FROM ref) AS t
      WHERE tied IS NOT NULL GROUP BY tied HAVING count(DISTINCT s) > 1) AS x;

-- NULLs score NULL and are not counted in n
SELECT count(*) FILTER (WHERE tied IS NULL) AS null_values,
       count(*) FILTER (WHERE tied IS NULL AND s IS NOT NULL) AS null_scored
FROM (SELECT tied, segment.quantile_score(tied, 5) OVER () AS s FROM ref) AS t;

-- score against edges equals the window function, row by row
CREATE TABLE serial_edges AS
SELECT segment.quantile_edges(tied, 5) AS tied5, segment.quantile_edges(spread, 5) AS spread5,
       segment.quantile_edges(spread, 100) AS spread100
FROM ref;
SELECT count(*) FILTER (WHERE segment.score(tied, tied5) IS DISTINCT FROM ts) AS tied_mismatches,
       count(*) FILTER (WHERE segment.score(spread, spread5) IS DISTINCT FROM s5) AS spread_mismatches,
       count(*) FILTER (WHERE segment.score(spread, spread100) IS DISTINCT FROM s100) AS spread100_mismatches
FROM (SELECT tied, spread, segment.quantile_score(tied, 5) OVER () AS ts,
             segment.quantile_score(spread, 5) OVER () AS s5,
             segment.quantile_score(spread, 100) OVER () AS s100 FROM ref) AS t, serial_edges;

-- the edges themselves against SQL: e_k = the ceil(k n / bins)-th smallest value
SELECT (SELECT array_agg(v ORDER BY k)
        FROM generate_series(1, 4) AS k,
             LATERAL (SELECT spread AS v FROM ref ORDER BY spread
                      OFFSET ceil(k * (SELECT count(*) FROM ref) / 5.0) - 1 LIMIT 1) AS e)
       = spread5 AS edges_match_sql
FROM serial_edges;

-- forced parallel plans: partial states are combined, and the edges do not change
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT segment.quantile_edges(tied, 5) FROM ref;
SELECT p.tied5 = s.tied5 AND p.spread5 = s.spread5 AND p.spread100 = s.spread100 AS parallel_equals_serial
FROM (SELECT segment.quantile_edges(tied, 5) AS tied5, segment.quantile_edges(spread, 5) AS spread5,
             segment.quantile_edges(spread, 100) AS spread100 FROM ref) AS p, serial_edges AS s;
-- grouped partial aggregation too
SELECT count(*) AS groups_differing
FROM (SELECT i % 7 AS g, segment.quantile_edges(spread, 10) AS e FROM ref GROUP BY i % 7) AS p
JOIN (SELECT g, e FROM (SELECT i % 7 AS g FROM ref GROUP BY 1) AS gg,
      LATERAL (SELECT segment.quantile_edges(spread, 10) AS e FROM ref WHERE i % 7 = gg.g) AS x) AS s USING (g)
WHERE p.e IS DISTINCT FROM s.e;
RESET ALL;

DROP TABLE ref, serial_edges;
DROP FUNCTION reference_mismatches(text, int);
