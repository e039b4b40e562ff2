-- Every listed bad input gets its own error (SQLSTATE shown) and changes nothing.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE scored (x float8, s int4);
CREATE TABLE input (x float8);
INSERT INTO input VALUES (1), (2), (3);

-- bins NULL or outside 2..100
SELECT segment.quantile_score(x, NULL) OVER () FROM input;
SELECT segment.quantile_score(x, 1) OVER () FROM input;
SELECT segment.quantile_score(x, 101) OVER () FROM input;
SELECT segment.quantile_edges(x, NULL) FROM input;
SELECT segment.quantile_edges(x, 0) FROM input;
SELECT segment.quantile_edges(x, 101) FROM input;
-- bins may not change within a group
SELECT segment.quantile_edges(x, 2 + x::int) FROM input;

-- NaN and infinities, in the window function, the aggregate and score()
INSERT INTO scored SELECT x, segment.quantile_score(x, 5) OVER () FROM (VALUES (1::float8), ('NaN')) AS t(x);
INSERT INTO scored SELECT x, segment.quantile_score(x, 5) OVER () FROM (VALUES (1::float8), ('Infinity')) AS t(x);
SELECT segment.quantile_edges(x, 5) FROM (VALUES (1::float8), ('-Infinity')) AS t(x);
SELECT segment.score('NaN', '{1,2}');
-- nothing was written by the failed statements
SELECT count(*) AS rows_written FROM scored;

-- edges that are unsorted, hold NULL, are multidimensional, empty, NaN or too many
SELECT segment.score(1, '{3,2,1}');
SELECT segment.score(1, '{1,NULL,3}');
SELECT segment.score(1, '{{1,2},{3,4}}');
SELECT segment.score(1, '{}');
SELECT segment.score(1, '{1,NaN}');
SELECT segment.score(1, '{-Infinity,1}');
SELECT segment.score(1, array_fill(1::float8, ARRAY[100]));
-- equal edges are fine (heavy ties make them)
SELECT segment.score(1, '{1,1,2}') AS equal_edges_ok;

-- scores outside 1..5 in rfm_segment
SELECT segment.rfm_segment(0, 3, 3);
SELECT segment.rfm_segment(3, 6, 3);
SELECT segment.rfm_segment(3, 3, -1);

-- corrupted text forms of the state type
SELECT 'garbage'::segment.quantile_state;
SELECT ''::segment.quantile_state;
SELECT '1;1;5'::segment.quantile_state;
SELECT '101;1;5'::segment.quantile_state;
SELECT '5;-1;'::segment.quantile_state;
SELECT '5;x;1'::segment.quantile_state;
SELECT '5;3;1*2'::segment.quantile_state;
SELECT '5;2;2,1'::segment.quantile_state;
SELECT '5;2;1,1'::segment.quantile_state;
SELECT '5;1;NaN'::segment.quantile_state;
SELECT '5;1;inf'::segment.quantile_state;
SELECT '5;1;1e999'::segment.quantile_state;
SELECT '5;1;1*0'::segment.quantile_state;
SELECT '5;2;1*-2'::segment.quantile_state;
SELECT '5;2;1,'::segment.quantile_state;
SELECT '5;1;1 '::segment.quantile_state;
SELECT '5;2;1;2'::segment.quantile_state;
SELECT '5;9223372036854775807;1*9223372036854775807,2*1'::segment.quantile_state;

-- the support functions refuse to run outside an aggregate
SELECT segment.quantile_edges_transfn(NULL, 1, 5);
SELECT segment.quantile_edges_combine('5;1;1', '5;1;2');
-- combining states with different bins
CREATE AGGREGATE merge_states(segment.quantile_state) (
    SFUNC = segment.quantile_edges_combine, STYPE = segment.quantile_state,
    FINALFUNC = segment.quantile_edges_final);
SELECT merge_states(s::segment.quantile_state) FROM (VALUES ('5;1;1'), ('4;1;2')) AS t(s);

-- generate_demo_data arguments
SELECT segment.generate_demo_data('demo_err', customers => 0);
SELECT segment.generate_demo_data('demo_err', mean_orders => 0.5);
SELECT segment.generate_demo_data('demo_err', years => 0);
SELECT segment.generate_demo_data('demo_err', touches_per_order => -1);
SELECT segment.generate_demo_data('demo_err', seed => NULL);
SELECT count(*) AS demo_err_schemas FROM pg_namespace WHERE nspname = 'demo_err';

-- the SQLSTATE of each kind of bad input, in one table
CREATE FUNCTION sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
SELECT stmt, sqlstate_of(stmt) AS sqlstate FROM (VALUES
    ('SELECT segment.quantile_score(x, NULL) OVER () FROM input'),
    ('SELECT segment.quantile_score(x, 1) OVER () FROM input'),
    ('SELECT segment.quantile_edges(x, 2 + x::int) FROM input'),
    ('SELECT segment.quantile_score(''NaN''::float8, 5) OVER ()'),
    ('SELECT segment.score(1, ''{3,2,1}'')'),
    ('SELECT segment.rfm_segment(0, 3, 3)'),
    ('SELECT ''5;2;2,1''::segment.quantile_state'),
    ('SELECT segment.quantile_edges_transfn(NULL, 1, 5)'),
    ('SELECT segment.generate_demo_data(''demo_err'', customers => 0)'),
    ('SELECT segment.generate_demo_data(''demo_err'', seed => NULL)')) AS t(stmt);
DROP FUNCTION sqlstate_of(text);

-- the "segment." settings prefix is reserved by the preloaded library
SET segment.no_such_setting = 1;

DROP TABLE scored, input;
DROP AGGREGATE merge_states(segment.quantile_state);
