/*
 * btyd_points.c -- customers' summaries merged: equal (x, t, T) become one
 * point weighted by their number.  Summaries in whole days repeat a lot (a
 * million customers of three years have a few hundred thousand distinct
 * ones), and a likelihood is a sum over them, so fits and states grow with
 * the distinct summaries rather than the customers.
 */
#include "postgres.h"

#include "predict/btyd.h"

static inline int
point_cmp(const BtydPoint *p, const BtydPoint *q)
{
	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	if (p->t != q->t)
		return p->t < q->t ? -1 : 1;
	if (p->T != q->T)
		return p->T < q->T ? -1 : 1;
	return 0;
}

/* a sort specialized for points: inline comparisons, whole-struct swaps */
#define ST_SORT sort_points
#define ST_ELEMENT_TYPE BtydPoint
#define ST_COMPARE(a, b) point_cmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* Sorts points[0..n) by (x, t, T) and merges the equal ones; returns how many are left. */
int64
btyd_compact(BtydPoint *points, int64 n)
{
	int64		kept = 0;

	if (n <= 1)
		return n;
	sort_points(points, n);
	for (int64 i = 1; i < n; i++)
	{
		if (point_cmp(&points[kept], &points[i]) == 0)
			points[kept].weight += points[i].weight;
		else
			points[++kept] = points[i];
	}
	return kept + 1;
}

/*
 * The customers' mean T (of_T) or t (the mean spend of Gamma-Gamma's
 * points): the scale of the parameters' starts, at least 1e-6.
 */
float8
btyd_mean(const BtydPoint *points, int64 n, bool of_T)
{
	float8		weight = 0.0;
	float8		sum = 0.0;

	for (int64 i = 0; i < n; i++)
	{
		weight += points[i].weight;
		sum += points[i].weight * (of_T ? points[i].T : points[i].t);
	}
	return Max(sum / Max(weight, 1.0), 1e-6);
}
