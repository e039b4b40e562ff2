-- segment.refresh(name): rebuild a segmentation's table and swap it in.
--
-- One transaction, in this order, so that a failure or a cancel anywhere
-- leaves everything as it was and the exclusive lock is taken last:
--   scan     per-customer facts of the orders up to as_of (NULL customer or
--            time skipped and counted), prospects from touchpoints and carts
--   cluster  k-means on ln(1 + recency, frequency, monetary), numbered after
--            the previous refresh's model
--   score    R, F, M scores, rfm_code, rfm_segment, lifecycle_segment,
--            written into a new partition, then the target's indexes
--   history  the customers whose segments changed, as a partition of the
--            history table (history.sql); metrics and migrations
-- The first four run in C (segment._build_segments), with the facts from a
-- C scan of the orders, or from a GROUP BY when the scan cannot read them.
--   swap     under a short ACCESS EXCLUSIVE lock (taken with a 50 ms lock
--            timeout and retried, so readers never queue behind a long wait,
--            within lock_timeout): the old partition out, the new one in;
--            history partitions beyond history_refreshes pruned if that
--            needs no wait
-- A second refresh of the same segmentation fails at once while one runs.
--
-- segment.refresh() is C (refresh_entry.c): it checks who calls it, writes
-- the run log and catalog as the extension's owner and runs segment._refresh
-- as the segmentation's owner in a security-restricted operation.  The
-- internal functions below refuse to run outside such a refresh.

CREATE FUNCTION segment._internal_only(caller text) RETURNS void
    AS 'MODULE_PATHNAME', 'internal_only'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._internal_only(text) IS
    'Internal: errors unless called by a refresh in progress, as its owner; the internal PL/pgSQL functions call it first.';

CREATE FUNCTION segment._index_definitions(parent regclass, partition regclass) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- "CREATE [UNIQUE] INDEX <name> ON ONLY <parent> USING ..." becomes
    -- "CREATE [UNIQUE] INDEX ON <partition> USING ...", so that ATTACH
    -- PARTITION finds every index of the parent already built
    SELECT format('CREATE %sINDEX ON %s%s',
                  CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, partition,
                  substr(d.def, length(format('CREATE %sINDEX %I ON ONLY %s',
                                              CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END,
                                              c.relname, parent)) + 1))
    FROM pg_index AS i
    JOIN pg_class AS c ON c.oid = i.indexrelid,
         LATERAL (SELECT pg_get_indexdef(i.indexrelid) AS def) AS d
    WHERE i.indrelid = parent
    ORDER BY i.indexrelid
$$;
COMMENT ON FUNCTION segment._index_definitions(regclass, regclass) IS
    'Internal: the parent''s index definitions rewritten for one of its partitions.';

-- An empty table shaped like the parent, owned by the segmentation's owner
-- (a superuser may run the refresh; the owner must still own every part).
CREATE FUNCTION segment._new_partition(parent regclass, suffix text, owner regrole) RETURNS regclass
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    qualified text;
    part regclass;
BEGIN
    PERFORM segment._internal_only('_new_partition');
    IF (SELECT octet_length(relname) FROM pg_class WHERE oid = parent) > 52 THEN
        RAISE EXCEPTION 'the name of % is longer than 52 bytes', parent
            USING ERRCODE = 'name_too_long',
                  DETAIL = 'Its partitions take names of up to 63 bytes made from it; it was renamed since the segmentation was created.',
                  HINT = 'Rename it to at most 52 bytes.';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname || suffix) INTO qualified
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = parent;
    -- no autovacuum: the refresh analyzes what it writes, and an autovacuum
    -- still working on a partition would hold up the swap that detaches it
    EXECUTE format('CREATE TABLE %s (LIKE %s) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)',
                   qualified, parent);
    part := qualified::regclass;
    IF (SELECT relowner FROM pg_class WHERE oid = part) <> owner THEN
        EXECUTE format('ALTER TABLE %s OWNER TO %s', part, owner);
    END IF;
    RETURN part;
END $$;
COMMENT ON FUNCTION segment._new_partition(regclass, text, regrole) IS
    'Internal: a new table like the partitioned parent, named after it with a suffix, owned by the given role.';

