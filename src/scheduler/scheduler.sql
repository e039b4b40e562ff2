-- Scheduling: segment.schedule() and its friends, the schedules the
-- background workers read, the jobs view and the progress of running
-- refreshes.  The workers themselves are C (src/scheduler/).

CREATE FUNCTION segment._check_schedule(schedule text) RETURNS bool
    AS 'MODULE_PATHNAME', 'check_schedule'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._check_schedule(text) IS
    'Internal: true for a valid schedule that fires, else the error segment.next_run() gives.';

CREATE TABLE segment.schedules (
    segmentation text PRIMARY KEY REFERENCES segment.segmentations (name) ON DELETE CASCADE,
    schedule text CHECK (segment._check_schedule(schedule)),
    active bool NOT NULL DEFAULT true,
    timeout interval CHECK (timeout > '0'),
    next_run_at timestamptz,
    consecutive_failures int4 NOT NULL DEFAULT 0,
    changed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE segment.schedules IS 'The schedule of each scheduled segmentation and the scheduler''s state; read through segment.jobs.';
COMMENT ON COLUMN segment.schedules.segmentation IS 'Segmentation refreshed.';
COMMENT ON COLUMN segment.schedules.schedule IS 'Cron expression or interval (NULL: unscheduled).';
COMMENT ON COLUMN segment.schedules.active IS 'False while paused.';
COMMENT ON COLUMN segment.schedules.timeout IS 'Longest a run may take (NULL: segment.job_timeout).';
COMMENT ON COLUMN segment.schedules.next_run_at IS 'When the scheduler starts the next run.';
COMMENT ON COLUMN segment.schedules.consecutive_failures IS 'Failed runs since the last success.';
COMMENT ON COLUMN segment.schedules.changed_at IS 'When the schedule was last set, paused or resumed.';
ALTER TABLE segment.schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_schedules ON segment.schedules
    USING (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation))
    WITH CHECK (EXISTS (SELECT 1 FROM segment.segmentations AS s WHERE s.name = segmentation));
GRANT SELECT, INSERT ON segment.schedules TO PUBLIC;
GRANT UPDATE (schedule, active, timeout, next_run_at, consecutive_failures, changed_at) ON segment.schedules TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('segment.schedules', '');

CREATE FUNCTION segment.next_run(schedule text, after timestamptz DEFAULT now(), timezone text DEFAULT NULL)
    RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'next_run'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.next_run(text, timestamptz, text) IS
    'When a schedule (5 cron fields, @daily and the like, or an interval of at least a second) fires next after the given time; cron fields are read in the given time zone, by default segment.timezone (as the scheduler reads them). Errors name the bad field and show valid schedules.';

CREATE FUNCTION segment._wake_scheduler() RETURNS bool
    AS 'MODULE_PATHNAME', 'wake_scheduler'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._wake_scheduler() IS
    'Internal: wakes this database''s scheduler when the transaction commits; false when the library is not preloaded (no scheduler exists).';

CREATE FUNCTION segment._wake_launcher() RETURNS void
    AS 'MODULE_PATHNAME', 'wake_launcher'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION segment._wake_launcher() FROM PUBLIC;
COMMENT ON FUNCTION segment._wake_launcher() IS
    'Internal: asks the launcher to look for databases with the extension (called by CREATE EXTENSION).';

CREATE FUNCTION segment._scheduler_pid() RETURNS int4
    AS 'MODULE_PATHNAME', 'scheduler_pid'
    LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION segment._scheduler_pid() IS
    'Internal: the process id of this database''s scheduler, or NULL when none runs.';

CREATE FUNCTION segment._scheduler_status(OUT pid int4, OUT error text, OUT failing_since timestamptz)
    AS 'MODULE_PATHNAME', 'scheduler_status'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION segment._scheduler_status() IS
    'Internal: this database''s scheduler (pid NULL when none runs) and, while its passes fail, why (to members of pg_read_all_stats; others are sent to the server log) and since when.';

CREATE FUNCTION segment._default_job_timeout() RETURNS interval
    AS 'MODULE_PATHNAME', 'default_job_timeout'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._default_job_timeout() IS
    'Internal: segment.job_timeout as an interval, NULL when it is 0 (no limit).';

