/*
 * run_log.h -- a failed or skipped refresh recorded in segment.runs by a
 * background worker, in a transaction of its own (run_log.c).
 */
#ifndef SEGMENT_RUN_LOG_H
#define SEGMENT_RUN_LOG_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* false when no worker could be started (a warning says so) */
extern bool run_log_record(const char *segmentation, TimestampTz started_at, const char *status,
						   const char *message);

#endif							/* SEGMENT_RUN_LOG_H */
