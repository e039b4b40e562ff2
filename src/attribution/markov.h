/*
 * markov.h -- the Markov attribution model built in C, for the refresh's
 * attribution by segment (markov.c has the SQL type and aggregate).
 */
#ifndef SEGMENT_MARKOV_H
#define SEGMENT_MARKOV_H

#include "postgres.h"

struct MarkovModel;

typedef struct MarkovBuilder
{
	MemoryContext cxt;
	struct MarkovModel *model;
	int32	   *index_of;		/* the caller's channel id -> model index, -1: not yet */
	int32		capacity;
} MarkovBuilder;

extern MarkovBuilder *markov_builder_create(MemoryContext cxt);

/*
 * Adds a path of n channels (the caller's dense ids; names[id] their names)
 * ending in conversion or null; repeats collapse, an empty path is ignored.
 */
extern void markov_builder_add(MarkovBuilder *b, const int32 *ids, const char *const *names, int n,
							   bool converted);

/*
 * The channels and their attribution shares (removal effects normalized to
 * sum to 1); returns the number of channels, 0 when nothing converts.
 */
extern int32 markov_builder_shares(MarkovBuilder *b, const char ***channels, float8 **shares);

#endif							/* SEGMENT_MARKOV_H */
