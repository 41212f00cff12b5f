/* vamap: see vamap.h. */
#include <stdlib.h>

#include "util.h"
#include "vamap.h"

static uint64_t slot_of(const struct vamap *m, uint64_t va)
{
	return ((va >> 12) * 0x9e3779b97f4a7c15ULL) & (m->nslots - 1);
}

void vamap_put(struct vamap *m, uint64_t va, uint64_t val)
{
	uint64_t s;

	/* Keep the load at most one half so probe runs stay short. */
	if (m->used * 2 >= m->nslots) {
		struct vamap old = *m;
		m->nslots = old.nslots ? old.nslots * 2 : 4096;
		m->key = xzalloc(m->nslots * sizeof(uint64_t));
		m->val = xzalloc(m->nslots * sizeof(uint64_t));
		m->used = 0;
		for (uint64_t i = 0; i < old.nslots; i++)
			if (old.key[i])
				vamap_put(m, old.key[i], old.val[i]);
		vamap_free(&old);
	}
	for (s = slot_of(m, va); m->key[s] && m->key[s] != va; s = (s + 1) & (m->nslots - 1))
		;
	if (!m->key[s])
		m->used++;
	m->key[s] = va;
	m->val[s] = val;
}

bool vamap_get(const struct vamap *m, uint64_t va, uint64_t *val)
{
	if (!m->nslots)
		return false;
	for (uint64_t s = slot_of(m, va); m->key[s]; s = (s + 1) & (m->nslots - 1))
		if (m->key[s] == va) {
			*val = m->val[s];
			return true;
		}
	return false;
}

void vamap_free(struct vamap *m)
{
	free(m->key);
	free(m->val);
	m->key = m->val = NULL;
	m->nslots = m->used = 0;
}
