/*
 * btyd_model.c -- the fitted models' types segment.bgnbd_model,
 * segment.gammagamma_model and segment.paretonbd_model (one C struct, told
 * apart by kind), their text forms, readers and the scores computed from
 * them.
 *
 * Text forms (floats exact):
 *   bgnbd_model:      r=0.24;alpha=4.41;a=0.79;b=2.43;log_likelihood=-9582.43;customers=2357;iterations=25;converged=true
 *   gammagamma_model: p=6.25;q=3.74;gamma=15.45;log_likelihood=-4055.9;customers=946;iterations=17;converged=true
 *   paretonbd_model:  r=0.55;alpha=10.58;s=0.61;beta=11.67;log_likelihood=-9595;customers=2357;iterations=30;converged=true
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "common/textio.h"
#include "predict/btyd.h"
#include "predict/btyd_model.h"

PG_FUNCTION_INFO_V1(bgnbd_model_in);
PG_FUNCTION_INFO_V1(bgnbd_model_out);
PG_FUNCTION_INFO_V1(gammagamma_model_in);
PG_FUNCTION_INFO_V1(gammagamma_model_out);
PG_FUNCTION_INFO_V1(paretonbd_model_in);
PG_FUNCTION_INFO_V1(paretonbd_model_out);
PG_FUNCTION_INFO_V1(paretonbd_info);
PG_FUNCTION_INFO_V1(paretonbd_p_alive_sql);
PG_FUNCTION_INFO_V1(paretonbd_expected_orders_sql);
PG_FUNCTION_INFO_V1(paretonbd_log_likelihood_sql);
PG_FUNCTION_INFO_V1(bgnbd_info);
PG_FUNCTION_INFO_V1(gammagamma_info);
PG_FUNCTION_INFO_V1(bgnbd_p_alive_sql);
PG_FUNCTION_INFO_V1(bgnbd_expected_orders_sql);
PG_FUNCTION_INFO_V1(gammagamma_expected_value_sql);
PG_FUNCTION_INFO_V1(bgnbd_log_likelihood_sql);
PG_FUNCTION_INFO_V1(bgnbd_next_order_in_sql);
PG_FUNCTION_INFO_V1(bgnbd_purchase_probability_sql);
PG_FUNCTION_INFO_V1(predicted_clv_sql);
PG_FUNCTION_INFO_V1(gammagamma_log_likelihood_sql);

static const char *const param_names[3][4] = {{"r", "alpha", "a", "b"}, {"p", "q", "gamma", NULL}, {"r", "alpha", "s", "beta"}};
static const int param_count[3] = {4, 3, 4};
static const char *const type_names[3] = {"segment.bgnbd_model", "segment.gammagamma_model", "segment.paretonbd_model"};
static const char *const examples[3] = {
	"r=0.243;alpha=4.414;a=0.793;b=2.426;log_likelihood=-9582.4;customers=2357;iterations=25;converged=true",
	"p=6.25;q=3.74;gamma=15.45;log_likelihood=-4055.9;customers=946;iterations=17;converged=true",
	"r=0.553;alpha=10.578;s=0.606;beta=11.669;log_likelihood=-9595;customers=2357;iterations=30;converged=true"
};

BtydModel *
btyd_model_make(BtydKind kind, const BtydFit *fit)
{
	BtydModel  *m = palloc0(sizeof(BtydModel));

	SET_VARSIZE(m, sizeof(BtydModel));
	m->kind = kind;
	m->iterations = fit->iterations;
	m->converged = fit->converged;
	m->customers = fit->customers;
	m->log_likelihood = fit->log_likelihood;
	memcpy(m->params, fit->params, sizeof(m->params));
	return m;
}

static BtydModel *
model_arg(FunctionCallInfo fcinfo, int arg, BtydKind kind)
{
	BtydModel  *m = (BtydModel *) PG_DETOAST_DATUM(PG_GETARG_DATUM(arg));

	if (VARSIZE(m) != sizeof(BtydModel) || m->kind != kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupted %s value", type_names[kind]),
				 errdetail("Its size or kind does not match the type."),
				 errhint("Fit the model again.")));
	return m;
}

static Datum
model_in(FunctionCallInfo fcinfo, BtydKind kind)
{
	TextParser	ps;
	BtydFit		fit = {0};

	text_parser_init(&ps, PG_GETARG_CSTRING(0), type_names[kind], examples[kind]);
	for (int i = 0; i < param_count[kind]; i++)
	{
		text_expect_key(&ps, param_names[kind][i], i == 0);
		fit.params[i] = text_parse_float(&ps, true, psprintf("parameter %s", param_names[kind][i]));
		if (fit.params[i] <= 0)
			text_parser_error(&ps, psprintf("Parameter %s must be positive.", param_names[kind][i]));
	}
	text_expect_key(&ps, "log_likelihood", false);
	fit.log_likelihood = text_parse_float(&ps, false, "log_likelihood");
	text_expect_key(&ps, "customers", false);
	fit.customers = text_parse_int(&ps, 1, PG_INT64_MAX, "customers");
	text_expect_key(&ps, "iterations", false);
	fit.iterations = (int32) text_parse_int(&ps, 0, PG_INT32_MAX, "iterations");
	text_expect_key(&ps, "converged", false);
	fit.converged = text_parse_bool(&ps, "converged");
	text_expect_end(&ps);
	PG_RETURN_POINTER(btyd_model_make(kind, &fit));
}

static Datum
model_out(FunctionCallInfo fcinfo, BtydKind kind)
{
	BtydModel  *m = model_arg(fcinfo, 0, kind);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < param_count[kind]; i++)
	{
		appendStringInfo(&buf, "%s%s=", i ? ";" : "", param_names[kind][i]);
		segment_append_float8(&buf, m->params[i]);
	}
	appendStringInfoString(&buf, ";log_likelihood=");
	segment_append_float8(&buf, m->log_likelihood);
	appendStringInfo(&buf, ";customers=" INT64_FORMAT ";iterations=%d;converged=%s",
					 m->customers, m->iterations, m->converged ? "true" : "false");
	PG_RETURN_CSTRING(buf.data);
}

Datum
bgnbd_model_in(PG_FUNCTION_ARGS)
{
	return model_in(fcinfo, BTYD_BGNBD);
}

Datum
bgnbd_model_out(PG_FUNCTION_ARGS)
{
	return model_out(fcinfo, BTYD_BGNBD);
}

Datum
gammagamma_model_in(PG_FUNCTION_ARGS)
{
	return model_in(fcinfo, BTYD_GAMMAGAMMA);
}

Datum
gammagamma_model_out(PG_FUNCTION_ARGS)
{
	return model_out(fcinfo, BTYD_GAMMAGAMMA);
}

/* (params..., log_likelihood, customers, iterations, converged) */
static Datum
model_info(FunctionCallInfo fcinfo, BtydKind kind)
{
	BtydModel  *m = model_arg(fcinfo, 0, kind);
	TupleDesc	desc;
	Datum		v[8];
	bool		nulls[8] = {false};
	int			n = param_count[kind];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != n + 4)
		elog(ERROR, "%s info: wrong result type", type_names[kind]);
	for (int i = 0; i < n; i++)
		v[i] = Float8GetDatum(m->params[i]);
	v[n] = Float8GetDatum(m->log_likelihood);
	v[n + 1] = Int64GetDatum(m->customers);
	v[n + 2] = Int32GetDatum(m->iterations);
	v[n + 3] = BoolGetDatum(m->converged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), v, nulls)));
}

