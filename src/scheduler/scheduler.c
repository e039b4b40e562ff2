/*
 * scheduler.c -- one database's scheduler: starts each due refresh in a job
 * worker of its own, at most one per segmentation and segment.max_workers
 * in the whole cluster, and keeps the run log and the schedules' state.
 *
 * It connects as the bootstrap superuser (to read every role's schedules)
 * but never runs a refresh itself: the job worker does, as the
 * segmentation's owner (job.c).  Between runs it sleeps on its latch until
 * the next job is due, a worker stops, or a schedule changes (set at the
 * commit of segment.schedule() and the like), at most segment.naptime.
 *
 * Rules: a job that comes due while its previous run still runs is logged
 * as skipped; a failed run is retried after 5 s, 10 s, 20 s ... but never
 * later than its next regular time; after a restart, an overdue job runs
 * once, and the firings it missed are logged in one skipped row; runs left
 * 'running' by a crash are marked failed when the scheduler starts.
 *
 * segment.enabled off: no new run starts, the running ones finish and are
 * logged, then the scheduler leaves.  A pass that fails is logged and shown
 * in segment.jobs (the slot's error) until a pass goes well.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "common/catalog_version.h"
#include "scheduler/cron.h"
#include "scheduler/scheduler.h"
#include "segment.h"
#include "scheduler/shared.h"

#define RETRY_BASE_MS	5000
#define TERMINATE_GRACE_MS 10000
#define PRUNE_EVERY_MS	(3600 * 1000)
#define MISSED_COUNT_CAP 1000	/* missed firings counted one by one (cron) */

/* A job worker this scheduler started. */
typedef struct RunningJob
{
	char		segmentation[SEGMENTATION_NAME_BYTES];
	int64		run_id;
	TimestampTz deadline;		/* terminate after; 0: none */
	BackgroundWorkerHandle *handle;
	bool		terminated;
} RunningJob;

typedef struct Job
{
	char	   *segmentation;
	Oid			owner;
	char	   *schedule;
	TimestampTz next_run_at;	/* DT_NOBEGIN when NULL */
	int32		timeout_ms;
} Job;

static List *running = NIL;		/* of RunningJob *, in TopMemoryContext */
static SchedulerSlot *my_slot = NULL;
static TimestampTz last_prune = 0;
static char cron_zone[TZ_STRLEN_MAX + 1];	/* the zone next_run_at was computed in */

/* SPI helpers, each in a transaction of its own ----------------------------- */

static MemoryContext work_caller_cxt = NULL;

/*
 * A commit leaves CurrentMemoryContext at TopMemoryContext: end_work goes
 * back to the caller's context, so that what a pass allocates after one of
 * its transactions is freed with the pass (not kept for the process's life).
 */
static void
begin_work(void)
{
	work_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(work_caller_cxt);
	pgstat_report_stat(false);
}

