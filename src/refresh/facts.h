/*
 * facts.h -- the per-customer facts a refresh works from, in a simplehash
 * table keyed by customer: filled by the fast scan of the orders
 * (facts_scan.c) or read from the SQL path's facts query (facts_read.c),
 * then scored and written by segment._build_segments (segment_build.c).
 *
 * Net revenue is kept exactly.  Where every amount fits, as 128-bit integers
 * in units of 10^-8 ("scaled"); otherwise (the SQL path over float amounts or
 * amounts with more than 8 decimals) as numeric datums (common/money.h).
 */
#ifndef SEGMENT_FACTS_H
#define SEGMENT_FACTS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/relcache.h"

#include "common/large_alloc.h"
#include "common/money.h"
#include "refresh/purchase_days.h"

#define NO_LABEL (-1)

typedef struct CustomerFacts
{
	Datum		key;
	uint32		hash;
	char		status;
	bool		has_amount;		/* monetary is not NULL */
	bool		special;		/* a NaN or infinite amount */
	bool		has_positive;	/* first_at, last_at are set */
	bool		is_prospect;	/* seen only in touchpoints or carts (set by the build) */
	bool		has_cart;		/* last_cart_at is set */
	bool		in_extras;		/* seen in the touchpoints or carts */
	bool		in_previous;	/* in the previous contents, with labels previous[] */
	bool		recomputed;		/* an incremental refresh's: facts from its orders, not the last table's */
	int16		dscale;			/* largest display scale among the amounts */
	int16		previous[4];	/* the build's labels of rfm, lifecycle, cluster, predictive */
	int64		id;				/* number of the entry, for the order id set */
	int64		valid_rows;
	int64		frequency;
	TimestampTz first_at;
	TimestampTz last_at;
	TimestampTz last_cart_at;
	Datum		money;			/* numeric form (FactsTable.numeric_money) */
	ScaledMoney sum;			/* scaled form */
} CustomerFacts;

/* What the hash and equality callbacks need. */
typedef struct KeyOps
{
	bool		int_key;		/* int2/int4/int8: hashed and compared directly as int8 */
	FmgrInfo   *hash_fn;
	FmgrInfo   *eq_fn;
	Oid			collation;
} KeyOps;

/* A 64-bit finalizer (splitmix64's), folded to 32 bits. */
static inline uint32
facts_mix64(uint64 x)
{
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	x ^= x >> 31;
	return (uint32) x;
}

static inline uint32
facts_key_hash(void *private_data, Datum key)
{
	KeyOps	   *ops = private_data;

	if (ops->int_key)
		return facts_mix64((uint64) DatumGetInt64(key));
	return DatumGetUInt32(FunctionCall1Coll(ops->hash_fn, ops->collation, key));
}

static inline bool
facts_key_equal(void *private_data, Datum a, Datum b)
{
	KeyOps	   *ops = private_data;

	if (ops->int_key)
		return a == b;
	return DatumGetBool(FunctionCall2Coll(ops->eq_fn, ops->collation, a, b));
}

/*
 * The table doubles at 90% full, or at 80% when an insertion probes far (by
 * default from 10%): a scan within a budget checks before each doubling
 * (facts_near_growth).
 */
#define FACTS_GROW_MIN_FILL 0.8

#define SH_PREFIX facts
#define SH_GROW_MIN_FILLFACTOR FACTS_GROW_MIN_FILL
#define SH_ELEMENT_TYPE CustomerFacts
#define SH_KEY_TYPE Datum
#define SH_KEY key
#define SH_HASH_KEY(tb, k) facts_key_hash((tb)->private_data, k)
#define SH_EQUAL(tb, a, b) facts_key_equal((tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#define SH_USE_NONDEFAULT_ALLOCATOR
#include "lib/simplehash.h"

/* the table's array: hundreds of megabytes, on huge pages where offered */
static inline void *
facts_allocate(facts_hash *table, Size size)
{
	return large_alloc_zero(table->ctx, size);
}

