/*
 * refresh_entry.c -- segment.refresh() and segment.drop_segmentation(): who
 * may run them, and with whose privileges each part runs.
 *
 * Whoever calls them (the owner, a member of the owner, a superuser, or a
 * scheduler's job worker), the work on the segmentation -- reading its
 * sources, the owner's views and functions among them, and building,
 * swapping or dropping its tables -- runs as the segmentation's owner in a
 * security-restricted operation with a GUC nest level of its own
 * (identity.h), the way REFRESH MATERIALIZED VIEW and VACUUM run a table
 * owner's code.  That work is the SQL function segment._refresh (or
 * segment._drop_tables), which users may not execute: it is called here
 * through the function manager.  The run log and the catalog row are
 * written here, as the extension's owner, so that users need no write
 * privilege on them.
 *
 * A failed manual refresh is rolled back with the caller's transaction; its
 * row in the run log is written by a background worker (run_log.c), from
 * the error caught here in a subtransaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/portal.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "common/catalog_version.h"
#include "security/identity.h"
#include "refresh/refresh_entry.h"
#include "refresh/run_log.h"
#include "segment.h"
#include "scheduler/shared.h"

PG_FUNCTION_INFO_V1(refresh_segmentation);
PG_FUNCTION_INFO_V1(drop_segmentation);
PG_FUNCTION_INFO_V1(segmentation_owner);

/*
 * The segmentations this backend is refreshing now, innermost last: the
 * owner's code may call segment.refresh() on another of its segmentations,
 * never on one being refreshed (whose partitions would change under it).
 * In TopMemoryContext; emptied at transaction end.
 */
static List *refreshing = NIL;
static bool refreshing_callback = false;

static void
forget_refreshing(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		list_free_deep(refreshing);
		refreshing = NIL;
	}
}

/* A segmentation as this file needs it. */
typedef struct Segmentation
{
	char	   *name;
	Oid			owner;
	bool		has_touchpoints;
} Segmentation;

/* the identity saved by execute_as_extension_owner */
static IdentityContext extension_owner_cxt;

/*
 * Runs one statement as the extension's owner, which owns the catalog
 * tables; its result stays in SPI_tuptable until finish_as_extension_owner.
 */
static void
execute_as_extension_owner(const char *sql, int nargs, Oid *types, Datum *values, bool read_only)
{
	int			rc;

	identity_enter(&extension_owner_cxt, extension_owner(), true);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	rc = SPI_execute_with_args(sql, nargs, types, values, NULL, read_only, 0);
	if (rc < 0)
		elog(ERROR, "segment: internal statement failed: %s", SPI_result_code_string(rc));
}

static void
finish_as_extension_owner(void)
{
	SPI_finish();
	identity_exit(&extension_owner_cxt);
}

/*
 * The owner of a segmentation, whoever may see it, or InvalidOid when none
 * has that name.
 */
static Oid
owner_of(const char *name, bool *has_touchpoints)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	Oid			owner = InvalidOid;

	/* the catalog's row-level security shows each role its own rows: read it as its owner */
	execute_as_extension_owner("SELECT owner::oid, touchpoints IS NOT NULL FROM segment.segmentations WHERE name = $1",
							   1, types, values, true);
	if (SPI_processed == 1)
	{
		bool		isnull;

		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (has_touchpoints != NULL)
			*has_touchpoints = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
														  &isnull));
	}
	finish_as_extension_owner();
	return owner;
}

/*
 * The segmentation, if the current role is its owner, a member of the
 * owner or a superuser; else an error saying whether it does not exist or
 * is not the caller's.
 */
static Segmentation
own_segmentation(text *name_arg)
{
	Segmentation s;

	if (name_arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the segmentation name must not be NULL"),
				 errhint("See SELECT name FROM segment.segmentations for yours.")));
	s.name = text_to_cstring(name_arg);
	s.has_touchpoints = false;
	s.owner = owner_of(s.name, &s.has_touchpoints);
	if (!OidIsValid(s.owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segmentation \"%s\" does not exist", s.name),
				 errhint("See SELECT name FROM segment.segmentations for yours.")));
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(s.owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owner of segmentation \"%s\" no longer exists", s.name),
				 errdetail("Role %u owned it and has been dropped.", s.owner),
				 errhint("Drop the segmentation and create it again as another role.")));
	if (!has_privs_of_role(GetUserId(), s.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be the owner of segmentation \"%s\"", s.name),
				 errdetail("It belongs to role %s.", GetUserNameFromId(s.owner, false)),
				 errhint("Run this as %s, as a member of it, or as a superuser.", GetUserNameFromId(s.owner, false))));
	return s;
}

