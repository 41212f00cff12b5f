/*
 * HOST:PORT arguments (migrate --to, serve --listen): HOST is a host name,
 * an IPv4 address, or an IPv6 address in brackets ("[fd00::2]:7777").  Names
 * are resolved with getaddrinfo (so /etc/hosts, DNS, whatever nsswitch.conf
 * says), and the caller tries every address it gets, in the order given.
 * Only TCP over IPv4/IPv6.
 */
#ifndef FERRY_HOSTPORT_H
#define FERRY_HOSTPORT_H

#include <netdb.h>
#include <stddef.h>

#define HOSTPORT_SYNTAX  (-2)	/* not HOST:PORT at all: a usage error */
#define HOSTPORT_RESOLVE (-1)	/* well formed, but the name did not resolve */

/* Resolves s into *out (free it with freeaddrinfo); passive: for bind
 * rather than connect.  On error returns HOSTPORT_SYNTAX or HOSTPORT_RESOLVE
 * with a one-line reason in err. */
int hostport_resolve(const char *s, int passive, struct addrinfo **out, char *err, size_t len);
/* "ADDR:PORT" (IPv6 in brackets) of one resolved address. */
void hostport_str(const struct addrinfo *ai, char *buf, size_t len);

#endif
