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
