/*
 * row_writer.c -- rows appended to a table the refresh has just made, page
 * by page or in batched multi-row inserts (see row_writer.h).
 */
#include "postgres.h"

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "catalog/catalog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/memutils.h"

#include "common/compat.h"
#include "security/relation_check.h"
#include "refresh/row_writer.h"

#define BATCH_ROWS 1000
/* pages written, and WAL-logged in one record, at a time */
#define DIRECT_PAGES 32

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
	writer->frozen = rel->rd_createSubid == GetCurrentSubTransactionId();

	/*
	 * Pages directly: the table was made in this (sub)transaction and is
	 * empty, so no other backend has it in shared buffers or can read it.
	 * The tuples carry this subtransaction's id: if it aborts, they are dead
	 * (or, frozen, go with the table it made).
	 * Not for unlogged tables (the checkpointer would never sync them), nor
	 * under wal_level = logical (logical decoding reads rows, not pages).
	 */
	writer->direct = RelationGetNumberOfBlocks(rel) == 0 &&
		rel->rd_rel->relpersistence == RELPERSISTENCE_PERMANENT &&
		!RelationIsLogicallyLogged(rel);
	writer->needs_wal = RelationNeedsWAL(rel);
	writer->xid = GetCurrentTransactionId();
	writer->start_redo = GetRedoRecPtr();
	writer->pages = palloc(BLCKSZ * DIRECT_PAGES);
	writer->npages = 0;
	writer->first_block = 0;
	writer->rows_since_reset = 0;
}

/* WAL-logs and appends the batch's pages. */
static void
write_pages(RowWriter *writer)
{
	BlockNumber blknos[DIRECT_PAGES];
	Page		pages[DIRECT_PAGES];

	if (writer->npages == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	/* nothing else may have extended the table meanwhile */
	if (smgrnblocks(RelationGetSmgr(writer->rel), MAIN_FORKNUM) != writer->first_block)
		elog(ERROR, "segment: table \"%s\" grew while its pages were being written",
			 RelationGetRelationName(writer->rel));
	for (int i = 0; i < writer->npages; i++)
	{
		blknos[i] = writer->first_block + i;
		pages[i] = writer->pages + (Size) i * BLCKSZ;
	}
	/* sets each page's LSN */
	if (writer->needs_wal)
		log_newpages(segment_rel_storage(writer->rel), MAIN_FORKNUM, writer->npages, blknos, pages, true);
	for (int i = 0; i < writer->npages; i++)
	{
		PageSetChecksumInplace(pages[i], blknos[i]);
		/* with WAL, the next checkpoint syncs the file (see row_writer_close) */
		smgrextend(RelationGetSmgr(writer->rel), MAIN_FORKNUM, blknos[i], (char *) pages[i],
				   !writer->needs_wal);
	}
	/* the kernel starts writing them now, not in bursts that hold up other backends' reads */
	smgrwriteback(RelationGetSmgr(writer->rel), MAIN_FORKNUM, writer->first_block, writer->npages);
	writer->first_block += writer->npages;
	writer->npages = 0;
}

/* Adds the slot's row to the pages; false if it needs TOAST. */
static bool
add_to_page(RowWriter *writer, TupleTableSlot *slot)
{
	HeapTuple	tuple;
	Page		page;
	OffsetNumber offset;
	HeapTupleHeader stored;

	tuple = heap_form_tuple(slot->tts_tupleDescriptor, slot->tts_values, slot->tts_isnull);
	/* what heap_insert would hand to TOAST: too long, or pointing into a TOAST table */
	if (tuple->t_len > TOAST_TUPLE_THRESHOLD || HeapTupleHasExternal(tuple))
		return false;
	/* the header heap_insert gives a new tuple */
	tuple->t_data->t_infomask &= ~HEAP_XACT_MASK;
	tuple->t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	tuple->t_data->t_infomask |= HEAP_XMAX_INVALID;
	HeapTupleHeaderSetXmin(tuple->t_data, writer->xid);
	HeapTupleHeaderSetCmin(tuple->t_data, writer->cid);
	HeapTupleHeaderSetXmax(tuple->t_data, 0);
	if (writer->frozen)
		HeapTupleHeaderSetXminFrozen(tuple->t_data);

	page = writer->npages == 0 ? NULL : writer->pages + (Size) (writer->npages - 1) * BLCKSZ;
	if (page == NULL || PageGetHeapFreeSpace(page) < MAXALIGN(tuple->t_len))
	{
		if (writer->npages == DIRECT_PAGES)
			write_pages(writer);
		page = writer->pages + (Size) writer->npages * BLCKSZ;
		PageInit(page, BLCKSZ, 0);
		writer->npages++;
	}
	offset = PageAddItem(page, (Item) tuple->t_data, tuple->t_len, InvalidOffsetNumber, false, true);
	if (offset == InvalidOffsetNumber)
		elog(ERROR, "segment: could not add a row to a new page");
	stored = (HeapTupleHeader) PageGetItem(page, PageGetItemId(page, offset));
	ItemPointerSet(&stored->t_ctid, writer->first_block + writer->npages - 1, offset);
	heap_freetuple(tuple);
	writer->written++;
	return true;
}

static void
flush(RowWriter *writer)
{
	if (writer->pending == 0)
		return;
	CHECK_FOR_INTERRUPTS();
	table_multi_insert(writer->rel, writer->slots, writer->pending, writer->cid,
					   writer->frozen ? TABLE_INSERT_FROZEN : 0, writer->bistate);
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

	if (writer->direct && ++writer->rows_since_reset == BATCH_ROWS)
	{
		MemoryContextReset(writer->batch_cxt);
		writer->rows_since_reset = 0;
	}
	if (writer->pending == BATCH_ROWS)
		flush(writer);
	slot = writer->slots[writer->pending];
	ExecClearTuple(slot);
	return slot;
}

void
row_writer_add(RowWriter *writer)
{
	TupleTableSlot *slot = writer->slots[writer->pending];

	ExecStoreVirtualTuple(slot);
	if (writer->direct)
	{
		MemoryContext old = MemoryContextSwitchTo(writer->batch_cxt);
		bool		added = add_to_page(writer, slot);

		MemoryContextSwitchTo(old);
		if (added)
		{
			ExecClearTuple(slot);
			return;
		}
		/* from here on through shared buffers, after the pages written */
		write_pages(writer);
		writer->direct = false;
	}
	writer->pending++;
}

void
row_writer_close(RowWriter *writer)
{
	write_pages(writer);
	/*
	 * Pages written past shared buffers are the checkpointer's to sync only
	 * if no checkpoint began meanwhile: one that did may have its redo point
	 * after our WAL and have synced before our writes (as PostgreSQL's bulk
	 * writes reason).  Without WAL the commit syncs the new table.
	 */
	if (writer->needs_wal && writer->first_block > 0 && GetRedoRecPtr() != writer->start_redo)
	{
		elog(DEBUG1, "segment: a checkpoint began while \"%s\" was written: syncing its %u pages",
			 RelationGetRelationName(writer->rel), writer->first_block);
		smgrimmedsync(RelationGetSmgr(writer->rel), MAIN_FORKNUM);
	}
	pfree(writer->pages);
	flush(writer);
	for (int i = 0; i < BATCH_ROWS; i++)
		ExecDropSingleTupleTableSlot(writer->slots[i]);
	FreeBulkInsertState(writer->bistate);
	table_finish_bulk_insert(writer->rel, 0);
	table_close(writer->rel, NoLock);
	MemoryContextDelete(writer->batch_cxt);
}
