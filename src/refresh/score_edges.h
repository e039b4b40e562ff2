/*
 * score_edges.h -- quantile scores over more customers than memory holds.
 *
 * A score is quantile_score's: 1 + floor(bins * below / n), below being the
 * number of values strictly less than the customer's.  So a value's score
 * is 1 plus the number of edges strictly below it, the edges being the
 * sorted values at ranks ceil(j * n / bins) - 1 for j = 1 .. bins - 1.  The
 * values are kept as 8-byte keys in an array while it fits the memory given,
 * where the edges are selected without a full sort; past it they go through
 * a tuplesort (to disk), read once to pick the edges.  The scores are then
 * given customer by customer.  Integer
 * values with few distinct ones (order counts: at most sqrt(2 * orders)
 * distinct) are counted instead of sorted (score_edges_begin_counts).
 */
#ifndef SEGMENT_SCORE_EDGES_H
#define SEGMENT_SCORE_EDGES_H

#include "postgres.h"

#include "utils/tuplesort.h"

#define SCORE_MAX_BINS 100

typedef struct ScoreEdges
{
	int32		bins;
	int64		n;				/* values put */
	float8		edge[SCORE_MAX_BINS - 1];
	int64	   *keys;			/* the values' keys while they fit, or: */
	int64		capacity;
	int64		max_keys;		/* what the memory given holds */
	int			work_mem_kb;
	MemoryContext cxt;			/* where the sort goes */
	Tuplesortstate *sort;		/* past max_keys, or: */
	struct HTAB *counts;		/* integer values and their counts */
	/* the k-th largest value, when asked for (score_edges_finish's top_k) */
	float8		kth_largest;
	int64		above_kth;		/* values strictly greater */
} ScoreEdges;

extern void score_edges_begin(ScoreEdges *edges, int32 bins, int work_mem_kb);
extern void score_edges_put(ScoreEdges *edges, float8 value);
extern void score_edges_begin_counts(ScoreEdges *edges, int32 bins);
extern void score_edges_count(ScoreEdges *edges, int64 value);

/* Sorts and picks the edges; top_k > 0 also finds the top_k-th largest. */
extern void score_edges_finish(ScoreEdges *edges, int64 top_k);

static inline int32
score_edges_score(const ScoreEdges *edges, float8 value)
{
	int32		score = 1;

	while (score < edges->bins && edges->edge[score - 1] < value)
		score++;
	return score;
}

#endif							/* SEGMENT_SCORE_EDGES_H */
