/*
 * facts_spill.c -- the fast scan past segment.scan_memory, as PostgreSQL's
 * own hash aggregation does it.
 *
 * When the scan's hash table cannot grow within the budget, it stops taking
 * new customers: rows of customers already in it are still added there, and
 * the rows of the others go to partition files by the high bits of their
 * customer's hash.  So do, after the scan, the touchpoints and carts and the
 * previous contents of customers the table does not hold.  The table stays
 * as it is; each partition is then aggregated alone in a new table within
 * what the budget has left (a quarter of it at least), a partition that
 * again outgrows its budget being split further by the next bits of the
 * hash.  Each aggregated customer is shown to the build (its first pass) and
 * appended to a stream file, which the build reads back with the table's
 * customers for its second pass.  Every customer is in exactly one place,
 * table or stream, so the facts are those an in-memory scan gives.
 *
 * Distinct order ids cannot be added up: when a table that counts them
 * spills, its customers and the order ids it saw go to the partitions too
 * (see evict).  Only one customer whose distinct orders alone outgrow the
 * budget sends the refresh to the SQL path.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "common/compat.h"
#include "refresh/facts.h"
#include "segment.h"

/* how many partitions a spill starts with, at most */
#define SPILL_MIN_PARTITIONS 8
#define SPILL_MAX_PARTITIONS 1024

/* records of a partition read ahead, their buckets prefetched */
#define PARTITION_BATCH 32

/*
 * What a partition's table should take, when the customers to come are
 * known: within a server's last-level cache, so that aggregating it does not
 * miss the cache on every record (at 8M customers, 32 partitions of 145,000
 * customers spent half their aggregation in the table's inserts).
 */
#define SPILL_PARTITION_TABLE_BYTES ((double) 8 * 1024 * 1024)

typedef struct FactsSpill
{
	int			bits;			/* log2 of the number of partitions */
	int			used_bits;		/* high bits of the hash that earlier splits used */
	double		expected;		/* customers each partition should hold, 0 if unknown */
	BufFile   **files;			/* created as rows come */
	int64	   *records;
} FactsSpill;

static FactsSpill *
spill_create(FactsTable *facts, int bits, int used_bits)
{
	FactsSpill *spill = MemoryContextAllocZero(facts->cxt, sizeof(FactsSpill));

	spill->bits = bits;
	spill->used_bits = used_bits;
	spill->files = MemoryContextAllocZero(facts->cxt, sizeof(BufFile *) << bits);
	spill->records = MemoryContextAllocZero(facts->cxt, sizeof(int64) << bits);
	return spill;
}

static int
ceil_log2(double x)
{
	int			bits = 0;

	while (bits < 30 && (double) (1 << bits) < x)
		bits++;
	return bits;
}

static void
spill_write(FactsTable *facts, FactsSpill *spill, const PartialFacts *p, Datum key)
{
	int			part = (int) ((uint32) (p->hash << spill->used_bits) >> (32 - spill->bits));

	if (spill->files[part] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(facts->cxt);

		spill->files[part] = BufFileCreateTemp(false);
		MemoryContextSwitchTo(old);
	}
	BufFileWrite(spill->files[part], (void *) p, facts_partial_size(facts));
	if (facts->typbyval)
		BufFileWrite(spill->files[part], &key, sizeof(Datum));
	else
		BufFileWrite(spill->files[part], DatumGetPointer(key), p->key_size);
	spill->records[part]++;
	facts->spilled_rows++;
}

/*
 * Whether table, in cxt, may double within budget bytes: while it grows,
 * the old array and the new one are both allocated.
 */
bool
facts_may_grow(MemoryContext cxt, const facts_hash *table, Size budget)
{
	Size		array = (Size) table->size * sizeof(CustomerFacts);

	return MemoryContextMemAllocated(cxt, true) + 2 * array <= budget;
}

/*
 * Distinct order ids cannot be added up, and the pairs seen can outgrow the
 * budget whatever the number of customers: when a table that counts them
 * spills, its customers and their pairs go to the partitions too (each
 * customer's frequency is counted again from its pairs there), and the table
 * starts empty.  Entries are numbered from first_id in the order they were
 * added.
 */
