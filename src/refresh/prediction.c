/*
 * prediction.c -- the predictions of a refresh with predict on
 * (prediction.h).
 *
 * Times are in days: x the repeat purchases (purchase days after the first),
 * t_x the days from the first purchase to the last, T from the first to
 * as_of's day; the mean value is that of the days after the first (refunds
 * count against it), as segment.customer_summary defines them.  BG/NBD is
 * fitted on every customer with a purchase, Gamma-Gamma on those with a
 * repeat purchase of positive mean value.  The value tiers' edges come from
 * a sample of up to PREDICT_SAMPLE customers, taken by the hash of their key.
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "common/large_alloc.h"
#include "refresh/facts.h"
#include "refresh/prediction.h"

/*
 * The BG/NBD scores of a summary (x, t_x, T), kept for the customers with
 * the same one: in days, summaries repeat (half of a million customers
 * share theirs with another), and the scores cost microseconds.
 */
typedef struct ScoreKey
{
	int32		x;
	int32		t_x;
	int32		T;
} ScoreKey;

typedef struct ScoreEntry
{
	ScoreKey	key;
	uint32		hash;
	char		status;
	float8		p_alive;
	float8		p_purchase;
	float8		expected_orders;
	float8		next_in;
	float8		purchases_value;	/* the discounted purchases within the horizon: the CLV of a value of 1 */
} ScoreEntry;

static inline uint32
score_key_hash(ScoreKey k)
{
	return facts_mix64(((uint64) (uint32) k.x * UINT64CONST(0x9E3779B97F4A7C15)) ^
					   ((uint64) (uint32) k.t_x << 32 | (uint32) k.T));
}

#define SH_PREFIX scores
#define SH_ELEMENT_TYPE ScoreEntry
#define SH_KEY_TYPE ScoreKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) score_key_hash(k)
#define SH_EQUAL(tb, a, b) ((a).x == (b).x && (a).t_x == (b).t_x && (a).T == (b).T)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#define SH_USE_NONDEFAULT_ALLOCATOR
#include "lib/simplehash.h"

/* looked up at random once per customer: on huge pages, as the facts table */
static inline void *
scores_allocate(scores_hash *table, Size size)
{
	return large_alloc_zero(table->ctx, size);
}

static inline void
scores_free(scores_hash *table, void *pointer)
{
	pfree(pointer);
}

/* at most this many summaries kept (about 64 bytes each) */
#define SCORE_CACHE_MAX (4 * 1024 * 1024)

#define PREDICT_SAMPLE 100000
#define SAMPLE_WIDTH 5			/* x, t_x, T, mean value, hash */
/* the points are sorted and merged when this many (a few days of span make them repeat) */
#define POINTS_COMPACT_AT ((int64) 1 << 22)

static char *
spi_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