static void
execute(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "segment scheduler: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

static TimestampTz
next_after(const char *text, TimestampTz after, TimestampTz anchor)
{
	Schedule	schedule;

	schedule_parse(text, &schedule);
	return schedule_next(&schedule, after, anchor, schedule_timezone());
}

/* The time between two firings after now: the cap of the retry backoff. */
static int64
period_ms(const char *text, TimestampTz now)
{
	TimestampTz first = next_after(text, now, now);
	TimestampTz second = next_after(text, first, first);

	return (second - first) / 1000;
}

/* Job workers ------------------------------------------------------------ */

static bool
start_job(const Job *job, int64 run_id, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;
	JobRequest *request = (JobRequest *) worker.bgw_extra;

	segment_worker_init(&worker, "segment_job_main", "segment refresh");
	snprintf(worker.bgw_name, BGW_MAXLEN, "segment refresh %s", job->segmentation);
	worker.bgw_notify_pid = MyProcPid;
	request->database = MyDatabaseId;
	request->owner = job->owner;
	request->run_id = run_id;
	request->timeout_ms = job->timeout_ms;
	strlcpy(request->segmentation, job->segmentation, sizeof(request->segmentation));
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

static RunningJob *
find_running(const char *segmentation)
{
	ListCell   *lc;

	foreach(lc, running)
	{
		RunningJob *r = lfirst(lc);

		if (strcmp(r->segmentation, segmentation) == 0)
			return r;
	}
	return NULL;
}

/*
 * Marks the run of a finished worker, updates the job's failures and retry
 * time (in the caller's transaction).
 */
static void
finish_job(RunningJob *r, TimestampTz now)
{
	Oid			types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	bool		succeeded;
	char	   *schedule = NULL;
	int32		failures = 0;
	bool		isnull;

	values[0] = Int64GetDatum(r->run_id);
	/* a worker that died before recording its result */
	execute("UPDATE segment.runs SET status = 'failed', finished_at = clock_timestamp(),"
			" error_message = 'the job worker ended without finishing the refresh (it was terminated or crashed)'"
			" WHERE run_id = $1 AND status = 'running'", 1, types, values, NULL, SPI_OK_UPDATE);
	execute("SELECT status = 'succeeded' FROM segment.runs WHERE run_id = $1", 1, types, values, NULL, SPI_OK_SELECT);
	succeeded = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	values[1] = CStringGetTextDatum(r->segmentation);
	execute("UPDATE segment.schedules SET consecutive_failures = CASE WHEN (SELECT status IN ('succeeded', 'skipped')"
			" FROM segment.runs WHERE run_id = $1) THEN 0 ELSE consecutive_failures + 1 END"
			" WHERE segmentation = $2 RETURNING schedule, consecutive_failures",
			2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed == 1)
	{
		schedule = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		failures = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	if (!succeeded && failures > 0 && schedule != NULL)
	{
		/* retry after 5 s, doubling, never later than the next regular run */
		int64		delay = RETRY_BASE_MS << Min(failures - 1, 20);

		delay = Min(delay, period_ms(schedule, now));
		values[2] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(now, delay));
		execute("UPDATE segment.schedules SET next_run_at = least(next_run_at, $3) WHERE segmentation = $2",
				3, types, values, NULL, SPI_OK_UPDATE);
	}
}

/* Collects stopped workers; terminates those past their deadline. */
static void
reap_jobs(TimestampTz now)
{
	ListCell   *lc;
	bool		in_work = false;

	foreach(lc, running)
	{
		RunningJob *r = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(r->handle, &pid) == BGWH_STOPPED)
		{
			/* all of them in one transaction */
			if (!in_work)
				begin_work();
			in_work = true;
			finish_job(r, now);
			LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
			my_slot->running_jobs--;
			LWLockRelease(segment_shared->lock);
			pfree(r->handle);
			pfree(r);
			running = foreach_delete_current(running, lc);
		}
		else if (r->deadline != 0 && now > r->deadline && !r->terminated)
		{
			/* statement_timeout should have ended it: make sure */
			ereport(LOG, (errmsg("segment scheduler: terminating the refresh of \"%s\", past its timeout",
								 r->segmentation)));
			TerminateBackgroundWorker(r->handle);
			r->terminated = true;
		}
	}
	if (in_work)
		end_work();
}

/* The due or active jobs of this database. */
static List *
load_jobs(MemoryContext cxt)
{
	List	   *jobs = NIL;

	execute("SELECT s.name, s.owner::oid, j.schedule, j.next_run_at,"
			" coalesce(extract(epoch FROM j.timeout) * 1000, -1)::int8"
			" FROM segment.schedules AS j JOIN segment.segmentations AS s ON s.name = j.segmentation"
			" WHERE j.schedule IS NOT NULL AND j.active ORDER BY j.next_run_at NULLS FIRST, s.name",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Job		   *job;
		bool		isnull;
		int64		timeout;
		MemoryContext old = MemoryContextSwitchTo(cxt);	/* outside SPI's */

		job = palloc0(sizeof(Job));
		job->segmentation = pstrdup(SPI_getvalue(t, d, 1));
		job->owner = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		job->schedule = pstrdup(SPI_getvalue(t, d, 3));
		job->next_run_at = DatumGetTimestampTz(SPI_getbinval(t, d, 4, &isnull));
		if (isnull)
			job->next_run_at = DT_NOBEGIN;
		timeout = DatumGetInt64(SPI_getbinval(t, d, 5, &isnull));
		job->timeout_ms = (int32) (timeout >= 0 ? Min(timeout, PG_INT32_MAX) : segment_job_timeout_ms);
		jobs = lappend(jobs, job);
		MemoryContextSwitchTo(old);
	}
	return jobs;
}

/* Records a run that did not start (skipped, or no worker), and moves the job on. */
static void
log_not_started(const Job *job, const char *status, const char *message, TimestampTz next)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', job->next_run_at == DT_NOBEGIN ? 'n' : ' '};

	values[0] = CStringGetTextDatum(job->segmentation);
	values[1] = CStringGetTextDatum(status);
	values[2] = CStringGetTextDatum(message);
	values[3] = TimestampTzGetDatum(next);
	values[4] = TimestampTzGetDatum(job->next_run_at);
	execute("INSERT INTO segment.runs (segmentation, started_at, finished_at, status, error_message, scheduled_for)"
			" VALUES ($1, clock_timestamp(), clock_timestamp(), $2, $3, $5)", 5, types, values, nulls, SPI_OK_INSERT);
	execute("UPDATE segment.schedules SET next_run_at = $4 WHERE segmentation = $1",
			4, types, values, NULL, SPI_OK_UPDATE);
}