static void
evict(FactsTable *facts, facts_hash *table, orders_hash *order_set, int64 first_id, FactsSpill *spill)
{
	CustomerFacts **by_id = palloc_extended(sizeof(CustomerFacts *) * Max(facts->next_id - first_id, 1),
											MCXT_ALLOC_HUGE);
	uint64		position = 0;
	CustomerFacts *e;
	OrderEntry *pair;
	PartialFacts p;

	/* the files are aggregated again into tables: not in this one's bucket order */
	while ((e = facts_scrambled_next(table, &position)) != NULL)
	{
		by_id[e->id - first_id] = e;
		facts_partial_of(facts, e, &p);
		p.frequency = 0;		/* counted again from its pairs */
		spill_write(facts, spill, &p, e->key);
		/* what came after the scan, when a partition is split */
		if (e->in_extras)
		{
			p.kind = PARTIAL_EXTRAS;
			p.has_cart = e->has_cart;
			p.last_at = e->last_cart_at;
			spill_write(facts, spill, &p, e->key);
		}
		if (e->in_previous)
		{
			p.kind = PARTIAL_PREVIOUS;
			memcpy(p.previous, e->previous, sizeof(p.previous));
			spill_write(facts, spill, &p, e->key);
		}
	}
	for (uint64 j = 0; j <= order_set->sizemask; j++)
	{
		pair = &order_set->data[FACTS_SCRAMBLED(j, order_set->sizemask)];
		if (pair->status != orders_SH_IN_USE)
			continue;
		e = by_id[pair->key.customer - first_id];
		memset(&p, 0, sizeof(p));
		p.has_order_id = true;
		p.order_id = pair->key.order_id;
		p.hash = e->hash;
		p.key_size = facts->typbyval ? sizeof(Datum) : datumGetSize(e->key, false, facts->typlen);
		spill_write(facts, spill, &p, e->key);
	}
	pfree(by_id);
}

/*
 * The bits of the customers the table holds as it stops taking more: 16
 * bits a customer, so that about 6% of the others pass to a lookup.
 */
static void
hold_filter(FactsTable *facts)
{
	uint64		bits = 64;
	facts_iterator iter;
	CustomerFacts *e;

	while (bits < 16 * (uint64) facts->hash->members && bits < (UINT64CONST(1) << 32))
		bits <<= 1;
	facts->held = MemoryContextAllocHuge(facts->cxt, bits / 8);
	memset(facts->held, 0, bits / 8);
	facts->held_mask = (uint32) (bits - 1);
	facts_start_iterate(facts->hash, &iter);
	while ((e = facts_iterate(facts->hash, &iter)) != NULL)
		facts->held[(e->hash & facts->held_mask) >> 6] |= UINT64CONST(1) << (e->hash & 63);
}

/*
 * From now on the scan adds no new customer to its table.  Partitions: enough
 * that each holds about half what the table holds, and a table of
 * SPILL_PARTITION_TABLE_BYTES, going by the statistics or the last refresh's
 * count, whichever is more.
 */
