/*
 * kmeans_model.c -- segment.kmeans_model: layout, text form, and the
 * functions that read a model (assign, centroids, inertia, info).
 *
 * Text form, keys in this order, separated by ";":
 *   k=2;dims=2;points=4;inertia=1;iterations=2;converged=true;shift=0;
 *   seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=2;
 *   standardized=true;mean=5,5;scale=4,4;clusters=1:2:1,1|2:2:-1,-1
 * clusters lists id:size:centroid (clustering space) per cluster.  Floats
 * print as the shortest decimal that reads back exactly, so the text form
 * round-trips bit for bit.  The input function checks every field, since a
 * model may come from another node or be written by hand.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"

#include "kmeans/kmeans.h"
#include "kmeans/kmeans_space.h"
#include "common/textio.h"

PG_FUNCTION_INFO_V1(kmeans_model_in);
PG_FUNCTION_INFO_V1(kmeans_model_out);
PG_FUNCTION_INFO_V1(kmeans_assign);
PG_FUNCTION_INFO_V1(kmeans_inertia);
PG_FUNCTION_INFO_V1(kmeans_centroids);
PG_FUNCTION_INFO_V1(kmeans_info);

#define MODEL_TEXT_EXAMPLE \
	"k=1;dims=1;points=2;inertia=2;iterations=1;converged=true;shift=0;seed=0;n_init=4;max_iter=300;tol=0.0001;variance=1;requested_k=1;standardized=true;mean=3;scale=1;clusters=1:2:0"

KMeansModel *
kmeans_model_create(int32 k, int32 dims)
{
	Size		size = KMEANS_MODEL_SIZE(k, dims);
	KMeansModel *model = palloc0(size);

	SET_VARSIZE(model, size);
	model->k = k;
	model->dims = dims;
	return model;
}

/* Text form */

void
kmeans_model_format(StringInfo buf, const KMeansModel *m)
{
	const float8 *centroids = KM_CENTROIDS(m);

	appendStringInfo(buf, "k=%d;dims=%d;points=" INT64_FORMAT ";inertia=", m->k, m->dims, m->points);
	segment_append_float8(buf, m->inertia);
	appendStringInfo(buf, ";iterations=%d;converged=%s;shift=", m->iterations,
					 (m->flags & KMEANS_CONVERGED) ? "true" : "false");
	segment_append_float8(buf, m->shift);
	appendStringInfo(buf, ";seed=" INT64_FORMAT ";n_init=%d;max_iter=%d;tol=",
					 m->seed, m->n_init, m->max_iter);
	segment_append_float8(buf, m->tol);
	appendStringInfoString(buf, ";variance=");
	segment_append_float8(buf, m->variance);
	appendStringInfo(buf, ";requested_k=%d;standardized=%s;mean=", m->requested_k,
					 (m->flags & KMEANS_STANDARDIZED) ? "true" : "false");
	text_append_float8_list(buf, KM_MEAN(m), m->dims);
	appendStringInfoString(buf, ";scale=");
	text_append_float8_list(buf, KM_SCALE(m), m->dims);
	appendStringInfoString(buf, ";clusters=");
	for (int32 j = 0; j < m->k; j++)
	{
		if (j > 0)
			appendStringInfoChar(buf, '|');
		appendStringInfo(buf, "%d:" INT64_FORMAT ":", KM_IDS(m)[j], KM_SIZES(m)[j]);
		text_append_float8_list(buf, centroids + (Size) j * m->dims, m->dims);
	}
}

