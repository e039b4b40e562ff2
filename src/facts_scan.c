/*
 * facts_scan.c -- segment._scan_facts(): the refresh's fast path, one pass
 * over an order table computing per-customer facts in a simplehash table.
 *
 * It returns the rows the SQL path's GROUP BY returns (refresh.sql): per
 * customer the valid rows, the first and last time of an order with a
 * positive amount, the number of such orders (distinct order ids when one is
 * given) and the net amount; plus one row with a NULL customer carrying the
 * count of rows skipped for a NULL customer or time.  A NaN or infinite
 * amount is an error naming the customer, as in the SQL path.  Amounts are summed
 * exactly: numerics are read from their stored digits into 128-bit integers
 * in units of 10^-8.
 *
 * When it cannot (a view or partitioned table, float amounts, an order id
 * that is not an integer, a numeric with more than 8 decimals, no 128-bit
 * integers) or its table outgrows segment.scan_memory, it fails with
 * ERRCODE_FEATURE_NOT_SUPPORTED / ERRCODE_PROGRAM_LIMIT_EXCEEDED and the
 * refresh takes the SQL path, which handles any size and type.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "segment.h"

PG_FUNCTION_INFO_V1(scan_facts);

#define FACTS_COLUMNS 7
#define AMOUNT_SCALE 8			/* amounts are summed in units of 10^-8 */
#define PG_INT128_MAX_VALUE ((int128) (~(uint128) 0 >> 1))

#ifdef HAVE_INT128

typedef struct CustomerFacts
{
	Datum		key;
	uint32		hash;
	char		status;
	bool		has_amount;
	bool		special;		/* a NaN or infinite amount */
	bool		has_positive;
	int16		dscale;			/* largest display scale among the amounts */
	int64		id;				/* number of the entry, for the order id set */
	int64		valid_rows;
	int64		frequency;
	TimestampTz first_at;
	TimestampTz last_at;
	int128		sum;
} CustomerFacts;

/* What the hash and equality callbacks need. */
typedef struct KeyOps
{
	bool		int_key;		/* int2/int4/int8: hashed and compared directly */
	FmgrInfo   *hash_fn;
	FmgrInfo   *eq_fn;
	Oid			collation;
} KeyOps;

/* A 64-bit finalizer (splitmix64's), folded to 32 bits. */
static inline uint32
mix64(uint64 x)
{
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	x ^= x >> 31;
	return (uint32) x;
}

static inline uint32
key_hash(void *private_data, Datum key)
{
	KeyOps	   *ops = private_data;

	if (ops->int_key)
		return mix64((uint64) DatumGetInt64(key));
	return DatumGetUInt32(FunctionCall1Coll(ops->hash_fn, ops->collation, key));
}

static inline bool
key_equal(void *private_data, Datum a, Datum b)
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
#define SH_HASH_KEY(tb, k) key_hash((tb)->private_data, k)
#define SH_EQUAL(tb, a, b) key_equal((tb)->private_data, a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* The set of (customer, order id) pairs seen, to count distinct orders. */
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
	mix64((uint64) (k).customer * UINT64CONST(0x9E3779B97F4A7C15) ^ (uint64) (k).order_id)
#define SH_EQUAL(tb, a, b) ((a).customer == (b).customer && (a).order_id == (b).order_id)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static int128 pow10_128[31];	/* up to 10^30, the largest exponent used */

static void
not_supported(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the fast scan does not support %s", why),
			 errdetail("The refresh computes the facts with SQL instead."),
			 errhint("Nothing to do: this message is caught by segment.refresh().")));
}

/*
 * An integral or numeric amount in units of 10^-8.  Reads a numeric's stored
 * form (sign, weight, display scale, base-10000 digits) without detoasting
 * short values.  False when it holds more decimals or digits than fit.
 */
static bool
numeric_scaled(Datum d, int128 *value, int16 *dscale, bool *special)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);
	const char *p;
	int			len;
	uint16		header;
	bool		negative;
	int			weight;
	int			ndigits;
	const char *digits;
	int128		acc = 0;

	if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
		v = pg_detoast_datum(v);
	p = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	memcpy(&header, p, sizeof(uint16));
	if ((header & 0xC000) == 0xC000)
	{
		*special = true;		/* NaN, or an infinity (PostgreSQL 14+) */
		return true;
	}
	if (header & 0x8000)
	{
		/* short form: sign, display scale and weight in the header */
		negative = (header & 0x2000) != 0;
		*dscale = (header & 0x1F80) >> 7;
		weight = (header & 0x0040) ? (int) (~0x003F | (header & 0x003F)) : (header & 0x003F);
		digits = p + sizeof(uint16);
		ndigits = (len - (int) sizeof(uint16)) / 2;
	}
	else
	{
		int16		w;

		negative = (header & 0xC000) == 0x4000;
		*dscale = header & 0x3FFF;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		digits = p + 2 * sizeof(uint16);
		ndigits = (len - 2 * (int) sizeof(uint16)) / 2;
	}
	if (*dscale > AMOUNT_SCALE)
		return false;
	for (int i = 0; i < ndigits; i++)
	{
		int16		digit;
		int			exponent = 4 * (weight - i) + AMOUNT_SCALE;

		memcpy(&digit, digits + 2 * i, sizeof(int16));
		if (digit == 0)
			continue;
		if (exponent < 0 || exponent > 30)
			return false;		/* beyond 8 decimals, or above 10^26 */
		acc += (int128) digit * pow10_128[exponent];
	}
	*value = negative ? -acc : acc;
	return true;
}

