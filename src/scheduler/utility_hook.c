/*
 * utility_hook.c -- a scheduler never stands in the way of DROP DATABASE,
 * ALTER DATABASE ... RENAME or CREATE DATABASE ... TEMPLATE: before those
 * run, the database's scheduler (and its job workers) are stopped and held
 * off.  The hold ends when the command does -- the launcher, woken, starts
 * the scheduler again at once -- except after a DROP DATABASE that
 * succeeded, whose database is gone (the hold then only bounds the time
 * until the drop commits).
 */
#include "postgres.h"

#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "common/compat.h"
#include "scheduler/shared.h"

#define HOLD_OFF_MS 30000
#define WAIT_FOR_EXIT_MS 5000

static ProcessUtility_hook_type previous_hook = NULL;

/* Stops the scheduler of a database; returns the database held off, or InvalidOid. */
static Oid
stop_scheduler(const char *dbname)
{
	Oid			database = get_database_oid(dbname, true);
	SchedulerSlot *slot;
	pid_t		pid = 0;

	/* only for those who may run the command: others would just fail it */
	if (!OidIsValid(database) || segment_shared == NULL || !database_ownercheck(database, GetUserId()))
		return InvalidOid;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	slot = segment_slot(database, true);
	if (slot != NULL)
	{
		slot->held_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_OFF_MS);
		pid = slot->pid;
	}
	LWLockRelease(segment_shared->lock);
	if (slot == NULL)
		return InvalidOid;
	if (pid <= 0)
		return database;
	kill(pid, SIGTERM);
	/* its exit callback stops its job workers; wait until it is gone */
	for (int waited = 0; waited < WAIT_FOR_EXIT_MS; waited += 10)
	{
		bool		gone;

		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		gone = slot->pid != pid;
		LWLockRelease(segment_shared->lock);
		if (gone)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
	return database;
}

/* Ends the hold of a database and wakes the launcher, which starts its scheduler. */
static void
release_scheduler(Oid database)
{
	SchedulerSlot *slot;
	Latch	   *latch = NULL;

	if (!OidIsValid(database))
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	slot = segment_slot(database, false);
	if (slot != NULL)
		slot->held_until = 0;
	latch = segment_shared->launcher_latch;
	LWLockRelease(segment_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

static void
segment_process_utility(UTILITY_HOOK_PARAMS)
{
	Node	   *stmt = pstmt->utilityStmt;
	Oid			held = InvalidOid;
	bool		dropping = false;

	if (IsA(stmt, DropdbStmt))
	{
		held = stop_scheduler(((DropdbStmt *) stmt)->dbname);
		dropping = true;
	}
	else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		held = stop_scheduler(((RenameStmt *) stmt)->subname);
	else if (IsA(stmt, CreatedbStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreatedbStmt *) stmt)->options)
		{
			DefElem    *option = lfirst(lc);

			if (strcmp(option->defname, "template") == 0 && option->arg != NULL)
				held = stop_scheduler(defGetString(option));
		}
	}
	/* the copy or the rename is done, or failed: the scheduler comes back */
	PG_TRY();
	{
		if (previous_hook != NULL)
			previous_hook(UTILITY_HOOK_ARGS);
		else
			standard_ProcessUtility(UTILITY_HOOK_ARGS);
	}
	PG_CATCH();
	{
		release_scheduler(held);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!dropping)
		release_scheduler(held);
}

void
segment_install_utility_hook(void)
{
	previous_hook = ProcessUtility_hook;
	ProcessUtility_hook = segment_process_utility;
}
