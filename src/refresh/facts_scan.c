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
 * ids, amounts with more than 8 decimals; the refresh then takes the SQL
 * path, which handles any of them.  Past segment.scan_memory it spills to
 * partition files (facts_spill.c); only one customer whose distinct order
 * ids alone outgrow the budget stops it (ERRCODE_PROGRAM_LIMIT_EXCEEDED).
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "optimizer/paths.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/datum.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "common/compat.h"
#include "refresh/facts.h"
#include "security/relation_check.h"
#include "scheduler/shared.h"
#include "segment.h"

static void
not_supported(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("the fast scan does not support %s", why),
			 errdetail("The refresh computes the facts with SQL instead."),
			 errhint("Nothing to do: this message is caught by segment.refresh().")));
}

TimestampTz
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

AttrNumber
scan_column_number(Relation rel, const char *column, Oid *type)
{
	AttrNumber	attnum = relation_column(rel, column, InvalidOid, "segmentation's source");

	*type = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
	return attnum;
}

/*
 * Opens a relation to scan its heap, with the caller's SELECT privilege
 * checked.  scan_refusal() says why its heap is not what a query would see,
 * or NULL.
 */
Relation
scan_open(Oid relid)
{
	return relation_open_readable(relid, AccessShareLock, "source");
}

const char *
scan_refusal(Relation rel)
{
	if (rel->rd_rel->relkind != RELKIND_RELATION && rel->rd_rel->relkind != RELKIND_MATVIEW)
		return "views, partitioned or foreign tables";
	/* another access method may keep its rows elsewhere (columnar, Citus) */
	if (rel->rd_tableam != GetHeapamTableAmRoutine())
		return "tables of another access method than heap";
	if (is_distributed_table(RelationGetRelid(rel)))
		return "Citus tables, whose rows are on other nodes";
	/* a scan of the heap would see neither children nor row-level security */
	if (rel->rd_rel->relhassubclass || check_enable_rls(RelationGetRelid(rel), InvalidOid, true) != RLS_NONE ||
		!RelationIsPopulated(rel))
		return "tables with inheritance children, row-level security or no data yet";
	return NULL;
}

const char *
scan_order_columns(Relation rel, const char *customer_column, const char *time_column,
				   const char *amount_column, const char *order_id_column, Oid customer_type,
				   OrderColumns *cols)
{
	Oid			found_customer_type;

	memset(cols, 0, sizeof(OrderColumns));
	cols->customer_att = scan_column_number(rel, customer_column, &found_customer_type);
	cols->time_att = scan_column_number(rel, time_column, &cols->time_type);
	cols->amount_att = scan_column_number(rel, amount_column, &cols->amount_type);
	if (order_id_column != NULL)
		cols->order_att = scan_column_number(rel, order_id_column, &cols->order_type);
	cols->last_att = Max(Max(cols->customer_att, cols->time_att), Max(cols->amount_att, cols->order_att));
	cols->customer_type = customer_type;
	if (found_customer_type != customer_type)
		return "a customer column whose type changed since registration";
	if (cols->amount_type != NUMERICOID && cols->amount_type != INT2OID && cols->amount_type != INT4OID &&
		cols->amount_type != INT8OID)
		return "amounts that are not numeric or integers";
	if (cols->time_type != TIMESTAMPTZOID && cols->time_type != TIMESTAMPOID && cols->time_type != DATEOID)
		return "this type of time column";
	if (cols->order_att != InvalidAttrNumber && cols->order_type != INT2OID && cols->order_type != INT4OID &&
		cols->order_type != INT8OID)
		return "order ids that are not integers";
	return NULL;
}

#ifdef HAVE_INT128

static void send_facts(FactsTable *facts);

/*
 * Past the budget the scan spills (facts_spill.c), or, in a parallel worker,
 * sends the leader what it has and starts an empty table.
 */
static void
make_room(FactsTable *facts)
{
	if (facts->worker_queue != NULL)
		send_facts(facts);
	else
		facts_start_spill(facts);
}

static void
check_memory(FactsTable *facts)
{
	if (facts->spill == NULL &&
		MemoryContextMemAllocated(facts->cxt, true) > (Size) segment_scan_memory_kb * 1024)
		make_room(facts);
}

