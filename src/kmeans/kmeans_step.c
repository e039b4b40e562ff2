/*
 * kmeans_step.c -- segment.kmeans_step(model, features): one Lloyd
 * iteration as a mergeable aggregate, and its state segment.kmeans_step_state.
 *
 * Each row is assigned to the model's nearest centroid and added to that
 * cluster's sum; partial states add up, so one iteration is one query that
 * parallel workers or Citus shards can share.  The final function returns
 * the model with every centroid moved to the mean of its rows (a cluster
 * that got no row keeps its centroid), inertia against the centroids the
 * step started from, and the squared centroid movement in "shift".
 *
 * Text form: "rows=4;inertia=2;counts=2,2;sums=2,2|-2,-2;model=<model>",
 * sums in clustering space, one group of dims numbers per cluster.
 */
#include "postgres.h"

#include <math.h>

#include "utils/array.h"

#include "kmeans/kmeans.h"
#include "kmeans/kmeans_space.h"
#include "segment.h"
#include "common/textio.h"

PG_FUNCTION_INFO_V1(kmeans_step_state_in);
PG_FUNCTION_INFO_V1(kmeans_step_state_out);
PG_FUNCTION_INFO_V1(kmeans_step_transfn);
PG_FUNCTION_INFO_V1(kmeans_step_combine);
PG_FUNCTION_INFO_V1(kmeans_step_final);

typedef struct KMeansStepState
{
	int32		vl_len_;
	int32		k;
	int32		dims;
	int32		unused;
	int64		rows;
	float8		inertia;
	/* sums[k * dims] (float8), counts[k] (int64), then a copy of the model */
	float8		data[FLEXIBLE_ARRAY_MEMBER];
} KMeansStepState;

#define STEP_SUMS(s)	((s)->data)
#define STEP_COUNTS(s)	((int64 *) ((s)->data + (Size) (s)->k * (s)->dims))
#define STEP_MODEL(s)	((KMeansModel *) (STEP_COUNTS(s) + (s)->k))
#define STEP_SIZE(k, dims, model_size) \
	(offsetof(KMeansStepState, data) + sizeof(float8) * (Size) (k) * (dims) \
	 + sizeof(int64) * (Size) (k) + (model_size))

static KMeansStepState *
step_state_create(const KMeansModel *model)
{
	Size		size = STEP_SIZE(model->k, model->dims, VARSIZE(model));
	KMeansStepState *state = palloc0(size);

	SET_VARSIZE(state, size);
	state->k = model->k;
	state->dims = model->dims;
	memcpy(STEP_MODEL(state), model, VARSIZE(model));
	return state;
}

Datum
kmeans_step_transfn(PG_FUNCTION_ARGS)
{
	KMeansStepState *state = PG_ARGISNULL(0) ? NULL : (KMeansStepState *) PG_GETARG_POINTER(0);
	const KMeansModel *model;
	const float8 *x;
	float8		z[KMEANS_MAX_DIMS];
	float8		d;
	int32		dims;
	int32		j;

	segment_require_aggregate(fcinfo, "kmeans_step_transfn", "It updates its state argument in place.",
							  "segment.kmeans_step(model, features)");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment.kmeans_step: model must not be NULL"),
				 errdetail("A Lloyd step moves the centroids of an existing model."),
				 errhint("Start from a model fitted with segment.kmeans(), for example on a sample.")));
	if (state == NULL)
	{
		KMeansModel *given = PG_GETARG_KMEANS_MODEL(1);

		kmeans_check_model(given);
		/* the executor copies a new state into its aggregate context */
		state = step_state_create(given);
	}
	if (PG_ARGISNULL(2))		/* rows without features are skipped */
		PG_RETURN_POINTER(state);

	model = STEP_MODEL(state);
	x = kmeans_features(PG_GETARG_ARRAYTYPE_P(2), model->dims, "segment.kmeans_step", &dims);
	kmeans_standardize_row(model, x, z);
	for (int32 t = 0; t < dims; t++)
		if (isnan(z[t]) || isinf(z[t]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("segment.kmeans_step: features are too far from the model to standardize"),
					 errdetail("Element %d of a features array overflows float8 once centred and scaled by the model.", t + 1),
					 errhint("Refine a model fitted on features of the same scale.")));
	j = kmeans_nearest(z, KM_CENTROIDS(model), model->k, dims, &d);
	for (int32 t = 0; t < dims; t++)
		STEP_SUMS(state)[(Size) j * dims + t] += z[t];
	STEP_COUNTS(state)[j]++;
	state->rows++;
	state->inertia += d;
	PG_RETURN_POINTER(state);
}

