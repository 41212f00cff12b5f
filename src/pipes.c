/*
 * Pipes and FIFOs: capacity, file flags, and the bytes sitting unread in
 * the buffer, which are peeked with tee() (it copies without consuming, so
 * the source keeps its data if it runs on) and written back into the new
 * pipe before the process sees it.  Each pipe's data is stored once, however
 * many fds point at it.
 *
 * Limits: a pipe whose other end belongs to a process outside the dump is
 * restored with that end closed (the restored reader sees the saved data
 * then EOF; a writer gets EPIPE) and the dump warns about it.  A FIFO's data
 * is written back into the FIFO found at its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

/* Pipes created for this restore, by the original pipe's id. */
static struct made_pipe {
	uint64_t id;
	int rd, wr;
	int rd_used, wr_used;	/* the pipe2() descriptions went to an ofile */
} *made;
static int nmade;

static int peek_data(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	int src = myfd, tmp[2], ret = -1;
	char path[64];
	ssize_t n;

	if ((of->flags & O_ACCMODE) == O_WRONLY) {
		/* A write end cannot be tee'd from: open the same pipe for reading. */
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", ps->pid, fd);
		src = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (src < 0)
			return fail_errno("pid %d: cannot open fd %d's pipe for reading", ps->pid, fd);
	}
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0) {
		fail_errno("cannot create a pipe");
		goto out;
	}
	if (fcntl(tmp[1], F_SETPIPE_SZ, of->pipe_size) < 0) {
		fail_errno("cannot size a pipe to %d bytes", of->pipe_size);
		goto out2;
	}
	n = tee(src, tmp[1], of->pipe_size, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN) {
		fail_errno("pid %d: cannot peek the data in fd %d's pipe", ps->pid, fd);
		goto out2;
	}
	if (n < 0)
		n = 0;
	of->data = xmalloc(n + 1);
	of->data_len = n;
	if (read_full(tmp[0], of->data, n) != n) {
		fail_errno("pid %d: cannot read the data peeked from fd %d", ps->pid, fd);
		goto out2;
	}
	ret = 0;
out2:
	close(tmp[0]);
	close(tmp[1]);
out:
	if (src != myfd)
		close(src);
	return ret;
}

int pipe_dump(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	struct file_table *fs = &ps->tree->files;
	/* FIFO inodes and pipefs inodes are different namespaces of numbers. */
	of->pipe_id = of->ino | (of->kind == FK_FIFO ? 1ULL << 62 : 0);
	of->pipe_size = fcntl(myfd, F_GETPIPE_SZ);
	if (of->pipe_size < 0)
		return fail_errno("pid %d: cannot read the size of fd %d's pipe", ps->pid, fd);
	for (int i = 0; i < fs->n; i++)
		if (&fs->of[i] != of && fs->of[i].pipe_id == of->pipe_id && fs->of[i].data_owner)
			return 0;	/* another fd already carries this pipe's data */
	of->data_owner = 1;
	return peek_data(ps, of, fd, myfd);
}

void pipes_check_ends(const struct tree *t)
{
	const struct file_table *fs = &t->files;
	for (int i = 0; i < fs->n; i++) {
		const struct ofile *of = &fs->of[i];
		int acc = of->flags & O_ACCMODE, found = 0;
		if (of->kind != FK_PIPE || acc == O_RDWR)
			continue;
		for (int k = 0; k < fs->n && !found; k++)
			found = k != i && fs->of[k].pipe_id == of->pipe_id && (fs->of[k].flags & O_ACCMODE) != acc;
		if (!found)
			pr_warn("pid %d fd %d: the %s end of pipe:[%" PRIu64 "] is outside the dumped processes; after "
				"restore it is closed", of->owner_pid, of->owner_fd, acc == O_RDONLY ? "write" : "read",
				of->pipe_id);
	}
}

void pipe_encode(const struct ofile *of, json_t *j)
{
	json_object_set_new(j, "pipe_id", json_integer(of->pipe_id));
	json_object_set_new(j, "pipe_size", json_integer(of->pipe_size));
	if (of->data_owner)
		json_object_set_new(j, "data", jblob(of->data, of->data_len));
}

int pipe_decode(json_t *j, struct ofile *of)
{
	long long v;
	if (jget_int(j, "pipe_id", &v) < 0)
		return -1;
	of->pipe_id = v;
	if (jget_int(j, "pipe_size", &v) < 0)
		return -1;
	of->pipe_size = v;
	if (json_object_get(j, "data")) {
		void *d;
		if (jget_blobv(j, "data", &d, &of->data_len) < 0)
			return -1;
		of->data = d;
		of->data_owner = 1;
		if ((long long)of->data_len > of->pipe_size)
			return fail("image %s is corrupt: %zu bytes in a pipe of %d", jctx, of->data_len, of->pipe_size);
	}
	return 0;
}

static const struct ofile *data_of(const struct tree *t, uint64_t id)
{
	for (int i = 0; i < t->files.n; i++)
		if (t->files.of[i].pipe_id == id && t->files.of[i].data_owner)
			return &t->files.of[i];
	return NULL;
}

static struct made_pipe *make_pipe(struct tree *t, struct ofile *of)
{
	const struct ofile *d = data_of(t, of->pipe_id);
	struct made_pipe *m;
	int p[2];

	for (int i = 0; i < nmade; i++)
		if (made[i].id == of->pipe_id)
			return &made[i];
	if (of->kind == FK_FIFO) {
		/* Read-write: opening never blocks and keeps the FIFO's buffer alive. */
		p[0] = open(of->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (p[0] < 0) {
			fail_errno("cannot open FIFO %s", of->path);
			return NULL;
		}
		p[1] = dup(p[0]);
	} else if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		fail_errno("cannot create a pipe");
		return NULL;
	}
	if (of->pipe_size > 0 && fcntl(p[1], F_SETPIPE_SZ, of->pipe_size) < 0) {
		fail_errno("cannot size a pipe to %d bytes", of->pipe_size);
		return NULL;
	}
	if (d && d->data_len && write_full(p[1], d->data, d->data_len) < 0) {
		fail_errno("cannot refill a pipe with %zu bytes", d->data_len);
		return NULL;
	}
	made = xrealloc(made, (nmade + 1) * sizeof(*made));
	m = &made[nmade++];
	*m = (struct made_pipe){ of->pipe_id, p[0], p[1], 0, 0 };
	return m;
}

int pipe_prepare(struct tree *t, struct ofile *of)
{
	struct made_pipe *m = make_pipe(t, of);
	char self[64];
	int acc = of->flags & O_ACCMODE, *used;
	if (!m)
		return -1;
	used = acc == O_RDONLY ? &m->rd_used : &m->wr_used;
	if (of->kind == FK_PIPE && acc != O_RDWR && !*used) {
		/* pipe2()'s own description: its f_flags are a pipe's (no O_LARGEFILE). */
		*used = 1;
		of->rfd = dup(acc == O_RDONLY ? m->rd : m->wr);
		if (of->rfd < 0 || fcntl(of->rfd, F_SETFL, of->flags) < 0)
			return fail_errno("cannot set up a restored pipe end");
		return 0;
	}
	/* Another description of the same pipe, as reopening /proc/PID/fd/N makes. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", acc == O_RDONLY ? m->rd : m->wr);
	of->rfd = open(self, (of->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (of->rfd < 0)
		return fail_errno("cannot open a restored pipe end");
	return 0;
}

void pipes_release(void)
{
	for (int i = 0; i < nmade; i++) {
		close(made[i].rd);
		close(made[i].wr);
	}
	free(made);
	made = NULL;
	nmade = 0;
}
