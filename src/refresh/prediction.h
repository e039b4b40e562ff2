/*
 * prediction.h -- the predictions of a refresh with predict on: each
 * customer's buy-till-you-die summary offered in the first pass, BG/NBD and
 * Gamma-Gamma fitted between the passes, every customer scored in the
 * second (segment_build.c).
 */
#ifndef SEGMENT_PREDICTION_H
#define SEGMENT_PREDICTION_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "predict/btyd.h"
#include "predict/btyd_model.h"
#include "refresh/purchase_days.h"

/* Fewest customers with a purchase, and with a repeat purchase, to fit BG/NBD; repeat buyers for Gamma-Gamma. */
#define PREDICT_MIN_CUSTOMERS 100
#define PREDICT_MIN_REPEATERS 20

/* predicted_clv discounts per period of this many days */
#define PREDICT_PERIOD_DAYS 30

typedef struct ValueTier
{
	char	   *name;
	float8		top_share;
	float8		min_clv;		/* the least predicted CLV within top_share */
} ValueTier;

typedef struct ChurnLevel
{
	char	   *name;
	float8		min_p_purchase;
	Datum		text;
} ChurnLevel;

typedef struct Prediction
{
	TimestampTz as_of;
	int32		as_of_day;		/* as_of's day in the session's time zone */
	float8		horizon;		/* days */
	int			periods;		/* of PREDICT_PERIOD_DAYS in the horizon, the last cut at it */
	float8	   *period_ends;	/* days */
	float8	   *discounts;		/* 1 / (1 + the rate per period)^k */
	struct scores_hash *cache;	/* the BG/NBD scores by summary (prediction.c) */
	/* the first pass */
	BtydPoint  *points;			/* of every customer with a purchase, merged when many */
	int64		npoints;
	int64		points_capacity;
	int64		customers;
	int64		repeaters;
	BtydPoint  *spend;			/* (x, mean repeat value) of the repeat buyers */
	int64		nspend;
	int64		spend_capacity;
	float8	   *sample;			/* (x, t_x, T, mean value) of some customers, for the tiers */
	int64		nsample;
	uint32		sample_mask;	/* a customer is in the sample when hash & mask is 0 */
	/* the fits */
	bool		has_bgnbd;
	bool		has_gammagamma;
	BtydFit		bgnbd;
	BtydFit		gammagamma;
	char	   *warning;		/* why predictions are NULL, for the run log */
	/* the segments */
	ChurnLevel *levels;			/* by min_p_purchase, highest first */
	int			nlevels;
	ValueTier  *tiers;			/* by top_share, smallest first */
	int			ntiers;
	char	  **names;			/* [level * ntiers + tier]: the predictive segment, NULL: Other */
} Prediction;

/* One customer's predictions; has_* false: NULL. */
typedef struct CustomerPrediction
{
	bool		has_summary;
	float8		x;
	float8		t_x;
	float8		T;
	float8		mean_value;		/* NaN: none */
	bool		has_scores;
	float8		p_alive;
	float8		p_purchase;		/* of a purchase within the horizon */
	float8		expected_orders;
	bool		has_next_order;
	TimestampTz next_order_at;
	bool		has_clv;
	float8		clv;
	int			level;			/* -1: none */
	const char *segment;		/* NULL: none */
} CustomerPrediction;

extern void prediction_begin(Prediction *pr, TimestampTz as_of, float8 horizon_days, float8 discount_rate);
extern void prediction_expect(Prediction *pr, int64 customers);
extern void prediction_observe(Prediction *pr, const PurchaseSummary *s, uint32 hash);
extern void prediction_fit(Prediction *pr);
extern void prediction_score(Prediction *pr, const PurchaseSummary *s, CustomerPrediction *c);

#endif							/* SEGMENT_PREDICTION_H */
