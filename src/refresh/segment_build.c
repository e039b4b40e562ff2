/*
 * segment_build.c -- segment._build_segments(): the body of a refresh, in C.
 *
 * From the per-customer facts (the fast scan of the orders, or the SQL
 * path's facts table), the customers of the touchpoints and carts and the
 * previous contents' labels, gathered per customer, it makes two passes over
 * the customers:
 *   first     feeds the values of the R and M scores to sorts and counts
 *             those of F, and gives the features of the customers with an
 *             order to the k-means sample (cluster_sample.h); then the
 *             score edges
 *             (score_edges.h), the VIP threshold (the top vip_share by net
 *             revenue) and the model
 *   second    scores each customer: exact R, F and M scores (quantile_score's
 *             rule), rfm_code, rfm_segment, lifecycle segment (the compiled
 *             rules), nearest cluster; writes its row of the new partition
 *             and, where its segments changed since the previous contents,
 *             its rows of the change log (the history partition), and counts
 *             its segments' metrics and moves
 * with no SQL over the customers.  After a spilled scan the customers the
 * scan's table does not hold come partition by partition in the first pass
 * and from the stream file in the second (facts_spill.c): memory stays within
 * segment.scan_memory, segment.refresh_work_mem for the sorts and the
 * k-means sample, whatever the number of customers.  The refresh
 * (refresh.sql) makes the tables before and indexes, attaches and swaps them
 * after.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "common/compat.h"
#include "refresh/cluster_sample.h"
#include "refresh/facts.h"
#include "security/identity.h"
#include "kmeans/kmeans.h"
#include "kmeans/kmeans_space.h"
#include "refresh/lifecycle.h"
#include "refresh/prediction.h"
#include "security/relation_check.h"
#include "refresh/row_writer.h"
#include "refresh/score_edges.h"
#include "segment.h"
#include "scheduler/shared.h"

PG_FUNCTION_INFO_V1(build_segments);

typedef enum SegmentType
{
	TYPE_RFM,
	TYPE_LIFECYCLE,
	TYPE_CLUSTER,
	TYPE_PREDICTIVE,
	NUM_TYPES
} SegmentType;

static const char *const type_names[NUM_TYPES] = {"rfm", "lifecycle", "cluster", "predictive"};

/* The segment table's columns: the 14 of every segmentation, and the 11 a prediction adds. */
#define SEGMENT_COLUMNS 14
#define PREDICTION_COLUMNS 11

#define RFM_BINS 5				/* named RFM segments exist for 5 bins */

/* One segment of one type, and its metrics in the new contents. */
typedef struct Label
{
	SegmentType type;
	char	   *name;
	int			len;
	Datum		text;
	int32		cluster;		/* TYPE_CLUSTER: the number */
	bool		is_lapsed;		/* TYPE_LIFECYCLE: "Lapsed" */
	bool		is_active;		/* TYPE_LIFECYCLE: neither "Lapsed" nor "Prospect" */
	int64		customers;
	int64		with_frequency;
	int64		orders;
	int64		repeaters;
	int64		with_monetary;
	int64		with_recency;
	float8		recency_sum;
	ScaledMoney revenue;		/* scaled form */
	Datum		revenue_numeric;	/* numeric form */
	int16		dscale;
	int64		active_before;	/* previous contents: active customers */
	int64		lapsed_now;		/* ... of whom Lapsed or gone now */
	int64		with_clv;		/* customers with a predicted CLV */
	float8		clv_sum;
} Label;

typedef struct MoveKey
{
	int32		type;
	int32		from;			/* label, or NO_LABEL: new customer */
	int32		to;				/* label, or NO_LABEL: gone */
} MoveKey;

typedef struct Move
{
	MoveKey		key;
	int64		customers;
} Move;

/* The parameters of the segmentation (a row of segment.segmentations). */
typedef struct Params
{
	char	   *name;
	Oid			orders;
	char	   *customer_column;
	char	   *time_column;
	char	   *amount_column;
	char	   *order_id_column;
	int32		bins;
	int32		clusters;
	float8		vip_share;
	float8		lapse_days;
	bool		has_lookback;
	Interval   *lookback;
	bool		has_carts;
	bool		has_previous_refresh;
	TimestampTz previous_refresh;
	KMeansModel *previous_model;
	TimestampTz as_of;
	TimestampTz refreshed;
	bool		predict;
	bool		as_of_set;		/* as_of is a parameter, not each refresh's time */
	float8		horizon_days;
	float8		discount_rate;
} Params;

typedef struct Build
{
	Params		p;
	FactsTable	facts;
	int64		n;				/* customers, prospects included */
	int64		n_ordered;		/* customers with orders in the window */
	int64		previous_ordered;	/* the same in the previous contents */
	ScoreEdges	edges[3];		/* R (of -recency), F, M */
	bool		has_vips;
	float8		vip_monetary;	/* monetary of the last VIP */
	bool		vip_exact;		/* at vip_monetary, compare exactly with: */
	ScaledMoney vip_sum;
	Datum		vip_numeric;
	ClusterSample sample;
	KMeansModel *model;
	Label	   *labels;
	int32		nlabels;
	int32		labels_capacity;
	int32		rfm_labels[RFM_BINS * RFM_BINS * RFM_BINS];
	int32	   *cluster_labels; /* by model position */
	HTAB	   *moves;
	Datum		type_texts[NUM_TYPES];	/* type_names as text */
	Prediction	pred;			/* with p.predict */
	/* each customer's purchase summary, in the order both passes visit them */
	PurchaseSummary *summaries;
	int64		nsummaries;
	int64		summaries_capacity;
	int64		next_summary;
	bool		days_from_sql;	/* the purchase days are SQL's (days.final), not the scan's */
	bool		prediction_columns; /* the segment table has them */
} Build;

/* What the second pass makes of one customer. */
typedef struct Scored
{
	float8		recency;		/* valid where has_positive */
	float8		monetary;		/* valid where has_amount */
	Datum		monetary_numeric;
	int32		score[3];		/* R, F, M; 0 = NULL */
	bool		is_vip;
	int32		cluster;		/* model position, -1 = none */
	int32		label[NUM_TYPES];	/* NO_LABEL = NULL */
	CustomerPrediction pred;
} Scored;

static float8
ms_since(TimestampTz start)
{
	return (float8) (GetCurrentTimestamp() - start) / 1000.0;
}

/* Labels ------------------------------------------------------------------ */

static int32
add_label(Build *b, SegmentType type, const char *name, int len)
{
	Label	   *label;
	MemoryContext old;

	for (int32 i = 0; i < b->nlabels; i++)
		if (b->labels[i].type == type && b->labels[i].len == len && memcmp(b->labels[i].name, name, len) == 0)
			return i;
	/* customers keep label numbers in 16 bits (CustomerFacts.previous) */
	if (b->nlabels >= PG_INT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("segmentation \"%s\" has more than %d segments", b->p.name, PG_INT16_MAX - 1),
				 errhint("Use fewer lifecycle rules or clusters.")));
	/* labels outlive SPI calls and per-row contexts */
	old = MemoryContextSwitchTo(b->facts.cxt);
	if (b->nlabels == b->labels_capacity)
	{
		b->labels_capacity *= 2;
		b->labels = repalloc(b->labels, sizeof(Label) * b->labels_capacity);
	}
	label = &b->labels[b->nlabels];
	memset(label, 0, sizeof(Label));
	label->type = type;
	label->name = pnstrdup(name, len);
	label->len = len;
	label->is_lapsed = type == TYPE_LIFECYCLE && len == 6 && memcmp(name, "Lapsed", 6) == 0;
	label->is_active = type == TYPE_LIFECYCLE && !label->is_lapsed &&
		!(len == 8 && memcmp(name, "Prospect", 8) == 0);
	label->text = PointerGetDatum(cstring_to_text_with_len(name, len));
	label->revenue_numeric = DirectFunctionCall3(numeric_in, CStringGetDatum("0"),
												 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	MemoryContextSwitchTo(old);
	return b->nlabels++;
}

