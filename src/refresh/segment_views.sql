-- Views for DBAs and BI tools: plain column types, a comment on every column.
-- job_runs shows a role its own segmentations (superusers all); the metric
-- views also show everything to members of segment_reader.  They filter
-- explicitly (their owner bypasses row-level security) and are security
-- barriers, so that no function in a caller's WHERE sees the rows first.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'segment_reader') THEN
        CREATE ROLE segment_reader NOLOGIN;
    END IF;
END $$;

CREATE VIEW segment.job_runs WITH (security_barrier) AS
SELECT r.run_id, r.segmentation, r.started_at, r.finished_at, r.status, r.rows, r.error_message,
       r.finished_at - r.started_at AS duration, r.orders_scanned, r.rows_skipped, r.scan_method,
       r.scan_workers, r.scan_ms, r.cluster_ms, r.score_ms, r.history_ms, r.attribution_ms, r.swap_ms,
       r.touches_skipped, r.scheduled_for, r.started_at - r.scheduled_for AS start_delay, r.scan_partitions,
       r.refresh_kind, r.full_reason, r.customers_changed, r.predict_ms, r.warning
FROM segment.runs AS r
JOIN segment.segmentations AS s ON s.name = r.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER');
COMMENT ON VIEW segment.job_runs IS 'One row per refresh of the segmentations you own (superusers: all), manual or scheduled.';
COMMENT ON COLUMN segment.job_runs.run_id IS 'Run number, increasing.';
COMMENT ON COLUMN segment.job_runs.segmentation IS 'Segmentation refreshed.';
COMMENT ON COLUMN segment.job_runs.started_at IS 'When the refresh started.';
COMMENT ON COLUMN segment.job_runs.finished_at IS 'When it ended (NULL while running).';
COMMENT ON COLUMN segment.job_runs.status IS 'running, succeeded, failed or skipped.';
COMMENT ON COLUMN segment.job_runs.rows IS 'Customers written to the segment table.';
COMMENT ON COLUMN segment.job_runs.error_message IS 'Why the run failed.';
COMMENT ON COLUMN segment.job_runs.duration IS 'finished_at - started_at.';
COMMENT ON COLUMN segment.job_runs.orders_scanned IS 'Order rows read with a customer and a time (up to as_of).';
COMMENT ON COLUMN segment.job_runs.rows_skipped IS 'Order rows skipped for a NULL customer, or a NULL or infinite time.';
COMMENT ON COLUMN segment.job_runs.scan_method IS 'fast (the C scan of a table), parallel (the same with parallel workers) or sql (views, partitioned or foreign tables, row-level security, other types or amounts with more than 8 decimals).';
COMMENT ON COLUMN segment.job_runs.scan_partitions IS 'Partition files the C scan aggregated one at a time because its customers outgrew segment.scan_memory (0: all in memory; NULL: the SQL path).';
COMMENT ON COLUMN segment.job_runs.scan_workers IS 'Parallel workers that helped the C scan (0: the scan ran alone; NULL: the SQL path).';
COMMENT ON COLUMN segment.job_runs.scan_ms IS 'Milliseconds computing per-customer facts.';
COMMENT ON COLUMN segment.job_runs.cluster_ms IS 'Milliseconds fitting and aligning k-means.';
COMMENT ON COLUMN segment.job_runs.score_ms IS 'Milliseconds scoring the customers and writing the new table (with its indexes) and the membership changes into the history table.';
COMMENT ON COLUMN segment.job_runs.history_ms IS 'Milliseconds storing the segment metrics and migrations and attaching the history partition.';
COMMENT ON COLUMN segment.job_runs.touches_skipped IS 'Touchpoints left out of attribution for a NULL customer, or a NULL or infinite time (NULL without touchpoints).';
COMMENT ON COLUMN segment.job_runs.attribution_ms IS 'Milliseconds attributing conversions by segment (NULL without touchpoints).';
COMMENT ON COLUMN segment.job_runs.swap_ms IS 'Milliseconds waiting for and holding the exclusive lock of the swap.';
COMMENT ON COLUMN segment.job_runs.refresh_kind IS 'full (every order read) or incremental (only the customers whose orders changed recomputed; the others'' facts kept from the last table).';
COMMENT ON COLUMN segment.job_runs.full_reason IS 'Why a refresh of a segmentation with incremental refreshes was full (NULL: incremental, or incremental = off).';
COMMENT ON COLUMN segment.job_runs.customers_changed IS 'Customers whose facts an incremental refresh updated: given their inserted orders, or recomputed from their orders when some were updated or deleted (NULL: a full refresh).';
COMMENT ON COLUMN segment.job_runs.predict_ms IS 'Milliseconds fitting BG/NBD and Gamma-Gamma (NULL without predict); the customers are scored with the rest, in score_ms.';
COMMENT ON COLUMN segment.job_runs.warning IS 'What a refresh that succeeded did not do as asked: why its predictions are NULL, or that a model did not converge (NULL: nothing).';
COMMENT ON COLUMN segment.job_runs.scheduled_for IS 'When a scheduled run was due (NULL for a manual refresh).';
COMMENT ON COLUMN segment.job_runs.start_delay IS 'started_at - scheduled_for: how late the scheduler started it (NULL for a manual refresh).';
GRANT SELECT ON segment.job_runs TO PUBLIC;

