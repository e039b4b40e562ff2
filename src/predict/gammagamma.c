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

#include "miscadmin.h"

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

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
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

/* The maximum-likelihood (p, q, gamma) from three starts, gamma in units of the mean spend. */
BtydFit
gammagamma_fit_points(BtydPoint *points, int64 n)
{
	static const float8 starts[3][4] = {{1.0, 1.0, 1.0}, {5.0, 3.0, 2.0}, {0.5, 4.0, 10.0}};

	return btyd_fit("segment.gammagamma_fit", 3, gammagamma_log_likelihood, starts, 3, 1 << 2,
					btyd_mean(points, n, false), points, n);
}

/*
 * E[value of an order | x, zbar]: the posterior mean spend, a weighted mean
 * of the population's p gamma / (q - 1) and the customer's zbar.  With x = 0
 * the population's mean.  NaN where the mean is infinite: q <= 1 for x = 0,
 * p x + q <= 1 otherwise.
 */
float8
gammagamma_expected_value(const float8 *params, float8 x, float8 mean_value)
{
	float8		p = params[0],
				q = params[1],
				gamma = params[2];

	if (x == 0)
		return q > 1 ? p * gamma / (q - 1) : NAN;
	if (!(p * x + q > 1))
		return NAN;
	return p * (gamma + x * mean_value) / (p * x + q - 1);
}
