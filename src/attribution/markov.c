/*
 * markov.c -- the first-order Markov attribution model: the type
 * segment.markov_model, the aggregate segment.markov_fit(path, converted)
 * that counts transitions over many paths, and
 * segment.markov_removal_effects(model), which solves the absorbing chain
 * exactly.
 *
 * States: start, one per channel, and the absorbing conversion and null.
 * A path start -> c1 -> ... -> ck ends in conversion when it converted,
 * else in null; consecutive repeats of a channel are collapsed; an empty
 * path is left out (its conversions belong to "(none)").  The model keeps
 * the transition counts, so that it merges by adding (a combine function,
 * and a text form for distributed planners).
 *
 * Removal effects.  With Q the transition probabilities among the
 * transient states (start and the channels), r those into conversion and
 * N = (I - Q)^-1, the conversion probability from state i is x = N r.
 * Removing channel c sends whatever reaches c to null; from start that
 * leaves x_start - h x_c, h = N[start,c] / N[c,c] being the probability of
 * ever reaching c (after which converting has probability x_c).  So the
 * removal effect of c is h x_c / x_start, from one inversion for all
 * channels: O(channels^3), under a second for 1,000 channels.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "common/compat.h"
#include "attribution/markov.h"
#include "segment.h"
#include "common/textio.h"

PG_FUNCTION_INFO_V1(markov_model_in);
PG_FUNCTION_INFO_V1(markov_model_out);
PG_FUNCTION_INFO_V1(markov_fit_transfn);
PG_FUNCTION_INFO_V1(markov_fit_combine);
PG_FUNCTION_INFO_V1(markov_removal_effects);

#define MARKOV_MAX_CHANNELS 1000
#define MARKOV_MAX_NAME 255
#define UNKNOWN_CHANNEL "(unknown)"
#define MODEL_TEXT_EXAMPLE "channels=email|search;paths=2;conversions=1;counts=1,1,0,0,0,0,1,0,0,0,0,1"

/*
 * counts[] is (n + 1) rows -- start, then each channel -- by (n + 2)
 * columns -- each channel, conversion, null; then the channel names, each
 * ending in a NUL.
 */
typedef struct MarkovModel
{
	int32		vl_len_;
	int32		nchannels;
	int32		names_bytes;
	int32		padding;
	float8		paths;
	float8		conversions;
	float8		counts[FLEXIBLE_ARRAY_MEMBER];
} MarkovModel;

#define MM_ROWS(n)			((n) + 1)
#define MM_COLS(n)			((n) + 2)
#define MM_SIZE(n, names)	(offsetof(MarkovModel, counts) + sizeof(float8) * MM_ROWS(n) * MM_COLS(n) + (names))
#define MM_COUNT(m, row, col) ((m)->counts[(Size) (row) * MM_COLS((m)->nchannels) + (col)])
#define MM_NAMES(m)			((char *) ((m)->counts + (Size) MM_ROWS((m)->nchannels) * MM_COLS((m)->nchannels)))
#define CONVERSION_COL(m)	((m)->nchannels)
#define NULL_COL(m)			((m)->nchannels + 1)

static MarkovModel *
model_create(int32 n, int32 names_bytes, MemoryContext cxt)
{
	MarkovModel *m = MemoryContextAllocZero(cxt, MM_SIZE(n, names_bytes));

	SET_VARSIZE(m, MM_SIZE(n, names_bytes));
	m->nchannels = n;
	m->names_bytes = names_bytes;
	return m;
}

/* The names of a model, as an array of pointers into it. */
static const char **
model_names(const MarkovModel *m)
{
	const char **names = palloc(sizeof(char *) * Max(m->nchannels, 1));
	const char *p = MM_NAMES(m);

	for (int32 i = 0; i < m->nchannels; i++)
	{
		names[i] = p;
		p += strlen(p) + 1;
	}
	return names;
}

