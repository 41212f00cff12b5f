/*
 * Unit tests for the address map (--ip-map): parsing, refusals with their
 * messages, and applying it to IPv4, IPv6 and IPv4-mapped IPv6 addresses.
 */
#include <arpa/inet.h>

#include "ipmap.h"
#include "unit.h"

static const char *mapped(const struct ipmap *m, const char *in, int *changed)
{
	static char buf[64];
	struct ip_addr a;
	if (ip_parse(in, &a) < 0)
		return "(unparsable)";
	*changed = ipmap_apply(m, &a);
	return ip_str(&a, buf, sizeof(buf));
}

int main(void)
{
	struct ipmap m = { .n = 0 };
	char err[300];
	int ch;

	CHECK(ipmap_add(&m, "10.77.0.1=10.77.0.2", err, sizeof(err)) == 0);
	CHECK(ipmap_add(&m, "fd77::1=fd77::2", err, sizeof(err)) == 0);
	CHECK(m.n == 2);

	CHECK_STR(mapped(&m, "10.77.0.1", &ch), "10.77.0.2");
	CHECK(ch == 1);
	CHECK_STR(mapped(&m, "10.77.0.3", &ch), "10.77.0.3");
	CHECK(ch == 0);
	CHECK_STR(mapped(&m, "fd77::1", &ch), "fd77::2");
	CHECK(ch == 1);
	CHECK_STR(mapped(&m, "fd77:0:0:0:0:0:0:1", &ch), "fd77::2");
	CHECK_STR(mapped(&m, "::ffff:10.77.0.1", &ch), "::ffff:10.77.0.2");
	CHECK(ch == 1);
	CHECK_STR(mapped(&m, "0.0.0.0", &ch), "0.0.0.0");
	CHECK(ch == 0);
	CHECK_STR(mapped(&m, "::", &ch), "::");

	/* refusals, each with a message that says what is wrong */
	static const struct {
		const char *spec, *needle;
	} bad[] = {
		{ "10.77.0.1", "OLD=NEW" },
		{ "=10.77.0.2", "OLD=NEW" },
		{ "10.77.0.1=", "OLD=NEW" },
		{ "10.77.0.1=banana", "banana" },
		{ "banana=10.77.0.1", "banana" },
		{ "10.77.0.9=fd77::2", "both" },
		{ "fd77::9=10.0.0.1", "both" },
		{ "0.0.0.0=10.0.0.1", "wildcard" },
		{ "10.77.0.1=10.77.0.5", "twice" },
		{ "10.77.0.1.5=10.0.0.1", "10.77.0.1.5" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unit_ctx = bad[i].spec;
		err[0] = 0;
		CHECK(ipmap_add(&m, bad[i].spec, err, sizeof(err)) < 0);
		CHECK_HAS(err, bad[i].needle);
	}
	unit_ctx = NULL;
	CHECK(m.n == 2);

	/* helpers */
	struct ip_addr a, b;
	struct sockaddr_storage ss;
	int port;
	CHECK(ip_parse("127.0.0.5", &a) == 0 && ip_is_loopback(&a));
	CHECK(ip_parse("::1", &a) == 0 && ip_is_loopback(&a));
	CHECK(ip_parse("::ffff:127.0.0.1", &a) == 0 && ip_is_loopback(&a));
	CHECK(ip_parse("10.0.0.1", &a) == 0 && !ip_is_loopback(&a) && !ip_is_any(&a));
	CHECK(ip_parse("fd77::2", &a) == 0);
	ip_to_sockaddr(&a, 7001, &ss);
	ip_from_sockaddr(&ss, &b, &port);
	CHECK(ip_equal(&a, &b) && port == 7001);
	CHECK(ip_parse("10.1.2.3", &a) == 0);
	ip_to_sockaddr(&a, 65535, &ss);
	ip_from_sockaddr(&ss, &b, &port);
	CHECK(ip_equal(&a, &b) && port == 65535);
	CHECK(ip_parse("not-an-address", &a) < 0);
	return unit_done("unit-ipmap");
}