Datum
paretonbd_model_in(PG_FUNCTION_ARGS)
{
	return model_in(fcinfo, BTYD_PARETONBD);
}

Datum
paretonbd_model_out(PG_FUNCTION_ARGS)
{
	return model_out(fcinfo, BTYD_PARETONBD);
}

Datum
paretonbd_info(PG_FUNCTION_ARGS)
{
	return model_info(fcinfo, BTYD_PARETONBD);
}

Datum
bgnbd_info(PG_FUNCTION_ARGS)
{
	return model_info(fcinfo, BTYD_BGNBD);
}

Datum
gammagamma_info(PG_FUNCTION_ARGS)
{
	return model_info(fcinfo, BTYD_GAMMAGAMMA);
}

/*
 * A customer's summary as the models define it, or an error naming what is
 * wrong: x a whole number >= 0, 0 <= t_x <= T, t_x = 0 when x = 0, all
 * finite.
 */
void
btyd_check_summary(const char *function, float8 x, float8 t_x, float8 T)
{
	const char *problem = NULL;

	if (!isfinite(x) || !isfinite(t_x) || !isfinite(T))
		problem = "x, t_x and T must be finite numbers.";
	else if (x < 0 || x != floor(x))
		problem = psprintf("x (repeat purchases) must be a whole number >= 0, not %g.", x);
	else if (t_x < 0 || t_x > T)
		problem = psprintf("t_x (the last purchase's time since the first) must be between 0 and T; got t_x = %g, T = %g.", t_x, T);
	else if (x == 0 && t_x != 0)
		problem = psprintf("A customer without repeat purchases (x = 0) has t_x = 0, not %g.", t_x);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: invalid customer summary", function),
				 errdetail("%s", problem),
				 errhint("x counts the purchases after the first, t_x and T are measured from the first purchase, in one unit (days or weeks).")));
}

