-- Segmentations: the catalog, create_segmentation() and drop_segmentation().
--
-- A segmentation is an order table registered once, with the columns and
-- parameters of its refresh.  Its target is a table partitioned by the
-- customer column with a single DEFAULT partition holding the current
-- contents: a refresh builds a new partition and swaps it in (refresh.sql).
-- Every catalog row belongs to the role that created it; row-level security
-- shows each role (and its members) only its own, superusers all of them.

CREATE FUNCTION segment._check_time_zone(zone text) RETURNS bool
    AS 'MODULE_PATHNAME', 'check_time_zone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._check_time_zone(text) IS
    'Internal: true for a time zone name PostgreSQL knows, else an error naming it.';

-- segment.timezone when set (the zone of the schedules), else the session's TimeZone
CREATE FUNCTION segment._default_time_zone() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(nullif(current_setting('segment.timezone', true), ''), current_setting('TimeZone')) $$;
COMMENT ON FUNCTION segment._default_time_zone() IS
    'Internal: the time_zone of a new segmentation -- segment.timezone when set, else the session''s TimeZone.';

CREATE TABLE segment.segmentations (
    name text PRIMARY KEY CHECK (name <> '' AND octet_length(name) <= 48),
    owner regrole NOT NULL DEFAULT quote_ident(current_user)::regrole,   -- (a name as an identifier: "A b" stays A b)
    orders regclass NOT NULL,
    customer_column name NOT NULL,
    time_column name NOT NULL,
    amount_column name NOT NULL,
    order_id_column name,
    bins int4 NOT NULL DEFAULT 5 CHECK (bins BETWEEN 2 AND 100),
    clusters int4 NOT NULL DEFAULT 6 CHECK (clusters BETWEEN 0 AND 1000),
    lapse_after interval NOT NULL DEFAULT '180 days' CHECK (lapse_after > '0'),
    vip_share float8 NOT NULL DEFAULT 0.05 CHECK (vip_share > 0 AND vip_share < 1),
    lookback interval CHECK (lookback > '0'),
    as_of timestamptz,
    target_table regclass NOT NULL,
    history_table regclass NOT NULL,
    history_refreshes int4 NOT NULL DEFAULT 10 CHECK (history_refreshes BETWEEN 2 AND 1000),
    touchpoints regclass,
    touch_customer_column name,
    touch_time_column name,
    touch_channel_column name,
    spend regclass,
    spend_channel_column name,
    spend_day_column name,
    spend_cost_column name,
    carts regclass,
    cart_customer_column name,
    cart_time_column name,
    attribution_lookback interval NOT NULL DEFAULT '30 days' CHECK (attribution_lookback > '0'),
    half_life interval NOT NULL DEFAULT '7 days' CHECK (half_life > '0'),
    attribution_period interval CHECK (attribution_period > '0'),
    model segment.kmeans_model,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_refreshed_at timestamptz,
    -- added in 0.2.0 (an update appends them: the same order here)
    max_customer_loss float8 NOT NULL DEFAULT 0.5 CHECK (max_customer_loss >= 0 AND max_customer_loss <= 1),
    time_zone text NOT NULL DEFAULT segment._default_time_zone() CHECK (segment._check_time_zone(time_zone)),
    incremental text NOT NULL DEFAULT 'off' CHECK (incremental IN ('off', 'triggers', 'watermark')),
    watermark_column name,
    full_refresh_every interval CHECK (full_refresh_every > '0'),
    incremental_basis jsonb,
    last_full_refresh_at timestamptz,
    predict boolean NOT NULL DEFAULT false,
    horizon interval NOT NULL DEFAULT '365 days' CHECK (horizon >= '1 day' AND horizon <= '100 years'),
    discount_rate float8 NOT NULL DEFAULT 0.1 CHECK (discount_rate >= 0 AND discount_rate <= 10),
    bgnbd_model segment.bgnbd_model,
    gammagamma_model segment.gammagamma_model,
    UNIQUE (target_table),
    UNIQUE (history_table)
);
COMMENT ON TABLE segment.segmentations IS
    'One row per segmentation: the registered sources, columns and parameters, the target and history tables, and the k-means model of the last refresh. Each role sees only its own rows (superusers all).';
