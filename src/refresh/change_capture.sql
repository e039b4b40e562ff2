-- Incremental refresh: which customers' orders changed since the last
-- refresh, and whether a refresh may build on the last one's table.
--
-- With incremental = 'triggers' a segmentation's orders table carries four
-- statement-level triggers (insert, update, delete, truncate) that record
-- every row written into segment.captured_changes, in the writing
-- transaction: an inserted order as its customer, time and amount, an
-- updated or deleted one as its customer, to recompute.  An incremental
-- refresh takes the last table's facts (frequency, monetary, first and last
-- order), adds the inserted orders to them, and recomputes from their orders
-- the customers whose orders were updated or deleted (or all the customers
-- written, with an order id column: distinct ids do not add up), in one
-- snapshot; the changes that snapshot sees are deleted when the refresh has
-- succeeded (refresh_entry.c), those committed later wait for the next one.
-- Whatever the triggers cannot vouch for makes the refresh full, and the
-- run log says why (segment._incremental_refusal).

CREATE TABLE segment.captured_changes (
    segmentation text NOT NULL,
    customer text,                  -- NULL: the orders were truncated
    txid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    recompute bool NOT NULL,        -- false: an inserted order, added to the customer's facts
    ordered_at timestamptz,         -- the inserted order's time and amount
    amount numeric
);
CREATE INDEX ON segment.captured_changes (segmentation);
COMMENT ON TABLE segment.captured_changes IS
    'The order rows written since the last refresh of a segmentation with incremental = ''triggers'': an inserted order (its customer, time and amount), or a customer to recompute (recompute: its orders updated or deleted; customer NULL: the orders were truncated), with the writing transaction; deleted by the refresh that reads them.';
ALTER TABLE segment.captured_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_changes ON segment.captured_changes
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
-- written by the triggers' function and deleted by the refresh, both as the extension's owner
GRANT SELECT ON segment.captured_changes TO PUBLIC;

-- The triggers' function.  It runs as the extension's owner so that writers
-- of the orders need no privilege on segment.captured_changes; it records
-- only for the orders table of a segmentation that captures changes (a
-- trigger someone put on another table with this function records nothing),
-- and only the customer keys of the rows written, as text.
CREATE FUNCTION segment._capture_changes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s record;
    time_type regtype;
    amount_type regtype;
    time_expr text;
BEGIN
    SELECT g.customer_column, g.time_column, g.amount_column, g.order_id_column, g.time_zone INTO s
    FROM segment.segmentations AS g
    WHERE g.name = TG_ARGV[0] AND g.orders = TG_RELID AND g.incremental = 'triggers';
    IF NOT FOUND OR TG_LEVEL <> 'STATEMENT' THEN
        RETURN NULL;
    END IF;
    SELECT a.atttypid INTO time_type FROM pg_attribute AS a
    WHERE a.attrelid = TG_RELID AND a.attname = s.time_column AND NOT a.attisdropped;
    SELECT a.atttypid INTO amount_type FROM pg_attribute AS a
    WHERE a.attrelid = TG_RELID AND a.attname = s.amount_column AND NOT a.attisdropped;
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO segment.captured_changes (segmentation, customer, recompute) VALUES (TG_ARGV[0], NULL, true);
    -- an inserted order's time and amount are read here only from the types
    -- the refresh reads: a cast of another type could be the table owner's
    -- code, which must not run with this function's rights (those customers
    -- are recomputed by the refresh instead, as the segmentation's owner)
    ELSIF TG_OP = 'INSERT' AND s.order_id_column IS NULL
          AND time_type IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
          AND amount_type IN ('numeric'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                              'float4'::regtype, 'float8'::regtype) THEN
        -- the time as the refresh reads it: a time without a zone in the segmentation's
        time_expr := CASE time_type WHEN 'timestamptz'::regtype THEN format('n.%I', s.time_column)
                                    WHEN 'timestamp'::regtype THEN format('n.%I AT TIME ZONE %L', s.time_column, s.time_zone)
                                    ELSE format('n.%I::timestamp AT TIME ZONE %L', s.time_column, s.time_zone) END;
        -- format('%s') prints a key with its type's output function
        EXECUTE format('INSERT INTO segment.captured_changes (segmentation, customer, recompute, ordered_at, amount)
                        SELECT $1, format(''%%s'', n.%I), false, %s, n.%I::numeric FROM new_rows AS n
                        WHERE n.%I IS NOT NULL',
                       s.customer_column, time_expr, s.amount_column, s.customer_column)
            USING TG_ARGV[0];
    ELSE
        EXECUTE format('INSERT INTO segment.captured_changes (segmentation, customer, recompute)
                        SELECT $1, format(''%%s'', k), true FROM (%s) AS w (k) WHERE k IS NOT NULL GROUP BY k',
                       CASE TG_OP WHEN 'INSERT' THEN format('SELECT %I FROM new_rows', s.customer_column)
                                  WHEN 'DELETE' THEN format('SELECT %I FROM old_rows', s.customer_column)
                                  ELSE format('SELECT %I FROM new_rows UNION ALL SELECT %I FROM old_rows',
                                              s.customer_column, s.customer_column) END)
            USING TG_ARGV[0];
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION segment._capture_changes() IS
    'Internal: the statement triggers of incremental = ''triggers'': records in segment.captured_changes each inserted order (customer, time, amount) and the customers of updated or deleted ones (to recompute; all written ones with an order id column; NULL for a TRUNCATE).';

