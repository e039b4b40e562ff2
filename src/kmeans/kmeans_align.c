/*
 * kmeans_align.c -- segment.kmeans_align(new_model, previous_model): stable
 * cluster numbers from one refresh to the next.
 *
 * Each new cluster takes the number of the previous cluster it is matched
 * to, the matching minimising the total distance between matched centroids
 * (an optimal assignment, solved exactly with the Hungarian method).  Both
 * models' centroids are compared in the new model's clustering space.
 * New clusters left over when k grew take the next unused numbers, in the
 * new model's order (larger clusters first).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

#include "kmeans/kmeans.h"

PG_FUNCTION_INFO_V1(kmeans_align);

/*
 * Minimum-cost assignment on an n x n cost matrix (row-major).  Sets
 * row_of[j] to the row assigned to column j.  The shortest augmenting path
 * version with row and column potentials: O(n^3).
 */
static void
hungarian(const float8 *cost, int32 n, int32 *row_of)
{
	/* 1-based, index 0 is the virtual start column */
	float8	   *u = palloc0(sizeof(float8) * (n + 1));
	float8	   *v = palloc0(sizeof(float8) * (n + 1));
	float8	   *minv = palloc(sizeof(float8) * (n + 1));
	int32	   *p = palloc0(sizeof(int32) * (n + 1));
	int32	   *way = palloc0(sizeof(int32) * (n + 1));
	bool	   *used = palloc(sizeof(bool) * (n + 1));

	for (int32 i = 1; i <= n; i++)
	{
		int32		j0 = 0;

		CHECK_FOR_INTERRUPTS();
		p[0] = i;
		for (int32 j = 0; j <= n; j++)
		{
			minv[j] = get_float8_infinity();
			used[j] = false;
		}
		do
		{
			int32		i0 = p[j0];
			int32		j1 = 0;
			float8		delta = get_float8_infinity();

			CHECK_FOR_INTERRUPTS();
			used[j0] = true;
			for (int32 j = 1; j <= n; j++)
			{
				if (used[j])
					continue;
				{
					float8		reduced = cost[(Size) (i0 - 1) * n + (j - 1)] - u[i0] - v[j];

					if (reduced < minv[j])
					{
						minv[j] = reduced;
						way[j] = j0;
					}
					if (minv[j] < delta)
					{
						delta = minv[j];
						j1 = j;
					}
				}
			}
			/* finite costs always leave a column to visit; never spin */
			if (j1 == 0)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("kmeans_align: the distances between the centroids are not finite"),
						 errdetail("The centroids of the two models are too far apart to be compared in float8."),
						 errhint("Fit both models on features of a moderate scale, for example log1p of the raw values.")));
			for (int32 j = 0; j <= n; j++)
			{
				if (used[j])
				{
					u[p[j]] += delta;
					v[j] -= delta;
				}
				else
					minv[j] -= delta;
			}
			j0 = j1;
		} while (p[j0] != 0);
		do
		{
			int32		j1 = way[j0];

			p[j0] = p[j1];
			j0 = j1;
		} while (j0 != 0);
	}
	for (int32 j = 1; j <= n; j++)
		row_of[j - 1] = p[j] - 1;
	pfree(u);
	pfree(v);
	pfree(minv);
	pfree(p);
	pfree(way);
	pfree(used);
}

Datum
kmeans_align(PG_FUNCTION_ARGS)
{
	KMeansModel *fresh = PG_GETARG_KMEANS_MODEL(0);
	KMeansModel *previous = PG_GETARG_KMEANS_MODEL(1);
	KMeansModel *aligned;
	int32		dims = fresh->dims;
	int32		n;
	float8	   *cost;
	int32	   *row_of;
	int32		next_id = 0;
	float8	   *old_z;

	kmeans_check_model(fresh);
	kmeans_check_model(previous);
	if (previous->dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("kmeans_align: the models have %d and %d features", dims, previous->dims),
				 errdetail("Clusters can only be matched between models of the same features."),
				 errhint("Align a model with an earlier model of the same segmentation.")));

	/* the previous centroids, in original units, then in the new space */
	old_z = palloc(sizeof(float8) * previous->k * dims);
	for (int32 j = 0; j < previous->k; j++)
		for (int32 t = 0; t < dims; t++)
		{
			float8		x = KM_CENTROIDS(previous)[(Size) j * dims + t] * KM_SCALE(previous)[t] +
				KM_MEAN(previous)[t];

			old_z[(Size) j * dims + t] = (x - KM_MEAN(fresh)[t]) / KM_SCALE(fresh)[t];
		}

	/* square cost matrix; padding rows and columns cost nothing */
	n = Max(fresh->k, previous->k);
	cost = palloc0(sizeof(float8) * n * n);
	for (int32 i = 0; i < fresh->k; i++)
		for (int32 j = 0; j < previous->k; j++)
		{
			float8		d = 0.0;

			for (int32 t = 0; t < dims; t++)
			{
				float8		diff = KM_CENTROIDS(fresh)[(Size) i * dims + t] - old_z[(Size) j * dims + t];

				d += diff * diff;
			}
			cost[(Size) i * n + j] = sqrt(d);
			if (isnan(cost[(Size) i * n + j]) || isinf(cost[(Size) i * n + j]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("kmeans_align: the distances between the centroids are not finite"),
						 errdetail("Centroid %d of the new model and centroid %d of the previous one are too far apart to be compared in float8.",
								   KM_IDS(fresh)[i], KM_IDS(previous)[j]),
						 errhint("Fit both models on features of a moderate scale, for example log1p of the raw values.")));
		}
	row_of = palloc(sizeof(int32) * n);
	hungarian(cost, n, row_of);

	aligned = palloc(VARSIZE(fresh));
	memcpy(aligned, fresh, VARSIZE(fresh));
	for (int32 j = 0; j < previous->k; j++)
		next_id = Max(next_id, KM_IDS(previous)[j]);
	for (int32 i = 0; i < fresh->k; i++)
		KM_IDS(aligned)[i] = 0;
	for (int32 j = 0; j < previous->k; j++)
		if (row_of[j] < fresh->k)
			KM_IDS(aligned)[row_of[j]] = KM_IDS(previous)[j];
	for (int32 i = 0; i < fresh->k; i++)
		if (KM_IDS(aligned)[i] == 0)
		{
			if (next_id == PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("kmeans_align: no cluster number is left after %d", next_id),
						 errdetail("The previous model already uses the largest int4 as a cluster number."),
						 errhint("Fit a fresh model and stop aligning to this one.")));
			KM_IDS(aligned)[i] = ++next_id;
		}
	PG_RETURN_POINTER(aligned);
}