/* An SQL function of the extension's, by name and argument types. */
static Oid
internal_function(const char *name, int nargs, Oid *argtypes)
{
	List	   *names = list_make2(makeString("segment"), makeString(pstrdup(name)));

	return LookupFuncName(names, nargs, argtypes, false);
}

static bool
name_in(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * Closes the cursors opened in the current subtransaction, before it is
 * released: a cursor the owner's code opened (or reopened under the name of
 * one of the caller's) would otherwise run the rest of its query later, as
 * whoever fetches from it, outside the restricted operation.
 */
static void
close_cursors_of_subtransaction(void)
{
	SubTransactionId mine = GetCurrentSubTransactionId();
	MemoryContext caller = CurrentMemoryContext;
	List	   *names = NIL;
	ListCell   *lc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	if (SPI_execute("SELECT name FROM pg_catalog.pg_cursors", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "segment: could not list the open cursors");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(caller);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	foreach(lc, names)
	{
		Portal		portal = GetPortalByName(lfirst(lc));

		if (PortalIsValid(portal) && portal->createSubid == mine && portal->status != PORTAL_ACTIVE)
			PortalDrop(portal, false);
	}
}

/*
 * Runs an internal SQL function as the owner, in a subtransaction so that
 * the caller can record a failure before it is raised again.  Returns its
 * result; on error, *error holds the error (the subtransaction rolled back).
 */
static Datum
call_as_owner(Oid owner, Oid function, int nargs, Datum *args, bool *nulls, ErrorData **error,
			  bool *result_null)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	Oid			previous = internal_calls_allow(owner);
	Datum		result = (Datum) 0;

	*error = NULL;
	*result_null = true;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_cxt);
	PG_TRY();
	{
		IdentityContext cxt;
		LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);
		FmgrInfo	flinfo;

		identity_enter(&cxt, owner, true);
		fmgr_info(function, &flinfo);
		InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
		for (int i = 0; i < nargs; i++)
		{
			fcinfo->args[i].value = args[i];
			fcinfo->args[i].isnull = nulls[i];
		}
		result = FunctionCallInvoke(fcinfo);
		*result_null = fcinfo->isnull;
		identity_exit(&cxt);
		close_cursors_of_subtransaction();
		/* the result outlives the subtransaction */
		MemoryContextSwitchTo(caller_cxt);
		if (!*result_null)
		{
			int16		typlen;
			bool		typbyval;

			get_typlenbyval(get_func_rettype(function), &typlen, &typbyval);
			result = datumCopy(result, typbyval, typlen);
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_cxt);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_cxt);
		*error = CopyErrorData();
		FlushErrorState();
		/* also restores the caller's identity and settings */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_cxt);
		CurrentResourceOwner = caller_owner;
	}
	PG_END_TRY();
	internal_calls_restore(previous);
	return result;
}

/*
 * Whether another session is refreshing it; else its catalog row is locked
 * for this transaction.  A row lock, which no role can take on a row that
 * row-level security hides from it (an advisory lock anyone could take).
 * It does not conflict with the key-share locks of rows that refer to it.
 */
static bool
refresh_running_elsewhere(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		locked;

	execute_as_extension_owner("SELECT 1 FROM segment.segmentations WHERE name = $1 FOR NO KEY UPDATE SKIP LOCKED",
							   1, types, values, false);
	locked = SPI_processed == 1;
	finish_as_extension_owner();
	return !locked;
}

/*
 * The work table the attribution fills (segment._attribute), made here
 * because a restricted operation may create no temporary table: as the
 * owner, before any code of the owner's runs, so that it gains nothing.
 */
