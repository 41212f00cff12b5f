/*
 * Datagram queues and shutdown state of inet datagram sockets (udp.c).
 */
#ifndef FERRY_UDP_H
#define FERRY_UDP_H

#include <stdint.h>
#include <sys/types.h>

#include "ipmap.h"

struct dgram {
	struct ip_addr from;
	int port;		/* UDP: the sender's port; ping: 0 */
	uint32_t len;
	uint8_t *data;
};

/* Every datagram queued for reading on fd, with its sender, read with
 * MSG_PEEK from offset 0 (SO_PEEK_OFF, put back as it was): nothing is
 * consumed.  Returns the count (>= 0, *out allocated), -1 with errno, or
 * -2 when a datagram is larger than ferry reads. */
int dgram_peek_all(int fd, struct dgram **out);
void dgram_free(struct dgram *d, int n);

/* Hands the socket fd (protocol proto: UDP, UDP-Lite, ICMP or ICMPv6
 * echo) bound to (to, tport) its datagrams again, each from its sender,
 * and waits until they are all queued.  0, or -1 with errno. */
int dgram_deliver(int fd, int proto, const struct ip_addr *to, int tport, const struct dgram *d, int n);

/* sk_shutdown (RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2) of the socket with inode
 * ino, of family and protocol, in pid's network namespace (sock_diag: a
 * datagram socket's write shutdown shows nowhere else).  -1 if not found. */
int inet_diag_shutdown(pid_t pid, int family, int proto, unsigned long ino);

#endif
