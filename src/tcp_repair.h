/*
 * Helpers for TCP repair beyond ESTABLISHED (tcp_repair.c).
 */
#ifndef FERRY_TCP_REPAIR_H
#define FERRY_TCP_REPAIR_H

#include <stdint.h>

#include "ipmap.h"

/* The peer's FIN of a connection restored in repair mode: a FIN|ACK from
 * (peer, pport) to (local, lport) with sequence seq, acknowledging ack and
 * advertising window win (already scaled down), sent through a raw socket
 * to this host, where the socket takes it as its peer's.  Returns 0 or -1
 * with errno set. */
int tcp_inject_fin(const struct ip_addr *peer, int pport, const struct ip_addr *local, int lport, uint32_t seq,
		   uint32_t ack, uint16_t win);

/* Hands the host a packet from `from` to `to` with protocol proto whose
 * header and payload are l4 (len bytes; its checksum, at csum_off, is
 * filled in here), through a raw socket.  0, or -1 with errno. */
int ip_inject(int proto, const struct ip_addr *from, const struct ip_addr *to, uint8_t *l4, size_t len, int csum_off);

/* The remote end of a TCP socket from /proc/PID/net/tcp{,6}, by inode:
 * getpeername() refuses a socket still in SYN_SENT.  0 if found. */
int tcp_proc_peer(pid_t pid, int family, unsigned long ino, struct ip_addr *raddr, int *rport);
/* The same from /proc/PID/net/TABLE ("icmp", "icmp6", "udp", ...: the
 * tables share tcp's first columns). */
int inet_proc_peer(pid_t pid, const char *table, int family, unsigned long ino, struct ip_addr *raddr, int *rport);

#endif
