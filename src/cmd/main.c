/*
 * ferry: checkpoint/restore of running Linux processes.  The command line
 * is libferry's (ferry_main in libferry.c dispatches to src/cmd/): this
 * binary is one of its clients.
 */
#include <signal.h>

#include "../../include/ferry.h"

int main(int argc, char **argv)
{
	/* An ignored SIGCHLD survives exec and makes the kernel reap children
	 * at once: the zombies and group stand-ins a restore waits for would
	 * vanish. */
	signal(SIGCHLD, SIG_DFL);
	return ferry_main(argc, argv);
}
