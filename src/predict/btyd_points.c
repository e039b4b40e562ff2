/*
 * btyd_points.c -- customers' summaries merged: equal (x, t, T) become one
 * point weighted by their number.  Summaries in whole days repeat a lot (a
 * million customers of three years have a few hundred thousand distinct
 * ones), and a likelihood is a sum over them, so fits and states grow with
 * the distinct summaries rather than the customers.
 */
#include "postgres.h"

#include "predict/btyd.h"

static int
point_cmp(const void *a, const void *b)
{
	const BtydPoint *p = a;
	const BtydPoint *q = b;

	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	if (p->t != q->t)
		return p->t < q->t ? -1 : 1;
	if (p->T != q->T)
		return p->T < q->T ? -1 : 1;
	return 0;
}

/* Sorts points[0..n) by (x, t, T) and merges the equal ones; returns how many are left. */
int64
btyd_compact(BtydPoint *points, int64 n)
{
	int64		kept = 0;

	if (n <= 1)
		return n;
	qsort(points, n, sizeof(BtydPoint), point_cmp);
	for (int64 i = 1; i < n; i++)
	{
		if (point_cmp(&points[kept], &points[i]) == 0)
			points[kept].weight += points[i].weight;
		else
			points[++kept] = points[i];
	}
	return kept + 1;
}
