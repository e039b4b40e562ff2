/*
 * time_zone.h -- time zone names, as segmentations and settings take them.
 */
#ifndef SEGMENT_TIME_ZONE_H
#define SEGMENT_TIME_ZONE_H

/* A zone name pg_tzset() knows (not empty). */
extern bool time_zone_known(const char *name);

#endif							/* SEGMENT_TIME_ZONE_H */
