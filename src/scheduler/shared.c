/*
 * shared.c -- the scheduler's shared memory (see shared.h), wake-ups, and
 * the progress slots of running refreshes.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "scheduler/shared.h"

SegmentShared *segment_shared = NULL;

static bool wake_at_commit = false;
static bool wake_launcher_at_commit = false;
static int	my_progress = -1;	/* this backend's progress slot */

static Size
shared_size(void)
{
	return add_size(offsetof(SegmentShared, slots),
					mul_size(sizeof(SchedulerSlot), SCHEDULER_SLOTS));
}

void
segment_shmem_request(void)
{
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("segment scheduler", 1);
}

/* shmem_startup_hook: create or attach. */
void
segment_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	segment_shared = ShmemInitStruct("segment scheduler", shared_size(), &found);
	if (!found)
	{
		memset(segment_shared, 0, shared_size());
		segment_shared->lock = &(GetNamedLWLockTranche("segment scheduler"))->lock;
		segment_shared->nslots = SCHEDULER_SLOTS;
		for (int i = 0; i < PROGRESS_SLOTS; i++)
			pg_atomic_init_u64(&segment_shared->progress[i].orders_done, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

SchedulerSlot *
segment_slot(Oid database, bool add)
{
	SchedulerSlot *free_slot = NULL;

	for (int i = 0; i < segment_shared->nslots; i++)
	{
		SchedulerSlot *slot = &segment_shared->slots[i];

		if (slot->database == database)
			return slot;
		if (slot->database == InvalidOid && free_slot == NULL)
			free_slot = slot;
	}
	if (add && free_slot != NULL)
	{
		memset(free_slot, 0, sizeof(SchedulerSlot));
		free_slot->database = database;
	}
	return add ? free_slot : NULL;
}

int
segment_running_jobs(void)
{
	int			n = 0;

	for (int i = 0; i < segment_shared->nslots; i++)
		n += segment_shared->slots[i].running_jobs;
	return n;
}

void
segment_wake_launcher(bool at_commit)
{
	Latch	   *latch = NULL;

	if (segment_shared == NULL)
		return;
	if (at_commit)
	{
		wake_launcher_at_commit = true;
		return;
	}
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	segment_shared->rescan = true;
	segment_shared->wake_generation++;
	/* this database may have the extension now: it gets another look */
	{
		SchedulerSlot *slot = segment_slot(MyDatabaseId, false);

		if (slot != NULL)
			slot->no_extension = false;
	}
	latch = segment_shared->launcher_latch;
	LWLockRelease(segment_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

static void
wake_scheduler_now(void)
{
	Latch	   *latch = NULL;
	SchedulerSlot *slot;

	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	slot = segment_slot(MyDatabaseId, false);
	if (slot != NULL && slot->pid != 0)
		latch = slot->latch;
	LWLockRelease(segment_shared->lock);
	if (latch != NULL)
		SetLatch(latch);
	else
		segment_wake_launcher(false);	/* no scheduler here yet: the launcher starts one */
}

/*
 * The session of a manual refresh ends mid-run (its transaction aborts in
 * proc_exit): no error handler of the refresh ran, so the slot stays, marked
 * ended, for this database's scheduler to log the run as failed.
 */
static void
progress_keep_for_scheduler(void)
{
	ProgressSlot *p = &segment_shared->progress[my_progress];

	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	p->ended = true;
	p->ended_at = GetCurrentTimestamp();
	LWLockRelease(segment_shared->lock);
	my_progress = -1;
	wake_scheduler_now();
}

/* Transaction end: deliver wake-ups, free the progress slot. */
static void
segment_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (wake_at_commit && segment_shared != NULL)
			wake_scheduler_now();
		if (wake_launcher_at_commit)
			segment_wake_launcher(false);
		wake_at_commit = wake_launcher_at_commit = false;
		progress_end();
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		wake_at_commit = wake_launcher_at_commit = false;
		if (proc_exit_inprogress && progress_slot() != NULL && progress_slot()->manual)
			progress_keep_for_scheduler();
		else
			progress_end();
	}
}

void
segment_register_xact_callback(void)
{
	RegisterXactCallback(segment_xact_callback, NULL);
}

void
segment_wake_scheduler_at_commit(void)
{
	wake_at_commit = true;
}

/* Progress ------------------------------------------------------------------ */

void
progress_begin(const char *segmentation, Oid role)
{
	if (segment_shared == NULL)
		return;
	if (my_progress < 0)
	{
		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < PROGRESS_SLOTS && my_progress < 0; i++)
			if (segment_shared->progress[i].pid == 0)
				my_progress = i;
		/* none free: one that ended and that no scheduler logged yet (it goes unlogged) */
		for (int i = 0; i < PROGRESS_SLOTS && my_progress < 0; i++)
			if (segment_shared->progress[i].ended)
				my_progress = i;
		if (my_progress >= 0)
		{
			segment_shared->progress[my_progress].pid = MyProcPid;
			segment_shared->progress[my_progress].manual = false;
			segment_shared->progress[my_progress].ended = false;
		}
		LWLockRelease(segment_shared->lock);
		if (my_progress < 0)
			return;				/* all taken: this refresh is not shown */
	}
	{
		ProgressSlot *p = &segment_shared->progress[my_progress];

		LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
		p->database = MyDatabaseId;
		p->role = role;
		strlcpy(p->segmentation, segmentation, sizeof(p->segmentation));
		strlcpy(p->phase, "starting", sizeof(p->phase));
		p->started_at = GetCurrentTimestamp();
		p->orders_estimated = 0;
		p->finished = false;
		LWLockRelease(segment_shared->lock);
		pg_atomic_write_u64(&p->orders_done, 0);
	}
}

void
progress_phase(const char *phase)
{
	if (segment_shared == NULL || my_progress < 0)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	strlcpy(segment_shared->progress[my_progress].phase, phase, sizeof(segment_shared->progress[my_progress].phase));
	LWLockRelease(segment_shared->lock);
}

ProgressSlot *
progress_slot(void)
{
	if (segment_shared == NULL || my_progress < 0)
		return NULL;
	return &segment_shared->progress[my_progress];
}

void
progress_mark_manual(void)
{
	if (segment_shared == NULL || my_progress < 0)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	segment_shared->progress[my_progress].manual = true;
	LWLockRelease(segment_shared->lock);
}

void
progress_mark_finished(void)
{
	if (segment_shared == NULL || my_progress < 0)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	strlcpy(segment_shared->progress[my_progress].phase, "committing", sizeof(segment_shared->progress[my_progress].phase));
	segment_shared->progress[my_progress].finished = true;
	LWLockRelease(segment_shared->lock);
}

bool
progress_take_ended(ProgressSlot *ended)
{
	bool		found = false;

	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < PROGRESS_SLOTS && !found; i++)
	{
		ProgressSlot *p = &segment_shared->progress[i];

		if (p->pid != 0 && p->ended && p->database == MyDatabaseId)
		{
			memcpy(ended, p, sizeof(ProgressSlot));
			p->ended = false;
			p->pid = 0;
			found = true;
		}
	}
	LWLockRelease(segment_shared->lock);
	return found;
}

bool
run_log_writer_claim(Oid role)
{
	int			free_slot = -1;

	if (segment_shared == NULL)
		return true;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < RUN_LOG_WRITERS; i++)
	{
		if (segment_shared->run_log_roles[i] == role)
		{
			free_slot = -1;
			break;
		}
		if (segment_shared->run_log_roles[i] == InvalidOid && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
		segment_shared->run_log_roles[free_slot] = role;
	LWLockRelease(segment_shared->lock);
	return free_slot >= 0;
}

void
run_log_writer_release(Oid role)
{
	if (segment_shared == NULL)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < RUN_LOG_WRITERS; i++)
		if (segment_shared->run_log_roles[i] == role)
		{
			segment_shared->run_log_roles[i] = InvalidOid;
			break;
		}
	LWLockRelease(segment_shared->lock);
}

void
progress_end(void)
{
	if (segment_shared == NULL || my_progress < 0)
		return;
	LWLockAcquire(segment_shared->lock, LW_EXCLUSIVE);
	segment_shared->progress[my_progress].pid = 0;
	LWLockRelease(segment_shared->lock);
	my_progress = -1;
}
