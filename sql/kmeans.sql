-- k-means: hand-checked clusters, determinism across orders and plans, text
-- round trips, and the readers of a model.
\set VERBOSITY terse

-- Three blobs of four points, each at distance 1 from its centre:
-- (0,0), (0,10) and (10,10).
CREATE TABLE blobs AS
SELECT blob, ARRAY[cx + dx, cy + dy]::float8[] AS f
FROM (VALUES (1, 0.0, 0.0), (2, 0.0, 10.0), (3, 10.0, 10.0)) AS b(blob, cx, cy),
     (VALUES (-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)) AS o(dx, dy);

-- The centroids are the blob centres exactly, in original units, standardized
-- or not; equal sizes are ordered by centroid, so the ids are known.
SELECT cluster, centroid, size
FROM segment.kmeans_centroids((SELECT segment.kmeans(f, 3, '{"standardize": false}'::jsonb) FROM blobs));
SELECT cluster, array(SELECT round(c::numeric, 12) FROM unnest(centroid) AS c) AS centroid, size
FROM segment.kmeans_centroids((SELECT segment.kmeans(f, 3) FROM blobs));

-- Raw inertia: 12 points at distance 1 = 12.  Standardized: each feature's
-- population variance is 200/9 (between blobs) + 1/2 (within), so every
-- squared distance shrinks by that: inertia = 12 / (200/9 + 1/2).
SELECT segment.kmeans_inertia(segment.kmeans(f, 3, '{"standardize": false}'::jsonb)) AS raw_inertia,
       round(segment.kmeans_inertia(segment.kmeans(f, 3))::numeric, 12) AS z_inertia,
       round(12 / (200 / 9.0 + 1 / 2.0), 12) AS z_inertia_by_hand
FROM blobs;

-- Every blob gets one cluster; new points go to the nearest centre.
WITH m AS (SELECT segment.kmeans(f, 3) AS m FROM blobs)
SELECT blob, array_agg(DISTINCT segment.kmeans_assign(m, f)) AS clusters
FROM blobs, m GROUP BY blob ORDER BY blob;
WITH m AS (SELECT segment.kmeans(f, 3) AS m FROM blobs)
SELECT segment.kmeans_assign(m, '{0.5,0.2}') AS near_0_0,
       segment.kmeans_assign(m, '{-3,12}') AS near_0_10,
       segment.kmeans_assign(m, '{9,11}') AS near_10_10,
       segment.kmeans_assign(m, '{4,5.2}') AS nearer_0_10
FROM m;

-- Everything the model holds besides centroids.
SELECT k, requested_k, dims, points, iterations, converged, seed, n_init, max_iter, tol, standardized,
       array(SELECT round(v::numeric, 12) FROM unnest(mean) AS v) AS mean,
       array(SELECT round(v::numeric, 12) FROM unnest(scale) AS v) AS scale
FROM segment.kmeans_info((SELECT segment.kmeans(f, 3, 7, 2) FROM blobs));

-- The text form round-trips exactly, through the type and through a table.
CREATE TABLE models AS SELECT segment.kmeans(f, 3) AS m FROM blobs;
SELECT m::text::segment.kmeans_model::text = m::text AS text_round_trip FROM models;
SELECT (SELECT segment.kmeans(f, 3) FROM blobs)::text = m::text AS stored_equals_fresh FROM models;
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0'::segment.kmeans_model;
-- shortest exact floats: 0.1 + 0.2 and 1/3 survive the trip bit for bit
SELECT m::text = m::text::segment.kmeans_model::text AS exact
FROM (SELECT segment.kmeans(ARRAY[x, x * (1 / 3.0)]::float8[], 2, '{"standardize": false}'::jsonb) AS m
      FROM (VALUES (0.1::float8 + 0.2), (1e-300), (123456789.123456789), (-7)) AS v(x)) AS s;

-- Rows without features are skipped; no rows at all give NULL.
SELECT segment.kmeans(f, 3) IS NULL AS empty_is_null FROM blobs WHERE false;
SELECT (segment.kmeans_info(segment.kmeans(f, 3))).points AS points_without_nulls
FROM (SELECT f FROM blobs UNION ALL SELECT NULL) AS t;

-- A constant feature (zero variance) keeps scale 1 and does not divide by zero.
SELECT (segment.kmeans_info(m)).scale[2] AS constant_scale, segment.kmeans_inertia(m) >= 0 AS finite
FROM (SELECT segment.kmeans(ARRAY[f[1], 5]::float8[], 2) AS m FROM blobs) AS s;

-- Fewer distinct points than k only with allow_fewer_clusters.
SELECT k, requested_k, points FROM segment.kmeans_info(
    (SELECT segment.kmeans(ARRAY[x]::float8[], 4, '{"allow_fewer_clusters": true}'::jsonb)
     FROM (VALUES (1), (1), (2), (5)) AS v(x)));

