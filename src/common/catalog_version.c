/*
 * catalog_version.c -- the extension's version in the current database,
 * checked by the entry points whose SQL changed between versions (the
 * refresh and its internal functions, the scheduler), as
 * pg_stat_statements checks the version of the SQL calling it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "common/catalog_version.h"

PG_FUNCTION_INFO_V1(log_run);

char *
catalog_version(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("segment"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

bool
catalog_version_matches(void)
{
	char	   *version = catalog_version();

	return version != NULL && strcmp(version, SEGMENT_LIBRARY_VERSION) == 0;
}

void
require_catalog_version(const char *what)
{
	char	   *version = catalog_version();

	if (version != NULL && strcmp(version, SEGMENT_LIBRARY_VERSION) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s needs the segment extension at version %s in this database, which has version %s",
					what, SEGMENT_LIBRARY_VERSION, version != NULL ? version : "(none)"),
			 errdetail("The installed library serves the SQL objects of version %s; the database's were made by an earlier version.",
					   SEGMENT_LIBRARY_VERSION),
			 errhint("Run ALTER EXTENSION segment UPDATE in this database (it keeps every segmentation, schedule and run).")));
}

/*
 * segment._log_run() of 0.1.0, whose failed-run rows 0.2.0 writes in C: a
 * database still at 0.1.0 gets the error above from it, not a missing symbol.
 */
Datum
log_run(PG_FUNCTION_ARGS)
{
	require_catalog_version("segment._log_run()");
	PG_RETURN_BOOL(false);
}
