-- Security: each attack of the 0.1.0 audit (issue 12), tried the way an
-- ordinary role with a schema of its own would.  sec_alice and sec_bob are
-- plain LOGIN roles; sec_carol is a member of sec_alice.
\set VERBOSITY terse
CREATE ROLE sec_alice LOGIN;
CREATE ROLE sec_bob LOGIN;
CREATE ROLE sec_carol LOGIN IN ROLE sec_alice;
CREATE SCHEMA sec_alice AUTHORIZATION sec_alice;
CREATE SCHEMA sec_bob AUTHORIZATION sec_bob;
GRANT USAGE ON SCHEMA sec_alice, sec_bob TO PUBLIC;    -- table privileges decide

SET ROLE sec_bob;
CREATE TABLE sec_bob.secret7 (customer_id int8, ordered_at timestamptz, amount numeric);
INSERT INTO sec_bob.secret7 VALUES (7, '2026-01-01', 777), (8, '2026-01-02', 888);
SELECT segment.create_segmentation('bobseg', 'sec_bob.secret7', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-02-01', target_table => 'sec_bob.bob_segments') AS customers;
RESET ROLE;

SET ROLE sec_alice;
CREATE TABLE sec_alice.orders (customer_id int8, ordered_at timestamptz, amount numeric);
INSERT INTO sec_alice.orders
SELECT c, '2026-01-01'::timestamptz + (c || ' hours')::interval, 10 * c FROM generate_series(1, 20) AS c;
-- what the owner's code managed to do while a refresh ran it
CREATE TABLE sec_alice.log (attempt text, outcome text);
-- 1. escalation: owner's code in a view undoes the role switch of a refresh
CREATE FUNCTION sec_alice.evil() RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM set_config('role', 'none', true);
        INSERT INTO sec_alice.log VALUES ('reset role', 'now ' || current_user);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('reset role', SQLERRM);
    END;
    BEGIN
        PERFORM set_config('session_authorization', session_user, true);
        INSERT INTO sec_alice.log VALUES ('session authorization', 'now ' || current_user);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('session authorization', SQLERRM);
    END;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE sec_alice SUPERUSER';
    END IF;
    -- 4. a temporary table shadowing the catalog, for code that runs later
    BEGIN
        CREATE TEMP TABLE pg_class (oid oid);
        INSERT INTO sec_alice.log VALUES ('temp table', 'created');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('temp table', SQLERRM);
    END;
    -- 4. deleting another role's segmentation
    BEGIN
        PERFORM segment.drop_segmentation('bobseg');
        INSERT INTO sec_alice.log VALUES ('drop bobseg', 'dropped');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('drop bobseg', SQLERRM);
    END;
    BEGIN
        DELETE FROM segment.segmentations WHERE name = 'bobseg';
        INSERT INTO sec_alice.log VALUES ('delete bobseg', 'deleted');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('delete bobseg', SQLERRM);
    END;
    -- a setting left behind for the caller's session
    PERFORM set_config('work_mem', '64kB', false);
    INSERT INTO sec_alice.log VALUES ('identity', current_user || ' / ' || session_user);
    RETURN true;
END $$;
-- (once per query: an init plan)
CREATE VIEW sec_alice.v AS SELECT * FROM sec_alice.orders WHERE (SELECT sec_alice.evil());
SELECT segment.create_segmentation('aliceseg', 'sec_alice.v', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-02-01', target_table => 'sec_alice.alice_segments') AS customers;
SELECT * FROM sec_alice.log;
TRUNCATE sec_alice.log;
RESET ROLE;

-- a superuser refreshes alice's segmentation: her code runs as her, restricted
SHOW work_mem;
SELECT segment.refresh('aliceseg') AS customers;
SHOW work_mem;
SELECT attempt, outcome FROM sec_alice.log ORDER BY attempt;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_alice';
SELECT name FROM segment.segmentations WHERE name = 'bobseg';
SELECT count(*) AS temp_pg_class FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = 'pg_class' AND n.nspname LIKE 'pg_temp%';
TRUNCATE sec_alice.log;

-- the same for a member of the owner
SET ROLE sec_carol;
SELECT segment.refresh('aliceseg') AS customers;
SELECT attempt, outcome FROM sec_alice.log WHERE attempt = 'identity';
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_alice';

-- 2. internal functions are not callable: outside a refresh they refuse
SET ROLE sec_alice;
SELECT segment._build_segments(s, 'SELECT customer_id, 1::int8, 0::int8, ordered_at, ordered_at, 1::int8, amount FROM sec_bob.secret7',
    NULL, 'sec_alice.orders', 'sec_alice.orders', NULL, now(), now(), 180, NULL, NULL, NULL)
FROM segment.segmentations AS s WHERE name = 'aliceseg';
SELECT segment._attribute_scan('sec_bob.secret7', 'customer_id', 'ordered_at', 'amount', NULL,
    'sec_bob.secret7', 'customer_id', 'ordered_at', 'amount', 'sec_bob.bob_segments', now(), NULL, NULL,
    '30 days', '7 days', 'sec_alice.log');
SELECT * FROM segment._attribution_by_segment('SELECT 1', '1 day');
SELECT segment._new_partition(NULL, NULL, NULL);
SELECT segment._lock_for_swap('{sec_bob.bob_segments}');
SELECT segment._lock_cycle('{sec_bob.bob_segments}');
SELECT segment._progress('bobseg', 'scanning');
SELECT segment._prune_history(s) FROM segment.segmentations AS s WHERE name = 'aliceseg';
SELECT segment._attribute(s, 'sec_alice.orders', now(), now()) FROM segment.segmentations AS s WHERE name = 'aliceseg';
SELECT segment._internal_only('anything');
-- and some are not even executable
SELECT segment._refresh('aliceseg', 1, false, false);
SELECT segment._drop_tables('aliceseg');
SELECT segment._wake_launcher();
RESET ROLE;

-- inside her own refresh, her code runs internal functions only as her:
-- bob's table stays unreadable
TRUNCATE sec_alice.log;
SET ROLE sec_alice;
CREATE OR REPLACE FUNCTION sec_alice.evil() RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM count(*) FROM segment._attribution_by_segment(
            'SELECT ARRAY[''x''], ARRAY[now()], amount, true, ''a'', ''b'', ''c'', true FROM sec_bob.secret7', '1 day');
        INSERT INTO sec_alice.log VALUES ('read bob', 'read');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('read bob', SQLERRM);
    END;
    BEGIN
        PERFORM * FROM segment._attribution_by_segment('SELECT 1', '1 day');
        INSERT INTO sec_alice.log VALUES ('paths of other types', 'read');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('paths of other types', SQLERRM);
    END;
    RETURN true;
END $$;
RESET ROLE;
SELECT segment.refresh('aliceseg') AS customers;
SELECT attempt, outcome FROM sec_alice.log ORDER BY attempt;
SET ROLE sec_alice;

-- from her code inside a refresh: internal functions given relations that
-- do not exist or are not plain tables, open cursors, and a refresh of the
-- same segmentation
CREATE VIEW sec_alice.not_a_table AS SELECT * FROM sec_alice.alice_segments;
CREATE FUNCTION sec_alice.whoami() RETURNS text LANGUAGE sql VOLATILE AS 'SELECT current_user::text';
CREATE OR REPLACE FUNCTION sec_alice.evil() RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
    c refcursor := 'sec_leaked';
BEGIN
    BEGIN
        PERFORM segment._build_segments(s, NULL, NULL, 0::regclass, 0::regclass, NULL, now(), now(), 1, NULL, NULL, NULL)
        FROM segment.segmentations AS s WHERE name = 'aliceseg';
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('partition of OID 0', SQLSTATE || ' ' || SQLERRM);
    END;
    BEGIN
        PERFORM segment._attribute_scan('sec_alice.orders', 'customer_id', 'ordered_at', 'amount', NULL,
            'sec_alice.orders', 'customer_id', 'ordered_at', 'amount', 'sec_alice.not_a_table', now(), NULL, NULL,
            '30 days', '7 days', 'sec_alice.log');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('contents a view', SQLSTATE || ' ' || SQLERRM);
    END;
    BEGIN
        PERFORM segment.refresh('aliceseg');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO sec_alice.log VALUES ('refresh itself', SQLSTATE || ' ' || SQLERRM);
    END;
    IF NOT EXISTS (SELECT 1 FROM pg_cursors WHERE name = 'sec_leaked') THEN
        OPEN c FOR SELECT sec_alice.whoami();
    END IF;
    RETURN true;
END $$;
RESET ROLE;
TRUNCATE sec_alice.log;
BEGIN;
SELECT segment.refresh('aliceseg') AS customers;
-- nothing of her code is left in the caller's session: the cursor would run her function as the superuser
SELECT name FROM pg_cursors;
COMMIT;
SELECT attempt, outcome FROM sec_alice.log ORDER BY attempt;
SET ROLE sec_alice;
CREATE OR REPLACE FUNCTION sec_alice.evil() RETURNS bool LANGUAGE sql AS 'SELECT true';
DROP VIEW sec_alice.not_a_table;

-- her operators first in her search_path: the extension's own code never resolves names there
CREATE FUNCTION sec_alice.oideq(oid, oid) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE sec_alice SUPERUSER';
    END IF;
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR sec_alice.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = sec_alice.oideq);
CREATE FUNCTION sec_alice.texteq(text, text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE sec_alice SUPERUSER';
    END IF;
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR sec_alice.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_alice.texteq);
CREATE TABLE sec_alice.touches (customer_id int8, touched_at timestamptz, channel text);
INSERT INTO sec_alice.touches VALUES (1, '2026-01-01', 'email');
UPDATE segment.segmentations SET touchpoints = 'sec_alice.touches', touch_customer_column = 'customer_id',
    touch_time_column = 'touched_at', touch_channel_column = 'channel' WHERE name = 'aliceseg';
SET search_path = sec_alice, pg_catalog;
SELECT segment.refresh('aliceseg') AS customers;
RESET search_path;
DROP OPERATOR sec_alice.= (oid, oid);
DROP OPERATOR sec_alice.= (text, text);
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_alice';
SET ROLE sec_alice;

-- others' segmentations: neither refreshed, dropped nor changed
SELECT segment.refresh('bobseg');
SELECT segment.drop_segmentation('bobseg');
SELECT segment.refresh('nosuch');
SELECT segment.refresh(NULL);
UPDATE segment.segmentations SET bins = 3 WHERE name = 'bobseg';
SELECT count(*) AS bobs_rows_alice_sees FROM segment.job_runs WHERE segmentation = 'bobseg';

-- 5. forged catalog rows: the catalog checks every row written
INSERT INTO segment.segmentations (name, orders, customer_column, time_column, amount_column, target_table, history_table)
VALUES ('forged', 'sec_alice.orders', 'customer_id', 'ordered_at', 'amount', 'sec_bob.bob_segments', 'sec_bob.bob_segments_history');
INSERT INTO segment.segmentations (name, owner, orders, customer_column, time_column, amount_column, target_table, history_table)
VALUES ('forged', 'sec_bob', 'sec_bob.secret7', 'customer_id', 'ordered_at', 'amount', 'sec_bob.bob_segments', 'sec_bob.bob_segments_history');
INSERT INTO segment.segmentations (name, orders, customer_column, time_column, amount_column, target_table, history_table)
VALUES ('forged', 'sec_bob.secret7', 'customer_id', 'ordered_at', 'amount', 'sec_alice.alice_segments', 'sec_alice.alice_segments_history');
-- her own tables again, under a second name: the tables belong to one segmentation
INSERT INTO segment.segmentations (name, orders, customer_column, time_column, amount_column, target_table, history_table)
VALUES ('forged', 'sec_alice.orders', 'customer_id', 'ordered_at', 'amount', 'sec_alice.alice_segments', 'sec_alice.alice_segments_history');
-- no writes into the run log, no made-up models
INSERT INTO segment.runs (segmentation, started_at, status) VALUES ('aliceseg', now(), 'succeeded');
UPDATE segment.runs SET status = 'succeeded' WHERE segmentation = 'aliceseg';
UPDATE segment.segmentations SET model = NULL WHERE name = 'aliceseg';
UPDATE segment.segmentations SET customer_column = 'amount' WHERE name = 'aliceseg';
RESET ROLE;
SELECT name, owner FROM segment.segmentations ORDER BY name;

-- 6. a refresh that would lose most customers keeps the current table
SET ROLE sec_alice;
DELETE FROM sec_alice.orders WHERE customer_id > 5;
-- (customers only in the touchpoints, prospects, do not make up for it)
INSERT INTO sec_alice.touches SELECT c, '2026-01-01', 'email' FROM generate_series(6, 20) AS c;
SELECT segment.refresh('aliceseg');
SELECT count(*) AS kept FROM sec_alice.alice_segments;
SELECT status, error_message FROM segment.job_runs WHERE segmentation = 'aliceseg' ORDER BY run_id DESC LIMIT 1;
SELECT segment.refresh('aliceseg', force => true) AS customers;
DELETE FROM sec_alice.orders WHERE customer_id > 2;
UPDATE segment.segmentations SET max_customer_loss = 1 WHERE name = 'aliceseg';
SELECT segment.refresh('aliceseg') AS customers;
UPDATE segment.segmentations SET max_customer_loss = 1.5 WHERE name = 'aliceseg';
RESET ROLE;

-- 6. tables whose rows are not in their heap take the SQL path: a Citus
-- table (its catalog simulated here) and a foreign table
SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_partition (logicalrelid regclass);
RESET allow_system_table_mods;
INSERT INTO pg_catalog.pg_dist_partition VALUES ('sec_bob.secret7');
SELECT segment.refresh('bobseg') AS customers;
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'bobseg' ORDER BY run_id DESC LIMIT 1;
DROP TABLE pg_catalog.pg_dist_partition;
SELECT segment.refresh('bobseg') AS customers;
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'bobseg' ORDER BY run_id DESC LIMIT 1;
CREATE EXTENSION file_fdw;
CREATE SERVER sec_files FOREIGN DATA WRAPPER file_fdw;
COPY (SELECT c AS customer_id, '2026-01-01'::timestamptz AS ordered_at, c * 2 AS amount FROM generate_series(1, 30) AS c)
    TO '/tmp/segment_security_orders.csv' (FORMAT csv);
CREATE FOREIGN TABLE sec_bob.foreign_orders (customer_id int8, ordered_at timestamptz, amount numeric)
    SERVER sec_files OPTIONS (filename '/tmp/segment_security_orders.csv', format 'csv');
SELECT segment.create_segmentation('foreignseg', 'sec_bob.foreign_orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-02-01', target_table => 'sec_bob.foreign_segments') AS customers;
SELECT scan_method, rows FROM segment.job_runs WHERE segmentation = 'foreignseg';
SELECT segment.drop_segmentation('foreignseg');
DROP FOREIGN TABLE sec_bob.foreign_orders;
DROP EXTENSION file_fdw CASCADE;

-- 7. the owner alters the segment table: a clear error, and it still refreshes once repaired
SET ROLE sec_alice;
-- a partitioned table attached in place of the contents
SELECT inhrelid::regclass AS contents FROM pg_inherits WHERE inhparent = 'sec_alice.alice_segments'::regclass \gset
ALTER TABLE sec_alice.alice_segments DETACH PARTITION :contents;
CREATE TABLE sec_alice.sub (LIKE sec_alice.alice_segments) PARTITION BY LIST (customer_id);
CREATE TABLE sec_alice.sub_leaf PARTITION OF sec_alice.sub DEFAULT;
ALTER TABLE sec_alice.alice_segments ATTACH PARTITION sec_alice.sub DEFAULT;
SELECT segment.refresh('aliceseg');
ALTER TABLE sec_alice.alice_segments DETACH PARTITION sec_alice.sub;
ALTER TABLE sec_alice.alice_segments ATTACH PARTITION :contents DEFAULT;
DROP TABLE sec_alice.sub;
ALTER TABLE sec_alice.alice_segments ALTER COLUMN cluster TYPE text;
\set VERBOSITY sqlstate
SELECT segment.refresh('aliceseg');    -- datatype_mismatch naming the new partition
\set VERBOSITY terse
ALTER TABLE sec_alice.alice_segments ALTER COLUMN cluster TYPE int4 USING cluster::int4;
SELECT segment.refresh('aliceseg') AS customers;
RESET ROLE;

-- 7. the change log is read as the caller: others see none of it, and the
-- owner's policies or column types never run in another role's query
SET ROLE sec_bob;
SELECT count(*) AS alices_changes_bob_sees FROM segment.membership_changes WHERE segmentation = 'aliceseg';
SELECT count(*) FROM segment.membership_as_of('aliceseg', now());
RESET ROLE;
SET ROLE sec_alice;
CREATE FUNCTION sec_alice.spy() RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sec_alice.log VALUES ('history policy', 'ran as ' || current_user);
    RETURN true;
END $$;
ALTER TABLE sec_alice.alice_segments_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY spy ON sec_alice.alice_segments_history USING (sec_alice.spy());
RESET ROLE;
SET ROLE sec_carol;    -- a member of alice: her table's policies would apply to carol
SELECT count(*) AS alice_changes_left_out FROM segment.membership_changes WHERE segmentation = 'aliceseg';
SELECT count(*) FROM segment.membership_as_of('aliceseg', now());
RESET ROLE;
SET ROLE sec_alice;
DROP POLICY spy ON sec_alice.alice_segments_history;
ALTER TABLE sec_alice.alice_segments_history DISABLE ROW LEVEL SECURITY;
ALTER TABLE sec_alice.alice_segments_history ALTER COLUMN from_segment TYPE varchar;
RESET ROLE;
SELECT count(*) FROM segment.membership_as_of('aliceseg', now());
SET ROLE sec_alice;
ALTER TABLE sec_alice.alice_segments_history ALTER COLUMN from_segment TYPE text;
RESET ROLE;
SELECT count(*) > 0 AS alice_memberships FROM segment.membership_as_of('aliceseg', now());
SELECT count(*) AS policy_runs FROM sec_alice.log WHERE attempt = 'history policy';

-- 7. orders at ±infinity are skipped and counted, on the fast path as on the SQL path (a view)
SET ROLE sec_alice;
INSERT INTO sec_alice.orders VALUES (1, '-infinity', 5), (2, 'infinity', 5);
SELECT segment.refresh('aliceseg') AS customers;
SELECT customer_id, recency_days, frequency, monetary FROM sec_alice.alice_segments WHERE frequency IS NOT NULL ORDER BY 1;
SELECT scan_method, rows_skipped FROM segment.job_runs WHERE segmentation = 'aliceseg' ORDER BY run_id DESC LIMIT 1;
RESET ROLE;
SET ROLE sec_bob;
INSERT INTO sec_bob.secret7 VALUES (7, '-infinity', 5), (9, 'infinity', 5);
SELECT segment.refresh('bobseg') AS customers;
SELECT customer_id, recency_days, frequency, monetary FROM sec_bob.bob_segments ORDER BY 1;
SELECT scan_method, rows_skipped FROM segment.job_runs WHERE segmentation = 'bobseg' ORDER BY run_id DESC LIMIT 1;
-- 7. carts whose customers are of another type than the orders': refused when registered
CREATE TABLE sec_bob.carts (customer_id text, added_at timestamptz);
SELECT segment.create_segmentation('bobcarts', 'sec_bob.secret7', 'customer_id', 'ordered_at', 'amount',
    carts => 'sec_bob.carts', cart_time_column => 'added_at', target_table => 'sec_bob.carts_segments');
RESET ROLE;

-- a function planted on a superuser's search_path is not picked by create_segmentation
-- (public writable, as in databases made before PostgreSQL 15)
GRANT CREATE ON SCHEMA public TO PUBLIC;
SET ROLE sec_bob;
CREATE FUNCTION public.octet_length(name) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE sec_bob SUPERUSER';
    END IF;
    RETURN pg_catalog.octet_length($1::text);
END $$;
RESET ROLE;
SET search_path = "$user", public;
CREATE TABLE public.sec_su_orders (customer_id int8, ordered_at timestamptz, amount numeric);
INSERT INTO public.sec_su_orders VALUES (1, '2026-01-01', 10);
SELECT segment.create_segmentation('suseg', 'public.sec_su_orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-02-01', target_table => 'sec_su_segments') AS customers;
SELECT to_regclass('public.sec_su_segments') IS NOT NULL AS made_in_current_schema;
RESET search_path;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_bob';
SELECT segment.drop_segmentation('suseg');
DROP TABLE public.sec_su_orders;
DROP FUNCTION public.octet_length(name);
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- the owner's code reopens a cursor of the caller's under the same name: closed too
SET ROLE sec_alice;
CREATE OR REPLACE FUNCTION sec_alice.evil() RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
    c refcursor := 'app_cursor';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_cursors WHERE name = 'app_cursor') THEN
        CLOSE c;
        OPEN c FOR SELECT sec_alice.whoami();
    END IF;
    RETURN true;
