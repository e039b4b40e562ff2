/*
 * kmeans_fit.c -- k-means over a flat array of points: canonical order,
 * standardization, greedy k-means++ seeding, Lloyd iterations, best of
 * n_init runs.
 *
 * The input is first sorted and its duplicate rows merged into weights.
 * That makes the result independent of the order the rows arrived in (a
 * parallel plan delivers them in another order than a serial one, and
 * floating-point sums depend on order), and it makes repeated points cost
 * one distance computation instead of many.  Stopping rules follow
 * scikit-learn's Lloyd: stop when no label changes, or when the squared
 * centroid movement is at most tol times the mean feature variance.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "port.h"
#include "utils/memutils.h"

#include "kmeans/kmeans.h"
#include "kmeans/kmeans_space.h"
#include "common/prng.h"

/* Working buffers of one fit, reused by every run. */
typedef struct LloydWork
{
	const float8 *x;			/* n points in clustering space */
	const float8 *w;			/* their weights (row multiplicities) */
	int64		n;
	int32		dims;
	int32		k;
	int32	   *labels;
	float8	   *dist2;			/* squared distance to the assigned centroid */
	float8	   *sums;
	float8	   *counts;
	float8	   *centroids;
	float8	   *next;
	float8	   *lanes;			/* SUM_LANES copies of per-cluster sums and counts */
	bool	   *taken;			/* points already used to reseed an empty cluster */
} LloydWork;

static int
compare_rows(const void *a, const void *b, void *arg)
{
	int32		dims = *(const int32 *) arg;
	const float8 *x = a;
	const float8 *y = b;

	for (int32 t = 0; t < dims; t++)
	{
		if (x[t] < y[t])
			return -1;
		if (x[t] > y[t])
			return 1;
	}
	return 0;
}

/*
 * Sort the n rows of x lexicographically and merge equal rows, setting
 * weights[i] to the multiplicity of unique row i.  Returns the number of
 * unique rows, which are left at the front of x.
 */
int64
kmeans_sort_unique(float8 *x, int64 n, int32 dims, float8 *weights)
{
	int64		out = 0;

	if (n == 0)
		return 0;
	qsort_arg(x, n, sizeof(float8) * dims, compare_rows, &dims);
	for (int64 i = 0; i < n; i++)
	{
		const float8 *row = x + i * dims;

		if (out > 0 && compare_rows(x + (out - 1) * dims, row, &dims) == 0)
			weights[out - 1] += 1.0;
		else
		{
			if (out != i)
				memcpy(x + out * dims, row, sizeof(float8) * dims);
			weights[out++] = 1.0;
		}
	}
	return out;
}

/*
 * One assignment pass: label every point with its nearest centroid and,
 * when "accumulate", sum the points per cluster.  Returns the number of
 * labels that changed; *inertia gets the weighted sum of squared distances.
 * Specialised on the dimension so that small ones unroll.  Consecutive
 * points (sorted) mostly fall in the same cluster, so the sums go to
 * SUM_LANES interleaved copies, added up at the end: one running sum would
 * make every addition wait for the previous one.
 */
#define SUM_LANES 4

static pg_attribute_always_inline int64
assign_points_dims(LloydWork *work, bool accumulate, float8 *inertia, int32 dims)
{
	const float8 *x = work->x;
	const float8 *w = work->w;
	int32		k = work->k;
	Size		lane_size = (Size) k * (dims + 1);	/* dims sums and a count per cluster */
	float8	   *lanes = work->lanes;
	int64		changed = 0;
	float8		total = 0.0;

	if (accumulate)
		memset(lanes, 0, sizeof(float8) * lane_size * SUM_LANES);
	for (int64 i = 0; i < work->n; i++)
	{
		const float8 *row = x + i * dims;
		float8		d;
		int32		label = kmeans_nearest(row, work->centroids, k, dims, &d);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		changed += (label != work->labels[i]);
		work->labels[i] = label;
		work->dist2[i] = d;
		total += w[i] * d;
		if (accumulate)
		{
			float8	   *sum = lanes + (Size) (i % SUM_LANES) * lane_size + (Size) label * (dims + 1);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC unroll 4
#endif
			for (int32 t = 0; t < dims; t++)
				sum[t] += w[i] * row[t];
			sum[dims] += w[i];
		}
	}
	if (accumulate)
	{
		for (int32 j = 0; j < k; j++)
		{
			for (int32 t = 0; t <= dims; t++)
			{
				float8		s = 0.0;

				for (int32 lane = 0; lane < SUM_LANES; lane++)
					s += lanes[(Size) lane * lane_size + (Size) j * (dims + 1) + t];
				if (t < dims)
					work->sums[(Size) j * dims + t] = s;
				else
					work->counts[j] = s;
			}
		}
	}
	*inertia = total;
	return changed;
}

