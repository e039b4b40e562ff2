/*
 * launcher.c -- the cluster's segment launcher: one background worker that
 * starts a scheduler in every database that accepts connections, finds
 * which have the extension (a scheduler without it leaves and says so), and
 * looks again when woken (CREATE EXTENSION, a schedule in a database with no
 * scheduler yet) or every segment.naptime for new databases.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "scheduler/scheduler.h"
#include "segment.h"
#include "scheduler/shared.h"

PGDLLEXPORT void segment_launcher_main(Datum arg);

/* The databases that accept connections, in a list of Oids. */
static List *
connectable_databases(MemoryContext cxt)
{
	List	   *databases = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		MemoryContext old;

		if (!db->datallowconn || db->datistemplate)
			continue;
		old = MemoryContextSwitchTo(cxt);
		databases = lappend_oid(databases, db->oid);
		MemoryContextSwitchTo(old);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt); /* the commit left TopMemoryContext current */
	return databases;
}

static bool
start_scheduler(Oid database)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	segment_worker_init(&worker, "segment_scheduler_main", "segment scheduler");
	snprintf(worker.bgw_name, BGW_MAXLEN, "segment scheduler (database %u)", database);
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

/*
 * Starts the schedulers that should run and do not: a database gets one
 * unless one runs, it was found without the extension, or it is held.
 */
static bool
start_schedulers(List *databases)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	bool		all_started = true;

	foreach(lc, databases)
	{
		Oid			database = lfirst_oid(lc);
		SchedulerSlot *slot;
		bool		start = false;

		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		slot = segment_slot(database, true);
		if (slot != NULL && (slot->pid == 0 || (slot->pid == -1 && slot->start_deadline <= now)) &&
			!slot->no_extension && slot->held_until <= now)
		{
			/* claimed (-1) for 10 s, so that a second look does not start
			 * another; a scheduler that never came up is started again after */
			slot->pid = -1;
			slot->start_deadline = TimestampTzPlusMilliseconds(now, 10 * 1000);
			start = true;
		}
		LWLockRelease(segment_shared->lock);
		if (start && !start_scheduler(database))
		{
			ereport(LOG,
					(errmsg("segment launcher: no background worker slot for the scheduler of database %u", database),
					 errhint("Raise max_worker_processes.")));
			LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
			slot->pid = 0;
			LWLockRelease(segment_shared->lock);
			all_started = false;
		}
	}
	/* forget databases that are gone */
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < segment_shared->nslots; i++)
	{
		SchedulerSlot *slot = &segment_shared->slots[i];

		if (slot->database != InvalidOid && slot->pid == 0 && !list_member_oid(databases, slot->database))
			slot->database = InvalidOid;
	}
	LWLockRelease(segment_shared->lock);
	return all_started;
}

static void
launcher_exit(int code, Datum arg)
{
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	if (segment_shared->launcher_pid == MyProcPid)
	{
		segment_shared->launcher_pid = 0;
		segment_shared->launcher_latch = NULL;
	}
	LWLockRelease(segment_shared->lock);
}

void
segment_launcher_main(Datum arg)
{
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("segment launcher");

	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	segment_shared->launcher_pid = MyProcPid;
	segment_shared->launcher_latch = &MyProc->procLatch;
	LWLockRelease(segment_shared->lock);
	before_shmem_exit(launcher_exit, (Datum) 0);

	cxt = AllocSetContextCreate(TopMemoryContext, "segment launcher", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		sleep_ms = (long) segment_naptime_s * 1000L;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		segment_shared->rescan = false;
		LWLockRelease(segment_shared->lock);
		if (segment_enabled)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			/* no worker slot for some: try again soon, slots free up */
			if (!start_schedulers(connectable_databases(cxt)))
				sleep_ms = Min(sleep_ms, 1000L);
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
