/*
 * attribution_scan.c -- segment._attribute_scan(): a refresh's attribution
 * by segment from one scan each of the new segment contents, the orders and
 * the touchpoints, everything else in memory.
 *
 * The contents give the customers and their segments; the orders in the
 * window become conversions (one per order id, its net amount; the
 * customer's first one is a first order), those of the attribution period
 * are attributed; the touchpoints are bucketed per customer and sorted by
 * time.  Each customer's touches are then matched to
 * its conversions in time order: a touch belongs to the first conversion at
 * or after it, if within the lookback before it and after the previous one;
 * touches after the last conversion within the lookback before as_of form a
 * non-converting path.  Ties: a touch at a conversion's instant goes to it,
 * conversions at one instant take touches in order of order id (of
 * position in the table without ids), touches at one instant are ordered
 * by channel name -- the same rules as the SQL builder in
 * attribution_views.sql.  Each path goes to the Attributor
 * (attribution_sums.c), whose rows are written into a work table.
 *
 * What a heap scan cannot read as a query would (views, row-level
 * security...), or values it does not decode (float amounts, non-integer
 * order ids, channels not text), as are touches or orders past
 * segment.scan_memory, are refused with ERRCODE_FEATURE_NOT_SUPPORTED: the
 * refresh then takes the SQL path.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "attribution/attribution.h"
#include "refresh/facts.h"
#include "security/identity.h"
#include "security/relation_check.h"
#include "refresh/row_writer.h"
#include "segment.h"

PG_FUNCTION_INFO_V1(attribute_scan);

#define UNKNOWN_CHANNEL "(unknown)"

static void
not_supported(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the attribution scan does not support %s", why),
			 errdetail("The refresh attributes the conversions with SQL instead."),
			 errhint("Nothing to do: this message is caught by segment.refresh().")));
}

/*
 * An array of the scan growing to size bytes: past segment.scan_memory, the
 * SQL path (which can spill to disk).  The same errcode as the refusals, so
 * that the refresh catches nothing else (a Markov model's channel limit,
 * program_limit_exceeded, would fail the SQL path all the same).
 */
static void
check_memory(Size size)
{
	if (size > (Size) segment_scan_memory_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the attribution scan does not support more touches or orders than segment.scan_memory (%d kB) holds",
						segment_scan_memory_kb),
				 errdetail("The refresh attributes the conversions with SQL instead, which can spill to disk."),
				 errhint("Raise segment.scan_memory for faster refreshes of this many touches.")));
}

#ifdef HAVE_INT128


typedef struct ScanOrder
{
	int32		customer;
	bool		has_id;			/* false: a NULL order id, or no order ids */
	int64		id;				/* order id, or position in the scan */
	TimestampTz at;
	ScaledMoney amount;
} ScanOrder;

/*
 * A touch.  key is its customer number as scanned; once the touches are
 * bucketed per customer, the channel's place in name order, for sorting.
 */
typedef struct Touch
{
	int32		key;
	int32		channel;
	TimestampTz at;
} Touch;

/* Where each customer's items are in an array bucketed by customer. */
typedef struct Buckets
{
	int64	   *start;			/* customer c: [start[c], end[c]) */
	int64	   *end;
} Buckets;

typedef struct Customers
{
	FactsTable	table;			/* customer -> dense number (entry id) */
	int32		(*segments)[SEGMENT_TYPES];
	int32		count;
} Customers;

/*
 * The customer's number, -1 if not in the contents.  The hash and equality
 * functions of other keys than integers may allocate (numeric detoasts):
 * they run in row_cxt, reset here.
 */
