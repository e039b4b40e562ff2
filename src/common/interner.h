/*
 * interner.h -- strings numbered 0, 1, 2... in the order first seen, so that
 * per-touch work compares and hashes small integers (channel and segment
 * names of the attribution).  Names are kept up to 255 bytes.
 */
#ifndef SEGMENT_INTERNER_H
#define SEGMENT_INTERNER_H

#include "postgres.h"

#include "utils/hsearch.h"

#define INTERNED_BYTES 256

typedef struct Interner
{
	const char *what;			/* "channel", "segment": for error messages */
	MemoryContext cxt;
	HTAB	   *table;
	char	  **names;			/* id -> name */
	int32	   *lengths;		/* id -> strlen(name) */
	int32		count;
	int32		capacity;
} Interner;

/* An empty interner of names of what ("channel") in the current memory context. */
extern void interner_init(Interner *in, const char *what);

/* The number of a string of len bytes, new if not seen before; an error
 * past INTERNED_BYTES - 1 bytes. */
extern int32 interner_id(Interner *in, const char *name, int len);

#endif							/* SEGMENT_INTERNER_H */
