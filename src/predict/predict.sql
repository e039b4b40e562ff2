-- Predictive building blocks: the buy-till-you-die models BG/NBD and
-- Pareto/NBD (will a customer buy again, how often) and Gamma-Gamma (how
-- much per order),
-- fitted by maximum likelihood in C as aggregates over per-customer
-- summaries, and the scores read from a fitted model.  Times are in any one
-- unit (days, weeks): a model's rates are per the unit it was fitted in.

-- The models ------------------------------------------------------------------

CREATE TYPE segment.bgnbd_model;

CREATE FUNCTION segment.bgnbd_model_in(cstring) RETURNS segment.bgnbd_model
    AS 'MODULE_PATHNAME', 'bgnbd_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_model_in(cstring) IS
    'Input function of segment.bgnbd_model; checks every field.';

CREATE FUNCTION segment.bgnbd_model_out(segment.bgnbd_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'bgnbd_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_model_out(segment.bgnbd_model) IS
    'Output function of segment.bgnbd_model: "r=..;alpha=..;a=..;b=..;log_likelihood=..;customers=..;iterations=..;converged=..", floats exact.';

CREATE TYPE segment.bgnbd_model (
    INPUT = segment.bgnbd_model_in,
    OUTPUT = segment.bgnbd_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE segment.bgnbd_model IS
    'A fitted BG/NBD model (Fader, Hardie & Lee 2005): purchase rates Gamma(r, alpha) per time unit, drop-out probabilities after each purchase Beta(a, b), with the log-likelihood, customers, iterations and whether the fit converged. Its text form round-trips exactly.';

CREATE TYPE segment.gammagamma_model;

CREATE FUNCTION segment.gammagamma_model_in(cstring) RETURNS segment.gammagamma_model
    AS 'MODULE_PATHNAME', 'gammagamma_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_model_in(cstring) IS
    'Input function of segment.gammagamma_model; checks every field.';

CREATE FUNCTION segment.gammagamma_model_out(segment.gammagamma_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'gammagamma_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_model_out(segment.gammagamma_model) IS
    'Output function of segment.gammagamma_model: "p=..;q=..;gamma=..;log_likelihood=..;customers=..;iterations=..;converged=..", floats exact.';

CREATE TYPE segment.gammagamma_model (
    INPUT = segment.gammagamma_model_in,
    OUTPUT = segment.gammagamma_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE segment.gammagamma_model IS
    'A fitted Gamma-Gamma model of spend per order (Fader, Hardie & Lee 2005): order values Gamma(p, nu) around each customer''s mean, nu ~ Gamma(q, gamma) across customers, with the log-likelihood, customers, iterations and whether the fit converged. Its text form round-trips exactly.';

CREATE TYPE segment.paretonbd_model;

CREATE FUNCTION segment.paretonbd_model_in(cstring) RETURNS segment.paretonbd_model
    AS 'MODULE_PATHNAME', 'paretonbd_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_model_in(cstring) IS
    'Input function of segment.paretonbd_model; checks every field.';

CREATE FUNCTION segment.paretonbd_model_out(segment.paretonbd_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'paretonbd_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_model_out(segment.paretonbd_model) IS
    'Output function of segment.paretonbd_model: "r=..;alpha=..;s=..;beta=..;log_likelihood=..;customers=..;iterations=..;converged=..", floats exact.';

CREATE TYPE segment.paretonbd_model (
    INPUT = segment.paretonbd_model_in,
    OUTPUT = segment.paretonbd_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE segment.paretonbd_model IS
    'A fitted Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchase rates Gamma(r, alpha) and death rates Gamma(s, beta) per time unit, with the log-likelihood, customers, iterations and whether the fit converged. Its text form round-trips exactly.';

-- The fitting aggregates -------------------------------------------------------

CREATE TYPE segment.btyd_state;

CREATE FUNCTION segment.btyd_state_in(cstring) RETURNS segment.btyd_state
    AS 'MODULE_PATHNAME', 'btyd_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.btyd_state_in(cstring) IS
    'Input function of segment.btyd_state; checks every point.';

CREATE FUNCTION segment.btyd_state_out(segment.btyd_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'btyd_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.btyd_state_out(segment.btyd_state) IS
    'Output function of segment.btyd_state: "kind=summary;points=x,t_x,T,weight|..." or "kind=spend;points=x,mean_value,0,weight|...".';

CREATE TYPE segment.btyd_state (
    INPUT = segment.btyd_state_in,
    OUTPUT = segment.btyd_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE segment.btyd_state IS
    'Partial state of segment.bgnbd_fit, segment.paretonbd_fit and segment.gammagamma_fit: the customer summaries seen, equal ones merged with a weight. Has a text form so partial aggregates can move between parallel workers and Citus nodes.';

CREATE FUNCTION segment.bgnbd_fit_transfn(segment.btyd_state, float8, float8, float8) RETURNS segment.btyd_state
    AS 'MODULE_PATHNAME', 'bgnbd_fit_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_fit_transfn(segment.btyd_state, float8, float8, float8) IS
    'Transition function of segment.bgnbd_fit: checks and keeps one customer''s (x, t_x, T).';

CREATE FUNCTION segment.paretonbd_fit_transfn(segment.btyd_state, float8, float8, float8) RETURNS segment.btyd_state
    AS 'MODULE_PATHNAME', 'paretonbd_fit_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_fit_transfn(segment.btyd_state, float8, float8, float8) IS
    'Transition function of segment.paretonbd_fit: checks and keeps one customer''s (x, t_x, T).';

CREATE FUNCTION segment.gammagamma_fit_transfn(segment.btyd_state, float8, float8) RETURNS segment.btyd_state
    AS 'MODULE_PATHNAME', 'gammagamma_fit_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_fit_transfn(segment.btyd_state, float8, float8) IS
    'Transition function of segment.gammagamma_fit: checks and keeps one repeat buyer''s (x, mean value).';

CREATE FUNCTION segment.btyd_state_combine(segment.btyd_state, segment.btyd_state) RETURNS segment.btyd_state
    AS 'MODULE_PATHNAME', 'btyd_state_combine'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.btyd_state_combine(segment.btyd_state, segment.btyd_state) IS
    'Combine function of segment.bgnbd_fit, segment.paretonbd_fit and segment.gammagamma_fit: the points of both, equal ones merged.';

CREATE FUNCTION segment.bgnbd_fit_final(segment.btyd_state) RETURNS segment.bgnbd_model
    AS 'MODULE_PATHNAME', 'bgnbd_fit_final'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_fit_final(segment.btyd_state) IS
    'Final function of segment.bgnbd_fit: the maximum-likelihood fit (BFGS on the parameters'' logarithms, analytic gradient, the best of three starts).';

CREATE FUNCTION segment.paretonbd_fit_final(segment.btyd_state) RETURNS segment.paretonbd_model
    AS 'MODULE_PATHNAME', 'paretonbd_fit_final'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_fit_final(segment.btyd_state) IS
    'Final function of segment.paretonbd_fit: the maximum-likelihood fit (BFGS on the parameters'' logarithms, analytic gradient with the death integral by Gauss-Legendre quadrature, the best of three starts).';

CREATE FUNCTION segment.gammagamma_fit_final(segment.btyd_state) RETURNS segment.gammagamma_model
    AS 'MODULE_PATHNAME', 'gammagamma_fit_final'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_fit_final(segment.btyd_state) IS
    'Final function of segment.gammagamma_fit: the maximum-likelihood fit (BFGS on the parameters'' logarithms, analytic gradient, the best of three starts).';

CREATE AGGREGATE segment.bgnbd_fit(x float8, t_x float8, "T" float8) (
    SFUNC = segment.bgnbd_fit_transfn,
    STYPE = segment.btyd_state,
    COMBINEFUNC = segment.btyd_state_combine,
    FINALFUNC = segment.bgnbd_fit_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.bgnbd_fit(float8, float8, float8) IS
    'Fits the BG/NBD model to customers'' summaries: x repeat purchases (purchases after the first, a whole number), t_x the time of the last since the first, T the time from the first to the end of the observation (0 <= t_x <= T, t_x = 0 when x = 0), in one time unit. Rows with a NULL are left out. NULL when no customer made a repeat purchase. The same rows give the same model whatever the plan.';

CREATE AGGREGATE segment.paretonbd_fit(x float8, t_x float8, "T" float8) (
    SFUNC = segment.paretonbd_fit_transfn,
    STYPE = segment.btyd_state,
    COMBINEFUNC = segment.btyd_state_combine,
    FINALFUNC = segment.paretonbd_fit_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.paretonbd_fit(float8, float8, float8) IS
    'Fits the Pareto/NBD model to customers'' summaries (x, t_x, T) as segment.bgnbd_fit does; NULL when no customer made a repeat purchase.';

CREATE AGGREGATE segment.gammagamma_fit(x float8, mean_value float8) (
    SFUNC = segment.gammagamma_fit_transfn,
    STYPE = segment.btyd_state,
    COMBINEFUNC = segment.btyd_state_combine,
    FINALFUNC = segment.gammagamma_fit_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE segment.gammagamma_fit(float8, float8) IS
    'Fits the Gamma-Gamma model of spend per order to the repeat buyers: x repeat purchases and mean_value the mean value of those repeat purchases (positive; the first purchase left out). Rows with x = 0 or a NULL are left out; NULL without a repeat buyer.';

-- Reading a model ---------------------------------------------------------------

CREATE FUNCTION segment.bgnbd_info(model segment.bgnbd_model, OUT r float8, OUT alpha float8, OUT a float8,
                                   OUT b float8, OUT log_likelihood float8, OUT customers int8,
                                   OUT iterations int4, OUT converged bool)
    AS 'MODULE_PATHNAME', 'bgnbd_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_info(segment.bgnbd_model) IS
    'The parameters of a BG/NBD model (r, alpha: the purchase rates'' Gamma shape and scale, per time unit; a, b: the drop-out probability''s Beta), its log-likelihood, customers, BFGS iterations and whether it converged.';

CREATE FUNCTION segment.gammagamma_info(model segment.gammagamma_model, OUT p float8, OUT q float8,
                                        OUT gamma float8, OUT log_likelihood float8, OUT customers int8,
                                        OUT iterations int4, OUT converged bool)
    AS 'MODULE_PATHNAME', 'gammagamma_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_info(segment.gammagamma_model) IS
    'The parameters of a Gamma-Gamma model (p: the order values'' shape; q, gamma: the Gamma of their rate across customers), its log-likelihood, repeat buyers, BFGS iterations and whether it converged.';

-- Scores ---------------------------------------------------------------------------

CREATE FUNCTION segment.bgnbd_p_alive(model segment.bgnbd_model, x float8, t_x float8, "T" float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bgnbd_p_alive_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_p_alive(segment.bgnbd_model, float8, float8, float8) IS
    'The probability that a customer with summary (x, t_x, T) is still active (has not dropped out) at T under the BG/NBD model; 1 without repeat purchases.';

CREATE FUNCTION segment.bgnbd_expected_orders(model segment.bgnbd_model, t float8, x float8, t_x float8, "T" float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'bgnbd_expected_orders_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_expected_orders(segment.bgnbd_model, float8, float8, float8, float8) IS
    'The expected purchases of a customer with summary (x, t_x, T) in the next t time units under the BG/NBD model (Fader, Hardie & Lee 2005, eq. 10).';

CREATE FUNCTION segment.gammagamma_expected_value(model segment.gammagamma_model, x float8, mean_value float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'gammagamma_expected_value_sql'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_expected_value(segment.gammagamma_model, float8, float8) IS
    'The expected value of a future order of a customer with x repeat purchases of mean value mean_value under the Gamma-Gamma model: p (gamma + x mean_value) / (p x + q - 1). With x = 0 (mean_value ignored) the population''s mean p gamma / (q - 1), NULL when q <= 1; NULL for a NULL x, model, or mean_value with x > 0.';

CREATE FUNCTION segment.bgnbd_log_likelihood(model segment.bgnbd_model, x float8, t_x float8, "T" float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bgnbd_log_likelihood_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_log_likelihood(segment.bgnbd_model, float8, float8, float8) IS
    'The log-likelihood of one customer''s summary (x, t_x, T) under a BG/NBD model; summed over customers, how well a model fits data (for example a holdout period it was not fitted on).';

CREATE FUNCTION segment.gammagamma_log_likelihood(model segment.gammagamma_model, x float8, mean_value float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'gammagamma_log_likelihood_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_log_likelihood(segment.gammagamma_model, float8, float8) IS
    'The log-likelihood of one repeat buyer''s (x >= 1, mean repeat value) under a Gamma-Gamma model.';

CREATE FUNCTION segment.bgnbd_purchase_probability(model segment.bgnbd_model, t float8, x float8, t_x float8,
                                                   "T" float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bgnbd_purchase_probability_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_purchase_probability(segment.bgnbd_model, float8, float8, float8, float8) IS
    'The probability that a customer with summary (x, t_x, T) buys at least once in the next t time units under the BG/NBD model: P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x)). One minus it is the churn risk of the segmentations.';

CREATE FUNCTION segment.bgnbd_next_order_in(model segment.bgnbd_model, x float8, t_x float8, "T" float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'bgnbd_next_order_in_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_next_order_in(segment.bgnbd_model, float8, float8, float8) IS
    'The time after T by which a customer with summary (x, t_x, T) more likely than not has bought again under the BG/NBD model: P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x)) = 1/2. NULL when P(alive) <= 1/2 (more likely gone than not).';

CREATE FUNCTION segment.predicted_clv(bgnbd segment.bgnbd_model, gammagamma segment.gammagamma_model, x float8,
                                      t_x float8, "T" float8, mean_value float8, horizon float8, period float8,
                                      discount_rate float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'predicted_clv_sql'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.predicted_clv(segment.bgnbd_model, segment.gammagamma_model, float8, float8, float8, float8, float8, float8, float8) IS
    'The predicted value of a customer over the next horizon: for each period (the last cut at the horizon) the BG/NBD purchases expected in it times the Gamma-Gamma expected order value, discounted by (1 + discount_rate)^k for the k-th period. Times in the models'' unit; mean_value is ignored when x = 0. NULL for a NULL argument (but mean_value with x = 0).';

CREATE FUNCTION segment.paretonbd_info(model segment.paretonbd_model, OUT r float8, OUT alpha float8, OUT s float8,
                                       OUT beta float8, OUT log_likelihood float8, OUT customers int8,
                                       OUT iterations int4, OUT converged bool)
    AS 'MODULE_PATHNAME', 'paretonbd_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_info(segment.paretonbd_model) IS
    'The parameters of a Pareto/NBD model (r, alpha: the purchase rates'' Gamma; s, beta: the death rates'' Gamma, per time unit), its log-likelihood, customers, BFGS iterations and whether it converged.';

CREATE FUNCTION segment.paretonbd_p_alive(model segment.paretonbd_model, x float8, t_x float8, "T" float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'paretonbd_p_alive_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_p_alive(segment.paretonbd_model, float8, float8, float8) IS
    'The probability that a customer with summary (x, t_x, T) is still alive at T under the Pareto/NBD model.';

CREATE FUNCTION segment.paretonbd_expected_orders(model segment.paretonbd_model, t float8, x float8, t_x float8,
                                                  "T" float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'paretonbd_expected_orders_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_expected_orders(segment.paretonbd_model, float8, float8, float8, float8) IS
    'The expected purchases of a customer with summary (x, t_x, T) in the next t time units under the Pareto/NBD model.';

CREATE FUNCTION segment.paretonbd_log_likelihood(model segment.paretonbd_model, x float8, t_x float8, "T" float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'paretonbd_log_likelihood_sql'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_log_likelihood(segment.paretonbd_model, float8, float8, float8) IS
    'The log-likelihood of one customer''s summary (x, t_x, T) under a Pareto/NBD model.';
