-- Segmentations: a hand-checked segment table, its refresh, history,
-- metrics and migrations, with identifiers that need quoting.
\set VERBOSITY terse
SET timezone = 'UTC';

CREATE SCHEMA "My Shop";
CREATE TABLE "My Shop"."Orders" ("Customer ID" text, "Ordered At" timestamptz, "Amount $" numeric(10, 2), "Order #" int4);
INSERT INTO "My Shop"."Orders" VALUES
    ('A', '2025-12-31', 60, 1), ('A', '2025-12-31', 40, 1),   -- one order of two lines
    ('A', '2025-12-01', 50, 2), ('A', NULL, 99, 3),           -- a row without time: skipped
    ('B', '2025-06-01', 30, 4),
    ('C', '2025-12-20', 500, 5), ('C', '2025-12-25', -500, 5), -- bought and refunded
    ('D', '2025-11-01', 20, 6), ('D', '2025-11-15', 20, 7), ('D', '2025-12-15', 20, 8),
    ('E', '2025-10-01', -10, 9),                              -- only a refund
    ('F', '2025-12-30', 10, 10), ('F', '2026-02-01', 25, 11), -- the second is after as_of
    ('I', '2025-12-10', 20, 12), ('I', '2025-12-11', 20, 13),
    (NULL, '2025-12-01', 5, 14);                              -- no customer: skipped
CREATE TABLE "My Shop"."Carts" ("Customer ID" text, "Added At" timestamptz);
INSERT INTO "My Shop"."Carts" VALUES
    ('D', '2025-12-20'),          -- after D's last order, more than 24 h before as_of
    ('F', '2025-12-31 12:00'),    -- after F's last order, but within 24 h of as_of
    ('G', '2025-12-01');          -- never ordered: a prospect
CREATE TABLE "My Shop"."Touches" ("Customer ID" text, "Touched At" timestamptz, channel text);
INSERT INTO "My Shop"."Touches" VALUES ('H', '2025-12-01', 'email'), ('A', '2025-12-30', 'email');

SELECT segment.create_segmentation('shop', '"My Shop"."Orders"', 'Customer ID', 'Ordered At', 'Amount $',
    order_id_column => 'Order #', clusters => 2, vip_share => 0.1, as_of => '2026-01-01',
    target_table => '"My Shop"."Customer Segments"',
    touchpoints => '"My Shop"."Touches"', touch_time_column => 'Touched At',
    carts => '"My Shop"."Carts"', cart_time_column => 'Added At') AS customers;