/* sleep_ms, or less when a running job's deadline comes first. */
static long
deadlines_sleep(TimestampTz now, long sleep_ms)
{
	ListCell   *lc;

	foreach(lc, running)
	{
		RunningJob *r = lfirst(lc);

		if (r->deadline != 0)
			sleep_ms = Min(sleep_ms, Max((long) ((r->deadline - now) / 1000), 0L) + 1);
	}
	return Max(sleep_ms, 1L);
}

/* A due job and what becomes of it this round. */
typedef struct Decision
{
	Job		   *job;
	TimestampTz next;
	bool		skip;			/* its previous run still runs */
	int64		run_id;
	int64		missed;			/* firings after its due time, up to now */
	TimestampTz first_missed;
	TimestampTz last_missed;
} Decision;

/*
 * The firings of a schedule after its due time "due" and up to now: an
 * overdue job runs once, so these are never made up.  Cron firings are
 * counted one by one, at most MISSED_COUNT_CAP of them.
 */
static int64
missed_firings(const char *text, TimestampTz due, TimestampTz now, TimestampTz *first, TimestampTz *last)
{
	Schedule	schedule;
	pg_tz	   *tz;
	int64		n = 0;
	TimestampTz t = due;

	if (due == DT_NOBEGIN || due >= now)
		return 0;
	schedule_parse(text, &schedule);
	if (schedule.is_interval)
	{
		n = (now - due) / schedule.interval_usecs;
		*first = due + schedule.interval_usecs;
		*last = due + n * schedule.interval_usecs;
		return n;
	}
	tz = schedule_timezone();
	while (n < MISSED_COUNT_CAP)
	{
		t = schedule_next(&schedule, t, t, tz);
		if (TIMESTAMP_NOT_FINITE(t) || t > now)
			break;
		if (n == 0)
			*first = t;
		*last = t;
		n++;
	}
	return n;
}

