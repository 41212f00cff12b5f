/*
 * ferry unlock: lift the network lock a `dump --tcp-established` left for an
 * image, when the user gives up on restoring it.  The preserved
 * connections' peers then meet a RST on their next packet instead of
 * silence.  Restore lifts the lock by itself; this is the manual way out.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "image.h"
#include "log.h"
#include "netlock.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry unlock -D|--dir DIR [-v]\n"
		   "  Lifts the network lock (nftables table ferry_lock_PID) of the image in DIR.\n");
}

int cmd_unlock(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'D' }, { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *dir = NULL;
	struct netlock l;
	struct img im;
	json_t *shared = NULL;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "D:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'v': log_verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (img_open(&im, dir) < 0 || !(shared = img_read_json(&im, "shared.json")) ||
	    netlock_decode(json_object_get(shared, "netlock"), &l) < 0)
		goto out;
	if (!l.installed) {
		printf("image %s has no network lock\n", dir);
	} else {
		if (netlock_remove(&l) < 0)
			goto out;
		printf("network lock %s lifted\n", l.table);
	}
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "ferry unlock: %s\n", fail_msg() ? fail_msg() : "failed");
	json_decref(shared);
	img_close(&im);
	return ret;
}