-- By hand (README's rule, bins 5): recency days A 1, F 2, C 12, D 17, I 21,
-- B 214 (E has no purchase); frequency E 0, B/C/F 1, A/I 2, D 3; monetary
-- E -10, C 0, F 10, B 30, I 40, D 60, A 150.  R = 1 + floor(5 L / 6), F and
-- M = 1 + floor(5 L / 7) with L the customers strictly worse.  VIP: the top
-- ceil(0.1 * 7) = 1 by monetary, A.  D left a cart after its last order;
-- F's cart is too recent.  G (cart) and H (touch) never ordered.
SELECT "Customer ID", recency_days, frequency, monetary, r_score, f_score, m_score, rfm_code, rfm_segment,
       lifecycle_segment, cluster IS NOT NULL AS clustered, first_order_at, last_order_at
FROM "My Shop"."Customer Segments" ORDER BY 1;
SELECT count(DISTINCT refreshed_at) AS one_refresh_time FROM "My Shop"."Customer Segments";

-- Clusters are those of a k-means over the same features (ln(1 + x)).
SELECT bool_and(s.cluster = segment.kmeans_assign(m.model,
           ARRAY[ln(1 + recency_days), ln(1 + frequency::float8), ln(1 + greatest(monetary, 0)::float8)])) AS clusters_match_model,
       max((segment.kmeans_info(m.model)).points) AS clustered_customers
FROM "My Shop"."Customer Segments" AS s, segment.segmentations AS m
WHERE m.name = 'shop' AND s.recency_days IS NOT NULL;

-- The run log: 13 order rows up to as_of, 2 skipped (NULL customer, NULL time).
SELECT segmentation, status, rows, orders_scanned, rows_skipped, error_message, scan_method,
       duration >= '0' AS timed, scan_ms >= 0 AND score_ms >= 0 AND swap_ms >= 0 AS phases
FROM segment.job_runs;

-- Metrics by hand for the lifecycle segments: Lapsed = B (30, 1 order, 214
-- days) and E (-10, 0 orders): revenue 20, aov 20, avg recency 214, avg
-- frequency 0.5, avg monetary 10, clv 10, share 2 / 9.
SELECT segment, customers, round(customer_share::numeric, 4) AS share, orders, revenue, aov,
       avg_recency_days, avg_frequency, avg_monetary, repeat_rate, churn_rate, historical_clv
FROM segment.segment_summary WHERE segmentation = 'shop' AND segment_type = 'lifecycle' ORDER BY segment;
SELECT segment_type, sum(customers) AS customers, round(sum(customer_share)::numeric, 12) AS shares
FROM segment.segment_summary WHERE segmentation = 'shop' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS migrations_after_one_refresh FROM segment.segment_migration;

-- Grants and indexes on the target survive a refresh; the table keeps its OID.
CREATE ROLE shop_analyst NOLOGIN;
GRANT SELECT ON "My Shop"."Customer Segments" TO shop_analyst;
CREATE INDEX segments_by_lifecycle ON "My Shop"."Customer Segments" (lifecycle_segment);
SELECT '"My Shop"."Customer Segments"'::regclass::oid AS oid_before \gset
SELECT segment.refresh('shop') AS customers;
SELECT '"My Shop"."Customer Segments"'::regclass::oid = :oid_before AS same_table,
       has_table_privilege('shop_analyst', '"My Shop"."Customer Segments"', 'SELECT') AS grant_kept,
       (SELECT count(*) FROM pg_indexes WHERE schemaname = 'My Shop' AND tablename LIKE 'Customer Segments%') AS indexes;
SELECT count(*) AS runs, count(*) FILTER (WHERE status = 'succeeded') AS succeeded FROM segment.job_runs;

-- Half a year later: everyone but F (who ordered again in February) has lapsed.
SELECT max(refreshed_at) AS before_half_year FROM "My Shop"."Customer Segments" \gset
CREATE TEMP TABLE lifecycle_before AS
SELECT "Customer ID"::text AS customer, lifecycle_segment FROM "My Shop"."Customer Segments";
UPDATE segment.segmentations SET as_of = '2026-07-01' WHERE name = 'shop';
SELECT segment.refresh('shop') AS customers;
SELECT "Customer ID", frequency, monetary, lifecycle_segment FROM "My Shop"."Customer Segments" ORDER BY 1;
-- churn: the previous refresh's active customers of each segment now Lapsed:
-- Repeat Customer I -> 1; First-Time Buyer C and F -> 1 of 2 (F is a Repeat Customer now)
SELECT segment, customers, churn_rate FROM segment.segment_summary
WHERE segmentation = 'shop' AND segment_type = 'lifecycle' ORDER BY segment;
SELECT from_segment, to_segment, customers FROM segment.segment_migration
WHERE segmentation = 'shop' AND segment_type = 'lifecycle' ORDER BY 1, 2;
-- the history logs, per segment type, the customers whose segment changed:
-- the lifecycle moves above, customer by customer (G and H stay Prospects)
SELECT customer, from_segment, to_segment FROM segment.membership_changes
WHERE segmentation = 'shop' AND segment_type = 'lifecycle' ORDER BY customer;
-- one partition per refresh; the first is the baseline and the second ran on
-- the same data: no changes at either
SELECT (SELECT count(*) FROM pg_inherits WHERE inhparent = '"My Shop"."Customer Segments_history"'::regclass) AS partitions,
       count(*) AS changes, count(DISTINCT refreshed_at) AS refreshes_with_changes,
       count(*) FILTER (WHERE refreshed_at = (SELECT max(refreshed_at) FROM "My Shop"."Customer Segments")) AS at_the_last
FROM "My Shop"."Customer Segments_history";
SELECT max(refreshed_at) AS half_year FROM "My Shop"."Customer Segments" \gset
-- the view and the table agree, the customer as text
SELECT count(*) AS differing FROM (
    SELECT "Customer ID"::text, segment_type, from_segment, to_segment, refreshed_at FROM "My Shop"."Customer Segments_history"
    EXCEPT ALL
    SELECT customer, segment_type, from_segment, to_segment, refreshed_at FROM segment.membership_changes WHERE segmentation = 'shop') AS d;
-- the membership as it was before the half year, rebuilt from the table and the log
SELECT m.customer, m.segment AS rebuilt, b.lifecycle_segment AS was
FROM segment.membership_as_of('shop', :'before_half_year') AS m
FULL JOIN lifecycle_before AS b ON b.customer = m.customer
WHERE m.segment_type = 'lifecycle' OR m.segment_type IS NULL ORDER BY 1;
SELECT count(*) AS memberships_now,
       count(*) FILTER (WHERE segment_type = 'rfm') AS rfm, count(*) FILTER (WHERE segment_type = 'cluster') AS cluster
FROM segment.membership_as_of('shop', now());
SELECT segment.membership_as_of('shop', '2000-01-01');
SELECT segment.membership_as_of('shop', NULL);
SELECT segment.membership_as_of('no such segmentation', now());

-- History is pruned to history_refreshes (2 here); the oldest kept refresh
-- is the earliest the membership can be rebuilt for.
UPDATE segment.segmentations SET history_refreshes = 2 WHERE name = 'shop';
SELECT segment.refresh('shop') AS customers;
SELECT count(DISTINCT refreshed_at) AS times_with_changes,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = '"My Shop"."Customer Segments_history"'::regclass) AS partitions
FROM "My Shop"."Customer Segments_history";
SELECT count(*) AS memberships_half_year FROM segment.membership_as_of('shop', :'half_year');
SELECT segment.membership_as_of('shop', :'before_half_year');

