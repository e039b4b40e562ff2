-- Pruning of the history snapshots and of the per-segment metrics and
-- migrations (segment._build_segments writes them).  Called by
-- segment.refresh().

-- Drops the oldest snapshots beyond history_refreshes.  Called during the
-- swap, after the target's lock, taking the history's lock the same careful
-- way (always in that order).
CREATE FUNCTION segment._prune_history(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    old regclass[];
BEGIN
    -- partitions are named <history>_h<run id>; run ids grow with time
    SELECT array_agg(rel) INTO old FROM (
        SELECT i.inhrelid::regclass AS rel
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = s.history_table
        ORDER BY (substring(c.relname FROM '_h([0-9]+)$'))::int8 DESC
        OFFSET s.history_refreshes) AS o;
    IF old IS NULL THEN
        RETURN;
    END IF;
    PERFORM segment._lock_for_swap(s.history_table || old);
    FOR i IN 1..array_length(old, 1) LOOP
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.history_table, old[i]);
        EXECUTE format('DROP TABLE %s', old[i]);
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._prune_history(segment.segmentations) IS
    'Internal: drops the history snapshots beyond history_refreshes.';

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
    DELETE FROM segment.attributions AS a
    WHERE a.segmentation = _prune_metrics.segmentation
      AND a.refreshed_at IS DISTINCT FROM (SELECT s.last_refreshed_at FROM segment.segmentations AS s
                                           WHERE s.name = _prune_metrics.segmentation);
$$;
COMMENT ON FUNCTION segment._prune_metrics(text) IS
    'Internal: removes a segmentation''s metric, migration and attribution rows of refreshes before its last one.';
