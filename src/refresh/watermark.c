/*
 * watermark.c -- the high-water mark of an incremental refresh with
 * incremental = 'watermark': the largest value of the orders' watermark
 * column below which no row can still be committed later.
 *
 * A sequence-fed id column: the sequence's last value, read before waiting
 * (as CREATE INDEX CONCURRENTLY waits) for the transactions writing to the
 * orders at that moment -- a value is drawn while its INSERT holds the
 * table's lock, so every value up to that one belongs to a transaction that
 * has ended once the wait is over.  An insertion time column (now(),
 * clock_timestamp()): the start of the oldest transaction still running in
 * the database (segment._oldest_transaction_start), since a row's time is no
 * earlier than its transaction's start.  refresh.sql reads the rows above
 * the last refresh's mark up to the new one.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/backend_status.h"
#include "utils/timestamp.h"

#include "security/identity.h"

PG_FUNCTION_INFO_V1(wait_for_writers);
PG_FUNCTION_INFO_V1(oldest_transaction_start);

/* segment._wait_for_writers(rel regclass): until the transactions writing to rel now have ended. */
Datum
wait_for_writers(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	check_internal_call(fcinfo);
	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, PG_GETARG_OID(0));
	/* RowExclusiveLock, which every INSERT, UPDATE and DELETE holds, conflicts with ShareLock */
	WaitForLockers(tag, ShareLock, false);
	PG_RETURN_VOID();
}

/*
 * segment._oldest_transaction_start() → timestamptz: when the oldest
 * transaction of another session of this database began (NULL: none runs).
 */
Datum
oldest_transaction_start(PG_FUNCTION_ARGS)
{
	int			n = pgstat_fetch_stat_numbackends();
	TimestampTz oldest = 0;
	bool		found = false;

	check_internal_call(fcinfo);
	for (int i = 1; i <= n; i++)
	{
		PgBackendStatus *be = pgstat_fetch_stat_beentry(i);

		/* sessions and background workers write orders; autovacuum and the like do not */
		if (be == NULL || be->st_procpid == MyProcPid || be->st_databaseid != MyDatabaseId ||
			be->st_xact_start_timestamp == 0 ||
			(be->st_backendType != B_BACKEND && be->st_backendType != B_BG_WORKER))
			continue;
		if (!found || be->st_xact_start_timestamp < oldest)
			oldest = be->st_xact_start_timestamp;
		found = true;
	}
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(oldest);
}
