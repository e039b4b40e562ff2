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

-- @routines@

-- Every row written to the catalog is checked at once.
CREATE TRIGGER check_row
    BEFORE INSERT OR UPDATE OF orders, customer_column, time_column, amount_column, order_id_column, touchpoints,
        touch_customer_column, touch_time_column, touch_channel_column, spend, spend_channel_column,
        spend_day_column, spend_cost_column, carts, cart_customer_column, cart_time_column
    ON segment.segmentations
    FOR EACH ROW EXECUTE FUNCTION segment._check_row();
