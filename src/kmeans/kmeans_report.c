/*
 * kmeans_report.c -- segment.kmeans_report(query, k_min, k_max, options,
 * sample_size): one row per k with the inertia (the elbow) and the exact
 * silhouette score on a deterministic sample, to choose k.
 *
 * The query runs once; its points are kept, sorted and deduplicated, and
 * every k is fitted on all of them.  The silhouette is the full one
 * (Rousseeuw's, as scikit-learn's silhouette_score): for each sampled row,
 * its mean distance a to the other sampled rows of its cluster and its
 * mean distance b to the rows of the nearest other cluster,
 * s = (b - a) / max(a, b), and 0 for a row alone in its cluster.  The
 * sample is drawn without replacement by selection sampling over the
 * canonical order of the rows, seeded by the seed option, so the same data
 * and options always give the same report; when the input has no more
 * rows than sample_size, the silhouette covers every row.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "kmeans/kmeans.h"
#include "kmeans/kmeans_space.h"
#include "common/prng.h"

PG_FUNCTION_INFO_V1(kmeans_report);

#define REPORT_MAX_SAMPLE 50000
#define REPORT_COLUMNS 8

/* Points read from the query, before and after deduplication. */
typedef struct ReportPoints
{
	float8	   *x;
	float8	   *weights;
	int64		rows;
	int64		unique;
	int32		dims;
} ReportPoints;

static void
report_error(const char *message, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("kmeans_report: %s", message),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

/* Run the query and keep its non-null feature arrays, in memory of "cxt". */
static void
read_points(const char *query, MemoryContext cxt, ReportPoints *points)
{
	SPIPlanPtr	plan;
	Portal		portal;
	int64		capacity = 0;
	MemoryContext batch;
	MemoryContext spi_context;

	points->x = NULL;
	points->rows = 0;
	points->dims = 0;
	SPI_connect();
	spi_context = CurrentMemoryContext;
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "kmeans_report: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (!SPI_is_cursor_plan(plan))
		report_error("the query must be a single SELECT",
					 "It must return one float8[] column of features per row.",
					 "For example: SELECT ARRAY[recency, frequency, monetary] FROM customers.");
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	batch = AllocSetContextCreate(CurrentMemoryContext, "kmeans_report batch", ALLOCSET_DEFAULT_SIZES);
	if (portal->tupDesc->natts != 1 || TupleDescAttr(portal->tupDesc, 0)->atttypid != FLOAT8ARRAYOID)
		report_error("the query must return exactly one float8[] column",
					 psprintf("It returns %d column(s)%s.", portal->tupDesc->natts,
							  portal->tupDesc->natts == 1 ? " of another type" : ""),
					 "Select one array, cast if needed: SELECT ARRAY[a, b, c]::float8[] FROM t.");
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		/* detoasted arrays live until the next batch */
		MemoryContextSwitchTo(batch);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
			const float8 *features;
			int32		dims;

			if (isnull)
				continue;
			features = kmeans_features(DatumGetArrayTypeP(d), points->dims, "kmeans_report", &dims);
			if (points->rows == capacity)
			{
				capacity = Max(capacity * 2, 16384);
				if (points->x == NULL)
					points->x = MemoryContextAllocHuge(cxt, sizeof(float8) * dims * capacity);
				else
					points->x = repalloc_huge(points->x, sizeof(float8) * dims * capacity);
			}
			points->dims = dims;
			memcpy(points->x + points->rows * dims, features, sizeof(float8) * dims);
			points->rows++;
		}
		MemoryContextSwitchTo(spi_context);
		MemoryContextReset(batch);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * Draw min(sample_size, rows) rows without replacement (Knuth's selection
 * sampling over the rows in canonical order); multiplicity[i] gets how many
 * rows of unique point i were drawn.
 */
static int64
draw_sample(const ReportPoints *points, int64 sample_size, int64 seed, float8 *multiplicity)
{
	SegmentPrng rng;
	int64		wanted = Min(sample_size, points->rows);
	int64		seen = 0;
	int64		taken = 0;

	segment_prng_seed(&rng, seed, UINT64CONST(0x51A7));
	for (int64 i = 0; i < points->unique; i++)
	{
		int64		copies = (int64) points->weights[i];

		multiplicity[i] = 0.0;
		for (int64 c = 0; c < copies; c++, seen++)
			if ((float8) (points->rows - seen) * segment_prng_uniform(&rng) < (float8) (wanted - taken))
			{
				multiplicity[i] += 1.0;
				taken++;
			}
	}
	return taken;
}

/*
 * Mean silhouette of the sampled rows under "model".  z holds the distinct
 * sampled points in clustering space with their multiplicities.
 */
static float8
silhouette(const KMeansModel *model, const float8 *z, const float8 *mult, int64 m)
{
	int32		k = model->k;
	int32		dims = model->dims;
	int32	   *label = palloc(sizeof(int32) * m);
	float8	   *cluster_rows = palloc0(sizeof(float8) * k);
	float8	   *dist_sum = palloc(sizeof(float8) * k);
	float8		total = 0.0;
	float8		rows = 0.0;

	if (k < 2)
		return get_float8_nan();
	for (int64 i = 0; i < m; i++)
	{
		float8		d;

		label[i] = kmeans_nearest(z + i * dims, KM_CENTROIDS(model), k, dims, &d);
		cluster_rows[label[i]] += mult[i];
		rows += mult[i];
	}
	for (int64 i = 0; i < m; i++)
	{
		float8		a,
					b = -1.0,
					s;

		if ((i & 0xFF) == 0)
			CHECK_FOR_INTERRUPTS();
		memset(dist_sum, 0, sizeof(float8) * k);
		for (int64 j = 0; j < m; j++)
		{
			float8		d = 0.0;

			for (int32 t = 0; t < dims; t++)
			{
				float8		diff = z[i * dims + t] - z[j * dims + t];

				d += diff * diff;
			}
			dist_sum[label[j]] += mult[j] * sqrt(d);
		}
		if (cluster_rows[label[i]] <= 1.0)
			s = 0.0;			/* alone in its cluster */
		else
		{
			/* its own copies are at distance 0 and count among the others */
			a = dist_sum[label[i]] / (cluster_rows[label[i]] - 1.0);
			for (int32 c = 0; c < k; c++)
				if (c != label[i] && cluster_rows[c] > 0.0)
				{
					float8		mean = dist_sum[c] / cluster_rows[c];

					if (b < 0.0 || mean < b)
						b = mean;
				}
			if (b < 0.0)
				s = 0.0;		/* every sampled row is in this cluster */
			else
				s = (Max(a, b) > 0.0) ? (b - a) / Max(a, b) : 0.0;
		}
		total += mult[i] * s;
	}
	pfree(label);
	pfree(cluster_rows);
	pfree(dist_sum);
	return total / rows;
}

typedef struct ReportRows
{
	int32		n;
	HeapTuple  *tuples;
} ReportRows;

static void
require_argument(FunctionCallInfo fcinfo, int argno, const char *name, const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kmeans_report: %s must not be NULL", name),
				 errdetail("Only options may be NULL (for the defaults)."),
				 errhint("%s", hint)));
}

