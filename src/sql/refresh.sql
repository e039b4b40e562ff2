-- segment.refresh(name): rebuild a segmentation's table and swap it in.
--
-- One transaction, in this order, so that a failure or a cancel anywhere
-- leaves everything as it was and the exclusive lock is taken last:
--   scan     per-customer facts of the orders up to as_of (NULL customer or
--            time skipped and counted), prospects from touchpoints and carts
--   cluster  k-means on ln(1 + recency, frequency, monetary), numbered after
--            the previous refresh's model
--   score    R, F, M scores, rfm_code, rfm_segment, lifecycle_segment,
--            written into a new partition with the target's indexes
--   history  a snapshot partition, older ones pruned; metrics and migrations
--   swap     under a short ACCESS EXCLUSIVE lock (taken with a 50 ms lock
--            timeout and retried, so readers never queue behind a long wait):
--            the old partition out, the new one in
-- A second refresh of the same segmentation fails at once while one runs.

CREATE FUNCTION segment._index_definitions(parent regclass, partition regclass) RETURNS SETOF text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
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
    SET search_path = pg_catalog
    AS $$
DECLARE
    qualified text;
    part regclass;
BEGIN
    SELECT format('%I.%I', n.nspname, left(c.relname, 52) || suffix) INTO qualified
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = parent;
    EXECUTE format('CREATE TABLE %s (LIKE %s)', qualified, parent);
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
    SET search_path = pg_catalog
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

CREATE FUNCTION segment._lock_for_swap(rel regclass) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    AS $$
DECLARE
    saved text := current_setting('lock_timeout');
BEGIN
    FOR attempt IN 1..1200 LOOP
        BEGIN
            PERFORM set_config('lock_timeout', '50ms', true);
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', rel);
            PERFORM set_config('lock_timeout', saved, true);
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM set_config('lock_timeout', saved, true);
            -- let the readers in the queue through, then try again
            PERFORM pg_sleep(least(0.01 * attempt, 0.5));
        END;
    END LOOP;
    RAISE EXCEPTION 'could not lock % for the swap', rel
        USING ERRCODE = 'lock_not_available',
              DETAIL = 'Long-running queries held the table through 1200 attempts.',
              HINT = 'Refresh again when the long queries on the segment table have ended.';
END $$;
COMMENT ON FUNCTION segment._lock_for_swap(regclass) IS
    'Internal: ACCESS EXCLUSIVE lock on the table, requested for at most 50 ms at a time so that readers never wait behind a long queue.';

CREATE FUNCTION segment._scan_facts(orders regclass, customer_column name, time_column name,
    amount_column name, order_id_column name, as_of timestamptz, lookback interval)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'scan_facts'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION segment._scan_facts(regclass, name, name, name, name, timestamptz, interval) IS
    'Internal: per-customer facts of an order table in one C pass (the refresh''s fast path); errors with feature_not_supported or program_limit_exceeded when the SQL path must be used.';

CREATE FUNCTION segment._bulk_insert(target regclass, query text) RETURNS int8
    AS 'MODULE_PATHNAME', 'bulk_insert'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._bulk_insert(regclass, text) IS
    'Internal: writes the rows of a query into a new table without indexes using multi-row inserts, as COPY does; returns the rows written.';

CREATE FUNCTION segment._log_run(segmentation text, started_at timestamptz, status text, message text)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'log_run'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._log_run(text, timestamptz, text, text) IS
    'Internal: records a failed or skipped refresh in the run log from a background worker, so that the row outlives the failed transaction.';

CREATE FUNCTION segment.refresh(name text) RETURNS int8
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog
SET datestyle = 'ISO'       -- times go into the scoring query as literals
AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    run bigint;
    started timestamptz := clock_timestamp();
    refreshed timestamptz;
    as_of timestamptz;
    lapse_days float8 := extract(epoch FROM s.lapse_after) / 86400;
    cust_col text;
    customer_type text;
    phase timestamptz;
    t_scan float8;
    t_cluster float8 := 0;
    t_score float8;
    t_history float8;
    t_swap float8;
    scanned int8;
    skipped int8;
    bad text;
    fitted segment.kmeans_model;
    lifecycle text;
    prospects text := '';
    new_part regclass;
    old_parts regclass[];
    index_sql text;
    produced int8;
    method text;
    already_running bool := false;
    failure text;
    vip_threshold numeric;
    saved_work_mem text := current_setting('work_mem');
    saved_role text;