KMeansModel *
kmeans_model_parse(const char *input, const char *typname)
{
	TextParser	ps;
	int64		k,
				dims,
				points;
	KMeansModel *m;
	int64		sum = 0;

	text_parser_init(&ps, input, typname,
					 "A kmeans_model text lists its fields in a fixed order, for example \""
					 MODEL_TEXT_EXAMPLE "\".");
	text_expect_key(&ps, "k", true);
	k = text_parse_int(&ps, 1, KMEANS_MAX_K, "k");
	text_expect_key(&ps, "dims", false);
	dims = text_parse_int(&ps, 1, KMEANS_MAX_DIMS, "dims");
	m = kmeans_model_create((int32) k, (int32) dims);
	text_expect_key(&ps, "points", false);
	points = m->points = text_parse_int(&ps, 0, PG_INT64_MAX, "points");
	text_expect_key(&ps, "inertia", false);
	m->inertia = text_parse_float(&ps, true, "inertia");
	text_expect_key(&ps, "iterations", false);
	m->iterations = (int32) text_parse_int(&ps, 0, PG_INT32_MAX, "iterations");
	text_expect_key(&ps, "converged", false);
	if (text_parse_bool(&ps, "converged"))
		m->flags |= KMEANS_CONVERGED;
	text_expect_key(&ps, "shift", false);
	m->shift = text_parse_float(&ps, true, "shift");
	text_expect_key(&ps, "seed", false);
	m->seed = text_parse_int(&ps, PG_INT64_MIN, PG_INT64_MAX, "seed");
	text_expect_key(&ps, "n_init", false);
	m->n_init = (int32) text_parse_int(&ps, 1, KMEANS_MAX_N_INIT, "n_init");
	text_expect_key(&ps, "max_iter", false);
	m->max_iter = (int32) text_parse_int(&ps, 1, KMEANS_MAX_MAX_ITER, "max_iter");
	text_expect_key(&ps, "tol", false);
	m->tol = text_parse_float(&ps, true, "tol");
	text_expect_key(&ps, "variance", false);
	m->variance = text_parse_float(&ps, true, "variance");
	text_expect_key(&ps, "requested_k", false);
	m->requested_k = (int32) text_parse_int(&ps, k, KMEANS_MAX_K, "requested_k");
	text_expect_key(&ps, "standardized", false);
	if (text_parse_bool(&ps, "standardized"))
		m->flags |= KMEANS_STANDARDIZED;
	text_expect_key(&ps, "mean", false);
	text_parse_float_list(&ps, KM_MEAN(m), m->dims, "mean");
	text_expect_key(&ps, "scale", false);
	text_parse_float_list(&ps, KM_SCALE(m), m->dims, "scale");
	for (int32 t = 0; t < m->dims; t++)
		if (!(KM_SCALE(m)[t] > 0.0))
			text_parser_error(&ps, "Every scale must be positive.");
	text_expect_key(&ps, "clusters", false);
	for (int32 j = 0; j < m->k; j++)
	{
		if (j > 0)
			text_expect_char(&ps, '|', "\"|\" between the k clusters");
		KM_IDS(m)[j] = (int32) text_parse_int(&ps, 1, PG_INT32_MAX, "A cluster id");
		text_expect_char(&ps, ':', "\":\" after a cluster id (id:size:centroid)");
		KM_SIZES(m)[j] = text_parse_int(&ps, 0, PG_INT64_MAX, "A cluster size");
		text_expect_char(&ps, ':', "\":\" after a cluster size (id:size:centroid)");
		text_parse_float_list(&ps, KM_CENTROIDS(m) + (Size) j * m->dims, m->dims, "a centroid");
		for (int32 i = 0; i < j; i++)
			if (KM_IDS(m)[i] == KM_IDS(m)[j])
				text_parser_error(&ps, "Cluster ids must be distinct.");
		if (KM_SIZES(m)[j] > PG_INT64_MAX - sum)
			text_parser_error(&ps, "The cluster sizes overflow.");
		sum += KM_SIZES(m)[j];
	}
	text_expect_end(&ps);
	if (sum != points)
		text_parser_error(&ps, "The cluster sizes must add up to points.");
	return m;
}

/*
 * Check a model that arrives as a datum: its size must match its k and
 * dims.  (A binary-corrupt datum cannot come from the text form, but a
 * model can be cast from a bytea-like source by a confused user.)
 */
void
kmeans_check_model(const KMeansModel *model)
{
	if (model->k < 1 || model->k > KMEANS_MAX_K || model->dims < 1 ||
		model->dims > KMEANS_MAX_DIMS ||
		VARSIZE(model) != KMEANS_MODEL_SIZE(model->k, model->dims))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupted segment.kmeans_model value"),
				 errdetail("Its size does not match its k and dimensions."),
				 errhint("Fit the model again with segment.kmeans().")));
}

Datum
kmeans_model_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(kmeans_model_parse(PG_GETARG_CSTRING(0), "segment.kmeans_model"));
}

Datum
kmeans_model_out(PG_FUNCTION_ARGS)
{
	KMeansModel *model = PG_GETARG_KMEANS_MODEL(0);
	StringInfoData buf;

	kmeans_check_model(model);
	initStringInfo(&buf);
	kmeans_model_format(&buf, model);
	PG_RETURN_CSTRING(buf.data);
}

