/* vamap: page address -> u64 map (open addressing, linear probing).
 *
 * Pre-copy keeps one entry per page sent, on both ends: the source maps a
 * page to the frame it had when sent, the destination maps it to where its
 * bytes sit in the pre-copy file. Millions of pages make a general-purpose
 * map too slow and too fat; this one is two flat arrays. Key 0 marks an
 * empty slot, which is safe because page 0 is never mapped (mmap_min_addr). */
#ifndef FERRY_VAMAP_H
#define FERRY_VAMAP_H

#include <stdbool.h>
#include <stdint.h>

struct vamap {
	uint64_t *key, *val;
	uint64_t nslots, used;
};

/* Insert or overwrite. va must not be 0. */
void vamap_put(struct vamap *m, uint64_t va, uint64_t val);
/* True and *val set if va is present. */
bool vamap_get(const struct vamap *m, uint64_t va, uint64_t *val);
void vamap_free(struct vamap *m);

#endif
