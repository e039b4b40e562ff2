/*
 * cluster_sample.c -- the bottom-k sample of the customers a refresh
 * clusters (cluster_sample.h).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "refresh/cluster_sample.h"

int			segment_cluster_sample = 1000000;

/* a before b in the order of the sample: hash, then features */
static bool
point_less(const SamplePoint *a, const SamplePoint *b)
{
	if (a->hash != b->hash)
		return a->hash < b->hash;
	for (int f = 0; f < CLUSTER_FEATURES; f++)
		if (a->x[f] != b->x[f])
			return a->x[f] < b->x[f];
	return false;
}

static void
sift_down(SamplePoint *heap, int64 n, int64 i)
{
	for (;;)
	{
		int64		largest = i;
		int64		left = 2 * i + 1;
		int64		right = left + 1;
		SamplePoint swap;

		if (left < n && point_less(&heap[largest], &heap[left]))
			largest = left;
		if (right < n && point_less(&heap[largest], &heap[right]))
			largest = right;
		if (largest == i)
			return;
		swap = heap[i];
		heap[i] = heap[largest];
		heap[largest] = swap;
		i = largest;
	}
}

void
cluster_sample_init(ClusterSample *sample, int64 capacity)
{
	memset(sample, 0, sizeof(ClusterSample));
	sample->capacity = Max(capacity, 1);
	/* grows as customers come, up to the capacity */
	sample->points = palloc_extended(sizeof(SamplePoint) * Min(sample->capacity, 1024), MCXT_ALLOC_HUGE);
}

void
cluster_sample_offer(ClusterSample *sample, uint32 hash, const float8 *x)
{
	SamplePoint point;

	point.hash = hash;
	memcpy(point.x, x, sizeof(point.x));
	sample->offered++;
	if (sample->n < sample->capacity)
	{
		if (sample->n >= 1024 && (sample->n & (sample->n - 1)) == 0)
			sample->points = repalloc_huge(sample->points,
										   sizeof(SamplePoint) * Min(sample->n * 2, sample->capacity));
		sample->points[sample->n++] = point;
		return;
	}
	if (!sample->is_heap)
	{
		for (int64 i = sample->n / 2 - 1; i >= 0; i--)
			sift_down(sample->points, sample->n, i);
		sample->is_heap = true;
	}
	if (point_less(&point, &sample->points[0]))
	{
		sample->points[0] = point;
		sift_down(sample->points, sample->n, 0);
	}
}

float8 *
cluster_sample_features(const ClusterSample *sample)
{
	float8	   *x = palloc_extended(sizeof(float8) * CLUSTER_FEATURES * Max(sample->n, 1), MCXT_ALLOC_HUGE);

	for (int64 i = 0; i < sample->n; i++)
		memcpy(x + CLUSTER_FEATURES * i, sample->points[i].x, sizeof(sample->points[i].x));
	return x;
}