COMMENT ON COLUMN segment.segmentations.name IS 'Name of the segmentation.';
COMMENT ON COLUMN segment.segmentations.owner IS 'Role that created it; only it (or a member, or a superuser) may refresh, change or drop it.';
COMMENT ON COLUMN segment.segmentations.orders IS 'Order table or view: one row per order (or order line).';
COMMENT ON COLUMN segment.segmentations.customer_column IS 'Customer column of the orders.';
COMMENT ON COLUMN segment.segmentations.time_column IS 'Order time column (timestamptz, timestamp or date).';
COMMENT ON COLUMN segment.segmentations.amount_column IS 'Order amount column (numeric, integer or float); refunds are negative.';
COMMENT ON COLUMN segment.segmentations.order_id_column IS 'Optional order id: frequency then counts distinct order ids.';
COMMENT ON COLUMN segment.segmentations.bins IS 'Number of score bins (2..100); named RFM segments need 5.';
COMMENT ON COLUMN segment.segmentations.clusters IS 'k of the k-means clusters (0 = no clustering).';
COMMENT ON COLUMN segment.segmentations.lapse_after IS 'A customer without an order for longer than this is Lapsed.';
COMMENT ON COLUMN segment.segmentations.vip_share IS 'Share of customers, by net revenue, that are High-Value VIP when not lapsed.';
COMMENT ON COLUMN segment.segmentations.lookback IS 'Only orders within this interval before as_of count (NULL = all history).';
COMMENT ON COLUMN segment.segmentations.as_of IS 'Analysis time (NULL = the time of each refresh); later orders are ignored.';
COMMENT ON COLUMN segment.segmentations.target_table IS 'The segment table the refresh maintains.';
COMMENT ON COLUMN segment.segmentations.history_table IS 'The log of segment membership changes: one partition per refresh, with the customers whose segment of a type changed.';
COMMENT ON COLUMN segment.segmentations.history_refreshes IS 'Number of refreshes whose changes the history table keeps.';
COMMENT ON COLUMN segment.segmentations.touchpoints IS 'Optional marketing touches (customer, time, channel), for attribution.';
COMMENT ON COLUMN segment.segmentations.touch_customer_column IS 'Customer column of the touchpoints.';
COMMENT ON COLUMN segment.segmentations.touch_time_column IS 'Time column of the touchpoints.';
COMMENT ON COLUMN segment.segmentations.touch_channel_column IS 'Channel column of the touchpoints.';
COMMENT ON COLUMN segment.segmentations.spend IS 'Optional marketing spend (channel, day, cost), for attribution.';
COMMENT ON COLUMN segment.segmentations.spend_channel_column IS 'Channel column of the spend.';
COMMENT ON COLUMN segment.segmentations.spend_day_column IS 'Day column of the spend.';
COMMENT ON COLUMN segment.segmentations.spend_cost_column IS 'Cost column of the spend.';
COMMENT ON COLUMN segment.segmentations.carts IS 'Optional cart events (customer, time), for Cart Abandoners.';
COMMENT ON COLUMN segment.segmentations.cart_customer_column IS 'Customer column of the carts.';
COMMENT ON COLUMN segment.segmentations.cart_time_column IS 'Time column of the carts.';
COMMENT ON COLUMN segment.segmentations.attribution_lookback IS 'Touches this long before an order can be credited with it.';
COMMENT ON COLUMN segment.segmentations.half_life IS 'Half-life of the time-decay attribution model.';
COMMENT ON COLUMN segment.segmentations.attribution_period IS 'Attribution covers the orders and spend of this interval before as_of, within the segmentation window (NULL = the whole window).';
COMMENT ON COLUMN segment.segmentations.max_customer_loss IS 'A refresh that would lose more than this share of the customers of the last one fails and keeps the current table, unless forced (1 = never refuse).';
COMMENT ON COLUMN segment.segmentations.time_zone IS 'Time zone in which refreshes read the source times that have none (timestamp, date): every session and the scheduler then build the same table. Default: segment.timezone, else the creating session''s TimeZone.';
COMMENT ON COLUMN segment.segmentations.incremental IS 'off: every refresh reads all the orders; triggers: triggers on the orders table record the orders written, and a refresh adds the inserted ones to the last facts and recomputes the customers of updated or deleted ones; watermark: a refresh adds the orders whose watermark_column is above the last refresh''s mark (append-only tables). Either is full when it cannot prove the rest unchanged (job_runs.full_reason says why).';
COMMENT ON COLUMN segment.segmentations.watermark_column IS 'With incremental = ''watermark'': a column of the orders that grows with every insert -- an id from a sequence without cache, or the time of the insert (now(), clock_timestamp()).';
COMMENT ON COLUMN segment.segmentations.full_refresh_every IS 'With incremental refreshes, a refresh is full when this long has passed since the last full one (NULL: only when needed).';
COMMENT ON COLUMN segment.segmentations.incremental_basis IS 'What the facts of the last refresh depend on (orders, their files, columns, as_of, lookback, time zone, capture triggers), recorded by the refresh: an incremental refresh needs the same.';
COMMENT ON COLUMN segment.segmentations.last_full_refresh_at IS 'refreshed_at of the last full refresh.';
COMMENT ON COLUMN segment.segmentations.predict IS 'Whether refreshes fit BG/NBD and Gamma-Gamma to the customers'' purchase days and write each customer''s summary and predictions (p_alive, p_purchase, expected_orders, predicted_clv, expected_next_order_at, churn_risk, predictive_segment) into the segment table.';
COMMENT ON COLUMN segment.segmentations.horizon IS 'With predict: the time ahead that expected_orders and predicted_clv cover (whole days, 1 day to 100 years).';
COMMENT ON COLUMN segment.segmentations.discount_rate IS 'With predict: the yearly rate at which predicted_clv discounts future value, applied per 30-day period (0 to 10; 0.1 = 10% a year).';
COMMENT ON COLUMN segment.segmentations.bgnbd_model IS 'With predict: the BG/NBD model of the last refresh, its rates per day (NULL when the customers were too few to fit).';
COMMENT ON COLUMN segment.segmentations.gammagamma_model IS 'With predict: the Gamma-Gamma model of the last refresh (NULL when the repeat buyers were too few to fit).';
COMMENT ON COLUMN segment.segmentations.model IS 'k-means model of the last refresh; the next one keeps its cluster numbers.';
COMMENT ON COLUMN segment.segmentations.created_at IS 'When the segmentation was created.';
COMMENT ON COLUMN segment.segmentations.last_refreshed_at IS 'refreshed_at of the last successful refresh.';

ALTER TABLE segment.segmentations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_segmentations ON segment.segmentations
    USING (pg_has_role(current_user, owner, 'MEMBER'))
    WITH CHECK (pg_has_role(current_user, owner, 'MEMBER'));