/* The numeric of a scaled sum, with the given display scale. */
static Datum
scaled_numeric(int128 sum, int16 dscale)
{
	char		buf[64];
	char		digits[48];
	int			n = 0;
	uint128		mag = sum < 0 ? -(uint128) sum : (uint128) sum;
	uint128		integral = mag / (uint128) pow10_128[AMOUNT_SCALE];
	uint64		fraction = (uint64) (mag % (uint128) pow10_128[AMOUNT_SCALE]);
	int			pos = 0;

	do
	{
		digits[n++] = '0' + (int) (integral % 10);
		integral /= 10;
	} while (integral > 0);
	if (sum < 0)
		buf[pos++] = '-';
	while (n > 0)
		buf[pos++] = digits[--n];
	if (dscale > 0)
	{
		char		frac[AMOUNT_SCALE + 1];

		for (int i = AMOUNT_SCALE - 1; i >= 0; i--)
		{
			frac[i] = '0' + (int) (fraction % 10);
			fraction /= 10;
		}
		buf[pos++] = '.';
		memcpy(buf + pos, frac, dscale);
		pos += dscale;
	}
	buf[pos] = '\0';
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

static TimestampTz
to_timestamptz(Datum d, Oid type)
{
	int			overflow = 0;

	switch (type)
	{
		case TIMESTAMPTZOID:
			return DatumGetTimestampTz(d);
		case TIMESTAMPOID:
			return timestamp2timestamptz_opt_overflow(DatumGetTimestamp(d), &overflow);
		default:
			return date2timestamptz_opt_overflow(DatumGetDateADT(d), &overflow);
	}
}

static AttrNumber
column_number(Relation rel, Name column, Oid *type)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), NameStr(*column));

	if (attnum <= 0)			/* missing, or a system column */
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						NameStr(*column), RelationGetRelationName(rel)),
				 errdetail("The segmentation names it."),
				 errhint("Drop the segmentation and create it again with the current column names.")));
	*type = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
	return attnum;
}

/*
 * segment._scan_facts(orders regclass, customer name, time name, amount name,
 *                     order_id name, as_of timestamptz, lookback interval)
 *   RETURNS SETOF record (customer <type>, valid_rows int8, skipped_rows int8,
 *   first_order_at timestamptz, last_order_at timestamptz, frequency int8,
 *   monetary numeric)
 */
