/*
 * btyd_agg.c -- the fitting aggregates segment.bgnbd_fit(x, t_x, T),
 * segment.paretonbd_fit(x, t_x, T) and segment.gammagamma_fit(x,
 * mean_value), and their state type segment.btyd_state.
 *
 * A fit needs every customer's summary on every iteration, so the state
 * keeps them, equal ones merged (btyd_compact) whenever it fills up: it
 * grows with the distinct summaries, not the customers.  It is a plain
 * varlena with a text form, so partial states travel between parallel
 * workers and Citus nodes; merged in any order they give the same points,
 * and so the same model, as a serial fit.
 *
 * Text form: "kind=summary;points=x,t_x,T,weight|..." (BG/NBD, Pareto/NBD) or
 * "kind=spend;points=x,mean_value,0,weight|..." (Gamma-Gamma).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "common/textio.h"
#include "predict/btyd.h"
#include "predict/btyd_model.h"

PG_FUNCTION_INFO_V1(btyd_state_in);
PG_FUNCTION_INFO_V1(btyd_state_out);
PG_FUNCTION_INFO_V1(bgnbd_fit_transfn);
PG_FUNCTION_INFO_V1(paretonbd_fit_transfn);
PG_FUNCTION_INFO_V1(gammagamma_fit_transfn);
PG_FUNCTION_INFO_V1(btyd_state_combine);
PG_FUNCTION_INFO_V1(bgnbd_fit_final);
PG_FUNCTION_INFO_V1(gammagamma_fit_final);
PG_FUNCTION_INFO_V1(paretonbd_fit_final);

/* what a state's points are */
typedef enum StateKind
{
	STATE_SUMMARY = 0,			/* (x, t_x, T): BG/NBD, Pareto/NBD */
	STATE_SPEND = 1				/* (x, mean repeat value, 0): Gamma-Gamma */
} StateKind;

typedef struct BtydState
{
	int32		vl_len_;		/* VARSIZE gives the capacity */
	int32		kind;			/* StateKind */
	int64		n;
	BtydPoint	points[FLEXIBLE_ARRAY_MEMBER];
} BtydState;

#define STATE_HEADER offsetof(BtydState, points)
#define STATE_CAPACITY(s) ((int64) ((VARSIZE(s) - STATE_HEADER) / sizeof(BtydPoint)))
#define STATE_MAX_POINTS ((int64) ((MaxAllocSize - STATE_HEADER) / sizeof(BtydPoint)))
#define INITIAL_POINTS 64
/* weights are counts of customers: whole numbers a float8 holds exactly */
#define MAX_WEIGHT 9007199254740992.0	/* 2^53 */

static const char *const kind_names[2] = {"summary", "spend"};

static BtydState *
state_create(StateKind kind, int64 capacity)
{
	Size		size = STATE_HEADER + sizeof(BtydPoint) * capacity;
	/* zeroed: the unused capacity is stored with the state */
	BtydState  *s = palloc0(size);

	SET_VARSIZE(s, size);
	s->kind = kind;
	s->n = 0;
	return s;
}

/*
 * Room for one more point.  Past COMPACT_FROM points equal ones are merged
 * first, and the state doubled only when that leaves it more than half
 * full; below, merging is left to the final function (one sort rather than
 * one per doubling).  A grown state is a new palloc; the aggregate executor
 * copies it into its own context.
 */
#define COMPACT_FROM (1024 * 1024)

static BtydState *
state_make_room(BtydState *s)
{
	int64		capacity = STATE_CAPACITY(s);
	BtydState  *grown;

	if (s->n < capacity)
		return s;
	if (capacity >= COMPACT_FROM)
	{
		s->n = btyd_compact(s->points, s->n);
		if (s->n <= capacity / 2)
			return s;
	}
	if (capacity >= STATE_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the fit cannot hold more than " INT64_FORMAT " distinct customer summaries", STATE_MAX_POINTS),
				 errdetail("The fitting aggregates keep each distinct (x, t_x, T) once, in at most 1 GB."),
				 errhint("Round t_x and T to whole days (or weeks), or fit on a sample.")));
	grown = state_create(s->kind, Min(capacity * 2, STATE_MAX_POINTS));
	grown->n = s->n;
	memcpy(grown->points, s->points, sizeof(BtydPoint) * s->n);
	return grown;
}

/*
 * A state argument, detoasted (a stored state is, and any role may pass one
 * to the support functions through an aggregate of its own), and checked:
 * its header, its kind, its points within its size.  The transition value
 * of a running aggregate is never toasted: detoasting returns it as it is,
 * to be changed in place.
 */
