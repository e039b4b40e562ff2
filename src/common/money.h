/*
 * money.h -- exact sums of amounts: 128-bit integers in units of 10^-8
 * ("scaled") where every amount fits, else numeric datums.  Used by the
 * facts of a refresh and by the attribution's revenue.
 */
#ifndef SEGMENT_MONEY_H
#define SEGMENT_MONEY_H

#include "postgres.h"

#include "fmgr.h"

#ifdef HAVE_INT128
typedef int128 ScaledMoney;
#else
typedef int64 ScaledMoney;		/* never used: builds without int128 take the numeric form */
#endif

#define MONEY_SCALE 8			/* scaled amounts are in units of 10^-8 */

extern void money_init(void);
extern bool money_from_numeric(Datum d, ScaledMoney *value, int16 *dscale, bool *special);
extern Datum money_to_numeric(ScaledMoney value, int16 dscale);
extern float8 money_to_float8(ScaledMoney value);
extern ScaledMoney money_of_integer(int64 value);
extern bool money_add(ScaledMoney *sum, ScaledMoney value);

#endif							/* SEGMENT_MONEY_H */
