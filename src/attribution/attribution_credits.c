/*
 * attribution_credits.c -- segment.touch_credits(): the credit each touch of
 * one conversion path gets under a rule-based attribution model.
 *
 * The path is the touches' times (in any order; ties keep their order); the
 * credits come back in the same order and sum to 1 over the touches at or
 * before the conversion.  Touches after it get 0 (they are never credited);
 * a path with none left gets all zeros (the caller books it to "(none)").
 *   first_touch     1 to the earliest
 *   last_touch      1 to the latest
 *   linear          1/n each
 *   position_based  1 touch: 1; 2: 0.5 each; n >= 3: 0.4 first, 0.4 last,
 *                   0.2 / (n - 2) each in between
 *   time_decay      proportional to 2^(-(conversion - touch) / half_life)
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "attribution/attribution.h"

PG_FUNCTION_INFO_V1(touch_credits);

#define MAX_TOUCHES (64 * 1024 * 1024)

const char *const credit_model_names[CREDIT_MODELS] = {"first_touch", "last_touch", "linear", "position_based", "time_decay"};

typedef struct Touch
{
	TimestampTz at;
	int32		index;			/* position in the input */
} Touch;

static int
cmp_touch(const void *a, const void *b)
{
	const Touch *x = a;
	const Touch *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->index - y->index;
}

static CreditModel
parse_model(const char *name)
{
	for (int i = 0; i < CREDIT_MODELS; i++)
		if (strcmp(name, credit_model_names[i]) == 0)
			return (CreditModel) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown attribution model \"%s\"", name),
			 errdetail("Rule-based models credit one path at a time; markov is fitted over many paths by segment.markov_fit."),
			 errhint("Use first_touch, last_touch, linear, position_based or time_decay.")));
	return LINEAR;				/* not reached */
}

float8
half_life_seconds(const Interval *half_life)
{
	float8		h = (float8) half_life->time / USECS_PER_SEC +
		((float8) half_life->day + (float8) half_life->month * DAYS_PER_MONTH) * SECS_PER_DAY;

	if (!(h > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("half_life must be positive"),
				 errhint("Pass an interval such as '7 days'.")));
	return h;
}

void
credit_path(CreditModel model, const TimestampTz *at, int k, float8 half_life, float8 *credits)
{
	memset(credits, 0, sizeof(float8) * k);
	switch (model)
	{
		case FIRST_TOUCH:
			credits[0] = 1.0;
			break;
		case LAST_TOUCH:
			credits[k - 1] = 1.0;
			break;
		case LINEAR:
			for (int i = 0; i < k; i++)
				credits[i] = 1.0 / k;
			break;
		case POSITION_BASED:
			if (k == 1)
				credits[0] = 1.0;
			else if (k == 2)
				credits[0] = credits[1] = 0.5;
			else
			{
				for (int i = 1; i < k - 1; i++)
					credits[i] = 0.2 / (k - 2);
				credits[0] = credits[k - 1] = 0.4;
			}
			break;
		case TIME_DECAY:
			{
				float8		sum = 0.0;

				/* relative to the latest touch, so that nothing underflows */
				for (int i = 0; i < k; i++)
				{
					credits[i] = pow(2.0, -((float8) (at[k - 1] - at[i]) / USECS_PER_SEC) / half_life);
					sum += credits[i];
				}
				for (int i = 0; i < k; i++)
					credits[i] /= sum;
			}
			break;
	}
}

/*
 * segment.touch_credits(model text, touched_at timestamptz[],
 *                       converted_at timestamptz, half_life interval)
 *   → float8[]
 */
Datum
touch_credits(PG_FUNCTION_ARGS)
{
	CreditModel model = parse_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	ArrayType  *times = PG_GETARG_ARRAYTYPE_P(1);
	TimestampTz converted = PG_GETARG_TIMESTAMPTZ(2);
	Interval   *half_life = PG_GETARG_INTERVAL_P(3);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			k = 0;			/* touches at or before the conversion */
	Touch	   *path;
	float8	   *credits;
	Datum	   *out;

	if (ARR_NDIM(times) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("touched_at must be a one-dimensional array"),
				 errhint("Pass the path's touch times, for example array_agg(touched_at).")));
	deconstruct_array(times, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n > MAX_TOUCHES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a path of %d touches is too long", n),
				 errhint("Paths are limited to %d touches.", MAX_TOUCHES)));
	path = palloc(sizeof(Touch) * Max(n, 1));
	credits = palloc0(sizeof(float8) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		TimestampTz t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("touched_at holds a NULL at position %d", i + 1),
					 errdetail("Every touch of a path needs its time."),
					 errhint("Leave touches without a time out of the path.")));
		t = DatumGetTimestampTz(elems[i]);
		if (t <= converted)
		{
			path[k].at = t;
			path[k].index = i;
			k++;
		}
	}
	qsort(path, k, sizeof(Touch), cmp_touch);
	if (k > 0)
	{
		TimestampTz *sorted = palloc(sizeof(TimestampTz) * k);
		float8	   *in_order = palloc(sizeof(float8) * k);

		for (int i = 0; i < k; i++)
			sorted[i] = path[i].at;
		credit_path(model, sorted, k, model == TIME_DECAY ? half_life_seconds(half_life) : 0.0, in_order);
		for (int i = 0; i < k; i++)
			credits[path[i].index] = in_order[i];
	}

	out = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		out[i] = Float8GetDatum(credits[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
