/*
 * relation_check.c -- checks of the relations the C code opens
 * (relation_check.h).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_namespace.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "common/compat.h"
#include "security/relation_check.h"

Relation
relation_open_existing(Oid relid, LOCKMODE lockmode, const char *what)
{
	Relation	rel = try_relation_open(relid, lockmode);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the %s relation (OID %u) does not exist", what, relid),
				 errdetail("It was dropped, or never existed."),
				 errhint("Drop the segmentation and create it again on existing relations.")));
	return rel;
}

void
relation_check_plain(Relation rel, const char *what)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the %s relation \"%s\" is not a plain table", what, RelationGetRelationName(rel)),
				 errdetail("A refresh reads and writes only the plain tables it made as partitions of the segment table."),
				 errhint("Do not attach other tables to the segment table; drop the segmentation and create it again.")));
}

Relation
relation_open_readable(Oid relid, LOCKMODE lockmode, const char *what)
{
	Relation	rel = relation_open_existing(relid, lockmode, what);

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the %s relation %s", what,
						quote_identifier(RelationGetRelationName(rel))),
				 errdetail("Role %s has no SELECT privilege on it.", GetUserNameFromId(GetUserId(), false)),
				 errhint("Ask its owner for GRANT SELECT.")));
	return rel;
}

AttrNumber
relation_column(Relation rel, const char *column, Oid type, const char *what)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);
	Oid			found;

	if (attnum <= 0)			/* missing, or a system column */
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", column, RelationGetRelationName(rel)),
				 errdetail("It is a column of the %s.", what),
				 errhint("Drop the segmentation and create it again with the current column names.")));
	found = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
	if (OidIsValid(type) && found != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" has type %s, not %s", column,
						RelationGetRelationName(rel), format_type_be(found), format_type_be(type)),
				 errdetail("It is a column of the %s, whose type was changed.", what),
				 errhint("Change the column back, or drop the segmentation and create it again.")));
	return attnum;
}

void
relation_check_made_here(Relation rel)
{
	if (rel->rd_createSubid == InvalidSubTransactionId ||
		pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("segment writes only into tables the refresh has just made"),
				 errdetail("Relation \"%s\" was not created by this transaction, or the current role may not insert into it.",
						   RelationGetRelationName(rel)),
				 errhint("Call segment.refresh(name).")));
}

/*
 * Whether Citus lists the relation as one of its tables (distributed,
 * reference or Citus-managed local): the rows of such a table are in its
 * shards, not in the heap a scan of it would read.
 */
bool
is_distributed_table(Oid relid)
{
	Oid			catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	if (!OidIsValid(catalog))
		return false;
	rel = table_open(catalog, AccessShareLock);
	/* its first column is logicalrelid */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}
