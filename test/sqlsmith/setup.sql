-- The database sqlsmith explores: a non-superuser that owns a schema, demo
-- data, and two segmentations of its own (one scheduled), so that the
-- extension's views and functions have rows to return.
SET client_min_messages = warning;
CREATE EXTENSION segment;
CREATE ROLE smith LOGIN;
-- parallel plans even on these small tables: the aggregates' combine functions run too
ALTER ROLE smith SET parallel_setup_cost = 0;
ALTER ROLE smith SET parallel_tuple_cost = 0;
ALTER ROLE smith SET min_parallel_table_scan_size = 0;
CREATE SCHEMA shop AUTHORIZATION smith;
SET ROLE smith;
SELECT count(*) FROM segment.generate_demo_data('shop', customers => 500, seed => 7);
SELECT segment.create_segmentation('full', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
    order_id_column => 'order_id', clusters => 3, as_of => '2026-01-01', target_table => 'shop.full_segments',
    touchpoints => 'shop.touchpoints', touch_time_column => 'touched_at',
    spend => 'shop.spend', carts => 'shop.carts', cart_time_column => 'added_at');
SELECT segment.create_segmentation('plain', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2025-12-01', target_table => 'shop.plain_segments');
UPDATE segment.segmentations SET as_of = '2026-01-01' WHERE name = 'plain';
SELECT segment.refresh('plain');
SELECT segment.refresh('full');
-- every 30 seconds: the scheduler refreshes it while the queries run
SELECT segment.schedule('plain', '30 seconds') IS NOT NULL AS scheduled;
RESET ROLE;
