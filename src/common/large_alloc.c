/*
 * large_alloc.c -- zeroed arrays of hundreds of megabytes in a memory context.
 *
 * Zeroing a freshly mapped array faults in every 4 kB page; on a virtual
 * machine each fault is an exit to the hypervisor, and a 200 MB hash table
 * took 0.8 s to allocate that way, most of an incremental refresh's reading.
 * Kernels that give huge pages only on request (transparent_hugepage =
 * madvise, Debian's default) are asked for them for the array's whole 2 MB
 * pages before it is zeroed: 512 times fewer faults.  The memory stays the
 * context's, counted and freed with it.
 */
#include "postgres.h"

#include <sys/mman.h>

#include "common/large_alloc.h"

#define HUGE_PAGE_BYTES ((uintptr_t) 2 * 1024 * 1024)

void *
large_alloc_zero(MemoryContext cxt, Size size)
{
	char	   *p = MemoryContextAllocExtended(cxt, size, MCXT_ALLOC_HUGE);

#ifdef MADV_HUGEPAGE
	if (size >= 4 * HUGE_PAGE_BYTES)
	{
		uintptr_t	start = TYPEALIGN(HUGE_PAGE_BYTES, (uintptr_t) p);
		uintptr_t	end = TYPEALIGN_DOWN(HUGE_PAGE_BYTES, (uintptr_t) p + size);

		/* a refusal (no THP in this kernel) only costs the faults */
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
	}
#endif
	memset(p, 0, size);
	return p;
}
