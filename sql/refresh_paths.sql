-- The refresh's C scan (fast path) against its SQL path, and both against
-- the README's building-blocks RFM query: every row, every column.
\set VERBOSITY terse
SET timezone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR

SELECT relation, rows FROM segment.generate_demo_data('paths', customers => 20000, seed => 7);
-- a few rows the scan must skip, ignore or sum exactly
INSERT INTO paths.orders VALUES
    (-1, NULL, '2025-06-01', 10), (-2, 5, NULL, 10), (-3, 5, '2027-01-01', 1000), (-7, NULL, '2027-01-01', 1),
    (-4, 5, '2025-06-01', 0.01), (-5, 5, '2025-06-01', 123456789.99), (-6, 6, '2025-06-01', NULL);

-- the three ways to compute one segment table
CREATE FUNCTION refresh_both(name text) RETURNS TABLE (method text, customers int8)
LANGUAGE plpgsql AS $$
DECLARE
    target regclass;
BEGIN
    PERFORM segment.refresh(name);
    SELECT target_table INTO target FROM segment.segmentations AS s WHERE s.name = refresh_both.name;
    EXECUTE format('CREATE TEMP TABLE fast_result AS SELECT * FROM %s', target);
    ALTER TABLE fast_result DROP COLUMN refreshed_at;
    PERFORM set_config('segment.fast_scan', 'off', true);
    PERFORM segment.refresh(name);
    PERFORM set_config('segment.fast_scan', 'on', true);
    EXECUTE format('CREATE TEMP TABLE sql_result AS SELECT * FROM %s', target);
    ALTER TABLE sql_result DROP COLUMN refreshed_at;
    RETURN QUERY SELECT r.scan_method, r.rows FROM segment.job_runs AS r
                 WHERE r.segmentation = name ORDER BY r.run_id DESC LIMIT 2;
END $$;

-- demo orders, order ids counted distinctly, carts and touchpoints, k-means
SELECT segment.create_segmentation('paths', 'paths.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', as_of => '2026-01-01', lookback => '2 years',
    touchpoints => 'paths.touchpoints', touch_time_column => 'touched_at',
    carts => 'paths.carts', cart_time_column => 'added_at') AS customers;
SELECT * FROM refresh_both('paths');
SELECT (SELECT count(*) FROM (TABLE fast_result EXCEPT TABLE sql_result) AS d)
     + (SELECT count(*) FROM (TABLE sql_result EXCEPT TABLE fast_result) AS d) AS differing_rows,
       (SELECT count(*) FROM fast_result) AS rows;
SELECT monetary FROM fast_result WHERE customer_id = 5;
SELECT orders_scanned, rows_skipped FROM segment.job_runs WHERE segmentation = 'paths' ORDER BY run_id DESC LIMIT 2;
DROP TABLE fast_result, sql_result;

-- the README query's scores and segments (all history, rows counted, no order id)
SELECT segment.create_segmentation('readme', 'paths.orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-01-01 00:00:00+00') AS customers;
\set as_of '2026-01-01 00:00:00+00'
CREATE TEMP TABLE readme AS
WITH facts AS (
    SELECT customer_id,
           date_part('epoch', :'as_of'::timestamptz - max(ordered_at) FILTER (WHERE amount > 0)) / 86400 AS recency_days,
           count(*) FILTER (WHERE amount > 0) AS frequency,
           sum(amount) AS monetary
    FROM paths.orders
    WHERE ordered_at <= :'as_of' AND customer_id IS NOT NULL
    GROUP BY customer_id
), scored AS (
    SELECT facts.*,
           segment.quantile_score(-recency_days, 5) OVER w AS r_score,
           segment.quantile_score(frequency, 5) OVER w AS f_score,
           segment.quantile_score(monetary, 5) OVER w AS m_score
    FROM facts
    WINDOW w AS ()
)
SELECT scored.*, r_score::text || f_score || m_score AS rfm_code,
       segment.rfm_segment(r_score, f_score, m_score) AS rfm_segment
FROM scored;
SELECT count(*) AS readme_rows,
       count(*) FILTER (WHERE (s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score, s.rfm_code, s.rfm_segment)
                        IS DISTINCT FROM (r.recency_days, r.frequency, r.monetary, r.r_score, r.f_score, r.m_score, r.rfm_code, r.rfm_segment))
           AS differing
FROM readme AS r JOIN public.readme_segments AS s USING (customer_id);
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'readme';

-- values with ties everywhere (5 order days, 4 amounts, 1-3 orders): the
-- edges selected in memory, and sorted on disk when segment.refresh_work_mem
-- holds fewer values (64kB: 8,192 of 20,000), both quantile_score's; the
-- VIPs are everyone at or above the 1,000th largest net revenue
CREATE TABLE paths.orders_ties AS
SELECT c AS customer_id, timestamptz '2025-12-01 00:00:00+00' + (hashint4(c) & 7) % 5 * interval '1 day' AS ordered_at,
       (10 * (1 + (hashint4(c * 3 + o) & 3)))::numeric AS amount