/* What a scan reads: the columns, their types and the time window. */
typedef struct ScanSpec
{
	Oid			relid;
	Oid			collation;
	OrderColumns cols;
	bool		has_lookback;
	TimestampTz as_of;
	TimestampTz lower;
	int			progress;		/* the refresh's progress slot, or -1 */
	bool		track_days;		/* purchase days: the rows in the table's order, by one process */
} ScanSpec;

/* One order row as the scan keeps it between decoding and adding it. */
typedef struct OrderRow
{
	Datum		key;			/* widened to int8 for small integer keys */
	uint32		hash;			/* of the key: int keys as decoded, others once looked up after a spill */
	TimestampTz t;
	ScaledMoney amount;
	int16		dscale;
	bool		has_amount;
	bool		special;		/* a NaN or infinite amount */
	bool		has_order_id;
	int64		order_id;
} OrderRow;

/*
 * Decodes one row; false when it is not added (skipped rows are counted).
 * The amount is decoded here, while the row's buffer is pinned.
 */
static inline bool
decode_row(FactsTable *facts, const ScanSpec *spec, TupleTableSlot *slot, OrderRow *r)
{
	Datum	   *values;
	bool	   *nulls;

	slot_getsomeattrs(slot, spec->cols.last_att);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	/* as the SQL path: no time or an infinite one, skipped; outside the
	 * window, ignored; then no customer, skipped */
	if (nulls[spec->cols.time_att - 1])
	{
		facts->rows_skipped++;
		return false;
	}
	r->t = to_timestamptz(values[spec->cols.time_att - 1], spec->cols.time_type);
	if (TIMESTAMP_NOT_FINITE(r->t))
	{
		facts->rows_skipped++;
		return false;
	}
	if (r->t > spec->as_of)
	{
		/* when as_of moves past it, an incremental refresh must not build on this one */
		facts->earliest_after = Min(facts->earliest_after, r->t);
		return false;
	}
	if (spec->has_lookback && r->t <= spec->lower)
		return false;
	if (nulls[spec->cols.customer_att - 1])
	{
		facts->rows_skipped++;
		return false;
	}
	r->key = values[spec->cols.customer_att - 1];
	if (spec->cols.customer_type == INT2OID)
		r->key = Int64GetDatum((int64) DatumGetInt16(r->key));
	else if (spec->cols.customer_type == INT4OID)
		r->key = Int64GetDatum((int64) DatumGetInt32(r->key));
	r->hash = facts->ops.int_key ? facts_mix64((uint64) DatumGetInt64(r->key)) : 0;
	r->amount = 0;
	r->dscale = 0;
	r->special = false;
	r->has_amount = !nulls[spec->cols.amount_att - 1];
	if (r->has_amount)
	{
		Datum		a = values[spec->cols.amount_att - 1];

		switch (spec->cols.amount_type)
		{
			case NUMERICOID:
				if (!money_from_numeric(a, &r->amount, &r->dscale, &r->special))
					not_supported("amounts with more than 8 decimals or of 10^22 or more");
				break;
			case INT2OID:
				r->amount = money_of_integer(DatumGetInt16(a));
				break;
			case INT4OID:
				r->amount = money_of_integer(DatumGetInt32(a));
				break;
			default:
				r->amount = money_of_integer(DatumGetInt64(a));
				break;
		}
	}
	r->has_order_id = spec->cols.order_att != InvalidAttrNumber && !nulls[spec->cols.order_att - 1];
	if (r->has_order_id)
	{
		Datum		id = values[spec->cols.order_att - 1];

		r->order_id = spec->cols.order_type == INT8OID ? DatumGetInt64(id) :
			spec->cols.order_type == INT4OID ? DatumGetInt32(id) : DatumGetInt16(id);
	}
	return true;
}

/* A row's amount to its day (purchase_days.h): 0 without one; past int64 the summary breaks. */
static inline void
add_row_day(FactsTable *facts, PurchaseDays *days, const OrderRow *r)
{
	int64		net = 0;

	if (r->has_amount && !r->special)
	{
		if (r->amount > PG_INT64_MAX || r->amount < PG_INT64_MIN)
			days->broken = true;
		else
			net = (int64) r->amount;
	}
	purchase_days_add(days, day_of(&facts->clock, r->t), net);
	facts->days_broken |= days->broken;
}