static int32
label_of_text(Build *b, SegmentType type, text *t)
{
	return add_label(b, type, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

static int32
cluster_label(Build *b, int32 cluster)
{
	char		name[16];
	int32		label;

	snprintf(name, sizeof(name), "%d", cluster);
	label = add_label(b, TYPE_CLUSTER, name, strlen(name));
	b->labels[label].cluster = cluster;
	return label;
}

/* The rfm_segment name of every R, F, M, from segment.rfm_segment(). */
static void
load_rfm_labels(Build *b)
{
	if (b->p.bins != RFM_BINS)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	if (SPI_execute("SELECT segment.rfm_segment(r, f, m) FROM generate_series(1, 5) AS r,"
					" generate_series(1, 5) AS f, generate_series(1, 5) AS m ORDER BY r, f, m",
					true, 0) != SPI_OK_SELECT || SPI_processed != lengthof(b->rfm_labels))
		elog(ERROR, "segment: could not read the RFM segment names");
	for (int i = 0; i < lengthof(b->rfm_labels); i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		b->rfm_labels[i] = name == NULL ? NO_LABEL : add_label(b, TYPE_RFM, name, strlen(name));
	}
	SPI_finish();
}

/* Parameters ---------------------------------------------------------------- */

static Datum
field(HeapTupleHeader row, const char *name, bool *isnull)
{
	return GetAttributeByName(row, name, isnull);
}

static Datum
required_field(HeapTupleHeader row, const char *name)
{
	bool		isnull;
	Datum		d = GetAttributeByName(row, name, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the segmentation's %s is NULL", name),
				 errhint("Call segment.refresh(name); only it calls the internal functions.")));
	return d;
}

static char *
name_field(HeapTupleHeader row, const char *name, bool required)
{
	bool		isnull;
	Datum		d = field(row, name, &isnull);

	if (isnull)
	{
		if (required)
			required_field(row, name);	/* errors */
		return NULL;
	}
	return pstrdup(NameStr(*DatumGetName(d)));
}

static void
read_params(Params *p, HeapTupleHeader row)
{
	bool		isnull;
	Datum		d;

	p->name = TextDatumGetCString(required_field(row, "name"));
	p->orders = DatumGetObjectId(required_field(row, "orders"));
	p->customer_column = name_field(row, "customer_column", true);
	p->time_column = name_field(row, "time_column", true);
	p->amount_column = name_field(row, "amount_column", true);
	p->order_id_column = name_field(row, "order_id_column", false);
	p->bins = DatumGetInt32(required_field(row, "bins"));
	p->clusters = DatumGetInt32(required_field(row, "clusters"));
	p->vip_share = DatumGetFloat8(required_field(row, "vip_share"));
	/* the catalog's own checks, for a row value made up by a caller */
	if (p->bins < 2 || p->bins > 100 || p->clusters < 0 || p->clusters > 1000 ||
		!(p->vip_share > 0 && p->vip_share < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the segmentation's bins, clusters or vip_share are out of range"),
				 errdetail("bins must be 2 to 100, clusters 0 to 1000 and vip_share between 0 and 1."),
				 errhint("Call segment.refresh(name); only it calls the internal functions.")));
	d = field(row, "lookback", &isnull);
	p->has_lookback = !isnull;
	if (p->has_lookback)
		p->lookback = DatumGetIntervalP(d);
	field(row, "carts", &isnull);
	p->has_carts = !isnull;
	d = field(row, "last_refreshed_at", &isnull);
	p->has_previous_refresh = !isnull;
	if (!isnull)
		p->previous_refresh = DatumGetTimestampTz(d);
	d = field(row, "model", &isnull);
	p->previous_model = isnull ? NULL : DatumGetKMeansModel(d);
	field(row, "as_of", &isnull);
	p->as_of_set = !isnull;
	p->predict = DatumGetBool(required_field(row, "predict"));
	if (p->predict)
	{
		Interval   *horizon = DatumGetIntervalP(required_field(row, "horizon"));

		/* days as extract(epoch FROM horizon) / 86400 counts them */
		p->horizon_days = horizon->month * ((float8) DAYS_PER_YEAR / MONTHS_PER_YEAR) + horizon->day +
			(float8) horizon->time / USECS_PER_DAY;
		p->discount_rate = DatumGetFloat8(required_field(row, "discount_rate"));
		if (!(p->horizon_days >= 1 && p->horizon_days <= 36525.0 * 1.01) ||
			!(p->discount_rate >= 0 && p->discount_rate <= 10))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the segmentation's horizon or discount_rate is out of range"),
					 errhint("Call segment.refresh(name); only it calls the internal functions.")));
	}
}

/* Customers ------------------------------------------------------------------- */

/*
 * Days from last to as_of exactly as date_part('epoch', as_of - last) / 86400
 * computes them: the interval's whole days and remaining microseconds,
 * converted and added in that order.
 */
static float8
recency_days(TimestampTz as_of, TimestampTz last)
{
	int64		diff = as_of - last;
	int64		days = diff / USECS_PER_DAY;
	int64		usecs = diff - days * USECS_PER_DAY;

	return (usecs / 1000000.0 + (float8) SECS_PER_DAY * days) / SECS_PER_DAY;
}

static float8
money_float8(const Build *b, const CustomerFacts *e)
{
	if (b->facts.numeric_money)
		return DatumGetFloat8(DirectFunctionCall1(numeric_float8, e->money));
	return money_to_float8(e->sum);
}

/* A customer now: with orders in the window, or in the touchpoints or carts. */
static inline bool
is_current(const CustomerFacts *e)
{
	return e->valid_rows > 0 || e->in_extras;
}

static void
cluster_features(float8 recency, const CustomerFacts *e, float8 monetary, float8 *x)
{
	x[0] = log(1.0 + recency);
	x[1] = log(1.0 + (float8) e->frequency);
	x[2] = log(1.0 + Max(monetary, 0.0));
}

/*
 * A customer's purchase days as the last table's summary gives them, final
 * (an incremental refresh reads the days of the customers it changes from
 * SQL): x + 1 purchases, the first T days before the last refresh's as_of,
 * the last t_x days after it.  The repeat value's sign is all a summary
 * without new orders needs; its mean is mean_repeat_value.
 */
static void
previous_summary(TupleTableSlot *slot, const AttrNumber *atts, int32 previous_day, PurchaseDays *days)
{
	bool		isnull[4];
	Datum		v[4];

	for (int c = 0; c < 4; c++)
		v[c] = slot_getattr(slot, atts[c], &isnull[c]);
	memset(days, 0, sizeof(PurchaseDays));
	days->final = days->seen = true;
	if (isnull[0] || isnull[1] || isnull[2])
		return;					/* no purchase */
	days->mid_purchases = (int32) Min(DatumGetInt64(v[0]) + 1, PG_INT32_MAX);
	days->first_day = previous_day - (int32) DatumGetFloat8(v[2]);
	days->last_day = days->first_day + (int32) DatumGetFloat8(v[1]);
	days->repeat_value = isnull[3] ? 0.0 : DatumGetFloat8(v[3]) * DatumGetInt64(v[0]);
}

/*
 * The previous contents (customer, rfm_segment, lifecycle_segment, cluster,
 * frequency) go to each customer's facts, as labels.  In an incremental
 * refresh (base) the previous contents' facts of the customers not
 * recomputed are theirs too: frequency NULL for a prospect (no order in the
 * window), monetary NULL without amounts, first and last order NULL without
 * a positive one -- what the refresh that wrote them had.
 */