static inline void
facts_free(facts_hash *table, void *pointer)
{
	pfree(pointer);
}

/*
 * Every entry of a table in an order unrelated to the hash (buckets visited
 * at a stride of an odd constant, a permutation).  A table filled in another
 * one's bucket order gets its customers sorted by the low bits of the hash,
 * which crowds runs of buckets in linear probing: a worker's facts merged by
 * the leader that way made lookups thousands of buckets long.
 */
#define FACTS_SCRAMBLED(position, sizemask) \
	((uint32) ((position) * UINT64CONST(0x9E3779B97F4A7C15)) & (sizemask))

static inline CustomerFacts *
facts_scrambled_next(facts_hash *table, uint64 *position)
{
	while (*position <= table->sizemask)
	{
		uint32		i = FACTS_SCRAMBLED((*position)++, table->sizemask);

		if (table->data[i].status == facts_SH_IN_USE)
			return &table->data[i];
	}
	return NULL;
}

/* The set of (customer entry, order id) pairs seen, to count distinct orders. */
typedef struct OrderKey
{
	int64		customer;
	int64		order_id;
} OrderKey;

typedef struct OrderEntry
{
	OrderKey	key;
	uint32		hash;
	char		status;
} OrderEntry;

#define SH_PREFIX orders
#define SH_ELEMENT_TYPE OrderEntry
#define SH_KEY_TYPE OrderKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) \
	facts_mix64((uint64) (k).customer * UINT64CONST(0x9E3779B97F4A7C15) ^ (uint64) (k).order_id)
#define SH_EQUAL(tb, a, b) ((a).customer == (b).customer && (a).order_id == (b).order_id)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#define SH_USE_NONDEFAULT_ALLOCATOR
#include "lib/simplehash.h"

static inline void *
orders_allocate(orders_hash *table, Size size)
{
	return large_alloc_zero(table->ctx, size);
}

static inline void
orders_free(orders_hash *table, void *pointer)
{
	pfree(pointer);
}

/*
 * One customer's partial facts, followed by its key's image: what a parallel
 * worker sends the leader, and what a scan past its memory budget writes to
 * a partition file (one row, or one worker's facts, of one customer; or,
 * after the scan, the customer's touchpoints and carts or previous labels).
 */
typedef enum PartialKind
{
	PARTIAL_ORDERS,				/* order facts */
	PARTIAL_EXTRAS,				/* in the touchpoints or carts; last_at: the last cart's, if has_cart */
	PARTIAL_PREVIOUS,			/* in the previous contents, with labels previous[] */
	PARTIAL_BASE,				/* an incremental refresh's order facts from the previous contents,
								 * for a customer not recomputed */
	PARTIAL_DAYS				/* the customer's purchase days from SQL (days.final) */
} PartialKind;

typedef struct PartialFacts
{
	int64		valid_rows;
	int64		frequency;
	TimestampTz first_at;
	TimestampTz last_at;
	ScaledMoney sum;
	int64		order_id;		/* a spilled row's, when has_order_id */
	int16		dscale;
	bool		has_amount;
	bool		special;
	bool		has_positive;
	bool		has_order_id;	/* a positive row whose order id is still to count */
	uint8		kind;			/* PartialKind */
	bool		has_cart;
	uint32		hash;			/* of the key (facts_key_hash) */
	uint32		key_size;		/* bytes of the key image after this struct */
	int16		previous[4];
	PurchaseDays days;
} PartialFacts;

struct FactsSpill;

/* Whether inserting coming more customers may double the table. */
static inline bool
facts_near_growth(const facts_hash *table, int coming)
{
	return (double) (table->members + coming) >= FACTS_GROW_MIN_FILL * table->size;
}

