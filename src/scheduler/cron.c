/*
 * cron.c -- parsing and evaluating job schedules.
 *
 * A schedule is either a 5-field cron expression -- minute hour
 * day-of-month month day-of-week, each a *, a number, a range a-b, a list
 * of those, optionally with a step /n; months and days of the week may be
 * named (jan, mon); 7 is Sunday too; when both day fields are restricted a
 * day matching either fires, as in Vixie cron -- or one of @hourly, @daily,
 * @midnight, @weekly, @monthly, @yearly, @annually; or an interval of at
 * least one second ('30 seconds', '15 minutes', '1 day'), a fixed period:
 * a day counts 24 hours and a month 30 days.
 *
 * Cron fields are wall-clock times in segment.timezone (default: the
 * server's TimeZone).  Local times are visited in order, so a time that
 * occurs twice when clocks go back fires once; a time that does not exist
 * when clocks go forward is read as PostgreSQL reads such times (02:30 in a
 * 02:00-03:00 gap fires at 03:30, the same instant as 02:30 standard time).
 */
#include "postgres.h"

#include <ctype.h>

#include "common/int.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "scheduler/cron.h"
#include "segment.h"

#define SCHEDULE_EXAMPLES "Use 5 cron fields, for example '*/15 * * * *' (every 15 minutes) or '30 2 * * mon-fri', " \
	"a name such as '@daily', or an interval of at least one second such as '30 seconds' or '1 hour'."

/* Years searched for a firing before a schedule is declared never to fire. */
#define SEARCH_YEARS 8

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
"sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static void
invalid_schedule(const char *text, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid schedule \"%s\"", text),
			 errdetail("%s", detail),
			 errhint(SCHEDULE_EXAMPLES)));
}

/* A number or a name (names: index + base) at *p; -1 if neither. */
static int
parse_value(const char **p, const char *const *names, int nnames, int base)
{
	if (isdigit((unsigned char) **p))
	{
		int			v = 0;

		while (isdigit((unsigned char) **p))
		{
			v = v * 10 + (**p - '0');
			if (v > 1000)
				return -1;
			(*p)++;
		}
		return v;
	}
	for (int i = 0; names != NULL && i < nnames; i++)
		if (pg_strncasecmp(*p, names[i], 3) == 0)
		{
			*p += 3;
			return i + base;
		}
	return -1;
}

/*
 * One field into a bit set of [lo, hi]; sets *star for a lone "*".  Day of
 * the week accepts 7 for Sunday (folded by the caller).
 */
static uint64
parse_field(const char *text, const char *field, const char *what, int lo, int hi,
			const char *const *names, int nnames, int name_base, bool *star)
{
	const char *p = field;
	uint64		bits = 0;
	char		detail[256];

	*star = strcmp(field, "*") == 0;
	for (;;)
	{
		int			from,
					to,
					step = 1;
		bool		single = false;

		if (*p == '*')
		{
			from = lo;
			to = hi;
			p++;
		}
		else
		{
			from = parse_value(&p, names, nnames, name_base);
			to = from;
			single = *p != '-';
			if (from >= 0 && *p == '-')
			{
				p++;
				to = parse_value(&p, names, nnames, name_base);
			}
			if (from < 0 || to < 0)
			{
				snprintf(detail, sizeof(detail), "The %s field \"%s\" is not a number, a range, a list or *.",
						 what, field);
				invalid_schedule(text, detail);
			}
			if (from < lo || to > hi || from > to)
			{
				snprintf(detail, sizeof(detail), "The %s field \"%s\" is outside %d to %d, or a range is reversed.",
						 what, field, lo, hi);
				invalid_schedule(text, detail);
			}
		}
		if (*p == '/')
		{
			p++;
			step = parse_value(&p, NULL, 0, 0);
			if (step <= 0)
			{
				snprintf(detail, sizeof(detail), "The step in the %s field \"%s\" must be a positive number.",
						 what, field);
				invalid_schedule(text, detail);
			}
			/* "5/10" means 5-hi/10 */
			if (single)
				to = hi;
		}
		for (int v = from; v <= to; v += step)
			bits |= UINT64CONST(1) << v;
		if (*p == '\0')
			break;
		if (*p != ',')
		{
			snprintf(detail, sizeof(detail), "The %s field \"%s\" has an unexpected character '%c'.",
					 what, field, *p);
			invalid_schedule(text, detail);
		}
		p++;
	}
	return bits;
}

