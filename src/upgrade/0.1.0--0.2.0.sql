-- segment 0.1.0 -> 0.2.0.  The build makes segment--0.1.0--0.2.0.sql of this
-- file, with every function, aggregate and view of 0.2.0 (created or
-- replaced, generated from the sources by scripts/upgrade_routines.pl) in
-- place of the @routines@ line.  Here: what replacing cannot do -- routines
-- dropped or given other arguments, table columns and constraints, rights
-- taken back -- before the routines; triggers on the new functions after.
-- The upgrade test (test/t/009_upgrade.pl) checks that the result equals a
-- fresh install, object for object.
\echo Use "ALTER EXTENSION segment UPDATE TO '0.2.0'" to load this file. \quit

-- Routines gone, or re-signed (their new versions come with the routines).
-- refresh() and drop_segmentation() are C now, running the work as the
-- segmentation's owner; no SECURITY DEFINER function is left.
DROP FUNCTION segment.refresh(text);
DROP FUNCTION segment._refresh(text, bigint);
DROP FUNCTION segment._build_segments(segment.segmentations, regclass, regclass, regclass, regclass, regclass,
                                      timestamptz, timestamptz, float8);
DROP FUNCTION segment._become_owner(regrole);
DROP FUNCTION segment._check_readable(regclass, text);
DROP FUNCTION segment._forget_segmentation(text);
DROP FUNCTION segment._log_run(text, timestamptz, text, text);
DROP FUNCTION segment._prune_metrics(text);
DROP FUNCTION segment.create_segmentation(text, regclass, name, name, name, name, int4, int4, interval, float8,
                                          interval, timestamptz, text, regclass, name, name, name, regclass, name,
                                          name, name, regclass, name, name, interval, interval, int4, interval);

-- The catalog of segmentations: owners quoted as identifiers, the loss
-- guard, the time zone of times without one (existing segmentations get
-- segment.timezone, else the zone of the session running this update), one
-- segmentation per target and history table.  The two functions the new
-- column needs are created here; the routines below replace them.
ALTER TABLE segment.segmentations ALTER COLUMN owner SET DEFAULT quote_ident(current_user)::regrole;
ALTER TABLE segment.segmentations
    ADD COLUMN max_customer_loss float8 NOT NULL DEFAULT 0.5 CHECK (max_customer_loss >= 0 AND max_customer_loss <= 1);
CREATE FUNCTION segment._check_time_zone(zone text) RETURNS bool
    AS 'MODULE_PATHNAME', 'check_time_zone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._default_time_zone() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(nullif(current_setting('segment.timezone', true), ''), current_setting('TimeZone')) $$;
ALTER TABLE segment.segmentations
    ADD COLUMN time_zone text NOT NULL DEFAULT segment._default_time_zone() CHECK (segment._check_time_zone(time_zone));
ALTER TABLE segment.segmentations ADD UNIQUE (target_table), ADD UNIQUE (history_table);
-- what refreshes record is no longer the owners' to change
REVOKE UPDATE (model, last_refreshed_at) ON segment.segmentations FROM PUBLIC;

-- The run log: written by the refresh as the extension's owner only; when a
-- scheduled run was due.
REVOKE INSERT, UPDATE ON segment.runs FROM PUBLIC;
REVOKE USAGE ON SEQUENCE segment.runs_run_id_seq FROM PUBLIC;
ALTER TABLE segment.runs ADD COLUMN scheduled_for timestamptz;
-- how many partition files a scan past segment.scan_memory aggregated
ALTER TABLE segment.runs ADD COLUMN scan_partitions int4;

-- Incremental refresh: the catalog's parameters and state, the run log's
-- kind of refresh, and the changes captured by the orders' triggers.
ALTER TABLE segment.segmentations
    ADD COLUMN incremental text NOT NULL DEFAULT 'off' CHECK (incremental IN ('off', 'triggers', 'watermark')),
    ADD COLUMN watermark_column name,
    ADD COLUMN full_refresh_every interval CHECK (full_refresh_every > '0'),
    ADD COLUMN incremental_basis jsonb,
    ADD COLUMN last_full_refresh_at timestamptz;