Datum
scan_facts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(5);
	bool		has_lookback = !PG_ARGISNULL(6);
	TimestampTz lower = 0;
	Relation	rel;
	Oid			customer_type,
				time_type,
				amount_type,
				order_type = InvalidOid;
	AttrNumber	customer_att,
				time_att,
				amount_att,
				order_att = InvalidAttrNumber,
				last_att;
	TypeCacheEntry *typentry;
	KeyOps		ops;
	MemoryContext hash_cxt;
	MemoryContext old;
	facts_hash *facts;
	orders_hash *order_set = NULL;
	int64		skipped = 0;
	int64		rows = 0;
	int64		next_id = 0;
	int16		typlen;
	bool		typbyval;
	Size		budget = (Size) segment_scan_memory_kb * 1024;
	TableScanDesc scan;
	TupleTableSlot *slot;
	char	   *relation_name;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	facts_iterator iter;
	CustomerFacts *entry;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize) ||
		rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("segment._scan_facts must be called in FROM with a column definition list"),
				 errdetail("It returns a set of records."),
				 errhint("segment.refresh() calls it; there is no need to call it directly.")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment._scan_facts: only order_id and lookback may be NULL"),
				 errhint("segment.refresh() calls it; there is no need to call it directly.")));
	if (!segment_fast_scan)
		not_supported("anything while segment.fast_scan is off");
	if (pow10_128[0] == 0)
	{
		pow10_128[0] = 1;
		for (int i = 1; i < lengthof(pow10_128); i++)
			pow10_128[i] = pow10_128[i - 1] * 10;
	}
	if (has_lookback)
		lower = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														TimestampTzGetDatum(as_of),
														PG_GETARG_DATUM(6)));

	rel = relation_open(relid, AccessShareLock);
	relation_name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											   RelationGetRelationName(rel));
	if (rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_MATVIEW)
	{
		relation_close(rel, AccessShareLock);
		not_supported("views, partitioned or foreign tables");
	}
	/* a scan of the heap would see neither children nor row-level security */
	if (rel->rd_rel->relhassubclass || check_enable_rls(relid, InvalidOid, true) != RLS_NONE ||
		!RelationIsPopulated(rel))
	{
		relation_close(rel, AccessShareLock);
		not_supported("tables with inheritance children, row-level security or no data yet");
	}
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	customer_att = column_number(rel, PG_GETARG_NAME(1), &customer_type);
	time_att = column_number(rel, PG_GETARG_NAME(2), &time_type);
	amount_att = column_number(rel, PG_GETARG_NAME(3), &amount_type);
	if (!PG_ARGISNULL(4))
		order_att = column_number(rel, PG_GETARG_NAME(4), &order_type);
	if (amount_type != NUMERICOID && amount_type != INT2OID && amount_type != INT4OID && amount_type != INT8OID)
		not_supported("amounts that are not numeric or integers");
	if (time_type != TIMESTAMPTZOID && time_type != TIMESTAMPOID && time_type != DATEOID)
		not_supported("this type of time column");
	if (order_att != InvalidAttrNumber && order_type != INT2OID && order_type != INT4OID && order_type != INT8OID)
		not_supported("order ids that are not integers");

	tupdesc = rsinfo->expectedDesc;
	if (tupdesc->natts != FACTS_COLUMNS || TupleDescAttr(tupdesc, 0)->atttypid != customer_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("segment._scan_facts: the column definition list does not match the orders"),
				 errdetail("The first of its 7 columns must have the customer column's type."),
				 errhint("segment.refresh() calls it; there is no need to call it directly.")));

	typentry = lookup_type_cache(customer_type, TYPECACHE_HASH_PROC_FINFO | TYPECACHE_EQ_OPR_FINFO);
	/* int8 is hashed directly only where it is passed by value */
	ops.int_key = (customer_type == INT2OID || customer_type == INT4OID ||
				   (customer_type == INT8OID && FLOAT8PASSBYVAL));
	if (!ops.int_key && (!OidIsValid(typentry->hash_proc) || !OidIsValid(typentry->eq_opr)))
		not_supported("customer types without hashing");
	ops.hash_fn = &typentry->hash_proc_finfo;
	ops.eq_fn = &typentry->eq_opr_finfo;
	ops.collation = TupleDescAttr(RelationGetDescr(rel), customer_att - 1)->attcollation;
	get_typlenbyval(customer_type, &typlen, &typbyval);

	hash_cxt = AllocSetContextCreate(CurrentMemoryContext, "segment facts", ALLOCSET_DEFAULT_SIZES);
	facts = facts_create(hash_cxt, 1024, &ops);
	if (order_att != InvalidAttrNumber)
		order_set = orders_create(hash_cxt, 1024, NULL);

	last_att = Max(Max(customer_att, time_att), Max(amount_att, order_att));
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum	   *values;
		bool	   *nulls;
		TimestampTz t;
		Datum		key;
		bool		found;
		int128		amount = 0;
		int16		dscale = 0;
		bool		special = false;

		if ((++rows & 0xFFFF) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			if (MemoryContextMemAllocated(hash_cxt, true) > budget)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("the fast scan needs more than segment.scan_memory (%d kB)",
								segment_scan_memory_kb),
						 errdetail("The refresh computes the facts with SQL instead, which can spill to disk."),
						 errhint("Raise segment.scan_memory for faster refreshes of this many customers.")));
		}
		slot_getsomeattrs(slot, last_att);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		/* as the SQL path: no time, skipped; outside the window, ignored;
		 * then no customer, skipped */
		if (nulls[time_att - 1])
		{
			skipped++;
			continue;
		}
		t = to_timestamptz(values[time_att - 1], time_type);
		if (t > as_of || (has_lookback && t <= lower))
			continue;
		if (nulls[customer_att - 1])
		{
			skipped++;
			continue;
		}

		key = values[customer_att - 1];
		if (customer_type == INT2OID)
			key = Int64GetDatum((int64) DatumGetInt16(key));
		else if (customer_type == INT4OID)
			key = Int64GetDatum((int64) DatumGetInt32(key));
		entry = facts_insert(facts, key, &found);
		if (!found)
		{
			if (!typbyval)
			{
				old = MemoryContextSwitchTo(hash_cxt);
				entry->key = datumCopy(key, false, typlen);
				MemoryContextSwitchTo(old);
			}
			entry->has_amount = entry->special = entry->has_positive = false;
			entry->dscale = 0;
			entry->id = next_id++;
			entry->valid_rows = entry->frequency = 0;
			entry->first_at = entry->last_at = 0;
			entry->sum = 0;
		}
		entry->valid_rows++;
		if (nulls[amount_att - 1])
			continue;
		switch (amount_type)
		{
			case NUMERICOID:
				if (!numeric_scaled(values[amount_att - 1], &amount, &dscale, &special))
					not_supported("amounts with more than 8 decimals or of 10^22 or more");
				break;
			case INT2OID:
				amount = (int128) DatumGetInt16(values[amount_att - 1]) * pow10_128[AMOUNT_SCALE];
				break;
			case INT4OID:
				amount = (int128) DatumGetInt32(values[amount_att - 1]) * pow10_128[AMOUNT_SCALE];
				break;
			default:
				amount = (int128) DatumGetInt64(values[amount_att - 1]) * pow10_128[AMOUNT_SCALE];
				break;
		}
		entry->has_amount = true;
		if (special)
		{
			entry->special = true;
			continue;
		}