Datum
kmeans_step_combine(PG_FUNCTION_ARGS)
{
	KMeansStepState *a = (KMeansStepState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	KMeansStepState *b = (KMeansStepState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	Size		nsums;

	segment_require_aggregate(fcinfo, "kmeans_step_combine", "It updates its state argument in place.",
							  "segment.kmeans_step(model, features)");
	if (VARSIZE(a) != VARSIZE(b) ||
		memcmp(STEP_MODEL(a), STEP_MODEL(b), VARSIZE(STEP_MODEL(a))) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine segment.kmeans_step states of different models"),
				 errdetail("Every partial state of one step must start from the same model."),
				 errhint("Pass the same model on every row, for example from a scalar subquery or a variable.")));
	nsums = (Size) a->k * a->dims;
	for (Size i = 0; i < nsums; i++)
		STEP_SUMS(a)[i] += STEP_SUMS(b)[i];
	for (int32 j = 0; j < a->k; j++)
		STEP_COUNTS(a)[j] += STEP_COUNTS(b)[j];
	a->rows += b->rows;
	a->inertia += b->inertia;
	PG_RETURN_POINTER(a);
}

Datum
kmeans_step_final(PG_FUNCTION_ARGS)
{
	KMeansStepState *state = (KMeansStepState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	const KMeansModel *old = STEP_MODEL(state);
	KMeansModel *next = palloc(VARSIZE(old));
	int32		dims = old->dims;
	float8		shift = 0.0;

	memcpy(next, old, VARSIZE(old));
	for (int32 j = 0; j < old->k; j++)
	{
		int64		count = STEP_COUNTS(state)[j];
		float8	   *c = KM_CENTROIDS(next) + (Size) j * dims;

		for (int32 t = 0; t < dims && count > 0; t++)
		{
			float8		moved = STEP_SUMS(state)[(Size) j * dims + t] / count;

			shift += (moved - c[t]) * (moved - c[t]);
			c[t] = moved;
		}
		KM_SIZES(next)[j] = count;
	}
	next->points = state->rows;
	next->inertia = state->inertia;
	next->shift = shift;
	next->iterations = old->iterations + 1;
	if (shift <= old->tol * old->variance)
		next->flags |= KMEANS_CONVERGED;
	else
		next->flags &= ~KMEANS_CONVERGED;
	PG_RETURN_POINTER(next);
}

Datum
kmeans_step_state_out(PG_FUNCTION_ARGS)
{
	KMeansStepState *state = (KMeansStepState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "rows=" INT64_FORMAT ";inertia=", state->rows);
	segment_append_float8(&buf, state->inertia);
	appendStringInfoString(&buf, ";counts=");
	for (int32 j = 0; j < state->k; j++)
		appendStringInfo(&buf, "%s" INT64_FORMAT, j > 0 ? "," : "", STEP_COUNTS(state)[j]);
	appendStringInfoString(&buf, ";sums=");
	for (int32 j = 0; j < state->k; j++)
	{
		if (j > 0)
			appendStringInfoChar(&buf, '|');
		text_append_float8_list(&buf, STEP_SUMS(state) + (Size) j * state->dims, state->dims);
	}
	appendStringInfoString(&buf, ";model=");
	kmeans_model_format(&buf, STEP_MODEL(state));
	PG_RETURN_CSTRING(buf.data);
}

/*
 * The sums and counts come before the model in the text but their sizes
 * depend on it, so they are read into temporary arrays first.
 */
Datum
kmeans_step_state_in(PG_FUNCTION_ARGS)
{
	TextParser	ps;
	float8		inertia;
	int64		rows;
	int64		sum = 0;
	int64	   *counts = palloc(sizeof(int64) * KMEANS_MAX_K);
	int32		k = 0;
	const char *sums_text;
	const char *model_text;
	KMeansModel *model;
	KMeansStepState *state;

	text_parser_init(&ps, PG_GETARG_CSTRING(0), "segment.kmeans_step_state",
					 "A kmeans_step_state text is \"rows=<n>;inertia=<x>;counts=<c>,...;sums=<s>,...|...;model=<kmeans_model text>\".");
	text_expect_key(&ps, "rows", true);
	rows = text_parse_int(&ps, 0, PG_INT64_MAX, "rows");
	text_expect_key(&ps, "inertia", false);
	inertia = text_parse_float(&ps, true, "inertia");
	text_expect_key(&ps, "counts", false);
	do
	{
		if (k == KMEANS_MAX_K)
			text_parser_error(&ps, "There are more counts than the largest k.");
		if (k > 0)
			ps.p++;				/* the comma */
		counts[k] = text_parse_int(&ps, 0, PG_INT64_MAX, "A count");
		if (counts[k] > PG_INT64_MAX - sum)
			text_parser_error(&ps, "The counts overflow.");
		sum += counts[k++];
	} while (*ps.p == ',');
	if (sum != rows)
		text_parser_error(&ps, "The counts must add up to rows.");
	text_expect_key(&ps, "sums", false);
	sums_text = ps.p;
	model_text = strstr(ps.p, ";model=");
	if (model_text == NULL)
		text_parser_error(&ps, "Expected the field \"model=\" after the sums.");
	model = kmeans_model_parse(model_text + strlen(";model="), "segment.kmeans_model");
	if (model->k != k)
		text_parser_error(&ps, "There must be one count per cluster of the model.");
	state = step_state_create(model);
	state->rows = rows;
	state->inertia = inertia;
	memcpy(STEP_COUNTS(state), counts, sizeof(int64) * k);
	ps.p = sums_text;
	for (int32 j = 0; j < k; j++)
	{
		if (j > 0)
			text_expect_char(&ps, '|', "\"|\" between the sums of the k clusters");
		text_parse_float_list(&ps, STEP_SUMS(state) + (Size) j * model->dims, model->dims, "a sum");
	}
	if (ps.p != model_text)
		text_parser_error(&ps, "Expected \";model=\" after the k sums.");
	PG_RETURN_POINTER(state);
}