static void
read_previous(Build *b, Oid previous, bool base)
{
	Relation	rel;
	TupleTableSlot *slot;
	TableScanDesc scan;
	AttrNumber	atts[8];
	int			natts = base ? 8 : 5;
	int64		rows = 0;
	AttrNumber	predictive_att;
	AttrNumber	summary_atts[4] = {0};
	int32		previous_day = 0;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment previous row", ALLOCSET_SMALL_SIZES);

	rel = relation_open_readable(previous, AccessShareLock, "previous contents");
	relation_check_plain(rel, "previous contents");
	atts[0] = relation_column(rel, b->p.customer_column, b->facts.customer_type, "previous contents");
	atts[1] = relation_column(rel, "rfm_segment", TEXTOID, "previous contents");
	atts[2] = relation_column(rel, "lifecycle_segment", TEXTOID, "previous contents");
	atts[3] = relation_column(rel, "cluster", INT4OID, "previous contents");
	/* NULL for prospects: the others had orders in the window */
	atts[4] = relation_column(rel, "frequency", INT8OID, "previous contents");
	/* a table that never had predictions has no predictive segments */
	predictive_att = get_attnum(previous, "predictive_segment");
	if (predictive_att > 0)
		predictive_att = relation_column(rel, "predictive_segment", TEXTOID, "previous contents");
	if (base)
	{
		atts[5] = relation_column(rel, "monetary", NUMERICOID, "previous contents");
		atts[6] = relation_column(rel, "first_order_at", TIMESTAMPTZOID, "previous contents");
		atts[7] = relation_column(rel, "last_order_at", TIMESTAMPTZOID, "previous contents");
	}
	if (base && b->p.predict)
	{
		/* the last refresh predicted (its basis says so): its summaries, in days to its as_of */
		static const char *const names[4] = {"repeat_purchases", "repeat_span_days", "tenure_days", "mean_repeat_value"};
		static const Oid types[4] = {INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
		DayClock	clock = {0};

		for (int c = 0; c < 4; c++)
			summary_atts[c] = relation_column(rel, names[c], types[c], "previous contents");
		previous_day = day_of(&clock, b->p.as_of_set ? b->p.as_of : b->p.previous_refresh);
	}
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull[8];
		Datum		v[8];
		PartialFacts p;
		MemoryContext old;

		if ((++rows & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < natts; c++)
			v[c] = slot_getattr(slot, atts[c], &isnull[c]);
		if (isnull[0])
			continue;
		b->previous_ordered += !isnull[4];
		old = MemoryContextSwitchTo(row_cxt);
		memset(&p, 0, sizeof(p));
		p.kind = PARTIAL_PREVIOUS;
		p.previous[TYPE_RFM] = isnull[1] ? NO_LABEL : label_of_text(b, TYPE_RFM, DatumGetTextPP(v[1]));
		p.previous[TYPE_LIFECYCLE] = isnull[2] ? NO_LABEL :
			label_of_text(b, TYPE_LIFECYCLE, DatumGetTextPP(v[2]));
		p.previous[TYPE_CLUSTER] = isnull[3] ? NO_LABEL : cluster_label(b, DatumGetInt32(v[3]));
		p.previous[TYPE_PREDICTIVE] = NO_LABEL;
		if (predictive_att > 0)
		{
			bool		null;
			Datum		d = slot_getattr(slot, predictive_att, &null);

			if (!null)
				p.previous[TYPE_PREDICTIVE] = label_of_text(b, TYPE_PREDICTIVE, DatumGetTextPP(d));
		}
		facts_add_partial(&b->facts, facts_hash_key(&b->facts, v[0]), &p);
		if (base && !isnull[4])
		{
			memset(&p, 0, sizeof(p));
			p.kind = PARTIAL_BASE;
			p.valid_rows = 1;	/* had orders in the window: how many counts for nothing else */
			p.frequency = DatumGetInt64(v[4]);
			p.has_amount = !isnull[5];
			if (p.has_amount && !money_from_numeric(v[5], &p.sum, &p.dscale, &p.special))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("the net revenue of customer %s does not fit the incremental refresh's sums",
								facts_key_text(&b->facts, facts_hash_key(&b->facts, v[0]))),
						 errdetail("Amounts with more than 8 decimals, or sums of 10^22 or more, are summed as numeric by a full refresh only.")));
			p.has_positive = !isnull[6] && !isnull[7];
			if (p.has_positive)
			{
				p.first_at = DatumGetTimestampTz(v[6]);
				p.last_at = DatumGetTimestampTz(v[7]);
			}
			if (summary_atts[0] != 0)
				previous_summary(slot, summary_atts, previous_day, &p.days);
			facts_add_partial(&b->facts, facts_hash_key(&b->facts, v[0]), &p);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	/* held until the refresh ends: one state of the sources throughout */
	relation_close(rel, NoLock);
	MemoryContextDelete(row_cxt);
}

/*
 * Before an incremental refresh reads the previous contents' customers into
 * the table: the table at its final size, when that fits segment.scan_memory.
 * Those rows come in the bucket order of the table that wrote them; inserted
 * into a table that keeps doubling, they would crowd runs of its buckets.
 */
static void
presize_for_previous(FactsTable *facts)
{
	double		slots = (facts->previous_customers + facts->hash->members) / FACTS_GROW_MIN_FILL + 1;
	Size		bytes = (Size) slots * 2 * sizeof(CustomerFacts);

	if (slots > facts->hash->size &&
		MemoryContextMemAllocated(facts->cxt, true) + bytes <= (Size) segment_scan_memory_kb * 1024)
		facts_grow(facts->hash, (uint64) slots);
}

/* Purchase days ---------------------------------------------------------------- */

/*
 * A customer's purchase summary: from the scan's purchase days, or from
 * SQL's when the refresh read them there (a customer without a row there has
 * no purchase).  A summary the scan could not keep after its partitions were
 * merged sends the refresh to the SQL path.
 */
static void
purchase_summary(const Build *b, const CustomerFacts *e, PurchaseSummary *s)
{
	const PurchaseDays *days = facts_days(&b->facts, e);

	if (b->days_from_sql && !days->final)
	{
		memset(s, 0, sizeof(PurchaseSummary));
		s->id = e->id;
		return;
	}
	if (days->broken && !days->final)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the purchase days of customer %s came out of order", facts_key_text(&b->facts, e->key)),
				 errdetail("The scan sums each customer's days in the order of the table; the SQL path groups them.")));
	purchase_days_summary(days, e->sum, s);
	s->id = e->id;
}

/*
 * A row of segment._summary_query: customer, purchases, first_day,
 * last_day, repeat_value (purchases 0 and NULL days: none).
 */
static void
add_summary_row(FactsTable *facts, Datum *v, bool *isnull)
{
	PartialFacts p;

	if (isnull[0] || isnull[1] || isnull[4])
		return;
	memset(&p, 0, sizeof(p));
	p.kind = PARTIAL_DAYS;
	p.days.final = true;
	p.days.seen = true;
	if (DatumGetInt64(v[1]) > 0 && !isnull[2] && !isnull[3])
	{
		p.days.mid_purchases = (int32) Min(DatumGetInt64(v[1]), PG_INT32_MAX);
		p.days.first_day = DatumGetDateADT(v[2]);
		p.days.last_day = DatumGetDateADT(v[3]);
		p.days.repeat_value = DatumGetFloat8(DirectFunctionCall1(numeric_float8, v[4]));
	}
	facts_add_partial(facts, facts_hash_key(facts, v[0]), &p);
}

/* Purchase days from SQL: $1 as_of, $2 lookback (NULL), $3 the segmentation. */
static void
read_summaries(Build *b, const char *query)
{
	static const Oid types[5] = {InvalidOid, INT8OID, DATEOID, DATEOID, NUMERICOID};
	Oid			argtypes[3] = {TIMESTAMPTZOID, INTERVALOID, TEXTOID};
	Datum		args[3] = {TimestampTzGetDatum(b->p.as_of), PointerGetDatum(b->p.lookback),
	CStringGetTextDatum(b->p.name)};
	char		nulls[3] = {' ', b->p.has_lookback ? ' ' : 'n', ' '};

	facts_read_rows(&b->facts, query, 3, argtypes, args, nulls, types, lengthof(types), add_summary_row);
	b->days_from_sql = true;
}

/* First pass ------------------------------------------------------------------ */

