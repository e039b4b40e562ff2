/*
 * catalog_version.h -- the SQL objects a database has against the library
 * serving it.  After a package upgrade the new library meets databases
 * whose extension is still at the old version until ALTER EXTENSION
 * segment UPDATE runs there: what changed between them refuses with an
 * error that says so, instead of misreading the old objects.
 */
#ifndef SEGMENT_CATALOG_VERSION_H
#define SEGMENT_CATALOG_VERSION_H

#include "postgres.h"

/* The version of the SQL objects this library serves (segment.control's). */
#define SEGMENT_LIBRARY_VERSION SEGMENT_VERSION

/*
 * The extension's version in the current database (palloc'd), or NULL when
 * it is not installed here.  Needs a transaction.
 */
extern char *catalog_version(void);

/* Whether the current database's extension is the library's version. */
extern bool catalog_version_matches(void);

/* Errors, naming "what" could not run, unless the versions match. */
extern void require_catalog_version(const char *what);

#endif							/* SEGMENT_CATALOG_VERSION_H */
