/*
 * optimize.c -- BFGS for the few parameters of a buy-till-you-die model.
 *
 * The models are fitted on the logarithms of their parameters (all
 * positive), so the search is unconstrained.  Each step goes along the
 * quasi-Newton direction, no farther than MAX_STEP in any coordinate (a
 * factor of e^5 on a parameter), halving the step until it decreases f
 * enough (Armijo); the inverse Hessian estimate is updated only when the
 * curvature is positive, and reset when the direction stops descending.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "predict/btyd.h"

#define MAX_STEP 5.0
#define ARMIJO 1e-4
#define GRADIENT_TOLERANCE 1e-9

static float8
dot(int n, const float8 *u, const float8 *v)
{
	float8		s = 0.0;

	for (int i = 0; i < n; i++)
		s += u[i] * v[i];
	return s;
}

static float8
max_abs(int n, const float8 *v)
{
	float8		m = 0.0;

	for (int i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

static void
reset_to_identity(int n, float8 h[4][4])
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			h[i][j] = i == j ? 1.0 : 0.0;
}

/*
 * Minimizes f from theta (replaced by the best point found).  Converged:
 * the gradient's largest coordinate fell below GRADIENT_TOLERANCE (f is a
 * mean over the customers, so that is relative to the data's size), or f
 * stopped moving beyond its rounding (or no step could lower it) while the
 * gradient was already below 1e-5.  inverse_hessian, if not NULL, is the
 * estimate to start from, and receives the last one (for a fit continued on
 * other data).
 */
BtydOptimum
btyd_minimize(int n, float8 *theta, BtydObjective f, void *arg, int max_iterations,
			  float8 (*inverse_hessian)[4])
{
	BtydOptimum result = {0};
	float8		h[4][4];
	float8		g[4],
				g_new[4],
				d[4],
				s[4],
				y[4],
				trial[4];
	float8		value;

	Assert(n >= 1 && n <= 4);
	value = f(theta, g, arg);
	result.evaluations = 1;
	result.value = value;
	if (!isfinite(value))
		return result;
	if (inverse_hessian)
		memcpy(h, inverse_hessian, sizeof(h));
	else
		reset_to_identity(n, h);
	for (int iteration = 1; iteration <= max_iterations; iteration++)
	{
		float8		slope;
		float8		step = 1.0;
		float8		longest;
		float8		trial_value = NAN;
		bool		accepted = false;
		int			halvings;

		CHECK_FOR_INTERRUPTS();
		result.iterations = iteration;
		if (max_abs(n, g) < GRADIENT_TOLERANCE)
		{
			result.converged = true;
			break;
		}
		for (int i = 0; i < n; i++)
			d[i] = -dot(n, h[i], g);
		slope = dot(n, g, d);
		if (!(slope < 0.0))
		{
			reset_to_identity(n, h);
			for (int i = 0; i < n; i++)
				d[i] = -g[i];
			slope = dot(n, g, d);
		}
		longest = max_abs(n, d);
		if (longest > MAX_STEP)
			step = MAX_STEP / longest;
		for (halvings = 0; halvings < 40; halvings++, step *= 0.5)
		{
			for (int i = 0; i < n; i++)
				trial[i] = theta[i] + step * d[i];
			trial_value = f(trial, g_new, arg);
			result.evaluations++;
			if (isfinite(trial_value) && trial_value <= value + ARMIJO * step * slope)
			{
				accepted = true;
				break;
			}
		}
		if (!accepted)
		{
			/* no lower point along the direction: a minimum to the precision of f */
			result.converged = max_abs(n, g) < 1e-5;
			break;
		}
		for (int i = 0; i < n; i++)
		{
			s[i] = trial[i] - theta[i];
			y[i] = g_new[i] - g[i];
			theta[i] = trial[i];
			g[i] = g_new[i];
		}
		/* f no longer moves beyond its rounding: as good as it gets */
		if (value - trial_value <= 1e-14 * (1.0 + fabs(value)) && max_abs(n, g) < 1e-5)
		{
			value = trial_value;
			result.converged = true;
			break;
		}
		value = trial_value;
		/* a step found only after many halvings: the Hessian estimate misleads, start it again */
		if (halvings > 10)
		{
			reset_to_identity(n, h);
			continue;
		}
		/* H <- (I - rho s y') H (I - rho y s') + rho s s' */
		{
			float8		sy = dot(n, s, y);

			if (sy > 1e-14)
			{
				float8		rho = 1.0 / sy;
				float8		hy[4];
				float8		yhy;

				for (int i = 0; i < n; i++)
					hy[i] = dot(n, h[i], y);
				yhy = dot(n, y, hy);
				for (int i = 0; i < n; i++)
					for (int j = 0; j < n; j++)
						h[i][j] += rho * ((1.0 + rho * yhy) * s[i] * s[j] - hy[i] * s[j] - s[i] * hy[j]);
			}
		}
	}
	result.value = value;
	if (inverse_hessian)
		memcpy(inverse_hessian, h, sizeof(h));
	return result;
}
