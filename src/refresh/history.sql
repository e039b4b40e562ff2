-- The history of a segmentation: a log of the changes of segment membership.
--
-- Its history table (<target>_history, the owner's) holds one partition per
-- refresh with the customers whose segment of a type changed since the
-- refresh before: (customer, segment_type, from_segment, to_segment,
-- refreshed_at), NULL for "not in a segment of that type" (a new customer,
-- one gone, a prospect without RFM scores).  The first refresh's partition
-- is empty: its table is the baseline.  The membership as of a kept refresh
-- is the current table with the later changes undone; the oldest kept
-- partition is the earliest such refresh.  refresh_entry.c prunes the
-- metrics of earlier refreshes; this file prunes the log and reads it.

-- Drops the oldest partitions beyond history_refreshes.  Called during the
-- swap, while the target's lock is held: so it never waits.  When a reader
-- holds the history, the partitions stay until a later refresh (a notice
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
        RAISE NOTICE 'the history of segmentation "%" keeps % refreshes beyond history_refreshes for now', s.name,
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
    'Internal: drops the history partitions beyond history_refreshes when that needs no lock wait; else they stay (with a notice) for a later refresh.';

-- The segmentation's target and history tables, locked against change and
-- checked before a caller's query reads them.  They are the owner's: a
-- column of another type would bring the owner's casts or operators into the
-- caller's query, and row-level security the owner's policies; either would
-- run the owner's code as the caller.
CREATE FUNCTION segment._check_history_readable(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    want text[];
    got text[];
BEGIN
    IF s.target_table IS NULL OR s.history_table IS NULL OR s.customer_column IS NULL THEN
        RAISE EXCEPTION 'a segmentation without its tables has no history to read'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Read the history through segment.membership_changes or segment.membership_as_of().';
    END IF;
    EXECUTE format('LOCK TABLE %s, %s IN ACCESS SHARE MODE', s.target_table, s.history_table);
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.target_table AND relkind = 'p' AND relowner = s.owner)
       OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.history_table AND relkind = 'p' AND relowner = s.owner) THEN
        RAISE EXCEPTION 'the target or history table of segmentation "%" is missing or not its own', s.name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Both must be the partitioned tables made by create_segmentation, owned by the segmentation''s owner.',
                  HINT = 'Drop the segmentation and create it again.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid IN (s.target_table, s.history_table) AND relrowsecurity) THEN
        RAISE EXCEPTION 'the target or history table of segmentation "%" has row-level security', s.name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Its policies would run the owner''s code as the role reading the history.',
                  HINT = format('Its owner can run ALTER TABLE ... DISABLE ROW LEVEL SECURITY on %s and %s.',
                                s.target_table, s.history_table);
    END IF;
    SELECT array_agg(format('%s %s', a.attname, a.atttypid::regtype) ORDER BY a.attnum) INTO got
    FROM pg_attribute AS a WHERE a.attrelid = s.history_table AND a.attnum > 0 AND NOT a.attisdropped;
    want := ARRAY[format('%s %s', s.customer_column,
                         (SELECT a.atttypid::regtype FROM pg_attribute AS a
                          WHERE a.attrelid = s.target_table AND a.attname = s.customer_column AND NOT a.attisdropped)),
                  'segment_type text', 'from_segment text', 'to_segment text', 'refreshed_at timestamp with time zone'];
    IF got IS DISTINCT FROM want OR array_position(want, NULL) IS NOT NULL
       OR (SELECT count(*) FROM pg_attribute AS a
           WHERE a.attrelid = s.target_table AND NOT a.attisdropped
             AND (a.attname, a.atttypid) IN (('rfm_segment', 'text'::regtype), ('lifecycle_segment', 'text'::regtype),
                                             ('cluster', 'int4'::regtype))) <> 3 THEN
        RAISE EXCEPTION 'the target or history table of segmentation "%" has been altered', s.name
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = format('The history table must have the columns (%s); it has (%s).',
                                  array_to_string(want, ', '), array_to_string(got, ', ')),
                  HINT = 'Drop the segmentation and create it again.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_history_readable(segment.segmentations) IS
    'Internal: locks the target and history tables (ACCESS SHARE) and errors unless they are the owner''s partitioned tables, without row-level security, with the columns a refresh writes.';

-- The refreshes whose partitions the history keeps, oldest first.
CREATE FUNCTION segment._kept_refreshes(s segment.segmentations) RETURNS SETOF timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    SET datestyle = 'ISO'       -- the bounds are read back from their text
    AS $$
    SELECT (substring(pg_get_expr(c.relpartbound, c.oid) FROM $r$^FOR VALUES IN \('(.*)'\)$r$))::timestamptz AS at
    FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = s.history_table
    ORDER BY 1
$$;
COMMENT ON FUNCTION segment._kept_refreshes(segment.segmentations) IS
    'Internal: the refresh times of the history table''s partitions, oldest first.';

CREATE FUNCTION segment._membership_changes()
    RETURNS TABLE (segmentation text, segment_type text, customer text, from_segment text, to_segment text,
                   refreshed_at timestamptz)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    mine segment.segmentations[];
    s segment.segmentations;
    message text;
    hint text;
BEGIN
    -- the rows of segment.segmentations are those of the caller's roles
    SELECT array_agg(g ORDER BY g.name) INTO mine FROM segment.segmentations AS g
    WHERE pg_has_role(current_user, g.owner, 'MEMBER') AND has_table_privilege(g.history_table, 'SELECT')
      AND has_table_privilege(g.target_table, 'SELECT');
    FOREACH s IN ARRAY coalesce(mine, '{}') LOOP
        -- one altered table leaves out its segmentation, with a warning, not the others
        BEGIN
            PERFORM segment._check_history_readable(s);
        EXCEPTION WHEN object_not_in_prerequisite_state OR datatype_mismatch THEN
            GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
            RAISE WARNING 'segment.membership_changes leaves out segmentation "%": %', s.name, message
                USING HINT = hint;
            CONTINUE;
        END;
        -- format('%s') prints the key with its type's output function: no cast of the owner's
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, h.segment_type, format(''%%s'', h.%I), h.from_segment, h.to_segment, h.refreshed_at FROM %s AS h',
            s.name, s.customer_column, s.history_table);
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._membership_changes() IS
    'Internal: the rows of segment.membership_changes, read from the history table of each segmentation of the caller''s roles.';

