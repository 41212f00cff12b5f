/*
 * evilpeer: a peer of `ferry serve` / `ferry migrate` that holds the key but
 * breaks the protocol on purpose, for tests/net/serve_security.sh.  It speaks
 * through ferry's own channel (src/core/chan.c); the frame types below are
 * those of src/cmd/migrate.c, src/core/image.h and src/precopy.h.
 *
 *   evilpeer client ADDR:PORT KEY MODE [ARGS]   (after an ok pre-flight verdict)
 *     fdleak            a file begins twice without an end
 *     manifest          a manifest naming ../../../etc/hostname, then IMAGE_END
 *     counts            one pre-copied page, then a premap claiming 2^62 pages
 *     big BYTES         one file of BYTES bytes
 *     sendimg DIR NAME  every file of the image DIR plus a file NAME, IMAGE_END,
 *                       then hangs up without waiting for the result
 *   evilpeer server ADDR:PORT KEY               answers ALIVE forever after the
 *                                               pre-flight, never a verdict
 * Prints what the other side answered (RESULT ..., GAVEUP ..., or CLOSED ...).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "util.h"

enum { F_INFO = 2, F_PREFLIGHT, F_VERDICT, F_IMAGE_END = 10, F_RESULT, F_DONE, F_ABORT, F_ALIVE, F_HELLO };
enum { IMG_F_BEGIN = 3, IMG_F_DATA = 4, IMG_F_END = 5, PRE_F_PAGES = 20 };

static struct chan ch;

static void die(const char *what)
{
	printf("CLOSED %s: %s\n", what, fail_msg() ? fail_msg() : "?");
	exit(0);
}

static void sendf(uint8_t type, const void *buf, size_t len)
{
	if (chan_send(&ch, type, buf, len, 0) < 0)
		die("send");
}

static void sends(uint8_t type, const char *s)
{
	sendf(type, s, strlen(s));
}

/* The next frame that is not ALIVE; prints and exits on RESULT/ABORT unless want. */
static char *recv_until(uint8_t want)
{
	uint8_t type;
	void *buf;
	size_t len;
	for (;;) {
		if (chan_recv(&ch, &type, &buf, &len) < 0)
			die("recv");
		if (type == F_ALIVE) {
			free(buf);
			continue;
		}
		if (type == want)
			return buf;
		printf("%s %s\n", type == F_RESULT ? "RESULT" : type == F_ABORT ? "GAVEUP" : "OTHER", (char *)buf);
		exit(0);
	}
}

static void send_file(const char *name, const void *data, size_t len)
{
	sendf(IMG_F_BEGIN, name, strlen(name) + 1);
	for (size_t off = 0; off < len; off += 256 << 10)
		sendf(IMG_F_DATA, (const char *)data + off, len - off < (256 << 10) ? len - off : (256 << 10));
	sendf(IMG_F_END, NULL, 0);
}

static int parse(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *c = strrchr(s, ':');
	if (!c || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, c - s);
	host[c - s] = 0;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(c + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int client(int fd, char **argv, int argc)
{
	const char *mode = argv[0];
	free(recv_until(F_INFO));
	sends(F_HELLO, "{}");
	sends(F_PREFLIGHT, "{\"pids\":[],\"tids\":[],\"files\":[],\"addrs\":[],\"ipmap\":[]}");
	free(recv_until(F_VERDICT));
	if (!strcmp(mode, "fdleak")) {
		sendf(IMG_F_BEGIN, "a", 2);
		sendf(IMG_F_DATA, "x", 1);
		sendf(IMG_F_BEGIN, "b", 2);
		sendf(IMG_F_END, NULL, 0);
	} else if (!strcmp(mode, "manifest")) {
		const char *m = "{\"format\":\"ferry-image\",\"version\":1,\"files\":"
				"{\"../../../etc/hostname\":{\"size\":1,\"xxh3\":\"0\"}}}";
		send_file("manifest.json", m, strlen(m));
	} else if (!strcmp(mode, "counts")) {
		struct {
			uint32_t pid, npages;
			uint64_t vaddr;
			uint8_t page[4096];
		} pg = { 4242, 1, 0x10000, { 0 } };
		uint64_t run[2] = { 0x10000, (uint64_t)1 << 62 };
		sendf(PRE_F_PAGES, &pg, sizeof(pg));
		send_file("manifest.json", "{\"files\":{}}", 12);
		send_file("premap-4242.img", run, sizeof(run));
	} else if (!strcmp(mode, "big") && argc > 1) {
		size_t n = strtoull(argv[1], NULL, 10);
		char *b = xzalloc(n);
		send_file("big", b, n);
		free(b);
	} else if (!strcmp(mode, "sendimg") && argc > 2) {
		DIR *d = opendir(argv[1]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char path[4200], *data;
			size_t len;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
			if (!(data = read_file(path, &len)))
				continue;
			send_file(de->d_name, data, len);
			free(data);
		}
		if (d)
			closedir(d);
		send_file(argv[2], "{}", 2);
		sends(F_IMAGE_END, "{\"ipmap\":[],\"tcp_close\":false}");
		/* once serve holds every byte, reset the connection: it never
		 * gets the result to us, and must undo the restore */
		for (int i = 0; i < 2000; i++) {
			int q = 0;
			if (ioctl(fd, SIOCOUTQ, &q) < 0 || !q)
				break;
			poll(NULL, 0, 10);
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 }, sizeof(struct linger));
		close(fd);
		printf("SENT\n");
		return 0;
	} else {
		fprintf(stderr, "evilpeer: unknown mode %s\n", mode);
		return 2;
	}
	sends(F_IMAGE_END, "{\"ipmap\":[],\"tcp_close\":false}");
	{
		char *r = recv_until(F_RESULT);	/* prints and exits on anything else */
		printf("RESULT %s\n", r);
		free(r);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t key[CHAN_KEY_BYTES];
	struct sockaddr_in sa;
	int fd, one = 1;
	if (argc < 4 || parse(argv[2], &sa) < 0) {
		fprintf(stderr, "usage: evilpeer client|server ADDR:PORT KEY [MODE ARGS]\n");
		return 2;
	}
	if (chan_load_key(argv[3], key) < 0) {
		fprintf(stderr, "evilpeer: %s\n", fail_msg());
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!strcmp(argv[1], "server")) {
		char info[300];
		int c;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
			perror("evilpeer: listen");
			return 2;
		}
		printf("LISTENING\n");
		fflush(stdout);
		if ((c = accept(fd, NULL, NULL)) < 0 || chan_server(&ch, c, key) < 0)
			die("handshake");
		snprintf(info, sizeof(info), "{\"addrs\":[],\"kernel\":\"x\",\"dest\":\"%s\"}", argv[2]);
		sends(F_INFO, info);
		free(recv_until(F_HELLO));
		free(recv_until(F_PREFLIGHT));
		for (;;) {	/* "still at work", forever */
			sends(F_ALIVE, "{}");
			poll(NULL, 0, 250);
		}
	}
	if (argc < 5 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chan_client(&ch, fd, key) < 0)
		die("connect");
	return client(fd, argv + 4, argc - 4);
}