static ReportRows *
build_report(FunctionCallInfo fcinfo, TupleDesc tupdesc)
{
	const char *query;
	int32		k_min;
	int32		k_max;
	int32		sample_size;
	KMeansOptions options;
	ReportPoints points;
	float8	   *mult;
	float8	   *sample_z;
	int64		m = 0;
	int64		sampled;
	ReportRows *report = palloc(sizeof(ReportRows));

	require_argument(fcinfo, 0, "query",
					 "Pass a SELECT returning one float8[] column, or use the form kmeans_report(relation, features_column).");
	require_argument(fcinfo, 1, "k_min", "Leave k_min out for its default of 2.");
	require_argument(fcinfo, 2, "k_max", "Leave k_max out for its default of 10.");
	require_argument(fcinfo, 4, "sample_size", "Leave sample_size out for its default of 10000.");
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	k_min = PG_GETARG_INT32(1);
	k_max = PG_GETARG_INT32(2);
	sample_size = PG_GETARG_INT32(4);
	kmeans_check_k("kmeans_report", k_min);
	kmeans_check_k("kmeans_report", k_max);
	if (k_min > k_max)
		report_error("k_min must not exceed k_max",
					 psprintf("k_min = %d and k_max = %d were given.", k_min, k_max),
					 "Pass a range such as k_min => 2, k_max => 10.");
	if (sample_size < 2 || sample_size > REPORT_MAX_SAMPLE)
		report_error(psprintf("sample_size must be between 2 and %d", REPORT_MAX_SAMPLE),
					 psprintf("sample_size = %d was given; the silhouette costs sample_size squared distances per k.",
							  sample_size),
					 "The default of 10000 rows gives a silhouette within about 0.01 of the full one on typical data.");
	kmeans_default_options(&options);
	if (!PG_ARGISNULL(3))
		kmeans_parse_options(&options, PG_GETARG_DATUM(3));

	read_points(query, CurrentMemoryContext, &points);
	report->n = 0;
	report->tuples = palloc(sizeof(HeapTuple) * (k_max - k_min + 1));
	if (points.rows == 0)
		return report;			/* no rows: an empty report */
	points.weights = palloc_extended(sizeof(float8) * points.rows, MCXT_ALLOC_HUGE);
	points.unique = kmeans_sort_unique(points.x, points.rows, points.dims, points.weights);
	if (points.unique < k_max)
	{
		if (!options.allow_fewer_clusters)
			report_error(psprintf("k_max = %d is greater than the number of distinct points (" INT64_FORMAT ")",
								  k_max, points.unique),
						 psprintf("The query returned " INT64_FORMAT " rows but only " INT64_FORMAT " distinct feature vectors.",
								  points.rows, points.unique),
						 "Lower k_max, or pass the option {\"allow_fewer_clusters\": true} to stop at the number of distinct points.");
		k_max = (int32) Min(k_max, points.unique);
	}

	mult = palloc_extended(sizeof(float8) * points.unique, MCXT_ALLOC_HUGE);
	sampled = draw_sample(&points, sample_size, options.seed, mult);
	/* keep only the sampled distinct points, still raw */
	sample_z = palloc(sizeof(float8) * points.dims * Min(points.unique, sample_size));
	for (int64 i = 0; i < points.unique; i++)
		if (mult[i] > 0.0)
		{
			memcpy(sample_z + m * points.dims, points.x + i * points.dims, sizeof(float8) * points.dims);
			mult[m++] = mult[i];
		}

	for (int32 k = k_min; k <= k_max; k++)
	{
		float8	   *x = palloc_extended(sizeof(float8) * points.unique * points.dims, MCXT_ALLOC_HUGE);
		float8	   *z = palloc(sizeof(float8) * points.dims * m);
		KMeansModel *model;
		Datum		values[REPORT_COLUMNS];
		bool		nulls[REPORT_COLUMNS] = {0};
		float8		s;

		memcpy(x, points.x, sizeof(float8) * points.unique * points.dims);
		model = kmeans_fit(x, points.weights, points.unique, points.dims, k, &options);
		pfree(x);
		for (int64 i = 0; i < m; i++)
			kmeans_standardize_row(model, sample_z + i * points.dims, z + i * points.dims);
		s = silhouette(model, z, mult, m);
		pfree(z);

		values[0] = Int32GetDatum(k);
		values[1] = Float8GetDatum(model->inertia);
		values[2] = Float8GetDatum(s);
		nulls[2] = isnan(s);
		values[3] = Int32GetDatum(model->iterations);
		values[4] = BoolGetDatum((model->flags & KMEANS_CONVERGED) != 0);
		values[5] = Int64GetDatum(points.rows);
		values[6] = Int64GetDatum(sampled);
		values[7] = PointerGetDatum(model);
		report->tuples[report->n++] = heap_form_tuple(tupdesc, values, nulls);
	}
	return report;
}

