-- quantile_score, quantile_edges and score() on cases computed by hand.
-- Rule: score = 1 + floor(bins * L / n), L = values strictly below, n = non-null values.

CREATE TEMP TABLE v (id int, grp text, x float8);
INSERT INTO v VALUES
    (1, 'a', 10), (2, 'a', 20), (3, 'a', 20), (4, 'a', 30), (5, 'a', 40),
    (6, 'b', -50), (7, 'b', 0), (8, 'b', 100), (9, 'b', 100),
    (10, 'c', 7), (11, 'c', NULL), (12, 'c', 7), (13, 'c', 7);

-- group a, bins 5: L = 0,1,1,3,4 -> 1,2,2,4,5 (the tie shares 2, nobody gets 3)
-- group a, bins 2: 1 + floor(2L/5) -> 1,1,1,2,2; bins 4: 1 + floor(4L/5) -> 1,1,1,3,4
-- group b (refunds as negatives), n = 4, L = 0,1,2,2: bins 5 -> 1,2,3,3; bins 2 -> 1,1,2,2; bins 4 -> 1,2,3,3
-- group c: all equal -> 1; NULL is skipped (n = 3) and scores NULL
SELECT id, grp, x,
       segment.quantile_score(x, 5) OVER (PARTITION BY grp) AS s5,
       segment.quantile_score(x, 2) OVER (PARTITION BY grp) AS s2,
       segment.quantile_score(x, 4) OVER (PARTITION BY grp) AS s4
FROM v ORDER BY id;

-- the window's ORDER BY and frame do not change a score
SELECT id, segment.quantile_score(x, 5) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN CURRENT ROW AND CURRENT ROW) AS s5
FROM v WHERE grp = 'a' ORDER BY id;

-- recency: lower is better, so score the negated value.  days 1, 5, 5, 30, bins 2:
-- -1 has L = 3 -> 2; -5 has L = 1 -> 1; -30 -> 1
SELECT d, segment.quantile_score(-d, 2) OVER () AS r
FROM (VALUES (1.0::float8), (5), (5), (30)) AS t(d) ORDER BY d;

-- edges: e_k = x_(ceil(k * n / bins)) of the ascending order
SELECT grp, segment.quantile_edges(x, 5) AS e5, segment.quantile_edges(x, 2) AS e2,
       segment.quantile_edges(x, 4) AS e4
FROM v GROUP BY grp ORDER BY grp;

-- score() against those edges equals the window function for every row
SELECT id, segment.score(x, e.e5) AS s5, segment.score(x, e.e2) AS s2, segment.score(x, e.e4) AS s4
FROM v JOIN (SELECT grp, segment.quantile_edges(x, 5) AS e5, segment.quantile_edges(x, 2) AS e2,
                    segment.quantile_edges(x, 4) AS e4
             FROM v GROUP BY grp) AS e USING (grp)
ORDER BY id;

-- new values are scored consistently: 1 + number of edges strictly below
SELECT x, segment.score(x, '{10,20,20,30}') AS s
FROM (VALUES (-1e9::float8), (10), (10.5), (20), (25), (30), (31), (1e9)) AS t(x) ORDER BY x;

-- a single value, and bins larger than n
SELECT segment.quantile_edges(x, 5) FROM (VALUES (3.5::float8)) AS t(x);
SELECT x, segment.quantile_score(x, 100) OVER () FROM (VALUES (1::float8), (2), (3)) AS t(x) ORDER BY x;
SELECT segment.quantile_edges(x, 100) = array_fill(1::float8, '{33}') || array_fill(2::float8, '{33}') || array_fill(3::float8, '{33}') AS edges_100
FROM (VALUES (1::float8), (2), (3)) AS t(x);

-- empty input and only NULLs: edges are NULL, so score() is NULL too
SELECT segment.quantile_edges(x, 5) IS NULL AS empty_is_null FROM v WHERE false;
SELECT segment.quantile_edges(NULL::float8, 5) IS NULL AS nulls_are_null FROM generate_series(1, 3);
SELECT segment.score(1, NULL) IS NULL AS null_edges, segment.score(NULL, '{1}') IS NULL AS null_value;
SELECT count(*) AS rows_scored FROM (SELECT segment.quantile_score(x, 5) OVER () FROM v WHERE false) AS s;

-- -0 and +0 are the same value (one tie, one score)
SELECT x, segment.quantile_score(x, 2) OVER () FROM (VALUES ('-0'::float8), (0), (1), (2)) AS t(x) ORDER BY x, 2;

-- integer and numeric columns are accepted through their float8 casts
SELECT f, segment.quantile_score(f, 3) OVER () AS fs, segment.quantile_score(m, 3) OVER () AS ms
FROM (VALUES (1::int8, 10.50::numeric), (2, 99.99), (2, -5.00), (9, 1000)) AS t(f, m) ORDER BY f, m;

-- many groups, each scored independently
SELECT g, count(*) FILTER (WHERE s = 1) AS ones, count(*) FILTER (WHERE s = 5) AS fives
FROM (SELECT i % 3 AS g, segment.quantile_score(i, 5) OVER (PARTITION BY i % 3) AS s
      FROM generate_series(1, 3000) AS i) AS t
GROUP BY g ORDER BY g;

-- as a window aggregate with a growing frame, edges of the rows so far
SELECT id, segment.quantile_edges(x, 2) OVER (ORDER BY id) AS running
FROM v WHERE grp = 'a' ORDER BY id;
