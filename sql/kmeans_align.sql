-- Stable labels: kmeans_align renumbers a new model after a previous one.
\set VERBOSITY terse

-- Four blobs of different sizes around (0,0), (0,10), (10,10), (10,0).
CREATE TABLE align_points AS
SELECT blob, ARRAY[cx + dx, cy + dy]::float8[] AS f
FROM (VALUES (1, 0.0, 0.0, 4), (2, 0.0, 10.0, 5), (3, 10.0, 10.0, 6), (4, 10.0, 0.0, 7))
         AS b(blob, cx, cy, n),
     LATERAL (SELECT cos(j) AS dx, sin(j) AS dy FROM generate_series(1, n) AS j) AS o;
CREATE TABLE align_models AS
SELECT segment.kmeans(f, 4) AS m FROM align_points;

-- A permuted copy: the same centroids with ids 3, 1, 4, 2 instead of 1..4.
CREATE TABLE permuted AS
SELECT translate(replace(replace(replace(replace(m::text,
           'clusters=1:', 'clusters=C:'), '|2:', '|A:'), '|3:', '|D:'), '|4:', '|B:'),
       'ABCD', '1234')::segment.kmeans_model AS p
FROM align_models;
SELECT cluster, size FROM segment.kmeans_centroids((SELECT m FROM align_models));
SELECT cluster, size FROM segment.kmeans_centroids((SELECT p FROM permuted));
-- aligning the permuted model to the original gives the original back, and vice versa
SELECT segment.kmeans_align(p, m)::text = m::text AS renumbered_back,
       segment.kmeans_align(m, p)::text = p::text AS renumbered_forth
FROM align_models, permuted;

-- The next refresh: every point moved a little and blob 1 grew to the
-- largest, so a fresh model numbers it 1; aligned, each blob keeps its number.
CREATE TABLE next_points AS
SELECT blob, ARRAY[f[1] + 0.3, f[2] - 0.2]::float8[] AS f FROM align_points
UNION ALL
SELECT 1, ARRAY[0.5 * cos(j), 0.5 * sin(j)]::float8[] FROM generate_series(1, 6) AS j;
WITH fresh AS (SELECT segment.kmeans(f, 4, 99) AS m FROM next_points),
     aligned AS (SELECT segment.kmeans_align(fresh.m, old.m) AS m FROM fresh, align_models AS old)
SELECT DISTINCT n.blob,
       segment.kmeans_assign(old.m, o.f) AS before,
       segment.kmeans_assign(fresh.m, n.f) AS fresh,
       segment.kmeans_assign(aligned.m, n.f) AS aligned
FROM align_points AS o JOIN next_points AS n USING (blob), align_models AS old, fresh, aligned
ORDER BY 1;

-- k grew: the four known blobs keep their numbers, the new blob takes 5.
WITH grown AS (
    SELECT segment.kmeans(f, 5) AS m
    FROM (SELECT f FROM align_points UNION ALL
          SELECT ARRAY[30 + cos(j), 30 + sin(j)]::float8[] FROM generate_series(1, 3) AS j) AS s)
SELECT DISTINCT o.blob, segment.kmeans_assign(old.m, o.f) AS before,
       segment.kmeans_assign(segment.kmeans_align(grown.m, old.m), o.f) AS after,
       segment.kmeans_assign(segment.kmeans_align(grown.m, old.m), '{30,30}') AS new_blob
FROM align_points AS o, align_models AS old, grown ORDER BY 1;

-- k shrank: the remaining clusters keep the numbers of the blobs they match.
WITH shrunk AS (SELECT segment.kmeans(f, 2) AS m FROM align_points WHERE blob IN (2, 4))
SELECT DISTINCT o.blob, segment.kmeans_assign(old.m, o.f) AS before,
       segment.kmeans_assign(segment.kmeans_align(shrunk.m, old.m), o.f) AS after
FROM align_points AS o, align_models AS old, shrunk WHERE o.blob IN (2, 4) ORDER BY 1;

-- Optimal, not greedy: previous centroids A = 0 (id 1) and B = 3 (id 2); new
-- centroids 5 and 2.  Greedy would match the closest pair (2, B) first and
-- pay 1 + 5 = 6; the optimum matches 2 to A and 5 to B for 2 + 2 = 4.
SELECT segment.kmeans_align(
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:1:5|2:1:2',
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:1:0|2:1:3');

-- Previous ids need not be 1..k: gaps survive, extra clusters continue after the largest.
SELECT segment.kmeans_align(
    'k=3;dims=1;points=3;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=3;standardized=false;mean=0;scale=1;clusters=1:1:0|2:1:100|3:1:10',
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=7:1:11|4:1:1');

-- Different scalings are compared in the new model's space (original units
-- 0 and 10 under mean 5, scale 5 are -1 and 1).
SELECT segment.kmeans_align(
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=true;mean=5;scale=5;clusters=1:1:1|2:1:-1',
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:1:0|2:1:10');

DROP TABLE align_points, align_models, permuted, next_points;
