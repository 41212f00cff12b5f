/*
 * timerfd: clock, flags, interval, the time left and the expirations not
 * yet read, from /proc/PID/fdinfo.
 *
 * A relative timer gets its remaining time again (the process did not run
 * while it was frozen, so the timer does not either).  An absolute timer
 * (TFD_TIMER_ABSTIME) keeps its deadline on its clock: the dump records
 * now + remaining, the restore arms that absolute time, so it fires at the
 * right moment (at once if that moment passed meanwhile).  Unread
 * expirations come back with TFD_IOC_SET_TICKS.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "fileops.h"
#include "util.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

static int pair(const char *s, const char *key, struct timespec *ts)
{
	const char *p = proc_field(s, key);
	unsigned long long a, b;
	if (!p || sscanf(p, "(%llu, %llu)", &a, &b) != 2)
		return -1;
	ts->tv_sec = a;
	ts->tv_nsec = b;
	return 0;
}

struct timerfd_file {
	int clock, flags;
	uint64_t ticks;
	struct itimerspec val;	/* it_value absolute when TFD_TIMER_ABSTIME */
};

static int timerfd_match(const struct fdump *d)
{
	return !strcmp(d->link, "anon_inode:[timerfd]");
}

static int timerfd_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct timerfd_file *tf = of->priv = xzalloc(sizeof(*tf));
	int fd = d->fd, myfd = d->myfd;
	char path[64], *s;
	const char *p;
	struct itimerspec cur;
	/* A periodic timer nobody read counts its overruns only when asked:
	 * timerfd_gettime folds them into the tick count (as a read would
	 * compute them, without consuming anything) and re-arms the timer, so
	 * fdinfo then shows the true count and the time to the next tick. */
	if (timerfd_gettime(myfd, &cur) < 0)
		return fail_errno("pid %d: cannot read timerfd %d", ps->pid, fd);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->hpid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	if (!(p = proc_field(s, "clockid")))
		goto bad;
	tf->clock = atoi(p);
	if (!(p = proc_field(s, "ticks")))
		goto bad;
	tf->ticks = strtoull(p, NULL, 10);
	if (!(p = proc_field(s, "settime flags")))
		goto bad;
	tf->flags = strtol(p, NULL, 8);
	if (pair(s, "it_value", &tf->val.it_value) < 0 || pair(s, "it_interval", &tf->val.it_interval) < 0)
		goto bad;
	free(s);
	if ((tf->flags & TFD_TIMER_ABSTIME) && (tf->val.it_value.tv_sec || tf->val.it_value.tv_nsec)) {
		struct timespec now;
		if (clock_gettime(tf->clock, &now) < 0)
			return fail_errno("pid %d: timerfd %d: cannot read clock %d", ps->pid, fd, tf->clock);
		tf->val.it_value.tv_sec += now.tv_sec;
		tf->val.it_value.tv_nsec += now.tv_nsec;
		if (tf->val.it_value.tv_nsec >= 1000000000) {
			tf->val.it_value.tv_nsec -= 1000000000;
			tf->val.it_value.tv_sec++;
		}
	}
	return 0;
bad:
	free(s);
	return fail("pid %d: cannot parse the state of timerfd %d", ps->pid, fd);
}

static json_t *jts(const struct timespec *ts)
{
	return json_pack("[I,I]", (json_int_t)ts->tv_sec, (json_int_t)ts->tv_nsec);
}

static void timerfd_encode(const struct ofile *of, json_t *j)
{
	const struct timerfd_file *tf = of->priv;
	json_object_set_new(j, "clockid", json_integer(tf->clock));
	json_object_set_new(j, "settime_flags", json_integer(tf->flags));
	json_object_set_new(j, "ticks", json_integer(tf->ticks));
	json_object_set_new(j, "value", jts(&tf->val.it_value));
	json_object_set_new(j, "interval", jts(&tf->val.it_interval));
}

static int get_ts(json_t *j, const char *key, struct timespec *ts)
{
	json_t *a = jget_arr(j, key);
	if (!a || json_array_size(a) != 2 || !json_is_integer(json_array_get(a, 0)) ||
	    !json_is_integer(json_array_get(a, 1)))
		return fail("image %s is corrupt: timerfd %s", jctx, key);
	ts->tv_sec = json_integer_value(json_array_get(a, 0));
	ts->tv_nsec = json_integer_value(json_array_get(a, 1));
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
		return fail("image %s is corrupt: timerfd %s", jctx, key);
	return 0;
}

static int timerfd_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct timerfd_file *tf = of->priv = xzalloc(sizeof(*tf));
	(void)t;
	long long v;
	if (jget_int(j, "clockid", &v) < 0)
		return -1;
	tf->clock = v;
	if (jget_int(j, "settime_flags", &v) < 0)
		return -1;
	tf->flags = v;
	if (jget_int(j, "ticks", &v) < 0)
		return -1;
	tf->ticks = v;
	return get_ts(j, "value", &tf->val.it_value) < 0 || get_ts(j, "interval", &tf->val.it_interval) < 0
		       ? -1
		       : 0;
}

static int timerfd_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	struct timerfd_file *tf = of->priv;
	(void)im, (void)pass;
	of->rfd = timerfd_create(tf->clock, TFD_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot create a timerfd on clock %d", tf->clock);
	if ((tf->val.it_value.tv_sec || tf->val.it_value.tv_nsec) &&
	    timerfd_settime(of->rfd, tf->flags, &tf->val, NULL) < 0)
		return fail_errno("cannot arm a timerfd");
	if (tf->ticks && ioctl(of->rfd, TFD_IOC_SET_TICKS, &tf->ticks) < 0)
		return fail_errno("cannot restore a timerfd's %" PRIu64 " unread expirations", tf->ticks);
	return 0;
}

static void timerfd_free(struct ofile *of)
{
	free(of->priv);
}

const struct file_ops timerfd_ops = {
	.name = "timerfd",
	.flags = FO_SETFL,
	.match = timerfd_match,
	.dump = timerfd_dump,
	.encode = timerfd_encode,
	.decode = timerfd_decode,
	.prepare = timerfd_prepare,
	.free = timerfd_free,
};
