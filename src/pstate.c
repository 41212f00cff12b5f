/*
 * What dump and restore share about a whole process state: its core
 * document (core-PID.json), assembled from each module's part in one fixed
 * order, and freeing it.  One encoder and one decoder, so the image the dump
 * writes, the one restore reads and the one the codec tests round-trip are
 * the same by construction.
 */
#include <signal.h>
#include <stdlib.h>

#include "image.h"
#include "log.h"
#include "pstate.h"

json_t *pstate_encode(const struct proc_state *ps)
{
	json_t *core = json_object();
	task_encode(ps, core);
	json_object_set_new(core, "exit_signal", json_integer(ps->exit_signal));
	if (ps->zombie) {
		/* A zombie has no memory, threads or files left: only its exit. */
		json_object_set_new(core, "zombie", json_true());
		json_object_set_new(core, "exit_code", json_integer(ps->exit_code));
		return core;
	}
	json_object_set_new(core, "pdeathsig", json_integer(ps->pdeathsig));
	json_object_set_new(core, "pgid_helper", json_boolean(ps->pgid_helper));
	json_object_set_new(core, "stopped", json_boolean(ps->stopped));
	if (ps->stopped)
		json_object_set_new(core, "stop_signal", json_integer(ps->stopped));
	thread_encode(ps, core);
	pattrs_encode(ps, core);
	task_encode_threads(ps, core);	/* after thread_encode: per-thread ones go into the thread objects */
	sig_encode(ps, core);	/* after thread_encode: adds "pending" to the thread objects */
	timers_encode(ps, core);
	mem_encode(ps, core);
	files_encode(ps, core);
	return core;
}

int pstate_decode(json_t *core, struct proc_state *ps)
{
	long long v;
	ps->zombie = json_is_true(json_object_get(core, "zombie"));
	if (task_decode(core, ps) < 0 || jget_int(core, "exit_signal", &v) < 0)
		return -1;
	ps->exit_signal = v;
	if (ps->zombie) {
		if (jget_int(core, "exit_code", &v) < 0)
			return -1;
		ps->exit_code = v;
		return 0;
	}
	if (jget_int(core, "pdeathsig", &v) < 0)
		return -1;
	ps->pdeathsig = v;
	ps->pgid_helper = json_is_true(json_object_get(core, "pgid_helper"));
	ps->stopped = json_is_true(json_object_get(core, "stopped")) ? SIGSTOP : 0;
	if (ps->stopped && json_object_get(core, "stop_signal")) {	/* (older images: SIGSTOP) */
		if (jget_int(core, "stop_signal", &v) < 0)
			return -1;
		if (v != SIGSTOP && v != SIGTSTP && v != SIGTTIN && v != SIGTTOU)
			return fail("image %s is corrupt: stop_signal %lld", jctx, v);
		ps->stopped = v;
	}
	if (thread_decode(core, ps) < 0 || pattrs_decode(core, ps) < 0 || task_decode_threads(core, ps) < 0 || sig_decode(core, ps) < 0 || timers_decode(core, ps) < 0 ||
	    mem_decode(core, ps) < 0 || files_decode(core, ps) < 0)
		return -1;
	return 0;
}

void pstate_free(struct proc_state *ps)
{
	for (int i = 0; i < ps->nthreads; i++) {
		free(ps->threads[i].xstate);
		free(ps->threads[i].pending.q);
	}
	task_free_creds(ps);
	free(ps->threads);
	free(ps->shared_pending.q);
	free(ps->timers);
	free(ps->task.cwd);
	free(ps->task.root);
	for (int i = 0; i < ps->mm.nvmas; i++)
		free(ps->mm.vmas[i].name);
	free(ps->mm.vmas);
	for (int i = 0; i < ps->mm.nfiles; i++)
		free(ps->mm.files[i].path);
	free(ps->mm.files);
	free(ps->mm.auxv);
	free(ps->mm.runs);
	free(ps->mm.pre);
	free(ps->mm.inh);
	free(ps->mm.cow);
	free(ps->mm.cow_off);
	free(ps->mm.cow_placed);
	free(ps->fds.fds);
	free(ps->root_prefix);
	pattrs_free(ps);
}