/* A customer's values to the score sorts, and features to the k-means sample. */
static void
observe(CustomerFacts *e, void *arg)
{
	Build	   *b = arg;
	float8		recency = 0.0;
	float8		monetary = 0.0;

	if (!is_current(e))
		return;
	if ((++b->n & 0xFFFF) == 0)
		CHECK_FOR_INTERRUPTS();
	e->is_prospect = e->valid_rows == 0;
	if (e->special)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the orders of customer %s have a NaN or infinite amount",
						facts_key_text(&b->facts, e->key)),
				 errdetail("Column %s of %s holds NaN or Infinity for this customer.",
						   quote_identifier(b->p.amount_column),
						   quote_qualified_identifier(get_namespace_name(get_rel_namespace(b->p.orders)),
													  get_rel_name(b->p.orders))),
				 errhint("Fix or filter those orders (register a view that leaves them out).")));
	if (e->is_prospect)
		return;
	b->n_ordered++;
	if (e->has_positive)
	{
		recency = recency_days(b->p.as_of, e->last_at);
		score_edges_put(&b->edges[0], -recency);
	}
	score_edges_count(&b->edges[1], e->frequency);
	if (e->has_amount)
	{
		monetary = money_float8(b, e);
		score_edges_put(&b->edges[2], monetary);
	}
	if (b->p.clusters > 0 && e->has_positive)
	{
		float8		x[CLUSTER_FEATURES];

		cluster_features(recency, e, monetary, x);
		cluster_sample_offer(&b->sample, e->hash, x);
	}
	if (b->p.predict)
	{
		PurchaseSummary *summary;

		if (b->nsummaries == b->summaries_capacity)
		{
			b->summaries_capacity *= 2;
			b->summaries = repalloc_huge(b->summaries, sizeof(PurchaseSummary) * b->summaries_capacity);
		}
		summary = &b->summaries[b->nsummaries++];
		purchase_summary(b, e, summary);
		prediction_observe(&b->pred, summary, e->hash);
	}
}

static void
observe_all(Build *b)
{
	FactsCursor cursor;
	CustomerFacts *e;

	/* the recency and monetary values sorted, the order counts counted */
	score_edges_begin(&b->edges[0], b->p.bins, Max(segment_refresh_work_mem_kb / 2, 64));
	score_edges_begin_counts(&b->edges[1], b->p.bins);
	score_edges_begin(&b->edges[2], b->p.bins, Max(segment_refresh_work_mem_kb / 2, 64));
	cluster_sample_init(&b->sample, segment_cluster_sample);
	if (b->p.predict)
	{
		/* the arrays of the first pass sized for the table's customers: no copies as they grow */
		b->summaries_capacity = Max(b->facts.hash->members, 1024);
		b->summaries = MemoryContextAllocExtended(b->facts.days_cxt, sizeof(PurchaseSummary) * b->summaries_capacity,
												  MCXT_ALLOC_HUGE);
		prediction_expect(&b->pred, b->facts.hash->members);
	}
	/* the table's customers, then those of the partitions as they are aggregated */
	facts_cursor_begin(&b->facts, &cursor);
	while ((e = facts_cursor_next(&b->facts, &cursor)) != NULL)
		observe(e, b);
	elog(DEBUG1, "segment: the first pass went over the table's %lld customers", (long long) b->n);
	if (b->facts.spill != NULL)
		facts_finish_spill(&b->facts, observe, b);
}

/* Scores and VIPs ------------------------------------------------------------- */

typedef struct ExactCount
{
	ScaledMoney sum;
	Datum		numeric;
	int64		customers;
} ExactCount;

static int
cmp_exact_desc(const void *a, const void *b)
{
	const ExactCount *x = a;
	const ExactCount *y = b;

	if (x->numeric != (Datum) 0)
		return -DatumGetInt32(DirectFunctionCall2(numeric_cmp, x->numeric, y->numeric));
	return x->sum > y->sum ? -1 : x->sum < y->sum ? 1 : 0;
}

static bool
exact_equal(const Build *b, const CustomerFacts *e, const ExactCount *c)
{
	if (b->facts.numeric_money)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, e->money, c->numeric)) == 0;
	return e->sum == c->sum;
}

/*
 * The VIP threshold when net revenues that differ may share the float8 of
 * the last VIP's: amounts in the numeric form, or beyond 2^22, where
 * float8 no longer tells cents apart.  One more pass finds the exact value
 * among the customers at that float8 (few distinct values: those a float8
 * cannot tell apart).
 */
static void
find_exact_vip_threshold(Build *b, int64 rank)
{
	FactsCursor cursor;
	CustomerFacts *e;
	ExactCount *values = palloc(sizeof(ExactCount) * 16);
	int			nvalues = 0;
	int			capacity = 16;

	facts_cursor_begin(&b->facts, &cursor);
	while ((e = facts_cursor_next(&b->facts, &cursor)) != NULL)
	{
		int			i;

		if (!is_current(e) || !e->has_amount || money_float8(b, e) != b->vip_monetary)
			continue;
		for (i = 0; i < nvalues && !exact_equal(b, e, &values[i]); i++)
			;
		if (i == nvalues)
		{
			if (nvalues == capacity)
				values = repalloc(values, sizeof(ExactCount) * (capacity *= 2));
			values[i].sum = e->sum;
			values[i].numeric = b->facts.numeric_money ? e->money : (Datum) 0;
			values[i].customers = 0;
			nvalues++;
		}
		values[i].customers++;
	}
	qsort(values, nvalues, sizeof(ExactCount), cmp_exact_desc);
	for (int i = 0; i < nvalues; i++)
	{
		rank -= values[i].customers;
		if (rank <= 0 || i == nvalues - 1)
		{
			b->vip_sum = values[i].sum;
			b->vip_numeric = values[i].numeric;
			break;
		}
	}
	b->vip_exact = true;
	pfree(values);
}

/* The score edges; VIPs: net revenue at least the k-th largest, k = ceil(vip_share * customers). */
static void
finish_scores(Build *b)
{
	int64		k = (int64) ceil(b->p.vip_share * (float8) b->n_ordered);
	ScoreEdges *m = &b->edges[2];

	for (int s = 0; s < 3; s++)
		score_edges_finish(&b->edges[s], s == 2 ? Max(k, 0) : 0);
	b->has_vips = k > 0 && m->n > 0;
	if (!b->has_vips)
		return;
	b->vip_monetary = m->kth_largest;
	if (b->facts.numeric_money || fabs(m->kth_largest) >= (float8) (1 << 22))
		find_exact_vip_threshold(b, Min(k, m->n) - m->above_kth);
}

static bool
is_vip(const Build *b, const CustomerFacts *e, float8 monetary)
{
	if (!b->has_vips || !e->has_amount || monetary < b->vip_monetary)
		return false;
	if (monetary > b->vip_monetary || !b->vip_exact)
		return true;
	if (b->facts.numeric_money)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp, e->money, b->vip_numeric)) >= 0;
	return e->sum >= b->vip_sum;
}

/* Clusters -------------------------------------------------------------------- */

/*
 * What segment.kmeans(features, clusters, '{"allow_fewer_clusters": true}')
 * over the sample returns (over every customer with an order, up to
 * segment.cluster_sample of them), aligned to the previous model.
 */
static void
cluster(Build *b)
{
	float8	   *x;
	float8	   *weights;
	int64		unique;
	KMeansOptions options;
	int32		k = b->p.clusters;

	if (k == 0 || b->sample.n == 0)
		return;
	if (b->sample.offered > b->sample.n)
		elog(DEBUG1, "segment: k-means is fitted on a sample of %lld of the %lld customers with an order",
			 (long long) b->sample.n, (long long) b->sample.offered);
	x = cluster_sample_features(&b->sample);
	pfree(b->sample.points);
	b->sample.points = NULL;
	kmeans_default_options(&options);
	options.allow_fewer_clusters = true;
	weights = palloc_extended(sizeof(float8) * b->sample.n, MCXT_ALLOC_HUGE);
	unique = kmeans_sort_unique(x, b->sample.n, CLUSTER_FEATURES, weights);
	b->model = kmeans_fit(x, weights, unique, CLUSTER_FEATURES, (int32) Min(k, unique), &options);
	b->model->requested_k = k;
	pfree(x);
	pfree(weights);
	if (b->p.previous_model != NULL)
		b->model = (KMeansModel *) DatumGetPointer(DirectFunctionCall2(kmeans_align,
																	   PointerGetDatum(b->model),
																	   PointerGetDatum(b->p.previous_model)));
	b->cluster_labels = palloc(sizeof(int32) * b->model->k);
	for (int32 c = 0; c < b->model->k; c++)
		b->cluster_labels[c] = cluster_label(b, KM_IDS(b->model)[c]);
}

