/*
 * large_alloc.h -- zeroed arrays of hundreds of megabytes (the facts hash
 * tables) in a memory context, on transparent huge pages where the kernel
 * offers them on request.
 */
#ifndef SEGMENT_LARGE_ALLOC_H
#define SEGMENT_LARGE_ALLOC_H

#include "postgres.h"

extern void *large_alloc_zero(MemoryContext cxt, Size size);

#endif