static int64
assign_points(LloydWork *work, bool accumulate, float8 *inertia)
{
	switch (work->dims)
	{
		case 1:
			return assign_points_dims(work, accumulate, inertia, 1);
		case 2:
			return assign_points_dims(work, accumulate, inertia, 2);
		case 3:
			return assign_points_dims(work, accumulate, inertia, 3);
		case 4:
			return assign_points_dims(work, accumulate, inertia, 4);
		default:
			return assign_points_dims(work, accumulate, inertia, work->dims);
	}
}

/*
 * Move an empty cluster onto the point farthest from its centroid that has
 * not been used yet, taking that point out of its old cluster's sums (as
 * scikit-learn does).  Deterministic: the farthest point with the lowest
 * index wins.
 */
static void
reseed_empty_cluster(LloydWork *work, int32 empty)
{
	int32		dims = work->dims;
	int64		far = -1;
	float8	   *target = work->next + (Size) empty * dims;

	for (int64 i = 0; i < work->n; i++)
		if (!work->taken[i] && (far < 0 || work->dist2[i] > work->dist2[far]))
			far = i;
	Assert(far >= 0);			/* there are at least k distinct points */
	work->taken[far] = true;
	memcpy(target, work->x + far * dims, sizeof(float8) * dims);
	{
		int32		old = work->labels[far];
		float8	   *sum = work->sums + (Size) old * dims;

		for (int32 t = 0; t < dims; t++)
			sum[t] -= work->w[far] * work->x[far * dims + t];
		work->counts[old] -= work->w[far];
		work->counts[empty] = work->w[far];
		memcpy(work->sums + (Size) empty * dims, target, sizeof(float8) * dims);
		for (int32 t = 0; t < dims; t++)
			work->sums[(Size) empty * dims + t] *= work->w[far];
	}
}

/* next = sums / counts, reseeding empty clusters; returns the squared shift. */
static float8
update_centroids(LloydWork *work)
{
	int32		dims = work->dims;
	int32		k = work->k;
	float8		shift = 0.0;
	bool		any_empty = false;

	for (int32 j = 0; j < k; j++)
		if (work->counts[j] == 0.0)
			any_empty = true;
	if (any_empty)
	{
		memset(work->taken, 0, sizeof(bool) * work->n);
		for (int32 j = 0; j < k; j++)
			if (work->counts[j] == 0.0)
				reseed_empty_cluster(work, j);
	}
	for (int32 j = 0; j < k; j++)
	{
		float8	   *next = work->next + (Size) j * dims;
		const float8 *sum = work->sums + (Size) j * dims;

		/* a cluster emptied by reseeding keeps its centroid */
		if (work->counts[j] > 0.0)
			for (int32 t = 0; t < dims; t++)
				next[t] = sum[t] / work->counts[j];
		else
			memcpy(next, work->centroids + (Size) j * dims, sizeof(float8) * dims);
		shift += kmeans_squared_distance(next, work->centroids + (Size) j * dims, dims);
	}
	return shift;
}

/*
 * out[i] = min(closest[i], squared distance of point i to candidate);
 * returns the weighted sum of out[], the potential with the candidate added.
 */
static pg_attribute_always_inline float8
distances_with_candidate_dims(const float8 *x, const float8 *w, int64 n, int32 dims,
							  const float8 *candidate, const float8 *closest, float8 *out)
{
	float8		pot = 0.0;

	for (int64 i = 0; i < n; i++)
	{
		float8		d = kmeans_squared_distance(x + i * dims, candidate, dims);

		out[i] = Min(d, closest[i]);
		pot += w[i] * out[i];
	}
	return pot;
}

static float8
distances_with_candidate(const float8 *x, const float8 *w, int64 n, int32 dims,
						 const float8 *candidate, const float8 *closest, float8 *out)
{
	switch (dims)
	{
		case 1:
			return distances_with_candidate_dims(x, w, n, 1, candidate, closest, out);
		case 2:
			return distances_with_candidate_dims(x, w, n, 2, candidate, closest, out);
		case 3:
			return distances_with_candidate_dims(x, w, n, 3, candidate, closest, out);
		case 4:
			return distances_with_candidate_dims(x, w, n, 4, candidate, closest, out);
		default:
			return distances_with_candidate_dims(x, w, n, dims, candidate, closest, out);
	}
}