FROM generate_series(1, 20000) AS c, generate_series(1, 1 + (c % 3)) AS o;
SELECT segment.create_segmentation('ties', 'paths.orders_ties', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, vip_share => 0.05, as_of => '2026-01-01 00:00:00+00') AS customers;
CREATE TEMP TABLE ties_reference AS
SELECT customer_id,
       segment.quantile_score(-recency_days, 5) OVER () AS r_score,
       segment.quantile_score(frequency, 5) OVER () AS f_score,
       segment.quantile_score(monetary, 5) OVER () AS m_score,
       monetary >= (SELECT monetary FROM (SELECT sum(amount) AS monetary FROM paths.orders_ties GROUP BY customer_id) AS m
                    ORDER BY monetary DESC OFFSET 999 LIMIT 1) AS vip
FROM (SELECT customer_id, date_part('epoch', :'as_of'::timestamptz - max(ordered_at)) / 86400 AS recency_days,
             count(*) AS frequency, sum(amount) AS monetary
      FROM paths.orders_ties GROUP BY customer_id) AS facts;
CREATE FUNCTION ties_differing() RETURNS int8 LANGUAGE sql AS $$
    SELECT count(*) FROM ties_reference AS r JOIN public.ties_segments AS s USING (customer_id)
    WHERE (r.r_score, r.f_score, r.m_score, r.vip)
          IS DISTINCT FROM (s.r_score, s.f_score, s.m_score, s.lifecycle_segment = 'High-Value VIP')
$$;
SELECT count(*) FILTER (WHERE vip) AS vips, count(DISTINCT (r_score, f_score, m_score)) AS score_triples,
       ties_differing() AS differing
FROM ties_reference;
SET segment.refresh_work_mem = '64kB';
SELECT segment.refresh('ties') AS customers;
RESET segment.refresh_work_mem;
SELECT ties_differing() AS differing_sorted_on_disk;