typedef struct FactsTable
{
	MemoryContext cxt;			/* the table, its keys and numerics */
	facts_hash *hash;			/* after a spilled scan, the customers it held */
	orders_hash *order_set;		/* while a scan counts distinct order ids */
	KeyOps		ops;
	Oid			customer_type;
	int16		typlen;
	bool		typbyval;
	bool		numeric_money;	/* amounts in the numeric form */
	int64		next_id;
	int64		orders_scanned;	/* rows with a customer and a time, in the window */
	TimestampTz earliest_after; /* the earliest order time after as_of (DT_NOEND: none) */
	int64		changed;		/* customers an incremental refresh recomputed or added orders to */
	int64		rows_skipped;	/* rows without a customer or a time */
	int			scan_workers;	/* parallel workers that helped the scan */
	/* past segment.scan_memory (facts_spill.c) */
	struct shm_mq_handle *worker_queue; /* a parallel worker's, to the leader */
	/* the leader of a parallel scan takes in the workers' facts as it scans */
	void		(*poll) (struct FactsTable *facts, void *arg);
	void	   *poll_arg;
	double		expected_customers; /* from the statistics, 0 if unknown */
	double		previous_customers; /* rows of the last refresh's table, 0 if none */
	struct FactsSpill *spill;	/* the scan's partition files, once it spills */
	/* then a bit per hash value (its low bits) of the customers the table holds */
	uint64	   *held;
	uint32		held_mask;
	bool		count_orders;	/* its records carry order ids to count */
	int64		spilled_rows;	/* records written to partition files */
	int			partitions;		/* partition files aggregated */
	struct BufFile *stream;		/* after a spill: the customers the table does not hold */
	int64		streamed;
	/*
	 * A refresh with predict on: each customer's purchase days
	 * (purchase_days.h), by entry id, beside the table so that refreshes
	 * without predictions do not carry them.  Every customer's, spilled or
	 * not: the models need every summary anyway.
	 */
	bool		track_days;
	bool		days_broken;	/* some customer's rows came out of order */
	DayClock	clock;
	PurchaseDays *days;			/* in days_cxt, outside the scan's budget */
	int64		days_capacity;
	MemoryContext days_cxt;
} FactsTable;

/*
 * The bytes of a partial that travel to partition files and between
 * processes: its purchase days only when the refresh tracks them.
 */
static inline Size
facts_partial_size(const FactsTable *facts)
{
	return facts->track_days ? sizeof(PartialFacts) : offsetof(PartialFacts, days);
}

/* The purchase days of an entry (track_days). */
static inline PurchaseDays *
facts_days(const FactsTable *facts, const CustomerFacts *e)
{
	Assert(facts->track_days && e->id < facts->days_capacity);
	return &facts->days[e->id];
}

/*
 * After the scan spilled, the table no longer takes customers: the entry of
 * one it holds, or NULL.  Most customers it does not hold end at their bit,
 * without the probes a miss costs in a table 80% full.
 */
static inline bool
facts_may_hold(const FactsTable *facts, uint32 hash)
{
	uint32		bit = hash & facts->held_mask;

	return (facts->held[bit >> 6] >> (bit & 63)) & 1;
}

static inline CustomerFacts *
facts_lookup_held(FactsTable *facts, Datum key, uint32 hash)
{
	Assert(facts->spill != NULL);
	return facts_may_hold(facts, hash) ? facts_lookup_hash(facts->hash, key, hash) : NULL;
}

/*
 * Every customer: the table's entries, then after a spill the stream's, read
 * into entry (facts_cursor_begin, facts_cursor_next).
 */
typedef struct FactsCursor
{
	facts_iterator iter;
	bool		in_stream;
	int64		next;
	CustomerFacts entry;
	char	   *key_buffer;
	Size		key_buffer_size;
} FactsCursor;

/* Called on each customer of a partition once it is aggregated. */
typedef void (*FactsVisitor) (CustomerFacts *e, void *arg);