static inline int32
customer_of(Customers *cs, Datum key, MemoryContext row_cxt)
{
	CustomerFacts *e;
	MemoryContext old;

	if (cs->table.ops.int_key)
		e = facts_find(&cs->table, key);
	else
	{
		old = MemoryContextSwitchTo(row_cxt);
		e = facts_find(&cs->table, key);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	return e == NULL ? -1 : (int32) e->id;
}

/* The new contents: each customer and its rfm, lifecycle, cluster and predictive segments. */
static void
read_contents(Customers *cs, Attributor *a, Oid relid, const char *customer_column)
{
	Relation	rel = relation_open_readable(relid, AccessShareLock, "segment table");
	Oid			type;
	AttrNumber	atts[1 + SEGMENT_TYPES];
	const char *const columns[SEGMENT_TYPES] = {"rfm_segment", "lifecycle_segment", "cluster", "predictive_segment"};
	const Oid	types[SEGMENT_TYPES] = {TEXTOID, TEXTOID, INT4OID, TEXTOID};
	TableScanDesc scan;
	TupleTableSlot *slot;
	int32		capacity = 1024;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment contents row", ALLOCSET_SMALL_SIZES);

	relation_check_plain(rel, "segment table");
	atts[0] = relation_column(rel, customer_column, InvalidOid, "segment table");
	type = TupleDescAttr(RelationGetDescr(rel), atts[0] - 1)->atttypid;
	facts_init(&cs->table, type, TupleDescAttr(RelationGetDescr(rel), atts[0] - 1)->attcollation);
	for (int t = 0; t < SEGMENT_TYPES; t++)
	{
		/* a table without predictions has no predictive_segment */
		atts[1 + t] = InvalidAttrNumber;
		if (t != SEGMENT_TYPES - 1 || get_attnum(relid, columns[t]) > 0)
			atts[1 + t] = relation_column(rel, columns[t], types[t], "segment table");
	}
	cs->segments = palloc(sizeof(int32) * SEGMENT_TYPES * capacity);
	cs->count = 0;
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		key = slot_getattr(slot, atts[0], &isnull);
		CustomerFacts *e;
		MemoryContext old;

		if ((cs->count & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (isnull)
			continue;
		old = MemoryContextSwitchTo(row_cxt);
		e = facts_find_or_add(&cs->table, facts_hash_key(&cs->table, key));
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
		if (e->id != cs->count)
			continue;			/* seen already */
		if (cs->count == capacity)
		{
			capacity *= 2;
			cs->segments = repalloc_huge(cs->segments, sizeof(int32) * SEGMENT_TYPES * capacity);
		}
		for (int t = 0; t < SEGMENT_TYPES; t++)
		{
			Datum		d = (Datum) 0;
			int32		id = -1;

			isnull = true;
			if (atts[1 + t] != InvalidAttrNumber)
				d = slot_getattr(slot, atts[1 + t], &isnull);
			if (!isnull && t == CLUSTER_TYPE)
			{
				char		buf[16];

				snprintf(buf, sizeof(buf), "%d", DatumGetInt32(d));
				id = attributor_segment(a, buf, strlen(buf));
			}
			else if (!isnull)
				id = attributor_segment(a, VARDATA_ANY(DatumGetTextPP(d)), VARSIZE_ANY_EXHDR(DatumGetTextPP(d)));
			cs->segments[cs->count][t] = id;
		}
		cs->count++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	/* held until the refresh ends: one state of the sources throughout */
	relation_close(rel, NoLock);
}

static void *
alloc_huge(Size size)
{
	return palloc_extended(Max(size, 1), MCXT_ALLOC_HUGE);
}

#define CUSTOMER_OF(item) (*(const int32 *) (item))

/*
 * Reorders n items of size bytes (each starting with its int32 customer
 * number) so that each customer's items are together, in place and keeping
 * no order within a customer; b gets where each customer's items are.  An
 * in-place permutation by cycles: no second copy of the touches.  Inlined,
 * so that each caller's copies are of a constant size.
 */
static pg_attribute_always_inline void
bucket_in_place(char *items, Size size, int64 n, int32 ncustomers, Buckets *b)
{
	char		held[64],
				swap[64];

	Assert(size <= sizeof(held));
	b->start = palloc_extended(sizeof(int64) * (ncustomers + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int64 i = 0; i < n; i++)
		b->start[CUSTOMER_OF(items + i * size) + 1]++;
	for (int32 c = 0; c < ncustomers; c++)
		b->start[c + 1] += b->start[c];
	/* end[c]: the next place of customer c's bucket still to fill */
	b->end = alloc_huge(sizeof(int64) * (ncustomers + 1));
	memcpy(b->end, b->start, sizeof(int64) * (ncustomers + 1));
	for (int32 c = 0; c < ncustomers; c++)
	{
		while (b->end[c] < b->start[c + 1])
		{
			char	   *place = items + b->end[c] * size;
			int32		d = CUSTOMER_OF(place);

			if (d == c)
			{
				b->end[c]++;
				continue;
			}
			/* carry the item to its bucket, taking the one there along, until
			 * one of customer c turns up */
			memcpy(held, place, size);
			while (d != c)
			{
				char	   *target = items + b->end[d]++ * size;

				memcpy(swap, target, size);
				memcpy(target, held, size);
				memcpy(held, swap, size);
				d = CUSTOMER_OF(held);
			}
			memcpy(place, held, size);
			b->end[c]++;
		}
		if ((c & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* ---- orders -> conversions ---- */

static int
cmp_order_id(const void *a, const void *b)
{
	const ScanOrder *x = a;
	const ScanOrder *y = b;

	/* NULL ids last, as ORDER BY puts them */
	if (x->has_id != y->has_id)
		return x->has_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int
cmp_conversion(const void *a, const void *b)
{
	const ScanOrder *x = a;
	const ScanOrder *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return cmp_order_id(a, b);
}

/*
 * The conversions of the window, bucketed per customer and in time order:
 * without order ids, every row; with them, one per (customer, order id), at
 * its earliest time, worth its net amount.
 */
static ScanOrder *
read_conversions(Customers *cs, Oid relid, const char *customer_column, const char *time_column,
				 const char *amount_column, const char *order_id_column, TimestampTz as_of,
				 bool has_lower, TimestampTz lower, Buckets *buckets)
{
	Relation	rel = scan_open(relid);
	OrderColumns cols;
	const char *why;
	TableScanDesc scan;
	TupleTableSlot *slot;
	ScanOrder  *rows = NULL;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment order row", ALLOCSET_SMALL_SIZES);
	int64		n = 0,
				capacity = 0,
				position = 0;

	if (scan_refusal(rel) != NULL)
		not_supported(scan_refusal(rel));
	why = scan_order_columns(rel, customer_column, time_column, amount_column, order_id_column,
							 cs->table.customer_type, &cols);
	if (why != NULL)
		not_supported(why);

	slot = table_slot_create(rel, NULL);
	/* from the first block on, so that positions follow ctid as in the SQL builder */
	scan = table_beginscan_strat(rel, GetActiveSnapshot(), 0, NULL, true, false);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum	   *values;
		bool	   *nulls;
		TimestampTz at;
		int32		customer;
		ScanOrder  *o;

		position++;
		if ((position & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, cols.last_att);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		if (nulls[cols.time_att - 1] || nulls[cols.customer_att - 1])
			continue;
		at = to_timestamptz(values[cols.time_att - 1], cols.time_type);
		if (TIMESTAMP_NOT_FINITE(at) || at > as_of || (has_lower && at <= lower))
			continue;			/* an order at ±infinity is no conversion (the facts skip it) */
		customer = customer_of(cs, values[cols.customer_att - 1], row_cxt);
		if (customer < 0)
			continue;
		if (n == capacity)
		{
			capacity = Max(65536, 2 * capacity);
			check_memory(sizeof(ScanOrder) * capacity);
			rows = rows == NULL ? alloc_huge(sizeof(ScanOrder) * capacity) :
				repalloc_huge(rows, sizeof(ScanOrder) * capacity);
		}
		o = &rows[n++];
		o->customer = customer;
		o->at = at;
		o->amount = 0;
		if (!nulls[cols.amount_att - 1])
		{
			Datum		v = values[cols.amount_att - 1];
			int16		dscale;
			bool		special = false;

			if (cols.amount_type == NUMERICOID)
			{
				if (!money_from_numeric(v, &o->amount, &dscale, &special) || special)
					not_supported("amounts with more than 8 decimals, of 10^22 or more, or not numbers");
			}
			else
				o->amount = money_of_integer(cols.amount_type == INT2OID ? DatumGetInt16(v) :
											 cols.amount_type == INT4OID ? DatumGetInt32(v) : DatumGetInt64(v));
		}
		if (cols.order_att == InvalidAttrNumber)
		{
			o->has_id = true;
			o->id = position;
		}
		else
		{
			Datum		v = values[cols.order_att - 1];

			o->has_id = !nulls[cols.order_att - 1];
			o->id = !o->has_id ? 0 : cols.order_type == INT8OID ? DatumGetInt64(v) :
				cols.order_type == INT4OID ? DatumGetInt32(v) : DatumGetInt16(v);
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	/* held until the refresh ends: one state of the sources throughout */
	relation_close(rel, NoLock);

	if (rows == NULL)
		rows = alloc_huge(sizeof(ScanOrder));
	bucket_in_place((char *) rows, sizeof(ScanOrder), n, cs->count, buckets);

	/* per customer: rows of one order merged, then in time order */
	for (int32 c = 0; c < cs->count; c++)
	{
		ScanOrder  *own = &rows[buckets->start[c]];
		int64		k = buckets->end[c] - buckets->start[c];
		int64		kept = 0;

		if (k == 0)
			continue;
		if (cols.order_att != InvalidAttrNumber)
		{
			if (k > 1)
				qsort(own, k, sizeof(ScanOrder), cmp_order_id);
			for (int64 i = 0; i < k; i++)
			{
				if (kept > 0 && own[kept - 1].has_id == own[i].has_id && own[kept - 1].id == own[i].id)
				{
					own[kept - 1].at = Min(own[kept - 1].at, own[i].at);
					if (!money_add(&own[kept - 1].amount, own[i].amount))
						not_supported("sums beyond 10^30 per order");
				}
				else
					own[kept++] = own[i];
			}
		}
		else
			kept = k;
		if (kept > 1)
			qsort(own, kept, sizeof(ScanOrder), cmp_conversion);
		buckets->end[c] = buckets->start[c] + kept;
		if ((c & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return rows;
}

/* ---- touchpoints ---- */

/* the channel names, for cmp_channel (qsort passes no context) */
static char *const *rank_names;

static int
cmp_channel(const void *a, const void *b)
{
	return strcmp(rank_names[*(const int32 *) a], rank_names[*(const int32 *) b]);
}

/* Each channel's place in bytewise name order, for ties at one instant. */
static int32 *
channel_ranks(const Attributor *a)
{
	int32		n = a->channels.count;
	int32	   *order = palloc(sizeof(int32) * Max(n, 1));
	int32	   *rank = palloc(sizeof(int32) * Max(n, 1));

	for (int32 i = 0; i < n; i++)
		order[i] = i;
	rank_names = a->channels.names;
	qsort(order, n, sizeof(int32), cmp_channel);
	for (int32 i = 0; i < n; i++)
		rank[order[i]] = i;
	pfree(order);
	return rank;
}

static inline bool
touch_before(const Touch *x, const Touch *y)
{
	return x->at < y->at || (x->at == y->at && x->key < y->key);
}

static void
insertion_sort(Touch *t, int64 n)
{
	for (int64 i = 1; i < n; i++)
	{
		Touch		x = t[i];
		int64		j = i;

		for (; j > 0 && touch_before(&x, &t[j - 1]); j--)
			t[j] = t[j - 1];
		t[j] = x;
	}
}

/*
 * One customer's touches in order: a stable merge sort (runs of 16 by
 * insertion, then merged through scratch, of at least n items), with the
 * comparison inlined -- the per-customer sorts are most of the work after
 * the scan.
 */
#define SORT_RUN 16
static void
sort_touches(Touch *t, int64 n, Touch *scratch)
{
	Touch	   *from = t,
			   *to = scratch;

	for (int64 i = 0; i < n; i += SORT_RUN)
		insertion_sort(&t[i], Min(SORT_RUN, n - i));
	for (int64 width = SORT_RUN; width < n; width *= 2)
	{
		Touch	   *swap;

		for (int64 lo = 0; lo < n; lo += 2 * width)
		{
			int64		mid = Min(lo + width, n),
						hi = Min(lo + 2 * width, n),
						i = lo,
						j = mid,
						k = lo;

			while (i < mid && j < hi)
				to[k++] = touch_before(&from[j], &from[i]) ? from[j++] : from[i++];
			while (i < mid)
				to[k++] = from[i++];
			while (j < hi)
				to[k++] = from[j++];
		}
		swap = from;
		from = to;
		to = swap;
	}
	if (from != t)
		memcpy(t, from, sizeof(Touch) * n);
}

/*
 * The touches that may be credited (at or before as_of, after the earliest
 * lookback start), bucketed per customer and sorted; *skipped counts those
 * without a customer or a time.
 */
static Touch *
read_touches(Customers *cs, Attributor *a, Oid relid, const char *customer_column, const char *time_column,
			 const char *channel_column, TimestampTz as_of, TimestampTz earliest, Buckets *buckets,
			 int64 *skipped)
{
	Relation	rel = scan_open(relid);
	AttrNumber	customer_att,
				time_att,
				channel_att,
				last_att;
	Oid			customer_type,
				time_type,
				channel_type;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Touch	   *rows = NULL;
	int64		n = 0,
				capacity = 0,
				seen = 0,
				longest = 0;
	int32	   *rank;
	Touch	   *scratch;
	int32		unknown = attributor_channel(a, UNKNOWN_CHANNEL, strlen(UNKNOWN_CHANNEL));
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment touch row", ALLOCSET_SMALL_SIZES);

	if (scan_refusal(rel) != NULL)
		not_supported(scan_refusal(rel));
	customer_att = scan_column_number(rel, customer_column, &customer_type);
	time_att = scan_column_number(rel, time_column, &time_type);
	channel_att = scan_column_number(rel, channel_column, &channel_type);
	last_att = Max(customer_att, Max(time_att, channel_att));
	if (customer_type != cs->table.customer_type)
		not_supported("a touch customer column of another type than the orders'");
	if (time_type != TIMESTAMPTZOID && time_type != TIMESTAMPOID && time_type != DATEOID)
		not_supported("this type of touch time");
	/* other types read as the SQL path's ::text would need their casts */
	if (channel_type != TEXTOID && channel_type != VARCHAROID)
		not_supported("channels that are not text or varchar");

	*skipped = 0;
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum	   *values;
		bool	   *nulls;
		TimestampTz at;
		int32		customer;
		int32		channel;

		if ((++seen & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, last_att);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		if (nulls[customer_att - 1] || nulls[time_att - 1])
		{
			(*skipped)++;
			continue;
		}
		at = to_timestamptz(values[time_att - 1], time_type);
		if (TIMESTAMP_NOT_FINITE(at))
		{
			(*skipped)++;
			continue;
		}
		if (at > as_of || at < earliest)
			continue;
		customer = customer_of(cs, values[customer_att - 1], row_cxt);
		if (customer < 0)
			continue;			/* neither ordered nor a prospect of the contents */
		if (nulls[channel_att - 1])
			channel = unknown;
		else
		{
			text	   *t = DatumGetTextPP(values[channel_att - 1]);

			channel = attributor_channel(a, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
		if (n == capacity)
		{
			capacity = Max(65536, 2 * capacity);
			check_memory(sizeof(Touch) * capacity);
			rows = rows == NULL ? alloc_huge(sizeof(Touch) * capacity) :
				repalloc_huge(rows, sizeof(Touch) * capacity);
		}
		rows[n].key = customer;
		rows[n].channel = channel;
		rows[n].at = at;
		n++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	/* held until the refresh ends: one state of the sources throughout */
	relation_close(rel, NoLock);

	if (rows == NULL)
		rows = alloc_huge(sizeof(Touch));
	bucket_in_place((char *) rows, sizeof(Touch), n, cs->count, buckets);
	rank = channel_ranks(a);
	for (int64 i = 0; i < n; i++)
		rows[i].key = rank[rows[i].channel];
	for (int32 c = 0; c < cs->count; c++)
		longest = Max(longest, buckets->end[c] - buckets->start[c]);
	scratch = alloc_huge(sizeof(Touch) * longest);
	for (int32 c = 0; c < cs->count; c++)
	{
		sort_touches(&rows[buckets->start[c]], buckets->end[c] - buckets->start[c], scratch);
		if ((c & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(scratch);
	return rows;
}

/* ---- paths ---- */

static inline float8
revenue_of(ScaledMoney amount)
{
	/* below 2^53 units both operands are exact and the division rounds
	 * once, as numeric_float8 of the exact sum would */
	if (amount > -((ScaledMoney) 1 << 53) && amount < ((ScaledMoney) 1 << 53))
		return (float8) (int64) amount / 1e8;
	return money_to_float8(amount);
}

static inline TimestampTz
minus_interval(TimestampTz t, Interval *span)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(t),
												   IntervalPGetDatum(span)));
}

typedef struct PathBuffer
{
	int32	   *channels;
	TimestampTz *at;
	int64		capacity;
} PathBuffer;

static void
add_path(Attributor *a, PathBuffer *p, const int32 *segments, const Touch *touches, int64 n, bool converted,
		 float8 revenue, bool first_order)
{
	if (n > p->capacity)
	{
		p->capacity = Max(n, 2 * p->capacity);
		p->channels = p->channels == NULL ? alloc_huge(sizeof(int32) * p->capacity) :
			repalloc_huge(p->channels, sizeof(int32) * p->capacity);
		p->at = p->at == NULL ? alloc_huge(sizeof(TimestampTz) * p->capacity) :
			repalloc_huge(p->at, sizeof(TimestampTz) * p->capacity);
	}
	for (int64 i = 0; i < n; i++)
	{
		p->channels[i] = touches[i].channel;
		p->at[i] = touches[i].at;
	}
	attributor_add(a, segments, p->channels, p->at, (int) n, converted, revenue, first_order);
}

/* Matches each customer's touches to its conversions, path by path. */
static void
attribute_customers(Attributor *a, Customers *cs, const ScanOrder *conversions, const Buckets *cb,
					const Touch *touches, const Buckets *tb, TimestampTz as_of, bool has_attributed_after,
					TimestampTz attributed_after, Interval *lookback)
{
	TimestampTz open_start = minus_interval(as_of, lookback);
	PathBuffer	p = {0};

	for (int32 c = 0; c < cs->count; c++)
	{
		const int32 *segments = cs->segments[c];
		int64		tend = tb->end[c];
		int64		first_open = tb->start[c];	/* first touch not yet given to a conversion */
		TimestampTz previous = DT_NOBEGIN;

		for (int64 k = cb->start[c]; k < cb->end[c]; k++)
		{
			const ScanOrder *o = &conversions[k];
			TimestampTz window_start = minus_interval(o->at, lookback);
			int64		start = first_open,
						end = first_open;

			/* its touches: up to it, within the lookback, after the previous conversion */
			while (end < tend && touches[end].at <= o->at)
				end++;
			while (start < end && (touches[start].at < window_start ||
								   (previous != DT_NOBEGIN && touches[start].at <= previous)))
				start++;
			/* orders before the attribution period only end the paths before them */
			if (!has_attributed_after || o->at > attributed_after)
				add_path(a, &p, segments, &touches[start], end - start, true, revenue_of(o->amount),
						 k == cb->start[c]);
			first_open = end;
			previous = o->at;
		}
		/* after the last conversion: a non-converting path within the lookback before as_of */
		while (first_open < tend && touches[first_open].at <= open_start)
			first_open++;
		if (tend > first_open)
			add_path(a, &p, segments, &touches[first_open], tend - first_open, false, 0.0, false);
		if ((c & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

static void
write_row(void *arg, Datum *values, bool *nulls)
{
	RowWriter  *w = arg;
	TupleTableSlot *slot = row_writer_next(w);

	memcpy(slot->tts_values, values, sizeof(Datum) * 7);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * 7);
	row_writer_add(w);
}

/*
 * segment._attribute_scan(orders regclass, customer_column name,
 *     time_column name, amount_column name, order_id_column name,
 *     touchpoints regclass, touch_customer_column name, touch_time_column
 *     name, touch_channel_column name, contents regclass, as_of
 *     timestamptz, lower timestamptz, attributed_after timestamptz,
 *     attribution_lookback interval, half_life interval, result regclass)
 *     → int8
 * Conversions are the orders in (lower, as_of] (NULL lower: all before);
 * those after attributed_after (NULL: all) are attributed.  Writes the
 * attribution rows into result and returns the touches left out for a NULL
 * customer or time.
 */
Datum
attribute_scan(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(10);
	bool		has_lower = !PG_ARGISNULL(11);
	TimestampTz lower = has_lower ? PG_GETARG_TIMESTAMPTZ(11) : DT_NOBEGIN;
	bool		has_attributed_after = !PG_ARGISNULL(12);
	TimestampTz attributed_after = has_attributed_after ? PG_GETARG_TIMESTAMPTZ(12) : DT_NOBEGIN;
	Interval   *lookback = PG_GETARG_INTERVAL_P(13);
	Attributor	a;
	Customers	cs;
	Buckets		conversion_buckets,
				touch_buckets;
	ScanOrder  *conversions;
	Touch	   *touches;
	int64		skipped;
	TimestampTz earliest;
	RowWriter	w;

	const Oid	result_types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID};

	check_internal_call(fcinfo);
	for (int i = 0; i < 16; i++)
		if (PG_ARGISNULL(i) && i != 4 && i != 11 && i != 12)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("segment._attribute_scan: argument %d is NULL", i + 1),
					 errhint("segment.refresh() calls it; there is no need to call it directly.")));
	if (!segment_fast_scan)
		not_supported("anything while segment.fast_scan is off");
	attributor_init(&a, half_life_seconds(PG_GETARG_INTERVAL_P(14)));
	read_contents(&cs, &a, PG_GETARG_OID(9), NameStr(*PG_GETARG_NAME(1)));
	conversions = read_conversions(&cs, PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), NameStr(*PG_GETARG_NAME(2)),
								   NameStr(*PG_GETARG_NAME(3)), PG_ARGISNULL(4) ? NULL : NameStr(*PG_GETARG_NAME(4)),
								   as_of, has_lower, lower, &conversion_buckets);
	/* no touch before the earliest lookback start can be credited (a day
	 * earlier still, for intervals across a DST change) */
	earliest = Max(lower, attributed_after);
	touches = read_touches(&cs, &a, PG_GETARG_OID(5), NameStr(*PG_GETARG_NAME(6)), NameStr(*PG_GETARG_NAME(7)),
						   NameStr(*PG_GETARG_NAME(8)), as_of,
						   earliest == DT_NOBEGIN ? DT_NOBEGIN : minus_interval(earliest, lookback) - USECS_PER_DAY,
						   &touch_buckets, &skipped);
	attribute_customers(&a, &cs, conversions, &conversion_buckets, touches, &touch_buckets, as_of,
						has_attributed_after, attributed_after, lookback);
	pfree(touches);
	pfree(conversions);

	row_writer_open(&w, PG_GETARG_OID(15), result_types, lengthof(result_types));
	attributor_finish(&a, write_row, &w);
	row_writer_close(&w);
	PG_RETURN_INT64(skipped);
}

#else							/* no 128-bit integers: always the SQL path */

Datum
attribute_scan(PG_FUNCTION_ARGS)
{
	not_supported("builds without 128-bit integers");
	PG_RETURN_NULL();
}

#endif
