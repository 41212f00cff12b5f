/* evfds - the event-loop file kinds: eventfd, timerfd, signalfd, inotify,
 * all watched by one epoll fd (and a nested epoll).
 * Covers: eventfd counts (semaphore mode, and a count above 2^32); timerfds:
 * tf, armed 3 s ahead with a 100 ms interval, fires after restore, and not
 * before its time (if it fired, at least its time left at ready had passed;
 * if not, its time left is at most what it was at ready and at least that
 * less the CLOCK_MONOTONIC time since); tf3, armed 700 s ahead with a
 * 1000 s interval, keeps its interval and its time left by the same bounds
 * (a timer re-armed with its interval, or from the start, is caught); tf2
 * fired once (1 h interval) and holds 5 unread expirations
 * (TFD_IOC_SET_TICKS in the program: a count no re-armed timer produces),
 * read as exactly 5; a signalfd reading a signal that was pending at dump
 * time; inotify watches keeping their wd numbers (including a gap) and
 * reporting new events; epoll interest in all of them, and the readiness
 * epoll reports after restore, before anything is read, is exactly what it
 * was: the eventfds, tf2, the signalfd, inotify (the IN_IGNORED of the
 * removed watch) ready, tf3 not (tf
 * ready only if it fired), the nested epoll ready. */
#include "common.h"
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* a timerfd's time left after restore: at most what it was at ready, at
 * least that less the time on `clk` since `from` (taken before the time
 * left at ready was), 1 ms of slack for rounding; its interval kept */