BEGIN
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('segment.refresh'), hashtext(s.name)) THEN
            already_running := true;
            RAISE EXCEPTION 'segmentation "%" is being refreshed by another session', s.name
                USING ERRCODE = 'lock_not_available',
                      DETAIL = 'Two refreshes of one segmentation never run at once; this one did not start.',
                      HINT = 'Wait for the running refresh to finish (see segment.job_runs), then refresh again if needed.';
        END IF;
        refreshed := clock_timestamp();
        as_of := coalesce(s.as_of, refreshed);
        cust_col := s.customer_column;
        -- everything runs with the owner's privileges, never the caller's (a
        -- superuser or member refreshing someone else's segmentation)
        saved_role := segment._become_owner(s.owner);

        -- the sources and tables are checked again: they may have changed since registration
        PERFORM segment._check_readable(s.orders, 'orders');
        PERFORM segment._column(s.orders, s.customer_column, 'customer');
        PERFORM segment._check_type(s.orders, s.time_column, 'time', '{timestamptz,timestamp,date}');
        PERFORM segment._check_type(s.orders, s.amount_column, 'amount', '{numeric,int2,int4,int8,float4,float8}');
        IF s.order_id_column IS NOT NULL THEN
            PERFORM segment._column(s.orders, s.order_id_column, 'order id');
        END IF;
        PERFORM segment._check_own_tables(s);
        customer_type := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = s.target_table AND attname = cust_col);

        -- memory for the sorts and hashes of this refresh (until it returns)
        PERFORM set_config('work_mem', coalesce(current_setting('segment.refresh_work_mem', true), '256MB'), true);

        -- work tables of an earlier refresh in the same transaction
        IF to_regclass('pg_temp.segment_facts') IS NOT NULL THEN
            DROP TABLE pg_temp.segment_facts;
        END IF;
        IF to_regclass('pg_temp.segment_carts') IS NOT NULL THEN
            DROP TABLE pg_temp.segment_carts;
        END IF;

        INSERT INTO segment.runs (segmentation, started_at, status)
        VALUES (s.name, started, 'running') RETURNING run_id INTO run;

        -- scan: one pass over the orders, in C when the orders allow it
        phase := clock_timestamp();
        BEGIN
            EXECUTE format($q$
                CREATE TEMP TABLE segment_facts ON COMMIT DROP AS
                SELECT * FROM segment._scan_facts($1, $2, $3, $4, $5, $6, $7)
                    AS f(customer %s, valid_rows int8, skipped_rows int8, first_order_at timestamptz,
                         last_order_at timestamptz, frequency int8, monetary numeric)
                $q$, customer_type)
            USING s.orders, s.customer_column, s.time_column, s.amount_column, s.order_id_column, as_of, s.lookback;
            method := 'fast';
        EXCEPTION WHEN feature_not_supported OR program_limit_exceeded THEN
            method := 'sql';
        END;
        IF method = 'sql' THEN
            EXECUTE format($q$
                CREATE TEMP TABLE segment_facts ON COMMIT DROP AS
                SELECT c AS customer,
                       count(*) FILTER (WHERE c IS NOT NULL AND t IS NOT NULL) AS valid_rows,
                       count(*) FILTER (WHERE c IS NULL OR t IS NULL) AS skipped_rows,
                       min(t) FILTER (WHERE a > 0) AS first_order_at,
                       max(t) FILTER (WHERE a > 0) AS last_order_at,
                       %s AS frequency,
                       sum(a) FILTER (WHERE t IS NOT NULL) AS monetary
                FROM (SELECT o.%I AS c, o.%I::timestamptz AS t, o.%I::numeric AS a, %s AS order_id
                      FROM %s AS o
                      WHERE o.%I IS NULL
                         OR (o.%I::timestamptz <= $1 AND ($2::interval IS NULL OR o.%I::timestamptz > $1 - $2))) AS x
                GROUP BY c
                $q$,
                CASE WHEN s.order_id_column IS NULL THEN 'count(*) FILTER (WHERE t IS NOT NULL AND a > 0)'
                     ELSE 'count(DISTINCT order_id) FILTER (WHERE t IS NOT NULL AND a > 0)' END,
                cust_col, s.time_column, s.amount_column,
                CASE WHEN s.order_id_column IS NULL THEN 'NULL::int4' ELSE format('o.%I', s.order_id_column) END,
                s.orders, s.time_column, s.time_column, s.time_column)
            USING as_of, s.lookback;
        END IF;
        SELECT coalesce(sum(valid_rows), 0), coalesce(sum(skipped_rows), 0) INTO scanned, skipped FROM segment_facts;
        DELETE FROM segment_facts WHERE customer IS NULL OR valid_rows = 0;
        ANALYZE segment_facts;
        -- (the C scan raises this error itself)
        IF method = 'sql' THEN
            SELECT customer::text INTO bad FROM segment_facts
            WHERE monetary::text IN ('NaN', 'Infinity', '-Infinity') LIMIT 1;
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'the orders of customer % have a NaN or infinite amount', bad
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Column %I of %s holds NaN or Infinity for this customer.', s.amount_column, s.orders),
                      HINT = 'Fix or filter those orders (register a view that leaves them out).';
        END IF;
        -- customers seen only in touchpoints or carts
        IF s.touchpoints IS NOT NULL THEN
            PERFORM segment._check_readable(s.touchpoints, 'touchpoints');
            PERFORM segment._column(s.touchpoints, s.touch_customer_column, 'touch customer');
            prospects := prospects || format(' UNION SELECT %I::%s FROM %s WHERE %I IS NOT NULL',
                                             s.touch_customer_column, customer_type, s.touchpoints, s.touch_customer_column);
        END IF;
        IF s.carts IS NOT NULL THEN
            PERFORM segment._check_readable(s.carts, 'carts');
            PERFORM segment._check_type(s.carts, s.cart_time_column, 'cart time', '{timestamptz,timestamp,date}');
            prospects := prospects || format(' UNION SELECT %I::%s FROM %s WHERE %I IS NOT NULL',
                                             s.cart_customer_column, customer_type, s.carts, s.cart_customer_column);
            -- a cart after the last order, not followed by an order within 24 hours
            EXECUTE format($q$
                CREATE TEMP TABLE segment_carts ON COMMIT DROP AS
                SELECT %I::%s AS customer, max(%I::timestamptz) AS last_cart_at
                FROM %s WHERE %I IS NOT NULL AND %I::timestamptz <= $1 - interval '24 hours'
                GROUP BY 1 $q$,
                s.cart_customer_column, customer_type, s.cart_time_column, s.carts, s.cart_customer_column,
                s.cart_time_column)
            USING as_of;
            ANALYZE segment_carts;
        END IF;
        t_scan := extract(epoch FROM clock_timestamp() - phase) * 1000;

        -- cluster
        IF s.clusters > 0 THEN
            phase := clock_timestamp();
            SELECT segment.kmeans(ARRAY[ln(1 + date_part('epoch', as_of - last_order_at) / 86400),
                                        ln(1 + frequency::float8), ln(1 + greatest(monetary, 0)::float8)]::float8[],
                                  s.clusters, '{"allow_fewer_clusters": true}'::jsonb)
            INTO fitted FROM segment_facts WHERE last_order_at IS NOT NULL;
            IF fitted IS NOT NULL AND s.model IS NOT NULL THEN
                fitted := segment.kmeans_align(fitted, s.model);
            END IF;
            t_cluster := extract(epoch FROM clock_timestamp() - phase) * 1000;
        END IF;

        -- score and write the new partition; VIPs: monetary at least the k-th largest,
        -- k = ceil(vip_share * customers), which is rank() <= k without sorting everyone
        phase := clock_timestamp();
        SELECT min(m) INTO vip_threshold
        FROM (SELECT monetary AS m FROM segment_facts WHERE monetary IS NOT NULL
              ORDER BY monetary DESC
              LIMIT (SELECT ceil(s.vip_share * count(*))::int8 FROM segment_facts)) AS top;
        SELECT string_agg(format('WHEN (%s) THEN %L', condition, segment), ' ' ORDER BY position)
        INTO lifecycle FROM segment.lifecycle_rules;
        new_part := segment._new_partition(s.target_table, '_r' || run, s.owner);
        -- written with multi-row inserts (segment._bulk_insert); values go in as literals
        produced := segment._bulk_insert(new_part, format($q$
            WITH scored AS (
                SELECT f.customer, date_part('epoch', %1$L::timestamptz - f.last_order_at) / 86400 AS recency_days,
                       f.frequency, f.monetary, f.first_order_at, f.last_order_at,
                       segment.quantile_score(-(date_part('epoch', %1$L::timestamptz - f.last_order_at) / 86400), %2$s) OVER w AS r_score,
                       segment.quantile_score(f.frequency, %2$s) OVER w AS f_score,
                       segment.quantile_score(f.monetary, %2$s) OVER w AS m_score,
                       coalesce(f.monetary >= %3$L::numeric, false) AS is_vip,
                       %7$s AS has_abandoned_cart
                FROM segment_facts AS f %8$s
                WINDOW w AS ()
            ), everyone AS (
                SELECT scored.*, false AS is_prospect FROM scored
                UNION ALL
                SELECT p.customer, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, false, true
                FROM (SELECT NULL::%9$s AS customer WHERE false %10$s) AS p
                WHERE NOT EXISTS (SELECT 1 FROM segment_facts AS f WHERE f.customer = p.customer)
            ), named AS (
                SELECT e.*, e.recency_days IS NULL OR e.recency_days > %4$L::float8 AS is_lapsed FROM everyone AS e
            )
            SELECT customer, recency_days, frequency, monetary, r_score, f_score, m_score,
                   r_score::text || f_score::text || m_score::text,
                   CASE WHEN %2$s = 5 THEN segment.rfm_segment(r_score, f_score, m_score) END,
                   CASE %11$s ELSE 'Other' END,
                   CASE WHEN %5$L::segment.kmeans_model IS NOT NULL AND recency_days IS NOT NULL
                        THEN segment.kmeans_assign(%5$L::segment.kmeans_model, ARRAY[ln(1 + recency_days), ln(1 + frequency::float8),
                                                             ln(1 + greatest(monetary, 0)::float8)]::float8[]) END,
                   first_order_at, last_order_at, %6$L::timestamptz
            FROM named
            $q$, as_of, s.bins, vip_threshold, lapse_days, fitted, refreshed,
            CASE WHEN s.carts IS NULL THEN 'false'
                 ELSE 'coalesce(c.last_cart_at > f.last_order_at OR f.last_order_at IS NULL, false)' END,
            CASE WHEN s.carts IS NULL THEN ''
                 ELSE 'LEFT JOIN segment_carts AS c ON c.customer = f.customer' END,
            customer_type, prospects, lifecycle));
        FOR index_sql IN SELECT segment._index_definitions(s.target_table, new_part) LOOP
            EXECUTE index_sql;
        END LOOP;
        t_score := extract(epoch FROM clock_timestamp() - phase) * 1000;

        -- history, metrics and migrations
        phase := clock_timestamp();
        PERFORM segment._snapshot(s, new_part, refreshed, run);
        PERFORM segment._metrics(s, new_part, refreshed, s.target_table);
        UPDATE segment.segmentations SET model = fitted, last_refreshed_at = refreshed
        WHERE segmentations.name = s.name;
        PERFORM segment._prune_metrics(s.name);
        t_history := extract(epoch FROM clock_timestamp() - phase) * 1000;

        -- swap, last: the exclusive lock lasts until commit
        phase := clock_timestamp();
        SELECT array_agg(i.inhrelid::regclass) INTO old_parts FROM pg_inherits AS i WHERE i.inhparent = s.target_table;
        PERFORM segment._lock_for_swap(s.target_table);
        PERFORM segment._prune_history(s);
        IF old_parts IS NOT NULL THEN
            FOR i IN 1..array_length(old_parts, 1) LOOP
                EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', s.target_table, old_parts[i]);
                EXECUTE format('DROP TABLE %s', old_parts[i]);
            END LOOP;
        END IF;
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', s.target_table, new_part);
        t_swap := extract(epoch FROM clock_timestamp() - phase) * 1000;

        DROP TABLE pg_temp.segment_facts;
        IF s.carts IS NOT NULL THEN
            DROP TABLE pg_temp.segment_carts;
        END IF;
        PERFORM set_config('work_mem', saved_work_mem, true);
        PERFORM set_config('role', saved_role, true);
        UPDATE segment.runs SET finished_at = clock_timestamp(), status = 'succeeded', rows = produced,
               orders_scanned = scanned, rows_skipped = skipped, scan_method = method, scan_ms = t_scan,
               cluster_ms = t_cluster, score_ms = t_score, history_ms = t_history, swap_ms = t_swap
        WHERE run_id = run;
        RETURN produced;
    EXCEPTION WHEN OTHERS THEN
        -- the run's own rows die with this transaction: a worker records it
        GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
        BEGIN
            PERFORM segment._log_run(s.name, started, CASE WHEN already_running THEN 'skipped' ELSE 'failed' END, failure);
        EXCEPTION WHEN OTHERS THEN
            NULL;               -- the refresh's own error matters more
        END;
        RAISE;
    END;
END $$;
COMMENT ON FUNCTION segment.refresh(text) IS
    'Rebuilds the segment table of a segmentation you own and swaps it in atomically; appends a history snapshot, recomputes the metrics and logs the run. Returns the number of customers. Fails at once if the segmentation is being refreshed by another session.';
