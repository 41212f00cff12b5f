/*
 * Unit tests for the address map (--ip-map): parsing, refusals with their
 * messages, and applying it to IPv4, IPv6 and IPv4-mapped IPv6 addresses;
 * an IPv4-mapped address is its IPv4 address for comparing, mapping and
 * looking up on a host, and keeps its mapped form when mapped.
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

static struct ip_addr addr(const char *s)
{
	struct ip_addr a;
	if (ip_parse(s, &a) < 0)
		unit_check(0, __FILE__, __LINE__, "ip_parse(%s)", s);
	return a;
}

/* One interface address, as getifaddrs gives it. */
struct fake_if {
	struct ifaddrs ifa;
	struct sockaddr_storage ss;
};

static void fake_if(struct fake_if *f, const char *a, struct fake_if *next)
{
	struct ip_addr x = addr(a);
	memset(f, 0, sizeof(*f));
	ip_to_sockaddr(&x, 0, &f->ss);
	f->ifa.ifa_addr = (struct sockaddr *)&f->ss;
	f->ifa.ifa_next = next ? &next->ifa : NULL;
}

/* A dual-stack socket bound to ::ffff:A is an IPv4 socket on A. */
static void v4mapped(void)
{
	struct ipmap m = { .n = 0 };
	struct ip_addr a, b;
	char err[300], buf[64];
	int ch;

	unit_ctx = "v4mapped";
	a = addr("::ffff:10.99.0.1");
	CHECK(ip_is_v4mapped(&a));
	b = ip_unmap(&a);
	CHECK(b.family == AF_INET);
	CHECK_STR(ip_str(&b, buf, sizeof(buf)), "10.99.0.1");
	b = addr("fd99::1");
	CHECK(!ip_is_v4mapped(&b));
	CHECK(ip_equal((struct ip_addr[]){ ip_unmap(&b) }, &b));
	b = addr("10.99.0.1");
	CHECK(!ip_is_v4mapped(&b));

	/* comparing */
	CHECK(ip_equal(&a, &b) && ip_equal(&b, &a));
	b = addr("::ffff:10.99.0.1");
	CHECK(ip_equal(&a, &b));
	b = addr("::ffff:10.99.0.2");
	CHECK(!ip_equal(&a, &b));
	b = addr("10.99.0.2");
	CHECK(!ip_equal(&a, &b));
	b = addr("::10.99.0.1");	/* IPv4-compatible, not mapped: an IPv6 address */
	CHECK(!ip_equal(&a, &b));
	a = addr("::1");
	b = addr("127.0.0.1");
	CHECK(!ip_equal(&a, &b));
	a = addr("::ffff:0.0.0.0");
	CHECK(ip_is_any(&a));
	a = addr("::ffff:127.0.0.2");
	CHECK(ip_is_loopback(&a));

	/* the presence check: the host has 10.99.0.2 and fd99::2 */
	struct fake_if ifs[3];
	fake_if(&ifs[2], "fd99::2", NULL);
	fake_if(&ifs[1], "10.99.0.2", &ifs[2]);
	fake_if(&ifs[0], "127.0.0.1", &ifs[1]);
	a = addr("::ffff:10.99.0.2");
	CHECK(ip_on_host(&a, &ifs[0].ifa));
	a = addr("10.99.0.2");
	CHECK(ip_on_host(&a, &ifs[0].ifa));
	a = addr("fd99::2");
	CHECK(ip_on_host(&a, &ifs[0].ifa));
	a = addr("::ffff:10.99.0.1");
	CHECK(!ip_on_host(&a, &ifs[0].ifa));
	a = addr("10.99.0.1");
	CHECK(!ip_on_host(&a, &ifs[0].ifa));
	a = addr("fd99::1");
	CHECK(!ip_on_host(&a, &ifs[0].ifa));

	/* A=B moves ::ffff:A to ::ffff:B, in the mapped form */
	CHECK(ipmap_add(&m, "10.99.0.1=10.99.0.2", err, sizeof(err)) == 0);
	CHECK_STR(mapped(&m, "::ffff:10.99.0.1", &ch), "::ffff:10.99.0.2");
	CHECK(ch == 1);
	a = addr("::ffff:10.99.0.1");
	CHECK(ipmap_apply(&m, &a) == 1 && a.family == AF_INET6 && ip_is_v4mapped(&a));
	CHECK_STR(mapped(&m, "::ffff:10.99.0.3", &ch), "::ffff:10.99.0.3");
	CHECK(ch == 0);
	CHECK(ipmap_find(&m, (struct ip_addr[]){ addr("::ffff:10.99.0.1") }) == 0);
	CHECK(ipmap_find(&m, (struct ip_addr[]){ addr("10.99.0.1") }) == 0);
	CHECK(ipmap_find(&m, (struct ip_addr[]){ addr("10.99.0.2") }) < 0);

	/* ::ffff:A=::ffff:B is A=B: it applies to both forms */
	CHECK(ipmap_add(&m, "::ffff:10.88.0.1=::ffff:10.88.0.2", err, sizeof(err)) == 0);
	CHECK(m.n == 2 && m.e[1].from.family == AF_INET && m.e[1].to.family == AF_INET);
	CHECK_STR(mapped(&m, "::ffff:10.88.0.1", &ch), "::ffff:10.88.0.2");
	CHECK(ch == 1);
	CHECK_STR(mapped(&m, "10.88.0.1", &ch), "10.88.0.2");
	CHECK(ch == 1);
	/* and the mixed spelling is the same map */
	CHECK(ipmap_add(&m, "::ffff:10.66.0.1=10.66.0.2", err, sizeof(err)) == 0);
	CHECK_STR(mapped(&m, "::ffff:10.66.0.1", &ch), "::ffff:10.66.0.2");

	/* an IPv6 entry never applies to an IPv4-mapped address, nor the reverse */
	CHECK(ipmap_add(&m, "fd99::1=fd99::2", err, sizeof(err)) == 0);
	CHECK_STR(mapped(&m, "::ffff:10.77.7.7", &ch), "::ffff:10.77.7.7");
	CHECK(ch == 0);
	CHECK_STR(mapped(&m, "fd99::1", &ch), "fd99::2");

	/* refusals: a family change, a second map of the same IPv4 address, the wildcard */
	static const struct {
		const char *spec, *needle;
	} bad[] = {
		{ "::ffff:10.55.0.1=fd99::9", "both" },
		{ "fd99::9=::ffff:10.55.0.1", "both" },
		{ "10.55.0.1=fd99::9", "never changes" },
		{ "::ffff:10.99.0.1=::ffff:10.99.0.9", "twice" },
		{ "10.88.0.1=10.88.0.9", "twice" },
		{ "::ffff:0.0.0.0=10.55.0.1", "wildcard" },
		{ "10.55.0.1=::ffff:0.0.0.0", "wildcard" },
	};
	int n = m.n;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unit_ctx = bad[i].spec;
		err[0] = 0;
		CHECK(ipmap_add(&m, bad[i].spec, err, sizeof(err)) < 0);
		CHECK_HAS(err, bad[i].needle);
	}
	CHECK(m.n == n);
	unit_ctx = NULL;
}

