/*
 * bgnbd.c -- the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your
 * customers the easy way"): while alive a customer buys at a Poisson rate
 * lambda ~ Gamma(r, alpha); after each purchase he drops out with
 * probability p ~ Beta(a, b).  Its likelihood for a customer with x repeat
 * purchases, the last at t_x, observed for T, is
 *
 *   B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + T)^(r + x))
 *   + [x > 0] B(a + 1, b + x - 1) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + t_x)^(r + x))
 *
 * summed in logarithms (the two terms through log-sum-exp), with the
 * gradient in closed form.  The terms that depend on x alone are computed
 * once per distinct x (the points come sorted by x).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "predict/btyd.h"

/* The x-only parts of a customer's log-likelihood and its derivatives. */
typedef struct XTerms
{
	float8		x;
	float8		log_beta_gamma;	/* log Gamma(r+x)/Gamma(r) + log B(a, b+x)/B(a, b) */
	float8		log_second;		/* log a/(b+x-1): the second term's factor */
	float8		d_r;			/* psi(r+x) - psi(r) */
	float8		d_a;			/* psi(a+b) - psi(a+b+x) */
	float8		d_b;			/* psi(a+b) + psi(b+x) - psi(b) - psi(a+b+x) */
} XTerms;

static void
x_terms(XTerms *xt, float8 x, float8 r, float8 a, float8 b)
{
	xt->x = x;
	xt->log_beta_gamma = lgamma(r + x) - lgamma(r) + lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
	xt->log_second = x > 0 ? log(a) - log(b + x - 1) : -INFINITY;
	xt->d_r = btyd_digamma(r + x) - btyd_digamma(r);
	xt->d_a = btyd_digamma(a + b) - btyd_digamma(a + b + x);
	xt->d_b = btyd_digamma(a + b) + btyd_digamma(b + x) - btyd_digamma(b) - btyd_digamma(a + b + x);
}

/*
 * The log-likelihood of the weighted points (sorted by x) at params (r,
 * alpha, a, b), and its gradient in the parameters if gradient is not NULL.
 */
float8
bgnbd_log_likelihood(const float8 *params, const BtydPoint *points, int64 n, float8 *gradient)
{
	float8		r = params[0],
				alpha = params[1],
				a = params[2],
				b = params[3];
	float8		log_alpha = log(alpha);
	float8		ll = 0.0;
	float8		g[4] = {0, 0, 0, 0};
	XTerms		xt = {0};

	xt.x = -1;
	for (int64 i = 0; i < n; i++)
	{
		const BtydPoint *p = &points[i];
		float8		log_T;
		float8		log_t = p->x > 0 ? log(alpha + p->t) : 0.0;
		float8		l3,
					l4,
					sum,
					w3 = 1.0,
					w4 = 0.0;

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		log_T = log(alpha + p->T);
		if (p->x != xt.x)
			x_terms(&xt, p->x, r, a, b);
		l3 = -(r + p->x) * log_T;
		sum = l3;
		if (p->x > 0)
		{
			/* log(e^l3 + e^l4) and each term's share, with one exp */
			float8		e;

			l4 = xt.log_second - (r + p->x) * log_t;
			if (l4 > l3)
			{
				e = exp(l3 - l4);
				sum = l4 + log1p(e);
				w4 = 1.0 / (1.0 + e);
				w3 = e * w4;
			}
			else
			{
				e = exp(l4 - l3);
				sum = l3 + log1p(e);
				w3 = 1.0 / (1.0 + e);
				w4 = e * w3;
			}
		}
		ll += p->weight * (r * log_alpha + xt.log_beta_gamma + sum);
		if (gradient)
		{
			g[0] += p->weight * (xt.d_r + log_alpha - w3 * log_T - w4 * log_t);
			g[1] += p->weight * (r / alpha - (r + p->x) * (w3 / (alpha + p->T) + w4 / (alpha + p->t)));
			g[2] += p->weight * (xt.d_a + w4 / a);
			g[3] += p->weight * (xt.d_b - (p->x > 0 ? w4 / (b + p->x - 1) : 0.0));
		}
	}
	if (gradient)
		memcpy(gradient, g, sizeof(g));
	return ll;
}

/*
 * The maximum-likelihood parameters from three starts (alpha, the rate's
 * scale, in units of the mean observation time).  points must be sorted by
 * x (btyd_compact).
 */
BtydFit
bgnbd_fit_points(BtydPoint *points, int64 n)
{
	static const float8 starts[3][4] = {{1.0, 1.0, 1.0, 1.0}, {0.3, 0.25, 0.5, 2.0}, {3.0, 4.0, 2.0, 8.0}};

	return btyd_fit("segment.bgnbd_fit", 4, bgnbd_log_likelihood, starts, 3, 1 << 1, btyd_mean(points, n, true),
					points, n);
}

/* P(alive | x, t_x, T): 1 for a customer without repeat purchases. */
float8
bgnbd_p_alive(const float8 *params, float8 x, float8 t_x, float8 T)
{
	float8		r = params[0],
				alpha = params[1],
				a = params[2],
				b = params[3];

	if (x == 0)
		return 1.0;
	return 1.0 / (1.0 + exp(log(a) - log(b + x - 1) + (r + x) * (log(alpha + T) - log(alpha + t_x))));
}

