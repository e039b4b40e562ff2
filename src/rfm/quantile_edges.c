/*
 * quantile_edges.c -- the segment.quantile_edges(value, bins) aggregate and
 * segment.score(value, edges).
 *
 * quantile_edges returns the bins - 1 edges e_k = x_(ceil(k * n / bins)) of
 * the ascending order of the non-null values; score(v, edges) is then
 * 1 + #{k : e_k < v}, which equals quantile_score for every member of the
 * population and scores new values consistently.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "rfm/quantile.h"
#include "segment.h"
#include "rfm/quantile_state.h"

PG_FUNCTION_INFO_V1(quantile_edges_transfn);
PG_FUNCTION_INFO_V1(quantile_edges_combine);
PG_FUNCTION_INFO_V1(quantile_edges_final);
PG_FUNCTION_INFO_V1(quantile_score_edges);

#define INITIAL_ITEMS 1024

static void
check_same_bins(int32 expected, int32 got)
{
	if (expected != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be the same for every row of quantile_edges"),
				 errdetail("A group was started with bins = %d and then received bins = %d.",
						   expected, got),
				 errhint("Pass a constant number of bins.")));
}

Datum
quantile_edges_transfn(PG_FUNCTION_ARGS)
{
	int32		bins = segment_check_bins("quantile_edges", PG_ARGISNULL(2), PG_GETARG_DATUM(2));
	QuantileState *state;
	float8		value;

	segment_require_aggregate(fcinfo, "quantile_edges_transfn", "It updates its state argument in place.",
							  "segment.quantile_edges(value, bins)");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	value = segment_check_value("quantile_edges", PG_GETARG_FLOAT8(1));

	if (PG_ARGISNULL(0))
		state = quantile_state_create(bins, INITIAL_ITEMS);
	else
	{
		state = (QuantileState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
		check_same_bins(state->bins, bins);
	}

	/* a run of equal values (sorted input, ties) costs no memory */
	if (state->nitems > 0 && state->items[state->nitems - 1].value == value)
		state->items[state->nitems - 1].count++;
	else
	{
		state = quantile_state_make_room(state, 1);
		state->items[state->nitems].value = value;
		state->items[state->nitems].count = 1;
		state->nitems++;
	}
	state->total++;
	PG_RETURN_POINTER(state);
}

Datum
quantile_edges_combine(PG_FUNCTION_ARGS)
{
	QuantileState *a = (QuantileState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	QuantileState *b = (QuantileState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	QuantileState *merged;

	segment_require_aggregate(fcinfo, "quantile_edges_combine", "It updates its state argument in place.",
							  "segment.quantile_edges(value, bins)");
	check_same_bins(a->bins, b->bins);
	/* a new state: the executor frees the old one after copying this */
	merged = quantile_state_make_room(quantile_state_copy_compacted(a), b->nitems);
	memcpy(merged->items + merged->nitems, b->items, b->nitems * sizeof(QuantileItem));
	merged->nitems += b->nitems;
	merged->total += b->total;
	quantile_state_compact(merged);
	PG_RETURN_POINTER(merged);
}

Datum
quantile_edges_final(PG_FUNCTION_ARGS)
{
	QuantileState *state;
	Datum		edges[SEGMENT_MAX_BINS];
	int64		cumulative = 0;
	int32		item = 0;
	int32		k;

	/* the state may be finalized again (window aggregates): work on a copy */
	state = quantile_state_copy_compacted((QuantileState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0)));
	if (state->total == 0)
		PG_RETURN_NULL();

	for (k = 1; k < state->bins; k++)
	{
		/* ceil(k * n / bins): the 1-based rank of the k-th edge */
		int64		rank = (k * state->total + state->bins - 1) / state->bins;

		while (cumulative + state->items[item].count < rank)
			cumulative += state->items[item++].count;
		edges[k - 1] = Float8GetDatum(state->items[item].value);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(edges, state->bins - 1, FLOAT8OID,
										  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static void
invalid_edges(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid edges for segment.score"),
			 errdetail("%s", detail),
			 errhint("Pass the result of segment.quantile_edges(value, bins): a one-dimensional float8 array of 1 to 99 finite edges in ascending order without NULLs.")));
}

Datum
quantile_score_edges(PG_FUNCTION_ARGS)
{
	float8		value = segment_check_value("score", PG_GETARG_FLOAT8(0));
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
	const float8 *edges;
	int			n;
	int			i;

	if (ARR_NDIM(array) != 1)
		invalid_edges(ARR_NDIM(array) == 0 ? "The edges array is empty." :
					  "The edges array has more than one dimension.");
	if (array_contains_nulls(array))
		invalid_edges("The edges array contains NULL.");
	n = ARR_DIMS(array)[0];
	if (n > SEGMENT_MAX_BINS - 1)
		invalid_edges("More than 99 edges were given.");
	edges = (const float8 *) ARR_DATA_PTR(array);
	for (i = 0; i < n; i++)
	{
		if (isnan(edges[i]) || isinf(edges[i]))
			invalid_edges("An edge is NaN or infinite.");
		if (i > 0 && edges[i] < edges[i - 1])
			invalid_edges("The edges are not in ascending order.");
	}
	PG_RETURN_INT32(1 + (int32) segment_count_below(edges, n, value));
}
