/*
 * relation_check.h -- what the C code checks of every relation it is given
 * before it reads or writes it: that it exists, that the current role may
 * use it, and that its columns have the types the code reads.
 */
#ifndef SEGMENT_RELATION_CHECK_H
#define SEGMENT_RELATION_CHECK_H

#include "postgres.h"

#include "utils/rel.h"

/* Opens a relation, or errors with undefined_table naming its role. */
extern Relation relation_open_existing(Oid relid, LOCKMODE lockmode, const char *what);

/* Errors with wrong_object_type unless the relation is a plain table. */
extern void relation_check_plain(Relation rel, const char *what);

/*
 * Opens a relation the current role may read (SELECT), or errors with
 * undefined_table / insufficient_privilege; what names its role in the
 * segmentation ("orders", "previous contents").
 */
extern Relation relation_open_readable(Oid relid, LOCKMODE lockmode, const char *what);

/*
 * The number of a column, which must have the given type (InvalidOid: any);
 * errors undefined_column or datatype_mismatch.
 */
extern AttrNumber relation_column(Relation rel, const char *column, Oid type, const char *what);

/*
 * Errors unless the relation was created by this transaction and the
 * current role may insert into it: the refresh writes in bulk only into
 * tables it has just made.
 */
extern void relation_check_made_here(Relation rel);

/* Whether Citus keeps the rows of this table on other nodes (or shards). */
extern bool is_distributed_table(Oid relid);

#endif							/* SEGMENT_RELATION_CHECK_H */