/* Second pass ----------------------------------------------------------------- */

static void
count_in_label(Build *b, int32 label, const CustomerFacts *e, const Scored *c)
{
	Label	   *l = &b->labels[label];

	l->customers++;
	if (c->pred.has_clv)
	{
		l->with_clv++;
		l->clv_sum += c->pred.clv;
	}
	if (e->is_prospect)
		return;
	l->with_frequency++;
	l->orders += e->frequency;
	l->repeaters += e->frequency >= 2;
	if (e->has_positive)
	{
		l->with_recency++;
		l->recency_sum += c->recency;
	}
	if (e->has_amount)
	{
		l->with_monetary++;
		if (b->facts.numeric_money)
		{
			MemoryContext old = MemoryContextSwitchTo(b->facts.cxt);

			l->revenue_numeric = DirectFunctionCall2(numeric_add, l->revenue_numeric, c->monetary_numeric);
			MemoryContextSwitchTo(old);
		}
		else if (!money_add(&l->revenue, e->sum))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the revenue of segment \"%s\" is out of range", l->name),
					 errdetail("It reaches 10^30."),
					 errhint("Check the order amounts for mistakes.")));
		l->dscale = Max(l->dscale, e->dscale);
	}
}

/* The rfm_code of scores r, f, m: from codes (made in its context) when given. */
static Datum
rfm_code(Datum *codes, int32 bins, int32 r, int32 f, int32 m)
{
	char		code[40];
	int			at = (r * 10 + f) * 10 + m;
	MemoryContext old;

	if (codes != NULL && codes[at] != (Datum) 0)
		return codes[at];
	snprintf(code, sizeof(code), "%d%d%d", r, f, m);
	if (codes == NULL)
		return PointerGetDatum(cstring_to_text(code));
	/* outlives the rows' memory */
	old = MemoryContextSwitchTo(GetMemoryChunkContext(codes));
	codes[at] = PointerGetDatum(cstring_to_text(code));
	MemoryContextSwitchTo(old);
	return codes[at];
}

/* Scores, VIP, cluster and segments of a current customer. */
static void
score_customer(Build *b, LifecycleRules *rules, const CustomerFacts *e, Scored *c)
{
	LifecycleFacts lf;
	text	   *lifecycle;

	memset(c, 0, sizeof(Scored));
	c->cluster = -1;
	if (e->has_positive)
		c->recency = recency_days(b->p.as_of, e->last_at);
	if (e->has_amount)
	{
		c->monetary = money_float8(b, e);
		c->monetary_numeric = b->facts.numeric_money ? e->money : money_to_numeric(e->sum, e->dscale);
	}
	if (!e->is_prospect)
	{
		if (e->has_positive)
			c->score[0] = score_edges_score(&b->edges[0], -c->recency);
		c->score[1] = score_edges_score(&b->edges[1], (float8) e->frequency);
		if (e->has_amount)
			c->score[2] = score_edges_score(&b->edges[2], c->monetary);
	}
	c->is_vip = is_vip(b, e, c->monetary);
	if (b->model != NULL && !e->is_prospect && e->has_positive)
	{
		float8		f[CLUSTER_FEATURES];
		float8		z[CLUSTER_FEATURES];
		float8		d;

		cluster_features(c->recency, e, c->monetary, f);
		kmeans_standardize_row(b->model, f, z);
		c->cluster = kmeans_nearest(z, KM_CENTROIDS(b->model), b->model->k, CLUSTER_FEATURES, &d);
	}

	c->label[TYPE_RFM] = NO_LABEL;
	if (b->p.bins == RFM_BINS && c->score[0] != 0 && c->score[1] != 0 && c->score[2] != 0)
		c->label[TYPE_RFM] = b->rfm_labels[((c->score[0] - 1) * RFM_BINS + (c->score[1] - 1)) * RFM_BINS +
										   (c->score[2] - 1)];
	lf.recency_null = !e->has_positive;
	lf.recency_days = c->recency;
	lf.frequency_null = e->is_prospect;
	lf.frequency = e->frequency;
	lf.monetary_null = !e->has_amount;
	lf.monetary = c->monetary_numeric;
	lf.is_vip = c->is_vip;
	lf.is_lapsed = !e->has_positive || c->recency > b->p.lapse_days;
	lf.has_abandoned_cart = !e->is_prospect && e->has_cart &&
		(!e->has_positive || e->last_cart_at > e->last_at);
	lf.is_prospect = e->is_prospect;
	lifecycle = lifecycle_classify(rules, &lf);
	c->label[TYPE_LIFECYCLE] = lifecycle == NULL ? NO_LABEL : label_of_text(b, TYPE_LIFECYCLE, lifecycle);
	c->label[TYPE_CLUSTER] = c->cluster < 0 ? NO_LABEL : b->cluster_labels[c->cluster];
	c->label[TYPE_PREDICTIVE] = NO_LABEL;
	c->pred.level = -1;
	if (b->p.predict && !e->is_prospect)
	{
		/* the first pass visited the customers in the same order */
		PurchaseSummary *summary = &b->summaries[b->next_summary++];

		if (b->next_summary > b->nsummaries || summary->id != e->id)
			elog(ERROR, "segment: the second pass met customer %s out of the first pass's order",
				 facts_key_text(&b->facts, e->key));
		prediction_score(&b->pred, summary, &c->pred);
		if (c->pred.segment != NULL)
			c->label[TYPE_PREDICTIVE] = add_label(b, TYPE_PREDICTIVE, c->pred.segment, strlen(c->pred.segment));
	}
}

/* The customer key for a writer: copied into its batch memory when not by value. */
static Datum
written_key(const Build *b, RowWriter *w, Datum key)
{
	MemoryContext old;
	Datum		copy;

	key = facts_output_key(&b->facts, key);
	if (b->facts.typbyval)
		return key;
	old = MemoryContextSwitchTo(w->batch_cxt);
	copy = datumCopy(key, false, b->facts.typlen);
	MemoryContextSwitchTo(old);
	return copy;
}

/* The columns rfm_segment, lifecycle_segment, cluster (consecutive in both tables) of a customer. */
static void
segment_columns(const Build *b, const Scored *c, Datum *v, bool *isnull)
{
	for (int t = TYPE_RFM; t <= TYPE_LIFECYCLE; t++)
	{
		isnull[t] = c->label[t] == NO_LABEL;
		if (!isnull[t])
			v[t] = b->labels[c->label[t]].text;
	}
	isnull[2] = c->cluster < 0;
	if (!isnull[2])
		v[2] = Int32GetDatum(KM_IDS(b->model)[c->cluster]);
}

/* A predicted CLV in cents, as numeric (without the text round trip of float8's cast). */
static Datum
clv_numeric(float8 clv)
{
	if (fabs(clv) < 1e15)
		return money_to_numeric((ScaledMoney) llround(clv * 100) * 1000000, 2);
	return DirectFunctionCall2(numeric_round, DirectFunctionCall1(float8_numeric, Float8GetDatum(clv)), Int32GetDatum(2));
}

/*
 * The prediction columns: predictive_segment, churn_risk, p_alive,
 * p_purchase, expected_orders, predicted_clv, expected_next_order_at,
 * repeat_purchases, repeat_span_days, tenure_days, mean_repeat_value (all
 * NULL without a purchase; the summary alone without the models).  The
 * segment first: the next refresh reads it from this table, the rest not.
 */