/* The model with one more channel (rows and columns moved to make room). */
static MarkovModel *
model_add_channel(const MarkovModel *m, const char *name, MemoryContext cxt)
{
	int32		n = m->nchannels;
	size_t		len = strlen(name) + 1;
	MarkovModel *grown;

	/* each new channel copies the matrix: quadratic per channel */
	CHECK_FOR_INTERRUPTS();
	if (n + 1 > MARKOV_MAX_CHANNELS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the Markov model holds at most %d channels", MARKOV_MAX_CHANNELS),
				 errdetail("Removal effects take time in the cube of the number of channels."),
				 errhint("Group rare channels together, for example as 'other'.")));
	grown = model_create(n + 1, m->names_bytes + (int32) len, cxt);
	grown->paths = m->paths;
	grown->conversions = m->conversions;
	for (int32 row = 0; row < MM_ROWS(n); row++)
	{
		for (int32 col = 0; col < n; col++)
			MM_COUNT(grown, row, col) = MM_COUNT(m, row, col);
		MM_COUNT(grown, row, CONVERSION_COL(grown)) = MM_COUNT(m, row, CONVERSION_COL(m));
		MM_COUNT(grown, row, NULL_COL(grown)) = MM_COUNT(m, row, NULL_COL(m));
	}
	memcpy(MM_NAMES(grown), MM_NAMES(m), m->names_bytes);
	memcpy(MM_NAMES(grown) + m->names_bytes, name, len);
	return grown;
}

/* Channel name -> index, cached in fn_extra for the state it was built for. */
typedef struct ChannelEntry
{
	char		name[MARKOV_MAX_NAME + 1];
	int32		index;
} ChannelEntry;

typedef struct ChannelCache
{
	const MarkovModel *model;
	int32		nchannels;
	HTAB	   *channels;
} ChannelCache;

static ChannelCache *
channel_cache(FunctionCallInfo fcinfo, const MarkovModel *m)
{
	ChannelCache *cache = fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ChannelCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->model != m || cache->nchannels != m->nchannels || cache->channels == NULL)
	{
		HASHCTL		ctl;
		const char **names = model_names(m);

		if (cache->channels != NULL)
			hash_destroy(cache->channels);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = MARKOV_MAX_NAME + 1;
		ctl.entrysize = sizeof(ChannelEntry);
		ctl.hcxt = fcinfo->flinfo->fn_mcxt;
		cache->channels = hash_create("segment markov channels", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		for (int32 i = 0; i < m->nchannels; i++)
		{
			ChannelEntry *e = hash_search(cache->channels, names[i], HASH_ENTER, NULL);

			e->index = i;
		}
		cache->model = m;
		cache->nchannels = m->nchannels;
	}
	return cache;
}

static void
check_name(const char *name)
{
	if (strlen(name) > MARKOV_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("channel name \"%.40s...\" is longer than %d bytes", name, MARKOV_MAX_NAME),
				 errhint("Shorten the channel names of the touchpoints.")));
}

/*
 * The index of a channel in *m, adding it when new (then *m is replaced by a
 * grown copy in cxt).
 */
static int32
channel_index(FunctionCallInfo fcinfo, MarkovModel **m, const char *name, MemoryContext cxt)
{
	ChannelCache *cache = channel_cache(fcinfo, *m);
	ChannelEntry *e;
	bool		found;

	check_name(name);
	e = hash_search(cache->channels, name, HASH_FIND, &found);
	if (found)
		return e->index;
	*m = model_add_channel(*m, name, cxt);
	cache->model = *m;
	cache->nchannels = (*m)->nchannels;
	e = hash_search(cache->channels, name, HASH_ENTER, NULL);
	e->index = (*m)->nchannels - 1;
	return e->index;
}

/* Text form --------------------------------------------------------------- */

static void
append_escaped(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '|' || *s == ';' || *s == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *s);
	}
}

Datum
markov_model_out(PG_FUNCTION_ARGS)
{
	MarkovModel *m = (MarkovModel *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	const char **names = model_names(m);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "channels=");
	for (int32 i = 0; i < m->nchannels; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '|');
		append_escaped(&buf, names[i]);
	}
	appendStringInfoString(&buf, ";paths=");
	segment_append_float8(&buf, m->paths);
	appendStringInfoString(&buf, ";conversions=");
	segment_append_float8(&buf, m->conversions);
	appendStringInfoString(&buf, ";counts=");
	text_append_float8_list(&buf, m->counts, MM_ROWS(m->nchannels) * MM_COLS(m->nchannels));
	PG_RETURN_CSTRING(buf.data);
}

