/*
 * attribution_rules.c -- segment._attribution_by_segment(): the six models
 * applied to every path of a refresh and summed per segment type, segment,
 * model and channel, in one pass in C.
 *
 * The refresh builds the paths (attribution_paths.c) and hands over a query
 * giving each path with its conversion and the customer's segments.  Each
 * converting path's credits under the five rule-based models are added to
 * a hash table keyed by small integers (interned names), and every path,
 * converting or not, to the Markov model of each of the customer's
 * segments; each segment's conversions with a path are then shared among
 * channels by the removal effects.  Nothing per touch goes through SQL.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "attribution.h"
#include "compat.h"
#include "interner.h"
#include "markov.h"

PG_FUNCTION_INFO_V1(attribution_by_segment);

#define SEGMENT_TYPES 3

static const char *const segment_type_names[SEGMENT_TYPES] = {"rfm", "lifecycle", "cluster"};

/* Interned strings: segment and channel names. */
typedef struct CreditKey
{
	int32		type;
	int32		segment;
	int32		model;
	int32		channel;
} CreditKey;

typedef struct CreditSum
{
	CreditKey	key;
	float8		conversions;
	float8		revenue;
	float8		first_conversions;
} CreditSum;

/* Per segment type and segment: its Markov model and the conversions it shares. */
typedef struct SegmentMarkov
{
	MarkovBuilder *builder;
	float8		conversions;	/* its conversions with a path */
	float8		revenue;
	float8		first_conversions;
} SegmentMarkov;

typedef struct MarkovSet
{
	SegmentMarkov *by_segment[3];
	int32		capacity[3];
} MarkovSet;

static SegmentMarkov *
segment_markov(MarkovSet *set, int type, int32 segment, MemoryContext cxt)
{
	if (segment >= set->capacity[type])
	{
		int32		old = set->capacity[type];
		int32		capacity = Max(64, 2 * segment + 1);

		set->by_segment[type] = old == 0 ?
			MemoryContextAllocZero(cxt, sizeof(SegmentMarkov) * capacity) :
			repalloc(set->by_segment[type], sizeof(SegmentMarkov) * capacity);
		if (old > 0)
			memset(set->by_segment[type] + old, 0, sizeof(SegmentMarkov) * (capacity - old));
		set->capacity[type] = capacity;
	}
	if (set->by_segment[type][segment].builder == NULL)
		set->by_segment[type][segment].builder = markov_builder_create(cxt);
	return &set->by_segment[type][segment];
}

/*
 * segment._attribution_by_segment(paths_query text, half_life interval)
 *   → SETOF (segment_type text, segment text, model text, channel text,
 *            conversions float8, revenue float8, first_conversions float8)
 * paths_query gives per path: channels text[], touched_at timestamptz[],
 * revenue numeric, first_order bool, the rfm, lifecycle and cluster
 * segments, and converted bool (false: a non-converting path, for Markov).
 */
