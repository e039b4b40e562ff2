-- k-means: the model type, the kmeans aggregate and its overloads, the
-- readers of a model, alignment, the mergeable Lloyd step and the choose-k
-- report.  Clustering happens on z-scored features unless standardize is
-- false; the model keeps the scaling and applies it at assignment.

CREATE TYPE segment.kmeans_model;

CREATE FUNCTION segment.kmeans_model_in(cstring) RETURNS segment.kmeans_model
    AS 'MODULE_PATHNAME', 'kmeans_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_model_in(cstring) IS
    'Input function of segment.kmeans_model; checks every field.';

CREATE FUNCTION segment.kmeans_model_out(segment.kmeans_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'kmeans_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_model_out(segment.kmeans_model) IS
    'Output function of segment.kmeans_model: "k=..;dims=..;...;clusters=id:size:centroid|...", floats exact.';

CREATE TYPE segment.kmeans_model (
    INPUT = segment.kmeans_model_in,
    OUTPUT = segment.kmeans_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE segment.kmeans_model IS
    'A fitted k-means model: centroids (in clustering space), cluster ids and sizes, inertia, iterations, the feature scaling and the options used. Its text form round-trips exactly.';

-- The kmeans aggregate ------------------------------------------------------

CREATE TYPE segment.kmeans_state;

CREATE FUNCTION segment.kmeans_state_in(cstring) RETURNS segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_state_in(cstring) IS
    'Input function of segment.kmeans_state; checks every field.';

CREATE FUNCTION segment.kmeans_state_out(segment.kmeans_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'kmeans_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_state_out(segment.kmeans_state) IS
    'Output function of segment.kmeans_state: the options, then the points collected.';

CREATE TYPE segment.kmeans_state (
    INPUT = segment.kmeans_state_in,
    OUTPUT = segment.kmeans_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE segment.kmeans_state IS
    'Partial state of segment.kmeans: the options and the points seen. Has a text form so partial aggregates can move between parallel workers and Citus nodes.';

CREATE FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4)
    RETURNS segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4) IS
    'Transition function of segment.kmeans(features, k).';

CREATE FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4, int8)
    RETURNS segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_transfn_seed'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4, int8) IS
    'Transition function of segment.kmeans(features, k, seed).';

CREATE FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4, int8, int4)
    RETURNS segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_transfn_seed_n_init'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4, int8, int4) IS
    'Transition function of segment.kmeans(features, k, seed, n_init).';

CREATE FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4, jsonb)
    RETURNS segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_transfn_options'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_transfn(segment.kmeans_state, float8[], int4, jsonb) IS
    'Transition function of segment.kmeans(features, k, options).';

CREATE FUNCTION segment.kmeans_combine(segment.kmeans_state, segment.kmeans_state)
    RETURNS segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_combine'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_combine(segment.kmeans_state, segment.kmeans_state) IS
    'Combine function of segment.kmeans: concatenates the points of two partial states.';

CREATE FUNCTION segment.kmeans_final(segment.kmeans_state) RETURNS segment.kmeans_model
    AS 'MODULE_PATHNAME', 'kmeans_final'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_final(segment.kmeans_state) IS
    'Final function of segment.kmeans: sorts and deduplicates the points, then fits (k-means++ seeding, Lloyd iterations, best of n_init).';

