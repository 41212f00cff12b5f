/* server_tree - a server shaped like the real ones: a master and 3 worker
 * processes sharing an anonymous shared counter; each worker runs 4 threads
 * in one epoll loop over a unix listening socket, an eventfd and a timerfd.
 * Covers the combination: after restore the master, as a client, talks to
 * each worker through its listening socket, and the shared counter (bumped
 * by every worker's timer) keeps counting from where it was. */
#include "common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>

#define WORKERS 3
#define THREADS 4

struct shared {
	_Atomic uint64_t counter;
	_Atomic uint64_t per_worker[WORKERS];
};

static struct shared *sh;
static int ep, lsn, efd, tfd, me;

static socklen_t addr_of(struct sockaddr_un *sa, int w)
{
	char name[64];
	snprintf(name, sizeof name, "w%d.sock", w);
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof sa->sun_path, "%s", t_path(name));
	return sizeof *sa;
}

static void *loop(void *a)
{
	(void)a;
	for (;;) {
		struct epoll_event ev;
		uint64_t v;
		if (epoll_wait(ep, &ev, 1, 1000) != 1)
			continue;
		if (ev.data.fd == efd)	/* quit: leave it readable for the other threads */
			return NULL;
		if (ev.data.fd == tfd) {
			if (read(tfd, &v, 8) == 8) {
				atomic_fetch_add(&sh->counter, v);
				atomic_fetch_add(&sh->per_worker[me], v);
			}
			continue;
		}
		if (ev.data.fd == lsn) {
			int c = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
			char b[64] = "", out[128];
			if (c < 0)
				continue;
			if (read(c, b, sizeof b - 1) > 0) {
				int n = snprintf(out, sizeof out, "pong %d %llu", me,
						 (unsigned long long)atomic_load(&sh->counter));
				if (write(c, out, n) != n)
					t_note("worker %d: reply failed", me);
				if (!strncmp(b, "quit", 4)) {
					v = 1;
					if (write(efd, &v, 8) != 8)
						t_note("worker %d: eventfd write failed", me);
				}
			}
			close(c);
		}
	}
}

static void worker(int w)
{
	struct sockaddr_un sa;
	pthread_t th[THREADS];
	struct itimerspec its = { { 0, 20000000 }, { 0, 20000000 } };
	me = w;
	T_SETUP((lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) >= 0);
	T_SETUP(bind(lsn, (void *)&sa, addr_of(&sa, w)) == 0 && listen(lsn, 16) == 0);
	T_SETUP((efd = eventfd(0, 0)) >= 0);
	T_SETUP((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) >= 0 && timerfd_settime(tfd, 0, &its, NULL) == 0);
	T_SETUP((ep = epoll_create1(0)) >= 0);
	int fds[] = { lsn, efd, tfd };
	for (int i = 0; i < 3; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		T_SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0);
	}
	for (int i = 0; i < THREADS; i++)
		T_SETUP(pthread_create(&th[i], NULL, loop, NULL) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	_exit(atomic_load(&sh->per_worker[w]) > 0 ? 0 : 4);
}

static int ask(int w, const char *what, char *reply, size_t len)
{
	struct sockaddr_un sa;
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	ssize_t n;
	if (c < 0 || connect(c, (void *)&sa, addr_of(&sa, w)) < 0)
		return -1;
	if (write(c, what, strlen(what)) < 0)
		return -1;
	n = read(c, reply, len - 1);
	close(c);
	if (n <= 0)
		return -1;
	reply[n] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	pid_t kids[WORKERS];
	char r[128];
	t_init(argc, argv);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_SETUP(sh != MAP_FAILED);
	for (int w = 0; w < WORKERS; w++)
		if ((kids[w] = fork()) == 0)
			worker(w);
	/* every worker answers before we call ourselves ready */
	for (int w = 0; w < WORKERS; w++) {
		int ok = 0;
		for (int i = 0; i < 200 && !ok; i++) {
			ok = ask(w, "ping", r, sizeof r) == 0;
			if (!ok)
				t_sleep_ms(10);
		}
		T_SETUP(ok);
	}
	t_sleep_ms(100);
	uint64_t before = atomic_load(&sh->counter);
	t_ready();
	t_wait_go();
	for (int w = 0; w < WORKERS; w++) {
		unsigned long long cnt = 0;
		int who = -1;
		T_CHECK(ask(w, "ping", r, sizeof r) == 0 && sscanf(r, "pong %d %llu", &who, &cnt) == 2,
			"worker %d does not answer after restore (%s)", w, strerror(errno));
		T_EQ("the worker who answered", who, w);
		T_CHECK(cnt >= before, "worker %d sees the shared counter at %llu, below %llu", w, cnt,
			(unsigned long long)before);
	}
	t_sleep_ms(200);
	uint64_t after = atomic_load(&sh->counter);
	T_CHECK(after > before, "the shared counter stopped at %llu", (unsigned long long)after);
	for (int w = 0; w < WORKERS; w++) {
		int st;
		T_CHECK(ask(w, "quit", r, sizeof r) == 0, "worker %d does not take quit", w);
		T_CHECK(waitpid(kids[w], &st, 0) == kids[w] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			"worker %d exit status %#x", w, st);
	}
	t_finish();
}
