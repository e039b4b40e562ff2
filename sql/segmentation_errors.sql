-- Every bad input to the segmentation functions gets its own error and
-- changes nothing: no catalog row, no table, the old segment table intact.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

CREATE TABLE orders (customer_id int8, ordered_at timestamptz, amount numeric, note text, day date, price float8);
INSERT INTO orders VALUES (1, '2025-12-01', 10, 'x', '2025-12-01', 10), (2, '2025-12-02', 20, 'y', '2025-12-02', 20);
CREATE TABLE users_table (id int);   -- a user's own table that must never be overwritten
INSERT INTO users_table VALUES (42);

-- unknown relation or column, wrong column types
SELECT segment.create_segmentation('s', 'no_such_table', 'customer_id', 'ordered_at', 'amount');
SELECT segment.create_segmentation('s', 'orders', 'no_such_column', 'ordered_at', 'amount');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'note', 'amount');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'note');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', order_id_column => 'nope');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', carts => 'orders', cart_time_column => 'note');
-- parameters out of range
SELECT segment.create_segmentation('', 'orders', 'customer_id', 'ordered_at', 'amount');
SELECT segment.create_segmentation(repeat('n', 49), 'orders', 'customer_id', 'ordered_at', 'amount');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', bins => 1);
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', clusters => -1);
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', vip_share => 1);
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', lapse_after => '0');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', lookback => '-1 day');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', history_refreshes => 1);
SELECT segment.create_segmentation('s', 'orders', NULL, 'ordered_at', 'amount');
-- a target that exists and is not ours is never overwritten
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', target_table => 'users_table');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount', target_table => 'a.b.c');
SELECT * FROM users_table;
SELECT count(*) AS segmentations, to_regclass('public.s_segments') AS target FROM segment.segmentations;

-- NaN or infinite amounts: the error names the customer
INSERT INTO orders VALUES (3, '2025-12-03', 'NaN', 'z', '2025-12-03', 'Infinity');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'day', 'price');
DELETE FROM orders WHERE customer_id = 3;
SELECT count(*) AS segmentations, to_regclass('public.s_segments') AS target FROM segment.segmentations;

-- a good one (date time column, float amounts), then names that exist or do not
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'day', 'price', clusters => 0, as_of => '2026-01-01');
SELECT segment.create_segmentation('s', 'orders', 'customer_id', 'ordered_at', 'amount');
SELECT segment.refresh('nope');
SELECT segment.drop_segmentation('nope');
CREATE TABLE before AS SELECT * FROM s_segments;

-- a failed refresh keeps the old table: NaN arrives, a column is renamed,
-- the source is dropped
INSERT INTO orders VALUES (3, '2025-12-03', 1, 'z', '2025-12-03', 'NaN');
SELECT segment.refresh('s');
DELETE FROM orders WHERE customer_id = 3;
ALTER TABLE orders RENAME COLUMN price TO unit_price;
SELECT segment.refresh('s');
ALTER TABLE orders RENAME COLUMN unit_price TO price;
-- cut short by statement_timeout (as a cancel is) while it reads the orders
-- (through a view that takes 2 s): logged as failed, old table kept
CREATE VIEW slow_orders AS SELECT o.* FROM orders AS o, (SELECT pg_sleep(2)) AS slow;
UPDATE segment.segmentations SET orders = 'slow_orders' WHERE name = 's';
SET statement_timeout = '200ms';
SELECT segment.refresh('s');
RESET statement_timeout;
UPDATE segment.segmentations SET orders = 'orders' WHERE name = 's';
DROP VIEW slow_orders;
ALTER TABLE orders RENAME TO orders_renamed;   -- a renamed source is still the same relation
SELECT segment.refresh('s') AS still_refreshes;
CREATE TABLE orders_copy AS SELECT * FROM orders_renamed;
DROP TABLE orders_renamed;
SELECT segment.refresh('s');
SELECT count(*) AS unchanged_rows FROM (SELECT customer_id, recency_days, frequency, monetary FROM s_segments
    EXCEPT SELECT customer_id, recency_days, frequency, monetary FROM before) AS d;
SELECT count(*) AS rows FROM s_segments;
-- the failed refreshes are in the run log, with their errors
SELECT status, error_message FROM segment.job_runs ORDER BY run_id;

-- privileges: no SELECT on the orders; someone else's segmentation
CREATE ROLE seg_stranger NOLOGIN;
GRANT CREATE ON SCHEMA public TO seg_stranger;
SET ROLE seg_stranger;
SELECT segment.create_segmentation('t', 'orders_copy', 'customer_id', 'day', 'price');
SELECT segment.refresh('s');
SELECT segment.drop_segmentation('s');
SELECT count(*) AS visible FROM segment.segmentations;
DELETE FROM segment.segmentations;   -- nobody deletes from the shared catalog directly
RESET ROLE;
SELECT count(*) AS still_there FROM segment.segmentations;

