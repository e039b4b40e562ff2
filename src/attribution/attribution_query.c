/*
 * attribution_query.c -- segment._attribution_by_segment(): the attribution
 * by segment over paths a query gives, for the refresh's SQL path (sources
 * the scan of attribution_scan.c cannot read: views, other types).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "attribution/attribution.h"
#include "common/compat.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(attribution_by_segment);

static void
put_row(void *arg, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = arg;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void
check_no_nulls(const bool *nulls, int n)
{
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a path has a NULL channel or time"),
					 errdetail("The refresh gives touches without a channel the channel (unknown)."),
					 errhint("Call segment.refresh(name); only it calls the internal functions.")));
}

/* The paths query's columns must be what the loop below reads. */
static void
check_paths_columns(TupleDesc desc)
{
	static const Oid types[9] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID, NUMERICOID, BOOLOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, BOOLOID};

	for (int c = 0; c < desc->natts || c < lengthof(types); c++)
		if (c >= desc->natts || c >= lengthof(types) || TupleDescAttr(desc, c)->atttypid != types[c])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the paths query returned other columns than segment reads"),
					 errdetail("It must return channels text[], touched_at timestamptz[], revenue numeric, first_order bool, four segments as text (rfm, lifecycle, cluster, predictive) and converted bool; column %d differs.",
							   c + 1),
					 errhint("Call segment.refresh(name); only it calls the internal functions.")));
}

/*
 * segment._attribution_by_segment(paths_query text, half_life interval)
 *   → SETOF (segment_type text, segment text, model text, channel text,
 *            conversions float8, revenue float8, first_conversions float8)
 * paths_query gives per path: channels text[] and touched_at timestamptz[]
 * (in time order; NULL or empty for a conversion without a touch), revenue
 * numeric, first_order bool, the rfm, lifecycle, cluster and predictive segments, and
 * converted bool (false: a non-converting path, for Markov).
 */
Datum
attribution_by_segment(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query;
	float8		half_life;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext row_cxt;
	Attributor	a;
	SPIPlanPtr	plan;
	Portal		portal;
	int			capacity = 0;
	int32	   *channels = NULL;
	TimestampTz *times = NULL;

	check_internal_call(fcinfo);
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	half_life = half_life_seconds(PG_GETARG_INTERVAL_P(1));
	InitMaterializedSRF(fcinfo, 0);
	attributor_init(&a, half_life);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment attribution row", ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "segment: could not prepare the paths query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		check_paths_columns(SPI_tuptable->tupdesc);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		d;
			Datum	   *names = NULL;
			Datum	   *ats = NULL;
			bool	   *elem_nulls;
			int			n = 0,
						n_at = 0;
			float8		revenue;
			bool		first_order;
			bool		converted;
			int32		segments[SEGMENT_TYPES];
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(row_cxt);
			d = SPI_getbinval(tuple, desc, 1, &isnull);
			if (!isnull)
			{
				deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &names, &elem_nulls, &n);
				check_no_nulls(elem_nulls, n);
			}
			d = SPI_getbinval(tuple, desc, 2, &isnull);
			if (!isnull)
			{
				deconstruct_array(DatumGetArrayTypeP(d), TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE,
								  &ats, &elem_nulls, &n_at);
				check_no_nulls(elem_nulls, n_at);
			}
			d = SPI_getbinval(tuple, desc, 3, &isnull);
			revenue = isnull ? 0.0 : DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
			d = SPI_getbinval(tuple, desc, 4, &isnull);
			first_order = !isnull && DatumGetBool(d);
			for (int t = 0; t < SEGMENT_TYPES; t++)
			{
				d = SPI_getbinval(tuple, desc, 5 + t, &isnull);
				segments[t] = isnull ? -1 :
					attributor_segment(&a, VARDATA_ANY(DatumGetTextPP(d)), VARSIZE_ANY_EXHDR(DatumGetTextPP(d)));
			}
			converted = DatumGetBool(SPI_getbinval(tuple, desc, 5 + SEGMENT_TYPES, &isnull));
			MemoryContextSwitchTo(old);
			if (n != n_at)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("a path has %d channels and %d times", n, n_at),
						 errdetail("Each touch of a path has one channel and one time."),
						 errhint("Call segment.refresh(name); only it calls the internal functions.")));
			if (n > capacity)
			{
				capacity = Max(n, 2 * capacity);
				channels = MemoryContextAlloc(caller, sizeof(int32) * capacity);
				times = MemoryContextAlloc(caller, sizeof(TimestampTz) * capacity);
			}
			for (int i = 0; i < n; i++)
			{
				text	   *name = DatumGetTextPP(names[i]);

				channels[i] = attributor_channel(&a, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
				times[i] = DatumGetTimestampTz(ats[i]);
			}
			attributor_add(&a, segments, channels, times, n, converted, revenue, first_order);
			MemoryContextReset(row_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();

	attributor_finish(&a, put_row, rsinfo);
	return (Datum) 0;
}
