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
#include "pstate.h"
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

int timerfd_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	char path[64], *s;
	const char *p;
	struct itimerspec cur;
	/* A periodic timer nobody read counts its overruns only when asked:
	 * timerfd_gettime folds them into the tick count (as a read would
	 * compute them, without consuming anything) and re-arms the timer, so
	 * fdinfo then shows the true count and the time to the next tick. */
	if (timerfd_gettime(myfd, &cur) < 0)
		return fail_errno("pid %d: cannot read timerfd %d", ps->pid, fd);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", ps->pid, fd);
	if (!(s = read_file(path, NULL)))
		return fail_errno("cannot read %s", path);
	if (!(p = proc_field(s, "clockid")))
		goto bad;
	of->tfd_clock = atoi(p);
	if (!(p = proc_field(s, "ticks")))
		goto bad;
	of->tfd_ticks = strtoull(p, NULL, 10);
	if (!(p = proc_field(s, "settime flags")))
		goto bad;
	of->tfd_flags = strtol(p, NULL, 8);
	if (pair(s, "it_value", &of->tfd_val.it_value) < 0 || pair(s, "it_interval", &of->tfd_val.it_interval) < 0)
		goto bad;
	free(s);
	if ((of->tfd_flags & TFD_TIMER_ABSTIME) && (of->tfd_val.it_value.tv_sec || of->tfd_val.it_value.tv_nsec)) {
		struct timespec now;
		if (clock_gettime(of->tfd_clock, &now) < 0)
			return fail_errno("pid %d: timerfd %d: cannot read clock %d", ps->pid, fd, of->tfd_clock);
		of->tfd_val.it_value.tv_sec += now.tv_sec;
		of->tfd_val.it_value.tv_nsec += now.tv_nsec;
		if (of->tfd_val.it_value.tv_nsec >= 1000000000) {
			of->tfd_val.it_value.tv_nsec -= 1000000000;
			of->tfd_val.it_value.tv_sec++;
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

void timerfd_encode(const struct ofile *of, json_t *j)
{
	json_object_set_new(j, "clockid", json_integer(of->tfd_clock));
	json_object_set_new(j, "settime_flags", json_integer(of->tfd_flags));
	json_object_set_new(j, "ticks", json_integer(of->tfd_ticks));
	json_object_set_new(j, "value", jts(&of->tfd_val.it_value));
	json_object_set_new(j, "interval", jts(&of->tfd_val.it_interval));
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

int timerfd_decode(json_t *j, struct ofile *of)
{
	long long v;
	if (jget_int(j, "clockid", &v) < 0)
		return -1;
	of->tfd_clock = v;
	if (jget_int(j, "settime_flags", &v) < 0)
		return -1;
	of->tfd_flags = v;
	if (jget_int(j, "ticks", &v) < 0)
		return -1;
	of->tfd_ticks = v;
	return get_ts(j, "value", &of->tfd_val.it_value) < 0 || get_ts(j, "interval", &of->tfd_val.it_interval) < 0
		       ? -1
		       : 0;
}

int timerfd_prepare(struct ofile *of)
{
	of->rfd = timerfd_create(of->tfd_clock, TFD_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot create a timerfd on clock %d", of->tfd_clock);
	if ((of->tfd_val.it_value.tv_sec || of->tfd_val.it_value.tv_nsec) &&
	    timerfd_settime(of->rfd, of->tfd_flags, &of->tfd_val, NULL) < 0)
		return fail_errno("cannot arm a timerfd");
	if (of->tfd_ticks && ioctl(of->rfd, TFD_IOC_SET_TICKS, &of->tfd_ticks) < 0)
		return fail_errno("cannot restore a timerfd's %" PRIu64 " unread expirations", of->tfd_ticks);
	return 0;
}
