/*
 * money.c -- exact amounts as 128-bit integers in units of 10^-8.
 *
 * Reading and writing numerics works on their stored form (a sign, a display
 * scale, a weight and base-10000 digits), which is part of PostgreSQL's
 * on-disk format and so stable across releases: a refresh reads ten million
 * amounts and writes a million sums, and going through text would cost more
 * than the scan.  What is written is byte for byte what numeric's own
 * arithmetic would make (the short form, trailing zero digits stripped).
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"

#include "common/money.h"

#ifdef HAVE_INT128

#define NUMERIC_DIGITS_MAX 16	/* 10^30 needs 8 base-10000 digits, plus the fraction */

static int128 pow10_128[31];	/* up to 10^30, the largest exponent used */

void
money_init(void)
{
	if (pow10_128[0] != 0)
		return;
	pow10_128[0] = 1;
	for (int i = 1; i < lengthof(pow10_128); i++)
		pow10_128[i] = pow10_128[i - 1] * 10;
}

ScaledMoney
money_of_integer(int64 value)
{
	return (int128) value * pow10_128[MONEY_SCALE];
}

/* sum += value; false on overflow */
bool
money_add(ScaledMoney *sum, ScaledMoney value)
{
#if defined(HAVE__BUILTIN_OP_OVERFLOW)
	return !__builtin_add_overflow(*sum, value, sum);
#else
	const int128 max = (int128) (~(uint128) 0 >> 1);

	if ((value > 0 && *sum > max - value) || (value < 0 && *sum < -max - value))
		return false;
	*sum += value;
	return true;
#endif
}

/*
 * A numeric as a scaled integer, without detoasting short values.  Sets
 * *special for NaN and infinities.  False when it holds more than 8 decimals
 * or reaches 10^22.
 */
bool
money_from_numeric(Datum d, ScaledMoney *value, int16 *dscale, bool *special)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);
	const char *p;
	int			len;
	uint16		header;
	bool		negative;
	int			weight;
	int			ndigits;
	const char *digits;
	int128		acc = 0;

	if (VARATT_IS_EXTENDED(v) && !VARATT_IS_SHORT(v))
		v = pg_detoast_datum(v);
	p = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	memcpy(&header, p, sizeof(uint16));
	*special = false;
	if ((header & 0xC000) == 0xC000)
	{
		*special = true;		/* NaN, or an infinity (PostgreSQL 14+) */
		return true;
	}
	if (header & 0x8000)
	{
		/* short form: sign, display scale and weight in the header */
		negative = (header & 0x2000) != 0;
		*dscale = (header & 0x1F80) >> 7;
		weight = (header & 0x0040) ? (int) (~0x003F | (header & 0x003F)) : (header & 0x003F);
		digits = p + sizeof(uint16);
		ndigits = (len - (int) sizeof(uint16)) / 2;
	}
	else
	{
		int16		w;

		negative = (header & 0xC000) == 0x4000;
		*dscale = header & 0x3FFF;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		digits = p + 2 * sizeof(uint16);
		ndigits = (len - 2 * (int) sizeof(uint16)) / 2;
	}
	if (*dscale > MONEY_SCALE)
		return false;
	for (int i = 0; i < ndigits; i++)
	{
		int16		digit;
		int			exponent = 4 * (weight - i) + MONEY_SCALE;

		memcpy(&digit, digits + 2 * i, sizeof(int16));
		if (digit == 0)
			continue;
		if (exponent < 0 || exponent > 30)
			return false;		/* beyond 8 decimals, or above 10^26 */
		acc += (int128) digit * pow10_128[exponent];
	}
	*value = negative ? -acc : acc;
	return true;
}

/* The numeric of a scaled value with the given display scale (at most 8). */
Datum
money_to_numeric(ScaledMoney value, int16 dscale)
{
	uint128		mag = value < 0 ? -(uint128) value : (uint128) value;
	int16		digits[NUMERIC_DIGITS_MAX];
	int			n = 0;
	int			weight;
	int			first;
	uint128		integral = mag / (uint128) pow10_128[MONEY_SCALE];
	uint32		fraction = (uint32) (mag % (uint128) pow10_128[MONEY_SCALE]);
	struct varlena *result;
	uint16		header;

	/* base-10000 digits, least significant first: two of fraction, then the integral part */
	digits[n++] = (int16) (fraction % 10000);
	digits[n++] = (int16) (fraction / 10000);
	while (integral > 0)
	{
		digits[n++] = (int16) (integral % 10000);
		integral /= 10000;
	}
	weight = n - 3;				/* the most significant digit's power of 10000 */
	/* strip leading zero digits (most significant end), then trailing ones */
	while (n > 0 && digits[n - 1] == 0)
	{
		n--;
		weight--;
	}
	first = 0;
	while (first < n && digits[first] == 0)
		first++;
	if (first == n)
	{
		n = first = 0;
		weight = 0;
	}

	/* always the short form: the scale is at most 8 and the weight below 8 */
	header = 0x8000 | (value < 0 && n > first ? 0x2000 : 0) |
		((dscale << 7) & 0x1F80) | (weight < 0 ? 0x0040 : 0) | (weight & 0x003F);
	result = palloc(VARHDRSZ + sizeof(uint16) + sizeof(int16) * (n - first));
	SET_VARSIZE(result, VARHDRSZ + sizeof(uint16) + sizeof(int16) * (n - first));
	memcpy(VARDATA(result), &header, sizeof(uint16));
	for (int i = n - 1, j = 0; i >= first; i--, j++)
		memcpy(VARDATA(result) + sizeof(uint16) + sizeof(int16) * j, &digits[i], sizeof(int16));
	return PointerGetDatum(result);
}

/*
 * The float8 of a scaled value, rounded as numeric's cast rounds (to the
 * nearest double of the exact decimal).  Below 2^53 the division by 10^8 of
 * two exact doubles is that rounding; above, the decimal text is parsed.
 */
float8
money_to_float8(ScaledMoney value)
{
	const int128 exact_limit = (int128) 1 << 53;

	if (value > -exact_limit && value < exact_limit)
		return (float8) (int64) value / 1e8;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, money_to_numeric(value, MONEY_SCALE)));
}

#else							/* no 128-bit integers: the numeric form only */

void
money_init(void)
{
}

ScaledMoney
money_of_integer(int64 value)
{
	return value;
}

bool
money_add(ScaledMoney *sum, ScaledMoney value)
{
	return false;
}

bool
money_from_numeric(Datum d, ScaledMoney *value, int16 *dscale, bool *special)
{
	*special = false;
	return false;
}

Datum
money_to_numeric(ScaledMoney value, int16 dscale)
{
	elog(ERROR, "money_to_numeric needs 128-bit integers");
	return (Datum) 0;
}

float8
money_to_float8(ScaledMoney value)
{
	elog(ERROR, "money_to_float8 needs 128-bit integers");
	return 0.0;
}

#endif
