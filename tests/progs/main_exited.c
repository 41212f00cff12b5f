/* main_exited - a process whose main thread exited while another runs on
 * (it shows as a zombie in /proc, but is not one).  A negative test: dump
 * must refuse it, naming the pid and the main thread, and leave it running.
 * Covers (in the remaining thread, after go): it still runs and was never
 * left stopped or traced (TracerPid 0). */
#include "common.h"
#include <pthread.h>

static void *worker(void *arg)
{
	(void)arg;
	t_wait_go();
	char tp[32] = "?";
	t_status_field("TracerPid", tp, sizeof tp);
	T_STREQ("TracerPid", tp, "0");
	t_finish();
	return NULL;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	pthread_t th;
	T_SETUP(pthread_create(&th, NULL, worker, NULL) == 0);
	t_ready();
	pthread_exit(NULL);
}
