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
#include "fileops.h"
#include "util.h"

struct pipe_file {
	uint64_t id;		/* inode of the pipe (FIFOs: with bit 62) */
	int size;		/* F_GETPIPE_SZ */
	uint8_t *data;		/* unread bytes in the pipe (stored once per pipe) */
	size_t data_len;
	int data_owner;		/* this description carries the pipe's data */
};

static struct pipe_file *pf(const struct ofile *of)
{
	return of->kind == FK_PIPE || of->kind == FK_FIFO ? of->priv : NULL;
}

/* Pipes created for this restore, by the original pipe's id. */
static struct made_pipe {
	uint64_t id;
	int rd, wr;
	int rd_used, wr_used;	/* the pipe2() descriptions went to an ofile */
} *made;
static int nmade;

static int peek_data(struct proc_state *ps, struct ofile *of, int fd, int myfd)
{
	struct pipe_file *p = of->priv;
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
	if (fcntl(tmp[1], F_SETPIPE_SZ, p->size) < 0) {
		fail_errno("cannot size a pipe to %d bytes", p->size);
		goto out2;
	}
	n = tee(src, tmp[1], p->size, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN) {
		fail_errno("pid %d: cannot peek the data in fd %d's pipe", ps->pid, fd);
		goto out2;
	}
	if (n < 0)
		n = 0;
	p->data = xmalloc(n + 1);
	p->data_len = n;
	if (read_full(tmp[0], p->data, n) != n) {
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

static int pipe_match(const struct fdump *d)
{
	return S_ISFIFO(d->st->st_mode) && !strncmp(d->link, "pipe:", 5);
}

static int fifo_match(const struct fdump *d)
{
	return S_ISFIFO(d->st->st_mode);
}

static int pipe_dump(struct fdump *d, struct ofile *of)
{
	struct proc_state *ps = d->ps;
	struct file_table *fs = &ps->tree->files;
	struct pipe_file *p = of->priv = xzalloc(sizeof(*p));
	int fd = d->fd, myfd = d->myfd;
	if (of->kind == FK_FIFO)
		of->path = xstrdup(d->link);
	/* FIFO inodes and pipefs inodes are different namespaces of numbers. */
	p->id = of->ino | (of->kind == FK_FIFO ? 1ULL << 62 : 0);
	p->size = fcntl(myfd, F_GETPIPE_SZ);
	if (p->size < 0)
		return fail_errno("pid %d: cannot read the size of fd %d's pipe", ps->pid, fd);
	for (int i = 0; i < fs->n; i++)
		if (&fs->of[i] != of && pf(&fs->of[i]) && pf(&fs->of[i])->id == p->id && pf(&fs->of[i])->data_owner)
			return 0;	/* another fd already carries this pipe's data */
	p->data_owner = 1;
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
			found = k != i && pf(&fs->of[k]) && pf(&fs->of[k])->id == pf(of)->id &&
				(fs->of[k].flags & O_ACCMODE) != acc;
		if (!found)
			pr_warn("pid %d fd %d: the %s end of pipe:[%" PRIu64 "] is outside the dumped processes; after "
				"restore it is closed", of->owner_pid, of->owner_fd, acc == O_RDONLY ? "write" : "read",
				pf(of)->id);
	}
}

static void pipe_encode(const struct ofile *of, json_t *j)
{
	const struct pipe_file *p = of->priv;
	json_object_set_new(j, "pipe_id", json_integer(p->id));
	json_object_set_new(j, "pipe_size", json_integer(p->size));
	if (p->data_owner)
		json_object_set_new(j, "data", jblob(p->data, p->data_len));
}

static int pipe_decode(json_t *j, struct ofile *of, const struct tree *t)
{
	struct pipe_file *p = of->priv = xzalloc(sizeof(*p));
	long long v;
	(void)t;
	if (jget_int(j, "pipe_id", &v) < 0)
		return -1;
	p->id = v;
	if (jget_int(j, "pipe_size", &v) < 0)
		return -1;
	p->size = v;
	if (json_object_get(j, "data")) {
		void *d;
		if (jget_blobv(j, "data", &d, &p->data_len) < 0)
			return -1;
		p->data = d;
		p->data_owner = 1;
		if ((long long)p->data_len > p->size)
			return fail("image %s is corrupt: %zu bytes in a pipe of %d", jctx, p->data_len, p->size);
	}
	return 0;
}

static const struct pipe_file *data_of(const struct tree *t, uint64_t id)
{
	for (int i = 0; i < t->files.n; i++) {
		const struct pipe_file *p = pf(&t->files.of[i]);
		if (p && p->id == id && p->data_owner)
			return p;
	}
	return NULL;
}

static struct made_pipe *make_pipe(struct tree *t, struct ofile *of)
{
	const struct pipe_file *pp = of->priv, *d = data_of(t, pp->id);
	struct made_pipe *m;
	int p[2];

	for (int i = 0; i < nmade; i++)
		if (made[i].id == pp->id)
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
	if (pp->size > 0 && fcntl(p[1], F_SETPIPE_SZ, pp->size) < 0) {
		fail_errno("cannot size a pipe to %d bytes", pp->size);
		return NULL;
	}
	if (d && d->data_len && write_full(p[1], d->data, d->data_len) < 0) {
		fail_errno("cannot refill a pipe with %zu bytes", d->data_len);
		return NULL;
	}
	made = xrealloc(made, (nmade + 1) * sizeof(*made));
	m = &made[nmade++];
	*m = (struct made_pipe){ pp->id, p[0], p[1], 0, 0 };
	return m;
}

static int pipe_prepare(struct tree *t, struct img *im, int i, enum file_pass pass)
{
	struct ofile *of = &t->files.of[i];
	struct made_pipe *m = make_pipe(t, of);
	char self[64];
	int acc = of->flags & O_ACCMODE, *used;
	(void)im, (void)pass;
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

static void pipes_release(void)
{
	for (int i = 0; i < nmade; i++) {
		close(made[i].rd);
		close(made[i].wr);
	}
	free(made);
	made = NULL;
	nmade = 0;
}

static void pipe_free(struct ofile *of)
{
	struct pipe_file *p = of->priv;
	if (!p)
		return;
	free(p->data);
	free(p);
}

const struct file_ops pipe_ops = {
	.name = "pipe",
	.match = pipe_match,
	.dump = pipe_dump,
	.encode = pipe_encode,
	.decode = pipe_decode,
	.prepare = pipe_prepare,
	.release = pipes_release,
	.free = pipe_free,
};

/* A FIFO is reopened at its path; its data goes back into it there. */
const struct file_ops fifo_ops = {
	.name = "fifo",
	.flags = FO_PATH,
	.match = fifo_match,
	.dump = pipe_dump,
	.encode = pipe_encode,
	.decode = pipe_decode,
	.validate = file_check_path,
	.prepare = pipe_prepare,
	.free = pipe_free,
};