-- The names of a segmentation's triggers (names of up to 48 bytes: 62 at most).
CREATE FUNCTION segment._capture_trigger_names(segmentation text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT ARRAY['segment_' || segmentation || '_ins', 'segment_' || segmentation || '_upd',
                       'segment_' || segmentation || '_del', 'segment_' || segmentation || '_trunc'] $$;
COMMENT ON FUNCTION segment._capture_trigger_names(text) IS
    'Internal: the names of the four change capture triggers of a segmentation.';

-- The capture triggers of a segmentation on its orders, with what proves
-- they were never dropped, disabled or changed since (their rows' xmin): in
-- the refresh's basis.  NULL when any of the four is missing or disabled.
CREATE FUNCTION segment._capture_state(s segment.segmentations) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE WHEN count(*) = 4 THEN string_agg(format('%s:%s:%s', t.oid, t.xmin, t.tgenabled), ',' ORDER BY t.tgname) END
    FROM pg_trigger AS t
    WHERE t.tgrelid = s.orders AND t.tgname = ANY (segment._capture_trigger_names(s.name))
      AND t.tgfoid = 'segment._capture_changes()'::regprocedure AND t.tgenabled <> 'D'
$$;
COMMENT ON FUNCTION segment._capture_state(segment.segmentations) IS
    'Internal: the identity and state of the four capture triggers of a segmentation on its orders, or NULL when one is missing or disabled.';

-- Takes a segmentation's capture triggers off a table (where allowed:
-- dropping a trigger needs the ownership of the table; one left in place
-- records nothing once the segmentation no longer captures that table).
CREATE FUNCTION segment._drop_capture(segmentation text, rel regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t name;
BEGIN
    FOR t IN SELECT tr.tgname FROM pg_trigger AS tr
             WHERE tr.tgrelid = rel AND tr.tgname = ANY (segment._capture_trigger_names(segmentation))
               AND tr.tgfoid = 'segment._capture_changes()'::regprocedure LOOP
        BEGIN
            EXECUTE format('DROP TRIGGER %I ON %s', t, rel);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'trigger % on % is left in place', quote_ident(t), rel
                USING DETAIL = 'Only the owner of the table may drop it; it records nothing for this segmentation now.',
                      HINT = format('The owner of %s can drop it.', rel);
        END;
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._drop_capture(text, regclass) IS
    'Internal: drops the change capture triggers of a segmentation from a table where the current role may.';

-- The catalog's trigger (after segment._check_row): puts the capture
-- triggers on the orders when incremental = 'triggers', takes them off the
-- orders a segmentation no longer captures, as the role changing the row
-- (creating a trigger needs the TRIGGER privilege on the orders).  They are
-- ENABLE ALWAYS where the role may make them so (owning the orders): they
-- then fire in replication sessions too.
CREATE FUNCTION segment._set_up_capture() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    names text[] := segment._capture_trigger_names(NEW.name);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.orders <> NEW.orders THEN
        PERFORM segment._drop_capture(NEW.name, OLD.orders);
    END IF;
    IF NEW.incremental <> 'triggers' THEN
        PERFORM segment._drop_capture(NEW.name, NEW.orders);
        RETURN NULL;
    END IF;
    IF segment._capture_state(NEW) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = NEW.orders) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'incremental = ''triggers'' needs the orders to be a table, and % is not', NEW.orders
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Changes are captured by triggers on the orders table; a view or foreign table has none.',
                  HINT = 'Register the table itself, or keep incremental = ''off''.';
    END IF;
    BEGIN
        -- a disabled or partial set is made again
        PERFORM segment._drop_capture(NEW.name, NEW.orders);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION segment._capture_changes(%L)', names[1], NEW.orders, NEW.name);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION segment._capture_changes(%L)', names[2], NEW.orders, NEW.name);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION segment._capture_changes(%L)', names[3], NEW.orders, NEW.name);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s
                        FOR EACH STATEMENT EXECUTE FUNCTION segment._capture_changes(%L)', names[4], NEW.orders, NEW.name);
    EXCEPTION WHEN insufficient_privilege OR duplicate_object THEN
        RAISE EXCEPTION 'incremental = ''triggers'' needs the TRIGGER privilege on %', NEW.orders
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s may not create the triggers that capture the changes of the orders (%s).',
                                  current_user, SQLERRM),
                  HINT = format('GRANT TRIGGER ON %s to the owner of the segmentation, or keep incremental = ''off''.', NEW.orders);
    END;
    IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = NEW.orders), 'USAGE') THEN
        FOR i IN 1..4 LOOP
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', NEW.orders, names[i]);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION segment._set_up_capture() IS
    'Internal: the catalog trigger that creates the change capture triggers on the orders of a segmentation with incremental = ''triggers'' (ENABLE ALWAYS where allowed) and drops those it no longer needs where allowed.';
