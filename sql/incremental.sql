-- Incremental refresh (incremental = 'triggers'): triggers on the orders
-- record whose orders change, and a refresh recomputes only those
-- customers.  Proof: after appends, refunds, updates, deletes, late rows,
-- new customers and customers whose orders all disappear, the incremental
-- table equals, row for row and column for column, the table of a second
-- segmentation of the same orders refreshed in full each time; the change
-- logs agree too.  Whatever incremental cannot prove makes the refresh full,
-- and the run log says why.
\set VERBOSITY terse
SET timezone = 'UTC';
CREATE SCHEMA inc;
-- 20,000 orders in time order, customers interleaved and skewed, with
-- refunds and multi-line orders (order ids shared by two rows)
CREATE TABLE inc.orders (line_id bigserial, order_id int8, customer_id int8, ordered_at timestamptz,
                         amount numeric(12, 2));
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount)
SELECT g / 2, 1 + ((g * 7919) % 2003) * ((g * 104729) % 2003) % 1500,
       timestamptz '2023-01-01 00:00:00+00' + g * interval '50 minutes',
       CASE WHEN g % 17 = 0 THEN -(g % 40) ELSE 5 + (g * 31) % 300 END
FROM generate_series(1, 20000) AS g;
SELECT count(DISTINCT customer_id) AS customers, count(*) FILTER (WHERE amount < 0) AS refunds FROM inc.orders;

SELECT segment.create_segmentation('inc', 'inc.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => '2025-06-01', clusters => 3, target_table => 'inc.inc_segments', incremental => 'triggers') AS customers;
SELECT segment.create_segmentation('ref', 'inc.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => '2025-06-01', clusters => 3, target_table => 'inc.ref_segments') AS customers;
-- the same with order ids: frequency counts distinct ids, so the customers
-- written are recomputed from their orders instead of added to
SELECT segment.create_segmentation('inc_ids', 'inc.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', as_of => '2025-06-01', clusters => 3, target_table => 'inc.inc_ids',
    incremental => 'triggers') AS customers;
SELECT segment.create_segmentation('ref_ids', 'inc.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', as_of => '2025-06-01', clusters => 3, target_table => 'inc.ref_ids') AS customers;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'inc.orders'::regclass ORDER BY 1;

-- rows of two segment tables that differ (refreshed_at aside)
CREATE FUNCTION inc.differing(a regclass, b regclass) RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE
    cols text := 'customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_code, rfm_segment,
                  lifecycle_segment, cluster, first_order_at, last_order_at';
    n int8;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT %1$s FROM %2$s EXCEPT ALL SELECT %1$s FROM %3$s)
                    UNION ALL (SELECT %1$s FROM %3$s EXCEPT ALL SELECT %1$s FROM %2$s)) AS d', cols, a, b) INTO n;
    RETURN n;
END $$;
-- the change logs of the last refresh of two segmentations that differ
CREATE FUNCTION inc.differing_changes(a regclass, b regclass) RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE
    n int8;
BEGIN
    EXECUTE format('WITH x AS (SELECT customer_id, segment_type, from_segment, to_segment FROM %1$s
                               WHERE refreshed_at = (SELECT max(refreshed_at) FROM %1$s)),
                         y AS (SELECT customer_id, segment_type, from_segment, to_segment FROM %2$s
                               WHERE refreshed_at = (SELECT max(refreshed_at) FROM %2$s))
                    SELECT count(*) FROM ((TABLE x EXCEPT ALL TABLE y) UNION ALL (TABLE y EXCEPT ALL TABLE x)) AS d', a, b)
    INTO n;
    RETURN n;
END $$;
-- all four refreshed; each incremental one's table and log against its full twin's
CREATE FUNCTION inc.refresh_both() RETURNS TABLE (kind text, changed int8, full_reason text, differing_rows int8,
                                                  differing_changes int8, captured_left int8, ids_kind text,
                                                  ids_changed int8, ids_differing_rows int8)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM segment.refresh('inc'), segment.refresh('ref'), segment.refresh('inc_ids'), segment.refresh('ref_ids');
    RETURN QUERY
    SELECT r.refresh_kind, r.customers_changed, r.full_reason,
           inc.differing('inc.inc_segments', 'inc.ref_segments'),
           inc.differing_changes('inc.inc_segments_history', 'inc.ref_segments_history')
           + inc.differing_changes('inc.inc_ids_history', 'inc.ref_ids_history'),
           (SELECT count(*) FROM segment.captured_changes WHERE segmentation IN ('inc', 'inc_ids')),
           i.refresh_kind, i.customers_changed, inc.differing('inc.inc_ids', 'inc.ref_ids')
    FROM segment.job_runs AS r, segment.job_runs AS i
    WHERE r.run_id = (SELECT max(run_id) FROM segment.job_runs WHERE segmentation = 'inc')
      AND i.run_id = (SELECT max(run_id) FROM segment.job_runs WHERE segmentation = 'inc_ids');
