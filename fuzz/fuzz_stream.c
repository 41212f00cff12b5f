/*
 * Fuzz target: what an authenticated migration source can make serve
 * decode, after decryption: the message frames (HELLO, PRE-FLIGHT and its
 * check, ABORT, ALIVE), the image stream (file begin/data/end, pre-copied
 * page frames, IMAGE_END) and the pre-copy index serve builds from them
 * (finish_stores), i.e. serve_one's path between the handshake and the
 * restore it starts (that restore reads the image: fuzz_image covers it).
 *
 * The input is a list of frames, each [type u8][final u8][len u16 LE]
 * [payload].  The harness encrypts them with a real channel (handshake
 * done once, at start, over a socketpair; its stream states copied for
 * each input) into a memfd that serve's side then reads: so every frame
 * passes authentication and what is fuzzed is the decoding behind it.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "fuzz.h"

#include "../src/cmd/migrate.c"

static struct chan cli0, srv0;	/* right after the handshake */
static uint8_t key[CHAN_KEY_BYTES];
static int memfd;

static void *client_side(void *arg)
{
	if (chan_client(&cli0, *(int *)arg, key) < 0)
		abort();
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int sp[2];
	pthread_t th;
	(void)argc;
	(void)argv;
	fuzz_quiet();
	memset(key, 7, sizeof(key));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || pthread_create(&th, NULL, client_side, &sp[0]))
		abort();
	if (chan_server(&srv0, sp[1], key) < 0)
		abort();
	pthread_join(th, NULL);
	close(sp[0]);
	close(sp[1]);
	if ((memfd = memfd_create("fuzz-stream", MFD_CLOEXEC)) < 0)
		abort();
	staging_limit = 64 << 20;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *txbuf, *rxbuf;
	struct chan cli = cli0, srv = srv0;
	const char *dir = fuzz_dir();
	json_t *hello = NULL, *pre = NULL, *missing = NULL, *end = NULL;
	char why[1024];
	size_t i = 0;

	/* the 8 MiB frame buffers, kept across inputs */
	cli.txbuf = txbuf;
	srv.rxbuf = rxbuf;
	cli.fd = srv.fd = memfd;
	if (ftruncate(memfd, 0) < 0 || lseek(memfd, 0, SEEK_SET) < 0)
		abort();
	while (i + 4 <= size) {
		size_t len = data[i + 2] | (size_t)data[i + 3] << 8;
		if (len > size - i - 4)
			len = size - i - 4;
		if (chan_send(&cli, data[i], data + i + 4, len, data[i + 1] & 1) < 0)
			abort();
		i += 4 + len;
	}
	txbuf = cli.txbuf;
	if (lseek(memfd, 0, SEEK_SET) < 0)
		abort();

	fuzz_empty_dir(dir);
	if ((hello = recv_json(&srv, F_HELLO)) && (pre = recv_json(&srv, F_PREFLIGHT))) {
		missing = json_array();
		check_preflight(pre, missing, why, sizeof(why));
		fail_clear();
		if ((end = receive_image(&srv, dir)) && nstores)
			finish_stores(dir);
	}
	rxbuf = srv.rxbuf;
	free_stores();
	staged = 0;
	json_decref(hello);
	json_decref(pre);
	json_decref(missing);
	json_decref(end);
	fail_clear();
	return 0;
}
