-- History snapshots and the per-segment metrics and migrations a refresh
-- keeps for the views.  Called by segment.refresh() before its swap.

-- The new contents' snapshot as a partition of the history table.
CREATE FUNCTION segment._snapshot(s segment.segmentations, contents regclass, refreshed timestamptz, run bigint)
    RETURNS regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET datestyle = 'ISO'           -- the partition bound is written as text
    AS $$
DECLARE
    part regclass := segment._new_partition(s.history_table, '_h' || run, s.owner);
BEGIN
    PERFORM segment._bulk_insert(part, format('SELECT %I, rfm_segment, lifecycle_segment, cluster, refreshed_at FROM %s',
                                              s.customer_column, contents));
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', s.history_table, part, refreshed);
    RETURN part;
END $$;
COMMENT ON FUNCTION segment._snapshot(segment.segmentations, regclass, timestamptz, bigint) IS
    'Internal: appends a refresh''s snapshot to the history table and prunes the oldest.';

-- Drops the oldest snapshots beyond history_refreshes.  Called during the
-- swap, after the target's lock, taking the history's lock the same careful
-- way (always in that order).
CREATE FUNCTION segment._prune_history(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    old record;
    locked bool := false;
BEGIN
    -- partitions are named <history>_h<run id>; run ids grow with time
    FOR old IN
        SELECT i.inhrelid::regclass AS rel
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = s.history_table
        ORDER BY (substring(c.relname FROM '_h([0-9]+)$'))::int8 DESC
        OFFSET s.history_refreshes
    LOOP
        IF NOT locked THEN
            PERFORM segment._lock_for_swap(s.history_table);
            locked := true;
        END IF;
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.history_table, old.rel);
        EXECUTE format('DROP TABLE %s', old.rel);
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._prune_history(segment.segmentations) IS
    'Internal: drops the history snapshots beyond history_refreshes.';

-- Metrics per segment of the new contents, and the moves between segments
-- since the previous refresh (the earlier rows go in _prune_metrics).
-- "previous" is the segment table itself, still holding the previous
-- refresh's contents (the swap comes later).  One pass over each: grouping
-- sets give the three segment types at once.
CREATE FUNCTION segment._metrics(s segment.segmentations, contents regclass, refreshed timestamptz,
                                 previous regclass)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
BEGIN
    -- customers per (type, from, to) and whether they were active and are Lapsed now
    EXECUTE format($q$
        CREATE TEMP TABLE segment_moves ON COMMIT DROP AS
        SELECT CASE WHEN GROUPING(p_rfm) = 0 THEN 'rfm' WHEN GROUPING(p_life) = 0 THEN 'lifecycle'
                    ELSE 'cluster' END AS segment_type,
               coalesce(p_rfm, p_life, p_cluster) AS from_segment,
               coalesce(c_rfm, c_life, c_cluster) AS to_segment,
               active, lapsed_now, count(*) AS customers
        FROM (SELECT p.rfm_segment AS p_rfm, p.lifecycle_segment AS p_life, p.cluster::text AS p_cluster,
                     c.rfm_segment AS c_rfm, c.lifecycle_segment AS c_life, c.cluster::text AS c_cluster,
                     coalesce(p.lifecycle_segment NOT IN ('Lapsed', 'Prospect'), false) AS active,
                     c.%1$I IS NULL OR c.lifecycle_segment = 'Lapsed' AS lapsed_now
              FROM %2$s AS p FULL JOIN %3$s AS c ON c.%1$I = p.%1$I) AS j
        GROUP BY GROUPING SETS ((p_rfm, c_rfm, active, lapsed_now), (p_life, c_life, active, lapsed_now),
                                (p_cluster, c_cluster, active, lapsed_now))
        $q$, s.customer_column, previous, contents);

    EXECUTE format($q$
        INSERT INTO segment.summaries
        WITH metrics AS (
            SELECT CASE WHEN GROUPING(rfm_segment) = 0 THEN 'rfm' WHEN GROUPING(lifecycle_segment) = 0
                        THEN 'lifecycle' ELSE 'cluster' END AS segment_type,
                   coalesce(rfm_segment, lifecycle_segment, cluster::text) AS segment,
                   count(*) AS customers,
                   coalesce(sum(frequency), 0) AS orders, coalesce(sum(monetary), 0) AS revenue,
                   avg(recency_days) AS avg_recency_days, avg(frequency) AS avg_frequency,
                   avg(monetary) AS avg_monetary, avg((frequency >= 2)::int) AS repeat_rate
            FROM %s
            GROUP BY GROUPING SETS ((rfm_segment), (lifecycle_segment), (cluster))
        ), churn AS (
            -- the previous refresh's active customers of each segment, and how many are Lapsed now
            -- (or gone: no order left in the window)
            SELECT segment_type, from_segment AS segment,
                   sum(customers) FILTER (WHERE active) AS active_before,
                   sum(customers) FILTER (WHERE active AND lapsed_now) AS lapsed_now
            FROM segment_moves WHERE from_segment IS NOT NULL
            GROUP BY 1, 2
        )
        SELECT $1, $2, m.segment_type, m.segment, m.customers,
               m.customers::float8 / sum(m.customers) OVER (PARTITION BY m.segment_type),
               m.orders, m.revenue, m.revenue / nullif(m.orders, 0), m.avg_recency_days, m.avg_frequency,
               m.avg_monetary, m.repeat_rate,
               CASE WHEN $3 THEN coalesce(c.lapsed_now, 0)::float8 / nullif(c.active_before, 0) END,
               m.revenue / m.customers
        FROM metrics AS m LEFT JOIN churn AS c USING (segment_type, segment)
        WHERE m.segment IS NOT NULL
        $q$, contents)
    USING s.name, refreshed, s.last_refreshed_at IS NOT NULL;

    IF s.last_refreshed_at IS NOT NULL THEN
        INSERT INTO segment.migrations
        SELECT s.name, segment_type, coalesce(from_segment, '(new)'), coalesce(to_segment, '(gone)'),
               sum(customers), s.last_refreshed_at, refreshed
        FROM segment_moves
        WHERE from_segment IS NOT NULL OR to_segment IS NOT NULL
        GROUP BY 2, 3, 4;
    END IF;
    DROP TABLE segment_moves;
END $$;
COMMENT ON FUNCTION segment._metrics(segment.segmentations, regclass, timestamptz, regclass) IS
    'Internal: recomputes a segmentation''s rows of segment.summaries and segment.migrations.';

-- The rows of earlier refreshes in segment.summaries and segment.migrations.
-- Security definer, so that nobody needs DELETE on these shared tables (which
-- would also allow locking them): it only ever removes rows older than the
-- segmentation's last refresh, which is harmless whoever calls it.
CREATE FUNCTION segment._prune_metrics(segmentation text) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$
    DELETE FROM segment.summaries AS m
    WHERE m.segmentation = _prune_metrics.segmentation
      AND m.refreshed_at IS DISTINCT FROM (SELECT s.last_refreshed_at FROM segment.segmentations AS s
                                           WHERE s.name = _prune_metrics.segmentation);
    DELETE FROM segment.migrations AS m
    WHERE m.segmentation = _prune_metrics.segmentation
      AND m.to_refreshed_at IS DISTINCT FROM (SELECT s.last_refreshed_at FROM segment.segmentations AS s
                                              WHERE s.name = _prune_metrics.segmentation);
$$;
COMMENT ON FUNCTION segment._prune_metrics(text) IS
    'Internal: removes a segmentation''s metric and migration rows of refreshes before its last one.';
