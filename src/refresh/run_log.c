/*
 * run_log.c -- record a failed or skipped refresh in segment.runs even
 * though the refresh's own transaction is rolled back.
 *
 * A refresh runs in its caller's transaction, so a row it writes about its
 * own failure would vanish with the error it re-raises.  The row is written
 * instead by a short-lived background worker in a transaction of its own,
 * and the caller waits for it.  The worker inserts the row only if the
 * calling role may see the segmentation: refresh_entry.c has checked it
 * already, and nothing else calls this.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "refresh/run_log.h"
#include "scheduler/shared.h"
#include "segment.h"

PGDLLEXPORT void segment_run_log_main(Datum arg);

#define MAX_MESSAGE 4000

typedef struct RunLogRequest
{
	Oid			database;
	Oid			caller;
	TimestampTz started_at;
	TimestampTz finished_at;
	char		segmentation[256];	/* 48 bytes of name at most */
	char		status[16];
	char		message[MAX_MESSAGE];
} RunLogRequest;

static bool start_run_log_writer(const char *segmentation, TimestampTz started_at, const char *status,
								 const char *message);

/*
 * At most one writer per role at a time, and RUN_LOG_WRITERS in all, so
 * that one role's failing refreshes cannot take every worker slot.
 */
bool
run_log_record(const char *segmentation, TimestampTz started_at, const char *status, const char *message)
{
	Oid			caller = GetUserId();
	bool		recorded = false;

	if (!run_log_writer_claim(caller))
	{
		ereport(WARNING,
				(errmsg("could not record the %s refresh of \"%s\" in segment.job_runs", status, segmentation),
				 errdetail("Another failed refresh of role %s is being recorded.", GetUserNameFromId(caller, false)),
				 errhint("The error itself follows; run the refresh again to see it in the run log.")));
		return false;
	}
	PG_TRY();
	{
		recorded = start_run_log_writer(segmentation, started_at, status, message);
	}
	PG_FINALLY();
	{
		run_log_writer_release(caller);
	}
	PG_END_TRY();
	return recorded;
}

/* The worker that writes the row, waited for. */
static bool
start_run_log_writer(const char *segmentation, TimestampTz started_at, const char *status, const char *message)
{
	dsm_segment *seg;
	RunLogRequest *request;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	seg = dsm_create(sizeof(RunLogRequest), 0);
	request = dsm_segment_address(seg);
	memset(request, 0, sizeof(RunLogRequest));
	request->database = MyDatabaseId;
	request->caller = GetUserId();
	request->started_at = started_at;
	request->finished_at = GetCurrentTimestamp();
	strlcpy(request->segmentation, segmentation, sizeof(request->segmentation));
	strlcpy(request->status, status, sizeof(request->status));
	if (message != NULL)
	{
		int			len = pg_mbcliplen(message, strlen(message), sizeof(request->message) - 1);

		memcpy(request->message, message, len);	/* clipped on a character boundary */
		request->message[len] = '\0';
	}

	segment_worker_init(&worker, "segment_run_log_main", "segment run log writer");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle) ||
		WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_POSTMASTER_DIED)
	{
		ereport(WARNING,
				(errmsg("could not record the %s refresh of \"%s\" in segment.job_runs", status,
						request->segmentation),
				 errdetail("No background worker slot was free."),
				 errhint("Raise max_worker_processes.")));
		dsm_detach(seg);
		return false;
	}
	WaitForBackgroundWorkerShutdown(handle);
	dsm_detach(seg);
	return true;
}

void
segment_run_log_main(Datum arg)
{
	dsm_segment *seg;
	RunLogRequest *request;
	Oid			argtypes[6] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, OIDOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		proc_exit(0);			/* the caller is gone */
	request = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(request->database, BOOTSTRAP_SUPERUSERID, 0);
	segment_worker_connected();

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "recording a failed refresh");
	values[0] = CStringGetTextDatum(request->segmentation);
	values[1] = TimestampTzGetDatum(request->started_at);
	values[2] = TimestampTzGetDatum(request->finished_at);
	values[3] = CStringGetTextDatum(request->status);
	values[4] = CStringGetTextDatum(request->message);
	if (request->message[0] == '\0')
		nulls[4] = 'n';
	values[5] = ObjectIdGetDatum(request->caller);
	/* never wait long for a lock the failed transaction may still hold */
	SPI_execute("SET LOCAL lock_timeout = '1s'", false, 0);
	SPI_execute_with_args(
		"INSERT INTO segment.runs (segmentation, started_at, finished_at, status, error_message) "
		"SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM segment.segmentations AS s "
		"WHERE s.name = $1 AND pg_catalog.pg_has_role($6, s.owner, 'MEMBER'))",
		6, argtypes, values, nulls, false, 0);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}
