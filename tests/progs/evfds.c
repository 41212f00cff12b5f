/* evfds - the event-loop file kinds: eventfd, timerfd, signalfd, inotify,
 * all watched by one epoll fd (and a nested epoll).
 * Covers: eventfd counts (semaphore mode, and a count above 2^32), a timerfd
 * armed before the dump fires after restore — not at once, not never — and
 * keeps its interval, a timerfd's unread expirations, a signalfd reading a
 * signal that was pending at dump time, inotify watches keeping their wd
 * numbers (including a gap) and reporting new events, epoll interest in all
 * of them. */
#include "common.h"
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int e1, e2, tf, tf2, sf, in, ep, ep2, wd1, wd3;
	uint64_t v;
	sigset_t m;

	T_SETUP((e1 = eventfd(5, EFD_SEMAPHORE)) >= 0);
	T_SETUP((e2 = eventfd(0, EFD_NONBLOCK)) >= 0);
	v = (1ULL << 40) + 7;
	T_SETUP(write(e2, &v, 8) == 8);

	/* tf: armed 3 s ahead, 100 ms interval afterwards */
	T_SETUP((tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) >= 0);
	struct itimerspec its = { .it_value = { 3, 0 }, .it_interval = { 0, 100000000 } };
	int64_t armed_at = t_now_ns(CLOCK_MONOTONIC);
	T_SETUP(timerfd_settime(tf, 0, &its, NULL) == 0);
	/* tf2: expired several times already, unread */
	T_SETUP((tf2 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) >= 0);
	struct itimerspec its2 = { .it_value = { 0, 10000000 }, .it_interval = { 0, 10000000 } };
	T_SETUP(timerfd_settime(tf2, 0, &its2, NULL) == 0);

	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	T_SETUP(sigprocmask(SIG_BLOCK, &m, NULL) == 0);
	T_SETUP((sf = signalfd(-1, &m, SFD_NONBLOCK)) >= 0);
	T_SETUP(kill(getpid(), SIGUSR1) == 0);

	T_SETUP(mkdir(t_path("watched"), 0755) == 0 && mkdir(t_path("other"), 0755) == 0 &&
		mkdir(t_path("gap"), 0755) == 0);
	T_SETUP((in = inotify_init1(IN_NONBLOCK)) >= 0);
	T_SETUP((wd1 = inotify_add_watch(in, t_path("watched"), IN_CREATE)) == 1);
	T_SETUP(inotify_add_watch(in, t_path("gap"), IN_CREATE) == 2);
	T_SETUP((wd3 = inotify_add_watch(in, t_path("other"), IN_CREATE | IN_DELETE)) == 3);
	T_SETUP(inotify_rm_watch(in, 2) == 0);

	T_SETUP((ep = epoll_create1(0)) >= 0 && (ep2 = epoll_create1(0)) >= 0);
	int fds[] = { e1, e2, tf, tf2, sf, in };
	for (int i = 0; i < 6; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 100 + i };
		T_SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0);
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 999 };
	T_SETUP(epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev) == 0);	/* nested */
	t_sleep_ms(100);
	t_ready();
	t_wait_go();
	int64_t go_at = t_now_ns(CLOCK_MONOTONIC);

	/* eventfds */
	T_EQ("semaphore eventfd read", read(e1, &v, 8), 8);
	T_EQ("semaphore eventfd value", v, 1);
	T_EQ("eventfd read", read(e2, &v, 8), 8);
	T_EQ("eventfd count", v, (1ULL << 40) + 7);
	/* the unread expirations of tf2 are still there (>= 9 after 100 ms) */
	T_EQ("tf2 read", read(tf2, &v, 8), 8);
	T_CHECK(v >= 9, "timerfd lost its unread expirations: %llu", (unsigned long long)v);
	/* signalfd */
	struct signalfd_siginfo si;
	T_EQ("signalfd read", read(sf, &si, sizeof si), (ssize_t)sizeof si);
	T_EQ("signal read through signalfd", si.ssi_signo, SIGUSR1);
	/* inotify: wds kept, new events reported */
	T_SETUP(t_write_file(t_path("watched/new"), "x", 1) == 0);
	T_SETUP(t_write_file(t_path("other/new2"), "x", 1) == 0);
	char buf[4096];
	ssize_t n = -1;
	for (int i = 0; i < 100 && n <= 0; i++) {
		n = read(in, buf, sizeof buf);
		if (n <= 0)
			t_sleep_ms(10);
	}
	int saw1 = 0, saw3 = 0;
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *ie = (void *)p;
		saw1 |= ie->wd == wd1 && !strcmp(ie->name, "new");
		saw3 |= ie->wd == wd3 && !strcmp(ie->name, "new2");
		p += sizeof *ie + ie->len;
	}
	T_CHECK(saw1, "no IN_CREATE event with wd %d for watched/new", wd1);
	T_CHECK(saw3, "no IN_CREATE event with wd %d for other/new2", wd3);
	/* tf: it must not fire before 3 s.  A restore gives it the time it had
	 * left, so time spent frozen delays it: past 3 s of wall time it may or
	 * may not have fired, and only the wait below decides. */
	if (go_at - armed_at < 2900000000LL)
		T_EQ("tf read before its time", read(tf, &v, 8), -1);
	/* ... and must fire (through epoll, nested) within a few seconds */
	struct epoll_event out[8];
	int fired = 0;
	int64_t deadline = t_now_ns(CLOCK_MONOTONIC) + 5000000000LL;
	while (!fired && t_now_ns(CLOCK_MONOTONIC) < deadline) {
		int k = epoll_wait(ep2, out, 8, 100);
		if (k == 1 && out[0].data.u64 == 999) {
			k = epoll_wait(ep, out, 8, 0);
			for (int i = 0; i < k; i++)
				fired |= out[i].data.u64 == 102;
		}
	}
	T_CHECK(fired, "the armed timerfd never fired after restore");
	T_EQ("tf read", read(tf, &v, 8), 8);
	t_finish();
}
