/*
 * cron.h -- job schedules: 5-field cron expressions evaluated in a time
 * zone, and fixed intervals.
 */
#ifndef SEGMENT_CRON_H
#define SEGMENT_CRON_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

typedef struct Schedule
{
	bool		is_interval;
	int64		interval_usecs; /* interval schedules: the period */
	uint64		minutes;		/* bit n: minute n (0-59) */
	uint32		hours;			/* bit n: hour n (0-23) */
	uint32		days;			/* bit n: day of the month n (1-31) */
	uint32		months;			/* bit n: month n (1-12) */
	uint32		weekdays;		/* bit n: day of the week n (0-6, 0 = Sunday) */
	bool		any_day;		/* the day-of-month field is * */
	bool		any_weekday;	/* the day-of-week field is * */
} Schedule;

/* Parses a schedule, or raises an error with a hint showing valid ones. */
extern void schedule_parse(const char *text, Schedule *schedule);

/*
 * The first time after "after" at which the schedule fires; for intervals,
 * the first of anchor + n * period after "after".  Cron fields are read in
 * the time zone tz.
 */
extern TimestampTz schedule_next(const Schedule *schedule, TimestampTz after, TimestampTz anchor,
								 pg_tz *tz);

/* segment.timezone, or else the server's TimeZone setting */
extern pg_tz *schedule_timezone(void);
extern const char *schedule_timezone_name(void);


#endif							/* SEGMENT_CRON_H */