END $$;

-- the first refresh after creation builds on the creation's table: nothing changed
SELECT * FROM inc.refresh_both();

-- appends: existing customers and new ones (7 customers in all)
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount)
VALUES (50001, 3, '2025-05-20', 80), (50002, 3, '2025-05-21', 20), (50003, 77, '2025-05-30', 999),
       (50004, 5001, '2025-05-31', 15), (50005, 5002, '2025-05-31', 0), (50006, 5003, '2025-05-31', -5),
       (50007, 120, '2025-04-01', 45), (50008, 121, '2025-05-01', NULL);
SELECT recompute, count(*) AS captured FROM segment.captured_changes WHERE segmentation IN ('inc', 'inc_ids')
GROUP BY 1 ORDER BY 1;
SELECT * FROM inc.refresh_both();
SELECT customer_id, frequency, monetary, last_order_at, lifecycle_segment FROM inc.inc_segments
WHERE customer_id IN (5001, 5002, 5003) ORDER BY 1;

-- refunds, a second line of an existing order (frequency counts it once),
-- a late row dated years back
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount)
SELECT NULL, customer_id, '2025-05-25', -amount / 2 FROM inc.orders WHERE customer_id BETWEEN 200 AND 209 AND line_id % 5 = 0;
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount)
SELECT order_id, customer_id, ordered_at, 1 FROM inc.orders WHERE line_id = 1001;
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount) VALUES (60001, 300, '2019-03-01', 500);
SELECT * FROM inc.refresh_both();

-- updates: amounts changed, an order moved to another customer, times changed
UPDATE inc.orders SET amount = amount * 3 WHERE customer_id BETWEEN 400 AND 420;
UPDATE inc.orders SET customer_id = 601 WHERE line_id = (SELECT min(line_id) FROM inc.orders WHERE customer_id = 600);
UPDATE inc.orders SET ordered_at = ordered_at - interval '400 days' WHERE customer_id = 700;
SELECT * FROM inc.refresh_both();

-- deletes: every order of some customers (they leave the table), some of others
DELETE FROM inc.orders WHERE customer_id IN (800, 801, 802);
DELETE FROM inc.orders WHERE customer_id BETWEEN 900 AND 950 AND line_id % 2 = 0;
SELECT * FROM inc.refresh_both();
SELECT count(*) AS gone FROM inc.inc_segments WHERE customer_id IN (800, 801, 802);
SELECT segment_type, count(*) AS left_segment FROM inc.inc_segments_history
WHERE customer_id IN (800, 801, 802) AND to_segment IS NULL
  AND refreshed_at = (SELECT max(refreshed_at) FROM inc.inc_segments) GROUP BY 1 ORDER BY 1;

-- many changes in one statement, and an order after as_of (ignored, as by a full refresh)
UPDATE inc.orders SET amount = amount + 1 WHERE line_id % 3 = 0;
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount) VALUES (70001, 5, '2025-09-01', 100);
SELECT * FROM inc.refresh_both();

-- Full refreshes, each saying why.
-- asked for
SELECT segment.refresh('inc', full => true) > 0 AS refreshed;
SELECT refresh_kind, full_reason FROM segment.job_runs WHERE segmentation = 'inc' ORDER BY run_id DESC LIMIT 1;
-- as_of moves past the order dated after it: that order enters the window
UPDATE segment.segmentations SET as_of = '2025-10-01' WHERE name IN ('inc', 'ref', 'inc_ids', 'ref_ids');
SELECT * FROM inc.refresh_both();
-- with as_of NULL (the time of each refresh), an order dated after one
-- refresh is in the window of a later one: that refresh is full
SELECT segment.create_segmentation('moving', 'inc.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0,
    target_table => 'inc.moving', incremental => 'triggers') > 0 AS created;
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount) VALUES (70002, 6, clock_timestamp() + interval '1 second', 10);
SELECT segment.refresh('moving') > 0 AS refreshed;
SELECT refresh_kind, customers_changed FROM segment.job_runs WHERE segmentation = 'moving' ORDER BY run_id DESC LIMIT 1;
SELECT pg_sleep(1.1);
SELECT segment.refresh('moving') > 0 AS refreshed;
SELECT refresh_kind, full_reason LIKE 'orders dated after the last refresh''s as_of (the first at %) are now in the window'
       AS later_order_now_in