/* Adds a decoded row to its customer's entry. */
static inline void
add_row(FactsTable *facts, const OrderRow *r, CustomerFacts *entry)
{
	orders_hash *order_set = facts->order_set;

	entry->valid_rows++;
	facts->orders_scanned++;
	if (!r->has_amount)
		return;
	entry->has_amount = true;
	if (r->special)
	{
		entry->special = true;
		return;
	}
	if (!money_add(&entry->sum, r->amount))
		not_supported("sums beyond 10^30 per customer");
	entry->dscale = Max(entry->dscale, r->dscale);
	if (r->amount <= 0)
		return;
	if (!entry->has_positive || r->t < entry->first_at)
		entry->first_at = r->t;
	if (!entry->has_positive || r->t > entry->last_at)
		entry->last_at = r->t;
	entry->has_positive = true;
	if (order_set == NULL)
		entry->frequency++;
	else if (r->has_order_id)
	{
		OrderKey	okey;
		bool		found;

		okey.customer = entry->id;
		okey.order_id = r->order_id;
		orders_insert(order_set, okey, &found);
		if (!found)
			entry->frequency++;
	}
}

/*
 * Rows are decoded in batches, and the hash buckets of a batch's customers
 * fetched into the cache before any is used: in a table in time order each
 * row's customer is another than the last one's, and with a million
 * customers nearly every lookup would otherwise wait for memory.
 */
#define ROW_BATCH 32

/* A decoded row of a customer the full table does not hold, to its partition. */
static void
spill_row(FactsTable *facts, const ScanSpec *spec, const OrderRow *r)
{
	PartialFacts p;
	Datum		key;

	memset(&p, 0, sizeof(p));
	p.valid_rows = 1;
	p.has_amount = r->has_amount;
	p.special = r->has_amount && r->special;
	if (r->has_amount && !r->special)
	{
		p.sum = r->amount;
		p.dscale = r->dscale;
		if (r->amount > 0)
		{
			p.has_positive = true;
			p.first_at = p.last_at = r->t;
			if (spec->cols.order_att == InvalidAttrNumber)
				p.frequency = 1;
			else if (r->has_order_id)
			{
				p.has_order_id = true;
				p.order_id = r->order_id;
			}
		}
	}
	if (facts->track_days)
		add_row_day(facts, &p.days, r);
	/* the file holds the key itself, not a pointer into the orders' TOAST table */
	key = facts->typlen == -1 ? PointerGetDatum(PG_DETOAST_DATUM_PACKED(r->key)) : r->key;
	p.hash = r->hash;
	p.key_size = facts->typbyval ? sizeof(Datum) : datumGetSize(key, false, facts->typlen);
	facts->orders_scanned++;
	facts_spill(facts, &p, key);
}

/* Stops adding customers when the table could not double within the budget. */
static inline void
check_growth(FactsTable *facts, int coming)
{
	facts_hash *tb = facts->hash;

	if (facts->spill == NULL && facts_near_growth(tb, coming) && !facts_may_grow(facts->cxt, tb, (Size) segment_scan_memory_kb * 1024))
		make_room(facts);
}

