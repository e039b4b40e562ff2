/*
 * facts_read.c -- the build's hash table of customer facts: creating it,
 * finding customers, and filling it from the queries refresh.sql gives
 * (the facts of the SQL path, and the customers of touchpoints and carts).
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "refresh/facts.h"

void
facts_init(FactsTable *facts, Oid customer_type, Oid collation)
{
	TypeCacheEntry *typentry;

	memset(facts, 0, sizeof(FactsTable));
	money_init();
	facts->customer_type = customer_type;
	facts->cxt = AllocSetContextCreate(CurrentMemoryContext, "segment facts", ALLOCSET_DEFAULT_SIZES);
	facts->earliest_after = DT_NOEND;
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

/*
 * Room for the purchase days of more entries: for the customers the
 * statistics expect at first (up to a million: the statistics are the
 * table owner's to set), then twice as many; on huge pages, as the table
 * (each row of a scan reaches its customer's days at random).
 */
#define DAYS_FIRST_MAX (1024 * 1024)

static void
grow_days(FactsTable *facts)
{
	int64		capacity = facts->days_capacity > 0 ? facts->days_capacity * 2 :
		(int64) Max(Min(facts->expected_customers * 1.1, DAYS_FIRST_MAX), 1024);
	PurchaseDays *days = large_alloc_zero(facts->days_cxt, sizeof(PurchaseDays) * capacity);

	if (facts->days != NULL)
	{
		memcpy(days, facts->days, sizeof(PurchaseDays) * facts->days_capacity);
		pfree(facts->days);
	}
	facts->days = days;
	facts->days_capacity = capacity;
}

/*
 * A new entry zeroed, numbered, with its key (already widened); a key not
 * passed by value is copied into the table's memory, detoasted: it is
 * written to new tables, partition files and workers' messages, which must
 * not point into the orders' TOAST table.
 */
void
facts_init_entry(FactsTable *facts, CustomerFacts *entry, Datum key)
{
	Datum		stored = key;

	memset(((char *) entry) + offsetof(CustomerFacts, has_amount), 0,
		   sizeof(CustomerFacts) - offsetof(CustomerFacts, has_amount));
	if (!facts->typbyval)
	{
		MemoryContext old = MemoryContextSwitchTo(facts->cxt);

		if (facts->typlen == -1)
			key = PointerGetDatum(PG_DETOAST_DATUM_PACKED(key));
		stored = datumCopy(key, false, facts->typlen);
		MemoryContextSwitchTo(old);
	}
	entry->key = stored;
	entry->id = facts->next_id++;
	if (facts->track_days && entry->id >= facts->days_capacity)
		grow_days(facts);
}

/* The customer's entry, new and zeroed if absent (key already widened). */
CustomerFacts *
facts_find_or_add(FactsTable *facts, Datum key)
{
	bool		found;
	CustomerFacts *entry = facts_insert(facts->hash, key, &found);

	if (!found)
		facts_init_entry(facts, entry, key);
	return entry;
}

/* The same with the key's hash already computed (facts_key_hash's). */
CustomerFacts *
facts_find_or_add_hash(FactsTable *facts, Datum key, uint32 hash)
{
	bool		found;
	CustomerFacts *entry = facts_insert_hash(facts->hash, key, hash, &found);

	if (!found)
		facts_init_entry(facts, entry, key);
	return entry;
}

/* The customer's entry in the table (not the stream), or NULL. */
CustomerFacts *
facts_find(FactsTable *facts, Datum key)
{
	return facts_lookup(facts->hash, facts_hash_key(facts, key));
}

void
facts_cursor_begin(FactsTable *facts, FactsCursor *cursor)
{
	memset(cursor, 0, sizeof(FactsCursor));
	facts_start_iterate(facts->hash, &cursor->iter);
}

