/*
 * kmeans_input.c -- validation of what users pass to the k-means functions:
 * feature arrays, k and the options (seed, n_init, max_iter, tol,
 * standardize, allow_fewer_clusters).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "kmeans/kmeans.h"
#include "common/textio.h"

/*
 * The float8 elements of a features array, after checking that it is a
 * non-empty one-dimensional array of finite numbers with expected_dims
 * elements (any number when expected_dims is 0).  The result points into
 * the array.
 */
const float8 *
kmeans_features(ArrayType *array, int32 expected_dims, const char *funcname, int32 *dims)
{
	int32		n;
	const float8 *values;

	Assert(ARR_ELEMTYPE(array) == FLOAT8OID);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: features must be a one-dimensional array", funcname),
				 errdetail("The array has %d dimensions.", ARR_NDIM(array)),
				 errhint("Pass one float8[] per row, for example ARRAY[recency, frequency, monetary].")));
	n = ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: features must not be empty", funcname),
				 errdetail("A row has a features array with no elements."),
				 errhint("Pass at least one feature per row, or filter such rows out.")));
	if (n > KMEANS_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: features have %d elements, more than the limit of %d",
						funcname, n, KMEANS_MAX_DIMS),
				 errdetail("k-means on this many dimensions is not supported."),
				 errhint("Reduce the features first, for example to their principal components.")));
	if (expected_dims > 0 && n != expected_dims)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: features have %d elements, expected %d", funcname, n, expected_dims),
				 errdetail("Every features array must have as many elements as the first row or the model (%d).",
						   expected_dims),
				 errhint("Build the features the same way for every row.")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: features must not contain NULL elements", funcname),
				 errdetail("A features array has a NULL among its %d elements.", n),
				 errhint("Replace missing values (for example with coalesce) or filter those rows out.")));
	values = (const float8 *) ARR_DATA_PTR(array);
	for (int32 i = 0; i < n; i++)
		if (isnan(values[i]) || isinf(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: features must be finite", funcname),
					 errdetail("Element %d of a features array is %s.", i + 1,
							   isnan(values[i]) ? "NaN" : (values[i] > 0 ? "Infinity" : "-Infinity")),
					 errhint("Filter out or replace non-finite values before clustering.")));
	*dims = n;
	return values;
}

void
kmeans_check_k(const char *funcname, int32 k)
{
	if (k < 1 || k > KMEANS_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k must be between 1 and %d", funcname, KMEANS_MAX_K),
				 errdetail("k = %d was given.", k),
				 errhint("Pass the number of clusters wanted; segment.kmeans_report() helps choose it.")));
}

void
kmeans_default_options(KMeansOptions *options)
{
	options->seed = 0;
	options->n_init = 4;
	options->max_iter = 300;
	options->tol = 1e-4;
	options->standardize = true;
	options->allow_fewer_clusters = false;
}

static void
out_of_range(const char *option, const char *range, const char *given)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("kmeans option \"%s\" must be %s", option, range),
			 errdetail("%s was given.", given),
			 errhint("Change the option, or leave it out to use its default.")));
}

void
kmeans_check_options(const KMeansOptions *options)
{
	char		given[64];

	if (options->n_init < 1 || options->n_init > KMEANS_MAX_N_INIT)
	{
		snprintf(given, sizeof(given), "%d", options->n_init);
		out_of_range("n_init", "between 1 and 100", given);
	}
	if (options->max_iter < 1 || options->max_iter > KMEANS_MAX_MAX_ITER)
	{
		snprintf(given, sizeof(given), "%d", options->max_iter);
		out_of_range("max_iter", "between 1 and 10000", given);
	}
	if (!(options->tol >= 0.0 && options->tol < 1.0))
	{
		snprintf(given, sizeof(given), "%g", options->tol);
		out_of_range("tol", "at least 0 and less than 1", given);
	}
}

static void
wrong_type(const char *key, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("kmeans option \"%s\" must be %s", key, expected),
			 errdetail("The options are a JSON object such as {\"seed\": 7, \"n_init\": 10, \"standardize\": false}."),
			 errhint("Give \"%s\" as %s.", key, expected)));
}

/* A JSON number that must be an integer in [min, max]. */
static int64
option_integer(const char *key, const JsonbValue *v, int64 min, int64 max)
{
	const char *text;
	const char *p;
	int64		result;

	if (v->type != jbvNumeric)
		wrong_type(key, "an integer");
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	p = text;
	if (!segment_parse_int64(&p, &result) || *p != '\0')
		wrong_type(key, "an integer");
	if (result < min || result > max)
	{
		char		range[64];

		snprintf(range, sizeof(range), "between " INT64_FORMAT " and " INT64_FORMAT, min, max);
		out_of_range(key, range, text);
	}
	return result;
}

/*
 * Read the options object over the defaults already in *options.  Unknown
 * keys are an error, so a misspelt option never silently does nothing.
 */
void
kmeans_parse_options(KMeansOptions *options, Datum jsonb)
{
	Jsonb	   *jb = DatumGetJsonbP(jsonb);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans options must be a JSON object"),
				 errdetail("The options are a JSON object such as {\"seed\": 7, \"n_init\": 10}."),
				 errhint("Pass '{}'::jsonb for the defaults.")));
	it = JsonbIteratorInit(&jb->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (token != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		token = JsonbIteratorNext(&it, &v, true);
		Assert(token == WJB_VALUE);
		if (strcmp(key, "seed") == 0)
			options->seed = option_integer(key, &v, PG_INT64_MIN, PG_INT64_MAX);
		else if (strcmp(key, "n_init") == 0)
			options->n_init = (int32) option_integer(key, &v, 1, KMEANS_MAX_N_INIT);
		else if (strcmp(key, "max_iter") == 0)
			options->max_iter = (int32) option_integer(key, &v, 1, KMEANS_MAX_MAX_ITER);
		else if (strcmp(key, "tol") == 0)
		{
			if (v.type != jbvNumeric)
				wrong_type(key, "a number");
			options->tol = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
															  NumericGetDatum(v.val.numeric)));
		}
		else if (strcmp(key, "standardize") == 0 || strcmp(key, "allow_fewer_clusters") == 0)
		{
			if (v.type != jbvBool)
				wrong_type(key, "true or false");
			if (key[0] == 's')
				options->standardize = v.val.boolean;
			else
				options->allow_fewer_clusters = v.val.boolean;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown kmeans option \"%s\"", key),
					 errdetail("The options are seed, n_init, max_iter, tol, standardize and allow_fewer_clusters."),
					 errhint("Check the spelling of the key.")));
	}
	kmeans_check_options(options);
}
