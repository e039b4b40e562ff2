-- History snapshots and the per-segment metrics and migrations a refresh
-- keeps for the views.  Called by segment.refresh() before its swap.

-- The new contents' snapshot as a partition of the history table; the
-- oldest snapshots beyond history_refreshes are dropped.
CREATE FUNCTION segment._snapshot(s segment.segmentations, contents regclass, refreshed timestamptz, run bigint)
    RETURNS regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    part regclass := segment._new_partition(s.history_table, '_h' || run, s.owner);
    old record;
BEGIN
    EXECUTE format('INSERT INTO %s SELECT %I, rfm_segment, lifecycle_segment, cluster, refreshed_at FROM %s',
                   part, s.customer_column, contents);
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', s.history_table, part, refreshed);
    -- partitions are named <history>_h<run id>; run ids grow with time
    FOR old IN
        SELECT i.inhrelid::regclass AS rel
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = s.history_table
        ORDER BY (substring(c.relname FROM '_h([0-9]+)$'))::int8 DESC
        OFFSET s.history_refreshes
    LOOP
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.history_table, old.rel);
        EXECUTE format('DROP TABLE %s', old.rel);
    END LOOP;
    RETURN part;
END $$;
COMMENT ON FUNCTION segment._snapshot(segment.segmentations, regclass, timestamptz, bigint) IS
    'Internal: appends a refresh''s snapshot to the history table and prunes the oldest.';

-- Metrics per segment of the new contents, and the moves between segments
-- since the previous snapshot, replacing the segmentation's earlier rows.
CREATE FUNCTION segment._metrics(s segment.segmentations, contents regclass, refreshed timestamptz)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
BEGIN
    DELETE FROM segment.summaries WHERE segmentation = s.name;
    DELETE FROM segment.migrations WHERE segmentation = s.name;
    -- one row per customer and segment type
    EXECUTE format($q$
        CREATE TEMP TABLE segment_current ON COMMIT DROP AS
        SELECT c.%1$I AS customer, v.segment_type, v.segment, c.recency_days, c.frequency, c.monetary,
               c.lifecycle_segment
        FROM %2$s AS c,
             LATERAL (VALUES ('rfm', c.rfm_segment), ('lifecycle', c.lifecycle_segment),
                             ('cluster', c.cluster::text)) AS v(segment_type, segment)
        WHERE v.segment IS NOT NULL
        $q$, s.customer_column, contents);
    EXECUTE format($q$
        CREATE TEMP TABLE segment_previous ON COMMIT DROP AS
        SELECT p.%1$I AS customer, v.segment_type, v.segment, p.lifecycle_segment
        FROM %2$s AS p,
             LATERAL (VALUES ('rfm', p.rfm_segment), ('lifecycle', p.lifecycle_segment),
                             ('cluster', p.cluster::text)) AS v(segment_type, segment)
        WHERE p.refreshed_at = $1 AND v.segment IS NOT NULL
        $q$, s.customer_column, s.history_table)
    USING s.last_refreshed_at;

    INSERT INTO segment.summaries
    WITH metrics AS (
        SELECT segment_type, segment, count(*) AS customers,
               coalesce(sum(frequency), 0) AS orders, coalesce(sum(monetary), 0) AS revenue,
               avg(recency_days) AS avg_recency_days, avg(frequency) AS avg_frequency,
               avg(monetary) AS avg_monetary,
               avg((frequency >= 2)::int) AS repeat_rate
        FROM segment_current GROUP BY 1, 2
    ), churn AS (
        -- the previous refresh's active customers of each segment, and how many are Lapsed now
        -- (or gone: no order left in the window)
        SELECT p.segment_type, p.segment, count(*) AS active_before,
               count(*) FILTER (WHERE c.customer IS NULL OR c.lifecycle_segment = 'Lapsed') AS lapsed_now
        FROM segment_previous AS p
        LEFT JOIN segment_current AS c ON c.customer = p.customer AND c.segment_type = 'lifecycle'
        WHERE p.lifecycle_segment NOT IN ('Lapsed', 'Prospect')
        GROUP BY 1, 2
    )
    SELECT s.name, refreshed, m.segment_type, m.segment, m.customers,
           m.customers::float8 / sum(m.customers) OVER (PARTITION BY m.segment_type),
           m.orders, m.revenue, m.revenue / nullif(m.orders, 0), m.avg_recency_days, m.avg_frequency,
           m.avg_monetary, m.repeat_rate,
           c.lapsed_now::float8 / nullif(c.active_before, 0),
           m.revenue / m.customers
    FROM metrics AS m LEFT JOIN churn AS c USING (segment_type, segment);

    IF s.last_refreshed_at IS NOT NULL THEN
        INSERT INTO segment.migrations
        SELECT s.name, coalesce(p.segment_type, c.segment_type), coalesce(p.segment, '(new)'),
               coalesce(c.segment, '(gone)'), count(*), s.last_refreshed_at, refreshed
        FROM segment_previous AS p
        FULL JOIN segment_current AS c ON c.customer = p.customer AND c.segment_type = p.segment_type
        GROUP BY 2, 3, 4;
    END IF;
    DROP TABLE segment_current, segment_previous;
END $$;
COMMENT ON FUNCTION segment._metrics(segment.segmentations, regclass, timestamptz) IS
    'Internal: recomputes a segmentation''s rows of segment.summaries and segment.migrations.';