Datum
kmeans_report(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ReportRows *report;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		MemoryContext work;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "kmeans_report must be declared to return a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		/* the points and models go away once the rows are formed */
		work = AllocSetContextCreate(CurrentMemoryContext, "kmeans_report", ALLOCSET_DEFAULT_SIZES);
		MemoryContextSwitchTo(work);
		report = build_report(fcinfo, funcctx->tuple_desc);
		MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		{
			ReportRows *kept = palloc(sizeof(ReportRows));

			kept->n = report->n;
			kept->tuples = palloc(sizeof(HeapTuple) * Max(report->n, 1));
			for (int32 i = 0; i < report->n; i++)
				kept->tuples[i] = heap_copytuple(report->tuples[i]);
			report = kept;
		}
		MemoryContextDelete(work);
		funcctx->user_fctx = report;
		funcctx->max_calls = report->n;
		MemoryContextSwitchTo(oldcontext);
	}
	funcctx = SRF_PERCALL_SETUP();
	report = funcctx->user_fctx;
	if (funcctx->call_cntr < funcctx->max_calls)
	{
		/* SRF_RETURN_NEXT counts the call before it evaluates its result */
		Datum		row = HeapTupleGetDatum(report->tuples[funcctx->call_cntr]);

		SRF_RETURN_NEXT(funcctx, row);
	}
	SRF_RETURN_DONE(funcctx);
}
