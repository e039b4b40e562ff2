/*
 * segment.h -- the module's settings, defined in segment.c.
 */
#ifndef SEGMENT_SEGMENT_H
#define SEGMENT_SEGMENT_H

/* segment.scan_memory: the most the refresh's fast scan may use, in kB */
extern int	segment_scan_memory_kb;

/* segment.refresh_work_mem: work_mem during a refresh, in kB (read by refresh.sql) */
extern int	segment_refresh_work_mem_kb;

/* segment.fast_scan: off forces the SQL path */
extern bool segment_fast_scan;

#endif							/* SEGMENT_SEGMENT_H */