Datum
markov_model_in(PG_FUNCTION_ARGS)
{
	TextParser	ps;
	StringInfoData names;
	int32		n = 0;
	MarkovModel *m;
	float8		paths,
				conversions;
	HTAB	   *seen;
	HASHCTL		ctl;

	text_parser_init(&ps, PG_GETARG_CSTRING(0), "segment.markov_model",
					 "A markov_model text lists its channels, paths, conversions and transition counts, for example \""
					 MODEL_TEXT_EXAMPLE "\".");
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = MARKOV_MAX_NAME + 1;
	ctl.entrysize = MARKOV_MAX_NAME + 1;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("segment markov names", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	text_expect_key(&ps, "channels", true);
	initStringInfo(&names);
	while (*ps.p != ';' && *ps.p != '\0')
	{
		StringInfoData name;
		bool		found;

		initStringInfo(&name);
		while (*ps.p != '|' && *ps.p != ';' && *ps.p != '\0')
		{
			if (*ps.p == '\\' && ps.p[1] != '\0')
				ps.p++;
			appendStringInfoChar(&name, *ps.p++);
		}
		if (name.len == 0 || name.len > MARKOV_MAX_NAME)
			text_parser_error(&ps, psprintf("Channel names must have 1 to %d bytes.", MARKOV_MAX_NAME));
		hash_search(seen, name.data, HASH_ENTER, &found);
		if (found)
			text_parser_error(&ps, "A channel is listed twice.");
		appendBinaryStringInfo(&names, name.data, name.len + 1);
		if (++n > MARKOV_MAX_CHANNELS)
			text_parser_error(&ps, psprintf("A model holds at most %d channels.", MARKOV_MAX_CHANNELS));
		if (*ps.p == '|')
			ps.p++;
	}
	text_expect_key(&ps, "paths", false);
	paths = text_parse_float(&ps, true, "paths");
	text_expect_key(&ps, "conversions", false);
	conversions = text_parse_float(&ps, true, "conversions");
	m = model_create(n, names.len, CurrentMemoryContext);
	m->paths = paths;
	m->conversions = conversions;
	text_expect_key(&ps, "counts", false);
	text_parse_float_list(&ps, m->counts, MM_ROWS(n) * MM_COLS(n), "counts");
	text_expect_end(&ps);
	for (int32 i = 0; i < MM_ROWS(n) * MM_COLS(n); i++)
		if (m->counts[i] < 0)
			text_parser_error(&ps, "Transition counts cannot be negative.");
	memcpy(MM_NAMES(m), names.data, names.len);
	PG_RETURN_POINTER(m);
}

/* The aggregate ----------------------------------------------------------- */

/* Adds one transition from a row (start or channel) to a column. */
static inline void
count_transition(MarkovModel *m, int32 row, int32 col)
{
	MM_COUNT(m, row, col) += 1.0;
}

/*
 * markov_fit_transfn(state markov_model, path text[], converted bool): the
 * path's transitions added.  NULL channels count as "(unknown)".
 */
Datum
markov_fit_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MarkovModel *m;
	ArrayType  *path;
	Datum	   *elems;
	bool	   *nulls;
	int			len;
	int32		row = 0;		/* start */
	int32		previous = -1;
	int			steps = 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		segment_require_aggregate(fcinfo, "markov_fit_transfn",
								  "It updates its state in place.", "segment.markov_fit(path, converted)");
	m = PG_ARGISNULL(0) ? model_create(0, 0, aggcxt) : (MarkovModel *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(m);
	path = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(path) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a path must be a one-dimensional array of channels"),
				 errhint("Pass array_agg(channel ORDER BY touched_at).")));
	deconstruct_array(path, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &len);
	for (int i = 0; i < len; i++)
	{
		char	   *name = nulls[i] ? UNKNOWN_CHANNEL : TextDatumGetCString(elems[i]);
		int32		c = channel_index(fcinfo, &m, name, aggcxt);

		if (c == previous)
			continue;			/* a repeat is one state */
		count_transition(m, row, c);
		row = c + 1;
		previous = c;
		steps++;
	}
	if (steps == 0)
		PG_RETURN_POINTER(m);	/* no touch: not part of the chain */
	if (PG_GETARG_BOOL(2))
	{
		count_transition(m, row, CONVERSION_COL(m));
		m->conversions += 1.0;
	}
	else
		count_transition(m, row, NULL_COL(m));
	m->paths += 1.0;
	PG_RETURN_POINTER(m);
}

