/*
 * attribution.h -- the rule-based attribution models, shared by
 * segment.touch_credits() and the refresh's attribution by segment.
 */
#ifndef SEGMENT_ATTRIBUTION_H
#define SEGMENT_ATTRIBUTION_H

#include "postgres.h"

#include "datatype/timestamp.h"

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

#endif							/* SEGMENT_ATTRIBUTION_H */
