/*
 * ferry: checkpoint/restore of running Linux processes.  Dispatches to the
 * commands in src/cmd/.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "dump", cmd_dump, "freeze a process and write its image" },
	{ "restore", cmd_restore, "recreate a process from an image" },
	{ "show", cmd_show, "print a summary of an image" },
	{ "check", cmd_check, "check that this kernel and these privileges support ferry" },
	{ "unlock", cmd_unlock, "lift the network lock of an image dumped with --tcp-established" },
	{ "keygen", cmd_keygen, "print a new key for migrations" },
	{ "serve", cmd_serve, "receive migrations and restore them here" },
	{ "migrate", cmd_migrate, "move a running process tree to a `ferry serve`" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'ferry COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	/* An ignored SIGCHLD survives exec and makes the kernel reap children
	 * at once: the zombies and group stand-ins a restore waits for would
	 * vanish. */
	signal(SIGCHLD, SIG_DFL);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("ferry %s\n", FERRY_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ferry: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