/* markov_fit_combine(a, b): the counts of both, channels matched by name. */
Datum
markov_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MarkovModel *a;
	MarkovModel *b;
	const char **b_names;
	int32	   *map;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		segment_require_aggregate(fcinfo, "markov_fit_combine",
								  "It updates its state in place.", "segment.markov_fit(path, converted)");
	if (PG_ARGISNULL(1))
	{
		/* two empty partial states: still none (never a non-null 0) */
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = (MarkovModel *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
	{
		a = MemoryContextAlloc(aggcxt, VARSIZE(b));
		memcpy(a, b, VARSIZE(b));
		PG_RETURN_POINTER(a);
	}
	a = (MarkovModel *) PG_GETARG_POINTER(0);
	b_names = model_names(b);
	map = palloc(sizeof(int32) * MM_COLS(b->nchannels));
	for (int32 i = 0; i < b->nchannels; i++)
		map[i] = channel_index(fcinfo, &a, b_names[i], aggcxt);
	map[CONVERSION_COL(b)] = CONVERSION_COL(a);
	map[NULL_COL(b)] = NULL_COL(a);
	for (int32 row = 0; row < MM_ROWS(b->nchannels); row++)
	{
		int32		arow = row == 0 ? 0 : map[row - 1] + 1;

		for (int32 col = 0; col < MM_COLS(b->nchannels); col++)
			MM_COUNT(a, arow, map[col]) += MM_COUNT(b, row, col);
	}
	a->paths += b->paths;
	a->conversions += b->conversions;
	PG_RETURN_POINTER(a);
}

/* Removal effects ----------------------------------------------------------- */

/* In place Gauss-Jordan inverse of the m x m matrix a (row-major), partial pivoting. */
static void
invert(float8 *a, int32 m)
{
	float8	   *inv = palloc0(sizeof(float8) * m * m);

	for (int32 i = 0; i < m; i++)
		inv[(Size) i * m + i] = 1.0;
	for (int32 col = 0; col < m; col++)
	{
		int32		pivot = col;

		CHECK_FOR_INTERRUPTS();
		for (int32 row = col + 1; row < m; row++)
			if (fabs(a[(Size) row * m + col]) > fabs(a[(Size) pivot * m + col]))
				pivot = row;
		if (pivot != col)
			for (int32 k = 0; k < m; k++)
			{
				float8		t = a[(Size) col * m + k];

				a[(Size) col * m + k] = a[(Size) pivot * m + k];
				a[(Size) pivot * m + k] = t;
				t = inv[(Size) col * m + k];
				inv[(Size) col * m + k] = inv[(Size) pivot * m + k];
				inv[(Size) pivot * m + k] = t;
			}
		{
			float8		d = a[(Size) col * m + col];

			/*
			 * I - Q of an absorbing chain is never singular; a model typed
			 * in by hand can have channels that loop among themselves and
			 * never reach conversion or null.
			 */
			if (d == 0.0 || isnan(d))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the Markov model has channels from which no path ends"),
						 errdetail("Its transition counts form a loop of channels without a transition to conversion or null, so removal effects are undefined."),
						 errhint("Fit the model with segment.markov_fit(), where every path ends in conversion or null.")));
			for (int32 k = 0; k < m; k++)
			{
				a[(Size) col * m + k] /= d;
				inv[(Size) col * m + k] /= d;
			}
		}
		for (int32 row = 0; row < m; row++)
		{
			float8		f = a[(Size) row * m + col];

			if (row == col || f == 0.0)
				continue;
			for (int32 k = 0; k < m; k++)
			{
				a[(Size) row * m + k] -= f * a[(Size) col * m + k];
				inv[(Size) row * m + k] -= f * inv[(Size) col * m + k];
			}
		}
	}
	memcpy(a, inv, sizeof(float8) * m * m);
	pfree(inv);
}

/*
 * segment.markov_removal_effects(model) → TABLE(channel text,
 * removal_effect float8, share float8): per channel, the share of
 * conversions lost without it, and its share of the attribution
 * (removal effects normalized to sum to 1).  Shares are NULL when the
 * model has no conversion.
 */
/*
 * The removal effect of each channel of m into effect[]; false when nothing
 * converts (the effects are then undefined).
 */
static bool
removal_effects(const MarkovModel *m, float8 *effect)
{
	int32		n = m->nchannels;
	int32		t = n + 1;		/* transient states: start, channels */
	float8	   *a = palloc0(sizeof(float8) * t * t);
	float8	   *r = palloc0(sizeof(float8) * t);
	float8	   *x = palloc0(sizeof(float8) * t);

	/* I - Q, and r */
	for (int32 i = 0; i < t; i++)
	{
		float8		out = 0.0;

		for (int32 col = 0; col < MM_COLS(n); col++)
			out += MM_COUNT(m, i, col);
		a[(Size) i * t + i] = 1.0;
		if (out == 0.0)
			continue;			/* never left: absorbs nothing */
		for (int32 c = 0; c < n; c++)
			a[(Size) i * t + c + 1] -= MM_COUNT(m, i, c) / out;
		r[i] = MM_COUNT(m, i, CONVERSION_COL(m)) / out;
	}
	invert(a, t);				/* now N */
	for (int32 i = 0; i < t; i++)
		for (int32 k = 0; k < t; k++)
			x[i] += a[(Size) i * t + k] * r[k];
	for (int32 c = 0; c < n; c++)
	{
		int32		s = c + 1;

		effect[c] = x[0] > 0 && a[(Size) s * t + s] > 0 ?
			a[(Size) 0 * t + s] / a[(Size) s * t + s] * x[s] / x[0] : 0.0;
		/* rounding can leave -0 or 1 + epsilon */
		effect[c] = Min(Max(effect[c], 0.0), 1.0);
	}
	pfree(a);
	pfree(r);
	return x[0] > 0;
}

