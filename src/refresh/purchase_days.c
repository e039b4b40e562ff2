/*
 * purchase_days.c -- the day of an order time in the session's time zone
 * (purchase_days.h).
 */
#include "postgres.h"

#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "refresh/purchase_days.h"

/*
 * Looks the zone up at t: its offset then, kept valid until the zone's next
 * change.  A zone the lookup cannot follow is asked at every call.
 */
int32
day_clock_day(DayClock *clock, TimestampTz t)
{
	pg_time_t	when = (pg_time_t) (t / USECS_PER_SEC - (t % USECS_PER_SEC < 0)) +
		(pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	long int	before_gmtoff;
	long int	after_gmtoff;
	int			before_isdst;
	int			after_isdst;
	pg_time_t	boundary;
	int			found;

	found = pg_next_dst_boundary(&when, &before_gmtoff, &before_isdst, &boundary, &after_gmtoff, &after_isdst,
								 session_timezone);
	if (found < 0)
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			tz;

		clock->valid_from = clock->valid_until = 0;
		if (timestamp2tm(t, &tz, &tm, &fsec, NULL, NULL) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
	}
	clock->offset = (int64) before_gmtoff * USECS_PER_SEC;
	clock->valid_from = (TimestampTz) (when - (pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) *
		USECS_PER_SEC;
	clock->valid_until = found == 0 ? DT_NOEND :
		(TimestampTz) (boundary - (pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) * USECS_PER_SEC;
	{
		int64		local = t + clock->offset;

		return (int32) (local >= 0 ? local / USECS_PER_DAY : -((-local - 1) / USECS_PER_DAY) - 1);
	}
}