static BtydState *
state_arg(FunctionCallInfo fcinfo, int arg, StateKind kind)
{
	BtydState  *s = (BtydState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(arg));

	if (VARSIZE(s) < STATE_HEADER || s->kind != kind || s->n < 0 || s->n > STATE_CAPACITY(s))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupted segment.btyd_state value"),
				 errdetail("The state is of another model or its size does not match its points."),
				 errhint("Make the state again with the aggregate or from its text form.")));
	return s;
}

/* The kind of a detoasted state argument, checked. */
static StateKind
state_kind(FunctionCallInfo fcinfo, int arg)
{
	BtydState  *s = (BtydState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(arg));

	if (VARSIZE(s) < STATE_HEADER || (s->kind != STATE_SUMMARY && s->kind != STATE_SPEND))
		state_arg(fcinfo, arg, STATE_SUMMARY);	/* reports the corruption */
	return (StateKind) s->kind;
}

static Datum
add_point(FunctionCallInfo fcinfo, StateKind kind, float8 x, float8 t, float8 T)
{
	BtydState  *s;

	s = PG_ARGISNULL(0) ? state_create(kind, INITIAL_POINTS) : state_arg(fcinfo, 0, kind);
	s = state_make_room(s);
	s->points[s->n].x = x;
	s->points[s->n].t = t;
	s->points[s->n].T = T;
	s->points[s->n].weight = 1.0;
	s->n++;
	PG_RETURN_POINTER(s);
}

/* Refuses a call from anything but an aggregate. */
static void
check_aggregate(FunctionCallInfo fcinfo, const char *aggregate)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the transition function of %s called outside an aggregate", aggregate),
				 errhint("Call the aggregate %s().", aggregate)));
}

/* (x, t_x, T) of one customer: rows with a NULL are left out, like an aggregate's NULL input. */
static Datum
add_summary(FunctionCallInfo fcinfo, const char *aggregate)
{
	float8		x,
				t_x,
				T;

	check_aggregate(fcinfo, aggregate);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	x = PG_GETARG_FLOAT8(1);
	t_x = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	btyd_check_summary(aggregate, x, t_x, T);
	return add_point(fcinfo, STATE_SUMMARY, x, t_x + 0.0, T + 0.0);
}

Datum
bgnbd_fit_transfn(PG_FUNCTION_ARGS)
{
	return add_summary(fcinfo, "segment.bgnbd_fit");
}

Datum
paretonbd_fit_transfn(PG_FUNCTION_ARGS)
{
	return add_summary(fcinfo, "segment.paretonbd_fit");
}

/* gammagamma_fit(x, mean_value): only customers with repeat purchases (x > 0) count. */
Datum
gammagamma_fit_transfn(PG_FUNCTION_ARGS)
{
	float8		x,
				mean_value;

	check_aggregate(fcinfo, "segment.gammagamma_fit");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_FLOAT8(1) == 0)
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	x = PG_GETARG_FLOAT8(1);
	mean_value = PG_GETARG_FLOAT8(2);
	if (!isfinite(x) || x < 0 || x != floor(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.gammagamma_fit: x (repeat purchases) must be a whole number >= 0, not %g", x)));
	if (!(mean_value > 0) || !isfinite(mean_value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.gammagamma_fit: the mean repeat value must be a positive finite number, not %g", mean_value),
				 errhint("The Gamma-Gamma model describes positive order values; leave out customers whose repeat orders net to zero or less.")));
	return add_point(fcinfo, STATE_SPEND, x, mean_value, 0.0);
}

Datum
btyd_state_combine(PG_FUNCTION_ARGS)
{
	BtydState  *a;
	BtydState  *b;
	BtydState  *c;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("segment.btyd_state_combine called outside an aggregate"),
				 errhint("Call the aggregates segment.bgnbd_fit(), segment.paretonbd_fit() or segment.gammagamma_fit().")));
	a = state_arg(fcinfo, 0, state_kind(fcinfo, 0));
	b = state_arg(fcinfo, 1, a->kind);
	if (a->n + b->n > STATE_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the fit cannot hold more than " INT64_FORMAT " distinct customer summaries", STATE_MAX_POINTS),
				 errhint("Round t_x and T to whole days (or weeks), or fit on a sample.")));
	c = state_create(a->kind, Max(a->n + b->n, INITIAL_POINTS));
	memcpy(c->points, a->points, sizeof(BtydPoint) * a->n);
	memcpy(c->points + a->n, b->points, sizeof(BtydPoint) * b->n);
	c->n = btyd_compact(c->points, a->n + b->n);
	PG_RETURN_POINTER(c);
}

