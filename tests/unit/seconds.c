/*
 * Unit tests for parse_seconds (--drain-timeout): decimals and 0 are
 * durations; negative, empty, trailing junk, NaN, infinity and more than a
 * day are not, and leave the output untouched.
 */
#include "unit.h"
#include "util.h"

int main(void)
{
	double v = -7;
	CHECK(parse_seconds("2", &v) == 0 && v == 2);
	CHECK(parse_seconds("0", &v) == 0 && v == 0);
	CHECK(parse_seconds("0.25", &v) == 0 && v == 0.25);
	CHECK(parse_seconds("86400", &v) == 0 && v == 86400);
	v = -7;
	const char *bad[] = { "", "-1", "-0.5", "2s", "abc", " ", "nan", "inf", "86400.5", "1e400", "0x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unit_ctx = bad[i];
		CHECK(parse_seconds(bad[i], &v) < 0);
		CHECK(v == -7);
	}
	return unit_done("unit-seconds");
}
