-- Inputs found by test/fuzz/fuzz.py that crashed the server, hung it or
-- gave an internal error (XX000), and neighbours of them: each now gets
-- NULL or its own error, with the SQLSTATE echoed after it.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- kmeans over rows whose features are all NULL: no state, NULL (was a crash)
SELECT segment.kmeans(x, 2) IS NULL AS no_model FROM (SELECT NULL::float8[] AS x FROM generate_series(1, 5)) AS t;
SELECT segment.kmeans(x, 1) IS NULL AS no_model FROM (SELECT NULL::float8[] AS x FROM generate_series(1, 5)) AS t;
SELECT segment.kmeans(x, 2, 7::int8) IS NULL AS no_model FROM (SELECT NULL::float8[] AS x FROM generate_series(1, 5)) AS t;
SELECT segment.kmeans(x, 2, 7::int8, 3) IS NULL AS no_model FROM (SELECT NULL::float8[] AS x FROM generate_series(1, 5)) AS t;
SELECT segment.kmeans(x, 2, '{"n_init": 2}'::jsonb) IS NULL AS no_model FROM (SELECT NULL::float8[] AS x FROM generate_series(1, 5)) AS t;
-- NULL rows first, then real ones: the model of the real ones
SELECT (segment.kmeans_info(segment.kmeans(x, 2))).points
FROM (VALUES (NULL::float8[]), (NULL), ('{1}'), ('{2}'), ('{9}')) AS t(x);
-- and per group, with a group of only NULL features
SELECT g, segment.kmeans(x, 1) IS NULL AS no_model
FROM (VALUES (1, NULL::float8[]), (2, '{1}'), (2, '{3}')) AS t(g, x) GROUP BY g ORDER BY g;
-- the k of a row without features is still checked
SELECT segment.kmeans(NULL::float8[], 0);
\echo :LAST_ERROR_SQLSTATE

-- kmeans_step with NULL model or NULL features
CREATE TABLE fz_model AS SELECT segment.kmeans(ARRAY[x], 2) AS m FROM generate_series(1, 6) AS x;
SELECT segment.kmeans_step(NULL::segment.kmeans_model, ARRAY[x]) FROM generate_series(1, 3) AS x;
\echo :LAST_ERROR_SQLSTATE
SELECT (segment.kmeans_info(segment.kmeans_step(m, NULL))).points FROM fz_model, generate_series(1, 3);
SELECT segment.kmeans_step(m, x) IS NULL AS no_model FROM fz_model, (SELECT NULL::float8[] AS x WHERE false) AS t;