GRANT UPDATE (incremental, watermark_column, full_refresh_every) ON segment.segmentations TO PUBLIC;
ALTER TABLE segment.runs
    ADD COLUMN refresh_kind text CHECK (refresh_kind IN ('full', 'incremental')),
    ADD COLUMN full_reason text,
    ADD COLUMN customers_changed int8;
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
GRANT SELECT ON segment.captured_changes TO PUBLIC;

-- The predictive models' types (issue 17), with the I/O functions they need
-- before the routines below (which replace those functions again).
CREATE TYPE segment.bgnbd_model;

CREATE FUNCTION segment.bgnbd_model_in(cstring) RETURNS segment.bgnbd_model
    AS 'MODULE_PATHNAME', 'bgnbd_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_model_in(cstring) IS
    'Input function of segment.bgnbd_model; checks every field.';

CREATE FUNCTION segment.bgnbd_model_out(segment.bgnbd_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'bgnbd_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_model_out(segment.bgnbd_model) IS
    'Output function of segment.bgnbd_model: "r=..;alpha=..;a=..;b=..;log_likelihood=..;customers=..;iterations=..;converged=..", floats exact.';

CREATE TYPE segment.bgnbd_model (
    INPUT = segment.bgnbd_model_in,
    OUTPUT = segment.bgnbd_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);

CREATE TYPE segment.gammagamma_model;

CREATE FUNCTION segment.gammagamma_model_in(cstring) RETURNS segment.gammagamma_model
    AS 'MODULE_PATHNAME', 'gammagamma_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_model_in(cstring) IS
    'Input function of segment.gammagamma_model; checks every field.';

CREATE FUNCTION segment.gammagamma_model_out(segment.gammagamma_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'gammagamma_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.gammagamma_model_out(segment.gammagamma_model) IS
    'Output function of segment.gammagamma_model: "p=..;q=..;gamma=..;log_likelihood=..;customers=..;iterations=..;converged=..", floats exact.';

CREATE TYPE segment.gammagamma_model (
    INPUT = segment.gammagamma_model_in,
    OUTPUT = segment.gammagamma_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);

CREATE TYPE segment.paretonbd_model;

CREATE FUNCTION segment.paretonbd_model_in(cstring) RETURNS segment.paretonbd_model
    AS 'MODULE_PATHNAME', 'paretonbd_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_model_in(cstring) IS
    'Input function of segment.paretonbd_model; checks every field.';

CREATE FUNCTION segment.paretonbd_model_out(segment.paretonbd_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'paretonbd_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.paretonbd_model_out(segment.paretonbd_model) IS
    'Output function of segment.paretonbd_model: "r=..;alpha=..;s=..;beta=..;log_likelihood=..;customers=..;iterations=..;converged=..", floats exact.';

CREATE TYPE segment.paretonbd_model (
    INPUT = segment.paretonbd_model_in,
    OUTPUT = segment.paretonbd_model_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);

CREATE TYPE segment.btyd_state;

CREATE FUNCTION segment.btyd_state_in(cstring) RETURNS segment.btyd_state
    AS 'MODULE_PATHNAME', 'btyd_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.btyd_state_in(cstring) IS
    'Input function of segment.btyd_state; checks every point.';

CREATE FUNCTION segment.btyd_state_out(segment.btyd_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'btyd_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.btyd_state_out(segment.btyd_state) IS
    'Output function of segment.btyd_state: "kind=bgnbd;points=x,t,T,weight|...".';

CREATE TYPE segment.btyd_state (
    INPUT = segment.btyd_state_in,
    OUTPUT = segment.btyd_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

-- Predictions in segmentations (issue 17): their parameters and last
-- models, the run log's fit time and warning, the predicted CLV per
-- segment, and the editable churn risk levels, value tiers and names of the
-- predictive segments (as src/predict/predictive_segments.sql makes them).
ALTER TABLE segment.segmentations
    ADD COLUMN predict boolean NOT NULL DEFAULT false,
    ADD COLUMN horizon interval NOT NULL DEFAULT '365 days' CHECK (horizon >= '1 day' AND horizon <= '100 years'),
    ADD COLUMN discount_rate float8 NOT NULL DEFAULT 0.1 CHECK (discount_rate >= 0 AND discount_rate <= 10),
    ADD COLUMN bgnbd_model segment.bgnbd_model,
    ADD COLUMN gammagamma_model segment.gammagamma_model;
ALTER TABLE segment.runs ADD COLUMN predict_ms float8, ADD COLUMN warning text;
ALTER TABLE segment.summaries ADD COLUMN predicted_clv numeric;
CREATE TABLE segment.churn_risk_levels (
    churn_risk text PRIMARY KEY CHECK (churn_risk <> ''),
    min_p_purchase float8 NOT NULL UNIQUE CHECK (min_p_purchase >= 0 AND min_p_purchase <= 1)
);
INSERT INTO segment.churn_risk_levels VALUES ('low', 0.5), ('medium', 0.2), ('high', 0);
CREATE TABLE segment.value_tiers (
    value_tier text PRIMARY KEY CHECK (value_tier <> ''),
    top_share float8 NOT NULL UNIQUE CHECK (top_share > 0 AND top_share <= 1)
);
INSERT INTO segment.value_tiers VALUES ('high', 0.2), ('medium', 0.5), ('low', 1);
CREATE TABLE segment.predictive_segment_map (
    churn_risk text NOT NULL,
    value_tier text NOT NULL,
    segment text NOT NULL CHECK (segment <> ''),
    PRIMARY KEY (churn_risk, value_tier)
);
INSERT INTO segment.predictive_segment_map VALUES
    ('low', 'high', 'Best Future Customers'),
    ('medium', 'high', 'High Value, Cooling'),
    ('high', 'high', 'High Value At Risk'),
    ('low', 'medium', 'Steady Customers'),
    ('medium', 'medium', 'Needs Nurturing'),
    ('high', 'medium', 'Fading Customers'),
    ('low', 'low', 'Low Value Active'),
    ('medium', 'low', 'Low Value, Cooling'),
    ('high', 'low', 'Likely Lost');

-- @routines@

-- Every row written to the catalog is checked at once.
CREATE TRIGGER check_row
    BEFORE INSERT OR UPDATE OF orders, customer_column, time_column, amount_column, order_id_column, touchpoints,
        touch_customer_column, touch_time_column, touch_channel_column, spend, spend_channel_column,
        spend_day_column, spend_cost_column, carts, cart_customer_column, cart_time_column, incremental,
        watermark_column, full_refresh_every
    ON segment.segmentations
    FOR EACH ROW EXECUTE FUNCTION segment._check_row();
CREATE TRIGGER set_up_capture
    AFTER INSERT OR UPDATE OF orders, incremental ON segment.segmentations
    FOR EACH ROW EXECUTE FUNCTION segment._set_up_capture();

-- The history tables: 0.1.0 kept a snapshot of every customer per refresh
-- (customer, rfm_segment, lifecycle_segment, cluster, refreshed_at); 0.2.0
-- keeps the changes between consecutive refreshes (customer, segment_type,
-- from_segment, to_segment, refreshed_at), one partition per refresh, the
-- oldest empty (the baseline).  Each table is rebuilt under its name from
-- the snapshots it kept, and left out of the extension like the tables the
-- refresh makes.  A history table not of 0.1.0's shape is renamed
-- segment_old_<oid> (with a warning) and an empty log takes its place.
DO $$
DECLARE
    s record;
    rels regclass[];
    names text[];
    ats timestamptz[];
    previous regclass;
    saved_datestyle text := current_setting('datestyle');
    old_parent text;
    new_parent regclass;
    new_part regclass;
BEGIN
    -- partition bounds are read back from their text
    PERFORM set_config('datestyle', 'ISO', true);
    FOR s IN
        SELECT g.name, g.owner, g.history_table, g.target_table, g.customer_column, n.nspname, c.relname,
               format_type(a.atttypid, a.atttypmod) AS customer_type,
               (SELECT array_agg(format('%s %s', x.attname, x.atttypid::regtype) ORDER BY x.attnum)
                FROM pg_attribute AS x WHERE x.attrelid = g.history_table AND x.attnum > 0 AND NOT x.attisdropped)
                   = ARRAY[format('%s %s', g.customer_column, a.atttypid::regtype), 'rfm_segment text',
                           'lifecycle_segment text', 'cluster integer', 'refreshed_at timestamp with time zone']
               AND c.relkind = 'p' AND NOT EXISTS (
                   SELECT 1 FROM pg_inherits AS i JOIN pg_class AS k ON k.oid = i.inhrelid
                   WHERE i.inhparent = g.history_table AND k.relkind <> 'r') AS convertible
        FROM segment.segmentations AS g
        JOIN pg_class AS c ON c.oid = g.history_table
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        JOIN pg_attribute AS a ON a.attrelid = g.target_table AND a.attname = g.customer_column AND NOT a.attisdropped
        ORDER BY g.name
    LOOP
        -- the old table and its partitions out of the way of the new names
        SELECT array_agg(x.rel ORDER BY x.at), array_agg(x.relname ORDER BY x.at), array_agg(x.at ORDER BY x.at)
        INTO rels, names, ats FROM (
            SELECT k.oid::regclass AS rel, k.relname,
                   (substring(pg_get_expr(k.relpartbound, k.oid) FROM $r$^FOR VALUES IN \('(.*)'\)$r$))::timestamptz AS at
            FROM pg_inherits AS i JOIN pg_class AS k ON k.oid = i.inhrelid
            WHERE i.inhparent = s.history_table) AS x;
        old_parent := format('segment_old_%s', s.history_table::oid);
        EXECUTE format('ALTER TABLE %s RENAME TO %I', s.history_table, old_parent);
        IF s.convertible THEN
            FOR i IN 1..coalesce(array_length(rels, 1), 0) LOOP
                EXECUTE format('ALTER TABLE %s RENAME TO %I', rels[i], format('segment_old_%s', rels[i]::oid));
            END LOOP;
        ELSE
            RAISE WARNING 'the history table of segmentation "%" is not of version 0.1.0''s shape: renamed %.%', s.name,
                          quote_ident(s.nspname), quote_ident(old_parent)
                USING DETAIL = 'The new history starts empty; the old table is left for its owner to keep or drop.';
        END IF;

        EXECUTE format('CREATE TABLE %I.%I (%I %s NOT NULL, segment_type text NOT NULL, from_segment text,
                            to_segment text, refreshed_at timestamptz NOT NULL) PARTITION BY LIST (refreshed_at)',
                       s.nspname, s.relname, s.customer_column, s.customer_type);
        new_parent := format('%I.%I', s.nspname, s.relname)::regclass;
        EXECUTE format('ALTER EXTENSION segment DROP TABLE %s', new_parent);
        EXECUTE format('ALTER TABLE %s OWNER TO %s', new_parent, s.owner);
        EXECUTE format('COMMENT ON TABLE %s IS %L', new_parent,
                       format('Changes of segment membership at the last refreshes of segmentation %s, one partition per refresh (see segment.membership_changes).', s.name));
        UPDATE segment.segmentations SET history_table = new_parent WHERE name = s.name;

        IF s.convertible THEN
            previous := NULL;
            FOR i IN 1..coalesce(array_length(rels, 1), 0) LOOP
                EXECUTE format('CREATE TABLE %I.%I (LIKE %s) WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)',
                               s.nspname, names[i], new_parent);
                new_part := format('%I.%I', s.nspname, names[i])::regclass;
                EXECUTE format('ALTER EXTENSION segment DROP TABLE %s', new_part);
                IF previous IS NOT NULL THEN
                    EXECUTE format($q$
                        INSERT INTO %1$s
                        SELECT coalesce(b.%2$I, a.%2$I), x.segment_type, x.from_segment, x.to_segment, $1
                        FROM %3$s AS a FULL JOIN %4$s AS b ON b.%2$I = a.%2$I
                        CROSS JOIN LATERAL (VALUES ('rfm', a.rfm_segment, b.rfm_segment),
                                                   ('lifecycle', a.lifecycle_segment, b.lifecycle_segment),
                                                   ('cluster', a.cluster::text, b.cluster::text))
                                           AS x (segment_type, from_segment, to_segment)
                        WHERE x.from_segment IS DISTINCT FROM x.to_segment
                        $q$, new_part, s.customer_column, previous, rels[i]) USING ats[i];
                END IF;
                EXECUTE format('ALTER TABLE %s OWNER TO %s', new_part, s.owner);
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', new_parent, new_part, ats[i]);
                previous := rels[i];
            END LOOP;
            EXECUTE format('DROP TABLE %I.%I', s.nspname, old_parent);
        END IF;
    END LOOP;
    PERFORM set_config('datestyle', saved_datestyle, true);
END $$;
