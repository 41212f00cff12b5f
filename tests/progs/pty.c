/* pty - pseudo-terminals with both ends in the process, checked from inside.
 * Covers: a pair with its terminal in raw mode (VMIN 3, 9600 baud, no
 * echo), a window size, the master in packet mode: after restore the
 * terminal keeps its name (ttyname), settings and size, the master its
 * packet mode, and data goes both ways; a second pair whose terminal was
 * locked again after its slave was opened: still locked (opening it by name
 * fails), still working through the fds held. */
#include "common.h"
#include <sys/ioctl.h>
#include <termios.h>

static int open_pair(int *m, int *s, char *name, size_t len)
{
	*m = posix_openpt(O_RDWR | O_NOCTTY);
	if (*m < 0 || grantpt(*m) < 0 || unlockpt(*m) < 0 || ptsname_r(*m, name, len))
		return -1;
	*s = open(name, O_RDWR | O_NOCTTY);
	return *s < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	int m, s, m2, s2, one = 1, lk;
	char name[64], name2[64], b[64];
	struct termios tio, now;
	struct winsize ws = { 37, 101, 640, 480 }, wn;

	T_SETUP(open_pair(&m, &s, name, sizeof name) == 0);
	T_SETUP(tcgetattr(s, &tio) == 0);
	tio.c_lflag &= ~(ICANON | ECHO | ISIG);
	tio.c_iflag &= ~(ICRNL | IXON);
	tio.c_oflag &= ~OPOST;
	tio.c_cc[VMIN] = 3;
	tio.c_cc[VTIME] = 0;
	cfsetispeed(&tio, B9600);
	cfsetospeed(&tio, B9600);
	T_SETUP(tcsetattr(s, TCSANOW, &tio) == 0 && tcgetattr(s, &tio) == 0);
	T_SETUP(ioctl(s, TIOCSWINSZ, &ws) == 0);
	T_SETUP(ioctl(m, TIOCPKT, &one) == 0);
	T_SETUP(open_pair(&m2, &s2, name2, sizeof name2) == 0);
	T_SETUP(ioctl(m2, TIOCSPTLCK, &one) == 0);

	t_ready();
	t_wait_go();

	T_STREQ("terminal name", ttyname(s), name);
	T_CHECK(tcgetattr(s, &now) == 0 && now.c_iflag == tio.c_iflag && now.c_oflag == tio.c_oflag &&
		now.c_cflag == tio.c_cflag && now.c_lflag == tio.c_lflag && !memcmp(now.c_cc, tio.c_cc, NCCS) &&
		cfgetispeed(&now) == B9600, "termios differs (lflag %#x, was %#x)", now.c_lflag, tio.c_lflag);
	T_CHECK(ioctl(s, TIOCGWINSZ, &wn) == 0 && wn.ws_row == 37 && wn.ws_col == 101 && wn.ws_xpixel == 640 &&
		wn.ws_ypixel == 480, "window size %dx%d", wn.ws_row, wn.ws_col);
	int pk = -1;
	T_CHECK(ioctl(m, TIOCGPKT, &pk) == 0 && pk == 1, "packet mode %d", pk);
	/* raw input: VMIN 3 */
	T_CHECK(write(m, "abc", 3) == 3 && read(s, b, sizeof b) == 3 && !memcmp(b, "abc", 3), "input through the terminal");
	/* output: packet mode puts a status byte first */
	memset(b, 0, sizeof b);
	T_CHECK(write(s, "out\n", 4) == 4, "write to the terminal");
	ssize_t n = read(m, b, sizeof b);
	T_CHECK(n == 5 && b[0] == TIOCPKT_DATA && !memcmp(b + 1, "out\n", 4), "packet-mode read: %zd bytes", n);
	/* the locked pair */
	T_STREQ("locked terminal's name", ttyname(s2), name2);
	T_CHECK(ioctl(m2, TIOCGPTLCK, &lk) == 0 && lk == 1, "lock %d", lk);
	T_CHECK(write(s2, "z", 1) == 1 && read(m2, b, 1) == 1 && b[0] == 'z', "the locked pair carries data");
	/* last: a refused open of a slave marks its master's other side closed */
	T_CHECK(open(name2, O_RDWR | O_NOCTTY) < 0 && errno == EIO, "a locked terminal opened by name");
	t_finish();
}