static inline void
add_batch(FactsTable *facts, const ScanSpec *spec, OrderRow *rows, int n)
{
	facts_hash *tb;
	CustomerFacts *e;

	check_growth(facts, n);
	tb = facts->hash;
	if (facts->ops.int_key && facts->spill == NULL)
	{
		int64		ids[ROW_BATCH];

		for (int i = 0; i < n; i++)
			segment_prefetch(&tb->data[rows[i].hash & tb->sizemask]);
		for (int i = 0; i < n; i++)
		{
			e = facts_find_or_add_hash(facts, rows[i].key, rows[i].hash);
			add_row(facts, &rows[i], e);
			ids[i] = e->id;
		}
		/* the batch's purchase days, fetched ahead as the buckets were */
		if (facts->track_days)
		{
			for (int i = 0; i < n; i++)
				segment_prefetch(&facts->days[ids[i]]);
			for (int i = 0; i < n; i++)
				add_row_day(facts, &facts->days[ids[i]], &rows[i]);
		}
	}
	else if (facts->ops.int_key)
	{
		bool		held[ROW_BATCH];

		/* the filter's words, then the buckets of the customers that may be held */
		for (int i = 0; i < n; i++)
			segment_prefetch(&facts->held[(rows[i].hash & facts->held_mask) >> 6]);
		for (int i = 0; i < n; i++)
			if ((held[i] = facts_may_hold(facts, rows[i].hash)))
				segment_prefetch(&tb->data[rows[i].hash & tb->sizemask]);
		for (int i = 0; i < n; i++)
		{
			if (held[i] && (e = facts_lookup_hash(tb, rows[i].key, rows[i].hash)) != NULL)
			{
				add_row(facts, &rows[i], e);
				if (facts->track_days)
					add_row_day(facts, facts_days(facts, e), &rows[i]);
			}
			else
				spill_row(facts, spec, &rows[i]);
		}
	}
	else
	{
		for (int i = 0; i < n; i++)
		{
			if (facts->spill == NULL)
				e = facts_find_or_add(facts, rows[i].key);
			else if ((e = facts_lookup_held(facts, rows[i].key,
											(rows[i].hash = facts_key_hash(&facts->ops, rows[i].key)))) == NULL)
			{
				spill_row(facts, spec, &rows[i]);
				continue;
			}
			add_row(facts, &rows[i], e);
			if (facts->track_days)
				add_row_day(facts, facts_days(facts, e), &rows[i]);
		}
	}
}

/* Every row a (serial or parallel) scan returns. */
static void
scan_rows(FactsTable *facts, const ScanSpec *spec, Relation rel, TableScanDesc scan)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	int64		rows = 0;
	OrderRow	batch[ROW_BATCH];
	int			n = 0;
	/* a key not passed by value points into the row's buffer: one at a time */
	int			batch_size = facts->ops.int_key ? ROW_BATCH : 1;

	if (spec->cols.order_att != InvalidAttrNumber)
		facts->order_set = orders_create(facts->cxt, 1024, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		if ((++rows & 0xFFFF) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			check_memory(facts);
			if (facts->poll != NULL)
				facts->poll(facts, facts->poll_arg);
			if (spec->progress >= 0)
				pg_atomic_fetch_add_u64(&segment_shared->progress[spec->progress].orders_done, 0x10000);
		}
		if (decode_row(facts, spec, slot, &batch[n]) && ++n == batch_size)
		{
			add_batch(facts, spec, batch, n);
			n = 0;
		}
	}
	add_batch(facts, spec, batch, n);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	check_memory(facts);
	if (facts->order_set != NULL)
		orders_destroy(facts->order_set);
	facts->order_set = NULL;
}

/* Parallel scan ------------------------------------------------------------
 *
 * As a parallel CREATE INDEX does: the leader and its workers share a
 * parallel heap scan; each worker builds the facts of its share of the
 * blocks and sends them to the leader through a shared memory queue, and
 * the leader merges them into its own table.  Not with order ids (an order's
 * lines may fall to different workers, and a distinct count does not add
 * up), temporary tables or small tables.
 */
#define SCAN_KEY_SHARED		UINT64CONST(0x5E6A000000000001)
#define SCAN_KEY_QUEUES		UINT64CONST(0x5E6A000000000002)
#define SCAN_QUEUE_SIZE		((Size) 1024 * 1024)
#define SCAN_BATCH_BYTES	(64 * 1024)

typedef struct ScanShared
{
	ScanSpec	spec;
	slock_t		mutex;
	int64		orders_scanned;
	int64		rows_skipped;
	TimestampTz earliest_after;
	/* the ParallelTableScanDesc follows, buffer-aligned */
} ScanShared;

#define SCAN_PARALLEL_DESC(shared) \
	((ParallelTableScanDesc) ((char *) (shared) + BUFFERALIGN(sizeof(ScanShared))))


/*
 * Rows per customer below which the scan runs alone: each worker's table
 * then holds nearly every customer, and merging them into the leader's
 * costs more than sharing the scan saves (measured on time-ordered orders:
 * at 10 per customer two workers took the scan from 4.2 s to 2.9 s; at 4
 * per customer from 9.0 s to 12.7 s).
 */
