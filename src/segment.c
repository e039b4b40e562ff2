/*
 * segment.c -- module entry point and settings.
 *
 * The library works whether or not it is listed in shared_preload_libraries:
 * the settings are defined when it is first loaded, and the "segment."
 * prefix is then reserved so that a misspelt setting is reported instead of
 * being silently kept as a placeholder.  Preloaded, it also sets up the
 * scheduler: its shared memory, its launcher and its DROP DATABASE hook.
 * Also the checks shared by the aggregates' support functions.
 */
#include "postgres.h"

#include <limits.h>
#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "common/compat.h"
#include "scheduler/scheduler.h"
#include "scheduler/shared.h"
#include "segment.h"
#include "refresh/cluster_sample.h"
#include "common/time_zone.h"

PG_MODULE_MAGIC;

int			segment_scan_memory_kb = 1024 * 1024;
int			segment_refresh_work_mem_kb = 256 * 1024;
bool		segment_fast_scan = true;
int			segment_parallel_scan = PARALLEL_SCAN_AUTO;
bool		segment_enabled = true;
int			segment_max_workers = 4;
char	   *segment_timezone = NULL;
int			segment_job_timeout_ms = 3600 * 1000;
int			segment_history_retention_s = 30 * 24 * 3600;
int			segment_naptime_s = 60;

static const struct config_enum_entry parallel_scan_options[] = {
	{"auto", PARALLEL_SCAN_AUTO, false},
	{"always", PARALLEL_SCAN_ALWAYS, false},
	{"off", PARALLEL_SCAN_OFF, false},
	{NULL, 0, false}
};

void		_PG_init(void);

static shmem_startup_hook_type previous_shmem_startup_hook = NULL;
#if HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type previous_shmem_request_hook = NULL;

static void
shmem_request(void)
{
	if (previous_shmem_request_hook != NULL)
		previous_shmem_request_hook();
	segment_shmem_request();
}
#endif

static void
shmem_startup(void)
{
	if (previous_shmem_startup_hook != NULL)
		previous_shmem_startup_hook();
	segment_shmem_init();
}

void
segment_worker_init(BackgroundWorker *worker, const char *function, const char *type)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "segment");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", type);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}