CREATE TRIGGER set_up_capture
    AFTER INSERT OR UPDATE OF orders, incremental ON segment.segmentations
    FOR EACH ROW EXECUTE FUNCTION segment._set_up_capture();

-- Watermarks (incremental = 'watermark', for append-only orders): the rows
-- whose watermark_column is above the last refresh's mark and at most this
-- refresh's are new, each read once.  The mark is the largest value below
-- which no row can still commit (watermark.c): a sequence's last value,
-- once the transactions writing to the orders have ended; or, for an
-- insertion time, the start of the oldest transaction still running.
CREATE FUNCTION segment._wait_for_writers(rel regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'wait_for_writers'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._wait_for_writers(regclass) IS
    'Internal: waits until the transactions writing to the table when it is called have ended.';
CREATE FUNCTION segment._oldest_transaction_start() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'oldest_transaction_start'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._oldest_transaction_start() IS
    'Internal: when the oldest transaction of another session of this database began (NULL: none runs).';

-- The watermark column of a segmentation: its type, and for an integer its
-- sequence; errors unless it can serve as a watermark.
CREATE FUNCTION segment._check_watermark(s segment.segmentations, OUT type regtype, OUT seq regclass)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF s.watermark_column IS NULL THEN
        RAISE EXCEPTION 'incremental = ''watermark'' needs a watermark_column' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name a column of the orders that grows with every insert: an identity or serial id, or the time of the insert.';
    END IF;
    type := (segment._column(s.orders, s.watermark_column, 'watermark')).typid;
    IF type IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
        seq := pg_get_serial_sequence(s.orders::text, s.watermark_column);
        IF seq IS NULL THEN
            RAISE EXCEPTION 'the watermark column % of % takes its values from no sequence', quote_ident(s.watermark_column), s.orders
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'An integer watermark must be an identity or serial column: the refresh reads its sequence to know which ids can still commit.',
                      HINT = 'Use an identity column, or the time of the insert.';
        END IF;
        IF (SELECT seqincrement FROM pg_sequence WHERE seqrelid = seq) < 0 THEN
            RAISE EXCEPTION 'the sequence % of the watermark column counts down', seq
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A watermark must grow with every insert.',
                      HINT = 'Use a sequence with a positive increment, or the time of the insert.';
        END IF;
        IF (SELECT seqcache FROM pg_sequence WHERE seqrelid = seq) <> 1 THEN
            RAISE EXCEPTION 'the sequence % of the watermark column caches values', seq
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A session with cached values can commit rows with smaller ids long after larger ones; the refresh would miss them.',
                      HINT = format('ALTER SEQUENCE %s CACHE 1', seq);
        END IF;
        IF NOT has_sequence_privilege(s.owner, seq, 'SELECT') THEN
            RAISE EXCEPTION 'the owner of segmentation "%" may not read sequence %', s.name, seq
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('GRANT SELECT ON SEQUENCE %s TO %s', seq, s.owner);
        END IF;
    ELSIF type NOT IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN
        RAISE EXCEPTION 'the watermark column % of % has type %', quote_ident(s.watermark_column), s.orders, type
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'A watermark is an integer id from a sequence or the time of the insert (timestamptz or timestamp): values that order the inserts.',
                  HINT = 'Use an identity column, or a column with DEFAULT now().';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_watermark(segment.segmentations) IS
    'Internal: the type of the watermark column and, for an integer, its sequence; errors unless the column can serve as a watermark (an identity or serial id whose sequence has no cache and the owner may read, or a time).';

-- This refresh's mark, as text of the watermark column's type.  Called
-- before the facts are read, so that the snapshot that reads them sees
-- every row up to it.
CREATE FUNCTION segment._new_watermark(s segment.segmentations) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w record := segment._check_watermark(s);
    mark text;
BEGIN
    PERFORM segment._internal_only('_new_watermark');
    IF w.seq IS NOT NULL THEN
        -- (never called: below its first value)
        mark := coalesce(pg_sequence_last_value(w.seq),
                         (SELECT seqstart - 1 FROM pg_sequence WHERE seqrelid = w.seq))::text;
        -- every id up to it was drawn by an INSERT that holds the orders' lock until its transaction ends
        PERFORM segment._wait_for_writers(s.orders);
        RETURN mark;
    END IF;
    -- a row's insertion time is no earlier than its transaction's start
    mark := least(clock_timestamp(), segment._oldest_transaction_start())::text;
    IF w.type = 'timestamp'::regtype THEN
        mark := (mark::timestamptz AT TIME ZONE s.time_zone)::text;
    END IF;
    RETURN mark;
END $$;
COMMENT ON FUNCTION segment._new_watermark(segment.segmentations) IS
    'Internal: the mark of this refresh: the sequence''s last value once the writers of the orders have ended, or the start of the oldest running transaction (or now).';

-- Why this refresh cannot build on the last one (NULL: it can).  basis is
-- what the last refresh recorded of the sources and parameters its facts
-- depend on (segment._facts_basis); the capture must have been in place,
-- unchanged, since then.
CREATE FUNCTION segment._facts_basis(s segment.segmentations) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT jsonb_build_object(
        'orders', s.orders::oid,
        -- a rewritten table (ALTER TABLE ... TYPE, VACUUM FULL, CLUSTER, a restore) changes its files
        'files', (SELECT coalesce(jsonb_agg(c.relfilenode ORDER BY c.oid), '[]') FROM pg_class AS c
                  WHERE c.oid = s.orders OR c.oid IN (SELECT relid FROM pg_partition_tree(s.orders))),
        'columns', jsonb_build_array(s.customer_column, s.time_column, s.amount_column, s.order_id_column),
        'as_of', s.as_of, 'lookback', s.lookback, 'time_zone', s.time_zone,
        'watermark_column', CASE WHEN s.incremental = 'watermark' THEN s.watermark_column END,
        'capture', CASE WHEN s.incremental = 'triggers' THEN segment._capture_state(s) END)
        -- the last table's summaries are what an incremental refresh's predictions build on
        || CASE WHEN s.predict THEN '{"predict": true}'::jsonb ELSE '{}' END
$$;
COMMENT ON FUNCTION segment._facts_basis(segment.segmentations) IS
    'Internal: what the per-customer facts of a refresh depend on (the orders, their files, the columns, as_of, lookback, time zone, the watermark column, the capture triggers, and whether it predicted), recorded with each refresh (with its watermark).';

CREATE FUNCTION segment._incremental_refusal(s segment.segmentations, previous_part regclass, full_asked bool,
                                             as_of timestamptz) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    now_basis jsonb := segment._facts_basis(s);
    last jsonb := s.incremental_basis;
BEGIN
    PERFORM segment._internal_only('_incremental_refusal');
    IF s.incremental = 'off' THEN
        RETURN NULL;    -- full, and not a refusal
    ELSIF full_asked THEN
        RETURN 'asked for (full => true)';
    ELSIF previous_part IS NULL OR last IS NULL THEN
        RETURN 'no earlier refresh to build on';
    ELSIF s.predict AND NOT coalesce((last->>'predict')::bool, false) THEN
        RETURN 'the last refresh made no predictions to build on';
    ELSIF s.lookback IS NOT NULL THEN
        RETURN 'lookback is set: orders leave the window as time passes';
    ELSIF s.incremental = 'triggers' AND now_basis->>'capture' IS NULL THEN
        RETURN 'the change capture triggers on the orders are missing or disabled';
    ELSIF s.incremental = 'watermark' AND last->>'watermark' IS NULL THEN
        RETURN 'the last refresh recorded no watermark';
    ELSIF s.incremental = 'watermark' AND (SELECT atttypid FROM pg_attribute WHERE attrelid = s.orders
                                           AND attname = s.watermark_column AND NOT attisdropped) NOT IN
                                          ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
          AND EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database()) THEN
        RETURN 'a prepared transaction may commit rows below the time watermark';
    ELSIF EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srrelid = s.orders)
          AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = s.orders AND tgenabled <> 'A'
                      AND tgname = ANY (segment._capture_trigger_names(s.name))) THEN
        RETURN 'the orders are a logical replication target and the capture triggers are not ENABLE ALWAYS';
    ELSIF last->>'capture' IS DISTINCT FROM now_basis->>'capture' THEN
        RETURN 'the change capture triggers were made, changed or re-enabled since the last refresh';
    ELSIF last - 'capture' - 'earliest_after_as_of' - 'watermark' - 'predict'
          IS DISTINCT FROM now_basis - 'capture' - 'predict' THEN
        RETURN 'the orders, their columns or as_of changed since the last refresh, or the table was rewritten';
    ELSIF (last->>'earliest_after_as_of')::timestamptz <= as_of THEN
        RETURN format('orders dated after the last refresh''s as_of (the first at %s) are now in the window',
                      last->>'earliest_after_as_of');
    ELSIF s.full_refresh_every IS NOT NULL
          AND (s.last_full_refresh_at IS NULL OR s.last_full_refresh_at + s.full_refresh_every <= now()) THEN
        RETURN 'full_refresh_every has passed since the last full refresh';
    ELSIF EXISTS (SELECT 1 FROM segment.captured_changes AS c WHERE c.segmentation = s.name AND c.customer IS NULL
                  AND c.recompute) THEN
        RETURN 'the orders were truncated';
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION segment._incremental_refusal(segment.segmentations, regclass, bool, timestamptz) IS
    'Internal: why a refresh of a segmentation with incremental refreshes must be full (asked for, no earlier table, predictions the last one did not make, lookback, capture triggers missing or changed, no earlier watermark, a prepared transaction under a time watermark, orders or parameters changed, later-dated orders now in the window, full_refresh_every, a truncate), or NULL.';
