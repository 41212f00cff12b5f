/*
 * Fuzz target: everything a client without the key reaches in serve:
 * serve_one on a connection whose peer sends the input and then closes
 * (the magic and nonce, the stream header, the first frame's length and
 * its ciphertext, which must fail authentication).  serve_one must return
 * SERVE_UNAUTH for every input: a client without the key gets nothing
 * beyond a logged failure (docs/security.md).
 */
#include <sys/socket.h>

#include "fuzz.h"

#include "../src/cmd/migrate.c"

static uint8_t key[CHAN_KEY_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	memset(key, 7, sizeof(key));
	staging_limit = 64 << 20;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sp[2], buf = 1 << 20, ret;
	char sink[4096];
	if (size > 512 * 1024)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sp[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (size && write_full(sp[0], data, size) < 0)
		abort();
	shutdown(sp[0], SHUT_WR);
	ret = serve_one(sp[1], key, NULL);
	if (ret != SERVE_UNAUTH) {
		fprintf(stdout, "serve_one gave %d to a client without the key\n", ret);
		abort();
	}
	close(sp[1]);
	while (read(sp[0], sink, sizeof(sink)) > 0)
		;
	close(sp[0]);
	return 0;
}