#define PARALLEL_MIN_ROWS_PER_CUSTOMER 6

/* The distinct customers the column's statistics give (0: never analyzed). */
static double
expected_customers(Relation rel, AttrNumber attnum)
{
	HeapTuple	tuple = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(rel)),
										Int16GetDatum(attnum), BoolGetDatum(false));
	double		distinct = 0;

	if (HeapTupleIsValid(tuple))
	{
		float4		stadistinct = ((Form_pg_statistic) GETSTRUCT(tuple))->stadistinct;

		distinct = stadistinct >= 0 ? stadistinct : -stadistinct * Max(rel->rd_rel->reltuples, 0);
		ReleaseSysCache(tuple);
	}
	return distinct;
}

/*
 * Not when the customers may not fit the budget: a worker whose table
 * fills sends it to the leader and starts again, so that the same customers
 * cross the queues several times, and the leader spills anyway (measured at
 * 8M customers on 2.6 rows each, which the statistics took for 1.1M: 15.9 s
 * with two workers, 10.7 s alone).  segment.parallel_scan may force or
 * forbid the workers.
 */
static int
scan_workers(Relation rel, const ScanSpec *spec, double customers)
{
	BlockNumber blocks;
	BlockNumber threshold = (BlockNumber) Max(min_parallel_table_scan_size, 1);
	int			workers = 0;
	int			max_workers = segment_refresh_workers();

	if (spec->cols.order_att != InvalidAttrNumber || spec->track_days || RelationUsesLocalBuffers(rel) || IsInParallelMode() ||
		!IsUnderPostmaster || max_workers <= 0)
		return 0;
	if (segment_parallel_scan == PARALLEL_SCAN_AUTO && customers > 0 && rel->rd_rel->reltuples > 0 &&
		rel->rd_rel->reltuples < customers * PARALLEL_MIN_ROWS_PER_CUSTOMER)
		return 0;
	if (segment_parallel_scan == PARALLEL_SCAN_AUTO &&
		customers * 2.5 * sizeof(CustomerFacts) > (double) segment_scan_memory_kb * 1024)
		return 0;
	blocks = RelationGetNumberOfBlocks(rel);
	/* as the planner sizes a parallel scan: one more worker each time the table triples */
	while (blocks >= threshold && workers < max_workers)
	{
		workers++;
		if (threshold > MaxBlockNumber / 3)
			break;
		threshold *= 3;
	}
	return workers;
}

static void
send_batch(shm_mq_handle *mqh, StringInfo batch)
{
	if (batch->len == 0)
		return;
	if (shm_mq_send_flushed(mqh, batch->len, batch->data) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("segment: the leader of a parallel scan went away")));
	resetStringInfo(batch);
}

/*
 * A worker's facts to the leader, in batches; then its table starts again
 * empty (the leader adds up a customer's facts from several sends).
 */
static void
send_facts(FactsTable *facts)
{
	uint64		position = 0;
	CustomerFacts *e;
	StringInfoData batch;

	initStringInfo(&batch);
	while ((e = facts_scrambled_next(facts->hash, &position)) != NULL)
	{
		PartialFacts p;

		facts_partial_of(facts, e, &p);
		appendBinaryStringInfo(&batch, (char *) &p, facts_partial_size(facts));
		if (facts->typbyval)
			appendBinaryStringInfo(&batch, (char *) &e->key, sizeof(Datum));
		else
			appendBinaryStringInfo(&batch, DatumGetPointer(e->key), p.key_size);
		if (batch.len >= SCAN_BATCH_BYTES)
			send_batch(facts->worker_queue, &batch);
	}
	send_batch(facts->worker_queue, &batch);
	pfree(batch.data);
	/* the table, and the keys it copied */
	MemoryContextReset(facts->cxt);
	facts->hash = facts_create(facts->cxt, 1024, &facts->ops);
}

/* The entry point of a parallel scan's workers (see CreateParallelContext). */
PGDLLEXPORT void facts_scan_worker(dsm_segment *seg, shm_toc *toc);

