/*
 * segment.c -- module entry point and settings.
 *
 * The library works whether or not it is listed in shared_preload_libraries:
 * the settings are defined when it is first loaded, and the "segment."
 * prefix is then reserved so that a misspelt setting is reported instead of
 * being silently kept as a placeholder.  Also the checks shared by the
 * aggregates' support functions.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "compat.h"
#include "segment.h"

PG_MODULE_MAGIC;

int			segment_scan_memory_kb = 1024 * 1024;
int			segment_refresh_work_mem_kb = 256 * 1024;
bool		segment_fast_scan = true;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("segment.scan_memory",
							"Most memory a refresh's fast scan of the orders may use.",
							"Past it the refresh computes the customer facts with SQL, which can spill to disk.",
							&segment_scan_memory_kb,
							1024 * 1024, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("segment.refresh_work_mem",
							"work_mem of a refresh's sorts and hashes.",
							"A refresh sets work_mem to this for its own duration.",
							&segment_refresh_work_mem_kb,
							256 * 1024, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("segment.fast_scan",
							 "Lets refreshes compute customer facts with the C scan when the orders allow it.",
							 "Off, refreshes always use the SQL path (for comparison).",
							 &segment_fast_scan,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("segment");
}

void
segment_require_aggregate(FunctionCallInfo fcinfo, const char *what, const char *detail,
						  const char *aggregate_call)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", what),
				 errdetail("%s", detail),
				 errhint("Call %s instead.", aggregate_call)));
}
