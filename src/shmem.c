/*
 * Shared memory objects: MAP_SHARED|MAP_ANONYMOUS mappings (inherited
 * across fork, so several processes map one object) and memfd files, as
 * mappings and as fds.
 *
 * Each object is identified at dump by its inode, so it is stored once,
 * however many processes and VMAs use it: its allocated pages are found with
 * SEEK_DATA/SEEK_HOLE on the object itself (which also finds pages no
 * process has faulted in) and written to shmem-ID.img, indexed by
 * shmem-ID.map (runs of page offsets).  At restore ferry creates the object
 * once — a shared anonymous mapping of its own, or memfd_create with the
 * same name — fills it, and hands every process an fd to it, so the
 * processes map the very same object again and /proc/PID/maps shows the same
 * names ("/dev/zero (deleted)", "/memfd:NAME (deleted)").
 *
 * SysV segments are objects of the same kind, attached with shmat rather
 * than mapped from an fd: restore gives a segment its id again (through
 * /proc/sys/kernel/shm_next_id) and key, mode and owner, or, when a
 * segment with that id and key still exists here (a restore on the same
 * host), attaches to it as it is.
 *
 * Limits: a memfd's inode number is new; a SysV segment must be attached
 * whole (not a part of it) to be carried.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "image.h"
#include "log.h"
#include "pstate.h"
#include "util.h"

#define CHUNK (4UL << 20)

int shm_note(struct tree *t, int fd, const char *name, int *id)
{
	struct stat st;
	struct shm_obj *o;
	if (fstat(fd, &st) < 0)
		return fail_errno("cannot stat shared memory %s", name);
	for (int i = 0; i < t->nshm; i++)
		if (t->shm[i].dev == (uint64_t)st.st_dev && t->shm[i].ino == (uint64_t)st.st_ino) {
			*id = i;
			return 0;
		}
	t->shm = xrealloc(t->shm, (t->nshm + 1) * sizeof(*t->shm));
	o = &t->shm[t->nshm];
	memset(o, 0, sizeof(*o));
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	o->size = st.st_size;
	o->mode = st.st_mode & 07777;
	if (!strncmp(name, "/SYSV", 5)) {
		char *line, *txt = read_file("/proc/sysvipc/shm", NULL);
		o->sysv = 1;
		o->shmid = st.st_ino;	/* a SysV segment's inode number is its id */
		o->key = (int)strtoul(name + 5, NULL, 16);
		o->name = xasprintf("SYSV%08x", (unsigned)o->key);
		for (line = txt ? strtok(txt, "\n") : NULL; line; line = strtok(NULL, "\n")) {
			int key, id, mode, uid, gid;
			if (sscanf(line, "%d %d %o %*u %*d %*d %*u %d %d", &key, &id, &mode, &uid, &gid) == 5 &&
			    id == o->shmid) {
				o->mode = mode & 0777;
				o->removed = !!(mode & 01000);	/* SHM_DEST */
				o->uid = uid;
				o->gid = gid;
			}
		}
		free(txt);
	} else if (!strncmp(name, "/memfd:", 7)) {
		size_t n = strlen(name);
		o->memfd = 1;
		o->name = xstrdup(name + 7);
		if (n >= 17 && !strcmp(name + n - 10, " (deleted)"))
			o->name[n - 17] = 0;
		o->seals = fcntl(fd, F_GET_SEALS);
		if (o->seals < 0)
			o->seals = 0;
	} else {
		o->name = xstrdup("dev/zero");
	}
	o->rfd = dup(fd);
	if (o->rfd < 0)
		return fail_errno("cannot keep shared memory %s", name);
	*id = t->nshm++;
	return 0;
}

/* Writes one object's allocated pages, found with SEEK_DATA/SEEK_HOLE. */
static int dump_one(struct tree *t, int id, struct img *im)
{
	struct shm_obj *o = &t->shm[id];
	struct page_run *runs = NULL;
	int nruns = 0, ret = -1, fd = -1;
	uint8_t *buf = xmalloc(CHUNK);
	XXH3_state_t *hs = XXH3_createState();
	uint64_t out = 0;
	char name[64];
	off_t pos = 0;

	XXH3_64bits_reset(hs);
	snprintf(name, sizeof(name), "shmem-%d.img", id);
	if ((fd = img_file_begin(im, name)) < 0)
		goto out;
	while ((uint64_t)pos < o->size) {
		off_t d = lseek(o->rfd, pos, SEEK_DATA), h;
		if (d < 0)
			break;
		h = lseek(o->rfd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > o->size)
			h = o->size;
		d &= ~(off_t)(PAGE_SIZE - 1);
		h = PAGE_ALIGN_UP((uint64_t)h);
		runs = xrealloc(runs, (nruns + 1) * sizeof(*runs));
		runs[nruns++] = (struct page_run){ d / PAGE_SIZE, (h - d) / PAGE_SIZE };
		for (off_t p = d; p < h;) {
			size_t len = h - p < (off_t)CHUNK ? (size_t)(h - p) : CHUNK;
			ssize_t n = pread_full(o->rfd, buf, len, p);
			if (n < 0) {
				fail_errno("cannot read shared memory object %d", id);
				goto out;
			}
			memset(buf + n, 0, len - n);	/* past EOF of a partial last page */
			XXH3_64bits_update(hs, buf, len);
			if (img_file_write(im, fd, buf, len) < 0)
				goto out;
			p += len;
			out += len;
		}
		pos = h;
	}
	ret = img_file_end(im, fd, name, out, XXH3_64bits_digest(hs));
	fd = -1;
	if (ret < 0)
		goto out;
	ret = -1;
	snprintf(name, sizeof(name), "shmem-%d.map", id);
	if (img_write_blob(im, name, runs, nruns * sizeof(*runs)) < 0)
		goto out;
	o->npages = out / PAGE_SIZE;
	ret = 0;
out:
	if (fd > 0)
		close(fd);
	XXH3_freeState(hs);
	free(runs);
	free(buf);
	return ret;
}

