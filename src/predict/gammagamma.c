/*
 * gammagamma.c -- the Gamma-Gamma model of spend per order (Fader, Hardie &
 * Lee 2005, "RFM and CLV", and their note "The Gamma-Gamma model of monetary
 * value"): a customer's order values are Gamma(p, nu) around his own mean
 * p/nu, and nu ~ Gamma(q, gamma) across customers.  The mean zbar of his x
 * repeat orders has the likelihood
 *
 *   Gamma(p x + q) / (Gamma(p x) Gamma(q)) * gamma^q zbar^(p x - 1) x^(p x) / (gamma + x zbar)^(p x + q)
 *
 * It assumes spend independent of the purchase frequency; fitted on the
 * customers with repeat purchases only (the first order's value is left out,
 * as acquisition orders often differ).
 */
#include "postgres.h"

#include <math.h>

#include "predict/btyd.h"

/*
 * The log-likelihood of the weighted points (x, zbar in t; sorted by x) at
 * (p, q, gamma), and its gradient if gradient is not NULL.
 */
float8
gammagamma_log_likelihood(const float8 *params, const BtydPoint *points, int64 n, float8 *gradient)
{
	float8		p = params[0],
				q = params[1],
				gamma = params[2];
	float8		log_gamma = log(gamma);
	float8		digamma_q = btyd_digamma(q);
	float8		lgamma_q = lgamma(q);
	float8		ll = 0.0;
	float8		g[3] = {0, 0, 0};
	float8		x = -1,
				log_x = 0,
				x_part = 0,
				d_px = 0,
				d_pxq = 0;

	for (int64 i = 0; i < n; i++)
	{
		const BtydPoint *pt = &points[i];
		float8		log_mean = log(pt->t);
		float8		log_total = log(gamma + pt->x * pt->t);

		if (pt->x != x)
		{
			x = pt->x;
			log_x = log(x);
			x_part = lgamma(p * x + q) - lgamma(p * x) - lgamma_q + q * log_gamma + p * x * log_x;
			d_pxq = btyd_digamma(p * x + q);
			d_px = btyd_digamma(p * x);
		}
		ll += pt->weight * (x_part + (p * x - 1) * log_mean - (p * x + q) * log_total);
		if (gradient)
		{
			g[0] += pt->weight * x * (d_pxq - d_px + log_mean + log_x - log_total);
			g[1] += pt->weight * (d_pxq - digamma_q + log_gamma - log_total);
			g[2] += pt->weight * (q / gamma - (p * x + q) / (gamma + x * pt->t));
		}
	}
	if (gradient)
		memcpy(gradient, g, sizeof(g));
	return ll;
}

typedef struct Objective
{
	const BtydPoint *points;
	int64		n;
	float8		weight;
} Objective;

static float8
objective(const float8 *theta, float8 *gradient, void *arg)
{
	Objective  *o = arg;
	float8		params[3];
	float8		g[3];
	float8		ll;

	for (int i = 0; i < 3; i++)
	{
		params[i] = exp(theta[i]);
		if (!(params[i] > 0.0) || !isfinite(params[i]))
			return NAN;
	}
	ll = gammagamma_log_likelihood(params, o->points, o->n, g);
	for (int i = 0; i < 3; i++)
		gradient[i] = -g[i] * params[i] / o->weight;
	return -ll / o->weight;
}

/* The maximum-likelihood (p, q, gamma) from three starts scaled by the mean spend. */
BtydFit
gammagamma_fit_points(BtydPoint *points, int64 n)
{
	static const float8 starts[3][3] = {{1.0, 1.0, 1.0}, {5.0, 3.0, 2.0}, {0.5, 4.0, 10.0}};
	Objective	o = {points, n, 0.0};
	float8		mean_value = 0.0;
	BtydFit		best = {0};

	best.nparams = 3;
	best.log_likelihood = -INFINITY;
	for (int64 i = 0; i < n; i++)
	{
		o.weight += points[i].weight;
		mean_value += points[i].weight * points[i].t;
	}
	best.customers = (int64) o.weight;
	mean_value = Max(mean_value / o.weight, 1e-6);
	for (int s = 0; s < lengthof(starts); s++)
	{
		float8		theta[3];
		BtydOptimum opt;

		theta[0] = log(starts[s][0]);
		theta[1] = log(starts[s][1]);
		theta[2] = log(starts[s][2] * mean_value);
		opt = btyd_minimize(3, theta, objective, &o, 500);
		elog(DEBUG1, "gammagamma start %d: mean -log-likelihood %g after %d iterations and %d evaluations, %s",
			 s, opt.value, opt.iterations, opt.evaluations, opt.converged ? "converged" : "not converged");
		if (!isfinite(opt.value))
			continue;
		if ((opt.converged && !best.converged) ||
			(opt.converged == best.converged && -opt.value * o.weight > best.log_likelihood))
		{
			for (int i = 0; i < 3; i++)
				best.params[i] = exp(theta[i]);
			best.log_likelihood = -opt.value * o.weight;
			best.iterations = opt.iterations;
			best.converged = opt.converged;
		}
	}
	if (isfinite(best.log_likelihood))
		best.log_likelihood = gammagamma_log_likelihood(best.params, points, n, NULL);
	return best;
}

/*
 * E[value of an order | x, zbar]: the posterior mean spend, a weighted mean
 * of the population's p gamma / (q - 1) and the customer's zbar.  With x = 0
 * the population's mean (NaN when q <= 1: it has none).
 */
float8
gammagamma_expected_value(const float8 *params, float8 x, float8 mean_value)
{
	float8		p = params[0],
				q = params[1],
				gamma = params[2];

	if (x == 0)
		return q > 1 ? p * gamma / (q - 1) : NAN;
	return p * (gamma + x * mean_value) / (p * x + q - 1);
}