-- The target and history tables must still be the partitioned tables made
-- for this segmentation, owned by its owner: a refresh or drop never
-- touches anything else, whatever its catalog row says.
CREATE FUNCTION segment._check_own_tables(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.target_table AND relkind = 'p' AND relowner = s.owner)
       OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = s.history_table AND relkind = 'p' AND relowner = s.owner) THEN
        RAISE EXCEPTION 'the target or history table of segmentation "%" is missing or not its own', s.name
            USING ERRCODE = 'undefined_table',
                  DETAIL = format('Both must be partitioned tables made by create_segmentation and owned by %s.', s.owner),
                  HINT = 'Drop the segmentation and create it again.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_own_tables(segment.segmentations) IS
    'Internal: error unless the segmentation''s target and history tables are partitioned tables owned by its owner.';

-- A process that holds a lock on one of the tables while it waits, directly
-- or through others, for this transaction to end: REINDEX
-- CONCURRENTLY, CREATE INDEX CONCURRENTLY and DETACH PARTITION CONCURRENTLY
-- wait for older transactions that way.  The swap's short attempts are no
-- lock wait the deadlock detector sees, so the cycle is looked for here.
-- (A process merely waiting for one of the tables is no cycle: this
-- transaction's own lock request may go before it.)
CREATE FUNCTION segment._lock_cycle(rels regclass[]) RETURNS int4
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM segment._internal_only('_lock_cycle');
    RETURN (
        WITH RECURSIVE chain (root, pid, depth) AS (
            SELECT DISTINCT l.pid, l.pid, 1
            FROM pg_locks AS l
            WHERE l.locktype = 'relation' AND l.relation = ANY (rels) AND l.granted AND l.pid <> pg_backend_pid()
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            UNION
            SELECT c.root, b.pid, c.depth + 1
            FROM chain AS c CROSS JOIN LATERAL unnest(pg_blocking_pids(c.pid)) AS b (pid)
            WHERE c.depth < 8 AND c.pid <> pg_backend_pid()
        )
        SELECT root FROM chain WHERE pid = pg_backend_pid() LIMIT 1);
END $$;
COMMENT ON FUNCTION segment._lock_cycle(regclass[]) IS
    'Internal: a process holding a lock on one of the tables that waits (through at most 8 others) for this transaction, else NULL.';

-- The tables are locked in the order given, all in one attempt: a parent,
-- then the partitions to detach (which a manual VACUUM may hold).  Each
-- attempt waits at most 50 ms, so that readers never queue long behind it;
-- all attempts together at most lock_timeout (10 minutes when it is 0).  A
-- lock cycle with this transaction fails at once.
CREATE FUNCTION segment._lock_for_swap(rels regclass[]) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    saved text := current_setting('lock_timeout');
    budget_ms float8 := (SELECT CASE WHEN setting::int8 > 0 THEN setting::int8 ELSE 600000 END
                         FROM pg_settings WHERE name = 'lock_timeout');
    started timestamptz := clock_timestamp();
    left_ms float8;
    attempt int4 := 0;
    cycle int4;
    -- statement_timeout is kept here: when it fires during an attempt's
    -- lock wait, PostgreSQL may report the attempt's lock_timeout instead,
    -- and the one-shot statement timer is gone
    statement_ms float8 := (SELECT setting::int8 FROM pg_settings WHERE name = 'statement_timeout');
BEGIN
    PERFORM segment._internal_only('_lock_for_swap');
    LOOP
        IF statement_ms > 0
           AND extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000 >= statement_ms THEN
            RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = 'query_canceled';
        END IF;
        cycle := segment._lock_cycle(rels);
        IF cycle IS NOT NULL THEN
            RAISE EXCEPTION 'the swap of % is in a lock cycle with another process', rels[1]
                USING ERRCODE = 'deadlock_detected',
                      DETAIL = format('Process %s holds a lock on %s and waits for this transaction to end (REINDEX CONCURRENTLY, CREATE INDEX CONCURRENTLY and DETACH PARTITION CONCURRENTLY wait so): neither could go on. The refresh is rolled back; the current table is kept.',
                                      cycle, rels[1]),
                      HINT = 'Refresh again when that command has finished, and run such maintenance between refreshes.';
        END IF;
        attempt := attempt + 1;
        left_ms := budget_ms - extract(epoch FROM clock_timestamp() - started) * 1000;
        BEGIN
            PERFORM set_config('lock_timeout', greatest(1, least(50, ceil(left_ms)))::int8 || 'ms', true);
            FOR i IN 1..array_length(rels, 1) LOOP
                EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', rels[i]);
            END LOOP;
            PERFORM set_config('lock_timeout', saved, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM set_config('lock_timeout', saved, true);
        END;
        left_ms := budget_ms - extract(epoch FROM clock_timestamp() - started) * 1000;
        IF left_ms <= 0 THEN
            RAISE EXCEPTION 'could not lock % for the swap within %', rels[1],
                            CASE WHEN saved IN ('0', '0ms') THEN '10 minutes' ELSE 'lock_timeout (' || saved || ')' END
                USING ERRCODE = 'lock_not_available',
                      DETAIL = format('Other transactions held the table through %s attempts of at most 50 ms each. The refresh is rolled back; the current table is kept.', attempt),
                      HINT = 'Refresh again when the long queries on the segment table have ended, or allow a longer lock_timeout.';
        END IF;
        -- let the readers in the queue through, then try again
        PERFORM pg_sleep(least(0.01 * attempt, 0.5, left_ms / 1000));
    END LOOP;
END $$;
COMMENT ON FUNCTION segment._lock_for_swap(regclass[]) IS
    'Internal: ACCESS EXCLUSIVE locks on the tables, requested for at most 50 ms at a time so that readers never wait behind a long queue, within lock_timeout (10 minutes when 0); fails at once on a lock cycle with this transaction.';

CREATE FUNCTION segment._build_segments(s segment.segmentations, facts_query text, extras_query text,
    new_part regclass, history_part regclass, previous_part regclass, refreshed timestamptz,
    as_of timestamptz, lapse_days float8, changes_query text, deltas_query text, summary_query text,
    OUT customers int8, OUT orders_scanned int8, OUT rows_skipped int8, OUT scan_workers int4,
    OUT model segment.kmeans_model,
    OUT scan_ms float8, OUT cluster_ms float8, OUT score_ms float8, OUT history_ms float8,
    OUT ordering_customers int8, OUT previous_ordering_customers int8, OUT scan_partitions int4,
    OUT changes_snapshot pg_snapshot, OUT earliest_after_as_of timestamptz, OUT customers_changed int8,
    OUT bgnbd_model segment.bgnbd_model, OUT gammagamma_model segment.gammagamma_model, OUT predict_ms float8,
    OUT prediction_warning text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'build_segments'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._build_segments(segment.segmentations, text, text, regclass, regclass,
    regclass, timestamptz, timestamptz, float8, text, text, text) IS
    'Internal: the body of a refresh in C -- facts (a scan of the orders when facts_query is NULL, else the rows of that query; with changes_query and deltas_query, an incremental refresh: the previous contents'' facts, plus the facts of the orders inserted since (deltas_query), but for the customers changes_query recomputes), clusters, scores and lifecycle segments written into the new partition, the customers whose segments changed into the history partition, and the rows of segment.summaries and segment.migrations; with the customers who have orders in the window, now and in the previous contents. With predict on, each customer''s purchase days (from the scan, or summary_query when the scan could not sum them), the BG/NBD and Gamma-Gamma models fitted on them and the predictions written. The fast scan errors with feature_not_supported or program_limit_exceeded when the SQL path must be used.';

CREATE FUNCTION segment._progress(segmentation text, phase text) RETURNS void
    AS 'MODULE_PATHNAME', 'report_progress'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._progress(text, text) IS
    'Internal: the phase of this session''s refresh, shown in segment.refresh_progress (with the library preloaded).';

-- The SQL path's facts of the orders: customer, valid_rows, skipped_rows,
-- first_order_at, last_order_at, frequency, monetary, earliest_after (the
-- first order after as_of), grouped by customer; $1 as_of, $2 lookback.
-- filter: NULL, or a condition on the orders (alias o) to read only some.
CREATE FUNCTION segment._facts_query(s segment.segmentations, customer_type text, filter text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT format($q$
        SELECT c AS customer,
               count(*) FILTER (WHERE c IS NOT NULL AND t IS NOT NULL) AS valid_rows,
               count(*) FILTER (WHERE later IS NULL AND (c IS NULL OR t IS NULL)) AS skipped_rows,
               min(t) FILTER (WHERE a > 0) AS first_order_at,
               max(t) FILTER (WHERE a > 0) AS last_order_at,
               %1$s AS frequency,
               sum(a) FILTER (WHERE t IS NOT NULL) AS monetary,
               min(later) AS earliest_after
        FROM (SELECT o.%2$I::%3$s AS c,
                     CASE WHEN isfinite(o.%4$I::timestamptz) AND o.%4$I::timestamptz <= $1 THEN o.%4$I::timestamptz END AS t,
                     CASE WHEN isfinite(o.%4$I::timestamptz) AND o.%4$I::timestamptz > $1 THEN o.%4$I::timestamptz END AS later,
                     o.%5$I::numeric AS a, %6$s AS order_id
              FROM %7$s AS o
              -- no time or an infinite one: skipped (counted), as the fast scan does; after as_of: noted
              WHERE (o.%4$I IS NULL OR NOT isfinite(o.%4$I::timestamptz) OR $2::interval IS NULL
                     OR o.%4$I::timestamptz > $1 - $2)
                    %8$s) AS x
        GROUP BY c
        $q$,
        CASE WHEN s.order_id_column IS NULL THEN 'count(*) FILTER (WHERE t IS NOT NULL AND a > 0)'
             ELSE 'count(DISTINCT order_id) FILTER (WHERE t IS NOT NULL AND a > 0)' END,
        s.customer_column, customer_type, s.time_column, s.amount_column,
        CASE WHEN s.order_id_column IS NULL THEN 'NULL::int4' ELSE format('o.%I', s.order_id_column) END,
        s.orders,
        CASE WHEN filter IS NOT NULL THEN 'AND ' || filter ELSE '' END)
$$;
COMMENT ON FUNCTION segment._facts_query(segment.segmentations, text, text) IS
    'Internal: the SQL path''s query of per-customer facts of the orders (only those a filter on the orders keeps, when given one).';

-- Every customer's purchase days as segment.customer_summary counts them
-- (the orders of a day in the session's time zone, the segmentation's, are
-- a purchase when their net is positive), in the segmentation's window:
-- $1 as_of, $2 lookback.  With changed (a query of customers, $3 the
-- segmentation): those customers only, every one of them (purchases 0 for
-- one without any), for an incremental refresh.
CREATE FUNCTION segment._summary_query(s segment.segmentations, customer_type text, changed text DEFAULT NULL)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT format($q$
        WITH %6$s days AS (
            SELECT o.%1$I::%2$s AS customer, (o.%3$I::timestamptz)::date AS day, sum(o.%4$I::numeric) AS net
            FROM %5$s AS o
            WHERE o.%1$I IS NOT NULL AND isfinite(o.%3$I::timestamptz) AND o.%3$I::timestamptz <= $1
                  AND ($2::interval IS NULL OR o.%3$I::timestamptz > $1 - $2) %7$s
            GROUP BY 1, 2),
        firsts AS (SELECT customer, min(day) AS first_day FROM days WHERE net > 0 GROUP BY customer),
        summary AS (
            SELECT d.customer, count(*) FILTER (WHERE d.net > 0) AS purchases, f.first_day,
                   max(d.day) FILTER (WHERE d.net > 0) AS last_day,
                   coalesce(sum(d.net) FILTER (WHERE d.day > f.first_day), 0) AS repeat_value
            FROM days AS d JOIN firsts AS f ON f.customer = d.customer
            GROUP BY d.customer, f.first_day)
        %8$s
        $q$, s.customer_column, customer_type, s.time_column, s.amount_column, s.orders,
        CASE WHEN changed IS NOT NULL THEN format('changed AS (%s),', changed) ELSE '' END,
        CASE WHEN changed IS NOT NULL THEN format('AND o.%I::%s IN (SELECT * FROM changed)', s.customer_column, customer_type)
             ELSE '' END,
        CASE WHEN changed IS NOT NULL
             THEN 'SELECT c.customer, coalesce(m.purchases, 0), m.first_day, m.last_day, coalesce(m.repeat_value, 0)
                   FROM changed AS c(customer) LEFT JOIN summary AS m ON m.customer = c.customer'
             ELSE 'SELECT customer, purchases, first_day, last_day, repeat_value FROM summary' END)
$$;
COMMENT ON FUNCTION segment._summary_query(segment.segmentations, text, text) IS
    'Internal: the query of every customer''s purchase days (purchases, first and last purchase day, net of the days after the first) for a refresh with predict on whose scan could not sum them, or (changed) of the customers an incremental refresh recomputes or adds orders to.';

-- The columns a segmentation with predict on adds to its segment table, the
-- first time it predicts (as its owner, who owns the table): to the new
-- partition when it is made, to the table at the swap, under the lock the
-- swap holds anyway and once the old partitions are gone.
CREATE FUNCTION segment._add_prediction_columns(target regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM segment._internal_only('_add_prediction_columns');
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = target AND attname = 'predictive_segment'
                   AND NOT attisdropped) THEN
        EXECUTE format('ALTER TABLE %s ADD COLUMN predictive_segment text, ADD COLUMN churn_risk text,
                            ADD COLUMN p_alive float8, ADD COLUMN p_purchase float8, ADD COLUMN expected_orders float8,
                            ADD COLUMN predicted_clv numeric, ADD COLUMN expected_next_order_at timestamptz,
                            ADD COLUMN repeat_purchases int8, ADD COLUMN repeat_span_days float8,
                            ADD COLUMN tenure_days float8, ADD COLUMN mean_repeat_value float8', target);
    END IF;
END $$;
COMMENT ON FUNCTION segment._add_prediction_columns(regclass) IS
    'Internal: adds the prediction columns to a segment table or new partition that lacks them, for the first refresh with predict on.';

-- segment._refresh(name, run, force, full_asked): the work of a refresh, as the
-- owner in a security-restricted operation (refresh_entry.c calls it;
-- nobody else may).  Returns what the run log and catalog record, as jsonb.
CREATE FUNCTION segment._refresh(name text, run bigint, force bool, full_asked bool) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO'       -- history partition bounds are written as text
SET jit = off               -- estimates of its work queries are far off: compiling would cost more than it saves
AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    refreshed timestamptz := clock_timestamp();
    as_of timestamptz := coalesce(s.as_of, refreshed);
    lapse_days float8 := extract(epoch FROM s.lapse_after) / 86400;
    cust_col text := s.customer_column;
    customer_type text;
    phase timestamptz;
    t_score float8;
    t_history float8;
    t_attribution float8;
    skipped_touches int8;
    t_swap float8;
    built record;
    facts_sql text;
    extras_sql text;
    new_part regclass;
    history_part regclass;
    previous_part regclass;
    old_parts regclass[];
    index_sql text;
    method text;
    saved_target text;
    full_reason text;
    changes_sql text;
    deltas_sql text;
    new_mark text;
    mark_type text;
    mark_filter text;
    summary_sql text;
BEGIN
    PERFORM segment._progress(s.name, 'starting');
    -- times without a zone are read in the segmentation's, whoever refreshes
    -- (the setting ends with the refresh)
    PERFORM set_config('TimeZone', s.time_zone, true);

    -- the sources and tables are checked again: they may have changed since registration
    PERFORM segment._check_sources(s);
    PERFORM segment._check_own_tables(s);
    customer_type := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                      WHERE attrelid = s.target_table AND attname = cust_col AND attnum > 0 AND NOT attisdropped);

    -- memory for the sorts and hashes of this refresh (until it returns)
    PERFORM set_config('work_mem', coalesce(current_setting('segment.refresh_work_mem', true), '256MB'), true);

    -- customers seen in touchpoints or carts, with their last cart old enough
    -- to count as abandoned (24 hours without an order)
    IF s.touchpoints IS NOT NULL THEN
        extras_sql := format('SELECT %I::%s AS customer, NULL::timestamptz AS cart_at FROM %s WHERE %I IS NOT NULL',
                             s.touch_customer_column, customer_type, s.touchpoints, s.touch_customer_column);
    END IF;
    IF s.carts IS NOT NULL THEN
        extras_sql := concat_ws(' UNION ALL ', extras_sql,
            format($q$SELECT %I::%s AS customer,
                             CASE WHEN %I::timestamptz <= $1 - interval '24 hours' THEN %I::timestamptz END AS cart_at
                      FROM %s WHERE %I IS NOT NULL$q$,
                   s.cart_customer_column, customer_type, s.cart_time_column, s.cart_time_column, s.carts,
                   s.cart_customer_column));
    END IF;
    IF extras_sql IS NOT NULL THEN
        extras_sql := format('SELECT customer, max(cart_at) AS last_cart_at FROM (%s) AS x GROUP BY customer', extras_sql);
    END IF;

    SELECT i.inhrelid::regclass INTO previous_part FROM pg_inherits AS i WHERE i.inhparent = s.target_table;


    -- incremental when the segmentation captures changes and nothing keeps
    -- it from building on the last table; else full, and the log says why
    full_reason := segment._incremental_refusal(s, previous_part, full_asked, as_of);
    IF s.incremental = 'watermark' THEN
        new_mark := segment._new_watermark(s);
    END IF;
    IF s.incremental = 'watermark' AND full_reason IS NULL THEN
        -- the orders above the last mark, at most this one's: added to the
        -- facts, or (distinct order ids) their customers recomputed
        -- (an id: every one up to the mark has committed; a time: every one
        -- before it -- the oldest running transaction may add rows at it)
        mark_type := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                      WHERE attrelid = s.orders AND attname = s.watermark_column AND NOT attisdropped);
        mark_filter := format(CASE WHEN mark_type IN ('smallint', 'integer', 'bigint')
                                   THEN 'o.%1$I > %2$L::%3$s AND o.%1$I <= %4$L::%3$s'
                                   ELSE 'o.%1$I >= %2$L::%3$s AND o.%1$I < %4$L::%3$s' END,
                              s.watermark_column, s.incremental_basis->>'watermark', mark_type, new_mark);
        IF s.predict THEN
            summary_sql := segment._summary_query(s, customer_type,
                format('SELECT DISTINCT o.%1$I::%2$s FROM %3$s AS o WHERE %4$s AND o.%1$I IS NOT NULL',
                       cust_col, customer_type, s.orders, mark_filter));
        END IF;
        IF s.order_id_column IS NULL THEN
            changes_sql := format('SELECT NULL::%s, 0::int8, 0::int8, NULL::timestamptz, NULL::timestamptz, 0::int8,
                                          NULL::numeric, NULL::timestamptz WHERE false', customer_type);
            deltas_sql := segment._facts_query(s, customer_type, mark_filter);
        ELSE
            changes_sql := format($q$
                WITH changed AS (SELECT DISTINCT o.%1$I::%2$s AS c FROM %3$s AS o WHERE %4$s AND o.%1$I IS NOT NULL),
                facts AS (%5$s)
                SELECT ch.c, coalesce(f.valid_rows, 0), coalesce(f.skipped_rows, 0), f.first_order_at, f.last_order_at,
                       f.frequency, f.monetary, f.earliest_after
                FROM changed AS ch LEFT JOIN facts AS f ON f.customer = ch.c
                $q$, cust_col, customer_type, s.orders, mark_filter,
                segment._facts_query(s, customer_type, format('o.%I::%s IN (SELECT c FROM changed)', cust_col, customer_type)));
            deltas_sql := format('SELECT NULL::%s, 0::int8, 0::int8, NULL::timestamptz, NULL::timestamptz, 0::int8,
                                         NULL::numeric, NULL::timestamptz WHERE false', customer_type);
        END IF;
    ELSIF s.incremental = 'triggers' AND full_reason IS NULL THEN
        IF s.predict THEN
            summary_sql := segment._summary_query(s, customer_type,
                format('SELECT DISTINCT cc.customer::%s FROM segment.captured_changes AS cc
                        WHERE cc.segmentation = $3 AND cc.customer IS NOT NULL', customer_type));
        END IF;
        -- the customers written since the last refresh, their orders read
        -- in the same query (one snapshot)
        changes_sql := format($q$
            WITH changed AS (
                SELECT DISTINCT cc.customer::%1$s AS c FROM segment.captured_changes AS cc
                WHERE cc.segmentation = $3 AND cc.customer IS NOT NULL AND cc.recompute),
            facts AS (%2$s)
            SELECT ch.c, coalesce(f.valid_rows, 0), coalesce(f.skipped_rows, 0), f.first_order_at, f.last_order_at,
                   f.frequency, f.monetary, f.earliest_after
            FROM changed AS ch LEFT JOIN facts AS f ON f.customer = ch.c
            $q$, customer_type,
            segment._facts_query(s, customer_type, format('o.%I::%s IN (SELECT c FROM changed)', cust_col, customer_type)));
        -- the orders inserted for the others, as the facts to add to theirs:
        -- one pass grouped by customer, whatever the statistics of
        -- captured_changes say (an anti-join planned on the empty table the
        -- last refresh left went quadratic)
        deltas_sql := format($q$
            SELECT c AS customer,
                   count(*) FILTER (WHERE t IS NOT NULL) AS valid_rows,
                   count(*) FILTER (WHERE t IS NULL AND later IS NULL) AS skipped_rows,
                   min(t) FILTER (WHERE a > 0) AS first_order_at,
                   max(t) FILTER (WHERE a > 0) AS last_order_at,
                   count(*) FILTER (WHERE t IS NOT NULL AND a > 0) AS frequency,
                   sum(a) FILTER (WHERE t IS NOT NULL) AS monetary,
                   min(later) AS earliest_after
            FROM (SELECT cc.customer::%1$s AS c,
                         CASE WHEN isfinite(cc.ordered_at) AND cc.ordered_at <= $1 THEN cc.ordered_at END AS t,
                         CASE WHEN isfinite(cc.ordered_at) AND cc.ordered_at > $1 THEN cc.ordered_at END AS later,
                         cc.amount AS a, cc.recompute
                  FROM segment.captured_changes AS cc
                  WHERE cc.segmentation = $3 AND cc.customer IS NOT NULL) AS x
            GROUP BY c
            HAVING NOT bool_or(recompute)
            $q$, customer_type);
    END IF;
    IF changes_sql IS NOT NULL THEN
        BEGIN
            new_part := segment._new_partition(s.target_table, '_r' || run, s.owner);
            IF s.predict THEN
                PERFORM segment._add_prediction_columns(new_part);
            END IF;
            history_part := segment._new_partition(s.history_table, '_h' || run, s.owner);
            built := segment._build_segments(s, NULL, extras_sql, new_part, history_part, previous_part,
                                             refreshed, as_of, lapse_days, changes_sql, deltas_sql, summary_sql);
            method := 'incremental';
        EXCEPTION WHEN feature_not_supported THEN
            full_reason := 'the incremental refresh could not be exact: ' || SQLERRM;
        END;
    END IF;

    -- the full paths sum every customer's purchase days
    IF s.predict THEN
        summary_sql := segment._summary_query(s, customer_type);
    END IF;

    -- facts, clusters, scores, history and metrics; the fast scan first.  The
    -- new tables are made in the (sub)transaction that fills them, so that
    -- their rows can be written frozen, as COPY FREEZE writes them: if it
    -- fails, they go with it
    IF method IS NULL THEN
        BEGIN
            new_part := segment._new_partition(s.target_table, '_r' || run, s.owner);
            IF s.predict THEN
                PERFORM segment._add_prediction_columns(new_part);
            END IF;
            history_part := segment._new_partition(s.history_table, '_h' || run, s.owner);
            built := segment._build_segments(s, NULL, extras_sql, new_part, history_part, previous_part,
                                             refreshed, as_of, lapse_days, NULL, NULL, summary_sql);
            method := 'fast';
        EXCEPTION WHEN feature_not_supported OR program_limit_exceeded THEN
            method := 'sql';
        END;
    END IF;
    IF method = 'sql' THEN
        new_part := segment._new_partition(s.target_table, '_r' || run, s.owner);
        IF s.predict THEN
            PERFORM segment._add_prediction_columns(new_part);
        END IF;
        history_part := segment._new_partition(s.history_table, '_h' || run, s.owner);
        facts_sql := segment._facts_query(s, customer_type, NULL);
        built := segment._build_segments(s, facts_sql, extras_sql, new_part, history_part,
                                         previous_part, refreshed, as_of, lapse_days, NULL, NULL, summary_sql);
    END IF;

    -- a result that lost most of the customers with orders (prospects do not
    -- count) is not swapped in unasked: a source truncated for reloading, a
    -- table whose rows are elsewhere
    IF NOT force AND built.previous_ordering_customers > 0
       AND built.ordering_customers < built.previous_ordering_customers * (1 - s.max_customer_loss) THEN
        RAISE EXCEPTION 'the refresh of segmentation "%" would lose % of its % customers with orders', s.name,
                          built.previous_ordering_customers - built.ordering_customers, built.previous_ordering_customers
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The new table would have %s customers with orders; segmentations refuse to lose more than %s%% (max_customer_loss) at once. The current table is kept.',
                                  built.ordering_customers, round((s.max_customer_loss * 100)::numeric, 1)),
                  HINT = format('Check the sources (is one being reloaded?). If the loss is real, run segment.refresh(%L, force => true), or raise max_customer_loss of the segmentation.', s.name);
    END IF;

    -- the indexes and statistics of the new partition
    PERFORM segment._progress(s.name, 'indexing');
    phase := clock_timestamp();
    FOR index_sql IN SELECT segment._index_definitions(s.target_table, new_part) LOOP
        EXECUTE index_sql;
    END LOOP;
    -- statistics from a sample of 7,500 rows (statistics target 25): plenty
    -- for a few dozen segment names, and a tenth of a full ANALYZE's time
    saved_target := current_setting('default_statistics_target');
    PERFORM set_config('default_statistics_target', '25', true);
    EXECUTE format('ANALYZE %s', new_part);
    PERFORM set_config('default_statistics_target', saved_target, true);
    t_score := built.score_ms + extract(epoch FROM clock_timestamp() - phase) * 1000;

    -- attribution by segment, when the segmentation has touchpoints
    IF s.touchpoints IS NOT NULL THEN
        PERFORM segment._progress(s.name, 'attribution');
        phase := clock_timestamp();
        skipped_touches := segment._attribute(s, new_part, refreshed, as_of);
        t_attribution := extract(epoch FROM clock_timestamp() - phase) * 1000;
    END IF;

    -- history: this refresh's changes in
    phase := clock_timestamp();
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', s.history_table, history_part, refreshed);
    t_history := built.history_ms + extract(epoch FROM clock_timestamp() - phase) * 1000;

    -- swap, last: the exclusive lock lasts until commit
    PERFORM segment._progress(s.name, 'swapping');
    phase := clock_timestamp();
    SELECT array_agg(i.inhrelid::regclass) INTO old_parts FROM pg_inherits AS i WHERE i.inhparent = s.target_table;
    PERFORM segment._lock_for_swap(s.target_table || coalesce(old_parts, '{}'));
    PERFORM segment._prune_history(s);
    IF old_parts IS NOT NULL THEN
        FOR i IN 1..array_length(old_parts, 1) LOOP
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.target_table, old_parts[i]);
            EXECUTE format('DROP TABLE %s', old_parts[i]);
        END LOOP;
    END IF;
    IF s.predict THEN
        PERFORM segment._add_prediction_columns(s.target_table);
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', s.target_table, new_part);
    t_swap := extract(epoch FROM clock_timestamp() - phase) * 1000;

    RETURN jsonb_build_object(
        'rows', built.customers, 'orders_scanned', built.orders_scanned, 'rows_skipped', built.rows_skipped,
        'scan_method', CASE WHEN method = 'fast' AND built.scan_workers > 0 THEN 'parallel'
                            WHEN method = 'incremental' THEN 'sql' ELSE method END,
        'scan_workers', CASE WHEN method = 'fast' THEN built.scan_workers END,
        'scan_partitions', CASE WHEN method = 'fast' THEN built.scan_partitions END,
        'refresh_kind', CASE WHEN method = 'incremental' THEN 'incremental' ELSE 'full' END,
        'full_reason', full_reason, 'customers_changed', built.customers_changed,
        'changes_snapshot', built.changes_snapshot::text,
        -- what the next refresh needs unchanged to build on this one
        -- (an incremental refresh read only the changes: the last one's earliest still counts)
        'basis', CASE WHEN s.incremental <> 'off'
                      THEN segment._facts_basis(s) || jsonb_build_object('earliest_after_as_of',
                          CASE WHEN method = 'incremental'
                               THEN least(built.earliest_after_as_of, (s.incremental_basis->>'earliest_after_as_of')::timestamptz)
                               ELSE built.earliest_after_as_of END)
                      || CASE WHEN s.incremental = 'watermark' THEN jsonb_build_object('watermark', new_mark)
                              ELSE '{}' END END,
        'scan_ms', built.scan_ms, 'cluster_ms', built.cluster_ms, 'score_ms', t_score,
        'history_ms', t_history, 'attribution_ms', t_attribution, 'touches_skipped', skipped_touches,
        'swap_ms', t_swap, 'model', built.model::text, 'refreshed_at', refreshed,
        'predict_ms', built.predict_ms, 'warning', built.prediction_warning,
        'bgnbd_model', built.bgnbd_model::text, 'gammagamma_model', built.gammagamma_model::text);
END $$;
COMMENT ON FUNCTION segment._refresh(text, bigint, bool, bool) IS
    'Internal: the work of a refresh, run by segment.refresh() and the scheduler''s job workers as the segmentation''s owner; returns what the run log records.';
REVOKE ALL ON FUNCTION segment._refresh(text, bigint, bool, bool) FROM PUBLIC;

CREATE FUNCTION segment.refresh(name text, full boolean DEFAULT false, force boolean DEFAULT false) RETURNS int8
    AS 'MODULE_PATHNAME', 'refresh_segmentation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment.refresh(text, boolean, boolean) IS
    'Rebuilds the segment table of a segmentation you own (or are a member of the owner of) and swaps it in atomically, running as its owner whoever calls it; logs the customers whose segments changed in the history table, recomputes the metrics and logs the run. With incremental = ''triggers'' it recomputes only the customers whose orders changed, unless full is true or it cannot be exact (job_runs.full_reason says why). Returns the number of customers. Refuses a result that lost more than max_customer_loss of the customers unless force is true. Fails at once if the segmentation is being refreshed by another session.';
