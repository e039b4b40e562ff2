/*
 * quantile_score.c -- segment.quantile_score(value float8, bins int4) OVER (...)
 *
 * On its first call in a window partition the function reads the value of
 * every row of the partition once, sorts (value, row) pairs and stores for
 * each row the number of values strictly below its own.  Every call is then
 * an array lookup by row position: O(n log n) once per partition, whatever
 * the window's ORDER BY or frame (the score depends on the whole partition,
 * like rank() over a sort).  A binary search per row was tried first and
 * cost more than the sort, from cache misses.  NULL values are left out of
 * the population and score NULL.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "windowapi.h"

#include "rfm/quantile.h"

PG_FUNCTION_INFO_V1(quantile_score);

typedef struct ScorePartition
{
	bool		built;
	int64		n;				/* non-null values in the partition */
	int64	   *below;			/* per row: values strictly below; -1 = NULL */
} ScorePartition;

typedef struct ValueAtRow
{
	float8		value;			/* first: the sort key */
	int64		row;
} ValueAtRow;

static void
build_partition(WindowObject winobj, ScorePartition *part)
{
	MemoryContext partcxt = GetMemoryChunkContext(part);
	MemoryContext evalcxt;
	MemoryContext oldcxt;
	int64		capacity = 1024;
	int64		n = 0;
	int64		rows;
	int64		i;
	ValueAtRow *values;

	values = MemoryContextAllocHuge(CurrentMemoryContext, capacity * sizeof(ValueAtRow));

	/* argument expressions may allocate (numeric casts): reset them often */
	evalcxt = AllocSetContextCreate(CurrentMemoryContext, "quantile_score rows",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(evalcxt);
	for (rows = 0;; rows++)
	{
		bool		isnull;
		bool		isout;
		Datum		d;

		/* before the next value is computed, never while one is in use */
		if ((rows & 1023) == 1023)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(evalcxt);
		}
		d = WinGetFuncArgInPartition(winobj, 0, rows, WINDOW_SEEK_HEAD, false,
									 &isnull, &isout);
		if (isout)
			break;
		if (isnull)
			continue;
		if (n == capacity)
		{
			capacity *= 2;
			values = repalloc_huge(values, capacity * sizeof(ValueAtRow));
		}
		values[n].value = segment_check_value("quantile_score", DatumGetFloat8(d));
		values[n].row = rows;
		n++;
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(evalcxt);

	segment_sort_by_float8(values, n, sizeof(ValueAtRow));

	part->below = MemoryContextAllocHuge(partcxt, Max(rows, 1) * sizeof(int64));
	memset(part->below, -1, rows * sizeof(int64));
	for (i = 0; i < n; i++)
	{
		/* equal values share the rank of the first of them */
		int64		below = (i > 0 && values[i].value == values[i - 1].value) ?
			part->below[values[i - 1].row] : i;

		part->below[values[i].row] = below;
	}
	pfree(values);
	part->n = n;
	part->built = true;
}

Datum
quantile_score(PG_FUNCTION_ARGS)
{
	WindowObject winobj = PG_WINDOW_OBJECT();
	ScorePartition *part;
	bool		isnull;
	Datum		d;
	int32		bins;
	int64		below;

	d = WinGetFuncArgCurrent(winobj, 1, &isnull);
	bins = segment_check_bins("quantile_score", isnull, d);

	part = (ScorePartition *) WinGetPartitionLocalMemory(winobj, sizeof(ScorePartition));
	if (!part->built)
		build_partition(winobj, part);

	below = part->below[WinGetCurrentPosition(winobj)];
	if (below < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(segment_score_from_rank(below, part->n, bins));
}
