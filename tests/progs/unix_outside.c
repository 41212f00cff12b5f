/* unix_outside - holds a unix stream connection to a process outside its
 * tree (an orphan that the runner's subreaper adopted), so `ferry dump` must
 * refuse it, naming both ends, and leave the process running.
 * After go: the connection still works both ways (nothing was touched). */
#include "common.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	t_init(argc, argv);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t_path("outside.sock"));
	pid_t mid = fork();
	if (mid == 0) {
		if (fork() == 0) {	/* the orphan: outside the tree once mid exits */
			int l = socket(AF_UNIX, SOCK_STREAM, 0), s;
			char b[16];
			if (l < 0 || bind(l, (void *)&sa, sizeof sa) < 0 || listen(l, 1) < 0)
				_exit(1);
			if ((s = accept(l, NULL, NULL)) < 0)
				_exit(1);
			while (read(s, b, sizeof b) > 0)	/* echo until the peer closes */
				if (write(s, "echo", 4) != 4)
					break;
			_exit(0);
		}
		_exit(0);
	}
	T_SETUP(waitpid(mid, NULL, 0) == mid);
	T_SETUP((c = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	int ok = -1;
	for (int i = 0; i < 200 && ok < 0; i++) {
		ok = connect(c, (void *)&sa, sizeof sa);
		if (ok < 0)
			t_sleep_ms(10);
	}
	T_SETUP(ok == 0);
	T_SETUP(dup2(c, 33) == 33 && close(c) == 0);
	t_ready();
	t_wait_go();
	char b[8] = "";
	T_CHECK(write(33, "ping", 4) == 4 && read(33, b, sizeof b) == 4, "the outside connection broke");
	close(33);
	t_finish();
}
