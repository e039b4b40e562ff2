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
		float8		log_T = log(alpha + p->T);
		float8		log_t = log(alpha + p->t);
		float8		l3,
					l4,
					top,
					sum,
					w3,
					w4;

		if (p->x != xt.x)
			x_terms(&xt, p->x, r, a, b);
		l3 = -(r + p->x) * log_T;
		l4 = xt.log_second - (r + p->x) * log_t;
		top = Max(l3, l4);
		sum = top + log(exp(l3 - top) + exp(l4 - top));
		ll += p->weight * (r * log_alpha + xt.log_beta_gamma + sum);
		if (gradient)
		{
			w3 = exp(l3 - sum);
			w4 = exp(l4 - sum);
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

typedef struct Objective
{
	const BtydPoint *points;
	int64		n;
	float8		weight;			/* the customers: the objective is a mean */
} Objective;

/* minus the mean log-likelihood at theta = the parameters' logarithms */
static float8
objective(const float8 *theta, float8 *gradient, void *arg)
{
	Objective  *o = arg;
	float8		params[4];
	float8		g[4];
	float8		ll;

	for (int i = 0; i < 4; i++)
	{
		params[i] = exp(theta[i]);
		if (!(params[i] > 0.0) || !isfinite(params[i]))
			return NAN;
	}
	ll = bgnbd_log_likelihood(params, o->points, o->n, g);
	for (int i = 0; i < 4; i++)
		gradient[i] = -g[i] * params[i] / o->weight;
	return -ll / o->weight;
}

/*
 * The maximum-likelihood parameters from three starts (the rate's scale
 * from the mean observation time), the best kept.  points must be sorted
 * by x (btyd_compact).
 */
BtydFit
bgnbd_fit_points(BtydPoint *points, int64 n)
{
	static const float8 starts[3][4] = {{1.0, 1.0, 1.0, 1.0}, {0.3, 0.25, 0.5, 2.0}, {3.0, 4.0, 2.0, 8.0}};
	Objective	o = {points, n, 0.0};
	float8		mean_T = 0.0;
	BtydFit		best = {0};

	best.nparams = 4;
	best.log_likelihood = -INFINITY;
	for (int64 i = 0; i < n; i++)
	{
		o.weight += points[i].weight;
		mean_T += points[i].weight * points[i].T;
	}
	best.customers = (int64) o.weight;
	mean_T = Max(mean_T / o.weight, 1e-6);
	for (int s = 0; s < lengthof(starts); s++)
	{
		float8		theta[4];
		BtydOptimum opt;

		for (int i = 0; i < 4; i++)
			theta[i] = log(starts[s][i] * (i == 1 ? mean_T : 1.0));
		opt = btyd_minimize(4, theta, objective, &o, 500);
		elog(DEBUG1, "bgnbd start %d: mean -log-likelihood %g after %d iterations and %d evaluations, %s",
			 s, opt.value, opt.iterations, opt.evaluations, opt.converged ? "converged" : "not converged");
		if (!isfinite(opt.value))
			continue;
		/* a converged start beats one that was not, then the higher likelihood */
		if ((opt.converged && !best.converged) ||
			(opt.converged == best.converged && -opt.value * o.weight > best.log_likelihood))
		{
			for (int i = 0; i < 4; i++)
				best.params[i] = exp(theta[i]);
			best.log_likelihood = -opt.value * o.weight;
			best.iterations = opt.iterations;
			best.converged = opt.converged;
		}
	}
	/* the likelihood at the parameters, summed once more without the mean's rounding */
	if (isfinite(best.log_likelihood))
		best.log_likelihood = bgnbd_log_likelihood(best.params, points, n, NULL);
	return best;
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
 * E[purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10);
 * NaN when 2F1 does not converge.
 */
float8
bgnbd_expected_orders(const float8 *params, float8 t, float8 x, float8 t_x, float8 T)
{
	float8		r = params[0],
				alpha = params[1],
				a = params[2],
				b = params[3];
	float8		f;
	float8		numerator;

	if (t == 0)
		return 0.0;
	if (!btyd_hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t), &f))
		return NAN;
	numerator = (a + b + x - 1) / (a - 1) * (1.0 - exp((r + x) * (log(alpha + T) - log(alpha + T + t))) * f);
	return numerator * bgnbd_p_alive(params, x, t_x, T);
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

	for (int64 k = 1; k <= periods; k++)
	{
		float8		upto = bgnbd_expected_orders(params, Min(k * period, horizon), x, t_x, T);

		if (isnan(upto))
			return NAN;
		total += (upto - before) * value / pow(1.0 + rate, (float8) k);
		before = upto;
	}
	return total;
}
