/*
 * btyd.h -- the buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma): their
 * per-customer data, likelihoods, fits and scores.
 *
 * Every time (t_x, T, a horizon t) is in the unit the caller chose (days in
 * the segmentations, weeks in the published CDNOW figures); a model's rates
 * are per that unit, so a model scores only times in the unit it was fitted
 * in.
 */
#ifndef SEGMENT_BTYD_H
#define SEGMENT_BTYD_H

#include "postgres.h"

/* One customer's summary, or equal ones merged (weight = how many). */
typedef struct BtydPoint
{
	float8		x;				/* repeat purchases */
	float8		t;				/* BG/NBD: t_x, the last purchase's time since the first;
								 * Gamma-Gamma: the mean value of the repeat purchases */
	float8		T;				/* BG/NBD: the time from the first purchase to the end;
								 * Gamma-Gamma: 0 */
	float8		weight;
} BtydPoint;

/* What a fit found: the parameters and how it got there. */
typedef struct BtydFit
{
	int			nparams;
	float8		params[4];
	float8		log_likelihood;
	int64		customers;
	int32		iterations;
	bool		converged;
} BtydFit;

/* special_functions.c */
extern float8 btyd_digamma(float8 x);
extern bool btyd_hyp2f1_tail(float8 A, float8 a, float8 c, float8 z, float8 *result);
extern bool btyd_hyp2f1_tail_many(float8 A, float8 a, float8 c, const float8 *z, int n, float8 *result);

/*
 * optimize.c: minimizes f over R^n (n <= 4) by BFGS with a backtracking line
 * search; f returns the value and fills the gradient, or returns a
 * non-finite value where it is not defined.
 */
typedef float8 (*BtydObjective) (const float8 *theta, float8 *gradient, void *arg);

typedef struct BtydOptimum
{
	float8		value;
	int32		iterations;
	int32		evaluations;	/* of f */
	bool		converged;
} BtydOptimum;

extern BtydOptimum btyd_minimize(int n, float8 *theta, BtydObjective f, void *arg, int max_iterations,
								 float8 (*inverse_hessian)[4]);

/* btyd_points.c: equal points merged, in (x, t, T) order; the weighted mean of T or t */
extern int64 btyd_compact(BtydPoint *points, int64 n);
extern float8 btyd_mean(const BtydPoint *points, int64 n, bool of_T);

/* btyd_fit.c: the best of several starts, on a sample of many points, polished on all */
typedef float8 (*BtydLogLikelihood) (const float8 *params, const BtydPoint *points, int64 n, float8 *gradient);
extern BtydFit btyd_fit(const char *model, int nparams, BtydLogLikelihood log_likelihood,
						const float8 (*starts)[4], int nstarts, uint32 scaled, float8 scale,
						const BtydPoint *points, int64 n);

/* bgnbd.c */
extern float8 bgnbd_log_likelihood(const float8 *params, const BtydPoint *points, int64 n, float8 *gradient);
extern BtydFit bgnbd_fit_points(BtydPoint *points, int64 n);
extern float8 bgnbd_p_alive(const float8 *params, float8 x, float8 t_x, float8 T);
extern float8 bgnbd_expected_orders(const float8 *params, float8 t, float8 x, float8 t_x, float8 T);
extern bool bgnbd_expected_orders_many(const float8 *params, int n, const float8 *t, float8 x, float8 t_x, float8 T,
									   float8 *result);
extern float8 bgnbd_purchase_probability(const float8 *params, float8 t, float8 x, float8 t_x, float8 T);
extern float8 bgnbd_next_order_in(const float8 *params, float8 x, float8 t_x, float8 T);
extern float8 bgnbd_discounted_value(const float8 *params, float8 x, float8 t_x, float8 T, float8 value,
									 float8 horizon, float8 period, float8 rate);

/* paretonbd.c */
extern float8 paretonbd_log_likelihood(const float8 *params, const BtydPoint *points, int64 n, float8 *gradient);
extern BtydFit paretonbd_fit_points(BtydPoint *points, int64 n);
extern float8 paretonbd_p_alive(const float8 *params, float8 x, float8 t_x, float8 T);
extern float8 paretonbd_expected_orders(const float8 *params, float8 t, float8 x, float8 t_x, float8 T);

/* gammagamma.c */
extern float8 gammagamma_log_likelihood(const float8 *params, const BtydPoint *points, int64 n, float8 *gradient);
extern BtydFit gammagamma_fit_points(BtydPoint *points, int64 n);
extern float8 gammagamma_expected_value(const float8 *params, float8 x, float8 mean_value);

#endif
