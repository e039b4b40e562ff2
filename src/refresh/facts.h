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

#include "common/money.h"

#define NO_LABEL (-1)

typedef struct CustomerFacts
{
	Datum		key;
	uint32		hash;
	char		status;
	bool		has_amount;		/* monetary is not NULL */
	bool		special;		/* a NaN or infinite amount */
	bool		has_positive;	/* first_at, last_at are set */
	bool		is_prospect;	/* seen only in touchpoints or carts */
	bool		has_cart;		/* last_cart_at is set */
	int16		dscale;			/* largest display scale among the amounts */
	int64		id;				/* number of the entry, for the order id set */
	int64		valid_rows;
	int64		frequency;
	TimestampTz first_at;
	TimestampTz last_at;
	TimestampTz last_cart_at;
	ScaledMoney sum;			/* scaled form */
	Datum		money;			/* numeric form (FactsTable.numeric_money) */
	int32		row;			/* position in the build's arrays */
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

#define SH_PREFIX facts
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
#include "lib/simplehash.h"

typedef struct FactsTable
{
	MemoryContext cxt;			/* the table, its keys and numerics */
	facts_hash *hash;
	KeyOps		ops;
	Oid			customer_type;
	int16		typlen;
	bool		typbyval;
	bool		numeric_money;	/* amounts in the numeric form */
	int64		next_id;
	int64		orders_scanned;	/* rows with a customer and a time, in the window */
	int64		rows_skipped;	/* rows without a customer or a time */
	int			scan_workers;	/* parallel workers that helped the scan */
} FactsTable;

/* facts_read.c */
extern void facts_init(FactsTable *facts, Oid customer_type, Oid collation);
extern CustomerFacts *facts_find_or_add(FactsTable *facts, Datum key);
extern CustomerFacts *facts_find_or_add_hash(FactsTable *facts, Datum key, uint32 hash);
extern CustomerFacts *facts_find(FactsTable *facts, Datum key);
extern Datum facts_hash_key(const FactsTable *facts, Datum key);
extern Datum facts_output_key(const FactsTable *facts, Datum key);
extern char *facts_key_text(const FactsTable *facts, Datum key);
extern void facts_read_query(FactsTable *facts, const char *query, TimestampTz as_of, Interval *lookback);
extern void facts_read_extras(FactsTable *facts, const char *query, TimestampTz as_of);

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
