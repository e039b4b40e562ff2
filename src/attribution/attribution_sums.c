/*
 * attribution_sums.c -- the six attribution models summed per segment type,
 * segment, model and channel (see attribution.h), for both ways the refresh
 * feeds its paths: the scan of the sources (attribution_scan.c) and a query
 * over SQL-built paths (attribution_query.c).
 *
 * Sums are dense: per segment type and segment, one cell per channel and
 * model, so that a touch's credit is an array add rather than a hash
 * lookup.  Channels and segments are few (names interned), and a segment's
 * cells are allocated when it is first seen.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "attribution/attribution.h"
#include "attribution/markov.h"

#define NO_TOUCH_CHANNEL "(none)"

static const char *const segment_type_names[SEGMENT_TYPES] = {"rfm", "lifecycle", "cluster", "predictive"};

void
attributor_init(Attributor *a, float8 half_life)
{
	memset(a, 0, sizeof(*a));
	a->cxt = CurrentMemoryContext;
	a->half_life = half_life;
	interner_init(&a->segments, "segment");
	interner_init(&a->channels, "channel");
	a->channel_capacity = 16;
	a->none_channel = attributor_channel(a, NO_TOUCH_CHANNEL, strlen(NO_TOUCH_CHANNEL));
}

int32
attributor_channel(Attributor *a, const char *name, int len)
{
	int32		id = interner_id(&a->channels, name, len);

	if (id >= a->channel_capacity)
	{
		int32		old = a->channel_capacity;
		Size		row = sizeof(AttributionCell) * ATTRIBUTION_MODELS;

		a->channel_capacity *= 2;
		for (int t = 0; t < SEGMENT_TYPES; t++)
			for (int32 s = 0; s < a->segment_capacity[t]; s++)
			{
				SegmentSums *ss = &a->sums[t][s];

				if (ss->cells == NULL)
					continue;
				ss->cells = repalloc_huge(ss->cells, row * a->channel_capacity);
				memset((char *) ss->cells + row * old, 0, row * (a->channel_capacity - old));
			}
	}
	return id;
}

int32
attributor_segment(Attributor *a, const char *name, int len)
{
	return interner_id(&a->segments, name, len);
}

/* The sums of one segment, allocated when first used. */
static SegmentSums *
segment_sums(Attributor *a, int type, int32 segment)
{
	SegmentSums *ss;

	if (segment >= a->segment_capacity[type])
	{
		int32		old = a->segment_capacity[type];
		int32		capacity = Max(16, 2 * segment + 1);

		a->sums[type] = old == 0 ?
			MemoryContextAllocZero(a->cxt, sizeof(SegmentSums) * capacity) :
			repalloc(a->sums[type], sizeof(SegmentSums) * capacity);
		if (old > 0)
			memset(a->sums[type] + old, 0, sizeof(SegmentSums) * (capacity - old));
		a->segment_capacity[type] = capacity;
	}
	ss = &a->sums[type][segment];
	if (ss->cells == NULL)
	{
		ss->cells = MemoryContextAllocExtended(a->cxt,
											   sizeof(AttributionCell) * ATTRIBUTION_MODELS * a->channel_capacity,
											   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		ss->markov = markov_builder_create(a->cxt);
	}
	return ss;
}

static inline void
credit(AttributionCell *cell, float8 share, float8 revenue, bool first_order)
{
	cell->conversions += share;
	cell->revenue += share * revenue;
	if (first_order)
		cell->first_conversions += share;
}

void
attributor_add(Attributor *a, const int32 *segments, const int32 *channels, const TimestampTz *at, int n,
			   bool converted, float8 revenue, bool first_order)
{
	SegmentSums *sums[SEGMENT_TYPES];
	int			nsums = 0;

	for (int t = 0; t < SEGMENT_TYPES; t++)
		if (segments[t] >= 0)
			sums[nsums++] = segment_sums(a, t, segments[t]);
	if (n == 0)
	{
		if (converted)
			for (int s = 0; s < nsums; s++)
				for (int m = 0; m < ATTRIBUTION_MODELS; m++)
					credit(&sums[s]->cells[a->none_channel * ATTRIBUTION_MODELS + m], 1.0, revenue, first_order);
		return;
	}
	for (int s = 0; s < nsums; s++)
	{
		markov_builder_add(sums[s]->markov, channels, (const char *const *) a->channels.names, n, converted);
		if (converted)
			credit(&sums[s]->touched, 1.0, revenue, first_order);
	}
	if (!converted)
		return;
	if (n > a->credits_capacity)
	{
		a->credits_capacity = Max(n, 2 * a->credits_capacity);
		a->credits = a->credits == NULL ?
			MemoryContextAlloc(a->cxt, sizeof(float8) * a->credits_capacity) :
			repalloc(a->credits, sizeof(float8) * a->credits_capacity);
	}
	for (int m = 0; m < CREDIT_MODELS; m++)
	{
		credit_path((CreditModel) m, at, n, a->half_life, a->credits);
		for (int i = 0; i < n; i++)
		{
			if (a->credits[i] <= 0)
				continue;
			for (int s = 0; s < nsums; s++)
				credit(&sums[s]->cells[channels[i] * ATTRIBUTION_MODELS + m], a->credits[i], revenue, first_order);
		}
	}
}

/*
 * Shares each segment's touched conversions by its Markov removal effects,
 * then puts every cell that was credited.
 */
void
attributor_finish(Attributor *a, AttributionRowSink sink, void *arg)
{
	for (int t = 0; t < SEGMENT_TYPES; t++)
		for (int32 s = 0; s < a->segment_capacity[t]; s++)
		{
			SegmentSums *ss = &a->sums[t][s];
			const char **names;
			float8	   *shares;
			int32		n;

			CHECK_FOR_INTERRUPTS();
			if (ss->cells == NULL)
				continue;
			n = ss->touched.conversions > 0 ? markov_builder_shares(ss->markov, &names, &shares) : 0;
			for (int32 c = 0; c < n; c++)
			{
				AttributionCell *cell;

				if (!(shares[c] > 0))
					continue;
				cell = &ss->cells[attributor_channel(a, names[c], strlen(names[c])) * ATTRIBUTION_MODELS + MARKOV_MODEL];
				cell->conversions += shares[c] * ss->touched.conversions;
				cell->revenue += shares[c] * ss->touched.revenue;
				cell->first_conversions += shares[c] * ss->touched.first_conversions;
			}
			for (int32 c = 0; c < a->channels.count; c++)
				for (int m = 0; m < ATTRIBUTION_MODELS; m++)
				{
					AttributionCell *cell = &ss->cells[c * ATTRIBUTION_MODELS + m];
					Datum		values[7];
					bool		nulls[7] = {false};

					if (!(cell->conversions > 0))
						continue;
					values[0] = CStringGetTextDatum(segment_type_names[t]);
					values[1] = CStringGetTextDatum(a->segments.names[s]);
					values[2] = CStringGetTextDatum(m == MARKOV_MODEL ? "markov" : credit_model_names[m]);
					values[3] = CStringGetTextDatum(a->channels.names[c]);
					values[4] = Float8GetDatum(cell->conversions);
					values[5] = Float8GetDatum(cell->revenue);
					values[6] = Float8GetDatum(cell->first_conversions);
					sink(arg, values, nulls);
				}
		}
}
