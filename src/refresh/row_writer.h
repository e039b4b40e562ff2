/*
 * row_writer.h -- rows written into a new, index-less table the refresh has
 * just made, which no other transaction can see yet.  As CREATE INDEX
 * writes an index: tuples packed into pages in local memory, the pages
 * WAL-logged whole (when the table needs WAL) and appended to the file,
 * bypassing shared buffers.  A row too large for a page without TOAST
 * switches the writer to table_multi_insert, as COPY writes, for the rest.
 * The refresh writes its new partition and history snapshot this way and
 * builds the indexes afterwards.  Rows of a table made in the writing
 * subtransaction are written frozen, as COPY FREEZE writes them (it goes
 * with them if that subtransaction fails): the queries that read them never
 * set hint bits, so never dirty the pages, and VACUUM never freezes them.
 */
#ifndef SEGMENT_ROW_WRITER_H
#define SEGMENT_ROW_WRITER_H

#include "postgres.h"

#include "access/heapam.h"
#include "executor/tuptable.h"
#include "utils/rel.h"

typedef struct RowWriter
{
	Relation	rel;
	TupleTableSlot **slots;
	int			pending;
	BulkInsertState bistate;
	CommandId	cid;
	MemoryContext batch_cxt;	/* the values of the pending rows */
	int64		written;
	bool		frozen;			/* the table was made in this subtransaction */
	/* writing pages directly */
	bool		direct;
	bool		needs_wal;
	TransactionId xid;
	XLogRecPtr	start_redo;		/* the redo point when the writing began */
	char	   *pages;			/* a batch of pages, the last one being filled */
	int			npages;
	BlockNumber first_block;	/* of pages[0] */
	int			rows_since_reset;
} RowWriter;

/* types: the table's column types, in order, which it must have exactly */
extern void row_writer_open(RowWriter *writer, Oid relid, const Oid *types, int ntypes);

/*
 * The next row's slot, cleared: fill tts_values/tts_isnull, allocating what
 * they point to in writer->batch_cxt, then call row_writer_add.
 */
extern TupleTableSlot *row_writer_next(RowWriter *writer);
extern void row_writer_add(RowWriter *writer);
extern void row_writer_close(RowWriter *writer);

#endif							/* SEGMENT_ROW_WRITER_H */
