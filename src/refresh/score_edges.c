/*
 * score_edges.c -- the edges of quantile scores, selected from an array of
 * the values or read from a tuplesort of them (score_edges.h).
 *
 * The values are kept as int8 keys that order as the float8s do (the
 * tuplesort has a fast path for int8), -0 made 0 so that equal values get
 * equal keys.  NaN never comes: the build refuses NaN amounts first.
 *
 * An array of keys costs 8 bytes a customer where the tuplesort's in-memory
 * entries cost 24: 16 million customers fit in 128MB instead of spilling,
 * and picking a few ranks by selection (quickselect, three-way partitions
 * for runs of equal values) reads the array a few times instead of sorting.
 */
#include "postgres.h"

#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/memutils.h"
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
	edges->work_mem_kb = work_mem_kb;
	edges->cxt = CurrentMemoryContext;
	edges->max_keys = Max((int64) work_mem_kb * 1024 / (int64) sizeof(int64), 1024);
	edges->capacity = Min(edges->max_keys, 1024);
	edges->keys = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * edges->capacity);
}

/*
 * Past the memory given: the keys so far to a tuplesort, and the rest after
 * them.  The sort gets half the memory: with the array it holds until the
 * keys are moved, one and a half times the memory given at most.
 */
static void
spill_to_sort(ScoreEdges *edges)
{
	MemoryContext old = MemoryContextSwitchTo(edges->cxt);

	edges->sort = tuplesort_begin_datum(INT8OID, Int8LessOperator, InvalidOid, false,
										Max(edges->work_mem_kb / 2, 64), NULL, TUPLESORT_NONE);
	for (int64 i = 0; i < edges->n; i++)
		tuplesort_putdatum(edges->sort, Int64GetDatum(edges->keys[i]), false);
	pfree(edges->keys);
	edges->keys = NULL;
	MemoryContextSwitchTo(old);
}

void
score_edges_put(ScoreEdges *edges, float8 value)
{
	int64		key = float8_key(value);

	if (edges->keys != NULL && edges->n == edges->capacity)
	{
		if (edges->capacity == edges->max_keys)
			spill_to_sort(edges);
		else
		{
			edges->capacity = Min(edges->capacity * 2, edges->max_keys);
			edges->keys = repalloc_huge(edges->keys, sizeof(int64) * edges->capacity);
		}
	}
	if (edges->keys != NULL)
		edges->keys[edges->n] = key;
	else
		tuplesort_putdatum(edges->sort, Int64GetDatum(key), false);
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

/* splitmix64: pivots that no row order can make slow, the same in every run */
static uint64
next_random(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Moves keys[lo .. hi) so that each of the wanted ranks (sorted, within
 * [lo, hi)) holds the key a full sort would put there.  Past depth levels
 * the range is sorted instead: never worse than n log n.
 */
static void
select_ranks(int64 *keys, int64 lo, int64 hi, const int64 *ranks, int nranks, int depth,
			 uint64 *random)
{
	while (nranks > 0)
	{
		int64		pivot;
		int64		lt = lo;		/* keys[lo .. lt) < pivot */
		int64		i = lo;			/* keys[lt .. i) = pivot */
		int64		gt = hi;		/* keys[gt .. hi) > pivot */
		int			left = 0;		/* ranks below lt */
		int			right;			/* the first rank at or past gt */

		CHECK_FOR_INTERRUPTS();
		if (hi - lo <= 64 || depth-- == 0)
		{
			qsort(keys + lo, hi - lo, sizeof(int64), cmp_int64);
			return;
		}
		pivot = keys[lo + (int64) (next_random(random) % (uint64) (hi - lo))];
		while (i < gt)
		{
			int64		k = keys[i];

			if (k < pivot)
			{
				keys[i++] = keys[lt];
				keys[lt++] = k;
			}
			else if (k > pivot)
			{
				keys[i] = keys[--gt];
				keys[gt] = k;
			}
			else
				i++;
		}
		while (left < nranks && ranks[left] < lt)
			left++;
		right = left;
		while (right < nranks && ranks[right] < gt)
			right++;
		/* the smaller side by recursion, the larger by the loop */
		if (lt - lo < hi - gt)
		{
			select_ranks(keys, lo, lt, ranks, left, depth, random);
			ranks += right;
			nranks -= right;
			lo = gt;
		}
		else
		{
			select_ranks(keys, gt, hi, ranks + right, nranks - right, depth, random);
			nranks = left;
			hi = lt;
		}
	}
}

/* The edges, and the top_k-th largest value, selected from the array of keys. */
static void
finish_select(ScoreEdges *edges, int64 top_k)
{
	int64		n = edges->n;
	int64		ranks[SCORE_MAX_BINS];
	int			nranks = 0;
	int64		kth_rank = top_k > 0 && n > 0 ? n - Min(top_k, n) : -1;
	int			depth = 2;
	uint64		random = 0;

	for (int64 m = n; m > 1; m >>= 1)
		depth += 2;
	for (int32 j = 1; j < edges->bins && n > 0; j++)
		ranks[nranks++] = ((int64) j * n + edges->bins - 1) / edges->bins - 1;
	if (kth_rank >= 0)
		ranks[nranks++] = kth_rank;
	qsort(ranks, nranks, sizeof(int64), cmp_int64);
	select_ranks(edges->keys, 0, n, ranks, nranks, depth, &random);
	/* the edge of score j + 1 is the value at rank ceil(j * n / bins) - 1 */
	for (int32 j = 1; j < edges->bins && n > 0; j++)
		edges->edge[j - 1] = key_float8(edges->keys[((int64) j * n + edges->bins - 1) / edges->bins - 1]);
	if (kth_rank >= 0)
	{
		int64		kth = edges->keys[kth_rank];

		edges->kth_largest = key_float8(kth);
		edges->above_kth = 0;
		for (int64 i = 0; i < n; i++)
			edges->above_kth += edges->keys[i] > kth;
	}
	pfree(edges->keys);
	edges->keys = NULL;
}

void
score_edges_finish(ScoreEdges *edges, int64 top_k)
{
	if (edges->counts != NULL)
	{
		Assert(top_k == 0);
		finish_counts(edges);
	}
	else if (edges->keys != NULL)
		finish_select(edges, top_k);
	else
		finish_sort(edges, top_k);
}
