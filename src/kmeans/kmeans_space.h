/*
 * kmeans_space.h -- distances and assignment in clustering space, inline:
 * the fit's inner loops, the model's assign and inertia, the Lloyd step and
 * the report all use them (so neither the fit nor the model depends on the
 * other for them).
 */
#ifndef SEGMENT_KMEANS_SPACE_H
#define SEGMENT_KMEANS_SPACE_H

#include "postgres.h"

#include "kmeans/kmeans.h"

static pg_attribute_always_inline float8
kmeans_squared_distance(const float8 *a, const float8 *b, int32 dims)
{
	float8		d = 0.0;

	/* callers pass a constant dims for 1..4, which this unrolls */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC unroll 4
#endif
	for (int32 t = 0; t < dims; t++)
	{
		float8		diff = a[t] - b[t];

		d += diff * diff;
	}
	return d;
}

/* Index of the nearest centroid (the lowest on ties) and its squared distance. */
static pg_attribute_always_inline int32
kmeans_nearest(const float8 *z, const float8 *centroids, int32 k, int32 dims, float8 *dist2)
{
	int32		best = 0;
	float8		best_d = kmeans_squared_distance(z, centroids, dims);

	for (int32 j = 1; j < k; j++)
	{
		float8		d = kmeans_squared_distance(z, centroids + (Size) j * dims, dims);

		if (d < best_d)
		{
			best_d = d;
			best = j;
		}
	}
	*dist2 = best_d;
	return best;
}

/* A row of original features into the model's clustering space. */
static inline void
kmeans_standardize_row(const KMeansModel *model, const float8 *x, float8 *z)
{
	const float8 *mean = KM_MEAN(model);
	const float8 *scale = KM_SCALE(model);

	for (int32 t = 0; t < model->dims; t++)
		z[t] = (x[t] - mean[t]) / scale[t];
}

#endif							/* SEGMENT_KMEANS_SPACE_H */