static bool
parse_interval(const char *text, Schedule *schedule)
{
	MemoryContext cxt = CurrentMemoryContext;
	Interval   *interval = NULL;

	/* interval_in's own errors become ours, which show valid schedules */
	PG_TRY();
	{
		interval = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(text),
														 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		interval = NULL;
	}
	PG_END_TRY();
	if (interval == NULL)
		return false;
	schedule->is_interval = true;
	/* a day counts 24 hours and a month 30 days; '178000000 years' overflows int64 */
	{
		int64		days = (int64) interval->day + (int64) interval->month * DAYS_PER_MONTH;
		int64		usecs;

		if (pg_mul_s64_overflow(days, USECS_PER_DAY, &usecs) ||
			pg_add_s64_overflow(usecs, interval->time, &schedule->interval_usecs))
			invalid_schedule(text, "An interval schedule must be shorter than 290,000 years.");
	}
	if (schedule->interval_usecs < USECS_PER_SEC)
		invalid_schedule(text, "An interval schedule must be at least 1 second.");
	return true;
}

void
schedule_parse(const char *text, Schedule *schedule)
{
	static const struct
	{
		const char *name;
		const char *cron;
	}			shorthands[] =
	{
		{"@hourly", "0 * * * *"},
		{"@daily", "0 0 * * *"},
		{"@midnight", "0 0 * * *"},
		{"@weekly", "0 0 * * 0"},
		{"@monthly", "0 0 1 * *"},
		{"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
	};
	char	   *copy;
	char	   *fields[6];
	int			nfields = 0;
	bool		star;
	uint64		weekdays;

	memset(schedule, 0, sizeof(Schedule));
	if (text == NULL || text[0] == '\0')
		invalid_schedule("", "The schedule is empty.");
	copy = pstrdup(text);
	if (copy[0] == '@')
	{
		for (int i = 0; i < lengthof(shorthands); i++)
			if (pg_strcasecmp(copy, shorthands[i].name) == 0)
				copy = pstrdup(shorthands[i].cron);
		if (copy[0] == '@')
			invalid_schedule(text, "Known names are @hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually.");
	}
	for (char *tok = strtok(copy, " \t\n"); tok != NULL; tok = strtok(NULL, " \t\n"))
	{
		if (nfields == lengthof(fields))
			break;
		fields[nfields++] = tok;
	}
	/* cron fields hold digits, names, and * / , - only */
	if (nfields != 5 || strspn(text, "0123456789*/,- \tabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(text) ||
		strpbrk(text, "*/,") == NULL)
	{
		if (parse_interval(text, schedule))
			return;
		if (nfields != 5)
		{
			char		detail[128];

			snprintf(detail, sizeof(detail), "It is neither an interval nor a cron expression: it has %d field%s, not 5.",
					 nfields, nfields == 1 ? "" : "s");
			invalid_schedule(text, detail);
		}
	}
	schedule->minutes = parse_field(text, fields[0], "minute", 0, 59, NULL, 0, 0, &star);
	schedule->hours = (uint32) parse_field(text, fields[1], "hour", 0, 23, NULL, 0, 0, &star);
	schedule->days = (uint32) parse_field(text, fields[2], "day-of-month", 1, 31, NULL, 0, 0, &schedule->any_day);
	schedule->months = (uint32) parse_field(text, fields[3], "month", 1, 12, month_names, 12, 1, &star);
	weekdays = parse_field(text, fields[4], "day-of-week", 0, 7, day_names, 7, 0, &schedule->any_weekday);
	if (weekdays & (UINT64CONST(1) << 7))
		weekdays |= 1;			/* 7 is Sunday too */
	schedule->weekdays = (uint32) (weekdays & 0x7F);
}

const char *
schedule_timezone_name(void)
{
	return (segment_timezone != NULL && segment_timezone[0] != '\0') ?
		segment_timezone : GetConfigOptionResetString("TimeZone");
}

pg_tz *
schedule_timezone(void)
{
	const char *name = schedule_timezone_name();
	pg_tz	   *tz = pg_tzset(name);

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name),
				 errdetail("Cron schedules are read in segment.timezone, or else the server's TimeZone."),
				 errhint("Set segment.timezone to a name from pg_timezone_names.")));
	return tz;
}

