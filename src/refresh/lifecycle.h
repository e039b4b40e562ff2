/*
 * lifecycle.h -- the lifecycle rules of segment.lifecycle_rules compiled
 * once per refresh into one executable CASE expression over the customer's
 * facts, then evaluated for each customer without SQL round trips.
 */
#ifndef SEGMENT_LIFECYCLE_H
#define SEGMENT_LIFECYCLE_H

#include "postgres.h"

#include "nodes/execnodes.h"

/* The facts a condition may name, in parameter order. */
typedef struct LifecycleFacts
{
	bool		recency_null;
	float8		recency_days;
	bool		frequency_null;
	int64		frequency;
	bool		monetary_null;
	Datum		monetary;		/* numeric */
	bool		is_vip;
	bool		is_lapsed;
	bool		has_abandoned_cart;
	bool		is_prospect;
} LifecycleFacts;

typedef struct LifecycleRules
{
	ExprState  *state;
	ExprContext *econtext;
	ParamListInfo params;
} LifecycleRules;

extern void lifecycle_compile(LifecycleRules *rules);

/* The segment's name (text, in the expression context's per-tuple memory), or NULL. */
extern text *lifecycle_classify(LifecycleRules *rules, const LifecycleFacts *facts);

#endif							/* SEGMENT_LIFECYCLE_H */
