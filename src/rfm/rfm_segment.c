/*
 * rfm_segment.c -- segment.rfm_segment(r, f, m): the named segment of an RFM
 * code, read from the editable table segment.rfm_segment_map.
 *
 * The table is read once per calling expression (cached in fn_extra), so a
 * query that names a million customers reads 125 rows, and sees the map as of
 * its own snapshot.  A code missing from the table is 'Other'.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(rfm_segment);

#define RFM_SCORES 5
#define RFM_CODES (RFM_SCORES * RFM_SCORES * RFM_SCORES)

typedef struct RfmMap
{
	text	   *names[RFM_CODES];	/* NULL: code absent from the table */
	text	   *other;
} RfmMap;

static inline int
rfm_index(int32 r, int32 f, int32 m)
{
	return ((r - 1) * RFM_SCORES + (f - 1)) * RFM_SCORES + (m - 1);
}

static void
check_score(const char *name, int32 score)
{
	if (score < 1 || score > RFM_SCORES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("RFM score out of range"),
				 errdetail("%s is %d, but named RFM segments are defined for scores 1 to %d.",
						   name, score, RFM_SCORES),
				 errhint("Compute the scores with bins = 5, for example segment.quantile_score(value, 5) OVER ().")));
}

static RfmMap *
load_map(MemoryContext cxt)
{
	RfmMap	   *map = MemoryContextAllocZero(cxt, sizeof(RfmMap));
	uint64		i;

	map->other = MemoryContextAlloc(cxt, VARHDRSZ + 5);
	SET_VARSIZE(map->other, VARHDRSZ + 5);
	memcpy(VARDATA(map->other), "Other", 5);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "rfm_segment: SPI_connect failed");
	if (SPI_execute("SELECT r, f, m, segment FROM segment.rfm_segment_map", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "rfm_segment: could not read segment.rfm_segment_map");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull[4];
		Datum		r = SPI_getbinval(tuple, desc, 1, &isnull[0]);
		Datum		f = SPI_getbinval(tuple, desc, 2, &isnull[1]);
		Datum		m = SPI_getbinval(tuple, desc, 3, &isnull[2]);
		Datum		name = SPI_getbinval(tuple, desc, 4, &isnull[3]);
		MemoryContext oldcxt;

		/* the table's constraints forbid these; a damaged table is not fatal */
		if (isnull[0] || isnull[1] || isnull[2] || isnull[3] ||
			DatumGetInt32(r) < 1 || DatumGetInt32(r) > RFM_SCORES ||
			DatumGetInt32(f) < 1 || DatumGetInt32(f) > RFM_SCORES ||
			DatumGetInt32(m) < 1 || DatumGetInt32(m) > RFM_SCORES)
			continue;
		oldcxt = MemoryContextSwitchTo(cxt);
		map->names[rfm_index(DatumGetInt32(r), DatumGetInt32(f), DatumGetInt32(m))] =
			DatumGetTextPCopy(name);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
	return map;
}

Datum
rfm_segment(PG_FUNCTION_ARGS)
{
	int32		r = PG_GETARG_INT32(0);
	int32		f = PG_GETARG_INT32(1);
	int32		m = PG_GETARG_INT32(2);
	RfmMap	   *map;
	text	   *name;

	check_score("r", r);
	check_score("f", f);
	check_score("m", m);

	map = (RfmMap *) fcinfo->flinfo->fn_extra;
	if (map == NULL)
	{
		map = load_map(fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = map;
	}
	name = map->names[rfm_index(r, f, m)];
	if (name == NULL)
		name = map->other;
	/* a copy: callers may free or modify what a function returns */
	PG_RETURN_TEXT_P(pg_detoast_datum_copy((struct varlena *) name));
}
