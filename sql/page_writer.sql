-- The refresh writes its new tables page by page, past shared buffers: the
-- pages must be what heap_insert would have made (amcheck finds nothing
-- wrong, the index holds every row), and a row too large for a page without
-- TOAST switches the writer to ordinary inserts for the rest.
\set VERBOSITY terse
SET timezone = 'UTC';
CREATE EXTENSION amcheck;

CREATE SCHEMA pw;
-- rows in the TOAST tables of a table or of its partitions
CREATE FUNCTION toast_rows(t regclass) RETURNS int8 LANGUAGE plpgsql AS $$
DECLARE
    toast regclass;
    n int8 := 0;
    part_rows int8;
BEGIN
    FOR toast IN SELECT c.reltoastrelid::regclass FROM pg_class AS c
                 WHERE (c.oid = t OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = t))
                   AND c.reltoastrelid <> 0 LOOP
        EXECUTE format('SELECT count(*) FROM %s', toast) INTO part_rows;
        n := n + part_rows;
    END LOOP;
    RETURN n;
END $$;
CREATE TABLE pw.orders AS
SELECT 'customer-' || (g % 3000) AS customer,
       timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour' AS ordered_at,
       (g % 97 - 10)::numeric AS amount
FROM generate_series(1, 20000) AS g;
-- two customers whose 2,498-character keys do not compress (short enough
-- for a btree entry): the orders keep them out of line, in their TOAST
-- table; the segment rows must hold the keys themselves, and rows that long
-- switch the writer to ordinary inserts
INSERT INTO pw.orders
SELECT (SELECT string_agg(md5(i::text || k), '') FROM generate_series(1, 78) AS i) || '-' || k, '2025-06-01', 10 * k
FROM generate_series(1, 2) AS k;
SELECT toast_rows('pw.orders') > 0 AS keys_out_of_line;
SELECT segment.create_segmentation('pw', 'pw.orders', 'customer', 'ordered_at', 'amount',
    as_of => '2026-01-01', clusters => 3) AS customers;
-- five months later: most customers move, so the history log has pages too
UPDATE segment.segmentations SET as_of = '2026-06-01' WHERE name = 'pw';
SELECT segment.refresh('pw') AS customers;
SELECT count(*) > 3000 AS changes_logged FROM pw_segments_history;

-- every partition written: heap pages without fault, index entries for every row
CREATE FUNCTION check_tables(target regclass) RETURNS TABLE (kind text, pages int8, heap_problems int8, index_ok bool)
LANGUAGE plpgsql AS $$
DECLARE
    part regclass;
    idx regclass;
BEGIN
    FOR part, kind IN
        SELECT i.inhrelid::regclass, CASE WHEN p.relname LIKE '%history%' THEN 'history' ELSE 'segments' END
        FROM pg_inherits AS i JOIN pg_class AS p ON p.oid = i.inhparent
        WHERE i.inhparent IN (target, (SELECT history_table FROM segment.segmentations WHERE target_table = target))
    LOOP
        pages := pg_relation_size(part) / current_setting('block_size')::int;
        SELECT count(*) INTO heap_problems FROM verify_heapam(part);
        index_ok := true;
        FOR idx IN SELECT indexrelid FROM pg_index WHERE indrelid = part LOOP
            PERFORM bt_index_check(idx, true);
        END LOOP;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT kind, pages > 1 AS several_pages, heap_problems, index_ok FROM check_tables('pw_segments') ORDER BY kind;

-- the rows: every customer once, the long keys intact, and equal to the SQL path's
SELECT count(*) AS rows, count(DISTINCT customer) AS customers,
       count(*) FILTER (WHERE length(customer) = 2498) AS long_keys,
       toast_rows('pw_segments') > 0 AS segment_rows_toasted
FROM pw_segments;
CREATE TEMP TABLE direct AS SELECT * FROM pw_segments;
ALTER TABLE direct DROP COLUMN refreshed_at;
SET segment.fast_scan = off;
SELECT segment.refresh('pw') AS customers;
RESET segment.fast_scan;
CREATE TEMP TABLE via_sql AS SELECT * FROM pw_segments;
ALTER TABLE via_sql DROP COLUMN refreshed_at;
SELECT (SELECT count(*) FROM (TABLE direct EXCEPT ALL TABLE via_sql) AS d)
     + (SELECT count(*) FROM (TABLE via_sql EXCEPT ALL TABLE direct) AS d) AS differing_rows;
-- index scans find each row the sequential scan does
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS found_by_index FROM pw_segments AS s
WHERE s.customer IN (SELECT customer FROM direct);
RESET enable_seqscan;
RESET enable_bitmapscan;

-- a refresh rolled back to a savepoint leaves the table as it was, intact
BEGIN;
SAVEPOINT s;
SELECT segment.refresh('pw') AS customers;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*) AS rows_after_rollback FROM pw_segments;
SELECT kind, heap_problems, index_ok FROM check_tables('pw_segments') ORDER BY kind;

SELECT segment.drop_segmentation('pw');
DROP FUNCTION check_tables(regclass), toast_rows(regclass);
DROP TABLE direct, via_sql;
DROP SCHEMA pw CASCADE;
DROP EXTENSION amcheck;