#if defined(HAVE__BUILTIN_OP_OVERFLOW)
		if (__builtin_add_overflow(entry->sum, amount, &entry->sum))
			not_supported("sums beyond 10^30 per customer");
#else
		if ((amount > 0 && entry->sum > PG_INT128_MAX_VALUE - amount) ||
			(amount < 0 && entry->sum < -PG_INT128_MAX_VALUE - amount))
			not_supported("sums beyond 10^30 per customer");
		entry->sum += amount;
#endif
		entry->dscale = Max(entry->dscale, dscale);
		if (amount <= 0)
			continue;
		if (!entry->has_positive || t < entry->first_at)
			entry->first_at = t;
		if (!entry->has_positive || t > entry->last_at)
			entry->last_at = t;
		entry->has_positive = true;
		if (order_set == NULL)
			entry->frequency++;
		else if (!nulls[order_att - 1])
		{
			OrderKey	key;
			Datum		id = values[order_att - 1];

			key.customer = entry->id;
			key.order_id = order_type == INT8OID ? DatumGetInt64(id) :
				order_type == INT4OID ? DatumGetInt32(id) : DatumGetInt16(id);
			orders_insert(order_set, key, &found);
			if (!found)
				entry->frequency++;
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);

	/* hand the rows over as a materialized set */
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
	facts_start_iterate(facts, &iter);
	while ((entry = facts_iterate(facts, &iter)) != NULL)
	{
		Datum		values[FACTS_COLUMNS];
		bool		nulls[FACTS_COLUMNS] = {false};

		values[0] = entry->key;
		if (customer_type == INT2OID)
			values[0] = Int16GetDatum((int16) DatumGetInt64(entry->key));
		else if (customer_type == INT4OID)
			values[0] = Int32GetDatum((int32) DatumGetInt64(entry->key));
		if (entry->special)
		{
			Oid			output;
			bool		varlena;

			getTypeOutputInfo(customer_type, &output, &varlena);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the orders of customer %s have a NaN or infinite amount",
							OidOutputFunctionCall(output, values[0])),
					 errdetail("Column %s of %s holds NaN or Infinity for this customer.",
							   quote_identifier(NameStr(*PG_GETARG_NAME(3))), relation_name),
					 errhint("Fix or filter those orders (register a view that leaves them out).")));
		}
		values[1] = Int64GetDatum(entry->valid_rows);
		values[2] = Int64GetDatum(0);
		values[3] = TimestampTzGetDatum(entry->first_at);
		values[4] = TimestampTzGetDatum(entry->last_at);
		nulls[3] = nulls[4] = !entry->has_positive;
		values[5] = Int64GetDatum(entry->frequency);
		if (entry->has_amount)
			values[6] = scaled_numeric(entry->sum, entry->dscale);
		else
			nulls[6] = true;
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	if (skipped > 0)
	{
		Datum		values[FACTS_COLUMNS] = {0};
		bool		nulls[FACTS_COLUMNS] = {true, false, false, true, true, false, true};

		values[1] = Int64GetDatum(0);
		values[2] = Int64GetDatum(skipped);
		values[5] = Int64GetDatum(0);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	MemoryContextDelete(hash_cxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}

#else							/* no 128-bit integers: always the SQL path */

Datum
scan_facts(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the fast scan needs 128-bit integers, which this build lacks"),
			 errdetail("The refresh computes the facts with SQL instead."),
			 errhint("Nothing to do: this message is caught by segment.refresh().")));
	PG_RETURN_NULL();
}

#endif
