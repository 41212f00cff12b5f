/*
 * Address map and small address helpers (see ipmap.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "ipmap.h"

int ip_parse(const char *s, struct ip_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!s)	/* json_string_value of what a peer sent that is no string */
		return -1;
	if (inet_pton(AF_INET, s, &a->v4) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->v6) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	return -1;
}

const char *ip_str(const struct ip_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int ip_is_v4mapped(const struct ip_addr *a)
{
	return a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->v6);
}

struct ip_addr ip_unmap(const struct ip_addr *a)
{
	struct ip_addr v4 = { .family = AF_INET };
	if (!ip_is_v4mapped(a))
		return *a;
	memcpy(&v4.v4, &a->v6.s6_addr[12], 4);
	return v4;
}

int ip_equal(const struct ip_addr *a, const struct ip_addr *b)
{
	struct ip_addr x = ip_unmap(a), y = ip_unmap(b);
	if (x.family != y.family)
		return 0;
	return x.family == AF_INET ? x.v4.s_addr == y.v4.s_addr : !memcmp(&x.v6, &y.v6, sizeof(x.v6));
}

int ip_is_any(const struct ip_addr *a)
{
	struct ip_addr x = ip_unmap(a);
	return x.family == AF_INET ? x.v4.s_addr == htonl(INADDR_ANY) : IN6_IS_ADDR_UNSPECIFIED(&x.v6);
}

int ip_is_loopback(const struct ip_addr *a)
{
	struct ip_addr x = ip_unmap(a);
	if (x.family == AF_INET)
		return (ntohl(x.v4.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&x.v6);
}

int ip_on_host(const struct ip_addr *a, const struct ifaddrs *ifs)
{
	for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		struct ip_addr x;
		int port;
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		ip_from_sockaddr(i->ifa_addr, &x, &port);
		if (ip_equal(&x, a))
			return 1;
	}
	return 0;
}

int ipmap_add(struct ipmap *m, const char *spec, char *err, size_t errlen)
{
	char old[64], new[64];
	const char *eq = spec ? strchr(spec, '=') : NULL;
	struct ip_addr from, to;
	if (!spec)
		spec = "(not a string)";
	if (!eq || eq == spec || !eq[1] || (size_t)(eq - spec) >= sizeof(old) || strlen(eq + 1) >= sizeof(new)) {
		snprintf(err, errlen, "--ip-map wants OLD=NEW (e.g. 10.0.0.1=10.0.0.2), not '%s'", spec);
		return -1;
	}
	memcpy(old, spec, eq - spec);
	old[eq - spec] = 0;
	strcpy(new, eq + 1);
	if (ip_parse(old, &from) < 0) {
		snprintf(err, errlen, "--ip-map %s: '%s' is not an IPv4 or IPv6 address", spec, old);
		return -1;
	}
	if (ip_parse(new, &to) < 0) {
		snprintf(err, errlen, "--ip-map %s: '%s' is not an IPv4 or IPv6 address", spec, new);
		return -1;
	}
	/* ::ffff:A=::ffff:B is A=B: it then applies to IPv4 sockets too */
	from = ip_unmap(&from);
	to = ip_unmap(&to);
	if (from.family != to.family) {
		snprintf(err, errlen, "--ip-map %s: both addresses must be IPv4 or both IPv6 (::ffff:a.b.c.d is IPv4 a.b.c.d); "
			 "a socket never changes address family", spec);
		return -1;
	}
	if (ip_is_any(&from) || ip_is_any(&to)) {
		snprintf(err, errlen, "--ip-map %s: the wildcard address cannot be mapped", spec);
		return -1;
	}
	if (ipmap_find(m, &from) >= 0) {
		snprintf(err, errlen, "--ip-map %s: %s is mapped twice", spec, old);
		return -1;
	}
	if (m->n == (int)(sizeof(m->e) / sizeof(m->e[0]))) {
		snprintf(err, errlen, "--ip-map: too many maps");
		return -1;
	}
	m->e[m->n].from = from;
	m->e[m->n].to = to;
	m->n++;
	return 0;
}

int ipmap_find(const struct ipmap *m, const struct ip_addr *a)
{
	for (int i = 0; i < m->n; i++)
		if (ip_equal(&m->e[i].from, a))
			return i;
	return -1;
}

int ipmap_apply(const struct ipmap *m, struct ip_addr *a)
{
	int i = ipmap_find(m, a);
	if (i < 0)
		return 0;
	if (ip_is_v4mapped(a))	/* entries are unmapped, so the target is IPv4 too */
		memcpy(&a->v6.s6_addr[12], &m->e[i].to.v4, 4);
	else
		*a = m->e[i].to;
	return 1;
}

static int same_subnet(const struct ip_addr *a, const struct ip_addr *b, int prefix)
{
	const uint8_t *x = a->family == AF_INET ? (const uint8_t *)&a->v4 : a->v6.s6_addr;
	const uint8_t *y = b->family == AF_INET ? (const uint8_t *)&b->v4 : b->v6.s6_addr;
	if (a->family != b->family || prefix > (a->family == AF_INET ? 32 : 128))
		return 0;
	for (int bit = 0; bit < prefix; bit++)
		if ((x[bit / 8] ^ y[bit / 8]) & (0x80 >> (bit % 8)))
			return 0;
	return 1;
}

int ipmap_auto_pick(const struct ip_addr *from, int prefix, const struct ip_addr *dst, int n, struct ip_addr *to)
{
	struct ip_addr f = ip_unmap(from);
	int found = 0, same_family = 0;
	for (int i = 0; i < n; i++) {
		struct ip_addr x = ip_unmap(&dst[i]);
		if (x.family != f.family)
			continue;
		if (ip_equal(&x, &f))
			return AUTO_PRESENT;
		if (prefix && !found && same_subnet(&x, &f, prefix)) {
			*to = x;
			found = 1;
		}
		if (!same_family++ && !found)
			*to = x;
	}
	if (found)
		return AUTO_MAPPED;
	return !same_family ? AUTO_NO_FAMILY : same_family == 1 ? AUTO_MAPPED : AUTO_AMBIGUOUS;
}

void ip_from_sockaddr(const void *sa, struct ip_addr *a, int *port)
{
	sa_family_t fam;
	/* memcpy: a sockaddr from getifaddrs is not aligned like sockaddr_storage */
	memcpy(&fam, sa, sizeof(fam));
	memset(a, 0, sizeof(*a));
	a->family = fam;
	if (fam == AF_INET) {
		struct sockaddr_in s;
		memcpy(&s, sa, sizeof(s));
		a->v4 = s.sin_addr;
		*port = ntohs(s.sin_port);
	} else {
		struct sockaddr_in6 s;
		memcpy(&s, sa, sizeof(s));
		a->v6 = s.sin6_addr;
		*port = ntohs(s.sin6_port);
	}
}

socklen_t ip_to_sockaddr(const struct ip_addr *a, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (void *)ss;
		s->sin_family = AF_INET;
		s->sin_addr = a->v4;
		s->sin_port = htons(port);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (void *)ss;
		s->sin6_family = AF_INET6;
		s->sin6_addr = a->v6;
		s->sin6_port = htons(port);
		return sizeof(*s);
	}
}
