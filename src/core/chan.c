/*
 * The migration channel (see chan.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "util.h"

#define MAGIC "FERRYMIG1"
#define NONCE_BYTES 24
#define HDR crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES

/* A key file is root on every host that serves with it: only its owner
 * (the user running ferry) may read it. */
static int key_file_safe(int fd, const char *path)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail_errno("cannot stat key file %s", path);
	if (!S_ISREG(st.st_mode))
		return fail("key file %s is not a regular file", path);
	if (st.st_uid != geteuid())
		return fail("key file %s is owned by uid %u, not by uid %u who runs ferry: anyone who can write it "
			    "chooses the key; fix: chown %u %s", path, (unsigned)st.st_uid, (unsigned)geteuid(),
			    (unsigned)geteuid(), path);
	if (st.st_mode & 077)
		return fail("key file %s has mode %04o: group or others can read it, and the key lets its holder "
			    "run processes as root on every host that serves with it; fix: chmod 600 %s "
			    "(`ferry keygen -o FILE` writes a new one with mode 0600)",
			    path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

int chan_load_key(const char *path, uint8_t key[CHAN_KEY_BYTES])
{
	char s[2 * CHAN_KEY_BYTES + 8];
	ssize_t got;
	size_t n;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), ret = -1;
	if (fd < 0)
		return fail_errno("cannot read key file %s", path);
	sodium_mlock(s, sizeof(s));	/* best effort: never swapped out */
	sodium_mlock(key, CHAN_KEY_BYTES);
	if (key_file_safe(fd, path) < 0)
		goto out;
	if ((got = read_full(fd, s, sizeof(s) - 1)) < 0) {
		fail_errno("cannot read key file %s", path);
		goto out;
	}
	s[got] = 0;
	n = strcspn(s, " \t\r\n");
	s[n] = 0;
	if (n != 2 * CHAN_KEY_BYTES || hex_decode(s, key, CHAN_KEY_BYTES) < 0) {
		fail("key file %s does not hold a key (64 hex digits, as `ferry keygen` writes)", path);
		sodium_memzero(key, CHAN_KEY_BYTES);
		goto out;
	}
	ret = 0;
out:
	sodium_munlock(s, sizeof(s));	/* zeroes it too */
	close(fd);
	return ret;
}

int chan_keygen(const char *out)
{
	uint8_t key[CHAN_KEY_BYTES];
	char *hex;
	int fd = 1, ret;
	if (sodium_init() < 0)
		return fail("libsodium cannot initialize");
	/* A new file only: replacing one could follow a link planted in its
	 * place, or leave the old mode. */
	if (out && (fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return fail_errno("cannot create key file %s%s", out,
				  errno == EEXIST ? " (it exists: remove it first, or choose another name)" : "");
	sodium_mlock(key, sizeof(key));
	randombytes_buf(key, sizeof(key));
	hex = hex_encode(key, sizeof(key));
	sodium_munlock(key, sizeof(key));
	hex = xrealloc(hex, 2 * CHAN_KEY_BYTES + 2);
	strcpy(hex + 2 * CHAN_KEY_BYTES, "\n");
	ret = write_full(fd, hex, 2 * CHAN_KEY_BYTES + 1);
	sodium_memzero(hex, 2 * CHAN_KEY_BYTES + 1);
	free(hex);
	if (ret < 0 || (out && fsync(fd) < 0)) {
		ret = fail_errno("cannot write the key to %s", out ? out : "standard output");
		if (out)
			unlink(out);
	}
	if (out)
		close(fd);
	return ret;
}

static int io_full(int fd, void *buf, size_t len, int wr, const char *what)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = wr ? write(fd, (char *)buf + done, len - done) : read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno("migration connection failed while %s", what);
		if (n == 0)
			return fail("migration connection closed by the peer while %s", what);
		done += n;
	}
	return 0;
}

static void derive(uint8_t out[CHAN_KEY_BYTES], const uint8_t key[CHAN_KEY_BYTES], const char *dir,
		   const uint8_t *nc, const uint8_t *ns)
{
	uint8_t msg[4 + 2 * NONCE_BYTES];
	memcpy(msg, dir, 4);
	memcpy(msg + 4, nc, NONCE_BYTES);
	memcpy(msg + 4 + NONCE_BYTES, ns, NONCE_BYTES);
	crypto_generichash(out, CHAN_KEY_BYTES, msg, sizeof(msg), key, CHAN_KEY_BYTES);
}