/* One skipped row for the firings a due job missed (before its own run's row). */
static void
log_missed(const Decision *d)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	char		first[MAXDATELEN + 1];
	char		message[512];

	strlcpy(first, timestamptz_to_str(d->first_missed), sizeof(first));
	if (d->missed == 1)
		snprintf(message, sizeof(message), "1 scheduled run, at %s, was missed", first);
	else
		snprintf(message, sizeof(message), "%s" INT64_FORMAT " scheduled runs, from %s to %s, were missed",
				 d->missed >= MISSED_COUNT_CAP ? "at least " : "", d->missed, first,
				 timestamptz_to_str(d->last_missed));
	strlcat(message, ": no scheduler ran then (the server was down, the scheduler was stopped or held off,"
			" segment.enabled was off) or every worker was busy (segment.max_workers);"
			" an overdue job runs once, not once per missed run", sizeof(message));
	values[0] = CStringGetTextDatum(d->job->segmentation);
	values[1] = CStringGetTextDatum(message);
	values[2] = TimestampTzGetDatum(d->first_missed);
	execute("INSERT INTO segment.runs (segmentation, started_at, finished_at, status, error_message, scheduled_for)"
			" VALUES ($1, clock_timestamp(), clock_timestamp(), 'skipped', $2, $3)",
			3, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Starts the due jobs it can; returns the milliseconds until it should look
 * again.  The run rows and next times of all of them are written in one
 * transaction, then the workers are started.
 */
static long
run_due_jobs(TimestampTz now)
{
	List	   *jobs;
	List	   *decisions = NIL;
	ListCell   *lc;
	long		sleep_ms = (long) segment_naptime_s * 1000L;
	MemoryContext cxt = CurrentMemoryContext;

	begin_work();
	jobs = load_jobs(cxt);
	end_work();

	foreach(lc, jobs)
	{
		Job		   *job = lfirst(lc);
		Decision   *d;
		bool		reserved = false;

		if (job->next_run_at > now)
		{
			sleep_ms = Min(sleep_ms, (long) ((job->next_run_at - now) / 1000) + 1);
			continue;
		}
		d = palloc0(sizeof(Decision));
		d->job = job;
		/* due: the next time after now (an interval counts from this start),
		 * so an overdue job runs once, not once per missed slot */
		d->next = next_after(job->schedule, now, now);
		d->skip = find_running(job->segmentation) != NULL;
		if (!d->skip)
		{
			LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
			if (segment_running_jobs() < segment_max_workers)
			{
				my_slot->running_jobs++;
				reserved = true;
			}
			LWLockRelease(segment_shared->lock);
			if (!reserved)
			{
				/* all busy: it waits its turn (another database may free one) */
				pfree(d);
				sleep_ms = Min(sleep_ms, 1000L);
				continue;
			}
		}
		d->missed = missed_firings(job->schedule, job->next_run_at, now, &d->first_missed, &d->last_missed);
		decisions = lappend(decisions, d);
		sleep_ms = Min(sleep_ms, (long) ((d->next - now) / 1000) + 1);
	}
	if (decisions == NIL)
		return deadlines_sleep(now, sleep_ms);

	begin_work();
	foreach(lc, decisions)
	{
		Decision   *d = lfirst(lc);
		Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
		Datum		values[3];
		char		nulls[3] = {' ', ' ', d->job->next_run_at == DT_NOBEGIN ? 'n' : ' '};
		bool		isnull;

		/* first, so that the run's own row is the job's last */
		if (d->missed > 0)
			log_missed(d);
		if (d->skip)
		{
			log_not_started(d->job, "skipped", "the previous run was still running", d->next);
			continue;
		}
		values[0] = CStringGetTextDatum(d->job->segmentation);
		values[1] = TimestampTzGetDatum(d->next);
		values[2] = TimestampTzGetDatum(d->job->next_run_at);
		/* scheduled_for: when it was due, so that a scheduler falling behind shows */
		execute("INSERT INTO segment.runs (segmentation, started_at, status, scheduled_for)"
				" VALUES ($1, clock_timestamp(), 'running', $3) RETURNING run_id",
				3, types, values, nulls, SPI_OK_INSERT_RETURNING);
		d->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		execute("UPDATE segment.schedules SET next_run_at = $2 WHERE segmentation = $1",
				2, types, values, NULL, SPI_OK_UPDATE);
	}
	end_work();

	foreach(lc, decisions)
	{
		Decision   *d = lfirst(lc);
		BackgroundWorkerHandle *handle = NULL;
		RunningJob *r;
		MemoryContext old;
		bool		started;

		if (d->skip)
			continue;
		/* the handle lives as long as the run */
		old = MemoryContextSwitchTo(TopMemoryContext);
		started = start_job(d->job, d->run_id, &handle);
		MemoryContextSwitchTo(old);
		if (!started)
		{
			Oid			types[1] = {INT8OID};
			Datum		values[1] = {Int64GetDatum(d->run_id)};

			LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
			my_slot->running_jobs--;
			LWLockRelease(segment_shared->lock);
			begin_work();
			execute("UPDATE segment.runs SET status = 'failed', finished_at = clock_timestamp(),"
					" error_message = 'no background worker slot was free to run the refresh (raise max_worker_processes)'"
					" WHERE run_id = $1", 1, types, values, NULL, SPI_OK_UPDATE);
			end_work();
			continue;
		}
		r = MemoryContextAllocZero(TopMemoryContext, sizeof(RunningJob));
		strlcpy(r->segmentation, d->job->segmentation, sizeof(r->segmentation));
		r->run_id = d->run_id;
		r->deadline = d->job->timeout_ms > 0 ?
			TimestampTzPlusMilliseconds(now, (int64) d->job->timeout_ms + TERMINATE_GRACE_MS) : 0;
		r->handle = handle;
		old = MemoryContextSwitchTo(TopMemoryContext);
		running = lappend(running, r);
		MemoryContextSwitchTo(old);
	}

	return deadlines_sleep(now, sleep_ms);
}

/*
 * Manual refreshes whose session ended mid-run, terminated or disconnected
 * (shared.c kept their progress slots): no error handler of theirs ran, so
 * they are logged here, as failed.
 */
static void
log_ended_refreshes(void)
{
	ProgressSlot ended;

	while (progress_take_ended(&ended))
	{
		Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
		Datum		values[4];

		values[0] = CStringGetTextDatum(ended.segmentation);
		values[1] = TimestampTzGetDatum(ended.started_at);
		values[2] = TimestampTzGetDatum(ended.ended_at);
		values[3] = CStringGetTextDatum(ended.finished ?
										"the refresh finished, but its session ended before its transaction committed"
										" (idle_in_transaction_session_timeout, terminated, or its connection was lost):"
										" it was rolled back" :
										"the session running the refresh ended before it finished"
										" (terminated, or its connection was lost)");
		begin_work();
		execute("INSERT INTO segment.runs (segmentation, started_at, finished_at, status, error_message)"
				" SELECT $1, $2, $3, 'failed', $4"
				" WHERE EXISTS (SELECT 1 FROM segment.segmentations WHERE name = $1)",
				4, types, values, NULL, SPI_OK_INSERT);
		end_work();
	}
}

static void
prune_run_log(TimestampTz now)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];

	if (segment_history_retention_s <= 0 || now - last_prune < (int64) PRUNE_EVERY_MS * 1000)
		return;
	last_prune = now;
	values[0] = Int64GetDatum((int64) segment_history_retention_s);
	begin_work();
	execute("DELETE FROM segment.runs WHERE finished_at < clock_timestamp() - make_interval(secs => $1)",
			1, types, values, NULL, SPI_OK_DELETE);
	end_work();
}

