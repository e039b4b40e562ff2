/*
 * special_functions.c -- the digamma function and the Gauss hypergeometric
 * function 2F1, which the C library lacks.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "predict/btyd.h"

/*
 * psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10,
 * then the asymptotic series in 1/x^2 (its error there is below 1e-16).
 */
float8
btyd_digamma(float8 x)
{
	float8		shift = 0.0;
	float8		inv2;

	if (!(x > 0.0) || isinf(x))
		return x == INFINITY ? INFINITY : NAN;
	while (x < 10.0)
	{
		shift -= 1.0 / x;
		x += 1.0;
	}
	inv2 = 1.0 / (x * x);
	return shift + log(x) - 0.5 / x -
		inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132)))));
}

/*
 * 2F1(a, b; c; z) for 0 <= z < 1 and c > 0 by its power series, each term
 * from the last.  The ratio of successive terms tends to z, so once it is
 * below 1 the rest of the sum is at most term * q / (1 - q), q the larger of
 * the next ratio and z: the sum stops when that cannot move it.  Near z = 1
 * that takes long; it gives up (false) after a million terms rather than
 * return a partial sum.
 */
bool
btyd_hyp2f1(float8 a, float8 b, float8 c, float8 z, float8 *result)
{
	float8		term = 1.0;
	float8		sum = 1.0;

	if (!(z >= 0.0 && z < 1.0) || !(c > 0.0))
		return false;
	for (int n = 0; n < 1000000; n++)
	{
		float8		next_ratio;
		float8		q;

		if ((n & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
		sum += term;
		next_ratio = fabs((a + n + 1) * (b + n + 1) / ((c + n + 1) * (n + 2)) * z);
		q = Max(next_ratio, z);
		if (q < 1.0 && fabs(term) * q / (1.0 - q) <= 1e-16 * fabs(sum))
		{
			*result = sum;
			return isfinite(sum);
		}
	}
	return false;
}