void
segment_worker_connected(void)
{
	/*
	 * The worker is a superuser, and the database's settings are its owner's
	 * to set: none of them may decide what the worker's names and operators
	 * mean, whose identity it has, or stop it from working.
	 */
	static const char *const settings[][2] = {
		{"search_path", "pg_catalog, pg_temp"},
		{"role", "none"},
		{"default_transaction_read_only", "off"},
		{"statement_timeout", "0"},
		{"lock_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
		{"default_tablespace", ""},
		{"temp_tablespaces", ""},
	};

	for (int i = 0; i < lengthof(settings); i++)
		SetConfigOption(settings[i][0], settings[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

static void
register_launcher(void)
{
	BackgroundWorker worker;

	segment_worker_init(&worker, "segment_launcher_main", "segment launcher");
	worker.bgw_restart_time = 10;
	RegisterBackgroundWorker(&worker);
}

/*
 * segment.timezone must name a zone: a bad one would stop every cron job of
 * every database (each scheduler pass fails), so it is refused when set --
 * by ALTER SYSTEM, or by a reload, which then keeps the previous value.
 */
static bool
check_segment_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;			/* the server's TimeZone */
	if (time_zone_known(*newval))
		return true;
	GUC_check_errdetail("Time zone \"%s\" is not recognized; cron schedules could not be read in it.", *newval);
	GUC_check_errhint("Use a name from pg_timezone_names, such as 'Europe/Paris', or '' for the server's TimeZone.");
	return false;
}

static void
define_scheduler_settings(void)
{
	DefineCustomBoolVariable("segment.enabled",
							 "Runs scheduled refreshes.",
							 "Off, no new run starts; running ones finish, then the schedulers stop. Schedules are kept.",
							 &segment_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("segment.max_workers",
							"Most scheduled refreshes running at once in the cluster.",
							"Due jobs beyond it wait their turn.",
							&segment_max_workers, 4, 0, MAX_BACKENDS, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("segment.timezone",
							   "Time zone of cron schedules.",
							   "Empty: the server's TimeZone setting.",
							   &segment_timezone, "", PGC_SIGHUP, 0,
							   check_segment_timezone, NULL, NULL);
	DefineCustomIntVariable("segment.job_timeout",
							"Longest a scheduled refresh may run, unless its schedule sets its own.",
							"0: no limit.",
							&segment_job_timeout_ms, 3600 * 1000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("segment.history_retention",
							"How long rows of segment.job_runs are kept.",
							"0: forever.",
							&segment_history_retention_s, 30 * 24 * 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("segment.naptime",
							"Longest the launcher and the schedulers sleep between looks.",
							"They are also woken by schedule changes and finished jobs.",
							&segment_naptime_s, 60, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

/*
 * The parallel workers a refresh may start for its scan and its index
 * builds.  Under auto, at most the cores less two: the session and its
 * workers leave a core to the queries beside the refresh (on 2 cores, point
 * reads of the segment table waited up to 281 ms during refreshes with two
 * workers, at most 29 ms with none, and the refresh took as long).
 */
int
segment_refresh_workers(void)
{
	long		cores = -1;

	if (segment_parallel_scan == PARALLEL_SCAN_OFF)
		return 0;
#ifdef _SC_NPROCESSORS_ONLN
	cores = sysconf(_SC_NPROCESSORS_ONLN);
#endif
	if (segment_parallel_scan == PARALLEL_SCAN_ALWAYS || cores < 1)
		return max_parallel_maintenance_workers;
	return (int) Min((long) max_parallel_maintenance_workers, Max(cores - 2, 0));
}

void
_PG_init(void)
{
	DefineCustomIntVariable("segment.scan_memory",
							"Most memory a refresh's fast scans (of the orders, and the attribution's) may use.",
							"Past it the scan of the orders spills to temporary partition files, and the attribution's scan gives way to SQL.",
							&segment_scan_memory_kb,
							1024 * 1024, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("segment.refresh_work_mem",
							"work_mem of a refresh's sorts and hashes.",
							"A refresh sets work_mem to this for its own duration.",
							&segment_refresh_work_mem_kb,
							256 * 1024, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("segment.cluster_sample",
							"Most customers a refresh fits its k-means model on.",
							"Past it, the model is fitted on a uniform sample of this many customers (the same every time: those whose keys hash lowest), and every customer is assigned to its nearest centroid.",
							&segment_cluster_sample,
							1000000, 100, INT_MAX / 2,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("segment.fast_scan",
							 "Lets refreshes compute customer facts with the C scan when the orders allow it.",
							 "Off, refreshes always use the SQL path (for comparison).",
							 &segment_fast_scan,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("segment.parallel_scan",
							 "When a refresh's fast scan of the orders shares the work with parallel workers.",
							 "auto: when the table is large and the customers (the statistics or the last refresh's count, whichever is more) have at least 6 rows each and fit segment.scan_memory, with at most the cores less two workers for the scan and the refresh's index builds; always: whenever the table is large enough and has no order ids; off: never, nor for the index builds. The workers are max_parallel_maintenance_workers at most.",
							 &segment_parallel_scan,
							 PARALLEL_SCAN_AUTO, parallel_scan_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	define_scheduler_settings();
	MarkGUCPrefixReserved("segment");

	segment_register_xact_callback();
	if (process_shared_preload_libraries_in_progress)
	{
#if HAVE_SHMEM_REQUEST_HOOK
		previous_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = shmem_request;
#else
		segment_shmem_request();
#endif
		previous_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = shmem_startup;
		segment_install_utility_hook();
		register_launcher();
	}
}

void
segment_require_aggregate(FunctionCallInfo fcinfo, const char *what, const char *detail,
						  const char *aggregate_call)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", what),
				 errdetail("%s", detail),
				 errhint("Call %s instead.", aggregate_call)));
}