CREATE AGGREGATE segment.kmeans(features float8[], k int4) (
    SFUNC = segment.kmeans_transfn,
    STYPE = segment.kmeans_state,
    COMBINEFUNC = segment.kmeans_combine,
    FINALFUNC = segment.kmeans_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.kmeans(float8[], int4) IS
    'k-means clustering of the non-null features into k clusters, with seed 0, n_init 4, max_iter 300, tol 1e-4 and z-scored features. Deterministic: the same rows give the same model whatever their order or the plan. NULL for no rows.';

CREATE AGGREGATE segment.kmeans(features float8[], k int4, seed int8) (
    SFUNC = segment.kmeans_transfn,
    STYPE = segment.kmeans_state,
    COMBINEFUNC = segment.kmeans_combine,
    FINALFUNC = segment.kmeans_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.kmeans(float8[], int4, int8) IS
    'k-means clustering as segment.kmeans(features, k), with the given random seed.';

CREATE AGGREGATE segment.kmeans(features float8[], k int4, seed int8, n_init int4) (
    SFUNC = segment.kmeans_transfn,
    STYPE = segment.kmeans_state,
    COMBINEFUNC = segment.kmeans_combine,
    FINALFUNC = segment.kmeans_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.kmeans(float8[], int4, int8, int4) IS
    'k-means clustering as segment.kmeans(features, k), with the given seed and number of runs (the best by inertia is kept).';

CREATE AGGREGATE segment.kmeans(features float8[], k int4, options jsonb) (
    SFUNC = segment.kmeans_transfn,
    STYPE = segment.kmeans_state,
    COMBINEFUNC = segment.kmeans_combine,
    FINALFUNC = segment.kmeans_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.kmeans(float8[], int4, jsonb) IS
    'k-means clustering with options: seed (0), n_init (4), max_iter (300), tol (1e-4), standardize (true), allow_fewer_clusters (false). Unknown keys are an error.';

-- Reading a model ------------------------------------------------------------

CREATE FUNCTION segment.kmeans_assign(model segment.kmeans_model, features float8[]) RETURNS int4
    AS 'MODULE_PATHNAME', 'kmeans_assign'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_assign(segment.kmeans_model, float8[]) IS
    'The cluster id of the centroid nearest to features, after applying the model''s scaling (the lowest position on ties).';

CREATE FUNCTION segment.kmeans_centroids(model segment.kmeans_model)
    RETURNS TABLE (cluster int4, centroid float8[], size int8)
    AS 'MODULE_PATHNAME', 'kmeans_centroids'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION segment.kmeans_centroids(segment.kmeans_model) IS
    'One row per cluster, by cluster id: the centroid in the original feature units and the number of rows nearest to it.';

CREATE FUNCTION segment.kmeans_inertia(model segment.kmeans_model) RETURNS float8
    AS 'MODULE_PATHNAME', 'kmeans_inertia'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_inertia(segment.kmeans_model) IS
    'Sum of squared distances of the rows to their nearest centroid, in clustering space (z-scores when standardized).';

CREATE FUNCTION segment.kmeans_info(model segment.kmeans_model,
    OUT k int4, OUT requested_k int4, OUT dims int4, OUT points int8, OUT inertia float8,
    OUT iterations int4, OUT converged bool, OUT shift float8, OUT seed int8, OUT n_init int4,
    OUT max_iter int4, OUT tol float8, OUT standardized bool, OUT mean float8[], OUT scale float8[])
    AS 'MODULE_PATHNAME', 'kmeans_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_info(segment.kmeans_model) IS
    'Everything a model holds except its centroids: sizes of the fit, convergence, options and the scaling (z = (x - mean) / scale).';

CREATE FUNCTION segment.kmeans_align(new_model segment.kmeans_model, previous_model segment.kmeans_model)
    RETURNS segment.kmeans_model
    AS 'MODULE_PATHNAME', 'kmeans_align'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_align(segment.kmeans_model, segment.kmeans_model) IS
    'new_model with its clusters renumbered after previous_model: the matching of centroids with the least total distance (Hungarian method) keeps each matched number; extra new clusters take the next unused numbers.';

-- The mergeable Lloyd step ---------------------------------------------------

CREATE TYPE segment.kmeans_step_state;

CREATE FUNCTION segment.kmeans_step_state_in(cstring) RETURNS segment.kmeans_step_state
    AS 'MODULE_PATHNAME', 'kmeans_step_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_step_state_in(cstring) IS
    'Input function of segment.kmeans_step_state; checks every field.';

CREATE FUNCTION segment.kmeans_step_state_out(segment.kmeans_step_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'kmeans_step_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_step_state_out(segment.kmeans_step_state) IS
    'Output function of segment.kmeans_step_state: rows, inertia, per-cluster counts and sums, and the model.';

CREATE TYPE segment.kmeans_step_state (
    INPUT = segment.kmeans_step_state_in,
    OUTPUT = segment.kmeans_step_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE segment.kmeans_step_state IS
    'Partial state of segment.kmeans_step: per-cluster counts and sums against a model. Small (k times dims numbers) and mergeable, with a text form for parallel workers and Citus.';

CREATE FUNCTION segment.kmeans_step_transfn(segment.kmeans_step_state, segment.kmeans_model, float8[])
    RETURNS segment.kmeans_step_state
    AS 'MODULE_PATHNAME', 'kmeans_step_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_step_transfn(segment.kmeans_step_state, segment.kmeans_model, float8[]) IS
    'Transition function of segment.kmeans_step.';

CREATE FUNCTION segment.kmeans_step_combine(segment.kmeans_step_state, segment.kmeans_step_state)
    RETURNS segment.kmeans_step_state
    AS 'MODULE_PATHNAME', 'kmeans_step_combine'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_step_combine(segment.kmeans_step_state, segment.kmeans_step_state) IS
    'Combine function of segment.kmeans_step: adds counts and sums of the same model.';

CREATE FUNCTION segment.kmeans_step_final(segment.kmeans_step_state) RETURNS segment.kmeans_model
    AS 'MODULE_PATHNAME', 'kmeans_step_final'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_step_final(segment.kmeans_step_state) IS
    'Final function of segment.kmeans_step: the model with each centroid moved to the mean of its rows.';

CREATE AGGREGATE segment.kmeans_step(model segment.kmeans_model, features float8[]) (
    SFUNC = segment.kmeans_step_transfn,
    STYPE = segment.kmeans_step_state,
    COMBINEFUNC = segment.kmeans_step_combine,
    FINALFUNC = segment.kmeans_step_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.kmeans_step(segment.kmeans_model, float8[]) IS
    'One Lloyd iteration over the rows: the next model, whose inertia is measured against the centroids it started from and whose shift is the squared centroid movement. Repeat until segment.kmeans_info(model).converged.';

-- Choosing k ------------------------------------------------------------------

CREATE FUNCTION segment.kmeans_report(query text, k_min int4 DEFAULT 2, k_max int4 DEFAULT 10,
    options jsonb DEFAULT '{}', sample_size int4 DEFAULT 10000)
    RETURNS TABLE (k int4, inertia float8, silhouette float8, iterations int4, converged bool,
                   points int8, sampled_rows int8, model segment.kmeans_model)
    AS 'MODULE_PATHNAME', 'kmeans_report'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment.kmeans_report(text, int4, int4, jsonb, int4) IS
    'Runs query (one float8[] column) once and fits k-means for every k from k_min to k_max: inertia (for the elbow), exact silhouette on a deterministic sample of sample_size rows (all rows when fewer), and the model. NULL silhouette for k = 1.';

CREATE FUNCTION segment.kmeans_report(relation regclass, features_column name,
    k_min int4 DEFAULT 2, k_max int4 DEFAULT 10, options jsonb DEFAULT '{}',
    sample_size int4 DEFAULT 10000)
    RETURNS TABLE (k int4, inertia float8, silhouette float8, iterations int4, converged bool,
                   points int8, sampled_rows int8, model segment.kmeans_model)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF relation IS NULL OR features_column IS NULL THEN
        RAISE EXCEPTION 'kmeans_report: relation and features_column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'The relation form of kmeans_report reads the features column of an existing table or view.',
                  HINT = 'Pass a table or view and its float8[] column, for example (''public.customers'', ''features'').';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = relation) THEN
        RAISE EXCEPTION 'kmeans_report: relation with OID % does not exist', relation::oid
            USING ERRCODE = 'undefined_table',
                  DETAIL = 'The relation form of kmeans_report reads the features column of an existing table or view.',
                  HINT = 'Pass an existing table or view, for example ''public.customers''::regclass.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = relation AND attname = features_column AND attnum > 0 AND NOT attisdropped) THEN
        RAISE EXCEPTION 'kmeans_report: column "%" of % does not exist', features_column, relation
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'The relation form of kmeans_report reads the features column of an existing table or view.',
                  HINT = 'Pass the name of its float8[] column, for example (''public.customers'', ''features'').';
    END IF;
    -- the relation prints schema-qualified (search_path is the catalog's)
    RETURN QUERY SELECT * FROM segment.kmeans_report(format('SELECT %I FROM %s', features_column, relation),
                                                     k_min, k_max, options, sample_size);
END $$;
COMMENT ON FUNCTION segment.kmeans_report(regclass, name, int4, int4, jsonb, int4) IS
    'segment.kmeans_report over one float8[] column of a table or view.';
