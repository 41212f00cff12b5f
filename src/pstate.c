/*
 * Freeing a process state (dump and restore both build one).
 */
#include <stdlib.h>

#include "pstate.h"

void pstate_free(struct proc_state *ps)
{
	for (int i = 0; i < ps->nthreads; i++) {
		free(ps->threads[i].xstate);
		free(ps->threads[i].pending.q);
	}
	free(ps->threads);
	free(ps->shared_pending.q);
	free(ps->timers);
	free(ps->task.cwd);
	free(ps->task.root);
	free(ps->task.groups);
	for (int i = 0; i < ps->mm.nvmas; i++)
		free(ps->mm.vmas[i].name);
	free(ps->mm.vmas);
	for (int i = 0; i < ps->mm.nfiles; i++)
		free(ps->mm.files[i].path);
	free(ps->mm.files);
	free(ps->mm.auxv);
	free(ps->mm.runs);
	free(ps->mm.pre);
	free(ps->fds.fds);
	free(ps->root_prefix);
}