static float8
spi_float8(int row, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* Most churn risk levels and value tiers a refresh takes. */
#define MAX_LEVELS 100

/*
 * The editable tables of segment.churn_risk_levels, value_tiers and
 * predictive_segment_map: the levels by min_p_purchase, highest first, the
 * tiers by top_share, and the name of each pair the map has.
 */
static void
load_segments(Prediction *pr)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "segment: SPI_connect failed");
	if (SPI_execute("SELECT churn_risk, min_p_purchase FROM segment.churn_risk_levels ORDER BY min_p_purchase DESC",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "segment: could not read segment.churn_risk_levels");
	if (SPI_processed > MAX_LEVELS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.churn_risk_levels has %llu rows, more than %d", (unsigned long long) SPI_processed,
						MAX_LEVELS),
				 errdetail("A refresh takes at most %d levels.", MAX_LEVELS),
				 errhint("Keep a few churn risk levels.")));
	pr->nlevels = (int) SPI_processed;
	pr->levels = MemoryContextAlloc(cxt, sizeof(ChurnLevel) * Max(pr->nlevels, 1));
	for (int i = 0; i < pr->nlevels; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		pr->levels[i].name = pstrdup(spi_text(i, 1));
		pr->levels[i].text = CStringGetTextDatum(pr->levels[i].name);
		MemoryContextSwitchTo(old);
		pr->levels[i].min_p_purchase = spi_float8(i, 2);
	}
	if (SPI_execute("SELECT value_tier, top_share FROM segment.value_tiers ORDER BY top_share", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "segment: could not read segment.value_tiers");
	if (SPI_processed > MAX_LEVELS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment.value_tiers has %llu rows, more than %d", (unsigned long long) SPI_processed, MAX_LEVELS),
				 errdetail("A refresh takes at most %d tiers.", MAX_LEVELS),
				 errhint("Keep a few value tiers.")));
	pr->ntiers = (int) SPI_processed;
	pr->tiers = MemoryContextAlloc(cxt, sizeof(ValueTier) * Max(pr->ntiers, 1));
	for (int i = 0; i < pr->ntiers; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		pr->tiers[i].name = pstrdup(spi_text(i, 1));
		MemoryContextSwitchTo(old);
		pr->tiers[i].top_share = spi_float8(i, 2);
	}
	/* the names of the pairs, by their positions in the orders above */
	pr->names = MemoryContextAllocZero(cxt, sizeof(char *) * Max(pr->nlevels * pr->ntiers, 1));
	if (SPI_execute("SELECT l.position, t.position, m.segment FROM segment.predictive_segment_map AS m"
					" JOIN (SELECT churn_risk, row_number() OVER (ORDER BY min_p_purchase DESC) - 1 AS position"
					"       FROM segment.churn_risk_levels) AS l ON l.churn_risk = m.churn_risk"
					" JOIN (SELECT value_tier, row_number() OVER (ORDER BY top_share) - 1 AS position"
					"       FROM segment.value_tiers) AS t ON t.value_tier = m.value_tier",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "segment: could not read segment.predictive_segment_map");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		l = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		int64		t = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		/* the same snapshot as the reads above: every position is in range */
		if (l < 0 || l >= pr->nlevels || t < 0 || t >= pr->ntiers)
			elog(ERROR, "segment: the predictive segment map changed while it was read");
		pr->names[l * pr->ntiers + t] = MemoryContextStrdup(cxt, spi_text((int) r, 3));
	}
	SPI_finish();
}

void
prediction_begin(Prediction *pr, TimestampTz as_of, float8 horizon_days, float8 discount_rate)
{
	DayClock	clock = {0};
	float8		period_rate;

	memset(pr, 0, sizeof(Prediction));
	pr->as_of = as_of;
	pr->as_of_day = day_of(&clock, as_of);
	pr->horizon = horizon_days;
	period_rate = pow(1.0 + discount_rate, PREDICT_PERIOD_DAYS / 365.0) - 1.0;
	/* as bgnbd_discounted_value cuts the horizon: periods ending at k * 30 days, the last at the horizon */
	pr->periods = (int) ceil(horizon_days / PREDICT_PERIOD_DAYS);
	pr->period_ends = palloc(sizeof(float8) * pr->periods);
	pr->discounts = palloc(sizeof(float8) * pr->periods);
	for (int k = 1; k <= pr->periods; k++)
	{
		pr->period_ends[k - 1] = Min(k * (float8) PREDICT_PERIOD_DAYS, horizon_days);
		pr->discounts[k - 1] = 1.0 / pow(1.0 + period_rate, (float8) k);
	}
	pr->points_capacity = 1024;
	pr->points = palloc(sizeof(BtydPoint) * pr->points_capacity);
	pr->spend_capacity = 1024;
	pr->spend = palloc(sizeof(BtydPoint) * pr->spend_capacity);
	pr->sample = palloc(sizeof(float8) * SAMPLE_WIDTH * 2 * PREDICT_SAMPLE);
	load_segments(pr);
}

/* Before the first pass: room for the customers the table holds (more double it). */
void
prediction_expect(Prediction *pr, int64 customers)
{
	if (customers <= pr->points_capacity)
		return;
	pr->points = repalloc_huge(pr->points, sizeof(BtydPoint) * customers);
	pr->points_capacity = customers;
	pr->spend = repalloc_huge(pr->spend, sizeof(BtydPoint) * customers);
	pr->spend_capacity = customers;
}

