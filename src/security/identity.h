/*
 * identity.h -- whose privileges the extension's code runs with.
 *
 * A refresh or drop runs as the segmentation's owner, in a
 * security-restricted operation with a GUC nest level of its own, as
 * PostgreSQL's maintenance commands run a table owner's code: nothing it
 * runs can change or reset the role, create temporary objects that outlive
 * it, or leave settings behind.  The run log and catalog are written as the
 * extension's owner.  Internal SQL functions refuse to run outside a refresh
 * (and inside one, as any role but its owner).
 */
#ifndef SEGMENT_IDENTITY_H
#define SEGMENT_IDENTITY_H

#include "fmgr.h"

typedef struct IdentityContext
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			nest_level;
} IdentityContext;

/*
 * Runs as role, with search_path = pg_catalog, pg_temp, in a
 * security-restricted operation when restricted (not restricted only to
 * create what a restricted operation may not: temporary tables).
 */
extern void identity_enter(IdentityContext *cxt, Oid role, bool restricted);
/* Back to the saved identity; the settings changed since enter are undone. */
extern void identity_exit(IdentityContext *cxt);

/* The role that owns the extension (and its catalog tables). */
extern Oid	extension_owner(void);

/*
 * Internal functions may run for this owner's refresh until the returned
 * previous state is given back (refreshes nest: an owner's code may call
 * segment.refresh() on another of its segmentations).
 */
extern Oid	internal_calls_allow(Oid owner);
extern void internal_calls_restore(Oid previous);

/* Errors unless called by the refresh in progress, as its owner. */
extern void check_internal_call(FunctionCallInfo fcinfo);

#endif							/* SEGMENT_IDENTITY_H */