void
facts_start_spill(FactsTable *facts)
{
	double		in_memory = Max(facts->hash->members, 1);
	/* the statistics undercount skewed customers: not below the last refresh's count */
	double		left = Max(facts->expected_customers, facts->previous_customers) - in_memory;
	int			bits = ceil_log2(left > 0 ? 2 * left / in_memory : 32);

	if (left > 0)
		bits = Max(bits, ceil_log2(left * sizeof(CustomerFacts) /
								   (FACTS_GROW_MIN_FILL * SPILL_PARTITION_TABLE_BYTES)));
	bits = Max(bits, ceil_log2(SPILL_MIN_PARTITIONS));
	bits = Min(bits, ceil_log2(SPILL_MAX_PARTITIONS));
	/* each file has a buffer of a page: at most a quarter of the budget in them */
	while (bits > 2 && ((Size) BLCKSZ << bits) > (Size) segment_scan_memory_kb * 1024 / 4)
		bits--;
	facts->spill = spill_create(facts, bits, 0);
	facts->spill->expected = Max(left, 0) / (1 << bits);
	elog(DEBUG1, "segment: the fast scan holds %.0f customers in %zu bytes; the others go to %d partition files",
		 in_memory, MemoryContextMemAllocated(facts->cxt, true), 1 << bits);
	if (facts->order_set != NULL)
	{
		evict(facts, facts->hash, facts->order_set, 0, facts->spill);
		facts_destroy(facts->hash);
		orders_destroy(facts->order_set);
		facts->hash = facts_create(facts->cxt, 16, &facts->ops);
		facts->order_set = orders_create(facts->cxt, 16, NULL);
	}
	hold_filter(facts);
}

/* A customer's facts as partial facts, to send or spill with its key. */
void
facts_partial_of(const FactsTable *facts, const CustomerFacts *e, PartialFacts *p)
{
	memset(p, 0, sizeof(PartialFacts));
	p->valid_rows = e->valid_rows;
	p->frequency = e->frequency;
	p->first_at = e->first_at;
	p->last_at = e->last_at;
	p->sum = e->sum;
	p->dscale = e->dscale;
	p->has_amount = e->has_amount;
	p->special = e->special;
	p->has_positive = e->has_positive;
	if (facts->track_days)
		p->days = *facts_days(facts, e);
	p->hash = e->hash;
	p->key_size = facts->typbyval ? sizeof(Datum) : datumGetSize(e->key, false, facts->typlen);
}

/* Writes one row's (or one worker's) facts of a customer not in the table. */
void
facts_spill(FactsTable *facts, const PartialFacts *p, Datum key)
{
	spill_write(facts, facts->spill, p, key);
}

/* Adds partial facts to a customer's entry; false when the sum overflows. */
bool
facts_merge(FactsTable *facts, CustomerFacts *e, const PartialFacts *p, orders_hash *order_set)
{
	if (p->kind == PARTIAL_EXTRAS)
	{
		e->in_extras = true;
		if (p->has_cart && (!e->has_cart || p->last_at > e->last_cart_at))
			e->last_cart_at = p->last_at;
		e->has_cart |= p->has_cart;
		return true;
	}
	if (p->kind == PARTIAL_PREVIOUS)
	{
		e->in_previous = true;
		memcpy(e->previous, p->previous, sizeof(e->previous));
		return true;
	}
	if (p->kind == PARTIAL_DAYS)
	{
		purchase_days_merge(facts_days(facts, e), &p->days);
		return true;
	}
	/* a recomputed customer's facts are those of its orders alone */
	if (p->kind == PARTIAL_BASE && e->recomputed)
		return true;
	if (facts->track_days)
		purchase_days_merge(facts_days(facts, e), &p->days);
	e->valid_rows += p->valid_rows;
	e->frequency += p->frequency;
	e->has_amount |= p->has_amount;
	e->special |= p->special;
	if (!money_add(&e->sum, p->sum))
		return false;
	e->dscale = Max(e->dscale, p->dscale);
	if (p->has_positive)
	{
		if (!e->has_positive || p->first_at < e->first_at)
			e->first_at = p->first_at;
		if (!e->has_positive || p->last_at > e->last_at)
			e->last_at = p->last_at;
		e->has_positive = true;
	}
	if (p->has_order_id && order_set != NULL)
	{
		OrderKey	okey;
		bool		found;

		okey.customer = e->id;
		okey.order_id = p->order_id;
		orders_insert(order_set, okey, &found);
		if (!found)
			e->frequency++;
	}
	return true;
}

/*
 * Adds partial facts of key (widened) that come after the scan: to its entry
 * in the table, to a new entry if the table may grow within the budget, or
 * else to its partition.
 */
