/*
 * facts_scan.c -- the refresh's fast path: one pass over an order table
 * accumulating per-customer facts in the build's hash table.
 *
 * Per customer: the rows in the window, the first and last time of an order
 * with a positive amount, the number of such orders (distinct order ids when
 * an order id column is given) and the exact net amount.  Rows without a
 * time are skipped and counted; rows outside (as_of - lookback, as_of] are
 * ignored; then rows without a customer are skipped and counted -- the same
 * rules as the SQL path's GROUP BY in refresh.sql.
 *
 * It refuses (ERRCODE_FEATURE_NOT_SUPPORTED) what a heap scan cannot see
 * right or what it does not decode: views, partitioned or foreign tables,
 * inheritance children, row-level security, float amounts, non-integer order
 * ids, amounts with more than 8 decimals; and it stops
 * (ERRCODE_PROGRAM_LIMIT_EXCEEDED) past segment.scan_memory.  The refresh
 * then takes the SQL path, which handles any of them.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "facts.h"
#include "segment.h"

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
	facts_mix64((uint64) (k).customer * UINT64CONST(0x9E3779B97F4A7C15) ^ (uint64) (k).order_id)
#define SH_EQUAL(tb, a, b) ((a).customer == (b).customer && (a).order_id == (b).order_id)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static void
not_supported(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the fast scan does not support %s", why),
			 errdetail("The refresh computes the facts with SQL instead."),
			 errhint("Nothing to do: this message is caught by segment.refresh().")));
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
column_number(Relation rel, const char *column, Oid *type)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum <= 0)			/* missing, or a system column */
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errdetail("The segmentation names it."),
				 errhint("Drop the segmentation and create it again with the current column names.")));
	*type = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
	return attnum;
}

static void
check_memory(FactsTable *facts)
{
	if (MemoryContextMemAllocated(facts->cxt, true) > (Size) segment_scan_memory_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the fast scan needs more than segment.scan_memory (%d kB)",
						segment_scan_memory_kb),
				 errdetail("The refresh computes the facts with SQL instead, which can spill to disk."),
				 errhint("Raise segment.scan_memory for faster refreshes of this many customers.")));
}

#ifdef HAVE_INT128

void
facts_scan_orders(FactsTable *facts, Oid relid, const char *customer_column,
				  const char *time_column, const char *amount_column,
				  const char *order_id_column, TimestampTz as_of,
				  bool has_lookback, TimestampTz lower)
{
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
	orders_hash *order_set = NULL;
	int64		rows = 0;
	TableScanDesc scan;
	TupleTableSlot *slot;

	if (!segment_fast_scan)
		not_supported("anything while segment.fast_scan is off");

	rel = relation_open(relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_MATVIEW)
		not_supported("views, partitioned or foreign tables");
	/* a scan of the heap would see neither children nor row-level security */
	if (rel->rd_rel->relhassubclass || check_enable_rls(relid, InvalidOid, true) != RLS_NONE ||
		!RelationIsPopulated(rel))
		not_supported("tables with inheritance children, row-level security or no data yet");
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	customer_att = column_number(rel, customer_column, &customer_type);
	time_att = column_number(rel, time_column, &time_type);
	amount_att = column_number(rel, amount_column, &amount_type);
	if (order_id_column != NULL)
		order_att = column_number(rel, order_id_column, &order_type);
	if (customer_type != facts->customer_type)
		not_supported("a customer column whose type changed since registration");
	if (amount_type != NUMERICOID && amount_type != INT2OID && amount_type != INT4OID && amount_type != INT8OID)
		not_supported("amounts that are not numeric or integers");
	if (time_type != TIMESTAMPTZOID && time_type != TIMESTAMPOID && time_type != DATEOID)
		not_supported("this type of time column");
	if (order_att != InvalidAttrNumber && order_type != INT2OID && order_type != INT4OID && order_type != INT8OID)
		not_supported("order ids that are not integers");
	if (!facts->ops.int_key && (!OidIsValid(facts->ops.hash_fn->fn_oid) || !OidIsValid(facts->ops.eq_fn->fn_oid)))
		not_supported("customer types without hashing");

	if (order_att != InvalidAttrNumber)
		order_set = orders_create(facts->cxt, 1024, NULL);

	last_att = Max(Max(customer_att, time_att), Max(amount_att, order_att));
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum	   *values;
		bool	   *nulls;
		TimestampTz t;
		Datum		key;
		CustomerFacts *entry;
		ScaledMoney amount = 0;
		int16		dscale = 0;
		bool		special = false;

		if ((++rows & 0xFFFF) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			check_memory(facts);
		}
		slot_getsomeattrs(slot, last_att);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		/* as the SQL path: no time, skipped; outside the window, ignored;
		 * then no customer, skipped */
		if (nulls[time_att - 1])
		{
			facts->rows_skipped++;
			continue;
		}
		t = to_timestamptz(values[time_att - 1], time_type);
		if (t > as_of || (has_lookback && t <= lower))
			continue;
		if (nulls[customer_att - 1])
		{
			facts->rows_skipped++;
			continue;
		}

		key = values[customer_att - 1];
		if (customer_type == INT2OID)
			key = Int64GetDatum((int64) DatumGetInt16(key));
		else if (customer_type == INT4OID)
			key = Int64GetDatum((int64) DatumGetInt32(key));
		entry = facts_find_or_add(facts, key);
		entry->valid_rows++;
		facts->orders_scanned++;
		if (nulls[amount_att - 1])
			continue;
		switch (amount_type)
		{
			case NUMERICOID:
				if (!money_from_numeric(values[amount_att - 1], &amount, &dscale, &special))
					not_supported("amounts with more than 8 decimals or of 10^22 or more");
				break;
			case INT2OID:
				amount = money_of_integer(DatumGetInt16(values[amount_att - 1]));
				break;
			case INT4OID:
				amount = money_of_integer(DatumGetInt32(values[amount_att - 1]));
				break;
			default:
				amount = money_of_integer(DatumGetInt64(values[amount_att - 1]));
				break;
		}
		entry->has_amount = true;
		if (special)
		{
			entry->special = true;
			continue;
		}
		if (!money_add(&entry->sum, amount))
			not_supported("sums beyond 10^30 per customer");
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
			OrderKey	okey;
			Datum		id = values[order_att - 1];
			bool		found;

			okey.customer = entry->id;
			okey.order_id = order_type == INT8OID ? DatumGetInt64(id) :
				order_type == INT4OID ? DatumGetInt32(id) : DatumGetInt16(id);
			orders_insert(order_set, okey, &found);
			if (!found)
				entry->frequency++;
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);
	check_memory(facts);
	if (order_set != NULL)
		orders_destroy(order_set);
}

#else							/* no 128-bit integers: always the SQL path */

void
facts_scan_orders(FactsTable *facts, Oid relid, const char *customer_column,
				  const char *time_column, const char *amount_column,
				  const char *order_id_column, TimestampTz as_of,
				  bool has_lookback, TimestampTz lower)
{
	not_supported("builds without 128-bit integers");
}

#endif
