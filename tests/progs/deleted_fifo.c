/* deleted_fifo - a FIFO unlinked while open, with unread data.
 * Setup: ff (mode 0640, owner 1234:5678) opened O_RDWR, "hello fifo"
 * written, opened again O_RDONLY|O_NONBLOCK (another description), then
 * unlinked.
 * Covers: both fds are one FIFO with no links, its attributes, /proc names
 * it "PATH (deleted)", the unread data comes back, writing through one end
 * reads through the other. */
#include "common.h"

int main(int argc, char **argv)
{
	t_init(argc, argv);
	char want[PATH_MAX + 16], link[PATH_MAX + 16], self[64], buf[64];
	struct stat st, st2;
	T_SETUP(mkfifo(t_path("ff"), 0600) == 0);
	int rw = open(t_path("ff"), O_RDWR);
	T_SETUP(rw >= 0 && write(rw, "hello fifo", 10) == 10);
	int rd = open(t_path("ff"), O_RDONLY | O_NONBLOCK);
	T_SETUP(rd >= 0 && fchown(rw, 1234, 5678) == 0 && fchmod(rw, 0640) == 0);
	T_SETUP(unlink(t_path("ff")) == 0);
	snprintf(want, sizeof(want), "%s (deleted)", t_path("ff"));
	t_ready();
	t_wait_go();

	T_CHECK(fstat(rw, &st) == 0 && fstat(rd, &st2) == 0, "fstat: %s", strerror(errno));
	T_CHECK(S_ISFIFO(st.st_mode), "not a FIFO: mode %o", st.st_mode);
	T_EQ("links", st.st_nlink, 0);
	T_EQ("mode", st.st_mode & 07777, 0640);
	T_EQ("uid", st.st_uid, 1234);
	T_EQ("gid", st.st_gid, 5678);
	T_CHECK(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev, "the two fds are different FIFOs");
	T_EQ("rw flags", fcntl(rw, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR);
	T_EQ("rd flags", fcntl(rd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY | O_NONBLOCK);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", rw);
	ssize_t n = readlink(self, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	T_STREQ("name in /proc", link, want);
	memset(buf, 0, sizeof(buf));
	T_EQ("unread data", read(rd, buf, sizeof(buf) - 1), 10);
	T_STREQ("data", buf, "hello fifo");
	T_EQ("write", write(rw, "more", 4), 4);
	memset(buf, 0, sizeof(buf));
	T_EQ("read it back", read(rd, buf, sizeof(buf) - 1), 4);
	T_STREQ("data 2", buf, "more");
	t_finish();
}