void
facts_add_partial(FactsTable *facts, Datum key, PartialFacts *p)
{
	CustomerFacts *e;

	/* a partition file must hold the key itself, not a TOAST pointer */
	if (facts->typlen == -1)
		key = PointerGetDatum(PG_DETOAST_DATUM_PACKED(key));
	p->hash = facts_key_hash(&facts->ops, key);
	p->key_size = facts->typbyval ? sizeof(Datum) : datumGetSize(key, false, facts->typlen);
	e = facts->spill != NULL ? facts_lookup_held(facts, key, p->hash) : facts_lookup_hash(facts->hash, key, p->hash);
	if (e == NULL && facts->spill == NULL && facts_near_growth(facts->hash, 1) &&
		!facts_may_grow(facts->cxt, facts->hash, (Size) segment_scan_memory_kb * 1024))
		facts_start_spill(facts);
	if (e == NULL && facts->spill != NULL)
	{
		spill_write(facts, facts->spill, p, key);
		return;
	}
	if (e == NULL)
	{
		bool		found;

		e = facts_insert_hash(facts->hash, key, p->hash, &found);
		facts_init_entry(facts, e, key);
	}
	facts_merge(facts, e, p, NULL);
}

/* The stream ------------------------------------------------------------------ */

static void
stream_table(FactsTable *facts, facts_hash *table, FactsVisitor visit, void *arg)
{
	facts_iterator iter;
	CustomerFacts *e;

	if (facts->stream == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(facts->cxt);

		facts->stream = BufFileCreateTemp(false);
		MemoryContextSwitchTo(old);
	}
	facts_start_iterate(table, &iter);
	while ((e = facts_iterate(table, &iter)) != NULL)
	{
		/* only the fast scan spills, and its sums are scaled */
		Assert(!(facts->numeric_money && e->has_amount));
		visit(e, arg);
		BufFileWrite(facts->stream, (void *) e, sizeof(CustomerFacts));
		if (!facts->typbyval)
		{
			uint32		size = datumGetSize(e->key, false, facts->typlen);

			BufFileWrite(facts->stream, &size, sizeof(size));
			BufFileWrite(facts->stream, DatumGetPointer(e->key), size);
		}
		facts->streamed++;
	}
}

/* Partitions ----------------------------------------------------------------- */

