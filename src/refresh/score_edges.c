/*
 * score_edges.c -- the edges of quantile scores, from a tuplesort of the
 * values (score_edges.h).
 *
 * The values are sorted as int8 keys that order as the float8s do (the
 * tuplesort has a fast path for int8), -0 made 0 so that equal values get
 * equal keys.  NaN never comes: the build refuses NaN amounts first.
 */
#include "postgres.h"

#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/hsearch.h"

#include "common/compat.h"
#include "refresh/score_edges.h"

#define SIGN_BIT (UINT64CONST(1) << 63)

static int64
float8_key(float8 value)
{
	uint64		bits;

	if (value == 0.0)
		value = 0.0;
	memcpy(&bits, &value, sizeof(bits));
	/* negative: all bits flipped; positive: the sign bit set (an unsigned order), then signed */
	bits = (bits & SIGN_BIT) ? ~bits : bits | SIGN_BIT;
	return (int64) (bits ^ SIGN_BIT);
}

static float8
key_float8(int64 key)
{
	uint64		bits = (uint64) key ^ SIGN_BIT;
	float8		value;

	bits = (bits & SIGN_BIT) ? bits & ~SIGN_BIT : ~bits;
	memcpy(&value, &bits, sizeof(value));
	return value;
}

void
score_edges_begin(ScoreEdges *edges, int32 bins, int work_mem_kb)
{
	Assert(bins >= 2 && bins <= SCORE_MAX_BINS);
	memset(edges, 0, sizeof(ScoreEdges));
	edges->bins = bins;
	edges->sort = tuplesort_begin_datum(INT8OID, Int8LessOperator, InvalidOid, false, work_mem_kb, NULL,
										TUPLESORT_NONE);
}

void
score_edges_put(ScoreEdges *edges, float8 value)
{
	tuplesort_putdatum(edges->sort, Int64GetDatum(float8_key(value)), false);
	edges->n++;
}

typedef struct ValueCount
{
	int64		value;			/* the key */
	int64		count;
} ValueCount;

void
score_edges_begin_counts(ScoreEdges *edges, int32 bins)
{
	HASHCTL		ctl;

	Assert(bins >= 2 && bins <= SCORE_MAX_BINS);
	memset(edges, 0, sizeof(ScoreEdges));
	edges->bins = bins;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(ValueCount);
	ctl.hcxt = CurrentMemoryContext;
	edges->counts = hash_create("segment score counts", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

void
score_edges_count(ScoreEdges *edges, int64 value)
{
	bool		found;
	ValueCount *entry = hash_search(edges->counts, &value, HASH_ENTER, &found);

	if (!found)
		entry->count = 0;
	entry->count++;
	edges->n++;
}

static int
cmp_value_count(const void *a, const void *b)
{
	int64		x = ((const ValueCount *) a)->value;
	int64		y = ((const ValueCount *) b)->value;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The edges from the counted values, sorted. */
static void
finish_counts(ScoreEdges *edges)
{
	long		distinct = hash_get_num_entries(edges->counts);
	ValueCount *values = palloc(sizeof(ValueCount) * Max(distinct, 1));
	HASH_SEQ_STATUS status;
	ValueCount *entry;
	int64		before = 0;		/* values below values[i] */
	long		i = 0;

	hash_seq_init(&status, edges->counts);
	while ((entry = hash_seq_search(&status)) != NULL)
		values[i++] = *entry;
	qsort(values, distinct, sizeof(ValueCount), cmp_value_count);
	i = 0;
	for (int32 j = 1; j < edges->bins && edges->n > 0; j++)
	{
		int64		rank = ((int64) j * edges->n + edges->bins - 1) / edges->bins - 1;

		while (before + values[i].count <= rank)
			before += values[i++].count;
		edges->edge[j - 1] = (float8) values[i].value;
	}
	pfree(values);
	hash_destroy(edges->counts);
	edges->counts = NULL;
}

/* The edges, and the top_k-th largest value, from the sorted values. */
static void
finish_sort(ScoreEdges *edges, int64 top_k)
{
	int64		n = edges->n;
	int32		next_edge = 0;
	int64		kth_rank = top_k > 0 ? n - Min(top_k, n) : -1;
	int64		last_equal = -1;
	Datum		key;
	bool		isnull;

	tuplesort_performsort(edges->sort);
	for (int64 i = 0; i < n; i++)
	{
		float8		value;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!tuplesort_getdatum(edges->sort, true, false, &key, &isnull, NULL))
			elog(ERROR, "segment: the sort of the scores returned fewer values than it was given");
		value = key_float8(DatumGetInt64(key));
		/* the edge of score j + 1 is the value at rank ceil(j * n / bins) - 1 */
		while (next_edge < edges->bins - 1 &&
			   ((int64) (next_edge + 1) * n + edges->bins - 1) / edges->bins - 1 == i)
			edges->edge[next_edge++] = value;
		if (i == kth_rank)
			edges->kth_largest = value;
		if (i >= kth_rank && kth_rank >= 0 && value == edges->kth_largest)
			last_equal = i;
		if (next_edge == edges->bins - 1 && (kth_rank < 0 || (i > kth_rank && last_equal < i)))
			break;
	}
	if (kth_rank >= 0)
		edges->above_kth = n - 1 - last_equal;
	tuplesort_end(edges->sort);
	edges->sort = NULL;
}

void
score_edges_finish(ScoreEdges *edges, int64 top_k)
{
	if (edges->counts != NULL)
	{
		Assert(top_k == 0);
		finish_counts(edges);
	}
	else
		finish_sort(edges, top_k);
}
