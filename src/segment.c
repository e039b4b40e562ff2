/*
 * segment.c -- module entry point.
 *
 * The library works whether or not it is listed in shared_preload_libraries:
 * the SQL functions need nothing from _PG_init.  _PG_init only reserves the
 * "segment." prefix so that a misspelt setting is reported instead of being
 * silently kept as a placeholder.
 */
#include "postgres.h"

#include "fmgr.h"

#include "compat.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	MarkGUCPrefixReserved("segment");
}
