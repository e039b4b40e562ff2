/*
 * btyd_fit.c -- maximum likelihood for any of the models: minus the mean
 * log-likelihood minimized over the parameters' logarithms (btyd_minimize)
 * from several starts, the best kept.
 *
 * On many distinct summaries the starts run on a systematic sample (every
 * k-th point of the summaries sorted by x, t_x, T, so that it spreads over
 * them as they are) and only the best is then polished on all of them: a few full passes instead
 * of a hundred per start.  The sample depends only on the points, so any
 * plan gives the same model.
 */
#include "postgres.h"

#include <math.h>

#include "predict/btyd.h"

/* past this many distinct summaries the starts run on a sample of about this size */
#define SAMPLE_POINTS 20000

typedef struct Objective
{
	BtydLogLikelihood log_likelihood;
	int			nparams;
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

	for (int i = 0; i < o->nparams; i++)
	{
		params[i] = exp(theta[i]);
		if (!(params[i] > 0.0) || !isfinite(params[i]))
			return NAN;
	}
	ll = o->log_likelihood(params, o->points, o->n, g);
	for (int i = 0; i < o->nparams; i++)
		gradient[i] = -g[i] * params[i] / o->weight;
	return -ll / o->weight;
}

static Objective
objective_over(BtydLogLikelihood ll, int nparams, const BtydPoint *points, int64 n)
{
	Objective	o = {ll, nparams, points, n, 0.0};

	for (int64 i = 0; i < n; i++)
		o.weight += points[i].weight;
	return o;
}

/*
 * The fit of the weighted points (sorted by x, btyd_compact) from the given
 * starts (parameters, not logarithms; those whose bit is set in scaled are
 * multiplied by scale, the data's time or money unit).  log_likelihood
 * stays -Infinity when no start reached a finite likelihood.
 */
BtydFit
btyd_fit(const char *model, int nparams, BtydLogLikelihood ll, const float8 (*starts)[4], int nstarts,
		 uint32 scaled, float8 scale, const BtydPoint *points, int64 n)
{
	Objective	all = objective_over(ll, nparams, points, n);
	Objective	sample = all;
	BtydPoint  *sampled = NULL;
	BtydFit		best = {0};
	float8		best_theta[4] = {0};
	float8		best_h[4][4] = {{0}};
	float8		best_value = INFINITY;
	bool		best_converged = false;
	bool		found = false;

	best.nparams = nparams;
	best.log_likelihood = -INFINITY;
	/* weights are whole numbers up to 2^53 each: their sum counts exactly below 2^53 */
	if (!(all.weight <= 9007199254740992.0))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the summaries weigh %g customers, more than 2^53", model, all.weight),
				 errdetail("A fit counts at most 9,007,199,254,740,992 customers."),
				 errhint("Check the weights of a state built from its text form.")));
	best.customers = (int64) all.weight;
	if (n > 2 * SAMPLE_POINTS)
	{
		int64		step = n / SAMPLE_POINTS;
		int64		m = 0;

		sampled = palloc(sizeof(BtydPoint) * (n / step + 1));
		for (int64 i = 0; i < n; i += step)
			sampled[m++] = points[i];
		sample = objective_over(ll, nparams, sampled, m);
	}
	for (int s = 0; s < nstarts; s++)
	{
		float8		theta[4];
		float8		h[4][4];
		BtydOptimum opt;

		for (int i = 0; i < nparams; i++)
		{
			theta[i] = log(starts[s][i] * ((scaled & (1 << i)) ? scale : 1.0));
			for (int j = 0; j < nparams; j++)
				h[i][j] = i == j ? 1.0 : 0.0;
		}
		opt = btyd_minimize(nparams, theta, objective, &sample, 500, h);
		elog(DEBUG1, "%s start %d%s: mean -log-likelihood %g after %d iterations and %d evaluations, %s",
			 model, s, sampled ? " (on the sample)" : "", opt.value, opt.iterations, opt.evaluations,
			 opt.converged ? "converged" : "not converged");
		if (!isfinite(opt.value))
			continue;
		/* a converged start beats one that was not, then the lower value */
		if (!found || (opt.converged && !best_converged) ||
			(opt.converged == best_converged && opt.value < best_value))
		{
			memcpy(best_theta, theta, sizeof(theta));
			memcpy(best_h, h, sizeof(h));
			best_value = opt.value;
			best_converged = opt.converged;
			best.iterations = opt.iterations;
			found = true;
		}
	}
	if (!found)
		return best;
	if (sampled)
	{
		/* the sample's curvature is the whole's, nearly: its Hessian estimate to start from */
		BtydOptimum opt = btyd_minimize(nparams, best_theta, objective, &all, 500, best_h);

		elog(DEBUG1, "%s polished on all %lld points: mean -log-likelihood %g after %d iterations and %d evaluations, %s",
			 model, (long long) n, opt.value, opt.iterations, opt.evaluations,
			 opt.converged ? "converged" : "not converged");
		if (!isfinite(opt.value))
			return best;
		best_converged = opt.converged;
		best.iterations = opt.iterations;
		pfree(sampled);
	}
	for (int i = 0; i < nparams; i++)
		best.params[i] = exp(best_theta[i]);
	best.converged = best_converged;
	/* the likelihood at the parameters, summed once more without the mean's rounding */
	best.log_likelihood = ll(best.params, points, n, NULL);
	return best;
}