int shm_dump(struct tree *t, struct img *im)
{
	for (int i = 0; i < t->nshm; i++)
		if (dump_one(t, i, im) < 0)
			return -1;
	return 0;
}

void shm_encode(const struct tree *t, json_t *j)
{
	json_t *arr = json_array();
	for (int i = 0; i < t->nshm; i++) {
		const struct shm_obj *o = &t->shm[i];
		json_t *j2 = json_pack("{s:s,s:o,s:I,s:I,s:i,s:i}", "kind", o->sysv ? "sysv" : o->memfd ? "memfd" : "anon",
				       "name", jstr(o->name), "size", (json_int_t)o->size, "npages", (json_int_t)o->npages,
				       "seals", o->seals, "mode", o->mode);
		if (o->sysv)
			json_object_update_new(j2, json_pack("{s:i,s:i,s:i,s:i,s:b}", "shmid", o->shmid, "key", o->key,
							     "uid", o->uid, "gid", o->gid, "removed", o->removed));
		json_array_append_new(arr, j2);
	}
	json_object_set_new(j, "shmem", arr);
}

int shm_decode(json_t *j, struct tree *t)
{
	json_t *arr = jget_arr(j, "shmem"), *x;
	size_t i;
	if (!arr)
		return -1;
	t->nshm = json_array_size(arr);
	t->shm = xzalloc((t->nshm + 1) * sizeof(*t->shm));
	json_array_foreach(arr, i, x) {
		struct shm_obj *o = &t->shm[i];
		const char *kind, *name;
		long long v;
		o->rfd = -1;
		if (jget_str(x, "kind", &kind) < 0 || jget_str(x, "name", &name) < 0)
			return -1;
		if (strcmp(kind, "memfd") && strcmp(kind, "anon") && strcmp(kind, "sysv"))
			return fail("image %s: unknown shared memory kind \"%s\"", jctx, kind);
		o->memfd = !strcmp(kind, "memfd");
		o->sysv = !strcmp(kind, "sysv");
		if (o->sysv) {
#define I(k) do { if (jget_int(x, #k, &v) < 0) return -1; o->k = v; } while (0)
			I(shmid);
			I(key);
			I(uid);
			I(gid);
#undef I
			o->removed = json_is_true(json_object_get(x, "removed"));
		}
		o->name = xstrdup(name);
		if (jget_int(x, "size", &v) < 0)
			return -1;
		o->size = v;
		if (jget_int(x, "npages", &v) < 0)
			return -1;
		o->npages = v;
		if (jget_int(x, "seals", &v) < 0)
			return -1;
		o->seals = v;
		if (jget_int(x, "mode", &v) < 0)
			return -1;
		o->mode = v;
	}
	return 0;
}

/* Copies the image's pages into the object through a mapping of it. */
static int fill(struct img *im, int id, struct shm_obj *o, uint8_t *dst)
{
	char name[64];
	size_t plen, rlen;
	const struct page_run *runs;
	uint8_t *pages;
	uint64_t off = 0;
	int ret = -1;

	snprintf(name, sizeof(name), "shmem-%d.map", id);
	if (!(runs = img_map(im, name, &rlen)))
		return -1;
	snprintf(name, sizeof(name), "shmem-%d.img", id);
	if (!(pages = img_map(im, name, &plen))) {
		img_unmap(im, (void *)runs, rlen);
		return -1;
	}
	for (size_t i = 0; i < rlen / sizeof(*runs); i++) {
		uint64_t len = runs[i].npages * PAGE_SIZE, at = runs[i].vaddr * PAGE_SIZE;
		if (off + len > plen || at + len > PAGE_ALIGN_UP(o->size)) {
			fail("image %s: shared memory object %d has pages outside it", im->dir, id);
			goto out;
		}
		if (at + len > o->size)
			len = o->size - at;	/* the tail of a partial last page */
		memcpy(dst + at, pages + off, len);
		off += runs[i].npages * PAGE_SIZE;
	}
	ret = 0;
out:
	img_unmap(im, pages, plen);
	img_unmap(im, (void *)runs, rlen);
	return ret;
}

