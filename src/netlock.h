/*
 * The network lock: nftables rules that keep preserved TCP connections
 * silent between the dump and the restore that brings them back.
 */
#ifndef FERRY_NETLOCK_H
#define FERRY_NETLOCK_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipmap.h"

struct conn {
	struct ip_addr laddr, raddr;
	int lport, rport;
};

struct netlock {
	int installed;
	char table[64];
	uint64_t netns_dev, netns_ino;	/* the network namespace it lives in */
};

/* Drops every packet of the connections in pid's network namespace. */
int netlock_install(struct netlock *l, pid_t pid, const struct conn *c, int n);
/* Lifts it, wherever its namespace is now (ferry's own, /run/netns/...,
 * or any process's); 0 if there is nothing to lift. */
int netlock_remove(struct netlock *l);
json_t *netlock_encode(const struct netlock *l);
int netlock_decode(json_t *j, struct netlock *l);

#endif
