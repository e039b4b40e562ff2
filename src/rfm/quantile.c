/*
 * quantile.c -- input checks, sorting and ranking shared by the scoring
 * functions.
 *
 * Sorting is an LSD radix sort over the IEEE-754 bit pattern mapped to an
 * order-preserving unsigned key: scoring sorts whole customer populations
 * (millions of values) and this is several times faster than qsort there.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "rfm/quantile.h"

int32
segment_check_bins(const char *funcname, bool isnull, Datum bins)
{
	int32		b;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bins must not be null"),
				 errdetail("%s needs the number of score buckets.", funcname),
				 errhint("Pass an integer between %d and %d, for example 5 for classic RFM scores.",
						 SEGMENT_MIN_BINS, SEGMENT_MAX_BINS)));
	b = DatumGetInt32(bins);
	if (b < SEGMENT_MIN_BINS || b > SEGMENT_MAX_BINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between %d and %d", SEGMENT_MIN_BINS, SEGMENT_MAX_BINS),
				 errdetail("%s was called with bins = %d.", funcname, b),
				 errhint("Pass an integer between %d and %d, for example 5 for classic RFM scores.",
						 SEGMENT_MIN_BINS, SEGMENT_MAX_BINS)));
	return b;
}

float8
segment_check_value(const char *funcname, float8 value)
{
	if (unlikely(isnan(value) || isinf(value)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot score a non-finite value"),
				 errdetail("%s received %s.", funcname,
						   isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")),
				 errhint("Filter out or replace NaN and infinite values before scoring.")));
	/* fold -0 into +0 so that equal values have one representation */
	return value + 0.0;
}

/* Order-preserving map from a double to an unsigned 64-bit key. */
static inline uint64
float8_key(const char *elem)
{
	uint64		bits;

	memcpy(&bits, elem, sizeof(bits));
	return (bits & UINT64CONST(0x8000000000000000)) ? ~bits : (bits | UINT64CONST(0x8000000000000000));
}

static int
cmp_leading_float8(const void *a, const void *b)
{
	float8		x;
	float8		y;

	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	return (x > y) - (x < y);
}

void
segment_sort_by_float8(void *base, int64 n, size_t elemsize)
{
	char	   *src = base;
	char	   *dst;
	char	   *tmp;
	int64		counts[256];
	int			pass;

	if (n < 1024)
	{
		qsort(base, n, elemsize, cmp_leading_float8);
		return;
	}

	tmp = MemoryContextAllocHuge(CurrentMemoryContext, n * elemsize);
	dst = tmp;
	for (pass = 0; pass < 8; pass++)
	{
		int			shift = pass * 8;
		int64		offset = 0;
		int64		i;
		int			b;
		bool		one_bucket = false;

		CHECK_FOR_INTERRUPTS();
		memset(counts, 0, sizeof(counts));
		for (i = 0; i < n; i++)
			counts[(float8_key(src + i * elemsize) >> shift) & 0xFF]++;
		for (b = 0; b < 256; b++)
		{
			int64		c = counts[b];

			if (c == n)
				one_bucket = true;	/* every key shares this byte: skip */
			counts[b] = offset;
			offset += c;
		}
		if (one_bucket)
			continue;
		/* constant-size copies: a memcpy of a variable size is a call */
		if (elemsize == sizeof(uint64))
		{
			for (i = 0; i < n; i++)
			{
				const uint64 *e = (const uint64 *) src + i;

				((uint64 *) dst)[counts[(float8_key((const char *) e) >> shift) & 0xFF]++] = *e;
			}
		}
		else
		{
			Assert(elemsize == 2 * sizeof(uint64));
			for (i = 0; i < n; i++)
			{
				const uint64 *e = (const uint64 *) src + 2 * i;
				uint64	   *d = (uint64 *) dst + 2 * counts[(float8_key((const char *) e) >> shift) & 0xFF]++;

				d[0] = e[0];
				d[1] = e[1];
			}
		}
		/* the sorted-so-far data is now in dst */
		{
			char	   *swap = src;

			src = dst;
			dst = swap;
		}
	}
	if (src != base)
		memcpy(base, src, n * elemsize);
	pfree(tmp);
}

int64
segment_count_below(const float8 *sorted, int64 n, float8 value)
{
	int64		lo = 0;
	int64		hi = n;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (sorted[mid] < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