-- Owners change parameters with UPDATE; the name, the owner, the tables a
-- segmentation made and what its refreshes record are fixed.  Every row
-- written is checked (segment._check_row).  No table-wide UPDATE or DELETE
-- on the shared tables: either would also let anyone LOCK them in ACCESS
-- EXCLUSIVE mode.
GRANT SELECT, INSERT ON segment.segmentations TO PUBLIC;
GRANT UPDATE (orders, customer_column, time_column, amount_column, order_id_column, bins, clusters,
              lapse_after, vip_share, lookback, as_of, history_refreshes, touchpoints,
              touch_customer_column, touch_time_column, touch_channel_column, spend,
              spend_channel_column, spend_day_column, spend_cost_column, carts, cart_customer_column,
              cart_time_column, attribution_lookback, half_life, attribution_period, max_customer_loss, time_zone,
              incremental, watermark_column, full_refresh_every, predict, horizon, discount_rate)
    ON segment.segmentations TO PUBLIC;

-- The run log: one row per refresh.
CREATE TABLE segment.runs (
    run_id bigserial PRIMARY KEY,
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    rows int8,
    orders_scanned int8,
    rows_skipped int8,
    error_message text,
    scan_method text CHECK (scan_method IN ('fast', 'parallel', 'sql')),
    scan_workers int4,
    scan_ms float8,
    score_ms float8,
    cluster_ms float8,
    history_ms float8,
    attribution_ms float8,
    touches_skipped int8,
    swap_ms float8,
    scheduled_for timestamptz,
    scan_partitions int4,
    refresh_kind text CHECK (refresh_kind IN ('full', 'incremental')),
    full_reason text,
    customers_changed int8,
    predict_ms float8,
    warning text
);
CREATE INDEX ON segment.runs (segmentation, started_at);
COMMENT ON TABLE segment.runs IS 'The run log behind segment.job_runs: one row per refresh, with its phase times.';
ALTER TABLE segment.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_runs ON segment.runs
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
-- written only by the refresh, as the extension's owner (refresh_entry.c)
GRANT SELECT ON segment.runs TO PUBLIC;     -- rows go with their segmentation (cascade)

-- Per-segment metrics and migrations of the last refresh, kept for the views.
CREATE TABLE segment.summaries (
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    refreshed_at timestamptz NOT NULL,
    segment_type text NOT NULL,
    segment text NOT NULL,
    customers int8 NOT NULL,
    customer_share float8 NOT NULL,
    orders int8 NOT NULL,
    revenue numeric NOT NULL,
    aov numeric,
    avg_recency_days float8,
    avg_frequency float8,
    avg_monetary numeric,
    repeat_rate float8,
    churn_rate float8,
    historical_clv numeric,
    predicted_clv numeric
);
CREATE INDEX ON segment.summaries (segmentation);
COMMENT ON TABLE segment.summaries IS 'Metrics per segment of the last refresh of each segmentation; read through segment.segment_summary.';
ALTER TABLE segment.summaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_summaries ON segment.summaries
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.summaries TO PUBLIC;

CREATE TABLE segment.migrations (
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    segment_type text NOT NULL,
    from_segment text NOT NULL,
    to_segment text NOT NULL,
    customers int8 NOT NULL,
    from_refreshed_at timestamptz NOT NULL,
    to_refreshed_at timestamptz NOT NULL
);
CREATE INDEX ON segment.migrations (segmentation);
COMMENT ON TABLE segment.migrations IS 'Customers moving between segments from the previous refresh to the last one; read through segment.segment_migration.';
ALTER TABLE segment.migrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_migrations ON segment.migrations
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.migrations TO PUBLIC;

-- Attribution by segment of the last refresh (written by segment._attribute).
CREATE TABLE segment.attributions (
    segmentation text NOT NULL REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    refreshed_at timestamptz NOT NULL,
    segment_type text NOT NULL,
    segment text NOT NULL,
    model text NOT NULL,
    channel text NOT NULL,
    conversions float8 NOT NULL,
    revenue numeric NOT NULL,
    first_conversions float8 NOT NULL,
    spend numeric NOT NULL
);
CREATE INDEX ON segment.attributions (segmentation);
COMMENT ON TABLE segment.attributions IS 'Attributed conversions, revenue and spend per segment, model and channel of the last refresh of each segmentation with touchpoints; read through segment.attribution_by_segment.';
ALTER TABLE segment.attributions ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_attributions ON segment.attributions
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.attributions TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('segment.attributions', '');

-- Lifecycle rules: the first rule whose condition holds names the customer.
CREATE TABLE segment.lifecycle_rules (
    position int4 PRIMARY KEY,
    segment text NOT NULL CHECK (segment <> ''),
    condition text NOT NULL
);
COMMENT ON TABLE segment.lifecycle_rules IS
    'Lifecycle segment rules, tried in position order; the first whose condition (an SQL boolean over recency_days, frequency, monetary, is_vip, is_lapsed, has_abandoned_cart, is_prospect) holds names the customer; none: ''Other''. Editable by superusers; pg_dump does not carry edits.';
COMMENT ON COLUMN segment.lifecycle_rules.position IS 'Order in which rules are tried.';
COMMENT ON COLUMN segment.lifecycle_rules.segment IS 'Lifecycle segment name.';
COMMENT ON COLUMN segment.lifecycle_rules.condition IS 'SQL boolean expression over the customer''s facts.';
INSERT INTO segment.lifecycle_rules VALUES
    (10, 'Prospect', 'is_prospect'),
    (20, 'High-Value VIP', 'is_vip AND NOT is_lapsed'),
    (30, 'Lapsed', 'is_lapsed'),
    (40, 'Cart Abandoner', 'has_abandoned_cart'),
    (50, 'First-Time Buyer', 'frequency = 1'),
    (60, 'Repeat Customer', 'frequency >= 2');