END $$;
RESET ROLE;
BEGIN;
DECLARE app_cursor CURSOR FOR SELECT 'the application''s own cursor'::text;
SELECT segment.refresh('aliceseg', force => true) AS customers;
SELECT name FROM pg_cursors;
COMMIT;
SET ROLE sec_alice;
CREATE OR REPLACE FUNCTION sec_alice.evil() RETURNS bool LANGUAGE sql AS 'SELECT true';
RESET ROLE;

-- a role whose name needs quoting owns its segmentations
CREATE ROLE "Sec Dan" LOGIN;
CREATE ROLE "sec dan";
GRANT USAGE, CREATE ON SCHEMA sec_bob TO "Sec Dan";
SET ROLE sec_bob;
GRANT SELECT ON sec_bob.secret7 TO "Sec Dan";
RESET ROLE;
SET ROLE "Sec Dan";
SELECT segment.create_segmentation('danseg', 'sec_bob.secret7', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-02-01', target_table => 'sec_bob."Dan''s segments"') AS customers;
SELECT owner FROM segment.segmentations WHERE name = 'danseg';
SELECT segment.drop_segmentation('danseg');
RESET ROLE;
REVOKE ALL ON SCHEMA sec_bob FROM "Sec Dan";
REVOKE SELECT ON sec_bob.secret7 FROM "Sec Dan";
DROP ROLE "Sec Dan";
DROP ROLE "sec dan";

-- a segment table renamed past 52 bytes: a clear error (its partitions' names would be cut)
SET ROLE sec_alice;
ALTER TABLE sec_alice.alice_segments RENAME TO "€€€€€€€€€€€€€€€€€€€€€";
SELECT segment.refresh('aliceseg');
ALTER TABLE sec_alice."€€€€€€€€€€€€€€€€€€€€€" RENAME TO alice_segments;
SELECT segment.refresh('aliceseg') AS customers;
RESET ROLE;

-- refreshes of two owners' segmentations with touchpoints in one transaction (each its own work table)
SET ROLE sec_bob;
CREATE TABLE sec_bob.touches (customer_id int8, touched_at timestamptz, channel text);
INSERT INTO sec_bob.touches VALUES (7, '2025-12-30', 'email');
UPDATE segment.segmentations SET touchpoints = 'sec_bob.touches', touch_customer_column = 'customer_id',
    touch_time_column = 'touched_at', touch_channel_column = 'channel' WHERE name = 'bobseg';
RESET ROLE;
BEGIN;
SELECT segment.refresh('aliceseg') AS alice_customers;
SELECT segment.refresh('bobseg') AS bob_customers;
COMMIT;
SELECT segmentation, model, channel, conversions FROM segment.attribution_by_segment
WHERE segmentation = 'bobseg' AND segment_type = 'lifecycle' AND model = 'last_touch' ORDER BY channel;

-- clean up
SET ROLE sec_alice;
SELECT segment.drop_segmentation('aliceseg');
RESET ROLE;
SELECT segment.drop_segmentation('bobseg');
DROP SCHEMA sec_alice CASCADE;
DROP SCHEMA sec_bob CASCADE;
DROP ROLE sec_carol;
DROP ROLE sec_alice;
DROP ROLE sec_bob;