FROM segment.job_runs WHERE segmentation = 'moving' ORDER BY run_id DESC LIMIT 1;
SELECT segment.refresh('moving') > 0 AS refreshed;
SELECT refresh_kind, full_reason FROM segment.job_runs WHERE segmentation = 'moving' ORDER BY run_id DESC LIMIT 1;
SELECT segment.drop_segmentation('moving');
SELECT * FROM inc.refresh_both();
-- a truncate (the orders reloaded)
CREATE TABLE inc.saved AS SELECT * FROM inc.orders;
TRUNCATE inc.orders;
INSERT INTO inc.orders SELECT * FROM inc.saved;
SELECT * FROM inc.refresh_both();
-- a rewritten table
VACUUM FULL inc.orders;
SELECT * FROM inc.refresh_both();
SELECT * FROM inc.refresh_both();
-- a capture trigger dropped by hand: full until the capture is set up again,
-- and the first refresh after that full too (changes before it were missed)
DROP TRIGGER segment_inc_upd ON inc.orders;
UPDATE inc.orders SET amount = amount + 2 WHERE customer_id = 10;
SELECT * FROM inc.refresh_both();
UPDATE segment.segmentations SET incremental = 'triggers' WHERE name = 'inc';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'inc.orders'::regclass AND tgname = ANY (segment._capture_trigger_names('inc'));
SELECT * FROM inc.refresh_both();
SELECT * FROM inc.refresh_both();
-- disabled, then enabled again: the capture changed since the last refresh
ALTER TABLE inc.orders DISABLE TRIGGER segment_inc_ins;
SELECT * FROM inc.refresh_both();
ALTER TABLE inc.orders ENABLE ALWAYS TRIGGER segment_inc_ins;
SELECT * FROM inc.refresh_both();
SELECT * FROM inc.refresh_both();
-- full_refresh_every
UPDATE segment.segmentations SET full_refresh_every = '1 microsecond' WHERE name = 'inc';
SELECT * FROM inc.refresh_both();
UPDATE segment.segmentations SET full_refresh_every = '30 days' WHERE name = 'inc';
SELECT * FROM inc.refresh_both();
-- lookback: orders age out of the window
UPDATE segment.segmentations SET lookback = '2 years' WHERE name IN ('inc', 'ref', 'inc_ids', 'ref_ids');
SELECT * FROM inc.refresh_both();
UPDATE segment.segmentations SET lookback = NULL WHERE name IN ('inc', 'ref', 'inc_ids', 'ref_ids');
SELECT * FROM inc.refresh_both();
-- another amount column
ALTER TABLE inc.orders ADD COLUMN net numeric(12, 2);
UPDATE inc.orders SET net = amount;
UPDATE segment.segmentations SET amount_column = 'net' WHERE name IN ('inc', 'ref', 'inc_ids', 'ref_ids');
SELECT * FROM inc.refresh_both();
SELECT * FROM inc.refresh_both();

-- Bad input: each refused, the catalog row unchanged.
UPDATE segment.segmentations SET incremental = 'sometimes' WHERE name = 'inc';
UPDATE segment.segmentations SET full_refresh_every = '0' WHERE name = 'inc';
SELECT segment.create_segmentation('bad', 'inc.orders', 'customer_id', 'ordered_at', 'amount', incremental => 'yes');
SELECT segment.create_segmentation('bad', 'inc.orders', 'customer_id', 'ordered_at', 'amount', full_refresh_every => '-1 day');
CREATE VIEW inc.orders_view AS SELECT * FROM inc.orders;
SELECT segment.create_segmentation('bad', 'inc.orders_view', 'customer_id', 'ordered_at', 'amount', incremental => 'triggers');
UPDATE segment.segmentations SET orders = 'inc.orders_view' WHERE name = 'inc';
SELECT orders, incremental FROM segment.segmentations WHERE name = 'inc';
-- a role without the TRIGGER privilege on the orders
CREATE ROLE inc_reader;
GRANT USAGE, CREATE ON SCHEMA inc TO inc_reader;
GRANT SELECT ON inc.orders TO inc_reader;
SET ROLE inc_reader;
SELECT segment.create_segmentation('theirs', 'inc.orders', 'customer_id', 'ordered_at', 'amount',
    target_table => 'inc.theirs', incremental => 'triggers');
