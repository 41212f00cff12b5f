/*
 * The migration channel: framed messages over a TCP connection,
 * authenticated and encrypted with a pre-shared key.
 *
 * Handshake: each side sends a magic and a fresh random nonce; each
 * direction's key is BLAKE2b(psk, direction || client nonce || server
 * nonce), and each direction is a libsodium secretstream
 * (XChaCha20-Poly1305), which authenticates every frame and their order.
 * So a peer without the key fails on its first frame, a replayed stream
 * fails (the other side's nonce is new each time), a tampered, reordered or
 * truncated one fails (the last frame carries the FINAL tag).
 *
 * Frame on the wire: u32 length (big-endian) of the ciphertext, ciphertext
 * of [u8 type][payload].
 */
#ifndef FERRY_CHAN_H
#define FERRY_CHAN_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define CHAN_KEY_BYTES 32
#define CHAN_MAX_PAYLOAD (4u << 20)
/* Each side's first frame (serve's host facts, the source's HELLO) is
 * small: until one frame has authenticated, a frame may not be larger, so
 * a peer without the key makes the other side read at most this much. */
#define CHAN_FIRST_MAX (64u << 10)

struct chan {
	int fd;
	crypto_secretstream_xchacha20poly1305_state tx, rx;
	uint64_t bytes_out, bytes_in;	/* on the wire */
	int rx_final;			/* the peer sent its last frame */
	int rx_authed;			/* a frame of the peer's authenticated (CHAN_FIRST_MAX) */
	uint8_t *txbuf, *rxbuf;		/* reused: fresh 4 MiB buffers per frame cost page faults */
	const char *phase;		/* progress on stderr while set (a terminal) */
	double t0, last;
};

/* Reads a key file (64 hex digits) into key, which it mlocks (wipe it with
 * sodium_munlock when done); refuses a file that is not the user's own or
 * that group or others can read.  0 or -1 with the error recorded. */
int chan_load_key(const char *path, uint8_t key[CHAN_KEY_BYTES]);
/* Writes a new random key as hex to a new file out (mode 0600, never an
 * existing file), or to standard output if out is NULL. */
int chan_keygen(const char *out);

int chan_client(struct chan *c, int fd, const uint8_t key[CHAN_KEY_BYTES]);
int chan_server(struct chan *c, int fd, const uint8_t key[CHAN_KEY_BYTES]);
/* final marks the sender's last frame. */
int chan_send(struct chan *c, uint8_t type, const void *buf, size_t len, int final);
/* *buf is malloc'ed (free it); returns 0 or -1 with the error recorded. */
int chan_recv(struct chan *c, uint8_t *type, void **buf, size_t *len);
/* Like chan_recv, but *buf points into the channel's own buffer, valid
 * until the next call: no allocation per frame. */
int chan_recv_inplace(struct chan *c, uint8_t *type, const void **buf, size_t *len);
void chan_free(struct chan *c);

#endif
