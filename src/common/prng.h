/*
 * prng.h -- a small seeded random generator (xoshiro256**, seeded through
 * splitmix64), so results depend only on the seed and not on the platform,
 * the PostgreSQL version or the session's random() state.
 */
#ifndef SEGMENT_PRNG_H
#define SEGMENT_PRNG_H

#include "postgres.h"

typedef struct SegmentPrng
{
	uint64		s[4];
} SegmentPrng;

static inline uint64
segment_splitmix64(uint64 *x)
{
	uint64		z = (*x += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* One independent stream per (seed, stream), e.g. one per k-means run. */
static inline void
segment_prng_seed(SegmentPrng *rng, int64 seed, uint64 stream)
{
	uint64		x = (uint64) seed ^ (stream * UINT64CONST(0xD1B54A32D192ED03));

	for (int i = 0; i < 4; i++)
		rng->s[i] = segment_splitmix64(&x);
}

static inline uint64
segment_rotl(uint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64
segment_prng_next(SegmentPrng *rng)
{
	uint64	   *s = rng->s;
	uint64		result = segment_rotl(s[1] * 5, 7) * 9;
	uint64		t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = segment_rotl(s[3], 45);
	return result;
}

/* Uniform in [0, 1), 53 random bits. */
static inline float8
segment_prng_uniform(SegmentPrng *rng)
{
	return (float8) (segment_prng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

#endif							/* SEGMENT_PRNG_H */