/* --ip-map auto's choice: the case first, a dual-stack socket on
 * ::ffff:10.99.0.1 moving to a host with 10.99.0.2 and fd99::2 */
static void auto_pick(void)
{
	struct ip_addr both[] = { addr("10.99.0.2"), addr("fd99::2") };
	struct ip_addr v6only[] = { addr("fd99::2"), addr("fd98::2") };
	struct ip_addr two[] = { addr("10.98.0.2"), addr("fd99::2"), addr("10.99.0.2") };
	struct ip_addr to = { 0 }, from;
	char buf[64];

	unit_ctx = "auto";
	from = addr("::ffff:10.99.0.1");
	CHECK(ipmap_auto_pick(&from, 24, both, 2, &to) == AUTO_MAPPED);
	CHECK_STR(ip_str(&to, buf, sizeof(buf)), "10.99.0.2");
	CHECK(ipmap_auto_pick(&from, 0, both, 2, &to) == AUTO_MAPPED);	/* the only IPv4 one */
	CHECK_STR(ip_str(&to, buf, sizeof(buf)), "10.99.0.2");
	/* never to IPv6, even when it is the destination's only address */
	CHECK(ipmap_auto_pick(&from, 24, v6only, 1, &to) == AUTO_NO_FAMILY);
	CHECK(ipmap_auto_pick(&from, 24, v6only, 2, &to) == AUTO_NO_FAMILY);
	from = addr("10.99.0.1");
	CHECK(ipmap_auto_pick(&from, 24, v6only, 1, &to) == AUTO_NO_FAMILY);
	from = addr("fd99::1");
	struct ip_addr v4only[] = { addr("10.99.0.2"), addr("::ffff:10.99.0.3") };
	CHECK(ipmap_auto_pick(&from, 64, v4only, 2, &to) == AUTO_NO_FAMILY);
	CHECK(ipmap_auto_pick(&from, 64, both, 2, &to) == AUTO_MAPPED);
	CHECK_STR(ip_str(&to, buf, sizeof(buf)), "fd99::2");
	/* the subnet decides among several */
	from = addr("::ffff:10.99.0.1");
	CHECK(ipmap_auto_pick(&from, 24, two, 3, &to) == AUTO_MAPPED);
	CHECK_STR(ip_str(&to, buf, sizeof(buf)), "10.99.0.2");
	CHECK(ipmap_auto_pick(&from, 0, two, 3, &to) == AUTO_AMBIGUOUS);
	/* the destination has it (in either spelling): nothing to map */
	struct ip_addr has[] = { addr("fd99::2"), addr("10.99.0.1") };
	CHECK(ipmap_auto_pick(&from, 24, has, 2, &to) == AUTO_PRESENT);
	from = addr("10.99.0.1");
	CHECK(ipmap_auto_pick(&from, 24, has, 2, &to) == AUTO_PRESENT);

	/* and the map it makes keeps a dual-stack socket dual-stack */
	struct ipmap m = { .n = 0 };
	char err[200];
	from = addr("::ffff:10.99.0.1");
	CHECK(ipmap_auto_pick(&from, 24, both, 2, &to) == AUTO_MAPPED);
	char spec[128];
	int ch;
	snprintf(spec, sizeof(spec), "10.99.0.1=%s", ip_str(&to, buf, sizeof(buf)));
	CHECK(ipmap_add(&m, spec, err, sizeof(err)) == 0);
	CHECK_STR(mapped(&m, "::ffff:10.99.0.1", &ch), "::ffff:10.99.0.2");
	unit_ctx = NULL;
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
	v4mapped();
	auto_pick();
	return unit_done("unit-ipmap");
}