SELECT segment.create_segmentation('theirs', 'inc.orders', 'customer_id', 'ordered_at', 'amount',
    target_table => 'inc.theirs') AS customers;
UPDATE segment.segmentations SET incremental = 'triggers' WHERE name = 'theirs';
-- what the others' capture holds is not theirs to see, nor to write or delete
SELECT count(*) AS others_changes FROM segment.captured_changes;
INSERT INTO segment.captured_changes (segmentation, customer) VALUES ('inc', '1');
DELETE FROM segment.captured_changes;
-- the triggers' function is no function to call, and records nothing for a table not the segmentation's
SELECT segment._capture_changes();
CREATE TABLE inc.mine (customer_id int8);
CREATE TRIGGER forged AFTER INSERT ON inc.mine REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION segment._capture_changes('inc');
INSERT INTO inc.mine VALUES (1), (2);
RESET ROLE;
SELECT count(*) AS forged_changes FROM segment.captured_changes WHERE segmentation = 'inc';
SELECT incremental FROM segment.segmentations WHERE name = 'theirs';

-- Watermarks (append-only orders): an identity id, and the time of the insert.
CREATE TABLE inc.feed (id int8 GENERATED ALWAYS AS IDENTITY, customer_id int8, ordered_at timestamptz,
                       amount numeric(12, 2), order_no int8, loaded_at timestamptz DEFAULT clock_timestamp());
INSERT INTO inc.feed (customer_id, ordered_at, amount, order_no)
SELECT customer_id, ordered_at, amount, order_id FROM inc.saved ORDER BY line_id;
SELECT segment.create_segmentation('wm_id', 'inc.feed', 'customer_id', 'ordered_at', 'amount', as_of => '2025-06-01',
    clusters => 0, target_table => 'inc.wm_id', incremental => 'watermark', watermark_column => 'id') AS customers;
SELECT segment.create_segmentation('wm_time', 'inc.feed', 'customer_id', 'ordered_at', 'amount', as_of => '2025-06-01',
    clusters => 0, target_table => 'inc.wm_time', incremental => 'watermark', watermark_column => 'loaded_at') AS customers;
SELECT segment.create_segmentation('wm_ids', 'inc.feed', 'customer_id', 'ordered_at', 'amount', as_of => '2025-06-01',
    clusters => 0, target_table => 'inc.wm_ids', incremental => 'watermark', watermark_column => 'id',
    order_id_column => 'order_no') AS customers;
SELECT segment.create_segmentation('wm_ref', 'inc.feed', 'customer_id', 'ordered_at', 'amount', as_of => '2025-06-01',
    clusters => 0, target_table => 'inc.wm_ref') AS customers;
SELECT segment.create_segmentation('wm_ref_ids', 'inc.feed', 'customer_id', 'ordered_at', 'amount', as_of => '2025-06-01',
    clusters => 0, target_table => 'inc.wm_ref_ids', order_id_column => 'order_no') AS customers;
CREATE FUNCTION inc.refresh_watermarks() RETURNS TABLE (segmentation text, kind text, changed int8, full_reason text,
                                                        differing_rows int8)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM segment.refresh(n) FROM unnest('{wm_id,wm_time,wm_ids,wm_ref,wm_ref_ids}'::text[]) AS n;
    RETURN QUERY
    SELECT r.segmentation, r.refresh_kind, r.customers_changed, r.full_reason,
           inc.differing(format('inc.%I', r.segmentation)::regclass,
                         CASE WHEN r.segmentation = 'wm_ids' THEN 'inc.wm_ref_ids' ELSE 'inc.wm_ref' END::regclass)
    FROM segment.job_runs AS r
    WHERE r.run_id IN (SELECT max(run_id) FROM segment.job_runs WHERE job_runs.segmentation IN ('wm_id', 'wm_time', 'wm_ids')
                       GROUP BY job_runs.segmentation)
    ORDER BY 1;
END $$;
SELECT * FROM inc.refresh_watermarks();
-- appends: new customers, existing ones, a refund, a second line of an order, a late row
INSERT INTO inc.feed (customer_id, ordered_at, amount, order_no)
VALUES (3, '2025-05-20', 80, 90001), (3, '2025-05-21', 20, 90002), (6001, '2025-05-31', 15, 90003),
       (77, '2025-05-30', -40, 90004), (78, '2025-05-30', 5, (SELECT max(order_no) FROM inc.feed WHERE customer_id = 78)),
       (300, '2019-03-01', 500, 90005), (6002, '2025-07-01', 10, 90006);
