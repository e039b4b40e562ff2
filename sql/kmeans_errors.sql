-- Every listed bad input to the k-means functions gets its own error
-- (SQLSTATE table at the end) and changes nothing.
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE kp (f float8[]);
INSERT INTO kp VALUES ('{1,1}'), ('{2,2}'), ('{9,9}'), ('{10,10}');
CREATE TABLE assigned (cluster int4);
CREATE TABLE m AS SELECT segment.kmeans(f, 2) AS m FROM kp;

-- k < 1, too large, NULL, or changing between rows
SELECT segment.kmeans(f, 0) FROM kp;
SELECT segment.kmeans(f, 1001) FROM kp;
SELECT segment.kmeans(f, NULL) FROM kp;
SELECT segment.kmeans(f, (f[1] > 5)::int + 1) FROM kp;
-- k greater than the number of distinct points
SELECT segment.kmeans(f, 5) FROM kp;
SELECT segment.kmeans(f, 5) FROM (SELECT f FROM kp UNION ALL SELECT f FROM kp) AS t;
-- features of different lengths, empty, NULL elements, NaN, infinities, two dimensions
SELECT segment.kmeans(f, 2) FROM (SELECT f FROM kp UNION ALL SELECT '{1,2,3}') AS t;
SELECT segment.kmeans(f, 2) FROM (VALUES ('{}'::float8[])) AS t(f);
SELECT segment.kmeans(f, 2) FROM (VALUES ('{1,NULL}'::float8[])) AS t(f);
SELECT segment.kmeans(f, 2) FROM (VALUES ('{1,NaN}'::float8[])) AS t(f);
SELECT segment.kmeans(f, 2) FROM (VALUES ('{Infinity,1}'::float8[])) AS t(f);
SELECT segment.kmeans(f, 2) FROM (VALUES ('{1,-Infinity}'::float8[])) AS t(f);
SELECT segment.kmeans(f, 2) FROM (VALUES ('{{1,2},{3,4}}'::float8[])) AS t(f);
SELECT segment.kmeans(array_fill(1::float8, ARRAY[1001]), 1);

