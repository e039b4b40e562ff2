/*
 * kmeans_agg.c -- the segment.kmeans(features, k [, seed [, n_init]] |
 * [, options]) aggregate and its state type segment.kmeans_state.
 *
 * Lloyd's algorithm needs every point on every iteration, so the state
 * collects the points; the final function sorts them (a canonical order,
 * so serial and parallel plans give the same model bit for bit), merges
 * duplicates and fits.  The state is a plain varlena with a text form, so
 * partial states travel between parallel workers and Citus nodes.
 *
 * Text form: "k=3;dims=2;seed=0;n_init=4;max_iter=300;tol=0.0001;
 * standardize=true;allow_fewer_clusters=false;rows=2;points=1,2|3,4".
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "kmeans/kmeans.h"
#include "segment.h"
#include "common/textio.h"

PG_FUNCTION_INFO_V1(kmeans_state_in);
PG_FUNCTION_INFO_V1(kmeans_state_out);
PG_FUNCTION_INFO_V1(kmeans_transfn);
PG_FUNCTION_INFO_V1(kmeans_transfn_seed);
PG_FUNCTION_INFO_V1(kmeans_transfn_seed_n_init);
PG_FUNCTION_INFO_V1(kmeans_transfn_options);
PG_FUNCTION_INFO_V1(kmeans_combine);
PG_FUNCTION_INFO_V1(kmeans_final);

typedef struct KMeansState
{
	int32		vl_len_;		/* VARSIZE gives the capacity */
	int32		k;
	int32		dims;
	int32		n_init;
	int32		max_iter;
	bool		standardize;
	bool		allow_fewer_clusters;
	int64		seed;
	float8		tol;
	int64		rows;
	float8		x[FLEXIBLE_ARRAY_MEMBER];	/* rows * dims, row-major */
} KMeansState;

#define STATE_HEADER offsetof(KMeansState, x)
#define STATE_CAPACITY(s) ((int64) ((VARSIZE(s) - STATE_HEADER) / (sizeof(float8) * (s)->dims)))
#define STATE_MAX_ROWS(dims) ((int64) ((MaxAllocSize - STATE_HEADER) / (sizeof(float8) * (dims))))
#define INITIAL_ROWS 1024

#define STATE_TEXT_EXAMPLE \
	"k=2;dims=1;seed=0;n_init=4;max_iter=300;tol=0.0001;standardize=true;allow_fewer_clusters=false;rows=3;points=1|2|5"

static KMeansState *
state_create(int32 k, int32 dims, const KMeansOptions *options, int64 capacity)
{
	Size		size = STATE_HEADER + sizeof(float8) * dims * capacity;
	KMeansState *state = palloc0(size);

	SET_VARSIZE(state, size);
	state->k = k;
	state->dims = dims;
	state->n_init = options->n_init;
	state->max_iter = options->max_iter;
	state->standardize = options->standardize;
	state->allow_fewer_clusters = options->allow_fewer_clusters;
	state->seed = options->seed;
	state->tol = options->tol;
	state->rows = 0;
	return state;
}

static void
state_options(const KMeansState *state, KMeansOptions *options)
{
	options->seed = state->seed;
	options->n_init = state->n_init;
	options->max_iter = state->max_iter;
	options->tol = state->tol;
	options->standardize = state->standardize;
	options->allow_fewer_clusters = state->allow_fewer_clusters;
}

/*
 * Room for "needed" more rows.  A grown state is a new palloc in the
 * current context; the aggregate executor copies it into its own context
 * and frees the old one.
 */
static KMeansState *
state_make_room(KMeansState *state, int64 needed)
{
	int64		capacity = STATE_CAPACITY(state);
	int64		limit = STATE_MAX_ROWS(state->dims);
	int64		wanted;
	KMeansState *grown;
	KMeansOptions options;

	if (state->rows + needed <= capacity)
		return state;
	if (state->rows + needed > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("segment.kmeans cannot hold more than " INT64_FORMAT " rows of %d features",
						limit, state->dims),
				 errdetail("The aggregate keeps every point for Lloyd's iterations, and its state is limited to 1 GB."),
				 errhint("Fit on a sample (TABLESAMPLE), then refine on all rows with segment.kmeans_step().")));
	wanted = Min(Max(capacity * 2, state->rows + needed), limit);
	state_options(state, &options);
	grown = state_create(state->k, state->dims, &options, wanted);
	grown->rows = state->rows;
	memcpy(grown->x, state->x, sizeof(float8) * state->dims * state->rows);
	return grown;
}