SELECT * FROM inc.refresh_watermarks();
INSERT INTO inc.feed (customer_id, ordered_at, amount, order_no)
SELECT 1 + g % 700, '2025-05-01'::timestamptz + g * interval '1 hour', g % 90 - 5, 95000 + g FROM generate_series(1, 500) AS g;
SELECT * FROM inc.refresh_watermarks();
SELECT * FROM inc.refresh_watermarks();
-- what a watermark must be
SELECT segment.create_segmentation('bad', 'inc.feed', 'customer_id', 'ordered_at', 'amount', incremental => 'watermark');
SELECT segment.create_segmentation('bad', 'inc.feed', 'customer_id', 'ordered_at', 'amount', incremental => 'watermark',
    watermark_column => 'customer_id');
SELECT segment.create_segmentation('bad', 'inc.feed', 'customer_id', 'ordered_at', 'amount', incremental => 'watermark',
    watermark_column => 'nosuch');
ALTER TABLE inc.feed ADD COLUMN note text;
SELECT segment.create_segmentation('bad', 'inc.feed', 'customer_id', 'ordered_at', 'amount', incremental => 'watermark',
    watermark_column => 'note');
ALTER TABLE inc.feed ALTER COLUMN id SET CACHE 20;
SELECT segment.create_segmentation('bad', 'inc.feed', 'customer_id', 'ordered_at', 'amount', incremental => 'watermark',
    watermark_column => 'id');
ALTER TABLE inc.feed ALTER COLUMN id SET CACHE 1;
SELECT segment.drop_segmentation(n) FROM unnest('{wm_id,wm_time,wm_ids,wm_ref,wm_ref_ids}'::text[]) AS n;

-- an orders owner's cast never runs with the triggers' rights: the amount
-- column turned into a type of its own with a cast to numeric that records
-- who runs it; its inserts are captured as customers to recompute
CREATE ROLE inc_owner;
GRANT USAGE, CREATE ON SCHEMA inc TO inc_owner;
SET ROLE inc_owner;
CREATE TABLE inc.own_orders (customer_id int8, ordered_at timestamptz, amount numeric);
INSERT INTO inc.own_orders VALUES (1, '2025-01-01', 10), (2, '2025-02-01', 20);
SELECT segment.create_segmentation('own', 'inc.own_orders', 'customer_id', 'ordered_at', 'amount',
    target_table => 'inc.own_segments', incremental => 'triggers', clusters => 0) AS customers;
CREATE TABLE inc.cast_log (who text);
CREATE TYPE inc.money_t AS (v numeric);
CREATE FUNCTION inc.to_numeric(m inc.money_t) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inc.cast_log VALUES (current_user);
    RETURN m.v;
END $$;
CREATE CAST (inc.money_t AS numeric) WITH FUNCTION inc.to_numeric(inc.money_t);
ALTER TABLE inc.own_orders ALTER COLUMN amount TYPE inc.money_t USING row(amount)::inc.money_t;
INSERT INTO inc.own_orders VALUES (3, '2025-03-01', row(30)::inc.money_t);
SELECT customer, recompute, amount FROM segment.captured_changes WHERE segmentation = 'own';
SELECT count(*) AS casts_run FROM inc.cast_log;
SELECT segment.drop_segmentation('own');
RESET ROLE;

-- off again: the triggers go
UPDATE segment.segmentations SET incremental = 'off' WHERE name = 'inc';
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'inc.orders'::regclass AND tgname = ANY (segment._capture_trigger_names('inc'));
SELECT segment.refresh('inc') > 0 AS refreshed;
SELECT refresh_kind, full_reason FROM segment.job_runs WHERE segmentation = 'inc' ORDER BY run_id DESC LIMIT 1;
-- and drop_segmentation takes them and the captured changes away
UPDATE segment.segmentations SET incremental = 'triggers' WHERE name = 'inc';
INSERT INTO inc.orders (order_id, customer_id, ordered_at, amount, net) VALUES (80001, 1, '2025-05-01', 10, 10);
SELECT segment.drop_segmentation('inc');
SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'inc.orders'::regclass AND tgname = ANY (segment._capture_trigger_names('inc'))) AS triggers,
       (SELECT count(*) FROM segment.captured_changes WHERE segmentation = 'inc') AS captured;

SELECT segment.drop_segmentation('ref');
SELECT segment.drop_segmentation('inc_ids');
SELECT segment.drop_segmentation('ref_ids');
SELECT segment.drop_segmentation('theirs');
DROP SCHEMA inc CASCADE;
DROP ROLE inc_reader;
DROP ROLE inc_owner;