-- the parallel scan (forced on these small tables, the workers doing all of
-- it) gives the SQL path's table: integer and text customers (keys sent from
-- the workers as bytes)
SET min_parallel_table_scan_size = 0;
SET max_parallel_maintenance_workers = 2;
SET parallel_leader_participation = off;
SET segment.parallel_scan = always;
SELECT segment.create_segmentation('parallel', 'paths.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => '2026-01-01', lookback => '2 years', carts => 'paths.carts', cart_time_column => 'added_at') AS customers;
SELECT * FROM refresh_both('parallel');
SELECT (SELECT count(*) FROM (TABLE fast_result EXCEPT TABLE sql_result) AS d)
     + (SELECT count(*) FROM (TABLE sql_result EXCEPT TABLE fast_result) AS d) AS differing_rows,
       (SELECT count(*) FROM fast_result) AS rows;
SELECT scan_workers > 0 AS helped, orders_scanned, rows_skipped FROM segment.job_runs
WHERE segmentation = 'parallel' ORDER BY run_id DESC LIMIT 2;
DROP TABLE fast_result, sql_result;
CREATE TABLE paths.orders_text AS
SELECT 'C-' || customer_id AS customer, ordered_at, amount::numeric AS amount FROM paths.orders;
ANALYZE paths.orders_text;
SELECT segment.create_segmentation('parallel_text', 'paths.orders_text', 'customer', 'ordered_at', 'amount',
    clusters => 3, as_of => '2026-01-01') AS customers;
SELECT * FROM refresh_both('parallel_text');
SELECT (SELECT count(*) FROM (TABLE fast_result EXCEPT TABLE sql_result) AS d)
     + (SELECT count(*) FROM (TABLE sql_result EXCEPT TABLE fast_result) AS d) AS differing_rows,
       (SELECT count(*) FROM fast_result) AS rows;
DROP TABLE fast_result, sql_result;
-- an amount the scan cannot sum exactly, wherever it lies, sends the refresh to SQL
INSERT INTO paths.orders_text VALUES ('C-5', '2025-06-01', 0.000000001);
SELECT segment.refresh('parallel_text') AS customers;
SELECT scan_method, monetary FROM segment.job_runs, parallel_text_segments
WHERE segmentation = 'parallel_text' AND customer = 'C-5' ORDER BY run_id DESC LIMIT 1;
RESET segment.parallel_scan;
-- segment.parallel_scan = auto: the scan shares out only when the workers'
-- tables are much smaller than the rows they read.  Statistics of 2 orders
-- per customer: the scan runs alone (merging each worker's table of nearly
-- every customer would cost more than it saves)
ALTER TABLE paths.orders ALTER COLUMN customer_id SET (n_distinct = -0.5);
ANALYZE paths.orders;
SELECT segment.refresh('parallel') AS customers;
SELECT scan_method, scan_workers FROM segment.job_runs WHERE segmentation = 'parallel' ORDER BY run_id DESC LIMIT 1;
-- statistics that promise 1,000 customers (96 orders each), but the last
-- refresh counted 19,503: alone too (ANALYZE's sample undercounts skewed
-- customers; the last count is a floor)
ALTER TABLE paths.orders ALTER COLUMN customer_id SET (n_distinct = 1000);
ANALYZE paths.orders;
SELECT segment.refresh('parallel') AS customers;
SELECT scan_method, scan_workers FROM segment.job_runs WHERE segmentation = 'parallel' ORDER BY run_id DESC LIMIT 1;
ALTER TABLE paths.orders ALTER COLUMN customer_id SET (n_distinct = -0.5);
ANALYZE paths.orders;
-- 20 orders each for 2,000 customers: statistics and last count agree, and
-- auto shares the scan out as far as the cores allow (the cores less two,
-- which test/t/008_refresh_operations.pl checks); always takes the workers
-- whatever the cores, off none
CREATE TABLE paths.orders_many AS
SELECT c AS customer_id, timestamptz '2025-01-01 00:00:00+00' + o * interval '1 day' AS ordered_at, 10::numeric AS amount
FROM generate_series(1, 2000) AS c, generate_series(1, 20) AS o;
ANALYZE paths.orders_many;
SELECT segment.create_segmentation('many', 'paths.orders_many', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-01-01') AS customers;
SET segment.parallel_scan = always;
SELECT segment.refresh('many') AS customers;
SET segment.parallel_scan = off;
SELECT segment.refresh('many') AS customers;
RESET segment.parallel_scan;
SELECT scan_method, scan_workers FROM segment.job_runs WHERE segmentation = 'many' ORDER BY run_id DESC LIMIT 2;
SET segment.parallel_scan = sometimes;
RESET min_parallel_table_scan_size;
RESET max_parallel_maintenance_workers;
RESET parallel_leader_participation;

-- a view takes the SQL path and gives the same table
CREATE VIEW paths.orders_view AS SELECT * FROM paths.orders;
SELECT segment.create_segmentation('viewed', 'paths.orders_view', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-01-01 00:00:00+00') AS customers;
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'viewed';
SELECT count(*) AS differing_rows FROM (
    (SELECT customer_id, recency_days, frequency, monetary, rfm_code, rfm_segment, lifecycle_segment FROM public.viewed_segments
     EXCEPT SELECT customer_id, recency_days, frequency, monetary, rfm_code, rfm_segment, lifecycle_segment FROM public.readme_segments)
    UNION ALL
    (SELECT customer_id, recency_days, frequency, monetary, rfm_code, rfm_segment, lifecycle_segment FROM public.readme_segments
     EXCEPT SELECT customer_id, recency_days, frequency, monetary, rfm_code, rfm_segment, lifecycle_segment FROM public.viewed_segments)) AS d;

-- past segment.scan_memory the C scan spills to partition files, with the same result
SET segment.scan_memory = '1MB';
SELECT segment.refresh('readme') AS customers;
RESET segment.scan_memory;
SELECT scan_method FROM segment.job_runs WHERE segmentation = 'readme' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS differing_rows FROM (
    SELECT customer_id, recency_days, frequency, monetary, rfm_code FROM public.readme_segments
    EXCEPT SELECT customer_id, recency_days, frequency, monetary, rfm_code FROM readme) AS d;

-- the real Online Retail invoices: dates, integer invoice numbers, amounts rounded to cents
-- (the CSV's float artefacts have more than 8 decimals, which the SQL path handles)
\set csv :abs_srcdir '/test/data/online_retail_invoices.csv'
CREATE TABLE retail (invoice_no text, invoice_date date, customer_id int4, total_price numeric);
COPY retail FROM :'csv' WITH (FORMAT csv, HEADER);
CREATE TABLE retail_int AS
SELECT substring(invoice_no FROM '[0-9]+')::int8 AS invoice, invoice_date, customer_id, round(total_price, 2) AS total_price
FROM retail;
SELECT segment.create_segmentation('retail', 'retail_int', 'customer_id', 'invoice_date', 'total_price',
    order_id_column => 'invoice', as_of => '2011-12-10') AS customers;
SELECT * FROM refresh_both('retail');
SELECT (SELECT count(*) FROM (TABLE fast_result EXCEPT TABLE sql_result) AS d)
     + (SELECT count(*) FROM (TABLE sql_result EXCEPT TABLE fast_result) AS d) AS differing_rows;
SELECT rfm_segment, count(*) FROM fast_result GROUP BY 1 ORDER BY 2 DESC, 1;

SELECT segment.drop_segmentation(name) FROM segment.segmentations ORDER BY name;
DROP TABLE fast_result, sql_result, readme, retail, retail_int;
DROP FUNCTION refresh_both(text);
DROP SCHEMA paths CASCADE;
