/*
 * Unit tests for the page-address map pre-copy uses on both ends: lookups
 * across growth (rehashing must keep every entry), overwrites that must not
 * count twice, colliding keys, and an empty map.
 */
#include "vamap.h"
#include "unit.h"

int main(void)
{
	struct vamap m = { 0 };
	uint64_t v = 0;
	const uint64_t n = 100000;
	int all = 1;

	CHECK(!vamap_get(&m, 0x1000, &v));

	/* Enough pages to force several doublings from the initial size. */
	for (uint64_t i = 1; i <= n; i++)
		vamap_put(&m, i << 12, i * 7);
	CHECK(m.used == n);
	CHECK(m.used * 2 <= m.nslots);
	for (uint64_t i = 1; i <= n; i++)
		if (!vamap_get(&m, i << 12, &v) || v != i * 7)
			all = 0;
	CHECK(all);
	CHECK(!vamap_get(&m, (n + 1) << 12, &v));
	CHECK(!vamap_get(&m, 0x7fff00001000ULL, &v));

	/* A page sent again replaces its entry; the count stays. */
	vamap_put(&m, 5 << 12, 42);
	CHECK(vamap_get(&m, 5 << 12, &v) && v == 42);
	CHECK(m.used == n);

	/* Keys that differ only above the table's index bits share a home slot. */
	struct vamap c = { 0 };
	uint64_t step = (uint64_t)1 << 40;
	for (uint64_t i = 1; i <= 64; i++)
		vamap_put(&c, i * step, i);
	all = 1;
	for (uint64_t i = 1; i <= 64; i++)
		if (!vamap_get(&c, i * step, &v) || v != i)
			all = 0;
	CHECK(all);

	vamap_free(&m);
	vamap_free(&c);
	CHECK(m.nslots == 0 && !vamap_get(&m, 0x1000, &v));
	return unit_done("unit-vamap");
}
