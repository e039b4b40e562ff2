/*
 * kmeans.h -- segment.kmeans_model and the k-means core shared by the
 * aggregate, the Lloyd step, alignment and the choose-k report.
 *
 * All clustering happens in "clustering space": each feature minus its mean,
 * divided by its standard deviation when the model standardizes (z-scores),
 * or the raw features when it does not (mean 0, scale 1).  The model keeps
 * the mean and scale, so new rows are assigned in the same space.  Centroids
 * are stored in clustering space and shown in the original units.
 */
#ifndef SEGMENT_KMEANS_H
#define SEGMENT_KMEANS_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#define KMEANS_MAX_K 1000
#define KMEANS_MAX_DIMS 1000
#define KMEANS_MAX_N_INIT 100
#define KMEANS_MAX_MAX_ITER 10000

/* model flags */
#define KMEANS_STANDARDIZED 0x01
#define KMEANS_CONVERGED 0x02

/* What the caller asks for; defaults in kmeans_default_options(). */
typedef struct KMeansOptions
{
	int64		seed;
	int32		n_init;
	int32		max_iter;
	float8		tol;
	bool		standardize;
	bool		allow_fewer_clusters;
} KMeansOptions;

/*
 * A fitted model, a plain varlena.  data[] holds, in order:
 *   mean[dims], scale[dims]      clustering space: z = (x - mean) / scale
 *   centroids[k * dims]          in clustering space, row by row
 *   sizes[k] (int64)             rows nearest to each centroid
 *   ids[k] (int32)               the cluster number of each centroid
 * Fresh models number clusters 1..k by decreasing size; kmeans_align()
 * renumbers them after a previous model.
 */
typedef struct KMeansModel
{
	int32		vl_len_;
	int32		k;
	int32		dims;
	int32		flags;
	int32		iterations;		/* Lloyd iterations of the best run */
	int32		n_init;
	int32		max_iter;
	int32		requested_k;	/* k asked for; > k only with allow_fewer_clusters */
	int64		seed;
	int64		points;			/* rows clustered */
	float8		tol;
	float8		variance;		/* mean feature variance in clustering space */
	float8		inertia;		/* sum of squared distances to the nearest centroid */
	float8		shift;			/* squared centroid movement of the last iteration */
	float8		data[FLEXIBLE_ARRAY_MEMBER];
} KMeansModel;

#define KMEANS_MODEL_SIZE(k, dims) \
	(offsetof(KMeansModel, data) + sizeof(float8) * (2 * (Size) (dims) + (Size) (k) * (dims)) \
	 + (sizeof(int64) + sizeof(int32)) * (Size) (k))
#define KM_MEAN(m)		((m)->data)
#define KM_SCALE(m)		((m)->data + (m)->dims)
#define KM_CENTROIDS(m) ((m)->data + 2 * (m)->dims)
#define KM_SIZES(m)		((int64 *) (KM_CENTROIDS(m) + (Size) (m)->k * (m)->dims))
#define KM_IDS(m)		((int32 *) (KM_SIZES(m) + (m)->k))

#define DatumGetKMeansModel(d)	((KMeansModel *) PG_DETOAST_DATUM(d))
#define PG_GETARG_KMEANS_MODEL(n) DatumGetKMeansModel(PG_GETARG_DATUM(n))

/* kmeans_model.c */
extern KMeansModel *kmeans_model_create(int32 k, int32 dims);
extern KMeansModel *kmeans_model_parse(const char *input, const char *typname);
extern void kmeans_model_format(StringInfo buf, const KMeansModel *model);
extern void kmeans_check_model(const KMeansModel *model);

/* kmeans_input.c: validation of features, k and options */
extern const float8 *kmeans_features(ArrayType *array, int32 expected_dims,
									 const char *funcname, int32 *dims);
extern void kmeans_check_k(const char *funcname, int32 k);
extern void kmeans_default_options(KMeansOptions *options);
extern void kmeans_parse_options(KMeansOptions *options, Datum jsonb);
extern void kmeans_check_options(const KMeansOptions *options);

/* kmeans_fit.c: the algorithm (distances and assignment: kmeans_space.h) */
extern int64 kmeans_sort_unique(float8 *x, int64 n, int32 dims, float8 *weights);
extern KMeansModel *kmeans_fit(float8 *x, const float8 *weights, int64 n, int32 dims,
							   int32 k, const KMeansOptions *options);

/* kmeans_align.c: the SQL function, also called by the refresh */
extern Datum kmeans_align(PG_FUNCTION_ARGS);

#endif							/* SEGMENT_KMEANS_H */
