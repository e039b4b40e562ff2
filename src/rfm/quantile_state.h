/*
 * quantile_state.h -- segment.quantile_state, the transition state of the
 * quantile_edges aggregate.
 *
 * A plain varlena (not "internal") so that partial aggregates travel between
 * parallel workers and Citus nodes as values with a text form.  It holds the
 * distinct values seen with their multiplicities: items[0..nitems), of which
 * the first nsorted are sorted ascending and merged.  Duplicates are merged
 * whenever the array fills up, so memory follows the number of distinct
 * values, not the number of rows (a frequency column of ten million orders
 * fits in a few kilobytes).
 *
 * Text form: "<bins>;<n>;<v>[*<count>],..." with the values ascending, for
 * example "5;4;1.5*2,3,7".
 */
#ifndef SEGMENT_QUANTILE_STATE_H
#define SEGMENT_QUANTILE_STATE_H

#include "postgres.h"

typedef struct QuantileItem
{
	float8		value;
	int64		count;
} QuantileItem;

typedef struct QuantileState
{
	int32		vl_len_;		/* varlena header; VARSIZE gives the capacity */
	int32		bins;
	int64		total;			/* sum of the counts: values seen */
	int32		nitems;
	int32		nsorted;		/* items[0..nsorted) are sorted and merged */
	QuantileItem items[FLEXIBLE_ARRAY_MEMBER];
} QuantileState;

#define QUANTILE_STATE_HEADER offsetof(QuantileState, items)
#define QUANTILE_STATE_CAPACITY(s) \
	((int32) ((VARSIZE(s) - QUANTILE_STATE_HEADER) / sizeof(QuantileItem)))

extern QuantileState *quantile_state_create(int32 bins, int32 capacity);
extern QuantileState *quantile_state_make_room(QuantileState *state, int32 needed);
extern void quantile_state_compact(QuantileState *state);
extern QuantileState *quantile_state_copy_compacted(const QuantileState *state);

#endif							/* SEGMENT_QUANTILE_STATE_H */