CREATE VIEW segment.segment_summary WITH (security_barrier) AS
SELECT m.segmentation, m.segment_type, m.segment, m.customers, m.customer_share, m.orders, m.revenue,
       m.aov, m.avg_recency_days, m.avg_frequency, m.avg_monetary, m.repeat_rate, m.churn_rate,
       m.historical_clv, m.refreshed_at, m.predicted_clv
FROM segment.summaries AS m
JOIN segment.segmentations AS s ON s.name = m.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER') OR pg_has_role(current_user, 'segment_reader', 'MEMBER');
COMMENT ON VIEW segment.segment_summary IS 'Metrics per segment of the last refresh of each segmentation: one row per segmentation, segment type and segment.';
COMMENT ON COLUMN segment.segment_summary.segmentation IS 'Segmentation name.';
COMMENT ON COLUMN segment.segment_summary.segment_type IS 'rfm (named RFM segment), lifecycle, cluster (k-means cluster number) or predictive (churn risk and predicted value, with predict on).';
COMMENT ON COLUMN segment.segment_summary.segment IS 'Segment name (cluster number as text for clusters).';
COMMENT ON COLUMN segment.segment_summary.customers IS 'Customers in the segment.';
COMMENT ON COLUMN segment.segment_summary.customer_share IS 'Share of the customers of this segment type (0..1).';
COMMENT ON COLUMN segment.segment_summary.orders IS 'Orders with a positive amount of its customers.';
COMMENT ON COLUMN segment.segment_summary.revenue IS 'Net revenue of its customers, refunds deducted.';
COMMENT ON COLUMN segment.segment_summary.aov IS 'Average order value: revenue / orders (NULL without orders).';
COMMENT ON COLUMN segment.segment_summary.avg_recency_days IS 'Average days since the last order.';
COMMENT ON COLUMN segment.segment_summary.avg_frequency IS 'Average orders per customer.';
COMMENT ON COLUMN segment.segment_summary.avg_monetary IS 'Average net revenue per customer.';
COMMENT ON COLUMN segment.segment_summary.repeat_rate IS 'Share of its customers with at least 2 orders.';
COMMENT ON COLUMN segment.segment_summary.churn_rate IS 'Of the customers in this segment at the previous refresh who were not Lapsed then, the share Lapsed (or without orders) now; NULL after the first refresh.';
COMMENT ON COLUMN segment.segment_summary.historical_clv IS 'Historical customer lifetime value: net revenue per customer.';
COMMENT ON COLUMN segment.segment_summary.refreshed_at IS 'When the refresh that computed the row ran.';
COMMENT ON COLUMN segment.segment_summary.predicted_clv IS 'With predict on: the mean predicted CLV (discounted value of the purchases expected within the horizon) of its customers who have one; NULL without.';
GRANT SELECT ON segment.segment_summary TO PUBLIC;

CREATE VIEW segment.segment_migration WITH (security_barrier) AS
SELECT m.segmentation, m.segment_type, m.from_segment, m.to_segment, m.customers, m.from_refreshed_at,
       m.to_refreshed_at
FROM segment.migrations AS m
JOIN segment.segmentations AS s ON s.name = m.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER') OR pg_has_role(current_user, 'segment_reader', 'MEMBER');
COMMENT ON VIEW segment.segment_migration IS 'Customers moving between segments from the previous refresh to the last one, per segment type.';
COMMENT ON COLUMN segment.segment_migration.segmentation IS 'Segmentation name.';
COMMENT ON COLUMN segment.segment_migration.segment_type IS 'rfm, lifecycle, cluster or predictive.';
COMMENT ON COLUMN segment.segment_migration.from_segment IS 'Segment at the previous refresh; (new) for customers who were not there.';
COMMENT ON COLUMN segment.segment_migration.to_segment IS 'Segment at the last refresh; (gone) for customers no longer there.';
COMMENT ON COLUMN segment.segment_migration.customers IS 'Customers who moved so (or stayed, when from = to).';
COMMENT ON COLUMN segment.segment_migration.from_refreshed_at IS 'Time of the previous refresh.';
COMMENT ON COLUMN segment.segment_migration.to_refreshed_at IS 'Time of the last refresh.';
GRANT SELECT ON segment.segment_migration TO PUBLIC;
GRANT SELECT ON segment.segment_summary, segment.segment_migration TO segment_reader;