-- Generated data: four well-separated clusters in three dimensions.
CREATE TABLE points AS
SELECT i, ARRAY[(i % 4) * 8 + segment.demo_random(1, 1, i) * 2,
                (i % 4 / 2) * 8 + segment.demo_random(1, 2, i) * 2,
                ((i % 4) % 2) * 8 + segment.demo_random(1, 3, i) * 2]::float8[] AS f
FROM generate_series(1, 40000) AS i;
ANALYZE points;

-- The same model whatever the order the rows arrive in.
SELECT (SELECT segment.kmeans(f, 4) FROM points)::text =
       (SELECT segment.kmeans(f, 4) FROM (SELECT f FROM points ORDER BY md5(i::text)) AS s)::text
       AS order_independent;

-- Labels agree with the generating clusters exactly.
WITH m AS (SELECT segment.kmeans(f, 4) AS m FROM points)
SELECT count(DISTINCT (i % 4, segment.kmeans_assign(m, f))) AS label_pairs,
       count(DISTINCT segment.kmeans_assign(m, f)) AS clusters
FROM points, m;

-- Forced parallel plans: partial states are combined, and the model is the same bit for bit.
CREATE TABLE serial_models AS
SELECT segment.kmeans(f, 4) AS m4, segment.kmeans(f, 3, 11, 2) AS m3,
       segment.kmeans(f, 5, '{"seed": 5, "standardize": false}'::jsonb) AS m5
FROM points;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT segment.kmeans(f, 4) FROM points;
SELECT p.m4::text = s.m4::text AS same_k4, p.m3::text = s.m3::text AS same_k3, p.m5::text = s.m5::text AS same_k5
FROM serial_models AS s,
     (SELECT segment.kmeans(f, 4) AS m4, segment.kmeans(f, 3, 11, 2) AS m3,
             segment.kmeans(f, 5, '{"seed": 5, "standardize": false}'::jsonb) AS m5
      FROM points) AS p;
-- kmeans_assign runs in the workers too
SELECT count(*), count(DISTINCT segment.kmeans_assign(m4, f)) FROM points, serial_models;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- The aggregate's state has a text form too (it is what Citus ships).
SELECT segment.kmeans_final('k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=false;allow_fewer_clusters=false;rows=4;points=1|2|10|11');
SELECT 'k=2;dims=1;seed=-3;n_init=1;max_iter=5;tol=0;standardize=true;allow_fewer_clusters=true;rows=2;points=0.1|-2.5e-7'::segment.kmeans_state;

-- Inertia within 1% of an independent reference: a plain SQL Lloyd from
-- the first point of each generating cluster, 20 iterations.
CREATE FUNCTION sql_lloyd_inertia(iterations int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    c float8[][];
BEGIN
    SELECT array_agg(f ORDER BY i) INTO c FROM points WHERE i <= 4;
    FOR it IN 1..iterations LOOP
        WITH d AS (
            SELECT f, (f[1] - c[1][1])^2 + (f[2] - c[1][2])^2 + (f[3] - c[1][3])^2 AS d1,
                      (f[1] - c[2][1])^2 + (f[2] - c[2][2])^2 + (f[3] - c[2][3])^2 AS d2,
                      (f[1] - c[3][1])^2 + (f[2] - c[3][2])^2 + (f[3] - c[3][3])^2 AS d3,
                      (f[1] - c[4][1])^2 + (f[2] - c[4][2])^2 + (f[3] - c[4][3])^2 AS d4
            FROM points),
        labelled AS (
            SELECT f, CASE least(d1, d2, d3, d4) WHEN d1 THEN 1 WHEN d2 THEN 2 WHEN d3 THEN 3 ELSE 4 END AS label
            FROM d),
        means AS (
            SELECT label, ARRAY[avg(f[1]), avg(f[2]), avg(f[3])] AS centre FROM labelled GROUP BY label)
        SELECT array_agg(centre ORDER BY label) INTO c FROM means;
    END LOOP;
    RETURN (SELECT sum(least((f[1] - c[1][1])^2 + (f[2] - c[1][2])^2 + (f[3] - c[1][3])^2,
                             (f[1] - c[2][1])^2 + (f[2] - c[2][2])^2 + (f[3] - c[2][3])^2,
                             (f[1] - c[3][1])^2 + (f[2] - c[3][2])^2 + (f[3] - c[3][3])^2,
                             (f[1] - c[4][1])^2 + (f[2] - c[4][2])^2 + (f[3] - c[4][3])^2))
            FROM points);
END $$;
SELECT abs(segment.kmeans_inertia(m) / sql_lloyd_inertia(10) - 1) < 0.01 AS within_1_percent
FROM (SELECT segment.kmeans(f, 4, '{"standardize": false}'::jsonb) AS m FROM points) AS s;

DROP TABLE blobs, models, points, serial_models;
DROP FUNCTION sql_lloyd_inertia(int);