static void
prediction_columns(const Build *b, const CustomerPrediction *p, int32 label, Datum *v, bool *isnull)
{
	if (!p->has_summary)
		return;
	v[7] = Int64GetDatum((int64) p->x);
	v[8] = Float8GetDatum(p->t_x);
	v[9] = Float8GetDatum(p->T);
	isnull[7] = isnull[8] = isnull[9] = false;
	if (!isnan(p->mean_value))
	{
		v[10] = Float8GetDatum(p->mean_value);
		isnull[10] = false;
	}
	if (!p->has_scores)
		return;
	if (label != NO_LABEL)
	{
		v[0] = b->labels[label].text;
		isnull[0] = false;
	}
	if (p->level >= 0)
	{
		v[1] = b->pred.levels[p->level].text;
		isnull[1] = false;
	}
	v[2] = Float8GetDatum(p->p_alive);
	v[3] = Float8GetDatum(p->p_purchase);
	isnull[2] = isnull[3] = false;
	if (isfinite(p->expected_orders))
	{
		v[4] = Float8GetDatum(p->expected_orders);
		isnull[4] = false;
	}
	if (p->has_clv)
	{
		v[5] = clv_numeric(p->clv);
		isnull[5] = false;
	}
	if (p->has_next_order)
	{
		v[6] = TimestampTzGetDatum(p->next_order_at);
		isnull[6] = false;
	}
}

/*
 * A row of the new partition: customer, recency_days, frequency, monetary,
 * r_score, f_score, m_score, rfm_code, rfm_segment, lifecycle_segment,
 * cluster, first_order_at, last_order_at, refreshed_at.
 */
static void
write_segment_row(Build *b, RowWriter *w, TupleTableSlot *slot, Datum *codes, const CustomerFacts *e,
				  const Scored *c)
{
	Datum	   *v = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;

	memset(isnull, true, sizeof(bool) * (SEGMENT_COLUMNS + (b->prediction_columns ? PREDICTION_COLUMNS : 0)));
	v[0] = written_key(b, w, e->key);
	isnull[0] = false;
	if (!e->is_prospect)
	{
		v[2] = Int64GetDatum(e->frequency);
		isnull[2] = false;
	}
	if (e->has_positive)
	{
		v[1] = Float8GetDatum(c->recency);
		v[11] = TimestampTzGetDatum(e->first_at);
		v[12] = TimestampTzGetDatum(e->last_at);
		isnull[1] = isnull[11] = isnull[12] = false;
	}
	if (e->has_amount)
	{
		v[3] = c->monetary_numeric;
		isnull[3] = false;
	}
	for (int s = 0; s < 3; s++)
	{
		v[4 + s] = Int32GetDatum(c->score[s]);
		isnull[4 + s] = c->score[s] == 0;
	}
	if (c->score[0] != 0 && c->score[1] != 0 && c->score[2] != 0)
	{
		v[7] = rfm_code(codes, b->p.bins, c->score[0], c->score[1], c->score[2]);
		isnull[7] = false;
	}
	segment_columns(b, c, v + 8, isnull + 8);
	v[13] = TimestampTzGetDatum(b->p.refreshed);
	isnull[13] = false;
	if (b->prediction_columns)
		prediction_columns(b, &c->pred, c->label[TYPE_PREDICTIVE], v + SEGMENT_COLUMNS, isnull + SEGMENT_COLUMNS);
	row_writer_add(w);
}

/*
 * The change log's rows of a customer: one per segment type whose segment
 * differs from the previous contents' (customer, segment_type, from_segment,
 * to_segment, refreshed_at; NULL: not in a segment of that type).  labels
 * NULL: the customer is gone.  The first refresh logs nothing: its table is
 * the baseline the changes start from.
 */
static void
write_changes(Build *b, RowWriter *w, const CustomerFacts *e, const int32 *labels)
{
	if (!b->p.has_previous_refresh)
		return;
	for (int t = 0; t < NUM_TYPES; t++)
	{
		int32		from = e->in_previous ? e->previous[t] : NO_LABEL;
		int32		to = labels == NULL ? NO_LABEL : labels[t];
		TupleTableSlot *slot;
		Datum	   *v;
		bool	   *isnull;

		if (from == to)
			continue;
		slot = row_writer_next(w);
		v = slot->tts_values;
		isnull = slot->tts_isnull;
		v[0] = written_key(b, w, e->key);
		v[1] = b->type_texts[t];
		v[2] = from == NO_LABEL ? (Datum) 0 : b->labels[from].text;
		v[3] = to == NO_LABEL ? (Datum) 0 : b->labels[to].text;
		v[4] = TimestampTzGetDatum(b->p.refreshed);
		isnull[0] = isnull[1] = isnull[4] = false;
		isnull[2] = from == NO_LABEL;
		isnull[3] = to == NO_LABEL;
		row_writer_add(w);
	}
}

static void
count_move(Build *b, int type, int32 from, int32 to)
{
	MoveKey		key;
	Move	   *move;
	bool		found;

	if (from == NO_LABEL && to == NO_LABEL)
		return;
	memset(&key, 0, sizeof(key));
	key.type = type;
	key.from = from;
	key.to = to;
	move = hash_search(b->moves, &key, HASH_ENTER, &found);
	if (!found)
		move->customers = 0;
	move->customers++;
}

/*
 * A customer's moves between segments since the previous contents (labels
 * NULL: gone since), and per previous segment its active customers (not
 * Lapsed nor Prospect) and how many of them are Lapsed now or gone.
 */
static void
count_moves(Build *b, const CustomerFacts *e, const int32 *labels)
{
	bool		active = e->in_previous && e->previous[TYPE_LIFECYCLE] != NO_LABEL &&
		b->labels[e->previous[TYPE_LIFECYCLE]].is_active;
	bool		lapsed_now = labels == NULL ||
		(labels[TYPE_LIFECYCLE] != NO_LABEL && b->labels[labels[TYPE_LIFECYCLE]].is_lapsed);

	for (int t = 0; t < NUM_TYPES; t++)
	{
		int32		from = e->in_previous ? e->previous[t] : NO_LABEL;

		count_move(b, t, from, labels == NULL ? NO_LABEL : labels[t]);
		if (from != NO_LABEL && active)
		{
			b->labels[from].active_before++;
			b->labels[from].lapsed_now += lapsed_now;
		}
	}
}

