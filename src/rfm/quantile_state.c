/*
 * quantile_state.c -- layout, compaction and text I/O of segment.quantile_state.
 *
 * The input function trusts nothing: a state may arrive from another node or
 * from a user, so every field is checked before it is used.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "rfm/quantile.h"
#include "rfm/quantile_state.h"
#include "common/textio.h"

PG_FUNCTION_INFO_V1(quantile_state_in);
PG_FUNCTION_INFO_V1(quantile_state_out);

/* the largest item count whose state still fits in one varlena (1 GB) */
#define QUANTILE_STATE_MAX_ITEMS \
	((int32) ((MaxAllocSize - QUANTILE_STATE_HEADER) / sizeof(QuantileItem)))

QuantileState *
quantile_state_create(int32 bins, int32 capacity)
{
	Size		size = QUANTILE_STATE_HEADER + (Size) capacity * sizeof(QuantileItem);
	QuantileState *state = palloc0(size);	/* no stray bytes in the datum */

	SET_VARSIZE(state, size);
	state->bins = bins;
	state->total = 0;
	state->nitems = 0;
	state->nsorted = 0;
	return state;
}

/* Sort all items and merge equal values, in place. */
void
quantile_state_compact(QuantileState *state)
{
	int32		out = 0;
	int32		i;

	if (state->nsorted == state->nitems)
		return;
	segment_sort_by_float8(state->items, state->nitems, sizeof(QuantileItem));
	for (i = 0; i < state->nitems; i++)
	{
		if (out > 0 && state->items[out - 1].value == state->items[i].value)
			state->items[out - 1].count += state->items[i].count;
		else
			state->items[out++] = state->items[i];
	}
	state->nitems = out;
	state->nsorted = out;
}

/*
 * Make room for "needed" more items.  Merges duplicates first and grows only
 * when that freed less than half the array.  A grown state is a new palloc in
 * the current context; the old one is left to its owner (the aggregate
 * executor frees it after copying the new one into the aggregate context).
 */
QuantileState *
quantile_state_make_room(QuantileState *state, int32 needed)
{
	int32		capacity = QUANTILE_STATE_CAPACITY(state);
	int64		wanted;
	QuantileState *grown;

	if ((int64) state->nitems + needed <= capacity)
		return state;
	quantile_state_compact(state);
	if ((int64) state->nitems + needed <= capacity / 2)
		return state;

	wanted = Max((int64) capacity * 2, (int64) state->nitems + needed);
	if (wanted > QUANTILE_STATE_MAX_ITEMS)
	{
		if ((int64) state->nitems + needed > QUANTILE_STATE_MAX_ITEMS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("quantile_edges cannot hold more than %d distinct values",
							QUANTILE_STATE_MAX_ITEMS),
					 errdetail("Exact edges keep every distinct value, and the state of one aggregate is limited to 1 GB."),
					 errhint("Compute the edges on a sample (TABLESAMPLE or a random subset) and score every row with segment.score(value, edges).")));
		wanted = QUANTILE_STATE_MAX_ITEMS;
	}
	grown = quantile_state_create(state->bins, (int32) wanted);
	grown->total = state->total;
	grown->nitems = state->nitems;
	grown->nsorted = state->nsorted;
	memcpy(grown->items, state->items, state->nitems * sizeof(QuantileItem));
	return grown;
}

QuantileState *
quantile_state_copy_compacted(const QuantileState *state)
{
	QuantileState *copy = quantile_state_create(state->bins, Max(state->nitems, 1));

	copy->total = state->total;
	copy->nitems = state->nitems;
	copy->nsorted = state->nsorted;
	memcpy(copy->items, state->items, state->nitems * sizeof(QuantileItem));
	quantile_state_compact(copy);
	return copy;
}

static void
invalid_state(const char *input, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type segment.quantile_state: \"%s\"", input),
			 errdetail("%s", detail),
			 errhint("The text form is \"<bins>;<n>;<value>[*<count>],...\" with values ascending and counts adding up to n, for example \"5;4;1.5*2,3,7\".")));
}

Datum
quantile_state_in(PG_FUNCTION_ARGS)
{
	const char *input = PG_GETARG_CSTRING(0);
	const char *p = input;
	int64		bins;
	int64		total;
	int64		sum = 0;
	int32		capacity;
	QuantileState *state;

	if (!segment_parse_int64(&p, &bins) || *p++ != ';')
		invalid_state(input, "It must start with the number of bins followed by \";\".");
	if (bins < SEGMENT_MIN_BINS || bins > SEGMENT_MAX_BINS)
		invalid_state(input, "The number of bins must be between 2 and 100.");
	if (!segment_parse_int64(&p, &total) || *p++ != ';')
		invalid_state(input, "The number of bins must be followed by the number of values and \";\".");
	if (total < 0)
		invalid_state(input, "The number of values must not be negative.");

	/* one item per comma-separated field */
	capacity = 1;
	for (const char *c = p; *c; c++)
		if (*c == ',')
			capacity++;
	if (capacity > QUANTILE_STATE_MAX_ITEMS)
		invalid_state(input, "It holds more distinct values than a state can.");
	state = quantile_state_create((int32) bins, capacity);
	state->total = total;

	while (*p)
	{
		QuantileItem item;

		if ((state->nitems & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();

		if (!segment_parse_float8(&p, &item.value))
			invalid_state(input, "Each item must start with a finite float8.");
		item.count = 1;
		if (*p == '*')
		{
			p++;
			if (!segment_parse_int64(&p, &item.count) || item.count < 1)
				invalid_state(input, "A count after \"*\" must be a positive integer.");
		}
		item.value += 0.0;		/* -0 is stored as 0 */
		if (state->nitems > 0 && !(state->items[state->nitems - 1].value < item.value))
			invalid_state(input, "Values must be strictly ascending.");
		if (item.count > PG_INT64_MAX - sum)
			invalid_state(input, "The counts overflow.");
		sum += item.count;
		state->items[state->nitems++] = item;
		if (*p == ',')
		{
			p++;
			if (*p == '\0')
				invalid_state(input, "A trailing comma is not allowed.");
		}
		else if (*p != '\0')
			invalid_state(input, "Items must be separated by \",\".");
	}
	if (sum != total)
		invalid_state(input, "The counts must add up to the number of values.");
	state->nsorted = state->nitems;
	PG_RETURN_POINTER(state);
}

Datum
quantile_state_out(PG_FUNCTION_ARGS)
{
	QuantileState *state = quantile_state_copy_compacted((QuantileState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
	StringInfoData buf;
	int32		i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%d;" INT64_FORMAT ";", state->bins, state->total);
	for (i = 0; i < state->nitems; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		segment_append_float8(&buf, state->items[i].value);
		if (state->items[i].count > 1)
			appendStringInfo(&buf, "*" INT64_FORMAT, state->items[i].count);
	}
	PG_RETURN_CSTRING(buf.data);
}