/* The state's points merged, in a copy (a final function leaves its state as it was). */
static BtydPoint *
final_points(BtydState *s, int64 *n)
{
	BtydPoint  *points = palloc_extended(sizeof(BtydPoint) * Max(s->n, 1), MCXT_ALLOC_HUGE);

	memcpy(points, s->points, sizeof(BtydPoint) * s->n);
	*n = btyd_compact(points, s->n);
	return points;
}

/* NULL without a repeat purchase among the customers: nothing tells the drop-out apart. */
static Datum
fit_summaries(FunctionCallInfo fcinfo, BtydKind model)
{
	BtydState  *s = state_arg(fcinfo, 0, STATE_SUMMARY);
	int64		n;
	BtydPoint  *points = final_points(s, &n);
	BtydFit		fit;

	if (n == 0 || points[n - 1].x == 0)
		PG_RETURN_NULL();
	fit = model == BTYD_BGNBD ? bgnbd_fit_points(points, n) : paretonbd_fit_points(points, n);
	if (!isfinite(fit.log_likelihood))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(btyd_model_make(model, &fit));
}

Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return fit_summaries(fcinfo, BTYD_BGNBD);
}

Datum
paretonbd_fit_final(PG_FUNCTION_ARGS)
{
	return fit_summaries(fcinfo, BTYD_PARETONBD);
}

/* NULL without a repeat buyer. */
Datum
gammagamma_fit_final(PG_FUNCTION_ARGS)
{
	BtydState  *s = state_arg(fcinfo, 0, STATE_SPEND);
	int64		n;
	BtydPoint  *points = final_points(s, &n);
	BtydFit		fit;

	if (n == 0)
		PG_RETURN_NULL();
	fit = gammagamma_fit_points(points, n);
	if (!isfinite(fit.log_likelihood))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(btyd_model_make(BTYD_GAMMAGAMMA, &fit));
}

/* Text form ------------------------------------------------------------------ */

Datum
btyd_state_out(PG_FUNCTION_ARGS)
{
	BtydState  *s = state_arg(fcinfo, 0, state_kind(fcinfo, 0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "kind=%s;points=", kind_names[s->kind]);
	for (int64 i = 0; i < s->n; i++)
	{
		float8		v[4] = {s->points[i].x, s->points[i].t, s->points[i].T, s->points[i].weight};

		if (i > 0)
			appendStringInfoChar(&buf, '|');
		text_append_float8_list(&buf, v, 4);
	}
	PG_RETURN_CSTRING(buf.data);
}

Datum
btyd_state_in(PG_FUNCTION_ARGS)
{
	TextParser	ps;
	StateKind	kind;
	BtydState  *s;

	text_parser_init(&ps, PG_GETARG_CSTRING(0), "segment.btyd_state", "kind=summary;points=2,30.43,38.86,1|0,0,38.86,3");
	text_expect_key(&ps, "kind", true);
	if (strncmp(ps.p, "summary;", 8) == 0)
		kind = STATE_SUMMARY;
	else if (strncmp(ps.p, "spend;", 6) == 0)
		kind = STATE_SPEND;
	else
		text_parser_error(&ps, "The kind must be summary or spend.");
	ps.p += strlen(kind_names[kind]);
	text_expect_key(&ps, "points", false);
	s = state_create(kind, INITIAL_POINTS);
	while (*ps.p != '\0')
	{
		float8		v[4];

		if (s->n > 0)
			text_expect_char(&ps, '|', "\"|\" between points");
		text_parse_float_list(&ps, v, 4, "a point");
		if (kind == STATE_SUMMARY)
			btyd_check_summary("segment.btyd_state", v[0], v[1], v[2]);
		else if (v[0] < 1 || v[0] != floor(v[0]) || !(v[1] > 0) || v[2] != 0)
			text_parser_error(&ps, "A Gamma-Gamma point is x >= 1 (whole), a positive mean value and 0.");
		if (!(v[3] > 0) || v[3] != floor(v[3]) || v[3] > MAX_WEIGHT)
			text_parser_error(&ps, "A point's weight is a whole number from 1 to 2^53.");
		s = state_make_room(s);
		s->points[s->n].x = v[0];
		s->points[s->n].t = v[1];
		s->points[s->n].T = v[2];
		s->points[s->n].weight = v[3];
		s->n++;
	}
	PG_RETURN_POINTER(s);
}
