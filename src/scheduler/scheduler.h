/*
 * scheduler.h -- entry points of the scheduling background workers, and
 * the request a scheduler hands to a job worker.
 */
#ifndef SEGMENT_SCHEDULER_H
#define SEGMENT_SCHEDULER_H

#include "postgres.h"

#include "postmaster/bgworker.h"

/* In a job worker's bgw_extra. */
typedef struct JobRequest
{
	Oid			database;
	Oid			owner;
	int64		run_id;
	int32		timeout_ms;		/* 0: none */
	char		segmentation[64];
} JobRequest;

StaticAssertDecl(sizeof(JobRequest) <= BGW_EXTRALEN, "a job request must fit in bgw_extra");

PGDLLEXPORT void segment_launcher_main(Datum arg);
PGDLLEXPORT void segment_scheduler_main(Datum arg);
PGDLLEXPORT void segment_job_main(Datum arg);

extern void segment_register_launcher(void);

#endif							/* SEGMENT_SCHEDULER_H */