/*
 * The zone of cron schedules is not the one their next runs were computed in
 * (a reload changed segment.timezone or TimeZone; or this scheduler just
 * started and cannot know): the next runs of the active cron jobs that are
 * not yet due are computed again.  Due ones run now and keep theirs, as do
 * jobs waiting for a retry after a failure; intervals do not depend on the
 * zone.  A next run already right stays as it is: the first firing after now
 * is the first after the time it was computed at, as none came between.
 */
static void
recompute_cron_runs(TimestampTz now)
{
	Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];
	SPITupleTable *jobs;
	uint64		njobs;
	const char *zone = schedule_timezone_name();
	pg_tz	   *tz;

	if (strcmp(zone, cron_zone) == 0)
		return;
	tz = schedule_timezone();
	begin_work();
	values[1] = TimestampTzGetDatum(now);
	execute("SELECT segmentation, schedule, next_run_at FROM segment.schedules"
			" WHERE active AND schedule IS NOT NULL AND consecutive_failures = 0 AND next_run_at > $2",
			2, types, values, NULL, SPI_OK_SELECT);
	/* kept until SPI_finish, whatever runs in between */
	jobs = SPI_tuptable;
	njobs = SPI_processed;
	for (uint64 i = 0; i < njobs; i++)
	{
		Schedule	schedule;
		bool		isnull;
		TimestampTz next;

		schedule_parse(SPI_getvalue(jobs->vals[i], jobs->tupdesc, 2), &schedule);
		if (schedule.is_interval)
			continue;
		next = schedule_next(&schedule, now, now, tz);
		if (next == DatumGetTimestampTz(SPI_getbinval(jobs->vals[i], jobs->tupdesc, 3, &isnull)))
			continue;
		values[0] = SPI_getbinval(jobs->vals[i], jobs->tupdesc, 1, &isnull);
		values[1] = TimestampTzGetDatum(next);
		execute("UPDATE segment.schedules SET next_run_at = $2 WHERE segmentation = $1",
				2, types, values, NULL, SPI_OK_UPDATE);
	}
	end_work();
	if (njobs > 0)
		ereport(LOG,
				(errmsg("segment scheduler: the next runs of cron schedules are read in time zone \"%s\"", zone)));
	strlcpy(cron_zone, zone, sizeof(cron_zone));
}

