/*
 * The address map (--ip-map OLD=NEW): which local addresses become which at
 * restore, for IPv4 and IPv6.  Pure logic, unit-tested.
 *
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack AF_INET6
 * socket shows for IPv4 traffic: every JVM server) is its IPv4 address for
 * every purpose: comparing, looking up on a host, mapping.  ip_unmap is the
 * one place that says so; ip_equal, ip_is_any, ip_on_host, ipmap_add and
 * ipmap_apply go through it, and ipmap_apply gives a mapped address back in
 * the mapped form, so a socket never changes family.
 */
#ifndef FERRY_IPMAP_H
#define FERRY_IPMAP_H

#include <ifaddrs.h>
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

/* Parses "OLD=NEW" (entries are kept unmapped: ::ffff:A=::ffff:B is A=B);
 * on error returns -1 with a message in err. */
int ipmap_add(struct ipmap *m, const char *spec, char *err, size_t errlen);
/* The entry that maps addr (or its IPv4 address), or -1. */
int ipmap_find(const struct ipmap *m, const struct ip_addr *addr);
/* Maps addr in place, keeping its form (a mapped address stays mapped);
 * returns 1 if an entry applied. */
int ipmap_apply(const struct ipmap *m, struct ip_addr *addr);

/* --ip-map auto's choice for a source address `from` (on a subnet of
 * `prefix` bits at the source, 0 if unknown) among the destination's
 * addresses: the one on the same subnet, else the only one of from's family
 * (IPv4-mapped addresses count as IPv4 on both sides).  Returns AUTO_MAPPED
 * with *to set, AUTO_PRESENT (the destination has from itself),
 * AUTO_NO_FAMILY (no address of that family: a mapping never changes it) or
 * AUTO_AMBIGUOUS. */
enum { AUTO_MAPPED, AUTO_PRESENT, AUTO_NO_FAMILY, AUTO_AMBIGUOUS };
int ipmap_auto_pick(const struct ip_addr *from, int prefix, const struct ip_addr *dst, int n, struct ip_addr *to);

/* The IPv4 address of an IPv4-mapped one; any other address as it is. */
struct ip_addr ip_unmap(const struct ip_addr *a);
int ip_is_v4mapped(const struct ip_addr *a);
/* Whether one of the interfaces in ifs has address a (IPv4-mapped: its IPv4). */
int ip_on_host(const struct ip_addr *a, const struct ifaddrs *ifs);

int ip_parse(const char *s, struct ip_addr *a);
const char *ip_str(const struct ip_addr *a, char *buf, size_t len);
/* Equal as addresses on the wire: ::ffff:A equals A. */
int ip_equal(const struct ip_addr *a, const struct ip_addr *b);
int ip_is_any(const struct ip_addr *a);
int ip_is_loopback(const struct ip_addr *a);
/* sockaddr <-> ip_addr + port */
/* sa: a struct sockaddr_in or sockaddr_in6, aligned or not */
void ip_from_sockaddr(const void *sa, struct ip_addr *a, int *port);
socklen_t ip_to_sockaddr(const struct ip_addr *a, int port, struct sockaddr_storage *ss);

#endif