-- kmeans_report with NULL arguments (a NULL query was a crash)
SELECT * FROM segment.kmeans_report(NULL, 2, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment.kmeans_report('SELECT ARRAY[1]::float8[]'::text, NULL::int4, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment.kmeans_report('SELECT ARRAY[1]::float8[]', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment.kmeans_report('SELECT ARRAY[1]::float8[]', 1, 1, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT k, points FROM segment.kmeans_report('SELECT ARRAY[x]::float8[] FROM generate_series(1, 4) AS x', 1, 2, NULL);
-- the relation form: a NULL, 0 or dropped relation (was a syntax error in generated SQL)
CREATE TABLE fz_feats AS SELECT ARRAY[x]::float8[] AS f FROM generate_series(1, 6) AS x;
SELECT k, points FROM segment.kmeans_report('fz_feats'::regclass, 'f', 2, 2);
SELECT * FROM segment.kmeans_report(NULL::regclass, 'f', 2, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment.kmeans_report(0::regclass, 'f', 2, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM segment.kmeans_report(4000000000::oid::regclass, 'f', 2, 3);
\echo :LAST_ERROR_SQLSTATE

-- features too large for float8: an error, not a model of NaNs that does not read back
SELECT segment.kmeans(ARRAY[x * 1e307], 2) FROM generate_series(-10, 10) AS x;
\echo :LAST_ERROR_SQLSTATE
SELECT segment.kmeans(ARRAY[x * 1e200], 2, '{"standardize": false}'::jsonb) FROM generate_series(-10, 10) AS x;
\echo :LAST_ERROR_SQLSTATE
SELECT segment.kmeans_step('k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=0;scale=1e-300;clusters=1:2:0', ARRAY[1e300]);
\echo :LAST_ERROR_SQLSTATE
-- kmeans_align on centroids whose distances overflow (was an uninterruptible loop)
SELECT segment.kmeans_align(
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=true;mean=1e308;scale=1e-300;clusters=1:1:1e308|2:1:-1e308',
    'k=2;dims=1;points=2;inertia=0;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=true;mean=-1e308;scale=1;clusters=1:1:1e308|2:1:-1e308');
\echo :LAST_ERROR_SQLSTATE

-- markov: a model typed in whose channels loop without end (was XX000)
SELECT * FROM segment.markov_removal_effects('channels=a|b;paths=1;conversions=0;counts=1,0,0,0,0,1,0,0,1,0,0,0');
\echo :LAST_ERROR_SQLSTATE
-- a model of no channel, and one with a channel nobody leaves
SELECT * FROM segment.markov_removal_effects('channels=;paths=0;conversions=0;counts=0,0');
SELECT * FROM segment.markov_removal_effects('channels=a;paths=1;conversions=0;counts=1,0,0,0,0,0');
-- markov_fit over partial states that are all empty (parallel plan): NULL (was a crash)
CREATE TABLE fz_paths (p text[], c bool);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT segment.markov_fit(p, c) IS NULL AS no_model FROM fz_paths;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT segment.markov_fit(p, c) IS NULL AS no_model FROM fz_paths;
-- too many channels
SELECT segment.markov_fit((SELECT array_agg('c' || i) FROM generate_series(1, 1001) AS i), true);
\echo :LAST_ERROR_SQLSTATE

-- malformed text of every type of the extension
SELECT ''::segment.kmeans_model;
\echo :LAST_ERROR_SQLSTATE
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=0;clusters=1:2:0'::segment.kmeans_model;
\echo :LAST_ERROR_SQLSTATE
SELECT 'k=1;dims=1;points=2;inertia=NaN;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0'::segment.kmeans_model;
\echo :LAST_ERROR_SQLSTATE
SELECT 'k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=3;points=1|2'::segment.kmeans_state;
\echo :LAST_ERROR_SQLSTATE
SELECT 'k=1001;dims=1'::segment.kmeans_state;
\echo :LAST_ERROR_SQLSTATE
SELECT 'rows=1;inertia=0;counts=1;sums=0;model=x'::segment.kmeans_step_state;
\echo :LAST_ERROR_SQLSTATE
SELECT 'rows=;inertia=0'::segment.kmeans_step_state;
\echo :LAST_ERROR_SQLSTATE
SELECT '5;2;1,1'::segment.quantile_state;
\echo :LAST_ERROR_SQLSTATE
SELECT '1;1;1'::segment.quantile_state;
\echo :LAST_ERROR_SQLSTATE
SELECT '5;1;1,'::segment.quantile_state;
\echo :LAST_ERROR_SQLSTATE
SELECT 'channels=a|a;paths=0;conversions=0;counts=0,0,0,0,0,0,0,0,0,0,0,0'::segment.markov_model;
\echo :LAST_ERROR_SQLSTATE
SELECT 'channels=a;paths=0;conversions=0;counts=0,0,0,0,0,-1'::segment.markov_model;
\echo :LAST_ERROR_SQLSTATE
SELECT 'channels=a;paths=0;conversions=0;counts=0,0'::segment.markov_model;
\echo :LAST_ERROR_SQLSTATE

-- boundaries of bins, edges and scores
SELECT segment.quantile_edges(x, NULL) FROM generate_series(1, 3) AS x;
\echo :LAST_ERROR_SQLSTATE
SELECT segment.quantile_edges(x, 101) FROM generate_series(1, 3) AS x;
\echo :LAST_ERROR_SQLSTATE
SELECT segment.quantile_edges(NULL::float8, 5) IS NULL AS no_edges FROM generate_series(1, 3);
SELECT segment.quantile_edges(x, 100) IS NOT NULL AS has_edges FROM generate_series(1, 3) AS x;
SELECT segment.score(1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.score('NaN', '{1}');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.score(1, '{1,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.quantile_score(x, 1) OVER () FROM generate_series(1, 2) AS x;
\echo :LAST_ERROR_SQLSTATE
SELECT segment.rfm_segment(0, 5, 5);
\echo :LAST_ERROR_SQLSTATE

-- attribution credits and schedules
SELECT segment.touch_credits('linear', ARRAY[NULL::timestamptz], now());
\echo :LAST_ERROR_SQLSTATE
SELECT segment.touch_credits('nope', '{}', now());
\echo :LAST_ERROR_SQLSTATE
SELECT segment.touch_credits('linear', '{}', now());
SELECT segment.next_run(NULL) IS NULL AS never;
SELECT segment.next_run('@daily', '2024-01-01 00:00:00+00', 'Mars/Olympus');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.next_run('*/0 * * * *', '2024-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.next_run('0 0 30 2 *', '2024-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
-- interval schedules that overflow int64 (were a wrapped-around time)
SELECT segment.next_run('178000000 years', '2024-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.next_run('1 day', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.next_run('1000 years', '294000-01-01 00:00:00+00');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.next_run('@daily', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT segment.next_run('1 day', '2024-01-01 00:00:00+00');
-- an empty schema name: a clear error, not a syntax error from generated SQL
SELECT segment.generate_demo_data(''::name, 101);
-- the relation form of kmeans_report with an empty or unknown column name
-- (it built a query with a zero-length identifier: a syntax error)
CREATE TABLE fuzz_features (f float8[]);
SELECT * FROM segment.kmeans_report('fuzz_features'::regclass, ''::name);
SELECT * FROM segment.kmeans_report('fuzz_features'::regclass, 'nope');
SELECT count(*) FROM segment.kmeans_report('fuzz_features'::regclass, 'f');
DROP TABLE fuzz_features;