static void
make_attribution_table(Oid owner)
{
	IdentityContext cxt;
	Oid			temp_namespace = LookupExplicitNamespace("pg_temp", true);

	/* an earlier refresh's in this transaction, maybe another owner's */
	if (OidIsValid(temp_namespace) && OidIsValid(get_relname_relid("segment_attributed", temp_namespace)))
	{
		execute_as_extension_owner("DROP TABLE pg_temp.segment_attributed", 0, NULL, NULL, false);
		finish_as_extension_owner();
	}
	identity_enter(&cxt, owner, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	if (SPI_execute("CREATE TEMP TABLE segment_attributed (segment_type pg_catalog.text, segment pg_catalog.text,"
					" model pg_catalog.text, channel pg_catalog.text, conversions pg_catalog.float8,"
					" revenue pg_catalog.float8, first_conversions pg_catalog.float8) ON COMMIT DROP",
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "segment: could not create the attribution work table");
	SPI_finish();
	identity_exit(&cxt);
}

/* Records the outcome of a refresh that succeeded: the run row, the model, the metrics kept. */
static void
record_success(const char *name, int64 run_id, Datum outcome)
{
	Oid			types[3] = {INT8OID, JSONBOID, TEXTOID};
	Datum		values[3] = {Int64GetDatum(run_id), outcome, CStringGetTextDatum(name)};

	execute_as_extension_owner(
		"WITH o AS (SELECT $2 AS j),"
		" run AS (UPDATE segment.runs SET finished_at = pg_catalog.clock_timestamp(), status = 'succeeded',"
		"   rows = (o.j->>'rows')::int8, orders_scanned = (o.j->>'orders_scanned')::int8,"
		"   rows_skipped = (o.j->>'rows_skipped')::int8, scan_method = o.j->>'scan_method',"
		"   scan_workers = (o.j->>'scan_workers')::int4, scan_ms = (o.j->>'scan_ms')::float8,"
		"   cluster_ms = (o.j->>'cluster_ms')::float8, score_ms = (o.j->>'score_ms')::float8,"
		"   history_ms = (o.j->>'history_ms')::float8, attribution_ms = (o.j->>'attribution_ms')::float8,"
		"   touches_skipped = (o.j->>'touches_skipped')::int8, swap_ms = (o.j->>'swap_ms')::float8,"
		"   scan_partitions = (o.j->>'scan_partitions')::int4, refresh_kind = o.j->>'refresh_kind',"
		"   full_reason = o.j->>'full_reason', customers_changed = (o.j->>'customers_changed')::int8,"
		"   predict_ms = (o.j->>'predict_ms')::float8, warning = o.j->>'warning'"
		"   FROM o WHERE run_id = $1 RETURNING 1),"
		" seg AS (UPDATE segment.segmentations SET model = (o.j->>'model')::segment.kmeans_model,"
		"   bgnbd_model = (o.j->>'bgnbd_model')::segment.bgnbd_model,"
		"   gammagamma_model = (o.j->>'gammagamma_model')::segment.gammagamma_model,"
		"   last_refreshed_at = (o.j->>'refreshed_at')::timestamptz, incremental_basis = o.j->'basis',"
		"   last_full_refresh_at = CASE WHEN o.j->>'refresh_kind' = 'full' THEN (o.j->>'refreshed_at')::timestamptz"
		"     ELSE last_full_refresh_at END"
		"   FROM o WHERE name = $3 RETURNING last_refreshed_at),"
		/* the captured changes the refresh read (or read past, when full) are done with */
		" cc AS (DELETE FROM segment.captured_changes AS c USING o WHERE c.segmentation = $3"
		"   AND pg_catalog.pg_visible_in_snapshot(c.txid, (o.j->>'changes_snapshot')::pg_catalog.pg_snapshot)"
		"   RETURNING 1),"
		" s AS (DELETE FROM segment.summaries AS m USING seg"
		"   WHERE m.segmentation = $3 AND m.refreshed_at IS DISTINCT FROM seg.last_refreshed_at RETURNING 1),"
		" mi AS (DELETE FROM segment.migrations AS m USING seg"
		"   WHERE m.segmentation = $3 AND m.to_refreshed_at IS DISTINCT FROM seg.last_refreshed_at RETURNING 1),"
		" a AS (DELETE FROM segment.attributions AS m USING seg"
		"   WHERE m.segmentation = $3 AND m.refreshed_at IS DISTINCT FROM seg.last_refreshed_at RETURNING 1)"
		" SELECT (SELECT count(*) FROM run), (SELECT count(*) FROM s), (SELECT count(*) FROM mi),"
		"   (SELECT count(*) FROM a), (SELECT count(*) FROM cc)",
		3, types, values, false);
	finish_as_extension_owner();
}

int64
segment_refresh(text *name_arg, int64 scheduled_run, bool full, bool force)
{
	Segmentation s;
	TimestampTz started;
	int64		run_id = scheduled_run;
	Oid			argtypes[4] = {TEXTOID, INT8OID, BOOLOID, BOOLOID};
	Datum		args[4];
	bool		nulls[4] = {false, false, false, false};
	ErrorData  *error;
	bool		result_null;
	Datum		outcome;
	int64		rows;
	int			guc_level;

	require_catalog_version("segment.refresh()");
	s = own_segmentation(name_arg);
	started = GetCurrentTimestamp();

	if (name_in(refreshing, s.name))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("segmentation \"%s\" is already being refreshed in this session", s.name),
				 errdetail("A refresh of it is running code that refreshes it again."),
				 errhint("Remove the call of segment.refresh() from the sources of the segmentation.")));
	if (refresh_running_elsewhere(s.name))
	{
		char	   *message = psprintf("segmentation \"%s\" is being refreshed by another session", s.name);

		if (scheduled_run == 0)
			run_log_record(s.name, started, "skipped", message);
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg_internal("%s", message),
				 errdetail("Two refreshes of one segmentation never run at once; this one did not start."),
				 errhint("Wait for the running refresh to finish (see segment.job_runs), then refresh again if needed.")));
	}

	if (scheduled_run == 0)
	{
		Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
		Datum		values[2] = {CStringGetTextDatum(s.name), TimestampTzGetDatum(started)};
		bool		isnull;

		execute_as_extension_owner("INSERT INTO segment.runs (segmentation, started_at, status)"
								   " VALUES ($1, $2, 'running') RETURNING run_id",
								   2, types, values, false);
		run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		finish_as_extension_owner();
	}
	if (s.has_touchpoints)
		make_attribution_table(s.owner);

	if (!refreshing_callback)
	{
		RegisterXactCallback(forget_refreshing, NULL);
		refreshing_callback = true;
	}
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		refreshing = lappend(refreshing, pstrdup(s.name));
		MemoryContextSwitchTo(old);
	}
	progress_begin(s.name, s.owner);
	if (scheduled_run == 0)
		progress_mark_manual();
	args[0] = CStringGetTextDatum(s.name);
	args[1] = Int64GetDatum(run_id);
	args[2] = BoolGetDatum(force);
	args[3] = BoolGetDatum(full);
	/* the index builds take no more workers than the scan may (restored when the refresh returns) */
	guc_level = NewGUCNestLevel();
	if (segment_refresh_workers() < max_parallel_maintenance_workers)
		(void) set_config_option("max_parallel_maintenance_workers", psprintf("%d", segment_refresh_workers()),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	outcome = call_as_owner(s.owner, internal_function("_refresh", 4, argtypes), 4, args, nulls, &error,
							&result_null);
	AtEOXact_GUC(true, guc_level);
	pfree(llast(refreshing));
	refreshing = list_delete_last(refreshing);
	if (error != NULL)
	{
		progress_end();
		if (scheduled_run == 0)
			run_log_record(s.name, started, "failed", error->message);
		ReThrowError(error);
	}
	record_success(s.name, run_id, outcome);
	/* freed at transaction end, which in an explicit transaction may come much later */
	progress_mark_finished();
	{
		Jsonb	   *j = DatumGetJsonbP(outcome);
		JsonbValue	key;
		JsonbValue *v;

		key.type = jbvString;
		key.val.string.val = "rows";
		key.val.string.len = 4;
		v = findJsonbValueFromContainer(&j->root, JB_FOBJECT, &key);
		rows = v != NULL && v->type == jbvNumeric ?
			DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric))) : 0;
	}
	return rows;
}