void
facts_scan_worker(dsm_segment *seg, shm_toc *toc)
{
	ScanShared *shared = shm_toc_lookup(toc, SCAN_KEY_SHARED, false);
	char	   *queues = shm_toc_lookup(toc, SCAN_KEY_QUEUES, false);
	shm_mq	   *mq = (shm_mq *) (queues + ParallelWorkerNumber * SCAN_QUEUE_SIZE);
	shm_mq_handle *mqh;
	Relation	rel;
	FactsTable	facts;

	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	rel = relation_open(shared->spec.relid, AccessShareLock);
	facts_init(&facts, shared->spec.cols.customer_type, shared->spec.collation);
	facts.worker_queue = mqh;
	scan_rows(&facts, &shared->spec, rel, table_beginscan_parallel(rel, SCAN_PARALLEL_DESC(shared)));
	relation_close(rel, AccessShareLock);

	send_facts(&facts);
	SpinLockAcquire(&shared->mutex);
	shared->orders_scanned += facts.orders_scanned;
	shared->rows_skipped += facts.rows_skipped;
	shared->earliest_after = Min(shared->earliest_after, facts.earliest_after);
	SpinLockRelease(&shared->mutex);
}

/* Merges a batch of a worker's partial facts into the leader's table. */
static void
merge_batch(FactsTable *facts, const char *data, Size size, StringInfo key_buffer)
{
	Size		pos = 0;

	while (pos < size)
	{
		PartialFacts p;
		Datum		key;
		CustomerFacts *e;

		memcpy(&p, data + pos, facts_partial_size(facts));
		pos += facts_partial_size(facts);
		if (facts->typbyval)
			memcpy(&key, data + pos, sizeof(Datum));
		else
		{
			/* an aligned copy, for the type's hash and equality functions */
			resetStringInfo(key_buffer);
			appendBinaryStringInfo(key_buffer, data + pos, p.key_size);
			key = PointerGetDatum(key_buffer->data);
		}
		pos += p.key_size;
		if (facts->spill == NULL)
		{
			check_growth(facts, 1);
			if (facts->spill == NULL)
				e = facts_find_or_add_hash(facts, key, p.hash);
		}
		if (facts->spill != NULL && (e = facts_lookup_held(facts, key, p.hash)) == NULL)
		{
			facts_spill(facts, &p, key);
			continue;
		}
		if (!facts_merge(facts, e, &p, NULL))
			not_supported("sums beyond 10^30 per customer");
	}
}

/* The workers' queues, as the leader reads them. */
typedef struct WorkerQueues
{
	shm_mq_handle **handles;
	int			n;
	StringInfoData key_buffer;
} WorkerQueues;

/*
 * Merges what the workers have sent; with wait, until each is done.  Read
 * while the leader scans too, so that a worker whose table filled and which
 * sends it is not kept waiting on a full queue until the leader's share ends.
 */
static void
take_from_workers(FactsTable *facts, WorkerQueues *queues, bool wait)
{
	for (int i = 0; i < queues->n; i++)
	{
		Size		size;
		void	   *data;

		/* would block, or detached: the worker is done, or failed (reported later) */
		while (shm_mq_receive(queues->handles[i], &size, &data, !wait) == SHM_MQ_SUCCESS)
		{
			merge_batch(facts, data, size, &queues->key_buffer);
			CHECK_FOR_INTERRUPTS();
		}
		check_memory(facts);
	}
}

static void
poll_workers(FactsTable *facts, void *arg)
{
	take_from_workers(facts, (WorkerQueues *) arg, false);
}

