/*
 * compat.h -- the only place that knows about PostgreSQL version differences.
 *
 * Each shim is named after the newest API and defined only where a release
 * lacks it, so the rest of the code is written against PostgreSQL 17.
 * Supported: PostgreSQL 13 to 17.
 */
#ifndef SEGMENT_COMPAT_H
#define SEGMENT_COMPAT_H

#include "postgres.h"
#include "utils/guc.h"

/* MarkGUCPrefixReserved() replaced EmitWarningsOnPlaceholders() in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* palloc_object()/palloc_array() arrived in 16 (and in late 15 minors). */
#ifndef palloc_object
#define palloc_object(type) ((type *) palloc(sizeof(type)))
#endif
#ifndef palloc_array
#define palloc_array(type, count) ((type *) palloc(sizeof(type) * (count)))
#endif

/* raw_parser() took a parse mode in 14. */
#if PG_VERSION_NUM < 140000
#define raw_parser_default(str) raw_parser(str)
#else
#define raw_parser_default(str) raw_parser((str), RAW_PARSE_DEFAULT)
#endif

/*
 * shm_mq_send() gained force_flush in 15; without it, data below a quarter
 * of the ring can stay unannounced, and is lost if the sender then exits.
 */
#if PG_VERSION_NUM < 150000
#define shm_mq_send_flushed(mqh, nbytes, data) shm_mq_send((mqh), (nbytes), (data), false)
#else
#define shm_mq_send_flushed(mqh, nbytes, data) shm_mq_send((mqh), (nbytes), (data), false, true)
#endif

/* ProcessUtility_hook gained readOnlyTree in 14. */
#if PG_VERSION_NUM >= 140000
#define UTILITY_HOOK_PARAMS PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv, \
	DestReceiver *dest, QueryCompletion *qc
#define UTILITY_HOOK_ARGS pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define UTILITY_HOOK_PARAMS PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv, \
	DestReceiver *dest, QueryCompletion *qc
#define UTILITY_HOOK_ARGS pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/* pg_database_ownercheck() became object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#define database_ownercheck(database, role) object_ownercheck(DatabaseRelationId, (database), (role))
#else
#define database_ownercheck(database, role) pg_database_ownercheck((database), (role))
#endif

/* InitMaterializedSRF() arrived in 15. */
#if PG_VERSION_NUM < 150000
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"
static inline void
InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(old);
}
#endif

/* A hint to fetch memory about to be written into the cache. */
#if defined(__GNUC__) || defined(__clang__)
#define segment_prefetch(p) __builtin_prefetch((p), 1, 3)
#else
#define segment_prefetch(p) ((void) 0)
#endif

/* shmem_request_hook arrived in 15; before, space is requested in _PG_init. */
#define HAVE_SHMEM_REQUEST_HOOK (PG_VERSION_NUM >= 150000)

/* The storage of a relation, as log_newpages takes it (RelFileLocator from 16). */
#if PG_VERSION_NUM >= 160000
#define segment_rel_storage(rel) (&(rel)->rd_locator)
#else
#define segment_rel_storage(rel) (&(rel)->rd_node)
#endif

/* log_newpages: from 14; one record a page before. */
#if PG_VERSION_NUM < 140000
#define log_newpages(storage, fork, n, blknos, pages, page_std) \
	do { \
		for (int i_ = 0; i_ < (n); i_++) \
			log_newpage((storage), (fork), (blknos)[i_], (pages)[i_], (page_std)); \
	} while (0)
#endif

/* tuplesort_begin_*() took sort options instead of randomAccess in 15. */
#include "utils/tuplesort.h"
#if PG_VERSION_NUM < 150000
#define TUPLESORT_NONE false
#endif

/* tuplesort_getdatum() took a copy flag in 16. */
#if PG_VERSION_NUM < 160000
#define tuplesort_getdatum(state, forward, copy, val, isNull, abbrev) \
	tuplesort_getdatum(state, forward, val, isNull, abbrev)
#endif

#endif							/* SEGMENT_COMPAT_H */