CREATE VIEW segment.membership_changes AS
SELECT c.segmentation, c.segment_type, c.customer, c.from_segment, c.to_segment, c.refreshed_at
FROM segment._membership_changes() AS c;
COMMENT ON VIEW segment.membership_changes IS 'Customers whose segment changed at a kept refresh of a segmentation of yours, per segment type: to sync audiences, read the rows with refreshed_at after the last one you read. The first refresh records none (its table is the starting point).';
COMMENT ON COLUMN segment.membership_changes.segmentation IS 'Segmentation name.';
COMMENT ON COLUMN segment.membership_changes.segment_type IS 'rfm, lifecycle, cluster or predictive.';
COMMENT ON COLUMN segment.membership_changes.customer IS 'The customer key, as text.';
COMMENT ON COLUMN segment.membership_changes.from_segment IS 'Segment before this refresh (cluster number as text); NULL if the customer was in none of this type (new, or a prospect without RFM scores).';
COMMENT ON COLUMN segment.membership_changes.to_segment IS 'Segment after this refresh; NULL if the customer left every segment of this type (gone, or without RFM scores now).';
COMMENT ON COLUMN segment.membership_changes.refreshed_at IS 'When the refresh that made the change ran.';
GRANT SELECT ON segment.membership_changes TO PUBLIC;

CREATE FUNCTION segment.membership_as_of(segmentation text, at timestamptz)
    RETURNS TABLE (customer text, segment_type text, segment text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(segmentation);
    oldest timestamptz;
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION 'at must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass a time at or after the oldest refresh the history keeps.';
    END IF;
    PERFORM segment._check_history_readable(s);
    SELECT min(k) INTO oldest FROM segment._kept_refreshes(s) AS k;
    IF oldest IS NULL OR at < oldest THEN
        RAISE EXCEPTION 'the history of segmentation "%" does not reach back that far', s.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN oldest IS NULL THEN 'It keeps no refresh.'
                                ELSE format('The oldest refresh it keeps ran at %s; the membership as of %s was asked for.', oldest, at) END,
                  HINT = 'Pass a later time; to keep more refreshes from now on, raise history_refreshes with UPDATE segment.segmentations.';
    END IF;
    -- the current table, with the changes of the refreshes after "at" undone:
    -- per customer and type, the segment before the first of them
    RETURN QUERY EXECUTE format($q$
        WITH later AS (
            SELECT DISTINCT ON (h.%1$I, h.segment_type) h.%1$I AS c, h.segment_type, h.from_segment
            FROM %2$s AS h
            WHERE h.refreshed_at > $1
            ORDER BY h.%1$I, h.segment_type, h.refreshed_at),
        now AS (
            SELECT t.%1$I AS c, x.segment_type, x.segment
            FROM %3$s AS t
            CROSS JOIN LATERAL (VALUES ('rfm', t.rfm_segment), ('lifecycle', t.lifecycle_segment),
                                       ('cluster', t.cluster::text)) AS x (segment_type, segment))
        SELECT format('%%s', coalesce(n.c, l.c)), coalesce(n.segment_type, l.segment_type),
               CASE WHEN l.c IS NOT NULL THEN l.from_segment ELSE n.segment END
        FROM now AS n FULL JOIN later AS l ON l.c = n.c AND l.segment_type = n.segment_type
        WHERE CASE WHEN l.c IS NOT NULL THEN l.from_segment ELSE n.segment END IS NOT NULL
        $q$, s.customer_column, s.history_table, s.target_table) USING at;
END $$;
COMMENT ON FUNCTION segment.membership_as_of(text, timestamptz) IS
    'The segments of each customer of a segmentation you own (or are a member of the owner of) as they were after the last refresh at or before a time, back to the oldest refresh the history keeps: one row per customer and segment type they were in.';
