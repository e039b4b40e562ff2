/*
 * special_functions.c -- the digamma function and the Gauss hypergeometric
 * function 2F1 (as the tail of its series), which the C library lacks.
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
 * S(A, a, c; z) = sum over n >= 1 of (A)_n (a)_(n-1) z^n / ((c)_(n-1) n!),
 * for 0 <= z < 1 and c > 0: the Gauss hypergeometric function as
 * 2F1(A, a - 1; c - 1; z) = 1 + (a - 1) / (c - 1) S, written so that neither
 * a = 1 nor c = 1 divides by zero.  Each term from the last; their ratio
 * tends to z, so once it is below 1 the rest of the sum is at most
 * term * q / (1 - q), q the larger of the next ratio and z: the sum stops
 * when that cannot move it.  Near z = 1 that takes long; it gives up (false)
 * after a million terms rather than return a partial sum.
 */
bool
btyd_hyp2f1_tail(float8 A, float8 a, float8 c, float8 z, float8 *result)
{
	float8		term = A * z;
	float8		sum = term;

	if (!(z >= 0.0 && z < 1.0) || !(c > 0.0))
		return false;
	for (int n = 1; n < 1000000; n++)
	{
		float8		next_ratio = (A + n) * (a + n - 1) / ((c + n - 1) * (n + 1)) * z;
		float8		q = Max(fabs(next_ratio), z);

		if ((n & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		if (term == 0.0 || (q < 1.0 && fabs(term) * q / (1.0 - q) <= 1e-16 * fabs(sum)))
		{
			*result = sum;
			return isfinite(sum);
		}
		term *= next_ratio;
		sum += term;
	}
	return false;
}

/*
 * S(A, a, c; z[i]) for n values of z at once: their terms share the
 * coefficients, so the sums cost one series and a multiply-add per further
 * z and term.  The series stops where btyd_hyp2f1_tail stops that of the
 * largest z (whose sum is then the same); the smaller ones, whose terms
 * fall faster, have had more terms than they need.  False when the largest
 * does not converge.
 */
bool
btyd_hyp2f1_tail_many(float8 A, float8 a, float8 c, const float8 *z, int n, float8 *result)
{
	float8	   *term = palloc(sizeof(float8) * n);
	int			largest = 0;
	bool		ok = c > 0.0;

	for (int i = 0; i < n && ok; i++)
	{
		ok = z[i] >= 0.0 && z[i] < 1.0;
		term[i] = result[i] = A * z[i];
		if (z[i] > z[largest])
			largest = i;
	}
	for (int k = 1; ok; k++)
	{
		float8		ratio = (A + k) * (a + k - 1) / ((c + k - 1) * (k + 1));
		float8		next_ratio = ratio * z[largest];
		float8		q = Max(fabs(next_ratio), z[largest]);

		if ((k & 0x3FF) == 0x3FF)
			CHECK_FOR_INTERRUPTS();
		if (term[largest] == 0.0 || (q < 1.0 && fabs(term[largest]) * q / (1.0 - q) <= 1e-16 * fabs(result[largest])))
			break;
		if (k == 1000000)
			ok = false;
		for (int i = 0; i < n; i++)
		{
			term[i] *= ratio * z[i];
			result[i] += term[i];
		}
	}
	for (int i = 0; i < n && ok; i++)
		ok = isfinite(result[i]);
	pfree(term);
	return ok;
}