static void
check_same_k(int32 expected, int32 got)
{
	if (expected != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be the same for every row of segment.kmeans"),
				 errdetail("A group was started with k = %d and then received k = %d.", expected, got),
				 errhint("Pass a constant k.")));
}

/*
 * The common transition: options are read once, from the first non-null
 * row, and belong to the state from then on.
 */
static Datum
kmeans_transition(FunctionCallInfo fcinfo, void (*read_options) (FunctionCallInfo, KMeansOptions *))
{
	KMeansState *state = PG_ARGISNULL(0) ? NULL : (KMeansState *) PG_GETARG_POINTER(0);
	int32		k;
	int32		dims;
	const float8 *x;

	segment_require_aggregate(fcinfo, "kmeans transition functions", "They update their state argument in place.",
							  "segment.kmeans(features, k)");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment.kmeans: k must not be NULL"),
				 errdetail("The number of clusters is required."),
				 errhint("Pass the number of clusters wanted, for example 6.")));
	k = PG_GETARG_INT32(2);
	kmeans_check_k("segment.kmeans", k);
	if (PG_ARGISNULL(1))		/* rows without features are skipped */
	{
		/* no state yet: stay NULL (a non-null 0 would reach the final function) */
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}

	x = kmeans_features(PG_GETARG_ARRAYTYPE_P(1), state ? state->dims : 0, "segment.kmeans", &dims);
	if (state == NULL)
	{
		KMeansOptions options;

		kmeans_default_options(&options);
		read_options(fcinfo, &options);
		kmeans_check_options(&options);
		/* the executor copies a new state into its aggregate context */
		state = state_create(k, dims, &options, Min(INITIAL_ROWS, STATE_MAX_ROWS(dims)));
	}
	else
		check_same_k(state->k, k);

	state = state_make_room(state, 1);
	memcpy(state->x + state->rows * dims, x, sizeof(float8) * dims);
	state->rows++;
	PG_RETURN_POINTER(state);
}

static void
no_options(FunctionCallInfo fcinfo, KMeansOptions *options)
{
}

static void
seed_option(FunctionCallInfo fcinfo, KMeansOptions *options)
{
	if (!PG_ARGISNULL(3))
		options->seed = PG_GETARG_INT64(3);
}

static void
seed_n_init_options(FunctionCallInfo fcinfo, KMeansOptions *options)
{
	seed_option(fcinfo, options);
	if (!PG_ARGISNULL(4))
		options->n_init = PG_GETARG_INT32(4);
}

static void
jsonb_options(FunctionCallInfo fcinfo, KMeansOptions *options)
{
	if (!PG_ARGISNULL(3))
		kmeans_parse_options(options, PG_GETARG_DATUM(3));
}

Datum
kmeans_transfn(PG_FUNCTION_ARGS)
{
	return kmeans_transition(fcinfo, no_options);
}

Datum
kmeans_transfn_seed(PG_FUNCTION_ARGS)
{
	return kmeans_transition(fcinfo, seed_option);
}

Datum
kmeans_transfn_seed_n_init(PG_FUNCTION_ARGS)
{
	return kmeans_transition(fcinfo, seed_n_init_options);
}

Datum
kmeans_transfn_options(PG_FUNCTION_ARGS)
{
	return kmeans_transition(fcinfo, jsonb_options);
}

Datum
kmeans_combine(PG_FUNCTION_ARGS)
{
	KMeansState *a = (KMeansState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	KMeansState *b = (KMeansState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));

	segment_require_aggregate(fcinfo, "kmeans_combine", "It updates its first argument in place.",
							  "segment.kmeans(features, k)");
	if (a->k != b->k || a->dims != b->dims || a->seed != b->seed || a->n_init != b->n_init ||
		a->max_iter != b->max_iter || a->tol != b->tol || a->standardize != b->standardize ||
		a->allow_fewer_clusters != b->allow_fewer_clusters)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine segment.kmeans states with different settings"),
				 errdetail("One state has k = %d and %d features, the other k = %d and %d features (or other options differ).",
						   a->k, a->dims, b->k, b->dims),
				 errhint("Pass the same k and options on every row and every node.")));
	a = state_make_room(a, b->rows);
	memcpy(a->x + a->rows * a->dims, b->x, sizeof(float8) * b->dims * b->rows);
	a->rows += b->rows;
	PG_RETURN_POINTER(a);
}

