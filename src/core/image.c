/*
 * Image directory I/O: see image.h.  Files are written to a temporary name,
 * fsynced and renamed, and the manifest is written last, so a dump that dies
 * half-way leaves a directory that restore refuses (no manifest, or one that
 * does not match) rather than one that restores half a process.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "chan.h"
#include "fsutil.h"
#include "events.h"
#include "image.h"
#include "log.h"
#include "util.h"

const char *jctx = "image";

#define IMG_FRAME (256u << 10)

uint64_t img_hash(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}

static json_t *hash_json(uint64_t h)
{
	char s[17];
	snprintf(s, sizeof(s), "%016" PRIx64, h);
	return json_string(s);
}

int img_create(struct img *im, const char *dir)
{
	memset(im, 0, sizeof(*im));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail_errno("cannot create image directory %s", dir);
	im->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im->dfd < 0)
		return fail_errno("cannot open image directory %s", dir);
	{
		/* The image holds the tree's memory: in a directory another
		 * user owns (made ahead in /tmp, say), they could read it or
		 * plant links for ferry to write through. */
		struct stat st;
		if (fstat(im->dfd, &st) < 0)
			return fail_errno("cannot stat image directory %s", dir);
		if (st.st_uid != geteuid())
			return fail("image directory %s belongs to uid %u, not to uid %u who runs ferry: refusing to "
				    "write an image there (nothing was dumped)", dir, (unsigned)st.st_uid,
				    (unsigned)geteuid());
	}
	/* A stale manifest would make a half-written image look complete. */
	if (unlinkat(im->dfd, "manifest.json", 0) < 0 && errno != ENOENT)
		return fail_errno("cannot remove old %s/manifest.json", dir);
	im->dir = xstrdup(dir);
	im->manifest = json_object();
	im->files = json_object();
	json_object_set_new(im->manifest, "files", im->files);	/* files stays a borrowed pointer */
	return 0;
}

void img_create_stream(struct img *im, struct chan *ch)
{
	memset(im, 0, sizeof(*im));
	im->ch = ch;
	im->dfd = -1;
	im->dir = xstrdup("(migration stream)");
	im->manifest = json_object();
	im->files = json_object();
	json_object_set_new(im->manifest, "files", im->files);
}

