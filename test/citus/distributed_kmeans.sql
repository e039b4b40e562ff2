-- Checked by hand on a Citus cluster (coordinator plus workers, segment
-- installed on every node).  Not part of `make test`: Citus is not packaged
-- for Debian.  Every check prints true.
--   psql -h <coordinator> -d <database> -f test/citus/distributed_kmeans.sql
\set ON_ERROR_STOP 1
\set as_of '2026-01-01 00:00:00+00'
CREATE EXTENSION IF NOT EXISTS segment;
SELECT relation, rows FROM segment.generate_demo_data('citus_local', customers => 20000, touches_per_order => 0, replace => true);
DROP TABLE IF EXISTS local_features, citus_features;
CREATE TABLE local_features AS
SELECT customer_id,
       ARRAY[log(1 + date_part('epoch', :'as_of'::timestamptz - max(ordered_at) FILTER (WHERE amount > 0)) / 86400),
             log(1 + count(*) FILTER (WHERE amount > 0)),
             log(1 + greatest(sum(amount), 0))]::float8[] AS features
FROM citus_local.orders GROUP BY customer_id HAVING count(*) FILTER (WHERE amount > 0) > 0;
CREATE TABLE citus_features (LIKE local_features);
SELECT create_distributed_table('citus_features', 'customer_id');
INSERT INTO citus_features SELECT * FROM local_features;

-- kmeans runs as worker_partial_agg on every shard; the text states (the
-- points) are combined on the coordinator, where the final function fits
EXPLAIN (VERBOSE, COSTS OFF) SELECT segment.kmeans(features, 6) FROM citus_features;
SELECT (SELECT segment.kmeans(features, 6) FROM citus_features)::text
     = (SELECT segment.kmeans(features, 6) FROM local_features)::text AS distributed_model_equals_local;

-- kmeans_assign runs on the shards against the coordinator's model
CREATE TEMP TABLE model AS SELECT segment.kmeans(features, 6) AS m FROM local_features;
SELECT bool_and(d.n = l.n) AND count(*) = 6 AS distributed_labels_equal_local
FROM (SELECT segment.kmeans_assign((SELECT m FROM model), features) AS c, count(*) AS n FROM citus_features GROUP BY 1) AS d
JOIN (SELECT segment.kmeans_assign(m, features) AS c, count(*) AS n FROM local_features, model GROUP BY 1) AS l USING (c);

-- one Lloyd step is one distributed query: small partial states from the shards
CREATE TEMP TABLE seed AS SELECT segment.kmeans(features, 6, 3) AS m FROM local_features WHERE customer_id % 20 = 0;
EXPLAIN (VERBOSE, COSTS OFF) SELECT segment.kmeans_step((SELECT m FROM seed), features) FROM citus_features;
-- (the two models go through tables: on Citus 13.2 a correlated subquery
-- over kmeans_centroids(d) crashes the coordinator inside Citus's recursive
-- planning, before any segment function is called)
CREATE TEMP TABLE steps AS
SELECT d, l
FROM (SELECT segment.kmeans_step((SELECT m FROM seed), features) AS d FROM citus_features) AS x,
     (SELECT segment.kmeans_step(m, features) AS l FROM local_features, seed) AS y;
SELECT abs(segment.kmeans_inertia(d) / segment.kmeans_inertia(l) - 1) < 1e-12 AS distributed_step_inertia_equals_local
FROM steps;
SELECT bool_and(abs(a.centroid[i] - b.centroid[i]) < 1e-9 AND a.size = b.size) AS distributed_step_centroids_equal_local
FROM steps, segment.kmeans_centroids(steps.d) AS a
JOIN segment.kmeans_centroids((SELECT l FROM steps)) AS b USING (cluster), generate_series(1, 3) AS i;

-- the README loop over the distributed table converges
DO $$
DECLARE
    model segment.kmeans_model := (SELECT m FROM seed);
    steps int := 0;
BEGIN
    LOOP
        SELECT segment.kmeans_step(model, features) INTO model FROM citus_features;
        steps := steps + 1;
        EXIT WHEN (segment.kmeans_info(model)).converged OR steps = 100;
    END LOOP;
    RAISE NOTICE 'converged after % distributed steps: %', steps, (segment.kmeans_info(model)).converged;
END $$;