Datum
kmeans_final(PG_FUNCTION_ARGS)
{
	KMeansState *state = (KMeansState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	KMeansOptions options;
	float8	   *x;
	float8	   *weights;
	int64		unique;
	int32		k = state->k;
	KMeansModel *model;

	state_options(state, &options);
	/* the state is read-only here: sort a copy */
	x = palloc_extended(sizeof(float8) * state->dims * state->rows, MCXT_ALLOC_HUGE);
	memcpy(x, state->x, sizeof(float8) * state->dims * state->rows);
	weights = palloc_extended(sizeof(float8) * state->rows, MCXT_ALLOC_HUGE);
	unique = kmeans_sort_unique(x, state->rows, state->dims, weights);
	if (unique < k)
	{
		if (!options.allow_fewer_clusters)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment.kmeans: k = %d is greater than the number of distinct points (" INT64_FORMAT ")",
							k, unique),
					 errdetail("The input has " INT64_FORMAT " rows but only " INT64_FORMAT " distinct feature vectors.",
							   state->rows, unique),
					 errhint("Lower k, or pass the option {\"allow_fewer_clusters\": true} to get one cluster per distinct point.")));
		k = (int32) unique;
	}
	model = kmeans_fit(x, weights, unique, state->dims, k, &options);
	model->requested_k = state->k;
	pfree(x);
	pfree(weights);
	PG_RETURN_POINTER(model);
}

Datum
kmeans_state_out(PG_FUNCTION_ARGS)
{
	KMeansState *state = (KMeansState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "k=%d;dims=%d;seed=" INT64_FORMAT ";n_init=%d;max_iter=%d;tol=",
					 state->k, state->dims, state->seed, state->n_init, state->max_iter);
	segment_append_float8(&buf, state->tol);
	appendStringInfo(&buf, ";standardize=%s;allow_fewer_clusters=%s;rows=" INT64_FORMAT ";points=",
					 state->standardize ? "true" : "false",
					 state->allow_fewer_clusters ? "true" : "false", state->rows);
	for (int64 i = 0; i < state->rows; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '|');
		text_append_float8_list(&buf, state->x + i * state->dims, state->dims);
	}
	PG_RETURN_CSTRING(buf.data);
}

Datum
kmeans_state_in(PG_FUNCTION_ARGS)
{
	TextParser	ps;
	KMeansOptions options;
	int64		k,
				dims,
				rows;
	KMeansState *state;

	text_parser_init(&ps, PG_GETARG_CSTRING(0), "segment.kmeans_state",
					 "A kmeans_state text lists its fields in a fixed order, for example \""
					 STATE_TEXT_EXAMPLE "\".");
	text_expect_key(&ps, "k", true);
	k = text_parse_int(&ps, 1, KMEANS_MAX_K, "k");
	text_expect_key(&ps, "dims", false);
	dims = text_parse_int(&ps, 1, KMEANS_MAX_DIMS, "dims");
	text_expect_key(&ps, "seed", false);
	options.seed = text_parse_int(&ps, PG_INT64_MIN, PG_INT64_MAX, "seed");
	text_expect_key(&ps, "n_init", false);
	options.n_init = (int32) text_parse_int(&ps, 1, KMEANS_MAX_N_INIT, "n_init");
	text_expect_key(&ps, "max_iter", false);
	options.max_iter = (int32) text_parse_int(&ps, 1, KMEANS_MAX_MAX_ITER, "max_iter");
	text_expect_key(&ps, "tol", false);
	options.tol = text_parse_float(&ps, true, "tol");
	text_expect_key(&ps, "standardize", false);
	options.standardize = text_parse_bool(&ps, "standardize");
	text_expect_key(&ps, "allow_fewer_clusters", false);
	options.allow_fewer_clusters = text_parse_bool(&ps, "allow_fewer_clusters");
	kmeans_check_options(&options);
	text_expect_key(&ps, "rows", false);
	rows = text_parse_int(&ps, 1, STATE_MAX_ROWS(dims), "rows");
	text_expect_key(&ps, "points", false);
	{
		int64		separators = 0;

		/* allocate only what the text can fill */
		for (const char *c = ps.p; *c; c++)
			separators += (*c == '|');
		if (separators + 1 != rows)
			text_parser_error(&ps, "points must list as many points as rows, separated by \"|\".");
	}
	state = state_create((int32) k, (int32) dims, &options, rows);
	for (int64 i = 0; i < rows; i++)
	{
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		if (i > 0)
			text_expect_char(&ps, '|', "\"|\" between the points (as many as rows)");
		text_parse_float_list(&ps, state->x + i * dims, (int32) dims, "a point");
	}
	text_expect_end(&ps);
	state->rows = rows;
	PG_RETURN_POINTER(state);
}
