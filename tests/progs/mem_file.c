/* mem_file - file-backed mappings and library code.
 * Covers: WORKDIR/private.dat mapped MAP_PRIVATE|PROT_WRITE and modified (COW
 * pages) -> the mapping keeps the modified content while the file on disk is
 * unchanged, before and after further writes; WORKDIR/shared.dat mapped
 * MAP_SHARED and written -> the writes are in the file (pread), and writes
 * made after restore land in the file too (and pwrite()s to the file show in
 * the mapping); a read-only private mapping of a file at a page offset; both
 * fds closed after mmap (the mappings alone hold the files); maps lines
 * (range, perms, offset, path) identical; libc code works after restore
 * (printf, snprintf, qsort, strtod, getenv). */
#include "common.h"
#include <sys/mman.h>

#define PG 4096UL

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* The full maps lines (minus inode/dev, which we compare separately) for
 * the mapping at addr. */
static void maps_line(uintptr_t addr, char *out, size_t cap)
{
	static char buf[1 << 20];
	out[0] = 0;
	if (t_read_file("/proc/self/maps", buf, sizeof buf) < 0)
		return;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long s, e, off, ino;
		char p[8], dev[16];
		int pos = 0;
		if (sscanf(l, "%lx-%lx %7s %lx %15s %lu %n", &s, &e, p, &off, dev, &ino, &pos) < 6)
			continue;
		if (addr >= s && addr < e) {
			size_t n = strcspn(l + pos, "\n");
			snprintf(out, cap, "%lx-%lx %s %lx ino=%lu %.*s", s, e, p, off, ino, (int)n, l + pos);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char before[3][512], after[512];
	static uint8_t buf[8 * PG];

	/* private: 4 pages, pages 1 and 3 modified through the mapping */
	const char *ppath = t_path("private.dat");
	t_fill(buf, 4 * PG, 10);
	T_SETUP(t_write_file(ppath, buf, 4 * PG) == 0);
	int fd = open(ppath, O_RDWR);
	T_SETUP(fd >= 0);
	uint8_t *priv = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	T_SETUP(priv != MAP_FAILED);
	close(fd);
	t_fill(priv + PG, PG, 11);
	memset(priv + 3 * PG + 100, 0x42, 200);
	(void)*(volatile uint8_t *)(priv + 2 * PG); /* page 2 read, not written */

	/* shared: 3 pages, written through the mapping */
	const char *spath = t_path("shared.dat");
	memset(buf, 0, 3 * PG);
	T_SETUP(t_write_file(spath, buf, 3 * PG) == 0);
	fd = open(spath, O_RDWR);
	T_SETUP(fd >= 0);
	uint8_t *shr = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	T_SETUP(shr != MAP_FAILED);
	close(fd);
	t_fill(shr, 2 * PG, 20);
	strcpy((char *)shr + 2 * PG, "written-before-dump");

	/* read-only private mapping of pages 2..3 of a third file */
	const char *rpath = t_path("ro.dat");
	t_fill(buf, 4 * PG, 30);
	T_SETUP(t_write_file(rpath, buf, 4 * PG) == 0);
	fd = open(rpath, O_RDONLY);
	T_SETUP(fd >= 0);
	uint8_t *ro = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 2 * PG);
	T_SETUP(ro != MAP_FAILED);
	close(fd);

	maps_line((uintptr_t)priv, before[0], sizeof before[0]);
	maps_line((uintptr_t)shr, before[1], sizeof before[1]);
	maps_line((uintptr_t)ro, before[2], sizeof before[2]);
	T_SETUP(strstr(before[0], "private.dat") && strstr(before[1], "shared.dat") && strstr(before[2], "ro.dat"));

	t_ready();
	t_wait_go();

	/* --- verify ------------------------------------------------------- */
	maps_line((uintptr_t)priv, after, sizeof after);
	T_STREQ("private mapping maps line", after, before[0]);
	maps_line((uintptr_t)shr, after, sizeof after);
	T_STREQ("shared mapping maps line", after, before[1]);
	maps_line((uintptr_t)ro, after, sizeof after);
	T_STREQ("read-only mapping maps line", after, before[2]);

	/* private: mapping = modified, file = original */
	T_CHECK(t_verify(priv, PG, 10) < 0, "private page 0 differs");
	T_CHECK(t_verify(priv + PG, PG, 11) < 0, "private COW page 1 lost its modification");
	t_fill(buf, 4 * PG, 10);
	T_CHECK(memcmp(priv + 2 * PG, buf + 2 * PG, PG) == 0, "private page 2 differs from file");
	T_CHECK(memcmp(priv + 3 * PG, buf + 3 * PG, 100) == 0 && priv[3 * PG + 100] == 0x42 &&
			priv[3 * PG + 299] == 0x42 && memcmp(priv + 3 * PG + 300, buf + 3 * PG + 300, PG - 300) == 0,
		"private COW page 3 differs");
	static uint8_t disk[8 * PG];
	fd = open(ppath, O_RDONLY);
	T_CHECK(fd >= 0 && pread(fd, disk, 4 * PG, 0) == (ssize_t)(4 * PG), "read private.dat");
	T_CHECK(t_verify(disk, 4 * PG, 10) < 0, "private.dat on disk was modified by the MAP_PRIVATE writes");
	priv[2 * PG + 5] ^= 0xff; /* write after restore: still private */
	T_CHECK(pread(fd, disk, PG, 2 * PG) == (ssize_t)PG && disk[5] == t_pat(10, 2 * PG + 5),
		"MAP_PRIVATE write after restore reached the file");
	close(fd);

	/* shared: file has the writes; new writes reach the file both ways */
	fd = open(spath, O_RDWR);
	T_CHECK(fd >= 0 && pread(fd, disk, 3 * PG, 0) == (ssize_t)(3 * PG), "read shared.dat");
	T_CHECK(t_verify(disk, 2 * PG, 20) < 0, "shared.dat lacks the writes made before dump");
	T_CHECK(strcmp((char *)disk + 2 * PG, "written-before-dump") == 0, "shared.dat page 2: '%.30s'",
		(char *)disk + 2 * PG);
	T_CHECK(t_verify(shr, 2 * PG, 20) < 0, "shared mapping content differs");
	strcpy((char *)shr + 2 * PG + 100, "written-after-restore");
	T_CHECK(pread(fd, disk, 64, 2 * PG + 100) == 64 && strcmp((char *)disk, "written-after-restore") == 0,
		"write through MAP_SHARED after restore not in the file: '%.30s'", (char *)disk);
	T_CHECK(pwrite(fd, "via-pwrite", 11, 2 * PG + 200) == 11, "pwrite");
	T_CHECK(strcmp((char *)shr + 2 * PG + 200, "via-pwrite") == 0,
		"pwrite to shared.dat not visible in the MAP_SHARED mapping: '%.20s'", (char *)shr + 2 * PG + 200);
	T_CHECK(msync(shr, 3 * PG, MS_SYNC) == 0, "msync: %s", strerror(errno));
	close(fd);

	/* read-only mapping at offset */
	t_fill(buf, 4 * PG, 30);
	T_CHECK(memcmp(ro, buf + 2 * PG, 2 * PG) == 0, "read-only mapping at offset 2 pages differs");

	/* libc still works */
	int arr[200];
	for (int i = 0; i < 200; i++)
		arr[i] = (i * 7919) % 200 - 100;
	qsort(arr, 200, sizeof arr[0], cmp_int);
	int sorted = 1;
	for (int i = 0; i < 200; i++)
		sorted &= arr[i] == i - 100;
	T_CHECK(sorted, "qsort result wrong");
	char s[128];
	snprintf(s, sizeof s, "%d %.3f %s %x", 42, 3.14159, "str", 0xbeef);
	T_STREQ("snprintf", s, "42 3.142 str beef");
	T_CHECK(strtod("2.5e3", NULL) == 2500.0, "strtod");
	T_CHECK(printf("mem_file: printf works after restore\n") > 0, "printf");
	T_CHECK(getenv("PATH") != NULL, "getenv(PATH)");
	t_finish();
}
