/* tests/lib/api.c - a client of libferry, built by tests/pkg.sh with
 * `pkg-config --cflags --libs ferry` against a DESTDIR install.
 * Usage: api COUNTER_PID COUNTER_DIR IMAGE_DIR REFUSE_PID
 * Checks, in order (one line each; exit 1 at the first failure):
 *   ferry_version() is the version of the header's library;
 *   ferry_check: FERRY_OK, a "check" event per feature through the callback;
 *   ferry_dump with no pid: FERRY_ERR_USAGE with a message;
 *   ferry_dump of tests/bin/counter: FERRY_OK, "frozen" then "progress"
 *   events whose bytes and pages grow, a "result";
 *   ferry_restore (no detach) of it: the callback creates COUNTER_DIR/go
 *   on "restored", and the call returns FERRY_OK with exit status 0: the
 *   counter's own check of its state after the restore;
 *   ferry_dump of tests/bin/sock_refuse (a netlink socket at fd 42):
 *   FERRY_ERR_REFUSED, err.pid and err.fd naming it, "nothing was changed". */
#include <ferry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (!(cond)) {                                  \
			printf("FAIL: " __VA_ARGS__);           \
			printf("\n");                           \
			exit(1);                                \
		}                                               \
	} while (0)

struct seen {
	int checks, frozen, progress, result, restored;
	uint64_t bytes, pages;
	int backwards;
	const char *go;
};

static void on_event(const struct ferry_event *ev, void *arg)
{
	struct seen *s = arg;
	if (!strcmp(ev->type, "check"))
		s->checks++;
	else if (!strcmp(ev->type, "frozen"))
		s->frozen++;
	else if (!strcmp(ev->type, "result"))
		s->result++;
	else if (!strcmp(ev->type, "progress")) {
		if (!s->frozen || ev->bytes < s->bytes || ev->pages < s->pages)
			s->backwards++;
		s->progress++;
		s->bytes = ev->bytes;
		s->pages = ev->pages;
	} else if (!strcmp(ev->type, "restored")) {
		s->restored++;
		if (s->go)
			close(open(s->go, O_WRONLY | O_CREAT, 0644));
	}
	if (!strstr(ev->json, "\"event\""))
		s->backwards++;
}

int main(int argc, char **argv)
{
	struct ferry_error err;
	struct seen s = { 0 };
	char go[4096];
	int r, status = -1;
	if (argc != 5) {
		fprintf(stderr, "usage: api COUNTER_PID COUNTER_DIR IMAGE_DIR REFUSE_PID\n");
		return 2;
	}
	CHECK(!strcmp(ferry_version(), "0.1.0"), "ferry_version() = %s", ferry_version());

	r = ferry_check(on_event, &s, &err);
	CHECK(r == FERRY_OK && s.checks >= 5 && s.result == 1, "ferry_check = %d (%s), %d check events", r, err.message, s.checks);
	printf("ok ferry_check: %d features\n", s.checks);

	struct ferry_dump_opts bad = { .dir = argv[3] };
	r = ferry_dump(&bad, &err);
	CHECK(r == FERRY_ERR_USAGE && err.code == r && err.message[0], "ferry_dump without a pid = %d (%s)", r, err.message);
	printf("ok usage error: %s\n", err.message);

	memset(&s, 0, sizeof(s));
	struct ferry_dump_opts d = { .pid = atoi(argv[1]), .dir = argv[3], .progress = on_event, .progress_arg = &s };
	r = ferry_dump(&d, &err);
	CHECK(r == FERRY_OK && err.code == FERRY_OK && !err.message[0], "ferry_dump = %d (%s)", r, err.message);
	CHECK(s.frozen == 1 && s.progress >= 2 && !s.backwards && s.bytes > 0 && s.pages > 0 && s.result == 1,
	      "dump events: frozen %d, progress %d (backwards %d), bytes %llu, pages %llu, result %d", s.frozen,
	      s.progress, s.backwards, (unsigned long long)s.bytes, (unsigned long long)s.pages, s.result);
	printf("ok ferry_dump: %llu bytes, %llu pages\n", (unsigned long long)s.bytes, (unsigned long long)s.pages);

	/* the killed source is the shell's child: its PID is free once reaped */
	snprintf(go, sizeof(go), "/proc/%s", argv[1]);
	for (int i = 0; i < 200 && access(go, F_OK) == 0; i++)
		usleep(50000);
	memset(&s, 0, sizeof(s));
	snprintf(go, sizeof(go), "%s/go", argv[2]);
	s.go = go;
	struct ferry_restore_opts o = { .dir = argv[3], .progress = on_event, .progress_arg = &s };
	r = ferry_restore(&o, &status, &err);
	CHECK(r == FERRY_OK && s.restored == 1 && status == 0, "ferry_restore = %d (%s), restored %d, exit status %d", r,
	      err.message, s.restored, status);
	printf("ok ferry_restore: the counter checked itself and exited 0\n");

	snprintf(go, sizeof(go), "%s-refused", argv[3]);
	r = ferry_dump(&(struct ferry_dump_opts){ .pid = atoi(argv[4]), .dir = go }, &err);
	CHECK(r == FERRY_ERR_REFUSED && err.pid == atoi(argv[4]) && err.fd == 42 && strstr(err.message, "nothing was changed"),
	      "ferry_dump of a netlink socket = %d, pid %d, fd %d: %s", r, (int)err.pid, err.fd, err.message);
	printf("ok refused: %s\n", err.message);
	return 0;
}
