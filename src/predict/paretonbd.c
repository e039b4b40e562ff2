/*
 * paretonbd.c -- the Pareto/NBD model (Schmittlein, Morrison & Colombo
 * 1987): while alive a customer buys at a Poisson rate lambda ~ Gamma(r,
 * alpha) and dies at an exponential time of rate mu ~ Gamma(s, beta), at
 * any moment rather than only after a purchase as in BG/NBD.  Its
 * likelihood for (x, t_x, T) is
 *
 *   Gamma(r + x) alpha^r beta^s / Gamma(r)
 *     * [ (alpha + T)^-(r+x) (beta + T)^-s
 *         + s * integral from t_x to T of (alpha + tau)^-(r+x) (beta + tau)^-(s+1) dtau ]
 *
 * (the second term: died at tau between the last purchase and T).  The
 * usual closed form writes the integral as a difference of two Gauss
 * hypergeometric functions, which cancel badly when alpha and beta are close
 * or t_x is near T; here the integral is computed directly, by Gauss-
 * Legendre quadrature in u = log(alpha + tau) over pieces short enough that
 * the integrand changes by at most e^2 on each: a positive integrand, no
 * cancellation, and the gradient's integrals from the same nodes.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "predict/btyd.h"

/* 10-point Gauss-Legendre nodes and weights on [-1, 1] (the positive half) */
static const float8 gl_node[5] = {0.1488743389816312, 0.4333953941292472, 0.6794095682990244,
								   0.8650633666889845, 0.9739065285171717};
static const float8 gl_weight[5] = {0.2955242247147529, 0.2692667193099963, 0.2190863625159820,
									 0.1494513491505806, 0.0666713443086881};

#define MAX_PIECES 4096

/* The integral and its derivatives in r, alpha, s, beta, each times exp(-scale). */
typedef struct Integral
{
	float8		value;
	float8		d[4];
} Integral;

/*
 * integral from t_x to T of (alpha + tau)^-(r+x) (beta + tau)^-(s+1) dtau,
 * scaled by exp(-scale), with the integrals of its derivatives.  In
 * v = log((alpha + tau) / (alpha + t_x)): tau - t_x = (alpha + t_x)
 * expm1(v), so beta + tau is a sum of non-negative terms whatever alpha's
 * size (alpha + tau - alpha would cancel).
 */
static void
death_integral(float8 r, float8 alpha, float8 s, float8 beta, float8 x, float8 t_x, float8 T,
			   float8 scale, Integral *out)
{
	float8		base = alpha + t_x;
	float8		log_base = log(base);
	float8		v1 = log1p((T - t_x) / base);
	float8		rate = fabs(r + x - 1) + (s + 1) * Max(1.0, alpha / beta);
	float8		pieces_wanted = ceil(rate * v1 / 2);
	int			pieces = (int) Max(Min(pieces_wanted, MAX_PIECES), 1);
	float8		width;

	memset(out, 0, sizeof(*out));
	if (!(T > t_x))
		return;
	width = v1 / pieces;
	for (int p = 0; p < pieces; p++)
	{
		float8		mid = (p + 0.5) * width;

		for (int k = 0; k < 10; k++)
		{
			float8		v = mid + (k < 5 ? -gl_node[k] : gl_node[k - 5]) * width / 2;
			float8		w = gl_weight[k < 5 ? k : k - 5] * width / 2;
			float8		u = log_base + v;	/* log(alpha + tau) */
			float8		tau = t_x + base * expm1(v);
			float8		log_beta_tau = log(beta + tau);
			/* the integrand times dtau/dv = alpha + tau = e^u */
			float8		f = w * exp(u - (r + x) * u - (s + 1) * log_beta_tau - scale);

			out->value += f;
			out->d[0] -= u * f;
			out->d[1] -= (r + x) / (alpha + tau) * f;
			out->d[2] -= log_beta_tau * f;
			out->d[3] -= (s + 1) / (beta + tau) * f;
		}
	}
}

/*
 * One customer's log-likelihood, its gradient in (r, alpha, s, beta) if
 * gradient is not NULL, and P(alive) if alive is not NULL.
 */
