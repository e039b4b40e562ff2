-- Pruning of the history snapshots, called by segment.refresh() (which
-- prunes the metrics of earlier refreshes itself, in refresh_entry.c).

-- Drops the oldest snapshots beyond history_refreshes.  Called during the
-- swap, after the target's lock, taking the history's lock the same careful
-- way (always in that order).
CREATE FUNCTION segment._prune_history(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    old regclass[];
BEGIN
    PERFORM segment._internal_only('_prune_history');
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
