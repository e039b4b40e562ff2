/*
 * schedule_sql.c -- the SQL functions of scheduling: next firing times,
 * wake-ups, and the progress of running refreshes.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "scheduler/cron.h"
#include "security/identity.h"
#include "segment.h"
#include "scheduler/shared.h"

PG_FUNCTION_INFO_V1(next_run);
PG_FUNCTION_INFO_V1(check_schedule);
PG_FUNCTION_INFO_V1(wake_scheduler);
PG_FUNCTION_INFO_V1(wake_launcher);
PG_FUNCTION_INFO_V1(report_progress);
PG_FUNCTION_INFO_V1(refresh_progress);
PG_FUNCTION_INFO_V1(scheduler_pid);
PG_FUNCTION_INFO_V1(scheduler_status);
PG_FUNCTION_INFO_V1(default_job_timeout);

/*
 * segment.next_run(schedule text, after timestamptz, timezone text) →
 * timestamptz: when the schedule fires next after "after" (an interval:
 * after + the interval); cron fields read in timezone, or segment.timezone.
 */
Datum
next_run(PG_FUNCTION_ARGS)
{
	Schedule	schedule;
	TimestampTz after;
	TimestampTz next;
	pg_tz	   *tz;
	char	   *spec;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	spec = text_to_cstring(PG_GETARG_TEXT_PP(0));
	after = PG_GETARG_TIMESTAMPTZ(1);
	schedule_parse(spec, &schedule);
	if (PG_ARGISNULL(2))
		tz = schedule_timezone();
	else
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(2));

		tz = pg_tzset(name);
		if (tz == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("time zone \"%s\" is not recognized", name),
					 errdetail("The cron fields of a schedule are read in this time zone."),
					 errhint("Use a name from pg_timezone_names, such as 'Europe/Paris', or NULL for segment.timezone.")));
	}
	next = schedule_next(&schedule, after, after, tz);
	if (TIMESTAMP_NOT_FINITE(next))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" never fires", spec),
				 schedule.is_interval ?
				 errdetail("Its next firing after the given time would be past the largest timestamp.") :
				 errdetail("No time in the next 8 years matches all of its fields (for example February 30)."),
				 schedule.is_interval ?
				 errhint("Pass a finite time, such as now().") :
				 errhint("Check the day-of-month and month fields.")));
	PG_RETURN_TIMESTAMPTZ(next);
}

/*
 * segment._check_schedule(schedule text) → bool: true for a valid schedule
 * that fires, else the error next_run() gives.  For the schedules table's
 * CHECK constraint: what the scheduler reads always parses.
 */
Datum
check_schedule(PG_FUNCTION_ARGS)
{
	Schedule	schedule;
	char	   *spec = text_to_cstring(PG_GETARG_TEXT_PP(0));

	schedule_parse(spec, &schedule);
	if (TIMESTAMP_NOT_FINITE(schedule_next(&schedule, 0, 0, pg_tzset("UTC"))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" never fires", spec),
				 errdetail("No time in 8 years matches all of its fields (for example February 30)."),
				 errhint("Check the day-of-month and month fields.")));
	PG_RETURN_BOOL(true);
}

/* segment._wake_scheduler(): this database's scheduler looks at the jobs after commit. */
Datum
wake_scheduler(PG_FUNCTION_ARGS)
{
	segment_wake_scheduler_at_commit();
	PG_RETURN_BOOL(segment_shared != NULL);
}

/* segment._wake_launcher(): at commit, the launcher looks at every database again (CREATE EXTENSION). */
Datum
wake_launcher(PG_FUNCTION_ARGS)
{
	segment_wake_launcher(true);
	PG_RETURN_VOID();
}

/* segment._progress(segmentation text, phase text): this refresh's phase. */
Datum
report_progress(PG_FUNCTION_ARGS)
{
	check_internal_call(fcinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	progress_phase(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/* segment._default_job_timeout() → interval: segment.job_timeout, NULL for none. */
Datum
default_job_timeout(PG_FUNCTION_ARGS)
{
	Interval   *result;

	if (segment_job_timeout_ms <= 0)
		PG_RETURN_NULL();
	result = palloc0(sizeof(Interval));
	result->time = (int64) segment_job_timeout_ms * 1000;
	PG_RETURN_INTERVAL_P(result);
}

/* segment._scheduler_pid() → int4: this database's scheduler, or NULL. */
Datum
scheduler_pid(PG_FUNCTION_ARGS)
{
	SchedulerSlot *slot;
	pid_t		pid = 0;

	if (segment_shared == NULL)
		PG_RETURN_NULL();
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	slot = segment_slot(MyDatabaseId, false);
	if (slot != NULL)
		pid = slot->pid;
	LWLockRelease(segment_shared->lock);
	if (pid <= 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(pid);
}

/*
 * segment._scheduler_status() → (pid int4, error text, failing_since
 * timestamptz): this database's scheduler (pid NULL when none runs), and
 * while its passes fail, why and since when.  The message may name other
 * roles' objects: as the scheduler's query in pg_stat_activity, it is shown
 * to members of pg_read_all_stats, others are sent to the server log.
 */
Datum
scheduler_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[3] = {0};
	bool		nulls[3] = {true, true, true};
	pid_t		pid = 0;
	TimestampTz since = 0;
	char		error[SCHEDULER_ERROR_BYTES] = "";

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (segment_shared != NULL)
	{
		SchedulerSlot *slot;

		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		slot = segment_slot(MyDatabaseId, false);
		if (slot != NULL)
		{
			pid = slot->pid;
			since = slot->failing_since;
			strlcpy(error, slot->error, sizeof(error));
		}
		LWLockRelease(segment_shared->lock);
	}
	if (pid > 0)
	{
		values[0] = Int32GetDatum(pid);
		nulls[0] = false;
	}
	if (since != 0)
	{
		if (has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
			values[1] = CStringGetTextDatum(error);
		else
			values[1] = CStringGetTextDatum("the scheduler of this database is failing: see the server log");
		values[2] = TimestampTzGetDatum(since);
		nulls[1] = nulls[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * segment._refresh_progress() → SETOF (pid int4, segmentation text, phase
 * text, started_at timestamptz, orders_scanned int8, orders_estimated int8):
 * the refreshes running in this database.
 */
Datum
refresh_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (segment_shared == NULL)
		return (Datum) 0;
	for (int i = 0; i < PROGRESS_SLOTS; i++)
	{
		ProgressSlot *p = &segment_shared->progress[i];
		ProgressSlot copy;
		Datum		values[6];
		bool		nulls[6] = {false};

		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		memcpy(&copy, p, offsetof(ProgressSlot, orders_done));
		copy.orders_estimated = p->orders_estimated;
		LWLockRelease(segment_shared->lock);
		/* the owner's refreshes, seen by the owner and its members */
		if (copy.pid == 0 || copy.ended || copy.database != MyDatabaseId ||
			!is_member_of_role(GetUserId(), copy.role))
			continue;
		values[0] = Int32GetDatum(copy.pid);
		values[1] = CStringGetTextDatum(copy.segmentation);
		values[2] = CStringGetTextDatum(copy.phase);
		values[3] = TimestampTzGetDatum(copy.started_at);
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&p->orders_done));
		values[5] = Int64GetDatum(copy.orders_estimated);
		nulls[5] = copy.orders_estimated <= 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
