/*
 * The address map (--ip-map OLD=NEW): which local addresses become which at
 * restore, for IPv4 and IPv6.  Pure logic, unit-tested.  IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) follow the IPv4 entries.
 */
#ifndef FERRY_IPMAP_H
#define FERRY_IPMAP_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

struct ip_addr {
	int family;	/* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

struct ipmap {
	struct {
		struct ip_addr from, to;
	} e[64];
	int n;
};

/* Parses "OLD=NEW"; on error returns -1 with a message in err. */
int ipmap_add(struct ipmap *m, const char *spec, char *err, size_t errlen);
/* Maps addr in place; returns 1 if it changed. */
int ipmap_apply(const struct ipmap *m, struct ip_addr *addr);

int ip_parse(const char *s, struct ip_addr *a);
const char *ip_str(const struct ip_addr *a, char *buf, size_t len);
int ip_equal(const struct ip_addr *a, const struct ip_addr *b);
int ip_is_any(const struct ip_addr *a);
int ip_is_loopback(const struct ip_addr *a);
/* sockaddr <-> ip_addr + port */
/* sa: a struct sockaddr_in or sockaddr_in6, aligned or not */
void ip_from_sockaddr(const void *sa, struct ip_addr *a, int *port);
socklen_t ip_to_sockaddr(const struct ip_addr *a, int port, struct sockaddr_storage *ss);

#endif