/*
 * E[purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10):
 * P(alive) (a + b + x - 1) / (a - 1) [1 - (1 - z)^(r+x) 2F1(r + x, b + x; a + b + x - 1; z)]
 * with z = t / (alpha + T + t).  Euler's transformation turns the bracket
 * into (1 - z)^(a-1) 2F1(a + b - 1 - r, a - 1; C; z), C = a + b + x - 1, and
 * then the whole into
 *   C (1 - (1 - z)^(a-1)) / (a - 1) - (1 - z)^(a-1) S(a + b - 1 - r, a, C + 1; z)
 * (btyd_hyp2f1_tail): defined at a = 1 (the first term's limit is
 * -log(1 - z) C) and for C <= 0 (a + b <= 1 without repeat purchases), where
 * the paper's form divides by zero or has no series.  NaN when the series
 * does not converge.
 */
float8
bgnbd_expected_orders(const float8 *params, float8 t, float8 x, float8 t_x, float8 T)
{
	float8		r = params[0],
				alpha = params[1],
				a = params[2],
				b = params[3];
	float8		c = a + b + x - 1;
	float8		z = t / (alpha + T + t);
	float8		log_rest = log1p(-z);	/* log(1 - z) */
	float8		first;
	float8		tail;

	if (t == 0)
		return 0.0;
	if (!btyd_hyp2f1_tail(a + b - 1 - r, a, c + 1, z, &tail))
		return NAN;
	/* (1 - (1 - z)^(a-1)) / (a - 1), and its limit -log(1 - z) at a = 1 */
	first = fabs(a - 1) < 1e-12 ? -log_rest : -expm1((a - 1) * log_rest) / (a - 1);
	return (c * first - exp((a - 1) * log_rest) * tail) * bgnbd_p_alive(params, x, t_x, T);
}

/*
 * bgnbd_expected_orders at n horizons t[0..n) (each > 0) at once, the
 * series shared: the same values.  False when one cannot be computed.
 */
bool
bgnbd_expected_orders_many(const float8 *params, int n, const float8 *t, float8 x, float8 t_x, float8 T,
						   float8 *result)
{
	float8		r = params[0],
				alpha = params[1],
				a = params[2],
				b = params[3];
	float8		c = a + b + x - 1;
	float8		alive = bgnbd_p_alive(params, x, t_x, T);
	float8	   *z = palloc(sizeof(float8) * n);
	float8	   *tail = palloc(sizeof(float8) * n);
	bool		ok;

	for (int i = 0; i < n; i++)
		z[i] = t[i] / (alpha + T + t[i]);
	ok = btyd_hyp2f1_tail_many(a + b - 1 - r, a, c + 1, z, n, tail);
	for (int i = 0; i < n && ok; i++)
	{
		float8		log_rest = log1p(-z[i]);
		float8		first = fabs(a - 1) < 1e-12 ? -log_rest : -expm1((a - 1) * log_rest) / (a - 1);

		result[i] = (c * first - exp((a - 1) * log_rest) * tail[i]) * alive;
	}
	pfree(z);
	pfree(tail);
	return ok;
}

/*
 * P(at least one purchase in (T, T + t] | x, t_x, T): alive (a customer
 * drops out only just after a purchase), then a first purchase within t at
 * the rate Gamma(r + x, alpha + T) gives him:
 * P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x)).
 */
float8
bgnbd_purchase_probability(const float8 *params, float8 t, float8 x, float8 t_x, float8 T)
{
	float8		r = params[0],
				alpha = params[1];

	return -expm1((r + x) * (log(alpha + T) - log(alpha + T + t))) * bgnbd_p_alive(params, x, t_x, T);
}

/*
 * The time from T by which a purchase is more likely than not:
 * P(alive) (1 - ((alpha + T) / (alpha + T + t))^(r + x)) = 1/2, the rate of
 * a customer still active being Gamma(r + x, alpha + T) given his history.
 * NaN when P(alive) <= 1/2: a customer more likely gone than not has none.
 */
float8
bgnbd_next_order_in(const float8 *params, float8 x, float8 t_x, float8 T)
{
	float8		r = params[0],
				alpha = params[1];
	float8		alive = bgnbd_p_alive(params, x, t_x, T);

	if (!(alive > 0.5))
		return NAN;
	return (alpha + T) * expm1(-log1p(-0.5 / alive) / (r + x));
}

/*
 * The expected value of the next horizon's purchases, discounted: over
 * periods k = 1..ceil(horizon / period), the purchases expected in period k
 * (the last cut at the horizon) times value, divided by (1 + rate)^k.
 * NaN when a purchase expectation cannot be computed.
 */
float8
bgnbd_discounted_value(const float8 *params, float8 x, float8 t_x, float8 T, float8 value,
					   float8 horizon, float8 period, float8 rate)
{
	float8		total = 0.0;
	float8		before = 0.0;
	int64		periods = (int64) ceil(horizon / period);
	float8	   *ends;
	float8	   *upto;

	if (periods <= 0)
		return 0.0;
	ends = palloc(sizeof(float8) * periods);
	upto = palloc(sizeof(float8) * periods);
	for (int64 k = 1; k <= periods; k++)
		ends[k - 1] = Min(k * period, horizon);
	if (!bgnbd_expected_orders_many(params, (int) periods, ends, x, t_x, T, upto))
		total = NAN;
	for (int64 k = 1; k <= periods && !isnan(total); k++)
	{
		total += (upto[k - 1] - before) * value / pow(1.0 + rate, (float8) k);
		before = upto[k - 1];
	}
	pfree(ends);
	pfree(upto);
	return total;
}
