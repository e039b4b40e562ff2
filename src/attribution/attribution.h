/*
 * attribution.h -- the rule-based attribution models, shared by
 * segment.touch_credits() and the refresh's attribution by segment.
 */
#ifndef SEGMENT_ATTRIBUTION_H
#define SEGMENT_ATTRIBUTION_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "common/interner.h"

typedef enum CreditModel
{
	FIRST_TOUCH,
	LAST_TOUCH,
	LINEAR,
	POSITION_BASED,
	TIME_DECAY
} CreditModel;

#define CREDIT_MODELS 5

extern const char *const credit_model_names[CREDIT_MODELS];

/* half_life in seconds; an error unless positive */
extern float8 half_life_seconds(const Interval *half_life);

/*
 * The credits of a path of k >= 1 touches at times at[] (ascending, all at
 * or before the conversion), summing to 1.  half_life in seconds (used by
 * time_decay only).
 */
extern void credit_path(CreditModel model, const TimestampTz *at, int k, float8 half_life, float8 *credits);

/*
 * The attribution by segment of a refresh (attribution_sums.c): paths are
 * added one by one with the customer's segments, and come out summed per
 * segment type, segment, model and channel.  A converting path gets its
 * credits under the five rule-based models; every path feeds the Markov
 * model of each of its segments, whose touched conversions are shared by
 * removal effects at the end; a conversion without a touch goes to
 * "(none)" under all six models.
 */
#define SEGMENT_TYPES 4			/* rfm, lifecycle, cluster, predictive */
#define CLUSTER_TYPE 2				/* its segments are numbers */
#define ATTRIBUTION_MODELS (CREDIT_MODELS + 1)
#define MARKOV_MODEL CREDIT_MODELS

typedef struct AttributionCell
{
	float8		conversions;
	float8		revenue;
	float8		first_conversions;	/* of customers' first orders */
} AttributionCell;

typedef struct SegmentSums
{
	AttributionCell *cells;		/* [channel][model], channel_capacity rows */
	struct MarkovBuilder *markov;
	AttributionCell touched;	/* its conversions with a path (shared by Markov) */
} SegmentSums;

typedef struct Attributor
{
	MemoryContext cxt;
	float8		half_life;		/* seconds */
	Interner	segments;
	Interner	channels;
	int32		channel_capacity;
	int32		none_channel;	/* "(none)" */
	SegmentSums *sums[SEGMENT_TYPES];	/* by segment id */
	int32		segment_capacity[SEGMENT_TYPES];
	float8	   *credits;		/* scratch for one path */
	int			credits_capacity;
} Attributor;

/* put one output row: segment_type, segment, model, channel (text),
 * conversions, revenue, first_conversions (float8) */
typedef void (*AttributionRowSink) (void *arg, Datum *values, bool *nulls);

extern void attributor_init(Attributor *a, float8 half_life);
extern int32 attributor_channel(Attributor *a, const char *name, int len);
extern int32 attributor_segment(Attributor *a, const char *name, int len);

/*
 * Adds one path: segments[t] the customer's segment id of each type (-1:
 * none), channels and at its n touches in time order; converted false for a
 * non-converting path (Markov only); n = 0 for a conversion without a touch.
 */
extern void attributor_add(Attributor *a, const int32 *segments, const int32 *channels, const TimestampTz *at,
						   int n, bool converted, float8 revenue, bool first_order);
extern void attributor_finish(Attributor *a, AttributionRowSink sink, void *arg);

#endif							/* SEGMENT_ATTRIBUTION_H */