/*
 * segment.markov_removal_effects(model) → TABLE(channel text,
 * removal_effect float8, share float8): per channel, the share of
 * conversions lost without it, and its share of the attribution
 * (removal effects normalized to sum to 1).  Shares are NULL when the
 * model has no conversion.
 */
Datum
markov_removal_effects(PG_FUNCTION_ARGS)
{
	MarkovModel *m = (MarkovModel *) PG_DETOAST_DATUM(PG_GETARG_DATUM(0));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		n = m->nchannels;
	float8	   *effect = palloc0(sizeof(float8) * Max(n, 1));
	float8		total = 0.0;
	const char **names = model_names(m);
	bool		converts;

	InitMaterializedSRF(fcinfo, 0);
	converts = removal_effects(m, effect);
	for (int32 c = 0; c < n; c++)
		total += effect[c];
	for (int32 c = 0; c < n; c++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(names[c]);
		values[1] = Float8GetDatum(effect[c]);
		values[2] = Float8GetDatum(total > 0 ? effect[c] / total : 0.0);
		nulls[1] = nulls[2] = !converts;
		nulls[2] |= !(total > 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Building a model in C (the refresh's attribution) ------------------------ */

MarkovBuilder *
markov_builder_create(MemoryContext cxt)
{
	MarkovBuilder *b = MemoryContextAllocZero(cxt, sizeof(MarkovBuilder));

	b->cxt = cxt;
	b->model = model_create(0, 0, cxt);
	b->capacity = 64;
	b->index_of = MemoryContextAlloc(cxt, sizeof(int32) * b->capacity);
	memset(b->index_of, -1, sizeof(int32) * b->capacity);
	return b;
}

/* The model's index of the caller's channel id, adding the channel when new. */
static int32
builder_index(MarkovBuilder *b, int32 id, const char *name)
{
	if (id >= b->capacity)
	{
		int32		old = b->capacity;

		while (b->capacity <= id)
			b->capacity *= 2;
		b->index_of = repalloc(b->index_of, sizeof(int32) * b->capacity);
		memset(b->index_of + old, -1, sizeof(int32) * (b->capacity - old));
	}
	if (b->index_of[id] < 0)
	{
		MarkovModel *grown;

		check_name(name);
		grown = model_add_channel(b->model, name, b->cxt);
		pfree(b->model);
		b->model = grown;
		b->index_of[id] = grown->nchannels - 1;
	}
	return b->index_of[id];
}

void
markov_builder_add(MarkovBuilder *b, const int32 *ids, const char *const *names, int n, bool converted)
{
	int32		row = 0;
	int32		previous = -1;
	int			steps = 0;

	for (int i = 0; i < n; i++)
	{
		int32		c = builder_index(b, ids[i], names[ids[i]]);

		if (c == previous)
			continue;
		count_transition(b->model, row, c);
		row = c + 1;
		previous = c;
		steps++;
	}
	if (steps == 0)
		return;
	if (converted)
	{
		count_transition(b->model, row, CONVERSION_COL(b->model));
		b->model->conversions += 1.0;
	}
	else
		count_transition(b->model, row, NULL_COL(b->model));
	b->model->paths += 1.0;
}

int32
markov_builder_shares(MarkovBuilder *b, const char ***channels, float8 **shares)
{
	int32		n = b->model->nchannels;
	float8		total = 0.0;

	*channels = model_names(b->model);
	*shares = palloc0(sizeof(float8) * Max(n, 1));
	if (n == 0 || !removal_effects(b->model, *shares))
		return 0;
	for (int32 c = 0; c < n; c++)
		total += (*shares)[c];
	if (!(total > 0))
		return 0;
	for (int32 c = 0; c < n; c++)
		(*shares)[c] /= total;
	return n;
}