/* Reads size bytes of a partition or stream file, or errors. */
void
facts_read_file(BufFile *file, void *buffer, size_t size)
{
	if (BufFileRead(file, buffer, size) != size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read a temporary file of the refresh's customers")));
}

/* Aggregates one partition file within the budget, splitting it further if need be. */
static void
aggregate_partition(FactsTable *facts, BufFile *file, int64 records, double expected, int used_bits,
					MemoryContext work, Size budget, FactsVisitor visit, void *arg)
{
	/* sized for the customers expected, when known: no doublings on the way */
	double		initial = Min((double) records, 1.25 * expected);
	facts_hash *table;
	orders_hash *order_set = NULL;
	FactsSpill *split = NULL;
	StringInfoData key_buffer;
	int64		first_id = facts->next_id;

	if (BufFileSeek(file, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind a partition file of the fast scan")));
	initial = Min(initial, Min(FACTS_GROW_MIN_FILL * budget / 4 / sizeof(CustomerFacts), PG_UINT32_MAX / 2));
	table = facts_create(work, (uint32) Max(initial, 1024), &facts->ops);
	if (facts->count_orders)
		order_set = orders_create(work, 1024, NULL);
	initStringInfo(&key_buffer);
	for (int64 r = 0; r < records;)
	{
		/* keys by value in batches, their buckets fetched ahead; others one at a time (one key buffer) */
		PartialFacts batch[PARTITION_BATCH];
		Datum		keys[PARTITION_BATCH];
		int			n = facts->typbyval ? (int) Min(records - r, PARTITION_BATCH) : 1;

		for (int i = 0; i < n; i++)
		{
			facts_read_file(file, &batch[i], facts_partial_size(facts));
			if (facts->typbyval)
				facts_read_file(file, &keys[i], sizeof(Datum));
			else
			{
				resetStringInfo(&key_buffer);
				enlargeStringInfo(&key_buffer, batch[i].key_size);
				facts_read_file(file, key_buffer.data, batch[i].key_size);
				keys[i] = PointerGetDatum(key_buffer.data);
			}
			segment_prefetch(&table->data[batch[i].hash & table->sizemask]);
		}
		for (int i = 0; i < n; i++, r++)
		{
			PartialFacts p = batch[i];
			Datum		key = keys[i];
			CustomerFacts *e;

			if ((r & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			/*
			 * Splitting again helps only if the partition holds several customers:
			 * after 16 bits of splits, one customer's distinct order ids are what
			 * outgrow the budget, and the SQL path takes over.  Without order ids
			 * a table that cannot grow never holds more than the budget.
			 */
			if (split == NULL && used_bits >= 16 && order_set != NULL &&
				MemoryContextMemAllocated(work, true) > budget)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("the distinct order ids of a customer need more than segment.scan_memory (%d kB)",
								segment_scan_memory_kb),
						 errdetail("The refresh computes the facts with SQL instead."),
						 errhint("Raise segment.scan_memory for faster refreshes of customers with this many orders.")));
			/* no bits left to split on: the partition is one hash value, let it grow */
			if (split == NULL && used_bits + 1 < 32 &&
				((facts_near_growth(table, 1) && !facts_may_grow(work, table, budget)) ||
				 ((r & 0xFFF) == 0 && MemoryContextMemAllocated(work, true) > budget)))
			{
				split = spill_create(facts, Min(4, 32 - used_bits), used_bits);
				if (order_set != NULL)
				{
					evict(facts, table, order_set, first_id, split);
					facts_destroy(table);
					orders_destroy(order_set);
					table = facts_create(work, 16, &facts->ops);
					order_set = orders_create(work, 16, NULL);
				}
			}
			if (split == NULL)
			{
				bool		found;

				e = facts_insert_hash(table, key, p.hash, &found);
				if (!found)
					facts_init_entry(facts, e, key);
			}
			else if ((e = facts_lookup_hash(table, key, p.hash)) == NULL)
			{
				spill_write(facts, split, &p, key);
				continue;
			}
			if (!facts_merge(facts, e, &p, order_set))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("the fast scan does not support sums beyond 10^30 per customer"),
						 errdetail("The refresh computes the facts with SQL instead.")));
		}
	}
	BufFileClose(file);
	facts->partitions++;
	pfree(key_buffer.data);
	stream_table(facts, table, visit, arg);
	MemoryContextReset(work);
	if (split != NULL)
	{
		for (int i = 0; i < (1 << split->bits); i++)
			if (split->files[i] != NULL)
				aggregate_partition(facts, split->files[i], split->records[i], 0,
									split->used_bits + split->bits, work, budget, visit, arg);
	}
}

/*
 * After a spill: each partition's customers are aggregated, shown to visit
 * and appended to the stream.
 */
void
facts_finish_spill(FactsTable *facts, FactsVisitor visit, void *arg)
{
	FactsSpill *spill = facts->spill;
	Size		budget = (Size) segment_scan_memory_kb * 1024;
	Size		kept = MemoryContextMemAllocated(facts->cxt, true);
	MemoryContext work = AllocSetContextCreate(facts->cxt, "segment facts partition", ALLOCSET_DEFAULT_SIZES);

	/* the partitions get what the kept table leaves of the budget */
	budget = kept < budget * 3 / 4 ? budget - kept : budget / 4;
	elog(DEBUG1, "segment: the scan keeps %zu bytes; %lld records of its partition files are aggregated within %zu",
		 kept, (long long) facts->spilled_rows, budget);
	for (int i = 0; i < (1 << spill->bits); i++)
		if (spill->files[i] != NULL)
			aggregate_partition(facts, spill->files[i], spill->records[i], spill->expected, spill->bits,
								work, budget, visit, arg);
	MemoryContextDelete(work);
	facts->spill = NULL;		/* its files are closed */
	pfree(facts->held);
	facts->held = NULL;
}