/* The next customer: valid until the next call. */
CustomerFacts *
facts_cursor_next(FactsTable *facts, FactsCursor *cursor)
{
	CustomerFacts *e = &cursor->entry;

	if (!cursor->in_stream)
	{
		CustomerFacts *entry = facts_iterate(facts->hash, &cursor->iter);

		if (entry != NULL)
			return entry;
		cursor->in_stream = true;
		if (facts->stream != NULL && BufFileSeek(facts->stream, 0, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rewind the stream file of a refresh's customers")));
	}
	if (cursor->next >= facts->streamed)
		return NULL;
	cursor->next++;
	facts_read_file(facts->stream, e, sizeof(CustomerFacts));
	if (!facts->typbyval)
	{
		uint32		size;

		facts_read_file(facts->stream, &size, sizeof(size));
		if (cursor->key_buffer_size < size)
		{
			cursor->key_buffer = cursor->key_buffer == NULL ? MemoryContextAlloc(facts->cxt, size) :
				repalloc(cursor->key_buffer, size);
			cursor->key_buffer_size = size;
		}
		facts_read_file(facts->stream, cursor->key_buffer, size);
		e->key = PointerGetDatum(cursor->key_buffer);
	}
	return e;
}

/* Closes (deletes) the stream file, once read for the last time. */
void
facts_close_stream(FactsTable *facts)
{
	if (facts->stream != NULL)
		BufFileClose(facts->stream);
	facts->stream = NULL;
	facts->streamed = 0;
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
 * Runs a query of the refresh (as the current role), checks that its
 * columns have the given types (InvalidOid: the customer type) and hands
 * each row to add_row, a batch at a time.
 */
void
facts_read_rows(FactsTable *facts, const char *query, int nargs, Oid *argtypes, Datum *args, const char *nulls,
				const Oid *types, int ntypes, FactsRowReader add_row)
{
	Portal		portal;
	Datum		v[8];
	bool		isnull[8];
	MemoryContext caller = CurrentMemoryContext;

	Assert(ntypes <= lengthof(v));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, query, nargs, argtypes, args, nulls, true, 0);
	for (;;)
	{
		TupleDesc	desc;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		desc = SPI_tuptable->tupdesc;
		for (int c = 0; c < desc->natts || c < ntypes; c++)
		{
			Oid			want = c < ntypes && OidIsValid(types[c]) ? types[c] : facts->customer_type;

			if (c >= desc->natts || c >= ntypes || TupleDescAttr(desc, c)->atttypid != want)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("a query of the refresh returned other columns than segment reads"),
						 errdetail("Column %d differs from the %d expected.", c + 1, ntypes),
						 errhint("Call segment.refresh(name); only it calls the internal functions.")));
		}
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			MemoryContext old;

			if ((r & 0xFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(SPI_tuptable->vals[r], desc, v, isnull);
			old = MemoryContextSwitchTo(caller);
			add_row(facts, v, isnull);
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * A row of the SQL path's facts: customer, valid_rows, skipped_rows,
 * first_order_at, last_order_at, frequency, monetary, earliest_after (the
 * first of the customer's orders after as_of).  A row without a customer
 * carries the count of skipped rows.  Its entry, or NULL when the customer
 * has no order in the window.
 */
static CustomerFacts *
add_facts(FactsTable *facts, Datum *v, bool *isnull)
{
	CustomerFacts *entry;

	facts->orders_scanned += isnull[1] ? 0 : DatumGetInt64(v[1]);
	facts->rows_skipped += isnull[2] ? 0 : DatumGetInt64(v[2]);
	if (!isnull[7])
		facts->earliest_after = Min(facts->earliest_after, DatumGetTimestampTz(v[7]));
	if (isnull[0] || isnull[1] || DatumGetInt64(v[1]) == 0)
		return NULL;
	entry = facts_find_or_add(facts, facts_hash_key(facts, v[0]));
	entry->valid_rows = DatumGetInt64(v[1]);
	entry->has_positive = !isnull[3] && !isnull[4];
	if (entry->has_positive)
	{
		entry->first_at = DatumGetTimestampTz(v[3]);
		entry->last_at = DatumGetTimestampTz(v[4]);
	}
	entry->frequency = isnull[5] ? 0 : DatumGetInt64(v[5]);
	entry->has_amount = !isnull[6];
	if (entry->has_amount)
	{
		MemoryContext old = MemoryContextSwitchTo(facts->cxt);

		entry->money = datumCopy(v[6], false, -1);
		MemoryContextSwitchTo(old);
		if (!money_from_numeric(entry->money, &entry->sum, &entry->dscale, &entry->special))
			facts->numeric_money = true;
	}
	return entry;
}

static void
add_facts_row(FactsTable *facts, Datum *v, bool *isnull)
{
	(void) add_facts(facts, v, isnull);
}

static const Oid facts_types[8] = {InvalidOid, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, NUMERICOID,
TIMESTAMPTZOID};

void
facts_read_query(FactsTable *facts, const char *query, TimestampTz as_of, Interval *lookback)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, INTERVALOID};
	Datum		args[2] = {TimestampTzGetDatum(as_of), PointerGetDatum(lookback)};
	char		nulls[2] = {' ', lookback == NULL ? 'n' : ' '};

	facts_read_rows(facts, query, 2, argtypes, args, nulls, facts_types, lengthof(facts_types), add_facts_row);
}

/*
 * A row of an incremental refresh's changed customers: their facts, from
 * their orders alone (valid_rows 0: no order left in the window).  The
 * previous contents' facts of these customers are then ignored.
 */
static void
add_changed_row(FactsTable *facts, Datum *v, bool *isnull)
{
	CustomerFacts *entry;

	if (isnull[0])
		return;
	entry = add_facts(facts, v, isnull);
	if (entry == NULL)
		entry = facts_find_or_add(facts, facts_hash_key(facts, v[0]));
	if (!entry->recomputed)
		facts->changed++;
	entry->recomputed = true;
}

/*
 * The changed customers' facts, first (the table then holds every one of
 * them, whatever it spills later): $1 as_of, $2 lookback (NULL), $3 the
 * segmentation.
 */
void
facts_read_changes(FactsTable *facts, const char *query, TimestampTz as_of, const char *segmentation)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, INTERVALOID, TEXTOID};
	Datum		args[3] = {TimestampTzGetDatum(as_of), (Datum) 0, CStringGetTextDatum(segmentation)};
	char		nulls[3] = {' ', 'n', ' '};

	facts_read_rows(facts, query, 3, argtypes, args, nulls, facts_types, lengthof(facts_types), add_changed_row);
}

/*
 * A row of an incremental refresh's inserted orders of a customer not
 * recomputed (the facts_read_query columns): facts added to those of the
 * previous contents.
 */
static void
add_delta_row(FactsTable *facts, Datum *v, bool *isnull)
{
	PartialFacts p;

	facts->orders_scanned += isnull[1] ? 0 : DatumGetInt64(v[1]);
	facts->rows_skipped += isnull[2] ? 0 : DatumGetInt64(v[2]);
	if (!isnull[7])
		facts->earliest_after = Min(facts->earliest_after, DatumGetTimestampTz(v[7]));
	if (isnull[0])
		return;
	facts->changed++;
	if (isnull[1] || DatumGetInt64(v[1]) == 0)
		return;
	memset(&p, 0, sizeof(p));
	p.kind = PARTIAL_ORDERS;
	p.valid_rows = DatumGetInt64(v[1]);
	p.has_positive = !isnull[3] && !isnull[4];
	if (p.has_positive)
	{
		p.first_at = DatumGetTimestampTz(v[3]);
		p.last_at = DatumGetTimestampTz(v[4]);
	}
	p.frequency = isnull[5] ? 0 : DatumGetInt64(v[5]);
	p.has_amount = !isnull[6];
	if (p.has_amount && !money_from_numeric(v[6], &p.sum, &p.dscale, &p.special))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the inserted orders of customer %s have amounts the incremental refresh cannot sum",
						facts_key_text(facts, facts_hash_key(facts, v[0]))),
				 errdetail("Amounts with more than 8 decimals, or sums of 10^22 or more, are summed as numeric by a full refresh only.")));
	facts_add_partial(facts, facts_hash_key(facts, v[0]), &p);
}