static float8
customer_log_likelihood(const float8 *params, float8 x, float8 t_x, float8 T, float8 *gradient, float8 *alive)
{
	float8		r = params[0],
				alpha = params[1],
				s = params[2],
				beta = params[3];
	float8		log_first = -(r + x) * log(alpha + T) - s * log(beta + T);
	/* the integrand is largest at t_x */
	float8		scale = Max(log_first, -(r + x) * log(alpha + t_x) - (s + 1) * log(beta + t_x));
	float8		first = exp(log_first - scale);
	float8		bracket;
	Integral	in;

	death_integral(r, alpha, s, beta, x, t_x, T, scale, &in);
	bracket = first + s * in.value;
	if (alive)
		*alive = first / bracket;
	if (gradient)
	{
		gradient[0] = btyd_digamma(r + x) - btyd_digamma(r) + log(alpha) +
			(-log(alpha + T) * first + s * in.d[0]) / bracket;
		gradient[1] = r / alpha + (-(r + x) / (alpha + T) * first + s * in.d[1]) / bracket;
		gradient[2] = log(beta) + (-log(beta + T) * first + in.value + s * in.d[2]) / bracket;
		gradient[3] = s / beta + (-s / (beta + T) * first + s * in.d[3]) / bracket;
	}
	return lgamma(r + x) - lgamma(r) + r * log(alpha) + s * log(beta) + scale + log(bracket);
}

float8
paretonbd_log_likelihood(const float8 *params, const BtydPoint *points, int64 n, float8 *gradient)
{
	float8		ll = 0.0;
	float8		g[4] = {0, 0, 0, 0};

	for (int64 i = 0; i < n; i++)
	{
		float8		gi[4];

		if ((i & 0x3FFF) == 0x3FFF)
			CHECK_FOR_INTERRUPTS();
		ll += points[i].weight *
			customer_log_likelihood(params, points[i].x, points[i].t, points[i].T, gradient ? gi : NULL, NULL);
		if (gradient)
			for (int j = 0; j < 4; j++)
				g[j] += points[i].weight * gi[j];
	}
	if (gradient)
		memcpy(gradient, g, sizeof(g));
	return ll;
}

/* The maximum-likelihood parameters from three starts, alpha and beta in units of the mean observation time. */
BtydFit
paretonbd_fit_points(BtydPoint *points, int64 n)
{
	static const float8 starts[3][4] = {{1.0, 1.0, 1.0, 1.0}, {0.5, 0.25, 0.5, 0.25}, {2.0, 1.0, 2.0, 4.0}};

	return btyd_fit("segment.paretonbd_fit", 4, paretonbd_log_likelihood, starts, 3, (1 << 1) | (1 << 3),
					btyd_mean(points, n, true), points, n);
}

/* P(alive | x, t_x, T): the share of the likelihood in which the customer has not died by T. */
float8
paretonbd_p_alive(const float8 *params, float8 x, float8 t_x, float8 T)
{
	float8		alive;

	(void) customer_log_likelihood(params, x, t_x, T, NULL, &alive);
	return alive;
}

/*
 * E[purchases in (T, T + t] | x, t_x, T] = P(alive) (r + x) (beta + T) /
 * ((alpha + T) (s - 1)) (1 - ((beta + T) / (beta + T + t))^(s - 1)), with its
 * limit (r + x) / (alpha + T) (beta + T) log(1 + t / (beta + T)) at s = 1.
 */
float8
paretonbd_expected_orders(const float8 *params, float8 t, float8 x, float8 t_x, float8 T)
{
	float8		r = params[0],
				alpha = params[1],
				s = params[2],
				beta = params[3];
	float8		log_ratio = log1p(t / (beta + T));	/* log((beta + T + t) / (beta + T)) */
	float8		shape;

	if (fabs(s - 1) < 1e-8)
		shape = log_ratio;
	else
		shape = -expm1(-(s - 1) * log_ratio) / (s - 1);
	return paretonbd_p_alive(params, x, t_x, T) * (r + x) / (alpha + T) * (beta + T) * shape;
}
