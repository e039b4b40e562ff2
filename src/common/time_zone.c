/*
 * time_zone.c -- the time zone a segmentation reads its times in.
 *
 * Order, touch and cart times of type timestamp (without time zone) or
 * date, and the days of the spend, name no zone of their own: a refresh
 * reads them in the segmentation's time_zone (segment._refresh sets
 * TimeZone to it for its own duration), so that every session and the
 * scheduler build the same table from the same data.
 */
#include "postgres.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"

#include "common/time_zone.h"

PG_FUNCTION_INFO_V1(check_time_zone);

bool
time_zone_known(const char *name)
{
	return name != NULL && name[0] != '\0' && pg_tzset(name) != NULL;
}

/* segment._check_time_zone(text) → true, or an error naming the zone. */
Datum
check_time_zone(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (!time_zone_known(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name),
				 errdetail("A segmentation reads the times without a time zone of its sources (timestamp, date) in its time_zone."),
				 errhint("Use a name from pg_timezone_names, such as 'UTC' or 'America/New_York'.")));
	PG_RETURN_BOOL(true);
}
