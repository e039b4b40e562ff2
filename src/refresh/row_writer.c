/*
 * row_writer.c -- batched multi-row inserts into a table the refresh has
 * just made (see row_writer.h).
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "security/relation_check.h"
#include "refresh/row_writer.h"

#define BATCH_ROWS 1000

void
row_writer_open(RowWriter *writer, Oid relid, const Oid *types, int ntypes)
{
	Relation	rel = relation_open_existing(relid, RowExclusiveLock, "new");
	TupleDesc	desc = RelationGetDescr(rel);

	/* only ever a plain table of this refresh: nothing to bypass */
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhasindex ||
		rel->trigdesc != NULL || rel->rd_rel->relhasrules)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("segment cannot bulk-write into \"%s\"", RelationGetRelationName(rel)),
				 errdetail("It is not a plain table without indexes, triggers or rules."),
				 errhint("segment.refresh() writes only into the tables it has just made.")));
	relation_check_made_here(rel);
	/* the slots are filled by position: the types must be these exactly */
	for (int i = 0; i < desc->natts || i < ntypes; i++)
		if (i >= desc->natts || i >= ntypes || TupleDescAttr(desc, i)->attisdropped ||
			TupleDescAttr(desc, i)->atttypid != types[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("table \"%s\" does not have the columns segment writes", RelationGetRelationName(rel)),
					 errdetail("It needs %d columns of the segment table's types; column %d differs.", ntypes, i + 1),
					 errhint("If the segment table was altered, drop the segmentation and create it again.")));
	writer->rel = rel;
	writer->slots = palloc(sizeof(TupleTableSlot *) * BATCH_ROWS);
	for (int i = 0; i < BATCH_ROWS; i++)
		writer->slots[i] = table_slot_create(rel, NULL);
	writer->pending = 0;
	writer->bistate = GetBulkInsertState();
	writer->cid = GetCurrentCommandId(true);
	writer->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment rows", ALLOCSET_DEFAULT_SIZES);
	writer->written = 0;
}

static void
flush(RowWriter *writer)
{
	if (writer->pending == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	table_multi_insert(writer->rel, writer->slots, writer->pending, writer->cid, 0, writer->bistate);
	for (int i = 0; i < writer->pending; i++)
		ExecClearTuple(writer->slots[i]);
	writer->written += writer->pending;
	writer->pending = 0;
	MemoryContextReset(writer->batch_cxt);
}

TupleTableSlot *
row_writer_next(RowWriter *writer)
{
	TupleTableSlot *slot;

	if (writer->pending == BATCH_ROWS)
		flush(writer);
	slot = writer->slots[writer->pending];
	ExecClearTuple(slot);
	return slot;
}

void
row_writer_add(RowWriter *writer)
{
	ExecStoreVirtualTuple(writer->slots[writer->pending]);
	writer->pending++;
}

void
row_writer_close(RowWriter *writer)
{
	flush(writer);
	for (int i = 0; i < BATCH_ROWS; i++)
		ExecDropSingleTupleTableSlot(writer->slots[i]);
	FreeBulkInsertState(writer->bistate);
	table_finish_bulk_insert(writer->rel, 0);
	table_close(writer->rel, NoLock);
	MemoryContextDelete(writer->batch_cxt);
}
