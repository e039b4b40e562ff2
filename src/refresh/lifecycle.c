/*
 * lifecycle.c -- segment.lifecycle_rules as one compiled expression.
 *
 * The rules' conditions are SQL text over the names recency_days,
 * frequency, monetary, is_vip, is_lapsed, has_abandoned_cart and
 * is_prospect.  They are joined into "CASE WHEN (c1) THEN 's1' ... ELSE
 * 'Other' END", parsed with those names bound to parameters (a column
 * reference hook, as PL/pgSQL binds its variables), planned as an
 * expression and run by the executor for each customer: a few hundred
 * nanoseconds a customer, where a query per customer would cost far more.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "common/compat.h"
#include "refresh/lifecycle.h"

#define LIFECYCLE_PARAMS 7

static const struct
{
	const char *name;
	Oid			type;
}			lifecycle_params[LIFECYCLE_PARAMS] =
{
	{"recency_days", FLOAT8OID},
	{"frequency", INT8OID},
	{"monetary", NUMERICOID},
	{"is_vip", BOOLOID},
	{"is_lapsed", BOOLOID},
	{"has_abandoned_cart", BOOLOID},
	{"is_prospect", BOOLOID},
};

/* Binds the facts' names to parameters $1..$7. */
static Node *
bind_fact(ParseState *pstate, ColumnRef *cref)
{
	const char *name;

	if (list_length(cref->fields) != 1 || !IsA(linitial(cref->fields), String))
		return NULL;
	name = strVal(linitial(cref->fields));
	for (int i = 0; i < LIFECYCLE_PARAMS; i++)
		if (strcmp(name, lifecycle_params[i].name) == 0)
		{
			Param	   *param = makeNode(Param);

			param->paramkind = PARAM_EXTERN;
			param->paramid = i + 1;
			param->paramtype = lifecycle_params[i].type;
			param->paramtypmod = -1;
			param->paramcollid = get_typcollation(param->paramtype);
			param->location = cref->location;
			return (Node *) param;
		}
	return NULL;				/* the parser then reports an unknown column */
}

/* The rules as one CASE expression, read from segment.lifecycle_rules. */
static char *
rules_sql(void)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *sql;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "lifecycle rules: SPI_connect failed");
	if (SPI_execute("SELECT 'SELECT CASE ' || string_agg(format('WHEN (%s) THEN %L', condition, segment), ' '"
					" ORDER BY position) || ' ELSE ''Other'' END' FROM segment.lifecycle_rules",
					true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "lifecycle rules: could not read segment.lifecycle_rules");
	sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	/* no rules at all: everyone is Other */
	sql = MemoryContextStrdup(caller, sql != NULL ? sql : "SELECT 'Other'::text");
	SPI_finish();
	return sql;
}

static void
rules_error_context(void *arg)
{
	errcontext("lifecycle rules of segment.lifecycle_rules: %s", (const char *) arg);
}

void
lifecycle_compile(LifecycleRules *rules)
{
	char	   *sql = rules_sql();
	ErrorContextCallback callback;
	List	   *parsed;
	SelectStmt *select;
	ParseState *pstate;
	Node	   *expr;

	callback.callback = rules_error_context;
	callback.arg = sql;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	parsed = raw_parser_default(sql);
	select = list_length(parsed) == 1 ? (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt : NULL;
	if (select == NULL || !IsA(select, SelectStmt) || list_length(select->targetList) != 1 ||
		select->fromClause != NIL || select->whereClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("a lifecycle rule's condition is not a single boolean expression"),
				 errdetail("The conditions are joined into one CASE expression."),
				 errhint("Fix the condition in segment.lifecycle_rules.")));
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;
	pstate->p_pre_columnref_hook = bind_fact;
	expr = transformExpr(pstate, ((ResTarget *) linitial(select->targetList))->val,
						 EXPR_KIND_SELECT_TARGET);
	if (exprType(expr) != TEXTOID || pstate->p_hasAggs || pstate->p_hasWindowFuncs ||
		contain_subplans(expr) || contain_volatile_functions(expr))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a lifecycle rule's condition uses a subquery, an aggregate or a volatile function"),
				 errdetail("Each condition is evaluated on one customer's facts at a time."),
				 errhint("Write the condition over recency_days, frequency, monetary, is_vip, is_lapsed, has_abandoned_cart and is_prospect only.")));
	free_parsestate(pstate);
	expr = (Node *) expression_planner((Expr *) expr);

	rules->params = makeParamList(LIFECYCLE_PARAMS);
	rules->params->numParams = LIFECYCLE_PARAMS;
	for (int i = 0; i < LIFECYCLE_PARAMS; i++)
	{
		rules->params->params[i].ptype = lifecycle_params[i].type;
		rules->params->params[i].pflags = PARAM_FLAG_CONST;
	}
	rules->econtext = CreateStandaloneExprContext();
	rules->econtext->ecxt_param_list_info = rules->params;
	rules->state = ExecInitExpr((Expr *) expr, NULL);
	error_context_stack = callback.previous;
}

text *
lifecycle_classify(LifecycleRules *rules, const LifecycleFacts *facts)
{
	ParamExternData *p = rules->params->params;
	Datum		result;
	bool		isnull;

	p[0].isnull = facts->recency_null;
	p[0].value = Float8GetDatum(facts->recency_days);
	p[1].isnull = facts->frequency_null;
	p[1].value = Int64GetDatum(facts->frequency);
	p[2].isnull = facts->monetary_null;
	p[2].value = facts->monetary;
	p[3].value = BoolGetDatum(facts->is_vip);
	p[4].value = BoolGetDatum(facts->is_lapsed);
	p[5].value = BoolGetDatum(facts->has_abandoned_cart);
	p[6].value = BoolGetDatum(facts->is_prospect);
	for (int i = 3; i < LIFECYCLE_PARAMS; i++)
		p[i].isnull = false;
	result = ExecEvalExprSwitchContext(rules->state, rules->econtext, &isnull);
	return isnull ? NULL : DatumGetTextPP(result);
}