/* Arguments first..first+2 as a checked customer summary (x, t_x, T). */
static void
summary_args(FunctionCallInfo fcinfo, int first, const char *function, float8 *x, float8 *t_x, float8 *T)
{
	*x = PG_GETARG_FLOAT8(first);
	*t_x = PG_GETARG_FLOAT8(first + 1);
	*T = PG_GETARG_FLOAT8(first + 2);
	btyd_check_summary(function, *x, *t_x, *T);
}

/* Argument arg as a horizon: a finite time >= 0. */
static float8
horizon_arg(FunctionCallInfo fcinfo, int arg, const char *function)
{
	float8		t = PG_GETARG_FLOAT8(arg);

	if (!(t >= 0) || !isfinite(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the horizon t must be a finite number >= 0, not %g", function, t),
				 errhint("t is in the model's time unit, counted from T.")));
	return t;
}

Datum
bgnbd_p_alive_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_BGNBD);
	float8		x,
				t_x,
				T;

	summary_args(fcinfo, 1, "segment.bgnbd_p_alive", &x, &t_x, &T);
	PG_RETURN_FLOAT8(bgnbd_p_alive(m->params, x, t_x, T));
}

Datum
bgnbd_expected_orders_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_BGNBD);
	float8		t = horizon_arg(fcinfo, 1, "segment.bgnbd_expected_orders");
	float8		x,
				t_x,
				T,
				result;

	summary_args(fcinfo, 2, "segment.bgnbd_expected_orders", &x, &t_x, &T);
	result = bgnbd_expected_orders(m->params, t, x, t_x, T);
	if (isnan(result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("segment.bgnbd_expected_orders: the hypergeometric series did not converge for t = %g", t),
				 errdetail("The horizon is very long against the model's alpha + T (%g): the series needs more than a million terms.",
						   m->params[1] + T),
				 errhint("Use a shorter horizon, or the times in a larger unit (weeks instead of days).")));
	PG_RETURN_FLOAT8(result);
}

Datum
gammagamma_expected_value_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m;
	float8		x;
	float8		mean_value = PG_ARGISNULL(2) ? NAN : PG_GETARG_FLOAT8(2);
	float8		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = model_arg(fcinfo, 0, BTYD_GAMMAGAMMA);
	x = PG_GETARG_FLOAT8(1);

	if (!isfinite(x) || x < 0 || x != floor(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.gammagamma_expected_value: x (repeat purchases) must be a whole number >= 0, not %g", x)));
	if (x > 0 && !(mean_value > 0 && isfinite(mean_value)))
	{
		if (PG_ARGISNULL(2))
			PG_RETURN_NULL();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.gammagamma_expected_value: the mean repeat value must be a positive finite number, not %g", mean_value),
				 errhint("The Gamma-Gamma model describes positive order values; leave out customers whose repeat orders net to zero or less.")));
	}
	result = gammagamma_expected_value(m->params, x, mean_value);
	if (isnan(result))
		PG_RETURN_NULL();		/* q <= 1 (x = 0), p x + q <= 1: the mean spend is infinite */
	PG_RETURN_FLOAT8(result);
}

/* One customer's log-likelihood under a model: summed over customers, a model's fit to data it was not fitted on. */
Datum
bgnbd_log_likelihood_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_BGNBD);
	BtydPoint	point = {0, 0, 0, 1.0};

	summary_args(fcinfo, 1, "segment.bgnbd_log_likelihood", &point.x, &point.t, &point.T);
	PG_RETURN_FLOAT8(bgnbd_log_likelihood(m->params, &point, 1, NULL));
}

Datum
gammagamma_log_likelihood_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_GAMMAGAMMA);
	BtydPoint	point = {PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), 0.0, 1.0};

	if (!isfinite(point.x) || point.x < 1 || point.x != floor(point.x) || !(point.t > 0) || !isfinite(point.t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.gammagamma_log_likelihood: a repeat buyer has a whole x >= 1 and a positive finite mean value, not x = %g, mean value %g",
						point.x, point.t),
				 errhint("The Gamma-Gamma model describes the repeat buyers only.")));
	PG_RETURN_FLOAT8(gammagamma_log_likelihood(m->params, &point, 1, NULL));
}