/* Greedy k-means++: each new centre is the best of several D^2-weighted draws. */
static void
seed_centroids(LloydWork *work, SegmentPrng *rng)
{
	const float8 *x = work->x;
	const float8 *w = work->w;
	int64		n = work->n;
	int32		dims = work->dims;
	int32		k = work->k;
	int32		trials = 2 + (int32) log((double) k);
	float8	   *closest = work->dist2;
	float8	   *cumulative = palloc_extended(sizeof(float8) * n, MCXT_ALLOC_HUGE);
	float8	   *candidate_d = palloc_extended(sizeof(float8) * n, MCXT_ALLOC_HUGE);
	float8	   *best_d = palloc_extended(sizeof(float8) * n, MCXT_ALLOC_HUGE);
	float8		total_w = 0.0;
	float8		pot = 0.0;
	float8		draw;
	int64		first;

	/* first centre: a row drawn uniformly (a point by its weight) */
	for (int64 i = 0; i < n; i++)
	{
		total_w += w[i];
		cumulative[i] = total_w;
	}
	draw = segment_prng_uniform(rng) * total_w;
	for (first = 0; first < n - 1 && cumulative[first] <= draw; first++)
		;
	memcpy(work->centroids, x + first * dims, sizeof(float8) * dims);
	for (int64 i = 0; i < n; i++)
	{
		closest[i] = kmeans_squared_distance(x + i * dims, work->centroids, dims);
		pot += w[i] * closest[i];
	}

	for (int32 c = 1; c < k; c++)
	{
		float8		best_pot = -1.0;
		int64		best_id = -1;
		float8		running = 0.0;

		CHECK_FOR_INTERRUPTS();
		for (int64 i = 0; i < n; i++)
		{
			running += w[i] * closest[i];
			cumulative[i] = running;
		}
		for (int32 t = 0; t < trials; t++)
		{
			int64		lo = 0,
						hi = n - 1;
			float8		candidate_pot;

			/* first point whose cumulative weight exceeds the draw: never a chosen centre */
			draw = segment_prng_uniform(rng) * running;
			while (lo < hi)
			{
				int64		mid = lo + (hi - lo) / 2;

				if (cumulative[mid] > draw)
					hi = mid;
				else
					lo = mid + 1;
			}
			candidate_pot = distances_with_candidate(x, w, n, dims, x + lo * dims,
													 closest, candidate_d);
			if (best_id < 0 || candidate_pot < best_pot)
			{
				float8	   *swap = best_d;

				best_pot = candidate_pot;
				best_id = lo;
				best_d = candidate_d;
				candidate_d = swap;
			}
		}
		memcpy(work->centroids + (Size) c * dims, x + best_id * dims, sizeof(float8) * dims);
		memcpy(closest, best_d, sizeof(float8) * n);
		pot = best_pot;
	}
	pfree(cumulative);
	pfree(candidate_d);
	pfree(best_d);
}

/*
 * One run: seed, iterate, and leave work->centroids and the labels of the
 * final centroids in place.  Returns the inertia.
 */
static float8
lloyd_run(LloydWork *work, SegmentPrng *rng, const KMeansOptions *options,
		  float8 tol_scaled, int32 *iterations, float8 *last_shift, bool *converged)
{
	float8		inertia = 0.0;
	float8		shift = 0.0;
	bool		strict = false;
	int32		iter;

	seed_centroids(work, rng);
	for (int64 i = 0; i < work->n; i++)
		work->labels[i] = -1;
	*converged = false;
	for (iter = 0; iter < options->max_iter; iter++)
	{
		int64		changed = assign_points(work, true, &inertia);
		float8	   *swap;

		shift = update_centroids(work);
		swap = work->centroids;
		work->centroids = work->next;
		work->next = swap;
		if (iter > 0 && changed == 0)
		{
			strict = true;
			*converged = true;
			break;
		}
		if (shift <= tol_scaled)
		{
			*converged = true;
			break;
		}
	}
	*iterations = Min(iter + 1, options->max_iter);
	*last_shift = shift;
	/* labels and inertia of the final centroids, unless they did not move */
	if (!strict)
		assign_points(work, true, &inertia);
	return inertia;
}

/* Order of clusters in a fresh model: larger first, then by centroid. */
typedef struct ClusterOrder
{
	int32		index;
	float8		size;
	const float8 *centroid;
	int32		dims;
} ClusterOrder;

static int
compare_clusters(const void *a, const void *b)
{
	const ClusterOrder *x = a;
	const ClusterOrder *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	for (int32 t = 0; t < x->dims; t++)
		if (x->centroid[t] != y->centroid[t])
			return x->centroid[t] < y->centroid[t] ? -1 : 1;
	return x->index - y->index;
}

static void
kmeans_too_large(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("k-means features are too large to cluster"),
			 errdetail("Their mean, variance or squared distances overflow float8."),
			 errhint("Scale the features down first, for example with log1p or by dividing by a constant.")));
}

/*
 * Fit k-means on n unique points x (row-major, dims columns, modified in
 * place into clustering space) with the given weights.  The caller has
 * checked k against the number of unique points.
 */
