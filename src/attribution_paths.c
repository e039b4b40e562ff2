/*
 * attribution_paths.c -- segment._build_paths(): the conversion paths of a
 * refresh's attribution, from one scan of the touchpoints.
 *
 * The conversions (a work table refresh.sql fills: customer, conversion,
 * converted_at, previous_at) are loaded per customer; the touchpoints are
 * read once, kept as (customer, time, channel) and bucketed per customer;
 * each customer's touches are sorted by time and matched to conversions: a
 * touch belongs to the first conversion at or after it (a touch at the same
 * instant counts), if it is within the lookback before that conversion and
 * after the previous one; touches after the last conversion within the
 * lookback before as_of form the customer's non-converting path.  The paths
 * are written into the paths table (customer, conversion, channels text[],
 * touched_at timestamptz[]), NULL conversion for a non-converting one.
 * Touches without a customer or a time are left out; without a channel they
 * count as "(unknown)".
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "facts.h"
#include "interner.h"
#include "row_writer.h"

PG_FUNCTION_INFO_V1(build_paths);

#define UNKNOWN_CHANNEL "(unknown)"

typedef struct Touch
{
	int32		customer;		/* dense customer number */
	int32		channel;		/* interned channel */
	TimestampTz at;
} Touch;

typedef struct Conversion
{
	int32		customer;
	int64		id;
	TimestampTz at;
	TimestampTz previous;		/* DT_NOBEGIN: none */
} Conversion;

typedef struct Builder
{
	FactsTable	customers;		/* customer -> dense number (entry id) */
	Datum	   *keys;			/* dense number -> customer key */
	int64		nkeys;
	Interner	channels;
	Datum	   *channel_texts;	/* channel number -> text, once all are known */
} Builder;

static int32
customer_number(Builder *b, Datum key)
{
	CustomerFacts *e = facts_find_or_add(&b->customers, facts_hash_key(&b->customers, key));

	if (e->id == b->nkeys)
	{
		if (b->nkeys % 65536 == 0)
			b->keys = b->nkeys == 0 ? palloc(sizeof(Datum) * 65536) :
				repalloc_huge(b->keys, sizeof(Datum) * (b->nkeys + 65536));
		b->keys[b->nkeys++] = e->key;
	}
	return (int32) e->id;
}

static void
not_supported(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the path builder does not support touchpoints with %s", why),
			 errdetail("The refresh builds the paths with SQL instead."),
			 errhint("Nothing to do: this message is caught by segment.refresh().")));
}

/* the channel names, for cmp_touch (qsort passes no context) */
static char *const *sort_names;

/* by customer, time, then channel name (bytewise), so that ties are stable */
static int
cmp_touch(const void *a, const void *b)
{
	const Touch *x = a;
	const Touch *y = b;

	if (x->customer != y->customer)
		return x->customer < y->customer ? -1 : 1;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->channel == y->channel)
		return 0;
	return strcmp(sort_names[x->channel], sort_names[y->channel]);
}

static int
cmp_conversion(const void *a, const void *b)
{
	const Conversion *x = a;
	const Conversion *y = b;

	if (x->customer != y->customer)
		return x->customer < y->customer ? -1 : 1;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static AttrNumber
attribute(Relation rel, const char *column)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", column, RelationGetRelationName(rel)),
				 errhint("Drop the segmentation and create it again with the current column names.")));
	return attnum;
}

/* Writes one path: customer, conversion (or NULL), channels, times. */
static void
write_path(RowWriter *w, Builder *b, int32 customer, const Conversion *c, const Touch *touches, int n)
{
	TupleTableSlot *slot = row_writer_next(w);
	MemoryContext old = MemoryContextSwitchTo(w->batch_cxt);
	Datum	   *names = palloc(sizeof(Datum) * n);
	Datum	   *times = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
	{
		names[i] = b->channel_texts[touches[i].channel];
		times[i] = TimestampTzGetDatum(touches[i].at);
	}
	slot->tts_values[0] = facts_output_key(&b->customers, b->keys[customer]);
	slot->tts_isnull[0] = false;
	slot->tts_values[1] = c == NULL ? (Datum) 0 : Int64GetDatum(c->id);
	slot->tts_isnull[1] = c == NULL;
	slot->tts_values[2] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	slot->tts_isnull[2] = false;
	slot->tts_values[3] = PointerGetDatum(construct_array(times, n, TIMESTAMPTZOID, sizeof(TimestampTz),
														  true, TYPALIGN_DOUBLE));
	slot->tts_isnull[3] = false;
	MemoryContextSwitchTo(old);
	row_writer_add(w);
}

