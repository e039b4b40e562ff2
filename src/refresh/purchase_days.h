/*
 * purchase_days.h -- a customer's purchase days, summed as the orders come,
 * for the buy-till-you-die summary of a refresh with predict on.
 *
 * A purchase is a day (in the segmentation's time zone) whose orders have a
 * positive net amount, as segment.customer_summary defines it.  Without a
 * set of days per customer, the summary keeps the first and the last day
 * seen open (their nets may still change) and the days between them closed:
 * how many were purchases, the first and last of those, and the net up to
 * the first.  A row or a merged part that falls strictly between the open
 * days cannot be placed without the closed days' nets: the summary is then
 * "broken", and the refresh takes every customer's summary from SQL
 * (segment._summary_query) instead.  Orders read in time order -- a serial
 * scan of a table filled in time order -- never break it.
 */
#ifndef SEGMENT_PURCHASE_DAYS_H
#define SEGMENT_PURCHASE_DAYS_H

#include "postgres.h"

#include "common/int.h"
#include "datatype/timestamp.h"
#include "pgtime.h"

#include "common/money.h"

/* All zero: no day seen. */
typedef struct PurchaseDays
{
	int32		first_day;		/* open: the earliest day seen */
	int32		last_day;		/* open: the latest day seen (= first_day: one day) */
	int32		mid_purchases;	/* purchases among the days strictly between */
	int32		mid_first;		/* the first and last of those, when mid_purchases > 0 */
	int32		mid_last;
	bool		seen;			/* a day was seen */
	bool		broken;			/* a row fell between the open days, or a net overflowed */
	bool		final;			/* from SQL: purchases, first_day, last_day, repeat_value */
	int64		first_net;		/* nets in units of 10^-8 */
	int64		last_net;
	int64		mid_pre_net;	/* net of the days between, up to mid_first (all of them while none) */
	float8		repeat_value;	/* final: the net of the days after the first purchase */
} PurchaseDays;

/* What the models read: in days, values in currency units. */
typedef struct PurchaseSummary
{
	int64		id;				/* the customer's entry */
	int64		purchases;		/* 0: none (no prediction) */
	int32		first_day;
	int32		last_day;
	float8		repeat_value;	/* net of the days after the first purchase */
} PurchaseSummary;

static inline bool
net_add(int64 *net, int64 amount)
{
	return !pg_add_s64_overflow(*net, amount, net);
}

/* A closed day between the open ones. */
static inline void
close_middle_day(PurchaseDays *d, int32 day, int64 net)
{
	if (d->mid_purchases == 0)
		d->broken |= !net_add(&d->mid_pre_net, net);
	if (net <= 0)
		return;
	if (d->mid_purchases == 0 || day < d->mid_first)
		d->mid_first = day;
	if (d->mid_purchases == 0 || day > d->mid_last)
		d->mid_last = day;
	d->mid_purchases++;
}

/*
 * Adds net on day (a row, or a part's open day).  A day before the first or
 * after the last closes the former open day at that end, which is only
 * right if no more of that day comes: a later row of it falls between the
 * open days and breaks the summary, so that nothing wrong goes unnoticed.
 */
static inline void
purchase_days_add(PurchaseDays *d, int32 day, int64 net)
{
	if (d->broken)
		return;
	if (!d->seen)
	{
		d->seen = true;
		d->first_day = d->last_day = day;
		d->first_net = net;
	}
	else if (day == d->last_day && d->last_day != d->first_day)
		d->broken |= !net_add(&d->last_net, net);
	else if (day == d->first_day)
		d->broken |= !net_add(&d->first_net, net);
	else if (day > d->last_day)
	{
		if (d->last_day != d->first_day)
			close_middle_day(d, d->last_day, d->last_net);
		d->last_day = day;
		d->last_net = net;
	}
	else if (day < d->first_day)
	{
		/* the old first day leads the days between now */
		if (d->last_day == d->first_day)
			d->last_net = d->first_net;
		else if (d->first_net > 0)
		{
			d->mid_pre_net = d->first_net;
			if (d->mid_purchases == 0)
				d->mid_last = d->first_day;
			d->mid_first = d->first_day;
			d->mid_purchases++;
		}
		else
			d->broken |= !net_add(&d->mid_pre_net, d->first_net);
		d->first_day = day;
		d->first_net = net;
	}
	else
		d->broken = true;
}

