/*
 * utility_hook.c -- a scheduler never stands in the way of DROP DATABASE,
 * ALTER DATABASE ... RENAME or CREATE DATABASE ... TEMPLATE: before those
 * run, the database's scheduler (and its job workers) are stopped and kept
 * off for a while.
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

#include "compat.h"
#include "shared.h"

#define HOLD_OFF_MS 30000
#define WAIT_FOR_EXIT_MS 5000

static ProcessUtility_hook_type previous_hook = NULL;

static void
stop_scheduler(const char *dbname)
{
	Oid			database = get_database_oid(dbname, true);
	SchedulerSlot *slot;
	pid_t		pid = 0;

	/* only for those who may run the command: others would just fail it */
	if (!OidIsValid(database) || segment_shared == NULL || !database_ownercheck(database, GetUserId()))
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	slot = segment_slot(database, true);
	if (slot != NULL)
	{
		slot->held_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_OFF_MS);
		pid = slot->pid;
	}
	LWLockRelease(segment_shared->lock);
	if (pid <= 0)
		return;
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
}

static void
segment_process_utility(UTILITY_HOOK_PARAMS)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (IsA(stmt, DropdbStmt))
		stop_scheduler(((DropdbStmt *) stmt)->dbname);
	else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		stop_scheduler(((RenameStmt *) stmt)->subname);
	else if (IsA(stmt, CreatedbStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreatedbStmt *) stmt)->options)
		{
			DefElem    *option = lfirst(lc);

			if (strcmp(option->defname, "template") == 0 && option->arg != NULL)
				stop_scheduler(defGetString(option));
		}
	}
	if (previous_hook != NULL)
		previous_hook(UTILITY_HOOK_ARGS);
	else
		standard_ProcessUtility(UTILITY_HOOK_ARGS);
}

void
segment_install_utility_hook(void)
{
	previous_hook = ProcessUtility_hook;
	ProcessUtility_hook = segment_process_utility;
}