/*
 * segment._build_paths(touchpoints regclass, customer name, time name,
 *     channel name, conversions regclass, paths regclass, as_of timestamptz,
 *     lookback interval) → int8 touches left out (NULL customer or time)
 */
Datum
build_paths(PG_FUNCTION_ARGS)
{
	Oid			touch_relid = PG_GETARG_OID(0);
	Oid			conversions_relid = PG_GETARG_OID(4);
	Oid			paths_relid = PG_GETARG_OID(5);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(6);
	Interval   *lookback = PG_GETARG_INTERVAL_P(7);
	Builder		b;
	Relation	rel;
	AttrNumber	customer_att,
				time_att,
				channel_att,
				last_att;
	Oid			customer_type,
				time_type,
				channel_type,
				channel_output;
	bool		channel_varlena;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Touch	   *touches = NULL;
	int64		ntouches = 0,
				touches_capacity = 0;
	Conversion *conversions = NULL;
	int64		nconversions = 0,
				conversions_capacity = 0;
	int64		skipped = 0;
	int64		rows = 0;
	RowWriter	w;
	int64		ti = 0,
				ci = 0;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment paths row", ALLOCSET_DEFAULT_SIZES);

	/* the paths table's first column has the customer column's type */
	rel = relation_open(paths_relid, AccessShareLock);
	customer_type = TupleDescAttr(RelationGetDescr(rel), 0)->atttypid;
	facts_init(&b.customers, customer_type, TupleDescAttr(RelationGetDescr(rel), 0)->attcollation);
	relation_close(rel, AccessShareLock);
	b.keys = NULL;
	b.nkeys = 0;
	interner_init(&b.channels, "segment path channels");

	/* the conversions */
	rel = relation_open(conversions_relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		previous;

		if (nconversions == conversions_capacity)
		{
			conversions_capacity = Max(1024, 2 * conversions_capacity);
			conversions = conversions == NULL ? palloc_extended(sizeof(Conversion) * conversions_capacity, MCXT_ALLOC_HUGE) :
				repalloc_huge(conversions, sizeof(Conversion) * conversions_capacity);
		}
		/* conversion, customer, converted_at, revenue, previous_at, first_order */
		conversions[nconversions].id = DatumGetInt64(slot_getattr(slot, 1, &isnull));
		conversions[nconversions].customer = customer_number(&b, slot_getattr(slot, 2, &isnull));
		conversions[nconversions].at = DatumGetTimestampTz(slot_getattr(slot, 3, &isnull));
		previous = slot_getattr(slot, 5, &isnull);
		conversions[nconversions].previous = isnull ? DT_NOBEGIN : DatumGetTimestampTz(previous);
		nconversions++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);

	/* touchpoints, as the owner may read them; what a heap scan cannot read
	 * right goes to the SQL path */
	rel = relation_open(touch_relid, AccessShareLock);
	if ((rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_MATVIEW) ||
		rel->rd_rel->relhassubclass || check_enable_rls(touch_relid, InvalidOid, true) != RLS_NONE ||
		!RelationIsPopulated(rel))
		not_supported("views, partitioned or inherited tables, or row-level security");
	if (pg_class_aclcheck(touch_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	customer_att = attribute(rel, NameStr(*PG_GETARG_NAME(1)));
	time_att = attribute(rel, NameStr(*PG_GETARG_NAME(2)));
	channel_att = attribute(rel, NameStr(*PG_GETARG_NAME(3)));
	last_att = Max(customer_att, Max(time_att, channel_att));
	time_type = TupleDescAttr(RelationGetDescr(rel), time_att - 1)->atttypid;
	channel_type = TupleDescAttr(RelationGetDescr(rel), channel_att - 1)->atttypid;
	getTypeOutputInfo(channel_type, &channel_output, &channel_varlena);
	if (TupleDescAttr(RelationGetDescr(rel), customer_att - 1)->atttypid != customer_type)
		not_supported("a customer column of another type than the orders'");
	if (time_type != TIMESTAMPTZOID && time_type != TIMESTAMPOID && time_type != DATEOID)
		not_supported("this type of touch time");
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum	   *values;
		bool	   *nulls;
		TimestampTz at;
		int32		channel;

		if ((++rows & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, last_att);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		if (nulls[customer_att - 1] || nulls[time_att - 1])
		{
			skipped++;
			continue;
		}
		at = to_timestamptz(values[time_att - 1], time_type);
		if (at > as_of)
			continue;
		if (nulls[channel_att - 1])
			channel = interner_id(&b.channels, UNKNOWN_CHANNEL, strlen(UNKNOWN_CHANNEL));
		else if (channel_type == TEXTOID || channel_type == VARCHAROID)
		{
			text	   *t = DatumGetTextPP(values[channel_att - 1]);

			channel = interner_id(&b.channels, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
		else
		{
			MemoryContext old = MemoryContextSwitchTo(row_cxt);
			char	   *s = OidOutputFunctionCall(channel_output, values[channel_att - 1]);

			channel = interner_id(&b.channels, s, strlen(s));
			MemoryContextSwitchTo(old);
			MemoryContextReset(row_cxt);
		}
		if (ntouches == touches_capacity)
		{
			touches_capacity = Max(65536, 2 * touches_capacity);
			touches = touches == NULL ? palloc_extended(sizeof(Touch) * touches_capacity, MCXT_ALLOC_HUGE) :
				repalloc_huge(touches, sizeof(Touch) * touches_capacity);
		}
		touches[ntouches].customer = customer_number(&b, values[customer_att - 1]);
		touches[ntouches].channel = channel;
		touches[ntouches].at = at;
		ntouches++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);

	CHECK_FOR_INTERRUPTS();
	b.channel_texts = palloc(sizeof(Datum) * Max(b.channels.count, 1));
	for (int32 i = 0; i < b.channels.count; i++)
		b.channel_texts[i] = PointerGetDatum(cstring_to_text(b.channels.names[i]));
	sort_names = b.channels.names;
	qsort(touches, ntouches, sizeof(Touch), cmp_touch);
	qsort(conversions, nconversions, sizeof(Conversion), cmp_conversion);

	/* merge, customer by customer */
	row_writer_open(&w, paths_relid);
	while (ti < ntouches)
	{
		int32		customer = touches[ti].customer;
		int64		tend = ti;
		int64		first_open = -1;	/* first touch not yet given to a conversion */

		while (tend < ntouches && touches[tend].customer == customer)
			tend++;
		while (ci < nconversions && conversions[ci].customer < customer)
			ci++;
		first_open = ti;
		while (ci < nconversions && conversions[ci].customer == customer)
		{
			const Conversion *c = &conversions[ci];
			TimestampTz window_start = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																			  TimestampTzGetDatum(c->at),
																			  IntervalPGetDatum(lookback)));
			int64		start = first_open;
			int64		end = first_open;

			/* this conversion's touches: up to it, within the lookback, after the previous one */
			while (end < tend && touches[end].at <= c->at)
				end++;
			while (start < end && (touches[start].at < window_start ||
								   (c->previous != DT_NOBEGIN && touches[start].at <= c->previous)))
				start++;
			if (end > start)
				write_path(&w, &b, customer, c, &touches[start], (int) (end - start));
			first_open = end;
			ci++;
		}
		/* after the last conversion: a non-converting path within the lookback before as_of */
		{
			TimestampTz window_start = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																			  TimestampTzGetDatum(as_of),
																			  IntervalPGetDatum(lookback)));
			int64		start = first_open;

			while (start < tend && touches[start].at <= window_start)
				start++;
			if (tend > start)
				write_path(&w, &b, customer, NULL, &touches[start], (int) (tend - start));
		}
		ti = tend;
		CHECK_FOR_INTERRUPTS();
	}
	row_writer_close(&w);
	PG_RETURN_INT64(skipped);
}
