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
