/*
 * shared.h -- the scheduler's shared memory: who runs where, how many job
 * workers run, wake-up requests, and the progress of running refreshes.
 * It exists only when segment is in shared_preload_libraries.
 */
#ifndef SEGMENT_SHARED_H
#define SEGMENT_SHARED_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define PROGRESS_SLOTS 64
#define SCHEDULER_SLOTS 4096		/* databases the launcher can tell apart */
#define SEGMENTATION_NAME_BYTES 64	/* names are at most 48 bytes */
#define RUN_LOG_WRITERS 8			/* run-log writers at once, one per role */
#define SCHEDULER_ERROR_BYTES 256	/* longer messages are cut */

/* One database's scheduler. */
typedef struct SchedulerSlot
{
	Oid			database;		/* InvalidOid: free */
	pid_t		pid;			/* 0: none; -1: being started */
	TimestampTz start_deadline; /* started again if not up by then */
	Latch	   *latch;
	bool		no_extension;	/* it found no segment extension and left */
	TimestampTz held_until;		/* not restarted before (DROP DATABASE and the like) */
	int			running_jobs;	/* its job workers now running */
	TimestampTz failing_since;	/* 0: its last pass went well */
	char		error[SCHEDULER_ERROR_BYTES];	/* why its passes fail, while they do */
} SchedulerSlot;

/* A refresh in progress, for segment.refresh_progress. */
typedef struct ProgressSlot
{
	pid_t		pid;			/* 0: free */
	Oid			database;
	Oid			role;			/* the owner, whose refresh it is */
	char		segmentation[SEGMENTATION_NAME_BYTES];
	char		phase[16];
	TimestampTz started_at;
	pg_atomic_uint64 orders_done;
	int64		orders_estimated;
	bool		manual;			/* segment.refresh() in a session, not a job */
	bool		finished;		/* done, its transaction not yet committed (phase "committing") */
	bool		ended;			/* its session ended mid-refresh: the scheduler logs it, then frees the slot */
	TimestampTz ended_at;
} ProgressSlot;

typedef struct SegmentShared
{
	LWLock	   *lock;			/* guards everything below but the counters */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		rescan;			/* the launcher should look at every database again */
	uint64		wake_generation;	/* counts CREATE EXTENSION wake-ups */
	Oid			run_log_roles[RUN_LOG_WRITERS]; /* callers whose failed run a worker records now */
	int			nslots;
	ProgressSlot progress[PROGRESS_SLOTS];
	SchedulerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} SegmentShared;

extern SegmentShared *segment_shared;	/* NULL unless preloaded */

extern void segment_shmem_request(void);
extern void segment_shmem_init(void);
extern void segment_register_xact_callback(void);
extern void segment_install_utility_hook(void);

/* The slot of a database (added if absent and add), or NULL. Caller holds the lock. */
extern SchedulerSlot *segment_slot(Oid database, bool add);

/* Sum of running_jobs over the schedulers. Caller holds the lock. */
extern int	segment_running_jobs(void);

/* Wakes the launcher, asking it to look at every database again and to
 * start a scheduler in this one; at commit when at_commit. */
extern void segment_wake_launcher(bool at_commit);

/* Wakes this database's scheduler at commit (schedule changes). */
extern void segment_wake_scheduler_at_commit(void);

/* Progress of this backend's refresh (no-ops without shared memory). */
/* role: the segmentation's owner, whose members see it */
extern void progress_begin(const char *segmentation, Oid role);
extern void progress_phase(const char *phase);
extern ProgressSlot *progress_slot(void);
extern void progress_end(void);

/*
 * This backend's refresh is a manual one: should its session end before
 * progress_end() (terminated, connection lost), the slot is kept for the
 * scheduler, which records the run as failed.
 */
extern void progress_mark_manual(void);

/*
 * This backend's refresh is done; the slot stays, in phase "committing",
 * until its transaction ends (an explicit transaction may stay open long
 * after): should the session end first, the scheduler logs the refresh as
 * rolled back.
 */
extern void progress_mark_finished(void);

/*
 * A manual refresh of this database whose session ended mid-run, copied
 * into *ended and its slot freed; false when there is none.
 */
extern bool progress_take_ended(ProgressSlot *ended);

/*
 * A run-log writer for this role, if it has none running and one of the
 * RUN_LOG_WRITERS is free (always true without shared memory); given back
 * with run_log_writer_release.  So that one role's failing refreshes cannot
 * take every background-worker slot.
 */
extern bool run_log_writer_claim(Oid role);
extern void run_log_writer_release(Oid role);

#endif							/* SEGMENT_SHARED_H */