Datum
bgnbd_purchase_probability_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_BGNBD);
	float8		t = horizon_arg(fcinfo, 1, "segment.bgnbd_purchase_probability");
	float8		x,
				t_x,
				T;

	summary_args(fcinfo, 2, "segment.bgnbd_purchase_probability", &x, &t_x, &T);
	PG_RETURN_FLOAT8(bgnbd_purchase_probability(m->params, t, x, t_x, T));
}

Datum
bgnbd_next_order_in_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_BGNBD);
	float8		x,
				t_x,
				T,
				result;

	summary_args(fcinfo, 1, "segment.bgnbd_next_order_in", &x, &t_x, &T);
	result = bgnbd_next_order_in(m->params, x, t_x, T);
	if (isnan(result))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/*
 * predicted_clv(bgnbd, gammagamma, x, t_x, T, mean_value, horizon, period,
 * discount_rate): the discounted value of the purchases expected within the
 * horizon (bgnbd_discounted_value) at the Gamma-Gamma expected order value.
 */
Datum
predicted_clv_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *bgnbd,
			   *gg;
	float8		x,
				t_x,
				T,
				mean_value,
				horizon,
				period,
				rate,
				value,
				result;

	for (int i = 0; i < 9; i++)
		if (PG_ARGISNULL(i) && i != 5)
			PG_RETURN_NULL();
	bgnbd = model_arg(fcinfo, 0, BTYD_BGNBD);
	gg = model_arg(fcinfo, 1, BTYD_GAMMAGAMMA);
	x = PG_GETARG_FLOAT8(2);
	t_x = PG_GETARG_FLOAT8(3);
	T = PG_GETARG_FLOAT8(4);
	mean_value = PG_ARGISNULL(5) ? NAN : PG_GETARG_FLOAT8(5);
	horizon = PG_GETARG_FLOAT8(6);
	period = PG_GETARG_FLOAT8(7);
	rate = PG_GETARG_FLOAT8(8);
	btyd_check_summary("segment.predicted_clv", x, t_x, T);
	if (!(horizon >= 0) || !isfinite(horizon) || !(period > 0) || !isfinite(period) ||
		horizon / period > 100000 || !(rate > -1) || !isfinite(rate))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.predicted_clv: horizon %g, period %g and discount rate %g are not usable", horizon, period, rate),
				 errdetail("The horizon must be >= 0, the period > 0 with at most 100,000 periods in the horizon, and the discount rate per period > -1."),
				 errhint("For a year in days with a monthly discount of 1%%: horizon 365, period 30, discount_rate 0.01.")));
	if (x > 0 && !(mean_value > 0 && isfinite(mean_value)))
	{
		if (PG_ARGISNULL(5))
			PG_RETURN_NULL();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.predicted_clv: the mean repeat value must be a positive finite number, not %g", mean_value)));
	}
	value = gammagamma_expected_value(gg->params, x, mean_value);
	if (isnan(value))
		PG_RETURN_NULL();
	result = bgnbd_discounted_value(bgnbd->params, x, t_x, T, value, horizon, period, rate);
	if (!isfinite(result))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("segment.predicted_clv: no finite value within the horizon %g", horizon),
				 errdetail("The hypergeometric series of the expected purchases did not converge, or the discount factor (1 + %g)^%g overflowed.",
						   rate, ceil(horizon / period)),
				 errhint("Use a shorter horizon, fewer periods, or the times in a larger unit (weeks instead of days).")));
	PG_RETURN_FLOAT8(result);
}

Datum
paretonbd_p_alive_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_PARETONBD);
	float8		x,
				t_x,
				T;

	summary_args(fcinfo, 1, "segment.paretonbd_p_alive", &x, &t_x, &T);
	PG_RETURN_FLOAT8(paretonbd_p_alive(m->params, x, t_x, T));
}

Datum
paretonbd_expected_orders_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_PARETONBD);
	float8		t = horizon_arg(fcinfo, 1, "segment.paretonbd_expected_orders");
	float8		x,
				t_x,
				T;

	summary_args(fcinfo, 2, "segment.paretonbd_expected_orders", &x, &t_x, &T);
	PG_RETURN_FLOAT8(paretonbd_expected_orders(m->params, t, x, t_x, T));
}

Datum
paretonbd_log_likelihood_sql(PG_FUNCTION_ARGS)
{
	BtydModel  *m = model_arg(fcinfo, 0, BTYD_PARETONBD);
	BtydPoint	point = {0, 0, 0, 1.0};

	summary_args(fcinfo, 1, "segment.paretonbd_log_likelihood", &point.x, &point.t, &point.T);
	PG_RETURN_FLOAT8(paretonbd_log_likelihood(m->params, &point, 1, NULL));
}