/* The inserted orders' facts: $1 as_of, $2 lookback (NULL), $3 the segmentation. */
void
facts_read_deltas(FactsTable *facts, const char *query, TimestampTz as_of, const char *segmentation)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, INTERVALOID, TEXTOID};
	Datum		args[3] = {TimestampTzGetDatum(as_of), (Datum) 0, CStringGetTextDatum(segmentation)};
	char		nulls[3] = {' ', 'n', ' '};

	facts_read_rows(facts, query, 3, argtypes, args, nulls, facts_types, lengthof(facts_types), add_delta_row);
}

/*
 * A customer of the touchpoints or carts and the time of their last cart
 * old enough to count as abandoned (NULL: none).  Those without orders
 * become prospects (segment_build.c).
 */
static void
add_extras_row(FactsTable *facts, Datum *v, bool *isnull)
{
	PartialFacts p;

	if (isnull[0])
		return;
	memset(&p, 0, sizeof(p));
	p.kind = PARTIAL_EXTRAS;
	p.has_cart = !isnull[1];
	if (p.has_cart)
		p.last_at = DatumGetTimestampTz(v[1]);
	facts_add_partial(facts, facts_hash_key(facts, v[0]), &p);
}

void
facts_read_extras(FactsTable *facts, const char *query, TimestampTz as_of)
{
	static const Oid types[2] = {InvalidOid, TIMESTAMPTZOID};
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(as_of)};

	facts_read_rows(facts, query, 1, argtypes, args, NULL, types, lengthof(types), add_extras_row);
}