static int make_anon(struct img *im, int id, struct shm_obj *o)
{
	char path[96];
	uint8_t *p = mmap(NULL, o->size ? o->size : PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return fail_errno("cannot create shared memory object %d (%" PRIu64 " bytes)", id, o->size);
	if (fill(im, id, o, p) < 0) {
		munmap(p, o->size);
		return -1;
	}
	/* The mapping's file is what processes will map again. */
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p,
		 (unsigned long)(p + PAGE_ALIGN_UP(o->size ? o->size : PAGE_SIZE)));
	o->rfd = open(path, O_RDWR | O_CLOEXEC);
	munmap(p, o->size ? o->size : PAGE_SIZE);
	if (o->rfd < 0)
		return fail_errno("cannot open shared memory object %d through %s", id, path);
	return 0;
}

static int make_memfd(struct img *im, int id, struct shm_obj *o)
{
	uint8_t *p;
	/* Without MFD_ALLOW_SEALING a memfd starts (and stays) with F_SEAL_SEAL alone. */
	int allow = o->seals != F_SEAL_SEAL;
	o->rfd = memfd_create(o->name, MFD_CLOEXEC | (allow ? MFD_ALLOW_SEALING : 0));
	if (o->rfd < 0)
		return fail_errno("cannot create memfd \"%s\"", o->name);
	if (ftruncate(o->rfd, o->size) < 0)
		return fail_errno("cannot size memfd \"%s\" to %" PRIu64 " bytes", o->name, o->size);
	if (o->size) {
		p = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, o->rfd, 0);
		if (p == MAP_FAILED)
			return fail_errno("cannot map memfd \"%s\"", o->name);
		if (fill(im, id, o, p) < 0) {
			munmap(p, o->size);
			return -1;
		}
		munmap(p, o->size);
	}
	if (fchmod(o->rfd, o->mode) < 0)
		return fail_errno("cannot set the mode of memfd \"%s\"", o->name);
	/* Seals last: F_SEAL_WRITE would have stopped the fill. */
	if (allow && o->seals && fcntl(o->rfd, F_ADD_SEALS, o->seals) < 0)
		return fail_errno("cannot seal memfd \"%s\" with 0x%x", o->name, o->seals);
	return 0;
}

static int make_sysv(struct img *im, int id, struct shm_obj *o)
{
	struct shmid_ds ds;
	char buf[32];
	void *p;
	int fd, sid;
	o->rfd = -1;
	if (shmctl(o->shmid, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == o->key && ds.shm_segsz == o->size)
		return 0;	/* still here: the same segment, attach to it as it is */
	fd = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	snprintf(buf, sizeof(buf), "%d", o->shmid);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0) {
		if (fd >= 0)
			close(fd);
		return fail_errno("cannot choose SysV segment id %d (shm_next_id)", o->shmid);
	}
	close(fd);
	sid = shmget(o->key, o->size, IPC_CREAT | IPC_EXCL | (o->mode & 0777));
	if (sid < 0)
		return fail_errno("cannot create SysV segment %d (key 0x%x, %" PRIu64 " bytes)", o->shmid, o->key, o->size);
	if (sid != o->shmid) {
		shmctl(sid, IPC_RMID, NULL);
		return fail("SysV segment %d came back as %d", o->shmid, sid);
	}
	if ((p = shmat(sid, NULL, 0)) == (void *)-1)
		return fail_errno("cannot attach SysV segment %d to fill it", sid);
	if (fill(im, id, o, p) < 0) {
		shmdt(p);
		return -1;
	}
	shmdt(p);
	ds.shm_perm.uid = o->uid;
	ds.shm_perm.gid = o->gid;
	ds.shm_perm.mode = o->mode & 0777;
	if (shmctl(sid, IPC_SET, &ds) < 0)
		return fail_errno("cannot set the owner of SysV segment %d", sid);
	return 0;
}

int shm_prepare(struct tree *t, struct img *im)
{
	for (int i = 0; i < t->nshm; i++)
		if ((t->shm[i].sysv ? make_sysv : t->shm[i].memfd ? make_memfd : make_anon)(im, i, &t->shm[i]) < 0)
			return -1;
	return 0;
}

void shm_finish(struct tree *t)
{
	for (int i = 0; i < t->nshm; i++)
		if (t->shm[i].sysv && t->shm[i].removed)
			shmctl(t->shm[i].shmid, IPC_RMID, NULL);
}

void shm_release(struct tree *t)
{
	for (int i = 0; i < t->nshm; i++) {
		if (t->shm[i].rfd >= 0)
			close(t->shm[i].rfd);
		t->shm[i].rfd = -1;
	}
}

void shm_free(struct tree *t)
{
	shm_release(t);
	for (int i = 0; i < t->nshm; i++)
		free(t->shm[i].name);
	free(t->shm);
	t->shm = NULL;
	t->nshm = 0;
}
