/*
 * HOST:PORT parsing and resolution (see hostport.h).  The port is numeric
 * only: a service name would make "host:http" mean different things on
 * different hosts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hostport.h"
#include "ipmap.h"

int hostport_resolve(const char *s, int passive, struct addrinfo **out, char *err, size_t len)
{
	struct addrinfo hints = { 0 };
	const char *colon = strrchr(s, ':');
	char host[256], *end;
	long port;
	size_t hl;
	int r;

	*out = NULL;
	if (!colon || colon == s || !colon[1]) {
		snprintf(err, len, "'%s' is not HOST:PORT (e.g. 10.0.0.2:7777, [fd00::2]:7777 or host.example:7777)", s);
		return HOSTPORT_SYNTAX;
	}
	hl = colon - s;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if (s[0] == '[') {
		if (colon[-1] != ']' || hl < 3) {
			snprintf(err, len, "'%s' is not HOST:PORT (an IPv6 address goes in brackets: [fd00::2]:7777)", s);
			return HOSTPORT_SYNTAX;
		}
		s++;
		hl -= 2;
		hints.ai_flags |= AI_NUMERICHOST;
		hints.ai_family = AF_INET6;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, len, "the host in '%.64s...' is too long", s);
		return HOSTPORT_SYNTAX;
	}
	memcpy(host, s, hl);
	host[hl] = 0;
	/* an unbracketed IPv6 address ("fd00::2:7777") was taken before names
	 * were: it still is, and only as a number */
	if (strchr(host, ':'))
		hints.ai_flags |= AI_NUMERICHOST;
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535) {
		snprintf(err, len, "bad port '%s' in '%s' (1 to 65535)", colon + 1, s);
		return HOSTPORT_SYNTAX;
	}
	hints.ai_flags |= AI_NUMERICSERV;
	r = getaddrinfo(host, colon + 1, &hints, out);
	if (r) {
		*out = NULL;
		if (hints.ai_flags & AI_NUMERICHOST) {
			snprintf(err, len, "'%s' is not an IP address", host);
			return HOSTPORT_SYNTAX;
		}
		snprintf(err, len, "cannot resolve host name '%s': %s", host, r == EAI_SYSTEM ? "system error" : gai_strerror(r));
		return HOSTPORT_RESOLVE;
	}
	return 0;
}

void hostport_str(const struct addrinfo *ai, char *buf, size_t len)
{
	struct ip_addr a;
	char b[64];
	int port;
	if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
		snprintf(buf, len, "?");
		return;
	}
	ip_from_sockaddr(ai->ai_addr, &a, &port);
	snprintf(buf, len, a.family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip_str(&a, b, sizeof(b)), port);
}