CREATE FUNCTION segment._refresh_progress(OUT pid int4, OUT segmentation text, OUT phase text,
    OUT started_at timestamptz, OUT orders_scanned int8, OUT orders_estimated int8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'refresh_progress'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION segment._refresh_progress() IS
    'Internal: the refreshes running in this database that the current role may see.';

-- A warning when a schedule cannot run here: no preloaded library, or the
-- scheduler switched off.
CREATE FUNCTION segment._warn_if_not_running() RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT segment._wake_scheduler() THEN
        RAISE WARNING 'segment is not in shared_preload_libraries: the schedule is kept, but nothing runs it'
            USING HINT = 'Add segment to shared_preload_libraries and restart the server.';
    ELSIF NOT current_setting('segment.enabled')::bool THEN
        RAISE WARNING 'segment.enabled is off: the schedule is kept, but nothing runs it'
            USING HINT = 'Set segment.enabled = on and reload the configuration.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._warn_if_not_running() IS
    'Internal: wakes the scheduler, warning when none can run the schedules.';

CREATE FUNCTION segment.schedule(name text, schedule text, timeout interval DEFAULT NULL) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    first_run timestamptz := segment.next_run(schedule, now());
BEGIN
    IF timeout IS NOT NULL AND timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s was given.', timeout),
                  HINT = 'Pass NULL for segment.job_timeout, or an interval such as ''15 minutes''.';
    END IF;
    INSERT INTO segment.schedules AS j (segmentation, schedule, active, timeout, next_run_at, consecutive_failures)
    VALUES (s.name, schedule, true, timeout, first_run, 0)
    ON CONFLICT (segmentation) DO UPDATE
        SET schedule = excluded.schedule, active = true, timeout = excluded.timeout,
            next_run_at = excluded.next_run_at, consecutive_failures = 0, changed_at = now();
    PERFORM segment._warn_if_not_running();
    RETURN first_run;
END $$;
COMMENT ON FUNCTION segment.schedule(text, text, interval) IS
    'Schedules the refreshes of a segmentation you own: 5 cron fields (read in segment.timezone), @hourly/@daily/@weekly/@monthly/@yearly, or an interval of at least one second; optionally its own timeout. Replaces an earlier schedule. Returns the first run time.';

-- The schedule row of a segmentation you own, or an error saying it has none.
CREATE FUNCTION segment._own_schedule(name text) RETURNS segment.schedules
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    s segment.segmentations := segment._own_segmentation(name);
    j segment.schedules;
BEGIN
    SELECT * INTO j FROM segment.schedules WHERE segmentation = s.name AND schedule IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segmentation "%" is not scheduled', s.name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Schedule it first, for example SELECT segment.schedule(name, ''@daily'').';
    END IF;
    RETURN j;
END $$;
COMMENT ON FUNCTION segment._own_schedule(text) IS
    'Internal: the schedule of a segmentation the current role owns, or an error.';

CREATE FUNCTION segment.unschedule(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j segment.schedules := segment._own_schedule(name);
BEGIN
    UPDATE segment.schedules SET schedule = NULL, active = false, next_run_at = NULL, changed_at = now()
    WHERE segmentation = j.segmentation;
    PERFORM segment._wake_scheduler();
END $$;
COMMENT ON FUNCTION segment.unschedule(text) IS
    'Stops the scheduled refreshes of a segmentation you own (a run in progress finishes). Its run log stays.';

CREATE FUNCTION segment.pause(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j segment.schedules := segment._own_schedule(name);
BEGIN
    UPDATE segment.schedules SET active = false, changed_at = now() WHERE segmentation = j.segmentation;
    PERFORM segment._wake_scheduler();
END $$;
COMMENT ON FUNCTION segment.pause(text) IS
    'Pauses a scheduled segmentation you own, keeping its schedule; segment.resume() restarts it.';

CREATE FUNCTION segment.resume(name text) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    j segment.schedules := segment._own_schedule(name);
    first_run timestamptz := segment.next_run(j.schedule, now());
BEGIN
    UPDATE segment.schedules SET active = true, next_run_at = first_run, consecutive_failures = 0, changed_at = now()
    WHERE segmentation = j.segmentation;
    PERFORM segment._warn_if_not_running();
    RETURN first_run;
END $$;
COMMENT ON FUNCTION segment.resume(text) IS
    'Resumes a paused segmentation you own from its next scheduled time (missed runs are not made up); returns it.';

CREATE VIEW segment.jobs WITH (security_barrier) AS
SELECT s.name AS segmentation, s.owner, j.schedule,
       coalesce(j.active AND j.schedule IS NOT NULL, false) AS active,
       CASE WHEN j.active AND j.schedule IS NOT NULL THEN j.next_run_at END AS next_run_at,
       l.started_at AS last_run_at, l.status AS last_status, l.error_message AS last_error,
       l.finished_at - l.started_at AS last_duration,
       coalesce(j.consecutive_failures, 0) AS consecutive_failures,
       coalesce(j.timeout, segment._default_job_timeout()) AS timeout,
       p.phase AS running_phase,
       d.start_delay AS last_start_delay,
       st.error AS scheduler_error,
       st.failing_since AS scheduler_failing_since
FROM segment.segmentations AS s
CROSS JOIN segment._scheduler_status() AS st
LEFT JOIN segment.schedules AS j ON j.segmentation = s.name
LEFT JOIN LATERAL (SELECT r.started_at, r.finished_at, r.status, r.error_message FROM segment.runs AS r
                   WHERE r.segmentation = s.name AND r.status <> 'running'
                   ORDER BY r.run_id DESC LIMIT 1) AS l ON true
LEFT JOIN LATERAL (SELECT r.started_at - r.scheduled_for AS start_delay FROM segment.runs AS r
                   WHERE r.segmentation = s.name AND r.scheduled_for IS NOT NULL AND r.status <> 'skipped'
                   ORDER BY r.run_id DESC LIMIT 1) AS d ON true
LEFT JOIN LATERAL (SELECT g.phase FROM segment._refresh_progress() AS g
                   WHERE g.segmentation = s.name LIMIT 1) AS p ON true
WHERE pg_has_role(current_user, s.owner, 'MEMBER');
COMMENT ON VIEW segment.jobs IS 'One row per segmentation you own (superusers: all): its schedule, state and last run.';
COMMENT ON COLUMN segment.jobs.segmentation IS 'Segmentation.';
COMMENT ON COLUMN segment.jobs.owner IS 'Role that owns it; scheduled runs run as this role.';
COMMENT ON COLUMN segment.jobs.schedule IS 'Cron expression or interval; NULL when not scheduled.';
COMMENT ON COLUMN segment.jobs.active IS 'Scheduled and not paused.';
COMMENT ON COLUMN segment.jobs.next_run_at IS 'When the next scheduled run starts (NULL: none).';
COMMENT ON COLUMN segment.jobs.last_run_at IS 'Start of the last finished run, manual or scheduled.';
COMMENT ON COLUMN segment.jobs.last_status IS 'succeeded, failed or skipped.';
COMMENT ON COLUMN segment.jobs.last_error IS 'Why the last run failed or was skipped.';
COMMENT ON COLUMN segment.jobs.last_duration IS 'How long the last run took.';
COMMENT ON COLUMN segment.jobs.consecutive_failures IS 'Scheduled runs failed since the last success.';
COMMENT ON COLUMN segment.jobs.timeout IS 'Longest a scheduled run may take (NULL: no limit).';
COMMENT ON COLUMN segment.jobs.running_phase IS 'Phase of a refresh running now (see segment.refresh_progress), else NULL.';
COMMENT ON COLUMN segment.jobs.last_start_delay IS 'How late the last scheduled run started after it was due: a scheduler falling behind (too few segment.max_workers, runs longer than the schedule) shows here.';
COMMENT ON COLUMN segment.jobs.scheduler_error IS 'While this database''s scheduler fails (every job then waits), why: the same on every row. NULL when its last pass went well.';
COMMENT ON COLUMN segment.jobs.scheduler_failing_since IS 'Since when this database''s scheduler fails (NULL: it does not).';
GRANT SELECT ON segment.jobs TO PUBLIC;

CREATE VIEW segment.refresh_progress WITH (security_barrier) AS
SELECT g.segmentation, g.pid, g.phase, g.started_at, g.orders_scanned, g.orders_estimated
FROM segment._refresh_progress() AS g;
COMMENT ON VIEW segment.refresh_progress IS 'Refreshes running now in this database, manual or scheduled, of segmentations you own (superusers: all). Needs segment in shared_preload_libraries.';
COMMENT ON COLUMN segment.refresh_progress.segmentation IS 'Segmentation being refreshed.';
COMMENT ON COLUMN segment.refresh_progress.pid IS 'Process running the refresh.';
COMMENT ON COLUMN segment.refresh_progress.phase IS 'starting, scanning, clustering, scoring, history, indexing, attribution, swapping, or committing (done, waiting for its transaction to commit).';
COMMENT ON COLUMN segment.refresh_progress.started_at IS 'When the refresh started.';
COMMENT ON COLUMN segment.refresh_progress.orders_scanned IS 'Order rows read so far by the C scan, in steps of 65,536 (0 on the SQL path).';
COMMENT ON COLUMN segment.refresh_progress.orders_estimated IS 'Rows the orders table holds by its statistics (NULL when unknown).';
GRANT SELECT ON segment.refresh_progress TO PUBLIC;

-- a new extension: the launcher starts this database's scheduler
SELECT segment._wake_launcher();