/* Every customer scored, written to the new partition and the change log, and counted. */
static void
write_customers(Build *b, Oid segments, Oid changes)
{
	Oid			segment_types[SEGMENT_COLUMNS + PREDICTION_COLUMNS] = {b->facts.customer_type, FLOAT8OID, INT8OID,
		NUMERICOID, INT4OID, INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, NUMERICOID, TIMESTAMPTZOID, INT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID};
	Oid			change_types[5] = {b->facts.customer_type, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	RowWriter	segment_writer;
	RowWriter	change_writer;
	LifecycleRules rules;
	FactsCursor cursor;
	CustomerFacts *e;
	HASHCTL		ctl;
	int64		rows = 0;

	/* the codes of up to 9 bins, made once */
	Datum	   *codes = b->p.bins <= 9 ? palloc0(sizeof(Datum) * 1000) : NULL;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(MoveKey);
	ctl.entrysize = sizeof(Move);
	ctl.hcxt = CurrentMemoryContext;
	b->moves = hash_create("segment moves", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	lifecycle_compile(&rules);
	row_writer_open(&segment_writer, segments, segment_types,
					SEGMENT_COLUMNS + (b->prediction_columns ? PREDICTION_COLUMNS : 0));
	row_writer_open(&change_writer, changes, change_types, lengthof(change_types));
	for (int t = 0; t < NUM_TYPES; t++)
		b->type_texts[t] = CStringGetTextDatum(type_names[t]);
	facts_cursor_begin(&b->facts, &cursor);
	while ((e = facts_cursor_next(&b->facts, &cursor)) != NULL)
	{
		Scored		c;
		TupleTableSlot *slot;
		MemoryContext old;

		if ((++rows & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!is_current(e))
		{
			count_moves(b, e, NULL);
			write_changes(b, &change_writer, e, NULL);
			continue;
		}
		/* what the row points to lives in the writer's batch memory, which the slot's turn may reset */
		slot = row_writer_next(&segment_writer);
		old = MemoryContextSwitchTo(segment_writer.batch_cxt);
		score_customer(b, &rules, e, &c);
		MemoryContextSwitchTo(old);
		for (int t = 0; t < NUM_TYPES; t++)
			if (c.label[t] != NO_LABEL)
				count_in_label(b, c.label[t], e, &c);
		count_moves(b, e, c.label);
		write_segment_row(b, &segment_writer, slot, codes, e, &c);
		write_changes(b, &change_writer, e, c.label);
		if ((rows & 1023) == 0)
			ResetExprContext(rules.econtext);
	}
	row_writer_close(&segment_writer);
	row_writer_close(&change_writer);
	FreeExprContext(rules.econtext, true);
	facts_close_stream(&b->facts);
}

/* segment.summaries and segment.migrations -------------------------------------- */

static void
store_metrics(Build *b)
{
	Oid			summary_types[15] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, INT8OID,
	INT8OID, NUMERICOID, FLOAT8OID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID, FLOAT8OID};
	Oid			move_types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	SPIPlanPtr	plan;
	int64		totals[NUM_TYPES] = {0};
	HASH_SEQ_STATUS status;
	Move	   *move;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	plan = SPI_prepare("INSERT INTO segment.summaries (segmentation, refreshed_at, segment_type, segment,"
					   " customers, customer_share, orders, revenue, aov, avg_recency_days, avg_frequency,"
					   " avg_monetary, repeat_rate, churn_rate, historical_clv, predicted_clv)"
					   " VALUES ($1, $2, $3, $4, $5, $5::float8 / $6, $7, $8, $8 / nullif($7, 0),"
					   " $9 / nullif($10, 0), ($7::numeric / nullif($11, 0))::float8, $8 / nullif($12, 0),"
					   " ($13::numeric / nullif($11, 0))::float8, $14, $8 / $5, $15::numeric)",
					   lengthof(summary_types), summary_types);
	if (plan == NULL)
		elog(ERROR, "segment: could not prepare the summary insert: %s", SPI_result_code_string(SPI_result));
	for (int32 i = 0; i < b->nlabels; i++)
		totals[b->labels[i].type] += b->labels[i].customers;
	for (int32 i = 0; i < b->nlabels; i++)
	{
		Label	   *l = &b->labels[i];
		Datum		v[15];
		char		nulls[15];

		if (l->customers == 0)
			continue;
		memset(nulls, ' ', sizeof(nulls));
		v[0] = CStringGetTextDatum(b->p.name);
		v[1] = TimestampTzGetDatum(b->p.refreshed);
		v[2] = CStringGetTextDatum(type_names[l->type]);
		v[3] = l->text;
		v[4] = Int64GetDatum(l->customers);
		v[5] = Int64GetDatum(totals[l->type]);
		v[6] = Int64GetDatum(l->orders);
		v[7] = b->facts.numeric_money ? l->revenue_numeric : money_to_numeric(l->revenue, l->dscale);
		v[8] = Float8GetDatum(l->recency_sum);
		v[9] = Int64GetDatum(l->with_recency);
		v[10] = Int64GetDatum(l->with_frequency);
		v[11] = Int64GetDatum(l->with_monetary);
		v[12] = Int64GetDatum(l->repeaters);
		/* churn: the share of last refresh's active customers now Lapsed or gone */
		v[13] = Float8GetDatum(l->active_before > 0 ? (float8) l->lapsed_now / (float8) l->active_before : 0.0);
		if (!b->p.has_previous_refresh || l->active_before == 0)
			nulls[13] = 'n';
		/* the mean predicted CLV of those of its customers who have one */
		v[14] = Float8GetDatum(l->with_clv > 0 ? l->clv_sum / (float8) l->with_clv : 0.0);
		if (l->with_clv == 0)
			nulls[14] = 'n';
		if (SPI_execute_plan(plan, v, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "segment: could not insert into segment.summaries");
	}

	if (b->p.has_previous_refresh)
	{
		plan = SPI_prepare("INSERT INTO segment.migrations (segmentation, segment_type, from_segment, to_segment,"
						   " customers, from_refreshed_at, to_refreshed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
						   lengthof(move_types), move_types);
		if (plan == NULL)
			elog(ERROR, "segment: could not prepare the migration insert: %s", SPI_result_code_string(SPI_result));
		hash_seq_init(&status, b->moves);
		while ((move = hash_seq_search(&status)) != NULL)
		{
			Datum		v[7];

			v[0] = CStringGetTextDatum(b->p.name);
			v[1] = CStringGetTextDatum(type_names[move->key.type]);
			v[2] = move->key.from == NO_LABEL ? CStringGetTextDatum("(new)") : b->labels[move->key.from].text;
			v[3] = move->key.to == NO_LABEL ? CStringGetTextDatum("(gone)") : b->labels[move->key.to].text;
			v[4] = Int64GetDatum(move->customers);
			v[5] = TimestampTzGetDatum(b->p.previous_refresh);
			v[6] = TimestampTzGetDatum(b->p.refreshed);
			if (SPI_execute_plan(plan, v, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "segment: could not insert into segment.migrations");
		}
	}
	SPI_finish();
}

/*
 * segment._build_segments(s segment.segmentations, facts_query text,
 *     extras_query text, new_part regclass, history_part regclass,
 *     previous_part regclass, refreshed timestamptz, as_of timestamptz,
 *     lapse_days float8, changes_query text, deltas_query text,
 *     summary_query text)
 * → (customers, orders_scanned, rows_skipped, scan_workers, model, scan_ms,
 *    cluster_ms, score_ms, history_ms, ordering_customers,
 *    previous_ordering_customers, scan_partitions, changes_snapshot,
 *    earliest_after_as_of, customers_changed, bgnbd_model,
 *    gammagamma_model, predict_ms, prediction_warning)
 * summary_query (with predict on; $1 as_of, $2 lookback): every customer's
 * purchase days, read when the scan could not sum them.
 * facts_query NULL: the fast scan of the orders, else the SQL path's facts
 * ($1 as_of, $2 lookback); changes_query and deltas_query (an incremental
 * refresh, with facts_query NULL; $3 the segmentation): the facts of the
 * customers to recompute, and those of the orders inserted for others, to
 * add to theirs from previous_part; extras_query: the
 * customers of the touchpoints and carts ($1 as_of); extras_query,
 * previous_part: NULL if none.  changes_snapshot is the snapshot every
 * source was read with.  Only a refresh calls it, as the owner; the
 * partitions must be its new ones.
 */
Datum
build_segments(PG_FUNCTION_ARGS)
{
	Build		b;
	TupleDesc	result_desc;
	Datum		result[19];
	bool		result_null[19] = {false};
	TimestampTz phase;
	Relation	part;
	AttrNumber	customer_att;
	Oid			customer_type;
	Oid			collation;

	check_internal_call(fcinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(3) || PG_ARGISNULL(4) || PG_ARGISNULL(6) || PG_ARGISNULL(7) ||
		PG_ARGISNULL(8) || PG_ARGISNULL(9) != PG_ARGISNULL(10) ||
		(!PG_ARGISNULL(9) && (PG_ARGISNULL(5) || !PG_ARGISNULL(1))))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment._build_segments: only facts_query, extras_query, previous_part, changes_query and deltas_query may be NULL"),
				 errdetail("An incremental refresh (changes_query and deltas_query) needs the previous contents and no facts_query."),
				 errhint("segment.refresh() calls it; there is no need to call it directly.")));
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE ||
		result_desc->natts != lengthof(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("segment._build_segments is declared with other result columns than the library returns"),
				 errdetail("The installed SQL objects and the shared library are of different versions."),
				 errhint("Run ALTER EXTENSION segment UPDATE, or drop and create the extension again.")));
	memset(&b, 0, sizeof(b));
	read_params(&b.p, PG_GETARG_HEAPTUPLEHEADER(0));
	b.p.refreshed = PG_GETARG_TIMESTAMPTZ(6);
	b.p.as_of = PG_GETARG_TIMESTAMPTZ(7);
	b.p.lapse_days = PG_GETARG_FLOAT8(8);
	if (b.p.predict && PG_ARGISNULL(11))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment._build_segments: a segmentation with predict on needs its summary_query"),
				 errhint("segment.refresh() calls it; there is no need to call it directly.")));

	/* the customer column's type is the new partition's (the rest is checked when written) */
	part = relation_open_existing(PG_GETARG_OID(3), AccessShareLock, "new partition");
	relation_check_made_here(part);
	customer_att = relation_column(part, b.p.customer_column, InvalidOid, "segment table");
	customer_type = TupleDescAttr(RelationGetDescr(part), customer_att - 1)->atttypid;
	collation = TupleDescAttr(RelationGetDescr(part), customer_att - 1)->attcollation;
	/* the table has the prediction columns since its segmentation first predicted */
	b.prediction_columns = RelationGetDescr(part)->natts > SEGMENT_COLUMNS;
	relation_close(part, AccessShareLock);
	facts_init(&b.facts, customer_type, collation);
	b.facts.track_days = b.p.predict;
	b.facts.days_cxt = CurrentMemoryContext;
	if (b.p.predict)
		prediction_begin(&b.pred, b.p.as_of, b.p.horizon_days, b.p.discount_rate);
	b.labels_capacity = 64;
	b.labels = MemoryContextAlloc(b.facts.cxt, sizeof(Label) * b.labels_capacity);

	/* the customers of the last refresh, for the scan's choice of workers */
	if (!PG_ARGISNULL(5))
	{
		Relation	previous = relation_open_readable(PG_GETARG_OID(5), AccessShareLock, "previous contents");

		b.facts.previous_customers = Max(previous->rd_rel->reltuples, 0);
		relation_close(previous, NoLock);
	}

	/* the snapshot everything is read with: the changes it saw are done with */
	{
		LOCAL_FCINFO(snapshot_fcinfo, 0);

		InitFunctionCallInfoData(*snapshot_fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		result[12] = pg_current_snapshot(snapshot_fcinfo);
	}

	/* scan, then the first pass */
	progress_phase("scanning");
	phase = GetCurrentTimestamp();
	if (!PG_ARGISNULL(9))
	{
		/* incremental: the changed customers from their orders, the others from the previous contents */
		facts_read_changes(&b.facts, text_to_cstring(PG_GETARG_TEXT_PP(9)), b.p.as_of, b.p.name);
		if (b.facts.numeric_money)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the orders of the changed customers have amounts the incremental refresh cannot sum"),
					 errdetail("Amounts with more than 8 decimals, or sums of 10^22 or more, are summed as numeric by a full refresh only.")));
		elog(DEBUG1, "segment: the changed customers recomputed in %.0f ms", ms_since(phase));
		facts_read_deltas(&b.facts, text_to_cstring(PG_GETARG_TEXT_PP(10)), b.p.as_of, b.p.name);
		elog(DEBUG1, "segment: the inserted orders read at %.0f ms", ms_since(phase));
		presize_for_previous(&b.facts);
	}
	else if (PG_ARGISNULL(1))
	{
		TimestampTz lower = 0;

		if (b.p.has_lookback)
			lower = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
															TimestampTzGetDatum(b.p.as_of),
															IntervalPGetDatum(b.p.lookback)));
		facts_scan_orders(&b.facts, b.p.orders, b.p.customer_column, b.p.time_column,
						  b.p.amount_column, b.p.order_id_column, b.p.as_of, b.p.has_lookback, lower);
	}
	else
		facts_read_query(&b.facts, text_to_cstring(PG_GETARG_TEXT_PP(1)), b.p.as_of,
						 b.p.has_lookback ? b.p.lookback : NULL);
	elog(DEBUG1, "segment: the orders read in %.0f ms", ms_since(phase));
	if (!PG_ARGISNULL(2))
		facts_read_extras(&b.facts, text_to_cstring(PG_GETARG_TEXT_PP(2)), b.p.as_of);
	elog(DEBUG1, "segment: the touchpoints and carts read at %.0f ms", ms_since(phase));
	if (!PG_ARGISNULL(5))
		read_previous(&b, PG_GETARG_OID(5), !PG_ARGISNULL(9));
	elog(DEBUG1, "segment: the previous contents read at %.0f ms", ms_since(phase));
	/*
	 * purchase days the scan could not sum from SQL: on the SQL path (its
	 * facts have none), out of order, and in an incremental refresh those
	 * of the customers it recomputes or adds orders to (the others' are the
	 * last table's)
	 */
	if (b.p.predict && (!PG_ARGISNULL(1) || !PG_ARGISNULL(9) || b.facts.days_broken || b.facts.numeric_money))
	{
		read_summaries(&b, text_to_cstring(PG_GETARG_TEXT_PP(11)));
		elog(DEBUG1, "segment: the purchase days read at %.0f ms", ms_since(phase));
	}
	observe_all(&b);
	result[5] = Float8GetDatum(ms_since(phase));

	/* cluster */
	progress_phase("clustering");
	phase = GetCurrentTimestamp();
	cluster(&b);
	result[6] = Float8GetDatum(ms_since(phase));

	/* fit the models */
	result_null[15] = result_null[16] = result_null[17] = result_null[18] = true;
	if (b.p.predict)
	{
		progress_phase("predicting");
		phase = GetCurrentTimestamp();
		prediction_fit(&b.pred);
		result[17] = Float8GetDatum(ms_since(phase));
		result_null[17] = false;
		if (b.pred.has_bgnbd)
		{
			result[15] = PointerGetDatum(btyd_model_make(BTYD_BGNBD, &b.pred.bgnbd));
			result_null[15] = false;
		}
		if (b.pred.has_gammagamma)
		{
			result[16] = PointerGetDatum(btyd_model_make(BTYD_GAMMAGAMMA, &b.pred.gammagamma));
			result_null[16] = false;
		}
		if (b.pred.warning != NULL)
		{
			result[18] = CStringGetTextDatum(b.pred.warning);
			result_null[18] = false;
		}
	}

	/* score, write the new partition and the change log: the second pass */
	progress_phase("scoring");
	phase = GetCurrentTimestamp();
	finish_scores(&b);
	elog(DEBUG1, "segment: the score edges found in %.0f ms", ms_since(phase));
	load_rfm_labels(&b);
	write_customers(&b, PG_GETARG_OID(3), PG_GETARG_OID(4));
	elog(DEBUG1, "segment: the customers scored and written at %.0f ms", ms_since(phase));
	result[7] = Float8GetDatum(ms_since(phase));

	/* metrics and moves */
	progress_phase("history");
	phase = GetCurrentTimestamp();
	store_metrics(&b);
	result[8] = Float8GetDatum(ms_since(phase));

	result[0] = Int64GetDatum(b.n);
	result[1] = Int64GetDatum(b.facts.orders_scanned);
	result[2] = Int64GetDatum(b.facts.rows_skipped);
	result[3] = Int32GetDatum(b.facts.scan_workers);
	result[4] = PointerGetDatum(b.model);
	result_null[4] = b.model == NULL;
	result[9] = Int64GetDatum(b.n_ordered);
	result[10] = Int64GetDatum(b.previous_ordered);
	result_null[10] = PG_ARGISNULL(5);
	result[11] = Int32GetDatum(b.facts.partitions);
	result[13] = TimestampTzGetDatum(b.facts.earliest_after);
	result_null[13] = b.facts.earliest_after == DT_NOEND;
	result[14] = Int64GetDatum(b.facts.changed);
	result_null[14] = PG_ARGISNULL(9);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc), result, result_null)));
}
