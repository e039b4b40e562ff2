-- kmeans_report: inertia and exact silhouette per k, to choose k.
\set VERBOSITY terse

-- Textbook case, by hand.  Points 1, 2, 3 | 10, 11 on a line, k = 2:
--   x   a (own cluster)    b (other cluster)    s = (b - a) / max(a, b)
--   1   (1 + 2) / 2 = 1.5  (9 + 10) / 2 = 9.5   8 / 9.5 = 16/19
--   2   (1 + 1) / 2 = 1    (8 + 9) / 2 = 8.5    7.5 / 8.5 = 15/17
--   3   (2 + 1) / 2 = 1.5  (7 + 8) / 2 = 7.5    6 / 7.5 = 4/5
--  10   1                  (9 + 8 + 7) / 3 = 8  7/8
--  11   1                  (10 + 9 + 8) / 3 = 9 8/9
CREATE TABLE line AS SELECT ARRAY[x]::float8[] AS f FROM (VALUES (1), (2), (3), (10), (11)) AS v(x);
SELECT k, round(silhouette::numeric, 12) AS silhouette,
       round((16 / 19.0 + 15 / 17.0 + 4 / 5.0 + 7 / 8.0 + 8 / 9.0) / 5, 12) AS by_hand,
       inertia, points, sampled_rows
FROM segment.kmeans_report('SELECT f FROM line', 2, 2, '{"standardize": false}'::jsonb)
ORDER BY k;
-- k = 1 has no silhouette; 5 distinct points allow k up to 5 (every point
-- alone: silhouette 0)
SELECT k, round(silhouette::numeric, 12) AS silhouette, inertia, iterations, converged
FROM segment.kmeans_report('SELECT f FROM line', 1, 5, '{"standardize": false}'::jsonb);

-- Duplicated rows count as rows: 1, 1, 2 | 10.  For 1: a = (0 + 1) / 2,
-- b = 9, s = 17/18 (twice); for 2: a = 1, b = 8, s = 7/8; 10 is alone: 0.
SELECT round(silhouette::numeric, 12) AS silhouette,
       round((2 * 17 / 18.0 + 7 / 8.0 + 0) / 4, 12) AS by_hand
FROM segment.kmeans_report('SELECT ARRAY[x]::float8[] FROM (VALUES (1), (1), (2), (10)) AS v(x)', 2, 2,
                           '{"standardize": false}'::jsonb);

-- Cross-check against a plain SQL silhouette (all pairs) on generated data.
CREATE TABLE report_points AS
SELECT i, ARRAY[(i % 3) * 4 + segment.demo_random(4, 1, i) * 5,
                (i % 3 / 2) * 4 + segment.demo_random(4, 2, i) * 5]::float8[] AS f
FROM generate_series(1, 300) AS i;
CREATE FUNCTION sql_silhouette(model segment.kmeans_model) RETURNS float8 LANGUAGE sql AS $$
    WITH labelled AS (SELECT i, f, segment.kmeans_assign(model, f) AS c FROM report_points),
    mean_distance AS (
        SELECT a.i, a.c AS own, b.c AS other,
               avg(sqrt((a.f[1] - b.f[1])^2 + (a.f[2] - b.f[2])^2)) AS d
        FROM labelled AS a JOIN labelled AS b ON a.i <> b.i
        GROUP BY 1, 2, 3),
    ab AS (
        SELECT i, max(d) FILTER (WHERE own = other) AS a, min(d) FILTER (WHERE own <> other) AS b
        FROM mean_distance GROUP BY i)
    SELECT avg(CASE WHEN a IS NULL THEN 0 ELSE (b - a) / greatest(a, b) END) FROM ab
$$;
SELECT k, abs(silhouette - sql_silhouette(model)) < 1e-12 AS same_as_sql, sampled_rows
FROM segment.kmeans_report('SELECT f FROM report_points', 2, 5, '{"standardize": false}'::jsonb);

-- The relation form; the elbow: inertia falls with k.
SELECT k, inertia < lag(inertia) OVER (ORDER BY k) AS inertia_falls, silhouette > 0 AS positive
FROM segment.kmeans_report('report_points'::regclass, 'f', 2, 6);

-- A sample: four well-separated clusters (the corners of a square) are found (best silhouette at
-- k = 4), the sample has the requested size, and the report is deterministic.
CREATE TABLE many AS
SELECT i, ARRAY[(i % 2) * 10 + segment.demo_random(5, 1, i) * 2,
                (i % 4 / 2) * 10 + segment.demo_random(5, 2, i) * 2]::float8[] AS f
FROM generate_series(1, 30000) AS i;
CREATE TABLE report1 AS SELECT * FROM segment.kmeans_report('SELECT f FROM many', 2, 6, sample_size => 2000);
SELECT k, sampled_rows, points FROM report1 ORDER BY silhouette DESC LIMIT 1;
SELECT count(*) AS same_rows
FROM report1 JOIN segment.kmeans_report('SELECT f FROM many', 2, 6, sample_size => 2000) AS r2
     USING (k, inertia, silhouette);
-- the model of each row is the kmeans aggregate's, for the same options
SELECT model::text = (SELECT segment.kmeans(f, 4)::text FROM many) AS same_model FROM report1 WHERE k = 4;

-- No rows: an empty report.
SELECT count(*) FROM segment.kmeans_report('SELECT f FROM many WHERE false');

DROP TABLE line, report_points, many, report1;
DROP FUNCTION sql_silhouette(segment.kmeans_model);