-- a refresh by a superuser runs with the owner's privileges: an owner who
-- points their segmentation at a table they cannot read gets nothing from it
CREATE TABLE secret_orders AS SELECT * FROM orders_copy;
GRANT SELECT ON orders_copy TO seg_stranger;
SET ROLE seg_stranger;
SELECT segment.create_segmentation('theirs', 'orders_copy', 'customer_id', 'day', 'price', clusters => 0,
    target_table => 'theirs_segments') AS customers;
-- every row written is checked: no pointing a segmentation at a table its owner cannot read
UPDATE segment.segmentations SET orders = 'secret_orders' WHERE name = 'theirs';
-- the tables a segmentation made are fixed: no pointing it at someone else's
UPDATE segment.segmentations SET target_table = 'users_table' WHERE name = 'theirs';
BEGIN;
LOCK TABLE segment.runs IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE segment.segmentations IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
-- nor at one it could read once: the refresh checks again, as the owner
RESET ROLE;
GRANT SELECT ON secret_orders TO seg_stranger;
SET ROLE seg_stranger;
UPDATE segment.segmentations SET orders = 'secret_orders' WHERE name = 'theirs';
RESET ROLE;
REVOKE SELECT ON secret_orders FROM seg_stranger;
SELECT segment.refresh('theirs');
SELECT status, error_message FROM segment.job_runs WHERE segmentation = 'theirs' ORDER BY run_id;
-- the views are security barriers: a leaky function sees only the caller's rows
CREATE FUNCTION leak(text) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS
    $$ BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$;
SET ROLE seg_stranger;
SELECT count(*) FROM segment.job_runs WHERE leak(segmentation);
SELECT count(*) FROM segment.segment_summary WHERE leak(segmentation);
RESET ROLE;
DROP FUNCTION leak(text);
SET ROLE seg_stranger;
SELECT segment.drop_segmentation('theirs');
RESET ROLE;

-- the C scan leaves tables with row-level security or inheritance children to the SQL path
CREATE TABLE parent_orders (LIKE orders_copy);
CREATE TABLE child_orders () INHERITS (parent_orders);
INSERT INTO child_orders SELECT * FROM orders_copy;
SELECT segment.create_segmentation('inherited', 'parent_orders', 'customer_id', 'day', 'price', clusters => 0) AS customers;
ALTER TABLE orders_copy ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_one ON orders_copy USING (customer_id = 1);
SET ROLE seg_stranger;   -- sees one customer's orders only
SELECT segment.create_segmentation('filtered', 'orders_copy', 'customer_id', 'day', 'price', clusters => 0) AS customers;
SELECT segmentation, scan_method, rows FROM segment.job_runs WHERE segmentation = 'filtered';
SELECT segment.drop_segmentation('filtered');
RESET ROLE;
SELECT segmentation, scan_method, rows FROM segment.job_runs WHERE segmentation = 'inherited';
SELECT segment.drop_segmentation('inherited');
DROP TABLE child_orders, parent_orders, secret_orders;
DROP POLICY only_one ON orders_copy;
REVOKE SELECT ON orders_copy FROM seg_stranger;

-- the SQLSTATE of each kind of bad input
CREATE FUNCTION sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
SELECT stmt, sqlstate_of(stmt) AS sqlstate FROM (VALUES
    ('SELECT segment.create_segmentation(''x'', ''orders_copy'', ''nope'', ''day'', ''price'')'),
    ('SELECT segment.create_segmentation(''x'', ''orders_copy'', ''customer_id'', ''note'', ''price'')'),
    ('SELECT segment.create_segmentation(''x'', ''orders_copy'', ''customer_id'', ''day'', ''price'', bins => 0)'),
    ('SELECT segment.create_segmentation(''s'', ''orders_copy'', ''customer_id'', ''day'', ''price'')'),
    ('SELECT segment.create_segmentation(''x'', ''orders_copy'', ''customer_id'', ''day'', ''price'', target_table => ''users_table'')'),
    ('SELECT segment.refresh(''nope'')'),
    ('SELECT segment.refresh(''s'')')) AS t(stmt);
DROP FUNCTION sqlstate_of(text);

SELECT segment.drop_segmentation('s');
DROP TABLE users_table, before, orders_copy;
REVOKE CREATE ON SCHEMA public FROM seg_stranger;
DROP ROLE seg_stranger;
