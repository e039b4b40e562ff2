/*
 * refresh_entry.h -- the refresh as the scheduler's job workers start it
 * (refresh_entry.c).
 */
#ifndef SEGMENT_REFRESH_ENTRY_H
#define SEGMENT_REFRESH_ENTRY_H

#include "postgres.h"

/*
 * Refreshes a segmentation the current role may refresh, as its owner;
 * returns its customers.  scheduled_run: the run row a scheduler made (the
 * job worker records a failure itself), or 0 for a manual refresh.
 */
extern int64 segment_refresh(text *name, int64 scheduled_run, bool full, bool force);

#endif							/* SEGMENT_REFRESH_ENTRY_H */