/* facts_read.c */
typedef void (*FactsRowReader) (FactsTable *facts, Datum *v, bool *isnull);
extern void facts_read_rows(FactsTable *facts, const char *query, int nargs, Oid *argtypes, Datum *args,
							const char *nulls, const Oid *types, int ntypes, FactsRowReader add_row);
extern void facts_init(FactsTable *facts, Oid customer_type, Oid collation);
extern CustomerFacts *facts_find_or_add(FactsTable *facts, Datum key);
extern CustomerFacts *facts_find_or_add_hash(FactsTable *facts, Datum key, uint32 hash);
extern CustomerFacts *facts_find(FactsTable *facts, Datum key);
extern Datum facts_hash_key(const FactsTable *facts, Datum key);
extern Datum facts_output_key(const FactsTable *facts, Datum key);
extern char *facts_key_text(const FactsTable *facts, Datum key);
extern void facts_read_query(FactsTable *facts, const char *query, TimestampTz as_of, Interval *lookback);
extern void facts_read_extras(FactsTable *facts, const char *query, TimestampTz as_of);
extern void facts_read_changes(FactsTable *facts, const char *query, TimestampTz as_of, const char *segmentation);
extern void facts_read_deltas(FactsTable *facts, const char *query, TimestampTz as_of, const char *segmentation);

extern void facts_cursor_begin(FactsTable *facts, FactsCursor *cursor);
extern CustomerFacts *facts_cursor_next(FactsTable *facts, FactsCursor *cursor);
extern void facts_close_stream(FactsTable *facts);
extern void facts_init_entry(FactsTable *facts, CustomerFacts *entry, Datum key);

/* facts_spill.c */
extern bool facts_may_grow(MemoryContext cxt, const facts_hash *table, Size budget);
extern void facts_start_spill(FactsTable *facts);
extern void facts_partial_of(const FactsTable *facts, const CustomerFacts *e, PartialFacts *p);
extern void facts_spill(FactsTable *facts, const PartialFacts *p, Datum key);
extern bool facts_merge(FactsTable *facts, CustomerFacts *e, const PartialFacts *p, orders_hash *order_set);
extern void facts_add_partial(FactsTable *facts, Datum key, PartialFacts *p);
extern void facts_finish_spill(FactsTable *facts, FactsVisitor visit, void *arg);
extern void facts_read_file(struct BufFile *file, void *buffer, size_t size);

/* a timestamptz, timestamp or date as timestamptz */
extern TimestampTz to_timestamptz(Datum d, Oid type);

/* facts_scan.c, also for the attribution's scan (attribution_scan.c) */
extern Relation scan_open(Oid relid);
extern const char *scan_refusal(Relation rel);
extern AttrNumber scan_column_number(Relation rel, const char *column, Oid *type);

/* The order columns a C scan reads: numbers and types. */
typedef struct OrderColumns
{
	AttrNumber	customer_att;
	AttrNumber	time_att;
	AttrNumber	amount_att;
	AttrNumber	order_att;		/* InvalidAttrNumber: no order ids */
	AttrNumber	last_att;
	Oid			customer_type;	/* the customer key's type (as registered) */
	Oid			time_type;
	Oid			amount_type;
	Oid			order_type;
} OrderColumns;

/* Finds them in rel (order_id_column may be NULL); returns why a C scan
 * cannot decode them, or NULL. */
extern const char *scan_order_columns(Relation rel, const char *customer_column, const char *time_column,
									  const char *amount_column, const char *order_id_column,
									  Oid customer_type, OrderColumns *cols);

/* facts_scan.c: ERRCODE_FEATURE_NOT_SUPPORTED or ERRCODE_PROGRAM_LIMIT_EXCEEDED
 * when the SQL path must be used */
extern void facts_scan_orders(FactsTable *facts, Oid relid, const char *customer_column,
							  const char *time_column, const char *amount_column,
							  const char *order_id_column, TimestampTz as_of,
							  bool has_lookback, TimestampTz lower);

#endif							/* SEGMENT_FACTS_H */
