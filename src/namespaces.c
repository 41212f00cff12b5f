/*
 * Namespaces: which ones a dumped process may live in.
 *
 * ferry restores a tree into the namespaces that `ferry restore` (or
 * serve) runs in.  A process in a UTS, IPC, PID, user, cgroup or time
 * namespace other than the dumping ferry's would come back in different
 * ones: another hostname, other SysV IPC objects, other PIDs as it sees
 * them, another uid mapping, cgroup view or clocks.  Nothing of that is
 * carried yet (issue 12, docs/plans/containers.md), so dump refuses such a
 * process, and so does a process whose future children would be born in a
 * new PID or time namespace (unshare without a fork).
 *
 * Two namespaces are exempt.  The network namespace is named at restore
 * (`--netns`; serve restores into its own) and the IP-change policy applies
 * to it.  The mount namespace is exempt because `ip netns exec` gives every
 * process it runs a mount namespace of its own.  ferry reads paths through
 * /proc/PID/root (task.c), so they resolve as the process sees them.  A
 * process whose mounts differ from the restore side's finds the restore
 * side's mounts; docs/plans/containers.md covers carrying them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "pstate.h"

static const struct {
	const char *file, *what;
} checked[] = {
	{ "uts", "UTS namespace (hostname)" },
	{ "ipc", "IPC namespace" },
	{ "pid", "PID namespace" },
	{ "pid_for_children", "PID namespace for its children (unshare(CLONE_NEWPID))" },
	{ "user", "user namespace" },
	{ "cgroup", "cgroup namespace" },
	{ "time", "time namespace" },
	{ "time_for_children", "time namespace for its children" },
};

int ns_foreign(pid_t pid, char *why, size_t len)
{
	for (size_t i = 0; i < sizeof(checked) / sizeof(checked[0]); i++) {
		char path[64];
		struct stat mine, its;
		snprintf(path, sizeof(path), "/proc/self/ns/%s", checked[i].file);
		if (stat(path, &mine) < 0)
			continue;	/* a kernel without this kind */
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, checked[i].file);
		if (stat(path, &its) < 0) {
			/* A *_for_children namespace made by unshare has no link
			 * until its first process exists; the process itself is
			 * still there (its own namespace link is). */
			snprintf(path, sizeof(path), "/proc/%d/ns/uts", pid);
			if (errno == ENOENT && strstr(checked[i].file, "_for_children") && stat(path, &its) == 0) {
				snprintf(why, len, "it made a new %s; the restore would not, and ferry does not carry "
					 "namespaces yet", checked[i].what);
				return 1;
			}
			continue;	/* gone: the caller finds out */
		}
		if (its.st_ino != mine.st_ino || its.st_dev != mine.st_dev) {
			snprintf(why, len, "it lives in a %s other than ferry's (%s:[%lu]); the restore would put it in "
				 "another, and ferry does not carry namespaces yet", checked[i].what, checked[i].file,
				 (unsigned long)its.st_ino);
			return 1;
		}
	}
	return 0;
}
