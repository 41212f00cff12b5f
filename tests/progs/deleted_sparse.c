/* deleted_sparse - a deleted sparse file with its attributes.
 * Setup: sparse.bin, 1 GiB apparent size, 4 KiB of data at 0 and at
 * 512 MiB, owner 1234:5678, mode 04751, atime/mtime set to known
 * nanoseconds, open O_RDWR at offset 12345 and once more O_RDONLY (two
 * descriptions), then unlinked.
 * Covers: size, data, holes still holes (blocks allocated, SEEK_DATA and
 * SEEK_HOLE), owner, mode, atime and mtime, offsets, both descriptions one
 * file, and /proc names it "PATH (deleted)" as before. */
#include "common.h"

#define GIB (1LL << 30)
#define HALF (512LL << 20)

int main(int argc, char **argv)
{
	t_init(argc, argv);
	static char a[4096], b[4096], buf[4096];
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1200000000, 987654321 } };
	char want[PATH_MAX + 16], link[PATH_MAX + 16], self[64];
	struct stat st, st2;

	t_fill(a, sizeof(a), 1);
	t_fill(b, sizeof(b), 2);
	int fd = open(t_path("sparse.bin"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	T_SETUP(fd >= 0 && ftruncate(fd, GIB) == 0);
	T_SETUP(pwrite(fd, a, sizeof(a), 0) == sizeof(a) && pwrite(fd, b, sizeof(b), HALF) == sizeof(b));
	T_SETUP(fchown(fd, 1234, 5678) == 0 && fchmod(fd, 04751) == 0 && futimens(fd, ts) == 0);
	T_SETUP(lseek(fd, 12345, SEEK_SET) == 12345);
	int ro = open(t_path("sparse.bin"), O_RDONLY | O_NOATIME);
	T_SETUP(ro >= 0 && lseek(ro, HALF, SEEK_SET) == HALF);
	snprintf(want, sizeof(want), "%s (deleted)", t_path("sparse.bin"));
	T_SETUP(unlink(t_path("sparse.bin")) == 0);
	t_ready();
	t_wait_go();

	/* stat first: reading would move atime */
	T_CHECK(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
	T_EQ("size", st.st_size, GIB);
	T_EQ("links", st.st_nlink, 0);
	T_EQ("mode", st.st_mode & 07777, 04751);
	T_EQ("uid", st.st_uid, 1234);
	T_EQ("gid", st.st_gid, 5678);
	T_EQ("mtime s", st.st_mtim.tv_sec, 1200000000);
	T_EQ("mtime ns", st.st_mtim.tv_nsec, 987654321);
	T_EQ("atime s", st.st_atim.tv_sec, 1000000000);
	T_EQ("atime ns", st.st_atim.tv_nsec, 123456789);
	T_CHECK(st.st_blocks * 512 <= (1 << 20), "%lld bytes allocated: the holes were filled",
		(long long)st.st_blocks * 512);
	T_EQ("offset", lseek(fd, 0, SEEK_CUR), 12345);	/* before SEEK_DATA moves it */
	T_EQ("first data", lseek(fd, 0, SEEK_DATA), 0);
	off_t h = lseek(fd, 0, SEEK_HOLE);
	T_CHECK(h >= 4096 && h < HALF, "first hole at %lld", (long long)h);
	T_EQ("second data", lseek(fd, h, SEEK_DATA), HALF);
	h = lseek(fd, HALF, SEEK_HOLE);
	T_CHECK(h >= HALF + 4096 && h < GIB, "second hole at %lld", (long long)h);
	T_EQ("flags", fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	T_EQ("ro offset", lseek(ro, 0, SEEK_CUR), HALF);
	T_EQ("ro flags", fcntl(ro, F_GETFL) & (O_ACCMODE | O_NOATIME), O_RDONLY | O_NOATIME);
	T_CHECK(fstat(ro, &st2) == 0 && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev,
		"the two descriptions are different files now");
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	T_STREQ("name in /proc", link, want);

	T_EQ("read at 0", pread(fd, buf, sizeof(buf), 0), sizeof(buf));
	T_EQ("data at 0", t_verify(buf, sizeof(buf), 1), -1);
	T_EQ("read at 512 MiB", pread(ro, buf, sizeof(buf), HALF), sizeof(buf));
	T_EQ("data at 512 MiB", t_verify(buf, sizeof(buf), 2), -1);
	T_EQ("read in a hole", pread(fd, buf, sizeof(buf), 256 << 20), sizeof(buf));
	T_EQ("hole reads zeros", t_verify_zero(buf, sizeof(buf)), -1);
	T_EQ("read at the end", pread(fd, buf, sizeof(buf), GIB - 100), 100);
	T_EQ("write", pwrite(fd, "zz", 2, 8), 2);
	T_EQ("read through the other", pread(ro, buf, 2, 8), 2);
	T_CHECK(!memcmp(buf, "zz", 2), "a write through one description is not seen through the other");
	t_finish();
}