int img_file_begin(struct img *im, const char *name)
{
	int fd;
	if (im->ch)
		return chan_send(im->ch, IMG_F_BEGIN, name, strlen(name) + 1, 0) < 0 ? -1 : 0;
	fd = openat(im->dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno("cannot create %s/%s", im->dir, name);
	return fd;
}

int img_file_write(struct img *im, int h, const void *buf, size_t len)
{
	if (im->ch) {
		/* Small frames keep both ends busy: the receiver decrypts one while
		 * the sender encrypts the next. */
		while (len) {
			size_t n = len < IMG_FRAME ? len : IMG_FRAME;
			if (chan_send(im->ch, IMG_F_DATA, buf, n, 0) < 0)
				return -1;
			buf = (const char *)buf + n;
			len -= n;
		}
		return 0;
	}
	if (write_full(h, buf, len) < 0)
		return fail_errno("cannot write to %s", im->dir);
	return 0;
}

int img_file_end(struct img *im, int h, const char *name, uint64_t size, uint64_t hash)
{
	if (im->ch) {
		if (chan_send(im->ch, IMG_F_END, NULL, 0, 0) < 0)
			return -1;
	} else {
		int ret = fdatasync(h);
		close(h);
		if (ret < 0)
			return fail_errno("cannot write %s/%s", im->dir, name);
	}
	img_add_file(im, name, size, hash);
	return 0;
}

void img_add_file(struct img *im, const char *name, uint64_t size, uint64_t hash)
{
	json_object_set_new(im->files, name,
			    json_pack("{s:I,s:o}", "size", (json_int_t)size, "xxh3", hash_json(hash)));
	ev_image_file(name, size);
}

static int write_file_atomic(struct img *im, const char *name, const void *buf, size_t len)
{
	char tmp[512];
	int fd;
	if (im->ch) {
		int h = img_file_begin(im, name);
		return h < 0 || img_file_write(im, h, buf, len) < 0 ||
			       chan_send(im->ch, IMG_F_END, NULL, 0, 0) < 0
			       ? -1
			       : 0;
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(im->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_errno("cannot create %s/%s", im->dir, tmp);
	if (write_full(fd, buf, len) < 0 || fdatasync(fd) < 0) {
		fail_errno("cannot write %s/%s", im->dir, name);
		close(fd);
		unlinkat(im->dfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(im->dfd, tmp, im->dfd, name) < 0)
		return fail_errno("cannot rename %s/%s", im->dir, tmp);
	return 0;
}

int img_write_blob(struct img *im, const char *name, const void *buf, size_t len)
{
	if (write_file_atomic(im, name, buf, len) < 0)
		return -1;
	img_add_file(im, name, len, img_hash(buf, len));
	return 0;
}

int img_write_json(struct img *im, const char *name, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
	int ret;
	if (!s)
		return fail("cannot encode %s", name);
	ret = img_write_blob(im, name, s, strlen(s));
	free(s);
	return ret;
}

int img_finish(struct img *im, json_t *meta)
{
	/* Format and version first, so `head manifest.json` tells what this is. */
	json_t *m = json_pack("{s:s,s:i}", "format", IMG_FORMAT, "version", IMG_VERSION);
	const char *key;
	json_t *v;
	char *s;
	int ret;
	if (meta)
		json_object_foreach(meta, key, v)
			if (!json_object_get(m, key))
				json_object_set(m, key, v);
	json_object_set(m, "files", im->files);
	s = json_dumps(m, JSON_INDENT(1));
	json_decref(m);
	if (!s)
		return fail("cannot encode manifest");
	ret = write_file_atomic(im, "manifest.json", s, strlen(s));
	free(s);
	if (ret == 0 && !im->ch && fsync(im->dfd) < 0)
		return fail_errno("cannot fsync image directory %s", im->dir);
	return ret;
}

int img_open(struct img *im, const char *dir)
{
	json_error_t jerr;
	const char *fmt;
	long long ver;
	char *s;

	memset(im, 0, sizeof(*im));
	im->dir = xstrdup(dir);
	im->verified = json_object();
	im->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (im->dfd < 0)
		return fail_errno("cannot open image directory %s", dir);
	s = read_fileat(im->dfd, "manifest.json", NULL);
	if (!s)
		return fail_errno("%s is not a ferry image: cannot read manifest.json", dir);
	im->manifest = json_loads(s, 0, &jerr);
	free(s);
	if (!im->manifest)
		return fail("%s/manifest.json is corrupt: %s (line %d)", dir, jerr.text, jerr.line);
	jctx = "manifest.json";
	if (jget_str(im->manifest, "format", &fmt) < 0)
		return -1;
	if (strcmp(fmt, IMG_FORMAT))
		return fail("%s is not a ferry image (format \"%s\")", dir, fmt);
	if (jget_int(im->manifest, "version", &ver) < 0)
		return -1;
	if (ver != IMG_VERSION)
		return fail("%s: image format version %lld is not supported (this ferry reads version %d)",
			    dir, ver, IMG_VERSION);
	im->files = jget_obj(im->manifest, "files");
	if (!im->files)
		return -1;
	{
		const char *name;
		json_t *v;
		/* names only: an image (or a migration stream) must not make
		 * restore open anything outside its directory */
		json_object_foreach(im->files, name, v)
			if (!plain_name(name))
				return fail("%s/manifest.json lists \"%s\", which is not a plain file name in the image",
					    dir, name);
	}
	return 0;
}

/* Looks up the manifest entry for name: expected size and hash. */
static int manifest_entry(struct img *im, const char *name, uint64_t *size, uint64_t *hash)
{
	json_t *e = json_object_get(im->files, name);
	const char *h;
	long long sz = 0;
	if (!e)
		return fail("image %s: manifest does not list %s", im->dir, name);
	jctx = "manifest.json";
	if (jget_int(e, "size", &sz) < 0 || jget_str(e, "xxh3", &h) < 0)
		return -1;
	*size = sz;
	*hash = strtoull(h, NULL, 16);
	return 0;
}

/*
 * Large files (the page files) are read with pread into one small reused
 * buffer, not mapped: on a host where each new user page table entry is
 * expensive (a VM with shadow page tables, where first touching a GiB of
 * fresh mappings costs more than copying it), reading through the kernel's
 * own mapping into a buffer that stays in cache is several times faster.
 */
#define IMG_STREAM_MIN (1u << 20)
#define IMG_STREAM_BUF (512u << 10)	/* stays in cache */

/* Opens a file of the image after checking it is a plain regular file of
 * the manifest's length. */
static int open_checked(struct img *im, const char *name, uint64_t *size, uint64_t *hash)
{
	struct stat st;
	int fd;
	if (manifest_entry(im, name, size, hash) < 0)
		return -1;
	if (!plain_name(name))
		return fail("image %s: \"%s\" is not a plain file name in the image", im->dir, name);
	/* no link, no FIFO or device: a regular file of the image, or nothing */
	fd = openat(im->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail_errno("image %s: cannot open %s", im->dir, name);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail_errno("image %s: cannot stat %s", im->dir, name);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail("image %s: %s is not a regular file", im->dir, name);
	}
	if ((uint64_t)st.st_size != *size) {
		close(fd);
		return fail("image %s: %s is truncated or corrupt: %lld bytes, manifest says %" PRIu64, im->dir, name,
			    (long long)st.st_size, *size);
	}
	return fd;
}

void *img_buffer(size_t len)
{
	static void *buf;
	static size_t cap;
	if (len > cap) {
		free(buf);
		buf = xmalloc(len);
		cap = len;
	}
	return buf;
}

/* Checks a file's checksum by reading it through a small buffer. */
static int verify_streamed(struct img *im, const char *name, int fd, uint64_t size, uint64_t hash)
{
	uint8_t *buf;
	XXH3_state_t *hs;
	int ret = 0;
	if (json_object_get(im->verified, name))
		return 0;
	/* no bigger than the file: every fresh page of a buffer costs a fault */
	buf = img_buffer(size < IMG_STREAM_BUF ? size : IMG_STREAM_BUF);
	hs = XXH3_createState();
	XXH3_64bits_reset(hs);
	for (uint64_t off = 0; off < size;) {
		size_t n = size - off < IMG_STREAM_BUF ? size - off : IMG_STREAM_BUF;
		if (pread_full(fd, buf, n, off) != (ssize_t)n) {
			ret = fail_errno("image %s: cannot read %s", im->dir, name);
			break;
		}
		XXH3_64bits_update(hs, buf, n);
		off += n;
	}
	if (!ret && XXH3_64bits_digest(hs) != hash)
		ret = fail("image %s: %s is corrupt: checksum mismatch", im->dir, name);
	if (!ret)
		json_object_set_new(im->verified, name, json_true());
	XXH3_freeState(hs);
	return ret;
}

int img_open_unverified(struct img *im, const char *name, uint64_t *size, uint64_t *hash)
{
	return open_checked(im, name, size, hash);
}

void img_set_verified(struct img *im, const char *name)
{
	json_object_set_new(im->verified, name, json_true());
}

int img_open_file(struct img *im, const char *name, uint64_t *size)
{
	uint64_t hash;
	int fd = open_checked(im, name, size, &hash);
	if (fd >= 0 && verify_streamed(im, name, fd, *size, hash) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int img_file_size(struct img *im, const char *name, uint64_t *size)
{
	uint64_t hash;
	return manifest_entry(im, name, size, &hash);
}

void *img_map(struct img *im, const char *name, size_t *lenp)
{
	uint64_t size = 0, hash = 0;
	struct stat st;
	void *p;
	int fd;

	for (int i = 0; i < im->nmaps; i++)
		if (!strcmp(im->maps[i].name, name)) {
			*lenp = im->maps[i].len;
			return im->maps[i].p;
		}
	if (manifest_entry(im, name, &size, &hash) < 0)
		return NULL;
	if (!plain_name(name)) {
		fail("image %s: \"%s\" is not a plain file name in the image", im->dir, name);
		return NULL;
	}
	/* no link, no FIFO or device: a regular file of the image, or nothing */
	fd = openat(im->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fail_errno("image %s: cannot open %s", im->dir, name);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		fail_errno("image %s: cannot stat %s", im->dir, name);
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		fail("image %s: %s is not a regular file", im->dir, name);
		close(fd);
		return NULL;
	}
	if ((uint64_t)st.st_size != size) {
		fail("image %s: %s is truncated or corrupt: %lld bytes, manifest says %" PRIu64,
		     im->dir, name, (long long)st.st_size, size);
		close(fd);
		return NULL;
	}
	if (size == 0) {
		close(fd);
		*lenp = 0;
		return (void *)"";
	}
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fail_errno("image %s: cannot map %s", im->dir, name);
		return NULL;
	}
	/* Checked once per restore: a GiB of pages is worth hashing only once. */
	if (!json_object_get(im->verified, name)) {
		if (img_hash(p, size) != hash) {
			fail("image %s: %s is corrupt: checksum mismatch", im->dir, name);
			munmap(p, size);
			return NULL;
		}
		json_object_set_new(im->verified, name, json_true());
	}
	im->maps = xrealloc(im->maps, (im->nmaps + 1) * sizeof(*im->maps));
	im->maps[im->nmaps++] = (struct img_map_cache){ xstrdup(name), p, size };
	*lenp = size;
	return p;
}

void img_unmap(struct img *im, void *p, size_t len)
{
	/* Mappings are kept for the life of the image (see img_map). */
	(void)im;
	(void)p;
	(void)len;
}

json_t *img_read_json(struct img *im, const char *name)
{
	json_error_t jerr;
	size_t len;
	char *p = img_map(im, name, &len);
	json_t *j;
	if (!p)
		return NULL;
	j = json_loadb(p, len, 0, &jerr);
	img_unmap(im, p, len);
	if (!j)
		fail("image %s: %s is corrupt: %s", im->dir, name, jerr.text);
	jctx = name;
	return j;
}

int img_has(const struct img *im, const char *name)
{
	return json_object_get(im->files, name) != NULL;
}

int img_verify_all(struct img *im)
{
	return img_verify_early(im, 0);
}

int img_verify_early(struct img *im, int defer_pages)
{
	const char *name;
	json_t *v;
	json_object_foreach(im->files, name, v) {
		size_t len;
		uint64_t size;
		void *p;
		if (img_file_size(im, name, &size) < 0)
			return -1;
		if (defer_pages && (!strncmp(name, "pages-", 6) || !strncmp(name, "prestore-", 9))) {
			uint64_t hash;
			int fd = open_checked(im, name, &size, &hash);	/* the length now */
			if (fd < 0)
				return -1;
			close(fd);
			continue;
		}
		if (size >= IMG_STREAM_MIN) {
			int fd = img_open_file(im, name, &size);
			if (fd < 0)
				return -1;
			close(fd);
			continue;
		}
		p = img_map(im, name, &len);
		if (!p)
			return -1;
		img_unmap(im, p, len);
	}
	return 0;
}

void img_close(struct img *im)
{
	if (im->dfd > 0)
		close(im->dfd);
	for (int i = 0; i < im->nmaps; i++) {
		if (im->maps[i].len)
			munmap(im->maps[i].p, im->maps[i].len);
		free(im->maps[i].name);
	}
	free(im->maps);
	json_decref(im->manifest);
	json_decref(im->verified);
	free(im->dir);
	memset(im, 0, sizeof(*im));
}

/* ---- JSON helpers ---- */

json_t *jhex(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "0x%" PRIx64, v);
	return json_string(s);
}

json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	return json_pack("{s:o}", "hex", jblob(s, strlen(s)));
}

json_t *jblob(const void *buf, size_t len)
{
	char *s = hex_encode(buf, len);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static json_t *jget(json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	if (!v)
		fail("image %s is corrupt: key \"%s\" missing", jctx, key);
	return v;
}

int jget_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = jget(o, key);
	if (!v)
		return -1;
	if (json_is_integer(v)) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_value(v)[0] != '-') {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		*out = strtoull(s, &end, 0);
		if (!errno && end != s && !*end)
			return 0;
	}
	return fail("image %s is corrupt: key \"%s\" is not a number", jctx, key);
}

int jget_int(json_t *o, const char *key, long long *out)
{
	json_t *v = jget(o, key);
	if (!v)
		return -1;
	if (!json_is_integer(v))
		return fail("image %s is corrupt: key \"%s\" is not an integer", jctx, key);
	*out = json_integer_value(v);
	return 0;
}

int jget_str(json_t *o, const char *key, const char **out)
{
	json_t *v = jget(o, key);
	if (!v)
		return -1;
	if (json_is_object(v) && json_is_string(json_object_get(v, "hex"))) {
		/* A non-UTF-8 string: decode it once and keep it in the tree. */
		const char *h = json_string_value(json_object_get(v, "hex"));
		size_t n = strlen(h) / 2;
		char *buf = xmalloc(n + 1);
		if (hex_decode(h, buf, n) < 0 || memchr(buf, 0, n)) {
			free(buf);
			return fail("image %s is corrupt: key \"%s\" is not a hex string", jctx, key);
		}
		json_object_set_new(o, key, json_stringn_nocheck(buf, n));
		free(buf);
		v = json_object_get(o, key);
	}
	if (!json_is_string(v))
		return fail("image %s is corrupt: key \"%s\" is not a string", jctx, key);
	*out = json_string_value(v);
	return 0;
}

int jget_blob(json_t *o, const char *key, void *buf, size_t len)
{
	const char *s;
	if (jget_str(o, key, &s) < 0)
		return -1;
	if (hex_decode(s, buf, len) < 0)
		return fail("image %s is corrupt: key \"%s\" is not %zu hex bytes", jctx, key, len);
	return 0;
}

int jget_blobv(json_t *o, const char *key, void **out, size_t *len)
{
	const char *s;
	if (jget_str(o, key, &s) < 0)
		return -1;
	*len = strlen(s) / 2;
	*out = xmalloc(*len + 1);
	if (hex_decode(s, *out, *len) < 0) {
		free(*out);
		*out = NULL;
		return fail("image %s is corrupt: key \"%s\" is not hex", jctx, key);
	}
	return 0;
}

json_t *jget_arr(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	if (v && !json_is_array(v)) {
		fail("image %s is corrupt: key \"%s\" is not an array", jctx, key);
		return NULL;
	}
	return v;
}

json_t *jget_obj(json_t *o, const char *key)
{
	json_t *v = jget(o, key);
	if (v && !json_is_object(v)) {
		fail("image %s is corrupt: key \"%s\" is not an object", jctx, key);
		return NULL;
	}
	return v;
}