/* A pass failed: segment.jobs shows why, and since when, until one goes well. */
static void
set_scheduler_error(const char *message)
{
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	if (my_slot->failing_since == 0)
		my_slot->failing_since = GetCurrentTimestamp();
	strlcpy(my_slot->error, message, sizeof(my_slot->error));
	LWLockRelease(segment_shared->lock);
}

static void
clear_scheduler_error(void)
{
	/* only this process sets it */
	if (my_slot->failing_since == 0)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	my_slot->failing_since = 0;
	my_slot->error[0] = '\0';
	LWLockRelease(segment_shared->lock);
}

/* The extension, at a version with scheduling, is installed here. */
static bool
extension_present(void)
{
	bool		present;

	StartTransactionCommand();
	present = OidIsValid(get_extension_oid("segment", true)) &&
		OidIsValid(get_relname_relid("schedules", get_namespace_oid("segment", true)));
	CommitTransactionCommand();
	return present;
}

/*
 * Leaves when the extension is not here, saying so to the launcher -- unless
 * a CREATE EXTENSION woke the launcher meanwhile (it may be this one's).
 */
static void
leave_without_extension(void)
{
	uint64		generation;

	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	generation = segment_shared->wake_generation;
	LWLockRelease(segment_shared->lock);
	if (extension_present())
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	if (segment_shared->wake_generation == generation)
		my_slot->no_extension = true;
	LWLockRelease(segment_shared->lock);
	proc_exit(0);
}

/*
 * The database's SQL objects are the version this library serves.  If not
 * (the package was upgraded, the database not yet), no job runs: the old
 * objects are not what this code reads and writes.  Said once in the log
 * and in segment.jobs (scheduler_error, once updated); an ALTER EXTENSION
 * segment UPDATE lets the next pass run the jobs, without a restart.
 */
static bool
catalog_current(void)
{
	static bool reported = false;
	char		message[SCHEDULER_ERROR_BYTES];
	char		database[NAMEDATALEN];
	bool		current;

	StartTransactionCommand();
	{
		char	   *version = catalog_version();

		strlcpy(database, get_database_name(MyDatabaseId), sizeof(database));

		current = version != NULL && strcmp(version, SEGMENT_LIBRARY_VERSION) == 0;
		if (!current)
			snprintf(message, sizeof(message),
					 "the segment extension of this database is at version %s, the library at %s:"
					 " no job runs until ALTER EXTENSION segment UPDATE",
					 version != NULL ? version : "(none)", SEGMENT_LIBRARY_VERSION);
	}
	CommitTransactionCommand();
	if (current)
	{
		reported = false;
		return true;
	}
	if (!reported)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segment scheduler: %s", message),
				 errhint("Run ALTER EXTENSION segment UPDATE in database \"%s\".", database)));
	reported = true;
	set_scheduler_error(message);
	return false;
}

