\echo Use "CREATE EXTENSION segment" to load this file. \quit
-- Quantile scoring: the window function, the edges aggregate and score().
-- Rule (higher = better): score = 1 + floor(bins * L / n), L = values strictly
-- below, n = non-null values.  NULL values are skipped and score NULL.

CREATE SCHEMA segment;
COMMENT ON SCHEMA segment IS 'Customer segmentation: RFM scores, k-means clusters, scheduled segment tables.';
GRANT USAGE ON SCHEMA segment TO PUBLIC;

CREATE FUNCTION segment.quantile_score(value float8, bins int4) RETURNS int4
    AS 'MODULE_PATHNAME', 'quantile_score'
    LANGUAGE C WINDOW IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.quantile_score(float8, int4) IS
    'Window function: score 1..bins of value within its window partition, higher = better: 1 + floor(bins * (values strictly below) / (non-null values)). Ties share a score; NULL values are skipped and score NULL. Negate a value where lower is better (recency).';

CREATE TYPE segment.quantile_state;

CREATE FUNCTION segment.quantile_state_in(cstring) RETURNS segment.quantile_state
    AS 'MODULE_PATHNAME', 'quantile_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.quantile_state_in(cstring) IS
    'Input function of segment.quantile_state; validates every field.';

CREATE FUNCTION segment.quantile_state_out(segment.quantile_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'quantile_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.quantile_state_out(segment.quantile_state) IS
    'Output function of segment.quantile_state: "<bins>;<n>;<value>[*<count>],..." with values ascending.';

CREATE TYPE segment.quantile_state (
    INPUT = segment.quantile_state_in,
    OUTPUT = segment.quantile_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE segment.quantile_state IS
    'Partial state of segment.quantile_edges: the distinct values seen with their counts. Has a text form so partial aggregates can move between parallel workers and Citus nodes.';

CREATE FUNCTION segment.quantile_edges_transfn(segment.quantile_state, float8, int4)
    RETURNS segment.quantile_state
    AS 'MODULE_PATHNAME', 'quantile_edges_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.quantile_edges_transfn(segment.quantile_state, float8, int4) IS
    'Transition function of segment.quantile_edges.';

CREATE FUNCTION segment.quantile_edges_combine(segment.quantile_state, segment.quantile_state)
    RETURNS segment.quantile_state
    AS 'MODULE_PATHNAME', 'quantile_edges_combine'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.quantile_edges_combine(segment.quantile_state, segment.quantile_state) IS
    'Combine function of segment.quantile_edges: merges two partial states.';

CREATE FUNCTION segment.quantile_edges_final(segment.quantile_state) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'quantile_edges_final'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.quantile_edges_final(segment.quantile_state) IS
    'Final function of segment.quantile_edges: the bins - 1 edges.';

CREATE AGGREGATE segment.quantile_edges(value float8, bins int4) (
    SFUNC = segment.quantile_edges_transfn,
    STYPE = segment.quantile_state,
    COMBINEFUNC = segment.quantile_edges_combine,
    FINALFUNC = segment.quantile_edges_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.quantile_edges(float8, int4) IS
    'Exact score edges: the bins - 1 values e_k = x_(ceil(k * n / bins)) of the ascending order of the non-null values; NULL for an empty input. segment.score(v, edges) then equals segment.quantile_score(v, bins).';

CREATE FUNCTION segment.score(value float8, edges float8[]) RETURNS int4
    AS 'MODULE_PATHNAME', 'quantile_score_edges'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.score(float8, float8[]) IS
    'Score of value against edges from segment.quantile_edges: 1 + the number of edges strictly below value, so 1..array_length(edges) + 1. NULL value or edges give NULL.';
-- Named RFM segments: the editable map of all 125 R,F,M codes (bins = 5) to the
-- 11 standard segment names, and segment.rfm_segment() that reads it.

CREATE TABLE segment.rfm_segment_map (
    r int4 NOT NULL CHECK (r BETWEEN 1 AND 5),
    f int4 NOT NULL CHECK (f BETWEEN 1 AND 5),
    m int4 NOT NULL CHECK (m BETWEEN 1 AND 5),
    segment text NOT NULL CHECK (segment <> ''),
    PRIMARY KEY (r, f, m)
);
COMMENT ON TABLE segment.rfm_segment_map IS
    'Editable map from an RFM code (scores 1..5, 5 = best) to a named segment; read by segment.rfm_segment(). A code missing from the table maps to ''Other''. The table belongs to the extension: keep edits in a script of your own, pg_dump does not carry them.';
COMMENT ON COLUMN segment.rfm_segment_map.r IS 'Recency score, 1..5 (5 = most recent).';
COMMENT ON COLUMN segment.rfm_segment_map.f IS 'Frequency score, 1..5 (5 = most orders).';
COMMENT ON COLUMN segment.rfm_segment_map.m IS 'Monetary score, 1..5 (5 = most net revenue).';
COMMENT ON COLUMN segment.rfm_segment_map.segment IS 'Segment name for this code.';

INSERT INTO segment.rfm_segment_map (r, f, m, segment)
SELECT substr(code, 1, 1)::int4, substr(code, 2, 1)::int4, substr(code, 3, 1)::int4, segment
FROM (VALUES
    ('Champions', '{555,554,544,545,454,455,445}'::text[]),
    ('Loyal Customers', '{543,444,435,355,354,345,344,335}'::text[]),
    ('Potential Loyalist', '{553,551,552,541,542,533,532,531,452,451,442,441,431,453,433,432,423,353,352,351,342,341,333,323}'::text[]),
    ('New Customers', '{512,511,422,421,412,411,311}'::text[]),
    ('Promising', '{525,524,523,522,521,515,514,513,425,424,413,414,415,315,314,313}'::text[]),
    ('Need Attention', '{535,534,443,434,343,334,325,324}'::text[]),
    ('About To Sleep', '{331,321,312,221,213}'::text[]),
    ('At Risk', '{255,254,245,244,253,252,243,242,235,234,225,224,153,152,145,143,142,135,134,133,125,124}'::text[]),
    ('Can''t Lose Them', '{155,154,144,214,215,115,114,113}'::text[]),
    ('Hibernating', '{332,322,231,241,251,233,232,223,222,132,123,122,212,211}'::text[]),
    ('Lost', '{111,112,121,131,141,151}'::text[])
) AS named(segment, codes), unnest(codes) AS code;

GRANT SELECT ON segment.rfm_segment_map TO PUBLIC;

CREATE FUNCTION segment.rfm_segment(r int4, f int4, m int4) RETURNS text
    AS 'MODULE_PATHNAME', 'rfm_segment'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.rfm_segment(int4, int4, int4) IS
    'Named RFM segment of scores r, f, m (each 1..5, 5 = best) from segment.rfm_segment_map, or ''Other'' for a code the map leaves out. Reads the map once per query.';
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
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    AS $$
        SELECT * FROM segment.kmeans_report(
            format('SELECT %I FROM %s', features_column, relation),
            k_min, k_max, options, sample_size)
    $$;
COMMENT ON FUNCTION segment.kmeans_report(regclass, name, int4, int4, jsonb, int4) IS
    'segment.kmeans_report over one float8[] column of a table or view.';
-- Segmentations: the catalog, create_segmentation() and drop_segmentation().
--
-- A segmentation is an order table registered once, with the columns and
-- parameters of its refresh.  Its target is a table partitioned by the
-- customer column with a single DEFAULT partition holding the current
-- contents: a refresh builds a new partition and swaps it in (refresh.sql).
-- Every catalog row belongs to the role that created it; row-level security
-- shows each role (and its members) only its own, superusers all of them.

CREATE TABLE segment.segmentations (
    name text PRIMARY KEY CHECK (name <> '' AND octet_length(name) <= 48),
    owner regrole NOT NULL DEFAULT current_user::regrole,
    orders regclass NOT NULL,
    customer_column name NOT NULL,
    time_column name NOT NULL,
    amount_column name NOT NULL,
    order_id_column name,
    bins int4 NOT NULL DEFAULT 5 CHECK (bins BETWEEN 2 AND 100),
    clusters int4 NOT NULL DEFAULT 6 CHECK (clusters BETWEEN 0 AND 1000),
    lapse_after interval NOT NULL DEFAULT '180 days' CHECK (lapse_after > '0'),
    vip_share float8 NOT NULL DEFAULT 0.05 CHECK (vip_share > 0 AND vip_share < 1),
    lookback interval CHECK (lookback > '0'),
    as_of timestamptz,
    target_table regclass NOT NULL,
    history_table regclass NOT NULL,
    history_refreshes int4 NOT NULL DEFAULT 10 CHECK (history_refreshes BETWEEN 2 AND 1000),
    touchpoints regclass,
    touch_customer_column name,
    touch_time_column name,
    touch_channel_column name,
    spend regclass,
    spend_channel_column name,
    spend_day_column name,
    spend_cost_column name,
    carts regclass,
    cart_customer_column name,
    cart_time_column name,
    attribution_lookback interval NOT NULL DEFAULT '30 days' CHECK (attribution_lookback > '0'),
    half_life interval NOT NULL DEFAULT '7 days' CHECK (half_life > '0'),
    attribution_period interval CHECK (attribution_period > '0'),
    model segment.kmeans_model,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_refreshed_at timestamptz
);
COMMENT ON TABLE segment.segmentations IS
    'One row per segmentation: the registered sources, columns and parameters, the target and history tables, and the k-means model of the last refresh. Each role sees only its own rows (superusers all).';
COMMENT ON COLUMN segment.segmentations.name IS 'Name of the segmentation.';
COMMENT ON COLUMN segment.segmentations.owner IS 'Role that created it; only it (or a member, or a superuser) may refresh, change or drop it.';
COMMENT ON COLUMN segment.segmentations.orders IS 'Order table or view: one row per order (or order line).';
COMMENT ON COLUMN segment.segmentations.customer_column IS 'Customer column of the orders.';
COMMENT ON COLUMN segment.segmentations.time_column IS 'Order time column (timestamptz, timestamp or date).';
COMMENT ON COLUMN segment.segmentations.amount_column IS 'Order amount column (numeric, integer or float); refunds are negative.';
COMMENT ON COLUMN segment.segmentations.order_id_column IS 'Optional order id: frequency then counts distinct order ids.';
COMMENT ON COLUMN segment.segmentations.bins IS 'Number of score bins (2..100); named RFM segments need 5.';
COMMENT ON COLUMN segment.segmentations.clusters IS 'k of the k-means clusters (0 = no clustering).';
COMMENT ON COLUMN segment.segmentations.lapse_after IS 'A customer without an order for longer than this is Lapsed.';
COMMENT ON COLUMN segment.segmentations.vip_share IS 'Share of customers, by net revenue, that are High-Value VIP when not lapsed.';
COMMENT ON COLUMN segment.segmentations.lookback IS 'Only orders within this interval before as_of count (NULL = all history).';
COMMENT ON COLUMN segment.segmentations.as_of IS 'Analysis time (NULL = the time of each refresh); later orders are ignored.';
COMMENT ON COLUMN segment.segmentations.target_table IS 'The segment table the refresh maintains.';
COMMENT ON COLUMN segment.segmentations.history_table IS 'Snapshots of past refreshes, one partition per refresh.';
COMMENT ON COLUMN segment.segmentations.history_refreshes IS 'Number of refresh snapshots kept in the history table.';
COMMENT ON COLUMN segment.segmentations.touchpoints IS 'Optional marketing touches (customer, time, channel), for attribution.';
COMMENT ON COLUMN segment.segmentations.touch_customer_column IS 'Customer column of the touchpoints.';
COMMENT ON COLUMN segment.segmentations.touch_time_column IS 'Time column of the touchpoints.';
COMMENT ON COLUMN segment.segmentations.touch_channel_column IS 'Channel column of the touchpoints.';
COMMENT ON COLUMN segment.segmentations.spend IS 'Optional marketing spend (channel, day, cost), for attribution.';
COMMENT ON COLUMN segment.segmentations.spend_channel_column IS 'Channel column of the spend.';
COMMENT ON COLUMN segment.segmentations.spend_day_column IS 'Day column of the spend.';
COMMENT ON COLUMN segment.segmentations.spend_cost_column IS 'Cost column of the spend.';
COMMENT ON COLUMN segment.segmentations.carts IS 'Optional cart events (customer, time), for Cart Abandoners.';
COMMENT ON COLUMN segment.segmentations.cart_customer_column IS 'Customer column of the carts.';
COMMENT ON COLUMN segment.segmentations.cart_time_column IS 'Time column of the carts.';
COMMENT ON COLUMN segment.segmentations.attribution_lookback IS 'Touches this long before an order can be credited with it.';
COMMENT ON COLUMN segment.segmentations.half_life IS 'Half-life of the time-decay attribution model.';
COMMENT ON COLUMN segment.segmentations.attribution_period IS 'Attribution covers the orders and spend of this interval before as_of, within the segmentation window (NULL = the whole window).';
COMMENT ON COLUMN segment.segmentations.model IS 'k-means model of the last refresh; the next one keeps its cluster numbers.';
COMMENT ON COLUMN segment.segmentations.created_at IS 'When the segmentation was created.';
COMMENT ON COLUMN segment.segmentations.last_refreshed_at IS 'refreshed_at of the last successful refresh.';

ALTER TABLE segment.segmentations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_segmentations ON segment.segmentations
    USING (pg_has_role(current_user, owner, 'MEMBER'))
    WITH CHECK (pg_has_role(current_user, owner, 'MEMBER'));
-- Owners change parameters with UPDATE; the name, the owner and the tables a
-- segmentation made are fixed.  No table-wide UPDATE or DELETE on the shared
-- tables: either would also let anyone LOCK them in ACCESS EXCLUSIVE mode.
GRANT SELECT, INSERT ON segment.segmentations TO PUBLIC;
GRANT UPDATE (orders, customer_column, time_column, amount_column, order_id_column, bins, clusters,
              lapse_after, vip_share, lookback, as_of, history_refreshes, touchpoints,
              touch_customer_column, touch_time_column, touch_channel_column, spend,
              spend_channel_column, spend_day_column, spend_cost_column, carts, cart_customer_column,
              cart_time_column, attribution_lookback, half_life, attribution_period, model, last_refreshed_at)
    ON segment.segmentations TO PUBLIC;

-- The run log: one row per refresh.
CREATE TABLE segment.runs (
    run_id bigserial PRIMARY KEY,
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    rows int8,
    orders_scanned int8,
    rows_skipped int8,
    error_message text,
    scan_method text CHECK (scan_method IN ('fast', 'parallel', 'sql')),
    scan_workers int4,
    scan_ms float8,
    score_ms float8,
    cluster_ms float8,
    history_ms float8,
    attribution_ms float8,
    touches_skipped int8,
    swap_ms float8
);
CREATE INDEX ON segment.runs (segmentation, started_at);
COMMENT ON TABLE segment.runs IS 'The run log behind segment.job_runs: one row per refresh, with its phase times.';
ALTER TABLE segment.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_runs ON segment.runs
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.runs TO PUBLIC;     -- rows go with their segmentation (cascade)
GRANT UPDATE (finished_at, status, rows, orders_scanned, rows_skipped, error_message, scan_method, scan_workers,
              scan_ms, cluster_ms, score_ms, history_ms, attribution_ms, touches_skipped, swap_ms) ON segment.runs TO PUBLIC;
GRANT USAGE ON SEQUENCE segment.runs_run_id_seq TO PUBLIC;

-- Per-segment metrics and migrations of the last refresh, kept for the views.
CREATE TABLE segment.summaries (
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    refreshed_at timestamptz NOT NULL,
    segment_type text NOT NULL,
    segment text NOT NULL,
    customers int8 NOT NULL,
    customer_share float8 NOT NULL,
    orders int8 NOT NULL,
    revenue numeric NOT NULL,
    aov numeric,
    avg_recency_days float8,
    avg_frequency float8,
    avg_monetary numeric,
    repeat_rate float8,
    churn_rate float8,
    historical_clv numeric
);
CREATE INDEX ON segment.summaries (segmentation);
COMMENT ON TABLE segment.summaries IS 'Metrics per segment of the last refresh of each segmentation; read through segment.segment_summary.';
ALTER TABLE segment.summaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_summaries ON segment.summaries
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.summaries TO PUBLIC;

CREATE TABLE segment.migrations (
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    segment_type text NOT NULL,
    from_segment text NOT NULL,
    to_segment text NOT NULL,
    customers int8 NOT NULL,
    from_refreshed_at timestamptz NOT NULL,
    to_refreshed_at timestamptz NOT NULL
);
CREATE INDEX ON segment.migrations (segmentation);
COMMENT ON TABLE segment.migrations IS 'Customers moving between segments from the previous refresh to the last one; read through segment.segment_migration.';
ALTER TABLE segment.migrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_migrations ON segment.migrations
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.migrations TO PUBLIC;

-- Attribution by segment of the last refresh (written by segment._attribute).
CREATE TABLE segment.attributions (
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    refreshed_at timestamptz NOT NULL,
    segment_type text NOT NULL,
    segment text NOT NULL,
    model text NOT NULL,
    channel text NOT NULL,
    conversions float8 NOT NULL,
    revenue numeric NOT NULL,
    first_conversions float8 NOT NULL,
    spend numeric NOT NULL
);
CREATE INDEX ON segment.attributions (segmentation);
COMMENT ON TABLE segment.attributions IS 'Attributed conversions, revenue and spend per segment, model and channel of the last refresh of each segmentation with touchpoints; read through segment.attribution_by_segment.';
ALTER TABLE segment.attributions ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_attributions ON segment.attributions
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.attributions TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('segment.attributions', '');

-- Lifecycle rules: the first rule whose condition holds names the customer.
CREATE TABLE segment.lifecycle_rules (
    position int4 PRIMARY KEY,
    segment text NOT NULL CHECK (segment <> ''),
    condition text NOT NULL
);
COMMENT ON TABLE segment.lifecycle_rules IS
    'Lifecycle segment rules, tried in position order; the first whose condition (an SQL boolean over recency_days, frequency, monetary, is_vip, is_lapsed, has_abandoned_cart, is_prospect) holds names the customer; none: ''Other''. Editable by superusers; pg_dump does not carry edits.';
COMMENT ON COLUMN segment.lifecycle_rules.position IS 'Order in which rules are tried.';
COMMENT ON COLUMN segment.lifecycle_rules.segment IS 'Lifecycle segment name.';
COMMENT ON COLUMN segment.lifecycle_rules.condition IS 'SQL boolean expression over the customer''s facts.';
INSERT INTO segment.lifecycle_rules VALUES
    (10, 'Prospect', 'is_prospect'),
    (20, 'High-Value VIP', 'is_vip AND NOT is_lapsed'),
    (30, 'Lapsed', 'is_lapsed'),
    (40, 'Cart Abandoner', 'has_abandoned_cart'),
    (50, 'First-Time Buyer', 'frequency = 1'),
    (60, 'Repeat Customer', 'frequency >= 2');
GRANT SELECT ON segment.lifecycle_rules TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('segment.segmentations', '');
SELECT pg_catalog.pg_extension_config_dump('segment.runs', '');
SELECT pg_catalog.pg_extension_config_dump('segment.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('segment.summaries', '');
SELECT pg_catalog.pg_extension_config_dump('segment.migrations', '');

-- Checks shared by create_segmentation and refresh -------------------------

-- The attribute of a column, or a clear error.
CREATE FUNCTION segment._column(rel regclass, col name, role text, OUT attnum int2, OUT typid regtype)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog
    AS $$
BEGIN
    PERFORM segment._check_exists(rel, role);
    SELECT a.attnum, a.atttypid::regtype INTO attnum, typid
    FROM pg_attribute AS a
    WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column % of % does not exist', quote_ident(col), rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('It is the %s column of the segmentation.', role),
                  HINT = format('Name an existing column of %s.', rel);
    END IF;
END $$;
COMMENT ON FUNCTION segment._column(regclass, name, text) IS
    'Internal: the number and type of a column, or an error naming the relation and the column''s role.';

CREATE FUNCTION segment._check_type(rel regclass, col name, role text, allowed regtype[])
    RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog
    AS $$
DECLARE
    t regtype := (segment._column(rel, col, role)).typid;
BEGIN
    IF NOT t = ANY (allowed) THEN
        RAISE EXCEPTION 'column % of % has type %, which cannot serve as the % column', quote_ident(col), rel, t, role
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = format('The %s column must be of type %s.', role, array_to_string(allowed, ', ')),
                  HINT = 'Register a view that casts the column.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_type(regclass, name, text, regtype[]) IS
    'Internal: error unless the column exists and has one of the allowed types.';

CREATE FUNCTION segment._check_exists(rel regclass, role text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel) THEN
        RAISE EXCEPTION 'the % relation of this segmentation no longer exists', role
            USING ERRCODE = 'undefined_table',
                  DETAIL = 'It has been dropped since the segmentation was registered.',
                  HINT = 'Drop the segmentation and create it again on an existing relation.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_exists(regclass, text) IS
    'Internal: error unless a registered relation still exists.';

CREATE FUNCTION segment._check_readable(rel regclass, role text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog
    AS $$
BEGIN
    PERFORM segment._check_exists(rel, role);
    IF NOT has_table_privilege(rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for the % relation %', role, rel
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s has no SELECT privilege on %s.', current_user, rel),
                  HINT = format('Ask the owner of %s for GRANT SELECT.', rel);
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_readable(regclass, text) IS
    'Internal: error unless the current role may read the relation.';

-- Is there a segmentation of that name, whoever owns it?  (Row-level
-- security hides other roles' rows; this tells "not yours" from "none".)
CREATE FUNCTION segment._segmentation_owner(segmentation text) RETURNS regrole
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$ SELECT owner FROM segment.segmentations WHERE name = segmentation $$;
COMMENT ON FUNCTION segment._segmentation_owner(text) IS
    'Internal: the owner of a segmentation, visible to everyone so that errors can say "not yours".';

-- The caller's own segmentation, locked against concurrent changes, or an error.
CREATE FUNCTION segment._own_segmentation(segmentation text) RETURNS segment.segmentations
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    s segment.segmentations;
    owner regrole;
BEGIN
    SELECT * INTO s FROM segment.segmentations WHERE name = segmentation;
    IF FOUND THEN
        RETURN s;
    END IF;
    owner := segment._segmentation_owner(segmentation);
    IF owner IS NULL THEN
        RAISE EXCEPTION 'segmentation "%" does not exist', segmentation
            USING ERRCODE = 'undefined_object',
                  HINT = 'See SELECT name FROM segment.segmentations for yours.';
    END IF;
    RAISE EXCEPTION 'must be the owner of segmentation "%"', segmentation
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('It belongs to role %s.', owner),
              HINT = format('Run this as %s, as a member of it, or as a superuser.', owner);
END $$;
COMMENT ON FUNCTION segment._own_segmentation(text) IS
    'Internal: the catalog row of a segmentation the current role owns, or an error saying whether it does not exist or is not yours.';

-- The catalog row of a dropped segmentation.  Security definer (nobody has
-- DELETE on the shared catalog): only for a session whose login role is a
-- member of the owner, and only once its tables are gone.
CREATE FUNCTION segment._forget_segmentation(segmentation text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$
DECLARE
    s segment.segmentations;
BEGIN
    SELECT * INTO s FROM segment.segmentations WHERE name = segmentation;
    IF NOT FOUND OR NOT pg_has_role(session_user, s.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'must be the owner of segmentation "%"', segmentation
            USING ERRCODE = 'insufficient_privilege', HINT = 'Use segment.drop_segmentation().';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid IN (s.target_table, s.history_table)) THEN
        RAISE EXCEPTION 'the tables of segmentation "%" still exist', segmentation
            USING ERRCODE = 'object_in_use', HINT = 'Use segment.drop_segmentation(), which drops them first.';
    END IF;
    DELETE FROM segment.segmentations WHERE name = segmentation;
END $$;
COMMENT ON FUNCTION segment._forget_segmentation(text) IS
    'Internal: deletes the catalog row of a segmentation whose tables drop_segmentation has dropped.';

-- Switch to the segmentation owner's role for the rest of the transaction
-- (until restored), so that a refresh or drop run by a member or superuser
-- has the owner's privileges, never its caller's.  Returns the role setting
-- to restore.
CREATE FUNCTION segment._become_owner(owner regrole) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    saved text := current_setting('role');
    owner_name name := (SELECT rolname FROM pg_roles WHERE oid = owner);
BEGIN
    IF current_user <> owner_name THEN
        PERFORM set_config('role', owner_name, true);
    END IF;
    RETURN saved;
END $$;
COMMENT ON FUNCTION segment._become_owner(regrole) IS
    'Internal: SET ROLE to a segmentation''s owner for the transaction; returns the previous role setting.';

-- create_segmentation ----------------------------------------------------

CREATE FUNCTION segment.create_segmentation(
    name text,
    orders regclass,
    customer_column name,
    time_column name,
    amount_column name,
    order_id_column name DEFAULT NULL,
    bins int4 DEFAULT 5,
    clusters int4 DEFAULT 6,
    lapse_after interval DEFAULT '180 days',
    vip_share float8 DEFAULT 0.05,
    lookback interval DEFAULT NULL,
    as_of timestamptz DEFAULT NULL,
    target_table text DEFAULT NULL,
    touchpoints regclass DEFAULT NULL,
    touch_customer_column name DEFAULT NULL,
    touch_time_column name DEFAULT NULL,
    touch_channel_column name DEFAULT 'channel',
    spend regclass DEFAULT NULL,
    spend_channel_column name DEFAULT 'channel',
    spend_day_column name DEFAULT 'day',
    spend_cost_column name DEFAULT 'cost',
    carts regclass DEFAULT NULL,
    cart_customer_column name DEFAULT NULL,
    cart_time_column name DEFAULT NULL,
    attribution_lookback interval DEFAULT '30 days',
    half_life interval DEFAULT '7 days',
    history_refreshes int4 DEFAULT 10,
    attribution_period interval DEFAULT NULL)
RETURNS int8
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    target_parts text[];
    target_schema name;
    target_name name;
    customer_type text;
    target regclass;
    history regclass;
    time_types regtype[] := '{timestamptz,timestamp,date}';
    amount_types regtype[] := '{numeric,int2,int4,int8,float4,float8}';
BEGIN
    IF name IS NULL OR name = '' OR octet_length(name) > 48 THEN
        RAISE EXCEPTION 'a segmentation name must have 1 to 48 bytes'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The name %L was given.', name),
                  HINT = 'Choose a short name such as ''customers''.';
    END IF;
    IF segment._segmentation_owner(name) IS NOT NULL THEN
        RAISE EXCEPTION 'segmentation "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('It belongs to role %s.', segment._segmentation_owner(name)),
                  HINT = 'Choose another name, or drop it first with segment.drop_segmentation().';
    END IF;
    IF orders IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'orders, customer_column, time_column and amount_column are required'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the order relation and the names of its customer, time and amount columns.';
    END IF;
    IF bins IS NULL OR bins NOT BETWEEN 2 AND 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('bins = %s was given.', bins), HINT = 'Use 5 for the named RFM segments.';
    END IF;
    IF clusters IS NULL OR clusters NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'clusters must be between 0 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('clusters = %s was given.', clusters), HINT = 'Use 0 for no clustering.';
    END IF;
    IF lapse_after IS NULL OR lapse_after <= '0' THEN
        RAISE EXCEPTION 'lapse_after must be a positive interval' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('lapse_after = %s was given.', lapse_after), HINT = 'For example ''180 days''.';
    END IF;
    IF vip_share IS NULL OR NOT (vip_share > 0 AND vip_share < 1) THEN
        RAISE EXCEPTION 'vip_share must be between 0 and 1 (exclusive)' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('vip_share = %s was given.', vip_share), HINT = 'For example 0.05 for the top 5%.';
    END IF;
    IF lookback <= '0' THEN
        RAISE EXCEPTION 'lookback must be a positive interval or NULL' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('lookback = %s was given.', lookback), HINT = 'NULL counts all history.';
    END IF;
    IF history_refreshes IS NULL OR history_refreshes NOT BETWEEN 2 AND 1000 THEN
        RAISE EXCEPTION 'history_refreshes must be between 2 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('history_refreshes = %s was given.', history_refreshes),
            HINT = 'Two snapshots are the least that segment_migration needs.';
    END IF;
    IF attribution_lookback IS NULL OR attribution_lookback <= '0' OR half_life IS NULL OR half_life <= '0' THEN
        RAISE EXCEPTION 'attribution_lookback and half_life must be positive intervals'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''30 days'' and ''7 days''.';
    END IF;
    IF attribution_period <= '0' THEN
        RAISE EXCEPTION 'attribution_period must be a positive interval or NULL' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('attribution_period = %s was given.', attribution_period),
            HINT = 'NULL attributes the orders of the whole segmentation window; ''90 days'' the last quarter''s.';
    END IF;

    -- the sources: readable, with the columns and types needed
    PERFORM segment._check_readable(orders, 'orders');
    customer_type := format_type((SELECT atttypid FROM pg_attribute
                                  WHERE attrelid = orders
                                    AND attnum = (segment._column(orders, customer_column, 'customer')).attnum),
                                 (SELECT atttypmod FROM pg_attribute
                                  WHERE attrelid = orders
                                    AND attnum = (segment._column(orders, customer_column, 'customer')).attnum));
    PERFORM segment._check_type(orders, time_column, 'time', time_types);
    PERFORM segment._check_type(orders, amount_column, 'amount', amount_types);
    IF order_id_column IS NOT NULL THEN
        PERFORM segment._column(orders, order_id_column, 'order id');
    END IF;
    IF touchpoints IS NOT NULL THEN
        PERFORM segment._check_readable(touchpoints, 'touchpoints');
        PERFORM segment._column(touchpoints, coalesce(touch_customer_column, customer_column), 'touch customer');
        PERFORM segment._check_type(touchpoints, coalesce(touch_time_column, time_column), 'touch time', time_types);
        PERFORM segment._column(touchpoints, touch_channel_column, 'touch channel');
    END IF;
    IF spend IS NOT NULL THEN
        PERFORM segment._check_readable(spend, 'spend');
        PERFORM segment._column(spend, spend_channel_column, 'spend channel');
        PERFORM segment._check_type(spend, spend_day_column, 'spend day', time_types);
        PERFORM segment._check_type(spend, spend_cost_column, 'spend cost', amount_types);
    END IF;
    IF carts IS NOT NULL THEN
        PERFORM segment._check_readable(carts, 'carts');
        PERFORM segment._column(carts, coalesce(cart_customer_column, customer_column), 'cart customer');
        PERFORM segment._check_type(carts, coalesce(cart_time_column, time_column), 'cart time', time_types);
    END IF;

    -- the target: a new table, never one that exists
    target_parts := CASE WHEN target_table IS NULL THEN ARRAY['public', name || '_segments']
                         ELSE parse_ident(target_table) END;
    IF array_length(target_parts, 1) = 1 THEN
        target_parts := ARRAY[current_schema()::text] || target_parts;
    END IF;
    IF array_length(target_parts, 1) <> 2 OR target_parts[1] IS NULL THEN
        RAISE EXCEPTION 'invalid target table name "%"', target_table USING ERRCODE = 'invalid_name',
            HINT = 'Give a table name, optionally schema-qualified: ''analytics.customer_segments''.';
    END IF;
    target_schema := target_parts[1];
    target_name := target_parts[2];
    IF octet_length(target_name) > 52 THEN
        RAISE EXCEPTION 'target table name "%" is too long', target_name USING ERRCODE = 'name_too_long',
            DETAIL = 'Its partitions and history take names of up to 63 bytes built from it.',
            HINT = 'Use a target table name of at most 52 bytes.';
    END IF;
    IF to_regclass(format('%I.%I', target_schema, target_name)) IS NOT NULL
       OR to_regclass(format('%I.%I', target_schema, target_name || '_history')) IS NOT NULL THEN
        RAISE EXCEPTION 'relation %.% already exists', quote_ident(target_schema),
            quote_ident(CASE WHEN to_regclass(format('%I.%I', target_schema, target_name)) IS NOT NULL
                             THEN target_name ELSE target_name || '_history' END)
            USING ERRCODE = 'duplicate_table',
                  DETAIL = 'A segmentation creates its target table and history table and never writes into an existing one.',
                  HINT = 'Pass another target_table, or drop or rename the existing relation.';
    END IF;

    EXECUTE format('CREATE TABLE %I.%I (%I %s NOT NULL, recency_days float8, frequency int8, monetary numeric,
                        r_score int4, f_score int4, m_score int4, rfm_code text, rfm_segment text,
                        lifecycle_segment text, cluster int4, first_order_at timestamptz,
                        last_order_at timestamptz, refreshed_at timestamptz NOT NULL)
                    PARTITION BY LIST (%I)',
                   target_schema, target_name, customer_column, customer_type, customer_column);
    target := format('%I.%I', target_schema, target_name)::regclass;
    EXECUTE format('CREATE UNIQUE INDEX ON %s (%I)', target, customer_column);
    EXECUTE format('COMMENT ON TABLE %s IS %L', target,
                   format('Customer segments of segmentation %s, maintained by segment.refresh(): do not write into it.', name));
    EXECUTE format('CREATE TABLE %I.%I (%I %s NOT NULL, rfm_segment text, lifecycle_segment text, cluster int4,
                        refreshed_at timestamptz NOT NULL) PARTITION BY LIST (refreshed_at)',
                   target_schema, target_name || '_history', customer_column, customer_type);
    history := format('%I.%I', target_schema, target_name || '_history')::regclass;
    EXECUTE format('COMMENT ON TABLE %s IS %L', history,
                   format('Snapshots of the last refreshes of segmentation %s, one partition per refresh.', name));

    INSERT INTO segment.segmentations (name, owner, orders, customer_column, time_column, amount_column,
        order_id_column, bins, clusters, lapse_after, vip_share, lookback, as_of, target_table,
        history_table, history_refreshes, touchpoints, touch_customer_column, touch_time_column,
        touch_channel_column, spend, spend_channel_column, spend_day_column, spend_cost_column,
        carts, cart_customer_column, cart_time_column, attribution_lookback, half_life, attribution_period)
    VALUES (name, current_user::regrole, orders, customer_column, time_column, amount_column,
        order_id_column, bins, clusters, lapse_after, vip_share, lookback, as_of, target,
        history, history_refreshes, touchpoints,
        CASE WHEN touchpoints IS NOT NULL THEN coalesce(touch_customer_column, customer_column) END,
        CASE WHEN touchpoints IS NOT NULL THEN coalesce(touch_time_column, time_column) END,
        CASE WHEN touchpoints IS NOT NULL THEN touch_channel_column END,
        spend,
        CASE WHEN spend IS NOT NULL THEN spend_channel_column END,
        CASE WHEN spend IS NOT NULL THEN spend_day_column END,
        CASE WHEN spend IS NOT NULL THEN spend_cost_column END,
        carts,
        CASE WHEN carts IS NOT NULL THEN coalesce(cart_customer_column, customer_column) END,
        CASE WHEN carts IS NOT NULL THEN coalesce(cart_time_column, time_column) END,
        attribution_lookback, half_life, attribution_period);
    RETURN segment.refresh(name);
END $$;
COMMENT ON FUNCTION segment.create_segmentation(text, regclass, name, name, name, name, int4, int4, interval,
    float8, interval, timestamptz, text, regclass, name, name, name, regclass, name, name, name, regclass,
    name, name, interval, interval, int4, interval) IS
    'Registers an order table as a segmentation, creates its target table (default public.<name>_segments) and history table, and fills them with a first refresh. Returns the number of customers.';

CREATE FUNCTION segment.drop_segmentation(name text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog
AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    saved_role text := segment._become_owner(s.owner);
BEGIN
    -- as the owner, and only the tables made for this segmentation
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = s.target_table AND relkind = 'p' AND relowner = s.owner) THEN
        EXECUTE format('DROP TABLE %s', s.target_table);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = s.history_table AND relkind = 'p' AND relowner = s.owner) THEN
        EXECUTE format('DROP TABLE %s', s.history_table);
    END IF;
    -- the run log, metrics and migrations follow (foreign keys)
    PERFORM segment._forget_segmentation(s.name);
    PERFORM set_config('role', saved_role, true);
END $$;
COMMENT ON FUNCTION segment.drop_segmentation(text) IS
    'Drops a segmentation you own: its target and history tables, metrics and run log.';
-- Pruning of the history snapshots and of the per-segment metrics and
-- migrations (segment._build_segments writes them).  Called by
-- segment.refresh().

-- Drops the oldest snapshots beyond history_refreshes.  Called during the
-- swap, after the target's lock, taking the history's lock the same careful
-- way (always in that order).
CREATE FUNCTION segment._prune_history(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    old regclass[];
BEGIN
    -- partitions are named <history>_h<run id>; run ids grow with time
    SELECT array_agg(rel) INTO old FROM (
        SELECT i.inhrelid::regclass AS rel
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = s.history_table
        ORDER BY (substring(c.relname FROM '_h([0-9]+)$'))::int8 DESC
        OFFSET s.history_refreshes) AS o;
    IF old IS NULL THEN
        RETURN;
    END IF;
    PERFORM segment._lock_for_swap(s.history_table || old);
    FOR i IN 1..array_length(old, 1) LOOP
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.history_table, old[i]);
        EXECUTE format('DROP TABLE %s', old[i]);
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._prune_history(segment.segmentations) IS
    'Internal: drops the history snapshots beyond history_refreshes.';

-- The rows of earlier refreshes in segment.summaries and segment.migrations.
-- Security definer, so that nobody needs DELETE on these shared tables (which
-- would also allow locking them): it only ever removes rows older than the
-- segmentation's last refresh, which is harmless whoever calls it.
CREATE FUNCTION segment._prune_metrics(segmentation text) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$
    DELETE FROM segment.summaries AS m
    WHERE m.segmentation = _prune_metrics.segmentation
      AND m.refreshed_at IS DISTINCT FROM (SELECT s.last_refreshed_at FROM segment.segmentations AS s
                                           WHERE s.name = _prune_metrics.segmentation);
    DELETE FROM segment.migrations AS m
    WHERE m.segmentation = _prune_metrics.segmentation
      AND m.to_refreshed_at IS DISTINCT FROM (SELECT s.last_refreshed_at FROM segment.segmentations AS s
                                              WHERE s.name = _prune_metrics.segmentation);
    DELETE FROM segment.attributions AS a
    WHERE a.segmentation = _prune_metrics.segmentation
      AND a.refreshed_at IS DISTINCT FROM (SELECT s.last_refreshed_at FROM segment.segmentations AS s
                                           WHERE s.name = _prune_metrics.segmentation);
$$;
COMMENT ON FUNCTION segment._prune_metrics(text) IS
    'Internal: removes a segmentation''s metric, migration and attribution rows of refreshes before its last one.';
-- segment.refresh(name): rebuild a segmentation's table and swap it in.
--
-- One transaction, in this order, so that a failure or a cancel anywhere
-- leaves everything as it was and the exclusive lock is taken last:
--   scan     per-customer facts of the orders up to as_of (NULL customer or
--            time skipped and counted), prospects from touchpoints and carts
--   cluster  k-means on ln(1 + recency, frequency, monetary), numbered after
--            the previous refresh's model
--   score    R, F, M scores, rfm_code, rfm_segment, lifecycle_segment,
--            written into a new partition, then the target's indexes
--   history  a snapshot partition, older ones pruned; metrics and migrations
-- The first four run in C (segment._build_segments), with the facts from a
-- C scan of the orders, or from a GROUP BY when the scan cannot read them.
--   swap     under a short ACCESS EXCLUSIVE lock (taken with a 50 ms lock
--            timeout and retried, so readers never queue behind a long wait):
--            the old partition out, the new one in
-- A second refresh of the same segmentation fails at once while one runs.

CREATE FUNCTION segment._index_definitions(parent regclass, partition regclass) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
    AS $$
    -- "CREATE [UNIQUE] INDEX <name> ON ONLY <parent> USING ..." becomes
    -- "CREATE [UNIQUE] INDEX ON <partition> USING ...", so that ATTACH
    -- PARTITION finds every index of the parent already built
    SELECT format('CREATE %sINDEX ON %s%s',
                  CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, partition,
                  substr(d.def, length(format('CREATE %sINDEX %I ON ONLY %s',
                                              CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END,
                                              c.relname, parent)) + 1))
    FROM pg_index AS i
    JOIN pg_class AS c ON c.oid = i.indexrelid,
         LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def) AS d
    WHERE i.indrelid = parent
    ORDER BY i.indexrelid
$$;
COMMENT ON FUNCTION segment._index_definitions(regclass, regclass) IS
    'Internal: the parent''s index definitions rewritten for one of its partitions.';

-- An empty table shaped like the parent, owned by the segmentation's owner
-- (a superuser may run the refresh; the owner must still own every part).
CREATE FUNCTION segment._new_partition(parent regclass, suffix text, owner regrole) RETURNS regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    qualified text;
    part regclass;
BEGIN
    SELECT format('%I.%I', n.nspname, left(c.relname, 52) || suffix) INTO qualified
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = parent;
    -- no autovacuum: the refresh analyzes what it writes, and an autovacuum
    -- still working on a partition would hold up the swap that detaches it
    EXECUTE format('CREATE TABLE %s (LIKE %s) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)',
                   qualified, parent);
    part := qualified::regclass;
    IF (SELECT relowner FROM pg_class WHERE oid = part) <> owner THEN
        EXECUTE format('ALTER TABLE %s OWNER TO %s', part, owner);
    END IF;
    RETURN part;
END $$;
COMMENT ON FUNCTION segment._new_partition(regclass, text, regrole) IS
    'Internal: a new table like the partitioned parent, named after it with a suffix, owned by the given role.';

-- The target and history tables must still be the partitioned tables made
-- for this segmentation, owned by its owner: a refresh or drop never
-- touches anything else, whatever its catalog row says.
CREATE FUNCTION segment._check_own_tables(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.target_table AND relkind = 'p' AND relowner = s.owner)
       OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.history_table AND relkind = 'p' AND relowner = s.owner) THEN
        RAISE EXCEPTION 'the target or history table of segmentation "%" is missing or not its own', s.name
            USING ERRCODE = 'undefined_table',
                  DETAIL = format('Both must be partitioned tables made by create_segmentation and owned by %s.', s.owner),
                  HINT = 'Drop the segmentation and create it again.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_own_tables(segment.segmentations) IS
    'Internal: error unless the segmentation''s target and history tables are partitioned tables owned by its owner.';

-- The tables are locked in the order given, all in one attempt: a parent,
-- then the partitions to detach (which a manual VACUUM may hold).
CREATE FUNCTION segment._lock_for_swap(rels regclass[]) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    saved text := current_setting('lock_timeout');
BEGIN
    FOR attempt IN 1..1200 LOOP
        BEGIN
            PERFORM set_config('lock_timeout', '50ms', true);
            FOR i IN 1..array_length(rels, 1) LOOP
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', rels[i]);
            END LOOP;
            PERFORM set_config('lock_timeout', saved, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM set_config('lock_timeout', saved, true);
            -- let the readers in the queue through, then try again
            PERFORM pg_sleep(least(0.01 * attempt, 0.5));
        END;
    END LOOP;
    RAISE EXCEPTION 'could not lock % for the swap', rels[1]
        USING ERRCODE = 'lock_not_available',
              DETAIL = 'Long-running queries held the table through 1200 attempts.',
              HINT = 'Refresh again when the long queries on the segment table have ended.';
END $$;
COMMENT ON FUNCTION segment._lock_for_swap(regclass[]) IS
    'Internal: ACCESS EXCLUSIVE locks on the tables, requested for at most 50 ms at a time so that readers never wait behind a long queue.';

CREATE FUNCTION segment._build_segments(s segment.segmentations, facts regclass, extras regclass,
    new_part regclass, history_part regclass, previous_part regclass, refreshed timestamptz,
    as_of timestamptz, lapse_days float8,
    OUT customers int8, OUT orders_scanned int8, OUT rows_skipped int8, OUT scan_workers int4,
    OUT model segment.kmeans_model,
    OUT scan_ms float8, OUT cluster_ms float8, OUT score_ms float8, OUT history_ms float8)
    RETURNS record
    AS 'MODULE_PATHNAME', 'build_segments'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._build_segments(segment.segmentations, regclass, regclass, regclass, regclass,
    regclass, timestamptz, timestamptz, float8) IS
    'Internal: the body of a refresh in C -- facts (a scan of the orders when facts is NULL), clusters, scores and lifecycle segments written into the new partition, the history snapshot, and the rows of segment.summaries and segment.migrations. The fast scan errors with feature_not_supported or program_limit_exceeded when the SQL path must be used.';

CREATE FUNCTION segment._progress(segmentation text, phase text) RETURNS void
    AS 'MODULE_PATHNAME', 'report_progress'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._progress(text, text) IS
    'Internal: the phase of this session''s refresh, shown in segment.refresh_progress (with the library preloaded).';

CREATE FUNCTION segment._log_run(segmentation text, started_at timestamptz, status text, message text)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'log_run'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._log_run(text, timestamptz, text, text) IS
    'Internal: records a failed or skipped refresh in the run log from a background worker, so that the row outlives the failed transaction.';

-- segment._refresh(name, scheduled_run): the refresh.  scheduled_run is the
-- run row a scheduler made for a job worker (which records a failure
-- itself); NULL for segment.refresh(), which makes its own row.
CREATE FUNCTION segment._refresh(name text, scheduled_run bigint) RETURNS int8
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog
SET datestyle = 'ISO'       -- history partition bounds are written as text
SET jit = off               -- estimates of its work queries are far off: compiling would cost more than it saves
AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    run bigint := scheduled_run;
    started timestamptz := clock_timestamp();
    refreshed timestamptz;
    as_of timestamptz;
    lapse_days float8 := extract(epoch FROM s.lapse_after) / 86400;
    cust_col text;
    customer_type text;
    phase timestamptz;
    t_extras float8;
    t_score float8;
    t_history float8;
    t_attribution float8;
    skipped_touches int8;
    t_swap float8;
    built record;
    extras_sql text;
    extras regclass;
    new_part regclass;
    history_part regclass;
    previous_part regclass;
    old_parts regclass[];
    index_sql text;
    method text;
    already_running bool := false;
    failure text;
    saved_work_mem text := current_setting('work_mem');
    saved_role text;
    saved_target text;
BEGIN
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('segment.refresh'), hashtext(s.name)) THEN
            already_running := true;
            RAISE EXCEPTION 'segmentation "%" is being refreshed by another session', s.name
                USING ERRCODE = 'lock_not_available',
                      DETAIL = 'Two refreshes of one segmentation never run at once; this one did not start.',
                      HINT = 'Wait for the running refresh to finish (see segment.job_runs), then refresh again if needed.';
        END IF;
        refreshed := clock_timestamp();
        as_of := coalesce(s.as_of, refreshed);
        cust_col := s.customer_column;
        -- everything runs with the owner's privileges, never the caller's (a
        -- superuser or member refreshing someone else's segmentation)
        saved_role := segment._become_owner(s.owner);
        PERFORM segment._progress(s.name, 'starting');

        -- the sources and tables are checked again: they may have changed since registration
        PERFORM segment._check_readable(s.orders, 'orders');
        PERFORM segment._column(s.orders, s.customer_column, 'customer');
        PERFORM segment._check_type(s.orders, s.time_column, 'time', '{timestamptz,timestamp,date}');
        PERFORM segment._check_type(s.orders, s.amount_column, 'amount', '{numeric,int2,int4,int8,float4,float8}');
        IF s.order_id_column IS NOT NULL THEN
            PERFORM segment._column(s.orders, s.order_id_column, 'order id');
        END IF;
        PERFORM segment._check_own_tables(s);
        customer_type := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = s.target_table AND attname = cust_col);

        -- memory for the sorts and hashes of this refresh (until it returns)
        PERFORM set_config('work_mem', coalesce(current_setting('segment.refresh_work_mem', true), '256MB'), true);

        -- work tables of an earlier refresh in the same transaction
        IF to_regclass('pg_temp.segment_facts') IS NOT NULL THEN
            DROP TABLE pg_temp.segment_facts;
        END IF;
        IF to_regclass('pg_temp.segment_extras') IS NOT NULL THEN
            DROP TABLE pg_temp.segment_extras;
        END IF;

        IF run IS NULL THEN
            INSERT INTO segment.runs (segmentation, started_at, status)
            VALUES (s.name, started, 'running') RETURNING run_id INTO run;
        ELSE
            -- the scheduler's row: started when the scheduler started the job
            IF NOT EXISTS (SELECT 1 FROM segment.runs AS r
                           WHERE r.run_id = run AND r.segmentation = s.name AND r.status = 'running') THEN
                RAISE EXCEPTION 'run % is not a running run of segmentation "%"', run, s.name
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Call segment.refresh(name); only the scheduler passes a run.';
            END IF;
        END IF;

        -- customers seen in touchpoints or carts, with their last cart old enough
        -- to count as abandoned (24 hours without an order)
        phase := clock_timestamp();
        IF s.touchpoints IS NOT NULL THEN
            PERFORM segment._check_readable(s.touchpoints, 'touchpoints');
            PERFORM segment._column(s.touchpoints, s.touch_customer_column, 'touch customer');
            extras_sql := format('SELECT %I::%s AS customer, NULL::timestamptz AS cart_at FROM %s WHERE %I IS NOT NULL',
                                 s.touch_customer_column, customer_type, s.touchpoints, s.touch_customer_column);
        END IF;
        IF s.carts IS NOT NULL THEN
            PERFORM segment._check_readable(s.carts, 'carts');
            PERFORM segment._check_type(s.carts, s.cart_time_column, 'cart time', '{timestamptz,timestamp,date}');
            extras_sql := concat_ws(' UNION ALL ', extras_sql,
                format($q$SELECT %I::%s AS customer,
                                 CASE WHEN %I::timestamptz <= $1 - interval '24 hours' THEN %I::timestamptz END AS cart_at
                          FROM %s WHERE %I IS NOT NULL$q$,
                       s.cart_customer_column, customer_type, s.cart_time_column, s.cart_time_column, s.carts,
                       s.cart_customer_column));
        END IF;
        IF extras_sql IS NOT NULL THEN
            EXECUTE format('CREATE TEMP TABLE segment_extras ON COMMIT DROP AS
                            SELECT customer, max(cart_at) AS last_cart_at FROM (%s) AS x GROUP BY customer', extras_sql)
            USING as_of;
            extras := 'pg_temp.segment_extras'::regclass;
        END IF;
        t_extras := extract(epoch FROM clock_timestamp() - phase) * 1000;

        new_part := segment._new_partition(s.target_table, '_r' || run, s.owner);
        history_part := segment._new_partition(s.history_table, '_h' || run, s.owner);
        SELECT i.inhrelid::regclass INTO previous_part FROM pg_inherits AS i WHERE i.inhparent = s.target_table;

        -- facts, clusters, scores, history and metrics; the fast scan first
        BEGIN
            built := segment._build_segments(s, NULL, extras, new_part, history_part, previous_part,
                                             refreshed, as_of, lapse_days);
            method := 'fast';
        EXCEPTION WHEN feature_not_supported OR program_limit_exceeded THEN
            method := 'sql';
        END;
        IF method = 'sql' THEN
            phase := clock_timestamp();
            EXECUTE format($q$
                CREATE TEMP TABLE segment_facts ON COMMIT DROP AS
                SELECT c AS customer,
                       count(*) FILTER (WHERE c IS NOT NULL AND t IS NOT NULL) AS valid_rows,
                       count(*) FILTER (WHERE c IS NULL OR t IS NULL) AS skipped_rows,
                       min(t) FILTER (WHERE a > 0) AS first_order_at,
                       max(t) FILTER (WHERE a > 0) AS last_order_at,
                       %s AS frequency,
                       sum(a) FILTER (WHERE t IS NOT NULL) AS monetary
                FROM (SELECT o.%I::%s AS c, o.%I::timestamptz AS t, o.%I::numeric AS a, %s AS order_id
                      FROM %s AS o
                      WHERE o.%I IS NULL
                         OR (o.%I::timestamptz <= $1 AND ($2::interval IS NULL OR o.%I::timestamptz > $1 - $2))) AS x
                GROUP BY c
                $q$,
                CASE WHEN s.order_id_column IS NULL THEN 'count(*) FILTER (WHERE t IS NOT NULL AND a > 0)'
                     ELSE 'count(DISTINCT order_id) FILTER (WHERE t IS NOT NULL AND a > 0)' END,
                cust_col, customer_type, s.time_column, s.amount_column,
                CASE WHEN s.order_id_column IS NULL THEN 'NULL::int4' ELSE format('o.%I', s.order_id_column) END,
                s.orders, s.time_column, s.time_column, s.time_column)
            USING as_of, s.lookback;
            t_extras := t_extras + extract(epoch FROM clock_timestamp() - phase) * 1000;
            built := segment._build_segments(s, 'pg_temp.segment_facts'::regclass, extras, new_part, history_part,
                                             previous_part, refreshed, as_of, lapse_days);
            DROP TABLE pg_temp.segment_facts;
        END IF;
        IF extras IS NOT NULL THEN
            DROP TABLE pg_temp.segment_extras;
        END IF;

        -- the indexes and statistics of the new partition
        PERFORM segment._progress(s.name, 'indexing');
        phase := clock_timestamp();
        FOR index_sql IN SELECT segment._index_definitions(s.target_table, new_part) LOOP
            EXECUTE index_sql;
        END LOOP;
        -- statistics from a sample of 7,500 rows (statistics target 25): plenty
        -- for a few dozen segment names, and a tenth of a full ANALYZE's time
        saved_target := current_setting('default_statistics_target');
        PERFORM set_config('default_statistics_target', '25', true);
        EXECUTE format('ANALYZE %s', new_part);
        PERFORM set_config('default_statistics_target', saved_target, true);
        t_score := built.score_ms + extract(epoch FROM clock_timestamp() - phase) * 1000;

        -- attribution by segment, when the segmentation has touchpoints
        IF s.touchpoints IS NOT NULL THEN
            PERFORM segment._progress(s.name, 'attribution');
            phase := clock_timestamp();
            skipped_touches := segment._attribute(s, new_part, refreshed, as_of);
            t_attribution := extract(epoch FROM clock_timestamp() - phase) * 1000;
        END IF;

        -- history: the snapshot in, the catalog updated, older metrics out
        phase := clock_timestamp();
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', s.history_table, history_part, refreshed);
        UPDATE segment.segmentations SET model = built.model, last_refreshed_at = refreshed
        WHERE segmentations.name = s.name;
        PERFORM segment._prune_metrics(s.name);
        t_history := built.history_ms + extract(epoch FROM clock_timestamp() - phase) * 1000;

        -- swap, last: the exclusive lock lasts until commit
        PERFORM segment._progress(s.name, 'swapping');
        phase := clock_timestamp();
        SELECT array_agg(i.inhrelid::regclass) INTO old_parts FROM pg_inherits AS i WHERE i.inhparent = s.target_table;
        PERFORM segment._lock_for_swap(s.target_table || coalesce(old_parts, '{}'));
        PERFORM segment._prune_history(s);
        IF old_parts IS NOT NULL THEN
            FOR i IN 1..array_length(old_parts, 1) LOOP
                EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.target_table, old_parts[i]);
                EXECUTE format('DROP TABLE %s', old_parts[i]);
            END LOOP;
        END IF;
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', s.target_table, new_part);
        t_swap := extract(epoch FROM clock_timestamp() - phase) * 1000;

        PERFORM set_config('work_mem', saved_work_mem, true);
        IF current_setting('role') IS DISTINCT FROM saved_role THEN
            PERFORM set_config('role', saved_role, true);
        END IF;
        UPDATE segment.runs SET finished_at = clock_timestamp(), status = 'succeeded', rows = built.customers,
               orders_scanned = built.orders_scanned, rows_skipped = built.rows_skipped, scan_method = CASE WHEN method = 'fast' AND built.scan_workers > 0 THEN 'parallel' ELSE method END,
               scan_workers = CASE WHEN method = 'fast' THEN built.scan_workers END,
               scan_ms = built.scan_ms + t_extras, cluster_ms = built.cluster_ms, score_ms = t_score,
               history_ms = t_history, attribution_ms = t_attribution, touches_skipped = skipped_touches,
               swap_ms = t_swap
        WHERE run_id = run;
        RETURN built.customers;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- the run's own rows die with this transaction: a worker records it
        -- (a cancel or a statement_timeout too, caught here once)
        GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
        IF scheduled_run IS NOT NULL THEN
            RAISE;              -- the job worker records it
        END IF;
        BEGIN
            PERFORM segment._log_run(s.name, started, CASE WHEN already_running THEN 'skipped' ELSE 'failed' END, failure);
        EXCEPTION WHEN OTHERS THEN
            NULL;               -- the refresh's own error matters more
        END;
        RAISE;
    END;
END $$;
COMMENT ON FUNCTION segment._refresh(text, bigint) IS
    'Internal: the refresh, for segment.refresh() (scheduled_run NULL) and for the scheduler''s job workers (the run row they record).';

CREATE FUNCTION segment.refresh(name text) RETURNS int8
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog
    AS $$ SELECT segment._refresh(name, NULL) $$;
COMMENT ON FUNCTION segment.refresh(text) IS
    'Rebuilds the segment table of a segmentation you own and swaps it in atomically; appends a history snapshot, recomputes the metrics and logs the run. Returns the number of customers. Fails at once if the segmentation is being refreshed by another session.';
-- Views for DBAs and BI tools: plain column types, a comment on every column.
-- job_runs shows a role its own segmentations (superusers all); the metric
-- views also show everything to members of segment_reader.  They filter
-- explicitly (their owner bypasses row-level security) and are security
-- barriers, so that no function in a caller's WHERE sees the rows first.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segment_reader') THEN
        CREATE ROLE segment_reader NOLOGIN;
    END IF;
END $$;

CREATE VIEW segment.job_runs WITH (security_barrier) AS
SELECT r.run_id, r.segmentation, r.started_at, r.finished_at, r.status, r.rows, r.error_message,
       r.finished_at - r.started_at AS duration, r.orders_scanned, r.rows_skipped, r.scan_method,
       r.scan_workers, r.scan_ms, r.cluster_ms, r.score_ms, r.history_ms, r.attribution_ms, r.swap_ms,
       r.touches_skipped
FROM segment.runs AS r
JOIN segment.segmentations AS s ON s.name = r.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER');
COMMENT ON VIEW segment.job_runs IS 'One row per refresh of the segmentations you own (superusers: all), manual or scheduled.';
COMMENT ON COLUMN segment.job_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN segment.job_runs.segmentation IS 'Segmentation refreshed.';
COMMENT ON COLUMN segment.job_runs.started_at IS 'When the refresh started.';
COMMENT ON COLUMN segment.job_runs.finished_at IS 'When it ended (NULL while running).';
COMMENT ON COLUMN segment.job_runs.status IS 'running, succeeded, failed or skipped.';
COMMENT ON COLUMN segment.job_runs.rows IS 'Customers written to the segment table.';
COMMENT ON COLUMN segment.job_runs.error_message IS 'Why the run failed.';
COMMENT ON COLUMN segment.job_runs.duration IS 'finished_at - started_at.';
COMMENT ON COLUMN segment.job_runs.orders_scanned IS 'Order rows read with a customer and a time (up to as_of).';
COMMENT ON COLUMN segment.job_runs.rows_skipped IS 'Order rows skipped for a NULL customer or time.';
COMMENT ON COLUMN segment.job_runs.scan_method IS 'fast (the C scan of a table), parallel (the same with parallel workers) or sql (views, other types, or past segment.scan_memory).';
COMMENT ON COLUMN segment.job_runs.scan_workers IS 'Parallel workers that helped the C scan (0: the scan ran alone; NULL: the SQL path).';
COMMENT ON COLUMN segment.job_runs.scan_ms IS 'Milliseconds computing per-customer facts.';
COMMENT ON COLUMN segment.job_runs.cluster_ms IS 'Milliseconds fitting and aligning k-means.';
COMMENT ON COLUMN segment.job_runs.score_ms IS 'Milliseconds scoring and writing the new table with its indexes.';
COMMENT ON COLUMN segment.job_runs.history_ms IS 'Milliseconds writing the history snapshot, metrics and migrations.';
COMMENT ON COLUMN segment.job_runs.touches_skipped IS 'Touchpoints left out of attribution for a NULL customer or time (NULL without touchpoints).';
COMMENT ON COLUMN segment.job_runs.attribution_ms IS 'Milliseconds attributing conversions by segment (NULL without touchpoints).';
COMMENT ON COLUMN segment.job_runs.swap_ms IS 'Milliseconds waiting for and holding the exclusive lock of the swap.';
GRANT SELECT ON segment.job_runs TO PUBLIC;

CREATE VIEW segment.segment_summary WITH (security_barrier) AS
SELECT m.segmentation, m.segment_type, m.segment, m.customers, m.customer_share, m.orders, m.revenue,
       m.aov, m.avg_recency_days, m.avg_frequency, m.avg_monetary, m.repeat_rate, m.churn_rate,
       m.historical_clv, m.refreshed_at
FROM segment.summaries AS m
JOIN segment.segmentations AS s ON s.name = m.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER') OR pg_has_role(current_user, 'segment_reader', 'MEMBER');
COMMENT ON VIEW segment.segment_summary IS 'Metrics per segment of the last refresh of each segmentation: one row per segmentation, segment type and segment.';
COMMENT ON COLUMN segment.segment_summary.segmentation IS 'Segmentation name.';
COMMENT ON COLUMN segment.segment_summary.segment_type IS 'rfm (named RFM segment), lifecycle or cluster (k-means cluster number).';
COMMENT ON COLUMN segment.segment_summary.segment IS 'Segment name (cluster number as text for clusters).';
COMMENT ON COLUMN segment.segment_summary.customers IS 'Customers in the segment.';
COMMENT ON COLUMN segment.segment_summary.customer_share IS 'Share of the customers of this segment type (0..1).';
COMMENT ON COLUMN segment.segment_summary.orders IS 'Orders with a positive amount of its customers.';
COMMENT ON COLUMN segment.segment_summary.revenue IS 'Net revenue of its customers, refunds deducted.';
COMMENT ON COLUMN segment.segment_summary.aov IS 'Average order value: revenue / orders (NULL without orders).';
COMMENT ON COLUMN segment.segment_summary.avg_recency_days IS 'Average days since the last order.';
COMMENT ON COLUMN segment.segment_summary.avg_frequency IS 'Average orders per customer.';
COMMENT ON COLUMN segment.segment_summary.avg_monetary IS 'Average net revenue per customer.';
COMMENT ON COLUMN segment.segment_summary.repeat_rate IS 'Share of its customers with at least 2 orders.';
COMMENT ON COLUMN segment.segment_summary.churn_rate IS 'Of the customers in this segment at the previous refresh who were not Lapsed then, the share Lapsed (or without orders) now; NULL after the first refresh.';
COMMENT ON COLUMN segment.segment_summary.historical_clv IS 'Historical customer lifetime value: net revenue per customer.';
COMMENT ON COLUMN segment.segment_summary.refreshed_at IS 'When the refresh that computed the row ran.';
GRANT SELECT ON segment.segment_summary TO PUBLIC;

CREATE VIEW segment.segment_migration WITH (security_barrier) AS
SELECT m.segmentation, m.segment_type, m.from_segment, m.to_segment, m.customers, m.from_refreshed_at,
       m.to_refreshed_at
FROM segment.migrations AS m
JOIN segment.segmentations AS s ON s.name = m.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER') OR pg_has_role(current_user, 'segment_reader', 'MEMBER');
COMMENT ON VIEW segment.segment_migration IS 'Customers moving between segments from the previous refresh to the last one, per segment type.';
COMMENT ON COLUMN segment.segment_migration.segmentation IS 'Segmentation name.';
COMMENT ON COLUMN segment.segment_migration.segment_type IS 'rfm, lifecycle or cluster.';
COMMENT ON COLUMN segment.segment_migration.from_segment IS 'Segment at the previous refresh; (new) for customers who were not there.';
COMMENT ON COLUMN segment.segment_migration.to_segment IS 'Segment at the last refresh; (gone) for customers no longer there.';
COMMENT ON COLUMN segment.segment_migration.customers IS 'Customers who moved so (or stayed, when from = to).';
COMMENT ON COLUMN segment.segment_migration.from_refreshed_at IS 'Time of the previous refresh.';
COMMENT ON COLUMN segment.segment_migration.to_refreshed_at IS 'Time of the last refresh.';
GRANT SELECT ON segment.segment_migration TO PUBLIC;
GRANT SELECT ON segment.segment_summary, segment.segment_migration TO segment_reader;
-- Scheduling: segment.schedule() and its friends, the schedules the
-- background workers read, the jobs view and the progress of running
-- refreshes.  The workers themselves are C (src/scheduler/).

CREATE FUNCTION segment._check_schedule(schedule text) RETURNS bool
    AS 'MODULE_PATHNAME', 'check_schedule'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._check_schedule(text) IS
    'Internal: true for a valid schedule that fires, else the error segment.next_run() gives.';

CREATE TABLE segment.schedules (
    segmentation text PRIMARY KEY REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    schedule text CHECK (segment._check_schedule(schedule)),
    active bool NOT NULL DEFAULT true,
    timeout interval CHECK (timeout > '0'),
    next_run_at timestamptz,
    consecutive_failures int4 NOT NULL DEFAULT 0,
    changed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE segment.schedules IS 'The schedule of each scheduled segmentation and the scheduler''s state; read through segment.jobs.';
COMMENT ON COLUMN segment.schedules.segmentation IS 'Segmentation refreshed.';
COMMENT ON COLUMN segment.schedules.schedule IS 'Cron expression or interval (NULL: unscheduled).';
COMMENT ON COLUMN segment.schedules.active IS 'False while paused.';
COMMENT ON COLUMN segment.schedules.timeout IS 'Longest a run may take (NULL: segment.job_timeout).';
COMMENT ON COLUMN segment.schedules.next_run_at IS 'When the scheduler starts the next run.';
COMMENT ON COLUMN segment.schedules.consecutive_failures IS 'Failed runs since the last success.';
COMMENT ON COLUMN segment.schedules.changed_at IS 'When the schedule was last set, paused or resumed.';
ALTER TABLE segment.schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_schedules ON segment.schedules
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.schedules TO PUBLIC;
GRANT UPDATE (schedule, active, timeout, next_run_at, consecutive_failures, changed_at) ON segment.schedules TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('segment.schedules', '');

CREATE FUNCTION segment.next_run(schedule text, after timestamptz DEFAULT now(), timezone text DEFAULT NULL)
    RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'next_run'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.next_run(text, timestamptz, text) IS
    'When a schedule (5 cron fields, @daily and the like, or an interval of at least a second) fires next after the given time; cron fields are read in the given time zone, by default segment.timezone (as the scheduler reads them). Errors name the bad field and show valid schedules.';

CREATE FUNCTION segment._wake_scheduler() RETURNS bool
    AS 'MODULE_PATHNAME', 'wake_scheduler'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._wake_scheduler() IS
    'Internal: wakes this database''s scheduler when the transaction commits; false when the library is not preloaded (no scheduler exists).';

CREATE FUNCTION segment._wake_launcher() RETURNS void
    AS 'MODULE_PATHNAME', 'wake_launcher'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._wake_launcher() IS
    'Internal: asks the launcher to look for databases with the extension (called by CREATE EXTENSION).';

CREATE FUNCTION segment._scheduler_pid() RETURNS int4
    AS 'MODULE_PATHNAME', 'scheduler_pid'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION segment._scheduler_pid() IS
    'Internal: the process id of this database''s scheduler, or NULL when none runs.';

CREATE FUNCTION segment._default_job_timeout() RETURNS interval
    AS 'MODULE_PATHNAME', 'default_job_timeout'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._default_job_timeout() IS
    'Internal: segment.job_timeout as an interval, NULL when it is 0 (no limit).';

CREATE FUNCTION segment._refresh_progress(OUT pid int4, OUT segmentation text, OUT phase text,
    OUT started_at timestamptz, OUT orders_scanned int8, OUT orders_estimated int8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'refresh_progress'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION segment._refresh_progress() IS
    'Internal: the refreshes running in this database that the current role may see.';

-- A warning when a schedule cannot run here: no preloaded library, or the
-- scheduler switched off.
CREATE FUNCTION segment._warn_if_not_running() RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
BEGIN
    IF NOT segment._wake_scheduler() THEN
        RAISE WARNING 'segment is not in shared_preload_libraries: the schedule is kept, but nothing runs it'
            USING HINT = 'Add segment to shared_preload_libraries and restart the server.';
    ELSIF NOT current_setting('segment.enabled')::bool THEN
        RAISE WARNING 'segment.enabled is off: the schedule is kept, but nothing runs it'
            USING HINT = 'Set segment.enabled = on and reload the configuration.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._warn_if_not_running() IS
    'Internal: wakes the scheduler, warning when none can run the schedules.';

CREATE FUNCTION segment.schedule(name text, schedule text, timeout interval DEFAULT NULL) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    first_run timestamptz := segment.next_run(schedule, now());
BEGIN
    IF timeout IS NOT NULL AND timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s was given.', timeout),
                  HINT = 'Pass NULL for segment.job_timeout, or an interval such as ''15 minutes''.';
    END IF;
    INSERT INTO segment.schedules AS j (segmentation, schedule, active, timeout, next_run_at, consecutive_failures)
    VALUES (s.name, schedule, true, timeout, first_run, 0)
    ON CONFLICT (segmentation) DO UPDATE
        SET schedule = excluded.schedule, active = true, timeout = excluded.timeout,
            next_run_at = excluded.next_run_at, consecutive_failures = 0, changed_at = now();
    PERFORM segment._warn_if_not_running();
    RETURN first_run;
END $$;
COMMENT ON FUNCTION segment.schedule(text, text, interval) IS
    'Schedules the refreshes of a segmentation you own: 5 cron fields (read in segment.timezone), @hourly/@daily/@weekly/@monthly/@yearly, or an interval of at least one second; optionally its own timeout. Replaces an earlier schedule. Returns the first run time.';

-- The schedule row of a segmentation you own, or an error saying it has none.
CREATE FUNCTION segment._own_schedule(name text) RETURNS segment.schedules
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    j segment.schedules;
BEGIN
    SELECT * INTO j FROM segment.schedules WHERE segmentation = s.name AND schedule IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segmentation "%" is not scheduled', s.name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Schedule it first, for example SELECT segment.schedule(name, ''@daily'').';
    END IF;
    RETURN j;
END $$;
COMMENT ON FUNCTION segment._own_schedule(text) IS
    'Internal: the schedule of a segmentation the current role owns, or an error.';

CREATE FUNCTION segment.unschedule(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    j segment.schedules := segment._own_schedule(name);
BEGIN
    UPDATE segment.schedules SET schedule = NULL, active = false, next_run_at = NULL, changed_at = now()
    WHERE segmentation = j.segmentation;
    PERFORM segment._wake_scheduler();
END $$;
COMMENT ON FUNCTION segment.unschedule(text) IS
    'Stops the scheduled refreshes of a segmentation you own (a run in progress finishes). Its run log stays.';

CREATE FUNCTION segment.pause(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    j segment.schedules := segment._own_schedule(name);
BEGIN
    UPDATE segment.schedules SET active = false, changed_at = now() WHERE segmentation = j.segmentation;
    PERFORM segment._wake_scheduler();
END $$;
COMMENT ON FUNCTION segment.pause(text) IS
    'Pauses a scheduled segmentation you own, keeping its schedule; segment.resume() restarts it.';

CREATE FUNCTION segment.resume(name text) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    j segment.schedules := segment._own_schedule(name);
    first_run timestamptz := segment.next_run(j.schedule, now());
BEGIN
    UPDATE segment.schedules SET active = true, next_run_at = first_run, consecutive_failures = 0, changed_at = now()
    WHERE segmentation = j.segmentation;
    PERFORM segment._warn_if_not_running();
    RETURN first_run;
END $$;
COMMENT ON FUNCTION segment.resume(text) IS
    'Resumes a paused segmentation you own from its next scheduled time (missed runs are not made up); returns it.';

CREATE VIEW segment.jobs WITH (security_barrier) AS
SELECT s.name AS segmentation, s.owner, j.schedule,
       coalesce(j.active AND j.schedule IS NOT NULL, false) AS active,
       CASE WHEN j.active AND j.schedule IS NOT NULL THEN j.next_run_at END AS next_run_at,
       l.started_at AS last_run_at, l.status AS last_status, l.error_message AS last_error,
       l.finished_at - l.started_at AS last_duration,
       coalesce(j.consecutive_failures, 0) AS consecutive_failures,
       coalesce(j.timeout, segment._default_job_timeout()) AS timeout,
       p.phase AS running_phase
FROM segment.segmentations AS s
LEFT JOIN segment.schedules AS j ON j.segmentation = s.name
LEFT JOIN LATERAL (SELECT r.started_at, r.finished_at, r.status, r.error_message FROM segment.runs AS r
                   WHERE r.segmentation = s.name AND r.status <> 'running'
                   ORDER BY r.run_id DESC LIMIT 1) AS l ON true
LEFT JOIN LATERAL (SELECT g.phase FROM segment._refresh_progress() AS g
                   WHERE g.segmentation = s.name LIMIT 1) AS p ON true
WHERE pg_has_role(current_user, s.owner, 'MEMBER');
COMMENT ON VIEW segment.jobs IS 'One row per segmentation you own (superusers: all): its schedule, state and last run.';
COMMENT ON COLUMN segment.jobs.segmentation IS 'Segmentation.';
COMMENT ON COLUMN segment.jobs.owner IS 'Role that owns it; scheduled runs run as this role.';
COMMENT ON COLUMN segment.jobs.schedule IS 'Cron expression or interval; NULL when not scheduled.';
COMMENT ON COLUMN segment.jobs.active IS 'Scheduled and not paused.';
COMMENT ON COLUMN segment.jobs.next_run_at IS 'When the next scheduled run starts (NULL: none).';
COMMENT ON COLUMN segment.jobs.last_run_at IS 'Start of the last finished run, manual or scheduled.';
COMMENT ON COLUMN segment.jobs.last_status IS 'succeeded, failed or skipped.';
COMMENT ON COLUMN segment.jobs.last_error IS 'Why the last run failed or was skipped.';
COMMENT ON COLUMN segment.jobs.last_duration IS 'How long the last run took.';
COMMENT ON COLUMN segment.jobs.consecutive_failures IS 'Scheduled runs failed since the last success.';
COMMENT ON COLUMN segment.jobs.timeout IS 'Longest a scheduled run may take (NULL: no limit).';
COMMENT ON COLUMN segment.jobs.running_phase IS 'Phase of a refresh running now (see segment.refresh_progress), else NULL.';
GRANT SELECT ON segment.jobs TO PUBLIC;

CREATE VIEW segment.refresh_progress WITH (security_barrier) AS
SELECT g.segmentation, g.pid, g.phase, g.started_at, g.orders_scanned, g.orders_estimated
FROM segment._refresh_progress() AS g;
COMMENT ON VIEW segment.refresh_progress IS 'Refreshes running now in this database, manual or scheduled, of segmentations you own (superusers: all). Needs segment in shared_preload_libraries.';
COMMENT ON COLUMN segment.refresh_progress.segmentation IS 'Segmentation being refreshed.';
COMMENT ON COLUMN segment.refresh_progress.pid IS 'Process running the refresh.';
COMMENT ON COLUMN segment.refresh_progress.phase IS 'starting, scanning, clustering, scoring, history, indexing or swapping.';
COMMENT ON COLUMN segment.refresh_progress.started_at IS 'When the refresh started.';
COMMENT ON COLUMN segment.refresh_progress.orders_scanned IS 'Order rows read so far by the C scan, in steps of 65,536 (0 on the SQL path).';
COMMENT ON COLUMN segment.refresh_progress.orders_estimated IS 'Rows the orders table holds by its statistics (NULL when unknown).';
GRANT SELECT ON segment.refresh_progress TO PUBLIC;

-- a new extension: the launcher starts this database's scheduler
SELECT segment._wake_launcher();
-- Attribution building blocks: per-touch credits of one conversion path under
-- the rule-based models, and the Markov model fitted over many paths.

CREATE FUNCTION segment.touch_credits(model text, touched_at timestamptz[], converted_at timestamptz,
    half_life interval DEFAULT '7 days') RETURNS float8[]
    AS 'MODULE_PATHNAME', 'touch_credits'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.touch_credits(text, timestamptz[], timestamptz, interval) IS
    'The credit of each touch of one conversion path (same order as touched_at) under first_touch, last_touch, linear, position_based (40/20/40) or time_decay (halving every half_life before the conversion); touches after the conversion get 0; the others sum to 1.';

CREATE TYPE segment.markov_model;
CREATE FUNCTION segment.markov_model_in(cstring) RETURNS segment.markov_model
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.markov_model_out(segment.markov_model) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE segment.markov_model (
    INPUT = segment.markov_model_in,
    OUTPUT = segment.markov_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE segment.markov_model IS
    'A first-order Markov attribution model: its channels and the counts of transitions between start, the channels, conversion and null. Text form: channels=a|b;paths=..;conversions=..;counts=.. (rows start, channels; columns channels, conversion, null).';
COMMENT ON FUNCTION segment.markov_model_in(cstring) IS 'Text input of segment.markov_model.';
COMMENT ON FUNCTION segment.markov_model_out(segment.markov_model) IS 'Text output of segment.markov_model.';

CREATE FUNCTION segment.markov_fit_transfn(segment.markov_model, text[], bool) RETURNS segment.markov_model
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment.markov_fit_combine(segment.markov_model, segment.markov_model) RETURNS segment.markov_model
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.markov_fit_transfn(segment.markov_model, text[], bool) IS
    'Transition function of segment.markov_fit; refuses to run outside the aggregate.';
COMMENT ON FUNCTION segment.markov_fit_combine(segment.markov_model, segment.markov_model) IS
    'Combine function of segment.markov_fit; refuses to run outside the aggregate.';
CREATE AGGREGATE segment.markov_fit(path text[], converted bool) (
    SFUNC = segment.markov_fit_transfn,
    STYPE = segment.markov_model,
    COMBINEFUNC = segment.markov_fit_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.markov_fit(text[], bool) IS
    'Fits a first-order Markov attribution model over paths (channels in time order; repeats collapse; NULL channels count as (unknown)), each ending in conversion when converted, else in null. Paths without touches are left out.';

CREATE FUNCTION segment.markov_removal_effects(model segment.markov_model,
    OUT channel text, OUT removal_effect float8, OUT share float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'markov_removal_effects'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.markov_removal_effects(segment.markov_model) IS
    'Per channel of a Markov model: its removal effect (the share of conversions lost when it is removed, solved exactly from the absorbing chain) and its attribution share (removal effects normalized to sum to 1; NULL without conversions).';
-- Attribution by segment, materialized by each refresh of a segmentation with
-- touchpoints (segment._attribute, called by segment._refresh before its
-- swap) and read through segment.attribution_by_segment.
--
-- Each order of the attribution period (the segmentation window, or its last
-- attribution_period) is a conversion (one per order id when the segmentation
-- has them), worth its net amount.  Its path is the customer's touches in the
-- attribution_lookback before it (a touch at the same instant counts) and
-- after the customer's previous order, in time order; none: channel
-- "(none)".  Touches after a customer's last order, within the lookback
-- before as_of, form a non-converting path for the Markov model, which is
-- fitted per segment.  Spend is each channel's spend in the period, shared
-- among a segment type's segments in proportion to the channel's attributed
-- conversions under each model (to "(unattributed)" when it has none).

CREATE FUNCTION segment._attribute_scan(orders regclass, customer_column name, time_column name,
    amount_column name, order_id_column name, touchpoints regclass, touch_customer_column name,
    touch_time_column name, touch_channel_column name, contents regclass, as_of timestamptz,
    lower timestamptz, attributed_after timestamptz, attribution_lookback interval, half_life interval,
    result regclass)
    RETURNS int8
    AS 'MODULE_PATHNAME', 'attribute_scan'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._attribute_scan(regclass, name, name, name, name, regclass, name, name, name, regclass, timestamptz, timestamptz, timestamptz, interval, interval, regclass) IS
    'Internal: a refresh''s attribution by segment from one scan each of the new contents, the orders (the conversions: in (lower, as_of], attributed after attributed_after) and the touchpoints, written into the result table; returns the touches left out for a NULL customer or time. Errors with feature_not_supported when the SQL path must be used (views, other types, past segment.scan_memory).';

CREATE FUNCTION segment._attribution_by_segment(paths_query text, half_life interval,
    OUT segment_type text, OUT segment text, OUT model text, OUT channel text,
    OUT conversions float8, OUT revenue float8, OUT first_conversions float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'attribution_by_segment'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._attribution_by_segment(text, interval) IS
    'Internal: the six attribution models over the paths a query gives (channels, touched_at, revenue, first_order, rfm, lifecycle and cluster segments, converted; no channels for a conversion without a touch), summed per segment type, segment, model and channel; the Markov model fitted per segment.';

-- The SQL path of the attribution, for what segment._attribute_scan does not
-- read: the conversions and paths built with SQL, then the six models over
-- them in C; the same rows.
CREATE FUNCTION segment._attribute_sql(s segment.segmentations, contents regclass, as_of timestamptz,
                                       lower timestamptz, attributed_after timestamptz) RETURNS int8
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    customer_type text := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                           WHERE attrelid = contents AND attname = s.customer_column);
    skipped int8;
BEGIN
    IF to_regclass('pg_temp.segment_conversions') IS NOT NULL THEN
        DROP TABLE pg_temp.segment_conversions, pg_temp.segment_paths;
    END IF;

    -- conversions: one per order (id), its net amount, whether it is the customer's
    -- first, whether it is in the attribution period
    EXECUTE format($q$
        CREATE TEMP TABLE segment_conversions ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY customer, converted_at, key) AS conversion, customer, converted_at,
               revenue, lag(converted_at) OVER w AS previous_at, row_number() OVER w = 1 AS first_order,
               $3::timestamptz IS NULL OR converted_at > $3 AS attributed
        FROM (SELECT o.%1$I::%2$s AS customer, %7$s AS key, %3$s AS converted_at, sum(o.%5$I)::numeric AS revenue
              FROM %6$s AS o
              WHERE o.%1$I IS NOT NULL AND o.%4$I IS NOT NULL AND o.%4$I::timestamptz <= $1
                AND ($2::timestamptz IS NULL OR o.%4$I::timestamptz > $2)
              GROUP BY o.%1$I, %7$s) AS orders
        -- at one instant, conversions go by order id (by position without ids)
        WINDOW w AS (PARTITION BY customer ORDER BY converted_at, key)
        $q$,
        s.customer_column, customer_type,
        format('min(o.%I::timestamptz)', s.time_column),
        s.time_column, s.amount_column, s.orders,
        CASE WHEN s.order_id_column IS NULL THEN 'o.ctid' ELSE format('o.%I', s.order_id_column) END)
    USING as_of, lower, attributed_after;
    ANALYZE segment_conversions;

    -- each touch goes to the next conversion at or after it (touches sort
    -- before conversions of the same instant), if within the lookback and
    -- after the previous one; later touches within the lookback before
    -- as_of form the customer's non-converting path
    EXECUTE format($q$
        CREATE TEMP TABLE segment_paths ON COMMIT DROP AS
        WITH events AS (
            SELECT t.%1$I::%2$s AS customer, t.%3$I::timestamptz AS at, coalesce(t.%4$I::text, '(unknown)') AS channel,
                   NULL::int8 AS conversion
            FROM %5$s AS t
            WHERE t.%1$I IS NOT NULL AND t.%3$I IS NOT NULL AND t.%3$I::timestamptz <= $1
            UNION ALL
            SELECT customer, converted_at, NULL, conversion FROM segment_conversions
        ), grouped AS (
            -- from the latest event back, the conversions seen so far: a touch
            -- and the next conversion after it share the count
            -- (of conversions at one instant, the first by number takes the touches)
            SELECT e.*, count(e.conversion) OVER (PARTITION BY e.customer
                                                  ORDER BY e.at DESC, e.conversion IS NULL, e.conversion DESC
                                                  ROWS UNBOUNDED PRECEDING) AS g
            FROM events AS e
        ), assigned AS (
            SELECT customer, at, channel, max(conversion) OVER (PARTITION BY customer, g) AS next_conversion
            FROM grouped
        )
        SELECT a.customer, a.next_conversion AS conversion,
               array_agg(a.channel ORDER BY a.at, a.channel COLLATE "C") AS channels,
               array_agg(a.at ORDER BY a.at, a.channel COLLATE "C") AS touched_at
        FROM assigned AS a
        LEFT JOIN segment_conversions AS c ON c.conversion = a.next_conversion
        WHERE a.channel IS NOT NULL
          AND (c.conversion IS NULL AND a.at > $1 - $2
               OR c.conversion IS NOT NULL AND a.at >= c.converted_at - $2
                  AND (c.previous_at IS NULL OR a.at > c.previous_at))
        GROUP BY a.customer, a.next_conversion
        $q$,
        s.touch_customer_column, customer_type, s.touch_time_column, s.touch_channel_column, s.touchpoints)
    USING as_of, s.attribution_lookback;
    EXECUTE format('SELECT count(*) FROM %s WHERE %I IS NULL OR %I IS NULL',
                   s.touchpoints, s.touch_customer_column, s.touch_time_column) INTO skipped;
    ANALYZE segment_paths;

    -- every conversion with its path (none: no touch) and every
    -- non-converting path, with the customer's segments
    EXECUTE format($q$
        INSERT INTO segment_attributed
        SELECT * FROM segment._attribution_by_segment($q2$
            SELECT p.channels, p.touched_at, c.revenue, c.first_order, x.rfm_segment, x.lifecycle_segment,
                   x.cluster::text, true
            FROM segment_conversions AS c LEFT JOIN segment_paths AS p USING (conversion)
            JOIN %1$s AS x ON x.%2$I = c.customer
            WHERE c.attributed
            UNION ALL
            SELECT p.channels, p.touched_at, NULL, false, x.rfm_segment, x.lifecycle_segment, x.cluster::text, false
            FROM segment_paths AS p JOIN %1$s AS x ON x.%2$I = p.customer
            WHERE p.conversion IS NULL $q2$, $1)
        $q$, contents, s.customer_column)
    USING s.half_life;
    DROP TABLE pg_temp.segment_conversions, pg_temp.segment_paths;
    RETURN skipped;
END $$;
COMMENT ON FUNCTION segment._attribute_sql(segment.segmentations, regclass, timestamptz, timestamptz, timestamptz) IS
    'Internal: the SQL path of a refresh''s attribution (conversions and paths built with SQL), writing the same rows as segment._attribute_scan into pg_temp.segment_attributed; returns the touches left out for a NULL customer or time.';

-- The attribution rows of a refresh: computed from the sources and the new
-- contents (customer -> segments), written into segment.attributions.
CREATE FUNCTION segment._attribute(s segment.segmentations, contents regclass, refreshed timestamptz,
                                   as_of timestamptz) RETURNS int8
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    lower timestamptz := CASE WHEN s.lookback IS NOT NULL THEN as_of - s.lookback END;
    -- the attribution period, when shorter than the window: earlier orders
    -- still end the paths before them and decide first orders
    attributed_after timestamptz := CASE WHEN s.attribution_period IS NOT NULL
                                          AND (lower IS NULL OR as_of - s.attribution_period > lower)
                                         THEN as_of - s.attribution_period END;
    skipped int8;
BEGIN
    PERFORM segment._check_readable(s.touchpoints, 'touchpoints');
    PERFORM segment._column(s.touchpoints, s.touch_channel_column, 'touch channel');
    IF to_regclass('pg_temp.segment_attributed') IS NOT NULL THEN
        DROP TABLE pg_temp.segment_attributed;
    END IF;
    CREATE TEMP TABLE segment_attributed (segment_type text, segment text, model text, channel text,
        conversions float8, revenue float8, first_conversions float8) ON COMMIT DROP;

    -- the six models per segment from one scan of each source, in C; or in SQL
    -- for views and the types the scan does not read
    BEGIN
        skipped := segment._attribute_scan(s.orders, s.customer_column, s.time_column, s.amount_column,
                                           s.order_id_column, s.touchpoints, s.touch_customer_column,
                                           s.touch_time_column, s.touch_channel_column, contents, as_of, lower,
                                           attributed_after, s.attribution_lookback, s.half_life, 'pg_temp.segment_attributed'::regclass);
    EXCEPTION WHEN feature_not_supported THEN
        skipped := NULL;
    END;
    IF skipped IS NULL THEN
        skipped := segment._attribute_sql(s, contents, as_of, lower, attributed_after);
    END IF;

    -- each channel's spend in the period, shared by attributed conversions;
    -- where a model credits a channel nothing, its spend goes to the segment
    -- "(unattributed)", so that every model and segment type accounts for all of it
    EXECUTE format($q$
        INSERT INTO segment.attributions
        WITH spend AS (
            SELECT %1$s AS channel, sum(%2$s)::numeric AS spend
            FROM %3$s
            WHERE %4$s
            GROUP BY 1
        )
        SELECT $1, $2, a.segment_type, a.segment, a.model, a.channel, a.conversions, a.revenue,
               a.first_conversions,
               coalesce(sp.spend * (a.conversions / nullif(sum(a.conversions) OVER (PARTITION BY a.segment_type, a.model, a.channel), 0))::numeric, 0)
        FROM segment_attributed AS a LEFT JOIN spend AS sp USING (channel)
        UNION ALL
        SELECT $1, $2, t.segment_type, '(unattributed)', m.model, sp.channel, 0, 0, 0, sp.spend
        FROM spend AS sp
        CROSS JOIN (SELECT DISTINCT segment_type FROM segment_attributed) AS t
        CROSS JOIN unnest(ARRAY['first_touch', 'last_touch', 'linear', 'position_based', 'time_decay', 'markov']) AS m(model)
        WHERE sp.spend <> 0 AND sp.channel IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM segment_attributed AS a
                          WHERE a.segment_type = t.segment_type AND a.model = m.model AND a.channel = sp.channel)
        $q$,
        CASE WHEN s.spend IS NULL THEN 'NULL::text' ELSE format('%I::text', s.spend_channel_column) END,
        CASE WHEN s.spend IS NULL THEN '0' ELSE format('%I', s.spend_cost_column) END,
        CASE WHEN s.spend IS NULL THEN '(SELECT) AS nothing' ELSE s.spend::text END,
        CASE WHEN s.spend IS NULL THEN 'false'
             ELSE format('%1$I::timestamptz <= $3 AND ($4::timestamptz IS NULL OR %1$I::timestamptz > $4)',
                         s.spend_day_column) END)
    USING s.name, refreshed, as_of, coalesce(attributed_after, lower);
    DROP TABLE pg_temp.segment_attributed;
    RETURN skipped;
END $$;
COMMENT ON FUNCTION segment._attribute(segment.segmentations, regclass, timestamptz, timestamptz) IS
    'Internal: computes a refresh''s rows of segment.attributions from the sources and the new segment contents; returns the touches left out for a NULL customer or time.';

CREATE VIEW segment.attribution_by_segment WITH (security_barrier) AS
SELECT a.segmentation, a.segment_type, a.segment, a.model, a.channel, a.conversions, a.revenue, a.spend,
       a.revenue / nullif(a.spend, 0) AS roas,
       a.spend / nullif(a.first_conversions, 0)::numeric AS cac,
       a.refreshed_at
FROM segment.attributions AS a
JOIN segment.segmentations AS s ON s.name = a.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER') OR pg_has_role(current_user, 'segment_reader', 'MEMBER');
COMMENT ON VIEW segment.attribution_by_segment IS 'Per segmentation with touchpoints, segment type, segment, attribution model and channel: attributed conversions, revenue, allocated spend, ROAS and CAC of the last refresh.';
COMMENT ON COLUMN segment.attribution_by_segment.segmentation IS 'Segmentation.';
COMMENT ON COLUMN segment.attribution_by_segment.segment_type IS 'rfm, lifecycle or cluster.';
COMMENT ON COLUMN segment.attribution_by_segment.segment IS 'Segment of the converting customers (as of the refresh); (unattributed) for the spend of a channel the model credits nothing.';
COMMENT ON COLUMN segment.attribution_by_segment.model IS 'first_touch, last_touch, linear, time_decay, position_based or markov.';
COMMENT ON COLUMN segment.attribution_by_segment.channel IS 'Touch channel; (none) for conversions without a touch, (unknown) for touches without a channel.';
COMMENT ON COLUMN segment.attribution_by_segment.conversions IS 'Conversions (orders) credited to the channel.';
COMMENT ON COLUMN segment.attribution_by_segment.revenue IS 'Net revenue of those conversions credited to the channel (refunds negative).';
COMMENT ON COLUMN segment.attribution_by_segment.spend IS 'The channel''s spend in the attribution period, shared among the segment type''s segments by attributed conversions; all of it in segment (unattributed) when the model credits the channel nothing.';
COMMENT ON COLUMN segment.attribution_by_segment.roas IS 'revenue / spend (NULL without spend).';
COMMENT ON COLUMN segment.attribution_by_segment.cac IS 'spend / attributed first-order conversions (NULL without any).';
COMMENT ON COLUMN segment.attribution_by_segment.refreshed_at IS 'Refresh that computed the row.';
GRANT SELECT ON segment.attribution_by_segment TO PUBLIC;
GRANT SELECT ON segment.attribution_by_segment TO segment_reader;
-- Demo and test data: a deterministic generator of realistic orders,
-- touchpoints, marketing spend and carts.

CREATE FUNCTION segment.demo_random(seed int8, stream int4, key int8) RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ((pg_catalog.hashint8extended(key, seed # (stream::int8 * 2654435761)) >> 11)
                  & 9007199254740991)::float8 / 9007199254740992.0 $$;
COMMENT ON FUNCTION segment.demo_random(int8, int4, int8) IS
    'Deterministic pseudo-random number in [0, 1) for (seed, stream, key): the same inputs always give the same number, whatever the plan. Used by segment.generate_demo_data.';

CREATE FUNCTION segment.generate_demo_data(
    schema name DEFAULT 'segment_demo',
    customers int4 DEFAULT 10000,
    seed int8 DEFAULT 42,
    mean_orders float8 DEFAULT 5,
    end_date date DEFAULT '2025-12-31',
    years int4 DEFAULT 3,
    touches_per_order float8 DEFAULT 1.5,
    replace boolean DEFAULT false)
RETURNS TABLE (relation text, rows int8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- interval arithmetic on timestamptz follows the session's time zone (DST):
-- generate in UTC so that a seed gives the same instants everywhere
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    span_end timestamptz := (end_date + 1)::timestamp AT TIME ZONE 'UTC';
    span_start timestamptz := (end_date + 1 - 365 * years)::timestamp AT TIME ZONE 'UTC';
    -- Lomax (Pareto II) tail 1.8: most customers order once or twice, a few hundreds of times
    order_scale float8 := (mean_orders - 0.6) / 1.25;
    tbl text;
BEGIN
    IF schema IS NULL OR customers IS NULL OR seed IS NULL OR mean_orders IS NULL
       OR end_date IS NULL OR years IS NULL OR touches_per_order IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'generate_demo_data arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'Every argument has a default; a NULL was passed explicitly.',
                  HINT = 'Leave the argument out to use its default.';
    END IF;
    IF customers < 1 THEN
        RAISE EXCEPTION 'customers must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('customers was %s.', customers),
                  HINT = 'Pass the number of customers to generate, for example 10000.';
    END IF;
    IF mean_orders < 1 OR mean_orders > 100 THEN
        RAISE EXCEPTION 'mean_orders must be between 1 and 100'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('mean_orders was %s.', mean_orders),
                  HINT = 'Use 10 for the benchmark shape (10 orders per customer).';
    END IF;
    IF years < 1 OR years > 50 THEN
        RAISE EXCEPTION 'years must be between 1 and 50'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('years was %s.', years),
                  HINT = 'Pass how many years of history to generate, for example 3.';
    END IF;
    IF touches_per_order < 0 OR touches_per_order > 20 THEN
        RAISE EXCEPTION 'touches_per_order must be between 0 and 20'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('touches_per_order was %s.', touches_per_order),
                  HINT = 'Pass 0 to skip touchpoints, or an average such as 1.5.';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema) THEN
        EXECUTE format('CREATE SCHEMA %I', schema);
    END IF;
    FOREACH tbl IN ARRAY ARRAY['orders', 'touchpoints', 'spend', 'carts'] LOOP
        IF to_regclass(format('%I.%I', schema, tbl)) IS NOT NULL THEN
            IF NOT replace THEN
                RAISE EXCEPTION 'relation %.% already exists', schema, tbl
                    USING ERRCODE = 'duplicate_table',
                          DETAIL = 'generate_demo_data creates orders, touchpoints, spend and carts and never overwrites a table silently.',
                          HINT = 'Pass replace => true to drop and regenerate them, or choose another schema.';
            END IF;
            EXECUTE format('DROP TABLE %I.%I', schema, tbl);
        END IF;
    END LOOP;

    -- one hidden profile per customer: when they arrive, how long they stay,
    -- how often they buy and how much they spend
    IF to_regclass('pg_temp.segment_demo_profile') IS NOT NULL THEN
        DROP TABLE pg_temp.segment_demo_profile;
    END IF;
    CREATE TEMP TABLE segment_demo_profile AS
    SELECT c AS customer_id,
           first_at,
           least(first_at + make_interval(days => (-400 * ln(1 - segment.demo_random(seed, 2, c)))::int4),
                 span_end - interval '1 second') AS active_end,
           least(500, 1 + floor(order_scale * (power(1 - segment.demo_random(seed, 3, c), -1 / 1.8) - 1)))::int4 AS n_orders,
           ln(35) + 0.6 * sqrt(-2 * ln(1 - segment.demo_random(seed, 4, c))) * cos(2 * pi() * segment.demo_random(seed, 5, c)) AS log_amount
    FROM generate_series(1, customers) AS c,
         LATERAL (SELECT span_start + (span_end - span_start) * sqrt(segment.demo_random(seed, 1, c)) AS first_at) AS f;

    EXECUTE format($q$
        CREATE TABLE %1$I.orders AS
        WITH o AS (
            SELECT p.customer_id, p.customer_id::int8 * 1000 + i AS order_id,
                   CASE WHEN i = 1 THEN p.first_at
                        ELSE p.first_at + (p.active_end - p.first_at) * segment.demo_random($1, 10, p.customer_id::int8 * 1000 + i) END AS t,
                   greatest(1, round(exp(p.log_amount + 0.5 * sqrt(-2 * ln(1 - segment.demo_random($1, 11, p.customer_id::int8 * 1000 + i)))
                                                      * cos(2 * pi() * segment.demo_random($1, 12, p.customer_id::int8 * 1000 + i)))::numeric, 2)) AS amount
            FROM pg_temp.segment_demo_profile AS p, generate_series(1, p.n_orders) AS i),
        seasonal AS (
            -- a fifth of orders move into the Nov 20 .. Dec 20 peak when the customer is active then
            SELECT o.customer_id, o.order_id, o.amount,
                   CASE WHEN segment.demo_random($1, 13, o.order_id) < 0.2
                             AND peak BETWEEN p.first_at AND p.active_end THEN peak ELSE o.t END AS ordered_at
            FROM o JOIN pg_temp.segment_demo_profile AS p USING (customer_id),
                 LATERAL (SELECT (make_date(extract(year FROM o.t AT TIME ZONE 'UTC')::int4, 11, 20)::timestamp AT TIME ZONE 'UTC')
                                 + interval '30 days' * segment.demo_random($1, 14, o.order_id) AS peak) AS s)
        SELECT order_id, customer_id::int8 AS customer_id, ordered_at, amount::numeric(12,2) AS amount
        FROM seasonal
        UNION ALL
        -- about 5%% of orders are partly or fully refunded later: a negative amount on the same order id
        SELECT order_id, customer_id, ordered_at + interval '1 day' * (1 + 29 * segment.demo_random($1, 16, order_id)),
               (-round((amount * (0.25 + 0.75 * segment.demo_random($1, 17, order_id)))::numeric, 2))::numeric(12,2)
        FROM seasonal
        WHERE segment.demo_random($1, 15, order_id) < 0.05
          AND ordered_at + interval '1 day' * (1 + 29 * segment.demo_random($1, 16, order_id)) < $2
        $q$, schema) USING seed, span_end;

    EXECUTE format($q$
        CREATE TABLE %1$I.touchpoints AS
        WITH converting AS (
            -- touches in the two weeks before each order, more of them close to it
            SELECT o.customer_id, o.ordered_at - interval '14 days' * power(segment.demo_random($1, 21, o.order_id * 64 + j), 2) AS touched_at,
                   o.order_id * 64 + j AS k
            FROM %1$I.orders AS o,
                 generate_series(1, floor(2 * $2 * segment.demo_random($1, 20, o.order_id))::int4) AS j
            WHERE o.amount > 0),
        retention AS (
            -- campaigns that reach a third of customers after they stopped buying
            SELECT p.customer_id::int8, p.active_end + (($3 - interval '1 second') - p.active_end) * segment.demo_random($1, 23, p.customer_id::int8 * 8 + j) AS touched_at,
                   -(p.customer_id::int8 * 8 + j) AS k
            FROM pg_temp.segment_demo_profile AS p, generate_series(1, 3) AS j
            WHERE $2 > 0 AND segment.demo_random($1, 22, p.customer_id::int8 * 8 + j) < 0.1),
        prospects AS (
            -- people who were reached but never bought: ids above the customers
            SELECT ($4 + p)::int8 AS customer_id, $5 + ($3 - $5) * segment.demo_random($1, 25, p * 8 + j) AS touched_at,
                   -($4::int8 * 8 + p * 8 + j) AS k
            FROM generate_series(1, ($4 / 5)::int4) AS p, generate_series(1, 1 + floor(3 * segment.demo_random($1, 24, p))::int4) AS j
            WHERE $2 > 0)
        SELECT customer_id, touched_at,
               CASE WHEN u < 0.22 THEN 'paid_search' WHEN u < 0.40 THEN 'paid_social' WHEN u < 0.60 THEN 'email'
                    WHEN u < 0.75 THEN 'organic' WHEN u < 0.87 THEN 'direct' WHEN u < 0.94 THEN 'affiliate'
                    ELSE 'referral' END AS channel
        FROM (SELECT customer_id, touched_at, segment.demo_random($1, 26, k) AS u FROM converting
              UNION ALL SELECT customer_id, touched_at, segment.demo_random($1, 27, k) FROM retention
              UNION ALL SELECT customer_id, touched_at, segment.demo_random($1, 28, k) FROM prospects) AS t
        $q$, schema) USING seed, touches_per_order, span_end, customers, span_start;

    EXECUTE format($q$
        CREATE TABLE %1$I.spend AS
        SELECT c.channel, d::date AS day,
               round((c.base * ($2 / 10000.0) * (1 + 0.35 * cos(2 * pi() * (extract(doy FROM d) - 340) / 365))
                      * (0.8 + 0.4 * segment.demo_random($1, 30 + c.n, (d::date - date '2000-01-01'))))::numeric, 2)::numeric(12,2) AS cost
        FROM (VALUES (1, 'paid_search', 300), (2, 'paid_social', 250), (3, 'email', 40),
                     (4, 'affiliate', 80), (5, 'referral', 30)) AS c(n, channel, base),
             generate_series($3::timestamp, $4::timestamp - interval '1 day', interval '1 day') AS d
        $q$, schema) USING seed, customers, (span_start AT TIME ZONE 'UTC'), (span_end AT TIME ZONE 'UTC');

    EXECUTE format($q$
        CREATE TABLE %1$I.carts AS
        -- carts shortly before 40%% of orders, and carts left behind by 15%% of customers
        SELECT customer_id, ordered_at - interval '3 hours' * segment.demo_random($1, 41, order_id) AS added_at
        FROM %1$I.orders WHERE amount > 0 AND segment.demo_random($1, 40, order_id) < 0.4
        UNION ALL
        SELECT customer_id::int8, active_end + least(interval '30 days', $2 - active_end - interval '1 second') * segment.demo_random($1, 43, customer_id)
        FROM pg_temp.segment_demo_profile WHERE segment.demo_random($1, 42, customer_id) < 0.15
        $q$, schema) USING seed, span_end;

    DROP TABLE pg_temp.segment_demo_profile;

    FOREACH tbl IN ARRAY ARRAY['orders', 'touchpoints', 'spend', 'carts'] LOOP
        EXECUTE format('ANALYZE %I.%I', schema, tbl);
        EXECUTE format('SELECT %L::text, count(*) FROM %I.%I', format('%I.%I', schema, tbl), schema, tbl)
            INTO relation, rows;
        RETURN NEXT;
    END LOOP;
    EXECUTE format('CREATE INDEX ON %I.orders (customer_id)', schema);
    EXECUTE format('CREATE INDEX ON %I.touchpoints (customer_id)', schema);
    EXECUTE format('COMMENT ON TABLE %I.orders IS %L', schema,
                   'Demo orders from segment.generate_demo_data (seed ' || seed || '): one row per order, refunds as negative amounts on the same order_id.');
    EXECUTE format('COMMENT ON TABLE %I.touchpoints IS %L', schema, 'Demo marketing touches: customer_id, touched_at, channel.');
    EXECUTE format('COMMENT ON TABLE %I.spend IS %L', schema, 'Demo daily marketing spend per paid channel (organic and direct cost nothing).');
    EXECUTE format('COMMENT ON TABLE %I.carts IS %L', schema, 'Demo cart events: customer_id, added_at.');
END
$fn$;
COMMENT ON FUNCTION segment.generate_demo_data(name, int4, int8, float8, date, int4, float8, boolean) IS
    'Creates deterministic demo tables <schema>.orders, touchpoints, spend and carts: heavy-tailed order counts, log-normal amounts, 5% refunds, churn, a November-December peak. Same seed, same rows. Refuses to overwrite existing tables unless replace => true.';