GRANT SELECT ON segment.lifecycle_rules TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('segment.segmentations', '');
SELECT pg_catalog.pg_extension_config_dump('segment.runs', '');
SELECT pg_catalog.pg_extension_config_dump('segment.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('segment.summaries', '');
SELECT pg_catalog.pg_extension_config_dump('segment.migrations', '');

-- Checks shared by create_segmentation and refresh -------------------------

-- The attribute of a column, or a clear error.
CREATE FUNCTION segment._column(rel regclass, col name, role text, OUT attnum int2, OUT typid regtype)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM segment._check_exists(rel, role);
    SELECT a.attnum, a.atttypid::regtype INTO attnum, typid
    FROM pg_attribute AS a
    WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column % of % does not exist', quote_ident(col), rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('It is the %s column of the segmentation.', role),
                  HINT = format('Name an existing column of %s.', rel);
    END IF;
END $$;
COMMENT ON FUNCTION segment._column(regclass, name, text) IS
    'Internal: the number and type of a column, or an error naming the relation and the column''s role.';

CREATE FUNCTION segment._check_type(rel regclass, col name, role text, allowed regtype[])
    RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t regtype := (segment._column(rel, col, role)).typid;
BEGIN
    IF NOT t = ANY (allowed) THEN
        RAISE EXCEPTION 'column % of % has type %, which cannot serve as the % column', quote_ident(col), rel, t, role
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = format('The %s column must be of type %s.', role, array_to_string(allowed, ', ')),
                  HINT = 'Register a view that casts the column.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_type(regclass, name, text, regtype[]) IS
    'Internal: error unless the column exists and has one of the allowed types.';

CREATE FUNCTION segment._check_exists(rel regclass, role text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = rel) THEN
        RAISE EXCEPTION 'the % relation of this segmentation no longer exists', role
            USING ERRCODE = 'undefined_table',
                  DETAIL = 'It has been dropped since the segmentation was registered.',
                  HINT = 'Drop the segmentation and create it again on an existing relation.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_exists(regclass, text) IS
    'Internal: error unless a registered relation still exists.';

CREATE FUNCTION segment._check_readable(rel regclass, role text, who regrole DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM segment._check_exists(rel, role);
    who := coalesce(who, quote_ident(current_user)::regrole);
    IF NOT has_table_privilege(who, rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for the % relation %', role, rel
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s has no SELECT privilege on %s.', who, rel),
                  HINT = format('Ask the owner of %s for GRANT SELECT.', rel);
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_readable(regclass, text, regrole) IS
    'Internal: error unless the role (by default the current one) may read the relation.';

-- Is there a segmentation of that name, whoever owns it?  (Row-level
-- security hides other roles' rows; this tells "not yours" from "none".)
CREATE FUNCTION segment._segmentation_owner(segmentation text) RETURNS regrole
    AS 'MODULE_PATHNAME', 'segmentation_owner'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION segment._segmentation_owner(text) IS
    'Internal: the owner of a segmentation, visible to everyone so that errors can say "not yours".';

-- The caller's own segmentation, locked against concurrent changes, or an error.
CREATE FUNCTION segment._own_segmentation(segmentation text) RETURNS segment.segmentations
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s segment.segmentations;
    owner regrole;
BEGIN
    SELECT * INTO s FROM segment.segmentations WHERE name = segmentation;
    IF FOUND THEN
        RETURN s;
    END IF;
    owner := segment._segmentation_owner(segmentation);
    IF owner IS NULL THEN
        RAISE EXCEPTION 'segmentation "%" does not exist', segmentation
            USING ERRCODE = 'undefined_object',
                  HINT = 'See SELECT name FROM segment.segmentations for yours.';
    END IF;
    RAISE EXCEPTION 'must be the owner of segmentation "%"', segmentation
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('It belongs to role %s.', owner),
              HINT = format('Run this as %s, as a member of it, or as a superuser.', owner);
END $$;
COMMENT ON FUNCTION segment._own_segmentation(text) IS
    'Internal: the catalog row of a segmentation the current role owns, or an error saying whether it does not exist or is not yours.';

-- A customer column of touchpoints or carts must have the orders' customer
-- type, or one that converts to it without fail (integers to integers,
-- strings to strings).
CREATE FUNCTION segment._check_same_customers(orders regclass, customer_column name, rel regclass, col name,
                                              role text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    want regtype;
    got regtype;
BEGIN
    IF rel IS NULL THEN
        RETURN;
    END IF;
    want := (segment._column(orders, customer_column, 'customer')).typid;
    got := (segment._column(rel, col, role)).typid;
    IF want <> got
       AND NOT (want IN ('int2', 'int4', 'int8') AND got IN ('int2', 'int4', 'int8'))
       AND NOT ((SELECT typcategory FROM pg_type WHERE oid = want) = 'S' AND (SELECT typcategory FROM pg_type WHERE oid = got) = 'S') THEN
        RAISE EXCEPTION 'the % column % of % has type %, but the customer column of the orders has type %', role, quote_ident(col), rel, got, want
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = 'A refresh matches the customers of every source, so they must be of one type.',
                  HINT = format('Register a view of %s that casts %s to %s.', rel, quote_ident(col), want);
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_same_customers(regclass, name, regclass, name, text) IS
    'Internal: error unless the customer column of a touchpoints or carts relation has the type of the orders'' customers (or an integer or string type like it).';

-- The checks of every row written into the catalog, by create_segmentation
-- or by an owner's UPDATE: the sources readable by the owner with the
-- columns the refresh reads, and the target and history the segmentation's
-- own.  The refresh runs them again, as the sources may change.
CREATE FUNCTION segment._check_sources(s segment.segmentations) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    time_types regtype[] := '{timestamptz,timestamp,date}';
    amount_types regtype[] := '{numeric,int2,int4,int8,float4,float8}';
BEGIN
    PERFORM segment._check_readable(s.orders, 'orders', s.owner);
    PERFORM segment._column(s.orders, s.customer_column, 'customer');
    PERFORM segment._check_type(s.orders, s.time_column, 'time', time_types);
    PERFORM segment._check_type(s.orders, s.amount_column, 'amount', amount_types);
    IF s.order_id_column IS NOT NULL THEN
        PERFORM segment._column(s.orders, s.order_id_column, 'order id');
    END IF;
    IF s.touchpoints IS NOT NULL THEN
        PERFORM segment._check_readable(s.touchpoints, 'touchpoints', s.owner);
        PERFORM segment._column(s.touchpoints, s.touch_customer_column, 'touch customer');
        PERFORM segment._check_type(s.touchpoints, s.touch_time_column, 'touch time', time_types);
        PERFORM segment._column(s.touchpoints, s.touch_channel_column, 'touch channel');
    END IF;
    IF s.spend IS NOT NULL THEN
        PERFORM segment._check_readable(s.spend, 'spend', s.owner);
        PERFORM segment._column(s.spend, s.spend_channel_column, 'spend channel');
        PERFORM segment._check_type(s.spend, s.spend_day_column, 'spend day', time_types);
        PERFORM segment._check_type(s.spend, s.spend_cost_column, 'spend cost', amount_types);
    END IF;
    IF s.carts IS NOT NULL THEN
        PERFORM segment._check_readable(s.carts, 'carts', s.owner);
        PERFORM segment._column(s.carts, s.cart_customer_column, 'cart customer');
        PERFORM segment._check_type(s.carts, s.cart_time_column, 'cart time', time_types);
    END IF;
    -- the segment table is partitioned by the customer column it was made with
    IF NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                   WHERE a.attrelid = s.target_table AND a.attname = s.customer_column
                     AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'the segment table % has no column %', s.target_table, quote_ident(s.customer_column)
            USING ERRCODE = 'invalid_column_reference',
                  DETAIL = 'The customer column of a segmentation keeps the name it had when the segmentation was created.',
                  HINT = 'Register a view that renames the customer column of the orders, or create another segmentation.';
    END IF;
    -- customers of the touchpoints and carts are compared with the orders' as the same type
    PERFORM segment._check_same_customers(s.orders, s.customer_column, s.touchpoints, s.touch_customer_column, 'touch customer');
    PERFORM segment._check_same_customers(s.orders, s.customer_column, s.carts, s.cart_customer_column, 'cart customer');
END $$;
COMMENT ON FUNCTION segment._check_sources(segment.segmentations) IS
    'Internal: error unless the segmentation''s owner may read its sources, their columns have the types the refresh reads, and its segment table has its customer column.';

CREATE FUNCTION segment._check_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = NEW.target_table AND relkind = 'p' AND relowner = NEW.owner)
       OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = NEW.history_table AND relkind = 'p' AND relowner = NEW.owner) THEN
        RAISE EXCEPTION 'the target and history tables of a segmentation must be partitioned tables of its owner'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Segmentation "%s" names %s and %s, owned by %s.', NEW.name, NEW.target_table,
                                  NEW.history_table, NEW.owner),
                  HINT = 'Create segmentations with segment.create_segmentation().';
    END IF;
    IF NEW.incremental IS NULL OR NEW.incremental NOT IN ('off', 'triggers', 'watermark') THEN
        RAISE EXCEPTION 'incremental must be ''off'', ''triggers'' or ''watermark''' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('incremental = %s was given.', coalesce(quote_literal(NEW.incremental), 'NULL')),
            HINT = '''triggers'' records the orders written with triggers on the orders table; ''watermark'' reads the orders above the last refresh''s value of watermark_column; ''off'' reads every order at each refresh.';
    END IF;
    IF NEW.incremental = 'watermark' THEN
        PERFORM segment._check_watermark(NEW);
    END IF;
    IF NEW.full_refresh_every <= '0' THEN
        RAISE EXCEPTION 'full_refresh_every must be positive' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('full_refresh_every = %s was given.', NEW.full_refresh_every),
            HINT = 'NULL makes a refresh full only when it must be; ''7 days'' also once a week.';
    END IF;
    PERFORM segment._check_sources(NEW);
    RETURN NEW;
END $$;
COMMENT ON FUNCTION segment._check_row() IS
    'Internal: the trigger that checks every row written into segment.segmentations.';
-- (not when a refresh records its model and time: it has just checked)
CREATE TRIGGER check_row
    BEFORE INSERT OR UPDATE OF orders, customer_column, time_column, amount_column, order_id_column, touchpoints,
        touch_customer_column, touch_time_column, touch_channel_column, spend, spend_channel_column,
        spend_day_column, spend_cost_column, carts, cart_customer_column, cart_time_column, incremental,
        watermark_column, full_refresh_every
    ON segment.segmentations
    FOR EACH ROW EXECUTE FUNCTION segment._check_row();

-- create_segmentation ----------------------------------------------------

-- The body of create_segmentation, with a search_path of its own; its
-- wrapper passes the caller's current schema (for a target table named
-- without one) and nothing else of the caller's path reaches it.
CREATE FUNCTION segment._create_segmentation(
    name text,
    orders regclass,
    customer_column name,
    time_column name,
    amount_column name,
    order_id_column name DEFAULT NULL,
    bins int4 DEFAULT 5,
    clusters int4 DEFAULT 6,
    lapse_after interval DEFAULT '180 days',
    vip_share float8 DEFAULT 0.05,
    lookback interval DEFAULT NULL,
    as_of timestamptz DEFAULT NULL,
    target_table text DEFAULT NULL,
    touchpoints regclass DEFAULT NULL,
    touch_customer_column name DEFAULT NULL,
    touch_time_column name DEFAULT NULL,
    touch_channel_column name DEFAULT 'channel',
    spend regclass DEFAULT NULL,
    spend_channel_column name DEFAULT 'channel',
    spend_day_column name DEFAULT 'day',
    spend_cost_column name DEFAULT 'cost',
    carts regclass DEFAULT NULL,
    cart_customer_column name DEFAULT NULL,
    cart_time_column name DEFAULT NULL,
    attribution_lookback interval DEFAULT '30 days',
    half_life interval DEFAULT '7 days',
    history_refreshes int4 DEFAULT 10,
    attribution_period interval DEFAULT NULL,
    max_customer_loss float8 DEFAULT 0.5,
    default_schema name DEFAULT 'public',
    time_zone text DEFAULT NULL,
    incremental text DEFAULT 'off',
    full_refresh_every interval DEFAULT NULL,
    watermark_column name DEFAULT NULL,
    predict boolean DEFAULT false,
    horizon interval DEFAULT '365 days',
    discount_rate float8 DEFAULT 0.1)
RETURNS int8
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target_parts text[];
    target_schema name;
    target_name name;
    customer_type text;
    target regclass;
    history regclass;
    time_types regtype[] := '{timestamptz,timestamp,date}';
    amount_types regtype[] := '{numeric,int2,int4,int8,float4,float8}';
BEGIN
    IF name IS NULL OR name = '' OR octet_length(name) > 48 THEN
        RAISE EXCEPTION 'a segmentation name must have 1 to 48 bytes'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The name %L was given.', name),
                  HINT = 'Choose a short name such as ''customers''.';
    END IF;
    IF segment._segmentation_owner(name) IS NOT NULL THEN
        RAISE EXCEPTION 'segmentation "%" already exists', name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = format('It belongs to role %s.', segment._segmentation_owner(name)),
                  HINT = 'Choose another name, or drop it first with segment.drop_segmentation().';
    END IF;
    IF orders IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'orders, customer_column, time_column and amount_column are required'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the order relation and the names of its customer, time and amount columns.';
    END IF;
    IF bins IS NULL OR bins NOT BETWEEN 2 AND 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('bins = %s was given.', bins), HINT = 'Use 5 for the named RFM segments.';
    END IF;
    IF clusters IS NULL OR clusters NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'clusters must be between 0 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('clusters = %s was given.', clusters), HINT = 'Use 0 for no clustering.';
    END IF;
    IF lapse_after IS NULL OR lapse_after <= '0' THEN
        RAISE EXCEPTION 'lapse_after must be a positive interval' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('lapse_after = %s was given.', lapse_after), HINT = 'For example ''180 days''.';
    END IF;
    IF vip_share IS NULL OR NOT (vip_share > 0 AND vip_share < 1) THEN
        RAISE EXCEPTION 'vip_share must be between 0 and 1 (exclusive)' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('vip_share = %s was given.', vip_share), HINT = 'For example 0.05 for the top 5%.';
    END IF;
    IF lookback <= '0' THEN
        RAISE EXCEPTION 'lookback must be a positive interval or NULL' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('lookback = %s was given.', lookback), HINT = 'NULL counts all history.';
    END IF;
    IF history_refreshes IS NULL OR history_refreshes NOT BETWEEN 2 AND 1000 THEN
        RAISE EXCEPTION 'history_refreshes must be between 2 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('history_refreshes = %s was given.', history_refreshes),
            HINT = 'Two snapshots are the least that segment_migration needs.';
    END IF;
    IF attribution_lookback IS NULL OR attribution_lookback <= '0' OR half_life IS NULL OR half_life <= '0' THEN
        RAISE EXCEPTION 'attribution_lookback and half_life must be positive intervals'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example ''30 days'' and ''7 days''.';
    END IF;
    IF max_customer_loss IS NULL OR NOT (max_customer_loss >= 0 AND max_customer_loss <= 1) THEN
        RAISE EXCEPTION 'max_customer_loss must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('max_customer_loss = %s was given.', max_customer_loss),
            HINT = '0.5 refuses a refresh that loses half the customers; 1 never refuses.';
    END IF;
    IF predict IS NULL OR horizon IS NULL OR horizon < '1 day' OR horizon > '100 years'
       OR discount_rate IS NULL OR NOT (discount_rate >= 0 AND discount_rate <= 10) THEN
        RAISE EXCEPTION 'predict must be true or false, horizon between 1 day and 100 years and discount_rate between 0 and 10'
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('predict = %s, horizon = %s and discount_rate = %s were given.', coalesce(predict::text, 'NULL'),
                            coalesce(horizon::text, 'NULL'), coalesce(discount_rate::text, 'NULL')),
            HINT = 'For a year ahead at 10% a year: predict => true, horizon => ''365 days'', discount_rate => 0.1.';
    END IF;
    IF attribution_period <= '0' THEN
        RAISE EXCEPTION 'attribution_period must be a positive interval or NULL' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('attribution_period = %s was given.', attribution_period),
            HINT = 'NULL attributes the orders of the whole segmentation window; ''90 days'' the last quarter''s.';
    END IF;

    -- the sources: readable, with the columns and types needed
    PERFORM segment._check_readable(orders, 'orders');
    customer_type := format_type((SELECT atttypid FROM pg_attribute
                                  WHERE attrelid = orders
                                    AND attnum = (segment._column(orders, customer_column, 'customer')).attnum),
                                 (SELECT atttypmod FROM pg_attribute
                                  WHERE attrelid = orders
                                    AND attnum = (segment._column(orders, customer_column, 'customer')).attnum));
    PERFORM segment._check_type(orders, time_column, 'time', time_types);
    PERFORM segment._check_type(orders, amount_column, 'amount', amount_types);
    IF order_id_column IS NOT NULL THEN
        PERFORM segment._column(orders, order_id_column, 'order id');
    END IF;
    IF touchpoints IS NOT NULL THEN
        PERFORM segment._check_readable(touchpoints, 'touchpoints');
        PERFORM segment._column(touchpoints, coalesce(touch_customer_column, customer_column), 'touch customer');
        PERFORM segment._check_type(touchpoints, coalesce(touch_time_column, time_column), 'touch time', time_types);
        PERFORM segment._column(touchpoints, touch_channel_column, 'touch channel');
    END IF;
    IF spend IS NOT NULL THEN
        PERFORM segment._check_readable(spend, 'spend');
        PERFORM segment._column(spend, spend_channel_column, 'spend channel');
        PERFORM segment._check_type(spend, spend_day_column, 'spend day', time_types);
        PERFORM segment._check_type(spend, spend_cost_column, 'spend cost', amount_types);
    END IF;
    IF carts IS NOT NULL THEN
        PERFORM segment._check_readable(carts, 'carts');
        PERFORM segment._column(carts, coalesce(cart_customer_column, customer_column), 'cart customer');
        PERFORM segment._check_type(carts, coalesce(cart_time_column, time_column), 'cart time', time_types);
    END IF;

    -- the target: a new table, never one that exists
    target_parts := CASE WHEN target_table IS NULL THEN ARRAY['public', name || '_segments']
                         ELSE parse_ident(target_table) END;
    IF array_length(target_parts, 1) = 1 THEN
        target_parts := ARRAY[default_schema::text] || target_parts;
    END IF;
    IF array_length(target_parts, 1) <> 2 OR target_parts[1] IS NULL THEN
        RAISE EXCEPTION 'invalid target table name "%"', target_table USING ERRCODE = 'invalid_name',
            HINT = 'Give a table name, optionally schema-qualified: ''analytics.customer_segments''.';
    END IF;
    target_schema := target_parts[1];
    target_name := target_parts[2];
    IF octet_length(target_name) > 52 THEN
        RAISE EXCEPTION 'target table name "%" is too long', target_name USING ERRCODE = 'name_too_long',
            DETAIL = 'Its partitions and history take names of up to 63 bytes built from it.',
            HINT = 'Use a target table name of at most 52 bytes.';
    END IF;
    IF to_regclass(format('%I.%I', target_schema, target_name)) IS NOT NULL
       OR to_regclass(format('%I.%I', target_schema, target_name || '_history')) IS NOT NULL THEN
        RAISE EXCEPTION 'relation %.% already exists', quote_ident(target_schema),
            quote_ident(CASE WHEN to_regclass(format('%I.%I', target_schema, target_name)) IS NOT NULL
                             THEN target_name ELSE target_name || '_history' END)
            USING ERRCODE = 'duplicate_table',
                  DETAIL = 'A segmentation creates its target table and history table and never writes into an existing one.',
                  HINT = 'Pass another target_table, or drop or rename the existing relation.';
    END IF;

    EXECUTE format('CREATE TABLE %I.%I (%I %s NOT NULL, recency_days float8, frequency int8, monetary numeric,
                        r_score int4, f_score int4, m_score int4, rfm_code text, rfm_segment text,
                        lifecycle_segment text, cluster int4, first_order_at timestamptz,
                        last_order_at timestamptz, refreshed_at timestamptz NOT NULL)
                    PARTITION BY LIST (%I)',
                   target_schema, target_name, customer_column, customer_type, customer_column);
    target := format('%I.%I', target_schema, target_name)::regclass;
    EXECUTE format('CREATE UNIQUE INDEX ON %s (%I)', target, customer_column);
    EXECUTE format('COMMENT ON TABLE %s IS %L', target,
                   format('Customer segments of segmentation %s, maintained by segment.refresh(): do not write into it.', name));
    EXECUTE format('CREATE TABLE %I.%I (%I %s NOT NULL, segment_type text NOT NULL, from_segment text,
                        to_segment text, refreshed_at timestamptz NOT NULL) PARTITION BY LIST (refreshed_at)',
                   target_schema, target_name || '_history', customer_column, customer_type);
    history := format('%I.%I', target_schema, target_name || '_history')::regclass;
    EXECUTE format('COMMENT ON TABLE %s IS %L', history,
                   format('Changes of segment membership at the last refreshes of segmentation %s, one partition per refresh (see segment.membership_changes).', name));

    INSERT INTO segment.segmentations (name, owner, orders, customer_column, time_column, amount_column,
        order_id_column, bins, clusters, lapse_after, vip_share, lookback, as_of, target_table,
        history_table, history_refreshes, touchpoints, touch_customer_column, touch_time_column,
        touch_channel_column, spend, spend_channel_column, spend_day_column, spend_cost_column,
        carts, cart_customer_column, cart_time_column, attribution_lookback, half_life, attribution_period,
        max_customer_loss, time_zone, incremental, full_refresh_every, watermark_column, predict, horizon,
        discount_rate)
    VALUES (name, quote_ident(current_user)::regrole, orders, customer_column, time_column, amount_column,
        order_id_column, bins, clusters, lapse_after, vip_share, lookback, as_of, target,
        history, history_refreshes, touchpoints,
        CASE WHEN touchpoints IS NOT NULL THEN coalesce(touch_customer_column, customer_column) END,
        CASE WHEN touchpoints IS NOT NULL THEN coalesce(touch_time_column, time_column) END,
        CASE WHEN touchpoints IS NOT NULL THEN touch_channel_column END,
        spend,
        CASE WHEN spend IS NOT NULL THEN spend_channel_column END,
        CASE WHEN spend IS NOT NULL THEN spend_day_column END,
        CASE WHEN spend IS NOT NULL THEN spend_cost_column END,
        carts,
        CASE WHEN carts IS NOT NULL THEN coalesce(cart_customer_column, customer_column) END,
        CASE WHEN carts IS NOT NULL THEN coalesce(cart_time_column, time_column) END,
        attribution_lookback, half_life, attribution_period, max_customer_loss,
        coalesce(time_zone, segment._default_time_zone()), incremental, full_refresh_every, watermark_column,
        predict, horizon, discount_rate);
    RETURN segment.refresh(name);
END $$;
COMMENT ON FUNCTION segment._create_segmentation(text, regclass, name, name, name, name, int4, int4, interval,
    float8, interval, timestamptz, text, regclass, name, name, name, regclass, name, name, name, regclass,
    name, name, interval, interval, int4, interval, float8, name, text, text, interval, name, boolean, interval,
    float8) IS
    'Internal: the body of segment.create_segmentation(), which passes the caller''s current schema; as the caller, with the rights of create_segmentation.';

CREATE FUNCTION segment.create_segmentation(
    name text,
    orders regclass,
    customer_column name,
    time_column name,
    amount_column name,
    order_id_column name DEFAULT NULL,
    bins int4 DEFAULT 5,
    clusters int4 DEFAULT 6,
    lapse_after interval DEFAULT '180 days',
    vip_share float8 DEFAULT 0.05,
    lookback interval DEFAULT NULL,
    as_of timestamptz DEFAULT NULL,
    target_table text DEFAULT NULL,
    touchpoints regclass DEFAULT NULL,
    touch_customer_column name DEFAULT NULL,
    touch_time_column name DEFAULT NULL,
    touch_channel_column name DEFAULT 'channel',
    spend regclass DEFAULT NULL,
    spend_channel_column name DEFAULT 'channel',
    spend_day_column name DEFAULT 'day',
    spend_cost_column name DEFAULT 'cost',
    carts regclass DEFAULT NULL,
    cart_customer_column name DEFAULT NULL,
    cart_time_column name DEFAULT NULL,
    attribution_lookback interval DEFAULT '30 days',
    half_life interval DEFAULT '7 days',
    history_refreshes int4 DEFAULT 10,
    attribution_period interval DEFAULT NULL,
    max_customer_loss float8 DEFAULT 0.5,
    time_zone text DEFAULT NULL,
    incremental text DEFAULT 'off',
    full_refresh_every interval DEFAULT NULL,
    watermark_column name DEFAULT NULL,
    predict boolean DEFAULT false,
    horizon interval DEFAULT '365 days',
    discount_rate float8 DEFAULT 0.1)
RETURNS int8
LANGUAGE sql VOLATILE
-- only qualified names: the caller's search_path picks nothing here
AS $$ SELECT segment._create_segmentation(
    name => name, orders => orders, customer_column => customer_column, time_column => time_column,
    amount_column => amount_column, order_id_column => order_id_column, bins => bins,
    clusters => clusters, lapse_after => lapse_after, vip_share => vip_share, lookback => lookback,
    as_of => as_of, target_table => target_table, touchpoints => touchpoints,
    touch_customer_column => touch_customer_column, touch_time_column => touch_time_column,
    touch_channel_column => touch_channel_column, spend => spend,
    spend_channel_column => spend_channel_column, spend_day_column => spend_day_column,
    spend_cost_column => spend_cost_column, carts => carts,
    cart_customer_column => cart_customer_column, cart_time_column => cart_time_column,
    attribution_lookback => attribution_lookback, half_life => half_life,
    history_refreshes => history_refreshes, attribution_period => attribution_period,
    max_customer_loss => max_customer_loss, default_schema => pg_catalog.current_schema(),
    time_zone => time_zone, incremental => incremental, full_refresh_every => full_refresh_every,
    watermark_column => watermark_column, predict => predict, horizon => horizon,
    discount_rate => discount_rate) $$;
COMMENT ON FUNCTION segment.create_segmentation(text, regclass, name, name, name, name, int4, int4, interval,
    float8, interval, timestamptz, text, regclass, name, name, name, regclass, name, name, name, regclass,
    name, name, interval, interval, int4, interval, float8, text, text, interval, name, boolean, interval, float8) IS
    'Registers an order table as a segmentation, creates its target table (default public.<name>_segments) and history table, and fills them with a first refresh. Returns the number of customers.';

-- The tables of a segmentation, dropped as its owner by drop_segmentation
-- (refresh_entry.c), which then deletes its catalog row: only the tables
-- made for it, even if its row names others.
CREATE FUNCTION segment._drop_tables(name text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = s.target_table AND relkind = 'p' AND relowner = s.owner) THEN
        EXECUTE format('DROP TABLE %s', s.target_table);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = s.history_table AND relkind = 'p' AND relowner = s.owner) THEN
        EXECUTE format('DROP TABLE %s', s.history_table);
    END IF;
    PERFORM segment._drop_capture(s.name, s.orders);
END $$;
COMMENT ON FUNCTION segment._drop_tables(text) IS
    'Internal: drops the target and history tables of a segmentation and its change capture triggers (where it may), as its owner, for drop_segmentation.';
REVOKE ALL ON FUNCTION segment._drop_tables(text) FROM PUBLIC;

CREATE FUNCTION segment.drop_segmentation(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'drop_segmentation'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment.drop_segmentation(text) IS
    'Drops a segmentation you own (or are a member of the owner of): its target and history tables, dropped as its owner, then its metrics, schedule and run log.';
