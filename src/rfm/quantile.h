/*
 * quantile.h -- the exact quantile scoring rule shared by the window
 * function, the edges aggregate and score().
 *
 * For a value v among n values, with L = number of values strictly below v
 * (higher is better), score = 1 + floor(bins * L / n).  Ties are never split.
 * The same score is reached from bins - 1 edges e_k = x_(ceil(k * n / bins))
 * of the ascending order: score = 1 + #{k : e_k < v}.
 */
#ifndef SEGMENT_QUANTILE_H
#define SEGMENT_QUANTILE_H

#include "postgres.h"

#define SEGMENT_MIN_BINS 2
#define SEGMENT_MAX_BINS 100

/* Validation: ereport(ERROR) on bad input, naming the calling function. */
extern int32 segment_check_bins(const char *funcname, bool isnull, Datum bins);
extern float8 segment_check_value(const char *funcname, float8 value);

/* Sort float8 values ascending, or 16-byte structs led by a float8 key. */
extern void segment_sort_by_float8(void *base, int64 n, size_t elemsize);

/* Number of elements of a sorted array strictly below value. */
extern int64 segment_count_below(const float8 *sorted, int64 n, float8 value);

static inline int32
segment_score_from_rank(int64 below, int64 n, int32 bins)
{
	/* below < n always holds for a member of the population */
	int64		score = 1 + (bins * below) / n;

	return (int32) Min(score, bins);
}

#endif							/* SEGMENT_QUANTILE_H */
