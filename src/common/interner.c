/*
 * interner.c -- strings numbered in the order first seen (see interner.h).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "common/interner.h"

typedef struct InternedName
{
	char		name[INTERNED_BYTES];
	int32		id;
} InternedName;

#define FEW_NAMES 16

void
interner_init(Interner *in, const char *what)
{
	HASHCTL		ctl;

	in->what = what;
	in->cxt = CurrentMemoryContext;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = INTERNED_BYTES;
	ctl.entrysize = sizeof(InternedName);
	ctl.hcxt = CurrentMemoryContext;
	in->table = hash_create(what, 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	in->capacity = 64;
	in->count = 0;
	in->names = palloc(sizeof(char *) * in->capacity);
	in->lengths = palloc(sizeof(int32) * in->capacity);
}

int32
interner_id(Interner *in, const char *name, int len)
{
	char		key[INTERNED_BYTES];
	InternedName *e;
	bool		found;

	if (len > INTERNED_BYTES - 1)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name \"%.40s...\" is longer than %d bytes", in->what, name, INTERNED_BYTES - 1),
				 errdetail("Attribution keeps channel and segment names of up to %d bytes.", INTERNED_BYTES - 1),
				 errhint("Shorten the names, for example with a view over the source that cuts them.")));
	/* a few names (channels, segments) are the common case: compare them
	 * directly rather than pad and hash the key */
	if (in->count <= FEW_NAMES)
		for (int32 i = 0; i < in->count; i++)
			if (in->lengths[i] == len && memcmp(in->names[i], name, len) == 0)
				return i;
	memset(key, 0, sizeof(key));
	memcpy(key, name, len);
	e = hash_search(in->table, key, HASH_ENTER, &found);
	if (!found)
	{
		if (in->count == in->capacity)
		{
			in->capacity *= 2;
			in->names = repalloc(in->names, sizeof(char *) * in->capacity);
			in->lengths = repalloc(in->lengths, sizeof(int32) * in->capacity);
		}
		e->id = in->count;
		in->lengths[in->count] = len;
		in->names[in->count++] = MemoryContextStrdup(in->cxt, key);
	}
	return e->id;
}