Datum
attribution_by_segment(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	float8		half_life = half_life_seconds(PG_GETARG_INTERVAL_P(1));
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext row_cxt;
	Interner	segments;
	Interner	channels;
	HTAB	   *sums;
	HASHCTL		ctl;
	SPIPlanPtr	plan;
	Portal		portal;
	HASH_SEQ_STATUS status;
	CreditSum  *sum;
	int			capacity = 0;
	float8	   *credits = NULL;
	int32	   *channel_ids = NULL;
	TimestampTz *times = NULL;
	MarkovSet	markov;

	InitMaterializedSRF(fcinfo, 0);
	memset(&markov, 0, sizeof(markov));
	interner_init(&segments, "segment attribution segments");
	interner_init(&channels, "segment attribution channels");
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CreditKey);
	ctl.entrysize = sizeof(CreditSum);
	ctl.hcxt = CurrentMemoryContext;
	sums = hash_create("segment attribution sums", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
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
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum	   *names;
			bool	   *name_nulls;
			Datum	   *ats;
			bool	   *at_nulls;
			int			n,
						n_at;
			float8		revenue;
			bool		first_order;
			bool		converted;
			int32		segment_ids[SEGMENT_TYPES];
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(row_cxt);
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 1, &isnull)), TEXTOID, -1, false,
							  TYPALIGN_INT, &names, &name_nulls, &n);
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 2, &isnull)), TIMESTAMPTZOID,
							  sizeof(TimestampTz), true, TYPALIGN_DOUBLE, &ats, &at_nulls, &n_at);
			converted = DatumGetBool(SPI_getbinval(tuple, desc, 8, &isnull));
			{
				Datum		d = SPI_getbinval(tuple, desc, 3, &isnull);

				revenue = isnull ? 0.0 : DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
			}
			first_order = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull)) && !isnull;
			for (int t = 0; t < SEGMENT_TYPES; t++)
			{
				Datum		d = SPI_getbinval(tuple, desc, 5 + t, &isnull);

				segment_ids[t] = isnull ? -1 :
					interner_id(&segments, VARDATA_ANY(DatumGetTextPP(d)), VARSIZE_ANY_EXHDR(DatumGetTextPP(d)));
			}
			MemoryContextSwitchTo(old);
			if (n == 0 || n != n_at)
			{
				MemoryContextReset(row_cxt);
				continue;
			}
			if (n > capacity)
			{
				capacity = Max(n, 2 * capacity);
				credits = MemoryContextAlloc(caller, sizeof(float8) * capacity);
				channel_ids = MemoryContextAlloc(caller, sizeof(int32) * capacity);
				times = MemoryContextAlloc(caller, sizeof(TimestampTz) * capacity);
			}
			for (int i = 0; i < n; i++)
			{
				text	   *name = DatumGetTextPP(names[i]);

				channel_ids[i] = interner_id(&channels, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
				times[i] = DatumGetTimestampTz(ats[i]);
			}
			/* the Markov model of each of the customer's segments */
			for (int t = 0; t < SEGMENT_TYPES; t++)
			{
				SegmentMarkov *sm;

				if (segment_ids[t] < 0)
					continue;
				sm = segment_markov(&markov, t, segment_ids[t], caller);
				markov_builder_add(sm->builder, channel_ids, (const char *const *) channels.names, n, converted);
				if (converted)
				{
					sm->conversions += 1.0;
					sm->revenue += revenue;
					sm->first_conversions += first_order ? 1.0 : 0.0;
				}
			}
			if (!converted)
			{
				MemoryContextReset(row_cxt);
				continue;
			}
			for (int m = 0; m < CREDIT_MODELS; m++)
			{
				credit_path((CreditModel) m, times, n, half_life, credits);
				for (int i = 0; i < n; i++)
				{
					if (credits[i] <= 0)
						continue;
					for (int t = 0; t < SEGMENT_TYPES; t++)
					{
						CreditKey	key;
						bool		found;

						if (segment_ids[t] < 0)
							continue;
						key.type = t;
						key.segment = segment_ids[t];
						key.model = m;
						key.channel = channel_ids[i];
						sum = hash_search(sums, &key, HASH_ENTER, &found);
						if (!found)
							sum->conversions = sum->revenue = sum->first_conversions = 0.0;
						sum->conversions += credits[i];
						sum->revenue += credits[i] * revenue;
						if (first_order)
							sum->first_conversions += credits[i];
					}
				}
			}
			MemoryContextReset(row_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();

	hash_seq_init(&status, sums);
	while ((sum = hash_seq_search(&status)) != NULL)
	{
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = CStringGetTextDatum(segment_type_names[sum->key.type]);
		values[1] = CStringGetTextDatum(segments.names[sum->key.segment]);
		values[2] = CStringGetTextDatum(credit_model_names[sum->key.model]);
		values[3] = CStringGetTextDatum(channels.names[sum->key.channel]);
		values[4] = Float8GetDatum(sum->conversions);
		values[5] = Float8GetDatum(sum->revenue);
		values[6] = Float8GetDatum(sum->first_conversions);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	/* markov: each segment's conversions with a path, shared by removal effects */
	for (int t = 0; t < SEGMENT_TYPES; t++)
		for (int32 seg = 0; seg < markov.capacity[t]; seg++)
		{
			SegmentMarkov *sm = &markov.by_segment[t][seg];
			const char **names;
			float8	   *shares;
			int32		n;

			if (sm->builder == NULL || sm->conversions == 0)
				continue;
			n = markov_builder_shares(sm->builder, &names, &shares);
			for (int32 c = 0; c < n; c++)
			{
				Datum		values[7];
				bool		nulls[7] = {false};

				if (!(shares[c] > 0))
					continue;
				values[0] = CStringGetTextDatum(segment_type_names[t]);
				values[1] = CStringGetTextDatum(segments.names[seg]);
				values[2] = CStringGetTextDatum("markov");
				values[3] = CStringGetTextDatum(names[c]);
				values[4] = Float8GetDatum(sm->conversions * shares[c]);
				values[5] = Float8GetDatum(sm->revenue * shares[c]);
				values[6] = Float8GetDatum(sm->first_conversions * shares[c]);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		}
	return (Datum) 0;
}