/* Appends later, whose days all come on or after d's last one. */
static inline void
append_days(PurchaseDays *d, const PurchaseDays *later)
{
	purchase_days_add(d, later->first_day, later->first_net);
	if (later->last_day == later->first_day || d->broken)
		return;
	/* d's last day is later's first: between the ends now, unless it is d's first too */
	if (d->last_day != d->first_day)
		close_middle_day(d, d->last_day, d->last_net);
	if (d->mid_purchases == 0)
	{
		d->broken |= !net_add(&d->mid_pre_net, later->mid_pre_net);
		d->mid_first = later->mid_first;
	}
	if (later->mid_purchases > 0)
		d->mid_last = later->mid_last;
	d->mid_purchases += later->mid_purchases;
	d->last_day = later->last_day;
	d->last_net = later->last_net;
}

/*
 * Merges part (another share of the same customer's rows) into d: possible
 * when the two cover disjoint days, or meet at one.  A final summary (from
 * SQL) replaces whatever d held.
 */
static inline void
purchase_days_merge(PurchaseDays *d, const PurchaseDays *part)
{
	if (part->final)
		*d = *part;
	if (part->final || d->final)
		return;
	d->broken |= part->broken;
	if (d->broken || !part->seen)
		return;
	if (!d->seen)
		*d = *part;
	else if (part->first_day >= d->last_day)
		append_days(d, part);
	else if (part->last_day <= d->first_day)
	{
		PurchaseDays earlier = *part;

		append_days(&earlier, d);
		*d = earlier;
	}
	else
		d->broken = true;
}

/* The summary of what d holds; total: the customer's net of every day. */
static inline void
purchase_days_summary(const PurchaseDays *d, ScaledMoney total, PurchaseSummary *s)
{
	ScaledMoney pre;

	memset(s, 0, sizeof(PurchaseSummary));
	if (d->final)
	{
		s->purchases = d->mid_purchases;
		s->first_day = d->first_day;
		s->last_day = d->last_day;
		s->repeat_value = d->repeat_value;
		return;
	}
	if (!d->seen || d->broken)
		return;
	if (d->first_day == d->last_day)
	{
		if (d->first_net > 0)
		{
			s->purchases = 1;
			s->first_day = s->last_day = d->first_day;
		}
		return;
	}
	s->purchases = d->mid_purchases + (d->first_net > 0) + (d->last_net > 0);
	if (s->purchases == 0)
		return;
	if (d->first_net > 0)
	{
		s->first_day = d->first_day;
		pre = d->first_net;
	}
	else if (d->mid_purchases > 0)
	{
		s->first_day = d->mid_first;
		pre = (ScaledMoney) d->first_net + d->mid_pre_net;
	}
	else
	{
		s->first_day = d->last_day;
		pre = total;
	}
	s->last_day = d->last_net > 0 ? d->last_day : d->mid_purchases > 0 ? d->mid_last : d->first_day;
	s->repeat_value = money_to_float8(total - pre);
}

/*
 * The day number (days since 2000-01-01) of a time in the session's time
 * zone, as ::date gives it, with the zone's offset kept until its next
 * change: a scan in time order looks the zone up a few times a year.
 */
typedef struct DayClock
{
	TimestampTz valid_from;
	TimestampTz valid_until;	/* DT_NOEND: no later change */
	int64		offset;			/* microseconds to add for local time */
} DayClock;

extern int32 day_clock_day(DayClock *clock, TimestampTz t);

static inline int32
day_of(DayClock *clock, TimestampTz t)
{
	if (t >= clock->valid_from && t < clock->valid_until)
	{
		int64		local = t + clock->offset;

		return (int32) (local >= 0 ? local / USECS_PER_DAY : -((-local - 1) / USECS_PER_DAY) - 1);
	}
	return day_clock_day(clock, t);
}

#endif							/* SEGMENT_PURCHASE_DAYS_H */