/*
 * segment.refresh(name text, full boolean DEFAULT false, force boolean
 * DEFAULT false) → int8: the customers.
 */
Datum
refresh_segmentation(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(segment_refresh(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0), 0,
									!PG_ARGISNULL(1) && PG_GETARG_BOOL(1),
									!PG_ARGISNULL(2) && PG_GETARG_BOOL(2)));
}

/*
 * segment.drop_segmentation(name text): its tables dropped as the owner
 * (only those made for it), then its catalog row and, by cascade, its run
 * log, metrics and schedule.
 */
Datum
drop_segmentation(PG_FUNCTION_ARGS)
{
	Segmentation s;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		nulls[1] = {false};
	ErrorData  *error;
	bool		result_null;

	require_catalog_version("segment.drop_segmentation()");
	s = own_segmentation(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	args[0] = CStringGetTextDatum(s.name);
	/* a refresh running meanwhile is waited for, on the tables' locks */
	call_as_owner(s.owner, internal_function("_drop_tables", 1, argtypes), 1, args, nulls, &error, &result_null);
	if (error != NULL)
		ReThrowError(error);
	execute_as_extension_owner("DELETE FROM segment.segmentations WHERE name = $1", 1, argtypes, args, false);
	finish_as_extension_owner();
	execute_as_extension_owner("DELETE FROM segment.captured_changes WHERE segmentation = $1", 1, argtypes, args, false);
	finish_as_extension_owner();
	PG_RETURN_VOID();
}

/*
 * segment._segmentation_owner(name text) → regrole: the owner of a
 * segmentation whoever may see it (NULL: none), so that errors can tell
 * "not yours" from "none".
 */
Datum
segmentation_owner(PG_FUNCTION_ARGS)
{
	Oid			owner;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	owner = owner_of(text_to_cstring(PG_GETARG_TEXT_PP(0)), NULL);
	if (!OidIsValid(owner))
		PG_RETURN_NULL();
	PG_RETURN_OID(owner);
}
