/*
 * Fuzz target: the image decoders restore runs before it touches anything
 * (manifest.json, shared.json, every core-PID.json, the page indexes,
 * pre-copy indexes, shared-memory and file tables), i.e. restore.c's load()
 * and validate() on a directory made from the input.
 *
 * The input is a bundle (fuzz.h): manifest.json plus any files.  Before
 * the image is opened, the harness rewrites the manifest's size and xxh3
 * of every file the bundle holds, so the checksums that would stop a
 * random corruption do not stop the fuzzer: what it reaches is what an
 * image with valid checksums but hostile content reaches.  Nothing is
 * restored: no process is created.
 */
#include "fuzz.h"

/* restore.c's static load() and validate(), without copying them. */
#include "../src/cmd/restore.c"

static void fix_manifest(const char *dir, struct bundle_file *f, int n)
{
	char path[512];
	json_t *man = NULL, *files;
	for (int i = 0; i < n; i++)
		if (!strcmp(f[i].name, "manifest.json")) {	/* the last one written wins */
			json_decref(man);
			man = json_loadb((const char *)f[i].data, f[i].len, 0, NULL);
		}
	if (!man)
		return;
	files = json_object_get(man, "files");
	if (json_is_object(files))
		for (int i = 0; i < n; i++) {
			json_t *e = json_object_get(files, f[i].name);
			if (!json_is_object(e) || !strcmp(f[i].name, "manifest.json"))
				continue;
			json_object_set_new(e, "size", json_integer(f[i].len));
			json_object_set_new(e, "xxh3", json_sprintf("%016" PRIx64, img_hash(f[i].data, f[i].len)));
		}
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	json_dump_file(man, path, 0);
	json_decref(man);
}

static void free_tree(struct tree *t)
{
	for (int i = 0; i < t->nprocs; i++)
		pstate_free(&t->procs[i]);
	free(t->procs);
	files_table_free(t);
	locks_free(t);
	shm_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bundle_file f[32];
	const char *dir = fuzz_dir();
	struct img im;
	struct tree t;
	int n, dfd;

	fuzz_empty_dir(dir);
	n = bundle_split(data, size, f, 32);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	for (int i = 0; i < n; i++) {
		int fd;
		if (!plain_name(f[i].name) || f[i].name[0] == '.')
			continue;
		fd = openat(dfd, f[i].name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (write_full(fd, f[i].data, f[i].len) < 0)
			abort();
		close(fd);
	}
	close(dfd);
	fix_manifest(dir, f, n);
	memset(&t, 0, sizeof(t));
	if (img_open(&im, dir) == 0 && load(&im, &t) == 0)
		validate(&im, &t);
	free_tree(&t);
	img_close(&im);
	fail_clear();
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}