static void check_left(const char *what, int fd, int64_t left0, clockid_t clk, int64_t from, int64_t interval)
{
	struct itimerspec cur;
	T_SETUP(timerfd_gettime(fd, &cur) == 0);
	int64_t since = t_now_ns(clk) - from, left = ts_ns(cur.it_value);
	T_CHECK(left > 0 && left <= left0 && left >= left0 - since - 1000000,
		"%s: %.6f s left, expected in [%.6f, %.6f] (%.6f s left at ready, %.6f s since)", what, left / 1e9,
		(left0 - since) / 1e9, left0 / 1e9, left0 / 1e9, since / 1e9);
	T_CHECK(ts_ns(cur.it_interval) == interval, "%s: interval %lld ns, expected %lld", what,
		(long long)ts_ns(cur.it_interval), (long long)interval);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int e1, e2, tf, tf2, tf3, sf, in, ep, ep2, wd1, wd3;
	uint64_t v;
	sigset_t m;

	T_SETUP((e1 = eventfd(5, EFD_SEMAPHORE)) >= 0);
	T_SETUP((e2 = eventfd(0, EFD_NONBLOCK)) >= 0);
	v = (1ULL << 40) + 7;
	T_SETUP(write(e2, &v, 8) == 8);

	/* tf: armed 3 s ahead, 100 ms interval afterwards */
	T_SETUP((tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) >= 0);
	struct itimerspec its = { .it_value = { 3, 0 }, .it_interval = { 0, 100000000 } };
	T_SETUP(timerfd_settime(tf, 0, &its, NULL) == 0);
	/* tf2: fired once, next expiry 1 h later, 5 unread expirations */
	T_SETUP((tf2 = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) >= 0);
	struct itimerspec its2 = { .it_value = { 0, 1000000 }, .it_interval = { 3600, 0 } };
	T_SETUP(timerfd_settime(tf2, 0, &its2, NULL) == 0);
	struct pollfd pf = { .fd = tf2, .events = POLLIN };
	T_SETUP(poll(&pf, 1, -1) == 1);
	v = 5;
	T_SETUP(ioctl(tf2, TFD_IOC_SET_TICKS, &v) == 0);
	/* tf3: long, its time left distinct from its interval */
	T_SETUP((tf3 = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK)) >= 0);
	struct itimerspec its3 = { .it_value = { 700, 0 }, .it_interval = { 1000, 0 } };
	T_SETUP(timerfd_settime(tf3, 0, &its3, NULL) == 0);

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
	int fds[] = { e1, e2, tf, tf2, sf, in, tf3 };
	for (int i = 0; i < 7; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 100 + i };
		T_SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == 0);
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 999 };
	T_SETUP(epoll_ctl(ep2, EPOLL_CTL_ADD, ep, &ev) == 0);	/* nested */
	t_sleep_ms(100);
	int64_t ready_at = t_now_ns(CLOCK_MONOTONIC), ready_boot = t_now_ns(CLOCK_BOOTTIME);
	struct itimerspec cur;
	T_SETUP(timerfd_gettime(tf, &cur) == 0);
	int64_t tf_left0 = ts_ns(cur.it_value);
	T_SETUP(timerfd_gettime(tf3, &cur) == 0);
	int64_t tf3_left0 = ts_ns(cur.it_value);
	t_ready();
	t_wait_go();

	/* readiness first, before any read changes it */
	struct epoll_event out[8];
	uint64_t ready = 0;
	int k = epoll_wait(ep, out, 8, 0);
	for (int i = 0; i < k; i++)
		ready |= 1ULL << (out[i].data.u64 - 100);
	T_EQ("nested epoll ready", epoll_wait(ep2, out, 8, 0), 1);
	/* tf: fired, or not yet; its time left says which is right */
	ssize_t tfn = read(tf, &v, 8);
	int64_t since = t_now_ns(CLOCK_MONOTONIC) - ready_at;
	if (tfn == 8) {
		T_CHECK(since >= tf_left0, "tf fired %.3f s after ready, before the %.3f s it had left",
			since / 1e9, tf_left0 / 1e9);
		T_CHECK(ready & 4, "tf had expirations, but epoll did not report it ready");
	} else {
		T_CHECK(!(ready & 4), "epoll reported tf ready, but it had no expirations");
		check_left("tf", tf, tf_left0, CLOCK_MONOTONIC, ready_at, 100000000);
	}
	T_EQ("epoll readiness (bit i = fd i of e1 e2 tf tf2 sf in tf3), tf aside", ready & ~4ULL, 0x3b);
	check_left("tf3", tf3, tf3_left0, CLOCK_BOOTTIME, ready_boot, 1000000000000LL);
	T_EQ("tf3 read", read(tf3, &v, 8), -1);

	/* eventfds */
	T_EQ("semaphore eventfd read", read(e1, &v, 8), 8);
	T_EQ("semaphore eventfd value", v, 1);
	T_EQ("eventfd read", read(e2, &v, 8), 8);
	T_EQ("eventfd count", v, (1ULL << 40) + 7);
	/* the unread expirations of tf2, exactly; its next expiry 1 h away */
	T_EQ("tf2 read", read(tf2, &v, 8), 8);
	T_EQ("tf2 unread expirations", v, 5);
	T_SETUP(timerfd_gettime(tf2, &cur) == 0);
	T_EQ("tf2 interval", ts_ns(cur.it_interval), 3600000000000LL);
	T_CHECK(cur.it_value.tv_sec > 3000, "tf2: %ld s to its next expiry, expected nearly 3600", (long)cur.it_value.tv_sec);
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
	/* tf must fire (through epoll, nested); 30 s is a bound for a lost
	 * timer, not a measure of its precision */
	int fired = tfn == 8;
	int64_t deadline = t_now_ns(CLOCK_MONOTONIC) + 30000000000LL;
	while (!fired && t_now_ns(CLOCK_MONOTONIC) < deadline) {
		k = epoll_wait(ep2, out, 8, 100);
		if (k == 1 && out[0].data.u64 == 999) {
			k = epoll_wait(ep, out, 8, 0);
			for (int i = 0; i < k; i++)
				fired |= out[i].data.u64 == 102;
		}
	}
	T_CHECK(fired, "the armed timerfd never fired after restore");
	T_CHECK(tfn == 8 || read(tf, &v, 8) == 8, "tf reported ready but read nothing");
	t_finish();
}
