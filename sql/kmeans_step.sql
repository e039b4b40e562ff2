-- kmeans_step: one Lloyd iteration as a mergeable aggregate, and the loop
-- that drives it.
\set VERBOSITY terse

CREATE TABLE step_blobs AS
SELECT blob, ARRAY[cx + dx, cy + dy]::float8[] AS f
FROM (VALUES (1, 0.0, 0.0), (2, 0.0, 10.0), (3, 10.0, 10.0)) AS b(blob, cx, cy),
     (VALUES (-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)) AS o(dx, dy);

-- By hand: from centroids (1,1), (1,9), (9,9), one step lands on the blob
-- centres; each blob's squared distances to the old centroid are
-- 5 + 1 + 5 + 1 = 12, so inertia 36; each centroid moved by 1 + 1 = 2: shift 6.
CREATE TABLE start AS SELECT
'k=3;dims=2;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=3;standardized=false;mean=0,0;scale=1,1;clusters=1:0:1,1|2:0:1,9|3:0:9,9'::segment.kmeans_model AS m;
SELECT segment.kmeans_step(m, f) FROM step_blobs, start;
SELECT * FROM segment.kmeans_centroids((SELECT segment.kmeans_step(m, f) FROM step_blobs, start));
SELECT k, points, inertia, iterations, converged, shift
FROM segment.kmeans_info((SELECT segment.kmeans_step(m, f) FROM step_blobs, start));
-- a second step does not move anything: converged, inertia 12
SELECT inertia, shift, converged, iterations
FROM segment.kmeans_info((
    SELECT segment.kmeans_step(s.m, f)
    FROM step_blobs, (SELECT segment.kmeans_step(m, f) AS m FROM step_blobs, start) AS s));
-- rows without features are skipped; a cluster with no rows keeps its centroid
SELECT * FROM segment.kmeans_centroids((
    SELECT segment.kmeans_step(m, f)
    FROM (SELECT f FROM step_blobs WHERE blob <> 3 UNION ALL SELECT NULL) AS t, start));

-- The state's text form, and its final function on a hand-written state.
SELECT segment.kmeans_step_final(
    'rows=2;inertia=1;counts=2;sums=4,6;model=k=1;dims=2;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=false;mean=0,0;scale=1,1;clusters=1:0:0,0');
SELECT 'rows=3;inertia=0.5;counts=1,2;sums=-1e-05|7.25;model=k=2;dims=1;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:0:0|2:0:5'::segment.kmeans_step_state;

-- The loop: fit on a 2% sample, then step over all rows until converged.
-- It reaches the inertia of kmeans over all rows (within 1%).  Raw features
-- here, so both inertias are measured in the same units (a step keeps the
-- scaling of the model it starts from, here the sample's).
CREATE TABLE step_points AS
SELECT i, ARRAY[(i % 4) * 8 + segment.demo_random(2, 1, i) * 3,
                (i % 4 / 2) * 8 + segment.demo_random(2, 2, i) * 3,
                ((i % 4) % 2) * 8 + segment.demo_random(2, 3, i) * 3]::float8[] AS f
FROM generate_series(1, 20000) AS i;
CREATE FUNCTION refine(max_steps int, OUT steps int, OUT model segment.kmeans_model)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT segment.kmeans(f, 4, '{"standardize": false}'::jsonb) INTO model
    FROM step_points WHERE segment.demo_random(3, 0, i) < 0.02;
    steps := 0;
    LOOP
        SELECT segment.kmeans_step(model, f) INTO model FROM step_points;
        steps := steps + 1;
        EXIT WHEN (segment.kmeans_info(model)).converged OR steps >= max_steps;
    END LOOP;
END $$;
SELECT r.steps < 30 AS converged_quickly,
       (segment.kmeans_info(r.model)).points AS points,
       abs((SELECT segment.kmeans_inertia(segment.kmeans_step(r.model, f)) FROM step_points)
           / (SELECT segment.kmeans_inertia(segment.kmeans(f, 4, '{"standardize": false}'::jsonb))
              FROM step_points) - 1) < 0.01
       AS within_1_percent_of_kmeans
FROM refine(30) AS r;

-- Forced parallel plans: partial states are added in a different order, so
-- sums may differ in the last bits only.
CREATE TABLE step_serial AS
SELECT segment.kmeans_step(m, f) AS m FROM step_points,
       (SELECT segment.kmeans(f, 4) AS m FROM step_points WHERE segment.demo_random(3, 0, i) < 0.02) AS s;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT segment.kmeans_step(m, f) FROM step_points, (SELECT NULL::segment.kmeans_model AS m) AS s;
WITH par AS (
    SELECT segment.kmeans_step(m, f) AS m FROM step_points,
           (SELECT segment.kmeans(f, 4) AS m FROM step_points WHERE segment.demo_random(3, 0, i) < 0.02) AS s)
SELECT bool_and(p.size = s.size) AS same_sizes,
       max(abs(p.centroid[d] - s.centroid[d])) < 1e-9 AS same_centroids,
       abs(segment.kmeans_inertia((SELECT m FROM par)) / segment.kmeans_inertia((SELECT m FROM step_serial)) - 1) < 1e-12
           AS same_inertia
FROM segment.kmeans_centroids((SELECT m FROM par)) AS p
JOIN segment.kmeans_centroids((SELECT m FROM step_serial)) AS s USING (cluster),
     generate_series(1, 3) AS d;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

DROP TABLE step_blobs, start, step_points, step_serial;
DROP FUNCTION refine(int);
