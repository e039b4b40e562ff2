-- Pruning of the history snapshots, called by segment.refresh() (which
-- prunes the metrics of earlier refreshes itself, in refresh_entry.c).

-- Drops the oldest snapshots beyond history_refreshes.  Called during the
-- swap, while the target's lock is held: so it never waits.  When a reader
-- holds the history, the snapshots stay until a later refresh (a notice
-- says so).
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
    BEGIN
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', s.history_table);
        FOR i IN 1..array_length(old, 1) LOOP
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', old[i]);
        END LOOP;
    EXCEPTION WHEN lock_not_available THEN
        RAISE NOTICE 'the history of segmentation "%" keeps % snapshots beyond history_refreshes for now', s.name,
                     array_length(old, 1)
            USING DETAIL = 'Another transaction is reading the history table; the refresh does not wait for it while it holds the segment table.',
                  HINT = 'A later refresh drops them.';
        RETURN;
    END;
    FOR i IN 1..array_length(old, 1) LOOP
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.history_table, old[i]);
        EXECUTE format('DROP TABLE %s', old[i]);
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._prune_history(segment.segmentations) IS
    'Internal: drops the history snapshots beyond history_refreshes when that needs no lock wait; else they stay (with a notice) for a later refresh.';