/* False when no dynamic shared memory could be had: scan serially then. */
static bool
parallel_scan(FactsTable *facts, const ScanSpec *spec, Relation rel, int nworkers)
{
	ParallelContext *pcxt;
	Snapshot	snapshot = GetActiveSnapshot();
	Size		shared_size = BUFFERALIGN(sizeof(ScanShared)) + table_parallelscan_estimate(rel, snapshot);
	ScanShared *shared;
	char	   *queues;
	shm_mq_handle **handles;
	WorkerQueues from_workers;

	EnterParallelMode();
	pcxt = CreateParallelContext("segment", "facts_scan_worker", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(SCAN_QUEUE_SIZE, nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return false;
	}
	shared = shm_toc_allocate(pcxt->toc, shared_size);
	shared->spec = *spec;
	SpinLockInit(&shared->mutex);
	shared->orders_scanned = shared->rows_skipped = 0;
	shared->earliest_after = DT_NOEND;
	table_parallelscan_initialize(rel, SCAN_PARALLEL_DESC(shared), snapshot);
	shm_toc_insert(pcxt->toc, SCAN_KEY_SHARED, shared);
	queues = shm_toc_allocate(pcxt->toc, mul_size(SCAN_QUEUE_SIZE, nworkers));
	for (int i = 0; i < nworkers; i++)
		shm_mq_set_receiver(shm_mq_create(queues + i * SCAN_QUEUE_SIZE, SCAN_QUEUE_SIZE), MyProc);
	shm_toc_insert(pcxt->toc, SCAN_KEY_QUEUES, queues);

	LaunchParallelWorkers(pcxt);
	facts->scan_workers = pcxt->nworkers_launched;
	handles = palloc0(sizeof(shm_mq_handle *) * nworkers);
	for (int i = 0; i < pcxt->nworkers_launched; i++)
	{
		handles[i] = shm_mq_attach((shm_mq *) (queues + i * SCAN_QUEUE_SIZE), pcxt->seg, NULL);
		shm_mq_set_handle(handles[i], pcxt->worker[i].bgwhandle);
	}

	/* the leader scans its share too (as parallel_leader_participation
	 * says, and always when no worker started), then takes in the workers' facts */
	from_workers.handles = handles;
	from_workers.n = pcxt->nworkers_launched;
	initStringInfo(&from_workers.key_buffer);
	if (parallel_leader_participation || pcxt->nworkers_launched == 0)
	{
		facts->poll = poll_workers;
		facts->poll_arg = &from_workers;
		scan_rows(facts, spec, rel, table_beginscan_parallel(rel, SCAN_PARALLEL_DESC(shared)));
		facts->poll = NULL;
	}
	take_from_workers(facts, &from_workers, true);
	/* rethrows a worker's error, with its SQLSTATE (a fall-back to SQL included) */
	WaitForParallelWorkersToFinish(pcxt);
	facts->orders_scanned += shared->orders_scanned;
	facts->rows_skipped += shared->rows_skipped;
	facts->earliest_after = Min(facts->earliest_after, shared->earliest_after);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return true;
}

void
facts_scan_orders(FactsTable *facts, Oid relid, const char *customer_column,
				  const char *time_column, const char *amount_column,
				  const char *order_id_column, TimestampTz as_of,
				  bool has_lookback, TimestampTz lower)
{
	Relation	rel;
	ScanSpec	spec;
	const char *why;
	int			nworkers;

	if (!segment_fast_scan)
		not_supported("anything while segment.fast_scan is off");

	rel = scan_open(relid);
	if (scan_refusal(rel) != NULL)
		not_supported(scan_refusal(rel));
	memset(&spec, 0, sizeof(spec));
	spec.relid = relid;
	why = scan_order_columns(rel, customer_column, time_column, amount_column, order_id_column,
							 facts->customer_type, &spec.cols);
	if (why != NULL)
		not_supported(why);
	spec.collation = facts->ops.collation;
	spec.as_of = as_of;
	spec.has_lookback = has_lookback;
	spec.lower = lower;
	spec.track_days = facts->track_days;

	/* progress: the rows the planner expects, and a count as the scan goes */
	spec.progress = -1;
	if (progress_slot() != NULL)
	{
		progress_slot()->orders_estimated = rel->rd_rel->reltuples > 0 ? (int64) rel->rd_rel->reltuples : -1;
		spec.progress = (int) (progress_slot() - segment_shared->progress);
	}
	facts->expected_customers = expected_customers(rel, spec.cols.customer_att);
	/* ANALYZE's estimate from a sample undercounts skewed customers: not below the last refresh's count */
	nworkers = scan_workers(rel, &spec, Max(facts->expected_customers, facts->previous_customers));
	if (nworkers == 0 || !parallel_scan(facts, &spec, rel, nworkers))
		scan_rows(facts, &spec, rel, table_beginscan(rel, GetActiveSnapshot(), 0, NULL));
	/* the partitions' records may carry order ids still to count */
	facts->count_orders = spec.cols.order_att != InvalidAttrNumber;
	/* held until the refresh ends: one state of the sources throughout */
	relation_close(rel, NoLock);
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
