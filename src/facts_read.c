/*
 * facts_read.c -- the build's hash table of customer facts: creating it,
 * finding customers, and filling it from the tables refresh.sql computes in
 * SQL (the facts of the SQL path, and the customers of touchpoints and
 * carts).
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "facts.h"

void
facts_init(FactsTable *facts, Oid customer_type, Oid collation)
{
	TypeCacheEntry *typentry;

	memset(facts, 0, sizeof(FactsTable));
	money_init();
	facts->customer_type = customer_type;
	facts->cxt = AllocSetContextCreate(CurrentMemoryContext, "segment facts", ALLOCSET_DEFAULT_SIZES);
	typentry = lookup_type_cache(customer_type, TYPECACHE_HASH_PROC_FINFO | TYPECACHE_EQ_OPR_FINFO);
	/* int8 is hashed directly only where it is passed by value */
	facts->ops.int_key = (customer_type == INT2OID || customer_type == INT4OID ||
						  (customer_type == INT8OID && FLOAT8PASSBYVAL));
	if (!facts->ops.int_key && (!OidIsValid(typentry->hash_proc) || !OidIsValid(typentry->eq_opr)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("customer type %s has no hash function", format_type_be(customer_type)),
				 errdetail("A refresh finds customers by hashing their identifiers."),
				 errhint("Register a view that casts the customer column to text or bigint.")));
	facts->ops.hash_fn = &typentry->hash_proc_finfo;
	facts->ops.eq_fn = &typentry->eq_opr_finfo;
	facts->ops.collation = collation;
	get_typlenbyval(customer_type, &facts->typlen, &facts->typbyval);
	facts->hash = facts_create(facts->cxt, 1024, &facts->ops);
}

/* A key as the hash holds it: small integers widened to int8. */
Datum
facts_hash_key(const FactsTable *facts, Datum key)
{
	if (facts->customer_type == INT2OID)
		return Int64GetDatum((int64) DatumGetInt16(key));
	if (facts->customer_type == INT4OID)
		return Int64GetDatum((int64) DatumGetInt32(key));
	return key;
}

/* The customer's entry, new and zeroed if absent (key already widened). */
CustomerFacts *
facts_find_or_add(FactsTable *facts, Datum key)
{
	bool		found;
	CustomerFacts *entry = facts_insert(facts->hash, key, &found);

	if (!found)
	{
		Datum		stored = entry->key;

		memset(((char *) entry) + offsetof(CustomerFacts, has_amount), 0,
			   sizeof(CustomerFacts) - offsetof(CustomerFacts, has_amount));
		if (!facts->typbyval)
		{
			MemoryContext old = MemoryContextSwitchTo(facts->cxt);

			stored = datumCopy(key, false, facts->typlen);
			MemoryContextSwitchTo(old);
		}
		entry->key = stored;
		entry->id = facts->next_id++;
	}
	return entry;
}

CustomerFacts *
facts_find(FactsTable *facts, Datum key)
{
	return facts_lookup(facts->hash, facts_hash_key(facts, key));
}

/* A key of the hash as a datum of the customer column's type. */
Datum
facts_output_key(const FactsTable *facts, Datum key)
{
	if (facts->customer_type == INT2OID)
		return Int16GetDatum((int16) DatumGetInt64(key));
	if (facts->customer_type == INT4OID)
		return Int32GetDatum((int32) DatumGetInt64(key));
	return key;
}

char *
facts_key_text(const FactsTable *facts, Datum key)
{
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(facts->customer_type, &output, &varlena);
	return OidOutputFunctionCall(output, facts_output_key(facts, key));
}

/*
 * The SQL path's facts table (refresh.sql): customer, valid_rows,
 * skipped_rows, first_order_at, last_order_at, frequency, monetary.  A row
 * without a customer carries the count of skipped rows.
 */
void
facts_read_table(FactsTable *facts, Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	int64		rows = 0;

	if (RelationGetDescr(rel)->natts != 7 ||
		TupleDescAttr(RelationGetDescr(rel), 0)->atttypid != facts->customer_type)
		elog(ERROR, "segment: the facts table does not have the expected columns");
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CustomerFacts *entry;
		Datum	   *v;
		bool	   *isnull;

		if ((++rows & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		v = slot->tts_values;
		isnull = slot->tts_isnull;
		facts->orders_scanned += DatumGetInt64(v[1]);
		facts->rows_skipped += DatumGetInt64(v[2]);
		if (isnull[0] || DatumGetInt64(v[1]) == 0)
			continue;
		entry = facts_find_or_add(facts, facts_hash_key(facts, v[0]));
		entry->valid_rows = DatumGetInt64(v[1]);
		entry->has_positive = !isnull[3];
		if (entry->has_positive)
		{
			entry->first_at = DatumGetTimestampTz(v[3]);
			entry->last_at = DatumGetTimestampTz(v[4]);
		}
		entry->frequency = DatumGetInt64(v[5]);
		entry->has_amount = !isnull[6];
		if (entry->has_amount)
		{
			MemoryContext old = MemoryContextSwitchTo(facts->cxt);

			entry->money = datumCopy(v[6], false, -1);
			MemoryContextSwitchTo(old);
			if (!money_from_numeric(entry->money, &entry->sum, &entry->dscale, &entry->special))
				facts->numeric_money = true;
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);
}

/*
 * Customers of the touchpoints and carts (refresh.sql): customer and the
 * time of their last cart old enough to count as abandoned (NULL: none).
 * Those without orders become prospects.
 */
void
facts_read_extras(FactsTable *facts, Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	int64		rows = 0;

	if (RelationGetDescr(rel)->natts != 2 ||
		TupleDescAttr(RelationGetDescr(rel), 0)->atttypid != facts->customer_type)
		elog(ERROR, "segment: the extras table does not have the expected columns");
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CustomerFacts *entry;
		Datum		key;
		bool		isnull;

		if ((++rows & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		key = slot_getattr(slot, 1, &isnull);
		if (isnull)
			continue;
		key = facts_hash_key(facts, key);
		entry = facts_lookup(facts->hash, key);
		if (entry == NULL)
		{
			entry = facts_find_or_add(facts, key);
			entry->is_prospect = true;
		}
		key = slot_getattr(slot, 2, &isnull);
		if (!isnull)
		{
			entry->has_cart = true;
			entry->last_cart_at = DatumGetTimestampTz(key);
		}
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	relation_close(rel, AccessShareLock);
}
