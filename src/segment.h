/*
 * segment.h -- the module's settings and shared checks, defined in segment.c.
 */
#ifndef SEGMENT_SEGMENT_H
#define SEGMENT_SEGMENT_H

#include "fmgr.h"

/* segment.scan_memory: the most the refresh's fast scan may use, in kB */
extern int	segment_scan_memory_kb;

/* segment.refresh_work_mem: work_mem during a refresh, in kB (read by refresh.sql) */
extern int	segment_refresh_work_mem_kb;

/* segment.fast_scan: off forces the SQL path */
extern bool segment_fast_scan;

/* segment.parallel_scan */
typedef enum SegmentParallelScan
{
	PARALLEL_SCAN_AUTO,			/* when the customers' statistics promise a gain */
	PARALLEL_SCAN_ALWAYS,		/* whenever the table allows it (big enough, no order ids) */
	PARALLEL_SCAN_OFF
} SegmentParallelScan;
extern int	segment_parallel_scan;
extern int	segment_refresh_workers(void);

/* scheduler settings (README "Scheduling") */
extern bool segment_enabled;
extern int	segment_max_workers;
extern char *segment_timezone;
extern int	segment_job_timeout_ms;
extern int	segment_history_retention_s;
extern int	segment_naptime_s;

/*
 * Transition and combine functions update their state in place, which is
 * only safe inside an aggregate: error out otherwise, telling the user what
 * to call instead.
 */
/*
 * A background worker of this library connected to a database, started
 * once recovery is over (never on a standby), not restarted; named after its
 * type.  Callers set what differs (name, restart, argument, notify pid).
 */
struct BackgroundWorker;
extern void segment_worker_init(struct BackgroundWorker *worker, const char *function, const char *type);

/* Called by every worker right after it connects to a database, as a superuser. */
extern void segment_worker_connected(void);

extern void segment_require_aggregate(FunctionCallInfo fcinfo, const char *what,
									  const char *detail, const char *aggregate_call);

#endif							/* SEGMENT_SEGMENT_H */
