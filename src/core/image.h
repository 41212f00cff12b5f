/*
 * Image directory I/O.
 *
 * An image is a directory: manifest.json (format name, version, the list of
 * every other file with its length and XXH3-64 checksum, and host facts the
 * restore must check) plus per-process files.  Everything is validated
 * before use: a file whose length or checksum does not match the manifest
 * is refused, so a truncated or corrupted image never reaches a process.
 *
 * JSON helpers live here too: 64-bit addresses and register values are
 * stored as "0x..." strings (JSON numbers are not safe past 2^53), binary
 * blobs as lowercase hex.
 */
#ifndef FERRY_IMAGE_H
#define FERRY_IMAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define IMG_FORMAT "ferry-image"
#define IMG_VERSION 1

struct chan;

/* Frames of an image sent over a migration channel (core/chan.h). */
enum { IMG_F_BEGIN = 3, IMG_F_DATA = 4, IMG_F_END = 5 };

struct img {
	struct chan *ch;	/* writing to a migration channel instead of a directory */
	char *dir;
	int dfd;
	json_t *manifest;	/* whole manifest (reading) or being built (writing) */
	json_t *files;		/* manifest "files" object */
	json_t *verified;	/* reading: names whose checksum already matched */
	struct img_map_cache {	/* reading: files mapped (and checked) once, kept until img_close */
		char *name;
		void *p;
		size_t len;
	} *maps;
	int nmaps;
};

/* Writing. */
int img_create(struct img *im, const char *dir);
/* Writing into a migration channel: every file becomes frames. */
void img_create_stream(struct img *im, struct chan *ch);
/* A file written piece by piece (the page file): fd or stream. */
int img_file_begin(struct img *im, const char *name);
int img_file_write(struct img *im, int h, const void *buf, size_t len);
/* Closes it (fsynced), recording its size and hash in the manifest. */
int img_file_end(struct img *im, int h, const char *name, uint64_t size, uint64_t hash);
int img_write_json(struct img *im, const char *name, json_t *j);
int img_write_blob(struct img *im, const char *name, const void *buf, size_t len);
/* Record a file the caller wrote itself (e.g. the page file, hashed while written). */
void img_add_file(struct img *im, const char *name, uint64_t size, uint64_t hash);
/* Writes manifest.json (with `meta` merged in) and fsyncs the directory. */
int img_finish(struct img *im, json_t *meta);

/* Reading. */
int img_open(struct img *im, const char *dir);
json_t *img_read_json(struct img *im, const char *name);
/* Maps a file read-only after checking its length and checksum; the
 * mapping stays (and is handed out again) until img_close, so a GiB of
 * pages is mapped and hashed once per restore. */
void *img_map(struct img *im, const char *name, size_t *len);
void img_unmap(struct img *im, void *p, size_t len);
/* Opens a file for pread after checking its length and (once per image,
 * reading it through a small buffer) its checksum; the caller closes it. */
int img_open_file(struct img *im, const char *name, uint64_t *size);
/* The same without the checksum: the caller hashes all of the file as it
 * reads it, compares with *hash and calls img_set_verified. */
int img_open_unverified(struct img *im, const char *name, uint64_t *size, uint64_t *hash);
void img_set_verified(struct img *im, const char *name);
/* A buffer kept for the life of the process (grown, never shrunk): its
 * pages are faulted in once, not once per file. */
void *img_buffer(size_t len);
/* The manifest's length of a file, without reading it. */
int img_file_size(struct img *im, const char *name, uint64_t *size);
int img_verify_all(struct img *im);
/* The same, but of the page files (pages-PID.img, prestore-PID.img) only
 * the length: the restore hashes them as it copies them (read once), and
 * fails before any process runs. */
int img_verify_early(struct img *im, int defer_pages);
/* Whether the manifest lists name (optional files). */
int img_has(const struct img *im, const char *name);
void img_close(struct img *im);

uint64_t img_hash(const void *buf, size_t len);

/* JSON helpers.  jctx names the file being decoded, for error messages. */
extern const char *jctx;
json_t *jhex(uint64_t v);
/* A string that may not be UTF-8 (paths, names): stored as is when it is,
 * else as {"hex": "..."}; jget_str reads both forms. */
json_t *jstr(const char *s);
json_t *jblob(const void *buf, size_t len);
int jget_u64(json_t *o, const char *key, uint64_t *out);
int jget_int(json_t *o, const char *key, long long *out);
int jget_str(json_t *o, const char *key, const char **out);
int jget_blob(json_t *o, const char *key, void *buf, size_t len);
/* Variable-length blob: *out malloc'ed. */
int jget_blobv(json_t *o, const char *key, void **out, size_t *len);
json_t *jget_arr(json_t *o, const char *key);
json_t *jget_obj(json_t *o, const char *key);

#endif
