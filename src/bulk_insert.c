/*
 * bulk_insert.c -- segment._bulk_insert(target, query): the rows of a query
 * written into a new, index-less table with table_multi_insert, as COPY
 * does: one WAL record per page instead of one per row.  A refresh writes
 * its new partition and its history snapshot this way, and builds the
 * indexes afterwards.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(bulk_insert);

#define BATCH_ROWS 1000

static void
bulk_insert_refused(Relation rel, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("segment._bulk_insert cannot write into \"%s\"", RelationGetRelationName(rel)),
			 errdetail("%s", why),
			 errhint("segment.refresh() calls it on tables it has just made; there is no need to call it directly.")));
}

/* segment._bulk_insert(target regclass, query text) → int8 rows written */
Datum
bulk_insert(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Relation	rel;
	TupleDesc	desc;
	SPIPlanPtr	plan;
	Portal		portal;
	BulkInsertState bistate;
	TupleTableSlot **slots;
	CommandId	cid;
	int64		written = 0;

	rel = table_open(relid, RowExclusiveLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		bulk_insert_refused(rel, "It is not a plain table.");
	if (rel->rd_rel->relhasindex || rel->trigdesc != NULL || rel->rd_rel->relhasrules)
		bulk_insert_refused(rel, "It has indexes, triggers or rules, which a bulk insert would bypass.");
	if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	desc = RelationGetDescr(rel);

	SPI_connect();
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "segment._bulk_insert: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);
	if (portal->tupDesc == NULL || portal->tupDesc->natts != desc->natts)
		bulk_insert_refused(rel, "The query's columns do not match the table's.");
	for (int i = 0; i < desc->natts; i++)
		if (TupleDescAttr(portal->tupDesc, i)->atttypid != TupleDescAttr(desc, i)->atttypid)
			bulk_insert_refused(rel, "The query's column types do not match the table's.");

	cid = GetCurrentCommandId(true);
	bistate = GetBulkInsertState();
	slots = palloc(sizeof(TupleTableSlot *) * BATCH_ROWS);
	for (int i = 0; i < BATCH_ROWS; i++)
		slots[i] = table_slot_create(rel, NULL);
	for (;;)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, BATCH_ROWS);
		n = (int) SPI_processed;
		if (n == 0)
			break;
		for (int i = 0; i < n; i++)
		{
			TupleTableSlot *slot = slots[i];

			ExecClearTuple(slot);
			heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							  slot->tts_values, slot->tts_isnull);
			ExecStoreVirtualTuple(slot);
		}
		/* the values point into the fetched tuples: write before the next fetch */
		table_multi_insert(rel, slots, n, cid, 0, bistate);
		for (int i = 0; i < n; i++)
			ExecClearTuple(slots[i]);
		written += n;
		SPI_freetuptable(SPI_tuptable);
	}
	for (int i = 0; i < BATCH_ROWS; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	FreeBulkInsertState(bistate);
	table_finish_bulk_insert(rel, 0);
	SPI_cursor_close(portal);
	SPI_finish();
	table_close(rel, NoLock);
	PG_RETURN_INT64(written);
}
