/*
 * cluster_sample.h -- the customers a refresh fits its k-means model on.
 *
 * All customers with an order, up to segment.cluster_sample of them; past
 * it, the cluster_sample customers whose key hashes are smallest (ties
 * broken by the features): a uniform sample, the same whatever the order
 * the customers come in, so that a spilled scan, a parallel one and the SQL
 * path fit the same model.  Every customer is then assigned to its nearest
 * centroid.
 */
#ifndef SEGMENT_CLUSTER_SAMPLE_H
#define SEGMENT_CLUSTER_SAMPLE_H

#include "postgres.h"

#define CLUSTER_FEATURES 3

typedef struct SamplePoint
{
	uint32		hash;
	float8		x[CLUSTER_FEATURES];
} SamplePoint;

typedef struct ClusterSample
{
	SamplePoint *points;
	int64		n;
	int64		capacity;
	int64		offered;		/* customers offered */
	bool		is_heap;		/* full: a max-heap on (hash, x) */
} ClusterSample;

/* segment.cluster_sample */
extern int	segment_cluster_sample;

extern void cluster_sample_init(ClusterSample *sample, int64 capacity);
extern void cluster_sample_offer(ClusterSample *sample, uint32 hash, const float8 *x);

/* The sample's features, n * CLUSTER_FEATURES of them, in a new array. */
extern float8 *cluster_sample_features(const ClusterSample *sample);

#endif							/* SEGMENT_CLUSTER_SAMPLE_H */
