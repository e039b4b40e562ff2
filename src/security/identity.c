/*
 * identity.c -- the identities the extension's code runs with (identity.h).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "common/catalog_version.h"
#include "security/identity.h"

/* the owner of the refresh running in this backend, InvalidOid if none */
static Oid	internal_owner = InvalidOid;

void
identity_enter(IdentityContext *cxt, Oid role, bool restricted)
{
	GetUserIdAndSecContext(&cxt->saved_userid, &cxt->saved_sec_context);
	SetUserIdAndSecContext(role, cxt->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
	cxt->nest_level = NewGUCNestLevel();
	/* names resolve in the catalog first, never in a schema a role planted */
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
identity_exit(IdentityContext *cxt)
{
	AtEOXact_GUC(false, cxt->nest_level);
	SetUserIdAndSecContext(cxt->saved_userid, cxt->saved_sec_context);
}

Oid
extension_owner(void)
{
	Oid			extension = get_extension_oid("segment", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		elog(ERROR, "segment: extension \"segment\" has no owner");
	return owner;
}

Oid
internal_calls_allow(Oid owner)
{
	Oid			previous = internal_owner;

	internal_owner = owner;
	return previous;
}

void
internal_calls_restore(Oid previous)
{
	internal_owner = previous;
}

static bool
in_refresh_as_owner(void)
{
	return OidIsValid(internal_owner) && GetUserId() == internal_owner && InSecurityRestrictedOperation();
}

void
check_internal_call(FunctionCallInfo fcinfo)
{
	if (in_refresh_as_owner())
		return;
	/* the SQL of an earlier version calls it with other arguments: say so first */
	require_catalog_version(psprintf("segment.%s()",
									 fcinfo->flinfo != NULL ? get_func_name(fcinfo->flinfo->fn_oid) : "?"));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("function segment.%s is internal to segment",
					fcinfo->flinfo != NULL ? get_func_name(fcinfo->flinfo->fn_oid) : "?"),
			 errdetail("Only a refresh calls it, as the segmentation's owner."),
			 errhint("Call segment.refresh(name) instead.")));
}

/* segment._internal_only(caller text): the check of the PL/pgSQL internal functions. */
PG_FUNCTION_INFO_V1(internal_only);

Datum
internal_only(PG_FUNCTION_ARGS)
{
	if (in_refresh_as_owner())
		PG_RETURN_VOID();
	require_catalog_version(psprintf("segment.%s()", PG_ARGISNULL(0) ? "?" : text_to_cstring(PG_GETARG_TEXT_PP(0))));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("function segment.%s is internal to segment",
					PG_ARGISNULL(0) ? "?" : text_to_cstring(PG_GETARG_TEXT_PP(0))),
			 errdetail("Only a refresh calls it, as the segmentation's owner."),
			 errhint("Call segment.refresh(name) instead.")));
	PG_RETURN_VOID();
}