/* A customer's x, t_x, T and mean value; false without a purchase. */
static bool
prediction_summary(const Prediction *pr, const PurchaseSummary *s, CustomerPrediction *c)
{
	memset(c, 0, sizeof(CustomerPrediction));
	c->level = -1;
	c->mean_value = NAN;
	if (s->purchases <= 0)
		return false;
	c->has_summary = true;
	c->x = (float8) (s->purchases - 1);
	c->t_x = (float8) s->last_day - s->first_day;
	c->T = (float8) pr->as_of_day - s->first_day;
	if (c->x > 0 && s->repeat_value > 0)
		c->mean_value = s->repeat_value / c->x;
	return true;
}

static BtydPoint *
append_point(BtydPoint **points, int64 *n, int64 *capacity)
{
	if (*n == *capacity)
	{
		*capacity *= 2;
		*points = repalloc_huge(*points, sizeof(BtydPoint) * *capacity);
	}
	return &(*points)[(*n)++];
}

/* The first pass: a customer's summary to the fits and, when sampled, to the tiers' sample. */
void
prediction_observe(Prediction *pr, const PurchaseSummary *s, uint32 hash)
{
	CustomerPrediction c;
	BtydPoint  *p;

	if (!prediction_summary(pr, s, &c))
		return;
	pr->customers++;
	pr->repeaters += c.x > 0;
	if (pr->npoints >= POINTS_COMPACT_AT && pr->npoints == pr->points_capacity)
		pr->npoints = btyd_compact(pr->points, pr->npoints);
	p = append_point(&pr->points, &pr->npoints, &pr->points_capacity);
	p->x = c.x;
	p->t = c.t_x;
	p->T = c.T;
	p->weight = 1.0;
	if (c.x > 0 && !isnan(c.mean_value))
	{
		p = append_point(&pr->spend, &pr->nspend, &pr->spend_capacity);
		p->x = c.x;
		p->t = c.mean_value;
		p->T = 0.0;
		p->weight = 1.0;
	}
	if ((hash & pr->sample_mask) != 0)
		return;
	/* full: keep the customers whose next bit of the hash is 0 too, until some go */
	while (pr->nsample == 2 * PREDICT_SAMPLE)
	{
		int64		kept = 0;

		if (pr->sample_mask == PG_UINT32_MAX)
			return;				/* as many equal hashes: the sample is full */
		pr->sample_mask = (pr->sample_mask << 1) | 1;
		for (int64 i = 0; i < pr->nsample; i++)
			if (((uint32) pr->sample[i * SAMPLE_WIDTH + 4] & pr->sample_mask) == 0)
				memmove(&pr->sample[kept++ * SAMPLE_WIDTH], &pr->sample[i * SAMPLE_WIDTH], sizeof(float8) * SAMPLE_WIDTH);
		pr->nsample = kept;
		if ((hash & pr->sample_mask) != 0)
			return;
	}
	pr->sample[pr->nsample * SAMPLE_WIDTH + 0] = c.x;
	pr->sample[pr->nsample * SAMPLE_WIDTH + 1] = c.t_x;
	pr->sample[pr->nsample * SAMPLE_WIDTH + 2] = c.T;
	pr->sample[pr->nsample * SAMPLE_WIDTH + 3] = c.mean_value;
	pr->sample[pr->nsample * SAMPLE_WIDTH + 4] = (float8) hash;
	pr->nsample++;
}

/* The expected value of a customer's orders: his own mean shrunk to the population's (NaN: infinite). */
static float8
expected_value(const Prediction *pr, const CustomerPrediction *c)
{
	if (c->x > 0 && !isnan(c->mean_value))
		return gammagamma_expected_value(pr->gammagamma.params, c->x, c->mean_value);
	return gammagamma_expected_value(pr->gammagamma.params, 0, NAN);
}

/*
 * The BG/NBD scores of a summary: P(alive), P(a purchase within the
 * horizon), the expected purchases within it, the time to the next one
 * (NaN: none) and the discounted purchases of each period (a CLV per unit
 * of value).  NaN purchases where the series does not converge.
 */