static void
scheduler_exit(int code, Datum arg)
{
	ListCell   *lc;

	/* its job workers go too: they would block DROP DATABASE */
	foreach(lc, running)
		TerminateBackgroundWorker(((RunningJob *) lfirst(lc))->handle);
	if (my_slot == NULL)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	if (my_slot->pid == MyProcPid)
	{
		my_slot->pid = 0;
		my_slot->latch = NULL;
		my_slot->running_jobs = 0;
		my_slot->failing_since = 0;
		my_slot->error[0] = '\0';
	}
	LWLockRelease(segment_shared->lock);
}

void
segment_scheduler_main(Datum arg)
{
	Oid			database = DatumGetObjectId(arg);
	MemoryContext loop_cxt;
	bool		claimed;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	segment_worker_connected();
	pgstat_report_appname("segment scheduler");

	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	my_slot = segment_slot(database, true);
	claimed = my_slot != NULL && (my_slot->pid == 0 || my_slot->pid == -1);
	if (claimed)
	{
		my_slot->pid = MyProcPid;
		my_slot->latch = &MyProc->procLatch;
		my_slot->running_jobs = 0;
		my_slot->failing_since = 0;
		my_slot->error[0] = '\0';
	}
	LWLockRelease(segment_shared->lock);
	if (!claimed)
		proc_exit(0);			/* another scheduler serves this database */
	before_shmem_exit(scheduler_exit, (Datum) 0);

	leave_without_extension();

	/* the run log need not wait for the disk: a crash marks runs failed anyway */
	SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_OVERRIDE);

	/* runs a crash or an immediate shutdown cut short */
	begin_work();
	execute("UPDATE segment.runs SET status = 'failed', finished_at = clock_timestamp(),"
			" error_message = 'the server restarted (or the scheduler stopped) while the refresh ran'"
			" WHERE status = 'running'", 0, NULL, NULL, NULL, SPI_OK_UPDATE);
	ereport(LOG, (errmsg("segment scheduler started for database \"%s\"", get_database_name(database))));
	end_work();

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "segment scheduler loop", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		volatile long sleep_ms = (long) segment_naptime_s * 1000L;
		TimestampTz now;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/*
		 * Off: no new run starts, the running ones finish and are logged (a
		 * worker's end wakes it), then it leaves; the launcher starts it
		 * again when enabled.
		 */
		if (!segment_enabled && running == NIL)
			proc_exit(0);
		leave_without_extension();
		if (!catalog_current())
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 (long) segment_naptime_s * 1000L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		old = MemoryContextSwitchTo(loop_cxt);
		PG_TRY();
		{
			now = GetCurrentTimestamp();
			pgstat_report_activity(STATE_RUNNING, "segment scheduler: checking jobs");
			reap_jobs(now);
			log_ended_refreshes();
			recompute_cron_runs(now);
			if (segment_enabled)
				sleep_ms = run_due_jobs(now);
			else
				sleep_ms = deadlines_sleep(now, sleep_ms);
			prune_run_log(now);
			clear_scheduler_error();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* logged, shown in segment.jobs, tried again after a nap: the scheduler stays up */
			MemoryContextSwitchTo(loop_cxt);
			edata = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			set_scheduler_error(edata->message != NULL ? edata->message : "unknown error");
			sleep_ms = (long) segment_naptime_s * 1000L;
		}
		PG_END_TRY();
		pgstat_report_activity(STATE_IDLE, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);
		if (!segment_enabled && running == NIL)
			continue;			/* the last running job ended: leave now */

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