static bool
day_matches(const Schedule *s, const struct pg_tm *tm)
{
	bool		dom = (s->days >> tm->tm_mday) & 1;
	bool		dow = (s->weekdays >> tm->tm_wday) & 1;

	if (s->any_day || s->any_weekday)
		return dom && dow;
	return dom || dow;			/* both restricted: either one */
}

/* The weekday of a date (0 = Sunday). */
static int
weekday(int year, int month, int day)
{
	return j2day(date2j(year, month, day));
}

TimestampTz
schedule_next(const Schedule *s, TimestampTz after, TimestampTz anchor, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	int			limit_year;

	if (s->is_interval)
	{
		int64		periods;

		int64		next;

		if (anchor > after)
			return anchor;
		/* an infinite start, or a firing past the last timestamp: never */
		if (TIMESTAMP_NOT_FINITE(after) || TIMESTAMP_NOT_FINITE(anchor))
			return DT_NOEND;
		periods = (after - anchor) / s->interval_usecs + 1;
		if (pg_mul_s64_overflow(periods, s->interval_usecs, &next) ||
			pg_add_s64_overflow(anchor, next, &next) || !IS_VALID_TIMESTAMP(next))
			return DT_NOEND;
		return next;
	}

	/* the next whole minute after "after", in local time */
	if (timestamp2tm(after, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errdetail("A cron schedule cannot fire after an infinite or out-of-range time."),
				 errhint("Pass a finite time, such as now().")));
	tm.tm_sec = 0;
	tm.tm_min++;
	limit_year = tm.tm_year + SEARCH_YEARS;
	for (;;)
	{
		TimestampTz candidate;
		int			days_in_month;

		CHECK_FOR_INTERRUPTS();
		/* normalize the carries */
		if (tm.tm_min > 59)
		{
			tm.tm_min = 0;
			tm.tm_hour++;
		}
		if (tm.tm_hour > 23)
		{
			tm.tm_hour = 0;
			tm.tm_mday++;
		}
		days_in_month = day_tab[isleap(tm.tm_year)][tm.tm_mon - 1];
		if (tm.tm_mday > days_in_month)
		{
			tm.tm_mday = 1;
			tm.tm_mon++;
		}
		if (tm.tm_mon > 12)
		{
			tm.tm_mon = 1;
			tm.tm_year++;
		}
		if (tm.tm_year > limit_year)
			return DT_NOEND;
		if (!((s->months >> tm.tm_mon) & 1))
		{
			tm.tm_mday = 1;
			tm.tm_hour = 0;
			tm.tm_min = 0;
			tm.tm_mon++;
			continue;
		}
		tm.tm_wday = weekday(tm.tm_year, tm.tm_mon, tm.tm_mday);
		if (!day_matches(s, &tm))
		{
			tm.tm_hour = 0;
			tm.tm_min = 0;
			tm.tm_mday++;
			continue;
		}
		if (!((s->hours >> tm.tm_hour) & 1))
		{
			tm.tm_min = 0;
			tm.tm_hour++;
			continue;
		}
		if (!((s->minutes >> tm.tm_min) & 1))
		{
			tm.tm_min++;
			continue;
		}
		tzoff = DetermineTimeZoneOffset(&tm, tz);
		if (tm2timestamp(&tm, 0, &tzoff, &candidate) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range"),
					 errdetail("The next firing of the schedule is past the largest timestamp."),
					 errhint("Pass an earlier time.")));
		if (candidate > after)
			return candidate;
		tm.tm_min++;			/* a repeated local hour: already past */
	}
}