static void
bgnbd_scores(const Prediction *pr, float8 x, float8 t_x, float8 T, ScoreEntry *out)
{
	float8	   *upto = palloc(sizeof(float8) * pr->periods);
	float8		before = 0.0;

	out->p_alive = bgnbd_p_alive(pr->bgnbd.params, x, t_x, T);
	out->p_purchase = bgnbd_purchase_probability(pr->bgnbd.params, pr->horizon, x, t_x, T);
	out->next_in = bgnbd_next_order_in(pr->bgnbd.params, x, t_x, T);
	out->expected_orders = out->purchases_value = NAN;
	/* the last period ends at the horizon: its expectation is the horizon's */
	if (bgnbd_expected_orders_many(pr->bgnbd.params, pr->periods, pr->period_ends, x, t_x, T, upto))
	{
		out->expected_orders = upto[pr->periods - 1];
		out->purchases_value = 0.0;
		for (int k = 0; k < pr->periods; k++)
		{
			out->purchases_value += (upto[k] - before) * pr->discounts[k];
			before = upto[k];
		}
	}
	pfree(upto);
}

/* A customer's scores: from the cache, or computed (and kept while it has room). */
static const ScoreEntry *
scores_of(Prediction *pr, const CustomerPrediction *c, ScoreEntry *scratch)
{
	ScoreKey	key = {(int32) c->x, (int32) c->t_x, (int32) c->T};
	ScoreEntry *entry;
	bool		found;

	if (pr->cache->members >= SCORE_CACHE_MAX)
	{
		entry = scores_lookup(pr->cache, key);
		if (entry != NULL)
			return entry;
		bgnbd_scores(pr, c->x, c->t_x, c->T, scratch);
		return scratch;
	}
	entry = scores_insert(pr->cache, key, &found);
	if (!found)
		bgnbd_scores(pr, c->x, c->t_x, c->T, entry);
	return entry;
}

static float8
clv_of(Prediction *pr, const CustomerPrediction *c)
{
	ScoreEntry	scratch;
	float8		value = expected_value(pr, c);

	if (!isfinite(value))
		return NAN;
	return value * scores_of(pr, c, &scratch)->purchases_value;
}

static int
cmp_float8_desc(const void *a, const void *b)
{
	float8		x = *(const float8 *) a;
	float8		y = *(const float8 *) b;

	return x > y ? -1 : x < y ? 1 : 0;
}

