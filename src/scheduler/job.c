/*
 * job.c -- a job worker: one scheduled refresh, run as the segmentation's
 * owner, recorded in the run row its scheduler made.
 *
 * It connects as the bootstrap superuser (so that an owner without LOGIN
 * works, on every PostgreSQL release) and runs the refresh as a manual one
 * runs (refresh_entry.c): the work on the segmentation as its owner, in a
 * security-restricted operation, so that the refresh -- including any
 * function of the owner's that it calls -- has exactly the owner's
 * privileges and can neither change nor reset them.  segment.job_timeout (or the job's own
 * timeout) cancels it as statement_timeout cancels a client's query.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "refresh/refresh_entry.h"
#include "scheduler/scheduler.h"
#include "segment.h"
#include "scheduler/shared.h"

#define MAX_MESSAGE 4000

/* Updates the run row in a transaction of its own, as the superuser. */
static void
update_run(const char *sql, int64 run_id, const char *status, const char *message)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', status == NULL ? 'n' : ' ', message == NULL ? 'n' : ' '};

	values[0] = Int64GetDatum(run_id);
	values[1] = status == NULL ? (Datum) 0 : CStringGetTextDatum(status);
	values[2] = message == NULL ? (Datum) 0 : CStringGetTextDatum(message);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* bookkeeping need not wait for the disk (the refresh itself does) */
	SPI_execute("SET LOCAL synchronous_commit = off", false, 0);
	if (SPI_execute_with_args(sql, 3, types, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(WARNING, "segment job: could not update run " INT64_FORMAT, run_id);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

static void
record_outcome(int64 run_id, const char *status, const char *message)
{
	update_run("UPDATE segment.runs SET status = $2, error_message = $3, finished_at = clock_timestamp()"
			   " WHERE run_id = $1 AND status = 'running'", run_id, status, message);
}

void
segment_job_main(Datum arg)
{
	JobRequest	request;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *error = NULL;
	char		sqlstate[6] = "";
	bool		owner_exists;

	memcpy(&request, MyBgworkerEntry->bgw_extra, sizeof(JobRequest));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(request.database, InvalidOid, 0);
	segment_worker_connected();
	pgstat_report_appname("segment refresh");

	/* the run starts now (the scheduler's time was when it asked for a worker) */
	update_run("UPDATE segment.runs SET started_at = clock_timestamp() WHERE run_id = $1",
			   request.run_id, NULL, NULL);
	StartTransactionCommand();
	owner_exists = SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(request.owner));
	CommitTransactionCommand();
	if (!owner_exists)
	{
		char		message[256];

		snprintf(message, sizeof(message),
				 "the owner of segmentation \"%s\" (role %u) no longer exists; drop the segmentation or create it again as another role",
				 request.segmentation, request.owner);
		record_outcome(request.run_id, "failed", message);
		proc_exit(0);
	}

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		/* the job's timeout, as a client's statement_timeout would end it */
		if (request.timeout_ms > 0)
			enable_timeout_after(STATEMENT_TIMEOUT, request.timeout_ms);
		{
			char		activity[128];

			snprintf(activity, sizeof(activity), "scheduled refresh of \"%s\" (run " INT64_FORMAT ")",
					 request.segmentation, request.run_id);
			pgstat_report_activity(STATE_RUNNING, activity);
		}
		segment_refresh(cstring_to_text(request.segmentation), request.run_id, false, false);
		disable_timeout(STATEMENT_TIMEOUT, false);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		error = pnstrdup(edata->message, MAX_MESSAGE);
		strlcpy(sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(sqlstate));
		/* the server log gets it too, with its context */
		EmitErrorReport();
		FlushErrorState();
		disable_all_timeouts(false);
		AbortCurrentTransaction();
		SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, 0);
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	if (error != NULL)
		record_outcome(request.run_id, strcmp(sqlstate, "55P03") == 0 ? "skipped" : "failed", error);
	proc_exit(0);
}