-- options out of range, of the wrong type, unknown, or not an object
SELECT segment.kmeans(f, 2, 0, 0) FROM kp;
SELECT segment.kmeans(f, 2, 0, 101) FROM kp;
SELECT segment.kmeans(f, 2, '{"n_init": 0}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"max_iter": 0}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"max_iter": 10001}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"tol": -1}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"tol": 1}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"n_init": 2.5}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"seed": "7"}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"standardize": "yes"}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '{"n_inits": 3}'::jsonb) FROM kp;
SELECT segment.kmeans(f, 2, '[1, 2]'::jsonb) FROM kp;
-- the options must be cast: an untyped literal matches two overloads
SELECT segment.kmeans(f, 2, '{"seed": 1}') FROM kp;

-- a model with another number of features than the rows
INSERT INTO assigned SELECT segment.kmeans_assign(m, '{1,2,3}') FROM m;
INSERT INTO assigned SELECT segment.kmeans_assign(m, '{}') FROM m;
INSERT INTO assigned SELECT segment.kmeans_assign(m, '{1,NULL}') FROM m;
SELECT segment.kmeans_step(m, '{1}') FROM m;
SELECT segment.kmeans_step(NULL::segment.kmeans_model, f) FROM kp;
SELECT segment.kmeans_align(m, (SELECT segment.kmeans(ARRAY[f[1]], 2) FROM kp)) FROM m;
-- nothing was written by the failed statements
SELECT count(*) AS rows_written FROM assigned;

-- corrupted text forms of the model
SELECT 'garbage'::segment.kmeans_model;
SELECT ''::segment.kmeans_model;
SELECT 'k=0;dims=1'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=2;inertia=-1;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=maybe;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=0;clusters=1:2:0'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:NaN'::segment.kmeans_model;
SELECT 'k=1;dims=2;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3,4;scale=1,1;clusters=1:2:0'::segment.kmeans_model;
SELECT 'k=2;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=true;mean=3;scale=1;clusters=1:1:0|1:1:2'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=3;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0;extra=1'::segment.kmeans_model;
SELECT 'k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;seed=0;shift=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0'::segment.kmeans_model;
-- corrupted states
SELECT 'k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=3;points=1|2'::segment.kmeans_state;
SELECT 'k=2;dims=2;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=1;points=1'::segment.kmeans_state;
SELECT 'k=2;dims=1;seed=0;n_init=0;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=1;points=1'::segment.kmeans_state;
SELECT 'k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=100000000;points=1'::segment.kmeans_state;
SELECT 'rows=3;inertia=0;counts=1,1;sums=0|0;model=k=2;dims=1;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:0:0|2:0:5'::segment.kmeans_step_state;
SELECT 'rows=1;inertia=0;counts=1;sums=0;model=k=2;dims=1;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:0:0|2:0:5'::segment.kmeans_step_state;
SELECT 'rows=2;inertia=0;counts=1,1;sums=0,1|0;model=k=2;dims=1;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=2;standardized=false;mean=0;scale=1;clusters=1:0:0|2:0:5'::segment.kmeans_step_state;

-- the support functions refuse to run outside an aggregate
SELECT segment.kmeans_transfn(NULL, '{1}', 2);
SELECT segment.kmeans_step_transfn(NULL, m, '{1,1}') FROM m;
-- combining partial states of different settings or models
CREATE AGGREGATE merge_kmeans(segment.kmeans_state) (
    SFUNC = segment.kmeans_combine, STYPE = segment.kmeans_state, FINALFUNC = segment.kmeans_final);
SELECT merge_kmeans(s::segment.kmeans_state) FROM (VALUES
    ('k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=2;points=1|2'),
    ('k=3;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=2;points=5|6')) AS t(s);
CREATE AGGREGATE merge_steps(segment.kmeans_step_state) (
    SFUNC = segment.kmeans_step_combine, STYPE = segment.kmeans_step_state, FINALFUNC = segment.kmeans_step_final);
SELECT merge_steps(s::segment.kmeans_step_state) FROM (VALUES
    ('rows=1;inertia=0;counts=1;sums=0;model=k=1;dims=1;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=false;mean=0;scale=1;clusters=1:0:0'),
    ('rows=1;inertia=0;counts=1;sums=0;model=k=1;dims=1;points=0;inertia=0;iterations=0;converged=false;shift=0;seed=0;n_init=1;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=false;mean=0;scale=1;clusters=1:0:1')) AS t(s);

-- kmeans_report arguments and queries
SELECT * FROM segment.kmeans_report('SELECT f FROM kp', 3, 2);
SELECT * FROM segment.kmeans_report('SELECT f FROM kp', 0, 2);
SELECT * FROM segment.kmeans_report('SELECT f FROM kp', 2, 5);
SELECT * FROM segment.kmeans_report('SELECT f FROM kp', 2, 2, sample_size => 1);
SELECT * FROM segment.kmeans_report('SELECT f, f FROM kp');
SELECT * FROM segment.kmeans_report('SELECT 1 FROM kp');
SELECT * FROM segment.kmeans_report('DELETE FROM kp');
SELECT * FROM segment.kmeans_report('SELECT f FROM no_such_table');
SELECT * FROM segment.kmeans_report('kp'::regclass, 'no_such_column');
SELECT * FROM segment.kmeans_report('SELECT f FROM kp', 2, 2, '{"bogus": 1}');
-- the failed DELETE left the table alone
SELECT count(*) AS kp_rows FROM kp;

-- the SQLSTATE of each kind of bad input, in one table
CREATE FUNCTION sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
SELECT stmt, sqlstate_of(stmt) AS sqlstate FROM (VALUES
    ('SELECT segment.kmeans(f, 0) FROM kp'),
    ('SELECT segment.kmeans(f, NULL) FROM kp'),
    ('SELECT segment.kmeans(f, 5) FROM kp'),
    ('SELECT segment.kmeans(f, 2) FROM (VALUES (''{1}''::float8[]), (''{1,2}'')) AS t(f)'),
    ('SELECT segment.kmeans(f, 1) FROM (VALUES (''{}''::float8[])) AS t(f)'),
    ('SELECT segment.kmeans(f, 1) FROM (VALUES (''{1,NULL}''::float8[])) AS t(f)'),
    ('SELECT segment.kmeans(f, 1) FROM (VALUES (''{NaN}''::float8[])) AS t(f)'),
    ('SELECT segment.kmeans(f, 2, ''{"tol": -1}''::jsonb) FROM kp'),
    ('SELECT segment.kmeans(f, 2, ''{"n_inits": 3}''::jsonb) FROM kp'),
    ('SELECT segment.kmeans_assign(m, ''{1,2,3}'') FROM m'),
    ('SELECT ''k=0''::segment.kmeans_model'),
    ('SELECT segment.kmeans_transfn(NULL, ''{1}'', 2)'),
    ('SELECT * FROM segment.kmeans_report(''SELECT 1'')')) AS t(stmt);
DROP FUNCTION sqlstate_of(text);

DROP AGGREGATE merge_kmeans(segment.kmeans_state);
DROP AGGREGATE merge_steps(segment.kmeans_step_state);
DROP TABLE kp, assigned, m;