KMeansModel *
kmeans_fit(float8 *x, const float8 *weights, int64 n, int32 dims, int32 k,
		   const KMeansOptions *options)
{
	float8	   *mean = palloc0(sizeof(float8) * dims);
	float8	   *scale = palloc(sizeof(float8) * dims);
	float8		total_w = 0.0;
	float8		variance = 0.0;
	LloydWork	work;
	float8		best_inertia = -1.0;
	float8	   *best_centroids = palloc(sizeof(float8) * k * dims);
	float8	   *best_counts = palloc(sizeof(float8) * k);
	int32		best_iterations = 0;
	float8		best_shift = 0.0;
	bool		best_converged = false;
	KMeansModel *model;
	ClusterOrder *order;

	Assert(n >= k && k >= 1);

	/* clustering space: z-scores (population standard deviation) or raw */
	for (int64 i = 0; i < n; i++)
	{
		total_w += weights[i];
		for (int32 t = 0; t < dims; t++)
			mean[t] += weights[i] * x[i * dims + t];
	}
	for (int32 t = 0; t < dims; t++)
	{
		float8		ss = 0.0;

		mean[t] /= total_w;
		for (int64 i = 0; i < n; i++)
		{
			float8		diff = x[i * dims + t] - mean[t];

			ss += weights[i] * diff * diff;
		}
		/* a constant feature keeps scale 1: it then contributes nothing */
		scale[t] = (options->standardize && ss > 0.0) ? sqrt(ss / total_w) : 1.0;
		if (!options->standardize)
			mean[t] = 0.0;
		variance += (ss / total_w) / (scale[t] * scale[t]);
	}
	variance /= dims;
	if (isnan(variance) || isinf(variance))
		kmeans_too_large();
	for (int64 i = 0; i < n; i++)
		for (int32 t = 0; t < dims; t++)
			x[i * dims + t] = (x[i * dims + t] - mean[t]) / scale[t];

	work.x = x;
	work.w = weights;
	work.n = n;
	work.dims = dims;
	work.k = k;
	work.labels = palloc_extended(sizeof(int32) * n, MCXT_ALLOC_HUGE);
	work.dist2 = palloc_extended(sizeof(float8) * n, MCXT_ALLOC_HUGE);
	work.taken = palloc_extended(sizeof(bool) * n, MCXT_ALLOC_HUGE);
	work.sums = palloc(sizeof(float8) * k * dims);
	work.counts = palloc(sizeof(float8) * k);
	work.centroids = palloc(sizeof(float8) * k * dims);
	work.next = palloc(sizeof(float8) * k * dims);
	work.lanes = palloc(sizeof(float8) * k * (dims + 1) * SUM_LANES);

	for (int32 run = 0; run < options->n_init; run++)
	{
		SegmentPrng rng;
		int32		iterations;
		float8		shift;
		bool		converged;
		float8		inertia;

		segment_prng_seed(&rng, options->seed, (uint64) run);
		inertia = lloyd_run(&work, &rng, options, options->tol * variance,
							&iterations, &shift, &converged);
		if (best_inertia < 0.0 || inertia < best_inertia)
		{
			best_inertia = inertia;
			best_iterations = iterations;
			best_shift = shift;
			best_converged = converged;
			memcpy(best_centroids, work.centroids, sizeof(float8) * k * dims);
			memcpy(best_counts, work.counts, sizeof(float8) * k);
		}
	}

	/* raw (unstandardized) features can still overflow their distances */
	if (isnan(best_inertia) || isinf(best_inertia))
		kmeans_too_large();
	model = kmeans_model_create(k, dims);
	model->flags = (options->standardize ? KMEANS_STANDARDIZED : 0) |
		(best_converged ? KMEANS_CONVERGED : 0);
	model->iterations = best_iterations;
	model->n_init = options->n_init;
	model->max_iter = options->max_iter;
	model->requested_k = k;
	model->seed = options->seed;
	model->points = (int64) total_w;
	model->tol = options->tol;
	model->variance = variance;
	model->inertia = best_inertia;
	model->shift = best_shift;
	memcpy(KM_MEAN(model), mean, sizeof(float8) * dims);
	memcpy(KM_SCALE(model), scale, sizeof(float8) * dims);

	order = palloc(sizeof(ClusterOrder) * k);
	for (int32 j = 0; j < k; j++)
	{
		order[j].index = j;
		order[j].size = best_counts[j];
		order[j].centroid = best_centroids + (Size) j * dims;
		order[j].dims = dims;
	}
	qsort(order, k, sizeof(ClusterOrder), compare_clusters);
	for (int32 j = 0; j < k; j++)
	{
		memcpy(KM_CENTROIDS(model) + (Size) j * dims, order[j].centroid, sizeof(float8) * dims);
		KM_SIZES(model)[j] = (int64) order[j].size;
		KM_IDS(model)[j] = j + 1;
	}

	pfree(work.labels);
	pfree(work.dist2);
	pfree(work.taken);
	return model;
}