-- No orders at all: an empty table (the prospects only), not an error.
CREATE TABLE "My Shop".no_orders (LIKE "My Shop"."Orders");
SELECT segment.create_segmentation('empty', '"My Shop".no_orders', 'Customer ID', 'Ordered At', 'Amount $',
    target_table => '"My Shop".empty_segments') AS customers;
SELECT count(*) FROM "My Shop".empty_segments;

-- Another role: creates its own, cannot see, refresh or drop the others'.
CREATE ROLE shop_owner NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA "My Shop" TO shop_owner;
GRANT SELECT ON "My Shop"."Orders" TO shop_owner;
SET ROLE shop_owner;
SELECT segment.create_segmentation('mine', '"My Shop"."Orders"', 'Customer ID', 'Ordered At', 'Amount $',
    clusters => 0, as_of => '2026-01-01', target_table => '"My Shop".mine') AS customers;
SELECT name, owner FROM segment.segmentations ORDER BY name;
SELECT segmentation, count(*) FROM segment.job_runs GROUP BY 1;
SELECT DISTINCT segmentation FROM segment.segment_summary;
SELECT count(*) FILTER (WHERE cluster IS NOT NULL) AS clustered FROM "My Shop".mine;
-- another's history: not in the view, not rebuilt
SELECT DISTINCT segmentation FROM segment.membership_changes;
SELECT segment.membership_as_of('shop', now());
RESET ROLE;
-- a segment_reader member sees every segmentation's metrics
GRANT segment_reader TO shop_owner;
SET ROLE shop_owner;
SELECT DISTINCT segmentation FROM segment.segment_summary ORDER BY 1;
SELECT count(*) AS runs_still_own_only FROM segment.job_runs WHERE segmentation <> 'mine';
RESET ROLE;

-- drop_segmentation removes the tables and every trace
SELECT segment.drop_segmentation('empty');
SELECT to_regclass('"My Shop".empty_segments') AS target, to_regclass('"My Shop".empty_segments_history') AS history,
       (SELECT count(*) FROM segment.runs WHERE segmentation = 'empty') AS runs;
SET ROLE shop_owner;
SELECT segment.drop_segmentation('mine');
RESET ROLE;
SELECT segment.drop_segmentation('shop');
SELECT count(*) AS segmentations_left FROM segment.segmentations;
REVOKE segment_reader FROM shop_owner;
DROP SCHEMA "My Shop" CASCADE;
DROP ROLE shop_owner, shop_analyst;