/* Each tier's least predicted CLV, from the sample. */
static void
tier_edges(Prediction *pr)
{
	float8	   *clv = palloc(sizeof(float8) * Max(pr->nsample, 1));
	int64		n = 0;

	for (int64 i = 0; i < pr->nsample; i++)
	{
		CustomerPrediction c;

		if ((i & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
		memset(&c, 0, sizeof(c));
		c.x = pr->sample[i * SAMPLE_WIDTH + 0];
		c.t_x = pr->sample[i * SAMPLE_WIDTH + 1];
		c.T = pr->sample[i * SAMPLE_WIDTH + 2];
		c.mean_value = pr->sample[i * SAMPLE_WIDTH + 3];
		clv[n] = clv_of(pr, &c);
		if (!isnan(clv[n]))
			n++;
	}
	qsort(clv, n, sizeof(float8), cmp_float8_desc);
	for (int t = 0; t < pr->ntiers; t++)
	{
		int64		rank = (int64) ceil(pr->tiers[t].top_share * (float8) n);

		/* the tier that reaches the bottom takes everyone, in the sample or not */
		pr->tiers[t].min_clv = pr->tiers[t].top_share >= 1 ? -INFINITY :
			n == 0 ? INFINITY : clv[Max(Min(rank, n), 1) - 1];
	}
	pfree(clv);
}

/*
 * Between the passes: BG/NBD on every customer with a purchase, Gamma-Gamma
 * on the repeat buyers' mean values, then the tiers.  A population too
 * small or without repeat purchases has no fit, and the run log says why.
 */
void
prediction_fit(Prediction *pr)
{
	if (pr->customers < PREDICT_MIN_CUSTOMERS || pr->repeaters < PREDICT_MIN_REPEATERS)
	{
		pr->warning = psprintf("no predictions: %lld customers with a purchase, %lld of them with a repeat purchase;"
							   " BG/NBD needs at least %d and %d",
							   (long long) pr->customers, (long long) pr->repeaters, PREDICT_MIN_CUSTOMERS,
							   PREDICT_MIN_REPEATERS);
		return;
	}
	pr->npoints = btyd_compact(pr->points, pr->npoints);
	/* room for every distinct summary: the scores never rehash */
	pr->cache = scores_create(CurrentMemoryContext, (uint32) Min(pr->npoints, SCORE_CACHE_MAX) + 1, NULL);
	pr->bgnbd = bgnbd_fit_points(pr->points, pr->npoints);
	pr->has_bgnbd = isfinite(pr->bgnbd.log_likelihood);
	if (!pr->has_bgnbd)
	{
		pr->warning = pstrdup("no predictions: BG/NBD could not be fitted to the customers' purchases");
		return;
	}
	if (!pr->bgnbd.converged)
		pr->warning = psprintf("BG/NBD did not converge in %d iterations; its predictions are those of the last",
							   pr->bgnbd.iterations);
	if (pr->nspend < PREDICT_MIN_REPEATERS)
	{
		pr->warning = psprintf("no predicted CLV: %lld repeat buyers with a positive mean value, Gamma-Gamma needs %d",
							   (long long) pr->nspend, PREDICT_MIN_REPEATERS);
		return;
	}
	pr->nspend = btyd_compact(pr->spend, pr->nspend);
	pr->gammagamma = gammagamma_fit_points(pr->spend, pr->nspend);
	pr->has_gammagamma = isfinite(pr->gammagamma.log_likelihood) &&
		isfinite(gammagamma_expected_value(pr->gammagamma.params, 0, NAN));
	if (!pr->has_gammagamma)
	{
		pr->warning = pstrdup("no predicted CLV: Gamma-Gamma could not be fitted, or its mean order value is infinite (q <= 1)");
		return;
	}
	if (!pr->gammagamma.converged && pr->warning == NULL)
		pr->warning = psprintf("Gamma-Gamma did not converge in %d iterations; its predictions are those of the last",
							   pr->gammagamma.iterations);
	tier_edges(pr);
}

/* The second pass: a customer's predictions and segments. */
void
prediction_score(Prediction *pr, const PurchaseSummary *s, CustomerPrediction *c)
{
	int			tier = -1;
	ScoreEntry	scratch;
	const ScoreEntry *scores;
	float8		value;

	if (!prediction_summary(pr, s, c) || !pr->has_bgnbd)
		return;
	scores = scores_of(pr, c, &scratch);
	c->has_scores = true;
	c->p_alive = scores->p_alive;
	c->p_purchase = scores->p_purchase;
	c->expected_orders = scores->expected_orders;
	/* NaN: more likely gone than not; past the representable times: none either */
	if (!isnan(scores->next_in) && (float8) pr->as_of + scores->next_in * USECS_PER_DAY < (float8) END_TIMESTAMP)
	{
		c->has_next_order = true;
		c->next_order_at = pr->as_of + (int64) (scores->next_in * USECS_PER_DAY);
	}
	for (int l = 0; l < pr->nlevels; l++)
		if (c->p_purchase >= pr->levels[l].min_p_purchase)
		{
			c->level = l;
			break;
		}
	if (!pr->has_gammagamma)
		return;
	value = expected_value(pr, c);
	c->clv = value * scores->purchases_value;
	c->has_clv = isfinite(c->clv);
	if (!c->has_clv)
		return;
	for (int t = 0; t < pr->ntiers; t++)
		if (c->clv >= pr->tiers[t].min_clv)
		{
			tier = t;
			break;
		}
	c->segment = "Other";
	if (c->level >= 0 && tier >= 0 && pr->names[c->level * pr->ntiers + tier] != NULL)
		c->segment = pr->names[c->level * pr->ntiers + tier];
}