static int handshake(struct chan *c, int fd, const uint8_t key[CHAN_KEY_BYTES], int client)
{
	uint8_t mine[sizeof(MAGIC) - 1 + NONCE_BYTES], theirs[sizeof(mine)], ktx[CHAN_KEY_BYTES], krx[CHAN_KEY_BYTES];
	uint8_t hdr[HDR], phdr[HDR];
	const uint8_t *nc, *ns;
	int ret;

	if (sodium_init() < 0)
		return fail("libsodium cannot initialize");
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	memcpy(mine, MAGIC, sizeof(MAGIC) - 1);
	randombytes_buf(mine + sizeof(MAGIC) - 1, NONCE_BYTES);
	if (io_full(fd, mine, sizeof(mine), 1, "sending the handshake") < 0 ||
	    io_full(fd, theirs, sizeof(theirs), 0, "reading the handshake") < 0)
		return -1;
	if (memcmp(theirs, MAGIC, sizeof(MAGIC) - 1))
		return fail("the peer does not speak ferry's migration protocol");
	nc = (client ? mine : theirs) + sizeof(MAGIC) - 1;
	ns = (client ? theirs : mine) + sizeof(MAGIC) - 1;
	derive(client ? ktx : krx, key, "c2s", nc, ns);
	derive(client ? krx : ktx, key, "s2c", nc, ns);
	crypto_secretstream_xchacha20poly1305_init_push(&c->tx, hdr, ktx);
	sodium_memzero(ktx, sizeof(ktx));
	if (io_full(fd, hdr, sizeof(hdr), 1, "sending the stream header") < 0 ||
	    io_full(fd, phdr, sizeof(phdr), 0, "reading the stream header") < 0) {
		sodium_memzero(krx, sizeof(krx));
		return -1;
	}
	ret = crypto_secretstream_xchacha20poly1305_init_pull(&c->rx, phdr, krx);
	sodium_memzero(krx, sizeof(krx));
	if (ret != 0)
		return fail("the peer's stream header is invalid");
	c->bytes_out = c->bytes_in = sizeof(mine) + HDR;
	return 0;
}

int chan_client(struct chan *c, int fd, const uint8_t key[CHAN_KEY_BYTES])
{
	return handshake(c, fd, key, 1);
}

int chan_server(struct chan *c, int fd, const uint8_t key[CHAN_KEY_BYTES])
{
	return handshake(c, fd, key, 0);
}

#define FRAME_MAX (CHAN_MAX_PAYLOAD + 1 + ABYTES + 4)

/* One line, rewritten in place, at most 10 times a second. */
static void progress(struct chan *c)
{
	double now = mono_seconds();
	if (!c->t0)
		c->t0 = now;
	if (now - c->last < 0.1)
		return;
	c->last = now;
	fprintf(stderr, "\r  %s: %8.1f MiB sent, %7.1f MiB/s ", c->phase, c->bytes_out / 1048576.0,
		now > c->t0 ? c->bytes_out / 1048576.0 / (now - c->t0) : 0.0);
}

int chan_send(struct chan *c, uint8_t type, const void *buf, size_t len, int final)
{
	size_t mlen = len + 1, clen = mlen + ABYTES;
	uint32_t be = htonl(clen);
	uint8_t *m, *ct;
	int ret;
	if (len > CHAN_MAX_PAYLOAD)
		return fail("internal: frame of %zu bytes is too large", len);
	if (!c->txbuf)
		c->txbuf = xmalloc(2 * FRAME_MAX);
	m = c->txbuf;
	ct = c->txbuf + FRAME_MAX;
	m[0] = type;
	if (len)
		memcpy(m + 1, buf, len);
	memcpy(ct, &be, 4);
	crypto_secretstream_xchacha20poly1305_push(&c->tx, ct + 4, NULL, m, mlen, NULL, 0,
						   final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
	ret = io_full(c->fd, ct, clen + 4, 1, "sending");
	c->bytes_out += clen + 4;
	if (c->phase)
		progress(c);
	return ret;
}

int chan_recv_inplace(struct chan *c, uint8_t *type, const void **buf, size_t *len)
{
	uint32_t be;
	size_t clen;
	uint8_t *ct, *m, tag;
	unsigned long long mlen;
	if (c->rx_final)
		return fail("migration connection: the peer already ended its stream");
	if (io_full(c->fd, &be, 4, 0, "receiving") < 0)
		return -1;
	clen = ntohl(be);
	if (clen < ABYTES + 1 || clen > (c->rx_authed ? CHAN_MAX_PAYLOAD : CHAN_FIRST_MAX) + 1 + ABYTES)
		return fail("migration stream is corrupt: frame of %zu bytes%s", clen,
			    c->rx_authed ? "" : " before authentication");
	if (!c->rxbuf)
		c->rxbuf = xmalloc(2 * FRAME_MAX);
	ct = c->rxbuf;
	m = c->rxbuf + FRAME_MAX;
	if (io_full(c->fd, ct, clen, 0, "receiving") < 0)
		return -1;
	c->bytes_in += clen + 4;
	if (crypto_secretstream_xchacha20poly1305_pull(&c->rx, m, &mlen, &tag, ct, clen, NULL, 0) != 0)
		return fail("migration stream refused: authentication failed (wrong key, or a tampered or replayed "
			    "stream)");
	c->rx_authed = 1;
	c->rx_final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	*type = m[0];
	*len = mlen - 1;
	*buf = m + 1;
	return 0;
}

int chan_recv(struct chan *c, uint8_t *type, void **buf, size_t *len)
{
	const void *p;
	if (chan_recv_inplace(c, type, &p, len) < 0)
		return -1;
	*buf = xmalloc(*len + 1);
	memcpy(*buf, p, *len);
	((char *)*buf)[*len] = 0;
	return 0;
}

void chan_free(struct chan *c)
{
	/* the stream states hold the session keys */
	sodium_memzero(&c->tx, sizeof(c->tx));
	sodium_memzero(&c->rx, sizeof(c->rx));
	free(c->txbuf);
	free(c->rxbuf);
	c->txbuf = c->rxbuf = NULL;
}