/* Readers */

Datum
kmeans_assign(PG_FUNCTION_ARGS)
{
	KMeansModel *model = PG_GETARG_KMEANS_MODEL(0);
	int32		dims;
	const float8 *x;
	float8		z[KMEANS_MAX_DIMS];
	float8		d;
	int32		nearest;

	kmeans_check_model(model);
	x = kmeans_features(PG_GETARG_ARRAYTYPE_P(1), model->dims, "kmeans_assign", &dims);
	kmeans_standardize_row(model, x, z);
	nearest = kmeans_nearest(z, KM_CENTROIDS(model), model->k, model->dims, &d);
	PG_RETURN_INT32(KM_IDS(model)[nearest]);
}

Datum
kmeans_inertia(PG_FUNCTION_ARGS)
{
	KMeansModel *model = PG_GETARG_KMEANS_MODEL(0);

	kmeans_check_model(model);
	PG_RETURN_FLOAT8(model->inertia);
}

typedef struct CentroidsScan
{
	KMeansModel *model;
	int32	   *order;			/* positions sorted by cluster id */
} CentroidsScan;

/* One row per cluster, ordered by cluster id, centroids in original units. */
Datum
kmeans_centroids(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	CentroidsScan *scan;
	KMeansModel *model;
	int32		j;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		scan = palloc(sizeof(CentroidsScan));
		model = scan->model = (KMeansModel *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(0));
		kmeans_check_model(model);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "kmeans_centroids must be declared to return a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		/* sort positions by cluster id (k is small) */
		scan->order = palloc(sizeof(int32) * model->k);
		for (int32 a = 0; a < model->k; a++)
		{
			int32		b = a;

			while (b > 0 && KM_IDS(model)[scan->order[b - 1]] > KM_IDS(model)[a])
			{
				scan->order[b] = scan->order[b - 1];
				b--;
			}
			scan->order[b] = a;
		}
		funcctx->user_fctx = scan;
		funcctx->max_calls = model->k;
		MemoryContextSwitchTo(oldcontext);
	}
	funcctx = SRF_PERCALL_SETUP();
	if (funcctx->call_cntr >= funcctx->max_calls)
		SRF_RETURN_DONE(funcctx);
	scan = funcctx->user_fctx;
	model = scan->model;
	j = scan->order[funcctx->call_cntr];
	{
		Datum	   *elems = palloc(sizeof(Datum) * model->dims);
		const float8 *c = KM_CENTROIDS(model) + (Size) j * model->dims;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		for (int32 t = 0; t < model->dims; t++)
			elems[t] = Float8GetDatum(c[t] * KM_SCALE(model)[t] + KM_MEAN(model)[t]);
		values[0] = Int32GetDatum(KM_IDS(model)[j]);
		values[1] = PointerGetDatum(construct_array(elems, model->dims, FLOAT8OID,
													sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = Int64GetDatum(KM_SIZES(model)[j]);
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc, values, nulls)));
	}
}

static Datum
float8_array(const float8 *values, int32 n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);

	for (int32 i = 0; i < n; i++)
		elems[i] = Float8GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Everything but the centroids, as one row. */
Datum
kmeans_info(PG_FUNCTION_ARGS)
{
	KMeansModel *m = PG_GETARG_KMEANS_MODEL(0);
	TupleDesc	tupdesc;
	Datum		values[15];
	bool		nulls[15] = {0};

	kmeans_check_model(m);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "kmeans_info must be declared to return a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(m->k);
	values[1] = Int32GetDatum(m->requested_k);
	values[2] = Int32GetDatum(m->dims);
	values[3] = Int64GetDatum(m->points);
	values[4] = Float8GetDatum(m->inertia);
	values[5] = Int32GetDatum(m->iterations);
	values[6] = BoolGetDatum((m->flags & KMEANS_CONVERGED) != 0);
	values[7] = Float8GetDatum(m->shift);
	values[8] = Int64GetDatum(m->seed);
	values[9] = Int32GetDatum(m->n_init);
	values[10] = Int32GetDatum(m->max_iter);
	values[11] = Float8GetDatum(m->tol);
	values[12] = BoolGetDatum((m->flags & KMEANS_STANDARDIZED) != 0);
	values[13] = float8_array(KM_MEAN(m), m->dims);
	values[14] = float8_array(KM_SCALE(m), m->dims);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
